//! `leadsite inbox --maildir DIR`: replies, bounces and opt-outs from a Maildir → bus events.

use std::path::PathBuf;

use crate::cli::{Outcome, Ui};
use crate::config::Config;
use crate::outreach::backend::{self, Mode};
use crate::outreach::inbound::{self, Contacts};
use crate::outreach::orchestrator;

/// Read new mail from a Maildir and publish what it means for each lead.
///
/// Matches each message in DIR/new/ to a message leadsite sent (our Message-ID in
/// In-Reply-To/References or quoted in a bounce, else the failed recipient or the sender's
/// address, for the lead last emailed there). Bounce reports (RFC 3464 and the plain-text notices
/// of Exim, qmail, Gmail, Exchange, …) become lead.bounced, hard or soft by status code, reply
/// code and the server's words; abuse complaints (ARF) and opt-out replies lead.unsubscribed;
/// other replies lead.responded; auto-replies, delay and delivery notices nothing. Handled
/// messages move to DIR/cur/; unreadable ones stay in new/.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Maildir (with new/ and cur/) replies and bounces are delivered to.
    #[arg(long, value_name = "DIR")]
    pub maildir: PathBuf,
}

pub fn run(args: Args, config: &Config, ui: &Ui) -> anyhow::Result<Outcome> {
    let o = &config.outreach;
    let domain = o.sender_domain().to_string();
    let backend = backend::open(config, Mode::Read)?;
    let contacts = contacts(config, backend.store.states())?;
    let report = inbound::read_maildir(&args.maildir, &domain, &contacts, &*backend.bus)?;
    for (file, topic, lead) in &report.published {
        ui.detail(&format!("{file}: {topic} for {lead}"));
    }
    for (file, topic, lead) in &report.duplicates {
        ui.detail(&format!("{file}: {topic} for {lead} was published before"));
    }
    for (file, why) in &report.skipped {
        ui.detail(&format!("{file}: {why}"));
    }
    // What should have changed something and could not: said whatever the verbosity.
    for (file, why) in &report.attention {
        crate::cli::ui::say(&format!("warning: {file}: {why}"));
    }
    ui.problems(&report.errors, 20);
    ui.result(&format!(
        "{} events published ({} already published before), {} messages changed nothing, {} need a person, {} could not be read\n",
        report.published.len(),
        report.duplicates.len(),
        report.skipped.len(),
        report.attention.len(),
        report.errors.len()
    ));
    Ok(if report.errors.is_empty() && report.attention.is_empty() {
        Outcome::Success
    } else {
        Outcome::Partial
    })
}

/// The leads emailed so far, by address: from the campaign state and the scored leads.
fn contacts(
    config: &Config,
    states: &std::collections::BTreeMap<String, crate::outreach::store::LeadState>,
) -> anyhow::Result<Contacts> {
    let mut contacts = Contacts::default();
    // A reply is matched to its lead by address: without the leads it would match nothing and
    // be taken out of new/ for good. No campaign yet is no leads; an unreadable list stops.
    let leads = if states.is_empty() {
        Default::default()
    } else {
        orchestrator::scored_leads(config)?
    };
    for (key, state) in states {
        if let Some(i) = &state.in_flight {
            contacts.in_doubt.insert(i.message_id.clone());
        }
        let emailed = !state.message_ids.is_empty() || state.in_flight.is_some();
        if let (true, Some(address)) = (emailed, leads.get(key).and_then(|l| l.contact_email())) {
            contacts.add(address, key, state.last_contacted);
        }
    }
    Ok(contacts)
}
