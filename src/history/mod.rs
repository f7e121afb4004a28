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
//! - `hashes/<hh>`: 24-byte records, the first 16 bytes of an entry's
//!   SHA-256 ‖ leaf index (u64 LE), sharded by the hash's first byte: every
//!   entry of one file's bytes is found by reading one shard
//!   ([`View::by_sha256`]). `hashes/complete` marks an index that covers
//!   every entry (views written before it existed are indexed from their
//!   `leaves` on first use).
//! - `witnessed`: 48-byte records, tree size ‖ time (u64 LE each) ‖ a
//!   witness's Ed25519 key: that witness cosigned a checkpoint of that size
//!   this machine had in force, at that time ([`Cover`]). When leaves were
//!   first covered is computed from them under the policy read now, so a
//!   record a removed witness made counts for nothing. (`coverage`, the
//!   16-byte records of earlier versions that named no witness, is no
//!   longer read.)
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
    Log(#[from] growth::Fault),
    #[error("release history {0}: {1}")]
    Corrupt(PathBuf, String),
}

fn io(p: &Path) -> impl FnOnce(std::io::Error) -> HistoryError + '_ {
    move |e| HistoryError::Io(p.to_path_buf(), e)
}

mod dir;
pub mod growth;
mod hashes;
mod memory;

use crate::store::runs::MAX_RAN;
pub use crate::store::runs::{all_runs, runs, runs_path, Ran, Runs};
pub use dir::DirView;
pub use memory::MemoryView;

/// One witness's cosignature of a checkpoint this machine had in force:
/// that witness had seen every leaf below `size` by `time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cover {
    pub size: u64,
    pub time: u64,
    /// The witness's Ed25519 key.
    pub witness: [u8; 32],
}

impl Cover {
    /// The covers a checkpoint of `size` gives: one per cosignature, except
    /// those dated beyond the allowed clock skew at `now` (a witness's bad
    /// clock must not make a release look older or newer than it is).
    pub fn of(size: u64, cosigs: &[crate::tlog::Cosignature], now: u64) -> Vec<Cover> {
        cosigs
            .iter()
            .filter(|c| c.timestamp <= now.saturating_add(crate::tlog::MAX_SKEW_SECS))
            .map(|c| Cover {
                size,
                time: c.timestamp,
                witness: *c.witness.key.as_bytes(),
            })
            .collect()
    }
}

/// The earliest time a quorum of `trust`'s witnesses had covered leaf
/// `index`: each witness counts from its earliest cover of a size above
/// `index` (every checkpoint in force is one history, so a later, larger
/// one still holds the leaf), and the quorum from the moment enough of them
/// had. Witnesses the policy no longer lists count for nothing.
///
/// Attack stopped: a cover recorded under a policy that trusted a witness
/// since removed (a compromised one, say) still ageing a release past
/// `min_release_age`.
pub fn covered_since<'a>(
    trust: &crate::policy::TrustPolicy,
    covers: impl IntoIterator<Item = &'a Cover>,
    index: u64,
) -> Option<u64> {
    let mut first: BTreeMap<usize, u64> = BTreeMap::new();
    for c in covers.into_iter().filter(|c| c.size > index) {
        let Some(pos) = trust
            .witnesses
            .iter()
            .position(|w| w.key.key.as_bytes() == &c.witness)
        else {
            continue;
        };
        let t = first.entry(pos).or_insert(c.time);
        *t = (*t).min(c.time);
    }
    let mut times: Vec<u64> = first.values().copied().collect();
    times.sort_unstable();
    times.dedup();
    if trust.quorum_met(&Default::default()) {
        // No quorum required: covered from the first cosignature, if any.
        return times.first().copied();
    }
    times.into_iter().find(|&t| {
        trust.quorum_met(
            &first
                .iter()
                .filter(|(_, &wt)| wt <= t)
                .map(|(&p, _)| p)
                .collect(),
        )
    })
}

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
    /// Every entry for the bytes with this SHA-256 the view holds (any
    /// name, any publisher), in log order.
    fn by_sha256(&self, sha256: &[u8; 32]) -> Result<Vec<Seen>, HistoryError>;
    /// Notes witnesses' cosignatures of a checkpoint in force.
    fn record_coverage(&self, covers: &[Cover]) -> Result<(), HistoryError>;
    /// Every cover recorded.
    fn coverage(&self) -> Vec<Cover>;
    /// Notes that a `cas` URL served these bytes at `time`.
    fn record_available(&self, sha256: &[u8; 32], time: u64) -> Result<(), HistoryError>;
    /// When a `cas` URL was last seen serving these bytes.
    fn available_since(&self, sha256: &[u8; 32]) -> Option<u64>;
}

/// Reads the entries of `cp` past the view's `(size, root)` through `f`,
/// each verified against the tiles and the signed root and its publisher
/// signature checked ([`growth::verify_growth`]), and hands
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
    growth::verify_growth(
        f,
        old.as_ref().filter(|o| o.size > 0),
        cp,
        &Default::default(),
        sink,
    )?;
    Ok(())
}

/// Records that `name` ran at these leaves (log key, index), raising, never
/// lowering, each log's index; durable before it returns. Call under the
/// state lock.
pub fn record_run(
    store: &Store,
    name: &str,
    version: &str,
    at: &[(String, u64)],
    ran: Option<Ran>,
) -> Result<(), HistoryError> {
    let mut r = runs(store, name);
    r.name = name.to_string();
    let mut changed = false;
    if let Some(ran) = ran.filter(|x| !r.ran.iter().any(|k| k.sha256 == x.sha256)) {
        r.ran.push(ran);
        r.ran.sort_by_key(|b| std::cmp::Reverse(b.published));
        r.ran.truncate(MAX_RAN);
        changed = true;
    }
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
