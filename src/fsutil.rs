//! Files on disk: atomic writes (temp file, fsync, rename), exclusive locks,
//! and reads that open only regular files and stop at a cap.
//! A process killed at any point leaves either the old or the new file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// How hard a write tries to be durable before it returns.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Durability {
    /// fsync the file and its directory before and after the rename.
    Sync,
    /// Rename only; the caller makes the batch durable with [`sync_fs`].
    Batch,
}

fn temp_name(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp.{}.{n}", std::process::id()))
}

/// Writes `data` to `path` atomically with permission bits `mode`.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32, durability: Durability) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let tmp = temp_name(path);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        // Creation mode is masked by the umask; set the bits we mean.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        if durability == Durability::Sync {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if durability == Durability::Sync {
            sync_dir(path)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes `data` to `path` in place (create or truncate), for files no
/// reader may use before a later atomic step publishes them (the log's
/// tlog-proof files, written before the checkpoint that makes them
/// reachable). The parent directory must exist. Saves the temp file and
/// rename of [`write_atomic`], which dominate when writing 100 000 files.
pub fn write_unpublished(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)?;
    f.write_all(data)
}

fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

/// Flushes every pending write of the file system holding `path`.
pub fn sync_fs(path: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = File::open(path)?;
    nix::unistd::syncfs(f.as_raw_fd()).map_err(io::Error::from)
}

/// What a path that is not a regular file is instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Directory,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Other,
}

impl FileKind {
    fn of(t: fs::FileType) -> FileKind {
        use std::os::unix::fs::FileTypeExt;
        if t.is_dir() {
            FileKind::Directory
        } else if t.is_fifo() {
            FileKind::Fifo
        } else if t.is_socket() {
            FileKind::Socket
        } else if t.is_char_device() {
            FileKind::CharDevice
        } else if t.is_block_device() {
            FileKind::BlockDevice
        } else {
            FileKind::Other
        }
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO",
            FileKind::Socket => "a socket",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Other => "a special file",
        })
    }
}

/// A path that was to be read is not a regular file. Carried inside the
/// `io::Error` of [`open_regular`] and the reads built on it (see
/// [`not_regular`]).
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}, not a regular file", path.display())]
pub struct NotRegular {
    pub path: PathBuf,
    pub kind: FileKind,
}

/// The [`NotRegular`] inside an error of [`open_regular`] or a read built on it.
pub fn not_regular(e: &io::Error) -> Option<&NotRegular> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<NotRegular>())
}

fn refuse_unless_regular(path: &Path, t: fs::FileType) -> io::Result<()> {
    if t.is_file() {
        return Ok(());
    }
    Err(io::Error::other(NotRegular {
        path: path.to_path_buf(),
        kind: FileKind::of(t),
    }))
}

/// Opens `path` for reading only if it is a regular file: every read of a
/// local file bt-exec does not control goes through here.
///
/// The attack: a local user, or whoever writes a log directory bt-exec reads
/// as `file://`, plants a FIFO where bt-exec reads (the sidecar
/// `PROGRAM.tlog-proof`, a log's checkpoint or tile, the program itself).
/// Opening a FIFO for reading blocks until a writer appears, and reading it
/// until the writer writes: bt-exec would hang forever, past any deadline.
/// A socket or a device is no better, and opening some devices has effects
/// of its own (a watchdog starts counting). So the path is stat'ed first and
/// nothing but a regular file is opened at all; it is opened with
/// `O_NONBLOCK` (swapped for a FIFO in between, the open still returns at
/// once) and `O_NOCTTY`, and the descriptor is fstat'ed, since it is what is
/// read. `O_NONBLOCK` changes nothing for a regular file.
pub fn open_regular(path: &Path) -> io::Result<File> {
    open_regular_with_metadata(path).map(|(f, _)| f)
}

/// [`open_regular`], with the metadata of the descriptor opened.
pub fn open_regular_with_metadata(path: &Path) -> io::Result<(File, fs::Metadata)> {
    refuse_unless_regular(path, fs::metadata(path)?.file_type())?;
    let flags = nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_NOCTTY;
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits())
        .open(path)?;
    let meta = f.metadata()?;
    refuse_unless_regular(path, meta.file_type())?;
    // Below bt-exec's cache or state directory: owned by this user or root,
    // not writable by others (src/strict.rs).
    crate::strict::check_read(path).map_err(io::Error::other)?;
    Ok((f, meta))
}

/// Opens `rel`, a plain relative path, beneath the directory `root` for
/// reading, following no symbolic link on the way: each component is opened
/// relative to the directory opened before it, with `O_NOFOLLOW`, so a link
/// anywhere in `rel` — or one swapped in while this runs — fails the open
/// instead of being followed out of `root`. Only a regular file is returned
/// (as [`open_regular`]; the last component is opened `O_NONBLOCK` and
/// fstat'ed, without a stat first: inside a directory bt-log serves, a
/// device can only be the operator's).
pub fn open_beneath(root: &Path, rel: &Path) -> io::Result<File> {
    use rustix::fs::{open, openat, Mode, OFlags};
    use std::path::Component;
    let mut names = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => names.push(n),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{}: not a plain relative path", rel.display()),
                ))
            }
        }
    }
    let Some((last, dirs)) = names.split_last() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "an empty path"));
    };
    let at_dir = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut dir = open(root, at_dir, Mode::empty())?;
    for d in dirs {
        dir = openat(&dir, *d, at_dir | OFlags::NOFOLLOW, Mode::empty())?;
    }
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY;
    let f = File::from(openat(&dir, *last, flags | OFlags::CLOEXEC, Mode::empty())?);
    refuse_unless_regular(&root.join(rel), f.metadata()?.file_type())?;
    Ok(f)
}

/// Reads a regular file ([`open_regular`]) up to `cap` bytes; a larger file
/// is an error, not truncated.
pub fn read_capped(path: &Path, cap: usize) -> io::Result<Vec<u8>> {
    read_opened(path, open_regular_with_metadata(path)?, cap)
}

/// The content of `f`, opened from `path`, at most `cap` bytes.
fn read_opened(path: &Path, (f, meta): (File, fs::Metadata), cap: usize) -> io::Result<Vec<u8>> {
    // Sized from the file's length (a hint only: the cap is what bounds it).
    // Asked for a byte more than that length and given exactly the length,
    // a regular file is at its end: one read, with no second one to see
    // the end. Given anything else (it grew or shrank meanwhile), the rest
    // is read to the end as usual, still within the cap.
    let hint = meta.len().min(cap as u64) as usize;
    let mut buf = vec![0; hint + 1];
    let mut f = f;
    let n = loop {
        match f.read(&mut buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => break r?,
        }
    };
    buf.truncate(n);
    if n as u64 == meta.len() && n <= cap {
        return Ok(buf);
    }
    f.take((cap + 1).saturating_sub(n) as u64)
        .read_to_end(&mut buf)?;
    if buf.len() > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is larger than {cap} bytes", path.display()),
        ));
    }
    Ok(buf)
}

/// Why a file bt-exec takes its trust from was not read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigReadError {
    #[error("another user could rewrite it: {0}")]
    Strict(crate::strict::StrictError),
    #[error("{}: {err}", path.display())]
    Read { path: PathBuf, err: String },
}

/// Reads a file bt-exec takes its trust from (at most `cap` bytes), once
/// [`crate::strict::check_config`] passed for it.
pub fn read_config(path: &Path, cap: usize) -> Result<Vec<u8>, ConfigReadError> {
    match crate::strict::check_config(path) {
        Ok(()) => {}
        Err(crate::strict::StrictError::Io { path, err }) => {
            return Err(ConfigReadError::Read { path, err })
        }
        Err(e) => return Err(ConfigReadError::Strict(e)),
    }
    read_capped(path, cap).map_err(|e| ConfigReadError::Read {
        path: path.to_path_buf(),
        err: e.to_string(),
    })
}

/// `path` with `suffix` appended to its last component, byte for byte
/// (PROGRAM.tlog-proof beside PROGRAM): never through `Path::display`,
/// which would replace the bytes of a name that is not UTF-8 and so look
/// for the proof of another name.
pub fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Reads a file if it exists.
pub fn read_optional(path: &Path, cap: usize) -> io::Result<Option<Vec<u8>>> {
    read_optional_with_mtime(path, cap).map(|o| o.map(|(b, _)| b))
}

/// Reads a file if it exists, with its modification time (Unix seconds;
/// `None` when it cannot be told), from the descriptor read.
pub fn read_optional_with_mtime(
    path: &Path,
    cap: usize,
) -> io::Result<Option<(Vec<u8>, Option<u64>)>> {
    let opened = match open_regular_with_metadata(path) {
        Ok(o) => o,
        // Absent below bt-exec's cache or state directory: only if no
        // other user could have removed it (src/strict.rs).
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            crate::strict::check_absent(path).map_err(io::Error::other)?;
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let mtime = opened
        .1
        .modified()
        .ok()
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    read_opened(path, opened, cap).map(|b| Some((b, mtime)))
}

/// Text read from a file, as it may be shown on a terminal: control
/// characters (escape sequences, C1) and the invisible formatting ones
/// (bidirectional overrides and isolates, zero-width characters, which can
/// make a line read as another) are shown escaped as `\u{..}`, never sent.
pub fn terminal_safe(text: &str) -> String {
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{ad}' | '\u{61c}' | '\u{180e}' | '\u{feff}')
            || ('\u{200b}'..='\u{200f}').contains(&c)
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2060}'..='\u{206f}').contains(&c)
            || ('\u{fff9}'..='\u{fffb}').contains(&c)
    };
    text.chars()
        .map(|c| {
            if hidden(c) {
                format!("\\u{{{:x}}}", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// An exclusive advisory lock on a file, released on drop.
pub struct Lock(#[allow(dead_code)] Flock<File>);

impl Lock {
    /// Blocks until the lock on `path` (created if needed) is held.
    pub fn exclusive(path: &Path) -> io::Result<Lock> {
        Flock::lock(Self::open(path)?, FlockArg::LockExclusive)
            .map(Lock)
            .map_err(|(_, e)| io::Error::from(e))
    }

    /// Takes the lock only if it is free.
    pub fn try_exclusive(path: &Path) -> io::Result<Option<Lock>> {
        match Flock::lock(Self::open(path)?, FlockArg::LockExclusiveNonblock) {
            Ok(l) => Ok(Some(Lock(l))),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(io::Error::from(e)),
        }
    }

    /// The lock file, created if needed: opened without following a link
    /// and without blocking (a FIFO planted there would hang the open), and
    /// only ever a regular file.
    pub fn open(path: &Path) -> io::Result<File> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let flags = nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_NOFOLLOW;
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(flags.bits())
            .open(path)?;
        let m = f.metadata()?;
        refuse_unless_regular(path, m.file_type())?;
        // Whoever can open the file can hold a lock on it for ever (a
        // shared `flock` needs nothing more): it is this user's alone.
        if m.permissions().mode() & 0o077 != 0 {
            return Err(io::Error::other(format!(
                "{}: the lock file is open to other users, who could hold it and stall every run; chmod 600 it",
                path.display()
            )));
        }
        Ok(f)
    }
}

/// The SHA-256 and length of everything `r` yields, read 1 MiB at a time;
/// an error past `limit` bytes (read no further).
pub fn sha256_reader(mut r: impl Read, limit: u64) -> io::Result<([u8; 32], u64)> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok((h.finalize().into(), size));
        }
        h.update(buf.get(..n).unwrap_or_default());
        size += n as u64;
        if size > limit {
            return Err(io::Error::other(format!("larger than {limit} bytes")));
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every length around the cap is read whole or refused, and a file
    /// whose length `fstat` does not tell (in /proc) is read to its end.
    #[test]
    fn reads_are_whole_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        for (len, ok) in [(0, true), (1, true), (99, true), (100, true), (101, false)] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            std::fs::write(&p, &data).unwrap();
            match read_capped(&p, 100) {
                Ok(b) => assert!(ok && b == data, "{len} bytes"),
                Err(e) => assert!(!ok, "{len} bytes: {e}"),
            }
        }
        let status = read_capped(Path::new("/proc/self/status"), 1 << 20).unwrap();
        assert!(String::from_utf8_lossy(&status).contains("\nPid:"));
    }

    #[test]
    fn text_for_a_terminal_shows_control_and_formatting_characters_escaped() {
        assert_eq!(terminal_safe("plain é ✓"), "plain é ✓");
        assert_eq!(
            terminal_safe("a\x1b[2Jb\u{9b}c\n"),
            "a\\u{1b}[2Jb\\u{9b}c\\u{a}"
        );
        assert_eq!(
            terminal_safe("hello \u{202e}live\u{2066}\u{200b}\u{feff}"),
            "hello \\u{202e}live\\u{2066}\\u{200b}\\u{feff}"
        );
    }

    use super::*;

    /// A FIFO with no writer, a directory and a device: each refused at
    /// once with what it is (opening the FIFO would block forever).
    #[test]
    fn only_regular_files_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        for (path, kind) in [
            (fifo.as_path(), FileKind::Fifo),
            (dir.path(), FileKind::Directory),
            (Path::new("/dev/null"), FileKind::CharDevice),
        ] {
            let e = read_capped(path, 10).unwrap_err();
            let nr = not_regular(&e).unwrap();
            assert_eq!((nr.path.as_path(), nr.kind), (path, kind));
            assert!(e.to_string().contains("not a regular file"), "{e}");
        }
        assert_eq!(
            read_optional(&dir.path().join("none"), 1).unwrap(),
            None,
            "missing is not refused"
        );
    }

    /// A link anywhere on the way fails the open, even one inside the root:
    /// the caller resolves links and checks where they go first.
    #[test]
    fn open_beneath_follows_no_link() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/b/f"), b"x").unwrap();
        symlink("a", root.join("la")).unwrap();
        symlink("f", root.join("a/b/lf")).unwrap();
        let mut s = String::new();
        open_beneath(root, Path::new("a/b/f"))
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "x");
        for rel in ["la/b/f", "a/b/lf", "a/b", "a/../a/b/f", "/a/b/f", ""] {
            assert!(open_beneath(root, Path::new(rel)).is_err(), "{rel}");
        }
    }

    #[test]
    fn atomic_write_and_caps() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/c");
        write_atomic(&p, b"hello", 0o444, Durability::Sync).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o444
        );
        write_atomic(&p, b"again", 0o644, Durability::Batch).unwrap();
        assert_eq!(read_capped(&p, 5).unwrap(), b"again");
        assert!(read_capped(&p, 4).is_err());
        assert_eq!(read_optional(&dir.path().join("none"), 1).unwrap(), None);
        let l = Lock::exclusive(&dir.path().join("lock")).unwrap();
        assert!(Lock::try_exclusive(&dir.path().join("lock"))
            .unwrap()
            .is_none());
        drop(l);
        assert!(Lock::try_exclusive(&dir.path().join("lock"))
            .unwrap()
            .is_some());
    }
}
