//! Whole passes over Rekor v2 logs written here with the crate's tile
//! code (`file://`, no server), and over the real staging checkpoint; the
//! end-to-end tests (tests/monitor_rekor.rs) run the binary against the
//! independent Python writer's log over HTTP.

use std::path::{Path, PathBuf};

use base64::Engine;
use tlog_tiles::Tile;

use super::*;
use crate::note::{SecretKey, VerifierKey};
use crate::tlog::store::TileHashes;
use crate::tlog::tiles::{bundle_path, encode_bundle, hash_tile_path};
use crate::tlog::{empty_root, leaf_hash, sign_checkpoint, Checkpoint, Hash};

const BODIES: [&[u8]; 4] = [
    include_bytes!("../../../fixtures/rekor-entries/hashedrekord-email.json"),
    include_bytes!("../../../fixtures/rekor-entries/hashedrekord-uri-v1-issuer.json"),
    include_bytes!("../../../fixtures/rekor-entries/hashedrekord-ed25519-key.json"),
    include_bytes!("../../../fixtures/rekor-entries/dsse-two-signers.json"),
];
const ORIGIN: &str = "rekor.test.invalid";

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn write(dir: &Path, path: &str, data: &[u8]) {
    let p = dir.join(path);
    ok(std::fs::create_dir_all(p.parent().unwrap_or(dir)));
    ok(std::fs::write(p, data));
}

/// Writes the tiled log of `leaves` into `dir`: every entry bundle and hash
/// tile (full ones, and the rightmost partial one of each level; partial
/// tiles of smaller trees stay), and a checkpoint signed by `key`.
fn write_log(dir: &Path, key: &SecretKey, leaves: &[Vec<u8>]) {
    for (n, chunk) in leaves.chunks(256).enumerate() {
        let bundle = ok(encode_bundle(chunk.iter().map(Vec::as_slice)));
        write(dir, &bundle_path(n as u64, chunk.len() as u64), &bundle);
    }
    let store = TileHashes::new();
    let mut hashes: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l)).collect();
    let mut level = 0u8;
    while !hashes.is_empty() {
        for (n, chunk) in hashes.chunks(256).enumerate() {
            let data: Vec<u8> = chunk.iter().flat_map(|h| h.0).collect();
            write(
                dir,
                &hash_tile_path(level, n as u64, chunk.len() as u64),
                &data,
            );
            ok(store.insert_tile(level, n as u64, data));
        }
        hashes = hashes
            .chunks_exact(256)
            .map(|c| Tile::subtree_hash(&c.iter().flat_map(|h| h.0).collect::<Vec<u8>>()))
            .collect();
        level += 1;
    }
    let size = leaves.len() as u64;
    let root = if size == 0 {
        empty_root()
    } else {
        ok(store.tree_hash(size))
    };
    let note = sign_checkpoint(key, &Checkpoint::new(ORIGIN, size, root), &[]);
    write(dir, "checkpoint", &note);
}

fn leaves(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| BODIES[i % 4].to_vec()).collect()
}

struct World {
    _tmp: tempfile::TempDir,
    log: PathBuf,
    state: PathBuf,
    key: SecretKey,
}

impl World {
    fn new() -> World {
        let tmp = ok(tempfile::tempdir());
        World {
            log: tmp.path().join("log"),
            state: tmp.path().join("state"),
            key: ok(SecretKey::generate(ORIGIN)),
            _tmp: tmp,
        }
    }

    fn options(&self, log: &Path) -> MonitorOptions {
        MonitorOptions {
            url: format!("file://{}", log.display()),
            key: self.key.verifier(),
            witnesses: vec![],
            policy: None,
            state_root: self.state.clone(),
            progress: false,
            now: 1_700_000_000,
            rebuilders: vec![],
        }
    }

    /// A pass over `log` with `watch`: the listed entries' (index, alerts),
    /// or the fault.
    fn pass(&self, log: &Path, watch: &Watch) -> Result<Vec<(u64, Vec<String>)>, Fault> {
        let mut seen = vec![];
        run(&self.options(log), watch, &mut |s| {
            if s.listed() {
                seen.push((s.index, s.alerts.clone()));
            }
        })?;
        Ok(seen)
    }

    fn saved(&self) -> Option<Vec<u8>> {
        std::fs::read(RekorState::dir_for(&self.state, ORIGIN).join("checkpoint")).ok()
    }
}

fn indexes(seen: &[(u64, Vec<String>)]) -> Vec<u64> {
    seen.iter().map(|(i, _)| *i).collect()
}

#[test]
fn a_pass_lists_every_entry_then_a_second_only_the_new_ones() {
    let w = World::new();
    write_log(&w.log, &w.key, &leaves(300));
    let seen = ok(w.pass(&w.log, &Watch::default()));
    assert_eq!(indexes(&seen), (0..300).collect::<Vec<_>>());
    assert!(seen.iter().all(|(_, a)| a.is_empty()));
    assert!(w.saved().is_some());
    write_log(&w.log, &w.key, &leaves(320));
    let seen = ok(w.pass(&w.log, &Watch::default()));
    assert_eq!(indexes(&seen), (300..320).collect::<Vec<_>>());
    assert!(ok(w.pass(&w.log, &Watch::default())).is_empty());
}

#[test]
fn a_leaf_that_is_not_a_v002_entry_fails_the_pass_naming_it_and_nothing_is_saved() {
    let w = World::new();
    let mut l = leaves(3);
    l.push(br#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}"#.to_vec());
    write_log(&w.log, &w.key, &l);
    let e = w
        .pass(&w.log, &Watch::default())
        .err()
        .map(|e| e.to_string());
    let e = e.unwrap_or_default();
    assert!(
        e.starts_with("bad log data: entry 3: kind \"hashedrekord\" apiVersion \"0.0.1\""),
        "{e}"
    );
    assert!(w.saved().is_none());
}

#[test]
fn a_flipped_byte_in_a_tile_or_bundle_fails_the_pass_and_nothing_is_saved() {
    let w = World::new();
    write_log(&w.log, &w.key, &leaves(5));
    for (file, at) in [("tile/0/000.p/5", 40), ("tile/entries/000.p/5", 100)] {
        let bad = w.log.parent().map(|p| p.join("bad")).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&bad);
        write_log(&bad, &w.key, &leaves(5));
        let mut data = ok(std::fs::read(bad.join(file)));
        data[at] ^= 1;
        ok(std::fs::write(bad.join(file), data));
        let e = w.pass(&bad, &Watch::default()).err().map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|e| e.starts_with("bad log data:")),
            "{file}: {e:?}"
        );
        assert!(w.saved().is_none(), "{file}");
    }
    assert_eq!(ok(w.pass(&w.log, &Watch::default())).len(), 5);
}

#[test]
fn a_fork_is_a_split_view_with_both_checkpoints_as_evidence() {
    let w = World::new();
    write_log(&w.log, &w.key, &leaves(3));
    ok(w.pass(&w.log, &Watch::default()));
    let saved = w.saved();
    let fork = w.log.with_file_name("fork");
    let mut other = leaves(4);
    other.remove(0);
    write_log(&fork, &w.key, &other);
    let Err(Fault::SplitView {
        evidence: Some(ev), ..
    }) = w.pass(&fork, &Watch::default())
    else {
        panic!("the same size with another root is a split view");
    };
    let text = ok(std::fs::read_to_string(ev));
    assert!(text.contains(&ok(std::fs::read_to_string(fork.join("checkpoint")))));
    other.extend(leaves(2));
    write_log(&fork, &w.key, &other);
    let Err(Fault::SplitView {
        evidence: Some(_), ..
    }) = w.pass(&fork, &Watch::default())
    else {
        panic!("a larger tree without the saved one as its prefix is a split view");
    };
    assert_eq!(w.saved(), saved);
}

fn pattern(s: &str) -> SanPattern {
    ok(SanPattern::parse(s))
}

#[test]
fn the_watch_lists_what_matches_and_alerts_on_another_issuer() {
    let w = World::new();
    write_log(&w.log, &w.key, &leaves(4));
    let key = RekorEntry::decode(BODIES[2]).map(|e| e.signers[0].clone());
    let Ok(Signer::Key { sha256: key }) = key else {
        panic!("a key signer")
    };
    let cases: Vec<(Watch, Vec<u64>)> = vec![
        (
            Watch {
                identities: vec![pattern("alice@example.com")],
                ..Watch::default()
            },
            vec![0, 3],
        ),
        (
            Watch {
                identities: vec![pattern("https://github.com/o/r/*")],
                ..Watch::default()
            },
            vec![1],
        ),
        (
            Watch {
                identities: vec![pattern("alice@example.co")],
                ..Watch::default()
            },
            vec![],
        ),
        (
            Watch {
                keys: vec![key],
                ..Watch::default()
            },
            vec![2, 3],
        ),
        (
            Watch {
                sha256: vec![ok(hex::decode(
                    "a41f5afedda3e826aa8d0c08f2f1ebdda16893a0370b1df2cebfc87d68e1ea91",
                ))
                .try_into()
                .unwrap_or_default()],
                ..Watch::default()
            },
            vec![0, 1, 2],
        ),
        (
            Watch {
                identities: vec![pattern("alice@example.com")],
                sha256: vec![[0; 32]],
                ..Watch::default()
            },
            vec![],
        ),
    ];
    for (watch, want) in cases {
        let _ = std::fs::remove_dir_all(&w.state);
        let seen = ok(w.pass(&w.log, &watch));
        assert_eq!(indexes(&seen), want, "{watch:?}");
        assert!(seen.iter().all(|(_, a)| a.is_empty()), "{watch:?}");
    }
    // Another issuer than --issuer: listed, with an alert.
    let _ = std::fs::remove_dir_all(&w.state);
    let watch = Watch {
        identities: vec![pattern("alice@example.com")],
        issuers: vec!["https://accounts.example".into()],
        ..Watch::default()
    };
    let seen = ok(w.pass(&w.log, &watch));
    assert_eq!(indexes(&seen), vec![0, 3]);
    assert_eq!(
        seen[0].1,
        vec!["alice@example.com signed with a certificate from OIDC issuer https://issuer.example, not https://accounts.example".to_string()]
    );
}

/// Without --issuer, the issuers a pattern's identities signed with are
/// remembered: one not seen before (by an earlier pass, or earlier in this
/// one) is an alert; the first is not.
#[test]
fn a_watched_identity_signing_through_a_new_issuer_is_an_alert() {
    let w = World::new();
    let watch = Watch {
        identities: vec![
            pattern("alice@example.com"),
            pattern("https://github.com/*"),
        ],
        ..Watch::default()
    };
    write_log(&w.log, &w.key, &leaves(4));
    let seen = ok(w.pass(&w.log, &watch));
    assert_eq!(indexes(&seen), vec![0, 1, 3]);
    assert!(seen.iter().all(|(_, a)| a.is_empty()));
    let mut l = leaves(4);
    l.push(no_issuer_entry());
    write_log(&w.log, &w.key, &l);
    let seen = ok(w.pass(&w.log, &watch));
    assert_eq!(indexes(&seen), vec![4]);
    assert_eq!(
        seen[0].1,
        vec!["alice@example.com signed with a certificate from OIDC issuer (none); identities matching alice@example.com were seen only with other issuers before".to_string()]
    );
    // Remembered: the same again raises nothing.
    l.push(no_issuer_entry());
    write_log(&w.log, &w.key, &l);
    let seen = ok(w.pass(&w.log, &watch));
    assert_eq!(seen, vec![(5, vec![])]);
}

/// A certificate naming an innocent identity first and a watched one after
/// it is listed for the watched one, with an alert, whichever SAN a
/// verifier would take; and it is an alert with no watch at all.
#[test]
fn a_certificate_naming_two_identities_is_listed_for_either_and_an_alert() {
    let w = World::new();
    let mut l = leaves(2);
    l.push(cert_entry(TWO_SANS_CERT));
    write_log(&w.log, &w.key, &l);
    let watch = Watch {
        identities: vec![pattern("alice@example.com")],
        issuers: vec!["https://issuer.example".into()],
        ..Watch::default()
    };
    let seen = ok(w.pass(&w.log, &watch));
    let two = seen.iter().find(|(i, _)| *i == 2).map(|(_, a)| a.clone());
    assert_eq!(
        two,
        Some(vec!["a certificate naming 2 identities (innocent.example, alice@example.com), issuer https://issuer.example: Fulcio certifies one, and verifiers differ in which they take as the signer".to_string()])
    );
    let e = ok(RekorEntry::decode(&l[2]));
    assert_eq!(
        e.signers[0].describe(),
        "innocent.example and alice@example.com (issuer https://issuer.example)"
    );
}

/// A dsse entry (whose signatures are not checked) signed with the
/// certificate `der`.
fn cert_entry(der: &[u8]) -> Vec<u8> {
    let mut v: serde_json::Value = ok(serde_json::from_slice(BODIES[3]));
    v["spec"]["dsseV002"]["signatures"] = serde_json::json!([{
        "content": "c2ln",
        "verifier": {
            "keyDetails": "PKIX_ECDSA_P256_SHA_256",
            "x509Certificate": {"rawBytes": base64::engine::general_purpose::STANDARD.encode(der)},
        },
    }]);
    v.to_string().into_bytes()
}

const TWO_SANS_CERT: &[u8] = include_bytes!("../../../fixtures/rekor-entries/two-sans.der");

/// A dsse entry (whose signatures are not checked) signed as
/// alice@example.com with a certificate that names no OIDC issuer.
fn no_issuer_entry() -> Vec<u8> {
    cert_entry(SAN_ONLY_CERT)
}

const SAN_ONLY_CERT: &[u8] = include_bytes!("../../../fixtures/rekor-entries/san-only.der");

/// `../shared/vectors` beside the checkout, as tests/common's `vectors()`:
/// `None` (a SKIP line) when absent, a failure under `CI=true`.
pub(super) fn vectors(test: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: {} is missing, and under CI=true the vector suite must run",
        dir.display()
    );
    eprintln!("SKIP {test}: ../shared/vectors not found; the vector suite did not run");
    None
}

/// A real bundle's first log entry, and its canonicalized body.
pub(super) fn real_body(file: &Path) -> (serde_json::Value, Vec<u8>) {
    let text = ok(std::fs::read_to_string(file));
    let b: serde_json::Value = ok(serde_json::from_str(&text));
    let entry = b["verificationMaterial"]["tlogEntries"][0].clone();
    let body = ok(base64::engine::general_purpose::STANDARD
        .decode(entry["canonicalizedBody"].as_str().unwrap_or_default()));
    (entry, body)
}

/// The real Rekor v2 staging checkpoint, with its real witness
/// cosignatures, passes the monitor's checks (its log key, the two
/// witnesses required, the unknown third ignored) in a pass with nothing
/// new; a witness it lacks is refused. The entry of the bundle it came
/// from decodes and is proven in its tree.
#[test]
fn the_real_rekor_v2_checkpoint_passes_the_monitor() {
    let Some(dir) = vectors("the_real_rekor_v2_checkpoint_passes_the_monitor") else {
        return;
    };
    let real = dir.join("checkpoints-real");
    let note = ok(std::fs::read(
        real.join("rekor-v2-staging-alpha3.size4026479.cosigned.checkpoint"),
    ));
    let vkeys = ok(std::fs::read_to_string(real.join("keys/vkeys.txt")));
    let vkey = |name: &str| {
        let line = vkeys.lines().find(|l| l.starts_with(&format!("{name}+")));
        line.unwrap_or_default().to_string()
    };
    let tmp = ok(tempfile::tempdir());
    write(tmp.path(), "log/checkpoint", &note);
    let key = ok(VerifierKey::parse_log(&vkey(
        "log2025-alpha3.rekor.sigstage.dev",
    )));
    let mut o = MonitorOptions {
        url: format!("file://{}", tmp.path().join("log").display()),
        key: key.clone(),
        witnesses: [
            "witness.stagemole.eu",
            "witness.navigli.sunlight.geomys.org",
        ]
        .iter()
        .map(|w| ok(VerifierKey::parse_witness(&vkey(w))))
        .collect(),
        policy: None,
        state_root: tmp.path().join("state"),
        progress: false,
        now: 1_778_700_300,
        rebuilders: vec![],
    };
    let saved = RekorState::dir_for(&o.state_root, &key.name);
    write(&saved, "checkpoint", &note);
    let outcome = ok(run(&o, &Watch::default(), &mut |s| {
        panic!("nothing new, yet {}", s.index)
    }));
    assert_eq!((outcome.previous, outcome.size), (4_026_479, 4_026_479));
    o.witnesses
        .push(ok(SecretKey::generate("witness.example")).verifier());
    let e = run(&o, &Watch::default(), &mut |_| {}).err();
    assert!(
        matches!(e, Some(Fault::Checkpoint(_) | Fault::Quorum(_))),
        "{e:?}"
    );
    let (entry, body) =
        real_body(&dir.join("sigstore-real/a.dsse.staging-rekor-v2.txt.sigstore.json"));
    ok(RekorEntry::decode(&body));
    let proof: Vec<Hash> = entry["inclusionProof"]["hashes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| h.as_str().and_then(crate::tlog::checkpoint::parse_hash))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(proof.len(), 13);
    let end = note
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or_default();
    let cp = ok(Checkpoint::parse(&note[..=end]));
    ok(crate::tlog::verify_inclusion(
        leaf_hash(&body),
        4_026_478,
        cp.size,
        &proof,
        cp.root,
    ));
}
