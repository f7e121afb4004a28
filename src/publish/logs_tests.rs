//! The answers `bt-log publish` reads from a log, and the checkpoints it
//! takes as witnessed.

use super::*;
use crate::note::{sign_cosignature_line, SecretKey};
use crate::tlog::{leaf_hash, Checkpoint};

const NOW: u64 = 1_800_000_000;
const LEAF: &[u8] = b"the entry";

struct World {
    log: SecretKey,
    witness: SecretKey,
    target: Target,
    trust: TrustPolicy,
}

fn world() -> World {
    let log = SecretKey::from_seed("log.example", [1; 32]).unwrap();
    let witness = SecretKey::from_seed("w.example", [2; 32]).unwrap();
    let text = format!(
        "log {}\nwitness w {}\nquorum w\n",
        log.verifier().encode(),
        witness.verifier().encode()
    );
    let target =
        Target::parse(&format!("https://log.example={}", log.verifier().encode())).unwrap();
    World {
        trust: TrustPolicy::parse(&text).unwrap(),
        target,
        log,
        witness,
    }
}

/// A 200's body: `leaf` proven at index 0 of a one-leaf tree, its
/// checkpoint signed by `signer` and cosigned at `cosigned` (or not).
fn proof(w: &World, leaf: &[u8], signer: &SecretKey, cosigned: Option<u64>) -> Vec<u8> {
    let cp = Checkpoint::new("log.example", 1, leaf_hash(leaf));
    let lines: Vec<String> = cosigned
        .map(|t| sign_cosignature_line(&w.witness, t, &cp.encode()))
        .into_iter()
        .collect();
    TlogProof {
        extra: Some(LEAF.to_vec()),
        index: 0,
        proof: vec![],
        checkpoint: crate::log::sign_checkpoint(signer, &cp, &lines),
    }
    .encode()
}

fn answer(w: &World, status: u16, body: &[u8], retry: Option<u64>) -> Answer {
    read_answer(status, body, retry, LEAF, &w.target, &w.trust, NOW)
}

#[test]
fn every_answer_of_a_log_beside_its_near_misses() {
    let w = world();
    let other = SecretKey::from_seed("log.example", [9; 32]).unwrap();
    assert!(matches!(
        answer(&w, 200, &proof(&w, LEAF, &w.log, Some(NOW)), None),
        Answer::Proof(_)
    ));
    // Near misses of a 200: usable later (the index stands) or never.
    let index = |a: Answer| matches!(a, Answer::Index(0, _));
    assert!(
        index(answer(&w, 200, &proof(&w, LEAF, &w.log, None), None)),
        "no witness"
    );
    assert!(
        index(answer(
            &w,
            200,
            &proof(&w, LEAF, &w.log, Some(NOW + 601)),
            None
        )),
        "future"
    );
    assert!(
        index(answer(&w, 200, &proof(&w, LEAF, &other, Some(NOW)), None)),
        "another key"
    );
    assert!(
        index(answer(
            &w,
            200,
            &proof(&w, b"other", &w.log, Some(NOW)),
            None
        )),
        "another root"
    );
    let mut foreign = TlogProof::parse(&proof(&w, LEAF, &w.log, Some(NOW))).unwrap();
    foreign.extra = Some(b"another entry".to_vec());
    assert!(matches!(
        answer(&w, 200, &foreign.encode(), None),
        Answer::Refused(_)
    ));
    assert!(matches!(
        answer(&w, 200, b"garbage", None),
        Answer::Refused(_)
    ));
    // 202: an index, or nothing usable.
    assert!(matches!(
        answer(&w, 202, b"index 7\n", None),
        Answer::Index(7, _)
    ));
    for bad in [
        &b"index -1"[..],
        b"index 1x",
        b"7",
        b"index 99999999999999999999",
    ] {
        assert!(
            matches!(answer(&w, 202, bad, None), Answer::Refused(_)),
            "{bad:?}"
        );
    }
    // 429 and 503 wait, within bounds; anything else is final.
    let wait = |a: Answer| match a {
        Answer::Retry(d, _) => d.as_secs(),
        other => panic!("{other:?}"),
    };
    assert_eq!(wait(answer(&w, 429, b"slow down", Some(30))), 30);
    assert_eq!(wait(answer(&w, 503, b"", None)), 1);
    assert_eq!(wait(answer(&w, 503, b"", Some(0))), 1);
    assert_eq!(wait(answer(&w, 503, b"", Some(u64::MAX))), 3600);
    for status in [400, 403, 413, 500, 302] {
        assert!(
            matches!(answer(&w, status, b"no", None), Answer::Refused(_)),
            "{status}"
        );
    }
}

/// What `bt-log publish` writes for an answer carrying lines nothing
/// verified: only the log's line and the cosignatures counted,
/// re-serialised; an answer whose only cosignature is dated beyond the
/// skew is not taken. The honest answer is written byte for byte.
#[test]
fn a_kept_proof_holds_only_the_lines_that_verified() {
    use crate::note::{assemble, sign_ed25519_line};
    let w = world();
    let stranger = SecretKey::from_seed("stranger.example", [3; 32]).unwrap();
    let text = Checkpoint::new("log.example", 1, leaf_hash(LEAF)).encode();
    let other_text = Checkpoint::new("log.example", 1, leaf_hash(b"x")).encode();
    let log_line = sign_ed25519_line(&w.log, &text);
    let honest = sign_cosignature_line(&w.witness, NOW, &text);
    let cosign = |k: &SecretKey, t: u64| sign_cosignature_line(k, t, &text);
    let verified = assemble(&text, &[log_line.clone(), honest.clone()]);
    let far = 1u64 << 40;
    // (row, the lines after the log's, the note kept: None = not taken)
    type Row<'a> = (&'a str, Vec<String>, Option<Vec<u8>>);
    let rows: Vec<Row> = vec![
        ("honest", vec![honest.clone()], Some(verified.clone())),
        (
            "a second line of the witness, garbage signature",
            vec![
                honest.clone(),
                sign_cosignature_line(&w.witness, NOW, &other_text),
            ],
            Some(verified.clone()),
        ),
        (
            "a second line of the witness dated 2^40",
            vec![honest.clone(), cosign(&w.witness, far)],
            Some(verified.clone()),
        ),
        (
            "a line of a key nobody trusts here",
            vec![honest.clone(), cosign(&stranger, NOW)],
            Some(verified.clone()),
        ),
        (
            "a garbage line",
            vec![honest.clone(), "— junk AAAA".into()],
            None,
        ),
        (
            "the witness's only line dated 2^40",
            vec![cosign(&w.witness, far)],
            None,
        ),
        (
            "the witness's only line 601 s ahead",
            vec![cosign(&w.witness, NOW + 601)],
            None,
        ),
        (
            "the witness's line 600 s ahead",
            vec![cosign(&w.witness, NOW + 600)],
            Some(assemble(
                &text,
                &[log_line.clone(), cosign(&w.witness, NOW + 600)],
            )),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (row, extra, want) in rows {
        let mut lines = vec![log_line.clone()];
        lines.extend(extra);
        let sent = TlogProof {
            extra: Some(LEAF.to_vec()),
            index: 0,
            proof: vec![],
            checkpoint: assemble(&text, &lines),
        };
        let taken = match answer(&w, 200, &sent.encode(), None) {
            Answer::Proof(p) => Some(p),
            Answer::Index(0, _) | Answer::Refused(_) => None,
            other => panic!("{row}: {other:?}"),
        };
        let Some(want) = want else {
            assert!(taken.is_none(), "{row}: taken");
            continue;
        };
        let Some(taken) = taken else {
            panic!("{row}: not taken")
        };
        let path = dir.path().join("proof");
        assert!(matches!(
            keep(&path, &taken, row, &|_| {}),
            Outcome::Proven { index: 0, size: 1 }
        ));
        let written = TlogProof::parse(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(written.checkpoint, want, "{row}");
        assert_eq!(
            written,
            TlogProof {
                checkpoint: want,
                ..sent
            },
            "{row}"
        );
    }
}
