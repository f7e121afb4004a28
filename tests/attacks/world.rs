//! An in-memory world for the verification core: logs whose files are
//! served from memory ([`MemorySource`]), witnesses whose cosignatures
//! are signed at chosen times, a policy, and the decision run in this
//! process, over the saved state in memory ([`MemoryState`]) — no
//! sockets, no sleeps, no child processes, no files.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use bt_exec::entry::{Entry, Release};
use bt_exec::log::sign_checkpoint;
use bt_exec::note::{sign_cosignature_line, SecretKey};
use bt_exec::policy::Policy;
use bt_exec::source::{MemorySource, Source};
use bt_exec::state::MemoryState;
pub use bt_exec::state::State;
use bt_exec::store::Ingested;
use bt_exec::tlog::store::TileHashes;
use bt_exec::tlog::tiles::{bundle_path, encode_bundle, hash_tile_path, tile_width, TILE_WIDTH};
use bt_exec::tlog::{Checkpoint, TlogProof};
use bt_exec::verify::{self, Context, Verdict};
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

pub const NOW: u64 = 1_800_000_000;
pub const NAME: &str = "example.org/tool";

/// A log's history: its leaves and every stored hash.
pub struct History {
    pub leaves: Vec<Vec<u8>>,
    hashes: TileHashes,
}

impl History {
    pub fn new() -> Self {
        let mut hashes = TileHashes::new();
        hashes.set_fresh(0, vec![]);
        History {
            leaves: vec![],
            hashes,
        }
    }

    pub fn append(&mut self, leaf: Vec<u8>) -> u64 {
        let i = self.leaves.len() as u64;
        let h = tlog_tiles_stored(i, &leaf, &self.hashes);
        self.hashes.push_fresh(&h);
        self.leaves.push(leaf);
        i
    }

    /// A copy that shares the first `keep` leaves (a fork from there on).
    pub fn fork(&self, keep: usize) -> History {
        let mut h = History::new();
        for l in self.leaves.iter().take(keep) {
            h.append(l.clone());
        }
        h
    }

    pub fn root(&self, size: u64) -> bt_exec::tlog::Hash {
        if size == 0 {
            return bt_exec::tlog::empty_root();
        }
        self.hashes.tree_hash(size).unwrap()
    }

    pub fn inclusion(&self, index: u64, size: u64) -> Vec<bt_exec::tlog::Hash> {
        self.hashes.inclusion_proof(index, size).unwrap()
    }
}

fn tlog_tiles_stored(i: u64, leaf: &[u8], r: &TileHashes) -> Vec<bt_exec::tlog::Hash> {
    tlog_tiles::stored_hashes(i, leaf, r).unwrap()
}

pub struct Log {
    pub origin: String,
    pub key: SecretKey,
    pub vkey: String,
    pub history: History,
    pub src: Arc<MemorySource>,
}

impl Log {
    /// What the log's saved state is keyed by.
    pub fn id(&self) -> bt_exec::log_id::LogId {
        bt_exec::log_id::LogId::new(&self.origin, &self.key.verifier())
    }
}

pub struct World {
    pub store: MemoryState,
    pub logs: Vec<Log>,
    pub witnesses: Vec<SecretKey>,
    pub publisher: SigningKey,
    pub require: String,
    pub extra_policy: String,
    /// How many of the witnesses the quorum needs (`None`: all).
    pub quorum: Option<usize>,
    /// A proof file goes beside the program as the one named for log 0
    /// (`tool.tlog-proofs/<key hash>.tlog-proof`), not as `tool.tlog-proof`.
    pub named_proof: bool,
    pub offline: bool,
    pub now: u64,
}

/// The program every row runs: its bytes and hash.
pub fn program(version: &str) -> (Vec<u8>, [u8; 32]) {
    let bytes = format!("#!/bin/sh\necho tool {version}\n").into_bytes();
    let h: [u8; 32] = Sha256::digest(&bytes).into();
    (bytes, h)
}

impl World {
    /// `n` logs and two witnesses; the policy needs both witnesses and
    /// `logs = 1`.
    pub fn new(n: usize) -> World {
        Self::with_seed(n, 10)
    }

    /// Deterministic keys (so messages can be snapshot-tested): log `i`'s
    /// seed is `seed + i` repeated.
    pub fn with_seed(n: usize, seed: u8) -> World {
        let store = MemoryState::new();
        let logs = (0..n)
            .map(|i| {
                let origin = format!("example.org/log{i}");
                let key = SecretKey::from_seed(&origin, [seed + i as u8; 32]).unwrap();
                let vkey = key.verifier().encode();
                Log {
                    origin,
                    key,
                    vkey,
                    history: History::new(),
                    src: Arc::new(MemorySource::new()),
                }
            })
            .collect();
        World {
            store,
            logs,
            witnesses: vec![
                SecretKey::from_seed("w0.example", [1; 32]).unwrap(),
                SecretKey::from_seed("w1.example", [2; 32]).unwrap(),
            ],
            publisher: SigningKey::from_bytes(&[7; 32]),
            require: "logs = 1\nmax_age = \"1h\"\n".into(),
            extra_policy: String::new(),
            quorum: None,
            named_proof: false,
            offline: false,
            now: NOW,
        }
    }

    pub fn policy(&self) -> Policy {
        let mut trust = String::new();
        for l in &self.logs {
            trust.push_str(&format!("log {} https://{}/\n", l.vkey, l.origin));
        }
        for w in &self.witnesses {
            trust.push_str(&format!(
                "witness {} {}\n",
                w.verifier().name,
                w.verifier().encode()
            ));
        }
        let names: Vec<String> = self
            .witnesses
            .iter()
            .map(|w| w.verifier().name.clone())
            .collect();
        let k = self.quorum.map_or("all".to_string(), |k| k.to_string());
        trust.push_str(&format!(
            "group all-w {k} {}\nquorum all-w\n",
            names.join(" ")
        ));
        let publisher = B64.encode(self.publisher.verifying_key().as_bytes());
        // Every route but the warm one fetches each log's checkpoint, as
        // `refresh = "0s"` does (the default answers from the state).
        let refresh = if self.require.contains("refresh") {
            ""
        } else {
            "\nrefresh = \"0s\""
        };
        let text = format!(
            "trust = \"\"\"\n{trust}\"\"\"\n\n[[publisher]]\nnames = [\"example.org/*\"]\nkey = \"{publisher}\"\n{}\n[require]\n{}{refresh}",
            self.extra_policy, self.require
        );
        Policy::parse(&text, std::path::Path::new("policy.toml")).unwrap()
    }

    /// A signed release entry of NAME for `bytes`.
    pub fn entry(&self, version: &str, bytes: &[u8]) -> Vec<u8> {
        Self::entry_by(&self.publisher, version, bytes)
    }

    /// The release entry of NAME `version` for `bytes`, signed by `key`
    /// (a rebuilder's attestation when `key` is a rebuilder's).
    pub fn entry_by(key: &SigningKey, version: &str, bytes: &[u8]) -> Vec<u8> {
        let release = Release {
            name: NAME.into(),
            version: version.into(),
            platform: "any".into(),
            sha256: Sha256::digest(bytes).into(),
            size: bytes.len() as u64,
            published: NOW - 86_400,
            cas: vec![],
            source: None,
        };
        Entry::sign(release, key).unwrap().encode()
    }

    /// Appends filler entries and then `version`'s release to log `l`;
    /// returns its leaf index.
    pub fn publish(&mut self, l: usize, version: &str, filler: usize) -> u64 {
        for i in 0..filler {
            let leaf = self.entry(&format!("0.{i}"), format!("filler {i}").as_bytes());
            self.logs[l].history.append(leaf);
        }
        let (bytes, _) = program(version);
        let leaf = self.entry(version, &bytes);
        self.logs[l].history.append(leaf)
    }

    /// Cosignature lines of every witness at `time` over `cp`.
    pub fn cosign(&self, cp: &Checkpoint, time: u64) -> Vec<String> {
        self.witnesses
            .iter()
            .map(|w| sign_cosignature_line(w, time, &cp.encode()))
            .collect()
    }

    /// A checkpoint note of log `l`'s `history` at `size`, with `cosigs`.
    pub fn note_of(&self, l: usize, history: &History, size: u64, cosigs: Option<u64>) -> Vec<u8> {
        let log = &self.logs[l];
        let cp = Checkpoint::new(&log.origin, size, history.root(size));
        let lines = cosigs.map(|t| self.cosign(&cp, t)).unwrap_or_default();
        sign_checkpoint(&log.key, &cp, &lines)
    }

    /// Serves log `l`'s own history at `size` (tiles, bundles, index and
    /// a checkpoint cosigned at `cosigned`, or by the log key alone).
    pub fn serve(&self, l: usize, size: u64, cosigned: Option<u64>) {
        let note = self.note_of(l, &self.logs[l].history, size, cosigned);
        self.serve_history(l, &self.logs[l].history, size);
        self.logs[l].src.put("checkpoint", note);
    }

    /// Serves the tiles, bundles and index of `history` at `size` as log
    /// `l`'s (a fork when `history` is not the log's own).
    pub fn serve_history(&self, l: usize, history: &History, size: u64) {
        let src = &self.logs[l].src;
        for level in 0..8u8 {
            let mut n = 0;
            while tile_width(level, n, size) > 0 {
                let w = tile_width(level, n, size);
                src.put(
                    &hash_tile_path(level, n, w),
                    history.hashes.tile_data(level, n, w).unwrap(),
                );
                n += 1;
            }
        }
        let mut n = 0;
        while tile_width(0, n, size) > 0 {
            let w = tile_width(0, n, size);
            let start = (n * TILE_WIDTH) as usize;
            let leaves = history.leaves[start..start + w as usize]
                .iter()
                .map(|l| l.as_slice());
            src.put(&bundle_path(n, w), encode_bundle(leaves).unwrap());
            n += 1;
        }
        let mut shards: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
        for (i, leaf) in history.leaves.iter().take(size as usize).enumerate() {
            let e = Entry::decode(leaf).unwrap();
            let h = e.release.sha256;
            shards
                .entry(h[0])
                .or_default()
                .extend_from_slice(&bt_exec::index::encode_record(&h, i as u64));
        }
        for (b, data) in shards {
            src.put(&format!("bt/index/{b:02x}"), data);
        }
    }

    /// A `.tlog-proof` for leaf `index` of `history` at `size` as log `l`'s.
    pub fn proof_file(
        &self,
        l: usize,
        history: &History,
        index: u64,
        size: u64,
        cosigs: Option<u64>,
    ) -> Vec<u8> {
        TlogProof {
            extra: Some(history.leaves[index as usize].clone()),
            index,
            proof: history.inclusion(index, size),
            checkpoint: self.note_of(l, history, size, cosigs),
        }
        .encode()
    }

    pub fn ctx<'a>(&'a self, policy: &'a Policy, sources: &'a verify::Sources) -> Context<'a> {
        Context {
            policy,
            state: &self.store,
            offline: self.offline,
            now: self.now,
            deadline: std::time::Instant::now() + std::time::Duration::from_secs(60),
            sources: Some(sources),
        }
    }

    /// The decision on `version`'s bytes, with an optional proof file;
    /// what it would save is saved, as bt-exec does after a verification
    /// (deciding again when the saved state moved meanwhile).
    pub fn verify(&self, version: &str, sidecar: Option<Vec<u8>>) -> Verdict {
        let (v, unsaved) = bt_exec::exec::saving::decide_and_save(
            &self.store,
            self.now,
            || Ok(self.decide(version, sidecar.clone())),
            |v: &Verdict| (&v.logs, v.file.sha256),
        )
        .unwrap_or_else(|f| panic!("{}", f.message));
        assert!(unsaved.is_empty(), "{unsaved:?}");
        v
    }

    /// The decision alone: nothing is saved.
    pub fn decide(&self, version: &str, sidecar: Option<Vec<u8>>) -> Verdict {
        let (_, sha256) = program(version);
        let policy = self.policy();
        let srcs = self.sources();
        let ctx = self.ctx(&policy, &srcs);
        let file = Ingested {
            sha256,
            size: program(version).0.len() as u64,
            cas_path: PathBuf::from("/nonexistent"),
            cached: false,
        };
        let sidecars = if self.named_proof {
            let path = format!(
                "tool.tlog-proofs/{}.tlog-proof",
                self.logs[0].id().key_hash()
            );
            verify::Sidecars {
                single: None,
                per_log: vec![sidecar.map(|b| (PathBuf::from(path), b))],
                rekor: None,
            }
        } else {
            verify::Sidecars::single(sidecar.map(|b| (PathBuf::from("tool.tlog-proof"), b)))
        };
        verify::verify(&ctx, file, sidecars)
    }

    /// Saves what a decision learnt, as bt-exec does after a verdict.
    pub fn save(&self, v: &Verdict) -> bt_exec::exec::saving::Saved {
        bt_exec::exec::saving::save(&self.store, &v.logs, &v.file.sha256, self.now)
            .unwrap_or_else(|f| panic!("{}", f.message))
    }

    pub fn sources(&self) -> Box<verify::Sources> {
        let by_id: Vec<_> = self.logs.iter().map(|l| (l.id(), l.src.clone())).collect();
        Box::new(move |spec: &bt_exec::policy::LogSpec| {
            by_id
                .iter()
                .find(|(id, _)| *id == spec.id)
                .map(|(_, s)| s.clone() as Arc<dyn Source>)
        })
    }

    /// Gossip import of one note.
    pub fn gossip(&self, l: usize, note: &[u8]) -> Result<verify::Gossip, verify::LogOutcome> {
        let policy = self.policy();
        let srcs = self.sources();
        let ctx = self.ctx(&policy, &srcs);
        let spec = policy
            .trust
            .logs
            .iter()
            .find(|s| s.id == self.logs[l].id())
            .unwrap();
        verify::gossip_check(&ctx, spec, note)
    }
}
