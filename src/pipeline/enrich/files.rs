//! The `files` provider: local CSV or YAML data about leads (bought lists, a CRM export, notes),
//! matched to a lead by `dedup_key`, else by website host (`website`, `domain` or `host`
//! column), else by phone. Recognised columns: email, phone, description, logo_url (or logo),
//! industry_category (or industry), and social profiles as `other_ids.<network>` or a column
//! named after the network (facebook, instagram, linkedin, x, twitter, youtube, tiktok, yelp).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::error::{yaml_error, InputError, Location};
use crate::lead::value::{canonical_url, phone_e164};
use crate::lead::Lead;

pub const NETWORKS: &[&str] = &[
    "facebook",
    "instagram",
    "linkedin",
    "x",
    "twitter",
    "youtube",
    "tiktok",
    "yelp",
];

/// One row of a data file: its non-empty cells, and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub cells: BTreeMap<String, String>,
    pub origin: Location,
}

impl Row {
    pub fn get(&self, keys: &[&str]) -> Option<&str> {
        keys.iter()
            .find_map(|k| self.cells.get(*k))
            .map(String::as_str)
    }

    /// `file:line` for `enrichment.sources`.
    pub fn source(&self) -> String {
        format!("files:{}", self.origin)
    }
}

/// Every row of every configured file, indexed for lookup.
#[derive(Debug, Default)]
pub struct FilesProvider {
    rows: Vec<Row>,
    by_key: HashMap<String, usize>,
    by_host: HashMap<String, usize>,
    by_phone: HashMap<String, usize>,
}

impl FilesProvider {
    /// Loads `paths` (relative to `root`, and named so in messages and sources); a file that
    /// cannot be read is reported and left out, the rest still load.
    pub fn load(root: &Path, paths: &[PathBuf], region: &str) -> (FilesProvider, Vec<InputError>) {
        let mut provider = FilesProvider::default();
        let mut errors = Vec::new();
        for path in paths {
            match read_rows(&root.join(path), path) {
                Ok(rows) => rows.into_iter().for_each(|r| provider.add(r, region)),
                Err(e) => errors.push(e),
            }
        }
        (provider, errors)
    }

    fn add(&mut self, row: Row, region: &str) {
        let i = self.rows.len();
        if let Some(k) = row.get(&["dedup_key"]) {
            self.by_key.entry(k.to_string()).or_insert(i);
        }
        if let Some(h) = row.get(&["website", "domain", "host"]).and_then(host_of) {
            self.by_host.entry(h).or_insert(i);
        }
        if let Some(p) = row.get(&["phone"]).and_then(|p| phone_e164(p, region)) {
            self.by_phone.entry(p).or_insert(i);
        }
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows about `lead`: the one with its key, then its website host, then its phone.
    pub fn lookup(&self, lead: &Lead) -> Vec<&Row> {
        let host = lead.website.as_deref().and_then(host_of);
        let hits = [
            self.by_key.get(&lead.dedup_key),
            host.and_then(|h| self.by_host.get(&h)),
            lead.phone.as_deref().and_then(|p| self.by_phone.get(p)),
        ];
        let mut out: Vec<usize> = Vec::new();
        for &i in hits.into_iter().flatten() {
            if !out.contains(&i) {
                out.push(i);
            }
        }
        out.into_iter().map(|i| &self.rows[i]).collect()
    }
}

/// A website's host without `www.`, lower case.
pub fn host_of(website: &str) -> Option<String> {
    let host = crate::lead::value::url_host(&canonical_url(website)?)?;
    Some(host.trim_start_matches("www.").to_string())
}

/// Reads the data file at `real`, named `path` in messages.
fn read_rows(real: &Path, path: &Path) -> Result<Vec<Row>, InputError> {
    let text = crate::limits::read_text(real, crate::limits::MAX_TEXT_FILE).map_err(|mut e| {
        e.location.path = path.to_path_buf();
        e
    })?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" => read_csv(&text, path),
        "yaml" | "yml" => read_yaml(&text, path),
        other => Err(InputError::new(
            Location::file(path),
            format!("unknown data file type {other:?}: use .csv, .yaml or .yml"),
        )),
    }
}

fn read_csv(text: &str, path: &Path) -> Result<Vec<Row>, InputError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(path, &e))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, &e))?;
        let line = record.position().map_or(0, |p| p.line());
        let cells = headers
            .iter()
            .zip(record.iter())
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(h, v)| (h.clone(), v.trim().to_string()))
            .collect();
        rows.push(Row {
            cells,
            origin: Location::at_line(path, line),
        });
    }
    Ok(rows)
}

fn csv_error(path: &Path, e: &csv::Error) -> InputError {
    let line = e.position().map_or(0, |p| p.line());
    InputError::new(Location::at_line(path, line), e.to_string())
}

fn read_yaml(text: &str, path: &Path) -> Result<Vec<Row>, InputError> {
    use serde_yaml_ng::Value;
    crate::limits::check_yaml(text, path)?;
    let value: Value = serde_yaml_ng::from_str(text).map_err(|e| yaml_error(path, &e))?;
    let items = match value {
        Value::Sequence(items) => items,
        Value::Mapping(_) => vec![value],
        Value::Null => Vec::new(),
        _ => {
            return Err(InputError::new(
                Location::file(path),
                "expected a list of mappings, one a lead",
            ))
        }
    };
    let mut rows = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let Value::Mapping(map) = item else {
            return Err(InputError::new(
                Location::at_item(path, i),
                "expected a mapping of field: value",
            ));
        };
        let mut cells = BTreeMap::new();
        flatten("", &Value::Mapping(map), &mut cells);
        rows.push(Row {
            cells,
            origin: Location::at_item(path, i),
        });
    }
    Ok(rows)
}

fn flatten(prefix: &str, value: &serde_yaml_ng::Value, out: &mut BTreeMap<String, String>) {
    use serde_yaml_ng::Value;
    match value {
        Value::Mapping(m) => {
            for (k, v) in m {
                let key = crate::lead::key_name(k).to_ascii_lowercase();
                let key = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&key, v, out);
            }
        }
        Value::String(s) if !s.trim().is_empty() => {
            out.insert(prefix.to_string(), s.trim().to_string());
        }
        Value::Number(n) => {
            out.insert(prefix.to_string(), n.to_string());
        }
        Value::Bool(b) => {
            out.insert(prefix.to_string(), b.to_string());
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead(key: &str, website: Option<&str>, phone: Option<&str>) -> Lead {
        Lead {
            dedup_key: key.into(),
            name: "X".into(),
            website: website.map(String::from),
            phone: phone.map(String::from),
            ..Lead::default()
        }
    }

    #[test]
    fn rows_match_by_key_host_then_phone() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("extra.csv");
        std::fs::write(
            &csv,
            "dedup_key,website,phone,email\nacme,,,a@acme.example\n,https://www.bolt.example/x,,b@bolt.example\n,,(217) 555-0134,c@c.example\n",
        )
        .unwrap();
        let yaml = dir.path().join("more.yaml");
        std::fs::write(
            &yaml,
            "- dedup_key: delta\n  other_ids: {facebook: https://facebook.com/delta}\n",
        )
        .unwrap();
        let (p, errors) = FilesProvider::load(dir.path(), &[csv, yaml], "US");
        assert!(errors.is_empty(), "{errors:?}");
        let email = |l: &Lead| {
            p.lookup(l)
                .first()
                .and_then(|r| r.get(&["email"]))
                .map(String::from)
        };
        assert_eq!(
            email(&lead("acme", None, None)).as_deref(),
            Some("a@acme.example")
        );
        assert_eq!(
            email(&lead("b", Some("http://bolt.example/"), None)).as_deref(),
            Some("b@bolt.example")
        );
        assert_eq!(
            email(&lead("c", None, Some("+12175550134"))).as_deref(),
            Some("c@c.example")
        );
        assert_eq!(email(&lead("nobody", None, None)), None);
        let delta = p.lookup(&lead("delta", None, None))[0];
        assert_eq!(
            delta.get(&["other_ids.facebook"]),
            Some("https://facebook.com/delta")
        );
        assert!(delta.source().contains("more.yaml"), "{}", delta.source());
    }

    #[test]
    fn a_broken_file_is_reported_and_the_others_load() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "- dedup_key: [unclosed\n").unwrap();
        let good = dir.path().join("good.csv");
        std::fs::write(&good, "dedup_key,email\nacme,a@acme.example\n").unwrap();
        let (p, errors) = FilesProvider::load(dir.path(), &[bad, good], "US");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("bad.yaml"), "{}", errors[0]);
        assert_eq!(p.lookup(&lead("acme", None, None)).len(), 1);
    }
}
