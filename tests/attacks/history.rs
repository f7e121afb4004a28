//! The situations of the release-history rows: the same bytes logged as
//! several releases (another admitted publisher's name), logs that lag or
//! omit, run records across logs, warm verdicts after the state moved,
//! covers by witnesses the policy no longer lists, a witness dating its
//! cosignature ahead, caps hit on served data.

use std::collections::BTreeMap;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use bt_exec::entry::{Entry, Release};
use bt_exec::history::{Cover, Ran, Runs};
use bt_exec::note::SecretKey;
use bt_exec::store::CachedProof;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

use super::scenarios::{cosig, resolve, verdict, Outcome};
use super::world::{program, State, World, NAME, NOW};

/// The other admitted publisher: it may publish `x.example/*` only.
pub const X_NAME: &str = "x.example/relogged";
pub const DAY: u64 = 86_400;

pub fn x_key() -> SigningKey {
    SigningKey::from_bytes(&[8; 32])
}

/// A release entry of `name` `version` for `bytes`, signed by `key`,
/// claiming `published`.
pub fn release(
    key: &SigningKey,
    name: &str,
    version: &str,
    bytes: &[u8],
    published: u64,
) -> Vec<u8> {
    let release = Release {
        name: name.into(),
        version: version.into(),
        platform: "any".into(),
        sha256: Sha256::digest(bytes).into(),
        size: bytes.len() as u64,
        published,
        cas: vec![],
        source: None,
    };
    Entry::sign(release, key).unwrap().encode()
}

/// A world of `logs` logs whose policy also admits X for `x.example/*`,
/// with `require` added.
pub fn world(logs: usize, require: &str) -> World {
    let mut w = World::new(logs);
    w.extra_policy = format!(
        "[[publisher]]\nnames = [\"x.example/*\"]\nkey = \"{}\"\n",
        B64.encode(x_key().verifying_key().as_bytes())
    );
    w.require.push_str(require);
    w
}

/// Appends to log `l`: 1.0 (published two days ago) at leaf 0, 2.0 (a day
/// ago) at leaf 1 when `with_2`, and X's re-log of 1.0's bytes when
/// `relog`; serves it cosigned. Returns X's leaf.
pub fn fill(w: &mut World, l: usize, with_1: bool, with_2: bool, relog: bool) -> Option<u64> {
    let (b1, _) = program("1.0");
    let (b2, _) = program("2.0");
    if with_1 {
        let e = release(&w.publisher, NAME, "1.0", &b1, NOW - 2 * DAY);
        w.logs[l].history.append(e);
    }
    if with_2 {
        let e = release(&w.publisher, NAME, "2.0", &b2, NOW - DAY);
        w.logs[l].history.append(e);
    }
    let x = relog.then(|| {
        let e = release(&x_key(), X_NAME, "1", &b1, NOW);
        w.logs[l].history.append(e)
    });
    let size = w.logs[l].history.leaves.len() as u64;
    w.serve(l, size, Some(NOW - 60));
    x
}

/// What finds X's entry of 1.0's bytes first.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// A proof file of X's entry beside the program.
    ProofFile,
    /// A proof of X's entry cached by an earlier run.
    CachedProof,
    /// The log's own index (no hint planted).
    Index,
    /// A mirror serves `bt/index` with X's entry alone.
    ReorderedIndex,
}

/// X re-logged outdated 1.0's bytes after 2.0, in one log, under
/// `require`; `hint` finds X's entry first.
pub fn relogged(require: &str, hint: Hint) -> Outcome {
    let mut w = world(1, require);
    let x = fill(&mut w, 0, true, true, true).unwrap();
    let proof = plant(&w, hint, x);
    verdict(w.verify("1.0", proof))
}

/// Plants `hint` for X's entry at leaf `x` of log 0; returns the proof
/// file to put beside the program, if the hint is one.
pub fn plant(w: &World, hint: Hint, x: u64) -> Option<Vec<u8>> {
    let h = &w.logs[0].history;
    let size = h.leaves.len() as u64;
    let proof = (hint == Hint::ProofFile).then(|| w.proof_file(0, h, x, size, Some(NOW - 60)));
    match hint {
        Hint::CachedProof => {
            let leaf = &h.leaves[x as usize];
            let p = CachedProof::new(x, leaf, size, h.root(size), &h.inclusion(x, size));
            let sha = Entry::decode(leaf).unwrap().release.sha256;
            w.store.save_proof(&w.logs[0].id(), &sha, &p).unwrap();
        }
        Hint::ReorderedIndex => {
            let (_, sha) = program("1.0");
            let rec = bt_exec::index::encode_record(&sha, x);
            w.logs[0]
                .src
                .put(&format!("bt/index/{:02x}", sha[0]), rec.to_vec());
        }
        Hint::ProofFile | Hint::Index => {}
    }
    proof
}

/// Control: 2.0's bytes, with X's re-log of 1.0 in the log, under `latest`.
pub fn two_beside_a_relog() -> Outcome {
    let mut w = world(1, "latest = true\n");
    fill(&mut w, 0, true, true, true);
    verdict(w.verify("2.0", None))
}

/// 2.0 ran on this machine (recorded as `legacy`: a leaf of log 0, as
/// earlier versions kept it; else by its bytes, whichever log proved it);
/// then 1.0, with X's re-log beside it.
pub fn relogged_after_2_ran(legacy: bool) -> Outcome {
    let mut w = world(1, "no_downgrade = true\n");
    let x = fill(&mut w, 0, true, true, true).unwrap();
    w.store.set_runs(ran_2(&w, legacy));
    let size = w.logs[0].history.leaves.len() as u64;
    let proof = w.proof_file(0, &w.logs[0].history, x, size, Some(NOW - 60));
    verdict(w.verify("1.0", Some(proof)))
}

/// The run record of 2.0 (leaf 1 of log 0).
pub fn ran_2(w: &World, legacy: bool) -> Runs {
    let mut logs = BTreeMap::new();
    let mut ran = vec![];
    if legacy {
        logs.insert(w.logs[0].id().file_key(), (1, "2.0".to_string()));
    } else {
        ran.push(Ran {
            sha256: hex::encode(program("2.0").1),
            version: "2.0".into(),
            published: NOW - DAY,
        });
    }
    Runs {
        name: NAME.into(),
        logs,
        ran,
    }
}

/// Two logs, `logs = 1`: log 0 as `log0` says (1.0, 2.0), log 1 holds 1.0
/// only (it lags); 1.0's bytes are run.
pub fn lagging(require: &str, log0_has_1: bool, log0_has_2: bool) -> Outcome {
    let mut w = world(2, require);
    fill(&mut w, 0, log0_has_1, log0_has_2, false);
    fill(&mut w, 1, true, false, false);
    verdict(w.verify("1.0", None))
}

/// `NAME@latest` with the lagging log (1.0 only) listed first.
pub fn latest_with_lagging_log_first() -> Outcome {
    let mut w = world(2, "");
    fill(&mut w, 0, true, false, false);
    fill(&mut w, 1, true, true, false);
    resolve(&w, None)
}

/// `no_downgrade`: 2.0 ran (proven by log 0); now log 0 is down and log 1,
/// which lags, proves 1.0 (`logs = 1`).
pub fn downgrade_through_a_lagging_log(ran_2_before: bool) -> Outcome {
    let mut w = world(2, "no_downgrade = true\n");
    fill(&mut w, 0, true, true, false);
    fill(&mut w, 1, true, false, false);
    if ran_2_before {
        w.store.set_runs(ran_2(&w, false));
    }
    w.logs[0].src.set_down(true);
    verdict(w.verify("1.0", None))
}

/// Warm path (`refresh`), `latest`: 1.0 verified while it was the latest;
/// then `gossip import` saves a newer cosigned checkpoint that holds 2.0.
pub fn warm_after_gossip(gossip_newer: bool) -> Outcome {
    let mut w = world(1, "latest = true\nrefresh = \"1h\"\n");
    fill(&mut w, 0, true, false, false);
    assert_eq!(w.verify("1.0", None).code, 0);
    let (b2, _) = program("2.0");
    let e = release(&w.publisher, NAME, "2.0", &b2, NOW - 30);
    w.logs[0].history.append(e);
    w.serve_history(0, &w.logs[0].history, 2);
    if gossip_newer {
        let note = w.note_of(0, &w.logs[0].history, 2, Some(NOW - 10));
        assert!(matches!(
            w.gossip(0, &note),
            Ok(bt_exec::verify::Gossip::Newer { .. })
        ));
        w.store.put_checkpoint(&w.logs[0].id(), &note, NOW);
    }
    verdict(w.verify("1.0", None))
}

/// `min_release_age = 1d`: 1.0 covered ten days ago by `old` (a witness
/// key) and by witness 0, and a minute ago by both current witnesses.
pub fn covered_long_ago_by(old: Option<SecretKey>) -> Outcome {
    covered_long_ago(old, "")
}

/// `covered_long_ago_by` with `require` added; verified twice (the second
/// run on the warm path when `require` sets `refresh`), both alike.
fn covered_long_ago(old: Option<SecretKey>, require: &str) -> Outcome {
    let mut w = world(1, &format!("min_release_age = \"1d\"\n{require}"));
    fill(&mut w, 0, true, false, false);
    let key = |k: &SecretKey| *k.verifier().key.as_bytes();
    let older = old.as_ref().map_or(key(&w.witnesses[1]), key);
    let covers = [
        Cover {
            size: 1,
            time: NOW - 10 * DAY,
            witness: key(&w.witnesses[0]),
        },
        Cover {
            size: 1,
            time: NOW - 10 * DAY,
            witness: older,
        },
    ];
    w.store
        .view(&w.logs[0].id())
        .record_coverage(&covers)
        .unwrap();
    let first = w.verify("1.0", None);
    let second = w.verify("1.0", None);
    assert_eq!(
        first.code, second.code,
        "{} / {}",
        first.reason, second.reason
    );
    verdict(second)
}

/// A witness no longer in the policy.
pub fn removed_witness() -> Option<SecretKey> {
    Some(SecretKey::from_seed("w-old.example", [5; 32]).unwrap())
}

/// Three witnesses, a quorum of two; `ahead` of them date their
/// cosignature a year ahead.
pub fn cosigned_ahead(ahead: usize) -> Outcome {
    let mut w = World::new(1);
    w.witnesses
        .push(SecretKey::from_seed("w2.example", [3; 32]).unwrap());
    w.quorum = Some(2);
    w.publish(0, "1.0", 3);
    w.serve(0, 4, None);
    let l = &w.logs[0];
    let cp = bt_exec::tlog::Checkpoint::new(&l.origin, 4, l.history.root(4));
    let lines: Vec<String> = (0..3)
        .map(|i| {
            let t = if i >= 3 - ahead {
                NOW + 365 * DAY
            } else {
                NOW - 60
            };
            cosig(&w, i, &cp, t)
        })
        .collect();
    l.src.put(
        "checkpoint",
        bt_exec::log::sign_checkpoint(&l.key, &cp, &lines),
    );
    let out = verdict(w.verify("1.0", None));
    if let Some(saved) = w.store.checkpoint(&l.id()) {
        // Saved (and so exported by gossip) without the lines from the
        // future: the log's line and the cosignatures counted.
        let text = String::from_utf8_lossy(&saved);
        assert_eq!(text.matches("\n\u{2014} ").count(), 1 + 3 - ahead, "{text}");
    }
    out
}

/// A cold client; the log serves `path` one byte over its cap.
pub fn over_cap(path: fn(&World) -> String, cap: usize) -> Outcome {
    let mut w = World::new(1);
    w.publish(0, "1.0", 3);
    w.serve(0, 4, Some(NOW - 60));
    let p = path(&w);
    w.logs[0].src.put(&p, vec![0u8; cap + 1]);
    verdict(w.verify("1.0", None))
}

/// The log's own index for 1.0's bytes cut to nothing (a mirror dropped
/// its records), under `require` ("" for no history rule).
pub fn index_cut(require: &str) -> Outcome {
    let mut w = world(1, require);
    fill(&mut w, 0, true, false, false);
    let (_, sha) = program("1.0");
    w.logs[0]
        .src
        .put(&format!("bt/index/{:02x}", sha[0]), vec![]);
    verdict(w.verify("1.0", None))
}

/// The index shard for 1.0's bytes cut in the middle of a record.
pub fn index_ragged() -> Outcome {
    let mut w = world(1, "");
    fill(&mut w, 0, true, false, false);
    let (_, sha) = program("1.0");
    let p = format!("bt/index/{:02x}", sha[0]);
    let mut d = w.logs[0].src.read(&p).unwrap();
    d.truncate(d.len() - 3);
    w.logs[0].src.put(&p, d);
    verdict(w.verify("1.0", None))
}

/// X's re-log of 1.0's bytes, its proof file beside the program, with
/// `--offline` after an online run of 2.0 brought the view up to date.
pub fn relogged_offline() -> Outcome {
    let mut w = world(1, "latest = true\n");
    let x = fill(&mut w, 0, true, true, true).unwrap();
    assert_eq!(w.verify("2.0", None).code, 0);
    w.offline = true;
    let size = w.logs[0].history.leaves.len() as u64;
    let proof = w.proof_file(0, &w.logs[0].history, x, size, Some(NOW - 60));
    verdict(w.verify("1.0", Some(proof)))
}

/// `covered_long_ago_by` on the warm path (`refresh`): the refusal stands
/// when decided again with fresh data.
pub fn covered_long_ago_warm(old: Option<SecretKey>) -> Outcome {
    covered_long_ago(old, "refresh = \"1h\"\n")
}

/// Three witnesses, a quorum of two; a gossiped note of a newer checkpoint
/// whose third cosignature is dated a year ahead is saved without that
/// line (so `gossip export` never passes it on).
pub fn gossiped_ahead() -> Outcome {
    let mut w = World::new(1);
    w.witnesses
        .push(SecretKey::from_seed("w2.example", [3; 32]).unwrap());
    w.quorum = Some(2);
    w.publish(0, "1.0", 3);
    w.serve(0, 4, Some(NOW - 60));
    assert_eq!(w.verify("1.0", None).code, 0);
    w.publish(0, "1.1", 1);
    w.serve_history(0, &w.logs[0].history, 6);
    let l = &w.logs[0];
    let cp = bt_exec::tlog::Checkpoint::new(&l.origin, 6, l.history.root(6));
    let lines = vec![
        cosig(&w, 0, &cp, NOW - 5),
        cosig(&w, 1, &cp, NOW - 5),
        cosig(&w, 2, &cp, NOW + 365 * DAY),
    ];
    let note = bt_exec::log::sign_checkpoint(&l.key, &cp, &lines);
    match w.gossip(0, &note) {
        Ok(bt_exec::verify::Gossip::Newer { note, .. }) => {
            let text = String::from_utf8_lossy(&note).into_owned();
            let kept = text.matches("\n\u{2014} ").count();
            (0, format!("saved with {kept} signature lines"))
        }
        other => super::scenarios::gossip(other),
    }
}

/// Two logs, `logs = 1`, `latest`: log 0 (1.0, 2.0) and log 1 (1.0 only)
/// seen once when `seen_before`; then log 0 grows with 3.0 and a mirror
/// keeps its entry bundles from being read, while log 1 proves 1.0.
pub fn bundles_kept_from_the_history(seen_before: bool) -> Outcome {
    let mut w = world(2, "latest = true\n");
    fill(&mut w, 0, true, true, false);
    fill(&mut w, 1, true, false, false);
    if seen_before {
        assert_eq!(w.verify("2.0", None).code, 0);
    }
    let (b3, _) = program("3.0");
    let e = release(&w.publisher, NAME, "3.0", &b3, NOW - 60);
    w.logs[0].history.append(e);
    w.serve(0, 3, Some(NOW - 30));
    for p in w.logs[0].src.paths() {
        if p.starts_with("tile/entries/") {
            w.logs[0].src.remove(&p);
        }
    }
    verdict(w.verify("1.0", None))
}

/// A mirror points `bt/index` for 1.0's bytes at 2.0's leaf, under
/// `require` ("" for no history rule).
pub fn index_pointing_elsewhere(require: &str) -> Outcome {
    let mut w = world(1, require);
    fill(&mut w, 0, true, true, false);
    let (_, sha) = program("1.0");
    let rec = bt_exec::index::encode_record(&sha, 1);
    w.logs[0]
        .src
        .put(&format!("bt/index/{:02x}", sha[0]), rec.to_vec());
    verdict(w.verify("1.0", None))
}

/// 1.0 and 2.0 logged and 2.0 run under `latest` (the release history read
/// at size 2); then the log serves `forked` at its full size, cosigned,
/// and the saved checkpoint is replaced by that note (a state directory
/// restored in part, or a machine that lost its checkpoint).
fn history_then_fork(build: impl FnOnce(&World) -> super::world::History) -> World {
    let mut w = world(1, "latest = true\n");
    fill(&mut w, 0, true, true, false);
    let first = w.verify("2.0", None);
    assert_eq!(first.code, 0, "{}", first.reason);
    let forked = build(&w);
    let size = forked.leaves.len() as u64;
    w.serve_history(0, &forked, size);
    let note = w.note_of(0, &forked, size, Some(NOW - 30));
    w.logs[0].src.put("checkpoint", note.clone());
    w.store.put_checkpoint(&w.logs[0].id(), &note, NOW - 30);
    w
}

/// The log's honest checkpoint of size 1 served and put in force (smaller
/// than the release history): running 1.0 is no split view, no alarm.
fn honest_size_1_in_force_is_no_split_view(w: &World) {
    w.serve(0, 1, Some(NOW - 30));
    let note = w.logs[0].src.read("checkpoint").unwrap();
    w.store.put_checkpoint(&w.logs[0].id(), &note, NOW - 30);
    let v = w.verify("1.0", None);
    assert_ne!(v.code, 123, "{}", v.reason);
    assert!(w.store.alarm(&w.logs[0].id()).is_none(), "{}", v.reason);
}

/// Running `version` is a split view saying `says`, with its evidence kept
/// and the alarm raised.
fn split_with_alarm(w: &World, version: &str, says: &[&str]) {
    let v = w.verify(version, None);
    assert_eq!(v.code, 123, "{}", v.reason);
    for s in says {
        assert!(v.reason.contains(s), "{}", v.reason);
    }
    assert_eq!(w.store.evidence().len(), 1, "the evidence is kept");
    assert!(
        w.store.alarm(&w.logs[0].id()).is_some(),
        "the alarm is raised"
    );
}

/// The saved checkpoint replaced by a fork's while the release history
/// read from the honest log stays: the history's growth proves the split
/// view, which is kept as evidence and raises the alarm like any other —
/// the run after it is refused for the alarm, not decided afresh.
#[test]
fn a_fork_of_the_release_history_is_a_split_view_with_its_alarm() {
    // The fork shares leaf 0 and logs 2.0 again at leaf 1 (another
    // `published`), then grows.
    let (b2, _) = program("2.0");
    let (b3, _) = program("3.0");
    let w = history_then_fork(|w| {
        let mut forked = w.logs[0].history.fork(1);
        forked.append(release(&w.publisher, NAME, "2.0", &b2, NOW - DAY + 1));
        forked.append(release(&w.publisher, NAME, "3.0", &b3, NOW - 60));
        forked
    });
    split_with_alarm(&w, "3.0", &["release history", "is not a prefix"]);
    let again = w.verify("3.0", None);
    assert_eq!(again.code, 123, "{}", again.reason);
    // The control: the same fork reached with no history read before is
    // no split view (there is nothing it contradicts).
    let mut fresh = world(1, "latest = true\n");
    fresh.logs[0].history = w.logs[0].history.fork(1);
    fresh.logs[0]
        .history
        .append(release(&w.publisher, NAME, "2.0", &b2, NOW - DAY + 1));
    fresh.logs[0]
        .history
        .append(release(&w.publisher, NAME, "3.0", &b3, NOW - 60));
    fresh.serve_history(0, &fresh.logs[0].history, 3);
    let note = fresh.note_of(0, &fresh.logs[0].history, 3, Some(NOW - 30));
    fresh.logs[0].src.put("checkpoint", note);
    let ok = fresh.verify("3.0", None);
    assert_eq!(ok.code, 0, "{}", ok.reason);
}

/// As above with a fork of the very size of the history read before:
/// the same size, another root, is a split view without a tile read.
#[test]
fn a_fork_the_size_of_the_release_history_is_a_split_view_with_its_alarm() {
    let (b2, _) = program("2.0");
    let w = history_then_fork(|w| {
        let mut forked = w.logs[0].history.fork(1);
        forked.append(release(&w.publisher, NAME, "2.0", &b2, NOW - DAY + 1));
        forked
    });
    split_with_alarm(&w, "2.0", &["two different trees of size 2"]);
}

/// As above with a fork smaller than the history read before: the
/// history's own first entries are another tree than the checkpoint of
/// that size. The fork's program does not run.
#[test]
fn a_fork_smaller_than_the_release_history_is_a_split_view_with_its_alarm() {
    let (b9, _) = program("9.0");
    let w = history_then_fork(|w| {
        let mut forked = w.logs[0].history.fork(0);
        forked.append(release(&w.publisher, NAME, "9.0", &b9, NOW - 60));
        forked
    });
    split_with_alarm(&w, "9.0", &["another tree"]);

    // The control: the honest checkpoint of size 1 in force instead is a
    // prefix of the history, no split view.
    let mut w = world(1, "latest = true\n");
    fill(&mut w, 0, true, true, false);
    assert_eq!(w.verify("2.0", None).code, 0);
    honest_size_1_in_force_is_no_split_view(&w);
}

/// An honest log whose leaf 0 is served in another valid CBOR framing (an
/// indefinite-length array): the release history keeps it re-encoded, so
/// its entries no longer hash to the tree they were verified in. A smaller
/// honest checkpoint in force is then not judged from them: no split view,
/// no alarm.
#[test]
fn a_history_kept_re_encoded_calls_no_honest_log_forked() {
    let mut w = world(1, "latest = true\n");
    let (b1, _) = program("1.0");
    let (b2, _) = program("2.0");
    let mut leaf0 = release(&w.publisher, NAME, "1.0", &b1, NOW - 2 * DAY);
    assert_eq!(leaf0[0], 0x83, "a CBOR array of three");
    leaf0[0] = 0x9f;
    leaf0.push(0xff);
    w.logs[0].history.append(leaf0);
    let leaf1 = release(&w.publisher, NAME, "2.0", &b2, NOW - DAY);
    w.logs[0].history.append(leaf1);
    w.serve(0, 2, Some(NOW - 60));
    let first = w.verify("2.0", None);
    assert_eq!(first.code, 0, "{}", first.reason);
    honest_size_1_in_force_is_no_split_view(&w);
}
