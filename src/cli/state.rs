//! `leadsite state export|import`: move a campaign's state between backends (files ⇄ PostgreSQL)
//! without losing a step: every lead's state (steps, history, Message-IDs, a step in doubt), the
//! suppression list and the WhatsApp/SMS and CRM records, as JSON lines.

use std::io::BufRead;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::cli::{Outcome, Ui};
use crate::config::Config;
use crate::error::{InputError, Location};
use crate::outreach::backend::{self, Mode};
use crate::outreach::bus::Message;
use crate::outreach::records::Record;
use crate::outreach::store::LeadState;
use crate::outreach::{crm, orchestrator, whatsapp};

/// Export or import the campaign state (to move it between the files and PostgreSQL backends).
///
/// Export with the old `outreach.backend`, with no `schedule` running; then switch the backend
/// and import into the new, empty one. Steps in doubt stay in doubt; events on the bus that a
/// consumer (the orchestrator, the WhatsApp agent, the CRM adapter) has not handled yet go with
/// the state, and are handled by the next `schedule` on the new backend.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Write every lead's state and the suppression list as JSON lines (to FILE, or stdout).
    Export {
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Read what `state export` wrote into the configured backend, which must be empty.
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// One line of an export.
#[derive(Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum Line {
    Lead {
        lead: String,
        state: LeadState,
    },
    Suppressed {
        suppressed: String,
        reason: String,
    },
    Record {
        channel: String,
        record: Record,
    },
    /// A bus event some consumer groups have not handled yet (`pending`: those groups).
    Event {
        event: Message,
        pending: Vec<String>,
    },
}

/// The consumer groups whose unhandled events an export carries.
const GROUPS: &[&str] = &[orchestrator::GROUP, whatsapp::GROUP, crm::GROUP];

/// Writes an import into the files backend if it holds no campaign (false: nothing written).
/// Opt-outs and events first, lead states last; a failure half-way (a full disk) says to
/// start again from an empty state folder.
fn import_files(
    backend: &mut backend::Backend,
    import: crate::outreach::postgres::Import,
) -> crate::error::Result<bool> {
    let store = &mut *backend.store;
    if !store.states().is_empty() || !store.suppressed()?.is_empty() || !store.records().is_empty()
    {
        return Ok(false);
    }
    let written = (|| -> crate::error::Result<()> {
        for (a, reason) in &import.suppressed {
            store.suppress(a, reason)?;
        }
        let mut handled: Vec<(String, String)> = Vec::new();
        for (event, groups) in import.events {
            handled.extend(groups.into_iter().map(|g| (g, event.id.clone())));
            backend.bus.publish(event)?;
        }
        for group in GROUPS {
            for d in backend.bus.poll(group, usize::MAX)? {
                if handled.contains(&(group.to_string(), d.message.id.clone())) {
                    backend.bus.ack(group, &d)?;
                }
            }
        }
        for (channel, record) in import.records {
            store.put_record(&channel, record)?;
        }
        for (lead, state) in import.states {
            store.commit(&lead, state)?;
        }
        Ok(())
    })();
    written.map_err(|e| {
        crate::error::Error::Storage(format!(
            "{e}\nthe import stopped half-way: move .leadsite/state/ (and the channels' ledger.jsonl) aside and import again"
        ))
    })?;
    Ok(true)
}

/// What is wrong with a line that parsed, if anything.
fn problem(line: &Line) -> Option<String> {
    match line {
        Line::Lead { lead, .. } if !crate::lead::is_valid_key(lead) => Some(format!(
            "`lead`: {} is not a lead key",
            crate::error::printable(lead)
        )),
        Line::Suppressed { suppressed, .. } if suppressed.trim().is_empty() => {
            Some("`suppressed`: an empty address".into())
        }
        Line::Record { channel, record } => {
            if !crate::outreach::records::CHANNELS.contains(&channel.as_str()) {
                Some(format!(
                    "`channel`: {} is not a channel with records ({})",
                    crate::error::printable(channel),
                    crate::outreach::records::CHANNELS.join(", ")
                ))
            } else if record.id.is_empty() {
                Some("`record.id`: empty".into())
            } else {
                None
            }
        }
        Line::Event { event, pending } => {
            if let Some(p) = event.problem() {
                Some(format!("`event`: {p}"))
            } else if event.id.is_empty() {
                Some("`event.id`: empty".into())
            } else {
                pending
                    .iter()
                    .find(|g| !GROUPS.contains(&g.as_str()))
                    .map(|g| {
                        format!(
                            "`pending`: {} is not a consumer group ({})",
                            crate::error::printable(g),
                            GROUPS.join(", ")
                        )
                    })
            }
        }
        _ => None,
    }
}

pub fn run(args: Args, config: &Config, ui: &Ui) -> anyhow::Result<Outcome> {
    match args.action {
        Action::Export { file } => {
            let backend = backend::open(config, Mode::Read)?;
            let store = &*backend.store;
            let mut out = String::new();
            for (lead, state) in store.states() {
                let line = Line::Lead {
                    lead: lead.clone(),
                    state: state.clone(),
                };
                out.push_str(&serde_json::to_string(&line)?);
                out.push('\n');
            }
            let suppressed = store.suppressed()?;
            for (address, reason) in &suppressed {
                let line = Line::Suppressed {
                    suppressed: address.clone(),
                    reason: reason.clone(),
                };
                out.push_str(&serde_json::to_string(&line)?);
                out.push('\n');
            }
            for (channel, record) in store.records().all() {
                let line = Line::Record {
                    channel: channel.to_string(),
                    record: record.clone(),
                };
                out.push_str(&serde_json::to_string(&line)?);
                out.push('\n');
            }
            // Events not yet handled by every group, each once, with the groups that still
            // owe it.
            let mut pending: Vec<(Message, Vec<String>)> = Vec::new();
            for group in GROUPS {
                for d in backend.bus.poll(group, usize::MAX)? {
                    match pending.iter_mut().find(|(m, _)| m.id == d.message.id) {
                        Some((_, groups)) => groups.push(group.to_string()),
                        None => pending.push((d.message, vec![group.to_string()])),
                    }
                }
            }
            let events = pending.len();
            for (event, pending) in pending {
                out.push_str(&serde_json::to_string(&Line::Event { event, pending })?);
                out.push('\n');
            }
            match file {
                Some(path) => {
                    let path = config.resolve(&path);
                    crate::fsutil::write_atomic(&path, out.as_bytes(), true)?;
                    ui.info(&format!(
                        "exported {} lead states, {} suppressed addresses, {} delivery records and {events} unhandled events to {}",
                        store.states().len(),
                        suppressed.len(),
                        store.records().all().count(),
                        path.display()
                    ));
                }
                None => ui.data(&out),
            }
            Ok(Outcome::Success)
        }
        Action::Import { file } => {
            let path = config.resolve(&file);
            let f = crate::fsutil::open_regular(&path)?;
            // Everything is read and checked before anything is written.
            let mut lines = Vec::new();
            for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
                let line = line.map_err(|e| crate::error::Error::Io {
                    path: path.clone(),
                    error: e,
                })?;
                if line.trim().is_empty() {
                    continue;
                }
                let parsed: Line = serde_json::from_str(&line).map_err(|e| {
                    crate::error::Error::from(InputError::new(
                        Location::at_line(&path, i as u64 + 1),
                        format!("not a line of `leadsite state export`: {e}"),
                    ))
                })?;
                // Everything a backend or the bus would refuse is refused here, before anything
                // is written: an import stopped half-way would leave a partial campaign.
                if let Some(why) = problem(&parsed) {
                    return Err(InputError::new(Location::at_line(&path, i as u64 + 1), why).into());
                }
                lines.push(parsed);
            }
            let mut backend = backend::open(config, Mode::Work)?;
            let (mut leads, mut suppressed, mut records, mut events) = (0, 0, 0, 0);
            let mut import = crate::outreach::postgres::Import::default();
            for line in lines {
                match line {
                    Line::Lead { lead, state } => {
                        import.states.push((lead, state));
                        leads += 1;
                    }
                    Line::Suppressed {
                        suppressed: a,
                        reason,
                    } => {
                        import.suppressed.push((a, reason));
                        suppressed += 1;
                    }
                    Line::Record { channel, record } => {
                        import.records.push((channel, record));
                        records += 1;
                    }
                    Line::Event { event, pending } => {
                        let handled = GROUPS
                            .iter()
                            .filter(|g| !pending.iter().any(|p| p == *g))
                            .map(|g| g.to_string())
                            .collect();
                        import.events.push((event, handled));
                        events += 1;
                    }
                }
            }
            let empty = match &backend.db {
                // One transaction: all or nothing.
                Some(db) => crate::outreach::postgres::import(db, import)?,
                None => import_files(&mut backend, import)?,
            };
            if !empty {
                return Err(crate::cli::usage(format!(
                    "the {:?} backend already holds a campaign ({} lead states): import only into an empty one",
                    config.outreach.backend,
                    backend.store.states().len()
                )));
            }
            ui.info(&format!(
                "imported {leads} lead states, {suppressed} suppressed addresses, {records} delivery records and {events} unhandled events"
            ));
            Ok(Outcome::Success)
        }
    }
}
