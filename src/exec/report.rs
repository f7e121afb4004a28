//! The `--json` report of a verification (`bt-exec verify --json`, and a
//! run with `--json`): one JSON document on the program, the decision with
//! its exit code and reason, and what each log said (docs/VERIFY.md).

use base64::Engine;
use serde_json::{json, Value};

use crate::verify::{LogOutcome, LogReport, Verdict};

/// The document for `program` and its verdict.
pub fn json(program: &std::path::Path, v: &Verdict) -> Value {
    let logs: Vec<Value> = v.logs.iter().map(log_json).collect();
    json!({
        "program": program.display().to_string(),
        "sha256": hex::encode(v.file.sha256),
        "size": v.file.size,
        "decision": if v.proven() { "run" } else { "refuse" },
        "exit_code": v.code,
        "reason": v.reason,
        "logs": logs,
        "rebuilders": rebuilders(v),
        "releases": releases(v),
        "elapsed_ms": v.elapsed_ms,
    })
}

/// Every release of the bytes the history rules judged (empty when the
/// policy has none): the log's `release` above is only the one that found
/// the leaf.
fn releases(v: &Verdict) -> Vec<Value> {
    v.releases
        .iter()
        .map(|p| {
            let logs: Vec<Value> = p
                .first
                .iter()
                .filter_map(|&(r, i)| Some(json!({"origin": v.logs.get(r)?.origin, "leaf_index": i})))
                .collect();
            json!({
                "name": p.name,
                "version": p.version,
                "published": p.published,
                "publisher": base64::engine::general_purpose::STANDARD.encode(p.entry.publisher.as_bytes()),
                "logs": logs,
            })
        })
        .collect()
}

/// One log's part of the report.
fn log_json(r: &LogReport) -> Value {
    json!({
        "origin": r.origin,
        "key_id": r.log.as_ref().map(|l| l.key_id()),
        "result": r.outcome.result(),
        "message": r.outcome.message(),
        "size": r.checkpoint.as_ref().map(|c| c.size),
        "root": r.checkpoint.as_ref().map(|c| base64::engine::general_purpose::STANDARD.encode(c.root.0)),
        "cosigners": r.cosigners.iter().map(|(n, t)| json!({"name": n, "timestamp": t})).collect::<Vec<_>>(),
        "leaf_index": match r.outcome { LogOutcome::Proven { index } => Some(index), _ => None },
        "release": r.entry.as_ref().map(|e| json!({"name": e.release.name, "version": e.release.version, "platform": e.release.platform})),
        "rebuilders": r.attested,
        "pending": r.deferred,
        "sigstore": r
            .sigstore
            .as_ref()
            .map(|p| crate::exec::bundle::proven_json(p, r.log.is_some())),
        "elapsed_ms": r.elapsed_ms,
    })
}

/// The rebuilders that attested the program in any log that proved it,
/// each once, in the order first seen.
fn rebuilders(v: &Verdict) -> Vec<&str> {
    let mut attested: Vec<&str> = vec![];
    for r in v
        .logs
        .iter()
        .filter(|r| matches!(r.outcome, LogOutcome::Proven { .. }))
    {
        for n in &r.attested {
            if !attested.contains(&n.as_str()) {
                attested.push(n);
            }
        }
    }
    attested
}

/// The lines bt-exec prints on stderr beside a verdict: each step taken
/// (with `-v`), what was served and proved nothing, and what could not be
/// saved.
pub fn notes(reports: &[LogReport], unsaved: &[String], verbose: bool) -> Vec<String> {
    let mut out = vec![];
    for r in reports {
        if verbose {
            out.extend(r.narration.iter().map(|n| format!("[{}] {n}", r.label)));
        }
        out.extend(
            r.warnings
                .iter()
                .map(|w| format!("warning: {}: {w}", r.label)),
        );
    }
    out.extend(unsaved.iter().map(|u| format!("warning: {u}")));
    out
}
