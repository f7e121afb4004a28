//! The guard's socket, served: `verify --guard` (prove a program, by its
//! descriptor), `guard status`, `guard refresh` (root only). Requests are
//! served on their own threads, a few at a time and a few per user; no
//! exec waits on them.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::config::GuardMode;
use super::daemon::Guard;
use super::hashing;
use super::socket::{self, Reply, Request};
use crate::exec::app::{now, Fail};
use crate::verify::exit;

/// At most this many requests at once, and this many of one user (root's
/// are not counted per user). Attack stopped: a user holding every
/// connection open so nobody else can bring a program in or ask the
/// guard's status.
const MAX_CLIENTS: usize = 32;
const MAX_PER_USER: usize = 4;
/// How long a client has to send its request.
const REQUEST_SECS: u64 = 2;

impl Guard {
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
        let (since, started) = (self.seq.load(Ordering::SeqCst), now());
        let sha = match hashing::hash(&f, &key, Some(Instant::now() + Duration::from_secs(60))) {
            Ok(s) => s,
            Err(e) => return Reply::fail(exit::NOT_FOUND, format!("{path}: {e}")),
        };
        self.hashes.put(key, sha, since, started);
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
        // The state's report as `bt-exec status` gives it, in the guard's
        // words where they differ: the guard refreshes by itself, and in
        // enforce mode what was refused was refused.
        let every = super::daemon::refresh_every(&self.proofs.policy).as_secs();
        let report = crate::exec::status::report(&self.proofs.store, &self.proofs.policy, now());
        out.extend(report.into_iter().map(|l| {
            if l.starts_with("refresh: ") {
                format!("refresh: the guard refreshes every {every} s")
            } else if self.mode == GuardMode::Enforce && l.starts_with("audit log: ") {
                l.replace(
                    "would have been refused",
                    "refused (or would have been, in audit mode)",
                )
            } else {
                l
            }
        }));
        out
    }
}

/// The socket, made anew: in a root-owned directory only root can write,
/// readable and writable by everyone (any user may ask for a proof).
pub fn listen(path: &std::path::Path) -> Result<UnixListener, Fail> {
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

/// Serves the socket on its own thread.
pub fn spawn(guard: &Arc<Guard>, listener: UnixListener) {
    let g = Arc::clone(guard);
    let clients: Arc<Mutex<HashMap<u32, usize>>> = Arc::default();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let uid = rustix::net::sockopt::socket_peercred(stream.as_fd())
                .map(|c| c.uid.as_raw())
                .unwrap_or(u32::MAX);
            if !admit(&clients, uid) {
                socket::answer(
                    &stream,
                    &Reply::fail(exit::UNREACHABLE, "the guard is busy: try again"),
                );
                continue;
            }
            let (g, clients) = (Arc::clone(&g), Arc::clone(&clients));
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(REQUEST_SECS)));
                let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
                let reply = match socket::receive(&stream) {
                    Ok((req, fd)) => g.serve(req, fd, uid),
                    Err(e) => Reply::fail(exit::CONFIG, e.to_string()),
                };
                socket::answer(&stream, &reply);
                leave(&clients, uid);
            });
        }
    });
}

/// Counts a connection of `uid` in, unless that makes too many.
fn admit(clients: &Mutex<HashMap<u32, usize>>, uid: u32) -> bool {
    let Ok(mut c) = clients.lock() else {
        return false;
    };
    let all: usize = c.values().sum();
    let mine = c.get(&uid).copied().unwrap_or(0);
    if all >= MAX_CLIENTS || (uid != 0 && mine >= MAX_PER_USER) {
        return false;
    }
    c.insert(uid, mine + 1);
    true
}

fn leave(clients: &Mutex<HashMap<u32, usize>>, uid: u32) {
    if let Ok(mut c) = clients.lock() {
        if let Some(n) = c.get_mut(&uid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.remove(&uid);
            }
        }
    }
}
