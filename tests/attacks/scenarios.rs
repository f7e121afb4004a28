//! The situations the attack table runs: an honest log seen once, the
//! log key's extensions and forks, mirrors that alter what they serve,
//! witnesses' odd lines; each returns the exit code and the message.

use bt_exec::verify::{self, LogOutcome};

use super::world::{program, History, State, World, NAME, NOW};

/// The outcome of one row: exit code and the text the user would see.
pub type Outcome = (u8, String);

pub fn verdict(v: verify::Verdict) -> Outcome {
    let warnings: String = v
        .logs
        .iter()
        .flat_map(|r| r.warnings.iter().map(|w| format!("\nwarning: {w}")))
        .collect();
    (v.code, format!("{}{warnings}", v.reason))
}

pub fn gossip(r: Result<verify::Gossip, LogOutcome>) -> Outcome {
    match r {
        Ok(verify::Gossip::Newer { .. }) => (0, "saved".into()),
        Ok(verify::Gossip::Known) => (0, "known".into()),
        Ok(verify::Gossip::NotSaved(why)) => (0, format!("not saved: {why}")),
        Err(o) => (o.exit_code(), o.message()),
    }
}

/// Release 1.0 at leaf 3 of log 0 (size 4), cosigned a minute ago, seen
/// once (its checkpoint and proof saved).
pub fn honest() -> World {
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
pub fn extended() -> (World, History) {
    let mut w = honest();
    w.publish(0, "2.0", 0);
    let h = std::mem::replace(&mut w.logs[0].history, History::new());
    w.serve_history(0, &h, 5);
    let cosigned4 = w.note_of(0, &h, 4, Some(NOW - 60));
    w.logs[0].src.put("checkpoint", cosigned4);
    (w, h)
}

pub fn extension_in_a_proof_file(offline: bool, refresh: bool) -> Outcome {
    let (mut w, h) = extended();
    w.offline = offline;
    if refresh {
        w.require.push_str("refresh = \"1h\"\n");
    }
    let proof = w.proof_file(0, &h, 4, 5, None);
    verdict(w.verify("2.0", Some(proof)))
}

/// A fork of the first two leaves, grown to `size` with release 2.0.
pub fn fork(w: &World, size: u64) -> History {
    let mut f = w.logs[0].history.fork(2);
    while (f.leaves.len() as u64) < size - 1 {
        let n = f.leaves.len();
        f.append(w.entry(&format!("9.{n}"), format!("forked {n}").as_bytes()));
    }
    f.append(w.entry("2.0", &program("2.0").0));
    f
}

/// `honest`, then the log serves a fork of `size` (its tiles and its
/// checkpoint, signed by the log key alone).
pub fn serving_a_fork(size: u64) -> World {
    let w = honest();
    let f = fork(&w, size);
    w.serve_history(0, &f, size);
    w.logs[0]
        .src
        .put("checkpoint", w.note_of(0, &f, size, None));
    w
}

pub fn forked_checkpoint_served(size: u64) -> Outcome {
    verdict(serving_a_fork(size).verify("2.0", None))
}

pub fn forked_proof_file(size: u64) -> Outcome {
    forked_proof_with(size, |_| {})
}

/// `forked_proof_file` with the world set up by `setup` first (offline:
/// the fork's tiles are not served, nothing is fetched).
pub fn forked_proof_with(size: u64, setup: fn(&mut World)) -> Outcome {
    let mut w = honest();
    setup(&mut w);
    let f = fork(&w, size);
    if size > 4 && !w.offline {
        w.serve_history(0, &f, size);
        w.logs[0].src.put(
            "checkpoint",
            w.note_of(0, &w.logs[0].history, 4, Some(NOW - 60)),
        );
    }
    let proof = w.proof_file(0, &f, size - 1, size, None);
    verdict(w.verify("2.0", Some(proof)))
}

pub fn forked_gossip(size: u64) -> Outcome {
    let w = honest();
    let f = fork(&w, size);
    w.serve_history(0, &f, size);
    gossip(w.gossip(0, &w.note_of(0, &f, size, None)))
}

pub fn forked_release_lookup(size: u64) -> Outcome {
    resolve(&serving_a_fork(size), Some("2.0"))
}

pub fn resolve(w: &World, version: Option<&str>) -> Outcome {
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
pub fn rollback(forked: bool) -> Outcome {
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
pub fn mirror_cold(change: fn(&World)) -> Outcome {
    let mut w = World::new(1);
    w.publish(0, "1.0", 3);
    w.serve(0, 4, Some(NOW - 60));
    change(&w);
    verdict(w.verify("1.0", None))
}

/// Flips a byte near the end of what `path` serves (in the last entry
/// of a bundle: the program's own).
pub fn flip(w: &World, path: &str) {
    let mut d = w.logs[0].src.read(path).unwrap();
    let at = d.len() - 9;
    d[at] ^= 1;
    w.logs[0].src.put(path, d);
}

/// Saved size 4; a stale mirror serves size 2 and only the tiles of size
/// 2, so whether it is a prefix cannot be proven: the cache decides.
pub fn stale_mirror() -> Outcome {
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
pub fn crafted_tile_under_larger_tree() -> Outcome {
    let mut w = honest();
    w.publish(0, "1.1", 5);
    w.serve(0, 10, Some(NOW - 30));
    flip(&w, "tile/0/000.p/10");
    let out = verdict(w.verify("1.0", None));
    assert!(
        w.store.alarm(&w.logs[0].id()).is_none(),
        "an alarm from a mirror"
    );
    out
}

/// A fork of size 10 signed by the log key, served with the honest
/// tiles of size 10: they do not hash to its root, nothing is proven.
pub fn fork_under_honest_tiles() -> Outcome {
    let mut w = honest();
    let f = fork(&w, 10);
    w.publish(0, "1.1", 5);
    w.serve_history(0, &w.logs[0].history, 10);
    w.logs[0].src.put("checkpoint", w.note_of(0, &f, 10, None));
    verdict(w.verify("2.0", None))
}

/// A cold client; log 0 at size 4 cosigned as `cosign` says.
pub fn witnesses(cosign: fn(&World, &bt_exec::tlog::Checkpoint) -> Vec<String>) -> Outcome {
    let mut w = World::new(1);
    w.publish(0, "1.0", 3);
    w.serve(0, 4, None);
    let l = &w.logs[0];
    let cp = bt_exec::tlog::Checkpoint::new(&l.origin, 4, l.history.root(4));
    let note = bt_exec::log::sign_checkpoint(&l.key, &cp, &cosign(&w, &cp));
    l.src.put("checkpoint", note);
    verdict(w.verify("1.0", None))
}

pub fn cosig(w: &World, i: usize, cp: &bt_exec::tlog::Checkpoint, t: u64) -> String {
    bt_exec::note::sign_cosignature_line(&w.witnesses[i], t, &cp.encode())
}

/// Warm path (`refresh = 10m`): 20 minutes on, the state still answers
/// (no request), and the refresh that run starts finds the log serving
/// exactly the saved checkpoint (it neither grew nor was cosigned again).
/// Fetched again, it counts as fetched now: no refresh is due after it.
pub fn unchanged_log_fetched_again() -> Outcome {
    let mut w = honest();
    w.require.push_str("refresh = \"10m\"\n");
    w.now = NOW + 1200;
    let due = |w: &World| {
        let at = w.store.checkpoint_saved_at(&w.logs[0].id());
        bt_exec::exec::background::due(&[at], w.now, 600)
    };
    assert!(due(&w), "saved 20 minutes ago, a refresh is due");
    let warm = w.verify("1.0", None);
    assert!(
        warm.logs[0].warm_until.is_some(),
        "the state answers: {}",
        warm.reason
    );
    let policy = w.policy();
    let srcs = w.sources();
    let out = bt_exec::exec::refresh::refresh(&w.ctx(&policy, &srcs));
    assert_eq!(out.code, 0, "{:?}", out.lines);
    assert!(!due(&w), "fetched again, it counts as fetched now");
    verdict(warm)
}
