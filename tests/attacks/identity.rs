//! A log is its origin **and** its key (DESIGN §7): two logs of one origin
//! share nothing, and a log whose key was replaced proves nothing through
//! state cached under the old key.

use bt_exec::note::SecretKey;

use super::scenarios::{honest, verdict, Outcome};
use super::world::{History, State, World, NOW};

/// Gives log `l` the origin of log 0 and another key.
fn share_origin(w: &mut World, l: usize, seed: u8) {
    let origin = w.logs[0].origin.clone();
    w.logs[l].key = SecretKey::from_seed(&origin, [seed; 32]).unwrap();
    w.logs[l].vkey = w.logs[l].key.verifier().encode();
    w.logs[l].origin = origin;
}

/// Two logs of one origin with different keys: release 1.0 at leaf 3 of
/// log 0 (size 4) only; log 1, larger (size 8), holds other releases.
/// Release 1.0 was run once under `logs = 1`, so its proof in log 0 is
/// cached.
fn same_origin() -> World {
    let mut w = World::new(2);
    share_origin(&mut w, 1, 42);
    w.publish(0, "1.0", 3);
    w.serve(0, 4, Some(NOW - 60));
    w.publish(1, "0.9", 7);
    w.serve(1, 8, Some(NOW - 60));
    w.require = "logs = 1\nmax_age = \"1h\"\nrefresh = \"1h\"\n".into();
    let v = w.verify("1.0", None);
    assert_eq!(v.code, 0, "{}", v.reason);
    w
}

/// `logs = 2` over the two logs of one origin: refused on every run (the
/// first cold, the next ones with the warm path allowed), and the message
/// tells the two logs apart by key ID. Keyed by origin alone, the proof
/// cached for log 0 proved the release in log 1 too.
pub fn one_origin_two_keys() -> Outcome {
    let mut w = same_origin();
    w.require = "logs = 2\nmax_age = \"1h\"\nrefresh = \"1h\"\n".into();
    let mut last = (0, String::new());
    for run in 0..3 {
        last = verdict(w.verify("1.0", None));
        assert_ne!(last.0, 0, "run {run} ran: {}", last.1);
    }
    last
}

/// Both logs of one origin hold release 1.0: `logs = 2` is met.
pub fn one_origin_two_keys_honest() -> Outcome {
    let mut w = same_origin();
    w.publish(1, "1.0", 0);
    w.serve(1, 9, Some(NOW - 60));
    w.require = "logs = 2\nmax_age = \"1h\"\nrefresh = \"1h\"\n".into();
    verdict(w.verify("1.0", None))
}

/// The log's key is replaced (after a compromise) under the same origin;
/// the new key signs a new tree that does not hold release 1.0. The proof
/// and checkpoint cached under the old key prove nothing: online the
/// release is not found, offline nothing is known of the new key's log.
pub fn replaced_key(offline: bool) -> Outcome {
    let mut w = honest();
    share_origin(&mut w, 0, 43);
    w.logs[0].history = History::new();
    w.publish(0, "0.9", 5);
    w.serve(0, 6, Some(NOW - 60));
    w.require.push_str("refresh = \"1h\"\n");
    w.offline = offline;
    verdict(w.verify("1.0", None))
}

/// Gossip of one of two same-origin logs is checked against, and saved
/// for, the log whose key signed it; the other's state is untouched.
#[test]
fn gossip_goes_to_the_log_whose_key_signed_it() {
    let w = same_origin();
    let saved0 = w.store.checkpoint(&w.logs[0].id()).unwrap();
    let note = w.note_of(1, &w.logs[1].history, 8, Some(NOW - 10));
    let r = w.gossip(1, &note);
    assert!(
        matches!(
            r,
            Ok(bt_exec::verify::Gossip::Newer { .. } | bt_exec::verify::Gossip::Known)
        ),
        "checked against the other log's key: {r:?}"
    );
    assert_eq!(w.store.checkpoint(&w.logs[0].id()).unwrap(), saved0);
}
