//! The routes beyond the log's own proof: rebuilder attestations,
//! `[sigsum]` proofs, audit mode, and a split view whose evidence cannot
//! be written.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use bt_exec::exec::verdict::{judge, Judgement};
use bt_exec::store::Ingested;
use bt_exec::verify;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

use super::scenarios::{extended, serving_a_fork, verdict, Outcome};
use super::world::{program, World, NOW};

/// The rebuilder the policy lists (`r1`).
pub fn rebuilder() -> SigningKey {
    SigningKey::from_bytes(&[21; 32])
}

/// Release 1.0 at leaf 3 of log 0 under a policy that needs one rebuilder
/// (`r1`); `attest` appends what attests it. The log serves the tiles and
/// index of everything, and a checkpoint cosigned at size `cosigned`
/// (default: everything) — smaller, the attestation is in an extension no
/// witness saw.
pub fn rebuilt(attest: fn(&mut World), cosigned: Option<u64>) -> Outcome {
    let mut w = World::new(1);
    let key = B64.encode(rebuilder().verifying_key().as_bytes());
    w.extra_policy = format!("\n[[rebuilder]]\nname = \"r1\"\nkey = \"{key}\"\n");
    w.require.push_str("rebuilders = 1\n");
    w.publish(0, "1.0", 3);
    attest(&mut w);
    let size = w.logs[0].history.leaves.len() as u64;
    let shown = cosigned.unwrap_or(size);
    w.serve_history(0, &w.logs[0].history, shown);
    w.serve_history(0, &w.logs[0].history, size);
    w.logs[0].src.put(
        "checkpoint",
        w.note_of(0, &w.logs[0].history, shown, Some(NOW - 60)),
    );
    let first = verdict(w.verify("1.0", None));
    if first.0 != 0 {
        return first;
    }
    // Warm: from the attestation cached by the first run.
    w.require.push_str("refresh = \"1h\"\n");
    verdict(w.verify("1.0", None))
}

/// `r1` attests release 1.0's own bytes.
pub fn attests_same(w: &mut World) {
    let leaf = World::entry_by(&rebuilder(), "1.0", &program("1.0").0);
    w.logs[0].history.append(leaf);
}

/// `r1` "attests" 1.0 with other bytes.
pub fn attests_other_bytes(w: &mut World) {
    let leaf = World::entry_by(&rebuilder(), "1.0", b"rebuilt otherwise");
    w.logs[0].history.append(leaf);
}

/// A key the policy does not list as a rebuilder signs the attestation.
pub fn attests_with_unlisted_key(w: &mut World) {
    let leaf = World::entry_by(&SigningKey::from_bytes(&[66; 32]), "1.0", &program("1.0").0);
    w.logs[0].history.append(leaf);
}

/// The publisher signs an "attestation" of its own release.
pub fn publisher_attests_itself(w: &mut World) {
    let leaf = w.entry("1.0", &program("1.0").0);
    w.logs[0].history.append(leaf);
}

/// The program under a `[sigsum]` policy: `tamper` changes the proof,
/// the submitter keys allowed, or the bytes.
pub fn sigsum(tamper: fn(&mut String, &mut Vec<[u8; 32]>, &mut Vec<u8>)) -> Outcome {
    let submitter = SigningKey::from_bytes(&[31; 32]);
    let (bytes, _) = program("1.0");
    let (mut proof, policy) = super::sigsum_log::one_leaf_log(&bytes, &submitter);
    let policy = bt_exec::sigsum_interop::parse_policy(&policy, "test-policy").unwrap();
    let mut keys = vec![*submitter.verifying_key().as_bytes()];
    let mut run = bytes.clone();
    tamper(&mut proof, &mut keys, &mut run);
    let file = Ingested {
        sha256: Sha256::digest(&run).into(),
        size: run.len() as u64,
        cas_path: "/nonexistent".into(),
        cached: false,
    };
    let path = std::path::Path::new("tool.sigsum-proof");
    verdict(verify::sigsum_verdict(
        file,
        path,
        proof.as_bytes(),
        &keys,
        &policy,
    ))
}

/// What audit mode does with a verdict: the exit code bt-exec ends with
/// before the exec (0: it runs), and what it says.
pub fn audited(v: verify::Verdict) -> Outcome {
    match judge(true, true, &v) {
        Judgement::Run => (0, v.reason),
        Judgement::AuditRun { cause } => {
            (0, format!("AUDIT: would refuse ({cause}): {}", v.reason))
        }
        Judgement::Refuse => (v.code, v.reason),
    }
}

/// Audit mode, a proof file of an extension no witness cosigned: it runs
/// with the warning (audit mode's purpose).
pub fn audit_extension() -> Outcome {
    let (w, h) = extended();
    let proof = w.proof_file(0, &h, 4, 5, None);
    audited(w.verify("2.0", Some(proof)))
}

/// Audit mode, a fork served by the log: a split view is never run.
pub fn audit_split_view(size: u64) -> Outcome {
    audited(serving_a_fork(size).verify("2.0", None))
}

/// A fork, and a state directory that cannot be written: still 123, and
/// the message says the evidence was not kept.
pub fn split_view_unsaved() -> Outcome {
    let w = serving_a_fork(4);
    w.store.fail_writes();
    verdict(w.verify("2.0", None))
}
