//! The decision of a C2SP tlog-witness on one add-checkpoint request: a
//! pure function of the request, the log's key and the latest checkpoint
//! cosigned for its origin ([`authenticate`], then [`decide`]). The server
//! around it (src/witness/server.rs) serialises requests per log, applies
//! the log's rate between the two steps, and persists before it answers.

use std::collections::HashMap;
use std::time::Duration;

use crate::note::VerifierKey;
use crate::tlog::checkpoint::{parse_hash, parse_size};
use crate::tlog::{
    empty_root, verify_consistency, Checkpoint, Hash, SignedCheckpoint, TlogError,
    MAX_CHECKPOINT_BYTES, MAX_PROOF_HASHES,
};

/// A request body is read up to this many bytes.
pub const MAX_REQUEST_BYTES: usize = MAX_CHECKPOINT_BYTES + 64 * 64;
/// A client has this long to send its request and get its answer.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

/// What the witness decided about one request.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Cosign this checkpoint (and persist it as the latest).
    Cosign(Checkpoint),
    /// HTTP status and message of a refusal; 409 carries our size.
    Refuse(u16, String),
}

/// A request whose checkpoint the log's key signed.
#[derive(Debug)]
pub struct Signed {
    pub old: u64,
    pub proof: Vec<Hash>,
    pub checkpoint: SignedCheckpoint,
}

/// The pure decision of tlog-witness add-checkpoint, for tests and tools:
/// [`authenticate`] then [`decide`].
pub fn check(
    body: &[u8],
    logs: &HashMap<String, VerifierKey>,
    latest: impl Fn(&str) -> Option<Checkpoint>,
) -> Decision {
    match authenticate(body, |o| logs.get(o).cloned()) {
        Ok(req) => decide(&req, latest(&req.checkpoint.checkpoint.origin).as_ref()),
        Err(d) => d,
    }
}

/// The origin a request names (the first line of its checkpoint), before
/// anything is verified.
pub fn origin_of(body: &[u8]) -> &str {
    split_body(body)
        .and_then(|(_, n)| n.split(|&b| b == b'\n').next())
        .and_then(|o| std::str::from_utf8(o).ok())
        .unwrap_or("")
}

/// Parses a request and verifies its checkpoint against the key `key_of`
/// gives for its origin: 400 malformed, 404 a log this witness does not
/// cosign, 403 not signed by that log's key.
pub fn authenticate(
    body: &[u8],
    key_of: impl Fn(&str) -> Option<VerifierKey>,
) -> Result<Signed, Decision> {
    let refuse = |code: u16, msg: &str| Decision::Refuse(code, msg.to_string());
    let Some((head, note_bytes)) = split_body(body) else {
        return Err(refuse(
            400,
            "malformed request: expected old size, proof lines, empty line, checkpoint",
        ));
    };
    let Some((old, proof)) = parse_head(head) else {
        return Err(refuse(400, "malformed old size or consistency proof lines"));
    };
    let origin = origin_of(body);
    let Some(key) = key_of(origin) else {
        return Err(refuse(404, "unknown log origin"));
    };
    let checkpoint = match SignedCheckpoint::verify(note_bytes, origin, &key, &[]) {
        Ok(sc) => sc,
        Err(TlogError::BadCheckpoint(m)) => {
            return Err(refuse(400, &format!("malformed checkpoint: {m}")))
        }
        Err(e) => return Err(refuse(403, &format!("checkpoint signature: {e}"))),
    };
    Ok(Signed {
        old,
        proof,
        checkpoint,
    })
}

/// Whether to cosign a signed request, given the latest checkpoint this
/// witness cosigned for the log (`None`: never). This is where a witness
/// stops a log's fork (same size, other root; or no consistency proof)
/// and rollback (a size below the one cosigned: 409 with ours).
pub fn decide(req: &Signed, prev: Option<&Checkpoint>) -> Decision {
    let refuse = |code: u16, msg: &str| Decision::Refuse(code, msg.to_string());
    let (old, proof, cp) = (req.old, &req.proof, &req.checkpoint.checkpoint);
    if old > cp.size {
        return refuse(400, "old size is larger than the checkpoint size");
    }
    let (prev_size, prev_root) = prev.map_or((0, empty_root()), |p| (p.size, p.root));
    if old != prev_size {
        return Decision::Refuse(409, format!("{prev_size}\n"));
    }
    if cp.size == 0 && cp.root != empty_root() {
        return refuse(422, "a checkpoint of size 0 must have the empty root");
    }
    if old == 0 {
        if !proof.is_empty() {
            return refuse(422, "the proof must be empty from size 0");
        }
    } else if old == cp.size {
        if !proof.is_empty() {
            return refuse(400, "a consistency proof between equal sizes must be empty");
        }
        if cp.root != prev_root {
            return refuse(422, "same size, different root hash: the log has forked");
        }
    } else if verify_consistency(old, prev_root, cp.size, cp.root, proof).is_err() {
        return refuse(422, "consistency proof does not verify");
    }
    Decision::Cosign(cp.clone())
}

fn split_body(body: &[u8]) -> Option<(&str, &[u8])> {
    let at = body.windows(2).position(|w| w == b"\n\n")?;
    let head = std::str::from_utf8(body.get(..at)?).ok()?;
    Some((head, body.get(at + 2..)?))
}

fn parse_head(head: &str) -> Option<(u64, Vec<Hash>)> {
    let mut lines = head.split('\n');
    let old = parse_size(lines.next()?.strip_prefix("old ")?)?;
    let proof: Vec<Hash> = lines.map(parse_hash).collect::<Option<_>>()?;
    (proof.len() <= MAX_PROOF_HASHES).then_some((old, proof))
}
