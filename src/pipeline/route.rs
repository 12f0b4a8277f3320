//! Route: the config's rules, tried in order, send each lead to TARGET, NURTURE or REJECT, and
//! say why.

use super::contract::Contract;
use super::Record;
use crate::config::{Routing, Rule};
use crate::error::ContractViolation;
use crate::lead::{Lead, Route};

pub const CONTRACT: Contract = Contract {
    stage: "route",
    writes: &["route", "route_reason"],
};

/// Routes every record in parallel; the contract is checked on each lead.
pub fn run(records: Vec<Record>, routing: &Routing) -> Result<Vec<Record>, ContractViolation> {
    CONTRACT.map(records, |mut r| {
        let (route, reason) = decide(&r.lead, routing);
        r.lead.route = Some(route);
        r.lead.route_reason = Some(reason);
        r
    })
}

/// The host of a URL, lower case.
/// The platform (`routing.not_own_website`) a host belongs to, if it is one.
fn platform(host: &str, routing: &Routing) -> Option<String> {
    routing
        .not_own_website
        .iter()
        .map(|h| h.trim().trim_start_matches("www.").to_ascii_lowercase())
        .find(|h| !h.is_empty() && (host == h || host.ends_with(&format!(".{h}"))))
}

/// The host of the lead's website when that is a page on a platform (`routing.not_own_website`),
/// not a website of its own.
pub fn platform_website(lead: &Lead, routing: &Routing) -> Option<String> {
    platform(
        &crate::lead::value::url_host(lead.website.as_deref()?)?,
        routing,
    )
}

/// A website of the business's own that the data names only as the address of its menu,
/// booking or ordering page (google-maps-scraper's `menu`, `reservations`, `order_online`):
/// `https://psaropoulos.com/` for a menu at psaropoulos.com. Platforms and Google's own
/// addresses are not one.
pub fn own_site_in_links(lead: &Lead, routing: &Routing) -> Option<String> {
    fn urls(v: &serde_yaml_ng::Value, out: &mut Vec<String>) {
        match v {
            serde_yaml_ng::Value::String(s) => out.push(s.clone()),
            serde_yaml_ng::Value::Sequence(items) => items.iter().for_each(|i| urls(i, out)),
            serde_yaml_ng::Value::Mapping(m) => {
                if let Some(serde_yaml_ng::Value::String(s)) = m.get("link") {
                    out.push(s.clone());
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    for key in ["menu", "reservations", "order_online"] {
        if let Some(v) = lead.extra.get(key) {
            urls(&v, &mut found);
        }
    }
    found.iter().find_map(|raw| {
        // Google's relative redirect (`/url?q=…`) is unwrapped as the absolute one is.
        let raw = raw.trim();
        let absolute = if raw.starts_with("/url?") {
            format!("https://www.google.com{raw}")
        } else {
            raw.to_string()
        };
        let url = crate::lead::value::canonical_url(&absolute)?;
        let host = crate::lead::value::url_host(&url)?;
        let google = host.contains("google.") || host == "g.page" || host.ends_with("goo.gl");
        (!google && platform(&host, routing).is_none()).then(|| format!("https://{host}/"))
    })
}

/// The route of a lead and the reason: the first rule that matches, else the default. A website
/// on a platform (facebook.com, linktr.ee …) is not the business's own for the rules; a menu,
/// booking or ordering page on a site of its own is.
pub fn decide(lead: &Lead, routing: &Routing) -> (Route, String) {
    let platform = platform_website(lead, routing);
    if lead.website.is_none() || platform.is_some() {
        if let Some(site) = own_site_in_links(lead, routing) {
            let own = Lead {
                website: Some(site.clone()),
                ..lead.clone()
            };
            let (route, reason) = decide_on(&own, routing);
            let host = site.trim_start_matches("https://").trim_end_matches('/');
            return (
                route,
                format!("{reason} (its menu or booking page is on its own site, {host})"),
            );
        }
    }
    if let Some(host) = platform {
        let own = Lead {
            website: None,
            ..lead.clone()
        };
        let (route, reason) = decide_on(&own, routing);
        return (route, format!("{reason} (its website is a page on {host})"));
    }
    decide_on(lead, routing)
}

fn decide_on(lead: &Lead, routing: &Routing) -> (Route, String) {
    for (i, rule) in routing.rules.iter().enumerate() {
        if let Some(route) = rule.route {
            if rule.matches(lead) {
                let reason = rule
                    .reason
                    .clone()
                    .unwrap_or_else(|| format!("rule {}: {}", i + 1, rule.describe()));
                return (route, reason);
            }
        }
    }
    let d = &routing.default;
    (
        d.route,
        d.reason.clone().unwrap_or_else(|| "no rule matched".into()),
    )
}

impl Rule {
    pub fn matches(&self, lead: &Lead) -> bool {
        let lower = |s: &str| s.to_lowercase();
        let category = lead.category.as_deref().map(lower).unwrap_or_default();
        let city = lead.city().map(lower).unwrap_or_default();
        let country = lead.country().unwrap_or_default();
        (self.category.is_empty() || self.category.iter().any(|c| category.contains(&lower(c))))
            && self.present.iter().all(|f| lead.has_field(f))
            && self.missing.iter().all(|f| !lead.has_field(f))
            && self
                .min_rating
                .is_none_or(|m| lead.rating.is_some_and(|r| r >= m))
            && self
                .max_rating
                .is_none_or(|m| lead.rating.is_some_and(|r| r <= m))
            && self
                .min_reviews
                .is_none_or(|m| lead.review_count.is_some_and(|r| r >= m))
            && self
                .max_reviews
                .is_none_or(|m| lead.review_count.is_none_or(|r| r <= m))
            && (self.country.is_empty()
                || self.country.iter().any(|c| c.eq_ignore_ascii_case(country)))
            && (self.city.is_empty() || self.city.iter().any(|c| lower(c) == city))
    }

    /// The rule's conditions in words, the reason of a rule that gives none.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.category.is_empty() {
            parts.push(format!("category {}", self.category.join(" or ")));
        }
        if !self.present.is_empty() {
            parts.push(format!("has {}", self.present.join(", ")));
        }
        if !self.missing.is_empty() {
            parts.push(format!("no {}", self.missing.join(", ")));
        }
        if let Some(m) = self.min_rating {
            parts.push(format!("rating ≥ {m}"));
        }
        if let Some(m) = self.max_rating {
            parts.push(format!("rating ≤ {m}"));
        }
        if let Some(m) = self.min_reviews {
            parts.push(format!("≥ {m} reviews"));
        }
        if let Some(m) = self.max_reviews {
            parts.push(format!("≤ {m} reviews"));
        }
        if !self.country.is_empty() {
            parts.push(format!("in {}", self.country.join(" or ")));
        }
        if !self.city.is_empty() {
            parts.push(format!("in {}", self.city.join(" or ")));
        }
        if parts.is_empty() {
            "any lead".into()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Decision;

    fn lead(category: &str, website: Option<&str>) -> Lead {
        Lead {
            dedup_key: "a".into(),
            name: "A".into(),
            category: Some(category.into()),
            phone: Some("+14692872159".into()),
            website: website.map(Into::into),
            rating: Some(4.2),
            review_count: Some(30),
            ..Default::default()
        }
    }

    #[test]
    fn a_social_or_booking_page_is_not_an_own_website() {
        let routing = Routing::default();
        for (site, route, host) in [
            (
                "https://www.facebook.com/bobs",
                Route::Target,
                Some("facebook.com"),
            ),
            ("https://linktr.ee/bobs", Route::Target, Some("linktr.ee")),
            (
                "https://order.ubereats.com/x",
                Route::Target,
                Some("ubereats.com"),
            ),
            ("https://bobs-diner.com/", Route::Nurture, None),
            ("https://notfacebook.com/", Route::Nurture, None),
        ] {
            let mut l = lead("Diner", Some(site));
            l.phone = Some("+12175550134".into());
            assert_eq!(platform_website(&l, &routing).as_deref(), host, "{site}");
            let (r, why) = decide(&l, &routing);
            assert_eq!(r, route, "{site}: {why}");
            if let Some(h) = host {
                assert!(why.contains(h), "{why}");
            }
        }
    }

    #[test]
    fn a_menu_or_booking_page_on_its_own_domain_is_a_website() {
        let routing = Routing::default();
        let with = |key: &str, v: serde_yaml_ng::Value| {
            let mut l = lead("Fish restaurant", None);
            l.extra.insert(key, v);
            l
        };
        // The scraper's `menu: {link, source}` on the business's own domain (Psaropoulos, Cyprus).
        let menu: serde_yaml_ng::Value =
            serde_yaml_ng::from_str("{link: 'https://psaropoulos.com/', source: psaropoulos.com}")
                .unwrap();
        let l = with("menu", menu);
        assert_eq!(
            own_site_in_links(&l, &routing).as_deref(),
            Some("https://psaropoulos.com/")
        );
        let (route, why) = decide(&l, &routing);
        assert_eq!(route, Route::Nurture, "{why}");
        assert!(why.contains("psaropoulos.com"), "{why}");
        // Google's redirect to it counts too; a booking platform or Google itself does not.
        let wrapped =
            serde_yaml_ng::Value::String("/url?q=https://www.bobs-diner.com/book&opi=1".into());
        assert_eq!(
            own_site_in_links(&with("reservations", wrapped), &routing).as_deref(),
            Some("https://www.bobs-diner.com/")
        );
        for elsewhere in [
            "https://www.opentable.com/r/bobs",
            "https://www.google.com/maps/reserve/v/dine/c/abc",
        ] {
            let l = with(
                "reservations",
                serde_yaml_ng::Value::String(elsewhere.into()),
            );
            assert_eq!(own_site_in_links(&l, &routing), None, "{elsewhere}");
            assert_eq!(decide(&l, &routing).0, Route::Target, "{elsewhere}");
        }
    }

    #[test]
    fn first_matching_rule_wins() {
        let routing = Routing {
            rules: vec![
                Rule {
                    route: Some(Route::Reject),
                    category: vec!["bank".into()],
                    ..Default::default()
                },
                Rule {
                    route: Some(Route::Target),
                    category: vec!["Auto Repair".into()],
                    missing: vec!["website".into()],
                    min_rating: Some(4.0),
                    ..Default::default()
                },
                Rule {
                    route: Some(Route::Nurture),
                    reason: Some("repair shop with a site".into()),
                    category: vec!["repair".into()],
                    ..Default::default()
                },
            ],
            default: Decision {
                route: Route::Reject,
                reason: None,
            },
            not_own_website: Vec::new(),
        };
        assert_eq!(
            decide(&lead("Auto repair shop", None), &routing),
            (
                Route::Target,
                "rule 2: category Auto Repair, no website, rating ≥ 4".into()
            )
        );
        assert_eq!(
            decide(
                &lead("Auto repair shop", Some("https://a.example/")),
                &routing
            ),
            (Route::Nurture, "repair shop with a site".into())
        );
        assert_eq!(decide(&lead("Bank", None), &routing).0, Route::Reject);
        assert_eq!(
            decide(&lead("Florist", None), &routing),
            (Route::Reject, "no rule matched".into())
        );
    }

    #[test]
    fn default_rules_reject_the_unreachable() {
        let routing = Routing::default();
        let mut l = lead("Cafe", None);
        l.phone = None;
        assert_eq!(decide(&l, &routing).0, Route::Reject);
        assert_eq!(decide(&lead("Cafe", None), &routing).0, Route::Target);
        assert_eq!(
            decide(&lead("Cafe", Some("https://c.example/")), &routing).0,
            Route::Nurture
        );
    }
}
