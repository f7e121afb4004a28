//! Asks witnesses to cosign a checkpoint (`POST <prefix>/add-checkpoint`).

use base64::{engine::general_purpose::STANDARD as B64, Engine};

use crate::fetch::{self, FetchError};
use crate::log::WitnessConfig;
use crate::note::{self, VerifierKey};
use crate::tlog::store::TileHashes;
use crate::tlog::Checkpoint;

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
/// cosignature lines of that witness, or why there are none.
pub fn collect(
    configs: &[WitnessConfig],
    keys: &[VerifierKey],
    note: &[u8],
    hint: u64,
    store: &TileHashes,
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
            .map(|(c, k)| cosign_one(&client, c, k, note, hint, store));
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
            200 => return verify_response(&body, &cp, key),
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

/// Keeps the response lines that are valid cosignatures by `key` on `cp`.
pub(crate) fn verify_response(
    body: &[u8],
    cp: &Checkpoint,
    key: &VerifierKey,
) -> Result<Vec<String>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "response is not UTF-8".to_string())?;
    let key = key.to_cosignature_key();
    let mut good = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let note = note::assemble(&cp.encode(), &[line.to_string()]);
        if let Ok(o) = note::open(&note, std::slice::from_ref(&key)) {
            if o.verified.iter().any(|s| s.timestamp.is_some()) {
                good.push(line.to_string());
            }
        }
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
        let got = verify_response(body.as_bytes(), &cp, &w.verifier()).unwrap();
        assert_eq!(got, [line]);
        let other = Checkpoint::new("example.org/log", 4, crate::tlog::Hash([5; 32]));
        assert!(verify_response(body.as_bytes(), &other, &w.verifier()).is_err());
    }
}
