//! What each fuzz target feeds its input to, shared by the cargo-fuzz targets in
//! `fuzz_targets/` and the corpus replay in `tests/testsuite/fuzz.rs` (which includes this file),
//! so a case found by the fuzzer is replayed through exactly the code that found it.
//! Every target reads its input as the tool would read the file: from disk where the tool
//! reads a folder, from text where it parses text.

#![allow(dead_code)] // each fuzz binary uses one target of this file

use std::path::Path;

fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Lead YAML: every document, salvaged or reported; what loaded is written back as an `ingest`
/// rewrite would write it (with the text's comments carried over) and must read back as the
/// same leads.
pub fn lead_yaml(bytes: &[u8]) {
    let text = text(bytes);
    let path = Path::new("leads/fuzz.yaml");
    let (file, _) = leadsite::lead::parse_str(&text, path);
    if file.leads.is_empty() {
        return;
    }
    for again in [
        leadsite::lead::save::file_to_yaml(&file),
        leadsite::lead::save::rewrite(&text, &file),
    ] {
        let (back, errors) = leadsite::lead::parse_str(&again, path);
        // What the guard refuses is refused on purpose (ingest then leaves the file as it is).
        if errors.iter().any(|e| e.message.contains("not read")) {
            continue;
        }
        assert!(
            errors.is_empty(),
            "rewritten lead file does not load: {errors:?}\n{again}"
        );
        // Compared as written: NaN is never equal as a number.
        let written = |leads: &[leadsite::Lead]| -> Vec<String> {
            leads.iter().map(leadsite::lead::save::to_yaml).collect()
        };
        assert!(
            written(&back.leads) == written(&file.leads),
            "rewritten leads differ:\n{again}"
        );
    }
}

/// The project config.
pub fn config(bytes: &[u8]) {
    let _ = leadsite::Config::parse(&text(bytes), Path::new("leadsite.yaml"));
}

/// The YAML guard every YAML text passes before it is parsed.
pub fn yaml_guard(bytes: &[u8]) {
    let _ = leadsite::limits::check_yaml(&text(bytes), Path::new("x.yaml"));
}

/// Content front matter and Markdown, through a real `content/` folder.
pub fn front_matter(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("industries").join("fuzz.md");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, bytes).unwrap();
    let _ = leadsite::site::content::Content::load(dir.path());
}

/// A project theme's `theme.yaml` and UI strings (`i18n/en.yaml`), through a real `themes/`
/// folder (the built-in themes are compiled too: this target is slow).
pub fn theme(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let theme = dir.path().join("fuzz");
    std::fs::create_dir_all(theme.join("i18n")).unwrap();
    std::fs::write(theme.join("theme.yaml"), bytes).unwrap();
    std::fs::write(theme.join("i18n").join("en.yaml"), bytes).unwrap();
    let _ = leadsite::site::theme::Themes::load(dir.path());
}

/// Opening hours as OpenStreetMap writes them, and as Google Maps exports give them per day.
pub fn hours(bytes: &[u8]) {
    use leadsite::site::hours;
    let text = text(bytes);
    let _ = hours::from_osm(&text);
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

/// A mail message as `inbox` reads one from a Maildir: parsed, classified, read as a bounce.
pub fn mail(bytes: &[u8]) {
    use leadsite::outreach::{bounce, inbound};
    if let Ok(m) = mailparse::parse_mail(bytes) {
        let _ = inbound::classify(&m);
        let _ = bounce::parse(&m);
    }
}

/// A bus event dropped into the file bus's inbox.
pub fn bus_event(bytes: &[u8]) {
    use leadsite::outreach::bus;
    let dir = tempfile::tempdir().unwrap();
    let b = bus::FileBus::new(dir.path());
    std::fs::create_dir_all(b.inbox()).unwrap();
    std::fs::write(b.inbox().join("event.json"), bytes).unwrap();
    let _ = b.read_inbox();
}

/// An export file for `ingest`: the first byte picks how it is named (so the importer's own
/// detection runs on `.csv`, `.json`, `.jsonl`, `.geojson`), the rest is the file.
pub fn import(bytes: &[u8]) {
    use leadsite::pipeline::import;
    let Some((&pick, rest)) = bytes.split_first() else {
        return;
    };
    let name = ["x.csv", "x.json", "x.jsonl", "x.geojson"][usize::from(pick % 4)];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, rest).unwrap();
    let _ = import::read_file(&path, None, &import::Options::default(), 0);
}

/// A target: what it does with one input.
pub type Target = fn(&[u8]);

/// Every target by the prefix its corpus files carry (`lead-…`, `mail-…`).
pub const TARGETS: &[(&str, Target)] = &[
    ("lead", lead_yaml),
    ("config", config),
    ("guard", yaml_guard),
    ("front", front_matter),
    ("theme", theme),
    ("hours", hours),
    ("mail", mail),
    ("bus", bus_event),
    ("import", import),
];
