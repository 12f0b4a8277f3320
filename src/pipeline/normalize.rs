//! Normalize: trimmed text, ISO country codes, E.164 phones, absolute canonical URLs, lower-case
//! valid emails, and a stable `dedup_key`. A value that cannot be normalized is left as it was
//! and reported as an [`Issue`] for Validate.

use serde_yaml_ng::Value;

use super::contract::Contract;
use super::{Issue, Record, RejectReason};
use crate::error::ContractViolation;
use crate::lead::value::{
    canonical_email, canonical_url, country_code, phone_e164, plus_code_street,
};
use crate::lead::{Address, Lead};
use crate::text::{clean_lines, clean_text, slug};

pub const CONTRACT: Contract = Contract {
    stage: "normalize",
    writes: &[
        "dedup_key",
        "name",
        "category",
        "address",
        "phone",
        "website",
        "email",
        "timezone",
        "description",
        "other_emails",
        "invalid_emails",
    ],
};

/// Settings for Normalize.
#[derive(Debug, Clone)]
pub struct Options {
    /// Region for phones of leads whose address has no country.
    pub default_region: String,
}

/// Normalizes every record in parallel; the contract is checked on each lead.
pub fn run(records: Vec<Record>, opts: &Options) -> Result<Vec<Record>, ContractViolation> {
    CONTRACT.map(records, |r| normalize_record(r, opts))
}

pub fn normalize_record(mut rec: Record, opts: &Options) -> Record {
    let lead = &mut rec.lead;
    lead.name = clean_text(&lead.name);
    for f in [&mut lead.category, &mut lead.timezone] {
        if let Some(s) = f.as_mut() {
            *s = clean_text(s);
        }
    }
    for f in [&mut lead.description, &mut lead.about] {
        if let Some(s) = f.as_mut() {
            *s = clean_lines(s);
        }
    }
    trim_opt(&mut lead.category);
    trim_opt(&mut lead.description);
    trim_opt(&mut lead.about);
    trim_opt(&mut lead.timezone);
    if let Some(addr) = lead.address.as_mut() {
        normalize_address(addr);
    }
    if lead.address.as_ref().is_some_and(Address::is_empty) {
        lead.address = None;
    }
    let region = lead
        .country()
        .and_then(country_code)
        .unwrap_or_else(|| opts.default_region.to_ascii_uppercase());
    if let Some(raw) = lead.phone.take() {
        match phone_e164(&raw, &region) {
            Some(p) => lead.phone = Some(p),
            None if raw.trim().is_empty() => {}
            None => {
                rec.issues.push(Issue::new(
                    RejectReason::InvalidPhone,
                    "phone",
                    raw.as_str(),
                ));
                lead.phone = Some(raw);
            }
        }
    }
    if let Some(raw) = lead.website.take() {
        match canonical_url(&raw) {
            Some(u) => lead.website = Some(u),
            None if raw.trim().is_empty() => {}
            None => {
                rec.issues.push(Issue::new(
                    RejectReason::InvalidWebsite,
                    "website",
                    raw.as_str(),
                ));
                lead.website = Some(raw);
            }
        }
    }
    if let Some(raw) = lead.email.take() {
        normalize_emails(lead, &raw, &mut rec.issues);
    }
    if rec.lead.dedup_key.trim().is_empty() {
        rec.lead.dedup_key = make_key(&rec.lead);
    } else {
        rec.lead.dedup_key = rec.lead.dedup_key.trim().to_string();
    }
    rec
}

fn normalize_address(a: &mut Address) {
    for f in [
        &mut a.street,
        &mut a.city,
        &mut a.region,
        &mut a.postal_code,
    ] {
        if let Some(s) = f.as_mut() {
            *s = clean_text(s);
        }
        if f.as_deref() == Some("") {
            *f = None;
        }
    }
    // A Plus Code ("2CPF+GQF", "25G9+8H Plano, Texas") is where Google has no street: not a
    // street. "29RV+9MW, E713" (the scraper's "code, street") keeps the street after it.
    if let Some(street) = a.street.as_deref().and_then(plus_code_street) {
        let field = std::mem::replace(&mut a.street, street).unwrap_or_default();
        // The code alone when a street follows it; with the place name Google gives after it.
        let code = match &a.street {
            Some(_) => field
                .split([',', ' '])
                .next()
                .unwrap_or_default()
                .to_string(),
            None => field,
        };
        if !a.extra.contains_key("plus_code") {
            a.extra.insert("plus_code", code.into());
        }
    }
    if let Some(c) = a.country.take() {
        let c = c.trim();
        if !c.is_empty() {
            a.country = Some(country_code(c).unwrap_or_else(|| c.to_string()));
        }
    }
    if a.country.as_deref().is_none_or(|c| c == "US") {
        if let Some(code) = a.region.as_deref().and_then(us_state_code) {
            a.region = Some(code.to_string());
        }
    }
}

/// US states are written both ways (`Texas`, `TX`); keys and routing want one.
fn us_state_code(name: &str) -> Option<&'static str> {
    const STATES: &[(&str, &str)] = &[
        ("AL", "alabama"),
        ("AK", "alaska"),
        ("AZ", "arizona"),
        ("AR", "arkansas"),
        ("CA", "california"),
        ("CO", "colorado"),
        ("CT", "connecticut"),
        ("DE", "delaware"),
        ("DC", "district of columbia"),
        ("FL", "florida"),
        ("GA", "georgia"),
        ("HI", "hawaii"),
        ("ID", "idaho"),
        ("IL", "illinois"),
        ("IN", "indiana"),
        ("IA", "iowa"),
        ("KS", "kansas"),
        ("KY", "kentucky"),
        ("LA", "louisiana"),
        ("ME", "maine"),
        ("MD", "maryland"),
        ("MA", "massachusetts"),
        ("MI", "michigan"),
        ("MN", "minnesota"),
        ("MS", "mississippi"),
        ("MO", "missouri"),
        ("MT", "montana"),
        ("NE", "nebraska"),
        ("NV", "nevada"),
        ("NH", "new hampshire"),
        ("NJ", "new jersey"),
        ("NM", "new mexico"),
        ("NY", "new york"),
        ("NC", "north carolina"),
        ("ND", "north dakota"),
        ("OH", "ohio"),
        ("OK", "oklahoma"),
        ("OR", "oregon"),
        ("PA", "pennsylvania"),
        ("RI", "rhode island"),
        ("SC", "south carolina"),
        ("SD", "south dakota"),
        ("TN", "tennessee"),
        ("TX", "texas"),
        ("UT", "utah"),
        ("VT", "vermont"),
        ("VA", "virginia"),
        ("WA", "washington"),
        ("WV", "west virginia"),
        ("WI", "wisconsin"),
        ("WY", "wyoming"),
    ];
    let lower = name.trim().to_lowercase();
    STATES
        .iter()
        .find(|(code, full)| *full == lower || code.eq_ignore_ascii_case(&lower))
        .map(|(code, _)| *code)
}

/// The first valid address becomes `email`; further valid ones go to `other_emails`, and invalid
/// ones, when a valid one exists, to `invalid_emails`, so nothing is lost.
fn normalize_emails(lead: &mut Lead, raw: &str, issues: &mut Vec<Issue>) {
    let mut valid: Vec<String> = Vec::new();
    let mut invalid = Vec::new();
    for part in raw
        .split([',', ';', ' ', '\n', '\t'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match canonical_email(part) {
            Some(e) if !valid.contains(&e) => valid.push(e),
            Some(_) => {}
            None => invalid.push(part.to_string()),
        }
    }
    if valid.is_empty() {
        if !invalid.is_empty() {
            issues.push(Issue::new(RejectReason::InvalidEmail, "email", raw.trim()));
            lead.email = Some(raw.trim().to_string());
        }
        return;
    }
    lead.email = Some(valid.remove(0));
    let list = |v: Vec<String>| Value::Sequence(v.into_iter().map(Value::String).collect());
    if !valid.is_empty() {
        lead.extra.insert("other_emails", list(valid));
    }
    if !invalid.is_empty() {
        lead.extra.insert("invalid_emails", list(invalid));
    }
}

fn trim_opt(v: &mut Option<String>) {
    if let Some(s) = v.as_mut() {
        let t = s.trim();
        if t.is_empty() {
            *v = None;
        } else if t.len() != s.len() {
            *s = t.to_string();
        }
    }
}

/// The longest key is cut at a word boundary below this.
const MAX_KEY: usize = 80;

/// A stable key from what identifies a business: name, then city and region (else postal code,
/// else the source id).
pub fn make_key(lead: &Lead) -> String {
    let addr = lead.address.as_ref();
    let place = [
        addr.and_then(|a| a.city.as_deref()),
        addr.and_then(|a| a.region.as_deref()),
    ];
    let mut parts: Vec<String> = vec![slug(&lead.name)];
    if place.iter().any(Option::is_some) {
        parts.extend(place.iter().flatten().map(|s| slug(s)));
    } else if let Some(pc) = addr.and_then(|a| a.postal_code.as_deref()) {
        parts.push(slug(pc));
    } else if let Some(id) = lead.source.as_ref().and_then(|s| s.id.as_deref()) {
        parts.push(slug(id));
    }
    let key = join_key(&parts);
    // `nul`, `con` … cannot be file names on Windows: the key says it is a business.
    if crate::lead::is_reserved_name(&key) {
        return format!("{key}-business");
    }
    key
}

/// Joins slugs with `-`, drops empty ones, and cuts the result to [`MAX_KEY`] at a hyphen.
pub fn join_key(parts: &[String]) -> String {
    let key = parts
        .iter()
        .filter(|p| !p.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join("-");
    if key.len() <= MAX_KEY {
        return key;
    }
    let cut = &key[..MAX_KEY];
    cut[..cut.rfind('-').unwrap_or(MAX_KEY)]
        .trim_end_matches('-')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn windows_device_names_are_never_keys() {
        let lead = |name: &str| Lead {
            name: name.into(),
            ..Lead::default()
        };
        assert_eq!(make_key(&lead("NUL")), "nul-business");
        assert_eq!(make_key(&lead("Com1")), "com1-business");
        assert_eq!(make_key(&lead("Console")), "console");
        assert!(!crate::lead::is_valid_key("con") && !crate::lead::is_valid_key("lpt9"));
        assert!(crate::lead::is_valid_key("com") && crate::lead::is_valid_key("com10"));
    }

    #[test]
    fn keys_are_slugs_of_name_and_place() {
        let lead = Lead {
            name: "Shami’s Restaurant & Grill".into(),
            address: Some(Address {
                city: Some("Plano".into()),
                region: Some("Texas".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(make_key(&lead), "shamis-restaurant-grill-plano-texas");
        let mut rec = Record::new(0, Default::default(), lead);
        rec = normalize_record(
            rec,
            &Options {
                default_region: "US".into(),
            },
        );
        assert_eq!(rec.lead.dedup_key, "shamis-restaurant-grill-plano-tx");
        assert_eq!(slug("Café Zürich"), "cafe-zurich");
        let long = join_key(&["a".repeat(50), "b".repeat(50)]);
        assert!(
            long.len() <= MAX_KEY && crate::lead::is_valid_key(&long),
            "{long}"
        );
    }

    #[test]
    fn several_emails_keep_every_value() {
        let mut rec = Record::new(
            0,
            Default::default(),
            Lead {
                name: "A".into(),
                email: Some("A@x.example, junk, b@y.example".into()),
                ..Default::default()
            },
        );
        rec = normalize_record(
            rec,
            &Options {
                default_region: "US".into(),
            },
        );
        assert_eq!(rec.lead.email.as_deref(), Some("a@x.example"));
        assert!(rec.issues.is_empty());
        assert_eq!(
            rec.lead.extra.get("other_emails").map(Cow::into_owned),
            Some(Value::Sequence(vec![Value::String("b@y.example".into())]))
        );
        assert_eq!(
            rec.lead.extra.get("invalid_emails").map(Cow::into_owned),
            Some(Value::Sequence(vec![Value::String("junk".into())]))
        );
    }
}
