//! Run records: what ran on this machine under each release name
//! (`state/runs/<name key>`), read by `status`, `require.no_downgrade` and
//! the warm verdicts; written under the state lock by
//! [`crate::history::record_run`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::Store;
use crate::entry::name_key;
use crate::fsutil;

/// What ran on this machine under one release name: the newest leaf per
/// log (as earlier versions kept it, and `status` shows it), and the
/// releases themselves, by their bytes, whichever log proved them — what
/// `require.no_downgrade` compares with across logs.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Runs {
    pub name: String,
    /// log ([`crate::log_id::LogId::file_key`]) → (leaf index, version).
    pub logs: BTreeMap<String, (u64, String)>,
    #[serde(default)]
    pub ran: Vec<Ran>,
}

/// A release of the name that ran: its bytes, version and the earliest
/// `published` time its entries claim.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ran {
    pub sha256: String,
    pub version: String,
    pub published: u64,
}

impl Ran {
    pub fn new(sha256: &[u8; 32], version: &str, published: u64) -> Ran {
        Ran {
            sha256: hex::encode(sha256),
            version: version.to_string(),
            published,
        }
    }

    pub fn sha256(&self) -> Option<[u8; 32]> {
        hex::decode(&self.sha256).ok()?.try_into().ok()
    }
}

/// At most this many releases are kept per name (the newest by
/// `published`): enough for any downgrade to meet a newer one.
pub(crate) const MAX_RAN: usize = 64;

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
