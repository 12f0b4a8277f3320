//! What a lead's data says about the business, and nothing more: the only source of claims on its
//! page. Google-Maps attributes (`attributes[].options[]` with `enabled`), OSM tags (`osm.*`),
//! opening hours, price range, the menu / booking / order links the scraper exports, and the
//! rating as attributed text. Content blocks name a fact in `when:` and are shown only when the
//! data says it holds; a fact the data does not mention is unknown, and unknown shows nothing.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_yaml_ng::Value;

use super::hours::{self, DayRow, Week};
use super::theme::Strings;
use crate::lead::Lead;

/// How a page says things: its UI strings (the theme's `i18n/<language>.yaml`) and clock.
pub struct Locale<'a> {
    pub strings: &'a Strings,
    pub clock12: bool,
    /// The site is in English. Google-Maps attributes come in the scraper's language, which
    /// leadsite knows only when it is English: on a site in another language, the attributes
    /// and groups it has strings for are given in the site's words, the others as the data
    /// has them.
    pub english: bool,
}

impl Locale<'_> {
    /// The string of `key`, else `fallback` (English).
    pub fn t(&self, key: &str, fallback: &str) -> String {
        super::theme::text(self.strings, key, fallback)
    }

    /// `1234` → `1,234` (or `1.234`, `1 234` as the language writes it).
    pub fn count(&self, n: u64) -> String {
        group_digits(n, &self.t("thousands", ","))
    }

    /// `4.5` → `4.5` (or `4,5`).
    pub fn decimal(&self, x: f64) -> String {
        format!("{x:.1}").replace('.', &self.t("decimal", "."))
    }
}

/// The facts a content block's `when:` may name. Yes/no facts come from attributes and tags;
/// the others hold when the lead has the data.
pub const NAMES: &[&str] = &[
    // yes/no, from Google-Maps attributes or OSM tags
    "dine_in",
    "takeout",
    "delivery",
    "curbside_pickup",
    "outdoor_seating",
    "reservations",
    "wheelchair",
    "vegetarian",
    "vegan",
    "wifi",
    "card_payment",
    "good_for_kids",
    "online_appointments",
    "open_24_hours",
    // present in the data
    "hours",
    "price_range",
    "cuisine",
    "menu",
    "order_online",
    "booking",
    "rating",
    "phone",
    "email",
    "address",
];

/// A group of things the data says the business offers ("Service options": Takeout, Delivery).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub title: String,
    pub items: Vec<String>,
    /// The yes/no fact each item states, if it is one.
    #[serde(skip)]
    facts: Vec<Option<&'static str>>,
}

/// A link the data gives: `menu`, `booking` or `order_online`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    pub kind: &'static str,
    pub label: String,
    pub url: String,
}

/// The rating as attributed text, never as the business's own markup.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rating {
    pub value: String,
    pub count: Option<u64>,
    pub source: Option<String>,
    /// "4.5 on Google Maps (380 reviews)".
    pub text: String,
}

/// The facts of one lead, as templates see them (`facts.*`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Facts {
    /// Yes/no facts the data states; a fact it does not state is absent.
    pub flags: BTreeMap<&'static str, bool>,
    /// One row per day, Monday first; empty when the data has no readable hours.
    pub hours: Vec<DayRow>,
    pub open_24_hours: bool,
    pub price_range: Option<String>,
    pub cuisine: Vec<String>,
    pub groups: Vec<Group>,
    pub links: Vec<Link>,
    pub rating: Option<Rating>,
    #[serde(skip)]
    pub week: Option<Week>,
    /// Data that was there but could not be read (left out, never guessed).
    #[serde(skip)]
    pub warnings: Vec<String>,
    #[serde(skip)]
    present: Vec<&'static str>,
    /// Yes/no facts the data contradicts itself on.
    #[serde(skip)]
    unknown: Vec<&'static str>,
}

impl Facts {
    /// Reads the facts of a lead, in the words of `locale`.
    pub fn of(lead: &Lead, locale: &Locale) -> Facts {
        let mut f = Facts::default();
        if let Some(attrs) = lead.extra.get("attributes") {
            f.google_attributes(&attrs, locale);
        }
        if let Some(Value::Mapping(osm)) = lead.extra.get("osm").as_deref() {
            f.osm_tags(osm, locale);
        }
        // Hours: Google's, else OSM's.
        // Google's hours, else (or when Google's cannot be read) OSM's.
        let google = lead
            .extra
            .get("open_hours")
            .filter(|v| !v.is_null())
            .map(|v| hours::from_google(&v));
        let osm = || osm_tag(lead, "opening_hours").map(|t| hours::from_osm(&t));
        let week = match google {
            Some(Err(why)) => match osm() {
                Some(Ok(w)) => Some(Ok(w)),
                _ => Some(Err(why)),
            },
            Some(ok) => Some(ok),
            None => osm(),
        };
        match week {
            Some(Ok(w)) => {
                f.hours = w.rows(locale);
                f.open_24_hours = w.always_open();
                f.flags.insert("open_24_hours", f.open_24_hours);
                f.week = Some(w);
            }
            Some(Err(why)) => f.warnings.push(why),
            None => {}
        }
        f.price_range = text_field(lead, "price_range");
        f.links(lead, locale);
        if let Some(value) = lead
            .rating
            .filter(|r| r.is_finite() && *r > 0.0 && *r <= 5.0)
        {
            // Only a rating whose source is known is shown, and it is named.
            let source = match lead.source.as_ref().map(|s| s.kind.as_str()) {
                Some("google_maps") => Some("Google Maps".to_string()),
                _ => None,
            };
            let value = locale.decimal(value);
            let count = lead.review_count.filter(|n| *n > 0);
            let reviews = count.map(|n| {
                if n == 1 {
                    format!(" ({})", locale.t("one_review", "1 review"))
                } else {
                    let text = locale.t("reviews", "{count} reviews");
                    format!(" ({})", text.replace("{count}", &locale.count(n)))
                }
            });
            let text = match &source {
                Some(s) => locale
                    .t("rating_on", "{rating} on {source}")
                    .replace("{rating}", &value)
                    .replace("{source}", s),
                None => locale
                    .t("rating", "Rated {rating} out of 5")
                    .replace("{rating}", &value),
            } + &reviews.unwrap_or_default();
            // A rating no source can be named for is not shown: "rated 4.5" by whom?
            if source.is_some() {
                f.rating = Some(Rating {
                    value,
                    count,
                    source,
                    text,
                });
            }
        }
        let has = |b: bool, name: &'static str, v: &mut Vec<&'static str>| {
            if b {
                v.push(name);
            }
        };
        let mut present = Vec::new();
        has(!f.hours.is_empty(), "hours", &mut present);
        has(f.price_range.is_some(), "price_range", &mut present);
        has(!f.cuisine.is_empty(), "cuisine", &mut present);
        has(f.rating.is_some(), "rating", &mut present);
        for l in &f.links {
            has(true, l.kind, &mut present);
        }
        has(lead.phone.is_some(), "phone", &mut present);
        has(lead.contact_email().is_some(), "email", &mut present);
        has(
            lead.address.as_ref().is_some_and(|a| !a.is_empty()),
            "address",
            &mut present,
        );
        f.present = present;
        f
    }

    /// Whether the fact a content block names holds for this lead.
    pub fn holds(&self, name: &str) -> bool {
        self.flags.get(name).copied().unwrap_or(false) || self.present.contains(&name)
    }

    /// Records a yes/no the data states. Data that says both (the scraper repeats an attribute
    /// with the other answer, or OSM and Google disagree) does not support either: the fact
    /// becomes unknown, and unknown shows nothing.
    fn flag(&mut self, name: &'static str, on: bool) {
        if self.unknown.contains(&name) {
            return;
        }
        match self.flags.get(name) {
            Some(&was) if was != on => {
                self.flags.remove(name);
                self.unknown.push(name);
                self.drop_items(|f| f == Some(name));
                self.warnings
                    .push(format!("the data says both yes and no to {name}: left out"));
            }
            _ => {
                self.flags.insert(name, on);
            }
        }
    }

    fn item(&mut self, title: &str, item: &str, fact: Option<&'static str>) {
        if fact.is_some_and(|f| self.unknown.contains(&f)) {
            return;
        }
        match self.groups.iter_mut().find(|g| g.title == title) {
            Some(g) if !g.items.iter().any(|i| i == item) => {
                g.items.push(item.to_string());
                g.facts.push(fact);
            }
            Some(_) => {}
            None => self.groups.push(Group {
                title: title.to_string(),
                items: vec![item.to_string()],
                facts: vec![fact],
            }),
        }
    }

    /// Leaves out of `groups` the items a content block already shows (by its `when:` fact).
    pub fn hide(&mut self, shown: &[&str]) {
        self.drop_items(|f| f.is_some_and(|f| shown.contains(&f)));
    }

    /// Leaves out of `groups` the items whose fact `gone` says so, and groups left empty.
    fn drop_items(&mut self, gone: impl Fn(Option<&'static str>) -> bool) {
        for g in &mut self.groups {
            let keep: Vec<bool> = g.facts.iter().map(|f| !gone(*f)).collect();
            let mut k = keep.iter();
            g.items.retain(|_| *k.next().unwrap_or(&true));
            let mut k = keep.iter();
            g.facts.retain(|_| *k.next().unwrap_or(&true));
        }
        self.groups.retain(|g| !g.items.is_empty());
    }

    /// google-maps-scraper's `about`: `[{name: "Service options", options: [{name, enabled}]}]`.
    fn google_attributes(&mut self, attrs: &Value, locale: &Locale) {
        let Some(groups) = attrs.as_sequence() else {
            return;
        };
        let mut said: Vec<(String, String, bool)> = Vec::new();
        for g in groups {
            let Some(title) = g.get("name").and_then(Value::as_str).map(clean) else {
                continue;
            };
            let Some(options) = g.get("options").and_then(Value::as_sequence) else {
                continue;
            };
            for o in options {
                let Some(name) = o.get("name").and_then(Value::as_str).map(clean) else {
                    continue;
                };
                if let Some(on) = o.get("enabled").and_then(Value::as_bool) {
                    said.push((title.clone(), name, on));
                }
            }
        }
        // An attribute the data gives both as yes and as no (the scraper repeats some) is not
        // stated: neither shown nor used.
        let both: Vec<String> = said
            .iter()
            .filter(|(_, n, on)| {
                said.iter()
                    .any(|(_, m, other)| other != on && attribute_key(m) == attribute_key(n))
            })
            .map(|(_, n, _)| attribute_key(n))
            .collect();
        for (title, name, on) in said {
            if both.contains(&attribute_key(&name)) {
                let why = format!("the attribute {name:?} is both yes and no: left out");
                if !self.warnings.contains(&why) {
                    self.warnings.push(why);
                }
                continue;
            }
            let fact = google_fact(&name);
            if let Some(fact) = fact {
                self.flag(fact, on);
            }
            // "Reservations required" says more than a block on reservations: never hidden.
            let required = attribute_key(&name) == "reservations required";
            let shown_by = fact.filter(|_| !required);
            if on && !title.is_empty() && !name.is_empty() {
                let (title, name) = if locale.english {
                    (title, name)
                } else {
                    let item = if required {
                        Some("reservations_required")
                    } else if attribute_key(&name) == "wheelchair accessible entrance" {
                        // The entrance, no more: not the whole place.
                        Some("wheelchair_entrance")
                    } else {
                        fact.and_then(fact_string)
                    };
                    (
                        google_group(&title).map_or(title, |k| locale.t(k, k)),
                        item.map_or(name, |k| locale.t(k, k)),
                    )
                };
                self.item(&title, &name, shown_by);
            }
        }
    }

    /// OSM tags, read as the wiki defines them (yes/no/only/limited …).
    fn osm_tags(&mut self, tags: &serde_yaml_ng::Mapping, locale: &Locale) {
        let tag = |k: &str| {
            tags.get(k)
                .and_then(Value::as_str)
                .map(|s| s.trim().to_ascii_lowercase())
        };
        let yes = |v: &str| matches!(v, "yes" | "only" | "required" | "recommended");
        // (tag, fact, group's string key); the item's string key is the fact's
        // (`fact_string`), English in en.yaml.
        for (key, fact, group) in [
            ("takeaway", "takeout", "group_service"),
            ("delivery", "delivery", "group_service"),
            ("outdoor_seating", "outdoor_seating", "group_service"),
            ("reservation", "reservations", "group_planning"),
            ("diet:vegetarian", "vegetarian", "group_offerings"),
            ("diet:vegan", "vegan", "group_offerings"),
            ("wheelchair", "wheelchair", "group_accessibility"),
            ("payment:credit_cards", "card_payment", "group_payments"),
        ] {
            let Some(v) = tag(key) else { continue };
            let item_yes = fact_string(fact).unwrap_or(fact);
            let group = locale.t(group, group);
            if yes(&v) {
                self.flag(fact, true);
                let (item, plain) = match (key, v.as_str()) {
                    ("takeaway", "only") => ("takeaway_only", false),
                    ("diet:vegetarian", "only") => ("vegetarian_only", false),
                    ("diet:vegan", "only") => ("vegan_only", false),
                    ("reservation", "required") => ("reservations_required", false),
                    _ => (item_yes, true),
                };
                // "Vegan only" says more than a "vegan options" block: it is never hidden.
                self.item(&group, &locale.t(item, item), plain.then_some(fact));
            } else if v == "no" {
                self.flag(fact, false);
            } else if key == "wheelchair" && v == "limited" {
                let item = locale.t("wheelchair_limited", "wheelchair_limited");
                self.item(&group, &item, None);
            }
        }
        if let Some(v) = tag("internet_access") {
            let on = matches!(v.as_str(), "wlan" | "yes" | "wifi");
            self.flag("wifi", on);
            if on {
                let group = locale.t("group_amenities", "group_amenities");
                self.item(&group, &locale.t("wifi", "wifi"), Some("wifi"));
            }
        }
        for (key, item, group) in [
            ("drive_through", "drive_through", "group_service"),
            ("diet:gluten_free", "gluten_free", "group_offerings"),
            ("diet:halal", "halal", "group_offerings"),
            ("diet:kosher", "kosher", "group_offerings"),
            ("air_conditioning", "air_conditioning", "group_amenities"),
            ("payment:debit_cards", "debit_cards", "group_payments"),
            ("payment:contactless", "contactless", "group_payments"),
        ] {
            if tag(key).is_some_and(|v| yes(&v)) {
                self.item(&locale.t(group, group), &locale.t(item, item), None);
            }
        }
        if let Some(c) = tags.get("cuisine").and_then(Value::as_str) {
            self.cuisine = c
                .split(';')
                .map(|s| clean(&s.replace('_', " ")))
                .filter(|s| !s.is_empty() && s.len() <= 40)
                .map(|s| {
                    let mut ch = s.chars();
                    ch.next()
                        .map(|f| f.to_uppercase().chain(ch).collect())
                        .unwrap_or_default()
                })
                .collect();
        }
    }

    /// The menu, booking and ordering links google-maps-scraper exports, and OSM `website:menu`.
    fn links(&mut self, lead: &Lead, locale: &Locale) {
        let mut add = |kind: &'static str, label: &str, v: &Value| {
            let items: Vec<&Value> = match v {
                Value::Sequence(s) => s.iter().collect(),
                other => vec![other],
            };
            for item in items {
                let raw = match item {
                    Value::String(s) => Some(s.as_str()),
                    Value::Mapping(_) => item.get("link").and_then(Value::as_str),
                    _ => None,
                };
                let Some(url) = raw.and_then(unwrap_redirect) else {
                    continue;
                };
                if self.links.iter().any(|l| l.url == url)
                    || self.links.iter().filter(|l| l.kind == kind).count() >= 3
                {
                    continue;
                }
                self.links.push(Link {
                    kind,
                    label: label.to_string(),
                    url,
                });
            }
        };
        let menu = locale.t("menu", "Menu");
        // Ordering first: the scraper often lists an ordering page under `reservations` too.
        for (key, kind, label) in [
            ("menu", "menu", menu.clone()),
            (
                "order_online",
                "order_online",
                locale.t("order_online", "Order online"),
            ),
            ("reservations", "booking", locale.t("book", "Book online")),
        ] {
            if kind == "booking" && self.flags.get("reservations") == Some(&false) {
                continue;
            }
            if let Some(v) = lead.extra.get(key) {
                add(kind, &label, &v);
            }
        }
        if let Some(m) = osm_tag(lead, "website:menu") {
            add("menu", &menu, &Value::String(m));
        }
        // Several links of one kind name their hosts.
        let counts: BTreeMap<&str, usize> = self.links.iter().fold(BTreeMap::new(), |mut m, l| {
            *m.entry(l.kind).or_default() += 1;
            m
        });
        let many: Vec<&str> = counts
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(k, _)| k)
            .collect();
        for l in &mut self.links {
            if many.contains(&l.kind) {
                if let Some(host) = url::Url::parse(&l.url).ok().and_then(|u| {
                    u.host_str()
                        .map(|h| h.trim_start_matches("www.").to_string())
                }) {
                    l.label = format!("{} ({host})", l.label);
                }
            }
        }
    }
}

/// An attribute's name as compared: lower case, hyphens as spaces ("Wheelchair-accessible
/// entrance", as Google writes it outside the US, is "wheelchair accessible entrance").
fn attribute_key(name: &str) -> String {
    crate::text::collapse_ws(&name.to_lowercase().replace('-', " "))
}

/// A Google-Maps attribute's name → the yes/no fact it states, in US and British wording.
fn google_fact(name: &str) -> Option<&'static str> {
    Some(match attribute_key(name).as_str() {
        "dine in" => "dine_in",
        "takeout" | "takeaway" | "take out" => "takeout",
        "delivery" => "delivery",
        "curbside pickup" | "kerbside pickup" => "curbside_pickup",
        "outdoor seating" => "outdoor_seating",
        "accepts reservations" | "reservations required" => "reservations",
        "wheelchair accessible entrance" => "wheelchair",
        "vegetarian options" => "vegetarian",
        "vegan options" => "vegan",
        "wi fi" | "free wi fi" | "wifi" => "wifi",
        "credit cards" => "card_payment",
        "good for kids" => "good_for_kids",
        "online appointments" => "online_appointments",
        _ => return None,
    })
}

/// The string key of a yes/no fact's item ("Takeaway").
fn fact_string(fact: &str) -> Option<&'static str> {
    Some(match fact {
        "dine_in" => "dine_in",
        "takeout" => "takeaway",
        "delivery" => "delivery",
        "curbside_pickup" => "curbside_pickup",
        "outdoor_seating" => "outdoor_seating",
        "reservations" => "reservations",
        "wheelchair" => "wheelchair",
        "vegetarian" => "vegetarian",
        "vegan" => "vegan",
        "wifi" => "wifi",
        "card_payment" => "credit_cards",
        "good_for_kids" => "good_for_kids",
        "online_appointments" => "online_appointments",
        _ => return None,
    })
}

/// The string key of one of Google's (English) attribute groups.
fn google_group(title: &str) -> Option<&'static str> {
    Some(match attribute_key(title).as_str() {
        "service options" => "group_service",
        "offerings" => "group_offerings",
        "accessibility" => "group_accessibility",
        "planning" => "group_planning",
        "payments" => "group_payments",
        "amenities" => "group_amenities",
        _ => return None,
    })
}

/// Google wraps links as `/url?q=<the link>&…`; only an absolute http(s) link is kept.
fn unwrap_redirect(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let target = if raw.starts_with("/url?") || raw.contains("google.com/url?") {
        let query = raw.split_once('?')?.1;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "q" || k == "url")
            .map(|(_, v)| v.into_owned())?
    } else {
        raw.to_string()
    };
    let u = url::Url::parse(&target).ok()?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() || target.len() > 2000 {
        return None;
    }
    Some(u.to_string())
}

fn osm_tag(lead: &Lead, key: &str) -> Option<String> {
    lead.extra
        .get("osm")?
        .as_ref()
        .get(key)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn text_field(lead: &Lead, key: &str) -> Option<String> {
    lead.extra
        .get_str(key)
        .map(clean)
        .filter(|s| !s.is_empty() && s.chars().count() <= 40)
}

/// Text from data, trimmed, on one line.
fn clean(s: &str) -> String {
    crate::text::clean_text(s)
}

fn group_digits(n: u64, sep: &str) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts_en(lead: &Lead) -> Facts {
        let strings: Strings =
            serde_yaml_ng::from_str(include_str!("../../themes/default/i18n/en.yaml")).unwrap();
        let locale = Locale {
            strings: &strings,
            clock12: true,
            english: true,
        };
        Facts::of(lead, &locale)
    }

    fn lead(yaml: &str) -> Lead {
        serde_yaml_ng::from_str(&format!("dedup_key: x\nname: X\n{yaml}")).unwrap()
    }

    #[test]
    fn a_sparse_lead_states_nothing() {
        let f = facts_en(&lead("phone: '+12175550134'\n"));
        for name in NAMES {
            assert_eq!(f.holds(name), *name == "phone", "{name}");
        }
        assert!(f.groups.is_empty() && f.links.is_empty() && f.hours.is_empty());
    }

    #[test]
    fn google_attributes_state_yes_and_no() {
        let f = facts_en(&lead("attributes:\n- name: Service options\n  options:\n  - {name: Takeout, enabled: false}\n  - {name: Dine-in, enabled: true}\n  - {name: No-contact delivery, enabled: true}\n- name: Accessibility\n  options:\n  - {name: Wheelchair accessible entrance, enabled: true}\n"));
        assert!(!f.holds("takeout"), "Takeaway: false is no take-out");
        assert_eq!(f.flags.get("takeout"), Some(&false));
        assert!(f.holds("dine_in") && f.holds("wheelchair"));
        assert!(
            !f.holds("delivery"),
            "no-contact delivery is its own option"
        );
        assert_eq!(f.groups[0].items, ["Dine-in", "No-contact delivery"]);
    }

    #[test]
    fn what_the_data_says_both_ways_is_not_stated_and_british_wording_counts() {
        // google-maps-scraper, Cyprus: Wi-Fi and Credit cards each given as yes and as no.
        let f = facts_en(&lead("attributes:\n- name: Amenities\n  options:\n  - {name: Wi-Fi, enabled: true}\n  - {name: Wi-Fi, enabled: false}\n  - {name: Toilets, enabled: true}\n- name: Payments\n  options:\n  - {name: Credit cards, enabled: true}\n- name: Payments\n  options:\n  - {name: Credit cards, enabled: false}\n- name: Accessibility\n  options:\n  - {name: Wheelchair-accessible entrance, enabled: true}\n- name: Service options\n  options:\n  - {name: Kerbside pickup, enabled: true}\n- name: Planning\n  options:\n  - {name: Reservations required, enabled: true}\n"));
        assert!(!f.holds("wifi") && !f.flags.contains_key("wifi"));
        assert!(!f.holds("card_payment") && !f.flags.contains_key("card_payment"));
        let items: Vec<&String> = f.groups.iter().flat_map(|g| &g.items).collect();
        assert!(
            !items.iter().any(|i| *i == "Wi-Fi" || *i == "Credit cards"),
            "{items:?}"
        );
        assert!(items.iter().any(|i| *i == "Toilets"));
        assert!(
            f.warnings.iter().any(|w| w.contains("Wi-Fi")),
            "{:?}",
            f.warnings
        );
        assert!(f.holds("wheelchair"), "Google's wording outside the US");
        assert!(f.holds("curbside_pickup"));
        assert!(f.holds("reservations"));
        // "Reservations required" says more than "takes reservations": never hidden by it.
        let mut shown = f.clone();
        shown.hide(&["reservations"]);
        assert!(shown
            .groups
            .iter()
            .any(|g| g.items.iter().any(|i| i == "Reservations required")));
        // A Google yes and an OSM no: unknown too.
        let f = facts_en(&lead("attributes:\n- name: Service options\n  options:\n  - {name: Takeaway, enabled: true}\nosm:\n  takeaway: 'no'\n"));
        assert!(!f.holds("takeout") && !f.flags.contains_key("takeout"));
        assert!(f.groups.is_empty(), "{:?}", f.groups);
    }

    #[test]
    fn osm_tags_and_links_and_rating() {
        let f = facts_en(&lead("source: {kind: google_maps}\nrating: 4.5\nreview_count: 1380\nosm:\n  takeaway: only\n  wheelchair: limited\n  cuisine: chinese;dim_sum\n  opening_hours: 24/7\nmenu:\n  link: /url?q=https://example.com/menu%3Fa%3D1&opi=1\n  source: example.com\norder_online:\n- {link: 'https://a.example/o'}\n- {link: 'https://b.example/o'}\n- {link: 'javascript:alert(1)'}\n"));
        assert!(f.holds("takeout") && !f.holds("wheelchair") && f.open_24_hours);
        assert_eq!(f.cuisine, ["Chinese", "Dim sum"]);
        assert_eq!(f.links[0].url, "https://example.com/menu?a=1");
        assert_eq!(f.links[1].label, "Order online (a.example)");
        assert_eq!(f.links.len(), 3);
        assert_eq!(f.rating.unwrap().text, "4.5 on Google Maps (1,380 reviews)");
    }

    #[test]
    fn an_ordering_page_is_not_a_booking_and_no_reservations_means_no_booking() {
        let f = facts_en(&lead("reservations:\n- {link: 'https://order.example/x'}\norder_online:\n- {link: 'https://order.example/x'}\n"));
        assert_eq!(f.links.len(), 1);
        assert_eq!(
            (f.links[0].kind, f.links[0].label.as_str()),
            ("order_online", "Order online")
        );
        let f = facts_en(&lead("reservations:\n- {link: 'https://book.example/x'}\nattributes:\n- name: Planning\n  options:\n  - {name: Accepts reservations, enabled: false}\n"));
        assert!(f.links.is_empty(), "{:?}", f.links);
        let f = facts_en(&lead("reservations:\n- {link: 'https://book.example/x'}\n"));
        assert_eq!(
            f.links[0].label, "Book online",
            "the default theme's neutral words"
        );
    }

    #[test]
    fn a_rating_with_no_named_source_is_not_shown() {
        let f = facts_en(&lead(
            "rating: 4.5\nreview_count: 10\nsource: {kind: csv}\n",
        ));
        assert!(f.rating.is_none() && !f.holds("rating"));
    }

    #[test]
    fn unreadable_hours_warn_and_show_nothing() {
        let f = facts_en(&lead(
            "osm:\n  opening_hours: 'Mo-Fr 10:00-18:00 \"by appointment\"'\n",
        ));
        assert!(f.hours.is_empty() && !f.holds("hours"));
        assert!(f.warnings[0].contains("comment"), "{:?}", f.warnings);
    }
}
