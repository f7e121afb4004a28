//! One Rekor v2 log entry: the canonicalized JSON of an `Entry` whose spec
//! is a `HashedRekordLogEntryV002` or a `DSSELogEntryV002` (sigstore/
//! rekor-tiles `api/proto/rekor/v2/`, in protobuf's JSON mapping), read
//! strictly: `kind` and `apiVersion` first, then every field, none unknown
//! and none twice, bytes as padded standard base64, digests of their
//! algorithm's length.
//!
//! What a watcher is shown comes from here: the digest the entry logs, and
//! who signed — a certificate's SAN and Fulcio OIDC issuer, or a public
//! key's SHA-256. Nothing here checks a certificate chain: that needs the
//! instance's trusted root, and the log checked it when it took the entry.
//! A hashedrekord signature by an ECDSA or RSA key is checked over the
//! logged digest; an Ed25519 one signs the artifact itself and a DSSE one
//! the envelope's PAE, neither of which the log holds, so those are not.

use base64::Engine;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use x509_cert::der::{asn1::ObjectIdentifier, Decode, Encode};

use crate::fsutil::terminal_safe;

/// A leaf larger than this is not an entry (an entry bundle's length prefix
/// is 16 bits; a Fulcio certificate is a few KiB).
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;
/// Signatures one DSSE entry may carry.
pub const MAX_DSSE_SIGNATURES: usize = 16;

/// The Fulcio OIDC issuer extension (a DER UTF8String), and the deprecated
/// one it replaced (the raw string).
const OID_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
const OID_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// A Fulcio SAN otherName holding a username (UTF8String).
const OID_OTHERNAME_USERNAME: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    HashedRekord,
    Dsse,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::HashedRekord => "hashedrekord",
            Kind::Dsse => "dsse",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlgorithm {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "SHA2_256" => Some(Self::Sha256),
            "SHA2_384" => Some(Self::Sha384),
            "SHA2_512" => Some(Self::Sha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    fn len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// The digest an entry logs: for a hashedrekord, of the signed bytes; for
/// a dsse entry, of the envelope's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub algorithm: DigestAlgorithm,
    pub bytes: Vec<u8>,
}

impl Digest {
    /// `sha256:<hex>`.
    pub fn text(&self) -> String {
        format!("{}:{}", self.algorithm.name(), hex::encode(&self.bytes))
    }
}

/// What kind of name a certificate's SAN is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SanKind {
    Email,
    Uri,
    /// Fulcio's username otherName.
    Username,
    Dns,
}

impl SanKind {
    pub fn name(self) -> &'static str {
        match self {
            SanKind::Email => "email",
            SanKind::Uri => "uri",
            SanKind::Username => "username",
            SanKind::Dns => "dns",
        }
    }
}

/// Who signed, as the entry's verifier says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// An X.509 certificate: its first SAN Fulcio issues (email, URI,
    /// username, DNS), any other SANs it carries, and its OIDC issuer
    /// (`None` when it has neither).
    ///
    /// Attack stopped: a certificate naming an innocent identity first and
    /// a watched one after it. Verifiers differ in which SAN they take as
    /// the signer (sigstore-rust takes the first email or URI), so every
    /// SAN is shown and matched, and more than one is an alert.
    Certificate {
        san: Option<(SanKind, String)>,
        other_sans: Vec<(SanKind, String)>,
        issuer: Option<String>,
    },
    /// A public key (DER SubjectPublicKeyInfo), by its SHA-256.
    Key { sha256: [u8; 32] },
}

impl Signer {
    /// Every SAN of a certificate signer, in its order (none for a key).
    pub fn sans(&self) -> impl Iterator<Item = &str> {
        let (first, others) = match self {
            Signer::Certificate {
                san, other_sans, ..
            } => (san.as_ref(), other_sans.as_slice()),
            Signer::Key { .. } => (None, &[][..]),
        };
        first.into_iter().chain(others).map(|(_, s)| s.as_str())
    }

    /// `SAN (issuer URL)` or `key sha256:<hex>`, escaped for a terminal.
    pub fn describe(&self) -> String {
        match self {
            Signer::Certificate {
                san,
                other_sans,
                issuer,
            } => {
                let also: Vec<String> = other_sans.iter().map(|(_, s)| terminal_safe(s)).collect();
                format!(
                    "{}{} (issuer {})",
                    san.as_ref()
                        .map_or("(no SAN)".to_string(), |(_, s)| terminal_safe(s)),
                    if also.is_empty() {
                        String::new()
                    } else {
                        format!(" and {}", also.join(" and "))
                    },
                    issuer
                        .as_deref()
                        .map_or("(none)".to_string(), terminal_safe)
                )
            }
            Signer::Key { sha256 } => format!("key sha256:{}", hex::encode(sha256)),
        }
    }
}

/// One decoded entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RekorEntry {
    pub kind: Kind,
    pub digest: Digest,
    /// One for a hashedrekord; one per signature for a dsse entry.
    pub signers: Vec<Signer>,
    /// Every signature was verified over the digest (see the module doc
    /// for the ones that cannot be).
    pub signatures_checked: bool,
}

/// Why a leaf is not a Rekor v2 entry this monitor reads. The texts quote
/// the leaf only escaped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EntryError {
    #[error("{0} bytes, more than the {MAX_ENTRY_BYTES} an entry may have")]
    TooLarge(usize),
    #[error("not the JSON of a Rekor entry: {0}")]
    Json(String),
    #[error("kind {kind:?} apiVersion {version:?}: not a v0.0.2 hashedrekord or dsse entry")]
    NotV002 { kind: String, version: String },
    #[error("the spec does not hold exactly one {0} (its kind's)")]
    Spec(&'static str),
    #[error("{0}: not padded standard base64")]
    Base64(&'static str),
    #[error("digest algorithm {0:?} is not SHA2_256, SHA2_384 or SHA2_512")]
    Algorithm(String),
    #[error("a {algorithm} digest of {len} bytes")]
    DigestLength { algorithm: &'static str, len: usize },
    #[error("a verifier holds exactly one of publicKey and x509Certificate")]
    Verifier,
    #[error("x509Certificate: not a DER X.509 certificate ({0})")]
    Certificate(String),
    #[error("publicKey: not a DER SubjectPublicKeyInfo ({0})")]
    PublicKey(String),
    #[error("{0} signatures (a dsse entry has 1 to {MAX_DSSE_SIGNATURES})")]
    Signatures(usize),
    #[error("keyDetails {0} needs a {1} digest")]
    DigestForKey(String, &'static str),
    #[error("the signature does not verify with its verifier's key over the logged digest")]
    BadSignature,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Head {
    kind: String,
    api_version: String,
    #[allow(dead_code)]
    spec: serde::de::IgnoredAny,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Wire {
    #[allow(dead_code)]
    kind: String,
    #[allow(dead_code)]
    api_version: String,
    spec: Spec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Spec {
    hashed_rekord_v002: Option<HashedRekord>,
    dsse_v002: Option<Dsse>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HashedRekord {
    data: HashOutput,
    signature: Signature,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Dsse {
    payload_hash: HashOutput,
    signatures: Vec<Signature>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HashOutput {
    algorithm: String,
    digest: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Signature {
    content: String,
    verifier: Verifier,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Verifier {
    public_key: Option<RawBytes>,
    x509_certificate: Option<RawBytes>,
    key_details: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawBytes {
    raw_bytes: String,
}

fn b64(s: &str, field: &'static str) -> Result<Vec<u8>, EntryError> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| EntryError::Base64(field))
}

fn json_error(e: serde_json::Error) -> EntryError {
    EntryError::Json(terminal_safe(&e.to_string()))
}

impl RekorEntry {
    /// Decodes and checks one leaf.
    pub fn decode(leaf: &[u8]) -> Result<Self, EntryError> {
        if leaf.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge(leaf.len()));
        }
        let head: Head = serde_json::from_slice(leaf).map_err(json_error)?;
        let kind = match (head.kind.as_str(), head.api_version.as_str()) {
            ("hashedrekord", "0.0.2") => Kind::HashedRekord,
            ("dsse", "0.0.2") => Kind::Dsse,
            _ => {
                return Err(EntryError::NotV002 {
                    kind: terminal_safe(&head.kind),
                    version: terminal_safe(&head.api_version),
                })
            }
        };
        let wire: Wire = serde_json::from_slice(leaf).map_err(json_error)?;
        match (kind, wire.spec.hashed_rekord_v002, wire.spec.dsse_v002) {
            (Kind::HashedRekord, Some(h), None) => hashed_rekord(h),
            (Kind::Dsse, None, Some(d)) => dsse(d),
            (Kind::HashedRekord, ..) => Err(EntryError::Spec("hashedRekordV002")),
            (Kind::Dsse, ..) => Err(EntryError::Spec("dsseV002")),
        }
    }
}

fn digest(h: &HashOutput, field: &'static str) -> Result<Digest, EntryError> {
    let algorithm = DigestAlgorithm::parse(&h.algorithm)
        .ok_or_else(|| EntryError::Algorithm(terminal_safe(&h.algorithm)))?;
    let bytes = b64(&h.digest, field)?;
    if bytes.len() != algorithm.len() {
        return Err(EntryError::DigestLength {
            algorithm: algorithm.name(),
            len: bytes.len(),
        });
    }
    Ok(Digest { algorithm, bytes })
}

fn hashed_rekord(h: HashedRekord) -> Result<RekorEntry, EntryError> {
    let digest = digest(&h.data, "data.digest")?;
    let (signer, spki) = verifier(&h.signature.verifier)?;
    let content = b64(&h.signature.content, "signature.content")?;
    let signatures_checked =
        check_signature(&h.signature.verifier.key_details, &spki, &digest, &content)?;
    Ok(RekorEntry {
        kind: Kind::HashedRekord,
        digest,
        signers: vec![signer],
        signatures_checked,
    })
}

fn dsse(d: Dsse) -> Result<RekorEntry, EntryError> {
    let n = d.signatures.len();
    if n == 0 || n > MAX_DSSE_SIGNATURES {
        return Err(EntryError::Signatures(n));
    }
    let digest = digest(&d.payload_hash, "payloadHash.digest")?;
    let mut signers = Vec::with_capacity(n);
    for s in &d.signatures {
        b64(&s.content, "signatures.content")?;
        signers.push(verifier(&s.verifier)?.0);
    }
    Ok(RekorEntry {
        kind: Kind::Dsse,
        digest,
        signers,
        signatures_checked: false,
    })
}

/// The signer a verifier names, and its key (DER SubjectPublicKeyInfo).
fn verifier(v: &Verifier) -> Result<(Signer, Vec<u8>), EntryError> {
    match (&v.public_key, &v.x509_certificate) {
        (Some(k), None) => {
            let der = b64(&k.raw_bytes, "publicKey.rawBytes")?;
            x509_cert::spki::SubjectPublicKeyInfoRef::from_der(&der)
                .map_err(|e| EntryError::PublicKey(e.to_string()))?;
            let sha256 = Sha256::digest(&der).into();
            Ok((Signer::Key { sha256 }, der))
        }
        (None, Some(c)) => {
            let der = b64(&c.raw_bytes, "x509Certificate.rawBytes")?;
            certificate(&der)
        }
        _ => Err(EntryError::Verifier),
    }
}

/// A certificate's SAN and OIDC issuer, and its key. The extensions are
/// only shown: one that does not decode is shown as absent.
fn certificate(der: &[u8]) -> Result<(Signer, Vec<u8>), EntryError> {
    let cert = x509_cert::Certificate::from_der(der)
        .map_err(|e| EntryError::Certificate(e.to_string()))?;
    let tbs = &cert.tbs_certificate;
    let spki = tbs
        .subject_public_key_info
        .to_der()
        .map_err(|e| EntryError::Certificate(e.to_string()))?;
    let exts = tbs.extensions.as_deref().unwrap_or_default();
    let ext = |oid: ObjectIdentifier| {
        exts.iter()
            .find(|e| e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes())
    };
    let issuer = ext(OID_ISSUER_V2)
        .and_then(|v| x509_cert::der::asn1::Utf8StringRef::from_der(v).ok())
        .map(|s| s.as_str().to_string())
        .or_else(|| ext(OID_ISSUER_V1).map(|v| String::from_utf8_lossy(v).into_owned()));
    let mut sans: Vec<(SanKind, String)> =
        ext(x509_cert::der::oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME)
            .and_then(|v| x509_cert::ext::pkix::SubjectAltName::from_der(v).ok())
            .map(|names| names.0.iter().filter_map(san_of).collect())
            .unwrap_or_default();
    let san = (!sans.is_empty()).then(|| sans.remove(0));
    Ok((
        Signer::Certificate {
            san,
            other_sans: sans,
            issuer,
        },
        spki,
    ))
}

fn san_of(name: &x509_cert::ext::pkix::name::GeneralName) -> Option<(SanKind, String)> {
    use x509_cert::ext::pkix::name::GeneralName as G;
    match name {
        G::Rfc822Name(s) => Some((SanKind::Email, s.as_str().to_string())),
        G::UniformResourceIdentifier(s) => Some((SanKind::Uri, s.as_str().to_string())),
        G::DnsName(s) => Some((SanKind::Dns, s.as_str().to_string())),
        G::OtherName(o) if o.type_id == OID_OTHERNAME_USERNAME => o
            .value
            .decode_as::<x509_cert::der::asn1::Utf8StringRef>()
            .ok()
            .map(|s| (SanKind::Username, s.as_str().to_string())),
        _ => None,
    }
}

/// Checks a hashedrekord signature over the logged digest when the key's
/// scheme signs a digest (ECDSA, RSA): `Ok(true)`. `Ok(false)` for one that
/// does not (Ed25519 signs the artifact itself).
fn check_signature(
    key_details: &str,
    spki: &[u8],
    digest: &Digest,
    signature: &[u8],
) -> Result<bool, EntryError> {
    use sigstore_verify::crypto::SigningScheme as S;
    let scheme = match key_details {
        "PKIX_ECDSA_P256_SHA_256" => S::EcdsaP256Sha256,
        "PKIX_ECDSA_P384_SHA_384" => S::EcdsaP384Sha384,
        "PKIX_RSA_PKCS1V15_2048_SHA256"
        | "PKIX_RSA_PKCS1V15_3072_SHA256"
        | "PKIX_RSA_PKCS1V15_4096_SHA256" => S::RsaPkcs1Sha256,
        "PKIX_RSA_PSS_2048_SHA256" | "PKIX_RSA_PSS_3072_SHA256" | "PKIX_RSA_PSS_4096_SHA256" => {
            S::RsaPssSha256
        }
        _ => return Ok(false),
    };
    let want = match scheme {
        S::EcdsaP384Sha384 => DigestAlgorithm::Sha384,
        _ => DigestAlgorithm::Sha256,
    };
    if digest.algorithm != want {
        return Err(EntryError::DigestForKey(
            key_details.to_string(),
            want.name(),
        ));
    }
    if sigstore_verify::crypto::try_default_provider().is_none() {
        return Ok(false);
    }
    sigstore_verify::crypto::verify_signature_prehashed(
        &sigstore_verify::types::DerPublicKey::from_bytes(spki),
        &digest.bytes,
        &sigstore_verify::types::SignatureBytes::from_bytes(signature),
        scheme,
    )
    .map(|()| true)
    .map_err(|_| EntryError::BadSignature)
}

#[cfg(test)]
#[path = "entry_tests.rs"]
mod tests;
