//! The verdict from every log's report (DESIGN §6 step 4): a pure
//! function of the policy and the reports, with the one mapping of
//! outcomes to bt-exec's exit code.

use super::exit;
use super::log::{LogOutcome, LogReport};
use crate::policy::Policy;

/// The exit code and the reason for `sha256`, from every log's report:
/// any misbehaving log is 123, whatever the others say; at least
/// `require.logs` proven (and `require.rebuilders` met) runs; otherwise
/// 124 when unreachable logs could have made up the difference, else 126.
pub fn combine(policy: &Policy, sha256: &[u8; 32], reports: &[LogReport]) -> (u8, String) {
    let need = policy.require.logs;
    let count = |f: fn(&LogOutcome) -> bool| reports.iter().filter(|r| f(&r.outcome)).count();
    let proven = count(|o| matches!(o, LogOutcome::Proven { .. }));
    let unreachable = count(|o| matches!(o, LogOutcome::Unreachable(_)));
    let hexh = hex::encode(sha256);
    let each = |f: fn(&LogOutcome) -> bool| -> Vec<String> {
        reports
            .iter()
            .filter(|r| f(&r.outcome))
            .map(|r| format!("{}: {}", r.label, r.outcome.message()))
            .collect()
    };
    let misbehaved = each(|o| matches!(o, LogOutcome::Misbehaved { .. }));
    if !misbehaved.is_empty() {
        return (
            exit::MISBEHAVIOUR,
            format!(
                "SECURITY ALERT: a log misbehaved — {}",
                misbehaved.join("; ")
            ),
        );
    }
    if proven >= need {
        return match rebuilders_missing(policy, reports) {
            None => (
                0,
                format!(
                    "sha256 {hexh} is proven in {proven} of {} log(s) (policy requires {need})",
                    reports.len()
                ),
            ),
            Some(why) => (
                exit::REFUSED,
                format!("sha256 {hexh} is proven in {proven} log(s), but {why}"),
            ),
        };
    }
    let why = each(|o| !matches!(o, LogOutcome::Proven { .. }));
    let code = if proven + unreachable >= need {
        exit::UNREACHABLE
    } else {
        exit::REFUSED
    };
    (
        code,
        format!(
            "sha256 {hexh} is proven in {proven} log(s), the policy requires {need}; {}{}",
            why.join("; "),
            hint(code, reports)
        ),
    )
}

/// What the user can do, from the exit code and the refusals' causes.
fn hint(code: u8, reports: &[LogReport]) -> String {
    if code == exit::UNREACHABLE {
        return "; check the network (or run once online to refresh the cache)".into();
    }
    let mut hints: Vec<&str> = reports
        .iter()
        .filter_map(|r| match &r.outcome {
            LogOutcome::Refused(c, _) => c.hint(),
            _ => None,
        })
        .collect();
    hints.dedup();
    if hints.is_empty() {
        String::new()
    } else {
        format!("; {}", hints.join("; "))
    }
}

/// The rebuilders (`[[rebuilder]]`) whose attestations some log proved,
/// in policy order.
pub fn attested(policy: &Policy, reports: &[LogReport]) -> Vec<String> {
    policy
        .rebuilders
        .iter()
        .map(|rb| rb.name.clone())
        .filter(|n| {
            reports
                .iter()
                .any(|r| matches!(r.outcome, LogOutcome::Proven { .. }) && r.attested.contains(n))
        })
        .collect()
}

/// Why `require.rebuilders` is not met, naming who attested and who is missing.
fn rebuilders_missing(policy: &Policy, reports: &[LogReport]) -> Option<String> {
    let need = policy.require.rebuilders;
    let have = attested(policy, reports);
    if have.len() >= need {
        return None;
    }
    let missing: Vec<&str> = policy
        .rebuilders
        .iter()
        .map(|r| r.name.as_str())
        .filter(|n| !have.iter().any(|h| h == n))
        .collect();
    Some(format!(
        "{} of the required {need} rebuilder attestation(s): attested by [{}], missing [{}] (require.rebuilders); ask a rebuilder to rebuild it from source and log it",
        have.len(),
        have.join(", "),
        missing.join(", ")
    ))
}
