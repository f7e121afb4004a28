//! A file's SHA-256 as the guard takes it: through the descriptor the
//! kernel gave with the exec's event (never by path), within a deadline,
//! and remembered by the file's identity and change times.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::Mutex;
use std::time::Instant;

use sha2::{Digest, Sha256};

/// A file as the hash cache knows it. Any write changes its `ctime`,
/// which no user can set back (unlike `mtime`, which `touch -d` can):
/// so bytes changed in place are hashed again. Attack stopped: a proven
/// program rewritten in place, with its old `mtime` restored, running on
/// the strength of its old hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl FileKey {
    pub fn of(m: &std::fs::Metadata) -> FileKey {
        FileKey {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// Why there is no hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("hashing it took longer than the guard's hash_deadline ({0} ms so far)")]
    TooSlow(u128),
    #[error("it is larger than {0} bytes")]
    TooLarge(u64),
    #[error("it cannot be read: {0}")]
    Io(String),
    #[error("it changed while it was hashed")]
    Changed,
    #[error("it is not a regular file")]
    NotRegular,
}

/// The largest file the guard hashes.
pub const MAX_HASH_BYTES: u64 = 4 << 30;
/// How much is read at a time (the deadline is checked between reads).
const CHUNK: usize = 1 << 20;

/// Hashes `file` (described by `key`, its metadata before the read) from
/// offset 0 to `key.size`, stopping at `deadline`; the file must still
/// have the same identity and change times afterwards, and end where it
/// did. Attack stopped: bytes swapped between the hash and the answer
/// (a write changes `ctime`) being allowed under the hash of the bytes
/// before them.
pub fn hash(file: &File, key: &FileKey, deadline: Option<Instant>) -> Result<[u8; 32], HashError> {
    if key.size > MAX_HASH_BYTES {
        return Err(HashError::TooLarge(MAX_HASH_BYTES));
    }
    let start = Instant::now();
    let mut h = Sha256::new();
    // No larger than the file: a small program costs no 1 MiB to zero.
    let mut buf =
        vec![0u8; CHUNK.min(usize::try_from(key.size).unwrap_or(CHUNK).saturating_add(1))];
    let mut at: u64 = 0;
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(HashError::TooSlow(start.elapsed().as_millis()));
        }
        let n = file
            .read_at(&mut buf, at)
            .map_err(|e| HashError::Io(e.to_string()))?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or_default());
        at += n as u64;
        if at > key.size {
            return Err(HashError::Changed);
        }
    }
    let after = file.metadata().map_err(|e| HashError::Io(e.to_string()))?;
    if at != key.size || FileKey::of(&after) != *key {
        return Err(HashError::Changed);
    }
    Ok(h.finalize().into())
}

/// The hashes the guard took, one per file (device and inode), each
/// valid for its [`FileKey`] and only while nobody has written the file
/// since it was read. A write through a shared mapping changes no time
/// on some filesystems (tmpfs: a page already mapped writable never
/// faults again), so times alone cannot say the bytes are the same: the
/// guard is told of every close of a file opened for writing
/// (`FAN_CLOSE_WRITE`, [`HashCache::written`]), and an exec of a file
/// someone still holds open for writing fails with `ETXTBSY`. Attack
/// stopped: a proven program rewritten through `mmap(MAP_SHARED)` with
/// its times unchanged, run on the strength of its old hash.
///
/// Events are numbered as the guard reads them (`seq`); a hash is kept
/// only if its file was not written after the hash began
/// ([`HashCache::put`]). At most `cap` files are remembered (when full it
/// is emptied: a bound on memory that costs only hashing again).
pub struct HashCache {
    inner: Mutex<Inner>,
    cap: usize,
}

#[derive(Default)]
struct Inner {
    hashes: HashMap<(u64, u64), (FileKey, [u8; 32])>,
    /// Each file written since, with the number of the event that said so.
    written: HashMap<(u64, u64), u64>,
    /// A hash begun before this is never kept (the record of writes was
    /// emptied, or events were lost).
    floor: u64,
}

impl HashCache {
    pub fn new(cap: usize) -> HashCache {
        HashCache {
            inner: Mutex::new(Inner::default()),
            cap,
        }
    }

    pub fn get(&self, key: &FileKey) -> Option<[u8; 32]> {
        let m = self.inner.lock().ok()?;
        let (k, sha) = m.hashes.get(&(key.dev, key.ino))?;
        (k == key).then_some(*sha)
    }

    /// Keeps `sha256` for `key`, read from event number `since` on, unless
    /// the file was written after that, or its ctime is not two seconds
    /// older than the second the hash began (`started`, Unix seconds). A filesystem whose
    /// times move once a clock tick keeps the same times across writes
    /// within one tick (git's "racily clean" files): a hash is kept only
    /// once any later write must show in ctime. Attack stopped: a program
    /// rewritten in place (or by `truncate`, which closes no file) within
    /// the tick its hash was taken in, run under the old hash.
    pub fn put(&self, key: FileKey, sha256: [u8; 32], since: u64, started: u64) {
        // Two seconds: ctime comes from the kernel's coarse clock, which
        // may lag the time the hash began by a tick.
        if i64::try_from(started).map_or(true, |s| key.ctime.0.saturating_add(2) > s) {
            return;
        }
        let Ok(mut m) = self.inner.lock() else { return };
        let id = (key.dev, key.ino);
        if since < m.floor || m.written.get(&id).is_some_and(|&w| w >= since) {
            return;
        }
        if m.hashes.len() >= self.cap {
            m.hashes.clear();
        }
        m.hashes.insert(id, (key, sha256));
    }

    /// The file `dev`/`ino` was closed after being written (event `seq`):
    /// its hash is forgotten, and one begun before now is not kept.
    pub fn written(&self, dev: u64, ino: u64, seq: u64) {
        let Ok(mut m) = self.inner.lock() else { return };
        m.hashes.remove(&(dev, ino));
        if m.written.len() >= self.cap {
            m.written.clear();
            m.floor = seq;
        }
        m.written.insert((dev, ino), seq);
    }

    /// Events were lost (the queue overflowed): any file may have been
    /// written; every hash is forgotten.
    pub fn forget_all(&self, seq: u64) {
        if let Ok(mut m) = self.inner.lock() {
            m.hashes.clear();
            m.written.clear();
            m.floor = seq;
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|m| m.hashes.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn key(f: &File) -> FileKey {
        FileKey::of(&f.metadata().unwrap())
    }

    #[test]
    fn a_file_is_hashed_through_its_descriptor() {
        let mut t = tempfile::NamedTempFile::new().unwrap();
        t.write_all(b"hello").unwrap();
        let f = File::open(t.path()).unwrap();
        let got = hash(&f, &key(&f), None).unwrap();
        assert_eq!(got, <[u8; 32]>::from(Sha256::digest(b"hello")));
    }

    /// A write between the key and the hash (or during it) is a change:
    /// never the old key with the new bytes' hash, nor the reverse.
    #[test]
    fn a_file_written_after_its_key_was_taken_is_changed() {
        let mut t = tempfile::NamedTempFile::new().unwrap();
        t.write_all(b"hello").unwrap();
        let f = File::open(t.path()).unwrap();
        let k = key(&f);
        std::thread::sleep(std::time::Duration::from_millis(20));
        t.as_file().write_all(b"!").unwrap();
        assert_eq!(hash(&f, &k, None), Err(HashError::Changed));
        // Same length, other bytes: ctime moved.
        let mut k2 = key(&f);
        k2.ctime.1 = k2.ctime.1.wrapping_add(1);
        assert_eq!(hash(&f, &k2, None), Err(HashError::Changed));
    }

    #[test]
    fn a_deadline_already_past_is_too_slow() {
        let mut t = tempfile::NamedTempFile::new().unwrap();
        t.write_all(b"x").unwrap();
        let f = File::open(t.path()).unwrap();
        let past = Instant::now();
        assert!(matches!(
            hash(&f, &key(&f), Some(past)),
            Err(HashError::TooSlow(_))
        ));
    }

    #[test]
    fn the_cache_is_bounded() {
        let c = HashCache::new(2);
        let k = |i| FileKey {
            dev: 1,
            ino: i,
            size: 0,
            mtime: (0, 0),
            ctime: (0, 0),
        };
        c.put(k(1), [1; 32], 0, 9);
        c.put(k(2), [2; 32], 0, 9);
        assert_eq!(c.get(&k(1)), Some([1; 32]));
        c.put(k(3), [3; 32], 0, 9);
        assert_eq!(c.len(), 1);
        assert_eq!(c.get(&k(3)), Some([3; 32]));
        assert_eq!(c.get(&k(1)), None);
    }

    /// A write the guard is told of ends the file's hash, and a hash begun
    /// before that write is not kept; one begun after it is. Near-misses:
    /// another key of the same file, and every hash after lost events.
    #[test]
    fn a_hash_is_kept_only_while_its_file_is_unwritten() {
        let c = HashCache::new(16);
        let k = FileKey {
            dev: 1,
            ino: 7,
            size: 5,
            mtime: (1, 0),
            ctime: (1, 0),
        };
        c.put(k, [1; 32], 10, 9);
        assert_eq!(c.get(&k), Some([1; 32]));
        let mut other = k;
        other.ctime = (2, 0);
        assert_eq!(c.get(&other), None, "another key of the same file");
        c.written(1, 7, 11);
        assert_eq!(c.get(&k), None, "written since");
        c.put(k, [2; 32], 10, 9);
        assert_eq!(c.get(&k), None, "hashed before the write: not kept");
        c.put(k, [3; 32], 12, 9);
        assert_eq!(c.get(&k), Some([3; 32]), "hashed after it");
        c.forget_all(20);
        assert_eq!(c.get(&k), None);
        c.put(k, [4; 32], 19, 9);
        assert_eq!(c.get(&k), None, "begun before events were lost");
        c.put(k, [5; 32], 21, 2);
        assert_eq!(c.get(&k), None, "ctime a second older: racily clean");
        c.put(k, [5; 32], 21, 3);
        assert_eq!(c.get(&k), Some([5; 32]), "ctime two seconds older");
    }
}
