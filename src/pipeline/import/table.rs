//! Importers for tabular exports: CSV rows, JSON objects and YAML mappings. Column names are
//! matched case-insensitively against the spellings scrapers use (name/title, phone/phone_number,
//! site/website, review_rating/rating, …) and leadsite's own dotted schema (`address.city`).
//! Columns it does not know are kept on the lead as they are, unless config drops them.

use std::path::Path;

use serde_json::{Map, Value as Json};
use serde_yaml_ng::Value as YValue;

use super::{Format, Options, Row, RowData};
use crate::error::{InputError, Location};
use crate::lead::{Accuracy, Address, Lead, Location as Geo, Source};
use crate::pipeline::{Issue, Record, RejectReason};

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
        .from_reader(input);
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

fn csv_error(path: &Path, e: &csv::Error) -> InputError {
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

/// Reads a JSON array of objects, one object, or JSON Lines (one object per line).
pub(super) fn read_json(
    text: &str,
    path: &Path,
) -> Result<(Vec<Row>, Vec<InputError>), InputError> {
    let values: Vec<Json> = match serde_json::from_str::<Json>(text) {
        Ok(Json::Array(items)) => items,
        Ok(v) => vec![v],
        Err(first) => {
            let mut items = Vec::new();
            for v in serde_json::Deserializer::from_str(text).into_iter::<Json>() {
                match v {
                    Ok(v) => items.push(v),
                    Err(_) => return Err(json_error(path, &first)),
                }
            }
            if items.len() < 2 {
                return Err(json_error(path, &first));
            }
            items
        }
    };
    Ok(objects(values, path))
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

fn objects(values: Vec<Json>, path: &Path) -> (Vec<Row>, Vec<InputError>) {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        match v {
            Json::Object(map) => rows.push(Row {
                location: Location::at_item(path, i),
                data: RowData::Table(map),
                fetched_at: None,
            }),
            other => errors.push(InputError::new(
                Location::at_item(path, i),
                format!("expected an object, found {other}; the record is skipped"),
            )),
        }
    }
    (rows, errors)
}

/// Maps one tabular record to a raw lead.
pub(super) fn to_record(map: &Map<String, Json>, format: Format, opts: &Options) -> Record {
    let mut m = Mapper::new(format);
    for (raw_key, value) in map {
        let key = match_key(raw_key);
        if !is_blank(value) && !dropped(&key, opts) {
            m.take(raw_key, &key, value);
        }
    }
    m.finish(format)
}

/// Maps one CSV row to a raw lead.
pub(super) fn csv_to_record(
    names: &[(String, String)],
    cells: &csv::StringRecord,
    format: Format,
    opts: &Options,
) -> Record {
    let mut m = Mapper::new(format);
    for ((raw_key, key), cell) in names.iter().zip(cells.iter()) {
        let cell = cell.trim();
        if !raw_key.is_empty() && !is_blank_text(cell) && !dropped(key, opts) {
            m.take(raw_key, key, &Json::String(cell.to_string()));
        }
    }
    m.finish(format)
}

/// The form a column name is matched in: lower case, `_` for spaces and hyphens.
fn match_key(raw: &str) -> String {
    raw.trim().to_lowercase().replace([' ', '-'], "_")
}

fn dropped(key: &str, opts: &Options) -> bool {
    opts.drop_columns
        .iter()
        .any(|d| d.eq_ignore_ascii_case(key))
}

impl Mapper {
    fn new(format: Format) -> Self {
        Mapper {
            gmaps: matches!(format, Format::GoogleMapsCsv | Format::GoogleMapsJson),
            lead: Lead::default(),
            address: Address::default(),
            address_line: None,
            lat: None,
            lng: None,
            accuracy: None,
            source: Source::default(),
            issues: Vec::new(),
        }
    }
}

struct Mapper {
    gmaps: bool,
    lead: Lead,
    address: Address,
    address_line: Option<String>,
    lat: Option<Json>,
    lng: Option<Json>,
    accuracy: Option<String>,
    source: Source,
    issues: Vec<Issue>,
}

impl Mapper {
    fn take(&mut self, raw_key: &str, key: &str, value: &Json) {
        let gmaps = self.gmaps;
        let text = || text(value);
        let set = |slot: &mut Option<String>, v: Option<String>| {
            if slot.is_none() {
                *slot = v;
            }
        };
        match key {
            "dedup_key" => self.lead.dedup_key = text().unwrap_or_default(),
            "name" | "title" | "business_name" | "company" | "company_name" => {
                if self.lead.name.is_empty() {
                    self.lead.name = text().unwrap_or_default();
                }
            }
            "category" | "type" | "main_category" => set(&mut self.lead.category, text()),
            "categories" => {
                let v = parse_json(value);
                let first = match &v {
                    Json::Array(items) => {
                        items.iter().find_map(crate::pipeline::import::table::text)
                    }
                    _ => text().and_then(|t| t.split(',').next().map(|s| s.trim().to_string())),
                };
                set(&mut self.lead.category, first);
                self.keep(raw_key, value);
            }
            "address" | "full_address" | "complete_address" | "formatted_address" => {
                match parse_json(value) {
                    Json::Object(parts) => self.address_parts(&parts),
                    other => set(&mut self.address_line, text_of(&other)),
                }
            }
            "street" | "street_address" | "address.street" | "address_street" => {
                set(&mut self.address.street, text())
            }
            "city" | "town" | "locality" | "address.city" => set(&mut self.address.city, text()),
            "state" | "region" | "province" | "address.region" => {
                set(&mut self.address.region, text())
            }
            "postal_code" | "zip" | "zip_code" | "postcode" | "address.postal_code" => {
                set(&mut self.address.postal_code, text())
            }
            "country" | "country_code" | "address.country" => {
                set(&mut self.address.country, text())
            }
            "phone" | "phone_number" | "telephone" | "international_phone_number" | "tel" => {
                set(&mut self.lead.phone, text())
            }
            "site" | "website" | "web_site" | "url" | "web" => set(&mut self.lead.website, text()),
            "email" | "emails" | "e_mail" => {
                let joined = match parse_json(value) {
                    Json::Array(items) => items
                        .iter()
                        .filter_map(crate::pipeline::import::table::text)
                        .collect::<Vec<_>>()
                        .join(", "),
                    other => text_of(&other).unwrap_or_default(),
                };
                if !joined.is_empty() {
                    set(&mut self.lead.email, Some(joined));
                }
            }
            "rating" | "review_rating" | "stars" => match number(value) {
                Some(r) => self.lead.rating = Some(r),
                None => self.issue(RejectReason::InvalidRating, "rating", value),
            },
            "reviews" | "review_count" | "reviews_count" | "user_ratings_total" => {
                match number(value).filter(|n| *n >= 0.0 && n.fract() == 0.0) {
                    Some(n) => self.lead.review_count = Some(n as u64),
                    None => self.issue(RejectReason::InvalidReviewCount, "review_count", value),
                }
            }
            "latitude" | "lat" | "location.lat" => self.lat = Some(value.clone()),
            // google-maps-scraper's JSON spells it `longtitude` (and, lately, also `longitude`).
            "longitude" | "longtitude" | "lng" | "lon" | "long" | "location.lng" => {
                self.lng = Some(value.clone())
            }
            "location.accuracy" => self.accuracy = text(),
            "location" => match parse_json(value) {
                Json::Object(o) => {
                    self.lat = o.get("lat").cloned().or(self.lat.take());
                    self.lng = o.get("lng").or(o.get("lon")).cloned().or(self.lng.take());
                    self.accuracy = o
                        .get("accuracy")
                        .and_then(crate::pipeline::import::table::text)
                        .or(self.accuracy.take());
                }
                _ => self.keep(raw_key, value),
            },
            "place_id" if gmaps => self.source.id = text(),
            "source.id" => self.source.id = text(),
            "source.kind" => self.source.kind = text().unwrap_or_default(),
            "source.fetched_at" => self.source.fetched_at = text().and_then(|t| t.parse().ok()),
            "source" => {
                if let Ok(s) = serde_json::from_value::<Source>(parse_json(value)) {
                    self.source = s;
                }
            }
            "timezone" | "time_zone" => set(&mut self.lead.timezone, text()),
            "description" | "descriptions" => set(&mut self.lead.description, text()),
            "about" if gmaps => self.keep("attributes", value),
            "about" => set(&mut self.lead.about, text()),
            "route" => self.lead.route = text().and_then(|t| t.parse().ok()),
            "route_reason" => self.lead.route_reason = text(),
            _ => self.keep(raw_key, value),
        }
    }

    fn address_parts(&mut self, parts: &Map<String, Json>) {
        let get = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| parts.get(*k).and_then(crate::pipeline::import::table::text))
        };
        let a = &mut self.address;
        a.street = a
            .street
            .take()
            .or_else(|| get(&["street", "street_address", "address"]));
        a.city = a.city.take().or_else(|| get(&["city", "town", "locality"]));
        a.region = a
            .region
            .take()
            .or_else(|| get(&["region", "state", "province"]));
        a.postal_code = a
            .postal_code
            .take()
            .or_else(|| get(&["postal_code", "zip", "postcode"]));
        a.country = a
            .country
            .take()
            .or_else(|| get(&["country", "country_code"]));
        for (k, v) in parts {
            let known = [
                "street",
                "street_address",
                "address",
                "city",
                "town",
                "locality",
                "region",
                "state",
                "province",
                "postal_code",
                "zip",
                "postcode",
                "country",
                "country_code",
            ];
            if !known.contains(&k.as_str()) && !is_blank(v) {
                a.extra.insert(k.clone().into(), to_yaml(v.clone()));
            }
        }
    }

    /// An unknown column: kept on the lead, dotted names nested under their head. A cell that
    /// holds JSON (`open_hours`) is kept as the structure it holds, blank members left out.
    fn keep(&mut self, raw_key: &str, value: &Json) {
        let value = match value {
            Json::String(s) if s.starts_with('{') || s.starts_with('[') => {
                serde_json::from_str::<YValue>(s).unwrap_or_else(|_| YValue::String(s.clone()))
            }
            other => to_yaml(other.clone()),
        };
        let value = prune(value);
        if crate::lead::is_empty_value(&value) {
            return;
        }
        match raw_key.split_once('.') {
            Some(("address", rest)) => {
                self.address.extra.insert(rest.into(), value);
            }
            Some(("source", rest)) => {
                self.source.extra.insert(rest.into(), value);
            }
            _ => {
                self.lead.extra.insert(raw_key.trim().into(), value);
            }
        }
    }

    fn issue(&mut self, reason: RejectReason, field: &'static str, value: &Json) {
        self.issues.push(Issue::new(
            reason,
            field,
            text(value).unwrap_or_else(|| value.to_string()),
        ));
    }

    fn finish(mut self, format: Format) -> Record {
        if self.address.is_empty() {
            if let Some(line) = self.address_line.take() {
                self.address = parse_address_line(&line);
            }
        } else if let Some(line) = self.address_line.take() {
            if self.address.street.is_none() {
                self.address.street = line.split(',').next().map(|s| s.trim().to_string());
            }
        }
        if !self.address.is_empty() {
            self.lead.address = Some(self.address);
        }
        match (self.lat.take(), self.lng.take()) {
            (None, None) => {}
            (lat, lng) => match (lat.as_ref().and_then(number), lng.as_ref().and_then(number)) {
                (Some(lat), Some(lng)) => {
                    let accuracy = match self.accuracy.as_deref() {
                        Some(a) => {
                            serde_json::from_value::<Accuracy>(Json::String(a.to_lowercase())).ok()
                        }
                        None if matches!(
                            format,
                            Format::GoogleMapsCsv | Format::GoogleMapsJson
                        ) =>
                        {
                            Some(Accuracy::Rooftop)
                        }
                        None => None,
                    };
                    self.lead.location = Some(Geo {
                        lat,
                        lng,
                        accuracy,
                        extra: Default::default(),
                    });
                }
                _ => {
                    let show = |v: Option<Json>| {
                        v.map(|v| text(&v).unwrap_or_default()).unwrap_or_default()
                    };
                    let value = format!("{}, {}", show(lat), show(lng));
                    self.issues.push(Issue::new(
                        RejectReason::InvalidCoordinates,
                        "location",
                        value,
                    ));
                }
            },
        }
        if self.source.kind.is_empty() {
            self.source.kind = match format {
                Format::GoogleMapsCsv | Format::GoogleMapsJson => "google_maps",
                Format::Csv => "csv",
                Format::Json => "json",
                Format::Yaml => "yaml",
                Format::Overpass | Format::Geojson => "osm",
            }
            .into();
        }
        self.lead.source = Some(self.source);
        self.lead.shrink_to_fit();
        let mut rec = Record::new(0, Location::default(), self.lead);
        rec.issues = self.issues;
        rec
    }
}

/// Splits `8549 Gaylord Pkwy #111, Frisco, TX 75034[, United States]` (and `Hauptstr. 5, 10115
/// Berlin`, `14 George St, Edinburgh EH2 2PF`) into its parts. A line of one part stays whole in
/// `street`, so nothing is lost.
pub fn parse_address_line(line: &str) -> Address {
    let mut parts: Vec<&str> = line
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut a = Address::default();
    // A last part that names a country (`USA`, `Germany`); a two-letter one is more often a
    // state (`IL` is Illinois here, not Israel).
    if parts.len() > 1 && parts[parts.len() - 1].chars().count() > 2 {
        if let Some(cc) = crate::lead::value::country_code(parts[parts.len() - 1]) {
            a.country = Some(cc);
            parts.pop();
        }
    }
    if parts.len() < 2 {
        a.street = Some(parts.first().copied().unwrap_or(line).trim().to_string());
        return a;
    }
    let last = parts.pop().unwrap_or_default();
    let words: Vec<&str> = last.split_whitespace().collect();
    let has_digit = |w: &&str| w.chars().any(|c| c.is_ascii_digit());
    let lead_names = words.iter().take_while(|w| !has_digit(w)).count();
    let lead_codes = words.iter().take_while(|w| has_digit(w)).count();
    // What is left before `last` is the street, and the city when there are two parts or more.
    let is_region_code =
        |s: &str| (2..=3).contains(&s.len()) && s.chars().all(|c| c.is_ascii_uppercase());
    let place = |name: String, a: &mut Address, parts: &mut Vec<&str>| {
        if parts.len() >= 2 || is_region_code(&name) {
            a.region = Some(name);
            a.city = parts.pop().map(str::to_string);
        } else {
            a.city = Some(name);
        }
    };
    if lead_names > 0 && lead_names < words.len() && words[lead_names..].iter().all(has_digit) {
        a.postal_code = Some(words[lead_names..].join(" "));
        place(words[..lead_names].join(" "), &mut a, &mut parts);
    } else if lead_codes > 0 && lead_codes < words.len() {
        a.postal_code = Some(words[..lead_codes].join(" "));
        a.city = Some(words[lead_codes..].join(" "));
    } else {
        place(last.to_string(), &mut a, &mut parts);
    }
    if !parts.is_empty() {
        a.street = Some(parts.join(", "));
    }
    a
}

/// No value: null, empty, or the text `null` that some scrapers write for it.
fn is_blank(v: &Json) -> bool {
    match v {
        Json::Null => true,
        Json::String(s) => is_blank_text(s),
        Json::Array(a) => a.is_empty(),
        Json::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Drops blank members of mappings, recursively (`{"link": "", "source": ""}` is blank), and
/// gives back the room the parser left: a hundred thousand leads hold many small mappings.
fn prune(v: YValue) -> YValue {
    match v {
        YValue::Mapping(map) => {
            let mut map: serde_yaml_ng::Mapping = map
                .into_iter()
                .map(|(k, v)| (k, prune(v)))
                .filter(|(_, v)| !is_blank_yaml(v))
                .collect();
            map.shrink_to_fit();
            YValue::Mapping(map)
        }
        YValue::Sequence(items) => {
            let mut items: Vec<YValue> = items.into_iter().map(prune).collect();
            items.shrink_to_fit();
            YValue::Sequence(items)
        }
        other => other,
    }
}

fn is_blank_yaml(v: &YValue) -> bool {
    match v {
        YValue::String(s) => is_blank_text(s),
        other => crate::lead::is_empty_value(other),
    }
}

fn is_blank_text(s: &str) -> bool {
    let t = s.trim();
    t.is_empty() || t.eq_ignore_ascii_case("null")
}

/// A value as trimmed text; numbers print as they are.
pub(super) fn text(v: &Json) -> Option<String> {
    text_of(v)
}

fn text_of(v: &Json) -> Option<String> {
    match v {
        Json::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A number from a JSON number or text such as `4.400000` or `1,234`.
pub(super) fn number(v: &Json) -> Option<f64> {
    let n = match v {
        Json::Number(n) => n.as_f64()?,
        Json::String(s) => s.trim().replace([',', '_'], "").parse().ok()?,
        _ => return None,
    };
    n.is_finite().then_some(n)
}

/// A CSV cell that holds JSON (`complete_address`, `open_hours`) as the structure it holds.
fn parse_json(v: &Json) -> Json {
    match v {
        Json::String(s) if s.starts_with('{') || s.starts_with('[') => {
            serde_json::from_str(s).unwrap_or_else(|_| v.clone())
        }
        _ => v.clone(),
    }
}

pub(super) fn to_yaml(v: Json) -> serde_yaml_ng::Value {
    serde_yaml_ng::to_value(v).unwrap_or(serde_yaml_ng::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_address_lines_are_split() {
        let a = parse_address_line("8549 Gaylord Pkwy #111, Frisco, TX 75034");
        assert_eq!(
            (
                a.street.as_deref(),
                a.city.as_deref(),
                a.region.as_deref(),
                a.postal_code.as_deref()
            ),
            (
                Some("8549 Gaylord Pkwy #111"),
                Some("Frisco"),
                Some("TX"),
                Some("75034")
            )
        );
        let a = parse_address_line("Hauptstr. 5, 10115 Berlin, Germany");
        assert_eq!(
            (
                a.street.as_deref(),
                a.city.as_deref(),
                a.postal_code.as_deref(),
                a.country.as_deref()
            ),
            (
                Some("Hauptstr. 5"),
                Some("Berlin"),
                Some("10115"),
                Some("DE")
            )
        );
        let a = parse_address_line("14 George St, Edinburgh EH2 2PF");
        assert_eq!(
            (a.city.as_deref(), a.postal_code.as_deref(), a.region),
            (Some("Edinburgh"), Some("EH2 2PF"), None)
        );
        let a = parse_address_line("Springfield, IL");
        assert_eq!(
            (a.street, a.city.as_deref(), a.region.as_deref(), a.country),
            (None, Some("Springfield"), Some("IL"), None)
        );
        let a = parse_address_line("1 Main St, Springfield, IL");
        assert_eq!(
            (a.street.as_deref(), a.city.as_deref(), a.region.as_deref()),
            (Some("1 Main St"), Some("Springfield"), Some("IL"))
        );
        let a = parse_address_line("somewhere odd");
        assert_eq!(a.street.as_deref(), Some("somewhere odd"));
    }

    #[test]
    fn column_spellings_map_to_fields() {
        let row: Map<String, Json> = serde_json::from_str(
            r#"{"Title":"A","Phone_Number":"(469) 287-2159","Site":"a.example","Review_Rating":"4.400000","Reviews":"1,234",
                "complete_address":"{\"street\":\"1 Main\",\"city\":\"Plano\",\"state\":\"Texas\",\"borough\":\"X\"}","open_hours":"{\"Monday\":[\"9-5\"]}",
                "latitude":"33.1","longitude":"-96.8","place_id":"ChIJ1","about":"{\"a\":1}"}"#,
        )
        .unwrap();
        let rec = to_record(&row, Format::GoogleMapsCsv, &Options::default());
        let l = &rec.lead;
        assert_eq!(l.name, "A");
        assert_eq!(l.phone.as_deref(), Some("(469) 287-2159"));
        assert_eq!(l.rating, Some(4.4));
        assert_eq!(l.review_count, Some(1234));
        let a = l.address.as_ref().unwrap();
        assert_eq!(
            (a.street.as_deref(), a.region.as_deref()),
            (Some("1 Main"), Some("Texas"))
        );
        assert!(a.extra.contains_key("borough"));
        assert_eq!(
            l.location.as_ref().map(|g| (g.lat, g.lng)),
            Some((33.1, -96.8))
        );
        assert_eq!(
            l.source.as_ref().and_then(|s| s.id.as_deref()),
            Some("ChIJ1")
        );
        assert!(l.extra.contains_key("open_hours") && l.extra.contains_key("attributes"));
        assert!(rec.issues.is_empty());
    }

    #[test]
    fn unusable_numbers_become_issues() {
        let row: Map<String, Json> =
            serde_json::from_str(r#"{"name":"A","rating":"great","reviews":"-3","lat":"1"}"#)
                .unwrap();
        let rec = to_record(&row, Format::Csv, &Options::default());
        let reasons: Vec<_> = rec.issues.iter().map(|i| i.reason).collect();
        assert_eq!(
            reasons,
            [
                RejectReason::InvalidRating,
                RejectReason::InvalidReviewCount,
                RejectReason::InvalidCoordinates
            ]
        );
    }
}
