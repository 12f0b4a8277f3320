//! Bounds on what leadsite reads, so that no input — however large, deep or hostile — costs
//! unbounded time or memory: file sizes checked before a file is read, YAML flow nesting checked
//! before it is parsed (libyaml's scanner is quadratic in it: 20,000 unclosed `[` took seconds,
//! 100,000 minutes), and CSV fields per row. serde_yaml_ng itself refuses alias bombs
//! ("repetition limit exceeded") and JSON deeper than 128 levels.

use std::io::Read;
use std::path::Path;

use crate::error::{InputError, Location};

/// A lead file, the config, a theme or content file: far above any real one.
pub const MAX_TEXT_FILE: u64 = 16 * 1024 * 1024;
/// `[`/`{` nesting in YAML: real data never goes past a handful of levels.
pub const MAX_FLOW_DEPTH: usize = 64;
/// Fields in one CSV row (google-maps-scraper writes about 35).
pub const MAX_CSV_FIELDS: usize = 2_000;

/// Reads a text file of at most `cap` bytes; a larger one is refused before it is read.
pub fn read_text(path: &Path, cap: u64) -> Result<String, InputError> {
    let err = |msg: String| InputError::new(Location::file(path), msg);
    let file = std::fs::File::open(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let mut text = String::new();
    file.take(cap + 1)
        .read_to_string(&mut text)
        .map_err(|e| err(format!("cannot read: {e}")))?;
    if text.len() as u64 > cap {
        return Err(err(format!(
            "larger than {} MiB: not read (is this the right file?)",
            cap / (1024 * 1024)
        )));
    }
    Ok(text)
}

/// Aliases (`*name`) a YAML text may use; files with any are limited to [`MAX_ALIASED_FILE`]
/// bytes, so expansion stays under a few MB (serde_yaml_ng counts jumps, not bytes).
pub const MAX_ALIASES: usize = 64;
pub const MAX_ALIASED_FILE: usize = 256 * 1024;
/// Nested block sequences on one line (`- - - x`) and indentation, which libyaml also pays for.
pub const MAX_INDENT: usize = 256;

/// Refuses YAML that would cost a parser far more than its size: `[`/`{` nesting deeper than
/// [`MAX_FLOW_DEPTH`], block nesting deeper than it (`- - -` on a line, or indentation past
/// [`MAX_INDENT`]), or aliases that could expand it (more than [`MAX_ALIASES`], or any in a
/// file over [`MAX_ALIASED_FILE`]). Each refusal names the line. The scan follows YAML's
/// context: a bracket, quote or `*` counts only where a value can start (a `[` inside a plain
/// scalar such as `see [1]` is text), so real data is never refused by mistake.
pub fn check_yaml(text: &str, path: &Path) -> Result<(), InputError> {
    let refuse = |line: u64, msg: String| Err(InputError::new(Location::at_line(path, line), msg));
    let mut depth = 0usize;
    let mut line = 1u64;
    let mut quote: Option<char> = None;
    let mut comment = false;
    // Where a new value may start: the line's start, after `: `, `- `, `? `, and in flow
    // context after `[`, `{` and `,`.
    let mut at_start = true;
    let mut indent = 0usize;
    let mut in_indent = true;
    let mut dashes = 0usize;
    let mut aliases = 0usize;
    let mut prev = '\n';
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
            comment = false;
            at_start = quote.is_none();
            in_indent = true;
            indent = 0;
            dashes = 0;
            prev = '\n';
            continue;
        }
        if comment {
            continue;
        }
        if let Some(q) = quote {
            if q == '"' && c == '\\' {
                chars.next();
            } else if c == q {
                if q == '\'' && chars.peek() == Some(&'\'') {
                    chars.next();
                } else {
                    quote = None;
                    at_start = false;
                }
            }
            continue;
        }
        if in_indent {
            if c == ' ' {
                indent += 1;
                if indent > MAX_INDENT {
                    return refuse(
                        line,
                        format!("indented more than {MAX_INDENT} spaces: not read"),
                    );
                }
                continue;
            }
            in_indent = false;
        }
        let next_blank = chars.peek().is_none_or(|n| n.is_whitespace());
        let after_blank = prev.is_whitespace();
        prev = c;
        match c {
            ' ' | '\t' => {}
            '#' if after_blank => comment = true,
            '"' | '\'' if at_start => quote = Some(c),
            '[' | '{' if at_start || depth > 0 => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return refuse(
                        line,
                        format!("nested deeper than {MAX_FLOW_DEPTH} levels of [ and {{: not read"),
                    );
                }
                at_start = true;
            }
            ']' | '}' if depth > 0 => {
                depth -= 1;
                at_start = false;
            }
            ',' if depth > 0 => at_start = true,
            '-' | '?' if at_start && depth == 0 && next_blank => {
                dashes += 1;
                if dashes > MAX_FLOW_DEPTH {
                    return refuse(
                        line,
                        format!(
                            "nested deeper than {MAX_FLOW_DEPTH} levels of - on one line: not read"
                        ),
                    );
                }
            }
            ':' if next_blank => at_start = true,
            '*' if at_start => {
                aliases += 1;
                if aliases > MAX_ALIASES {
                    return refuse(
                        line,
                        format!("more than {MAX_ALIASES} aliases (*name): not read"),
                    );
                }
                if text.len() > MAX_ALIASED_FILE {
                    return refuse(
                        line,
                        format!(
                            "aliases (*name) in a file over {} KB: not read",
                            MAX_ALIASED_FILE / 1024
                        ),
                    );
                }
                at_start = false;
            }
            _ => at_start = false,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_nesting_is_refused_with_its_line_and_quotes_do_not_count() {
        let p = Path::new("leads/x.yaml");
        let deep = format!("name: x\nz: {}\n", "[".repeat(100_000));
        let e = check_yaml(&deep, p).unwrap_err();
        assert_eq!(e.location.line, Some(2), "{e}");
        let braces = format!("z: {}", "{a: ".repeat(300_000));
        assert!(check_yaml(&braces, p).is_err());
        let fine = format!(
            "name: \"{}\"\nnote: '{}'\n# {}\nlist: [[a, b], {{c: [d]}}]\n",
            "[".repeat(500),
            "{".repeat(500),
            "[".repeat(500)
        );
        check_yaml(&fine, p).unwrap();
    }

    #[test]
    fn the_guard_reads_yaml_context_so_it_cannot_be_fooled_nor_refuse_real_text() {
        let p = Path::new("x.yaml");
        // A quote inside a plain scalar opens nothing: the brackets after it still count.
        let trick = format!("dedup_key: a\nname: Joe 's\nz: {}\n", "[".repeat(100_000));
        assert_eq!(check_yaml(&trick, p).unwrap_err().location.line, Some(3));
        let block = format!("about: |\n  say \"hi\n{}\n", "{a: ".repeat(10_000));
        assert!(check_yaml(&block, p).is_err());
        // Brackets inside a plain scalar are text (ingest writes notes like this).
        check_yaml(&format!("notes: see {}\n", "[".repeat(200)), p).unwrap();
        // Block nesting on one line, deep indentation, alias expansion.
        assert!(check_yaml(&format!("x:\n{}1\n", "- ".repeat(10_000)), p).is_err());
        assert!(check_yaml(&format!("x:\n{}y: 1\n", " ".repeat(5_000)), p).is_err());
        let many = format!("a: &a [1, 2]\nb: [{}]\n", vec!["*a"; 100].join(", "));
        assert!(check_yaml(&many, p)
            .unwrap_err()
            .to_string()
            .contains("aliases"));
        let big = format!("a: &a \"{}\"\nb: *a\n", "x".repeat(400_000));
        assert!(check_yaml(&big, p).is_err());
        check_yaml("site: &s {title: x}\nrouting: *s\n", p).unwrap();
    }

    #[test]
    fn a_file_over_the_cap_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.yaml");
        std::fs::write(&p, "x".repeat(2048)).unwrap();
        assert!(read_text(&p, 1024)
            .unwrap_err()
            .to_string()
            .contains("larger than"));
        assert_eq!(read_text(&p, 4096).unwrap().len(), 2048);
    }
}
