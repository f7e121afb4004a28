//! `bt-log monitor`: follow a log, verify everything it serves, list every
//! release, and flag what a watcher needs to see.
//!
//! One pass: fetch the checkpoint, verify it; prove it extends the saved
//! one (from the tiles, which are checked to hash to the new root); fetch
//! every new entry bundle and hash tile; check every leaf hash, every
//! higher-level tile entry, every entry's encoding and publisher signature;
//! then save the checkpoint. Any fault stops the pass before anything is
//! saved.

pub mod rekor;
pub mod state;

pub use state::{MonitorState, StateError};

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use crate::entry::Entry;
use crate::fetch::{FetchError, Fetcher};
use crate::history::growth::{self, Counters};
use crate::note::VerifierKey;
use crate::policy::TrustPolicy;
use crate::tlog::{SignedCheckpoint, TlogError, MAX_CHECKPOINT_BYTES};

#[derive(Debug, thiserror::Error)]
pub enum Fault {
    #[error("{0}")]
    Unreachable(#[from] FetchError),
    #[error("checkpoint: {0}")]
    Checkpoint(TlogError),
    #[error("checkpoint: {0}")]
    Quorum(String),
    #[error("split view: {msg}{}", evidence_note(.evidence))]
    SplitView {
        msg: String,
        evidence: Option<PathBuf>,
    },
    #[error("rollback: {msg}{}", evidence_note(.evidence))]
    Rollback {
        msg: String,
        evidence: Option<PathBuf>,
    },
    #[error("missing: {0}")]
    Missing(String),
    #[error("bad log data: {0}")]
    BadData(String),
    #[error("{0}")]
    State(#[from] StateError),
}

/// The same words as the walk's own: a monitor's fault reads as it did.
impl From<growth::Fault> for Fault {
    fn from(f: growth::Fault) -> Fault {
        match f {
            growth::Fault::SplitView(msg) => Fault::SplitView {
                msg,
                evidence: None,
            },
            growth::Fault::Unreachable(e) => Fault::Unreachable(e),
            growth::Fault::Missing(m) => Fault::Missing(m),
            growth::Fault::BadData(m) => Fault::BadData(m),
        }
    }
}

fn evidence_note(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map(|p| format!(" (both checkpoints written to {})", p.display()))
        .unwrap_or_default()
}

pub struct MonitorOptions {
    pub url: String,
    pub key: VerifierKey,
    /// Witnesses that must all have cosigned (`--witness`).
    pub witnesses: Vec<VerifierKey>,
    /// A tlog-policy whose witnesses and quorum apply (`--policy`).
    pub policy: Option<TrustPolicy>,
    pub state_root: PathBuf,
    pub progress: bool,
    pub now: u64,
    /// Rebuilders (`--rebuilder NAME=KEY`): their entries are shown as
    /// attestations, and one for other bytes than the release is an alert.
    pub rebuilders: Vec<(String, crate::note::PublicKey)>,
}

/// A release seen in this pass, with what a watcher should look at.
pub struct Seen<'a> {
    pub index: u64,
    pub entry: &'a Entry,
    pub alerts: Vec<String>,
    /// When a listed rebuilder logged this entry: its name, and whether the
    /// hash is the one the release was logged with (`None`: no release of
    /// that name, version and platform seen yet).
    pub attestation: Option<(String, Option<bool>)>,
}

impl Seen<'_> {
    /// One JSON object, as `bt-log monitor --json` lists a release.
    pub fn json(&self) -> serde_json::Value {
        use base64::Engine;
        let r = &self.entry.release;
        let mut v = serde_json::json!({
            "index": self.index,
            "name": r.name,
            "version": r.version,
            "platform": r.platform,
            "sha256": hex::encode(r.sha256),
            "size": r.size,
            "published": r.published,
            "publisher": base64::engine::general_purpose::STANDARD.encode(self.entry.publisher.as_bytes()),
            "alerts": self.alerts,
        });
        if let Some((name, matches)) = &self.attestation {
            v["attestation"] = serde_json::json!({"rebuilder": name, "matches_release": matches});
        }
        if !r.cas.is_empty() {
            v["cas"] = serde_json::json!(r.cas);
        }
        if let Some(src) = &r.source {
            v["source"] = serde_json::json!({"repo": src.repo, "rev": src.rev});
        }
        v
    }

    /// One line of text: index, name, version, platform, SHA-256, size, and
    /// a rebuilder's attestation.
    pub fn line(&self) -> String {
        let r = &self.entry.release;
        let attests = match &self.attestation {
            Some((n, Some(true))) => format!(" attested-by {n}"),
            Some((n, Some(false))) => format!(" MISMATCH-by {n}"),
            Some((n, None)) => format!(" rebuilt-by {n}"),
            None => String::new(),
        };
        format!(
            "{} {} {} {} {} {}{attests}",
            self.index,
            r.name,
            r.version,
            r.platform,
            hex::encode(r.sha256),
            r.size
        )
    }
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub size: u64,
    pub previous: u64,
    pub tiles_read: u64,
    pub bundles_read: u64,
    pub bytes_read: u64,
    pub alerts: u64,
}

impl Outcome {
    /// A pass from `previous` entries to `size`, with what the walk read.
    fn of(size: u64, previous: u64, c: &Counters, alerts: u64) -> Outcome {
        Outcome {
            size,
            previous,
            tiles_read: c.tiles.load(Ordering::Relaxed),
            bundles_read: c.bundles.load(Ordering::Relaxed),
            bytes_read: c.bytes.load(Ordering::Relaxed),
            alerts,
        }
    }
}

fn witness_keys(o: &MonitorOptions) -> Vec<VerifierKey> {
    let mut keys = o.witnesses.clone();
    if let Some(p) = &o.policy {
        keys.extend(p.witnesses.iter().map(|w| w.key.clone()));
    }
    keys
}

fn check_quorum(o: &MonitorOptions, sc: &SignedCheckpoint) -> Result<(), Fault> {
    let cosigners: HashSet<String> = sc.cosignatures.iter().map(|c| c.witness.encode()).collect();
    for w in &o.witnesses {
        if !cosigners.contains(&w.to_cosignature_key().encode()) {
            return Err(Fault::Quorum(format!(
                "no valid cosignature from witness {}",
                w.name
            )));
        }
    }
    if let Some(p) = &o.policy {
        if !p.quorum_met(&p.witness_positions(sc.cosignatures.iter().map(|c| &c.witness))) {
            return Err(Fault::Quorum(format!(
                "the policy's witness quorum is not met ({} valid cosignature(s) from policy witnesses)",
                sc.cosignatures.len()
            )));
        }
    }
    Ok(())
}

/// The log's checkpoint, fetched and verified: its signature, origin and
/// cosignatures, and the witnesses `o` requires. Returns the fetcher, the
/// note as served, and the checkpoint.
fn signed_checkpoint(o: &MonitorOptions) -> Result<(Fetcher, Vec<u8>, SignedCheckpoint), Fault> {
    let fetcher = Fetcher::new(&o.url)?;
    let note = fetcher
        .get("checkpoint", MAX_CHECKPOINT_BYTES)?
        .ok_or_else(|| {
            Fault::Missing(format!(
                "{} (no checkpoint)",
                fetcher.describe("checkpoint")
            ))
        })?;
    let new = SignedCheckpoint::verify(&note, &o.key.name, &o.key, &witness_keys(o))
        .map_err(Fault::Checkpoint)?;
    check_quorum(o, &new)?;
    Ok((fetcher, note, new))
}

/// One monitoring pass. `emit` sees every new release in log order.
pub fn run(o: &MonitorOptions, emit: &mut dyn FnMut(&Seen)) -> Result<Outcome, Fault> {
    let (fetcher, note, new) = signed_checkpoint(o)?;
    let origin = o.key.name.clone();
    let dir = MonitorState::dir_for(&o.state_root, &origin);
    let mut st = MonitorState::load(&dir, &origin, &o.key, &witness_keys(o))?;
    let counters = Counters::default();
    let old = st.checkpoint.clone();
    let old_size = old.as_ref().map_or(0, |c| c.checkpoint.size);
    if let Some(old) = &old {
        against_saved(&dir, &fetcher, old, &note, &new, &counters, o.now)?;
    }
    let mut records = st.appender()?;
    let mut write_error = None;
    let mut alerts = 0u64;
    let bar = progress(o.progress, new.checkpoint.size - old_size);
    growth::verify_growth(
        &fetcher,
        old.as_ref().map(|c| &c.checkpoint),
        &new.checkpoint,
        &counters,
        &mut |index, entry| {
            let (a, attestation) = alerts_for(&mut st, entry, &o.rebuilders);
            alerts += a.len() as u64;
            let r = &entry.release;
            if let Err(e) = std::io::Write::write_all(
                &mut records,
                &state::record(
                    &r.name,
                    &r.version,
                    &r.platform,
                    &r.sha256,
                    entry.publisher.as_bytes(),
                ),
            ) {
                write_error.get_or_insert(e);
            }
            emit(&Seen {
                index,
                entry,
                alerts: a,
                attestation,
            });
            bar.inc(1);
        },
    )
    .map_err(|f| with_evidence(f.into(), &dir, old.as_ref(), &note, o.now))?;
    bar.finish_and_clear();
    if let Some(e) = write_error {
        return Err(Fault::State(StateError {
            path: dir.clone(),
            msg: format!("writing records: {e}"),
        }));
    }
    // Only the lines that verified (the log's and the witnesses'), as every
    // checkpoint bt-log and bt-exec keep.
    st.commit(records, &new.verified_note)?;
    Ok(Outcome::of(
        new.checkpoint.size,
        old_size,
        &counters,
        alerts,
    ))
}

/// The served checkpoint against the saved one: the same size with
/// another root is a split view, a smaller size a rollback (either way
/// with both notes kept as evidence).
fn against_saved(
    dir: &Path,
    fetcher: &Fetcher,
    old: &SignedCheckpoint,
    note: &[u8],
    new: &SignedCheckpoint,
    counters: &Counters,
    now: u64,
) -> Result<(), Fault> {
    let (a, b) = (&old.checkpoint, &new.checkpoint);
    if b.size == a.size && b.root != a.root {
        let evidence = state::evidence(dir, "split-view", &old.note, note, now);
        return Err(Fault::SplitView {
            msg: format!(
                "the log signed two different trees of size {}{}",
                a.size,
                both(&old.note, note)
            ),
            evidence,
        });
    }
    if b.size < a.size {
        let consistent = growth::prefix_of(fetcher, a, b, counters);
        let evidence = state::evidence(dir, "rollback", &old.note, note, now);
        let how = match consistent {
            Some(true) => "it is a prefix of the saved one (a stale copy or a rollback)",
            Some(false) => "and it is NOT a prefix of the saved one: a split view",
            None => "and the tiles to check whether it is a prefix are not available",
        };
        return Err(Fault::Rollback {
            msg: format!(
                "the log serves size {} after size {} was seen; {how}{}",
                b.size,
                a.size,
                both(&old.note, note)
            ),
            evidence,
        });
    }
    Ok(())
}

/// A split view found while growing: both notes in the message and kept
/// as evidence.
fn with_evidence(
    f: Fault,
    dir: &Path,
    old: Option<&SignedCheckpoint>,
    note: &[u8],
    now: u64,
) -> Fault {
    match (f, old) {
        (Fault::SplitView { msg, .. }, Some(old)) => Fault::SplitView {
            msg: format!("{msg}{}", both(&old.note, note)),
            evidence: state::evidence(dir, "inconsistent", &old.note, note, now),
        },
        (f, _) => f,
    }
}

/// Both checkpoints, for a split view or rollback message.
fn both(saved: &[u8], served: &[u8]) -> String {
    format!(
        "\n--- checkpoint saved by an earlier pass ---\n{}--- checkpoint the log serves now ---\n{}",
        String::from_utf8_lossy(saved),
        String::from_utf8_lossy(served)
    )
}

/// What a watcher must see about a new entry, updating the remembered view;
/// and, for an entry by a listed rebuilder, whether it attests the release.
fn alerts_for(
    st: &mut MonitorState,
    e: &Entry,
    rebuilders: &[(String, crate::note::PublicKey)],
) -> (Vec<String>, Option<(String, Option<bool>)>) {
    let r = &e.release;
    let mut out = Vec::new();
    let k = state::release_key(&r.name, &r.version, &r.platform);
    if let Some((name, _)) = rebuilders.iter().find(|(_, key)| *key == e.publisher) {
        // A rebuilder's attestation: compared with the release, never
        // counted as a publisher of the name.
        let matches = st.hashes.get(&k).map(|h| h == &r.sha256);
        if matches == Some(false) {
            out.push(format!(
                "rebuilder {name} logged {} {} {} with sha256 {}, not the release's: the published binary does not match its source",
                r.name,
                r.version,
                r.platform,
                hex::encode(r.sha256)
            ));
        }
        return (out, Some((name.clone(), matches)));
    }
    let pubs = st
        .publishers
        .entry(crate::entry::name_key(&r.name))
        .or_default();
    if !pubs.is_empty() && !pubs.contains(e.publisher.as_bytes()) {
        out.push(format!(
            "{} is published by a key it was not published by before",
            r.name
        ));
    }
    pubs.insert(*e.publisher.as_bytes());
    match st.hashes.get(&k) {
        Some(h) if h != &r.sha256 => out.push(format!(
            "{} {} {} was logged before with another hash ({})",
            r.name,
            r.version,
            r.platform,
            hex::encode(h)
        )),
        Some(_) => {}
        None => {
            st.hashes.insert(k, r.sha256);
        }
    }
    (out, None)
}

fn progress(show: bool, len: u64) -> indicatif::ProgressBar {
    if !show || len < 10_000 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "verifying {bar:40} {pos}/{len} entries ({per_sec}, {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// The default state root: `$BT_EXEC_STATE_DIR`, else the XDG state dir.
pub fn default_state_root() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("BT_EXEC_STATE_DIR") {
        return Some(PathBuf::from(d));
    }
    let p = directories::ProjectDirs::from("", "", "bt-exec")?;
    Some(
        p.state_dir()
            .unwrap_or_else(|| p.data_local_dir())
            .to_path_buf(),
    )
}
