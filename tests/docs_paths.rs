//! The docs name only files that exist: every repository path named in
//! README.md, docs/*.md and the crate map in src/lib.rs (a placeholder in
//! capitals, such as `src/PATH.rs`, is not a path).

#[test]
fn every_path_the_docs_name_exists() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs = vec![root.join("README.md"), root.join("src/lib.rs")];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            docs.push(p);
        }
    }
    let tops = [
        "src/",
        "tests/",
        "benches/",
        "fuzz/",
        "man/",
        "scripts/",
        "fixtures/",
    ];
    let exts = [".rs", ".sh", ".py", ".md", ".1", ".toml", ".c"];
    let mut missing = vec![];
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        let words = text.split(|c: char| !(c.is_ascii_alphanumeric() || "_./-".contains(c)));
        for w in words.map(|w| w.trim_end_matches('.')) {
            let named =
                tops.iter().any(|t| w.starts_with(t)) && exts.iter().any(|x| w.ends_with(x));
            let placeholder = w.split('/').any(|c| {
                let stem = c.split('.').next().unwrap_or_default();
                !stem.is_empty() && stem.chars().all(|ch| ch.is_ascii_uppercase())
            });
            if named && !placeholder && !root.join(w).exists() {
                missing.push(format!("{}: {w}", doc.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "paths that do not exist:\n{}",
        missing.join("\n")
    );
}
