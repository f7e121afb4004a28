//! Runs killed while a program is copied into the cache leave temporary
//! files in `cas/tmp/`; the next run that takes the state lock removes
//! them — only those no live process holds — and `status` never counts them
//! as cache.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::world::{World, BT_EXEC};

/// Files in the cache's temp directory.
fn temp_files(w: &World) -> Vec<String> {
    fs::read_dir(w.root.join("cache/cas/tmp"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The bytes `status` reports for the CAS.
fn status_bytes(w: &World) -> u64 {
    let out = w.run(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text.lines().find(|l| l.starts_with("cache: ")).unwrap();
    let n = line.rsplit('(').next().unwrap().split(' ').next().unwrap();
    n.parse().unwrap_or_else(|_| panic!("{line}"))
}

/// Bytes of the files under `dir`, recursively.
fn bytes_under(dir: &Path) -> u64 {
    fs::read_dir(dir).map_or(0, |rd| {
        rd.flatten()
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => bytes_under(&e.path()),
                _ => e.metadata().map_or(0, |m| m.len()),
            })
            .sum()
    })
}

/// kill -9 at moments spread over the copy of a 40 MB program (a new file
/// each time, so the hash cache never spares the copy), until a few kills
/// have left files behind; then an ordinary run removes them all.
#[test]
fn kill_9_during_ingestion_leaves_no_temp_files_after_the_next_run() {
    let w = World::ready(1);
    let big = w.root.join("bin/big");
    let mut data = vec![b'#'; 40 << 20];
    let (mut left_behind, mut kills) = (0, 0);
    for attempt in 0..60u32 {
        if left_behind >= 3 {
            break;
        }
        data[1..5].copy_from_slice(&attempt.to_le_bytes());
        fs::write(&big, &data).unwrap();
        fs::set_permissions(&big, fs::Permissions::from_mode(0o755)).unwrap();
        let before = temp_files(&w).len();
        let mut child = w
            .env(Command::new(BT_EXEC).arg(&big))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(u64::from(attempt % 12) * 8));
        if child.try_wait().unwrap().is_none() {
            kills += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        left_behind += temp_files(&w).len().saturating_sub(before);
    }
    eprintln!("{kills} kills, {left_behind} temporary files left behind");
    assert!(left_behind > 0, "no kill landed during the copy");
    // `status` does not count them as cache.
    assert_eq!(
        status_bytes(&w),
        bytes_under(&w.root.join("cache/cas/sha256"))
    );
    // The next run takes the state lock and removes them.
    w.runs();
    assert_eq!(temp_files(&w), Vec::<String>::new());
}

/// A file being written right now — its writer holds the lock on it — is
/// not touched by a sweep; one nobody holds is removed.
#[test]
fn a_sweep_leaves_a_file_being_written() {
    let w = World::ready(1);
    let tmp = w.root.join("cache/cas/tmp");
    let writing = bt_exec::tempfiles::Temp::new_in(&tmp).unwrap();
    fs::write(tmp.join(".part-killed"), vec![0u8; 1 << 20]).unwrap();
    assert_eq!(temp_files(&w).len(), 2);
    w.runs();
    assert_eq!(temp_files(&w).len(), 1, "{:?}", temp_files(&w));
    drop(writing);
    assert_eq!(temp_files(&w), Vec::<String>::new());
}
