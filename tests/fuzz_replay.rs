//! The fuzz targets (src/fuzz_targets/mod.rs, run by cargo-fuzz from `fuzz/`)
//! on the stable toolchain: every target has its file in
//! `fuzz/fuzz_targets/` and every parser of outside data has a target;
//! every committed seed (`fuzz/seeds/<target>/`) and every input a fuzzer
//! ever found (`fuzz/found/<target>/`) is replayed, so CI re-checks them
//! for ever; and every file of the shared test vectors goes through every
//! target (none may panic).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use bt_exec::fuzz_targets::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The parsers of outside data the project names (issue: "fuzz every
/// parser"), each with the target that covers it.
const REQUIRED: &[(&str, &str)] = &[
    ("signed note", "note"),
    ("checkpoint with cosignatures", "checkpoint"),
    ("vkeys", "vkey"),
    ("tlog-proof", "tlog_proof"),
    ("release entry and statement (CBOR)", "entry"),
    ("index shards", "index_shard"),
    ("entry bundles and hash tiles against a checkpoint", "tiles"),
    ("policy TOML", "policy"),
    ("tlog-policy text", "tlog_policy"),
    ("gossip files", "gossip"),
    ("witness add-checkpoint request body", "witness_request"),
    (
        "witness responses (cosignature lines, 409 size)",
        "witness_response",
    ),
    ("Sigsum proof adapter", "sigsum_proof"),
    ("Sigstore bundles and trusted roots", "sigstore_bundle"),
    (
        "Rekor v2 log entries (bt-log monitor --rekor)",
        "rekor_entry",
    ),
    (
        "the guard's socket requests, allow-list and dpkg md5sums",
        "guard_input",
    ),
    ("admission file", "admission"),
    ("submitted entry (POST /bt/add-entry)", "submission"),
    ("submission queue segment", "queue_segment"),
    ("witness network log lists", "log_list"),
    (
        "a log's answer to a publish (200 proof, 202 index)",
        "publish_response",
    ),
    (
        "the verification decision over tiles, bundles and checkpoints",
        "decision",
    ),
];

#[test]
fn every_parser_has_a_target_and_every_target_its_file() {
    for (parser, target) in REQUIRED {
        assert!(
            TARGETS.iter().any(|t| t.name == *target),
            "no fuzz target for the {parser} ({target})"
        );
    }
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for t in TARGETS {
        let file = fuzz_dir().join(format!("fuzz_targets/{}.rs", t.name));
        let text =
            fs::read_to_string(&file).unwrap_or_else(|_| panic!("{} is missing", file.display()));
        assert!(
            text.contains(&format!("run(\"{}\"", t.name)),
            "{}",
            file.display()
        );
        assert!(
            manifest.contains(&format!("name = \"{}\"", t.name)),
            "{} not in fuzz/Cargo.toml",
            t.name
        );
    }
    for f in fs::read_dir(fuzz_dir().join("fuzz_targets")).unwrap() {
        let name = f
            .unwrap()
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        assert!(
            TARGETS.iter().any(|t| t.name == name),
            "fuzz/fuzz_targets/{name}.rs has no target"
        );
    }
}

/// Files directly in `dir`, or none when it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(dir) else {
        return vec![];
    };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn committed_seeds_and_findings_replay() {
    let mut n = 0;
    for t in TARGETS {
        for kind in ["seeds", "found"] {
            for f in inputs(&fuzz_dir().join(kind).join(t.name)) {
                (t.run)(&fs::read(&f).unwrap());
                n += 1;
            }
        }
    }
    eprintln!("{n} committed inputs replayed");
}

/// `fuzz/seeds/<target>/<name>` holds each seed signed by the targets'
/// keys; with `BT_WRITE_SEEDS=1` this writes them.
#[test]
fn the_keyed_seeds_are_committed() {
    let write = std::env::var_os("BT_WRITE_SEEDS").is_some();
    for (target, name, bytes) in bt_exec::fuzz_targets::keyed_seeds() {
        let path = fuzz_dir().join("seeds").join(target).join(name);
        if write {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, &bytes).unwrap();
        }
        let committed = fs::read(&path).unwrap_or_default();
        assert!(
            committed == bytes,
            "{} (BT_WRITE_SEEDS=1 rewrites it)",
            path.display()
        );
    }
}

/// The exit codes the decision target's committed seeds reach: a run,
/// each refusal and a split view, so the replay exercises the reference
/// that checks every run (not only refusals).
#[test]
fn decision_seeds_reach_every_outcome() {
    let mut seen = std::collections::BTreeSet::new();
    for f in inputs(&fuzz_dir().join("seeds/decision")) {
        seen.extend(bt_exec::fuzz_targets::decision_codes(
            &fs::read(&f).unwrap(),
        ));
    }
    for code in [0, 123, 124, 126] {
        assert!(
            seen.contains(&code),
            "no decision seed reaches exit {code}: {seen:?}"
        );
    }
}

/// What a decision corpus reaches: `DECISION_CORPUS=fuzz/corpus/decision
/// cargo test --test fuzz_replay -- --ignored --nocapture decision_corpus`
/// prints how many inputs end in each exit code and the smallest of each,
/// then the decisions of each policy the inputs' first byte picks.
#[test]
#[ignore = "a tool for fuzzing sessions: reads DECISION_CORPUS"]
fn decision_corpus() {
    let dir = PathBuf::from(std::env::var("DECISION_CORPUS").expect("DECISION_CORPUS"));
    let mut by_code: std::collections::BTreeMap<u8, (usize, Option<(u64, PathBuf)>)> =
        Default::default();
    let mut by_policy: std::collections::BTreeMap<String, std::collections::BTreeMap<u8, usize>> =
        Default::default();
    for f in inputs(&dir) {
        let len = f.metadata().unwrap().len();
        let data = fs::read(&f).unwrap();
        // The policy byte as the target reads it (world::Setup::from_byte).
        let b = data.first().copied().unwrap_or(0);
        let (listed, need) = match (b & 1 != 0, b & 2 != 0) {
            (false, _) => (1, 1),
            (true, false) => (2, 1),
            (true, true) => (2, 2),
        };
        let policy = format!(
            "{listed} log(s) listed, logs = {need}, latest = {}",
            b & 4 != 0
        );
        for code in bt_exec::fuzz_targets::decision_codes(&data) {
            *by_policy
                .entry(policy.clone())
                .or_default()
                .entry(code)
                .or_default() += 1;
            let e = by_code.entry(code).or_default();
            e.0 += 1;
            if e.1.as_ref().is_none_or(|(l, _)| len < *l) {
                e.1 = Some((len, f.clone()));
            }
        }
    }
    for (code, (n, smallest)) in by_code {
        let (len, path) = smallest.unwrap();
        println!(
            "exit {code}: {n} decisions; smallest input {len} bytes: {}",
            path.display()
        );
    }
    for (policy, codes) in by_policy {
        let codes: Vec<String> = codes
            .iter()
            .map(|(c, n)| format!("{n} × exit {c}"))
            .collect();
        println!("{policy}: {}", codes.join(", "));
    }
}

#[test]
fn every_vector_through_every_target() {
    let Some(dir) = common::vectors("every_vector_through_every_target") else {
        return;
    };
    let mut files = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.metadata().is_ok_and(|m| m.len() <= 1 << 20) {
                files.push(p);
            }
        }
    }
    assert!(files.len() > 100, "{} vector files", files.len());
    for f in &files {
        let data = fs::read(f).unwrap();
        for t in TARGETS {
            (t.run)(&data);
        }
    }
}
