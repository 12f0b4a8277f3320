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

use std::sync::{Arc, Mutex, MutexGuard};

use postgres::Client;

use super::bus::Message;
use super::records::{Record, Records};
use super::store::LeadState;
use crate::error::{Error, Result};
pub use bus::PgBus;
pub use store::PgStore;

mod bus;
mod store;

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
