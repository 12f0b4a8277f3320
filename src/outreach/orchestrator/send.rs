//! Sending what a run planned: each email claimed (one worker wins it, within the day's cap),
//! sent and its outcome recorded; each WhatsApp/SMS step claimed and queued for the
//! WhatsAppAgent.

use std::path::Path;

use chrono::Duration;

use super::plan::{Email, Text};
use super::{backoff, note, record_sent, sent_on, Run, RunReport};
use crate::error::{Error, Result};
use crate::outreach::bus::{Message, MessageBus};
use crate::outreach::email::{self, EmailAgent};
use crate::outreach::store::{settle, Claim, Intent, LeadState, StateStore, Status};
use crate::outreach::{window, Attempt};

impl Run<'_> {
    /// Send and record: for each email, the intent claimed (exactly one worker wins it, within
    /// the day's cap), the message sent, the outcome recorded.
    pub(super) fn send(
        &self,
        store: &mut dyn StateStore,
        emails: Vec<Email>,
        report: &mut RunReport,
    ) -> Result<()> {
        if emails.is_empty() {
            return Ok(());
        }
        let o = &self.config.outreach;
        let now = self.rules.now;
        let sequence = self.sequence;
        let outbox = self.config.work_dir().join("outbox");
        let agent = EmailAgent::new(
            o,
            &self.config.resolve(Path::new(".")),
            self.dry.then_some(outbox.as_path()),
        )?;
        let today = now.date_naive();
        let sent_today = sent_on(store, today);
        let started = std::time::Instant::now();
        for e in emails {
            // A long run may reach the end of the send window: what is left waits for it to
            // open again (the run's clock moved on as much as the real one).
            let at = now + Duration::from_std(started.elapsed()).unwrap_or_default();
            if window::next_open(at, e.tz, &o.window).is_some() {
                report.waiting_for_window += 1;
                continue;
            }
            let message = agent.build(&email::Outgoing {
                to: &e.address,
                to_name: &e.name,
                lead: &e.key,
                sequence: &sequence.name,
                step: e.step,
                rendered: &e.rendered,
                unsubscribe: &e.unsubscribe,
                one_click: e.one_click.as_deref(),
            })?;
            let (key, step) = (e.key, e.step);
            let id = email::message_id(&key, &sequence.name, step, agent.domain());
            let mut state = store.get(&key).cloned().unwrap_or_default();
            if store.suppressed_now(&e.address)? {
                // Put on the list since the plan was made (by an event, or another worker).
                continue;
            }
            // The intent first, durable: a crash from here on leaves this step in doubt, not
            // resent.
            state.in_flight = Some(Intent {
                step,
                message_id: id.clone(),
                at: now,
                run: store.run().to_string(),
            });
            match store.claim(&key, state.clone(), today, sent_today, o.daily_cap)? {
                Claim::Won => {}
                Claim::Lost => continue,
                Claim::Capped => {
                    report.capped = true;
                    break;
                }
            }
            // Right before the message goes: this worker must still hold its lease (a worker
            // paused past it, by a suspended machine or a lost connection, may have had its step
            // settled by `resolve` meanwhile). Lost: nothing is sent, and the intent is taken
            // back if nobody touched the lead since.
            if !store.holds_lease()? {
                state.in_flight = None;
                if store.commit(&key, state).is_err() {
                    report.in_doubt.push(key.clone());
                }
                return Err(Error::Conflict(
                    "this worker lost its lease (paused or cut off from the database longer than LEADSITE_LEASE_SECONDS): it stops, sending nothing more".into(),
                ));
            }
            let outcome = agent.send(&message);
            let mut suppress = false;
            settle(store, &key, |state| {
                suppress = self.record_outcome(state, &outcome, step, &id);
            })?;
            match outcome {
                Attempt::InDoubt(_) => report.in_doubt.push(key.clone()),
                Attempt::Sent => {
                    report
                        .planned
                        .push(format!("{key}: step {step} (email) to {}", e.address));
                    report.sent += 1;
                }
                Attempt::Retry { .. } | Attempt::Halt(_) => report.failed += 1,
                Attempt::Permanent(_) | Attempt::OptedOut(_) => report.bounced += 1,
            }
            if suppress {
                store.suppress(&e.address, "hard bounce")?;
            }
        }
        Ok(())
    }

    /// WhatsApp/SMS steps: claimed as emails are (one worker, within the cap), then queued for
    /// the WhatsAppAgent (one event id a step: queued once), and the campaign moves on.
    pub(super) fn queue(
        &self,
        store: &mut dyn StateStore,
        bus: &dyn MessageBus,
        texts: Vec<Text>,
        report: &mut RunReport,
    ) -> Result<()> {
        let now = self.rules.now;
        let sequence = self.sequence;
        let today = now.date_naive();
        let sent_today = sent_on(store, today);
        for t in texts {
            let (key, step) = (t.key.clone(), t.step);
            let mut state = store.get(&key).cloned().unwrap_or_default();
            let message = match (&t.to, &t.empty) {
                (Some(to), None) => {
                    let mut m = Message::new("outreach.whatsapp.send", &key, now);
                    m.id = format!("wa.{key}.{}.{step}", sequence.name);
                    m.data.insert("to".into(), to.clone().into());
                    m.data.insert("step".into(), step.to_string().into());
                    m.data.insert("template".into(), t.template.into());
                    m.data.insert("text".into(), t.text.into());
                    let params = serde_json::to_value(&t.params).expect("parameters serialize");
                    m.data.insert("params".into(), params);
                    note(&mut state, now, "queued", format!("whatsapp step {step}"));
                    Some((m, to.clone()))
                }
                (None, _) => {
                    note(
                        &mut state,
                        now,
                        "skipped",
                        format!("whatsapp step {step}: no phone that reads as a number"),
                    );
                    None
                }
                (Some(_), Some(which)) => {
                    note(
                        &mut state,
                        now,
                        "skipped",
                        format!("whatsapp step {step}: template parameter {which} is empty"),
                    );
                    None
                }
            };
            state.status = Status::Contacted;
            state.step = step;
            state.last_contacted = Some(now);
            let wait = sequence
                .steps
                .get(step as usize)
                .map_or(Duration::days(7), |s| s.delay);
            state.next_action_at = Some(now + wait);
            // Claimed before it is queued: a crash in between leaves the step recorded and its
            // text unsent (never two texts).
            match store.claim(
                &key,
                state,
                today,
                sent_today,
                self.config.outreach.daily_cap,
            )? {
                Claim::Won => {}
                Claim::Lost => continue,
                Claim::Capped => {
                    report.capped = true;
                    break;
                }
            }
            if let Some((m, to)) = message {
                report
                    .planned
                    .push(format!("{key}: step {step} (whatsapp) to {to}"));
                if !self.dry {
                    bus.publish(m)?;
                }
                report.sent += 1;
            }
        }
        Ok(())
    }

    /// What a send attempt did to the lead's state; `true` when its address is to be put on
    /// the suppression list (a permanent failure or an opt-out).
    fn record_outcome(
        &self,
        state: &mut LeadState,
        outcome: &Attempt,
        step: u32,
        id: &str,
    ) -> bool {
        let o = &self.config.outreach;
        let now = self.rules.now;
        let intent = state.in_flight.take();
        match outcome {
            Attempt::InDoubt(why) => {
                // The server may have taken it: the intent stays, `status` shows the step and
                // `resolve` settles it. Never sent again by guess.
                state.in_flight = intent;
                note(state, now, "in_doubt", format!("step {step}: {why}"));
            }
            Attempt::Sent => record_sent(state, self.sequence, step, id.to_string(), now),
            Attempt::Retry { why, .. } | Attempt::Halt(why) => {
                state.attempt_count += 1;
                note(state, now, "send_failed", format!("step {step}: {why}"));
                if state.attempt_count >= o.max_attempts {
                    state.status = Status::Bounced;
                    state.next_action_at = None;
                    let detail = format!("{} failed tries", state.attempt_count);
                    note(state, now, "gave_up", detail);
                } else {
                    state.next_action_at =
                        Some(now + backoff(o.retry_minutes, state.attempt_count));
                }
            }
            Attempt::Permanent(why) | Attempt::OptedOut(why) => {
                state.status = Status::Bounced;
                state.next_action_at = None;
                note(state, now, "bounced", format!("step {step}: {why}"));
                return true;
            }
        }
        false
    }
}
