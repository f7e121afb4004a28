//! The view kept in files under the state directory (the layout is
//! described in [`super`]).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{grow, hashes, io, Cover, HistoryError, Seen, View, MAX_LEAF, MAX_SHARD, NAME_RECORD};
use crate::entry::name_key;
use crate::entry::Entry;
use crate::fsutil::{self, Durability, Lock};
use crate::log_id::LogId;
use crate::source::Source;
use crate::store::Store;
use crate::tlog::checkpoint::parse_hash;
use crate::tlog::{Checkpoint, Hash};

/// The file of [`Cover`] records, and the size of one.
const WITNESSED: &str = "witnessed";
const COVER_RECORD: usize = 48;

/// One log's view in `views/<log-key>/` ([`LogId::file_key`]).
pub struct DirView {
    dir: PathBuf,
    origin: String,
}

impl DirView {
    /// The files of the view of `log` that release-history rules read
    /// to decide on a release already indexed (`size`, `coverage`); they
    /// change whenever the view does.
    pub fn files(store: &Store, log: &LogId) -> [PathBuf; 2] {
        let dir = Self::open(store, log).dir;
        [dir.join("size"), dir.join(WITNESSED)]
    }

    /// Indexes the view by file hash when it is not yet (a view an earlier
    /// version wrote, or an indexing killed midway); under the view's lock.
    fn ensure_hash_index(&self) -> Result<(), HistoryError> {
        if hashes::complete(&self.dir) {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let lock_path = self.dir.join("lock");
        let _lock = Lock::exclusive(&lock_path).map_err(io(&lock_path))?;
        self.ensure_hash_index_locked()
    }

    fn ensure_hash_index_locked(&self) -> Result<(), HistoryError> {
        if hashes::complete(&self.dir) {
            return Ok(());
        }
        hashes::rebuild(&self.dir, self.size().0)
    }

    pub fn open(store: &Store, log: &LogId) -> DirView {
        DirView {
            dir: store.state.join("views").join(log.file_key()),
            origin: log.origin().to_string(),
        }
    }
}

impl View for DirView {
    /// The tree size (and root) the view covers: 0 when it is new.
    fn size(&self) -> (u64, Option<Hash>) {
        let Ok(Some(b)) = fsutil::read_optional(&self.dir.join("size"), 256) else {
            return (0, None);
        };
        let text = String::from_utf8_lossy(&b);
        let mut it = text.split_whitespace();
        match (
            it.next().and_then(|s| s.parse().ok()),
            it.next().and_then(parse_hash),
        ) {
            (Some(n), Some(h)) => (n, Some(h)),
            _ => (0, None),
        }
    }

    /// Brings the view up to `cp` (a checkpoint already verified and in
    /// force), reading the new entry bundles and tiles through `f`.
    /// Returns how many entries were added.
    fn update(&self, f: &dyn Source, cp: &Checkpoint) -> Result<u64, HistoryError> {
        if self.size().0 >= cp.size {
            return Ok(0);
        }
        std::fs::create_dir_all(self.dir.join("names")).map_err(io(&self.dir))?;
        let lock_path = self.dir.join("lock");
        let _lock = Lock::exclusive(&lock_path).map_err(io(&lock_path))?;
        let (old_size, old_root) = self.size();
        if old_size >= cp.size {
            return Ok(0);
        }
        self.ensure_hash_index_locked()?;
        // Drop whatever a killed update appended past the view's size.
        let offsets_path = self.dir.join("offsets");
        let leaves_path = self.dir.join("leaves");
        let offsets = append_at(&offsets_path, old_size * 8)?;
        let end = if old_size == 0 {
            0
        } else {
            read_u64(&offsets, (old_size - 1) * 8).map_err(io(&offsets_path))?
        };
        let leaves = append_at(&leaves_path, end)?;
        let mut leaves = std::io::BufWriter::with_capacity(1 << 20, leaves);
        let mut offsets = std::io::BufWriter::with_capacity(1 << 16, offsets);
        let mut shards: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
        let mut by_hash: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
        let mut pos = end;
        let mut failed: Option<std::io::Error> = None;
        grow(
            &self.origin,
            (old_size, old_root),
            f,
            cp,
            &mut |index, e| {
                if failed.is_some() {
                    return;
                }
                let leaf = e.encode();
                pos += leaf.len() as u64;
                let k = name_key(&e.release.name);
                let rec = shards.entry(k[0]).or_default();
                rec.extend_from_slice(&k);
                rec.extend_from_slice(&index.to_le_bytes());
                let sha = &e.release.sha256;
                by_hash
                    .entry(sha[0])
                    .or_default()
                    .extend_from_slice(&hashes::record(sha, index));
                if let Err(err) = leaves
                    .write_all(&leaf)
                    .and_then(|_| offsets.write_all(&pos.to_le_bytes()))
                {
                    failed = Some(err);
                }
            },
        )?;
        if let Some(e) = failed {
            return Err(HistoryError::Io(leaves_path, e));
        }
        let finish = |w: std::io::BufWriter<File>, p: &Path| -> Result<(), HistoryError> {
            w.into_inner()
                .map_err(|e| HistoryError::Io(p.to_path_buf(), e.into_error()))?
                .sync_data()
                .map_err(io(p))
        };
        finish(leaves, &leaves_path)?;
        finish(offsets, &offsets_path)?;
        hashes::append_shards(&self.dir.join("names"), &shards)?;
        hashes::append(&self.dir, &by_hash)?;
        let size_path = self.dir.join("size");
        use base64::Engine;
        let root = base64::engine::general_purpose::STANDARD.encode(cp.root.0);
        let text = format!("{} {root}\n", cp.size);
        fsutil::write_atomic(&size_path, text.as_bytes(), 0o644, Durability::Sync)
            .map_err(io(&size_path))?;
        Ok(cp.size - old_size)
    }

    /// The entry at leaf `index` (below the view's size).
    fn entry(&self, index: u64) -> Result<Entry, HistoryError> {
        let op = self.dir.join("offsets");
        let offsets = fsutil::open_regular(&op).map_err(io(&op))?;
        let end = read_u64(&offsets, index * 8).map_err(io(&op))?;
        let start = match index {
            0 => 0,
            i => read_u64(&offsets, (i - 1) * 8).map_err(io(&op))?,
        };
        let lp = self.dir.join("leaves");
        let len = end
            .checked_sub(start)
            .filter(|&l| l <= MAX_LEAF)
            .ok_or_else(|| HistoryError::Corrupt(op.clone(), format!("bad offsets at {index}")))?;
        let mut leaf = vec![0u8; len as usize];
        fsutil::open_regular(&lp)
            .and_then(|f| f.read_exact_at(&mut leaf, start))
            .map_err(io(&lp))?;
        Entry::decode(&leaf).map_err(|e| HistoryError::Corrupt(lp, format!("entry {index}: {e}")))
    }

    /// Every release of `name` the view holds (exact name), in log order.
    fn releases(&self, name: &str) -> Result<Vec<Seen>, HistoryError> {
        let (size, _) = self.size();
        let k = name_key(name);
        let p = self.dir.join("names").join(format!("{:02x}", k[0]));
        let shard = fsutil::read_optional(&p, MAX_SHARD)
            .map_err(io(&p))?
            .unwrap_or_default();
        let mut idx: Vec<u64> = shard
            .chunks_exact(NAME_RECORD)
            .filter(|r| r.get(..16) == Some(&k[..]))
            .filter_map(|r| r.get(16..24)?.try_into().ok().map(u64::from_le_bytes))
            .filter(|&i| i < size)
            .collect();
        idx.sort_unstable();
        idx.dedup();
        let mut out = Vec::with_capacity(idx.len());
        for index in idx {
            let entry = self.entry(index)?;
            if entry.release.name == name {
                out.push(Seen { index, entry });
            }
        }
        Ok(out)
    }

    fn by_sha256(&self, sha256: &[u8; 32]) -> Result<Vec<Seen>, HistoryError> {
        let (size, _) = self.size();
        if size == 0 {
            return Ok(vec![]);
        }
        self.ensure_hash_index()?;
        let mut out = vec![];
        for index in hashes::candidates(&self.dir, sha256, size)? {
            let entry = self.entry(index)?;
            if &entry.release.sha256 == sha256 {
                out.push(Seen { index, entry });
            }
        }
        Ok(out)
    }

    /// Notes witnesses' cosignatures of a checkpoint in force (those not
    /// already implied by a record of the same witness, an equal or larger
    /// size and an equal or earlier time).
    fn record_coverage(&self, covers: &[Cover]) -> Result<(), HistoryError> {
        let have = self.coverage();
        let mut recs = Vec::new();
        for c in covers {
            let known = have
                .iter()
                .any(|h| h.witness == c.witness && h.size >= c.size && h.time <= c.time);
            if !known {
                recs.extend_from_slice(&c.size.to_le_bytes());
                recs.extend_from_slice(&c.time.to_le_bytes());
                recs.extend_from_slice(&c.witness);
            }
        }
        if recs.is_empty() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let p = self.dir.join(WITNESSED);
        // One O_APPEND write of whole records: concurrent processes never
        // interleave within one.
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .and_then(|mut f| f.write_all(&recs))
            .map_err(io(&p))
    }

    fn coverage(&self) -> Vec<Cover> {
        let p = self.dir.join(WITNESSED);
        let b = fsutil::read_optional(&p, 16 << 20)
            .ok()
            .flatten()
            .unwrap_or_default();
        b.chunks_exact(COVER_RECORD)
            .filter_map(|r| {
                Some(Cover {
                    size: u64::from_le_bytes(r.get(..8)?.try_into().ok()?),
                    time: u64::from_le_bytes(r.get(8..16)?.try_into().ok()?),
                    witness: r.get(16..48)?.try_into().ok()?,
                })
            })
            .collect()
    }

    /// Notes that a `cas` URL served these bytes at `time`.
    fn record_available(&self, sha256: &[u8; 32], time: u64) -> Result<(), HistoryError> {
        let p = self.dir.join("available");
        let line = format!("{} {time}\n", hex::encode(sha256));
        std::fs::create_dir_all(&self.dir)
            .and_then(|_| {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)?
                    .write_all(line.as_bytes())
            })
            .map_err(io(&p))
    }

    /// When a `cas` URL was last seen serving these bytes.
    fn available_since(&self, sha256: &[u8; 32]) -> Option<u64> {
        let p = self.dir.join("available");
        let b = fsutil::read_optional(&p, 16 << 20).ok().flatten()?;
        let want = hex::encode(sha256);
        String::from_utf8_lossy(&b)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(h, _)| *h == want)
            .filter_map(|(_, t)| t.parse().ok())
            .max()
    }
}

fn append_at(p: &Path, len: u64) -> Result<File, HistoryError> {
    let f = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(p)
        .map_err(io(p))?;
    // Read back later: owned by this user or root, writable by no one else
    // (strict modes), like every file read from the state directory.
    crate::strict::check_read(p).map_err(|e| io(p)(std::io::Error::other(e)))?;
    let have = f.metadata().map_err(io(p))?.len();
    if have < len {
        return Err(HistoryError::Corrupt(
            p.to_path_buf(),
            format!("holds {have} bytes, the view needs {len}; remove the directory to rebuild it"),
        ));
    }
    f.set_len(len).map_err(io(p))?;
    Ok(f)
}

fn read_u64(f: &File, at: u64) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, at)?;
    Ok(u64::from_le_bytes(b))
}
