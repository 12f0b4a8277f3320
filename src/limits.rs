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

/// One email in a Maildir (providers refuse anything near this).
pub const MAX_MESSAGE: u64 = 32 * 1024 * 1024;
/// One message on the bus (a few hundred bytes in practice).
pub const MAX_EVENT: u64 = 1024 * 1024;
/// One static file of a theme (an image or a font).
pub const MAX_STATIC: u64 = 64 * 1024 * 1024;
/// A content or email template file (Markdown with front matter): pages and emails are a few
/// KB; Markdown of 15 MB took pulldown-cmark 8–17 s and over 1 GB.
pub const MAX_CONTENT_FILE: u64 = 1024 * 1024;
/// An import parsed whole (JSON, GeoJSON, YAML); CSV is streamed and has no such bound.
pub const MAX_WHOLE_IMPORT: u64 = 256 * 1024 * 1024;
/// All static files of one theme together (each is also under [`MAX_STATIC`]).
pub const MAX_THEME: u64 = 256 * 1024 * 1024;
/// One field of an imported CSV row, and the lines one row may span.
pub const MAX_CSV_FIELD: usize = 1024 * 1024;
pub const MAX_CSV_ROW_LINES: u64 = 1_000;

/// Reads a regular file of at most `cap` bytes. A FIFO, device or folder is refused before it is
/// opened (opening a FIFO waits for a writer; `/dev/zero` never ends), and a larger file is
/// refused after `cap` bytes, so no input costs more than `cap` of memory.
pub fn read_bytes(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, ErrorKind};
    let len = ensure_regular(path)?;
    let file = std::fs::File::open(path)?;
    // Room for what the file holds (and the byte that tells it grew past the cap): read in one
    // go, not in growing steps.
    let mut bytes = Vec::with_capacity(usize::try_from(len.min(cap)).unwrap_or(0) + 1);
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("larger than {}: not read", size(cap)),
        ));
    }
    Ok(bytes)
}

/// Opens a regular file to read, refusing a FIFO, socket, device or folder first (see
/// [`read_bytes`]).
pub fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    ensure_regular(path)?;
    std::fs::File::open(path)
}

/// Refuses what is not a regular file (after following links): a FIFO, socket, device or folder.
/// Its size when it is one.
pub fn ensure_regular(path: &Path) -> std::io::Result<u64> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        Ok(meta.len())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a folder, FIFO or device): not read",
        ))
    }
}

fn size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{} MiB", bytes / (1024 * 1024))
    } else {
        format!("{} KiB", bytes / 1024)
    }
}

/// Reads a text file of at most `cap` bytes; a larger one is refused before it is read whole.
pub fn read_text(path: &Path, cap: u64) -> Result<String, InputError> {
    let err = |msg: String| InputError::new(Location::file(path), msg);
    let bytes = read_bytes(path, cap).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData if e.to_string().starts_with("larger") => err(format!(
            "larger than {}: not read (is this the right file?)",
            size(cap)
        )),
        _ => err(format!("cannot read: {e}")),
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = 1 + good.iter().filter(|b| **b == b'\n').count() as u64;
        InputError::new(
            Location::at_line(path, line),
            "not UTF-8 text: save the file as UTF-8",
        )
    })
}

/// Aliases (`*name`) a YAML text may use; files with any are limited to [`MAX_ALIASED_FILE`]
/// bytes, so expansion stays under a few MB (serde_yaml_ng counts jumps, not bytes).
pub const MAX_ALIASES: usize = 64;
pub const MAX_ALIASED_FILE: usize = 256 * 1024;
/// Nested block sequences on one line (`- - - x`) and indentation, which libyaml also pays for.
pub const MAX_INDENT: usize = 256;
/// Values (list items, mapping entries, collections) in one YAML text. Each costs a parsed value
/// a couple of hundred bytes whatever its size: 16 MiB of `[a,a,a,…]` (8 million) took 1.9 GB to
/// read, 1.9 million `{}` 542 MB; at this limit a text costs at most about 0.3 GB. A lead file
/// of 2,000 leads has about 60,000.
pub const MAX_VALUES: usize = 1_000_000;

/// Refuses YAML that would cost a parser far more than its size: `[`/`{` nesting deeper than
/// [`MAX_FLOW_DEPTH`], block nesting deeper than it (`- - -` on a line, or indentation past
/// [`MAX_INDENT`]), or aliases that could expand it (more than [`MAX_ALIASES`], or any in a
/// file over [`MAX_ALIASED_FILE`]), or more than [`MAX_VALUES`] values. Each refusal names the line. The scan follows YAML's
/// context: a bracket, quote or `*` counts only where a value can start (a `[` inside a plain
/// scalar such as `see [1]` is text), so real data is never refused by mistake.
pub fn check_yaml(text: &str, path: &Path) -> Result<(), InputError> {
    let refuse = |line: u64, msg: String| Err(InputError::new(Location::at_line(path, line), msg));
    let mut depth = 0usize;
    let mut line = 1u64;
    let mut quote: Option<u8> = None;
    let mut comment = false;
    // Where a new value may start: the line's start, after `: `, `- `, `? `, and in flow
    // context after `[`, `{` and `,`.
    let mut at_start = true;
    let mut indent = 0usize;
    let mut in_indent = true;
    let mut dashes = 0usize;
    let mut aliases = 0usize;
    let mut values = 0usize;
    let mut prev = b'\n';
    // Bytes: every character the scan looks at is ASCII, and a byte of a multi-byte character
    // is never one of them; blanks are YAML's (space, tab, line breaks), not Unicode's.
    let bytes = text.as_bytes();
    let blank = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        i += 1;
        // libyaml also ends a line at NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR (YAML 1.1):
        // read otherwise, a "comment" could hide a whole document from this scan.
        let unicode_break = if matches!(c, 0xC2 | 0xE2) {
            unicode_break_at(bytes, i - 1)
        } else {
            0
        };
        if unicode_break > 0 {
            i += unicode_break - 1;
        }
        if c == b'\n' || unicode_break > 0 {
            line += 1;
            comment = false;
            at_start = quote.is_none();
            in_indent = true;
            indent = 0;
            dashes = 0;
            prev = b'\n';
            continue;
        }
        if comment {
            // The rest of the line: straight to its end.
            i = line_end(bytes, i);
            continue;
        }
        if let Some(q) = quote {
            if q == b'"' && c == b'\\' {
                // An escaped character, unless it is the line's end (counted above).
                if bytes.get(i) != Some(&b'\n') {
                    i += 1;
                }
            } else if c == q {
                if q == b'\'' && bytes.get(i) == Some(&b'\'') {
                    i += 1;
                } else {
                    quote = None;
                    at_start = false;
                    continue;
                }
            }
            // Straight to the next byte that may end the quote or the line.
            while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\\' | b'"' | b'\'' | 0xC2 | 0xE2)
            {
                i += 1;
            }
            continue;
        }
        if in_indent {
            if c == b' ' {
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
        if PLAIN_OR_BLANK[usize::from(c)] {
            // A run of blanks and of bytes that start nothing (letters, digits, most punctuation,
            // the bytes of non-ASCII characters): what its last byte leaves counts (`#` after a
            // blank starts a comment), and a value has begun if any byte was not blank.
            let start = i - 1;
            while i < bytes.len() && PLAIN_OR_BLANK[usize::from(bytes[i])] {
                i += 1;
            }
            prev = bytes[i - 1];
            if at_start && bytes[start..i].iter().any(|&b| PLAIN[usize::from(b)]) {
                at_start = false;
            }
            continue;
        }
        let next_blank = bytes.get(i).is_none_or(|&n| blank(n));
        let after_blank = blank(prev);
        prev = c;
        // Where a value starts: after `,` in a flow collection, a `- ` or `? `, a `: `.
        if (c == b',' && depth > 0)
            || (matches!(c, b'-' | b'?') && at_start && depth == 0 && next_blank)
            || (c == b':' && next_blank)
        {
            one_more_value(&mut values, path, line)?;
        }
        match c {
            // An anchor (`&name`) or a tag (`!!seq`) comes before the value it marks: the value
            // may still start after it (`&a [ …` is a flow sequence, its `*a` aliases).
            b'&' | b'!' if at_start => {
                while let Some(&n) = bytes.get(i) {
                    if blank(n) || matches!(n, b',' | b'[' | b']' | b'{' | b'}') {
                        break;
                    }
                    i += 1;
                }
            }
            b'#' if after_blank => comment = true,
            b'"' | b'\'' if at_start => quote = Some(c),
            b'[' | b'{' if at_start || depth > 0 => {
                // A collection is a value too (`[[[]]]`, `[{},{}]`): counted as it opens.
                one_more_value(&mut values, path, line)?;
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return refuse(
                        line,
                        format!("nested deeper than {MAX_FLOW_DEPTH} levels of [ and {{: not read"),
                    );
                }
                at_start = true;
            }
            b']' | b'}' if depth > 0 => {
                depth -= 1;
                at_start = false;
            }
            b',' if depth > 0 => at_start = true,
            b'-' | b'?' if at_start && depth == 0 && next_blank => {
                dashes += 1;
                if dashes > MAX_FLOW_DEPTH {
                    return refuse(
                        line,
                        format!(
                            "nested deeper than {MAX_FLOW_DEPTH} levels of - or ? on one line: not read"
                        ),
                    );
                }
            }
            b':' if next_blank => at_start = true,
            b'*' if at_start => {
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
    // The scan cannot follow every context of YAML (a `---` before a value, a quote in a block
    // scalar, an alias after a JSON-style key): a text that could hide depth or aliases from
    // it is read once more as the parser sees it.
    // An alias can only repeat what an anchor (`&name`) marked: a text with no anchor has none
    // to expand (a `*` in Markdown, `*bold*`, costs no second reading).
    // `[` (0x5B) and `{` (0x7B) are the two bytes that are `{` with bit 0x20 set: a test the
    // compiler turns into vector instructions.
    let brackets: usize = text.bytes().map(|b| usize::from(b | 0x20 == b'{')).sum();
    if (text.contains('*') && has_anchor(text)) || brackets > MAX_FLOW_DEPTH {
        return check_yaml_events(text, path, aliases);
    }
    Ok(())
}

/// The length of the line break libyaml reads at `at` beyond `\n` and `\r`: NEL (U+0085),
/// LINE SEPARATOR (U+2028), PARAGRAPH SEPARATOR (U+2029); 0 when there is none.
fn unicode_break_at(bytes: &[u8], at: usize) -> usize {
    match bytes.get(at..at + 3) {
        Some([0xE2, 0x80, 0xA8 | 0xA9]) => 3,
        _ if bytes.get(at..at + 2) == Some(&[0xC2, 0x85]) => 2,
        _ => 0,
    }
}

/// The bytes [`check_yaml`]'s scan passes over: all but blanks and the characters that may start,
/// end or mark something in YAML.
const PLAIN: [bool; 256] = {
    let mut plain = [true; 256];
    // 0xC2 and 0xE2 start the Unicode line breaks (see `unicode_break_at`).
    let special = b" \t\r\n,-?:&!#\"'[]{}*\xC2\xE2";
    let mut i = 0;
    while i < special.len() {
        plain[special[i] as usize] = false;
        i += 1;
    }
    plain
};

/// [`PLAIN`] and the blanks inside a line (space, tab).
const PLAIN_OR_BLANK: [bool; 256] = {
    let mut table = PLAIN;
    table[b' ' as usize] = true;
    table[b'\t' as usize] = true;
    table
};

/// Where the line that `at` is in ends: at its `\n` or Unicode line break, or the text's end.
fn line_end(bytes: &[u8], mut at: usize) -> usize {
    loop {
        while at < bytes.len() && !matches!(bytes[at], b'\n' | 0xC2 | 0xE2) {
            at += 1;
        }
        if at < bytes.len() && bytes[at] != b'\n' && unicode_break_at(bytes, at) == 0 {
            at += 1;
            continue;
        }
        return at;
    }
}

/// Whether `text` may hold an anchor: an `&` followed by a character an anchor's name may
/// start with (not blank, not a flow indicator). "Smith & Sons" holds none; "R&D" is read as if
/// it might.
fn has_anchor(text: &str) -> bool {
    let bytes = text.as_bytes();
    // `match_indices` of a char looks for it with memchr, not byte by byte.
    text.match_indices('&').any(|(at, _)| {
        bytes.get(at + 1).is_some_and(|&n| {
            !n.is_ascii_whitespace() && !matches!(n, b',' | b'[' | b']' | b'{' | b'}')
        })
    })
}

/// Counts one more value of a text; past [`MAX_VALUES`], the text is refused at `line`.
fn one_more_value(values: &mut usize, path: &Path, line: u64) -> Result<(), InputError> {
    *values += 1;
    if *values > MAX_VALUES {
        return Err(InputError::new(
            Location::at_line(path, line),
            format!("more than {MAX_VALUES} values: not read (split it into several files)"),
        ));
    }
    Ok(())
}

/// Nodes that aliases may add to a YAML text, each alias counting as the whole node it repeats
/// (its own aliases included, a value weighing one node for each 64 bytes begun): a few merge
/// keys add dozens; a "billion laughs" adds billions.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// The structure of a YAML text as its parser produces it, event by event, stopped at the
/// first collection nested deeper than [`MAX_FLOW_DEPTH`] or once aliases would add more than
/// [`MAX_ALIAS_NODES`] nodes. A text the parser cannot read is left to serde_yaml_ng, which
/// says where.
fn check_yaml_events(text: &str, path: &Path, aliases: usize) -> Result<(), InputError> {
    use yaml_rust2::parser::{Event, Parser};
    // This parser ends lines at `\n` and `\r` only; libyaml at NEL, LS and PS too. It reads
    // the text as libyaml will.
    let text: std::borrow::Cow<str> = if text.contains(['\u{85}', '\u{2028}', '\u{2029}']) {
        text.replace(['\u{85}', '\u{2028}', '\u{2029}'], "\n")
            .into()
    } else {
        text.into()
    };
    let text = text.as_ref();
    let refuse =
        |line: usize, msg: String| Err(InputError::new(Location::at_line(path, line as u64), msg));
    let mut parser = Parser::new_from_str(text);
    // Each anchor's size in nodes; the open collections with their anchor and size so far.
    let mut sizes: std::collections::HashMap<usize, usize> = Default::default();
    let mut open: Vec<(usize, usize)> = Vec::new();
    let mut added = 0usize;
    loop {
        let (event, mark) = match parser.next_token() {
            Ok(next) => next,
            // Its own bound on nesting, met before the events of the levels below it.
            Err(e) if e.info().contains("recursion limit") => {
                return refuse(
                    e.marker().line(),
                    format!("nested deeper than {MAX_FLOW_DEPTH} levels: not read"),
                );
            }
            // A text this parser cannot read is read by serde_yaml_ng's (libyaml) all the same,
            // which may accept it (a tab after `key:`): with aliases in it, what they expand to
            // cannot be known, so it is not read.
            // The error is named where the parser met it; a `*` that is no alias (in a quoted
            // text) cannot be told from a hidden one in a text the parser cannot read.
            Err(e) if text.contains('*') => {
                let at = e.marker();
                let mut location = Location::at_line(path, at.line() as u64);
                location.column = Some(at.col() as u64 + 1);
                let alias = if aliases > 0 {
                    "with aliases (*name)"
                } else {
                    "with a `*` (which may be an alias)"
                };
                return Err(InputError::new(
                    location,
                    format!(
                        "{}: not read (YAML {alias} that leadsite's guard cannot read is not handed on; fix this error)",
                        e.info()
                    ),
                ));
            }
            Err(_) => return Ok(()),
        };
        let done = match event {
            Event::StreamEnd => return Ok(()),
            // A value weighs its size: one node a 64 bytes begun, so that an alias of a long
            // text repeats its bytes, not one node.
            Event::Scalar(text, _, anchor, _) => Some((anchor, 1 + text.len() / 64)),
            Event::Alias(id) => {
                let n = sizes.get(&id).copied().unwrap_or(1);
                added = added.saturating_add(n);
                if added > MAX_ALIAS_NODES {
                    return refuse(
                        mark.line(),
                        format!(
                            "aliases (*name) that repeat more than {MAX_ALIAS_NODES} values: not read"
                        ),
                    );
                }
                Some((0, n))
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                open.push((anchor, 1));
                if open.len() > MAX_FLOW_DEPTH {
                    return refuse(
                        mark.line(),
                        format!("nested deeper than {MAX_FLOW_DEPTH} levels: not read"),
                    );
                }
                None
            }
            Event::SequenceEnd | Event::MappingEnd => open.pop(),
            _ => None,
        };
        if let Some((anchor, size)) = done {
            if anchor > 0 {
                sizes.insert(anchor, size);
            }
            if let Some(parent) = open.last_mut() {
                parent.1 = parent.1.saturating_add(size);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the context scan could not see: an alias chain within the alias count, a `---`
    /// before the value, a quote at the start of a block scalar's line, an alias after a
    /// JSON-style key. Each is refused at once.
    #[test]
    fn what_the_scan_misses_the_parser_events_catch() {
        let p = Path::new("leads/x.yaml");
        let mut chain = format!("a0: &a0 [{}]\n", vec!["1"; 2000].join(","));
        for n in 1..=32 {
            chain.push_str(&format!("a{n}: &a{n} [*a{}, *a{}]\n", n - 1, n - 1));
        }
        let block_quote = format!("about: |\n  \"open quote\nz: {}\n", "[".repeat(100_000));
        let doc_start = format!("--- {}\n", "[".repeat(100_000));
        let mut json_keys = String::from("a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8]\nz: {");
        for n in 1..40 {
            json_keys.push_str(&format!(
                "\"k{n}\":&a{n} {{\"x\":*a{}, \"y\":*a{}}}, ",
                n - 1,
                n - 1
            ));
        }
        json_keys.push_str("\"end\": 1}\n");
        let chain_text = chain.clone();
        for (name, text) in [
            ("chain", chain),
            ("block quote", block_quote),
            ("document start", doc_start),
            ("json keys", json_keys),
        ] {
            let start = std::time::Instant::now();
            let e = check_yaml(&text, p).expect_err(name);
            assert!(e.location.line.is_some(), "{name}: {e}");
            assert!(
                start.elapsed().as_secs_f64() < 1.0,
                "{name}: {:?}",
                start.elapsed()
            );
        }
        // What the guard's parser cannot read, with aliases in it, is not handed to another
        // parser (libyaml takes a tab after `key:`; the chain then expands).
        let tabbed = format!("x:\t1\n{chain_text}");
        assert!(check_yaml(&tabbed, p).is_err());
        // A `*` in a quoted text is no alias: the error is the parser's own, where it met it.
        let e = check_yaml("name: &n A\nstar: \"*x\"\nx: [\n", p).unwrap_err();
        assert_eq!(
            (e.location.line, e.location.column),
            (Some(4), Some(1)),
            "{e}"
        );
        assert!(!e.message.contains("with aliases"), "{e}");
        // Aliases of one long text weigh its bytes: 14 doublings of 240 KB.
        let mut long = format!("a0: &a0 \"{}\"\n", "x".repeat(240_000));
        for n in 1..=14 {
            long.push_str(&format!("a{n}: &a{n} [*a{}, *a{}]\n", n - 1, n - 1));
        }
        assert!(check_yaml(&long, p).is_err());
        // A few merge keys and aliases, as people write them, pass.
        let fine = "defaults: &d {city: Springfield, region: IL}\na: {<<: *d, name: A}\nb: {<<: *d, name: B}\nrating: 4.5 *stars*\n";
        check_yaml(fine, p).unwrap();
        // With no anchor there is nothing to repeat: a `*` alone costs no second reading, and
        // a text broken elsewhere is left to the parser that reads it (which names the error).
        check_yaml("name: A & Sons\nabout: \"*bold* and **more**\"\nx: [\n", p).unwrap();
        assert!(!has_anchor("a: Smith & Sons\nb: [a, &]\n"));
        assert!(has_anchor("a: R&D\n") && has_anchor("a: &x 1\n"));
        // NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR end a line for libyaml: a comment
        // does not hide what follows them.
        for brk in ['\u{85}', '\u{2028}', '\u{2029}'] {
            let deep = format!("# x{brk}a: {}\n", "[".repeat(100));
            assert!(check_yaml(&deep, p).is_err(), "{brk:?}");
            let mut bomb = format!("# x{brk}a: &a [x, x, x, x, x, x, x, x, x, x]{brk}");
            for n in 1..=9 {
                bomb.push_str(&format!(
                    "a{n}: &a{n} [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]{brk}"
                ));
                bomb = bomb.replace(
                    &format!("a{n}: &a{n} [*a,"),
                    &format!("a{n}: &a{n} [*a{},", n - 1),
                );
            }
            assert!(check_yaml(&bomb, p).is_err(), "{brk:?}");
        }
        assert!(check_yaml("about: \"caf\u{e9} \u{2014} ok\"\n", p).is_ok());
        // Plain runs are skipped, not missed: what follows them still counts.
        assert!(check_yaml(&format!("a: x{}\n", "[".repeat(70)), p).is_ok());
        let deep = format!("a: {}\n", "[".repeat(70));
        assert!(check_yaml(&deep, p).is_err());
        let aliases = format!("a: &a x\nb: [{}]\n", vec!["*a"; MAX_ALIASES + 1].join(", "));
        assert!(check_yaml(&aliases, p).is_err());
    }

    #[test]
    fn a_text_of_millions_of_values_is_refused_before_it_is_parsed() {
        let p = Path::new("leads/x.yaml");
        let many = format!("name: x\nx: [{}a]\n", "a,".repeat(MAX_VALUES));
        let e = check_yaml(&many, p).unwrap_err();
        assert_eq!(e.location.line, Some(2), "{e}");
        assert!(e.message.contains("values"), "{e}");
        let block = format!("name: x\nx:\n{}", "- a\n".repeat(MAX_VALUES + 1));
        assert!(check_yaml(&block, p).is_err());
        // Far below the limit: the example leads, a big list file.
        let fine = format!("x: [{}a]\n", "a,".repeat(100_000));
        check_yaml(&fine, p).unwrap();
        // Collections count: nested lists with no comma between levels.
        let nested = format!("x: [{}]\n", "[[]]".repeat(MAX_VALUES / 2 + 1));
        assert!(check_yaml(&nested, p).is_err());
        let maps = format!("x: [{}{{}}]\n", "{},".repeat(MAX_VALUES / 2 + 1));
        assert!(check_yaml(&maps, p).is_err());
    }

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
        // An anchor or a tag before a bracket does not hide it (an adversarial pass got an
        // alias bomb and 100,000 `[` past the guard so).
        for prefix in ["&a ", "!!seq ", "&a !!seq "] {
            let deep = format!("z: {prefix}{}\n", "[".repeat(100_000));
            assert!(check_yaml(&deep, p).is_err(), "{prefix}");
        }
        let bomb = format!(
            "big: &a [{}]\nmore: &b [{}]\n",
            vec!["1"; 1000].join(","),
            vec!["*a"; 100].join(",")
        );
        assert!(check_yaml(&bomb, p)
            .unwrap_err()
            .to_string()
            .contains("aliases"));
        // Anchors and tags on real values are fine; a `!` or `&` inside text is text.
        check_yaml("a: &x [1, 2]\nb: !!str 12\nc: Tom & Jerry!\n", p).unwrap();
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
