//! End to end: logs written by `bt-log add` with two witnesses served by
//! `bt-log witness serve`, read back by an independent implementation
//! (Python, pyca/cryptography + cbor2) that must agree on every tile, entry
//! bundle, root hash, log signature, cosignature and entry.

mod common;

use std::fs;
use std::path::Path;

use common::{bt_log, keygen, spawn_server};

struct Setup {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    log: std::path::PathBuf,
    log_vkey: String,
    w_vkeys: Vec<String>,
    _witnesses: Vec<common::Proc>,
}

fn setup(origin: &str) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let log_vkey = keygen(&dir, origin, "log.key");
    keygen(&dir, "example.org", "pub.key");
    let mut w_vkeys = vec![];
    let mut witnesses = vec![];
    let mut args = vec![];
    for i in 1..=2 {
        let wv = keygen(&dir, &format!("w{i}.example"), &format!("w{i}.key"));
        let state = dir.join(format!("w{i}-state"));
        let p = spawn_server(&[
            "witness",
            "serve",
            "--key",
            dir.join(format!("w{i}.key")).to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
            "--log",
            &log_vkey,
        ]);
        args.push(format!("{}={wv}", p.addr));
        w_vkeys.push(wv);
        witnesses.push(p);
    }
    let log = dir.join("log");
    let mut init = vec!["init", log.to_str().unwrap(), "--origin", origin, "--key"];
    let key = dir.join("log.key");
    init.push(key.to_str().unwrap());
    for a in &args {
        init.push("--witness");
        init.push(a);
    }
    let (code, _, err) = bt_log(&init);
    assert_eq!(code, 0, "{err}");
    Setup {
        _tmp: tmp,
        dir,
        log,
        log_vkey,
        w_vkeys,
        _witnesses: witnesses,
    }
}

/// Adds `count` small releases through a manifest; returns the indexes printed.
fn add_many(s: &Setup, from: usize, count: usize) -> Vec<u64> {
    let files = s.dir.join("files");
    fs::create_dir_all(&files).unwrap();
    let mut manifest = String::new();
    for i in from..from + count {
        let f = files.join(format!("tool-{i}"));
        fs::write(&f, format!("#!/bin/sh\necho release {i}\n")).unwrap();
        manifest.push_str(&format!(
            "{{\"file\":\"files/tool-{i}\",\"name\":\"example.org/tool{}\",\"version\":\"1.{i}\",\"platform\":\"linux-x86_64\"}}\n",
            i % 7
        ));
    }
    let m = s.dir.join("manifest.jsonl");
    fs::write(&m, manifest).unwrap();
    let (code, out, err) = bt_log(&[
        "add",
        s.log.to_str().unwrap(),
        "--manifest",
        m.to_str().unwrap(),
        "--publisher-key",
        s.dir.join("pub.key").to_str().unwrap(),
        "--proofs",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("2 cosignature(s)"), "{err}");
    out.lines()
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

fn check_independently(s: &Setup, want_size: u64) {
    let w: Vec<&str> = s.w_vkeys.iter().map(String::as_str).collect();
    let v = common::independent_read(&s.log, &s.log_vkey, &w);
    assert_eq!(v["size"].as_u64().unwrap(), want_size);
    assert_eq!(
        v["cosigners"].as_object().unwrap().len(),
        2,
        "both witnesses cosigned"
    );
    let releases = v["releases"].as_array().unwrap();
    assert_eq!(releases.len() as u64, want_size);
    for r in releases {
        let i = r["index"].as_u64().unwrap();
        assert_eq!(r["version"].as_str().unwrap(), format!("1.{i}"));
        let bytes = format!("#!/bin/sh\necho release {i}\n");
        assert_eq!(
            r["sha256"].as_str().unwrap(),
            hex::encode(sha2_digest(bytes.as_bytes()))
        );
    }
}

fn sha2_digest(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}

#[test]
fn sizes_1_255_256_257_agree_with_independent_reader() {
    if !common::python_interop("sizes_1_255_256_257") {
        return;
    }
    let s = setup("example.org/log-small");
    let mut next = 0;
    for target in [1usize, 255, 256, 257] {
        let idx = add_many(&s, next, target - next);
        assert_eq!(idx, (next as u64..target as u64).collect::<Vec<_>>());
        next = target;
        check_independently(&s, target as u64);
    }
    check_proofs(&s.log, 257);
}

#[test]
fn size_70000_agrees_with_independent_reader() {
    if !common::python_interop("size_70000") {
        return;
    }
    let s = setup("example.org/log-big");
    add_many(&s, 0, 3);
    add_many(&s, 3, 70_000 - 3);
    check_independently(&s, 70_000);
}

/// Every tlog-proof file proves its leaf against the published checkpoint's
/// tree (directly for the last batch, by consistency for earlier ones).
fn check_proofs(log: &Path, size: u64) {
    for i in 0..size {
        check_proof(&fs::read(log.join(bt_exec::log::proof_path(i))).unwrap(), i);
    }
}

/// A tlog-proof proves leaf `i` (the entry in `extra`, verified) against
/// the tree of its checkpoint.
fn check_proof(text: &[u8], i: u64) {
    use bt_exec::tlog::{leaf_hash, verify_inclusion, TlogProof};
    {
        let proof = TlogProof::parse(text).unwrap();
        assert_eq!(proof.index, i);
        let text_end = proof
            .checkpoint
            .windows(2)
            .position(|w| w == b"\n\n")
            .unwrap();
        let cp = bt_exec::tlog::Checkpoint::parse(&proof.checkpoint[..=text_end]).unwrap();
        let leaf = proof.extra.unwrap();
        verify_inclusion(leaf_hash(&leaf), i, cp.size, &proof.proof, cp.root).unwrap();
        bt_exec::entry::Entry::decode_verified(&leaf).unwrap();
    }
}

/// Entries their publisher signed elsewhere (what a log accepting
/// submissions receives) are appended under the same lock and format as
/// `add`'s, and read back by the independent implementation; an entry
/// whose signature fails is refused before anything is written.
#[test]
fn presigned_entries_are_appended_like_added_ones() {
    if !common::python_interop("presigned_entries") {
        return;
    }
    let s = setup("example.org/appended");
    add_many(&s, 0, 3);
    let publisher = bt_exec::log::load_secret_key(&s.dir.join("pub.key")).unwrap();
    let entry = |i: usize| {
        let bytes = format!("#!/bin/sh\necho release {i}\n");
        let release = bt_exec::entry::Release {
            name: format!("example.org/tool{}", i % 7),
            version: format!("1.{i}"),
            platform: "linux-x86_64".into(),
            sha256: sha2_digest(bytes.as_bytes()),
            size: bytes.len() as u64,
            published: 1_700_000_000,
            cas: vec![],
            source: None,
        };
        bt_exec::entry::Entry::sign(release, &publisher.key).unwrap()
    };
    let mut forged = entry(3);
    forged.signature[0] ^= 1;
    let forged = bt_exec::entry::Entry::decode(&forged.encode()).unwrap();
    assert!(bt_exec::log::append(&s.log, vec![entry(3), forged]).is_err());
    let report = bt_exec::log::append(&s.log, (3..6).map(entry).collect()).unwrap();
    assert_eq!(report.indexes, [3, 4, 5]);
    assert!(report.quorum_met(), "{:?}", report.witness_failures);
    check_independently(&s, 6);
    // No per-release file unless asked for; `bt-log proof` makes one from
    // the tiles, against the published (cosigned) checkpoint.
    assert!(!s.log.join(bt_exec::log::proof_path(4)).exists());
    for i in 0..6u64 {
        let (code, out, err) = bt_log(&["proof", s.log.to_str().unwrap(), &i.to_string()]);
        assert_eq!(code, 0, "{err}");
        check_proof(out.as_bytes(), i);
        assert!(
            out.contains("\n— "),
            "the proof's checkpoint has its signatures: {out}"
        );
    }
    let (code, _, err) = bt_log(&["proof", s.log.to_str().unwrap(), "6"]);
    assert_eq!(code, 1);
    assert!(err.contains("no leaf 6 yet"), "{err}");
}
