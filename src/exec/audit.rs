//! Audit mode (`mode = "audit"` in the policy, or `--audit`): everything is
//! verified, the verdict recorded, and a program that would be refused runs
//! anyway — so a team sees what enforcing would break before it enforces.
//! A split view is never audited away: it still exits 123.
//!
//! Records are JSON lines in `<state>/audit.jsonl` (one `O_APPEND` write
//! each, so concurrent processes never interleave) and, when a syslog
//! socket exists (`/dev/log`: syslogd or journald), one syslog message.

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::verify::{LogOutcome, Verdict};

/// One verdict in audit mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub time: u64,
    pub program: String,
    pub sha256: String,
    /// `run`, or `would refuse: <cause>`.
    pub verdict: String,
    pub exit_code: u8,
    pub reason: String,
}

/// A short name for why a verdict refused, for the audit summary: from
/// the logs' typed refusal causes ([`crate::verify::Cause::audit_name`]).
pub fn cause(v: &Verdict) -> &'static str {
    if v.proven() {
        return "proven";
    }
    if v.history_refused {
        return "release history";
    }
    let failed: Vec<&LogOutcome> = v
        .logs
        .iter()
        .map(|r| &r.outcome)
        .filter(|o| !matches!(o, LogOutcome::Proven { .. }))
        .collect();
    let names: Vec<Option<&'static str>> = failed
        .iter()
        .map(|o| match o {
            LogOutcome::Refused(c, _) => Some(c.audit_name()),
            _ => None,
        })
        .collect();
    let all = |n: &str| !names.is_empty() && names.iter().all(|m| *m == Some(n));
    if all("hash mismatch") {
        "hash mismatch"
    } else if failed
        .iter()
        .any(|o| matches!(o, LogOutcome::Unreachable(_)))
    {
        "log unreachable"
    } else {
        [
            "stale checkpoint",
            "publisher not allowed",
            "release history",
        ]
        .into_iter()
        .find(|n| all(n))
        .unwrap_or("not proven")
    }
}

impl Record {
    pub fn new(program: &str, v: &Verdict, now: u64) -> Record {
        Record {
            time: now,
            program: program.to_string(),
            sha256: hex::encode(v.file.sha256),
            verdict: if v.proven() {
                "run".into()
            } else {
                format!("would refuse: {}", cause(v))
            },
            exit_code: v.code,
            reason: v.reason.clone(),
        }
    }
}

/// Appends `r` to the audit log and sends it to syslog when there is one.
pub fn record(store: &Store, r: &Record) -> std::io::Result<()> {
    if r.verdict != "run" {
        syslog(&format!(
            "audit: {} {} ({}): {}",
            r.verdict, r.program, r.sha256, r.reason
        ));
    }
    std::fs::create_dir_all(&store.state)?;
    let mut line = serde_json::to_vec(r).map_err(std::io::Error::other)?;
    line.push(b'\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(store.state.join("audit.jsonl"))?
        .write_all(&line)
}

/// One RFC 3164 message (facility user, severity warning) to `/dev/log`;
/// silently nothing when no syslog daemon or journald listens there.
fn syslog(msg: &str) {
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let mut text = format!("<12>bt-exec[{}]: {msg}", std::process::id());
    // Syslog datagrams are small; cut on a character boundary.
    while text.len() > 2000 {
        text.pop();
    }
    let _ = sock.send_to(text.as_bytes(), "/dev/log");
}

/// The audit log's records, oldest first (the last 16 MiB of it).
pub fn records(store: &Store) -> Vec<Record> {
    let b = crate::fsutil::read_optional(&store.state.join("audit.jsonl"), 16 << 20)
        .ok()
        .flatten()
        .unwrap_or_default();
    b.split(|&c| c == b'\n')
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect()
}
