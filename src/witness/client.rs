//! Asks witnesses to cosign a checkpoint (`POST <prefix>/add-checkpoint`),
//! each as a log's configuration names it ([`WitnessConfig`]).

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::{Deserialize, Serialize};

use crate::fetch::{self, FetchError};
use crate::note::{self, VerifierKey};
use crate::tlog::store::TileHashes;
use crate::tlog::Checkpoint;
use crate::verify::MAX_SKEW_SECS;

/// A witness the log asks for cosignatures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// Submission prefix; `add-checkpoint` is appended.
    pub url: String,
    pub vkey: String,
    /// Add-checkpoint requests a day the witness grants this log (a log
    /// list's `qpd`): the log asks no more often (src/log/rates.rs). None:
    /// no limit kept here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qpd: Option<f64>,
}

/// A witness response is read up to this many bytes.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// How many 409 answers a witness may give before we stop retrying.
const MAX_CONFLICTS: usize = 3;

/// The request body of add-checkpoint.
pub fn request_body(old: u64, proof: &[crate::tlog::Hash], note: &[u8]) -> Vec<u8> {
    let mut b = format!("old {old}\n").into_bytes();
    for h in proof {
        b.extend_from_slice(B64.encode(h.0).as_bytes());
        b.push(b'\n');
    }
    b.push(b'\n');
    b.extend_from_slice(note);
    b
}

/// Asks every witness concurrently; each result is the verified
/// cosignature lines of that witness dated at most the allowed skew past
/// `now`, or why there are none.
pub fn collect(
    configs: &[WitnessConfig],
    keys: &[VerifierKey],
    note: &[u8],
    hint: u64,
    store: &TileHashes,
    now: u64,
) -> Vec<Result<Vec<String>, String>> {
    if configs.is_empty() {
        return Vec::new();
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return configs
                .iter()
                .map(|_| Err(format!("runtime: {e}")))
                .collect()
        }
    };
    rt.block_on(async {
        let client = match fetch::client() {
            Ok(c) => c,
            Err(e) => return configs.iter().map(|_| Err(e.to_string())).collect(),
        };
        let futs = configs
            .iter()
            .zip(keys)
            .map(|(c, k)| cosign_one(&client, c, k, note, hint, store, now));
        futures::future::join_all(futs).await
    })
}

async fn cosign_one(
    client: &reqwest::Client,
    cfg: &WitnessConfig,
    key: &VerifierKey,
    note_bytes: &[u8],
    hint: u64,
    store: &TileHashes,
    now: u64,
) -> Result<Vec<String>, String> {
    let cp = Checkpoint::of_note(note_bytes).map_err(|e| e.to_string())?;
    let url = format!("{}/add-checkpoint", cfg.url.trim_end_matches('/'));
    let mut old = hint.min(cp.size);
    for _ in 0..=MAX_CONFLICTS {
        let proof = if old == 0 || old == cp.size {
            Vec::new()
        } else {
            store
                .consistency_proof(old, cp.size)
                .map_err(|e| e.to_string())?
        };
        let resp = client
            .post(&url)
            .body(request_body(old, &proof, note_bytes))
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status().as_u16();
        let body = fetch::read_capped(&url, resp, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e: FetchError| e.to_string())?;
        match status {
            200 => return verify_response(&body, &cp, key, now),
            409 => {
                let text = String::from_utf8_lossy(&body);
                let size = crate::tlog::checkpoint::parse_size(text.trim_end_matches('\n'))
                    .ok_or_else(|| format!("{url}: 409 with a malformed size {text:?}"))?;
                if size > cp.size {
                    return Err(format!(
                        "{url}: the witness has cosigned size {size}, larger than this log's {} — the log has been rolled back or forked",
                        cp.size
                    ));
                }
                old = size;
            }
            s => {
                let text = String::from_utf8_lossy(&body);
                return Err(format!("{url}: HTTP {s}: {}", text.trim()));
            }
        }
    }
    Err(format!(
        "{url}: gave up after {MAX_CONFLICTS} conflicting sizes"
    ))
}

/// Keeps the response lines that are valid cosignatures by `key` on `cp`
/// dated at most [`MAX_SKEW_SECS`] past `now`.
///
/// The attack the date stops: one witness (or whoever holds its key)
/// answers with a valid cosignature dated a year ahead; published, it
/// makes every client that checks the skew refuse the whole checkpoint —
/// one witness vetoing the log. Such a line is never kept: when it is all
/// the witness sent, that witness counts as not having cosigned, and the
/// error says so.
pub(crate) fn verify_response(
    body: &[u8],
    cp: &Checkpoint,
    key: &VerifierKey,
    now: u64,
) -> Result<Vec<String>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "response is not UTF-8".to_string())?;
    let key = key.to_cosignature_key();
    let latest = now.saturating_add(MAX_SKEW_SECS);
    let (mut good, mut ahead) = (Vec::new(), None);
    for line in text.lines().filter(|l| !l.is_empty()) {
        let note = note::assemble(&cp.encode(), &[line.to_string()]);
        let Ok(o) = note::open(&note, std::slice::from_ref(&key)) else {
            continue;
        };
        match o.verified.iter().find_map(|s| s.timestamp) {
            Some(t) if t > latest => ahead = ahead.max(Some(t)),
            Some(_) => good.push(line.to_string()),
            None => {}
        }
    }
    if let (true, Some(t)) = (good.is_empty(), ahead) {
        return Err(format!(
            "witness {} answered with a cosignature dated {} s in the future (more than {MAX_SKEW_SECS} s past this machine's clock): not published, as every client would refuse the checkpoint for it",
            key.name,
            t - now
        ));
    }
    if good.is_empty() {
        return Err("the witness answered without a valid cosignature from its key".into());
    }
    // One line per witness: a witness (or a path to a plain-http one) that
    // repeats its line would otherwise push the note past the signature
    // count a note may carry, and no checkpoint could be published.
    good.truncate(1);
    Ok(good)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::SecretKey;

    /// A witness repeating its line (or a path repeating it for a
    /// plain-http one) gives the log one line, not a note too many
    /// signatures long to publish.
    #[test]
    fn one_line_per_witness() {
        let w = SecretKey::from_seed("w.example", [3; 32]).unwrap();
        let cp = Checkpoint::new("example.org/log", 3, crate::tlog::Hash([5; 32]));
        let line = note::sign_cosignature_line(&w, 1_700_000_000, &cp.encode());
        let body = format!("{line}\n").repeat(150);
        let got = verify_response(body.as_bytes(), &cp, &w.verifier(), NOW).unwrap();
        assert_eq!(got, [line]);
        let other = Checkpoint::new("example.org/log", 4, crate::tlog::Hash([5; 32]));
        assert!(verify_response(body.as_bytes(), &other, &w.verifier(), NOW).is_err());
    }

    const NOW: u64 = 1_700_000_000;

    /// A cosignature dated more than the allowed skew past now is never
    /// kept (the witness then counts as not having cosigned, named in the
    /// error); up to the skew, or in the past, it is.
    #[test]
    fn a_cosignature_dated_beyond_the_skew_is_not_kept() {
        let w = SecretKey::from_seed("w.example", [3; 32]).unwrap();
        let cp = Checkpoint::new("example.org/log", 3, crate::tlog::Hash([5; 32]));
        let line = |t: u64| note::sign_cosignature_line(&w, t, &cp.encode());
        let ask = |lines: &[String]| {
            let body = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
            verify_response(body.as_bytes(), &cp, &w.verifier(), NOW)
        };
        // (row, date, whether the error names the witness: a date past
        // 2^63 is no cosignature to the note parser at all)
        for (row, t, named) in [
            ("601 s ahead", NOW + 601, true),
            ("a year ahead", NOW + 365 * 86400, true),
            ("2^40", 1 << 40, true),
            ("2^64-1", u64::MAX, false),
        ] {
            let e = ask(&[line(t)]).unwrap_err();
            let names = e.contains("w.example") && e.contains("in the future");
            assert_eq!(names, named, "{row}: {e}");
        }
        for (row, t) in [
            ("now", NOW),
            ("599 s ahead", NOW + 599),
            ("600 s ahead", NOW + 600),
            ("a year ago", NOW - 365 * 86400),
            ("0", 0),
        ] {
            assert_eq!(ask(&[line(t)]), Ok(vec![line(t)]), "{row}");
        }
        // A future line beside a good one: only the good one, either order.
        let (good, far) = (line(NOW), line(1 << 40));
        assert_eq!(ask(&[far.clone(), good.clone()]), Ok(vec![good.clone()]));
        assert_eq!(ask(&[good.clone(), far]), Ok(vec![good]));
    }
}
