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
//! A list is fetched from a URL a third party publishes, so it is parsed
//! strictly and all at once: any malformed block rejects the whole list
//! with its line number, and the witness keeps the list it had (a
//! half-read list would silently drop logs it witnesses). Keywords this
//! parser does not know are ignored with a warning, so that a list
//! growing a field does not freeze a witness on an old list; a log whose
//! key type cannot be verified here (only Ed25519 can) is skipped with a
//! warning for the same reason.

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
    /// What was ignored, with line numbers.
    pub warnings: Vec<String>,
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

/// The lines of `text` that are not comments, numbered from 1.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.starts_with('#'))
}

/// Parses a `logs/v0` list.
pub fn parse(text: &str) -> Result<LogList, ListError> {
    let mut it = lines(text).peekable();
    match it.next() {
        Some((_, "logs/v0")) => {}
        Some((n, l)) => return err(n, format!("expected the header logs/v0, found {l:?}")),
        None => return err(1, "empty list: expected the header logs/v0"),
    }
    let mut list = LogList::default();
    // Header lines up to the first blank line.
    while let Some((n, l)) = it.next_if(|(_, l)| !l.is_empty()) {
        match l.split_once(' ') {
            Some(("revision", r)) if list.revision.is_none() => {
                let Ok(r) = r.parse::<u64>() else {
                    return err(n, format!("revision {r:?} is not a number"));
                };
                list.revision = Some(r);
            }
            _ => {
                return err(
                    n,
                    format!("expected revision N or a blank line, found {l:?}"),
                )
            }
        }
    }
    let mut block: Vec<(usize, &str)> = Vec::new();
    for (n, l) in it.chain(std::iter::once((0, ""))) {
        if !l.is_empty() {
            block.push((n, l));
            continue;
        }
        if !block.is_empty() {
            if let Some(log) = parse_block(&block, &mut list.warnings)? {
                if let Some(dup) = list.logs.iter().find(|o| o.origin == log.origin) {
                    return err(
                        log.line,
                        format!("origin {} is listed twice (line {})", log.origin, dup.line),
                    );
                }
                if list.logs.len() == MAX_LOGS {
                    return err(log.line, format!("more than {MAX_LOGS} logs"));
                }
                list.logs.push(log);
            }
            block.clear();
        }
    }
    Ok(list)
}

/// One block: `Ok(None)` for a log skipped with a warning.
fn parse_block(
    block: &[(usize, &str)],
    warnings: &mut Vec<String>,
) -> Result<Option<ListedLog>, ListError> {
    let first = block.first().map_or(0, |(n, _)| *n);
    let (mut vkey, mut qpd, mut contact, mut origin) = (None, None, None, None);
    for &(n, l) in block {
        let (word, value) = l.split_once(' ').unwrap_or((l, ""));
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
            return err(n, format!("{word} given twice in one block"));
        }
    }
    let Some((vn, vkey)) = vkey else {
        return err(first, "a block without a vkey line");
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
            "line {vn}: key type 0x{t:02x} cannot be verified here; log skipped"
        ));
        return Ok(None);
    }
    let key = VerifierKey::parse_log(vkey).map_err(|e| ListError {
        line: vn,
        why: e.to_string(),
    })?;
    let origin = match origin {
        Some((on, o)) if o.is_empty() || o.contains(['\n', '\r']) => {
            return err(on, "an empty origin")
        }
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
/// (0x01) or cosignature/v1 (0x04): such a log is skipped, not an error.
fn unsupported_type(vkey: &str) -> Option<u8> {
    use base64::Engine;
    let b64 = vkey.splitn(3, '+').nth(2)?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let t = *raw.first()?;
    (t != 0x01 && t != 0x04).then_some(t)
}

#[cfg(test)]
mod tests;
