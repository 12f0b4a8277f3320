//! `leadsite serve` over real HTTP on 127.0.0.1: files, MIME types, 404, traversal, conditional
//! GET, the reload script, and a rebuild after a lead file is edited.

use std::time::{Duration, Instant};

use crate::harness::Project;

const CONFIG: &str = "site:\n  base_url: https://pages.agency.example/\nenrichment:\n  website:\n    enabled: false\n";

fn lead(key: &str, name: &str) -> String {
    format!(
        "dedup_key: {key}\nname: {name}\ncategory: Auto repair shop\nphone: '+12175550134'\naddress: {{street: 1 Main St, city: Springfield, region: IL, country: US}}\nlocation: {{lat: 39.78, lng: -89.65, accuracy: rooftop}}\nrating: 4.5\nreview_count: 20\nroute: TARGET\n"
    )
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serves_the_site_safely_and_rebuilds_on_edits() {
    let p = Project::with_config(CONFIG);
    p.write("leads/acme.yaml", &lead("acme", "Acme Auto"));
    p.write("secret.txt", "not for the web");
    let server = p.serve(&[]);

    let (status, head, body) = server.get("/acme/");
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("Content-Type: text/html; charset=utf-8"),
        "{head}"
    );
    assert!(body.contains("Acme Auto"));
    assert!(
        body.contains("<script src=\"/__leadsite/reload.js\"></script>"),
        "served pages reload"
    );
    assert!(
        !p.read("site/acme/index.html").contains("__leadsite"),
        "files on disk never get the script"
    );

    let (status, head, _) = server.get("/acme");
    assert_eq!(status, 301);
    assert!(head.contains("Location: /acme/"), "{head}");

    let css = std::fs::read_dir(p.path("site/assets/default"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let (status, head, _) = server.get(&format!("/assets/default/{}", css.to_string_lossy()));
    assert_eq!(status, 200);
    assert!(head.contains("Content-Type: text/css"), "{head}");
    let (_, head, _) = server.get("/sitemap.xml");
    assert!(head.contains("Content-Type: application/xml"), "{head}");
    let (_, head, _) = server.get("/robots.txt");
    assert!(head.contains("Content-Type: text/plain"), "{head}");

    let (status, _, body) = server.get("/no-such-page/");
    assert_eq!(status, 404);
    assert!(body.contains("Page not found"), "the site's own 404 page");

    for bad in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/acme/../../secret.txt",
        "/..%5csecret.txt",
    ] {
        let (status, _, body) = server.get(bad);
        assert!(status == 403 || status == 404, "{bad}: {status}");
        assert!(!body.contains("not for the web"), "{bad}");
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(p.path("secret.txt"), p.path("site/link.txt")).unwrap();
        let (status, _, body) = server.get("/link.txt");
        assert_eq!(status, 403);
        assert!(!body.contains("not for the web"));
    }

    // HEAD: the headers, no body; conditional GET: 304 for what the browser has.
    let (status, head, body) = server.request("HEAD", "/acme/", &[]);
    assert_eq!((status, body.len()), (200, 0));
    let etag = head
        .lines()
        // Header names are case-insensitive (hyper writes "Etag").
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("etag: ")
                .then(|| l[6..].to_string())
        })
        .unwrap();
    let (status, _, body) = server.request("GET", "/acme/", &[&format!("If-None-Match: {etag}")]);
    assert_eq!((status, body.len()), (304, 0));
    let (status, _, _) = server.request("POST", "/acme/", &[]);
    assert_eq!(status, 405);

    // An edit is built and served; a broken edit keeps the last good page.
    p.write("leads/acme.yaml", &lead("acme", "Acme Auto Deluxe"));
    wait_for("the edited name", || {
        server.get("/acme/").2.contains("Acme Auto Deluxe")
    });
    p.write("leads/broken.yaml", "name: [unclosed\n");
    wait_for("the error in the terminal", || {
        server.log.lock().unwrap().contains("build failed")
    });
    assert!(
        server.log.lock().unwrap().contains("broken.yaml:2"),
        "{}",
        server.log.lock().unwrap()
    );
    assert!(server.get("/acme/").2.contains("Acme Auto Deluxe"));
    std::fs::remove_file(p.path("leads/broken.yaml")).unwrap();
    p.write("leads/bolt.yaml", &lead("bolt", "Bolt Garage"));
    wait_for("the new lead's page", || server.get("/bolt/").0 == 200);
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let p = Project::with_config(CONFIG);
    let run = p.run(&["serve", "--port", &port]);
    run.code(1).says(format!("port {port} is in use"));
}

#[test]
fn rename_saves_and_bursts_of_edits_are_picked_up() {
    let p = Project::with_config(CONFIG);
    p.write("leads/acme.yaml", &lead("acme", "Acme Auto"));
    let server = p.serve(&[]);
    // An editor that saves by writing a temp file and renaming it over the original.
    p.write("leads/.acme.yaml.swp", &lead("acme", "Acme Renamed"));
    std::fs::rename(p.path("leads/.acme.yaml.swp"), p.path("leads/acme.yaml")).unwrap();
    wait_for("the rename-saved name", || {
        server.get("/acme/").2.contains("Acme Renamed")
    });
    // A burst: fifty new lead files at once.
    for i in 0..50 {
        p.write(
            &format!("leads/burst-{i}.yaml"),
            &lead(&format!("burst-{i}"), &format!("Burst {i}")),
        );
    }
    wait_for("every page of the burst", || {
        (0..50).all(|i| p.path(&format!("site/burst-{i}/index.html")).is_file())
    });
    let builds = server.log.lock().unwrap().matches("built in").count();
    assert!(
        builds <= 6,
        "debounced: {builds} builds\n{}",
        server.log.lock().unwrap()
    );
}

#[test]
fn serve_waits_for_another_command_holding_the_project_then_builds() {
    let p = Project::with_config(CONFIG);
    p.write("leads/acme.yaml", &lead("acme", "Acme Auto"));
    // Another command (a `build`, an `ingest`) holds the project's lock.
    std::fs::create_dir_all(p.path(".leadsite")).unwrap();
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(p.path(".leadsite/project.lock"))
        .unwrap();
    held.try_lock().unwrap();
    let server = p.serve(&[]);
    assert!(
        server.log.lock().unwrap().contains("building when it ends"),
        "{}",
        server.log.lock().unwrap()
    );
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        !p.path("site/acme/index.html").exists(),
        "nothing is written while the other command runs"
    );
    // It ends; serve builds without any further change to the files.
    drop(held);
    wait_for("the page after the lock is released", || {
        server.get("/acme/").2.contains("Acme Auto")
    });
    assert_eq!(
        server
            .log
            .lock()
            .unwrap()
            .matches("building when it ends")
            .count(),
        1,
        "said once: {}",
        server.log.lock().unwrap()
    );
}
