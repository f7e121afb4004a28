//! Checkpoints (C2SP `tlog-checkpoint`): strict parsing of the note body, and
//! verification of a signed checkpoint against a log key and witness keys.

use base64::{engine::general_purpose::STANDARD as B64, Engine};

use super::error::TlogError;
use crate::note::{self, NoteError, SecretKey, VerifierKey};
use tlog_tiles::Hash;

/// The largest tree size or index (tlog-checkpoint: 2^63 − 1).
pub const MAX_TREE_SIZE: u64 = (1 << 63) - 1;
/// A cosignature timestamp may be this far in the future (clock skew).
pub const MAX_SKEW_SECS: u64 = 600;
/// A checkpoint is read up to this many bytes (DESIGN §10).
pub const MAX_CHECKPOINT_BYTES: usize = 1 << 20;

/// The body of a checkpoint: origin, size, root hash and extension lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub extensions: Vec<String>,
}

impl Checkpoint {
    pub fn new(origin: &str, size: u64, root: Hash) -> Self {
        Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// Parses the note text of a checkpoint. Sizes are decimal with no
    /// leading zero, at most 2^63 − 1; the root is 32 bytes of padded
    /// standard base64; extension lines must not be empty.
    pub fn parse(text: &[u8]) -> Result<Self, TlogError> {
        let bad = |why: &str| TlogError::BadCheckpoint(why.to_string());
        let text = std::str::from_utf8(text).map_err(|_| bad("not UTF-8"))?;
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("does not end in a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(bad("empty origin line"));
        }
        let size = parse_size(lines.next().ok_or_else(|| bad("missing size line"))?)
            .ok_or_else(|| bad("size is not a decimal number without leading zeros, ≤ 2^63−1"))?;
        let root = parse_hash(lines.next().ok_or_else(|| bad("missing root hash line"))?)
            .ok_or_else(|| bad("root hash is not 32 bytes of standard padded base64"))?;
        let mut extensions = Vec::new();
        for l in lines {
            if l.is_empty() {
                return Err(bad("empty extension line"));
            }
            extensions.push(l.to_string());
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// The checkpoint a signed note carries, its signatures not checked:
    /// for notes this process wrote after checking them, or is about to
    /// send to be checked.
    pub fn of_note(note: &[u8]) -> Result<Self, TlogError> {
        let text = note
            .windows(2)
            .position(|w| w == b"\n\n")
            .and_then(|at| note.get(..=at))
            .ok_or_else(|| TlogError::BadCheckpoint("not a signed note".into()))?;
        Self::parse(text)
    }

    /// The note text.
    pub fn encode(&self) -> Vec<u8> {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root.0)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s.into_bytes()
    }
}

/// Parses a decimal tree size or index: no sign, no leading zero, ≤ 2^63−1.
pub fn parse_size(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse::<u64>().ok().filter(|&n| n <= MAX_TREE_SIZE)
}

/// Parses one base64 hash (standard alphabet, padded, exactly 32 bytes).
pub fn parse_hash(s: &str) -> Option<Hash> {
    if s.len() != 44 {
        return None;
    }
    let raw = B64.decode(s).ok()?;
    Some(Hash(raw.try_into().ok()?))
}

/// A cosignature that verified, with its timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    pub witness: VerifierKey,
    pub timestamp: u64,
}

/// A checkpoint whose log signature verified, with the cosignatures that
/// verified against the witness keys given.
#[derive(Debug, Clone)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub cosignatures: Vec<Cosignature>,
    /// The note as received (all signature lines, known or not).
    pub note: Vec<u8>,
    /// The note with only the signature lines that verified: what the state
    /// directory keeps.
    pub verified_note: Vec<u8>,
    /// The note's text and each verified line with its timestamp (`None`
    /// for the log's), which `verified_note` is assembled from.
    text: Vec<u8>,
    lines: Vec<(Option<u64>, String)>,
}

impl SignedCheckpoint {
    /// Verifies a checkpoint note: the log's Ed25519 signature is required,
    /// the origin must be the expected one, witness cosignatures are kept
    /// with their timestamps. A plain Ed25519 line from a witness key never
    /// counts as a cosignature (witness keys are always used in 0x04 form).
    pub fn verify(
        note_bytes: &[u8],
        origin: &str,
        log_key: &VerifierKey,
        witnesses: &[VerifierKey],
    ) -> Result<Self, TlogError> {
        Self::open_with(note_bytes, origin, log_key, witnesses, note::open)
    }

    /// A checkpoint from the state directory, saved (as
    /// [`SignedCheckpoint::verified_note`]) after [`SignedCheckpoint::verify`]
    /// passed: the same checks without redoing the signature arithmetic
    /// ([`note::open_saved`]).
    pub fn open_saved(
        note_bytes: &[u8],
        origin: &str,
        log_key: &VerifierKey,
        witnesses: &[VerifierKey],
    ) -> Result<Self, TlogError> {
        Self::open_with(note_bytes, origin, log_key, witnesses, note::open_saved)
    }

    fn open_with(
        note_bytes: &[u8],
        origin: &str,
        log_key: &VerifierKey,
        witnesses: &[VerifierKey],
        open: fn(&[u8], &[VerifierKey]) -> Result<note::OpenedNote, NoteError>,
    ) -> Result<Self, TlogError> {
        if note_bytes.len() > MAX_CHECKPOINT_BYTES {
            return Err(TlogError::TooLarge("checkpoint", MAX_CHECKPOINT_BYTES));
        }
        let mut keys = vec![log_key.clone()];
        keys.extend(witnesses.iter().map(|w| w.to_cosignature_key()));
        let opened = open(note_bytes, &keys).map_err(|e| match e {
            NoteError::Unverified => TlogError::Note(NoteError::Unverified),
            other => TlogError::Note(other),
        })?;
        if !opened.verified.iter().any(|s| s.key == *log_key) {
            return Err(TlogError::NoLogSignature(log_key.name.clone()));
        }
        let checkpoint = Checkpoint::parse(&opened.text)?;
        let verified_note = opened.verified_note();
        let lines = opened
            .verified
            .iter()
            .map(|s| s.timestamp)
            .zip(opened.verified_lines)
            .collect();
        if checkpoint.origin != origin {
            return Err(TlogError::WrongOrigin {
                want: origin.to_string(),
                got: checkpoint.origin,
            });
        }
        let cosignatures = opened
            .verified
            .into_iter()
            .filter_map(|s| {
                s.timestamp.map(|timestamp| Cosignature {
                    witness: s.key,
                    timestamp,
                })
            })
            .collect();
        Ok(SignedCheckpoint {
            checkpoint,
            cosignatures,
            note: note_bytes.to_vec(),
            verified_note,
            text: opened.text,
            lines,
        })
    }

    /// Drops the cosignatures dated after `latest` (now plus the allowed
    /// clock skew) from `cosignatures` and from `verified_note`, and
    /// returns them. The attack it stops: one witness signs a cosignature
    /// dated a year ahead; passed on, it makes every client that checks
    /// the skew refuse the whole checkpoint. Not counted and not kept, it
    /// costs that witness only.
    pub fn drop_dated_after(&mut self, latest: u64) -> Vec<Cosignature> {
        let (late, kept) = std::mem::take(&mut self.cosignatures)
            .into_iter()
            .partition(|c| c.timestamp > latest);
        self.cosignatures = kept;
        self.lines.retain(|(t, _)| t.map_or(true, |t| t <= latest));
        let lines: Vec<String> = self.lines.iter().map(|(_, l)| l.clone()).collect();
        self.verified_note = note::assemble(&self.text, &lines);
        late
    }
}

/// A checkpoint note signed by the log, with extra cosignature lines.
pub fn sign_checkpoint(key: &SecretKey, cp: &Checkpoint, cosignatures: &[String]) -> Vec<u8> {
    let text = cp.encode();
    let mut lines = vec![note::sign_ed25519_line(key, &text)];
    lines.extend_from_slice(cosignatures);
    note::assemble(&text, &lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::{assemble, sign_cosignature_line, sign_ed25519_line, SecretKey};

    #[test]
    fn the_state_keeps_only_verified_lines_and_matches_them_by_key() {
        let log = SecretKey::generate("example.org/log").unwrap_or_else(|e| panic!("{e}"));
        let w = SecretKey::generate("w.example").unwrap_or_else(|e| panic!("{e}"));
        let other = SecretKey::generate("other.example").unwrap_or_else(|e| panic!("{e}"));
        let text = Checkpoint::new("example.org/log", 3, Hash([7; 32])).encode();
        let lines = vec![
            sign_ed25519_line(&log, &text),
            sign_cosignature_line(&w, 100, &text),
            sign_cosignature_line(&other, 200, &text),
        ];
        let note = assemble(&text, &lines);
        let witnesses = [w.verifier()];
        let sc = SignedCheckpoint::verify(&note, "example.org/log", &log.verifier(), &witnesses)
            .unwrap_or_else(|e| panic!("{e}"));
        // The line nobody checked (other.example's) is not kept.
        assert_eq!(sc.verified_note, assemble(&text, &lines[..2]));
        // Opened from the state with a policy that now also trusts
        // other.example: its line is gone, so it does not count.
        let both = [w.verifier(), other.verifier()];
        let saved = SignedCheckpoint::open_saved(
            &sc.verified_note,
            "example.org/log",
            &log.verifier(),
            &both,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let ts: Vec<u64> = saved.cosignatures.iter().map(|c| c.timestamp).collect();
        assert_eq!(ts, vec![100]);
        assert_eq!(saved.checkpoint, sc.checkpoint);
        // A policy with another log key or origin still refuses the saved note.
        assert!(SignedCheckpoint::open_saved(
            &sc.verified_note,
            "example.org/log",
            &other.verifier(),
            &both
        )
        .is_err());
        assert!(SignedCheckpoint::open_saved(
            &sc.verified_note,
            "example.org/other",
            &log.verifier(),
            &both
        )
        .is_err());
        // From anywhere but the state directory the arithmetic is done: a
        // flipped byte in the log signature is refused by verify.
        let mut bad = lines[0].clone().into_bytes();
        let i = bad.len() - 3;
        bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
        let forged = assemble(&text, &[String::from_utf8(bad).unwrap_or_default()]);
        assert!(
            SignedCheckpoint::verify(&forged, "example.org/log", &log.verifier(), &witnesses)
                .is_err()
        );
    }
}
