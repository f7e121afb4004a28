//! `bt-log serve --accept`: every answer of `POST /bt/add-entry` beside its
//! near-misses (dedup, quotas per key and per address, keys not admitted,
//! names outside a key's patterns, malformed, forged, oversized, slow
//! clients, a full pool), and a log written this way read by everyone:
//! the independent implementation, `bt-log monitor` and bt-exec.

mod common;

use std::fs;
use std::io::Write;
use std::time::Duration;

use sha2::Digest as _;

use common::accepting::{entry, header, index_of, submit, until, Acc};
use common::{keygen, spawn_server};

const ADMIT: &str = r#"
[[publisher]]
key = "{pub}"
names = ["example.org/*"]
quota = 4

[limits]
address_quota = 1000
pending = 1000
"#;

/// The tlog-proof of a 200 proves the leaf against a checkpoint the log
/// signed (and the given witnesses cosigned).
fn check_proof(acc: &Acc, text: &str, leaf: &[u8], witnesses: &[&str]) -> u64 {
    use bt_exec::note::VerifierKey;
    use bt_exec::tlog::{leaf_hash, verify_inclusion, SignedCheckpoint, TlogProof};
    let p = TlogProof::parse(text.as_bytes()).unwrap();
    assert_eq!(p.extra.as_deref(), Some(leaf));
    let keys: Vec<VerifierKey> = witnesses
        .iter()
        .map(|w| VerifierKey::parse_witness(w).unwrap())
        .collect();
    let log = VerifierKey::parse_log(&acc.log_vkey).unwrap();
    let sc = SignedCheckpoint::verify(&p.checkpoint, &acc.origin, &log, &keys).unwrap();
    assert_eq!(sc.cosignatures.len(), witnesses.len(), "{text}");
    let cp = sc.checkpoint;
    verify_inclusion(leaf_hash(leaf), p.index, cp.size, &p.proof, cp.root).unwrap();
    p.index
}

#[test]
fn every_answer_of_add_entry_beside_its_near_misses() {
    let acc = Acc::new("example.org/accepting", &[]);
    let adm = acc.admission("admit.toml", ADMIT);
    let srv = acc.serve(&adm, "127.0.0.1:0", &["--checkpoint-interval", "300ms"]);
    let a = &srv.addr;

    // 202 at once without wait; then 200 with a proof for the same bytes
    // (dedup: the same index, no second leaf, no quota spent).
    let first = acc.entry("example.org/tool", "1.0");
    let (s, head, body) = submit(a, "", &first);
    assert_eq!(s, 202, "{body}");
    assert_eq!(index_of(s, &body), 0);
    assert!(header(&head, "retry-after").is_some(), "{head}");
    let (s, _, body) = submit(a, "?wait=10", &first);
    assert_eq!(s, 200, "{body}");
    assert_eq!(check_proof(&acc, &body, &first, &[]), 0);
    // A new entry with wait: 200 once its checkpoint is published.
    let second = acc.entry("example.org/tool", "1.1");
    let (s, _, body) = submit(a, "?wait=10", &second);
    assert_eq!(s, 200, "{body}");
    assert_eq!(check_proof(&acc, &body, &second, &[]), 1);
    // Quota 4 a day: two more, then 429 with the wait; a resubmission is
    // still answered with its index.
    for v in ["1.2", "1.3"] {
        let (s, _, body) = submit(a, "", &acc.entry("example.org/tool", v));
        assert_eq!(s, 202, "{body}");
    }
    let (s, head, body) = submit(a, "", &acc.entry("example.org/tool", "1.4"));
    assert_eq!(s, 429, "{body}");
    assert!(body.contains("quota of 4 a day"), "{body}");
    let wait: u64 = header(&head, "retry-after").unwrap().parse().unwrap();
    assert!(wait > 0 && wait <= 86_400, "{head}");
    let (s, _, body) = submit(a, "?wait=10", &first);
    assert_eq!((s, index_of(s, &body)), (200, 0), "{body}");

    // The near-misses, each refused with its reason, none logged.
    let tmp = tempfile::tempdir().unwrap();
    keygen(tmp.path(), "other.example", "other.key");
    let other = bt_exec::log::load_secret_key(&tmp.path().join("other.key")).unwrap();
    let mut forged = acc.entry("example.org/tool", "9.9");
    let n = forged.len();
    forged[n - 1] ^= 1;
    let mut not_canonical = acc.entry("example.org/tool", "9.8");
    not_canonical[0] = 0x9f; // an indefinite-length array header
                             // An entry whose publisher key is missing (31 bytes), and one whose
                             // name is past the limit, each validly encoded otherwise.
    let rebuilt = |key: Vec<u8>, name_len: usize| {
        use ciborium::Value;
        let Value::Array(mut a) = ciborium::from_reader::<Value, _>(&first[..]).unwrap() else {
            panic!()
        };
        if name_len > 0 {
            let Value::Bytes(st) = &a[0] else { panic!() };
            let Value::Map(mut m) = ciborium::from_reader::<Value, _>(&st[..]).unwrap() else {
                panic!()
            };
            for (k, v) in m.iter_mut() {
                if k.as_text() == Some("name") {
                    *v = Value::Text(format!("example.org/{}", "x".repeat(name_len)));
                }
            }
            let mut out = Vec::new();
            ciborium::into_writer(&Value::Map(m), &mut out).unwrap();
            a[0] = Value::Bytes(out);
        }
        a[1] = Value::Bytes(key);
        let mut out = Vec::new();
        ciborium::into_writer(&Value::Array(a), &mut out).unwrap();
        out
    };
    let pk = acc.publisher.key.verifying_key().as_bytes().to_vec();
    let cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
        (
            "a missing publisher key",
            rebuilt(pk[..31].to_vec(), 0),
            "",
            400,
            "",
        ),
        (
            "a name past the limit",
            rebuilt(pk.clone(), 300),
            "",
            400,
            "name",
        ),
        (
            "a key not admitted",
            entry(&other, "example.org/tool", "1"),
            "",
            403,
            "not admitted",
        ),
        (
            "a name outside the key's patterns",
            acc.entry("other.org/tool", "1"),
            "",
            403,
            "may not submit \"other.org/tool\"",
        ),
        ("not CBOR", b"hello".to_vec(), "", 400, "CBOR"),
        ("empty", Vec::new(), "", 400, ""),
        ("a forged signature", forged, "", 400, "signature"),
        ("not the canonical encoding", not_canonical, "", 400, ""),
        (
            "past a leaf's size",
            vec![0u8; 70_000],
            "",
            413,
            "at most 65535 bytes",
        ),
        (
            "a malformed wait",
            acc.entry("example.org/tool", "2"),
            "?wait=soon",
            400,
            "whole number",
        ),
        (
            "an unknown parameter",
            acc.entry("example.org/tool", "2"),
            "?wiat=1",
            400,
            "unknown query",
        ),
    ];
    for (what, body, query, status, says) in cases {
        let (s, _, text) = submit(a, query, &body);
        assert_eq!(s, status, "{what}: {text}");
        assert!(text.contains(says), "{what}: {text}");
    }
    // A GET is not a submission.
    let (s, _, _) = common::http(a, "GET", "/bt/add-entry", &[], b"");
    assert_eq!(s, 405);
    // The log holds the four admitted entries and nothing else.
    until(10, "the fourth entry's checkpoint", || {
        common::accepting::published_size(&acc.log) == 4
    });
    let (_, entries) = common::verify_log_dir(&acc.log, &acc.log_vkey, &[]);
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[0].encode(), first);
    assert_eq!(entries[1].encode(), second);
    // A declared length past the cap is refused before the body is read.
    let (s, _, _) = common::http(a, "POST", "/bt/add-entry", &[], &vec![b'x'; 100_000]);
    assert_eq!(s, 413);
}

/// An open log: any key, a per-address quota across keys, and a pool
/// that fills when the sequencer is behind (503 with Retry-After).
#[test]
fn a_per_address_quota_and_a_full_pool() {
    let acc = Acc::new("example.org/open", &[]);
    let keys: Vec<_> = (0..3)
        .map(|i| {
            keygen(&acc.root, &format!("k{i}.example"), &format!("k{i}.key"));
            bt_exec::log::load_secret_key(&acc.root.join(format!("k{i}.key"))).unwrap()
        })
        .collect();
    let open = acc.admission(
        "open.toml",
        "[open]\nnames = [\"*\"]\nquota = 10\n\n[limits]\naddress_quota = 2\n",
    );
    let srv = acc.serve(&open, "127.0.0.1:0", &[]);
    for (i, k) in keys.iter().take(2).enumerate() {
        let (s, _, body) = submit(&srv.addr, "", &entry(k, "any.example/x", &i.to_string()));
        assert_eq!(s, 202, "{body}");
    }
    let (s, head, body) = submit(&srv.addr, "", &entry(&keys[2], "any.example/x", "2"));
    assert_eq!(s, 429, "{body}");
    assert!(body.contains("address"), "{body}");
    assert!(header(&head, "retry-after").is_some());
    drop(srv);

    // A pool of two with a checkpoint an hour away: the third waits.
    let acc = Acc::new("example.org/full", &[]);
    let full = acc.admission(
        "full.toml",
        "[open]\nnames = [\"*\"]\nquota = 10\n\n[limits]\npending = 2\n",
    );
    let srv = acc.serve(&full, "127.0.0.1:0", &["--checkpoint-interval", "1h"]);
    for v in ["1", "2"] {
        let (s, _, body) = submit(&srv.addr, "", &acc.entry("example.org/t", v));
        assert_eq!(s, 202, "{body}");
    }
    let (s, head, body) = submit(&srv.addr, "", &acc.entry("example.org/t", "3"));
    assert_eq!(s, 503, "{body}");
    assert_eq!(header(&head, "retry-after").as_deref(), Some("1"));
    // A resubmission of a pending entry still gets its index.
    let (s, _, body) = submit(&srv.addr, "", &acc.entry("example.org/t", "2"));
    assert_eq!((s, index_of(s, &body)), (202, 1), "{body}");
}

/// A client that sends its headers and a trickle of body holds its own
/// connection until the body deadline (408), never the log.
#[test]
fn a_slow_client_gets_408_and_holds_up_no_one() {
    let acc = Acc::new("example.org/slow", &[]);
    let adm = acc.admission("admit.toml", ADMIT);
    let srv = acc.serve(&adm, "127.0.0.1:0", &["--checkpoint-interval", "200ms"]);
    let host = srv.addr.trim_start_matches("http://").to_string();
    let slow = std::thread::spawn(move || {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect(&host).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            s,
            "POST /bt/add-entry HTTP/1.1\r\nHost: x\r\nContent-Length: 300\r\n\r\n"
        )
        .unwrap();
        for _ in 0..3 {
            let _ = s.write_all(b"\x83");
            std::thread::sleep(Duration::from_millis(500));
        }
        let mut resp = Vec::new();
        let _ = s.read_to_end(&mut resp);
        String::from_utf8_lossy(&resp).into_owned()
    });
    std::thread::sleep(Duration::from_millis(300));
    // Meanwhile another publisher is served, proof and all.
    let e = acc.entry("example.org/tool", "1.0");
    let (s, _, body) = submit(&srv.addr, "?wait=10", &e);
    assert_eq!(s, 200, "{body}");
    let resp = slow.join().unwrap();
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
}

/// A log written by submissions is the same log: read by the independent
/// implementation, verified by `bt-log monitor`, and bt-exec runs a
/// program published through it (policy requiring the log and its
/// witness, over Python's http.server).
#[test]
fn a_log_written_by_submissions_is_read_by_everyone() {
    if !common::python_interop("accepted_log") {
        return;
    }
    let mut w = common::world::World::new(1);
    // Two witnesses, each its own process, as the world's policy names.
    let mut witnesses = Vec::new();
    let mut procs = Vec::new();
    for i in 1..=2 {
        let key = w.root.join(format!("w{i}.key"));
        let state = w.root.join(format!("wstate{i}"));
        let p = spawn_server(&[
            "witness",
            "serve",
            "--key",
            key.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
            "--log",
            &w.logs[0].vkey,
        ]);
        witnesses.push(format!("{}={}", p.addr, w.witnesses[i - 1].1));
        procs.push(p);
    }
    let dir = w.logs[0].dir.clone();
    fs::remove_dir_all(&dir).unwrap();
    let mut args = vec![
        "init",
        dir.to_str().unwrap(),
        "--origin",
        "example.org/log0",
    ];
    let key = w.root.join("log0.key");
    args.extend(["--key", key.to_str().unwrap()]);
    for x in &witnesses {
        args.extend(["--witness", x.as_str()]);
    }
    let (c, _, e) = common::bt_log(&args);
    assert_eq!(c, 0, "{e}");
    let adm = w.root.join("admit.toml");
    let publisher = fs::read_to_string(w.root.join("pub.key.pub")).unwrap();
    fs::write(
        &adm,
        format!(
            "[[publisher]]\nkey = \"{}\"\nnames = [\"example.org/*\"]\n",
            publisher.trim()
        ),
    )
    .unwrap();
    let srv = common::accepting::serve(&dir, &adm, "127.0.0.1:0", &[]);
    let publisher = bt_exec::log::load_secret_key(&w.root.join("pub.key")).unwrap();
    let bytes = fs::read(&w.prog).unwrap();
    let release = bt_exec::entry::Release {
        name: "example.org/prog".into(),
        version: "1.0".into(),
        platform: "any".into(),
        sha256: sha2::Sha256::digest(&bytes).into(),
        size: bytes.len() as u64,
        published: common::world::now(),
        cas: vec![],
        source: None,
    };
    let leaf = bt_exec::entry::Entry::sign(release, &publisher.key)
        .unwrap()
        .encode();
    let (s, _, proof) = submit(&srv.addr, "?wait=20", &leaf);
    assert_eq!(s, 200, "{proof}");
    let wv: Vec<&str> = w.witnesses.iter().map(|(_, v)| v.as_str()).collect();
    // Independent reader: the leaf, both cosignatures.
    let read = common::independent_read(&dir, &w.logs[0].vkey, &wv);
    assert_eq!(read["size"], 1);
    assert_eq!(read["cosigners"].as_object().unwrap().len(), 2, "{read}");
    assert_eq!(read["releases"][0]["name"], "example.org/prog");
    // bt-log monitor verifies it.
    let state = w.root.join("monitor-state");
    let out = std::process::Command::new(common::BT_LOG)
        .args([
            "monitor",
            &format!("file://{}", dir.display()),
            "--key",
            &w.logs[0].vkey,
        ])
        .args(["--state", state.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("example.org/prog"));
    // bt-exec runs the program, over HTTP from a server we did not write,
    // with the proof beside it and without.
    let (_py, url) = common::python_http_server(&dir);
    w.logs[0].url = url;
    w.policy("logs = 1\nmax_age = \"1h\"");
    w.runs();
    fs::write(w.root.join("bin/prog.tlog-proof"), &proof).unwrap();
    w.runs();
    drop(srv);
}

/// A log that takes nothing more stays fresh for its users' `max_age`:
/// `serve --accept --recosign-after 2s` asks its witness to cosign the
/// same checkpoint again once the cosignature is 2 s old — a new
/// timestamp, one line per witness, the same tree.
#[test]
fn a_log_that_takes_nothing_is_cosigned_again() {
    let tmp = tempfile::tempdir().unwrap();
    let acc = Acc::keys("example.org/quiet");
    let (_w, warg, wvkey) = common::accepting::witness(tmp.path(), &acc.log_vkey);
    acc.init(&[warg]);
    let adm = acc.admission("admit.toml", ADMIT);
    let srv = acc.serve(&adm, "127.0.0.1:0", &["--recosign-after", "2s"]);
    let (status, _, body) = submit(&srv.addr, "", &entry(&acc.publisher, "example.org/q", "1"));
    assert!(status == 200 || status == 202, "{status} {body}");
    let cosigned = || {
        let (sc, _) = common::verify_log_dir(&acc.log, &acc.log_vkey, &[&wvkey]);
        let times: Vec<u64> = sc.cosignatures.iter().map(|c| c.timestamp).collect();
        (sc.checkpoint.size, times)
    };
    let mut first = None;
    until(20, "the entry cosigned", || {
        let (size, t) = cosigned();
        first = t.first().copied().filter(|_| size == 1);
        first.is_some()
    });
    let first = first.unwrap();
    until(20, "the same checkpoint cosigned again", || {
        let (size, t) = cosigned();
        assert_eq!(size, 1, "nothing was added");
        assert_eq!(t.len(), 1, "one line per witness: {t:?}");
        t[0] >= first + 2
    });
}
