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

/// The crate's modules: module path ("verify::current") → its file.
fn modules(root: &std::path::Path) -> std::collections::BTreeMap<String, std::path::PathBuf> {
    let mut out = std::collections::BTreeMap::new();
    let src = root.join("src");
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "bin") {
                    stack.push(p);
                }
                continue;
            }
            let Ok(rel) = p.strip_prefix(&src) else {
                continue;
            };
            let Some(rel) = rel.to_str().and_then(|r| r.strip_suffix(".rs")) else {
                continue;
            };
            let module = rel.trim_end_matches("/mod").replace('/', "::");
            if module != "lib" {
                out.insert(module, p);
            }
        }
    }
    out
}

/// Whether `name` is defined (or re-exported, or a variant or field) in
/// `text`.
fn defines(text: &str, name: &str) -> bool {
    let word = |line: &str| {
        line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|w| w == name)
    };
    // Each `use` statement on one line, however it is wrapped.
    let mut joined = String::new();
    let mut in_use = false;
    for l in text.lines() {
        let t = l.trim_start();
        in_use |=
            t.starts_with("use ") || t.starts_with("pub use ") || t.starts_with("pub(crate) use ");
        joined.push_str(if in_use { t } else { l });
        if !in_use || t.ends_with(';') {
            joined.push('\n');
            in_use = false;
        } else {
            joined.push(' ');
        }
    }
    joined.lines().any(|l| {
        let t = l.trim_start();
        let t = t
            .strip_prefix("pub(crate) ")
            .or_else(|| t.strip_prefix("pub(super) "))
            .or_else(|| t.strip_prefix("pub "))
            .unwrap_or(t);
        let decl = [
            "fn ", "struct ", "enum ", "const ", "static ", "type ", "trait ", "mod ",
        ]
        .iter()
        .any(|k| t.starts_with(k));
        let reexport =
            l.trim_start().starts_with("pub use ") || l.trim_start().starts_with("pub(crate) use ");
        ((decl || reexport) && word(t))
            || t.starts_with(&format!("{name}(")) // a tuple variant
            || t.starts_with(&format!("{name} {{")) // a struct variant
            || t.starts_with(&format!("{name},")) // a unit variant
            || t.starts_with(&format!("{name}:")) // a field
            || t.starts_with(&format!("macro_rules! {name}"))
    })
}

/// The docs name only items that exist: every `module::item` path in
/// backquotes in README.md, docs/*.md and src/lib.rs whose first segment
/// is one of the crate's modules (its last segment when it names several:
/// `saving::save` is `exec::saving::save`) resolves to a module file that
/// defines or re-exports the item; a `Type::method` or `Enum::Variant`
/// after it is defined in that module's folder.
#[test]
fn every_item_the_docs_name_exists() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mods = modules(root);
    let mut docs = vec![root.join("README.md"), root.join("src/lib.rs")];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            docs.push(p);
        }
    }
    let mut missing = vec![];
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        for (n, span) in text.split('`').enumerate() {
            if n % 2 == 0 {
                continue;
            }
            let span: String = span.split_whitespace().collect();
            // `a::b::{c, d}` names `a::b::c` and `a::b::d`.
            let paths: Vec<String> = match span.split_once("::{") {
                Some((head, tail)) if tail.ends_with('}') => tail
                    .trim_end_matches('}')
                    .split(',')
                    .map(|item| format!("{head}::{item}"))
                    .collect(),
                _ => vec![span.clone()],
            };
            for span in &paths {
                let span = span.trim_end_matches("()").trim_start_matches("crate::");
                let segs: Vec<&str> = span.split("::").collect();
                let ident = |s: &&str| {
                    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                };
                if segs.len() < 2 || !segs.iter().all(ident) {
                    continue;
                }
                // The module the path starts at: from the crate root, or the
                // one module whose last segment it is.
                let starts: Vec<&String> = if mods.contains_key(segs[0]) {
                    vec![mods.keys().find(|k| *k == segs[0]).unwrap()]
                } else {
                    mods.keys()
                        .filter(|k| k.rsplit("::").next() == Some(segs[0]))
                        .collect()
                };
                let [start] = starts[..] else { continue };
                let mut module = start.clone();
                let mut rest = &segs[1..];
                while let Some(next) = rest.first() {
                    let deeper = format!("{module}::{next}");
                    if !mods.contains_key(&deeper) {
                        break;
                    }
                    module = deeper;
                    rest = &rest[1..];
                }
                let Some(first) = rest.first() else { continue };
                let file = std::fs::read_to_string(&mods[&module]).unwrap();
                let folder: String = mods
                    .iter()
                    .filter(|(k, _)| {
                        **k == module
                            || k.starts_with(&format!("{module}::"))
                            || module.starts_with(&format!("{k}::"))
                    })
                    .map(|(_, p)| std::fs::read_to_string(p).unwrap())
                    .collect();
                let crate_text: String = mods
                    .values()
                    .map(|p| std::fs::read_to_string(p).unwrap())
                    .collect();
                let ok = defines(&file, first)
                    && rest[1..]
                        .iter()
                        .all(|s| defines(&folder, s) || defines(&crate_text, s));
                if !ok {
                    missing.push(format!("{}: `{span}` ({module})", doc.display()));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "items the docs name that do not exist where they say:\n{}",
        missing.join("\n")
    );
}
