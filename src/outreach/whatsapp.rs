//! WhatsAppAgent: sends the `outreach.whatsapp.send` events the orchestrator queues for
//! `channel: whatsapp` steps, through the WhatsApp Cloud API (template messages, bearer token) or
//! a Twilio-style SMS API (form-encoded To/From/Body, basic auth). 429 and 5xx are retried
//! (Retry-After honoured within a run, up to 10 s; else next run) up to `max_tries`; any other 4xx
//! is permanent and its reason recorded. Each message's record in the StateStore (see
//! [`super::records`]: intent before the request, claimed by one worker only; outcome after)
//! makes it go out at most once and keeps the provider's message id and status; on success the
//! agent publishes `lead.contacted` with the channel and that id.
//!
//! With `whatsapp.business_account_id` set, the templates a run would use are looked up in the
//! WhatsApp Business Account before anything is sent: a template that is missing, not approved
//! in the configured language, or whose body wants other parameters than the step names stops
//! the channel for the run, and every message stays queued.

use base64::Engine;
use std::collections::BTreeMap;
use std::time::Duration;

use super::bus::{Message, MessageBus};
use super::records::{Record, Stage, WHATSAPP};
use super::store::StateStore;
use super::Attempt;
use crate::config::{Config, WhatsApp, WhatsAppProvider};
use crate::error::Result;
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

/// Why a lead must get nothing more, asked of the store right before its message.
pub type Stopped<'a> = dyn Fn(&mut dyn StateStore, &str) -> Result<Option<String>> + 'a;

/// Sends what is queued. `templates`: what this run already learnt of the account's templates;
/// `stopped`: why a lead must get nothing more (it replied, bounced or opted out), if it must not,
/// asked of the store right before each message.
pub fn run(
    config: &Config,
    bus: &dyn MessageBus,
    store: &mut dyn StateStore,
    templates: &mut Templates,
    stopped: &Stopped<'_>,
) -> Result<Report> {
    let w = &config.outreach.whatsapp;
    let mut report = Report::default();
    let agent = crate::web::api_client();
    let deliveries = bus.poll(GROUP, usize::MAX)?;
    for d in deliveries {
        let m = &d.message;
        if m.topic != "outreach.whatsapp.send" {
            bus.ack(GROUP, &d)?;
            continue;
        }
        let before = store
            .records()
            .get(WHATSAPP, &m.id)
            .cloned()
            .unwrap_or_default();
        match before.stage() {
            Stage::Done => {
                bus.ack(GROUP, &d)?;
                continue;
            }
            // Another worker is sending it now: its own to finish.
            Stage::Begun if store.held_elsewhere(&before.run) => continue,
            Stage::Begun => {
                report.in_doubt.push(m.lead_id.clone());
                continue;
            }
            Stage::Open => {}
        }
        let tries = before.tries;
        // A lead that has since replied, bounced or opted out gets nothing more.
        if let Some(why) = stopped(store, &m.lead_id)? {
            store.put_record(WHATSAPP, record(m, "cancelled", tries))?;
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
        let intent = Record {
            run: store.run().to_string(),
            ..record(m, "intent", tries)
        };
        if !store.claim_record(WHATSAPP, intent, &before)? {
            // Another worker took it since this one read it.
            continue;
        }
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
        let sent = Sending {
            config,
            bus,
            delivery: &d,
            tries,
        };
        if sent.record(store, outcome, receipt, &mut report)? {
            break;
        }
    }
    Ok(report)
}

/// A queued message's record at `state`, after `tries` failed tries.
fn record(m: &Message, state: &str, tries: u32) -> Record {
    Record {
        id: m.id.clone(),
        state: state.to_string(),
        tries,
        lead: m.lead_id.clone(),
        to: m
            .data
            .get("to")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string(),
        ..Record::default()
    }
}

/// One queued message that was just sent (or tried).
struct Sending<'a> {
    config: &'a Config,
    bus: &'a dyn MessageBus,
    delivery: &'a super::bus::Delivery,
    /// Failed tries before this one.
    tries: u32,
}

impl Sending<'_> {
    /// Records what the provider said of the message; `true` when the channel stops for this
    /// run (its messages stay queued).
    fn record(
        &self,
        store: &mut dyn StateStore,
        outcome: Attempt,
        receipt: Receipt,
        report: &mut Report,
    ) -> Result<bool> {
        let w = &self.config.outreach.whatsapp;
        let (bus, d, tries) = (self.bus, self.delivery, self.tries);
        let m = &d.message;
        match outcome {
            Attempt::Sent => {
                store.put_record(
                    WHATSAPP,
                    Record {
                        provider_id: receipt.id.clone(),
                        provider_status: receipt.status.clone(),
                        ..record(m, "sent", tries)
                    },
                )?;
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
                bus.ack(GROUP, d)?;
                report.sent += 1;
            }
            // Throttling is no failure: tried again next run, its tries unchanged.
            Attempt::Retry {
                throttled: true, ..
            } => {
                store.put_record(WHATSAPP, record(m, "retry", tries))?;
                report.retrying += 1;
            }
            Attempt::Retry { .. } if tries + 1 < w.max_tries => {
                store.put_record(WHATSAPP, record(m, "retry", tries + 1))?;
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
                store.put_record(WHATSAPP, record(m, "retry", tries))?;
                report.halted = Some(why);
                return Ok(true);
            }
            Attempt::OptedOut(why) => {
                store.put_record(WHATSAPP, record(m, "failed", tries))?;
                let mut u = Message::new("lead.unsubscribed", &m.lead_id, chrono::Utc::now());
                u.id = format!("optout-{}", m.id);
                u.data.insert("reason".into(), why.clone().into());
                u.data.insert("channel".into(), w.channel().into());
                bus.publish(u)?;
                bus.ack(GROUP, d)?;
                report.opted_out += 1;
                report.failed.push((m.id.clone(), why));
            }
            Attempt::Retry { why, .. } | Attempt::Permanent(why) => {
                store.put_record(WHATSAPP, record(m, "failed", tries + 1))?;
                let line = serde_json::json!({"event_id": m.id, "lead_id": m.lead_id, "why": why});
                let dir = self.config.work_dir().join(WHATSAPP);
                fsutil::create_dir_all(&dir)?;
                fsutil::append_line(&dir.join("failed.jsonl"), &line.to_string())?;
                bus.ack(GROUP, d)?;
                report.failed.push((m.id.clone(), why));
            }
        }
        Ok(false)
    }
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
}
