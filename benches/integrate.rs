//! Integrating releases into a log: `bt_exec::log::add` for a batch of
//! small release files under one checkpoint (no witnesses), and the pieces
//! that dominate it. Run: `cargo bench --bench integrate`.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

use bt_exec::log::{self, AddOptions, NewRelease};
use bt_exec::note::SecretKey;

struct Inputs {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    releases: Vec<NewRelease>,
    publisher: SecretKey,
}

fn inputs(n: usize) -> Inputs {
    // Prefer memory-backed storage when there is one, so the figure is the
    // integration's, not the disk's (docs/BENCHMARKS.md gives both).
    let base = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let tmp = tempfile::tempdir_in(base).unwrap();
    let root = tmp.path().to_path_buf();
    std::fs::create_dir_all(root.join("files")).unwrap();
    let releases = (0..n)
        .map(|i| {
            let file = root.join("files").join(i.to_string());
            std::fs::write(&file, format!("#!/bin/sh\necho {i}\n")).unwrap();
            NewRelease {
                file,
                name: format!("example.org/tool{}", i % 100),
                version: format!("1.{i}"),
                platform: "any".into(),
                cas_url: None,
                source: None,
            }
        })
        .collect();
    let key = root.join("log.key");
    log::keygen("example.org/bench", &key).unwrap();
    Inputs {
        _tmp: tmp,
        root,
        releases,
        publisher: SecretKey::generate("example.org").unwrap(),
    }
}

fn bench_add(c: &mut Criterion) {
    let mut g = c.benchmark_group("integrate");
    g.sample_size(10);
    for n in [1_000usize, 100_000] {
        let inp = inputs(n);
        g.bench_function(format!("add {n} releases"), |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir_in(&inp.root).unwrap();
                    let log = dir.path().join("log");
                    log::init(&log, "example.org/bench", &inp.root.join("log.key"), vec![])
                        .unwrap();
                    (dir, log)
                },
                |(dir, log)| {
                    log::add(&log, &inp.releases, &inp.publisher, &AddOptions::default()).unwrap();
                    dir // removed when dropped, outside the measurement
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn bench_sign(c: &mut Criterion) {
    let key = SecretKey::generate("example.org").unwrap();
    let release = bt_exec::entry::Release {
        name: "example.org/tool".into(),
        version: "1.0".into(),
        platform: "any".into(),
        sha256: [1; 32],
        size: 100,
        published: 1_800_000_000,
        cas: vec![],
        source: None,
    };
    c.bench_function("sign one entry", |b| {
        b.iter(|| bt_exec::entry::Entry::sign(release.clone(), &key.key).unwrap())
    });
}

criterion_group!(benches, bench_add, bench_sign);
criterion_main!(benches);
