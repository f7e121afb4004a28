//! Each log's saved state, keyed by its identity ([`LogId`]): the latest
//! verified checkpoint, cached inclusion proofs and attestations, split-view
//! evidence and alarms.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::{io, CachedProof, Store, StoreError};
use crate::fsutil::{self, Durability};
use crate::log_id::{origin_key, LogId};
use crate::tlog::MAX_CHECKPOINT_BYTES;

impl Store {
    pub fn checkpoint_path(&self, log: &LogId) -> PathBuf {
        self.state
            .join("checkpoints")
            .join(format!("{}.checkpoint", log.file_key()))
    }

    /// The latest verified checkpoint note of `log`, unverified bytes.
    pub fn checkpoint(&self, log: &LogId) -> Option<Vec<u8>> {
        fsutil::read_optional(&self.checkpoint_path(log), MAX_CHECKPOINT_BYTES)
            .ok()
            .flatten()
    }

    /// When the checkpoint of `log` was last fetched and saved (Unix
    /// seconds, the file's modification time).
    pub fn checkpoint_saved_at(&self, log: &LogId) -> Option<u64> {
        let m = std::fs::metadata(self.checkpoint_path(log))
            .ok()?
            .modified()
            .ok()?;
        m.duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs())
    }

    /// Saves a verified checkpoint: atomic (a killed process leaves the old
    /// or the new file), not fsynced — after a power loss a lost or empty
    /// file only means "nothing cached", and everything read back is
    /// verified again. Evidence and alarms are fsynced.
    pub fn save_checkpoint(&self, log: &LogId, note: &[u8]) -> Result<(), StoreError> {
        let p = self.checkpoint_path(log);
        fsutil::write_atomic(&p, note, 0o644, Durability::Batch).map_err(io(&p))
    }

    /// Every saved checkpoint note (for `gossip export` and `status`).
    pub fn all_checkpoints(&self) -> Vec<Vec<u8>> {
        let Ok(rd) = std::fs::read_dir(self.state.join("checkpoints")) else {
            return vec![];
        };
        let mut out: Vec<_> = rd
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".checkpoint"))
            .filter_map(|e| fsutil::read_capped(&e.path(), MAX_CHECKPOINT_BYTES).ok())
            .collect();
        out.sort();
        out
    }

    fn proof_path(&self, log: &LogId, sha256: &[u8; 32]) -> PathBuf {
        self.state
            .join("proofs")
            .join(log.file_key())
            .join(hex::encode(sha256))
    }

    pub fn proof(&self, log: &LogId, sha256: &[u8; 32]) -> Option<CachedProof> {
        let b = fsutil::read_optional(&self.proof_path(log, sha256), 64 * 1024 + 8192).ok()??;
        serde_json::from_slice(&b).ok()
    }

    fn attestation_dir(&self, log: &LogId, sha256: &[u8; 32]) -> PathBuf {
        self.state
            .join("proofs")
            .join(log.file_key())
            .join(format!("{}.attest", hex::encode(sha256)))
    }

    /// Rebuilder attestations of this file cached by earlier runs.
    pub fn attestations(&self, log: &LogId, sha256: &[u8; 32]) -> Vec<CachedProof> {
        let Ok(rd) = std::fs::read_dir(self.attestation_dir(log, sha256)) else {
            return vec![];
        };
        rd.flatten()
            .take(256)
            .filter_map(|e| fsutil::read_capped(&e.path(), 64 * 1024 + 8192).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect()
    }

    /// Caches a verified attestation by the rebuilder with this key.
    pub fn save_attestation(
        &self,
        log: &LogId,
        sha256: &[u8; 32],
        key: &[u8; 32],
        p: &CachedProof,
    ) -> Result<(), StoreError> {
        let path = self
            .attestation_dir(log, sha256)
            .join(hex::encode(&key[..16]));
        let data = serde_json::to_vec(p).unwrap_or_default();
        fsutil::write_atomic(&path, &data, 0o644, Durability::Batch).map_err(io(&path))
    }

    pub fn save_proof(
        &self,
        log: &LogId,
        sha256: &[u8; 32],
        p: &CachedProof,
    ) -> Result<(), StoreError> {
        let path = self.proof_path(log, sha256);
        let data = serde_json::to_vec(p).unwrap_or_default();
        fsutil::write_atomic(&path, &data, 0o644, Durability::Batch).map_err(io(&path))
    }

    /// The alarm file of `log`: present while a split view is unresolved.
    pub fn alarm_path(&self, log: &LogId) -> PathBuf {
        self.state.join("alarms").join(log.file_key())
    }

    /// Where versions that kept state by origin alone raised an alarm for
    /// `origin` (moved and cleared by [`super::migrate`] and
    /// [`Store::clear_alarms`]; a warm verdict ends while it exists).
    pub fn legacy_alarm_path(&self, origin: &str) -> PathBuf {
        self.state.join("alarms").join(origin_key(origin))
    }

    /// The evidence file of a split view recorded for `log`, if any.
    ///
    /// An alarm file that exists but cannot be read counts as raised: a
    /// split view recorded once must not be forgotten because its record
    /// became unreadable (fail closed).
    ///
    /// Its text reaches the terminal in `status` and in every refusal for
    /// the alarm: control and formatting characters in it are shown escaped,
    /// never sent (`fsutil::terminal_safe`).
    pub fn alarm(&self, log: &LogId) -> Option<String> {
        let p = self.alarm_path(log);
        match fsutil::read_optional(&p, 4096) {
            Ok(b) => b.map(|b| fsutil::terminal_safe(String::from_utf8_lossy(&b).trim())),
            Err(e) => Some(format!("{} (unreadable: {e})", p.display())),
        }
    }

    /// Writes both notes, and the consistency proof that fails between
    /// them (base64 hashes, a line each; empty for equal sizes), as
    /// evidence, and raises the log's alarm. Either write failing is an
    /// error: the user must learn that the evidence was not kept.
    pub fn record_split_view(
        &self,
        log: &LogId,
        a: &[u8],
        b: &[u8],
        proof: &str,
        now: u64,
    ) -> Result<PathBuf, StoreError> {
        // Named by both notes too: two split views recorded in one second
        // (by one gossip import, or two processes) each keep their own.
        let pair = Sha256::digest([a, b"\n", b].concat());
        let p = self.state.join("evidence").join(format!(
            "{now}-{}-{}.txt",
            log.file_key(),
            hex::encode(&pair[..6])
        ));
        let mut text = format!(
            "# split view of {} (key {}): two validly signed, inconsistent checkpoints\n",
            log.origin(),
            log.key_id()
        )
        .into_bytes();
        text.extend_from_slice(a);
        text.extend_from_slice(b"# ---\n");
        text.extend_from_slice(b);
        if !proof.is_empty() {
            text.extend_from_slice(
                b"# --- consistency proof (RFC 6962, from the larger tree's tiles) ---\n",
            );
            text.extend_from_slice(proof.as_bytes());
        }
        // The alarm is raised even when the evidence cannot be written: it
        // is what keeps the log refused on the next run.
        let evidence = fsutil::write_atomic(&p, &text, 0o644, Durability::Sync).map_err(io(&p));
        let alarm = self.alarm_path(log);
        let names = match &evidence {
            Ok(()) => p.display().to_string(),
            Err(e) => format!("evidence not saved: {e}"),
        };
        fsutil::write_atomic(&alarm, names.as_bytes(), 0o644, Durability::Sync)
            .map_err(io(&alarm))?;
        evidence.map(|()| p)
    }

    /// Clears the alarms of every log with this origin (whatever its key,
    /// and those written before state was keyed by key too); returns how
    /// many were raised.
    pub fn clear_alarms(&self, origin: &str) -> Result<usize, StoreError> {
        let dir = self.state.join("alarms");
        let legacy = origin_key(origin);
        let prefix = format!("{legacy}-");
        let names: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .flatten()
                .filter(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    n == legacy || n.starts_with(&prefix)
                })
                .map(|e| e.path())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
            Err(e) => return Err(StoreError { path: dir, err: e }),
        };
        for p in &names {
            match std::fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(StoreError {
                        path: p.clone(),
                        err: e,
                    })
                }
            }
        }
        Ok(names.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two split views of one log in one second keep two evidence files;
    /// when the evidence cannot be written the alarm is raised anyway; an
    /// alarm that cannot be read counts as raised.
    #[test]
    fn split_view_records_are_never_lost() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::note::SecretKey::from_seed("o", [1; 32]).unwrap();
        let id = LogId::new("o", &key.verifier());
        let store = Store::at(dir.path().join("cache"), dir.path().join("state"));
        let a = store.record_split_view(&id, b"a\n", b"b\n", "", 7).unwrap();
        let b = store.record_split_view(&id, b"a\n", b"c\n", "", 7).unwrap();
        assert_ne!(a, b);
        assert!(a.exists() && b.exists());
        let other = Store::at(dir.path().join("c2"), dir.path().join("s2"));
        std::fs::create_dir_all(dir.path().join("s2")).unwrap();
        std::fs::write(dir.path().join("s2/evidence"), b"in the way").unwrap();
        assert!(other.record_split_view(&id, b"a\n", b"b\n", "", 7).is_err());
        let alarm = other.alarm(&id).expect("the alarm is raised");
        assert!(alarm.contains("evidence not saved"), "{alarm}");
        std::fs::remove_file(other.alarm_path(&id)).unwrap();
        std::fs::create_dir_all(other.alarm_path(&id)).unwrap();
        assert!(other.alarm(&id).is_some(), "an unreadable alarm counts");
        std::fs::remove_dir(other.alarm_path(&id)).unwrap();
        std::fs::write(other.alarm_path(&id), b"seen\x1b[2J\nthen").unwrap();
        let shown = other.alarm(&id).unwrap();
        assert_eq!(shown, "seen\\u{1b}[2J\\u{a}then");
    }
}
