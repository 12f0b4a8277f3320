//! OutreachOrchestratorAgent: reads events from the bus, moves each lead through its campaign
//! (new → contacted(step n) → … → responded | bounced | unsubscribed | no_response) in the
//! StateStore, and sends what is due with the EmailAgent.
//!
//! Exactly once: before a message goes to the SMTP server the store records the intent
//! (`in_flight`), after it the outcome. A crash between the two leaves the step *in doubt*: it is
//! reported by `leadsite status` and never sent again by itself.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::sequence::Sequence;
use super::store::{HistoryEntry, LeadState, StateStore, Status};
use crate::config::Config;
use crate::error::{Error, InputError, Location, Result};
use crate::fsutil;
use crate::lead::{Lead, Route};
use events::{apply_event, Rules};

mod events;
mod plan;
mod send;

/// The consumer group the orchestrator reads the bus as.
pub const GROUP: &str = "orchestrator";

pub struct Options {
    pub now: DateTime<Utc>,
    /// Write messages as .eml files under <work>/outbox instead of sending them, and work on a
    /// copy of the campaign state: the state, the bus, its acks and inbox, and the suppression
    /// list are left as they were.
    pub dry_run: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct RunReport {
    pub events: usize,
    /// (event id, why) of events that changed nothing.
    pub ignored: Vec<(String, String)>,
    pub inbox_rejected: Vec<(String, String)>,
    /// Bus log entries that could not be read, moved to `bus/quarantine/` (entry, why).
    pub quarantined: Vec<(String, String)>,
    pub sent: usize,
    pub failed: usize,
    pub bounced: usize,
    pub waiting_for_window: usize,
    pub completed: usize,
    pub capped: bool,
    pub in_doubt: Vec<String>,
    pub crm: Option<super::crm::CrmStats>,
    /// WhatsApp messages given up (event id, why).
    pub whatsapp_failed: Vec<(String, String)>,
    /// Why the WhatsApp/SMS channel stopped for this run (its messages stay queued).
    pub whatsapp_halted: Option<String>,
    /// WhatsApp/SMS messages not sent because the lead replied, bounced or opted out since
    /// they were queued (event id, why).
    pub whatsapp_cancelled: Vec<(String, String)>,
    /// What was sent (or, in a dry run, would be): "lead: step N (channel) to address".
    pub planned: Vec<String>,
}

pub fn state_dir(config: &Config) -> PathBuf {
    config.work_dir().join("state")
}

pub fn bus_dir(config: &Config) -> PathBuf {
    config.work_dir().join("bus")
}

/// The scored leads of the last build, by dedup_key. Boxed: a B-tree's nodes hold their values
/// inline and half full, which cost twice a lead's size each (100,000 leads: 99 MB of nodes).
pub type Leads = BTreeMap<String, Box<Lead>>;

/// A line of `scored_leads.jsonl` read at most: a lead file is at most 16 MiB, and what a build
/// adds to it is small.
const MAX_SCORED_LINE: u64 = 32 * 1024 * 1024;

/// The scored leads of the last build, read a line at a time (the file is never held whole).
pub fn scored_leads(config: &Config) -> Result<Leads> {
    use std::io::BufRead;
    let path = config.work_dir().join("build").join("scored_leads.jsonl");
    let Some(file) = fsutil::open_state(&path)? else {
        return Err(Error::Usage(format!(
            "{}: not there; run `leadsite build` first",
            path.display()
        )));
    };
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut out: Leads = BTreeMap::new();
    let mut line = String::new();
    for i in 1u64.. {
        line.clear();
        let read = std::io::Read::take(&mut reader, MAX_SCORED_LINE + 1)
            .read_line(&mut line)
            .map_err(|e| {
                let why = if e.kind() == std::io::ErrorKind::InvalidData {
                    format!("not UTF-8 text: {e}")
                } else {
                    e.to_string()
                };
                Error::from(InputError::new(Location::at_line(&path, i), why))
            })?;
        if read == 0 {
            break;
        }
        if read as u64 > MAX_SCORED_LINE {
            return Err(InputError::new(
                Location::at_line(&path, i),
                format!(
                    "a line over {} MiB: not a lead leadsite wrote",
                    MAX_SCORED_LINE >> 20
                ),
            )
            .into());
        }
        if line.trim().is_empty() {
            continue;
        }
        let lead: Lead = serde_json::from_str(&line).map_err(|e| {
            Error::from(InputError::new(
                Location::at_line(&path, i),
                format!("not a lead: {e}"),
            ))
        })?;
        // A build writes each lead once: a second one is a file edited or mixed by hand, and
        // which of the two to email is not for a guess.
        match out.entry(lead.dedup_key.clone()) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(Box::new(lead));
            }
            std::collections::btree_map::Entry::Occupied(slot) => {
                let key = slot.key();
                let first = first_line_of(&path, key).unwrap_or(0);
                return Err(InputError::new(
                    Location::at_line(&path, i),
                    format!(
                        "{key} again (first on line {first}): not the list one build wrote; \
                         run `leadsite build`"
                    ),
                )
                .into());
            }
        }
    }
    Ok(out)
}

/// The first line of `scored_leads.jsonl` whose lead is `key` (read again only to name it in an
/// error: no line numbers are kept while the file is read).
fn first_line_of(path: &std::path::Path, key: &str) -> Option<u64> {
    use std::io::BufRead;
    #[derive(serde::Deserialize)]
    struct Key {
        dedup_key: String,
    }
    let file = fsutil::open_state(path).ok()??;
    std::io::BufReader::new(file)
        .lines()
        .map_while(std::result::Result::ok)
        .position(|l| serde_json::from_str::<Key>(&l).is_ok_and(|k| k.dedup_key == key))
        .map(|at| at as u64 + 1)
}

fn eligible(lead: &Lead) -> bool {
    lead.route == Some(Route::Target)
        && lead
            .quality
            .as_deref()
            .is_some_and(|q| q.qualified == Some(true))
        && lead.contact_email().is_some()
}

pub(crate) fn note(state: &mut LeadState, at: DateTime<Utc>, event: &str, detail: String) {
    state.history.push(HistoryEntry {
        at,
        event: event.to_string(),
        detail,
    });
}

/// Records that `step` went out as `message_id` at `at`: the campaign moves on to the next step
/// after its delay. A lead that has meanwhile replied, bounced or opted out stays where it is:
/// the record only says the step went out. Sending a step again (after a soft bounce) keeps its
/// count of tries, so that soft bounces end at `max_attempts`.
pub fn record_sent(
    state: &mut LeadState,
    sequence: &Sequence,
    step: u32,
    message_id: String,
    at: DateTime<Utc>,
) {
    let again = state.message_ids.contains(&message_id);
    if !again {
        state.message_ids.push(message_id);
    }
    state.last_contacted = Some(at);
    note(state, at, "sent", format!("step {step}"));
    if state.status.is_terminal() {
        return;
    }
    state.status = Status::Contacted;
    state.step = step;
    if !again {
        state.attempt_count = 0;
    }
    let wait = sequence
        .steps
        .get(step as usize)
        .map_or(Duration::days(7), |s| s.delay);
    state.next_action_at = Some(at + wait);
}

/// What the steps of a run share: the config, the campaign's rules and this run's clock.
struct Run<'a> {
    config: &'a Config,
    sequence: &'a Sequence,
    rules: Rules<'a>,
    leads: &'a Leads,
    pages: &'a BTreeMap<String, String>,
    dry: bool,
    /// Other workers share the store (a database): each starts at another lead.
    shared: bool,
}

/// One `schedule` run: the inbox, the events, then what is due.
pub fn run(config: &Config, opts: &Options) -> Result<RunReport> {
    let o = &config.outreach;
    if !o.enabled {
        return Err(Error::Usage(
            "outreach is disabled in the config (outreach.enabled: false): nothing is sent".into(),
        ));
    }
    let dry = opts.dry_run;
    // A dry run works on copies: nothing in the state or on the bus changes.
    let mode = if dry {
        super::backend::Mode::Copy
    } else {
        super::backend::Mode::Work
    };
    let mut backend = super::backend::open(config, mode)?;
    let leads = scored_leads(config)?;
    let sequence = Sequence::load(&config.resolve(&config.paths.content), &o.sequence)?;
    let pages = landing_pages(config)?;
    let run = Run {
        config,
        sequence: &sequence,
        rules: Rules {
            sequence: &sequence,
            max_attempts: o.max_attempts,
            retry_minutes: o.retry_minutes,
            now: opts.now,
        },
        leads: &leads,
        pages: &pages,
        dry,
        shared: backend.db.is_some(),
    };
    let mut report = RunReport::default();
    run.events(&mut backend, &mut report)?;
    let store = &mut *backend.store;
    let bus = &*backend.bus;
    let mut templates = super::whatsapp::Templates::default();
    let plan = run.due(store, &mut templates, &mut report)?;
    run.send(store, plan.emails, &mut report)?;
    run.queue(store, bus, plan.texts, &mut report)?;
    let w = &o.whatsapp;
    if !dry && (!w.phone_number_id.is_empty() || !w.account_sid.is_empty()) {
        // Asked of the store right before each message (another worker's events may have
        // landed since): a reply, bounce or opt-out since it was queued stops it.
        let stopped = |store: &mut dyn StateStore, lead: &str| -> Result<Option<String>> {
            store.refresh(lead)?;
            if let Some(state) = store.get(lead).filter(|s| s.status.is_terminal()) {
                return Ok(Some(format!("the lead is {}", state.status.as_str())));
            }
            match leads.get(lead).and_then(|l| l.contact_email()) {
                Some(address) if store.suppressed_now(address)? => {
                    Ok(Some(format!("{address} is on the suppression list")))
                }
                _ => Ok(None),
            }
        };
        let wa = super::whatsapp::run(config, bus, store, &mut templates, &stopped)?;
        report.whatsapp_failed = wa.failed;
        report.whatsapp_halted = report.whatsapp_halted.take().or(wa.halted);
        report.in_doubt.extend(wa.in_doubt);
        report.whatsapp_cancelled = wa.cancelled;
    }
    // Leads whose intent was recorded by an earlier, crashed run.
    report.in_doubt.sort();
    let crm = &o.crm;
    if !dry && (crm.csv.is_some() || crm.webhook_url.is_some()) {
        report.crm = Some(super::crm::run(config, &leads, &pages, bus, store)?);
    }
    Ok(report)
}

impl Run<'_> {
    /// Events in: the inbox drained onto the bus (in a dry run, read where it lies), then
    /// every event not yet handled applied to the state and acked.
    fn events(&self, backend: &mut super::backend::Backend, report: &mut RunReport) -> Result<()> {
        let bus = &*backend.bus;
        let mut inbox_events = Vec::new();
        if self.dry {
            for (path, parsed) in backend.folder.read_inbox()? {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                match parsed {
                    Ok(m) if !bus.is_published(&m.id) => inbox_events.push(m),
                    Ok(_) => {}
                    Err(why) => report.inbox_rejected.push((name.into_owned(), why)),
                }
            }
        } else {
            report.inbox_rejected = backend.folder.drain_inbox_into(bus)?.rejected;
            report.quarantined = backend.folder.quarantine()?;
        }
        let deliveries = bus.poll(GROUP, usize::MAX)?;
        let events = deliveries
            .iter()
            .map(|d| (&d.message, Some(d)))
            .chain(inbox_events.iter().map(|m| (m, None)));
        let store = &mut *backend.store;
        for (message, delivery) in events {
            report.events += 1;
            match apply_event(store, self.leads, message, &self.rules) {
                Ok(Some(why)) => report.ignored.push((message.id.clone(), why)),
                Ok(None) => {}
                // Another worker changed the lead meanwhile: not acked, the event comes again
                // and is applied to what that worker wrote.
                Err(Error::Conflict(why)) => {
                    report.ignored.push((message.id.clone(), why));
                    continue;
                }
                Err(e) => return Err(e),
            }
            if let (false, Some(d)) = (self.dry, delivery) {
                bus.ack(GROUP, d)?;
            }
        }
        Ok(())
    }
}

/// Emails sent and WhatsApp/SMS messages queued on `day`: every channel counts for the caps.
fn sent_on(store: &dyn StateStore, day: chrono::NaiveDate) -> usize {
    store
        .states()
        .values()
        .flat_map(|s| s.history.iter())
        .filter(|h| matches!(h.event.as_str(), "sent" | "queued") && h.at.date_naive() == day)
        .count()
}

fn backoff(minutes: u32, attempt: u32) -> Duration {
    Duration::minutes(i64::from(minutes) << attempt.saturating_sub(1).min(10))
}

/// Each lead's landing page address, as the last build wrote it. A build that made no pages
/// leaves none (the address is then the site's base URL and the key); a list that cannot be read
/// is an error: an email never links a guessed page because the real list was unreadable.
fn landing_pages(config: &Config) -> Result<BTreeMap<String, String>> {
    let path = config.work_dir().join("build").join("landing_pages.json");
    let Some(bytes) = fsutil::read_state(&path)? else {
        return Ok(BTreeMap::new());
    };
    let pages: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::from(InputError::new(
                Location::at_line(&path, e.line() as u64),
                format!("not the build's list of landing pages ({e}); run `leadsite build` again"),
            ))
        })?;
    Ok(pages
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.get("url")?.as_str()?.to_string())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::events::apply_to;
    use super::*;
    use crate::outreach::bus::Message;
    use crate::outreach::bus::MessageBus;
    use crate::outreach::store::Intent;
    use crate::outreach::store::MemoryStore;
    use std::path::Path;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_000_000 + h * 3600, 0).unwrap()
    }

    fn event(topic: &str, id: &str, data: &[(&str, &str)]) -> Message {
        let mut m = Message::new(topic, "acme", at(1));
        m.id = id.to_string();
        for (k, v) in data {
            m.data.insert((*k).into(), (*v).into());
        }
        m
    }

    /// The built-in sequence.
    fn fixtures() -> Sequence {
        Sequence::load(Path::new("/nonexistent"), "intro").unwrap()
    }

    /// Three tries, a one-hour first back-off.
    fn rules(sequence: &Sequence, now: DateTime<Utc>) -> Rules<'_> {
        Rules {
            sequence,
            max_attempts: 3,
            retry_minutes: 60,
            now,
        }
    }

    fn apply(store: &mut MemoryStore, m: &Message, now: DateTime<Utc>) -> Option<String> {
        let sequence = fixtures();
        let rules = rules(&sequence, now);
        apply_to(store, Some("owner@acme.example".into()), m, &rules).unwrap()
    }

    fn sent(store: &mut MemoryStore, step: u32, when: DateTime<Utc>) {
        let sequence = Sequence::load(Path::new("/nonexistent"), "intro").unwrap();
        let mut s = store.get("acme").cloned().unwrap_or_default();
        record_sent(
            &mut s,
            &sequence,
            step,
            format!("<acme.intro.{step}@a.example>"),
            when,
        );
        store.commit("acme", s).unwrap();
    }

    /// The run's steps on the in-memory backends: what is due is planned (an opted-out address
    /// settled, the run cap kept), sent once through the file transport and recorded; a second
    /// pass finds nothing due.
    #[test]
    fn due_send_and_queue_on_the_memory_backends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leadsite.yaml");
        std::fs::write(
            &path,
            "outreach:\n  enabled: true\n  sender_name: Sam\n  sender_email: sam@agency.example\n  postal_address: 1 Way\n  run_cap: 2\n  window: {start_hour: 0, end_hour: 24, days: [mon, tue, wed, thu, fri, sat, sun]}\n  transport: {kind: file, dir: outbox}\n",
        )
        .unwrap();
        let config = Config::load(&path, true).unwrap();
        let leads: Leads = ["acme", "bolt", "cafe", "dent"]
            .iter()
            .map(|k| {
                let yaml = format!("dedup_key: {k}\nname: {k} Garage\nemail: owner@{k}.example\nroute: TARGET\nquality: {{score: 0.9, qualified: true}}\n");
                (k.to_string(), serde_yaml_ng::from_str(&yaml).unwrap())
            })
            .collect();
        let sequence = fixtures();
        let pages = BTreeMap::new();
        let run = Run {
            config: &config,
            sequence: &sequence,
            rules: rules(&sequence, at(10)),
            leads: &leads,
            pages: &pages,
            dry: false,
            shared: false,
        };
        let mut store = MemoryStore::default();
        store
            .suppress("owner@bolt.example", "lead.unsubscribed")
            .unwrap();
        let bus = crate::outreach::bus::MemoryBus::default();
        let mut templates = crate::outreach::whatsapp::Templates::default();
        let mut report = RunReport::default();
        let plan = run.due(&mut store, &mut templates, &mut report).unwrap();
        let due: Vec<&str> = plan.emails.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            due,
            ["acme", "cafe"],
            "bolt opted out; dent past the run cap"
        );
        assert!(report.capped);
        assert_eq!(store.get("bolt").unwrap().status, Status::Unsubscribed);
        run.send(&mut store, plan.emails, &mut report).unwrap();
        run.queue(&mut store, &bus, plan.texts, &mut report)
            .unwrap();
        assert_eq!(report.sent, 2);
        for k in ["acme", "cafe"] {
            let s = store.get(k).unwrap();
            assert_eq!((s.status, s.step), (Status::Contacted, 1), "{k}");
            assert!(s.in_flight.is_none(), "{k}: the outcome is recorded");
            assert_eq!(s.message_ids, [format!("<{k}.intro.1@agency.example>")]);
        }
        let written = std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .count();
        assert_eq!(written, 2);
        // Emails only: nothing queued for the WhatsApp agent.
        assert!(bus.poll("whatsapp", 10).unwrap().is_empty());
        // Nothing is due again at once but dent, whose turn the cap put off.
        let again = run
            .due(&mut store, &mut templates, &mut RunReport::default())
            .unwrap();
        let due: Vec<&str> = again.emails.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(due, ["dent"]);
        // The window is checked again at the claim: planned while it was open, not sent once
        // it has closed (a long run).
        let mut closed = config.clone();
        closed.outreach.window.start_hour = 0;
        closed.outreach.window.end_hour = 1;
        let late = Run {
            config: &closed,
            ..run
        };
        let mut report = RunReport::default();
        late.send(&mut store, again.emails, &mut report).unwrap();
        assert_eq!((report.sent, report.waiting_for_window), (0, 1));
        assert_eq!(store.get("dent").map(|s| s.step), None, "nothing claimed");
    }

    #[test]
    fn soft_bounces_of_one_step_end_at_max_attempts() {
        let mut store = MemoryStore::default();
        sent(&mut store, 1, at(0));
        for n in 1..=3 {
            let id = format!("soft-{n}");
            assert_eq!(
                apply(
                    &mut store,
                    &event("lead.bounced", &id, &[("kind", "soft")]),
                    at(n)
                ),
                None
            );
            let s = store.get("acme").unwrap();
            if n < 3 {
                assert_eq!(
                    (s.status, s.step, s.attempt_count),
                    (Status::Contacted, 0, n as u32)
                );
                sent(&mut store, 1, at(n) + Duration::hours(2)); // the step again
            } else {
                assert_eq!(s.status, Status::Bounced, "the third soft bounce ends it");
                assert_eq!(s.next_action_at, None, "and leaves no next action");
            }
        }
    }

    #[test]
    fn a_soft_bounce_of_an_earlier_step_resends_nothing() {
        let mut store = MemoryStore::default();
        sent(&mut store, 1, at(0));
        sent(&mut store, 2, at(72));
        let late = event(
            "lead.bounced",
            "s1",
            &[("kind", "soft"), ("message_id", "<acme.intro.1@a.example>")],
        );
        assert!(
            apply(&mut store, &late, at(75)).is_some_and(|why| why.contains("has gone out since"))
        );
        let s = store.get("acme").unwrap();
        assert_eq!((s.step, s.attempt_count), (2, 0));
    }

    #[test]
    fn an_opt_out_for_a_lead_not_built_yet_holds_when_it_appears() {
        let mut store = MemoryStore::default();
        let sequence = fixtures();
        let rules = rules(&sequence, at(1));
        let leads = BTreeMap::new();
        let opt_out = event("lead.unsubscribed", "u1", &[]);
        let reply = Message::new("lead.responded", "zeta", at(1));
        assert_eq!(
            apply_event(&mut store, &leads, &opt_out, &rules).unwrap(),
            None
        );
        assert_eq!(store.get("acme").unwrap().status, Status::Unsubscribed);
        let why = apply_event(&mut store, &leads, &reply, &rules).unwrap();
        assert!(why.is_some_and(|w| w.contains("unknown lead")));
    }

    #[test]
    fn an_event_naming_a_step_in_doubt_settles_it_without_reviving_a_finished_lead() {
        let mut store = MemoryStore::default();
        let mut s = LeadState {
            in_flight: Some(Intent {
                step: 2,
                message_id: "<acme.intro.2@a.example>".into(),
                at: at(0),
                run: String::new(),
            }),
            ..LeadState::default()
        };
        s.status = Status::Responded;
        store.commit("acme", s).unwrap();
        apply(
            &mut store,
            &event(
                "lead.bounced",
                "b1",
                &[("kind", "soft"), ("message_id", "<acme.intro.2@a.example>")],
            ),
            at(1),
        );
        let s = store.get("acme").unwrap();
        assert_eq!(s.in_flight, None, "settled: the step went out");
        assert!(s
            .message_ids
            .contains(&"<acme.intro.2@a.example>".to_string()));
        assert_eq!(
            s.status,
            Status::Responded,
            "a lead that answered stays answered"
        );
        assert_eq!(s.next_action_at, None);
    }

    /// The build's list of pages is what emails link: missing (no page yet) it is empty, and
    /// unreadable it stops the run, never sending a guessed address.
    #[test]
    fn an_unreadable_list_of_landing_pages_stops_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leadsite.yaml");
        std::fs::write(&path, "site: {base_url: 'https://x.example/'}\n").unwrap();
        let config = Config::load(&path, true).unwrap();
        assert!(landing_pages(&config).unwrap().is_empty());
        let list = config.work_dir().join("build").join("landing_pages.json");
        std::fs::create_dir_all(list.parent().unwrap()).unwrap();
        std::fs::write(&list, r#"{"acme": {"url": "https://x.example/en/acme/"}}"#).unwrap();
        assert_eq!(
            landing_pages(&config).unwrap()["acme"],
            "https://x.example/en/acme/"
        );
        std::fs::write(&list, r#"{"acme": {"url": "ht"#).unwrap();
        let err = landing_pages(&config).unwrap_err().to_string();
        assert!(
            err.contains("landing_pages.json") && err.contains("build"),
            "{err}"
        );
    }

    #[test]
    fn scored_leads_are_read_a_line_at_a_time_and_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leadsite.yaml");
        std::fs::write(&path, "site: {base_url: 'https://x.example/'}\n").unwrap();
        let config = Config::load(&path, true).unwrap();
        let err = scored_leads(&config).unwrap_err().to_string();
        assert!(err.contains("run `leadsite build` first"), "{err}");
        let file = config.work_dir().join("build").join("scored_leads.jsonl");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let good = |k: &str| format!("{{\"dedup_key\":\"{k}\",\"name\":\"{k}\"}}\n");
        std::fs::write(&file, format!("{}\n{}", good("a"), good("b"))).unwrap();
        let leads = scored_leads(&config).unwrap();
        assert_eq!(leads.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(leads["b"].name, "b");
        std::fs::write(&file, format!("{}\n{{\"dedup_key\": 7}}\n", good("a"))).unwrap();
        let err = scored_leads(&config).unwrap_err().to_string();
        assert!(
            err.contains("scored_leads.jsonl:3") && err.contains("not a lead"),
            "{err}"
        );
        let mut latin1 = good("a").into_bytes();
        latin1.extend(b"{\"dedup_key\":\"caf\xe9\"}\n");
        std::fs::write(&file, latin1).unwrap();
        let err = scored_leads(&config).unwrap_err().to_string();
        assert!(
            err.contains("scored_leads.jsonl:2") && err.contains("not UTF-8"),
            "{err}"
        );
        std::fs::write(&file, format!("{}{}{}", good("a"), good("b"), good("a"))).unwrap();
        let err = scored_leads(&config).unwrap_err().to_string();
        assert!(
            err.contains("scored_leads.jsonl:3") && err.contains("first on line 1"),
            "{err}"
        );
        let long = format!(
            "{}{{\"dedup_key\":\"x\",\"name\":\"{}\"}}\n",
            good("a"),
            "n".repeat(MAX_SCORED_LINE as usize)
        );
        std::fs::write(&file, long).unwrap();
        let err = scored_leads(&config).unwrap_err().to_string();
        assert!(
            err.contains("scored_leads.jsonl:2") && err.contains("MiB"),
            "{err}"
        );
    }
}
