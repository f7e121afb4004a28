//! The release entry (DESIGN §3): a CBOR array
//! `[statement: bstr, publisher: bstr(32), signature: bstr(64)]`, where the
//! statement is the deterministic CBOR encoding of a map describing one
//! release and the signature is Ed25519 over `"bt-exec release v1\n" ‖
//! statement`.

use ciborium::Value;
use ed25519_dalek::{Signer as _, SigningKey};
use sha2::{Digest, Sha256};

use crate::note::{verify_ed25519, PublicKey};

/// The signature context prefixed to the statement.
pub const SIGNATURE_CONTEXT: &[u8] = b"bt-exec release v1\n";
/// A whole leaf is at most 64 KiB less one byte: an entry bundle records
/// each leaf's length in 16 bits, so a longer leaf could be accepted and
/// then never written — one submission would stop a log's sequencer.
pub const MAX_LEAF_BYTES: usize = u16::MAX as usize;
pub const MAX_NAME_BYTES: usize = 256;
pub const MAX_VERSION_BYTES: usize = 128;
pub const MAX_PLATFORM_BYTES: usize = 64;
pub const MAX_URL_BYTES: usize = 2048;
pub const MAX_CAS_URLS: usize = 16;
pub const MAX_REV_BYTES: usize = 256;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum EntryError {
    #[error("entry is {0} bytes, more than the 64 KiB a leaf may have")]
    TooLarge(usize),
    #[error("entry is not valid CBOR: {0}")]
    Cbor(String),
    #[error("entry has trailing bytes after the CBOR item")]
    Trailing,
    #[error("entry structure: {0}")]
    Shape(String),
    #[error("statement field {0:?} is missing")]
    Missing(&'static str),
    #[error("statement field {0:?}: {1}")]
    Field(&'static str, String),
    #[error("publisher signature does not verify")]
    BadSignature,
}

/// Where a release was built from, for rebuilders.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Source {
    pub repo: String,
    pub rev: String,
}

/// What a publisher states about one release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub name: String,
    pub version: String,
    pub platform: String,
    pub sha256: [u8; 32],
    pub size: u64,
    pub published: u64,
    pub cas: Vec<String>,
    pub source: Option<Source>,
}

/// Decompressed publisher keys, by their bytes (bounded: a log with more
/// distinct publishers than this just decompresses again).
#[derive(Default)]
pub struct KeyCache(std::collections::HashMap<[u8; 32], PublicKey>);

impl KeyCache {
    const MAX: usize = 4096;

    fn get(&mut self, raw: &[u8; 32]) -> Result<PublicKey, EntryError> {
        if let Some(k) = self.0.get(raw) {
            return Ok(k.clone());
        }
        let k = PublicKey::checked(*raw).ok_or_else(not_a_point)?;
        if self.0.len() < Self::MAX {
            self.0.insert(*raw, k.clone());
        }
        Ok(k)
    }
}

fn not_a_point() -> EntryError {
    EntryError::Shape("publisher key is not an Ed25519 point".into())
}

/// A decoded leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub release: Release,
    /// `SIGNATURE_CONTEXT ‖ statement`: what the publisher signed.
    message: Vec<u8>,
    /// Decompressed when first used: by [`Entry::decode_with_keys`], or by
    /// the signature check of an entry [`Entry::decode`] read.
    pub publisher: PublicKey,
    pub signature: [u8; 64],
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

/// Whether `s` holds an invisible formatting character (zero-width
/// characters, bidirectional overrides, tags): a name that reads like
/// another one. Refused in submissions (a log that accepts releases from
/// others); names already logged are read as they are.
pub fn has_format_chars(s: &str) -> bool {
    s.chars().any(|c| {
        matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0001}' | '\u{E0020}'..='\u{E007F}')
    })
}

fn check_text(field: &'static str, s: &str, max: usize) -> Result<(), EntryError> {
    if s.is_empty() || s.len() > max {
        return Err(EntryError::Field(
            field,
            format!("must be 1 to {max} bytes"),
        ));
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(EntryError::Field(
            field,
            "must not hold spaces or control characters".into(),
        ));
    }
    Ok(())
}

impl Release {
    /// Checks the limits and shapes of every field.
    pub fn validate(&self) -> Result<(), EntryError> {
        check_text("name", &self.name, MAX_NAME_BYTES)?;
        if !self.name.contains('/') {
            return Err(EntryError::Field(
                "name",
                "must be namespaced, like example.org/tool".into(),
            ));
        }
        check_text("version", &self.version, MAX_VERSION_BYTES)?;
        check_text("platform", &self.platform, MAX_PLATFORM_BYTES)?;
        if self.cas.len() > MAX_CAS_URLS {
            return Err(EntryError::Field(
                "cas",
                format!("at most {MAX_CAS_URLS} URLs"),
            ));
        }
        for u in &self.cas {
            check_text("cas", u, MAX_URL_BYTES)?;
        }
        if let Some(s) = &self.source {
            check_text("source", &s.repo, MAX_URL_BYTES)?;
            check_text("source", &s.rev, MAX_REV_BYTES)?;
        }
        Ok(())
    }

    /// The deterministic CBOR encoding (RFC 8949 §4.2.1): definite lengths,
    /// shortest integers, map keys sorted by their encoded bytes.
    pub fn encode_statement(&self) -> Result<Vec<u8>, EntryError> {
        self.validate()?;
        let mut map: Vec<(Value, Value)> = vec![
            (text("name"), text(&self.name)),
            (text("size"), Value::Integer(self.size.into())),
            (text("sha256"), Value::Bytes(self.sha256.to_vec())),
            (text("version"), text(&self.version)),
            (text("platform"), text(&self.platform)),
            (text("published"), Value::Integer(self.published.into())),
        ];
        if !self.cas.is_empty() {
            map.push((
                text("cas"),
                Value::Array(self.cas.iter().map(|u| text(u)).collect()),
            ));
        }
        if let Some(s) = &self.source {
            let src = vec![(text("rev"), text(&s.rev)), (text("repo"), text(&s.repo))];
            map.push((text("source"), Value::Map(src)));
        }
        map.sort_by_key(|(k, _)| encode_value(k));
        Ok(encode_value(&Value::Map(map)))
    }

    fn from_statement(bytes: &[u8]) -> Result<Self, EntryError> {
        let Value::Map(map) = decode_exact(bytes)? else {
            return Err(EntryError::Shape("statement is not a map".into()));
        };
        let mut seen = std::collections::HashSet::new();
        for (k, _) in &map {
            let Value::Text(k) = k else {
                return Err(EntryError::Shape("statement keys must be text".into()));
            };
            if !seen.insert(k.as_str()) {
                return Err(EntryError::Shape(format!("duplicate key {k:?}")));
            }
        }
        let get = |key: &'static str| {
            map.iter()
                .find(|(k, _)| matches!(k, Value::Text(t) if t == key))
                .map(|(_, v)| v)
        };
        let req = |key: &'static str| get(key).ok_or(EntryError::Missing(key));
        let as_text = |key: &'static str, v: &Value| match v {
            Value::Text(t) => Ok(t.clone()),
            _ => Err(EntryError::Field(key, "must be text".into())),
        };
        let as_uint = |key: &'static str, v: &Value| match v {
            Value::Integer(i) => u64::try_from(*i)
                .map_err(|_| EntryError::Field(key, "must be an unsigned integer".into())),
            _ => Err(EntryError::Field(key, "must be an unsigned integer".into())),
        };
        let sha256 = match req("sha256")? {
            Value::Bytes(b) => <[u8; 32]>::try_from(b.as_slice())
                .map_err(|_| EntryError::Field("sha256", "must be 32 bytes".into()))?,
            _ => return Err(EntryError::Field("sha256", "must be a byte string".into())),
        };
        let cas = match get("cas") {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| as_text("cas", v))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(EntryError::Field("cas", "must be an array of text".into())),
        };
        let source = match get("source") {
            None => None,
            Some(Value::Map(m)) => {
                let field = |key: &'static str| {
                    m.iter()
                        .find(|(k, _)| matches!(k, Value::Text(t) if t == key))
                        .map(|(_, v)| as_text("source", v))
                        .unwrap_or(Err(EntryError::Field("source", format!("needs {key:?}"))))
                };
                Some(Source {
                    repo: field("repo")?,
                    rev: field("rev")?,
                })
            }
            Some(_) => return Err(EntryError::Field("source", "must be a map".into())),
        };
        let release = Release {
            name: as_text("name", req("name")?)?,
            version: as_text("version", req("version")?)?,
            platform: as_text("platform", req("platform")?)?,
            sha256,
            size: as_uint("size", req("size")?)?,
            published: as_uint("published", req("published")?)?,
            cas,
            source,
        };
        release.validate()?;
        Ok(release)
    }
}

fn encode_value(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = ciborium::ser::into_writer(v, &mut out);
    out
}

fn decode_exact(bytes: &[u8]) -> Result<Value, EntryError> {
    let mut rest = bytes;
    let v: Value =
        ciborium::de::from_reader(&mut rest).map_err(|e| EntryError::Cbor(e.to_string()))?;
    if !rest.is_empty() {
        return Err(EntryError::Trailing);
    }
    Ok(v)
}

impl Entry {
    /// Signs a release statement with the publisher's key.
    pub fn sign(release: Release, key: &SigningKey) -> Result<Self, EntryError> {
        let statement = release.encode_statement()?;
        let mut message = SIGNATURE_CONTEXT.to_vec();
        message.extend_from_slice(&statement);
        let signature = key.sign(&message).to_bytes();
        let e = Entry {
            release,
            message,
            publisher: key.verifying_key().into(),
            signature,
        };
        if e.encode().len() > MAX_LEAF_BYTES {
            return Err(EntryError::TooLarge(e.encode().len()));
        }
        Ok(e)
    }

    /// The leaf bytes.
    pub fn encode(&self) -> Vec<u8> {
        encode_value(&Value::Array(vec![
            Value::Bytes(self.statement().to_vec()),
            Value::Bytes(self.publisher.as_bytes().to_vec()),
            Value::Bytes(self.signature.to_vec()),
        ]))
    }

    /// Decodes a leaf without checking the publisher signature or that the
    /// publisher key is a curve point (both are checked by
    /// [`Entry::verify_signature`]); see [`Entry::decode_verified`].
    pub fn decode(leaf: &[u8]) -> Result<Self, EntryError> {
        Self::decode_inner(leaf, None)
    }

    /// [`Entry::decode`], reusing publisher keys already decompressed (a log
    /// holds many entries from few publishers; decompressing a point costs
    /// about as much as a quarter of a signature check).
    /// The publisher key is checked to be a curve point.
    pub fn decode_with_keys(leaf: &[u8], keys: &mut KeyCache) -> Result<Self, EntryError> {
        Self::decode_inner(leaf, Some(keys))
    }

    fn decode_inner(leaf: &[u8], keys: Option<&mut KeyCache>) -> Result<Self, EntryError> {
        if leaf.len() > MAX_LEAF_BYTES {
            return Err(EntryError::TooLarge(leaf.len()));
        }
        let Value::Array(items) = decode_exact(leaf)? else {
            return Err(EntryError::Shape("leaf is not a CBOR array".into()));
        };
        let [Value::Bytes(statement), Value::Bytes(publisher), Value::Bytes(signature)] =
            items.as_slice()
        else {
            return Err(EntryError::Shape(
                "leaf must be an array of three byte strings".into(),
            ));
        };
        let publisher: [u8; 32] = publisher
            .as_slice()
            .try_into()
            .map_err(|_| EntryError::Shape("publisher key must be 32 bytes".into()))?;
        let publisher = match keys {
            Some(keys) => keys.get(&publisher)?,
            None => PublicKey::unchecked(publisher),
        };
        let signature: [u8; 64] = signature
            .as_slice()
            .try_into()
            .map_err(|_| EntryError::Shape("signature must be 64 bytes".into()))?;
        let mut message = Vec::with_capacity(SIGNATURE_CONTEXT.len() + statement.len());
        message.extend_from_slice(SIGNATURE_CONTEXT);
        message.extend_from_slice(statement);
        Ok(Entry {
            release: Release::from_statement(statement)?,
            message,
            publisher,
            signature,
        })
    }

    /// The statement bytes (deterministic CBOR), as logged.
    pub fn statement(&self) -> &[u8] {
        self.message
            .get(SIGNATURE_CONTEXT.len()..)
            .unwrap_or_default()
    }

    /// The message the publisher signed: `"bt-exec release v1\n" ‖ statement`.
    pub fn signed_message(&self) -> &[u8] {
        &self.message
    }

    pub fn verify_signature(&self) -> Result<(), EntryError> {
        let key = self.publisher.point().ok_or_else(not_a_point)?;
        if verify_ed25519(key, self.signed_message(), &self.signature) {
            Ok(())
        } else {
            Err(EntryError::BadSignature)
        }
    }

    /// Decodes a leaf and checks its publisher signature.
    pub fn decode_verified(leaf: &[u8]) -> Result<Self, EntryError> {
        let e = Self::decode(leaf)?;
        e.verify_signature()?;
        Ok(e)
    }
}

/// A release name's key in file names: the release history's name shards,
/// run records and the monitor's publishers per name are kept under it.
pub fn name_key(name: &str) -> [u8; 16] {
    let d = Sha256::digest(format!("name\n{name}").as_bytes());
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Release {
        Release {
            name: "example.org/hello".into(),
            version: "1.4.2".into(),
            platform: "linux-x86_64".into(),
            sha256: [7; 32],
            size: 1234,
            published: 1_700_000_000,
            cas: vec!["https://cas.example.org/sha256/07".into()],
            source: Some(Source {
                repo: "https://git.example.org/hello".into(),
                rev: "v1.4.2".into(),
            }),
        }
    }

    #[test]
    fn sign_encode_decode() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let e = Entry::sign(sample(), &key).unwrap();
        let d = Entry::decode_verified(&e.encode()).unwrap();
        assert_eq!(d, e);
        // Keys are in RFC 8949 deterministic order.
        let s = e.statement();
        let pos = |k: &str| s.windows(k.len()).position(|w| w == k.as_bytes()).unwrap();
        assert!(pos("cas") < pos("name") && pos("name") < pos("size"));
        assert!(pos("sha256") < pos("source") && pos("version") < pos("platform"));
        assert!(pos("platform") < pos("published"));
    }

    #[test]
    fn rejects() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let e = Entry::sign(sample(), &key).unwrap();
        let mut leaf = e.encode();
        leaf.push(0);
        assert_eq!(Entry::decode(&leaf), Err(EntryError::Trailing));
        let mut forged = e.clone();
        forged.signature[0] ^= 1;
        assert_eq!(
            Entry::decode_verified(&forged.encode()),
            Err(EntryError::BadSignature)
        );
        let mut r = sample();
        r.name = "noslash".into();
        assert!(Entry::sign(r, &key).is_err());
        assert!(Entry::decode(&[0x83, 0x40]).is_err());
        assert!(Entry::decode(&[]).is_err());
    }
}
