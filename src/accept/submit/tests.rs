use super::*;
use crate::entry::Release;
use ed25519_dalek::SigningKey;

fn release(name: &str, version: &str) -> Release {
    Release {
        name: name.into(),
        version: version.into(),
        platform: "any".into(),
        sha256: [7; 32],
        size: 10,
        published: 1_700_000_000,
        cas: vec![],
        source: None,
    }
}

fn leaf(key: &SigningKey, name: &str, version: &str) -> Vec<u8> {
    Entry::sign(release(name, version), key).unwrap().encode()
}

fn admission(key: &SigningKey, extra: &str) -> Admission {
    use base64::Engine;
    let k = base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes());
    Admission::parse(&format!(
        "[[publisher]]\nkey = \"{k}\"\nnames = [\"a.example/*\"]\nquota = 3\n{extra}"
    ))
    .unwrap()
}

fn status(v: &Verdict) -> u16 {
    match v {
        Verdict::Known(_) => 200,
        Verdict::Accept { .. } => 202,
        Verdict::Refuse { status, .. } => *status,
    }
}

const ADDR: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// How [`restated`] re-encodes a release's statement.
enum Restate {
    Same,
    Reorder,
    Extra,
    LongInt,
}

/// An entry whose statement holds the release "a.example/tool" `version`
/// re-encoded by hand (and validly signed over those bytes).
fn restated(key: &SigningKey, version: &str, how: Restate) -> Vec<u8> {
    use ciborium::Value;
    use ed25519_dalek::Signer;
    let canonical = release("a.example/tool", version)
        .encode_statement()
        .unwrap();
    let mut statement = match how {
        Restate::LongInt => Vec::new(),
        _ => canonical.clone(),
    };
    if !matches!(how, Restate::Same | Restate::LongInt) {
        let Value::Map(mut m) = ciborium::from_reader::<Value, _>(&canonical[..]).unwrap() else {
            panic!("not a map")
        };
        match how {
            Restate::Reorder => m.reverse(),
            _ => m.push((Value::Text("zzz".into()), Value::Integer(1.into()))),
        }
        statement.clear();
        ciborium::into_writer(&Value::Map(m), &mut statement).unwrap();
    }
    if let Restate::LongInt = how {
        // `size` 10 as a 4-byte integer instead of the one-byte form.
        let pos = canonical.windows(5).position(|w| w == b"dsize").unwrap() + 5;
        statement.extend_from_slice(&canonical[..pos]);
        statement.extend_from_slice(&[0x1a, 0, 0, 0, canonical[pos]]);
        statement.extend_from_slice(&canonical[pos + 1..]);
    }
    let mut msg = crate::entry::SIGNATURE_CONTEXT.to_vec();
    msg.extend_from_slice(&statement);
    let sig = key.sign(&msg).to_bytes();
    let mut out = Vec::new();
    let arr = Value::Array(vec![
        Value::Bytes(statement),
        Value::Bytes(key.verifying_key().as_bytes().to_vec()),
        Value::Bytes(sig.to_vec()),
    ]);
    ciborium::into_writer(&arr, &mut out).unwrap();
    out
}

#[test]
fn an_ipv6_client_is_counted_by_its_64() {
    let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
    let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
    let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
    assert_eq!(quota_address(a), quota_address(b));
    assert_ne!(quota_address(a), quota_address(c));
    let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
    assert_eq!(
        quota_address(mapped),
        "192.0.2.1".parse::<IpAddr>().unwrap()
    );
    assert_eq!(quota_address(ADDR), ADDR);
}

/// Negative cases first, one per refusal, each with the control beside it.
#[test]
fn every_refusal_and_its_control() {
    let (a, stranger) = (
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
    );
    let adm = admission(&a, "[limits]\npending = 5\naddress_quota = 100\n");
    let known = leaf(&a, "a.example/tool", "0.9");
    let known_hash = leaf_hash(&known);
    let index_of = move |h: &Hash| (*h == known_hash).then_some(41);
    let ctx = Context {
        admission: &adm,
        index_of: &index_of,
        pending: 0,
    };
    let mut q = Quotas::default();
    let good = leaf(&a, "a.example/tool", "1.0");
    let mut tampered = good.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let mut long = good.clone();
    long.resize(MAX_LEAF_BYTES + 1, 0);
    let mut trailing = good.clone();
    trailing.push(0);
    let rows: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "statement keys reordered",
            restated(&a, "1.0", Restate::Reorder),
            400,
        ),
        (
            "statement with a field unknown here",
            restated(&a, "1.0", Restate::Extra),
            400,
        ),
        (
            "statement integer in a longer form",
            restated(&a, "1.0", Restate::LongInt),
            400,
        ),
        (
            "statement re-encoded as it was (control)",
            restated(&a, "1.1", Restate::Same),
            202,
        ),
        (
            "a zero-width space in the name",
            leaf(&a, "a.example/tool\u{200b}", "1.0"),
            400,
        ),
        (
            "a right-to-left override in the version",
            leaf(&a, "a.example/tool", "1.0\u{202e}exe"),
            400,
        ),
        ("oversized", long, 413),
        ("garbage", b"not cbor".to_vec(), 400),
        ("empty", vec![], 400),
        ("trailing bytes", trailing, 400),
        ("bad signature", tampered, 400),
        (
            "key not admitted",
            leaf(&stranger, "a.example/tool", "1.0"),
            403,
        ),
        (
            "name outside the key's patterns",
            leaf(&a, "b.example/tool", "1.0"),
            403,
        ),
        ("already logged", known.clone(), 200),
        ("the control", good.clone(), 202),
    ];
    for (what, body, want) in rows {
        assert_eq!(
            status(&judge(&body, ADDR, 1000, &ctx, &mut q)),
            want,
            "{what}"
        );
    }
    assert_eq!(judge(&known, ADDR, 1000, &ctx, &mut q), Verdict::Known(41));
    // Only the control was counted.
    assert_eq!(q.keys.len(), 1);
}

#[test]
fn quotas_and_the_pool() {
    let a = SigningKey::from_bytes(&[1; 32]);
    let adm = admission(&a, "[limits]\npending = 2\naddress_quota = 4\n");
    let none = |_: &Hash| None;
    let mut ctx = Context {
        admission: &adm,
        index_of: &none,
        pending: 0,
    };
    let mut q = Quotas::default();
    for v in 0..3 {
        let b = leaf(&a, "a.example/tool", &format!("1.{v}"));
        assert_eq!(status(&judge(&b, ADDR, 1000, &ctx, &mut q)), 202);
    }
    // The key's quota of 3 a day: 429 with the wait.
    let b = leaf(&a, "a.example/tool", "1.9");
    match judge(&b, ADDR, 1000, &ctx, &mut q) {
        Verdict::Refuse {
            status: 429,
            retry_after: Some(w),
            ..
        } => assert!(w > 80_000, "{w}"),
        v => panic!("{v:?}"),
    }
    // A day later it is admitted again; the address quota (4) then binds.
    let later = 1000 + 86_400;
    assert_eq!(status(&judge(&b, ADDR, later, &ctx, &mut q)), 202);
    let open = Admission::parse(
        "[open]\nnames = [\"*\"]\nquota = 100\n[limits]\naddress_quota = 2\npending = 1\n",
    )
    .unwrap();
    ctx.admission = &open;
    let other = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    for (i, k) in [5u8, 6, 7].iter().enumerate() {
        let b = leaf(&SigningKey::from_bytes(&[*k; 32]), "x.example/t", "1.0");
        let want = if i < 2 { 202 } else { 429 };
        assert_eq!(
            status(&judge(&b, other, later, &ctx, &mut q)),
            want,
            "key {k}"
        );
    }
    // A full pool is 503, and counts nothing.
    ctx.pending = 1;
    let b = leaf(&SigningKey::from_bytes(&[8; 32]), "x.example/t", "1.0");
    assert_eq!(status(&judge(&b, ADDR, later, &ctx, &mut q)), 503);
    ctx.pending = 0;
    assert_eq!(status(&judge(&b, ADDR, later, &ctx, &mut q)), 202);
}
