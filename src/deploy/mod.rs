//! `leadsite deploy`: publishes `site/` to an S3 bucket (or an S3-compatible store) as it is,
//! uploading only what differs.
//!
//! - Diff by content: the bucket is listed (1,000 keys a request) and each file's size and MD5
//!   compared with the object's size and ETag. An ETag with a `-` (a multipart upload by another
//!   tool) says nothing of the content: the file is uploaded when its size differs, else left
//!   and reported, and `--force` uploads it anyway.
//! - Order that never shows a broken page: assets first, then pages, then the home page, the
//!   sitemaps and robots.txt; deletes last, and none at all when there are more than
//!   `--max-deletes` (the site folder may be empty or another site's).
//! - Headers per file ([`headers`]); optional gzip.
//! - Each request is tried again with back-off; a run that stops half-way is finished by the
//!   next, which uploads only what did not arrive.

pub mod headers;
pub mod s3;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use md5::{Digest, Md5};

use crate::config::{Config, Target};
use crate::error::{Error, Result};
use crate::pipeline::enrich::Progress;

pub use s3::{Remote, Store};

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The target's name; may be left out when the config has one target.
    pub target: Option<String>,
    pub dry_run: bool,
    /// Upload every file, changed or not (after a change of header rules, say).
    pub force: bool,
    /// Overrides `deploy.max_deletes`.
    pub max_deletes: Option<usize>,
}

/// Why a file goes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    New,
    Changed,
    Forced,
}

/// One file to upload.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Relative to `site/`, with `/`.
    pub path: String,
    pub key: String,
    pub why: Why,
    pub size: u64,
    pub headers: headers::Headers,
    /// 0 assets, 1 pages, 2 the home page, sitemaps and robots.txt.
    pub stage: u8,
}

/// What a deploy does.
#[derive(Debug, Default)]
pub struct Plan {
    pub uploads: Vec<Upload>,
    pub unchanged: usize,
    /// Objects under the prefix with no file in `site/`.
    pub deletes: Vec<String>,
    /// Files left as they are because the object's ETag is not an MD5 (a multipart upload) and
    /// the sizes agree: `--force` uploads them.
    pub unknown: Vec<String>,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    pub target: String,
    pub store: String,
    pub plan: Plan,
    pub uploaded: usize,
    pub bytes: u64,
    pub deleted: usize,
    /// Why no delete happened, if none did though some were due.
    pub deletes_held: Option<String>,
    /// The paths a CDN in front of the bucket must forget (`/acme/`, `/sitemap.xml`).
    pub invalidate: Vec<String>,
    pub seconds: f64,
}

/// The target the options name.
pub fn target<'a>(config: &'a Config, name: Option<&str>) -> Result<&'a Target> {
    let targets = &config.deploy.targets;
    let names = || {
        targets
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(n) => targets.iter().find(|t| t.name == n).ok_or_else(|| {
            Error::Usage(format!(
                "no deploy target {n:?} in the config (deploy.targets: {})",
                if targets.is_empty() { "none".to_string() } else { names() }
            ))
        }),
        None => match targets.as_slice() {
            [one] => Ok(one),
            [] => Err(Error::Usage(
                "no deploy target in the config: add deploy.targets (name, bucket, region; endpoint and path_style for an S3-compatible store)".into(),
            )),
            _ => Err(Error::Usage(format!(
                "the config has several deploy targets ({}): name one with --target",
                names()
            ))),
        },
    }
}

/// Compares `site/` with the bucket.
pub fn plan(config: &Config, target: &Target, remote: &[Remote], force: bool) -> Result<Plan> {
    let site = config.resolve(&config.paths.site);
    let rules = headers::Rules::new(&config.deploy.headers)?;
    let prefix = prefix(target);
    let mut plan = Plan::default();
    let mut remote_by_key: BTreeMap<&str, &Remote> =
        remote.iter().map(|r| (r.key.as_str(), r)).collect();
    for path in files(&site)? {
        let key = format!("{prefix}{path}");
        let h = rules.of(&path, target.gzip);
        let body = body(&site.join(&path), &h)?;
        let size = body.len() as u64;
        let why = match remote_by_key.remove(key.as_str()) {
            None => Some(Why::New),
            Some(r) if r.size != size => Some(Why::Changed),
            Some(r) if r.etag.contains('-') => {
                if force {
                    Some(Why::Forced)
                } else {
                    plan.unknown.push(key.clone());
                    None
                }
            }
            Some(r) if !r.etag.eq_ignore_ascii_case(&md5_hex(&body)) => Some(Why::Changed),
            Some(_) if force => Some(Why::Forced),
            Some(_) => None,
        };
        match why {
            Some(why) => plan.uploads.push(Upload {
                stage: stage(&path),
                path,
                key,
                why,
                size,
                headers: h,
            }),
            None => plan.unchanged += 1,
        }
    }
    plan.uploads
        .sort_by(|a, b| (a.stage, &a.key).cmp(&(b.stage, &b.key)));
    plan.deletes = remote_by_key.into_keys().map(String::from).collect();
    Ok(plan)
}

/// Lists the bucket, plans, and (unless a dry run) uploads and deletes.
pub fn run(config: &Config, opts: &Options, progress: &dyn Progress) -> Result<Report> {
    let started = std::time::Instant::now();
    let target = target(config, opts.target.as_deref())?;
    let site = config.resolve(&config.paths.site);
    if !site.join("index.html").is_file() {
        return Err(Error::Usage(format!(
            "{} has no index.html: run `leadsite build` first (a deploy publishes the built site as it is)",
            site.display()
        )));
    }
    let store = Store::open(target)?;
    let remote = store.list(&prefix(target))?;
    let plan = plan(config, target, &remote, opts.force)?;
    let max_deletes = opts.max_deletes.unwrap_or(config.deploy.max_deletes);
    let mut report = Report {
        target: target.name.clone(),
        store: store.name().to_string(),
        invalidate: invalidations(&plan),
        ..Report::default()
    };
    if plan.deletes.len() > max_deletes {
        report.deletes_held = Some(format!(
            "{} objects in the bucket have no file in site/, more than --max-deletes {max_deletes}: none was deleted (is site/ the whole site? raise --max-deletes to delete them)",
            plan.deletes.len()
        ));
    }
    if opts.dry_run {
        report.plan = plan;
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    let uploaded = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    progress.start("uploading", plan.uploads.len() as u64);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.deploy.jobs.max(1))
        .build()
        .map_err(|e| Error::System(format!("deploy: cannot start upload threads: {e}")))?;
    // Stage by stage: every asset is up before the first page that uses it, every page
    // before the home page and sitemap that link to it.
    for stage in 0..=2u8 {
        let batch: Vec<&Upload> = plan.uploads.iter().filter(|u| u.stage == stage).collect();
        pool.scope(|s| {
            for u in batch {
                let (store, site, uploaded, bytes, failure) =
                    (&store, &site, &uploaded, &bytes, &failure);
                s.spawn(move |_| {
                    if failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                        return;
                    }
                    match upload(store, site, u) {
                        Ok(n) => {
                            uploaded.fetch_add(1, Ordering::Relaxed);
                            bytes.fetch_add(n, Ordering::Relaxed);
                            progress.advance();
                        }
                        Err(e) => {
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(e);
                            }
                        }
                    }
                });
            }
        });
        if let Some(e) = failure.lock().ok().and_then(|mut f| f.take()) {
            progress.finish();
            let done = uploaded.load(Ordering::Relaxed);
            return Err(Error::Storage(format!(
                "{e}\n{done} of {} files were uploaded before it stopped; nothing was deleted. Run `leadsite deploy` again to finish: what arrived is not uploaded again",
                plan.uploads.len()
            )));
        }
    }
    progress.finish();
    report.uploaded = uploaded.into_inner();
    report.bytes = bytes.into_inner();
    if report.deletes_held.is_none() && !plan.deletes.is_empty() {
        store.delete(&plan.deletes)?;
        report.deleted = plan.deletes.len();
    }
    report.plan = plan;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn upload(store: &Store, site: &Path, u: &Upload) -> Result<u64> {
    let body = body(&site.join(&u.path), &u.headers)?;
    let mut h: Vec<(&str, &str)> = vec![
        ("content-type", u.headers.content_type.as_str()),
        ("cache-control", u.headers.cache_control.as_str()),
    ];
    if u.headers.gzip {
        h.push(("content-encoding", "gzip"));
    }
    store.put(&u.key, &body, &h)?;
    Ok(body.len() as u64)
}

/// The bytes stored for a file: as it is, or gzipped (deterministic: no name, no time).
fn body(path: &Path, h: &headers::Headers) -> Result<Vec<u8>> {
    let bytes = crate::fsutil::read(path)?;
    if !h.gzip {
        return Ok(bytes);
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&bytes)
        .and_then(|()| gz.finish())
        .map_err(|e| crate::fsutil::io_error(path, e))
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The target's prefix, ending in `/` when it is not empty.
fn prefix(target: &Target) -> String {
    let p = target.prefix.trim_matches('/');
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}/")
    }
}

/// The files of `site/`, relative, with `/`, sorted; a build's temporary files (dot files) and
/// anything that is not a regular file are left out.
fn files(site: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(site)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(site).to_path_buf();
            crate::fsutil::io_error(&path, e.into())
        })?;
        if !entry.file_type().is_file() || entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let rel = entry.path().strip_prefix(site).unwrap_or(entry.path());
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        out.push(parts.join("/"));
    }
    Ok(out)
}

/// When a file goes up: 0 assets, 1 pages, 2 what links to pages (the home page, sitemaps,
/// robots.txt, a language's home page).
fn stage(path: &str) -> u8 {
    let name = path.rsplit('/').next().unwrap_or(path);
    let depth = path.matches('/').count();
    if name == "robots.txt"
        || (name.starts_with("sitemap") && name.ends_with(".xml"))
        || path == "index.html"
        || (depth == 1 && name == "index.html" && is_language_dir(path))
    {
        2
    } else if name.ends_with(".html") {
        1
    } else {
        0
    }
}

/// `el/index.html`, `en-us/index.html`: a language's home page in a site of several.
fn is_language_dir(path: &str) -> bool {
    let dir = path.split('/').next().unwrap_or("");
    let mut parts = dir.split('-');
    parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase()))
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The URL paths a CDN must forget: each changed or deleted page by its folder URL and its
/// file, other files by their path.
fn invalidations(plan: &Plan) -> Vec<String> {
    let changed = plan
        .uploads
        .iter()
        .filter(|u| u.why != Why::New)
        .map(|u| u.path.as_str());
    let mut out = Vec::new();
    for path in changed.chain(plan.deletes.iter().map(String::as_str)) {
        if let Some(dir) = path.strip_suffix("index.html") {
            out.push(format!("/{dir}"));
        }
        out.push(format!("/{path}"));
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_go_first_pages_next_and_what_links_to_them_last() {
        assert_eq!(stage("assets/default/style.6d6197c335.css"), 0);
        assert_eq!(stage("acme/index.html"), 1);
        assert_eq!(stage("city/springfield-il/index.html"), 1);
        assert_eq!(stage("404.html"), 1);
        assert_eq!(stage("index.html"), 2);
        assert_eq!(stage("sitemap.xml"), 2);
        assert_eq!(stage("el/sitemap.xml"), 2);
        assert_eq!(stage("el/index.html"), 2);
        assert_eq!(stage("robots.txt"), 2);
        // A lead's page is a page, however short its key.
        assert_eq!(stage("acme-co/index.html"), 1);
    }

    #[test]
    fn invalidations_name_changed_and_deleted_pages_by_both_urls() {
        let page = |path: &str, why| Upload {
            path: path.into(),
            key: path.into(),
            why,
            size: 1,
            headers: headers::Rules::new(&[]).unwrap().of(path, false),
            stage: stage(path),
        };
        let plan = Plan {
            uploads: vec![
                page("acme/index.html", Why::Changed),
                page("new-lead/index.html", Why::New),
                page("sitemap.xml", Why::Changed),
            ],
            deletes: vec!["gone/index.html".into()],
            ..Plan::default()
        };
        assert_eq!(
            invalidations(&plan),
            [
                "/acme/",
                "/acme/index.html",
                "/gone/",
                "/gone/index.html",
                "/sitemap.xml"
            ]
        );
    }
}
