//! `leadsite deploy`: publish site/ to S3 (or an S3-compatible store), uploading what differs.

use std::io::IsTerminal;

use crate::cli::{Outcome, Ui};
use crate::config::Config;
use crate::deploy::{self, Options, Why};

/// Publish site/ to an S3 bucket or S3-compatible store, uploading only what changed.
///
/// Targets are in leadsite.yaml (deploy.targets: name, bucket, prefix, region, endpoint,
/// path_style, gzip, distribution_id). Credentials: AWS_ACCESS_KEY_ID and
/// AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), else the profile (AWS_PROFILE or the
/// target's `profile`) of ~/.aws/credentials. Files are compared with the bucket by size and
/// MD5; assets go up first, then pages, then the home page and sitemaps; objects with no file in
/// site/ are deleted last, unless there are more than --max-deletes. Exit 3 when deletes were
/// held back or files were left unverified.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The deploy target (deploy.targets[].name); may be left out when there is one.
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// Print what would be uploaded, changed and deleted; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Upload every file, changed or not (after a change of header rules).
    #[arg(long)]
    pub force: bool,
    /// Delete at most N objects; with more, none is deleted [default: deploy.max_deletes, 256].
    #[arg(long, value_name = "N")]
    pub max_deletes: Option<usize>,
    /// Do not ask before changing the bucket (asked only when stdin is a terminal).
    #[arg(long, short)]
    pub yes: bool,
}

pub fn run(args: Args, config: &Config, ui: &Ui) -> anyhow::Result<Outcome> {
    let opts = Options {
        target: args.target,
        dry_run: args.dry_run,
        force: args.force,
        max_deletes: args.max_deletes,
    };
    // At a terminal, the plan is shown and asked about; the plan run is the one shown.
    let ask = !args.yes && !args.dry_run && std::io::stdin().is_terminal();
    let confirm = |report: &deploy::Report| -> bool {
        if !ask || !report.changes_anything() {
            return true;
        }
        ui.result(&plan_text(report));
        crate::cli::ui::say_raw(&format!("Deploy to {}? [y/N] ", report.store));
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).is_ok()
            && matches!(answer.trim(), "y" | "Y" | "yes")
    };
    let report = deploy::run(config, &opts, &crate::cli::ui::Bar::new(ui), &confirm)?;
    for (path, why) in &report.plan.skipped {
        ui.info(&format!(
            "warning: site/{}: not published: {why}",
            crate::error::printable(path)
        ));
    }
    if args.dry_run {
        ui.result(&plan_text(&report));
        warnings(&report, ui);
        return Ok(outcome(&report));
    }
    if report.cancelled {
        ui.info("nothing was changed");
        return Ok(Outcome::Success);
    }
    if ui.verbose() {
        ui.result(&plan_text(&report));
    }
    let p = &report.plan;
    ui.info(&format!(
        "{}: {} uploaded ({} new, {} changed, {} KiB), {} unchanged, {} deleted in {:.1} s",
        report.store,
        report.uploaded,
        p.uploads.iter().filter(|u| u.why == Why::New).count(),
        p.uploads.iter().filter(|u| u.why != Why::New).count(),
        report.bytes.div_ceil(1024),
        p.unchanged,
        report.deleted,
        report.seconds
    ));
    warnings(&report, ui);
    if !report.invalidate.is_empty() {
        let target = deploy::target(config, opts.target.as_deref())?;
        ui.info(&invalidation_text(
            &report.invalidate,
            target.distribution_id.as_deref(),
        ));
    }
    Ok(outcome(&report))
}

fn outcome(report: &deploy::Report) -> Outcome {
    if report.deletes_held.is_some() || !report.plan.unknown.is_empty() {
        Outcome::Partial
    } else {
        Outcome::Success
    }
}

fn warnings(report: &deploy::Report, ui: &Ui) {
    if report.plan.headers_changed && report.plan.unchanged + report.plan.uploads.len() > 0 {
        ui.detail(
            "the header rules (deploy.headers, gzip, or leadsite's own) differ from the last deploy's: every file goes up with the new headers",
        );
    }
    if let Some(why) = &report.deletes_held {
        ui.info(&format!("warning: {why}"));
    }
    if !report.plan.unknown.is_empty() {
        ui.info(&format!(
            "warning: {} objects were uploaded in parts by another tool (their ETag is no MD5) and have the size of the file: left as they are; --force uploads them (e.g. {})",
            report.plan.unknown.len(),
            report.plan.unknown[0]
        ));
    }
}

/// One line a change, then a summary: what a dry run prints, and `-v`.
fn plan_text(report: &deploy::Report) -> String {
    let p = &report.plan;
    let mut out = String::new();
    for u in &p.uploads {
        let why = match u.why {
            Why::New => "new",
            Why::Changed => "changed",
            Why::Forced => "forced",
        };
        out.push_str(&format!(
            "upload {why:<7} {} ({} bytes, {}; {}{})\n",
            crate::error::printable(&u.key),
            u.size,
            u.headers.content_type,
            u.headers.cache_control,
            if u.headers.gzip { "; gzip" } else { "" }
        ));
    }
    let held = report.deletes_held.is_some();
    for key in &p.deletes {
        out.push_str(&format!(
            "delete{} {}\n",
            if held { " (held back)" } else { "" },
            crate::error::printable(key)
        ));
    }
    out.push_str(&format!(
        "{}: {} to upload ({} bytes), {} unchanged, {} to delete{}\n",
        report.store,
        p.uploads.len(),
        p.uploads.iter().map(|u| u.size).sum::<u64>(),
        p.unchanged,
        if held { 0 } else { p.deletes.len() },
        if held {
            format!(" ({} held back)", p.deletes.len())
        } else {
            String::new()
        }
    ));
    out
}

/// What to tell the CDN: the paths, and the command when a distribution is configured.
fn invalidation_text(paths: &[String], distribution: Option<&str>) -> String {
    // CloudFront counts each path; past a few dozen, one wildcard is cheaper.
    let list = if paths.len() > 30 {
        "'/*'".to_string()
    } else {
        paths
            .iter()
            .map(|p| format!("'{p}'"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match distribution {
        Some(id) => format!(
            "changed paths for the CDN: aws cloudfront create-invalidation --distribution-id {id} --paths {list}"
        ),
        None => format!("changed paths (for a CDN in front of the bucket): {list}"),
    }
}
