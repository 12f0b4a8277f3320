//! Fuzz targets for every parser (issue 13): proptest feeds each one random and shaped input and
//! asserts it never panics; the corpus in `tests/fixtures/fuzz/` (inputs that once hung, blew up
//! or crashed a parser like ours) is replayed through the same targets, each case with a time
//! guard. The large hostile cases (100k brackets, million-field CSV rows) run in hostile.rs
//! under a memory limit.

use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use leadsite::outreach::{bounce, bus, inbound};
use leadsite::site::{content::Content, hours};

/// Lead YAML: every document, salvaged or reported.
fn lead_yaml(text: &str) {
    let _ = leadsite::lead::parse_str(text, Path::new("leads/fuzz.yaml"));
}

fn config(text: &str) {
    let _ = leadsite::Config::parse(text, Path::new("leadsite.yaml"));
}

/// Content front matter and Markdown, through a real `content/` folder.
fn front_matter(text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("industries").join("fuzz.md");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, text).unwrap();
    let _ = Content::load(dir.path());
}

fn hours_text(text: &str) {
    let _ = hours::from_osm(text);
    for line in text.lines().take(50) {
        let _ = hours::from_osm(line);
        let day = serde_yaml_ng::Value::String(line.to_string());
        let mut week = serde_yaml_ng::Mapping::new();
        for d in hours::DAYS {
            week.insert(d.into(), day.clone());
        }
        let _ = hours::from_google(&serde_yaml_ng::Value::Mapping(week));
    }
}

/// A mail message, as `inbox` reads one: parsed, classified, read as a bounce.
fn mail(bytes: &[u8]) {
    if let Ok(m) = mailparse::parse_mail(bytes) {
        let _ = inbound::classify(&m);
        let _ = bounce::parse(&m);
    }
}

/// A bus event dropped into the inbox.
fn bus_event(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let b = bus::FileBus::new(dir.path());
    std::fs::create_dir_all(b.inbox()).unwrap();
    std::fs::write(b.inbox().join("event.json"), bytes).unwrap();
    let _ = b.read_inbox();
}

fn yaml_guard(text: &str) {
    let _ = leadsite::limits::check_yaml(text, Path::new("x.yaml"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn config_parsing_never_panics(text in prop_oneof![
        "\\PC{0,300}",
        prop::collection::vec(prop_oneof![
            Just("site:".to_string()), Just("  base_url: x".to_string()), Just("  language: [".to_string()),
            Just("routing: {rules: [{route: TARGET, missing: [website]}]}".to_string()),
            Just("outreach: &a {x: *a}".to_string()), Just("scoring: {threshold: -1}".to_string()),
            "[a-z_]{1,12}: [\\PC]{0,20}",
        ], 0..12).prop_map(|l| l.join("\n")),
    ]) {
        config(&text);
        yaml_guard(&text);
    }

    #[test]
    fn front_matter_never_panics(front in "\\PC{0,200}", body in "\\PC{0,100}") {
        front_matter(&format!("---\n{front}\n---\n{body}"));
        front_matter(&front);
    }

    #[test]
    fn hours_never_panic(text in prop_oneof![
        "\\PC{0,80}",
        prop::collection::vec(prop_oneof![
            Just("Mo-Fr".to_string()), Just("Sa,Su".to_string()), Just("PH".to_string()),
            Just("off".to_string()), Just("24/7".to_string()), Just(";".to_string()), Just(",".to_string()),
            Just("||".to_string()), "[0-3][0-9]:[0-6][0-9]-[0-4][0-9]:[0-6][0-9]", "[0-9]{1,2} ?[AP]M–[0-9]{1,2} ?[AP]M",
        ], 0..10).prop_map(|l| l.join(" ")),
    ]) {
        hours_text(&text);
    }

    #[test]
    fn mail_never_panics(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        prop::collection::vec(prop_oneof![
            Just("From: MAILER-DAEMON@x.example".to_string()), Just("Subject: Undeliverable".to_string()),
            Just("Content-Type: multipart/report; report-type=delivery-status; boundary=z".to_string()),
            Just("--z".to_string()), Just("Content-Type: message/delivery-status".to_string()),
            Just("Final-Recipient: rfc822;".to_string()), Just("Status: 5.1.1".to_string()),
            Just("Action: failed".to_string()), Just("".to_string()), "[\\PC]{0,40}",
        ], 0..20).prop_map(|l| l.join("\n").into_bytes()),
    ]) {
        mail(&bytes);
    }

    #[test]
    fn bus_events_never_panic(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        ("[a-z.]{0,20}", "\\PC{0,40}", "\\PC{0,30}").prop_map(|(t, l, at)| {
            format!("{{\"topic\":\"{t}\",\"lead_id\":{l:?},\"at\":{at:?},\"data\":{{}}}}").into_bytes()
        }),
    ]) {
        bus_event(&bytes);
    }
}

#[test]
fn the_fuzz_corpus_replays_quickly_through_every_target() {
    let dir = crate::harness::fixture_path("fuzz");
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let started = Instant::now();
        match name.split('-').next().unwrap() {
            "lead" => lead_yaml(&text),
            "config" => config(&text),
            "front" => front_matter(&text),
            "hours" => hours_text(&text),
            "mail" => mail(&bytes),
            "bus" => bus_event(&bytes),
            other => panic!("{name}: no target for {other:?}"),
        }
        yaml_guard(&text);
        // A guard against hangs, not a speed target: each case takes milliseconds.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name} took {:?}",
            started.elapsed()
        );
        cases += 1;
    }
    assert!(
        cases >= 20,
        "the corpus is in tests/fixtures/fuzz/ ({cases} cases)"
    );
}
