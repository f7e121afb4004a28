use super::*;

fn leaf(i: u64) -> Vec<u8> {
    format!("leaf {i}").into_bytes()
}

fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
    v.iter().map(Vec::as_slice).collect()
}

/// Records come back at the indexes they were given, across segments.
#[test]
fn records_come_back_at_their_indexes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut q = Queue::start(tmp.path(), 7).unwrap();
    let a: Vec<Vec<u8>> = (7..10).map(leaf).collect();
    q.append(&refs(&a)).unwrap();
    // Force a second segment.
    q.bytes = SEGMENT_BYTES;
    let b: Vec<Vec<u8>> = (10..12).map(leaf).collect();
    q.append(&refs(&b)).unwrap();
    assert_eq!(q.end(), 12);
    let got = recover(tmp.path()).unwrap();
    let want: Vec<(u64, Vec<u8>)> = (7..12).map(|i| (i, leaf(i))).collect();
    assert_eq!(got, want);
    assert_eq!(segments(&queue_dir(tmp.path())).unwrap().len(), 2);
    // Retiring below the second segment's start removes only the first.
    q.retire(10);
    let segs = segments(&queue_dir(tmp.path())).unwrap();
    assert_eq!(segs.iter().map(|s| s.0).collect::<Vec<_>>(), vec![10]);
    // A new start clears the queue.
    drop(q);
    let _q = Queue::start(tmp.path(), 12).unwrap();
    assert_eq!(recover(tmp.path()).unwrap(), vec![]);
}

/// The near-misses: a torn last record is dropped (it was never
/// acknowledged); damage before the newest segment, a gap, a stray file
/// are errors, never a queue that looks shorter.
#[test]
fn damage_is_told_from_a_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let mut q = Queue::start(tmp.path(), 0).unwrap();
    q.append(&refs(&[leaf(0), leaf(1)])).unwrap();
    let seg = queue_dir(tmp.path()).join("0");
    let whole = fs::read(&seg).unwrap();
    // Torn tail: a record cut anywhere, or a wrong hash on the last one.
    for cut in [whole.len() - 1, whole.len() - 20, whole.len() - 36] {
        fs::write(&seg, &whole[..cut]).unwrap();
        assert_eq!(
            recover(tmp.path()).unwrap(),
            vec![(0, leaf(0))],
            "cut {cut}"
        );
    }
    let mut bad = whole.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    fs::write(&seg, &bad).unwrap();
    assert_eq!(recover(tmp.path()).unwrap(), vec![(0, leaf(0))]);
    // The same damage in a segment that is not the newest.
    fs::write(queue_dir(tmp.path()).join("2"), MAGIC).unwrap();
    assert!(matches!(
        recover(tmp.path()),
        Err(QueueError::Damaged { .. })
    ));
    // A gap: segment 5 after a segment ending at 2.
    fs::write(&seg, &whole).unwrap();
    fs::remove_file(queue_dir(tmp.path()).join("2")).unwrap();
    fs::write(queue_dir(tmp.path()).join("5"), MAGIC).unwrap();
    let err = recover(tmp.path()).unwrap_err().to_string();
    assert!(err.contains("starts at index 5"), "{err}");
    fs::remove_file(queue_dir(tmp.path()).join("5")).unwrap();
    // A segment created but not given its magic yet holds nothing.
    fs::write(queue_dir(tmp.path()).join("2"), &MAGIC[..3]).unwrap();
    assert_eq!(recover(tmp.path()).unwrap().len(), 2);
    fs::remove_file(queue_dir(tmp.path()).join("2")).unwrap();
    // A segment that is a link, or not a regular file.
    let elsewhere = tmp.path().join("elsewhere");
    fs::write(&elsewhere, &whole).unwrap();
    fs::rename(&seg, tmp.path().join("kept")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &seg).unwrap();
    let err = recover(tmp.path()).unwrap_err().to_string();
    assert!(err.contains("symbolic link"), "{err}");
    fs::remove_file(&seg).unwrap();
    fs::create_dir(&seg).unwrap();
    assert!(recover(tmp.path())
        .unwrap_err()
        .to_string()
        .contains("not a regular file"));
    fs::remove_dir(&seg).unwrap();
    fs::rename(tmp.path().join("kept"), &seg).unwrap();
    // A file that is not a segment.
    fs::write(queue_dir(tmp.path()).join("notes"), b"x").unwrap();
    assert!(recover(tmp.path()).is_err());
    fs::remove_file(queue_dir(tmp.path()).join("notes")).unwrap();
    // Foreign content in the first segment.
    fs::write(&seg, b"something else entirely").unwrap();
    assert!(recover(tmp.path()).is_err());
}
