//! The cache's temporary files (`cas/tmp/`): a program being ingested, or a
//! release being downloaded, is written there and then renamed into the
//! CAS. A run killed mid-copy leaves its file behind (a 40 MB program: 40 MB
//! each time); the next run that takes the state lock removes such files
//! ([`sweep`], from `Store::lock`).
//!
//! A file left behind is told from one being written right now by a lock,
//! not by names, process ids or ages: each file is created with an
//! exclusive `flock(2)` on it ([`Temp::new_in`]), held until it is renamed
//! into the CAS or removed. The kernel drops the lock when its holder dies,
//! however it dies (`kill -9` included); a process id reused by another
//! process does not make a dead writer look alive, and a writer in another
//! PID namespace sharing the cache is not taken for dead. Between creating
//! a file and locking it there is a moment when a sweep would take it for
//! abandoned, so creating holds a shared lock on the directory and a sweep
//! an exclusive one (and skips its turn rather than wait for it).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};

fn flock(f: File, arg: FlockArg) -> io::Result<Option<Flock<File>>> {
    match Flock::lock(f, arg) {
        Ok(l) => Ok(Some(l)),
        Err((_, Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(io::Error::from(e)),
    }
}

/// A temporary file in the cache's temp directory, locked while it lives.
pub struct Temp {
    file: tempfile::NamedTempFile,
    _held: Flock<File>,
}

impl Temp {
    /// Creates a temporary file in `dir` (created if needed), held.
    pub fn new_in(dir: &Path) -> io::Result<Temp> {
        fs::create_dir_all(dir)?;
        let dir_lock = flock(File::open(dir)?, FlockArg::LockShared)?;
        let file = tempfile::Builder::new().prefix(".part-").tempfile_in(dir)?;
        // Nobody else has this file open yet: the lock is free.
        let held = flock(file.as_file().try_clone()?, FlockArg::LockExclusiveNonblock)?
            .ok_or_else(|| io::Error::other("a new temporary file is locked by another process"))?;
        drop(dir_lock);
        Ok(Temp { file, _held: held })
    }

    pub fn as_file(&self) -> &File {
        self.file.as_file()
    }

    pub fn as_file_mut(&mut self) -> &mut File {
        self.file.as_file_mut()
    }

    /// Renames the file to `path` (replacing what is there); the lock goes
    /// with it and is dropped.
    pub fn persist(self, path: &Path) -> io::Result<()> {
        self.file.persist(path).map(drop).map_err(|e| e.error)
    }
}

/// Removes the files in `dir` that no live process holds: those left by
/// killed runs. Returns how many. Skips its turn (0) while a file is being
/// created; a missing directory has nothing to sweep.
pub fn sweep(dir: &Path) -> io::Result<usize> {
    let d = match File::open(dir) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let Some(_sweeping) = flock(d, FlockArg::LockExclusiveNonblock)? else {
        return Ok(0);
    };
    let mut removed = 0;
    for e in fs::read_dir(dir)? {
        let e = e?;
        if !e.file_type()?.is_file() {
            continue;
        }
        let path = e.path();
        let Ok(f) = OpenOptions::new()
            .read(true)
            .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).bits())
            .open(&path)
        else {
            continue;
        };
        // Free: its writer is gone. (No new file can take this name while
        // the directory is locked.)
        if flock(f, FlockArg::LockExclusiveNonblock)?.is_some() {
            fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_removes_what_no_one_holds() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        assert_eq!(sweep(&tmp).unwrap(), 0, "no directory yet");
        let held = Temp::new_in(&tmp).unwrap();
        fs::write(tmp.join(".part-left"), b"left by a killed run").unwrap();
        fs::create_dir(tmp.join("subdir")).unwrap();
        assert_eq!(sweep(&tmp).unwrap(), 1);
        let left: Vec<_> = fs::read_dir(&tmp).unwrap().flatten().collect();
        assert_eq!(left.len(), 2, "the held file and the directory stay");
        held.persist(&dir.path().join("done")).unwrap();
        assert_eq!(sweep(&tmp).unwrap(), 0);
        assert!(dir.path().join("done").exists());
    }
}
