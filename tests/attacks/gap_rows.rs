//! The release-history attacks on the routes the first rows left open: a
//! re-log of old bytes reached through a named proof file, its own name,
//! a warm run and the cache or index under `no_downgrade`; releases by a
//! key not allowed for the name; proofs of one entry beside other bytes; a
//! lagging log's own proof file, offline views; `min_release_age` over a
//! second release of the bytes and across logs.

use bt_exec::history::Cover;
use bt_exec::verify::exit;

use super::history::*;
use super::scenarios::{cosig, gossip, verdict, Outcome};
use super::world::{program, State, World, NAME, NOW};
use super::Row;

/// `relogged_after_2_ran` (a record by bytes) with X's entry found by `hint`.
fn downgrade_by(hint: Hint) -> Outcome {
    let mut w = world(1, "no_downgrade = true\n");
    let x = fill(&mut w, 0, true, true, true).unwrap();
    w.store.set_runs(ran_2(&w, false));
    let proof = plant(&w, hint, x);
    verdict(w.verify("1.0", proof))
}

/// 2.0 verified on the warm path's terms (`refresh`), then a proof of X's
/// entry cached, then 1.0's bytes: the warm refusal decided again, cold.
fn relogged_warm() -> Outcome {
    let mut w = world(1, "latest = true\nrefresh = \"1h\"\n");
    let x = fill(&mut w, 0, true, true, true).unwrap();
    assert_eq!(w.verify("2.0", None).code, 0);
    plant(&w, Hint::CachedProof, x);
    verdict(w.verify("1.0", None))
}

/// `x.example/relogged@latest` resolves to X's release, whose bytes are
/// outdated 1.0's: resolved, then verified, it is refused.
fn relogged_by_its_own_name() -> Outcome {
    let mut w = world(1, "latest = true\n");
    fill(&mut w, 0, true, true, true);
    let policy = w.policy();
    let srcs = w.sources();
    let ctx = w.ctx(&policy, &srcs);
    let seen = bt_exec::verify::resolve_release(&ctx, X_NAME, None)
        .1
        .expect("X's release resolves");
    assert_eq!(seen.entry.release.sha256, program("1.0").1);
    verdict(w.verify("1.0", None))
}

/// Log 0: 1.0 (allowed), then "2.0" of NAME signed by a key the policy does
/// not allow for it; 1.0 under `latest`, found by `hint` (or NAME@latest
/// when `resolve`).
fn newer_by_an_unallowed_key(hint: Hint, resolve: bool) -> Outcome {
    let mut w = world(1, "latest = true\n");
    fill(&mut w, 0, true, false, false);
    let (b2, _) = program("2.0");
    let e = release(&x_key(), NAME, "2.0", &b2, NOW);
    w.logs[0].history.append(e);
    w.serve(0, 2, Some(NOW - 60));
    if resolve {
        return super::scenarios::resolve(&w, None);
    }
    let proof = plant(&w, hint, 0);
    verdict(w.verify("1.0", proof))
}

/// A proof file of X's entry for 1.0's bytes under NAME — a name X may not
/// publish — beside the program.
fn proof_of_an_unallowed_entry() -> Outcome {
    let w = unallowed_entry();
    let proof = w.proof_file(0, &w.logs[0].history, 0, 1, Some(NOW - 60));
    verdict(w.verify("1.0", Some(proof)))
}

/// 2.0's proof file (or cached proof) beside 1.0's bytes, which no log
/// holds.
fn proof_of_other_bytes(cached: bool, offline: bool) -> Outcome {
    let mut w = world(1, "");
    fill(&mut w, 0, false, true, false);
    let proof = w.proof_file(0, &w.logs[0].history, 0, 1, Some(NOW - 60));
    assert_eq!(w.verify("2.0", Some(proof.clone())).code, 0);
    w.offline = offline;
    if cached {
        // 2.0's cached proof filed under 1.0's hash.
        let (_, sha2) = program("2.0");
        let p = w.store.proof(&w.logs[0].id(), &sha2).unwrap();
        w.store
            .save_proof(&w.logs[0].id(), &program("1.0").1, &p)
            .unwrap();
        return verdict(w.verify("1.0", None));
    }
    verdict(w.verify("1.0", Some(proof)))
}

/// Two logs, `logs = 1`, `latest`: log 0 holds 1.0 and 2.0, log 1 only
/// 1.0, and 1.0 comes with log 1's proof file; `offline` after an online
/// run of 2.0 built both views.
fn lagging_log_proof(offline: bool) -> Outcome {
    let mut w = world(2, "latest = true\n");
    fill(&mut w, 0, true, true, false);
    fill(&mut w, 1, true, false, false);
    if offline {
        assert_eq!(w.verify("2.0", None).code, 0);
        w.offline = true;
    }
    let proof = w.proof_file(1, &w.logs[1].history, 0, 1, Some(NOW - 60));
    verdict(w.verify("1.0", Some(proof)))
}

/// `min_release_age = 1d`: 1.0's bytes first logged by X (in log `x_log`)
/// and covered ten days ago, NAME 1.0 logged (in log 0) and covered a
/// minute ago. With `relog` false, only NAME 1.0, covered a minute ago.
fn bytes_covered_long_ago(relog: bool, x_log: usize) -> Outcome {
    let mut w = world(2, "min_release_age = \"1d\"\n");
    let (b1, _) = program("1.0");
    if relog {
        let e = release(&x_key(), X_NAME, "1", &b1, NOW - 10 * DAY);
        w.logs[x_log].history.append(e);
    }
    let e = release(&w.publisher, NAME, "1.0", &b1, NOW);
    w.logs[0].history.append(e);
    for l in 0..2 {
        let size = w.logs[l].history.leaves.len() as u64;
        if size == 0 {
            w.logs[l].history.append(release(
                &w.publisher,
                "example.org/other",
                "1",
                b"other",
                NOW,
            ));
        }
        let size = size.max(1);
        w.serve(l, size, Some(NOW - 60));
        if relog && l == x_log {
            let key = |i: usize| *w.witnesses[i].verifier().key.as_bytes();
            let covers: Vec<Cover> = (0..2)
                .map(|i| Cover {
                    size: 1,
                    time: NOW - 10 * DAY,
                    witness: key(i),
                })
                .collect();
            w.store
                .view(&w.logs[l].id())
                .record_coverage(&covers)
                .unwrap();
        }
    }
    verdict(w.verify("1.0", None))
}

/// A gossiped note of a newer checkpoint cosigned twice by one witness
/// (the other witness absent): not saved.
fn gossip_cosigned_twice() -> Outcome {
    let (w, h) = super::scenarios::extended();
    let l = &w.logs[0];
    let cp = bt_exec::tlog::Checkpoint::new(&l.origin, 5, h.root(5));
    let lines = vec![cosig(&w, 0, &cp, NOW), cosig(&w, 0, &cp, NOW - 1)];
    gossip(w.gossip(0, &bt_exec::log::sign_checkpoint(&l.key, &cp, &lines)))
}

/// One log, a proof file of 2.0 at size 5 whose checkpoint carries witness
/// 0's cosignature and witness 1's Ed25519 (0x01) line.
fn proof_with_an_ed25519_line() -> Outcome {
    let (w, h) = super::scenarios::extended();
    let l = &w.logs[0];
    let cp = bt_exec::tlog::Checkpoint::new(&l.origin, 5, h.root(5));
    let lines = vec![
        cosig(&w, 0, &cp, NOW),
        bt_exec::note::sign_ed25519_line(&w.witnesses[1], &cp.encode()),
    ];
    let proof = bt_exec::tlog::TlogProof {
        extra: Some(h.leaves[4].clone()),
        index: 4,
        proof: h.inclusion(4, 5),
        checkpoint: bt_exec::log::sign_checkpoint(&l.key, &cp, &lines),
    }
    .encode();
    verdict(w.verify("2.0", Some(proof)))
}

fn named(w: &mut World) -> &mut World {
    w.named_proof = true;
    w
}

pub const GAP_ROWS: &[Row] = &[
    Row {
        attacker: "other publisher",
        attack: "re-logs outdated 1.0's bytes as its own release (latest)",
        route: "named proof file of its entry",
        run: || {
            let mut w = world(1, "latest = true\n");
            let x = fill(&mut w, 0, true, true, true).unwrap();
            let proof = plant(named(&mut w), Hint::ProofFile, x);
            verdict(w.verify("1.0", proof))
        },
        code: exit::REFUSED,
        says: &["example.org/tool 1.0 is not the latest release"],
    },
    Row {
        attacker: "other publisher",
        attack: "re-logs outdated 1.0's bytes as its own release (latest)",
        route: "NAME@latest of its own name",
        run: relogged_by_its_own_name,
        code: exit::REFUSED,
        says: &["example.org/tool 1.0 is not the latest release"],
    },
    Row {
        attacker: "other publisher",
        attack: "re-logs outdated 1.0's bytes as its own release (latest)",
        route: "cached proof of its entry, warm (refresh)",
        run: relogged_warm,
        code: exit::REFUSED,
        says: &["example.org/tool 1.0 is not the latest release"],
    },
    Row {
        attacker: "other publisher",
        attack: "re-logs 1.0's bytes after 2.0 ran (no_downgrade, record by bytes)",
        route: "cached proof of its entry",
        run: || downgrade_by(Hint::CachedProof),
        code: exit::REFUSED,
        says: &["downgrade: example.org/tool 2.0 ran on this machine before"],
    },
    Row {
        attacker: "other publisher",
        attack: "re-logs 1.0's bytes after 2.0 ran (no_downgrade, record by bytes)",
        route: "bt/index listing its entry alone",
        run: || downgrade_by(Hint::ReorderedIndex),
        code: exit::REFUSED,
        says: &["downgrade: example.org/tool 2.0 ran on this machine before"],
    },
    Row {
        attacker: "other publisher",
        attack: "logs a later release of a name it may not publish (latest)",
        route: "proof file",
        run: || newer_by_an_unallowed_key(Hint::ProofFile, false),
        code: 0,
        says: &["proven in 1 of 1"],
    },
    Row {
        attacker: "other publisher",
        attack: "logs a later release of a name it may not publish (latest)",
        route: "cached proof",
        run: || newer_by_an_unallowed_key(Hint::CachedProof, false),
        code: 0,
        says: &["proven in 1 of 1"],
    },
    Row {
        attacker: "other publisher",
        attack: "logs a later release of a name it may not publish (latest)",
        route: "NAME@latest",
        run: || newer_by_an_unallowed_key(Hint::Index, true),
        code: 0,
        says: &["example.org/tool 1.0"],
    },
    Row {
        attacker: "other publisher",
        attack: "an entry for a name it may not publish",
        route: "proof file",
        run: proof_of_an_unallowed_entry,
        code: exit::REFUSED,
        says: &["is not allowed to publish example.org/tool"],
    },
    Row {
        attacker: "other publisher",
        attack: "another release's proof beside these bytes",
        route: "proof file",
        run: || proof_of_other_bytes(false, false),
        code: exit::REFUSED,
        says: &["the entry is for other bytes"],
    },
    Row {
        attacker: "other publisher",
        attack: "another release's proof beside these bytes",
        route: "proof file, --offline",
        run: || proof_of_other_bytes(false, true),
        code: exit::REFUSED,
        says: &["the entry is for other bytes"],
    },
    Row {
        attacker: "local user",
        attack: "another release's proof filed under these bytes",
        route: "cached proof",
        run: || proof_of_other_bytes(true, false),
        code: exit::REFUSED,
        says: &["not in this log"],
    },
    Row {
        attacker: "lagging log",
        attack: "log 1 lacks 2.0, log 0 holds it (logs = 1, latest)",
        route: "log 1's proof file",
        run: || lagging_log_proof(false),
        code: exit::REFUSED,
        says: &["1.0 is not the latest release: example.org/tool 2.0 (leaf 1 of example.org/log0)"],
    },
    Row {
        attacker: "lagging log",
        attack: "log 1 lacks 2.0, log 0 holds it (logs = 1, latest)",
        route: "log 1's proof file, --offline",
        run: || lagging_log_proof(true),
        code: exit::REFUSED,
        says: &["1.0 is not the latest release: example.org/tool 2.0"],
    },
    Row {
        attacker: "other publisher",
        attack: "the bytes logged under its name ten days before (min_release_age)",
        route: "bt/index",
        run: || bytes_covered_long_ago(true, 0),
        code: 0,
        says: &["proven in 1 of 2"],
    },
    Row {
        attacker: "lagging log",
        attack: "the bytes covered ten days ago in the other log (min_release_age)",
        route: "bt/index",
        run: || bytes_covered_long_ago(true, 1),
        code: 0,
        says: &["proven in 2 of 2"],
    },
    Row {
        attacker: "none",
        attack: "the bytes first covered a minute ago (min_release_age)",
        route: "bt/index",
        run: || bytes_covered_long_ago(false, 0),
        code: exit::REFUSED,
        says: &["60 s ago"],
    },
    Row {
        attacker: "witness",
        attack: "one witness's cosignature twice",
        route: "gossip",
        run: gossip_cosigned_twice,
        code: 0,
        says: &["not saved: the witness quorum is not met (1 valid"],
    },
    Row {
        attacker: "witness",
        attack: "an Ed25519 (0x01) line, not a cosignature",
        route: "proof file",
        run: proof_with_an_ed25519_line,
        code: exit::REFUSED,
        says: &["does not meet it itself"],
    },
];

/// `latest`, `refresh`: 1.0 verified (its view built); then "2.0" of NAME
/// by a key not allowed for it is logged and reaches this machine by
/// gossip. 1.0 still runs, decided again from the grown view.
pub fn warm_after_an_unallowed_release() -> Outcome {
    let mut w = world(1, "latest = true\nrefresh = \"1h\"\n");
    fill(&mut w, 0, true, false, false);
    assert_eq!(w.verify("1.0", None).code, 0);
    let (b2, _) = program("2.0");
    w.logs[0]
        .history
        .append(release(&x_key(), NAME, "2.0", &b2, NOW));
    w.serve_history(0, &w.logs[0].history, 2);
    let note = w.note_of(0, &w.logs[0].history, 2, Some(NOW - 10));
    w.store.put_checkpoint(&w.logs[0].id(), &note, NOW);
    verdict(w.verify("1.0", None))
}

/// `NAME@VERSION` while the log serves an entry bundle over its cap.
pub fn resolve_over_cap() -> Outcome {
    let mut w = world(1, "");
    fill(&mut w, 0, true, true, false);
    w.logs[0].src.put(
        "tile/entries/000.p/2",
        vec![0u8; bt_exec::tlog::tiles::MAX_BUNDLE_BYTES + 1],
    );
    super::scenarios::resolve(&w, Some("2.0"))
}

/// Audit mode: what it records for 1.0's bytes re-logged by X (`latest`),
/// or for an entry of NAME by X, whose key may not publish it.
pub fn audited_cause(relog: bool) -> Outcome {
    if relog {
        let mut w = world(1, "latest = true\n");
        let x = fill(&mut w, 0, true, true, true).unwrap();
        let proof = plant(&w, Hint::ProofFile, x);
        return super::routes::audited(w.verify("1.0", proof));
    }
    super::routes::audited(unallowed_entry().verify("1.0", None))
}

/// One log holding X's entry for 1.0's bytes under NAME, a name X may not
/// publish.
fn unallowed_entry() -> World {
    let mut w = world(1, "");
    let (b1, _) = program("1.0");
    w.logs[0]
        .history
        .append(release(&x_key(), NAME, "1.0", &b1, NOW));
    w.serve(0, 1, Some(NOW - 60));
    w
}

pub const GAP_ROWS_2: &[Row] = &[
    Row {
        attacker: "other publisher",
        attack: "logs a later release of a name it may not publish (latest)",
        route: "warm (refresh) after the view grew",
        run: warm_after_an_unallowed_release,
        code: 0,
        says: &["proven in 1 of 1"],
    },
    Row {
        attacker: "mirror",
        attack: "an entry bundle over its cap",
        route: "NAME@VERSION",
        run: resolve_over_cap,
        code: exit::UNREACHABLE,
        says: &["release history", "more than 16777728 bytes"],
    },
    Row {
        attacker: "other publisher",
        attack: "re-logs outdated 1.0's bytes as its own release (latest)",
        route: "audit mode",
        run: || audited_cause(true),
        code: 0,
        says: &[
            "AUDIT: would refuse (release history)",
            "example.org/tool 1.0 is not the latest release",
        ],
    },
    Row {
        attacker: "other publisher",
        attack: "an entry for a name it may not publish",
        route: "audit mode",
        run: || audited_cause(false),
        code: 0,
        says: &["AUDIT: would refuse (publisher not allowed)"],
    },
];

/// `no_downgrade`: 2.0 ran (proven by log 0); log 0 is down and log 1,
/// which lags, proves 1.0 with its own proof file (`offline`: nothing is
/// fetched at all, after an online run built both views).
pub fn downgrade_by_the_lagging_logs_proof(offline: bool) -> Outcome {
    let mut w = world(2, "no_downgrade = true\n");
    fill(&mut w, 0, true, true, false);
    fill(&mut w, 1, true, false, false);
    if offline {
        assert_eq!(w.verify("2.0", None).code, 0);
        w.offline = true;
    } else {
        w.logs[0].src.set_down(true);
    }
    w.store.set_runs(ran_2(&w, false));
    let proof = w.proof_file(1, &w.logs[1].history, 0, 1, Some(NOW - 60));
    verdict(w.verify("1.0", Some(proof)))
}

/// A fork of size 7 gossiped while a mirror serves the honest log's tiles
/// (mixing, as far as the fork's root goes): nothing proven either way.
pub fn gossiped_fork_under_honest_tiles() -> Outcome {
    let mut w = super::scenarios::honest();
    let f = super::scenarios::fork(&w, 7);
    w.publish(0, "1.1", 2);
    w.serve_history(0, &w.logs[0].history, 7);
    gossip(w.gossip(0, &w.note_of(0, &f, 7, None)))
}

pub const GAP_ROWS_3: &[Row] = &[
    Row {
        attacker: "lagging log",
        attack: "2.0 ran through log 0; log 0 down, log 1 proves 1.0 (no_downgrade)",
        route: "log 1's proof file",
        run: || downgrade_by_the_lagging_logs_proof(false),
        code: exit::REFUSED,
        says: &["downgrade: example.org/tool 2.0 ran on this machine before"],
    },
    Row {
        attacker: "lagging log",
        attack: "2.0 ran through log 0; log 1 proves 1.0 (no_downgrade)",
        route: "log 1's proof file, --offline",
        run: || downgrade_by_the_lagging_logs_proof(true),
        code: exit::REFUSED,
        says: &["downgrade: example.org/tool 2.0 ran on this machine before"],
    },
    Row {
        attacker: "mirror",
        attack: "honest tiles under a gossiped fork",
        route: "gossip",
        run: gossiped_fork_under_honest_tiles,
        code: exit::UNREACHABLE,
        says: &["cannot be proven now"],
    },
];

/// A release entry whose bytes a `file://` URL under `dir` serves.
fn served_release(w: &World, dir: &std::path::Path, version: &str, published: u64) -> Vec<u8> {
    let (bytes, sha) = program(version);
    let path = dir.join(hex::encode(sha));
    std::fs::write(&path, &bytes).unwrap();
    let release = bt_exec::entry::Release {
        name: NAME.into(),
        version: version.into(),
        platform: "any".into(),
        sha256: sha,
        size: bytes.len() as u64,
        published,
        cas: vec![format!("file://{}", path.display())],
        source: None,
    };
    bt_exec::entry::Entry::sign(release, &w.publisher)
        .unwrap()
        .encode()
}

/// `prior_revisions = 1`: 0.9 (its bytes served) then 1.0 of NAME in
/// log 0; `log1`: a second log, `logs = 1`, that lags (1.0 only); `relog`:
/// X logs 1.0's bytes under its own name, which has no earlier release.
pub fn prior_revisions_of_every_name(log1: bool, relog: bool) -> Outcome {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = world(if log1 { 2 } else { 1 }, "prior_revisions = 1\n");
    let e09 = served_release(&w, tmp.path(), "0.9", NOW - 3 * DAY);
    let e10 = served_release(&w, tmp.path(), "1.0", NOW - 2 * DAY);
    w.logs[0].history.append(e09);
    w.logs[0].history.append(e10.clone());
    if relog {
        let (b1, _) = program("1.0");
        w.logs[0]
            .history
            .append(release(&x_key(), X_NAME, "1", &b1, NOW));
    }
    let size = w.logs[0].history.leaves.len() as u64;
    w.serve(0, size, Some(NOW - 60));
    if log1 {
        w.logs[1].history.append(e10);
        w.serve(1, 1, Some(NOW - 60));
    }
    verdict(w.verify("1.0", None))
}

pub const GAP_ROWS_4: &[Row] = &[
    Row {
        attacker: "other publisher",
        attack: "re-logs 1.0's bytes under a name with no earlier release (prior_revisions)",
        route: "bt/index",
        run: || prior_revisions_of_every_name(false, true),
        code: exit::REFUSED,
        says: &["x.example/relogged 1 has 0 earlier release(s)"],
    },
    Row {
        attacker: "none",
        attack: "1.0 with 0.9's bytes still served (prior_revisions)",
        route: "bt/index",
        run: || prior_revisions_of_every_name(false, false),
        code: 0,
        says: &["proven in 1 of 1"],
    },
    Row {
        attacker: "lagging log",
        attack: "log 1 lacks 0.9, log 0 holds it (logs = 1, prior_revisions)",
        route: "bt/index",
        run: || prior_revisions_of_every_name(true, false),
        code: 0,
        says: &["proven in 2 of 2"],
    },
];
