//! The checkpoint in a bundle's inclusion proof, held to the entry's own
//! log: its origin, and a signature by that log's key from the trusted
//! root. The verifier matches a checkpoint's signature by the 4-byte key
//! hint among every log of the root, and reads no origin.

use super::cause::{Cause, Refusal};
use super::material::{b64, Facts};
use super::root::RootLog;

/// Holds the checkpoint to the entry's log. Attack stopped: a checkpoint
/// signed by another log of the trusted root (a Rekor v2 log's key under
/// a Rekor v1 origin, or a hint that collides) vouching for an entry in a
/// log that never held it.
pub(super) fn bind(log: &RootLog, facts: &Facts) -> Result<(), Refusal> {
    let (Some(cp), Some(note)) = (&facts.checkpoint, &facts.checkpoint_note) else {
        return Ok(());
    };
    let bad = |why: String| Refusal::new(Cause::Checkpoint, why);
    let v1_origin = cp
        .origin
        .strip_prefix(log.origin.as_str())
        .is_some_and(|rest| rest.starts_with(" - "));
    if cp.origin != log.origin && !(v1_origin && log.ed25519().is_none()) {
        return Err(bad(format!(
            "the checkpoint's origin {:?} is not the entry's log {}",
            cp.origin, log.origin
        )));
    }
    let signed = match log.ed25519() {
        Some(raw) => signed_ed25519(log, raw, note),
        None => signed_by_spki(log, note),
    };
    signed.map_err(|e| {
        bad(format!(
            "the checkpoint is not signed by the entry's log {}: {e}",
            log.origin
        ))
    })
}

/// A C2SP signed note under an Ed25519 (Rekor v2) log's key and name.
fn signed_ed25519(log: &RootLog, raw: [u8; 32], note: &str) -> Result<(), String> {
    let key = crate::note::PublicKey::checked(raw)
        .ok_or_else(|| "the trusted root's key is not an Ed25519 point".to_string())?;
    let vkey = crate::note::VerifierKey::from_ed25519(&log.origin, 0x01, key)
        .map_err(|e| e.to_string())?;
    crate::note::open(note.as_bytes(), &[vkey])
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A Rekor v1 note: a signature line whose first four bytes are the log
/// ID's (SHA-256 of the key) and whose rest is the key's signature (ECDSA,
/// ASN.1 DER) over the note's text, as the verifier checks it.
fn signed_by_spki(log: &RootLog, note: &str) -> Result<(), String> {
    use sigstore_verify::crypto::VerificationKey;
    use sigstore_verify::types::{DerPublicKey, SignatureBytes};
    let (text, sigs) = note
        .split_once("\n\n")
        .ok_or_else(|| "not a signed note".to_string())?;
    let text = format!("{text}\n");
    let key = VerificationKey::from_spki(&DerPublicKey::new(log.spki.clone()))
        .map_err(|e| format!("the trusted root's key: {e}"))?;
    let hint = log.log_id.get(..4).ok_or("a log ID shorter than 4 bytes")?;
    let verifies = sigs
        .lines()
        .filter_map(|l| l.strip_prefix("\u{2014} "))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, sig)| b64(sig)))
        .filter(|raw| raw.get(..4) == Some(hint))
        .any(|raw| {
            let sig = SignatureBytes::new(raw.get(4..).unwrap_or_default().to_vec());
            key.verify(text.as_bytes(), &sig).is_ok()
        });
    if verifies {
        Ok(())
    } else {
        Err("no signature line verifies under its key".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::SecretKey;
    use crate::tlog::{sign_checkpoint, Checkpoint, Hash};

    fn log_of(key: &SecretKey, origin: &str) -> RootLog {
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        spki.extend_from_slice(key.verifier().key.as_bytes());
        RootLog {
            base_url: format!("https://{origin}"),
            origin: origin.into(),
            log_id: vec![1; 32],
            spki,
        }
    }

    fn facts(signer: &SecretKey, origin: &str) -> Facts {
        let cp = Checkpoint::new(origin, 3, Hash([7; 32]));
        let note = sign_checkpoint(signer, &cp, &[]);
        Facts {
            checkpoint: Some(cp),
            checkpoint_note: Some(String::from_utf8_lossy(&note).into_owned()),
            ..Facts::default()
        }
    }

    /// The checkpoint proving an entry is its own log's: the same origin and,
    /// for a Rekor v2 log, that log's signature — not another root log's.
    #[test]
    fn a_checkpoint_must_be_the_entrys_own_logs() {
        let k = |n: &str| SecretKey::generate(n).unwrap_or_else(|e| panic!("{e}"));
        let (ours, theirs) = (k("log.example"), k("log.example"));
        let log = log_of(&ours, "log.example");
        assert_eq!(bind(&log, &facts(&ours, "log.example")), Ok(()));
        let refused = |f: Facts| bind(&log, &f).map_err(|e| e.cause);
        // Another key under the same name: not this log's signature.
        assert_eq!(
            refused(facts(&theirs, "log.example")),
            Err(Cause::Checkpoint)
        );
        // Another origin, even one this log's key signed.
        let other = k("other.example");
        assert_eq!(
            refused(facts(&other, "other.example")),
            Err(Cause::Checkpoint)
        );
        // A Rekor v1 origin ("host - tree") only for a log that is not Ed25519.
        let f = facts(&ours, "log.example - 123");
        assert_eq!(refused(f), Err(Cause::Checkpoint));
    }

    /// A Rekor v1 (ECDSA) log: its own key's signature line, found by the
    /// log ID's first four bytes; another key under the same hint, or the
    /// right key over other text, is refused.
    #[test]
    fn a_rekor_v1_checkpoint_must_carry_its_own_logs_signature() {
        use sha2::Digest;
        use sigstore_verify::crypto::KeyPair;
        let gen = || KeyPair::generate_ecdsa_p256().unwrap_or_else(|e| panic!("{e}"));
        let (ours, theirs) = (gen(), gen());
        let spki = ours
            .public_key_der()
            .unwrap_or_else(|e| panic!("{e}"))
            .as_bytes()
            .to_vec();
        let log_id = sha2::Sha256::digest(&spki).to_vec();
        let log = RootLog {
            base_url: "https://rekor.example".into(),
            origin: "rekor.example".into(),
            log_id: log_id.clone(),
            spki,
        };
        let text = format!("rekor.example - 42\n3\n{}\n", "A".repeat(43) + "=");
        let note = |signer: &KeyPair, over: &str| {
            let sig = signer
                .sign(over.as_bytes())
                .unwrap_or_else(|e| panic!("{e}"));
            let mut raw = log_id[..4].to_vec();
            raw.extend_from_slice(sig.as_bytes());
            use base64::Engine;
            let line = base64::engine::general_purpose::STANDARD.encode(raw);
            format!("{text}\n\u{2014} rekor.example {line}\n")
        };
        let facts_of = |n: String| Facts {
            checkpoint: crate::tlog::Checkpoint::of_note(n.as_bytes()).ok(),
            checkpoint_note: Some(n),
            ..Facts::default()
        };
        assert_eq!(bind(&log, &facts_of(note(&ours, &text))), Ok(()));
        let refused = |f: Facts| bind(&log, &f).map_err(|e| e.cause);
        assert_eq!(
            refused(facts_of(note(&theirs, &text))),
            Err(Cause::Checkpoint)
        );
        assert_eq!(
            refused(facts_of(note(&ours, "other text\n"))),
            Err(Cause::Checkpoint)
        );
        // Another host's origin, though signed by this log's key.
        let evil = note(&ours, &text).replace("rekor.example - 42", "rekor.example.evil - 42");
        assert_eq!(refused(facts_of(evil)), Err(Cause::Checkpoint));
    }
}
