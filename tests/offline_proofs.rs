//! Proofs shipped beside a program on a machine that cannot reach the log
//! (issue 26, items 1–3; DESIGN §6, "Which checkpoint may prove a leaf"
//! and "Consistency that cannot be checked now"; docs/VERIFY.md, "Proofs
//! on a machine that cannot reach the log"), end to end: real `bt-log`
//! log servers and witness processes, `bt-log publish` writing the proofs
//! beside the program, bt-exec processes on machines with fresh or earlier
//! state (their own BT_EXEC_STATE_DIR / BT_EXEC_CACHE_DIR), and logs served
//! again by `bt-log serve` or Python's `http.server`.

mod common;
#[path = "offline_proofs/net.rs"]
mod net;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use bt_exec::tlog::Checkpoint;
use common::world::{chmod_x, now, World};
use common::{python_http_server, Proc};
use net::{
    add, files, init_fork, note_of, resigned, restore, saved_sizes, with_note, without_line, Net,
};

/// Item 1: released to two logs cosigned by two witnesses, then every
/// server stopped. On machines with empty state and cache the program runs
/// from the proofs beside it alone, with and without `--offline`, and each
/// log's checkpoint from its proof is saved.
#[test]
fn a_fresh_machine_runs_from_the_shipped_proofs_alone() {
    let mut n = Net::new();
    let prog = n.program("prog");
    n.publish(&prog, "example.org/prog", "1.0");
    n.stop_logs();
    n.witnesses.clear();
    for (machine, flags) in [("fresh-a", &[][..]), ("fresh-b", &["--offline"][..])] {
        let mut args = flags.to_vec();
        args.extend([prog.to_str().unwrap(), "hello"]);
        let (c, out, err) = n.exec(machine, &args);
        assert_eq!(c, 0, "{machine}: {err}");
        assert_eq!(out, "ran prog:hello\n", "{machine}");
        let state = n.root.join(machine).join("state");
        assert_eq!(saved_sizes(&state), [1, 1], "{machine}");
        // What is saved is each proof's checkpoint.
        for i in 0..2 {
            let proof = fs::read(n.proof_of(&prog, i)).unwrap();
            let cp = Checkpoint::of_note(note_of(&proof)).unwrap();
            let saved = files(&state.join("checkpoints"));
            assert!(
                saved
                    .values()
                    .any(|s| Checkpoint::of_note(s).unwrap() == cp),
                "{machine}: log {i}'s checkpoint is not the saved one"
            );
        }
        let (c, out, err) = n.exec(machine, &["status", "--offline"]);
        assert_eq!(c, 0, "{err}");
        for i in 0..2 {
            let line = format!("log example.org/log{i}: size 1, 2 cosignature(s)");
            assert!(out.contains(&line), "{machine}: {out}");
        }
        // Run again, offline: from what the first run saved.
        let (c, out, err) = n.exec(machine, &["--offline", prog.to_str().unwrap()]);
        assert_eq!((c, out.as_str()), (0, "ran prog:\n"), "{err}");
    }
}

/// Proofs of `evil` in both logs, each a tree the log key signed alone:
/// each log's own extended by `evil` (size 2), or a `fork` of it holding
/// `evil` alone (size 1). Each inclusion proof is valid.
fn signed_alone(n: &Net, evil: &Path, fork: bool) {
    fs::create_dir_all(bt_exec::fsutil::beside(evil, ".tlog-proofs")).unwrap();
    for i in 0..2 {
        let dir = n.root.join(format!("log{i}-alone-{fork}"));
        if fork {
            init_fork(&n.root, &dir, i);
        } else {
            common::copy_dir(&n.logs[i].dir, &dir);
        }
        let proof = add(&dir, evil, "example.org/prog", &n.root.join("pub.key"));
        let size = Checkpoint::of_note(note_of(&proof)).unwrap().size;
        assert_eq!(size, if fork { 1 } else { 2 });
        fs::write(n.proof_of(evil, i), proof).unwrap();
    }
}

/// Runs `prog` with `flags` on the machine `machine`: refused (126)
/// naming `why`, and nothing ran.
fn refused_fresh(n: &Net, machine: &str, flags: &[&str], prog: &Path, why: &[&str]) {
    let mut args = flags.to_vec();
    args.push(prog.to_str().unwrap());
    let (c, out, err) = n.exec(machine, &args);
    assert_eq!(c, 126, "{machine}: {err}");
    assert_eq!(out, "", "{machine}: it ran");
    for w in why {
        assert!(err.contains(w), "{machine}: {w:?} not said: {err}");
    }
}

/// Item 1: on machines with empty state and cache, every server stopped
/// (and `--offline` from the third case on), a proof whose checkpoint
/// lacks the witness quorum, one whose quorum is older than `max_age`, and
/// one of a tree the log key extended and signed alone (a valid inclusion
/// proof; refused also where the witnessed checkpoint was seen first,
/// naming both sizes) are each refused with 126 saying why; a fork the log
/// key signed and no witness saw never runs (126 on a new machine, a split
/// view where the witnessed tree of that size was seen). The control: the
/// good proof runs on a new machine.
#[test]
fn a_fresh_machine_refuses_proofs_whose_checkpoint_does_not_meet_the_policy() {
    let mut n = Net::new();
    let prog = n.program("prog");
    n.publish(&prog, "example.org/prog", "1.0");
    n.stop_logs();
    n.witnesses.clear();
    let p0 = n.proof_of(&prog, 0);
    let good = fs::read(&p0).unwrap();
    let note = note_of(&good).to_vec();
    // Short of the quorum: w1's cosignature removed.
    fs::write(&p0, with_note(&good, &without_line(&note, "w1.example"))).unwrap();
    refused_fresh(
        &n,
        "quorum",
        &[],
        &prog,
        &["does not meet the policy by itself", "quorum"],
    );
    // Stale: cosigned by both witnesses two hours ago; max_age is 1h.
    fs::write(
        &p0,
        with_note(&good, &resigned(&n.root, 0, &note, now() - 7200)),
    )
    .unwrap();
    refused_fresh(
        &n,
        "stale",
        &[],
        &prog,
        &["does not meet the policy by itself", "stale"],
    );
    fs::write(&p0, &good).unwrap();
    let (c, out, err) = n.exec("control", &[prog.to_str().unwrap()]);
    assert_eq!((c, out.as_str()), (0, "ran prog:\n"), "{err}");

    // The log key extends each log's tree with `evil` and signs it alone
    // (the witnesses are down), each inclusion proof valid.
    let evil = n.program("evil");
    signed_alone(&n, &evil, false);
    refused_fresh(
        &n,
        "extended",
        &["--offline"],
        &evil,
        &["(size 2) does not meet the policy by itself"],
    );
    // Where the witnessed size 1 was seen first, the extension is larger.
    let (c, _, err) = n.exec("extended-seen", &["--offline", prog.to_str().unwrap()]);
    assert_eq!(c, 0, "{err}");
    refused_fresh(
        &n,
        "extended-seen",
        &["--offline"],
        &evil,
        &["size 2 is larger than size 1"],
    );
    // A fork: the log key signs another history no witness saw.
    signed_alone(&n, &evil, true);
    refused_fresh(
        &n,
        "fork",
        &["--offline"],
        &evil,
        &["does not meet the policy by itself"],
    );
    // Where the witnessed history was seen first: never run either.
    let (c, _, err) = n.exec("fork-seen", &["--offline", prog.to_str().unwrap()]);
    assert_eq!(c, 0, "{err}");
    let (c, out, err) = n.exec("fork-seen", &["--offline", evil.to_str().unwrap()]);
    assert_eq!(c, 123, "the log key signed two trees of size 1: {err}");
    assert!(
        err.contains("split view: two different trees of size 1"),
        "{err}"
    );
    assert_eq!(out, "", "the fork ran: {err}");
}

/// The pending-pair files of a machine's state.
fn pending(state: &Path) -> BTreeMap<String, Vec<u8>> {
    files(&state.join("pending"))
}

/// `status --offline`'s lines saying a pair is pending.
fn pending_lines(n: &Net, machine: &str) -> Vec<String> {
    let (c, out, err) = n.exec(machine, &["status", "--offline"]);
    assert_eq!(c, 0, "{err}");
    out.lines()
        .filter(|l| l.contains("pending:"))
        .map(str::to_string)
        .collect()
}

/// Item 2 (and 3): a machine that ran the program online saved both logs
/// at size 1; the logs grew (another release, cosigned by both witnesses)
/// and their servers stopped. The newer release's fresh witnessed proofs
/// run, offline and with the logs down; the pairs are kept pending (status
/// lists them, STATE/pending/ holds them) and the saved checkpoints do not
/// move. With the logs back, their honest history grown further, each
/// online contact — a run, `status`, `gossip import` — proves and clears
/// the pairs, and the saved checkpoints move forward.
#[test]
fn a_newer_proof_runs_pending_and_the_next_online_contact_proves_it() {
    let mut n = Net::new();
    let prog = n.program("prog");
    n.publish(&prog, "example.org/prog", "1.0");
    let (c, out, err) = n.exec("m", &[prog.to_str().unwrap()]);
    assert_eq!((c, out.as_str()), (0, "ran prog:\n"), "{err}");
    let state = n.root.join("m/state");
    assert_eq!(saved_sizes(&state), [1, 1]);
    let other = n.program("other");
    n.publish(&other, "example.org/other", "1.0");
    n.stop_logs();
    let before = files(&state.join("checkpoints"));
    for flags in [&["--offline"][..], &[][..]] {
        let mut args = flags.to_vec();
        args.push(other.to_str().unwrap());
        let (c, out, err) = n.exec("m", &args);
        assert_eq!((c, out.as_str()), (0, "ran other:\n"), "{flags:?}: {err}");
        assert!(err.contains("kept pending"), "{err}");
        // Item 3: the saved checkpoints have not moved.
        assert_eq!(files(&state.join("checkpoints")), before, "{flags:?}");
        assert_eq!(pending(&state).len(), 2, "one file per log");
    }
    let lines = pending_lines(&n, "m");
    assert_eq!(lines.len(), 2, "one pair per log, kept once: {lines:?}");
    for l in &lines {
        assert!(l.contains("pending: size 2 (from "), "{l}");
        assert!(l.contains("not yet proven one history with size 1"), "{l}");
    }
    common::copy_dir(&state, &n.root.join("m-pending"));
    n.start_logs();
    let third = n.program("third");
    n.publish(&third, "example.org/third", "1.0");
    let export = n.root.join("export");
    let prog_s = prog.to_str().unwrap();
    let contacts: [(&str, Vec<&str>, &str); 3] = [
        (
            "a run",
            vec!["-v", prog_s],
            "is proven one history with size 3",
        ),
        (
            "status",
            vec!["status"],
            "1 pending pair(s) proven one history, 0 left",
        ),
        (
            "gossip import",
            vec!["gossip", "import", export.to_str().unwrap()],
            "1 pending pair(s) proven one history, 0 left",
        ),
    ];
    for (what, args, says) in contacts {
        restore(&n.root.join("m-pending"), &state);
        let (c, out, err) = n.exec("m", &["gossip", "export"]);
        assert_eq!(c, 0, "{err}");
        fs::write(&export, out).unwrap();
        let (c, _, err) = n.exec("m", &args);
        assert_eq!(c, 0, "{what}: {err}");
        for i in 0..2 {
            let line = err
                .lines()
                .find(|l| l.contains(&format!("example.org/log{i}")) && l.contains(says));
            assert!(line.is_some(), "{what}: log {i}: {says:?} not said: {err}");
        }
        assert!(pending(&state).is_empty(), "{what}: {err}");
        assert!(pending_lines(&n, "m").is_empty(), "{what}");
        assert_eq!(saved_sizes(&state), [3, 3], "{what}: {err}");
    }
}

/// A script that leaves `w`'s canary when it runs.
fn script(w: &World, name: &str) -> PathBuf {
    let p = w.root.join("bin").join(name);
    fs::write(
        &p,
        format!("#!/bin/sh\ntouch {}\necho {name}\n", w.canary.display()),
    )
    .unwrap();
    chmod_x(&p);
    p
}

/// bt-exec with `args` (the canary removed first): exit status, stderr.
fn ran(w: &World, args: &[&str]) -> (i32, String) {
    let _ = fs::remove_file(&w.canary);
    let out = w.run(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    (out.status.code().unwrap_or(-1), err)
}

/// `w`'s log 0 served by Python's http.server, the policy requiring it
/// with `require`.
fn served(w: &mut World, require: &str) -> Proc {
    let (srv, url) = python_http_server(&w.logs[0].dir);
    w.logs[0].url = url;
    w.policy(require);
    srv
}

/// Grows `w`'s honest log by `count` releases of `name`, then both
/// witnesses cosign it now.
fn grow(w: &World, name: &str, count: usize) {
    for i in 0..count {
        let f = w.root.join(format!("bin/{}-{i}", name.replace('/', "_")));
        fs::write(&f, format!("#!/bin/sh\necho {name} {i}\n")).unwrap();
        w.publish_release(0, &f, name, &format!("1.{i}"), "pub.key", None);
    }
    w.cosign(0, &[Some(now()), Some(now())]);
}

/// The log key and a colluding quorum of the policy's witnesses sign a
/// fork of `w`'s log 0: size 3, with `evil` at leaf 2. Returns the proof
/// file for `evil`, its checkpoint cosigned now by both witnesses.
fn cosigned_fork(w: &World, evil: &Path) -> Vec<u8> {
    let fork = w.root.join("fork");
    init_fork(&w.root, &fork, 0);
    let publisher = w.root.join("pub.key");
    for i in 0..2 {
        let f = w.root.join(format!("bin/forked-{i}"));
        fs::write(&f, format!("#!/bin/sh\necho forked {i}\n")).unwrap();
        add(&fork, &f, "example.org/forked", &publisher);
    }
    let proof = add(&fork, evil, "example.org/evil", &publisher);
    let cp = Checkpoint::of_note(note_of(&proof)).unwrap();
    assert_eq!(cp.size, 3);
    with_note(&proof, &w.sign(0, &cp, &[Some(now()), Some(now())]))
}

/// Item 2 (and 3): a machine saw the honest log (served by Python's
/// http.server) at size 1. Offline, a proof from a fork that the log key
/// and a colluding quorum of the policy's witnesses signed (size 3) runs,
/// the pair pending and the saved checkpoint unmoved. Online while the
/// honest tree is still smaller than the fork's, nothing can be proven and
/// the pair stays; once it is larger, the next online contact — a run, or
/// `status` — is a split view: 123, the evidence written, and every run
/// refused (123) until `bt-exec alarm clear`.
#[test]
fn a_colluding_fork_runs_offline_and_is_a_split_view_at_the_next_online_contact() {
    let mut w = World::ready(1);
    let _srv = served(&mut w, "logs = 1\nmax_age = \"1h\"");
    w.runs();
    let state = w.root.join("state");
    let evil = script(&w, "evil");
    let proof = cosigned_fork(&w, &evil);
    fs::write(bt_exec::fsutil::beside(&evil, ".tlog-proof"), proof).unwrap();
    let before = files(&state.join("checkpoints"));
    let (c, out, err) = w.checked(&["--offline", evil.to_str().unwrap()]);
    assert_eq!((c, out.as_str()), (0, "evil\n"), "{err}");
    assert!(err.contains("kept pending"), "{err}");
    assert_eq!(pending(&state).len(), 1);
    assert_eq!(files(&state.join("checkpoints")), before, "item 3");
    // What only the unlinked checkpoint proved is no run record: one would
    // outlive the split view found later (no_downgrade reads them).
    let (_, status, _) = w.checked(&["status", "--offline"]);
    assert!(!status.contains("example.org/evil"), "{status}");
    // Online, the honest tree (size 1) smaller than the fork's: the pair
    // can be proven neither way, and stays.
    let err = w.runs();
    assert!(err.contains("still cannot be proven"), "{err}");
    assert_eq!(pending(&state).len(), 1);
    assert!(files(&state.join("evidence")).is_empty());
    // The honest log grows past the fork's size.
    grow(&w, "example.org/filler", 3);
    let kept = w.root.join("state-pending");
    common::copy_dir(&state, &kept);
    let err = w.refused(123, "the next online run");
    assert!(err.contains("split view"), "{err}");
    assert!(err.contains("size 3 is not a prefix of size 4"), "{err}");
    assert_eq!(files(&state.join("evidence")).len(), 1);
    let err = w.refused(123, "the run after the split view");
    assert!(err.contains("alarm clear"), "{err}");
    let (c, _, err) = w.checked(&["--offline", evil.to_str().unwrap()]);
    assert_eq!(c, 123, "the forked proof after the split view: {err}");
    let (c, _, err) = w.checked(&["alarm", "clear", "example.org/log0"]);
    assert_eq!(c, 0, "{err}");
    w.runs();
    assert!(pending(&state).is_empty());
    // `status` as the online contact finds it too.
    restore(&kept, &state);
    let (c, _, err) = w.checked(&["status"]);
    assert_eq!(c, 123, "{err}");
    assert!(err.contains("split view"), "{err}");
    assert_eq!(files(&state.join("evidence")).len(), 1);
    w.refused(123, "a run after status found the split view");
}

/// Item 3: under history rules (`latest = true`, `refresh = "1h"`) the
/// program's second run records a warm verdict (a memo), which alone runs
/// it (offline, its cached proofs moved away), and `-v` narrates the warm
/// path. Once a pair is kept pending (another release's newer proof run
/// offline), neither: the memo no longer runs it (the full verification,
/// without the proofs, is refused) — the pending file alone ends it — and
/// the run that succeeds takes the full path. The next online contact
/// proves the pair; the warm path is back.
#[test]
fn no_warm_path_under_history_rules_while_a_pair_is_pending() {
    let mut w = World::ready(1);
    let history = "logs = 1\nmax_age = \"1h\"\nlatest = true\nrefresh = \"1h\"";
    let _srv = served(&mut w, history);
    let prog = w.prog.to_str().unwrap().to_string();
    w.runs();
    w.runs();
    assert_eq!(w.memos(), 1, "the warm run records its verdict");
    let proofs = w.root.join("state/proofs");
    let aside = w.root.join("proofs-aside");
    // bt-exec's exit status, offline with the cached proofs moved away;
    // the program (exit 3) ran exactly when it is 3.
    let memo_code = |w: &World| {
        fs::rename(&proofs, &aside).unwrap();
        let (c, err) = ran(w, &["--offline", &prog]);
        fs::rename(&aside, &proofs).unwrap();
        assert_eq!(c == 3, w.canary.exists(), "{err}");
        c
    };
    const WARM: &str = "is fresh; proven from the cache";
    assert_eq!(memo_code(&w), 3, "the warm verdict ran it");
    let (c, err) = ran(&w, &["-v", "--offline", &prog]);
    assert_eq!(c, 3, "{err}");
    assert!(err.contains(WARM), "{err}");
    // The log grows by another name (the program stays the latest); that
    // release's proof at the newer checkpoint, cosigned, run offline under
    // a policy without history rules, leaves a pair pending.
    let other = script(&w, "other");
    w.publish_release(0, &other, "example.org/other", "1.0", "pub.key", None);
    w.cosign(0, &[Some(now()), Some(now())]);
    let proof = fs::read(w.logs[0].dir.join("bt/proof/001.tlog-proof")).unwrap();
    let note = fs::read(w.logs[0].dir.join("checkpoint")).unwrap();
    fs::write(
        bt_exec::fsutil::beside(&other, ".tlog-proof"),
        with_note(&proof, &note),
    )
    .unwrap();
    w.policy("logs = 1\nmax_age = \"1h\"");
    let (c, _, err) = w.checked(&["--offline", other.to_str().unwrap()]);
    assert_eq!(c, 0, "{err}");
    assert!(err.contains("kept pending"), "{err}");
    w.policy(history);
    let state = w.root.join("state");
    let [(name, _)] = <[_; 1]>::try_from(pending(&state).into_iter().collect::<Vec<_>>()).unwrap();
    assert_eq!(
        memo_code(&w),
        124,
        "a warm verdict ran it with a pair pending"
    );
    // The pending file alone is what ends it.
    let file = state.join("pending").join(&name);
    fs::rename(&file, w.root.join("pending-aside")).unwrap();
    assert_eq!(memo_code(&w), 3, "the control: without the pending file");
    fs::rename(w.root.join("pending-aside"), &file).unwrap();
    let (c, err) = ran(&w, &["-v", "--offline", &prog]);
    assert_eq!(c, 3, "{err}");
    assert!(
        !err.contains(WARM),
        "the warm path with a pair pending: {err}"
    );
    assert!(err.contains("checkpoint size 1 verified"), "{err}");
    // Online: the pair is proven and forgotten; the warm path is back.
    w.runs();
    assert!(pending(&state).is_empty());
    w.runs();
    let (c, err) = ran(&w, &["-v", "--offline", &prog]);
    assert_eq!(c, 3, "{err}");
    assert!(err.contains(WARM), "{err}");
}
