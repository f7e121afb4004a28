//! `bt-log monitor`: accepts an independent writer's log and lists every
//! release; rejects every kind of misbehaviour with a non-zero exit that
//! names it; flags new publisher keys and rewritten releases; a second pass
//! reads only what is new.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bt_exec::log::{load_secret_key, sign_checkpoint};
use bt_exec::tlog::Checkpoint;
use common::{bt_log, copy_dir, keygen, BT_LOG};

struct Log {
    tmp: tempfile::TempDir,
    dir: PathBuf,
    vkey: String,
    count: usize,
}

impl Log {
    fn new(origin: &str) -> Log {
        let tmp = tempfile::tempdir().unwrap();
        let vkey = keygen(tmp.path(), origin, "log.key");
        keygen(tmp.path(), "example.org", "pub.key");
        keygen(tmp.path(), "example.org", "other-pub.key");
        let dir = tmp.path().join("log");
        let (code, _, err) = bt_log(&[
            "init",
            dir.to_str().unwrap(),
            "--origin",
            origin,
            "--key",
            tmp.path().join("log.key").to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        Log {
            tmp,
            dir,
            vkey,
            count: 0,
        }
    }

    /// Adds `n` releases of example.org/tool<i % 5> (distinct versions).
    fn add(&mut self, n: usize, key: &str, tag: &str) {
        let files = self.tmp.path().join("files");
        fs::create_dir_all(&files).unwrap();
        let mut m = String::new();
        for i in self.count..self.count + n {
            fs::write(files.join(i.to_string()), format!("{tag} {i}\n")).unwrap();
            m.push_str(&format!("{{\"file\":\"files/{i}\",\"name\":\"example.org/tool{}\",\"version\":\"1.{i}\"}}\n", i % 5));
        }
        let mp = self.tmp.path().join("m.jsonl");
        fs::write(&mp, m).unwrap();
        let (code, _, err) = bt_log(&[
            "add",
            self.dir.to_str().unwrap(),
            "--manifest",
            mp.to_str().unwrap(),
            "--publisher-key",
            self.tmp.path().join(key).to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        self.count += n;
    }

    fn state(&self) -> PathBuf {
        self.tmp.path().join("state")
    }

    fn monitor(&self, extra: &[&str]) -> (i32, String, String) {
        monitor_url(
            &format!("file://{}", self.dir.display()),
            &self.vkey,
            &self.state(),
            extra,
        )
    }

    fn resign(&self, cp: &Checkpoint) {
        let key = load_secret_key(&self.tmp.path().join("log.key")).unwrap();
        fs::write(self.dir.join("checkpoint"), sign_checkpoint(&key, cp, &[])).unwrap();
    }

    fn checkpoint(&self) -> Checkpoint {
        let note = fs::read(self.dir.join("checkpoint")).unwrap();
        let end = note.windows(2).position(|w| w == b"\n\n").unwrap();
        Checkpoint::parse(&note[..=end]).unwrap()
    }
}

fn monitor_url(url: &str, vkey: &str, state: &Path, extra: &[&str]) -> (i32, String, String) {
    let start = Instant::now();
    let out = Command::new(BT_LOG)
        .args([
            "monitor",
            url,
            "--key",
            vkey,
            "--state",
            state.to_str().unwrap(),
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "monitor took {:?}",
        start.elapsed()
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        err,
    )
}

fn flip(path: &Path, at: usize) {
    let mut b = fs::read(path).unwrap();
    b[at] ^= 1;
    fs::write(path, b).unwrap();
}

#[test]
fn independent_writer_1000_releases_all_listed() {
    if !common::python_interop("independent_writer_1000") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let meta = common::independent_log(&dir, 1000, &[]);
    let url = format!("file://{}/", dir.display());
    let (code, stdout, err) = monitor_url(
        &url,
        meta["log_vkey"].as_str().unwrap(),
        &tmp.path().join("s"),
        &["--json"],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1000);
    for (i, (got, want)) in lines
        .iter()
        .zip(meta["releases"].as_array().unwrap())
        .enumerate()
    {
        assert_eq!(got["index"], i as u64);
        assert_eq!(got["name"], want["name"]);
        assert_eq!(got["version"], want["version"]);
        assert_eq!(got["sha256"], want["sha256"]);
        assert_eq!(got["publisher"], meta["publisher"]);
        for k in ["platform", "size", "published"] {
            assert!(!got[k].is_null(), "{k}");
        }
    }
    // With --name, only that name.
    let (code, stdout, _) = monitor_url(
        &url,
        meta["log_vkey"].as_str().unwrap(),
        &tmp.path().join("s2"),
        &["--name", "example.net/tool3"],
    );
    assert_eq!((code, stdout.lines().count()), (0, 100));
}

#[test]
fn independent_writer_bad_publisher_signature() {
    if !common::python_interop("bad_publisher_signature") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let meta = common::independent_log(&dir, 300, &[("CORRUPT_SIG_AT", "277")]);
    let (code, stdout, err) = monitor_url(
        &format!("file://{}", dir.display()),
        meta["log_vkey"].as_str().unwrap(),
        &tmp.path().join("s"),
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("entry 277: publisher signature does not verify"),
        "{err}"
    );
    assert!(
        stdout.is_empty(),
        "nothing is listed from a pass that failed"
    );
}

/// Each corruption of a monitored log: (what, how, expected message).
#[test]
fn every_fault_is_a_nonzero_exit_naming_it() {
    type Corrupt = fn(&Log);
    let cases: Vec<(&str, Corrupt, &str)> = vec![
        (
            "corrupted log signature",
            |l| {
                // Another base64 character in the signature (a flipped
                // bit could leave the alphabet and make it malformed).
                let p = l.dir.join("checkpoint");
                let mut b = fs::read(&p).unwrap();
                let at = b.len() - 5;
                b[at] = if b[at] == b'A' { b'B' } else { b'A' };
                fs::write(&p, b).unwrap();
            },
            "does not verify",
        ),
        (
            "flipped hash in a tile",
            |l| flip(&l.dir.join("tile/0/001.p/44"), 40),
            "does not hash to its leaf hash",
        ),
        (
            "flipped byte in a bundle",
            |l| flip(&l.dir.join("tile/entries/001.p/44"), 100),
            "entry",
        ),
        (
            "truncated tile",
            |l| {
                let p = l.dir.join("tile/0/001.p/44");
                let b = fs::read(&p).unwrap();
                fs::write(&p, &b[..b.len() - 7]).unwrap();
            },
            "bytes, expected",
        ),
        (
            "missing tile",
            |l| fs::remove_file(l.dir.join("tile/0/001.p/44")).unwrap(),
            "missing",
        ),
        (
            "missing bundle",
            |l| fs::remove_file(l.dir.join("tile/entries/001.p/44")).unwrap(),
            "missing",
        ),
        (
            "missing level-1 tile",
            |l| fs::remove_file(l.dir.join("tile/1/000.p/1")).unwrap(),
            "missing",
        ),
        (
            "flipped root, re-signed by the log key",
            |l| {
                let mut cp = l.checkpoint();
                cp.root.0[3] ^= 1;
                l.resign(&cp);
            },
            "do not hash to the checkpoint's root",
        ),
        (
            "wrong origin",
            |l| {
                let mut cp = l.checkpoint();
                cp.origin = "example.org/elsewhere".into();
                l.resign(&cp);
            },
            "origin",
        ),
        (
            "100 MB checkpoint",
            |l| fs::write(l.dir.join("checkpoint"), vec![b'a'; 100 << 20]).unwrap(),
            "more than 1048576 bytes",
        ),
    ];
    for (what, corrupt, want) in cases {
        let mut l = Log::new("example.org/mon");
        l.add(300, "pub.key", "a");
        corrupt(&l);
        // The 100 MB case runs under a 2 GB address-space limit.
        let out = Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -v 2000000; exec "$@""#)
            .arg("sh")
            .arg(BT_LOG)
            .args([
                "monitor",
                &format!("file://{}", l.dir.display()),
                "--key",
                &l.vkey,
                "--state",
                l.state().to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains("FAULT") && err.contains(want), "{what}: {err}");
        assert!(
            !l.state().join("monitor").exists()
                || fs::read_dir(l.state().join("monitor"))
                    .unwrap()
                    .flatten()
                    .all(|d| !d.path().join("checkpoint").exists()),
            "{what}: state advanced"
        );
    }
}

#[test]
fn fork_and_rollback_after_seeing_the_original() {
    let mut l = Log::new("example.org/mon");
    l.add(10, "pub.key", "a");
    let saved_10 = fs::read(l.dir.join("checkpoint")).unwrap();
    let backup = l.tmp.path().join("backup-10");
    copy_dir(&l.dir, &backup);
    l.add(5, "pub.key", "a");
    assert_eq!(l.monitor(&[]).0, 0);

    // Rollback to size 10: consistent, but still a fault for a monitor.
    fs::write(l.dir.join("checkpoint"), &saved_10).unwrap();
    let (code, _, err) = l.monitor(&[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("rollback") && err.contains("is a prefix"),
        "{err}"
    );
    assert!(err.contains("evidence"), "{err}");

    // A fork: the same key signs another tree of size 15.
    let mut f = Log {
        tmp: tempfile::tempdir().unwrap(),
        dir: PathBuf::new(),
        vkey: l.vkey.clone(),
        count: 10,
    };
    f.dir = f.tmp.path().join("log");
    copy_dir(&backup, &f.dir);
    fs::copy(l.tmp.path().join("log.key"), f.tmp.path().join("log.key")).unwrap();
    fs::copy(l.tmp.path().join("pub.key"), f.tmp.path().join("pub.key")).unwrap();
    rewrite_key_path(&f.dir, &f.tmp.path().join("log.key"));
    f.add(5, "pub.key", "forked");
    fs::remove_dir_all(&l.dir).unwrap();
    copy_dir(&f.dir, &l.dir);
    let (code, _, err) = l.monitor(&[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("split view"), "{err}");
    assert!(
        err.contains("checkpoint saved by an earlier pass")
            && err.matches("example.org/mon\n15\n").count() == 2,
        "both notes printed: {err}"
    );
    let dir = fs::read_dir(l.state().join("monitor"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let evidence: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("evidence"))
        .collect();
    assert!(evidence.len() >= 2);
    // Growing the fork further is inconsistent with what was saved.
    f.add(3, "pub.key", "forked");
    fs::remove_dir_all(&l.dir).unwrap();
    copy_dir(&f.dir, &l.dir);
    let (code, _, err) = l.monitor(&[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a prefix"), "{err}");
}

fn rewrite_key_path(dir: &Path, key: &Path) {
    let p = dir.join(".bt-log/config.toml");
    let text = fs::read_to_string(&p).unwrap();
    let out: String = text
        .lines()
        .map(|l| {
            if l.starts_with("key = ") {
                format!("key = {:?}\n", key.to_str().unwrap())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(p, out).unwrap();
}

#[test]
fn alerts_for_new_publisher_and_rewritten_release() {
    let mut l = Log::new("example.org/mon");
    l.add(5, "pub.key", "a");
    assert_eq!(l.monitor(&[]).0, 0);
    l.add(1, "other-pub.key", "b");
    let (code, _, err) = l.monitor(&["--json"]);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("ALERT") && err.contains("not published by before"),
        "{err}"
    );
    // Same name, version and platform as entry 0, other bytes.
    let files = l.tmp.path().join("files");
    fs::write(files.join("again"), "different bytes\n").unwrap();
    let (code, _, err) = bt_log(&[
        "add",
        l.dir.to_str().unwrap(),
        files.join("again").to_str().unwrap(),
        "--name",
        "example.org/tool0",
        "--version",
        "1.0",
        "--publisher-key",
        l.tmp.path().join("pub.key").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, stdout, err) = l.monitor(&["--json"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("logged before with another hash"), "{err}");
    let v: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(v["alerts"].as_array().unwrap().len(), 1);
}

fn summary(err: &str) -> (u64, u64) {
    let s = err
        .lines()
        .find(|l| l.contains("verified at size"))
        .unwrap();
    let num = |after: &str| -> u64 {
        let at = s.find(after).unwrap();
        s[..at]
            .trim_end()
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (num(" tiles"), num(" bundles"))
}

#[test]
fn second_pass_reads_only_new_tiles() {
    let mut l = Log::new("example.org/mon");
    l.add(10_000, "pub.key", "a");
    let (code, stdout, err) = l.monitor(&[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(stdout.lines().count(), 10_000);
    assert_eq!(summary(&err), (41, 40), "{err}"); // 40 level-0 tiles + 1 level-1, 40 bundles
    l.add(1000, "pub.key", "a");
    // Over HTTP this time, counting what is requested.
    let server = common::spawn_server(&["serve", l.dir.to_str().unwrap()]);
    let (code, stdout, err) = monitor_url(&server.addr, &l.vkey, &l.state(), &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(stdout.lines().count(), 1000);
    // Bundles 39..=42 and their tiles, and the level-1 tile.
    assert_eq!(summary(&err), (5, 4), "{err}");
    let (code, stdout, err) = monitor_url(&server.addr, &l.vkey, &l.state(), &[]);
    assert_eq!((code, stdout.len(), summary(&err)), (0, 0, (0, 0)), "{err}");
}

#[test]
fn witnesses_and_policy_are_enforced() {
    let mut l = Log::new("example.org/mon");
    l.add(3, "pub.key", "a");
    let wk = keygen(l.tmp.path(), "w.example", "w.key");
    let (code, _, err) = l.monitor(&["--witness", &wk]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no valid cosignature from witness w.example"),
        "{err}"
    );
    let policy = l.tmp.path().join("p.policy");
    fs::write(
        &policy,
        format!("log {}\nwitness w {wk}\nquorum w\n", l.vkey),
    )
    .unwrap();
    let (code, _, err) = l.monitor(&["--policy", policy.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("quorum"), "{err}");
}

#[test]
fn huge_checkpoint_over_http_is_refused_unread() {
    let mut l = Log::new("example.org/mon");
    l.add(3, "pub.key", "a");
    fs::write(l.dir.join("checkpoint"), vec![b'a'; 100 << 20]).unwrap();
    let server = common::spawn_server(&["serve", l.dir.to_str().unwrap()]);
    let (code, _, err) = monitor_url(&server.addr, &l.vkey, &l.state(), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("more than 1048576 bytes"), "{err}");
}

#[test]
fn rebuilder_attestations_are_shown_and_a_mismatch_is_an_alert() {
    let mut l = Log::new("example.org/mon");
    l.add(1, "pub.key", "a");
    let t = l.tmp.path();
    let r1 = common::keygen(t, "r1.example", "r1.key");
    let r2 = common::keygen(t, "r2.example", "r2.key");
    fs::write(t.join("files/other"), "rebuilt to other bytes\n").unwrap();
    for (file, key) in [("files/0", "r1.key"), ("files/other", "r2.key")] {
        let (code, _, err) = bt_log(&[
            "add",
            l.dir.to_str().unwrap(),
            t.join(file).to_str().unwrap(),
            "--name",
            "example.org/tool0",
            "--version",
            "1.0",
            "--publisher-key",
            t.join(key).to_str().unwrap(),
            "--source-repo",
            "https://example.org/tool.git",
            "--source-rev",
            "v1.0",
        ]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, err) = l.monitor(&[
        "--json",
        "--rebuilder",
        &format!("r1={r1}"),
        "--rebuilder",
        &format!("r2={r2}"),
    ]);
    assert_eq!(code, 4, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].get("attestation").is_none());
    assert_eq!(lines[1]["attestation"]["rebuilder"], "r1");
    assert_eq!(lines[1]["attestation"]["matches_release"], true);
    assert_eq!(lines[1]["source"]["rev"], "v1.0");
    assert_eq!(lines[2]["attestation"]["matches_release"], false);
    assert!(
        err.contains("rebuilder r2 logged example.org/tool0 1.0"),
        "{err}"
    );
    // A rebuilder is not "a new publisher of the name".
    assert!(!err.contains("not published by before"), "{err}");
}
