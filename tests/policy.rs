//! C2SP tlog-policy: Sigsum's real policy files parse, their keys verify the
//! real cosigned checkpoints of those logs, and quorums evaluate as the
//! vectors say; malformed policies fail naming the line.

mod common;

use bt_exec::policy::TrustPolicy;
use bt_exec::tlog::SignedCheckpoint;

fn check(policy: &str, checkpoint: &str) -> bool {
    let Some(v) = common::vectors("policy check") else {
        return true;
    };
    let text = std::fs::read_to_string(v.join("sigsum/policies").join(policy)).unwrap();
    let p = TrustPolicy::parse(&text).unwrap_or_else(|e| panic!("{policy}: {e}"));
    let note = std::fs::read(v.join("checkpoints-real").join(checkpoint)).unwrap();
    let origin = String::from_utf8_lossy(&note)
        .lines()
        .next()
        .unwrap()
        .to_string();
    let log = p
        .logs_of(&origin)
        .next()
        .unwrap_or_else(|| panic!("{policy} lacks {origin}"));
    let keys: Vec<_> = p.witnesses.iter().map(|w| w.key.clone()).collect();
    let sc = SignedCheckpoint::verify(&note, &origin, &log.key, &keys).unwrap();
    let cosigned = p.witness_positions(sc.cosignatures.iter().map(|c| &c.witness));
    assert!(!cosigned.is_empty(), "{policy}: no policy witness cosigned");
    p.quorum_met(&cosigned)
}

#[test]
fn sigsum_policies_and_real_checkpoints() {
    if common::vectors("sigsum_policies_and_real_checkpoints").is_none() {
        return;
    }
    assert!(check(
        "sigsum-test-2025-3.policy",
        "sigsum-serviceberry.size381382.cosigned.DERIVED.checkpoint"
    ));
    assert!(check(
        "sigsum-generic-2025-1.policy",
        "sigsum-seasalp.size34684.cosigned.DERIVED.checkpoint"
    ));
    for f in ["sigsum-test1-2025.policy", "sigsum-test2-2025.policy"] {
        let v = common::vectors("policies").unwrap();
        TrustPolicy::parse(&std::fs::read_to_string(v.join("sigsum/policies").join(f)).unwrap())
            .unwrap();
    }
}

#[test]
fn quorum_rules() {
    let w = |n: &str| {
        let k = bt_exec::note::SecretKey::generate(n).unwrap().verifier();
        format!("witness {n} {k}\n")
    };
    let log = bt_exec::note::SecretKey::generate("example.org/log")
        .unwrap()
        .verifier();
    let text = format!(
        "# comment\nlog {log} https://log.example.org/\n{}{}{}{}\tgroup X 2 a b c\ngroup Y any d\ngroup XY all X Y\nquorum XY\n",
        w("a"),
        w("b"),
        w("c"),
        w("d")
    );
    let p = TrustPolicy::parse(&text).unwrap();
    assert_eq!(p.logs[0].url.as_deref(), Some("https://log.example.org/"));
    let set = |v: &[usize]| v.iter().copied().collect();
    assert!(p.quorum_met(&set(&[0, 1, 3])));
    assert!(p.quorum_met(&set(&[0, 2, 3])));
    assert!(!p.quorum_met(&set(&[0, 1, 2])), "Y missing");
    assert!(!p.quorum_met(&set(&[0, 3])), "X needs two");
    let none = TrustPolicy::parse(&format!("log {log}\nquorum none\n")).unwrap();
    assert!(none.quorum_met(&set(&[])));
}

#[test]
fn malformed_policies_name_the_line() {
    let log = bt_exec::note::SecretKey::generate("example.org/log")
        .unwrap()
        .verifier();
    let wk = bt_exec::note::SecretKey::generate("w").unwrap().verifier();
    let cases = [
        (
            format!("log {log}\nlgo {log}\nquorum none\n"),
            2,
            "unknown keyword",
        ),
        (
            format!("log {log}\nlog {log}\nquorum none\n"),
            2,
            "duplicate",
        ),
        (
            format!("witness a {wk}\nwitness b {wk}\nquorum a\n"),
            2,
            "duplicate",
        ),
        (
            format!("witness a {wk}\ngroup g 2 a\nquorum g\n"),
            2,
            "threshold",
        ),
        (
            format!("witness a {wk}\ngroup g 0 a\nquorum g\n"),
            2,
            "threshold",
        ),
        (
            format!("witness a {wk}\ngroup g any a a\nquorum g\n"),
            2,
            "twice",
        ),
        ("group g any z\nquorum g\n".to_string(), 1, "not defined"),
        (format!("witness a {wk}\nquorum b\n"), 2, "not defined"),
        (
            format!("witness a {wk}\nquorum a\nquorum a\n"),
            3,
            "exactly one",
        ),
        (
            format!("witness none {wk}\nquorum none\n"),
            1,
            "already defined",
        ),
        (format!("log {log}\n"), 2, "no quorum"),
        (
            "log example.org/log+00000000+AAAA\nquorum none\n".to_string(),
            1,
            "bad key",
        ),
        (format!("log {log} url extra\nquorum none\n"), 1, "expected"),
        (format!("quorum none\nlog {log}\u{1}\n"), 2, "control"),
    ];
    for (text, line, what) in cases {
        let e = TrustPolicy::parse(&text).expect_err(what);
        assert_eq!(e.line, line, "{what}: {e}");
        assert!(e.to_string().contains(what), "{what}: {e}");
    }
}

/// Two logs of one origin with different keys are two logs (their state is
/// kept apart by key); reports tell them apart by key ID. The same key
/// twice is still a duplicate.
#[test]
fn two_logs_of_one_origin_are_told_apart_by_key() {
    let a = bt_exec::note::SecretKey::from_seed("example.org/log", [1; 32])
        .unwrap()
        .verifier();
    let b = bt_exec::note::SecretKey::from_seed("example.org/log", [2; 32])
        .unwrap()
        .verifier();
    let c = bt_exec::note::SecretKey::from_seed("example.org/other", [3; 32])
        .unwrap()
        .verifier();
    let p = TrustPolicy::parse(&format!("log {a}\nlog {b}\nlog {c}\nquorum none\n")).unwrap();
    assert_eq!(p.logs.len(), 3);
    assert_ne!(p.logs[0].id, p.logs[1].id);
    assert_eq!(
        p.logs[0].label,
        format!("example.org/log (key {:08x})", a.id)
    );
    assert_eq!(
        p.logs[1].label,
        format!("example.org/log (key {:08x})", b.id)
    );
    assert_eq!(p.logs[2].label, "example.org/other");
    assert_eq!(p.logs_of("example.org/log").count(), 2);
    let dup = TrustPolicy::parse(&format!("log {a}\nlog {a}\nquorum none\n")).unwrap_err();
    assert!(dup.msg.contains("duplicate"), "{dup}");
}

/// A log URL no run could read (a typo in the scheme, no scheme) is a
/// configuration error when the policy is loaded, naming the log; the three
/// schemes bt-exec reads are accepted.
#[test]
fn a_log_url_bt_exec_cannot_read_is_a_configuration_error() {
    let log = bt_exec::note::SecretKey::generate("example.org/log")
        .unwrap()
        .verifier();
    for (url, ok) in [
        ("https://log.example.org/", true),
        ("http://127.0.0.1:8080", true),
        ("file:///srv/log/", true),
        ("htps://log.example.org/", false),
        ("ftp://log.example.org/", false),
        ("log.example.org", false),
    ] {
        let text = format!("trust = \"\"\"\nlog {log} {url}\nquorum none\n\"\"\"\n");
        let r = bt_exec::policy::Policy::parse(&text, std::path::Path::new("p.toml"));
        match r {
            Ok(_) => assert!(ok, "{url} accepted"),
            Err(e) => {
                assert!(!ok, "{url}: {e}");
                assert!(
                    e.to_string().contains("example.org/log") && e.to_string().contains(url),
                    "{e}"
                );
            }
        }
    }
}
