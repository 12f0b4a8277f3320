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

pub(crate) mod headers;
pub(crate) mod s3;

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
    /// Files of `site/` not published, with why (a link, a name that is not UTF-8); their
    /// objects are not deleted either.
    pub skipped: Vec<(String, String)>,
    /// The header rules changed since the last deploy: every file goes up again with the new
    /// headers.
    pub headers_changed: bool,
    /// The rules are to be recorded at the end (changed, or not recorded yet).
    pub record_rules: bool,
}

/// Where a deploy records the header rules it stored objects with (under the target's prefix,
/// a hidden key no page links to): a change of rules uploads every file again.
const HEADERS_KEY: &str = ".leadsite/headers";

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
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
    /// Shown the plan, the user said no: nothing was changed.
    pub cancelled: bool,
}

impl Report {
    /// Whether running the plan changes the bucket.
    pub fn changes_anything(&self) -> bool {
        !self.plan.uploads.is_empty()
            || (self.deletes_held.is_none() && !self.plan.deletes.is_empty())
            || self.plan.record_rules
    }
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

/// Compares `site/` with the bucket. `others`: the prefixes of the other targets in the same
/// bucket, whose objects are never this target's to delete.
pub fn plan(
    config: &Config,
    target: &Target,
    remote: &[Remote],
    others: &[String],
    force: bool,
    recorded_rules: Option<&str>,
) -> Result<Plan> {
    let site = config.resolve(&config.paths.site);
    let rules = headers::Rules::new(&config.deploy.headers)?;
    let prefix = prefix(target);
    let digest = rules_digest(config, target);
    let mut plan = Plan {
        headers_changed: recorded_rules.is_some_and(|r| r != digest),
        record_rules: recorded_rules != Some(digest.as_str()),
        ..Plan::default()
    };
    // Objects stored under other rules go up again with the new headers. (No record: a first
    // deploy, or one cut off before its end, whose objects have today's headers.)
    let force = force || plan.headers_changed;
    let mut remote_by_key: BTreeMap<&str, &Remote> =
        remote.iter().map(|r| (r.key.as_str(), r)).collect();
    let (paths, skipped) = files(&site)?;
    for (path, why) in skipped {
        remote_by_key.remove(format!("{prefix}{path}").as_str());
        plan.skipped.push((path, why));
    }
    for path in paths {
        let key = format!("{prefix}{path}");
        let h = rules.of(&path, target.gzip);
        let body = body(&site.join(&path), &h)?;
        let size = body.len() as u64;
        if size > MAX_OBJECT {
            return Err(Error::from(crate::error::InputError::new(
                crate::error::Location::file(site.join(&path)),
                format!(
                    "{} GiB, more than one upload takes (5 GiB): a landing-page site holds no such file",
                    size >> 30
                ),
            )));
        }
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
    // Never deleted: another target's objects, and hidden keys (leadsite's record of the
    // header rules, `.well-known` of the host, what other tools keep there).
    plan.deletes = remote_by_key
        .into_keys()
        .filter(|k| {
            !others
                .iter()
                .any(|o| o.len() > prefix.len() && k.starts_with(o.as_str()))
        })
        .filter(|k| {
            !k[prefix.len()..]
                .split('/')
                .any(|part| part.starts_with('.'))
        })
        .map(String::from)
        .collect();
    Ok(plan)
}

/// One PUT takes at most 5 GiB.
const MAX_OBJECT: u64 = 5 << 30;

/// A digest of what decides the headers: the rules of the config, gzip, and this version's
/// built-in rules.
fn rules_digest(config: &Config, target: &Target) -> String {
    let rules: Vec<String> = config
        .deploy
        .headers
        .iter()
        .map(|r| format!("{}\t{:?}\t{:?}", r.pattern, r.content_type, r.cache_control))
        .collect();
    crate::fsutil::fingerprint(
        format!(
            "{}\n{}\n{}",
            env!("CARGO_PKG_VERSION"),
            target.gzip,
            rules.join("\n")
        )
        .as_bytes(),
    )
}

/// Lists the bucket, plans, and (unless a dry run, or `confirm` says no when shown the plan)
/// uploads and deletes what the plan says.
pub fn run(
    config: &Config,
    opts: &Options,
    progress: &dyn Progress,
    confirm: &dyn Fn(&Report) -> bool,
) -> Result<Report> {
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
    let prefix = prefix(target);
    let remote = store.list(&prefix)?;
    // The other targets' prefixes in this bucket: a target at the bucket's root lists them too.
    let others: Vec<String> = config
        .deploy
        .targets
        .iter()
        .filter(|t| {
            t.name != target.name && t.bucket == target.bucket && t.endpoint == target.endpoint
        })
        .map(self::prefix)
        .collect();
    let recorded = match remote
        .iter()
        .any(|r| r.key == format!("{prefix}{HEADERS_KEY}"))
    {
        true => store.get(&format!("{prefix}{HEADERS_KEY}"))?,
        false => None,
    };
    let plan = plan(
        config,
        target,
        &remote,
        &others,
        opts.force,
        recorded.as_deref(),
    )?;
    let max_deletes = opts.max_deletes.unwrap_or(config.deploy.max_deletes);
    let mut report = Report {
        store: store.name().to_string(),
        ..Report::default()
    };
    if plan.deletes.len() > max_deletes {
        report.deletes_held = Some(format!(
            "{} objects in the bucket have no file in site/, more than --max-deletes {max_deletes}: none was deleted (is site/ the whole site? raise --max-deletes to delete them)",
            plan.deletes.len()
        ));
    }
    report.invalidate = invalidations(&plan, &prefix, report.deletes_held.is_none());
    report.plan = plan;
    if opts.dry_run || !confirm(&report) {
        report.cancelled = !opts.dry_run;
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    let plan = std::mem::take(&mut report.plan);
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
    if plan.record_rules {
        let digest = rules_digest(config, target);
        store.put(
            &format!("{prefix}{HEADERS_KEY}"),
            digest.as_bytes(),
            &[("content-type", "text/plain; charset=utf-8")],
        )?;
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
    crate::text::hex(&Md5::digest(bytes))
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

/// The files of `site/`, relative, with `/`, sorted, and those not published with why. Hidden
/// files and folders (`.git/`, a build's temp files) are left out, but for `.well-known/`.
fn files(site: &Path) -> Result<(Vec<String>, Skipped)> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let walk = walkdir::WalkDir::new(site)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0 || {
                let name = e.file_name().to_string_lossy();
                !name.starts_with('.') || name == ".well-known"
            }
        });
    for entry in walk {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(site).to_path_buf();
            crate::fsutil::io_error(&path, e.into())
        })?;
        let rel = entry.path().strip_prefix(site).unwrap_or(entry.path());
        let shown = rel.to_string_lossy().replace('\\', "/");
        if entry.file_type().is_symlink() {
            skipped.push((shown, "a symbolic link: links are not published".into()));
            continue;
        }
        if !entry.file_type().is_file() {
            continue;
        }
        let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
        match parts {
            Some(parts) => out.push(parts.join("/")),
            None => skipped.push((shown, "a name that is not UTF-8: it cannot be a key".into())),
        }
    }
    Ok((out, skipped))
}

/// Files not published, with why.
type Skipped = Vec<(String, String)>;

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

/// The URL paths a CDN must forget, from the site's root (the target's prefix taken off,
/// percent-encoded): each changed or deleted page by its folder URL and its file, other files
/// by their path. Deletes count only when they happen.
fn invalidations(plan: &Plan, prefix: &str, deleting: bool) -> Vec<String> {
    let changed = plan
        .uploads
        .iter()
        .filter(|u| u.why != Why::New)
        .map(|u| u.path.as_str());
    let deleted = plan
        .deletes
        .iter()
        .filter(|_| deleting)
        .map(|k| k.strip_prefix(prefix).unwrap_or(k));
    let encode = |p: &str| {
        p.split('/')
            .map(|part| {
                percent_encoding::utf8_percent_encode(part, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
                    .replace("%2E", ".")
                    .replace("%2D", "-")
                    .replace("%5F", "_")
            })
            .collect::<Vec<_>>()
            .join("/")
    };
    let mut out = Vec::new();
    for path in changed.chain(deleted) {
        if let Some(dir) = path.strip_suffix("index.html") {
            out.push(format!("/{}", encode(dir)));
        }
        out.push(format!("/{}", encode(path)));
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
            invalidations(&plan, "", true),
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
