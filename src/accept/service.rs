//! The write side of `bt-log serve --accept`: submissions judged
//! ([`super::submit::judge`]) and given indexes under one mutex, made
//! durable by a committer thread (the queue, one `fdatasync` per group),
//! and integrated by a sequencer thread once per interval under one
//! checkpoint, cosigned as the witnesses' rates allow.
//!
//! Invariants, each against a lie or a loss:
//! - an index is answered only once the entry's queue record is on disk
//!   (`Progress::durable`): a crash never loses an acknowledged entry;
//! - indexes are given in order under the mutex and the queue is written
//!   in that order; the sequencer integrates at exactly those indexes
//!   (`Held::append_at`): never a renumbered entry;
//! - the log's lock is held for as long as this runs: no `bt-log add`
//!   writes the log in between;
//! - after a queue write fails, nothing more is accepted (what reached the
//!   disk is unknown until a restart reads it back).

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::submit::{judge, Context, Quotas, Verdict};
use super::Admission;
use crate::entry::Entry;
use crate::log::queue::Queue;
use crate::log::seen::Seen;
use crate::log::{Held, LogError};

/// How the write side runs.
pub struct Config {
    pub admission: Admission,
    /// One checkpoint per interval at most.
    pub interval: Duration,
    /// A checkpoint's witnesses are asked to cosign it again once their
    /// cosignatures are this old, so that a log that takes nothing stays
    /// fresh for its users' `max_age`.
    pub recosign_after: Duration,
}

/// The latest checkpoint this server published.
#[derive(Debug)]
pub struct Published {
    pub size: u64,
    /// The signed note, with the cosignatures it has.
    pub note: Vec<u8>,
    /// Every configured witness cosigned it.
    pub complete: bool,
}

/// What a waiting submission watches.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Entries `[0, durable)` cannot be lost.
    pub durable: u64,
    pub published: Option<Arc<Published>>,
    /// Why nothing more is accepted, once something failed.
    pub broken: Option<Arc<str>>,
}

/// The answer to a submission, before waiting.
#[derive(Debug)]
pub enum Submitted {
    /// Index of the entry (new, or the one it already had).
    Index(u64),
    Refused {
        status: u16,
        reason: String,
        retry_after: Option<u64>,
    },
}

struct State {
    quotas: Quotas,
    /// Every leaf given an index, durable or not.
    seen: Seen,
    /// Given an index, not yet written to the queue.
    incoming: Vec<(u64, Entry, Vec<u8>)>,
    /// Durable, not yet taken by the sequencer.
    queued: Vec<(u64, Entry)>,
    /// Size of the latest checkpoint signed.
    integrated: u64,
    /// No more submissions: the committer writes what it has and returns.
    stopping: bool,
    /// The committer has returned: the sequencer integrates what is left.
    finishing: bool,
    broken: Option<Arc<str>>,
}

/// The write side of one log.
pub struct Service {
    state: Mutex<State>,
    /// Wakes the committer (new submissions, or stop).
    wake: Condvar,
    /// Wakes the sequencer before its interval is up (stop).
    finish: Condvar,
    progress: watch::Sender<Progress>,
    admission: Admission,
    pub interval: Duration,
    recosign_after: Duration,
    dir: std::path::PathBuf,
}

/// The running threads, joined by [`Running::stop`].
pub struct Running {
    pub service: Arc<Service>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Service {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A view of progress to wait on.
    pub fn watch(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// Judges one submission and, if it is admitted, gives it the next
    /// index (it is durable once `Progress::durable` passes it).
    pub fn submit(&self, body: &[u8], addr: IpAddr) -> Submitted {
        let mut st = self.lock();
        if let Some(why) = &st.broken {
            return Submitted::Refused {
                status: 503,
                reason: format!("this log stopped accepting entries: {why}"),
                retry_after: Some(60),
            };
        }
        let State {
            quotas,
            seen,
            integrated,
            ..
        } = &mut *st;
        let pending = seen.size().saturating_sub(*integrated);
        let index_of = |h: &crate::tlog::Hash| seen.get(h);
        let ctx = Context {
            admission: &self.admission,
            index_of: &index_of,
            pending,
        };
        match judge(body, addr, now_secs(), &ctx, quotas) {
            Verdict::Known(i) => Submitted::Index(i),
            Verdict::Refuse {
                status,
                reason,
                retry_after,
            } => Submitted::Refused {
                status,
                reason,
                retry_after,
            },
            Verdict::Accept { leaf_hash } => {
                // judge decoded it verified; decoding again cannot fail.
                let Ok(entry) = Entry::decode(body) else {
                    return Submitted::Refused {
                        status: 400,
                        reason: "the entry does not decode".into(),
                        retry_after: None,
                    };
                };
                let i = st.seen.size();
                st.seen.extend([leaf_hash]);
                st.incoming.push((i, entry, body.to_vec()));
                drop(st);
                self.wake.notify_one();
                Submitted::Index(i)
            }
        }
    }

    fn fail(&self, why: String) {
        crate::say!("bt-log serve: {why}");
        let why: Arc<str> = why.into();
        self.lock().broken = Some(why.clone());
        self.progress.send_modify(|p| p.broken = Some(why));
    }
}

/// Opens log `dir` for writing: takes its lock, publishes a checkpoint a
/// killed run signed, integrates every entry its queue holds at the index
/// it was given, then starts the committer and the sequencer.
pub fn start(dir: &Path, config: Config) -> Result<Running, LogError> {
    let held = Held::take(dir)?;
    // What a killed run signed, then what it answered, before anything new.
    let integrated = held.integrate_queue()?;
    let published = held.published()?;
    let size = published.checkpoint.size;
    let seen = Seen::load(dir, size)?;
    let note = published.note;
    let complete = match &integrated {
        Some(report) => {
            crate::say!(
                "bt-log serve: integrated {} entries the queue held, up to size {size}",
                report.indexes.len()
            );
            report.quorum_met()
        }
        None => published.cosignatures.len() >= held.config().witness.len(),
    };
    if seen.size() != size {
        return Err(LogError::Usage(format!(
            "the log has {size} leaves but {} were read from its tiles",
            seen.size()
        )));
    }
    let queue = Queue::start(dir, size).map_err(|e| LogError::Usage(e.to_string()))?;
    let (progress, _) = watch::channel(Progress {
        durable: size,
        published: Some(Arc::new(Published {
            size,
            note,
            complete,
        })),
        broken: None,
    });
    let service = Arc::new(Service {
        state: Mutex::new(State {
            quotas: Quotas::default(),
            seen,
            incoming: Vec::new(),
            queued: Vec::new(),
            integrated: size,
            stopping: false,
            finishing: false,
            broken: None,
        }),
        wake: Condvar::new(),
        finish: Condvar::new(),
        progress,
        admission: config.admission,
        interval: config.interval,
        recosign_after: config.recosign_after,
        dir: dir.to_path_buf(),
    });
    let queue = Arc::new(Mutex::new(queue));
    let threads = vec![
        spawn("committer", {
            let (s, q) = (service.clone(), queue.clone());
            move || commit_loop(&s, &q)
        })?,
        spawn("sequencer", {
            let s = service.clone();
            move || sequence_loop(&s, held, &queue, complete)
        })?,
    ];
    Ok(Running { service, threads })
}

fn spawn(
    name: &str,
    f: impl FnOnce() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, LogError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| LogError::Usage(format!("starting the {name}: {e}")))
}

/// Writes what was given an index to the queue, a group at a time.
fn commit_loop(s: &Service, queue: &Mutex<Queue>) {
    loop {
        let batch = {
            let mut st = s.lock();
            while st.incoming.is_empty() && !st.stopping && st.broken.is_none() {
                st = s.wake.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            if st.incoming.is_empty() || st.broken.is_some() {
                return;
            }
            std::mem::take(&mut st.incoming)
        };
        let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
        if batch.first().map(|b| b.0) != Some(q.end()) {
            s.fail("the queue and the indexes given disagree".into());
            return;
        }
        let leaves: Vec<&[u8]> = batch.iter().map(|b| b.2.as_slice()).collect();
        if let Err(e) = q.append(&leaves) {
            s.fail(format!("writing the submission queue: {e}"));
            return;
        }
        let durable = q.end();
        drop(q);
        s.lock()
            .queued
            .extend(batch.into_iter().map(|(i, e, _)| (i, e)));
        s.progress.send_modify(|p| p.durable = durable);
    }
}

/// Integrates what is durable once per interval; between batches, asks
/// the witnesses a published checkpoint lacks (backing off while they
/// fail), and asks them all again once their cosignatures are
/// `recosign_after` old (a log that takes nothing stays fresh). On stop,
/// integrates what is left and returns.
fn sequence_loop(s: &Service, held: Held, queue: &Mutex<Queue>, mut complete: bool) {
    let mut batch: Vec<(u64, Entry)> = Vec::new();
    let mut next = Instant::now() + s.interval;
    let mut cosign_after = Instant::now();
    // The first pass asks again whatever is old already.
    let mut recosign_at = Instant::now();
    let mut backoff = s.interval;
    loop {
        let finishing = {
            let st = s.lock();
            let until = next.saturating_duration_since(Instant::now());
            let (st, _) = s
                .finish
                .wait_timeout_while(st, until, |st| !st.finishing)
                .unwrap_or_else(|p| p.into_inner());
            st.finishing
        };
        next = Instant::now() + s.interval;
        batch.extend(std::mem::take(&mut s.lock().queued));
        if let Some(first) = batch.first().map(|b| b.0) {
            let entries: Vec<Entry> = batch.iter().map(|b| b.1.clone()).collect();
            match held.append_at(first, entries) {
                Ok(report) => {
                    batch.clear();
                    complete = report.quorum_met();
                    recosign_at = Instant::now() + s.recosign_after;
                    for (w, why) in &report.witness_failures {
                        crate::say!("bt-log serve: witness {w}: {why}");
                    }
                    published(s, queue, report.checkpoint.size, report.note, complete);
                }
                Err(e) => crate::say!("bt-log serve: integrating: {e}; trying again"),
            }
        } else if (!complete || Instant::now() >= recosign_at) && Instant::now() >= cosign_after {
            match held.cosign(Some(s.recosign_after)) {
                Ok(r) if r.failures.is_empty() => {
                    complete = true;
                    backoff = s.interval;
                    recosign_at = next_recosign(r.oldest, s.recosign_after, s.interval);
                    if let Ok(cp) = held.published() {
                        published(s, queue, cp.checkpoint.size, cp.note, true);
                    }
                }
                // Only rates in the way: ask when the slowest allows.
                Ok(r) if r.failures.len() == r.rate_waits.len() => {
                    let wait = r.rate_waits.iter().max().copied().unwrap_or(0);
                    cosign_after = Instant::now() + Duration::from_secs(wait).max(s.interval);
                }
                // A witness down or refusing: back off, up to 5 minutes.
                Ok(_) | Err(_) => {
                    backoff = (backoff * 2).min(Duration::from_secs(300));
                    cosign_after = Instant::now() + backoff;
                }
            }
        }
        // What is left after a failure stays in the queue for the next start.
        if finishing {
            return;
        }
    }
}

/// When the oldest cosignature (Unix seconds) turns `after` old, and is
/// asked again — no sooner than one `interval` from now.
fn next_recosign(oldest: Option<u64>, after: Duration, interval: Duration) -> Instant {
    let now = crate::log::now_secs();
    let left = oldest.map_or(after.as_secs(), |t| {
        t.saturating_add(after.as_secs()).saturating_sub(now)
    });
    Instant::now() + Duration::from_secs(left).max(interval)
}

fn published(s: &Service, queue: &Mutex<Queue>, size: u64, note: Vec<u8>, complete: bool) {
    s.lock().integrated = size;
    queue.lock().unwrap_or_else(|p| p.into_inner()).retire(size);
    let p = Arc::new(Published {
        size,
        note,
        complete,
    });
    s.progress.send_modify(|pr| pr.published = Some(p));
}

impl Running {
    /// Stops taking entries, writes and integrates what was given an
    /// index, and joins the threads.
    pub fn stop(self) {
        let s = &self.service;
        let mut threads = self.threads.into_iter();
        s.lock().stopping = true;
        s.wake.notify_all();
        if let Some(committer) = threads.next() {
            let _ = committer.join();
        }
        s.lock().finishing = true;
        s.finish.notify_all();
        for t in threads {
            let _ = t.join();
        }
    }
}
