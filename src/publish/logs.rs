//! One log of a publish: a proof already beside the file that verifies
//! ends it; else the entry is submitted (`POST /bt/add-entry`), and a 200's
//! proof is taken, or — after a 202, or a 200 whose checkpoint lacks the
//! witnesses this publisher requires — the log's checkpoint is polled
//! until one that meets the requirement covers the entry, whose proof is
//! then made from the log's tiles. Nothing the log or the network says is
//! written before [`check`] passes, and a proof file holds only the
//! signature lines that verified, re-serialised ([`check`]'s proof).
//!
//! The lies this stops: a log (or anyone on the path) answering with a
//! proof for another leaf, against a checkpoint it did not sign, that no
//! required witness cosigned, or with an inclusion proof that does not
//! reach the signed root; and lines nothing verified — a second line of a
//! witness with a garbage signature or a far-future date, a key nobody
//! trusts here, a cosignature dated beyond the allowed skew — passed on in
//! the proof file to every client, some of which would refuse the log for
//! them.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use super::failure::Failure;
use super::{proof_path, Options, Outcome, Target};
use crate::fetch::{self, Cause, Fetcher};
use crate::fsutil::{self, Durability};
use crate::policy::TrustPolicy;
use crate::source::SourceTiles;
use crate::tlog::{
    consistency, leaf_hash, verify_inclusion, SignedCheckpoint, TlogProof, MAX_CHECKPOINT_BYTES,
    MAX_PROOF_BYTES,
};
use crate::verify::MAX_SKEW_SECS;

/// How long a log is asked to hold its answer until a cosigned checkpoint
/// covers the entry (its own cap is 60 s); past it the proof is read from
/// the log's tiles, so a slow witness never holds a connection open.
const MAX_WAIT_SECS: u64 = 10;
/// Between two looks at a log's checkpoint.
const POLL: Duration = Duration::from_secs(1);
/// A log whose address refuses the connection is asked this many times,
/// [`REFUSED_PAUSE`] apart and doubling (under 2 s in all), then given up
/// on for this run: nothing listens there, and waiting out `--wait` for it
/// would only hold up the logs that answered. A log restarting is back
/// within that, or on the next run.
const REFUSED_ATTEMPTS: u32 = 4;
const REFUSED_PAUSE: Duration = Duration::from_millis(250);
/// Before asking again after a time-out or another failure to connect.
const RETRY_PAUSE: Duration = Duration::from_secs(2);

/// Why `proof` does not prove `leaf` in `target` under `trust`, if it does
/// not; when it does, the proof to keep: its checkpoint note holds only
/// the signature lines that verified (the log's and the cosignatures
/// counted), re-serialised.
pub fn check(
    proof: &TlogProof,
    leaf: &[u8],
    target: &Target,
    trust: &TrustPolicy,
    now: u64,
) -> Result<TlogProof, String> {
    if proof.extra.as_deref() != Some(leaf) {
        return Err("the proof is for another entry".into());
    }
    let sc = checkpoint_ok(&proof.checkpoint, target, trust, now).map_err(|e| e.to_string())?;
    let cp = &sc.checkpoint;
    verify_inclusion(leaf_hash(leaf), proof.index, cp.size, &proof.proof, cp.root)
        .map_err(|e| format!("inclusion proof of leaf {}: {e}", proof.index))?;
    Ok(TlogProof {
        checkpoint: sc.verified_note,
        ..proof.clone()
    })
}

/// Why a checkpoint does not meet the requirement.
#[derive(Debug)]
enum NotMet {
    /// Not a checkpoint of this log, validly signed by its key.
    Invalid(String),
    /// The log's, of `size` leaves, but without the witnesses required
    /// (yet); `late`: the cosignatures not counted for their date.
    Witnesses {
        size: u64,
        required: String,
        late: String,
    },
}

impl std::fmt::Display for NotMet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotMet::Invalid(why) => f.write_str(why),
            NotMet::Witnesses {
                size,
                required,
                late,
            } => write!(
                f,
                "checkpoint of size {size} lacks the witnesses required ({required}){late}"
            ),
        }
    }
}

/// The checkpoint note, verified with the log's key, its cosignatures
/// meeting `trust`'s quorum; a cosignature dated beyond the allowed skew
/// is not counted, and is dropped from `verified_note` with every line
/// that did not verify.
fn checkpoint_ok(
    note: &[u8],
    target: &Target,
    trust: &TrustPolicy,
    now: u64,
) -> Result<SignedCheckpoint, NotMet> {
    let keys: Vec<_> = trust.witnesses.iter().map(|w| w.key.clone()).collect();
    let mut sc = SignedCheckpoint::verify(note, &target.key.name, &target.key, &keys)
        .map_err(|e| NotMet::Invalid(format!("checkpoint: {e}")))?;
    let late = sc.drop_dated_after(now.saturating_add(MAX_SKEW_SECS));
    let cosigned: HashSet<usize> =
        trust.witness_positions(sc.cosignatures.iter().map(|c| &c.witness));
    if !trust.quorum_met(&cosigned) {
        let late: String = late
            .iter()
            .map(|c| {
                format!(
                    "; not counted: the cosignature by {}, dated {} s in the future",
                    c.witness.name,
                    c.timestamp - now
                )
            })
            .collect();
        return Err(NotMet::Witnesses {
            size: sc.checkpoint.size,
            required: trust.quorum_text(),
            late,
        });
    }
    Ok(sc)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Publishes `leaf` to `target`, by `deadline`.
pub fn one(
    o: &Options,
    target: &Target,
    leaf: &[u8],
    deadline: Instant,
    say: &(dyn Fn(&str) + Sync),
) -> Outcome {
    let path = proof_path(&o.file, &target.id);
    let label = target.label();
    // A proof kept from an earlier run that still verifies: done.
    if let Ok(Some(b)) = fsutil::read_optional(&path, MAX_PROOF_BYTES) {
        if let Ok(p) = TlogProof::parse(&b) {
            if let Ok(kept) = check(&p, leaf, target, &o.trust, now_secs()) {
                if kept.checkpoint != p.checkpoint {
                    // Written by an earlier version with lines nothing verified:
                    // best effort, the proof in it stands either way.
                    let _ = fsutil::write_atomic(&path, &kept.encode(), 0o644, Durability::Sync);
                }
                say(&format!("{label}: already proven at leaf {}", p.index));
                return Outcome::Kept { index: p.index };
            }
        }
    }
    let index = match submit(target, leaf, &o.trust, deadline, say) {
        Ok(Submitted::Proof(p)) => return keep(&path, &p, &label, say),
        Ok(Submitted::Index(i)) => i,
        Err(why) => return Outcome::Failed(why),
    };
    match poll(target, leaf, index, &o.trust, deadline, o.wait) {
        Ok(p) => keep(&path, &p, &label, say),
        Err(why) => Outcome::Failed(why),
    }
}

fn keep(path: &Path, p: &TlogProof, label: &str, say: &(dyn Fn(&str) + Sync)) -> Outcome {
    let size = crate::tlog::Checkpoint::of_note(&p.checkpoint).map_or(0, |c| c.size);
    match fsutil::write_atomic(path, &p.encode(), 0o644, Durability::Sync) {
        Ok(()) => {
            say(&format!("{label}: proven at leaf {} of {size}", p.index));
            Outcome::Proven {
                index: p.index,
                size,
            }
        }
        Err(e) => Outcome::Failed(Failure::Other(format!("{}: {e}", path.display()))),
    }
}

enum Submitted {
    /// A proof that passed [`check`].
    Proof(TlogProof),
    /// The index the log gave the entry; the proof is still to come.
    Index(u64),
}

/// Sends the entry until the log answers with an index or a proof, or
/// refuses it for good, or refuses the connection [`REFUSED_ATTEMPTS`]
/// times in a row, or the deadline passes.
fn submit(
    target: &Target,
    leaf: &[u8],
    trust: &TrustPolicy,
    deadline: Instant,
    say: &(dyn Fn(&str) + Sync),
) -> Result<Submitted, Failure> {
    let label = target.label();
    let mut last = Failure::Other("no answer before the deadline".into());
    // When the refusals in a row began, and how many.
    let mut refused: Option<(Instant, u32)> = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(last);
        }
        let wait = left.as_secs().min(MAX_WAIT_SECS);
        let url = format!("{}/bt/add-entry?wait={wait}", target.url);
        let timeout = Duration::from_secs(wait + 15).min(left + Duration::from_secs(1));
        let started = Instant::now();
        let posted = fetch::post(&url, leaf.to_vec(), MAX_PROOF_BYTES, timeout);
        let pause = match posted {
            Err(e) if e.cause() == Some(Cause::ConnectionRefused) => {
                let (first, n) = refused.get_or_insert((started, 0));
                *n += 1;
                last = Failure::ConnectionRefused {
                    url: target.url.clone(),
                    over: first.elapsed(),
                    index: None,
                };
                if *n >= REFUSED_ATTEMPTS {
                    return Err(last);
                }
                REFUSED_PAUSE * 2u32.pow(*n - 1)
            }
            Err(e) => {
                refused = None;
                last = Failure::unreachable(&e, &target.url, started, None);
                RETRY_PAUSE
            }
            Ok(a) => {
                refused = None;
                match read_answer(
                    a.status,
                    &a.body,
                    a.retry_after,
                    leaf,
                    target,
                    trust,
                    now_secs(),
                ) {
                    Answer::Proof(p) => return Ok(Submitted::Proof(p)),
                    Answer::Index(i, why) => {
                        say(&format!("{label}: {why}"));
                        return Ok(Submitted::Index(i));
                    }
                    Answer::Retry(pause, why) => {
                        last = Failure::Other(format!("{url}: {why}"));
                        pause
                    }
                    Answer::Refused(why) => return Err(Failure::Other(format!("{url}: {why}"))),
                }
            }
        };
        if pause >= deadline.saturating_duration_since(Instant::now()) {
            return Err(last);
        }
        std::thread::sleep(pause);
    }
}

/// What a log's answer to `POST /bt/add-entry` means for the publish.
#[derive(Debug)]
pub enum Answer {
    /// A proof that passed [`check`], as it keeps it.
    Proof(TlogProof),
    /// The index the log gave the entry (a 202, or a 200 whose proof
    /// cannot be used yet), and what to say about it.
    Index(u64, String),
    /// Ask again after this long (429, 503).
    Retry(Duration, String),
    /// Refused for good.
    Refused(String),
}

/// Reads a log's answer (status, body, `Retry-After` in seconds) to the
/// submission of `leaf`: a pure function of what the log sent, so every
/// lie in it is checked here, and fuzzed (`publish_response`).
pub fn read_answer(
    status: u16,
    body: &[u8],
    retry_after: Option<u64>,
    leaf: &[u8],
    target: &Target,
    trust: &TrustPolicy,
    now: u64,
) -> Answer {
    let text = || String::from_utf8_lossy(body).trim().to_string();
    match status {
        200 => {
            let p = match TlogProof::parse(body) {
                Ok(p) => p,
                Err(e) => return Answer::Refused(format!("200: {e}")),
            };
            if p.extra.as_deref() != Some(leaf) {
                return Answer::Refused("200 with a proof for another entry".into());
            }
            match check(&p, leaf, target, trust, now) {
                Ok(kept) => Answer::Proof(kept),
                // A proof this publisher cannot use yet (its checkpoint
                // lacks a witness required here): the index stands; a
                // later checkpoint may do.
                Err(why) => Answer::Index(p.index, format!("index {}; {why}; waiting", p.index)),
            }
        }
        202 => match text().strip_prefix("index ").and_then(|n| n.parse().ok()) {
            Some(i) => Answer::Index(
                i,
                format!("accepted at index {i}; waiting for a cosigned checkpoint"),
            ),
            None => Answer::Refused(format!("202 without an index: {:?}", text())),
        },
        429 | 503 => Answer::Retry(
            Duration::from_secs(retry_after.unwrap_or(1).clamp(1, 3600)),
            format!("{status}: {}", text()),
        ),
        s => Answer::Refused(format!("refused ({s}): {}", text())),
    }
}

/// Waits for a checkpoint that meets the requirement and covers `index`,
/// then proves the entry there from the log's tiles: the leaf in its
/// bundle must be this entry, and every hash is authenticated against the
/// signed root. A log that refuses the connection (after the fetcher's
/// short retry) is given up on at once; one that is slow, or whose
/// witnesses have not cosigned, is waited for until the deadline.
fn poll(
    target: &Target,
    leaf: &[u8],
    index: u64,
    trust: &TrustPolicy,
    deadline: Instant,
    wait: Duration,
) -> Result<TlogProof, Failure> {
    let other = |why: String| Failure::Other(format!("entry at index {index}: {why}"));
    let log = Fetcher::new(&target.url)
        .map_err(|e| other(e.to_string()))?
        .with_deadline(deadline);
    let not_cosigned = |latest: Option<String>| Failure::NotCosigned {
        index,
        required: trust.quorum_text(),
        wait,
        latest,
    };
    // The log answered with an index, not a proof: no checkpoint meeting
    // the requirement covered the entry then.
    let mut last = not_cosigned(None);
    while Instant::now() < deadline {
        let started = Instant::now();
        last = match log.get("checkpoint", MAX_CHECKPOINT_BYTES) {
            Ok(Some(note)) => match checkpoint_ok(&note, target, trust, now_secs()) {
                Ok(sc) if sc.checkpoint.size > index => {
                    let tiles = SourceTiles(&log);
                    let proof = consistency::check_leaf(&sc.checkpoint, index, leaf, &tiles)
                        .map_err(other)?;
                    let p = TlogProof {
                        extra: Some(leaf.to_vec()),
                        index,
                        proof,
                        checkpoint: note,
                    };
                    return check(&p, leaf, target, trust, now_secs()).map_err(other);
                }
                Ok(sc) => not_cosigned(Some(format!(
                    "the latest that does has {} leaves",
                    sc.checkpoint.size
                ))),
                Err(NotMet::Witnesses { size, late, .. }) => not_cosigned(Some(format!(
                    "the log's latest, of size {size}, lacks them{late}"
                ))),
                Err(NotMet::Invalid(why)) => other(why),
            },
            Ok(None) => other(format!("{} is missing", log.describe("checkpoint"))),
            Err(e) => match Failure::unreachable(&e, &target.url, started, Some(index)) {
                down @ Failure::ConnectionRefused { .. } => return Err(down),
                f => f,
            },
        };
        if Instant::now() + POLL >= deadline {
            break;
        }
        std::thread::sleep(POLL);
    }
    Err(last)
}

#[cfg(test)]
#[path = "logs_tests.rs"]
mod tests;
