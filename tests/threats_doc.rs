//! docs/THREATS.md cannot rot: every test it cites exists. The convention
//! (stated at the top of THREATS.md), inside backticks from its first
//! attacker section on:
//! - `tests/FILE.rs::fn_name` or `src/PATH.rs::fn_name`: the file defines
//!   `fn fn_name(`;
//! - `row: ATTACKER / ATTACK / ROUTE`: a row of the attack table
//!   (tests/attacks.rs, tests/attacks/*.rs), its three strings verbatim;
//! - `scenario: NAME`: a scenario of src/fuzz_targets/decision/tests.rs;
//! - `fuzz: TARGET`: fuzz/fuzz_targets/TARGET.rs exists.

use std::fs;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The next string literal after `key` in `text` from `at`, and where it ends.
fn literal_after(text: &str, at: usize, key: &str) -> Option<(String, usize)> {
    let k = at + text[at..].find(key)? + key.len();
    let open = k + text[k..].find('"')? + 1;
    let close = open + text[open..].find('"')?;
    Some((text[open..close].to_string(), close + 1))
}

/// Every row of the attack table, as "attacker / attack / route".
fn attack_rows() -> Vec<String> {
    let mut files = vec![root().join("tests/attacks.rs")];
    for e in fs::read_dir(root().join("tests/attacks")).unwrap() {
        files.push(e.unwrap().path());
    }
    let mut rows = vec![];
    for f in files {
        let text = fs::read_to_string(&f).unwrap();
        let mut at = 0;
        while let Some(i) = text[at..].find("attacker: \"") {
            let start = at + i;
            let (attacker, end) = literal_after(&text, start, "attacker:").unwrap();
            let (attack, end) = literal_after(&text, end, "attack:").unwrap();
            let (route, end) = literal_after(&text, end, "route:").unwrap();
            rows.push(format!("{attacker} / {attack} / {route}"));
            at = end;
        }
    }
    rows
}

/// The backticked spans of the table sections of THREATS.md.
fn references() -> Vec<String> {
    let doc = fs::read_to_string(root().join("docs/THREATS.md")).unwrap();
    let start = doc.find("\n## 1. ").expect("the first attacker section");
    doc[start..]
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn every_test_the_threats_table_cites_exists() {
    let rows = attack_rows();
    assert!(rows.len() > 50, "the attack table's rows were not found");
    let scenarios = fs::read_to_string(root().join("src/fuzz_targets/decision/tests.rs")).unwrap();
    let mut missing = vec![];
    let (mut fns, mut cited_rows) = (0, 0);
    for r in references() {
        if let Some(row) = r.strip_prefix("row: ") {
            cited_rows += 1;
            if !rows.iter().any(|x| x == row) {
                missing.push(format!("no attack row {row:?}"));
            }
        } else if let Some(name) = r.strip_prefix("scenario: ") {
            if !scenarios.contains(&format!("\"{name}\",")) {
                missing.push(format!("no decision scenario {name:?}"));
            }
        } else if let Some(target) = r.strip_prefix("fuzz: ") {
            if !root()
                .join(format!("fuzz/fuzz_targets/{target}.rs"))
                .is_file()
            {
                missing.push(format!("no fuzz target {target:?}"));
            }
        } else if let Some((file, name)) = r.split_once("::") {
            if !(file.starts_with("tests/") || file.starts_with("src/")) || !file.ends_with(".rs") {
                missing.push(format!("{r:?}: a test is cited as tests/… or src/….rs::fn"));
                continue;
            }
            fns += 1;
            let text = fs::read_to_string(root().join(file)).unwrap_or_default();
            if !text.contains(&format!("fn {name}(")) {
                missing.push(format!("no test {name} in {file}"));
            }
        }
    }
    assert!(
        fns > 50 && cited_rows > 50,
        "too few references read ({fns} tests, {cited_rows} rows)"
    );
    assert!(
        missing.is_empty(),
        "docs/THREATS.md:\n{}",
        missing.join("\n")
    );
}
