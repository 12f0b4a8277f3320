//! `leadsite publish TOPIC --lead ID`: put an event on the message bus (what an inbound hook
//! calls). Durable when the command returns.

use crate::cli::{Outcome, Ui};
use crate::config::Config;
use crate::outreach::bus::{Message, TOPICS};

/// Publish an event on the message bus (<work>/bus/, or the database with outreach.backend:
/// postgres).
///
/// Topics: lead.contacted, lead.responded, lead.bounced, lead.unsubscribed, lead.engaged,
/// outreach.email.send, outreach.whatsapp.send, crm.sync. The same --id published twice is one
/// event.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The event's topic.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(TOPICS))]
    pub topic: String,
    /// The lead's dedup_key.
    #[arg(long, value_name = "ID")]
    pub lead: String,
    /// A unique id for the event (default: made from its content).
    #[arg(long)]
    pub id: Option<String>,
    /// When it happened (RFC 3339; default: now).
    #[arg(long, value_name = "TIME")]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// Extra fields, e.g. --data kind=hard for a bounce (repeatable).
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_kv)]
    pub data: Vec<(String, String)>,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or("expected KEY=VALUE")?;
    Ok((k.trim().to_string(), v.trim().to_string()))
}

pub fn run(args: Args, config: &Config, ui: &Ui) -> anyhow::Result<Outcome> {
    let mut message = Message::new(
        &args.topic,
        &args.lead,
        args.at.unwrap_or_else(chrono::Utc::now),
    );
    message.id = args.id.unwrap_or_default();
    for (k, v) in args.data {
        message.data.insert(k, serde_json::Value::String(v));
    }
    let bus = crate::outreach::backend::open_bus(config)?;
    let seen = !message.id.is_empty() && bus.is_published(&message.id);
    // The event is this command's argument: one the bus refuses is a usage error.
    let stored = bus.publish(message).map_err(|e| match e {
        crate::error::Error::Rejected(why) => crate::error::Error::Usage(why),
        other => other,
    })?;
    if seen {
        // An id names one event: the bus keeps the first it was given, whatever this one says.
        ui.info(&format!(
            "id {} is on the bus already: not published again (the bus keeps the first event of an id; give a new event its own --id)",
            stored.id
        ));
        return Ok(Outcome::Success);
    }
    ui.info(&format!(
        "published {} for {} (id {})",
        stored.topic, stored.lead_id, stored.id
    ));
    Ok(Outcome::Success)
}
