//! `leadsite export`: CSV that ingest reads back, and JSON.

use crate::harness::{csv_rows, Project};

#[test]
fn csv_export_round_trips_through_ingest() {
    let p = Project::new();
    let input = p.fixture("real/google_maps_scraper_frisco_tx.csv");
    p.run(&["ingest", &input]).code(0);
    let run = p.run(&["export", "--format", "csv", "-o", "out/leads.csv"]);
    run.code(0);
    let rows = csv_rows(&p.read("out/leads.csv"));
    assert_eq!(rows.len(), 73);
    assert_eq!(
        rows[0]["dedup_key"], "aroma-breakfast-and-lunch-plano-tx",
        "sorted by key"
    );
    assert_eq!(rows[0]["address.city"], "Plano");
    assert_eq!(rows[0]["route"], "NURTURE");

    let q = Project::new();
    q.write("in/leads.csv", &p.read("out/leads.csv"));
    q.run(&["ingest", "--format", "csv", "in/leads.csv"])
        .code(0);
    assert_eq!(q.lead_files(), p.lead_files());
    let (a, b) = (
        p.lead("the-gyro-shop-frisco-tx"),
        q.lead("the-gyro-shop-frisco-tx"),
    );
    assert_eq!(
        (a.phone, a.website, a.address, a.location, a.route),
        (b.phone, b.website, b.address, b.location, b.route)
    );
    assert_eq!(
        a.extra.get("open_hours"),
        b.extra.get("open_hours"),
        "structured fields come back as structures"
    );
}

#[test]
fn json_export_filters_by_route() {
    let p = Project::new();
    let input = p.fixture("overpass.json");
    p.run(&["ingest", &input]).code(3);
    let run = p.run(&["export", "--format", "json", "--route", "target"]);
    run.code(0);
    let leads: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0]["dedup_key"], "lincoln-plumbing-springfield");
    assert_eq!(leads[0]["route"], "TARGET");
}
