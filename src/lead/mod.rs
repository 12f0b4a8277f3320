//! The lead record: typed known fields, the `enrichment` and `quality`
//! namespaces, and every unknown field kept in `extra` so that it survives load → save → load.

pub(crate) mod comments;
mod de;
pub mod extra;
pub mod load;
pub mod save;
pub mod snapshot;
pub(crate) mod value;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_yaml_ng::Mapping;

pub use extra::Extra;
pub use load::{load_dir, parse_str, LeadFile, LoadedLeads, Shape};

/// One local business.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Lead {
    /// Unique, stable across re-ingests, `[a-z0-9-]`; also the page slug and the file name.
    pub dedup_key: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<GeoPoint>,
    /// E.164 after normalization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Absolute URL after normalization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Markdown written for this lead, shown on its page in place of the industry's copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<Route>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_reason: Option<String>,
    /// Written only by the EnrichmentAggregator (`pipeline::enrich`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrichment: Option<Box<Enrichment>>,
    /// Written only by LeadScoring (`pipeline::score`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<Box<Quality>>,
    /// Every field leadsite does not know, kept as it was.
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 after normalization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Address {
    pub fn is_empty(&self) -> bool {
        self.street.is_none()
            && self.city.is_none()
            && self.region.is_none()
            && self.postal_code.is_none()
            && self.country.is_none()
            && self.extra.is_empty()
    }
}

/// Where a business is on the map (the lead's `location:` field); not a place in a file, which
/// is [`crate::error::Location`].
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct GeoPoint {
    pub lat: f64,
    pub lng: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<Accuracy>,
    #[serde(flatten)]
    pub extra: Mapping,
}

/// How precise a geocode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accuracy {
    Rooftop,
    Range,
    Centroid,
    Approximate,
}

/// Where the lead came from.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Source {
    /// `google_maps`, `osm`, `csv`, `json`, `yaml`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Route {
    Target,
    Nurture,
    Reject,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Target => "TARGET",
            Route::Nurture => "NURTURE",
            Route::Reject => "REJECT",
        }
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Route {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_uppercase().as_str() {
            "TARGET" => Ok(Route::Target),
            "NURTURE" => Ok(Route::Nurture),
            "REJECT" => Ok(Route::Reject),
            other => Err(format!(
                "unknown route {other:?} (expected TARGET, NURTURE or REJECT)"
            )),
        }
    }
}

/// The EnrichmentAggregator's namespace.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Enrichment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub other_ids: Mapping,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub industry_category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// The `og:image` of the lead's own site.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub sources: Mapping,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enriched_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub extra: Mapping,
}

/// LeadScoring's namespace.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Quality {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completeness_score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence_score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category_score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualified: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    #[serde(flatten)]
    pub extra: Mapping,
}

/// The names of the top-level fields the record schema knows; everything else is `extra`.
pub const KNOWN_FIELDS: &[&str] = <Lead as de::Record>::FIELDS;

impl Lead {
    /// The lead as a YAML mapping of its top-level fields (what a contract check compares).
    pub fn to_mapping(&self) -> Mapping {
        match serde_yaml_ng::to_value(self) {
            Ok(serde_yaml_ng::Value::Mapping(m)) => m,
            _ => Mapping::new(),
        }
    }

    /// How a lead is named in messages: its key, else its name.
    pub fn label(&self) -> &str {
        if self.dedup_key.is_empty() {
            &self.name
        } else {
            &self.dedup_key
        }
    }

    /// The address to write to: the lead's own, else the one enrichment found.
    pub fn contact_email(&self) -> Option<&str> {
        self.email
            .as_deref()
            .or_else(|| self.enrichment.as_deref()?.email.as_deref())
    }

    pub fn city(&self) -> Option<&str> {
        self.address.as_ref().and_then(|a| a.city.as_deref())
    }

    pub fn country(&self) -> Option<&str> {
        self.address.as_ref().and_then(|a| a.country.as_deref())
    }

    /// Whether a field named as in config (`phone`, `address.city`, an extra's key) has a value.
    pub fn has_field(&self, field: &str) -> bool {
        let text = |o: &Option<String>| o.as_deref().is_some_and(|s| !s.trim().is_empty());
        let addr =
            |f: fn(&Address) -> &Option<String>| self.address.as_ref().is_some_and(|a| text(f(a)));
        match field {
            "dedup_key" => !self.dedup_key.is_empty(),
            "name" => !self.name.trim().is_empty(),
            "category" => text(&self.category),
            "address" => self.address.as_ref().is_some_and(|a| !a.is_empty()),
            "address.street" => addr(|a| &a.street),
            "address.city" => addr(|a| &a.city),
            "address.region" => addr(|a| &a.region),
            "address.postal_code" => addr(|a| &a.postal_code),
            "address.country" => addr(|a| &a.country),
            "location" => self.location.is_some(),
            "phone" => text(&self.phone),
            "website" => text(&self.website),
            "email" => text(&self.email),
            "rating" => self.rating.is_some(),
            "review_count" => self.review_count.is_some(),
            "timezone" => text(&self.timezone),
            "description" => text(&self.description),
            "about" => text(&self.about),
            "source" => self.source.is_some(),
            "route" => self.route.is_some(),
            "route_reason" => text(&self.route_reason),
            "enrichment" => self.enrichment.is_some(),
            "quality" => self.quality.is_some(),
            other => {
                let map = self.to_mapping();
                let (head, rest) = other.split_once('.').unwrap_or((other, ""));
                let value = map.get(head).and_then(|v| {
                    if rest.is_empty() {
                        Some(v)
                    } else {
                        lookup(v, rest)
                    }
                });
                value.is_some_and(|v| !is_empty_value(v))
            }
        }
    }
}

impl Lead {
    /// Gives back the room parsers leave in the unknown fields' mappings and lists: a hundred
    /// thousand leads hold many small ones.
    pub fn shrink_to_fit(&mut self) {
        self.extra.shrink_to_fit();
        if let Some(a) = self.address.as_mut() {
            a.extra.shrink_to_fit();
        }
        if let Some(s) = self.source.as_mut() {
            s.extra.shrink_to_fit();
        }
    }
}

/// How a top-level field differs between two versions of a lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Removed,
    Changed,
    Added,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Removed => "removed",
            Change::Changed => "changed",
            Change::Added => "added outside the stage's namespace",
        }
    }
}

impl Lead {
    /// The top-level fields (unknown ones by name) in which `after` differs from `self`, compared
    /// as typed values: no serialization, so a contract check costs little.
    pub fn changes(&self, after: &Lead) -> Vec<(String, Change)> {
        // Destructured so that a new field cannot be forgotten here.
        let Lead {
            dedup_key,
            name,
            category,
            address,
            location,
            phone,
            website,
            email,
            rating,
            review_count,
            timezone,
            description,
            about,
            source,
            route,
            route_reason,
            enrichment,
            quality,
            extra,
        } = self;
        let mut out = Vec::new();
        let mut text = |field: &str, a: &String, b: &String| {
            let c = match (a.is_empty(), b.is_empty()) {
                (false, true) => Some(Change::Removed),
                (true, false) => Some(Change::Added),
                _ if a != b => Some(Change::Changed),
                _ => None,
            };
            out.extend(c.map(|c| (field.to_string(), c)));
        };
        text("dedup_key", dedup_key, &after.dedup_key);
        text("name", name, &after.name);
        diff(&mut out, "category", category, &after.category);
        diff(&mut out, "address", address, &after.address);
        diff(&mut out, "location", location, &after.location);
        diff(&mut out, "phone", phone, &after.phone);
        diff(&mut out, "website", website, &after.website);
        diff(&mut out, "email", email, &after.email);
        diff(&mut out, "rating", rating, &after.rating);
        diff(&mut out, "review_count", review_count, &after.review_count);
        diff(&mut out, "timezone", timezone, &after.timezone);
        diff(&mut out, "description", description, &after.description);
        diff(&mut out, "about", about, &after.about);
        diff(&mut out, "source", source, &after.source);
        diff(&mut out, "route", route, &after.route);
        diff(&mut out, "route_reason", route_reason, &after.route_reason);
        diff(&mut out, "enrichment", enrichment, &after.enrichment);
        diff(&mut out, "quality", quality, &after.quality);
        out.extend(extra.changes(&after.extra));
        out
    }
}

fn diff<T: PartialEq>(out: &mut Vec<(String, Change)>, field: &str, a: &Option<T>, b: &Option<T>) {
    let c = match (a, b) {
        (Some(_), None) => Some(Change::Removed),
        (None, Some(_)) => Some(Change::Added),
        (Some(x), Some(y)) if x != y => Some(Change::Changed),
        _ => None,
    };
    out.extend(c.map(|c| (field.to_string(), c)));
}

/// A mapping key as a field name.
pub fn key_name(k: &serde_yaml_ng::Value) -> String {
    match k {
        serde_yaml_ng::Value::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

fn lookup<'a>(value: &'a serde_yaml_ng::Value, path: &str) -> Option<&'a serde_yaml_ng::Value> {
    let mut v = value;
    for part in path.split('.') {
        v = v.as_mapping()?.get(part)?;
    }
    Some(v)
}

/// Null, empty string, empty sequence and empty mapping count as "no value".
pub fn is_empty_value(v: &serde_yaml_ng::Value) -> bool {
    match v {
        serde_yaml_ng::Value::Null => true,
        serde_yaml_ng::Value::String(s) => s.trim().is_empty(),
        serde_yaml_ng::Value::Sequence(s) => s.is_empty(),
        serde_yaml_ng::Value::Mapping(m) => m.is_empty(),
        _ => false,
    }
}

/// Whether `key` is a valid dedup_key: non-empty, `[a-z0-9-]`, no leading or trailing hyphen.
/// Names Windows gives to devices (`con`, `nul`, `com1` …): a file or folder of that name cannot
/// be made there, so a project copied to Windows, or a site uploaded from it, would break.
pub fn is_reserved_name(key: &str) -> bool {
    matches!(key, "con" | "prn" | "aux" | "nul")
        || (key.len() == 4
            && (key.starts_with("com") || key.starts_with("lpt"))
            && key.as_bytes()[3].is_ascii_digit())
}

pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && !is_reserved_name(key)
        && key.len() <= 120
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !key.starts_with('-')
        && !key.ends_with('-')
}
