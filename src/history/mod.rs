//! Release history (DESIGN §5, §6 step 4): what each log was seen to
//! contain, kept in the state directory so the `latest`, `no_downgrade`,
//! `prior_revisions` and `min_release_age` checks stay cheap as a log grows.
//!
//! Per log (`views/<log-key>/`, [`crate::log_id::LogId::file_key`]):
//! - `leaves` and `offsets`: every entry up to the view's size, appended in
//!   log order (each verified against the tiles and the signed root, and its
//!   publisher signature checked, by the same bottom-up walk the monitor
//!   uses: [`crate::monitor`]'s `verify_growth`); `offsets` holds each
//!   entry's end offset as a little-endian u64.
//! - `names/<hh>`: 24-byte records, name key (16) ‖ leaf index (u64 LE),
//!   sharded by the name key's first byte: the releases of one name are
//!   found by reading one shard.
//! - `size`: the size (and root) of the tree the view covers, written last.
//! - `coverage`: 16-byte records, tree size ‖ the time a witness quorum had
//!   cosigned it (u64 LE each): when this machine first saw each leaf
//!   covered by a cosigned checkpoint.
//! - `available`: lines `<sha256 hex> <unix time>` for release bytes a
//!   `cas` URL was seen to serve (`prior_revisions` with `--offline`).
//!
//! And `runs/<name-key>`: the newest leaf of each name this machine ran,
//! per log (`no_downgrade`).
//!
//! Everything is appended before the `size` file that makes it count is
//! written, so a process killed at any point leaves a usable view; readers
//! ignore anything past `size`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::entry::Entry;
use crate::fsutil::{self, Durability};
use crate::monitor::state::name_key;
use crate::monitor::Fault;
use crate::source::Source;
use crate::store::Store;
use crate::tlog::{Checkpoint, Hash};

const NAME_RECORD: usize = 24;
const MAX_LEAF: u64 = 64 * 1024;
/// A name shard is read whole; this bounds it (≈ 2.7 M releases of one
/// shard's names).
const MAX_SHARD: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("release history {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("release history: {0}")]
    Log(#[from] Fault),
    #[error("release history {0}: {1}")]
    Corrupt(PathBuf, String),
}

fn io(p: &Path) -> impl FnOnce(std::io::Error) -> HistoryError + '_ {
    move |e| HistoryError::Io(p.to_path_buf(), e)
}

mod dir;
mod memory;
pub use dir::DirView;
pub use memory::MemoryView;

/// An entry of the view with its leaf index.
#[derive(Debug, Clone)]
pub struct Seen {
    pub index: u64,
    pub entry: Entry,
}

/// What this machine knows of one log's entries: files in the state
/// directory ([`DirView`]) or, for tests of the decision, memory
/// ([`MemoryView`]). Entries enter a view only through [`grow`], so both
/// hold only entries verified against a signed root.
pub trait View: Send + Sync {
    /// The tree size (and root) the view covers: 0 when it is new.
    fn size(&self) -> (u64, Option<Hash>);
    /// Brings the view up to `cp` (a checkpoint already verified and in
    /// force), reading the new entry bundles and tiles through `f`.
    /// Returns how many entries were added.
    fn update(&self, f: &dyn Source, cp: &Checkpoint) -> Result<u64, HistoryError>;
    /// The entry at leaf `index` (below the view's size).
    fn entry(&self, index: u64) -> Result<Entry, HistoryError>;
    /// Every release of `name` the view holds (exact name), in log order.
    fn releases(&self, name: &str) -> Result<Vec<Seen>, HistoryError>;
    /// Notes that a checkpoint of `size` was cosigned by a quorum at `time`.
    fn record_coverage(&self, size: u64, time: u64) -> Result<(), HistoryError>;
    /// Every (size, time) coverage record.
    fn coverage(&self) -> Vec<(u64, u64)>;
    /// Notes that a `cas` URL served these bytes at `time`.
    fn record_available(&self, sha256: &[u8; 32], time: u64) -> Result<(), HistoryError>;
    /// When a `cas` URL was last seen serving these bytes.
    fn available_since(&self, sha256: &[u8; 32]) -> Option<u64>;

    /// The earliest time a checkpoint covering leaf `index` was seen
    /// cosigned by a quorum.
    fn covered_since(&self, index: u64) -> Option<u64> {
        self.coverage()
            .into_iter()
            .filter(|&(s, _)| s > index)
            .map(|(_, t)| t)
            .min()
    }
}

/// Reads the entries of `cp` past the view's `(size, root)` through `f`,
/// each verified against the tiles and the signed root and its publisher
/// signature checked ([`crate::monitor::tiles::verify_growth`]), and hands
/// them to `sink` in log order. The one way into a view: a mirror serving
/// entries the signed root does not cover cannot plant a release.
fn grow(
    origin: &str,
    (size, root): (u64, Option<Hash>),
    f: &dyn Source,
    cp: &Checkpoint,
    sink: &mut dyn FnMut(u64, &Entry),
) -> Result<(), HistoryError> {
    let old = root.map(|root| Checkpoint::new(origin, size, root));
    crate::monitor::tiles::verify_growth(
        f,
        old.as_ref().filter(|o| o.size > 0),
        cp,
        &Default::default(),
        sink,
    )?;
    Ok(())
}

/// The newest release of each name this machine ran, per log.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Runs {
    pub name: String,
    /// log ([`crate::log_id::LogId::file_key`]) → (leaf index, version).
    pub logs: BTreeMap<String, (u64, String)>,
}

/// The file holding the run record of `name`.
pub fn runs_path(store: &Store, name: &str) -> PathBuf {
    store.state.join("runs").join(hex::encode(name_key(name)))
}

pub fn runs(store: &Store, name: &str) -> Runs {
    fsutil::read_optional(&runs_path(store, name), 1 << 20)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice::<Runs>(&b).ok())
        .filter(|r| r.name == name)
        .unwrap_or_default()
}

/// Every name this machine ran (for `bt-exec status`), sorted by name.
pub fn all_runs(store: &Store) -> Vec<Runs> {
    let Ok(rd) = std::fs::read_dir(store.state.join("runs")) else {
        return vec![];
    };
    let mut out: Vec<Runs> = rd
        .flatten()
        .filter_map(|e| fsutil::read_capped(&e.path(), 1 << 20).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Records that `name` ran at these leaves (log key, index), raising, never
/// lowering, each log's index; durable before it returns. Call under the
/// state lock.
pub fn record_run(
    store: &Store,
    name: &str,
    version: &str,
    at: &[(String, u64)],
) -> Result<(), HistoryError> {
    let mut r = runs(store, name);
    r.name = name.to_string();
    let mut changed = false;
    for (log, index) in at {
        let newer = r.logs.get(log).map_or(true, |(i, _)| index > i);
        if newer {
            r.logs.insert(log.clone(), (*index, version.to_string()));
            changed = true;
        }
    }
    if !changed {
        return Ok(());
    }
    let p = runs_path(store, name);
    let data = serde_json::to_vec(&r).unwrap_or_default();
    fsutil::write_atomic(&p, &data, 0o644, Durability::Sync).map_err(io(&p))
}

/// Whether a stored run record (`bytes` as read, `None` when there is none)
/// shows no release of `name` newer than the leaves `at` (log key, index) in
/// those logs, so that `require.no_downgrade` allows them. An unreadable
/// record allows nothing.
pub fn no_newer_run(bytes: Option<&[u8]>, name: &str, at: &[(String, u64)]) -> bool {
    let Some(bytes) = bytes else { return true };
    let Ok(r) = serde_json::from_slice::<Runs>(bytes) else {
        return false;
    };
    r.name == name
        && at
            .iter()
            .all(|(log, index)| r.logs.get(log).map_or(true, |(i, _)| i <= index))
}

/// The time a witness quorum had cosigned: the earliest `t` such that the
/// cosignatures dated at or before `t` meet `trust`'s quorum.
pub fn quorum_time(
    trust: &crate::policy::TrustPolicy,
    cosigs: &[crate::tlog::Cosignature],
) -> Option<u64> {
    let mut times: Vec<u64> = cosigs.iter().map(|c| c.timestamp).collect();
    times.sort_unstable();
    times.dedup();
    if trust.quorum_met(&Default::default()) {
        // No quorum required: the checkpoint counts from its first cosignature, if any.
        return times.first().copied();
    }
    times.into_iter().find(|&t| {
        trust.quorum_met(
            &trust.witness_positions(
                cosigs
                    .iter()
                    .filter(|c| c.timestamp <= t)
                    .map(|c| &c.witness),
            ),
        )
    })
}
