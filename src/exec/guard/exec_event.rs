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
    /// The guard's own executables as they were when it started (held
    /// open, so their inodes cannot be freed and given to another file).
    pub own: Own,
    /// The exempt directories.
    pub exempt: Vec<PathBuf>,
    /// `bt-exec guard snapshot`'s allow-list.
    pub allow_list: std::collections::HashSet<[u8; 32]>,
}

/// The guard's own executables: this one and `bt-exec`, `bt-exec-full`
/// and `bt-log` beside it, by [`FileKey`], each held open. Attack
/// stopped: another file given a freed inode number of one of them (after
/// an upgrade that renamed a new binary over it) passing as the guard's
/// own; an upgraded binary is not its own until the guard restarts.
pub struct Own {
    keys: Vec<FileKey>,
    _held: Vec<File>,
}

impl Own {
    pub fn find() -> Own {
        let mut own = Own {
            keys: vec![],
            _held: vec![],
        };
        let Ok(me) = std::env::current_exe() else {
            return own;
        };
        let mut paths = vec![me.clone()];
        if let Some(dir) = me.parent() {
            for n in ["bt-exec", "bt-exec-full", "bt-log"] {
                paths.push(dir.join(n));
            }
        }
        for p in paths {
            if let Ok((f, m)) = crate::fsutil::open_regular_with_metadata(&p) {
                own.keys.push(FileKey::of(&m));
                own._held.push(f);
            }
        }
        own
    }

    pub fn none() -> Own {
        Own {
            keys: vec![],
            _held: vec![],
        }
    }

    pub fn contains(&self, key: &FileKey) -> bool {
        self.keys.contains(key)
    }
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

/// What the guard can tell about an exec's file without reading it.
#[derive(Clone)]
pub enum Quick {
    /// Decided: its own, exempt, not a regular file, or a hash it knows
    /// with a verdict the guard knows.
    Done(Ground, Option<[u8; 32]>),
    /// The hash is known; the state must judge it.
    Judge([u8; 32], u64),
    /// The file must be hashed.
    Hash(FileKey),
}

/// What the guard can tell about `file` (described by `m`) from memory
/// alone: the reader thread answers these at once, whatever the workers
/// are busy with. `known_verdict` gives a verdict of a hash the guard
/// knows without reading its state.
pub fn quick(
    known: &Known,
    hashes: &HashCache,
    file: &File,
    m: &std::fs::Metadata,
    known_verdict: impl FnOnce(&[u8; 32]) -> Option<Ground>,
) -> Quick {
    let key = FileKey::of(m);
    if known.own.contains(&key) {
        return Quick::Done(Ground::Own, None);
    }
    if !m.is_file() {
        return Quick::Done(Ground::NoHash(HashError::NotRegular.to_string()), None);
    }
    if !known.exempt.is_empty() {
        if let Some(p) = exempt(&known.exempt, &path_of(file), m) {
            return Quick::Done(Ground::Exempt(p.display().to_string()), None);
        }
    }
    // Only a file root alone may write is answered from a remembered
    // hash: one someone else can write is hashed again on every exec,
    // after the guard has seen that nobody holds it open for writing
    // (`Guard::work`). Attack stopped: a writable shared mapping made
    // before the exec, its bytes changed (no time moves on tmpfs), and
    // dropped while the exec waits — its close queued behind the exec —
    // running other bytes under the remembered hash.
    let Some(sha) = hashes.get(&key).filter(|_| roots_alone(m)) else {
        return Quick::Hash(key);
    };
    if known.allow_list.contains(&sha) {
        return Quick::Done(Ground::AllowListed, Some(sha));
    }
    match known_verdict(&sha) {
        Some(g) => Quick::Done(g, Some(sha)),
        None => Quick::Judge(sha, key.size),
    }
}

/// Whether only root may write the file `m` describes (by its mode; an
/// ACL granting another user write shows in the group bits).
pub fn roots_alone(m: &std::fs::Metadata) -> bool {
    owner_alone_is_root(m.uid(), m.mode())
}

/// [`roots_alone`] from a file's owner and mode.
pub fn owner_alone_is_root(uid: u32, mode: u32) -> bool {
    uid == 0 && mode & 0o022 == 0
}

/// A file too slow to hash for its exec, to be hashed in the background.
pub type Later = Option<(File, FileKey)>;

/// Hashes `file` for an exec, within `deadline`, keeping the hash unless
/// the file was written after event `seq`. `Err` says why there is none;
/// a file that was too slow comes back with it, to be hashed later.
pub fn hash_for_exec(
    hashes: &HashCache,
    file: &File,
    key: FileKey,
    deadline: Instant,
    seq: u64,
) -> Result<[u8; 32], (Ground, Later)> {
    let started = crate::exec::app::now();
    match hashing::hash(file, &key, Some(deadline)) {
        Ok(s) => {
            hashes.put(key, s, seq, started);
            Ok(s)
        }
        Err(e @ HashError::TooSlow(_)) => {
            let later = file.try_clone().ok().map(|f| (f, key));
            Err((Ground::NoHash(e.to_string()), later))
        }
        Err(e) => Err((Ground::NoHash(e.to_string()), None)),
    }
}

/// The records of denied (or, in audit, would-be-denied) execs: each
/// hash (or, with none, each file) and verdict once an hour at most, and
/// at most [`PER_MINUTE`] records a minute of each kind; what was left out
/// is counted and said. Attack stopped: a user renaming one unproven file
/// in a loop, or exec'ing many, to fill the disk or the journal with
/// records. The denials of bytes the guard vouches for (brought in, or
/// allow-listed) have a budget of their own: a user's flood of their own
/// unproven files cannot hide that a proven program was denied. Every
/// exec is still counted (`guard status`).
pub struct Recorder {
    inner: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    last: HashMap<(String, String), u64>,
    /// The minute being counted, and the records written in it (of the
    /// others, and of bytes the guard vouches for).
    minute: u64,
    written: [u32; 2],
    suppressed: u64,
}

/// At most this many distinct records are remembered for deduplication.
const MAX_SEEN: usize = 10_000;
/// A record is written again after this long.
const AGAIN_SECS: u64 = 3600;
/// At most this many records a minute.
pub const PER_MINUTE: u32 = 60;

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            inner: Mutex::new(Seen::default()),
        }
    }

    /// Whether the note about `what` (a hash, or a file with none) is to
    /// be written now (`vouched`: about bytes the guard vouches for), and
    /// how many were left out in the minute before (to be said once).
    pub fn due(&self, what: &str, note: &Note, now: u64, vouched: bool) -> (bool, u64) {
        let Ok(mut s) = self.inner.lock() else {
            return (false, 0);
        };
        let mut said = 0;
        if now / 60 != s.minute {
            said = std::mem::take(&mut s.suppressed);
            s.minute = now / 60;
            s.written = [0, 0];
        }
        let k = (what.to_string(), note.verdict.clone());
        if s.last.get(&k).is_some_and(|&t| now < t + AGAIN_SECS) {
            return (false, said);
        }
        let kind = usize::from(vouched);
        if s.written.get(kind).copied().unwrap_or(PER_MINUTE) >= PER_MINUTE {
            s.suppressed += 1;
            return (false, said);
        }
        if s.last.len() >= MAX_SEEN {
            s.last.clear();
        }
        s.last.insert(k, now);
        if let Some(w) = s.written.get_mut(kind) {
            *w += 1;
        }
        (true, said)
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One record per hash and verdict an hour, whatever the file's name;
    /// at most PER_MINUTE a minute in all, the rest counted and said.
    #[test]
    fn records_are_bounded_by_hash_and_by_minute() {
        let r = Recorder::new();
        let note = |v: &str| Note {
            verdict: v.into(),
            code: 126,
            reason: String::new(),
        };
        assert_eq!(r.due("aa", &note("refused: x"), 60, false), (true, 0));
        assert_eq!(r.due("aa", &note("refused: x"), 61, false), (false, 0));
        assert_eq!(r.due("aa", &note("refused: y"), 61, false), (true, 0));
        for i in 0..200 {
            r.due(&format!("h{i}"), &note("refused: x"), 62, false);
        }
        // The flood did not use up the budget of bytes the guard vouches for.
        assert_eq!(r.due("proven", &note("refused: x"), 63, true), (true, 0));
        let later = 60 + AGAIN_SECS + 60;
        assert_eq!(
            r.due("aa", &note("refused: x"), later, false).1,
            202 - PER_MINUTE as u64
        );
    }
}
