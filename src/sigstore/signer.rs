//! Who may have signed a bundle: an OIDC issuer and a certificate SAN
//! (exact, or one trailing `*` matching any suffix — no other pattern
//! syntax), or a public key.

use sigstore_verify::types::DerPublicKey;

/// A SAN as the policy gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SanPattern {
    Exact(String),
    /// Everything that starts with this.
    Prefix(String),
}

impl SanPattern {
    /// `value` exactly, or `prefix*`. A `*` anywhere else, or a pattern
    /// that is only `*`, is an error: the policy would allow more than it
    /// seems to.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (body, wild) = match s.strip_suffix('*') {
            Some(b) => (b, true),
            None => (s, false),
        };
        if body.is_empty() {
            return Err(format!("san {s:?}: empty (a SAN, or a prefix ending in *)"));
        }
        if body.contains('*') {
            return Err(format!(
                "san {s:?}: a * may only end the pattern (no other pattern syntax)"
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(format!("san {s:?}: control characters"));
        }
        Ok(if wild {
            SanPattern::Prefix(body.to_string())
        } else {
            SanPattern::Exact(body.to_string())
        })
    }

    pub fn matches(&self, san: &str) -> bool {
        match self {
            SanPattern::Exact(e) => e == san,
            SanPattern::Prefix(p) => san.starts_with(p.as_str()),
        }
    }
}

impl std::fmt::Display for SanPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SanPattern::Exact(e) => f.write_str(e),
            SanPattern::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

/// A public key a bundle may be signed with (PEM `PUBLIC KEY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub der: DerPublicKey,
    /// SHA-256 of the DER key, hex: how reports name it.
    pub fingerprint: String,
}

impl Key {
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        use sha2::Digest;
        let der = DerPublicKey::from_pem(pem).map_err(|e| format!("not a PEM public key: {e}"))?;
        let fingerprint = hex::encode(sha2::Sha256::digest(der.as_bytes()));
        Ok(Key { der, fingerprint })
    }
}

/// Who a policy allows, or a conformance invocation expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    Identity { issuer: String, san: SanPattern },
    Key(Key),
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signer::Identity { issuer, san } => write!(f, "{san} (issuer {issuer})"),
            Signer::Key(k) => write!(f, "key sha256:{}", k.fingerprint),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one pattern form, and the near-misses that must not pass for it.
    #[test]
    fn a_san_pattern_is_exact_or_one_trailing_star() {
        let tag = "https://github.com/o/r/.github/workflows/r.yml@refs/tags/*";
        let p = SanPattern::parse(tag).unwrap_or_else(|e| panic!("{e}"));
        assert!(p.matches("https://github.com/o/r/.github/workflows/r.yml@refs/tags/v1"));
        for near in [
            "https://github.com/o/r/.github/workflows/r.yml@refs/heads/main",
            "https://github.com/o/r/.github/workflows/r.yml@refs/tags",
            "https://github.com/o/rr/.github/workflows/r.yml@refs/tags/v1",
            "http://github.com/o/r/.github/workflows/r.yml@refs/tags/v1",
            "",
        ] {
            assert!(!p.matches(near), "{near}");
        }
        let exact = SanPattern::parse("me@example.org").unwrap_or_else(|e| panic!("{e}"));
        assert!(exact.matches("me@example.org"));
        for near in [
            "me@example.org.",
            "me@example.or",
            "Me@example.org",
            "xme@example.org",
        ] {
            assert!(!exact.matches(near), "{near}");
        }
        for bad in ["*", "", "https://*/x", "a*b*", "**", "a\nb"] {
            assert!(SanPattern::parse(bad).is_err(), "{bad:?} must not parse");
        }
        assert_eq!(p.to_string(), tag);
    }

    #[test]
    fn a_key_is_a_pem_public_key() {
        assert!(Key::from_pem("not pem").is_err());
        assert!(
            Key::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .is_err()
        );
    }
}
