//! A log that accepts releases over the network: `bt-log serve --accept
//! FILE`. This module is the admission file: who may submit, pure — the
//! file's text in, and for each submission's publisher key and release
//! name, its daily quota or why it is refused. [`submit`] judges one
//! submission, [`service`] sequences and integrates them, the log's
//! submission queue ([`crate::log::queue`]) makes them durable, [`http`] is
//! `POST /bt/add-entry`.
//!
//! ```toml
//! [[publisher]]                     # a key admitted for some names
//! key = "example.org+1a2b3c4d+AV…"  # as bt-log keygen writes it (or base64 of 32 bytes)
//! names = ["example.org/*"]         # example.org/* matches every name under example.org/
//! quota = 1000                      # entries per rolling 24 h [default: limits.key_quota]
//!
//! [open]                            # any other key, for these names
//! names = ["*"]                     # "*" alone: every name
//! quota = 10
//!
//! [limits]
//! key_quota = 10000                 # default quota of a [[publisher]]
//! address_quota = 100000            # entries per client address per 24 h
//! pending = 65536                   # entries waiting for a checkpoint before 503
//! ```
//!
//! Strict like bt-exec's policy: an unknown field, a key that is not an
//! Ed25519 point, a key listed twice, an empty `names` or a pattern
//! that is neither a name nor `prefix/*` is an error naming it. The
//! attack each rule stops: a stolen or rogue publisher key may submit only
//! the names its line grants (403 otherwise), and only its quota a day, so
//! it can neither publish for another project nor bury the log.

pub mod http;
pub mod quota;
pub mod service;
pub mod submit;

use std::path::Path;

use serde::Deserialize;

use crate::note::{parse_public_key, PublicKey};
use crate::policy::Publisher;

/// The admission file is read up to this many bytes.
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// Why an admission file is refused.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {why}")]
pub struct AdmissionError {
    pub path: String,
    pub why: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    publisher: Vec<RawPublisher>,
    open: Option<RawOpen>,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPublisher {
    key: String,
    names: Vec<String>,
    quota: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOpen {
    names: Vec<String>,
    quota: u64,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    key_quota: Option<u64>,
    address_quota: Option<u64>,
    pending: Option<u64>,
}

/// The limits that apply to every submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub key_quota: u64,
    pub address_quota: u64,
    pub pending: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            key_quota: 10_000,
            address_quota: 100_000,
            pending: 65_536,
        }
    }
}

/// A parsed admission file.
#[derive(Debug, Clone)]
pub struct Admission {
    publishers: Vec<(Publisher, u64)>,
    open: Option<(Vec<String>, u64)>,
    pub limits: Limits,
}

/// Why a submission's publisher may not submit it (HTTP 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the publisher key is not admitted by this log")]
    KeyNotAdmitted,
    #[error("the publisher key may not submit {0:?} to this log")]
    NameNotAllowed(String),
}

/// A pattern is a name, or `prefix/*`.
fn valid_pattern(p: &str) -> bool {
    let name = p.strip_suffix("/*").unwrap_or(p);
    !name.is_empty() && !name.contains('*') && !name.contains(char::is_whitespace)
}

impl Admission {
    /// Reads and parses the admission file at `path`.
    pub fn load(path: &Path) -> Result<Self, AdmissionError> {
        let bad = |why: String| AdmissionError {
            path: path.display().to_string(),
            why,
        };
        let bytes =
            crate::fsutil::read_capped(path, MAX_FILE_BYTES).map_err(|e| bad(e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
        Self::parse(&text).map_err(bad)
    }

    /// Parses an admission file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: RawFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let d = Limits::default();
        let limits = Limits {
            key_quota: raw.limits.key_quota.unwrap_or(d.key_quota),
            address_quota: raw.limits.address_quota.unwrap_or(d.address_quota),
            pending: raw.limits.pending.unwrap_or(d.pending),
        };
        if limits.pending == 0 {
            return Err("limits.pending must be at least 1".into());
        }
        let mut publishers: Vec<(Publisher, u64)> = Vec::new();
        for (i, p) in raw.publisher.iter().enumerate() {
            let n = i + 1;
            let key = parse_public_key(&p.key).map_err(|e| format!("publisher {n}: {e}"))?;
            if publishers
                .iter()
                .any(|(q, _)| q.key.as_bytes() == key.as_bytes())
            {
                return Err(format!("publisher {n}: key {:?} is listed twice", p.key));
            }
            check_names(&p.names, false).map_err(|e| format!("publisher {n}: {e}"))?;
            let publisher = Publisher {
                names: p.names.clone(),
                key,
            };
            publishers.push((publisher, p.quota.unwrap_or(limits.key_quota)));
        }
        let open = match raw.open {
            Some(o) => {
                check_names(&o.names, true).map_err(|e| format!("open: {e}"))?;
                Some((o.names, o.quota))
            }
            None => None,
        };
        if publishers.is_empty() && open.is_none() {
            return Err("admits nobody: give a [[publisher]] or an [open] section".into());
        }
        Ok(Admission {
            publishers,
            open,
            limits,
        })
    }

    /// The quota (entries per rolling 24 h) of `key` submitting `name`, or
    /// why it may not. A listed key gets its own line's answer, never the
    /// open section's: a key admitted for its names is not also open for
    /// others'.
    pub fn admit(&self, key: &PublicKey, name: &str) -> Result<u64, Refused> {
        if let Some((p, quota)) = self
            .publishers
            .iter()
            .find(|(p, _)| p.key.as_bytes() == key.as_bytes())
        {
            return if p.may_publish(name) {
                Ok(*quota)
            } else {
                Err(Refused::NameNotAllowed(name.to_string()))
            };
        }
        match &self.open {
            None => Err(Refused::KeyNotAdmitted),
            Some((names, quota)) => {
                let any = names.iter().any(|n| n == "*");
                let open = Publisher {
                    names: names.clone(),
                    key: key.clone(),
                };
                if any || open.may_publish(name) {
                    Ok(*quota)
                } else {
                    Err(Refused::NameNotAllowed(name.to_string()))
                }
            }
        }
    }
}

fn check_names(names: &[String], star: bool) -> Result<(), String> {
    if names.is_empty() {
        return Err("names is empty".into());
    }
    match names
        .iter()
        .find(|n| !(valid_pattern(n) || (star && *n == "*")))
    {
        Some(n) => Err(format!("{n:?} is neither a name nor prefix/*")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
