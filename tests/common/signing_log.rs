//! A log that signs checkpoints of in-memory trees, for tests that talk to
//! a witness.

use bt_exec::log::sign_checkpoint;
use bt_exec::note::{SecretKey, VerifierKey};
use bt_exec::tlog::store::TileHashes;
use bt_exec::tlog::{Checkpoint, Hash};
use bt_exec::witness::client::request_body;

/// A tree of `n` leaves `leaf-<i>-<tag>`, with a prover.
pub fn tree(n: u64, tag: &str) -> TileHashes {
    let mut store = TileHashes::new();
    let mut all = vec![];
    for i in 0..n {
        let leaf = format!("leaf-{i}-{tag}");
        store.set_fresh(0, all.clone());
        all.extend(tlog_tiles::stored_hashes(i, leaf.as_bytes(), &store).unwrap());
    }
    store.set_fresh(0, all);
    store
}

pub struct Log {
    pub key: SecretKey,
    pub origin: String,
}

impl Log {
    pub fn new(origin: &str) -> Log {
        Log {
            key: SecretKey::generate(origin).unwrap(),
            origin: origin.into(),
        }
    }
    pub fn note(&self, t: &TileHashes, size: u64) -> (Checkpoint, Vec<u8>) {
        let cp = Checkpoint::new(&self.origin, size, t.tree_hash(size).unwrap());
        let note = sign_checkpoint(&self.key, &cp, &[]);
        (cp, note)
    }
    pub fn body(&self, t: &TileHashes, old: u64, size: u64) -> Vec<u8> {
        let proof: Vec<Hash> = if old == 0 || old >= size {
            vec![]
        } else {
            t.consistency_proof(old, size).unwrap()
        };
        request_body(old, &proof, &self.note(t, size).1)
    }
    pub fn vkey(&self) -> VerifierKey {
        self.key.verifier()
    }
}
