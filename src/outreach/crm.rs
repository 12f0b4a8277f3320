//! CRMAdapterAgent: hands engaged leads to a CRM. It reads the bus as its own consumer group
//! (`crm`): on `lead.responded`, `lead.engaged` and `crm.sync` it appends the lead to a CRM import
//! CSV (once per lead) and/or POSTs it to a webhook, signed with HMAC-SHA256 over the body. A
//! webhook delivery that fails (429, 5xx, no answer) stays unacked and is tried again next run, up
//! to `max_tries`; then, like any 4xx, it is written to the dead letters and acked. Each
//! delivery's record (tries, outcome) is in the StateStore ([`super::records`]); a worker claims
//! it before the POST, so two workers never post it at once. A POST left begun by a worker that
//! died is posted again (at least once: the receiver knows a repeat by `X-Leadsite-Event`).
//! Counts go to `crm_stats.json`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::bus::MessageBus;
use super::records::{Record, Stage, CRM};
use super::store::{StateStore, Status};
use super::Attempt;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::fsutil::{self, io_error};
use crate::lead::Lead;

pub const GROUP: &str = "crm";
const TOPICS: &[&str] = &["lead.responded", "lead.engaged", "crm.sync"];
pub const CSV_COLUMNS: &[&str] = &[
    "company",
    "email",
    "phone",
    "website",
    "city",
    "region",
    "country",
    "lead_status",
    "landing_url",
    "dedup_key",
];

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrmStats {
    pub synced: usize,
    pub failed: usize,
    pub pending: usize,
}

fn dir(config: &Config) -> PathBuf {
    config.work_dir().join("crm")
}

/// The hand-off counts so far (none before the first hand-off). A file that cannot be read is an
/// error, not a count of zero.
pub fn stats(config: &Config) -> Result<CrmStats> {
    let path = dir(config).join("crm_stats.json");
    let Some(bytes) = fsutil::read_state(&path)? else {
        return Ok(CrmStats::default());
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::from(crate::error::InputError::new(
            crate::error::Location::file(&path),
            format!("not leadsite's CRM counts ({e}); remove it to count anew"),
        ))
    })
}

/// The signature of a webhook body: `sha256=` and the hex HMAC-SHA256 with `secret`.
/// `X-Leadsite-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`: the
/// timestamp is signed with the body, so a receiver that refuses requests more than 5 minutes
/// old (as Stripe's receivers do) cannot be fed a captured request again.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let stamp = format!("{timestamp}.");
    format!(
        "t={timestamp},v1={}",
        hmac_hex(secret, &[stamp.as_bytes(), body])
    )
}

/// HMAC-SHA256 of the parts, one after the other, in lower-case hex.
fn hmac_hex(secret: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    for part in parts {
        mac.update(part);
    }
    let bytes = mac.finalize().into_bytes();
    crate::text::hex(&bytes)
}

/// A CSV cell a spreadsheet will not run: one that starts like a formula (`=`, `+`, `-`, `@`,
/// tab, carriage return) is prefixed with `'` (OWASP's advice for CSV injection).
fn inert(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

/// One CRM pass over the bus.
pub fn run(
    config: &Config,
    leads: &super::orchestrator::Leads,
    pages: &BTreeMap<String, String>,
    bus: &dyn MessageBus,
    store: &mut dyn StateStore,
) -> Result<CrmStats> {
    let crm = &config.outreach.crm;
    let d = dir(config);
    fsutil::create_dir_all(&d)?;
    let mut stats = stats(config)?;
    stats.pending = 0;
    let csv_path = crm.csv.as_ref().map(|p| config.resolve(p));
    let mut in_csv = csv_keys(csv_path.as_deref())?;
    let secret = std::env::var("LEADSITE_CRM_SECRET").unwrap_or_default();
    if crm.webhook_url.is_some() && secret.trim().is_empty() {
        return Err(Error::Usage(
            "outreach.crm.webhook_url is set: set LEADSITE_CRM_SECRET too (the requests are signed with it)".into(),
        ));
    }
    // No redirects: ureq would turn a redirected POST into a GET, and the lead would count as
    // synced though nothing arrived.
    let agent = crate::web::api_client();
    for delivery in bus.poll(GROUP, usize::MAX)? {
        let m = &delivery.message;
        if !TOPICS.contains(&m.topic.as_str()) {
            bus.ack(GROUP, &delivery)?;
            continue;
        }
        let Some(lead) = leads.get(&m.lead_id) else {
            bus.ack(GROUP, &delivery)?;
            continue;
        };
        let before = store.records().get(CRM, &m.id).cloned().unwrap_or_default();
        match before.stage() {
            Stage::Done => {
                bus.ack(GROUP, &delivery)?;
                continue;
            }
            // Another worker is posting it now.
            Stage::Begun if store.held_elsewhere(&before.run) => continue,
            Stage::Begun | Stage::Open => {}
        }
        let landing = pages.get(&m.lead_id).cloned().unwrap_or_default();
        let status = store
            .get(&m.lead_id)
            .map_or(Status::New, |s| s.status)
            .as_str();
        let row = row(lead, status, &landing);
        let Some(url) = &crm.webhook_url else {
            if let Some(path) = &csv_path {
                if in_csv.insert(lead.dedup_key.clone()) {
                    append_csv(path, &row)?;
                }
            }
            stats.synced += 1;
            bus.ack(GROUP, &delivery)?;
            continue;
        };
        let record = |state: &str, tries: u32| Record {
            id: m.id.clone(),
            state: state.into(),
            tries,
            lead: m.lead_id.clone(),
            ..Record::default()
        };
        let intent = Record {
            run: store.run().to_string(),
            ..record("intent", before.tries)
        };
        if !store.claim_record(CRM, intent, &before)? {
            continue;
        }
        if let Some(path) = &csv_path {
            if in_csv.insert(lead.dedup_key.clone()) {
                append_csv(path, &row)?;
            }
        }
        let body = serde_json::to_vec(&serde_json::json!({
            "event": m.topic, "event_id": m.id, "lead": CSV_COLUMNS.iter().zip(&row).map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>(),
        }))
        .expect("a JSON body");
        let result = agent
            .post(url)
            .header("Content-Type", "application/json")
            .header(
                "X-Leadsite-Signature",
                signature(secret.as_bytes(), chrono::Utc::now().timestamp(), &body),
            )
            .header("X-Leadsite-Event", m.id.as_str())
            .send(&body[..]);
        let outcome = match result {
            Ok(r) if r.status().is_success() => Attempt::Sent,
            Ok(r) if r.status().is_redirection() => Attempt::Permanent(format!(
                "HTTP {}: the webhook moved to {}; set outreach.crm.webhook_url to it",
                r.status().as_u16(),
                r.headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("(no Location)")
            )),
            Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                Attempt::retry(format!("HTTP {}", r.status().as_u16()))
            }
            Ok(r) => Attempt::Permanent(format!("HTTP {}", r.status().as_u16())),
            Err(e) => Attempt::retry(e.to_string()),
        };
        let permanent = matches!(outcome, Attempt::Permanent(_));
        match outcome {
            Attempt::Sent => {
                store.put_record(CRM, record("sent", before.tries))?;
                stats.synced += 1;
                bus.ack(GROUP, &delivery)?;
            }
            Attempt::Retry { why, .. }
            | Attempt::Halt(why)
            | Attempt::Permanent(why)
            | Attempt::OptedOut(why)
            | Attempt::InDoubt(why) => {
                let tries = before.tries + 1;
                if permanent || tries >= crm.max_tries {
                    dead_letter(&d, &m.id, &m.lead_id, &why)?;
                    store.put_record(CRM, record("failed", tries))?;
                    stats.failed += 1;
                    bus.ack(GROUP, &delivery)?;
                } else {
                    store.put_record(CRM, record("retry", tries))?;
                    stats.pending += 1;
                }
            }
        }
    }
    fsutil::write_atomic(
        &d.join("crm_stats.json"),
        &serde_json::to_vec_pretty(&stats).expect("json"),
        true,
    )?;
    Ok(stats)
}

fn row(lead: &Lead, status: &str, landing: &str) -> Vec<String> {
    let a = lead.address.as_ref();
    let email = lead.contact_email().unwrap_or_default().to_string();
    vec![
        lead.name.trim().to_string(),
        email,
        lead.phone.clone().unwrap_or_default(),
        lead.website.clone().unwrap_or_default(),
        a.and_then(|a| a.city.clone()).unwrap_or_default(),
        a.and_then(|a| a.region.clone()).unwrap_or_default(),
        a.and_then(|a| a.country.clone()).unwrap_or_default(),
        status.to_string(),
        landing.to_string(),
        lead.dedup_key.clone(),
    ]
}

fn csv_keys(path: Option<&Path>) -> Result<HashSet<String>> {
    let Some(path) = path else {
        return Ok(HashSet::new());
    };
    // Not there yet: nothing in it. Unreadable, or not a regular file (a FIFO would hang): an
    // error, never "empty" (every lead would be appended again).
    let Some(bytes) = fsutil::read_state(path)? else {
        return Ok(HashSet::new());
    };
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    let col = r
        .headers()
        .ok()
        .and_then(|h| h.iter().position(|c| c == "dedup_key"));
    Ok(r.records()
        .flatten()
        .filter_map(|rec| Some(rec.get(col?)?.to_string()))
        .collect())
}

fn append_csv(path: &Path, row: &[String]) -> Result<()> {
    let new = !path.exists();
    if let Some(d) = path.parent() {
        fsutil::create_dir_all(d)?;
    }
    let f = fsutil::open(path, std::fs::OpenOptions::new().create(true).append(true))?;
    let mut w = csv::Writer::from_writer(f);
    let map = |e: csv::Error| Error::Output(format!("{}: {e}", path.display()));
    if new {
        w.write_record(CSV_COLUMNS).map_err(map)?;
    }
    w.write_record(row.iter().map(|c| inert(c))).map_err(map)?;
    w.flush().map_err(|e| io_error(path, e))?;
    w.into_inner()
        .map_err(|e| Error::Output(e.to_string()))?
        .sync_data()
        .map_err(|e| io_error(path, e))
}

fn dead_letter(dir: &Path, id: &str, lead: &str, why: &str) -> Result<()> {
    let line = serde_json::json!({"event_id": id, "lead_id": lead, "why": why});
    fsutil::append_line(&dir.join("dead-letter.jsonl"), &line.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_signature_is_hmac_sha256_of_the_timestamp_and_the_body() {
        // RFC 4231 test case 2, in two parts.
        assert_eq!(
            super::hmac_hex(b"Jefe", &[b"what do ya want ", b"for nothing?"]),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            super::signature(b"Jefe", 1_795_000_000, b"{}"),
            format!(
                "t=1795000000,v1={}",
                super::hmac_hex(b"Jefe", &[b"1795000000.{}"])
            )
        );
    }

    #[test]
    fn cells_that_look_like_formulas_are_inert() {
        assert_eq!(super::inert("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(super::inert("+1 217 555"), "'+1 217 555");
        assert_eq!(super::inert("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(super::inert("Acme Garage"), "Acme Garage");
    }
}
