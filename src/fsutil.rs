//! Files on disk: atomic writes (temp file, fsync, rename) and exclusive locks.
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

/// Reads a file up to `cap` bytes; a larger file is an error, not truncated.
pub fn read_capped(path: &Path, cap: usize) -> io::Result<Vec<u8>> {
    let f = File::open(path)?;
    // Sized from the file's length (a hint only: the cap is what bounds it),
    // so a small file is one read rather than a series of growing ones.
    let hint = f.metadata().map(|m| m.len()).unwrap_or(0).min(cap as u64) as usize;
    let mut buf = Vec::with_capacity(hint + 1);
    f.take(cap as u64 + 1).read_to_end(&mut buf)?;
    if buf.len() > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is larger than {cap} bytes", path.display()),
        ));
    }
    Ok(buf)
}

/// Reads a file if it exists.
pub fn read_optional(path: &Path, cap: usize) -> io::Result<Option<Vec<u8>>> {
    match read_capped(path, cap) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// An exclusive advisory lock on a file, released on drop.
pub struct Lock(#[allow(dead_code)] Flock<File>);

impl Lock {
    /// Blocks until the lock on `path` (created if needed) is held.
    pub fn exclusive(path: &Path) -> io::Result<Lock> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path)?;
        Flock::lock(f, FlockArg::LockExclusive)
            .map(Lock)
            .map_err(|(_, e)| io::Error::from(e))
    }

    /// Takes the lock only if it is free.
    pub fn try_exclusive(path: &Path) -> io::Result<Option<Lock>> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path)?;
        match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            Ok(l) => Ok(Some(Lock(l))),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(io::Error::from(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
