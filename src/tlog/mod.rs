//! The transparency log core: RFC 6962 hashing, checkpoints, C2SP tile paths
//! and entry bundles, inclusion and consistency proofs, `tlog-proof` files.
//!
//! The Merkle math is `tlog_tiles` (Go's `sumdb/tlog` ported); this module
//! puts typed, size-checked edges around it.

pub mod checkpoint;
pub mod consistency;
pub mod proof;
pub mod store;
pub mod tiles;

pub use checkpoint::{
    sign_checkpoint, Checkpoint, Cosignature, SignedCheckpoint, MAX_CHECKPOINT_BYTES,
};
pub use proof::{TlogProof, MAX_PROOF_BYTES};
pub use tlog_tiles::Hash;

use crate::note::NoteError;

/// The largest tree size or index (tlog-checkpoint: 2^63 − 1).
pub const MAX_TREE_SIZE: u64 = (1 << 63) - 1;
/// No valid proof in a tree of at most 2^63 − 1 leaves is longer than this.
pub const MAX_PROOF_HASHES: usize = 63;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TlogError {
    #[error("{0}")]
    Note(#[from] NoteError),
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(String),
    #[error("checkpoint is not signed by the log key {0}")]
    NoLogSignature(String),
    #[error("wrong origin: expected {want:?}, the checkpoint says {got:?}")]
    WrongOrigin { want: String, got: String },
    #[error("{0} larger than {1} bytes")]
    TooLarge(&'static str, usize),
    #[error("malformed entry bundle: {0}")]
    BadBundle(String),
    #[error("malformed tlog-proof: {0}")]
    BadProofFile(String),
    #[error("inclusion proof for leaf {index} in tree of size {size} does not verify")]
    BadInclusion { index: u64, size: u64 },
    #[error("consistency proof from size {old} to size {new} does not verify")]
    BadConsistency { old: u64, new: u64 },
    #[error("tile data does not match the checkpoint: {0}")]
    BadTile(String),
    #[error("missing data: {0}")]
    Missing(String),
}

/// RFC 6962 leaf hash: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    tlog_tiles::record_hash(data)
}

/// RFC 6962 interior node hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: Hash, right: Hash) -> Hash {
    tlog_tiles::node_hash(left, right)
}

/// The root of the empty tree: SHA-256("").
pub fn empty_root() -> Hash {
    tlog_tiles::EMPTY_HASH
}

/// Verifies that `leaf` is at `index` in the tree of `size` with `root`.
pub fn verify_inclusion(
    leaf: Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: Hash,
) -> Result<(), TlogError> {
    let err = TlogError::BadInclusion { index, size };
    if index >= size || size > MAX_TREE_SIZE || proof.len() > MAX_PROOF_HASHES {
        return Err(err);
    }
    tlog_tiles::check_record(&proof.to_vec(), size, root, index, leaf).map_err(|_| err)
}

/// Verifies that the tree (`old`, `old_root`) is a prefix of (`new`,
/// `new_root`). Equal sizes need equal roots and an empty proof. An old size
/// of zero is rejected as meaningless (as transparency-dev/merkle does);
/// callers treat the empty tree as consistent with everything themselves.
pub fn verify_consistency(
    old: u64,
    old_root: Hash,
    new: u64,
    new_root: Hash,
    proof: &[Hash],
) -> Result<(), TlogError> {
    let err = TlogError::BadConsistency { old, new };
    if old == 0 || old > new || new > MAX_TREE_SIZE || proof.len() > MAX_PROOF_HASHES {
        return Err(err);
    }
    tlog_tiles::check_tree(&proof.to_vec(), new, new_root, old, old_root).map_err(|_| err)
}
