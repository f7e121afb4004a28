use super::*;
use crate::note::SecretKey;

fn vkey(name: &str) -> String {
    SecretKey::from_seed(name, [7; 32])
        .unwrap()
        .verifier()
        .encode()
}

#[test]
fn both_forms_and_comments() {
    let a = vkey("a.example/log");
    let b = vkey("b.example/log");
    let text = format!(
        "# comment\nlogs/v0\nrevision 3\n\n# a comment\nvkey {a}\nqpd 86400\ncontact x@y\n\n\n\
         vkey {b}\norigin b.example/other\nbastion none\nqpd 0.5\nnew-field 1\n"
    );
    let l = parse(&text).unwrap();
    assert_eq!(l.revision, Some(3));
    assert_eq!(l.logs.len(), 2);
    assert_eq!(l.logs[0].origin, "a.example/log");
    assert_eq!(l.logs[0].qpd, 86400.0);
    assert_eq!(l.logs[0].contact.as_deref(), Some("x@y"));
    assert_eq!(l.logs[1].origin, "b.example/other");
    assert_eq!(l.logs[1].qpd, 0.5);
    assert_eq!(l.logs[1].line, 11);
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert!(l.warnings[0].starts_with("line 15:"));
    // CRLF line ends, no trailing newline, and a header alone.
    let crlf = format!("logs/v0\r\n\r\nvkey {a}\r\nqpd 1");
    assert_eq!(parse(&crlf).unwrap().logs.len(), 1);
    assert_eq!(parse("logs/v0\n").unwrap().logs.len(), 0);
}

/// Near misses: each is rejected with the line that is wrong.
#[test]
fn malformed_lists_name_their_line() {
    let a = vkey("a.example/log");
    let mut bad_id = a.clone();
    bad_id.replace_range(a.find('+').unwrap() + 1..a.find('+').unwrap() + 3, "ff");
    let rows: Vec<(String, usize, &str)> = vec![
        ("".into(), 1, "header"),
        ("logs/v1\n\nvkey x\nqpd 1\n".into(), 1, "header"),
        (format!("vkey {a}\nqpd 1\n"), 1, "header"),
        (format!("logs/v0\n\nvkey {a}\n"), 3, "qpd"),
        (format!("logs/v0\n\nvkey {a}\nqpd -1\n"), 4, "non-negative"),
        (format!("logs/v0\n\nvkey {a}\nqpd\n"), 4, "non-negative"),
        (format!("logs/v0\n\nvkey {a}\nqpd NaN\n"), 4, "non-negative"),
        (format!("logs/v0\n\nvkey {a}\nqpd inf\n"), 4, "non-negative"),
        (format!("logs/v0\n\nvkey {a}\nqpd 1\nqpd 2\n"), 5, "twice"),
        (format!("logs/v0\n\nvkey {a}\nqpd 1 2\n"), 4, "non-negative"),
        ("logs/v0\n\nqpd 1\ncontact x\n".into(), 3, "without a vkey"),
        ("logs/v0\n\nvkey not-a-key\nqpd 1\n".into(), 3, "name+hexid"),
        (format!("logs/v0\n\nvkey {bad_id}\nqpd 1\n"), 3, "key ID"),
        (
            format!("logs/v0\n\nvkey {}\nqpd 1\n", &a[..a.len() - 4]),
            3,
            "",
        ),
        (
            format!("logs/v0\n\nvkey {a}\norigin \nqpd 1\n"),
            4,
            "empty origin",
        ),
    ];
    for (text, line, why) in rows {
        let e = parse(&text).expect_err(&text);
        assert_eq!(e.line, line, "{text:?}: {e}");
        assert!(e.why.contains(why), "{text:?}: {e}");
    }
}

#[test]
fn unverifiable_key_types_are_skipped_with_a_warning() {
    use base64::Engine;
    let a = vkey("a.example/log");
    let mut raw = vec![0x02];
    raw.extend_from_slice(&[9; 33]);
    let ecdsa = format!(
        "pixel.example+12345678+{}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    );
    let l = parse(&format!(
        "logs/v0\n\nvkey {ecdsa}\nqpd 1\n\nvkey {a}\nqpd 1\n"
    ))
    .unwrap();
    assert_eq!(l.logs.len(), 1);
    assert!(l.warnings[0].contains("0x02"), "{:?}", l.warnings);
    // A witness key (0x04) is no log key either: skipped the same way.
    let w = VerifierKey::parse(&a)
        .unwrap()
        .to_cosignature_key()
        .encode();
    let l = parse(&format!("logs/v0\n\nvkey {w}\nqpd 1\n")).unwrap();
    assert!(l.logs.is_empty() && l.warnings[0].contains("0x04"), "{l:?}");
}

/// What the witness network's own validator accepts is read the same way:
/// no blank lines, surrounding whitespace, the documented order (origin
/// first), blank lines anywhere.
#[test]
fn the_validators_latitude() {
    let (a, b, c) = (
        vkey("a.example/log"),
        vkey("b.example/log"),
        vkey("c.example/log"),
    );
    let rows = [
        format!("logs/v0\nvkey {a}\nqpd 1\ncontact x\nvkey {b}\nqpd 2\nvkey {c}\norigin c2\nqpd 3\n"),
        format!("  logs/v0  \n\n\n  vkey {a}   \n\tqpd 1 \n\n  # note\n vkey {b}\n qpd 2\n\nvkey {c}\norigin c2 \n\nqpd 3\n"),
        format!("\nlogs/v0\nrevision 9\norigin a.example/log\nvkey {a}\nbastion none\nqpd 1\ncontact x\norigin b.example/log\nvkey {b}\nqpd 2\norigin c2\nvkey {c}\nqpd 3\n"),
    ];
    for text in rows {
        let l = parse(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
        let got: Vec<(&str, f64)> = l.logs.iter().map(|l| (l.origin.as_str(), l.qpd)).collect();
        assert_eq!(
            got,
            [("a.example/log", 1.0), ("b.example/log", 2.0), ("c2", 3.0)],
            "{text:?}"
        );
    }
}

/// A list of a million unknown lines gives a bounded number of warnings.
#[test]
fn warnings_are_capped() {
    let a = vkey("a.example/log");
    let text = format!("logs/v0\n\nvkey {a}\nqpd 1\n{}", "x 1\n".repeat(100_000));
    let l = parse(&text).unwrap();
    assert_eq!(l.warnings.len(), MAX_WARNINGS + 1);
    assert_eq!(
        l.warnings[MAX_WARNINGS],
        format!("and {} more warnings", 100_000 - MAX_WARNINGS)
    );
}

/// What the validator ignores or accepts is not a refusal here: a second
/// log of one origin (a key rotation) and a revision that is not a number
/// are skipped with a warning; a keyword joined by a tab or a no-break
/// space is an unknown keyword, never a vkey or an origin.
#[test]
fn near_misses_that_are_warnings() {
    let (a, b) = (vkey("a.example/log"), vkey("b.example/log"));
    let text = format!(
        "logs/v0\nrevision 2025-11-01\n\nvkey {a}\nqpd 1\n\nvkey {b}\norigin a.example/log\nqpd 2\n"
    );
    let l = parse(&text).unwrap();
    assert_eq!(l.logs.len(), 1);
    assert_eq!(l.logs[0].key.name, "a.example/log");
    assert!(l.warnings[0].contains("revision"), "{:?}", l.warnings);
    assert!(l.warnings[1].contains("listed already"), "{:?}", l.warnings);
    let hidden =
        format!("logs/v0\n\nvkey {a}\norigin\u{a0}b.example/log\nqpd 1\nvkey\t{b}\nqpd\t2\n");
    let l = parse(&hidden).unwrap();
    assert_eq!(l.logs.len(), 1);
    assert_eq!(
        (l.logs[0].origin.as_str(), l.logs[0].qpd),
        ("a.example/log", 1.0)
    );
    assert_eq!(l.warnings.len(), 3, "{:?}", l.warnings);
}
