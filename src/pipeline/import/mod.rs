//! MapsSearch import: reads an export file into raw leads. Formats are chosen with `--format` or
//! detected from the content: Google-Maps scraper CSV/JSON, OpenStreetMap Overpass JSON and
//! overpass-turbo GeoJSON, and leadsite's own schema as CSV, JSON or YAML.

mod address;
mod osm;
mod readers;
mod table;

use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use super::Record;
use crate::error::{InputError, Location, Result};

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// google-maps-scraper CSV (title, complete_address, review_rating, place_id, …)
    GoogleMapsCsv,
    /// google-maps-scraper JSON (one object per place, in an array or one per line)
    GoogleMapsJson,
    /// Overpass API JSON (`elements[].tags`)
    Overpass,
    /// GeoJSON as overpass-turbo exports it (`features[].properties`)
    Geojson,
    /// leadsite's own schema as CSV (`name`, `address.city`, …; what `export` writes)
    Csv,
    /// leadsite's own schema as a JSON array
    Json,
    /// leadsite's own schema as YAML (one lead, a list, or documents)
    Yaml,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::GoogleMapsCsv,
        Format::GoogleMapsJson,
        Format::Overpass,
        Format::Geojson,
        Format::Csv,
        Format::Json,
        Format::Yaml,
    ];

    /// What the format is, in a few words (for `--help`).
    pub fn description(self) -> &'static str {
        match self {
            Format::GoogleMapsCsv => {
                "google-maps-scraper CSV (title, complete_address, review_rating, place_id, …)"
            }
            Format::GoogleMapsJson => {
                "google-maps-scraper JSON (one object per place, in an array or one per line)"
            }
            Format::Overpass => "Overpass API JSON (`elements[].tags`)",
            Format::Geojson => "GeoJSON as overpass-turbo exports it (`features[].properties`)",
            Format::Csv => {
                "leadsite's own schema as CSV (`name`, `address.city`, …; what `export` writes)"
            }
            Format::Json => "leadsite's own schema as a JSON array",
            Format::Yaml => "leadsite's own schema as YAML (one lead, a list, or documents)",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::GoogleMapsCsv => "google-maps-csv",
            Format::GoogleMapsJson => "google-maps-json",
            Format::Overpass => "overpass",
            Format::Geojson => "geojson",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Yaml => "yaml",
        }
    }
}

/// Settings for import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Columns not to keep on the lead.
    pub drop_columns: Vec<String>,
    /// When the data was fetched, if the file does not say.
    pub fetched_at: Option<DateTime<Utc>>,
}

/// The raw leads of one file.
#[derive(Debug)]
pub struct Imported {
    pub format: Format,
    pub records: Vec<Record>,
    /// Rows or records that could not be read at all; the others still came through.
    pub errors: Vec<InputError>,
}

/// What reading one file in chunks came to.
#[derive(Debug)]
pub struct Summary {
    pub format: Format,
    /// Records handed to the sink.
    pub records: usize,
    /// Rows or records that could not be read at all.
    pub errors: Vec<InputError>,
}

/// Where [`read_chunks`] sends the raw leads, a chunk at a time.
pub type Sink<'a> = dyn FnMut(Vec<Record>) -> Result<()> + 'a;

/// Reads one export file whole. `first_id` numbers its records.
pub fn read_file(
    path: &Path,
    format: Option<Format>,
    opts: &Options,
    first_id: usize,
) -> Result<Imported> {
    let mut records = Vec::new();
    let summary = read_chunks(path, format, opts, first_id, &mut |chunk| {
        records.extend(chunk);
        Ok(())
    })?;
    Ok(Imported {
        format: summary.format,
        records,
        errors: summary.errors,
    })
}

/// Reads one export file and hands its raw leads to `sink` a chunk at a time, so a large export
/// never sits in memory whole (a CSV is read as a stream). A file that cannot be read or parsed is
/// an [`crate::Error::Input`] with its location; a row with unusable values still becomes a record, with
/// issues; an error from the sink stops the read.
pub fn read_chunks(
    path: &Path,
    format: Option<Format>,
    opts: &Options,
    first_id: usize,
    sink: &mut Sink,
) -> Result<Summary> {
    use std::io::{Read, Seek};
    let io_error = |e: std::io::Error| InputError::new(Location::file(path), e.to_string());
    let mut file = crate::limits::open_regular(path).map_err(io_error)?;
    // The head of the file tells its format.
    let mut head = Vec::with_capacity(HEAD);
    file.by_ref()
        .take(HEAD as u64)
        .read_to_end(&mut head)
        .map_err(io_error)?;
    let head_text = String::from_utf8_lossy(&head);
    let head_text = head_text.strip_prefix('\u{feff}').unwrap_or(&head_text);
    let format = match format {
        Some(f) => f,
        None => detect(head_text, path)?,
    };
    file.rewind().map_err(io_error)?;
    if matches!(format, Format::GoogleMapsCsv | Format::Csv) {
        let input = std::io::BufReader::new(file);
        let (records, errors) =
            readers::import_csv(input, head_text, path, format, opts, first_id, sink)?;
        return Ok(Summary {
            format,
            records,
            errors,
        });
    }
    // JSON, GeoJSON and YAML are parsed whole: bounded, so that memory stays a few times this.
    let cap = crate::limits::MAX_WHOLE_IMPORT;
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > cap {
        return Err(InputError::new(
            Location::file(path),
            format!(
                "larger than {} MiB: a {} export is read whole, so it is not read; split it, or export CSV (read as a stream, any size)",
                cap / (1024 * 1024),
                format.name()
            ),
        )
        .into());
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        InputError::new(
            Location::at_line(path, line as u64),
            "the file is not UTF-8 text",
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let (rows, errors) = match format {
        Format::GoogleMapsJson | Format::Json => readers::read_json(text, path, format, opts)?,
        Format::Yaml => readers::read_yaml(text, path)?,
        Format::Overpass => osm::read_overpass(text, path, opts)?,
        Format::Geojson => osm::read_geojson(text, path, opts)?,
        Format::GoogleMapsCsv | Format::Csv => unreachable!("streamed above"),
    };
    let records = to_records(rows, format, opts, first_id, sink)?;
    Ok(Summary {
        format,
        records,
        errors,
    })
}

/// How much of a file is read to tell its format.
const HEAD: usize = 64 * 1024;

/// Rows are mapped to leads this many at a time, in parallel.
pub(crate) const CHUNK: usize = 4096;

/// Sets what every record gets whatever its format: its id, origin and fetch time.
pub(crate) fn finish(
    mut rec: Record,
    id: usize,
    origin: Location,
    fetched_at: Option<DateTime<Utc>>,
    opts: &Options,
) -> Record {
    rec.id = id;
    rec.origin = origin;
    if let Some(s) = rec.lead.source.as_mut() {
        s.fetched_at = s.fetched_at.or(opts.fetched_at).or(fetched_at);
    }
    rec
}

/// Maps rows to raw leads in parallel and hands them on a chunk at a time.
fn to_records(
    mut rows: Vec<Row>,
    format: Format,
    opts: &Options,
    first_id: usize,
    sink: &mut Sink,
) -> Result<usize> {
    use rayon::prelude::*;
    let mut count = 0;
    while !rows.is_empty() {
        let chunk: Vec<Row> = rows.drain(..CHUNK.min(rows.len())).collect();
        let base = first_id + count;
        let mapped: Vec<Record> = chunk
            .into_par_iter()
            .enumerate()
            .map(|(i, row)| {
                let rec = match row.data {
                    RowData::Table(map) => table::to_record(&map, format, opts),
                    RowData::Mapped(rec) => *rec,
                };
                finish(rec, base + i, row.location, row.fetched_at, opts)
            })
            .collect();
        count += mapped.len();
        sink(mapped)?;
    }
    Ok(count)
}

/// One record of an export, before it is mapped to a lead.
pub(crate) struct Row {
    pub location: Location,
    pub data: RowData,
    pub fetched_at: Option<DateTime<Utc>>,
}

pub(crate) enum RowData {
    /// A flat or nested record (JSON object, YAML mapping).
    Table(serde_json::Map<String, Json>),
    /// A row already mapped as it was read (an OpenStreetMap object, mapped while the export is
    /// streamed: its tags as JSON cost about 200 bytes each, the lead's compact fields 40).
    Mapped(Box<Record>),
}

/// Which format a file is in, from its content (its name only breaks a tie).
pub fn detect(text: &str, path: &Path) -> Result<Format, InputError> {
    let head = text.trim_start();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if head.starts_with('{') || head.starts_with('[') {
        if head.starts_with('{') {
            // A FeatureCollection or an Overpass answer says so near its top.
            let window: String = head.chars().take(4096).collect();
            if window.contains("\"FeatureCollection\"") || window.contains("\"features\"") {
                return Ok(Format::Geojson);
            }
            if window.contains("\"elements\"") || window.contains("\"osm3s\"") {
                return Ok(Format::Overpass);
            }
        }
        if ext == "yaml" || ext == "yml" {
            return Ok(Format::Yaml);
        }
        let window: String = head.chars().take(8192).collect();
        let gmaps = [
            "\"title\"",
            "\"place_id\"",
            "\"complete_address\"",
            "\"review_rating\"",
            "\"cid\"",
        ];
        return Ok(if gmaps.iter().any(|k| window.contains(k)) {
            Format::GoogleMapsJson
        } else {
            Format::Json
        });
    }
    if ext == "yaml" || ext == "yml" || head.starts_with("---") {
        return Ok(Format::Yaml);
    }
    let header = head.lines().next().unwrap_or("");
    if header.contains(',') || header.contains(';') || header.contains('\t') || ext == "csv" {
        let cols: Vec<String> = header
            .split([',', ';', '\t'])
            .map(|c| c.trim().trim_matches('"').to_ascii_lowercase())
            .collect();
        let gmaps = [
            "title",
            "place_id",
            "complete_address",
            "review_rating",
            "cid",
            "data_id",
            "plus_code",
        ];
        return Ok(if cols.iter().any(|c| gmaps.contains(&c.as_str())) {
            Format::GoogleMapsCsv
        } else {
            Format::Csv
        });
    }
    if head.contains(": ") {
        return Ok(Format::Yaml);
    }
    Err(InputError::new(
        Location::file(path),
        "cannot tell the format from the content; name it with --format (google-maps-csv, google-maps-json, overpass, geojson, csv, json, yaml)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_named_by_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        std::fs::write(
            &path,
            "{\"title\": \"A\", \"phone\": \"1\"}\n\n[1, 2]\n{\"title\": \"B\",\n \"phone\": \"2\"}\n{\"title\": \"C\"}\n",
        )
        .unwrap();
        let opts = Options {
            drop_columns: Vec::new(),
            fetched_at: None,
        };
        let read = read_file(&path, Some(Format::Json), &opts, 0).unwrap();
        let lines: Vec<Option<u64>> = read.records.iter().map(|r| r.origin.line).collect();
        assert_eq!(lines, [Some(1), Some(4), Some(6)]);
        assert_eq!(read.errors.len(), 1);
        assert_eq!(read.errors[0].location.line, Some(3), "{}", read.errors[0]);
    }

    #[test]
    fn formats_are_detected_from_content() {
        let p = Path::new("x.txt");
        assert_eq!(
            detect("title,address,phone\n", p).unwrap(),
            Format::GoogleMapsCsv
        );
        assert_eq!(detect("name,address.city,phone\n", p).unwrap(), Format::Csv);
        assert_eq!(
            detect("{\"version\":0.6,\"elements\":[]}", p).unwrap(),
            Format::Overpass
        );
        assert_eq!(
            detect("{\"type\":\"FeatureCollection\",\"features\":[]}", p).unwrap(),
            Format::Geojson
        );
        assert_eq!(
            detect("[{\"title\":\"A\"}]", p).unwrap(),
            Format::GoogleMapsJson
        );
        assert_eq!(detect("[{\"name\":\"A\"}]", p).unwrap(), Format::Json);
        assert_eq!(detect("name: A\n", p).unwrap(), Format::Yaml);
        assert!(detect("hello", p).is_err());
    }
}
