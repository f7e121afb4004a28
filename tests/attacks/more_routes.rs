//! Attacks the main table runs on one route, here on the others: forks in
//! a named proof file, under `--offline` and on a warm run; rollbacks to a
//! smaller fork through a proof file, gossip and `NAME@VERSION`; an alarm
//! already raised on every route; witnesses' odd lines inside a proof
//! file's checkpoint or a gossiped note.

use bt_exec::verify::exit;

use super::routes::audited;
use super::scenarios::*;
use super::world::{World, NOW};
use super::Row;

/// `honest`, then the log serves a cosigned checkpoint of a smaller fork
/// (size 3).
fn rolled_back() -> World {
    let w = honest();
    let f = fork(&w, 3);
    w.logs[0]
        .src
        .put("checkpoint", w.note_of(0, &f, 3, Some(NOW - 60)));
    w
}

/// A proof file of a smaller fork (size 3) beside the program.
fn smaller_fork_in_a_proof_file() -> Outcome {
    let w = honest();
    let f = fork(&w, 3);
    let proof = w.proof_file(0, &f, 2, 3, Some(NOW - 60));
    verdict(w.verify("2.0", Some(proof)))
}

/// An alarm raised (a fork seen through gossip), then `route` is taken.
fn with_alarm(route: fn(&mut World) -> Outcome) -> Outcome {
    let mut w = honest();
    let f = fork(&w, 4);
    let _ = w.gossip(0, &w.note_of(0, &f, 4, None));
    route(&mut w)
}

/// Three witnesses, a quorum of two; `lines` cosign the checkpoint of a
/// proof file of size 5 (release 2.0) beside the program.
fn proof_cosigned(lines: fn(&World, &bt_exec::tlog::Checkpoint) -> Vec<String>) -> Outcome {
    let mut w = World::new(1);
    w.witnesses
        .push(bt_exec::note::SecretKey::from_seed("w2.example", [3; 32]).unwrap());
    w.quorum = Some(2);
    w.publish(0, "1.0", 3);
    w.serve(0, 4, Some(NOW - 60));
    w.publish(0, "2.0", 0);
    w.serve_history(0, &w.logs[0].history, 5);
    let l = &w.logs[0];
    let cp = bt_exec::tlog::Checkpoint::new(&l.origin, 5, l.history.root(5));
    let note = bt_exec::log::sign_checkpoint(&l.key, &cp, &lines(&w, &cp));
    let proof = bt_exec::tlog::TlogProof {
        extra: Some(l.history.leaves[4].clone()),
        index: 4,
        proof: l.history.inclusion(4, 5),
        checkpoint: note,
    }
    .encode();
    verdict(w.verify("2.0", Some(proof)))
}

const YEAR: u64 = 365 * 86_400;

/// `honest`, then log 0 grows to size 10 (release 1.1), cosigned, and a
/// mirror flips a byte of `path`; then `route` is taken.
fn grown_and_altered(path: &'static str, route: fn(&mut World) -> Outcome) -> Outcome {
    let mut w = honest();
    w.publish(0, "1.1", 5);
    w.serve(0, 10, Some(NOW - 30));
    flip(&w, path);
    route(&mut w)
}

/// A proof file of 1.1 at size 10 (cosigned) beside the program.
fn proof_of_1_1(w: &mut World) -> Outcome {
    let p = w.proof_file(0, &w.logs[0].history, 9, 10, Some(NOW - 30));
    verdict(w.verify("1.1", Some(p)))
}

/// A stale mirror serves the size-4 checkpoint of a log grown to 10; the
/// program (1.1, at leaf 9) comes with a cosigned proof file of size 10,
/// or (`None`) is not yet cached.
fn stale_mirror_with(proof: bool) -> Outcome {
    let mut w = honest();
    w.publish(0, "1.1", 5);
    w.serve_history(0, &w.logs[0].history, 10);
    w.logs[0].src.put(
        "checkpoint",
        w.note_of(0, &w.logs[0].history, 4, Some(NOW - 60)),
    );
    let p = proof.then(|| w.proof_file(0, &w.logs[0].history, 9, 10, Some(NOW - 30)));
    verdict(w.verify("1.1", p))
}

pub const MORE_ROWS: &[Row] = &[
    Row {
        attacker: "log operator",
        attack: "rollback to a forked smaller tree",
        route: "audit mode",
        run: || audited(rolled_back().verify("1.0", None)),
        code: exit::MISBEHAVIOUR,
        says: &["size 3 is not a prefix of size 4"],
    },
    Row {
        attacker: "log operator",
        attack: "a split view seen once stays refused",
        route: "audit mode",
        run: || with_alarm(|w| audited(w.verify("1.0", None))),
        code: exit::MISBEHAVIOUR,
        says: &["recorded earlier"],
    },
    Row {
        attacker: "log operator",
        attack: "a split view seen once stays refused",
        route: "gossip of an honest note",
        run: || {
            with_alarm(|w| {
                let note = w.note_of(0, &w.logs[0].history, 4, Some(NOW - 30));
                gossip(w.gossip(0, &note))
            })
        },
        code: exit::MISBEHAVIOUR,
        says: &["recorded earlier", "alarm clear"],
    },
    Row {
        attacker: "mirror",
        attack: "crafted hash tile under a larger cosigned proof file",
        route: "proof file",
        run: || grown_and_altered("tile/0/000.p/10", proof_of_1_1),
        // Its checkpoint meets the policy by itself: the pair is kept
        // pending and proven once the tiles can be read (PENDING_ROWS).
        code: 0,
        says: &[
            "the log's tiles do not hash to its signed root",
            "kept pending",
        ],
    },
    Row {
        attacker: "mirror",
        attack: "crafted hash tile hiding a release logged since",
        route: "bt/index",
        run: || grown_and_altered("tile/0/000.p/10", |w| verdict(w.verify("1.1", None))),
        code: exit::UNREACHABLE,
        says: &[
            "the log's index lists leaf 9 for this hash, beyond the checkpoint in force (size 4)",
            "cannot be proven to extend the saved size 4",
        ],
    },
    Row {
        attacker: "mirror",
        attack: "crafted hash tile",
        route: "gossip",
        run: || {
            grown_and_altered("tile/0/000.p/10", |w| {
                let note = w.note_of(0, &w.logs[0].history, 10, Some(NOW - 30));
                gossip(w.gossip(0, &note))
            })
        },
        code: exit::UNREACHABLE,
        says: &["cannot be proven now"],
    },
    Row {
        attacker: "mirror",
        attack: "crafted hash tile",
        route: "NAME@VERSION",
        run: || grown_and_altered("tile/0/000.p/10", |w| resolve(w, Some("1.1"))),
        code: exit::UNREACHABLE,
        says: &["cannot be proven to extend the saved size 4"],
    },
    Row {
        attacker: "mirror",
        attack: "crafted hash tile",
        route: "audit mode",
        run: || grown_and_altered("tile/0/000.p/10", |w| audited(w.verify("1.1", None))),
        code: 0,
        says: &[
            "AUDIT: would refuse (log unreachable)",
            "cannot be proven to extend the saved size 4",
        ],
    },
    Row {
        attacker: "mirror",
        attack: "crafted entry bundle read for the history (latest)",
        route: "proof file",
        run: || {
            grown_and_altered("tile/entries/000.p/10", |w| {
                w.require.push_str("latest = true\n");
                proof_of_1_1(w)
            })
        },
        code: exit::UNREACHABLE,
        says: &["release history"],
    },
    Row {
        attacker: "mirror",
        attack: "crafted entry bundle read for the history (latest)",
        route: "NAME@VERSION",
        run: || grown_and_altered("tile/entries/000.p/10", |w| resolve(w, Some("1.1"))),
        code: exit::UNREACHABLE,
        says: &["release history"],
    },
    Row {
        attacker: "mirror",
        attack: "stale checkpoint copy",
        route: "cosigned proof file of a larger tree",
        run: || stale_mirror_with(true),
        code: 0,
        says: &["proven in 1 of 1"],
    },
    Row {
        attacker: "mirror",
        attack: "stale checkpoint copy",
        route: "bt/index, program not yet cached",
        run: || stale_mirror_with(false),
        // The index lists the release beyond the stale copy: never "not in
        // this log; publish this exact file" for a logged release.
        code: exit::UNREACHABLE,
        says: &[
            "the log's index lists leaf 9 for this hash, beyond the checkpoint in force (size 4)",
        ],
    },
    Row {
        attacker: "mirror",
        attack: "a proof file over its cap",
        route: "proof file",
        run: || {
            let w = honest();
            let big = vec![b'x'; bt_exec::tlog::MAX_PROOF_BYTES + 1];
            verdict(w.verify("1.0", Some(big)))
        },
        code: exit::REFUSED,
        says: &["tool.tlog-proof"],
    },
    Row {
        attacker: "log operator",
        attack: "fork at the same size",
        route: "named proof file",
        run: || forked_proof_with(4, |w| w.named_proof = true),
        code: exit::MISBEHAVIOUR,
        says: &["two different trees of size 4"],
    },
    Row {
        attacker: "log operator",
        attack: "fork at a larger size",
        route: "named proof file",
        run: || forked_proof_with(7, |w| w.named_proof = true),
        code: exit::MISBEHAVIOUR,
        says: &["size 4 is not a prefix of size 7"],
    },
    Row {
        attacker: "log operator",
        attack: "fork at the same size",
        route: "proof file, --offline",
        run: || forked_proof_with(4, |w| w.offline = true),
        code: exit::MISBEHAVIOUR,
        says: &["two different trees of size 4"],
    },
    Row {
        attacker: "log operator",
        attack: "fork at a larger size, never cosigned",
        route: "proof file, --offline",
        run: || forked_proof_with(7, |w| w.offline = true),
        code: exit::REFUSED,
        says: &["size 7 is larger than size 4", "does not meet it itself"],
    },
    Row {
        attacker: "log operator",
        attack: "fork at a larger size",
        route: "proof file, warm (refresh)",
        run: || forked_proof_with(7, |w| w.require.push_str("refresh = \"1h\"\n")),
        code: exit::MISBEHAVIOUR,
        says: &["size 4 is not a prefix of size 7"],
    },
    Row {
        attacker: "log operator",
        attack: "rollback to a forked smaller tree",
        route: "proof file",
        run: smaller_fork_in_a_proof_file,
        code: exit::MISBEHAVIOUR,
        says: &["size 3 is not a prefix of size 4"],
    },
    Row {
        attacker: "log operator",
        attack: "rollback to a forked smaller tree",
        route: "gossip",
        run: || {
            let w = honest();
            let f = fork(&w, 3);
            gossip(w.gossip(0, &w.note_of(0, &f, 3, Some(NOW - 60))))
        },
        code: exit::MISBEHAVIOUR,
        says: &["size 3 is not a prefix of size 4"],
    },
    Row {
        attacker: "log operator",
        attack: "rollback to a forked smaller tree",
        route: "NAME@VERSION",
        run: || resolve(&rolled_back(), Some("1.0")),
        code: exit::MISBEHAVIOUR,
        says: &["size 3 is not a prefix of size 4"],
    },
    Row {
        attacker: "log operator",
        attack: "a split view seen once stays refused",
        route: "--offline",
        run: || {
            with_alarm(|w| {
                w.offline = true;
                verdict(w.verify("1.0", None))
            })
        },
        code: exit::MISBEHAVIOUR,
        says: &["recorded earlier", "alarm clear"],
    },
    Row {
        attacker: "log operator",
        attack: "a split view seen once stays refused",
        route: "proof file",
        run: || {
            with_alarm(|w| {
                let p = w.proof_file(0, &w.logs[0].history, 3, 4, Some(NOW - 60));
                verdict(w.verify("1.0", Some(p)))
            })
        },
        code: exit::MISBEHAVIOUR,
        says: &["recorded earlier"],
    },
    Row {
        attacker: "log operator",
        attack: "a split view seen once stays refused",
        route: "NAME@VERSION",
        run: || with_alarm(|w| resolve(w, Some("1.0"))),
        code: exit::MISBEHAVIOUR,
        says: &["recorded earlier"],
    },
    Row {
        attacker: "witness",
        attack: "one of three dates its cosignature a year ahead",
        route: "proof file",
        run: || {
            proof_cosigned(|w, cp| {
                vec![
                    cosig(w, 0, cp, NOW - 5),
                    cosig(w, 1, cp, NOW - 5),
                    cosig(w, 2, cp, NOW + YEAR),
                ]
            })
        },
        code: 0,
        says: &[
            "proven in 1 of 1",
            "w2.example is dated 31536000 s in the future",
        ],
    },
    Row {
        attacker: "witness",
        attack: "one witness's cosignature twice",
        route: "proof file",
        run: || proof_cosigned(|w, cp| vec![cosig(w, 0, cp, NOW - 5), cosig(w, 0, cp, NOW - 6)]),
        code: exit::REFUSED,
        says: &["does not meet it itself"],
    },
    Row {
        attacker: "witness",
        attack: "an Ed25519 (0x01) line, not a cosignature",
        route: "gossip",
        run: || {
            let (w, h) = extended();
            let l = &w.logs[0];
            let cp = bt_exec::tlog::Checkpoint::new(&l.origin, 5, h.root(5));
            let lines = vec![
                cosig(&w, 0, &cp, NOW),
                bt_exec::note::sign_ed25519_line(&w.witnesses[1], &cp.encode()),
            ];
            gossip(w.gossip(0, &bt_exec::log::sign_checkpoint(&l.key, &cp, &lines)))
        },
        code: 0,
        says: &["not saved: the witness quorum is not met (1 valid"],
    },
];
