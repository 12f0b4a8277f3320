//! `leadsite resolve LEAD --sent|--not-sent`: settle a step a crash left in doubt.

use crate::cli::{Outcome, Ui};
use crate::config::Config;
use crate::outreach::backend::{self, Mode};
use crate::outreach::orchestrator::{note, record_sent};
use crate::outreach::sequence::Sequence;
use crate::outreach::store::StateStore;

/// Settle a step left in doubt by a run that stopped mid-send.
///
/// Look the step's Message-ID up in the mail server's log (`leadsite status --lead LEAD` shows
/// it), then say what happened: --sent and the sequence goes on from that step; --not-sent and
/// the step is sent at the next `schedule` run. A bounce, reply, delivery or delay notice, or
/// provider webhook that names the Message-ID settles it as sent by itself.
#[derive(Debug, clap::Args)]
#[command(override_usage = "leadsite resolve <LEAD> --sent|--not-sent")]
pub struct Args {
    /// The lead (its dedup_key).
    pub lead: String,
    /// The step did reach the mail server.
    #[arg(
        long,
        conflicts_with = "not_sent",
        required_unless_present = "not_sent"
    )]
    pub sent: bool,
    /// The step did not go out: send it again.
    #[arg(long)]
    pub not_sent: bool,
}

pub fn run(args: Args, config: &Config, ui: &Ui) -> anyhow::Result<Outcome> {
    // With files, the store's lock: no `schedule` runs while a step is settled. With a
    // database, a step a live worker is sending is refused, and a change by a worker in
    // between makes the commit fail rather than overwrite it.
    let mut backend = backend::open(config, Mode::Work)?;
    let store = &mut *backend.store;
    let Some(mut state) = store.get(&args.lead).cloned() else {
        return Err(crate::cli::usage(format!(
            "{}: no campaign state (not contacted yet, or not a lead)",
            args.lead
        )));
    };
    let Some(intent) = state.in_flight.take() else {
        return resolve_text(&args, ui, store, state);
    };
    if store.held_elsewhere(&intent.run) {
        return Err(crate::cli::usage(format!(
            "{}: step {} is being sent right now by the schedule run {}; wait for it",
            args.lead, intent.step, intent.run
        )));
    }
    let now = chrono::Utc::now();
    let what = if args.sent {
        let sequence = Sequence::load(
            &config.resolve(&config.paths.content),
            &config.outreach.sequence,
        )?;
        record_sent(
            &mut state,
            &sequence,
            intent.step,
            intent.message_id.clone(),
            intent.at,
        );
        format!("step {} marked as sent", intent.step)
    } else {
        format!(
            "step {} marked as not sent: it goes out at the next run",
            intent.step
        )
    };
    note(&mut state, now, "resolved", format!("{what} (by hand)"));
    store.commit(&args.lead, state)?;
    ui.result(&format!("{}: {what} ({})\n", args.lead, intent.message_id));
    Ok(Outcome::Success)
}

/// A WhatsApp/SMS message of the lead in doubt (its record): `--sent` records it as sent,
/// `--not-sent` lets the next run send it.
fn resolve_text(
    args: &Args,
    ui: &Ui,
    store: &mut dyn StateStore,
    mut state: crate::outreach::store::LeadState,
) -> anyhow::Result<Outcome> {
    use crate::outreach::records::{Record, WHATSAPP};
    let live = |r: &str| store.held_elsewhere(r);
    let entry = store
        .records()
        .in_doubt(WHATSAPP, &live)
        .find(|e| e.lead == args.lead)
        .cloned();
    let Some(entry) = entry else {
        return Err(crate::cli::usage(format!(
            "{}: no step is in doubt",
            args.lead
        )));
    };
    let (word, what) = if args.sent {
        ("sent", format!("message {} marked as sent", entry.id))
    } else {
        (
            "retry",
            format!(
                "message {} marked as not sent: it goes out at the next run",
                entry.id
            ),
        )
    };
    let settled = Record {
        state: word.to_string(),
        run: String::new(),
        ..entry.clone()
    };
    if !store.claim_record(WHATSAPP, settled, &entry)? {
        return Err(crate::error::Error::Conflict(format!(
            "{}: message {} was changed by a schedule worker meanwhile; see leadsite status --lead {}",
            args.lead, entry.id, args.lead
        ))
        .into());
    }
    note(
        &mut state,
        chrono::Utc::now(),
        "resolved",
        format!("{what} (by hand)"),
    );
    store.commit(&args.lead, state)?;
    ui.result(&format!("{}: {what}\n", args.lead));
    Ok(Outcome::Success)
}
