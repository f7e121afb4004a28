//! Why a log refused a program (exit 126): typed, so the audit summary and
//! every other consumer decide from the cause, never from a message's
//! wording.

/// The cause of a refusal by one log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// No leaf of this log holds the file (index shard missing, no entry).
    NotInLog,
    /// No Sigstore bundle beside the program has its entry in this Rekor
    /// log (none at all, or one for another log).
    NoBundle,
    /// The leaf found is a release of other bytes.
    OtherBytes,
    /// The checkpoint is malformed, has a bad log signature or origin.
    Checkpoint,
    /// The witness cosignatures do not meet the quorum.
    Quorum,
    /// The quorum's cosignatures are older than `max_age`.
    Stale,
    /// A cosignature is dated beyond the allowed clock skew.
    FutureCosignature,
    /// A proof's checkpoint is larger than every checkpoint that meets the
    /// policy and does not meet it itself (signed by the log key alone).
    Unwitnessed,
    /// The proof file beside the program does not verify.
    ProofFile,
    /// The entry is malformed or its publisher signature does not verify.
    Entry,
    /// The release is for another platform.
    Platform,
    /// The publisher key may not publish this name.
    Publisher,
    /// A release-history rule (`latest`, `prior_revisions`,
    /// `no_downgrade`, `min_release_age`).
    ReleaseHistory,
    /// Too few rebuilder attestations.
    Rebuilders,
    /// The local state could not be read.
    State,
    /// A bug: a verification thread panicked.
    Internal,
}

impl Cause {
    /// The short name the audit summary groups refusals by (docs/AUDIT.md).
    pub fn audit_name(self) -> &'static str {
        match self {
            Cause::NotInLog | Cause::NoBundle | Cause::OtherBytes => "hash mismatch",
            Cause::Stale | Cause::FutureCosignature => "stale checkpoint",
            Cause::Publisher => "publisher not allowed",
            Cause::ReleaseHistory => "release history",
            _ => "not proven",
        }
    }

    /// What the user can do about it, where the message itself does not
    /// already say.
    pub fn hint(self) -> Option<&'static str> {
        match self {
            Cause::NotInLog | Cause::OtherBytes => {
                Some("publish this exact file with bt-log add, or check the policy's logs")
            }
            Cause::NoBundle => Some("ship the program's Sigstore bundle from this Rekor log beside it (PROGRAM.sigstore.json), or give it with --sigstore-bundle"),
            Cause::Publisher => Some("check the policy's [[publisher]] names and keys"),
            Cause::Quorum | Cause::Unwitnessed => {
                Some("check the policy's witnesses and quorum, or wait until they cosign")
            }
            _ => None,
        }
    }
}
