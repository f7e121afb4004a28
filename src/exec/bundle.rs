//! `bt-exec verify-bundle`: one Sigstore bundle verified exactly as the
//! Sigstore conformance suite's client protocol asks
//! (`--bundle FILE (--certificate-identity ID --certificate-oidc-issuer URL
//! | --key FILE) [--trusted-root FILE] FILE_OR_DIGEST`), so the official
//! harness can drive it unchanged. Verdicts follow Sigstore's verifiers:
//! no policy, no witnesses, Rekor v1 allowed (docs/SIGSTORE.md). Also the
//! artifact reading shared with the policy form (`--sigstore-bundle`).

use std::io::Read;
use std::path::Path;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::exec::app::Fail;
use crate::sigstore::{self, material, Artifact, Cause, Expect, Key, Proven, Refusal, TrustRoot};
use crate::verify::exit;

/// The largest artifact whose bytes are handed to the verifier (a message
/// signature in Ed25519 needs them); a larger one is checked by its
/// SHA-256, computed while it is read.
pub const MAX_ARTIFACT_BYTES_IN_MEMORY: u64 = 64 << 20;

/// An artifact as the verifier takes it: its bytes, or only its digest.
pub enum OwnedArtifact {
    Bytes(Vec<u8>),
    Sha256([u8; 32]),
}

impl OwnedArtifact {
    pub fn as_artifact(&self) -> Artifact<'_> {
        match self {
            OwnedArtifact::Bytes(b) => Artifact::Bytes(b),
            OwnedArtifact::Sha256(d) => Artifact::Sha256 {
                sha256: *d,
                bytes: None,
            },
        }
    }
}

/// `sha256:HEX`, or a file: its bytes up to
/// [`MAX_ARTIFACT_BYTES_IN_MEMORY`], else its digest.
pub fn artifact(spec: &str) -> Result<OwnedArtifact, Fail> {
    if let Some(h) = spec.strip_prefix("sha256:") {
        return digest_hex(h).map(OwnedArtifact::Sha256);
    }
    read_artifact(Path::new(spec))
        .map_err(|e| Fail::new(exit::NOT_FOUND, format!("artifact {spec}: {e}")))
}

/// 64 hex digits.
pub fn digest_hex(h: &str) -> Result<[u8; 32], Fail> {
    hex::decode(h)
        .ok()
        .and_then(|d| d.try_into().ok())
        .ok_or_else(|| Fail::new(exit::CONFIG, format!("sha256 {h:?}: not 64 hex digits")))
}

/// A regular file's bytes, or its digest when it is large.
pub fn read_artifact(path: &Path) -> std::io::Result<OwnedArtifact> {
    let (f, meta) = crate::fsutil::open_regular_with_metadata(path)?;
    if meta.len() <= MAX_ARTIFACT_BYTES_IN_MEMORY {
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        f.take(MAX_ARTIFACT_BYTES_IN_MEMORY + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() as u64 <= MAX_ARTIFACT_BYTES_IN_MEMORY {
            return Ok(OwnedArtifact::Bytes(bytes));
        }
    }
    let mut f = crate::fsutil::open_regular(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(OwnedArtifact::Sha256(h.finalize().into()))
}

/// A trusted-root file, read (capped) and parsed; 125 when it cannot be.
pub fn load_root(path: &Path) -> Result<TrustRoot, (Fail, Option<Cause>)> {
    let bytes = crate::fsutil::read_capped(path, sigstore::root::MAX_ROOT_BYTES).map_err(|e| {
        (
            Fail::new(
                exit::CONFIG,
                format!("trusted root {}: {e}", path.display()),
            ),
            Some(Cause::TrustRoot),
        )
    })?;
    TrustRoot::parse(&bytes).map_err(|r| {
        (
            Fail::new(
                exit::CONFIG,
                format!("trusted root {}: {}", path.display(), r.detail),
            ),
            Some(r.cause),
        )
    })
}

/// The bundles of a bundle file (one, or JSON lines), read capped: each
/// prepared, or why it could not be.
pub fn read_bundles(path: &Path) -> Result<Vec<Result<material::Material, Refusal>>, Refusal> {
    let bytes = crate::fsutil::read_capped(path, material::MAX_BUNDLE_BYTES)
        .map_err(|e| Refusal::new(Cause::Bundle, format!("{}: {e}", path.display())))?;
    Ok(material::split(&bytes)?
        .into_iter()
        .map(material::prepare)
        .collect())
}

/// Whom `verify-bundle` expects.
pub enum Expected {
    Identity { san: String, issuer: String },
    Key(std::path::PathBuf),
}

/// What `verify-bundle` was asked.
pub struct Request<'a> {
    pub bundle: &'a Path,
    pub expected: Expected,
    pub trusted_root: &'a Path,
    pub artifact: &'a str,
}

/// The verdict: the bundle proven, or why not (exit code, message, and
/// the refusal's cause when it has one).
pub fn verify_bundle(req: &Request) -> Result<Proven, (Fail, Option<Cause>)> {
    let root = load_root(req.trusted_root)?;
    let key;
    let expect = match &req.expected {
        Expected::Identity { san, issuer } => Expect::Exact { san, issuer },
        Expected::Key(p) => {
            key = load_key(p)?;
            Expect::Key(&key)
        }
    };
    let art = artifact(req.artifact).map_err(|f| (f, None))?;
    let refused = |r: Refusal| {
        let msg = format!(
            "refused {}: {}: {}",
            req.bundle.display(),
            r.cause.name(),
            r.detail
        );
        (Fail::new(exit::REFUSED, msg), Some(r.cause))
    };
    let bundles = read_bundles(req.bundle).map_err(refused)?;
    sigstore::first_proven(&bundles, |m| {
        sigstore::verify(&root, m, art.as_artifact(), expect)
    })
    .map_err(refused)
}

fn load_key(path: &Path) -> Result<Key, (Fail, Option<Cause>)> {
    let bad = |m: String| {
        (
            Fail::new(exit::CONFIG, format!("key {}: {m}", path.display())),
            Some(Cause::Key),
        )
    };
    let text = crate::fsutil::read_capped(path, 64 << 10).map_err(|e| bad(e.to_string()))?;
    let text = String::from_utf8(text).map_err(|_| bad("not UTF-8".into()))?;
    Key::from_pem(&text).map_err(bad)
}

/// A proven bundle as `--json` reports it (and `verify --json`'s log part).
/// `held` (a Rekor log of the policy proved it): its checkpoint was held
/// to the witnesses, freshness and consistency with what was seen before.
pub fn proven_json(p: &Proven, held: bool) -> Value {
    json!({
        "identity": p.identity,
        "issuer": p.issuer,
        "key_sha256": p.key,
        "log": p.log.as_ref().map(|l| json!({
            "origin": l.origin,
            "url": l.base_url,
            "log_id": hex::encode(&l.log_id),
        })),
        "rekor": if p.rekor_v2() { 2 } else { 1 },
        "entry": format!("{} {}", p.facts.kind, p.facts.kind_version),
        "log_index": p.facts.index,
        "checkpoint_size": p.facts.checkpoint.as_ref().map(|c| c.size),
        "signed_at": p.signed_at,
        "timestamp_source": p.time_source.map(|t| t.name()),
        "witnessed": held,
        "consistency_checked": held,
    })
}
