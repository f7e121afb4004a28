//! Signed notes (C2SP `signed-note`), Ed25519 log signatures (type 0x01) and
//! witness cosignatures (C2SP `tlog-cosignature`, `cosignature/v1`, type 0x04).
//!
//! Note parsing and the "a known key that fails rejects the note" rule come
//! from the `signed_note` crate; this module adds the cosignature/v1
//! verifier and signer it lacks, and keeps the timestamps it verified.

mod error;
mod keys;

pub use error::NoteError;

pub use keys::{
    key_id, parse_public_key, parse_public_key_with, verify_ed25519, PointCheck, PublicKey,
    SecretKey, VerifierKey, ALG_COSIGNATURE_V1, ALG_ED25519,
};

use ed25519_dalek::Signer as _;
use signed_note::{Note, Verifier, VerifierList};

/// The largest timestamp a cosignature may carry (tlog-cosignature: 2^63 − 1).
pub const MAX_TIMESTAMP: u64 = (1 << 63) - 1;

/// The message a cosignature/v1 signs: header, timestamp line, note text.
pub fn cosignature_message(timestamp: u64, text: &[u8]) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(text);
    m
}

/// Verifies Ed25519 (0x01) or cosignature/v1 (0x04) signatures for one key.
/// With `trusted`, the Ed25519 check itself is skipped (see [`open_saved`]);
/// the signature's form (length, timestamp range) is still checked.
struct KeyVerifier {
    key: VerifierKey,
    trusted: bool,
}

impl Verifier for KeyVerifier {
    fn name(&self) -> &str {
        &self.key.name
    }
    fn key_id(&self) -> u32 {
        self.key.id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self.key.alg {
            ALG_ED25519 if self.trusted => sig.len() == 64,
            ALG_ED25519 => self.key.key.verify(msg, sig),
            ALG_COSIGNATURE_V1 => {
                let Some((ts, sig)) = split_cosignature(sig) else {
                    return false;
                };
                self.trusted || self.key.key.verify(&cosignature_message(ts, msg), sig)
            }
            _ => false,
        }
    }
}

fn split_cosignature(sig: &[u8]) -> Option<(u64, &[u8])> {
    if sig.len() != 72 {
        return None;
    }
    let (ts, sig) = sig.split_at(8);
    let ts = u64::from_be_bytes(ts.try_into().ok()?);
    (ts <= MAX_TIMESTAMP).then_some((ts, sig))
}

/// A signature that verified, with the cosignature timestamp when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    pub key: VerifierKey,
    /// `Some(t)` for a cosignature/v1, `None` for an Ed25519 log signature.
    pub timestamp: Option<u64>,
}

/// A note whose signatures were checked against a set of keys.
#[derive(Debug, Clone)]
pub struct OpenedNote {
    pub text: Vec<u8>,
    pub verified: Vec<VerifiedSignature>,
    /// The signature lines from keys we do not know, kept verbatim.
    pub unknown_lines: Vec<String>,
    /// The verified signature lines, verbatim, in note order.
    pub verified_lines: Vec<String>,
}

/// Parses a signed note and checks every signature line from a known key.
/// A known key whose signature fails rejects the whole note; lines from
/// unknown keys are ignored; at least one known key must have signed.
pub fn open(msg: &[u8], keys: &[VerifierKey]) -> Result<OpenedNote, NoteError> {
    open_with(msg, keys, false)
}

/// Opens a note this process's state directory holds, which bt-exec wrote
/// only after [`open`] verified it and with only the lines that verified
/// (see [`OpenedNote::verified_note`]): signature lines are matched to
/// `keys` by name and key ID and their form is checked, but the Ed25519
/// arithmetic is not redone. The state directory is trusted for integrity
/// exactly as the content-addressed cache beside it is; never use this on
/// bytes from a log, a witness, a proof file or gossip.
pub fn open_saved(msg: &[u8], keys: &[VerifierKey]) -> Result<OpenedNote, NoteError> {
    open_with(msg, keys, true)
}

fn open_with(msg: &[u8], keys: &[VerifierKey], trusted: bool) -> Result<OpenedNote, NoteError> {
    let note = Note::from_bytes(msg).map_err(|e| NoteError::Malformed(e.to_string()))?;
    let list = VerifierList::new(
        keys.iter()
            .map(|k| {
                Box::new(KeyVerifier {
                    key: k.clone(),
                    trusted,
                }) as Box<dyn Verifier>
            })
            .collect(),
    );
    let (ok, unknown) = note.verify(&list).map_err(|e| match e {
        signed_note::NoteError::InvalidSignature { name, id } => {
            NoteError::BadSignature(format!("{name}+{id:08x}"))
        }
        signed_note::NoteError::UnverifiedNote => NoteError::Unverified,
        other => NoteError::Malformed(other.to_string()),
    })?;
    let mut verified = Vec::with_capacity(ok.len());
    let mut verified_lines = Vec::with_capacity(ok.len());
    for sig in &ok {
        let Some(key) = keys
            .iter()
            .find(|k| k.name == sig.name() && k.id == sig.id())
        else {
            continue;
        };
        let timestamp = match key.alg {
            ALG_COSIGNATURE_V1 => split_cosignature(sig.signature()).map(|(t, _)| t),
            _ => None,
        };
        verified.push(VerifiedSignature {
            key: key.clone(),
            timestamp,
        });
        verified_lines.push(sig_line(sig));
    }
    Ok(OpenedNote {
        text: note.text().to_vec(),
        verified,
        unknown_lines: unknown.iter().map(sig_line).collect(),
        verified_lines,
    })
}

impl OpenedNote {
    /// The note with only the signature lines that verified: what the state
    /// directory keeps, so a line nobody checked is never taken as verified
    /// later (say, after the policy adds its key).
    pub fn verified_note(&self) -> Vec<u8> {
        assemble(&self.text, &self.verified_lines)
    }
}

fn sig_line(sig: &signed_note::Signature) -> String {
    String::from_utf8_lossy(&sig.to_bytes())
        .trim_end_matches('\n')
        .to_string()
}

/// Signs note text with an Ed25519 key, returning the signature line.
pub fn sign_ed25519_line(key: &SecretKey, text: &[u8]) -> String {
    let v = key.verifier();
    let sig = key.key.sign(text);
    line(&v.name, v.id, &sig.to_bytes())
}

/// Signs note text as a cosignature/v1 at `timestamp`, returning the line.
pub fn sign_cosignature_line(key: &SecretKey, timestamp: u64, text: &[u8]) -> String {
    let v = key.verifier().to_cosignature_key();
    let sig = key.key.sign(&cosignature_message(timestamp, text));
    let mut raw = timestamp.to_be_bytes().to_vec();
    raw.extend_from_slice(&sig.to_bytes());
    line(&v.name, v.id, &raw)
}

fn line(name: &str, id: u32, sig: &[u8]) -> String {
    use base64::{engine::general_purpose::STANDARD as B64, Engine};
    let mut raw = id.to_be_bytes().to_vec();
    raw.extend_from_slice(sig);
    format!("— {name} {}", B64.encode(raw))
}

/// Assembles a note from its text and signature lines.
pub fn assemble(text: &[u8], lines: &[String]) -> Vec<u8> {
    let mut out = text.to_vec();
    out.push(b'\n');
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    out
}
