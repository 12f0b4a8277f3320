//! One-line addresses as scrapers give them ("12 Main St, Springfield, IL 62701, United States")
//! split into street, city, region, postal code and country.

use crate::lead::Address;

/// Splits `8549 Gaylord Pkwy #111, Frisco, TX 75034[, United States]` (and `Hauptstr. 5, 10115
/// Berlin`, `14 George St, Edinburgh EH2 2PF`) into its parts. A line of one part stays whole in
/// `street`, so nothing is lost.
pub fn parse_address_line(line: &str) -> Address {
    let mut parts: Vec<&str> = line
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut a = Address::default();
    // A last part that names a country (`USA`, `Germany`); a two-letter one is more often a
    // state (`IL` is Illinois here, not Israel).
    if parts.len() > 1 && parts[parts.len() - 1].chars().count() > 2 {
        if let Some(cc) = crate::lead::value::country_code(parts[parts.len() - 1]) {
            a.country = Some(cc);
            parts.pop();
        }
    }
    if parts.len() < 2 {
        a.street = Some(parts.first().copied().unwrap_or(line).trim().to_string());
        return a;
    }
    let last = parts.pop().unwrap_or_default();
    let words: Vec<&str> = last.split_whitespace().collect();
    let has_digit = |w: &&str| w.chars().any(|c| c.is_ascii_digit());
    let lead_names = words.iter().take_while(|w| !has_digit(w)).count();
    let lead_codes = words.iter().take_while(|w| has_digit(w)).count();
    // What is left before `last` is the street, and the city when there are two parts or more.
    let is_region_code =
        |s: &str| (2..=3).contains(&s.len()) && s.chars().all(|c| c.is_ascii_uppercase());
    let place = |name: String, a: &mut Address, parts: &mut Vec<&str>| {
        if parts.len() >= 2 || is_region_code(&name) {
            a.region = Some(name);
            a.city = parts.pop().map(str::to_string);
        } else {
            a.city = Some(name);
        }
    };
    if lead_names > 0 && lead_names < words.len() && words[lead_names..].iter().all(has_digit) {
        a.postal_code = Some(words[lead_names..].join(" "));
        place(words[..lead_names].join(" "), &mut a, &mut parts);
    } else if lead_codes > 0 && lead_codes < words.len() {
        a.postal_code = Some(words[..lead_codes].join(" "));
        a.city = Some(words[lead_codes..].join(" "));
    } else {
        place(last.to_string(), &mut a, &mut parts);
    }
    if !parts.is_empty() {
        a.street = Some(parts.join(", "));
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_address_lines_are_split() {
        let a = parse_address_line("8549 Gaylord Pkwy #111, Frisco, TX 75034");
        assert_eq!(
            (
                a.street.as_deref(),
                a.city.as_deref(),
                a.region.as_deref(),
                a.postal_code.as_deref()
            ),
            (
                Some("8549 Gaylord Pkwy #111"),
                Some("Frisco"),
                Some("TX"),
                Some("75034")
            )
        );
        let a = parse_address_line("Hauptstr. 5, 10115 Berlin, Germany");
        assert_eq!(
            (
                a.street.as_deref(),
                a.city.as_deref(),
                a.postal_code.as_deref(),
                a.country.as_deref()
            ),
            (
                Some("Hauptstr. 5"),
                Some("Berlin"),
                Some("10115"),
                Some("DE")
            )
        );
        let a = parse_address_line("14 George St, Edinburgh EH2 2PF");
        assert_eq!(
            (a.city.as_deref(), a.postal_code.as_deref(), a.region),
            (Some("Edinburgh"), Some("EH2 2PF"), None)
        );
        let a = parse_address_line("Springfield, IL");
        assert_eq!(
            (a.street, a.city.as_deref(), a.region.as_deref(), a.country),
            (None, Some("Springfield"), Some("IL"), None)
        );
        let a = parse_address_line("1 Main St, Springfield, IL");
        assert_eq!(
            (a.street.as_deref(), a.city.as_deref(), a.region.as_deref()),
            (Some("1 Main St"), Some("Springfield"), Some("IL"))
        );
        let a = parse_address_line("somewhere odd");
        assert_eq!(a.street.as_deref(), Some("somewhere odd"));
    }
}
