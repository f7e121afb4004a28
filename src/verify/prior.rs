//! `require.prior_revisions` (DESIGN §5): earlier releases of a name whose
//! bytes are still fetchable, so that what changed can be compared.

use std::sync::Arc;

use super::releases::Placed;
use super::{exit, Context};
use crate::history::View;

/// At least `require.prior_revisions` releases of `r`'s name older than
/// `r` (in any checked log: [`Placed::newer_than`]) whose bytes one of
/// their `cas` URLs still serves (with `--offline`: was seen serving, in
/// any checked log's record). `views`: the checked logs (label, view).
pub(super) fn prior_revisions(
    ctx: &Context,
    r: &Placed,
    of_name: &[Placed],
    views: &[(String, Arc<dyn View>)],
) -> Result<(), (u8, String)> {
    let need = ctx.policy.require.prior_revisions;
    let mut older: Vec<&Placed> = of_name
        .iter()
        .filter(|n| n.sha256 != r.sha256 && r.newer_than(n))
        .collect();
    // The newest first: they are the ones worth comparing with.
    older.sort_by_key(|b| std::cmp::Reverse(b.published));
    let mut ok = 0u64;
    let mut missing = vec![];
    for n in older {
        if ok >= need {
            break;
        }
        if fetchable(ctx, n, views) {
            ok += 1;
        } else {
            let at = n
                .first
                .first()
                .map(|(_, i)| format!(" (leaf {i})"))
                .unwrap_or_default();
            missing.push(format!("{}{at}", n.version));
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
    Err((exit::REFUSED, format!(
        "{} {} has {ok} earlier release(s) still fetchable in the logs checked, the policy requires {need} (require.prior_revisions){gone}",
        r.name, r.version
    )))
}

/// Whether `n`'s bytes are fetchable now (online: a HEAD of a `cas` URL,
/// remembered in every view for `--offline` runs), or were seen so before
/// (offline).
fn fetchable(ctx: &Context, n: &Placed, views: &[(String, Arc<dyn View>)]) -> bool {
    let e = &n.entry.release;
    if ctx.offline {
        return views
            .iter()
            .any(|(_, v)| v.available_since(&e.sha256).is_some());
    }
    let ok = e
        .cas
        .iter()
        .any(|u| crate::fetch::available(u, e.size, ctx.deadline).unwrap_or(false));
    if ok {
        for (_, v) in views {
            // Only `--offline` runs read this back; failing to write it
            // makes them stricter, never laxer.
            let _ = v.record_available(&e.sha256, ctx.now);
        }
    }
    ok
}
