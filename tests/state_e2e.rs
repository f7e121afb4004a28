//! bt-exec's local state under real concurrency: many processes at once,
//! over a log served by Python's `http.server` that grows between their
//! fetches (DESIGN §7: a saved checkpoint only moves forward).

mod common;

use std::fs;
use std::process::{Command, Stdio};

use common::python_http_server as static_http;
use common::world::{now, World};

const BT_EXEC: &str = env!("CARGO_BIN_EXE_bt-exec");

/// The size of the one saved checkpoint.
fn saved_size(w: &World) -> u64 {
    let dir = w.root.join("state/checkpoints");
    let files: Vec<_> = fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let note = fs::read_to_string(files[0].path()).unwrap();
    note.lines().nth(1).unwrap().parse().unwrap()
}

#[test]
fn fifty_concurrent_runs_while_the_log_grows_leave_the_largest_size_any_verified() {
    let mut w = World::ready(1);
    let (_srv, url) = static_http(&w.logs[0].dir);
    w.logs[0].url = url;
    w.policy("logs = 1\nmax_age = \"1h\"");
    let prog = w.prog.to_str().unwrap().to_string();
    let mut children = vec![];
    for round in 0..10 {
        for _ in 0..5 {
            let mut c = Command::new(BT_EXEC);
            w.env(c.args(["verify", "--json", &prog]))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            children.push(c.spawn().unwrap());
        }
        // The log grows (and its witnesses cosign) while they run.
        let other = w.root.join(format!("other-{round}"));
        fs::write(&other, format!("other {round}\n")).unwrap();
        w.publish_release(
            0,
            &other,
            "example.org/other",
            &format!("0.{round}"),
            "pub.key",
            None,
        );
        // Cosigned and swapped in atomically, as a log publishes it.
        let note = w.sign(0, &w.checkpoint(0), &[Some(now()), Some(now())]);
        let tmp = w.logs[0].dir.join("checkpoint.tmp");
        fs::write(&tmp, note).unwrap();
        fs::rename(&tmp, w.logs[0].dir.join("checkpoint")).unwrap();
    }
    let mut largest = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
        // Allowed besides 0: a run that found the checkpoint `bt-log add`
        // publishes before its witnesses cosign it, with nothing saved yet
        // (126), and one under which others saved newer checkpoints five
        // times in a row (124). Neither saves anything.
        match out.status.code() {
            Some(0) => {}
            Some(126) if err.contains("quorum is not met") => continue,
            Some(124) if err.contains("changed under each") => continue,
            c => panic!("exit {c:?}: {err}"),
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let size = v["logs"][0]["size"].as_u64().unwrap();
        largest = largest.max(size);
    }
    assert!(largest > 1, "no run saw the log grow");
    assert_eq!(
        saved_size(&w),
        largest,
        "the saved checkpoint is not the largest verified"
    );
}
