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

/// The crate root's re-exports (`pub use config::Config;` in lib.rs): name → module.
fn root_exports() -> BTreeMap<String, String> {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let line = regex::Regex::new(r"(?m)^pub use ([a-z_]+)::(\{[^}]*\}|[A-Za-z_]+);").unwrap();
    let mut out = BTreeMap::new();
    for c in line.captures_iter(&lib) {
        for name in c[2].trim_matches(|c| c == '{' || c == '}').split(',') {
            out.insert(name.trim().to_string(), c[1].to_string());
        }
    }
    out
}

/// The first segment of each path a `{…}` group of a `use` names (nested groups included):
/// `{lead::{Lead}, site::Page}` → lead, site.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in group.char_indices().chain([(group.len(), ',')]) {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                let item = group[start..i].trim();
                let head = item.split("::").next().unwrap_or("").trim();
                if !head.is_empty() && head != "self" {
                    heads.push(head.to_string());
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    heads
}

/// The text of the `{…}` group that opens at `open` (a `{`), braces balanced.
fn group_at(code: &str, open: usize) -> &str {
    let mut depth = 0usize;
    for (i, c) in code[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &code[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    &code[open + 1..]
}

/// Top-level modules a file's code outside `#[cfg(test)]` refers to: (line, module).
/// `module` is the file's module path (`["site", "page"]` for src/site/page.rs): a `super::`
/// path that climbs to the crate root names a top-level module too. A re-export of the root
/// (`crate::Config`) counts as its module.
fn references(text: &str, module: &[&str]) -> Vec<(usize, String)> {
    let code = production_code(text);
    let exports = root_exports();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut out = Vec::new();
    let name = |at: usize, n: &str, out: &mut Vec<(usize, String)>| {
        let module = exports.get(n).cloned().unwrap_or_else(|| n.to_string());
        out.push((line_of(at), module));
    };
    // `crate::` or `super::super::…` (as many as climb to the root), then a name or a group.
    let path =
        regex::Regex::new(r"\b(crate|(?:super::)+)(::)?(\{|[A-Za-z_][A-Za-z0-9_]*)").unwrap();
    for c in path.captures_iter(code) {
        let root = &c[1];
        let at = c.get(0).unwrap().start();
        if root != "crate" {
            // `super::` from src/site/page.rs is `site`; `super::super::` is the root.
            let ups = root.matches("super::").count();
            if ups < module.len() {
                continue;
            }
        } else if c.get(2).is_none() {
            continue;
        }
        let rest = c.get(3).unwrap();
        if rest.as_str() == "{" {
            for head in group_heads(group_at(code, rest.start())) {
                name(at, &head, &mut out);
            }
        } else {
            name(at, rest.as_str(), &mut out);
        }
    }
    out
}

/// Where an outside crate may be used: `clap` and `anyhow` belong to the command line (the
/// library's errors are typed with thiserror).
const EDGE_ONLY: &[&str] = &["clap", "anyhow"];

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
        let module: Vec<String> = rel
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .filter(|c| c != "mod")
            .collect();
        let module: Vec<&str> = module.iter().map(String::as_str).collect();
        if top != "cli" {
            let code = production_code(&text);
            for krate in EDGE_ONLY {
                let used = regex::Regex::new(&format!(r"\b{krate}::")).unwrap();
                if let Some(m) = used.find(code) {
                    let line = code[..m.start()].matches('\n').count() + 1;
                    wrong.push(format!(
                        "src/{}:{line}: `{top}` uses `{krate}`, which only the command line may",
                        rel.display()
                    ));
                }
            }
        }
        for (line, used) in references(&text, &module) {
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
    let text = "use crate::serve::http;\nfn f() { crate::cli::run(); }\nuse crate::{lead::{Lead, Route}, site::Page};\nuse crate::Config;\nuse super::super::outreach::bus;\nuse super::sibling;\n#[cfg(test)]\nmod tests { use crate::cli::x; }\n";
    let refs = references(text, &["pipeline", "enrich", "website"]);
    let names: Vec<&str> = refs.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(names, ["serve", "cli", "lead", "site", "config"]);
    // From src/site/mod.rs, one `super::` is the root.
    let refs = references("use super::outreach::bus;\n", &["site"]);
    assert_eq!(refs, [(1, "outreach".to_string())]);
    let refs = references(
        "use super::super::super::outreach::bus;\n",
        &["pipeline", "enrich", "website"],
    );
    assert_eq!(refs, [(1, "outreach".to_string())]);
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
