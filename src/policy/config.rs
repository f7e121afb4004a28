//! The bt-exec policy file (DESIGN §5): TOML, with the trust part in C2SP
//! tlog-policy text (inline `trust` or `trust_file`). Strict: unknown keys,
//! bad values and bad trust lines are errors naming the line.

use std::path::{Path, PathBuf};

use sha2::Digest;

use super::parts::{
    self, line_of, Mode, Publisher, Rebuilder, Require, SigstoreSection, SigsumSection,
};
use super::sections::{self, RawPolicy};
use super::trust::TrustPolicy;
use crate::note::PointCheck;

#[derive(Debug, thiserror::Error)]
#[error("policy {path}: {msg}")]
pub struct ConfigError {
    pub path: PathBuf,
    pub msg: String,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub path: PathBuf,
    pub rebuilders: Vec<Rebuilder>,
    pub sigsum: Option<SigsumSection>,
    pub sigstore: Option<SigstoreSection>,
    pub trust: TrustPolicy,
    pub publishers: Vec<Publisher>,
    pub require: Require,
    pub mode: Mode,
    /// `expires`: the policy is refused from this moment (Unix seconds),
    /// with the date as written.
    pub expires: Option<(u64, String)>,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A TOML date or date-time as Unix seconds (a bare date is its midnight
/// UTC; a local time without an offset is taken as UTC).
fn unix_time(dt: &toml::value::Datetime) -> Option<u64> {
    let date = dt.date?;
    if !(1..=12).contains(&date.month) || !(1..=31).contains(&date.day) {
        return None;
    }
    let days = days_from_civil(
        i64::from(date.year),
        u32::from(date.month),
        u32::from(date.day),
    );
    let mut secs = days.checked_mul(86_400)?;
    if let Some(t) = dt.time {
        secs += i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second);
    }
    if let Some(toml::value::Offset::Custom { minutes }) = dt.offset {
        secs -= i64::from(minutes) * 60;
    }
    u64::try_from(secs).ok()
}

/// A policy as [`Policy::load_validated`] loaded it.
pub struct Loaded {
    pub policy: Policy,
    /// SHA-256 over the policy text (and its trust_file's text).
    pub digest: [u8; 32],
    /// `Now` when every key was checked to be a curve point in this load.
    pub check: PointCheck,
    /// Whether the trust came from a trust_file (the digest then covers
    /// more than [`Policy::text_digest`] of the policy file).
    pub trust_file: bool,
}

impl Policy {
    /// The largest policy (or trust_file) read.
    pub const MAX_BYTES: usize = 1 << 20;

    /// Whether `spec` is a Rekor log of the `[sigstore]` trusted root
    /// ([`super::SigstoreSection::lists`]): proven by bundles, with no
    /// release history.
    pub fn is_rekor(&self, spec: &super::LogSpec) -> bool {
        self.sigstore.as_ref().is_some_and(|s| s.lists(spec))
    }

    /// The policy's Rekor logs ([`Policy::is_rekor`]).
    pub fn rekor_logs(&self) -> impl Iterator<Item = &super::LogSpec> {
        self.trust.logs.iter().filter(|l| self.is_rekor(l))
    }

    pub fn load(path: &Path) -> Result<Policy, ConfigError> {
        Self::load_validated(path, |_| false).map(|l| l.policy)
    }

    /// Loads the policy at `path`; `validated(digest)` says whether this
    /// exact text (the file, and its trust_file when it has one) passed a
    /// full load before, in which case the keys' curve points are checked
    /// only when a signature is checked with them (`PointCheck::Later`): a
    /// key that is no point then verifies nothing, so no signature by it
    /// ever counts. The caller records the digest once a full load passed
    /// (`Store::mark_policy_validated`).
    pub fn load_validated(
        path: &Path,
        validated: impl Fn(&[u8; 32]) -> bool,
    ) -> Result<Loaded, ConfigError> {
        let err = |msg: String| ConfigError {
            path: path.to_path_buf(),
            msg,
        };
        // Strict modes (DESIGN §7): another user must not be able to
        // rewrite what bt-exec trusts.
        let text =
            crate::fsutil::read_config(path, Self::MAX_BYTES).map_err(|e| err(e.to_string()))?;
        let text = String::from_utf8(text).map_err(|_| err("not UTF-8".into()))?;
        Self::parse_inner(&text, path, &validated)
    }

    /// The digest of a policy text that has no trust_file: what
    /// `Loaded::digest` is for it, computed without parsing.
    pub fn text_digest(text: &[u8]) -> [u8; 32] {
        parts::digest_start(text).finalize().into()
    }

    pub fn parse(text: &str, path: &Path) -> Result<Policy, ConfigError> {
        Self::parse_inner(text, path, &|_| false).map(|l| l.policy)
    }

    fn parse_inner(
        text: &str,
        path: &Path,
        validated: &dyn Fn(&[u8; 32]) -> bool,
    ) -> Result<Loaded, ConfigError> {
        let err = |msg: String| ConfigError {
            path: path.to_path_buf(),
            msg,
        };
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| format!("line {}: ", line_of(text, s.start)))
                .unwrap_or_default();
            err(format!("{line}{}", e.message()))
        })?;
        let (trust, digest, check) = sections::trust(&raw, text, path, validated).map_err(err)?;
        let sigsum = sections::sigsum(raw.sigsum.as_ref(), path).map_err(err)?;
        let sigstore = sections::sigstore(raw.sigstore.as_ref(), path, &trust).map_err(err)?;
        if trust.logs.is_empty() && sigsum.is_none() && sigstore.is_none() {
            return Err(err("the trust policy lists no log".into()));
        }
        if let Some(l) = trust.logs.iter().find(|l| l.url.is_none()) {
            return Err(err(format!(
                "log {} has no URL: bt-exec needs one to read it",
                l.origin
            )));
        }
        // A URL no run could read (a typo in the scheme) is a configuration
        // error now, not an unreachable log at every run.
        for l in &trust.logs {
            let u = l.url.as_deref().unwrap_or_default();
            let ok =
                url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https" | "file"));
            if !ok {
                return Err(err(format!(
                    "log {}: URL {u:?} is not an http://, https:// or file:// URL",
                    l.origin
                )));
            }
        }
        let publishers = sections::publishers(&raw.publisher, check).map_err(err)?;
        let require = sections::require(&raw.require, trust.logs.len()).map_err(err)?;
        let rebuilders =
            sections::rebuilders(&raw.rebuilder, check, require.rebuilders).map_err(err)?;
        let mode = sections::mode(raw.mode.as_deref()).map_err(err)?;
        let expires = match &raw.expires {
            None => None,
            Some(dt) => Some((
                unix_time(dt).ok_or_else(|| err(format!("expires = {dt}: not a date")))?,
                dt.to_string(),
            )),
        };
        Ok(Loaded {
            policy: Policy {
                path: path.to_path_buf(),
                rebuilders,
                sigsum,
                sigstore,
                trust,
                publishers,
                require,
                mode,
                expires,
            },
            digest,
            check,
            trust_file: raw.trust_file.is_some(),
        })
    }

    /// Refuses a policy past its `expires` date: a stale trust list must not
    /// silently stay in force.
    pub fn check_expiry(&self, now: u64) -> Result<(), ConfigError> {
        match &self.expires {
            Some((at, date)) if now >= *at => Err(ConfigError {
                path: self.path.clone(),
                msg: format!(
                    "expired on {date}: its trust list may be out of date; get the current policy from whoever maintains it and replace this file (bt-exec policy check FILE shows what a policy trusts)"
                ),
            }),
            _ => Ok(()),
        }
    }

    /// The policy file: `--policy`, else `$BT_EXEC_POLICY`, else the XDG config dir.
    pub fn locate(flag: Option<&Path>) -> Option<PathBuf> {
        if let Some(p) = flag {
            return Some(p.to_path_buf());
        }
        if let Some(p) = std::env::var_os("BT_EXEC_POLICY") {
            return Some(PathBuf::from(p));
        }
        directories::ProjectDirs::from("", "", "bt-exec")
            .map(|d| d.config_dir().join("policy.toml"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_dates_as_python_computes_them() {
        // datetime(..., tzinfo=timezone.utc).timestamp()
        for (text, want) in [
            ("2027-06-01", 1_811_808_000),
            ("2000-02-29", 951_782_400),
            ("1970-01-01", 0),
            ("2024-12-31", 1_735_603_200),
            ("2027-06-01T12:30:00+02:00", 1_811_845_800),
        ] {
            let dt: toml::value::Datetime = text.parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(unix_time(&dt), Some(want), "{text}");
        }
    }

    /// A key that is no curve point is refused, naming its line, unless the
    /// state records this exact text as validated before; then it loads and
    /// verifies nothing.
    #[test]
    fn a_key_that_is_no_point_is_refused_unless_the_text_was_validated() {
        use base64::Engine;
        let raw = (0u8..=255)
            .map(|i| {
                let mut b = [0u8; 32];
                b[0] = i;
                b
            })
            .find(|b| ed25519_dalek::VerifyingKey::from_bytes(b).is_err())
            .unwrap();
        let name = "example.org/bad";
        let vkey = format!(
            "{name}+{:08x}+{}",
            crate::note::key_id(name, 1, &raw),
            base64::engine::general_purpose::STANDARD.encode([&[1u8][..], &raw].concat())
        );
        let text = format!("trust = \"\"\"\nlog {vkey} http://x/\nquorum none\n\"\"\"\n");
        let path = Path::new("p.toml");
        let err = Policy::parse(&text, path).unwrap_err().to_string();
        assert!(
            err.contains("line 2") && err.contains("not an Ed25519 point"),
            "{err}"
        );
        let digest = Policy::text_digest(text.as_bytes());
        let l = Policy::parse_inner(&text, path, &|d| *d == digest).unwrap();
        assert_eq!(
            (l.check, l.digest, l.trust_file),
            (PointCheck::Later, digest, false)
        );
        let key = &l.policy.trust.logs[0].key.key;
        assert!(key.point().is_none());
        assert!(!key.verify(b"message", &[0; 64]));
    }
}
