//! Why a log of a publish gave no verified proof, told apart by what the
//! publisher can do about it, and said so.

use std::time::{Duration, Instant};

use crate::fetch::{Cause, FetchError};

/// Why a log gave no verified proof, told apart by what the publisher can
/// do about it. Which one it is comes from the HTTP client's error types
/// ([`crate::fetch::Cause`]) and the verification, never from a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Nothing listens at the log's address: every attempt of a short
    /// retry (`over` long) was refused, and the log was given up on
    /// rather than waited for until `--wait`. `index`: where the log had
    /// put the entry before it went down.
    ConnectionRefused {
        url: String,
        over: Duration,
        index: Option<u64>,
    },
    /// No connection (`connected` false), or a connection and no whole
    /// answer, within `after`, until `--wait` ran out.
    TimedOut {
        url: String,
        connected: bool,
        after: Duration,
        index: Option<u64>,
    },
    /// The entry is in the log at `index`, but no checkpoint meeting the
    /// witness requirement (`required`) covered it within `--wait`;
    /// `latest`: what the last checkpoint read lacked.
    NotCosigned {
        index: u64,
        required: String,
        wait: Duration,
        latest: Option<String>,
    },
    /// Anything else, as it was found: the log refused the entry, answered
    /// with something that does not verify, or the proof could not be
    /// written.
    Other(String),
}

impl Failure {
    /// What a failure to reach the log at `url` at all means for the
    /// publisher: the request began at `started`; `index` is the entry's,
    /// once the log gave one.
    pub fn unreachable(e: &FetchError, url: &str, started: Instant, index: Option<u64>) -> Failure {
        let url = url.to_string();
        let after = started.elapsed();
        match e.cause() {
            Some(Cause::ConnectionRefused) => Failure::ConnectionRefused {
                url,
                over: after,
                index,
            },
            Some(Cause::ConnectTimedOut) => Failure::TimedOut {
                url,
                connected: false,
                after,
                index,
            },
            Some(Cause::AnswerTimedOut) => Failure::TimedOut {
                url,
                connected: true,
                after,
                index,
            },
            Some(Cause::Other) | None => Failure::Other(match index {
                Some(i) => format!("entry at index {i}: {e}"),
                None => e.to_string(),
            }),
        }
    }

    /// Its name in `--json` (`failure`).
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::ConnectionRefused { .. } => "connection_refused",
            Failure::TimedOut { .. } => "timed_out",
            Failure::NotCosigned { .. } => "not_cosigned",
            Failure::Other(_) => "error",
        }
    }

    /// The index the log gave the entry, when it gave one.
    pub fn index(&self) -> Option<u64> {
        match self {
            Failure::ConnectionRefused { index, .. } | Failure::TimedOut { index, .. } => *index,
            Failure::NotCosigned { index, .. } => Some(*index),
            Failure::Other(_) => None,
        }
    }
}

/// `6 s`, `1.8 s`.
fn secs(d: Duration) -> String {
    let tenths = format!("{:.1}", d.as_secs_f64());
    format!("{} s", tenths.strip_suffix(".0").unwrap_or(&tenths))
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = |index: &Option<u64>| match index {
            Some(i) => format!("; the entry is in the log at index {i}, its proof still to fetch"),
            None => String::new(),
        };
        match self {
            Failure::ConnectionRefused { url, over, index } => write!(
                f,
                "connection refused: nothing listens at {url} (every attempt for {}){}; \
                 the log is down or its URL is wrong — run the same command again once it is up",
                secs(*over),
                at(index)
            ),
            Failure::TimedOut {
                url,
                connected: true,
                after,
                index,
            } => write!(
                f,
                "timed out: {url} took the connection but sent no answer within {}{}; \
                 the log (or a proxy in front of it) is stuck or overloaded — run the same \
                 command again later, or with a longer --wait",
                secs(*after),
                at(index)
            ),
            Failure::TimedOut {
                url,
                connected: false,
                after,
                index,
            } => write!(
                f,
                "timed out: no connection to {url} within {}{}; the host does not answer \
                 (down, or packets dropped on the way) — run the same command again later",
                secs(*after),
                at(index)
            ),
            Failure::NotCosigned {
                index,
                required,
                wait,
                latest,
            } => {
                write!(
                    f,
                    "not cosigned in time: the entry is in the log at index {index}, but no \
                     checkpoint covering it met the witness requirement ({required}) within \
                     --wait {}",
                    secs(*wait)
                )?;
                if let Some(l) = latest {
                    write!(f, " ({l})")?;
                }
                write!(
                    f,
                    "; its witnesses have not cosigned it yet — run the same command again \
                     later to fetch its proof (the entry is not sent twice)"
                )
            }
            Failure::Other(why) => f.write_str(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every failure's message, whole: what happened, and what to do.
    #[test]
    fn each_failure_says_what_happened_and_what_to_do() {
        let url = "https://log.example".to_string();
        let rows = [
            (
                Failure::ConnectionRefused {
                    url: url.clone(),
                    over: Duration::from_millis(1760),
                    index: None,
                },
                "connection_refused",
                "connection refused: nothing listens at https://log.example (every attempt for 1.8 s); the log is down or its URL is wrong — run the same command again once it is up",
            ),
            (
                Failure::ConnectionRefused {
                    url: url.clone(),
                    over: Duration::from_millis(1400),
                    index: Some(7),
                },
                "connection_refused",
                "connection refused: nothing listens at https://log.example (every attempt for 1.4 s); the entry is in the log at index 7, its proof still to fetch; the log is down or its URL is wrong — run the same command again once it is up",
            ),
            (
                Failure::TimedOut {
                    url: url.clone(),
                    connected: true,
                    after: Duration::from_secs(16),
                    index: None,
                },
                "timed_out",
                "timed out: https://log.example took the connection but sent no answer within 16 s; the log (or a proxy in front of it) is stuck or overloaded — run the same command again later, or with a longer --wait",
            ),
            (
                Failure::TimedOut {
                    url,
                    connected: false,
                    after: Duration::from_secs(5),
                    index: None,
                },
                "timed_out",
                "timed out: no connection to https://log.example within 5 s; the host does not answer (down, or packets dropped on the way) — run the same command again later",
            ),
            (
                Failure::NotCosigned {
                    index: 0,
                    required: "w".into(),
                    wait: Duration::from_secs(120),
                    latest: Some("the log's latest, of size 1, lacks them".into()),
                },
                "not_cosigned",
                "not cosigned in time: the entry is in the log at index 0, but no checkpoint covering it met the witness requirement (w) within --wait 120 s (the log's latest, of size 1, lacks them); its witnesses have not cosigned it yet — run the same command again later to fetch its proof (the entry is not sent twice)",
            ),
            (
                Failure::Other("https://log.example/bt/add-entry?wait=10: refused (403): no".into()),
                "error",
                "https://log.example/bt/add-entry?wait=10: refused (403): no",
            ),
        ];
        for (f, kind, said) in rows {
            assert_eq!(f.kind(), kind);
            assert_eq!(f.to_string(), said);
        }
    }
}
