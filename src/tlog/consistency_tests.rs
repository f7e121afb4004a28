//! Consistency from served tiles: honest trees, forks, and a mirror that
//! alters, drops or truncates tiles — which must neither create a split
//! view nor hide one. Negative cases first.

use std::collections::HashMap;

use super::*;
use crate::tlog::store::TileHashes;
use crate::tlog::tiles::tile_width;

/// A tree built in memory: its leaves and every stored hash.
struct Tree {
    leaves: Vec<Vec<u8>>,
    hashes: TileHashes,
}

impl Tree {
    fn new(n: u64, fork_at: Option<u64>) -> Tree {
        let leaves: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let fork = if Some(i) == fork_at { "fork " } else { "" };
                format!("{fork}leaf {i}").into_bytes()
            })
            .collect();
        let mut hashes = TileHashes::new();
        hashes.set_fresh(0, vec![]);
        for (i, l) in leaves.iter().enumerate() {
            let h = tlog_tiles::stored_hashes(i as u64, l, &hashes).unwrap();
            hashes.push_fresh(&h);
        }
        Tree { leaves, hashes }
    }

    fn checkpoint(&self, size: u64) -> Checkpoint {
        let root = if size == 0 {
            empty_root()
        } else {
            self.hashes.tree_hash(size).unwrap()
        };
        Checkpoint::new("example.org/log", size, root)
    }

    /// Every hash tile of the tree at `size`, as a log serves them.
    fn tiles(&self, size: u64) -> Served {
        let mut m = HashMap::new();
        for level in 0..8u8 {
            let mut n = 0;
            while tile_width(level, n, size) > 0 {
                let w = tile_width(level, n, size);
                m.insert((level, n, w), self.hashes.tile_data(level, n, w).unwrap());
                n += 1;
            }
        }
        Served(m)
    }
}

/// Tiles as a mirror serves them: (level, n, width) → bytes.
#[derive(Clone)]
struct Served(HashMap<(u8, u64, u64), Vec<u8>>);

impl TileSource for Served {
    fn hash_tile(&self, level: u8, n: u64, width: u64) -> Result<Vec<u8>, String> {
        self.0
            .get(&(level, n, width))
            .cloned()
            .ok_or_else(|| format!("tile/{level}/{n}.p/{width} is missing"))
    }
}

const SIZES: &[u64] = &[
    1, 2, 3, 7, 8, 9, 255, 256, 257, 511, 512, 513, 1000, 65536, 65537, 66000,
];

fn pairs() -> Vec<(u64, u64)> {
    let mut out = vec![];
    for &m in SIZES {
        for &n in SIZES.iter().filter(|&&n| n > m) {
            out.push((m, n));
        }
    }
    out
}

#[test]
fn a_fork_is_inconsistent_exactly_when_it_changes_the_older_tree() {
    let honest = Tree::new(66000, None);
    for fork_at in [0, 5, 255, 256, 600, 65535, 65600] {
        let forked = Tree::new(66000, Some(fork_at));
        for (m, n) in pairs() {
            let (old, new) = (honest.checkpoint(m), forked.checkpoint(n));
            let got = prove_prefix(&old, &new, &forked.tiles(n));
            if fork_at < m {
                assert!(
                    matches!(got, Consistency::Inconsistent { .. }),
                    "fork at {fork_at}, {m} -> {n}: {got:?}"
                );
            } else {
                assert_eq!(
                    got,
                    Consistency::Consistent,
                    "fork at {fork_at}, {m} -> {n}"
                );
            }
        }
    }
}

#[test]
fn equal_sizes_and_the_empty_tree_need_no_tiles() {
    let (a, b) = (Tree::new(300, None), Tree::new(300, Some(3)));
    let none = Served(HashMap::new());
    assert!(matches!(
        prove_prefix(&a.checkpoint(300), &b.checkpoint(300), &none),
        Consistency::Inconsistent { .. }
    ));
    assert_eq!(
        prove_prefix(&a.checkpoint(300), &a.checkpoint(300), &none),
        Consistency::Consistent
    );
    assert_eq!(
        prove_prefix(&a.checkpoint(0), &a.checkpoint(300), &none),
        Consistency::Consistent
    );
    let bogus_empty = Checkpoint::new("example.org/log", 0, Hash([7; 32]));
    assert!(matches!(
        prove_prefix(&bogus_empty, &a.checkpoint(300), &none),
        Consistency::Inconsistent { .. }
    ));
    // The larger one may come first.
    assert_eq!(
        prove_prefix(&a.checkpoint(300), &a.checkpoint(0), &none),
        Consistency::Consistent
    );
}

#[test]
fn missing_or_truncated_tiles_prove_nothing() {
    let t = Tree::new(1000, None);
    for (m, n) in [(1, 1000), (255, 257), (256, 1000), (513, 1000)] {
        let served = t.tiles(n);
        for key in served.0.keys() {
            let mut missing = served.clone();
            missing.0.remove(key);
            let got = prove_prefix(&t.checkpoint(m), &t.checkpoint(n), &missing);
            assert!(
                matches!(got, Consistency::Consistent | Consistency::Unknown(_)),
                "{m}->{n} without {key:?}: {got:?}"
            );
            let mut short = served.clone();
            short.0.get_mut(key).unwrap().truncate(31);
            let got = prove_prefix(&t.checkpoint(m), &t.checkpoint(n), &short);
            assert!(!matches!(got, Consistency::Inconsistent { .. }), "{got:?}");
        }
    }
}

/// A mirror that flips one byte of any one tile can neither make an honest
/// log look forked nor a fork look consistent.
#[test]
fn an_altered_tile_neither_creates_nor_hides_a_split_view() {
    let honest = Tree::new(1000, None);
    let forked = Tree::new(1000, Some(100));
    for (m, n) in [(200, 1000), (256, 513), (255, 600), (101, 257)] {
        for (tree, older, fork) in [(&honest, &honest, false), (&forked, &honest, true)] {
            let served = tree.tiles(n);
            for key in served.0.keys() {
                let mut bad = served.clone();
                bad.0.get_mut(key).unwrap()[5] ^= 1;
                let got = prove_prefix(&older.checkpoint(m), &tree.checkpoint(n), &bad);
                let wrong = if fork {
                    matches!(got, Consistency::Consistent)
                } else {
                    matches!(got, Consistency::Inconsistent { .. })
                };
                assert!(!wrong, "fork={fork} {m}->{n}, {key:?} altered: {got:?}");
            }
        }
    }
}

/// The mix a mirror can serve under a larger forked tree: the fork's
/// upper tiles (which hash to its signed root) and the honest lower tiles
/// (which give the honest older root). Computing the older root from tiles
/// no signed root covers called this consistent; it is not.
#[test]
fn honest_lower_tiles_under_a_forked_root_do_not_make_it_consistent() {
    let honest = Tree::new(600, None);
    let forked = Tree::new(600, Some(10));
    let (m, n) = (100, 300);
    let mut mixed = forked.tiles(n);
    let honest_full = honest.tiles(n);
    mixed
        .0
        .insert((0, 0, 256), honest_full.0[&(0, 0, 256)].clone());
    let got = prove_prefix(&honest.checkpoint(m), &forked.checkpoint(n), &mixed);
    assert!(matches!(got, Consistency::Unknown(_)), "{got:?}");
    // With the fork's own tiles it is a proven split view.
    let got = prove_prefix(
        &honest.checkpoint(m),
        &forked.checkpoint(n),
        &forked.tiles(n),
    );
    assert!(matches!(got, Consistency::Inconsistent { .. }), "{got:?}");
}

#[test]
fn every_honest_prefix_is_consistent() {
    let t = Tree::new(66000, None);
    for (m, n) in pairs() {
        let got = prove_prefix(&t.checkpoint(m), &t.checkpoint(n), &t.tiles(n));
        assert_eq!(got, Consistency::Consistent, "{m} -> {n}");
        // The proof is the one the witness's check accepts.
        let p = consistency_proof(m, &t.checkpoint(n), &t.tiles(n)).unwrap();
        let (a, b) = (t.checkpoint(m), t.checkpoint(n));
        assert!(verify_consistency(m, a.root, n, b.root, &p).is_ok());
        assert!(tlog_tiles::check_tree(&p, n, b.root, m, a.root).is_ok());
    }
}

#[test]
fn leaves_are_checked_against_authenticated_tiles() {
    let t = Tree::new(1000, None);
    let cp = t.checkpoint(1000);
    let served = t.tiles(1000);
    for i in [0u64, 1, 255, 256, 999] {
        let leaf = &t.leaves[i as usize];
        assert!(check_leaf(&cp, i, b"another leaf", &served).is_err());
        assert!(check_leaf(&cp, i + 1, leaf, &served).is_err());
        assert!(check_leaf(&cp, i, leaf, &served).is_ok(), "leaf {i}");
    }
    assert!(check_leaf(&cp, 1000, b"x", &served).is_err());
    let mut bad = served.clone();
    bad.0.get_mut(&(0, 3, 232)).unwrap()[0] ^= 1;
    let e = check_leaf(&cp, 999, &t.leaves[999], &bad).unwrap_err();
    assert!(e.contains("do not hash to its signed root"), "{e}");
}

/// Why the reader is our own: `tlog_tiles`'s `TileHashReader` (as Go's
/// `tlog.TileHashReader`) hands out hashes from a tile it never checked
/// when tree-hash indexes share a tile. If this starts failing, the crate
/// was fixed and [`Authenticated`] can go.
#[test]
fn the_library_reader_accepts_an_unchecked_tile() {
    struct R(Served);
    impl tlog_tiles::TileReader for R {
        fn height(&self) -> u8 {
            8
        }
        fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
            tiles
                .iter()
                .map(|t| {
                    self.0
                        .hash_tile(t.level(), t.level_index(), u64::from(t.width()))
                        .map_err(|_| tlog_tiles::Error::InvalidTile)
                })
                .collect()
        }
        fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {}
    }
    let honest = Tree::new(600, None);
    let forked = Tree::new(600, Some(10));
    let mut mixed = forked.tiles(300);
    mixed
        .0
        .insert((0, 0, 256), honest.tiles(300).0[&(0, 0, 256)].clone());
    let new = forked.checkpoint(300);
    let r = R(mixed.clone());
    let lib = tlog_tiles::TileHashReader::new(300, new.root, &r);
    assert!(tlog_tiles::prove_tree(300, 100, &lib).is_ok());
    assert!(consistency_proof(100, &new, &mixed).is_err());
}
