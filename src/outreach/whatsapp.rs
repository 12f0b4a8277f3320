//! WhatsAppAgent: sends the `outreach.whatsapp.send` events the orchestrator queues for
//! `channel: whatsapp` steps, through the WhatsApp Cloud API (template messages, bearer token) or
//! a Twilio-style SMS API (form-encoded To/From/Body, basic auth). 429 and 5xx are retried
//! (Retry-After honoured within a run, up to 10 s; else next run) up to `max_tries`; any other 4xx
//! is permanent and its reason recorded. A ledger (`.leadsite/whatsapp/ledger.jsonl`, one JSON
//! object a line: intent before the request, outcome after, fsync'd) makes each message go out at
//! most once and keeps the provider's message id and status; on success the agent publishes
//! `lead.contacted` with the channel and that id.
//!
//! With `whatsapp.business_account_id` set, the templates a run would use are looked up in the
//! WhatsApp Business Account before anything is sent: a template that is missing, not approved
//! in the configured language, or whose body wants other parameters than the step names stops
//! the channel for the run, and every message stays queued.

use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::bus::{Message, MessageBus};
use super::Attempt;
use crate::config::{Config, WhatsApp, WhatsAppProvider};
use crate::error::{InputError, Location, Result};
use crate::fsutil;

pub const GROUP: &str = "whatsapp";

#[derive(Debug, Default)]
pub struct Report {
    pub sent: usize,
    pub retrying: usize,
    /// (event id, why) of messages given up.
    pub failed: Vec<(String, String)>,
    /// Leads whose message a crash or a lost answer left between intent and outcome: not sent
    /// again until `resolve` says what happened.
    pub in_doubt: Vec<String>,
    /// Why the channel stopped for this run (an invalid token, a missing template …): the
    /// messages not sent stay queued.
    pub halted: Option<String>,
    /// Leads that opted out with the provider (published as `lead.unsubscribed`).
    pub opted_out: usize,
    /// (event id, why) of messages not sent because the lead has since replied, bounced or
    /// opted out.
    pub cancelled: Vec<(String, String)>,
}

/// One ledger record: where a message stands (`intent`, `sent`, `retry`, `failed`), with the
/// provider's id and status once it went out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub state: String,
    /// Tries so far (throttling does not count).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tries: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub lead: String,
    /// The number it went to, E.164.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub to: String,
    /// Meta's `wamid.…` or Twilio's `SM…`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub provider_id: String,
    /// What the provider said of it when it took it (`accepted`, `queued` …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub provider_status: String,
}

/// Where a message stands by its last ledger word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Never tried, or to be tried again (`retry`).
    Open,
    /// Settled for good: `sent`, `failed`, `cancelled`.
    Done,
    /// `intent`, or a word no version wrote (a line cut short): may have gone out; never sent
    /// again until `resolve` says what happened.
    InDoubt,
}

impl Entry {
    pub fn stage(&self) -> Stage {
        match self.state.as_str() {
            "" | "retry" => Stage::Open,
            "sent" | "failed" | "cancelled" => Stage::Done,
            _ => Stage::InDoubt,
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// `.leadsite/whatsapp/ledger.jsonl`: the last record of each message, by event id.
pub struct Ledger {
    path: PathBuf,
    entries: BTreeMap<String, Entry>,
}

impl Ledger {
    pub fn path(config: &Config) -> PathBuf {
        config.work_dir().join("whatsapp").join("ledger.jsonl")
    }

    /// Reads the ledger. One that cannot be read is an error: read as empty, it would send
    /// everything again. A line cut short by a crash mid-append is passed over (what it would
    /// have recorded is then still "intent", in doubt, or not begun); earlier ledgers' lines
    /// (`id<TAB>state`) are read as they were written.
    pub fn open(path: &Path) -> Result<Ledger> {
        let bytes = fsutil::read_state(path)?.unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let mut entries = BTreeMap::new();
        let bad = |i: usize, why: String| -> crate::error::Error {
            InputError::new(Location::at_line(path, i as u64 + 1), why).into()
        };
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if line.is_empty() {
                continue;
            }
            let entry = if line.starts_with('{') {
                match serde_json::from_str::<Entry>(line) {
                    Ok(e) => e,
                    // Cut short by a crash mid-append (later appends start a new line after
                    // it): that record was never made, and the one before it stands.
                    Err(e) if e.is_eof() => continue,
                    Err(e) => return Err(bad(i, format!("not a ledger record: {e}"))),
                }
            } else if let Some((id, state)) = line.split_once('\t') {
                let tries = state.strip_prefix("retry:").and_then(|n| n.parse().ok());
                Entry {
                    id: id.to_string(),
                    state: if tries.is_some() { "retry" } else { state }.to_string(),
                    tries: tries.unwrap_or(0),
                    // The orchestrator names its messages `wa.<lead>.<sequence>.<step>`.
                    lead: id
                        .strip_prefix("wa.")
                        .and_then(|rest| rest.split('.').next())
                        .unwrap_or_default()
                        .to_string(),
                    ..Entry::default()
                }
            } else {
                return Err(bad(i, "not a ledger record".into()));
            };
            entries.insert(entry.id.clone(), entry);
        }
        Ok(Ledger {
            path: path.to_path_buf(),
            entries,
        })
    }

    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.entries.get(id)
    }

    /// Appends a record, durable before it returns.
    pub fn record(&mut self, entry: Entry) -> Result<()> {
        let line = serde_json::to_string(&entry).expect("a ledger record serializes");
        fsutil::append_line(&self.path, &line)?;
        self.entries.insert(entry.id.clone(), entry);
        Ok(())
    }

    /// The leads a message was meant for at `number` (E.164), sent, in doubt or still queued:
    /// whose reply or STOP it is (an opt-out errs toward stopping more leads, never fewer).
    pub fn leads_texted_at(&self, number: &str) -> Vec<String> {
        let mut leads: Vec<String> = self
            .entries
            .values()
            .filter(|e| !e.lead.is_empty() && e.to == number)
            .map(|e| e.lead.clone())
            .collect();
        leads.sort();
        leads.dedup();
        leads
    }

    /// The messages left between intent and outcome (a crash, a lost answer), or whose last
    /// word no version wrote: in doubt, for `resolve`.
    pub fn in_doubt(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .values()
            .filter(|e| e.stage() == Stage::InDoubt)
    }

    /// The record of the message the provider knows as `provider_id`.
    pub fn by_provider_id(&self, provider_id: &str) -> Option<&Entry> {
        self.entries
            .values()
            .find(|e| !provider_id.is_empty() && e.provider_id == provider_id)
    }
}

/// What the provider answered when it took a message: its id and status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Receipt {
    pub id: String,
    pub status: String,
}

impl Receipt {
    /// Meta: `messages[0].id` and `message_status`; Twilio: `sid` and `status`.
    fn of(provider: WhatsAppProvider, body: &str) -> Receipt {
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let s = |p: &str| {
            v.pointer(p)
                .and_then(|x| x.as_str())
                .unwrap_or("")
                .to_string()
        };
        match provider {
            WhatsAppProvider::Cloud => Receipt {
                id: s("/messages/0/id"),
                status: s("/messages/0/message_status"),
            },
            WhatsAppProvider::Twilio => Receipt {
                id: s("/sid"),
                status: s("/status"),
            },
        }
    }
}

/// Sends what is queued. `templates`: what this run already learnt of the account's templates;
/// `stopped`: why a lead must get nothing more (it replied, bounced or opted out), if it must not.
pub fn run(
    config: &Config,
    bus: &dyn MessageBus,
    templates: &mut Templates,
    stopped: &dyn Fn(&str) -> Option<String>,
) -> Result<Report> {
    let w = &config.outreach.whatsapp;
    let path = Ledger::path(config);
    if let Some(dir) = path.parent() {
        fsutil::create_dir_all(dir)?;
    }
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut ledger = Ledger::open(&path)?;
    let mut report = Report::default();
    let agent = crate::web::api_client();
    let deliveries = bus.poll(GROUP, usize::MAX)?;
    for d in deliveries {
        let m = &d.message;
        if m.topic != "outreach.whatsapp.send" {
            bus.ack(GROUP, &d)?;
            continue;
        }
        let before = ledger.get(&m.id).cloned().unwrap_or_default();
        match before.stage() {
            Stage::Done => {
                bus.ack(GROUP, &d)?;
                continue;
            }
            Stage::InDoubt => {
                report.in_doubt.push(m.lead_id.clone());
                continue;
            }
            Stage::Open => {}
        }
        let tries = before.tries;
        let to = m.data.get("to").and_then(|v| v.as_str()).unwrap_or("");
        let entry = |state: &str, tries: u32| Entry {
            id: m.id.clone(),
            state: state.to_string(),
            tries,
            lead: m.lead_id.clone(),
            to: to.to_string(),
            ..Entry::default()
        };
        // A lead that has since replied, bounced or opted out gets nothing more.
        if let Some(why) = stopped(&m.lead_id) {
            ledger.record(entry("cancelled", tries))?;
            bus.ack(GROUP, &d)?;
            report.cancelled.push((m.id.clone(), why));
            continue;
        }
        let template = m
            .data
            .get("template")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        if let Some(why) = templates.refusal(&agent, w, template, &parameters(m)) {
            // Not the lead's fault: the message stays queued as it was.
            report.halted = Some(format!("{why} (its messages stay queued)"));
            break;
        }
        ledger.record(entry("intent", tries))?;
        let (mut outcome, mut receipt) = send(&agent, w, m);
        if let Attempt::Retry {
            after: Some(secs), ..
        } = &outcome
        {
            if *secs <= 10 {
                std::thread::sleep(Duration::from_secs(*secs));
                (outcome, receipt) = send(&agent, w, m);
            }
        }
        match outcome {
            Attempt::Sent => {
                ledger.record(Entry {
                    provider_id: receipt.id.clone(),
                    provider_status: receipt.status.clone(),
                    ..entry("sent", tries)
                })?;
                let mut c = Message::new("lead.contacted", &m.lead_id, chrono::Utc::now());
                c.id = format!("contacted-{}", m.id);
                c.data.insert("channel".into(), w.channel().into());
                if let Some(step) = m.data.get("step") {
                    c.data.insert("step".into(), step.clone());
                }
                if !receipt.id.is_empty() {
                    c.data.insert("provider_id".into(), receipt.id.into());
                    c.data
                        .insert("provider_status".into(), receipt.status.into());
                }
                bus.publish(c)?;
                bus.ack(GROUP, &d)?;
                report.sent += 1;
            }
            // Throttling is no failure: tried again next run, its tries unchanged.
            Attempt::Retry {
                throttled: true, ..
            } => {
                ledger.record(entry("retry", tries))?;
                report.retrying += 1;
            }
            Attempt::Retry { .. } if tries + 1 < w.max_tries => {
                ledger.record(entry("retry", tries + 1))?;
                report.retrying += 1;
            }
            Attempt::InDoubt(why) => {
                // The intent stands: `status` shows it, `resolve` settles it.
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "warning: {}: {why}", m.id);
                report.in_doubt.push(m.lead_id.clone());
            }
            Attempt::Halt(why) => {
                // Not sent, and not the lead's fault: it stays queued as it was.
                ledger.record(entry("retry", tries))?;
                report.halted = Some(why);
                break;
            }
            Attempt::OptedOut(why) => {
                ledger.record(entry("failed", tries))?;
                let mut u = Message::new("lead.unsubscribed", &m.lead_id, chrono::Utc::now());
                u.id = format!("optout-{}", m.id);
                u.data.insert("reason".into(), why.clone().into());
                u.data.insert("channel".into(), w.channel().into());
                bus.publish(u)?;
                bus.ack(GROUP, &d)?;
                report.opted_out += 1;
                report.failed.push((m.id.clone(), why));
            }
            Attempt::Retry { why, .. } | Attempt::Permanent(why) => {
                ledger.record(entry("failed", tries + 1))?;
                let line = serde_json::json!({"event_id": m.id, "lead_id": m.lead_id, "why": why});
                fsutil::append_line(&dir.join("failed.jsonl"), &line.to_string())?;
                bus.ack(GROUP, &d)?;
                report.failed.push((m.id.clone(), why));
            }
        }
    }
    Ok(report)
}

/// A message's template parameters as the Cloud API takes them.
fn parameters(m: &Message) -> Vec<serde_json::Value> {
    m.data
        .get("params")
        .map(cloud_parameters)
        .unwrap_or_default()
}

/// Template parameters (a list of `{name?, text}`, or of plain strings as messages queued by
/// earlier versions carry them) as the Cloud API takes them.
pub fn cloud_parameters(list: &serde_json::Value) -> Vec<serde_json::Value> {
    let Some(list) = list.as_array() else {
        return Vec::new();
    };
    list.iter()
        .map(|p| match p {
            serde_json::Value::String(text) => serde_json::json!({"type": "text", "text": text}),
            other => {
                let mut v = serde_json::json!({"type": "text", "text": other["text"]});
                if let Some(name) = other.get("name").and_then(|n| n.as_str()) {
                    v["parameter_name"] = name.into();
                }
                v
            }
        })
        .collect()
}

/// What a template in the WhatsApp Business Account wants, read from Meta's Message Templates
/// API (`GET /<version>/<business account>/message_templates?name=…`).
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSpec {
    pub status: String,
    /// `{{1}}` … in the body: how many (positional templates).
    pub positional: usize,
    /// `{{name}}` … in the body (named templates).
    pub named: std::collections::BTreeSet<String>,
    /// Why a message of ours cannot fill it: a header or button that wants parameters too.
    pub unfillable: Option<String>,
}

impl TemplateSpec {
    /// Reads the entry of `data[]` with this name and language, if there is one.
    pub fn from_listing(body: &serde_json::Value, name: &str, language: &str) -> Option<Self> {
        let t = body["data"]
            .as_array()?
            .iter()
            .find(|t| t["name"] == name && t["language"] == language)?;
        let placeholders = |text: &str| -> Vec<String> {
            static VAR: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
                regex::Regex::new(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}").unwrap()
            });
            VAR.captures_iter(text).map(|c| c[1].to_string()).collect()
        };
        let mut spec = TemplateSpec {
            status: t["status"].as_str().unwrap_or("").to_string(),
            positional: 0,
            named: Default::default(),
            unfillable: None,
        };
        for c in t["components"].as_array().into_iter().flatten() {
            let kind = c["type"].as_str().unwrap_or("");
            let vars = placeholders(c["text"].as_str().unwrap_or(""));
            match kind {
                "BODY" => {
                    for v in vars {
                        if v.bytes().all(|b| b.is_ascii_digit()) {
                            spec.positional = spec.positional.max(v.parse().unwrap_or(0));
                        } else {
                            spec.named.insert(v);
                        }
                    }
                }
                "HEADER"
                    if !vars.is_empty() || c["format"].as_str().is_some_and(|f| f != "TEXT") =>
                {
                    spec.unfillable = Some("its header wants a parameter".into());
                }
                "BUTTONS" => {
                    let url_vars = c["buttons"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|b| !placeholders(b["url"].as_str().unwrap_or("")).is_empty());
                    if url_vars {
                        spec.unfillable = Some("a button's URL wants a parameter".into());
                    }
                }
                _ => {}
            }
        }
        Some(spec)
    }

    /// Why `params` (the Cloud API parameters of one message) do not fill this template.
    pub fn mismatch(&self, params: &[serde_json::Value]) -> Option<String> {
        if self.status != "APPROVED" {
            return Some(format!("its status is {:?}, not APPROVED", self.status));
        }
        if let Some(why) = &self.unfillable {
            return Some(format!("{why}, and leadsite sends body parameters only"));
        }
        let names: std::collections::BTreeSet<String> = params
            .iter()
            .filter_map(|p| p["parameter_name"].as_str().map(str::to_string))
            .collect();
        if !self.named.is_empty() || !names.is_empty() {
            if names != self.named || names.len() != params.len() {
                let want: Vec<_> = self.named.iter().collect();
                let got: Vec<_> = names.iter().collect();
                return Some(format!(
                    "its body wants the named parameters {want:?}, the step gives {got:?}"
                ));
            }
        } else if params.len() != self.positional {
            return Some(format!(
                "its body wants {} parameters, the step gives {}",
                self.positional,
                params.len()
            ));
        }
        None
    }
}

/// The templates looked up in one run, by name (`None`: not in the account in our language).
/// Asked only with the Cloud API and `whatsapp.business_account_id` set.
#[derive(Default)]
pub struct Templates {
    specs: BTreeMap<String, std::result::Result<Option<TemplateSpec>, String>>,
}

impl Templates {
    /// Why a message with `template` and these Cloud API `params` must not be sent.
    pub fn refusal(
        &mut self,
        agent: &ureq::Agent,
        w: &WhatsApp,
        template: &str,
        params: &[serde_json::Value],
    ) -> Option<String> {
        if w.provider != WhatsAppProvider::Cloud || w.business_account_id.is_empty() {
            return None;
        }
        let spec = self
            .specs
            .entry(template.to_string())
            .or_insert_with(|| look_up(agent, w, template));
        let problem = match spec {
            Err(why) => format!("could not look it up: {why}"),
            Ok(None) => format!(
                "there is no such template in language {:?} in WhatsApp Business Account {}",
                w.language, w.business_account_id
            ),
            Ok(Some(spec)) => spec.mismatch(params)?,
        };
        Some(format!("WhatsApp template {template:?}: {problem}"))
    }
}

fn look_up(
    agent: &ureq::Agent,
    w: &WhatsApp,
    name: &str,
) -> std::result::Result<Option<TemplateSpec>, String> {
    let token = std::env::var("LEADSITE_WHATSAPP_TOKEN").unwrap_or_default();
    let url = format!(
        "{}/{}/{}/message_templates",
        w.api_base(),
        w.version,
        w.business_account_id
    );
    let mut r = agent
        .get(&url)
        .query("name", name)
        .query("fields", "name,language,status,components,parameter_format")
        .query("limit", "100")
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let text = r
        .body_mut()
        .with_config()
        .limit(4 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| e.to_string())?;
    if !(200..300).contains(&status) {
        return Err(format!(
            "HTTP {status}: {}",
            text.chars().take(300).collect::<String>()
        ));
    }
    let body: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    Ok(TemplateSpec::from_listing(&body, name, &w.language))
}

fn send(agent: &ureq::Agent, w: &WhatsApp, m: &Message) -> (Attempt, Receipt) {
    let field = |k: &str| {
        m.data
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let to = field("to");
    let base = w.api_base();
    let result = match w.provider {
        WhatsAppProvider::Cloud => {
            let params = parameters(m);
            let body = serde_json::json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                // E.164 as it is: Meta reads a number without `+` in the sender's country.
                "to": to,
                "type": "template",
                "template": {
                    "name": field("template"),
                    "language": {"code": w.language},
                    "components": [{"type": "body", "parameters": params}],
                },
            });
            let token = std::env::var("LEADSITE_WHATSAPP_TOKEN").unwrap_or_default();
            agent
                .post(&format!(
                    "{base}/{}/{}/messages",
                    w.version, w.phone_number_id
                ))
                .header("Authorization", &format!("Bearer {token}"))
                .header("Content-Type", "application/json")
                .send(serde_json::to_vec(&body).expect("json").as_slice())
        }
        WhatsAppProvider::Twilio => {
            let token = std::env::var("LEADSITE_TWILIO_TOKEN").unwrap_or_default();
            let form = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("To", &to)
                .append_pair("From", &w.from)
                .append_pair("Body", &field("text"))
                .finish();
            agent
                .post(&format!(
                    "{base}/2010-04-01/Accounts/{}/Messages.json",
                    w.account_sid
                ))
                .header(
                    "Authorization",
                    &format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD
                            .encode(format!("{}:{token}", w.account_sid))
                    ),
                )
                .header("Content-Type", "application/x-www-form-urlencoded")
                .send(form.as_bytes())
        }
    };
    match result {
        Ok(mut r) => {
            let status = r.status().as_u16();
            let retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.trim().parse().ok());
            let text = r.body_mut().read_to_string().unwrap_or_default();
            if (200..300).contains(&status) {
                return (Attempt::Sent, Receipt::of(w.provider, &text));
            }
            let why = format!(
                "HTTP {status}: {}",
                text.chars().take(300).collect::<String>()
            );
            let attempt = classify(w.provider, status, &text, why, retry_after);
            (attempt, Receipt::default())
        }
        Err(e) if never_sent(&e) => (Attempt::retry(e.to_string()), Receipt::default()),
        // The request may have gone out: a second one could text the lead twice.
        Err(e) => (
            Attempt::InDoubt(format!("no answer after the request was sent: {e}")),
            Receipt::default(),
        ),
    }
}

/// Whether a transport error came before any of the request could reach the provider (no
/// address, no connection, no TLS): then trying again sends nothing twice.
fn never_sent(e: &ureq::Error) -> bool {
    use ureq::{Error, Timeout};
    match e {
        Error::HostNotFound
        | Error::ConnectionFailed
        | Error::BadUri(_)
        | Error::Http(_)
        | Error::RequireHttpsOnly(_)
        | Error::TlsRequired
        | Error::Tls(_)
        | Error::Rustls(_)
        | Error::ConnectProxyFailed(_)
        | Error::InvalidProxyUrl => true,
        Error::Timeout(t) => matches!(t, Timeout::Resolve | Timeout::Connect),
        Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::AddrNotAvailable
                | std::io::ErrorKind::NotFound
        ),
        _ => false,
    }
}

/// Meta's Graph API error codes that mean "too fast" (sent with HTTP 400 as often as 429, and no
/// Retry-After), and those that mean the channel cannot work at all.
const META_THROTTLED: &[i64] = &[4, 17, 32, 613, 80007, 130429, 131048, 131056];
const META_CHANNEL: &[i64] = &[
    3, 10, 190, 131005, 131031, 132000, 132001, 132005, 132007, 132012, 133010,
];
/// Twilio's: too many requests; authentication and account or number set-up; STOP.
const TWILIO_THROTTLED: &[i64] = &[20429, 14107];
const TWILIO_CHANNEL: &[i64] = &[20003, 20005, 20404, 21212, 21606];
const TWILIO_OPTED_OUT: i64 = 21610;

/// What a provider's refusal means, by the error code in its documented body (Meta's
/// `error.code`, Twilio's `code`), else by the HTTP status.
fn classify(
    provider: WhatsAppProvider,
    status: u16,
    body: &str,
    why: String,
    after: Option<u64>,
) -> Attempt {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let cloud = provider == WhatsAppProvider::Cloud;
    let (code, throttled, channel) = if cloud {
        (v["error"]["code"].as_i64(), META_THROTTLED, META_CHANNEL)
    } else {
        (v["code"].as_i64(), TWILIO_THROTTLED, TWILIO_CHANNEL)
    };
    let retry = |throttled: bool| Attempt::Retry {
        why: why.clone(),
        after,
        throttled,
    };
    match code {
        Some(c) if throttled.contains(&c) => retry(true),
        // Meta's 200–299 are permission errors.
        Some(c) if channel.contains(&c) || (cloud && (200..300).contains(&c)) => Attempt::Halt(why),
        Some(TWILIO_OPTED_OUT) if !cloud => Attempt::OptedOut(why),
        _ if status == 429 => retry(true),
        _ if status >= 500 => retry(false),
        _ if status == 401 || status == 403 => Attempt::Halt(why),
        _ => Attempt::Permanent(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Meta's Message Templates API answer, in its documented shape.
    fn listing() -> serde_json::Value {
        serde_json::json!({
            "data": [
                {
                    "name": "page_ready", "language": "en_US", "status": "APPROVED",
                    "category": "MARKETING", "parameter_format": "POSITIONAL",
                    "components": [
                        {"type": "BODY", "text": "Hello {{1}}, we made you a page: {{2}}",
                         "example": {"body_text": [["Acme", "https://x.example/"]]}},
                        {"type": "FOOTER", "text": "Reply STOP to opt out"}
                    ],
                    "id": "1234567890"
                },
                {
                    "name": "page_ready", "language": "el", "status": "PAUSED",
                    "components": [{"type": "BODY", "text": "Γεια {{1}}: {{2}}"}],
                    "id": "1234567891"
                },
                {
                    "name": "page_named", "language": "en_US", "status": "APPROVED",
                    "parameter_format": "NAMED",
                    "components": [
                        {"type": "BODY", "text": "Hi {{business}}, see {{ page }}"}
                    ],
                    "id": "1234567892"
                },
                {
                    "name": "with_image", "language": "en_US", "status": "APPROVED",
                    "components": [
                        {"type": "HEADER", "format": "IMAGE"},
                        {"type": "BODY", "text": "Hello {{1}}"}
                    ],
                    "id": "1234567893"
                }
            ],
            "paging": {"cursors": {"before": "MAZDZD", "after": "MjQZD"}}
        })
    }

    fn positional(texts: &[&str]) -> Vec<serde_json::Value> {
        texts
            .iter()
            .map(|t| serde_json::json!({"type": "text", "text": t}))
            .collect()
    }

    #[test]
    fn templates_are_checked_against_what_the_account_has() {
        let l = listing();
        let spec = TemplateSpec::from_listing(&l, "page_ready", "en_US").unwrap();
        assert_eq!(spec.positional, 2);
        assert_eq!(
            spec.mismatch(&positional(&["Acme", "https://x.example/"])),
            None
        );
        let one = spec.mismatch(&positional(&["Acme"])).unwrap();
        assert!(
            one.contains("wants 2 parameters, the step gives 1"),
            "{one}"
        );
        let paused = TemplateSpec::from_listing(&l, "page_ready", "el").unwrap();
        assert!(paused
            .mismatch(&positional(&["a", "b"]))
            .unwrap()
            .contains("PAUSED"));
        assert_eq!(TemplateSpec::from_listing(&l, "page_ready", "de"), None);
        assert_eq!(TemplateSpec::from_listing(&l, "nothing", "en_US"), None);

        let named = TemplateSpec::from_listing(&l, "page_named", "en_US").unwrap();
        let give = |pairs: &[(&str, &str)]| -> Vec<serde_json::Value> {
            pairs
                .iter()
                .map(|(n, t)| serde_json::json!({"type": "text", "text": t, "parameter_name": n}))
                .collect()
        };
        assert_eq!(
            named.mismatch(&give(&[("business", "Acme"), ("page", "u")])),
            None
        );
        assert!(named.mismatch(&give(&[("business", "Acme")])).is_some());
        assert!(named.mismatch(&positional(&["Acme", "u"])).is_some());

        let image = TemplateSpec::from_listing(&l, "with_image", "en_US").unwrap();
        let why = image.mismatch(&positional(&["Acme"])).unwrap();
        assert!(why.contains("header"), "{why}");
    }

    #[test]
    fn the_providers_receipts_are_kept() {
        let meta = r#"{"messaging_product":"whatsapp","contacts":[{"input":"+12175550134","wa_id":"12175550134"}],"messages":[{"id":"wamid.HBgLMTIxNzU1NTAxMzQVAgARGBI","message_status":"accepted"}]}"#;
        assert_eq!(
            Receipt::of(WhatsAppProvider::Cloud, meta),
            Receipt {
                id: "wamid.HBgLMTIxNzU1NTAxMzQVAgARGBI".into(),
                status: "accepted".into()
            }
        );
        let twilio = r#"{"account_sid":"AC123","api_version":"2010-04-01","body":"Hi","date_created":"Thu, 24 Aug 2023 05:01:45 +0000","direction":"outbound-api","error_code":null,"error_message":null,"from":"+12175550000","num_segments":"1","price":null,"sid":"SM3c5a4b1e2d8f9a0b7c6d5e4f3a2b1c0d","status":"queued","to":"+12175550134","uri":"/2010-04-01/Accounts/AC123/Messages/SM3c5a4b1e2d8f9a0b7c6d5e4f3a2b1c0d.json"}"#;
        let r = Receipt::of(WhatsAppProvider::Twilio, twilio);
        assert_eq!(
            (r.id.as_str(), r.status.as_str()),
            ("SM3c5a4b1e2d8f9a0b7c6d5e4f3a2b1c0d", "queued")
        );
        assert_eq!(Receipt::of(WhatsAppProvider::Cloud, ""), Receipt::default());
    }

    #[test]
    fn the_ledger_reads_old_lines_passes_over_torn_ones_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.jsonl");
        // An earlier version's tab-separated lines, then JSON, then a record cut short by a
        // crash and closed by the next append.
        std::fs::write(
            &path,
            "wa.a.s.2\tintent\nwa.a.s.2\tretry:1\nwa.b.s.2\tsent\n\
             {\"id\":\"wa.c.s.2\",\"state\":\"intent\",\"lead\":\"c\",\"to\":\"+1217\"}\n\
             {\"id\":\"wa.c.s.2\",\"state\":\"se\n\
             {\"id\":\"wa.d.s.2\",\"state\":\"sent\",\"lead\":\"d\",\"to\":\"+1555\",\"provider_id\":\"SM7\"}\n",
        )
        .unwrap();
        let mut l = Ledger::open(&path).unwrap();
        assert_eq!(
            l.get("wa.a.s.2").map(|e| (e.state.as_str(), e.tries)),
            Some(("retry", 1))
        );
        assert_eq!(l.get("wa.b.s.2").unwrap().state, "sent");
        assert_eq!(
            l.get("wa.c.s.2").unwrap().state,
            "intent",
            "in doubt, never resent"
        );
        assert_eq!(
            l.get("wa.a.s.2").unwrap().lead,
            "a",
            "an old line's lead, from its id"
        );
        assert_eq!(l.leads_texted_at("+1555"), vec!["d".to_string()]);
        assert_eq!(
            l.leads_texted_at("+1217"),
            vec!["c".to_string()],
            "a message in doubt may have arrived: its STOP counts"
        );
        let doubt: Vec<&str> = l.in_doubt().map(|e| e.id.as_str()).collect();
        assert_eq!(doubt, ["wa.c.s.2"]);
        assert_eq!(l.by_provider_id("SM7").unwrap().lead, "d");
        assert!(l.by_provider_id("").is_none());
        l.record(Entry {
            id: "wa.e.s.2".into(),
            state: "sent".into(),
            lead: "e".into(),
            to: "+1555".into(),
            ..Entry::default()
        })
        .unwrap();
        let again = Ledger::open(&path).unwrap();
        assert_eq!(
            again.leads_texted_at("+1555"),
            vec!["d".to_string(), "e".to_string()]
        );
        // An old line cut short ("se" for "sent") is a word no version wrote: in doubt.
        std::fs::write(&path, "wa.f.s.2\tintent\nwa.f.s.2\tse\n").unwrap();
        let l = Ledger::open(&path).unwrap();
        assert_eq!(l.in_doubt().count(), 1);
        std::fs::write(&path, "this is not a ledger\n").unwrap();
        let err = Ledger::open(&path).err().unwrap().to_string();
        assert!(err.contains("ledger.jsonl:1"), "{err}");
    }
}
