//! The plain-text reports of `bt-exec status` (what this machine knows of
//! each log, the releases it ran, its audit records, where its state is)
//! and `bt-exec policy check` (what a policy trusts, in plain words). Each
//! is built as lines for the binary to print.

use base64::Engine;

use crate::history::View;
use crate::policy::{Mode, Policy};
use crate::store::Store;

/// `bt-exec status`: the report's lines at `now`.
pub fn report(store: &Store, policy: &Policy, now: u64) -> Vec<String> {
    let mut out = vec![format!("policy: {}", policy.path.display())];
    logs(store, policy, now, &mut out);
    refresher(store, policy, now, &mut out);
    runs(store, policy, now, &mut out);
    audit(store, now, &mut out);
    out.push(format!(
        "cache: {} ({} bytes in the CAS)",
        store.cache.display(),
        store.cas_bytes()
    ));
    out.push(format!("state: {}", store.state.display()));
    out
}

/// The exit code of `status`: what proving the pending pairs gave, or 123
/// while the alarm of any log of the policy stands. A script or a fleet
/// that polls `status` learns of a split view recorded by any run or
/// import, not only from the command that proved it.
pub fn exit_code(store: &Store, policy: &Policy, proving: u8) -> u8 {
    let alarmed = policy
        .trust
        .logs
        .iter()
        .any(|l| store.alarm(&l.id).is_some());
    if alarmed {
        crate::verify::exit::worse(proving, crate::verify::exit::MISBEHAVIOUR)
    } else {
        proving
    }
}

/// Each log's cached checkpoint, alarm and release history.
fn logs(store: &Store, policy: &Policy, now: u64, out: &mut Vec<String>) {
    let keys: Vec<_> = policy
        .trust
        .witnesses
        .iter()
        .map(|w| w.key.clone())
        .collect();
    for l in &policy.trust.logs {
        match store
            .checkpoint(&l.id)
            .and_then(|n| crate::tlog::SignedCheckpoint::verify(&n, &l.origin, &l.key, &keys).ok())
        {
            Some(sc) => {
                let newest = sc.cosignatures.iter().map(|c| c.timestamp).max();
                let age = newest
                    .map(|t| format!("newest cosignature {} s old", now.saturating_sub(t)))
                    .unwrap_or_else(|| "no cosignatures".into());
                out.push(format!(
                    "log {}: size {}, {} cosignature(s), {age}",
                    l.label,
                    sc.checkpoint.size,
                    sc.cosignatures.len()
                ));
            }
            None => out.push(format!("log {}: nothing cached yet", l.label)),
        }
        if policy.is_rekor(l) {
            out.push("  a Rekor log: proven by Sigstore bundles, no release history".into());
        }
        if let Some(a) = store.alarm(&l.id) {
            out.push(format!(
                "  ALARM: split view recorded ({a}); clear with: bt-exec alarm clear {}",
                l.origin
            ));
        }
        pending(store, l, now, out);
        let (n, _) = crate::history::DirView::open(store, &l.id).size();
        if n > 0 {
            out.push(format!(
                "  release history: {n} entries verified and indexed"
            ));
        }
    }
}

/// How often the checkpoints are fetched again, and how the last
/// `bt-exec refresh` ended (`refresh/last`; its text escaped: a file in
/// the state directory is shown, never obeyed by the terminal).
fn refresher(store: &Store, policy: &Policy, now: u64, out: &mut Vec<String>) {
    let every = policy.require.refresh.as_secs();
    out.push(if every == 0 {
        "refresh: 0 s, every run fetches each log's checkpoint".into()
    } else {
        format!("refresh: a run past {every} s starts a background `bt-exec refresh`")
    });
    match crate::exec::refresh::last(store) {
        Some((started, ended, code, lines)) => {
            out.push(format!(
                "  last refresh: started {} s ago, took {} s, exit {code}",
                now.saturating_sub(started),
                ended.saturating_sub(started)
            ));
            for l in lines.iter().take(64) {
                out.push(format!("    {}", crate::fsutil::terminal_safe(l)));
            }
        }
        None => out.push("  no refresh recorded yet".into()),
    }
    if let Some(why) = crate::exec::background::last_failure(&store.state) {
        out.push(format!(
            "  THE LAST ATTEMPT STARTED NO REFRESHER: {}",
            crate::fsutil::terminal_safe(&why)
        ));
    }
}

/// The pairs of `l`'s checkpoints kept pending (not yet proven one
/// history: DESIGN §6).
fn pending(store: &Store, l: &crate::policy::LogSpec, now: u64, out: &mut Vec<String>) {
    let pairs = match store.pending(&l.id) {
        Ok(p) => p,
        Err(e) => return out.push(format!("  PENDING PAIRS UNREADABLE: {e}")),
    };
    let size = |note: &str| crate::store::Pair::tree(note).0.to_string();
    for p in pairs {
        out.push(format!(
            "  pending: size {} (from {}, kept {} s ago) not yet proven one history with size {}; reach the log to prove it",
            size(&p.unlinked),
            p.from,
            now.saturating_sub(p.recorded),
            size(&p.anchor)
        ));
    }
}

/// The online contact `status` and `gossip import` make with every log
/// that has pending checkpoint pairs (DESIGN §6), unless `offline`: each
/// pair proven one history is forgotten, one proven two is a split view
/// (evidence, alarm). `say` gets a line per log; returns the worst exit
/// code (123 for a split view).
pub fn prove_pending(
    store: &Store,
    policy: &Policy,
    offline: bool,
    say: &mut dyn FnMut(&str),
) -> u8 {
    let ctx = crate::exec::app::context(policy, store, offline);
    let mut worst = 0;
    for l in &policy.trust.logs {
        let pairs = match store.pending(&l.id) {
            Ok(p) => p,
            Err(e) => {
                say(&format!(
                    "{}: the pending pairs cannot be read: {e}",
                    l.label
                ));
                worst = crate::verify::exit::worse(worst, crate::verify::exit::CONFIG);
                continue;
            }
        };
        if pairs.is_empty() || offline {
            continue;
        }
        let (report, r) = crate::verify::contact(&ctx, l);
        let saved =
            crate::exec::saving::save(store, std::slice::from_ref(&report), &[0; 32], ctx.now);
        let left = store.pending(&l.id).map_or(pairs.len(), |p| p.len());
        let proven = pairs.len().saturating_sub(left);
        let line = match (&r, saved) {
            (Err(o), _) => {
                worst = crate::verify::exit::worse(worst, o.exit_code());
                format!("{}: pending pairs not proven: {}", l.label, o.message())
            }
            (Ok(false), _) => format!(
                "{}: the log could not be reached; {left} pending pair(s) not proven",
                l.label
            ),
            (Ok(true), Ok(crate::exec::saving::Saved::Done(failed))) if failed.is_empty() => {
                format!(
                    "{}: {proven} pending pair(s) proven one history, {left} left",
                    l.label
                )
            }
            (Ok(true), Ok(crate::exec::saving::Saved::Done(failed))) => format!(
                "{}: pending pairs proven but not forgotten: {}",
                l.label,
                failed.join("; ")
            ),
            (Ok(true), Ok(crate::exec::saving::Saved::Conflict(_))) => {
                format!(
                    "{}: another process saved a checkpoint meanwhile; try again",
                    l.label
                )
            }
            (Ok(true), Err(f)) => format!("{}: {}", l.label, f.message),
        };
        say(&line);
        for w in &report.warnings {
            say(&format!("{}: {w}", l.label));
        }
    }
    worst
}

/// The newest release of each name run here, per log, with its age and
/// whether the log holds a newer one.
fn runs(store: &Store, policy: &Policy, now: u64, out: &mut Vec<String>) {
    let runs = crate::history::all_runs(store);
    if !runs.is_empty() {
        out.push("releases run on this machine (newest per name):".into());
    }
    for r in runs {
        for (key, (index, version)) in &r.logs {
            // Records name logs by their state key; those of logs the
            // policy no longer lists are not shown.
            let Some(l) = policy.trust.logs.iter().find(|l| l.id.file_key() == *key) else {
                continue;
            };
            let view = crate::history::DirView::open(store, &l.id);
            let covers = view.coverage();
            let age = crate::history::covered_since(&policy.trust, &covers, *index)
                .map(|t| format!("first seen cosigned {} s ago", now.saturating_sub(t)))
                .unwrap_or_else(|| "age unknown".into());
            let newest = view
                .releases(&r.name)
                .ok()
                .and_then(|v| v.last().map(|s| (s.index, s.entry.release.version.clone())))
                .filter(|(i, _)| i > index)
                .map(|(i, v)| format!("; newer in the log: {v} (leaf {i})"))
                .unwrap_or_default();
            out.push(format!(
                "  {} {version}: {} leaf {index}, {age}{newest}",
                r.name, l.label
            ));
        }
    }
}

/// The audit log: how many verdicts would have been refused, by cause, and
/// the latest five.
fn audit(store: &Store, now: u64, out: &mut Vec<String>) {
    let audit = crate::exec::audit::records(store);
    if audit.is_empty() {
        return;
    }
    let refused: Vec<_> = audit.iter().filter(|r| r.verdict != "run").collect();
    out.push(format!(
        "audit log: {} verdict(s), {} would have been refused",
        audit.len(),
        refused.len()
    ));
    let mut by: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in &refused {
        *by.entry(r.verdict.as_str()).or_default() += 1;
    }
    // What a record says came from a program's path and a refusal's
    // reason, which quote what logs, proof files and bundles served:
    // escaped, so none of it drives the terminal.
    let safe = crate::fsutil::terminal_safe;
    for (v, n) in by {
        out.push(format!("  {n} × {}", safe(v)));
    }
    for r in refused.iter().rev().take(5) {
        out.push(format!(
            "  {} s ago: {} — {}",
            now.saturating_sub(r.time),
            safe(&r.program),
            safe(&r.reason)
        ));
    }
}

/// The `[sigstore]` section as `policy check` shows it.
fn sigstore_lines(s: &crate::policy::SigstoreSection) -> Vec<String> {
    let mut out = vec![format!(
        "sigstore: trusted root {} ({} transparency log(s)), Rekor v1 entries {}",
        s.root_path.display(),
        s.root.logs.len(),
        if s.allow_rekor_v1 {
            "allowed"
        } else {
            "refused"
        }
    )];
    for l in &s.root.logs {
        let v = if l.ed25519().is_some() {
            "Ed25519, Rekor v2"
        } else {
            "Rekor v1"
        };
        out.push(format!("sigstore log {} at {} ({v})", l.origin, l.base_url));
    }
    for i in &s.identities {
        let names = if i.names.is_empty() {
            "any program".to_string()
        } else {
            format!("programs run as {}", i.names.join(", "))
        };
        out.push(format!("sigstore signer {} may sign {names}", i.signer));
    }
    out
}

/// `bt-exec policy check FILE`: what policy `p`, read from `file`, trusts.
pub fn policy(file: &std::path::Path, p: &Policy) -> Vec<String> {
    let b64 =
        |k: &crate::note::PublicKey| base64::engine::general_purpose::STANDARD.encode(k.as_bytes());
    let mut out = vec![format!("policy {}: valid", file.display())];
    for l in &p.trust.logs {
        out.push(format!(
            "log {} (key {}) at {}{}",
            l.origin,
            b64(&l.key.key),
            l.url.as_deref().unwrap_or("-"),
            if p.is_rekor(l) {
                ": a Rekor log of the trusted root, proven by Sigstore bundles and held to the witnesses"
            } else {
                ""
            }
        ));
    }
    for w in &p.trust.witnesses {
        out.push(format!(
            "witness {} = {} (key {})",
            w.name,
            w.key.name,
            b64(&w.key.key)
        ));
    }
    out.push(format!("quorum: {}", p.trust.quorum_text()));
    for pb in &p.publishers {
        out.push(format!(
            "publisher {} may publish {}",
            b64(&pb.key),
            pb.names.join(", ")
        ));
    }
    if let Some(s) = &p.sigstore {
        out.extend(sigstore_lines(s));
    }
    let r = &p.require;
    out.push(format!(
        "require: logs {} of {}, max_age {} s, refresh {} s, latest {}, no_downgrade {}, prior_revisions {}, min_release_age {} s",
        r.logs,
        p.trust.logs.len(),
        r.max_age.as_secs(),
        r.refresh.as_secs(),
        r.latest,
        r.no_downgrade,
        r.prior_revisions,
        r.min_release_age.as_secs()
    ));
    let mode = match p.mode {
        Mode::Enforce => "enforce",
        Mode::Audit => "audit",
    };
    out.push(format!("mode: {mode}"));
    out.push(match &p.expires {
        Some((_, date)) => format!("expires: {date}"),
        None => "expires: never".into(),
    });
    out
}
