//! Dedup: one lead per business, within the batch and against the leads already in `leads/`.
//!
//! Two records are the same business when they share the dedup_key, the phone or the website
//! (host, or host and path on shared platforms such as facebook.com) — unless their street
//! addresses or coordinates say otherwise: branches of a chain share a website, not a street.
//! A key shared by two different businesses gets the street added. Records merge into the
//! richest one; fields only the other has are filled in, and differing values are reported.

use std::collections::HashMap;

use rayon::prelude::*;

use serde_yaml_ng::{Mapping, Value};

use super::contract::Contract;
use super::normalize::join_key;
use super::Record;
use crate::error::{ContractViolation, Location};
use crate::lead::{is_empty_value, Lead};
use crate::text::slug;

pub const CONTRACT: Contract = Contract {
    stage: "dedup",
    writes: &["dedup_key"],
};

/// What a record was matched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    Key,
    Phone,
    Website,
}

impl MatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Key => "dedup_key",
            MatchKind::Phone => "phone",
            MatchKind::Website => "website",
        }
    }
}

/// One record merged into another.
#[derive(Debug, Clone, PartialEq)]
pub struct Merge {
    pub key: String,
    pub into: Location,
    pub from: Location,
    pub matched_on: MatchKind,
    /// Fields the merged lead gained.
    pub filled: Vec<String>,
    /// Fields where the two disagreed: (field, value kept, value not kept).
    pub conflicts: Vec<(String, String, String)>,
    /// The record merged into a lead already in `leads/`.
    pub existing: bool,
}

/// The unique leads the batch touched, and every merge.
#[derive(Debug, Default)]
pub struct Deduplicated {
    /// New leads, and existing leads the batch merged into (with the existing lead's id).
    pub leads: Vec<Record>,
    /// The existing leads the batch did not touch, given back as they came.
    pub untouched: Vec<Record>,
    pub merges: Vec<Merge>,
    /// Which output lead (by id) each batch row (by id) ended up in.
    pub assignments: Vec<(usize, usize)>,
}

struct Cluster {
    record: Record,
    existing: bool,
    touched: bool,
}

#[derive(Default)]
struct Index {
    key: HashMap<String, usize>,
    phone: HashMap<String, usize>,
    site: HashMap<String, usize>,
}

impl Index {
    /// Points a record's key, phone and website at a cluster, where nothing points yet.
    fn add(&mut self, lead: &Lead, site: Option<&str>, cluster: usize) {
        self.key.entry(lead.dedup_key.clone()).or_insert(cluster);
        if let Some(p) = &lead.phone {
            self.phone.entry(p.clone()).or_insert(cluster);
        }
        if let Some(s) = site {
            self.site.entry(s.to_string()).or_insert(cluster);
        }
    }
}

#[cfg(test)]
/// Merges `batch` into itself and into `existing` (the leads already written).
pub fn run(existing: Vec<Record>, batch: Vec<Record>) -> Result<Deduplicated, ContractViolation> {
    let mut dedup = Dedup::new(existing);
    dedup.add(batch)?;
    Ok(dedup.finish())
}

/// Dedup fed a batch at a time: the leads so far stay indexed between batches, so an export can
/// stream through import, normalize and validate in chunks.
pub struct Dedup {
    clusters: Vec<Cluster>,
    index: Index,
    merges: Vec<Merge>,
    assignments: Vec<(usize, usize)>,
}

impl Dedup {
    /// Starts from the leads already written.
    pub fn new(existing: Vec<Record>) -> Self {
        let sites: Vec<Option<String>> = existing.par_iter().map(site_of).collect();
        let mut dedup = Dedup {
            clusters: Vec::with_capacity(existing.len()),
            index: Index::default(),
            merges: Vec::new(),
            assignments: Vec::new(),
        };
        for (rec, site) in existing.into_iter().zip(sites) {
            dedup
                .index
                .add(&rec.lead, site.as_deref(), dedup.clusters.len());
            dedup.clusters.push(Cluster {
                record: rec,
                existing: true,
                touched: false,
            });
        }
        dedup
    }

    /// Merges a batch of records into what came before.
    pub fn add(&mut self, batch: Vec<Record>) -> Result<(), ContractViolation> {
        let sites: Vec<Option<String>> = batch.par_iter().map(site_of).collect();
        for (rec, site) in batch.into_iter().zip(sites) {
            self.add_one(rec, site)?;
        }
        Ok(())
    }

    fn add_one(&mut self, mut rec: Record, site: Option<String>) -> Result<(), ContractViolation> {
        let (index, clusters) = (&mut self.index, &mut self.clusters);
        let row = rec.id;
        let mut found = find(index, clusters, &rec.lead, site.as_deref());
        if found.is_none() && index.key.contains_key(&rec.lead.dedup_key) {
            // Another business holds this key: try the key with the street, then with a counter.
            let base = join_key(&[rec.lead.dedup_key.clone(), key_suffix(&rec.lead)]);
            for n in 1.. {
                let key = if n == 1 {
                    base.clone()
                } else {
                    join_key(&[base.clone(), n.to_string()])
                };
                match index.key.get(&key) {
                    Some(&c) if same_business(&clusters[c].record.lead, &rec.lead) => {
                        found = Some((c, MatchKind::Key));
                    }
                    Some(_) => continue,
                    None => {}
                }
                rec.lead.dedup_key = key;
                break;
            }
        }
        match found {
            Some((c, kind)) => {
                index.add(&rec.lead, site.as_deref(), c);
                let merge = merge_into(&mut clusters[c], rec, kind)?;
                self.assignments.push((row, clusters[c].record.id));
                self.merges.push(merge);
            }
            None => {
                index.add(&rec.lead, site.as_deref(), clusters.len());
                self.assignments.push((row, rec.id));
                clusters.push(Cluster {
                    record: rec,
                    existing: false,
                    touched: true,
                });
            }
        }
        Ok(())
    }

    /// The unique leads: those the batches touched, and the existing ones they did not.
    pub fn finish(self) -> Deduplicated {
        let (touched, untouched): (Vec<Cluster>, Vec<Cluster>) =
            self.clusters.into_iter().partition(|c| c.touched);
        Deduplicated {
            leads: touched.into_iter().map(|c| c.record).collect(),
            untouched: untouched.into_iter().map(|c| c.record).collect(),
            merges: self.merges,
            assignments: self.assignments,
        }
    }
}

fn site_of(r: &Record) -> Option<String> {
    r.lead.website.as_deref().and_then(site_identity)
}

fn find(
    index: &Index,
    clusters: &[Cluster],
    lead: &Lead,
    site: Option<&str>,
) -> Option<(usize, MatchKind)> {
    let by_key = index.key.get(&lead.dedup_key).map(|c| (*c, MatchKind::Key));
    let by_phone = lead
        .phone
        .as_ref()
        .and_then(|p| index.phone.get(p))
        .map(|c| (*c, MatchKind::Phone));
    let by_site = site
        .and_then(|s| index.site.get(s))
        .map(|c| (*c, MatchKind::Website));
    [by_key, by_phone, by_site]
        .into_iter()
        .flatten()
        .find(|(c, kind)| {
            let other = &clusters[*c].record.lead;
            same_business(other, lead) && (*kind != MatchKind::Website || same_page(other, lead))
        })
}

/// What tells a business apart from another of the same name and place: the first words of its
/// street, else its postal code, else its source id.
fn key_suffix(lead: &Lead) -> String {
    let addr = lead.address.as_ref();
    addr.and_then(|a| a.street.as_deref())
        .map(|s| slug(s).splitn(4, '-').take(3).collect::<Vec<_>>().join("-"))
        .or_else(|| addr.and_then(|a| a.postal_code.as_deref()).map(slug))
        .or_else(|| lead.source.as_ref().and_then(|s| s.id.as_deref()).map(slug))
        .unwrap_or_default()
}

fn merge_into(
    cluster: &mut Cluster,
    rec: Record,
    kind: MatchKind,
) -> Result<Merge, ContractViolation> {
    let into = cluster.record.origin.clone();
    let from = rec.origin.clone();
    cluster.touched = true;
    if same_but_route(&cluster.record.lead, &rec.lead) {
        return Ok(Merge {
            key: rec.lead.dedup_key,
            into,
            from,
            matched_on: kind,
            filled: vec![],
            conflicts: vec![],
            existing: cluster.existing,
        });
    }
    let (a, b) = (cluster.record.lead.to_mapping(), rec.lead.to_mapping());
    // The richer record is primary; on a tie the one already there (an existing lead, or the
    // earlier row) stays primary, so re-ingesting never undoes a hand edit.
    let incoming_primary = richness(&b) > richness(&a);
    let (primary, other) = if incoming_primary { (&b, &a) } else { (&a, &b) };
    let mut conflicts = Vec::new();
    let mut merged = primary.clone();
    merge_maps(&mut merged, other, "", &mut conflicts);
    let mut filled = Vec::new();
    gained(&a, &merged, "", &mut filled);
    filled.retain(|f| f != "dedup_key");
    let mut lead: Lead =
        serde_yaml_ng::from_value(Value::Mapping(merged)).expect("a merge of two leads is a lead");
    lead.dedup_key = cluster.record.lead.dedup_key.clone();
    conflicts.retain(|(f, _, _)| f != "dedup_key");
    let out = Record {
        id: cluster.record.id,
        origin: cluster.record.origin.clone(),
        lead,
        issues: vec![],
    };
    let (p, o) = if incoming_primary {
        (&rec, &cluster.record)
    } else {
        (&cluster.record, &rec)
    };
    CONTRACT.check_merge(p, &[o], &out)?;
    cluster.record = out;
    Ok(Merge {
        key: cluster.record.lead.dedup_key.clone(),
        into,
        from,
        matched_on: kind,
        filled,
        conflicts,
        existing: cluster.existing,
    })
}

/// Whether two leads are equal but for the route, which Route sets again anyway: a re-ingest of
/// an unchanged row.
fn same_but_route(a: &Lead, b: &Lead) -> bool {
    a.changes(b)
        .iter()
        .all(|(f, _)| f == "route" || f == "route_reason")
}

/// Fills `into` with what only `other` has, recursing into nested mappings; notes differences.
fn merge_maps(
    into: &mut Mapping,
    other: &Mapping,
    prefix: &str,
    conflicts: &mut Vec<(String, String, String)>,
) {
    for (k, v) in other {
        let name = format!("{prefix}{}", k.as_str().unwrap_or("?"));
        match into.get_mut(k) {
            Some(mine) if is_empty_value(mine) && !is_empty_value(v) => *mine = v.clone(),
            Some(Value::Mapping(mine)) => {
                if let Value::Mapping(theirs) = v {
                    merge_maps(mine, theirs, &format!("{name}."), conflicts);
                }
            }
            Some(mine) => {
                if mine != v && !is_empty_value(v) {
                    conflicts.push((name, show(mine), show(v)));
                }
            }
            None => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The fields (dotted paths) `new` has a value for and `old` had none.
fn gained(old: &Mapping, new: &Mapping, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in new {
        let name = format!("{prefix}{}", k.as_str().unwrap_or("?"));
        match (old.get(k), v) {
            (Some(Value::Mapping(o)), Value::Mapping(n)) => gained(o, n, &format!("{name}."), out),
            (Some(o), _) if !is_empty_value(o) => {}
            (_, v) if !is_empty_value(v) => out.push(name),
            _ => {}
        }
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// How many non-empty values a lead has, nested ones included.
fn richness(m: &Mapping) -> usize {
    m.values()
        .map(|v| match v {
            Value::Mapping(inner) => richness(inner),
            v if is_empty_value(v) => 0,
            _ => 1,
        })
        .sum()
}

/// Whether two records can be one business: their streets and coordinates do not disagree.
pub fn same_business(a: &Lead, b: &Lead) -> bool {
    let street = |l: &Lead| {
        l.address
            .as_ref()
            .and_then(|a| a.street.as_deref())
            .map(street_key)
    };
    if let (Some(x), Some(y)) = (street(a), street(b)) {
        if x != y {
            return false;
        }
    }
    if let (Some(x), Some(y)) = (&a.location, &b.location) {
        if distance_m(x.lat, x.lng, y.lat, y.lng) > 300.0 {
            return false;
        }
    }
    true
}

/// Two websites on one host are one business's when either is the home page or both are the same
/// page: `hotel.example/dining/brasserie/` and `hotel.example/dining/number-one/` are two.
fn same_page(a: &Lead, b: &Lead) -> bool {
    let path = |l: &Lead| {
        let url = url::Url::parse(l.website.as_deref()?).ok()?;
        Some(url.path().trim_end_matches('/').to_lowercase())
    };
    match (path(a), path(b)) {
        (Some(x), Some(y)) => x.is_empty() || y.is_empty() || x == y,
        _ => true,
    }
}

/// A street in a form where `7700 Windrose Ave.` and `7700 windrose avenue` agree.
fn street_key(s: &str) -> String {
    let lower = deunicode::deunicode(s).to_lowercase().replace('#', " # ");
    lower
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '#')
        .filter(|w| !w.is_empty())
        .map(|w| match w {
            "avenue" => "ave",
            "street" => "st",
            "road" => "rd",
            "drive" => "dr",
            "boulevard" => "blvd",
            "lane" => "ln",
            "parkway" => "pkwy",
            "highway" => "hwy",
            "court" => "ct",
            "place" => "pl",
            "suite" | "ste" | "unit" | "#" => "#",
            "north" => "n",
            "south" => "s",
            "east" => "e",
            "west" => "w",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn distance_m(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lng2 - lng1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6_371_000.0 * a.sqrt().asin()
}

/// Hosts many businesses share: there the path tells them apart.
const SHARED_HOSTS: &[&str] = &[
    "facebook.com",
    "m.facebook.com",
    "instagram.com",
    "linkedin.com",
    "twitter.com",
    "x.com",
    "yelp.com",
    "tripadvisor.com",
    "tripadvisor.co.uk",
    "google.com",
    "maps.google.com",
    "sites.google.com",
    "goo.gl",
    "g.page",
    "linktr.ee",
    "tiktok.com",
    "youtube.com",
    "wixsite.com",
    "toasttab.com",
    "clover.com",
    "doordash.com",
    "ubereats.com",
    "grubhub.com",
    "opentable.com",
    "resy.com",
    "site.zingmyorder.com",
    "order.online",
    "squareup.com",
    "business.site",
];

/// What identifies a business by its website: the host without `www.`, plus the path on shared
/// platforms.
pub fn site_identity(website: &str) -> Option<String> {
    let url = url::Url::parse(website).ok()?;
    let host = url.host_str()?.trim_start_matches("www.").to_string();
    if SHARED_HOSTS
        .iter()
        .any(|h| host == *h || host.ends_with(&format!(".{h}")) && h.contains('.'))
    {
        let path = url.path().trim_end_matches('/').to_lowercase();
        if path.is_empty() {
            return None;
        }
        return Some(format!("{host}{path}"));
    }
    Some(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::Address;

    fn rec(
        id: usize,
        key: &str,
        street: Option<&str>,
        phone: Option<&str>,
        site: Option<&str>,
    ) -> Record {
        let lead = Lead {
            dedup_key: key.into(),
            name: key.into(),
            address: Some(Address {
                street: street.map(Into::into),
                city: Some("Plano".into()),
                ..Default::default()
            }),
            phone: phone.map(Into::into),
            website: site.map(Into::into),
            ..Default::default()
        };
        Record::new(id, Location::at_line("in.csv", id as u64 + 2), lead)
    }

    #[test]
    fn same_phone_merges_and_fills() {
        let a = rec(
            0,
            "acme-plano",
            Some("1 Main St"),
            Some("+14692872159"),
            None,
        );
        let mut b = rec(
            1,
            "acme-auto-plano",
            None,
            Some("+14692872159"),
            Some("https://acme.example/"),
        );
        b.lead.extra.insert("crm", "x".into());
        let out = run(vec![], vec![a, b]).unwrap();
        assert_eq!(out.leads.len(), 1);
        let l = &out.leads[0].lead;
        assert_eq!(l.dedup_key, "acme-plano");
        assert_eq!(l.website.as_deref(), Some("https://acme.example/"));
        assert_eq!(l.extra.get_str("crm"), Some("x"));
        assert_eq!(out.merges[0].matched_on, MatchKind::Phone);
        assert!(out.merges[0].filled.contains(&"website".to_string()));
    }

    #[test]
    fn chain_branches_with_one_website_stay_apart() {
        let a = rec(
            0,
            "olive-burger-plano-texas",
            Some("2129 W Parker Rd #301"),
            Some("+19724799722"),
            Some("https://www.oliveburger.com/"),
        );
        let b = rec(
            1,
            "olive-burger-plano-texas",
            Some("5720 State Hwy 121"),
            Some("+19722382811"),
            Some("https://www.oliveburger.com/"),
        );
        let out = run(vec![], vec![a, b]).unwrap();
        let keys: Vec<_> = out
            .leads
            .iter()
            .map(|r| r.lead.dedup_key.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "olive-burger-plano-texas",
                "olive-burger-plano-texas-5720-state-hwy"
            ]
        );
        assert!(out.merges.is_empty());
    }

    #[test]
    fn a_second_run_finds_the_street_key_again() {
        let first = run(
            vec![],
            vec![
                rec(0, "k", Some("1 A St"), None, None),
                rec(1, "k", Some("2 B St"), None, None),
            ],
        )
        .unwrap();
        let again = run(
            first.leads.clone(),
            vec![
                rec(2, "k", Some("1 A St"), None, None),
                rec(3, "k", Some("2 B St"), None, None),
            ],
        )
        .unwrap();
        assert_eq!(again.leads.len(), 2);
        assert!(again
            .merges
            .iter()
            .all(|m| m.existing && m.filled.is_empty() && m.conflicts.is_empty()));
    }

    #[test]
    fn existing_lead_wins_a_tie_and_conflicts_are_reported() {
        let old = rec(
            100,
            "acme",
            Some("1 Main Street"),
            Some("+14692872159"),
            None,
        );
        let mut new = rec(0, "acme", Some("1 main st"), Some("+14692872159"), None);
        new.lead.name = "ACME".into();
        let out = run(vec![old], vec![new]).unwrap();
        assert_eq!(out.leads[0].id, 100);
        assert_eq!(out.leads[0].lead.name, "acme");
        assert!(out.merges[0].existing);
        assert!(out.merges[0]
            .conflicts
            .iter()
            .any(|(f, kept, other)| f == "name" && kept == "acme" && other == "ACME"));
    }

    #[test]
    fn two_restaurants_of_one_hotel_stay_apart() {
        let a = rec(
            0,
            "brasserie",
            Some("1 Princes St"),
            None,
            Some("https://hotel.example/dining/brasserie/"),
        );
        let b = rec(
            1,
            "number-one",
            Some("1 Princes St"),
            None,
            Some("https://hotel.example/dining/number-one/"),
        );
        let c = rec(
            2,
            "brasserie-prince",
            None,
            None,
            Some("https://hotel.example/"),
        );
        let out = run(vec![], vec![a, b, c]).unwrap();
        assert_eq!(out.leads.len(), 2);
        assert_eq!(out.merges.len(), 1);
    }

    #[test]
    fn shared_platforms_compare_by_path() {
        assert_eq!(
            site_identity("https://www.facebook.com/AcmeAuto/").as_deref(),
            Some("facebook.com/acmeauto")
        );
        assert_eq!(site_identity("https://www.facebook.com/"), None);
        assert_eq!(
            site_identity("http://www.acme.example/contact").as_deref(),
            Some("acme.example")
        );
    }

    #[test]
    fn streets_compare_loosely() {
        assert_eq!(
            street_key("7700 Windrose Ave."),
            street_key("7700 windrose avenue")
        );
        assert_eq!(
            street_key("6205 Coit Rd # 324"),
            street_key("6205 Coit Road Suite 324")
        );
        assert_ne!(
            street_key("6205 Coit Rd # 324"),
            street_key("6205 Coit Rd #364")
        );
    }
}
