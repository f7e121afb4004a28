//! The structure-aware target for the verification decision itself
//! (`verify::verify`, then `saving::decide_and_save`, as bt-exec runs
//! them): the input is a script of what a hostile log operator, mirror or
//! network path could do — serve the honest log or forks of it, sign any
//! tree with the log key, add cosignatures (from the policy's witnesses
//! at any time, from a witness it does not list, from the log key), put,
//! flip, cut or remove any file, point the index anywhere, leave a proof
//! file beside the program, move the clock, go offline — with decisions
//! in between that save what they learn, as successive runs do.
//!
//! The world has two logs and two admitted publishers; the input's first
//! byte picks the policy ([`world::Setup`]: one log or two listed,
//! `logs = 1` or `2`, with or without `latest = true`), and the script
//! plays against either log ([`Op::Use`]).
//!
//! Every "run" is checked against [`truth::Truth`], which knows what was
//! really signed; every change of the saved checkpoint must extend the
//! one before. Under `latest`, a run must also pass the reference's own
//! reading of every log the run checked ([`Truth::latest`]). The fuzzer holds no key: signing goes through the script's
//! operations, which record what they sign.

mod refresher;
mod script;
#[cfg(test)]
mod tests;
mod truth;
mod world;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use script::{flip, leaf_bytes, Leaf, Op, Time, When};
use sha2::{Digest, Sha256};

use crate::log::sign_checkpoint;
use crate::log_id::LogId;
use crate::note::sign_cosignature_line;
use crate::source::{MemorySource, Source};
use crate::state::{MemoryState, State};
use crate::store::{Ingested, Pair};
use crate::tlog::{Checkpoint, Hash, TlogProof};
use crate::verify::{LogOutcome, Sidecars, Verdict};
use truth::{Signed, Truth};
use world::{world, Files, Setup, ORIGINS, PROGRAM, START};

/// At most this many operations, and decisions, per input (each decision
/// verifies signatures and hashes a few hundred leaves).
const MAX_OPS: usize = 64;
const MAX_DECISIONS: usize = 4;

/// What one log serves, and how this machine names it.
struct Side {
    src: Arc<MemorySource>,
    log_id: LogId,
    /// The checkpoint served, and the cosignature lines added to it.
    served: Option<(Checkpoint, Vec<String>)>,
    /// The last history built for this log.
    last_tree: usize,
    /// The checkpoint note the script last served (what an intact
    /// `checkpoint` file holds).
    note: Option<Vec<u8>>,
    /// Whether every read of this log fails ([`Op::Down`]).
    down: bool,
}

struct Game {
    truth: Truth,
    setup: Setup,
    logs: [Side; 2],
    /// The log the script plays against (0 or 1).
    cur: usize,
    state: MemoryState,
    now: u64,
    offline: bool,
    /// The proof file beside the program: named for a log (which), its
    /// bytes.
    sidecar: Option<(Option<usize>, Vec<u8>)>,
    /// Whether that file is as the script signed it, cosigned by the
    /// policy's witnesses only (every line of its note verifies).
    sidecar_signed: bool,
    decisions: usize,
    /// The exit code of each decision made.
    codes: Vec<u8>,
}

/// Runs one script: operations, decisions between them, and a last
/// decision at the end.
pub fn run(data: &[u8]) {
    codes(data);
}

/// The exit code of each decision `data`'s script made (the replay test
/// checks the committed seeds reach a run, a refusal and a split view).
/// The first byte picks the policy, the rest is the script.
pub fn codes(data: &[u8]) -> Vec<u8> {
    let mut u = Unstructured::new(data);
    let setup = Setup::from_byte(u8::arbitrary(&mut u).unwrap_or(0));
    let mut ops = vec![];
    while ops.len() < MAX_OPS && !u.is_empty() {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    play(setup, ops)
}

fn play(setup: Setup, ops: Vec<Op>) -> Vec<u8> {
    let mut game = Game::new(setup);
    for op in ops {
        game.apply(op);
    }
    game.decide();
    game.codes
}

impl Game {
    fn new(setup: Setup) -> Game {
        let w = world();
        let side = |i: usize| Side {
            src: Arc::new(MemorySource::new()),
            log_id: LogId::new(ORIGINS[i], &w.keys.logs[i].verifier()),
            served: None,
            last_tree: i,
            note: None,
            down: false,
        };
        Game {
            truth: Truth::default(),
            setup,
            logs: [side(0), side(1)],
            cur: 0,
            state: MemoryState::new(),
            now: START,
            offline: false,
            sidecar: None,
            sidecar_signed: false,
            decisions: 0,
            codes: vec![],
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Honest {
                size,
                files,
                other_origin,
            } => self.serve(self.cur, size, Files::from_bits(files), other_origin),
            Op::Fork {
                from_last,
                size,
                at,
                leaf,
                files,
            } => self.branch(from_last, Some(at), leaf, size, files),
            Op::Grow {
                from_last,
                leaf,
                size,
                files,
            } => self.branch(from_last, None, leaf, size, files),
            Op::UnknownRoot { size, salt } => {
                // Not the root of any list of leaves (that would take a
                // preimage of SHA-256).
                let root = Sha256::new()
                    .chain_update(b"bt-exec fuzz: a root no tree has")
                    .chain_update([salt])
                    .finalize();
                let cp = Checkpoint::new(ORIGINS[self.cur], u64::from(size), Hash(root.into()));
                self.sign(cp, None);
            }
            Op::Cosign { by, when } => self.cosign(by, Time::Relative(when), None, false),
            Op::Line {
                by,
                ed25519,
                of,
                at,
            } => self.cosign(by, at, Some(usize::from(of)), ed25519),
            Op::Splice {
                tree,
                bundle,
                level,
                n,
                width,
            } => self.splice(usize::from(tree), bundle, level, n, width),
            Op::ClearAlarm => self.state.clear_alarm(&self.side().log_id),
            Op::Sidecar {
                tree,
                index,
                size,
                cosigners,
                when,
                named,
            } => self.sidecar(usize::from(tree), index, size, cosigners, when, named),
            Op::SidecarBytes { data, named } => {
                self.sidecar = Some((named.then_some(self.cur), data));
                self.sidecar_signed = false;
            }
            Op::SidecarFlip { at, bit } => {
                if let Some((_, b)) = &mut self.sidecar {
                    flip(b, at, bit);
                    self.sidecar_signed = false;
                }
            }
            Op::Put { path, data } => self.side().src.put(&path.name(&world().sha256), data),
            Op::Flip { file, at, bit } => self.edit(file, |b| flip(b, at, bit)),
            Op::Truncate { file, len } => self.edit(file, |b| b.truncate(usize::from(len))),
            Op::Remove { file } => {
                if let Some(p) = self.path(file) {
                    self.side().src.remove(&p);
                }
            }
            Op::Point { at } => self.point(&at),
            Op::Clock { minutes } => {
                self.now = self.now.saturating_add_signed(i64::from(minutes) * 60);
            }
            Op::Offline(b) => self.offline = b,
            Op::Down(b) => {
                self.side().src.set_down(b);
                self.logs[self.cur].down = b;
            }
            Op::Decide => self.decide(),
            Op::Use { second } => self.cur = usize::from(second),
        }
    }

    /// The log the script plays against.
    fn side(&self) -> &Side {
        &self.logs[self.cur]
    }

    /// A history: `base` with leaf `at` (modulo its length) replaced.
    /// A new history from the honest one (or the last one built): leaf
    /// `at` replaced by `leaf`, or `leaf` appended; served at `size`.
    fn branch(&mut self, from_last: bool, at: Option<u16>, leaf: Leaf, size: u16, files: u8) {
        let from = if from_last {
            self.side().last_tree
        } else {
            self.cur
        };
        let base = self.truth.tree(from);
        let t = match at {
            Some(at) => base.fork(usize::from(at), leaf_bytes(leaf)),
            None => base.grow(leaf_bytes(leaf)),
        };
        let id = self.truth.add_tree(t, self.cur);
        self.logs[self.cur].last_tree = id;
        self.serve(id, size, Files::from_bits(files), false);
    }

    /// The program's index entry, pointing at leaves `at`.
    fn point(&self, at: &[u16]) {
        let sha = world().sha256;
        let records: Vec<u8> = at
            .iter()
            .flat_map(|&i| crate::index::encode_record(&sha, u64::from(i)))
            .collect();
        self.side()
            .src
            .put(&crate::index::shard_path(&sha), records);
    }

    /// One file of tree `tree` (modulo how many there are) served alone.
    fn splice(&mut self, tree: usize, bundle: bool, level: u8, n: u8, width: u8) {
        use crate::tlog::tiles::{bundle_path, encode_bundle, hash_tile_path, TILE_WIDTH};
        let t = self.truth.tree(tree % self.truth.trees());
        let (n, w) = (
            u64::from(n % 2),
            if width == 0 { 256 } else { u64::from(width) },
        );
        if bundle {
            let leaves = t
                .leaves
                .iter()
                .skip((n * TILE_WIDTH) as usize)
                .take(w as usize);
            if let Ok(b) = encode_bundle(leaves.map(Vec::as_slice)) {
                self.side().src.put(&bundle_path(n, w), b);
            }
        } else if let Ok(data) = t.hashes.tile_data(level % 2, n, w) {
            self.side().src.put(&hash_tile_path(level % 2, n, w), data);
        }
    }

    /// Serves tree `id` at `size` (modulo its length, plus one), with a
    /// checkpoint the log signs (the log played against).
    fn serve(&mut self, id: usize, size: u16, files: Files, other_origin: bool) {
        let tree = self.truth.tree(id);
        let size = 1 + u64::from(size) % tree.len();
        tree.serve(&self.side().src, size, files);
        let root = Hash(self.truth.root(id, size));
        let origin = if other_origin {
            "fuzz.example/other"
        } else {
            ORIGINS[self.cur]
        };
        if files.checkpoint {
            self.sign(Checkpoint::new(origin, size, root), Some(id));
        }
    }

    /// The log played against signs `cp` (of tree `tree`), which it
    /// serves from now on.
    fn sign(&mut self, cp: Checkpoint, tree: Option<usize>) {
        let log = self.cur;
        self.record(log, &cp, tree);
        let note = sign_checkpoint(&world().keys.logs[log], &cp, &[]);
        let side = &mut self.logs[log];
        side.src.put("checkpoint", note.clone());
        side.note = Some(note);
        side.served = Some((cp, vec![]));
    }

    fn record(&mut self, log: usize, cp: &Checkpoint, tree: Option<usize>) {
        self.truth.signed.push(Signed {
            log,
            body: cp.encode(),
            origin: cp.origin.clone(),
            size: cp.size,
            root: cp.root.0,
            tree,
        });
    }

    /// A cosignature line over `cp` (of log `log`) by signer `by` (modulo
    /// 5), recorded.
    fn cosignature(&mut self, log: usize, cp: &Checkpoint, by: u8, at: Time) -> String {
        let by = usize::from(by % 5);
        self.line_over(log, cp.encode(), by, at, false)
    }

    /// A line by signer `by` (4: the key of log `log`) over `body`: a
    /// cosignature (recorded), or an Ed25519 note signature (which no
    /// witness quorum counts).
    fn line_over(
        &mut self,
        log: usize,
        body: Vec<u8>,
        by: usize,
        at: Time,
        ed25519: bool,
    ) -> String {
        let keys = &world().keys;
        let key = keys.witnesses.get(by).unwrap_or(&keys.logs[log]);
        if ed25519 {
            return crate::note::sign_ed25519_line(key, &body);
        }
        let time = at.at(self.now);
        let line = sign_cosignature_line(key, time, &body);
        self.truth.cosigned.push(truth::Cosigned {
            by,
            body,
            time,
            line: line.clone(),
        });
        line
    }

    /// Adds a line by `by` to the served checkpoint: over its own body, or
    /// over the `of`-th body the log signed.
    fn cosign(&mut self, by: u8, at: Time, of: Option<usize>, ed25519: bool) {
        let log = self.cur;
        let Some((cp, mut lines)) = self.logs[log].served.take() else {
            return;
        };
        let n = self.truth.signed.len().max(1);
        let body = match of.and_then(|i| self.truth.signed.get(i % n)) {
            Some(s) => s.body.clone(),
            None => cp.encode(),
        };
        lines.push(self.line_over(log, body, usize::from(by % 5), at, ed25519));
        let side = &mut self.logs[log];
        let note = sign_checkpoint(&world().keys.logs[log], &cp, &lines);
        side.src.put("checkpoint", note.clone());
        side.note = Some(note);
        side.served = Some((cp, lines));
    }

    fn sidecar(
        &mut self,
        tree: usize,
        index: u16,
        size: u16,
        cosigners: u8,
        when: When,
        named: bool,
    ) {
        let id = tree % self.truth.trees();
        let log = self.truth.log_of(id);
        let len = self.truth.tree(id).len();
        let size = 1 + u64::from(size) % len;
        let index = u64::from(index) % size;
        let t = self.truth.tree(id);
        let (Ok(proof), Some(leaf)) = (
            t.hashes.inclusion_proof(index, size),
            t.leaves.get(index as usize).cloned(),
        ) else {
            return;
        };
        let cp = Checkpoint::new(ORIGINS[log], size, Hash(self.truth.root(id, size)));
        self.record(log, &cp, Some(id));
        let lines: Vec<String> = (0..5u8)
            .filter(|b| cosigners & (1 << b) != 0)
            .map(|b| self.cosignature(log, &cp, b, Time::Relative(when)))
            .collect();
        let checkpoint = sign_checkpoint(&world().keys.logs[log], &cp, &lines);
        let p = TlogProof {
            extra: Some(leaf),
            index,
            proof,
            checkpoint,
        };
        self.sidecar = Some((named.then_some(log), p.encode()));
        self.sidecar_signed = cosigners & !0b111 == 0;
    }

    /// The `file`-th path served (modulo how many there are).
    fn path(&self, file: u8) -> Option<String> {
        let paths = self.side().src.paths();
        let n = paths.len();
        paths.into_iter().nth(usize::from(file) % n.max(1))
    }

    fn edit(&self, file: u8, f: impl FnOnce(&mut Vec<u8>)) {
        if let Some(p) = self.path(file) {
            if let Some(mut b) = self.side().src.read(&p) {
                f(&mut b);
                self.side().src.put(&p, b);
            }
        }
    }

    fn sidecars(&self) -> Sidecars {
        match &self.sidecar {
            None => Sidecars::default(),
            Some((None, b)) => {
                Sidecars::single(Some((PathBuf::from("tool.tlog-proof"), b.clone())))
            }
            // Named for a log the policy does not list: no file it reads.
            Some((Some(log), b)) => Sidecars {
                single: None,
                per_log: (0..=*log)
                    .map(|i| {
                        (i == *log).then(|| {
                            (
                                PathBuf::from(format!("tool.tlog-proofs/log{i}.tlog-proof")),
                                b.clone(),
                            )
                        })
                    })
                    .collect(),
                rekor: None,
            },
        }
    }

    /// Decides as bt-exec does and saves what was learnt; checks a "run"
    /// against the truth, the saved checkpoint's move, the pending pairs
    /// kept and forgotten, the proofs cached, and that a split view
    /// provable from what the log serves is found.
    fn decide(&mut self) {
        if self.decisions >= MAX_DECISIONS {
            return;
        }
        self.decisions += 1;
        let w = world();
        let listed = self.setup.logs();
        let before: Vec<Option<Vec<u8>>> = self
            .logs
            .iter()
            .map(|s| self.state.checkpoint(&s.log_id))
            .collect();
        let pending_before = self.pending();
        let saved_at: Vec<Option<u64>> = self
            .logs
            .iter()
            .map(|s| self.state.checkpoint_saved_at(&s.log_id))
            .collect();
        let provable: Vec<Option<String>> = (0..listed)
            .map(|l| self.split_due(l, before[l].as_deref(), &pending_before[l]))
            .collect();
        let alarmed = self
            .logs
            .iter()
            .take(listed)
            .any(|s| self.state.alarm(&s.log_id).is_some());
        let evidence = self.state.evidence().len();
        let file = Ingested {
            sha256: w.sha256,
            size: PROGRAM.len() as u64,
            cas_path: PathBuf::from("/nonexistent"),
            cached: false,
        };
        let decided = self.with_ctx(|ctx| {
            crate::exec::saving::decide_and_save(
                &self.state,
                self.now,
                || Ok(crate::verify::verify(ctx, file.clone(), self.sidecars())),
                |v: &Verdict| (&v.logs, v.file.sha256),
            )
        });
        let v = match decided {
            Ok((v, _)) => v,
            Err(f) => panic!("one process alone moved its own saved state: {}", f.message),
        };
        if std::env::var_os("BT_DECISION_DEBUG").is_some() {
            eprintln!("decision {}: {} {}", self.decisions, v.code, v.reason);
        }
        let pending_after = self.pending();
        self.check(&v, &before, &pending_after);
        self.codes.push(v.code);
        // An alarm stands until a person clears it.
        assert!(
            !alarmed || v.code == 123,
            "a raised alarm gave exit {}",
            v.code
        );
        // A decision that recorded a split view says so (123).
        let recorded: Vec<(LogId, Vec<u8>)> =
            self.state.evidence().into_iter().skip(evidence).collect();
        for (id, e) in &recorded {
            assert_eq!(v.code, 123, "a split view recorded, yet exit {}", v.code);
            self.truth.check_split(self.log_of(id), e);
        }
        for (log, before) in before.iter().enumerate() {
            let after = self.state.checkpoint(&self.logs[log].log_id);
            self.truth
                .check_saved(log, before.as_deref(), after.as_deref(), self.now);
            let id = &self.logs[log].log_id;
            let evidence: Vec<Vec<u8>> = recorded
                .iter()
                .filter(|(i, _)| i == id)
                .map(|(_, e)| e.clone())
                .collect();
            self.truth.check_pending(
                log,
                &pending_before[log],
                &pending_after[log],
                before.as_deref(),
                after.as_deref(),
                &evidence,
                self.now,
            );
            if let Some(p) = self.state.proof(id, &w.sha256) {
                let root = p.decode().map(|(_, r, _)| r.0);
                let root = root.unwrap_or_else(|| panic!("a cached proof that does not decode"));
                self.truth
                    .check_cached(log, (p.size, root), after.as_deref());
            }
        }
        for r in &v.logs {
            let Some(l) = r.log.as_ref().map(|id| self.log_of(id)) else {
                continue;
            };
            // The warm path makes no request: only while the saved
            // checkpoint meets the policy (`max_age` after its freshest
            // quorum), however long ago it was fetched, and never under a
            // history rule while a pair is pending (DESIGN §6).
            if let Some(until) = r.warm_until {
                assert!(
                    until > self.now && saved_at[l].is_some(),
                    "log {l} decided on the warm path with a checkpoint fresh until {until}, at {}",
                    self.now
                );
                assert!(
                    !self.setup.latest || pending_before[l].is_empty(),
                    "log {l} decided on the warm path under latest with a pair pending"
                );
                continue;
            }
            if let Some(why) = &provable[l] {
                assert_eq!(
                    v.code, 123,
                    "reached log {l} and {why}, yet exit {}: {}",
                    v.code, v.reason
                );
            }
        }
        // What the run starts when a saved checkpoint is older than
        // `refresh`; the alarm it may raise refuses the next decision.
        self.refresher();
    }

    /// `f` with the verification context of this moment: the game's
    /// state, clock and sources, the setup's policy.
    fn with_ctx<T>(&self, f: impl FnOnce(&crate::verify::Context) -> T) -> T {
        let srcs = [self.logs[0].src.clone(), self.logs[1].src.clone()];
        let sources: Box<crate::verify::Sources> = Box::new(move |spec| {
            let i = usize::from(spec.origin == ORIGINS[1]);
            Some(srcs[i].clone() as Arc<dyn Source>)
        });
        f(&crate::verify::Context {
            policy: world().policy(self.setup),
            state: &self.state,
            offline: self.offline,
            now: self.now,
            deadline: Instant::now() + Duration::from_secs(60),
            sources: Some(&*sources),
        })
    }

    /// Each log's pending pairs, as the state holds them.
    fn pending(&self) -> Vec<Vec<Pair>> {
        self.logs
            .iter()
            .map(|s| {
                self.state
                    .pending(&s.log_id)
                    .unwrap_or_else(|e| panic!("the pending pairs in memory: {e}"))
            })
            .collect()
    }

    /// The proof file beside the program that log `l` reads: named for
    /// it, or the single one.
    fn sidecar_of(&self, l: usize) -> Option<&[u8]> {
        match &self.sidecar {
            Some((None, b)) => Some(b),
            Some((Some(n), b)) if *n == l => Some(b),
            _ => None,
        }
    }

    /// Why a decision made now must be a split view on log `l`
    /// ([`Truth::split_provable`]): the log reached, serving what proves
    /// a pending body — or the body of the proof file beside the program,
    /// as the script signed it, when no pending body is larger than what
    /// the log serves — a fork of the saved checkpoint `before`.
    fn split_due(&self, l: usize, before: Option<&[u8]>, pending: &[Pair]) -> Option<String> {
        let side = &self.logs[l];
        if self.offline || side.down {
            return None;
        }
        let intact = side.note.is_some() && side.src.read("checkpoint") == side.note;
        let read = |p: &str| side.src.read(p);
        let served = truth::Served {
            checkpoint: side
                .served
                .as_ref()
                .filter(|_| intact)
                .map(|(cp, lines)| (cp.encode(), lines.as_slice())),
            read: &read,
        };
        // The proof file's own checkpoint, met in this very decision.
        let shipped = self
            .sidecar_of(l)
            .filter(|_| self.sidecar_signed)
            .and_then(|file| {
                let at = file.windows(2).position(|w| w == b"\n\n")?;
                Some(Pair {
                    anchor: String::new(),
                    unlinked: String::from_utf8_lossy(file.get(at + 2..)?).into_owned(),
                    recorded: self.now,
                    from: "the proof file beside the program".into(),
                })
            });
        self.truth
            .split_provable(l, before, pending, shipped.as_ref(), &served, self.now)
    }

    /// Which log `id` names (a log of the world: the policy lists no
    /// other).
    fn log_of(&self, id: &LogId) -> usize {
        self.logs
            .iter()
            .position(|s| &s.log_id == id)
            .unwrap_or_else(|| panic!("a log the policy does not list: {id:?}"))
    }

    /// A "run": proven in enough logs, each through a body that really
    /// proves the program to this machine ([`Truth::proven`]) or one kept
    /// pending with the proof file that carries it
    /// ([`Truth::proven_unlinked`]: `pending`, the pairs after the
    /// decision), on the genuine release; under `latest`, nothing newer.
    fn check(&self, v: &Verdict, before: &[Option<Vec<u8>>], pending: &[Vec<Pair>]) {
        assert!(
            matches!(v.code, 0 | 123 | 124 | 126 | 127),
            "exit code {} from a decision: {}",
            v.code,
            v.reason
        );
        if v.code != 0 {
            return;
        }
        let proven: Vec<_> = v
            .logs
            .iter()
            .filter_map(|r| match r.outcome {
                LogOutcome::Proven { index } => Some((index, r)),
                _ => None,
            })
            .collect();
        let need = if self.setup.need_two { 2 } else { 1 };
        assert!(
            proven.len() >= need,
            "a run with {} log(s) proving it, the policy needs {need}: {}",
            proven.len(),
            v.reason
        );
        for (index, r) in proven {
            let log = r.log.as_ref().map(|id| self.log_of(id));
            let before = log.and_then(|l| before.get(l)?.as_deref());
            let cp = r.checkpoint.as_ref();
            let linked = cp
                .zip(log)
                .is_some_and(|(cp, log)| self.truth.proven(log, index, cp, before, self.now));
            let kept = log.is_some_and(|l| {
                let pairs = pending.get(l).map_or(&[][..], Vec::as_slice);
                self.truth
                    .proven_unlinked(l, index, self.sidecar_of(l), pairs, self.now)
            });
            assert!(
                linked || kept,
                "ran the program on leaf {index} of {cp:?} (log {log:?}), which nothing the log and witnesses signed proves to this machine, and no pending pair keeps the proof file's checkpoint: {}",
                v.reason
            );
            assert!(
                r.entry.as_ref().is_some_and(truth::genuine_entry),
                "ran on an entry that is not the program's genuine release: {:?}",
                r.entry
            );
            assert!(
                !self.setup.latest || r.history.is_some(),
                "under latest, log {log:?} proved the program without its history being read: {}",
                v.reason
            );
        }
        if self.setup.latest {
            // Every log the run checked (its view brought up to its
            // checkpoint in force), as the reference reads it: the history
            // whose root that checkpoint is.
            let checked: Vec<(usize, &Checkpoint)> = v
                .logs
                .iter()
                .filter(|r| r.history.is_some())
                .filter_map(|r| Some((self.log_of(r.log.as_ref()?), r.checkpoint.as_ref()?)))
                .collect();
            if let Err(why) = self.truth.latest(&checked) {
                panic!(
                    "ran the program, but under latest it is outdated: {why}\nthe decision: {}",
                    v.reason
                );
            }
        }
    }
}
