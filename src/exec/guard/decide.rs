//! What the guard answers to one exec, from what it found out about the
//! file: a pure function of the mode and the [`Ground`], so every answer
//! is tested as a table (including the near-misses that must be denied).

use super::config::GuardMode;

/// What the guard found out about the file an exec opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ground {
    /// One of the guard's own executables (`bt-exec`, `bt-exec-full`,
    /// `bt-log` beside it): the way a user brings a program in must never
    /// be denied by what it brings programs in to.
    Own,
    /// Under an exempt prefix (the operating system's files), owned by
    /// root and writable by root alone, reached by the same inode.
    Exempt(String),
    /// Its SHA-256 is on `bt-exec guard snapshot`'s allow-list.
    AllowListed,
    /// Proven from the guard's state under its policy.
    Proven,
    /// Not proven from the guard's state.
    Unproven(Unproven),
    /// Its SHA-256 could not be had in time or at all (the why): too slow
    /// (the hash goes on in the background), unreadable, or changed while
    /// it was hashed.
    NoHash(String),
}

/// Why a file is not proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unproven {
    /// The verdict's exit code (123 a split view, 124 the state cannot
    /// meet the policy and no log could be asked, 126 refused).
    pub code: u8,
    /// The audit summary's name for why ([`crate::exec::audit::cause`]).
    pub cause: String,
    pub reason: String,
    /// Whether the guard proved these bytes before: they rest on the
    /// logs, so a split view now is a log lying about them.
    pub brought_in: bool,
}

/// What to record of an exec that was, or would have been, denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// `refused: <cause>` or `would refuse: <cause>` (the audit records'
    /// wording, [`crate::exec::audit::Record::verdict`]).
    pub verdict: String,
    pub code: u8,
    pub reason: String,
}

/// The guard's answer to one exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub allow: bool,
    /// Recorded (audit log, syslog, the guard's counters) when set.
    pub note: Option<Note>,
}

/// Decides one exec.
///
/// - Its own executables, exempt files, allow-listed and proven bytes are
///   allowed.
/// - Anything else is denied in `enforce` and allowed with a record in
///   `audit`: an exec the guard could not hash in time, or whose hash is
///   not proven (never brought in, one byte changed, a checkpoint too old
///   to meet `max_age` because the logs cannot be reached).
/// - Except a split view over bytes the guard proved before: denied in
///   both modes. Attack stopped: a log operator who forks the log cannot
///   use a machine still in audit mode to run the release they forked,
///   as the CLI's audit mode never downgrades 123 to a warning.
pub fn answer(mode: GuardMode, ground: &Ground) -> Answer {
    let allow = Answer {
        allow: true,
        note: None,
    };
    let (code, cause, reason, forked) = match ground {
        Ground::Own | Ground::Exempt(_) | Ground::AllowListed | Ground::Proven => return allow,
        Ground::Unproven(u) => (
            u.code,
            u.cause.as_str(),
            u.reason.clone(),
            u.brought_in && u.code == crate::verify::exit::MISBEHAVIOUR,
        ),
        Ground::NoHash(why) => (
            crate::verify::exit::REFUSED,
            "not hashed",
            why.clone(),
            false,
        ),
    };
    let enforced = mode == GuardMode::Enforce || forked;
    Answer {
        allow: !enforced,
        note: Some(Note {
            verdict: if enforced {
                format!("refused: {cause}")
            } else {
                format!("would refuse: {cause}")
            },
            code,
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::exit;

    fn unproven(code: u8, brought_in: bool) -> Ground {
        Ground::Unproven(Unproven {
            code,
            cause: "not proven".into(),
            reason: "why".into(),
            brought_in,
        })
    }

    /// Allowed in both modes, and nothing recorded.
    #[test]
    fn what_is_allowed_is_allowed_in_both_modes_without_a_record() {
        for g in [
            Ground::Own,
            Ground::Exempt("/usr".into()),
            Ground::AllowListed,
            Ground::Proven,
        ] {
            for mode in [GuardMode::Enforce, GuardMode::Audit] {
                assert_eq!(
                    answer(mode, &g),
                    Answer {
                        allow: true,
                        note: None
                    },
                    "{g:?} {mode:?}"
                );
            }
        }
    }

    /// The near-misses: every way of not being proven is denied in
    /// enforce and recorded; audit allows each with a record — but a
    /// split view over bytes brought in is denied there too.
    #[test]
    fn the_near_misses_are_denied_in_enforce_and_recorded_in_audit() {
        let cases = [
            (unproven(exit::REFUSED, false), false),
            (unproven(exit::REFUSED, true), false),
            (unproven(exit::UNREACHABLE, true), false),
            (unproven(exit::MISBEHAVIOUR, false), false),
            (unproven(exit::MISBEHAVIOUR, true), true),
            (Ground::NoHash("took longer than 2s".into()), false),
        ];
        for (g, denied_in_audit) in cases {
            let e = answer(GuardMode::Enforce, &g);
            assert!(!e.allow, "{g:?}");
            let note = e.note.expect("a denial is recorded");
            assert!(note.verdict.starts_with("refused: "), "{note:?}");
            let a = answer(GuardMode::Audit, &g);
            assert_eq!(a.allow, !denied_in_audit, "{g:?}");
            let note = a.note.expect("audit records it");
            let want = if denied_in_audit {
                "refused: "
            } else {
                "would refuse: "
            };
            assert!(note.verdict.starts_with(want), "{note:?}");
        }
    }
}
