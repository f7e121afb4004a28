//! The Rekor v2 entry decoder, against bodies made by an independent writer
//! (fixtures/rekor-entries/make.py, pyca/cryptography) and the real bundles of
//! `../shared/vectors/sigstore-real/`: what is refused first, then what is
//! read.

use super::*;
use crate::monitor::rekor::tests::{real_body, vectors};

const EMAIL: &[u8] = include_bytes!("../../../fixtures/rekor-entries/hashedrekord-email.json");
const URI_V1_ISSUER: &[u8] =
    include_bytes!("../../../fixtures/rekor-entries/hashedrekord-uri-v1-issuer.json");
const ED25519_KEY: &[u8] =
    include_bytes!("../../../fixtures/rekor-entries/hashedrekord-ed25519-key.json");
const DSSE: &[u8] = include_bytes!("../../../fixtures/rekor-entries/dsse-two-signers.json");
const ED25519_PEM: &str = include_str!("../../../fixtures/rekor-entries/ed25519-key.pem");

fn json(leaf: &[u8]) -> serde_json::Value {
    serde_json::from_slice(leaf).unwrap_or_else(|e| panic!("{e}"))
}

fn decode_value(v: &serde_json::Value) -> Result<RekorEntry, EntryError> {
    RekorEntry::decode(v.to_string().as_bytes())
}

fn edited(
    leaf: &[u8],
    edit: impl FnOnce(&mut serde_json::Value),
) -> Result<RekorEntry, EntryError> {
    let mut v = json(leaf);
    edit(&mut v);
    decode_value(&v)
}

fn err(r: Result<RekorEntry, EntryError>) -> EntryError {
    match r {
        Ok(e) => panic!("decoded: {e:?}"),
        Err(e) => e,
    }
}

#[test]
fn what_is_not_a_v002_entry_is_refused_naming_why() {
    assert_eq!(
        err(RekorEntry::decode(&vec![b' '; MAX_ENTRY_BYTES + 1])),
        EntryError::TooLarge(MAX_ENTRY_BYTES + 1)
    );
    assert!(matches!(err(RekorEntry::decode(b"")), EntryError::Json(_)));
    assert!(matches!(
        err(RekorEntry::decode(b"[]")),
        EntryError::Json(_)
    ));
    for (kind, version) in [
        ("hashedrekord", "0.0.1"),
        ("dsse", "0.0.1"),
        ("intoto", "0.0.2"),
        ("rekord", "0.0.2"),
        ("hashedrekord", "0.0.3"),
        ("HashedRekord", "0.0.2"),
    ] {
        let e = err(edited(EMAIL, |v| {
            v["kind"] = kind.into();
            v["apiVersion"] = version.into();
        }));
        assert!(
            matches!(e, EntryError::NotV002 { .. }),
            "{kind} {version}: {e}"
        );
    }
    // The kind is quoted escaped, never sent to a terminal as it is.
    let e = err(edited(EMAIL, |v| v["kind"] = "\u{1b}[2J".into()));
    assert!(!e.to_string().contains('\u{1b}'), "{e}");
    let e = err(edited(EMAIL, |v| v["\u{1b}]0;x\u{7}"] = 1.into()));
    assert!(!e.to_string().contains('\u{1b}'), "{e}");
}

#[test]
fn every_field_is_known_and_read_once() {
    let unknown: [fn(&mut serde_json::Value); 6] = [
        |v| v["extra"] = 1.into(),
        |v| v["spec"]["extra"] = 1.into(),
        |v| v["spec"]["hashedRekordV002"]["extra"] = 1.into(),
        |v| v["spec"]["hashedRekordV002"]["data"]["extra"] = 1.into(),
        |v| v["spec"]["hashedRekordV002"]["signature"]["verifier"]["extra"] = 1.into(),
        |v| {
            v["spec"]["hashedRekordV002"]["signature"]["verifier"]["x509Certificate"]["extra"] =
                1.into()
        },
    ];
    for (i, edit) in unknown.into_iter().enumerate() {
        assert!(
            matches!(err(edited(EMAIL, edit)), EntryError::Json(_)),
            "case {i}"
        );
    }
    let text = String::from_utf8_lossy(EMAIL).replacen(
        "\"kind\":\"hashedrekord\"",
        "\"kind\":\"hashedrekord\",\"kind\":\"hashedrekord\"",
        1,
    );
    assert!(matches!(
        err(RekorEntry::decode(text.as_bytes())),
        EntryError::Json(_)
    ));
    let missing: [fn(&mut serde_json::Value); 3] = [
        |v| {
            drop(
                v["spec"]["hashedRekordV002"]["data"]
                    .as_object_mut()
                    .map(|o| o.remove("digest")),
            )
        },
        |v| {
            drop(
                v["spec"]["hashedRekordV002"]["signature"]["verifier"]
                    .as_object_mut()
                    .map(|o| o.remove("keyDetails")),
            )
        },
        |v| drop(v.as_object_mut().map(|o| o.remove("spec"))),
    ];
    for (i, edit) in missing.into_iter().enumerate() {
        assert!(
            matches!(err(edited(EMAIL, edit)), EntryError::Json(_)),
            "case {i}"
        );
    }
}

#[test]
fn the_spec_is_its_kinds_and_only_that() {
    let e = err(edited(EMAIL, |v| v["kind"] = "dsse".into()));
    assert_eq!(e, EntryError::Spec("dsseV002"));
    let e = err(edited(DSSE, |v| v["kind"] = "hashedrekord".into()));
    assert_eq!(e, EntryError::Spec("hashedRekordV002"));
    let dsse = json(DSSE)["spec"]["dsseV002"].clone();
    let e = err(edited(EMAIL, |v| v["spec"]["dsseV002"] = dsse));
    assert_eq!(e, EntryError::Spec("hashedRekordV002"));
}

#[test]
fn bytes_digests_and_verifiers_are_checked() {
    let data = |v: &mut serde_json::Value| v["spec"]["hashedRekordV002"]["data"].clone();
    let e = err(edited(EMAIL, |v| {
        v["spec"]["hashedRekordV002"]["data"]["digest"] = "not base64!".into()
    }));
    assert_eq!(e, EntryError::Base64("data.digest"));
    let e = err(edited(EMAIL, |v| {
        let mut d = data(v);
        d["digest"] = "AAAA".into();
        v["spec"]["hashedRekordV002"]["data"] = d;
    }));
    assert_eq!(
        e,
        EntryError::DigestLength {
            algorithm: "sha256",
            len: 3
        }
    );
    let e = err(edited(EMAIL, |v| {
        v["spec"]["hashedRekordV002"]["data"]["algorithm"] = "SHA1".into()
    }));
    assert_eq!(e, EntryError::Algorithm("SHA1".into()));
    // Unpadded and URL-safe base64 are not what Rekor writes.
    let e = err(edited(EMAIL, |v| {
        let d = v["spec"]["hashedRekordV002"]["data"]["digest"]
            .as_str()
            .map(|s| s.trim_end_matches('=').to_string());
        v["spec"]["hashedRekordV002"]["data"]["digest"] = d.into();
    }));
    assert_eq!(e, EntryError::Base64("data.digest"));
    let key =
        json(ED25519_KEY)["spec"]["hashedRekordV002"]["signature"]["verifier"]["publicKey"].clone();
    let e = err(edited(EMAIL, |v| {
        v["spec"]["hashedRekordV002"]["signature"]["verifier"]["publicKey"] = key
    }));
    assert_eq!(e, EntryError::Verifier);
    let e = err(edited(EMAIL, |v| {
        drop(
            v["spec"]["hashedRekordV002"]["signature"]["verifier"]
                .as_object_mut()
                .map(|o| o.remove("x509Certificate")),
        )
    }));
    assert_eq!(e, EntryError::Verifier);
    let e = err(edited(EMAIL, |v| {
        v["spec"]["hashedRekordV002"]["signature"]["verifier"]["x509Certificate"]["rawBytes"] =
            "AAAA".into()
    }));
    assert!(matches!(e, EntryError::Certificate(_)), "{e}");
    let e = err(edited(ED25519_KEY, |v| {
        v["spec"]["hashedRekordV002"]["signature"]["verifier"]["publicKey"]["rawBytes"] =
            "AAAA".into()
    }));
    assert!(matches!(e, EntryError::PublicKey(_)), "{e}");
}

#[test]
fn an_ecdsa_signature_must_verify_over_the_logged_digest() {
    let e = err(edited(EMAIL, |v| {
        v["spec"]["hashedRekordV002"]["data"]["digest"] =
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()
    }));
    assert_eq!(e, EntryError::BadSignature);
    let e = err(edited(EMAIL, |v| {
        v["spec"]["hashedRekordV002"]["signature"]["content"] = "MEUCIQ==".into()
    }));
    assert_eq!(e, EntryError::BadSignature);
    let e = err(edited(EMAIL, |v| {
        v["spec"]["hashedRekordV002"]["data"] = serde_json::json!({
            "algorithm": "SHA2_384",
            "digest": base64::engine::general_purpose::STANDARD.encode([0u8; 48]),
        })
    }));
    assert_eq!(
        e,
        EntryError::DigestForKey("PKIX_ECDSA_P256_SHA_256".into(), "sha256")
    );
}

#[test]
fn a_dsse_entry_has_one_to_sixteen_signatures() {
    let e = err(edited(DSSE, |v| {
        v["spec"]["dsseV002"]["signatures"] = serde_json::json!([])
    }));
    assert_eq!(e, EntryError::Signatures(0));
    let one = json(DSSE)["spec"]["dsseV002"]["signatures"][0].clone();
    let many = vec![one; MAX_DSSE_SIGNATURES + 1];
    let e = err(edited(DSSE, |v| {
        v["spec"]["dsseV002"]["signatures"] = many.into()
    }));
    assert_eq!(e, EntryError::Signatures(MAX_DSSE_SIGNATURES + 1));
}

#[test]
fn a_certificate_gives_its_san_and_fulcio_issuer() {
    let e = RekorEntry::decode(EMAIL).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.kind, Kind::HashedRekord);
    assert_eq!(
        e.digest.text(),
        "sha256:a41f5afedda3e826aa8d0c08f2f1ebdda16893a0370b1df2cebfc87d68e1ea91"
    );
    assert!(e.signatures_checked);
    // The 1.8 extension wins over the deprecated 1.1.
    assert_eq!(
        e.signers,
        vec![Signer::Certificate {
            san: Some((SanKind::Email, "alice@example.com".into())),
            other_sans: vec![],
            issuer: Some("https://issuer.example".into()),
        }]
    );
    assert_eq!(
        e.signers[0].describe(),
        "alice@example.com (issuer https://issuer.example)"
    );
    let e = RekorEntry::decode(URI_V1_ISSUER).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        e.signers,
        vec![Signer::Certificate {
            san: Some((
                SanKind::Uri,
                "https://github.com/o/r/.github/workflows/release.yml@refs/tags/v1".into()
            )),
            other_sans: vec![],
            issuer: Some("https://token.actions.githubusercontent.com".into()),
        }]
    );
}

#[test]
fn a_public_key_is_named_by_its_sha256_and_an_ed25519_signature_is_not_checked() {
    let e = RekorEntry::decode(ED25519_KEY).unwrap_or_else(|e| panic!("{e}"));
    let fp = crate::sigstore::Key::from_pem(ED25519_PEM).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        e.signers,
        vec![Signer::Key {
            sha256: <[u8; 32]>::try_from(hex::decode(&fp.fingerprint).unwrap_or_default())
                .unwrap_or_default()
        }]
    );
    assert_eq!(
        e.signers[0].describe(),
        format!("key sha256:{}", fp.fingerprint)
    );
    assert!(!e.signatures_checked);
}

#[test]
fn a_dsse_entry_gives_its_payload_hash_and_every_signer() {
    let e = RekorEntry::decode(DSSE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.kind, Kind::Dsse);
    assert_eq!(
        e.digest.text(),
        "sha256:efd35cf5b72b5b9eeee4ee292f5d6b079191324b19ee9231892fb391c82c1d51"
    );
    assert_eq!(e.signers.len(), 2);
    assert!(matches!(e.signers[1], Signer::Key { .. }));
    assert!(!e.signatures_checked);
}

/// Every real Rekor v2 body decodes (its signature verified over its
/// digest, its identity read from a real Fulcio certificate); every Rekor
/// v1 body is refused as not v0.0.2.
#[test]
fn real_rekor_bodies_decode_and_v1_ones_are_refused() {
    let Some(v) = vectors("real_rekor_bodies_decode_and_v1_ones_are_refused") else {
        return;
    };
    let dir = v.join("sigstore-real");
    let mut v2 = 0;
    for f in std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
    {
        let path = f.path();
        if !path.to_string_lossy().ends_with(".sigstore.json") {
            continue;
        }
        let (entry, body) = real_body(&path);
        let version = entry["kindVersion"]["version"].as_str().unwrap_or_default();
        match RekorEntry::decode(&body) {
            Ok(e) => {
                assert_eq!(version, "0.0.2", "{}", path.display());
                assert!(e.signatures_checked, "{}", path.display());
                v2 += 1;
            }
            Err(e) => {
                assert_eq!(version, "0.0.1", "{}: {e}", path.display());
                assert!(matches!(e, EntryError::NotV002 { .. }), "{e}");
            }
        }
    }
    assert_eq!(v2, 2);
    let (_, body) = real_body(&dir.join("staging-rekor-v2.txt.sigstore.json"));
    let e = RekorEntry::decode(&body).unwrap_or_else(|e| panic!("{e}"));
    let artifact = std::fs::read(dir.join("staging-rekor-v2.txt")).unwrap_or_default();
    assert_eq!(e.digest.bytes, Sha256::digest(&artifact).to_vec());
    assert_eq!(
        e.signers[0].describe(),
        "jku@goto.fi (issuer https://github.com/login/oauth)"
    );
    let (_, body) = real_body(&dir.join("a.dsse.staging-rekor-v2.txt.sigstore.json"));
    let e = RekorEntry::decode(&body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        e.signers[0].describe(),
        "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main (issuer https://token.actions.githubusercontent.com)"
    );
}
