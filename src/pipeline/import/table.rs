//! What the columns of tabular exports mean: CSV rows, JSON objects and YAML mappings become raw
//! leads. Column names are
//! matched case-insensitively against the spellings scrapers use (name/title, phone/phone_number,
//! site/website, review_rating/rating, …) and leadsite's own dotted schema (`address.city`).
//! Columns it does not know are kept on the lead as they are, unless config drops them.

use serde_json::{Map, Value as Json};
use serde_yaml_ng::Value as YValue;

use super::address::parse_address_line;
use super::{Format, Options};
use crate::error::Location;
use crate::lead::{Accuracy, Address, GeoPoint as Geo, Lead, Source};
use crate::pipeline::{Issue, Record, RejectReason};

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
pub(super) fn match_key(raw: &str) -> String {
    raw.trim().to_lowercase().replace([' ', '-'], "_")
}

pub(super) fn dropped(key: &str, opts: &Options) -> bool {
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
            kept: Default::default(),
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
    /// Unknown columns for the lead, its address and its source, set in one go at the end (a
    /// row may have thousands).
    kept: [Vec<(YValue, YValue)>; 3],
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
                self.kept[1].push((k.as_str().into(), to_yaml(v.clone())));
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
        let (to, key) = match raw_key.split_once('.') {
            Some(("address", rest)) => (1, rest),
            Some(("source", rest)) => (2, rest),
            _ => (0, raw_key.trim()),
        };
        self.kept[to].push((key.into(), value));
    }

    fn issue(&mut self, reason: RejectReason, field: &'static str, value: &Json) {
        self.issues.push(Issue::new(
            reason,
            field,
            text(value).unwrap_or_else(|| value.to_string()),
        ));
    }

    fn finish(mut self, format: Format) -> Record {
        let [lead, address, source] = std::mem::take(&mut self.kept);
        self.lead.extra.extend(lead);
        self.address.extra.extend(address);
        self.source.extra.extend(source);
        if self.address.is_empty() {
            if let Some(line) = self.address_line.take() {
                self.address = parse_address_line(&line);
            }
        } else if let Some(line) = self.address_line.take() {
            if self.address.street.is_none() {
                self.address.street = line.split(',').next().map(|s| s.trim().to_string());
            }
            // The parts may lack a postal code the line gives beside the same city
            // ("…, Poli Crysochous 8820, Cyprus"): taken only then.
            if self.address.postal_code.is_none() {
                let parsed = parse_address_line(&line);
                let same_city = match (&parsed.city, &self.address.city) {
                    (Some(a), Some(b)) => a.trim().to_lowercase() == b.trim().to_lowercase(),
                    _ => false,
                };
                if same_city {
                    self.address.postal_code = parsed.postal_code;
                }
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
    fn a_postal_code_only_the_address_line_gives_is_kept_beside_the_same_city() {
        // google-maps-scraper, Cyprus: complete_address has no postal_code; address does.
        let row: Map<String, Json> = serde_json::from_str(
            r#"{"title":"Agora Tavern","address":"Leoforos Akamantos 12, Poli Crysochous 8820, Cyprus",
                "complete_address":"{\"borough\":\"Latsi\",\"street\":\"Leoforos Akamantos 12\",\"city\":\"Poli Crysochous\",\"postal_code\":\"\",\"state\":\"\",\"country\":\"CY\"}"}"#,
        )
        .unwrap();
        let a = to_record(&row, Format::GoogleMapsCsv, &Options::default())
            .lead
            .address
            .unwrap();
        assert_eq!(a.postal_code.as_deref(), Some("8820"));
        // A line about another city says nothing of this one's code.
        let row: Map<String, Json> = serde_json::from_str(
            r#"{"title":"B","address":"1 High St, Paphos 8015, Cyprus",
                "complete_address":"{\"street\":\"1 High St\",\"city\":\"Peyia\",\"country\":\"CY\"}"}"#,
        )
        .unwrap();
        let a = to_record(&row, Format::GoogleMapsCsv, &Options::default())
            .lead
            .address
            .unwrap();
        assert_eq!(a.postal_code, None);
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
