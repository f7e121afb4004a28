//! A Sigstore trusted root (`trusted_root.json`): the verifier built from
//! it, and the transparency logs it lists as bt-exec names them (origin,
//! URL, key), to check a policy's `log` lines against and to report which
//! log proved a bundle.

use serde::Deserialize;
use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::Verifier;

use super::cause::{Cause, Refusal};
use super::material::b64;

/// The largest trusted-root file read (Sigstore's are ~10 KiB).
pub const MAX_ROOT_BYTES: usize = 1 << 20;

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before
/// the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A transparency log the trusted root lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootLog {
    pub base_url: String,
    /// The URL's host (and port, when it names one): a Rekor v2 log's
    /// checkpoint origin, and the start of a Rekor v1 log's.
    pub origin: String,
    pub log_id: Vec<u8>,
    /// The key's SubjectPublicKeyInfo (DER).
    pub spki: Vec<u8>,
}

impl RootLog {
    /// The raw Ed25519 key, when the log's key is one (Rekor v2).
    pub fn ed25519(&self) -> Option<[u8; 32]> {
        self.spki
            .strip_prefix(ED25519_SPKI_PREFIX.as_slice())
            .and_then(|k| k.try_into().ok())
    }
}

/// A trusted root, ready to verify bundles.
pub struct TrustRoot {
    verifier: Verifier,
    pub logs: Vec<RootLog>,
}

impl std::fmt::Debug for TrustRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustRoot")
            .field("logs", &self.logs)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    #[serde(default)]
    tlogs: Vec<RawLog>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    base_url: String,
    public_key: RawKey,
    log_id: RawLogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKey {
    #[serde(default)]
    raw_bytes: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

impl TrustRoot {
    /// Parses a trusted root (its whole text) and builds its verifier.
    pub fn parse(text: &[u8]) -> Result<Self, Refusal> {
        let bad = |why: String| Refusal::new(Cause::TrustRoot, why);
        let text = std::str::from_utf8(text).map_err(|_| bad("not UTF-8".into()))?;
        let root = TrustedRoot::from_json(text).map_err(|e| bad(e.to_string()))?;
        let verifier = Verifier::new(&root).map_err(|e| bad(e.to_string()))?;
        let raw: RawRoot = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let logs = raw
            .tlogs
            .into_iter()
            .map(|l| {
                let origin = url::Url::parse(&l.base_url)
                    .ok()
                    .and_then(|u| {
                        let host = u.host_str()?;
                        Some(match u.port() {
                            Some(p) => format!("{host}:{p}"),
                            None => host.to_string(),
                        })
                    })
                    .unwrap_or_else(|| l.base_url.clone());
                Ok(RootLog {
                    origin,
                    log_id: b64(&l.log_id.key_id)
                        .ok_or_else(|| bad(format!("log {}: logId is not base64", l.base_url)))?,
                    spki: b64(&l.public_key.raw_bytes)
                        .ok_or_else(|| bad(format!("log {}: key is not base64", l.base_url)))?,
                    base_url: l.base_url,
                })
            })
            .collect::<Result<_, Refusal>>()?;
        Ok(TrustRoot { verifier, logs })
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The log with this log ID.
    pub fn log(&self, log_id: &[u8]) -> Option<&RootLog> {
        self.logs.iter().find(|l| l.log_id == log_id)
    }

    /// The logs whose origin is `origin`.
    pub fn logs_named<'a>(&'a self, origin: &'a str) -> impl Iterator<Item = &'a RootLog> {
        self.logs.iter().filter(move |l| l.origin == origin)
    }
}
