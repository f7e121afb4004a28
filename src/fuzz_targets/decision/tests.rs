//! The decision target's scripts written out: the honest case runs, and
//! each lie the target can tell is refused — so the reference is reached
//! and the target is not vacuous. The scenarios are also the target's
//! committed seeds (`encode`).

use super::world::{Candidate, Setup, HONEST, ORIGIN, ORIGINS};
use super::*;

mod encode;

const NOW: When = When {
    minutes: 0,
    seconds: 0,
};

fn honest(size: u16) -> Op {
    Op::Honest {
        size: size - 1,
        files: 0,
        other_origin: false,
    }
}

fn cosign(by: u8, minutes: i16) -> Op {
    at(by, minutes, 0)
}

fn at(by: u8, minutes: i16, seconds: i8) -> Op {
    Op::Cosign {
        by,
        when: When { minutes, seconds },
    }
}

fn fork(size: u16, at: u16, c: Candidate) -> Op {
    Op::Fork {
        from_last: false,
        size: size - 1,
        at,
        leaf: Leaf::Candidate(c),
        files: 0,
    }
}

fn join(parts: Vec<Vec<Op>>) -> Vec<Op> {
    parts.into_iter().flatten().collect()
}

/// Each scenario: its name, its policy, its script, the exit code of
/// each decision.
fn scenarios() -> Vec<(&'static str, Setup, Vec<Op>, Vec<u8>)> {
    let mut all: Vec<_> = one_log()
        .into_iter()
        .map(|(name, ops, codes)| (name, Setup::default(), ops, codes))
        .collect();
    all.extend(two_logs());
    all
}

/// The scenarios of the original policy: one log, no history rule.
fn one_log() -> Vec<(&'static str, Vec<Op>, Vec<u8>)> {
    let witnessed = |ops: Vec<Op>| join(vec![ops, vec![cosign(0, 0), cosign(1, 0)]]);
    vec![
        (
            "honest",
            vec![honest(300), cosign(0, 0), cosign(2, -5)],
            vec![0],
        ),
        // The genuine release at leaf 3 is in every tree from size 4.
        ("honest-4", witnessed(vec![honest(4)]), vec![0]),
        ("one-witness", vec![honest(300), cosign(0, 0)], vec![126]),
        (
            "outsider",
            vec![honest(300), cosign(0, 0), cosign(3, 0)],
            vec![126],
        ),
        (
            "log-key-as-witness",
            vec![honest(300), cosign(0, 0), cosign(4, 0)],
            vec![126],
        ),
        (
            "same-witness-twice",
            vec![honest(300), cosign(1, 0), cosign(1, -1)],
            vec![126],
        ),
        (
            "max-age",
            vec![honest(300), cosign(0, 0), at(1, -60, 0)],
            vec![0],
        ),
        (
            "stale",
            vec![honest(300), cosign(0, 0), at(1, -60, -1)],
            vec![126],
        ),
        (
            "skew",
            vec![honest(300), cosign(0, 0), at(1, 10, 0)],
            vec![0],
        ),
        (
            "future",
            vec![honest(300), cosign(0, 0), at(1, 10, 1)],
            vec![126],
        ),
        (
            "other-origin",
            witnessed(vec![Op::Honest {
                size: 299,
                files: 0,
                other_origin: true,
            }]),
            vec![126],
        ),
        (
            // Past `refresh` the saved checkpoint still decides (it meets
            // max_age), and the refresher that run starts finds the fork
            // of what it covers: a split view, which refuses the next run.
            "fork-after-save",
            join(vec![
                witnessed(vec![honest(200)]),
                witnessed(vec![
                    Op::Decide,
                    Op::Clock { minutes: 11 },
                    fork(HONEST as u16, 100, Candidate::Genuine),
                    Op::Decide,
                ]),
            ]),
            vec![0, 0, 123],
        ),
        (
            // The log serves size 200, cosigned; the proof file's size-300
            // tree (holding leaf 290) is signed by the log key alone.
            "unwitnessed-extension",
            join(vec![
                witnessed(vec![honest(200)]),
                vec![Op::Sidecar {
                    tree: 0,
                    index: 290,
                    size: 299,
                    cosigners: 0,
                    when: NOW,
                    named: true,
                }],
            ]),
            vec![126],
        ),
        (
            // Cosigned, it runs; offline the saved checkpoint and the
            // cached proof decide until max_age, then nothing fresher can
            // be had (124, DESIGN §6).
            "proof-file-then-offline",
            join(vec![
                vec![Op::Honest {
                    size: 299,
                    files: 0b0111,
                    other_origin: false,
                }],
                witnessed(vec![honest(200)]),
                vec![
                    Op::Sidecar {
                        tree: 0,
                        index: 290,
                        size: 299,
                        cosigners: 0b11,
                        when: NOW,
                        named: false,
                    },
                    Op::Decide,
                    Op::Offline(true),
                    Op::Clock { minutes: 30 },
                    Op::Decide,
                    Op::Clock { minutes: 31 },
                ],
            ]),
            vec![0, 0, 124],
        ),
        (
            // A new machine offline: a proof file whose checkpoint meets
            // the policy by itself is in force, and saved.
            "first-use-offline",
            vec![Op::Offline(true), proof(0, 290, 0b11)],
            vec![0],
        ),
        (
            // ...and one a single witness cosigned proves nothing (126:
            // the proof's fault, not the network's).
            "first-use-offline-one-witness",
            vec![Op::Offline(true), proof(0, 290, 0b01)],
            vec![126],
        ),
        (
            // Saved size 200 (no index served: not in the log, 126); then
            // offline, a witnessed fork of size 300 shipped beside the
            // program runs, its pair kept pending; online, with the log
            // grown past it, the pair is proven a split view.
            "offline-fork-then-online",
            join(vec![
                saved_without_index(),
                vec![
                    Op::Offline(true),
                    Op::Fork {
                        from_last: false,
                        size: 299,
                        at: 100,
                        leaf: Leaf::Candidate(Candidate::Genuine),
                        files: 0b0001,
                    },
                    proof(2, 290, 0b11),
                    Op::Decide,
                    Op::Offline(false),
                ],
                witnessed(vec![grow(false, Candidate::OtherBytes, 301)]),
            ]),
            vec![126, 0, 123],
        ),
        (
            // The control: the honest size 300 shipped offline runs the
            // same way, and online its pair is proven one history.
            "offline-extension-then-online",
            join(vec![
                saved_without_index(),
                vec![
                    Op::Offline(true),
                    proof(0, 290, 0b11),
                    Op::Decide,
                    Op::Offline(false),
                ],
                witnessed(vec![grow(false, Candidate::OtherBytes, 301)]),
            ]),
            vec![126, 0, 0],
        ),
    ]
}

/// The honest log at size 200, witnessed, without its index (so nothing
/// proves the program and no proof is cached), decided: 126, and saved.
fn saved_without_index() -> Vec<Op> {
    vec![
        Op::Honest {
            size: 199,
            files: 0b1011,
            other_origin: false,
        },
        cosign(0, 0),
        cosign(1, 0),
        Op::Decide,
    ]
}

/// A proof file beside the program for leaf `index` of tree `tree` at
/// size 300, its checkpoint cosigned now by the signers in `cosigners`.
fn proof(tree: u8, index: u16, cosigners: u8) -> Op {
    Op::Sidecar {
        tree,
        index,
        size: 299,
        cosigners,
        when: NOW,
        named: false,
    }
}

fn grow(from_last: bool, c: Candidate, size: u16) -> Op {
    Op::Grow {
        from_last,
        leaf: Leaf::Candidate(c),
        size: size - 1,
        files: 0,
    }
}

/// A proof file for leaf `index` of tree `tree` at its full size,
/// cosigned by two witnesses.
fn relogged_proof(tree: u8, index: u16) -> Op {
    Op::Sidecar {
        tree,
        index,
        size: index,
        cosigners: 0b11,
        when: NOW,
        named: false,
    }
}

fn setup(two_logs: bool, need_two: bool, latest: bool) -> Setup {
    Setup {
        two_logs,
        need_two,
        latest,
    }
}

/// The scenarios of the other policies: two logs, two admitted
/// publishers, `latest`.
fn two_logs() -> Vec<(&'static str, Setup, Vec<Op>, Vec<u8>)> {
    let witnessed = |ops: Vec<Op>| join(vec![ops, vec![cosign(0, 0), cosign(1, 0)]]);
    let b = |ops: Vec<Op>| join(vec![vec![Op::Use { second: true }], ops]);
    let honest_b = || b(witnessed(vec![honest(40)]));
    vec![
        (
            "two-logs",
            setup(true, true, true),
            join(vec![witnessed(vec![honest(300)]), honest_b()]),
            vec![0],
        ),
        (
            // logs = 2, the second log serving nothing: unreachable.
            "two-logs-one-down",
            setup(true, true, false),
            witnessed(vec![honest(300)]),
            vec![124],
        ),
        (
            "latest-newer",
            setup(false, false, true),
            witnessed(vec![grow(false, Candidate::Newer, 301)]),
            vec![126],
        ),
        (
            // The newer release is only in the second log, the first lags:
            // it proves the program, the second log outdates it.
            "latest-newer-in-other-log",
            setup(true, false, true),
            join(vec![
                witnessed(vec![honest(300)]),
                b(witnessed(vec![grow(false, Candidate::Newer, 41)])),
            ]),
            vec![126],
        ),
        (
            // The second publisher's entry for the same bytes, in a proof
            // file beside the program: the program's own name is judged too.
            "relogged-outdated",
            setup(false, false, true),
            join(vec![
                witnessed(vec![
                    grow(false, Candidate::Newer, 301),
                    grow(true, Candidate::Relogged, 302),
                ]),
                vec![relogged_proof(3, 301)],
            ]),
            vec![126],
        ),
        (
            "relogged-latest",
            setup(false, false, true),
            join(vec![
                witnessed(vec![grow(false, Candidate::Relogged, 301)]),
                vec![relogged_proof(2, 300)],
            ]),
            vec![0],
        ),
        (
            "relog-newer",
            setup(true, false, true),
            join(vec![
                witnessed(vec![grow(false, Candidate::Relogged, 301)]),
                b(witnessed(vec![grow(false, Candidate::RelogNewer, 41)])),
            ]),
            vec![126],
        ),
    ]
}

#[test]
fn every_scenario_ends_as_expected() {
    for (name, setup, ops, codes) in scenarios() {
        assert_eq!(play(setup, ops), codes, "{name}");
    }
}

#[test]
fn near_misses_alone_prove_nothing() {
    // Size 4 holds leaf 3, the genuine release: replaced by each near miss.
    for c in [
        Candidate::OtherPublisher,
        Candidate::NameNotAllowed,
        Candidate::WrongSize,
        Candidate::OtherBytes,
        Candidate::BadSignature,
        Candidate::OtherPlatform,
    ] {
        let ops = vec![fork(4, 3, c), cosign(0, 0), cosign(1, 0)];
        assert_eq!(play(Setup::default(), ops), vec![126], "{c:?}");
    }
    let ops = vec![
        fork(4, 3, Candidate::GenuineAgain),
        cosign(0, 0),
        cosign(1, 0),
    ];
    assert_eq!(play(Setup::default(), ops), vec![0], "the control");
}

#[test]
fn the_reference_counts_only_what_was_signed() {
    let mut g = Game::new(Setup::default());
    g.apply(honest(300));
    let cp = Checkpoint::new(ORIGIN, 300, Hash(g.truth.root(0, 300)));
    let proven =
        |g: &Game, index, before: Option<&[u8]>, now| g.truth.proven(0, index, &cp, before, now);
    assert!(!proven(&g, 3, None, g.now), "signed by the log alone");
    g.apply(cosign(0, 0));
    g.apply(cosign(3, 0));
    assert!(!proven(&g, 3, None, g.now), "an outsider");
    g.apply(cosign(1, 0));
    assert!(proven(&g, 3, None, g.now));
    assert!(proven(&g, 290, None, g.now));
    for index in [2, 10, 15, 299, 300] {
        assert!(!proven(&g, index, None, g.now), "leaf {index}");
    }
    assert!(!proven(&g, 3, None, g.now + 3601), "stale");
    // A machine that saved a fork of size 200 has no proof in this tree.
    g.apply(fork(200, 100, Candidate::Genuine));
    g.apply(cosign(0, 0));
    g.apply(cosign(1, 0));
    let saved = g.logs[0].src.read("checkpoint").unwrap();
    assert!(
        !proven(&g, 3, Some(&saved), g.now),
        "witnessed, but a fork of what was saved"
    );
}

#[test]
#[should_panic(expected = "does not extend it")]
fn the_reference_catches_a_saved_checkpoint_moving_to_a_fork() {
    let mut g = Game::new(Setup::default());
    let served = |g: &mut Game, first: Op| {
        for op in [first, cosign(0, 0), cosign(1, 0)] {
            g.apply(op);
        }
        g.logs[0].src.read("checkpoint").unwrap()
    };
    let a = served(&mut g, honest(200));
    let b = served(&mut g, fork(300, 5, Candidate::Genuine));
    g.truth.check_saved(0, Some(&a), Some(&b), g.now);
}

#[test]
fn the_reference_reads_latest_from_every_release_of_the_bytes() {
    let mut g = Game::new(setup(true, false, true));
    let at = |g: &Game, tree: usize, log: usize, size: u64| {
        Checkpoint::new(ORIGINS[log], size, Hash(g.truth.root(tree, size)))
    };
    // The signed records the reference reads histories from.
    g.apply(honest(300));
    g.apply(grow(false, Candidate::Newer, 301));
    g.apply(grow(true, Candidate::Relogged, 302));
    g.apply(Op::Use { second: true });
    g.apply(honest(40));
    let (honest_a, newer, relogged) = (at(&g, 0, 0, 300), at(&g, 2, 0, 301), at(&g, 3, 0, 302));
    let honest_b = at(&g, 1, 1, 40);
    assert!(g.truth.latest(&[(0, &honest_a), (1, &honest_b)]).is_ok());
    assert!(g.truth.latest(&[(0, &newer)]).is_err(), "2.0 after 1.0");
    // Proven by the second publisher's entry, the program's own name is
    // still outdated; with no log holding both, a later claimed time is.
    assert!(g.truth.latest(&[(0, &relogged)]).is_err());
    assert!(g.truth.latest(&[(1, &honest_b), (0, &newer)]).is_err());
    // A log the run did not check proves nothing newer.
    assert!(g.truth.latest(&[(1, &honest_b)]).is_ok());
    // A checkpoint the other log's key signed is not this log's history.
    assert!(g.truth.latest(&[(1, &newer)]).is_ok());
}

/// The script of "offline-fork-then-online" (or of its control) up to its
/// last decision, played.
fn before_going_online(fork: bool) -> Game {
    let name = if fork {
        "offline-fork-then-online"
    } else {
        "offline-extension-then-online"
    };
    let (_, setup, ops, _) = scenarios().into_iter().find(|s| s.0 == name).unwrap();
    let mut g = Game::new(setup);
    for op in ops {
        g.apply(op);
    }
    g
}

#[test]
fn the_reference_knows_when_a_pending_fork_is_provable() {
    for fork in [true, false] {
        let g = before_going_online(fork);
        let saved = g.state.checkpoint(&g.logs[0].log_id);
        let pending = g.pending();
        assert_eq!(pending[0].len(), 1, "a pair kept offline");
        let due = g.split_due(0, saved.as_deref(), &pending[0]);
        assert_eq!(due.is_some(), fork, "{due:?}");
    }
    // Not with a tile it needs altered, its checkpoint replaced, the log
    // down, or offline.
    let g = before_going_online(true);
    let saved = g.state.checkpoint(&g.logs[0].log_id);
    let pending = g.pending();
    let tile = Op::Put {
        path: script::Path::Tile {
            level: 0,
            n: 1,
            width: 45,
        },
        data: vec![0; 45 * 32],
    };
    for op in [
        tile,
        Op::Put {
            path: script::Path::Checkpoint,
            data: b"fuzz.example/log\n".to_vec(),
        },
        Op::Down(true),
        Op::Offline(true),
    ] {
        let mut g = before_going_online(true);
        let shown = format!("{op:?}");
        g.apply(op);
        let due = g.split_due(0, saved.as_deref(), &pending[0]);
        assert!(due.is_none(), "{shown}: {due:?}");
    }
}

#[test]
#[should_panic(expected = "was forgotten")]
fn the_reference_catches_a_pending_fork_forgotten_without_evidence() {
    let g = before_going_online(true);
    let saved = g.state.checkpoint(&g.logs[0].log_id);
    let pending = g.pending();
    g.truth.check_pending(
        0,
        &pending[0],
        &[],
        saved.as_deref(),
        saved.as_deref(),
        &[],
        g.now,
    );
}

/// Found while teaching the reference deferred pairs (docs/FUZZING.md,
/// "Findings"), and failing until the verification is mended: a pending
/// fork of the saved checkpoint is proven only against a smaller shipped
/// checkpoint in force while the saved one is stale. Saved: the honest
/// size 200 (decision 1, 126). Offline, a witnessed fork of size 300 (leaf
/// 150 replaced) shipped beside the program runs, its pair kept pending
/// (decision 2, 0). An hour later — the saved checkpoint stale, the log
/// reached and serving its old note — a proof file for leaf 3 of the
/// honest size 100, freshly witnessed, is in force in place of the saved
/// checkpoint (proven a prefix of it); the pending fork is proven one
/// history with that size 100, forgotten, and saved in place of size 200,
/// which it does not extend; the program runs with the fork in force
/// (decision 3). The reference: no run through the fork, the saved
/// checkpoint never moved to it, the pair forgotten only as one history
/// with the saved line or with its split view recorded.
#[test]
fn found_a_pending_fork_proven_against_a_shipped_prefix() {
    let (setup, ops) = pending_fork_against_a_shipped_prefix();
    play(setup, ops);
}

pub(super) fn pending_fork_against_a_shipped_prefix() -> (Setup, Vec<Op>) {
    let ops = join(vec![
        saved_without_index(),
        vec![
            Op::Offline(true),
            Op::Fork {
                from_last: false,
                size: 299,
                at: 150,
                leaf: Leaf::Candidate(Candidate::Genuine),
                files: 0b0001,
            },
            Op::Sidecar {
                tree: 2,
                index: 290,
                size: 299,
                cosigners: 0b11,
                when: When {
                    minutes: 9,
                    seconds: 0,
                },
                named: false,
            },
            Op::Decide,
            Op::Clock { minutes: 61 },
            Op::Offline(false),
            Op::Sidecar {
                tree: 0,
                index: 3,
                size: 99,
                cosigners: 0b11,
                when: NOW,
                named: false,
            },
        ],
    ]);
    (Setup::default(), ops)
}
