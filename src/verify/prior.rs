//! `require.prior_revisions` (DESIGN §5): earlier releases of a name whose
//! bytes are still fetchable, so that what changed can be compared.

use std::sync::Arc;

use super::context::Context;
use super::exit;
use super::placed::Placed;
use crate::history::View;

/// At least `require.prior_revisions` releases of `r`'s name older than
/// `r` (in any checked log: [`Placed::newer_than`]) whose bytes one of
/// their `cas` URLs still serves (with `--offline`: was seen serving, in
/// any checked log's record). `views`: the checked logs' views.
pub(super) fn prior_revisions(
    ctx: &Context,
    r: &Placed,
    of_name: &[Placed],
    views: &[Arc<dyn View>],
) -> Result<(), (u8, String)> {
    let need = ctx.policy.require.prior_revisions;
    let mut older: Vec<&Placed> = of_name
        .iter()
        .filter(|n| n.sha256 != r.sha256 && r.newer_than(n))
        .collect();
    // The newest first: they are the ones worth comparing with.
    older.sort_by_key(|b| std::cmp::Reverse(b.published));
    let mut ok = 0u64;
    let mut unreachable = 0u64;
    let mut missing = vec![];
    for n in older {
        if ok >= need {
            break;
        }
        let at = n
            .first
            .first()
            .map(|(_, i)| format!(" (leaf {i})"))
            .unwrap_or_default();
        match fetchable(ctx, n, views) {
            Fetchable::Yes => ok += 1,
            Fetchable::No => missing.push(format!("{}{at}", n.version)),
            Fetchable::Unknown => {
                unreachable += 1;
                missing.push(format!(
                    "{}{at} (its cas URLs could not be reached)",
                    n.version
                ));
            }
        }
    }
    if ok >= need {
        return Ok(());
    }
    let gone = if missing.is_empty() {
        String::new()
    } else {
        format!(
            "; bytes not fetchable from their cas URLs: {}",
            missing.join(", ")
        )
    };
    // Releases whose CAS could not be reached might have made up the
    // difference: that is the network, not the history (124).
    let code = if ok + unreachable >= need {
        exit::UNREACHABLE
    } else {
        exit::REFUSED
    };
    Err((code, format!(
        "{} {} has {ok} earlier release(s) still fetchable in the logs checked, the policy requires {need} (require.prior_revisions){gone}",
        r.name, r.version
    )))
}

/// Whether an earlier release's bytes can be fetched.
enum Fetchable {
    Yes,
    /// Every `cas` URL answered that it does not serve them (or there is
    /// none).
    No,
    /// A `cas` URL could not be reached and no record says the bytes were
    /// served before.
    Unknown,
}

/// Whether `n`'s bytes are fetchable: online, a HEAD of a `cas` URL
/// (remembered in every view for later runs); when a URL cannot be
/// reached, and offline, whether they were seen served before.
///
/// Attack stopped: a network path (or an outage) that drops the requests
/// to a CAS turning `prior_revisions` into a refusal (126) of an honest
/// release, while `--offline` on the same machine runs it.
fn fetchable(ctx: &Context, n: &Placed, views: &[Arc<dyn View>]) -> Fetchable {
    let e = &n.entry.release;
    let seen_before = || views.iter().any(|v| v.available_since(&e.sha256).is_some());
    if ctx.offline {
        return if seen_before() {
            Fetchable::Yes
        } else {
            Fetchable::Unknown
        };
    }
    let mut transport_failed = false;
    for u in &e.cas {
        match crate::fetch::available(u, e.size, ctx.deadline) {
            Ok(true) => {
                for v in views {
                    // Read back when the CAS cannot be reached; failing to
                    // write it makes those runs stricter, never laxer.
                    let _ = v.record_available(&e.sha256, ctx.now);
                }
                return Fetchable::Yes;
            }
            Ok(false) => {}
            Err(_) => transport_failed = true,
        }
    }
    match (transport_failed, seen_before()) {
        (true, true) => Fetchable::Yes,
        (true, false) => Fetchable::Unknown,
        (false, _) => Fetchable::No,
    }
}
