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

/// Refuses YAML whose `[`/`{` nesting goes deeper than [`MAX_FLOW_DEPTH`], naming the line.
/// Quotes and comments are skipped; a block scalar with many brackets could be refused by
/// mistake, which no real lead has.
pub fn check_yaml(text: &str, path: &Path) -> Result<(), InputError> {
    let mut depth = 0usize;
    let mut line = 1u64;
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut prev = '\n';
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
            comment = false;
            // A quoted scalar may span lines; a plain one cannot hold brackets that count.
            prev = c;
            continue;
        }
        if comment {
            continue;
        }
        match quote {
            Some('"') => {
                if c == '\\' {
                    chars.next();
                } else if c == '"' {
                    quote = None;
                }
            }
            Some(_) => {
                if c == '\'' {
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
            }
            None => match c {
                '#' if prev.is_whitespace() => comment = true,
                '"' | '\'' if matches!(prev, ' ' | '\t' | '\n' | '[' | '{' | ',' | ':' | '-') => {
                    quote = Some(c)
                }
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Err(InputError::new(
                            Location::at_line(path, line),
                            format!(
                                "nested deeper than {MAX_FLOW_DEPTH} levels of [ and {{: not read"
                            ),
                        ));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        prev = c;
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
