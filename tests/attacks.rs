//! The verification core against its attackers, in process: one row per
//! (attacker × attack × route), each naming the exit code and what the
//! message must say; negative cases first, positive controls last.
//! Logs are served from memory (DESIGN §6; issue "verification core").

#[path = "attacks/world.rs"]
mod world;

use bt_exec::verify::{self, exit, LogOutcome};
use world::{program, History, World, NAME, NOW};

/// The outcome of one row: exit code and the text the user would see.
type Outcome = (u8, String);

struct Row {
    attacker: &'static str,
    attack: &'static str,
    route: &'static str,
    run: fn() -> Outcome,
    code: u8,
    says: &'static [&'static str],
}

fn verdict(v: verify::Verdict) -> Outcome {
    let warnings: String = v
        .logs
        .iter()
        .flat_map(|r| r.warnings.iter().map(|w| format!("\nwarning: {w}")))
        .collect();
    (v.code, format!("{}{warnings}", v.reason))
}

fn gossip(r: Result<verify::Gossip, LogOutcome>) -> Outcome {
    match r {
        Ok(verify::Gossip::Newer(_)) => (0, "saved".into()),
        Ok(verify::Gossip::Known) => (0, "known".into()),
        Ok(verify::Gossip::NotSaved(why)) => (0, format!("not saved: {why}")),
        Err(o) => (o.exit_code(), o.message()),
    }
}

/// Release 1.0 at leaf 3 of log 0 (size 4), cosigned a minute ago, seen
/// once (its checkpoint and proof saved).
fn honest() -> World {
    let mut w = World::new(1);
    w.publish(0, "1.0", 3);
    w.serve(0, 4, Some(NOW - 60));
    let v = w.verify("1.0", None);
    assert_eq!(v.code, 0, "{}", v.reason);
    w
}

/// `honest`, then the log key signs size 5 with release 2.0 at leaf 4,
/// which no witness cosigned; the log keeps serving its cosigned size 4
/// (and the tiles of size 5). Returns the extended history.
fn extended() -> (World, History) {
    let mut w = honest();
    w.publish(0, "2.0", 0);
    let h = std::mem::replace(&mut w.logs[0].history, History::new());
    w.serve_history(0, &h, 5);
    let cosigned4 = w.note_of(0, &h, 4, Some(NOW - 60));
    w.logs[0].src.put("checkpoint", cosigned4);
    (w, h)
}

fn extension_in_a_proof_file(offline: bool, refresh: bool) -> Outcome {
    let (mut w, h) = extended();
    w.offline = offline;
    if refresh {
        w.require.push_str("refresh = \"1h\"\n");
    }
    let proof = w.proof_file(0, &h, 4, 5, None);
    verdict(w.verify("2.0", Some(proof)))
}

/// A fork of the first two leaves, grown to `size` with release 2.0.
fn fork(w: &World, size: u64) -> History {
    let mut f = w.logs[0].history.fork(2);
    while (f.leaves.len() as u64) < size - 1 {
        let n = f.leaves.len();
        f.append(w.entry(&format!("9.{n}"), format!("forked {n}").as_bytes()));
    }
    f.append(w.entry("2.0", &program("2.0").0));
    f
}

fn forked_checkpoint_served(size: u64) -> Outcome {
    let w = honest();
    let f = fork(&w, size);
    w.serve_history(0, &f, size);
    w.logs[0]
        .src
        .put("checkpoint", w.note_of(0, &f, size, None));
    verdict(w.verify("2.0", None))
}

fn forked_proof_file(size: u64) -> Outcome {
    let w = honest();
    let f = fork(&w, size);
    if size > 4 {
        w.serve_history(0, &f, size);
        w.logs[0].src.put(
            "checkpoint",
            w.note_of(0, &w.logs[0].history, 4, Some(NOW - 60)),
        );
    }
    let proof = w.proof_file(0, &f, size - 1, size, None);
    verdict(w.verify("2.0", Some(proof)))
}

fn forked_gossip(size: u64) -> Outcome {
    let w = honest();
    let f = fork(&w, size);
    w.serve_history(0, &f, size);
    gossip(w.gossip(0, &w.note_of(0, &f, size, None)))
}

fn forked_release_lookup(size: u64) -> Outcome {
    let w = honest();
    let f = fork(&w, size);
    w.serve_history(0, &f, size);
    w.logs[0]
        .src
        .put("checkpoint", w.note_of(0, &f, size, None));
    resolve(&w, Some("2.0"))
}

fn resolve(w: &World, version: Option<&str>) -> Outcome {
    let policy = w.policy();
    let srcs = w.sources();
    let ctx = w.ctx(&policy, &srcs);
    match verify::resolve_release(&ctx, NAME, version).1 {
        Ok(seen) => (
            0,
            format!("{} {}", seen.entry.release.name, seen.entry.release.version),
        ),
        Err((code, msg)) => (code, msg),
    }
}

/// Honest size 4 seen; the log serves an older checkpoint (size `size`,
/// of `history`), with the tiles of size 4.
fn rollback(forked: bool) -> Outcome {
    let w = honest();
    let h = if forked {
        fork(&w, 3)
    } else {
        w.logs[0].history.fork(3)
    };
    w.logs[0]
        .src
        .put("checkpoint", w.note_of(0, &h, 3, Some(NOW - 60)));
    verdict(w.verify("1.0", None))
}

/// A cold client (nothing saved) and a mirror that changed what it serves.
fn mirror_cold(change: fn(&World)) -> Outcome {
    let mut w = World::new(1);
    w.publish(0, "1.0", 3);
    w.serve(0, 4, Some(NOW - 60));
    change(&w);
    verdict(w.verify("1.0", None))
}

/// Flips a byte near the end of what `path` serves (in the last entry
/// of a bundle: the program's own).
fn flip(w: &World, path: &str) {
    let mut d = w.logs[0].src.read(path).unwrap();
    let at = d.len() - 9;
    d[at] ^= 1;
    w.logs[0].src.put(path, d);
}

/// Saved size 4; a stale mirror serves size 2 and only the tiles of size
/// 2, so whether it is a prefix cannot be proven: the cache decides.
fn stale_mirror() -> Outcome {
    let w = honest();
    let src = &w.logs[0].src;
    src.remove("tile/0/000.p/4");
    w.serve_history(0, &w.logs[0].history, 2);
    src.put(
        "checkpoint",
        w.note_of(0, &w.logs[0].history, 2, Some(NOW - 60)),
    );
    verdict(w.verify("1.0", None))
}

/// Saved size 4; the log grew honestly to 10, and a mirror altered a tile
/// of the larger tree: nothing is concluded, the cache decides.
fn crafted_tile_under_larger_tree() -> Outcome {
    let mut w = honest();
    w.publish(0, "1.1", 5);
    w.serve(0, 10, Some(NOW - 30));
    flip(&w, "tile/0/000.p/10");
    let out = verdict(w.verify("1.0", None));
    assert!(
        w.store.alarm("example.org/log0").is_none(),
        "an alarm from a mirror"
    );
    out
}

/// A fork of size 10 signed by the log key, served with the honest
/// tiles of size 10: they do not hash to its root, nothing is proven.
fn fork_under_honest_tiles() -> Outcome {
    let mut w = honest();
    let f = fork(&w, 10);
    w.publish(0, "1.1", 5);
    w.serve_history(0, &w.logs[0].history, 10);
    w.logs[0].src.put("checkpoint", w.note_of(0, &f, 10, None));
    verdict(w.verify("2.0", None))
}

/// A cold client; log 0 at size 4 cosigned as `cosign` says.
fn witnesses(cosign: fn(&World, &bt_exec::tlog::Checkpoint) -> Vec<String>) -> Outcome {
    let mut w = World::new(1);
    w.publish(0, "1.0", 3);
    w.serve(0, 4, None);
    let l = &w.logs[0];
    let cp = bt_exec::tlog::Checkpoint::new(&l.origin, 4, l.history.root(4));
    let note = bt_exec::log::sign_checkpoint(&l.key, &cp, &cosign(&w, &cp));
    l.src.put("checkpoint", note);
    verdict(w.verify("1.0", None))
}

fn cosig(w: &World, i: usize, cp: &bt_exec::tlog::Checkpoint, t: u64) -> String {
    bt_exec::note::sign_cosignature_line(&w.witnesses[i], t, &cp.encode())
}

const ROWS: &[Row] = &[
    // --- the log operator: holds the log key, not the witnesses' ---
    Row {
        attacker: "log operator",
        attack: "extension never cosigned (item 1)",
        route: "proof file",
        run: || extension_in_a_proof_file(false, false),
        code: exit::REFUSED,
        says: &["size 5 is larger than size 4", "does not meet it itself"],
    },
    Row {
        attacker: "log operator",
        attack: "extension never cosigned",
        route: "proof file, --offline",
        run: || extension_in_a_proof_file(true, false),
        code: exit::REFUSED,
        says: &["size 5 is larger than size 4"],
    },
    Row {
        attacker: "log operator",
        attack: "extension never cosigned",
        route: "proof file, warm (refresh)",
        run: || extension_in_a_proof_file(false, true),
        code: exit::REFUSED,
        says: &["size 5 is larger than size 4"],
    },
    Row {
        attacker: "log operator",
        attack: "extension never cosigned",
        route: "bt/index (served as the checkpoint)",
        run: || {
            let (w, h) = extended();
            w.logs[0].src.put("checkpoint", w.note_of(0, &h, 5, None));
            verdict(w.verify("2.0", None))
        },
        code: exit::REFUSED,
        says: &["witness quorum is not met"],
    },
    Row {
        attacker: "log operator",
        attack: "extension never cosigned",
        route: "NAME@VERSION",
        run: || {
            let (w, h) = extended();
            w.logs[0].src.put("checkpoint", w.note_of(0, &h, 5, None));
            resolve(&w, Some("2.0"))
        },
        code: exit::REFUSED,
        says: &["witness quorum is not met"],
    },
    Row {
        attacker: "log operator",
        attack: "extension never cosigned",
        route: "gossip",
        run: || {
            let (w, h) = extended();
            let r = gossip(w.gossip(0, &w.note_of(0, &h, 5, None)));
            let saved = w.store.checkpoint("example.org/log0").unwrap();
            assert!(String::from_utf8_lossy(&saved).contains("\n4\n"));
            r
        },
        code: 0,
        says: &["not saved"],
    },
    Row {
        attacker: "log operator",
        attack: "fork at the same size",
        route: "bt/index",
        run: || forked_checkpoint_served(4),
        code: exit::MISBEHAVIOUR,
        says: &["split view: two different trees of size 4"],
    },
    Row {
        attacker: "log operator",
        attack: "fork at the same size",
        route: "proof file",
        run: || forked_proof_file(4),
        code: exit::MISBEHAVIOUR,
        says: &["two different trees of size 4"],
    },
    Row {
        attacker: "log operator",
        attack: "fork at the same size",
        route: "gossip",
        run: || forked_gossip(4),
        code: exit::MISBEHAVIOUR,
        says: &["two different trees of size 4"],
    },
    Row {
        attacker: "log operator",
        attack: "fork at the same size",
        route: "NAME@VERSION",
        run: || forked_release_lookup(4),
        code: exit::MISBEHAVIOUR,
        says: &["two different trees of size 4"],
    },
    Row {
        attacker: "log operator",
        attack: "fork at a larger size",
        route: "bt/index",
        run: || forked_checkpoint_served(7),
        code: exit::MISBEHAVIOUR,
        says: &["size 4 is not a prefix of size 7"],
    },
    Row {
        attacker: "log operator",
        attack: "fork at a larger size",
        route: "proof file",
        run: || forked_proof_file(7),
        code: exit::MISBEHAVIOUR,
        says: &["size 4 is not a prefix of size 7"],
    },
    Row {
        attacker: "log operator",
        attack: "fork at a larger size",
        route: "gossip",
        run: || forked_gossip(7),
        code: exit::MISBEHAVIOUR,
        says: &["size 4 is not a prefix of size 7"],
    },
    Row {
        attacker: "log operator",
        attack: "fork at a larger size",
        route: "NAME@VERSION",
        run: || forked_release_lookup(7),
        code: exit::MISBEHAVIOUR,
        says: &["size 4 is not a prefix of size 7"],
    },
    Row {
        attacker: "log operator",
        attack: "rollback to a forked smaller tree",
        route: "bt/index",
        run: || rollback(true),
        code: exit::MISBEHAVIOUR,
        says: &["size 3 is not a prefix of size 4"],
    },
    Row {
        attacker: "log operator",
        attack: "a split view seen once stays refused",
        route: "bt/index after gossip",
        run: || {
            let w = honest();
            let f = fork(&w, 4);
            let _ = w.gossip(0, &w.note_of(0, &f, 4, None));
            verdict(w.verify("1.0", None))
        },
        code: exit::MISBEHAVIOUR,
        says: &["recorded earlier", "alarm clear"],
    },
    // --- a mirror, CDN or network path: no key ---
    Row {
        attacker: "mirror",
        attack: "crafted hash tile",
        route: "bt/index, cold",
        run: || mirror_cold(|w| flip(w, "tile/0/000.p/4")),
        code: exit::UNREACHABLE,
        says: &["do not hash to its signed root"],
    },
    Row {
        attacker: "mirror",
        attack: "truncated hash tile",
        route: "bt/index, cold",
        run: || {
            mirror_cold(|w| {
                let s = &w.logs[0].src;
                let mut d = s.read("tile/0/000.p/4").unwrap();
                d.truncate(40);
                s.put("tile/0/000.p/4", d)
            })
        },
        code: exit::UNREACHABLE,
        says: &["not 4 hashes"],
    },
    Row {
        attacker: "mirror",
        attack: "missing hash tile",
        route: "bt/index, cold",
        run: || {
            mirror_cold(|w| {
                w.logs[0].src.remove("tile/0/000.p/4");
            })
        },
        code: exit::UNREACHABLE,
        says: &["tile/0/000.p/4 is missing"],
    },
    Row {
        attacker: "mirror",
        attack: "missing entry bundle",
        route: "bt/index, cold",
        run: || {
            mirror_cold(|w| {
                w.logs[0].src.remove("tile/entries/000.p/4");
            })
        },
        code: exit::UNREACHABLE,
        says: &["tile/entries/000.p/4 is missing"],
    },
    Row {
        attacker: "mirror",
        attack: "crafted entry bundle",
        route: "bt/index, cold",
        run: || mirror_cold(|w| flip(w, "tile/entries/000.p/4")),
        code: exit::UNREACHABLE,
        says: &["tile/entries/000.p/4"],
    },
    Row {
        attacker: "mirror",
        attack: "truncated entry bundle",
        route: "bt/index, cold",
        run: || {
            mirror_cold(|w| {
                let s = &w.logs[0].src;
                let mut d = s.read("tile/entries/000.p/4").unwrap();
                d.truncate(d.len() - 3);
                s.put("tile/entries/000.p/4", d)
            })
        },
        code: exit::UNREACHABLE,
        says: &["tile/entries/000.p/4"],
    },
    Row {
        attacker: "mirror",
        attack: "stale smaller checkpoint, prefix unprovable (item 3)",
        route: "cached proof",
        run: stale_mirror,
        code: 0,
        says: &["proven in 1", "cannot be proven from what it serves"],
    },
    Row {
        attacker: "mirror",
        attack: "crafted tile under a larger honest tree",
        route: "cached proof",
        run: crafted_tile_under_larger_tree,
        code: 0,
        says: &["proven in 1", "do not hash to its signed root at size 10"],
    },
    Row {
        attacker: "mirror",
        attack: "honest tiles under a fork (item 2)",
        route: "bt/index",
        run: fork_under_honest_tiles,
        code: exit::REFUSED,
        says: &["not in this log"],
    },
    Row {
        attacker: "mirror",
        attack: "unreachable, nothing saved",
        route: "bt/index, cold",
        run: || mirror_cold(|w| w.logs[0].src.set_down(true)),
        code: exit::UNREACHABLE,
        says: &["no checkpoint of it is cached"],
    },
    // --- a witness ---
    Row {
        attacker: "witness",
        attack: "one witness's cosignature twice",
        route: "bt/index",
        run: || witnesses(|w, cp| vec![cosig(w, 0, cp, NOW), cosig(w, 0, cp, NOW - 1)]),
        code: exit::REFUSED,
        says: &["witness quorum is not met"],
    },
    Row {
        attacker: "witness",
        attack: "an Ed25519 (0x01) line, not a cosignature",
        route: "bt/index",
        run: || {
            witnesses(|w, cp| {
                vec![
                    cosig(w, 0, cp, NOW),
                    bt_exec::note::sign_ed25519_line(&w.witnesses[1], &cp.encode()),
                ]
            })
        },
        code: exit::REFUSED,
        says: &["witness quorum is not met"],
    },
    Row {
        attacker: "witness",
        attack: "cosignature from the future",
        route: "bt/index",
        run: || witnesses(|w, cp| vec![cosig(w, 0, cp, NOW), cosig(w, 1, cp, NOW + 3600)]),
        code: exit::REFUSED,
        says: &["3600 s in the future"],
    },
    Row {
        attacker: "witness",
        attack: "huge timestamp",
        route: "bt/index",
        run: || witnesses(|w, cp| vec![cosig(w, 0, cp, NOW), cosig(w, 1, cp, 1 << 62)]),
        code: exit::REFUSED,
        says: &["in the future"],
    },
    Row {
        attacker: "witness",
        attack: "timestamp 2^64 - 1",
        route: "bt/index",
        run: || witnesses(|w, cp| vec![cosig(w, 0, cp, NOW), cosig(w, 1, cp, u64::MAX)]),
        code: exit::REFUSED,
        says: &["does not verify"],
    },
    Row {
        attacker: "witness",
        attack: "stale cosignatures",
        route: "bt/index",
        run: || witnesses(|w, cp| vec![cosig(w, 0, cp, NOW - 7200), cosig(w, 1, cp, NOW - 7200)]),
        code: exit::REFUSED,
        says: &["stale"],
    },
    // --- a gossip peer ---
    Row {
        attacker: "gossip peer",
        attack: "garbage",
        route: "gossip",
        run: || gossip(honest().gossip(0, b"\x00\xffnot a note\n\n")),
        code: exit::REFUSED,
        says: &["gossiped checkpoint"],
    },
    Row {
        attacker: "gossip peer",
        attack: "a note signed by another key",
        route: "gossip",
        run: || {
            let w = honest();
            let other = World::with_seed(1, 99);
            gossip(w.gossip(0, &other.note_of(0, &w.logs[0].history, 4, None)))
        },
        code: exit::REFUSED,
        says: &["gossiped checkpoint"],
    },
    // --- positive controls: the honest program, proof and log still run ---
    Row {
        attacker: "none",
        attack: "honest",
        route: "bt/index, cold",
        run: || mirror_cold(|_| {}),
        code: 0,
        says: &["proven in 1 of 1"],
    },
    Row {
        attacker: "none",
        attack: "honest",
        route: "proof file at the size in force",
        run: || {
            let w = honest();
            let p = w.proof_file(0, &w.logs[0].history, 3, 4, Some(NOW - 60));
            verdict(w.verify("1.0", Some(p)))
        },
        code: 0,
        says: &["proven in 1 of 1"],
    },
    Row {
        attacker: "none",
        attack: "honest",
        route: "proof file, smaller than the log",
        run: || {
            let mut w = honest();
            let p = w.proof_file(0, &w.logs[0].history, 3, 4, Some(NOW - 600));
            w.publish(0, "1.1", 5);
            w.serve(0, 10, Some(NOW - 30));
            verdict(w.verify("1.0", Some(p)))
        },
        code: 0,
        says: &["proven in 1 of 1"],
    },
    Row {
        attacker: "none",
        attack: "honest",
        route: "proof file, larger and cosigned",
        run: || {
            let (w, h) = extended();
            let p = w.proof_file(0, &h, 4, 5, Some(NOW - 30));
            let v = verdict(w.verify("2.0", Some(p)));
            let saved = w.store.checkpoint("example.org/log0").unwrap();
            assert!(String::from_utf8_lossy(&saved).contains("\n5\n"));
            v
        },
        code: 0,
        says: &["proven in 1 of 1"],
    },
    Row {
        attacker: "none",
        attack: "honest",
        route: "cached proof, --offline",
        run: || {
            let mut w = honest();
            w.offline = true;
            verdict(w.verify("1.0", None))
        },
        code: 0,
        says: &["proven in 1 of 1"],
    },
    Row {
        attacker: "none",
        attack: "honest rollback (a stale but consistent copy)",
        route: "cached proof",
        run: || rollback(false),
        code: 0,
        says: &["proven in 1 of 1"],
    },
    Row {
        attacker: "none",
        attack: "honest",
        route: "gossip of a newer cosigned checkpoint",
        run: || {
            let mut w = honest();
            w.publish(0, "1.1", 2);
            w.serve_history(0, &w.logs[0].history, 7);
            gossip(w.gossip(0, &w.note_of(0, &w.logs[0].history, 7, Some(NOW - 5))))
        },
        code: 0,
        says: &["saved"],
    },
    Row {
        attacker: "none",
        attack: "honest",
        route: "NAME@VERSION",
        run: || resolve(&honest(), Some("1.0")),
        code: 0,
        says: &["example.org/tool 1.0"],
    },
];

/// Paths under the temporary state directory, as `<state>/…`.
fn redact(msg: &str) -> String {
    let mut s = msg.to_string();
    while let Some(at) = s.find("/state/") {
        let start = s[..at]
            .rfind(|c: char| c.is_whitespace() || c == '(')
            .map_or(0, |i| i + 1);
        s.replace_range(start..at + "/state/".len(), "<state>/");
    }
    s
}

#[test]
fn every_attack_on_every_route() {
    let mut failures = vec![];
    let mut snapshot = String::new();
    for r in ROWS {
        let (code, msg) = (r.run)();
        snapshot.push_str(&format!(
            "## {} / {} / {}\nexit {code}\n{}\n\n",
            r.attacker,
            r.attack,
            r.route,
            redact(&msg).trim_end()
        ));
        let missing: Vec<&&str> = r.says.iter().filter(|s| !msg.contains(**s)).collect();
        let ok = code == r.code && missing.is_empty();
        println!(
            "{} | {:12} | {:50} | {:40} | want {} got {code}",
            if ok { "ok  " } else { "FAIL" },
            r.attacker,
            r.attack,
            r.route,
            r.code
        );
        if !ok {
            failures.push(format!(
                "{} / {} / {}: want {} saying {:?}, got {code}: {msg}",
                r.attacker, r.attack, r.route, r.code, r.says
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
    // Every message, as the user reads it: a changed message is a
    // reviewed change (tests/snapshots/).
    insta::assert_snapshot!(snapshot);
}
