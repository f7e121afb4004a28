//! C2SP tlog-tiles logs on disk (Tessera's testdata and the generated
//! 600-entry log): every checkpoint verifies, the tiles each size needs hash
//! to its root, and entry bundles hash to the level-0 tiles.

mod common;

use std::path::Path;

use bt_exec::note::VerifierKey;
use bt_exec::tlog::store::TileHashes;
use bt_exec::tlog::tiles::{bundle_path, decode_bundle, hash_tile_path, tile_width, TILE_WIDTH};
use bt_exec::tlog::{leaf_hash, SignedCheckpoint};

fn check_log(dir: &Path, vkey: &str, origin: &str, sizes: &[u64]) {
    let key = VerifierKey::parse_log(vkey.trim()).unwrap();
    for &size in sizes {
        let name = if dir.join(format!("checkpoint.{size}")).exists() {
            format!("checkpoint.{size}")
        } else {
            "checkpoint".into()
        };
        let note = std::fs::read(dir.join(&name)).unwrap();
        let sc = SignedCheckpoint::verify(&note, origin, &key, &[]).unwrap();
        assert_eq!(sc.checkpoint.size, size, "{name}");
        let store = TileHashes::new();
        for level in 0..8u8 {
            let mut n = 0;
            while tile_width(level, n, size) > 0 {
                let w = tile_width(level, n, size);
                let data = std::fs::read(dir.join(hash_tile_path(level, n, w))).unwrap();
                assert_eq!(data.len() as u64, w * 32);
                if level == 0 {
                    let bundle = std::fs::read(dir.join(bundle_path(n, w))).unwrap();
                    let entries = decode_bundle(&bundle, w as usize).unwrap();
                    for (i, e) in entries.iter().enumerate() {
                        assert_eq!(
                            leaf_hash(e).0,
                            data[i * 32..i * 32 + 32],
                            "entry {}",
                            n * TILE_WIDTH + i as u64
                        );
                    }
                }
                store.insert_tile(level, n, data).unwrap();
                n += 1;
            }
        }
        assert_eq!(
            store.tree_hash(size).unwrap(),
            sc.checkpoint.root,
            "{} size {size}",
            dir.display()
        );
    }
}

#[test]
fn tessera_testdata_log() {
    let Some(v) = common::vectors("tessera_testdata_log") else {
        return;
    };
    let vkey = std::fs::read_to_string(v.join("tlog-tiles/tessera-testdata-log.vkey")).unwrap();
    check_log(
        &v.join("tlog-tiles/tessera-testdata-log"),
        &vkey,
        "example.com/log/testdata",
        &(1..=15).collect::<Vec<_>>(),
    );
    // checkpoint.0 is the empty tree.
    let key = VerifierKey::parse_log(vkey.trim()).unwrap();
    let note = std::fs::read(v.join("tlog-tiles/tessera-testdata-log/checkpoint.0")).unwrap();
    let sc = SignedCheckpoint::verify(&note, "example.com/log/testdata", &key, &[]).unwrap();
    assert_eq!(
        (sc.checkpoint.size, sc.checkpoint.root),
        (0, bt_exec::tlog::empty_root())
    );
}

#[test]
fn generated_log_600() {
    let Some(v) = common::vectors("generated_log_600") else {
        return;
    };
    let dir = v.join("tlog-tiles/generated-log-600");
    let vkey = std::fs::read_to_string(dir.join("log.vkey")).unwrap();
    check_log(
        &dir,
        &vkey,
        "example.com/bt-exec/testlog",
        &[1, 2, 3, 255, 256, 257, 511, 512, 513, 600],
    );
}

/// The tiles of a log directory, read as a mirror would serve them.
struct DirTiles(std::path::PathBuf);

impl bt_exec::tlog::consistency::TileSource for DirTiles {
    fn hash_tile(&self, level: u8, n: u64, width: u64) -> Result<Vec<u8>, String> {
        std::fs::read(self.0.join(hash_tile_path(level, n, width))).map_err(|e| e.to_string())
    }
}

/// Every consistency proof in `proofs.json` is the one computed from the
/// log's tiles through the authenticated reader, every inclusion proof
/// too, and every pair of published checkpoints is proven consistent.
#[test]
fn generated_log_600_proofs_from_tiles() {
    use bt_exec::tlog::consistency::{
        consistency_proof, inclusion_proof, prove_prefix, Consistency,
    };
    use bt_exec::tlog::{Checkpoint, Hash};
    let Some(v) = common::vectors("generated_log_600_proofs_from_tiles") else {
        return;
    };
    let dir = v.join("tlog-tiles/generated-log-600");
    let tiles = DirTiles(dir.clone());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("proofs.json")).unwrap()).unwrap();
    let h = |s: &serde_json::Value| {
        Hash(
            hex::decode(s.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap(),
        )
    };
    let cp = |size: u64, root: Hash| Checkpoint::new("example.com/bt-exec/testlog", size, root);
    let consistency = json["consistency"].as_array().unwrap();
    assert!(consistency.len() >= 45);
    for c in consistency {
        let (m, n) = (c["size1"].as_u64().unwrap(), c["size2"].as_u64().unwrap());
        let (old, new) = (cp(m, h(&c["root1"])), cp(n, h(&c["root2"])));
        let want: Vec<Hash> = c["proof"].as_array().unwrap().iter().map(h).collect();
        if m < n {
            assert_eq!(
                consistency_proof(m, &new, &tiles).unwrap(),
                want,
                "{m} -> {n}"
            );
        }
        assert_eq!(
            prove_prefix(&old, &new, &tiles),
            Consistency::Consistent,
            "{m} -> {n}"
        );
    }
    for c in json["inclusion"].as_array().unwrap() {
        let (i, n) = (
            c["leaf_index"].as_u64().unwrap(),
            c["tree_size"].as_u64().unwrap(),
        );
        let want: Vec<Hash> = c["path"].as_array().unwrap().iter().map(h).collect();
        let got = inclusion_proof(&cp(n, h(&c["root"])), i, &tiles).unwrap();
        assert_eq!(got, want, "leaf {i} in {n}");
    }
}
