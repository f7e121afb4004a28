//! The decision on one submitted entry, before it is sequenced: a pure
//! function of the body, the client's address, the time, the admission
//! file, the quota tables, the log's index of leaves (dedup over its whole
//! history) and the size of the pending pool. Each check names the attack
//! it stops; the order matters (cheap and unauthenticated first, and no
//! quota spent on what is refused or already logged).

use std::net::IpAddr;

use super::quota::{Table, MAX_ADDRESSES};
use super::{Admission, Refused};
use crate::entry::{Entry, MAX_LEAF_BYTES};
use crate::tlog::{leaf_hash, Hash};

/// Publisher keys tracked at most (the admission file lists the closed
/// ones; an open log may see many).
pub const MAX_KEYS: usize = 100_000;

/// The rolling-day counts of one log's server.
pub struct Quotas {
    pub keys: Table<[u8; 32]>,
    pub addresses: Table<IpAddr>,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            keys: Table::new(MAX_KEYS),
            addresses: Table::new(MAX_ADDRESSES),
        }
    }
}

/// What the log does with a submission.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// The same leaf is in the log already, at this index: answered with
    /// it, no quota spent, nothing appended.
    Known(u64),
    /// Admitted and counted: append it.
    Accept { leaf_hash: Hash },
    /// Refused: HTTP status, reason, `Retry-After` seconds.
    Refuse {
        status: u16,
        reason: String,
        retry_after: Option<u64>,
    },
}

fn refuse(status: u16, reason: impl Into<String>, retry_after: Option<u64>) -> Verdict {
    Verdict::Refuse {
        status,
        reason: reason.into(),
        retry_after,
    }
}

/// The state a decision reads besides the submission.
pub struct Context<'a> {
    pub admission: &'a Admission,
    /// The index of a leaf already logged or pending, by its leaf hash.
    pub index_of: &'a dyn Fn(&Hash) -> Option<u64>,
    /// Entries waiting for a checkpoint now.
    pub pending: u64,
}

/// The address a submission is counted against: an IPv4 address, or the
/// /64 an IPv6 address is in — one client holds a whole /64 and could
/// otherwise take a fresh address for every submission.
pub fn quota_address(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut o = v6.octets();
                o[8..].fill(0);
                IpAddr::V6(o.into())
            }
        },
        v4 => v4,
    }
}

/// Judges `body`, submitted from `addr` at `now` (seconds).
pub fn judge(body: &[u8], addr: IpAddr, now: u64, ctx: &Context, quotas: &mut Quotas) -> Verdict {
    // A body past a leaf's size is never read into a leaf.
    if body.len() > MAX_LEAF_BYTES {
        return refuse(
            413,
            format!("an entry is at most {MAX_LEAF_BYTES} bytes"),
            None,
        );
    }
    // Only the publisher's own signature makes an entry; anyone could
    // otherwise log releases in a publisher's name.
    let entry = match Entry::decode_verified(body) {
        Ok(e) => e,
        Err(e) => return refuse(400, e.to_string(), None),
    };
    // One encoding per entry: another encoding of the same statement would
    // be a second leaf for one release and escape dedup.
    if entry.encode() != body {
        return refuse(400, "not the canonical encoding of the entry", None);
    }
    // The same for the statement inside: its keys in another order, an
    // integer in a longer form, an indefinite-length string or a key this
    // log does not know would each be another leaf for one release.
    if entry.release.encode_statement().ok().as_deref() != Some(entry.statement()) {
        return refuse(
            400,
            "the statement is not the deterministic encoding of a release (keys out of order, a longer form, or a field this log does not know)",
            None,
        );
    }
    // A name that reads like another (a zero-width space, a right-to-left
    // override) would pass for a release it is not.
    let r = &entry.release;
    if [&r.name, &r.version, &r.platform]
        .iter()
        .any(|s| crate::entry::has_format_chars(s))
    {
        return refuse(
            400,
            "the name, version or platform holds an invisible formatting character",
            None,
        );
    }
    // A resubmission (a publisher retrying after a lost answer) gets the
    // index it has; it neither grows the log nor spends quota.
    let hash = leaf_hash(body);
    if let Some(i) = (ctx.index_of)(&hash) {
        return Verdict::Known(i);
    }
    // A stolen or rogue publisher key publishes only what its line grants.
    let name = &entry.release.name;
    let quota = match ctx.admission.admit(&entry.publisher, name) {
        Ok(q) => q,
        Err(r @ (Refused::KeyNotAdmitted | Refused::NameNotAllowed(_))) => {
            return refuse(403, r.to_string(), None)
        }
    };
    // Quotas: per key, so one key cannot bury the log; per address, so one
    // client cannot bury it with many keys of an open log.
    let key = *entry.publisher.as_bytes();
    if let Err(wait) = quotas.keys.check(&key, quota, now) {
        return refuse(
            429,
            format!("the publisher key's quota of {quota} a day is used up"),
            Some(wait),
        );
    }
    let per_address = ctx.admission.limits.address_quota;
    let addr = quota_address(addr);
    if let Err(wait) = quotas.addresses.check(&addr, per_address, now) {
        return refuse(
            429,
            format!("this address's quota of {per_address} a day is used up"),
            Some(wait),
        );
    }
    // A full pool: the sequencer is behind; come back shortly.
    if ctx.pending >= ctx.admission.limits.pending {
        return refuse(
            503,
            "too many entries are waiting for a checkpoint",
            Some(1),
        );
    }
    quotas.keys.record(&key, now);
    quotas.addresses.record(&addr, now);
    Verdict::Accept { leaf_hash: hash }
}

#[cfg(test)]
mod tests;
