//! The module map stays true (issue 9, must-show 1 and 5): read from the source itself, so
//! a change that breaks a rule fails here, in `cargo test`, not in a review.
//!
//! - No import cycle between the crate's top-level modules.
//! - `web` takes nothing from `http` but its extractors (`http::extract`).
//! - `store/` is the only door to sled, `crypto/` to ring, `jose/` to josekit.
//! - The domain modules (`residents`, `consent`, `signals`, `audit`) know nothing of HTTP: no
//!   `http`, `web` or axum.
//! - No source file over 450 lines unless its first line says why (`// Long: ...`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crate's source folder.
fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every library source file with its top-level module and its code without comments.
/// Left out: the binary (`src/bin`, a client of the library), and test code (`tests.rs`
/// files, inline `mod tests`, the `testing` module), which may reach anything.
fn library() -> Vec<(String, PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files
        .into_iter()
        .filter(|p| !p.starts_with(src().join("bin")))
        .filter(|p| !p.ends_with("tests.rs") && !p.ends_with("testing.rs"))
        .map(|path| {
            let relative = path.strip_prefix(src()).unwrap();
            let module = relative
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text
                .split("#[cfg(test)]\nmod tests {")
                .next()
                .unwrap_or_default();
            (module, path, code_only(text))
        })
        .collect()
}

/// `text` without `//` comments (doc comments included), so that prose may name anything.
fn code_only(text: &str) -> String {
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") { "" } else { line }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules `code` refers to through `crate::`.
fn crate_references(code: &str) -> BTreeSet<String> {
    // What the crate root re-exports, by the module that defines it.
    let root_items = [
        ("Error", "error"),
        ("Result", "error"),
        ("Clock", "clock"),
        ("Config", "config"),
        ("App", "app"),
        ("StartError", "app"),
    ];
    let module_of = |name: &str| {
        root_items
            .iter()
            .find(|(item, _)| *item == name)
            .map_or(name.to_owned(), |(_, module)| (*module).to_owned())
    };
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the first name of each item at depth 0.
            let mut depth = 0;
            let mut item_start = true;
            let mut name = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        if !name.is_empty() {
                            found.insert(module_of(&name));
                            name.clear();
                        }
                        item_start = true;
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 && item_start {
                    if c.is_alphanumeric() || c == '_' {
                        name.push(c);
                    } else if !name.is_empty() {
                        found.insert(module_of(&name));
                        name.clear();
                        item_start = false;
                    }
                }
            }
            if !name.is_empty() {
                found.insert(module_of(&name));
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(module_of(&name));
            }
        }
    }
    found
}

#[test]
fn the_reference_parser_reads_grouped_and_nested_imports() {
    let code = "use crate::{Error, audit::entry::{Action, Actor}, store::Store};\nlet x = crate::clock::Clock::system();";
    let found: Vec<String> = crate_references(code).into_iter().collect();
    assert_eq!(found, ["audit", "clock", "error", "store"]);
}

#[test]
fn modules_import_each_other_without_a_cycle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, _, code) in library() {
        let edges = graph.entry(module.clone()).or_default();
        for target in crate_references(&code) {
            if target != module && target != "lib" {
                edges.insert(target);
            }
        }
    }
    // Depth-first search with colours; a grey node reached again closes a cycle.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let from = path.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = path[from..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(node.to_owned(), 1);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, state, path) {
                return Some(cycle);
            }
        }
        path.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut state, &mut Vec::new()) {
            panic!(
                "modules import each other in a cycle: {}",
                cycle.join(" → ")
            );
        }
    }
    // The graph is real: the domain depends on the store, the API on the domain.
    assert!(graph["residents"].contains("store") && graph["http"].contains("consent"));
}

/// Whether `code` names `needle` as a word of its own (`ring::` is not in `String::`).
fn names(code: &str, needle: &str) -> bool {
    code.match_indices(needle).any(|(at, _)| {
        !code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// The files of the modules `keep` accepts whose code names `needle`.
fn offenders(needle: &str, keep: impl Fn(&str) -> bool) -> Vec<String> {
    library()
        .into_iter()
        .filter(|(module, _, code)| keep(module) && names(code, needle))
        .map(|(_, path, _)| path.strip_prefix(src()).unwrap().display().to_string())
        .collect()
}

#[test]
fn the_portal_takes_only_extractors_from_the_api() {
    let mut wrong = Vec::new();
    for (module, path, code) in library() {
        if module != "web" {
            continue;
        }
        for (at, _) in code.match_indices("crate::http") {
            if !code[at..].starts_with("crate::http::extract") {
                wrong.push(path.display().to_string());
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "web uses more of http than its extractors: {wrong:?}"
    );
    assert!(
        offenders("crate::web", |m| m == "http").is_empty(),
        "http must not use web"
    );
}

#[test]
fn each_library_has_one_door() {
    for (needle, door) in [
        ("sled::", "store"),
        ("SledStore", "store"),
        ("ring::", "crypto"),
        ("josekit", "jose"),
    ] {
        let found = offenders(needle, |m| m != door);
        assert!(found.is_empty(), "{needle} outside {door}/: {found:?}");
        assert!(
            !offenders(needle, |m| m == door).is_empty(),
            "the door itself ({door}/) names {needle}, so this check can see it"
        );
    }
}

#[test]
fn the_domain_knows_nothing_of_http() {
    for domain in ["residents", "consent", "signals", "audit"] {
        for needle in ["crate::http", "crate::web", "axum"] {
            let found = offenders(needle, |m| m == domain);
            assert!(found.is_empty(), "{domain} names {needle}: {found:?}");
        }
    }
}

#[test]
fn long_files_say_why_they_are_long() {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in [
        "vault/src",
        "vault/tests",
        "sdk/src",
        "sdk/proto/src",
        "tests",
        "benches",
        "examples",
    ] {
        let dir = workspace.join(dir);
        if dir.exists() {
            rust_files(&dir, &mut files);
        }
    }
    files.retain(|p| !p.components().any(|c| c.as_os_str() == "node_modules"));
    assert!(files.len() > 100, "only {} files found", files.len());
    let long: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            let lines = text.lines().count();
            let says_why = text
                .lines()
                .next()
                .is_some_and(|l| l.starts_with("// Long: "));
            (lines > 450 && !says_why).then(|| format!("{} ({lines} lines)", path.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over 450 lines without a first line `// Long: <why>`: {long:#?}"
    );
}
