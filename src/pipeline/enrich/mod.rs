//! EnrichmentAggregator: routed_leads → enriched_leads. Runs the
//! providers — `files` (local data), `website` (the lead's own site, through the cache) and
//! `taxonomy` (category → industry) — and writes what they found into `enrichment.*`, with the
//! source of every value in `enrichment.sources`. It writes nothing else: its contract is
//! checked on every lead.

pub(crate) mod cache;
pub(crate) mod extract;
pub mod files;
pub(crate) mod public;
pub mod taxonomy;
pub mod website;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rayon::prelude::*;
use serde_yaml_ng::{Mapping, Value};

use super::contract::Contract;
use super::Record;
use crate::config::Config;
use crate::error::{Error, InputError, Result};
use crate::lead::value::{canonical_url, phone_e164};
use crate::lead::{Enrichment, Lead};
use cache::{Cache, Lookup};
use files::{FilesProvider, Row};
use taxonomy::Taxonomy;
use website::{Fetcher, SiteFindings};

pub const CONTRACT: Contract = Contract {
    stage: "EnrichmentAggregator",
    writes: &["enrichment"],
};

/// Reports progress of long work (the website fetches) to whoever shows it.
pub trait Progress: Sync {
    fn start(&self, what: &str, total: u64);
    fn advance(&self);
    fn finish(&self);
}

/// Shows nothing.
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self) {}
    fn finish(&self) {}
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Use only the cache, never the network.
    pub offline: bool,
    /// The time cache ages are measured against.
    pub now: DateTime<Utc>,
}

/// What the enrichment did, for the summary.
#[derive(Debug, Default)]
pub struct Stats {
    /// Leads the stage ran on (their route is one of `enrichment.routes`).
    pub leads: usize,
    pub sites_fetched: usize,
    pub sites_cached: usize,
    /// Cached results older than the TTL, used because of `--offline`.
    pub sites_stale: usize,
    /// Sites `--offline` had no cached result for.
    pub sites_missing: usize,
    /// Sites that could not be read at all (every page failed).
    pub sites_unreachable: usize,
    /// Websites on private or loopback addresses, refused (unless the config allows them).
    pub sites_private: usize,
    /// Websites on reserved domains (`.example`, `.test`, …), never fetched.
    pub sites_reserved: usize,
    pub emails: usize,
    pub phones: usize,
    pub profiles: usize,
    pub industries: usize,
    /// Data files of the `files` provider that could not be read.
    pub errors: Vec<InputError>,
    pub warnings: Vec<String>,
}

/// Runs the stage on `records`; leads whose route is not enriched pass through untouched.
pub fn run(
    records: Vec<Record>,
    config: &Config,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<(Vec<Record>, Stats)> {
    let cfg = &config.enrichment;
    let mut stats = Stats::default();
    let selected = |lead: &Lead| lead.route.is_some_and(|r| cfg.routes.contains(&r));
    stats.leads = records.iter().filter(|r| selected(&r.lead)).count();

    let (files, errors) = if cfg.files.enabled {
        FilesProvider::load(
            &config.root,
            &cfg.files.paths,
            &config.ingest.default_region,
        )
    } else {
        (FilesProvider::default(), Vec::new())
    };
    stats.errors = errors;
    let taxonomy = cfg
        .taxonomy
        .enabled
        .then(|| Taxonomy::new(&cfg.taxonomy.industries));

    // The site of each lead (by record id), read or taken from the cache once per URL.
    let mut site_of: HashMap<usize, String> = HashMap::new();
    let cache = if cfg.website.enabled {
        let mut reserved = Vec::new();
        for rec in records.iter().filter(|r| selected(&r.lead)) {
            match site_url(&rec.lead) {
                Some(u) => {
                    site_of.insert(rec.id, u);
                }
                None => reserved.extend(rec.lead.website.as_deref().and_then(canonical_url)),
            }
        }
        reserved.sort_unstable();
        reserved.dedup();
        stats.sites_reserved = reserved.len();
        let mut urls: Vec<&String> = site_of.values().collect();
        urls.sort_unstable();
        urls.dedup();
        Some(read_sites(urls, config, opts, progress, &mut stats)?)
    } else {
        None
    };

    let region = config.ingest.default_region.as_str();
    let records = CONTRACT.map(records, |mut rec| {
        if selected(&rec.lead) {
            let site = site_of.get(&rec.id).and_then(|u| cache.as_ref()?.entry(u));
            let rows = files.lookup(&rec.lead);
            let e = enrich_lead(&rec.lead, site, &rows, taxonomy.as_ref(), region);
            rec.lead.enrichment = Some(Box::new(e));
        }
        rec
    })?;

    for rec in records.iter().filter(|r| selected(&r.lead)) {
        if let Some(e) = rec.lead.enrichment.as_deref() {
            stats.emails += usize::from(e.email.is_some());
            stats.phones += usize::from(e.phone.is_some());
            stats.profiles += usize::from(!e.other_ids.is_empty());
            stats.industries += usize::from(e.industry_category.is_some());
        }
    }
    Ok((records, stats))
}

/// The website to read for a lead: canonical, and not on a reserved domain.
fn site_url(lead: &Lead) -> Option<String> {
    let url = canonical_url(lead.website.as_deref()?)?;
    let host = url::Url::parse(&url).ok()?.host_str()?.to_string();
    (!website::is_reserved_host(&host)).then_some(url)
}

/// Makes the cache hold what to use for every site: entries younger than the TTL stay, the
/// others are read on the I/O pool (with `--offline`, any entry stays and nothing is read).
fn read_sites(
    urls: Vec<&String>,
    config: &Config,
    opts: &Options,
    progress: &dyn Progress,
    stats: &mut Stats,
) -> Result<Cache> {
    let cfg = &config.enrichment;
    let (mut cache, warnings) = Cache::open(Cache::dir_in(&config.work_dir()), &urls);
    stats.warnings.extend(warnings);
    let ttl = chrono::Duration::seconds((cfg.cache_ttl_days * 86_400.0) as i64);
    let mut to_fetch = Vec::new();
    for url in urls {
        match cache.get(url, opts.now, ttl) {
            Lookup::Fresh => stats.sites_cached += 1,
            Lookup::Stale if opts.offline => stats.sites_stale += 1,
            Lookup::Missing if opts.offline => stats.sites_missing += 1,
            _ => to_fetch.push(url.clone()),
        }
    }
    if to_fetch.is_empty() {
        // Writes only what a one-file cache moved into shards, if anything.
        stats.warnings.extend(cache.save());
        return Ok(cache);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.website.concurrency)
        .thread_name(|i| format!("fetch-{i}"))
        .build()
        .map_err(|e| Error::System(format!("cannot start the fetch threads: {e}")))?;
    let fetcher = Fetcher::new(&cfg.website);
    progress.start("reading websites", to_fetch.len() as u64);
    let fetched: Vec<(String, SiteFindings)> = pool.install(|| {
        to_fetch
            .into_par_iter()
            .with_max_len(1)
            .map(|url| {
                let findings = match url::Url::parse(&url) {
                    Ok(u) => fetcher.fetch_site(&u, opts.now),
                    Err(_) => unreachable_site(opts.now, &url),
                };
                progress.advance();
                (url, findings)
            })
            .collect()
    });
    progress.finish();
    for (url, findings) in fetched {
        // A lead whose website points inside a network is worth a word: data from outside.
        // It was refused, not read: it is counted apart from the sites read.
        if let Some(p) = findings
            .pages
            .iter()
            .find(|p| p.outcome.contains("not on the public internet"))
        {
            stats.sites_private += 1;
            stats
                .warnings
                .push(format!("{url}: not read: {}", p.outcome));
        } else {
            stats.sites_fetched += 1;
            stats.sites_unreachable += usize::from(!findings.reached());
        }
        cache.put(url, findings);
    }
    stats.warnings.extend(cache.save());
    Ok(cache)
}

fn unreachable_site(now: DateTime<Utc>, url: &str) -> SiteFindings {
    let mut site = SiteFindings::empty(now);
    site.pages.push(website::PageLog {
        url: url.to_string(),
        outcome: "not a URL".into(),
    });
    site
}

/// One lead's enrichment. Local data (`files`) is trusted over what the website says; values the
/// lead's file already had in `enrichment` are kept where no provider found one.
pub fn enrich_lead(
    lead: &Lead,
    site: Option<&SiteFindings>,
    rows: &[&Row],
    taxonomy: Option<&Taxonomy>,
    default_region: &str,
) -> Enrichment {
    let mut e = lead.enrichment.as_deref().cloned().unwrap_or_default();
    let region = lead.country().unwrap_or(default_region);
    let mut sources = Mapping::new();

    // Rows matched by key, then host, then phone: the first with a value gives it.
    for row in rows {
        let src = row.source();
        let fill = |sources: &mut Mapping,
                    field: &str,
                    slot: &mut Option<String>,
                    value: Option<String>| {
            if let (false, Some(v)) = (sources.contains_key(field), value) {
                *slot = Some(v);
                note(sources, field, src.clone());
            }
        };
        let email = row
            .get(&["email"])
            .and_then(crate::lead::value::canonical_email);
        fill(&mut sources, "email", &mut e.email, email);
        let phone = row.get(&["phone"]).and_then(|p| phone_e164(p, region));
        fill(&mut sources, "phone", &mut e.phone, phone);
        let description = row.get(&["description"]).map(String::from);
        fill(&mut sources, "description", &mut e.description, description);
        let logo = row.get(&["logo_url", "logo"]).and_then(canonical_url);
        fill(&mut sources, "logo_url", &mut e.logo_url, logo);
        let industry = row
            .get(&["industry_category", "industry"])
            .map(String::from);
        fill(
            &mut sources,
            "industry_category",
            &mut e.industry_category,
            industry,
        );
        for net in files::NETWORKS {
            let key = if *net == "twitter" { "x" } else { net };
            let field = format!("other_ids.{key}");
            let column = format!("other_ids.{net}");
            let mut slot = None;
            fill(
                &mut sources,
                &field,
                &mut slot,
                row.get(&[column.as_str(), net]).and_then(canonical_url),
            );
            if let Some(v) = slot {
                e.other_ids.insert(Value::from(key), Value::from(v));
            }
        }
    }

    if let Some(site) = site {
        let from = |page: &str| format!("website:{page}");
        let has = |m: &Mapping, k: &str| m.contains_key(k);
        if !has(&sources, "email") {
            let host = lead
                .website
                .as_deref()
                .and_then(files::host_of)
                .unwrap_or_default();
            let values: Vec<String> = site.emails.iter().map(|f| f.value.clone()).collect();
            if let Some((email, _)) = extract::choose_email(&values, &host) {
                let page = &site
                    .emails
                    .iter()
                    .find(|f| f.value == email)
                    .expect("chosen from these")
                    .page;
                e.email = Some(email.to_string());
                note(&mut sources, "email", from(page));
            }
        }
        if !has(&sources, "phone") {
            // The lead's own number, when the site shows it, confirms it; else the first
            // number that is valid in the lead's country. (Digits are compared first: parsing
            // every number is the dearest part of the stage.)
            let own = lead.phone.as_deref().and_then(|own| {
                let f = site.phones.iter().find(|f| same_digits(&f.value, own))?;
                Some((own.to_string(), f.page.as_str()))
            });
            let pick = own.or_else(|| {
                site.phones
                    .iter()
                    .find_map(|f| Some((phone_e164(&f.value, region)?, f.page.as_str())))
            });
            if let Some((phone, page)) = pick {
                e.phone = Some(phone.clone());
                note(&mut sources, "phone", from(page));
            }
        }
        for (network, f) in &site.social {
            let field = format!("other_ids.{network}");
            if !has(&sources, &field) {
                e.other_ids
                    .insert(Value::from(network.as_str()), Value::from(f.value.as_str()));
                note(&mut sources, &field, from(&f.page));
            }
        }
        if let (false, Some(d)) = (has(&sources, "description"), &site.description) {
            e.description = Some(d.value.clone());
            note(&mut sources, "description", from(&d.page));
        }
        if let (false, Some(l)) = (has(&sources, "logo_url"), &site.logo) {
            e.logo_url = Some(l.value.clone());
            note(&mut sources, "logo_url", from(&l.page));
        }
        if let (false, Some(i)) = (has(&sources, "image_url"), &site.image) {
            e.image_url = Some(i.value.clone());
            note(&mut sources, "image_url", from(&i.page));
        }
        e.enriched_at = Some(site.fetched_at);
    }

    if !sources.contains_key("industry_category") {
        if let Some(m) = taxonomy.and_then(|t| t.classify(lead.category.as_deref()?)) {
            e.industry_category = Some(m.industry);
            note(
                &mut sources,
                "industry_category",
                format!("taxonomy:{}", m.word),
            );
        }
    }
    for (k, v) in sources {
        e.sources.insert(k, v);
    }
    e
}

/// Whether a number as written (`(217) 555-0134`) has the digits of an E.164 number, with or
/// without its country code.
fn same_digits(written: &str, e164: &str) -> bool {
    let digits: String = written.chars().filter(char::is_ascii_digit).collect();
    let full = e164.trim_start_matches('+');
    digits.len() >= 6 && full.ends_with(digits.trim_start_matches('0'))
}

fn note(sources: &mut Mapping, field: &str, source: String) {
    sources.insert(Value::from(field), Value::from(source));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use website::Found;

    fn found(value: &str) -> Found {
        Found {
            value: value.into(),
            page: "https://www.acme-auto.example/contact".into(),
        }
    }

    fn acme() -> Lead {
        Lead {
            dedup_key: "acme".into(),
            name: "Acme Auto".into(),
            category: Some("Auto repair shop".into()),
            phone: Some("+12175550134".into()),
            website: Some("https://www.acme-auto.example/".into()),
            ..Lead::default()
        }
    }

    #[test]
    fn website_findings_fill_the_namespace_with_their_sources() {
        let site = SiteFindings {
            fetched_at: Utc::now(),
            emails: vec![
                found("owner@freemail.example"),
                found("hi@acme-auto.example"),
            ],
            phones: vec![found("(217) 555-0199"), found("217-555-0134")],
            social: BTreeMap::from([(
                "instagram".to_string(),
                found("https://instagram.com/acme"),
            )]),
            description: Some(found("Family garage")),
            logo: None,
            image: None,
            pages: Vec::new(),
        };
        let t = Taxonomy::new(&BTreeMap::new());
        let e = enrich_lead(&acme(), Some(&site), &[], Some(&t), "US");
        assert_eq!(e.email.as_deref(), Some("hi@acme-auto.example"));
        assert_eq!(
            e.phone.as_deref(),
            Some("+12175550134"),
            "the lead's own number is confirmed"
        );
        assert_eq!(
            e.other_ids.get("instagram"),
            Some(&Value::from("https://instagram.com/acme"))
        );
        assert_eq!(e.industry_category.as_deref(), Some("auto-repair"));
        assert_eq!(e.description.as_deref(), Some("Family garage"));
        assert_eq!(
            e.sources.get("email"),
            Some(&Value::from(
                "website:https://www.acme-auto.example/contact"
            ))
        );
        assert_eq!(
            e.sources.get("industry_category"),
            Some(&Value::from("taxonomy:auto repair"))
        );
        assert_eq!(e.enriched_at, Some(site.fetched_at));
    }

    #[test]
    fn local_data_wins_over_the_website() {
        let row = Row {
            cells: BTreeMap::from([
                ("email".to_string(), "Boss@Acme-Auto.example".to_string()),
                ("industry".to_string(), "auto-repair".to_string()),
                (
                    "facebook".to_string(),
                    "https://facebook.com/acme".to_string(),
                ),
            ]),
            origin: crate::error::Location::at_line("data/extra.csv", 2),
        };
        let site = SiteFindings {
            fetched_at: Utc::now(),
            emails: vec![found("hi@acme-auto.example")],
            phones: Vec::new(),
            social: BTreeMap::new(),
            description: None,
            logo: None,
            image: None,
            pages: Vec::new(),
        };
        let e = enrich_lead(&acme(), Some(&site), &[&row], None, "US");
        assert_eq!(e.email.as_deref(), Some("boss@acme-auto.example"));
        assert_eq!(
            e.sources.get("email"),
            Some(&Value::from("files:data/extra.csv:2"))
        );
        assert_eq!(
            e.other_ids.get("facebook"),
            Some(&Value::from("https://facebook.com/acme"))
        );
        assert_eq!(e.industry_category.as_deref(), Some("auto-repair"));
    }

    #[test]
    fn the_contract_stops_an_enricher_that_touches_another_field() {
        let records = vec![Record::new(
            0,
            crate::error::Location::file("leads/acme.yaml"),
            acme(),
        )];
        let err = CONTRACT
            .map(records.clone(), |mut r| {
                r.lead.phone = Some("+10000000000".into());
                r
            })
            .unwrap_err();
        assert_eq!(
            (err.lead.as_str(), err.field.as_str(), err.what),
            ("acme", "phone", "changed")
        );
        assert_eq!(err.stage, "EnrichmentAggregator");
        let err = crate::pipeline::score::CONTRACT
            .map(records, |mut r| {
                r.lead.enrichment = Some(Box::default());
                r
            })
            .unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.stage),
            ("enrichment", "LeadScoring")
        );
    }

    #[test]
    fn written_numbers_match_their_e164_form() {
        assert!(same_digits("(217) 555-0134", "+12175550134"));
        assert!(same_digits("+1 217 555 0134", "+12175550134"));
        assert!(same_digits("020 7946 0018", "+442079460018"));
        assert!(!same_digits("(217) 555-0199", "+12175550134"));
        assert!(
            !same_digits("0134", "+12175550134"),
            "too few digits to tell"
        );
    }
}
