//! The crate's layers point one way (docs/architecture.md): a module may use only modules of a
//! lower layer. This test reads every file under src/ and fails on a `crate::…` path that
//! reaches up or sideways, naming the file and line, so that a new cycle cannot creep in.

use std::collections::BTreeMap;
use std::path::Path;

/// Top-level modules, lowest first; modules in one row may not use each other.
const LAYERS: &[&[&str]] = &[
    &["error"],
    &["limits", "text", "web"],
    &["fsutil"],
    &["lead"],
    &["config"],
    &["pipeline"],
    &["site"],
    &["build", "deploy", "outreach"],
    &["serve"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|row| row.contains(&module))
}

/// A source file up to its test module (`#[cfg(test)] mod …`, last by convention). A
/// `#[cfg(test)]` on an item of the code itself (a helper the tests use) does not end it.
fn production_code(text: &str) -> &str {
    let tests = regex::Regex::new(r"#\[cfg\(test\)\]\s*(pub(\([a-z]+\))?\s+)?mod\s").unwrap();
    tests.find(text).map_or(text, |m| &text[..m.start()])
}

/// `crate::NAME` references outside `#[cfg(test)]` code: (line, module).
fn references(text: &str) -> Vec<(usize, String)> {
    let code = production_code(text);
    let path = regex::Regex::new(r"crate::([a-z_]+)").unwrap();
    let group = regex::Regex::new(r"crate::\{([^}]*)\}").unwrap();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut out = Vec::new();
    for c in path.captures_iter(code) {
        out.push((line_of(c.get(0).unwrap().start()), c[1].to_string()));
    }
    for c in group.captures_iter(code) {
        for name in c[1].split(',') {
            let top = name.trim().split("::").next().unwrap_or("").trim();
            if !top.is_empty() && top != "self" {
                out.push((line_of(c.get(0).unwrap().start()), top.to_string()));
            }
        }
    }
    out
}

#[test]
fn modules_use_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&src).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.path().extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = entry.path().strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let Some(own) = layer_of(&top) else {
            wrong.push(format!(
                "src/{}: module `{top}` has no layer in tests/testsuite/layers.rs",
                rel.display()
            ));
            continue;
        };
        *seen.entry(top.clone()).or_default() += 1;
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for (line, used) in references(&text) {
            if used == top {
                continue;
            }
            match layer_of(&used) {
                Some(l) if l < own => {}
                _ => wrong.push(format!(
                    "src/{}:{line}: `{top}` uses `{used}`, which is not below it",
                    rel.display()
                )),
            }
        }
    }
    assert!(
        seen.len() >= 12,
        "the walk found only {seen:?}: is src/ where it was?"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_check_catches_an_upward_use() {
    let refs = references("use crate::serve::http;\nfn f() { crate::cli::run(); }\nuse crate::{lead::Lead, site};\n#[cfg(test)]\nmod tests { use crate::cli::x; }\n");
    let names: Vec<&str> = refs.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(names, ["serve", "cli", "lead", "site"]);
    assert!(layer_of("serve") > layer_of("pipeline"));
}

/// Direct file operations (`std::fs::read(`, `File::open(` …) outside `#[cfg(test)]` code:
/// (line, what).
fn file_operations(text: &str) -> Vec<(usize, String)> {
    let code = production_code(text);
    let call = regex::Regex::new(r"\bfs::[a-z_]+\s*\(|\bFile::(open|create)\s*\(").unwrap();
    call.find_iter(code)
        .map(|m| {
            (
                code[..m.start()].matches('\n').count() + 1,
                m.as_str().to_string(),
            )
        })
        .collect()
}

/// Files are read and written in one place: `fsutil` (errors that name the path, atomic
/// writes, links and FIFOs refused) and `limits` (reads bounded in size). Anywhere else a direct
/// call is how an error got swallowed or printed without its path.
#[test]
fn files_are_read_and_written_only_through_fsutil_and_limits() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut direct = Vec::new();
    for entry in walkdir::WalkDir::new(&src).sort_by_file_name() {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(&src).unwrap().to_path_buf();
        if entry.path().extension().is_none_or(|e| e != "rs")
            || rel == Path::new("fsutil.rs")
            || rel == Path::new("limits.rs")
        {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for (line, call) in file_operations(&text) {
            direct.push(format!("src/{}:{line}: {call}", rel.display()));
        }
    }
    assert!(
        direct.is_empty(),
        "use crate::fsutil (or crate::limits) instead:\n{}",
        direct.join("\n")
    );
}

#[test]
fn the_file_check_catches_a_direct_call() {
    let found = file_operations("let a = std::fs::read(p);\nfsutil::read(p)?;\nlet f = std::fs::File::open(p);\nlet o = fs::OpenOptions::new();\n#[cfg(test)]\nmod tests { fs::write(p, b); }\n");
    let calls: Vec<&str> = found.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(calls, ["fs::read(", "File::open("]);
    assert_eq!(found[1].0, 3);
    // A test-only helper in the code does not hide what follows it.
    let found = file_operations("#[cfg(test)]\npub fn helper() {}\nfn f() { std::fs::read(p); }\n#[cfg(test)]\nmod tests { fn t() { std::fs::read(p); } }\n");
    assert_eq!(found.len(), 1, "{found:?}");
}
