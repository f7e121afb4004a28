//! Sigsum interop: running a program whose publisher logs in Sigsum rather
//! than in a bt-log. The proof (`PROGRAM.sigsum-proof`, as `sigsum-submit`
//! writes it) is verified offline with the `sigsum` crate against a Sigsum
//! policy (a built-in name or a policy file): the submitter's signature on
//! the file's hash, the log's signature and the witness quorum on the tree
//! head, and the inclusion proof.
//!
//! What this does not give, compared with a bt-log: freshness (a Sigsum
//! proof carries the tree head of when it was made) and consistency with
//! earlier views (the proof has no tiles to prove it with). Sigsum leaves
//! carry no release name, so a submitter key is scoped to program file
//! names instead (`[[sigsum.submitter]] names`).

use std::path::Path;

/// The largest proof read: a proof is a few KiB (a tree head, cosignatures,
/// log2(size) node hashes).
pub const MAX_PROOF_BYTES: usize = 1 << 20;

/// A Sigsum policy (built in, or parsed from a file), and how it was named.
#[derive(Clone)]
pub struct SigsumPolicy {
    policy: std::sync::Arc<dyn AsPolicy>,
    pub name: String,
}

trait AsPolicy: Send + Sync {
    fn get(&self) -> &sigsum::Policy;
}

impl AsPolicy for &'static sigsum::Policy {
    fn get(&self) -> &sigsum::Policy {
        self
    }
}

impl AsPolicy for sigsum::Policy {
    fn get(&self) -> &sigsum::Policy {
        self
    }
}

impl std::fmt::Debug for SigsumPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigsumPolicy({})", self.name)
    }
}

/// A built-in policy name (`sigsum-generic-2025-1`, …) or a policy file
/// (relative to `base`).
pub fn load_policy(spec: &str, base: &Path) -> Result<SigsumPolicy, String> {
    if let Some(p) = sigsum::Policy::builtin(spec) {
        return Ok(SigsumPolicy {
            policy: std::sync::Arc::new(p),
            name: spec.to_string(),
        });
    }
    let path = if Path::new(spec).is_relative() {
        base.join(spec)
    } else {
        Path::new(spec).to_path_buf()
    };
    // Under the strict modes, as the policy file naming it (DESIGN §7).
    let text = crate::fsutil::read_config(&path, 1 << 20).map_err(|e| match e {
        crate::fsutil::ConfigReadError::Read { .. } => {
            format!("Sigsum policy {e} (nor is it a built-in policy name)")
        }
        e => format!("Sigsum policy {}: {e}", path.display()),
    })?;
    let text = String::from_utf8(text)
        .map_err(|_| format!("Sigsum policy {}: not UTF-8", path.display()))?;
    parse_policy(&text, &path.display().to_string())
}

/// A Sigsum policy from its text, named `name` in messages.
pub fn parse_policy(text: &str, name: &str) -> Result<SigsumPolicy, String> {
    let policy = sigsum::Policy::parse(text).map_err(|e| format!("Sigsum policy {name}: {e}"))?;
    Ok(SigsumPolicy {
        policy: std::sync::Arc::new(policy),
        name: name.to_string(),
    })
}

/// A submitter key: 64 hex digits (as Sigsum tools write it), or an
/// OpenSSH `ssh-ed25519` public key line.
pub fn parse_key(s: &str) -> Result<[u8; 32], String> {
    let s = s.trim();
    if s.len() == 64 {
        let raw = hex::decode(s).map_err(|e| format!("submitter key {s:?}: {e}"))?;
        return raw
            .try_into()
            .map_err(|_| format!("submitter key {s:?}: not 32 bytes"));
    }
    if let Some(b64) = s.strip_prefix("ssh-ed25519 ") {
        use base64::Engine;
        let blob = b64.split_whitespace().next().unwrap_or_default();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(blob)
            .map_err(|e| format!("submitter key: {e}"))?;
        // string "ssh-ed25519" (4 + 11 bytes), then string key (4 + 32 bytes).
        if raw.len() == 51 && raw.get(4..15) == Some(b"ssh-ed25519".as_slice()) {
            let mut k = [0u8; 32];
            k.copy_from_slice(raw.get(19..51).unwrap_or(&[0; 32]));
            return Ok(k);
        }
        return Err("submitter key: not an ssh-ed25519 key".into());
    }
    Err(format!(
        "submitter key {s:?}: 64 hex digits or an ssh-ed25519 public key"
    ))
}

/// What a verified proof said, for the report.
#[derive(Debug, Clone)]
pub struct Proven {
    /// `sigsum.org/v1/tree/<hex log key hash>`.
    pub origin: String,
    pub leaf_index: u64,
    pub size: u64,
}

/// Verifies `proof` (Sigsum's ASCII proof format) for a file whose SHA-256
/// is `sha256`, signed by one of `keys`, logged per `policy`.
pub fn verify(
    sha256: &[u8; 32],
    proof: &[u8],
    keys: &[[u8; 32]],
    policy: &SigsumPolicy,
) -> Result<Proven, String> {
    let text = std::str::from_utf8(proof).map_err(|_| "the proof is not text".to_string())?;
    let sig =
        sigsum::SigsumSignature::from_ascii(text).map_err(|e| format!("malformed proof: {e}"))?;
    let signers: Vec<sigsum::PublicKey> = keys.iter().map(|k| (*k).into()).collect();
    let message: sigsum::Hash = (*sha256).into();
    sigsum::verify(&message, &sig, &signers, policy.policy.get()).map_err(|e| e.to_string())?;
    // Only for the report: the fields the crate keeps private.
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .unwrap_or_default()
            .to_string()
    };
    Ok(Proven {
        origin: format!("sigsum.org/v1/tree/{}", field("log")),
        leaf_index: field("leaf_index").parse().unwrap_or_default(),
        size: field("size").parse().unwrap_or_default(),
    })
}
