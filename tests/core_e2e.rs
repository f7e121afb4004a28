//! The verification core's rules end to end: real bt-exec processes,
//! logs written by bt-log, served by Python's own `http.server` (DESIGN
//! §6: which checkpoint may prove a leaf; how consistency is established;
//! what is 123 and what is not).

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::world::{chmod_x, now, World};
use common::{bt_log, python_http_server as static_http};

/// A script that leaves the canary when it runs.
fn script(w: &World, name: &str) -> std::path::PathBuf {
    let p = w.root.join("bin").join(name);
    fs::write(&p, format!("#!/bin/sh\ntouch {}\n", w.canary.display())).unwrap();
    chmod_x(&p);
    p
}

fn copy_dir(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(ok.success());
}

fn exec(w: &World, args: &[&str]) -> (i32, String) {
    let (code, _, err) = w.checked(args);
    (code, err)
}

/// Item 1: whoever holds the log key extends the tree with an entry no
/// witness saw and ships its proof beside the program, while the log keeps
/// serving its honest, cosigned checkpoint. Refused, naming both sizes;
/// once the witnesses cosign a tree that holds it, the same proof runs.
#[test]
fn a_proof_against_a_checkpoint_no_witness_cosigned_proves_nothing() {
    let mut w = World::ready(1);
    let dir = w.logs[0].dir.clone();
    let (_srv, url) = static_http(&dir);
    w.logs[0].url = url;
    w.policy("logs = 1\nmax_age = \"1h\"");
    w.runs();
    let honest = fs::read(dir.join("checkpoint")).unwrap();
    let evil = script(&w, "evil");
    w.publish_release(0, &evil, "example.org/prog", "2.0", "pub.key", None);
    let extended = fs::read(dir.join("checkpoint")).unwrap();
    fs::copy(
        dir.join("bt/proof/001.tlog-proof"),
        w.root.join("bin/evil.tlog-proof"),
    )
    .unwrap();
    fs::write(dir.join("checkpoint"), &honest).unwrap();
    let (code, err) = exec(&w, &[evil.to_str().unwrap()]);
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("size 2 is larger than size 1"), "{err}");
    // Offline, too.
    let (code, err) = exec(&w, &["--offline", evil.to_str().unwrap()]);
    assert_eq!(code, 126, "{err}");
    // Positive control: the witnesses cosign size 2; the same proof runs.
    fs::write(dir.join("checkpoint"), &extended).unwrap();
    w.cosign(0, &[Some(now()), Some(now())]);
    let (code, err) = exec(&w, &[evil.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(w.canary.exists());
}

/// Adds `count` releases through one manifest (one checkpoint, signed by
/// the log key alone); `tag` makes their bytes differ between logs.
fn add_many(w: &World, log_dir: &Path, from: usize, count: usize, tag: &str) {
    let files = w.root.join(format!("files-{tag}"));
    fs::create_dir_all(&files).unwrap();
    let mut manifest = String::new();
    for i in from..from + count {
        let f = files.join(format!("tool-{i}"));
        fs::write(&f, format!("#!/bin/sh\necho {tag} {i}\n")).unwrap();
        manifest.push_str(&format!(
            "{{\"file\":\"{}\",\"name\":\"example.org/filler\",\"version\":\"{tag}.{i}\"}}\n",
            f.display()
        ));
    }
    let m = files.join(format!("manifest-{from}.jsonl"));
    fs::write(&m, manifest).unwrap();
    let key = w.root.join("pub.key");
    let (code, _, err) = bt_log(&[
        "add",
        log_dir.to_str().unwrap(),
        "--manifest",
        m.to_str().unwrap(),
        "--publisher-key",
        key.to_str().unwrap(),
        "--proofs",
    ]);
    assert_eq!(code, 0, "{err}");
}

/// Item 2: consistency is proven only from tiles that hash to a signed
/// root. The client saw the honest log at size 100; the log key signs a
/// fork of size 300; a mirror serves the fork's upper tiles (they hash to
/// the fork's root) with the honest full tile below them (it gives the
/// honest root of size 100). Nothing may conclude "consistent" from that;
/// the fork's own tiles prove the split view.
#[test]
fn tiles_no_signed_root_covers_neither_create_nor_hide_a_split_view() {
    let mut w = World::new(1);
    let dir = w.logs[0].dir.clone();
    w.publish(0, &w.prog, "pub.key");
    add_many(&w, &dir, 1, 99, "honest");
    w.cosign(0, &[Some(now()), Some(now())]);
    let mirror = w.root.join("mirror");
    fs::create_dir_all(&mirror).unwrap();
    let (_srv, url) = static_http(&mirror);
    // The client sees size 100 through the mirror (a copy of the log).
    let copy = |from: &Path| {
        let _ = fs::remove_dir_all(&mirror);
        copy_dir(from, &mirror);
    };
    copy(&dir);
    w.logs[0].url = url;
    w.policy("logs = 1\nmax_age = \"1h\"");
    w.runs();
    let honest_100 = fs::read(dir.join("checkpoint")).unwrap();
    add_many(&w, &dir, 100, 200, "honest");
    // The fork: the same origin and key, other entries, size 300.
    let fork = w.root.join("fork");
    let (code, _, err) = bt_log(&[
        "init",
        fork.to_str().unwrap(),
        "--origin",
        "example.org/log0",
        "--key",
        w.root.join("log0.key").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    add_many(&w, &fork, 0, 300, "forked");
    let fork_note = w.root.join("fork.checkpoint");
    fs::copy(fork.join("checkpoint"), &fork_note).unwrap();
    // The mix: the fork's tiles, the honest full tile 0/000.
    copy(&fork);
    fs::copy(dir.join("tile/0/000"), mirror.join("tile/0/000")).unwrap();
    fs::write(mirror.join("checkpoint"), &honest_100).unwrap();
    let out = w.run(&["gossip", "import", fork_note.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(124), "{err}");
    assert!(err.contains("do not hash to its signed root"), "{err}");
    assert!(
        !w.root.join("state/evidence").exists(),
        "a mirror raised an alarm: {err}"
    );
    // A proof file from the fork, through the same mirror: refused.
    let filler = w.root.join("files-forked/tool-299");
    fs::copy(
        fork.join("bt/proof/299.tlog-proof"),
        w.root.join("files-forked/tool-299.tlog-proof"),
    )
    .unwrap();
    chmod_x(&filler);
    let (code, err) = exec(&w, &[filler.to_str().unwrap()]);
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("size 300 is larger than size 100"), "{err}");
    // The fork's own tiles prove the split view.
    copy(&fork);
    let out = w.run(&["gossip", "import", fork_note.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(123), "{err}");
    assert!(
        err.contains("size 100 is not a prefix of size 300"),
        "{err}"
    );
}

/// Item 3: a mirror at a smaller size whose prefix cannot be proven from
/// what it serves is "unreachable, the cache decides": a program the fresh
/// saved checkpoint proves still runs, with a warning.
#[test]
fn a_stale_mirror_leaves_the_decision_to_the_fresh_cache() {
    let mut w = World::ready(1);
    let dir = w.logs[0].dir.clone();
    let stale = w.root.join("stale");
    copy_dir(&dir, &stale);
    let more = script(&w, "more");
    w.publish_release(0, &more, "example.org/more", "1.0", "pub.key", None);
    w.cosign(0, &[Some(now()), Some(now())]);
    let (_live, live_url) = static_http(&dir);
    w.logs[0].url = live_url;
    w.policy("logs = 1\nmax_age = \"1h\"");
    w.runs();
    let (_mirror, mirror_url) = static_http(&stale);
    w.logs[0].url = mirror_url;
    w.policy("logs = 1\nmax_age = \"1h\"");
    let err = w.runs();
    assert!(err.contains("warning"), "{err}");
    assert!(
        err.contains("cannot be proven from what it serves"),
        "{err}"
    );
    assert!(!w.root.join("state/evidence").exists());
}
