//! LeadScoring: enriched_leads → scored_leads. Four scores in 0..1 —
//! completeness, confidence, category, size — a weighted total, `qualified` and `flags`, all in
//! `quality.*`. Every number comes with the reason it has, so `--explain` prints exactly what
//! the score was made from.

use std::fmt;

use super::contract::Contract;
use super::enrich::extract::on_own_domain;
use super::enrich::files::host_of;
use super::Record;
use crate::config::Scoring;
use crate::error::ContractViolation;
use crate::lead::{Accuracy, Lead, Quality};

pub const CONTRACT: Contract = Contract {
    stage: "LeadScoring",
    writes: &["quality"],
};

/// One part of the score.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub name: &'static str,
    pub value: f64,
    pub weight: f64,
    pub why: String,
}

/// How a lead's score was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub lead: String,
    pub parts: Vec<Part>,
    pub score: f64,
    pub threshold: f64,
    pub qualified: bool,
    pub flags: Vec<String>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.lead)?;
        let total: f64 = self.parts.iter().map(|p| p.weight).sum();
        for p in &self.parts {
            writeln!(
                f,
                "  {:<13} {:.2} × weight {:.2}  {}",
                p.name,
                p.value,
                p.weight / total,
                p.why
            )?;
        }
        writeln!(
            f,
            "  score         {:.3} (threshold {:.2}): {}",
            self.score,
            self.threshold,
            if self.qualified {
                "qualified"
            } else {
                "not qualified"
            }
        )?;
        if !self.flags.is_empty() {
            writeln!(f, "  flags         {}", self.flags.join(", "))?;
        }
        Ok(())
    }
}

/// Scores every lead that was enriched (the others have no `enrichment` and pass untouched).
pub fn run(records: Vec<Record>, cfg: &Scoring) -> Result<Vec<Record>, ContractViolation> {
    CONTRACT.map(records, |mut rec| {
        if rec.lead.enrichment.is_some() {
            let (quality, _) = score_lead(&rec.lead, cfg);
            rec.lead.quality = Some(Box::new(quality));
        }
        rec
    })
}

/// The lead's `quality` and how it was made.
pub fn score_lead(lead: &Lead, cfg: &Scoring) -> (Quality, Explanation) {
    let parts = vec![
        completeness(lead, cfg),
        confidence(lead, cfg),
        category(lead, cfg),
        size(lead, cfg),
    ];
    let total: f64 = parts.iter().map(|p| p.weight).sum();
    let score = if total > 0.0 {
        round(parts.iter().map(|p| p.value * p.weight).sum::<f64>() / total)
    } else {
        0.0
    };
    let value = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name)
            .map_or(0.0, |p| p.value)
    };
    let mut flags = Vec::new();
    if !reachable(lead) {
        flags.push("no_contact_channel".to_string());
    }
    if lead.contact_email().is_none() {
        flags.push("no_email".to_string());
    }
    if value("confidence") < 0.5 {
        flags.push("low_confidence".to_string());
    }
    if value("completeness") < 0.5 {
        flags.push("incomplete".to_string());
    }
    if value("category") < 1.0 {
        flags.push("off_target_industry".to_string());
    }
    let qualified = score >= cfg.threshold && reachable(lead);
    let mut quality = lead.quality.as_deref().cloned().unwrap_or_default();
    quality.completeness_score = Some(value("completeness"));
    quality.confidence_score = Some(value("confidence"));
    quality.category_score = Some(value("category"));
    quality.size_score = Some(value("size"));
    quality.score = Some(score);
    quality.qualified = Some(qualified);
    quality.flags = flags.clone();
    let explanation = Explanation {
        lead: lead.label().to_string(),
        parts,
        score,
        threshold: cfg.threshold,
        qualified,
        flags,
    };
    (quality, explanation)
}

fn round(v: f64) -> f64 {
    (v.clamp(0.0, 1.0) * 1000.0).round() / 1000.0
}

fn completeness(lead: &Lead, cfg: &Scoring) -> Part {
    let missing: Vec<&str> = cfg
        .required_fields
        .iter()
        .filter(|f| !lead.has_field(f))
        .map(String::as_str)
        .collect();
    let n = cfg.required_fields.len();
    let value = if n == 0 {
        1.0
    } else {
        round((n - missing.len()) as f64 / n as f64)
    };
    let why = if missing.is_empty() {
        format!("all {n} required fields present")
    } else {
        format!(
            "{} of {n} required fields; missing {}",
            n - missing.len(),
            missing.join(", ")
        )
    };
    Part {
        name: "completeness",
        value,
        weight: cfg.weights.completeness,
        why,
    }
}

fn reachable(lead: &Lead) -> bool {
    let e = lead.enrichment.as_deref();
    lead.phone.is_some() || lead.contact_email().is_some() || e.is_some_and(|e| e.phone.is_some())
}

/// Where an enrichment value came from, per `enrichment.sources`.
fn source_of<'a>(lead: &'a Lead, field: &str) -> Option<&'a str> {
    lead.enrichment.as_deref()?.sources.get(field)?.as_str()
}

/// How sure we are the business is where and who the data says: the geocode's precision, and
/// the best contact channel — confirmed on the business's own site beats a maps listing.
fn confidence(lead: &Lead, cfg: &Scoring) -> Part {
    let (geo, geo_why) = match &lead.location {
        None => (0.0, "no location"),
        Some(l) => match l.accuracy {
            Some(Accuracy::Rooftop) => (1.0, "rooftop geocode"),
            Some(Accuracy::Range) => (0.8, "range geocode"),
            Some(Accuracy::Centroid) => (0.5, "centroid geocode"),
            Some(Accuracy::Approximate) => (0.3, "approximate geocode"),
            None => (0.5, "geocode of unknown accuracy"),
        },
    };
    let e = lead.enrichment.as_deref();
    let from_site = |field: &str| source_of(lead, field).is_some_and(|s| s.starts_with("website:"));
    let from_files = |field: &str| source_of(lead, field).is_some_and(|s| s.starts_with("files:"));
    let phone = match (&lead.phone, e.and_then(|e| e.phone.as_ref())) {
        (Some(p), Some(q)) if p == q && from_site("phone") => {
            (1.0, "phone confirmed on its website")
        }
        (Some(_), _) => (0.6, "phone from the listing, not confirmed"),
        (None, Some(_)) if from_files("phone") => (0.8, "phone from local data"),
        (None, Some(_)) => (0.6, "phone found on its website"),
        (None, None) => (0.0, "no phone"),
    };
    let host = lead.website.as_deref().and_then(host_of);
    let email = match (lead.email.as_deref(), e.and_then(|e| e.email.as_deref())) {
        (Some(_), _) => (0.8, "email from the listing"),
        (None, Some(_)) if from_files("email") => (0.8, "email from local data"),
        (None, Some(m)) if host.as_deref().is_some_and(|h| on_own_domain(m, h)) => {
            (1.0, "email on its own domain")
        }
        (None, Some(_)) => (0.5, "email found, not on its own domain"),
        (None, None) => (0.0, "no email"),
    };
    let contact: f64 = f64::max(phone.0, email.0);
    Part {
        name: "confidence",
        value: round(0.5 * geo + 0.5 * contact),
        weight: cfg.weights.confidence,
        why: format!(
            "{geo_why} ({geo:.1}); {} ({:.1}); {} ({:.1})",
            phone.1, phone.0, email.1, email.0
        ),
    }
}

fn category(lead: &Lead, cfg: &Scoring) -> Part {
    let industry = lead
        .enrichment
        .as_deref()
        .and_then(|e| e.industry_category.as_deref());
    let (value, why) = match industry {
        Some(i) if cfg.target_industries.iter().any(|t| t == i) => {
            (1.0, format!("industry {i} is a target"))
        }
        Some(i) => (0.3, format!("industry {i} is not a target")),
        None => (
            0.0,
            format!(
                "no industry for category {:?}",
                lead.category.as_deref().unwrap_or("")
            ),
        ),
    };
    Part {
        name: "category",
        value,
        weight: cfg.weights.category,
        why,
    }
}

/// How established the business is: reviews on a saturating scale (`reviews_half` reviews give
/// one half), and the rating once there are reviews.
fn size(lead: &Lead, cfg: &Scoring) -> Part {
    let reviews = lead.review_count.unwrap_or(0) as f64;
    let saturated = reviews / (reviews + cfg.reviews_half);
    let rating = match (lead.rating, reviews > 0.0) {
        (Some(r), true) => (r / 5.0).clamp(0.0, 1.0),
        _ => 0.0,
    };
    Part {
        name: "size",
        value: round(0.7 * saturated + 0.3 * rating),
        weight: cfg.weights.size,
        why: format!(
            "{} reviews ({saturated:.2}), rating {} ({rating:.2})",
            reviews as u64,
            lead.rating.map_or("none".to_string(), |r| r.to_string())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::{Address, Enrichment, GeoPoint};

    fn lead() -> Lead {
        let mut sources = serde_yaml_ng::Mapping::new();
        sources.insert(
            "email".into(),
            "website:https://acme.example/contact".into(),
        );
        sources.insert("phone".into(), "website:https://acme.example/".into());
        Lead {
            dedup_key: "acme".into(),
            name: "Acme Auto".into(),
            category: Some("Auto repair shop".into()),
            phone: Some("+12175550134".into()),
            website: Some("https://acme.example/".into()),
            address: Some(Address {
                street: Some("12 Main St".into()),
                city: Some("Springfield".into()),
                ..Address::default()
            }),
            location: Some(GeoPoint {
                lat: 39.78,
                lng: -89.65,
                accuracy: Some(Accuracy::Rooftop),
                ..GeoPoint::default()
            }),
            rating: Some(4.5),
            review_count: Some(50),
            enrichment: Some(Box::new(Enrichment {
                email: Some("hi@acme.example".into()),
                phone: Some("+12175550134".into()),
                industry_category: Some("auto-repair".into()),
                sources,
                ..Enrichment::default()
            })),
            ..Lead::default()
        }
    }

    #[test]
    fn a_complete_verified_target_lead_qualifies() {
        let (q, why) = score_lead(&lead(), &Scoring::default());
        assert_eq!(q.completeness_score, Some(1.0));
        assert_eq!(q.confidence_score, Some(1.0));
        assert_eq!(q.category_score, Some(1.0));
        // 0.7 × 50/(50+50) + 0.3 × 4.5/5
        assert_eq!(q.size_score, Some(0.62));
        // (0.3 + 0.2 + 0.3 + 0.2 × 0.62) / 1.0
        assert_eq!(q.score, Some(0.924));
        assert_eq!(q.qualified, Some(true));
        assert!(q.flags.is_empty(), "{:?}", q.flags);
        let text = why.to_string();
        assert!(text.contains("phone confirmed on its website"), "{text}");
        assert!(text.contains("qualified"), "{text}");
    }

    #[test]
    fn an_unreachable_lead_never_qualifies_and_says_why() {
        let mut l = lead();
        l.phone = None;
        l.enrichment = Some(Box::new(Enrichment::default()));
        l.category = Some("Space agency".into());
        let cfg = Scoring {
            threshold: 0.0,
            ..Scoring::default()
        };
        let (q, why) = score_lead(&l, &cfg);
        assert_eq!(q.qualified, Some(false));
        assert_eq!(q.category_score, Some(0.0));
        for flag in ["no_contact_channel", "no_email", "off_target_industry"] {
            assert!(q.flags.iter().any(|f| f == flag), "{flag} in {:?}", q.flags);
        }
        assert!(why.to_string().contains("missing phone"), "{why}");
    }

    #[test]
    fn weights_come_from_config() {
        let cfg = Scoring {
            weights: crate::config::Weights {
                completeness: 0.0,
                confidence: 0.0,
                category: 0.0,
                size: 1.0,
            },
            ..Scoring::default()
        };
        let (q, _) = score_lead(&lead(), &cfg);
        assert_eq!(q.score, q.size_score);
    }
}
