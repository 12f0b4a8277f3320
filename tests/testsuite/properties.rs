//! Properties over generated input: every field, known or not, survives load → save → load, and
//! no input makes a loader panic.

use std::path::Path;

use leadsite::lead::{
    parse_str, save, Address, GeoPoint, Lead, LeadFile, Route, Shape, Source, KNOWN_FIELDS,
};
use leadsite::pipeline::import::{self, Format};
use proptest::prelude::*;
use serde_yaml_ng::{Mapping, Value};

/// Text that YAML likes to misread: booleans, numbers with zeros, nulls, colons, quotes, lines.
fn tricky_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("no".to_string()),
        Just("yes".to_string()),
        Just("01234".to_string()),
        Just("1e3".to_string()),
        Just("~".to_string()),
        Just("null".to_string()),
        Just("- item".to_string()),
        Just("a: b".to_string()),
        Just("  leading space".to_string()),
        Just("multi\nline\n".to_string()),
        Just("</script><script>alert(1)</script>".to_string()),
        "\\PC{0,20}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        (-1e9f64..1e9).prop_map(|f| Value::Number(f.into())),
        tricky_text().prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Sequence),
            prop::collection::vec(("[a-z_]{1,8}", inner), 0..4).prop_map(|kv| Value::Mapping(
                kv.into_iter().map(|(k, v)| (Value::String(k), v)).collect()
            )),
        ]
    })
}

/// Unknown fields: names that are not the schema's, with any value.
fn extras() -> impl Strategy<Value = Mapping> {
    prop::collection::vec(("[a-z][a-z0-9_:]{0,10}", value()), 0..5).prop_map(|kv| {
        kv.into_iter()
            .filter(|(k, _)| !KNOWN_FIELDS.contains(&k.as_str()))
            .map(|(k, v)| (Value::String(k), v))
            .collect()
    })
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(tricky_text())
}

fn lead() -> impl Strategy<Value = Lead> {
    (
        (
            "[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,3}",
            tricky_text(),
            opt_text(),
            opt_text(),
        ),
        prop::option::of((opt_text(), opt_text(), opt_text(), extras())),
        prop::option::of((-90.0f64..90.0, -180.0f64..180.0)),
        (
            prop::option::of(0.0f64..5.0),
            prop::option::of(any::<u32>()),
            opt_text(),
        ),
        (
            prop::option::of(prop_oneof![
                Just(Route::Target),
                Just(Route::Nurture),
                Just(Route::Reject)
            ]),
            opt_text(),
        ),
        extras(),
    )
        .prop_map(
            |(
                (key, name, phone, about),
                addr,
                loc,
                (rating, reviews, source_id),
                (route, reason),
                extra,
            )| Lead {
                dedup_key: key,
                name,
                phone,
                about,
                address: addr.map(|(street, city, postal_code, extra)| Address {
                    street,
                    city,
                    postal_code,
                    extra: extra.into(),
                    ..Default::default()
                }),
                location: loc.map(|(lat, lng)| GeoPoint {
                    lat,
                    lng,
                    ..Default::default()
                }),
                rating,
                review_count: reviews.map(u64::from),
                source: source_id.map(|id| Source {
                    kind: "csv".into(),
                    id: Some(id),
                    ..Default::default()
                }),
                route,
                route_reason: reason,
                extra: extra.into(),
                ..Default::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_field_survives_save_and_load(leads in prop::collection::vec(lead(), 1..4), shape in prop_oneof![Just(Shape::Single), Just(Shape::List), Just(Shape::Documents)]) {
        let leads = if shape == Shape::Single { leads[..1].to_vec() } else { leads };
        let file = LeadFile { path: "leads/x.yaml".into(), shape, leads };
        let text = save::file_to_yaml(&file);
        let (again, errors) = parse_str(&text, Path::new("leads/x.yaml"));
        prop_assert!(errors.is_empty(), "{:?}\n{}", errors, text);
        prop_assert_eq!(&again.leads, &file.leads, "{}", text);
        // And once more: what was saved from a load is the same text.
        prop_assert_eq!(save::file_to_yaml(&again), text);
    }

    #[test]
    fn loading_any_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse_str(&text, Path::new("leads/x.yaml"));
    }

    #[test]
    fn loading_yaml_shaped_text_never_panics(lines in prop::collection::vec(prop_oneof![
        Just("- ".to_string()), Just("---".to_string()), Just("dedup_key: a".to_string()), Just("name: [".to_string()),
        Just("  city: 5".to_string()), Just("rating: x".to_string()), Just("address:".to_string()), Just("&a *a".to_string()),
        "[a-z_]{1,6}: \\PC{0,10}",
    ], 0..12)) {
        let _ = parse_str(&lines.join("\n"), Path::new("leads/x.yaml"));
    }

    #[test]
    fn importing_any_text_never_panics(text in prop_oneof![
        "\\PC{0,200}",
        "\\{\"(elements|features|type)\": \\PC{0,60}\\}",
        "(title|name),(address|phone|rating|latitude)\n\\PC{0,80}",
    ]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("input");
        std::fs::write(&path, &text).unwrap();
        for format in [None, Some(Format::GoogleMapsCsv), Some(Format::GoogleMapsJson), Some(Format::Overpass), Some(Format::Geojson), Some(Format::Csv), Some(Format::Json), Some(Format::Yaml)] {
            let _ = import::read_file(&path, format, &import::Options::default(), 0);
        }
    }
}

mod phase4 {
    use super::*;
    use leadsite::config::{Scoring, Weights};
    use leadsite::error::Location as At;
    use leadsite::pipeline::enrich::files::Row;
    use leadsite::pipeline::enrich::taxonomy::Taxonomy;
    use leadsite::pipeline::enrich::website::{Found, SiteFindings};
    use leadsite::pipeline::enrich::{self, enrich_lead};
    use leadsite::pipeline::score::{self, score_lead};
    use std::collections::BTreeMap;

    fn found() -> impl Strategy<Value = Found> {
        (
            prop_oneof![
                tricky_text(),
                "[a-z]{1,6}@[a-z]{1,6}\\.com",
                "\\(2[0-9]{2}\\) 555-01[0-9]{2}",
                "https://(www\\.)?(facebook|instagram|example)\\.com/[a-z]{1,6}",
            ],
            "https://[a-z]{1,6}\\.com/[a-z]{0,6}",
        )
            .prop_map(|(value, page)| Found { value, page })
    }

    fn site() -> impl Strategy<Value = SiteFindings> {
        (
            prop::collection::vec(found(), 0..3),
            prop::collection::vec(found(), 0..3),
            prop::collection::vec(("[a-z]{1,8}", found()), 0..3),
            prop::option::of(found()),
            prop::option::of(found()),
            prop::option::of(found()),
        )
            .prop_map(
                |(emails, phones, social, description, logo, image)| SiteFindings {
                    fetched_at: chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
                    emails,
                    phones,
                    social: social.into_iter().collect(),
                    description,
                    logo,
                    image,
                    pages: Vec::new(),
                },
            )
    }

    fn row() -> impl Strategy<Value = Row> {
        let column = prop_oneof![
            Just("email"),
            Just("phone"),
            Just("description"),
            Just("logo_url"),
            Just("industry"),
            Just("facebook"),
            Just("other_ids.x"),
            Just("name"),
        ];
        prop::collection::btree_map(column.prop_map(String::from), tricky_text(), 0..5).prop_map(
            |cells: BTreeMap<String, String>| Row {
                cells,
                origin: At::at_line("data/x.csv", 2),
            },
        )
    }

    fn scoring() -> impl Strategy<Value = Scoring> {
        (
            0.0f64..2.0,
            0.0f64..2.0,
            0.0f64..2.0,
            0.01f64..2.0,
            0.0f64..=1.0,
            0.1f64..500.0,
        )
            .prop_map(|(a, b, c, d, threshold, reviews_half)| Scoring {
                weights: Weights {
                    completeness: a,
                    confidence: b,
                    category: c,
                    size: d,
                },
                threshold,
                reviews_half,
                ..Scoring::default()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// EnrichmentAggregator and LeadScoring write only their own namespace, whatever the
        /// lead, the website and the local data say; every score is in 0..1.
        #[test]
        fn phase4_stages_keep_to_their_namespace_and_scores_stay_in_0_1(
            lead in lead(),
            website in prop::option::of("https://(www\\.)?[a-z]{1,8}\\.com/"),
            category in prop::option::of(prop_oneof![Just("Auto repair shop".to_string()), tricky_text()]),
            site in prop::option::of(site()),
            rows in prop::collection::vec(row(), 0..3),
            cfg in scoring(),
        ) {
            let mut lead = lead;
            lead.website = website;
            lead.category = category;
            let taxonomy = Taxonomy::new(&BTreeMap::new());
            let rows: Vec<&Row> = rows.iter().collect();
            let mut enriched = lead.clone();
            enriched.enrichment = Some(Box::new(enrich_lead(&lead, site.as_ref(), &rows, Some(&taxonomy), "US")));
            prop_assert!(enrich::CONTRACT.check_lead(&lead, &enriched).is_ok());

            let (quality, _) = score_lead(&enriched, &cfg);
            let mut scored = enriched.clone();
            scored.quality = Some(Box::new(quality.clone()));
            prop_assert!(score::CONTRACT.check_lead(&enriched, &scored).is_ok());
            for s in [quality.completeness_score, quality.confidence_score, quality.category_score, quality.size_score, quality.score] {
                let s = s.unwrap();
                prop_assert!((0.0..=1.0).contains(&s), "{} in {:?}", s, quality);
            }
            prop_assert_eq!(quality.qualified, Some(quality.score.unwrap() >= cfg.threshold && !quality.flags.iter().any(|f| f == "no_contact_channel")));
        }
    }
}

/// The lead's field list is written once (`KNOWN_FIELDS`); what else names fields must agree
/// with it, so that a new field cannot be forgotten in one of them.
#[test]
fn every_list_of_lead_fields_agrees_with_the_record() {
    let full = Lead {
        dedup_key: "k".into(),
        name: "n".into(),
        category: Some("c".into()),
        address: Some(Address {
            city: Some("x".into()),
            ..Address::default()
        }),
        location: Some(GeoPoint::default()),
        phone: Some("+12175550134".into()),
        website: Some("https://a.example/".into()),
        email: Some("a@a.example".into()),
        rating: Some(4.0),
        review_count: Some(1),
        timezone: Some("UTC".into()),
        description: Some("d".into()),
        about: Some("a".into()),
        source: Some(Source::default()),
        route: Some(Route::Target),
        route_reason: Some("r".into()),
        enrichment: Some(Default::default()),
        quality: Some(Default::default()),
        // Every field named, none by `..Default`: a new field of the record stops this test
        // from compiling until it is added here, and so checked below.
        extra: Default::default(),
    };
    let keys: Vec<String> = full
        .to_mapping()
        .keys()
        .filter_map(|k| k.as_str().map(String::from))
        .collect();
    let mut known: Vec<String> = KNOWN_FIELDS.iter().map(|s| s.to_string()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    known.sort();
    assert_eq!(sorted, known, "KNOWN_FIELDS and the record's fields");
    for f in KNOWN_FIELDS {
        assert!(
            full.has_field(f),
            "has_field({f}) on a lead that has every field"
        );
        assert!(!Lead::default().has_field(f), "an empty lead has no {f}");
    }
}
