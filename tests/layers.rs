//! The crate map holds: every file of `src/` is read with `syn`, each path it
//! names inside the crate (`use`, types, calls, macros) is resolved to the
//! file that defines that module, and the graph of files is checked for
//! two things the crate map in `src/lib.rs` promises:
//!
//! - no circle of imports between files (a file that needs another which
//!   needs it back is doing two things);
//! - no import from a lower layer to a higher one (the core never reaches
//!   the decision, the decision never reaches bt-exec's command side or
//!   bt-log's roles).
//!
//! A new top-level module fails here until it is given a layer below.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// The layers of the crate map (`src/lib.rs`), lowest first: a file may
/// import from its own layer or a lower one. Within the roles' layer, the
/// top-level folders import one another only as [`ROLE_USES`] lists (the
/// command side imports none of them).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "the file system's primitives",
        &["fsutil", "strict", "tempfiles"],
    ),
    (
        "the pure core",
        &[
            "note",
            "tlog",
            "entry",
            "index",
            "policy",
            "log_id",
            "sigsum_interop",
            "sigstore",
        ],
    ),
    ("I/O at the edges", &["fetch", "source", "store"]),
    ("the decision", &["verify", "history", "state"]),
    (
        "bt-log's roles and bt-exec's command side",
        &[
            "serve", "log", "accept", "publish", "witness", "monitor", "exec",
        ],
    ),
    ("the command lines", &["cli"]),
    ("fuzzing", &["fuzz_targets"]),
];

/// Imports between the folders of the roles' layer that the crate map
/// names: the roles serve over `serve` (the HTTP server loop), `accept`
/// sequences and signs through `log` (the writer) and asks witnesses
/// through `witness`'s client; `publish` submits to `accept` and reads
/// witness cosignatures with `witness`'s client; `monitor` reads a log
/// `log` wrote.
const ROLE_USES: &[(&str, &str)] = &[
    ("accept", "serve"),
    ("witness", "serve"),
    ("log", "serve"),
    ("accept", "log"),
    ("accept", "witness"),
    ("log", "witness"),
    ("publish", "witness"),
    ("publish", "accept"),
    ("publish", "log"),
    ("monitor", "log"),
    ("monitor", "witness"),
];

type Module = Vec<String>;

/// One file of the crate: its module path, and the inline modules in it.
struct Tree {
    /// Module path → the file that defines it (inline modules map to the
    /// file they are written in).
    modules: BTreeMap<Module, PathBuf>,
    /// The files, each with its module path.
    files: Vec<(PathBuf, Module, syn::File)>,
}

fn read(path: &Path) -> syn::File {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| match &a.meta {
        syn::Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

/// Registers the modules declared in `items` (module `module`, written in
/// `file`, whose children's files are in `dir`), reading the files of
/// out-of-line ones.
fn declare(tree: &mut Tree, items: &[syn::Item], module: &Module, file: &Path, dir: &Path) {
    for item in items {
        let syn::Item::Mod(m) = item else { continue };
        let mut child = module.clone();
        child.push(m.ident.to_string());
        match &m.content {
            Some((_, inner)) => {
                tree.modules.insert(child.clone(), file.to_path_buf());
                declare(tree, inner, &child, file, &dir.join(m.ident.to_string()));
            }
            None => {
                let name = m.ident.to_string();
                let here = file.parent().unwrap_or(Path::new("."));
                let (child_file, child_dir) = match path_attr(&m.attrs) {
                    Some(p) => (here.join(&p), here.join(&p).with_extension("")),
                    None if dir.join(format!("{name}.rs")).exists() => {
                        (dir.join(format!("{name}.rs")), dir.join(&name))
                    }
                    None => (dir.join(&name).join("mod.rs"), dir.join(&name)),
                };
                load(tree, &child_file, child, &child_dir);
            }
        }
    }
}

fn load(tree: &mut Tree, file: &Path, module: Module, dir: &Path) {
    let parsed = read(file);
    tree.modules.insert(module.clone(), file.to_path_buf());
    declare(tree, &parsed.items, &module, file, dir);
    tree.files.push((file.to_path_buf(), module, parsed));
}

fn crate_tree() -> Tree {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut tree = Tree {
        modules: BTreeMap::new(),
        files: vec![],
    };
    load(&mut tree, &src.join("lib.rs"), vec![], &src);
    tree
}

/// Collects the crate paths one file names, resolved to absolute module
/// paths (relative to the crate root).
struct Collector<'a> {
    tree: &'a Tree,
    /// The module the visitor is in (the file's, plus inline modules).
    scope: Module,
    /// Names brought in by `use`, per scope.
    aliases: BTreeMap<Module, BTreeMap<String, Module>>,
    found: BTreeSet<Module>,
    /// Only gather `use` aliases (the first pass).
    uses_only: bool,
}

impl Collector<'_> {
    /// Resolves a path's leading segments to an absolute path, or None when
    /// it names something outside the crate.
    fn absolute(&self, segs: &[String]) -> Option<Module> {
        let first = segs.first()?;
        let mut base: Module = match first.as_str() {
            "crate" | "bt_exec" => vec![],
            "self" => self.scope.clone(),
            "super" => {
                let mut b = self.scope.clone();
                for s in segs {
                    if s == "super" {
                        b.pop();
                    } else {
                        b.push(s.clone());
                    }
                }
                return Some(b);
            }
            name => {
                let mut child = self.scope.clone();
                child.push(name.to_string());
                if self.tree.modules.contains_key(&child) {
                    child.pop();
                    child
                } else if let Some(target) = self.aliases.get(&self.scope).and_then(|a| a.get(name))
                {
                    let mut b = target.clone();
                    b.extend(segs.iter().skip(1).cloned());
                    return Some(b);
                } else {
                    return None;
                }
            }
        };
        let skip = usize::from(matches!(first.as_str(), "crate" | "bt_exec" | "self"));
        base.extend(segs.iter().skip(skip).cloned());
        Some(base)
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.use_leaf(prefix, &n.ident, &n.ident),
            syn::UseTree::Rename(r) => self.use_leaf(prefix, &r.ident, &r.rename),
            syn::UseTree::Glob(_) => {
                if let Some(abs) = self.absolute(prefix) {
                    self.found.insert(abs);
                }
            }
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }

    fn use_leaf(&mut self, prefix: &[String], ident: &syn::Ident, name: &syn::Ident) {
        let mut full = prefix.to_vec();
        if ident != "self" {
            full.push(ident.to_string());
        }
        let Some(abs) = self.absolute(&full) else {
            return;
        };
        let alias = if ident == "self" {
            prefix.last().cloned().unwrap_or_default()
        } else {
            name.to_string()
        };
        if self.uses_only {
            self.aliases
                .entry(self.scope.clone())
                .or_default()
                .insert(alias, abs);
        } else {
            self.found.insert(abs);
        }
    }
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        self.scope.push(m.ident.to_string());
        syn::visit::visit_item_mod(self, m);
        self.scope.pop();
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let before = self.found.clone();
        self.use_tree(&mut vec![], &u.tree);
        // A `pub use` of the module's own children is the folder's front
        // door (what it offers), not a use of them by the code in mod.rs.
        if matches!(u.vis, syn::Visibility::Public(_)) {
            let scope = self.scope.clone();
            self.found.retain(|f| {
                before.contains(f) || !(f.len() > scope.len() && f.starts_with(&scope))
            });
        }
    }

    /// `pub(super)` and `pub(in path)` name a module without using it.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_path(&mut self, p: &'ast syn::Path) {
        if !self.uses_only {
            let segs: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
            if segs.len() > 1 || p.leading_colon.is_none() {
                if let Some(abs) = self.absolute(&segs) {
                    self.found.insert(abs);
                }
            }
        }
        syn::visit::visit_path(self, p);
    }
}

/// The file that defines the longest module prefix of `path`.
fn file_of<'a>(tree: &'a Tree, path: &Module) -> Option<&'a PathBuf> {
    (0..=path.len())
        .rev()
        .find_map(|n| tree.modules.get(&path[..n]))
}

type Edges = BTreeMap<PathBuf, BTreeMap<PathBuf, BTreeSet<String>>>;

/// file → the other files it imports from, each with the paths it names
/// there.
fn graph(tree: &Tree) -> Edges {
    let mut edges: Edges = BTreeMap::new();
    for (file, module, parsed) in &tree.files {
        let mut c = Collector {
            tree,
            scope: module.clone(),
            aliases: BTreeMap::new(),
            found: BTreeSet::new(),
            uses_only: true,
        };
        c.visit_file(parsed);
        c.uses_only = false;
        c.visit_file(parsed);
        let out = edges.entry(file.clone()).or_default();
        for target in &c.found {
            if let Some(to) = file_of(tree, target) {
                if to != file {
                    out.entry(to.clone()).or_default().insert(target.join("::"));
                }
            }
        }
    }
    edges
}

/// Strongly connected components of more than one file (Tarjan).
fn circles(edges: &Edges) -> Vec<Vec<PathBuf>> {
    struct T<'a> {
        edges: &'a Edges,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on: BTreeSet<&'a PathBuf>,
        out: Vec<Vec<PathBuf>>,
    }
    fn go<'a>(t: &mut T<'a>, v: &'a PathBuf) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.edges.get(v).into_iter().flat_map(|m| m.keys()) {
            if !t.index.contains_key(w) {
                go(t, w);
                let lw = t.low[w];
                let lv = t.low[v];
                t.low.insert(v, lv.min(lw));
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low[v];
                t.low.insert(v, lv.min(iw));
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = vec![];
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        on: BTreeSet::new(),
        out: vec![],
    };
    for v in edges.keys() {
        if !t.index.contains_key(v) {
            go(&mut t, v);
        }
    }
    t.out
}

fn rel(p: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// The top-level module a file belongs to (None for `lib.rs`).
fn top(tree: &Tree, file: &Path) -> Option<String> {
    tree.files
        .iter()
        .find(|(f, _, _)| f == file)
        .and_then(|(_, m, _)| m.first().cloned())
}

fn layer(name: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&name))
}

#[test]
fn no_file_imports_another_that_imports_it_back() {
    let tree = crate_tree();
    let edges = graph(&tree);
    let found = circles(&edges);
    let report: Vec<String> = found
        .iter()
        .map(|c| {
            let mut lines = vec![];
            for from in c {
                for (to, why) in edges.get(from).into_iter().flatten() {
                    if c.contains(to) {
                        let why: Vec<&String> = why.iter().collect();
                        lines.push(format!("    {} → {}: {:?}", rel(from), rel(to), why));
                    }
                }
            }
            let names: Vec<String> = c.iter().map(|p| rel(p)).collect();
            format!("  a circle of {}:\n{}", names.join(", "), lines.join("\n"))
        })
        .collect();
    assert!(
        report.is_empty(),
        "files that import each other in a circle:\n{}",
        report.join("\n")
    );
}

#[test]
fn every_top_level_module_has_one_layer_and_no_layer_reaches_up() {
    let tree = crate_tree();
    let tops: BTreeSet<String> = tree
        .modules
        .keys()
        .filter(|m| m.len() == 1)
        .map(|m| m[0].clone())
        .collect();
    let unplaced: Vec<&String> = tops.iter().filter(|t| layer(t).is_none()).collect();
    let twice: Vec<&String> = tops
        .iter()
        .filter(|t| {
            LAYERS
                .iter()
                .filter(|(_, m)| m.contains(&t.as_str()))
                .count()
                > 1
        })
        .collect();
    assert!(twice.is_empty(), "modules placed in two layers: {twice:?}");
    assert!(
        unplaced.is_empty(),
        "modules the crate map does not place: {unplaced:?}"
    );
    let listed: Vec<&str> = LAYERS.iter().flat_map(|(_, m)| m.iter().copied()).collect();
    let gone: Vec<&&str> = listed.iter().filter(|m| !tops.contains(**m)).collect();
    assert!(
        gone.is_empty(),
        "layers name modules that do not exist: {gone:?}"
    );

    let mut wrong = vec![];
    for (from, tos) in graph(&tree) {
        let Some(a) = top(&tree, &from) else { continue };
        for (to, why) in tos {
            let Some(b) = top(&tree, &to) else { continue };
            let (la, lb) = (layer(&a).unwrap_or(0), layer(&b).unwrap_or(0));
            let roles = LAYERS
                .iter()
                .position(|(n, _)| n.starts_with("bt-log's roles"));
            let sideways = a != b
                && la == lb
                && Some(la) == roles
                && !ROLE_USES.contains(&(a.as_str(), b.as_str()));
            if lb > la || sideways {
                wrong.push(format!(
                    "  {} ({}) imports {} ({}): {:?}",
                    rel(&from),
                    LAYERS[la].0,
                    rel(&to),
                    LAYERS[lb].0,
                    why
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that reach up or sideways:\n{}",
        wrong.join("\n")
    );
}
