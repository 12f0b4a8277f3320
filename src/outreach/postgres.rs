//! The MessageBus and StateStore on PostgreSQL (`outreach.backend: postgres`): one ACID store
//! for both, so that several `schedule` workers, on several machines, share one campaign.
//!
//! - A lead's state is one row with a version. A worker commits over the version it read
//!   (compare-and-set): a step's intent is claimed by exactly one worker, and an event applied
//!   by another worker in between makes the commit fail with [`Error::Conflict`] (the worker
//!   reads the lead again), never overwrite it.
//! - A claim also takes a unit of the day's cap in the same transaction (`leadsite_daily`), so
//!   caps hold across workers.
//! - Each worker holds a lease (`leadsite_runs.lease_until`), renewed as it works. An intent
//!   whose run's lease has expired is in doubt (`status`, `resolve`); never pending again.
//! - The bus: `leadsite_messages` (publish is idempotent by id) and `leadsite_acks` per
//!   consumer group; a message not acked comes back (at-least-once). `NOTIFY leadsite_bus` on
//!   publish only wakes `--watch` workers; polling is the truth.
//! - The schema is created and migrated by leadsite (`leadsite_migrations`), under an advisory
//!   lock, so several workers may start at once.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{NaiveDate, Utc};
use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;

use super::bus::{Delivery, Message, MessageBus};
use super::records::{Record, Records};
use super::store::{Claim, LeadState, StateStore, Suppressed};
use crate::error::{Error, Result};

/// How long a worker's claims stay its own without renewal, by default.
pub const LEASE_SECONDS: i64 = 120;

/// The lease: `LEADSITE_LEASE_SECONDS` (at least 3), else [`LEASE_SECONDS`]. A shorter lease
/// reports a dead worker's steps in doubt sooner; the heartbeat renews it every third of it.
pub fn lease_seconds() -> i64 {
    std::env::var("LEADSITE_LEASE_SECONDS")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map_or(LEASE_SECONDS, |s| s.max(3))
}

/// The schema, one migration a version. Never edit a released step: add one.
const MIGRATIONS: &[&str] = &[
    // 1: state, suppression, runs, caps, bus.
    "CREATE TABLE leadsite_lead_state (
        lead text PRIMARY KEY,
        version bigint NOT NULL,
        state jsonb NOT NULL
     );
     CREATE TABLE leadsite_suppressed (
        address text PRIMARY KEY,
        reason text NOT NULL,
        at timestamptz NOT NULL DEFAULT now()
     );
     CREATE TABLE leadsite_runs (
        run text PRIMARY KEY,
        started timestamptz NOT NULL DEFAULT now(),
        lease_until timestamptz NOT NULL
     );
     CREATE TABLE leadsite_daily (
        day date PRIMARY KEY,
        used integer NOT NULL
     );
     CREATE TABLE leadsite_messages (
        seq bigserial PRIMARY KEY,
        id text NOT NULL UNIQUE,
        topic text NOT NULL,
        lead_id text NOT NULL,
        body jsonb NOT NULL
     );
     CREATE TABLE leadsite_acks (
        grp text NOT NULL,
        seq bigint NOT NULL REFERENCES leadsite_messages (seq),
        PRIMARY KEY (grp, seq)
     );",
    // 2: the WhatsApp/SMS and CRM delivery records.
    "CREATE TABLE leadsite_records (
        channel text NOT NULL,
        id text NOT NULL,
        record jsonb NOT NULL,
        PRIMARY KEY (channel, id)
     );",
];

fn newer_schema(version: i32) -> Error {
    Error::Database(format!(
        "the database's leadsite schema is version {version}, newer than this leadsite knows ({}): update leadsite",
        MIGRATIONS.len()
    ))
}

/// An arbitrary constant: the advisory lock migrations run under.
const MIGRATION_LOCK: i64 = 0x6c65_6164_7369_7465;

fn db(e: postgres::Error) -> Error {
    // The server's own words (a constraint, a refused login) are the useful part.
    match e.as_db_error() {
        Some(d) => Error::Database(d.message().to_string()),
        None => Error::Database(e.to_string()),
    }
}

/// One connection, shared by the store and the bus of a process.
#[derive(Clone)]
pub struct Db(Arc<Mutex<Client>>, Arc<str>);

impl Db {
    /// Connects and brings the schema up to date.
    pub fn connect(url: &str) -> Result<Db> {
        let db = Db::connect_as_is(url)?;
        db.migrate()?;
        Ok(db)
    }

    /// Connects without creating or changing anything (a dry run, `status`).
    pub fn connect_as_is(url: &str) -> Result<Db> {
        let client = super::pgtls::connect(url)?;
        Ok(Db(Arc::new(Mutex::new(client)), Arc::from(url)))
    }

    /// Whether leadsite's tables are there (a database it has worked in). A schema newer than
    /// this leadsite knows is an error: reading it could leave out what a newer version keeps.
    pub fn has_schema(&self) -> Result<bool> {
        let mut c = self.client();
        let there: bool = c
            .query_one("SELECT to_regclass('leadsite_migrations') IS NOT NULL", &[])
            .map_err(db)?
            .get(0);
        if there {
            let version: i32 = c
                .query_one(
                    "SELECT coalesce(max(version), 0) FROM leadsite_migrations",
                    &[],
                )
                .map_err(db)?
                .get(0);
            if version as usize > MIGRATIONS.len() {
                return Err(newer_schema(version));
            }
        }
        Ok(there)
    }

    /// Applies the migrations not applied yet, one transaction under an advisory lock: workers
    /// that start together wait for the first, then find nothing to do.
    fn migrate(&self) -> Result<()> {
        let mut c = self.client();
        let mut tx = c.transaction().map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(db)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS leadsite_migrations (
                version integer PRIMARY KEY,
                at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .map_err(db)?;
        let done: i32 = tx
            .query_one(
                "SELECT coalesce(max(version), 0) FROM leadsite_migrations",
                &[],
            )
            .map_err(db)?
            .get(0);
        if done as usize > MIGRATIONS.len() {
            return Err(newer_schema(done));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(done as usize) {
            tx.batch_execute(sql).map_err(db)?;
            let version = i as i32 + 1;
            tx.execute(
                "INSERT INTO leadsite_migrations (version) VALUES ($1)",
                &[&version],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    fn client(&self) -> MutexGuard<'_, Client> {
        // A panic while holding it leaves the connection as it was: usable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The URL without its password (in the user part or as a `password=` parameter), for
/// messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            if u.query_pairs().any(|(k, _)| k == "password") {
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if k == "password" { "***".into() } else { v };
                        (k.into_owned(), v.into_owned())
                    })
                    .collect();
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        Err(_) => "the database URL".into(),
    }
}

/// The StateStore on PostgreSQL. States are read once when opened (and again per lead after a
/// conflict); each commit is checked against the version read.
pub struct PgStore {
    db: Db,
    run: String,
    states: BTreeMap<String, LeadState>,
    versions: HashMap<String, i64>,
    suppressed: Suppressed,
    records: Records,
    /// Renews the lease while the process lives, even in a send that takes minutes.
    heartbeat: Option<Heartbeat>,
    /// Runs known to be live or not, asked once each.
    live: RefCell<HashMap<String, bool>>,
}

impl PgStore {
    /// Opens the store as a worker: registers this run with a lease.
    pub fn open(db: Db) -> Result<PgStore> {
        let run = format!(
            "{}.{}.{}",
            hostname(),
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        let mut store = PgStore::read(db)?;
        store.run = run;
        store.renew()?;
        // Leases of workers that ended long ago are of no use to anyone.
        let _ = store.db.client().execute(
            "DELETE FROM leadsite_runs WHERE lease_until < now() - interval '7 days'",
            &[],
        );
        store.heartbeat = Some(Heartbeat::start(&store.db.1, &store.run));
        Ok(store)
    }

    /// Reads every state and the suppression list without registering a run (`status`).
    pub fn read(db: Db) -> Result<PgStore> {
        let mut states = BTreeMap::new();
        let mut versions = HashMap::new();
        let mut suppressed = Suppressed::default();
        {
            let mut c = db.client();
            for row in c
                .query("SELECT lead, version, state FROM leadsite_lead_state", &[])
                .map_err(db_err)?
            {
                let lead: String = row.get(0);
                let state: serde_json::Value = row.get(2);
                let state: LeadState = serde_json::from_value(state).map_err(|e| {
                    Error::Database(format!("lead {lead}: a state that cannot be read: {e}"))
                })?;
                versions.insert(lead.clone(), row.get::<_, i64>(1));
                states.insert(lead, state);
            }
            for row in c
                .query("SELECT address, reason FROM leadsite_suppressed", &[])
                .map_err(db_err)?
            {
                suppressed.insert(row.get::<_, &str>(0), row.get::<_, &str>(1));
            }
        }
        let records = read_records(&db)?;
        Ok(PgStore {
            db,
            run: String::new(),
            states,
            versions,
            suppressed,
            records,
            heartbeat: None,
            live: RefCell::new(HashMap::new()),
        })
    }

    /// Extends this run's lease.
    pub fn renew(&mut self) -> Result<()> {
        if self.run.is_empty() {
            return Ok(());
        }
        self.db
            .client()
            .execute(
                "INSERT INTO leadsite_runs (run, lease_until)
                 VALUES ($1, now() + make_interval(secs => $2))
                 ON CONFLICT (run) DO UPDATE SET lease_until = excluded.lease_until",
                &[&self.run, &(lease_seconds() as f64)],
            )
            .map_err(db)?;
        Ok(())
    }

    /// Ends this run's lease: its intents, if any are left, are in doubt at once.
    pub fn close(&mut self) -> Result<()> {
        if !self.run.is_empty() {
            self.db
                .client()
                .execute("DELETE FROM leadsite_runs WHERE run = $1", &[&self.run])
                .map_err(db)?;
        }
        Ok(())
    }

    /// The compare-and-set of one lead, inside `tx`: true when written.
    fn write(
        tx: &mut postgres::Transaction<'_>,
        lead: &str,
        version: Option<i64>,
        state: &LeadState,
    ) -> Result<bool> {
        let json = storable(state);
        let n = match version {
            Some(v) => tx
                .execute(
                    "UPDATE leadsite_lead_state SET state = $3, version = version + 1
                     WHERE lead = $1 AND version = $2",
                    &[&lead, &v, &json],
                )
                .map_err(db)?,
            None => tx
                .execute(
                    "INSERT INTO leadsite_lead_state (lead, version, state) VALUES ($1, 1, $2)
                     ON CONFLICT (lead) DO NOTHING",
                    &[&lead, &json],
                )
                .map_err(db)?,
        };
        Ok(n == 1)
    }

    fn conflict(&mut self, lead: &str) -> Result<Error> {
        self.refresh(lead)?;
        Ok(Error::Conflict(format!(
            "lead {lead}: changed by another worker since it was read"
        )))
    }
}

/// A JSON value PostgreSQL's `jsonb` takes: it holds no U+0000 (a NUL in a bounce reason or
/// an event's data would fail every write of it, and stop every run), so each becomes U+FFFD.
fn storable<T: serde::Serialize>(value: &T) -> serde_json::Value {
    fn clean(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
            serde_json::Value::Array(items) => items.iter_mut().for_each(clean),
            serde_json::Value::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    let old = std::mem::take(map);
                    for (k, mut item) in old {
                        clean(&mut item);
                        map.insert(k.replace('\0', "\u{FFFD}"), item);
                    }
                } else {
                    map.values_mut().for_each(clean);
                }
            }
            _ => {}
        }
    }
    let mut v = serde_json::to_value(value).expect("what is stored always serializes");
    clean(&mut v);
    v
}

/// What `state import` writes into an empty database, all of it in one transaction: a failure
/// half-way leaves the database as it was (a partial campaign would resend every step whose
/// state had not arrived yet).
#[derive(Default)]
pub struct Import {
    pub states: Vec<(String, LeadState)>,
    pub suppressed: Vec<(String, String)>,
    pub records: Vec<(String, Record)>,
    /// Each event with the consumer groups that had handled it already.
    pub events: Vec<(Message, Vec<String>)>,
}

/// Writes `import` into the database if it holds no campaign yet; false (nothing written) when
/// it does.
pub fn import(db: &Db, import: Import) -> Result<bool> {
    let mut c = db.client();
    let mut tx = c.transaction().map_err(db_err)?;
    let held: i64 = tx
        .query_one(
            "SELECT (SELECT count(*) FROM leadsite_lead_state) + (SELECT count(*) FROM leadsite_suppressed)
                  + (SELECT count(*) FROM leadsite_records)",
            &[],
        )
        .map_err(db_err)?
        .get(0);
    if held > 0 {
        return Ok(false);
    }
    for (lead, state) in &import.states {
        tx.execute(
            "INSERT INTO leadsite_lead_state (lead, version, state) VALUES ($1, 1, $2)",
            &[lead, &storable(state)],
        )
        .map_err(db_err)?;
    }
    for (address, reason) in &import.suppressed {
        let a = address.trim().to_lowercase().replace('\0', "");
        tx.execute(
            "INSERT INTO leadsite_suppressed (address, reason) VALUES ($1, $2)
             ON CONFLICT (address) DO NOTHING",
            &[&a, &reason.replace('\0', "")],
        )
        .map_err(db_err)?;
    }
    for (channel, record) in &import.records {
        tx.execute(
            "INSERT INTO leadsite_records (channel, id, record) VALUES ($1, $2, $3)
             ON CONFLICT (channel, id) DO UPDATE SET record = excluded.record",
            &[channel, &record.id, &storable(record)],
        )
        .map_err(db_err)?;
    }
    for (message, handled) in import.events {
        let message = super::bus::prepared(message)?;
        tx.execute(
            "INSERT INTO leadsite_messages (id, topic, lead_id, body) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO NOTHING",
            &[
                &message.id,
                &message.topic,
                &message.lead_id,
                &storable(&message),
            ],
        )
        .map_err(db_err)?;
        for group in &handled {
            super::bus::check_group(group)?;
            tx.execute(
                "INSERT INTO leadsite_acks (grp, seq)
                 SELECT $1, seq FROM leadsite_messages WHERE id = $2 ON CONFLICT DO NOTHING",
                &[group, &message.id],
            )
            .map_err(db_err)?;
        }
    }
    tx.commit().map_err(db_err)?;
    Ok(true)
}

/// Every channel's records.
pub fn read_records(db: &Db) -> Result<Records> {
    let rows = db
        .client()
        .query("SELECT channel, record FROM leadsite_records", &[])
        .map_err(db_err)?;
    let mut records = Records::default();
    for row in rows {
        let channel: &str = row.get(0);
        let record: Record = serde_json::from_value(row.get(1))
            .map_err(|e| Error::Database(format!("a {channel} record that cannot be read: {e}")))?;
        records.insert(channel, record);
    }
    Ok(records)
}

fn db_err(e: postgres::Error) -> Error {
    db(e)
}

fn hostname() -> String {
    // Only names this worker's runs: no name is no error.
    crate::fsutil::read_to_string(std::path::Path::new("/proc/sys/kernel/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into())
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.heartbeat.take();
        let _ = self.close();
    }
}

/// A thread that renews a run's lease every third of its length, on a connection of its own:
/// a worker stuck in a slow send keeps its claims (the step is being sent, not in doubt); a
/// worker that dies stops renewing, and its claims become in doubt when the lease runs out.
struct Heartbeat {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Heartbeat {
    fn start(url: &str, run: &str) -> Heartbeat {
        use std::sync::atomic::Ordering;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (flag, url, run) = (stop.clone(), url.to_string(), run.to_string());
        std::thread::spawn(move || {
            let mut client = None;
            loop {
                let period = std::time::Duration::from_secs(lease_seconds() as u64 / 3);
                let start = std::time::Instant::now();
                while start.elapsed() < period {
                    if flag.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                if client.is_none() {
                    client = super::pgtls::connect(&url).ok();
                }
                if let Some(c) = client.as_mut() {
                    // Renewed only while the run is registered and its lease has not run out: a
                    // closed run stays closed, and a run paused past its lease (whose steps
                    // others may have settled) is never brought back.
                    let renewed = c.execute(
                        "UPDATE leadsite_runs SET lease_until = now() + make_interval(secs => $2)
                         WHERE run = $1 AND lease_until > now()",
                        &[&run, &(lease_seconds() as f64)],
                    );
                    if renewed.is_err() {
                        client = None;
                    }
                }
            }
        });
        Heartbeat { stop }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl StateStore for PgStore {
    fn get(&self, lead: &str) -> Option<&LeadState> {
        self.states.get(lead)
    }

    fn commit(&mut self, lead: &str, state: LeadState) -> Result<()> {
        let version = self.versions.get(lead).copied();
        let written = {
            let mut c = self.db.client();
            let mut tx = c.transaction().map_err(db)?;
            let written = Self::write(&mut tx, lead, version, &state)?;
            tx.commit().map_err(db)?;
            written
        };
        if !written {
            return Err(self.conflict(lead)?);
        }
        self.versions
            .insert(lead.to_string(), version.map_or(1, |v| v + 1));
        self.states.insert(lead.to_string(), state);
        Ok(())
    }

    fn states(&self) -> &BTreeMap<String, LeadState> {
        &self.states
    }

    fn run(&self) -> &str {
        &self.run
    }

    fn refresh(&mut self, lead: &str) -> Result<()> {
        let row = self
            .db
            .client()
            .query_opt(
                "SELECT version, state FROM leadsite_lead_state WHERE lead = $1",
                &[&lead],
            )
            .map_err(db)?;
        match row {
            Some(row) => {
                let state: LeadState = serde_json::from_value(row.get(1)).map_err(|e| {
                    Error::Database(format!("lead {lead}: a state that cannot be read: {e}"))
                })?;
                self.versions.insert(lead.to_string(), row.get(0));
                self.states.insert(lead.to_string(), state);
            }
            None => {
                self.versions.remove(lead);
                self.states.remove(lead);
            }
        }
        Ok(())
    }

    fn claim(
        &mut self,
        lead: &str,
        state: LeadState,
        day: NaiveDate,
        sent_today: usize,
        daily_cap: usize,
    ) -> Result<Claim> {
        let version = self.versions.get(lead).copied();
        let outcome = {
            let mut c = self.db.client();
            let mut tx = c.transaction().map_err(db)?;
            // The lease first: a claim is only as good as the lease that keeps it "being sent";
            // a lease that ran out (this worker was paused) is not taken up again.
            let held = tx
                .execute(
                    "UPDATE leadsite_runs SET lease_until = now() + make_interval(secs => $2)
                     WHERE run = $1 AND lease_until > now()",
                    &[&self.run, &(lease_seconds() as f64)],
                )
                .map_err(db)?;
            if held != 1 {
                return Err(Error::Conflict(
                    "this worker lost its lease (paused or cut off from the database longer than LEADSITE_LEASE_SECONDS): it stops, claiming nothing more".into(),
                ));
            }
            let (floor, cap) = (sent_today as i32, daily_cap.min(i32::MAX as usize) as i32);
            let room = tx
                .query_opt(
                    "INSERT INTO leadsite_daily AS d (day, used) VALUES ($1, $2 + 1)
                     ON CONFLICT (day) DO UPDATE SET used = greatest(d.used, $2) + 1
                     WHERE greatest(d.used, $2) < $3
                     RETURNING used",
                    &[&day, &floor, &cap],
                )
                .map_err(db)?
                .is_some_and(|r| r.get::<_, i32>(0) <= cap);
            if !room {
                Claim::Capped
            } else if Self::write(&mut tx, lead, version, &state)? {
                tx.commit().map_err(db)?;
                Claim::Won
            } else {
                // Dropped: the cap's unit goes back with the transaction.
                Claim::Lost
            }
        };
        match outcome {
            Claim::Won => {
                self.versions
                    .insert(lead.to_string(), version.map_or(1, |v| v + 1));
                self.states.insert(lead.to_string(), state);
            }
            Claim::Lost => self.refresh(lead)?,
            Claim::Capped => {}
        }
        Ok(outcome)
    }

    fn holds_lease(&mut self) -> Result<bool> {
        let renewed = self
            .db
            .client()
            .execute(
                "UPDATE leadsite_runs SET lease_until = now() + make_interval(secs => $2)
                 WHERE run = $1 AND lease_until > now()",
                &[&self.run, &(lease_seconds() as f64)],
            )
            .map_err(db)?;
        Ok(renewed == 1)
    }

    fn is_live(&self, run: &str) -> bool {
        if let Some(&live) = self.live.borrow().get(run) {
            return live;
        }
        let live = self
            .db
            .client()
            .query_opt(
                "SELECT 1 FROM leadsite_runs WHERE run = $1 AND lease_until > now()",
                &[&run],
            )
            .map(|r| r.is_some())
            // Unknown is not "live": the step shows as in doubt, and is never sent by guess.
            .unwrap_or(false);
        self.live.borrow_mut().insert(run.to_string(), live);
        live
    }

    fn is_suppressed(&self, address: &str) -> bool {
        self.suppressed.contains(address)
    }

    fn suppressed_now(&mut self, address: &str) -> Result<bool> {
        let a = address.trim().to_lowercase();
        let row = self
            .db
            .client()
            .query_opt(
                "SELECT reason FROM leadsite_suppressed WHERE address = $1",
                &[&a],
            )
            .map_err(db)?;
        if let Some(row) = row {
            self.suppressed.insert(&a, row.get::<_, &str>(0));
        }
        Ok(self.suppressed.contains(&a))
    }

    fn suppress(&mut self, address: &str, reason: &str) -> Result<()> {
        let (address, reason) = (address.replace('\0', ""), reason.replace('\0', ""));
        let (address, reason) = (address.as_str(), reason.as_str());
        if let Some(a) = self.suppressed.insert(address, reason) {
            self.db
                .client()
                .execute(
                    "INSERT INTO leadsite_suppressed (address, reason) VALUES ($1, $2)
                     ON CONFLICT (address) DO NOTHING",
                    &[&a, &reason],
                )
                .map_err(db)?;
        }
        Ok(())
    }

    fn suppressed(&self) -> Result<Vec<(String, String)>> {
        Ok(self.suppressed.list())
    }

    fn records(&self) -> &Records {
        &self.records
    }

    fn put_record(&mut self, channel: &str, record: Record) -> Result<()> {
        let json = storable(&record);
        self.db
            .client()
            .execute(
                "INSERT INTO leadsite_records (channel, id, record) VALUES ($1, $2, $3)
                 ON CONFLICT (channel, id) DO UPDATE SET record = excluded.record",
                &[&channel, &record.id, &json],
            )
            .map_err(db)?;
        self.records.insert(channel, record);
        Ok(())
    }

    fn claim_record(&mut self, channel: &str, record: Record, before: &Record) -> Result<bool> {
        let json = storable(&record);
        let tries = before.tries as i64;
        let written = self
            .db
            .client()
            .execute(
                "INSERT INTO leadsite_records AS r (channel, id, record) VALUES ($1, $2, $3)
                 ON CONFLICT (channel, id) DO UPDATE SET record = excluded.record
                 WHERE coalesce(r.record->>'state', '') = $4
                   AND coalesce((r.record->>'tries')::bigint, 0) = $5
                   AND coalesce(r.record->>'run', '') = $6",
                &[
                    &channel,
                    &record.id,
                    &json,
                    &before.state,
                    &tries,
                    &before.run,
                ],
            )
            .map_err(db)?
            == 1;
        if written {
            self.records.insert(channel, record);
        } else if let Some(row) = self
            .db
            .client()
            .query_opt(
                "SELECT record FROM leadsite_records WHERE channel = $1 AND id = $2",
                &[&channel, &record.id],
            )
            .map_err(db)?
        {
            let now: Record = serde_json::from_value(row.get(0)).map_err(|e| {
                Error::Database(format!("a {channel} record that cannot be read: {e}"))
            })?;
            self.records.insert(channel, now);
        }
        Ok(written)
    }
}

/// The MessageBus on PostgreSQL.
pub struct PgBus {
    db: Db,
}

impl PgBus {
    pub fn new(db: Db) -> PgBus {
        PgBus { db }
    }

    /// Waits until a message is published (NOTIFY) or `timeout` passes; true when woken.
    pub fn wait(&self, timeout: std::time::Duration) -> Result<bool> {
        let mut c = self.db.client();
        c.batch_execute("LISTEN leadsite_bus").map_err(db)?;
        let mut n = c.notifications();
        let woke = n.timeout_iter(timeout).next().map_err(db)?.is_some();
        // Whatever else came meanwhile is the same wake-up.
        while n.iter().next().map_err(db)?.is_some() {}
        Ok(woke)
    }
}

fn message_of(row: &postgres::Row) -> Result<Delivery> {
    let seq: i64 = row.get(0);
    let body: serde_json::Value = row.get(1);
    let message: Message = serde_json::from_value(body)
        .map_err(|e| Error::Database(format!("bus message {seq} cannot be read: {e}")))?;
    Ok(Delivery {
        key: seq.to_string(),
        message,
    })
}

impl MessageBus for PgBus {
    fn publish(&self, message: Message) -> Result<Message> {
        let message = super::bus::prepared(message)?;
        let body = storable(&message);
        let mut c = self.db.client();
        let mut tx = c.transaction().map_err(db)?;
        let inserted = tx
            .execute(
                "INSERT INTO leadsite_messages (id, topic, lead_id, body) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO NOTHING",
                &[&message.id, &message.topic, &message.lead_id, &body],
            )
            .map_err(db)?;
        if inserted == 1 {
            tx.execute("SELECT pg_notify('leadsite_bus', $1)", &[&message.topic])
                .map_err(db)?;
        }
        let stored: serde_json::Value = tx
            .query_one(
                "SELECT body FROM leadsite_messages WHERE id = $1",
                &[&message.id],
            )
            .map_err(db)?
            .get(0);
        tx.commit().map_err(db)?;
        serde_json::from_value(stored)
            .map_err(|e| Error::Database(format!("bus message {}: {e}", message.id)))
    }

    fn poll(&self, group: &str, max: usize) -> Result<Vec<Delivery>> {
        super::bus::check_group(group)?;
        let max = max.min(i64::MAX as usize) as i64;
        let rows = self
            .db
            .client()
            .query(
                "SELECT m.seq, m.body FROM leadsite_messages m
                 WHERE NOT EXISTS (SELECT 1 FROM leadsite_acks a WHERE a.grp = $1 AND a.seq = m.seq)
                 ORDER BY m.seq LIMIT $2",
                &[&group, &max],
            )
            .map_err(db)?;
        rows.iter().map(message_of).collect()
    }

    fn ack(&self, group: &str, delivery: &Delivery) -> Result<()> {
        super::bus::check_group(group)?;
        let seq: i64 = delivery
            .key
            .parse()
            .map_err(|_| Error::Database(format!("not a bus message: {}", delivery.key)))?;
        self.db
            .client()
            .execute(
                "INSERT INTO leadsite_acks (grp, seq) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&group, &seq],
            )
            .map_err(db)?;
        Ok(())
    }

    fn is_published(&self, id: &str) -> bool {
        self.db
            .client()
            .query_opt("SELECT 1 FROM leadsite_messages WHERE id = $1", &[&id])
            .map(|r| r.is_some())
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        for url in [
            "postgres://leadsite:s3cret@db.example:5432/campaign",
            "postgres://u@db.example/x?password=s3cret",
            "postgresql:///x?host=/tmp/pg&user=u&password=s3cret",
            "host=/tmp/pg user=u password=s3cret",
        ] {
            let r = redact(url);
            assert!(!r.contains("s3cret"), "{r}");
        }
        assert!(redact("postgres://u:p@db.example/x").contains("db.example"));
    }

    #[test]
    fn no_nul_reaches_the_database() {
        let v = storable(&serde_json::json!({"a\0": ["x\0y", {"k": "\0"}], "n": 1}));
        assert_eq!(
            v,
            serde_json::json!({"a\u{FFFD}": ["x\u{FFFD}y", {"k": "\u{FFFD}"}], "n": 1})
        );
    }

    #[test]
    fn migrations_are_numbered_by_position_and_never_empty() {
        assert!(!MIGRATIONS.is_empty());
        assert!(MIGRATIONS
            .iter()
            .all(|m| m.contains("CREATE") || m.contains("ALTER")));
    }
}
