//! Strict modes for bt-exec's own files, as ssh's `StrictModes` and gpg's
//! "unsafe permissions" warning (DESIGN §7).
//!
//! The attack: another local user plants a file at a logged program's hash
//! in a cache they can write to — a shared or pre-created
//! `BT_EXEC_CACHE_DIR`, a group- or world-writable directory on the way to
//! it, a cache path that is a link they own — and bt-exec execs it, since
//! the CAS is trusted to hold the bytes this user's process hashed. The
//! state directory is trusted the same way (a planted memo, proof or
//! checkpoint, a removed alarm). So the cache and state directories, every
//! directory above them up to `/`, and every file and directory bt-exec
//! reads below them must be owned by the effective user or root and not be
//! writable by group or others. Above the two directories a root-owned
//! sticky directory such as `/tmp` is fine: others may add entries to it
//! but not replace or remove ours. Anything else is refused (125), naming
//! the path and what to fix.
//!
//! Where it is checked: the two directories and all above them when a
//! command opens the store ([`enforce`]); every file read below them through
//! `fsutil`, with the directories in between ([`check_read`]); a CAS file
//! before it is used without being read ([`existing`]). A refusal below the
//! two directories is also remembered ([`refused`]): a reader that takes an
//! unreadable file for an absent one (an alarm, a checkpoint) must not turn
//! it into a run, so nothing is exec'd and the command ends with 125.
//!
//! What bt-exec takes its trust from — the policy file, its `trust_file`,
//! the Sigsum policy it names — is held to the same rules before it is
//! read ([`crate::fsutil::read_config`]): another user who could rewrite it could make it
//! trust their own log and key.
//!
//! bt-exec creates nothing group- or world-writable itself: [`enforce`] adds
//! `022` to the umask for bt-exec's own lifetime, and the program it runs
//! gets the caller's umask back ([`restore_umask`]).

use std::fs::{self, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Why a file or directory of bt-exec's fails the strict modes.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StrictError {
    #[error("{}: owned by uid {owner}, not by you (uid {euid}) or root; another user could have put it there: remove it (or chown it to yourself if you made it)", path.display())]
    Owner {
        path: PathBuf,
        owner: u32,
        euid: u32,
    },
    #[error("{}: writable by {who} (mode {mode:04o}); run: chmod go-w {}", path.display(), path.display())]
    Writable {
        path: PathBuf,
        mode: u32,
        who: &'static str,
    },
    #[error("{}: a symbolic link (to {}); bt-exec's cache and state directories, and what is in them, must not be links: use the directory itself (or remove the link)", path.display(), target.display())]
    Link { path: PathBuf, target: PathBuf },
    #[error("{}: not a directory or a regular file", path.display())]
    Kind { path: PathBuf },
    #[error("{}: a lock file open to other users (mode {mode:04o}), who could take the lock and hold it; run: chmod 600 {}", path.display(), path.display())]
    OpenLock { path: PathBuf, mode: u32 },
    #[error("{}: {err}", path.display())]
    Io { path: PathBuf, err: String },
}

impl StrictError {
    fn io(path: &Path, e: std::io::Error) -> StrictError {
        StrictError::Io {
            path: path.to_path_buf(),
            err: e.to_string(),
        }
    }
}

/// The cache and state directories of this process, once enforced.
static ROOTS: OnceLock<Vec<PathBuf>> = OnceLock::new();
/// The directories above them, checked by [`enforce`] with all above them.
static ABOVE: OnceLock<Vec<PathBuf>> = OnceLock::new();
/// The first refusal below them.
static REFUSED: OnceLock<StrictError> = OnceLock::new();
/// The umask this process was started with.
static UMASK: OnceLock<rustix::fs::Mode> = OnceLock::new();

fn euid() -> u32 {
    static EUID: OnceLock<u32> = OnceLock::new();
    *EUID.get_or_init(|| rustix::process::geteuid().as_raw())
}

/// Checks one entry by its `lstat` metadata. `above`: a directory above the
/// cache or state directory, where a root-owned sticky one is fine.
fn check_entry(path: &Path, m: &Metadata, above: bool) -> Result<(), StrictError> {
    if m.file_type().is_symlink() {
        let target = fs::read_link(path).unwrap_or_default();
        return Err(StrictError::Link {
            path: path.to_path_buf(),
            target,
        });
    }
    let (owner, euid) = (m.uid(), euid());
    if owner != euid && owner != 0 {
        return Err(StrictError::Owner {
            path: path.to_path_buf(),
            owner,
            euid,
        });
    }
    let mode = m.mode() & 0o7777;
    let sticky_root = above && m.is_dir() && owner == 0 && mode & 0o1000 != 0;
    if mode & 0o022 != 0 && !sticky_root {
        let who = match mode & 0o022 {
            0o020 => "its group",
            0o002 => "everyone",
            _ => "its group and everyone",
        };
        return Err(StrictError::Writable {
            path: path.to_path_buf(),
            mode,
            who,
        });
    }
    Ok(())
}

fn lstat(path: &Path) -> Result<Metadata, StrictError> {
    fs::symlink_metadata(path).map_err(|e| StrictError::io(path, e))
}

/// Checks every directory above `dir` (absolute), as written and, when a
/// link is on the way, as resolved. A link above is allowed when its owner
/// is the user or root (the directory holding it is checked too). What is
/// in `seen` was checked with all above it (the cache and state usually
/// share their parents).
fn check_above(dir: &Path, seen: &mut Vec<PathBuf>) -> Result<(), StrictError> {
    let mut links = false;
    for a in dir.ancestors().skip(1) {
        if seen.iter().any(|s| s == a) {
            break;
        }
        seen.push(a.to_path_buf());
        let m = lstat(a)?;
        if m.file_type().is_symlink() {
            links = true;
            if m.uid() != euid() && m.uid() != 0 {
                return Err(StrictError::Owner {
                    path: a.to_path_buf(),
                    owner: m.uid(),
                    euid: euid(),
                });
            }
        } else {
            check_entry(a, &m, true)?;
        }
    }
    if links {
        let resolved = fs::canonicalize(dir).map_err(|e| StrictError::io(dir, e))?;
        for a in resolved.ancestors().skip(1) {
            check_entry(a, &lstat(a)?, true)?;
        }
    }
    Ok(())
}

/// Checks a cache or state directory (created when missing) and all above it.
fn check_root(root: &Path, seen: &mut Vec<PathBuf>) -> Result<(), StrictError> {
    let root = std::path::absolute(root).map_err(|e| StrictError::io(root, e))?;
    let m = match fs::symlink_metadata(&root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(&root).map_err(|e| StrictError::io(&root, e))?;
            lstat(&root)?
        }
        other => other.map_err(|e| StrictError::io(&root, e))?,
    };
    if !m.is_dir() && !m.file_type().is_symlink() {
        return Err(StrictError::Kind { path: root });
    }
    check_entry(&root, &m, false)?;
    check_above(&root, seen)
}

/// Applies the strict modes to this process's cache and state directories
/// (`roots`): each, and everything above it, is checked now; every later
/// read below them is checked by [`check_read`]; files this process creates
/// are never group- or world-writable.
pub fn enforce(roots: &[&Path]) -> Result<(), StrictError> {
    restrict_umask();
    let mut seen = vec![];
    for root in roots {
        check_root(root, &mut seen)?;
    }
    let _ = ROOTS.set(roots.iter().map(|r| r.to_path_buf()).collect());
    let _ = ABOVE.set(seen);
    Ok(())
}

/// Checks a file bt-exec takes its trust from — the policy file, its
/// `trust_file`, the Sigsum policy it names (DESIGN §7) — and every
/// directory above it, as for the cache and state.
///
/// The attack: another local user who can write the file, or a directory
/// on the way to it (and so replace it), rewrites it to trust their own
/// log and publisher key, and their program runs. So the file must be a
/// regular file owned by the user or root and not writable by group or
/// others, and each directory above it the same, except a root-owned
/// sticky one such as `/tmp`. A link to it is fine when the user or root
/// owns it (a dotfile manager's, `/etc`'s alternatives): the file it
/// resolves to and the directories above that are checked too; a link
/// another user owns is refused, since they could point it anywhere.
pub fn check_config(path: &Path) -> Result<(), StrictError> {
    let path = std::path::absolute(path).map_err(|e| StrictError::io(path, e))?;
    let m = lstat(&path)?;
    let mut seen = ABOVE.get().cloned().unwrap_or_default();
    check_above(&path, &mut seen)?;
    if !m.file_type().is_symlink() {
        return check_config_file(&path, &m);
    }
    if m.uid() != euid() && m.uid() != 0 {
        return Err(StrictError::Owner {
            path,
            owner: m.uid(),
            euid: euid(),
        });
    }
    let real = fs::canonicalize(&path).map_err(|e| StrictError::io(&path, e))?;
    check_config_file(&real, &lstat(&real)?)?;
    check_above(&real, &mut seen)
}

fn check_config_file(path: &Path, m: &Metadata) -> Result<(), StrictError> {
    if !m.is_file() {
        return Err(StrictError::Kind {
            path: path.to_path_buf(),
        });
    }
    check_entry(path, m, false)
}

/// Adds `022` to the umask this process was started with.
pub fn restrict_umask() {
    use rustix::fs::Mode;
    let now = rustix::process::umask(Mode::from_raw_mode(0o022));
    let caller = *UMASK.get_or_init(|| now);
    rustix::process::umask(caller | Mode::from_raw_mode(0o022));
}

/// Gives the umask this process was started with back (before the exec of
/// the program; [`restrict_umask`] again should the exec fail).
pub fn restore_umask() {
    if let Some(m) = UMASK.get() {
        rustix::process::umask(*m);
    }
}

/// The first file or directory below the cache or state directory refused
/// by this process, if any.
pub fn refused() -> Option<&'static StrictError> {
    REFUSED.get()
}

fn remember(e: StrictError) -> StrictError {
    let _ = REFUSED.set(e.clone());
    e
}

/// The directories strictly between the root holding `path` and `path`,
/// when `path` is below one of [`enforce`]'s roots.
fn between(path: &Path) -> Option<Vec<PathBuf>> {
    let roots = ROOTS.get()?;
    let (root, rel) = roots
        .iter()
        .find_map(|r| path.strip_prefix(r).ok().map(|rel| (r, rel)))?;
    let mut dirs = vec![];
    let mut at = root.clone();
    let mut names = rel.iter().peekable();
    while let Some(n) = names.next() {
        if names.peek().is_some() {
            at.push(n);
            dirs.push(at.clone());
        }
    }
    Some(dirs)
}

fn check_below(path: &Path, m: &Metadata, dirs: &[PathBuf]) -> Result<(), StrictError> {
    check_entry(path, m, false)?;
    for d in dirs {
        check_entry(d, &lstat(d)?, false)?;
    }
    Ok(())
}

/// Checks a file just opened for reading at `path`, when it is below the
/// cache or state directory: the file (`lstat`, so a link is refused) and
/// each directory between. The refusal is remembered ([`refused`]).
pub fn check_read(path: &Path) -> Result<(), StrictError> {
    let Some(dirs) = between(path) else {
        return Ok(());
    };
    check_below(path, &lstat(path)?, &dirs).map_err(remember)
}

/// `path` below the cache or state directory, checked with the directories
/// between, when it exists; when it does not, the directories that would
/// hold it, as far as they exist (something is about to be written there).
fn below(path: &Path) -> Result<Option<Metadata>, StrictError> {
    let Some(dirs) = between(path) else {
        return Ok(fs::symlink_metadata(path).ok());
    };
    match fs::symlink_metadata(path) {
        Ok(m) => check_below(path, &m, &dirs).map(|()| Some(m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            for d in &dirs {
                match fs::symlink_metadata(d) {
                    Ok(m) => check_entry(d, &m, false)?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) => return Err(StrictError::io(d, e)),
                }
            }
            Ok(None)
        }
        Err(e) => Err(StrictError::io(path, e)),
    }
}

/// `path` below the cache or state directory was not found: the
/// directories that would hold it, as far as they exist, must pass the
/// strict modes too. Whoever could write one of them could have removed
/// the file — an alarm, a run record — to turn a refusal into a run. The
/// refusal is remembered ([`refused`]).
pub fn check_absent(path: &Path) -> Result<(), StrictError> {
    below(path).map(|_| ()).map_err(remember)
}

/// The metadata of a file below the cache or state directory that is used
/// without being read here (a CAS file that is exec'd), checked; `None`
/// when there is none (the directories that would hold it checked). The
/// refusal is remembered ([`refused`]).
pub fn existing(path: &Path) -> Result<Option<Metadata>, StrictError> {
    match below(path).map_err(remember)? {
        Some(m) if !m.is_file() => Err(remember(StrictError::Kind {
            path: path.to_path_buf(),
        })),
        m => Ok(m),
    }
}

/// Checks a directory below the cache or state directory that files are
/// written into and renamed from (the cache's temp directory: whoever can
/// write there can swap a file before it is renamed into the CAS). The
/// refusal is remembered ([`refused`]).
pub fn existing_dir(path: &Path) -> Result<(), StrictError> {
    match below(path).map_err(remember)? {
        Some(m) if !m.is_dir() => Err(remember(StrictError::Kind {
            path: path.to_path_buf(),
        })),
        _ => Ok(()),
    }
}

/// The strict-mode refusal carried by an I/O error of `fsutil`'s reads.
pub fn from_io(e: &std::io::Error) -> Option<&StrictError> {
    e.get_ref().and_then(|i| i.downcast_ref::<StrictError>())
}
