//! The delivery records of the channels beside email (the StateStore's second half): where each
//! WhatsApp/SMS message and each CRM hand-off stands — `intent` before the request, `sent`,
//! `retry`, `failed` or `cancelled` after — with the provider's id and status. One model for
//! every backend: the files backend keeps a channel's records as JSON lines in
//! `.leadsite/<channel>/ledger.jsonl` (where earlier versions kept the WhatsApp ledger), the
//! database in `leadsite_records`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, InputError, Location, Result};
use crate::fsutil;

/// The WhatsApp/SMS agent's channel.
pub const WHATSAPP: &str = "whatsapp";
/// The CRMAdapter's channel.
pub const CRM: &str = "crm";
/// Every channel with records, in the order an export writes them.
pub const CHANNELS: &[&str] = &[WHATSAPP, CRM];

/// One message's record, by the bus event that asked for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The bus event's id.
    pub id: String,
    /// `intent`, `sent`, `retry`, `failed`, `cancelled` (see [`Record::stage`]).
    pub state: String,
    /// Tries so far (throttling does not count).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tries: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub lead: String,
    /// The number a text went to, E.164.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub to: String,
    /// Meta's `wamid.…` or Twilio's `SM…`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub provider_id: String,
    /// What the provider said of it when it took it (`accepted`, `queued` …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub provider_status: String,
    /// The run that recorded the intent: while it holds its store (or lease), the message is
    /// being sent; after, it is in doubt.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub run: String,
}

/// Where a message stands by its record's last word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Never tried, or to be tried again (`retry`).
    Open,
    /// Settled for good: `sent`, `failed`, `cancelled`.
    Done,
    /// `intent`, or a word no version wrote: may have gone out; never sent again until
    /// `resolve` says what happened (unless the run that wrote it is still sending it).
    Begun,
}

impl Record {
    pub fn stage(&self) -> Stage {
        match self.state.as_str() {
            "" | "retry" => Stage::Open,
            "sent" | "failed" | "cancelled" => Stage::Done,
            _ => Stage::Begun,
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The records of every channel, by channel and event id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Records(BTreeMap<String, BTreeMap<String, Record>>);

impl Records {
    pub fn get(&self, channel: &str, id: &str) -> Option<&Record> {
        self.0.get(channel)?.get(id)
    }

    pub fn insert(&mut self, channel: &str, record: Record) {
        self.0
            .entry(channel.to_string())
            .or_default()
            .insert(record.id.clone(), record);
    }

    /// A channel's records, by event id.
    pub fn of(&self, channel: &str) -> impl Iterator<Item = &Record> {
        self.0.get(channel).into_iter().flat_map(|m| m.values())
    }

    /// Every record with its channel.
    pub fn all(&self) -> impl Iterator<Item = (&str, &Record)> {
        self.0
            .iter()
            .flat_map(|(c, m)| m.values().map(move |r| (c.as_str(), r)))
    }

    pub fn is_empty(&self) -> bool {
        self.0.values().all(BTreeMap::is_empty)
    }

    /// The leads a text was meant for at `number` (E.164), sent, begun or still queued: whose
    /// reply or STOP it is (an opt-out errs toward stopping more leads, never fewer).
    pub fn leads_texted_at(&self, number: &str) -> Vec<String> {
        let mut leads: Vec<String> = self
            .of(WHATSAPP)
            .filter(|e| !e.lead.is_empty() && e.to == number)
            .map(|e| e.lead.clone())
            .collect();
        leads.sort();
        leads.dedup();
        leads
    }

    /// The text the provider knows as `provider_id`.
    pub fn by_provider_id(&self, provider_id: &str) -> Option<&Record> {
        self.of(WHATSAPP)
            .find(|e| !provider_id.is_empty() && e.provider_id == provider_id)
    }

    /// The messages of `channel` left between intent and outcome by a run that no longer
    /// holds them (`is_live` says which runs do): in doubt, for `resolve`.
    pub fn in_doubt<'a>(
        &'a self,
        channel: &str,
        is_live: &'a dyn Fn(&str) -> bool,
    ) -> impl Iterator<Item = &'a Record> + 'a {
        self.of(channel)
            .filter(move |e| e.stage() == Stage::Begun && (e.run.is_empty() || !is_live(&e.run)))
    }
}

/// Reads the records as they stand now (`listen`: whose reply or status a text's webhook is).
pub type Reader = Box<dyn Fn() -> Result<Records> + Send + Sync>;

/// `.leadsite/<channel>/ledger.jsonl`, where the files backend keeps a channel's records.
pub fn ledger_path(work_dir: &Path, channel: &str) -> std::path::PathBuf {
    work_dir.join(channel).join("ledger.jsonl")
}

/// Reads the files backend's records of every channel. A ledger that cannot be read is an
/// error: read as empty, it would send everything again. A line cut short by a crash
/// mid-append is passed over (what it would have recorded is then still `intent`, in doubt, or
/// not begun); the WhatsApp ledger's lines of earlier versions (`id<TAB>state`) are read as
/// they were written, and the CRM's `tries.json` of earlier versions as records to try again.
pub fn read_files(work_dir: &Path) -> Result<Records> {
    let mut records = Records::default();
    let tries_path = work_dir.join(CRM).join("tries.json");
    if let Some(bytes) = fsutil::read_state(&tries_path)? {
        let tries: BTreeMap<String, u32> = serde_json::from_slice(&bytes).map_err(|e| {
            Error::from(InputError::new(
                Location::file(&tries_path),
                format!("the CRM's tries cannot be read: {e}"),
            ))
        })?;
        for (id, tries) in tries {
            records.insert(
                CRM,
                Record {
                    id,
                    state: "retry".into(),
                    tries,
                    ..Record::default()
                },
            );
        }
    }
    for channel in CHANNELS {
        read_ledger(&ledger_path(work_dir, channel), channel, &mut records)?;
    }
    Ok(records)
}

fn read_ledger(path: &Path, channel: &str, records: &mut Records) -> Result<()> {
    let bytes = fsutil::read_state(path)?.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let bad = |i: usize, why: String| -> Error {
        InputError::new(Location::at_line(path, i as u64 + 1), why).into()
    };
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let record = if line.starts_with('{') {
            match serde_json::from_str::<Record>(line) {
                Ok(e) => e,
                // Cut short by a crash mid-append (later appends start a new line after it):
                // that record was never made, and the one before it stands.
                Err(e) if e.is_eof() => continue,
                Err(e) => return Err(bad(i, format!("not a ledger record: {e}"))),
            }
        } else if let Some((id, state)) = line.split_once('\t') {
            let tries = state.strip_prefix("retry:").and_then(|n| n.parse().ok());
            Record {
                id: id.to_string(),
                state: if tries.is_some() { "retry" } else { state }.to_string(),
                tries: tries.unwrap_or(0),
                // The orchestrator names its texts `wa.<lead>.<sequence>.<step>`.
                lead: id
                    .strip_prefix("wa.")
                    .and_then(|rest| rest.split('.').next())
                    .unwrap_or_default()
                    .to_string(),
                ..Record::default()
            }
        } else {
            return Err(bad(i, "not a ledger record".into()));
        };
        records.insert(channel, record);
    }
    Ok(())
}

/// Appends a record to its channel's ledger, durable before it returns.
pub fn append(work_dir: &Path, channel: &str, record: &Record) -> Result<()> {
    let path = ledger_path(work_dir, channel);
    if let Some(dir) = path.parent() {
        fsutil::create_dir_all(dir)?;
    }
    let line = serde_json::to_string(record).expect("a record serializes");
    fsutil::append_line(&path, &line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledgers_read_old_lines_pass_over_torn_ones_and_refuse_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = ledger_path(dir.path(), WHATSAPP);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // An earlier version's tab-separated lines, then JSON, then a record cut short by a
        // crash and closed by the next append.
        std::fs::write(
            &path,
            "wa.a.s.2\tintent\nwa.a.s.2\tretry:1\nwa.b.s.2\tsent\n\
             {\"id\":\"wa.c.s.2\",\"state\":\"intent\",\"lead\":\"c\",\"to\":\"+1217\"}\n\
             {\"id\":\"wa.c.s.2\",\"state\":\"se\n\
             {\"id\":\"wa.d.s.2\",\"state\":\"sent\",\"lead\":\"d\",\"to\":\"+1555\",\"provider_id\":\"SM7\"}\n",
        )
        .unwrap();
        let l = read_files(dir.path()).unwrap();
        let get = |id: &str| l.get(WHATSAPP, id).unwrap();
        assert_eq!(
            (get("wa.a.s.2").state.as_str(), get("wa.a.s.2").tries),
            ("retry", 1)
        );
        assert_eq!(get("wa.b.s.2").state, "sent");
        assert_eq!(get("wa.c.s.2").state, "intent", "in doubt, never resent");
        assert_eq!(get("wa.a.s.2").lead, "a", "an old line's lead, from its id");
        assert_eq!(l.leads_texted_at("+1555"), vec!["d".to_string()]);
        assert_eq!(
            l.leads_texted_at("+1217"),
            vec!["c".to_string()],
            "a message in doubt may have arrived: its STOP counts"
        );
        let dead = |_: &str| false;
        let doubt: Vec<&str> = l.in_doubt(WHATSAPP, &dead).map(|e| e.id.as_str()).collect();
        assert_eq!(doubt, ["wa.c.s.2"]);
        assert_eq!(l.by_provider_id("SM7").unwrap().lead, "d");
        assert!(l.by_provider_id("").is_none());
        append(
            dir.path(),
            WHATSAPP,
            &Record {
                id: "wa.e.s.2".into(),
                state: "sent".into(),
                lead: "e".into(),
                to: "+1555".into(),
                ..Record::default()
            },
        )
        .unwrap();
        let again = read_files(dir.path()).unwrap();
        assert_eq!(
            again.leads_texted_at("+1555"),
            vec!["d".to_string(), "e".to_string()]
        );
        // An old line cut short ("se" for "sent") is a word no version wrote: in doubt.
        std::fs::write(&path, "wa.f.s.2\tintent\nwa.f.s.2\tse\n").unwrap();
        let l = read_files(dir.path()).unwrap();
        assert_eq!(l.in_doubt(WHATSAPP, &dead).count(), 1);
        std::fs::write(&path, "this is not a ledger\n").unwrap();
        let err = read_files(dir.path()).unwrap_err().to_string();
        assert!(err.contains("ledger.jsonl:1"), "{err}");
    }

    #[test]
    fn earlier_crm_tries_are_records_to_try_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(CRM)).unwrap();
        std::fs::write(dir.path().join(CRM).join("tries.json"), r#"{"ev-1":2}"#).unwrap();
        let r = read_files(dir.path()).unwrap();
        let e = r.get(CRM, "ev-1").unwrap();
        assert_eq!((e.stage(), e.tries), (Stage::Open, 2));
        // A record written since wins over the old count.
        append(
            dir.path(),
            CRM,
            &Record {
                id: "ev-1".into(),
                state: "sent".into(),
                ..Record::default()
            },
        )
        .unwrap();
        let r = read_files(dir.path()).unwrap();
        assert_eq!(r.get(CRM, "ev-1").unwrap().stage(), Stage::Done);
    }

    #[test]
    fn a_begun_message_of_a_live_run_is_not_in_doubt() {
        let mut r = Records::default();
        r.insert(
            WHATSAPP,
            Record {
                id: "a".into(),
                state: "intent".into(),
                run: "r1".into(),
                ..Record::default()
            },
        );
        let live = |run: &str| run == "r1";
        assert_eq!(r.in_doubt(WHATSAPP, &live).count(), 0);
        let dead = |_: &str| false;
        assert_eq!(r.in_doubt(WHATSAPP, &dead).count(), 1);
    }
}
