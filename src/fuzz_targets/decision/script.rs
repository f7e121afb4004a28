//! The decision target's script language: what a hostile log operator,
//! mirror or network path can do, as `arbitrary` decodes it from the
//! fuzzer's bytes. The order of variants is the seeds' encoding
//! (tests/encode.rs): append, never reorder.

use arbitrary::Arbitrary;

use super::world::{world, Candidate};

#[derive(Arbitrary, Debug)]
pub enum Op {
    /// The honest log at `size` (modulo its length, plus one), its
    /// checkpoint signed by the log key alone (for another origin when
    /// `other_origin`).
    Honest {
        size: u16,
        files: u8,
        other_origin: bool,
    },
    /// A fork of the honest history (or of the last fork) with leaf `at`
    /// replaced, up to `size`: served, its checkpoint signed by the log.
    Fork {
        from_last: bool,
        size: u16,
        at: u16,
        leaf: Leaf,
        files: u8,
    },
    /// A fork of the honest history (or of the last fork) with `leaf`
    /// appended: served, its checkpoint signed by the log.
    Grow {
        from_last: bool,
        leaf: Leaf,
        size: u16,
        files: u8,
    },
    /// A checkpoint of a root no history has, signed by the log key.
    UnknownRoot {
        size: u16,
        salt: u8,
    },
    /// A cosignature line on the served checkpoint, by signer `by`.
    Cosign {
        by: u8,
        when: When,
    },
    /// Any signer's line (an Ed25519 note signature, or a cosignature
    /// over the `of`-th body the log signed) at any time, added to the
    /// served checkpoint.
    Line {
        by: u8,
        ed25519: bool,
        of: u8,
        at: Time,
    },
    /// One file of any history served alone, at any width: an entry
    /// bundle, or a hash tile (a fork's tile under the honest tree).
    Splice {
        tree: u8,
        bundle: bool,
        level: u8,
        n: u8,
        width: u8,
    },
    /// A person clears the log's alarm (`bt-exec alarm clear`).
    ClearAlarm,
    /// A valid proof file beside the program, for leaf `index` of tree
    /// `tree` at `size`, its checkpoint cosigned by the signers in
    /// `cosigners` (bits).
    Sidecar {
        tree: u8,
        index: u16,
        size: u16,
        cosigners: u8,
        when: When,
        named: bool,
    },
    /// Any bytes as the proof file.
    SidecarBytes {
        data: Vec<u8>,
        named: bool,
    },
    SidecarFlip {
        at: u16,
        bit: u8,
    },
    /// Any bytes at one of the log's paths.
    Put {
        path: Path,
        data: Vec<u8>,
    },
    /// A bit flipped, a file cut short or removed: the `file`-th path served.
    Flip {
        file: u8,
        at: u16,
        bit: u8,
    },
    Truncate {
        file: u8,
        len: u16,
    },
    Remove {
        file: u8,
    },
    /// The index entry of the program's hash, pointing at these leaves.
    Point {
        at: Vec<u16>,
    },
    /// The clock moves by this many minutes.
    Clock {
        minutes: i16,
    },
    Offline(bool),
    Down(bool),
    /// A decision (and what it learnt saved).
    Decide,
    /// The operations that follow play against the second log (or the
    /// first): what it serves, its checkpoint and cosignatures, its files
    /// and index, whether it is down.
    Use {
        second: bool,
    },
}

#[derive(Arbitrary, Debug)]
pub enum Leaf {
    Candidate(Candidate),
    /// The honest leaf at this index (moved).
    Honest(u16),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Time {
    Relative(When),
    Absolute(u64),
}

/// A time relative to the clock: minutes and seconds either way.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct When {
    pub minutes: i16,
    pub seconds: i8,
}

#[derive(Arbitrary, Debug)]
pub enum Path {
    Checkpoint,
    Tile { level: u8, n: u8, width: u8 },
    Bundle { n: u8, width: u8 },
    Shard,
}

impl Time {
    pub fn at(self, now: u64) -> u64 {
        match self {
            Time::Relative(w) => {
                now.saturating_add_signed(i64::from(w.minutes) * 60 + i64::from(w.seconds))
            }
            Time::Absolute(t) => t,
        }
    }
}

pub fn leaf_bytes(leaf: Leaf) -> Vec<u8> {
    let w = world();
    match leaf {
        Leaf::Candidate(c) => w.candidate(c).to_vec(),
        Leaf::Honest(i) => {
            let n = w.honest.leaves.len().max(1);
            w.honest
                .leaves
                .get(usize::from(i) % n)
                .cloned()
                .unwrap_or_default()
        }
        Leaf::Raw(b) => b,
    }
}

impl Path {
    pub fn name(&self, sha256: &[u8; 32]) -> String {
        use crate::tlog::tiles::{bundle_path, hash_tile_path};
        let width = |w: u8| if w == 0 { 256 } else { u64::from(w) };
        match *self {
            Path::Checkpoint => "checkpoint".into(),
            Path::Tile { level, n, width: w } => {
                hash_tile_path(level % 3, u64::from(n % 4), width(w))
            }
            Path::Bundle { n, width: w } => bundle_path(u64::from(n % 4), width(w)),
            Path::Shard => crate::index::shard_path(sha256),
        }
    }
}

pub fn flip(b: &mut [u8], at: u16, bit: u8) {
    let n = b.len();
    if let Some(x) = b.get_mut(usize::from(at) % n.max(1)) {
        *x ^= 1 << (bit % 8);
    }
}
