//! OutreachOrchestratorAgent: reads events from the bus, moves each lead through its campaign
//! (new → contacted(step n) → … → responded | bounced | unsubscribed | no_response) in the
//! StateStore, and sends what is due with the EmailAgent.
//!
//! Exactly once: before a message goes to the SMTP server the store records the intent
//! (`in_flight`), after it the outcome. A crash between the two leaves the step *in doubt*: it is
//! reported by `leadsite status` and never sent again by itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::bus::{Message, MessageBus};
use super::email::{self, EmailAgent};
use super::sequence::Sequence;
use super::store::{settle, Claim, HistoryEntry, Intent, LeadState, StateStore, Status};
use super::window;
use super::Attempt;
use crate::config::Config;
use crate::error::{Error, InputError, Location, Result};
use crate::fsutil;
use crate::lead::{Lead, Route};

/// A WhatsApp/SMS step rendered for one lead, queued for the WhatsAppAgent after the emails.
struct Text {
    key: String,
    to: Option<String>,
    step: u32,
    template: String,
    /// The SMS text (Twilio).
    text: String,
    /// The template's parameters (WhatsApp Cloud API).
    params: Vec<super::sequence::Param>,
    /// The parameter that came out empty: the step is not sent.
    empty: Option<String>,
}

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

/// The scored leads of the last build, by dedup_key.
pub fn scored_leads(config: &Config) -> Result<BTreeMap<String, Lead>> {
    let path = config.work_dir().join("build").join("scored_leads.jsonl");
    let Some(bytes) = fsutil::read_state(&path)? else {
        return Err(Error::Usage(format!(
            "{}: not there; run `leadsite build` first",
            path.display()
        )));
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::from(InputError::new(
            Location::file(&path),
            format!("not UTF-8 text: {e}"),
        ))
    })?;
    let mut out = BTreeMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let lead: Lead = serde_json::from_str(line).map_err(|e| {
            Error::from(InputError::new(
                Location::at_line(&path, i as u64 + 1),
                format!("not a lead: {e}"),
            ))
        })?;
        out.insert(lead.dedup_key.clone(), lead);
    }
    Ok(out)
}

fn eligible(lead: &Lead) -> bool {
    lead.route == Some(Route::Target)
        && lead
            .quality
            .as_deref()
            .is_some_and(|q| q.qualified == Some(true))
        && lead.contact_email().is_some()
}

/// Which terminal outcome wins when events disagree.
fn rank(s: Status) -> u8 {
    match s {
        Status::Unsubscribed => 4,
        Status::Bounced => 3,
        Status::Responded => 2,
        Status::NoResponse | Status::CrmSynced => 1,
        Status::New | Status::Contacted => 0,
    }
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

/// An email step due for one lead, rendered: what the send step needs.
struct Email {
    key: String,
    address: String,
    name: String,
    step: u32,
    rendered: super::sequence::Rendered,
    unsubscribe: String,
    one_click: Option<String>,
    /// The lead's time zone: the send window is checked again right before the claim.
    tz: chrono_tz::Tz,
}

/// What one run found due: emails to send, texts to queue.
#[derive(Default)]
struct Plan {
    emails: Vec<Email>,
    texts: Vec<Text>,
}

/// What the steps of a run share: the config, the campaign's rules and this run's clock.
struct Run<'a> {
    config: &'a Config,
    sequence: &'a Sequence,
    rules: Rules<'a>,
    leads: &'a BTreeMap<String, Lead>,
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

    /// Due steps out: every lead whose next step is due, inside its send window and under the
    /// caps, rendered. A template error stops the run here, before anything is sent.
    fn due(
        &self,
        store: &mut dyn StateStore,
        templates: &mut super::whatsapp::Templates,
        report: &mut RunReport,
    ) -> Result<Plan> {
        let o = &self.config.outreach;
        let now = self.rules.now;
        let sequence = self.sequence;
        let today = now.date_naive();
        let sent_today = sent_on(store, today);
        // With `listen` public, List-Unsubscribe points to it with a signed token.
        let listen_secret = match &o.listen.public_url {
            Some(_) => Some(super::listen::secret()?),
            None => None,
        };
        let api = crate::web::api_client();
        let mut plan = Plan::default();
        let mut order: Vec<(&String, &Lead)> =
            self.leads.iter().filter(|(_, l)| eligible(l)).collect();
        if self.shared && !order.is_empty() {
            // Workers sharing a database each start at another lead (from their run id), so
            // that together they get through more than one worker's run cap instead of all
            // claiming the same first leads.
            let at = crate::fsutil::fingerprint(store.run().as_bytes())
                .bytes()
                .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
            let n = order.len();
            order.rotate_left(at % n);
        }
        for (key, lead) in order {
            let mut state = store.get(key).cloned().unwrap_or_default();
            if let Some(intent) = &state.in_flight {
                // Another worker's claim, still under its lease, is being sent; any other
                // intent is in doubt.
                if !store.held_elsewhere(&intent.run) {
                    report.in_doubt.push(key.clone());
                }
                continue;
            }
            if state.status.is_terminal() {
                continue;
            }
            let address = lead.contact_email().unwrap_or_default().to_string();
            // A commit another worker got to first leaves this lead to that worker.
            let settle =
                |store: &mut dyn StateStore, state: LeadState| match store.commit(key, state) {
                    Err(Error::Conflict(_)) => Ok(()),
                    other => other,
                };
            if store.is_suppressed(&address) {
                state.status = Status::Unsubscribed;
                note(&mut state, now, "suppressed", address);
                settle(store, state)?;
                continue;
            }
            let due = match (state.status, state.next_action_at) {
                (Status::New, None) => true,
                (_, Some(at)) => at <= now,
                _ => false,
            };
            if !due {
                continue;
            }
            if state.step as usize >= sequence.steps.len() {
                state.status = Status::NoResponse;
                let detail = format!("after step {}", state.step);
                note(&mut state, now, "no_response", detail);
                settle(store, state)?;
                report.completed += 1;
                continue;
            }
            let tz = window::zone(lead.timezone.as_deref(), &o.window);
            if let Some(open) = window::next_open(now, tz, &o.window) {
                if state.next_action_at != Some(open) {
                    state.next_action_at = Some(open);
                    settle(store, state)?;
                }
                report.waiting_for_window += 1;
                continue;
            }
            let planned = plan.emails.len() + plan.texts.len();
            if planned >= o.run_cap || sent_today + planned >= o.daily_cap {
                report.capped = true;
                break;
            }
            let step = state.step + 1;
            let unsubscribe = o
                .unsubscribe_url
                .clone()
                .map(|u| u.replace("{lead}", key))
                .unwrap_or_else(|| {
                    format!("mailto:{}?subject=unsubscribe%20{key}", o.sender_email)
                });
            let one_click = match (&o.listen.public_url, &listen_secret) {
                (Some(public), Some(secret)) => Some(format!(
                    "{}/u/{}",
                    public.trim_end_matches('/'),
                    super::listen::token(secret, key, &sequence.name)
                )),
                _ => o.one_click_url.as_ref().map(|u| u.replace("{lead}", key)),
            };
            let mut ctx = tera::Context::new();
            ctx.insert(
                "business",
                &serde_json::json!({
                    "name": lead.name.trim(), "city": lead.city(), "category": lead.category,
                }),
            );
            ctx.insert("lead", lead);
            let landing = self
                .pages
                .get(key)
                .cloned()
                .unwrap_or_else(|| format!("{}{key}/", self.config.base_url()));
            ctx.insert("landing_url", &landing);
            ctx.insert("sender", &serde_json::json!({"name": o.sender_name, "email": o.sender_email, "postal_address": o.postal_address}));
            ctx.insert("unsubscribe_url", &unsubscribe);
            let spec = &sequence.steps[step as usize - 1];
            if spec.channel == "whatsapp" {
                // A text message gets a text message's footer: who sends it and how to stop
                // them (the carriers' STOP, which Twilio turns into error 21610 and leadsite
                // into an opt-out).
                let sms_footer = format!("{} - Reply STOP to opt out", o.sender_name);
                let rendered = sequence.render(
                    step,
                    &ctx,
                    &sms_footer,
                    &crate::text::escape_html(&sms_footer),
                )?;
                // The template's parameters, checked before anything is sent: a template error
                // stops the run; a parameter empty for this lead stops this lead's step (Meta
                // refuses the message).
                let params = sequence.render_params(step, &ctx)?;
                let empty = (o.whatsapp.provider == crate::config::WhatsAppProvider::Cloud)
                    .then(|| super::sequence::empty_param(&params))
                    .flatten();
                // The template as the WhatsApp Business Account has it (when it is to be
                // asked): a step it does not fit is not queued, and waits for the fix.
                let cloud = super::whatsapp::cloud_parameters(
                    &serde_json::to_value(&params).expect("parameters serialize"),
                );
                if let Some(why) = templates.refusal(&api, &o.whatsapp, &spec.template, &cloud) {
                    report.whatsapp_halted = Some(format!(
                        "{why} (step {step} of {} is not queued until it fits)",
                        sequence.name
                    ));
                    continue;
                }
                plan.texts.push(Text {
                    key: key.clone(),
                    // E.164, as the providers want it and as replies come back from it; a
                    // phone that cannot be read as a number is no phone.
                    to: lead.phone.as_deref().and_then(|p| {
                        let region = lead.country().unwrap_or(&self.config.ingest.default_region);
                        crate::lead::value::phone_e164(p, region)
                    }),
                    step,
                    template: spec.template.clone(),
                    text: rendered.text,
                    params,
                    empty,
                });
                continue;
            }
            let footer_text = format!(
                "{}\n{}\nTo get no more messages: {unsubscribe}",
                o.sender_name, o.postal_address
            );
            let footer_html = format!(
                "{}<br>{}<br><a href=\"{}\">Unsubscribe</a>",
                crate::text::escape_html(&o.sender_name),
                crate::text::escape_html(&o.postal_address),
                crate::text::escape_html(&unsubscribe)
            );
            let rendered = sequence.render(step, &ctx, &footer_text, &footer_html)?;
            plan.emails.push(Email {
                key: key.clone(),
                address,
                name: lead.name.trim().to_string(),
                step,
                rendered,
                unsubscribe,
                one_click,
                tz,
            });
        }
        Ok(plan)
    }

    /// Send and record: for each email, the intent claimed (exactly one worker wins it, within
    /// the day's cap), the message sent, the outcome recorded.
    fn send(
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
                let intent = state.in_flight.take();
                match &outcome {
                    Attempt::InDoubt(why) => {
                        // The server may have taken it: the intent stays, `status` shows the
                        // step and `resolve` settles it. Never sent again by guess.
                        state.in_flight = intent;
                        note(state, now, "in_doubt", format!("step {step}: {why}"));
                    }
                    Attempt::Sent => record_sent(state, sequence, step, id.clone(), now),
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
                        suppress = true;
                    }
                }
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
    fn queue(
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

/// What applying an event needs besides the state: the sequence (a step's delay) and the
/// retry rules, at this run's time.
struct Rules<'a> {
    sequence: &'a Sequence,
    max_attempts: u32,
    retry_minutes: u32,
    now: DateTime<Utc>,
}

/// Whether an event ends a lead's campaign for good (an opt-out, or a bounce that is not soft).
fn stops(m: &Message) -> bool {
    m.topic == "lead.unsubscribed"
        || (m.topic == "lead.bounced"
            && m.data.get("kind").and_then(|v| v.as_str()) != Some("soft"))
}

/// Applies one event; `Some(why)` when it changed nothing.
fn apply_event(
    store: &mut dyn StateStore,
    leads: &BTreeMap<String, Lead>,
    m: &Message,
    rules: &Rules,
) -> Result<Option<String>> {
    let address = match leads.get(&m.lead_id) {
        Some(lead) => lead.contact_email().map(String::from),
        // An opt-out or hard bounce for a lead not built yet is kept: it must hold when the
        // lead appears. Anything else about an unknown lead changes nothing.
        None if store.get(&m.lead_id).is_none() && !stops(m) => {
            return Ok(Some(format!("unknown lead {:?}", m.lead_id)))
        }
        None => None,
    };
    apply_to(store, address, m, rules)
}

fn apply_to(
    store: &mut dyn StateStore,
    address: Option<String>,
    m: &Message,
    rules: &Rules,
) -> Result<Option<String>> {
    let Rules {
        sequence,
        max_attempts,
        retry_minutes,
        now,
    } = *rules;
    let at = m.at.unwrap_or(now);
    let mut state = store.get(&m.lead_id).cloned().unwrap_or_default();
    // A reply, bounce or webhook about the Message-ID of a step in doubt: that step went out.
    let refers_to = m.data.get("message_id").and_then(|v| v.as_str());
    let mut settled = false;
    if let Some(intent) = state.in_flight.clone() {
        if refers_to.is_some_and(|id| id.trim() == intent.message_id) {
            settled = true;
            state.in_flight = None;
            record_sent(
                &mut state,
                sequence,
                intent.step,
                intent.message_id,
                intent.at,
            );
            note(
                &mut state,
                at,
                "resolved",
                format!("step {} was sent: event {} refers to it", intent.step, m.id),
            );
            store.commit(&m.lead_id, state.clone())?;
        }
    }
    let kind = m
        .data
        .get("kind")
        .and_then(|v| v.as_str())
        .unwrap_or("hard");
    let terminal = match (m.topic.as_str(), kind) {
        ("lead.unsubscribed", _) => Some(Status::Unsubscribed),
        ("lead.bounced", "soft") => None,
        ("lead.bounced", _) => Some(Status::Bounced),
        ("lead.responded", _) => Some(Status::Responded),
        _ => None,
    };
    if let Some(new) = terminal {
        if matches!(new, Status::Unsubscribed | Status::Bounced) {
            if let Some(a) = &address {
                store.suppress(a, &m.topic)?;
            }
        }
        if state.status.is_terminal() && rank(new) <= rank(state.status) {
            return Ok(Some(format!("lead is already {:?}", state.status)));
        }
        state.status = new;
        state.next_action_at = None;
        note(&mut state, at, &m.topic, format!("event {}", m.id));
        store.commit(&m.lead_id, state)?;
        return Ok(None);
    }
    if m.topic == "lead.bounced" {
        // A soft bounce of the last step sent: send that step again later, up to the limit.
        if state.status != Status::Contacted {
            return Ok(Some(
                "soft bounce for a lead that is not being contacted".into(),
            ));
        }
        // The step bounced: named, or the last number of our Message-ID (`<lead.seq.N@…>`).
        let from_id = refers_to.and_then(|id| {
            let local = id.trim().trim_start_matches('<').split('@').next()?;
            local.rsplit('.').next()?.parse::<u32>().ok()
        });
        let target = m
            .data
            .get("step")
            .and_then(|v| v.as_str()?.parse::<u32>().ok())
            .or(from_id)
            .unwrap_or(state.step);
        let handled = state.history.iter().rev().find(|h| {
            h.detail == format!("step {target}") && (h.event == "sent" || h.event == "soft_bounce")
        });
        if target != state.step {
            return Ok(Some(format!(
                "soft bounce of step {target}, and step {} has gone out since: nothing is resent",
                state.step
            )));
        }
        if handled.is_some_and(|h| h.event == "soft_bounce") {
            return Ok(Some(format!(
                "soft bounce of step {target} already handled"
            )));
        }
        state.attempt_count += 1;
        note(&mut state, at, "soft_bounce", format!("step {target}"));
        if state.attempt_count >= max_attempts {
            state.status = Status::Bounced;
            state.next_action_at = None;
            if let Some(a) = &address {
                store.suppress(a, "soft bounces")?;
            }
        } else {
            state.step = target.saturating_sub(1);
            state.next_action_at = Some(now + backoff(retry_minutes, state.attempt_count));
        }
        store.commit(&m.lead_id, state)?;
        return Ok(None);
    }
    // What a text-message provider said of a message (it took it, delivered it, could not):
    // kept in the lead's history for `status --lead`, and nothing else.
    let word = |k: &str| m.data.get(k).and_then(|v| v.as_str()).unwrap_or("");
    if m.topic == "lead.contacted" && !word("provider_id").is_empty() {
        let mut detail = format!(
            "{} {}: {}",
            word("channel"),
            word("provider_id"),
            word("provider_status")
        );
        if !word("error_code").is_empty() {
            detail.push_str(&format!(" (error {})", word("error_code")));
        }
        note(&mut state, at, "provider", detail);
        store.commit(&m.lead_id, state)?;
        return Ok(None);
    }
    // A delivery or delay report (lead.contacted) only ever settles a step in doubt.
    Ok((!settled).then(|| format!("{} changes no campaign state", m.topic)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outreach::store::MemoryStore;

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
        let leads: BTreeMap<String, Lead> = ["acme", "bolt", "cafe", "dent"]
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
}
