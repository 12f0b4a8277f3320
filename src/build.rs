//! `leadsite build`: load the routed leads from `leads/`, then EnrichmentAggregator → LeadScoring,
//! each checked against its contract, writing `enriched_leads.jsonl` and `scored_leads.jsonl` to
//! `.leadsite/build/` (private: never `site/`), then LandingPageGenerator renders `site/`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::error::{Error, InputError, Location, Result};
use crate::fsutil;
use crate::lead::{self, Lead};
use crate::pipeline::enrich::{self, Progress};
use crate::pipeline::{score, Record};

/// The last stage a build runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Until {
    /// EnrichmentAggregator: writes enriched_leads.
    Enrich,
    /// LeadScoring: writes scored_leads.
    Score,
    /// LandingPageGenerator: writes site/, landing_pages and landing_stats.
    Render,
}

impl Until {
    pub const ALL: [Until; 3] = [Until::Enrich, Until::Score, Until::Render];

    pub fn name(self) -> &'static str {
        match self {
            Until::Enrich => "enrich",
            Until::Score => "score",
            Until::Render => "render",
        }
    }

    /// What the build writes when it stops here (for `--help`).
    pub fn description(self) -> &'static str {
        match self {
            Until::Enrich => "EnrichmentAggregator: writes enriched_leads",
            Until::Score => "LeadScoring: writes scored_leads",
            Until::Render => "LandingPageGenerator: writes site/, landing_pages and landing_stats",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub until: Until,
    pub offline: bool,
    pub now: DateTime<Utc>,
    /// A lead file that cannot be read stops the build (instead of leaving its leads out, which
    /// would remove their pages): what `serve` wants while someone is editing.
    pub strict: bool,
}

#[derive(Debug, Default)]
pub struct Report {
    pub leads: usize,
    /// Lead files (or leads) that could not be used.
    pub errors: Vec<InputError>,
    pub enrich: enrich::Stats,
    pub scored: usize,
    pub qualified: usize,
    /// Artefacts written (or found unchanged) under `.leadsite/build/`.
    pub artefacts: Vec<PathBuf>,
    /// What LandingPageGenerator did, when it ran.
    pub site: Option<crate::site::Report>,
    pub timings: Vec<(&'static str, std::time::Duration)>,
    /// What the leads' snapshot saved (files taken from it, files parsed).
    pub snapshot: lead::snapshot::Stats,
}

/// Runs the build; returns the report and the leads as the last stage left them.
pub fn run(
    config: &Config,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<(Report, Vec<Lead>)> {
    let mut report = Report::default();
    // What a killed build left half-written is removed before anything else (nobody may
    // publish site/ with temp files in it).
    // (site/ is tidied by LandingPageGenerator, in its one walk of it, when the build renders
    // one language.)
    let renders_all = opts.until == Until::Render && config.site.languages.is_empty();
    let site = (!renders_all).then(|| config.site_dir());
    for dir in site.into_iter().chain([
        config.work_dir().join("build"),
        crate::site::staging_dir(config),
        // And what a killed ingest left beside the lead files.
        config.resolve(&config.paths.leads),
    ]) {
        crate::fsutil::remove_stale_temps(&dir);
    }
    let mut clock = Instant::now();
    let mut lap = |report: &mut Report, name: &'static str| {
        report.timings.push((name, clock.elapsed()));
        clock = Instant::now();
    };
    let records = load(config, &mut report);
    if opts.strict && !report.errors.is_empty() {
        return Err(Error::Invalid(std::mem::take(&mut report.errors)));
    }
    report.leads = records.len();
    lap(&mut report, "load leads/");

    let enrich_opts = enrich::Options {
        offline: opts.offline,
        now: opts.now,
    };
    let (records, stats) = enrich::run(records, config, &enrich_opts, progress)?;
    report.errors.extend(stats.errors.iter().cloned());
    report.enrich = stats;
    lap(&mut report, "enrich");
    let dir = config.work_dir().join("build");
    report.artefacts.push(write_jsonl(
        &dir.join("enriched_leads.jsonl"),
        &records,
        |l| l.enrichment.is_some(),
    )?);
    lap(&mut report, "write enriched_leads");
    if opts.until == Until::Enrich {
        return Ok((report, records.into_iter().map(|r| r.lead).collect()));
    }

    let records = score::run(records, &config.scoring)?;
    for q in records.iter().filter_map(|r| r.lead.quality.as_deref()) {
        report.scored += 1;
        report.qualified += usize::from(q.qualified == Some(true));
    }
    lap(&mut report, "score");
    report.artefacts.push(write_jsonl(
        &dir.join("scored_leads.jsonl"),
        &records,
        |l| l.quality.is_some(),
    )?);
    lap(&mut report, "write scored_leads");
    let leads: Vec<Lead> = records.into_iter().map(|r| r.lead).collect();
    if opts.until == Until::Render {
        // A lead file that cannot be read now is not a lead that left: its page stays.
        let unreadable: std::collections::BTreeSet<String> = report
            .errors
            .iter()
            .filter_map(|e| e.location.path.file_stem()?.to_str().map(String::from))
            .collect();
        report.site = Some(crate::site::generate(
            config,
            &leads,
            &crate::site::Inputs {
                offline: opts.offline,
                unreadable,
                languages: Vec::new(),
            },
            progress,
        )?);
        lap(&mut report, "render site/");
    }
    Ok((report, leads))
}

/// The leads under `leads/`, in dedup_key order; a second lead with a key already seen is
/// reported and left out (its page would overwrite the first one's).
fn load(config: &Config, report: &mut Report) -> Vec<Record> {
    let (loaded, stats) = lead::snapshot::load_dir(
        &config.leads_dir(),
        &lead::snapshot::path_in(&config.work_dir()),
    );
    report.snapshot = stats;
    report.errors.extend(loaded.errors.iter().cloned());
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    let mut records = Vec::new();
    for file in loaded.files {
        for lead in file.leads {
            if let Some(first) = seen.get(&lead.dedup_key) {
                report.errors.push(
                    InputError::new(
                        Location::file(&file.path),
                        format!(
                            "dedup_key is also used in {}; this lead is left out",
                            first.display()
                        ),
                    )
                    .with_lead(lead.label())
                    .with_field("dedup_key"),
                );
                continue;
            }
            seen.insert(lead.dedup_key.clone(), file.path.clone());
            records.push((file.path.clone(), lead));
        }
    }
    records.sort_by(|a, b| a.1.dedup_key.cmp(&b.1.dedup_key));
    records
        .into_iter()
        .enumerate()
        .map(|(id, (path, lead))| Record::new(id, Location::file(path), lead))
        .collect()
}

/// One JSON object per line, in dedup_key order, streamed to the file (atomically: a reader sees
/// the old file or the new one): a hundred thousand leads are never one buffer.
fn write_jsonl(
    path: &Path,
    records: &[Record],
    keep: impl Fn(&Lead) -> bool + Sync,
) -> Result<PathBuf> {
    // Unchanged (a rebuild): compared, not rewritten.
    fsutil::write_atomic_with_if_changed(path, |out| write_lines(path, records, &keep, out))?;
    Ok(path.to_path_buf())
}

/// One lead a line, made on all cores. A failed write (a full disk) is the artefact's error, not
/// the lead's: only a lead that cannot be turned into JSON is named.
fn write_lines(
    path: &Path,
    records: &[Record],
    keep: impl Fn(&Lead) -> bool + Sync,
    out: &mut dyn Write,
) -> Result<()> {
    fsutil::write_in_parallel(out, path, records, |rec, buf| {
        if !keep(&rec.lead) {
            return Ok(());
        }
        serde_json::to_writer(&mut *buf, &rec.lead).map_err(|e| {
            Error::from(
                InputError::new(
                    rec.origin.clone(),
                    format!("cannot be written as JSON: {e}"),
                )
                .with_lead(rec.lead.label()),
            )
        })?;
        buf.push(b'\n');
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disk that is full.
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(28))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_full_disk_names_the_artefact_not_a_lead() {
        let lead: Lead = serde_yaml_ng::from_str("dedup_key: a\nname: A\nroute: TARGET\n").unwrap();
        let rec = Record::new(0, Location::file("leads/a.yaml"), lead);
        let path = Path::new(".leadsite/build/enriched_leads.jsonl");
        let err = write_lines(path, &[rec], |_| true, &mut Full)
            .unwrap_err()
            .to_string();
        assert!(err.contains("enriched_leads.jsonl"), "{err}");
        assert!(!err.contains("leads/a.yaml"), "{err}");
    }
}
