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
//! is one history with the checkpoint saved before the decision (a
//! witnessed fork is no proof for a machine that saw the other branch),
//! or the decision kept it pending (DESIGN §6, "Consistency that cannot
//! be checked now": a witnessed body that could not be linked now proves
//! the leaf only with the pair kept, to be proven at the next online
//! contact). Nothing the fuzzer writes as raw bytes can add to that: it
//! holds no key, and no root it can name opens to leaves without a
//! preimage of SHA-256.
//!
//! Pending pairs are checked against the trees too ([`Truth::check_pending`],
//! [`Truth::split_provable`]): a pair is kept only for a witnessed body the
//! log signed, forgotten only when it truly is one history with the saved
//! line or its split view was recorded, and a decision that reaches a log
//! serving, intact, a witnessed extension of the saved checkpoint and its
//! tiles — from which a pending body is provably a fork — is a split view.
//!
//! Cosignatures count per body, whichever note carried them: anyone on
//! the path can strip lines from a note, so a note the verifier refuses
//! whole (one line dated in the future) proves the same as one without
//! that line. The saved note itself is checked line by line.

use sha2::{Digest, Sha256};

use super::world::{world, Candidate, Tree, MAX_AGE, ORIGINS, QUORUM};
use crate::entry::{Entry, Release};
use crate::store::Pair;
use crate::tlog::Checkpoint;

/// How far past the clock a cosignature may be dated (DESIGN §5), written
/// out here rather than taken from the code under test.
const SKEW: u64 = 600;

/// A checkpoint body a log key signed.
pub struct Signed {
    /// Which log's key (0 or 1).
    pub log: usize,
    pub body: Vec<u8>,
    pub origin: String,
    pub size: u64,
    pub root: [u8; 32],
    /// The history whose root at `size` this is (`None`: a root no
    /// history has).
    pub tree: Option<usize>,
}

/// A cosignature line made by `by` (0–2 the policy's witnesses, 3 a
/// witness it does not list, 4 a log key used as a witness's).
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
    /// Histories built by forking, and the log each is of (tree 0 is the
    /// first log's honest one, tree 1 the second's).
    forks: Vec<(Tree, usize)>,
}

impl Truth {
    pub fn tree(&self, id: usize) -> &Tree {
        match id {
            0 => &world().honest,
            1 => &world().honest_b,
            _ => self.forks.get(id - 2).map_or(&world().honest, |(t, _)| t),
        }
    }

    /// The log tree `id` is a history of.
    pub fn log_of(&self, id: usize) -> usize {
        match id {
            0 | 1 => id,
            _ => self.forks.get(id - 2).map_or(0, |(_, l)| *l),
        }
    }

    pub fn trees(&self) -> usize {
        self.forks.len() + 2
    }

    /// Keeps a new history of `log`; returns its id.
    pub fn add_tree(&mut self, t: Tree, log: usize) -> usize {
        self.forks.push((t, log));
        self.forks.len() + 1
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
    /// the checkpoint the decision held in force for `log`, for a machine
    /// that had saved `before` for it: a witnessed body of a history
    /// holding the genuine release there, one history with `before` (an
    /// extension of it, or a prefix: a shipped checkpoint in force while
    /// the saved one is stale).
    pub fn proven(
        &self,
        log: usize,
        index: u64,
        cp: &Checkpoint,
        before: Option<&[u8]>,
        now: u64,
    ) -> bool {
        let before = before.map(|b| self.record_of(log, b));
        self.signed.iter().any(|s| {
            (s.size, s.root) == (cp.size, cp.root.0)
                && self.proves(log, index, s, now)
                && before.map_or(true, |b| b.is_some_and(|b| self.one_history(b, s)))
        })
    }

    /// Whether `s`, a body `log`'s key signed, proves the program at leaf
    /// `index` at `now` by itself: for the log's origin, of a history
    /// holding the genuine release there, two of the policy's witnesses
    /// cosigning it in time.
    fn proves(&self, log: usize, index: u64, s: &Signed, now: u64) -> bool {
        let origin = ORIGINS.get(log).copied().unwrap_or_default();
        let leaf = s.tree.and_then(|t| self.tree(t).leaves.get(index as usize));
        s.log == log
            && s.origin == origin
            && index < s.size
            && leaf.is_some_and(|l| genuine(l))
            && self.witnessed(&s.body, now)
    }

    /// Whether leaf `index` really proves the program at `now` through the
    /// checkpoint of the proof file beside the program (`sidecar`) without
    /// its being linked to the saved checkpoint: that body proves the leaf
    /// by itself, and the decision kept it pending (`pending`, the log's
    /// pairs after the decision). Whether it truly is one history with the
    /// saved one is left to the next online contact ([`Self::split_provable`]).
    pub fn proven_unlinked(
        &self,
        log: usize,
        index: u64,
        sidecar: Option<&[u8]>,
        pending: &[Pair],
        now: u64,
    ) -> bool {
        let Some(s) = sidecar.and_then(|b| self.shipped(log, b)) else {
            return false;
        };
        self.proves(log, index, s, now)
            && pending.iter().any(|p| {
                self.record_of(log, p.unlinked.as_bytes())
                    .is_some_and(|u| u.body == s.body)
            })
    }

    /// The body `log` signed that a proof file carries: its checkpoint
    /// note comes last, after the first blank line (c2sp.org/tlog-proof).
    pub fn shipped(&self, log: usize, proof_file: &[u8]) -> Option<&Signed> {
        let at = proof_file.windows(2).position(|w| w == b"\n\n")?;
        self.record_of(log, proof_file.get(at + 2..)?)
    }

    /// Whether two bodies are one history (either extends the other).
    fn one_history(&self, a: &Signed, b: &Signed) -> bool {
        self.extends(a, b) || self.extends(b, a)
    }

    /// The body `log`'s key signed that `note` carries (the record with
    /// its history, when one has it).
    fn record_of(&self, log: usize, note: &[u8]) -> Option<&Signed> {
        let end = note.windows(2).position(|w| w == b"\n\n")?;
        let body = note.get(..=end)?;
        let mut found = self
            .signed
            .iter()
            .filter(|s| s.log == log && s.body == body);
        let first = found.next()?;
        Some(found.find(|s| s.tree.is_some()).unwrap_or(first))
    }

    /// A split view recorded as evidence (`a`, `# ---`, `b`, the proof)
    /// must be two bodies the log signed for its origin that are not one
    /// history: nothing a mirror serves can make an honest log look forked.
    pub fn check_split(&self, log: usize, evidence: &[u8]) {
        let at = evidence.windows(6).position(|w| w == b"# ---\n");
        let (a, b) = match at {
            Some(i) => (evidence.get(..i), evidence.get(i + 6..)),
            None => (None, None),
        };
        let shown = String::from_utf8_lossy(evidence);
        let (Some(a), Some(b)) = (
            a.and_then(|a| self.record_of(log, a)),
            b.and_then(|b| self.record_of(log, b)),
        ) else {
            panic!("split-view evidence of notes the log never signed:\n{shown}");
        };
        let origin = ORIGINS.get(log).copied().unwrap_or_default();
        assert!(
            a.origin == origin && b.origin == origin,
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
    pub fn check_saved(&self, log: usize, before: Option<&[u8]>, after: Option<&[u8]>, now: u64) {
        if after == before {
            return;
        }
        let Some(after) = after else {
            panic!("the saved checkpoint was removed");
        };
        let shown = String::from_utf8_lossy(after);
        let a = self
            .record_of(log, after)
            .unwrap_or_else(|| panic!("saved a checkpoint the log never signed:\n{shown}"));
        assert_eq!(
            a.origin,
            ORIGINS.get(log).copied().unwrap_or_default(),
            "saved another origin's checkpoint"
        );
        assert!(
            self.quorum(&a.body, Some(&shown), now),
            "saved a note whose own lines are no witness quorum in time:\n{shown}"
        );
        if let Some(before) = before {
            let b = self
                .record_of(log, before)
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

/// What a log serves at a decision, as the reference knows it: the body
/// of its checkpoint and the cosignature lines on it (`None` when the note
/// served is not, byte for byte, one the script signed), and any file.
pub struct Served<'a> {
    pub checkpoint: Option<(Vec<u8>, &'a [String])>,
    pub read: &'a dyn Fn(&str) -> Option<Vec<u8>>,
}

impl Truth {
    /// Why a decision that reaches `log` must be a split view (`None`: it
    /// need not): a pending body (`pending`, the pairs before the
    /// decision) that is not one history with `before`, the checkpoint
    /// saved before it, while the log serves — intact, every line a
    /// cosignature of its own body by the policy's witnesses, each once —
    /// a note meeting the quorum now whose body truly extends `before`, at
    /// least as large as the pending body, with every hash tile of its
    /// history at its size intact. That note is then the checkpoint in
    /// force, and the pending body, proven against it from its tiles, is
    /// provably no prefix of it. Narrower than every case the code may
    /// find, never wider. The body of the proof file beside the program
    /// (`shipped`, when the script signed that file as it is) counts too
    /// when no pending body is larger than the note served (none can then
    /// move the checkpoint in force beyond it before the file is read).
    pub fn split_provable(
        &self,
        log: usize,
        before: Option<&[u8]>,
        pending: &[Pair],
        shipped: Option<&Pair>,
        served: &Served,
        now: u64,
    ) -> Option<String> {
        use crate::tlog::tiles::{hash_tile_path, tile_width};
        let s = self.record_of(log, before?)?;
        let (body, lines) = served.checkpoint.as_ref()?;
        let origin = ORIGINS.get(log).copied().unwrap_or_default();
        let b = self
            .signed
            .iter()
            .find(|x| x.log == log && &x.body == body && x.tree.is_some())?;
        let mut by = [false; 3];
        for l in lines.iter() {
            let c = self.cosigned.iter().find(|c| &c.line == l)?;
            let seen = by.get_mut(c.by).filter(|_| &c.body == body)?;
            if *seen {
                return None;
            }
            *seen = true;
        }
        let note = lines.join("\n");
        if b.origin != origin
            || s.tree.is_none()
            || !self.quorum(body, Some(&note), now)
            || !self.extends(s, b)
        {
            return None;
        }
        let tree = self.tree(b.tree?);
        for level in 0..3u8 {
            let mut n = 0;
            while tile_width(level, n, b.size) > 0 {
                let w = tile_width(level, n, b.size);
                let data = tree.hashes.tile_data(level, n, w).ok()?;
                if (served.read)(&hash_tile_path(level, n, w)) != Some(data) {
                    return None;
                }
                n += 1;
            }
        }
        let sizes: Option<Vec<u64>> = pending
            .iter()
            .map(|p| Some(self.record_of(log, p.unlinked.as_bytes())?.size))
            .collect();
        let within = sizes.is_some_and(|v| v.iter().all(|&n| n <= b.size));
        let shipped = shipped.filter(|_| within);
        pending.iter().chain(shipped).find_map(|p| {
            let u = self.record_of(log, p.unlinked.as_bytes())?;
            (u.tree.is_some() && u.size <= b.size && !self.one_history(u, s)).then(|| {
                format!(
                    "the checkpoint of size {} (pending from {}) is a fork of the saved size {}, and the log serves size {} intact, witnessed, with its tiles",
                    u.size, p.from, s.size, b.size
                )
            })
        })
    }

    /// What a decision did to `log`'s pending pairs (`before`, `after`),
    /// given the saved checkpoint before and after it and the split views
    /// it recorded (`evidence`): at most 32 wait; a pair is kept only for a
    /// body the log signed for its origin that met the quorum by its own
    /// lines now, beside a checkpoint the log signed; and a pair is
    /// forgotten only when its body truly is one history with the saved
    /// checkpoint, before and after, or its split view was recorded.
    #[allow(clippy::too_many_arguments)]
    pub fn check_pending(
        &self,
        log: usize,
        before: &[Pair],
        after: &[Pair],
        saved_before: Option<&[u8]>,
        saved_after: Option<&[u8]>,
        evidence: &[Vec<u8>],
        now: u64,
    ) {
        assert!(after.len() <= 32, "{} pairs pending", after.len());
        let origin = ORIGINS.get(log).copied().unwrap_or_default();
        let body = |note: &str| note.split_once("\n\n").map(|(b, _)| b.to_string());
        let among =
            |pairs: &[Pair], p: &Pair| pairs.iter().any(|q| body(&q.unlinked) == body(&p.unlinked));
        for p in after.iter().filter(|p| !among(before, p)) {
            let u = self
                .record_of(log, p.unlinked.as_bytes())
                .unwrap_or_else(|| {
                    panic!(
                        "kept pending a checkpoint the log never signed:\n{}",
                        p.unlinked
                    )
                });
            assert!(
                u.origin == origin && self.quorum(&u.body, Some(&p.unlinked), now),
                "kept pending a checkpoint that does not meet the policy by itself:\n{}",
                p.unlinked
            );
            assert!(
                self.record_of(log, p.anchor.as_bytes()).is_some(),
                "kept pending beside a checkpoint the log never signed:\n{}",
                p.anchor
            );
        }
        let saved = |n: Option<&[u8]>| n.map(|n| self.record_of(log, n));
        let (sb, sa) = (saved(saved_before), saved(saved_after));
        for p in before.iter().filter(|p| !among(after, p)) {
            let Some(u) = self.record_of(log, p.unlinked.as_bytes()) else {
                panic!("a pending checkpoint the log never signed:\n{}", p.unlinked);
            };
            let with = |s: &Option<Option<&Signed>>| {
                s.as_ref()
                    .map_or(true, |s| s.is_some_and(|s| self.one_history(u, s)))
            };
            let recorded = evidence
                .iter()
                .any(|e| e.windows(u.body.len()).any(|w| w == u.body.as_slice()));
            assert!(
                recorded || (sa.is_some() && with(&sb) && with(&sa)),
                "a pending checkpoint of size {} was forgotten, yet it is not one history with the saved checkpoint (size {:?} before, {:?} after) and no split view was recorded",
                u.size,
                sb.flatten().map(|s| s.size),
                sa.flatten().map(|s| s.size)
            );
        }
    }

    /// A proof of the program cached for `log` (its tree's size and root)
    /// must be against a body the log signed that is a prefix of the saved
    /// checkpoint: a later run trusts it as proven against the checkpoint
    /// in force, and so never against a body not linked to the saved line.
    pub fn check_cached(&self, log: usize, proof: (u64, [u8; 32]), saved: Option<&[u8]>) {
        let s = saved
            .and_then(|n| self.record_of(log, n))
            .unwrap_or_else(|| panic!("a proof cached with no saved checkpoint"));
        let mut of = self
            .signed
            .iter()
            .filter(|x| x.log == log && (x.size, x.root) == proof);
        let first = of
            .next()
            .unwrap_or_else(|| panic!("a proof cached against a root the log never signed"));
        let r = of.find(|x| x.tree.is_some()).unwrap_or(first);
        assert!(
            self.extends(r, s),
            "a proof cached against size {}, which is not a prefix of the saved size {}",
            r.size,
            s.size
        );
    }
}

/// One release (a name and the bytes it names) as the reference reads the
/// histories: its first leaf in each log holding it (by position among
/// the logs read), and the earliest `published` its entries claim.
struct Read {
    name: String,
    sha256: [u8; 32],
    size: u64,
    version: String,
    published: u64,
    first: Vec<(usize, u64)>,
}

impl Read {
    fn first_in(&self, log: usize) -> Option<u64> {
        self.first.iter().find(|(l, _)| *l == log).map(|(_, i)| *i)
    }

    /// DESIGN §6: newer when a log holding both has its first entry later;
    /// when no log read holds both, when it claims a later `published`.
    fn newer_than(&self, other: &Read) -> bool {
        let both: Vec<(u64, u64)> = self
            .first
            .iter()
            .filter_map(|&(l, i)| Some((i, other.first_in(l)?)))
            .collect();
        if both.is_empty() {
            return self.published > other.published;
        }
        both.iter().any(|(mine, theirs)| mine > theirs)
    }
}

/// The validly signed entries of the world, decoded, and whether each is
/// admitted: what an entry is looked up in (by its bytes, else by its
/// statement, publisher and signature: another encoding of one of them).
fn valid_entries() -> &'static std::collections::HashMap<Vec<u8>, (Entry, bool)> {
    static VALID: std::sync::OnceLock<std::collections::HashMap<Vec<u8>, (Entry, bool)>> =
        std::sync::OnceLock::new();
    VALID.get_or_init(|| {
        world()
            .valid
            .iter()
            .filter_map(|b| {
                let e = Entry::decode(b).ok()?;
                let ok = allowed(&e);
                Some((b.clone(), (e, ok)))
            })
            .collect()
    })
}

/// By the publisher admitted for its name's namespace, for `any`.
fn allowed(e: &Entry) -> bool {
    let w = world();
    let name = &e.release.name;
    let by = e.publisher.as_bytes();
    ((by == w.keys.publisher.verifying_key().as_bytes() && name.starts_with("example.org/"))
        || (by == w.keys.second_publisher.verifying_key().as_bytes()
            && name.starts_with("x.example/")))
        && e.release.platform == "any"
}

/// `leaf` as a release the policy admits, by the reference's own rules:
/// a validly signed entry of the world (its bytes, or another encoding of
/// its statement, publisher and signature), for platform `any`, by the
/// publisher admitted for its name's namespace.
fn admitted(leaf: &[u8]) -> Option<Release> {
    let valid = valid_entries();
    if let Some((e, ok)) = valid.get(leaf) {
        return ok.then(|| e.release.clone());
    }
    let e = Entry::decode(leaf).ok()?;
    let known = valid.values().any(|(v, _)| {
        v.release == e.release
            && v.publisher.as_bytes() == e.publisher.as_bytes()
            && v.signature == e.signature
    });
    (known && allowed(&e)).then_some(e.release)
}

impl Truth {
    /// The history `log`'s key committed to in `cp` (for its origin), if
    /// the target built it: its leaves up to `cp.size`.
    fn history_of(&self, log: usize, cp: &Checkpoint) -> Option<&[Vec<u8>]> {
        let origin = ORIGINS.get(log)?;
        let s = self.signed.iter().find(|s| {
            s.log == log
                && s.origin == *origin
                && cp.origin == *origin
                && (s.size, s.root) == (cp.size, cp.root.0)
                && s.tree.is_some()
        })?;
        self.tree(s.tree?).leaves.get(..cp.size as usize)
    }

    /// `require.latest` as the reference reads it, over `checked`: the
    /// logs a run checked (each with its checkpoint in force). No log
    /// among them may hold a release of a name the program's bytes are
    /// released under (by an admitted publisher, platform `any`) that is
    /// newer than that release of the bytes — for every release of the
    /// bytes, under every name. A checkpoint whose history the target did
    /// not build is left out (the verifier cannot have read one either).
    pub fn latest(&self, checked: &[(usize, &Checkpoint)]) -> Result<(), String> {
        let w = world();
        let mut all: Vec<Read> = vec![];
        let mut at_key: std::collections::HashMap<(String, [u8; 32], u64), usize> =
            Default::default();
        for (at, &(log, cp)) in checked.iter().enumerate() {
            let Some(leaves) = self.history_of(log, cp) else {
                continue;
            };
            for (index, leaf) in leaves.iter().enumerate() {
                let Some(r) = admitted(leaf) else { continue };
                let index = index as u64;
                let key = (r.name.clone(), r.sha256, r.size);
                match at_key.get(&key).and_then(|&i| all.get_mut(i)) {
                    Some(x) => {
                        x.published = x.published.min(r.published);
                        match x.first.iter_mut().find(|(l, _)| *l == at) {
                            Some((_, i)) => *i = (*i).min(index),
                            None => x.first.push((at, index)),
                        }
                    }
                    None => {
                        at_key.insert(key, all.len());
                        all.push(Read {
                            name: r.name.clone(),
                            sha256: r.sha256,
                            size: r.size,
                            version: r.version.clone(),
                            published: r.published,
                            first: vec![(at, index)],
                        });
                    }
                }
            }
        }
        let size = super::world::PROGRAM.len() as u64;
        for mine in all
            .iter()
            .filter(|r| r.sha256 == w.sha256 && r.size == size)
        {
            let newer = all
                .iter()
                .find(|o| o.name == mine.name && o.sha256 != mine.sha256 && o.newer_than(mine));
            if let Some(o) = newer {
                let logs: Vec<String> = checked
                    .iter()
                    .map(|(l, cp)| format!("log {l} at size {}", cp.size))
                    .collect();
                return Err(format!(
                    "{} {} (first at {:?}) is newer than {} {} (first at {:?}); logs checked: {}",
                    o.name,
                    o.version,
                    o.first,
                    mine.name,
                    mine.version,
                    mine.first,
                    logs.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// The entries that are releases of the program's bytes by a publisher
/// the policy admits for their name: its own two, and the second
/// publisher's under its own name.
const GENUINE: [Candidate; 3] = [
    Candidate::Genuine,
    Candidate::GenuineAgain,
    Candidate::Relogged,
];

/// Whether `leaf` is one of the program's genuine releases: those bytes,
/// or another encoding of the same statement with the same signature by
/// the same publisher.
fn genuine(leaf: &[u8]) -> bool {
    let w = world();
    GENUINE.iter().any(|&c| {
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
    GENUINE.iter().any(|&c| {
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
