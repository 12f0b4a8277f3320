//! LandingPageGenerator (the design's §4, Phase 5): scored TARGET leads that qualify → one landing
//! page each under `site/<dedup_key>/index.html`, from the lead's industry theme and content,
//! plus `index.html`, `sitemap.xml`, `robots.txt`, `404.html`, the content pages and the themes'
//! fingerprinted assets. `landing_pages` and `landing_stats` go to `.leadsite/build/`.
//!
//! Pages are rendered in parallel and written one by one (never the whole site in memory). A page
//! is rendered again only when a digest of its inputs (the lead, its title, theme, content and
//! site settings) differs from the last build's (`.leadsite/build/pages.json`); a page whose
//! bytes did not change is not rewritten, and pages of leads that left are removed.

pub mod content;
pub mod embedded;
pub mod facts;
pub mod hours;
pub mod images;
pub mod language;
pub mod listing;
pub mod placeholders;
pub mod seo;
pub mod theme;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, InputError, Location, Result};
use crate::fsutil::{self, fingerprint, WriteOutcome};
use crate::lead::value::{canonical_email, canonical_url};
use crate::lead::{is_valid_key, Lead, Route};
use crate::pipeline::enrich::Progress;
use content::Content;
use facts::Facts;
use theme::Themes;

/// A lead's own `about` Markdown shown on its page at most (longer is cut, with a warning).
const MAX_ABOUT: usize = 64 * 1024;
/// Bytes of a description kept (meta tags use the first 160 characters).
const MAX_DESCRIPTION: usize = 2 * 1024;

/// Sitemaps hold at most this many URLs (sitemaps.org); more go into several files and an index.
const SITEMAP_MAX: usize = 50_000;

#[derive(Debug, Clone, Serialize)]
pub struct Social {
    pub label: String,
    pub url: String,
}

/// The business as templates see it (`business.*`): every value checked and ready to show.
#[derive(Debug, Clone, Serialize)]
pub struct Business {
    pub name: String,
    pub tagline: String,
    pub category: String,
    pub city: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub phone_display: Option<String>,
    pub phone_href: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
    pub website_label: Option<String>,
    /// Only in JSON-LD: a page loads nothing from other hosts.
    pub logo: Option<String>,
    /// The hero picture's absolute URL (self-hosted), for JSON-LD.
    pub image: Option<String>,
    pub description: Option<String>,
    pub address_lines: Vec<String>,
    pub map_url: Option<String>,
    pub rating: Option<f64>,
    pub review_count: Option<u64>,
    pub social: Vec<Social>,
    pub schema_type: String,
}

#[derive(Debug, Clone, Serialize)]
struct SiteCtx {
    title: String,
    base_url: String,
    language: String,
    /// The site's root path (`/` or the base URL's path), for links.
    root: String,
}

#[derive(Debug, Clone, Serialize)]
struct Seo {
    title: String,
    description: String,
    canonical: String,
    og_type: &'static str,
    locale: String,
    image: Option<String>,
    /// `summary_large_image` cards for pages with a hero picture.
    large_image: bool,
    json_ld: Option<String>,
    noindex: bool,
    /// The same page in the site's other languages (hreflang), `x-default` last.
    alternates: Vec<Alternate>,
}

#[derive(Debug, Clone, Serialize)]
struct Alternate {
    lang: String,
    url: String,
}

#[derive(Debug, Clone, Serialize)]
struct PageLink {
    url: String,
    title: String,
}

#[derive(Debug, Clone, Serialize)]
struct Cta {
    url: String,
    text: String,
}

/// Where a lead's page is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageRef {
    pub url: String,
    pub path: String,
}

/// Pages of one theme.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ThemeStats {
    pub pages: usize,
    pub written: usize,
    pub unchanged: usize,
}

/// What the generator did: `landing_stats`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub written: usize,
    pub unchanged: usize,
    /// Pages of leads that left this build (each now a redirect).
    pub removed: usize,
    /// Redirect pages in the site: old URLs of leads that left.
    pub redirects: usize,
    /// Reason → how many leads got no page for it.
    pub skipped: BTreeMap<String, usize>,
    pub skipped_leads: Vec<(String, String)>,
    pub themes: BTreeMap<String, ThemeStats>,
    /// Other files (index, sitemap, assets …) written because they changed.
    pub other_written: usize,
    /// Lead data that was there but could not be shown (unreadable hours …), with the lead.
    pub warnings: Vec<String>,
    pub images: images::ImageStats,
    #[serde(skip)]
    pub pages: BTreeMap<String, PageRef>,
}

/// Everything a landing page is made from, but the lead.
struct Shared<'a> {
    config: &'a Config,
    themes: &'a Themes,
    content: &'a Content,
    site: SiteCtx,
    pages: Vec<PageLink>,
    assets: BTreeMap<String, Vec<String>>,
    site_dir: PathBuf,
    /// Where the site's temp files live (see [`staging_dir`]).
    staging: PathBuf,
    digest: String,
    /// Hours in the 12-hour clock (en-US and its neighbours) or the 24-hour one.
    clock12: bool,
    /// Each theme's UI strings in the site's language.
    strings: BTreeMap<String, theme::Strings>,
    images: &'a images::Images,
    /// Per theme: a context with what all its pages share (`site`, `pages`, `t`, stylesheets).
    contexts: BTreeMap<String, tera::Context>,
    /// The site's languages and their base URLs, when it is built in several.
    languages: Vec<(String, String)>,
}

/// Builds the site from the scored leads.
/// What a build knows besides the leads.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Images come only from the cache.
    pub offline: bool,
    /// Keys (file names) of lead files that could not be read this time: their pages are kept
    /// as they are, neither removed nor redirected.
    pub unreadable: std::collections::BTreeSet<String>,
    /// When the site is built in several languages: (language, its base URL), each.
    pub languages: Vec<(String, String)>,
}

/// The same path in every language of the site (empty for a site in one language).
fn alternates(languages: &[(String, String)], path: &str) -> Vec<Alternate> {
    let mut out: Vec<Alternate> = languages
        .iter()
        .map(|(lang, base)| Alternate {
            lang: lang.clone(),
            url: format!("{base}{path}"),
        })
        .collect();
    if let Some(first) = out.first().cloned() {
        out.push(Alternate {
            lang: "x-default".into(),
            url: first.url,
        });
    }
    out
}

/// Builds the site in every language of `site.languages`, each into `site/<language>/` from
/// the same leads, then a root that leads to them: an index with a link per language, a sitemap
/// index of the languages' sitemaps, robots.txt and 404.html.
fn generate_languages(
    config: &Config,
    leads: &[Lead],
    inputs: &Inputs,
    progress: &dyn Progress,
) -> Result<Report> {
    let base = config.base_url();
    let languages: Vec<(String, String)> = config
        .site
        .languages
        .iter()
        .map(|l| (l.clone(), format!("{base}{}/", l.to_ascii_lowercase())))
        .collect();
    let mut total = Report::default();
    for (i, (lang, lang_base)) in languages.iter().enumerate() {
        let mut c = config.clone();
        let folder = lang.to_ascii_lowercase();
        c.site.language = lang.clone();
        c.site.base_url = lang_base.clone();
        c.site.languages = Vec::new();
        c.paths.site = config.paths.site.join(&folder);
        c.build_subdir = Some(folder);
        let one = generate(
            &c,
            leads,
            &Inputs {
                offline: inputs.offline,
                unreadable: inputs.unreadable.clone(),
                languages: languages.clone(),
            },
            progress,
        )?;
        total.written += one.written;
        total.unchanged += one.unchanged;
        total.removed += one.removed;
        total.redirects += one.redirects;
        total.other_written += one.other_written;
        for w in one.warnings {
            if !total.warnings.contains(&w) {
                total.warnings.push(w);
            }
        }
        if i == 0 {
            total.skipped = one.skipped;
            total.skipped_leads = one.skipped_leads;
            total.themes = one.themes;
            total.pages = one.pages;
            total.images = one.images;
        }
    }
    let site = config.site_dir();
    let staging = staging_dir(config);
    let mut write = |rel: &str, text: String| -> Result<()> {
        if fsutil::write_if_changed_via(&site.join(rel), text.as_bytes(), Some(&staging))?
            != WriteOutcome::Unchanged
        {
            total.other_written += 1;
        }
        Ok(())
    };
    let links: String = languages
        .iter()
        .map(|(l, b)| {
            format!(
                "<li><a href=\"{}\" hreflang=\"{}\" lang=\"{}\">{}</a></li>\n",
                xml_escape(b),
                xml_escape(l),
                xml_escape(l),
                xml_escape(l)
            )
        })
        .collect();
    let alternates: String = alternates(&languages, "")
        .iter()
        .map(|a| {
            format!(
                "<link rel=\"alternate\" hreflang=\"{}\" href=\"{}\">\n",
                xml_escape(&a.lang),
                xml_escape(&a.url)
            )
        })
        .collect();
    write(
        "index.html",
        format!(
            "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n<link rel=\"canonical\" href=\"{base}\">\n{alternates}</head>\n<body>\n<main>\n<h1>{title}</h1>\n<ul>\n{links}</ul>\n</main>\n</body>\n</html>\n",
            lang = xml_escape(&languages[0].0),
            title = xml_escape(&config.site.title),
            base = xml_escape(&base),
        ),
    )?;
    let mut index = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
    for (_, b) in &languages {
        index.push_str(&format!(
            "  <sitemap><loc>{}</loc></sitemap>\n",
            xml_escape(&format!("{b}sitemap.xml"))
        ));
    }
    index.push_str("</sitemapindex>\n");
    write("sitemap.xml", index)?;
    write(
        "robots.txt",
        format!("User-agent: *\nAllow: /\n\nSitemap: {base}sitemap.xml\n"),
    )?;
    let first = config
        .site_dir()
        .join(languages[0].0.to_ascii_lowercase())
        .join("404.html");
    if let Ok(page) = std::fs::read_to_string(first) {
        write("404.html", page)?;
    }
    Ok(total)
}

pub fn generate(
    config: &Config,
    leads: &[Lead],
    inputs: &Inputs,
    progress: &dyn Progress,
) -> Result<Report> {
    if !config.site.languages.is_empty() {
        return generate_languages(config, leads, inputs, progress);
    }
    let offline = inputs.offline;
    let themes = Themes::load(&config.resolve(&config.paths.themes)).map_err(Error::Config)?;
    let mut content =
        Content::load(&config.resolve(&config.paths.content)).map_err(Error::Config)?;
    content.keep_pages_in(&config.site.language);
    let content = content;
    for (industry, theme) in &config.site.themes {
        if !themes.themes.contains_key(theme) {
            return Err(Error::Config(vec![InputError::new(
                Location::file(
                    config
                        .file
                        .clone()
                        .unwrap_or_else(|| "leadsite.yaml".into()),
                ),
                format!(
                    "theme {theme:?} is neither in {} nor built in",
                    config.paths.themes.display()
                ),
            )
            .with_field(format!("site.themes.{industry}"))]));
        }
    }
    let site_dir = config.site_dir();
    unlink_site(&site_dir)?;
    fsutil::create_dir_all(&site_dir)?;
    let mut report = Report::default();

    let base = config.base_url();
    let root = url::Url::parse(&base)
        .map(|u| u.path().to_string())
        .unwrap_or_else(|_| "/".into());
    let site = SiteCtx {
        title: config.site.title.clone(),
        base_url: base.clone(),
        language: config.site.language.clone(),
        root: root.clone(),
    };
    let assets = write_assets(&themes, &site_dir, &staging_dir(config), &root, &mut report)?;
    let pages: Vec<PageLink> = content
        .pages
        .iter()
        .map(|p| PageLink {
            url: format!("{root}{}/", p.name),
            title: p.title.clone(),
        })
        .collect();
    let digest = fingerprint(
        format!(
            "{}|{}|{}|{:?}|{:?}|{:?}|{:?}|{}",
            env!("CARGO_PKG_VERSION"),
            binary_id(),
            content.fingerprint,
            serde_json::to_string(&site).unwrap_or_default(),
            config.site.cta_url,
            config.site.cta_text,
            serde_json::to_string(&assets).unwrap_or_default(),
            serde_json::to_string(&pages).unwrap_or_default(),
        )
        .as_bytes(),
    );
    let images = images::Images::new(config, &root, offline);
    let mut shared = Shared {
        contexts: BTreeMap::new(),
        languages: inputs.languages.clone(),
        images: &images,
        config,
        themes: &themes,
        content: &content,
        site,
        pages,
        assets,
        site_dir: site_dir.clone(),
        staging: staging_dir(config),
        digest,
        clock12: clock12(&config.site.language),
        strings: themes
            .themes
            .keys()
            .map(|k| (k.clone(), themes.strings(k, &config.site.language).0))
            .collect(),
    };

    shared.contexts = themes
        .themes
        .keys()
        .map(|k| {
            let mut ctx = tera::Context::new();
            ctx.insert("site", &shared.site);
            ctx.insert("pages", &shared.pages);
            ctx.insert("t", &shared.strings[k]);
            ctx.insert("stylesheets", &stylesheets(&shared, k));
            (k.clone(), ctx)
        })
        .collect();
    let shared = shared;

    // Which leads get a page, and why the others do not.
    let reserved: HashSet<String> = content
        .pages
        .iter()
        .map(|p| p.name.clone())
        .chain(["assets".to_string(), "img".to_string()])
        .chain(listing::RESERVED.iter().map(|r| r.to_string()))
        .collect();
    let mut chosen: Vec<&Lead> = Vec::new();
    for lead in leads {
        match skip_reason(lead, &reserved) {
            Some(reason) => {
                *report.skipped.entry(reason.clone()).or_default() += 1;
                report
                    .skipped_leads
                    .push((lead.label().to_string(), reason));
            }
            None => chosen.push(lead),
        }
    }
    chosen.sort_by(|a, b| a.dedup_key.cmp(&b.dedup_key));
    report.warnings = placeholders::placeholders(config, &content, chosen.iter().copied());
    let lang = language::Lang::of(&config.site.language);
    if !lang.is_english() {
        let primary = &lang.primary;
        let mut english: Vec<&str> = chosen
            .iter()
            .map(|l| content.industry(industry_of(l)).key.as_str())
            .filter(|k| {
                lang.suffixes()
                    .iter()
                    .all(|s| !content.industries.contains_key(&format!("{k}.{s}")))
            })
            .collect();
        english.sort_unstable();
        english.dedup();
        if !english.is_empty() {
            report.warnings.push(format!(
                "site.language {}: the copy of {} is English (add content/industries/<industry>.{primary}.md)",
                config.site.language,
                english.join(", ")
            ));
        }
    }
    if !themes.strings("default", &config.site.language).1 {
        report.warnings.push(format!(
            "site.language {}: the themes have no UI strings in it, so pages show English ones; add themes/default/i18n/{}.yaml",
            config.site.language,
            config.site.language.to_ascii_lowercase()
        ));
    }
    report.warnings.extend(placeholders::default_copy(
        &content,
        chosen
            .iter()
            .filter_map(|l| Some((industry_of(l)?, l.label()))),
    ));
    let candidates: Vec<Vec<String>> = chosen
        .iter()
        .map(|l| {
            // Titles need the name, category and place only: no need to clean the rest.
            let l = presentable(&Lead {
                dedup_key: l.dedup_key.clone(),
                name: l.name.clone(),
                category: l.category.clone(),
                address: l.address.clone(),
                enrichment: l.enrichment.clone(),
                ..Lead::default()
            });
            seo::titles(&l, &what(&l, &content))
        })
        .collect();
    let keys: Vec<&str> = chosen.iter().map(|l| l.dedup_key.as_str()).collect();
    let titles = seo::unique_titles(&candidates, &keys);

    let manifest_path = config.build_dir().join("pages.json");
    let old: BTreeMap<String, String> = std::fs::read(&manifest_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    shared
        .images
        .prefetch(&chosen, config.enrichment.website.concurrency);
    progress.start("rendering pages", chosen.len() as u64);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let results: Vec<Rendered> = chosen
        .par_iter()
        .zip(titles.par_iter())
        .filter_map(|(lead, title)| {
            let r = render_lead(&shared, lead, title, old.get(&lead.dedup_key));
            progress.advance();
            match r {
                Ok(v) => Some(v),
                Err(e) => {
                    first_error.lock().unwrap().get_or_insert(e);
                    None
                }
            }
        })
        .collect();
    progress.finish();
    if let Some(e) = first_error.into_inner().unwrap() {
        return Err(e);
    }

    let mut manifest = BTreeMap::new();
    for Rendered {
        key,
        theme,
        digest,
        outcome,
        warnings,
    } in results
    {
        report.warnings.extend(warnings);
        let stats = report.themes.entry(theme).or_default();
        stats.pages += 1;
        match outcome {
            Some(WriteOutcome::Unchanged) | None => {
                stats.unchanged += 1;
                report.unchanged += 1;
            }
            Some(_) => {
                stats.written += 1;
                report.written += 1;
            }
        }
        report.pages.insert(
            key.clone(),
            PageRef {
                url: format!("{base}{key}/"),
                path: format!("{}/{key}/index.html", config.paths.site.display()),
            },
        );
        manifest.insert(key, digest);
    }
    for (key, digest) in &old {
        if !manifest.contains_key(key)
            && inputs.unreadable.contains(key)
            && site_dir.join(key).join("index.html").is_file()
        {
            manifest.insert(key.clone(), digest.clone());
            report.warnings.push(format!(
                "{key}: its lead file cannot be read, so its last page is kept as it was"
            ));
        }
    }
    write_redirects(&shared, &chosen, &old, &manifest, &mut report)?;
    shared.images.sweep();
    report.images = shared.images.stats();

    write_site_files(&shared, &chosen, &mut report)?;
    let build = config.build_dir();
    fsutil::write_if_changed(&manifest_path, &json_bytes(&manifest))?;
    fsutil::write_if_changed(
        &build.join("landing_pages.json"),
        &json_bytes(&report.pages),
    )?;
    fsutil::write_if_changed(&build.join("landing_stats.json"), &json_bytes(&report))?;
    Ok(report)
}

/// Where files of the site are written before they are renamed into `site/`: `<work>/tmp/`, so
/// that a killed build leaves no temp file in the folder that is uploaded as it is.
pub fn staging_dir(config: &Config) -> PathBuf {
    config.work_dir().join("tmp")
}

/// Nothing is written through a symbolic link: `site/` itself may not be one, and links inside it
/// (which a build never makes) are removed — the links, never what they point at.
fn unlink_site(site: &Path) -> Result<()> {
    if std::fs::symlink_metadata(site).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::from(InputError::new(
            Location::file(site),
            "is a symbolic link: the build does not write through it (set paths.site to the folder itself)",
        )));
    }
    if site.is_dir() {
        for e in walkdir::WalkDir::new(site)
            .max_depth(4)
            .into_iter()
            .flatten()
        {
            if e.path_is_symlink() {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// The running binary's size and modification time: a rebuilt leadsite may render differently,
/// so its pages are made again.
fn binary_id() -> String {
    std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| format!("{}:{:?}", m.len(), m.modified().ok()))
        .unwrap_or_default()
}

fn json_bytes<T: Serialize>(v: &T) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
    b.push(b'\n');
    b
}

/// Why a lead gets no page, if it does not.
fn skip_reason(lead: &Lead, reserved: &HashSet<String>) -> Option<String> {
    if lead.route != Some(Route::Target) {
        return Some(format!(
            "route {}",
            lead.route.map_or("none", |r| r.as_str())
        ));
    }
    let Some(q) = lead.quality.as_deref() else {
        return Some("not scored".into());
    };
    if q.qualified != Some(true) {
        return Some("not qualified".into());
    }
    if !is_valid_key(&lead.dedup_key) {
        return Some("dedup_key is not a safe page name ([a-z0-9-])".into());
    }
    if reserved.contains(&lead.dedup_key) {
        return Some("dedup_key is the name of a site page".into());
    }
    None
}

/// What the business is, in a title: its category as the source said it, else its industry.
fn what(lead: &Lead, content: &Content) -> String {
    lead.category
        .clone()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| content.industry(industry_of(lead)).key.replace('-', " "))
}

fn industry_of(lead: &Lead) -> Option<&str> {
    lead.enrichment.as_deref()?.industry_category.as_deref()
}

/// Whether [`presentable`] would change anything (most leads come through ingest clean).
fn needs_cleaning(l: &Lead) -> bool {
    use crate::lead::value::is_plus_code;
    use crate::text::{is_clean_lines, is_clean_text};
    let text = |s: &str| !is_clean_text(s);
    let lines = |s: &Option<String>| {
        s.as_deref()
            .is_some_and(|s| !is_clean_lines(s) || s.len() > MAX_DESCRIPTION)
    };
    text(&l.name)
        || l.category.as_deref().is_some_and(text)
        || l.timezone.as_deref().is_some_and(text)
        || lines(&l.description)
        || lines(&l.about)
        || l.enrichment
            .as_deref()
            .is_some_and(|e| lines(&e.description))
        || l.address.as_ref().is_some_and(|a| {
            [&a.street, &a.city, &a.region, &a.postal_code, &a.country]
                .iter()
                .any(|f| f.as_deref().is_some_and(|s| s.is_empty() || text(s)))
                || a.street.as_deref().is_some_and(is_plus_code)
        })
}

/// The lead as a page may show it: lead files are written by hand too, so what ingest's normalize
/// does is done again here: no control or bidi characters, no Plus Code as the street.
fn presentable(lead: &Lead) -> Lead {
    use crate::lead::value::is_plus_code;
    use crate::text::{clean_lines, clean_text, cut};
    let mut l = lead.clone();
    l.name = clean_text(&l.name);
    for f in [&mut l.category, &mut l.timezone] {
        *f = f.as_deref().map(clean_text).filter(|s| !s.is_empty());
    }
    for f in [&mut l.description, &mut l.about] {
        *f = f
            .as_deref()
            .map(clean_lines)
            .filter(|s| !s.trim().is_empty());
    }
    // A description is a sentence or two (it goes into meta tags and JSON-LD): a long one, from
    // a lead file or a data file, is cut, never copied whole into every page.
    let short = |d: String| {
        if d.len() <= MAX_DESCRIPTION {
            return d;
        }
        let c = cut(&d, MAX_DESCRIPTION);
        let c = c.rfind(char::is_whitespace).map_or(c, |i| &c[..i]);
        format!("{}…", c.trim_end())
    };
    l.description = l.description.map(short);
    if let Some(a) = l.address.as_mut() {
        for f in [
            &mut a.street,
            &mut a.city,
            &mut a.region,
            &mut a.postal_code,
            &mut a.country,
        ] {
            *f = f.as_deref().map(clean_text).filter(|s| !s.is_empty());
        }
        if a.street.as_deref().is_some_and(is_plus_code) {
            a.street = None;
        }
    }
    if let Some(e) = l.enrichment.as_mut() {
        e.description = e.description.as_deref().map(clean_lines).map(short);
    }
    l
}

/// A path from the site's root (`/img/x.jpg`) as an absolute URL.
fn absolute(site: &SiteCtx, path: &str) -> String {
    format!(
        "{}{}",
        site.base_url,
        path.strip_prefix(site.root.as_str()).unwrap_or(path)
    )
}

/// OpenGraph's `og:locale`: `language_TERRITORY` (`en_US`, `el_CY`); a language without a region
/// gets the region it is most spoken in.
fn og_locale(language: &str) -> String {
    let tag = language.replace('_', "-");
    let mut parts = tag.split('-');
    let lang = parts.next().unwrap_or("en").to_ascii_lowercase();
    let region = parts
        .find(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_alphabetic()))
        .map(str::to_ascii_uppercase)
        .unwrap_or_else(|| {
            match lang.as_str() {
                "en" => "US",
                "el" => "GR",
                "ca" | "eu" | "gl" => "ES",
                "vi" => "VN",
                "sr" => "RS",
                "sl" => "SI",
                "et" => "EE",
                "fa" => "IR",
                "ur" => "PK",
                "ms" => "MY",
                "sq" => "AL",
                "bs" => "BA",
                "ga" => "IE",
                "cy" => "GB",
                "ka" => "GE",
                "hy" => "AM",
                "kk" => "KZ",
                "be" => "BY",
                "lb" => "LU",
                "sw" => "KE",
                "bn" => "BD",
                "ta" | "te" | "mr" | "gu" | "kn" | "ml" | "pa" => "IN",
                "fil" | "tl" => "PH",
                "da" => "DK",
                "sv" => "SE",
                "cs" => "CZ",
                "ja" => "JP",
                "zh" => "CN",
                "ko" => "KR",
                "uk" => "UA",
                "he" => "IL",
                "ar" => "SA",
                "hi" => "IN",
                "nb" | "nn" | "no" => "NO",
                other => return other.to_ascii_uppercase(),
            }
            .to_string()
        });
    format!("{lang}_{region}")
}

/// Whether people read the time as "8 AM" where the site's language is spoken.
fn clock12(language: &str) -> bool {
    matches!(
        language::Lang::of(language).tag.as_str(),
        "en" | "en-us" | "en-ca" | "en-au" | "en-nz" | "en-ph" | "en-in" | "es-us" | "es-mx"
    )
}

/// One lead's page: where it is, what was done, and what of its data could not be shown.
struct Rendered {
    key: String,
    theme: String,
    digest: String,
    /// None: not rendered, its inputs are as last time.
    outcome: Option<WriteOutcome>,
    warnings: Vec<String>,
}

/// Renders one lead's page when its inputs changed.
fn render_lead(
    s: &Shared,
    lead: &Lead,
    title: &str,
    old_digest: Option<&String>,
) -> Result<Rendered> {
    let industry_key = industry_of(lead);
    let theme = s
        .themes
        .for_industry(industry_key, &s.config.site.themes)
        .to_string();
    // Read every build, rendered or not, so that the warnings stay until the data is fixed.
    let t = &s.strings[&theme];
    let facts = Facts::of(
        lead,
        &facts::Locale {
            strings: t,
            clock12: s.clock12,
        },
    );
    let (imgs, img_warnings) = s.images.for_lead(lead);
    let mut warnings: Vec<String> = facts
        .warnings
        .iter()
        .chain(&img_warnings)
        .map(|w| format!("{}: {w}", lead.label()))
        .collect();
    let about_len = lead.about.as_deref().map_or(0, str::len);
    if about_len > MAX_ABOUT {
        warnings.push(format!(
            "{}: about is {} KB; only its first {} KB are on the page",
            lead.label(),
            about_len / 1024,
            MAX_ABOUT / 1024
        ));
    }
    let lead_json = serde_json::to_string(lead).unwrap_or_default();
    let digest = fingerprint(
        format!(
            "{}|{}|{title}|{}|{}|{lead_json}",
            s.digest,
            theme,
            s.themes.digest(&theme),
            serde_json::to_string(&imgs).unwrap_or_default()
        )
        .as_bytes(),
    );
    let path = s.site_dir.join(&lead.dedup_key).join("index.html");
    if old_digest == Some(&digest) && path.is_file() {
        return Ok(Rendered {
            key: lead.dedup_key.clone(),
            theme,
            digest,
            outcome: None,
            warnings,
        });
    }
    let cleaned;
    let lead = if needs_cleaning(lead) {
        cleaned = presentable(lead);
        &cleaned
    } else {
        lead
    };
    let industry = s
        .content
        .industry_in(industry_key, &s.config.site.language)
        .for_lead(&facts);
    let mut facts = facts;
    let shown: Vec<&str> = industry
        .services
        .iter()
        .filter_map(|b| b.when.as_deref())
        .chain(industry.faq.iter().filter_map(|q| q.when.as_deref()))
        .collect();
    facts.hide(&shown);
    let mut business = business(lead, &industry);
    if let Some(l) = &imgs.logo {
        business.logo = Some(absolute(&s.site, &l.largest));
    }
    business.image = imgs.hero.as_ref().map(|h| absolute(&s.site, &h.largest));
    let canonical = format!("{}{}/", s.site.base_url, lead.dedup_key);
    let seo = Seo {
        title: title.to_string(),
        description: seo::description(lead, &industry.tagline, &what(lead, s.content)),
        canonical: canonical.clone(),
        og_type: "business.business",
        locale: og_locale(&s.site.language),
        image: imgs
            .hero
            .as_ref()
            .or(imgs.logo.as_ref())
            .map(|i| absolute(&s.site, &i.largest)),
        large_image: imgs.hero.is_some(),
        json_ld: Some(seo::json_ld(lead, &business, &facts, &canonical)),
        noindex: false,
        alternates: alternates(&s.languages, &format!("{}/", lead.dedup_key)),
    };
    let about_html = match lead.about.as_deref().filter(|a| !a.trim().is_empty()) {
        Some(md) => content::markdown(crate::text::cut(md, MAX_ABOUT), false),
        None => industry.body_html.clone(),
    };
    let cta_base = s
        .config
        .site
        .cta_url
        .clone()
        .unwrap_or_else(|| s.site.base_url.clone());
    let cta = Cta {
        url: seo::cta_url(&cta_base, &lead.dedup_key, &industry.key),
        // The default words are the theme's, in the site's language; the config's own stay.
        text: s
            .config
            .site
            .cta_text
            .clone()
            .unwrap_or_else(|| theme::text(t, "claim_cta", "Claim this page")),
    };
    // What every page of the theme shares was made into a context once.
    let mut ctx = s.contexts[&theme].clone();
    ctx.insert("seo", &seo);
    ctx.insert("business", &business);
    ctx.insert("industry", &industry);
    ctx.insert("facts", &facts);
    ctx.insert("images", &imgs);
    ctx.insert("lead", lead);
    ctx.insert("about_html", &about_html);
    ctx.insert("cta", &cta);
    ctx.insert("page_url", &format!("{}{}/", s.site.root, lead.dedup_key));
    let html = render(s, &theme, "landing.html", &ctx, Some(lead.label()))?;
    let outcome = fsutil::write_if_changed_via(&path, html.as_bytes(), Some(&s.staging))?;
    Ok(Rendered {
        key: lead.dedup_key.clone(),
        theme,
        digest,
        outcome: Some(outcome),
        warnings,
    })
}

fn stylesheets(s: &Shared, theme: &str) -> Vec<String> {
    let mut chain = s.themes.chain(theme);
    chain.reverse();
    chain
        .iter()
        .flat_map(|t| s.assets.get(&t.key).cloned().unwrap_or_default())
        .collect()
}

fn render(
    s: &Shared,
    theme: &str,
    kind: &str,
    ctx: &tera::Context,
    lead: Option<&str>,
) -> Result<String> {
    let name = s.themes.template(theme, kind).ok_or_else(|| {
        Error::from(InputError::new(
            Location::file(s.themes.themes[theme].origin.join("templates")),
            format!("theme {theme} (and the themes it extends) has no {kind}"),
        ))
    })?;
    s.themes
        .tera
        .render(&name, ctx)
        .map_err(|e| Error::from(theme::template_error(&s.themes.themes, &e, lead)))
}

fn business(lead: &Lead, industry: &content::Industry) -> Business {
    let schema_type = schema_type(industry_of(lead));
    let e = lead.enrichment.as_deref();
    let phone = lead
        .phone
        .clone()
        .or_else(|| e.and_then(|e| e.phone.clone()))
        .filter(|p| p.starts_with('+') && p[1..].chars().all(|c| c.is_ascii_digit()));
    let phone_display = phone.as_deref().map(national_format);
    let email = lead.contact_email().and_then(canonical_email);
    let website = lead.website.as_deref().and_then(canonical_url);
    let website_label = website.as_deref().and_then(|w| {
        url::Url::parse(w)
            .ok()?
            .host_str()
            .map(|h| h.trim_start_matches("www.").to_string())
    });
    let http = |u: &str| canonical_url(u).filter(|c| c.starts_with("http"));
    let mut social: Vec<Social> = e
        .map(|e| {
            e.other_ids
                .iter()
                .filter_map(|(k, v)| {
                    let key = k.as_str()?;
                    let url = http(v.as_str()?)?;
                    let label = match key {
                        "x" => "X".to_string(),
                        "linkedin" => "LinkedIn".to_string(),
                        "youtube" => "YouTube".to_string(),
                        "tiktok" => "TikTok".to_string(),
                        other => {
                            let mut c = other.chars();
                            c.next()
                                .map(|f| f.to_uppercase().chain(c).collect())
                                .unwrap_or_default()
                        }
                    };
                    Some(Social { label, url })
                })
                .collect()
        })
        .unwrap_or_default();
    social.sort_by(|a, b| a.label.cmp(&b.label));
    let mut address_lines = Vec::new();
    if let Some(a) = &lead.address {
        if let Some(st) = a.street.as_deref().filter(|s| !s.is_empty()) {
            address_lines.push(st.to_string());
        }
        let region_zip = [a.region.as_deref(), a.postal_code.as_deref()]
            .iter()
            .flatten()
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let line = [a.city.as_deref(), Some(region_zip.as_str())]
            .iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if !line.is_empty() {
            address_lines.push(line);
        }
    }
    let map_url = lead.location.as_ref().map(|l| {
        format!(
            "https://www.openstreetmap.org/?mlat={:.5}&mlon={:.5}#map=17/{:.5}/{:.5}",
            l.lat, l.lng, l.lat, l.lng
        )
    });
    Business {
        name: lead.name.trim().to_string(),
        tagline: industry.tagline.clone(),
        category: lead.category.clone().unwrap_or_default(),
        city: lead.city().map(String::from),
        phone_href: phone.as_ref().map(|p| format!("tel:{p}")),
        phone,
        phone_display,
        email,
        website,
        website_label,
        logo: e.and_then(|e| e.logo_url.as_deref()).and_then(http),
        image: None,
        description: lead
            .description
            .clone()
            .or_else(|| e.and_then(|e| e.description.clone())),
        address_lines,
        map_url,
        rating: lead.rating,
        review_count: lead.review_count,
        social,
        schema_type: schema_type.to_string(),
    }
}

/// The schema.org type of an industry (the lead's own, not the copy it fell back to).
pub fn schema_type(industry: Option<&str>) -> &'static str {
    match industry.unwrap_or("") {
        "auto-repair" => "AutoRepair",
        "real-estate" => "RealEstateAgent",
        "restaurant" => "Restaurant",
        "plumbing" => "Plumber",
        "hvac" => "HVACBusiness",
        "electrician" => "Electrician",
        "roofing" => "RoofingContractor",
        "beauty" => "BeautySalon",
        "hair-salon" => "HairSalon",
        "dentist" => "Dentist",
        "medical" => "MedicalBusiness",
        "veterinary" => "VeterinaryCare",
        "bakery" => "Bakery",
        "cafe" => "CafeOrCoffeeShop",
        "fitness" => "ExerciseGym",
        "legal" => "LegalService",
        "accounting" => "AccountingService",
        "construction" => "GeneralContractor",
        "florist" => "Florist",
        "retail" => "Store",
        _ => "LocalBusiness",
    }
}

/// How people write a number at home: `(217) 555-0134` for North America (formatted directly:
/// parsing is the dearest part of a page), the library's national format elsewhere.
fn national_format(e164: &str) -> String {
    if let Some(d) = e164.strip_prefix("+1").filter(|d| d.len() == 10) {
        return format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..]);
    }
    phonenumber::parse(None, e164)
        .map(|n| n.format().mode(phonenumber::Mode::National).to_string())
        .unwrap_or_else(|_| e164.to_string())
}

/// Copies every theme's `static/` files to `site/assets/<theme>/NAME.HASH.EXT`; returns each
/// theme's stylesheet URLs, and removes asset files no theme has any more.
fn write_assets(
    themes: &Themes,
    site_dir: &Path,
    staging: &Path,
    root: &str,
    report: &mut Report,
) -> Result<BTreeMap<String, Vec<String>>> {
    let mut css = BTreeMap::new();
    let mut keep = HashSet::new();
    for t in themes.themes.values() {
        let mut urls = Vec::new();
        for (rel, bytes) in &t.statics {
            let stem = rel.file_stem().and_then(|s| s.to_str()).unwrap_or("asset");
            let ext = rel.extension().and_then(|s| s.to_str()).unwrap_or("");
            let hash = &fingerprint(bytes)[..10];
            let name = if ext.is_empty() {
                format!("{stem}.{hash}")
            } else {
                format!("{stem}.{hash}.{ext}")
            };
            let sub = rel.parent().unwrap_or(Path::new(""));
            let out_rel = Path::new("assets").join(&t.key).join(sub).join(&name);
            let out = site_dir.join(&out_rel);
            if fsutil::write_if_changed_via(&out, bytes, Some(staging))? != WriteOutcome::Unchanged
            {
                report.other_written += 1;
            }
            keep.insert(out);
            if ext == "css" {
                urls.push(format!(
                    "{root}{}",
                    out_rel.to_string_lossy().replace('\\', "/")
                ));
            }
        }
        css.insert(t.key.clone(), urls);
    }
    let assets = site_dir.join("assets");
    if assets.is_dir() {
        for entry in walkdir::WalkDir::new(&assets)
            .contents_first(true)
            .into_iter()
            .flatten()
        {
            let p = entry.path();
            if entry.file_type().is_file() && !keep.contains(p) {
                let _ = std::fs::remove_file(p);
            } else if entry.file_type().is_dir() {
                let _ = std::fs::remove_dir(p);
            }
        }
    }
    Ok(css)
}

/// A lead that leaves (re-routed, merged, renamed) leaves a redirect at its old URL, since emails
/// already sent link to it: a small page with a canonical link and a meta refresh (like Hugo's
/// aliases) to the page of the lead that lists the old key in its `aliases`, else to the index.
/// Redirects are kept build after build (`.leadsite/build/redirects.json`) until a page takes
/// the key again.
fn write_redirects(
    s: &Shared,
    chosen: &[&Lead],
    old: &BTreeMap<String, String>,
    pages: &BTreeMap<String, String>,
    report: &mut Report,
) -> Result<()> {
    let path = s.config.build_dir().join("redirects.json");
    let mut redirects: BTreeMap<String, String> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut alias_of: BTreeMap<String, String> = BTreeMap::new();
    for l in chosen {
        for a in aliases(l) {
            match alias_of.get(&a) {
                Some(first) => report.warnings.push(format!(
                    "{}: alias {a} is claimed by {first} too; its old URL leads to {first}",
                    l.dedup_key
                )),
                None => {
                    alias_of.insert(a, l.dedup_key.clone());
                }
            }
        }
    }
    for key in old.keys().filter(|k| !pages.contains_key(*k)) {
        redirects.insert(key.clone(), String::new());
        report.removed += 1;
    }
    for a in alias_of.keys() {
        redirects.entry(a.clone()).or_default();
    }
    // A key that has a page again is no redirect; every target is a page of this build.
    redirects.retain(|k, _| {
        !pages.contains_key(k)
            && is_valid_key(k)
            && k != "assets"
            && !listing::RESERVED.contains(&k.as_str())
            && !s.content.pages.iter().any(|p| p.name == *k)
    });
    for (key, target) in redirects.iter_mut() {
        *target = alias_of
            .get(key)
            .filter(|t| pages.contains_key(*t))
            .map(|t| format!("{t}/"))
            .unwrap_or_default();
    }
    for (key, target) in &redirects {
        let to = format!("{}{target}", s.site.base_url);
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{moved_title}</title>\n<link rel=\"canonical\" href=\"{to}\">\n<meta name=\"robots\" content=\"noindex\">\n<meta http-equiv=\"refresh\" content=\"0; url={to}\">\n</head>\n<body>\n<p>{moved} <a href=\"{to}\">{to}</a></p>\n</body>\n</html>\n",
            lang = xml_escape(&s.site.language),
            moved_title = xml_escape(&theme::text(&s.strings["default"], "moved_title", "Moved")),
            moved = xml_escape(&theme::text(
                &s.strings["default"],
                "moved",
                "This page has moved:"
            )),
            to = xml_escape(&to),
        );
        if fsutil::write_if_changed_via(
            &s.site_dir.join(key).join("index.html"),
            html.as_bytes(),
            Some(&s.staging),
        )? != WriteOutcome::Unchanged
        {
            report.other_written += 1;
        }
    }
    report.redirects = redirects.len();
    fsutil::write_if_changed(&path, &json_bytes(&redirects))?;
    Ok(())
}

/// The former dedup_keys a lead lists in `aliases` (a list, or one key).
fn aliases(lead: &Lead) -> Vec<String> {
    use serde_yaml_ng::Value;
    match lead.extra.get("aliases") {
        Some(Value::Sequence(s)) => s
            .iter()
            .filter_map(Value::as_str)
            .map(|a| a.trim().to_string())
            .filter(|a| is_valid_key(a) && *a != lead.dedup_key)
            .collect(),
        Some(Value::String(a)) if is_valid_key(a.trim()) && a.trim() != lead.dedup_key => {
            vec![a.trim().to_string()]
        }
        _ => Vec::new(),
    }
}

/// The index, hubs and their pages (listing.rs), the content pages, 404.html, robots.txt and the
/// sitemap; list pages no longer made are removed.
fn write_site_files(s: &Shared, chosen: &[&Lead], report: &mut Report) -> Result<()> {
    let root = &s.site.root;
    let base = &s.site.base_url;
    let mut write = |rel: &str, bytes: &[u8]| -> Result<()> {
        if fsutil::write_if_changed_via(&s.site_dir.join(rel), bytes, Some(&s.staging))?
            != WriteOutcome::Unchanged
        {
            report.other_written += 1;
        }
        Ok(())
    };
    let page_ctx = |title: &str, description: &str, canonical: String, noindex: bool| {
        let mut ctx = tera::Context::new();
        ctx.insert("site", &s.site);
        ctx.insert("pages", &s.pages);
        ctx.insert("stylesheets", &stylesheets(s, "default"));
        ctx.insert("t", &s.strings["default"]);
        ctx.insert(
            "seo",
            &Seo {
                title: seo::truncate(title, seo::TITLE_MAX),
                description: seo::truncate(description, seo::DESCRIPTION_MAX),
                og_type: "website",
                locale: og_locale(&s.site.language),
                image: None,
                large_image: false,
                json_ld: None,
                alternates: if noindex {
                    Vec::new()
                } else {
                    alternates(
                        &s.languages,
                        canonical.strip_prefix(base.as_str()).unwrap_or(""),
                    )
                },
                canonical,
                noindex,
            },
        );
        ctx
    };

    let strings = &s.strings["default"];
    let t = |k: &str, fallback: &str| theme::text(strings, k, fallback);
    let listed: Vec<listing::Listed> = chosen
        .iter()
        .map(|l| {
            let key = industry_of(l).unwrap_or("other").to_string();
            let mut title = if key == "other" {
                t("other_businesses", "Other businesses")
            } else {
                key.replace('-', " ")
            };
            if let Some(f) = title.get(..1) {
                title = f.to_uppercase() + &title[1..];
            }
            listing::Listed {
                lead: l,
                industry: (key, title),
            }
        })
        .collect();
    let lists = listing::pages(
        &listed,
        root,
        s.config.site.per_page,
        &s.site.title,
        strings,
    );
    let mut list_files: Vec<String> = Vec::new();
    for list in &lists {
        let title = if list.is_root {
            s.site.title.clone()
        } else {
            format!("{} | {}", list.heading, s.site.title)
        };
        let canonical = format!(
            "{base}{}",
            list.path.strip_prefix(root.as_str()).unwrap_or("")
        );
        let mut ctx = page_ctx(
            &title,
            &format!("{} {}", list.heading, list.intro),
            canonical,
            false,
        );
        ctx.insert("list", list);
        let template = if list.is_root {
            "index.html"
        } else {
            "list.html"
        };
        write(
            &list.rel,
            render(s, "default", template, &ctx, None)?.as_bytes(),
        )?;
        list_files.push(list.rel.clone());
    }
    let lists_manifest = s.config.build_dir().join("lists.json");
    let old_lists: Vec<String> = std::fs::read(&lists_manifest)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    for rel in old_lists.iter().filter(|r| !list_files.contains(r)) {
        // Only what this generator wrote: list pages under the reserved folders.
        let first = rel.split('/').next().unwrap_or("");
        if listing::RESERVED.contains(&first) && !rel.contains("..") {
            let path = s.site_dir.join(rel);
            if std::fs::remove_file(&path).is_ok() {
                let mut dir = path.parent();
                while let Some(d) = dir.filter(|d| *d != s.site_dir) {
                    if std::fs::remove_dir(d).is_err() {
                        break;
                    }
                    dir = d.parent();
                }
            }
        }
    }
    fsutil::write_if_changed(&lists_manifest, &json_bytes(&list_files))?;

    for p in &s.content.pages {
        let mut ctx = page_ctx(
            &format!("{} | {}", p.title, s.site.title),
            &format!("{} of {}.", p.title, s.site.title),
            format!("{base}{}/", p.name),
            false,
        );
        ctx.insert("page", p);
        write(
            &format!("{}/index.html", p.name),
            render(s, "default", "page.html", &ctx, None)?.as_bytes(),
        )?;
    }
    let ctx = page_ctx(
        &format!("{} | {}", t("not_found", "Page not found"), s.site.title),
        &t("not_found_text", "This page does not exist."),
        format!("{base}404.html"),
        true,
    );
    write(
        "404.html",
        render(s, "default", "404.html", &ctx, None)?.as_bytes(),
    )?;

    // The sitemap: every landing page with lastmod from its data, and the content pages.
    let mut urls: Vec<(String, Option<String>)> = lists
        .iter()
        .map(|l| {
            (
                format!("{base}{}", l.path.strip_prefix(root.as_str()).unwrap_or("")),
                None,
            )
        })
        .collect();
    urls.extend(
        chosen
            .iter()
            .map(|l| (format!("{base}{}/", l.dedup_key), lastmod(l))),
    );
    urls.extend(
        s.content
            .pages
            .iter()
            .map(|p| (format!("{base}{}/", p.name), None)),
    );
    let sitemap = |list: &[(String, Option<String>)]| {
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
        for (loc, lastmod) in list {
            x.push_str(&format!("  <url><loc>{}</loc>", xml_escape(loc)));
            if let Some(d) = lastmod {
                x.push_str(&format!("<lastmod>{d}</lastmod>"));
            }
            x.push_str("</url>\n");
        }
        x.push_str("</urlset>\n");
        x
    };
    if urls.len() <= SITEMAP_MAX {
        write("sitemap.xml", sitemap(&urls).as_bytes())?;
    } else {
        let mut index = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
        for (i, chunk) in urls.chunks(SITEMAP_MAX).enumerate() {
            let name = format!("sitemap-{}.xml", i + 1);
            write(&name, sitemap(chunk).as_bytes())?;
            index.push_str(&format!(
                "  <sitemap><loc>{}</loc></sitemap>\n",
                xml_escape(&format!("{base}{name}"))
            ));
        }
        index.push_str("</sitemapindex>\n");
        write("sitemap.xml", index.as_bytes())?;
    }
    write(
        "robots.txt",
        format!("User-agent: *\nAllow: /\n\nSitemap: {base}sitemap.xml\n").as_bytes(),
    )?;
    Ok(())
}

/// The date a lead's data last changed, as the data says (never the clock).
fn lastmod(lead: &Lead) -> Option<String> {
    let fetched = lead.source.as_ref().and_then(|s| s.fetched_at);
    let enriched = lead.enrichment.as_deref().and_then(|e| e.enriched_at);
    fetched
        .into_iter()
        .chain(enriched)
        .max()
        .map(|t| t.format("%Y-%m-%d").to_string())
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn og_locale_is_language_and_territory() {
        assert_eq!(og_locale("en"), "en_US");
        assert_eq!(og_locale("el-CY"), "el_CY");
        assert_eq!(og_locale("el"), "el_GR");
        assert_eq!(og_locale("de"), "de_DE");
        assert_eq!(og_locale("en_gb"), "en_GB");
    }

    #[test]
    fn numbers_are_shown_as_written_at_home() {
        assert_eq!(national_format("+12175550134"), "(217) 555-0134");
        assert_eq!(national_format("+442079460018"), "020 7946 0018");
    }
}
