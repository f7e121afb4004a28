//! Two bt-exec processes over one saved state, interleaved step by step
//! through the state in memory: a saved checkpoint only moves forward, and
//! a process that verified against an older one decides again.

use bt_exec::exec::saving::{decide_and_save, Saved};

use super::scenarios::honest;
use super::world::{State, World, NOW};

const ORIGIN: &str = "example.org/log0";

fn saved_size(w: &World) -> u64 {
    let note = w.store.checkpoint(&w.logs[0].id()).unwrap();
    let text = String::from_utf8(note).unwrap();
    text.lines().nth(1).unwrap().parse().unwrap()
}

/// The log grows to `size` (release `version` last) and serves it cosigned.
fn grow(w: &mut World, version: &str, size: u64) {
    let have = w.logs[0].history.leaves.len() as u64;
    w.publish(0, version, (size - have - 1) as usize);
    w.serve(0, size, Some(NOW - 30));
}

#[test]
fn a_save_after_another_process_saved_a_larger_checkpoint_conflicts_and_decides_again() {
    let mut w = honest();
    grow(&mut w, "1.1", 10);
    // A reads the saved size 4 and verifies against size 10 …
    let a = w.decide("1.0", None);
    assert_eq!(a.code, 0, "{}", a.reason);
    // … while B, later, verifies against size 12 and saves it.
    grow(&mut w, "1.2", 12);
    let b = w.decide("1.0", None);
    assert_eq!(w.save(&b), Saved::Done(vec![]));
    assert_eq!(saved_size(&w), 12);
    // A's save of size 10 conflicts: nothing is written.
    assert_eq!(w.save(&a), Saved::Conflict(vec![ORIGIN.to_string()]));
    assert_eq!(saved_size(&w), 12, "the saved checkpoint moved backwards");
    // A decides again, from size 12, against a mirror still at size 10.
    w.serve(0, 10, Some(NOW - 30));
    let again = w.verify("1.0", None);
    assert_eq!(again.code, 0, "{}", again.reason);
    assert_eq!(saved_size(&w), 12, "the saved checkpoint moved backwards");
}

#[test]
fn two_roots_of_one_size_one_is_saved_and_the_other_is_a_split_view() {
    let mut w = honest();
    // Shares the saved size 4, differs after it.
    let mut forked = w.logs[0].history.fork(4);
    while forked.leaves.len() < 10 {
        let n = forked.leaves.len();
        forked.append(w.entry(&format!("9.{n}"), format!("forked {n}").as_bytes()));
    }
    grow(&mut w, "1.1", 10);
    // A verifies against the honest size 10, B against a fork of size 10
    // (a targeted view, cosigned), both from the saved size 4.
    let a = w.decide("1.0", None);
    assert_eq!(a.code, 0, "{}", a.reason);
    let honest_note = w.logs[0].src.read("checkpoint").unwrap();
    w.serve_history(0, &forked, 10);
    w.logs[0]
        .src
        .put("checkpoint", w.note_of(0, &forked, 10, Some(NOW - 30)));
    let b = w.decide("1.0", None);
    assert_eq!(b.code, 0, "{}", b.reason);
    // A saves first; B's save conflicts, and B decides again: split view.
    assert_eq!(w.save(&a), Saved::Done(vec![]));
    assert_eq!(w.save(&b), Saved::Conflict(vec![ORIGIN.to_string()]));
    let again = w.verify("1.0", None);
    assert_eq!(again.code, 123, "{}", again.reason);
    assert!(
        again.reason.contains("two different trees of size 10"),
        "{}",
        again.reason
    );
    assert_eq!(w.store.evidence().len(), 1, "the evidence is kept");
    assert!(
        w.store.alarm(&w.logs[0].id()).is_some(),
        "the alarm is raised"
    );
    assert_eq!(w.store.checkpoint(&w.logs[0].id()).unwrap(), honest_note);
}

#[test]
fn a_state_that_moves_under_every_attempt_is_124_never_a_save() {
    let mut w = honest();
    grow(&mut w, "1.1", 10);
    let mut attempt = 0u64;
    let r = decide_and_save(
        &w.store,
        NOW,
        || {
            let v = w.decide("1.0", None);
            // Another process saves the same tree, cosigned earlier (so
            // each decision wants to replace it), after every decision.
            attempt += 1;
            let theirs = w.note_of(0, &w.logs[0].history, 10, Some(NOW - 1000 + attempt));
            w.store.put_checkpoint(&w.logs[0].id(), &theirs, NOW);
            Ok(v)
        },
        |v| (&v.logs, v.file.sha256),
    );
    let err = r.err().expect("a save under a moving state");
    assert_eq!(err.code, 124, "{}", err.message);
    assert!(err.message.contains(ORIGIN), "{}", err.message);
    assert_eq!(attempt, bt_exec::exec::saving::ATTEMPTS as u64);
}

#[test]
fn a_checkpoint_that_cannot_be_saved_is_said() {
    let mut w = honest();
    grow(&mut w, "1.1", 10);
    w.store.fail_writes();
    let (v, unsaved) = decide_and_save(
        &w.store,
        NOW,
        || Ok(w.decide("1.0", None)),
        |v| (&v.logs, v.file.sha256),
    )
    .unwrap_or_else(|f| panic!("{}", f.message));
    assert_eq!(v.code, 0, "{}", v.reason);
    assert!(
        unsaved
            .iter()
            .any(|u| u.contains("cannot save the checkpoint")),
        "{unsaved:?}"
    );
}

/// `bt-exec refresh` against a log (or a mirror) that serves an older
/// checkpoint than the saved one: not refreshed (124), the saved one kept
/// and not counted as fetched again, so the next run starts another
/// refresher once the backoff has passed. Control: the log grown and
/// cosigned is refreshed (0) and saved.
#[test]
fn a_refresh_served_a_stale_checkpoint_is_124_and_keeps_the_saved_one() {
    use bt_exec::exec::{background, refresh};
    let mut w = honest();
    grow(&mut w, "1.1", 10);
    assert_eq!(w.verify("1.0", None).code, 0);
    let id = w.logs[0].id();
    let fetched = w.store.checkpoint_saved_at(&id);
    w.now = NOW + 1200;
    w.serve(0, 4, Some(NOW - 60));
    let policy = w.policy();
    let srcs = w.sources();
    // Not refreshed (124): the saved checkpoint kept, not counted as
    // fetched again, so a refresh is still due.
    let not_refreshed = |w: &World| {
        let out = refresh::refresh(&w.ctx(&policy, &srcs));
        assert_eq!(out.code, 124, "{:?}", out.lines);
        let said = out.lines.concat();
        assert!(said.contains("not refreshed"), "{said}");
        assert_eq!(saved_size(w), 10, "the saved checkpoint moved backwards");
        assert_eq!(
            w.store.checkpoint_saved_at(&id),
            fetched,
            "counted as fetched"
        );
        assert!(background::due(&[fetched], w.now, 600));
    };
    not_refreshed(&w);
    // The same older checkpoint with no tile to link it to the saved one.
    let src = w.logs[0].src.clone();
    let tiles: Vec<(String, Vec<u8>)> = (src.paths().into_iter())
        .filter(|p| p.starts_with("tile/"))
        .filter_map(|p| Some((p.clone(), src.remove(&p)?)))
        .collect();
    not_refreshed(&w);
    for (p, b) in tiles {
        src.put(&p, b);
    }
    grow(&mut w, "1.2", 12);
    let out = refresh::refresh(&w.ctx(&policy, &srcs));
    assert_eq!(out.code, 0, "{:?}", out.lines);
    assert_eq!(saved_size(&w), 12);
    let fetched = w.store.checkpoint_saved_at(&id);
    assert!(!background::due(&[fetched], w.now, 600), "{fetched:?}");
}

/// The clock injected: 20 minutes after the fetch (past `refresh`) the
/// saved state answers with the log down and nothing asked of it, and a
/// refresh is due; past `max_age` the run asks the log (124 while it is
/// down), and runs once it is back.
#[test]
fn past_refresh_the_state_answers_and_past_max_age_the_run_waits_for_the_log() {
    use bt_exec::exec::background;
    let mut w = honest();
    w.require.push_str("refresh = \"10m\"\n");
    let id = w.logs[0].id();
    let src = w.logs[0].src.clone();
    src.set_down(true);
    let asked = src.asked().len();
    w.now = NOW + 1200;
    let v = w.verify("1.0", None);
    assert_eq!(v.code, 0, "{}", v.reason);
    assert!(
        v.logs[0].warm_until.is_some(),
        "from the state: {}",
        v.reason
    );
    assert_eq!(
        src.asked().len(),
        asked,
        "the log was asked: {:?}",
        src.asked()
    );
    let fetched = w.store.checkpoint_saved_at(&id);
    assert!(background::due(&[fetched], w.now, 600), "{fetched:?}");
    // Cosigned at NOW - 60 with max_age 1h: stale from NOW + 3540.
    w.now = NOW + 3600;
    let v = w.verify("1.0", None);
    assert_eq!(v.code, 124, "{}", v.reason);
    assert!(src.asked().len() > asked, "the run did not ask the log");
    src.set_down(false);
    w.serve(0, 4, Some(NOW + 3590));
    let v = w.verify("1.0", None);
    assert_eq!(v.code, 0, "{}", v.reason);
    assert!(v.logs[0].warm_until.is_none(), "fetched: {}", v.reason);
}
