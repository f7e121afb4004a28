//! The guard's answer to each exec (the process around it is
//! [`super::run`]). A fanotify group marks each named
//! filesystem for `FAN_OPEN_EXEC_PERM` (and `FAN_CLOSE_WRITE`, which ends
//! a written file's hash); the kernel holds every exec of a file there
//! until the guard answers. The thread reading the events answers at once
//! what memory decides (a known hash with a known verdict, its own
//! executables, exempt files); the rest goes to a few workers through a
//! bounded queue, each exec's hash deadline counted from its arrival, and
//! an exec that finds the queue full is denied at once. So no user can
//! hold up others' execs by exec'ing files slow to hash. Workers read the
//! guard's state only ([`super::exec_event`], [`super::proofs`]); the
//! socket ([`super::requests`]) and the refresher are the only parts that
//! reach the network, and no exec waits on them.
//!
//! When the guard dies its fanotify group is gone and the kernel lets
//! every exec through, pending ones included: the systemd unit restarts
//! it, and its watchdog restarts one whose workers are stuck.

use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use nix::sys::fanotify::{Fanotify, FanotifyEvent, FanotifyResponse, MaskFlags, Response};

use super::config::{GuardConfig, GuardMode};
use super::decide::{self, Ground};
use super::exec_event::{self, Known, Own, Quick, Recorder};
use super::hashing::{self, FileKey, HashCache};
use super::proofs::Proofs;
use crate::exec::app::{now, Fail};
use crate::verify::exit;

/// At most this many hashes are remembered.
const HASH_CACHE: usize = 1 << 16;
/// Execs waiting for a worker, per worker; past them an exec is denied
/// at once (the guard is busy hashing other files). Each waits at most
/// its hash deadline, counted from its arrival (a worker that takes it
/// later denies it at once as too slow), so a long queue holds no exec
/// longer than that; it only has to hold a burst (each entry is one
/// descriptor).
pub(super) const QUEUED_PER_WORKER: usize = 256;
/// After this many errors in a row reading events, the guard gives up
/// (and systemd starts it again) rather than leave execs unanswered.
pub(super) const MAX_READ_ERRORS: u32 = 1000;
/// At most this many files hashed in the background at once.
const MAX_BACKGROUND: usize = 4;
/// A worker busy on one exec longer than this is stuck: the watchdog is
/// no longer fed, and systemd restarts the guard.
const STUCK_MS: u64 = 30_000;

/// What an exec's worker and a socket's handler share.
pub struct Guard {
    pub cfg: GuardConfig,
    pub mode: GuardMode,
    pub proofs: Proofs,
    pub known: Known,
    pub hashes: HashCache,
    recorder: Recorder,
    pub allowed: AtomicU64,
    pub denied: AtomicU64,
    pub would_deny: AtomicU64,
    background: AtomicUsize,
    /// The number of the last event read (writes and execs alike).
    pub seq: AtomicU64,
    /// Whether a lease could not be had (said once).
    no_leases: std::sync::atomic::AtomicBool,
    /// Per worker: since when (ms since start) it has been on one exec; 0 idle.
    pub(super) busy: Vec<AtomicU64>,
    started: Instant,
}

impl Guard {
    /// The guard of `cfg`: its policy loaded (root's, strict), its state
    /// and allow-list read. `audit` in the configuration or the policy
    /// makes it audit.
    pub fn load(cfg: GuardConfig) -> Result<Guard, Fail> {
        let policy = crate::policy::Policy::load(&cfg.policy)
            .map_err(|e| Fail::new(exit::CONFIG, format!("the guard's policy: {e}")))?;
        crate::exec::app::check_expiry(&policy)?;
        let store = cfg.store();
        for d in [&store.state, &store.cache] {
            std::fs::create_dir_all(d)
                .map_err(|e| Fail::new(exit::CONFIG, format!("{}: {e}", d.display())))?;
        }
        crate::strict::enforce(&[&store.cache, &store.state])?;
        let allow_list = match &cfg.allow_list {
            // Whoever can write it could allow anything: root's alone.
            Some(p) => crate::strict::check_config(p)
                .map_err(|e| e.to_string())
                .and_then(|()| super::snapshot::load(p).map_err(|e| e.to_string()))
                .map_err(|e| Fail::new(exit::CONFIG, format!("the allow-list: {e}")))?,
            None => Default::default(),
        };
        let mode = if policy.mode == crate::policy::Mode::Audit {
            GuardMode::Audit
        } else {
            cfg.mode
        };
        let workers = cfg.workers;
        Ok(Guard {
            known: Known {
                own: Own::find(),
                exempt: cfg.exempt.clone(),
                allow_list,
            },
            proofs: Proofs::new(policy, store),
            mode,
            cfg,
            hashes: HashCache::new(HASH_CACHE),
            recorder: Recorder::new(),
            allowed: AtomicU64::new(0),
            denied: AtomicU64::new(0),
            would_deny: AtomicU64::new(0),
            background: AtomicUsize::new(0),
            seq: AtomicU64::new(0),
            no_leases: Default::default(),
            busy: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            started: Instant::now(),
        })
    }

    pub(super) fn ms(&self) -> u64 {
        (self.started.elapsed().as_millis() as u64).max(1)
    }

    /// Answers one exec with what was found (`ground`, the hash if any):
    /// allow or deny through `fan`, then count and record it (after the
    /// answer: no exec waits for a disk write).
    pub(super) fn respond(
        &self,
        fan: &Fanotify,
        ev: &FanotifyEvent,
        ground: &Ground,
        sha: Option<[u8; 32]>,
    ) {
        let Some(fd) = ev.fd() else { return };
        let writing;
        let ground = match ground {
            Ground::Proven | Ground::AllowListed if self.open_for_writing(fd) => {
                writing = open_for_writing_ground();
                &writing
            }
            g => g,
        };
        let a = decide::answer(self.mode, ground);
        let response = if a.allow {
            Response::FAN_ALLOW
        } else {
            Response::FAN_DENY
        };
        if let Err(e) = fan.write_response(FanotifyResponse::new(fd, response)) {
            crate::say!("bt-exec guard: cannot answer an exec: {e}");
        }
        let counter = match (&a.note, a.allow) {
            (_, false) => &self.denied,
            (Some(_), true) => &self.would_deny,
            (None, true) => &self.allowed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(note) = &a.note {
            let path = fd
                .try_clone_to_owned()
                .map(|f| exec_event::path_of(&std::fs::File::from(f)))
                .unwrap_or_default();
            self.record(&path.display().to_string(), sha, ev.pid(), note);
        }
    }

    /// Whether anyone holds the exec's file open for writing as it is
    /// allowed (src/exec/guard/lease.rs). Attack stopped: a writable
    /// shared mapping made before the exec and dropped while the exec
    /// waits for the guard — its write changed no time and its close
    /// comes after the exec's event — running other bytes under the
    /// file's remembered hash. (With no writer now, the exec's own deny of
    /// writes follows the answer at once.) A filesystem without leases
    /// cannot say: said once, and the answer stands on the hash.
    ///
    /// A file root owns that nobody else may write (by its mode; an ACL
    /// granting another user write shows in the group bits) can have no
    /// writer but root, whom the guard does not guard against: no lease
    /// is asked for (it costs an exec some 40 µs: docs/BENCHMARKS.md).
    fn open_for_writing(&self, fd: std::os::fd::BorrowedFd) -> bool {
        let roots_alone = rustix::fs::fstat(fd)
            .is_ok_and(|st| exec_event::owner_alone_is_root(st.st_uid, st.st_mode));
        if roots_alone {
            return false;
        }
        match super::lease::open_for_writing(fd) {
            Ok(w) => w,
            Err(e) => {
                if !self.no_leases.swap(true, Ordering::Relaxed) {
                    crate::say!(
                        "bt-exec guard: cannot ask whether a file is open for writing: {e}"
                    );
                }
                false
            }
        }
    }

    fn open_for_writing_file(&self, file: &std::fs::File) -> bool {
        use std::os::fd::AsFd;
        self.open_for_writing(file.as_fd())
    }

    /// What memory alone says of an exec (the reader's fast path), or the
    /// file and what is left to do for a worker.
    fn quick(&self, ev: &FanotifyEvent) -> Result<Found, (std::fs::File, Quick)> {
        if ev.pid() == std::process::id() as i32 {
            return Ok((Ground::Own, None));
        }
        let Some(fd) = ev.fd() else {
            return Ok((
                Ground::NoHash("no descriptor came with the exec".into()),
                None,
            ));
        };
        let file = match fd.try_clone_to_owned() {
            Ok(f) => std::fs::File::from(f),
            Err(e) => return Ok((Ground::NoHash(e.to_string()), None)),
        };
        let m = match file.metadata() {
            Ok(m) => m,
            Err(e) => return Ok((Ground::NoHash(format!("it cannot be read: {e}")), None)),
        };
        let t = now();
        match exec_event::quick(&self.known, &self.hashes, &file, &m, |s| {
            self.proofs.known(s, t)
        }) {
            Quick::Done(g, sha) => Ok((g, sha)),
            q => Err((file, q)),
        }
    }

    /// A worker's part of an exec: hashing the file within `deadline`
    /// (counted from the exec's arrival) and judging the hash from the
    /// state.
    pub(super) fn work(self: &Arc<Self>, file: &std::fs::File, q: Quick, job: &Job) -> Found {
        let (sha, size) = match q {
            Quick::Done(g, sha) => return (g, sha),
            Quick::Judge(sha, size) => (sha, size),
            Quick::Hash(key) => {
                // Writers first: the bytes hashed are then the ones that run
                // (a writer who comes later must open the file anew).
                if self.open_for_writing_file(file) {
                    return (open_for_writing_ground(), None);
                }
                match exec_event::hash_for_exec(&self.hashes, file, key, job.deadline, job.seq) {
                    Ok(s) => (s, key.size),
                    Err((g, later)) => {
                        if let Some((f, key)) = later {
                            self.hash_later(f, key, job.seq);
                        }
                        return (g, None);
                    }
                }
            }
        };
        if self.known.allow_list.contains(&sha) {
            return (Ground::AllowListed, Some(sha));
        }
        (self.proofs.judge(&sha, size, now()), Some(sha))
    }

    fn record(&self, path: &str, sha: Option<[u8; 32]>, pid: i32, note: &decide::Note) {
        let t = now();
        let vouched = sha
            .is_some_and(|s| self.known.allow_list.contains(&s) || self.proofs.is_brought_in(&s));
        let sha = sha.map(hex::encode).unwrap_or_default();
        let what = if sha.is_empty() { path } else { &sha };
        let (due, suppressed) = self.recorder.due(what, note, t, vouched);
        if suppressed > 0 {
            crate::say!("bt-exec guard: {suppressed} records left out last minute (too many)");
        }
        if !due {
            return;
        }
        let path = path.to_string();
        // A file name or a log's text could hold control characters: the
        // journal gets them escaped (the record is JSON).
        let safe = crate::fsutil::terminal_safe;
        crate::say!(
            "bt-exec guard: {} {} (pid {pid}, sha256 {sha}): {}",
            note.verdict,
            safe(&path),
            safe(&note.reason)
        );
        let rec = crate::exec::audit::Record {
            time: t,
            program: path,
            sha256: sha,
            verdict: note.verdict.clone(),
            exit_code: note.code,
            reason: note.reason.clone(),
        };
        if let Err(e) = crate::exec::audit::record(&self.proofs.store, &rec) {
            crate::say!("bt-exec guard: cannot record: {e}");
        }
    }

    /// Hashes (and judges) a file that took too long for its exec, in the
    /// background (a few at a time), so the next exec of it finds both.
    fn hash_later(self: &Arc<Self>, f: std::fs::File, key: FileKey, seq: u64) {
        if self.background.fetch_add(1, Ordering::SeqCst) >= MAX_BACKGROUND {
            self.background.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let g = Arc::clone(self);
        std::thread::spawn(move || {
            let started = now();
            if let Ok(s) = hashing::hash(&f, &key, None) {
                g.hashes.put(key, s, seq, started);
                // Judged now too, so the next exec finds the verdict.
                let _ = g.proofs.judge(&s, key.size, now());
            }
            g.background.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// One event as the reader takes it: a written file's hash forgotten,
    /// or an exec answered at once from memory, or queued for a worker
    /// (denied at once when the queue is full).
    pub(super) fn take(
        self: &Arc<Self>,
        fan: &Fanotify,
        ev: FanotifyEvent,
        tx: &mpsc::SyncSender<Job>,
    ) {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let Some(fd) = ev.fd() else {
            // The queue overflowed: writes may have gone unseen.
            self.hashes.forget_all(seq);
            return;
        };
        if ev.mask().contains(MaskFlags::FAN_CLOSE_WRITE) {
            if let Ok(m) = fd
                .try_clone_to_owned()
                .map(std::fs::File::from)
                .and_then(|f| f.metadata())
            {
                self.hashes.written(m.dev(), m.ino(), seq);
            }
            return;
        }
        let arrived = Instant::now();
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.quick(&ev)));
        let (file, q) = match found {
            Ok(Ok((g, sha))) => return self.respond(fan, &ev, &g, sha),
            Ok(Err(work)) => work,
            Err(_) => return self.respond(fan, &ev, &internal_error(), None),
        };
        let job = Job {
            ev,
            file,
            q,
            seq,
            deadline: arrived
                .checked_add(self.cfg.hash_deadline)
                .unwrap_or(arrived),
        };
        if let Err(mpsc::TrySendError::Full(job) | mpsc::TrySendError::Disconnected(job)) =
            tx.try_send(job)
        {
            let busy = Ground::NoHash(
                "the guard is busy hashing other files: exec it again in a moment".into(),
            );
            let sha = match job.q {
                Quick::Judge(sha, _) => Some(sha),
                _ => None,
            };
            self.respond(fan, &job.ev, &busy, sha);
        }
    }

    /// Whether every worker is answering (none on one exec for
    /// [`STUCK_MS`]).
    pub(super) fn healthy(&self) -> bool {
        let t = self.ms();
        self.busy.iter().all(|b| {
            let s = b.load(Ordering::Relaxed);
            s == 0 || t.saturating_sub(s) < STUCK_MS
        })
    }
}

/// What was found out about an exec's file: the ground, and its hash.
pub(super) type Found = (Ground, Option<[u8; 32]>);

/// An exec a worker is to finish.
pub(super) struct Job {
    pub(super) ev: FanotifyEvent,
    pub(super) file: std::fs::File,
    pub(super) q: Quick,
    pub(super) seq: u64,
    /// The exec's hash deadline, counted from its arrival.
    pub(super) deadline: Instant,
}

fn open_for_writing_ground() -> Ground {
    Ground::NoHash(
        "it is open for writing (a writable mapping included): its bytes may not be the ones hashed"
            .into(),
    )
}

pub(super) fn internal_error() -> Ground {
    Ground::NoHash("an internal error (see the guard's log)".into())
}

/// How often the guard refreshes: `require.refresh`, but never less often
/// than half of `max_age` (a policy whose refresh is longer would see its
/// proven programs denied between refreshes), at least a second apart.
pub fn refresh_every(policy: &crate::policy::Policy) -> Duration {
    let require = &policy.require;
    require
        .refresh
        .min(require.max_age / 2)
        .max(Duration::from_secs(1))
}
