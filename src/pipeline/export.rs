//! Format/Export: the ingest reports (rejects, merges) and `leadsite export` of routed leads as
//! CSV (columns a spreadsheet or CRM imports, and that `ingest` reads back) or JSON.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use super::dedup::Merge;
use super::validate::Reject;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::lead::Lead;

/// Writes `<work>/ingest/rejects.csv` (one row per reason) and `merges.csv`, replacing the last
/// run's, and returns their paths.
pub fn write_reports(
    work: &Path,
    rejects: &[Reject],
    merges: &[Merge],
) -> Result<(PathBuf, PathBuf)> {
    let dir = work.join("ingest");
    let rejects_path = dir.join("rejects.csv");
    let merges_path = dir.join("merges.csv");
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| Error::Output(e.to_string());
    w.write_record(["file", "line", "record", "name", "reason", "field", "value"])
        .map_err(csv_err)?;
    for r in rejects {
        for i in &r.issues {
            let line = r.origin.line.map(|l| l.to_string()).unwrap_or_default();
            let item = r
                .origin
                .item
                .map(|i| (i + 1).to_string())
                .unwrap_or_default();
            let file = r.origin.path.display().to_string();
            w.write_record([
                file.as_str(),
                &line,
                &item,
                &r.name,
                i.reason.as_str(),
                i.field,
                &i.value,
            ])
            .map_err(csv_err)?;
        }
    }
    fsutil::write_atomic(
        &rejects_path,
        &w.into_inner().map_err(|e| Error::Output(e.to_string()))?,
        false,
    )?;

    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "dedup_key",
        "into",
        "from",
        "matched_on",
        "filled",
        "conflicts",
    ])
    .map_err(csv_err)?;
    for m in merges {
        let conflicts: Vec<String> = m
            .conflicts
            .iter()
            .map(|(f, kept, other)| format!("{f}: kept {kept:?}, not {other:?}"))
            .collect();
        w.write_record([
            &m.key,
            &m.into.to_string(),
            &m.from.to_string(),
            m.matched_on.as_str(),
            &m.filled.join(" "),
            &conflicts.join("; "),
        ])
        .map_err(csv_err)?;
    }
    fsutil::write_atomic(
        &merges_path,
        &w.into_inner().map_err(|e| Error::Output(e.to_string()))?,
        false,
    )?;
    Ok((rejects_path, merges_path))
}

/// The columns every CSV export starts with; unknown fields follow, sorted.
const COLUMNS: &[&str] = &[
    "dedup_key",
    "name",
    "category",
    "address.street",
    "address.city",
    "address.region",
    "address.postal_code",
    "address.country",
    "location.lat",
    "location.lng",
    "location.accuracy",
    "phone",
    "website",
    "email",
    "rating",
    "review_count",
    "timezone",
    "description",
    "about",
    "source.kind",
    "source.id",
    "source.fetched_at",
    "route",
    "route_reason",
];

/// Writes leads as CSV: one row per lead, nested fields as dotted columns, structured unknown
/// fields as JSON text.
pub fn write_csv<W: Write>(leads: &[&Lead], out: W) -> Result<()> {
    let rows: Vec<Vec<(String, String)>> = leads.iter().map(|l| flatten(l)).collect();
    let mut extra: BTreeSet<&str> = BTreeSet::new();
    for row in &rows {
        extra.extend(
            row.iter()
                .map(|(k, _)| k.as_str())
                .filter(|k| !COLUMNS.contains(k)),
        );
    }
    let header: Vec<&str> = COLUMNS
        .iter()
        .copied()
        .chain(extra.iter().copied())
        .collect();
    let mut w = csv::Writer::from_writer(out);
    let csv_err = |e: csv::Error| Error::Output(e.to_string());
    w.write_record(&header).map_err(csv_err)?;
    for row in &rows {
        let cells: Vec<&str> = header
            .iter()
            .map(|h| {
                row.iter()
                    .find(|(k, _)| k == h)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("")
            })
            .collect();
        w.write_record(&cells).map_err(csv_err)?;
    }
    w.flush().map_err(|e| Error::Output(e.to_string()))?;
    Ok(())
}

/// Writes leads as a JSON array.
pub fn write_json<W: Write>(leads: &[&Lead], mut out: W) -> Result<()> {
    serde_json::to_writer_pretty(&mut out, leads)
        .map_err(|e| Error::Output(format!("cannot write JSON: {e}")))?;
    out.write_all(b"\n")
        .map_err(|e| Error::Output(e.to_string()))?;
    Ok(())
}

fn flatten(lead: &Lead) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in lead.to_mapping() {
        let key = k.as_str().unwrap_or_default().to_string();
        match (key.as_str(), v) {
            ("address" | "location" | "source", Value::Mapping(inner)) => {
                for (k2, v2) in inner {
                    out.push((
                        format!("{key}.{}", k2.as_str().unwrap_or_default()),
                        cell(&v2),
                    ));
                }
            }
            (_, v) => out.push((key, cell(&v))),
        }
    }
    out
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn export_columns_are_fields_of_the_record_and_every_field_has_one() {
        let tops: Vec<&str> = super::COLUMNS
            .iter()
            .map(|c| c.split('.').next().unwrap())
            .collect();
        for top in &tops {
            assert!(crate::lead::KNOWN_FIELDS.contains(top), "{top}");
        }
        // The stages' namespaces follow the columns with the unknown fields, sorted.
        for field in crate::lead::KNOWN_FIELDS {
            assert!(
                tops.contains(field) || ["enrichment", "quality"].contains(field),
                "the record's field {field} has no export column"
            );
        }
    }
}
