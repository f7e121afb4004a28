//! Tests of the log's parts that need a whole log written first (through
//! `init` and `append`), so that they sit above every file of the log.

use super::seen::Seen;
use crate::entry::{Entry, Release};
use crate::tlog::leaf_hash;
use crate::tlog::tiles::hash_tile_path;

fn entry(i: u64) -> Entry {
    let release = Release {
        name: "example.org/tool".into(),
        version: format!("1.{i}"),
        platform: "any".into(),
        sha256: [7; 32],
        size: i,
        published: 1_700_000_000,
        cas: vec![],
        source: None,
    };
    Entry::sign(release, &ed25519_dalek::SigningKey::from_bytes(&[4; 32])).unwrap()
}

/// A log of 300 leaves (a full tile and a partial one), one of them
/// appended twice: every leaf found at its first index, the size right.
#[test]
fn every_leaf_at_its_first_index() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("log.key");
    crate::log::keygen("example.org/seen", &key).unwrap();
    let log = tmp.path().join("log");
    crate::log::init(&log, "example.org/seen", &key, vec![]).unwrap();
    let mut entries: Vec<Entry> = (0..299).map(entry).collect();
    entries.push(entry(5));
    crate::log::append(&log, entries[..100].to_vec()).unwrap();
    crate::log::append(&log, entries[100..].to_vec()).unwrap();
    let seen = Seen::load(&log, 300).unwrap();
    assert_eq!(seen.size(), 300);
    for (i, e) in entries.iter().enumerate().take(299) {
        assert_eq!(
            seen.get(&leaf_hash(&e.encode())),
            Some(i as u64),
            "leaf {i}"
        );
    }
    assert_eq!(seen.get(&leaf_hash(&entry(5).encode())), Some(5));
    assert_eq!(seen.get(&leaf_hash(b"never logged")), None);
    // A tree smaller than the log reads only its own leaves.
    let small = Seen::load(&log, 10).unwrap();
    assert_eq!(small.get(&leaf_hash(&entries[20].encode())), None);
    // A tile cut short is an error, never a log that looks smaller.
    let tile = log.join(hash_tile_path(0, 1, 44));
    std::fs::write(&tile, [0u8; 40]).unwrap();
    assert!(Seen::load(&log, 300).is_err());
}
