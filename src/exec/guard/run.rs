//! `bt-exec guard run`: the process. It sets itself up as a daemon needs
//! (SIGPIPE and SIGIO blocked, descriptors raised), sets up fanotify and
//! marks each filesystem, starts the workers, the socket, the refresher
//! and the watchdog, tells systemd it is ready, then reads the kernel's
//! events for as long as it runs ([`super::daemon::Guard::take`]).

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use nix::sys::fanotify::{EventFFlags, Fanotify, InitFlags, MarkFlags, MaskFlags};

use super::config::{GuardConfig, GuardMode};
use super::daemon::{
    internal_error, refresh_every, Guard, Job, MAX_READ_ERRORS, QUEUED_PER_WORKER,
};
use crate::exec::app::{now, Fail};
use crate::verify::exit;

/// Runs the guard of `cfg` until it is killed.
pub fn run(cfg: GuardConfig) -> Result<u8, Fail> {
    prepare_process();
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
            MaskFlags::FAN_OPEN_EXEC_PERM | MaskFlags::FAN_CLOSE_WRITE,
            None,
            Some(fs.as_path()),
        )
        .map_err(|e| Fail::new(exit::CONFIG, format!("cannot guard {}: {e}", fs.display())))?;
    }
    let listener = super::requests::listen(&guard.cfg.socket)?;
    let fan = Arc::new(fan);
    let tx = workers(&guard, &fan);
    super::requests::spawn(&guard, listener);
    spawn_refresher(&guard);
    spawn_watchdog(&guard);
    let mode = match guard.mode {
        GuardMode::Enforce => "enforce",
        GuardMode::Audit => "audit",
    };
    let names: Vec<String> = guard
        .cfg
        .filesystems
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    super::notify::ready(&format!("guarding {}, {mode} mode", names.join(", ")));
    crate::say!(
        "bt-exec guard: guarding {} in {mode} mode",
        names.join(", ")
    );
    read_events(&guard, &fan, &tx)
}

/// The reader: every event taken in order ([`Guard::take`]). An error
/// reading is said and tried again (the kernel denies the exec it could
/// not give: too many open files, no memory); only a long run of them
/// ends the guard.
fn read_events(guard: &Arc<Guard>, fan: &Fanotify, tx: &mpsc::SyncSender<Job>) -> Result<u8, Fail> {
    let mut errors = 0u32;
    loop {
        let events = match fan.read_events() {
            Ok(e) => {
                errors = 0;
                e
            }
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => continue,
            Err(e) => {
                errors += 1;
                if errors >= MAX_READ_ERRORS {
                    return Err(Fail::new(exit::CONFIG, format!("reading exec events: {e}")));
                }
                if errors == 1 || errors % 100 == 0 {
                    crate::say!("bt-exec guard: reading exec events: {e} (trying again)");
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        for ev in events {
            if !ev.check_version() {
                return Err(Fail::new(exit::CONFIG, "fanotify: unknown event version"));
            }
            guard.take(fan, ev, tx);
        }
    }
}

/// The process as a daemon needs it: `SIGPIPE` blocked (a client or log
/// that went away is an error to handle, never the guard's end), `SIGIO`
/// blocked (a lease held for a moment and broken must not end it either),
/// and as many descriptors as it may have (each queued exec holds one).
fn prepare_process() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
    let mut pipe = SigSet::empty();
    pipe.add(Signal::SIGPIPE);
    pipe.add(Signal::SIGIO);
    let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&pipe), None);
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// The workers finishing the execs the reader could not answer at once,
/// fed through the returned bounded queue.
fn workers(guard: &Arc<Guard>, fan: &Arc<Fanotify>) -> mpsc::SyncSender<Job> {
    let (tx, rx) = mpsc::sync_channel::<Job>(guard.busy.len() * QUEUED_PER_WORKER);
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..guard.busy.len() {
        let (g, fan, rx) = (Arc::clone(guard), Arc::clone(fan), Arc::clone(&rx));
        std::thread::spawn(move || loop {
            let job = match rx.lock() {
                Ok(r) => match r.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                },
                Err(_) => return,
            };
            if let Some(b) = g.busy.get(i) {
                b.store(g.ms(), Ordering::Relaxed);
            }
            // Every exec is answered, whatever happens on the way: one
            // left unanswered would hold its exec for as long as the guard
            // runs.
            let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                g.work(&job.file, job.q.clone(), &job)
            }));
            let (ground, sha) = found.unwrap_or_else(|_| (internal_error(), None));
            g.respond(&fan, &job.ev, &ground, sha);
            if let Some(b) = g.busy.get(i) {
                b.store(0, Ordering::Relaxed);
            }
        });
    }
    tx
}

/// Refreshes every log's checkpoint each `require.refresh` or half of
/// `max_age`, whichever is sooner (at least a second apart), so the state keeps meeting `max_age` without any exec
/// waiting for the network.
fn spawn_refresher(guard: &Arc<Guard>) {
    let g = Arc::clone(guard);
    let every = refresh_every(&g.proofs.policy);
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
