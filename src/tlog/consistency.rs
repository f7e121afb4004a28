//! What served tiles prove about signed roots: the one place where
//! consistency between two checkpoints, and the inclusion proofs computed
//! from a log's tiles, are decided (DESIGN §6, "How consistency is
//! established").
//!
//! Every hash used here is read through [`Authenticated`], a reader of
//! the newer tree's tiles that hands out no hash before the tiles it comes
//! from are checked against the newer checkpoint's signed root: the tiles
//! of the tree hash directly, every other tile through its parent tiles,
//! up to one of those. (It follows Go's `tlog.TileHashReader`, and
//! `tlog_tiles`'s port of it, with one difference: both start checking
//! parents at the count of tree-hash *indexes*, not of distinct tree-hash
//! *tiles*, so when two tree-hash indexes share a tile, the first other
//! tile is never checked — a full level-0 tile under a tree of 300
//! entries, for one. The tests below show the attack it lets through.) The consistency proof built from those hashes is then
//! verified with [`super::verify_consistency`], the same RFC 6962 check the
//! witness applies to the proofs logs send it, against both signed roots.
//!
//! That split is what keeps a mirror, CDN or network path (who has no log
//! key) from deciding anything: tiles it altered fail authentication and
//! the answer is [`Consistency::Unknown`] — never "consistent", and never
//! a split view. Only hashes that provably belong to the newer signed tree
//! can show the older root is not its prefix.

use std::cell::RefCell;

use std::collections::HashMap;

use tlog_tiles::{HashReader, Tile};

use super::tiles::{TILE_HEIGHT, TILE_WIDTH};
use super::{empty_root, leaf_hash, verify_consistency, verify_inclusion, Checkpoint, Hash};

/// Hash tiles of one log, as served (nothing here is trusted yet).
pub trait TileSource {
    /// The hash tile `level`/`n` of `width` hashes, or why it cannot be had
    /// (missing, unreachable, too large).
    fn hash_tile(&self, level: u8, n: u64, width: u64) -> Result<Vec<u8>, String>;
}

/// What the tiles prove about `older` and `newer`.
#[derive(Debug, Clone, PartialEq)]
pub enum Consistency {
    /// `older` is a prefix of `newer`.
    Consistent,
    /// Hashes authenticated against `newer`'s signed root show `older`'s
    /// root is not its prefix: with both checkpoints validly signed by the
    /// log, a split view. `proof` is the RFC 6962 consistency proof (from
    /// `newer`'s tree) that fails against `older`'s root.
    Inconsistent { proof: Vec<Hash> },
    /// Nothing can be concluded: the tiles could not be read, or do not
    /// hash to `newer`'s signed root. Whoever served them may have altered
    /// them, so this is never evidence against the log.
    Unknown(String),
}

/// Whether `older` is a prefix of `newer`, from `newer`'s tiles.
/// Checkpoints of different origins are never compared here; the caller
/// pairs them. `older.size > newer.size` is answered for the swapped pair.
pub fn prove_prefix(older: &Checkpoint, newer: &Checkpoint, tiles: &dyn TileSource) -> Consistency {
    if older.size > newer.size {
        return prove_prefix(newer, older, tiles);
    }
    if older.size == newer.size {
        return if older.root == newer.root {
            Consistency::Consistent
        } else {
            Consistency::Inconsistent { proof: vec![] }
        };
    }
    if older.size == 0 {
        // The empty tree is a prefix of every tree, but only with the
        // empty tree's root: a log key that signed another root for size 0
        // signed a history no tree has.
        return if older.root == empty_root() {
            Consistency::Consistent
        } else {
            Consistency::Inconsistent { proof: vec![] }
        };
    }
    let proof = match consistency_proof(older.size, newer, tiles) {
        Ok(p) => p,
        Err(why) => return Consistency::Unknown(why),
    };
    match verify_consistency(older.size, older.root, newer.size, newer.root, &proof) {
        Ok(()) => Consistency::Consistent,
        // Every hash of `proof` is a node of the tree `newer` signed; with
        // the true node hashes the proof reconstructs `newer.root`, so the
        // failure can only be `older.root`'s.
        Err(_) => Consistency::Inconsistent { proof },
    }
}

/// The RFC 6962 consistency proof from size `old` to `newer`'s tree
/// (`0 < old < newer.size`), every hash of it authenticated against
/// `newer`'s signed root.
pub fn consistency_proof(
    old: u64,
    newer: &Checkpoint,
    tiles: &dyn TileSource,
) -> Result<Vec<Hash>, String> {
    if old == 0 || old >= newer.size {
        return Err(format!(
            "no consistency proof from size {old} to size {}",
            newer.size
        ));
    }
    let authenticated = Authenticated::new(newer, tiles);
    tlog_tiles::prove_tree(newer.size, old, &authenticated).map_err(|e| authenticated.why(e))
}

/// The inclusion proof of leaf `index` in `cp`'s tree, every hash of it
/// authenticated against `cp`'s signed root.
pub fn inclusion_proof(
    cp: &Checkpoint,
    index: u64,
    tiles: &dyn TileSource,
) -> Result<Vec<Hash>, String> {
    if index >= cp.size {
        return Err(format!(
            "leaf {index} is not in the tree of size {}",
            cp.size
        ));
    }
    let authenticated = Authenticated::new(cp, tiles);
    tlog_tiles::prove_record(cp.size, index, &authenticated).map_err(|e| authenticated.why(e))
}

/// Checks `leaf` is leaf `index` of `cp`'s tree, with a proof from the
/// tiles. `Err` names what failed; it is never evidence against the log
/// (the leaf and the tiles are served data).
pub fn check_leaf(
    cp: &Checkpoint,
    index: u64,
    leaf: &[u8],
    tiles: &dyn TileSource,
) -> Result<Vec<Hash>, String> {
    let proof = inclusion_proof(cp, index, tiles)?;
    verify_inclusion(leaf_hash(leaf), index, cp.size, &proof, cp.root).map_err(|_| {
        format!(
            "entry {index} does not hash to its place under the signed root of size {}",
            cp.size
        )
    })?;
    Ok(proof)
}

/// The hashes of one signed tree, read from a [`TileSource`]: none is
/// handed out before the tiles it comes from hash to the signed root.
struct Authenticated<'a> {
    size: u64,
    root: Hash,
    src: &'a dyn TileSource,
    /// The first failure to read a tile, to name it in the error.
    failure: RefCell<Option<String>>,
}

/// Tile coordinates: (level, n, width).
type Key = (u8, u64, u32);

fn key(t: &Tile) -> Key {
    (t.level(), t.level_index(), t.width())
}

impl<'a> Authenticated<'a> {
    fn new(cp: &Checkpoint, src: &'a dyn TileSource) -> Self {
        Authenticated {
            size: cp.size,
            root: cp.root,
            src,
            failure: RefCell::new(None),
        }
    }

    fn why(&self, e: tlog_tiles::Error) -> String {
        match (self.failure.borrow_mut().take(), e) {
            (Some(f), _) => f,
            (None, tlog_tiles::Error::InconsistentTile) => format!(
                "the log's tiles do not hash to its signed root at size {}",
                self.size
            ),
            (None, e) => format!("tiles for size {}: {e}", self.size),
        }
    }

    fn fail<T>(&self, msg: String) -> Result<T, tlog_tiles::Error> {
        self.failure.borrow_mut().get_or_insert(msg);
        Err(tlog_tiles::Error::InvalidTile)
    }

    /// The tile `t` as served, exactly 32 × width bytes.
    fn fetch(&self, t: &Tile) -> Result<Vec<u8>, tlog_tiles::Error> {
        let width = u64::from(t.width());
        if width == 0 || width > TILE_WIDTH {
            return Err(tlog_tiles::Error::BadMath);
        }
        let path = super::tiles::hash_tile_path(t.level(), t.level_index(), width);
        match self.src.hash_tile(t.level(), t.level_index(), width) {
            Ok(d) if d.len() as u64 == width * 32 => Ok(d),
            Ok(d) => self.fail(format!("{path} is {} bytes, not {width} hashes", d.len())),
            Err(e) => self.fail(e),
        }
    }

    /// The tiles to read for `indexes`, parents before children: first
    /// the tiles of the tree hash, then for each index its tile and the
    /// parents between it and a tile already planned. Returns the plan
    /// and how many of its tiles are the tree hash's.
    fn plan(&self, stx: &[u64], indexes: &[u64]) -> Result<(Vec<Tile>, usize), tlog_tiles::Error> {
        let parent = |t: &Tile, k: u8| t.parent(k, self.size).ok_or(tlog_tiles::Error::BadMath);
        let mut tiles: Vec<Tile> = vec![];
        let mut planned: HashMap<Key, usize> = HashMap::new();
        for &x in stx {
            let t = parent(&Tile::from_index(TILE_HEIGHT, x), 0)?;
            if let std::collections::hash_map::Entry::Vacant(e) = planned.entry(key(&t)) {
                e.insert(tiles.len());
                tiles.push(t);
            }
        }
        let tree_tiles = tiles.len();
        for &x in indexes {
            if x >= tlog_tiles::stored_hash_index(0, self.size) {
                return Err(tlog_tiles::Error::IndexesNotInTree);
            }
            let t = Tile::from_index(TILE_HEIGHT, x);
            // Up to a planned tile (trees of at most 2^63 - 1 entries have
            // at most 8 tile levels), then back down, planning each child.
            let k = (0..8u8)
                .find(|&k| parent(&t, k).is_ok_and(|p| planned.contains_key(&key(&p))))
                .ok_or(tlog_tiles::Error::BadMath)?;
            for k in (0..k).rev() {
                let p = parent(&t, k)?;
                if u64::from(p.width()) != TILE_WIDTH {
                    // Only full tiles have parents.
                    return Err(tlog_tiles::Error::BadMath);
                }
                planned.insert(key(&p), tiles.len());
                tiles.push(p);
            }
        }
        Ok((tiles, tree_tiles))
    }
}

impl HashReader for Authenticated<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        let stx = tlog_tiles::sub_tree_index(0, self.size, vec![]);
        let (tiles, tree_tiles) = self.plan(&stx, indexes)?;
        let data = tiles
            .iter()
            .map(|t| self.fetch(t))
            .collect::<Result<Vec<_>, _>>()?;
        let at: HashMap<Key, usize> = tiles.iter().enumerate().map(|(i, t)| (key(t), i)).collect();
        let hash_in = |t: &Tile, x: u64| -> Result<Hash, tlog_tiles::Error> {
            let i = at.get(&key(t)).ok_or(tlog_tiles::Error::BadMath)?;
            let d = data.get(*i).ok_or(tlog_tiles::Error::BadMath)?;
            t.hash_at_index(d, x)
        };
        // The tree hash's tiles, against the signed root.
        let mut th: Option<Hash> = None;
        for &x in stx.iter().rev() {
            let t = Tile::from_index(TILE_HEIGHT, x)
                .parent(0, self.size)
                .ok_or(tlog_tiles::Error::BadMath)?;
            let h = hash_in(&t, x)?;
            th = Some(match th {
                None => h,
                Some(right) => super::node_hash(h, right),
            });
        }
        if th != Some(self.root) {
            return Err(tlog_tiles::Error::InconsistentTile);
        }
        // Every other tile, against its parent (checked before it).
        for (t, d) in tiles.iter().zip(&data).skip(tree_tiles) {
            let p = t.parent(1, self.size).ok_or(tlog_tiles::Error::BadMath)?;
            let h = hash_in(
                &p,
                tlog_tiles::stored_hash_index(p.level() * p.height(), t.level_index()),
            )?;
            if h != Tile::subtree_hash(d) {
                return Err(tlog_tiles::Error::InconsistentTile);
            }
        }
        indexes
            .iter()
            .map(|&x| {
                hash_in(
                    &Tile::from_index(TILE_HEIGHT, x)
                        .parent(0, self.size)
                        .ok_or(tlog_tiles::Error::BadMath)?,
                    x,
                )
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "consistency_tests.rs"]
mod tests;
