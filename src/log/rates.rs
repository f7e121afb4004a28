//! Keeping to the rate each witness grants this log: a witness on the
//! public witness network allows each log a number of add-checkpoint
//! requests a day (its list's `qpd`), and answers 429 — or drops the log —
//! past it. A witness whose `qpd` is configured is asked only while the
//! token bucket kept in `.bt-log/witness-rates.json` has a request left
//! (the witness's own kind of bucket, src/witness/rate.rs); a checkpoint in
//! between is published with the cosignatures it has, and a later one
//! (`add`, or `cosign` to ask again for the same tree) is cosigned. Taken
//! under the log's lock, so concurrent adds share one bucket.

use std::collections::BTreeMap;
use std::path::Path;

use super::config::{io, LogConfig, LogError, STATE_DIR};
use crate::fsutil::{self, Durability};
use crate::witness::client::WitnessConfig;
use crate::witness::rate::Bucket;

const FILE: &str = "witness-rates.json";

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// For each of `witnesses`: `None` when it may be asked now (one request
/// of its rate taken), `Some(seconds)` until it may.
fn take(dir: &Path, witnesses: &[&WitnessConfig]) -> Result<Vec<Option<u64>>, LogError> {
    if witnesses.iter().all(|w| w.qpd.is_none()) {
        return Ok(vec![None; witnesses.len()]);
    }
    let path = dir.join(STATE_DIR).join(FILE);
    // A file that cannot be read or parsed starts every bucket full: at
    // worst one burst too many, never a log that stops asking.
    let mut buckets: BTreeMap<String, Bucket> = fsutil::read_optional(&path, 1 << 20)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let now = now_ms();
    let waits = witnesses
        .iter()
        .map(|w| {
            let q = w.qpd?;
            buckets
                .entry(w.url.clone())
                .or_insert_with(|| Bucket::new(q, now))
                .take(q, now)
                .err()
        })
        .collect();
    let text = serde_json::to_vec_pretty(&buckets).map_err(|e| LogError::Usage(e.to_string()))?;
    fsutil::write_atomic(&path, &text, 0o644, Durability::Sync).map_err(io(&path))?;
    Ok(waits)
}

/// What asking the witnesses got: cosignature lines, the URLs of those
/// that cosigned, and why each other one did not.
#[derive(Default)]
pub struct Asked {
    pub lines: Vec<String>,
    pub cosigned: Vec<String>,
    pub failures: Vec<(String, String)>,
    /// Of the failures, those not asked because of their rate: seconds
    /// until each may be asked.
    pub rate_waits: Vec<u64>,
}

/// Asks the configured witnesses `which` (indexes into `cfg.witness`) that
/// their rates allow to cosign `note` (signed by the log alone), each from
/// `hint`, the size it is believed to have seen (a 409 corrects it).
pub fn ask(
    dir: &Path,
    cfg: &LogConfig,
    which: &[usize],
    note: &[u8],
    hint: u64,
    store: &crate::tlog::store::TileHashes,
) -> Result<Asked, LogError> {
    let keys = cfg.witness_keys()?;
    let (chosen, chosen_keys): (Vec<&WitnessConfig>, Vec<&crate::note::VerifierKey>) = which
        .iter()
        .filter_map(|&i| Some((cfg.witness.get(i)?, keys.get(i)?)))
        .unzip();
    let waits = take(dir, &chosen)?;
    let mut asked = Asked::default();
    let (mut go, mut go_keys) = (Vec::new(), Vec::new());
    for ((w, k), wait) in chosen.iter().zip(&chosen_keys).zip(&waits) {
        match wait {
            None => {
                go.push((*w).clone());
                go_keys.push((*k).clone());
            }
            Some(s) => {
                asked.rate_waits.push(*s);
                asked.failures.push((
                w.url.clone(),
                format!(
                    "not asked: over the rate it grants this log ({} a day); it may be asked again in {s} s",
                    w.qpd.unwrap_or(0.0)
                ),
                ))
            }
        }
    }
    let now = now_ms() / 1000;
    let results = crate::witness::client::collect(&go, &go_keys, note, hint, store, now);
    for (w, r) in go.iter().zip(results) {
        match r {
            Ok(l) => {
                asked.cosigned.push(w.url.clone());
                asked.lines.extend(l);
            }
            Err(e) => asked.failures.push((w.url.clone(), e)),
        }
    }
    Ok(asked)
}
