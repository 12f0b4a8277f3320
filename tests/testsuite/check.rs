//! `leadsite check`: every problem of config and lead files in one run.

use crate::harness::Project;

#[test]
fn a_clean_project_checks_ok() {
    let p = Project::new();
    let input = p.fixture("overpass.json");
    p.run(&["ingest", &input]).code(3);
    let run = p.run(&["check"]);
    run.code(0)
        .says("ok: config (built-in defaults), 2 leads in 2 files");
}

#[test]
fn every_problem_is_reported_at_once() {
    let p = Project::with_config("site: {base_url: not-a-url}\ningest: {default_region: ZZ}\n");
    p.write(
        "leads/a.yaml",
        "dedup_key: a\nname: A\naddress: {city: X}\nphone: '+12175550134'\nroute: TARGET\n",
    );
    p.write(
        "leads/b.yaml",
        "dedup_key: b\nname: B\naddress:\n  city: [not, a, city]\nroute: TARGET\n",
    );
    p.write("leads/list.yaml", "- dedup_key: a\n  name: Again A\n  address: {city: X}\n  route: NURTURE\n- dedup_key: Bad Key\n  name: C\n  address: {city: X}\n  phone: '555'\n  email: X@Y\n  timezone: Europe/Atlantis\n");
    p.write("leads/docs.yml", "dedup_key: d\nname: D\nroute: REJECT\n---\ndedup_key: e\nname: E\naddress: {city: X}\nroute: SOMETIMES\n");
    let run = p.run(&["check"]);
    run.code(3);
    let err = &run.stderr;
    for expected in [
        "leadsite.yaml: field site.base_url: \"not-a-url\" is not an absolute http(s) URL",
        "leadsite.yaml: field ingest.default_region: \"ZZ\" is not an ISO 3166-1 alpha-2 region",
        "leads/b.yaml:4:9: lead b: field address.city: ",
        "leads/list.yaml: lead a: field dedup_key: dedup_key is also used in",
        "leads/list.yaml: lead Bad Key: field dedup_key: invalid_dedup_key",
        "leads/list.yaml: lead Bad Key: field phone: invalid_phone: \"555\"",
        "leads/list.yaml: lead Bad Key: field email: invalid_email: \"X@Y\"",
        "leads/list.yaml: lead Bad Key: field timezone: invalid_timezone: \"Europe/Atlantis\"",
        "leads/list.yaml: lead Bad Key: field route: no route",
        "leads/docs.yml: lead d: field address: no_location",
        "leads/docs.yml:8:8: lead e: field route: unknown variant `SOMETIMES`",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in\n{err}");
    }
    assert!(err.contains("11 problems"), "{err}");
}

#[test]
fn an_explicit_config_that_is_missing_is_an_error() {
    let p = Project::new();
    let run = p.run(&["--config", "nope.yaml", "check"]);
    run.code(1);
    run.says("nope.yaml: ");
}

#[test]
fn the_example_project_checks_ok() {
    let root = env!("CARGO_MANIFEST_DIR");
    let p = Project::new();
    let run = p.run(&["--config", &format!("{root}/leadsite.yaml"), "check"]);
    run.code(0).says("120 leads in 120 files");
}

#[test]
fn check_reads_the_outreach_sequence_as_schedule_would() {
    let p = Project::with_config("outreach:\n  enabled: true\n  sequence: wa\n  sender_name: Sam\n  sender_email: sam@agency.example\n  postal_address: 1 Example Ave, Springfield\n");
    p.write(
        "content/emails/wa/01-hello.md",
        "---\nsubject: Hello {{ business.name }}\ndelay: 0d\nparams: ['{{ business.name }}']\n---\nSee {{ landing_url }}\n",
    );
    p.write(
        "content/emails/wa/02-ping.md",
        "---\nchannel: whatsapp\ntemplate: page_ready\ndelay: soon\n---\nHi\n",
    );
    p.write(
        "content/emails/wa/03-again.md",
        "---\nchannel: whatsapp\ntemplate: page_ready\ndelay: 2d\nparams: {Business: '{{ business.name }}'}\n---\nHi\n",
    );
    let run = p.run(&["check"]);
    run.code(3);
    let err = &run.stderr;
    for expected in [
        "01-hello.md: field params: params are a whatsapp step's template parameters",
        "02-ping.md: field delay: delay \"soon\"",
        "03-again.md: field params: parameter name \"Business\"",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in\n{err}");
    }
}
