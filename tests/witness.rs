//! `bt-log witness serve` (C2SP tlog-witness): the pure decision for every
//! status code, then the server: forks and rollbacks refused, concurrent
//! requests serialised, request caps, and state that survives `kill -9`.

mod common;

use std::collections::HashMap;

use bt_exec::note::{SecretKey, VerifierKey};
use bt_exec::tlog::{Checkpoint, Hash};
use bt_exec::witness::client::request_body;
use bt_exec::witness::server::{check, Decision};
use common::signing_log::{tree, Log};
use sha2::Digest;

fn code(d: Decision) -> u16 {
    match d {
        Decision::Cosign(_) => 200,
        Decision::Refuse(c, _) => c,
    }
}

#[test]
fn decision_for_every_status() {
    let log = Log::new("example.org/wlog");
    let t = tree(10, "a");
    let fork = tree(10, "b");
    let logs: HashMap<String, VerifierKey> = [(log.origin.clone(), log.vkey())].into();
    let none = |_: &str| None;
    let at5 = |_: &str| {
        Some(Checkpoint::new(
            "example.org/wlog",
            5,
            t.tree_hash(5).unwrap(),
        ))
    };

    assert_eq!(code(check(&log.body(&t, 0, 5), &logs, none)), 200);
    assert_eq!(code(check(&log.body(&t, 5, 10), &logs, at5)), 200);
    // Same size and root again: cosigned again (fresh timestamp).
    assert_eq!(code(check(&log.body(&t, 5, 5), &logs, at5)), 200);
    // Wrong old size: 409 with ours.
    assert_eq!(
        check(&log.body(&t, 0, 10), &logs, at5),
        Decision::Refuse(409, "5\n".into())
    );
    // Rollback: a smaller tree than the one cosigned.
    assert_eq!(code(check(&log.body(&t, 0, 3), &logs, at5)), 409);
    assert_eq!(code(check(&log.body(&t, 5, 3), &logs, at5)), 400);
    // Fork at the same size, and a fork that grows from a different tree.
    assert_eq!(code(check(&log.body(&fork, 5, 5), &logs, at5)), 422);
    assert_eq!(code(check(&log.body(&fork, 5, 10), &logs, at5)), 422);
    // Unknown origin, forged signature, malformed bodies.
    let other = Log::new("example.org/other");
    assert_eq!(code(check(&other.body(&t, 0, 5), &logs, none)), 404);
    let impostor = Log {
        key: SecretKey::generate("example.org/wlog").unwrap(),
        origin: log.origin.clone(),
    };
    assert_eq!(code(check(&impostor.body(&t, 0, 5), &logs, none)), 403);
    let mut bad_sig = log.body(&t, 0, 5);
    let n = bad_sig.len();
    bad_sig[n - 10] ^= 1;
    assert_eq!(code(check(&bad_sig, &logs, none)), 403);
    for bad in [
        &b""[..],
        b"old 1\n",
        b"old x\n\nfoo",
        b"old 01\n\n",
        b"new 1\n\n",
    ] {
        assert_eq!(
            code(check(bad, &logs, none)),
            400,
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    // A non-empty proof from size 0, and a bad proof.
    let (_, note5) = log.note(&t, 5);
    let junk = request_body(0, &[Hash([1; 32])], &note5);
    assert_eq!(code(check(&junk, &logs, none)), 422);
    let (_, note10) = log.note(&t, 10);
    let wrong = request_body(5, &[Hash([1; 32]); 3], &note10);
    assert_eq!(code(check(&wrong, &logs, at5)), 422);
}

struct Witness {
    _tmp: tempfile::TempDir,
    key_path: std::path::PathBuf,
    state: std::path::PathBuf,
    log: Log,
    w_vkey: VerifierKey,
}

impl Witness {
    fn new() -> Witness {
        let tmp = tempfile::tempdir().unwrap();
        let wv = common::keygen(tmp.path(), "witness.example/w", "w.key");
        Witness {
            key_path: tmp.path().join("w.key"),
            state: tmp.path().join("state"),
            _tmp: tmp,
            log: Log::new("example.org/wlog"),
            w_vkey: VerifierKey::parse_witness(&wv).unwrap(),
        }
    }
    fn start(&self) -> common::Proc {
        common::spawn_server(&[
            "witness",
            "serve",
            "--key",
            self.key_path.to_str().unwrap(),
            "--state",
            self.state.to_str().unwrap(),
            "--log",
            &self.log.vkey().encode(),
        ])
    }
}

fn post(p: &common::Proc, body: &[u8]) -> (u16, String, Vec<u8>) {
    common::http(&p.addr, "POST", "/add-checkpoint", &[], body)
}

#[test]
fn server_cosigns_and_refuses_fork_and_rollback() {
    let w = Witness::new();
    let p = w.start();
    let t = tree(20, "a");
    let (status, _, body) = post(&p, &w.log.body(&t, 0, 8));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // The response is a valid cosignature/v1 by the witness key on that checkpoint.
    let (cp, note) = w.log.note(&t, 8);
    let line = String::from_utf8(body).unwrap();
    let full = bt_exec::note::assemble(
        &cp.encode(),
        &[note_line(&note), line.trim_end().to_string()],
    );
    let sc = bt_exec::tlog::SignedCheckpoint::verify(
        &full,
        &w.log.origin,
        &w.log.vkey(),
        std::slice::from_ref(&w.w_vkey),
    )
    .unwrap();
    assert_eq!(sc.cosignatures.len(), 1);

    // Fork: same size, other root.
    let fork = tree(20, "b");
    let (status, _, _) = post(&p, &w.log.body(&fork, 8, 8));
    assert_eq!(status, 422);
    // Rollback: a smaller checkpoint.
    let (status, head, body) = post(&p, &w.log.body(&t, 0, 4));
    assert_eq!(status, 409);
    assert!(
        head.to_lowercase()
            .contains("content-type: text/x.tlog.size"),
        "{head}"
    );
    assert_eq!(body, b"8\n");
    assert_eq!(post(&p, &w.log.body(&t, 8, 4)).0, 400);
    // Growing on top of the fork is refused too; on the real tree it is fine.
    assert_eq!(post(&p, &w.log.body(&fork, 8, 20)).0, 422);
    assert_eq!(post(&p, &w.log.body(&t, 8, 20)).0, 200);
    // The fork at one size proves itself (two trees of size 8, both signed
    // by the log) and is kept; a failed proof to a larger tree does not
    // (whoever sends the request chooses the proof), and is not.
    assert_eq!(
        std::fs::read_dir(w.state.join("evidence")).unwrap().count(),
        1
    );
}

fn note_line(note: &[u8]) -> String {
    let text = String::from_utf8(note.to_vec()).unwrap();
    text.lines()
        .find(|l| l.starts_with('—'))
        .unwrap()
        .to_string()
}

#[test]
fn concurrent_requests_are_serialised() {
    let w = Witness::new();
    let p = w.start();
    let t = tree(6, "a");
    let body = w.log.body(&t, 0, 6);
    let addr = p.addr.clone();
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let (addr, body) = (addr.clone(), body.clone());
            std::thread::spawn(move || common::http(&addr, "POST", "/add-checkpoint", &[], &body).0)
        })
        .collect();
    let codes: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(codes.iter().filter(|&&c| c == 200).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|&&c| c == 409).count(), 15, "{codes:?}");
}

#[test]
fn oversized_and_unknown_requests() {
    let w = Witness::new();
    let p = w.start();
    let huge = vec![b'a'; 3 << 20];
    assert_eq!(post(&p, &huge).0, 413);
    assert_eq!(
        common::http(&p.addr, "GET", "/add-checkpoint", &[], b"").0,
        405
    );
    assert_eq!(common::http(&p.addr, "POST", "/nope", &[], b"").0, 404);
}

#[test]
fn state_survives_kill_9_mid_request() {
    let w = Witness::new();
    let t = tree(300, "a");
    let mut acked = 0u64;
    for round in 0..5u64 {
        let p = w.start();
        // Learn the witness's size (409 tells it), then keep it busy.
        let (status, _, body) = post(&p, &w.log.body(&t, 0, 0));
        let mut size = if status == 409 {
            String::from_utf8(body)
                .unwrap()
                .trim()
                .parse::<u64>()
                .unwrap()
        } else {
            0
        };
        assert!(
            size >= acked,
            "round {round}: witness forgot size {acked}, says {size}"
        );
        assert!(
            size <= acked + 1,
            "round {round}: size {size} was never sent"
        );
        let addr = p.addr.clone();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let body_for = |old: u64| w.log.body(&t, old, old + 1);
        let bodies: Vec<Vec<u8>> = (0..299).map(body_for).collect();
        let stop2 = stop.clone();
        let worker = std::thread::spawn(move || {
            let mut acked = size;
            while !stop2.load(std::sync::atomic::Ordering::Relaxed)
                && (size as usize) < bodies.len()
            {
                let r = common::try_http(
                    &addr,
                    "POST",
                    "/add-checkpoint",
                    &[],
                    &bodies[size as usize],
                );
                match r.map(|r| r.0) {
                    Some(200) => {
                        size += 1;
                        acked = size;
                    }
                    _ => break,
                }
            }
            acked
        });
        std::thread::sleep(std::time::Duration::from_millis(30 + 20 * round));
        drop(p); // SIGKILL, most likely in the middle of a request
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        acked = worker.join().unwrap();
    }
    assert!(acked > 0, "the witness cosigned nothing");
}

/// A state file the witness cannot read is an error (500), never "no
/// state": that would let a fork be cosigned from size 0.
#[test]
fn unreadable_state_is_an_error_not_a_fresh_start() {
    let w = Witness::new();
    let t = tree(8, "a");
    {
        let p = w.start();
        assert_eq!(post(&p, &w.log.body(&t, 0, 5)).0, 200);
    }
    let logs = w.state.join("logs");
    for e in std::fs::read_dir(&logs).unwrap() {
        std::fs::write(e.unwrap().path(), "garbage").unwrap();
    }
    let p = w.start();
    let fork = tree(8, "fork");
    let (status, _, body) = post(&p, &w.log.body(&fork, 0, 3));
    assert_eq!(status, 500, "{}", String::from_utf8_lossy(&body));
    // The monitoring view does not serve it either.
    let view = format!(
        "/monitor/{}/checkpoint",
        hex::encode(sha2::Sha256::digest(w.log.origin.as_bytes()))
    );
    assert_eq!(common::http(&p.addr, "GET", &view, &[], b"").0, 500);
}
