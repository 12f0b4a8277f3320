//! `ingest`: MapsSearch import → Normalize → Validate → Dedup → Route → Format/Export into
//! `leads/`, with a contract check after each stage and a report of what happened to every row.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::dedup::{self, Merge};
use super::import::{self, Format};
use super::validate::{self, Reject};
use super::{normalize, route, Record};
use crate::config::Config;
use crate::error::{Error, InputError, Location, Result};
use crate::fsutil::WriteOutcome;
use crate::lead::{self, save, LeadFile, Route, Shape};

/// Settings of one ingest run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub format: Option<Format>,
    pub fetched_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Overrides the config's `ingest.default_region`.
    pub region: Option<String>,
    /// Run every stage and report, but write nothing.
    pub dry_run: bool,
}

/// What happened to the rows of one input file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileSummary {
    pub path: PathBuf,
    pub format: Option<Format>,
    pub read: usize,
    pub valid: usize,
    pub rejected: usize,
    pub merged: usize,
    /// Distinct leads the file's rows ended up in, by route.
    pub routes: BTreeMap<Route, usize>,
    /// The file could not be read at all.
    pub failed: bool,
}

/// Everything an ingest run did.
#[derive(Debug, Default)]
pub struct Report {
    pub files: Vec<FileSummary>,
    /// Files and rows that were skipped, and lead files in `leads/` that could not be read.
    pub errors: Vec<InputError>,
    pub rejects: Vec<Reject>,
    pub merges: Vec<Merge>,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Where the rejects and merges reports were written.
    pub reports: Option<(PathBuf, PathBuf)>,
    /// Distinct leads the run touched, by route.
    pub route_totals: BTreeMap<Route, usize>,
    /// How long each step took, in order.
    pub timings: Vec<Timing>,
    /// A snapshot of the leads that could not be read or written (a saving only: the leads were
    /// read from their files).
    pub warnings: Vec<String>,
}

/// Times the steps of a run.
struct Clock(std::time::Instant);

impl Clock {
    /// Adds the time since the last lap to `step` (a step that runs once per chunk adds up).
    fn lap(&mut self, report: &mut Report, step: &'static str) {
        let took = self.0.elapsed();
        let rss_mib = crate::fsutil::resident_mib();
        match report.timings.iter_mut().find(|t| t.step == step) {
            Some(t) => {
                t.took += took;
                t.rss_mib = t.rss_mib.max(rss_mib);
            }
            None => report.timings.push(Timing {
                step,
                took,
                rss_mib,
            }),
        }
        self.0 = std::time::Instant::now();
    }
}

/// One step of a run: how long it took and the process's memory after it.
#[derive(Debug, Clone)]
pub struct Timing {
    pub step: &'static str,
    pub took: std::time::Duration,
    /// The most resident memory seen after the step, in MiB, where the system says.
    pub rss_mib: Option<u64>,
}

impl Report {
    pub fn total(&self) -> FileSummary {
        let mut t = FileSummary {
            path: PathBuf::from("total"),
            ..Default::default()
        };
        for f in &self.files {
            t.read += f.read;
            t.valid += f.valid;
            t.rejected += f.rejected;
            t.merged += f.merged;
        }
        t.routes = self.route_totals.clone();
        t
    }
}

/// Runs the whole ingest.
pub fn run(config: &Config, inputs: &[PathBuf], opts: &Options) -> Result<Report> {
    let mut report = Report::default();
    let mut clock = Clock(std::time::Instant::now());

    // The leads already written: Dedup starts from them.
    let leads_dir = config.leads_dir();
    crate::fsutil::remove_stale_temps(&leads_dir);
    let snapshot = crate::lead::snapshot::path_in(&config.work_dir());
    let (mut existing, records) = Existing::load(&leads_dir, &snapshot, opts.dry_run, &mut report);
    let first_id = records.len();
    let mut dedup = dedup::Dedup::new(records);
    clock.lap(&mut report, "load leads/");

    // MapsSearch import → Normalize → Validate → Dedup, a chunk of rows at a time.
    let row_files = import_inputs(
        config,
        inputs,
        opts,
        first_id,
        &mut dedup,
        &mut report,
        &mut clock,
    )?;
    let outcome = dedup.finish();
    report.merges = outcome.merges;

    // Route.
    let routed = route::run(outcome.leads, &config.routing)?;
    clock.lap(&mut report, "route");

    summarize(&mut report, &routed, &outcome.assignments, &row_files);

    // Format/Export.
    if opts.dry_run {
        return Ok(report);
    }
    for rec in outcome.untouched {
        existing.put_back(rec);
    }
    let (dirty, new_files) = existing.place(routed, &leads_dir, &mut report)?;
    crate::fsutil::create_dir_all(&leads_dir)?;
    let changed: Vec<&LeadFile> = dirty.iter().map(|&i| &existing.files[i]).collect();
    write_leads(&changed, &new_files, &mut report)?;
    clock.lap(&mut report, "write leads/");
    report.reports = Some(super::export::write_reports(
        &config.work_dir(),
        &report.rejects,
        &report.merges,
    )?);
    clock.lap(&mut report, "write reports");
    Ok(report)
}

/// The lead files of `leads/` while an ingest runs: their leads go to Dedup and come back (the
/// files keep a placeholder meanwhile).
struct Existing {
    files: Vec<LeadFile>,
    /// Record id → (file, lead in it).
    home: HashMap<usize, (usize, usize)>,
    /// Files that could not be read whole: never rewritten.
    broken: HashSet<PathBuf>,
    /// Record id → a digest of the lead as it was read: a lead that comes back from Dedup and
    /// Route the same leaves its file alone (a re-ingest of 100,000 unchanged leads spent 7 s
    /// writing each as YAML only to find the file the same).
    digests: Vec<u64>,
}

/// A digest of a lead's fields (its JSON form).
fn lead_digest(lead: &crate::lead::Lead) -> u64 {
    let mut f = crate::fsutil::Fingerprint::default();
    // A lead that cannot be written as JSON gets no digest to match: its file is written.
    match serde_json::to_writer(&mut f, lead) {
        Ok(()) => f.value(),
        Err(_) => 0,
    }
}

impl Existing {
    /// Loads `leads/` (its problems into the report), parsing only the files changed since the
    /// leads' snapshot (written unless `dry`); the leads as records, ids from 0.
    fn load(
        leads_dir: &Path,
        snapshot: &Path,
        dry: bool,
        report: &mut Report,
    ) -> (Existing, Vec<Record>) {
        let (loaded, stats) = if dry {
            lead::snapshot::read_dir(leads_dir, snapshot)
        } else {
            lead::snapshot::load_dir(leads_dir, snapshot)
        };
        report.warnings.extend(stats.warnings);
        let broken: HashSet<PathBuf> = loaded
            .errors
            .iter()
            .map(|e| e.location.path.clone())
            .collect();
        report.errors.extend(loaded.errors);
        let mut files = loaded.files;
        let mut home: HashMap<usize, (usize, usize)> = HashMap::new();
        let mut records = Vec::new();
        for (fi, file) in files.iter_mut().enumerate() {
            let placeholders = vec![crate::lead::Lead::default(); file.leads.len()];
            for (li, l) in std::mem::replace(&mut file.leads, placeholders)
                .into_iter()
                .enumerate()
            {
                home.insert(records.len(), (fi, li));
                records.push(Record::new(records.len(), Location::file(&file.path), l));
            }
        }
        let digests = records.par_iter().map(|r| lead_digest(&r.lead)).collect();
        (
            Existing {
                files,
                home,
                broken,
                digests,
            },
            records,
        )
    }

    /// A lead Dedup left as it was goes back into its file.
    fn put_back(&mut self, rec: Record) {
        let (fi, li) = self.home[&rec.id];
        self.files[fi].leads[li] = rec.lead;
    }

    /// Each routed lead into its file: returns the files that changed and the new files. What
    /// must not be written (into a file that could not be read whole, or a new lead such a file
    /// may hold) is reported instead, and its merge not counted.
    fn place(
        &mut self,
        routed: Vec<Record>,
        leads_dir: &Path,
        report: &mut Report,
    ) -> Result<(HashSet<usize>, Vec<LeadFile>)> {
        let taken: HashSet<PathBuf> = self.files.iter().map(|f| f.path.clone()).collect();
        let broken_texts: Vec<(PathBuf, String)> = self
            .broken
            .iter()
            .filter_map(|p| {
                let text = crate::limits::read_text(p, crate::limits::MAX_TEXT_FILE).ok()?;
                Some((p.clone(), text))
            })
            .collect();
        let mut dirty: HashSet<usize> = HashSet::new();
        // Files a lead came back to unchanged (counted unchanged unless another lead changed).
        let mut same: HashSet<usize> = HashSet::new();
        let mut new_files = Vec::new();
        let after: Vec<u64> = routed
            .par_iter()
            .map(|r| match self.home.contains_key(&r.id) {
                true => lead_digest(&r.lead),
                false => 0,
            })
            .collect();
        for (rec, digest) in routed.into_iter().zip(after) {
            if let Some(&(fi, li)) = self.home.get(&rec.id) {
                // A file leadsite could not read whole is never rewritten: its unread leads
                // (and fields) would be lost. The merge waits until the file is fixed.
                let path = &self.files[fi].path;
                if self.broken.contains(path) {
                    // Not merged after all: not reported (nor written to merges.csv) as merged.
                    report.merges.retain(|m| {
                        !(m.existing && m.into.path == *path && m.key == rec.lead.dedup_key)
                    });
                    report.errors.push(
                        InputError::new(
                            Location::file(path),
                            "could not be read completely, so it is not rewritten: the ingested \
                             row was not merged into this lead (fix the file and ingest again)",
                        )
                        .with_lead(rec.lead.dedup_key.clone()),
                    );
                    continue;
                }
                self.files[fi].leads[li] = rec.lead;
                if digest != 0 && self.digests.get(rec.id) == Some(&digest) {
                    same.insert(fi);
                } else {
                    dirty.insert(fi);
                }
                continue;
            }
            // A new lead that an unreadable file may already hold (its key, phone or website
            // is in that file's text) is not written: it would be a second copy, and the
            // hand-written one would drop out once the file is fixed.
            if let Some(file) = maybe_in(&broken_texts, &rec.lead) {
                report.errors.push(
                    InputError::new(
                        Location::file(file),
                        "could not be read completely and may hold this lead (its key, phone or \
                         website is in it): the row was not written as a new lead (fix the file and \
                         ingest again)",
                    )
                    .with_lead(rec.lead.dedup_key.clone()),
                );
                continue;
            }
            let path = save::path_for(leads_dir, &rec.lead)?;
            if self.broken.contains(&path) || taken.contains(&path) {
                report.errors.push(InputError::new(Location::file(&path), "this file holds other leads or could not be read; the new lead was not written").with_lead(rec.lead.dedup_key));
                continue;
            }
            new_files.push(LeadFile {
                path,
                shape: Shape::Single,
                leads: vec![rec.lead],
            });
        }
        recount_merged(report);
        report.unchanged += same.difference(&dirty).count();
        Ok((dirty, new_files))
    }
}

/// Reads each input through import, Normalize, Validate and into Dedup, a chunk of rows at a
/// time; returns the input file of each valid row (by record id).
fn import_inputs(
    config: &Config,
    inputs: &[PathBuf],
    opts: &Options,
    first_id: usize,
    dedup: &mut dedup::Dedup,
    report: &mut Report,
    clock: &mut Clock,
) -> Result<HashMap<usize, PathBuf>> {
    let import_opts = import::Options {
        drop_columns: config.ingest.drop_columns.clone(),
        fetched_at: opts.fetched_at,
    };
    let region = opts
        .region
        .clone()
        .unwrap_or_else(|| config.ingest.default_region.clone());
    let normalize_opts = normalize::Options {
        default_region: region,
    };
    let mut next_id = first_id;
    let mut row_files: HashMap<usize, PathBuf> = HashMap::new();
    for path in inputs {
        let mut summary = FileSummary {
            path: path.clone(),
            ..Default::default()
        };
        let mut stage = |chunk: Vec<Record>| -> Result<()> {
            clock.lap(report, "import");
            let normalized = normalize::run(chunk, &normalize_opts)?;
            clock.lap(report, "normalize");
            let (valid, rejects) = validate::run(normalized);
            report.rejects.extend(rejects);
            clock.lap(report, "validate");
            row_files.extend(valid.iter().map(|r| (r.id, r.origin.path.clone())));
            dedup.add(valid)?;
            clock.lap(report, "dedup");
            Ok(())
        };
        match import::read_chunks(path, opts.format, &import_opts, next_id, &mut stage) {
            Ok(done) => {
                summary.format = Some(done.format);
                summary.read = done.records + done.errors.len();
                next_id += done.records;
                report.errors.extend(done.errors);
            }
            Err(crate::Error::Input(e)) => {
                summary.failed = true;
                report.errors.push(*e);
            }
            Err(other) => return Err(other),
        }
        report.files.push(summary);
    }
    Ok(row_files)
}

/// Writes the changed lead files and the new ones. A rewrite leadsite could not read back is
/// not written: the file is as it was, and what was to be merged into it is reported, not
/// counted as merged.
fn write_leads(changed: &[&LeadFile], new_files: &[LeadFile], report: &mut Report) -> Result<()> {
    let mut written: Vec<(&LeadFile, Result<WriteOutcome>)> = changed
        .par_iter()
        .map(|f| (*f, save::write_file(f)))
        .collect();
    // New leads go to paths nothing holds: no need to read what is there first.
    written.extend(
        new_files
            .par_iter()
            .map(|f| (f, save::create_file(f)))
            .collect::<Vec<_>>(),
    );
    for (file, outcome) in written {
        match outcome {
            Ok(WriteOutcome::Created) => report.created += 1,
            Ok(WriteOutcome::Updated) => report.updated += 1,
            Ok(WriteOutcome::Unchanged) => report.unchanged += 1,
            Err(Error::Input(e)) => {
                report
                    .merges
                    .retain(|m| !(m.existing && m.into.path == file.path));
                recount_merged(report);
                report.errors.push(*e);
            }
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

/// Each input file's merged rows, counted again after merges were taken back.
fn recount_merged(report: &mut Report) {
    for f in &mut report.files {
        f.merged = report
            .merges
            .iter()
            .filter(|m| m.from.path == f.path)
            .count();
    }
}

/// Per input file: valid, rejected and merged rows, and the routes of the leads its rows became.
fn summarize(
    report: &mut Report,
    routed: &[Record],
    assignments: &[(usize, usize)],
    row_files: &HashMap<usize, PathBuf>,
) {
    let route_of: HashMap<usize, Route> = routed
        .iter()
        .filter_map(|r| Some((r.id, r.lead.route?)))
        .collect();
    let mut per_file: HashMap<&Path, HashSet<usize>> = HashMap::new();
    for (row, lead) in assignments {
        if let Some(path) = row_files.get(row) {
            per_file.entry(path.as_path()).or_default().insert(*lead);
        }
    }
    for f in &mut report.files {
        f.rejected = report
            .rejects
            .iter()
            .filter(|r| r.origin.path == f.path)
            .count();
        f.merged = report
            .merges
            .iter()
            .filter(|m| m.from.path == f.path)
            .count();
        f.valid = f.read.saturating_sub(f.rejected).saturating_sub(
            report
                .errors
                .iter()
                .filter(|e| e.location.path == f.path && !f.failed)
                .count(),
        );
        for lead in per_file.get(f.path.as_path()).into_iter().flatten() {
            if let Some(route) = route_of.get(lead) {
                *f.routes.entry(*route).or_default() += 1;
            }
        }
    }
    report.route_totals = BTreeMap::new();
    for route in route_of.values() {
        *report.route_totals.entry(*route).or_default() += 1;
    }
}

/// The unreadable lead file whose text names this lead (its key, phone or website host), if
/// any. A phone is looked for by its last nine digits, however written (`(217) 555-0777`).
fn maybe_in<'a>(broken: &'a [(PathBuf, String)], lead: &crate::lead::Lead) -> Option<&'a Path> {
    if broken.is_empty() {
        return None;
    }
    let host = lead
        .website
        .as_deref()
        .and_then(|w| url::Url::parse(w).ok())
        .and_then(|u| {
            u.host_str()
                .map(|h| h.trim_start_matches("www.").to_string())
        });
    let marks: Vec<&str> = [Some(lead.dedup_key.as_str()), host.as_deref()]
        .into_iter()
        .flatten()
        .filter(|m| m.len() >= 6)
        .collect();
    let phone = lead.phone.as_deref().and_then(|p| {
        let digits: Vec<char> = p.chars().filter(char::is_ascii_digit).collect();
        let tail = &digits[digits.len().saturating_sub(9)..];
        (tail.len() >= 7).then(|| {
            let parts: Vec<String> = tail.iter().map(char::to_string).collect();
            regex::Regex::new(&parts.join(r"[\s().\-/]{0,3}")).expect("digits make a pattern")
        })
    });
    broken
        .iter()
        .find(|(_, text)| {
            marks.iter().any(|m| text.contains(m))
                || phone.as_ref().is_some_and(|r| r.is_match(text))
        })
        .map(|(p, _)| p.as_path())
}
