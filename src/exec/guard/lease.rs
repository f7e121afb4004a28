//! Whether anyone holds a file open for writing, a writable shared mapping
//! included: a read lease (`fcntl(F_SETLEASE, F_RDLCK)`) can be taken
//! only when nobody does, and is given back at once.
//!
//! The crate's one `unsafe` block: neither nix nor rustix wraps
//! `F_SETLEASE`. The call passes an integer and a descriptor the caller
//! keeps open for its duration, and touches no memory of ours.
//!
//! The guard must not be ended by the lease it held for a moment being
//! broken: `SIGIO`, the signal a lease break sends, is blocked in the
//! guard (src/exec/guard/run.rs, `prepare_process`).

use std::os::fd::{AsRawFd, BorrowedFd};

/// Whether the file `fd` (opened read-only) is open for writing anywhere.
/// `Err` when the filesystem has no leases: then nobody can tell.
pub fn open_for_writing(fd: BorrowedFd) -> std::io::Result<bool> {
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl(F_SETLEASE) takes an int and reads no memory; `fd`
    // is borrowed, so open, for the whole call.
    #[allow(unsafe_code)]
    let r = unsafe { libc::fcntl(raw, libc::F_SETLEASE, libc::F_RDLCK) };
    if r == -1 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN) => Ok(true),
            _ => Err(e),
        };
    }
    // SAFETY: as above.
    #[allow(unsafe_code)]
    let _ = unsafe { libc::fcntl(raw, libc::F_SETLEASE, libc::F_UNLCK) };
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// A file nobody writes is not open for writing; with a writer it is,
    /// and not once the writer is gone (a writable shared mapping:
    /// tests/guard.rs).
    #[test]
    fn a_writer_is_seen_and_its_absence_too() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"x").unwrap();
        let r = std::fs::File::open(&p).unwrap();
        assert!(!open_for_writing(r.as_fd()).unwrap());
        let w = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        assert!(open_for_writing(r.as_fd()).unwrap());
        drop(w);
        assert!(!open_for_writing(r.as_fd()).unwrap());
    }
}
