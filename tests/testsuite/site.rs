//! `leadsite build` rendering: golden output, determinism, incremental rebuilds, hostile data and
//! clear errors for broken themes and content.

use std::fs;
use std::path::Path;

use crate::harness::{tree, Project};

const CONFIG: &str = "site:\n  base_url: https://pages.agency.example/\n  title: Example pages\n  cta_url: https://agency.example/claim\nenrichment:\n  website:\n    enabled: false\n";

fn lead(key: &str, name: &str, category: &str) -> String {
    format!(
        "dedup_key: {key}\nname: {name}\ncategory: {category}\nphone: '+12175550134'\nemail: hello@{key}.example\naddress: {{street: 1 Main St, city: Springfield, region: IL, postal_code: '62701', country: US}}\nlocation: {{lat: 39.78, lng: -89.65, accuracy: rooftop}}\nrating: 4.5\nreview_count: 20\nsource: {{kind: csv, fetched_at: 2026-11-20T10:00:00Z}}\nroute: TARGET\nroute_reason: test\n"
    )
}

fn project() -> Project {
    let p = Project::with_config(CONFIG);
    p.write(
        "leads/acme-auto.yaml",
        &lead("acme-auto", "Acme Auto", "Auto repair shop"),
    );
    p.write(
        "leads/luigis.yaml",
        &lead("luigis", "Luigi's", "Italian restaurant"),
    );
    p
}

fn mtime(p: &Path) -> std::time::SystemTime {
    fs::metadata(p).unwrap().modified().unwrap()
}

#[test]
fn a_small_site_has_titles_canonicals_sitemap_and_reports() {
    let p = project();
    let run = p.run(&["build", "--offline"]);
    run.code(0);
    assert!(
        run.stdout
            .contains("2 pages written, 0 unchanged, 0 removed"),
        "{}",
        run.stdout
    );
    let got = tree(&p.path("site"));
    let page = String::from_utf8_lossy(&got["acme-auto/index.html"]).into_owned();
    for needle in [
        "<html lang=\"en\">",
        "<title>Acme Auto | Auto repair shop in Springfield</title>",
        "<link rel=\"canonical\" href=\"https://pages.agency.example/acme-auto/\">",
        "<meta property=\"og:title\"",
        "<meta name=\"twitter:card\" content=\"summary\">",
        "\"@type\":\"AutoRepair\"",
        "https://agency.example/claim?utm_source=leadsite&amp;utm_medium=landing_page&amp;utm_campaign=auto-repair&amp;utm_content=acme-auto",
        "theme-auto-repair",
    ] {
        assert!(page.contains(needle), "{needle} in\n{page}");
    }
    let sitemap = String::from_utf8_lossy(&got["sitemap.xml"]).into_owned();
    assert!(
        sitemap.contains(
            "<loc>https://pages.agency.example/luigis/</loc><lastmod>2026-11-20</lastmod>"
        ),
        "{sitemap}"
    );
    let pages: serde_json::Value =
        serde_json::from_str(&p.read(".leadsite/build/landing_pages.json")).unwrap();
    assert_eq!(
        pages["acme-auto"]["url"],
        "https://pages.agency.example/acme-auto/"
    );
    assert_eq!(pages["acme-auto"]["path"], "site/acme-auto/index.html");
    let stats: serde_json::Value =
        serde_json::from_str(&p.read(".leadsite/build/landing_stats.json")).unwrap();
    assert_eq!(stats["themes"]["restaurant"]["pages"], 1);
    assert_eq!(stats["themes"]["auto-repair"]["written"], 1);
}

#[test]
fn the_same_inputs_give_the_same_bytes() {
    let a = project();
    let b = project();
    a.run(&["build", "--offline"]).code(0);
    b.run(&["build", "--offline"]).code(0);
    assert_eq!(tree(&a.path("site")), tree(&b.path("site")));
    // A build from scratch in the same folder too.
    let first = tree(&a.path("site"));
    fs::remove_dir_all(a.path("site")).unwrap();
    fs::remove_dir_all(a.path(".leadsite")).unwrap();
    a.run(&["build", "--offline"]).code(0);
    assert_eq!(tree(&a.path("site")), first);
}

#[test]
fn a_rebuild_touches_only_what_changed_and_removes_pages_of_leads_that_left() {
    let p = project();
    p.write(
        "leads/bolt.yaml",
        &lead("bolt", "Bolt Garage", "Auto repair shop"),
    );
    p.run(&["build", "--offline"]).code(0);
    let page = |k: &str| p.path(&format!("site/{k}/index.html"));
    let before: Vec<_> = ["acme-auto", "luigis", "bolt"]
        .iter()
        .map(|k| mtime(&page(k)))
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(20));

    let run = p.run(&["build", "--offline"]);
    assert!(
        run.stdout
            .contains("0 pages written, 3 unchanged, 0 removed; 0 other files written"),
        "{}",
        run.stdout
    );

    p.write(
        "leads/luigis.yaml",
        &lead("luigis", "Luigi's Trattoria", "Italian restaurant"),
    );
    let run = p.run(&["build", "--offline"]);
    assert!(
        run.stdout
            .contains("1 pages written, 2 unchanged, 0 removed"),
        "{}",
        run.stdout
    );
    assert_eq!(mtime(&page("acme-auto")), before[0]);
    assert_eq!(mtime(&page("bolt")), before[2]);
    assert_ne!(mtime(&page("luigis")), before[1]);
    assert!(p
        .read("site/luigis/index.html")
        .contains("Luigi&#39;s Trattoria"));

    fs::remove_file(p.path("leads/bolt.yaml")).unwrap();
    let run = p.run(&["build", "--offline"]);
    assert!(
        run.stdout
            .contains("0 pages written, 2 unchanged, 1 removed"),
        "{}",
        run.stdout
    );
    // Emails already sent link to it: the old URL leads on to the index, unlisted.
    let moved = p.read("site/bolt/index.html");
    for needle in [
        "<link rel=\"canonical\" href=\"https://pages.agency.example/\">",
        "<meta http-equiv=\"refresh\" content=\"0; url=https://pages.agency.example/\">",
        "<meta name=\"robots\" content=\"noindex\">",
    ] {
        assert!(moved.contains(needle), "{needle} in {moved}");
    }
    assert!(
        run.stdout.contains("redirects: 1 old URLs"),
        "{}",
        run.stdout
    );
    assert!(!p.read("site/index.html").contains("Bolt Garage"));
    assert!(!p.read("site/sitemap.xml").contains("/bolt/"));
    // The record of old URLs unreadable: the build stops and says so; the redirect page stays.
    let record = p.read(".leadsite/build/redirects.json");
    p.write(".leadsite/build/redirects.json", "{not json");
    let run = p.run(&["build", "--offline"]);
    run.code(1);
    run.says("redirects.json");
    assert!(p
        .read("site/bolt/index.html")
        .contains("http-equiv=\"refresh\""));
    p.write(".leadsite/build/redirects.json", &record);

    // A typo in a lead file is not a lead that left: its page stays as it was.
    let before = p.read("site/luigis/index.html");
    p.write("leads/luigis.yaml", "dedup_key: luigis\nname: [Luigi\n");
    let run = p.run(&["build", "--offline"]);
    run.code(3);
    assert_eq!(p.read("site/luigis/index.html"), before);
    run.says("luigis: its lead file cannot be read, so its last page is kept");
    p.write(
        "leads/luigis.yaml",
        &lead("luigis", "Luigi's Trattoria", "Italian restaurant"),
    );
    p.run(&["build", "--offline"]).code(0);

    // Renamed: the new lead names its old key in `aliases`, and the old URL leads to it.
    p.write(
        "leads/bolt-renamed.yaml",
        &format!(
            "{}aliases: [bolt]\n",
            lead("bolt-garage-springfield", "Bolt Garage", "Auto repair shop")
        ),
    );
    p.run(&["build", "--offline"]).code(0);
    let moved = p.read("site/bolt/index.html");
    assert!(
        moved.contains("url=https://pages.agency.example/bolt-garage-springfield/\""),
        "{moved}"
    );
    // Two leads claiming one old key: the first (by key) keeps it, and the build says so.
    p.write(
        "leads/zz-bolt.yaml",
        &format!(
            "{}aliases: [bolt]\n",
            lead("zz-bolt", "Bolt Again", "Auto repair shop")
        ),
    );
    let run = p.run(&["build", "--offline"]);
    run.says("zz-bolt: alias bolt is claimed by bolt-garage-springfield too");
    std::fs::remove_file(p.path("leads/zz-bolt.yaml")).unwrap();
    // The redirect stays build after build; a page that takes the key again replaces it.
    p.run(&["build", "--offline"]).code(0);
    assert!(p
        .read("site/bolt/index.html")
        .contains("http-equiv=\"refresh\""));
    p.write(
        "leads/bolt.yaml",
        &lead("bolt", "Bolt Garage", "Auto repair shop"),
    );
    p.run(&["build", "--offline"]).code(0);
    assert!(!p
        .read("site/bolt/index.html")
        .contains("http-equiv=\"refresh\""));
}

#[test]
fn the_index_is_paginated_with_hubs_per_industry_and_city() {
    let p = Project::with_config(&CONFIG.replace("enrichment:", "  per_page: 2\nenrichment:"));
    for i in 0..5 {
        p.write(
            &format!("leads/shop-{i}.yaml"),
            &lead(
                &format!("shop-{i}"),
                &format!("Shop {i}"),
                "Auto repair shop",
            ),
        );
    }
    p.run(&["build", "--offline"]).code(0);
    let index = p.read("site/index.html");
    assert!(
        index.contains("href=\"/industry/auto-repair/\">Auto repair</a> (5)"),
        "{index}"
    );
    assert!(
        index.contains("href=\"/city/springfield-il/\">Springfield, IL</a> (5)"),
        "{index}"
    );
    assert!(index.contains("href=\"/page/2/\" rel=\"next\""), "{index}");
    assert_eq!(index.matches("class=\"card\"").count(), 2);
    let last = p.read("site/page/3/index.html");
    assert!(
        last.contains("Shop 4") && last.contains("rel=\"prev\""),
        "{last}"
    );
    assert!(p
        .path("site/industry/auto-repair/page/3/index.html")
        .is_file());
    let sitemap = p.read("site/sitemap.xml");
    for loc in [
        "/page/2/",
        "/industry/auto-repair/",
        "/city/springfield-il/page/3/",
    ] {
        assert!(
            sitemap.contains(&format!("https://pages.agency.example{loc}</loc>")),
            "{loc}"
        );
    }
    // Fewer leads, fewer list pages: the ones no longer made are gone.
    for i in 2..5 {
        fs::remove_file(p.path(&format!("leads/shop-{i}.yaml"))).unwrap();
    }
    p.run(&["build", "--offline"]).code(0);
    assert!(!p.path("site/page/2").exists());
    assert!(!p.path("site/industry/auto-repair/page").exists());
    assert!(p.path("site/industry/auto-repair/index.html").is_file());
}

#[test]
fn hostile_lead_data_cannot_inject_markup_or_escape_site() {
    let p = Project::with_config(CONFIG);
    let evil = "</script><script>alert(1)</script>";
    let mut y = lead("evil", &format!("'{evil}'"), "Auto repair shop");
    y.push_str("website: javascript:alert(1)\ndescription: '\"><img src=x onerror=alert(1)>'\nabout: |\n  Hi <script>alert(2)</script> [x](javascript:alert(3))\n");
    p.write("leads/evil.yaml", &y);
    p.write(
        "leads/escape.yaml",
        &lead("../../x", "Escape", "Auto repair shop"),
    );
    p.write(
        "leads/quote.yaml",
        &lead("quote", "A \"quoted\" & <b>bold</b> name", "Plumber"),
    );
    let run = p.run(&["build", "--offline"]);
    run.code(0);
    assert!(
        run.stdout
            .contains("no page: 1 dedup_key is not a safe page name"),
        "{}",
        run.stdout
    );
    let html = p.read("site/evil/index.html");
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(!html.contains("javascript:"), "{html}");
    assert!(
        html.contains("&lt;&#x2F;script&gt;") || html.contains("&lt;/script&gt;"),
        "{html}"
    );
    // Inside JSON-LD the name is still the name, written so that it cannot close the script.
    assert!(
        html.contains(
            r#""name":"\u003c/script\u003e\u003cscript\u003ealert(1)\u003c/script\u003e""#
        ),
        "{html}"
    );
    let quote = p.read("site/quote/index.html");
    assert!(
        quote.contains("A &quot;quoted&quot; &amp; &lt;b&gt;bold&lt;/b&gt; name"),
        "{quote}"
    );
    // Nothing was written outside site/ (the project holds only what it held, and .leadsite).
    let top: Vec<String> = fs::read_dir(p.path("."))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!top.iter().any(|n| n == "x"), "{top:?}");
    assert!(!p.path("../x").exists());
}

#[test]
fn a_missing_theme_is_a_clear_error() {
    let config = CONFIG.replacen(
        "site:\n",
        "site:\n  themes: {auto-repair: no-such-theme}\n",
        1,
    );
    let p = Project::with_config(&config);
    p.write(
        "leads/acme-auto.yaml",
        &lead("acme-auto", "Acme Auto", "Auto repair shop"),
    );
    let run = p.run(&["build", "--offline"]);
    run.code(1).says("site.themes.auto-repair");
    run.says("no-such-theme");
}

#[test]
fn a_template_error_names_the_theme_file_line_and_lead() {
    let p = project();
    p.write(
        "themes/auto-repair/theme.yaml",
        "extends: default\nindustries: [auto-repair]\n",
    );
    p.write(
        "themes/auto-repair/templates/landing.html",
        "{% extends \"default/landing.html\" %}\n{% block hero %}\n<h1>{{ business.no_such_field }}</h1>\n{% endblock %}\n",
    );
    let run = p.run(&["build", "--offline"]);
    run.code(1)
        .says("themes/auto-repair/templates/landing.html");
    run.says("lead acme-auto");
    run.says("no_such_field");

    p.write("themes/auto-repair/templates/landing.html", "{% extends \"default/landing.html\" %}\n{% block hero %}\n{{ business.name \n{% endblock %}\n");
    let run = p.run(&["build", "--offline"]);
    run.code(1)
        .says("themes/auto-repair/templates/landing.html:4:1");
}

#[test]
fn a_template_that_names_the_lead_record_gets_it() {
    // The record is put into a page only when a template names it; a project's theme that does
    // still sees every field, its own extra ones too.
    let p = project();
    p.write(
        "leads/acme-auto.yaml",
        &format!(
            "{}crm_note: ask for Dana\n",
            lead("acme-auto", "Acme Auto", "Auto repair shop")
        ),
    );
    p.write(
        "themes/auto-repair/theme.yaml",
        "extends: default\nindustries: [auto-repair]\n",
    );
    p.write(
        "themes/auto-repair/templates/landing.html",
        "{% extends \"default/landing.html\" %}\n{% block hero %}\n<h1>{{ lead.name }} ({{ lead.crm_note }})</h1>\n{% endblock %}\n",
    );
    p.run(&["build", "--offline"]).code(0);
    let html = p.read("site/acme-auto/index.html");
    assert!(html.contains("<h1>Acme Auto (ask for Dana)</h1>"), "{html}");
}

#[test]
fn bad_front_matter_is_a_clear_error() {
    let p = project();
    p.write(
        "content/industries/auto-repair.md",
        "---\ntagline: Fast\nservices: not a list\n---\nBody\n",
    );
    let run = p.run(&["build", "--offline"]);
    run.code(1).says("content/industries/auto-repair.md:3");
    run.says("services");
}

#[test]
fn project_content_and_themes_replace_the_built_in_ones() {
    let p = project();
    p.write(
        "content/industries/auto-repair.md",
        "---\ntagline: Brakes by the lake.\n---\nOur own words.\n",
    );
    p.run(&["build", "--offline"]).code(0);
    let html = p.read("site/acme-auto/index.html");
    assert!(html.contains("Brakes by the lake."), "{html}");
    assert!(html.contains("Our own words."), "{html}");
    // Privacy and imprint still come from the built-in content.
    assert!(p.path("site/privacy/index.html").is_file());
}

#[test]
fn init_makes_a_project_that_builds_anywhere() {
    let p = Project::new();
    p.run(&["init", "shop", "--example"]).code(0);
    for f in [
        "shop/leadsite.yaml",
        "shop/themes/default/templates/base.html",
        "shop/content/industries/auto-repair.md",
        "shop/leads/example-auto-repair-springfield-il.yaml",
    ] {
        assert!(p.path(f).is_file(), "{f}");
    }
    let run = p.run(&["--config", "shop/leadsite.yaml", "build"]);
    run.code(0);
    assert!(
        p.path("shop/site/example-auto-repair-springfield-il/index.html")
            .is_file(),
        "{}",
        run.stdout
    );
    // Every placeholder still in place is named, by build and by check.
    let check = p.run(&["--config", "shop/leadsite.yaml", "check"]);
    check.code(0);
    for out in [&run.stderr, &check.stderr] {
        for needle in [
            "site.base_url https://pages.example.com/ is a placeholder",
            "site.cta_url is not set: \"Claim this page\" links to the site itself",
            "content/pages/imprint.md is still the example text",
            "content/pages/privacy.md is still the example text",
            "1 lead (e.g. example-auto-repair-springfield-il) with an email or website on a reserved example domain",
        ] {
            assert!(out.contains(needle), "{needle} in\n{out}");
        }
    }
    let again = p.run(&["init", "shop"]);
    again.code(2).says("already has a leadsite.yaml");

    // Without --example there is no lead to publish by mistake.
    p.run(&["init", "bare"]).code(0);
    assert!(p.path("bare/leads").is_dir());
    assert_eq!(fs::read_dir(p.path("bare/leads")).unwrap().count(), 0);
}

#[test]
fn check_reports_broken_themes_and_content_with_the_rest() {
    let p = project();
    p.write(
        "themes/broken/theme.yaml",
        "extends: nowhere\ncolour: red\n",
    );
    p.write("content/pages/about.md", "---\ntitle: [unclosed\n---\n");
    let run = p.run(&["check"]);
    run.code(3).says("themes/broken/theme.yaml:2");
    run.says("content/pages/about.md:2");
}

#[test]
fn temp_files_a_killed_build_left_are_gone_after_the_next() {
    let p = project();
    p.run(&["build"]).code(0);
    // As a build killed between create and rename leaves them (no process has this id).
    let left = [
        "site/acme-auto/.index.html.4194399.7.tmp",
        ".leadsite/build/.scored_leads.jsonl.4194399.2.tmp",
    ];
    for f in left {
        p.write(f, "half a page");
    }
    p.run(&["build"]).code(0);
    for f in left {
        assert!(!p.path(f).exists(), "{f} is still there");
    }
}

#[test]
fn a_killed_build_never_leaves_a_temp_file_in_site() {
    let p = Project::with_config(CONFIG);
    for i in 0..400 {
        p.write(
            &format!("leads/shop-{i}.yaml"),
            &lead(
                &format!("shop-{i}"),
                &format!("Shop {i}"),
                "Auto repair shop",
            ),
        );
    }
    let temps = |dir: &Path| -> Vec<String> {
        walkdir::WalkDir::new(dir)
            .into_iter()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .map(|e| e.path().display().to_string())
            .collect()
    };
    let mut killer = crate::harness::Killer::new(0x51ed);
    for round in 0..12 {
        // Every other round a rebuild after all leads changed, so pages are rewritten.
        if round % 2 == 1 {
            for i in 0..400 {
                p.write(
                    &format!("leads/shop-{i}.yaml"),
                    &lead(
                        &format!("shop-{i}"),
                        &format!("Shop {i} r{round}"),
                        "Auto repair shop",
                    ),
                );
            }
        }
        killer.run(&p, &["-q", "build", "--offline"], 30, 400);
        let left = temps(&p.path("site"));
        assert!(left.is_empty(), "round {round}: {left:?}");
    }
    p.run(&["build", "--offline"]).code(0);
    assert!(temps(&p.path("site")).is_empty());
    assert!(temps(&p.path(".leadsite/tmp")).is_empty());
    assert!(p.path("site/shop-399/index.html").is_file());
}

#[test]
fn pages_a_killed_build_left_are_made_again_even_when_the_edit_is_undone() {
    let p = project();
    p.run(&["build", "--offline"]).code(0);
    let good = p.read("site/acme-auto/index.html");
    // As a build killed mid-way leaves things: pages from other inputs on disk, the last good
    // manifest, and the marker of a build that was writing pages.
    let variant = good.replace("</main>", "<p>VARIANT-B</p></main>");
    assert_ne!(variant, good);
    p.write("site/acme-auto/index.html", &variant);
    p.write(".leadsite/build/pages.building", "");
    let run = p.run(&["build", "--offline"]);
    run.code(0);
    assert_eq!(p.read("site/acme-auto/index.html"), good, "{}", run.stdout);
    assert!(!p.path(".leadsite/build/pages.building").exists());
    // Without the marker (a build that finished) nothing is re-made.
    let again = p.run(&["build", "--offline"]);
    assert!(again.stdout.contains("0 pages written"), "{}", again.stdout);
}
