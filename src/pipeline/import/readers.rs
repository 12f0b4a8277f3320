//! Reading tabular exports: CSV as a stream (delimiter from the header, one fresh record a row,
//! bounded fields), JSON (an array, one object, or JSON Lines) and YAML into rows; what a row's
//! columns mean is `table`'s business.

use std::path::Path;

use serde_json::Value as Json;

use super::table::{csv_to_record, match_key};
use super::{Format, Options, Row, RowData};
use crate::error::{InputError, Location};
use crate::pipeline::Record;

/// Reads CSV (`,`, `;` or tab separated, detected from the header) as a stream, mapping rows to
/// raw leads a chunk at a time. A row that cannot be read is an error with its line; the other
/// rows still come through.
pub(super) fn import_csv<R: std::io::Read>(
    input: R,
    head: &str,
    path: &Path,
    format: Format,
    opts: &Options,
    first_id: usize,
    sink: &mut super::Sink,
) -> crate::error::Result<(usize, Vec<InputError>)> {
    use rayon::prelude::*;
    let header = head.lines().next().unwrap_or("");
    let delimiter = [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| header.bytes().filter(|b| b == d).count())
        .unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(false)
        .from_reader(RowBound::new(input));
    let headers = reader.headers().map_err(|e| csv_error(path, &e))?;
    if headers.len() > crate::limits::MAX_CSV_FIELDS {
        return Err(InputError::new(
            Location::at_line(path, 1),
            format!(
                "the header has {} columns (at most {} are read): is this a CSV export?",
                headers.len(),
                crate::limits::MAX_CSV_FIELDS
            ),
        )
        .into());
    }
    let names: Vec<(String, String)> = headers
        .iter()
        .map(|h| (h.trim().to_string(), match_key(h)))
        .collect();
    let mut count = 0;
    let mut errors = Vec::new();
    let mut chunk = Vec::with_capacity(super::CHUNK);
    let mut flush = |chunk: &mut Vec<csv::StringRecord>, count: &mut usize| {
        let base = first_id + *count;
        let mapped: Vec<Record> = chunk
            .par_drain(..)
            .enumerate()
            .map(|(i, cells)| {
                let line = cells.position().map(|p| p.line()).unwrap_or(0);
                let rec = csv_to_record(&names, &cells, format, opts);
                super::finish(rec, base + i, Location::at_line(path, line), None, opts)
            })
            .collect();
        *count += mapped.len();
        sink(mapped)
    };
    // A fresh record per row: a reused one keeps the widest row's buffers, and every later
    // row's copy would carry them (one row of a million fields made 500 rows cost 4 GB).
    loop {
        let mut cells = csv::StringRecord::new();
        let start = reader.position().line();
        match reader.read_record(&mut cells) {
            Ok(false) => break,
            Ok(true) => {
                // A quote left open swallows the rows after it into one field: say so, with the
                // lines lost, instead of importing a business whose name is 500 rows long.
                let end = reader.position().line();
                let widest = cells.iter().map(str::len).max().unwrap_or(0);
                if end.saturating_sub(start) > crate::limits::MAX_CSV_ROW_LINES
                    || widest > crate::limits::MAX_CSV_FIELD
                {
                    errors.push(InputError::new(
                        Location::at_line(path, start),
                        format!(
                            "this row runs to line {end} (a field of {} KiB): a quote left open? The row and the lines inside it are skipped",
                            widest / 1024
                        ),
                    ));
                    continue;
                }
                chunk.push(cells);
                if chunk.len() == super::CHUNK {
                    flush(&mut chunk, &mut count)?;
                }
            }
            Err(e) => {
                let mut error = csv_error(path, &e);
                let end = reader.position().line();
                if end.saturating_sub(start) > 1 {
                    error.message.push_str(&format!(
                        " (it runs to line {end}: a quote left open? The lines inside it are skipped too)"
                    ));
                }
                errors.push(error);
            }
        }
    }
    flush(&mut chunk, &mut count)?;
    Ok((count, errors))
}

/// Bytes of one CSV row read at most: a row past it is cut there (closed as a row of its own,
/// which the field bound then refuses) and the rest of it skipped, so that memory stays bounded
/// however long a field is (the csv reader holds a whole row).
pub const MAX_CSV_ROW: usize = 4 * crate::limits::MAX_CSV_FIELD;

/// A reader that cuts rows longer than [`MAX_CSV_ROW`], following quotes as CSV does.
struct RowBound<R> {
    inner: R,
    in_quotes: bool,
    row: usize,
    /// Skipping the rest of a row that was cut.
    skipping: bool,
    /// What to hand out before reading on (the end put to a cut row).
    pending: &'static [u8],
    /// Bytes read but not looked at yet (after a cut), and where in them.
    carry: Vec<u8>,
    at: usize,
}

impl<R: std::io::Read> RowBound<R> {
    fn new(inner: R) -> Self {
        RowBound {
            inner,
            in_quotes: false,
            row: 0,
            skipping: false,
            pending: b"",
            carry: Vec::new(),
            at: 0,
        }
    }
}

impl<R: std::io::Read> std::io::Read for RowBound<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(out.len());
                out[..n].copy_from_slice(&self.pending[..n]);
                self.pending = &self.pending[n..];
                return Ok(n);
            }
            if self.at >= self.carry.len() {
                self.carry.resize(out.len().clamp(1, 64 * 1024), 0);
                let got = self.inner.read(&mut self.carry)?;
                if got == 0 {
                    return Ok(0);
                }
                self.carry.truncate(got);
                self.at = 0;
            }
            let mut written = 0;
            while self.at < self.carry.len() && written < out.len() {
                let b = self.carry[self.at];
                self.at += 1;
                if b == b'"' {
                    self.in_quotes = !self.in_quotes;
                }
                let row_ends = b == b'\n' && !self.in_quotes;
                if self.skipping {
                    if row_ends {
                        self.skipping = false;
                        self.row = 0;
                    }
                    continue;
                }
                out[written] = b;
                written += 1;
                self.row = if row_ends { 0 } else { self.row + 1 };
                if self.row > MAX_CSV_ROW {
                    // Closed here as a row (a quote first, if one is open), the rest skipped.
                    self.pending = if self.in_quotes { b"\"\n" } else { b"\n" };
                    self.skipping = true;
                    break;
                }
            }
            if written > 0 {
                return Ok(written);
            }
        }
    }
}

pub(super) fn csv_error(path: &Path, e: &csv::Error) -> InputError {
    let mut loc = Location::file(path);
    loc.line = e.position().map(|p| p.line());
    let msg = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!(
                "this row has {len} fields but the header has {expected_len}; the row is skipped"
            )
        }
        csv::ErrorKind::Utf8 { .. } => "this row is not UTF-8 text; the row is skipped".to_string(),
        _ => e.to_string(),
    };
    InputError::new(loc, msg)
}

/// Reads JSON (an array of objects, one object, or JSON Lines) as a stream: objects are parsed
/// a few thousand at a time and mapped to raw leads, so memory follows the leads, not the JSON
/// tree (about 200 bytes a member: 10,000 objects of 2,000 members took 2 GB that way).
pub(super) fn read_json(
    text: &str,
    path: &Path,
    format: Format,
    opts: &Options,
) -> Result<(Vec<Row>, Vec<InputError>), InputError> {
    use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};

    /// Objects waiting to be mapped, and what is mapped.
    struct Batch<'a> {
        path: &'a Path,
        format: Format,
        opts: &'a Options,
        /// Each object with its index and, in JSON Lines, its line.
        waiting: Vec<(usize, Option<u64>, Json)>,
        /// Members of the waiting objects: a batch of wide objects is mapped sooner.
        members: usize,
        next: usize,
        rows: Vec<Row>,
        errors: Vec<InputError>,
    }
    impl Batch<'_> {
        fn push(&mut self, v: Json, line: Option<u64>) {
            self.members += 1 + v.as_object().map_or(0, |m| m.len());
            self.waiting.push((self.next, line, v));
            self.next += 1;
            if self.waiting.len() >= super::CHUNK || self.members >= BATCH_MEMBERS {
                self.map();
            }
        }
        fn map(&mut self) {
            use rayon::prelude::*;
            let (path, format, opts) = (self.path, self.format, self.opts);
            self.members = 0;
            let mapped: Vec<Result<Row, InputError>> = std::mem::take(&mut self.waiting)
                .into_par_iter()
                .map(|(i, line, v)| match v {
                    Json::Object(map) => Ok(Row {
                        location: line.map_or_else(
                            || Location::at_item(path, i),
                            |l| Location::at_line(path, l),
                        ),
                        data: RowData::Mapped(Box::new(super::table::to_record(
                            &map, format, opts,
                        ))),
                        fetched_at: None,
                    }),
                    other => Err(match line {
                        Some(l) => InputError::new(
                            Location::at_line(path, l),
                            format!("expected an object, found {other}; the record is skipped"),
                        ),
                        None => not_an_object(path, i, &other),
                    }),
                })
                .collect();
            for r in mapped {
                match r {
                    Ok(row) => self.rows.push(row),
                    Err(e) => self.errors.push(e),
                }
            }
        }
    }
    /// The top-level array, its items given one at a time.
    struct Top<'a, 'b>(&'b mut Batch<'a>);
    impl<'de> Visitor<'de> for Top<'_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of objects")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(v) = seq.next_element::<Json>()? {
                self.0.push(v, None);
            }
            Ok(())
        }
    }
    impl<'de> DeserializeSeed<'de> for Top<'_, '_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    let mut batch = Batch {
        path,
        format,
        opts,
        waiting: Vec::new(),
        members: 0,
        next: 0,
        rows: Vec::new(),
        errors: Vec::new(),
    };
    if text.trim_start().starts_with('[') {
        // One array, its objects parsed one at a time.
        let mut de = serde_json::Deserializer::from_str(text);
        Top(&mut batch)
            .deserialize(&mut de)
            .and_then(|()| de.end())
            .map_err(|e| json_error(path, &e))?;
    } else {
        // One object, or JSON Lines: each value is small, and named by the line it starts on.
        // (Asking serde_json whether only white space is left after each value costs a scan of
        // the text so far: quadratic; the lines are counted once, as the values go by.)
        let mut values = serde_json::Deserializer::from_str(text).into_iter::<Json>();
        let (mut counted, mut line) = (0usize, 1u64);
        loop {
            let start = counted + text[counted..].len() - text[counted..].trim_start().len();
            let Some(v) = values.next() else { break };
            let v = v.map_err(|e| json_error(path, &e))?;
            line += text[counted..start].matches('\n').count() as u64;
            batch.push(v, Some(line));
            let end = values.byte_offset();
            line += text[start..end].matches('\n').count() as u64;
            counted = end;
        }
    }
    batch.map();
    Ok((batch.rows, batch.errors))
}

/// Members of parsed JSON objects waiting to be mapped (about 200 bytes each): 64 MiB at most.
const BATCH_MEMBERS: usize = 320_000;

fn not_an_object(path: &Path, i: usize, v: &Json) -> InputError {
    InputError::new(
        Location::at_item(path, i),
        format!("expected an object, found {v}; the record is skipped"),
    )
}

pub(super) fn json_error(path: &Path, e: &serde_json::Error) -> InputError {
    let mut loc = Location::at_line(path, e.line() as u64);
    loc.column = Some(e.column() as u64);
    let msg = e.to_string();
    let msg = msg
        .rsplit_once(" at line ")
        .map(|(m, _)| m.to_string())
        .unwrap_or(msg);
    InputError::new(loc, msg)
}

/// Reads leadsite's own schema as YAML documents of mappings or lists of mappings.
pub(super) fn read_yaml(
    text: &str,
    path: &Path,
) -> Result<(Vec<Row>, Vec<InputError>), InputError> {
    use serde::Deserialize;
    crate::limits::check_yaml(text, path)?;
    let mut values = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let v = Json::deserialize(doc).map_err(|e| crate::error::yaml_error(path, &e))?;
        match v {
            Json::Array(items) => values.extend(items),
            Json::Null => {}
            v => values.push(v),
        }
    }
    Ok(objects(values, path))
}

pub(super) fn objects(values: Vec<Json>, path: &Path) -> (Vec<Row>, Vec<InputError>) {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        match v {
            Json::Object(map) => rows.push(Row {
                location: Location::at_item(path, i),
                data: RowData::Table(map),
                fetched_at: None,
            }),
            other => errors.push(not_an_object(path, i, &other)),
        }
    }
    (rows, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_row_past_the_bound_is_cut_and_the_rows_after_it_come_through_whole() {
        let big = "x".repeat(MAX_CSV_ROW + 10);
        let quoted = format!("\"{}\n{}\"", "y".repeat(MAX_CSV_ROW), "z");
        let input = format!("a,b\n1,{big}\n2,{quoted}\n3,ok\n4,\"fine, \"\"quoted\"\"\"\n");
        let mut out = String::new();
        RowBound::new(input.as_bytes())
            .read_to_string(&mut out)
            .unwrap();
        assert!(out.len() < 2 * MAX_CSV_ROW + 100, "{}", out.len());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "a,b");
        assert!(lines[1].starts_with("1,xxx") && lines[1].len() <= MAX_CSV_ROW + 1);
        assert!(lines[2].starts_with("2,\"yyy") && lines[2].ends_with('"'));
        assert_eq!(&lines[3..], ["3,ok", "4,\"fine, \"\"quoted\"\"\""]);
    }
}
