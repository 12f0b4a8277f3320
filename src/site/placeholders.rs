//! Placeholders that must not go live unnoticed: the example base URL, a call to action that
//! leads back to the site itself, the example imprint and privacy text, fictional example leads,
//! and industries whose pages fall back to the default copy. `build` and `check` say each one;
//! none stops a build (a preview may well use them).

use crate::config::Config;
use crate::lead::Lead;

use super::content::Content;

/// Hosts that are reserved for examples or are this machine.
fn placeholder_host(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    ["example.com", "example.org", "example.net"]
        .iter()
        .any(|d| h == *d || h.ends_with(&format!(".{d}")))
        || [".example", ".test", ".invalid", ".localhost"]
            .iter()
            .any(|tld| h.ends_with(tld))
        || matches!(h.as_str(), "localhost" | "127.0.0.1" | "[::1]")
}

/// Every placeholder still in place, as a sentence that says how to replace it.
pub fn placeholders<'a>(
    config: &Config,
    content: &Content,
    leads: impl IntoIterator<Item = &'a Lead>,
) -> Vec<String> {
    let mut out = Vec::new();
    let file = config
        .file
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "leadsite.yaml".into());
    if crate::lead::value::url_host(&config.site.base_url).is_some_and(|h| placeholder_host(&h)) {
        out.push(format!(
            "site.base_url {} is a placeholder: canonical URLs, the sitemap and emails would point there; set it in {file}",
            config.site.base_url
        ));
    }
    match &config.site.cta_url {
        None => out.push(format!(
            "site.cta_url is not set: \"{}\" links to the site itself; set it to your agency's page in {file}",
            config.site.cta_text.as_deref().unwrap_or("Claim this page")
        )),
        Some(u) if crate::lead::value::url_host(u).is_some_and(|h| placeholder_host(&h)) => out.push(format!(
            "site.cta_url {u} is a placeholder; set it to your agency's page in {file}"
        )),
        Some(_) => {}
    }
    for p in content.pages.iter().filter(|p| p.example) {
        out.push(format!(
            "content/pages/{}.md is still the example text: replace it with your own (every page links to it)",
            p.name
        ));
    }
    let fictional: Vec<&Lead> = leads
        .into_iter()
        .filter(|l| {
            let email_host = l
                .email
                .as_deref()
                .and_then(|e| e.rsplit_once('@'))
                .map(|(_, h)| h.to_string());
            let web_host = l.website.as_deref().and_then(crate::lead::value::url_host);
            email_host
                .into_iter()
                .chain(web_host)
                .any(|h| placeholder_host(&h))
        })
        .collect();
    if let Some(first) = fictional.first() {
        out.push(format!(
            "{} (e.g. {}) with an email or website on a reserved example domain or this machine (localhost): fictional data",
            leads_count(fictional.len()),
            first.label()
        ));
    }
    out
}

/// Industries whose leads get the default copy because `content/industries/<industry>.md` is
/// missing: (industry, how many leads, one of them).
pub fn default_copy<'a>(
    content: &Content,
    industries: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<String> {
    let mut by: std::collections::BTreeMap<&str, (usize, &str)> = Default::default();
    for (industry, label) in industries {
        if !content.industries.contains_key(industry) {
            let e = by.entry(industry).or_insert((0, label));
            e.0 += 1;
        }
    }
    by.into_iter()
        .map(|(industry, (n, label))| {
            format!(
                "{} of industry {industry} (e.g. {label}) with the default copy: add content/industries/{industry}.md",
                leads_count(n)
            )
        })
        .collect()
}

fn leads_count(n: usize) -> String {
    if n == 1 {
        "1 lead".into()
    } else {
        format!("{n} leads")
    }
}

/// On a site in another language than English, what is still English: the industries whose
/// copy is only in English (no `content/industries/<industry>.<language>.md`) and the pages
/// (imprint, privacy …) with no `content/pages/<page>.<language>.md`, a warning each.
/// `industries`: the industry of each page (unknown: the default copy).
pub fn english_copy<'a>(
    config: &Config,
    content: &Content,
    industries: impl IntoIterator<Item = Option<&'a str>>,
) -> Vec<String> {
    let lang = super::language::Lang::of(&config.site.language);
    if lang.is_english() {
        return Vec::new();
    }
    let suffixes = lang.suffixes();
    let mut english: Vec<&str> = industries
        .into_iter()
        .map(|i| content.industry(i).key.as_str())
        .filter(|k| {
            suffixes
                .iter()
                .all(|s| !content.industries.contains_key(&format!("{k}.{s}")))
        })
        .collect();
    english.sort_unstable();
    english.dedup();
    let mut warnings = Vec::new();
    if !english.is_empty() {
        warnings.push(format!(
            "site.language {}: the copy of {} is English (add content/industries/<industry>.{}.md)",
            config.site.language,
            english.join(", "),
            lang.primary
        ));
    }
    let in_language = |name: &str| {
        content
            .pages
            .iter()
            .any(|p| p.name == name && p.lang.as_deref().is_some_and(|l| suffixes.contains(&l)))
    };
    let mut pages: Vec<&str> = content
        .pages
        .iter()
        .map(|p| p.name.as_str())
        .filter(|name| !in_language(name))
        .collect();
    pages.sort_unstable();
    pages.dedup();
    if !pages.is_empty() {
        warnings.push(format!(
            "site.language {}: the {} page{} English (add content/pages/<page>.{}.md)",
            config.site.language,
            pages.join(", "),
            if pages.len() == 1 { " is" } else { "s are" },
            lang.primary
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_hosts_are_placeholders() {
        for h in [
            "pages.example.com",
            "a.example",
            "localhost",
            "127.0.0.1",
            "x.test",
        ] {
            assert!(placeholder_host(h), "{h}");
        }
        for h in ["pages.agency.com", "example.co.uk", "myexample.com"] {
            assert!(!placeholder_host(h), "{h}");
        }
    }
}
