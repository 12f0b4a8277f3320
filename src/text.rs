//! Text as leadsite shows it: hidden characters removed, white space folded, cut at a character
//! boundary, made a slug or escaped for HTML. Pure functions at the bottom of the crate: every
//! layer may use them.

/// Characters that must never reach a page: control characters (NUL …), bidirectional
/// overrides and isolates (an unclosed U+202E mirrors the rest of the sentence it is in) and
/// other invisible format characters.
fn is_hidden(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r');
    }
    // Every control character but tab and line breaks (U+000B and U+0085 included: HTML forbids
    // them), noncharacters, tag characters, and the invisible format characters that are not
    // joiners (U+200C/U+200D shape emoji and Persian words).
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r' | ' '))
        || matches!(c,
            '\u{200b}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}' | '\u{061c}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}'
            | '\u{fdd0}'..='\u{fdef}' | '\u{e0000}'..='\u{e007f}')
        || (c as u32 & 0xfffe) == 0xfffe
}

/// `text` cut to at most `max` bytes, at a character boundary.
pub fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Whether [`clean_text`] leaves `s` as it is (checked without building a new string).
pub fn is_clean_text(s: &str) -> bool {
    s.trim().len() == s.len()
        && !s.contains("  ")
        && !s
            .chars()
            .any(|c| is_hidden(c) || (c.is_whitespace() && c != ' '))
}

/// Whether [`clean_lines`] leaves `s` as it is.
pub fn is_clean_lines(s: &str) -> bool {
    !s.contains('\r') && !s.chars().any(is_hidden)
}

/// One line of text from data: hidden characters removed, white space folded.
pub fn clean_text(s: &str) -> String {
    if !s.chars().any(is_hidden) {
        if !s.contains(|c: char| c.is_whitespace() && c != ' ')
            && !s.contains("  ")
            && s.trim().len() == s.len()
        {
            return s.to_string();
        }
        return collapse_ws(s);
    }
    collapse_ws(&s.chars().filter(|c| !is_hidden(*c)).collect::<String>())
}

/// Text of several lines from data: hidden characters removed, line breaks kept.
pub fn clean_lines(s: &str) -> String {
    if !s.contains('\r') && !s.chars().any(is_hidden) {
        return s.to_string();
    }
    s.replace("\r\n", "\n")
        .chars()
        .filter(|c| *c == '\n' || *c == '\t' || !is_hidden(*c))
        .collect()
}

/// Trims and folds runs of white space into one space.
pub fn collapse_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// A URL-safe slug: ASCII, lower-case, `[a-z0-9-]`.
pub fn slug(s: &str) -> String {
    let ascii = deunicode::deunicode(s)
        .to_lowercase()
        .replace(['\'', '’'], "");
    let mut out = String::with_capacity(ascii.len());
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Bytes as lower-case hex (digests, signatures, tokens).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// Hex to bytes; `None` unless it is pairs of hex digits, at least one.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok())
        .collect()
}

/// Adds `value` to `list` unless it is empty or there already.
pub fn push_unique(list: &mut Vec<String>, value: &str) {
    if !value.is_empty() && !list.iter().any(|v| v == value) {
        list.push(value.to_string());
    }
}

/// Escapes text for HTML content and quoted attribute values. Unlike Tera's default it leaves
/// `/` alone, so URLs stay readable.
pub fn escape_html(input: &str) -> String {
    let mut out = String::with_capacity(input.len() + 8);
    // The text between the characters to escape is copied in runs (every page's every value
    // goes through here).
    let mut from = 0;
    for (i, b) in input.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&input[from..i]);
        out.push_str(entity);
        from = i + 1;
    }
    out.push_str(&input[from..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped_around_any_text() {
        assert_eq!(
            escape_html("Tom & Jerry's <b>\"Café\"</b>"),
            "Tom &amp; Jerry&#39;s &lt;b&gt;&quot;Café&quot;&lt;/b&gt;"
        );
        assert_eq!(escape_html(""), "");
        assert_eq!(escape_html("Καφέ"), "Καφέ");
        assert_eq!(escape_html("&"), "&amp;");
    }

    #[test]
    fn hidden_characters_never_reach_a_page() {
        assert_eq!(
            clean_text("Bob\u{202e}s \0Diner\u{2066}\u{feff}  x"),
            "Bobs Diner x"
        );
        assert_eq!(clean_lines("a\r\nb\u{202e}\0"), "a\nb");
        assert_eq!(
            clean_lines("A\u{b}B\u{85}C\u{fdd0}\u{fffe}\u{e0041}"),
            "ABC"
        );
        assert_eq!(
            clean_text("Chef \u{1f468}\u{200d}\u{1f373}"),
            "Chef \u{1f468}\u{200d}\u{1f373}"
        );
        assert_eq!(clean_text("Καφενείο  Ωραίο"), "Καφενείο Ωραίο");
        for sample in [
            "ok",
            " lead",
            "two  spaces",
            "tab\there",
            "Bob\u{202e}s",
            "Ωραίο",
            "a\u{85}b",
            "",
        ] {
            assert_eq!(
                is_clean_text(sample),
                clean_text(sample) == sample,
                "{sample:?}"
            );
            assert_eq!(
                is_clean_lines(sample),
                clean_lines(sample) == sample,
                "{sample:?}"
            );
        }
    }
}
