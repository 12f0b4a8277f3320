//! What search engines and link previews read: titles (≤ 60 characters, unique), descriptions
//! (≤ 160), canonical URLs, schema.org JSON-LD, and the call-to-action link with UTM tags.

use serde_json::{json, Map, Value};

use crate::lead::Lead;

pub const TITLE_MAX: usize = 60;
pub const DESCRIPTION_MAX: usize = 160;

/// `text` cut at a word boundary to at most `max` characters, with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    let text = crate::text::collapse_ws(text);
    if text.chars().count() <= max {
        return text;
    }
    let mut out = String::new();
    for word in text.split(' ') {
        let next = if out.is_empty() {
            word.to_string()
        } else {
            format!("{out} {word}")
        };
        if next.chars().count() + 1 > max {
            break;
        }
        out = next;
    }
    if out.is_empty() {
        out = text.chars().take(max - 1).collect();
    }
    out = out
        .trim_end_matches([',', ';', ':', '-', '–', '|', '·'])
        .trim_end()
        .to_string();
    out.push('…');
    out
}

/// Title candidates for a lead, best first; the first that fits and is not taken is used.
/// `in_city` is the site language's "{what} in {city}".
pub fn titles(lead: &Lead, what: &str, in_city: &str) -> Vec<String> {
    let name = lead.name.trim();
    let city = lead.city().unwrap_or("").trim();
    let street = lead
        .address
        .as_ref()
        .and_then(|a| a.street.as_deref())
        .unwrap_or("")
        .trim();
    let mut out = Vec::new();
    if !city.is_empty() {
        let phrase = in_city.replace("{what}", what).replace("{city}", city);
        out.push(format!("{name} | {phrase}"));
        out.push(format!("{name} | {city}"));
        if !street.is_empty() {
            out.push(format!("{name} | {street}, {city}"));
        }
    }
    out.push(name.to_string());
    out
}

/// Picks a unique title ≤ 60 characters for each lead, in the given order.
pub fn unique_titles(candidates: &[Vec<String>], keys: &[&str]) -> Vec<String> {
    let mut taken = std::collections::HashSet::new();
    candidates
        .iter()
        .zip(keys)
        .map(|(cands, key)| {
            let pick = cands
                .iter()
                .find(|c| c.chars().count() <= TITLE_MAX && !taken.contains(*c))
                .cloned()
                .or_else(|| {
                    cands
                        .iter()
                        .map(|c| truncate(c, TITLE_MAX))
                        .find(|c| !taken.contains(c))
                })
                .unwrap_or_else(|| {
                    let suffix = format!(" ({key})");
                    let room = TITLE_MAX.saturating_sub(suffix.chars().count()).max(10);
                    truncate(&format!("{}{suffix}", truncate(&cands[0], room)), TITLE_MAX)
                });
            taken.insert(pick.clone());
            pick
        })
        .collect()
}

/// The meta description: the lead's own, else what its site says, else one made from its data
/// in the site's language (`in_city`: "{what} in {city}").
pub fn description(lead: &Lead, tagline: &str, what: &str, in_city: &str) -> String {
    let own = lead
        .description
        .as_deref()
        .or_else(|| lead.enrichment.as_deref()?.description.as_deref())
        .filter(|d| !d.trim().is_empty());
    let text = match own {
        Some(d) => d.to_string(),
        None => {
            let place = match lead.city() {
                Some(city) => in_city.replace("{what}", what).replace("{city}", city),
                None => what.to_string(),
            };
            let mut t = format!("{}: {place}.", lead.name.trim());
            if !tagline.is_empty() {
                t.push(' ');
                t.push_str(tagline);
            }
            t
        }
    };
    truncate(&text, DESCRIPTION_MAX)
}

/// schema.org LocalBusiness for the lead, as text safe inside `<script>`.
///
/// The rating is not marked up: a third party's reviews shown as the business's own
/// `aggregateRating` is "self-serving" review markup, which search engines' rules forbid on a
/// business's own page. It is shown as attributed text instead.
pub fn json_ld(
    lead: &Lead,
    b: &super::Business,
    facts: &super::facts::Facts,
    canonical: &str,
) -> String {
    let mut v = Map::new();
    v.insert("@context".into(), json!("https://schema.org"));
    v.insert("@type".into(), json!(b.schema_type));
    v.insert("name".into(), json!(lead.name.trim()));
    v.insert("url".into(), json!(canonical));
    if let Some(p) = &b.phone {
        v.insert("telephone".into(), json!(p));
    }
    if let Some(e) = &b.email {
        v.insert("email".into(), json!(e));
    }
    if let Some(d) = &b.description {
        v.insert("description".into(), json!(d));
    }
    if let Some(l) = &b.logo {
        v.insert("logo".into(), json!(l));
    }
    if let Some(i) = &b.image {
        v.insert("image".into(), json!(i));
    }
    if let Some(a) = &lead.address {
        let mut addr = Map::new();
        addr.insert("@type".into(), json!("PostalAddress"));
        for (k, val) in [
            ("streetAddress", &a.street),
            ("addressLocality", &a.city),
            ("addressRegion", &a.region),
            ("postalCode", &a.postal_code),
            ("addressCountry", &a.country),
        ] {
            if let Some(s) = val {
                addr.insert(k.into(), json!(s));
            }
        }
        v.insert("address".into(), Value::Object(addr));
    }
    if let Some(l) = &lead.location {
        v.insert(
            "geo".into(),
            json!({"@type": "GeoCoordinates", "latitude": l.lat, "longitude": l.lng}),
        );
    }
    if let Some(w) = &facts.week {
        v.insert("openingHoursSpecification".into(), json!(w.json_ld()));
    }
    if let Some(p) = &facts.price_range {
        v.insert("priceRange".into(), json!(p));
    }
    if !facts.cuisine.is_empty() {
        v.insert("servesCuisine".into(), json!(facts.cuisine));
    }
    if let Some(menu) = facts.links.iter().find(|l| l.kind == "menu") {
        v.insert("hasMenu".into(), json!(menu.url));
    }
    let same_as: Vec<&str> = b
        .social
        .iter()
        .map(|s| s.url.as_str())
        .chain(b.website.as_deref())
        .collect();
    if !same_as.is_empty() {
        v.insert("sameAs".into(), json!(same_as));
    }
    script_safe(&serde_json::to_string(&Value::Object(v)).unwrap_or_default())
}

/// JSON that cannot end its `<script>` element or open a comment.
pub fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The call to action: config's URL with UTM tags saying which page and industry it came from.
pub fn cta_url(base: &str, key: &str, industry: &str) -> String {
    match url::Url::parse(base) {
        Ok(mut u) => {
            u.query_pairs_mut()
                .append_pair("utm_source", "leadsite")
                .append_pair("utm_medium", "landing_page")
                .append_pair("utm_campaign", industry)
                .append_pair("utm_content", key);
            u.to_string()
        }
        Err(_) => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_words_and_limits() {
        assert_eq!(truncate("short", 60), "short");
        let t = truncate(
            "Acme Auto Repair and Tire Service of Greater Springfield | Auto repair in Springfield",
            60,
        );
        assert!(t.chars().count() <= 60 && t.ends_with('…'), "{t}");
        assert!(!t.contains(" …"), "{t}");
        assert_eq!(truncate(&"x".repeat(100), 10).chars().count(), 10);
    }

    #[test]
    fn titles_are_unique_and_short() {
        let a = vec![
            "Acme | Auto repair in Springfield".to_string(),
            "Acme | Springfield".to_string(),
        ];
        let t = unique_titles(&[a.clone(), a.clone(), a], &["a", "b", "c"]);
        assert_eq!(t[0], "Acme | Auto repair in Springfield");
        assert_eq!(t[1], "Acme | Springfield");
        assert!(t[2].contains("(c)"), "{t:?}");
        assert!(t.iter().all(|x| x.chars().count() <= TITLE_MAX));
    }

    #[test]
    fn hostile_text_cannot_close_the_script() {
        let s = script_safe(r#"{"name":"</script><script>alert(1)</script>"}"#);
        assert!(!s.contains("</script>") && !s.contains('<'), "{s}");
    }

    #[test]
    fn the_cta_carries_utm_tags() {
        let u = cta_url(
            "https://agency.example/claim?x=1",
            "acme-auto",
            "auto-repair",
        );
        assert_eq!(u, "https://agency.example/claim?x=1&utm_source=leadsite&utm_medium=landing_page&utm_campaign=auto-repair&utm_content=acme-auto");
    }
}
