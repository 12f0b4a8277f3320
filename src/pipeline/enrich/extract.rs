//! What one HTML page says about its business: emails (mailto:, visible text, schema.org JSON-LD),
//! phones (tel:, JSON-LD), social profiles, meta description, logo, and the same-host links worth
//! following (contact, about, impressum).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use scraper::{Html, Node, Selector};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::lead::value::canonical_email;

/// Everything found on one page. Values keep the order they appear in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PageFindings {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    /// As written on the page; the aggregator puts them in E.164 with the lead's country.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<String>,
    /// Network (`facebook`, `instagram`, …) → profile URL.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub social: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    /// The page's `og:image`: the picture the business chose to show for its site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Same-host pages that likely hold contact details, best first.
    #[serde(skip)]
    pub links: Vec<Url>,
}

fn selector(s: &str) -> Selector {
    Selector::parse(s).expect("a valid built-in selector")
}

static ANCHORS: LazyLock<Selector> = LazyLock::new(|| selector("a[href]"));
static JSON_LD: LazyLock<Selector> =
    LazyLock::new(|| selector(r#"script[type="application/ld+json"]"#));
static META: LazyLock<Selector> = LazyLock::new(|| selector("meta[content]"));
static IMAGES: LazyLock<Selector> = LazyLock::new(|| selector("img[src]"));
static EMAIL_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
        .expect("a valid built-in pattern")
});

/// Words in a link's path or text that mark a page with contact details, best first.
const CONTACT_WORDS: &[&str] = &[
    "contact",
    "kontakt",
    "impressum",
    "imprint",
    "about",
    "ueber-uns",
    "team",
    "location",
];

/// Social networks by host: `(suffix of the host, key in other_ids)`.
const NETWORKS: &[(&str, &str)] = &[
    ("facebook.com", "facebook"),
    ("fb.com", "facebook"),
    ("instagram.com", "instagram"),
    ("linkedin.com", "linkedin"),
    ("twitter.com", "x"),
    ("x.com", "x"),
    ("youtube.com", "youtube"),
    ("tiktok.com", "tiktok"),
    ("yelp.com", "yelp"),
    ("yelp.co.uk", "yelp"),
    ("yelp.de", "yelp"),
    ("pinterest.com", "pinterest"),
    ("tripadvisor.com", "tripadvisor"),
];

/// Reads one page fetched from `page` (its final URL after redirects).
pub fn extract(html: &str, page: &Url) -> PageFindings {
    let doc = Html::parse_document(html);
    let mut out = PageFindings::default();
    let mut links: Vec<(usize, Url)> = Vec::new();

    for a in doc.select(&ANCHORS) {
        let href = a.attr("href").unwrap_or("").trim();
        let lower = href.to_ascii_lowercase();
        if lower.starts_with("mailto:") {
            let addr = percent_decode(&href[7..]);
            push_email(&mut out.emails, &addr);
        } else if lower.starts_with("tel:") {
            push_unique(&mut out.phones, percent_decode(&href[4..]).trim());
        } else if let Ok(url) = page.join(href) {
            if let Some(network) = social_network(&url) {
                out.social
                    .entry(network.to_string())
                    .or_insert_with(|| clean_profile(url));
            } else if same_site(&url, page) {
                let text: String = a.text().collect::<String>().to_lowercase();
                let path = url.path().to_lowercase();
                if let Some(rank) = CONTACT_WORDS
                    .iter()
                    .position(|w| path.contains(w) || text.contains(w))
                {
                    links.push((rank, without_fragment(url)));
                }
            }
        }
    }

    for script in doc.select(&JSON_LD) {
        let text: String = script.text().collect();
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
            read_json_ld(&value, page, &mut out);
        }
    }

    for meta in doc.select(&META) {
        let key = meta
            .attr("name")
            .or_else(|| meta.attr("property"))
            .unwrap_or("")
            .to_ascii_lowercase();
        let content = crate::text::collapse_ws(meta.attr("content").unwrap_or(""));
        if content.is_empty() {
            continue;
        }
        match key.as_str() {
            "description" => out.description = Some(content),
            "og:description" if out.description.is_none() => out.description = Some(content),
            "og:image" | "og:image:url" | "og:image:secure_url" if out.image.is_none() => {
                out.image = page
                    .join(&content)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .map(String::from);
            }
            _ => {}
        }
    }

    if out.logo.is_none() {
        out.logo = doc
            .select(&IMAGES)
            .find(|img| {
                ["src", "alt", "class", "id"].iter().any(|a| {
                    img.attr(a)
                        .is_some_and(|v| v.to_ascii_lowercase().contains("logo"))
                })
            })
            .and_then(|img| page.join(img.attr("src")?).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .map(String::from);
    }

    for text in visible_text(&doc) {
        for m in EMAIL_TEXT.find_iter(text) {
            push_email(&mut out.emails, m.as_str());
        }
    }

    links.sort_by_key(|(rank, _)| *rank);
    for (_, url) in links {
        if !out.links.contains(&url) && url.path() != page.path() {
            out.links.push(url);
        }
    }
    out
}

/// Text nodes outside `script`, `style`, `noscript` and `template`.
fn visible_text(doc: &Html) -> impl Iterator<Item = &str> {
    doc.tree.nodes().filter_map(|node| {
        let Node::Text(text) = node.value() else {
            return None;
        };
        let hidden = node.ancestors().any(|a| match a.value() {
            Node::Element(e) => matches!(e.name(), "script" | "style" | "noscript" | "template"),
            _ => false,
        });
        (!hidden).then_some(&**text)
    })
}

/// schema.org data: any object in the document (also inside `@graph` and nested values).
fn read_json_ld(value: &serde_json::Value, page: &Url, out: &mut PageFindings) {
    use serde_json::Value;
    match value {
        Value::Array(items) => items.iter().for_each(|v| read_json_ld(v, page, out)),
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("email", Value::String(s)) => push_email(&mut out.emails, s),
                    ("telephone", Value::String(s)) => push_unique(&mut out.phones, s.trim()),
                    ("description", Value::String(s)) if out.description.is_none() => {
                        let d = crate::text::collapse_ws(s);
                        if !d.is_empty() {
                            out.description = Some(d);
                        }
                    }
                    ("logo", _) if out.logo.is_none() => {
                        let url = match v {
                            Value::String(s) => Some(s.as_str()),
                            Value::Object(o) => o.get("url").and_then(Value::as_str),
                            _ => None,
                        };
                        out.logo = url
                            .and_then(|u| page.join(u).ok())
                            .filter(|u| matches!(u.scheme(), "http" | "https"))
                            .map(String::from);
                    }
                    ("sameAs", _) => {
                        let urls: Vec<&str> = match v {
                            Value::String(s) => vec![s.as_str()],
                            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                            _ => Vec::new(),
                        };
                        for u in urls.into_iter().filter_map(|u| Url::parse(u).ok()) {
                            if let Some(network) = social_network(&u) {
                                out.social
                                    .entry(network.to_string())
                                    .or_insert_with(|| clean_profile(u));
                            }
                        }
                    }
                    (_, Value::Object(_) | Value::Array(_)) => read_json_ld(v, page, out),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// The network a profile URL belongs to; share buttons and intents are not profiles.
fn social_network(url: &Url) -> Option<&'static str> {
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let path = url.path().to_ascii_lowercase();
    let share = ["/sharer", "/share", "/intent", "/dialog", "/plugins"];
    if path == "/" || path.is_empty() || share.iter().any(|s| path.starts_with(s)) {
        return None;
    }
    NETWORKS
        .iter()
        .find(|(suffix, _)| host == *suffix || host.ends_with(&format!(".{suffix}")))
        .map(|(_, key)| *key)
}

fn clean_profile(mut url: Url) -> String {
    url.set_fragment(None);
    url.set_query(None);
    url.to_string()
}

fn without_fragment(mut url: Url) -> Url {
    url.set_fragment(None);
    url
}

/// Same scheme-less origin: host (ignoring a leading `www.`) and port.
pub fn same_site(a: &Url, b: &Url) -> bool {
    let host = |u: &Url| {
        u.host_str()
            .map(|h| h.trim_start_matches("www.").to_ascii_lowercase())
    };
    matches!(a.scheme(), "http" | "https")
        && host(a).is_some()
        && host(a) == host(b)
        && a.port_or_known_default() == b.port_or_known_default()
}

fn push_email(list: &mut Vec<String>, raw: &str) {
    if let Some(email) = canonical_email(raw) {
        push_unique(list, &email);
    }
}

use crate::text::push_unique;

/// `%40` → `@` and the like, for mailto: and tel: links; invalid sequences stay as they are.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The best email for a business whose site is on `site_host`: one on the site's own domain
/// first, else the first one found. Returns the email and whether it is on the own domain.
pub fn choose_email<'a>(candidates: &'a [String], site_host: &str) -> Option<(&'a str, bool)> {
    candidates
        .iter()
        .find(|e| on_own_domain(e, site_host))
        .map(|e| (e.as_str(), true))
        .or_else(|| candidates.first().map(|e| (e.as_str(), false)))
}

/// Whether `email` is at the domain of the site on `site_host` (or a subdomain of either).
pub fn on_own_domain(email: &str, site_host: &str) -> bool {
    let domain = email.rsplit('@').next().unwrap_or("").to_ascii_lowercase();
    let host = site_host.trim_start_matches("www.").to_ascii_lowercase();
    !domain.is_empty()
        && (domain == host
            || host.ends_with(&format!(".{domain}"))
            || domain.ends_with(&format!(".{host}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("https://www.acme-auto.example/").unwrap()
    }

    #[test]
    fn finds_mailto_tel_text_and_json_ld() {
        let html = r#"<html><head>
            <meta name="description" content="  Family garage
               since 1982. ">
            <script type="application/ld+json">
              {"@context":"https://schema.org","@graph":[{"@type":"AutoRepair",
               "email":"Service@Acme-Auto.example","telephone":"(217) 555-0134",
               "logo":{"@type":"ImageObject","url":"/img/acme.png"},
               "sameAs":["https://www.instagram.com/acmeauto/","https://example.org/x"]}]}
            </script>
            <script>var fake = "hidden@tracker.example";</script>
            </head><body>
            <a href="mailto:info%40acme-auto.example?subject=Hi">Mail us</a>
            <a href="tel:+1-217-555-0100">Call</a>
            <p>Or write to billing@acme-auto.example today.</p>
            <a href="https://www.facebook.com/acmeauto?ref=page">fb</a>
            <a href="https://www.facebook.com/sharer/sharer.php?u=x">share</a>
            <a href="/about-us">Who we are</a>
            <a href="/kontakt#form">Reach us</a>
            <a href="https://elsewhere.example/contact">other site</a>
            </body></html>"#;
        let f = extract(html, &page());
        assert_eq!(
            f.emails,
            [
                "info@acme-auto.example",
                "service@acme-auto.example",
                "billing@acme-auto.example"
            ]
        );
        assert_eq!(f.phones, ["+1-217-555-0100", "(217) 555-0134"]);
        assert_eq!(f.social["facebook"], "https://www.facebook.com/acmeauto");
        assert_eq!(f.social["instagram"], "https://www.instagram.com/acmeauto/");
        assert_eq!(f.social.len(), 2);
        assert_eq!(f.description.as_deref(), Some("Family garage since 1982."));
        assert_eq!(
            f.logo.as_deref(),
            Some("https://www.acme-auto.example/img/acme.png")
        );
        let links: Vec<&str> = f.links.iter().map(|u| u.as_str()).collect();
        assert_eq!(
            links,
            [
                "https://www.acme-auto.example/kontakt",
                "https://www.acme-auto.example/about-us"
            ]
        );
    }

    #[test]
    fn image_names_are_not_emails_and_broken_json_ld_is_ignored() {
        let html = r#"<img src="/logo@2x.png" alt="Acme logo"><p>logo@2x.png</p>
            <script type="application/ld+json">{ not json </script>"#;
        let f = extract(html, &page());
        assert!(f.emails.is_empty(), "{:?}", f.emails);
        assert_eq!(
            f.logo.as_deref(),
            Some("https://www.acme-auto.example/logo@2x.png")
        );
    }

    #[test]
    fn an_email_on_the_own_domain_wins() {
        let found = vec![
            "acme.garage@freemail.example".to_string(),
            "hello@acme-auto.example".to_string(),
        ];
        assert_eq!(
            choose_email(&found, "www.acme-auto.example"),
            Some(("hello@acme-auto.example", true))
        );
        assert_eq!(
            choose_email(&found[..1], "www.acme-auto.example"),
            Some(("acme.garage@freemail.example", false))
        );
        assert_eq!(choose_email(&[], "acme-auto.example"), None);
    }

    #[test]
    fn percent_decoding_leaves_bad_sequences() {
        assert_eq!(percent_decode("a%40b.example"), "a@b.example");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
