//! The parts of a bt-exec policy the sections parse into: publishers and
//! what they may publish, the rules required, the mode, the Sigsum section,
//! rebuilders; durations as the policy writes them.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::note::PublicKey;

/// A publisher key and the release names it may publish.
#[derive(Debug, Clone)]
pub struct Publisher {
    pub names: Vec<String>,
    pub key: PublicKey,
}

impl Publisher {
    /// `example.org/*` matches every name under `example.org/`; other
    /// patterns match exactly.
    pub fn may_publish(&self, name: &str) -> bool {
        names_match(&self.names, name)
    }
}

/// Whether release-name patterns (`example.org/*`: every name under
/// `example.org/`; others exactly) match `name`.
pub fn names_match(patterns: &[String], name: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix) && prefix.ends_with('/'),
        None => p == name,
    })
}

/// `[sigstore]`: programs proven by a Sigstore bundle
/// (`PROGRAM.sigstore.json`, or `--sigstore-bundle`), docs/SIGSTORE.md.
#[derive(Debug, Clone)]
pub struct SigstoreSection {
    /// The trusted root, parsed and ready (`trusted_root`).
    pub root: std::sync::Arc<crate::sigstore::TrustRoot>,
    pub root_path: std::path::PathBuf,
    /// Whether Rekor v1 entries count (`allow_rekor_v1`, default false).
    pub allow_rekor_v1: bool,
    /// `[[sigstore.identity]]`: who may have signed.
    pub identities: Vec<SigstoreIdentity>,
}

/// One `[[sigstore.identity]]`: an issuer and SAN pattern, or a key, and
/// the release names it is bound to (none: every program).
#[derive(Debug, Clone)]
pub struct SigstoreIdentity {
    pub signer: crate::sigstore::Signer,
    pub names: Vec<String>,
}

impl SigstoreSection {
    /// The signers allowed for a program: every identity without `names`,
    /// and, for a program run as `NAME@VERSION`, those whose `names` match
    /// NAME. Attack stopped: an identity bound to some releases signing a
    /// program run under another name.
    pub fn signers_for(&self, release: Option<&str>) -> Vec<crate::sigstore::Signer> {
        self.identities
            .iter()
            .filter(|i| i.names.is_empty() || release.is_some_and(|r| names_match(&i.names, r)))
            .map(|i| i.signer.clone())
            .collect()
    }

    /// Whether the policy's log `spec` is one of the trusted root's Rekor
    /// logs (a `log` line for it: the same origin, and — checked when the
    /// policy is read — the same key). Such a log holds Sigstore entries,
    /// not releases: a bundle proves a program in it
    /// (`crate::verify::rekor`), and it has no release history.
    pub fn lists(&self, spec: &crate::policy::LogSpec) -> bool {
        self.root.logs_named(&spec.origin).next().is_some()
    }
}

impl Require {
    /// The rules set here that a proof from outside the policy's logs (a
    /// Sigsum proof, a Sigstore bundle) cannot meet, named as the policy
    /// writes them (`None`: none is set): such a proof names no release and
    /// has no history (`latest`, `no_downgrade`, `prior_revisions`), no
    /// rebuilder attests it (`rebuilders`), and it is one log (`logs` above
    /// 1). Nor `min_release_age`: such a proof dates its signature (a TSA's
    /// timestamp, a Rekor v1 SET), not when anyone could first see it — a
    /// signer who logs late, or a Rekor operator who backdates, would pass.
    pub fn unmet_by_one_outside_proof(&self) -> Option<String> {
        let rules = [
            (self.logs > 1, format!("logs = {}", self.logs)),
            (self.latest, "latest = true".into()),
            (self.no_downgrade, "no_downgrade = true".into()),
            (
                self.prior_revisions > 0,
                format!("prior_revisions = {}", self.prior_revisions),
            ),
            (
                !self.min_release_age.is_zero(),
                format!("min_release_age = \"{}s\"", self.min_release_age.as_secs()),
            ),
            (
                self.rebuilders > 0,
                format!("rebuilders = {}", self.rebuilders),
            ),
        ];
        let set: Vec<String> = rules
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| n)
            .collect();
        (!set.is_empty()).then(|| format!("require.{}", set.join(", require.")))
    }
}

/// `require.refresh` when the policy does not set it: ten minutes.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(600);

/// `[require]`, with DESIGN §10's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Require {
    pub logs: usize,
    pub max_age: Duration,
    pub latest: bool,
    pub no_downgrade: bool,
    pub prior_revisions: u64,
    pub min_release_age: Duration,
    /// How often each log's checkpoint is fetched again. A file whose
    /// proof is cached is verified from the state alone while the saved
    /// checkpoints meet the policy (`max_age`, the quorum); once one was
    /// fetched `refresh` ago or more, a run still answers from the state
    /// and starts one background `bt-exec refresh` for the next run
    /// (src/exec/background.rs). 0: every run fetches each log's
    /// checkpoint, so a split view is seen on the very next run. Default
    /// [`DEFAULT_REFRESH`].
    pub refresh: Duration,
    /// Distinct listed rebuilders that must have logged the same file.
    pub rebuilders: usize,
}

impl Default for Require {
    fn default() -> Self {
        Require {
            logs: 1,
            max_age: Duration::from_secs(24 * 3600),
            latest: false,
            no_downgrade: false,
            prior_revisions: 0,
            min_release_age: Duration::ZERO,
            refresh: DEFAULT_REFRESH,
            rebuilders: 0,
        }
    }
}

/// Whether a refusal stops the program (`enforce`, the default) or is
/// recorded while the program runs anyway (`audit`, for rollouts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Audit,
}

/// `[sigsum]`: programs whose publisher logs in Sigsum, proven by a
/// `PROGRAM.sigsum-proof` beside them.
#[derive(Debug, Clone)]
pub struct SigsumSection {
    pub policy: crate::sigsum_interop::SigsumPolicy,
    /// Submitter keys and the program file names each may sign.
    pub submitters: Vec<([u8; 32], Vec<String>)>,
}

impl SigsumSection {
    /// The submitter keys allowed for a program of this file name
    /// (`name` exactly, or a pattern ending in `*` as a prefix).
    pub fn keys_for(&self, file_name: &str) -> Vec<[u8; 32]> {
        self.submitters
            .iter()
            .filter(|(_, names)| {
                names.iter().any(|p| match p.strip_suffix('*') {
                    Some(prefix) => file_name.starts_with(prefix),
                    None => p == file_name,
                })
            })
            .map(|(k, _)| *k)
            .collect()
    }
}

/// A rebuilder: it rebuilds releases from source and logs its own entry for
/// the same file when the bytes match (`[[rebuilder]]`).
#[derive(Debug, Clone)]
pub struct Rebuilder {
    pub name: String,
    pub key: PublicKey,
}

/// Parses `90s`, `15m`, `24h`, `7d`, and sums like `1h30m`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total: u64 = 0;
    let mut num = String::new();
    if s.is_empty() {
        return None;
    }
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return None,
        };
        let n: u64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        num.clear();
    }
    num.is_empty().then_some(Duration::from_secs(total))
}

pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1
}

/// The digest of a policy's text starts here (the trust_file's text may
/// follow).
pub(super) fn digest_start(text: &[u8]) -> Sha256 {
    let mut digest = Sha256::new();
    digest.update(b"bt-exec policy\n");
    digest.update(text);
    digest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        for bad in ["", "h", "10", "1x", "-1h", "1.5h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn publisher_patterns() {
        let p = Publisher {
            names: vec!["example.org/*".into(), "other.net/tool".into()],
            key: PublicKey::unchecked([0; 32]),
        };
        assert!(p.may_publish("example.org/hello"));
        assert!(!p.may_publish("example.org.evil/hello"));
        assert!(p.may_publish("other.net/tool"));
        assert!(!p.may_publish("other.net/tool2"));
    }
}
