//! Sigstore bundles (docs/SIGSTORE.md): a signature over a program (a
//! message signature or a DSSE in-toto statement naming its SHA-256), the
//! certificate or key that made it, and the Rekor entry that logged it,
//! verified offline against a trusted-root file with `sigstore-verify`
//! (sigstore-rust), exactly as Sigstore's verifiers do: the certificate
//! chain to a Fulcio CA valid at signing time, the SCT, the entry matching
//! the bundle, the inclusion proof against the bundle's checkpoint, the
//! SET (Rekor v1) or an RFC 3161 timestamp (Rekor v2).
//!
//! What this adds: the refusal's cause, typed (`cause.rs`), with the checks
//! that make it the true one (`material.rs`); who may have signed, as a
//! policy says it (`signer.rs`); the facts reports need (log, index, time).
//! What a bundle cannot give is not claimed: its checkpoint is the one it
//! carries — no witness, no freshness, no consistency with what was seen
//! before.

pub mod cause;
mod checkpoint;
pub mod material;
pub mod root;
pub mod signer;

use sha2::Digest;
use sigstore_verify::types::{Bundle, Sha256Hash};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy, VerificationResult};

pub use cause::{Cause, Refusal};
pub use material::{Facts, Material};
pub use root::{RootLog, TrustRoot};
pub use signer::{Key, SanPattern, Signer};

/// What the bundle is checked against: the bytes, or their SHA-256.
#[derive(Clone, Copy)]
pub enum Artifact<'a> {
    Bytes(&'a [u8]),
    /// The SHA-256 (what every signature but one signs over, directly or
    /// through a DSSE subject), and how to read the bytes should the
    /// signature need them: an Ed25519 message signature signs the bytes
    /// themselves. A program run from the cache is then not read and hashed
    /// again on every run (50 MB: 85 ms a run against 5 ms, docs/BENCHMARKS.md).
    Sha256 {
        sha256: [u8; 32],
        bytes: Option<&'a dyn Fn() -> Option<Vec<u8>>>,
    },
}

/// How a bundle's signing time was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// An RFC 3161 timestamp from a TSA of the trusted root.
    Rfc3161,
    /// The integrated time of a Rekor v1 entry, under its SET.
    IntegratedTime,
}

impl TimeSource {
    pub fn name(self) -> &'static str {
        match self {
            TimeSource::Rfc3161 => "rfc3161",
            TimeSource::IntegratedTime => "rekor-integrated-time",
        }
    }
}

/// A verified bundle.
#[derive(Debug, Clone)]
pub struct Proven {
    /// The certificate's SAN and OIDC issuer (keyless), or the key.
    pub identity: Option<String>,
    pub issuer: Option<String>,
    pub key: Option<String>,
    /// The trusted root's log that holds the entry.
    pub log: Option<RootLog>,
    pub facts: Facts,
    /// The signing time (Unix seconds): the earliest verified one.
    pub signed_at: Option<i64>,
    pub time_source: Option<TimeSource>,
}

impl Proven {
    /// Whether the entry is in a Rekor v2 log: a log whose key is Ed25519
    /// (Rekor v1 logs sign with ECDSA) and an entry of the kinds it writes.
    /// Read from the trusted root, not from the bundle's word alone.
    pub fn rekor_v2(&self) -> bool {
        self.log.as_ref().and_then(RootLog::ed25519).is_some() && self.facts.rekor_v2()
    }

    /// Who signed, for messages: escaped, since a certificate's SAN is
    /// whatever its CA wrote.
    pub fn signer(&self) -> String {
        crate::fsutil::terminal_safe(&match (&self.identity, &self.issuer, &self.key) {
            (Some(san), Some(iss), _) => format!("{san} (issuer {iss})"),
            (Some(san), None, _) => san.clone(),
            (_, _, Some(k)) => format!("key sha256:{k}"),
            _ => "an unknown signer".into(),
        })
    }
}

/// Whom a bundle must be signed by.
#[derive(Debug, Clone, Copy)]
pub enum Expect<'a> {
    /// Exactly this SAN and issuer (the conformance protocol's
    /// `--certificate-identity`, `--certificate-oidc-issuer`).
    Exact { san: &'a str, issuer: &'a str },
    /// One of these (a policy's `[[sigstore.identity]]` entries).
    OneOf(&'a [Signer]),
    /// This key (`--key`).
    Key(&'a Key),
}

/// The first of a file's bundles that `check` proves ([`all_proven`]).
pub fn first_proven(
    bundles: &[Result<Material, Refusal>],
    check: impl FnMut(&Material) -> Result<Proven, Refusal>,
) -> Result<Proven, Refusal> {
    all_proven(bundles, check).and_then(|v| {
        v.into_iter()
            .next()
            .ok_or_else(|| Refusal::new(Cause::Bundle, "the file holds no bundle"))
    })
}

/// Every one of a file's bundles that `check` proves, in file order (at
/// least one). A line of a JSON-lines file that does not parse is passed
/// over, as the in-toto bundle format asks; when no bundle is proven, the
/// refusal said is the last parsed bundle's (a line that does not parse
/// says least), counted among all.
pub fn all_proven(
    bundles: &[Result<Material, Refusal>],
    check: impl FnMut(&Material) -> Result<Proven, Refusal>,
) -> Result<Vec<Proven>, Refusal> {
    match sorted(bundles, check) {
        (proven, _) if !proven.is_empty() => Ok(proven),
        (_, r) => Err(r.unwrap_or_else(no_bundle)),
    }
}

fn no_bundle() -> Refusal {
    Refusal::new(Cause::Bundle, "the file holds no bundle")
}

/// The bundles `check` proves, and the refusal [`all_proven`] would say
/// of the others (`None`: there is none, every bundle proved).
pub fn sorted(
    bundles: &[Result<Material, Refusal>],
    mut check: impl FnMut(&Material) -> Result<Proven, Refusal>,
) -> (Vec<Proven>, Option<Refusal>) {
    let mut proven = vec![];
    let mut parsed = None;
    let mut unparsed = None;
    for b in bundles {
        match b.as_ref().map(&mut check) {
            Ok(Ok(p)) => proven.push(p),
            Ok(Err(r)) => parsed = Some(r),
            Err(r) => unparsed = Some(r.clone()),
        }
    }
    let failed = parsed
        .or(unparsed)
        .or_else(|| proven.is_empty().then(no_bundle));
    let failed = failed.map(|mut r| {
        if bundles.len() > 1 {
            r.detail = format!(
                "none of the {} bundles proves it; the last: {}",
                bundles.len(),
                r.detail
            );
        }
        r
    });
    (proven, failed)
}

/// Verifies one bundle (`material`) for `artifact`, signed as `expect`
/// says, against `root`.
pub fn verify(
    root: &TrustRoot,
    material: &Material,
    artifact: Artifact,
    expect: Expect,
) -> Result<Proven, Refusal> {
    let facts = &material.facts;
    let log = match &facts.log_id {
        Some(id) => Some(root.log(id).cloned().ok_or_else(|| {
            Refusal::new(
                Cause::UnknownLog,
                format!(
                    "the bundle's log (ID {}) is not in the trusted root: a bundle of another Sigstore instance, or of a log this root does not trust",
                    hex::encode(id)
                ),
            )
        })?),
        None => None,
    };
    let bundle = &material.bundle;
    let (result, key) = match expect {
        Expect::Exact { san, issuer } => {
            wants_certificate(facts)?;
            let policy = VerificationPolicy::new(san, issuer);
            (run(root, bundle, artifact, &policy)?, None)
        }
        Expect::Key(k) => (with_key(root, bundle, facts, artifact, k)?, Some(k)),
        Expect::OneOf(signers) => one_of(root, bundle, facts, artifact, signers)?,
    };
    if let Some(log) = &log {
        checkpoint::bind(log, facts)?;
    }
    Ok(proven(&result, key, log, facts.clone()))
}

/// The verifier's run, its error's cause read from its type.
fn run(
    root: &TrustRoot,
    bundle: &Bundle,
    artifact: Artifact,
    policy: &(impl sigstore_verify::Policy + ?Sized),
) -> Result<VerificationResult, Refusal> {
    let r = match artifact {
        Artifact::Bytes(b) => root.verifier().verify(b, bundle, policy),
        Artifact::Sha256 { sha256, bytes } => {
            let r = root
                .verifier()
                .verify(Sha256Hash::new(sha256), bundle, policy);
            // Read only when the signature needs the bytes, and only the
            // bytes that were hashed.
            let needs_bytes = matches!(r, Err(sigstore_verify::Error::UnsupportedArtifact(_)));
            let same = |b: &Vec<u8>| <[u8; 32]>::from(sha2::Sha256::digest(b)) == sha256;
            match bytes
                .filter(|_| needs_bytes)
                .and_then(|read| read())
                .filter(same)
            {
                Some(b) => root.verifier().verify(b.as_slice(), bundle, policy),
                None => r,
            }
        }
    };
    r.map_err(|e| Refusal::of(&e))
}

fn wants_certificate(facts: &Facts) -> Result<(), Refusal> {
    if facts.signed_with_key {
        return Err(Refusal::new(
            Cause::Key,
            "the bundle is signed with a public key, not a certificate: verifying it needs that key",
        ));
    }
    Ok(())
}

fn with_key(
    root: &TrustRoot,
    bundle: &Bundle,
    facts: &Facts,
    artifact: Artifact,
    key: &Key,
) -> Result<VerificationResult, Refusal> {
    if !facts.signed_with_key {
        return Err(Refusal::new(
            Cause::Key,
            "the bundle is signed with a certificate, not a public key",
        ));
    }
    run(
        root,
        bundle,
        artifact,
        &PublicKeyVerificationPolicy::new(key.der.clone()),
    )
}

/// A bundle signed by one of `signers`: a keyless bundle verified first,
/// then its SAN and issuer matched; a key-signed one tried with each key.
fn one_of<'s>(
    root: &TrustRoot,
    bundle: &Bundle,
    facts: &Facts,
    artifact: Artifact,
    signers: &'s [Signer],
) -> Result<(VerificationResult, Option<&'s Key>), Refusal> {
    if facts.signed_with_key {
        let keys: Vec<&Key> = signers
            .iter()
            .filter_map(|s| match s {
                Signer::Key(k) => Some(k),
                Signer::Identity { .. } => None,
            })
            .collect();
        let mut first_other = None;
        for k in &keys {
            match with_key(root, bundle, facts, artifact, k) {
                Ok(r) => return Ok((r, Some(k))),
                Err(e) if e.cause == Cause::Signature => {}
                Err(e) => {
                    first_other.get_or_insert(e);
                }
            }
        }
        return Err(first_other.unwrap_or_else(|| {
            Refusal::new(
                Cause::Identity,
                format!(
                    "the bundle is signed with a public key, and none of the {} key(s) the policy allows verifies it",
                    keys.len()
                ),
            )
        }));
    }
    let result = run(root, bundle, artifact, &VerificationPolicy::any_identity())?;
    let san = result.identity().map(|s| s.as_str().to_string());
    let issuer = result.issuer().map(str::to_string);
    let allowed = signers.iter().any(|s| match (s, &san, &issuer) {
        (Signer::Identity { issuer: i, san: p }, Some(san), Some(iss)) => {
            i == iss && p.matches(san)
        }
        _ => false,
    });
    if !allowed {
        return Err(Refusal::new(
            Cause::Identity,
            format!(
                "signed by {} (issuer {}), whom the policy does not allow",
                san.as_deref().unwrap_or("a certificate without a SAN"),
                issuer.as_deref().unwrap_or("none")
            ),
        ));
    }
    Ok((result, None))
}

fn proven(r: &VerificationResult, key: Option<&Key>, log: Option<RootLog>, facts: Facts) -> Proven {
    let integrated = r.integrated_time().map(|t| t.as_second());
    let earliest = r.verified_timestamps().iter().map(|t| t.as_second()).min();
    let time_source = earliest.map(|t| {
        if integrated == Some(t) {
            TimeSource::IntegratedTime
        } else {
            TimeSource::Rfc3161
        }
    });
    Proven {
        identity: r.identity().map(|s| s.as_str().to_string()),
        issuer: r.issuer().map(str::to_string),
        key: key.map(|k| k.fingerprint.clone()),
        log,
        facts,
        signed_at: earliest,
        time_source,
    }
}
