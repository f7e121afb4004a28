//! `bt-log publish` against two logs run by separate processes, each with
//! its own key and its own witness (separate processes too): proofs from
//! both beside the program, read by bt-exec (`require.logs = 2`, offline
//! with the log servers stopped) and by the independent implementation,
//! which agree on every verdict; a re-run after a log was down; a log that
//! answers 202 and is cosigned later; a `--cas-url` serving other bytes;
//! a log that refuses connections, one that never answers and one whose
//! witness never cosigns, each named with what happened; a refresh of the
//! proofs once the logs have grown.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::accepting::{free_port, published_size, serve};
use common::world::{chmod_x, BT_EXEC};
use common::{bt_log, keygen, spawn_server, Proc};

struct Log {
    dir: PathBuf,
    vkey: String,
    url: String,
    listen: String,
    admission: PathBuf,
    server: Option<Proc>,
    _witness: Proc,
}

impl Log {
    fn start(&mut self) {
        self.server = Some(serve(
            &self.dir,
            &self.admission,
            &self.listen,
            &["--checkpoint-interval", "200ms"],
        ));
    }
    fn stop(&mut self) {
        self.server = None;
    }
    fn arg(&self) -> String {
        format!("{}={}", self.url, self.vkey)
    }
}

struct Net {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    logs: Vec<Log>,
    witness_vkeys: Vec<String>,
    prog: PathBuf,
}

/// Two logs, each with its own witness, both accepting the publisher.
/// `witness_url(i, real)` may put something in front of log i's witness.
fn net(witness_url: impl Fn(usize, &str) -> String) -> Net {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let publisher = keygen(&root, "example.org", "pub.key");
    let mut logs = Vec::new();
    let mut witness_vkeys = Vec::new();
    for i in 0..2 {
        let origin = format!("example.org/log{i}");
        let vkey = keygen(&root, &origin, &format!("log{i}.key"));
        let wvkey = keygen(&root, &format!("w{i}.example"), &format!("w{i}.key"));
        let w = spawn_server(&[
            "witness",
            "serve",
            "--key",
            root.join(format!("w{i}.key")).to_str().unwrap(),
            "--state",
            root.join(format!("wstate{i}")).to_str().unwrap(),
            "--log",
            &vkey,
        ]);
        let dir = root.join(format!("log{i}"));
        let witness = format!("{}={wvkey}", witness_url(i, &w.addr));
        let (c, _, e) = bt_log(&[
            "init",
            dir.to_str().unwrap(),
            "--origin",
            &origin,
            "--key",
            root.join(format!("log{i}.key")).to_str().unwrap(),
            "--witness",
            &witness,
        ]);
        assert_eq!(c, 0, "{e}");
        let admission = root.join(format!("admit{i}.toml"));
        fs::write(
            &admission,
            format!("[[publisher]]\nkey = \"{publisher}\"\nnames = [\"example.org/*\"]\n"),
        )
        .unwrap();
        let listen = format!("127.0.0.1:{}", free_port());
        let mut log = Log {
            dir,
            vkey,
            url: format!("http://{listen}"),
            listen,
            admission,
            server: None,
            _witness: w,
        };
        log.start();
        logs.push(log);
        witness_vkeys.push(wvkey);
    }
    let prog = root.join("bin/prog");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::write(&prog, "#!/bin/sh\necho \"ran:$*\"\n").unwrap();
    chmod_x(&prog);
    // bt-exec's policy: both logs, each checkpoint cosigned by one of the
    // two witnesses (each log has its own).
    let mut trust = String::new();
    for l in &logs {
        trust.push_str(&format!("log {} {}\n", l.vkey, l.url));
    }
    for (i, v) in witness_vkeys.iter().enumerate() {
        trust.push_str(&format!("witness w{i} {v}\n"));
    }
    trust.push_str("group one 1 w0 w1\nquorum one\n");
    fs::write(
        root.join("policy.toml"),
        format!("trust = \"\"\"\n{trust}\"\"\"\n\n[[publisher]]\nnames = [\"example.org/*\"]\nkey = \"{publisher}\"\n\n[require]\nlogs = 2\nmax_age = \"1h\"\n"),
    )
    .unwrap();
    Net {
        _tmp: tmp,
        root,
        logs,
        witness_vkeys,
        prog,
    }
}

impl Net {
    fn publish(&self, file: &Path, version: &str, extra: &[&str]) -> (i32, String, String) {
        let logs: Vec<String> = self.logs.iter().map(Log::arg).collect();
        self.publish_to(file, version, &logs, extra)
    }

    /// `bt-log publish` to the logs given as `URL=VKEY`.
    fn publish_to(
        &self,
        file: &Path,
        version: &str,
        logs: &[String],
        extra: &[&str],
    ) -> (i32, String, String) {
        let mut args = vec![
            "publish".to_string(),
            file.display().to_string(),
            "--name".into(),
            "example.org/prog".into(),
            "--version".into(),
            version.into(),
            "--publisher-key".into(),
            self.root.join("pub.key").display().to_string(),
            "--policy".into(),
            self.root.join("policy.toml").display().to_string(),
        ];
        for l in logs {
            args.extend(["--log".to_string(), l.clone()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        bt_log(&args)
    }

    /// bt-exec on `prog` with the state directory `state` (under the
    /// root): exit status and stderr.
    fn exec(&self, prog: &Path, state: &str, extra: &[&str]) -> (i32, String) {
        let out = Command::new(BT_EXEC)
            .env("BT_EXEC_CACHE_DIR", self.root.join("cache"))
            .env("BT_EXEC_STATE_DIR", self.root.join(state))
            .env("BT_EXEC_POLICY", self.root.join("policy.toml"))
            .args(extra)
            .arg(prog)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!err.contains("panicked"), "{err}");
        (out.status.code().unwrap_or(-1), err)
    }

    fn proof_files(&self, prog: &Path) -> Vec<PathBuf> {
        let dir = bt_exec::fsutil::beside(prog, ".tlog-proofs");
        let mut v: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    }

    /// The independent implementation's verdict on one proof file (for the
    /// log whose vkey is given): proven or not.
    fn independent(&self, proof: &Path, prog: &Path, log: usize) -> bool {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/verify_proof.py");
        let out = Command::new("python3")
            .arg(script)
            .arg(proof)
            .arg(prog)
            .arg(&self.logs[log].vkey)
            .arg("1")
            .args(&self.witness_vkeys)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["ok"].as_bool().unwrap()
    }

    /// The proof file of log `i` beside `prog`.
    fn proof_of(&self, prog: &Path, i: usize) -> PathBuf {
        proof_for(prog, &self.logs[i].vkey)
    }
}

/// The proof file beside `prog` of the log whose key is `vkey`.
fn proof_for(prog: &Path, vkey: &str) -> PathBuf {
    let key = bt_exec::note::VerifierKey::parse_log(vkey).unwrap();
    let id = bt_exec::log_id::LogId::new(&key.name, &key);
    bt_exec::publish::proof_path(prog, &id)
}

#[test]
fn two_logs_proofs_beside_the_program_offline_and_independently() {
    if !common::python_interop("publish_two_logs") {
        return;
    }
    let mut n = net(|_, real| real.to_string());
    let prog = n.prog.clone();
    let (c, out, err) = n.publish(&prog, "1.0", &["--json"]);
    assert_eq!(c, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["verified"], 2, "{out}");
    assert_eq!(n.proof_files(&prog).len(), 2);
    assert!(bt_exec::fsutil::beside(&prog, ".bt-entry").is_file());
    // Online once: bt-exec saves both logs' checkpoints.
    let (c, err) = n.exec(&prog, "state", &[]);
    assert_eq!(c, 0, "{err}");
    // Another machine with those checkpoints saved and no proof of this
    // program cached (the state's proofs/ left out): only the files
    // beside the program can prove it.
    common::copy_dir(&n.root.join("state"), &n.root.join("fresh"));
    fs::remove_dir_all(n.root.join("fresh/proofs")).unwrap();
    let fresh = n.root.join("fresh-template");
    common::copy_dir(&n.root.join("fresh"), &fresh);
    let reset = || {
        let _ = fs::remove_dir_all(n.root.join("fresh"));
        common::copy_dir(&fresh, &n.root.join("fresh"));
    };
    // Both log servers stopped: offline, from the proofs alone.
    n.logs[0].stop();
    n.logs[1].stop();
    let (c, err) = n.exec(&prog, "fresh", &["--offline"]);
    assert_eq!(c, 0, "{err}");
    // Each proof file verifies independently too.
    for i in 0..2 {
        assert!(n.independent(&n.proof_of(&prog, i), &prog, i), "log {i}");
    }
    // Near-misses, each refused by bt-exec and by the independent verifier.
    let p1 = n.proof_of(&prog, 1);
    let good = fs::read(&p1).unwrap();
    // One proof missing: only one log proves it.
    reset();
    fs::remove_file(&p1).unwrap();
    let (c, err) = n.exec(&prog, "fresh", &["--offline"]);
    assert_ne!(c, 0, "ran with one proof: {err}");
    // One proof altered (a hash of the inclusion proof, or the root).
    reset();
    let text = String::from_utf8(good.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let hash_line = lines
        .iter()
        .position(|l| l.len() == 44 && l.ends_with('='))
        .unwrap();
    let mut altered: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    altered[hash_line] = format!("{}A=", &altered[hash_line][..42]);
    if altered[hash_line] == lines[hash_line] {
        altered[hash_line] = format!("{}B=", &altered[hash_line][..42]);
    }
    let mut bad = altered.join("\n");
    bad.push('\n');
    fs::write(&p1, &bad).unwrap();
    let (c, err) = n.exec(&prog, "fresh", &["--offline"]);
    assert_ne!(c, 0, "ran with an altered proof: {err}");
    assert!(!n.independent(&p1, &prog, 1));
    // A proof named for log 1 holding log 0's proof: refused for log 1.
    reset();
    fs::copy(n.proof_of(&prog, 0), &p1).unwrap();
    let (c, err) = n.exec(&prog, "fresh", &["--offline"]);
    assert_ne!(c, 0, "ran with log 0's proof under log 1's name: {err}");
    assert!(!n.independent(&p1, &prog, 1));
    reset();
    fs::write(&p1, &good).unwrap();
    let (c, err) = n.exec(&prog, "fresh", &["--offline"]);
    assert_eq!(c, 0, "{err}");
    // One byte of the program changed.
    reset();
    let body = fs::read(&prog).unwrap();
    let mut changed = body.clone();
    *changed.last_mut().unwrap() ^= 0x20;
    fs::write(&prog, &changed).unwrap();
    let (c, err) = n.exec(&prog, "fresh", &["--offline"]);
    assert_ne!(c, 0, "ran a changed program: {err}");
    for i in 0..2 {
        assert!(!n.independent(&n.proof_of(&prog, i), &prog, i), "log {i}");
    }
    fs::write(&prog, &body).unwrap();

    // The logs grow past the proofs' checkpoints (another release) and an
    // online run saves their newer checkpoints; offline, the proofs'
    // older checkpoints cannot be compared with them, and what the online
    // run verified decides.
    n.logs[0].start();
    n.logs[1].start();
    let other = n.root.join("bin/other");
    fs::write(&other, "#!/bin/sh\necho other\n").unwrap();
    chmod_x(&other);
    let (c, _, err) = n.publish(&other, "2.0", &[]);
    assert_eq!(c, 0, "{err}");
    let (c, err) = n.exec(&prog, "state", &[]);
    assert_eq!(c, 0, "{err}");
    n.logs[0].stop();
    n.logs[1].stop();
    let (c, err) = n.exec(&prog, "state", &["--offline"]);
    assert_eq!(c, 0, "{err}");
    // Without the kept entry, a re-run finds it in the proofs: nothing is
    // sent, no second entry in either log (both are down).
    fs::remove_file(bt_exec::fsutil::beside(&prog, ".bt-entry")).unwrap();
    let (c, _, err) = n.publish(&prog, "1.0", &[]);
    assert_eq!(c, 0, "{err}");
    assert!(err.contains("already proven at leaf 0"), "{err}");
    for l in &n.logs {
        assert_eq!(published_size(&l.dir), 2);
    }
    // Naming no witness requirement, or one log twice, is a usage error.
    let (c, _, err) = bt_log(&[
        "publish",
        prog.to_str().unwrap(),
        "--name",
        "example.org/prog",
        "--version",
        "1.0",
        "--publisher-key",
        n.root.join("pub.key").to_str().unwrap(),
        "--log",
        &n.logs[0].arg(),
    ]);
    assert_eq!(c, 2, "{err}");
    let twice = format!("{}/={}", n.logs[0].url, n.logs[0].vkey);
    let (c, _, err) = n.publish(&prog, "1.0", &["--log", &twice]);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("twice"), "{err}");
}

#[test]
fn a_rerun_finishes_the_log_that_was_down_and_a_202_ends_in_a_proof() {
    // Log 1's witness sits behind a gate: until it opens, log 1 answers
    // 202 and publishes checkpoints no witness cosigned.
    let gate_dir = tempfile::tempdir().unwrap();
    let gate = gate_dir.path().join("open");
    let holders = std::sync::Mutex::new(Vec::new());
    let mut n = net(|i, real| {
        if i == 0 {
            return real.to_string();
        }
        let (p, url) = common::helper_server(&[
            "tests/interop/fake_witness.py",
            "hold",
            gate.to_str().unwrap(),
            real,
        ]);
        holders.lock().unwrap().push(p);
        url
    });
    let prog = n.prog.clone();
    // Log 1 down: log 0 proven, exit 5 naming log 1.
    n.logs[1].stop();
    let (c, _, err) = n.publish(&prog, "1.0", &["--wait", "3s"]);
    assert_eq!(c, 5, "{err}");
    assert!(err.contains("example.org/log1"), "{err}");
    assert!(n.proof_of(&prog, 0).is_file());
    assert!(!n.proof_of(&prog, 1).exists());
    let size0 = published_size(&n.logs[0].dir);
    // Log 1 back, its witness still held: a 202, then the gate opens
    // while the publisher polls the log's checkpoint and tiles.
    n.logs[1].start();
    let opener = {
        let gate = gate.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(12));
            fs::write(gate, b"").unwrap();
        })
    };
    let (c, _, err) = n.publish(&prog, "1.0", &["--wait", "60s"]);
    opener.join().unwrap();
    assert_eq!(c, 0, "{err}");
    assert!(err.contains("example.org/log0 (http"), "{err}");
    assert!(err.contains("already proven at leaf 0"), "{err}");
    assert!(
        err.contains("accepted at index 0; waiting for a cosigned checkpoint"),
        "{err}"
    );
    assert!(err.contains("proven at leaf 0 of 1"), "{err}");
    // No second entry in log 0, one entry in log 1.
    assert_eq!(published_size(&n.logs[0].dir), size0);
    assert_eq!(published_size(&n.logs[1].dir), 1);
    assert!(n.proof_of(&prog, 1).is_file());
    drop(holders);
}

#[test]
fn a_cas_url_serving_other_bytes_stops_the_publish_before_anything_is_sent() {
    let n = net(|_, real| real.to_string());
    let cas = n.root.join("cas");
    fs::create_dir_all(cas.join("sha256")).unwrap();
    let body = fs::read(&n.prog).unwrap();
    let hexh = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&body))
    };
    fs::write(cas.join("sha256").join(&hexh), b"#!/bin/sh\necho other\n").unwrap();
    let (_py, url) = common::python_http_server(&cas);
    let (c, _, err) = n.publish(&n.prog, "1.0", &["--cas-url", &url]);
    assert_eq!(c, 1, "{err}");
    assert!(
        err.contains("serves other bytes") || err.contains("bytes"),
        "{err}"
    );
    for l in &n.logs {
        assert_eq!(published_size(&l.dir), 0, "an entry was sent");
    }
    // The right bytes: published, the entry naming the URL.
    fs::write(cas.join("sha256").join(&hexh), &body).unwrap();
    let (c, _, err) = n.publish(&n.prog, "1.0", &["--cas-url", &url]);
    assert_eq!(c, 0, "{err}");
}

/// Each log that gives no proof is named with what happened and what to
/// do: one whose port refuses connections (given up on after a short
/// retry, not waited for until `--wait`), one that takes the connection
/// and never answers, one whose witness never cosigns within `--wait`.
/// `--json` gives a proof path only for the log that gave a proof.
#[test]
fn each_log_without_a_proof_is_named_with_what_happened() {
    // Log 1's witness is held for the whole test: it never cosigns.
    let gate_dir = tempfile::tempdir().unwrap();
    let gate = gate_dir.path().join("never");
    let holders = std::sync::Mutex::new(Vec::new());
    let n = net(|i, real| {
        if i == 0 {
            return real.to_string();
        }
        let (p, url) = common::helper_server(&[
            "tests/interop/fake_witness.py",
            "hold",
            gate.to_str().unwrap(),
            real,
        ]);
        holders.lock().unwrap().push(p);
        url
    });
    // Two more logs: one at a port nothing listens on, one at a server
    // that reads the request and never answers.
    let down_vkey = keygen(&n.root, "example.org/down", "down.key");
    let down = format!("http://127.0.0.1:{}", free_port());
    let silent_vkey = keygen(&n.root, "example.org/silent", "silent.key");
    let (_silent, silent) = common::helper_server(&["tests/interop/bad_server.py", "silent"]);
    let good = n.logs[0].arg();

    // The log that is down is given up on: --wait 120s, and the command
    // returns well before (a generous bound; the retry takes about 2 s).
    let started = Instant::now();
    let (c, _, err) = n.publish_to(
        &n.prog,
        "1.0",
        &[good.clone(), format!("{down}={down_vkey}")],
        &["--wait", "120s"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "waited for the log that is down: {err}"
    );
    assert_eq!(c, 5, "{err}");
    assert!(
        err.contains(&format!(
            "bt-log: example.org/down ({down}): no verified proof: connection refused: nothing listens at {down}"
        )),
        "{err}"
    );
    assert!(
        err.contains("run the same command again once it is up"),
        "{err}"
    );
    assert!(n.proof_of(&n.prog, 0).is_file());
    assert!(!proof_for(&n.prog, &down_vkey).exists());

    // All four logs at once, with --json.
    let prog = n.root.join("bin/prog2");
    fs::write(&prog, "#!/bin/sh\necho two\n").unwrap();
    chmod_x(&prog);
    let (c, out, err) = n.publish_to(
        &prog,
        "2.0",
        &[
            good,
            format!("{down}={down_vkey}"),
            format!("{silent}={silent_vkey}"),
            n.logs[1].arg(),
        ],
        &["--wait", "15s", "--json"],
    );
    assert_eq!(c, 5, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["verified"], 1, "{out}");
    let log = |origin: &str| -> serde_json::Value {
        report["logs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["origin"] == origin)
            .unwrap_or_else(|| panic!("{origin} missing: {out}"))
            .clone()
    };
    let proven = log("example.org/log0");
    assert_eq!(proven["status"], "proven", "{out}");
    let path = proof_for(&prog, &n.logs[0].vkey);
    assert_eq!(proven["proof"], path.display().to_string(), "{out}");
    assert!(path.is_file());
    for (origin, kind) in [
        ("example.org/down", "connection_refused"),
        ("example.org/silent", "timed_out"),
        ("example.org/log1", "not_cosigned"),
    ] {
        let l = log(origin);
        assert_eq!(l["status"], "failed", "{origin}: {out}");
        assert_eq!(l["failure"], kind, "{origin}: {out}");
        assert!(l.get("proof").is_none(), "{origin} has a proof path: {out}");
    }
    assert_eq!(log("example.org/log1")["index"], 0, "{out}");
    assert_eq!(n.proof_files(&prog), vec![path]);
    // The same on stderr, in words.
    for said in [
        format!("example.org/down ({down}): no verified proof: connection refused"),
        format!(
            "example.org/silent ({silent}): no verified proof: timed out: {silent} took the connection but sent no answer within"
        ),
        format!(
            "example.org/log1 ({}): no verified proof: not cosigned in time: the entry is in the log at index 0, but no checkpoint covering it met the witness requirement (one: 1 of (w0, w1)) within --wait 15 s",
            n.logs[1].url
        ),
    ] {
        assert!(err.contains(&said), "{said:?} not in {err}");
    }
    drop(holders);
}

/// The refresh docs/PUBLISHING.md gives a publisher: once the logs have
/// grown, `bt-log publish` again on a copy of the file and its kept entry,
/// without the proofs, gives proofs of the same leaf against the newer
/// checkpoints, and no second entry in either log.
#[test]
fn a_refresh_on_a_copy_proves_the_same_leaf_against_the_grown_logs() {
    let n = net(|_, real| real.to_string());
    let (c, out, err) = n.publish(&n.prog, "1.0", &["--json"]);
    assert_eq!(c, 0, "{err}");
    let first: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(first["logs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["checkpoint_size"] == 1));
    // Another release grows both logs.
    let other = n.root.join("bin/other");
    fs::write(&other, "#!/bin/sh\necho other\n").unwrap();
    chmod_x(&other);
    let (c, _, err) = n.publish(&other, "2.0", &[]);
    assert_eq!(c, 0, "{err}");
    // A re-run beside the old proofs keeps them, whatever their age.
    let (c, _, err) = n.publish(&n.prog, "1.0", &[]);
    assert_eq!(c, 0, "{err}");
    assert!(err.contains("already proven at leaf 0"), "{err}");
    // On a copy with the kept entry and no proofs: new proofs.
    let work = n.root.join("refresh");
    fs::create_dir_all(&work).unwrap();
    let copy = work.join("prog");
    fs::copy(&n.prog, &copy).unwrap();
    fs::copy(
        bt_exec::fsutil::beside(&n.prog, ".bt-entry"),
        bt_exec::fsutil::beside(&copy, ".bt-entry"),
    )
    .unwrap();
    let (c, out, err) = n.publish(&copy, "1.0", &["--json"]);
    assert_eq!(c, 0, "{err}");
    let refreshed: serde_json::Value = serde_json::from_str(&out).unwrap();
    for (i, l) in refreshed["logs"].as_array().unwrap().iter().enumerate() {
        assert_eq!(l["status"], "proven", "{out}");
        assert_eq!(l["index"], 0, "{out}");
        assert_eq!(l["checkpoint_size"], 2, "{out}");
        assert_eq!(published_size(&n.logs[i].dir), 2, "a second entry");
    }
    // The new proofs prove the program where it is shipped.
    for i in 0..2 {
        fs::copy(n.proof_of(&copy, i), n.proof_of(&n.prog, i)).unwrap();
    }
    let (c, err) = n.exec(&n.prog, "state", &[]);
    assert_eq!(c, 0, "{err}");
}
