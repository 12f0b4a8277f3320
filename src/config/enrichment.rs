//! `enrichment:` and `scoring:` — the providers EnrichmentAggregator runs and LeadScoring's weights.

use super::*;

/// EnrichmentAggregator: the providers and the cache.
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

/// LeadScoring.
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
