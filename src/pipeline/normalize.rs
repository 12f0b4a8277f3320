//! Normalize: trimmed text, ISO country codes, E.164 phones, absolute canonical URLs, lower-case
//! valid emails, and a stable `dedup_key`. A value that cannot be normalized is left as it was
//! and reported as an [`Issue`] for Validate.

use serde_yaml_ng::Value;

use super::contract::Contract;
use super::{Issue, Record, RejectReason};
use crate::error::ContractViolation;
use crate::lead::{Address, Lead};

pub const CONTRACT: Contract = Contract {
    stage: "normalize",
    input: "raw_leads",
    output: "normalized_leads",
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
    // A Plus Code ("2CPF+GQF", "25G9+8H Plano, Texas") is where Google has no street: not a street.
    if a.street.as_deref().is_some_and(is_plus_code) {
        let code = a.street.take().unwrap_or_default();
        a.extra
            .entry("plus_code".into())
            .or_insert_with(|| code.into());
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
        lead.extra.insert("other_emails".into(), list(valid));
    }
    if !invalid.is_empty() {
        lead.extra.insert("invalid_emails".into(), list(invalid));
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

/// Characters that must never reach a page: control characters (NUL …), bidirectional
/// overrides and isolates (an unclosed U+202E mirrors the rest of the sentence it is in) and
/// other invisible format characters.
fn is_hidden(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r');
    }
    // Every control character but tab and line breaks (U+000B and U+0085 included: HTML forbids
    // them), noncharacters, tag characters, and the invisible format characters that are not
    // joiners (U+200C/U+200D shape emoji and Persian words).
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r' | ' '))
        || matches!(c,
            '\u{200b}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}' | '\u{061c}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}'
            | '\u{fdd0}'..='\u{fdef}' | '\u{e0000}'..='\u{e007f}')
        || (c as u32 & 0xfffe) == 0xfffe
}

/// `text` cut to at most `max` bytes, at a character boundary.
pub fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Whether [`clean_text`] leaves `s` as it is (checked without building a new string).
pub fn is_clean_text(s: &str) -> bool {
    s.trim().len() == s.len()
        && !s.contains("  ")
        && !s
            .chars()
            .any(|c| is_hidden(c) || (c.is_whitespace() && c != ' '))
}

/// Whether [`clean_lines`] leaves `s` as it is.
pub fn is_clean_lines(s: &str) -> bool {
    !s.contains('\r') && !s.chars().any(is_hidden)
}

/// One line of text from data: hidden characters removed, white space folded.
pub fn clean_text(s: &str) -> String {
    if !s.chars().any(is_hidden) {
        if !s.contains(|c: char| c.is_whitespace() && c != ' ')
            && !s.contains("  ")
            && s.trim().len() == s.len()
        {
            return s.to_string();
        }
        return collapse_ws(s);
    }
    collapse_ws(&s.chars().filter(|c| !is_hidden(*c)).collect::<String>())
}

/// Text of several lines from data: hidden characters removed, line breaks kept.
pub fn clean_lines(s: &str) -> String {
    if !s.contains('\r') && !s.chars().any(is_hidden) {
        return s.to_string();
    }
    s.replace("\r\n", "\n")
        .chars()
        .filter(|c| *c == '\n' || *c == '\t' || !is_hidden(*c))
        .collect()
}

/// A Google Plus Code, alone or followed by a place name: `2CPF+GQF`, `25G9+8H Plano, Texas`.
pub fn is_plus_code(s: &str) -> bool {
    const ALPHABET: &str = "23456789CFGHJMPQRVWX";
    let first = s.split_whitespace().next().unwrap_or("");
    let Some((head, tail)) = first.split_once('+') else {
        return false;
    };
    (2..=8).contains(&head.len())
        && head.len().is_multiple_of(2)
        && tail.len() <= 3
        && head
            .chars()
            .chain(tail.chars())
            .all(|c| ALPHABET.contains(c.to_ascii_uppercase()))
}

/// Trims and folds runs of white space into one space.
pub fn collapse_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// An ISO 3166-1 alpha-2 code for a code or a common English country name.
pub fn country_code(raw: &str) -> Option<String> {
    let t = raw.trim();
    let upper = t.to_ascii_uppercase();
    let named = match upper.as_str() {
        "USA" | "UNITED STATES" | "UNITED STATES OF AMERICA" | "U.S." | "U.S.A." => "US",
        "UK" | "UNITED KINGDOM" | "GREAT BRITAIN" | "ENGLAND" | "SCOTLAND" | "WALES"
        | "NORTHERN IRELAND" => "GB",
        "CANADA" => "CA",
        "AUSTRALIA" => "AU",
        "NEW ZEALAND" => "NZ",
        "IRELAND" => "IE",
        "GERMANY" | "DEUTSCHLAND" => "DE",
        "AUSTRIA" | "ÖSTERREICH" => "AT",
        "SWITZERLAND" | "SCHWEIZ" | "SUISSE" => "CH",
        "FRANCE" => "FR",
        "SPAIN" | "ESPAÑA" => "ES",
        "ITALY" | "ITALIA" => "IT",
        "NETHERLANDS" | "NEDERLAND" => "NL",
        "BELGIUM" | "BELGIË" | "BELGIQUE" => "BE",
        "PORTUGAL" => "PT",
        "MEXICO" | "MÉXICO" => "MX",
        "BRAZIL" | "BRASIL" => "BR",
        "INDIA" => "IN",
        "SINGAPORE" => "SG",
        _ => upper.as_str(),
    };
    let ok = named.len() == 2 && named.parse::<phonenumber::country::Id>().is_ok();
    ok.then(|| named.to_string())
}

/// A phone number in E.164, read in `region` unless it says its own country code.
pub fn phone_e164(raw: &str, region: &str) -> Option<String> {
    let t = raw.trim();
    if t.is_empty()
        || t.chars()
            .any(|c| c.is_alphabetic() && !matches!(c, 'x' | 'X' | 'e' | 'E'))
    {
        return None;
    }
    // The library mishandles an international `00` prefix; say it with `+` instead.
    let fixed;
    let t = match t.strip_prefix("00") {
        Some(rest) if !rest.starts_with('0') => {
            fixed = format!("+{rest}");
            fixed.as_str()
        }
        _ => t,
    };
    // With a region, the library reads `+44 …` as a number of that region: an international
    // number is parsed on its own.
    let id = if t.starts_with('+') {
        None
    } else {
        region.parse::<phonenumber::country::Id>().ok()
    };
    let number = phonenumber::parse(id, t).ok()?;
    phonenumber::is_valid(&number)
        .then(|| number.format().mode(phonenumber::Mode::E164).to_string())
}

/// An absolute, canonical http(s) URL: scheme added when missing, host lower-case, default port
/// and fragment dropped, tracking parameters (`utm_*`, `gclid`, `fbclid`) removed.
pub fn canonical_url(raw: &str) -> Option<String> {
    let t = raw.trim();
    if t.is_empty() || t.contains(char::is_whitespace) {
        return None;
    }
    let with_scheme = if t.contains("://") {
        t.to_string()
    } else {
        format!("http://{}", t.trim_start_matches("//"))
    };
    let mut url = url::Url::parse(&with_scheme).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    // A link wrapped by a search engine or a social network leads to its target.
    if let Some(target) = unwrap_redirect(&url) {
        return canonical_url(&target);
    }
    // Credentials never belong in a link that is published.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let host = url.host_str()?.trim_end_matches('.').to_string();
    if !host.contains('.') || host.starts_with('.') || host.contains("..") {
        return None;
    }
    url.set_fragment(None);
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| {
            !(k.starts_with("utm_") || matches!(k.as_ref(), "gclid" | "fbclid" | "msclkid"))
        })
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else if url.query().is_some() {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    Some(url.to_string())
}

/// The target of a redirect link: Google's `/url?q=`, Facebook's `l.php?u=`, and the like.
fn unwrap_redirect(url: &url::Url) -> Option<String> {
    let host = url.host_str()?.trim_start_matches("www.");
    let param = match (host, url.path()) {
        (h, "/url") if h.starts_with("google.") => "q",
        ("l.facebook.com" | "lm.facebook.com" | "l.instagram.com", "/l.php" | "/") => "u",
        _ => return None,
    };
    let target = url
        .query_pairs()
        .find(|(k, _)| k == param || (param == "q" && k == "url"))
        .map(|(_, v)| v.into_owned())?;
    target.starts_with("http").then_some(target)
}

/// A lower-case email address if it is valid and its domain has a dot.
pub fn canonical_email(raw: &str) -> Option<String> {
    let t = raw.trim().trim_start_matches("mailto:").trim();
    let t = t.split('?').next().unwrap_or(t).to_lowercase();
    let parsed: email_address::EmailAddress = t.parse().ok()?;
    let domain = parsed.domain();
    let ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.starts_with('[')
        && !IMAGE_SUFFIXES.iter().any(|s| domain.ends_with(s));
    ok.then_some(t)
}

/// Scrapers pick up `logo@2x.png` as an email address.
const IMAGE_SUFFIXES: &[&str] = &[".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"];

/// A URL-safe slug: ASCII, lower-case, `[a-z0-9-]`.
pub fn slug(s: &str) -> String {
    let ascii = deunicode::deunicode(s)
        .to_lowercase()
        .replace(['\'', '’'], "");
    let mut out = String::with_capacity(ascii.len());
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
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
    fn hidden_characters_never_reach_a_page() {
        assert_eq!(
            clean_text("Bob\u{202e}s \0Diner\u{2066}\u{feff}  x"),
            "Bobs Diner x"
        );
        assert_eq!(clean_lines("a\r\nb\u{202e}\0"), "a\nb");
        assert_eq!(
            clean_lines("A\u{b}B\u{85}C\u{fdd0}\u{fffe}\u{e0041}"),
            "ABC"
        );
        assert_eq!(
            clean_text("Chef \u{1f468}\u{200d}\u{1f373}"),
            "Chef \u{1f468}\u{200d}\u{1f373}"
        );
        assert_eq!(clean_text("Καφενείο  Ωραίο"), "Καφενείο Ωραίο");
        for sample in [
            "ok",
            " lead",
            "two  spaces",
            "tab\there",
            "Bob\u{202e}s",
            "Ωραίο",
            "a\u{85}b",
            "",
        ] {
            assert_eq!(
                is_clean_text(sample),
                clean_text(sample) == sample,
                "{sample:?}"
            );
            assert_eq!(
                is_clean_lines(sample),
                clean_lines(sample) == sample,
                "{sample:?}"
            );
        }
    }

    #[test]
    fn plus_codes_are_not_streets() {
        for s in ["2CPF+GQF", "25G9+8H Plano, Texas", "8FVC9G8F+6W"] {
            assert!(is_plus_code(s), "{s}");
        }
        for s in ["12 Main St", "Unit 4+5 Mill Lane", "C+C Plaza"] {
            assert!(!is_plus_code(s), "{s}");
        }
    }

    #[test]
    fn phones_become_e164() {
        assert_eq!(
            phone_e164("(469) 287-2159", "US").as_deref(),
            Some("+14692872159")
        );
        assert_eq!(
            phone_e164("+44 131 225 2023", "US").as_deref(),
            Some("+441312252023")
        );
        assert_eq!(
            phone_e164("0131 225 2023", "GB").as_deref(),
            Some("+441312252023")
        );
        assert_eq!(
            phone_e164("0044 131 225 2023", "US").as_deref(),
            Some("+441312252023")
        );
        assert_eq!(
            phone_e164("(217) 555-0134", "US").as_deref(),
            Some("+12175550134")
        );
        assert_eq!(
            phone_e164("97 754374", "NO").as_deref(),
            Some("+4797754374")
        );
        assert_eq!(phone_e164("call us", "US"), None);
        assert_eq!(phone_e164("123", "US"), None);
    }

    #[test]
    fn wrapped_links_lead_to_their_target_and_lose_credentials() {
        assert_eq!(
            canonical_url("https://www.google.com/url?q=https://real-site.com/&sa=U").as_deref(),
            Some("https://real-site.com/")
        );
        assert_eq!(
            canonical_url("https://l.facebook.com/l.php?u=https%3A%2F%2Fa9.com%2F&h=x").as_deref(),
            Some("https://a9.com/")
        );
        assert_eq!(
            canonical_url("https://user:pass@shop.example/x").as_deref(),
            Some("https://shop.example/x")
        );
    }

    #[test]
    fn urls_become_canonical() {
        assert_eq!(
            canonical_url("WWW.Acme.example").as_deref(),
            Some("http://www.acme.example/")
        );
        assert_eq!(
            canonical_url("https://aromabrunch.com/?utm_source=google&utm_medium=x").as_deref(),
            Some("https://aromabrunch.com/")
        );
        assert_eq!(
            canonical_url("https://a.example/menu?id=3&gclid=z#top").as_deref(),
            Some("https://a.example/menu?id=3")
        );
        assert_eq!(
            canonical_url("https://a.example:443/").as_deref(),
            Some("https://a.example/")
        );
        assert_eq!(canonical_url("ftp://a.example/"), None);
        assert_eq!(canonical_url("not a url"), None);
        assert_eq!(canonical_url("localhost"), None);
    }

    #[test]
    fn emails_are_lower_case_and_valid() {
        assert_eq!(
            canonical_email(" Info@Acme.Example ").as_deref(),
            Some("info@acme.example")
        );
        assert_eq!(
            canonical_email("mailto:a@b.example?subject=hi").as_deref(),
            Some("a@b.example")
        );
        assert_eq!(canonical_email("a@localhost"), None);
        assert_eq!(canonical_email("logo@2x.png"), None);
        assert_eq!(canonical_email("nope"), None);
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
            rec.lead.extra.get("other_emails"),
            Some(&Value::Sequence(vec![Value::String("b@y.example".into())]))
        );
        assert_eq!(
            rec.lead.extra.get("invalid_emails"),
            Some(&Value::Sequence(vec![Value::String("junk".into())]))
        );
    }

    #[test]
    fn country_names_become_codes() {
        assert_eq!(country_code("United Kingdom").as_deref(), Some("GB"));
        assert_eq!(country_code("us").as_deref(), Some("US"));
        assert_eq!(country_code("Narnia"), None);
    }
}
