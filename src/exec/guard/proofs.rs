//! The guard's verdicts: proving bytes a user brings in (from the logs,
//! on a socket request, never while an exec waits), and judging an exec's
//! bytes from the guard's state alone, remembered in memory until the
//! state changes or the verdict's checkpoints stop meeting the policy.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use super::decide::{Ground, Unproven};
use crate::exec::app::Fail;
use crate::exec::saving;
use crate::policy::Policy;
use crate::store::{Ingested, Store};
use crate::verify::{self, Context, Sidecars, Verdict};

/// The file, below the guard's state directory, of every SHA-256 the
/// guard proved (hex, one a line).
const BROUGHT_IN: &str = "guard/brought-in";
/// Cap on that file.
const MAX_BROUGHT_IN: usize = 64 << 20;
/// How long a refusal is remembered (a rule such as `min_release_age` can
/// turn it into a run as time passes; anything the guard saves forgets
/// it at once).
const REFUSAL_SECS: u64 = 30;
/// How long a judgement from the state may take before the exec is denied.
const JUDGE_DEADLINE: Duration = Duration::from_secs(2);
/// At most this many verdicts are remembered.
const MAX_REMEMBERED: usize = 65536;

#[derive(Clone)]
struct Remembered {
    generation: u64,
    /// Unix seconds: the verdict holds before then.
    until: u64,
    ground: Ground,
    /// The file's size, to judge it again.
    size: u64,
}

/// The guard's policy and state, and what it has decided from them.
pub struct Proofs {
    pub policy: Policy,
    pub store: Store,
    brought_in: RwLock<HashSet<[u8; 32]>>,
    remembered: Mutex<HashMap<[u8; 32], Remembered>>,
    /// Moves on each time the guard saves anything: every remembered
    /// verdict is then judged again.
    generation: AtomicU64,
}

impl Proofs {
    /// The guard's proofs over `policy` and `store`, with the bytes it
    /// proved before (kept across restarts).
    pub fn new(policy: Policy, store: Store) -> Proofs {
        let brought_in = read_brought_in(&store);
        Proofs {
            policy,
            store,
            brought_in: RwLock::new(brought_in),
            remembered: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// Whether the guard proved `sha256` at some time.
    pub fn is_brought_in(&self, sha256: &[u8; 32]) -> bool {
        self.brought_in
            .read()
            .map(|s| s.contains(sha256))
            .unwrap_or(false)
    }

    /// How many SHA-256s the guard has proved.
    pub fn brought_in(&self) -> usize {
        self.brought_in.read().map(|s| s.len()).unwrap_or(0)
    }

    /// The state changed (a refresh, a proof saved, an alarm): forget
    /// every remembered verdict.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn context(&self, offline: bool, now: u64, deadline: Duration) -> Context<'_> {
        Context {
            policy: &self.policy,
            state: &self.store,
            offline,
            now,
            deadline: Instant::now() + deadline,
            sources: None,
        }
    }

    /// Judges `sha256` (a file of `size` bytes) from the state alone at
    /// `now`: no request is made (`offline`), whatever the state lacks is
    /// a refusal. Bytes never brought in are refused without reading the
    /// state.
    pub fn judge(&self, sha256: &[u8; 32], size: u64, now: u64) -> Ground {
        if let Some(g) = self.known(sha256, now) {
            return g;
        }
        self.judge_from_state(sha256, size, now)
    }

    /// Judges `sha256` from the state (not from memory), and remembers it.
    fn judge_from_state(&self, sha256: &[u8; 32], size: u64, now: u64) -> Ground {
        let generation = self.generation.load(Ordering::SeqCst);
        let ctx = self.context(true, now, JUDGE_DEADLINE);
        let v = verify::verify(&ctx, ingested(sha256, size), Sidecars::single(None));
        let (ground, until) = ground_of(&v, now);
        if let Ok(mut m) = self.remembered.lock() {
            if m.len() >= MAX_REMEMBERED {
                m.clear();
            }
            m.insert(
                *sha256,
                Remembered {
                    generation,
                    until,
                    ground: ground.clone(),
                    size,
                },
            );
        }
        ground
    }

    /// What is known of `sha256` at `now` without reading the state: bytes
    /// never brought in are refused, and a verdict remembered since the
    /// state last changed holds until its time.
    pub fn known(&self, sha256: &[u8; 32], now: u64) -> Option<Ground> {
        let generation = self.generation.load(Ordering::SeqCst);
        if let Some(r) = self.remembered(sha256, generation, now) {
            return Some(r);
        }
        (!self.is_brought_in(sha256)).then(|| {
            Ground::Unproven(Unproven {
                code: verify::exit::REFUSED,
                cause: "not proven".into(),
                reason: format!(
                    "{} was never proven to the guard: bring it in with `bt-exec verify --guard PROGRAM`",
                    hex::encode(sha256)
                ),
                brought_in: false,
            })
        })
    }

    fn remembered(&self, sha256: &[u8; 32], generation: u64, now: u64) -> Option<Ground> {
        let m = self.remembered.lock().ok()?;
        let r = m.get(sha256)?;
        (r.generation == generation && now < r.until).then(|| r.ground.clone())
    }

    /// Proves `sha256` from the logs (a user's `bt-exec verify --guard`),
    /// saving what was learnt in the guard's state, and the release as run
    /// (what `require.no_downgrade` compares against). Proven bytes are
    /// brought in: execs of them are allowed from then on, while the state
    /// proves them.
    pub fn prove(&self, sha256: &[u8; 32], size: u64, now: u64) -> Result<Verdict, Fail> {
        let ctx = self.context(false, now, verify::DEFAULT_DEADLINE);
        let (v, unsaved) = saving::decide_and_save(
            &self.store,
            now,
            || {
                Ok(verify::verify(
                    &ctx,
                    ingested(sha256, size),
                    Sidecars::single(None),
                ))
            },
            |v: &Verdict| (&v.logs, v.file.sha256),
        )?;
        for u in unsaved {
            crate::say!("bt-exec guard: {u}");
        }
        if v.proven() {
            saving::record_run(&self.store, &v)?;
            self.bring_in(sha256);
        }
        self.saved(
            v.code == verify::exit::MISBEHAVIOUR || v.proven(),
            v.code,
            now,
        );
        Ok(v)
    }

    fn bring_in(&self, sha256: &[u8; 32]) {
        let Ok(mut set) = self.brought_in.write() else {
            return;
        };
        if set.insert(*sha256) {
            if let Err(e) = append_brought_in(&self.store, sha256) {
                crate::say!("bt-exec guard: cannot record {}: {e}", hex::encode(sha256));
            }
        }
    }

    /// `bt-exec refresh` of the guard's state, then every verdict judged
    /// again.
    pub fn refresh(&self, now: u64) -> crate::exec::refresh::Outcome {
        let ctx = self.context(false, now, verify::DEFAULT_DEADLINE);
        let out = crate::exec::refresh::refresh(&ctx);
        crate::exec::refresh::record(&self.store, now, crate::exec::app::now(), &out);
        self.saved(true, out.code, crate::exec::app::now());
        out
    }

    /// After the guard saved something (`any`): a split view (`code` 123)
    /// forgets every remembered verdict at once; anything else has every
    /// remembered verdict judged again in place, the old ones serving
    /// meanwhile. A refusal saved nothing that could change another
    /// verdict, and changes nothing. Attack stopped: a user asking the
    /// guard to prove junk again and again to have every program's next
    /// exec judged from the state, queued behind their own flood of
    /// execs, and denied as busy.
    fn saved(&self, any: bool, code: u8, now: u64) {
        if code == verify::exit::MISBEHAVIOUR {
            self.changed();
        }
        if any {
            self.judge_again(now);
        }
    }

    /// Judges every remembered verdict again from the state as it is now,
    /// here rather than in the next exec of each: the execs of programs
    /// the guard remembers stay on the reading thread's fast path after a
    /// refresh or a proof, whatever is queued for the workers.
    fn judge_again(&self, now: u64) {
        let known: Vec<([u8; 32], u64)> = match self.remembered.lock() {
            Ok(m) => m.iter().map(|(s, r)| (*s, r.size)).collect(),
            Err(_) => return,
        };
        for (sha, size) in known {
            let _ = self.judge_from_state(&sha, size, now);
        }
    }
}

/// The file as the verification takes it: its hash and size (the guard
/// copies nothing into a cache; the kernel runs the file itself).
fn ingested(sha256: &[u8; 32], size: u64) -> Ingested {
    Ingested {
        sha256: *sha256,
        size,
        cas_path: PathBuf::new(),
        cached: true,
    }
}

/// What a verdict from the state means for an exec, and until when it
/// holds: a proven one while every log that proved it stays on the warm
/// path (`LogReport::warm_until`: `max_age` after its freshest quorum), a
/// refusal for [`REFUSAL_SECS`].
fn ground_of(v: &Verdict, now: u64) -> (Ground, u64) {
    if v.proven() {
        let until = v
            .logs
            .iter()
            .filter_map(|r| r.warm_until)
            .min()
            .unwrap_or(now + REFUSAL_SECS);
        return (Ground::Proven, until);
    }
    let cause = if v.code == verify::exit::MISBEHAVIOUR {
        "split view"
    } else {
        crate::exec::audit::cause(v)
    };
    let ground = Ground::Unproven(Unproven {
        code: v.code,
        cause: cause.to_string(),
        reason: v.reason.clone(),
        brought_in: true,
    });
    (ground, now + REFUSAL_SECS)
}

fn read_brought_in(store: &Store) -> HashSet<[u8; 32]> {
    let path = store.state.join(BROUGHT_IN);
    let bytes = crate::fsutil::read_optional(&path, MAX_BROUGHT_IN)
        .ok()
        .flatten()
        .unwrap_or_default();
    bytes
        .split(|&b| b == b'\n')
        .filter_map(|l| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(l, &mut out).ok().map(|_| out)
        })
        .collect()
}

fn append_brought_in(store: &Store, sha256: &[u8; 32]) -> std::io::Result<()> {
    use std::io::Write;
    let path = store.state.join(BROUGHT_IN);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    f.write_all(format!("{}\n", hex::encode(sha256)).as_bytes())?;
    f.sync_data()
}
