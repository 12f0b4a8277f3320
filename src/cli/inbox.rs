//! `leadsite inbox --maildir DIR`: replies, bounces and opt-outs from a Maildir → bus events.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::cli::{Outcome, Ui};
use crate::config::Config;
use crate::outreach::bus::FileBus;
use crate::outreach::{inbound, orchestrator};

/// Read new mail from a Maildir and publish what it means for each lead.
///
/// Matches each message in DIR/new/ to a message leadsite sent (In-Reply-To/References, else the
/// sender's address): delivery status notifications become lead.bounced (5.x.x hard, 4.x.x soft),
/// "unsubscribe / stop / remove me" replies lead.unsubscribed, other replies lead.responded;
/// auto-replies nothing. Handled messages move to DIR/cur/; unreadable ones stay in new/.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Maildir (with new/ and cur/) replies and bounces are delivered to.
    #[arg(long, value_name = "DIR")]
    pub maildir: PathBuf,
}

pub fn run(args: Args, config: &Config, ui: &Ui) -> anyhow::Result<Outcome> {
    let o = &config.outreach;
    let domain = o.sender_email.rsplit('@').next().unwrap_or("").to_string();
    let by_address: HashMap<String, String> = orchestrator::scored_leads(config)
        .map(|leads| {
            leads
                .iter()
                .filter_map(|(k, l)| Some((l.contact_email()?.to_lowercase(), k.clone())))
                .collect()
        })
        .unwrap_or_default();
    let bus = FileBus::new(orchestrator::bus_dir(config));
    let report = inbound::read_maildir(&args.maildir, &domain, &by_address, &bus)?;
    for (file, topic, lead) in &report.published {
        ui.detail(&format!("{file}: {topic} for {lead}"));
    }
    for (file, why) in &report.skipped {
        ui.detail(&format!("{file}: {why}"));
    }
    ui.problems(&report.errors, 20);
    ui.result(&format!(
        "{} events published, {} messages changed nothing, {} could not be read\n",
        report.published.len(),
        report.skipped.len(),
        report.errors.len()
    ));
    Ok(if report.errors.is_empty() {
        Outcome::Success
    } else {
        Outcome::Partial
    })
}
