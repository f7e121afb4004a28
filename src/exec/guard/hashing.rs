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
    let mut buf = vec![0u8; CHUNK];
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

/// The hashes the guard took, by [`FileKey`]; at most `cap` of them
/// (when full, it is emptied and fills again: a bound on memory that
/// costs only hashing again).
pub struct HashCache {
    map: Mutex<HashMap<FileKey, [u8; 32]>>,
    cap: usize,
}

impl HashCache {
    pub fn new(cap: usize) -> HashCache {
        HashCache {
            map: Mutex::new(HashMap::new()),
            cap,
        }
    }

    pub fn get(&self, key: &FileKey) -> Option<[u8; 32]> {
        self.map.lock().ok()?.get(key).copied()
    }

    pub fn put(&self, key: FileKey, sha256: [u8; 32]) {
        if let Ok(mut m) = self.map.lock() {
            if m.len() >= self.cap {
                m.clear();
            }
            m.insert(key, sha256);
        }
    }

    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
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
        c.put(k(1), [1; 32]);
        c.put(k(2), [2; 32]);
        assert_eq!(c.get(&k(1)), Some([1; 32]));
        c.put(k(3), [3; 32]);
        assert_eq!(c.len(), 1);
        assert_eq!(c.get(&k(3)), Some([3; 32]));
        assert_eq!(c.get(&k(1)), None);
    }
}
