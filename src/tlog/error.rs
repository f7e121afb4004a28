//! Why log data was refused: checkpoints, bundles, proofs, tiles.

use crate::note::NoteError;

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
