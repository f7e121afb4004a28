//! Fetching and checking tiles and bundles: a log grew from one checkpoint to
//! the next (the monitor, and each release history).
//!
//! Bottom-up: every new entry bundle must hash to its level-0 tile; every
//! entry of a new level-L tile must be the hash of its full level-(L−1)
//! child; and at the end the tiles must hash to the checkpoint's root, and
//! to the saved checkpoint's root at the saved size (consistency).
//!
//! What a leaf is, is the caller's: a [`LeafCheck`] decodes and checks the
//! leaves of each bundle once they hash to their tile ([`Releases`]: bt-exec
//! release entries with their publisher signatures; the monitor's Rekor v2
//! entries are another).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use tlog_tiles::Tile;

use crate::entry::Entry;
use crate::source::Source;
use crate::tlog::consistency::{prove_prefix, Consistency, TileSource};
use crate::tlog::store::TileHashes;
use crate::tlog::tiles::{
    bundle_path, decode_bundle, hash_tile_path, tile_width, MAX_BUNDLE_BYTES, MAX_TILE_BYTES,
    TILE_HEIGHT, TILE_WIDTH,
};
use crate::tlog::{leaf_hash, Checkpoint, Hash};

/// Why a log's growth did not verify: what it serves is missing, does not
/// hash to the signed root, or proves the old root is not a prefix.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    #[error("{0}")]
    Unreachable(#[from] crate::fetch::FetchError),
    #[error("split view: {0}")]
    SplitView(String),
    #[error("missing: {0}")]
    Missing(String),
    #[error("bad log data: {0}")]
    BadData(String),
}

/// Counts what a walk reads.
#[derive(Default)]
pub struct Counters {
    pub tiles: AtomicU64,
    pub bundles: AtomicU64,
    pub bytes: AtomicU64,
}

/// Bundles verified in parallel per step; bounds memory to a few MiB.
const WINDOW: u64 = 32;

fn fetch_tile(f: &dyn Source, c: &Counters, level: u8, n: u64, w: u64) -> Result<Vec<u8>, Fault> {
    let path = hash_tile_path(level, n, w);
    let data = f
        .get(&path, MAX_TILE_BYTES)?
        .ok_or_else(|| Fault::Missing(f.describe(&path)))?;
    c.tiles.fetch_add(1, Ordering::Relaxed);
    c.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
    if data.len() as u64 != w * 32 {
        return Err(Fault::BadData(format!(
            "{path} is {} bytes, expected {} ({w} hashes)",
            data.len(),
            w * 32
        )));
    }
    Ok(data)
}

/// How the walk reads a log's leaves. Each entry bundle's leaves, once they
/// hash to their level-0 tile, are handed to `check` (on the pool, one
/// bundle at a time, so a check may batch), and what it returns is handed
/// to the caller in log order.
pub trait LeafCheck: Sync {
    type Leaf: Send;
    /// The decoded and checked leaves of one bundle, whose first leaf is at
    /// index `first`; or why one is not a good leaf, naming its index.
    fn check(&self, first: u64, leaves: &[&[u8]]) -> Result<Vec<Self::Leaf>, String>;
}

/// bt-exec release entries (DESIGN §3), their publisher signatures verified
/// in batches.
pub struct Releases;

impl LeafCheck for Releases {
    type Leaf = Entry;

    fn check(&self, first: u64, leaves: &[&[u8]]) -> Result<Vec<Entry>, String> {
        let mut keys = crate::entry::KeyCache::default();
        let entries = leaves
            .iter()
            .enumerate()
            .map(|(i, leaf)| {
                Entry::decode_with_keys(leaf, &mut keys)
                    .map_err(|e| format!("entry {}: {e}", first + i as u64))
            })
            .collect::<Result<Vec<_>, _>>()?;
        verify_signatures(&entries, first)?;
        Ok(entries)
    }
}

struct BundleResult<T> {
    n: u64,
    entries: Vec<T>,
    tile: Vec<u8>,
}

fn check_bundle<L: LeafCheck>(
    f: &dyn Source,
    c: &Counters,
    check: &L,
    n: u64,
    size: u64,
) -> Result<BundleResult<L::Leaf>, Fault> {
    let w = tile_width(0, n, size);
    let tile = fetch_tile(f, c, 0, n, w)?;
    let path = bundle_path(n, w);
    let data = f
        .get(&path, MAX_BUNDLE_BYTES)?
        .ok_or_else(|| Fault::Missing(f.describe(&path)))?;
    c.bundles.fetch_add(1, Ordering::Relaxed);
    c.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
    let leaves =
        decode_bundle(&data, w as usize).map_err(|e| Fault::BadData(format!("{path}: {e}")))?;
    for (i, leaf) in leaves.iter().enumerate() {
        if tile.get(i * 32..i * 32 + 32) != Some(&leaf_hash(leaf).0[..]) {
            return Err(Fault::BadData(format!(
                "entry {} in {path} does not hash to its leaf hash in {}",
                n * TILE_WIDTH + i as u64,
                hash_tile_path(0, n, w)
            )));
        }
    }
    let entries = check
        .check(n * TILE_WIDTH, &leaves)
        .map_err(Fault::BadData)?;
    Ok(BundleResult { n, entries, tile })
}

/// Batch verification; on failure, one by one to name the bad entry.
fn verify_signatures(entries: &[Entry], first: u64) -> Result<(), String> {
    let refs: Vec<&[u8]> = entries.iter().map(Entry::signed_message).collect();
    let sigs: Vec<ed25519_dalek::Signature> = entries
        .iter()
        .map(|e| ed25519_dalek::Signature::from_bytes(&e.signature))
        .collect();
    let keys: Option<Vec<ed25519_dalek::VerifyingKey>> = entries
        .iter()
        .map(|e| e.publisher.point().copied())
        .collect();
    if keys.is_some_and(|keys| ed25519_dalek::verify_batch(&refs, &sigs, &keys).is_ok()) {
        return Ok(());
    }
    for (i, e) in entries.iter().enumerate() {
        e.verify_signature().map_err(|_| {
            format!(
                "entry {}: publisher signature does not verify",
                first + i as u64
            )
        })?;
    }
    Ok(())
}

/// Tiles whose hashes the tree hashes at these sizes read.
fn needed_tiles(sizes: &[u64]) -> HashSet<(u8, u64)> {
    let mut out = HashSet::new();
    for &s in sizes.iter().filter(|&&s| s > 0) {
        for idx in tlog_tiles::sub_tree_index(0, s, vec![]) {
            let t = Tile::from_index(TILE_HEIGHT, idx);
            out.insert((t.level(), t.level_index()));
        }
    }
    out
}

/// [`verify_leaves`] of a log of bt-exec release entries ([`Releases`]).
pub(crate) fn verify_growth(
    f: &dyn Source,
    old: Option<&Checkpoint>,
    new: &Checkpoint,
    c: &Counters,
    on_entry: &mut dyn FnMut(u64, &Entry),
) -> Result<(), Fault> {
    verify_leaves(f, old, new, c, &Releases, on_entry)
}

/// Verifies the tree grew from `old` to `new`, calling `on_entry` for each
/// new leaf in order, as `check` decoded it: every new bundle against its
/// level-0 tile and `check`, every full tile against its parent, the tiles
/// against `new`'s root, and `old` as a prefix of `new`.
pub(crate) fn verify_leaves<L: LeafCheck>(
    f: &dyn Source,
    old: Option<&Checkpoint>,
    new: &Checkpoint,
    c: &Counters,
    check: &L,
    on_entry: &mut dyn FnMut(u64, &L::Leaf),
) -> Result<(), Fault> {
    let old_size = old.map_or(0, |o| o.size);
    let size = new.size;
    if size == old_size {
        return Ok(());
    }
    let mut walk = Walk {
        f,
        c,
        old_size,
        size,
        needed: needed_tiles(&[size, old_size]),
        kept: HashMap::new(),
    };
    let mut child_hashes = walk.bundles(check, on_entry)?;
    let mut level = 1u8;
    while level < 8 && (size >> (u32::from(level) * 8)) > 0 {
        child_hashes = walk.level(level, &child_hashes)?;
        level += 1;
    }
    walk.root_and_prefix(old.filter(|o| o.size > 0), new)
}

/// One pass from `old_size` to `size`, keeping the tiles the tree hashes
/// at both sizes read.
struct Walk<'a> {
    f: &'a dyn Source,
    c: &'a Counters,
    old_size: u64,
    size: u64,
    needed: HashSet<(u8, u64)>,
    kept: HashMap<(u8, u64), Vec<u8>>,
}

impl Walk<'_> {
    /// Level 0: the new bundles and their tiles. Returns the hash of each
    /// full level-0 tile by index, for level 1 to check.
    fn bundles<L: LeafCheck>(
        &mut self,
        check: &L,
        on_entry: &mut dyn FnMut(u64, &L::Leaf),
    ) -> Result<HashMap<u64, Hash>, Fault> {
        let (f, c, size, old_size) = (self.f, self.c, self.size, self.old_size);
        let first = old_size / TILE_WIDTH;
        let last = size.div_ceil(TILE_WIDTH);
        let mut child_hashes: HashMap<u64, Hash> = HashMap::new();
        // Windows are verified in parallel on the pool while this thread
        // hands the previous window's entries to `on_entry` in order (a
        // pipeline two windows deep, so memory stays bounded).
        let (tx, rx) =
            std::sync::mpsc::sync_channel::<Result<Vec<BundleResult<L::Leaf>>, Fault>>(2);
        std::thread::scope(|scope| -> Result<(), Fault> {
            scope.spawn(move || {
                let mut start = first;
                while start < last {
                    let end = (start + WINDOW).min(last);
                    let r = (start..end)
                        .into_par_iter()
                        .map(|n| check_bundle(f, c, check, n, size))
                        .collect::<Result<Vec<_>, _>>();
                    let failed = r.is_err();
                    if tx.send(r).is_err() || failed {
                        return;
                    }
                    start = end;
                }
            });
            for results in rx {
                let mut results = results?;
                results.sort_by_key(|r| r.n);
                for r in results {
                    for (i, e) in r.entries.iter().enumerate() {
                        let index = r.n * TILE_WIDTH + i as u64;
                        if index >= old_size {
                            on_entry(index, e);
                        }
                    }
                    if r.tile.len() == MAX_TILE_BYTES {
                        child_hashes.insert(r.n, Tile::subtree_hash(&r.tile));
                    }
                    if self.needed.contains(&(0, r.n)) {
                        self.kept.insert((0, r.n), r.tile);
                    }
                }
            }
            Ok(())
        })?;
        Ok(child_hashes)
    }

    /// A higher level: each entry is the hash of a full tile one level
    /// down. Returns this level's full tiles' hashes.
    fn level(
        &mut self,
        level: u8,
        child_hashes: &HashMap<u64, Hash>,
    ) -> Result<HashMap<u64, Hash>, Fault> {
        let shift = u32::from(level) * 8;
        let (first, last) = (
            (self.old_size >> shift) / TILE_WIDTH,
            (self.size >> shift).div_ceil(TILE_WIDTH),
        );
        let mut next = HashMap::new();
        for n in first..last {
            let w = tile_width(level, n, self.size);
            let tile = fetch_tile(self.f, self.c, level, n, w)?;
            for j in 0..w {
                if let Some(h) = child_hashes.get(&(n * TILE_WIDTH + j)) {
                    let at = (j * 32) as usize;
                    if tile.get(at..at + 32) != Some(&h.0[..]) {
                        return Err(Fault::BadData(format!(
                            "{} entry {j} is not the hash of {}",
                            hash_tile_path(level, n, w),
                            hash_tile_path(level - 1, n * TILE_WIDTH + j, TILE_WIDTH)
                        )));
                    }
                }
            }
            if tile.len() == MAX_TILE_BYTES {
                next.insert(n, Tile::subtree_hash(&tile));
            }
            if self.needed.contains(&(level, n)) {
                self.kept.insert((level, n), tile);
            }
        }
        Ok(next)
    }

    /// The root at `new`'s size from the tiles, and `old` (when there is
    /// one) proven a prefix of `new`.
    fn root_and_prefix(&self, old: Option<&Checkpoint>, new: &Checkpoint) -> Result<(), Fault> {
        let size = self.size;
        let store = TileHashes::new();
        for &(l, n) in &self.needed {
            let data = match self.kept.get(&(l, n)) {
                Some(d) => d.clone(),
                None => fetch_tile(self.f, self.c, l, n, tile_width(l, n, size))?,
            };
            store
                .insert_tile(l, n, data)
                .map_err(|e| Fault::BadData(e.to_string()))?;
        }
        let root = store
            .tree_hash(size)
            .map_err(|e| Fault::BadData(e.to_string()))?;
        if root != new.root {
            return Err(Fault::BadData(format!(
                "the tiles do not hash to the checkpoint's root at size {size}"
            )));
        }
        let Some(o) = old else { return Ok(()) };
        let tiles = Tiles {
            f: self.f,
            c: self.c,
            kept: &self.kept,
        };
        match prove_prefix(o, new, &tiles) {
            Consistency::Consistent => Ok(()),
            Consistency::Inconsistent { .. } => Err(Fault::SplitView(format!("the log's tiles prove the saved checkpoint of size {} is not a prefix of size {size}", o.size))),
            Consistency::Unknown(why) => Err(Fault::BadData(why)),
        }
    }
}

/// The log's hash tiles for [`crate::tlog::consistency`]: those this pass
/// already fetched (and verified bottom-up), then the log's.
struct Tiles<'a> {
    f: &'a dyn Source,
    c: &'a Counters,
    kept: &'a HashMap<(u8, u64), Vec<u8>>,
}

impl TileSource for Tiles<'_> {
    fn hash_tile(&self, level: u8, n: u64, width: u64) -> Result<Vec<u8>, String> {
        match self.kept.get(&(level, n)) {
            Some(d) if d.len() as u64 == width * 32 => Ok(d.clone()),
            _ => fetch_tile(self.f, self.c, level, n, width).map_err(|e| e.to_string()),
        }
    }
}

/// Whether `smaller` is a prefix of `saved` ([`crate::tlog::consistency`]:
/// `None` when the tiles cannot be read or do not hash to the saved root).
pub(crate) fn prefix_of(
    f: &dyn Source,
    saved: &Checkpoint,
    smaller: &Checkpoint,
    c: &Counters,
) -> Option<bool> {
    let empty = HashMap::new();
    let tiles = Tiles { f, c, kept: &empty };
    match prove_prefix(smaller, saved, &tiles) {
        Consistency::Consistent => Some(true),
        Consistency::Inconsistent { .. } => Some(false),
        Consistency::Unknown(_) => None,
    }
}
