//! Verifier keys (`name+hexid+base64(type ‖ key)`, C2SP signed-note) and the
//! secret key files `bt-log keygen` writes (Go's `PRIVATE+KEY+…` format).

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ed25519_dalek::{Signature as EdSignature, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use super::error::NoteError;

/// Signature type of an Ed25519 signed-note signature (a log's key).
pub const ALG_ED25519: u8 = 0x01;
/// Signature type of a `cosignature/v1` timestamped Ed25519 cosignature.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// The key ID of a signed-note key: the first four bytes of
/// SHA-256(name ‖ 0x0A ‖ type ‖ key), big-endian.
pub fn key_id(name: &str, alg: u8, key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([alg]);
    h.update(key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// An Ed25519 public key: its 32 bytes, with the curve point decompressed
/// on first use. Decompressing costs a field exponentiation (~8 µs), and
/// bt-exec's warm path checks no signature, so keys from a policy already
/// validated, or from a cached entry, are never decompressed there. Keys
/// compare by their bytes.
#[derive(Clone)]
pub struct PublicKey {
    bytes: [u8; 32],
    point: std::sync::OnceLock<Option<VerifyingKey>>,
}

impl PublicKey {
    /// The key, checked now: `None` when the bytes are not a curve point.
    pub fn checked(bytes: [u8; 32]) -> Option<Self> {
        VerifyingKey::from_bytes(&bytes).ok().map(Self::from)
    }

    /// The key, checked when first used: [`PublicKey::point`] is `None` then
    /// when the bytes are not a point, and every signature fails.
    pub fn unchecked(bytes: [u8; 32]) -> Self {
        PublicKey {
            bytes,
            point: std::sync::OnceLock::new(),
        }
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The decompressed point, `None` when the bytes are not one.
    pub fn point(&self) -> Option<&VerifyingKey> {
        self.point
            .get_or_init(|| VerifyingKey::from_bytes(&self.bytes).ok())
            .as_ref()
    }

    /// Ed25519 as Go's `crypto/ed25519` does it (see [`verify_ed25519`]).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.point().is_some_and(|k| verify_ed25519(k, msg, sig))
    }
}

impl From<VerifyingKey> for PublicKey {
    fn from(k: VerifyingKey) -> Self {
        PublicKey {
            bytes: k.to_bytes(),
            point: std::sync::OnceLock::from(Some(k)),
        }
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for PublicKey {}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.bytes.hash(h)
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.bytes))
    }
}

/// Whether a parser checks now that key bytes are a curve point. `Later` is
/// for text known to have passed the check before (a policy whose exact
/// text the state directory records as validated): the point is then
/// decompressed only if a signature is checked with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PointCheck {
    Now,
    Later,
}

impl PointCheck {
    pub(crate) fn key(self, bytes: [u8; 32]) -> Option<PublicKey> {
        match self {
            PointCheck::Now => PublicKey::checked(bytes),
            PointCheck::Later => Some(PublicKey::unchecked(bytes)),
        }
    }
}

/// A parsed Ed25519-based verifier key of type 0x01 or 0x04.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierKey {
    pub name: String,
    pub id: u32,
    pub alg: u8,
    pub key: PublicKey,
}

fn valid_name(name: &str) -> bool {
    signed_note::is_key_name_valid(name)
}

impl VerifierKey {
    /// Parses a vkey. Only the Ed25519 types 0x01 and 0x04 are accepted; the
    /// key ID must match the name and key.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        Self::parse_with(vkey, PointCheck::Now)
    }

    /// [`VerifierKey::parse`], checking the point now or later.
    pub fn parse_with(vkey: &str, check: PointCheck) -> Result<Self, NoteError> {
        let bad = |why: &str| NoteError::BadKey(format!("{why}: {vkey:?}"));
        let vkey = vkey.trim();
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id16), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("a verifier key is name+hexid+base64"));
        };
        if !valid_name(name) {
            return Err(bad("invalid key name"));
        }
        if id16.len() != 8 || !id16.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad("the key ID must be 8 hex digits"));
        }
        let id = u32::from_str_radix(id16, 16).map_err(|_| bad("bad key ID"))?;
        let raw = B64.decode(b64).map_err(|_| bad("bad base64 key"))?;
        let Some((&alg, key)) = raw.split_first() else {
            return Err(bad("empty key"));
        };
        if alg != ALG_ED25519 && alg != ALG_COSIGNATURE_V1 {
            return Err(bad(&format!("unsupported key type 0x{alg:02x}")));
        }
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| bad("an Ed25519 key is 32 bytes"))?;
        if key_id(name, alg, &key) != id {
            return Err(bad("key ID does not match the name and key"));
        }
        let key = check.key(key).ok_or_else(|| bad("not an Ed25519 point"))?;
        Ok(VerifierKey {
            name: name.to_string(),
            id,
            alg,
            key,
        })
    }

    /// Builds the vkey of `alg` for a raw Ed25519 public key.
    pub fn from_ed25519(name: &str, alg: u8, key: PublicKey) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadKey(format!("invalid key name {name:?}")));
        }
        Ok(VerifierKey {
            name: name.to_string(),
            id: key_id(name, alg, key.as_bytes()),
            alg,
            key,
        })
    }

    /// The same key as a cosignature/v1 (0x04) witness key: a 0x01 key is
    /// converted and its key ID recomputed (DESIGN §2).
    pub fn to_cosignature_key(&self) -> Self {
        VerifierKey {
            name: self.name.clone(),
            id: key_id(&self.name, ALG_COSIGNATURE_V1, self.key.as_bytes()),
            alg: ALG_COSIGNATURE_V1,
            key: self.key.clone(),
        }
    }

    /// Parses a witness key: either vkey form, always returned as 0x04.
    pub fn parse_witness(vkey: &str) -> Result<Self, NoteError> {
        Ok(Self::parse(vkey)?.to_cosignature_key())
    }

    /// Parses a log key: must be an Ed25519 (0x01) key.
    pub fn parse_log(vkey: &str) -> Result<Self, NoteError> {
        let k = Self::parse(vkey)?;
        if k.alg != ALG_ED25519 {
            return Err(NoteError::BadKey(format!(
                "a log key must be an Ed25519 (type 0x01) key, got type 0x{:02x}: {vkey}",
                k.alg
            )));
        }
        Ok(k)
    }

    /// The vkey text.
    pub fn encode(&self) -> String {
        let mut raw = vec![self.alg];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.id, B64.encode(raw))
    }
}

impl std::fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.encode())
    }
}

/// A secret Ed25519 key with its name, as written by `bt-log keygen`.
pub struct SecretKey {
    pub name: String,
    pub key: SigningKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.name)
    }
}

impl SecretKey {
    /// Generates a new key from the operating system's randomness.
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadKey(format!("invalid key name {name:?}")));
        }
        let key = SigningKey::generate(&mut rand_core::OsRng);
        Ok(SecretKey {
            name: name.to_string(),
            key,
        })
    }

    /// The key with this Ed25519 seed (deterministic keys for tests and
    /// test vectors).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadKey(format!("invalid key name {name:?}")));
        }
        Ok(SecretKey {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Parses `PRIVATE+KEY+name+hexid+base64(0x01 ‖ seed)`.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let bad = |why: &str| NoteError::BadKey(format!("secret key: {why}"));
        let text = text.trim();
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| bad("does not start with PRIVATE+KEY+"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id16), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected PRIVATE+KEY+name+hexid+base64"));
        };
        let id = u32::from_str_radix(id16, 16).map_err(|_| bad("bad key ID"))?;
        let raw = B64.decode(b64).map_err(|_| bad("bad base64"))?;
        let Some((&alg, seed)) = raw.split_first() else {
            return Err(bad("empty key"));
        };
        if alg != ALG_ED25519 {
            return Err(bad("only Ed25519 (type 0x01) secret keys are supported"));
        }
        let seed: [u8; 32] = seed.try_into().map_err(|_| bad("the seed is 32 bytes"))?;
        let key = SigningKey::from_bytes(&seed);
        if !valid_name(name) || id16.len() != 8 {
            return Err(bad("invalid name or key ID"));
        }
        if key_id(name, ALG_ED25519, key.verifying_key().as_bytes()) != id {
            return Err(bad("key ID does not match the key"));
        }
        Ok(SecretKey {
            name: name.to_string(),
            key,
        })
    }

    pub fn encode(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(&self.key.to_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            key_id(&self.name, ALG_ED25519, self.key.verifying_key().as_bytes()),
            B64.encode(raw)
        )
    }

    /// The 0x01 verifier key of this key.
    pub fn verifier(&self) -> VerifierKey {
        let key = self.key.verifying_key();
        VerifierKey {
            name: self.name.clone(),
            id: key_id(&self.name, ALG_ED25519, key.as_bytes()),
            alg: ALG_ED25519,
            key: key.into(),
        }
    }
}

/// Parses an Ed25519 public key given as a vkey (any type) or as base64 of
/// the raw 32 bytes (policy `[[publisher]] key`).
pub fn parse_public_key(text: &str) -> Result<PublicKey, NoteError> {
    parse_public_key_with(text, PointCheck::Now)
}

/// [`parse_public_key`], checking the point now or later.
pub fn parse_public_key_with(text: &str, check: PointCheck) -> Result<PublicKey, NoteError> {
    let text = text.trim();
    if text.contains('+') {
        if let Ok(k) = VerifierKey::parse_with(text, check) {
            return Ok(k.key);
        }
    }
    let raw = B64
        .decode(text)
        .map_err(|_| NoteError::BadKey(format!("not a vkey nor base64 of 32 bytes: {text:?}")))?;
    let raw: [u8; 32] = raw
        .try_into()
        .map_err(|_| NoteError::BadKey(format!("an Ed25519 key is 32 bytes: {text:?}")))?;
    check
        .key(raw)
        .ok_or_else(|| NoteError::BadKey(format!("not an Ed25519 point: {text:?}")))
}

/// Ed25519 as Go's `crypto/ed25519` does it: cofactorless, canonical S.
pub fn verify_ed25519(key: &VerifyingKey, msg: &[u8], sig: &[u8]) -> bool {
    let Ok(sig) = EdSignature::from_slice(sig) else {
        return false;
    };
    key.verify(msg, &sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_conversion() {
        let sk = SecretKey::generate("example.com/w1").unwrap();
        let again = SecretKey::parse(&sk.encode()).unwrap();
        assert_eq!(again.key.to_bytes(), sk.key.to_bytes());
        let v = sk.verifier();
        assert_eq!(VerifierKey::parse(&v.encode()).unwrap(), v);
        let c = v.to_cosignature_key();
        assert_eq!(c.alg, ALG_COSIGNATURE_V1);
        assert_ne!(c.id, v.id);
        assert_eq!(VerifierKey::parse(&c.encode()).unwrap(), c);
        assert_eq!(VerifierKey::parse_witness(&v.encode()).unwrap(), c);
        assert!(VerifierKey::parse_log(&c.encode()).is_err());
    }

    #[test]
    fn rejects_bad_vkeys() {
        let v = SecretKey::generate("n").unwrap().verifier().encode();
        for bad in ["", "n", "n+1234", "n+zzzzzzzz+AQ==", "+00000000+AQ=="] {
            assert!(VerifierKey::parse(bad).is_err(), "{bad}");
        }
        let wrong_id = format!("n+00000000{}", &v[10..]);
        assert!(VerifierKey::parse(&wrong_id).is_err());
    }
}
