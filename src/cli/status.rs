//! `leadsite status`: where every lead stands in its campaign.

use std::collections::BTreeMap;

use crate::cli::ui::table;
use crate::cli::{Outcome, Ui};
use crate::config::Config;
use crate::outreach::backend::{self, Mode};
use crate::outreach::store::Intent;

/// Counts per campaign state, steps in doubt, or one lead's history.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// One lead's state and history.
    #[arg(long, value_name = "ID")]
    pub lead: Option<String>,
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, config: &Config, ui: &Ui) -> anyhow::Result<Outcome> {
    let backend = backend::open(config, Mode::Read)?;
    let store = &*backend.store;
    let states = store.states();
    // The steps a `schedule` run under way began (its lease held) are being sent right now,
    // not in doubt.
    let being_sent = |i: &Intent| !i.run.is_empty() && store.is_live(&i.run);
    if let Some(key) = &args.lead {
        let Some(state) = states.get(key) else {
            return Err(crate::cli::usage(format!(
                "{key}: no campaign state (not contacted yet, or not a lead)"
            )));
        };
        if args.json {
            ui.data(&format!("{}\n", serde_json::to_string_pretty(state)?));
        } else {
            let mut out = format!(
                "{key}: {}, step {}, {} tries\n",
                state.status.as_str(),
                state.step,
                state.attempt_count
            );
            match &state.in_flight {
                Some(i) if being_sent(i) => out.push_str(&format!("being sent: step {} ({}), by the schedule run under way\n", i.step, i.message_id)),
                Some(i) => out.push_str(&format!("IN DOUBT: step {} ({}) was being sent at {} when a run stopped (its worker died, or was paused or cut off from the database past its lease: make sure it is not still running); check the mail server's log, then `leadsite resolve {key} --sent` or `--not-sent`\n", i.step, i.message_id, i.at)),
                None => {}
            }
            if let (Some(n), false) = (state.next_action_at, state.status.is_terminal()) {
                out.push_str(&format!("next action: {n}\n"));
            }
            let mut rows = vec![vec![
                "when".to_string(),
                "event".to_string(),
                "detail".to_string(),
            ]];
            rows.extend(
                state
                    .history
                    .iter()
                    .map(|h| vec![h.at.to_rfc3339(), h.event.clone(), h.detail.clone()]),
            );
            out.push_str(&table(&rows));
            ui.result(&out);
        }
        return Ok(Outcome::Success);
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut in_doubt = Vec::new();
    for (key, s) in states {
        *counts.entry(s.status.as_str().to_string()).or_default() += 1;
        if s.in_flight.as_ref().is_some_and(|i| !being_sent(i)) {
            in_doubt.push(key.clone());
        }
    }
    // WhatsApp/SMS messages in doubt, from their records.
    let live = |run: &str| store.is_live(run);
    for e in store
        .records()
        .in_doubt(crate::outreach::records::WHATSAPP, &live)
    {
        if !e.lead.is_empty() && !in_doubt.contains(&e.lead) {
            in_doubt.push(e.lead.clone());
        }
    }
    let crm = crate::outreach::crm::stats(config)?;
    let quarantined = backend.folder.quarantined()?;
    if args.json {
        ui.data(&format!(
            "{}\n",
            serde_json::to_string_pretty(
                &serde_json::json!({"states": counts, "in_doubt": in_doubt, "crm_stats": crm, "quarantined": quarantined})
            )?
        ));
    } else {
        let mut rows = vec![vec!["state".to_string(), "leads".to_string()]];
        rows.extend(counts.iter().map(|(k, v)| vec![k.clone(), v.to_string()]));
        let mut out = table(&rows);
        for k in &in_doubt {
            out.push_str(&format!(
                "in doubt: {k} (leadsite status --lead {k}, then leadsite resolve {k} --sent|--not-sent)\n"
            ));
        }
        if quarantined > 0 {
            out.push_str(&format!(
                "bus: {quarantined} unreadable messages in .leadsite/bus/quarantine/ (each beside its .reason)\n"
            ));
        }
        out.push_str(&format!(
            "crm: {} synced, {} failed (dead letters), {} pending\n",
            crm.synced, crm.failed, crm.pending
        ));
        ui.result(&out);
    }
    Ok(if in_doubt.is_empty() {
        Outcome::Success
    } else {
        Outcome::Partial
    })
}
