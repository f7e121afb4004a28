//! One exec, as the guard sees it: the file the kernel opened (its
//! descriptor, never its path, is what is hashed), what the guard finds
//! out about it ([`Ground`]), and what is recorded.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use super::decide::{Ground, Note};
use super::hashing::{self, FileKey, HashCache, HashError};

/// What the guard knows that is not its state: what it always allows.
pub struct Known {
    /// (device, inode) of the guard's own executables.
    pub own: Vec<(u64, u64)>,
    /// The exempt directories.
    pub exempt: Vec<PathBuf>,
    /// `bt-exec guard snapshot`'s allow-list.
    pub allow_list: std::collections::HashSet<[u8; 32]>,
}

/// The guard's own executables: this one and `bt-exec`, `bt-exec-full`
/// and `bt-log` beside it.
pub fn own_executables() -> Vec<(u64, u64)> {
    let mut out = vec![];
    let Ok(me) = std::env::current_exe() else {
        return out;
    };
    let mut paths = vec![me.clone()];
    if let Some(dir) = me.parent() {
        for n in ["bt-exec", "bt-exec-full", "bt-log"] {
            paths.push(dir.join(n));
        }
    }
    for p in paths {
        if let Ok(m) = std::fs::metadata(&p) {
            out.push((m.dev(), m.ino()));
        }
    }
    out
}

/// The path the kernel opened, for exemptions and records: the
/// descriptor's link in `/proc/self/fd`.
pub fn path_of(file: &File) -> PathBuf {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .unwrap_or_else(|_| PathBuf::from("(unknown)"))
}

/// Whether `path` (the file `m` describes) is exempt: under an exempt
/// directory, every directory from there down owned by root and writable
/// by root alone, the file itself too, and the path leading to the same
/// inode the exec opened. Attacks stopped: a user's file in a directory
/// they own below an exempt prefix, a file they can still write, and a
/// path that names another file than the one opened (a mount namespace
/// of their own, a rename after the open).
pub fn exempt<'a>(exempt: &'a [PathBuf], path: &Path, m: &std::fs::Metadata) -> Option<&'a Path> {
    let prefix = exempt.iter().find(|p| path.starts_with(p))?;
    if m.uid() != 0 || m.mode() & 0o022 != 0 {
        return None;
    }
    let named = std::fs::symlink_metadata(path).ok()?;
    if (named.dev(), named.ino()) != (m.dev(), m.ino()) {
        return None;
    }
    let mut dir = path.parent();
    while let Some(d) = dir {
        let dm = std::fs::symlink_metadata(d).ok()?;
        if !dm.is_dir() || dm.uid() != 0 || dm.mode() & 0o022 != 0 {
            return None;
        }
        if d == prefix.as_path() {
            return Some(prefix);
        }
        dir = d.parent();
    }
    None
}

/// What the guard finds out about the file an exec opened, up to its
/// hash; the proof itself is asked of `judge` (the guard's state).
pub fn ground(
    known: &Known,
    hashes: &HashCache,
    file: &File,
    deadline: Instant,
    judge: impl FnOnce(&[u8; 32], u64) -> Ground,
) -> (Ground, Option<[u8; 32]>, Option<(File, FileKey)>) {
    let m = match file.metadata() {
        Ok(m) => m,
        Err(e) => {
            return (
                Ground::NoHash(format!("it cannot be read: {e}")),
                None,
                None,
            )
        }
    };
    if known.own.contains(&(m.dev(), m.ino())) {
        return (Ground::Own, None, None);
    }
    if !m.is_file() {
        return (
            Ground::NoHash(HashError::NotRegular.to_string()),
            None,
            None,
        );
    }
    if !known.exempt.is_empty() {
        if let Some(p) = exempt(&known.exempt, &path_of(file), &m) {
            return (Ground::Exempt(p.display().to_string()), None, None);
        }
    }
    let key = FileKey::of(&m);
    let sha = match hashes.get(&key) {
        Some(s) => s,
        None => match hashing::hash(file, &key, Some(deadline)) {
            Ok(s) => {
                hashes.put(key, s);
                s
            }
            Err(e @ HashError::TooSlow(_)) => {
                let later = file.try_clone().ok().map(|f| (f, key));
                return (Ground::NoHash(e.to_string()), None, later);
            }
            Err(e) => return (Ground::NoHash(e.to_string()), None, None),
        },
    };
    if known.allow_list.contains(&sha) {
        return (Ground::AllowListed, Some(sha), None);
    }
    (judge(&sha, m.size()), Some(sha), None)
}

/// The records of denied (or, in audit, would-be-denied) execs: each
/// kind once an hour at most (by file, hash and verdict), so a loop
/// exec'ing a denied program cannot fill the disk; every one is counted.
pub struct Recorder {
    seen: Mutex<HashMap<(String, String, String), u64>>,
}

/// At most this many distinct records are remembered for deduplication.
const MAX_SEEN: usize = 10_000;
/// A record is written again after this long.
const AGAIN_SECS: u64 = 3600;

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this note about `path` and `sha256` is to be written now.
    pub fn due(&self, path: &str, sha256: &str, note: &Note, now: u64) -> bool {
        let Ok(mut seen) = self.seen.lock() else {
            return true;
        };
        let k = (path.to_string(), sha256.to_string(), note.verdict.clone());
        if seen.get(&k).is_some_and(|&t| now < t + AGAIN_SECS) {
            return false;
        }
        if seen.len() >= MAX_SEEN {
            seen.clear();
        }
        seen.insert(k, now);
        true
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}
