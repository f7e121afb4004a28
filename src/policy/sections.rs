//! The sections of the bt-exec policy file, each parsed and checked on its
//! own: the trust part (inline or `trust_file`), `[sigsum]`,
//! `[[publisher]]`, `[require]`, `[[rebuilder]]`, `mode`. Errors are the
//! message only; [`super::config`] names the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha2::Digest;

use super::parts::{
    digest_start, line_of, parse_duration, Mode, Publisher, Rebuilder, Require, SigstoreIdentity,
    SigstoreSection, SigsumSection,
};
use super::trust::{Quorum, TrustPolicy};
use crate::note::{parse_public_key_with, PointCheck};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) expires: Option<toml::value::Datetime>,
    pub(super) mode: Option<String>,
    pub(super) trust: Option<String>,
    pub(super) trust_file: Option<PathBuf>,
    #[serde(default)]
    pub(super) publisher: Vec<RawPublisher>,
    #[serde(default)]
    pub(super) require: RawRequire,
    pub(super) sigsum: Option<RawSigsum>,
    pub(super) sigstore: Option<RawSigstore>,
    #[serde(default)]
    pub(super) rebuilder: Vec<RawRebuilder>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRebuilder {
    pub(super) name: String,
    pub(super) key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSigsum {
    pub(super) policy: String,
    #[serde(default)]
    pub(super) submitter: Vec<RawPublisher>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSigstore {
    pub(super) trusted_root: PathBuf,
    #[serde(default)]
    pub(super) allow_rekor_v1: bool,
    #[serde(default)]
    pub(super) identity: Vec<RawSigstoreIdentity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSigstoreIdentity {
    pub(super) issuer: Option<String>,
    pub(super) san: Option<String>,
    pub(super) key: Option<String>,
    #[serde(default)]
    pub(super) names: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPublisher {
    pub(super) names: Vec<String>,
    pub(super) key: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRequire {
    pub(super) logs: Option<u64>,
    pub(super) max_age: Option<String>,
    pub(super) latest: Option<bool>,
    pub(super) no_downgrade: Option<bool>,
    pub(super) prior_revisions: Option<u64>,
    pub(super) min_release_age: Option<String>,
    pub(super) refresh: Option<String>,
    pub(super) rebuilders: Option<u64>,
}

/// The trust part: inline `trust` or `trust_file` (relative to the policy
/// file), exactly one; with the text's digest and whether keys are checked
/// to be curve points now (not when this text passed a full load before).
pub(super) fn trust(
    raw: &RawPolicy,
    text: &str,
    path: &Path,
    validated: &dyn Fn(&[u8; 32]) -> bool,
) -> Result<(TrustPolicy, [u8; 32], PointCheck), String> {
    let mut digest = digest_start(text.as_bytes());
    let trust_file = match (&raw.trust, &raw.trust_file) {
        (None, Some(f)) => {
            let f = if f.is_relative() {
                path.parent().unwrap_or(Path::new(".")).join(f)
            } else {
                f.clone()
            };
            // Under the strict modes, as the policy file (DESIGN §7).
            let t = crate::fsutil::read_config(&f, 1 << 20).map_err(|e| match e {
                crate::fsutil::ConfigReadError::Read { .. } => format!("trust_file {e}"),
                e => format!("trust_file {}: {e}", f.display()),
            })?;
            let t = String::from_utf8(t)
                .map_err(|_| format!("trust_file {}: not UTF-8", f.display()))?;
            digest.update(b"\ntrust_file\n");
            digest.update(t.as_bytes());
            Some((f, t))
        }
        _ => None,
    };
    let digest: [u8; 32] = digest.finalize().into();
    let check = if validated(&digest) {
        PointCheck::Later
    } else {
        PointCheck::Now
    };
    let trust = match (&raw.trust, trust_file) {
        (Some(t), None) if raw.trust_file.is_none() => {
            // Report trust lines by their line in the policy file.
            let first = text
                .find(t.lines().next().unwrap_or_default())
                .map_or(0, |o| line_of(text, o) - 1);
            TrustPolicy::parse_with(t, check)
                .map_err(|e| format!("line {}: {}", first + e.line, e.msg))?
        }
        (None, Some((f, t))) => TrustPolicy::parse_with(&t, check)
            .map_err(|e| format!("trust_file {}: {e}", f.display()))?,
        (Some(_), _) => return Err("give trust or trust_file, not both".into()),
        (None, None) if raw.sigsum.is_some() || raw.sigstore.is_some() => TrustPolicy {
            logs: vec![],
            witnesses: vec![],
            quorum: Quorum::None,
        },
        (None, None) => return Err(
            "no trust: give the trusted logs and witnesses in trust = \"\"\"…\"\"\" or trust_file"
                .into(),
        ),
    };
    Ok((trust, digest, check))
}

/// `[sigsum]`: the Sigsum policy (relative to the policy file) and the
/// submitter keys with the program file names each may prove.
pub(super) fn sigsum(s: Option<&RawSigsum>, path: &Path) -> Result<Option<SigsumSection>, String> {
    let Some(s) = s else { return Ok(None) };
    let base = path.parent().unwrap_or(Path::new("."));
    let policy = crate::sigsum_interop::load_policy(&s.policy, base)
        .map_err(|e| format!("[sigsum] policy: {e}"))?;
    let mut submitters = vec![];
    for (i, sub) in s.submitter.iter().enumerate() {
        let key = crate::sigsum_interop::parse_key(&sub.key)
            .map_err(|e| format!("[[sigsum.submitter]] #{}: {e}", i + 1))?;
        if sub.names.is_empty() || sub.names.iter().any(|n| n.is_empty() || n.contains('/')) {
            return Err(format!("[[sigsum.submitter]] #{}: names must be program file names (or prefixes ending in *)", i + 1));
        }
        submitters.push((key, sub.names.clone()));
    }
    Ok(Some(SigsumSection { policy, submitters }))
}

/// `[sigstore]`: the trusted root (relative to the policy file, read under
/// the strict modes as the policy is), whether Rekor v1 counts, and who may
/// have signed. A `log` line of the trust policy naming one of the root's
/// logs must carry the root's key for it.
pub(super) fn sigstore(
    s: Option<&RawSigstore>,
    path: &Path,
    trust: &TrustPolicy,
) -> Result<Option<SigstoreSection>, String> {
    let Some(s) = s else { return Ok(None) };
    let base = path.parent().unwrap_or(Path::new("."));
    let root_path = base.join(&s.trusted_root);
    let text = crate::fsutil::read_config(&root_path, crate::sigstore::root::MAX_ROOT_BYTES)
        .map_err(|e| format!("[sigstore] trusted_root {}: {e}", root_path.display()))?;
    let root = crate::sigstore::TrustRoot::parse(&text)
        .map_err(|e| format!("[sigstore] trusted_root {}: {e}", root_path.display()))?;
    for l in &trust.logs {
        for r in root.logs_named(&l.origin) {
            if r.ed25519() != Some(*l.key.key.as_bytes()) {
                return Err(format!(
                    "log {}: its key disagrees with the key the trusted root {} gives this log ({}): one of the two is wrong",
                    l.origin,
                    root_path.display(),
                    r.base_url
                ));
            }
        }
    }
    let identities = s
        .identity
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            sigstore_identity(raw, base)
                .map_err(|e| format!("[[sigstore.identity]] #{}: {e}", i + 1))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if identities.is_empty() {
        return Err(
            "[sigstore]: no [[sigstore.identity]]: say who may sign (issuer and san, or key)"
                .into(),
        );
    }
    Ok(Some(SigstoreSection {
        root: std::sync::Arc::new(root),
        root_path,
        allow_rekor_v1: s.allow_rekor_v1,
        identities,
    }))
}

fn sigstore_identity(raw: &RawSigstoreIdentity, base: &Path) -> Result<SigstoreIdentity, String> {
    use crate::sigstore::{Key, SanPattern, Signer};
    let signer = match (&raw.issuer, &raw.san, &raw.key) {
        (Some(issuer), Some(san), None) => {
            if issuer.is_empty() || issuer.chars().any(char::is_control) {
                return Err(format!("issuer {issuer:?}: not an issuer URL"));
            }
            Signer::Identity {
                issuer: issuer.clone(),
                san: SanPattern::parse(san)?,
            }
        }
        (None, None, Some(key)) => {
            let pem = if key.trim_start().starts_with("-----BEGIN") {
                key.clone()
            } else {
                let p = base.join(key);
                let b = crate::fsutil::read_config(&p, 64 << 10).map_err(|e| format!("key {e}"))?;
                String::from_utf8(b).map_err(|_| format!("key {}: not UTF-8", p.display()))?
            };
            Signer::Key(Key::from_pem(&pem).map_err(|e| format!("key: {e}"))?)
        }
        _ => return Err("give issuer and san, or key (not both)".into()),
    };
    for n in &raw.names {
        let bad = n.is_empty()
            || n.chars().any(char::is_whitespace)
            || (n.contains('*') && !n.ends_with("/*"));
        if bad {
            return Err(format!(
                "bad name pattern {n:?} (a name, or a prefix ending in /*)"
            ));
        }
    }
    Ok(SigstoreIdentity {
        signer,
        names: raw.names.clone(),
    })
}

/// `[[publisher]]`: a key and the release names (or `prefix/*`) it may
/// publish.
pub(super) fn publishers(
    raw: &[RawPublisher],
    check: PointCheck,
) -> Result<Vec<Publisher>, String> {
    let mut publishers = Vec::new();
    for (i, p) in raw.iter().enumerate() {
        let key = parse_public_key_with(&p.key, check)
            .map_err(|e| format!("[[publisher]] #{}: {e}", i + 1))?;
        if p.names.is_empty() {
            return Err(format!("[[publisher]] #{}: names is empty", i + 1));
        }
        for n in &p.names {
            let bad = n.is_empty()
                || n.chars().any(char::is_whitespace)
                || (n.contains('*') && !n.ends_with("/*"));
            if bad {
                return Err(format!(
                    "[[publisher]] #{}: bad name pattern {n:?} (a name, or a prefix ending in /*)",
                    i + 1
                ));
            }
        }
        publishers.push(Publisher {
            names: p.names.clone(),
            key,
        });
    }
    Ok(publishers)
}

/// `[require]`, for a policy that lists `nlogs` logs.
pub(super) fn require(r: &RawRequire, nlogs: usize) -> Result<Require, String> {
    let d = Require::default();
    let dur = |field: &str, v: &Option<String>, default: Duration| -> Result<Duration, String> {
        match v {
            None => Ok(default),
            Some(s) => parse_duration(s).ok_or_else(|| {
                format!(
                    "[require] {field} = {s:?}: a duration like \"90s\", \"15m\", \"24h\", \"7d\""
                )
            }),
        }
    };
    let logs = r.logs.map_or(Ok(d.logs), |n| {
        usize::try_from(n).map_err(|_| "[require] logs is too large".to_string())
    })?;
    if logs == 0 || (nlogs > 0 && logs > nlogs) {
        return Err(format!(
            "[require] logs = {logs}, but the policy lists {nlogs} log(s)"
        ));
    }
    Ok(Require {
        logs,
        max_age: dur("max_age", &r.max_age, d.max_age)?,
        latest: r.latest.unwrap_or(d.latest),
        no_downgrade: r.no_downgrade.unwrap_or(d.no_downgrade),
        prior_revisions: r.prior_revisions.unwrap_or(d.prior_revisions),
        min_release_age: dur("min_release_age", &r.min_release_age, d.min_release_age)?,
        refresh: dur("refresh", &r.refresh, d.refresh)?,
        rebuilders: r.rebuilders.map_or(Ok(0), |n| {
            usize::try_from(n).map_err(|_| "[require] rebuilders is too large".to_string())
        })?,
    })
}

/// `[[rebuilder]]`: unique names and keys, at least `need` of them.
pub(super) fn rebuilders(
    raw: &[RawRebuilder],
    check: PointCheck,
    need: usize,
) -> Result<Vec<Rebuilder>, String> {
    let mut rebuilders: Vec<Rebuilder> = vec![];
    for (i, rb) in raw.iter().enumerate() {
        let key = parse_public_key_with(&rb.key, check)
            .map_err(|e| format!("[[rebuilder]] #{}: {e}", i + 1))?;
        if rb.name.trim().is_empty() || rebuilders.iter().any(|o| o.name == rb.name || o.key == key)
        {
            return Err(format!(
                "[[rebuilder]] #{}: a unique, non-empty name and key",
                i + 1
            ));
        }
        rebuilders.push(Rebuilder {
            name: rb.name.clone(),
            key,
        });
    }
    if need > rebuilders.len() {
        return Err(format!(
            "[require] rebuilders = {need}, but the policy lists {} rebuilder(s)",
            rebuilders.len()
        ));
    }
    Ok(rebuilders)
}

/// `mode`: "enforce" (the default) or "audit".
pub(super) fn mode(m: Option<&str>) -> Result<Mode, String> {
    match m {
        None | Some("enforce") => Ok(Mode::Enforce),
        Some("audit") => Ok(Mode::Audit),
        Some(m) => Err(format!("mode = {m:?}: \"enforce\" or \"audit\"")),
    }
}
