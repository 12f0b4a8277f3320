//! `leadsite build --until score`: enrichment from real websites served on 127.0.0.1, local data
//! files, the taxonomy, the cache and `--offline`, and scoring.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::Project;
use crate::web::{html, Reply, Site};

/// Settings that keep the tests quick: a dead site costs one second. The test sites are on
/// 127.0.0.1, which is read only when private addresses are allowed.
const CONFIG: &str =
    "enrichment:\n  website:\n    timeout_secs: 1.0\n    max_bytes: 100000\n    allow_private: true\n";

fn lead(key: &str, name: &str, category: &str, website: Option<&str>) -> String {
    let mut y = format!(
        "dedup_key: {key}\nname: {name}\ncategory: {category}\nphone: '+12175550134'\naddress: {{street: 1 Main St, city: Springfield, region: IL, country: US}}\nlocation: {{lat: 39.78, lng: -89.65, accuracy: rooftop}}\nrating: 4.5\nreview_count: 20\nroute: TARGET\nroute_reason: test\n"
    );
    if let Some(w) = website {
        y.push_str(&format!("website: {w}\n"));
    }
    y
}

/// The leads of a JSON-lines artefact, by dedup_key.
fn artefact(p: &Project, name: &str) -> std::collections::BTreeMap<String, Value> {
    p.read(&format!(".leadsite/build/{name}"))
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["dedup_key"].as_str().unwrap().to_string(), v)
        })
        .collect()
}

/// The page log the cache keeps of one site: `(url path, outcome)`.
fn page_log(p: &Project, site: &Site) -> Vec<(String, String)> {
    // The cache's shards, merged: a site is in one of them.
    let mut sites = serde_json::Map::new();
    for shard in std::fs::read_dir(p.path(".leadsite/cache/website")).unwrap() {
        let shard: Value =
            serde_json::from_slice(&std::fs::read(shard.unwrap().path()).unwrap()).unwrap();
        sites.extend(shard["sites"].as_object().unwrap().clone());
    }
    let entry = &sites[&site.url("/")];
    entry["pages"]
        .as_array()
        .unwrap_or_else(|| panic!("no cache entry for {}: {sites:?}", site.url("/")))
        .iter()
        .map(|pg| {
            let url = pg["url"].as_str().unwrap();
            let path = url
                .split_once(&site.addr.to_string())
                .unwrap()
                .1
                .to_string();
            (path, pg["outcome"].as_str().unwrap().to_string())
        })
        .collect()
}

fn business_site() -> Site {
    let home = r#"<!doctype html><html><head><title>Acme Auto</title>
        <meta name="description" content="Family garage in Springfield since 1982.">
        <script type="application/ld+json">{"@context":"https://schema.org","@type":"AutoRepair",
          "name":"Acme Auto","telephone":"(217) 555-0134","logo":"/img/logo.png",
          "sameAs":["https://www.instagram.com/acmeauto/"]}</script>
        </head><body>
        <a href="/contact">Contact</a> <a href="/about">About us</a>
        <a href="/private/team">Our team</a>
        <a href="https://www.facebook.com/acmeauto">Facebook</a>
        <a href="https://www.facebook.com/sharer/sharer.php?u=x">Share</a>
        </body></html>"#;
    let contact = r#"<html><body><p>Write to <a href="mailto:Service@Acme-Auto.example">us</a>
        or call <a href="tel:+1-217-555-0199">217 555 0199</a>.</p>
        <a href="https://www.yelp.com/biz/acme-auto-springfield">Yelp</a></body></html>"#;
    Site::start(vec![
        (
            "/robots.txt",
            Reply::Page(
                "text/plain",
                b"User-agent: *\nDisallow: /private\n".to_vec(),
            ),
        ),
        ("/", html(home)),
        ("/contact", html(contact)),
        ("/about", html("<p>We fix cars.</p>")),
        (
            "/private/team",
            html("<a href='mailto:secret@acme-auto.example'>x</a>"),
        ),
    ])
}

#[test]
fn build_reads_the_lead_s_own_site_politely_and_scores_it() {
    let site = business_site();
    let p = Project::with_config(CONFIG);
    p.write(
        "leads/acme.yaml",
        &lead(
            "acme",
            "Acme Auto",
            "Auto repair shop",
            Some(&site.url("/")),
        ),
    );
    let run = p.run(&["build", "--until", "score", "--explain", "acme"]);
    run.code(0);

    let enriched = artefact(&p, "enriched_leads.jsonl");
    let e = &enriched["acme"]["enrichment"];
    assert_eq!(e["email"], "service@acme-auto.example");
    assert_eq!(
        e["phone"], "+12175550134",
        "the listing's number, confirmed by JSON-LD"
    );
    assert_eq!(
        e["other_ids"]["facebook"],
        "https://www.facebook.com/acmeauto"
    );
    assert_eq!(
        e["other_ids"]["instagram"],
        "https://www.instagram.com/acmeauto/"
    );
    assert_eq!(
        e["other_ids"]["yelp"],
        "https://www.yelp.com/biz/acme-auto-springfield"
    );
    assert_eq!(e["description"], "Family garage in Springfield since 1982.");
    assert_eq!(e["logo_url"], site.url("/img/logo.png"));
    assert_eq!(e["industry_category"], "auto-repair");
    assert_eq!(
        e["sources"]["email"],
        format!("website:{}", site.url("/contact"))
    );
    assert_eq!(e["sources"]["industry_category"], "taxonomy:auto repair");
    assert!(e["enriched_at"].is_string());

    // robots.txt first, the forbidden page never asked for, and who is asking said each time.
    let paths = site.paths();
    assert_eq!(paths[0], "/robots.txt");
    assert!(
        !paths.iter().any(|p| p.starts_with("/private")),
        "{paths:?}"
    );
    assert!(paths.contains(&"/contact".to_string()) && paths.contains(&"/about".to_string()));
    assert!(
        site.user_agents()
            .iter()
            .all(|u| u.starts_with("leadsite/")),
        "{:?}",
        site.user_agents()
    );
    assert!(page_log(&p, &site).contains(&("/private/team".into(), "refused by robots.txt".into())));

    let scored = artefact(&p, "scored_leads.jsonl");
    let q = &scored["acme"]["quality"];
    for s in [
        "completeness_score",
        "confidence_score",
        "category_score",
        "size_score",
        "score",
    ] {
        let v = q[s].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{s} = {v}");
    }
    assert_eq!(q["qualified"], true);
    assert!(run.stdout.contains("found: 1 emails"), "{}", run.stdout);
    assert!(
        run.stdout.contains("phone confirmed on its website"),
        "{}",
        run.stdout
    );
    // Build artefacts are private: nothing goes to site/.
    assert!(!p.path("site").exists());
}

#[test]
fn broken_slow_and_hostile_sites_cost_their_budget_and_nothing_else() {
    let looping = Site::start(vec![
        ("/", Reply::Redirect("/a".into())),
        ("/a", Reply::Redirect("/".into())),
    ]);
    let silent = Site::start(vec![("/robots.txt", Reply::Hang), ("/", Reply::Hang)]);
    let huge = Site::start(vec![(
        "/",
        Reply::Huge(
            "<html><body><a href='mailto:big@huge.example'>mail</a>".into(),
            50_000_000,
        ),
    )]);
    let latin1 = {
        let mut body = b"<html><head><meta name='description' content='B\xe4ckerei M\xfcller, seit 1950'></head><body>".to_vec();
        body.extend_from_slice(
            b"<p>Kontakt: info@mueller-baeckerei.example \xa9 2026</p></body></html>",
        );
        Site::start(vec![(
            "/",
            Reply::Page("text/html; charset=ISO-8859-1", body),
        )])
    };
    let closed = Site::start(vec![
        (
            "/robots.txt",
            Reply::Page(
                "text/plain",
                b"User-agent: leadsite\nDisallow: /\n".to_vec(),
            ),
        ),
        ("/", html("<a href='mailto:no@closed.example'>x</a>")),
    ]);
    let failing = Site::start(vec![("/robots.txt", Reply::Status(503))]);
    let p = Project::with_config(CONFIG);
    for (key, site) in [
        ("looping", &looping),
        ("silent", &silent),
        ("huge", &huge),
        ("latin1", &latin1),
        ("closed", &closed),
        ("failing", &failing),
    ] {
        p.write(
            &format!("leads/{key}.yaml"),
            &lead(key, key, "Bakery", Some(&site.url("/"))),
        );
    }
    let started = Instant::now();
    p.run(&["build", "--until", "enrich"]).code(0);
    // Budgets, not a speed target: the silent site may cost its 1 s budget, not minutes.
    assert!(started.elapsed() < Duration::from_secs(30));

    let e = artefact(&p, "enriched_leads.jsonl");
    assert!(
        page_log(&p, &looping)
            .iter()
            .any(|(_, o)| o == "too many redirects"),
        "{:?}",
        page_log(&p, &looping)
    );
    assert!(e["looping"]["enrichment"]["email"].is_null());

    let log = page_log(&p, &silent);
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(
        log[0].1.contains("robots.txt unreadable (timed out)"),
        "{log:?}"
    );
    assert_eq!(
        silent.paths(),
        ["/robots.txt"],
        "nothing more is asked of a dead site"
    );

    assert_eq!(e["huge"]["enrichment"]["email"], "big@huge.example");
    assert_eq!(page_log(&p, &huge)[0].1, "ok, truncated at 100000 bytes");

    assert_eq!(
        e["latin1"]["enrichment"]["description"],
        "Bäckerei Müller, seit 1950"
    );
    assert_eq!(
        e["latin1"]["enrichment"]["email"],
        "info@mueller-baeckerei.example"
    );

    assert_eq!(
        page_log(&p, &closed),
        [("/".to_string(), "refused by robots.txt".to_string())]
    );
    assert_eq!(closed.paths(), ["/robots.txt"]);
    assert!(e["closed"]["enrichment"]["email"].is_null());

    assert!(page_log(&p, &failing)[0]
        .1
        .contains("robots.txt unreadable (HTTP 503)"));
    assert_eq!(
        failing.paths(),
        ["/robots.txt"],
        "RFC 9309: a 5xx robots.txt means fetch nothing"
    );
}

#[test]
fn a_second_build_is_repeatable_offline_from_the_cache() {
    let site = business_site();
    let p = Project::with_config(CONFIG);
    p.write(
        "leads/acme.yaml",
        &lead(
            "acme",
            "Acme Auto",
            "Auto repair shop",
            Some(&site.url("/")),
        ),
    );
    p.run(&["build"]).code(0);
    let first = p.read(".leadsite/build/scored_leads.jsonl");
    let asked = site.paths().len();

    let run = p.run(&["build", "--offline"]);
    run.code(0);
    assert_eq!(
        site.paths().len(),
        asked,
        "--offline asks the network nothing"
    );
    assert_eq!(p.read(".leadsite/build/scored_leads.jsonl"), first);
    assert!(
        run.stdout.contains("0 read, 1 from cache"),
        "{}",
        run.stdout
    );

    // Online again within the TTL: still from the cache.
    p.run(&["build"]).code(0);
    assert_eq!(site.paths().len(), asked);
}

#[test]
fn offline_with_an_empty_cache_reads_nothing_and_says_so() {
    let site = business_site();
    let p = Project::with_config(CONFIG);
    p.write(
        "leads/acme.yaml",
        &lead(
            "acme",
            "Acme Auto",
            "Auto repair shop",
            Some(&site.url("/")),
        ),
    );
    let run = p.run(&["build", "--offline"]);
    run.code(0);
    assert!(site.paths().is_empty());
    assert!(
        run.stdout.contains("1 not in cache (--offline)"),
        "{}",
        run.stdout
    );
}

#[test]
fn local_data_files_enrich_by_key_host_or_phone() {
    let p = Project::with_config(&format!(
        "{CONFIG}  files:\n    paths: [data/crm.csv, data/notes.yaml]\n  taxonomy:\n    industries:\n      auto-repair: [car wash]\n"
    ));
    p.write(
        "data/crm.csv",
        "dedup_key,website,phone,email,facebook\nwash,,,owner@wash.example,https://facebook.com/wash\n,https://www.dent.example/,,,\n",
    );
    p.write(
        "data/notes.yaml",
        "- phone: (217) 555-0100\n  industry: dentist\n  description: Gentle dental care\n",
    );
    p.write("leads/wash.yaml", &lead("wash", "Suds", "Car wash", None));
    let mut dent = lead("dent", "Smile", "Clinic", Some("https://www.dent.example/"));
    dent = dent.replace("'+12175550134'", "'+12175550100'");
    p.write("leads/dent.yaml", &dent);
    p.run(&["build", "--until", "enrich"]).code(0);
    let e = artefact(&p, "enriched_leads.jsonl");
    let wash = &e["wash"]["enrichment"];
    assert_eq!(wash["email"], "owner@wash.example");
    assert_eq!(wash["other_ids"]["facebook"], "https://facebook.com/wash");
    assert_eq!(wash["sources"]["email"], "files:data/crm.csv:2");
    assert_eq!(
        wash["industry_category"], "auto-repair",
        "config's taxonomy words come first"
    );
    let dent = &e["dent"]["enrichment"];
    assert_eq!(dent["industry_category"], "dentist");
    assert_eq!(dent["description"], "Gentle dental care");
    assert!(dent["sources"]["description"]
        .as_str()
        .unwrap()
        .contains("notes.yaml (record 1)"));
}

#[test]
fn explain_and_until_are_checked() {
    let p = Project::with_config(CONFIG);
    p.write("leads/a.yaml", &lead("a", "A", "Plumber", None));
    let run = p.run(&["build", "--until", "enrich", "--explain", "a"]);
    run.code(2).says("--explain needs the score stage");
    let run = p.run(&["build", "--explain", "nobody"]);
    run.code(3).says("nobody: no lead has this dedup_key");
}

#[test]
fn a_broken_lead_file_is_reported_and_the_others_are_built() {
    let p = Project::with_config(CONFIG);
    p.write("leads/good.yaml", &lead("good", "Good", "Plumber", None));
    p.write("leads/bad.yaml", "dedup_key: bad\nname: [unclosed\n");
    let run = p.run(&["build"]);
    run.code(3);
    run.says("bad.yaml:");
    assert!(artefact(&p, "scored_leads.jsonl").contains_key("good"));
}

#[test]
fn internal_addresses_are_never_read_or_published() {
    // An internal page with something no public page may show.
    let internal = Site::start(vec![
        ("/robots.txt", Reply::Page("text/plain", b"".to_vec())),
        (
            "/",
            html(
                r#"<html><head><meta name="description" content="INTERNAL admin console: db password hunter2"></head><body><a href="mailto:root@corp.example">root</a></body></html>"#,
            ),
        ),
    ]);
    let p = Project::with_config(
        "site:\n  base_url: https://pages.agency.example/\nenrichment:\n  website:\n    timeout_secs: 1.0\n",
    );
    let port = internal.addr.port();
    let websites = [
        ("loop", format!("http://127.0.0.1:{port}/")),
        ("loop6", format!("http://[::1]:{port}/")),
        (
            "meta",
            "http://169.254.169.254/latest/meta-data/".to_string(),
        ),
        ("lan", "http://10.0.0.1/".to_string()),
    ];
    for (key, url) in &websites {
        p.write(
            &format!("leads/{key}.yaml"),
            &lead(key, &format!("Shop {key}"), "Auto repair shop", Some(url)),
        );
    }
    // A proxy in the environment is not used: through it, the check would see the proxy's
    // address, never the site's (here the internal server itself stands as the proxy).
    let proxy = format!("http://127.0.0.1:{port}");
    let run = p.run_with_env(
        &["-v", "build"],
        &[
            ("http_proxy", proxy.as_str()),
            ("HTTP_PROXY", proxy.as_str()),
            ("ALL_PROXY", proxy.as_str()),
        ],
    );
    assert!(matches!(run.code, 0 | 3), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("10.0.0.1 is not on the public internet"),
        "the site is named, not the proxy: {}",
        run.stderr
    );
    let enriched = artefact(&p, "enriched_leads.jsonl");
    for (key, _) in &websites {
        let lead = &enriched[*key];
        assert!(lead["description"].is_null(), "{key}: {lead}");
        assert!(lead["email"].is_null(), "{key}: {lead}");
    }
    // Nothing of the internal page anywhere in the site or the build's files.
    for dir in ["site", ".leadsite"] {
        for e in walkdir::WalkDir::new(p.path(dir)).into_iter().flatten() {
            if e.file_type().is_file() {
                let text = String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned();
                assert!(
                    !text.contains("hunter2"),
                    "{} holds the internal page",
                    e.path().display()
                );
            }
        }
    }
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("not on the public internet"),
        "the refusal is said: {}",
        run.stderr
    );
    // Refused, so counted apart: none of them was read, none was "unreachable".
    assert!(
        run.stdout
            .contains("websites: 0 read, 0 from cache, 0 unreachable, ")
            && run
                .stdout
                .contains(" not on the public internet (not read)"),
        "{}",
        run.stdout
    );
}
