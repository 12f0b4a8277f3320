//! The MessageBus on PostgreSQL: `leadsite_messages` (publish is idempotent by id) and
//! `leadsite_acks` per consumer group; `NOTIFY leadsite_bus` wakes `--watch` workers.

use postgres::fallible_iterator::FallibleIterator;

use super::{db, storable, Db};
use crate::error::{Error, Result};
use crate::outreach::bus::{Delivery, Message, MessageBus};

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
        let message = crate::outreach::bus::prepared(message)?;
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
        crate::outreach::bus::check_group(group)?;
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
        crate::outreach::bus::check_group(group)?;
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
