//! Which logs the witness cosigns: the `--log VKEY` ones, at the default
//! rate, and those of its `--log-list` sources (files or URLs of
//! `logs/v0` lists, src/witness/loglist.rs), read again periodically and on
//! SIGHUP. A source that cannot be read or parsed keeps the list it had
//! (a list is parsed as the network's own validator reads it, so a list
//! that validator accepts is never refused here: refusing it would keep
//! cosigning a log the new list dropped). The set is
//! rebuilt by [`merge`], a pure function; the server swaps it in at once,
//! and requests already in flight finish under the set they started with.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::note::VerifierKey;

use super::loglist::{self, LogList, MAX_LIST_BYTES};

/// A log the witness cosigns now.
#[derive(Clone, Debug, PartialEq)]
pub struct Known {
    pub key: VerifierKey,
    /// Add-checkpoint requests per day.
    pub qpd: f64,
}

/// Origin → log.
pub type LogSet = HashMap<String, Known>;

/// Where a list is read from.
#[derive(Clone, Debug)]
pub enum Source {
    File(PathBuf),
    Url(String),
}

impl Source {
    /// `http(s)://…` is a URL, anything else a file path.
    pub fn parse(s: &str) -> Source {
        if s.starts_with("http://") || s.starts_with("https://") {
            Source::Url(s.to_string())
        } else {
            Source::File(PathBuf::from(s))
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Url(u) => u.clone(),
        }
    }

    /// The list's text: capped, and within the client's deadlines.
    pub async fn read(&self, client: &reqwest::Client) -> Result<String, String> {
        let bytes = match self {
            Source::File(p) => {
                let p = p.clone();
                tokio::task::spawn_blocking(move || crate::fsutil::read_capped(&p, MAX_LIST_BYTES))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?
            }
            Source::Url(u) => {
                let resp = client.get(u).send().await.map_err(|e| chain(&e))?;
                if resp.status().as_u16() != 200 {
                    return Err(format!("HTTP status {}", resp.status().as_u16()));
                }
                crate::fetch::read_capped(u, resp, MAX_LIST_BYTES)
                    .await
                    .map_err(|e| e.to_string())?
            }
        };
        String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
    }
}

/// The list a source's text gives, or why there is none.
pub fn update(read: Result<String, String>) -> Result<LogList, String> {
    loglist::parse(&read?).map_err(|e| e.to_string())
}

/// An error with its causes ("error sending request: … operation timed
/// out"): reqwest's own message names none.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// The set of logs: `--log` keys at `default_qpd`, then each list in
/// order. A log in several lists with one key gets the highest rate any
/// grants; an origin another source already gave a different key keeps
/// that key (the first source wins) and is named in the warnings.
pub fn merge(
    cli: &[VerifierKey],
    default_qpd: f64,
    lists: &[(String, &LogList)],
) -> (LogSet, Vec<String>) {
    let mut set = LogSet::new();
    let mut from: HashMap<String, String> = HashMap::new();
    let mut warnings = Vec::new();
    for k in cli {
        set.entry(k.name.clone()).or_insert(Known {
            key: k.clone(),
            qpd: default_qpd,
        });
        from.entry(k.name.clone()).or_insert("--log".into());
    }
    for (source, list) in lists {
        for l in &list.logs {
            match set.get_mut(&l.origin) {
                None => {
                    set.insert(
                        l.origin.clone(),
                        Known {
                            key: l.key.clone(),
                            qpd: l.qpd,
                        },
                    );
                    from.insert(l.origin.clone(), format!("{source} line {}", l.line));
                }
                Some(k) if k.key == l.key => k.qpd = k.qpd.max(l.qpd),
                Some(_) => warnings.push(format!(
                    "{source} line {}: {} has another key than in {}; that one is kept",
                    l.line,
                    l.origin,
                    from.get(&l.origin).map_or("another source", String::as_str)
                )),
            }
        }
    }
    (set, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::SecretKey;

    fn key(name: &str, seed: u8) -> VerifierKey {
        SecretKey::from_seed(name, [seed; 32]).unwrap().verifier()
    }

    fn list(text: &str) -> LogList {
        loglist::parse(text).unwrap()
    }

    #[test]
    fn merging_sources() {
        let (a, b, b2) = (
            key("a.example", 1),
            key("b.example", 2),
            key("b.example", 3),
        );
        let l1 = list(&format!("logs/v0\n\nvkey {b}\nqpd 10\n\nvkey {a}\nqpd 5\n"));
        let l2 = list(&format!(
            "logs/v0\n\nvkey {b}\nqpd 20\n\nvkey {b2}\norigin x\nqpd 1\n"
        ));
        let l3 = list(&format!("logs/v0\n\nvkey {b2}\nqpd 99\n"));
        let (set, warnings) = merge(
            std::slice::from_ref(&a),
            7.0,
            &[
                ("one".into(), &l1),
                ("two".into(), &l2),
                ("three".into(), &l3),
            ],
        );
        assert_eq!(set.len(), 3);
        assert_eq!(set["a.example"].qpd, 7.0, "--log first, at the default");
        assert_eq!(set["b.example"].qpd, 20.0, "the highest grant");
        assert_eq!(set["b.example"].key, b);
        assert_eq!(set["x"].key, b2, "an origin line names the log");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("three line 3: b.example"),
            "{warnings:?}"
        );
        assert!(warnings[0].contains("one line 3"), "{warnings:?}");
    }

    #[test]
    fn a_failed_read_or_a_malformed_list_is_an_error() {
        let a = key("a.example", 1);
        assert_eq!(update(Err("timed out".into())), Err("timed out".into()));
        let bad = update(Ok("logs/v0\n\nqpd 1\ncontact x\n".into())).unwrap_err();
        assert!(bad.starts_with("line 3:"), "{bad}");
        let r = update(Ok(format!("logs/v0\nrevision 4\n\nvkey {a}\nqpd 2\n"))).unwrap();
        assert_eq!((r.revision, r.logs[0].qpd), (Some(4), 2.0));
    }
}
