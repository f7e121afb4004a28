//! Hashes of a tiled tree held in memory: tiles (any width) plus a run of
//! freshly computed stored hashes. It implements `tlog_tiles::HashReader`, so
//! the Go-derived proof code runs over it with no I/O (fetch first, prove
//! over memory). A loader may supply tiles lazily (the log writer reads its
//! own tiles from disk this way).

use std::collections::HashMap;
use std::sync::Mutex;

use tlog_tiles::{HashReader, Tile};

use super::tiles::{TILE_HEIGHT, TILE_WIDTH};
use super::{Hash, TlogError};

type Loader = Box<dyn Fn(u8, u64) -> Option<Vec<u8>> + Send + Sync>;

#[derive(Default)]
pub struct TileHashes {
    tiles: Mutex<HashMap<(u8, u64), Vec<u8>>>,
    cache: Mutex<HashMap<u64, Hash>>,
    fresh_base: u64,
    fresh: Vec<Hash>,
    loader: Option<Loader>,
}

impl TileHashes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Tiles not in memory are asked of `loader(level, n)` (any width).
    pub fn with_loader(loader: Loader) -> Self {
        TileHashes {
            loader: Some(loader),
            ..Self::default()
        }
    }

    /// Adds the data of hash tile `n` at `level` (32 × width bytes).
    pub fn insert_tile(&self, level: u8, n: u64, data: Vec<u8>) -> Result<(), TlogError> {
        check_tile_len(&data)?;
        lock(&self.tiles).insert((level, n), data);
        Ok(())
    }

    /// Stored hashes from index `base` on (the writer's new hashes).
    pub fn set_fresh(&mut self, base: u64, hashes: Vec<Hash>) {
        self.fresh_base = base;
        self.fresh = hashes;
    }

    pub fn push_fresh(&mut self, hashes: &[Hash]) {
        self.fresh.extend_from_slice(hashes);
    }

    fn tile(&self, level: u8, n: u64) -> Option<Vec<u8>> {
        if let Some(t) = lock(&self.tiles).get(&(level, n)) {
            return Some(t.clone());
        }
        let data = self.loader.as_ref()?(level, n)?;
        check_tile_len(&data).ok()?;
        lock(&self.tiles).insert((level, n), data.clone());
        Some(data)
    }

    fn read_one(&self, index: u64) -> Result<Hash, tlog_tiles::Error> {
        if let Some(off) = index.checked_sub(self.fresh_base) {
            if let Some(h) = usize::try_from(off).ok().and_then(|o| self.fresh.get(o)) {
                return Ok(*h);
            }
        }
        if let Some(h) = lock(&self.cache).get(&index) {
            return Ok(*h);
        }
        let want = Tile::from_index(TILE_HEIGHT, index);
        let data = self
            .tile(want.level(), want.level_index())
            .ok_or(tlog_tiles::Error::IndexesNotInTree)?;
        let width = u32::try_from(data.len() / 32).map_err(|_| tlog_tiles::Error::InvalidTile)?;
        if width < want.width() {
            return Err(tlog_tiles::Error::IndexesNotInTree);
        }
        let tile = Tile::new(TILE_HEIGHT, want.level(), want.level_index(), width, false);
        let h = tile.hash_at_index(&data, index)?;
        lock(&self.cache).insert(index, h);
        Ok(h)
    }

    /// The root hash of the first `size` leaves.
    pub fn tree_hash(&self, size: u64) -> Result<Hash, TlogError> {
        tlog_tiles::tree_hash(size, self)
            .map_err(|e| TlogError::Missing(format!("tree hash at size {size}: {e}")))
    }

    /// The inclusion proof of leaf `index` in the tree of `size`.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, TlogError> {
        tlog_tiles::prove_record(size, index, self)
            .map_err(|e| TlogError::Missing(format!("inclusion proof {index}@{size}: {e}")))
    }

    /// The consistency proof from `old` to `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, TlogError> {
        tlog_tiles::prove_tree(new, old, self)
            .map_err(|e| TlogError::Missing(format!("consistency proof {old}→{new}: {e}")))
    }

    /// The data of hash tile `n` at `level` for a tree of `width` entries in it.
    pub fn tile_data(&self, level: u8, n: u64, width: u64) -> Result<Vec<u8>, TlogError> {
        let w = u32::try_from(width)
            .ok()
            .filter(|w| (1..=TILE_WIDTH as u32).contains(w))
            .ok_or_else(|| TlogError::BadTile(format!("width {width}")))?;
        Tile::new(TILE_HEIGHT, level, n, w, false)
            .read_data(self)
            .map_err(|e| TlogError::Missing(format!("tile {level}/{n}: {e}")))
    }
}

impl HashReader for TileHashes {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes.iter().map(|&i| self.read_one(i)).collect()
    }
}

fn check_tile_len(data: &[u8]) -> Result<(), TlogError> {
    if data.is_empty() || data.len() % 32 != 0 || data.len() > 32 * TILE_WIDTH as usize {
        return Err(TlogError::BadTile(format!(
            "{} bytes is not a tile",
            data.len()
        )));
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
