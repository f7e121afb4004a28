//! The transparency log core: RFC 6962 hashing, checkpoints, C2SP tile paths
//! and entry bundles, inclusion and consistency proofs, `tlog-proof` files.
//!
//! The Merkle math is `tlog_tiles` (Go's `sumdb/tlog` ported); this module
//! puts typed, size-checked edges around it.

pub mod checkpoint;
pub mod consistency;
pub mod error;
pub mod proof;
pub mod store;
pub mod tiles;

pub use checkpoint::{
    sign_checkpoint, Checkpoint, Cosignature, SignedCheckpoint, MAX_CHECKPOINT_BYTES,
    MAX_SKEW_SECS, MAX_TREE_SIZE,
};
pub use error::TlogError;
pub use proof::{TlogProof, MAX_PROOF_BYTES, MAX_PROOF_HASHES};
pub use tlog_tiles::Hash;

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
