//! The default themes and content, built into the binary so that an installed `leadsite` can
//! `init` and build a project anywhere. A project's own `themes/` and `content/` take precedence.

use std::path::PathBuf;

use include_dir::{include_dir, Dir};

pub static THEMES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/themes");
pub static CONTENT: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/content");

/// Every file under `dir` as (path relative to it, bytes), sorted by path.
pub fn raw_files(dir: &Dir<'static>) -> Vec<(PathBuf, &'static [u8])> {
    let mut out = Vec::new();
    collect(dir, &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every UTF-8 file under `dir` as (relative path, text).
pub fn files(dir: &Dir<'static>) -> Vec<(PathBuf, String)> {
    raw_files(dir)
        .into_iter()
        .filter_map(|(p, b)| Some((p, std::str::from_utf8(b).ok()?.to_string())))
        .collect()
}

fn collect(dir: &Dir<'static>, out: &mut Vec<(PathBuf, &'static [u8])>) {
    for f in dir.files() {
        out.push((f.path().to_path_buf(), f.contents()));
    }
    for d in dir.dirs() {
        collect(d, out);
    }
}
