//! The MessageBus and StateStore contract on PostgreSQL (issue 15): the same suites the file
//! and memory backends pass in their unit tests, against a real server. `scripts/test` starts a
//! throwaway one (`scripts/pg-throwaway`) and sets LEADSITE_TEST_DATABASE_URL; each test makes
//! its own database in it.

use std::sync::atomic::{AtomicUsize, Ordering};

use leadsite::outreach::contract;
use leadsite::outreach::postgres::{Db, PgBus, PgStore};
use leadsite::outreach::store::StateStore;

/// The server's URL, or a clear word of what to run.
pub fn server() -> String {
    std::env::var("LEADSITE_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "the PostgreSQL tests need a server: run scripts/test (it installs Debian's postgresql and starts a throwaway one), or set LEADSITE_TEST_DATABASE_URL to one you can create databases on (`scripts/pg-throwaway start DIR` prints such a URL)"
        )
    })
}

/// A new, empty database on the test server; returns its URL.
pub fn fresh_database() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let base = server();
    let name = format!(
        "leadsite_t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let mut admin = postgres::Client::connect(&base, postgres::NoTls).expect("test server");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    if base.contains("dbname=") {
        let mut parts: Vec<String> = base
            .split_whitespace()
            .filter(|p| !p.starts_with("dbname="))
            .map(String::from)
            .collect();
        parts.push(format!("dbname={name}"));
        parts.join(" ")
    } else {
        let mut u = url::Url::parse(&base).expect("a URL");
        u.set_path(&name);
        u.to_string()
    }
}

#[test]
fn the_postgres_bus_keeps_the_contract() {
    let db = Db::connect(&fresh_database()).unwrap();
    contract::bus(&PgBus::new(db));
}

#[test]
fn the_postgres_store_keeps_the_contract() {
    let url = fresh_database();
    contract::store(&mut || Box::new(PgStore::open(Db::connect(&url).unwrap()).unwrap()));
}

#[test]
fn postgres_workers_share_one_store_without_overwriting_each_other() {
    let url = fresh_database();
    contract::shared(&mut || Box::new(PgStore::open(Db::connect(&url).unwrap()).unwrap()));
}

#[test]
fn four_workers_claiming_the_same_steps_win_each_exactly_once() {
    use leadsite::outreach::store::{Claim, Intent, LeadState};
    let url = fresh_database();
    // Workers started together migrate the schema once (an advisory lock), then race.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut s = PgStore::open(Db::connect(&url).unwrap()).unwrap();
                let mut won = Vec::new();
                for lead in 0..200 {
                    let key = format!("lead{lead}");
                    let mut st = s.get(&key).cloned().unwrap_or_default();
                    if st.in_flight.is_some() {
                        continue;
                    }
                    st.in_flight = Some(Intent {
                        step: 1,
                        message_id: format!("<{key}.intro.1@x.example>"),
                        at: chrono::Utc::now(),
                        run: s.run().to_string(),
                    });
                    let day = chrono::Utc::now().date_naive();
                    if s.claim(&key, st, day, 0, 150).unwrap() == Claim::Won {
                        won.push(key);
                    }
                }
                won
            })
        })
        .collect();
    let mut all: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let claimed = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), claimed, "a step claimed twice");
    // The daily cap of 150 held across the four workers.
    assert_eq!(claimed, 150);
    let s = PgStore::read(Db::connect(&url).unwrap()).unwrap();
    let with_intent = s
        .states()
        .values()
        .filter(|st: &&LeadState| st.in_flight.is_some())
        .count();
    assert_eq!(with_intent, 150);
}

/// A project whose campaign lives in a new database of the test server, sending to `smtp`.
fn pg_project(port: u16, leads: usize) -> (crate::harness::Project, String) {
    let url = fresh_database();
    let p = crate::outreach::campaign::project(port);
    let config = p.read("leadsite.yaml").replace(
        "outreach:\n  enabled: true\n",
        &format!(
            "outreach:\n  enabled: true\n  backend: postgres\n  database_url: '{url}'\n  daily_cap: 10000\n  run_cap: 10000\n"
        ),
    );
    assert!(config.contains("backend: postgres"), "{config}");
    p.write("leadsite.yaml", &config);
    for i in 0..leads {
        p.write(
            &format!("leads/lead-{i}.yaml"),
            &crate::outreach::campaign::lead(&format!("lead-{i}")),
        );
    }
    p.run(&["build"]).code(0);
    (p, url)
}

/// Message-IDs received, each with how many times.
fn received(smtp: &crate::harness::Smtp) -> std::collections::HashMap<String, usize> {
    let mut seen = std::collections::HashMap::new();
    for m in smtp.messages() {
        let id = m
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .unwrap()
            .trim()
            .to_string();
        *seen.entry(id).or_insert(0) += 1;
    }
    seen
}

#[test]
fn a_campaign_on_postgres_sends_each_step_once_and_status_reads_it() {
    let smtp = crate::harness::Smtp::start();
    let (p, _) = pg_project(smtp.port, 0);
    let out = p.run(&["schedule", "--now", "2026-11-23T15:00:00Z"]);
    out.code(0);
    assert!(out.stdout.contains("4 sent"), "{}", out.stdout);
    // Nothing is kept in files: the state and the bus are in the database.
    assert!(!p.path(".leadsite/state/journal.jsonl").exists());
    p.run(&[
        "publish",
        "lead.unsubscribed",
        "--lead",
        "bolt",
        "--id",
        "u1",
    ])
    .code(0);
    p.run(&["schedule", "--now", "2026-11-27T15:00:00Z"])
        .code(0);
    let seen = received(&smtp);
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    // acme, cafe, dent got step 2; bolt opted out after step 1.
    assert_eq!(seen.len(), 7, "{seen:?}");
    let status: serde_json::Value =
        serde_json::from_str(&p.run(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["states"]["unsubscribed"], 1, "{status}");
    assert_eq!(status["states"]["contacted"], 3, "{status}");
    // A dry run changes nothing in the database either.
    let before = p.run(&["status", "--json"]).stdout;
    p.run(&["schedule", "--dry-run", "--now", "2026-12-20T15:00:00Z"])
        .code(0);
    assert_eq!(p.run(&["status", "--json"]).stdout, before);
}

/// A throwaway PostgreSQL server of a test's own (as scripts/test starts one), for a test that
/// restarts it while the other tests keep using theirs.
struct OwnServer {
    dir: tempfile::TempDir,
    url: String,
}

impl OwnServer {
    fn start() -> OwnServer {
        // Straight under the temp folder: as root, the script hands the folder to the
        // `postgres` user, who could not reach into a folder of root's.
        let dir = tempfile::Builder::new().prefix("pg").tempdir().unwrap();
        let out = Self::script(&["start", &dir.path().to_string_lossy()]);
        OwnServer {
            url: String::from_utf8(out).unwrap().trim().to_string(),
            dir,
        }
    }

    fn script(args: &[&str]) -> Vec<u8> {
        let out = std::process::Command::new("scripts/pg-throwaway")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg-throwaway {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Crashes the server and starts it again (`pg_ctl restart -m immediate`).
    fn restart(&self) {
        Self::script(&["restart", &self.dir.path().to_string_lossy()]);
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new("scripts/pg-throwaway")
            .args(["stop", &self.dir.path().to_string_lossy()])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status();
    }
}

/// Four `schedule` workers at once, one SIGKILLed at a random point in each round, and once the
/// database itself crashed and restarted, over six simulated days of a 700-lead campaign of
/// three steps (over 2,000 emails): no Message-ID is received twice, what the state says
/// matches what the server got (a step in doubt was sent once or not at all), and no day's
/// sends pass the daily cap shared by the workers.
#[test]
fn four_workers_with_random_kills_never_send_a_step_twice() {
    const LEADS: usize = 700;
    const DAILY_CAP: usize = 600;
    let server = OwnServer::start();
    let smtp = crate::harness::Smtp::start();
    let p = crate::outreach::campaign::project(smtp.port);
    let config = p.read("leadsite.yaml").replace(
        "outreach:\n  enabled: true\n",
        &format!(
            "outreach:\n  enabled: true\n  backend: postgres\n  database_url: '{}'\n  daily_cap: {DAILY_CAP}\n  run_cap: 10000\n",
            server.url
        ),
    );
    assert!(config.contains("backend: postgres"), "{config}");
    p.write("leadsite.yaml", &config);
    // The project's four leads, and the rest in one file of many documents.
    let many: Vec<String> = (4..LEADS)
        .map(|i| crate::outreach::campaign::lead(&format!("lead-{i}")))
        .collect();
    p.write("leads/many.yaml", &many.join("---\n"));
    p.run(&["build"]).code(0);
    let exe = assert_cmd::cargo::cargo_bin("leadsite");
    // Steps wait 3 and 7 days; the cap splits each step over two days.
    let days = [
        "2026-11-23T15:00:00Z",
        "2026-11-24T15:00:00Z",
        "2026-11-27T15:00:00Z",
        "2026-11-28T15:00:00Z",
        "2026-12-05T15:00:00Z",
        "2026-12-06T15:00:00Z",
    ];
    let mut seed: u64 = 0x5eed;
    let mut before = 0;
    for (d, now) in days.iter().enumerate() {
        for round in 0..3 {
            let mut workers: Vec<std::process::Child> = (0..4)
                .map(|_| {
                    std::process::Command::new(&exe)
                        .args(["-q", "schedule", "--now", now])
                        .current_dir(p.path("."))
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null())
                        .spawn()
                        .unwrap()
                })
                .collect();
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            std::thread::sleep(std::time::Duration::from_millis(50 + (seed >> 33) % 400));
            // Once, the database crashes and comes back while the workers run.
            if (d, round) == (2, 1) {
                server.restart();
            }
            // One worker, chosen at random, dies mid-work.
            let victim = (seed >> 20) as usize % 4;
            let _ = workers[victim].kill();
            for w in &mut workers {
                let _ = w.wait();
            }
        }
        let total: usize = received(&smtp).values().sum();
        assert!(
            total - before <= DAILY_CAP,
            "{now}: {} sent, over the daily cap of {DAILY_CAP}",
            total - before
        );
        before = total;
    }
    let seen = received(&smtp);
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    let store = PgStore::read(Db::connect(&server.url).unwrap()).unwrap();
    let mut in_doubt = 0;
    for (key, s) in store.states() {
        let got = seen
            .keys()
            .filter(|id| id.starts_with(&format!("<{key}.intro.")))
            .count() as u32;
        match &s.in_flight {
            // In doubt: sent or not, never again.
            Some(_) => {
                in_doubt += 1;
                assert!(got == s.step || got == s.step + 1, "{key}: {got}, {s:?}");
            }
            None => assert_eq!(got, s.step, "{key}: received {got}, state {s:?}"),
        }
    }
    assert!(seen.len() >= 2_000, "{} messages", seen.len());
    eprintln!(
        "{} messages to {} leads, 18 rounds of 4 workers, {in_doubt} steps in doubt",
        seen.len(),
        store.states().len()
    );
}

/// A campaign moves from files to PostgreSQL and back with `state export/import`, every step,
/// history line and opt-out with it; an import into a store that holds a campaign is refused.
#[test]
fn state_moves_between_files_and_postgres_without_losing_a_step() {
    let smtp = crate::harness::Smtp::start();
    let p = crate::outreach::campaign::project(smtp.port);
    p.run(&["schedule", "--now", "2026-11-23T15:00:00Z"])
        .code(0);
    p.run(&[
        "publish",
        "lead.unsubscribed",
        "--lead",
        "bolt",
        "--id",
        "u1",
    ])
    .code(0);
    p.run(&["schedule", "--now", "2026-11-24T15:00:00Z"])
        .code(0);
    // An opt-out on the bus that no `schedule` has handled yet goes with the state.
    p.run(&[
        "publish",
        "lead.unsubscribed",
        "--lead",
        "cafe",
        "--id",
        "u2",
    ])
    .code(0);
    let files_status = p.run(&["status", "--json"]).stdout;
    p.run(&["state", "export", "from-files.jsonl"]).code(0);
    let exported = p.read("from-files.jsonl");
    assert!(exported.contains("owner@bolt.example"), "{exported}");
    assert!(
        exported.contains(r#""id":"u2""#) && exported.contains(r#""pending":["orchestrator""#),
        "{exported}"
    );

    let files_config = p.read("leadsite.yaml");
    let url = fresh_database();
    p.write(
        "leadsite.yaml",
        &files_config.replace(
            "outreach:\n  enabled: true\n",
            &format!("outreach:\n  enabled: true\n  backend: postgres\n  database_url: '{url}'\n"),
        ),
    );
    p.run(&["state", "import", "from-files.jsonl"]).code(0);
    assert_eq!(p.run(&["status", "--json"]).stdout, files_status);
    // What the database holds exports as it came: states, records, events and who owes them.
    p.run(&["state", "export", "from-pg.jsonl"]).code(0);
    assert_eq!(p.read("from-pg.jsonl"), exported);
    let again = p.run(&["state", "import", "from-files.jsonl"]);
    again.code(2).says("already holds a campaign");
    // The moved campaign goes on where it was: the events handled before are not handled
    // again, the carried opt-out is, and step 2 goes only to those who did not opt out.
    let run = p.run(&["schedule", "--now", "2026-11-27T16:00:00Z"]);
    run.code(0);
    assert!(run.stdout.contains("1 events"), "{}", run.stdout);
    let to: Vec<String> = smtp
        .messages()
        .iter()
        .skip(4)
        .filter_map(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("To: ").map(String::from))
        })
        .collect();
    assert_eq!(to.len(), 2, "{to:?}");
    assert!(
        to.iter().all(|t| t.contains("acme") || t.contains("dent")),
        "{to:?}"
    );
    let status: serde_json::Value =
        serde_json::from_str(&p.run(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["states"]["unsubscribed"], 2, "{status}");

    // And back to files, in a fresh state folder.
    std::fs::rename(p.path(".leadsite/state"), p.path("old-state")).unwrap();
    p.write("leadsite.yaml", &files_config);
    p.run(&["state", "import", "from-pg.jsonl"]).code(0);
    assert_eq!(p.run(&["status", "--json"]).stdout, files_status);
    assert!(p
        .read(".leadsite/state/suppressed.txt")
        .contains("owner@bolt.example"));
}

/// A dry run or `status` on a database leadsite never worked in creates nothing there.
#[test]
fn a_dry_run_on_a_new_database_creates_nothing_in_it() {
    let smtp = crate::harness::Smtp::start();
    let (p, url) = pg_project(smtp.port, 0);
    p.run(&["schedule", "--dry-run", "--now", "2026-11-23T15:00:00Z"])
        .code(0);
    p.run(&["status"]).code(0);
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let tables: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'leadsite_%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);
    assert!(smtp.messages().is_empty());
}

/// A worker that lives past its lease's length keeps it (its heartbeat renews it, during a
/// send that takes longer than the lease: here a mail server that answers nothing); a worker
/// killed loses it: only then is its step in doubt.
#[test]
fn a_live_worker_keeps_its_lease_past_its_length_and_a_killed_one_loses_it() {
    // A mail server that takes connections and never says a word (the client waits 30 s).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming() {
            held.push(conn);
        }
    });
    let (p, url) = pg_project(port, 0);
    let mut worker = std::process::Command::new(assert_cmd::cargo::cargo_bin("leadsite"))
        .args(["-q", "schedule", "--now", "2026-11-23T15:00:00Z"])
        .env("LEADSITE_LEASE_SECONDS", "6")
        .current_dir(p.path("."))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // A new connection each time, tried again while the server is busy.
    let count = |sql: &str| -> i64 {
        for _ in 0..100 {
            if let Ok(n) = postgres::Client::connect(&url, postgres::NoTls)
                .and_then(|mut c| c.query_one(sql, &[]))
                .map(|r| r.get(0))
            {
                return n;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the test server does not answer");
    };
    let live = || count("SELECT count(*) FROM leadsite_runs WHERE lease_until > now()");
    // Wait until the worker has claimed a step (its intent recorded), then past the lease.
    let claimed = || count("SELECT count(*) FROM leadsite_lead_state WHERE state ? 'in_flight'");
    let start = std::time::Instant::now();
    while claimed() == 0 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "the worker claimed nothing"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Twice the lease (renewed every third of it: slack for a loaded machine).
    std::thread::sleep(std::time::Duration::from_secs(12));
    assert_eq!(live(), 1, "a live worker lost its lease");
    let being_sent = p.run(&["status"]);
    being_sent.code(0);
    assert!(
        !being_sent.stdout.contains("in doubt"),
        "{}",
        being_sent.stdout
    );
    worker.kill().unwrap();
    worker.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(7));
    assert_eq!(live(), 0, "a killed worker kept its lease");
    let after = p.run(&["status"]);
    after.code(3);
    assert!(after.stdout.contains("in doubt: "), "{}", after.stdout);
}

/// WhatsApp steps on the database: three workers at once send each text once, and the texts'
/// records are in the database (status, export), not in files.
#[test]
fn texts_on_postgres_go_out_once_with_several_workers() {
    use crate::outreach::campaign::{hook, whatsapp_project};
    let smtp = crate::harness::Smtp::start();
    let gateway = hook(Vec::new());
    let p = whatsapp_project(smtp.port, &gateway.addr, "cloud");
    let url = fresh_database();
    let config = p.read("leadsite.yaml").replace(
        "outreach:\n  enabled: true\n",
        &format!("outreach:\n  enabled: true\n  backend: postgres\n  database_url: '{url}'\n"),
    );
    assert!(config.contains("backend: postgres"), "{config}");
    p.write("leadsite.yaml", &config);
    let env = [("LEADSITE_WHATSAPP_TOKEN", "wa-token")];
    p.run_with_env(&["schedule", "--now", "2026-11-23T15:00:00Z"], &env)
        .code(0);
    assert_eq!(smtp.messages().len(), 4, "step 1 is email");
    let spawned: Vec<_> = (0..3)
        .map(|_| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("leadsite"))
                .args(["-q", "schedule", "--now", "2026-11-24T16:00:00Z"])
                .env("LEADSITE_WHATSAPP_TOKEN", "wa-token")
                .current_dir(p.path("."))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for w in spawned {
        let out = w.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let requests = gateway.requests.lock().unwrap().clone();
    let mut to: Vec<String> = requests
        .iter()
        .map(|(_, _, body)| {
            serde_json::from_str::<serde_json::Value>(body).unwrap()["template"]["components"][0]
                ["parameters"][0]["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    to.sort();
    assert_eq!(
        to,
        ["acme Garage", "bolt Garage", "cafe Garage", "dent Garage"],
        "one text a lead"
    );
    assert!(!p.path(".leadsite/whatsapp/ledger.jsonl").exists());
    let status = p.run(&["status"]);
    status.code(0);
    assert!(!status.stdout.contains("in doubt"), "{}", status.stdout);
    let export = p.run(&["state", "export"]);
    export.code(0);
    let sent = export
        .stdout
        .lines()
        .filter(|l| l.contains(r#""channel":"whatsapp""#) && l.contains(r#""state":"sent""#))
        .count();
    assert_eq!(sent, 4, "{}", export.stdout);
}

/// TLS when the URL asks for it, against a real server whose certificate (for
/// db.leadsite.test) comes from a private CA made with openssl: `verify-full` with the CA is
/// encrypted (the server says so) and a whole campaign runs over it; without the CA, or for a
/// name the certificate does not hold, the connection is refused with the reason; `verify-ca`
/// checks the CA only.
#[test]
fn the_database_is_reached_over_tls_when_the_url_asks_and_only_when_verified() {
    use std::os::unix::fs::MetadataExt;
    let server = OwnServer::start();
    let pg = server.dir.path();
    let certs = tempfile::tempdir().unwrap();
    let c = certs.path();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(c)
            .output()
            .expect("openssl (Debian's, a dependency of postgresql)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=leadsite test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=db.leadsite.test",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        c.join("ext"),
        "subjectAltName=DNS:db.leadsite.test\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext",
    ]);
    // The server reads its key as its own user, and only from a file no one else can read.
    let owner = std::fs::metadata(pg).unwrap();
    for f in ["server.crt", "server.key"] {
        std::fs::copy(c.join(f), pg.join(f)).unwrap();
        std::os::unix::fs::chown(pg.join(f), Some(owner.uid()), Some(owner.gid())).unwrap();
        std::fs::set_permissions(
            pg.join(f),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    {
        let mut admin = postgres::Client::connect(&server.url, postgres::NoTls).unwrap();
        for sql in [
            "ALTER SYSTEM SET ssl = on".to_string(),
            format!(
                "ALTER SYSTEM SET ssl_cert_file = '{}'",
                pg.join("server.crt").display()
            ),
            format!(
                "ALTER SYSTEM SET ssl_key_file = '{}'",
                pg.join("server.key").display()
            ),
            "ALTER SYSTEM SET listen_addresses = '127.0.0.1'".to_string(),
            format!("ALTER SYSTEM SET port = {port}"),
        ] {
            admin.execute(sql.as_str(), &[]).unwrap();
        }
    }
    server.restart();
    let ca = c.join("ca.pem");
    let tcp = format!("hostaddr=127.0.0.1 port={port} user=postgres dbname=postgres");
    let full = format!(
        "{tcp} host=db.leadsite.test sslmode=verify-full sslrootcert={}",
        ca.display()
    );
    let encrypted = |url: &str| -> bool {
        leadsite::outreach::pgtls::connect(url)
            .unwrap()
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .unwrap()
            .get(0)
    };
    assert!(encrypted(&full));
    assert!(
        !encrypted(&format!("{tcp} host=127.0.0.1")),
        "no TLS unless asked"
    );
    // verify-ca: the CA only, so another name passes; verify-full and require check the name.
    let by_ip = format!("{tcp} host=127.0.0.1 sslrootcert={}", ca.display());
    assert!(encrypted(&format!("{by_ip} sslmode=verify-ca")));
    for mode in ["verify-full", "require"] {
        let err = leadsite::outreach::pgtls::connect(&format!("{by_ip} sslmode={mode}"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("certificate"), "{mode}: {err}");
    }
    // Without the CA, Mozilla's roots do not know it: refused, saying what to give.
    let err =
        leadsite::outreach::pgtls::connect(&format!("{tcp} host=db.leadsite.test sslmode=require"))
            .err()
            .unwrap()
            .to_string();
    assert!(err.contains("sslrootcert"), "{err}");
    // A campaign over TLS, the URL from the environment.
    let smtp = crate::harness::Smtp::start();
    let p = crate::outreach::campaign::project(smtp.port);
    p.write(
        "leadsite.yaml",
        &p.read("leadsite.yaml").replace(
            "outreach:\n  enabled: true\n",
            "outreach:\n  enabled: true\n  backend: postgres\n",
        ),
    );
    let run = p.run_with_env(
        &["schedule", "--now", "2026-11-23T15:00:00Z"],
        &[("LEADSITE_DATABASE_URL", full.as_str())],
    );
    run.code(0);
    assert!(run.stdout.contains("4 sent"), "{}", run.stdout);
}

/// A worker whose lease ran out (paused past it) holds nothing: its heartbeat does not bring the
/// lease back, its next claim is refused, and the check right before a send says so.
#[test]
fn a_lease_that_ran_out_is_never_taken_up_again() {
    let url = fresh_database();
    let mut a = PgStore::open(Db::connect(&url).unwrap()).unwrap();
    assert!(a.holds_lease().unwrap());
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.execute(
        "UPDATE leadsite_runs SET lease_until = now() - interval '1 second' WHERE run = $1",
        &[&a.run()],
    )
    .unwrap();
    assert!(!a.holds_lease().unwrap());
    let day = chrono::Utc::now().date_naive();
    let err = a
        .claim("acme", Default::default(), day, 0, 100)
        .unwrap_err();
    assert!(err.to_string().contains("lost its lease"), "{err}");
    assert!(a.get("acme").is_none(), "nothing claimed");
}

/// `state import` into the database is all or nothing: a line the bus would refuse stops it
/// before anything is written, and a NUL (which PostgreSQL's jsonb refuses) in a state or in an
/// event from the inbox is stored as U+FFFD instead of stopping every run.
#[test]
fn an_import_is_all_or_nothing_and_a_nul_never_stops_a_worker() {
    let smtp = crate::harness::Smtp::start();
    let (p, _) = pg_project(smtp.port, 0);
    let state = r#"{"lead":"acme","state":{"status":"contacted","step":1,"attempt_count":0,"last_contacted":"2026-11-23T15:00:00Z","next_action_at":"2026-11-26T15:00:00Z","history":[{"at":"2026-11-23T15:00:00Z","event":"sent","detail":"a\u0000b"}],"message_ids":["<acme.intro.1@agency.example>"]}}"#;
    let bad_event = r#"{"event":{"id":"../../x","topic":"lead.unsubscribed","lead_id":"bolt","at":"2026-11-23T15:00:00Z","data":{}},"pending":["orchestrator"]}"#;
    p.write("import.jsonl", &format!("{state}\n{bad_event}\n"));
    let refused = p.run(&["state", "import", "import.jsonl"]);
    assert_ne!(refused.code, 0);
    refused.says("import.jsonl:2");
    let status: serde_json::Value =
        serde_json::from_str(&p.run(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["states"], serde_json::json!({}), "nothing written");
    p.write("import.jsonl", &format!("{state}\n"));
    p.run(&["state", "import", "import.jsonl"]).code(0);
    let acme = p.run(&["status", "--lead", "acme", "--json"]);
    acme.code(0);
    assert!(acme.stdout.contains("a\u{FFFD}b"), "{}", acme.stdout);
    // An inbox event with a NUL in its data: handled, not a stop for every run.
    p.write(
        ".leadsite/bus/inbox/nul.json",
        r#"{"topic":"lead.responded","lead_id":"cafe","data":{"note":"a\u0000b"}}"#,
    );
    p.run(&["schedule", "--now", "2026-11-23T15:00:00Z"])
        .code(0);
    let cafe = p.run(&["status", "--lead", "cafe"]);
    assert!(cafe.stdout.contains("responded"), "{}", cafe.stdout);
}
