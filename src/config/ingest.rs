//! `ingest:` and `routing:` — default region, dropped columns, and the rules that route leads.

use super::*;

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
