//! `leadsite.yaml`: the project's settings, with a documented default for every key. Paths in it
//! are relative to the folder the config file is in. Secrets never live here (environment only).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{yaml_error, Error, InputError, Location, Result};
use crate::lead::Route;

pub const DEFAULT_FILE: &str = "leadsite.yaml";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub site: Site,
    pub paths: Paths,
    pub ingest: Ingest,
    pub routing: Routing,
    pub enrichment: Enrichment,
    pub scoring: Scoring,
    pub outreach: Outreach,
    /// The folder the config file is in; every relative path is taken from here.
    #[serde(skip)]
    pub root: PathBuf,
    /// Where the config was read from; `None` when the built-in defaults are used.
    #[serde(skip)]
    pub file: Option<PathBuf>,
    /// Set for one language of a site built in several: its build reports go here, under
    /// `<work>/build/`.
    #[serde(skip)]
    pub build_subdir: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Site {
    /// Absolute URL the site is served from; canonical URLs start with it.
    pub base_url: String,
    pub title: String,
    /// The pages' `lang` (BCP 47).
    pub language: String,
    /// Industry key → theme, where the theme's own `industries` list is not what you want.
    pub themes: std::collections::BTreeMap<String, String>,
    /// Where a page's call to action leads (UTM tags are added); default: `base_url`.
    pub cta_url: Option<String>,
    /// The call to action's words; default: the theme's, in the site's language.
    pub cta_text: Option<String>,
    /// Pages listed on one page of the index and of each hub.
    pub per_page: usize,
    /// Build the site in each of these languages, into `site/<language>/` (`/el/…`, `/en/…`),
    /// with hreflang alternates and a sitemap per language. Empty: one language,
    /// `site.language`, at the root.
    pub languages: Vec<String>,
    pub images: SiteImages,
}

/// `site.images`: the pictures the business published, downloaded, resized and self-hosted.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiteImages {
    /// Download and use the `og:image` and logo of the lead's own site and OSM `image`/`logo`.
    pub enabled: bool,
    /// Also use the Google-Maps photo (`thumbnail`). Off: those photos belong to the people
    /// who uploaded them, not to the business, and Google's terms do not license them for reuse.
    pub maps_photos: bool,
    /// Bytes downloaded of one image at most; a larger image is not used.
    pub max_bytes: u64,
}

impl Default for SiteImages {
    fn default() -> Self {
        SiteImages {
            enabled: true,
            maps_photos: false,
            max_bytes: 5 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Paths {
    /// Routed lead files (`*.yaml`).
    pub leads: PathBuf,
    /// Private build artefacts and reports; never uploaded.
    pub work: PathBuf,
    /// The public site.
    pub site: PathBuf,
    /// Themes; a folder here replaces the built-in theme of its name.
    pub themes: PathBuf,
    /// Industry copy and pages; a file here replaces the built-in one.
    pub content: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ingest {
    /// ISO 3166-1 alpha-2 region for phone numbers and addresses that do not say their country.
    pub default_region: String,
    /// Source columns/keys not to keep on the lead (bulky scraper output). Other unknown columns
    /// are kept as fields of the lead.
    pub drop_columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Routing {
    /// Tried in order; the first rule whose conditions all hold decides.
    pub rules: Vec<Rule>,
    /// The route of a lead no rule matched.
    pub default: Decision,
    /// Hosts whose pages are not a business's own website (social profiles, booking, ordering,
    /// menu and link-in-bio pages): a lead whose `website` is on one of them (or under it) has no
    /// website of its own as far as `present`/`missing: [website]` are concerned.
    pub not_own_website: Vec<String>,
}

/// Hosts that are a page about a business on someone else's platform, not its own website.
pub const NOT_OWN_WEBSITE: &[&str] = &[
    "facebook.com",
    "fb.com",
    "instagram.com",
    "tiktok.com",
    "x.com",
    "twitter.com",
    "youtube.com",
    "linkedin.com",
    "pinterest.com",
    "linktr.ee",
    "linkin.bio",
    "beacons.ai",
    "wa.me",
    "t.me",
    "yelp.com",
    "tripadvisor.com",
    "foursquare.com",
    "ubereats.com",
    "doordash.com",
    "grubhub.com",
    "deliveroo.co.uk",
    "just-eat.co.uk",
    "wolt.com",
    "opentable.com",
    "resy.com",
    "toasttab.com",
    "order.online",
    "zingmyorder.com",
    "square.site",
    "spoton.com",
    "clover.com",
    "chownow.com",
    "menufy.com",
    "slicelife.com",
    "beyondmenu.com",
    "mealkeyway.com",
    "singleplatform.com",
    "postmates.com",
    "seamless.com",
    "fivestars.com",
    "booksy.com",
    "fresha.com",
    "vagaro.com",
    "business.site",
    "g.page",
    "goo.gl",
    "maps.app.goo.gl",
];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub route: Route,
    #[serde(default)]
    pub reason: Option<String>,
}

/// One routing rule: every condition given must hold.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rule {
    pub route: Option<Route>,
    pub reason: Option<String>,
    /// The lead's category contains one of these (case-insensitive).
    pub category: Vec<String>,
    /// All these fields have a value.
    pub present: Vec<String>,
    /// None of these fields has a value.
    pub missing: Vec<String>,
    pub min_rating: Option<f64>,
    pub max_rating: Option<f64>,
    pub min_reviews: Option<u64>,
    pub max_reviews: Option<u64>,
    /// The address country is one of these (ISO codes).
    pub country: Vec<String>,
    /// The address city is one of these (case-insensitive).
    pub city: Vec<String>,
}

/// Phase 6, outreach: who sends, what, when, and how.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Outreach {
    /// Nothing is ever sent while this is false.
    pub enabled: bool,
    /// `content/emails/<sequence>/NN-*.md`.
    pub sequence: String,
    pub sender_name: String,
    pub sender_email: String,
    /// The sender's postal address, printed in every message.
    pub postal_address: String,
    pub reply_to: Option<String>,
    /// Where an unsubscribe goes: a mailto: or https URL (`{lead}` is replaced by the dedup_key).
    /// Default: a mailto: to the sender with subject "unsubscribe".
    pub unsubscribe_url: Option<String>,
    /// An https endpoint that takes RFC 8058 one-click unsubscribe POSTs (`{lead}` replaced).
    pub one_click_url: Option<String>,
    pub window: SendWindow,
    /// Messages sent in one UTC day at most.
    pub daily_cap: usize,
    /// Messages sent in one `schedule` run at most.
    pub run_cap: usize,
    /// Tries of one step (soft bounces, transient SMTP errors) before giving up on the lead.
    pub max_attempts: u32,
    /// Minutes before the first retry; doubled for each further one.
    pub retry_minutes: u32,
    pub transport: MailTransport,
    pub crm: Crm,
    pub listen: Listen,
    pub whatsapp: WhatsApp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhatsAppProvider {
    /// The WhatsApp Cloud API: template messages; bearer token from LEADSITE_WHATSAPP_TOKEN.
    Cloud,
    /// A Twilio-style SMS API: To/From/Body; auth token from LEADSITE_TWILIO_TOKEN.
    Twilio,
}

/// WhatsAppAgent: how `channel: whatsapp` steps are sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WhatsApp {
    pub provider: WhatsAppProvider,
    pub base_url: String,
    /// Cloud API version in the path.
    pub version: String,
    pub phone_number_id: String,
    /// The template's language code.
    pub language: String,
    /// Twilio: the account SID and the sending number.
    pub account_sid: String,
    pub from: String,
    /// Tries of one message (429, 5xx, no answer), one a run, before it is given up.
    pub max_tries: u32,
}

impl Default for WhatsApp {
    fn default() -> Self {
        WhatsApp {
            provider: WhatsAppProvider::Cloud,
            base_url: "https://graph.facebook.com".into(),
            version: "v21.0".into(),
            phone_number_id: String::new(),
            language: "en_US".into(),
            account_sid: String::new(),
            from: String::new(),
            max_tries: 3,
        }
    }
}

/// `leadsite listen`: one-click unsubscribe and delivery webhooks. Tokens are signed with
/// LEADSITE_UNSUBSCRIBE_SECRET (environment only).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    pub bind: String,
    /// The https URL `listen` is reachable at from the internet (a reverse proxy in front of
    /// it); when set, every email's List-Unsubscribe points to it, one-click.
    pub public_url: Option<String>,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            bind: "127.0.0.1:8025".into(),
            public_url: None,
        }
    }
}

/// CRMAdapterAgent: where engaged leads go. The webhook's HMAC secret comes only from
/// LEADSITE_CRM_SECRET.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Crm {
    /// A CSV file a CRM imports as it is (one row a lead, never twice).
    pub csv: Option<PathBuf>,
    /// POSTed a JSON body signed with HMAC-SHA256 (header X-Leadsite-Signature: sha256=HEX).
    pub webhook_url: Option<String>,
    /// Tries of one webhook delivery (one a `schedule` run) before it goes to the dead letters.
    pub max_tries: u32,
}

impl Default for Crm {
    fn default() -> Self {
        Crm {
            csv: None,
            webhook_url: None,
            max_tries: 3,
        }
    }
}

/// When messages may go out, in the lead's local time (its `timezone`, else this one).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendWindow {
    pub timezone: String,
    pub start_hour: u32,
    pub end_hour: u32,
    /// mon, tue, wed, thu, fri, sat, sun.
    pub days: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    Smtp,
    /// Writes .eml files to `dir`, for dry runs.
    File,
    Sendmail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    None,
    Starttls,
    Tls,
}

/// How mail leaves. SMTP credentials come only from LEADSITE_SMTP_USER / LEADSITE_SMTP_PASSWORD.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailTransport {
    pub kind: TransportKind,
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// For `kind: file` (and `schedule --dry-run`).
    pub dir: PathBuf,
}

impl Outreach {
    /// The domain of `sender_email`: our Message-IDs end in it, and replies are matched by it.
    pub fn sender_domain(&self) -> &str {
        self.sender_email
            .rsplit_once('@')
            .map_or("localhost", |(_, d)| d)
    }
}

impl Default for Outreach {
    fn default() -> Self {
        Outreach {
            enabled: false,
            sequence: "intro".into(),
            sender_name: String::new(),
            sender_email: String::new(),
            postal_address: String::new(),
            reply_to: None,
            unsubscribe_url: None,
            one_click_url: None,
            window: SendWindow::default(),
            daily_cap: 200,
            run_cap: 50,
            max_attempts: 3,
            retry_minutes: 60,
            transport: MailTransport::default(),
            crm: Crm::default(),
            listen: Listen::default(),
            whatsapp: WhatsApp::default(),
        }
    }
}

impl Default for SendWindow {
    fn default() -> Self {
        SendWindow {
            timezone: "America/Chicago".into(),
            start_hour: 9,
            end_hour: 17,
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
        }
    }
}

impl Default for MailTransport {
    fn default() -> Self {
        MailTransport {
            kind: TransportKind::Smtp,
            host: "127.0.0.1".into(),
            port: 25,
            tls: TlsMode::None,
            dir: ".leadsite/outbox".into(),
        }
    }
}

/// Phase 4, EnrichmentAggregator: the providers and the cache.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Enrichment {
    /// Leads of these routes are enriched and scored; the others are left as they are.
    pub routes: Vec<Route>,
    /// How long a cached website result is used before the site is read again.
    pub cache_ttl_days: f64,
    pub website: WebsiteProvider,
    pub files: FilesProvider,
    pub taxonomy: TaxonomyProvider,
}

/// The `website` provider: reads each lead's own site.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebsiteProvider {
    pub enabled: bool,
    /// Sent with every request; its first word is the token robots.txt rules are matched with.
    pub user_agent: String,
    /// The time budget of one site (robots.txt and every page), in seconds.
    pub timeout_secs: f64,
    /// Bytes read of one page at most; the rest is not read.
    pub max_bytes: u64,
    /// Pages read of one site at most: the home page and same-host contact/about pages.
    pub max_pages: usize,
    pub max_redirects: u32,
    /// Sites read at the same time (threads of the I/O pool).
    pub concurrency: usize,
    /// Read sites on loopback, private, link-local and other non-public addresses too. Off:
    /// a lead's website is outside data, and an internal page must never reach a public one.
    pub allow_private: bool,
}

/// The `files` provider: local CSV/YAML data keyed by dedup_key, website host or phone.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesProvider {
    pub enabled: bool,
    pub paths: Vec<PathBuf>,
}

/// The `taxonomy` provider: category → industry key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaxonomyProvider {
    pub enabled: bool,
    /// Industry key → words that mark it in a category; tried before the built-in table.
    pub industries: std::collections::BTreeMap<String, Vec<String>>,
}

/// Phase 4, LeadScoring.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scoring {
    /// Fields whose share present is the completeness score.
    pub required_fields: Vec<String>,
    /// Industries the agency builds pages for; a lead in one scores 1 on category.
    pub target_industries: Vec<String>,
    pub weights: Weights,
    /// A lead qualifies with a score at least this, and a way to reach it.
    pub threshold: f64,
    /// Reviews at which the size score's review part is one half (it saturates towards 1).
    pub reviews_half: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Weights {
    pub completeness: f64,
    pub confidence: f64,
    pub category: f64,
    pub size: f64,
}

impl Default for Enrichment {
    fn default() -> Self {
        Enrichment {
            routes: vec![Route::Target, Route::Nurture],
            cache_ttl_days: 30.0,
            website: WebsiteProvider::default(),
            files: FilesProvider::default(),
            taxonomy: TaxonomyProvider::default(),
        }
    }
}

impl Default for WebsiteProvider {
    fn default() -> Self {
        WebsiteProvider {
            enabled: true,
            user_agent: concat!(
                "leadsite/",
                env!("CARGO_PKG_VERSION"),
                " (reads public contact details once a month)"
            )
            .into(),
            timeout_secs: 10.0,
            max_bytes: 1_000_000,
            max_pages: 4,
            max_redirects: 5,
            concurrency: 64,
            allow_private: false,
        }
    }
}

impl Default for FilesProvider {
    fn default() -> Self {
        FilesProvider {
            enabled: true,
            paths: Vec::new(),
        }
    }
}

impl Default for TaxonomyProvider {
    fn default() -> Self {
        TaxonomyProvider {
            enabled: true,
            industries: Default::default(),
        }
    }
}

impl Default for Scoring {
    fn default() -> Self {
        Scoring {
            required_fields: [
                "name",
                "category",
                "phone",
                "address.street",
                "address.city",
            ]
            .map(String::from)
            .to_vec(),
            target_industries: [
                "auto-repair",
                "real-estate",
                "restaurant",
                "plumbing",
                "hair-salon",
                "dentist",
            ]
            .map(String::from)
            .to_vec(),
            weights: Weights::default(),
            threshold: 0.5,
            reviews_half: 50.0,
        }
    }
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            completeness: 0.3,
            confidence: 0.2,
            category: 0.3,
            size: 0.2,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            site: Site::default(),
            paths: Paths::default(),
            ingest: Ingest::default(),
            routing: Routing::default(),
            enrichment: Enrichment::default(),
            scoring: Scoring::default(),
            outreach: Outreach::default(),
            build_subdir: None,
            root: PathBuf::from("."),
            file: None,
        }
    }
}

impl Default for Site {
    fn default() -> Self {
        Site {
            base_url: "http://127.0.0.1:1111/".into(),
            title: "Local businesses".into(),
            language: "en".into(),
            themes: Default::default(),
            cta_url: None,
            cta_text: None,
            per_page: 100,
            languages: Vec::new(),
            images: SiteImages::default(),
        }
    }
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            leads: "leads".into(),
            work: ".leadsite".into(),
            site: "site".into(),
            themes: "themes".into(),
            content: "content".into(),
        }
    }
}

impl Default for Ingest {
    fn default() -> Self {
        let drop = [
            "input_id",
            "link",
            "popular_times",
            "reviews_per_rating",
            "reviews_link",
            "thumbnail",
            "images",
            "user_reviews",
            "user_reviews_extended",
        ];
        Ingest {
            default_region: "US".into(),
            drop_columns: drop.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            rules: vec![
                Rule {
                    route: Some(Route::Reject),
                    reason: Some("no phone, email or website to reach them".into()),
                    missing: vec!["phone".into(), "email".into(), "website".into()],
                    ..Rule::default()
                },
                Rule {
                    route: Some(Route::Target),
                    reason: Some("no website yet".into()),
                    missing: vec!["website".into()],
                    ..Rule::default()
                },
            ],
            default: Decision {
                route: Route::Nurture,
                reason: Some("has a website already".into()),
            },
            not_own_website: NOT_OWN_WEBSITE.iter().map(|h| h.to_string()).collect(),
        }
    }
}

impl Config {
    /// Parses config text; `path` is only for messages. Reports every problem found.
    pub fn parse(text: &str, path: &Path) -> std::result::Result<Config, Vec<InputError>> {
        crate::limits::check_yaml(text, path).map_err(|e| vec![e])?;
        let config: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| vec![yaml_error(path, &e)])?
        };
        let problems = config.problems(path);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    }

    /// Reads the config at `path`. A missing file is an error only when `required` (the user
    /// named it); otherwise the defaults are used, rooted at the file's folder.
    pub fn load(path: &Path, required: bool) -> Result<Config> {
        let root = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut config = if path.exists() || required {
            // A file that is not there (or cannot be opened) is an I/O error; one too large to
            // be a config is a problem with the config.
            std::fs::File::open(path).map_err(|e| crate::fsutil::io_error(path, e))?;
            let text = crate::limits::read_text(path, crate::limits::MAX_TEXT_FILE)
                .map_err(|e| Error::Config(vec![e]))?;
            let mut c = Config::parse(&text, path).map_err(Error::Config)?;
            c.file = Some(path.to_path_buf());
            c
        } else {
            Config::default()
        };
        config.root = root;
        let escapes = config.links_inside();
        if !escapes.is_empty() {
            return Err(Error::Config(escapes));
        }
        Ok(config)
    }

    /// A path from the config, resolved against the project root.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }

    pub fn leads_dir(&self) -> PathBuf {
        self.resolve(&self.paths.leads)
    }

    pub fn work_dir(&self) -> PathBuf {
        self.resolve(&self.paths.work)
    }

    /// `site.base_url`, ending with `/` so that paths can be added to it.
    pub fn base_url(&self) -> String {
        let b = &self.site.base_url;
        if b.ends_with('/') {
            b.clone()
        } else {
            format!("{b}/")
        }
    }

    /// Where the build writes its reports (`<work>/build/`, per language when there are several).
    pub fn build_dir(&self) -> PathBuf {
        let dir = self.work_dir().join("build");
        match &self.build_subdir {
            Some(sub) => dir.join(sub),
            None => dir,
        }
    }

    pub fn site_dir(&self) -> PathBuf {
        self.resolve(&self.paths.site)
    }

    /// Semantic checks serde cannot make. Each problem names its key.
    fn problems(&self, path: &Path) -> Vec<InputError> {
        let mut out = Vec::new();
        let mut bad = |field: String, msg: String| {
            out.push(InputError::new(Location::file(path), msg).with_field(field))
        };
        match url::Url::parse(&self.site.base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => bad(
                "site.base_url".into(),
                format!("{:?} is not an absolute http(s) URL", self.site.base_url),
            ),
        }
        let tag_ok = {
            let mut parts = self.site.language.split(['-', '_']);
            let lang = parts.next().unwrap_or("");
            (2..=3).contains(&lang.len())
                && lang.chars().all(|c| c.is_ascii_alphabetic())
                && parts.all(|p| {
                    (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric())
                })
        };
        if !tag_ok {
            bad(
                "site.language".into(),
                format!(
                    "{:?} is not a language tag such as en, de or el-CY",
                    self.site.language
                ),
            );
        }
        if self.site.per_page == 0 {
            bad(
                "site.per_page".into(),
                "must be at least 1 (pages listed on one index page)".into(),
            );
        }
        if crate::lead::value::country_code(&self.ingest.default_region).is_none() {
            bad(
                "ingest.default_region".into(),
                format!(
                    "{:?} is not an ISO 3166-1 alpha-2 region such as US or GB",
                    self.ingest.default_region
                ),
            );
        }
        self.phase4_problems(&mut bad);
        self.outreach_problems(&mut bad);
        if let Some(cta) = &self.site.cta_url {
            if !url::Url::parse(cta)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https" | "mailto"))
            {
                bad(
                    "site.cta_url".into(),
                    format!("{cta:?} is not an absolute http(s) or mailto: URL"),
                );
            }
        }
        for (industry, theme) in &self.site.themes {
            if !crate::lead::is_valid_key(theme) {
                bad(
                    format!("site.themes.{industry}"),
                    format!("{theme:?} is not a theme name"),
                );
            }
        }
        for (i, rule) in self.routing.rules.iter().enumerate() {
            let at = format!("routing.rules[{i}]");
            if rule.route.is_none() {
                bad(
                    format!("{at}.route"),
                    "missing: every rule says its route (TARGET, NURTURE or REJECT)".into(),
                );
            }
            for (key, fields) in [("present", &rule.present), ("missing", &rule.missing)] {
                for (j, f) in fields.iter().enumerate() {
                    if !is_field_name(f) {
                        bad(
                            format!("{at}.{key}[{j}]"),
                            format!("{f:?} is not a field name"),
                        );
                    }
                }
            }
            for (j, c) in rule.country.iter().enumerate() {
                if crate::lead::value::country_code(c).is_none() {
                    bad(
                        format!("{at}.country[{j}]"),
                        format!("{c:?} is not a country code"),
                    );
                }
            }
        }
        for (field, p) in self.configured_paths() {
            let escapes = p.is_absolute()
                || p.components()
                    .any(|c| matches!(c, std::path::Component::ParentDir));
            if escapes {
                bad(
                    field,
                    format!(
                        "{} leaves the project: use a path inside the project folder (relative, without '..')",
                        p.display()
                    ),
                );
            }
        }
        out
    }

    /// Every folder and file the config names, with its key.
    fn configured_paths(&self) -> Vec<(String, PathBuf)> {
        let mut out = vec![
            ("paths.leads".to_string(), self.paths.leads.clone()),
            ("paths.work".to_string(), self.paths.work.clone()),
            ("paths.site".to_string(), self.paths.site.clone()),
            ("paths.themes".to_string(), self.paths.themes.clone()),
            ("paths.content".to_string(), self.paths.content.clone()),
            (
                "outreach.transport.dir".to_string(),
                self.outreach.transport.dir.clone(),
            ),
        ];
        for (i, p) in self.enrichment.files.paths.iter().enumerate() {
            out.push((format!("enrichment.files.paths[{i}]"), p.clone()));
        }
        if let Some(csv) = &self.outreach.crm.csv {
            out.push(("outreach.crm.csv".to_string(), csv.clone()));
        }
        out
    }

    /// Refuses configured paths that a symbolic link takes out of the project: whatever is read
    /// or written there would be outside it (`leads -> /home`, `.leadsite/outbox -> /etc`).
    fn links_inside(&self) -> Vec<InputError> {
        let Ok(root) = self.root.canonicalize() else {
            return Vec::new();
        };
        let file = self
            .file
            .clone()
            .unwrap_or_else(|| PathBuf::from("leadsite.yaml"));
        let mut out = Vec::new();
        for (field, p) in self.configured_paths() {
            let mut at = self.root.clone();
            for c in p.components() {
                at.push(c);
                if !std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                    continue;
                }
                let target = at.canonicalize();
                if !target.as_ref().is_ok_and(|t| t.starts_with(&root)) {
                    let to = target.map_or_else(
                        |_| "a path that does not exist".to_string(),
                        |t| t.display().to_string(),
                    );
                    out.push(
                        InputError::new(
                            Location::file(&file),
                            format!(
                                "{} is a symbolic link to {to}, outside the project: not followed (make it a folder of the project)",
                                at.display()
                            ),
                        )
                        .with_field(field.clone()),
                    );
                    break;
                }
            }
        }
        out
    }
}

impl Config {
    fn outreach_problems(&self, bad: &mut impl FnMut(String, String)) {
        let o = &self.outreach;
        if o.window.timezone.parse::<chrono_tz::Tz>().is_err() {
            bad(
                "outreach.window.timezone".into(),
                format!(
                    "{:?} is not an IANA time zone such as America/Chicago",
                    o.window.timezone
                ),
            );
        }
        if o.window.start_hour >= o.window.end_hour || o.window.end_hour > 24 {
            bad(
                "outreach.window".into(),
                "start_hour must be before end_hour (0..24)".into(),
            );
        }
        for (i, d) in o.window.days.iter().enumerate() {
            if crate::config::weekday(d).is_none() {
                bad(
                    format!("outreach.window.days[{i}]"),
                    format!("{d:?} is not mon, tue, wed, thu, fri, sat or sun"),
                );
            }
        }
        if !crate::lead::is_valid_key(&o.sequence) {
            bad(
                "outreach.sequence".into(),
                "a sequence is a folder name: lower-case letters, digits, '-'".into(),
            );
        }
        if o.enabled {
            if crate::lead::value::canonical_email(&o.sender_email).is_none() {
                bad(
                    "outreach.sender_email".into(),
                    "needed to send: a valid address".into(),
                );
            }
            if o.postal_address.trim().is_empty() {
                bad(
                    "outreach.postal_address".into(),
                    "needed to send: every message carries the sender's postal address".into(),
                );
            }
        }
        if let Some(u) = &o.listen.public_url {
            // RFC 8058: a one-click unsubscribe URI must be https.
            let ok = url::Url::parse(u).is_ok_and(|u| {
                u.scheme() == "https" && u.query().is_none() && u.fragment().is_none()
            });
            if !ok {
                bad(
                    "outreach.listen.public_url".into(),
                    format!("{u:?} is not an https URL without ?query or #fragment (RFC 8058 one-click unsubscribe needs https; /u/TOKEN is added to it)"),
                );
            }
        }
        for (key, v) in [
            ("unsubscribe_url", &o.unsubscribe_url),
            ("one_click_url", &o.one_click_url),
        ] {
            if let Some(u) = v {
                let ok = url::Url::parse(&u.replace("{lead}", "x")).is_ok_and(|u| {
                    u.scheme() == "https" || (key == "unsubscribe_url" && u.scheme() == "mailto")
                });
                if !ok {
                    bad(
                        format!("outreach.{key}"),
                        format!(
                            "{u:?} is not an https{} URL",
                            if key == "unsubscribe_url" {
                                " or mailto:"
                            } else {
                                ""
                            }
                        ),
                    );
                }
            }
        }
    }

    fn phase4_problems(&self, bad: &mut impl FnMut(String, String)) {
        let w = &self.enrichment.website;
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.enrichment.cache_ttl_days) {
            bad(
                "enrichment.cache_ttl_days".into(),
                "must be more than 0".into(),
            );
        }
        if !positive(w.timeout_secs) {
            bad(
                "enrichment.website.timeout_secs".into(),
                "must be more than 0".into(),
            );
        }
        for (key, value, max) in [
            ("concurrency", w.concurrency, 1024),
            ("max_pages", w.max_pages, 100),
        ] {
            if value == 0 || value > max {
                bad(
                    format!("enrichment.website.{key}"),
                    format!("{value} is not between 1 and {max}"),
                );
            }
        }
        if w.user_agent.trim().is_empty() {
            bad(
                "enrichment.website.user_agent".into(),
                "must say who is asking".into(),
            );
        }
        for industry in self.enrichment.taxonomy.industries.keys() {
            if !crate::lead::is_valid_key(industry) {
                bad(
                    format!("enrichment.taxonomy.industries.{industry}"),
                    "an industry key is lower-case letters, digits and '-'".into(),
                );
            }
        }
        let s = &self.scoring;
        for (j, f) in s.required_fields.iter().enumerate() {
            if !is_field_name(f) {
                bad(
                    format!("scoring.required_fields[{j}]"),
                    format!("{f:?} is not a field name"),
                );
            }
        }
        let weights = [
            ("completeness", s.weights.completeness),
            ("confidence", s.weights.confidence),
            ("category", s.weights.category),
            ("size", s.weights.size),
        ];
        for (name, v) in weights {
            if !(v.is_finite() && v >= 0.0) {
                bad(
                    format!("scoring.weights.{name}"),
                    format!("{v} is not a weight (0 or more)"),
                );
            }
        }
        if weights.iter().map(|(_, v)| v).sum::<f64>() <= 0.0 {
            bad(
                "scoring.weights".into(),
                "at least one weight must be more than 0".into(),
            );
        }
        if !(0.0..=1.0).contains(&s.threshold) {
            bad(
                "scoring.threshold".into(),
                format!("{} is not between 0 and 1", s.threshold),
            );
        }
        if !positive(s.reviews_half) {
            bad("scoring.reviews_half".into(), "must be more than 0".into());
        }
    }
}

fn is_field_name(f: &str) -> bool {
    !f.is_empty()
        && f.split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || "_-:".contains(c)))
}

/// A day of the week from its English name or first three letters (`mon`, `Monday`).
pub fn weekday(s: &str) -> Option<chrono::Weekday> {
    use chrono::Weekday;
    match s.trim().to_ascii_lowercase().get(..3)? {
        "mon" => Some(Weekday::Mon),
        "tue" => Some(Weekday::Tue),
        "wed" => Some(Weekday::Wed),
        "thu" => Some(Weekday::Thu),
        "fri" => Some(Weekday::Fri),
        "sat" => Some(Weekday::Sat),
        "sun" => Some(Weekday::Sun),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_defaults() {
        let c = Config::parse("", Path::new("leadsite.yaml")).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.routing.rules.len(), 2);
    }

    #[test]
    fn unknown_key_is_an_error_with_its_line() {
        let e = Config::parse(
            "site:\n  title: X\n  colour: red\n",
            Path::new("leadsite.yaml"),
        )
        .unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].location.line, Some(3), "{}", e[0]);
        assert!(e[0].to_string().contains("colour"), "{}", e[0]);
    }

    #[test]
    fn every_semantic_problem_is_reported_at_once() {
        let text = "site: {base_url: nope}\ningest: {default_region: XX}\nrouting:\n  rules:\n    - {present: ['bad field']}\n";
        let e = Config::parse(text, Path::new("leadsite.yaml")).unwrap_err();
        let fields: Vec<_> = e.iter().filter_map(|e| e.field.clone()).collect();
        assert_eq!(
            fields,
            [
                "site.base_url",
                "ingest.default_region",
                "routing.rules[0].route",
                "routing.rules[0].present[0]"
            ]
        );
    }

    #[test]
    fn one_click_unsubscribe_urls_must_be_https() {
        let text = "outreach:\n  listen: {public_url: 'http://unsub.agency.example'}\n  one_click_url: http://agency.example/u/{lead}\n";
        let e = Config::parse(text, Path::new("leadsite.yaml")).unwrap_err();
        let fields: Vec<_> = e.iter().filter_map(|e| e.field.clone()).collect();
        assert_eq!(
            fields,
            ["outreach.listen.public_url", "outreach.one_click_url"]
        );
        let query = "outreach:\n  listen: {public_url: 'https://unsub.agency.example/?x=1'}\n";
        assert!(Config::parse(query, Path::new("leadsite.yaml")).is_err());
        let ok = "outreach:\n  listen: {public_url: 'https://unsub.agency.example'}\n";
        assert!(Config::parse(ok, Path::new("leadsite.yaml")).is_ok());
    }

    #[test]
    fn a_missing_default_config_means_defaults_rooted_at_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(&dir.path().join(DEFAULT_FILE), false).unwrap();
        assert_eq!(c.leads_dir(), dir.path().join("leads"));
        assert!(Config::load(&dir.path().join("other.yaml"), true).is_err());
    }
}
