//! Every leaf a log holds, by its leaf hash: what lets a log that accepts
//! submissions answer a resubmission with the index the entry already has
//! (dedup over the whole history), so a publisher retrying after a lost
//! answer never logs one release twice. Read from the log's level-0 hash
//! tiles, which hold exactly the leaf hashes (32 bytes a leaf, no bundle
//! decoded or hashed again), and extended by each batch appended.

use std::collections::HashMap;
use std::path::Path;

use super::config::LogError;
use crate::fsutil;
use crate::tlog::tiles::{hash_tile_path, tile_width, TILE_WIDTH};
use crate::tlog::Hash;

/// Leaf hash → the first index holding that leaf.
#[derive(Debug, Default)]
pub struct Seen {
    index: HashMap<[u8; 32], u64>,
    size: u64,
}

/// The first `w` hashes of level-0 tile `n`: from the partial tile of that
/// width, or from the full tile when the log has grown past it (a partial
/// tile need not be kept once the full one is written).
fn read_tile(dir: &Path, n: u64, w: u64) -> Result<Vec<u8>, LogError> {
    let mut widths = vec![w];
    if w < TILE_WIDTH {
        widths.push(TILE_WIDTH);
    }
    let mut last = None;
    for width in widths {
        let path = dir.join(hash_tile_path(0, n, width));
        match fsutil::read_capped(&path, 32 * TILE_WIDTH as usize) {
            Ok(data) if data.len() as u64 == 32 * width => return Ok(data),
            Ok(data) => {
                return Err(LogError::Usage(format!(
                    "{}: {} bytes, not the {} of {width} hashes",
                    path.display(),
                    data.len(),
                    32 * width
                )))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                last = Some(LogError::Io { path, err })
            }
            Err(err) => return Err(LogError::Io { path, err }),
        }
    }
    Err(last.unwrap_or_else(|| LogError::Usage("no tile".into())))
}

impl Seen {
    /// The leaves of the tree of `size` in the log directory `dir`.
    pub fn load(dir: &Path, size: u64) -> Result<Self, LogError> {
        let mut seen = Seen {
            index: HashMap::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 24)),
            size: 0,
        };
        let mut n = 0;
        while n * TILE_WIDTH < size {
            let w = tile_width(0, n, size);
            let data = read_tile(dir, n, w)?;
            let hashes = data.chunks_exact(32).take(w as usize).map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                Hash(h)
            });
            seen.extend(hashes);
            n += 1;
        }
        Ok(seen)
    }

    /// The index of the leaf with this hash, if the log holds it.
    pub fn get(&self, h: &Hash) -> Option<u64> {
        self.index.get(&h.0).copied()
    }

    /// Leaves counted so far: the tree size this covers.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The next leaves, in order, appended after those counted.
    pub fn extend(&mut self, hashes: impl IntoIterator<Item = Hash>) {
        for h in hashes {
            self.index.entry(h.0).or_insert(self.size);
            self.size += 1;
        }
    }
}
