//! Fuzzing every parser (issue 13). The targets are in `fuzz/targets.rs`, shared with the
//! coverage-guided cargo-fuzz targets (`scripts/fuzz`); here proptest feeds them random and
//! shaped input, and the corpus in `tests/fixtures/fuzz/` (what the fuzzer kept, and inputs that
//! once hung, blew up or crashed a parser) is replayed through them, each case with a time
//! guard. The large hostile cases (100k brackets, million-field CSV rows) run in hostile.rs
//! under a memory limit.

use std::time::{Duration, Instant};

use proptest::prelude::*;

#[path = "../../fuzz/targets.rs"]
mod targets;

fn config(text: &str) {
    targets::config(text.as_bytes())
}

fn yaml_guard(text: &str) {
    targets::yaml_guard(text.as_bytes())
}

fn front_matter(text: &str) {
    targets::front_matter(text.as_bytes())
}

fn hours_text(text: &str) {
    targets::hours(text.as_bytes())
}

use targets::{bus_event, mail};

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

/// The process's largest resident set so far (VmHWM), in MiB.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

#[test]
fn the_fuzz_corpus_replays_quickly_through_every_target() {
    let dir = crate::harness::fixture_path("fuzz");
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let started = Instant::now();
        let prefix = name.split('-').next().unwrap();
        let Some((_, target)) = targets::TARGETS.iter().find(|(p, _)| *p == prefix) else {
            panic!("{name}: no target for {prefix:?}")
        };
        target(&bytes);
        targets::yaml_guard(&bytes);
        // Guards against hangs and blow-ups, not speed or size targets: each case takes
        // milliseconds and a few MiB. The memory is the test process's high-water mark, which
        // only grows: a case that needed more than the limit fails here, whichever it was.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name} took {:?}",
            started.elapsed()
        );
        let peak = peak_rss_mib();
        assert!(peak < 2048, "{name}: the process peaked at {peak} MiB");
        cases += 1;
    }
    assert!(
        cases >= 20,
        "the corpus is in tests/fixtures/fuzz/ ({cases} cases)"
    );
}
