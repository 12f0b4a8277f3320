//! The contract every MessageBus and StateStore backend keeps: files, memory and PostgreSQL
//! run the same suites (unit tests here for the first two; `tests/testsuite/backends.rs` for
//! the database, which needs a server). Test support: every function panics on a broken
//! promise.
#![allow(clippy::missing_panics_doc)]

use chrono::{NaiveDate, Utc};

use super::bus::{Message, MessageBus};
use super::records::{Record, Stage, CRM, WHATSAPP};
use super::store::{Claim, Intent, LeadState, StateStore, Status};
use crate::error::Error;

/// What every MessageBus must do: publish / poll / ack, redelivery of what is not acked,
/// one message per id, consumer groups, refusals.
pub fn bus(bus: &dyn MessageBus) {
    let now = Utc::now();
    // publish / poll / ack, oldest first, at most `max`.
    let a = bus
        .publish(Message::new("lead.responded", "acme", now))
        .unwrap();
    let b = bus
        .publish(Message::new("lead.bounced", "bolt", now))
        .unwrap();
    assert!(!a.id.is_empty() && a.id != b.id);
    assert!(bus.is_published(&a.id) && !bus.is_published("never-sent"));
    let got = bus.poll("orchestrator", 10).unwrap();
    let ids: Vec<&String> = got.iter().map(|d| &d.message.id).collect();
    assert_eq!(ids, [&a.id, &b.id]);
    assert_eq!(bus.poll("orchestrator", 1).unwrap().len(), 1);
    bus.ack("orchestrator", &got[0]).unwrap();
    // Unacked messages come again; another group has its own cursor.
    let again = bus.poll("orchestrator", 10).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message.id, b.id);
    assert_eq!(bus.poll("crm", 10).unwrap().len(), 2);
    // Acking twice is acking once.
    bus.ack("orchestrator", &again[0]).unwrap();
    bus.ack("orchestrator", &again[0]).unwrap();
    assert!(bus.poll("orchestrator", 10).unwrap().is_empty());
    // Publishing an id again changes nothing, whatever it says.
    let mut same = a.clone();
    same.topic = "lead.unsubscribed".into();
    bus.publish(same).unwrap();
    assert_eq!(bus.poll("crm", 10).unwrap().len(), 2);
    // A message that names no lead, an unknown topic or an id that names no file is
    // refused; so is a group name that is not a key.
    let mut dots = Message::new("lead.responded", "acme", now);
    dots.id = "..".into();
    assert!(bus.publish(dots).is_err());
    assert!(bus
        .publish(Message::new("lead.teleported", "acme", now))
        .is_err());
    assert!(bus
        .publish(Message::new("lead.responded", "../x", now))
        .is_err());
    assert!(bus.poll("../etc", 10).is_err());
    // A message too large to read back is refused when published, not lost later.
    let mut huge = Message::new("lead.responded", "acme", now);
    huge.data
        .insert("x".into(), "x".repeat(2 * 1024 * 1024).into());
    assert!(bus.publish(huge).is_err());
    // Published data comes back as it was.
    let mut m = Message::new("lead.bounced", "cafe", now);
    m.data.insert("kind".into(), "hard".into());
    let c = bus.publish(m).unwrap();
    let got = bus.poll("crm", 10).unwrap();
    let back = got.iter().find(|d| d.message.id == c.id).unwrap();
    assert_eq!(back.message.data["kind"], "hard");
    assert_eq!(back.message.at, c.at);
}

fn contacted(step: u32) -> LeadState {
    LeadState {
        status: Status::Contacted,
        step,
        ..LeadState::default()
    }
}

fn day() -> NaiveDate {
    Utc::now().date_naive()
}

/// What every StateStore must do. `open` opens the same store again (after the previous one
/// was dropped): what was committed is there, suppression included.
pub fn store(open: &mut dyn FnMut() -> Box<dyn StateStore>) {
    {
        let mut s = open();
        assert!(s.get("acme").is_none());
        s.commit("acme", contacted(1)).unwrap();
        s.commit("bolt", contacted(1)).unwrap();
        s.commit("acme", contacted(2)).unwrap();
        assert_eq!(s.get("acme").unwrap().step, 2);
        s.suppress("Owner@Acme.example", "lead.unsubscribed")
            .unwrap();
        s.suppress("owner@acme.example", "again").unwrap();
        assert!(s.is_suppressed("OWNER@acme.EXAMPLE"));
        assert!(!s.is_suppressed("other@acme.example"));
        // Its own run is live; a run that never was is not.
        let run = s.run().to_string();
        assert!(s.is_live(&run));
        assert!(!s.is_live("no-such-run"));
        // A claim by the only worker is won.
        let mut st = contacted(2);
        st.in_flight = Some(Intent {
            step: 3,
            message_id: "<acme.intro.3@x.example>".into(),
            at: Utc::now(),
            run: run.clone(),
        });
        assert_eq!(s.claim("acme", st, day(), 0, 100).unwrap(), Claim::Won);
        // A text's record: claimed (intent), then its outcome; a CRM hand-off's retry.
        let intent = text("wa.acme.intro.2", "intent", &run);
        assert!(s
            .claim_record(WHATSAPP, intent, &Record::default())
            .unwrap());
        s.put_record(
            WHATSAPP,
            Record {
                provider_id: "wamid.1".into(),
                ..text("wa.acme.intro.2", "sent", "")
            },
        )
        .unwrap();
        s.put_record(WHATSAPP, text("wa.bolt.intro.2", "intent", &run))
            .unwrap();
        s.put_record(
            CRM,
            Record {
                tries: 2,
                ..text("crm-1", "retry", "")
            },
        )
        .unwrap();
    }
    let s = open();
    assert_eq!(s.get("acme").unwrap().step, 2);
    assert_eq!(s.get("acme").unwrap().in_flight.as_ref().unwrap().step, 3);
    assert_eq!(s.get("bolt").unwrap().step, 1);
    assert_eq!(s.states().len(), 2);
    assert!(s.is_suppressed("owner@acme.example"));
    assert_eq!(
        s.suppressed().unwrap(),
        vec![(
            "owner@acme.example".to_string(),
            "lead.unsubscribed".to_string()
        )]
    );
    // The intent of a run that is over is no longer live: in doubt.
    let old = s.get("acme").unwrap().in_flight.clone().unwrap().run;
    assert!(!s.is_live(&old));
    // Records: the last word of each, by channel; a text begun by a run that is over is in
    // doubt; its number and provider id name its lead.
    let r = s.records();
    let sent = r.get(WHATSAPP, "wa.acme.intro.2").unwrap();
    assert_eq!(
        (sent.stage(), sent.provider_id.as_str()),
        (Stage::Done, "wamid.1")
    );
    assert_eq!(r.by_provider_id("wamid.1").unwrap().lead, "acme");
    assert_eq!(r.leads_texted_at("+15550100"), vec!["acme", "bolt"]);
    let live = |run: &str| s.is_live(run);
    let doubt: Vec<&str> = r.in_doubt(WHATSAPP, &live).map(|e| e.id.as_str()).collect();
    assert_eq!(doubt, ["wa.bolt.intro.2"]);
    assert_eq!(r.get(CRM, "crm-1").unwrap().tries, 2);
    assert!(r.get(CRM, "wa.acme.intro.2").is_none());
}

fn text(id: &str, state: &str, run: &str) -> Record {
    Record {
        id: id.into(),
        state: state.into(),
        lead: id.split('.').nth(1).unwrap_or(id).into(),
        to: "+15550100".into(),
        run: run.into(),
        ..Record::default()
    }
}

/// What a store shared by several workers must do besides (PostgreSQL): `open` gives another
/// worker on the same store.
pub fn shared(open: &mut dyn FnMut() -> Box<dyn StateStore>) {
    let mut a = open();
    let mut b = open();
    a.commit("cafe", contacted(1)).unwrap();
    b.refresh("cafe").unwrap();
    assert_eq!(b.get("cafe").unwrap().step, 1);
    // Compare-and-set: B read step 1; A moves on; B's commit over its stale read is refused,
    // writes nothing, and B then sees A's state.
    a.commit("cafe", contacted(2)).unwrap();
    let err = b.commit("cafe", contacted(9)).unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err}");
    assert_eq!(b.get("cafe").unwrap().step, 2);
    b.commit("cafe", contacted(3)).unwrap();
    a.refresh("cafe").unwrap();
    assert_eq!(a.get("cafe").unwrap().step, 3);
    // Two workers claim the same step of a new lead: exactly one wins.
    let claim = |s: &mut Box<dyn StateStore>| {
        let mut st = contacted(0);
        st.in_flight = Some(Intent {
            step: 1,
            message_id: "<dune.intro.1@x.example>".into(),
            at: Utc::now(),
            run: s.run().to_string(),
        });
        s.claim("dune", st, day(), 0, 1_000).unwrap()
    };
    let (first, second) = (claim(&mut a), claim(&mut b));
    assert_eq!((first, second), (Claim::Won, Claim::Lost));
    // The loser sees the winner's intent, and the winner's run as live.
    let intent = b.get("dune").unwrap().in_flight.clone().unwrap();
    assert_eq!(intent.run, a.run());
    assert!(b.is_live(a.run()));
    // The day's cap holds across workers: with room for 3 more, 3 claims of 5 are won.
    let cap_day = NaiveDate::from_ymd_opt(2001, 2, 3).unwrap();
    let mut won = 0;
    for i in 0..5 {
        let s = if i % 2 == 0 { &mut a } else { &mut b };
        let lead = format!("cap{i}");
        if s.claim(&lead, contacted(1), cap_day, 2, 5).unwrap() == Claim::Won {
            won += 1;
        }
    }
    assert_eq!(won, 3);
    // Two workers claim the same text from what each read: exactly one wins, and the loser
    // then sees the winner's record.
    let before = Record::default();
    let (ra, rb) = (a.run().to_string(), b.run().to_string());
    let first = a
        .claim_record(WHATSAPP, text("wa.dune.intro.2", "intent", &ra), &before)
        .unwrap();
    let second = b
        .claim_record(WHATSAPP, text("wa.dune.intro.2", "intent", &rb), &before)
        .unwrap();
    assert_eq!((first, second), (true, false));
    assert_eq!(
        b.records().get(WHATSAPP, "wa.dune.intro.2").unwrap().run,
        ra
    );
    // A retry read by both: again one claim only.
    let retry = text("wa.eden.intro.2", "retry", "");
    a.put_record(WHATSAPP, retry.clone()).unwrap();
    let first = a
        .claim_record(WHATSAPP, text("wa.eden.intro.2", "intent", &ra), &retry)
        .unwrap();
    let second = b
        .claim_record(WHATSAPP, text("wa.eden.intro.2", "intent", &rb), &retry)
        .unwrap();
    assert_eq!((first, second), (true, false));
    // A worker that ends (or dies and its lease runs out) no longer holds its claims.
    let run_a = a.run().to_string();
    drop(a);
    let c = open();
    assert!(!c.is_live(&run_a));
}
