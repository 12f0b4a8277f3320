//! `leadsite ingest`: every importer, every reject reason, merges, idempotent re-runs.

use crate::harness::{csv_rows, Project};
use leadsite::lead::{Accuracy, Route};

#[test]
fn real_google_maps_scraper_csv_is_ingested_whole() {
    let p = Project::new();
    let input = p.fixture("real/google_maps_scraper_frisco_tx.csv");
    let run = p.run(&["ingest", &input]);
    run.code(0);
    assert!(run.stdout.contains("google-maps-csv"), "{}", run.stdout);
    assert_eq!(
        p.lead_files().len(),
        73,
        "every row is a lead: chain branches are not merged"
    );
    let gyro = p.lead("the-gyro-shop-frisco-tx");
    assert_eq!(
        gyro.phone.as_deref(),
        Some("+14692872159"),
        "(469) 287-2159 in E.164"
    );
    assert_eq!(gyro.website.as_deref(), Some("http://thegyroshoptx.com/"));
    assert_eq!(
        gyro.source.as_ref().and_then(|s| s.id.as_deref()),
        Some("ChIJ5xtdQPM9TIYRtEg7xdJfKLk")
    );
    assert_eq!(
        gyro.address.as_ref().and_then(|a| a.region.as_deref()),
        Some("TX")
    );
    assert_eq!(gyro.timezone.as_deref(), Some("America/Chicago"));
    assert!(gyro.extra.contains_key("open_hours") && !gyro.extra.contains_key("popular_times"));
    // Two branches of one chain: same name and city, same website, different streets.
    let olive = [
        "olive-burger-plano-tx",
        "olive-burger-plano-tx-5720-state-hwy",
    ];
    for key in olive {
        assert!(p.lead_files().contains(&format!("{key}.yaml")), "{key}");
    }
    let aroma = p.lead("aroma-breakfast-and-lunch-plano-tx");
    assert_eq!(
        aroma.website.as_deref(),
        Some("https://aromabrunch.com/"),
        "tracking parameters are dropped"
    );
}

#[test]
fn real_overpass_turbo_geojson_is_ingested_whole() {
    let p = Project::new();
    let input = p.fixture("real/overpass_turbo_edinburgh_restaurants.geojson");
    let run = p.run(&["ingest", "--region", "GB", &input]);
    run.code(3);
    let rejects = csv_rows(&p.read(".leadsite/ingest/rejects.csv"));
    assert_eq!(rejects.len(), 5, "the five features without a name");
    assert!(rejects
        .iter()
        .all(|r| r["reason"] == "missing_name" && !r["record"].is_empty()));
    assert_eq!(p.lead_files().len(), 730);
    let dome = p.lead("the-dome-bar-and-grill-edinburgh");
    let loc = dome.location.as_ref().unwrap();
    assert_eq!(
        loc.accuracy,
        Some(Accuracy::Centroid),
        "a Polygon becomes its centroid"
    );
    assert!(
        (loc.lat - 55.953).abs() < 0.01 && (loc.lng + 3.195).abs() < 0.01,
        "{loc:?}"
    );
    assert_eq!(
        dome.source.as_ref().and_then(|s| s.id.as_deref()),
        Some("way/81125134")
    );
    assert!(
        dome.source.as_ref().unwrap().fetched_at.is_some(),
        "the export's timestamp"
    );
    let osm = dome.extra.get("osm").unwrap();
    let osm = osm.as_mapping().unwrap();
    assert!(osm.contains_key("heritage"), "unmapped tags are kept");
    let taste = p.lead("taste-good-edinburgh");
    assert_eq!(taste.phone.as_deref(), Some("+441313131188"));
}

#[test]
fn overpass_json_elements_become_leads() {
    let p = Project::new();
    let input = p.fixture("overpass.json");
    p.run(&["ingest", &input]).code(3);
    assert_eq!(
        p.lead_files(),
        [
            "acme-auto-repair-springfield-il.yaml",
            "lincoln-plumbing-springfield.yaml"
        ]
    );
    let acme = p.lead("acme-auto-repair-springfield-il");
    assert_eq!(acme.phone.as_deref(), Some("+12175550134"), "contact:phone");
    assert_eq!(
        acme.website.as_deref(),
        Some("http://acme-auto.example/"),
        "contact:website made absolute"
    );
    assert_eq!(
        acme.email.as_deref(),
        Some("service@acme-auto.example"),
        "contact:email lower-cased"
    );
    assert_eq!(acme.category.as_deref(), Some("Car repair"));
    assert_eq!(
        acme.address.as_ref().and_then(|a| a.street.as_deref()),
        Some("12 Main St")
    );
    assert_eq!(
        acme.route,
        Some(Route::Nurture),
        "the default rules: it has a website"
    );
    let plumbing = p.lead("lincoln-plumbing-springfield");
    assert_eq!(
        plumbing.location.as_ref().map(|l| (l.lat, l.accuracy)),
        Some((39.79, Some(Accuracy::Centroid)))
    );
    assert_eq!(plumbing.phone.as_deref(), Some("+12175550177"));
    assert!(
        plumbing.extra.contains_key("other_phones"),
        "the second number is kept"
    );
    assert_eq!(plumbing.route, Some(Route::Target));
    let rejects = csv_rows(&p.read(".leadsite/ingest/rejects.csv"));
    assert_eq!(
        rejects.len(),
        1,
        "the restaurant with no name; the bare geometry node is no record"
    );
}

#[test]
fn google_maps_json_array_and_json_lines() {
    let p = Project::new();
    let array = p.fixture("gmaps.json");
    let lines = p.fixture("gmaps.jsonl");
    let run = p.run(&["ingest", &array, &lines]);
    run.code(0);
    assert!(run.stdout.contains("google-maps-json"), "{}", run.stdout);
    assert_eq!(p.lead_files().len(), 4);
    let bakery = p.lead("prairie-bakehouse-springfield-il");
    assert_eq!(
        bakery.website.as_deref(),
        Some("https://prairie-bakehouse.example/"),
        "web_site"
    );
    assert_eq!(
        bakery.email.as_deref(),
        Some("hello@prairie-bakehouse.example"),
        "emails array"
    );
    assert_eq!(bakery.rating, Some(4.7));
    let dental = p.lead("sangamon-dental-care-springfield-il");
    assert_eq!(dental.review_count, Some(1204));
    assert_eq!(
        dental.address.as_ref().and_then(|a| a.street.as_deref()),
        Some("77 Adams St"),
        "complete_address as JSON text"
    );
    let salon = p.lead("redbird-hair-studio-bloomington-il");
    assert_eq!(
        salon.location.as_ref().map(|l| l.lng),
        Some(-88.99),
        "longtitude, as the scraper spells it"
    );
}

#[test]
fn own_schema_csv_yaml_and_json() {
    let p = Project::new();
    let files = [
        p.fixture("own.csv"),
        p.fixture("own.yaml"),
        p.fixture("own.json"),
    ];
    let mut args = vec!["ingest"];
    args.extend(files.iter().map(String::as_str));
    let run = p.run(&args);
    run.code(0);
    for format in ["csv", "yaml", "json"] {
        assert!(
            run.stdout.contains(&format!(" {format} ")),
            "{format}: {}",
            run.stdout
        );
    }
    let realty = p.lead("old-town-realty-peoria-il");
    assert_eq!(
        realty.extra.get_str("notes"),
        Some("prefers calls after 5pm")
    );
    assert!(
        realty.address.as_ref().unwrap().extra.contains_key("floor"),
        "address.floor is kept in address"
    );
    let dental = p.lead("maple-dental-peoria");
    assert_eq!(dental.email.as_deref(), Some("office@maple-dental.example"));
    let garage = p.lead("cornbelt-garage-decatur-il");
    assert_eq!(
        garage
            .address
            .as_ref()
            .and_then(|a| a.postal_code.as_deref()),
        Some("62521"),
        "a number in YAML is a postal code"
    );
    let custom = garage.extra.get("custom").unwrap();
    let custom = custom.as_mapping().unwrap();
    assert_eq!(custom.get("crm_id").and_then(|v| v.as_u64()), Some(42));
    assert_eq!(
        p.lead("bluestem-plumbing-decatur-il").website.as_deref(),
        Some("http://bluestem-plumbing.example/")
    );
    assert_eq!(
        p.lead("heartland-smiles-urbana-il").phone.as_deref(),
        Some("+12175550170")
    );
}

#[test]
fn every_reject_reason_is_reported_with_its_line() {
    let p = Project::new();
    let input = p.fixture("rejects.csv");
    let run = p.run(&["ingest", &input]);
    run.code(3);
    run.says("8 rows rejected");
    let rows = csv_rows(&p.read(".leadsite/ingest/rejects.csv"));
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["line"].as_str(),
                r["reason"].as_str(),
                r["value"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("3", "missing_name", ""),
            ("4", "no_location", ""),
            ("5", "invalid_coordinates", "95, -89.65"),
            ("6", "invalid_phone", "555-12"),
            ("7", "invalid_website", "http://"),
            ("8", "invalid_email", "office@"),
            ("9", "invalid_rating", "lots"),
            ("10", "invalid_review_count", "some"),
        ]
    );
    assert_eq!(p.lead_files(), ["good-garage-springfield-il.yaml"]);
}

#[test]
fn duplicates_merge_within_the_batch_and_into_existing_leads() {
    let p = Project::new();
    p.write(
        "leads/acme-auto-repair-springfield-il.yaml",
        "# Met at the fair.\ndedup_key: acme-auto-repair-springfield-il\nname: Acme Auto Repair\naddress: {street: 12 Main St, city: Springfield, region: IL}\nphone: '+12175550134'\nnotes: call Bob  # mornings only\nsize: !staff 12\nroute: TARGET\nroute_reason: hand-picked\n",
    );
    let input = p.write(
        "in/batch.csv",
        "name,address,phone,website,emails\n\
         Acme Auto Repair,\"12 Main St, Springfield, IL 62701\",217-555-0134,,owner@acme-auto.example\n\
         Lincoln Plumbing,\"1 Elm St, Springfield, IL 62701\",(217) 555-0177,,\n\
         Lincoln Plumbing (2nd listing),\"Springfield, IL\",(217) 555-0177,https://lincoln-plumbing.example/,\n\
         Lincoln Plumbing & Heating,\"1 Elm Street, Springfield, IL 62701\",,https://www.lincoln-plumbing.example/contact,\n",
    );
    let run = p.run(&["ingest", input.to_str().unwrap()]);
    run.code(0);
    assert!(
        run.stderr.contains(
            "into acme-auto-repair-springfield-il (existing lead matched on dedup_key); filled"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        p.lead_files(),
        [
            "acme-auto-repair-springfield-il.yaml",
            "lincoln-plumbing-springfield-il.yaml"
        ]
    );
    let acme = p.lead("acme-auto-repair-springfield-il");
    assert_eq!(
        acme.email.as_deref(),
        Some("owner@acme-auto.example"),
        "filled from the new row"
    );
    assert_eq!(
        acme.extra.get_str("notes"),
        Some("call Bob"),
        "a hand-added field survives"
    );
    // So do its comments and a tagged value (which made the whole file unreadable).
    let text = p.read("leads/acme-auto-repair-springfield-il.yaml");
    assert!(text.starts_with("# Met at the fair.\n"), "{text}");
    assert!(
        text.contains("\nnotes: call Bob  # mornings only\n"),
        "{text}"
    );
    assert!(text.contains("\nsize: !staff 12\n"), "{text}");
    assert_eq!(
        acme.address.as_ref().and_then(|a| a.postal_code.as_deref()),
        Some("62701")
    );
    let lincoln = p.lead("lincoln-plumbing-springfield-il");
    assert_eq!(
        lincoln.website.as_deref(),
        Some("https://lincoln-plumbing.example/")
    );
    let merges = csv_rows(&p.read(".leadsite/ingest/merges.csv"));
    let on: Vec<&str> = merges.iter().map(|m| m["matched_on"].as_str()).collect();
    assert_eq!(on, ["dedup_key", "phone", "website"]);
    assert!(
        merges[2]["conflicts"].contains("name: kept \"Lincoln Plumbing\""),
        "{:?}",
        merges[2]
    );
    assert!(
        run.stdout.contains("merged"),
        "the summary has a merged column"
    );
}

#[test]
fn re_running_the_same_ingest_changes_nothing() {
    let p = Project::new();
    let input = p.fixture("real/google_maps_scraper_frisco_tx.csv");
    p.run(&["ingest", &input]).code(0);
    let before: Vec<(String, String, std::time::SystemTime)> = p
        .lead_files()
        .into_iter()
        .map(|f| {
            let path = p.path(&format!("leads/{f}"));
            (
                f.clone(),
                std::fs::read_to_string(&path).unwrap(),
                std::fs::metadata(&path).unwrap().modified().unwrap(),
            )
        })
        .collect();
    let again = p.run(&["ingest", &input]);
    again.code(0).says("0 new, 0 updated, 73 unchanged");
    for (f, text, mtime) in before {
        let path = p.path(&format!("leads/{f}"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "{f}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            mtime,
            "{f} was not rewritten"
        );
    }
}

#[test]
fn routing_follows_the_config_rules_in_order() {
    let p = Project::with_config(
        "routing:\n  rules:\n    - {route: REJECT, reason: bad reviews, max_rating: 3.0}\n    - {route: TARGET, category: [gyro], missing: [email]}\n  default: {route: NURTURE}\n",
    );
    let input = p.fixture("real/google_maps_scraper_frisco_tx.csv");
    p.run(&["ingest", &input]).code(0);
    let gyro = p.lead("the-gyro-shop-frisco-tx");
    assert_eq!(
        (gyro.route, gyro.route_reason.as_deref()),
        (Some(Route::Target), Some("rule 2: category gyro, no email"))
    );
    let cava = p.lead("cava-plano-tx");
    assert_eq!(
        (cava.route, cava.route_reason.as_deref()),
        (Some(Route::Nurture), Some("no rule matched"))
    );
}

#[test]
fn dry_run_writes_nothing() {
    let p = Project::new();
    let input = p.fixture("overpass.json");
    let run = p.run(&["ingest", "--dry-run", &input]);
    run.code(3);
    run.says("dry run");
    assert!(p.lead_files().is_empty());
    assert!(!p.path(".leadsite").exists());
}

#[test]
fn the_example_project_ingests_its_export() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let p = Project::new();
    std::fs::copy(root.join("leadsite.yaml"), p.path("leadsite.yaml")).unwrap();
    std::fs::create_dir_all(p.path("examples")).unwrap();
    std::fs::copy(
        root.join("examples/maps-export.csv"),
        p.path("examples/maps-export.csv"),
    )
    .unwrap();
    p.run(&["ingest", "examples/maps-export.csv"]).code(3);
    let committed: Vec<String> = {
        let mut v: Vec<String> = std::fs::read_dir(root.join("leads"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        p.lead_files(),
        committed,
        "leads/ in the repo is what ingest makes of examples/"
    );
    for f in &committed {
        let ours = std::fs::read_to_string(root.join("leads").join(f)).unwrap();
        assert_eq!(p.read(&format!("leads/{f}")), ours, "{f}");
    }
}

#[test]
fn a_second_writer_is_refused_and_says_so() {
    let p = Project::new();
    let input = p.fixture("overpass.json");
    {
        // Another command holds the project.
        let _held =
            leadsite::fsutil::ProjectLock::take(&p.path(".leadsite"), &p.path("leads"), "test")
                .unwrap();
        for args in [vec!["ingest", input.as_str()], vec!["build"]] {
            let run = p.run(&args);
            run.code(1)
                .says("another leadsite command is changing this project");
        }
    }
    {
        // Another config with its own work folder, sharing leads/, holds the leads folder.
        std::fs::create_dir_all(p.path("leads")).unwrap();
        let _held =
            leadsite::fsutil::ProjectLock::take(&p.path(".other"), &p.path("leads"), "test")
                .unwrap();
        let run = p.run(&["ingest", input.as_str()]);
        run.code(1);
        run.says("leads");
        assert!(
            p.lead_files().is_empty(),
            "the refused ingest wrote nothing"
        );
    }
    // Two ingests started together: each finishes, or is refused saying so; never both silent
    // and half-applied.
    let exe = assert_cmd::cargo::cargo_bin("leadsite");
    let start = || {
        std::process::Command::new(&exe)
            .args(["ingest", input.as_str()])
            .current_dir(p.path("."))
            .output()
            .unwrap()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(start);
        let b = s.spawn(start);
        (a.join().unwrap(), b.join().unwrap())
    });
    for out in [&a, &b] {
        match out.status.code() {
            Some(0 | 3) => {}
            Some(1) => {
                assert!(String::from_utf8_lossy(&out.stderr).contains("another leadsite command"))
            }
            other => panic!("exit {other:?}: {}", String::from_utf8_lossy(&out.stderr)),
        }
    }
    assert_eq!(p.lead_files().len(), 2);
}

#[test]
fn a_file_that_could_not_be_read_whole_is_never_rewritten() {
    let p = Project::new();
    // A hand-kept file of two leads: the first matches an ingested row, the second is broken.
    let text = "dedup_key: acme-auto-repair-springfield-il\nname: Acme Auto Repair\naddress: {city: Springfield}\nnotes: hand-written, keep me\nroute: TARGET\n---\ndedup_key: second\nname: \"Second Shop\naddress: {city: Springfield}\nroute: TARGET\n";
    p.write("leads/kept.yaml", text);
    let input = p.fixture("overpass.json");
    let run = p.run(&["ingest", &input]);
    run.code(3);
    assert_eq!(p.read("leads/kept.yaml"), text, "byte for byte as it was");
    // The merge that did not happen is not reported as one.
    let merges = p.read(".leadsite/ingest/merges.csv");
    assert!(
        !merges.contains("acme-auto-repair-springfield-il"),
        "{merges}"
    );
    run.says("could not be read completely, so it is not rewritten");
}

/// A lead file that loads is never rewritten into one that does not: nesting written one level
/// a line comes back as `- - - …` on one line, past the guard's 64 levels; the rewrite is not
/// written, the merge is reported as skipped, and the lead still loads.
#[test]
fn a_rewrite_that_would_not_read_back_is_not_written() {
    let p = Project::new();
    let mut deep = String::from("x:\n");
    for level in 0..80 {
        deep.push_str(&format!("{}-\n", "  ".repeat(level)));
    }
    deep.push_str(&format!("{}b\n", "  ".repeat(80)));
    let text = format!("dedup_key: acme-auto-repair-springfield-il\nname: Acme Auto Repair\naddress: {{street: 12 Main St, city: Springfield, region: IL, country: US}}\nphone: '+12175550134'\nroute: TARGET\n{deep}");
    p.write("leads/kept.yaml", &text);
    p.run(&["check"]).code(0);
    p.write(
        "row.csv",
        "name,address,phone,emails\nAcme Auto Repair,\"12 Main St, Springfield, IL 62701\",217-555-0134,owner@acme-auto.example\n",
    );
    let run = p.run(&["ingest", "row.csv"]);
    run.code(3);
    assert_eq!(p.read("leads/kept.yaml"), text, "byte for byte as it was");
    assert!(
        run.stderr.contains("kept.yaml")
            && run
                .stderr
                .contains("not written: leadsite would not read the file back"),
        "{}",
        run.stderr
    );
    let merges = p.read(".leadsite/ingest/merges.csv");
    assert!(
        !merges.contains("acme-auto-repair-springfield-il"),
        "{merges}"
    );
    p.run(&["check"]).code(0);
}

/// A lead in a file that could not be read (a duplicate key here) is not written again as a
/// new lead when a row matches it: a second copy would push the hand-kept one out once the file
/// is fixed.
#[test]
fn a_row_that_may_be_a_lead_of_an_unreadable_file_is_not_written_as_new() {
    let p = Project::new();
    // Its own key, and the phone as a person writes it: the row's key and E.164 are not in it.
    let text = "dedup_key: my-diner\nname: Delta Diner\nphone: (309) 555-0143\naddress: {street: 1 Main St, street: 2 Main St, city: Peoria, region: IL, country: US}\nnotes: first hand note\nroute: TARGET\n";
    p.write("leads/dup.yaml", text);
    p.write(
        "row.csv",
        "name,phone,address.city,address.region,address.country\nDelta Diner,+1 309-555-0143,Peoria,IL,US\n",
    );
    let run = p.run(&["ingest", "row.csv"]);
    run.code(3);
    assert_eq!(p.lead_files(), ["dup.yaml"], "no second copy");
    assert_eq!(p.read("leads/dup.yaml"), text);
    run.says("may hold this lead");
}

#[test]
fn a_file_read_with_the_wrong_region_says_so_and_exits_3() {
    let p = Project::new();
    let mut csv = String::from("name,phone,address.city\n");
    for i in 0..6 {
        csv.push_str(&format!("Taverna {i},22 10{i} 555,Nicosia\n"));
    }
    p.write("in/cy.csv", &csv);
    let run = p.run(&["ingest", "--format", "csv", "in/cy.csv"]);
    run.code(3).says("hint: 6 of 6 rows were rejected as invalid_phone. Numbers without a country are read as US numbers: if the export is from elsewhere, say its region with --region CC");
    let again = p.run(&["ingest", "--format", "csv", "--region", "CY", "in/cy.csv"]);
    again.code(0);
    assert!(!again.stderr.contains("hint:"), "{}", again.stderr);
    assert_eq!(p.lead_files().len(), 6);
}

/// YAML merge keys in a hand-kept lead file are applied as YAML says (the fields of the
/// anchored lead, then the lead's own), never read as a field named `<<`.
#[test]
fn merge_keys_in_a_lead_file_are_applied() {
    let p = Project::new();
    p.write(
        "leads/list.yaml",
        "- &base {dedup_key: acme, name: Acme, category: Auto repair shop, phone: '+12175550134', address: {city: Springfield, region: IL, country: US}, route: TARGET}\n- {<<: *base, dedup_key: bolt, name: Bolt}\n",
    );
    let run = p.run(&["export", "--format", "json"]);
    run.code(0);
    let leads: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let bolt = leads
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["dedup_key"] == "bolt")
        .unwrap();
    assert_eq!(bolt["category"], "Auto repair shop", "{bolt}");
    assert_eq!(bolt["name"], "Bolt");
    assert!(!run.stdout.contains("<<"), "{}", run.stdout);
}
