//! The public witness network's log lists (`logs/v0`), as witnesses read
//! them to learn which logs to cosign and at what rate
//! (transparency-dev/witness-network `log-list-format.md`):
//!
//! ```text
//! # comments anywhere
//! logs/v0
//! revision 7            (optional)
//!
//! vkey example.org/log+0a1b2c3d+AV…
//! qpd 86400
//! contact ops@example.org
//! origin example.org/log   (optional: defaults to the vkey's name)
//! bastion none             (optional)
//! ```
//!
//! Read as the witness network's own validator reads it: lines trimmed,
//! comments and blank lines skipped; a log begins at a second `vkey`, or
//! at an `origin` that follows a log's `vkey` and its `origin` or `qpd` (the documented order is origin, vkey, bastion, qpd,
//! contact; the published lists use vkey, qpd, contact). `revision` is
//! read and not compared: the published lists do not carry it, and one
//! crafted response with a huge revision would otherwise pin a witness to
//! an old list.
//!
//! A list is fetched from a URL a third party publishes, so it is parsed
//! strictly and all at once: any malformed log rejects the whole list
//! with its line number, and the witness keeps the list it had (a
//! half-read list would silently drop logs it witnesses). Keywords this
//! parser does not know are ignored with a warning, so that a list
//! growing a field does not freeze a witness on an old list; a log whose
//! key type cannot be verified here (only Ed25519 can) is skipped with a
//! warning for the same reason. Warnings are capped ([`MAX_WARNINGS`]).

use crate::note::VerifierKey;

/// A list is read up to this many bytes.
pub const MAX_LIST_BYTES: usize = 1 << 20;
/// At most this many logs per list.
pub const MAX_LOGS: usize = 10_000;

/// One log of a list.
#[derive(Clone, Debug, PartialEq)]
pub struct ListedLog {
    /// The origin line its checkpoints carry.
    pub origin: String,
    /// Its key (Ed25519, type 0x01).
    pub key: VerifierKey,
    /// Add-checkpoint requests it may make per day.
    pub qpd: f64,
    pub contact: Option<String>,
    /// The line of its `vkey`.
    pub line: usize,
}

/// A parsed list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogList {
    pub revision: Option<u64>,
    pub logs: Vec<ListedLog>,
    /// What was ignored, with line numbers (at most [`MAX_WARNINGS`], then
    /// a count).
    pub warnings: Vec<String>,
    more_warnings: usize,
}

/// Why a list was rejected.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct ListError {
    pub line: usize,
    pub why: String,
}

fn err<T>(line: usize, why: impl Into<String>) -> Result<T, ListError> {
    Err(ListError {
        line,
        why: why.into(),
    })
}

/// Warnings kept per list; more are counted, not kept (a list of a
/// million unknown lines must not become a million log lines).
pub const MAX_WARNINGS: usize = 20;

/// The lines of `text` that say something, numbered from 1: each trimmed
/// of surrounding whitespace (and a CR), comments and blank lines left out
/// (as the witness network's own validator reads lists).
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// `keyword value`, split at the first ASCII space, as the network's
/// validator splits: `vkey<TAB>…` or `origin<NBSP>…` is an unknown keyword
/// there, so it must not be a vkey or an origin here (a line the
/// validator ignores would otherwise add a log or move one's origin).
fn split(l: &str) -> (&str, &str) {
    match l.split_once(' ') {
        Some((w, v)) => (w, v.trim()),
        None => (l, ""),
    }
}

impl LogList {
    fn warn(&mut self, w: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(w);
        } else {
            self.more_warnings += 1;
        }
    }
}

/// Whether `word` starts a new log after the lines of `block`: a second
/// `vkey`, or an `origin` once the log has its vkey and an origin or a
/// qpd (the published order is vkey, origin, qpd, contact; the documented
/// one origin, vkey, bastion, qpd, contact).
fn starts_log(block: &[(usize, &str)], word: &str) -> bool {
    let has = |k: &str| block.iter().any(|(_, l)| split(l).0 == k);
    match word {
        "vkey" => has("vkey"),
        "origin" => has("vkey") && (has("origin") || has("qpd")),
        _ => false,
    }
}

/// Parses a `logs/v0` list.
pub fn parse(text: &str) -> Result<LogList, ListError> {
    let mut it = lines(text);
    match it.next() {
        Some((_, "logs/v0")) => {}
        Some((n, l)) => return err(n, format!("expected the header logs/v0, found {l:?}")),
        None => return err(1, "empty list: expected the header logs/v0"),
    }
    let mut list = LogList::default();
    let mut block: Vec<(usize, &str)> = Vec::new();
    let mut in_header = true;
    for (n, l) in it {
        if in_header && header_line(&mut list, n, l)? {
            continue;
        }
        in_header = false;
        if starts_log(&block, split(l).0) {
            finish(&mut list, &block)?;
            block.clear();
        }
        block.push((n, l));
    }
    if !block.is_empty() {
        finish(&mut list, &block)?;
    }
    if list.more_warnings > 0 {
        let more = list.more_warnings;
        list.warnings.push(format!("and {more} more warnings"));
    }
    Ok(list)
}

/// A line before the first log: `revision N`, or ignored with a warning.
/// `Ok(false)` for a line that begins a log.
fn header_line(list: &mut LogList, n: usize, l: &str) -> Result<bool, ListError> {
    match split(l) {
        ("vkey" | "origin" | "qpd" | "contact" | "bastion", _) => Ok(false),
        ("revision", r) if list.revision.is_none() => {
            match r.parse::<u64>() {
                Ok(r) => list.revision = Some(r),
                Err(_) => list.warn(format!("line {n}: revision {r:?} is not a number; ignored")),
            }
            Ok(true)
        }
        (w, _) => {
            list.warn(format!("line {n}: {w:?} before the first log ignored"));
            Ok(true)
        }
    }
}

/// Adds the log `block` describes (or skips it with a warning).
fn finish(list: &mut LogList, block: &[(usize, &str)]) -> Result<(), ListError> {
    let mut warnings = Vec::new();
    let log = parse_block(block, &mut warnings)?;
    for w in warnings {
        list.warn(w);
    }
    let Some(log) = log else {
        return Ok(());
    };
    if let Some(dup) = list.logs.iter().find(|o| o.origin == log.origin) {
        // Say a key rotation listed as a second log: one key per origin,
        // the first; the list is not refused for it.
        let w = format!(
            "line {}: origin {} is listed already (line {}); this log skipped",
            log.line, log.origin, dup.line
        );
        list.warn(w);
        return Ok(());
    }
    if list.logs.len() == MAX_LOGS {
        return err(log.line, format!("more than {MAX_LOGS} logs"));
    }
    list.logs.push(log);
    Ok(())
}

/// One log: `Ok(None)` for a log skipped with a warning.
fn parse_block(
    block: &[(usize, &str)],
    warnings: &mut Vec<String>,
) -> Result<Option<ListedLog>, ListError> {
    let first = block.first().map_or(0, |(n, _)| *n);
    let (mut vkey, mut qpd, mut contact, mut origin) = (None, None, None, None);
    for &(n, l) in block {
        let (word, value) = split(l);
        let slot = match word {
            "vkey" => &mut vkey,
            "qpd" => &mut qpd,
            "contact" => &mut contact,
            "origin" => &mut origin,
            "bastion" => continue,
            _ => {
                warnings.push(format!("line {n}: unknown keyword {word:?} ignored"));
                continue;
            }
        };
        if slot.replace((n, value)).is_some() {
            return err(n, format!("{word} given twice for one log"));
        }
    }
    let Some((vn, vkey)) = vkey else {
        return err(first, "a log without a vkey line");
    };
    let Some((qn, qpd)) = qpd else {
        return err(vn, "a log without a qpd line");
    };
    let qpd = match qpd.parse::<f64>() {
        Ok(q) if q.is_finite() && q >= 0.0 => q,
        _ => return err(qn, format!("qpd {qpd:?} is not a non-negative number")),
    };
    if let Some(t) = unsupported_type(vkey) {
        warnings.push(format!(
            "line {vn}: a log key of type 0x{t:02x} cannot be verified here (only Ed25519, 0x01); log skipped"
        ));
        return Ok(None);
    }
    let key = VerifierKey::parse_log(vkey).map_err(|e| ListError {
        line: vn,
        why: e.to_string(),
    })?;
    let origin = match origin {
        Some((on, "")) => return err(on, "an empty origin"),
        Some((_, o)) => o.to_string(),
        None => key.name.clone(),
    };
    Ok(Some(ListedLog {
        origin,
        key,
        qpd,
        contact: contact.map(|(_, c)| c.to_string()),
        line: vn,
    }))
}

/// The key type byte of a well-formed vkey of a type other than Ed25519
/// (0x01): such a log is skipped, not an error.
fn unsupported_type(vkey: &str) -> Option<u8> {
    use base64::Engine;
    let b64 = vkey.splitn(3, '+').nth(2)?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let t = *raw.first()?;
    (t != 0x01).then_some(t)
}

#[cfg(test)]
mod tests;
