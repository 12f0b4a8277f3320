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
    let tmp = tempfile::tempdir().unwrap();
    let smtp = crate::harness::Smtp::start(tmp.path());
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

/// Four `schedule` workers at once, some SIGKILLed at random points, against one database:
/// no Message-ID is received twice, and what the state says matches what the server got.
#[test]
fn four_workers_with_random_kills_never_send_a_step_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let smtp = crate::harness::Smtp::start(tmp.path());
    let (p, url) = pg_project(smtp.port, 60);
    let exe = assert_cmd::cargo::cargo_bin("leadsite");
    let days = [
        "2026-11-23T15:00:00Z",
        "2026-11-27T15:00:00Z",
        "2026-12-05T15:00:00Z",
    ];
    let mut seed: u64 = 0x5eed;
    for round in 0..9 {
        let now = days[round / 3];
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
        std::thread::sleep(std::time::Duration::from_millis(20 + (seed >> 33) % 300));
        // Once, the database itself crashes and comes back (`pg_ctl restart -m immediate`) while
        // the workers run, when the test knows where its server lives.
        if round == 4 {
            if let Ok(dir) = std::env::var("LEADSITE_TEST_PG_DIR") {
                let ok = std::process::Command::new("scripts/pg-throwaway")
                    .args(["restart", &dir])
                    .current_dir(env!("CARGO_MANIFEST_DIR"))
                    .status()
                    .unwrap();
                assert!(ok.success());
            }
        }
        // One worker, chosen at random, dies mid-work.
        let victim = (seed >> 20) as usize % 4;
        let _ = workers[victim].kill();
        for w in &mut workers {
            let _ = w.wait();
        }
    }
    let seen = received(&smtp);
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    let store = PgStore::read(Db::connect(&url).unwrap()).unwrap();
    for (key, s) in store.states() {
        let got = seen
            .keys()
            .filter(|id| id.starts_with(&format!("<{key}.intro.")))
            .count() as u32;
        match &s.in_flight {
            // In doubt (or still under the dead worker's lease): sent or not, never again.
            Some(_) => assert!(got == s.step || got == s.step + 1, "{key}: {got}, {s:?}"),
            None => assert_eq!(got, s.step, "{key}: received {got}, state {s:?}"),
        }
    }
    assert!(seen.len() >= 60, "{} messages", seen.len());
    eprintln!(
        "{} messages to {} leads, 9 rounds of 4 workers",
        seen.len(),
        store.states().len()
    );
}

/// A campaign moves from files to PostgreSQL and back with `state export/import`, every step,
/// history line and opt-out with it; an import into a store that holds a campaign is refused.
#[test]
fn state_moves_between_files_and_postgres_without_losing_a_step() {
    let tmp = tempfile::tempdir().unwrap();
    let smtp = crate::harness::Smtp::start(tmp.path());
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
    let files_status = p.run(&["status", "--json"]).stdout;
    p.run(&["state", "export", "from-files.jsonl"]).code(0);
    let exported = p.read("from-files.jsonl");
    assert!(exported.contains("owner@bolt.example"), "{exported}");

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
    let again = p.run(&["state", "import", "from-files.jsonl"]);
    again.code(2);
    assert!(
        again.stderr.contains("already holds a campaign"),
        "{}",
        again.stderr
    );
    // The moved campaign goes on where it was: nothing sent again, the opt-out holds.
    p.run(&["schedule", "--now", "2026-11-24T16:00:00Z"])
        .code(0);
    assert_eq!(smtp.messages().len(), 4);
    p.run(&["state", "export", "from-pg.jsonl"]).code(0);
    assert_eq!(p.read("from-pg.jsonl"), exported);

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
    let tmp = tempfile::tempdir().unwrap();
    let smtp = crate::harness::Smtp::start(tmp.path());
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

/// A worker that lives past its lease's length keeps it (its heartbeat renews it, as during a
/// send that takes minutes); a worker killed loses it: only then are its steps in doubt.
#[test]
fn a_live_worker_keeps_its_lease_past_its_length_and_a_killed_one_loses_it() {
    let tmp = tempfile::tempdir().unwrap();
    let smtp = crate::harness::Smtp::start(tmp.path());
    let (p, url) = pg_project(smtp.port, 0);
    let mut worker = std::process::Command::new(assert_cmd::cargo::cargo_bin("leadsite"))
        .args(["-q", "schedule", "--watch"])
        .env("LEADSITE_LEASE_SECONDS", "3")
        .current_dir(p.path("."))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let live = |c: &mut postgres::Client| -> i64 {
        c.query_one(
            "SELECT count(*) FROM leadsite_runs WHERE lease_until > now()",
            &[],
        )
        .map(|r| r.get(0))
        .unwrap_or(0)
    };
    std::thread::sleep(std::time::Duration::from_secs(7));
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    assert_eq!(live(&mut c), 1, "a live worker lost its lease");
    worker.kill().unwrap();
    worker.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert_eq!(live(&mut c), 0, "a killed worker kept its lease");
}
