//! Pages say only what the data supports (issue 12): for every theme a sparse lead (name, phone,
//! address) renders no claim, and a rich lead renders the ones its data states; golden copies of
//! both; JSON-LD parsed (types, hours, no aggregateRating); hostile text never reaches a page.

use std::fs;
use std::path::Path;

use crate::harness::{tree, Project};

const CONFIG: &str = "site:\n  base_url: https://pages.agency.example/\n  title: Example pages\n  cta_url: https://agency.example/claim\n  per_page: 5\nenrichment:\n  website:\n    enabled: false\nscoring:\n  threshold: 0\n";

/// (dedup_key, category, theme, schema.org type) of the sparse leads: one per theme, and a
/// florist for the default theme and copy.
const SPARSE: &[(&str, &str, &str, &str)] = &[
    (
        "sparse-auto",
        "Auto repair shop",
        "auto-repair",
        "AutoRepair",
    ),
    ("sparse-plumber", "Plumber", "plumbing", "Plumber"),
    (
        "sparse-realtor",
        "Real estate agency",
        "real-estate",
        "RealEstateAgent",
    ),
    (
        "sparse-restaurant",
        "Italian restaurant",
        "restaurant",
        "Restaurant",
    ),
    (
        "sparse-cafe",
        "Coffee shop",
        "restaurant",
        "CafeOrCoffeeShop",
    ),
    ("sparse-florist", "Florist", "default", "Florist"),
];

fn sparse(key: &str, category: &str) -> String {
    format!(
        "dedup_key: {key}\nname: Sparse {category}\ncategory: {category}\nphone: '+12175550134'\naddress: {{street: 1 Main St, city: Springfield, region: IL, postal_code: '62701', country: US}}\nroute: TARGET\n"
    )
}

/// A google-maps-scraper lead with hours, attributes, price range and links.
fn rich_google(key: &str, category: &str, hours: &str, takeout: bool) -> String {
    format!(
        r#"dedup_key: {key}
name: Rich {category}
category: {category}
phone: '+12175550199'
email: hello@{key}.example
address: {{street: 9 Elm St, city: Springfield, region: IL, postal_code: '62701', country: US}}
location: {{lat: 39.78, lng: -89.65, accuracy: rooftop}}
rating: 4.6
review_count: 612
source: {{kind: google_maps, id: ChIJrich, fetched_at: 2026-11-20T10:00:00Z}}
route: TARGET
price_range: $10–20
open_hours: {hours}
attributes:
- id: service_options
  name: Service options
  options:
  - {{name: Onsite services, enabled: true}}
  - {{name: Online appointments, enabled: true}}
  - {{name: Takeout, enabled: {takeout}}}
  - {{name: Dine-in, enabled: true}}
- id: accessibility
  name: Accessibility
  options:
  - {{name: Wheelchair accessible entrance, enabled: true}}
- id: payments
  name: Payments
  options:
  - {{name: Credit cards, enabled: true}}
menu:
  link: /url?q=https://{key}.example/menu&opi=1
  source: {key}.example
reservations:
- link: https://book.example/{key}
  source: book.example
"#
    )
}

const WEEKDAYS: &str = r#"{Monday: ["8 AM–6 PM"], Tuesday: ["8 AM–6 PM"], Wednesday: ["8 AM–6 PM"], Thursday: ["8 AM–6 PM"], Friday: ["8 AM–12 PM", "1–6 PM"], Saturday: ["9 AM–2 PM"], Sunday: [Closed]}"#;
const ALWAYS: &str = r#"{Monday: [Open 24 hours], Tuesday: [Open 24 hours], Wednesday: [Open 24 hours], Thursday: [Open 24 hours], Friday: [Open 24 hours], Saturday: [Open 24 hours], Sunday: [Open 24 hours]}"#;

/// An OpenStreetMap restaurant with its tags.
const RICH_OSM: &str = r#"dedup_key: rich-osm-restaurant
name: Rich OSM Kitchen
category: Restaurant
phone: '+441316636999'
address: {street: 17 Maulsford Avenue, city: Danderhall, postal_code: EH22 1PJ, country: GB}
source: {kind: osm, id: way/1, fetched_at: 2026-02-11T23:02:22Z}
route: TARGET
osm:
  amenity: restaurant
  cuisine: chinese;dim_sum
  takeaway: yes
  reservation: yes
  diet:vegetarian: yes
  wheelchair: limited
  opening_hours: Mo-Th 12:00-16:00,17:00-21:30; Fr,Sa 12:00-16:00,17:00-22:00; Su 12:30-16:00; PH off
"#;

fn project() -> Project {
    let p = Project::with_config(CONFIG);
    for (key, category, _, _) in SPARSE {
        p.write(&format!("leads/{key}.yaml"), &sparse(key, category));
    }
    p.write(
        "leads/rich-auto.yaml",
        &rich_google("rich-auto", "Auto repair shop", WEEKDAYS, true),
    );
    p.write(
        "leads/rich-plumber.yaml",
        &rich_google("rich-plumber", "Plumber", ALWAYS, true),
    );
    p.write(
        "leads/rich-realtor.yaml",
        &rich_google("rich-realtor", "Real estate agency", WEEKDAYS, true),
    );
    // Takeout: false, as a real export says it: no take-out on the page.
    p.write(
        "leads/rich-restaurant.yaml",
        &rich_google("rich-restaurant", "Italian restaurant", WEEKDAYS, false),
    );
    p.write(
        "leads/rich-florist.yaml",
        &rich_google("rich-florist", "Florist", WEEKDAYS, true),
    );
    p.write("leads/rich-osm-restaurant.yaml", RICH_OSM);
    p
}

/// The page's visible text: tags out, entities decoded enough for the words we look for.
fn text(html: &str) -> String {
    let body = &html[html.find("<body").unwrap_or(0)..];
    let mut out = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&#x27;", "'")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn json_ld(html: &str) -> serde_json::Value {
    let start = html
        .find("<script type=\"application/ld+json\">")
        .expect("a JSON-LD script")
        + "<script type=\"application/ld+json\">".len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).expect("JSON-LD parses")
}

/// What a page must never say unless a field says it: the claims the old copy made up.
const INVENTED: &[&str] = &[
    "ASE",
    "certified",
    "guarantee",
    "Warranty",
    "local farms",
    "from scratch",
    "any time",
    "24/7",
    "licensed",
    "insured",
    "new patients",
    "insurance",
    "Honest",
    "within one business day",
    "Fair prices",
    "know every street",
];

#[test]
fn every_theme_matches_its_golden_pages() {
    let p = project();
    // A lead that leaves between two builds: its old URL becomes a redirect in the golden copy.
    p.write(
        "leads/gone.yaml",
        &sparse("gone", "Plumber").replace("Sparse Plumber", "Gone Plumbing"),
    );
    p.run(&["build", "--offline"]).code(0);
    fs::remove_file(p.path("leads/gone.yaml")).unwrap();
    let run = p.run(&["build", "--offline"]);
    run.code(0);
    assert!(
        run.stdout
            .contains("0 pages written, 12 unchanged, 1 removed"),
        "{}",
        run.stdout
    );
    let got = tree(&p.path("site"));
    // scripts/browser-check renders this site in a browser: it asks for a copy.
    if let Some(out) = std::env::var_os("LEADSITE_GOLDEN_SITE_OUT") {
        for (rel, bytes) in &got {
            let to = Path::new(&out).join(rel);
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::write(to, bytes).unwrap();
        }
    }
    // One insta snapshot a file (tests/testsuite/snapshots/golden-site/, named by its path with
    // `__` for `/`). A change shows as a diff; `INSTA_UPDATE=always cargo test golden` (or
    // `cargo insta review`) accepts it.
    let snapshots =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testsuite/snapshots/golden-site");
    let name = |rel: &str| rel.replace('/', "__");
    insta::with_settings!({
        snapshot_path => snapshots.clone(),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        for (rel, bytes) in &got {
            insta::assert_snapshot!(name(rel), String::from_utf8(bytes.clone()).expect("site files are text"));
        }
    });
    // insta does not see a snapshot that no file matches any more: a page the site lost.
    let stored: Vec<String> = fs::read_dir(&snapshots)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_str()?
                        .strip_suffix(".snap")
                        .map(String::from)
                })
                .collect()
        })
        .unwrap_or_default();
    let made: Vec<String> = got.keys().map(|rel| name(rel)).collect();
    let mut lost: Vec<&String> = stored.iter().filter(|s| !made.contains(s)).collect();
    lost.sort();
    assert!(
        lost.is_empty(),
        "snapshots of files the site no longer has (remove them from {}): {lost:?}",
        snapshots.display()
    );
    let page = String::from_utf8_lossy(&got["rich-auto/index.html"]).into_owned();
    for needle in [
        "<html lang=\"en\">",
        "<title>Rich Auto repair shop | Auto repair shop in Springfield</title>",
        "<link rel=\"canonical\" href=\"https://pages.agency.example/rich-auto/\">",
        "<meta property=\"og:title\"",
        "<meta property=\"og:locale\" content=\"en_US\">",
        "https://agency.example/claim?utm_source=leadsite&amp;utm_medium=landing_page&amp;utm_campaign=auto-repair&amp;utm_content=rich-auto",
        "theme-auto-repair",
    ] {
        assert!(page.contains(needle), "{needle} in\n{page}");
    }
    let stats: serde_json::Value =
        serde_json::from_str(&p.read(".leadsite/build/landing_stats.json")).unwrap();
    assert_eq!(stats["themes"]["restaurant"]["pages"], 4);
    assert_eq!(stats["themes"]["default"]["pages"], 2);
}

#[test]
fn a_sparse_lead_states_no_claim_in_any_theme() {
    let p = project();
    p.run(&["build", "--offline"]).code(0);
    // Every block of the built-in copy that needs a fact.
    let content = leadsite::site::content::Content::load(Path::new("/nonexistent")).unwrap();
    let mut gated: Vec<String> = Vec::new();
    for industry in content.industries.values() {
        for s in &industry.services {
            assert!(
                s.when.is_some(),
                "{}: {} makes a claim with no fact",
                industry.key,
                s.name
            );
            gated.push(s.text.clone());
        }
        for q in &industry.faq {
            assert!(
                q.when.is_some(),
                "{}: {} answers with no fact",
                industry.key,
                q.q
            );
            gated.push(q.a.clone());
        }
        assert!(
            industry.tagline.is_empty() && industry.body_html.trim().is_empty(),
            "{}: built-in copy says nothing about a business it does not know",
            industry.key
        );
    }
    for (key, _, theme, schema) in SPARSE {
        let html = p.read(&format!("site/{key}/index.html"));
        let words = text(&html);
        assert!(
            html.contains(&format!("theme-{theme}")),
            "{key}: theme {theme}"
        );
        for phrase in gated
            .iter()
            .map(String::as_str)
            .chain(INVENTED.iter().copied())
        {
            assert!(!words.contains(phrase), "{key} says {phrase:?}:\n{words}");
        }
        for section in [
            "hours-title",
            "facts-title",
            "services-title",
            "faq-title",
            "class=\"badges\"",
            "class=\"rating\"",
        ] {
            assert!(!html.contains(section), "{key} has {section}");
        }
        // What it does say: who, where, how to call.
        for needle in ["(217) 555-0134", "1 Main St", "Springfield, IL 62701"] {
            assert!(words.contains(needle), "{key}: {needle} in\n{words}");
        }
        let ld = json_ld(&html);
        assert_eq!(ld["@type"], *schema, "{key}");
        for absent in ["aggregateRating", "openingHoursSpecification", "priceRange"] {
            assert!(ld.get(absent).is_none(), "{key}: {absent} in {ld}");
        }
    }
}

#[test]
fn a_rich_lead_shows_what_its_data_supports_and_nothing_else() {
    let p = project();
    let run = p.run(&["build", "--offline"]);
    run.code(0);
    for key in [
        "rich-auto",
        "rich-plumber",
        "rich-realtor",
        "rich-restaurant",
        "rich-florist",
    ] {
        let html = p.read(&format!("site/{key}/index.html"));
        let words = text(&html);
        for needle in [
            "4.6 on Google Maps (612 reviews)",
            "Price range $10–20",
            "Opening hours",
            "Menu",
            if key == "rich-restaurant" {
                "Book a table"
            } else {
                "Book online"
            },
            "wheelchair accessible",
            "credit cards",
        ] {
            assert!(
                words.to_lowercase().contains(&needle.to_lowercase()),
                "{key}: {needle} in\n{words}"
            );
        }
        for phrase in INVENTED {
            assert!(!words.contains(phrase), "{key} says {phrase:?}");
        }
        assert!(
            html.contains("href=\"https://book.example/")
                && html.contains(&format!("href=\"https://{key}.example/menu\"")),
            "{key}: the booking link and the menu link unwrapped from Google's redirect"
        );
        let ld = json_ld(&html);
        assert!(ld.get("aggregateRating").is_none(), "{key}: {ld}");
        assert_eq!(ld["priceRange"], "$10–20");
        assert!(ld["openingHoursSpecification"].is_array(), "{key}: {ld}");
    }
    let weekdays = text(&p.read("site/rich-auto/index.html"));
    assert!(
        weekdays.contains("Friday 8 AM–12 PM, 1 PM–6 PM Saturday 9 AM–2 PM Sunday Closed"),
        "{weekdays}"
    );
    assert!(!weekdays.contains("Open 24 hours"));
    let ld = json_ld(&p.read("site/rich-auto/index.html"));
    assert_eq!(
        ld["openingHoursSpecification"][0],
        serde_json::json!({"@type": "OpeningHoursSpecification", "dayOfWeek": ["Monday", "Tuesday", "Wednesday", "Thursday"], "opens": "08:00", "closes": "18:00"})
    );
    // Only 24-hour data says "open 24 hours", and only then does the plumbing copy answer so.
    let plumber = text(&p.read("site/rich-plumber/index.html"));
    assert!(plumber.contains("Open 24 hours"), "{plumber}");
    assert!(plumber.contains("24 hours a day, every day"), "{plumber}");
    // Blocks whose fact holds are shown (online booking); "Onsite services" (Google's words for
    // service at the premises) is shown as the data says it, never as "comes to you".
    assert!(
        plumber.contains("Appointments can be made online."),
        "{plumber}"
    );
    assert!(
        plumber.contains("Onsite services") && !plumber.contains("comes to you"),
        "{plumber}"
    );
    // Takeout: false → no take-out; Dine-in: true → dine in.
    let restaurant = text(&p.read("site/rich-restaurant/index.html"));
    assert!(
        !restaurant.contains("Take-out") && !restaurant.contains("Takeout"),
        "{restaurant}"
    );
    assert!(
        restaurant.contains("Tables on site, to eat in."),
        "{restaurant}"
    );
    // OSM: tags become facts, the hours a table, and the data is attributed.
    let osm_html = p.read("site/rich-osm-restaurant/index.html");
    let osm = text(&osm_html);
    for needle in [
        "Chinese",
        "Dim sum",
        "Take-out",
        "Yes, this restaurant takes reservations.",
        "Yes, the menu has vegetarian options.",
        "Limited wheelchair access",
        "Sunday 12:30 PM–4 PM",
        "OpenStreetMap contributors",
    ] {
        assert!(osm.contains(needle), "{needle} in\n{osm}");
    }
    assert!(
        !osm.contains("the entrance is wheelchair accessible"),
        "limited is not yes"
    );
    assert_eq!(
        json_ld(&osm_html)["servesCuisine"],
        serde_json::json!(["Chinese", "Dim sum"])
    );
}

#[test]
fn unreadable_hours_are_left_out_with_a_warning_never_guessed() {
    let p = project();
    p.write(
        "leads/odd-hours.yaml",
        "dedup_key: odd-hours\nname: Odd Hours\ncategory: Plumber\nphone: '+12175550134'\nroute: TARGET\nopen_hours: {Monday: [By appointment], Tuesday: [Closed], Wednesday: [Closed], Thursday: [Closed], Friday: [Closed], Saturday: [Closed], Sunday: [Closed]}\n",
    );
    p.write(
        "leads/seasonal.yaml",
        "dedup_key: seasonal\nname: Seasonal\ncategory: Restaurant\nphone: '+12175550134'\nroute: TARGET\nosm: {opening_hours: 'Jun-Aug Mo-Su 10:00-22:00'}\n",
    );
    let run = p.run(&["build", "--offline"]);
    run.code(0)
        .says("warning: odd-hours: open_hours Monday: cannot read \"By appointment\"");
    run.says("warning: seasonal: opening_hours");
    for key in ["odd-hours", "seasonal"] {
        let html = p.read(&format!("site/{key}/index.html"));
        assert!(
            !html.contains("hours-title") && !html.contains("Closed"),
            "{key}"
        );
        assert!(json_ld(&html).get("openingHoursSpecification").is_none());
    }
    // The warning stays on the next build, while the page is not rendered again.
    let again = p.run(&["build", "--offline"]);
    again.says("warning: odd-hours");
}

#[test]
fn hostile_text_never_reaches_a_page() {
    let p = project();
    let long = "W".repeat(500);
    p.write(
        "leads/hostile.yaml",
        &format!(
            "dedup_key: hostile\nname: \"Bob\\u202Es Diner\\0 {long}\"\ncategory: \"Restaurant\\u2066\"\nphone: '+12175550134'\naddress: {{street: 2CPF+GQF, city: Springfield}}\nroute: TARGET\n"
        ),
    );
    p.run(&["build", "--offline"]).code(0);
    let html = p.read("site/hostile/index.html");
    for bad in ['\u{202e}', '\u{2066}', '\0'] {
        assert!(!html.contains(bad), "{bad:?} reached the page");
    }
    assert!(
        html.contains("Bobs Diner"),
        "the name stays, without its controls"
    );
    assert!(!html.contains("2CPF+GQF"), "a Plus Code is not a street");
    let index = p.read("site/index.html");
    assert!(!index.contains('\u{202e}') && !index.contains('\0'));
    // The long name wraps: the stylesheet lets headings break anywhere.
    let css = tree(&p.path("site/assets/default"))
        .into_iter()
        .find(|(k, _)| k.ends_with(".css"))
        .map(|(_, v)| String::from_utf8(v).unwrap())
        .unwrap();
    assert!(css.contains("h1, h2, .brand") && css.contains("overflow-wrap: anywhere"));
}

/// The neighbourhood the data names (google-maps-scraper's `borough`) is part of the address
/// shown, once.
#[test]
fn the_neighbourhood_is_part_of_the_address() {
    let p = Project::with_config(CONFIG);
    p.write(
        "leads/latsi.yaml",
        &sparse("latsi", "Restaurant").replace(
            "address: {street: 1 Main St,",
            "address: {borough: Latsi, street: 1 Main St,",
        ),
    );
    p.write(
        "leads/same.yaml",
        &sparse("same", "Restaurant").replace(
            "address: {street: 1 Main St,",
            "address: {borough: springfield, street: 1 Main St,",
        ),
    );
    p.run(&["build", "--offline"]).code(0);
    let latsi = text(&p.read("site/latsi/index.html"));
    assert!(latsi.contains("1 Main St Latsi Springfield"), "{latsi}");
    let same = text(&p.read("site/same/index.html"));
    assert!(
        !same.contains("springfield"),
        "the city says it already: {same}"
    );
}

#[test]
fn check_and_build_say_which_industries_fall_back_to_the_default_copy() {
    let p = project();
    p.write(
        "leads/yoga.yaml",
        "dedup_key: yoga\nname: Yoga Place\ncategory: Yoga studio\nphone: '+12175550134'\naddress: {street: 3 Oak St, city: Springfield, region: IL, country: US}\nroute: TARGET\n",
    );
    let check = p.run(&["check"]);
    check.code(0);
    let build = p.run(&["build", "--offline"]);
    build.code(0);
    for out in [&check.stderr, &build.stderr] {
        assert!(
            out.contains("1 lead of industry fitness (e.g. yoga) with the default copy: add content/industries/fitness.md"),
            "{out}"
        );
        assert!(
            out.contains("2 leads of industry florist (e.g. rich-florist)"),
            "{out}"
        );
    }
    assert_eq!(
        json_ld(&p.read("site/yoga/index.html"))["@type"],
        "ExerciseGym"
    );
}

#[test]
fn a_greek_site_speaks_greek_with_its_own_copy_and_formats() {
    let p = Project::with_config(&CONFIG.replace(
        "  title: Example pages\n",
        "  title: Example pages\n  language: el-CY\n",
    ));
    p.write(
        "leads/rich-restaurant.yaml",
        &rich_google("rich-restaurant", "Εστιατόριο", WEEKDAYS, false)
            .replace("review_count: 612", "review_count: 1612"),
    );
    // A second restaurant: a trade with two pages has a hub.
    p.write(
        "leads/rich-taverna.yaml",
        &rich_google("rich-taverna", "Εστιατόριο", WEEKDAYS, false),
    );
    // Industry copy in Greek, English where there is none.
    p.write(
        "content/industries/restaurant.el.md",
        "---\ntagline: \"\"\nservices:\n  - name: Για να φάτε εδώ\n    text: Τραπέζια στον χώρο.\n    when: dine_in\n---\n",
    );
    p.write(
        "content/pages/privacy.el.md",
        "---\ntitle: Απόρρητο\n---\nΚείμενο απορρήτου.\n",
    );
    // The imprint has no Greek text: said, by check and by build.
    let imprint =
        "site.language el-CY: the imprint page is English (add content/pages/<page>.el.md)";
    p.run(&["check"]).says(imprint);
    p.run(&["build", "--offline"]).code(0).says(imprint);
    let privacy = p.read("site/privacy/index.html");
    assert!(privacy.contains("Κείμενο απορρήτου."), "{privacy}");
    assert!(!p.path("site/privacy.el").exists());
    let html = p.read("site/rich-restaurant/index.html");
    assert!(
        html.contains(">Απόρρητο</a>"),
        "the footer links the Greek page"
    );
    let words = text(&html);
    for needle in [
        "<html lang=\"el-CY\">",
        "<meta property=\"og:locale\" content=\"el_CY\">",
    ] {
        assert!(html.contains(needle), "{needle}");
    }
    for needle in [
        "Ωράριο λειτουργίας",
        "Δευτέρα 08:00–18:00",
        "Κυριακή Κλειστά",
        "4,6 στο Google Maps (1.612 κριτικές)",
        "Κλήση (217) 555-0199",
        "Τραπέζια στον χώρο.",
        "Είναι δική σας επιχείρηση;",
        "Διεκδικήστε τη σελίδα",
    ] {
        assert!(words.contains(needle), "{needle} in\n{words}");
    }
    assert!(!words.contains("Opening hours") && !words.contains("Tables on site"));
    // Google's (English) attributes in the site's words where leadsite has them; the others as
    // the data has them.
    for needle in [
        "Επιλογές εξυπηρέτησης",
        "Ραντεβού online",
        "Προσβασιμότητα",
        "Είσοδος προσβάσιμη με αναπηρικό αμαξίδιο",
        "Πληρωμές",
        "Πιστωτικές κάρτες",
        "Onsite services",
    ] {
        assert!(words.contains(needle), "{needle} in\n{words}");
    }
    for english in ["Service options", "Online appointments", "Credit cards"] {
        assert!(!words.contains(english), "{english} in\n{words}");
    }
    let index = text(&p.read("site/index.html"));
    assert!(index.contains("τοπικές επιχειρήσεις"), "{index}");
    // The trade's hub is named in Greek (its address keeps the key).
    let hub = text(&p.read("site/industry/restaurant/index.html"));
    assert!(hub.contains("Εστιατόρια"), "{hub}");

    // A language no theme has: English strings, and a warning that says how to add them.
    let fi = Project::with_config(&CONFIG.replace(
        "  title: Example pages\n",
        "  title: Example pages\n  language: fi\n",
    ));
    fi.write(
        "leads/sparse-auto.yaml",
        &sparse("sparse-auto", "Auto repair shop"),
    );
    let run = fi.run(&["build", "--offline"]);
    run.code(0).says("site.language fi: the themes have no UI strings in it, so pages show English ones; add themes/default/i18n/fi.yaml");
    assert!(fi
        .read("site/sparse-auto/index.html")
        .contains("og:locale\" content=\"fi_FI\""));
    run.says("site.language fi: the copy of auto-repair is English");
    // British English needs no strings of its own.
    let gb = Project::with_config(&CONFIG.replace(
        "  title: Example pages\n",
        "  title: Example pages\n  language: en-GB\n",
    ));
    gb.write(
        "leads/sparse-auto.yaml",
        &sparse("sparse-auto", "Auto repair shop"),
    );
    let run = gb.run(&["build", "--offline"]);
    assert!(!run.stderr.contains("site.language"), "{}", run.stderr);
    assert!(gb
        .read("site/sparse-auto/index.html")
        .contains("og:locale\" content=\"en_GB\""));
}

#[test]
fn a_site_in_two_languages_has_a_folder_each_with_hreflang_and_sitemaps() {
    let p = Project::with_config(&CONFIG.replace(
        "  title: Example pages\n",
        "  title: Example pages\n  languages: [el, en]\n",
    ));
    p.write(
        "leads/rich-restaurant.yaml",
        &rich_google("rich-restaurant", "Italian restaurant", WEEKDAYS, true),
    );
    p.run(&["build", "--offline"]).code(0);
    let el = p.read("site/el/rich-restaurant/index.html");
    let en = p.read("site/en/rich-restaurant/index.html");
    for page in [&el, &en] {
        for needle in [
            "<link rel=\"alternate\" hreflang=\"el\" href=\"https://pages.agency.example/el/rich-restaurant/\">",
            "<link rel=\"alternate\" hreflang=\"en\" href=\"https://pages.agency.example/en/rich-restaurant/\">",
            "<link rel=\"alternate\" hreflang=\"x-default\" href=\"https://pages.agency.example/el/rich-restaurant/\">",
        ] {
            assert!(page.contains(needle), "{needle}");
        }
    }
    assert!(el.contains("<html lang=\"el\">") && el.contains("Ωράριο λειτουργίας"));
    assert!(en.contains("<html lang=\"en\">") && en.contains("Opening hours"));
    assert!(el.contains(
        "<link rel=\"canonical\" href=\"https://pages.agency.example/el/rich-restaurant/\">"
    ));
    // A sitemap per language, an index of them at the root, and a root that leads to both.
    assert!(p
        .read("site/el/sitemap.xml")
        .contains("<loc>https://pages.agency.example/el/rich-restaurant/</loc>"));
    let index = p.read("site/sitemap.xml");
    for l in ["el", "en"] {
        assert!(
            index.contains(&format!(
                "<loc>https://pages.agency.example/{l}/sitemap.xml</loc>"
            )),
            "{index}"
        );
    }
    let root = p.read("site/index.html");
    assert!(
        root.contains("href=\"https://pages.agency.example/en/\" hreflang=\"en\""),
        "{root}"
    );
    assert!(p
        .read("site/robots.txt")
        .contains("Sitemap: https://pages.agency.example/sitemap.xml"));
    assert!(p.path("site/404.html").is_file() && !p.path("site/rich-restaurant").exists());
}
