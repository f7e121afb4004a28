//! Release history (DESIGN §5, §6 step 4): what each log was seen to
//! contain, kept in the state directory so the `latest`, `no_downgrade`,
//! `prior_revisions` and `min_release_age` checks stay cheap as a log grows.
//!
//! Per log (`views/<origin-key>/`):
//! - `leaves` and `offsets`: every entry up to the view's size, appended in
//!   log order (each verified against the tiles and the signed root, and its
//!   publisher signature checked, by the same bottom-up walk the monitor
//!   uses: [`crate::monitor`]'s `verify_growth`); `offsets` holds each
//!   entry's end offset as a little-endian u64.
//! - `names/<hh>`: 24-byte records, name key (16) ‖ leaf index (u64 LE),
//!   sharded by the name key's first byte: the releases of one name are
//!   found by reading one shard.
//! - `size`: the size (and root) of the tree the view covers, written last.
//! - `coverage`: 16-byte records, tree size ‖ the time a witness quorum had
//!   cosigned it (u64 LE each): when this machine first saw each leaf
//!   covered by a cosigned checkpoint.
//! - `available`: lines `<sha256 hex> <unix time>` for release bytes a
//!   `cas` URL was seen to serve (`prior_revisions` with `--offline`).
//!
//! And `runs/<name-key>`: the newest leaf of each name this machine ran,
//! per log (`no_downgrade`).
//!
//! Everything is appended before the `size` file that makes it count is
//! written, so a process killed at any point leaves a usable view; readers
//! ignore anything past `size`.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::entry::Entry;
use crate::fsutil::{self, Durability, Lock};
use crate::monitor::state::name_key;
use crate::monitor::Fault;
use crate::source::Source;
use crate::store::{origin_key, Store};
use crate::tlog::checkpoint::parse_hash;
use crate::tlog::{Checkpoint, Hash};

const NAME_RECORD: usize = 24;
const MAX_LEAF: u64 = 64 * 1024;
/// A name shard is read whole; this bounds it (≈ 2.7 M releases of one
/// shard's names).
const MAX_SHARD: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("release history {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("release history: {0}")]
    Log(#[from] Fault),
    #[error("release history {0}: {1}")]
    Corrupt(PathBuf, String),
}

fn io(p: &Path) -> impl FnOnce(std::io::Error) -> HistoryError + '_ {
    move |e| HistoryError::Io(p.to_path_buf(), e)
}

/// What this machine knows of one log's entries.
pub struct View {
    dir: PathBuf,
    origin: String,
}

/// An entry of the view with its leaf index.
#[derive(Debug, Clone)]
pub struct Seen {
    pub index: u64,
    pub entry: Entry,
}

impl View {
    /// The files of the view of `origin` that release-history rules read
    /// to decide on a release already indexed (`size`, `coverage`); they
    /// change whenever the view does.
    pub fn files(store: &Store, origin: &str) -> [PathBuf; 2] {
        let dir = Self::open(store, origin).dir;
        [dir.join("size"), dir.join("coverage")]
    }

    pub fn open(store: &Store, origin: &str) -> View {
        View {
            dir: store.state.join("views").join(origin_key(origin)),
            origin: origin.to_string(),
        }
    }

    /// The tree size (and root) the view covers: 0 when it is new.
    pub fn size(&self) -> (u64, Option<Hash>) {
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
    pub fn update(&self, f: &dyn Source, cp: &Checkpoint) -> Result<u64, HistoryError> {
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
        let mut pos = end;
        let mut failed: Option<std::io::Error> = None;
        let old = old_root.map(|root| Checkpoint::new(&self.origin, old_size, root));
        crate::monitor::tiles::verify_growth(
            f,
            old.as_ref().filter(|o| o.size > 0),
            cp,
            &Default::default(),
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
        for (b, recs) in &shards {
            let p = self.dir.join("names").join(format!("{b:02x}"));
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .map_err(io(&p))?;
            f.write_all(recs)
                .and_then(|_| f.sync_data())
                .map_err(io(&p))?;
        }
        let size_path = self.dir.join("size");
        use base64::Engine;
        let root = base64::engine::general_purpose::STANDARD.encode(cp.root.0);
        let text = format!("{} {root}\n", cp.size);
        fsutil::write_atomic(&size_path, text.as_bytes(), 0o644, Durability::Sync)
            .map_err(io(&size_path))?;
        Ok(cp.size - old_size)
    }

    /// The entry at leaf `index` (below the view's size).
    pub fn entry(&self, index: u64) -> Result<Entry, HistoryError> {
        let op = self.dir.join("offsets");
        let offsets = File::open(&op).map_err(io(&op))?;
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
        File::open(&lp)
            .and_then(|f| f.read_exact_at(&mut leaf, start))
            .map_err(io(&lp))?;
        Entry::decode(&leaf).map_err(|e| HistoryError::Corrupt(lp, format!("entry {index}: {e}")))
    }

    /// Every release of `name` the view holds (exact name), in log order.
    pub fn releases(&self, name: &str) -> Result<Vec<Seen>, HistoryError> {
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

    /// Notes that a checkpoint of `size` was cosigned by a quorum at `time`.
    pub fn record_coverage(&self, size: u64, time: u64) -> Result<(), HistoryError> {
        if self.coverage().iter().any(|&(s, t)| s >= size && t <= time) {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let p = self.dir.join("coverage");
        let mut rec = [0u8; 16];
        rec[..8].copy_from_slice(&size.to_le_bytes());
        rec[8..].copy_from_slice(&time.to_le_bytes());
        // One 16-byte O_APPEND write: concurrent processes never interleave.
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .and_then(|mut f| f.write_all(&rec))
            .map_err(io(&p))
    }

    fn coverage(&self) -> Vec<(u64, u64)> {
        let p = self.dir.join("coverage");
        let b = fsutil::read_optional(&p, 16 << 20)
            .ok()
            .flatten()
            .unwrap_or_default();
        b.chunks_exact(16)
            .filter_map(|r| {
                let s = u64::from_le_bytes(r.get(..8)?.try_into().ok()?);
                let t = u64::from_le_bytes(r.get(8..16)?.try_into().ok()?);
                Some((s, t))
            })
            .collect()
    }

    /// The earliest time a checkpoint covering leaf `index` was seen
    /// cosigned by a quorum.
    pub fn covered_since(&self, index: u64) -> Option<u64> {
        self.coverage()
            .into_iter()
            .filter(|&(s, _)| s > index)
            .map(|(_, t)| t)
            .min()
    }

    /// Notes that a `cas` URL served these bytes at `time`.
    pub fn record_available(&self, sha256: &[u8; 32], time: u64) {
        let p = self.dir.join("available");
        let line = format!("{} {time}\n", hex::encode(sha256));
        let _ = std::fs::create_dir_all(&self.dir).and_then(|_| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)?
                .write_all(line.as_bytes())
        });
    }

    /// When a `cas` URL was last seen serving these bytes.
    pub fn available_since(&self, sha256: &[u8; 32]) -> Option<u64> {
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

/// The newest release of each name this machine ran, per log.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Runs {
    pub name: String,
    /// origin → (leaf index, version).
    pub logs: BTreeMap<String, (u64, String)>,
}

/// The file holding the run record of `name`.
pub fn runs_path(store: &Store, name: &str) -> PathBuf {
    store.state.join("runs").join(hex::encode(name_key(name)))
}

pub fn runs(store: &Store, name: &str) -> Runs {
    fsutil::read_optional(&runs_path(store, name), 1 << 20)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice::<Runs>(&b).ok())
        .filter(|r| r.name == name)
        .unwrap_or_default()
}

/// Every name this machine ran (for `bt-exec status`), sorted by name.
pub fn all_runs(store: &Store) -> Vec<Runs> {
    let Ok(rd) = std::fs::read_dir(store.state.join("runs")) else {
        return vec![];
    };
    let mut out: Vec<Runs> = rd
        .flatten()
        .filter_map(|e| fsutil::read_capped(&e.path(), 1 << 20).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Records that `name` ran at these leaves (raising, never lowering, each
/// log's index); durable before it returns. Call under the state lock.
pub fn record_run(
    store: &Store,
    name: &str,
    version: &str,
    at: &[(String, u64)],
) -> Result<(), HistoryError> {
    let mut r = runs(store, name);
    r.name = name.to_string();
    let mut changed = false;
    for (origin, index) in at {
        let newer = r.logs.get(origin).map_or(true, |(i, _)| index > i);
        if newer {
            r.logs.insert(origin.clone(), (*index, version.to_string()));
            changed = true;
        }
    }
    if !changed {
        return Ok(());
    }
    let p = runs_path(store, name);
    let data = serde_json::to_vec(&r).unwrap_or_default();
    fsutil::write_atomic(&p, &data, 0o644, Durability::Sync).map_err(io(&p))
}

/// Whether a stored run record (`bytes` as read, `None` when there is none)
/// shows no release of `name` newer than the leaves `at` (origin, index) in
/// those logs, so that `require.no_downgrade` allows them. An unreadable
/// record allows nothing.
pub fn no_newer_run(bytes: Option<&[u8]>, name: &str, at: &[(String, u64)]) -> bool {
    let Some(bytes) = bytes else { return true };
    let Ok(r) = serde_json::from_slice::<Runs>(bytes) else {
        return false;
    };
    r.name == name
        && at
            .iter()
            .all(|(origin, index)| r.logs.get(origin).map_or(true, |(i, _)| i <= index))
}

/// The time a witness quorum had cosigned: the earliest `t` such that the
/// cosignatures dated at or before `t` meet `trust`'s quorum.
pub fn quorum_time(
    trust: &crate::policy::TrustPolicy,
    cosigs: &[crate::tlog::Cosignature],
) -> Option<u64> {
    let mut times: Vec<u64> = cosigs.iter().map(|c| c.timestamp).collect();
    times.sort_unstable();
    times.dedup();
    if trust.quorum_met(&Default::default()) {
        // No quorum required: the checkpoint counts from its first cosignature, if any.
        return times.first().copied();
    }
    times.into_iter().find(|&t| {
        trust.quorum_met(
            &trust.witness_positions(
                cosigs
                    .iter()
                    .filter(|c| c.timestamp <= t)
                    .map(|c| &c.witness),
            ),
        )
    })
}
