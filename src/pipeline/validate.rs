//! Validate: a row becomes a lead only if it names the business, says where it is, and every
//! value it gives is usable. Each rejected row keeps every reason, for the rejects report.

use rayon::prelude::*;

use super::{Issue, Record, RejectReason};
use crate::error::Location;
use crate::lead::value::{canonical_email, canonical_url, phone_e164};
use crate::lead::{is_valid_key, Lead};

// Validate has no contract to check: it writes nothing, seeing each record only by shared
// reference, and passes it on or rejects it whole.

/// A row that did not become a lead, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    pub origin: Location,
    pub name: String,
    pub issues: Vec<Issue>,
}

/// Splits normalized records into valid ones and rejects. Phones, websites and emails were
/// checked by Normalize when it parsed them (its issues are kept); the rest is checked here.
pub fn run(records: Vec<Record>) -> (Vec<Record>, Vec<Reject>) {
    let verdicts: Vec<Vec<Issue>> = records
        .par_iter()
        .map(|r| verdict(r, Depth::Structure))
        .collect();
    let mut valid = Vec::with_capacity(records.len());
    let mut rejects = Vec::new();
    for (rec, issues) in records.into_iter().zip(verdicts) {
        if issues.is_empty() {
            valid.push(rec);
        } else {
            rejects.push(Reject {
                origin: rec.origin,
                name: rec.lead.name,
                issues,
            });
        }
    }
    (valid, rejects)
}

fn verdict(rec: &Record, depth: Depth) -> Vec<Issue> {
    let mut issues = rec.issues.clone();
    for p in problems(&rec.lead, depth) {
        if !issues.iter().any(|i| i.reason == p.reason) {
            issues.push(p);
        }
    }
    issues.sort_by_key(|i| i.reason);
    issues
}

/// How deep [`problems`] looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Names, places, numbers and keys; not phones, websites and emails (Normalize parsed those).
    Structure,
    /// Everything, phones, websites and emails parsed again: for lead files written by hand.
    Full,
}

/// Every problem of one lead, as a routed lead must not have them.
pub fn problems(lead: &Lead, depth: Depth) -> Vec<Issue> {
    let mut out = Vec::new();
    let mut bad = |reason, field, value: &str| out.push(Issue::new(reason, field, value));
    if lead.name.trim().is_empty() {
        bad(RejectReason::MissingName, "name", "");
    }
    let has_place = lead.has_field("address.street")
        || lead.has_field("address.city")
        || lead.has_field("address.postal_code");
    if !has_place && lead.location.is_none() {
        bad(RejectReason::NoLocation, "address", "");
    }
    if let Some(loc) = &lead.location {
        let ok = loc.lat.is_finite()
            && loc.lng.is_finite()
            && (-90.0..=90.0).contains(&loc.lat)
            && (-180.0..=180.0).contains(&loc.lng)
            && !(loc.lat == 0.0 && loc.lng == 0.0);
        if !ok {
            bad(
                RejectReason::InvalidCoordinates,
                "location",
                &format!("{}, {}", loc.lat, loc.lng),
            );
        }
    }
    if let Some(r) = lead.rating {
        if !(r.is_finite() && (0.0..=5.0).contains(&r)) {
            bad(RejectReason::InvalidRating, "rating", &r.to_string());
        }
    }
    if !lead.dedup_key.is_empty() && !is_valid_key(&lead.dedup_key) {
        bad(RejectReason::InvalidDedupKey, "dedup_key", &lead.dedup_key);
    }
    if depth == Depth::Full {
        contact_problems(lead, &mut bad);
    }
    out
}

/// Phones, websites and emails that are not in their normal form, and a time zone that is not
/// an IANA name (the send window would silently fall back to the config's).
fn contact_problems(lead: &Lead, bad: &mut impl FnMut(RejectReason, &'static str, &str)) {
    if let Some(tz) = lead.timezone.as_deref() {
        if tz.parse::<chrono_tz::Tz>().is_err() {
            bad(RejectReason::InvalidTimezone, "timezone", tz);
        }
    }
    if let Some(p) = lead.phone.as_deref() {
        let e164 = p.starts_with('+') && phone_e164(p, "US").as_deref() == Some(p);
        if !e164 {
            bad(RejectReason::InvalidPhone, "phone", p);
        }
    }
    if let Some(w) = lead.website.as_deref() {
        if !w.contains("://") || canonical_url(w).is_none() {
            bad(RejectReason::InvalidWebsite, "website", w);
        }
    }
    if let Some(e) = lead.email.as_deref() {
        if canonical_email(e).as_deref() != Some(e) {
            bad(RejectReason::InvalidEmail, "email", e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::{Address, GeoPoint as Geo};

    fn good() -> Lead {
        Lead {
            dedup_key: "a-b".into(),
            name: "A".into(),
            address: Some(Address {
                city: Some("Plano".into()),
                ..Default::default()
            }),
            phone: Some("+14692872159".into()),
            website: Some("https://a.example/".into()),
            email: Some("a@a.example".into()),
            rating: Some(4.5),
            ..Default::default()
        }
    }

    #[test]
    fn a_good_lead_has_no_problems() {
        assert_eq!(problems(&good(), Depth::Full), vec![]);
    }

    #[test]
    fn each_reason_is_found() {
        type Case = (fn(&mut Lead), RejectReason);
        let cases: Vec<Case> = vec![
            (|l| l.name = " ".into(), RejectReason::MissingName),
            (|l| l.address = None, RejectReason::NoLocation),
            (
                |l| {
                    l.location = Some(Geo {
                        lat: 91.0,
                        lng: 0.0,
                        ..Default::default()
                    })
                },
                RejectReason::InvalidCoordinates,
            ),
            (|l| l.rating = Some(7.0), RejectReason::InvalidRating),
            (
                |l| l.dedup_key = "../x".into(),
                RejectReason::InvalidDedupKey,
            ),
            (
                |l| l.phone = Some("469 287".into()),
                RejectReason::InvalidPhone,
            ),
            (
                |l| l.website = Some("acme".into()),
                RejectReason::InvalidWebsite,
            ),
            (|l| l.email = Some("A@x".into()), RejectReason::InvalidEmail),
            (
                |l| l.timezone = Some("Mars/Olympus".into()),
                RejectReason::InvalidTimezone,
            ),
        ];
        for (break_it, reason) in cases {
            let mut l = good();
            break_it(&mut l);
            let found: Vec<_> = problems(&l, Depth::Full).iter().map(|i| i.reason).collect();
            assert_eq!(found, vec![reason]);
        }
    }

    #[test]
    fn run_keeps_the_good_and_reports_every_reason_of_the_bad() {
        let mut bad = good();
        bad.name = String::new();
        bad.rating = Some(-1.0);
        let (valid, rejects) = run(vec![
            Record::new(0, Default::default(), good()),
            Record::new(1, Default::default(), bad),
        ]);
        assert_eq!(valid.len(), 1);
        let reasons: Vec<_> = rejects[0].issues.iter().map(|i| i.reason).collect();
        assert_eq!(
            reasons,
            [RejectReason::MissingName, RejectReason::InvalidRating]
        );
    }
}
