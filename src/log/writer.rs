//! The log's writer: entries integrated under one new checkpoint, whichever
//! command brings them (`add`, `append`, `serve --accept`), after the
//! submission queue ([`integrate_queue`]) and a checkpoint a killed writer
//! signed ([`finish_pending`]).
//!
//! Order of writes, so that a reader never sees a checkpoint whose data is
//! missing and a `kill -9` at any point leaves a log the next `add` repairs
//! or continues:
//! 1. entry bundles, hash tiles and index shards for the new size, then
//!    `syncfs`;
//! 2. the log-signed checkpoint to `.bt-log/pending` (so the log never signs
//!    two different trees of one size: a crashed run's pending checkpoint is
//!    completed by the next run, never replaced);
//! 3. cosignatures from the witnesses, tlog-proof files, `syncfs`;
//! 4. `checkpoint`, atomically; then `.bt-log/pending` is removed.

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;

use super::config::{io, read_checkpoint, LogConfig, LogError, STATE_DIR};
use crate::entry::Entry;
use crate::fsutil::{self, Durability};
use crate::index;
use crate::note::{SecretKey, VerifierKey};
use crate::tlog::store::TileHashes;
use crate::tlog::tiles::{
    bundle_path, decode_bundle, encode_bundle, hash_tile_path, index_path, tile_width, TILE_WIDTH,
};
use crate::tlog::{sign_checkpoint, Checkpoint, SignedCheckpoint, TlogProof, MAX_CHECKPOINT_BYTES};

/// How entries are integrated.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Integrate {
    /// The index the first entry was promised (the submission queue), or
    /// `None` to append after whatever the log holds.
    pub first: Option<u64>,
    /// Write per-release tlog-proof files.
    pub proofs: bool,
}

#[derive(Debug, Clone)]
pub struct AddReport {
    /// Leaf index of each release, in input order.
    pub indexes: Vec<u64>,
    pub entries: Vec<Entry>,
    /// The checkpoint published, as its signed, cosigned note.
    pub note: Vec<u8>,
    pub checkpoint: Checkpoint,
    /// Witnesses that cosigned, and those that failed with why.
    pub cosigned: Vec<String>,
    pub witness_failures: Vec<(String, String)>,
}

impl AddReport {
    pub fn quorum_met(&self) -> bool {
        self.witness_failures.is_empty()
    }
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A hash reader over the log's own tiles on disk, as of tree `size`.
pub(super) fn disk_store(dir: &Path, size: u64) -> TileHashes {
    let dir = dir.to_path_buf();
    TileHashes::with_loader(Box::new(move |level, n| {
        let w = tile_width(level, n, size);
        if w == 0 {
            return None;
        }
        fsutil::read_capped(
            &dir.join(hash_tile_path(level, n, w)),
            32 * TILE_WIDTH as usize,
        )
        .ok()
    }))
}

/// Reads the leaves `[from, to)` back from the entry bundles of tree `size`.
fn read_leaves(dir: &Path, from: u64, to: u64, size: u64) -> Result<Vec<Vec<u8>>, LogError> {
    let mut out = Vec::new();
    let mut n = from / TILE_WIDTH;
    while n * TILE_WIDTH < to {
        let w = tile_width(0, n, size);
        let p = dir.join(bundle_path(n, w));
        let data = fsutil::read_capped(&p, crate::tlog::tiles::MAX_BUNDLE_BYTES).map_err(io(&p))?;
        for (i, e) in decode_bundle(&data, w as usize)?.into_iter().enumerate() {
            let idx = n * TILE_WIDTH + i as u64;
            if (from..to).contains(&idx) {
                out.push(e.to_vec());
            }
        }
        n += 1;
    }
    Ok(out)
}

/// Leaf `index` of the tree of `size`, from its entry bundle.
pub(super) fn read_leaf(dir: &Path, index: u64, size: u64) -> Result<Vec<u8>, LogError> {
    read_leaves(dir, index, index + 1, size)?
        .pop()
        .ok_or_else(|| LogError::Usage(format!("leaf {index} is not in the log's bundles")))
}

/// Writes `entries` after the published tree (finishing first a
/// checkpoint a killed writer signed), then publishes the new checkpoint.
/// The caller holds the log's lock.
pub(super) fn append_locked(
    dir: &Path,
    cfg: &LogConfig,
    key: &SecretKey,
    mut entries: Vec<Entry>,
    how: Integrate,
) -> Result<AddReport, LogError> {
    let vkey = key.verifier();
    let mut current = read_checkpoint(dir, cfg, &vkey)?;
    if let Some(done) = finish_pending(dir, cfg, key, &vkey, current.checkpoint.size)? {
        current = done;
    }
    let old = current.checkpoint.size;
    if let Some(first) = how.first {
        // Entries given indexes in advance (the submission queue) go
        // exactly there: those a finished checkpoint holds already are
        // skipped, and a gap is an error, never a renumbering.
        if first > old {
            return Err(LogError::Usage(format!(
                "entries for index {first} on, but the log has {old} leaves"
            )));
        }
        let skip = usize::try_from(old - first).unwrap_or(usize::MAX);
        entries.drain(..skip.min(entries.len()));
        if entries.is_empty() {
            return Ok(AddReport {
                indexes: vec![],
                entries,
                note: current.note,
                checkpoint: current.checkpoint,
                cosigned: vec![],
                witness_failures: vec![],
            });
        }
    }
    let leaves: Vec<Vec<u8>> = entries.par_iter().map(|e| e.encode()).collect();
    let new_size = old + leaves.len() as u64;

    let mut store = disk_store(dir, old);
    store.set_fresh(
        tlog_tiles::stored_hash_count(old),
        Vec::with_capacity(leaves.len() * 2),
    );
    for (i, leaf) in leaves.iter().enumerate() {
        let hashes = tlog_tiles::stored_hashes(old + i as u64, leaf, &store).map_err(|e| {
            LogError::Tlog(crate::tlog::TlogError::Missing(format!(
                "stored hashes: {e} (is the log directory complete?)"
            )))
        })?;
        store.push_fresh(&hashes);
    }
    let root = store.tree_hash(new_size)?;

    write_tiles(dir, &store, old, new_size)?;
    write_bundles(dir, &leaves, old, new_size)?;
    write_index(dir, &entries, old)?;
    fsutil::sync_fs(dir).map_err(io(dir))?;

    let cp = Checkpoint::new(&cfg.origin, new_size, root);
    let pending = sign_checkpoint(key, &cp, &[]);
    let pending_path = dir.join(STATE_DIR).join("pending");
    fsutil::write_atomic(&pending_path, &pending, 0o644, Durability::Sync)
        .map_err(io(&pending_path))?;

    let proofs = how.proofs.then_some(leaves.as_slice());
    let (note, cosigned, failures) = publish(dir, cfg, key, &store, old, &cp, proofs)?;
    Ok(AddReport {
        indexes: (old..new_size).collect(),
        entries,
        note,
        checkpoint: cp,
        cosigned,
        witness_failures: failures,
    })
}

/// The published note, the witnesses that cosigned it, those that did not.
type Published = (Vec<u8>, Vec<String>, Vec<(String, String)>);

/// Cosigns, writes per-release proofs of `leaves` when given, publishes
/// `cp` (whose tiles are on disk).
fn publish(
    dir: &Path,
    cfg: &LogConfig,
    key: &SecretKey,
    store: &TileHashes,
    old: u64,
    cp: &Checkpoint,
    leaves: Option<&[Vec<u8>]>,
) -> Result<Published, LogError> {
    let witnesses = cfg.witness_keys()?;
    let log_only = sign_checkpoint(key, cp, &[]);
    let all: Vec<usize> = (0..cfg.witness.len()).collect();
    let super::rates::Asked {
        lines,
        cosigned,
        failures,
        ..
    } = super::rates::ask(dir, cfg, &all, &log_only, old, store)?;
    let note = sign_checkpoint(key, cp, &lines);
    // Our own note must verify with our keys before anyone sees it.
    SignedCheckpoint::verify(&note, &cfg.origin, &key.verifier(), &witnesses)?;
    if let Some(leaves) = leaves {
        write_proofs(dir, store, old, cp.size, leaves, &note)?;
        fsutil::sync_fs(dir).map_err(io(dir))?;
    }
    let path = dir.join("checkpoint");
    fsutil::write_atomic(&path, &note, 0o644, Durability::Sync).map_err(io(&path))?;
    let _ = std::fs::remove_file(dir.join(STATE_DIR).join("pending"));
    Ok((note, cosigned, failures))
}

/// Completes a checkpoint a crashed `add` signed but did not publish.
pub(super) fn finish_pending(
    dir: &Path,
    cfg: &LogConfig,
    key: &SecretKey,
    vkey: &VerifierKey,
    published: u64,
) -> Result<Option<SignedCheckpoint>, LogError> {
    let path = dir.join(STATE_DIR).join("pending");
    let Some(note) = fsutil::read_optional(&path, MAX_CHECKPOINT_BYTES).map_err(io(&path))? else {
        return Ok(None);
    };
    let pending = match SignedCheckpoint::verify(&note, &cfg.origin, vkey, &[]) {
        Ok(p) if p.checkpoint.size > published => p,
        _ => {
            let _ = std::fs::remove_file(&path);
            return Ok(None);
        }
    };
    let size = pending.checkpoint.size;
    let store = disk_store(dir, size);
    if store.tree_hash(size).ok() != Some(pending.checkpoint.root) {
        return Err(LogError::Usage(format!(
            "{}: a signed pending checkpoint of size {size} does not match the tiles on disk; the log needs an operator",
            path.display()
        )));
    }
    // Per-release proofs are not written here: `bt-log proof` makes them.
    publish(dir, cfg, key, &store, published, &pending.checkpoint, None)?;
    Ok(Some(read_checkpoint(dir, cfg, vkey)?))
}

/// Integrates every entry the submission queue (`.bt-log/queue/`) holds at
/// the index it was given, then empties the queue. Every writer calls it
/// once it holds the log's lock, before writing anything else.
///
/// The attack (or accident) this stops: a server that answered indexes is
/// killed, and the `bt-log add` that was waiting for the lock appends its
/// own releases at those indexes — the answered entries would be lost, and
/// the log wedged. Records below the published size must be the log's own
/// leaves there (a crash between publishing and emptying the queue); a
/// record that is not, or a gap, is an error for the operator.
pub(super) fn integrate_queue(
    dir: &Path,
    cfg: &LogConfig,
    key: &SecretKey,
) -> Result<Option<AddReport>, LogError> {
    use super::queue;
    use super::seen::Seen;
    let damaged = |why: String| {
        LogError::Usage(format!(
            "{}: {why}; the log needs an operator",
            queue::queue_dir(dir).display()
        ))
    };
    let records = queue::recover(dir).map_err(|e| LogError::Usage(e.to_string()))?;
    let Some(first) = records.first().map(|r| r.0) else {
        return Ok(None);
    };
    let vkey = key.verifier();
    let mut size = read_checkpoint(dir, cfg, &vkey)?.checkpoint.size;
    if let Some(done) = finish_pending(dir, cfg, key, &vkey, size)? {
        size = done.checkpoint.size;
    }
    let seen = if first < size {
        Seen::load(dir, size)?
    } else {
        Seen::default()
    };
    let mut entries = Vec::new();
    for (i, leaf) in records {
        if i < size {
            if seen.get(&crate::tlog::leaf_hash(&leaf)) != Some(i) {
                return Err(damaged(format!("record {i} is not the log's leaf {i}")));
            }
            continue;
        }
        if i != size + entries.len() as u64 {
            return Err(damaged(format!("record {i} follows a gap after {size}")));
        }
        let e = Entry::decode_verified(&leaf)
            .map_err(|e| damaged(format!("record {i} does not verify: {e}")))?;
        entries.push(e);
    }
    let report = if entries.is_empty() {
        None
    } else {
        let how = Integrate {
            first: Some(size),
            proofs: false,
        };
        Some(append_locked(dir, cfg, key, entries, how)?)
    };
    queue::clear(dir).map_err(|e| LogError::Usage(e.to_string()))?;
    Ok(report)
}

fn write_tiles(dir: &Path, store: &TileHashes, old: u64, new: u64) -> Result<(), LogError> {
    let tiles = tlog_tiles::Tile::new_tiles(crate::tlog::tiles::TILE_HEIGHT, old, new);
    tiles.par_iter().try_for_each(|t| {
        let w = u64::from(t.width());
        let data = store.tile_data(t.level(), t.level_index(), w)?;
        let p = dir.join(hash_tile_path(t.level(), t.level_index(), w));
        fsutil::write_atomic(&p, &data, 0o644, Durability::Batch).map_err(io(&p))
    })
}

fn write_bundles(dir: &Path, leaves: &[Vec<u8>], old: u64, new: u64) -> Result<(), LogError> {
    let first = old / TILE_WIDTH;
    let carried = if old % TILE_WIDTH != 0 {
        read_leaves(dir, first * TILE_WIDTH, old, old)?
    } else {
        Vec::new()
    };
    let mut all: Vec<&[u8]> = carried.iter().map(Vec::as_slice).collect();
    all.extend(leaves.iter().map(Vec::as_slice));
    let chunks: Vec<(u64, &[&[u8]])> = all
        .chunks(TILE_WIDTH as usize)
        .enumerate()
        .map(|(i, c)| (first + i as u64, c))
        .collect();
    chunks.par_iter().try_for_each(|(n, chunk)| {
        let w = tile_width(0, *n, new);
        let data = encode_bundle(chunk.iter().copied())?;
        let p = dir.join(bundle_path(*n, w));
        fsutil::write_atomic(&p, &data, 0o644, Durability::Batch).map_err(io(&p))
    })
}

fn write_index(dir: &Path, entries: &[Entry], old: u64) -> Result<(), LogError> {
    let mut shards: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        let rec = index::encode_record(&e.release.sha256, old + i as u64);
        shards
            .entry(e.release.sha256[0])
            .or_default()
            .extend_from_slice(&rec);
    }
    shards.into_par_iter().try_for_each(|(b, new)| {
        let p = dir.join(format!("bt/index/{b:02x}"));
        let mut data = fsutil::read_optional(&p, usize::MAX >> 1)
            .map_err(io(&p))?
            .unwrap_or_default();
        // Repair: drop records a crashed run wrote past the published size.
        let keep = data
            .chunks_exact(index::RECORD_BYTES)
            .take_while(|r| {
                let mut idx = [0u8; 8];
                idx.copy_from_slice(&r[32..]);
                u64::from_be_bytes(idx) < old
            })
            .count();
        data.truncate(keep * index::RECORD_BYTES);
        data.extend_from_slice(&new);
        fsutil::write_atomic(&p, &data, 0o644, Durability::Batch).map_err(io(&p))
    })
}

/// `bt/proof/<N>.tlog-proof`, N in tile-path form (`x001/234.tlog-proof`).
pub fn proof_path(index: u64) -> String {
    format!("bt/proof/{}.tlog-proof", index_path(index))
}

fn write_proofs(
    dir: &Path,
    store: &TileHashes,
    old: u64,
    size: u64,
    leaves: &[Vec<u8>],
    note: &[u8],
) -> Result<(), LogError> {
    let mut dirs = std::collections::BTreeSet::new();
    for i in old..size {
        if let Some(parent) = dir.join(proof_path(i)).parent() {
            dirs.insert(parent.to_path_buf());
        }
    }
    for d in dirs {
        std::fs::create_dir_all(&d).map_err(io(&d))?;
    }
    leaves.par_iter().enumerate().try_for_each(|(i, leaf)| {
        let index = old + i as u64;
        let proof = TlogProof {
            extra: Some(leaf.clone()),
            index,
            proof: store.inclusion_proof(index, size)?,
            checkpoint: note.to_vec(),
        };
        let p = dir.join(proof_path(index));
        fsutil::write_unpublished(&p, &proof.encode()).map_err(io(&p))
    })
}
