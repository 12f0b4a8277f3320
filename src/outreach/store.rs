//! StateStore and its file backend under `.leadsite/state/`: per-lead campaign
//! state in a snapshot (`snapshot.json`) plus an append-only journal (`journal.jsonl`, one whole
//! state per line, fsync'd per commit). Opening replays the journal over the snapshot; a last line
//! cut short by a crash is dropped (that commit never returned). Compaction writes a new snapshot
//! (atomically, fsync'd) and empties the journal. One writer at a time: a lock on `lock`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::records::{self, Record, Records};
use crate::error::{Error, InputError, Location, Result};
use crate::fsutil::{self, io_error};

/// Where a lead is in its campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    New,
    Contacted,
    Responded,
    Bounced,
    Unsubscribed,
    NoResponse,
    CrmSynced,
}

impl Status {
    /// The name the store writes (`no_response`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Contacted => "contacted",
            Status::Responded => "responded",
            Status::Bounced => "bounced",
            Status::Unsubscribed => "unsubscribed",
            Status::NoResponse => "no_response",
            Status::CrmSynced => "crm_synced",
        }
    }

    /// Terminal states ignore late events.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Status::New | Status::Contacted)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    pub event: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// A send that was begun: recorded before the SMTP transaction, cleared after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub step: u32,
    pub message_id: String,
    pub at: DateTime<Utc>,
    /// The run that began the send ([`StateStore::run`]): while that run still holds the
    /// store, the step is being sent; after it, the step is in doubt.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub run: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LeadState {
    pub status: Status,
    pub step: u32,
    pub attempt_count: u32,
    pub last_contacted: Option<DateTime<Utc>>,
    pub next_action_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    #[serde(default)]
    pub message_ids: Vec<String>,
    /// Set while a send is under way; still set after a crash: that step is in doubt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<Intent>,
}

/// What claiming a step came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The intent is recorded: this worker sends the step.
    Won,
    /// Another worker changed the lead since this one read it (it claimed the step, or applied
    /// an event): this worker leaves the lead alone; its state has been read again.
    Lost,
    /// Today's cap is used up (across every worker).
    Capped,
}

/// Per-lead campaign state and the suppression list: files (the default), PostgreSQL (many
/// workers), or memory (dry runs, unit tests). A worker reads states, decides, and commits; a
/// backend shared by several workers refuses a commit over a state another worker changed in
/// between ([`Error::Conflict`]) and the worker reads that lead again ([`StateStore::refresh`]).
pub trait StateStore {
    fn get(&self, lead: &str) -> Option<&LeadState>;
    /// Durable before it returns. `Err(Error::Conflict)` when another worker changed the lead
    /// since it was read: nothing was written, and [`StateStore::get`] shows the new state.
    fn commit(&mut self, lead: &str, state: LeadState) -> Result<()>;
    fn states(&self) -> &BTreeMap<String, LeadState>;
    /// This run's id, recorded with each intent.
    fn run(&self) -> &str;
    /// Reads one lead's state again from the backend (after a conflict).
    fn refresh(&mut self, _lead: &str) -> Result<()> {
        Ok(())
    }
    /// Records the intent (or the queueing) of a step, `state` carrying it: exactly one of
    /// several workers wins it, and the claims of one UTC day across all workers stay within
    /// `daily_cap`. `sent_today` is what this worker counted when it started. A store with one
    /// writer at a time (files, memory) leaves the cap to that writer's own count.
    fn claim(
        &mut self,
        lead: &str,
        state: LeadState,
        _day: chrono::NaiveDate,
        _sent_today: usize,
        _daily_cap: usize,
    ) -> Result<Claim> {
        match self.commit(lead, state) {
            Ok(()) => Ok(Claim::Won),
            Err(Error::Conflict(_)) => Ok(Claim::Lost),
            Err(e) => Err(e),
        }
    }
    /// Whether the run that recorded an intent still holds it: while it does, the step is
    /// being sent; after, it is in doubt.
    fn is_live(&self, run: &str) -> bool {
        run == self.run()
    }
    /// Whether another run, still live, began what `run` names: it is being sent right now,
    /// that run's to finish (not in doubt, not this worker's to touch).
    fn held_elsewhere(&self, run: &str) -> bool {
        !run.is_empty() && run != self.run() && self.is_live(run)
    }
    /// Whether this worker still holds its lease (and renews it), asked right before a send: a
    /// store with one writer at a time holds it for its life.
    fn holds_lease(&mut self) -> Result<bool> {
        Ok(true)
    }
    /// Whether an address opted out, complained or bounced hard (case-insensitive).
    fn is_suppressed(&self, address: &str) -> bool;
    /// [`StateStore::is_suppressed`] asked of the backend itself, right before a send: another
    /// worker may have added the address since this one read the list.
    fn suppressed_now(&mut self, address: &str) -> Result<bool> {
        Ok(self.is_suppressed(address))
    }
    /// Puts an address on the suppression list for good (re-ingesting the lead cannot undo it).
    fn suppress(&mut self, address: &str, reason: &str) -> Result<()>;
    /// Every suppressed address with its reason, sorted.
    fn suppressed(&self) -> Result<Vec<(String, String)>>;
    /// The WhatsApp/SMS and CRM delivery records, as this worker read them.
    fn records(&self) -> &Records;
    /// Writes a channel's record, durable before it returns.
    fn put_record(&mut self, channel: &str, record: Record) -> Result<()>;
    /// Records that a message is begun (`record`) if its record is still what this worker
    /// read (`before`): false when another worker changed it in between (that worker sends
    /// it, or did), and [`StateStore::records`] shows what it wrote. A store with one writer at
    /// a time writes it.
    fn claim_record(&mut self, channel: &str, record: Record, _before: &Record) -> Result<bool> {
        self.put_record(channel, record).map(|()| true)
    }
}

/// Commits `change` applied to the lead's state, reading the lead again and applying it anew
/// when another worker changed the lead in between: an outcome is never lost to a race.
pub fn settle(
    store: &mut dyn StateStore,
    lead: &str,
    mut change: impl FnMut(&mut LeadState),
) -> Result<()> {
    for _ in 0..100 {
        let mut state = store.get(lead).cloned().unwrap_or_default();
        change(&mut state);
        match store.commit(lead, state) {
            Err(Error::Conflict(_)) => store.refresh(lead)?,
            other => return other,
        }
    }
    Err(Error::Conflict(format!(
        "lead {lead}: changed by other workers 100 times in a row"
    )))
}

/// The suppression list in memory: the set, and the reason of each address.
#[derive(Debug, Default, Clone)]
pub struct Suppressed(BTreeMap<String, String>);

impl Suppressed {
    pub fn contains(&self, address: &str) -> bool {
        self.0.contains_key(&address.trim().to_lowercase())
    }

    /// Adds an address; returns it (lower case) when it is new.
    pub fn insert(&mut self, address: &str, reason: &str) -> Option<String> {
        let a = address.trim().to_lowercase();
        if a.is_empty() || self.0.contains_key(&a) {
            return None;
        }
        self.0.insert(a.clone(), reason.to_string());
        Some(a)
    }

    pub fn list(&self) -> Vec<(String, String)> {
        self.0.iter().map(|(a, r)| (a.clone(), r.clone())).collect()
    }
}

/// Campaign state in memory only: what `schedule --dry-run` works on (a copy of the real
/// state, so that a dry run changes nothing), and what unit tests of the rules use.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    states: BTreeMap<String, LeadState>,
    suppressed: Suppressed,
    records: Records,
    /// The runs known to be under way (a copy's: the one holding the files' lock, or the
    /// workers whose leases were live when it was copied).
    live: std::collections::BTreeSet<String>,
}

impl MemoryStore {
    pub fn new(states: BTreeMap<String, LeadState>) -> MemoryStore {
        MemoryStore {
            states,
            suppressed: Suppressed::default(),
            records: Records::default(),
            live: Default::default(),
        }
    }

    /// A copy of another store: its states, suppression list and records.
    pub fn copy_of(store: &dyn StateStore) -> Result<MemoryStore> {
        let mut m = MemoryStore::new(store.states().clone());
        m.records = store.records().clone();
        // The runs whose steps are being sent now, as the original knows them.
        let runs = m
            .states
            .values()
            .filter_map(|s| s.in_flight.as_ref().map(|i| i.run.clone()))
            .chain(m.records.all().map(|(_, r)| r.run.clone()));
        for run in runs {
            if !run.is_empty() && store.is_live(&run) {
                m.live.insert(run);
            }
        }
        for (a, r) in store.suppressed()? {
            m.suppressed.insert(&a, &r);
        }
        Ok(m)
    }
}

impl StateStore for MemoryStore {
    fn get(&self, lead: &str) -> Option<&LeadState> {
        self.states.get(lead)
    }

    fn commit(&mut self, lead: &str, state: LeadState) -> Result<()> {
        self.states.insert(lead.to_string(), state);
        Ok(())
    }

    fn states(&self) -> &BTreeMap<String, LeadState> {
        &self.states
    }

    fn run(&self) -> &str {
        "in-memory"
    }

    fn is_live(&self, run: &str) -> bool {
        self.live.contains(run)
    }

    fn is_suppressed(&self, address: &str) -> bool {
        self.suppressed.contains(address)
    }

    fn suppress(&mut self, address: &str, reason: &str) -> Result<()> {
        self.suppressed.insert(address, reason);
        Ok(())
    }

    fn suppressed(&self) -> Result<Vec<(String, String)>> {
        Ok(self.suppressed.list())
    }

    fn records(&self) -> &Records {
        &self.records
    }

    fn put_record(&mut self, channel: &str, record: Record) -> Result<()> {
        self.records.insert(channel, record);
        Ok(())
    }
}

/// `<state>/suppressed.txt`: one `address<TAB>reason` a line.
fn read_suppressed(dir: &Path) -> Result<Suppressed> {
    // Read as state: a link, FIFO or device is an error, never an empty list.
    let bytes = fsutil::read_state(&dir.join("suppressed.txt"))?.unwrap_or_default();
    let mut set = Suppressed::default();
    for line in String::from_utf8_lossy(&bytes).lines() {
        let mut cells = line.splitn(2, '\t');
        let address = cells.next().unwrap_or_default();
        set.insert(address, cells.next().unwrap_or_default().trim());
    }
    Ok(set)
}

#[derive(Serialize, Deserialize)]
struct Entry {
    lead: String,
    state: LeadState,
}

pub struct FileStore {
    dir: PathBuf,
    states: BTreeMap<String, LeadState>,
    journal: fs::File,
    journal_lines: usize,
    /// Held for the store's life: the lock.
    _lock: fs::File,
    /// This process's run, written into the lock file for `status` to read.
    run: String,
    suppressed: Suppressed,
    /// The WhatsApp/SMS and CRM records, from `<work>/<channel>/ledger.jsonl`.
    records: Records,
}

/// Journal lines after which a commit compacts.
const COMPACT_AFTER: usize = 10_000;

impl FileStore {
    /// Opens (creating) the store; fails at once, saying so, when another process holds it.
    pub fn open(dir: &Path) -> Result<FileStore> {
        let lock_path = dir.join("lock");
        let Some(lock) = fsutil::try_lock(&lock_path)? else {
            return Err(Error::Locked(format!(
                "another leadsite process is using {} (its lock is held); this run does nothing",
                dir.display()
            )));
        };
        let run = format!(
            "{}.{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        lock.set_len(0)
            .and_then(|()| (&lock).write_all(run.as_bytes()))
            .map_err(|e| io_error(&lock_path, e))?;
        let (states, good, lines) = Self::load(dir)?;
        let journal_path = dir.join("journal.jsonl");
        let mut journal = fsutil::open(
            &journal_path,
            fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true),
        )?;
        journal
            .set_len(good as u64)
            .and_then(|()| journal.seek(SeekFrom::End(0)).map(|_| ()))
            .map_err(|e| io_error(&journal_path, e))?;
        Ok(FileStore {
            dir: dir.to_path_buf(),
            suppressed: read_suppressed(dir)?,
            records: records::read_files(&work_dir(dir))?,
            states,
            journal,
            journal_lines: lines,
            _lock: lock,
            run,
        })
    }

    /// The run holding the store now, if another process does (a `schedule` under way): the
    /// steps it began are being sent; steps of any other run are in doubt.
    pub fn holder(dir: &Path) -> Option<String> {
        fsutil::lock_holder(&dir.join("lock"))
    }

    /// Every lead's state as the store holds it, without taking the lock (for `status`, which
    /// only reads): what committed writes made, a torn last line left out.
    pub fn read(dir: &Path) -> Result<BTreeMap<String, LeadState>> {
        Ok(Self::load(dir)?.0)
    }

    /// States and suppression list as a [`MemoryStore`], without taking the lock: what a dry
    /// run works on, and what `status` reads.
    pub fn read_copy(dir: &Path) -> Result<MemoryStore> {
        Ok(MemoryStore {
            states: Self::read(dir)?,
            suppressed: read_suppressed(dir)?,
            records: records::read_files(&work_dir(dir))?,
            live: Self::holder(dir).into_iter().collect(),
        })
    }

    /// Snapshot + journal; returns the states, the journal's good length and its line count.
    fn load(dir: &Path) -> Result<(BTreeMap<String, LeadState>, usize, usize)> {
        let snapshot = dir.join("snapshot.json");
        let mut states: BTreeMap<String, LeadState> = match fsutil::read_state(&snapshot)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::from(InputError::new(
                    Location::file(&snapshot),
                    format!("the state snapshot cannot be read: {e}"),
                ))
            })?,
            None => BTreeMap::new(),
        };
        let journal_path = dir.join("journal.jsonl");
        let text = fsutil::read_state(&journal_path)?.unwrap_or_default();
        let mut good = 0usize;
        let mut lines = 0usize;
        for (i, line) in text.split_inclusive(|b| *b == b'\n').enumerate() {
            let complete = line.ends_with(b"\n");
            match serde_json::from_slice::<Entry>(line) {
                Ok(entry) if complete => {
                    states.insert(entry.lead, entry.state);
                    good += line.len();
                    lines += 1;
                }
                // The last line, cut short by a crash: that commit never returned.
                _ if good + line.len() == text.len() && !complete => break,
                Ok(_) | Err(_) => {
                    return Err(Error::from(InputError::new(
                        Location::at_line(&journal_path, i as u64 + 1),
                        "a state journal line that cannot be read; nothing was changed (fix or move the file)",
                    )))
                }
            }
        }
        // A list read from JSON grows to four entries for its first one: a state's history and
        // message ids hold one or two (100,000 states: 26 MB of unused room).
        for state in states.values_mut() {
            state.history.shrink_to_fit();
            state.message_ids.shrink_to_fit();
        }
        Ok((states, good, lines))
    }

    /// Writes every state to a new snapshot and empties the journal.
    pub fn compact(&mut self) -> Result<()> {
        let snapshot = self.dir.join("snapshot.json");
        let bytes = serde_json::to_vec(&self.states).expect("states always serialize");
        fsutil::write_atomic(&snapshot, &bytes, true)?;
        let journal_path = self.dir.join("journal.jsonl");
        self.journal
            .set_len(0)
            .and_then(|()| self.journal.seek(SeekFrom::Start(0)).map(|_| ()))
            .and_then(|()| self.journal.sync_all())
            .map_err(|e| io_error(&journal_path, e))?;
        self.journal_lines = 0;
        Ok(())
    }
}

impl StateStore for FileStore {
    fn get(&self, lead: &str) -> Option<&LeadState> {
        self.states.get(lead)
    }

    fn commit(&mut self, lead: &str, state: LeadState) -> Result<()> {
        let mut line = serde_json::to_vec(&Entry {
            lead: lead.to_string(),
            state: state.clone(),
        })
        .expect("a state always serializes");
        line.push(b'\n');
        let journal_path = self.dir.join("journal.jsonl");
        self.journal
            .write_all(&line)
            .and_then(|()| self.journal.sync_data())
            .map_err(|e| io_error(&journal_path, e))?;
        self.states.insert(lead.to_string(), state);
        self.journal_lines += 1;
        if self.journal_lines >= COMPACT_AFTER {
            self.compact()?;
        }
        Ok(())
    }

    fn states(&self) -> &BTreeMap<String, LeadState> {
        &self.states
    }

    fn run(&self) -> &str {
        &self.run
    }

    fn is_suppressed(&self, address: &str) -> bool {
        self.suppressed.contains(address)
    }

    fn suppress(&mut self, address: &str, reason: &str) -> Result<()> {
        match self.suppressed.insert(address, reason) {
            Some(a) => {
                fsutil::append_line(&self.dir.join("suppressed.txt"), &format!("{a}\t{reason}"))
            }
            None => Ok(()),
        }
    }

    fn suppressed(&self) -> Result<Vec<(String, String)>> {
        Ok(self.suppressed.list())
    }

    fn records(&self) -> &Records {
        &self.records
    }

    fn put_record(&mut self, channel: &str, record: Record) -> Result<()> {
        records::append(&work_dir(&self.dir), channel, &record)?;
        self.records.insert(channel, record);
        Ok(())
    }
}

/// `.leadsite/`, above the state folder: where the channels' ledgers are.
fn work_dir(state_dir: &Path) -> PathBuf {
    state_dir.parent().unwrap_or(state_dir).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(step: u32) -> LeadState {
        LeadState {
            status: Status::Contacted,
            step,
            ..LeadState::default()
        }
    }

    #[test]
    fn commits_survive_a_reopen_and_a_compaction() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = FileStore::open(&dir.path().join("state")).unwrap();
            s.commit("acme", state(1)).unwrap();
            s.commit("bolt", state(1)).unwrap();
            s.commit("acme", state(2)).unwrap();
        }
        let mut s = FileStore::open(&dir.path().join("state")).unwrap();
        assert_eq!(s.get("acme").unwrap().step, 2);
        s.compact().unwrap();
        s.commit("bolt", state(3)).unwrap();
        drop(s);
        let s = FileStore::open(&dir.path().join("state")).unwrap();
        assert_eq!(
            (s.get("acme").unwrap().step, s.get("bolt").unwrap().step),
            (2, 3)
        );
        assert_eq!(s.states().len(), 2);
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_a_bad_middle_line_stops() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = FileStore::open(&dir.path().join("state")).unwrap();
            s.commit("acme", state(1)).unwrap();
        }
        let journal = dir.path().join("state").join("journal.jsonl");
        let mut text = fs::read_to_string(&journal).unwrap();
        text.push_str("{\"lead\":\"acme\",\"state\":{\"sta");
        fs::write(&journal, &text).unwrap();
        {
            let mut s = FileStore::open(&dir.path().join("state")).unwrap();
            assert_eq!(s.get("acme").unwrap().step, 1);
            s.commit("acme", state(2)).unwrap();
        }
        assert_eq!(
            FileStore::open(&dir.path().join("state"))
                .unwrap()
                .get("acme")
                .unwrap()
                .step,
            2
        );
        fs::write(&journal, "garbage\n{\"lead\":\"a\",\"state\":{}}\n").unwrap();
        let err = FileStore::open(&dir.path().join("state"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("journal.jsonl:1"), "{err}");
    }

    #[test]
    fn status_names_are_the_stored_names() {
        for s in [
            Status::New,
            Status::Contacted,
            Status::Responded,
            Status::Bounced,
            Status::Unsubscribed,
            Status::NoResponse,
            Status::CrmSynced,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }

    #[test]
    fn the_file_store_keeps_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        crate::outreach::contract::store(&mut || {
            Box::new(FileStore::open(&dir.path().join("state")).unwrap())
        });
    }

    #[test]
    fn a_second_writer_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let _first = FileStore::open(&dir.path().join("state")).unwrap();
        let err = FileStore::open(&dir.path().join("state")).err().unwrap();
        assert!(matches!(err, Error::Locked(_)), "{err}");
    }
}
