//! Comments written by hand in a lead file, carried over when leadsite rewrites the file (an
//! `ingest` row merged into a hand-kept lead). A lead is rewritten from its fields, which hold
//! no comments; here each block of whole-line comments goes back before the field it stood
//! before (found by its path: document, list item, keys), a comment at the end of a one-line
//! plain value (`phone: 555 0143  # the office`) back at the end of that field's line, and the
//! comments after a document's last field at that document's end. A comment whose field is gone
//! goes before the next field that is still there.
//!
//! Never at the cost of the data: the result must read as exactly the same YAML as the text
//! without comments, else the text without comments is written (as before).

use std::collections::HashMap;

use serde::Deserialize;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

/// A mapping key of a text: its path, its line (0-based) and column, and where a one-line plain
/// value on the same line ends (a column), if it has one.
struct Key {
    path: String,
    line: usize,
    col: usize,
    plain_end: Option<usize>,
}

/// What a walk of a text's events found.
struct Shape {
    keys: Vec<Key>,
    /// Lines that are part of a value (a block scalar's lines, a quoted value's later lines):
    /// a `#` there is text, not a comment.
    content: Vec<bool>,
    /// Per document, the line of its `---` (or its first line).
    docs: Vec<usize>,
}

enum Frame {
    Map {
        path: String,
        /// The key read last and whether a value is awaited for it.
        key: Option<(String, usize)>,
        awaiting_value: bool,
    },
    Seq {
        path: String,
        index: usize,
    },
}

/// A scalar whose extent is known only when the next event starts.
enum Open {
    /// A block scalar (`|`, `>`) whose key is at this column.
    Block { key_col: usize, from: usize },
    /// A quoted scalar that starts on this line.
    /// A quoted scalar whose first line is `from - 1`, its last line `to` (past the last line
    /// of the text: until the next event).
    Quoted { from: usize, to: usize },
}

fn walk(text: &str) -> Option<Shape> {
    let mut w = Walk {
        src: text.lines().collect(),
        shape: Shape {
            keys: Vec::new(),
            content: vec![false; text.lines().count() + 1],
            docs: Vec::new(),
        },
        stack: Vec::new(),
        open: None,
    };
    let mut parser = Parser::new_from_str(text);
    loop {
        let (event, mark) = parser.next_token().ok()?;
        let line = mark.line().saturating_sub(1);
        // The scalar before this event ends where this event starts.
        w.close_scalar(line);
        let node = matches!(
            event,
            Event::Scalar(..)
                | Event::Alias(_)
                | Event::MappingStart(..)
                | Event::SequenceStart(..)
        );
        let (is_key, path) = if node {
            w.node_path()
        } else {
            (false, String::new())
        };
        if node && matches!(w.stack.last(), Some(Frame::Seq { .. })) {
            w.list_item(&event, line, mark.col(), &path);
        }
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart => w.shape.docs.push(line),
            Event::Scalar(value, _, _, _) if is_key => w.key(&value, line, mark.col()),
            Event::Scalar(value, style, _, _) => {
                w.value(&value, style, line, mark.col());
                done(&mut w.stack);
            }
            // A key that is not a scalar: its comments cannot be placed.
            Event::Alias(_) | Event::MappingStart(..) | Event::SequenceStart(..) if is_key => {
                return None
            }
            Event::Alias(_) => done(&mut w.stack),
            Event::MappingStart(..) => w.stack.push(Frame::Map {
                path,
                key: None,
                awaiting_value: false,
            }),
            Event::SequenceStart(..) => w.stack.push(Frame::Seq { path, index: 0 }),
            Event::MappingEnd | Event::SequenceEnd => {
                w.stack.pop();
                done(&mut w.stack);
            }
            _ => {}
        }
    }
    Some(w.shape)
}

/// A walk over a text's events: what it found so far, where it is, and the scalar whose end
/// is not known yet.
struct Walk<'a> {
    src: Vec<&'a str>,
    shape: Shape,
    stack: Vec<Frame>,
    open: Option<Open>,
}

impl Walk<'_> {
    /// Marks the lines of the scalar still open, which ends where the event at `line` starts,
    /// as content.
    fn close_scalar(&mut self, line: usize) {
        let lines = self.src.len();
        match self.open.take() {
            Some(Open::Block { key_col, from }) => {
                let end = line.min(lines).max(from);
                // Its text is indented as its first line that is not blank; a line indented
                // less (a comment after it) ends it.
                let mut text_col: Option<usize> = None;
                for (l, t) in self.src[from.min(end)..end].iter().enumerate() {
                    let indent = t.len() - t.trim_start().len();
                    if !t.trim().is_empty() {
                        let col = *text_col.get_or_insert(indent);
                        if indent <= key_col || indent < col {
                            break;
                        }
                    }
                    self.shape.content[from + l] = true;
                }
            }
            Some(Open::Quoted { from, to }) => {
                let end = line.min(lines).min(to.saturating_add(1));
                for seen in self.shape.content.iter_mut().take(end).skip(from) {
                    *seen = true;
                }
            }
            None => {}
        }
    }

    /// The path of the node the next event starts, and whether it is a mapping key.
    fn node_path(&self) -> (bool, String) {
        match self.stack.last() {
            Some(Frame::Map {
                path: p,
                key,
                awaiting_value,
            }) => {
                if *awaiting_value {
                    let path = key
                        .as_ref()
                        .map_or_else(|| format!("{p}/?"), |k| k.0.clone());
                    (false, path)
                } else {
                    (true, format!("{p}/?"))
                }
            }
            Some(Frame::Seq { path: p, index }) => (false, format!("{p}/[{index}]")),
            None => (
                false,
                format!("{}", self.shape.docs.len().saturating_sub(1)),
            ),
        }
    }

    /// A list item is an anchor too: a comment before it goes back before it, one after its
    /// one-line plain value back after it; its text lines are not comments.
    fn list_item(&mut self, event: &Event, line: usize, col: usize, path: &str) {
        let mut plain_end = None;
        let mut item_line = line;
        if let Event::Scalar(value, style, _, _) = event {
            match style {
                TScalarStyle::Plain if !value.contains('\n') => {
                    plain_end = Some(col + value.chars().count());
                }
                // The mark is at the first line of text; the item (`- |`) is the first line
                // above it that is not blank.
                TScalarStyle::Literal | TScalarStyle::Folded => {
                    item_line = (0..line)
                        .rev()
                        .find(|&l| self.src.get(l).is_some_and(|t| !t.trim().is_empty()))
                        .unwrap_or(line);
                    self.open = Some(Open::Block {
                        key_col: col.saturating_sub(1),
                        from: item_line + 1,
                    });
                }
                TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
                    self.open = Some(Open::Quoted {
                        from: line + 1,
                        to: quoted_end(&self.src, line, col),
                    });
                }
                _ => {}
            }
        }
        self.shape.keys.push(Key {
            path: path.to_string(),
            line: item_line,
            col,
            plain_end,
        });
    }

    /// A mapping key read: its path is an anchor, and a value is awaited for it.
    fn key(&mut self, value: &str, line: usize, col: usize) {
        if let Some(Frame::Map {
            path: p,
            key,
            awaiting_value,
        }) = self.stack.last_mut()
        {
            let kpath = format!("{p}/{}", value.replace('/', "//"));
            self.shape.keys.push(Key {
                path: kpath.clone(),
                line,
                col,
                plain_end: None,
            });
            *key = Some((kpath, self.shape.keys.len() - 1));
            *awaiting_value = true;
        }
    }

    /// A mapping value read: where it ends on a one-line plain scalar; what lines it spans.
    fn value(&mut self, value: &str, style: TScalarStyle, line: usize, col: usize) {
        let Some(Frame::Map {
            key: Some((_, at)), ..
        }) = self.stack.last()
        else {
            return;
        };
        let k = &mut self.shape.keys[*at];
        match style {
            TScalarStyle::Plain if k.line == line && !value.contains('\n') => {
                k.plain_end = Some(col + value.chars().count());
            }
            TScalarStyle::Literal | TScalarStyle::Folded => {
                // Its lines start below its key's (the scalar's own mark may be at its first
                // line of text).
                self.open = Some(Open::Block {
                    key_col: k.col,
                    from: k.line + 1,
                });
            }
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
                self.open = Some(Open::Quoted {
                    from: line + 1,
                    to: quoted_end(&self.src, line, col),
                });
            }
            _ => {}
        }
    }
}

/// The line where a quoted scalar that opens at `line`, char `col`, closes: a comment on a line
/// after it is a comment, not text. Past the text when it cannot be told (the scalar runs to the
/// next event, as before).
fn quoted_end(src: &[&str], line: usize, col: usize) -> usize {
    let unknown = usize::MAX;
    let Some(first) = src.get(line) else {
        return unknown;
    };
    let mut chars = first.chars().skip(col);
    let Some(quote @ ('"' | '\'')) = chars.next() else {
        return unknown;
    };
    let mut at = line;
    let mut rest: Box<dyn Iterator<Item = char> + '_> = Box::new(chars);
    loop {
        let mut escaped = false;
        let mut pending_quote = false;
        for c in rest.by_ref() {
            if pending_quote {
                // In a single-quoted scalar `''` is a quote; anything else after one ends it.
                if c == '\'' {
                    pending_quote = false;
                    continue;
                }
                return at;
            }
            if escaped {
                escaped = false;
            } else if quote == '"' && c == '\\' {
                escaped = true;
            } else if c == quote {
                if quote == '"' {
                    return at;
                }
                pending_quote = true;
            }
        }
        if pending_quote {
            return at;
        }
        at += 1;
        match src.get(at) {
            Some(next) => rest = Box::new(next.chars()),
            None => return unknown,
        }
    }
}

/// A node below the top frame is complete: the frame moves on.
fn done(stack: &mut [Frame]) {
    match stack.last_mut() {
        Some(Frame::Map { awaiting_value, .. }) => *awaiting_value = false,
        Some(Frame::Seq { index, .. }) => *index += 1,
        None => {}
    }
}

/// The end-of-line comment after a one-line plain value, with the spaces before it.
fn line_comment(line: &str, plain_end: usize) -> Option<&str> {
    let at = line.char_indices().nth(plain_end).map(|(i, _)| i)?;
    let rest = &line[at..];
    (rest.trim_start().starts_with('#') && rest.starts_with([' ', '\t'])).then_some(rest)
}

/// `new` (a lead file as leadsite writes it) with the comments of `old` (the file it replaces).
pub fn carry(old: &str, new: &str) -> String {
    match try_carry(old, new) {
        Some(text) if same_yaml(&text, new) => text,
        _ => new.to_string(),
    }
}

fn try_carry(old: &str, new: &str) -> Option<String> {
    if !old.contains('#') {
        return None;
    }
    let old = old.strip_prefix('\u{feff}').unwrap_or(old);
    // A lone CR ends a line for the YAML parser, not for `lines()`: the lines would not match.
    let lone_cr = |t: &str| t.replace("\r\n", "\n").contains('\r');
    if lone_cr(old) || lone_cr(new) {
        return None;
    }
    let before = walk(old)?;
    let after = walk(new)?;
    let old_lines: Vec<&str> = old.lines().collect();
    // Whole-line comment blocks, each with the key (index into `before.keys`) it stands before,
    // or the document it ends.
    let mut pending: Vec<&str> = Vec::new();
    let mut blocks: Vec<(Result<usize, usize>, Vec<&str>)> = Vec::new();
    let mut next_key = 0;
    let mut doc = 0;
    for (i, line) in old_lines.iter().enumerate() {
        while doc + 1 < before.docs.len() && before.docs[doc + 1] <= i {
            if !pending.is_empty() {
                blocks.push((Err(doc), std::mem::take(&mut pending)));
            }
            doc += 1;
        }
        while next_key < before.keys.len() && before.keys[next_key].line < i {
            next_key += 1;
        }
        if line.trim_start().starts_with('#') && !before.content[i] {
            pending.push(line);
        } else if !pending.is_empty()
            && next_key < before.keys.len()
            && before.keys[next_key].line == i
        {
            blocks.push((Ok(next_key), std::mem::take(&mut pending)));
        }
    }
    if !pending.is_empty() {
        blocks.push((Err(before.docs.len().saturating_sub(1)), pending));
    }
    let tails: HashMap<&str, &str> = before
        .keys
        .iter()
        .filter_map(|k| {
            Some((
                k.path.as_str(),
                line_comment(old_lines.get(k.line)?, k.plain_end?)?,
            ))
        })
        .collect();
    if blocks.is_empty() && tails.is_empty() {
        return None;
    }
    // Where each path starts in the new text; a comment whose key is gone goes to the next key
    // of the old text that is still there, else to its document's end.
    let new_line: HashMap<&str, usize> = after
        .keys
        .iter()
        .map(|k| (k.path.as_str(), k.line))
        .collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let mut before_line: HashMap<usize, Vec<&str>> = HashMap::new();
    let mut at_end: Vec<&str> = Vec::new();
    for (anchor, lines) in blocks {
        let target = match anchor {
            Ok(k) => before.keys[k..]
                .iter()
                .find_map(|key| new_line.get(key.path.as_str()).copied()),
            Err(d) => after.docs.get(d + 1).copied(),
        };
        match target {
            Some(line) => before_line.entry(line).or_default().extend(lines),
            None => at_end.extend(lines),
        }
    }
    let mut tail_at: HashMap<usize, &str> = HashMap::new();
    for k in &after.keys {
        if let (Some(c), Some(_)) = (tails.get(k.path.as_str()), k.plain_end) {
            tail_at.insert(k.line, c);
        }
    }
    let mut out = String::with_capacity(new.len() + old.len() / 4);
    for (i, line) in new_lines.iter().enumerate() {
        // A comment takes the indentation of the line it goes before: where leadsite indents
        // differently (a block scalar's text), one at its old indentation could fall into it.
        let indent = &line[..line.len() - line.trim_start().len()];
        for c in before_line.get(&i).into_iter().flatten() {
            out.push_str(indent);
            out.push_str(c.trim_start());
            out.push('\n');
        }
        out.push_str(line);
        if let Some(c) = tail_at.get(&i) {
            out.push_str(c);
        }
        out.push('\n');
    }
    for c in at_end {
        out.push_str(c.trim_start());
        out.push('\n');
    }
    Some(out)
}

/// Whether two texts read as the same YAML documents.
fn same_yaml(a: &str, b: &str) -> bool {
    let docs = |t: &str| -> Option<Vec<serde_yaml_ng::Value>> {
        serde_yaml_ng::Deserializer::from_str(t)
            .map(serde_yaml_ng::Value::deserialize)
            .collect::<Result<_, _>>()
            .ok()
    };
    matches!((docs(a), docs(b)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_blocks_go_back_before_their_fields_and_line_comments_after_their_values() {
        let old = "# Kept by hand: call before noon.\ndedup_key: a\nname: A\n\n# the office line\nphone: 555 0143  # ask for Ana\nnote: |\n  # not a comment\n  text\n# last words\n";
        let new = "dedup_key: a\nname: A\nphone: '+15550143'\nnote: |\n  # not a comment\n  text\nwebsite: https://a.example/\n";
        let out = carry(old, new);
        assert_eq!(
            out,
            "# Kept by hand: call before noon.\ndedup_key: a\nname: A\n# the office line\nphone: '+15550143'\nnote: |\n  # not a comment\n  text\nwebsite: https://a.example/\n# last words\n"
        );
    }

    #[test]
    fn a_plain_value_keeps_its_line_comment() {
        let old = "dedup_key: a\nname: A  # the sign says A\n";
        let new = "dedup_key: a\nname: A\nphone: '+15550143'\n";
        assert_eq!(
            carry(old, new),
            "dedup_key: a\nname: A  # the sign says A\nphone: '+15550143'\n"
        );
    }

    #[test]
    fn comments_of_a_removed_field_go_before_the_next_one_and_list_items_keep_theirs() {
        let old = "- dedup_key: a\n  name: A\n  # old number\n  fax: 1\n  city: X\n# second\n- dedup_key: b\n  name: B\n";
        let new = "- dedup_key: a\n  name: A\n  city: X\n- dedup_key: b\n  name: B\n";
        assert_eq!(
            carry(old, new),
            "- dedup_key: a\n  name: A\n  # old number\n  city: X\n# second\n- dedup_key: b\n  name: B\n"
        );
    }

    #[test]
    fn documents_keep_their_comments_and_the_data_is_never_changed() {
        let old = "dedup_key: a\nname: A\n# end of a\n---\n# b's\ndedup_key: b\nname: B\n";
        let new = "dedup_key: a\nname: A\n---\ndedup_key: b\nname: B\n";
        assert_eq!(
            carry(old, new),
            "dedup_key: a\nname: A\n# end of a\n---\n# b's\ndedup_key: b\nname: B\n"
        );
        // Text that only looks like a comment inside a quoted value is never taken for one.
        let old = "dedup_key: a\nname: \"A\n# B\"\n";
        let new = "dedup_key: a\nname: A B\n";
        assert_eq!(carry(old, new), new);
    }

    #[test]
    fn comments_between_list_items_stay_with_their_items() {
        let old = "name: A\nservices:\n- key cutting\n# weekends only\n- locksmith  # call Bob\n- |\n  # text, not a comment\n  more\nroute: TARGET\n";
        let new = "name: A\nservices:\n- key cutting\n- locksmith\n- |\n  # text, not a comment\n  more\nroute: NURTURE\nemail: a@a.example\n";
        assert_eq!(
            carry(old, new),
            "name: A\nservices:\n- key cutting\n# weekends only\n- locksmith  # call Bob\n- |\n  # text, not a comment\n  more\nroute: NURTURE\nemail: a@a.example\n"
        );
        // In a file of several leads, a comment in one lead's list stays in that list.
        let old = "- dedup_key: a\n  open_hours:\n    Monday:\n    # lunch break\n    - 9-12\n    - 13-17\n";
        let new = "- dedup_key: a\n  open_hours:\n    Monday:\n    - 9-12\n    - 13-17\n  source:\n    kind: yaml\n";
        assert_eq!(
            carry(old, new),
            "- dedup_key: a\n  open_hours:\n    Monday:\n    # lunch break\n    - 9-12\n    - 13-17\n  source:\n    kind: yaml\n"
        );
    }

    #[test]
    fn a_comment_after_a_quoted_value_or_a_block_scalar_is_kept() {
        // The quoted value ends on its own line: the comment below it is a comment (and goes
        // before the field it stood before).
        let old = "dedup_key: a\nphone: '+12175550134'\n# call after 5pm\nname: \"A\n  B\"\n# after\nroute: TARGET\n";
        let new = "dedup_key: a\nname: A B\nphone: '+12175550134'\nroute: NURTURE\n";
        assert_eq!(
            carry(old, new),
            "dedup_key: a\n# call after 5pm\nname: A B\nphone: '+12175550134'\n# after\nroute: NURTURE\n"
        );
        // A block scalar leadsite indents less: the comment after it moves with its field.
        let old =
            "dedup_key: a\nnotes: |\n    text\n  # TODO second shop\nroute: TARGET   # by hand\n";
        let new = "dedup_key: a\nnotes: |\n  text\nroute: NURTURE\n";
        assert_eq!(
            carry(old, new),
            "dedup_key: a\nnotes: |\n  text\n# TODO second shop\nroute: NURTURE   # by hand\n"
        );
        let old = "h:\n  - a\n  - |\n    line\n  # after block\n  - c # e\n";
        let new = "h:\n- a\n- |\n  line\n- c\n";
        assert_eq!(
            carry(old, new),
            "h:\n- a\n- |\n  line\n# after block\n- c # e\n"
        );
    }

    #[test]
    fn lines_ended_by_a_lone_cr_are_left_alone() {
        // The YAML parser counts a lone CR as a line break, `lines()` does not: found by the
        // fuzzer as an index past the last line.
        let old = "dedup_key: a\r# x\rname: A  # y\r";
        let new = "dedup_key: a\nname: A\nphone: '+15550143'\n";
        assert_eq!(carry(old, new), new);
    }

    #[test]
    fn a_file_that_begins_with_a_byte_order_mark_keeps_its_comments() {
        // Editors on Windows save one; the rewrite is written without it.
        let old = "\u{feff}# Kept by hand.\ndedup_key: a\nname: A\n";
        let new = "dedup_key: a\nname: A\nphone: '+15550143'\n";
        assert_eq!(
            carry(old, new),
            "# Kept by hand.\ndedup_key: a\nname: A\nphone: '+15550143'\n"
        );
    }
}
