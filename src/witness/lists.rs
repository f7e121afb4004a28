//! Which logs the witness cosigns: the `--log VKEY` ones, at the default
//! rate, and those of its `--log-list` sources (files or URLs of
//! `logs/v0` lists, src/witness/loglist.rs), read again periodically and on
//! SIGHUP. A source that cannot be read or parsed keeps the list it had,
//! and a list whose `revision` is lower than the one in force is refused
//! (a mirror or cache serving an old list must not drop logs). The set is
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
                let resp = client.get(u).send().await.map_err(|e| e.to_string())?;
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

/// What reading one source again did to the list in force for it.
pub fn update(previous: Option<&LogList>, read: Result<String, String>) -> Result<LogList, String> {
    let text = read?;
    let list = loglist::parse(&text).map_err(|e| e.to_string())?;
    if let (Some(old), Some(new)) = (previous.and_then(|p| p.revision), list.revision) {
        if new < old {
            return Err(format!(
                "revision {new} is older than revision {old}, in force"
            ));
        }
    }
    Ok(list)
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
    fn a_failed_read_or_an_older_revision_keeps_the_list_in_force() {
        let a = key("a.example", 1);
        let r5 = list(&format!("logs/v0\nrevision 5\n\nvkey {a}\nqpd 1\n"));
        assert_eq!(
            update(Some(&r5), Err("timed out".into())),
            Err("timed out".into())
        );
        let older = format!("logs/v0\nrevision 4\n\nvkey {a}\nqpd 1\n");
        assert!(update(Some(&r5), Ok(older.clone()))
            .unwrap_err()
            .contains("older"));
        assert!(update(None, Ok(older)).is_ok());
        let bad = update(Some(&r5), Ok("logs/v0\n\nqpd 1\n".into())).unwrap_err();
        assert!(bad.starts_with("line 3:"), "{bad}");
        let unnumbered = format!("logs/v0\n\nvkey {a}\nqpd 2\n");
        assert_eq!(update(Some(&r5), Ok(unnumbered)).unwrap().logs[0].qpd, 2.0);
    }
}
