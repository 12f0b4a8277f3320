//! The outreach layer built so far: `leadsite publish` onto the file message bus.

use crate::harness::Project;

#[test]
fn publish_is_durable_idempotent_by_id_and_checked() {
    let p = Project::new();
    let bounce = [
        "publish",
        "lead.bounced",
        "--lead",
        "acme",
        "--id",
        "bounce-1",
        "--data",
        "kind=hard",
    ];
    // Published twice: stored once, and the second is no error.
    p.run(&bounce).code(0);
    p.run(&bounce).code(0);
    // Another event under the same id is not stored, and not said to be.
    let run = p.run(&[
        "publish",
        "lead.responded",
        "--lead",
        "acme",
        "--id",
        "bounce-1",
    ]);
    run.code(0).says("on the bus already: not published again");
    let files: Vec<_> = std::fs::read_dir(p.path(".leadsite/bus/log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "one id, one event");
    let event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    assert_eq!(event["topic"], "lead.bounced");
    assert_eq!(event["lead_id"], "acme");
    assert_eq!(event["data"]["kind"], "hard");

    let run = p.run(&["publish", "lead.teleported", "--lead", "acme"]);
    run.code(2);
    let run = p.run(&["publish", "lead.responded", "--lead", "../x"]);
    run.code(2);
    run.says("not a dedup_key");
}

pub(crate) mod campaign {
    use std::net::TcpListener;
    use std::process::Command;
    use std::time::{Duration, Instant};

    use crate::harness::{tree, Project, Smtp};

    pub(crate) fn lead(key: &str) -> String {
        format!(
            "dedup_key: {key}\nname: {key} Garage\ncategory: Auto repair shop\nphone: '+12175550134'\nemail: owner@{key}.example\naddress: {{street: 1 Main St, city: Springfield, region: IL, country: US}}\nlocation: {{lat: 39.78, lng: -89.65, accuracy: rooftop}}\nrating: 4.5\nreview_count: 20\nroute: TARGET\n"
        )
    }

    /// A header's value, its folded lines joined.
    fn header(message: &str, name: &str) -> Option<String> {
        let head = message.replace("\r\n", "\n");
        let head = head
            .split("\n\n")
            .next()
            .unwrap_or("")
            .replace("\n ", " ")
            .replace("\n\t", " ");
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(String::from))
    }

    /// `leadsite publish` of a hard bounce for `lead`.
    fn hard_bounce(p: &Project, lead: &str, id: &str) {
        p.run(&[
            "publish",
            "lead.bounced",
            "--lead",
            lead,
            "--id",
            id,
            "--data",
            "kind=hard",
        ])
        .code(0);
    }

    pub(crate) fn project(port: u16) -> Project {
        let p = Project::with_config(&format!(
            "site:\n  base_url: https://pages.agency.example/\nenrichment:\n  website:\n    enabled: false\noutreach:\n  enabled: true\n  sender_name: Sam Seller\n  sender_email: sam@agency.example\n  postal_address: 100 Example Ave, Springfield, IL 62701\n  one_click_url: https://agency.example/unsubscribe/{{lead}}\n  window: {{start_hour: 0, end_hour: 24, days: [mon, tue, wed, thu, fri, sat, sun]}}\n  transport: {{kind: smtp, host: 127.0.0.1, port: {port}}}\n"
        ));
        for k in ["acme", "bolt", "cafe", "dent"] {
            p.write(&format!("leads/{k}.yaml"), &lead(k));
        }
        p.run(&["build"]).code(0);
        p
    }

    #[test]
    fn a_campaign_over_simulated_days() {
        let smtp = Smtp::start();
        let p = project(smtp.port);
        let schedule = |now: &str| {
            let run = p.run(&["schedule", "--now", now]);
            run.code(0);
            run.stdout
        };

        let out = schedule("2026-11-23T15:00:00Z");
        assert!(out.contains("4 sent"), "{out}");
        assert_eq!(smtp.messages().len(), 4);
        let first = &smtp.to("owner@dent.example")[0];
        assert_eq!(
            header(first, "Message-ID"),
            Some("<dent.intro.1@agency.example>".to_string())
        );
        assert_eq!(header(first, "List-Unsubscribe"), Some("<https://agency.example/unsubscribe/dent>, <mailto:sam@agency.example?subject=unsubscribe%20dent>".to_string()));
        assert_eq!(
            header(first, "List-Unsubscribe-Post"),
            Some("List-Unsubscribe=One-Click".to_string())
        );
        assert!(first.contains("multipart/alternative"), "{first}");
        assert!(first.contains("text/plain") && first.contains("text/html"));
        assert!(
            first.contains("100 Example Ave"),
            "postal address in the body"
        );
        assert!(
            first.contains("https://pages.agency.example/dent/"),
            "the landing page link"
        );
        let parsed = mailparse::parse_mail(first.as_bytes()).unwrap();
        let html = parsed
            .subparts
            .iter()
            .find(|p| p.ctype.mimetype == "text/html")
            .unwrap()
            .get_body()
            .unwrap();
        assert!(
            html.contains("<a href=\"https://pages.agency.example/dent/\">"),
            "the landing URL is a link in the HTML part: {html}"
        );

        // The same run again, and the same time: nothing more.
        schedule("2026-11-23T15:00:00Z");
        assert_eq!(smtp.messages().len(), 4);

        p.run(&["publish", "lead.responded", "--lead", "acme", "--id", "r1"])
            .code(0);
        hard_bounce(&p, "bolt", "b1");
        // An outside program drops an opt-out into the inbox, and a broken file.
        p.write(
            ".leadsite/bus/inbox/u1.json",
            r#"{"topic":"lead.unsubscribed","lead_id":"cafe"}"#,
        );
        p.write(".leadsite/bus/inbox/junk.json", "{oops");
        let run = p.run(&["schedule", "--now", "2026-11-24T15:00:00Z"]);
        run.code(3).says("junk.json moved to rejected/");
        assert!(run.stdout.contains("0 sent"), "{}", run.stdout);

        // Three days on: only dent is still in the sequence; step 2 threads under step 1.
        schedule("2026-11-26T16:00:00Z");
        let dent = smtp.to("owner@dent.example");
        assert_eq!(dent.len(), 2);
        assert_eq!(
            header(&dent[1], "In-Reply-To"),
            Some("<dent.intro.1@agency.example>".to_string())
        );
        assert_eq!(smtp.messages().len(), 5);

        // A soft bounce of step 2: sent again after the back-off, once.
        p.run(&[
            "publish",
            "lead.bounced",
            "--lead",
            "dent",
            "--id",
            "s1",
            "--data",
            "kind=soft",
        ])
        .code(0);
        p.run(&[
            "publish",
            "lead.bounced",
            "--lead",
            "dent",
            "--id",
            "s2",
            "--data",
            "kind=soft",
            "--data",
            "step=2",
        ])
        .code(0);
        schedule("2026-11-26T16:30:00Z");
        assert_eq!(
            smtp.to("owner@dent.example").len(),
            2,
            "not before the back-off"
        );
        schedule("2026-11-26T17:30:00Z");
        assert_eq!(smtp.to("owner@dent.example").len(), 3, "step 2 again, once");

        // Step 3 after seven more days, then no response.
        schedule("2026-12-03T18:00:00Z");
        let dent = smtp.to("owner@dent.example");
        assert_eq!(dent.len(), 4);
        assert_eq!(
            header(&dent[3], "Message-ID"),
            Some("<dent.intro.3@agency.example>".to_string())
        );
        let out = schedule("2026-12-20T18:00:00Z");
        assert!(out.contains("1 finished with no response"), "{out}");

        // Late and duplicate events change nothing; the mail count is final.
        p.run(&[
            "publish",
            "lead.responded",
            "--lead",
            "bolt",
            "--id",
            "late",
        ])
        .code(0);
        schedule("2026-12-21T18:00:00Z");
        assert_eq!(smtp.to("owner@acme.example").len(), 1);
        assert_eq!(smtp.to("owner@bolt.example").len(), 1);
        assert_eq!(smtp.to("owner@cafe.example").len(), 1);
        assert_eq!(smtp.messages().len(), 7);

        let status: serde_json::Value =
            serde_json::from_str(&p.run(&["status", "--json"]).stdout).unwrap();
        assert_eq!(status["states"]["responded"], 1, "{status}");
        assert_eq!(
            status["states"]["bounced"], 1,
            "the late reply does not undo a hard bounce"
        );
        assert_eq!(status["states"]["unsubscribed"], 1);
        assert_eq!(status["states"]["no_response"], 1, "{status}");
        let history = p.run(&["status", "--lead", "dent"]);
        assert!(history.stdout.contains("soft_bounce"), "{}", history.stdout);

        // Suppression survives a re-ingest: the opted-out address is never written to again.
        assert!(p
            .read(".leadsite/state/suppressed.txt")
            .contains("owner@cafe.example"));
    }

    #[test]
    fn a_second_run_while_one_holds_the_store_exits_at_once() {
        let smtp = Smtp::start();
        let p = project(smtp.port);
        let _held = leadsite::outreach::store::FileStore::open(&p.path(".leadsite/state")).unwrap();
        let run = p.run(&["schedule", "--now", "2026-11-23T15:00:00Z"]);
        run.code(1).says("another leadsite process");
        assert!(smtp.messages().is_empty());
    }

    #[test]
    fn nothing_is_sent_while_outreach_is_disabled() {
        let p = Project::new();
        let run = p.run(&["schedule"]);
        run.code(2).says("outreach is disabled");
    }

    /// Kills `schedule` with SIGKILL at many points; afterwards no step was received twice, the
    /// state is readable, and a step the kill left in doubt is reported and never sent again.
    #[test]
    fn sigkill_at_any_point_never_sends_a_step_twice() {
        let smtp = Smtp::start();
        let p = project(smtp.port);
        for i in 0..40 {
            p.write(&format!("leads/lead-{i}.yaml"), &lead(&format!("lead-{i}")));
        }
        p.run(&["build"]).code(0);
        let mut killer = crate::harness::Killer::new(0x5eed);
        let days = [
            "2026-11-23T15:00:00Z",
            "2026-11-27T15:00:00Z",
            "2026-12-05T15:00:00Z",
        ];
        for run in 0..60 {
            let now = days[run / 20];
            killer.run(&p, &["-q", "schedule", "--now", now], 5, 120);
        }
        // Whatever the kills left: the state reads, and a plain run finishes the day's work.
        let states =
            leadsite::outreach::store::FileStore::read(&p.path(".leadsite/state")).unwrap();
        let in_doubt: Vec<&String> = states
            .iter()
            .filter(|(_, s)| s.in_flight.is_some())
            .map(|(k, _)| k)
            .collect();
        let status = p.run(&["status"]);
        for k in &in_doubt {
            assert!(
                status.stdout.contains(&format!("in doubt: {k}")),
                "{}",
                status.stdout
            );
        }
        p.run(&["schedule", "--now", days[2]])
            .code(if in_doubt.is_empty() { 0 } else { 3 });

        let mut seen = std::collections::HashMap::new();
        for m in smtp.messages() {
            let id = header(&m, "Message-ID").unwrap();
            *seen.entry(id).or_insert(0) += 1;
        }
        let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "sent twice: {twice:?}");
        let states =
            leadsite::outreach::store::FileStore::read(&p.path(".leadsite/state")).unwrap();
        for (key, s) in &states {
            let received = seen
                .keys()
                .filter(|id| id.starts_with(&format!("<{key}.intro.")))
                .count() as u32;
            match &s.in_flight {
                // In doubt: the step went out or it did not; either way it is not sent again.
                Some(i) => assert!(
                    received == s.step || received == s.step + 1,
                    "{key}: {received} received, step {}, in flight {}",
                    s.step,
                    i.step
                ),
                None => assert_eq!(
                    received, s.step,
                    "{key}: what was received is what the state says was sent"
                ),
            }
        }
        eprintln!(
            "{} messages, {} leads in doubt after 60 kills",
            seen.len(),
            in_doubt.len()
        );
    }

    #[test]
    fn dry_runs_write_eml_files_and_bad_events_are_reported() {
        let smtp = Smtp::start();
        let p = project(smtp.port);
        p.run(&[
            "publish",
            "lead.responded",
            "--lead",
            "nobody",
            "--id",
            "x1",
        ])
        .code(0);
        let run = p.run(&[
            "-v",
            "schedule",
            "--dry-run",
            "--now",
            "2026-11-23T15:00:00Z",
        ]);
        run.code(0).says("event x1: unknown lead \"nobody\"");
        assert!(run.stdout.contains("4 sent (dry run"), "{}", run.stdout);
        let emls = std::fs::read_dir(p.path(".leadsite/outbox"))
            .unwrap()
            .count();
        assert_eq!(emls, 4);
        assert!(smtp.messages().is_empty(), "a dry run sends nothing");
    }

    #[test]
    fn the_file_transport_writes_inside_the_project_wherever_it_is_run_from() {
        let p = project(1);
        let config = p.read("leadsite.yaml").replace(
            "transport: {kind: smtp, host: 127.0.0.1, port: 1}",
            "transport: {kind: file, dir: out}",
        );
        p.write("leadsite.yaml", &config);
        let elsewhere = tempfile::tempdir().unwrap();
        let run = Command::new(assert_cmd::cargo::cargo_bin("leadsite"))
            .args(["--config"])
            .arg(p.path("leadsite.yaml"))
            .args(["schedule", "--now", "2026-11-23T15:00:00Z"])
            .current_dir(elsewhere.path())
            .output()
            .unwrap();
        assert_eq!(
            run.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let written = std::fs::read_dir(p.path("out")).unwrap().count();
        assert_eq!(written, 4);
        assert!(
            !elsewhere.path().join("out").exists(),
            "nothing outside the project"
        );
    }

    #[test]
    fn one_poison_message_never_stops_outreach() {
        let smtp = Smtp::start();
        let p = project(smtp.port);
        // An inbox event whose id no file system can name, and a torn entry in the log.
        let long = "x".repeat(300);
        p.write(
            ".leadsite/bus/inbox/long.json",
            &format!(r#"{{"topic":"lead.responded","lead_id":"acme","id":"{long}"}}"#),
        );
        p.write(
            ".leadsite/bus/log/00000000000000000001-torn.json",
            "{\"topic\": \"lead.resp",
        );
        // A link in the log to an event outside the project: not followed (it would stop acme).
        p.write(
            "outside/stop.json",
            r#"{"id":"stop-acme","topic":"lead.unsubscribed","lead_id":"acme","at":"2026-11-23T14:00:00Z","data":{}}"#,
        );
        std::os::unix::fs::symlink(
            p.path("outside/stop.json"),
            p.path(".leadsite/bus/log/00000000000000000002-link.json"),
        )
        .unwrap();
        let run = p.run(&["schedule", "--now", "2026-11-23T15:00:00Z"]);
        run.code(3);
        assert!(
            p.path(".leadsite/bus/quarantine/00000000000000000002-link.json.reason")
                .is_file(),
            "{}",
            run.stderr
        );
        run.says("long.json moved to rejected/");
        run.says("moved to bus/quarantine/");
        assert_eq!(smtp.messages().len(), 4, "the campaign went on");
        p.run(&["schedule", "--now", "2026-11-23T16:00:00Z"])
            .code(0);
        let status = p.run(&["status"]);
        assert!(
            status.stdout.contains("2 unreadable messages"),
            "{}",
            status.stdout
        );
        assert!(p
            .path(".leadsite/bus/quarantine/00000000000000000001-torn.json.reason")
            .is_file());
    }

    #[test]
    fn a_dry_run_changes_nothing() {
        let smtp = Smtp::start();
        let p = project(smtp.port);
        // A real first run, then events waiting: one on the bus, one in its inbox.
        p.run(&["schedule", "--now", "2026-11-23T15:00:00Z"])
            .code(0);
        assert_eq!(smtp.messages().len(), 4);
        hard_bounce(&p, "bolt", "b1");
        p.write(
            ".leadsite/bus/inbox/u1.json",
            r#"{"topic":"lead.unsubscribed","lead_id":"cafe","id":"u1"}"#,
        );
        let before = (
            tree(&p.path(".leadsite/state")),
            tree(&p.path(".leadsite/bus")),
        );

        // Three days on, a dry run: step 2 would go to acme and dent, not to bolt (bounced, on
        // the bus) nor cafe (opted out, in the inbox); nothing is sent and no file of the state or
        // the bus changes.
        let run = p.run(&["schedule", "--dry-run", "--now", "2026-11-26T16:00:00Z"]);
        run.code(0);
        assert!(
            run.stdout
                .contains("would send acme: step 2 (email) to owner@acme.example"),
            "{}",
            run.stdout
        );
        assert!(!run.stdout.contains("would send bolt"), "{}", run.stdout);
        assert!(!run.stdout.contains("would send cafe"), "{}", run.stdout);
        assert!(run.stdout.contains("would send dent"), "{}", run.stdout);
        assert_eq!(smtp.messages().len(), 4, "a dry run sends nothing");
        let after = (
            tree(&p.path(".leadsite/state")),
            tree(&p.path(".leadsite/bus")),
        );
        assert!(
            before == after,
            "a dry run left .leadsite/state and .leadsite/bus as they were"
        );

        // The real run then does everything itself: the events are read, step 2 goes out once,
        // threaded under a step 1 that really went out.
        let run = p.run(&["schedule", "--now", "2026-11-26T16:00:00Z"]);
        run.code(0);
        assert!(run.stdout.contains("2 sent"), "{}", run.stdout);
        let acme = smtp.to("owner@acme.example");
        assert_eq!(acme.len(), 2);
        assert!(acme[1].contains("In-Reply-To: <acme.intro.1@agency.example>"));
        assert_eq!(
            smtp.to("owner@bolt.example").len(),
            1,
            "the hard bounce holds"
        );
        assert_eq!(smtp.to("owner@cafe.example").len(), 1, "the opt-out holds");
        assert!(p
            .read(".leadsite/state/suppressed.txt")
            .contains("owner@cafe.example"));
    }

    #[test]
    fn two_schedules_started_together_one_works_the_other_exits() {
        let smtp = Smtp::start();
        let p = project(smtp.port);
        let exe = assert_cmd::cargo::cargo_bin("leadsite");
        let start = || {
            Command::new(&exe)
                .args(["schedule", "--now", "2026-11-23T15:00:00Z"])
                .current_dir(p.path("."))
                .output()
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(start);
            let b = s.spawn(start);
            (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
        });
        let codes = [a.status.code(), b.status.code()];
        // Either the second found the lock held and said so, or the first had finished first.
        for out in [&a, &b] {
            if out.status.code() == Some(1) {
                assert!(String::from_utf8_lossy(&out.stderr).contains("another leadsite process"));
            } else {
                assert_eq!(out.status.code(), Some(0), "{codes:?}");
            }
        }
        assert_eq!(
            smtp.messages().len(),
            4,
            "each lead's first email once: {codes:?}"
        );
    }

    /// `schedule --watch` on the example campaign, sending with the file transport (no SMTP
    /// server needed); its stderr as asked.
    fn watching(stderr: std::process::Stdio) -> (Project, std::process::Child) {
        let p = project(1);
        let config = p.read("leadsite.yaml").replace(
            "transport: {kind: smtp, host: 127.0.0.1, port: 1}",
            "transport: {kind: file, dir: out}",
        );
        p.write("leadsite.yaml", &config);
        let child = Command::new(assert_cmd::cargo::cargo_bin("leadsite"))
            .args(["schedule", "--watch"])
            .current_dir(p.path("."))
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        (p, child)
    }

    #[test]
    fn watch_runs_when_an_event_arrives() {
        let (p, mut child) = watching(std::process::Stdio::null());
        let state = || {
            leadsite::outreach::store::FileStore::read(&p.path(".leadsite/state"))
                .unwrap_or_default()
        };
        let wait = |what: &str, ok: &dyn Fn() -> bool| {
            let start = Instant::now();
            while !ok() {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "timed out waiting for {what}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        };
        wait("the first emails", &|| state().len() == 4);
        p.write(
            ".leadsite/bus/inbox/reply.json",
            r#"{"topic":"lead.responded","lead_id":"acme"}"#,
        );
        wait("the reply to be handled", &|| {
            state()
                .get("acme")
                .is_some_and(|s| s.status == leadsite::outreach::store::Status::Responded)
        });
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Sends SIGINT (what Ctrl-C sends) to `child`, and waits for it to end.
    fn interrupt(child: &mut std::process::Child) -> std::process::ExitStatus {
        let sent = Command::new("sh")
            .args(["-c", &format!("kill -INT {}", child.id())])
            .status()
            .unwrap();
        assert!(sent.success());
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("still running a minute after Ctrl-C");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn watch_stops_on_ctrl_c_after_its_run_with_130() {
        let (p, mut child) = watching(std::process::Stdio::piped());
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        // "watching … (Ctrl-C to stop)" comes once the handler is set.
        let mut line = String::new();
        while !line.contains("Ctrl-C to stop") {
            line.clear();
            assert!(std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0);
        }
        let status = interrupt(&mut child);
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
        assert_eq!(status.code(), Some(130), "{rest}");
        assert!(rest.contains("stopped (Ctrl-C)"), "{rest}");
        // The run under way finished: every lead's first step recorded, none in doubt.
        let state = leadsite::outreach::store::FileStore::read(&p.path(".leadsite/state")).unwrap();
        assert_eq!(state.len(), 4);
        assert!(state.values().all(|s| s.in_flight.is_none() && s.step == 1));
    }

    #[test]
    fn listen_stops_on_ctrl_c_with_130_closing_idle_connections() {
        use std::io::{Read, Write};
        let p = project(1);
        let (mut child, addr) = listen(
            &p,
            &[("LEADSITE_UNSUBSCRIBE_SECRET", "a-long-enough-test-secret")],
        );
        // A keep-alive connection that has had its answer and sits idle does not hold the
        // server up.
        let mut idle = std::net::TcpStream::connect(&addr).unwrap();
        write!(idle, "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut answer = [0u8; 12];
        idle.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"HTTP/1.1 404");
        // And one that has sent half a request: cut off, not waited for to the header timeout.
        let mut half = std::net::TcpStream::connect(&addr).unwrap();
        write!(half, "GET / HTTP/1.1\r\nHo").unwrap();
        let status = interrupt(&mut child);
        assert_eq!(status.code(), Some(130));
        assert!(
            std::net::TcpStream::connect(&addr).is_err(),
            "nothing listens any more"
        );
    }

    /// A failure on the server's side (here: the bus cannot be written) is a 500 that providers
    /// retry, with the cause in the operator's log and nothing of it (paths) in the answer.
    #[test]
    fn listen_keeps_its_internal_errors_to_its_log() {
        let p = project(1);
        let config = p.read("leadsite.yaml").replace(
            "transport: {kind: smtp, host: 127.0.0.1, port: 1}",
            "transport: {kind: file, dir: out}",
        ) + "  listen:\n    public_url: https://unsub.agency.example\n";
        p.write("leadsite.yaml", &config);
        let secret = "a-long-enough-test-secret";
        let env = [("LEADSITE_UNSUBSCRIBE_SECRET", secret)];
        p.run_with_env(&["schedule", "--now", "2026-11-23T15:00:00Z"], &env)
            .code(0);
        // acme's one-click link, from the email written to out/.
        let emails: String = tree(&p.path("out"))
            .into_values()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect();
        let token = emails
            .split("https://unsub.agency.example/u/")
            .map(|rest| rest.split('>').next().unwrap())
            .find(|t| t.starts_with("acme.intro."))
            .expect("acme's link")
            .to_string();
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("leadsite"))
            .args(["listen", "--bind", "127.0.0.1:0"])
            .current_dir(p.path("."))
            .env("LEADSITE_UNSUBSCRIBE_SECRET", secret)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let (addr, mut stderr) = listening_at(&mut child);
        // The bus's folder becomes a file: nothing can be published.
        let bus = p.path(".leadsite/bus");
        let _ = std::fs::remove_dir_all(&bus);
        std::fs::write(&bus, "not a folder").unwrap();
        let (status, body) = http(
            &addr,
            "POST",
            &format!("/u/{token}"),
            "List-Unsubscribe=One-Click",
        );
        assert_eq!(status, 500, "{body}");
        assert!(!body.contains(".leadsite") && !body.contains('/'), "{body}");
        let status = interrupt(&mut child);
        assert_eq!(status.code(), Some(130));
        let mut log = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
        assert!(
            log.contains("error: unsubscribe of acme: ") && log.contains(".leadsite/bus"),
            "{log}"
        );
    }

    /// Email out to a real SMTP server, replies and bounces of real shapes into a Maildir,
    /// `inbox`, then `schedule`: each sequence stops (or retries) on its own.
    #[test]
    fn inbound_replies_and_bounces_steer_the_campaign() {
        let smtp = Smtp::start();
        let crm = hook(vec![]);
        let p = project(smtp.port);
        let config = p.read("leadsite.yaml")
            + &format!("  crm:\n    webhook_url: http://{}/crm\n", crm.addr);
        p.write("leadsite.yaml", &config);
        let crm_env = [("LEADSITE_CRM_SECRET", "crm-secret")];
        p.write("leads/egg.yaml", &lead("egg"));
        p.run(&["build"]).code(0);
        p.run_with_env(&["schedule", "--now", "2026-11-23T15:00:00Z"], &crm_env)
            .code(0);
        assert_eq!(smtp.messages().len(), 5);

        let maildir = p.path("mail");
        std::fs::create_dir_all(maildir.join("new")).unwrap();
        std::fs::create_dir_all(maildir.join("cur")).unwrap();
        let fixtures = crate::harness::fixture_path("maildir");
        for e in std::fs::read_dir(&fixtures).unwrap() {
            let e = e.unwrap();
            if e.path().extension().is_some_and(|x| x == "eml") {
                std::fs::copy(e.path(), maildir.join("new").join(e.file_name())).unwrap();
            }
        }
        // Unreadable scored leads: a reply could be matched to no lead and be taken out of
        // new/ for good. The command stops instead, and every message stays.
        let scored = p.read(".leadsite/build/scored_leads.jsonl");
        p.write(".leadsite/build/scored_leads.jsonl", "{\"dedup_key\": 7}\n");
        let in_new = || std::fs::read_dir(maildir.join("new")).unwrap().count();
        let before = in_new();
        p.run(&["inbox", "--maildir", "mail"])
            .code(1)
            .says("scored_leads.jsonl:1");
        assert_eq!(in_new(), before, "no message is taken out of new/");
        p.write(".leadsite/build/scored_leads.jsonl", &scored);
        let run = p.run(&["-v", "inbox", "--maildir", "mail"]);
        run.code(3);
        assert!(
            run.stdout
                .contains("5 events published (0 already published before), 2 messages changed nothing, 0 need a person, 1 could not be read"),
            "{}\n{}",
            run.stdout,
            run.stderr
        );
        run.says("03-out-of-office.eml: an auto-reply");
        run.says("07-not-an-email.eml");
        assert!(
            run.stderr
                .contains("08-gmail-delay.eml: a delay notice for egg: nothing to do"),
            "a delay notice must never cause a resend: {}",
            run.stderr
        );
        assert!(
            maildir.join("new/07-not-an-email.eml").is_file(),
            "an unreadable message stays, not lost"
        );
        assert!(maildir.join("cur/04-reply-quoting.eml:2,S").is_file());
        // Twice: nothing new.
        let again = p.run(&["inbox", "--maildir", "mail"]);
        assert!(
            again.stdout.contains("0 events published"),
            "{}",
            again.stdout
        );

        p.run_with_env(&["schedule", "--now", "2026-11-24T18:00:00Z"], &crm_env)
            .code(0);
        let status = |k: &str| {
            let out = p.run(&["status", "--lead", k, "--json"]).stdout;
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            v["status"].as_str().unwrap().to_string()
        };
        assert_eq!(status("acme"), "responded");
        assert_eq!(status("bolt"), "bounced");
        assert_eq!(status("dent"), "unsubscribed");
        assert_eq!(status("egg"), "responded");
        // The soft bounce (4.2.2): the first email again, once, after the back-off (an hour).
        assert_eq!(status("cafe"), "contacted");
        assert_eq!(
            smtp.to("owner@cafe.example").len(),
            1,
            "not before the back-off"
        );
        p.run_with_env(&["schedule", "--now", "2026-11-24T19:30:00Z"], &crm_env)
            .code(0);
        assert_eq!(smtp.to("owner@cafe.example").len(), 2);
        p.run_with_env(&["schedule", "--now", "2026-11-30T18:00:00Z"], &crm_env)
            .code(0);
        for k in ["acme", "bolt", "dent", "egg"] {
            assert_eq!(
                smtp.to(&format!("owner@{k}.example")).len(),
                1,
                "{k}: nothing after its reply, bounce or opt-out"
            );
        }
        let acme = p.run(&["status", "--lead", "acme"]).stdout;
        assert!(acme.contains("lead.responded"), "{acme}");
        // The CRM got each responding lead once.
        let synced: Vec<String> = crm
            .requests
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, body)| {
                serde_json::from_str::<serde_json::Value>(body).unwrap()["lead"]["dedup_key"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(synced, ["acme", "egg"]);
    }

    /// One request the webhook got: request line, headers (lower-case names), body.
    pub(crate) type Request = (String, Vec<(String, String)>, String);

    /// A CRM webhook on 127.0.0.1 that records each request and answers from a queue.
    pub(crate) struct Hook {
        pub(crate) addr: String,
        pub(crate) requests: std::sync::Arc<std::sync::Mutex<Vec<Request>>>,
    }

    pub(crate) fn hook(mut answers: Vec<&'static str>) -> Hook {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = requests.clone();
        answers.reverse();
        let answers = std::sync::Mutex::new(answers);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    if h.trim().is_empty() {
                        break;
                    }
                    let (k, v) = h.split_once(':').unwrap();
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .map_or(0, |(_, v)| v.parse().unwrap());
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                log.lock().unwrap().push((
                    line.trim().to_string(),
                    headers,
                    String::from_utf8(body).unwrap(),
                ));
                let answer = answers.lock().unwrap().pop().unwrap_or("200 OK");
                // The request arrived, and no answer ever comes back.
                if answer == "DROP" {
                    continue;
                }
                // "STATUS\nBODY": a JSON body, as the providers document their answers.
                let (status, body) = answer.split_once('\n').unwrap_or((answer, ""));
                let extra = if !body.is_empty() {
                    "Content-Type: application/json\r\n"
                } else if status.starts_with("429") {
                    "Retry-After: 1\r\n"
                } else if status.starts_with("302") {
                    "Location: https://crm.elsewhere.example/hook\r\n"
                } else {
                    ""
                };
                let mut s = stream;
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Hook { addr, requests }
    }

    #[test]
    fn the_crm_webhook_needs_its_secret_follows_no_redirect_and_the_csv_runs_no_formula() {
        let smtp = Smtp::start();
        let crm = hook(vec!["302 Found"]);
        let p = project(smtp.port);
        // A business whose name a spreadsheet would run.
        p.write(
            "leads/acme.yaml",
            &lead("acme").replace(
                "name: acme Garage",
                "name: '=HYPERLINK(\"http://x.example\")'",
            ),
        );
        p.run(&["build"]).code(0);
        let config = p.read("leadsite.yaml")
            + &format!(
                "  crm:\n    csv: crm/leads.csv\n    webhook_url: http://{}/hook\n",
                crm.addr
            );
        p.write("leadsite.yaml", &config);
        let run = p.run_with_env(
            &["schedule", "--now", "2026-11-23T15:00:00Z"],
            &[("LEADSITE_CRM_SECRET", " ")],
        );
        run.code(2);
        run.says("LEADSITE_CRM_SECRET");
        let env = [("LEADSITE_CRM_SECRET", "s3cret")];
        p.run_with_env(&["schedule", "--now", "2026-11-23T15:00:00Z"], &env)
            .code(0);
        p.run(&["publish", "lead.responded", "--lead", "acme", "--id", "r1"])
            .code(0);
        p.run_with_env(&["schedule", "--now", "2026-11-24T15:00:00Z"], &env)
            .code(0);
        // One POST, answered with a redirect: not followed (no GET), a dead letter naming it.
        let requests = crm.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), 1, "{requests:?}");
        assert!(requests[0].0.starts_with("POST "));
        let dead = p.read(".leadsite/crm/dead-letter.jsonl");
        assert!(
            dead.contains("https://crm.elsewhere.example/hook"),
            "{dead}"
        );
        let csv = p.read("crm/leads.csv");
        assert!(csv.contains("'=HYPERLINK"), "{csv}");
    }

    #[test]
    fn emails_carry_a_dkim_signature_an_independent_verifier_accepts() {
        // dkimpy (scripts/test installs it) checks what the SMTP server received, with the
        // public key given as the DNS TXT record would be.
        let verifier = std::process::Command::new("python3")
            .args(["-c", "import dkim"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            verifier,
            "this test checks DKIM with dkimpy: run scripts/test, or python3 -m pip install dkimpy==1.1.8"
        );
        let tmp = tempfile::tempdir().unwrap();
        let key = tmp.path().join("key.pem");
        let openssl = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        };
        openssl(&[
            "genrsa",
            "-traditional",
            "-out",
            key.to_str().unwrap(),
            "2048",
        ]);
        use base64::Engine;
        let public = base64::engine::general_purpose::STANDARD.encode(openssl(&[
            "rsa",
            "-in",
            key.to_str().unwrap(),
            "-pubout",
            "-outform",
            "DER",
        ]));
        let smtp = Smtp::start();
        let p = project(smtp.port);
        let config = p.read("leadsite.yaml")
            + "  listen:\n    public_url: https://unsub.agency.example\n  dkim:\n    selector: s2026\n";
        p.write("leadsite.yaml", &config);
        let pem = std::fs::read_to_string(&key).unwrap();
        let env = [
            ("LEADSITE_DKIM_PRIVATE_KEY", pem.as_str()),
            ("LEADSITE_UNSUBSCRIBE_SECRET", "a-long-enough-test-secret"),
        ];
        p.run_with_env(&["schedule", "--now", "2026-11-23T15:00:00Z"], &env)
            .code(0);
        let mail = &smtp.to("owner@acme.example")[0];
        let signature = header(mail, "DKIM-Signature").expect("a DKIM-Signature");
        assert!(
            signature.contains("d=agency.example") && signature.contains("s=s2026"),
            "{signature}"
        );
        let signed: String = signature.to_lowercase().split_whitespace().collect();
        assert!(
            signed.contains("list-unsubscribe:list-unsubscribe-post"),
            "{signature}"
        );
        let eml = tmp.path().join("received.eml");
        std::fs::write(&eml, mail).unwrap();
        let txt = format!("v=DKIM1; k=rsa; p={public}");
        let verify = |txt: &str| {
            std::process::Command::new("python3")
                .args([
                    "-c",
                    "import dkim, sys\nmsg = open(sys.argv[1], 'rb').read()\ntxt = sys.argv[2].encode()\nsys.exit(0 if dkim.verify(msg, dnsfunc=lambda name, timeout=5: txt) else 1)",
                ])
                .arg(&eml)
                .arg(txt)
                .status()
                .unwrap()
                .success()
        };
        assert!(verify(&txt), "dkimpy rejects the signature");
        // And a changed List-Unsubscribe breaks it: the header is covered.
        std::fs::write(
            &eml,
            mail.replacen(
                "List-Unsubscribe: <",
                "List-Unsubscribe: <mailto:x@evil.example>, <",
                1,
            ),
        )
        .unwrap();
        assert!(!verify(&txt), "a forged List-Unsubscribe still verifies");
        // Without the key in the environment: a usage error before anything is sent.
        let q = project(smtp.port);
        q.write(
            "leadsite.yaml",
            &(q.read("leadsite.yaml") + "  dkim:\n    selector: s2026\n"),
        );
        let run = q.run(&["schedule", "--now", "2026-11-23T15:00:00Z"]);
        run.code(2).says("LEADSITE_DKIM_PRIVATE_KEY");
    }

    #[test]
    fn engaged_leads_reach_the_crm_once_signed_with_retries_and_dead_letters() {
        let smtp = Smtp::start();
        let crm = hook(vec![
            "500 Internal Server Error",
            "429 Too Many Requests",
            "200 OK",
            "400 Bad Request",
        ]);
        let p = project(smtp.port);
        let config = p.read("leadsite.yaml")
            + &format!(
                "  crm:\n    csv: crm/leads.csv\n    webhook_url: http://{}/hook\n",
                crm.addr
            );
        p.write("leadsite.yaml", &config);
        let env = [("LEADSITE_CRM_SECRET", "s3cret")];
        let schedule = |now: &str| p.run_with_env(&["schedule", "--now", now], &env);
        schedule("2026-11-23T15:00:00Z").code(0);
        p.run(&["publish", "lead.responded", "--lead", "acme", "--id", "r1"])
            .code(0);
        schedule("2026-11-24T15:00:00Z").code(0); // 500: kept for the next run
        schedule("2026-11-24T16:00:00Z").code(0); // 429: again
        schedule("2026-11-24T17:00:00Z").code(0); // 200
        let requests = crm.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), 3);
        let (line, headers, body) = &requests[2];
        assert_eq!(line, "POST /hook HTTP/1.1");
        let header = |k: &str| {
            headers
                .iter()
                .find(|(h, _)| h == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(header("content-type"), "application/json");
        // The timestamp is signed with the body.
        let signed = header("x-leadsite-signature");
        let t: i64 = signed
            .strip_prefix("t=")
            .and_then(|r| r.split(',').next())
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("{signed}"));
        assert!((chrono::Utc::now().timestamp() - t).abs() < 300, "{signed}");
        assert_eq!(
            signed,
            leadsite::outreach::crm::signature(b"s3cret", t, body.as_bytes())
        );
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["event"], "lead.responded");
        assert_eq!(json["lead"]["company"], "acme Garage");
        assert_eq!(json["lead"]["lead_status"], "responded");
        assert_eq!(
            json["lead"]["landing_url"],
            "https://pages.agency.example/acme/"
        );

        // A 400 is final: a dead letter, at once.
        p.run(&["publish", "lead.engaged", "--lead", "bolt", "--id", "e1"])
            .code(0);
        schedule("2026-11-24T18:00:00Z").code(0);
        assert!(p
            .read(".leadsite/crm/dead-letter.jsonl")
            .contains("HTTP 400"));
        // Synced again on request: the CSV still has each lead once.
        p.run(&["publish", "crm.sync", "--lead", "acme", "--id", "c1"])
            .code(0);
        schedule("2026-11-24T19:00:00Z").code(0);
        let csv = p.read("crm/leads.csv");
        assert!(
            csv.starts_with(
                "company,email,phone,website,city,region,country,lead_status,landing_url,dedup_key"
            ),
            "{csv}"
        );
        assert_eq!(
            csv.lines().filter(|l| l.ends_with(",acme")).count(),
            1,
            "{csv}"
        );
        assert_eq!(csv.lines().count(), 3, "header, acme, bolt: {csv}");
        let status: serde_json::Value =
            serde_json::from_str(&p.run(&["status", "--json"]).stdout).unwrap();
        assert_eq!(
            status["crm_stats"],
            serde_json::json!({"synced": 2, "failed": 1, "pending": 0})
        );
    }

    fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
        http_with(
            addr,
            method,
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body,
        )
    }

    fn http_with(
        addr: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let head: String = headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{head}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
        (
            status,
            out.split_once("\r\n\r\n")
                .map(|(_, b)| b.to_string())
                .unwrap_or_default(),
        )
    }

    #[test]
    fn one_click_unsubscribe_and_delivery_webhooks_over_real_http() {
        let smtp = Smtp::start();
        let p = project(smtp.port);
        let config =
            p.read("leadsite.yaml") + "  listen:\n    public_url: https://unsub.agency.example\n";
        p.write("leadsite.yaml", &config);
        let env = [("LEADSITE_UNSUBSCRIBE_SECRET", "a-long-enough-test-secret")];
        p.run_with_env(&["schedule", "--now", "2026-11-23T15:00:00Z"], &env)
            .code(0);
        let mail = &smtp.to("owner@acme.example")[0];
        let list = header(mail, "List-Unsubscribe").unwrap();
        let token = list
            .split("https://unsub.agency.example/u/")
            .nth(1)
            .unwrap()
            .split('>')
            .next()
            .unwrap()
            .to_string();
        assert!(token.starts_with("acme.intro."), "{list}");
        assert_eq!(
            header(mail, "List-Unsubscribe-Post").as_deref(),
            Some("List-Unsubscribe=One-Click")
        );

        let env = [
            env[0],
            ("LEADSITE_WEBHOOK_SECRET", "generic-webhook-secret"),
        ];
        let (mut child, addr) = listen(&p, &env);

        let events = || {
            std::fs::read_dir(p.path(".leadsite/bus/log"))
                .map(|d| d.count())
                .unwrap_or(0)
        };
        let before = events();
        let forged = token.replacen("acme", "bolt", 1);
        let (s1, b1) = http(
            &addr,
            "POST",
            &format!("/u/{forged}"),
            "List-Unsubscribe=One-Click",
        );
        let (s2, b2) = http(
            &addr,
            "POST",
            "/u/nobody.intro.00112233445566778899aabbccddeeff",
            "List-Unsubscribe=One-Click",
        );
        assert_eq!((s1, s2), (404, 404));
        assert_eq!(b1, b2, "a bad token learns nothing about which leads exist");
        let (status, page) = http(&addr, "GET", &format!("/u/{token}"), "");
        assert_eq!(status, 200);
        assert!(page.contains("<form method=\"post\">"), "{page}");
        assert_eq!(events(), before, "a GET changes nothing");
        for _ in 0..2 {
            let (status, page) = http(
                &addr,
                "POST",
                &format!("/u/{token}"),
                "List-Unsubscribe=One-Click",
            );
            assert_eq!(status, 200);
            assert!(page.contains("You are unsubscribed"));
        }
        assert_eq!(events(), before + 1, "a repeated POST is one event");
        // The generic delivery webhook: only signed, fresh requests count.
        let now = chrono::Utc::now().timestamp();
        let bounce = |ts: i64| {
            format!(
                r#"{{"event":"bounce","message_id":"<bolt.intro.1@agency.example>","type":"hard","reason":"550 5.1.1","timestamp":{ts}}}"#
            )
        };
        let sign = |key: &[u8], body: &str| format!("sha256={}", hmac_hex(key, &[body.as_bytes()]));
        let with_events = events();
        let path = "/webhooks/delivery";
        for (headers, body) in [
            (vec![], bounce(now)),
            (
                vec![("X-Leadsite-Signature", sign(b"a-guess", &bounce(now)))],
                bounce(now),
            ),
            (
                vec![(
                    "X-Leadsite-Signature",
                    sign(b"generic-webhook-secret", &bounce(now - 600)),
                )],
                bounce(now - 600),
            ),
            (
                vec![(
                    "X-Leadsite-Signature",
                    sign(b"generic-webhook-secret", &bounce(now)),
                )],
                bounce(now + 1),
            ),
        ] {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, answer) = http_with(&addr, "POST", path, &headers, &body);
            assert_eq!(
                (status, answer.as_str()),
                (401, "unauthorized\n"),
                "{headers:?} {body}"
            );
        }
        assert_eq!(events(), with_events, "a refused request publishes nothing");
        let signed = sign(b"generic-webhook-secret", &bounce(now));
        let (status, _) = http_with(
            &addr,
            "POST",
            path,
            &[("X-Leadsite-Signature", &signed)],
            &bounce(now),
        );
        assert_eq!(status, 202);
        let not_json = sign(b"generic-webhook-secret", "not json");
        let (status, _) = http_with(
            &addr,
            "POST",
            path,
            &[("X-Leadsite-Signature", &not_json)],
            "not json",
        );
        assert_eq!(status, 400);
        let _ = child.kill();
        let _ = child.wait();

        p.run_with_env(&["schedule", "--now", "2026-11-27T15:00:00Z"], &env)
            .code(0);
        let status: serde_json::Value =
            serde_json::from_str(&p.run(&["status", "--json"]).stdout).unwrap();
        assert_eq!(status["states"]["unsubscribed"], 1, "{status}");
        assert_eq!(status["states"]["bounced"], 1, "{status}");
        assert_eq!(
            smtp.to("owner@acme.example").len(),
            1,
            "the next schedule sends that lead nothing"
        );
        assert_eq!(smtp.to("owner@bolt.example").len(), 1);
        assert_eq!(smtp.to("owner@cafe.example").len(), 2);
    }

    #[test]
    fn listen_survives_slow_loris_and_a_flood_and_reads_chunked_bodies() {
        use std::io::{Read, Write};
        let smtp = Smtp::start();
        let p = project(smtp.port);
        let env = [
            ("LEADSITE_UNSUBSCRIBE_SECRET", "a-long-enough-test-secret"),
            ("LEADSITE_WEBHOOK_SECRET", "generic-webhook-secret"),
        ];
        let (mut child, addr) = listen(&p, &env);

        // 200 clients that send half a request and go quiet hold no worker.
        let mut loris = Vec::new();
        for _ in 0..200 {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /u/x HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            loris.push(s);
        }
        let (status, _) = http(&addr, "GET", "/u/not-a-token", "");
        assert_eq!(status, 404, "answered while 200 slow clients wait");

        // 10,000 requests from 8 threads: every one answered, and the server still answers.
        let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let addr = addr.clone();
                let answered = answered.clone();
                std::thread::spawn(move || {
                    for _ in 0..1250 {
                        let (status, _) = http(&addr, "GET", "/no/such/path", "");
                        if status == 404 {
                            answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(answered.load(std::sync::atomic::Ordering::Relaxed), 10_000);

        // A signed webhook sent in chunks is read whole (the old server ignored such bodies),
        // and a body over 1 MiB is refused.
        let body = r#"{"event":"bounce","message_id":"<acme.intro.1@agency.example>","type":"hard","reason":"550 5.1.1","timestamp":TS}"#
            .replace("TS", &chrono::Utc::now().timestamp().to_string());
        let signature = format!(
            "sha256={}",
            hmac_hex(b"generic-webhook-secret", &[body.as_bytes()])
        );
        let (first, rest) = body.split_at(40);
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "POST /webhooks/delivery HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Leadsite-Signature: {signature}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{first}\r\n{:x}\r\n{rest}\r\n0\r\n\r\n",
            first.len(),
            rest.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 202 Accepted\r\n"), "{out}");
        let published: Vec<String> = std::fs::read_dir(p.path(".leadsite/bus/log"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        assert!(
            published
                .iter()
                .any(|m| m.contains("lead.bounced") && m.contains("\"acme\"")),
            "{published:?}"
        );
        let big = "x".repeat(2 * 1024 * 1024);
        let (status, _) = http_with(
            &addr,
            "POST",
            "/webhooks/delivery",
            &[("X-Leadsite-Signature", "sha256=00")],
            &big,
        );
        assert_eq!(status, 413);
        drop(loris);
        let _ = child.kill();
        let _ = child.wait();
    }

    /// `leadsite listen` on a free loopback port; its address.
    fn listen(p: &Project, env: &[(&str, &str)]) -> (std::process::Child, String) {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("leadsite"))
            .args(["listen", "--bind", "127.0.0.1:0"])
            .current_dir(p.path("."))
            .envs(env.iter().copied())
            // A test that fails before it kills the server must not leave it holding the test
            // runner's output open.
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let (addr, _log) = listening_at(&mut child);
        (child, addr)
    }

    /// The address a started `leadsite listen` says it listens on (its first line), and the
    /// rest of what it writes to stderr.
    fn listening_at(
        child: &mut std::process::Child,
    ) -> (String, std::io::BufReader<std::process::ChildStderr>) {
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string();
        (addr, stderr)
    }

    fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
        use hmac::Mac;
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        for part in parts {
            m.update(part);
        }
        m.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn provider_webhooks_are_believed_only_when_signed() {
        use base64::Engine;
        use p256::ecdsa::signature::Signer;
        use p256::pkcs8::EncodePublicKey;

        let smtp = Smtp::start();
        let p = project(smtp.port);
        p.run(&["schedule", "--now", "2026-11-23T15:00:00Z"])
            .code(0);
        // SendGrid signs with its private key; we hold the public key its settings page shows
        // (base64 DER). A fixed key makes the test repeatable.
        let private = p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let public = b64.encode(
            private
                .verifying_key()
                .to_public_key_der()
                .unwrap()
                .as_bytes(),
        );
        let env = [
            ("LEADSITE_UNSUBSCRIBE_SECRET", "a-long-enough-test-secret"),
            ("LEADSITE_MAILGUN_SIGNING_KEY", "mailgun-signing-key"),
            ("LEADSITE_SENDGRID_PUBLIC_KEY", public.as_str()),
        ];
        let (mut child, addr) = listen(&p, &env);
        let events = || {
            std::fs::read_dir(p.path(".leadsite/bus/log"))
                .map(|d| d.count())
                .unwrap_or(0)
        };
        let before = events();
        let now = chrono::Utc::now().timestamp();

        // Mailgun: HMAC-SHA256 of timestamp + token, inside the body.
        let mailgun = |key: &[u8], ts: i64, event: &str, id: &str| {
            let sig = hmac_hex(key, &[ts.to_string().as_bytes(), b"8f2c1a"]);
            format!(
                r#"{{"signature":{{"timestamp":"{ts}","token":"8f2c1a","signature":"{sig}"}},"event-data":{{"event":"{event}","severity":"permanent","recipient":"x","message":{{"headers":{{"message-id":"{id}"}}}},"delivery-status":{{"code":550,"message":"5.1.1 The email account that you tried to reach does not exist","description":""}}}}}}"#
            )
        };
        let mg = "/webhooks/mailgun";
        let forged = mailgun(b"guessed", now, "complained", "acme.intro.1@agency.example");
        let stale = mailgun(
            b"mailgun-signing-key",
            now - 301,
            "complained",
            "acme.intro.1@agency.example",
        );
        let unsigned = r#"{"event-data":{"event":"complained","message":{"headers":{"message-id":"acme.intro.1@agency.example"}}}}"#;
        for body in [forged.as_str(), stale.as_str(), unsigned] {
            assert_eq!(http_with(&addr, "POST", mg, &[], body).0, 401, "{body}");
        }
        // SendGrid: ECDSA P-256 over timestamp + body, base64 DER in a header.
        let sendgrid = |ts: i64, body: &str, key: &p256::ecdsa::SigningKey| {
            let sig: p256::ecdsa::Signature = key.sign(format!("{ts}{body}").as_bytes());
            (b64.encode(sig.to_der().as_bytes()), ts.to_string())
        };
        let sg = "/webhooks/sendgrid";
        let sg_body = r#"[{"email":"owner@cafe.example","event":"spamreport","smtp-id":"<cafe.intro.1@agency.example>"},{"email":"owner@dent.example","event":"bounce","type":"bounce","status":"5.1.1","reason":"550 5.1.1 user unknown","smtp-id":"<dent.intro.1@agency.example>"},{"email":"owner@acme.example","event":"deferred","smtp-id":"<acme.intro.1@agency.example>"}]"#;
        let other = p256::ecdsa::SigningKey::from_bytes(&[9u8; 32].into()).unwrap();
        let (bad_sig, ts) = sendgrid(now, sg_body, &other);
        let (old_sig, old_ts) = sendgrid(now - 301, sg_body, &private);
        for (sig, ts) in [
            (bad_sig.as_str(), ts.as_str()),
            (old_sig.as_str(), old_ts.as_str()),
            ("", ""),
        ] {
            let headers = [
                ("X-Twilio-Email-Event-Webhook-Signature", sig),
                ("X-Twilio-Email-Event-Webhook-Timestamp", ts),
            ];
            assert_eq!(http_with(&addr, "POST", sg, &headers, sg_body).0, 401);
        }
        assert_eq!(events(), before, "nothing refused was published");

        // Genuine requests, each twice (a provider retries): one event each.
        let bolt = mailgun(
            b"mailgun-signing-key",
            now,
            "failed",
            "bolt.intro.1@agency.example",
        );
        let (sig, ts) = sendgrid(now, sg_body, &private);
        for _ in 0..2 {
            assert_eq!(http_with(&addr, "POST", mg, &[], &bolt).0, 202);
            let headers = [
                ("X-Twilio-Email-Event-Webhook-Signature", sig.as_str()),
                ("X-Twilio-Email-Event-Webhook-Timestamp", ts.as_str()),
            ];
            assert_eq!(http_with(&addr, "POST", sg, &headers, sg_body).0, 202);
        }
        assert_eq!(
            events(),
            before + 4,
            "bolt's bounce, cafe's complaint, dent's bounce, acme's deferral (it only settles)"
        );
        // Mailgun's signature covers timestamp and token only: the same signature on another
        // body (a complaint for acme) is a forgery.
        let swapped = mailgun(
            b"mailgun-signing-key",
            now,
            "complained",
            "acme.intro.1@agency.example",
        );
        assert_eq!(http_with(&addr, "POST", mg, &[], &swapped).0, 401);
        assert_eq!(events(), before + 4);
        let _ = child.kill();
        let _ = child.wait();

        p.run(&["schedule", "--now", "2026-11-27T15:00:00Z"])
            .code(0);
        let state = |k: &str| {
            let out = p.run(&["status", "--lead", k, "--json"]).stdout;
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            v["status"].as_str().unwrap().to_string()
        };
        assert_eq!(state("bolt"), "bounced");
        assert_eq!(state("cafe"), "unsubscribed", "a complaint opts out");
        assert_eq!(state("dent"), "bounced");
        assert_eq!(state("acme"), "contacted", "a deferral changes nothing");
        assert_eq!(smtp.to("owner@acme.example").len(), 2, "acme's step 2");
        for k in ["bolt", "cafe", "dent"] {
            assert_eq!(smtp.to(&format!("owner@{k}.example")).len(), 1, "{k}");
        }
        let suppressed = p.read(".leadsite/state/suppressed.txt");
        assert!(
            suppressed.contains("owner@cafe.example") && suppressed.contains("owner@dent.example")
        );
    }

    /// A WhatsApp or SMS campaign after day one (step 1 went out by email), its gateway
    /// answering `answers` in turn.
    struct WaCampaign {
        smtp: Smtp,
        gateway: Hook,
        p: Project,
        env: [(&'static str, &'static str); 1],
        _tmp: tempfile::TempDir,
    }

    impl WaCampaign {
        fn start(provider: &str, answers: Vec<&'static str>) -> WaCampaign {
            let tmp = tempfile::tempdir().unwrap();
            let smtp = Smtp::start();
            let gateway = hook(answers);
            let p = whatsapp_project(smtp.port, &gateway.addr, provider);
            let env = match provider {
                "twilio" => [("LEADSITE_TWILIO_TOKEN", "tw-token")],
                _ => [("LEADSITE_WHATSAPP_TOKEN", "wa-token")],
            };
            p.run_with_env(&["schedule", "--now", "2026-11-23T15:00:00Z"], &env)
                .code(0);
            WaCampaign {
                smtp,
                gateway,
                p,
                env,
                _tmp: tmp,
            }
        }
    }

    pub(crate) fn whatsapp_project(smtp: u16, gateway: &str, provider: &str) -> Project {
        let p = project(smtp);
        p.write(
            "content/emails/wa/01-hello.md",
            "---\nsubject: Hello {{ business.name }}\ndelay: 0d\n---\nSee {{ landing_url }}\n",
        );
        p.write("content/emails/wa/02-ping.md", "---\nchannel: whatsapp\ntemplate: page_ready\ndelay: 1d\n---\nHi {{ business.name }}, your page: {{ landing_url }}\n");
        let config = p.read("leadsite.yaml").replace("  enabled: true\n", "  enabled: true\n  sequence: wa\n")
            + &format!("  whatsapp:\n    provider: {provider}\n    base_url: http://{gateway}\n    phone_number_id: '1234'\n    account_sid: AC123\n    from: '+12175550000'\n");
        p.write("leadsite.yaml", &config);
        p
    }

    fn bus_events(p: &Project, topic: &str) -> Vec<serde_json::Value> {
        let Ok(log) = std::fs::read_dir(p.path(".leadsite/bus/log")) else {
            return Vec::new();
        };
        log.map(|e| {
            serde_json::from_str::<serde_json::Value>(
                &std::fs::read_to_string(e.unwrap().path()).unwrap(),
            )
            .unwrap()
        })
        .filter(|v| v["topic"] == topic)
        .collect()
    }

    #[test]
    fn whatsapp_steps_go_through_the_cloud_api_with_retries() {
        let c = WaCampaign::start(
            "cloud",
            vec![
                "429 Too Many Requests",
                "200 OK",
                "500 Internal Server Error",
                "400 Bad Request",
                "200 OK",
                "200 OK",
            ],
        );
        let (smtp, gateway, p, env) = (&c.smtp, &c.gateway, &c.p, c.env);
        assert_eq!(smtp.messages().len(), 4, "step 1 is email");
        let run = p.run_with_env(&["schedule", "--now", "2026-11-24T16:00:00Z"], &env);
        run.code(0).says("wa.cafe.wa.2 given up: HTTP 400");
        p.run_with_env(&["schedule", "--now", "2026-11-24T17:00:00Z"], &env)
            .code(0);
        let requests = gateway.requests.lock().unwrap().clone();
        assert_eq!(
            requests.len(),
            6,
            "acme 429 then 200; bolt 500; cafe 400; dent 200; bolt 200 next run"
        );
        let (line, headers, body) = &requests[1];
        assert_eq!(line, "POST /v24.0/1234/messages HTTP/1.1");
        assert!(
            headers.contains(&("authorization".to_string(), "Bearer wa-token".to_string())),
            "{headers:?}"
        );
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["messaging_product"], "whatsapp");
        assert_eq!(json["to"], "+12175550134", "E.164 as it is");
        assert_eq!(json["type"], "template");
        assert_eq!(json["template"]["name"], "page_ready");
        assert_eq!(json["template"]["language"]["code"], "en_US");
        assert_eq!(
            json["template"]["components"][0]["parameters"][0]["text"],
            "acme Garage"
        );
        assert_eq!(
            json["template"]["components"][0]["parameters"][1]["text"],
            "https://pages.agency.example/acme/"
        );
        let contacted = bus_events(p, "lead.contacted");
        assert_eq!(contacted.len(), 3, "acme, dent, bolt");
        assert!(contacted.iter().all(|e| e["data"]["channel"] == "whatsapp"));
        // Nothing goes out twice.
        p.run_with_env(&["schedule", "--now", "2026-11-24T18:00:00Z"], &env)
            .code(0);
        assert_eq!(gateway.requests.lock().unwrap().len(), 6);
    }

    #[test]
    fn provider_error_codes_decide_retry_stop_or_opt_out() {
        // Meta's documented error bodies: a rate limit with HTTP 400, then a success, then an
        // expired token.
        let c = WaCampaign::start("cloud", vec![
            "400 Bad Request\n{\"error\":{\"message\":\"(#130429) Rate limit hit\",\"type\":\"OAuthException\",\"code\":130429,\"error_subcode\":2494055,\"fbtrace_id\":\"Az8or2yhqkZfEZ\"}}",
            "200 OK\n{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":\"+12175550134\",\"wa_id\":\"12175550134\"}],\"messages\":[{\"id\":\"wamid.HBgLMTIxNzU1NTAxMzQVAgARGBI\"}]}",
            "401 Unauthorized\n{\"error\":{\"message\":\"Error validating access token: Session has expired\",\"type\":\"OAuthException\",\"code\":190,\"error_subcode\":463,\"fbtrace_id\":\"AbCdEf\"}}",
        ]);
        let (gateway, p, env) = (&c.gateway, &c.p, c.env);
        let run = p.run_with_env(&["schedule", "--now", "2026-11-24T16:00:00Z"], &env);
        run.code(3)
            .says("stopped for this run")
            .says("access token");
        assert!(!run.stderr.contains("given up"), "{}", run.stderr);
        assert_eq!(
            gateway.requests.lock().unwrap().len(),
            3,
            "the fourth waits"
        );
        assert_eq!(bus_events(p, "lead.contacted").len(), 1);
        // Next run: the throttled one, the one the stop held back and the one never tried go.
        p.run_with_env(&["schedule", "--now", "2026-11-24T17:00:00Z"], &env)
            .code(0);
        assert_eq!(gateway.requests.lock().unwrap().len(), 6);
        assert_eq!(bus_events(p, "lead.contacted").len(), 4);

        // Twilio's 21610: the recipient sent STOP. An opt-out, never a retry.
        let c = WaCampaign::start("twilio", vec![
            "400 Bad Request\n{\"code\": 21610, \"message\": \"Attempt to send to unsubscribed recipient\", \"more_info\": \"https://www.twilio.com/docs/errors/21610\", \"status\": 400}",
        ]);
        let (p, env) = (&c.p, c.env);
        p.run_with_env(&["schedule", "--now", "2026-11-24T16:00:00Z"], &env)
            .code(0);
        let opted = bus_events(p, "lead.unsubscribed");
        assert_eq!(opted.len(), 1, "{opted:?}");
        assert_eq!(opted[0]["data"]["channel"], "sms");
    }

    #[test]
    fn whatsapp_steps_count_against_the_caps_as_emails_do() {
        let c = WaCampaign::start("cloud", vec![]);
        let (gateway, p, env) = (&c.gateway, &c.p, c.env);
        let config = p
            .read("leadsite.yaml")
            .replace("  enabled: true\n", "  enabled: true\n  run_cap: 2\n");
        p.write("leadsite.yaml", &config);
        let run = p.run_with_env(&["schedule", "--now", "2026-11-24T16:00:00Z"], &env);
        run.code(0);
        assert_eq!(gateway.requests.lock().unwrap().len(), 2, "{}", run.stdout);
        p.run_with_env(&["schedule", "--now", "2026-11-24T16:30:00Z"], &env)
            .code(0);
        assert_eq!(gateway.requests.lock().unwrap().len(), 4);
    }

    #[test]
    fn sms_through_a_twilio_style_api() {
        let c = WaCampaign::start("twilio", vec![]);
        let (gateway, p, env) = (&c.gateway, &c.p, c.env);
        p.run_with_env(&["schedule", "--now", "2026-11-24T16:00:00Z"], &env)
            .code(0);
        let requests = gateway.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), 4);
        let (line, headers, body) = &requests[0];
        assert_eq!(
            line,
            "POST /2010-04-01/Accounts/AC123/Messages.json HTTP/1.1"
        );
        // base64("AC123:tw-token")
        assert!(
            headers.contains(&(
                "authorization".to_string(),
                "Basic QUMxMjM6dHctdG9rZW4=".to_string()
            )),
            "{headers:?}"
        );
        assert!(
            headers.contains(&(
                "content-type".to_string(),
                "application/x-www-form-urlencoded".to_string()
            )),
            "{headers:?}"
        );
        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
        assert_eq!(form["To"], "+12175550134");
        assert_eq!(form["From"], "+12175550000");
        assert!(
            form["Body"]
                .starts_with("Hi acme Garage, your page: https://pages.agency.example/acme/"),
            "{body}"
        );
        // An SMS has its own short footer with the opt-out, not the email's.
        assert!(
            form["Body"]
                .trim_end()
                .ends_with("Sam Seller - Reply STOP to opt out"),
            "{body}"
        );
        assert!(!form["Body"].contains("100 Example Ave"), "{body}");
    }

    /// Twilio's documented answer to a message it took (`201 Created`), with sid `SM000N`.
    fn twilio_receipt(n: usize) -> &'static str {
        Box::leak(format!("201 Created\n{{\"account_sid\":\"AC123\",\"api_version\":\"2010-04-01\",\"body\":\"Hi\",\"direction\":\"outbound-api\",\"error_code\":null,\"error_message\":null,\"from\":\"+12175550000\",\"num_segments\":\"1\",\"sid\":\"SM000{n}\",\"status\":\"queued\",\"to\":\"+12175550134\"}}").into_boxed_str())
    }

    #[test]
    fn sms_replies_stops_and_statuses_come_back_through_twilio_webhooks() {
        let smtp = Smtp::start();
        let gateway = hook((1..=4).map(twilio_receipt).collect());
        let p = whatsapp_project(smtp.port, &gateway.addr, "twilio");
        // bolt has a number of its own; acme, cafe and dent share one (a chain's head office).
        p.write(
            "leads/bolt.yaml",
            &lead("bolt").replace("+12175550134", "+12175550199"),
        );
        let config =
            p.read("leadsite.yaml") + "  listen:\n    public_url: https://hooks.agency.example/\n";
        p.write("leadsite.yaml", &config);
        p.run(&["build"]).code(0);
        let env = [
            ("LEADSITE_TWILIO_TOKEN", "tw-token"),
            ("LEADSITE_UNSUBSCRIBE_SECRET", "a-long-enough-test-secret"),
        ];
        p.run_with_env(&["schedule", "--now", "2026-11-23T15:00:00Z"], &env)
            .code(0);
        p.run_with_env(&["schedule", "--now", "2026-11-24T16:00:00Z"], &env)
            .code(0);
        assert_eq!(gateway.requests.lock().unwrap().len(), 4, "four SMS");
        // The provider's id and status are kept: in the ledger and in lead.contacted.
        let ledger = p.read(".leadsite/whatsapp/ledger.jsonl");
        assert!(
            ledger.contains(r#""provider_id":"SM0002","provider_status":"queued""#),
            "{ledger}"
        );
        let contacted = bus_events(&p, "lead.contacted");
        let bolt = contacted
            .iter()
            .find(|e| e["lead_id"] == "bolt")
            .expect("bolt was texted");
        assert_eq!(bolt["data"]["provider_id"], "SM0002");

        let (mut child, addr) = listen(&p, &env);
        let url = "https://hooks.agency.example/webhooks/twilio";
        // A form as Twilio posts it, to `listen` at `addr`, with this signature.
        let post_to = |addr: &str, params: &[(&str, &str)], signature: &str| {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish();
            http_with(
                addr,
                "POST",
                "/webhooks/twilio",
                &[
                    ("X-Twilio-Signature", signature),
                    ("Content-Type", "application/x-www-form-urlencoded"),
                ],
                &body,
            )
        };
        let sign = |params: &[(&str, &str)]| {
            leadsite::outreach::webhook::twilio_signature(b"tw-token", url, params)
        };
        let post = |params: &[(&str, &str)], signature: &str| post_to(&addr, params, signature);
        let signed = |params: &[(&str, &str)]| post(params, &sign(params));
        let reply = |sid: &'static str, from: &'static str, text: &'static str| {
            vec![
                ("AccountSid", "AC123"),
                ("MessageSid", sid),
                ("SmsSid", sid),
                ("From", from),
                ("To", "+12175550000"),
                ("Body", text),
                ("NumMedia", "0"),
                ("SmsStatus", "received"),
            ]
        };
        // A forged STOP is refused and publishes nothing.
        let before = bus_events(&p, "lead.unsubscribed").len();
        let forged = reply("SMf1", "+12175550199", "STOP");
        assert_eq!(post(&forged, "RSOYDt4T1cUTdK1PDd93/VVr8B8=").0, 401);
        assert_eq!(post(&forged, "").0, 401);
        assert_eq!(bus_events(&p, "lead.unsubscribed").len(), before);

        // bolt answers in words; the head office sends STOP (twice: Twilio retries).
        let (status, twiml) = signed(&reply(
            "SMr1",
            "+12175550199",
            "Sounds good, call me Friday",
        ));
        assert_eq!(status, 200);
        assert!(twiml.contains("<Response></Response>"), "{twiml}");
        let stop = reply("SMr2", "+12175550134", "STOP");
        assert_eq!(signed(&stop).0, 200);
        assert_eq!(signed(&stop).0, 200);
        // Delivery statuses of our messages: kept in the history.
        let status_cb = [
            ("AccountSid", "AC123"),
            ("MessageSid", "SM0002"),
            ("MessageStatus", "delivered"),
            ("To", "+12175550199"),
        ];
        assert_eq!(signed(&status_cb).0, 200);
        // A number we never texted: accepted, matched to no lead.
        assert_eq!(signed(&reply("SMr3", "+4930123456", "STOP")).0, 200);
        let _ = child.kill();
        let _ = child.wait();

        let responded = bus_events(&p, "lead.responded");
        assert_eq!(responded.len(), 1, "{responded:?}");
        assert_eq!(responded[0]["lead_id"], "bolt");
        let mut stopped: Vec<String> = bus_events(&p, "lead.unsubscribed")
            .iter()
            .map(|e| e["lead_id"].as_str().unwrap().to_string())
            .collect();
        stopped.sort();
        assert_eq!(
            stopped,
            ["acme", "cafe", "dent"],
            "every lead texted at that number, once"
        );

        p.run_with_env(&["schedule", "--now", "2026-11-24T17:00:00Z"], &env)
            .code(0);
        let status = p.run(&["status", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
        assert_eq!(v["states"]["responded"], 1, "{}", status.stdout);
        assert_eq!(v["states"]["unsubscribed"], 3, "{}", status.stdout);
        let bolt = p.run(&["status", "--lead", "bolt"]).stdout;
        assert!(bolt.contains("responded"), "{bolt}");
        assert!(bolt.contains("sms SM0002: delivered"), "{bolt}");

        // A ledger an earlier version wrote (`id<TAB>state`, no numbers): a STOP still finds
        // the lead by its phone.
        p.write(
            ".leadsite/whatsapp/ledger.jsonl",
            "wa.bolt.wa.2\tintent\nwa.bolt.wa.2\tsent\n",
        );
        let (mut child, again) = listen(&p, &env);
        let stop = reply("SMr9", "+12175550199", "STOP");
        // While the scored leads cannot be read, the STOP is refused (Twilio sends it again),
        // never accepted and matched to no lead.
        let scored = p.read(".leadsite/build/scored_leads.jsonl");
        p.write(".leadsite/build/scored_leads.jsonl", "{\"dedup_key\": 7}\n");
        assert_eq!(post_to(&again, &stop, &sign(&stop)).0, 500);
        p.write(".leadsite/build/scored_leads.jsonl", &scored);
        let (status, text) = post_to(&again, &stop, &sign(&stop));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(status, 200, "{text}");
        assert!(
            bus_events(&p, "lead.unsubscribed")
                .iter()
                .any(|e| e["lead_id"] == "bolt"),
            "the STOP stops bolt"
        );
    }

    #[test]
    fn a_queued_text_is_not_sent_after_an_opt_out_and_a_lost_answer_is_in_doubt() {
        // Day 2: the gateway fails all four (5xx: queued for the next run).
        let fail = "500 Internal Server Error\n{\"code\": 20500, \"message\": \"Internal Server Error\", \"more_info\": \"https://www.twilio.com/docs/errors/20500\", \"status\": 500}";
        let c = WaCampaign::start(
            "twilio",
            vec![
                fail,
                fail,
                fail,
                fail,
                "DROP",
                twilio_receipt(2),
                twilio_receipt(3),
                twilio_receipt(4),
            ],
        );
        let (gateway, p, env) = (&c.gateway, &c.p, c.env);
        p.run_with_env(&["schedule", "--now", "2026-11-24T16:00:00Z"], &env)
            .code(0);
        assert_eq!(gateway.requests.lock().unwrap().len(), 4);
        // acme opts out before the retry: its queued text never goes.
        p.run(&["publish", "lead.unsubscribed", "--lead", "acme"])
            .code(0);
        // bolt's request gets no answer: in doubt, not resent.
        let run = p.run_with_env(&["schedule", "--now", "2026-11-24T17:00:00Z"], &env);
        run.code(3);
        let requests = gateway.requests.lock().unwrap().clone();
        let to_acme = requests
            .iter()
            .skip(4)
            .filter(|r| r.2.contains("acme+Garage"))
            .count();
        assert_eq!(to_acme, 0, "nothing more to a lead that opted out");
        assert_eq!(requests.len(), 4 + 3, "bolt (no answer), cafe, dent");
        run.says("bolt: a step is in doubt");
        // Asked again, nothing goes to bolt until a person says what happened.
        p.run_with_env(&["schedule", "--now", "2026-11-24T18:00:00Z"], &env)
            .code(3);
        assert_eq!(gateway.requests.lock().unwrap().len(), 7);
        let status = p.run(&["status"]);
        status.code(3);
        assert!(
            status.stdout.contains("in doubt: bolt"),
            "{}",
            status.stdout
        );
        p.run(&["resolve", "bolt", "--not-sent"]).code(0);
        p.run_with_env(&["schedule", "--now", "2026-11-24T19:00:00Z"], &env)
            .code(0);
        let requests = gateway.requests.lock().unwrap().clone();
        assert_eq!(
            requests.len(),
            8,
            "bolt's text, once more, by a person's word"
        );
        assert!(requests[7].2.contains("bolt+Garage"), "{}", requests[7].2);
    }

    /// An SMTP server that takes every message, but drops the connection without an answer
    /// after the first one's closing dot, and at the second MAIL FROM (before any message).
    /// Returns its port and the count of messages it read.
    fn smtp_that_drops_the_first_answer() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{BufRead, BufReader, Write};
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        let mut mails = 0;
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut out = stream.try_clone().unwrap();
                let mut lines = BufReader::new(stream);
                let _ = out.write_all(b"220 fake ESMTP\r\n");
                let mut line = String::new();
                'conn: while lines.read_line(&mut line).unwrap_or(0) > 0 {
                    let verb = line.trim().to_ascii_uppercase();
                    line.clear();
                    let reply: &[u8] = if verb.starts_with("DATA") {
                        let _ = out.write_all(b"354 go ahead\r\n");
                        let mut body = String::new();
                        while lines.read_line(&mut body).unwrap_or(0) > 0
                            && !body.ends_with("\r\n.\r\n")
                        {}
                        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                            break 'conn; // taken, and no answer
                        }
                        b"250 2.0.0 queued\r\n"
                    } else if verb.starts_with("MAIL") {
                        mails += 1;
                        if mails == 2 {
                            break 'conn; // gone before anything was sent
                        }
                        b"250 OK\r\n"
                    } else if verb.starts_with("QUIT") {
                        let _ = out.write_all(b"221 bye\r\n");
                        break;
                    } else {
                        b"250 OK\r\n"
                    };
                    let _ = out.write_all(reply);
                }
            }
        });
        (port, count)
    }

    #[test]
    fn an_email_whose_answer_is_lost_is_in_doubt_and_never_sent_again_by_guess() {
        use std::sync::atomic::Ordering;
        let (port, messages) = smtp_that_drops_the_first_answer();
        let p = project(port);
        let run = p.run(&["schedule", "--now", "2026-11-23T15:00:00Z"]);
        run.code(3);
        assert_eq!(
            messages.load(Ordering::SeqCst),
            3,
            "acme's read (answer lost), bolt's never begun (dropped at MAIL), cafe's, dent's"
        );
        run.says("acme: a step is in doubt");
        assert!(
            !run.stderr.contains("bolt: a step is in doubt"),
            "{}",
            run.stderr
        );
        // After the back-off bolt goes (nothing of it had gone); acme gets nothing until a
        // person says what happened.
        p.run(&["schedule", "--now", "2026-11-23T17:00:00Z"])
            .code(3);
        assert_eq!(messages.load(Ordering::SeqCst), 4);
        let status = p.run(&["status"]);
        assert!(
            status.stdout.contains("in doubt: acme"),
            "{}",
            status.stdout
        );
        assert!(
            !status.stdout.contains("in doubt: bolt"),
            "{}",
            status.stdout
        );
        p.run(&["resolve", "acme", "--sent"]).code(0);
        p.run(&["schedule", "--now", "2026-11-23T18:00:00Z"])
            .code(0);
        assert_eq!(
            messages.load(Ordering::SeqCst),
            4,
            "each first step went out once"
        );
    }

    #[test]
    fn whatsapp_templates_are_checked_with_the_account_before_anything_is_sent() {
        // The account's template wants three body parameters; the step names two.
        let listing = "200 OK\n{\"data\":[{\"name\":\"page_ready\",\"parameter_format\":\"POSITIONAL\",\"components\":[{\"type\":\"BODY\",\"text\":\"Hello {{1}} in {{2}}, see {{3}}\",\"example\":{\"body_text\":[[\"Acme\",\"Springfield\",\"https://x.example/\"]]}}],\"language\":\"en_US\",\"status\":\"APPROVED\",\"category\":\"MARKETING\",\"id\":\"1234567890\"}],\"paging\":{\"cursors\":{\"before\":\"MAZDZD\",\"after\":\"MjQZD\"}}}";
        let accepted = "200 OK\n{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":\"+12175550134\",\"wa_id\":\"12175550134\"}],\"messages\":[{\"id\":\"wamid.HBgLMTIxNzU1NTAxMzQVAgARGBI\",\"message_status\":\"accepted\"}]}";
        let smtp = Smtp::start();
        let gateway = hook(vec![
            listing, listing, accepted, accepted, accepted, accepted,
        ]);
        let p = whatsapp_project(smtp.port, &gateway.addr, "cloud");
        let config = p.read("leadsite.yaml").replace(
            "phone_number_id: '1234'",
            "phone_number_id: '1234'\n    business_account_id: '5678'",
        );
        p.write("leadsite.yaml", &config);
        let env = [("LEADSITE_WHATSAPP_TOKEN", "wa-token")];
        p.run_with_env(&["schedule", "--now", "2026-11-23T15:00:00Z"], &env)
            .code(0);
        let run = p.run_with_env(&["schedule", "--now", "2026-11-24T16:00:00Z"], &env);
        run.code(3);
        assert!(
            run.stderr.contains("page_ready")
                && run
                    .stderr
                    .contains("its body wants 3 parameters, the step gives 2"),
            "{}",
            run.stderr
        );
        let requests = gateway.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), 1, "one look-up, no message: {requests:?}");
        assert!(
            requests[0]
                .0
                .starts_with("GET /v24.0/5678/message_templates?name=page_ready"),
            "{:?}",
            requests[0].0
        );
        assert!(requests[0]
            .1
            .contains(&("authorization".to_string(), "Bearer wa-token".to_string())));
        assert!(
            bus_events(&p, "outreach.whatsapp.send").is_empty(),
            "nothing queued"
        );

        // The step names the third parameter: everything due goes, with the three of them.
        p.write("content/emails/wa/02-ping.md", "---\nchannel: whatsapp\ntemplate: page_ready\ndelay: 1d\nparams:\n  - \"{{ business.name }}\"\n  - \"{{ business.city }}\"\n  - \"{{ landing_url }}\"\n---\nHi {{ business.name }}, your page: {{ landing_url }}\n");
        p.run_with_env(&["schedule", "--now", "2026-11-24T17:00:00Z"], &env)
            .code(0);
        let requests = gateway.requests.lock().unwrap().clone();
        assert_eq!(
            requests.len(),
            1 + 1 + 4,
            "one look-up a run, four messages"
        );
        let json: serde_json::Value = serde_json::from_str(&requests[2].2).unwrap();
        let params = &json["template"]["components"][0]["parameters"];
        assert_eq!(params[1]["text"], "Springfield", "{json}");
        assert_eq!(params.as_array().unwrap().len(), 3);
        let ledger = p.read(".leadsite/whatsapp/ledger.jsonl");
        assert!(
            ledger.contains("wamid.HBgLMTIxNzU1NTAxMzQVAgARGBI"),
            "{ledger}"
        );
    }
}

mod in_doubt {
    use leadsite::outreach::store::{FileStore, Intent, LeadState, StateStore};

    use crate::harness::Smtp;

    #[test]
    fn steps_in_doubt_are_resolved_by_hand_or_by_an_event_naming_them() {
        let smtp = Smtp::start();
        let p = super::campaign::project(smtp.port);
        p.write("leads/egg.yaml", &super::campaign::lead("egg"));
        p.run(&["build"]).code(0);
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-23T15:00:00Z")
            .unwrap()
            .to_utc();
        let intent = |k: &str, run: &str| LeadState {
            in_flight: Some(Intent {
                step: 1,
                message_id: format!("<{k}.intro.1@agency.example>"),
                at,
                run: run.to_string(),
            }),
            ..LeadState::default()
        };
        // As a run killed mid-send leaves them: the intent of step 1 recorded, no outcome.
        {
            let mut store = FileStore::open(&p.path(".leadsite/state")).unwrap();
            for k in ["acme", "bolt", "dent", "egg"] {
                store.commit(k, intent(k, "4242.1")).unwrap();
            }
        }
        {
            // While a run holds the store, the step it began is being sent, not in doubt; the
            // steps an earlier, killed run left are in doubt all the same.
            let mut store = FileStore::open(&p.path(".leadsite/state")).unwrap();
            let this_run = store.run().to_string();
            store.commit("cafe", intent("cafe", &this_run)).unwrap();
            let status = p.run(&["status"]);
            status.code(3);
            assert!(
                status.stdout.contains("in doubt: acme"),
                "{}",
                status.stdout
            );
            assert!(
                !status.stdout.contains("in doubt: cafe"),
                "{}",
                status.stdout
            );
            let one = p.run(&["status", "--lead", "cafe"]);
            assert!(one.stdout.contains("being sent: step 1"), "{}", one.stdout);
            let other = p.run(&["status", "--lead", "acme"]);
            assert!(
                other.stdout.contains("IN DOUBT: step 1"),
                "{}",
                other.stdout
            );
            store.commit("cafe", LeadState::default()).unwrap();
        }
        let status = p.run(&["status"]);
        status.code(3);
        assert!(
            status.stdout.contains("in doubt: acme"),
            "{}",
            status.stdout
        );

        // The run sends only cafe; the three in doubt wait for a word.
        p.run(&["schedule", "--now", "2026-11-23T16:00:00Z"])
            .code(3);
        assert_eq!(smtp.messages().len(), 1);

        p.run(&["resolve", "acme", "--not-sent"]).code(0);
        p.run(&["resolve", "bolt", "--sent"]).code(0);
        let again = p.run(&["resolve", "bolt", "--sent"]);
        again.code(2).says("no step is in doubt");
        p.run(&["resolve", "acme"]).code(2);
        // dent answers the email the crash left in doubt: it went out, and dent responded.
        p.run(&[
            "publish",
            "lead.responded",
            "--lead",
            "dent",
            "--id",
            "r1",
            "--data",
            "message_id=<dent.intro.1@agency.example>",
        ])
        .code(0);
        // A delay notice quoting egg's step 1: it left us, so it is no longer in doubt.
        let maildir = p.path("mail");
        std::fs::create_dir_all(maildir.join("cur")).unwrap();
        let delay =
            std::fs::read_to_string(crate::harness::fixture_path("maildir/08-gmail-delay.eml"))
                .unwrap();
        p.write("mail/new/delay.eml", &delay);
        let inbox = p.run(&["inbox", "--maildir", "mail"]);
        assert!(
            inbox.stdout.contains("1 events published"),
            "{}",
            inbox.stdout
        );
        p.run(&["schedule", "--now", "2026-11-23T17:00:00Z"])
            .code(0);
        assert_eq!(
            smtp.to("owner@acme.example").len(),
            1,
            "acme's step 1 again, once"
        );
        assert!(
            smtp.to("owner@egg.example").is_empty(),
            "egg's step 1 went out before"
        );
        let egg = p.run(&["status", "--lead", "egg"]).stdout;
        assert!(egg.starts_with("egg: contacted, step 1"), "{egg}");
        assert!(egg.contains("resolved"), "{egg}");
        assert!(
            smtp.to("owner@bolt.example").is_empty(),
            "bolt's step 1 went out before"
        );
        assert!(smtp.to("owner@dent.example").is_empty());
        let dent = p.run(&["status", "--lead", "dent"]).stdout;
        assert!(dent.starts_with("dent: responded, step 1"), "{dent}");
        assert!(dent.contains("resolved"), "{dent}");
        let bolt = p.run(&["status", "--lead", "bolt"]).stdout;
        assert!(bolt.starts_with("bolt: contacted, step 1"), "{bolt}");
        p.run(&["status"]).code(0);
    }
}
