//! A bundle as read before the verifier sees it: one JSON document or JSON
//! lines (`gh attestation download`), base64 fields as protobuf's JSON
//! mapping reads them, and the checks that give a refusal its true cause
//! where the verifier would stop at an earlier, unrelated step (an empty
//! chain, a root certificate in the chain, an inclusion proof that does not
//! compute its own root, a checkpoint that does not parse).

use base64::Engine;
use serde_json::Value;

use super::cause::{Cause, Refusal};
use crate::tlog::{Checkpoint, Hash};

/// The largest bundle file read: a bundle is a few KiB; a DSSE bundle
/// carries an attestation, and a JSON-lines file several bundles.
pub const MAX_BUNDLE_BYTES: usize = 8 << 20;

/// The most bundles one JSON-lines file may hold.
pub const MAX_BUNDLES: usize = 64;

/// The JSON keys whose values are protobuf `bytes` in a bundle (base64 in
/// its JSON mapping, where line breaks are ignored: sigstore-go and
/// sigstore-python accept them, so a bundle with a wrapped timestamp is
/// judged on its content, not refused as malformed).
const BYTES_KEYS: [&str; 11] = [
    "rawBytes",
    "keyId",
    "signedEntryTimestamp",
    "rootHash",
    "hashes",
    "canonicalizedBody",
    "signedTimestamp",
    "digest",
    "signature",
    "payload",
    "sig",
];

/// What a bundle says of itself, read before verification (for the
/// report, the log lookup and the policy's Rekor v1 rule).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub media_type: String,
    /// Signed with a public key (`verificationMaterial.publicKey`) rather
    /// than a certificate.
    pub signed_with_key: bool,
    /// The first transparency-log entry's log ID.
    pub log_id: Option<Vec<u8>>,
    /// Its `logIndex`.
    pub index: Option<u64>,
    /// `kind` and `version` of its entry (`hashedrekord` `0.0.2`, …).
    pub kind: String,
    pub kind_version: String,
    /// The checkpoint inside its inclusion proof, parsed, and its signed
    /// note as the bundle carries it.
    pub checkpoint: Option<Checkpoint>,
    pub checkpoint_note: Option<String>,
    /// The inclusion proof's index within the checkpoint's tree.
    pub tree_index: Option<u64>,
    /// The inclusion proof with the entry it proves, when it reads (set
    /// by [`prepare`]: what a witnessed log's checkpoint proves again).
    pub inclusion: Option<Inclusion>,
}

impl Facts {
    /// Whether the entry is a Rekor v2 one: Rekor v2 writes only
    /// `hashedrekord` and `dsse` entries of version 0.0.2, and has no
    /// integrated time or signed entry timestamp.
    pub fn rekor_v2(&self) -> bool {
        matches!(self.kind.as_str(), "hashedrekord" | "dsse") && self.kind_version == "0.0.2"
    }
}

/// A bundle ready for the verifier: parsed (its base64 fields unwrapped),
/// and its facts.
#[derive(Debug, Clone)]
pub struct Material {
    pub bundle: sigstore_verify::types::Bundle,
    pub facts: Facts,
}

/// The bundles in a file: one JSON document, or JSON lines (one bundle a
/// line, blank lines ignored).
pub fn split(bytes: &[u8]) -> Result<Vec<&[u8]>, Refusal> {
    let trimmed = bytes.trim_ascii();
    if serde_json::from_slice::<serde::de::IgnoredAny>(trimmed).is_ok() || !trimmed.contains(&b'\n')
    {
        return Ok(vec![trimmed]);
    }
    let lines: Vec<&[u8]> = trimmed
        .split(|b| *b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() > MAX_BUNDLES {
        return Err(Refusal::new(
            Cause::Bundle,
            format!(
                "{} bundles in one file (at most {MAX_BUNDLES})",
                lines.len()
            ),
        ));
    }
    Ok(lines)
}

/// Reads one bundle: parsed, unwrapped, checked where the verifier would
/// name the wrong cause, and its facts read.
pub fn prepare(text: &[u8]) -> Result<Material, Refusal> {
    let mut v: Value = serde_json::from_slice(text)
        .map_err(|e| Refusal::new(Cause::Bundle, format!("the bundle is not JSON: {e}")))?;
    unwrap_base64(&mut v, false);
    // A checkpoint that does not parse is the checkpoint's fault, though
    // the bundle's parser would stop at it first.
    let mut facts = read_facts(&v)?;
    let bundle = sigstore_verify::types::Bundle::from_json(&v.to_string())
        .map_err(|e| Refusal::new(Cause::Bundle, format!("the bundle does not parse: {e}")))?;
    check_chain(&v)?;
    check_inclusion(&v)?;
    facts.inclusion = first_entry(&v).and_then(|e| Inclusion::read(e, e.get("inclusionProof")?));
    Ok(Material { bundle, facts })
}

/// Removes line breaks from the base64 strings under [`BYTES_KEYS`].
fn unwrap_base64(v: &mut Value, bytes_field: bool) {
    match v {
        Value::String(s) if bytes_field && s.contains(['\n', '\r']) => {
            s.retain(|c| c != '\n' && c != '\r')
        }
        Value::Array(a) => a.iter_mut().for_each(|x| unwrap_base64(x, bytes_field)),
        Value::Object(o) => o
            .iter_mut()
            .for_each(|(k, x)| unwrap_base64(x, BYTES_KEYS.contains(&k.as_str()))),
        _ => {}
    }
}

/// Base64 as protobuf's JSON mapping reads it: standard or URL-safe,
/// padded or not.
pub fn b64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
}

/// A protobuf int64 in JSON: a decimal string or a number.
fn int(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn first_entry(v: &Value) -> Option<&Value> {
    v.pointer("/verificationMaterial/tlogEntries/0")
}

fn read_facts(v: &Value) -> Result<Facts, Refusal> {
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut f = Facts {
        media_type: s("/mediaType"),
        signed_with_key: v.pointer("/verificationMaterial/publicKey").is_some(),
        ..Facts::default()
    };
    let entries = v
        .pointer("/verificationMaterial/tlogEntries")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if entries > 1 {
        // sigstore-python takes exactly one; which one a report names, and
        // which the checkpoint is held to, must not be in doubt.
        return Err(Refusal::new(
            Cause::Bundle,
            format!("the bundle has {entries} transparency-log entries: a bundle carries one"),
        ));
    }
    if let Some(e) = first_entry(v) {
        let es = |p: &str| {
            e.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        f.log_id = e
            .pointer("/logId/keyId")
            .and_then(Value::as_str)
            .and_then(b64);
        f.index = e.get("logIndex").and_then(int);
        f.kind = es("/kindVersion/kind");
        f.kind_version = es("/kindVersion/version");
        f.tree_index = e.pointer("/inclusionProof/logIndex").and_then(int);
        if let Some(note) = e
            .pointer("/inclusionProof/checkpoint/envelope")
            .and_then(Value::as_str)
        {
            f.checkpoint = Some(checkpoint(note)?);
            f.checkpoint_note = Some(note.to_string());
        }
    }
    Ok(f)
}

/// The checkpoint of an inclusion proof: a signed note whose text is a
/// checkpoint (origin, size, root hash) with at least one signature line.
fn checkpoint(note: &str) -> Result<Checkpoint, Refusal> {
    let bad =
        |why: String| Refusal::new(Cause::Checkpoint, format!("the bundle's checkpoint {why}"));
    let cp =
        Checkpoint::of_note(note.as_bytes()).map_err(|e| bad(format!("does not parse: {e}")))?;
    let signed = note
        .split_once("\n\n")
        .is_some_and(|(_, sigs)| sigs.lines().any(|l| l.starts_with("\u{2014} ")));
    if !signed {
        return Err(bad("carries no signature".into()));
    }
    Ok(cp)
}

/// The certificate chain of a v0.1/v0.2 bundle: not empty, and without a
/// self-signed (root) certificate — the root must come from the trusted
/// root, never from the bundle that it is to vouch for.
fn check_chain(v: &Value) -> Result<(), Refusal> {
    use x509_cert::der::Decode;
    let Some(certs) = v
        .pointer("/verificationMaterial/x509CertificateChain/certificates")
        .and_then(Value::as_array)
    else {
        return Ok(());
    };
    if certs.is_empty() {
        return Err(Refusal::new(
            Cause::Certificate,
            "the bundle's certificate chain is empty",
        ));
    }
    for (i, c) in certs.iter().enumerate() {
        let der = c.get("rawBytes").and_then(Value::as_str).and_then(b64);
        let Some(cert) = der.and_then(|d| x509_cert::Certificate::from_der(&d).ok()) else {
            continue; // the verifier says why it does not parse
        };
        if cert.tbs_certificate.subject == cert.tbs_certificate.issuer {
            return Err(Refusal::new(
                Cause::Certificate,
                format!("certificate {} of the bundle's chain is a self-signed root: a root must come from the trusted root, not from the bundle", i + 1),
            ));
        }
    }
    Ok(())
}

/// An inclusion proof as a bundle gives it, with the entry it proves (the
/// log's leaf: the entry's canonicalized body).
#[derive(Debug, Clone)]
pub struct Inclusion {
    pub body: Vec<u8>,
    pub index: u64,
    pub size: u64,
    pub root: Hash,
    pub hashes: Vec<Hash>,
}

impl Inclusion {
    /// `None` when a field is missing or malformed (the bundle's parser
    /// has refused those already: tree size and root hash are required).
    fn read(entry: &Value, p: &Value) -> Option<Inclusion> {
        let hash = |x: &Value| -> Option<Hash> { Some(Hash(b64(x.as_str()?)?.try_into().ok()?)) };
        let hashes = match p.get("hashes").and_then(Value::as_array) {
            Some(a) => a.iter().map(hash).collect::<Option<Vec<_>>>()?,
            None => vec![],
        };
        Some(Inclusion {
            body: b64(entry.get("canonicalizedBody")?.as_str()?)?,
            // Absent is zero, as protobuf's JSON mapping leaves zero out
            // (and as the verifier reads it): never a reason to skip.
            index: p.get("logIndex").map_or(Some(0), int)?,
            size: int(p.get("treeSize")?)?,
            root: hash(p.get("rootHash")?)?,
            hashes,
        })
    }
}

/// The inclusion proof, when the bundle has one: the entry's leaf hash and
/// the proof's hashes must compute the proof's own root hash. (Whether
/// that root is signed is the verifier's check, and the checkpoint's.)
fn check_inclusion(v: &Value) -> Result<(), Refusal> {
    let Some(e) = first_entry(v) else {
        return Ok(());
    };
    let Some(p) = e.get("inclusionProof") else {
        return Ok(());
    };
    // What does not parse, the verifier refuses as malformed.
    let Some(Inclusion {
        body,
        index,
        size,
        root,
        hashes,
    }) = Inclusion::read(e, p)
    else {
        return Ok(());
    };
    // The proof's tree is the checkpoint's (sigstore-python checks this; the
    // Rust verifier takes a Rekor v2 proof's root from the checkpoint alone).
    let note = p.pointer("/checkpoint/envelope").and_then(Value::as_str);
    if let Some(cp) = note.and_then(|n| Checkpoint::of_note(n.as_bytes()).ok()) {
        if cp.size != size || cp.root != root {
            return Err(Refusal::new(
                Cause::Checkpoint,
                format!("the inclusion proof is for the tree of {size}, and the checkpoint for another tree (size {}, another root)", cp.size),
            ));
        }
    }
    let leaf = crate::tlog::leaf_hash(&body);
    crate::tlog::verify_inclusion(leaf, index, size, &hashes, root).map_err(|_| {
        Refusal::new(
            Cause::InclusionProof,
            format!("the inclusion proof does not prove the entry: its hashes do not lead from leaf {index} to the root of the tree of {size}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_one_bundle_or_json_lines() {
        let one = b"{\n  \"mediaType\": \"x\"\n}\n";
        assert_eq!(split(one).map(|v| v.len()), Ok(1));
        let lines = b"{\"a\":1}\n\n{\"b\":2}\n";
        assert_eq!(split(lines).map(|v| v.len()), Ok(2));
        let many = "{}\n".repeat(MAX_BUNDLES + 1);
        assert_eq!(
            split(many.as_bytes()).map_err(|e| e.cause),
            Err(Cause::Bundle)
        );
        assert!(matches!(
            prepare(b"{not json"),
            Err(Refusal {
                cause: Cause::Bundle,
                ..
            })
        ));
    }

    #[test]
    fn a_bundle_carries_one_log_entry() {
        let two = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"tlogEntries": [{}, {}]},
        });
        let r = prepare(two.to_string().as_bytes())
            .map(|_| ())
            .map_err(|e| e.cause);
        assert_eq!(r, Err(Cause::Bundle));
    }

    /// Line breaks go from protobuf bytes fields only: never from the
    /// checkpoint note, whose lines are its meaning.
    #[test]
    fn only_base64_fields_are_unwrapped() {
        let mut v: Value = serde_json::json!({
            "signedTimestamp": "QUJD\nREVG",
            "hashes": ["QU\r\nJD"],
            "checkpoint": {"envelope": "origin\n1\nroot\n\n— sig\n"},
            "mediaType": "a\nb",
        });
        unwrap_base64(&mut v, false);
        assert_eq!(v["signedTimestamp"], "QUJDREVG");
        assert_eq!(v["hashes"][0], "QUJD");
        assert_eq!(v["checkpoint"]["envelope"], "origin\n1\nroot\n\n— sig\n");
        assert_eq!(v["mediaType"], "a\nb");
    }

    #[test]
    fn a_checkpoint_must_parse_and_be_signed() {
        let root = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        let body = format!("log.example\n5\n{root}\n");
        assert!(checkpoint(&format!("{body}\n\u{2014} log.example AAAA\n")).is_ok());
        for bad in [
            format!("{body}\n"),
            format!("5\n{root}\n\n\u{2014} log.example AAAA\n"),
            format!("log.example\n{root}\n\n\u{2014} log.example AAAA\n"),
            "log.example\n5\n\n\u{2014} log.example AAAA\n".to_string(),
            body.clone(),
        ] {
            assert_eq!(
                checkpoint(&bad).map_err(|e| e.cause),
                Err(Cause::Checkpoint),
                "{bad:?}"
            );
        }
    }
}
