//! Why a signed note or a key was refused.

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum NoteError {
    #[error("bad key: {0}")]
    BadKey(String),
    #[error("malformed signed note: {0}")]
    Malformed(String),
    #[error("signature by {0} does not verify (the note is forged or corrupted)")]
    BadSignature(String),
    #[error("no signature by a trusted key for this note")]
    Unverified,
    #[error("signing failed: {0}")]
    Signing(String),
}
