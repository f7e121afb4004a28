use super::*;
use crate::note::SecretKey;

fn key(name: &str, seed: u8) -> (String, PublicKey) {
    let v = SecretKey::from_seed(name, [seed; 32]).unwrap().verifier();
    (v.encode(), v.key)
}

#[test]
fn listed_keys_get_their_names_and_quota_others_the_open_section() {
    let (a, ak) = key("a.example", 1);
    let (_, bk) = key("b.example", 2);
    let text = format!(
        "[[publisher]]\nkey = \"{a}\"\nnames = [\"a.example/*\", \"b.example/tool\"]\nquota = 5\n\n\
         [open]\nnames = [\"open.example/*\"]\nquota = 1\n\n[limits]\naddress_quota = 7\n"
    );
    let adm = Admission::parse(&text).unwrap();
    assert_eq!(adm.admit(&ak, "a.example/x"), Ok(5));
    assert_eq!(adm.admit(&ak, "b.example/tool"), Ok(5));
    assert_eq!(
        adm.admit(&ak, "b.example/other"),
        Err(Refused::NameNotAllowed("b.example/other".into()))
    );
    // A listed key is not also open for the open section's names.
    assert!(adm.admit(&ak, "open.example/x").is_err());
    assert_eq!(adm.admit(&bk, "open.example/x"), Ok(1));
    assert!(adm.admit(&bk, "a.example/x").is_err());
    assert_eq!(adm.limits.address_quota, 7);
    assert_eq!(adm.limits.key_quota, Limits::default().key_quota);
    // Closed log: an unknown key is not admitted at all.
    let closed = Admission::parse(&format!(
        "[[publisher]]\nkey = \"{a}\"\nnames = [\"a.example/*\"]\n"
    ))
    .unwrap();
    assert_eq!(
        closed.admit(&bk, "a.example/x"),
        Err(Refused::KeyNotAdmitted)
    );
    assert_eq!(
        closed.admit(&ak, "a.example/x"),
        Ok(Limits::default().key_quota)
    );
    // "*" opens every name.
    let open = Admission::parse("[open]\nnames = [\"*\"]\nquota = 3\n").unwrap();
    assert_eq!(open.admit(&bk, "anything/at-all"), Ok(3));
}

/// Near misses: each is refused, naming what is wrong.
#[test]
fn malformed_files_are_refused() {
    let (a, _) = key("a.example", 1);
    let rows = [
        ("".to_string(), "admits nobody"),
        (format!("[[publisher]]\nkey = \"{a}\"\nnames = []\n"), "names is empty"),
        (format!("[[publisher]]\nkey = \"{a}\"\nnames = [\"*\"]\n"), "neither a name"),
        (format!("[[publisher]]\nkey = \"{a}\"\nnames = [\"a.example/x*\"]\n"), "neither a name"),
        (format!("[[publisher]]\nkey = \"{a}\"\nnames = [\"a b\"]\n"), "neither a name"),
        ("[[publisher]]\nkey = \"nope\"\nnames = [\"a/*\"]\n".into(), "publisher 1"),
        (
            format!("[[publisher]]\nkey = \"{a}\"\nnames = [\"a/*\"]\n[[publisher]]\nkey = \"{a}\"\nnames = [\"b/*\"]\n"),
            "listed twice",
        ),
        (format!("[[publisher]]\nkey = \"{a}\"\nnames = [\"a/*\"]\nquota = -1\n"), ""),
        (format!("[[publisher]]\nkey = \"{a}\"\nnames = [\"a/*\"]\nqouta = 1\n"), "unknown field"),
        ("[open]\nnames = [\"*\"]\n".into(), "quota"),
        ("[open]\nnames = [\"*\"]\nquota = 1\n[limits]\npending = 0\n".into(), "pending"),
    ];
    for (text, why) in rows {
        let e = Admission::parse(&text).expect_err(&text);
        assert!(e.contains(why), "{text:?}: {e}");
    }
}
