//! Verifier keys (`name+hexid+base64(type ‖ key)`, C2SP signed-note) and the
//! secret key files `bt-log keygen` writes (Go's `PRIVATE+KEY+…` format).

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::NoteError;

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

/// A parsed Ed25519-based verifier key of type 0x01 or 0x04.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierKey {
    pub name: String,
    pub id: u32,
    pub alg: u8,
    pub key: VerifyingKey,
}

fn valid_name(name: &str) -> bool {
    signed_note::is_key_name_valid(name)
}

impl VerifierKey {
    /// Parses a vkey. Only the Ed25519 types 0x01 and 0x04 are accepted; the
    /// key ID must match the name and key.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
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
        let key = VerifyingKey::from_bytes(&key).map_err(|_| bad("not an Ed25519 point"))?;
        Ok(VerifierKey {
            name: name.to_string(),
            id,
            alg,
            key,
        })
    }

    /// Builds the vkey of `alg` for a raw Ed25519 public key.
    pub fn from_ed25519(name: &str, alg: u8, key: VerifyingKey) -> Result<Self, NoteError> {
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
            key: self.key,
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
            key,
        }
    }
}

/// Parses an Ed25519 public key given as a vkey (any type) or as base64 of
/// the raw 32 bytes (policy `[[publisher]] key`).
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, NoteError> {
    let text = text.trim();
    if text.contains('+') && VerifierKey::parse(text).is_ok() {
        return VerifierKey::parse(text).map(|k| k.key);
    }
    let raw = B64
        .decode(text)
        .map_err(|_| NoteError::BadKey(format!("not a vkey nor base64 of 32 bytes: {text:?}")))?;
    let raw: [u8; 32] = raw
        .try_into()
        .map_err(|_| NoteError::BadKey(format!("an Ed25519 key is 32 bytes: {text:?}")))?;
    VerifyingKey::from_bytes(&raw)
        .map_err(|_| NoteError::BadKey(format!("not an Ed25519 point: {text:?}")))
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
