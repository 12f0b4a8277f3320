//! `leadsite build`: enrich and score the routed leads, and build the site from them.

use crate::build::{self, Options, Until};
use crate::cli::{Outcome, Ui};
use crate::config::Config;
use crate::pipeline::score;

/// Enrich and score the routed leads, and build their landing pages into site/.
///
/// Enrichment reads each TARGET and NURTURE lead's own website (robots.txt honoured, through the
/// cache under <work>/cache/), local data files and the category taxonomy; scoring rates
/// completeness, confidence, category and size (<work>/build/enriched_leads.jsonl and
/// scored_leads.jsonl, never in site/). Every TARGET lead that qualifies then gets a page from
/// its industry's theme and content; only pages whose inputs changed are rewritten.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The last stage to run.
    #[arg(long, value_enum, default_value = "render")]
    pub until: Until,
    /// Read no website: use only what the cache holds, however old.
    #[arg(long)]
    pub offline: bool,
    /// Print how this lead's score was made (repeatable).
    #[arg(long, value_name = "DEDUP_KEY")]
    pub explain: Vec<String>,
    /// Print the summary as JSON on stdout (enrichment, scoring, pages, every problem).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, config: &Config, ui: &Ui) -> anyhow::Result<Outcome> {
    let _lock = crate::fsutil::ProjectLock::take(
        &config.work_dir(),
        &config.resolve(&config.paths.leads),
        "build",
    )?;
    if !args.explain.is_empty() && args.until < Until::Score {
        return Err(crate::cli::usage(
            "--explain needs the score stage: leave out --until or say --until score".into(),
        ));
    }
    let opts = Options {
        until: args.until,
        offline: args.offline,
        now: chrono::Utc::now(),
        strict: false,
    };
    let (report, leads) = build::run(config, &opts, &crate::cli::ui::Bar::new(ui))?;
    for w in report
        .snapshot
        .warnings
        .iter()
        .chain(&report.enrich.warnings)
    {
        ui.info(&format!("warning: {w}"));
    }
    let snap = &report.snapshot;
    ui.detail(&format!(
        "lead files: {} parsed, {} unchanged (from {}){}",
        snap.parsed,
        snap.reused,
        crate::lead::snapshot::path_in(&config.work_dir()).display(),
        if snap.written {
            ", snapshot updated"
        } else {
            ""
        }
    ));
    ui.problems(&report.errors, 20);
    if args.json {
        ui.json(&json_summary(&report, args.until));
    } else {
        ui.result(&summary(&report, args.until, config));
    }
    if let Some(site) = &report.site {
        const SHOWN: usize = 20;
        for w in site.warnings.iter().take(SHOWN) {
            ui.info(&format!("warning: {w}"));
        }
        if site.warnings.len() > SHOWN {
            ui.info(&format!(
                "warning: and {} more left out of pages (all in {})",
                site.warnings.len() - SHOWN,
                config
                    .work_dir()
                    .join("build")
                    .join("landing_stats.json")
                    .display()
            ));
        }
    }
    for path in &report.artefacts {
        ui.detail(&format!("wrote {}", path.display()));
    }
    for (stage, took) in &report.timings {
        ui.detail(&format!("  {stage:<22} {took:>10.2?}"));
        if *stage == "render site/" {
            for (part, took) in report.site.iter().flat_map(|s| &s.timings) {
                ui.detail(&format!("    {part:<24} {took:>8.2?}"));
            }
        }
    }
    let explained = explain(&args.explain, &leads, config, ui);
    Ok(if report.errors.is_empty() && explained {
        Outcome::Success
    } else {
        Outcome::Partial
    })
}

/// The build's summary as text: leads, websites, what enrichment found, scores, pages.
fn summary(report: &build::Report, until: Until, config: &Config) -> String {
    let e = &report.enrich;
    let some = |n: usize, text: String| if n > 0 { text } else { String::new() };
    let mut out = format!("leads: {} loaded, {} enriched\n", report.leads, e.leads);
    out.push_str(&format!(
        "websites: {} read, {} from cache{}{}, {} unreachable, {}{} on reserved domains (not read)\n",
        e.sites_fetched,
        e.sites_cached,
        some(e.sites_stale, format!(", {} stale from cache (--offline)", e.sites_stale)),
        some(e.sites_missing, format!(", {} not in cache (--offline)", e.sites_missing)),
        e.sites_unreachable,
        some(
            e.sites_private,
            format!("{} not on the public internet (not read), ", e.sites_private)
        ),
        e.sites_reserved
    ));
    out.push_str(&format!(
        "found: {} emails, {} phones, {} with social profiles, {} industries\n",
        e.emails, e.phones, e.profiles, e.industries
    ));
    if until >= Until::Score {
        out.push_str(&format!(
            "scored: {}, qualified: {}\n",
            report.scored, report.qualified
        ));
    }
    let Some(site) = &report.site else {
        return out;
    };
    out.push_str(&format!(
        "site {}: {} pages written, {} unchanged, {} removed; {} other files written\n",
        config.site_dir().display(),
        site.written,
        site.unchanged,
        site.removed,
        site.other_written
    ));
    let i = &site.images;
    if i.downloaded + i.failed + i.encoded + i.reused > 0 {
        out.push_str(&format!(
            "images: {} downloaded, {} not usable, {} resized, {} from earlier builds\n",
            i.downloaded, i.failed, i.encoded, i.reused
        ));
    }
    if site.redirects > 0 {
        out.push_str(&format!(
            "redirects: {} old URLs of leads that left lead on (aliases, else the index)\n",
            site.redirects
        ));
    }
    if !site.skipped.is_empty() {
        let reasons: Vec<String> = site
            .skipped
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        out.push_str(&format!("no page: {}\n", reasons.join(", ")));
    }
    out
}

/// The build's summary for `--json`.
fn json_summary(report: &build::Report, until: Until) -> serde_json::Value {
    let e = &report.enrich;
    serde_json::json!({
        "leads": report.leads,
        "enrich": {
            "leads": e.leads,
            "sites_fetched": e.sites_fetched,
            "sites_cached": e.sites_cached,
            "sites_stale": e.sites_stale,
            "sites_missing": e.sites_missing,
            "sites_unreachable": e.sites_unreachable,
            "sites_reserved": e.sites_reserved,
            "emails": e.emails,
            "phones": e.phones,
            "profiles": e.profiles,
            "industries": e.industries,
            "warnings": e.warnings,
        },
        "scored": (until >= Until::Score).then_some(report.scored),
        "qualified": (until >= Until::Score).then_some(report.qualified),
        "site": report.site.as_ref().map(|s| serde_json::to_value(s).unwrap_or_default()),
        "problems": crate::cli::ui::problems_json(&report.errors),
    })
}

/// `--explain`: how each named lead's score was made. `false` when one could not be explained.
fn explain(keys: &[String], leads: &[crate::lead::Lead], config: &Config, ui: &Ui) -> bool {
    let mut all = true;
    for key in keys {
        match leads.iter().find(|l| &l.dedup_key == key) {
            Some(l) if l.enrichment.is_some() => {
                let (_, why) = score::score_lead(l, &config.scoring);
                ui.result(&why.to_string());
            }
            Some(l) => {
                all = false;
                eprintln!(
                    "warning: {key}: not scored (route {}; enrichment.routes says which are)",
                    l.route.map_or("none", |r| r.as_str())
                );
            }
            None => {
                all = false;
                eprintln!("warning: {key}: no lead has this dedup_key");
            }
        }
    }
    all
}
