//! WhatsAppAgent: sends the `outreach.whatsapp.send` events the orchestrator queues for
//! `channel: whatsapp` steps, through the WhatsApp Cloud API (template messages, bearer token) or
//! a Twilio-style SMS API (form-encoded To/From/Body, basic auth). 429 and 5xx are retried
//! (Retry-After honoured within a run, up to 10 s; else next run) up to `max_tries`; any other 4xx
//! is permanent and its reason recorded. A ledger (`.leadsite/whatsapp/ledger.jsonl`, intent before
//! the request, outcome after, fsync'd) makes each message go out at most once; on success the
//! agent publishes `lead.contacted` with the channel.

use base64::Engine;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::bus::{Message, MessageBus};
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
    /// Messages a crash left between intent and outcome: not sent again.
    pub in_doubt: Vec<String>,
    /// Why the channel stopped for this run (an invalid token, a missing template …): the
    /// messages not sent stay queued.
    pub halted: Option<String>,
    /// Leads that opted out with the provider (published as `lead.unsubscribed`).
    pub opted_out: usize,
}

/// The last ledger word for each event id: intent, sent, retry:N, failed.
/// A ledger that cannot be read is an error: read as empty, it would send everything again.
fn ledger(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(fsutil::io_error(path, e)),
    };
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(id, state)| (id.to_string(), state.to_string()))
        .collect())
}

fn record(path: &Path, id: &str, state: &str) -> Result<()> {
    fsutil::append_line(path, &format!("{id}	{state}"))
}

pub fn run(config: &Config, bus: &dyn MessageBus) -> Result<Report> {
    let w = &config.outreach.whatsapp;
    let dir = config.work_dir().join("whatsapp");
    fsutil::create_dir_all(&dir)?;
    let ledger_path = dir.join("ledger.jsonl");
    let book = ledger(&ledger_path)?;
    let mut report = Report::default();
    let agent = crate::web::api_client();
    for d in bus.poll(GROUP, usize::MAX)? {
        let m = &d.message;
        if m.topic != "outreach.whatsapp.send" {
            bus.ack(GROUP, &d)?;
            continue;
        }
        let state = book.get(&m.id).map(String::as_str).unwrap_or("");
        match state {
            "sent" | "failed" => {
                bus.ack(GROUP, &d)?;
                continue;
            }
            "intent" => {
                report.in_doubt.push(m.id.clone());
                continue;
            }
            _ => {}
        }
        let tries: u32 = state
            .strip_prefix("retry:")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        record(&ledger_path, &m.id, "intent")?;
        let mut outcome = send(&agent, w, m);
        if let Attempt::Retry {
            after: Some(secs), ..
        } = &outcome
        {
            if *secs <= 10 {
                std::thread::sleep(Duration::from_secs(*secs));
                outcome = send(&agent, w, m);
            }
        }
        match outcome {
            Attempt::Sent => {
                record(&ledger_path, &m.id, "sent")?;
                let mut c = Message::new("lead.contacted", &m.lead_id, chrono::Utc::now());
                c.id = format!("contacted-{}", m.id);
                c.data.insert("channel".into(), "whatsapp".into());
                if let Some(step) = m.data.get("step") {
                    c.data.insert("step".into(), step.clone());
                }
                bus.publish(c)?;
                bus.ack(GROUP, &d)?;
                report.sent += 1;
            }
            // Throttling is no failure: tried again next run, its tries unchanged.
            Attempt::Retry {
                throttled: true, ..
            } => {
                record(&ledger_path, &m.id, &format!("retry:{tries}"))?;
                report.retrying += 1;
            }
            Attempt::Retry { .. } if tries + 1 < w.max_tries => {
                record(&ledger_path, &m.id, &format!("retry:{}", tries + 1))?;
                report.retrying += 1;
            }
            Attempt::Halt(why) => {
                // Not sent, and not the lead's fault: it stays queued as it was.
                record(&ledger_path, &m.id, &format!("retry:{tries}"))?;
                report.halted = Some(why);
                break;
            }
            Attempt::OptedOut(why) => {
                record(&ledger_path, &m.id, "failed")?;
                let mut u = Message::new("lead.unsubscribed", &m.lead_id, chrono::Utc::now());
                u.id = format!("optout-{}", m.id);
                u.data.insert("reason".into(), why.clone().into());
                u.data.insert("channel".into(), "sms".into());
                bus.publish(u)?;
                bus.ack(GROUP, &d)?;
                report.opted_out += 1;
                report.failed.push((m.id.clone(), why));
            }
            Attempt::Retry { why, .. } | Attempt::Permanent(why) => {
                record(&ledger_path, &m.id, "failed")?;
                let line = serde_json::json!({"event_id": m.id, "lead_id": m.lead_id, "why": why});
                fsutil::append_line(&dir.join("failed.jsonl"), &line.to_string())?;
                bus.ack(GROUP, &d)?;
                report.failed.push((m.id.clone(), why));
            }
        }
    }
    Ok(report)
}

fn send(agent: &ureq::Agent, w: &WhatsApp, m: &Message) -> Attempt {
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
            let params: Vec<serde_json::Value> = m
                .data
                .get("params")
                .and_then(|p| p.as_array())
                .map(|a| {
                    a.iter()
                        .map(|v| serde_json::json!({"type": "text", "text": v}))
                        .collect()
                })
                .unwrap_or_default();
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
            if (200..300).contains(&status) {
                return Attempt::Sent;
            }
            let retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.trim().parse().ok());
            let text = r.body_mut().read_to_string().unwrap_or_default();
            let why = format!(
                "HTTP {status}: {}",
                text.chars().take(300).collect::<String>()
            );
            classify(w.provider, status, &text, why, retry_after)
        }
        Err(e) => Attempt::retry(e.to_string()),
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
