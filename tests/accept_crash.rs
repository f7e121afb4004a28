//! `bt-log serve --accept` under failure: `kill -9` at seeded random
//! moments while 50 clients submit (every acknowledged entry at its index,
//! every checkpoint a prefix of the next, checked by the independent
//! implementation; the witness, its own process, sees no fork and cosigns
//! the latest); `bt-log add` and the server never write at once; a
//! witness that is slow, down or answers 409 holds up no acknowledgement.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::accepting::{
    free_port, header, index_of, published_size, serve, stderr_of, submit, until, witness, Acc,
};
use common::try_http;

const OPEN: &str = "[[publisher]]\nkey = \"{pub}\"\nnames = [\"example.org/*\"]\nquota = 100000\n\n[limits]\naddress_quota = 1000000\n";

/// xorshift64*: the kill times come from a fixed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        lo + self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % (hi - lo)
    }
}

#[test]
fn kill_9_under_50_clients_loses_nothing_acknowledged() {
    if !common::python_interop("accept_kill_9") {
        return;
    }
    // The log's key first: the witness must know it.
    let tmp = tempfile::tempdir().unwrap();
    let acc = Acc::keys("example.org/crash");
    let log_vkey = acc.log_vkey.clone();
    let (wproc, warg, wvkey) = witness(tmp.path(), &log_vkey);
    acc.init(&[warg]);
    let adm = acc.admission("admit.toml", OPEN);
    let listen = format!("127.0.0.1:{}", free_port());
    let addr = format!("http://{listen}");
    let start = || serve(&acc.log, &adm, &listen, &["--checkpoint-interval", "200ms"]);
    let mut server = start();

    // Each client submits new entries, one at a time, until told to stop;
    // an entry not acknowledged (the server killed) is sent again until it
    // is — the log gives a durable one the index it already has.
    const CLIENTS: usize = 50;
    let acked: Arc<Mutex<BTreeMap<u64, Vec<u8>>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (acked, addr, done) = (acked.clone(), addr.clone(), done.clone());
            let keyfile = acc.root.join("pub.key");
            std::thread::spawn(move || {
                let key = bt_exec::log::load_secret_key(&keyfile).unwrap();
                let mut i = 0;
                while !done.load(Ordering::Relaxed) {
                    let e = common::accepting::entry(&key, "example.org/tool", &format!("{c}.{i}"));
                    i += 1;
                    loop {
                        match try_http(&addr, "POST", "/bt/add-entry", &[], &e) {
                            Some((s @ (200 | 202), _, b)) => {
                                let i = index_of(s, &String::from_utf8_lossy(&b));
                                let old = acked.lock().unwrap().insert(i, e.clone());
                                assert!(old.is_none_or(|o| o == e), "index {i} given twice");
                                break;
                            }
                            Some((503, _, _)) | None => {
                                std::thread::sleep(Duration::from_millis(20))
                            }
                            Some((s, _, b)) => panic!("{s}: {}", String::from_utf8_lossy(&b)),
                        }
                    }
                }
            })
        })
        .collect();

    // Every checkpoint published, as the clients' mirror would see it.
    let seen_dir = acc.root.join("checkpoints");
    fs::create_dir_all(&seen_dir).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (log, seen_dir, stop) = (acc.log.clone(), seen_dir.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut last = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(note) = fs::read(log.join("checkpoint")) {
                    if note != last {
                        fs::write(seen_dir.join(format!("{n:05}")), &note).unwrap();
                        n += 1;
                        last = note;
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let mut rng = Rng(0x5eed_5eed_5eed_5eed);
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(rng.next(150, 1200)));
        server.child.kill().unwrap(); // SIGKILL
        let _ = server.child.wait();
        server = start();
    }
    std::thread::sleep(Duration::from_millis(300));
    done.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let total = acked.len() as u64;
    eprintln!("{total} entries acknowledged across 6 kills");
    // Indexes 0..total, each given once: nothing durable left unanswered.
    assert_eq!(acked.keys().next_back(), Some(&(total - 1)));
    until(30, "the last checkpoint", || {
        published_size(&acc.log) == total
    });
    // Cosigned by the witness too (every checkpoint is asked for).
    until(
        30,
        "the witness's cosignature on the last checkpoint",
        || fs::read_to_string(acc.log.join("checkpoint")).is_ok_and(|n| n.contains("— w.example")),
    );
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    drop(server);

    // Every acknowledged entry at the index it was given.
    let (_, entries) = common::verify_log_dir(&acc.log, &log_vkey, &[&wvkey]);
    assert_eq!(entries.len() as u64, total);
    for (i, leaf) in &acked {
        assert_eq!(&entries[*i as usize].encode(), leaf, "leaf {i}");
    }
    // Every checkpoint seen is a prefix of the final log, by the
    // independent implementation.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/verify_log.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&acc.log)
        .arg(&log_vkey)
        .arg(&wvkey)
        .env("EARLIER_CHECKPOINTS", &seen_dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read["size"], total);
    assert!(read["earlier"].as_u64().unwrap() > 3, "{}", read["earlier"]);
    assert!(
        read["cosigners"]["w.example"].is_u64(),
        "{}",
        read["cosigners"]
    );
    // The witness recorded no fork, and holds the latest.
    assert!(
        !tmp.path().join("wstate/evidence").exists()
            || fs::read_dir(tmp.path().join("wstate/evidence"))
                .unwrap()
                .count()
                == 0,
        "the witness kept evidence of a fork"
    );
    assert_eq!(witnessed_size(&wproc.addr, "example.org/crash"), total);
}

/// The size of the latest checkpoint the witness at `addr` cosigned for
/// the log of `origin` (its monitoring view).
fn witnessed_size(addr: &str, origin: &str) -> u64 {
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(origin.as_bytes()));
    let (s, _, body) = common::http(
        addr,
        "GET",
        &format!("/monitor/{hash}/checkpoint"),
        &[],
        b"",
    );
    assert_eq!(s, 200);
    bt_exec::tlog::Checkpoint::of_note(&body).unwrap().size
}

/// The server holds the log's lock while it runs: `bt-log add` waits (and
/// says so) and writes after the server stops; the entry the server
/// acknowledged stays at its index.
#[test]
fn add_waits_while_the_server_writes() {
    let acc = Acc::new("example.org/locked", &[]);
    let adm = acc.admission("admit.toml", OPEN);
    let srv = acc.serve(&adm, "127.0.0.1:0", &["--checkpoint-interval", "200ms"]);
    // A second server on the same log is refused at once.
    let second = Command::new(common::BT_LOG)
        .args([
            "serve",
            acc.log.to_str().unwrap(),
            "--accept",
            adm.to_str().unwrap(),
        ])
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("another process is writing this log"));
    let e = acc.entry("example.org/tool", "1");
    let (s, _, body) = submit(&srv.addr, "?wait=10", &e);
    assert_eq!((s, index_of(s, &body)), (200, 0));
    let file = acc.root.join("file");
    fs::write(&file, b"released by add").unwrap();
    let add = Command::new(common::BT_LOG)
        .args(["add", acc.log.to_str().unwrap(), file.to_str().unwrap()])
        .args(["--name", "example.org/added", "--version", "1"])
        .args([
            "--publisher-key",
            acc.root.join("pub.key").to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let e2 = acc.entry("example.org/tool", "2");
    let (s, _, body) = submit(&srv.addr, "?wait=10", &e2);
    assert_eq!((s, index_of(s, &body)), (200, 1), "the server kept writing");
    assert_eq!(
        published_size(&acc.log),
        2,
        "add wrote while the server held the log"
    );
    // SIGTERM: the server integrates what it acknowledged and lets go.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(srv.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = add.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("waiting for"), "{err}");
    let (_, entries) = common::verify_log_dir(&acc.log, &acc.log_vkey, &[]);
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].encode(), e);
    assert_eq!(entries[1].encode(), e2);
    assert_eq!(entries[2].release.name, "example.org/added");
}

/// A witness that is slow, down, or answers 409 delays only the proofs:
/// acknowledgements go on, checkpoints are published with the
/// cosignatures they have, and a later one is cosigned.
#[test]
fn a_witness_slow_down_or_in_conflict_delays_only_proofs() {
    let tmp = tempfile::tempdir().unwrap();
    let acc = Acc::keys("example.org/wit");
    let log_vkey = acc.log_vkey.clone();
    let (real, _, wvkey) = witness(tmp.path(), &log_vkey);
    let gate = tmp.path().join("gate");
    let (_hold, hold_url) = common::helper_server(&[
        "tests/interop/fake_witness.py",
        "hold",
        gate.to_str().unwrap(),
        &real.addr,
    ]);
    acc.init(&[format!("{hold_url}={wvkey}")]);
    let adm = acc.admission("admit.toml", OPEN);
    let srv = acc.serve(&adm, "127.0.0.1:0", &["--checkpoint-interval", "200ms"]);
    // Slow: the witness holds its answer; entries are still acknowledged.
    for v in ["1", "2", "3"] {
        let (s, head, body) = submit(&srv.addr, "?wait=1", &acc.entry("example.org/t", v));
        assert_eq!(s, 202, "{body}");
        assert!(header(&head, "retry-after").is_some());
    }
    fs::write(&gate, b"").unwrap();
    let (s, _, body) = submit(&srv.addr, "?wait=30", &acc.entry("example.org/t", "4"));
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("— w.example"), "{body}");
    drop(srv);

    // Down: published without it; cosigned once it is back.
    let (wstate, wkey) = (tmp.path().join("wstate"), tmp.path().join("w.key"));
    let wport = real.addr.rsplit(':').next().unwrap().to_string();
    drop(real);
    let config = acc.log.join(".bt-log/config.toml");
    let text = fs::read_to_string(&config)
        .unwrap()
        .replace(&hold_url, &format!("http://127.0.0.1:{wport}"));
    fs::write(&config, text).unwrap();
    let srv = acc.serve(&adm, "127.0.0.1:0", &["--checkpoint-interval", "200ms"]);
    let (s, _, body) = submit(&srv.addr, "?wait=2", &acc.entry("example.org/t", "5"));
    assert_eq!(s, 202, "{body}");
    until(10, "a checkpoint without the witness", || {
        published_size(&acc.log) == 5
    });
    assert!(!fs::read_to_string(acc.log.join("checkpoint"))
        .unwrap()
        .contains("w.example"));
    let back = Command::new(common::BT_LOG)
        .args(["witness", "serve", "--key", wkey.to_str().unwrap()])
        .args(["--state", wstate.to_str().unwrap(), "--log", &log_vkey])
        .args(["--listen", &format!("127.0.0.1:{wport}")])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _back = common::Proc {
        child: back,
        addr: String::new(),
    };
    until(10, "the witness back", || {
        try_http(&format!("http://127.0.0.1:{wport}"), "GET", "/", &[], b"").is_some()
    });
    // Resubmitting waits for the later, cosigned checkpoint.
    let (s, _, body) = submit(&srv.addr, "?wait=30", &acc.entry("example.org/t", "5"));
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("— w.example"), "{body}");
    drop(srv);

    // 409 with a size the log never had: never cosigned, never stuck.
    let (_c, conflict_url) = common::helper_server(&["tests/interop/fake_witness.py", "conflict"]);
    let text = fs::read_to_string(&config)
        .unwrap()
        .replace(&format!("http://127.0.0.1:{wport}"), &conflict_url);
    fs::write(&config, text).unwrap();
    let srv = acc.serve(&adm, "127.0.0.1:0", &["--checkpoint-interval", "200ms"]);
    let (s, _, body) = submit(&srv.addr, "?wait=2", &acc.entry("example.org/t", "6"));
    assert_eq!((s, index_of(s, &body)), (202, 5), "{body}");
    until(10, "a checkpoint without the witness", || {
        published_size(&acc.log) == 6
    });
    let (s, _, body) = submit(&srv.addr, "", &acc.entry("example.org/t", "7"));
    assert_eq!((s, index_of(s, &body)), (202, 6), "{body}");
    until(10, "the sequencer's word", || {
        stderr_of(&acc.log).contains("has cosigned size 999999")
    });
}

/// A witness that grants this log 1 440 requests a day (one a minute, a
/// burst of one) is asked no more often: the first checkpoint is cosigned,
/// those after it are published without it, and the witness sees no
/// request for them — not even the sequencer's retries.
#[test]
fn a_witness_is_asked_at_most_at_the_rate_it_grants() {
    let tmp = tempfile::tempdir().unwrap();
    let acc = Acc::keys("example.org/rated");
    let (wproc, warg, _) = witness(tmp.path(), &acc.log_vkey);
    let qpd = format!("{}=1440", wproc.addr);
    acc.init_with(&[warg], &["--witness-qpd", &qpd]);
    let adm = acc.admission("admit.toml", OPEN);
    let srv = acc.serve(&adm, "127.0.0.1:0", &["--checkpoint-interval", "200ms"]);
    let (s, _, body) = submit(&srv.addr, "?wait=10", &acc.entry("example.org/t", "1"));
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("— w.example"), "{body}");
    for v in ["2", "3"] {
        let (s, _, body) = submit(&srv.addr, "?wait=1", &acc.entry("example.org/t", v));
        assert_eq!(s, 202, "{body}");
    }
    until(10, "the third entry's checkpoint", || {
        published_size(&acc.log) == 3
    });
    std::thread::sleep(Duration::from_secs(1));
    assert!(!fs::read_to_string(acc.log.join("checkpoint"))
        .unwrap()
        .contains("w.example"));
    assert!(
        stderr_of(&acc.log).contains("over the rate"),
        "{}",
        stderr_of(&acc.log)
    );
    assert_eq!(witnessed_size(&wproc.addr, "example.org/rated"), 1);
}

/// A server killed while `bt-log add` waits for the log: the add, once it
/// has the lock, first integrates what the server answered, at the
/// indexes given, then appends its own release after them; the server
/// then starts again on that log.
#[test]
fn an_add_after_a_killed_server_keeps_its_answers() {
    let acc = Acc::new("example.org/killed", &[]);
    let adm = acc.admission("admit.toml", OPEN);
    let mut srv = acc.serve(&adm, "127.0.0.1:0", &["--checkpoint-interval", "1h"]);
    let sent: Vec<Vec<u8>> = (0..3)
        .map(|i| acc.entry("example.org/t", &i.to_string()))
        .collect();
    for (i, e) in sent.iter().enumerate() {
        let (s, _, body) = submit(&srv.addr, "", e);
        assert_eq!((s, index_of(s, &body)), (202, i as u64), "{body}");
    }
    let file = acc.root.join("file");
    fs::write(&file, b"released by add").unwrap();
    let add = Command::new(common::BT_LOG)
        .args(["add", acc.log.to_str().unwrap(), file.to_str().unwrap()])
        .args(["--name", "example.org/added", "--version", "1"])
        .args([
            "--publisher-key",
            acc.root.join("pub.key").to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    srv.child.kill().unwrap(); // SIGKILL: nothing integrated
    let _ = srv.child.wait();
    let out = add.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3");
    let (_, entries) = common::verify_log_dir(&acc.log, &acc.log_vkey, &[]);
    assert_eq!(entries.len(), 4);
    for (i, e) in sent.iter().enumerate() {
        assert_eq!(&entries[i].encode(), e, "leaf {i}");
    }
    assert_eq!(entries[3].release.name, "example.org/added");
    // The server starts again on the log, the queue empty; an entry
    // already in a published checkpoint is answered with its proof at once.
    let srv = acc.serve(&adm, "127.0.0.1:0", &[]);
    let (s, _, body) = submit(&srv.addr, "", &sent[1]);
    assert_eq!((s, index_of(s, &body)), (200, 1), "{body}");
}
