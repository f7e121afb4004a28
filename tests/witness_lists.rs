//! `bt-log witness serve` on the public witness network's log lists
//! (`logs/v0`): the real lists load; a list is read again on SIGHUP and
//! periodically with no restart and no request in flight failing; each
//! log's `qpd` holds without slowing the others; a malformed list is
//! refused by line and the one before stays in force; a log that leaves
//! the lists keeps its state; and the monitoring view it serves is what
//! bt-exec's gossip imports.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bt_exec::note::VerifierKey;
use bt_exec::tlog::SignedCheckpoint;
use common::signing_log::{tree, Log};
use common::{Proc, BT_LOG};
use sha2::{Digest, Sha256};

/// A witness process, its stderr collected line by line.
struct Witness {
    proc: Proc,
    said: Arc<Mutex<Vec<String>>>,
    vkey: VerifierKey,
    _tmp: tempfile::TempDir,
}

/// A witness's key, made before it runs.
fn witness_key() -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let vkey = common::keygen(tmp.path(), "witness.example/w", "w.key");
    (tmp, vkey)
}

/// Its stderr until it listens, or the whole of it when it exits first.
fn start(lists: &[&Path], extra: &[&str]) -> Result<Witness, String> {
    start_with(witness_key(), "127.0.0.1:0", lists, extra)
}

fn start_with(
    (tmp, vkey): (tempfile::TempDir, String),
    listen: &str,
    lists: &[&Path],
    extra: &[&str],
) -> Result<Witness, String> {
    let mut c = Command::new(BT_LOG);
    c.args(["witness", "serve", "--listen", listen, "--key"])
        .arg(tmp.path().join("w.key"))
        .arg("--state")
        .arg(tmp.path().join("state"));
    for l in lists {
        c.arg("--log-list").arg(l);
    }
    let mut child = c
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let said = Arc::new(Mutex::new(Vec::new()));
    let addr = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.wait();
            return Err(said.lock().unwrap().join("\n"));
        };
        said.lock().unwrap().push(line.clone());
        if let Some(at) = line.find("http://") {
            break line[at..].trim().to_string();
        }
    };
    let keep = Arc::clone(&said);
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            keep.lock().unwrap().push(l);
        }
    });
    Ok(Witness {
        proc: Proc { child, addr },
        said,
        vkey: VerifierKey::parse_witness(&vkey).unwrap(),
        _tmp: tmp,
    })
}

impl Witness {
    fn post(&self, body: &[u8]) -> (u16, String, Vec<u8>) {
        common::http(&self.proc.addr, "POST", "/add-checkpoint", &[], body)
    }

    /// Sends SIGHUP and waits until it says it read the lists (`n` times in all).
    fn hup(&self, n: usize) {
        let pid = nix::unistd::Pid::from_raw(self.proc.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
        assert!(self.said_within(Duration::from_secs(10), |s| {
            s.iter().filter(|l| l.contains("read again")).count() >= n
        }));
    }

    fn said_within(&self, t: Duration, f: impl Fn(&[String]) -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < t {
            if f(&self.said.lock().unwrap()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn said(&self) -> String {
        self.said.lock().unwrap().join("\n")
    }
}

/// A `logs/v0` list of `logs` with their rates.
fn list(logs: &[(&Log, f64)]) -> String {
    let mut s = String::from("# written by the test\nlogs/v0\n\n");
    for (l, qpd) in logs {
        s.push_str(&format!(
            "vkey {}\nqpd {qpd}\ncontact test\n\n",
            l.vkey().encode()
        ));
    }
    s
}

fn write(p: &Path, text: &str) {
    let tmp = p.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, p).unwrap();
}

fn list_file(dir: &tempfile::TempDir, logs: &[(&Log, f64)]) -> PathBuf {
    let p = dir.path().join("log-list");
    write(&p, &list(logs));
    p
}

#[test]
fn the_real_lists_load_beside_one_written_here() {
    let Some(v) = common::vectors("the_real_lists_load_beside_one_written_here") else {
        return;
    };
    let net = v.join("witness-network");
    let dir = tempfile::tempdir().unwrap();
    let a = Log::new("example.org/a");
    let own = list_file(&dir, &[(&a, 86400.0)]);
    let w = start(
        &[
            &net.join("testing-log-list.1"),
            &net.join("staging-log-list-10qps-4klogs.1"),
            &own,
        ],
        &[],
    )
    .unwrap();
    // 11 distinct logs in the two real lists (two are in both), and ours.
    assert!(w.said().contains("witness of 12 logs"), "{}", w.said());
    let t = tree(3, "a");
    assert_eq!(w.post(&a.body(&t, 0, 3)).0, 200);
    // A listed log's origin signed by another key: known, so 403; an
    // origin no list names: 404.
    let impostor = Log::new("log2025-alpha3.rekor.sigstage.dev");
    assert_eq!(w.post(&impostor.body(&t, 0, 3)).0, 403);
    assert_eq!(w.post(&Log::new("nobody.example").body(&t, 0, 3)).0, 404);
}

#[test]
fn lists_are_read_again_on_sighup_and_periodically_with_nothing_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        Log::new("example.org/a"),
        Log::new("example.org/b"),
        Log::new("example.org/c"),
    );
    let file = list_file(&dir, &[(&a, 1e9)]);
    let w = start(&[&file], &[]).unwrap();
    let t = tree(4, "t");
    assert_eq!(w.post(&a.body(&t, 0, 4)).0, 200);
    // Requests of log a all along, from another thread.
    let stop = Arc::new(AtomicBool::new(false));
    let hammer = {
        let (addr, body, stop) = (w.proc.addr.clone(), a.body(&t, 4, 4), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut codes = vec![];
            while !stop.load(Ordering::Relaxed) {
                codes.push(common::http(&addr, "POST", "/add-checkpoint", &[], &body).0);
            }
            codes
        })
    };
    assert_eq!(w.post(&b.body(&t, 0, 4)).0, 404, "b is not listed yet");
    write(&file, &list(&[(&a, 1e9), (&b, 1e9)]));
    w.hup(1);
    assert!(w.said().contains("2 logs (1 added, 0 no longer listed)"));
    assert_eq!(w.post(&b.body(&t, 0, 4)).0, 200, "{}", w.said());
    for n in 2..5 {
        w.hup(n);
    }
    stop.store(true, Ordering::Relaxed);
    let codes = hammer.join().unwrap();
    assert!(codes.len() > 5, "{codes:?}");
    assert!(codes.iter().all(|&c| c == 200), "{codes:?}");
    drop(w);

    // Periodically: c is cosigned within a few intervals of being listed.
    let w = start(&[&file], &["--log-list-interval", "1s"]).unwrap();
    assert_eq!(w.post(&c.body(&t, 0, 4)).0, 404);
    write(&file, &list(&[(&a, 1e9), (&c, 1e9)]));
    let start = Instant::now();
    while w.post(&c.body(&t, 0, 4)).0 != 200 {
        assert!(start.elapsed() < Duration::from_secs(15), "{}", w.said());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(w.post(&b.body(&t, 0, 4)).0, 404, "b left the list");
}

#[test]
fn a_log_over_its_rate_gets_429_while_another_is_cosigned() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Log::new("example.org/a"), Log::new("example.org/b"));
    let d = Log::new("example.org/default");
    let file = list_file(&dir, &[(&a, 1.0), (&b, 86400.0)]);
    let w = start(
        &[&file],
        &["--log", &d.vkey().encode(), "--default-qpd", "2"],
    )
    .unwrap();
    let t = tree(6, "t");
    assert_eq!(w.post(&a.body(&t, 0, 2)).0, 200);
    let (status, head, body) = w.post(&a.body(&t, 2, 4));
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&body));
    let head = head.to_lowercase();
    let retry = head
        .lines()
        .find_map(|l| l.strip_prefix("retry-after: "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .expect("Retry-After");
    assert!((86_000..=86_400).contains(&retry), "{retry}");
    for size in 1..=6 {
        assert_eq!(w.post(&b.body(&t, size - 1, size)).0, 200, "b at {size}");
    }
    // A --log log at --default-qpd: one at once.
    assert_eq!(w.post(&d.body(&t, 0, 2)).0, 200);
    assert_eq!(w.post(&d.body(&t, 2, 3)).0, 429);
    // Requests not signed by the log's key do not use up its rate.
    let impostor = Log {
        key: bt_exec::note::SecretKey::generate("example.org/b").unwrap(),
        origin: "example.org/b".into(),
    };
    for _ in 0..200 {
        assert_eq!(w.post(&impostor.body(&t, 6, 6)).0, 403);
    }
    assert_eq!(w.post(&b.body(&t, 6, 6)).0, 200);
}

#[test]
fn a_malformed_list_is_refused_by_line_and_the_one_before_stays() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Log::new("example.org/a"), Log::new("example.org/b"));
    let good = list(&[(&a, 1e9)]);
    let file = list_file(&dir, &[(&a, 1e9)]);
    let bv = b.vkey().encode();
    let bad: Vec<(String, &str)> = vec![
        (format!("vkey {bv}\nqpd 1\n"), "line 1:"),
        (format!("{good}vkey {}x\nqpd 1\n", bv), "line 8:"),
        (format!("{good}vkey {bv}\nqpd -5\n"), "line 9:"),
        (format!("{good}vkey {bv}\ncontact x\n"), "line 8:"),
    ];
    // At start, a malformed list stops the witness, saying where.
    write(&file, &bad[2].0);
    let err = start(&[&file], &[]).err().expect("refused at start");
    assert!(err.contains("line 9:"), "{err}");
    write(&file, &good);
    let w = start(&[&file], &[]).unwrap();
    let t = tree(2, "t");
    assert_eq!(w.post(&a.body(&t, 0, 2)).0, 200);
    for (n, (text, line)) in bad.iter().enumerate() {
        write(&file, text);
        w.hup(n + 1);
        let said = w.said();
        let last = said.lines().rev().find(|l| l.contains("stays in force"));
        assert!(last.is_some_and(|l| l.contains(line)), "{line}: {said}");
        assert_eq!(w.post(&a.body(&t, 2, 2)).0, 200, "a still listed");
        assert_eq!(w.post(&b.body(&t, 0, 2)).0, 404, "b never listed");
    }
}

#[test]
fn a_log_that_left_keeps_its_state_and_its_fork_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Log::new("example.org/a"), Log::new("example.org/b"));
    let file = list_file(&dir, &[(&a, 1e9), (&b, 1e9)]);
    let w = start(&[&file], &[]).unwrap();
    let (t, fork) = (tree(8, "t"), tree(8, "fork"));
    assert_eq!(w.post(&a.body(&t, 0, 5)).0, 200);
    // Dropped by a list written without blank lines, as the network's own
    // validator allows: still read, and a is dropped.
    write(&file, &list(&[(&b, 1e9)]).replace("\n\n", "\n"));
    w.hup(1);
    assert!(w.said().contains("1 no longer listed"), "{}", w.said());
    assert_eq!(w.post(&a.body(&t, 5, 5)).0, 404, "a left the list");
    // Back, under its old key or a new one: held to size 5 and its root.
    let a2 = Log {
        key: bt_exec::note::SecretKey::generate("example.org/a").unwrap(),
        origin: "example.org/a".into(),
    };
    for (n, log) in [(2, &a), (3, &a2)] {
        write(&file, &list(&[(log, 1e9), (&b, 1e9)]));
        w.hup(n);
        assert_eq!(w.post(&log.body(&fork, 5, 5)).0, 422, "a fork at 5");
        assert_eq!(w.post(&log.body(&fork, 5, 8)).0, 422, "a fork grown");
        let (status, _, body) = w.post(&log.body(&fork, 0, 3));
        assert_eq!((status, body.as_slice()), (409, &b"5\n"[..]));
    }
    assert!(w.said().contains("example.org/a: key "), "{}", w.said());
    assert!(w.said().contains(" replaced by "), "{}", w.said());
    assert_eq!(w.post(&a2.body(&t, 5, 8)).0, 200, "the real tree grows on");
}

/// `GET /monitor/<sha256 of the origin>/checkpoint`: the latest checkpoint
/// cosigned, with the log's signature and the witness's cosignature; what
/// bt-exec's gossip imports, and then holds the log to.
#[test]
fn the_monitoring_view_is_what_gossip_imports() {
    let dir = tempfile::tempdir().unwrap();
    let a = Log::new("example.org/a");
    let file = list_file(&dir, &[(&a, 1e9)]);
    let w = start(&[&file], &[]).unwrap();
    let path = |o: &str| format!("/monitor/{}/checkpoint", hex::encode(Sha256::digest(o)));
    let get = |p: &str| common::http(&w.proc.addr, "GET", p, &[], b"");
    assert_eq!(get(&path("example.org/a")).0, 404, "nothing cosigned yet");
    let (t, fork) = (tree(6, "t"), tree(6, "fork"));
    assert_eq!(w.post(&a.body(&t, 0, 6)).0, 200);
    let (status, _, note) = get(&path("example.org/a"));
    assert_eq!(status, 200);
    let sc = SignedCheckpoint::verify(
        &note,
        "example.org/a",
        &a.vkey(),
        std::slice::from_ref(&w.vkey),
    )
    .unwrap();
    assert_eq!((sc.checkpoint.size, sc.cosignatures.len()), (6, 1));
    assert_eq!(note, sc.verified_note, "no line the witness did not check");
    for p in [path("example.org/b"), "/monitor/XYZ/checkpoint".into()] {
        assert_eq!(get(&p).0, 404, "{p}");
    }

    let view = dir.path().join("from-witness");
    std::fs::write(&view, &note).unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "trust = \"\"\"\nlog {} http://127.0.0.1:9/\nwitness w {}\nquorum w\n\"\"\"\n",
            a.vkey().encode(),
            w.vkey.encode()
        ),
    )
    .unwrap();
    let import = |f: &Path| {
        let out = Command::new(common::world::BT_EXEC)
            .args(["gossip", "import", "--offline", "--policy"])
            .arg(&policy)
            .arg(f)
            .env("BT_EXEC_CACHE_DIR", dir.path().join("cache"))
            .env("BT_EXEC_STATE_DIR", dir.path().join("state"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), err)
    };
    let (code, err) = import(&view);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("newer consistent checkpoint imported"),
        "{err}"
    );
    // A fork of what the witness cosigned, signed by the log: a split view.
    let forked = dir.path().join("forked");
    std::fs::write(&forked, a.note(&fork, 6).1).unwrap();
    let (code, err) = import(&forked);
    assert_eq!(code, Some(123), "{err}");
}

/// A list served over HTTP by a server that is not ours: read at start and
/// again on SIGHUP; one that goes missing keeps the list read before.
#[test]
fn a_list_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Log::new("example.org/a"), Log::new("example.org/b"));
    let file = list_file(&dir, &[(&a, 1e9)]);
    let (_server, url) = common::python_http_server(dir.path());
    let url = format!("{url}/log-list");
    let w = start(&[Path::new(&url)], &[]).unwrap();
    let t = tree(2, "t");
    assert_eq!(w.post(&a.body(&t, 0, 2)).0, 200);
    write(&file, &list(&[(&a, 1e9), (&b, 1e9)]));
    w.hup(1);
    assert_eq!(w.post(&b.body(&t, 0, 2)).0, 200, "{}", w.said());
    std::fs::remove_file(&file).unwrap();
    w.hup(2);
    assert!(w.said().contains("HTTP status 404"), "{}", w.said());
    assert_eq!(
        w.post(&b.body(&t, 2, 2)).0,
        200,
        "the list read before stays"
    );
}

/// `witness info`: the cosignature/v1 vkey of the witness's key and its URLs.
#[test]
fn witness_info_says_what_log_operators_need() {
    let dir = tempfile::tempdir().unwrap();
    let pubkey = common::keygen(dir.path(), "witness.example/w", "w.key");
    let key = dir.path().join("w.key");
    let (code, out, err) = common::bt_log(&[
        "witness",
        "info",
        "--key",
        key.to_str().unwrap(),
        "--url",
        "https://w.example/",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let vkey = VerifierKey::parse(lines[0].strip_prefix("vkey ").unwrap()).unwrap();
    assert_eq!(vkey.alg, 0x04);
    assert_eq!(vkey, VerifierKey::parse_witness(&pubkey).unwrap());
    assert_eq!(
        &lines[1..],
        [
            "add-checkpoint https://w.example/add-checkpoint",
            "monitoring https://w.example/monitor"
        ]
    );
}

/// The log side: a witness configured with the rate it grants
/// (`init --witness-qpd`) is asked no more often; the checkpoint in between
/// is published without its cosignature (exit 3, saying why), and
/// `bt-log cosign` has a witness that was down cosign the same tree later.
#[test]
fn a_log_keeps_to_the_rate_its_witnesses_grant() {
    let dir = tempfile::tempdir().unwrap();
    let lvkey = common::keygen(dir.path(), "example.org/ratelog", "log.key");
    let pubk = dir.path().join("pub.key");
    common::keygen(dir.path(), "example.org", "pub.key");
    let w1 = start(&[], &["--log", &lvkey, "--default-qpd", "1000000"]).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (k2tmp, k2) = witness_key();
    let w2_url = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("log");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (code, _, err) = common::bt_log(&[
        "init",
        &s(&log),
        "--origin",
        "example.org/ratelog",
        "--key",
        &s(&dir.path().join("log.key")),
        "--witness",
        &format!("{}={}", w1.proc.addr, w1.vkey.encode()),
        "--witness-qpd",
        &format!("{}=1", w1.proc.addr),
        "--witness",
        &format!("{w2_url}={k2}"),
    ]);
    assert_eq!(code, 0, "{err}");
    let add = |n: u32| {
        let f = dir.path().join(format!("file{n}"));
        std::fs::write(&f, format!("release {n}")).unwrap();
        common::bt_log(&[
            "add",
            &s(&log),
            &s(&f),
            "--name",
            "example.org/x",
            "--version",
            &format!("1.{n}"),
            "--publisher-key",
            &s(&pubk),
        ])
    };
    let (code, _, err) = add(1);
    assert_eq!(code, 3, "w2 is down: {err}");
    assert!(err.contains(&w2_url), "{err}");
    let (code, _, err) = add(2);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("not asked: over the rate it grants this log (1 a day)"),
        "{err}"
    );
    // w1 saw size 1 only; the checkpoint of size 2 carries no cosignature.
    let view = format!(
        "/monitor/{}/checkpoint",
        hex::encode(Sha256::digest("example.org/ratelog"))
    );
    let (_, _, note) = common::http(&w1.proc.addr, "GET", &view, &[], b"");
    assert!(
        String::from_utf8_lossy(&note).contains("\n1\n"),
        "{}",
        String::from_utf8_lossy(&note)
    );
    let w2key = VerifierKey::parse_witness(&k2).unwrap();
    let lkey = VerifierKey::parse_log(&lvkey).unwrap();
    let cosigs = || {
        let note = std::fs::read(log.join("checkpoint")).unwrap();
        let keys = [w1.vkey.clone(), w2key.clone()];
        let sc = SignedCheckpoint::verify(&note, "example.org/ratelog", &lkey, &keys).unwrap();
        (sc.checkpoint.size, sc.cosignatures.len())
    };
    assert_eq!(cosigs(), (2, 0));
    // w2 comes up: cosign asks it (w1 is still over its rate).
    let _w2 = start_with(
        (k2tmp, k2.clone()),
        &format!("127.0.0.1:{port}"),
        &[],
        &["--log", &lvkey],
    )
    .unwrap();
    let (code, _, err) = common::bt_log(&["cosign", &s(&log)]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("1 cosigned now"), "{err}");
    assert!(err.contains("not asked"), "{err}");
    assert_eq!(cosigs(), (2, 1));
    // cosign kept w1's bucket: the next add still does not ask it.
    let (code, _, err) = add(3);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("not asked: over the rate"), "{err}");
    assert_eq!(cosigs(), (3, 1), "w2 cosigned the new tree");
}

/// Anyone can replay a log's published checkpoint: replays (with or
/// without a bogus proof) neither use up the log's rate nor write
/// evidence; a real fork, signed by the log, is kept once per size however
/// often, and in however many versions, it is sent.
#[test]
fn replays_spend_no_rate_and_leave_no_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let a = Log::new("example.org/a");
    // 14400 a day: a burst of 10.
    let file = list_file(&dir, &[(&a, 14400.0)]);
    let w = start(&[&file], &[]).unwrap();
    let (t, fork) = (tree(9, "t"), tree(9, "fork"));
    assert_eq!(w.post(&a.body(&t, 0, 5)).0, 200);
    let view = format!(
        "/monitor/{}/checkpoint",
        hex::encode(Sha256::digest("example.org/a"))
    );
    let (_, _, published) = common::http(&w.proc.addr, "GET", &view, &[], b"");
    let replay = bt_exec::witness::client::request_body(5, &[], &published);
    let junk =
        bt_exec::witness::client::request_body(5, &[bt_exec::tlog::Hash([7; 32])], &published);
    for _ in 0..30 {
        assert_eq!(w.post(&replay).0, 200);
        assert_eq!(w.post(&junk).0, 400);
        assert_eq!(w.post(&a.body(&t, 0, 5)).0, 409);
    }
    for size in 6..=9 {
        assert_eq!(
            w.post(&a.body(&t, size - 1, size)).0,
            200,
            "the log at {size}"
        );
    }
    let evidence = w._tmp.path().join("state/evidence");
    let count = || std::fs::read_dir(&evidence).map_or(0, |d| d.count());
    assert_eq!(count(), 0);
    for i in 0..5 {
        assert_eq!(w.post(&a.body(&fork, 9, 9)).0, 422);
        let another = tree(9, &format!("fork{i}"));
        assert_eq!(w.post(&a.body(&another, 9, 9)).0, 422);
    }
    assert_eq!(count(), 1, "one fork kept per log and size");
}
