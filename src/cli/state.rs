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
use crate::outreach::records::Record;
use crate::outreach::store::LeadState;

/// Export or import the campaign state (to move it between the files and PostgreSQL backends).
///
/// Export first, with the old `outreach.backend`, after a `schedule` run has handled the
/// events on the bus; then switch the backend and import into the new, empty store. Steps in
/// doubt stay in doubt.
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
    Lead { lead: String, state: LeadState },
    Suppressed { suppressed: String, reason: String },
    Record { channel: String, record: Record },
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
            match file {
                Some(path) => {
                    let path = config.resolve(&path);
                    crate::fsutil::write_atomic(&path, out.as_bytes(), true)?;
                    ui.info(&format!(
                        "exported {} lead states, {} suppressed addresses and {} delivery records to {}",
                        store.states().len(),
                        suppressed.len(),
                        store.records().all().count(),
                        path.display()
                    ));
                }
                None => ui.result(&out),
            }
            Ok(Outcome::Success)
        }
        Action::Import { file } => {
            let path = config.resolve(&file);
            let f = std::fs::File::open(&path).map_err(|e| crate::error::Error::Io {
                path: path.clone(),
                error: e,
            })?;
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
                if let Line::Record { channel, .. } = &parsed {
                    if !crate::outreach::records::CHANNELS.contains(&channel.as_str()) {
                        return Err(InputError::new(
                            Location::at_line(&path, i as u64 + 1),
                            format!(
                                "`channel`: {} is not a channel with records ({})",
                                crate::error::printable(channel),
                                crate::outreach::records::CHANNELS.join(", ")
                            ),
                        )
                        .into());
                    }
                }
                lines.push(parsed);
            }
            let mut backend = backend::open(config, Mode::Work)?;
            let store = &mut *backend.store;
            if !store.states().is_empty()
                || !store.suppressed()?.is_empty()
                || !store.records().is_empty()
            {
                return Err(crate::cli::usage(format!(
                    "the {:?} backend already holds a campaign ({} lead states): import only into an empty one",
                    config.outreach.backend,
                    store.states().len()
                )));
            }
            let (mut leads, mut suppressed, mut records) = (0, 0, 0);
            for line in lines {
                match line {
                    Line::Lead { lead, state } => {
                        store.commit(&lead, state)?;
                        leads += 1;
                    }
                    Line::Suppressed {
                        suppressed: a,
                        reason,
                    } => {
                        store.suppress(&a, &reason)?;
                        suppressed += 1;
                    }
                    Line::Record { channel, record } => {
                        store.put_record(&channel, record)?;
                        records += 1;
                    }
                }
            }
            ui.info(&format!(
                "imported {leads} lead states, {suppressed} suppressed addresses and {records} delivery records"
            ));
            Ok(Outcome::Success)
        }
    }
}
