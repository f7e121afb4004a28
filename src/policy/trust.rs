//! C2SP `tlog-policy` parsing and quorum evaluation. Errors name the line: a
//! typo must never weaken a policy silently.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::log_id::LogId;
use crate::note::{PointCheck, VerifierKey, ALG_ED25519};

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("policy line {line}: {msg}")]
pub struct PolicyError {
    pub line: usize,
    pub msg: String,
}

/// A trusted log: its key (whose name is the origin) and optional URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSpec {
    pub origin: String,
    pub key: VerifierKey,
    pub url: Option<String>,
    /// Origin and key: what the log's saved state is keyed by.
    pub id: LogId,
    /// How reports name it: the origin, with the key ID when another
    /// listed log has the same origin.
    pub label: String,
}

/// A trusted witness, its key always in cosignature/v1 (0x04) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessSpec {
    pub name: String,
    pub key: VerifierKey,
    pub url: Option<String>,
}

/// A quorum rule: a witness, or a group needing `k` of its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quorum {
    None,
    Witness(usize),
    Group {
        name: String,
        k: usize,
        members: Vec<Quorum>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPolicy {
    pub logs: Vec<LogSpec>,
    pub witnesses: Vec<WitnessSpec>,
    pub quorum: Quorum,
}

/// Implementation limits (the spec recommends supporting at least 32 each).
pub const MAX_LOGS: usize = 256;
pub const MAX_WITNESSES: usize = 256;
pub const MAX_GROUPS: usize = 256;

fn parse_key(
    tok: &str,
    name_for_hex: &str,
    log: bool,
    check: PointCheck,
) -> Result<VerifierKey, String> {
    // Sigsum policies write raw hex Ed25519 keys; the log's origin is then
    // sigsum.org/v1/tree/<hex SHA-256 of the key>, a witness's name is its own.
    if tok.len() == 64 && tok.bytes().all(|b| b.is_ascii_hexdigit()) {
        let raw = hex::decode(tok).map_err(|e| e.to_string())?;
        let raw: [u8; 32] = raw.try_into().map_err(|_| "bad hex key".to_string())?;
        let key = check
            .key(raw)
            .ok_or_else(|| "not an Ed25519 key".to_string())?;
        let name = if log {
            format!("sigsum.org/v1/tree/{}", hex::encode(Sha256::digest(raw)))
        } else {
            name_for_hex.to_string()
        };
        return VerifierKey::from_ed25519(&name, ALG_ED25519, key).map_err(|e| e.to_string());
    }
    VerifierKey::parse_with(tok, check).map_err(|e| e.to_string())
}

impl TrustPolicy {
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        Self::parse_with(text, PointCheck::Now)
    }

    /// [`TrustPolicy::parse`], checking key points now or later.
    pub fn parse_with(text: &str, check: PointCheck) -> Result<Self, PolicyError> {
        let mut p = Lines {
            check,
            logs: vec![],
            witnesses: vec![],
            names: HashMap::new(),
            quorum: None,
            groups: 0,
            keys_seen: HashSet::new(),
        };
        for (i, raw) in text.split('\n').enumerate() {
            p.line(raw)
                .map_err(|msg| PolicyError { line: i + 1, msg })?;
        }
        let quorum = p.quorum.ok_or(PolicyError {
            line: text.split('\n').count(),
            msg: "no quorum line (write `quorum none` to require no witnesses)".into(),
        })?;
        let mut logs = p.logs;
        let origins: Vec<String> = logs.iter().map(|l| l.origin.clone()).collect();
        for l in &mut logs {
            let same = origins.iter().filter(|o| **o == l.origin).count();
            l.label = l.id.label(same > 1);
        }
        Ok(TrustPolicy {
            logs,
            witnesses: p.witnesses,
            quorum,
        })
    }

    /// Whether the witnesses at these positions of `self.witnesses` meet the quorum.
    /// The quorum in words: `none`, a witness name, or `k of (a, b, …)`.
    pub fn quorum_text(&self) -> String {
        fn text(q: &Quorum, w: &[WitnessSpec]) -> String {
            match q {
                Quorum::None => "none".into(),
                Quorum::Witness(i) => w.get(*i).map_or("?".into(), |w| w.name.clone()),
                Quorum::Group { name, k, members } => format!(
                    "{name}: {k} of ({})",
                    members
                        .iter()
                        .map(|m| text(m, w))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
        text(&self.quorum, &self.witnesses)
    }

    pub fn quorum_met(&self, cosigned: &HashSet<usize>) -> bool {
        fn met(q: &Quorum, c: &HashSet<usize>) -> bool {
            match q {
                Quorum::None => true,
                Quorum::Witness(i) => c.contains(i),
                Quorum::Group { k, members, .. } => {
                    members.iter().filter(|m| met(m, c)).count() >= *k
                }
            }
        }
        met(&self.quorum, cosigned)
    }

    /// The logs with this origin (more than one when their keys differ).
    pub fn logs_of<'a>(&'a self, origin: &'a str) -> impl Iterator<Item = &'a LogSpec> + 'a {
        self.logs.iter().filter(move |l| l.origin == origin)
    }

    /// Positions of the witnesses whose keys made these cosignatures.
    pub fn witness_positions<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a VerifierKey>,
    ) -> HashSet<usize> {
        keys.into_iter()
            .filter_map(|k| self.witnesses.iter().position(|w| w.key == *k))
            .collect()
    }
}

/// The state of a tlog-policy text read line by line: every name is
/// defined before it is used, and every key appears once.
struct Lines {
    check: PointCheck,
    logs: Vec<LogSpec>,
    witnesses: Vec<WitnessSpec>,
    names: HashMap<String, Quorum>,
    quorum: Option<Quorum>,
    groups: usize,
    keys_seen: HashSet<[u8; 32]>,
}

impl Lines {
    fn line(&mut self, raw: &str) -> Result<(), String> {
        if raw
            .bytes()
            .any(|b| b < 0x20 && b != b'\t' && b != b'\r' || b == 0x7f)
        {
            return Err("control character".into());
        }
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let toks: Vec<&str> = raw.split([' ', '\t']).filter(|t| !t.is_empty()).collect();
        match toks.first() {
            None => Ok(()),
            Some(kw) if kw.starts_with('#') => Ok(()),
            Some(&"log") => self.log(&toks),
            Some(&"witness") => self.witness(&toks),
            Some(&"group") => self.group(&toks),
            Some(&"quorum") => self.quorum(&toks),
            Some(other) => Err(format!("unknown keyword {other:?}")),
        }
    }

    fn new_key(&mut self, key: &VerifierKey) -> Result<(), String> {
        if !self.keys_seen.insert(*key.key.as_bytes()) {
            return Err("duplicate key".into());
        }
        Ok(())
    }

    fn new_name(&self, name: &str) -> Result<(), String> {
        if name == "none" || self.names.contains_key(name) {
            return Err(format!("name {name:?} is already defined"));
        }
        Ok(())
    }

    fn defined(&self, name: &str) -> Result<Quorum, String> {
        self.names
            .get(name)
            .cloned()
            .ok_or_else(|| format!("{name:?} is not defined on a line above"))
    }

    fn log(&mut self, toks: &[&str]) -> Result<(), String> {
        let ([_, vkey] | [_, vkey, _]) = toks else {
            return Err("expected: log <vkey> [<url>]".into());
        };
        let key = parse_key(vkey, "", true, self.check)?;
        if key.alg != ALG_ED25519 {
            return Err("a log key must be an Ed25519 (type 0x01) vkey".into());
        }
        self.new_key(&key)?;
        if self.logs.len() == MAX_LOGS {
            return Err(format!("more than {MAX_LOGS} logs"));
        }
        self.logs.push(LogSpec {
            origin: key.name.clone(),
            id: LogId::new(&key.name, &key),
            label: key.name.clone(),
            key,
            url: toks.get(2).map(|s| s.to_string()),
        });
        Ok(())
    }

    fn witness(&mut self, toks: &[&str]) -> Result<(), String> {
        let ([_, name, vkey] | [_, name, vkey, _]) = toks else {
            return Err("expected: witness <name> <vkey> [<url>]".into());
        };
        self.new_name(name)?;
        let key = parse_key(vkey, name, false, self.check)?.to_cosignature_key();
        self.new_key(&key)?;
        if self.witnesses.len() == MAX_WITNESSES {
            return Err(format!("more than {MAX_WITNESSES} witnesses"));
        }
        self.names
            .insert(name.to_string(), Quorum::Witness(self.witnesses.len()));
        self.witnesses.push(WitnessSpec {
            name: name.to_string(),
            key,
            url: toks.get(3).map(|s| s.to_string()),
        });
        Ok(())
    }

    fn group(&mut self, toks: &[&str]) -> Result<(), String> {
        let [_, name, threshold, member_names @ ..] = toks else {
            return Err("expected: group <name> all|any|<k> <name>...".into());
        };
        if member_names.is_empty() {
            return Err("expected: group <name> all|any|<k> <name>...".into());
        }
        self.new_name(name)?;
        let n = member_names.len();
        let k = match *threshold {
            "all" => n,
            "any" => 1,
            t => crate::tlog::checkpoint::parse_size(t)
                .and_then(|k| usize::try_from(k).ok())
                .filter(|k| (1..=n).contains(k))
                .ok_or_else(|| format!("threshold {t:?} must be all, any or 1..={n}"))?,
        };
        let mut seen = HashSet::new();
        let mut members = Vec::with_capacity(n);
        for m in member_names {
            if !seen.insert(*m) {
                return Err(format!("{m:?} is listed twice"));
            }
            members.push(self.defined(m)?);
        }
        self.groups += 1;
        if self.groups > MAX_GROUPS {
            return Err(format!("more than {MAX_GROUPS} groups"));
        }
        self.names.insert(
            name.to_string(),
            Quorum::Group {
                name: name.to_string(),
                k,
                members,
            },
        );
        Ok(())
    }

    fn quorum(&mut self, toks: &[&str]) -> Result<(), String> {
        let [_, name] = toks else {
            return Err("expected: quorum <name>".into());
        };
        if self.quorum.is_some() {
            return Err("a policy has exactly one quorum line".into());
        }
        self.quorum = Some(if *name == "none" {
            Quorum::None
        } else {
            self.defined(name)?
        });
        Ok(())
    }
}
