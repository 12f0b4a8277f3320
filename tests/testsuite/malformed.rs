//! Broken input of every kind: an error with the file, line and column (or record), the other
//! files still ingested, exit status 3.

use crate::harness::Project;

/// Ingests a broken file beside a good one; returns stderr.
fn ingest_broken(name: &str, text: &str, extra_args: &[&str]) -> (Project, String) {
    let p = Project::new();
    let bad = p.write(&format!("in/{name}"), text);
    let good = p.fixture("overpass.json");
    let mut args = vec!["ingest"];
    args.extend_from_slice(extra_args);
    args.push(bad.to_str().unwrap());
    args.push(&good);
    let run = p.run(&args);
    run.code(3);
    assert_eq!(p.lead_files().len(), 2, "the good file was still ingested");
    (p, run.stderr)
}

#[test]
fn broken_json_names_line_and_column() {
    let (_, err) = ingest_broken(
        "broken.json",
        "[\n  {\"name\": \"A\",\n   \"phone\": }\n]\n",
        &[],
    );
    assert!(err.contains("in/broken.json:3:13: expected value"), "{err}");
}

#[test]
fn broken_geojson_names_line_and_column() {
    let (_, err) = ingest_broken(
        "broken.geojson",
        "{\"type\": \"FeatureCollection\", \"features\": [\n  {\"type\": \"Feature\",, }\n]}\n",
        &[],
    );
    assert!(err.contains("in/broken.geojson:2:22: "), "{err}");
}

#[test]
fn geojson_without_features_names_the_field() {
    let (_, err) = ingest_broken("empty.geojson", "{\"type\": \"FeatureCollection\"}", &[]);
    assert!(err.contains("in/empty.geojson: field features: "), "{err}");
}

#[test]
fn a_csv_row_with_too_many_fields_is_skipped_and_located() {
    let p = Project::new();
    let bad = p.write("in/rows.csv", "name,address,phone\nA,\"1 Main St, Springfield, IL\",(217) 555-0101\nB,x,y,z\nC,\"3 Main St, Springfield, IL\",(217) 555-0103\n");
    let run = p.run(&["ingest", bad.to_str().unwrap()]);
    run.code(3);
    assert!(
        run.stderr.contains(
            "in/rows.csv:3: this row has 4 fields but the header has 3; the row is skipped"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        p.lead_files(),
        ["a-springfield-il.yaml", "c-springfield-il.yaml"]
    );
}

#[test]
fn broken_yaml_names_line_and_column() {
    let (_, err) = ingest_broken(
        "broken.yaml",
        "- name: A\n  phone: [unclosed\n- name: B\n",
        &[],
    );
    assert!(
        err.contains(
            "in/broken.yaml:3:7: did not find expected ',' or ']', while parsing a flow sequence"
        ),
        "{err}"
    );
}

#[test]
fn text_that_is_not_utf8_is_reported() {
    let p = Project::new();
    let path = p.path("in/latin1.csv");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let rows = b"name,address\nCaf\xe9,\"1 Main St, Springfield, IL\"\nDeli,\"2 Main St, Springfield, IL\"\n";
    std::fs::write(&path, rows).unwrap();
    let run = p.run(&["ingest", path.to_str().unwrap()]);
    run.code(3);
    let expected = "in/latin1.csv:2: this row is not UTF-8 text; the row is skipped";
    run.says(expected);
    assert_eq!(
        p.lead_files(),
        ["deli-springfield-il.yaml"],
        "the next row still comes through"
    );

    let json = p.path("in/latin1.json");
    std::fs::write(&json, b"[{\"name\": \"Caf\xe9\"}]").unwrap();
    let run = p.run(&["ingest", json.to_str().unwrap()]);
    run.code(3)
        .says("in/latin1.json:1: the file is not UTF-8 text");
}

#[test]
fn a_missing_file_is_reported_and_the_rest_goes_on() {
    let (_, err) = {
        let p = Project::new();
        let good = p.fixture("overpass.json");
        let run = p.run(&["ingest", "in/nope.csv", &good]);
        run.code(3);
        assert_eq!(p.lead_files().len(), 2);
        (p, run.stderr)
    };
    assert!(err.contains("in/nope.csv: "), "{err}");
}

#[test]
fn an_undetectable_format_asks_for_format() {
    let (_, err) = ingest_broken("notes.txt", "just some words\n", &[]);
    assert!(err.contains("name it with --format"), "{err}");
}

#[test]
fn a_broken_lead_file_in_leads_is_reported_left_alone_and_the_ingest_goes_on() {
    let p = Project::new();
    let broken = "dedup_key: acme\nname: Acme\nrating: lots\n";
    p.write("leads/acme.yaml", broken);
    let input = p.fixture("overpass.json");
    let run = p.run(&["ingest", &input]);
    run.code(3);
    run.says(
        "leads/acme.yaml:3:9: lead acme: field rating: invalid type: string \"lots\", expected a number",
    );
    assert_eq!(p.read("leads/acme.yaml"), broken, "never rewritten");
    assert_eq!(p.lead_files().len(), 3);
}

#[test]
fn a_bad_config_stops_before_anything_is_written() {
    let p = Project::with_config("routing:\n  rules:\n    - {route: TARGETT}\n");
    let input = p.fixture("overpass.json");
    let run = p.run(&["ingest", &input]);
    run.code(1);
    run.says("leadsite.yaml:3:");
    run.says("TARGETT");
    assert!(p.lead_files().is_empty());
}

#[test]
fn a_quote_left_open_in_a_csv_says_which_lines_it_swallowed() {
    let p = Project::new();
    let mut csv = String::from("name,address,phone\nA,\"1 Main St, Springfield, IL\",(217) 555-0101\nB,\"2 Main St, Springfield, IL,(217) 555-0102\n");
    for i in 0..5 {
        csv.push_str(&format!(
            "C{i},\"3 Main St, Springfield, IL\",(217) 555-010{i}\n"
        ));
    }
    let bad = p.write("in/open.csv", &csv);
    let run = p.run(&["ingest", bad.to_str().unwrap()]);
    run.code(3);
    // The open quote of row B runs to the next quote, in row C0: both are skipped, and said so.
    assert!(
        run.stderr.contains("in/open.csv:3: ")
            && run.stderr.contains("it runs to line 5: a quote left open?"),
        "{}",
        run.stderr
    );
    assert_eq!(
        p.lead_files(),
        [
            "a-springfield-il.yaml",
            "c1-springfield-il.yaml",
            "c2-springfield-il.yaml",
            "c3-springfield-il.yaml",
            "c4-springfield-il.yaml"
        ]
    );
}
