//! Proofs shipped beside a program on a machine that cannot reach the log
//! (DESIGN §6, "Consistency that cannot be checked now"): on first use, a
//! proof whose checkpoint meets the policy by itself proves the leaf and
//! its checkpoint is saved; on a machine that saw the log before, one that
//! cannot be linked to the saved checkpoint now runs with the pair kept
//! pending, and the next online contact proves it — or finds the split
//! view. Each row beside its control.

use bt_exec::state::State;
use bt_exec::store::Pair;
use bt_exec::verify::{self, exit};

use super::scenarios::{cosig, fork, honest, verdict, Outcome};
use super::world::{World, NOW};
use super::Row;

/// How the log is out of reach.
#[derive(Clone, Copy)]
enum Reach {
    /// `--offline`.
    Offline,
    /// The log's server is down.
    Down,
}

fn cut_off(w: &mut World, r: Reach) {
    match r {
        Reach::Offline => w.offline = true,
        Reach::Down => w.logs[0].src.set_down(true),
    }
}

/// The pending pairs of log 0 and the saved checkpoint's size, after the
/// outcome, for the row to show.
fn with_state(w: &World, (code, msg): Outcome) -> Outcome {
    let id = w.logs[0].id();
    let pairs = w.store.pending(&id).map_or(usize::MAX, |p| p.len());
    let saved = w.store.checkpoint(&id).map_or("none".to_string(), |n| {
        Pair::tree(&String::from_utf8_lossy(&n)).0.to_string()
    });
    (
        code,
        format!("{msg}\nstate: {pairs} pending pair(s), saved checkpoint size {saved}"),
    )
}

/// Log 0 holds 1.0 at leaf 3 of size 4; this machine never verified
/// anything. A proof of 1.0 at size 4, its checkpoint cosigned by
/// `lines` (every witness a minute ago when `None`), reached as `r`.
fn first_use(
    r: Reach,
    lines: Option<fn(&World, &bt_exec::tlog::Checkpoint) -> Vec<String>>,
) -> Outcome {
    let mut w = World::new(1);
    w.publish(0, "1.0", 3);
    w.serve(0, 4, Some(NOW - 60));
    let proof = match lines {
        None => w.proof_file(0, &w.logs[0].history, 3, 4, Some(NOW - 60)),
        Some(lines) => {
            let l = &w.logs[0];
            let cp = bt_exec::tlog::Checkpoint::new(&l.origin, 4, l.history.root(4));
            bt_exec::tlog::TlogProof {
                extra: Some(l.history.leaves[3].clone()),
                index: 3,
                proof: l.history.inclusion(3, 4),
                checkpoint: bt_exec::log::sign_checkpoint(&l.key, &cp, &lines(&w, &cp)),
            }
            .encode()
        }
    };
    cut_off(&mut w, r);
    let out = verdict(w.verify("1.0", Some(proof)));
    with_state(&w, out)
}

/// On first use, offline: a proof whose checkpoint another key signed
/// under the log's origin (cosigned by the policy's witnesses).
fn first_use_other_key() -> Outcome {
    let mut w = World::new(1);
    w.publish(0, "1.0", 3);
    let l = &w.logs[0];
    let other = bt_exec::note::SecretKey::from_seed(&l.origin, [99; 32]).unwrap();
    let cp = bt_exec::tlog::Checkpoint::new(&l.origin, 4, l.history.root(4));
    let proof = bt_exec::tlog::TlogProof {
        extra: Some(l.history.leaves[3].clone()),
        index: 3,
        proof: l.history.inclusion(3, 4),
        checkpoint: bt_exec::log::sign_checkpoint(&other, &cp, &w.cosign(&cp, NOW - 60)),
    }
    .encode();
    w.offline = true;
    with_state(&w, verdict(w.verify("1.0", Some(proof))))
}

/// On first use, offline: the log key extended its tree with 2.0 at leaf
/// 4, which no witness cosigned, and ships it in a proof file.
fn first_use_unwitnessed() -> Outcome {
    let mut w = World::new(1);
    w.publish(0, "1.0", 3);
    w.publish(0, "2.0", 0);
    w.offline = true;
    let proof = w.proof_file(0, &w.logs[0].history, 4, 5, None);
    with_state(&w, verdict(w.verify("2.0", Some(proof))))
}

/// Log 0 grows to 6 with 2.0 at leaf 5, cosigned half a minute ago;
/// returns a proof of it at size 6, cosigned then.
fn grow_to_2_0(w: &mut World) -> Vec<u8> {
    w.publish(0, "2.0", 1);
    w.serve(0, 6, Some(NOW - 30));
    w.proof_file(0, &w.logs[0].history, 5, 6, Some(NOW - 30))
}

/// `honest` (size 4 saved), then the log grows to 6 with 2.0 at leaf 5,
/// cosigned; cut off as `r`, the program comes with a proof of size 6.
fn grown_cut_off(r: Reach) -> (World, Vec<u8>, Outcome) {
    let mut w = honest();
    let proof = grow_to_2_0(&mut w);
    cut_off(&mut w, r);
    let out = verdict(w.verify("2.0", Some(proof.clone())));
    let out = with_state(&w, out);
    (w, proof, out)
}

fn grown(r: Reach) -> Outcome {
    grown_cut_off(r).2
}

/// `grown` offline under `latest`: the proof's leaf lies beyond the
/// release history this machine holds, and whether a newer release
/// precedes it there is unknown until the log is reached.
fn grown_under_latest() -> Outcome {
    let mut w = honest();
    w.require.push_str("latest = true\n");
    assert_eq!(w.verify("1.0", None).code, 0);
    let proof = grow_to_2_0(&mut w);
    w.offline = true;
    with_state(&w, verdict(w.verify("2.0", Some(proof))))
}

/// `grown` offline, then online with the log's honest history: the next
/// run (of 1.0, without a proof) proves the pair and forgets it.
fn grown_then_online() -> Outcome {
    let (mut w, _, (c1, m1)) = grown_cut_off(Reach::Offline);
    w.offline = false;
    let out = verdict(w.verify("1.0", None));
    let (c2, m2) = with_state(&w, out);
    (c2, format!("offline: exit {c1}: {m1}\nthen online: {m2}"))
}

/// `grown` offline, then `status` (or `gossip import`) reaches the log:
/// the online contact outside a run.
fn grown_then_contact() -> Outcome {
    let (mut w, _, (c1, _)) = grown_cut_off(Reach::Offline);
    assert_eq!(c1, 0);
    w.offline = false;
    contact(&w)
}

/// [`verify::contact`] with log 0, and what it saves.
fn contact(w: &World) -> Outcome {
    let policy = w.policy();
    let srcs = w.sources();
    let ctx = w.ctx(&policy, &srcs);
    let (report, r) = verify::contact(&ctx, &policy.trust.logs[0]);
    bt_exec::exec::saving::save(&w.store, &[report], &[0; 32], w.now)
        .unwrap_or_else(|f| panic!("{}", f.message));
    let out = match r {
        Ok(true) => (0, "reached".to_string()),
        Ok(false) => (0, "not reached".to_string()),
        Err(o) => (o.exit_code(), o.message()),
    };
    with_state(w, out)
}

/// `honest`, then the log key and both witnesses (colluding) sign a fork
/// of size 7 with 2.0 at leaf 6, shipped in a proof file to this machine
/// while it is offline; the log itself goes on honestly to size 8 (past
/// the fork's size: the tiles of its own tree then prove the two apart).
fn cosigned_fork() -> (World, Vec<u8>) {
    let mut w = honest();
    let f = fork(&w, 7);
    let proof = w.proof_file(0, &f, 6, 7, Some(NOW - 30));
    w.publish(0, "1.1", 3);
    w.serve(0, 8, Some(NOW - 20));
    (w, proof)
}

/// The cosigned fork runs offline (pending); the next online run — of
/// anything — finds the split view, and the run after it stays refused.
fn cosigned_fork_found(then: fn(&World) -> Outcome) -> Outcome {
    let (mut w, proof) = cosigned_fork();
    w.offline = true;
    let (c1, m1) = with_state(&w, verdict(w.verify("2.0", Some(proof))));
    w.offline = false;
    let (c2, m2) = then(&w);
    let (c3, m3) = verdict(w.verify("1.0", None));
    let evidence = w.store.evidence().len();
    (
        c2.max(c3),
        format!("offline: exit {c1}: {m1}\nthen online: exit {c2}: {m2}\nthe next run: exit {c3}: {m3}\nevidence files: {evidence}"),
    )
}

/// Size 7 saved (1.0 at leaf 3, 1.1 at leaf 6); offline, a colluding
/// fork of size 9 shipped with 2.0 runs, pending. Two hours on, the saved
/// checkpoint is stale; online, the log serves its old note, the honest
/// tiles and the fork's; a proof of 1.0 at the honest size 4, cosigned
/// now, stands in for the stale saved checkpoint it is a prefix of. The
/// pending fork must be proven against the saved size 7, not that prefix.
fn pending_fork_against_a_shipped_prefix() -> Outcome {
    let mut w = World::new(1);
    w.publish(0, "1.0", 3);
    w.publish(0, "1.1", 2);
    w.serve(0, 7, Some(NOW - 60));
    assert_eq!(w.verify("1.0", None).code, 0);
    // Forked after leaf 4: the shipped size 4 is a prefix of both.
    let mut f = w.logs[0].history.fork(5);
    while f.leaves.len() < 8 {
        let n = f.leaves.len();
        f.append(w.entry(&format!("9.{n}"), format!("forked {n}").as_bytes()));
    }
    f.append(w.entry("2.0", &super::world::program("2.0").0));
    w.offline = true;
    let (c1, _) = verdict(w.verify("2.0", Some(w.proof_file(0, &f, 8, 9, Some(NOW - 30)))));
    w.offline = false;
    w.now = NOW + 7200;
    w.serve_history(0, &f, 9);
    let prefix = w.proof_file(0, &w.logs[0].history, 3, 4, Some(NOW + 7170));
    let (c2, m2) = with_state(&w, verdict(w.verify("1.0", Some(prefix))));
    (c2, format!("offline: exit {c1}\nthen: {m2}"))
}

/// `honest` (size 4 saved); the log key and a colluding quorum sign a fork
/// of size 5 (2.0 at leaf 4) shipped beside the program; the machine is
/// online and the log serves its own size 5 (1.1 at leaf 4) — cosigned
/// two hours ago when `stale` (and the saved checkpoint stale too), else
/// signed by the log key alone (between witness rounds). The log's own
/// checkpoint, whatever its cosignatures, proves the fork.
fn fork_beside_served(stale: bool) -> Outcome {
    let mut w = honest();
    let mut f = w.logs[0].history.fork(4);
    f.append(w.entry("2.0", &super::world::program("2.0").0));
    w.publish(0, "1.1", 0);
    if stale {
        w.now = NOW + 7200;
        w.serve(0, 5, Some(NOW - 60));
    } else {
        w.serve(0, 5, None);
    }
    let proof = w.proof_file(0, &f, 4, 5, Some(w.now - 30));
    with_state(&w, verdict(w.verify("2.0", Some(proof))))
}

/// `honest` (size 4 saved); the log grows to 6 with 2.0 at leaf 5 and its
/// index lists it; a path alters only the checkpoint (`how`). What the log
/// holds beyond the saved size is unknown, not absent: never "not in this
/// log; publish this exact file".
fn checkpoint_altered(how: fn(&World)) -> Outcome {
    let mut w = honest();
    grow_to_2_0(&mut w);
    how(&w);
    verdict(w.verify("2.0", None))
}

/// `grown` offline, but the program beside the witnessed proof of 2.0 is
/// other bytes (3.0, never logged): refused, and no pair is kept — refused
/// runs must not fill the pending pairs.
fn other_bytes_beside_a_newer_proof() -> Outcome {
    let mut w = honest();
    let proof = grow_to_2_0(&mut w);
    w.offline = true;
    with_state(&w, verdict(w.verify("3.0", Some(proof))))
}

/// `logs = 2`: 1.0 seen in both logs; 2.0 logged in log 0 alone and
/// shipped with its proof, offline. Log 0 proves it through a checkpoint
/// it cannot link, log 1 cannot: refused, and log 0 keeps no pair.
fn one_of_two_logs_defers() -> Outcome {
    let mut w = World::new(2);
    w.require = "logs = 2\nmax_age = \"1h\"\n".into();
    for l in 0..2 {
        w.publish(l, "1.0", 3);
        w.serve(l, 4, Some(NOW - 60));
    }
    assert_eq!(w.verify("1.0", None).code, 0);
    let proof = grow_to_2_0(&mut w);
    w.offline = true;
    with_state(&w, verdict(w.verify("2.0", Some(proof))))
}

fn next_run(w: &World) -> Outcome {
    with_state(w, verdict(w.verify("1.0", None)))
}

/// Pending pairs at their cap: one more is not deferred (124).
fn pending_full() -> Outcome {
    let mut w = honest();
    let proof = grow_to_2_0(&mut w);
    let full: Vec<Pair> = (0..bt_exec::store::MAX_PENDING)
        .map(|i| Pair {
            anchor: "a".into(),
            unlinked: format!("example.org/log0\n{}\nroot{i}\n", 100 + i),
            recorded: NOW,
            from: "elsewhere".into(),
        })
        .collect();
    w.store.update_pending(&w.logs[0].id(), &full, &[]).unwrap();
    w.offline = true;
    verdict(w.verify("2.0", Some(proof)))
}

/// `honest` saved a minute before `NOW`; two hours on, the saved
/// checkpoint is stale and the log is down; a proof of 1.0 whose size-4
/// checkpoint the witnesses cosigned again a minute ago. It is saved: the
/// next run, without the proof, still runs.
fn stale_saved_fresh_proof() -> Outcome {
    let mut w = honest();
    w.now = NOW + 7200;
    let proof = w.proof_file(0, &w.logs[0].history, 3, 4, Some(NOW + 7140));
    w.logs[0].src.set_down(true);
    let (c1, m1) = verdict(w.verify("1.0", Some(proof)));
    let (c2, m2) = with_state(&w, verdict(w.verify("1.0", None)));
    (c1.max(c2), format!("{m1}\nthen without the proof: {m2}"))
}

/// Under `latest` with `refresh`, 1.0 verified online (its proof cached);
/// then, offline, a colluding fork of size 5 shipped with 2.0 leaves a
/// pair pending (when `pending`); then 1.0 again, offline. Shown by each
/// step the verification took: never the warm path on an unproven pair.
fn warm_after(pending: bool) -> Outcome {
    let mut w = honest();
    w.require.push_str("refresh = \"1h\"\nlatest = true\n");
    assert_eq!(w.verify("1.0", None).code, 0);
    w.offline = true;
    if pending {
        // A colluding fork of size 5 kept pending by an earlier run.
        let f = fork(&w, 5);
        let id = w.logs[0].id();
        let text = |n: Vec<u8>| String::from_utf8(n).unwrap();
        let pair = Pair {
            anchor: text(w.store.checkpoint(&id).unwrap()),
            unlinked: text(w.note_of(0, &f, 5, Some(NOW - 30))),
            recorded: NOW,
            from: "tool.tlog-proof".into(),
        };
        w.store.update_pending(&id, &[pair], &[]).unwrap();
    }
    let v = w.verify("1.0", None);
    let steps = v.logs[0].narration.join("; ");
    with_state(&w, (v.code, format!("{}\nsteps: {steps}", v.reason)))
}

pub const PENDING_ROWS: &[Row] = &[
    Row {
        attacker: "none",
        attack: "first use, a proof meeting the policy",
        route: "proof file, --offline, empty state",
        run: || first_use(Reach::Offline, None),
        code: 0,
        says: &[
            "proven in 1 of 1",
            "0 pending pair(s), saved checkpoint size 4",
        ],
    },
    Row {
        attacker: "none",
        attack: "first use, a proof meeting the policy",
        route: "proof file, the log down, empty state",
        run: || first_use(Reach::Down, None),
        code: 0,
        says: &["proven in 1 of 1", "saved checkpoint size 4"],
    },
    Row {
        attacker: "mirror",
        attack: "first use, a proof cosigned by one witness of two",
        route: "proof file, --offline, empty state",
        run: || {
            first_use(
                Reach::Offline,
                Some(|w, cp| vec![cosig(w, 0, cp, NOW - 60)]),
            )
        },
        code: exit::REFUSED,
        says: &[
            "tool.tlog-proof: its checkpoint (size 4) does not meet the policy by itself",
            "quorum is not met",
            "saved checkpoint size none",
        ],
    },
    Row {
        attacker: "mirror",
        attack: "first use, a stale proof (cosigned two hours ago)",
        route: "proof file, the log down, empty state",
        run: || first_use(Reach::Down, Some(|w, cp| w.cosign(cp, NOW - 7200))),
        code: exit::REFUSED,
        says: &["stale", "saved checkpoint size none"],
    },
    Row {
        attacker: "witness",
        attack: "first use, a quorum dated an hour ahead",
        route: "proof file, --offline, empty state",
        run: || first_use(Reach::Offline, Some(|w, cp| w.cosign(cp, NOW + 3600))),
        code: exit::REFUSED,
        says: &["check this machine's clock"],
    },
    Row {
        attacker: "mirror",
        attack: "first use, a proof whose checkpoint another key signed",
        route: "proof file, --offline, empty state",
        run: first_use_other_key,
        code: exit::REFUSED,
        says: &["tool.tlog-proof: checkpoint:", "saved checkpoint size none"],
    },
    Row {
        attacker: "log operator",
        attack: "first use, an extension no witness cosigned",
        route: "proof file, --offline, empty state",
        run: first_use_unwitnessed,
        code: exit::REFUSED,
        says: &[
            "does not meet the policy by itself",
            "saved checkpoint size none",
        ],
    },
    Row {
        attacker: "none",
        attack: "the log grew; a fresh witnessed proof of the newer checkpoint",
        route: "proof file, --offline",
        run: || grown(Reach::Offline),
        code: 0,
        says: &["kept pending", "1 pending pair(s), saved checkpoint size 4"],
    },
    Row {
        attacker: "none",
        attack: "the log grew; a fresh witnessed proof of the newer checkpoint",
        route: "proof file, the log down",
        run: || grown(Reach::Down),
        code: 0,
        says: &["kept pending", "1 pending pair(s), saved checkpoint size 4"],
    },
    Row {
        attacker: "lagging log",
        attack: "the log grew; a witnessed proof of a leaf beyond the history held (latest)",
        route: "proof file, --offline",
        run: grown_under_latest,
        code: exit::UNREACHABLE,
        says: &[
            "beyond the release history this machine holds (4 entries)",
            "0 pending pair(s)",
        ],
    },
    Row {
        attacker: "none",
        attack: "a pending pair, then the log back with its honest history",
        route: "the next run",
        run: grown_then_online,
        code: 0,
        says: &[
            "then online: sha256",
            "0 pending pair(s), saved checkpoint size 6",
        ],
    },
    Row {
        attacker: "none",
        attack: "a pending pair, then the log back with its honest history",
        route: "status / gossip import (online contact)",
        run: grown_then_contact,
        code: 0,
        says: &["reached", "0 pending pair(s), saved checkpoint size 6"],
    },
    Row {
        attacker: "log operator",
        attack: "a fork the log key and a colluding witness quorum signed",
        route: "proof file, --offline, then the next run online",
        run: || cosigned_fork_found(next_run),
        code: exit::MISBEHAVIOUR,
        says: &[
            "offline: exit 0",
            "kept pending",
            "then online: exit 123: SECURITY ALERT",
            "split view: size 7 is not a prefix of size 8",
            "the next run: exit 123",
            "evidence files: 1",
        ],
    },
    Row {
        attacker: "log operator",
        attack: "a fork the log key and a colluding witness quorum signed",
        route: "proof file, --offline, then status / gossip import",
        run: || cosigned_fork_found(contact),
        code: exit::MISBEHAVIOUR,
        says: &[
            "then online: exit 123: split view",
            "the next run: exit 123",
        ],
    },
    Row {
        attacker: "log operator",
        attack:
            "a pending colluding fork, the saved checkpoint stale, a shipped prefix of it in force",
        route: "proof file, --offline, then a proof file online",
        run: pending_fork_against_a_shipped_prefix,
        code: exit::MISBEHAVIOUR,
        says: &[
            "offline: exit 0",
            "split view: size 7 is not a prefix of size 9",
        ],
    },
    Row {
        attacker: "log operator",
        attack: "a colluding fork shipped online; the log serves its own tree, not cosigned yet",
        route: "proof file",
        run: || fork_beside_served(false),
        code: exit::MISBEHAVIOUR,
        says: &[
            "split view: two different trees of size 5",
            "0 pending pair(s)",
        ],
    },
    Row {
        attacker: "log operator",
        attack: "a colluding fork shipped online; the saved checkpoint and the log's stale",
        route: "proof file",
        run: || fork_beside_served(true),
        code: exit::MISBEHAVIOUR,
        says: &["split view: two different trees of size 5"],
    },
    Row {
        attacker: "mirror",
        attack: "only the checkpoint removed (404); the index lists a release logged since",
        route: "bt/index",
        run: || checkpoint_altered(|w| drop(w.logs[0].src.remove("checkpoint"))),
        code: exit::UNREACHABLE,
        says: &[
            "beyond the checkpoint in force (size 4)",
            "the log's current checkpoint could not be had",
        ],
    },
    Row {
        attacker: "mirror",
        attack: "only the checkpoint garbled; the index lists a release logged since",
        route: "bt/index",
        run: || checkpoint_altered(|w| w.logs[0].src.put("checkpoint", b"garbage".to_vec())),
        code: exit::UNREACHABLE,
        says: &[
            "beyond the checkpoint in force (size 4)",
            "the log's checkpoint could not be used",
        ],
    },
    Row {
        attacker: "mirror",
        attack: "an honest witnessed proof of another release beside unlogged bytes",
        route: "proof file, --offline",
        run: other_bytes_beside_a_newer_proof,
        code: exit::REFUSED,
        says: &["the entry is for other bytes", "0 pending pair(s)"],
    },
    Row {
        attacker: "mirror",
        attack: "a release in one log of two (logs = 2), its witnessed proof beside it",
        route: "proof file, --offline",
        run: one_of_two_logs_defers,
        code: exit::UNREACHABLE,
        says: &[
            "proven in 1 log(s), the policy requires 2",
            "0 pending pair(s)",
        ],
    },
    Row {
        attacker: "log operator",
        attack: "a witnessed checkpoint for an offline machine, pending pairs at their cap",
        route: "proof file, --offline",
        run: pending_full,
        code: exit::UNREACHABLE,
        says: &["pairs of this log already wait to be proven"],
    },
    Row {
        attacker: "none",
        attack: "the saved checkpoint stale, the same tree cosigned again since",
        route: "proof file, the log down",
        run: stale_saved_fresh_proof,
        code: 0,
        says: &[
            "then without the proof: sha256",
            "0 pending pair(s), saved checkpoint size 4",
        ],
    },
    Row {
        attacker: "log operator",
        attack: "a pending pair under history rules (latest)",
        route: "warm (refresh), cached proof, --offline",
        run: || warm_after(true),
        code: 0,
        says: &[
            "using the saved checkpoint; checkpoint size 4 verified",
            "1 pending pair(s)",
        ],
    },
    Row {
        attacker: "none",
        attack: "no pending pair under history rules (latest)",
        route: "warm (refresh), cached proof, --offline",
        run: || warm_after(false),
        code: 0,
        says: &["steps: cached checkpoint size 4 is fresh; proven from the cache"],
    },
];
