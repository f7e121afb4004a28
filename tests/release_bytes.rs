//! What release these bytes are (DESIGN §6), end to end: the release
//! binaries (the front `bt-exec` and the whole one behind it), logs written
//! by `bt-log`, one of them served over HTTP by Python's `http.server`.
//! Another admitted publisher re-logging an outdated release's bytes under
//! its own name, a log that lags, a warm verdict after `gossip import`,
//! and one witness dating its cosignature ahead.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::world::{chmod_x, now, World};

const NAME: &str = "example.org/tool";
const EVIL: &str = "evil.example/relogged";

/// A script that touches the canary and prints its version.
fn tool(w: &World, v: &str) -> PathBuf {
    let f = w.root.join(format!("bin/tool-{v}"));
    let script = format!(
        "#!/bin/sh\ntouch {}\necho \"tool {v}: $*\"\n",
        w.canary.display()
    );
    fs::write(&f, script).unwrap();
    chmod_x(&f);
    f
}

/// The policy of `w` with `require`, admitting `evil.key` for
/// `evil.example/*` too (another admitted publisher).
fn policy(w: &World, require: &str) {
    let p = w.policy(require);
    let text = fs::read_to_string(&p).unwrap();
    let evil = fs::read_to_string(w.root.join("evil.key.pub")).unwrap();
    let block = format!(
        "[[publisher]]\nnames = [\"evil.example/*\"]\nkey = \"{}\"\n\n[require]",
        evil.trim()
    );
    fs::write(&p, text.replacen("[require]", &block, 1)).unwrap();
}

fn run(w: &World, f: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all = vec![f.to_str().unwrap()];
    all.extend(args);
    w.checked(&all)
}

/// The `bt-log proof` of leaf `index` in log `i`.
fn proof(w: &World, i: usize, index: u64) -> Vec<u8> {
    let dir = w.logs[i].dir.to_str().unwrap().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bt-log"))
        .args(["proof", &dir, &index.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Log 0 holds 1.0 (leaf 0) and 2.0 (leaf 1) of NAME, then the other
/// publisher's re-log of 1.0's bytes as EVIL (leaf 2), all cosigned now;
/// log 0 is served by Python's http.server. Returns the world, 1.0, 2.0.
fn relogged() -> (World, PathBuf, PathBuf, common::Proc) {
    let mut w = World::new(1);
    let (one, two) = (tool(&w, "1.0"), tool(&w, "2.0"));
    w.publish_release(0, &one, NAME, "1.0", "pub.key", None);
    w.publish_release(0, &two, NAME, "2.0", "pub.key", None);
    w.publish_release(0, &one, EVIL, "1", "evil.key", None);
    w.cosign(0, &[Some(now()), Some(now())]);
    let (srv, url) = common::python_http_server(&w.logs[0].dir);
    w.logs[0].url = url;
    (w, one, two, srv)
}

#[test]
fn another_publisher_relogging_old_bytes_is_judged_by_the_real_release() {
    let (w, one, two, _srv) = relogged();
    policy(&w, "max_age = \"1h\"\nlatest = true");
    // Its own entry's proof beside the program: still 1.0 judged by latest.
    fs::write(w.root.join("bin/tool-1.0.tlog-proof"), proof(&w, 0, 2)).unwrap();
    let (c, _, err) = run(&w, &one, &[]);
    assert_eq!(c, 126, "{err}");
    assert!(
        err.contains("example.org/tool 1.0 is not the latest release: example.org/tool 2.0"),
        "{err}"
    );
    // `verify --json` reports every release of these bytes.
    let out = w.run(&["verify", "--json", one.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["exit_code"], 126, "{v}");
    fs::remove_file(w.root.join("bin/tool-1.0.tlog-proof")).unwrap();
    // Without the proof, found through the index: refused the same way.
    let (c, _, err) = run(&w, &one, &[]);
    assert_eq!(c, 126, "{err}");
    assert!(err.contains("is not the latest release"), "{err}");
    // The control: 2.0 runs, and the report names its one release.
    let (c, out, err) = run(&w, &two, &["hi"]);
    assert_eq!((c, out.as_str()), (0, "tool 2.0: hi\n"), "{err}");
    let out = w.run(&["verify", "--json", two.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [NAME], "{v}");
}

#[test]
fn the_report_names_every_release_of_the_bytes() {
    let (w, one, _, _srv) = relogged();
    policy(
        &w,
        "max_age = \"1h\"\nmin_release_age = \"0s\"\nno_downgrade = true",
    );
    let out = w.run(&["verify", "--json", one.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["exit_code"], 0, "{v}");
    let mut names: Vec<&str> = v["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [EVIL, NAME], "{v}");
}

#[test]
fn no_downgrade_holds_for_every_name_of_the_bytes() {
    let (w, one, two, _srv) = relogged();
    policy(&w, "max_age = \"1h\"\nno_downgrade = true");
    assert_eq!(run(&w, &two, &[]).0, 0);
    fs::write(w.root.join("bin/tool-1.0.tlog-proof"), proof(&w, 0, 2)).unwrap();
    let (c, _, err) = run(&w, &one, &[]);
    assert_eq!(c, 126, "{err}");
    assert!(
        err.contains("downgrade: example.org/tool 2.0 ran on this machine before"),
        "{err}"
    );
}

/// Two logs, `logs = 1`: log 0 (over HTTP) holds 1.0 and 2.0, log 1 only
/// 1.0 (it lags).
#[test]
fn a_lagging_log_does_not_hide_a_newer_release() {
    let mut w = World::new(2);
    let (one, two) = (tool(&w, "1.0"), tool(&w, "2.0"));
    let cas = format!("file://{}", w.root.join("cas").display());
    w.publish_release(0, &one, NAME, "1.0", "pub.key", Some(&cas));
    w.publish_release(0, &two, NAME, "2.0", "pub.key", Some(&cas));
    w.publish_release(1, &one, NAME, "1.0", "pub.key", Some(&cas));
    w.cosign(0, &[Some(now()), Some(now())]);
    w.cosign(1, &[Some(now()), Some(now())]);
    let (_srv, url) = common::python_http_server(&w.logs[0].dir);
    w.logs[0].url = url;
    policy(&w, "logs = 1\nmax_age = \"1h\"\nlatest = true");
    let (c, _, err) = run(&w, &one, &[]);
    assert_eq!(c, 126, "{err}");
    assert!(
        err.contains("example.org/tool 2.0 (leaf 1 of example.org/log0)"),
        "{err}"
    );
    // NAME@latest with the lagging log in the policy: the newest.
    let (c, out, err) = w.checked(&["verify", "--json", &format!("{NAME}@latest")]);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("\"version\":\"2.0\""), "{out}");
    assert_eq!(run(&w, &two, &[]).0, 0);
}

/// A warm verdict for 1.0 under `latest` ends when `gossip import` saves a
/// newer cosigned checkpoint that holds 2.0: the front binary verifies
/// again and refuses.
#[test]
fn a_warm_verdict_ends_when_gossip_saves_a_newer_checkpoint() {
    let w = World::new(1);
    let (one, two) = (tool(&w, "1.0"), tool(&w, "2.0"));
    w.publish_release(0, &one, NAME, "1.0", "pub.key", None);
    w.cosign(0, &[Some(now()), Some(now())]);
    policy(&w, "max_age = \"1h\"\nlatest = true\nrefresh = \"1h\"");
    assert_eq!(run(&w, &one, &[]).0, 0);
    assert_eq!(run(&w, &one, &[]).0, 0);
    assert_eq!(w.memos(), 1, "the warm run records its verdict");
    // The log grows with 2.0; its checkpoint reaches this machine by gossip
    // (the log itself keeps serving the old one, as a stale mirror would).
    let old = fs::read(w.logs[0].dir.join("checkpoint")).unwrap();
    w.publish_release(0, &two, NAME, "2.0", "pub.key", None);
    w.cosign(0, &[Some(now()), Some(now())]);
    let newer = w.root.join("newer.checkpoint");
    fs::copy(w.logs[0].dir.join("checkpoint"), &newer).unwrap();
    fs::write(w.logs[0].dir.join("checkpoint"), old).unwrap();
    let out = w.run(&["gossip", "import", newer.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (c, _, err) = run(&w, &one, &[]);
    assert_eq!(c, 126, "{err}");
    assert!(err.contains("not the latest release"), "{err}");
}

/// Policy of one log and three witnesses, two of them needed.
fn two_of_three(w: &World, third: &str) {
    let p = w.policy("max_age = \"1h\"");
    let text = fs::read_to_string(&p).unwrap().replace(
        "group both all w0 w1\nquorum both\n",
        &format!("witness w2 {third}\ngroup two 2 w0 w1 w2\nquorum two\n"),
    );
    fs::write(&p, text).unwrap();
}

#[test]
fn one_witness_dating_ahead_costs_that_witness_only() {
    let mut w = World::new(1);
    w.publish(0, &w.prog, "pub.key");
    let (_srv, url) = common::python_http_server(&w.logs[0].dir);
    w.logs[0].url = url;
    let third = common::keygen(&w.root, "w3.example", "w3.key");
    let w3 = bt_exec::log::load_secret_key(&w.root.join("w3.key")).unwrap();
    let cp = w.checkpoint(0);
    let year = 365 * 86_400;
    let sign = |ahead: &[bool]| {
        let t = |a: bool| if a { now() + year } else { now() };
        let keys = [&w.witnesses[0].0, &w.witnesses[1].0, &w3];
        let lines: Vec<String> = keys
            .iter()
            .zip(ahead)
            .map(|(k, &a)| bt_exec::note::sign_cosignature_line(k, t(a), &cp.encode()))
            .collect();
        let note = bt_exec::log::sign_checkpoint(&w.logs[0].key, &cp, &lines);
        fs::write(w.logs[0].dir.join("checkpoint"), note).unwrap();
    };
    two_of_three(&w, &third);
    sign(&[false, false, true]);
    let err = w.runs();
    assert!(
        err.contains("w3.example") && err.contains("it is not counted"),
        "{err}"
    );
    let _ = fs::remove_dir_all(w.root.join("state"));
    sign(&[false, true, true]);
    let err = w.refused(126, "the quorum is in the future");
    assert!(err.contains("check this machine's clock"), "{err}");
}

/// Served data over its cap (an entry bundle of 17 MiB from Python's
/// http.server) is the log unreachable for the run (124), never a refusal:
/// anyone on the path could have sent it. The honest log then runs it.
#[test]
fn an_oversized_bundle_over_http_is_unreachable_not_refused() {
    let mut w = World::new(1);
    w.publish(0, &w.prog, "pub.key");
    w.cosign(0, &[Some(now()), Some(now())]);
    let (_srv, url) = common::python_http_server(&w.logs[0].dir);
    w.logs[0].url = url;
    w.policy("max_age = \"1h\"");
    let bundle = w.logs[0].dir.join("tile/entries/000.p/1");
    let honest = fs::read(&bundle).unwrap();
    fs::write(&bundle, vec![0u8; 17 << 20]).unwrap();
    let _ = fs::remove_dir_all(w.root.join("state/proofs"));
    let err = w.refused(124, "a bundle over its cap");
    assert!(err.contains("over its cap"), "{err}");
    fs::write(&bundle, honest).unwrap();
    w.runs();
}

/// A warm verdict never outlives the witnesses it was decided under: the
/// policy replaces a witness (another key), and the very next run, through
/// the front binary, is refused, since the checkpoint lacks the new
/// witness's cosignature. With the trust in a `trust_file` no warm verdict
/// is kept at all, so an edit of that file alone takes effect at once too.
#[test]
fn a_warm_verdict_never_outlives_a_witness_or_trust_file_change() {
    let w = World::ready(1);
    w.policy("max_age = \"1h\"\nrefresh = \"1h\"");
    w.runs();
    w.runs();
    assert_eq!(w.memos(), 1);
    let newkey = common::keygen(&w.root, "w9.example", "w9.key");
    let p = w.root.join("policy.toml");
    let text = fs::read_to_string(&p).unwrap();
    let old = w.witnesses[1].1.clone();
    fs::write(&p, text.replace(&old, &newkey)).unwrap();
    let err = w.refused(126, "a witness replaced under a warm verdict");
    assert!(err.contains("quorum is not met"), "{err}");
    // The trust in a file of its own: no warm verdict is kept.
    fs::write(&p, &text).unwrap();
    let (head, rest) = text.split_once("\"\"\"\n\n").unwrap();
    let trust = head.trim_start_matches("trust = \"\"\"\n");
    fs::write(w.root.join("trust.policy"), trust).unwrap();
    fs::write(&p, format!("trust_file = \"trust.policy\"\n\n{rest}")).unwrap();
    let memos = w.memos();
    w.runs();
    w.runs();
    assert_eq!(w.memos(), memos, "no warm verdict under a trust_file");
    fs::write(w.root.join("trust.policy"), trust.replace(&old, &newkey)).unwrap();
    w.refused(126, "the trust_file edited");
}
