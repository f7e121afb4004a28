//! Fuzz targets: every parser of data from outside the process, called
//! through the production functions (never copies), with the properties
//! that must hold for any input. The cargo-fuzz crate in `fuzz/` runs each
//! one under libFuzzer (docs/FUZZING.md); `tests/fuzz_replay.rs` replays
//! the committed seeds and every input a fuzzer found on the stable
//! toolchain, so CI checks them for ever.
//!
//! A target must never panic, hang or allocate past the documented caps,
//! whatever `data` is.

mod decision;

pub use decision::codes as decision_codes;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;

use crate::note::{SecretKey, VerifierKey};
use crate::tlog::{Checkpoint, Hash, SignedCheckpoint, TlogProof};

/// One fuzz target: its name (the file in `fuzz/fuzz_targets/`), the
/// production functions it calls, and its body.
pub struct Target {
    pub name: &'static str,
    pub calls: &'static str,
    pub run: fn(&[u8]),
}

/// Every target. `tests/fuzz_replay.rs` checks each has its file in
/// `fuzz/fuzz_targets/` and that no parser the project names is missing.
pub const TARGETS: &[Target] = &[
    Target {
        name: "note",
        calls: "note::open",
        run: note,
    },
    Target {
        name: "checkpoint",
        calls: "Checkpoint::parse, Checkpoint::of_note, SignedCheckpoint::verify",
        run: checkpoint,
    },
    Target {
        name: "vkey",
        calls: "VerifierKey::parse, parse_log, parse_witness, note::parse_public_key",
        run: vkey,
    },
    Target {
        name: "tlog_proof",
        calls: "TlogProof::parse (and encode)",
        run: tlog_proof,
    },
    Target {
        name: "entry",
        calls: "Entry::decode, decode_verified, encode, Release::encode_statement",
        run: entry,
    },
    Target {
        name: "index_shard",
        calls: "index::decode_shard, index::lookup",
        run: index_shard,
    },
    Target {
        name: "tiles",
        calls: "tiles::decode_bundle, consistency::inclusion_proof, consistency::prove_prefix",
        run: tiles,
    },
    Target {
        name: "policy",
        calls: "Policy::parse (the policy TOML)",
        run: policy,
    },
    Target {
        name: "tlog_policy",
        calls: "TrustPolicy::parse",
        run: tlog_policy,
    },
    Target {
        name: "gossip",
        calls: "gossip::notes, SignedCheckpoint::verify",
        run: gossip,
    },
    Target {
        name: "witness_request",
        calls: "witness::decide::check (add-checkpoint body)",
        run: witness_request,
    },
    Target {
        name: "guard_input",
        calls: "exec::guard::socket::parse_request, snapshot::parse_allow_list, snapshot::parse_md5sums",
        run: guard_input,
    },
    Target {
        name: "witness_response",
        calls: "witness::client::verify_response, checkpoint::parse_size (409 body)",
        run: witness_response,
    },
    Target {
        name: "sigsum_proof",
        calls: "sigsum_interop::verify, sigsum_interop::parse_policy",
        run: sigsum_proof,
    },
    Target {
        name: "sigstore_bundle",
        calls: "sigstore::material::split, material::prepare, TrustRoot::parse, sigstore::verify",
        run: sigstore_bundle,
    },
    Target {
        name: "rekor_entry",
        calls: "monitor::rekor::entry::RekorEntry::decode, Signer::describe",
        run: rekor_entry,
    },
    Target {
        name: "admission",
        calls: "accept::Admission::parse",
        run: admission,
    },
    Target {
        name: "submission",
        calls: "accept::submit::judge",
        run: submission,
    },
    Target {
        name: "queue_segment",
        calls: "log::queue::parse_segment",
        run: queue_segment,
    },
    Target {
        name: "log_list",
        calls: "witness::loglist::parse",
        run: log_list,
    },
    Target {
        name: "decision",
        calls:
            "verify::verify, saving::decide_and_save (structure-aware, checked by a slow reference)",
        run: decision::run,
    },
    Target {
        name: "publish_response",
        calls: "publish::logs::read_answer (a log's answer to POST /bt/add-entry), check",
        run: publish_response,
    },
    Target {
        name: "durations",
        calls: "policy::parse_duration, accept::http::parse_wait",
        run: durations,
    },
];

/// Runs the target called `name` on `data` (what each file in
/// `fuzz/fuzz_targets/` does); an unknown name is a bug in that file.
pub fn run(name: &str, data: &[u8]) {
    match TARGETS.iter().find(|t| t.name == name) {
        Some(t) => (t.run)(data),
        None => panic!("no fuzz target {name:?}"),
    }
}

/// Seeds signed by the targets' own keys (committed in `fuzz/seeds/`,
/// kept current by `tests/fuzz_replay.rs`): without them no corpus input
/// carries a signature line whose key ID the targets know, and the code
/// after a signature verifies (cosignatures, their times, the body's
/// lines) would be reached only by luck. (target, file name, bytes).
pub fn keyed_seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let k = keys();
    let cp = Checkpoint::new(&k.log.name, 5, Hash([9; 32]));
    let body = cp.encode();
    let cosig = crate::note::sign_cosignature_line(&k.witness, 1_800_000_000, &body);
    let signed = crate::log::sign_checkpoint(&k.log, &cp, &[]);
    let cosigned = crate::log::sign_checkpoint(&k.log, &cp, std::slice::from_ref(&cosig));
    let mut ext = Checkpoint::new(&k.log.name, 5, Hash([9; 32]));
    ext.extensions.push("extension line".into());
    let extended = crate::log::sign_checkpoint(&k.log, &ext, &[]);
    let proof = TlogProof {
        extra: Some(b"leaf".to_vec()),
        index: 4,
        proof: vec![Hash([1; 32]), Hash([2; 32])],
        checkpoint: cosigned.clone(),
    }
    .encode();
    let mut out = vec![];
    for t in ["note", "checkpoint", "gossip"] {
        out.push((t, "signed", signed.clone()));
        out.push((t, "cosigned", cosigned.clone()));
        out.push((t, "extension", extended.clone()));
    }
    out.push(("tlog_proof", "cosigned", proof));
    // A log's 200 that proves PUBLISHED, the only leaf of its tree.
    let one = Checkpoint::new(&k.log.name, 1, crate::tlog::leaf_hash(PUBLISHED));
    let line = crate::note::sign_cosignature_line(&k.witness, 1_800_000_000, &one.encode());
    let proven = TlogProof {
        extra: Some(PUBLISHED.to_vec()),
        index: 0,
        proof: vec![],
        checkpoint: crate::log::sign_checkpoint(&k.log, &one, &[line]),
    };
    let mut ok = vec![0u8; 9];
    ok.extend_from_slice(&proven.encode());
    out.push(("publish_response", "200", ok));
    let mut accepted = vec![1u8, 1, 0, 0, 0, 0, 0, 0, 0];
    accepted.extend_from_slice(b"index 7\n");
    out.push(("publish_response", "202", accepted));
    out
}

struct Keys {
    log: SecretKey,
    witness: SecretKey,
    log_vkey: VerifierKey,
    witness_vkey: VerifierKey,
}

/// Fixed keys (from fixed seeds: a failure replays the same way).
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let log =
            SecretKey::from_seed("fuzz.example/log", [1; 32]).unwrap_or_else(|_| unreachable!());
        let witness =
            SecretKey::from_seed("fuzz.example/w", [2; 32]).unwrap_or_else(|_| unreachable!());
        Keys {
            log_vkey: log.verifier(),
            witness_vkey: witness.verifier(),
            log,
            witness,
        }
    })
}

fn text(data: &[u8]) -> &str {
    std::str::from_utf8(data).unwrap_or("")
}

fn note(data: &[u8]) {
    let k = keys();
    let _ = crate::note::open(
        data,
        &[k.log_vkey.clone(), k.witness_vkey.to_cosignature_key()],
    );
}

fn checkpoint(data: &[u8]) {
    let k = keys();
    if let Ok(cp) = Checkpoint::parse(data) {
        // What parses encodes back to bytes that parse to the same.
        assert_eq!(Checkpoint::parse(&cp.encode()).ok(), Some(cp));
    }
    let _ = Checkpoint::of_note(data);
    let witnesses = std::slice::from_ref(&k.witness_vkey);
    let _ = SignedCheckpoint::verify(data, &k.log.name, &k.log_vkey, witnesses);
}

fn vkey(data: &[u8]) {
    let s = text(data);
    let _ = VerifierKey::parse(s);
    let _ = VerifierKey::parse_log(s);
    if let Ok(w) = VerifierKey::parse_witness(s) {
        let _ = w.to_cosignature_key();
    }
    let _ = crate::note::parse_public_key(s);
}

fn tlog_proof(data: &[u8]) {
    if let Ok(p) = TlogProof::parse(data) {
        assert_eq!(TlogProof::parse(&p.encode()).ok(), Some(p));
    }
}

fn entry(data: &[u8]) {
    if let Ok(e) = crate::entry::Entry::decode(data) {
        let again = crate::entry::Entry::decode(&e.encode());
        assert!(
            again.is_ok(),
            "an entry that decodes encodes to one that does"
        );
        let _ = e.release.encode_statement();
        let _ = e.verify_signature();
    }
}

fn index_shard(data: &[u8]) {
    let _ = crate::index::decode_shard(data);
    let mut want = [0u8; 32];
    if let Some(h) = data.get(..32) {
        want.copy_from_slice(h);
    }
    let _ = crate::index::lookup(data, &want);
}

/// Hash tiles served from the input, for checkpoints the input names.
struct Served<'a>(&'a [u8]);

impl crate::tlog::consistency::TileSource for Served<'_> {
    fn hash_tile(&self, level: u8, n: u64, width: u64) -> Result<Vec<u8>, String> {
        let len = usize::try_from(width.saturating_mul(32)).map_err(|e| e.to_string())?;
        let at = (usize::from(level) * 977 + (n % 1024) as usize * 131) % self.0.len().max(1);
        let mut out: Vec<u8> = self.0.iter().cycle().skip(at).take(len).copied().collect();
        out.truncate(len.min(self.0.len() * 4));
        Ok(out)
    }
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = data.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    u64::from_le_bytes(b)
}

fn tiles(data: &[u8]) {
    let want = usize::from(data.first().copied().unwrap_or(0));
    let _ = crate::tlog::tiles::decode_bundle(data, want);
    // Two checkpoints and a leaf index from the input, the tiles after.
    let (small, large, index) = (
        u64_at(data, 0) % 70_000,
        u64_at(data, 8) % 70_000,
        u64_at(data, 16),
    );
    let mut root = [0u8; 32];
    if let Some(r) = data.get(24..56) {
        root.copy_from_slice(r);
    }
    let served = Served(data.get(56..).unwrap_or_default());
    let cp = |size| Checkpoint::new("fuzz.example/log", size, Hash(root));
    let (older, newer) = (cp(small.min(large)), cp(small.max(large)));
    let _ = crate::tlog::consistency::inclusion_proof(&newer, index % newer.size.max(1), &served);
    let _ = crate::tlog::consistency::prove_prefix(&older, &newer, &served);
}

fn policy(data: &[u8]) {
    let _ = crate::policy::Policy::parse(text(data), std::path::Path::new("fuzz.toml"));
}

fn tlog_policy(data: &[u8]) {
    let _ = crate::policy::TrustPolicy::parse(text(data));
}

fn gossip(data: &[u8]) {
    let k = keys();
    for n in crate::exec::gossip::notes(&String::from_utf8_lossy(data)) {
        let _ = Checkpoint::of_note(n.as_bytes());
        let _ = SignedCheckpoint::verify(n.as_bytes(), &k.log.name, &k.log_vkey, &[]);
    }
}

fn witness_request(data: &[u8]) {
    let k = keys();
    let logs: HashMap<String, VerifierKey> = [(k.log.name.clone(), k.log_vkey.clone())].into();
    let prev = Checkpoint::new(&k.log.name, 3, Hash([7; 32]));
    let _ = crate::witness::decide::origin_of(data);
    let _ = crate::witness::decide::check(data, &logs, |_| Some(prev.clone()));
}

/// What the guard reads from outside: a request on its socket (any local
/// user), an allow-list and dpkg's md5sums lines. The first byte picks
/// which. A request that parses is written back and parses to itself.
fn guard_input(data: &[u8]) {
    use crate::exec::guard::{snapshot, socket};
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            if let Ok(r) = socket::parse_request(rest) {
                let again = serde_json::to_vec(&r).unwrap_or_default();
                assert_eq!(socket::parse_request(&again).ok(), Some(r));
            }
        }
        1 => {
            let _ = snapshot::parse_allow_list(rest);
        }
        _ => {
            let mut into = Default::default();
            let _ = snapshot::parse_md5sums(std::path::Path::new("f.md5sums"), rest, &mut into);
        }
    }
}

fn witness_response(data: &[u8]) {
    let k = keys();
    let cp = Checkpoint::new(&k.log.name, 5, Hash([9; 32]));
    let _ = crate::witness::client::verify_response(data, &cp, &k.witness_vkey, 1_800_000_000);
    let _ = crate::tlog::checkpoint::parse_size(text(data).trim_end_matches('\n'));
}

fn sigsum_proof(data: &[u8]) {
    static POLICY: OnceLock<Option<crate::sigsum_interop::SigsumPolicy>> = OnceLock::new();
    let policy = POLICY.get_or_init(|| {
        let k = keys();
        let text = format!(
            "log {}\nwitness W {}\nquorum W\n",
            hex::encode(k.log.key.verifying_key().as_bytes()),
            hex::encode(k.witness.key.verifying_key().as_bytes())
        );
        crate::sigsum_interop::parse_policy(&text, "fuzz").ok()
    });
    // The policy text itself, from the input.
    let _ = crate::sigsum_interop::parse_policy(text(data), "input");
    if let Some(p) = policy {
        let signer = *keys().log.key.verifying_key().as_bytes();
        let _ = crate::sigsum_interop::verify(&[3; 32], data, &[signer], p);
    }
}

fn sigstore_bundle(data: &[u8]) {
    use crate::sigstore::{material, Artifact, Expect, TrustRoot};
    static ROOT: OnceLock<Option<TrustRoot>> = OnceLock::new();
    // A root with one Ed25519 (Rekor v2) log, the fuzz log key.
    let root = ROOT.get_or_init(|| {
        use base64::Engine;
        let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
        spki.extend_from_slice(keys().log.key.verifying_key().as_bytes());
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let text = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": "https://fuzz.example",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": b64(&spki), "keyDetails": "PKIX_ED25519", "validFor": {"start": "2020-01-01T00:00:00Z"}},
                "logId": {"keyId": b64(&[9; 32])},
            }],
            "certificateAuthorities": [], "ctlogs": [], "timestampAuthorities": [],
        });
        TrustRoot::parse(text.to_string().as_bytes()).ok()
    });
    let _ = TrustRoot::parse(data);
    let Ok(bundles) = material::split(data) else {
        return;
    };
    for b in bundles {
        let (Ok(m), Some(root)) = (material::prepare(b), root) else {
            continue;
        };
        let expect = Expect::Exact {
            san: "a@fuzz.example",
            issuer: "https://fuzz.example",
        };
        let _ = crate::sigstore::verify(
            root,
            &m,
            Artifact::Sha256 {
                sha256: [3; 32],
                bytes: None,
            },
            expect,
        );
    }
}

fn admission(data: &[u8]) {
    if let Ok(a) = crate::accept::Admission::parse(text(data)) {
        let _ = a.admit(&keys().log.key.verifying_key().into(), "a.example/x");
    }
}

fn submission(data: &[u8]) {
    use crate::accept::submit::{judge, Context, Quotas};
    static ADMISSION: OnceLock<Option<crate::accept::Admission>> = OnceLock::new();
    let Some(adm) = ADMISSION.get_or_init(|| {
        crate::accept::Admission::parse("[open]\nnames = [\"*\"]\nquota = 2\n").ok()
    }) else {
        return;
    };
    let none = |_: &Hash| None;
    let ctx = Context {
        admission: adm,
        index_of: &none,
        pending: 0,
    };
    let mut q = Quotas::default();
    let addr = IpAddr::from([192, 0, 2, 1]);
    let first = judge(data, addr, 1_000, &ctx, &mut q);
    // Judged again, an accepted entry is counted once more, never refused
    // for another reason than its quota.
    if let crate::accept::submit::Verdict::Accept { .. } = first {
        let again = judge(data, addr, 1_000, &ctx, &mut q);
        assert!(matches!(
            again,
            crate::accept::submit::Verdict::Accept { .. }
                | crate::accept::submit::Verdict::Refuse { status: 429, .. }
        ));
    }
}

fn queue_segment(data: &[u8]) {
    let (records, torn) = crate::log::queue::parse_segment(data);
    if torn.is_none() {
        assert!(records.iter().map(|r| r.len() + 36).sum::<usize>() + 16 <= data.len().max(16));
    }
}

/// The leaf `publish_response` submits.
const PUBLISHED: &[u8] = b"leaf";

/// The log `publish_response` submits to, and the witness it requires.
fn publishing() -> Option<&'static (crate::policy::TrustPolicy, crate::publish::Target)> {
    static IT: OnceLock<Option<(crate::policy::TrustPolicy, crate::publish::Target)>> =
        OnceLock::new();
    IT.get_or_init(|| {
        let k = keys();
        let text = format!(
            "log {}\nwitness w {}\nquorum w\n",
            k.log_vkey.encode(),
            k.witness_vkey.encode()
        );
        let target = crate::publish::Target {
            url: "https://fuzz.example".into(),
            key: k.log_vkey.clone(),
            id: crate::log_id::LogId::new(&k.log.name, &k.log_vkey),
        };
        Some((crate::policy::TrustPolicy::parse(&text).ok()?, target))
    })
    .as_ref()
}

fn publish_response(data: &[u8]) {
    use crate::publish::logs::{read_answer, Answer};
    let Some((trust, target)) = publishing() else {
        return;
    };
    // The status from the first byte, Retry-After from the next eight.
    let status =
        [200, 202, 429, 503, 400, 500][usize::from(data.first().copied().unwrap_or(0)) % 6];
    let retry = u64_at(data, 1);
    let retry_after = (retry % 3 != 0).then_some(retry);
    let body = data.get(9..).unwrap_or_default();
    match read_answer(
        status,
        body,
        retry_after,
        PUBLISHED,
        target,
        trust,
        1_800_000_000,
    ) {
        // Only a proof `check` passes (its leaf, the log key, the quorum,
        // inclusion) is ever taken, and only with the lines that verified:
        // checked again, nothing more is dropped from it.
        Answer::Proof(p) => {
            let again = crate::publish::logs::check(&p, PUBLISHED, target, trust, 1_800_000_000);
            assert_eq!(again.as_ref(), Ok(&p));
        }
        Answer::Retry(d, _) => assert!((1..=3600).contains(&d.as_secs())),
        Answer::Index(..) | Answer::Refused(_) => {}
    }
}

fn rekor_entry(data: &[u8]) {
    use crate::monitor::rekor::entry::RekorEntry;
    if let Ok(e) = RekorEntry::decode(data) {
        for s in &e.signers {
            let _ = (s.describe(), s.sans().count());
        }
    }
}

fn log_list(data: &[u8]) {
    let _ = crate::witness::loglist::parse(text(data));
}

fn durations(data: &[u8]) {
    let _ = crate::policy::parse_duration(text(data));
    let _ = crate::accept::http::parse_wait(Some(text(data)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 200 seed is a proof `read_answer` takes, so the fuzzer starts
    /// from the answer that writes a proof file.
    #[test]
    fn the_200_seed_is_a_usable_proof() {
        let seeds = keyed_seeds();
        let (_, _, data) = seeds
            .iter()
            .find(|(t, n, _)| *t == "publish_response" && *n == "200")
            .unwrap();
        let (trust, target) = publishing().unwrap();
        let a = crate::publish::logs::read_answer(
            200,
            &data[9..],
            None,
            PUBLISHED,
            target,
            trust,
            1_800_000_000,
        );
        assert!(matches!(a, crate::publish::logs::Answer::Proof(_)), "{a:?}");
    }
}
