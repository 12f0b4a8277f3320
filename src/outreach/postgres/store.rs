//! The StateStore on PostgreSQL: each lead's state a row with a version, committed by
//! compare-and-set; a claim takes a unit of the day's cap in the same transaction; a worker's
//! lease renewed by a heartbeat thread.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{NaiveDate, Utc};

use super::{db, db_err, hostname, lease_seconds, read_records, storable, Db};
use crate::error::{Error, Result};
use crate::outreach::records::{Record, Records};
use crate::outreach::store::{Claim, LeadState, StateStore, Suppressed};

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
                    client = crate::outreach::pgtls::connect(&url).ok();
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
