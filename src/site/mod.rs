//! LandingPageGenerator: scored TARGET leads that qualify → one landing
//! page each under `site/<dedup_key>/index.html`, from the lead's industry theme and content,
//! plus `index.html`, `sitemap.xml`, `robots.txt`, `404.html`, the content pages and the themes'
//! fingerprinted assets. `landing_pages` and `landing_stats` go to `.leadsite/build/`.
//!
//! Pages are rendered in parallel and written one by one (never the whole site in memory). A page
//! is rendered again only when a digest of its inputs (the lead, its title, theme, content and
//! site settings) differs from the last build's (`.leadsite/build/pages.json`); a page whose
//! bytes did not change is not rewritten, and pages of leads that left are removed.

pub mod content;
pub(crate) mod embedded;
pub(crate) mod facts;
pub mod hours;
pub(crate) mod images;
pub(crate) mod language;
pub(crate) mod listing;
mod macros;
mod output;
mod page;
pub(crate) mod placeholders;
pub(crate) mod seo;
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
pub use output::staging_dir;
use output::*;
use page::*;
pub use page::{schema_type, Business, Social};
use theme::Themes;

/// "{what} in {city}" in English, for titles and descriptions (the themes' `in_city` string).
pub(crate) const IN_CITY: &str = "{what} in {city}";

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
    /// How long each part took (shown by `build -v`).
    #[serde(skip)]
    pub timings: Vec<(&'static str, std::time::Duration)>,
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
    /// The site is in English (see `facts::Locale::english`).
    english: bool,
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
    unlink_site_top(&config.site_dir())?;
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
    if let Some(page) = fsutil::read_if_exists(&first)? {
        write("404.html", String::from_utf8_lossy(&page).into_owned())?;
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
    let mut clock = std::time::Instant::now();
    let mut lap = |report: &mut Report, name: &'static str| {
        report.timings.push((name, clock.elapsed()));
        clock = std::time::Instant::now();
    };
    let mut report = Report::default();
    let (themes, content) = load_design(config)?;
    lap(&mut report, "themes and content");
    let site_dir = config.site_dir();
    unlink_site(&site_dir)?;
    fsutil::create_dir_all(&site_dir)?;
    lap(&mut report, "tidy site/");
    let images = images::Images::new(config, &site_root(config), inputs.offline);
    let shared = Shared::new(config, &themes, &content, &images, inputs, &mut report)?;
    lap(&mut report, "assets");

    let chosen = choose(leads, &content, &mut report);
    report.warnings = site_warnings(config, &themes, &content, &chosen);
    let titles = page_titles(config, &themes, &content, &chosen);
    lap(&mut report, "choose, warnings, titles");

    let manifest_path = config.build_dir().join("pages.json");
    // Marks a build that is writing pages. Found at the start, it says the last build stopped
    // (killed) between its first page and its manifest: pages on disk may then come from inputs
    // the manifest does not record (an edit undone after the kill), so every page is made again
    // (unchanged bytes are still not rewritten).
    let redirects = read_redirects(config)?;
    let building = config.build_dir().join("pages.building");
    let old: BTreeMap<String, String> = if building.exists() {
        BTreeMap::new()
    } else {
        // A manifest lost or spoiled: every page is made again.
        fsutil::read_cache(&manifest_path)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    };
    fsutil::write_atomic(&building, b"", true)?;
    shared
        .images
        .prefetch(&chosen, config.enrichment.website.concurrency);
    let results = render_all(&shared, &chosen, &titles, &old, progress)?;
    lap(&mut report, "pages");
    let mut manifest = record(&shared, results, &mut report);
    // A page whose lead file cannot be read now stays as it was (not removed as a lead gone).
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
    write_redirects(&shared, &chosen, &old, &manifest, redirects, &mut report)?;
    shared.images.sweep()?;
    report.images = shared.images.stats();
    lap(&mut report, "redirects, images");

    write_site_files(&shared, &chosen, &mut report)?;
    lap(&mut report, "lists, sitemap");
    let build = config.build_dir();
    fsutil::write_if_changed(&manifest_path, &json_bytes(&manifest))?;
    fsutil::write_if_changed(
        &build.join("landing_pages.json"),
        &json_bytes(&report.pages),
    )?;
    fsutil::write_if_changed(&build.join("landing_stats.json"), &json_bytes(&report))?;
    fsutil::remove_file(&building)?;
    lap(&mut report, "manifests");
    Ok(report)
}

/// The themes and the content, each theme the config names checked to exist.
fn load_design(config: &Config) -> Result<(Themes, Content)> {
    let themes = Themes::load(&config.resolve(&config.paths.themes)).map_err(Error::Config)?;
    let mut content =
        Content::load(&config.resolve(&config.paths.content)).map_err(Error::Config)?;
    content.keep_pages_in(&config.site.language);
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
    Ok((themes, content))
}

/// The path of the site's root on its host (`/` or `/sub/` of the base URL).
fn site_root(config: &Config) -> String {
    url::Url::parse(&config.base_url())
        .map(|u| u.path().to_string())
        .unwrap_or_else(|_| "/".into())
}

impl<'a> Shared<'a> {
    /// What every page of the build shares; writes the themes' assets (they are part of it:
    /// pages link their fingerprinted names).
    fn new(
        config: &'a Config,
        themes: &'a Themes,
        content: &'a Content,
        images: &'a images::Images,
        inputs: &Inputs,
        report: &mut Report,
    ) -> Result<Shared<'a>> {
        let root = site_root(config);
        let site = SiteCtx {
            title: config.site.title.clone(),
            base_url: config.base_url(),
            language: config.site.language.clone(),
            root: root.clone(),
        };
        let site_dir = config.site_dir();
        let assets = write_assets(themes, &site_dir, &staging_dir(config), &root, report)?;
        let pages: Vec<PageLink> = content
            .pages
            .iter()
            .map(|p| PageLink {
                url: format!("{root}{}/", p.name),
                title: p.title.clone(),
            })
            .collect();
        // What, besides its lead, every page's bytes depend on.
        let digest = fingerprint(
            format!(
                "{}|{}|{}|{:?}|{:?}|{:?}|{:?}|{}",
                env!("CARGO_PKG_VERSION"),
                fsutil::binary_id(),
                content.fingerprint,
                serde_json::to_string(&site).unwrap_or_default(),
                config.site.cta_url,
                config.site.cta_text,
                serde_json::to_string(&assets).unwrap_or_default(),
                serde_json::to_string(&pages).unwrap_or_default(),
            )
            .as_bytes(),
        );
        let mut shared = Shared {
            contexts: BTreeMap::new(),
            languages: inputs.languages.clone(),
            images,
            config,
            themes,
            content,
            site,
            pages,
            assets,
            site_dir,
            staging: staging_dir(config),
            digest,
            clock12: clock12(&config.site.language),
            english: language::Lang::of(&config.site.language).is_english(),
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
        Ok(shared)
    }
}

/// The leads that get a page, by key; each other one is counted in the report with why not.
fn choose<'l>(leads: &'l [Lead], content: &Content, report: &mut Report) -> Vec<&'l Lead> {
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
    chosen
}

/// What the site still lacks: placeholders, example text, copy in English or the default one.
fn site_warnings(
    config: &Config,
    themes: &Themes,
    content: &Content,
    chosen: &[&Lead],
) -> Vec<String> {
    let mut warnings = placeholders::placeholders(config, content, chosen.iter().copied());
    warnings.extend(placeholders::english_copy(
        config,
        content,
        chosen.iter().map(|l| industry_of(l)),
    ));
    if !themes.strings("default", &config.site.language).1 {
        warnings.push(format!(
            "site.language {}: the themes have no UI strings in it, so pages show English ones; add themes/default/i18n/{}.yaml",
            config.site.language,
            config.site.language.to_ascii_lowercase()
        ));
    }
    warnings.extend(placeholders::default_copy(
        content,
        chosen
            .iter()
            .filter_map(|l| Some((industry_of(l)?, l.label()))),
    ));
    warnings
}

/// Each chosen lead's page title, unique across the site.
fn page_titles(
    config: &Config,
    themes: &Themes,
    content: &Content,
    chosen: &[&Lead],
) -> Vec<String> {
    let in_city = theme::text(
        &themes.strings("default", &config.site.language).0,
        "in_city",
        IN_CITY,
    );
    let candidates: Vec<Vec<String>> = chosen
        .par_iter()
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
            seo::titles(&l, &what(&l, content), &in_city)
        })
        .collect();
    let keys: Vec<&str> = chosen.iter().map(|l| l.dedup_key.as_str()).collect();
    seo::unique_titles(&candidates, &keys)
}

/// Renders (or finds unchanged) every chosen lead's page in parallel; the first error stops
/// the build.
fn render_all(
    shared: &Shared,
    chosen: &[&Lead],
    titles: &[String],
    old: &BTreeMap<String, String>,
    progress: &dyn Progress,
) -> Result<Vec<Rendered>> {
    progress.start("rendering pages", chosen.len() as u64);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let results: Vec<Rendered> = chosen
        .par_iter()
        .zip(titles.par_iter())
        // Each worker keeps its own copy of each theme's shared context, page after page.
        .map_init(BTreeMap::new, |contexts, (lead, title)| {
            let r = render_lead(shared, lead, title, old.get(&lead.dedup_key), contexts);
            progress.advance();
            match r {
                Ok(v) => Some(v),
                Err(e) => {
                    first_error.lock().unwrap().get_or_insert(e);
                    None
                }
            }
        })
        .flatten()
        .collect();
    progress.finish();
    match first_error.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(results),
    }
}

/// The rendered pages into the report (counts per theme, each page's address); returns the
/// manifest (each page's input digest).
fn record(
    shared: &Shared,
    results: Vec<Rendered>,
    report: &mut Report,
) -> BTreeMap<String, String> {
    let base = &shared.site.base_url;
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
                path: format!("{}/{key}/index.html", shared.config.paths.site.display()),
            },
        );
        manifest.insert(key, digest);
    }
    manifest
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
