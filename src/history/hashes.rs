//! The view's index by file hash (`hashes/<hh>`, [`super`]): every entry
//! of one file's bytes, whatever its name or publisher, found by reading
//! one shard. It is what "every release of these bytes" is read from
//! (DESIGN §6), so it must be complete: `hashes/complete` is written only
//! once every entry below the view's size has its record, and a view
//! without it (written by an earlier version, or an indexing that was
//! killed) is indexed again from its `leaves` before it is used.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use super::{io, HistoryError, MAX_LEAF, MAX_SHARD, NAME_RECORD};
use crate::entry::Entry;
use crate::fsutil;

/// The record of an entry for `sha256` at `index`.
pub(super) fn record(sha256: &[u8; 32], index: u64) -> [u8; NAME_RECORD] {
    let mut r = [0u8; NAME_RECORD];
    r[..16].copy_from_slice(&sha256[..16]);
    r[16..].copy_from_slice(&index.to_le_bytes());
    r
}

/// Whether the index covers every entry of the view.
pub(super) fn complete(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join("hashes").join("complete")).is_ok()
}

/// Appends records (by shard) to the index by hash and syncs them.
pub(super) fn append(dir: &Path, shards: &BTreeMap<u8, Vec<u8>>) -> Result<(), HistoryError> {
    append_shards(&dir.join("hashes"), shards)
}

/// Appends records to the shards `<hh>` of `sdir` (the index by name or by
/// hash) and syncs them.
pub(super) fn append_shards(
    sdir: &Path,
    shards: &BTreeMap<u8, Vec<u8>>,
) -> Result<(), HistoryError> {
    std::fs::create_dir_all(sdir).map_err(io(sdir))?;
    for (b, recs) in shards {
        let p = sdir.join(format!("{b:02x}"));
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .map_err(io(&p))?;
        f.write_all(recs)
            .and_then(|_| f.sync_data())
            .map_err(io(&p))?;
    }
    Ok(())
}

/// Indexes the first `size` entries of the view from its `leaves` and
/// `offsets`, replacing whatever a killed indexing left, then marks the
/// index complete. Call under the view's lock.
pub(super) fn rebuild(dir: &Path, size: u64) -> Result<(), HistoryError> {
    let hdir = dir.join("hashes");
    if hdir.exists() {
        std::fs::remove_dir_all(&hdir).map_err(io(&hdir))?;
    }
    let mut shards: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
    if size > 0 {
        let op = dir.join("offsets");
        let lp = dir.join("leaves");
        let mut offsets = BufReader::new(fsutil::open_regular(&op).map_err(io(&op))?);
        let mut leaves = BufReader::new(fsutil::open_regular(&lp).map_err(io(&lp))?);
        let mut start = 0u64;
        for index in 0..size {
            let mut b = [0u8; 8];
            offsets.read_exact(&mut b).map_err(io(&op))?;
            let end = u64::from_le_bytes(b);
            let len = end
                .checked_sub(start)
                .filter(|&l| l <= MAX_LEAF)
                .ok_or_else(|| {
                    HistoryError::Corrupt(op.clone(), format!("bad offsets at {index}"))
                })?;
            let mut leaf = vec![0u8; len as usize];
            leaves.read_exact(&mut leaf).map_err(io(&lp))?;
            let e = Entry::decode(&leaf)
                .map_err(|e| HistoryError::Corrupt(lp.clone(), format!("entry {index}: {e}")))?;
            let sha = e.release.sha256;
            shards
                .entry(sha[0])
                .or_default()
                .extend_from_slice(&record(&sha, index));
            start = end;
        }
    }
    append(dir, &shards)?;
    let marker = hdir.join("complete");
    fsutil::write_atomic(&marker, b"", 0o644, fsutil::Durability::Sync).map_err(io(&marker))
}

/// The leaf indexes below `size` whose entries may be for `sha256` (the
/// caller checks each entry's full hash).
pub(super) fn candidates(
    dir: &Path,
    sha256: &[u8; 32],
    size: u64,
) -> Result<Vec<u64>, HistoryError> {
    let p = dir.join("hashes").join(format!("{:02x}", sha256[0]));
    let shard = fsutil::read_optional(&p, MAX_SHARD)
        .map_err(io(&p))?
        .unwrap_or_default();
    let mut idx: Vec<u64> = shard
        .chunks_exact(NAME_RECORD)
        .filter(|r| r.get(..16) == Some(&sha256[..16]))
        .filter_map(|r| r.get(16..24)?.try_into().ok().map(u64::from_le_bytes))
        .filter(|&i| i < size)
        .collect();
    idx.sort_unstable();
    idx.dedup();
    Ok(idx)
}
