//! `leadsite export`: the routed leads as CSV or JSON, for spreadsheets and CRMs.

use std::io::Write;
use std::path::PathBuf;

use crate::cli::{Outcome, Ui};
use crate::config::Config;
use crate::lead::{self, Route};
use crate::pipeline::export::{write_csv, write_json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

/// Write the routed leads as CSV or JSON.
///
/// CSV has one row per lead with nested fields as dotted columns (address.city, …) and the
/// unknown fields after them; `leadsite ingest --format csv` reads it back.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ExportFormat,
    /// Write here instead of to standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Only leads with this route.
    #[arg(long, value_parser = parse_route)]
    pub route: Option<Route>,
}

fn parse_route(s: &str) -> Result<Route, String> {
    s.parse()
}

pub fn run(args: Args, config: &Config, ui: &Ui) -> anyhow::Result<Outcome> {
    let (loaded, _) = lead::snapshot::read_dir(
        &config.leads_dir(),
        &lead::snapshot::path_in(&config.work_dir()),
    );
    ui.problems(&loaded.errors, 20);
    let mut leads: Vec<&lead::Lead> = loaded
        .leads()
        .map(|(_, l)| l)
        .filter(|l| args.route.is_none_or(|r| l.route == Some(r)))
        .collect();
    leads.sort_by(|a, b| a.dedup_key.cmp(&b.dedup_key));
    let mut buf = Vec::new();
    match args.format {
        ExportFormat::Csv => write_csv(&leads, &mut buf)?,
        ExportFormat::Json => write_json(&leads, &mut buf)?,
    }
    match &args.output {
        Some(path) => {
            crate::fsutil::write_atomic(path, &buf, false)?;
            ui.info(&format!(
                "wrote {} leads to {}",
                leads.len(),
                path.display()
            ));
        }
        None => std::io::stdout().lock().write_all(&buf)?,
    }
    Ok(if loaded.errors.is_empty() {
        Outcome::Success
    } else {
        Outcome::Partial
    })
}
