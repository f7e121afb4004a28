//! C2SP `tlog-policy` parsing and quorum evaluation. Errors name the line: a
//! typo must never weaken a policy silently.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

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
        let mut logs: Vec<LogSpec> = Vec::new();
        let mut witnesses: Vec<WitnessSpec> = Vec::new();
        let mut names: HashMap<String, Quorum> = HashMap::new();
        let mut quorum: Option<Quorum> = None;
        let mut groups = 0usize;
        let mut keys_seen: HashSet<[u8; 32]> = HashSet::new();
        for (i, raw) in text.split('\n').enumerate() {
            let line = i + 1;
            let err = |msg: String| PolicyError { line, msg };
            if raw
                .bytes()
                .any(|b| b < 0x20 && b != b'\t' && b != b'\r' || b == 0x7f)
            {
                return Err(err("control character".into()));
            }
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let toks: Vec<&str> = raw.split([' ', '\t']).filter(|t| !t.is_empty()).collect();
            let Some(&kw) = toks.first() else { continue };
            if kw.starts_with('#') {
                continue;
            }
            match kw {
                "log" => {
                    if !(2..=3).contains(&toks.len()) {
                        return Err(err("expected: log <vkey> [<url>]".into()));
                    }
                    let key = parse_key(toks[1], "", true, check).map_err(err)?;
                    if key.alg != ALG_ED25519 {
                        return Err(err("a log key must be an Ed25519 (type 0x01) vkey".into()));
                    }
                    if !keys_seen.insert(*key.key.as_bytes()) {
                        return Err(err("duplicate key".into()));
                    }
                    // Until the local state is keyed by the log's key as well
                    // as its origin, two logs of one origin would share
                    // cached proofs, and a program in one would count as
                    // proven in the other (`logs = 2` met by one log).
                    if logs.iter().any(|l: &LogSpec| l.origin == key.name) {
                        return Err(err(format!(
                            "a second log with origin {:?}: bt-exec keeps its state per origin, so two logs of one origin are refused; list each origin once",
                            key.name
                        )));
                    }
                    if logs.len() == MAX_LOGS {
                        return Err(err(format!("more than {MAX_LOGS} logs")));
                    }
                    logs.push(LogSpec {
                        origin: key.name.clone(),
                        key,
                        url: toks.get(2).map(|s| s.to_string()),
                    });
                }
                "witness" => {
                    if !(3..=4).contains(&toks.len()) {
                        return Err(err("expected: witness <name> <vkey> [<url>]".into()));
                    }
                    let name = toks[1];
                    if name == "none" || names.contains_key(name) {
                        return Err(err(format!("name {name:?} is already defined")));
                    }
                    let key = parse_key(toks[2], name, false, check)
                        .map_err(err)?
                        .to_cosignature_key();
                    if !keys_seen.insert(*key.key.as_bytes()) {
                        return Err(err("duplicate key".into()));
                    }
                    if witnesses.len() == MAX_WITNESSES {
                        return Err(err(format!("more than {MAX_WITNESSES} witnesses")));
                    }
                    names.insert(name.to_string(), Quorum::Witness(witnesses.len()));
                    witnesses.push(WitnessSpec {
                        name: name.to_string(),
                        key,
                        url: toks.get(3).map(|s| s.to_string()),
                    });
                }
                "group" => {
                    if toks.len() < 4 {
                        return Err(err("expected: group <name> all|any|<k> <name>...".into()));
                    }
                    let name = toks[1];
                    if name == "none" || names.contains_key(name) {
                        return Err(err(format!("name {name:?} is already defined")));
                    }
                    let member_names = &toks[3..];
                    let n = member_names.len();
                    let k = match toks[2] {
                        "all" => n,
                        "any" => 1,
                        t => crate::tlog::checkpoint::parse_size(t)
                            .and_then(|k| usize::try_from(k).ok())
                            .filter(|k| (1..=n).contains(k))
                            .ok_or_else(|| {
                                err(format!("threshold {t:?} must be all, any or 1..={n}"))
                            })?,
                    };
                    let mut seen = HashSet::new();
                    let mut members = Vec::with_capacity(n);
                    for m in member_names {
                        if !seen.insert(*m) {
                            return Err(err(format!("{m:?} is listed twice")));
                        }
                        members.push(
                            names.get(*m).cloned().ok_or_else(|| {
                                err(format!("{m:?} is not defined on a line above"))
                            })?,
                        );
                    }
                    groups += 1;
                    if groups > MAX_GROUPS {
                        return Err(err(format!("more than {MAX_GROUPS} groups")));
                    }
                    names.insert(
                        name.to_string(),
                        Quorum::Group {
                            name: name.to_string(),
                            k,
                            members,
                        },
                    );
                }
                "quorum" => {
                    if toks.len() != 2 {
                        return Err(err("expected: quorum <name>".into()));
                    }
                    if quorum.is_some() {
                        return Err(err("a policy has exactly one quorum line".into()));
                    }
                    quorum = Some(if toks[1] == "none" {
                        Quorum::None
                    } else {
                        names.get(toks[1]).cloned().ok_or_else(|| {
                            err(format!("{:?} is not defined on a line above", toks[1]))
                        })?
                    });
                }
                other => return Err(err(format!("unknown keyword {other:?}"))),
            }
        }
        let quorum = quorum.ok_or(PolicyError {
            line: text.split('\n').count(),
            msg: "no quorum line (write `quorum none` to require no witnesses)".into(),
        })?;
        Ok(TrustPolicy {
            logs,
            witnesses,
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

    /// The log with this origin.
    pub fn log(&self, origin: &str) -> Option<&LogSpec> {
        self.logs.iter().find(|l| l.origin == origin)
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
