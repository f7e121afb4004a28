//! `bt-exec guard run`: the daemon. A fanotify group marks each named
//! filesystem for `FAN_OPEN_EXEC_PERM`; the kernel holds every exec of a
//! file there until the guard answers. Workers answer from memory and the
//! guard's state only ([`super::exec_event`], [`super::proofs`]); the
//! socket ([`super::socket`]) and the refresher are the only parts that
//! reach the network, and no exec waits on them.
//!
//! When the guard dies its fanotify group is gone and the kernel lets
//! every exec through, pending ones included: the systemd unit restarts
//! it, and its watchdog restarts one whose workers are stuck.

use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::fanotify::{
    EventFFlags, Fanotify, FanotifyEvent, FanotifyResponse, InitFlags, MarkFlags, MaskFlags,
    Response,
};

use super::config::{GuardConfig, GuardMode};
use super::decide::{self, Ground};
use super::exec_event::{self, Known, Recorder};
use super::hashing::{self, HashCache};
use super::proofs::Proofs;
use super::socket::{self, Reply, Request};
use crate::exec::app::{now, Fail};
use crate::verify::exit;

/// At most this many hashes are remembered.
const HASH_CACHE: usize = 1 << 16;
/// At most this many socket requests at once; more are told to wait.
const MAX_CLIENTS: usize = 16;
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
    clients: AtomicUsize,
    background: AtomicUsize,
    /// Per worker: since when (ms since start) it has been on one exec; 0 idle.
    busy: Vec<AtomicU64>,
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
                own: exec_event::own_executables(),
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
            clients: AtomicUsize::new(0),
            background: AtomicUsize::new(0),
            busy: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            started: Instant::now(),
        })
    }

    fn ms(&self) -> u64 {
        (self.started.elapsed().as_millis() as u64).max(1)
    }

    /// Answers one exec: allow or deny through `fan`, then count and
    /// record it (after the answer: no exec waits for a disk write).
    fn answer(self: &Arc<Self>, fan: &Fanotify, ev: FanotifyEvent) {
        let Some(fd) = ev.fd() else { return };
        let file = fd.try_clone_to_owned().map(std::fs::File::from);
        let deadline = Instant::now() + self.cfg.hash_deadline;
        // Every event is answered, whatever happens on the way: an event
        // left unanswered would hold its exec for as long as the guard runs.
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            match (&file, ev.pid() == std::process::id() as i32) {
                (_, true) => (Ground::Own, None, None),
                (Ok(f), false) => {
                    exec_event::ground(&self.known, &self.hashes, f, deadline, |s, n| {
                        self.proofs.judge(s, n, now())
                    })
                }
                (Err(e), false) => (Ground::NoHash(e.to_string()), None, None),
            }
        }));
        let (ground, sha, later) = found.unwrap_or_else(|_| {
            (
                Ground::NoHash("an internal error (see the guard's log)".into()),
                None,
                None,
            )
        });
        let a = decide::answer(self.mode, &ground);
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
        if let (Some(note), Ok(f)) = (&a.note, &file) {
            self.record(f, sha, ev.pid(), note);
        }
        if let Some((f, key)) = later {
            self.hash_later(f, key);
        }
    }

    fn record(&self, f: &std::fs::File, sha: Option<[u8; 32]>, pid: i32, note: &decide::Note) {
        let path = exec_event::path_of(f).display().to_string();
        let sha = sha.map(hex::encode).unwrap_or_default();
        let t = now();
        if !self.recorder.due(&path, &sha, note, t) {
            return;
        }
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
    fn hash_later(self: &Arc<Self>, f: std::fs::File, key: hashing::FileKey) {
        if self.background.fetch_add(1, Ordering::SeqCst) >= MAX_BACKGROUND {
            self.background.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let g = Arc::clone(self);
        std::thread::spawn(move || {
            if let Ok(s) = hashing::hash(&f, &key, None) {
                g.hashes.put(key, s);
                // Judged now too, so the next exec finds the verdict.
                let _ = g.proofs.judge(&s, key.size, now());
            }
            g.background.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// The socket's answer to one request from `uid`.
    pub fn serve(&self, req: Request, fd: Option<std::os::fd::OwnedFd>, uid: u32) -> Reply {
        match req {
            Request::Status {} => Reply {
                code: 0,
                reason: "running".into(),
                sha256: None,
                lines: self.status_lines(),
            },
            Request::Refresh {} if uid != 0 => {
                Reply::fail(exit::CONFIG, "only root may refresh the guard")
            }
            Request::Refresh {} => {
                let out = self.proofs.refresh(now());
                Reply {
                    code: out.code,
                    reason: "refreshed".into(),
                    sha256: None,
                    lines: out.lines,
                }
            }
            Request::Prove { path } => match fd {
                None => Reply::fail(exit::CONFIG, "no file came with the request"),
                Some(fd) => self.prove(std::fs::File::from(fd), &path, uid),
            },
        }
    }

    fn prove(&self, f: std::fs::File, path: &str, uid: u32) -> Reply {
        let m = match f.metadata() {
            Ok(m) if m.is_file() => m,
            Ok(_) => return Reply::fail(exit::NOT_FOUND, format!("{path}: not a regular file")),
            Err(e) => return Reply::fail(exit::NOT_FOUND, format!("{path}: {e}")),
        };
        let key = hashing::FileKey::of(&m);
        let sha = match hashing::hash(&f, &key, Some(Instant::now() + Duration::from_secs(60))) {
            Ok(s) => s,
            Err(e) => return Reply::fail(exit::NOT_FOUND, format!("{path}: {e}")),
        };
        self.hashes.put(key, sha);
        let v = match self.proofs.prove(&sha, m.len(), now()) {
            Ok(v) => v,
            Err(Fail { code, message }) => return Reply::fail(code, message),
        };
        let verdict = if v.proven() { "proven" } else { "refused" };
        crate::say!(
            "bt-exec guard: uid {uid} asked for {} ({}): {verdict}: {}",
            crate::fsutil::terminal_safe(path),
            hex::encode(sha),
            crate::fsutil::terminal_safe(&v.reason)
        );
        Reply {
            code: v.code,
            reason: v.reason.clone(),
            sha256: Some(hex::encode(sha)),
            lines: v
                .logs
                .iter()
                .map(|r| format!("{}: {}", r.label, r.outcome.message()))
                .collect(),
        }
    }

    /// `bt-exec guard status`: the guard's own summary, then the state's
    /// report as `bt-exec status` gives it (its logs, the audit records).
    pub fn status_lines(&self) -> Vec<String> {
        let mode = match self.mode {
            GuardMode::Enforce => "enforce",
            GuardMode::Audit => "audit",
        };
        let mut out = vec![
            format!("guard: {mode}, pid {}", std::process::id()),
            format!(
                "guarded filesystems: {}",
                self.cfg
                    .filesystems
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!(
                "execs: {} allowed, {} denied, {} would have been denied (audit)",
                self.allowed.load(Ordering::Relaxed),
                self.denied.load(Ordering::Relaxed),
                self.would_deny.load(Ordering::Relaxed)
            ),
            format!(
                "brought in: {} program(s); allow-list: {} digest(s); exempt: {}",
                self.proofs.brought_in(),
                self.known.allow_list.len(),
                if self.known.exempt.is_empty() {
                    "nothing".to_string()
                } else {
                    self.known
                        .exempt
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        ];
        out.extend(crate::exec::status::report(
            &self.proofs.store,
            &self.proofs.policy,
            now(),
        ));
        out
    }

    /// Whether every worker is answering (none on one exec for
    /// [`STUCK_MS`]).
    fn healthy(&self) -> bool {
        let t = self.ms();
        self.busy.iter().all(|b| {
            let s = b.load(Ordering::Relaxed);
            s == 0 || t.saturating_sub(s) < STUCK_MS
        })
    }
}

/// Runs the guard of `cfg` until it is killed.
pub fn run(cfg: GuardConfig) -> Result<u8, Fail> {
    let fan = Fanotify::init(
        InitFlags::FAN_CLASS_CONTENT | InitFlags::FAN_CLOEXEC | InitFlags::FAN_UNLIMITED_QUEUE,
        EventFFlags::O_RDONLY | EventFFlags::O_LARGEFILE | EventFFlags::O_CLOEXEC,
    )
    .map_err(|e| {
        Fail::new(
            exit::CONFIG,
            format!("fanotify_init: {e} (the guard must run as root, with CAP_SYS_ADMIN)"),
        )
    })?;
    let guard = Arc::new(Guard::load(cfg)?);
    for fs in &guard.cfg.filesystems {
        fan.mark(
            MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_FILESYSTEM,
            MaskFlags::FAN_OPEN_EXEC_PERM,
            None,
            Some(fs.as_path()),
        )
        .map_err(|e| Fail::new(exit::CONFIG, format!("cannot guard {}: {e}", fs.display())))?;
    }
    let listener = listen(&guard.cfg.socket)?;
    let fan = Arc::new(fan);
    let tx = workers(&guard, &fan);
    spawn_socket(&guard, listener);
    spawn_refresher(&guard);
    spawn_watchdog(&guard);
    super::notify::ready(&format!(
        "guarding {} filesystem(s), {} mode",
        guard.cfg.filesystems.len(),
        match guard.mode {
            GuardMode::Enforce => "enforce",
            GuardMode::Audit => "audit",
        }
    ));
    crate::say!(
        "bt-exec guard: guarding {} in {:?} mode",
        guard
            .cfg
            .filesystems
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        guard.mode
    );
    loop {
        let events = match fan.read_events() {
            Ok(e) => e,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Fail::new(exit::CONFIG, format!("reading exec events: {e}"))),
        };
        for ev in events {
            if !ev.check_version() {
                return Err(Fail::new(exit::CONFIG, "fanotify: unknown event version"));
            }
            if ev.fd().is_none() {
                // A queue overflow: nothing to answer.
                continue;
            }
            if tx.send(ev).is_err() {
                return Err(Fail::new(exit::CONFIG, "every worker has stopped"));
            }
        }
    }
}

/// The workers answering execs, fed through the returned channel.
fn workers(guard: &Arc<Guard>, fan: &Arc<Fanotify>) -> mpsc::Sender<FanotifyEvent> {
    let (tx, rx) = mpsc::channel::<FanotifyEvent>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..guard.busy.len() {
        let (g, fan, rx) = (Arc::clone(guard), Arc::clone(fan), Arc::clone(&rx));
        std::thread::spawn(move || loop {
            let ev = match rx.lock() {
                Ok(r) => match r.recv() {
                    Ok(ev) => ev,
                    Err(_) => return,
                },
                Err(_) => return,
            };
            if let Some(b) = g.busy.get(i) {
                b.store(g.ms(), Ordering::Relaxed);
            }
            g.answer(&fan, ev);
            if let Some(b) = g.busy.get(i) {
                b.store(0, Ordering::Relaxed);
            }
        });
    }
    tx
}

/// The socket, made anew: in a root-owned directory only root can write,
/// readable and writable by everyone (any user may ask for a proof).
fn listen(path: &std::path::Path) -> Result<UnixListener, Fail> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |e: std::io::Error| Fail::new(exit::CONFIG, format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
        super::config::exempt_dir(dir).map_err(|why| Fail::new(exit::CONFIG, why))?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail(e)),
        _ => {}
    }
    let l = UnixListener::bind(path).map_err(fail)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).map_err(fail)?;
    Ok(l)
}

fn spawn_socket(guard: &Arc<Guard>, listener: UnixListener) {
    let g = Arc::clone(guard);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if g.clients.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
                g.clients.fetch_sub(1, Ordering::SeqCst);
                socket::answer(
                    &stream,
                    &Reply::fail(exit::UNREACHABLE, "the guard is busy: try again"),
                );
                continue;
            }
            let g = Arc::clone(&g);
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
                let uid = rustix::net::sockopt::socket_peercred(stream.as_fd())
                    .map(|c| c.uid.as_raw())
                    .unwrap_or(u32::MAX);
                let reply = match socket::receive(&stream) {
                    Ok((req, fd)) => g.serve(req, fd, uid),
                    Err(e) => Reply::fail(exit::CONFIG, e.to_string()),
                };
                socket::answer(&stream, &reply);
                g.clients.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
}

/// Refreshes every log's checkpoint each `require.refresh` (at least a
/// second apart), so the state keeps meeting `max_age` without any exec
/// waiting for the network.
fn spawn_refresher(guard: &Arc<Guard>) {
    let g = Arc::clone(guard);
    let every = g.proofs.policy.require.refresh.max(Duration::from_secs(1));
    std::thread::spawn(move || loop {
        let out = g.proofs.refresh(now());
        if out.code != 0 {
            for l in &out.lines {
                crate::say!("bt-exec guard: refresh: {l}");
            }
        }
        std::thread::sleep(every);
    });
}

/// Feeds systemd's watchdog while every worker answers.
fn spawn_watchdog(guard: &Arc<Guard>) {
    let Some(every) = super::notify::watchdog_interval() else {
        return;
    };
    let g = Arc::clone(guard);
    std::thread::spawn(move || loop {
        if g.healthy() {
            super::notify::send("WATCHDOG=1");
        }
        std::thread::sleep(every);
    });
}
