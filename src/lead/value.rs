//! The canonical form of a lead's values: ISO country codes, E.164 phones, canonical URLs and
//! emails, Plus Codes recognised. Normalize applies them; the config checks its own values
//! with them.

/// An ISO 3166-1 alpha-2 code for a code or a common English country name.
pub fn country_code(raw: &str) -> Option<String> {
    let t = raw.trim();
    let upper = t.to_uppercase();
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
        "CYPRUS" | "ΚΎΠΡΟΣ" | "ΚΥΠΡΟΣ" | "KIBRIS" => "CY",
        "GREECE" | "ΕΛΛΆΔΑ" | "ΕΛΛΑΔΑ" | "ΕΛΛΆΣ" => "GR",
        "TURKEY" | "TÜRKIYE" | "TURKIYE" => "TR",
        "POLAND" | "POLSKA" => "PL",
        "CZECHIA" | "CZECH REPUBLIC" | "ČESKO" => "CZ",
        "DENMARK" | "DANMARK" => "DK",
        "SWEDEN" | "SVERIGE" => "SE",
        "NORWAY" | "NORGE" => "NO",
        "FINLAND" | "SUOMI" => "FI",
        "HUNGARY" | "MAGYARORSZÁG" => "HU",
        "ROMANIA" | "ROMÂNIA" => "RO",
        "BULGARIA" | "БЪЛГАРИЯ" => "BG",
        "CROATIA" | "HRVATSKA" => "HR",
        "SLOVENIA" | "SLOVENIJA" => "SI",
        "SLOVAKIA" | "SLOVENSKO" => "SK",
        "LUXEMBOURG" => "LU",
        "MALTA" => "MT",
        "ICELAND" | "ÍSLAND" => "IS",
        "ESTONIA" | "EESTI" => "EE",
        "LATVIA" | "LATVIJA" => "LV",
        "LITHUANIA" | "LIETUVA" => "LT",
        "JAPAN" => "JP",
        "SOUTH AFRICA" => "ZA",
        "ARGENTINA" => "AR",
        "CHILE" => "CL",
        "COLOMBIA" => "CO",
        "UNITED ARAB EMIRATES" | "UAE" => "AE",
        "ISRAEL" => "IL",
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

/// The host of a URL, lower-case, without a trailing dot (`Shop.Example.` → `shop.example`).
pub fn url_host(url: &str) -> Option<String> {
    Some(
        url::Url::parse(url.trim())
            .ok()?
            .host_str()?
            .trim_end_matches('.')
            .to_ascii_lowercase(),
    )
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

/// A Google Plus Code, alone or followed by a place name: `2CPF+GQF`, `25G9+8H Plano, Texas`,
/// or set off by a comma before a street: `29RV+9MW, E713`.
pub fn is_plus_code(s: &str) -> bool {
    plus_code_street(s).is_some()
}

/// A street field that starts with a Plus Code: the street it names after the code, if any.
/// google-maps-scraper writes "CODE, street" (`29RR+CPC, Λεοφόρος Ακάμαντος` → the avenue);
/// Google's own "CODE Place, Region" (`25G9+8H Plano, Texas`) names a place, not a street.
/// `None` when the field does not start with a Plus Code.
pub fn plus_code_street(s: &str) -> Option<Option<String>> {
    const ALPHABET: &str = "23456789CFGHJMPQRVWX";
    let s = s.trim();
    let first = s.split_whitespace().next().unwrap_or("");
    let code = first.trim_end_matches(',');
    let (head, tail) = code.split_once('+')?;
    let is_code = (2..=8).contains(&head.len())
        && head.len().is_multiple_of(2)
        && tail.len() <= 3
        && head
            .chars()
            .chain(tail.chars())
            .all(|c| ALPHABET.contains(c.to_ascii_uppercase()));
    if !is_code {
        return None;
    }
    let rest = s[first.len()..].trim();
    let street = (first.ends_with(',') || rest.starts_with(','))
        .then(|| rest.trim_start_matches(',').trim().to_string())
        .filter(|r| !r.is_empty());
    Some(street)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_codes_are_not_streets() {
        for s in [
            "2CPF+GQF",
            "25G9+8H Plano, Texas",
            "8FVC9G8F+6W",
            "29RV+9MW, E713",
        ] {
            assert!(is_plus_code(s), "{s}");
        }
        assert_eq!(plus_code_street("25G9+8H Plano, Texas"), Some(None));
        assert_eq!(
            plus_code_street("29RR+CPC, Λεοφόρος Ακάμαντος"),
            Some(Some("Λεοφόρος Ακάμαντος".to_string()))
        );
        assert_eq!(
            plus_code_street("29QX+RP4 , E713"),
            Some(Some("E713".to_string()))
        );
        assert_eq!(plus_code_street("29QX+R3V"), Some(None));
        assert_eq!(plus_code_street("12 Main St"), None);
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
    fn country_names_become_codes() {
        assert_eq!(country_code("United Kingdom").as_deref(), Some("GB"));
        assert_eq!(country_code("us").as_deref(), Some("US"));
        assert_eq!(country_code("Narnia"), None);
    }
}
