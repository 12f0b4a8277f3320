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

/// `crate::NAME` references outside `#[cfg(test)]` code: (line, module).
fn references(text: &str) -> Vec<(usize, String)> {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
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
    let refs = references("use crate::serve::http;\nfn f() { crate::cli::run(); }\nuse crate::{lead::Lead, site};\n#[cfg(test)]\nuse crate::cli::x;\n");
    let names: Vec<&str> = refs.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(names, ["serve", "cli", "lead", "site"]);
    assert!(layer_of("serve") > layer_of("pipeline"));
}
