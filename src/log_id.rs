//! A log's identity (DESIGN §7): its origin **and** its key. Everything
//! bt-exec keeps per log — the saved checkpoint, cached proofs and
//! attestations, the release history, alarms, run records — is keyed by it.
//!
//! Attack stopped: state shared between two logs of one origin. Keyed by
//! origin alone, a proof cached for one log counted for another with the
//! same origin and another key (`logs = 2` met by one log), and a log whose
//! key was replaced after a compromise kept proving programs through proofs
//! cached under the old key.

use sha2::{Digest, Sha256};

use crate::note::VerifierKey;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogId {
    origin: String,
    key_id: u32,
    /// The first 16 bytes of the SHA-256 of the log's vkey, in hex: a
    /// key ID is 4 bytes, which anyone can grind a second key to match.
    key_hash: String,
}

impl LogId {
    pub fn new(origin: &str, key: &VerifierKey) -> Self {
        LogId {
            origin: origin.to_string(),
            key_id: key.id,
            key_hash: hex::encode(&Sha256::digest(key.encode().as_bytes())[..16]),
        }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The key ID as vkeys and signature lines carry it (8 hex digits).
    pub fn key_id(&self) -> String {
        format!("{:08x}", self.key_id)
    }

    /// The 32 hex digits of the SHA-256 of the log's vkey (its first 16
    /// bytes): what names the log's proof beside a program
    /// (`PROGRAM.tlog-proofs/<key hash>.tlog-proof`).
    pub fn key_hash(&self) -> &str {
        &self.key_hash
    }

    /// The name of this log's files in the state directory:
    /// `<origin-key>-<key-hash>` (both hex, so any origin is a safe name).
    pub fn file_key(&self) -> String {
        format!("{}-{}", origin_key(&self.origin), self.key_hash)
    }

    /// How reports name this log: its origin, and its key ID too when
    /// another configured log has the same origin (`ambiguous`).
    pub fn label(&self, ambiguous: bool) -> String {
        if ambiguous {
            format!("{} (key {})", self.origin, self.key_id())
        } else {
            self.origin.clone()
        }
    }
}

/// The hex name of an origin in the state directory. Alone, it is how
/// versions before per-key state named a log's files (the migration reads
/// them: [`crate::store::migrate`]); it also prefixes every [`LogId::file_key`].
pub fn origin_key(origin: &str) -> String {
    hex::encode(&Sha256::digest(origin.as_bytes())[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::SecretKey;

    #[test]
    fn one_origin_two_keys_are_two_logs() {
        let a = SecretKey::from_seed("example.org/log", [1; 32]).unwrap();
        let b = SecretKey::from_seed("example.org/log", [2; 32]).unwrap();
        let (ia, ib) = (
            LogId::new("example.org/log", &a.verifier()),
            LogId::new("example.org/log", &b.verifier()),
        );
        assert_ne!(ia, ib);
        assert_ne!(ia.file_key(), ib.file_key());
        assert!(ia.file_key().starts_with(&origin_key("example.org/log")));
        assert_eq!(ia.label(false), "example.org/log");
        assert_eq!(
            ia.label(true),
            format!("example.org/log (key {:08x})", a.verifier().id)
        );
        assert_eq!(ia, LogId::new("example.org/log", &a.verifier()));
    }
}
