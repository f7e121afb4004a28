//! The slow reference the decision target checks every "run" against.
//!
//! It does not ask the verification code anything. It knows what the
//! world really holds: every checkpoint body the log key signed (and the
//! history, if any, whose root it signed), every cosignature each witness
//! made and when, and every history the target built — whose roots it
//! computes itself, naively, by RFC 6962's recursive definition. A leaf is
//! really proven when some body the log signed, for the log's origin,
//! commits to a history holding the program's genuine release at that
//! index, and two of the policy's three witnesses cosigned that same body
//! within `max_age` and not beyond the allowed clock skew — and that body
//! extends the checkpoint saved before the decision (a witnessed fork is
//! no proof for a machine that saw the other branch). Nothing the fuzzer
//! writes as raw bytes can add to that: it holds no key, and no root it
//! can name opens to leaves without a preimage of SHA-256.
//!
//! Cosignatures count per body, whichever note carried them: anyone on
//! the path can strip lines from a note, so a note the verifier refuses
//! whole (one line dated in the future) proves the same as one without
//! that line. The saved note itself is checked line by line.

use sha2::{Digest, Sha256};

use super::world::{world, Candidate, Tree, MAX_AGE, ORIGIN, QUORUM};
use crate::entry::Entry;
use crate::tlog::Checkpoint;

/// How far past the clock a cosignature may be dated (DESIGN §5), written
/// out here rather than taken from the code under test.
const SKEW: u64 = 600;

/// A checkpoint body the log key signed.
pub struct Signed {
    pub body: Vec<u8>,
    pub origin: String,
    pub size: u64,
    pub root: [u8; 32],
    /// The history whose root at `size` this is (`None`: a root no
    /// history has).
    pub tree: Option<usize>,
}

/// A cosignature line made by `by` (0–2 the policy's witnesses, 3 a
/// witness it does not list, 4 the log key used as a witness's).
pub struct Cosigned {
    pub by: usize,
    pub body: Vec<u8>,
    pub time: u64,
    /// The line as written in notes.
    pub line: String,
}

#[derive(Default)]
pub struct Truth {
    pub signed: Vec<Signed>,
    pub cosigned: Vec<Cosigned>,
    /// Histories built by forking (tree 0 is the honest one).
    forks: Vec<Tree>,
}

impl Truth {
    pub fn tree(&self, id: usize) -> &Tree {
        match id.checked_sub(1) {
            None => &world().honest,
            Some(i) => self.forks.get(i).unwrap_or(&world().honest),
        }
    }

    pub fn trees(&self) -> usize {
        self.forks.len() + 1
    }

    /// Keeps a new history; returns its id.
    pub fn add_tree(&mut self, t: Tree) -> usize {
        self.forks.push(t);
        self.forks.len()
    }

    /// The root of tree `id` at `size`, by the production tile code —
    /// checked against the naive computation here.
    pub fn root(&self, id: usize, size: u64) -> [u8; 32] {
        let t = self.tree(id);
        let root = t.root(size).0;
        let naive = naive_root(t.leaves.get(..size as usize).unwrap_or_default());
        assert_eq!(
            root, naive,
            "the tile code's root at size {size} is not RFC 6962's"
        );
        root
    }

    /// Whether two of the policy's witnesses cosigned `body` in time for
    /// `now` (in `note` only, when given).
    fn quorum(&self, body: &[u8], note: Option<&str>, now: u64) -> bool {
        let mut by = [false; 3];
        for c in &self.cosigned {
            let in_time =
                c.time <= now.saturating_add(SKEW) && c.time.saturating_add(MAX_AGE) >= now;
            let carried = note.map_or(true, |n| n.lines().any(|l| l == c.line));
            if let (true, true, true, Some(w)) =
                (in_time, carried, c.body == body, by.get_mut(c.by))
            {
                *w = true;
            }
        }
        by.iter().filter(|w| **w).count() >= QUORUM
    }

    pub fn witnessed(&self, body: &[u8], now: u64) -> bool {
        self.quorum(body, None, now)
    }

    /// Whether leaf `index` really proves the program at `now` in `cp`,
    /// the checkpoint the decision held in force, for a machine that had
    /// saved `before`.
    pub fn proven(&self, index: u64, cp: &Checkpoint, before: Option<&[u8]>, now: u64) -> bool {
        let before = before.map(|b| self.record_of(b));
        self.signed.iter().any(|s| {
            let leaf = s.tree.and_then(|t| self.tree(t).leaves.get(index as usize));
            s.origin == ORIGIN
                && cp.origin == ORIGIN
                && (s.size, s.root) == (cp.size, cp.root.0)
                && index < s.size
                && leaf.is_some_and(|l| genuine(l))
                && self.witnessed(&s.body, now)
                && before.map_or(true, |b| b.is_some_and(|b| self.extends(b, s)))
        })
    }

    /// The body the log signed that `note` carries (the record with its
    /// history, when one has it).
    fn record_of(&self, note: &[u8]) -> Option<&Signed> {
        let end = note.windows(2).position(|w| w == b"\n\n")?;
        let body = note.get(..=end)?;
        let mut found = self.signed.iter().filter(|s| s.body == body);
        let first = found.next()?;
        Some(found.find(|s| s.tree.is_some()).unwrap_or(first))
    }

    /// A split view recorded as evidence (`a`, `# ---`, `b`, the proof)
    /// must be two bodies the log signed for its origin that are not one
    /// history: nothing a mirror serves can make an honest log look forked.
    pub fn check_split(&self, evidence: &[u8]) {
        let at = evidence.windows(6).position(|w| w == b"# ---\n");
        let (a, b) = match at {
            Some(i) => (evidence.get(..i), evidence.get(i + 6..)),
            None => (None, None),
        };
        let shown = String::from_utf8_lossy(evidence);
        let (Some(a), Some(b)) = (
            a.and_then(|a| self.record_of(a)),
            b.and_then(|b| self.record_of(b)),
        ) else {
            panic!("split-view evidence of notes the log never signed:\n{shown}");
        };
        assert!(
            a.origin == ORIGIN && b.origin == ORIGIN,
            "evidence of another origin:\n{shown}"
        );
        assert!(
            !self.extends(a, b) && !self.extends(b, a),
            "a split view recorded between two checkpoints of one history:\n{shown}"
        );
    }

    /// Whether `later`'s history extends `earlier`'s.
    fn extends(&self, earlier: &Signed, later: &Signed) -> bool {
        if earlier.size > later.size {
            return false;
        }
        match (earlier.tree, later.tree) {
            (Some(a), Some(b)) => {
                let n = earlier.size as usize;
                self.tree(a).leaves.get(..n) == self.tree(b).leaves.get(..n)
            }
            _ => earlier.size == later.size && earlier.root == later.root,
        }
    }

    /// The saved checkpoint may change only to one the log signed for its
    /// origin, that the witnesses cosigned in time, and that extends the
    /// one saved before: never back, never to a fork.
    pub fn check_saved(&self, before: Option<&[u8]>, after: Option<&[u8]>, now: u64) {
        if after == before {
            return;
        }
        let Some(after) = after else {
            panic!("the saved checkpoint was removed");
        };
        let shown = String::from_utf8_lossy(after);
        let a = self
            .record_of(after)
            .unwrap_or_else(|| panic!("saved a checkpoint the log never signed:\n{shown}"));
        assert_eq!(a.origin, ORIGIN, "saved another origin's checkpoint");
        assert!(
            self.quorum(&a.body, Some(&shown), now),
            "saved a note whose own lines are no witness quorum in time:\n{shown}"
        );
        if let Some(before) = before {
            let b = self
                .record_of(before)
                .unwrap_or_else(|| unreachable!("only checked notes are saved"));
            assert!(
                self.extends(b, a),
                "the saved checkpoint moved from size {} to size {}, which does not extend it",
                b.size,
                a.size
            );
        }
    }
}

/// Whether `leaf` is one of the program's genuine releases: those bytes,
/// or another encoding of the same statement with the same signature by
/// the same publisher.
fn genuine(leaf: &[u8]) -> bool {
    let w = world();
    [Candidate::Genuine, Candidate::GenuineAgain]
        .iter()
        .any(|&c| {
            let g = w.candidate(c);
            leaf == g
                || match (Entry::decode(leaf), Entry::decode(g)) {
                    (Ok(x), Ok(y)) => {
                        x.release == y.release
                            && x.publisher.as_bytes() == y.publisher.as_bytes()
                            && x.signature == y.signature
                    }
                    _ => false,
                }
        })
}

/// Whether a decision's proven entry is one of the program's genuine
/// releases (its statement, by its publisher).
pub fn genuine_entry(e: &Entry) -> bool {
    let w = world();
    [Candidate::Genuine, Candidate::GenuineAgain]
        .iter()
        .any(|&c| {
            Entry::decode(w.candidate(c)).is_ok_and(|g| {
                g.release == e.release && g.publisher.as_bytes() == e.publisher.as_bytes()
            })
        })
}

/// RFC 6962 §2.1, as written: MTH of the empty list, of one leaf, and of
/// a list split at the largest power of two below its length.
pub fn naive_root(leaves: &[Vec<u8>]) -> [u8; 32] {
    match leaves {
        [] => Sha256::digest([]).into(),
        [leaf] => Sha256::new()
            .chain_update([0u8])
            .chain_update(leaf)
            .finalize()
            .into(),
        _ => {
            let mut k = 1;
            while k * 2 < leaves.len() {
                k *= 2;
            }
            let (left, right) = leaves.split_at(k);
            Sha256::new()
                .chain_update([1u8])
                .chain_update(naive_root(left))
                .chain_update(naive_root(right))
                .finalize()
                .into()
        }
    }
}
