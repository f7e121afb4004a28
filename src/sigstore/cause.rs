//! Why a Sigstore bundle was refused: typed, with a stable name each
//! (`verify-bundle --json`, `verify --json`, the conformance test), mapped
//! from the verifier's typed errors and never from their wording.

use sigstore_verify::{CertificateError, Error, TimestampError, TransparencyLogError};

/// The cause of a bundle's refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// The bundle does not parse, or is a version or shape no verifier
    /// accepts (malformed JSON, bad base64, a negative index, an unknown
    /// media type).
    Bundle,
    /// The trusted-root file does not parse or cannot be used.
    TrustRoot,
    /// The public key given does not parse, or the bundle is signed with a
    /// key where a certificate was expected (or the reverse).
    Key,
    /// The certificate chain: empty, carrying a root, not chaining to a
    /// Fulcio CA of the trusted root, or not valid at the signing time.
    Certificate,
    /// The certificate's signed certificate timestamp.
    Sct,
    /// Signed by someone the policy does not allow (SAN or OIDC issuer).
    Identity,
    /// The signature does not verify over the artifact or DSSE envelope.
    Signature,
    /// The bundle is about other bytes (message digest, in-toto subject).
    Artifact,
    /// The bundle's log is not in the trusted root (another instance).
    UnknownLog,
    /// The Rekor entry is malformed or does not describe this bundle.
    LogEntry,
    /// The inclusion proof is missing or does not prove the entry.
    InclusionProof,
    /// The checkpoint is malformed, unsigned by the log, or for another
    /// tree than the proof's.
    Checkpoint,
    /// The signed entry timestamp (Rekor v1) or its integrated time.
    InclusionPromise,
    /// No trusted time: the RFC 3161 timestamp is missing, invalid, from an
    /// authority the trusted root does not list, or outside its validity.
    Timestamp,
    /// A Rekor v1 entry under a policy without `allow_rekor_v1`.
    RekorV1,
    /// A rule of the bt-exec policy that no bundle can meet (a release
    /// history, several logs, rebuilders), or that this one does not
    /// (`min_release_age`, a signed checkpoint, a log entry).
    Policy,
}

impl Cause {
    /// The stable name reports and tests use.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Bundle => "bundle",
            Cause::TrustRoot => "trust-root",
            Cause::Key => "key",
            Cause::Certificate => "certificate",
            Cause::Sct => "sct",
            Cause::Identity => "identity",
            Cause::Signature => "signature",
            Cause::Artifact => "artifact",
            Cause::UnknownLog => "unknown-log",
            Cause::LogEntry => "log-entry",
            Cause::InclusionProof => "inclusion-proof",
            Cause::Checkpoint => "checkpoint",
            Cause::InclusionPromise => "inclusion-promise",
            Cause::Timestamp => "timestamp",
            Cause::RekorV1 => "rekor-v1",
            Cause::Policy => "policy",
        }
    }

    /// The cause of one of the verifier's errors, by its type.
    pub fn of(e: &Error) -> Cause {
        match e {
            Error::IdentityMismatch { .. } | Error::IssuerMismatch { .. } => Cause::Identity,
            Error::SignatureInvalid(_) | Error::Crypto(_) => Cause::Signature,
            Error::ArtifactMismatch(_) | Error::UnsupportedArtifact(_) | Error::ArtifactRead(_) => {
                Cause::Artifact
            }
            Error::Certificate(CertificateError::Sct(_)) => Cause::Sct,
            Error::Certificate(_) => Cause::Certificate,
            Error::TransparencyLog(t) => Self::of_log(t),
            Error::Timestamp(TimestampError::Invalid(_))
            | Error::Timestamp(TimestampError::OutsideAuthorityValidity { .. })
            | Error::Timestamp(TimestampError::NoVerifiedTimestamp(_)) => Cause::Timestamp,
            Error::Bundle(b) => Self::of_bundle(b),
            Error::InvalidTrustRoot(_) | Error::TrustRoot(_) | Error::TrustedCertificate(_) => {
                Cause::TrustRoot
            }
            // Types errors, malformed or unsupported bundles, and whatever a
            // later version adds: the bundle is not one this verifier takes.
            _ => Cause::Bundle,
        }
    }

    fn of_log(e: &TransparencyLogError) -> Cause {
        match e {
            TransparencyLogError::UnknownLog { .. } => Cause::UnknownLog,
            TransparencyLogError::InclusionProof(_) => Cause::InclusionProof,
            TransparencyLogError::Checkpoint(_) => Cause::Checkpoint,
            TransparencyLogError::InclusionPromise(_) | TransparencyLogError::IntegratedTime(_) => {
                Cause::InclusionPromise
            }
            TransparencyLogError::EntryMismatch(_) | TransparencyLogError::MalformedEntry(_) => {
                Cause::LogEntry
            }
            _ => Cause::LogEntry,
        }
    }

    fn of_bundle(e: &sigstore_verify::bundle::Error) -> Cause {
        use sigstore_verify::bundle::Error as B;
        match e {
            B::MissingInclusionProof(_) | B::LogIndexOutOfRange { .. } => Cause::InclusionProof,
            B::MissingCheckpoint | B::CheckpointRootMismatch => Cause::Checkpoint,
            B::MissingInclusionPromise(_) => Cause::InclusionPromise,
            B::MissingTimestamp | B::MissingSigningTimeEvidence => Cause::Timestamp,
            B::CertificateChainNotAllowed(_) => Cause::Certificate,
            _ => Cause::Bundle,
        }
    }
}

/// A refused bundle: the cause and what exactly was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct Refusal {
    pub cause: Cause,
    pub detail: String,
}

impl Refusal {
    /// The detail is escaped (`fsutil::terminal_safe`): it quotes what the
    /// bundle holds (a media type, an entry's kind, a SAN), which must not
    /// reach a terminal as control characters that rewrite what it shows.
    pub fn new(cause: Cause, detail: impl Into<String>) -> Self {
        Refusal {
            cause,
            detail: crate::fsutil::terminal_safe(&detail.into()),
        }
    }

    /// The verifier's error, its cause read from its type.
    pub fn of(e: &Error) -> Self {
        Refusal::new(Cause::of(e), e.to_string())
    }
}
