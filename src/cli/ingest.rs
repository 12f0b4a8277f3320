//! `leadsite ingest FILE…`: turn maps exports into clean, routed lead files.

use std::path::PathBuf;
use std::time::Instant;

use crate::cli::ui::{table, Ui};
use crate::cli::Outcome;
use crate::config::Config;
use crate::lead::Route;
use crate::pipeline::import::Format;
use crate::pipeline::ingest::{self, FileSummary, Options};

/// Import maps exports, normalize, validate, dedup and route them into lead files.
///
/// Reads Google-Maps scraper CSV/JSON, OpenStreetMap Overpass JSON or GeoJSON, or leadsite's own
/// schema (CSV/JSON/YAML); the format is detected from the content unless --format says it.
/// Rejected rows go to <work>/ingest/rejects.csv with the reason, merges to merges.csv.
/// Re-running the same ingest changes nothing.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Export files to read.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The files' format (default: detected from the content).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Region (ISO 3166-1 alpha-2) for phone numbers of leads with no country [default: the
    /// config's ingest.default_region].
    #[arg(long, value_name = "CC")]
    pub region: Option<String>,
    /// When the data was fetched (RFC 3339), for sources that do not say.
    #[arg(long, value_name = "TIME")]
    pub fetched_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Run every stage and print the summary, but write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the summary as JSON on stdout (per file, the leads written, every problem).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, config: &Config, ui: &Ui) -> anyhow::Result<Outcome> {
    // A dry run writes nothing, not even the lock.
    let _lock = match args.dry_run {
        true => None,
        false => Some(crate::fsutil::ProjectLock::take(
            &config.work_dir(),
            &config.resolve(&config.paths.leads),
            "ingest",
        )?),
    };
    if let Some(r) = &args.region {
        if crate::lead::value::country_code(r).is_none() {
            return Err(crate::cli::usage(format!(
                "--region {r:?} is not an ISO 3166-1 alpha-2 region such as US or GB"
            )));
        }
    }
    let started = Instant::now();
    let region_used = args
        .region
        .clone()
        .unwrap_or_else(|| config.ingest.default_region.clone())
        .to_ascii_uppercase();
    let opts = Options {
        format: args.format,
        fetched_at: args.fetched_at,
        region: args.region,
        dry_run: args.dry_run,
    };
    let report = ingest::run(config, &args.files, &opts)?;
    for w in &report.warnings {
        ui.info(&format!("warning: {w}"));
    }
    ui.problems(&report.errors, 20);

    let mut shown = 0;
    for m in &report.merges {
        let news = !m.filled.is_empty() || !m.conflicts.is_empty() || !m.existing;
        if news && (ui.verbose() || shown < 10) {
            shown += 1;
            let mut line = format!(
                "merged {} into {} ({} matched on {})",
                m.from,
                m.key,
                if m.existing {
                    "existing lead"
                } else {
                    "same batch"
                },
                m.matched_on.as_str()
            );
            if !m.filled.is_empty() {
                line.push_str(&format!("; filled {}", m.filled.join(", ")));
            }
            for (field, kept, other) in &m.conflicts {
                line.push_str(&format!("; {field}: kept {kept:?}, not {other:?}"));
            }
            ui.info(&line);
        }
    }

    let mut rows = vec![[
        "file", "format", "read", "valid", "rejected", "merged", "TARGET", "NURTURE", "REJECT",
    ]
    .map(String::from)
    .to_vec()];
    for f in &report.files {
        rows.push(summary_row(
            f,
            f.format
                .map(Format::name)
                .unwrap_or(if f.failed { "FAILED" } else { "" }),
        ));
    }
    if report.files.len() > 1 {
        rows.push(summary_row(&report.total(), ""));
    }
    if args.json {
        let file = |f: &FileSummary| {
            serde_json::json!({
                "path": f.path.display().to_string(),
                "format": f.format.map(Format::name),
                "failed": f.failed,
                "read": f.read,
                "valid": f.valid,
                "rejected": f.rejected,
                "merged": f.merged,
                "routes": f.routes.iter().map(|(r, n)| (r.as_str(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
            })
        };
        ui.json(&serde_json::json!({
            "files": report.files.iter().map(file).collect::<Vec<_>>(),
            "dry_run": args.dry_run,
            "leads": {"created": report.created, "updated": report.updated, "unchanged": report.unchanged},
            "routes": report.route_totals.iter().map(|(r, n)| (r.as_str(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
            "rejected": report.rejects.len(),
            "merges": report.merges.len(),
            "problems": crate::cli::ui::problems_json(&report.errors),
        }));
    } else {
        ui.result(&table(&rows));
    }
    if args.dry_run {
        ui.info("dry run: nothing was written");
    } else {
        let leads_dir = config.leads_dir();
        ui.info(&format!(
            "{}: {} new, {} updated, {} unchanged",
            leads_dir.display(),
            report.created,
            report.updated,
            report.unchanged
        ));
        if let Some((rejects, merges)) = &report.reports {
            if !report.rejects.is_empty() {
                ui.info(&format!(
                    "{} rows rejected: reasons in {}",
                    report.rejects.len(),
                    rejects.display()
                ));
            }
            ui.detail(&format!("merges: {}", merges.display()));
        }
    }
    if let Some(hint) = rejects_hint(&report, &region_used) {
        ui.info(&format!("hint: {hint}"));
    }
    for t in &report.timings {
        let rss = t
            .rss_mib
            .map(|m| format!("  {m:>5} MiB resident"))
            .unwrap_or_default();
        ui.detail(&format!("  {:<16} {:>10.2?}{rss}", t.step, t.took));
    }
    ui.detail(&format!("took {:.2?}", started.elapsed()));
    // Rejected rows are input that was skipped: exit 3, as for any skipped input.
    Ok(if report.errors.is_empty() && report.rejects.is_empty() {
        Outcome::Success
    } else {
        Outcome::Partial
    })
}

/// When most rows fail one check, the file is likely read wrong as a whole: say the likely fix.
fn rejects_hint(report: &ingest::Report, region: &str) -> Option<String> {
    let read = report.total().read;
    let mut by: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in &report.rejects {
        for reason in r
            .issues
            .iter()
            .map(|i| i.reason.as_str())
            .collect::<std::collections::BTreeSet<_>>()
        {
            *by.entry(reason).or_default() += 1;
        }
    }
    let (reason, n) = by.into_iter().max_by_key(|(_, n)| *n)?;
    if n < 5 || n * 2 <= read {
        return None;
    }
    Some(match reason {
        "invalid_phone" => format!(
            "{n} of {read} rows were rejected as invalid_phone. Numbers without a country are read as {region} numbers: if the export is from elsewhere, say its region with --region CC (or ingest.default_region in the config)"
        ),
        other => format!(
            "{n} of {read} rows were rejected as {other}: is the file in the format it was read as (--format)?"
        ),
    })
}

fn summary_row(f: &FileSummary, format: &str) -> Vec<String> {
    let route = |r: Route| f.routes.get(&r).copied().unwrap_or(0).to_string();
    vec![
        f.path.display().to_string(),
        format.to_string(),
        f.read.to_string(),
        f.valid.to_string(),
        f.rejected.to_string(),
        f.merged.to_string(),
        route(Route::Target),
        route(Route::Nurture),
        route(Route::Reject),
    ]
}
