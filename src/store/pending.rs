//! Pairs of checkpoints of one log not yet proven one history (DESIGN §6,
//! "Consistency that cannot be checked now"): a checkpoint that met the
//! policy by itself proved a leaf while the tiles that would link it to
//! the checkpoint in force could not be read (offline, the log down). The
//! pair is kept here, one file per log, until an online contact proves it
//! (then it is removed) or proves it a split view (evidence and alarm).

use serde::{Deserialize, Serialize};

use super::{io, Store, StoreError};
use crate::fsutil::{self, Durability};
use crate::log_id::LogId;
use crate::tlog::MAX_CHECKPOINT_BYTES;

/// At most this many pairs wait per log: a machine that long offline
/// must go online before it defers another one (the run is then 124).
pub const MAX_PENDING: usize = 32;

/// One pending pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    /// The checkpoint in force when the pair was kept (its note).
    pub anchor: String,
    /// The checkpoint that proved a leaf without being linked to it.
    pub unlinked: String,
    /// When the pair was kept (Unix seconds).
    pub recorded: u64,
    /// Where the unlinked checkpoint came from (a proof file's path).
    pub from: String,
}

impl Pair {
    /// The first line of both notes' bodies past the origin — size, then
    /// root — is what identifies a tree; two notes of one tree with other
    /// cosignatures are one pair.
    pub fn tree(note: &str) -> (&str, &str) {
        let mut l = note.lines().skip(1);
        (l.next().unwrap_or_default(), l.next().unwrap_or_default())
    }

    /// Whether this pair's unlinked checkpoint is the tree of `note`.
    pub fn is_of(&self, note: &str) -> bool {
        Self::tree(&self.unlinked) == Self::tree(note)
    }
}

/// `pairs` with `add` (each only once per tree) and without the pairs
/// whose unlinked checkpoint is the tree of one of `settled`.
pub fn updated(mut pairs: Vec<Pair>, add: &[Pair], settled: &[String]) -> Vec<Pair> {
    pairs.retain(|p| !settled.iter().any(|s| p.is_of(s)));
    for a in add {
        if !pairs.iter().any(|p| p.is_of(&a.unlinked)) {
            pairs.push(a.clone());
        }
    }
    pairs
}

/// The cap on a pending file: every pair's two notes at their cap.
const MAX_FILE_BYTES: usize = MAX_PENDING * (2 * MAX_CHECKPOINT_BYTES + 4096);

impl Store {
    pub fn pending_path(&self, log: &LogId) -> std::path::PathBuf {
        self.state
            .join("pending")
            .join(format!("{}.json", log.file_key()))
    }

    /// The pending pairs of `log`. A file that cannot be read or parsed is
    /// an error, never "none": forgetting a pair could hide a fork.
    pub fn pending(&self, log: &LogId) -> Result<Vec<Pair>, StoreError> {
        let p = self.pending_path(log);
        match fsutil::read_optional(&p, MAX_FILE_BYTES).map_err(io(&p))? {
            None => Ok(vec![]),
            Some(b) => serde_json::from_slice(&b).map_err(|e| StoreError {
                path: p,
                err: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            }),
        }
    }

    /// Adds `add` and removes what `settled` proves (call under the state
    /// lock); the file is removed when no pair is left.
    pub fn update_pending(
        &self,
        log: &LogId,
        add: &[Pair],
        settled: &[String],
    ) -> Result<(), StoreError> {
        let p = self.pending_path(log);
        let pairs = updated(self.pending(log)?, add, settled);
        if pairs.is_empty() {
            return match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&p)(e)),
                _ => Ok(()),
            };
        }
        let data = serde_json::to_vec_pretty(&pairs).unwrap_or_default();
        // Kept through a power loss: a lost pair is a fork unseen.
        fsutil::write_atomic(&p, &data, 0o644, Durability::Sync).map_err(io(&p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(unlinked: &str) -> Pair {
        Pair {
            anchor: "o\n1\nr\n".into(),
            unlinked: unlinked.into(),
            recorded: 1,
            from: "f".into(),
        }
    }

    /// A tree is kept once whatever its cosignatures; settling one removes
    /// only its own pair; the file goes once empty, and garbage in it is
    /// an error rather than "nothing pending".
    #[test]
    fn pairs_are_kept_once_per_tree_and_never_lost_in_silence() {
        let a = pair("o\n5\nA\n\n— log x\n");
        let a2 = pair("o\n5\nA\n\n— log y\n— witness z\n");
        let b = pair("o\n6\nB\n\n— log x\n");
        let p = updated(vec![], &[a.clone(), a2, b.clone()], &[]);
        assert_eq!(p, vec![a.clone(), b.clone()]);
        assert_eq!(updated(p, &[], &["o\n5\nA\n".into()]), vec![b]);

        let dir = tempfile::tempdir().unwrap();
        let store = Store {
            cache: dir.path().join("c"),
            state: dir.path().join("s"),
        };
        let key = crate::note::SecretKey::from_seed("o", [1; 32]).unwrap();
        let id = LogId::new("o", &key.verifier());
        store
            .update_pending(&id, std::slice::from_ref(&a), &[])
            .unwrap();
        assert_eq!(store.pending(&id).unwrap(), vec![a.clone()]);
        store.update_pending(&id, &[], &[a.unlinked]).unwrap();
        assert!(!store.pending_path(&id).exists());
        std::fs::create_dir_all(store.state.join("pending")).unwrap();
        std::fs::write(store.pending_path(&id), b"not json").unwrap();
        assert!(store.pending(&id).is_err());
    }
}
