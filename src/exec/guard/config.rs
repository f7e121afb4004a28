//! The guard's configuration (`/etc/bt-exec/guard.toml`): which
//! filesystems it guards, its mode, its own policy and state, what is
//! exempt, where its socket is, how long an exec may wait for a hash.
//!
//! The guard takes nothing from a user: not their state, not their
//! `--policy`, not `$BT_EXEC_POLICY`. The configuration, the policy it
//! names and the allow-list must be root's and writable by root alone
//! ([`crate::strict::check_config`]), and so must every directory above
//! them; an exempt prefix must be a root-owned directory (with every
//! directory above it) that nobody else can write. Attack stopped: another
//! local user who could rewrite any of them would choose what runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Where the guard's configuration is unless `--config` says otherwise.
pub const DEFAULT_CONFIG: &str = "/etc/bt-exec/guard.toml";
/// Where the guard listens unless its configuration says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/bt-exec/guard.sock";
/// A configuration file larger than this is refused.
const MAX_CONFIG_BYTES: usize = 64 << 10;

/// What the guard does with an exec it cannot prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuardMode {
    /// Denied (`EPERM`), and recorded.
    Enforce,
    /// Allowed, and recorded as it would have been denied.
    Audit,
}

/// The configuration as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    mode: GuardMode,
    filesystems: Vec<PathBuf>,
    #[serde(default = "default_policy")]
    policy: PathBuf,
    #[serde(default = "default_state")]
    state: PathBuf,
    #[serde(default = "default_socket")]
    socket: PathBuf,
    #[serde(default)]
    exempt: Vec<PathBuf>,
    #[serde(default)]
    allow_list: Option<PathBuf>,
    #[serde(default)]
    hash_deadline: Option<String>,
    #[serde(default)]
    workers: Option<usize>,
}

fn default_policy() -> PathBuf {
    PathBuf::from("/etc/bt-exec/policy.toml")
}
fn default_state() -> PathBuf {
    PathBuf::from("/var/lib/bt-exec")
}
fn default_socket() -> PathBuf {
    PathBuf::from(DEFAULT_SOCKET)
}

/// The guard's configuration, checked.
#[derive(Debug, Clone)]
pub struct GuardConfig {
    pub path: PathBuf,
    pub mode: GuardMode,
    /// Each names a filesystem (any path on it): the whole filesystem is
    /// marked (`FAN_MARK_FILESYSTEM`).
    pub filesystems: Vec<PathBuf>,
    /// The trust policy execs are proven under.
    pub policy: PathBuf,
    /// The guard's state directory (its checkpoints, proofs, records).
    pub state: PathBuf,
    pub socket: PathBuf,
    /// Root-owned directories whose root-owned files run unproven: the
    /// operating system's own, which transparency does not cover.
    pub exempt: Vec<PathBuf>,
    /// `bt-exec guard snapshot`'s SHA-256 allow-list, if any.
    pub allow_list: Option<PathBuf>,
    /// How long an exec may wait for its file to be hashed; past it the
    /// exec is denied and the hash finished in the background.
    pub hash_deadline: Duration,
    /// Threads answering execs.
    pub workers: usize,
}

/// A configuration that cannot be used: 125, with why.
#[derive(Debug, thiserror::Error)]
pub enum GuardConfigError {
    #[error("{0}")]
    Read(#[from] crate::fsutil::ConfigReadError),
    #[error("{path}: {why}")]
    Invalid { path: String, why: String },
    #[error("{path}: exempt directory {dir}: {why}")]
    Exempt {
        path: String,
        dir: String,
        why: String,
    },
}

impl GuardConfig {
    /// Reads and checks the configuration at `path`.
    pub fn load(path: &Path) -> Result<GuardConfig, GuardConfigError> {
        let bytes = crate::fsutil::read_config(path, MAX_CONFIG_BYTES)?;
        let shown = path.display().to_string();
        let invalid = |why: String| GuardConfigError::Invalid {
            path: shown.clone(),
            why,
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| invalid("not UTF-8".into()))?;
        let raw: Raw = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let hash_deadline = match &raw.hash_deadline {
            None => Duration::from_secs(2),
            Some(s) => parse_deadline(s).ok_or_else(|| {
                invalid(format!(
                    "hash_deadline {s:?}: write it like 500ms or 2s, at most 60s"
                ))
            })?,
        };
        let workers = raw.workers.unwrap_or(4);
        if !(1..=64).contains(&workers) {
            return Err(invalid(format!("workers = {workers}: from 1 to 64")));
        }
        if raw.filesystems.is_empty() {
            return Err(invalid(
                "filesystems is empty: name at least one path whose filesystem to guard".into(),
            ));
        }
        let absolute = |what: &str, p: &Path| {
            if p.is_absolute() {
                Ok(())
            } else {
                Err(invalid(format!("{what} {}: must be absolute", p.display())))
            }
        };
        for p in raw.filesystems.iter().chain(&raw.exempt) {
            absolute("path", p)?;
        }
        for (what, p) in [
            ("policy", &raw.policy),
            ("state", &raw.state),
            ("socket", &raw.socket),
        ] {
            absolute(what, p)?;
        }
        for dir in &raw.exempt {
            exempt_dir(dir).map_err(|why| GuardConfigError::Exempt {
                path: shown.clone(),
                dir: dir.display().to_string(),
                why,
            })?;
        }
        Ok(GuardConfig {
            path: path.to_path_buf(),
            mode: raw.mode,
            filesystems: raw.filesystems,
            policy: raw.policy,
            state: raw.state,
            socket: raw.socket,
            exempt: raw.exempt,
            allow_list: raw.allow_list,
            hash_deadline,
            workers,
        })
    }

    /// The guard's store: its state, and a cache directory beside it (the
    /// guard copies nothing there; the verification's types expect one).
    pub fn store(&self) -> crate::store::Store {
        crate::store::Store::at(self.state.join("cache"), self.state.join("state"))
    }
}

/// `500ms`, or what [`crate::policy::parse_duration`] reads (`2s`,
/// `1m`); never zero.
fn parse_deadline(s: &str) -> Option<Duration> {
    let d = match s.strip_suffix("ms") {
        Some(ms) if !ms.is_empty() && ms.bytes().all(|b| b.is_ascii_digit()) => {
            Duration::from_millis(ms.parse().ok()?)
        }
        _ => crate::policy::parse_duration(s)?,
    };
    (!d.is_zero() && d <= MAX_HASH_DEADLINE).then_some(d)
}

/// The longest `hash_deadline`: an exec waits at most this long.
const MAX_HASH_DEADLINE: Duration = Duration::from_secs(60);

/// Whether `dir` may be an exempt prefix (or hold the guard's socket): a
/// directory (not a link) owned by root and writable by root alone, and
/// so is every directory above it, but for root-owned sticky ones such as
/// `/tmp` (where nobody else can rename or remove what root made).
/// Attack stopped: an exempt prefix someone else can write (or a link
/// they can point) is a place to drop any program and have it run; a
/// socket directory they can write is a place to put their own guard.
pub fn exempt_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let mut at = Some(dir);
    while let Some(d) = at {
        let m = std::fs::symlink_metadata(d).map_err(|e| format!("{}: {e}", d.display()))?;
        if !m.is_dir() {
            return Err(format!("{} is not a directory", d.display()));
        }
        if m.uid() != 0 {
            return Err(format!(
                "{} is owned by uid {}, not root",
                d.display(),
                m.uid()
            ));
        }
        let sticky_above = d != dir && m.mode() & 0o1000 != 0;
        if m.mode() & 0o022 != 0 && !sticky_above {
            return Err(format!(
                "{} is writable by group or others (mode {:o})",
                d.display(),
                m.mode() & 0o7777
            ));
        }
        at = d.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A configuration file in a fresh directory (root's when the tests
    /// run as root; the strict check is the user's own otherwise).
    fn load(text: &str) -> Result<GuardConfig, GuardConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("guard.toml");
        std::fs::write(&p, text).unwrap();
        GuardConfig::load(&p)
    }

    #[test]
    fn a_minimal_configuration_takes_the_defaults() {
        let c = load("mode = \"audit\"\nfilesystems = [\"/srv\"]\n").unwrap();
        assert_eq!(c.mode, GuardMode::Audit);
        assert_eq!(c.policy, Path::new("/etc/bt-exec/policy.toml"));
        assert_eq!(c.socket, Path::new(DEFAULT_SOCKET));
        assert_eq!(c.hash_deadline, Duration::from_secs(2));
        assert_eq!(c.workers, 4);
        let c = load("mode = \"enforce\"\nfilesystems = [\"/srv\"]\nhash_deadline = \"250ms\"\n")
            .unwrap();
        assert_eq!(c.hash_deadline, Duration::from_millis(250));
    }

    /// Near-misses: each is refused, naming what is wrong; a typo never
    /// weakens the guard (an unknown key is an error, not ignored).
    #[test]
    fn mistakes_are_refused_by_name() {
        let fs = "filesystems = [\"/srv\"]\n";
        for (text, says) in [
            (format!("mode = \"off\"\n{fs}"), "mode"),
            (
                format!("mode = \"enforce\"\n{fs}exmept = [\"/usr\"]\n"),
                "exmept",
            ),
            (
                "mode = \"enforce\"\nfilesystems = []\n".to_string(),
                "filesystems is empty",
            ),
            (
                "mode = \"enforce\"\nfilesystems = [\"srv\"]\n".to_string(),
                "must be absolute",
            ),
            (
                format!("mode = \"enforce\"\n{fs}policy = \"p.toml\"\n"),
                "must be absolute",
            ),
            (
                format!("mode = \"enforce\"\n{fs}hash_deadline = \"0s\"\n"),
                "hash_deadline",
            ),
            (
                format!("mode = \"enforce\"\n{fs}hash_deadline = \"soon\"\n"),
                "hash_deadline",
            ),
            (format!("mode = \"enforce\"\n{fs}workers = 0\n"), "workers"),
            (
                format!("mode = \"enforce\"\n{fs}workers = 100000\n"),
                "workers",
            ),
            (fs.to_string(), "mode"),
        ] {
            let e = load(&text).expect_err(&text).to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    /// An exempt directory someone else could write is refused; a
    /// sticky root-owned directory above one is fine (as `/tmp`).
    #[test]
    fn an_exempt_directory_others_can_write_is_refused() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("SKIPPED an_exempt_directory_others_can_write_is_refused: needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok");
        let open = dir.path().join("open");
        std::fs::create_dir(&ok).unwrap();
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&ok, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(exempt_dir(&ok), Ok(()));
        let e = exempt_dir(&open).unwrap_err();
        assert!(e.contains("writable by group or others"), "{e}");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(
            exempt_dir(&open).is_err(),
            "sticky is fine above, not as the prefix"
        );
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&ok, &link).unwrap();
        assert!(exempt_dir(&link).unwrap_err().contains("not a directory"));
    }
}
