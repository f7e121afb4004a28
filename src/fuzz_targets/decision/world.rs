//! The fixed world of the decision target: two logs, three policy
//! witnesses (two needed), an outsider witness, two allowed publishers
//! (each for its own namespace) and one the policy does not list, the
//! program, and each log's honest history with the program's release in
//! it — the first log's with its near misses beside it. The policy is one
//! of a few variants the input picks ([`Setup`]).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

use crate::entry::{Entry, Release};
use crate::note::SecretKey;
use crate::policy::Policy;
use crate::source::MemorySource;
use crate::tlog::store::TileHashes;
use crate::tlog::tiles::{bundle_path, encode_bundle, hash_tile_path, tile_width, TILE_WIDTH};
use crate::tlog::Hash;

pub const ORIGIN: &str = "fuzz.example/log";
/// The second log's origin.
pub const ORIGIN_B: &str = "fuzz.example/log-b";
pub const ORIGINS: [&str; 2] = [ORIGIN, ORIGIN_B];
pub const NAME: &str = "example.org/tool";
/// The second admitted publisher's name for the program's exact bytes.
pub const RELOGGED: &str = "x.example/relogged";
/// The policy's `max_age`, `refresh` and witness threshold.
pub const MAX_AGE: u64 = 3600;
pub const REFRESH: u64 = 600;
pub const QUORUM: usize = 2;
pub const START: u64 = 1_800_000_000;
/// The honest log's length: two level-0 tiles, so a level-1 tile too.
pub const HONEST: usize = 300;
/// The second log's honest length (one partial tile), and where the
/// program's genuine release sits in it.
pub const HONEST_B: usize = 40;
pub const GENUINE_B: usize = 7;
/// The `published` time every release claims, and the later one the newer
/// releases claim.
pub const PUBLISHED: u64 = START - 86_400;
pub const PUBLISHED_NEWER: u64 = START - 3_600;

/// The program every decision is about.
pub const PROGRAM: &[u8] = b"#!/bin/sh\necho fuzzed tool\n";

pub struct Keys {
    /// The first log's, the second's.
    pub logs: [SecretKey; 2],
    /// The policy's witnesses, then one the policy does not list.
    pub witnesses: [SecretKey; 4],
    pub publisher: SigningKey,
    pub other_publisher: SigningKey,
    /// Admitted for `x.example/*` only.
    pub second_publisher: SigningKey,
}

/// The leaves a fork may put anywhere: the program's two genuine
/// releases, then its near misses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, arbitrary::Arbitrary)]
pub enum Candidate {
    Genuine,
    GenuineAgain,
    OtherPublisher,
    NameNotAllowed,
    WrongSize,
    OtherBytes,
    BadSignature,
    OtherPlatform,
    /// The program's exact bytes, logged by the second admitted publisher
    /// under its own name ([`RELOGGED`] 1).
    Relogged,
    /// A newer release of the program's name (other bytes, a later
    /// claimed `published`), by its publisher.
    Newer,
    /// A newer release of [`RELOGGED`] (other bytes), by its publisher.
    RelogNewer,
}

pub struct World {
    pub keys: Keys,
    /// The policy of each [`Setup`], by [`Setup::index`].
    policies: Vec<Policy>,
    pub sha256: [u8; 32],
    candidates: Vec<(Candidate, Vec<u8>)>,
    /// Every validly signed entry of the world (the candidates but the
    /// broken one, the fillers): what a release can be.
    pub valid: Vec<Vec<u8>>,
    /// The first log's honest history.
    pub honest: Tree,
    /// The second log's.
    pub honest_b: Tree,
}

/// The policy variant an input picks (its first byte): whether the second
/// log is listed, whether both must prove the program (`logs = 2`), and
/// whether `latest = true`. Byte 0 is the original policy: one log, no
/// history rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Setup {
    pub two_logs: bool,
    pub need_two: bool,
    pub latest: bool,
}

impl Setup {
    pub fn from_byte(b: u8) -> Setup {
        let two_logs = b & 1 != 0;
        Setup {
            two_logs,
            need_two: two_logs && b & 2 != 0,
            latest: b & 4 != 0,
        }
    }

    pub fn byte(self) -> u8 {
        u8::from(self.two_logs) | u8::from(self.need_two) << 1 | u8::from(self.latest) << 2
    }

    fn index(self) -> usize {
        usize::from(self.byte())
    }

    /// How many logs the policy lists.
    pub fn logs(self) -> usize {
        if self.two_logs {
            2
        } else {
            1
        }
    }
}

/// A history: its leaves and every stored hash (tiles, proofs, roots).
pub struct Tree {
    pub leaves: Vec<Vec<u8>>,
    pub hashes: TileHashes,
    /// The file hash each leaf's entry names (`None`: not an entry), for
    /// the index.
    shas: Vec<Option<[u8; 32]>>,
}

fn sha_of(leaf: &[u8]) -> Option<[u8; 32]> {
    Entry::decode(leaf).ok().map(|e| e.release.sha256)
}

impl Tree {
    pub fn new(leaves: Vec<Vec<u8>>) -> Tree {
        let shas = leaves.iter().map(|l| sha_of(l)).collect();
        Tree::with_shas(leaves, shas)
    }

    /// `self` with leaf `at` (modulo the length) replaced by `leaf`.
    pub fn fork(&self, at: usize, leaf: Vec<u8>) -> Tree {
        let (mut leaves, mut shas) = (self.leaves.clone(), self.shas.clone());
        let at = at % leaves.len().max(1);
        if let (Some(l), Some(s)) = (leaves.get_mut(at), shas.get_mut(at)) {
            *s = sha_of(&leaf);
            *l = leaf;
        }
        Tree::with_shas(leaves, shas)
    }

    /// `self` with `leaf` appended.
    pub fn grow(&self, leaf: Vec<u8>) -> Tree {
        let (mut leaves, mut shas) = (self.leaves.clone(), self.shas.clone());
        shas.push(sha_of(&leaf));
        leaves.push(leaf);
        Tree::with_shas(leaves, shas)
    }

    fn with_shas(leaves: Vec<Vec<u8>>, shas: Vec<Option<[u8; 32]>>) -> Tree {
        let mut hashes = TileHashes::new();
        hashes.set_fresh(0, vec![]);
        for (i, leaf) in leaves.iter().enumerate() {
            let stored = tlog_tiles::stored_hashes(i as u64, leaf, &hashes)
                .unwrap_or_else(|e| unreachable!("stored hashes of leaf {i}: {e}"));
            hashes.push_fresh(&stored);
        }
        Tree {
            leaves,
            hashes,
            shas,
        }
    }

    pub fn len(&self) -> u64 {
        self.leaves.len() as u64
    }

    /// The root at `size` (at most the tree's length) by the production
    /// tile code.
    pub fn root(&self, size: u64) -> Hash {
        if size == 0 {
            return crate::tlog::empty_root();
        }
        self.hashes
            .tree_hash(size)
            .unwrap_or_else(|e| unreachable!("root at {size}: {e}"))
    }

    /// Serves this tree at `size` (tiles, entry bundles, the index, as
    /// `files` picks) from `src`.
    pub fn serve(&self, src: &MemorySource, size: u64, files: Files) {
        if files.tiles {
            for level in 0..3u8 {
                let mut n = 0;
                while tile_width(level, n, size) > 0 {
                    let w = tile_width(level, n, size);
                    if let Ok(data) = self.hashes.tile_data(level, n, w) {
                        src.put(&hash_tile_path(level, n, w), data);
                    }
                    n += 1;
                }
            }
        }
        if files.bundles {
            let mut n = 0;
            while tile_width(0, n, size) > 0 {
                let w = tile_width(0, n, size);
                let start = (n * TILE_WIDTH) as usize;
                let leaves = self.leaves.iter().skip(start).take(w as usize);
                if let Ok(b) = encode_bundle(leaves.map(Vec::as_slice)) {
                    src.put(&bundle_path(n, w), b);
                }
                n += 1;
            }
        }
        if files.index {
            let mut shards: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
            for (i, h) in self.shas.iter().take(size as usize).enumerate() {
                if let Some(h) = h {
                    let record = crate::index::encode_record(h, i as u64);
                    shards.entry(h[0]).or_default().extend_from_slice(&record);
                }
            }
            for (b, data) in shards {
                src.put(&format!("bt/index/{b:02x}"), data);
            }
        }
    }
}

/// Which of a tree's files an operation serves.
#[derive(Clone, Copy, Debug)]
pub struct Files {
    pub tiles: bool,
    pub bundles: bool,
    pub index: bool,
    pub checkpoint: bool,
}

impl Files {
    /// From four bits; none set means all (the common case stays cheap
    /// for the fuzzer to reach).
    pub fn from_bits(b: u8) -> Files {
        let b = if b & 0xf == 0 { 0xf } else { b };
        Files {
            tiles: b & 1 != 0,
            bundles: b & 2 != 0,
            index: b & 4 != 0,
            checkpoint: b & 8 != 0,
        }
    }
}

fn key(name: &str, seed: u8) -> SecretKey {
    SecretKey::from_seed(name, [seed; 32]).unwrap_or_else(|e| unreachable!("{name}: {e}"))
}

fn release(name: &str, bytes: &[u8], size: u64, platform: &str, version: &str) -> Release {
    release_at(name, bytes, size, platform, version, PUBLISHED)
}

fn release_at(
    name: &str,
    bytes: &[u8],
    size: u64,
    platform: &str,
    version: &str,
    published: u64,
) -> Release {
    Release {
        name: name.into(),
        version: version.into(),
        platform: platform.into(),
        sha256: Sha256::digest(bytes).into(),
        size,
        published,
        cas: vec![],
        source: None,
    }
}

fn signed(r: Release, key: &SigningKey) -> Entry {
    Entry::sign(r, key).unwrap_or_else(|e| unreachable!("signing an entry: {e}"))
}

fn candidates(k: &Keys) -> Vec<(Candidate, Vec<u8>)> {
    let n = PROGRAM.len() as u64;
    let program =
        |name: &str, size: u64, platform: &str, v: &str| release(name, PROGRAM, size, platform, v);
    let mut bad = signed(program(NAME, n, "any", "1.0"), &k.publisher);
    bad.signature[0] ^= 1;
    let other_os = if std::env::consts::OS == "plan9" {
        "linux-x86_64"
    } else {
        "plan9-mips"
    };
    let entries = [
        (
            Candidate::Genuine,
            signed(program(NAME, n, "any", "1.0"), &k.publisher),
        ),
        (
            Candidate::GenuineAgain,
            signed(program(NAME, n, "any", "1.0.1"), &k.publisher),
        ),
        (
            Candidate::OtherPublisher,
            signed(program(NAME, n, "any", "1.0"), &k.other_publisher),
        ),
        (
            Candidate::NameNotAllowed,
            signed(program("other.org/tool", n, "any", "1.0"), &k.publisher),
        ),
        (
            Candidate::WrongSize,
            signed(program(NAME, n + 1, "any", "1.0"), &k.publisher),
        ),
        (
            Candidate::OtherBytes,
            signed(
                release(NAME, b"other bytes", 11, "any", "1.0"),
                &k.publisher,
            ),
        ),
        (Candidate::BadSignature, bad),
        (
            Candidate::OtherPlatform,
            signed(program(NAME, n, other_os, "1.0"), &k.publisher),
        ),
        (
            Candidate::Relogged,
            signed(program(RELOGGED, n, "any", "1"), &k.second_publisher),
        ),
        (
            Candidate::Newer,
            signed(
                release_at(NAME, b"newer tool", 10, "any", "2.0", PUBLISHED_NEWER),
                &k.publisher,
            ),
        ),
        (
            Candidate::RelogNewer,
            signed(
                release_at(RELOGGED, b"newer relog", 11, "any", "2", PUBLISHED_NEWER),
                &k.second_publisher,
            ),
        ),
    ];
    entries.into_iter().map(|(c, e)| (c, e.encode())).collect()
}

fn policy_text(k: &Keys, setup: Setup) -> String {
    let mut trust = String::new();
    for (key, origin) in k.logs.iter().zip(ORIGINS).take(setup.logs()) {
        trust.push_str(&format!(
            "log {} https://{origin}/\n",
            key.verifier().encode()
        ));
    }
    for w in k.witnesses.iter().take(3) {
        let v = w.verifier();
        trust.push_str(&format!("witness {} {}\n", v.name, v.encode()));
    }
    let names: Vec<String> = k
        .witnesses
        .iter()
        .take(3)
        .map(|w| w.verifier().name)
        .collect();
    trust.push_str(&format!("group q {QUORUM} {}\nquorum q\n", names.join(" ")));
    let publisher = B64.encode(k.publisher.verifying_key().as_bytes());
    let second = B64.encode(k.second_publisher.verifying_key().as_bytes());
    let logs = if setup.need_two { 2 } else { 1 };
    let latest = if setup.latest { "latest = true\n" } else { "" };
    format!(
        "trust = \"\"\"\n{trust}\"\"\"\n\n[[publisher]]\nnames = [\"example.org/*\"]\nkey = \"{publisher}\"\n\n[[publisher]]\nnames = [\"x.example/*\"]\nkey = \"{second}\"\n\n[require]\nlogs = {logs}\nmax_age = \"{MAX_AGE}s\"\nrefresh = \"{REFRESH}s\"\n{latest}"
    )
}

/// Built once: keys, policies, candidates and the honest histories (the
/// first log's genuine releases sit at leaves 3 and 290, an older release
/// of the name at 1, near misses at 10 to 12 and 15; the second log's
/// genuine release at 7; other programs' releases everywhere else).
pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let keys = Keys {
            logs: [key(ORIGIN, 1), key(ORIGIN_B, 6)],
            witnesses: [
                key("w0.fuzz", 2),
                key("w1.fuzz", 3),
                key("w2.fuzz", 4),
                key("outsider.fuzz", 5),
            ],
            publisher: SigningKey::from_bytes(&[7; 32]),
            other_publisher: SigningKey::from_bytes(&[8; 32]),
            second_publisher: SigningKey::from_bytes(&[9; 32]),
        };
        let policies = (0..8u8)
            .map(|b| {
                let text = policy_text(&keys, Setup::from_byte(b));
                Policy::parse(&text, std::path::Path::new("fuzz.toml"))
                    .unwrap_or_else(|e| unreachable!("the decision target's policy: {e}"))
            })
            .collect();
        let candidates = candidates(&keys);
        // Other programs' releases, under a name of their own (so that
        // `latest` judges the program against the releases the script
        // logs, not against these).
        let filler = |log: &str, i: usize| {
            let bytes = format!("filler {log}{i}").into_bytes();
            let r = release(
                "example.org/filler",
                &bytes,
                bytes.len() as u64,
                "any",
                &format!("0.{i}"),
            );
            signed(r, &keys.publisher).encode()
        };
        let leaves: Vec<Vec<u8>> = (0..HONEST)
            .map(|i| match i {
                3 => candidates[0].1.clone(),
                290 => candidates[1].1.clone(),
                // The broken signature is only in forks: under a history
                // rule a log holding it cannot be read at all (its view
                // verifies every publisher signature), so it would make the
                // honest log unreachable.
                // Other bytes under the program's name: an older release,
                // before it (after it, it would outdate it under `latest`).
                1 => candidates[5].1.clone(),
                10..=12 | 15 => candidates[i - 8].1.clone(),
                _ => filler("", i),
            })
            .collect();
        let leaves_b: Vec<Vec<u8>> = (0..HONEST_B)
            .map(|i| match i {
                GENUINE_B => candidates[0].1.clone(),
                _ => filler("b ", i),
            })
            .collect();
        let bad = candidates
            .iter()
            .find(|(c, _)| *c == Candidate::BadSignature)
            .map(|(_, b)| b.clone());
        let mut valid: Vec<Vec<u8>> = candidates.iter().map(|(_, b)| b.clone()).collect();
        valid.extend(leaves.iter().chain(&leaves_b).cloned());
        valid.retain(|b| Some(b) != bad.as_ref());
        valid.sort();
        valid.dedup();
        World {
            sha256: Sha256::digest(PROGRAM).into(),
            policies,
            candidates,
            valid,
            honest: Tree::new(leaves),
            honest_b: Tree::new(leaves_b),
            keys,
        }
    })
}

impl World {
    pub fn policy(&self, setup: Setup) -> &Policy {
        self.policies
            .get(setup.index())
            .unwrap_or_else(|| unreachable!("a policy for every setup"))
    }

    pub fn candidate(&self, c: Candidate) -> &[u8] {
        self.candidates
            .iter()
            .find(|(x, _)| *x == c)
            .map(|(_, b)| b.as_slice())
            .unwrap_or_default()
    }
}
