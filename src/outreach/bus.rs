//! MessageBus and its file backend under `.leadsite/bus/`.
//!
//! - `log/`: every published message, one file each, named `<publish time>-<id>.json` so that
//!   names sort in publish order. A publish is durable before it returns (temp file, fsync,
//!   rename, fsync of the folder).
//! - `groups/<group>/acked`: the names a consumer group has acked, appended and fsync'd one by
//!   one. A message not acked comes back at the next poll (at-least-once): consumers are
//!   idempotent.
//! - `inbox/`: outside programs drop JSON events here; [`FileBus::drain_inbox`] publishes the
//!   valid ones and moves the others to `rejected/` beside a `.reason` file (never deleted).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil;

/// The longest message id: it becomes part of file names (NAME_MAX is 255 bytes).
pub const MAX_ID: usize = 128;

/// The topics a bus carries.
pub const TOPICS: &[&str] = &[
    "lead.contacted",
    "lead.responded",
    "lead.bounced",
    "lead.unsubscribed",
    "lead.engaged",
    "outreach.email.send",
    "outreach.whatsapp.send",
    "crm.sync",
];

/// One event. `data` holds the topic's own fields (a bounce's `kind`, a step, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Unique; a message published twice with one id is one message.
    #[serde(default)]
    pub id: String,
    pub topic: String,
    pub lead_id: String,
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub data: serde_json::Map<String, serde_json::Value>,
}

impl Message {
    pub fn new(topic: &str, lead_id: &str, at: DateTime<Utc>) -> Message {
        Message {
            id: String::new(),
            topic: topic.to_string(),
            lead_id: lead_id.to_string(),
            at: Some(at),
            data: serde_json::Map::new(),
        }
    }

    /// Why this message cannot go on the bus, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if !TOPICS.contains(&self.topic.as_str()) {
            return Some(format!(
                "unknown topic {:?} (known: {})",
                crate::text::cut(&self.topic, 80),
                TOPICS.join(", ")
            ));
        }
        if !crate::lead::is_valid_key(&self.lead_id) {
            return Some(format!(
                "lead_id {:?} is not a dedup_key",
                crate::text::cut(&self.lead_id, 80)
            ));
        }
        let safe = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        // An id names a file: only these characters, not dots alone, and short enough for a
        // file name on any file system.
        if self.id.len() > MAX_ID {
            return Some(format!(
                "id is {} characters long; at most {MAX_ID}",
                self.id.len()
            ));
        }
        if !self.id.is_empty()
            && (!self.id.chars().all(safe) || !self.id.chars().any(|c| c.is_ascii_alphanumeric()))
        {
            return Some(format!(
                "id {:?}: use letters, digits, '-', '_', '.'",
                self.id
            ));
        }
        // `nul.json` cannot be a file on Windows, whatever follows the dot.
        let stem = self.id.split('.').next().unwrap_or("").to_ascii_lowercase();
        if crate::lead::is_reserved_name(&stem) {
            return Some(format!(
                "id {:?} is a device name on Windows: choose another",
                self.id
            ));
        }
        None
    }
}

/// A message handed to a consumer group; ack it once handled.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The message's file name in `log/`: what an ack names.
    pub key: String,
    pub message: Message,
}

/// What draining the inbox did.
#[derive(Debug, Default, PartialEq)]
pub struct InboxReport {
    pub published: usize,
    /// (file, reason) of each file moved to `rejected/`.
    pub rejected: Vec<(String, String)>,
}

pub trait MessageBus {
    /// Durable before it returns. Returns the message as stored (with its id and time).
    fn publish(&self, message: Message) -> Result<Message>;
    /// Messages `group` has not acked, oldest first, at most `max`.
    fn poll(&self, group: &str, max: usize) -> Result<Vec<Delivery>>;
    fn ack(&self, group: &str, delivery: &Delivery) -> Result<()>;
    /// Whether a message with this id is on the bus already.
    fn is_published(&self, id: &str) -> bool;
}

pub struct FileBus {
    dir: PathBuf,
}

impl FileBus {
    pub fn new(dir: impl Into<PathBuf>) -> FileBus {
        FileBus { dir: dir.into() }
    }

    pub fn inbox(&self) -> PathBuf {
        self.dir.join("inbox")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("log")
    }

    fn acked_path(&self, group: &str) -> Result<PathBuf> {
        check_group(group)?;
        Ok(self.dir.join("groups").join(group).join("acked"))
    }

    fn acked(&self, group: &str) -> Result<HashSet<String>> {
        let path = self.acked_path(group)?;
        match fsutil::read_state(&path)? {
            // A line cut short by a crash is no ack: that message comes again.
            Some(bytes) => Ok(String::from_utf8_lossy(&bytes)
                .split_inclusive('\n')
                .filter_map(|l| l.strip_suffix('\n'))
                .map(String::from)
                .collect()),
            None => Ok(HashSet::new()),
        }
    }

    /// Publishes every valid file of `inbox/`; moves the others to `rejected/` with a reason.
    /// Moves each log entry that cannot be read (a torn or corrupted file) to `quarantine/`
    /// beside a `.reason`, so that one bad message never stops a run; returns (entry, why).
    pub fn quarantine(&self) -> Result<Vec<(String, String)>> {
        let log = self.log();
        let mut moved = Vec::new();
        for name in entry_names(&log)? {
            if !name.ends_with(".json") || name.starts_with('.') {
                continue;
            }
            let path = log.join(&name);
            if let Err(why) = read_entry(&path) {
                self.set_aside("quarantine", &path, &name, &why)?;
                moved.push((name, why));
            }
        }
        Ok(moved)
    }

    /// Moves `path` into the bus folder `folder`, beside `NAME.reason` saying why.
    fn set_aside(&self, folder: &str, path: &Path, name: &str, why: &str) -> Result<()> {
        let dir = self.dir.join(folder);
        fsutil::create_dir_all(&dir)?;
        // A name near the file system's limit leaves no room for `.reason` and a temp suffix:
        // it is shortened (keeping a digest of the whole), so one odd file never stops a run.
        let name = fsutil::short_name(name, 120);
        let why: String = why.chars().take(2_000).collect();
        fsutil::write_atomic(
            &dir.join(format!("{name}.reason")),
            format!("{why}\n").as_bytes(),
            true,
        )?;
        fsutil::rename(path, &dir.join(&name))
    }

    /// Entries moved to `quarantine/` so far.
    pub fn quarantined(&self) -> Result<usize> {
        Ok(entry_names(&self.dir.join("quarantine"))?
            .iter()
            .filter(|n| n.ends_with(".json"))
            .count())
    }

    /// The event files waiting in the inbox, oldest name first, each read and checked: the
    /// message (its id from the file name when it has none), or why it is not one. Moves nothing.
    pub fn read_inbox(&self) -> Result<Vec<(PathBuf, std::result::Result<Message, String>)>> {
        Ok(fsutil::list_dir(&self.inbox())?
            .into_iter()
            .filter(|path| {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                // Half-written drops (editors, `cp`) are hidden or not yet .json: wait for them.
                !name.starts_with('.') && name.ends_with(".json") && !path.is_dir()
            })
            .map(|path| {
                let name = path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                // A link may lead out of the project (and its target be a secret): never read.
                if fsutil::is_symlink(&path) {
                    return (path, Err("a symbolic link: not read".to_string()));
                }
                let parsed = crate::limits::read_bytes(&path, crate::limits::MAX_EVENT)
                    .map_err(|e| e.to_string())
                    .and_then(|b| {
                        serde_json::from_slice::<Message>(&b)
                            .map_err(|e| format!("not a valid event: {e}"))
                    })
                    .and_then(|m| match m.problem() {
                        Some(p) => Err(p),
                        None => Ok(m),
                    })
                    .map(|mut message| {
                        if message.id.is_empty() {
                            message.id = name.trim_end_matches(".json").to_string();
                            if message.problem().is_some() {
                                message.id = crate::fsutil::fingerprint(name.as_bytes());
                            }
                        }
                        message
                    });
                (path, parsed)
            })
            .collect())
    }

    /// Publishes each valid event of the inbox and removes its file; moves each invalid one to
    /// `rejected/` beside a `.reason` file.
    pub fn drain_inbox(&self) -> Result<InboxReport> {
        self.drain_inbox_into(self)
    }

    /// [`FileBus::drain_inbox`] onto another bus (the inbox is a folder whatever the backend).
    pub fn drain_inbox_into(&self, bus: &dyn MessageBus) -> Result<InboxReport> {
        let mut report = InboxReport::default();
        for (path, parsed) in self.read_inbox()? {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            match parsed {
                Ok(message) => match bus.publish(message) {
                    Ok(_) => {
                        fsutil::remove_file(&path)?;
                        report.published += 1;
                    }
                    // Refused (too large once its id and time are added …): set aside too.
                    Err(Error::Rejected(reason)) => {
                        self.set_aside("rejected", &path, &name, &reason)?;
                        report.rejected.push((name, reason));
                    }
                    Err(e) => return Err(e),
                },
                Err(reason) => {
                    self.set_aside("rejected", &path, &name, &reason)?;
                    report.rejected.push((name, reason));
                }
            }
        }
        Ok(report)
    }
}

/// One log entry, or why it cannot be read.
fn read_entry(path: &Path) -> std::result::Result<Message, String> {
    // leadsite writes entries as files: a link was put there by something else, and is not
    // followed (to a file outside the project, say).
    if fsutil::is_symlink(path) {
        return Err("a symbolic link, not an entry leadsite wrote: not followed".into());
    }
    let bytes =
        crate::limits::read_bytes(path, crate::limits::MAX_EVENT).map_err(|e| e.to_string())?;
    let message: Message =
        serde_json::from_slice(&bytes).map_err(|e| format!("not a bus message: {e}"))?;
    match message.problem() {
        Some(p) => Err(p),
        None => Ok(message),
    }
}

/// A message checked and made ready to store: its time set, and its id (the digest of what it
/// says, when it came without one), as every backend stores it.
pub(crate) fn prepared(mut message: Message) -> Result<Message> {
    if let Some(p) = message.problem() {
        return Err(Error::Rejected(p));
    }
    let at = *message.at.get_or_insert_with(Utc::now);
    if message.id.is_empty() {
        message.id = fsutil::fingerprint(
            format!(
                "{}|{}|{}|{:?}",
                message.topic,
                message.lead_id,
                at.to_rfc3339(),
                message.data
            )
            .as_bytes(),
        );
    }
    // What is stored must be readable again: a message over the bound of a log entry is refused
    // now, not quarantined at the next run.
    let size = serde_json::to_vec(&message).map_or(0, |b| b.len()) as u64;
    if size > crate::limits::MAX_EVENT {
        return Err(Error::Rejected(format!(
            "the message is {} KiB; a bus message is at most {} KiB",
            size / 1024,
            crate::limits::MAX_EVENT / 1024
        )));
    }
    Ok(message)
}

/// A consumer group's name: it names a folder (files) or a row (databases).
pub(crate) fn check_group(group: &str) -> Result<()> {
    if crate::lead::is_valid_key(group) {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "consumer group {group:?}: use lower-case letters, digits and '-'"
        )))
    }
}

impl MessageBus for FileBus {
    fn publish(&self, message: Message) -> Result<Message> {
        let message = prepared(message)?;
        // One id is one message: a second publish of it changes nothing. A marker per id makes
        // that a lookup, not a scan of the log.
        let marker = self.dir.join("ids").join(&message.id);
        if marker.exists() {
            return Ok(message);
        }
        let log = self.log();
        let stamp = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let name = format!("{stamp:020}-{}.json", message.id);
        let bytes = serde_json::to_vec(&message).expect("a message always serializes");
        fsutil::write_atomic(&log.join(name), &bytes, true)?;
        fsutil::sync_dir(&log);
        // A crash before the marker is written means the id may be published once more:
        // delivery is at-least-once anyway, and every consumer is idempotent.
        fsutil::write_atomic(&marker, b"", false)?;
        Ok(message)
    }

    fn poll(&self, group: &str, max: usize) -> Result<Vec<Delivery>> {
        let acked = self.acked(group)?;
        let log = self.log();
        let names = entry_names(&log)?;
        let mut out = Vec::new();
        for key in names.into_iter() {
            if !key.ends_with(".json") || key.starts_with('.') || acked.contains(&key) {
                continue;
            }
            if out.len() >= max {
                break;
            }
            // An entry that cannot be read is skipped here; `quarantine` moves it aside.
            if let Ok(message) = read_entry(&log.join(&key)) {
                out.push(Delivery { key, message });
            }
        }
        Ok(out)
    }

    fn is_published(&self, id: &str) -> bool {
        !id.is_empty() && self.dir.join("ids").join(id).exists()
    }

    fn ack(&self, group: &str, delivery: &Delivery) -> Result<()> {
        let path = self.acked_path(group)?;
        if let Some(dir) = path.parent() {
            fsutil::create_dir_all(dir)?;
        }
        fsutil::append_line(&path, &delivery.key)
    }
}

/// The bus in memory: for fast unit tests of the agents and the campaign rules. The same
/// contract as [`FileBus`] (the tests below run one suite on both); nothing survives the process.
#[derive(Default)]
pub struct MemoryBus {
    inner: std::sync::Mutex<MemoryLog>,
}

#[derive(Default)]
struct MemoryLog {
    /// (key, message) in publish order; keys sort in that order too.
    log: Vec<(String, Message)>,
    ids: HashSet<String>,
    acked: std::collections::HashMap<String, HashSet<String>>,
}

impl MessageBus for MemoryBus {
    fn publish(&self, message: Message) -> Result<Message> {
        let message = prepared(message)?;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.ids.insert(message.id.clone()) {
            let key = format!("{:020}-{}.json", inner.log.len(), message.id);
            inner.log.push((key, message.clone()));
        }
        Ok(message)
    }

    fn poll(&self, group: &str, max: usize) -> Result<Vec<Delivery>> {
        check_group(group)?;
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let acked = inner.acked.get(group);
        Ok(inner
            .log
            .iter()
            .filter(|(key, _)| !acked.is_some_and(|a| a.contains(key)))
            .take(max)
            .map(|(key, message)| Delivery {
                key: key.clone(),
                message: message.clone(),
            })
            .collect())
    }

    fn is_published(&self, id: &str) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.ids.contains(id)
    }

    fn ack(&self, group: &str, delivery: &Delivery) -> Result<()> {
        check_group(group)?;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .acked
            .entry(group.to_string())
            .or_default()
            .insert(delivery.key.clone());
        Ok(())
    }
}

/// The names in folder `dir`, sorted (none when it is missing).
fn entry_names(dir: &Path) -> Result<Vec<String>> {
    Ok(fsutil::list_dir(dir)?
        .iter()
        .map(|p| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn bus() -> (tempfile::TempDir, FileBus) {
        let dir = tempfile::tempdir().unwrap();
        let bus = FileBus::new(dir.path().join("bus"));
        (dir, bus)
    }

    #[test]
    fn every_bus_keeps_the_contract() {
        let (_d, files) = bus();
        super::super::contract::bus(&files);
        super::super::contract::bus(&MemoryBus::default());
    }

    #[test]
    fn a_file_name_near_the_limit_is_set_aside_and_the_run_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let bus = FileBus::new(dir.path());
        fs::create_dir_all(bus.inbox()).unwrap();
        let long = format!("{}.json", "b".repeat(250));
        fs::write(bus.inbox().join(&long), "not json").unwrap();
        let report = bus.drain_inbox().unwrap();
        assert_eq!(report.rejected.len(), 1);
        assert!(fs::read_dir(bus.inbox()).unwrap().next().is_none());
        let kept = fs::read_dir(dir.path().join("rejected")).unwrap().count();
        assert_eq!(kept, 2, "the file and its reason");
    }

    #[test]
    fn the_inbox_publishes_good_events_and_keeps_bad_ones_with_a_reason() {
        let (_d, bus) = bus();
        let inbox = bus.inbox();
        fs::create_dir_all(&inbox).unwrap();
        fs::write(
            inbox.join("reply-1.json"),
            r#"{"topic":"lead.responded","lead_id":"acme"}"#,
        )
        .unwrap();
        fs::write(inbox.join("broken.json"), "{not json").unwrap();
        fs::write(
            inbox.join("odd.json"),
            r#"{"topic":"lead.teleported","lead_id":"acme"}"#,
        )
        .unwrap();
        fs::write(inbox.join(".partial.json"), "{").unwrap();
        let report = bus.drain_inbox().unwrap();
        assert_eq!(report.published, 1);
        let reasons: Vec<&str> = report.rejected.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(reasons, ["broken.json", "odd.json"]);
        assert!(report.rejected[1].1.contains("unknown topic"));
        let rejected = bus.dir.join("rejected");
        assert!(rejected.join("broken.json").is_file());
        assert!(fs::read_to_string(rejected.join("odd.json.reason"))
            .unwrap()
            .contains("lead.teleported"));
        assert!(
            inbox.join(".partial.json").is_file(),
            "a half-written drop is left alone"
        );
        let got = bus.poll("orchestrator", 10).unwrap();
        assert_eq!(got[0].message.id, "reply-1");
    }

    #[test]
    fn ids_that_windows_cannot_hold_and_huge_values_are_refused_briefly() {
        let mut m = Message::new("lead.responded", "acme", chrono::Utc::now());
        for id in ["nul", "CON.json", "com1.x"] {
            m.id = id.to_string();
            assert!(
                m.problem().is_some_and(|p| p.contains("device name")),
                "{id}"
            );
        }
        m.id = "nully".into();
        assert_eq!(m.problem(), None);
        m.lead_id = "x".repeat(5_000_000);
        assert!(m.problem().is_some_and(|p| p.len() < 200));
    }

    #[test]
    fn a_torn_ack_line_is_no_ack() {
        let (_d, bus) = bus();
        bus.publish(Message::new("lead.responded", "acme", Utc::now()))
            .unwrap();
        let d = bus.poll("g", 1).unwrap().remove(0);
        let path = bus.acked_path("g").unwrap();
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &d.key[..5]).unwrap();
        assert_eq!(bus.poll("g", 1).unwrap().len(), 1);
        bus.ack("g", &d).unwrap();
        assert!(
            bus.poll("g", 1).unwrap().is_empty(),
            "the ack after a torn line counts"
        );
    }
}
