//! `leadsite listen`: a small HTTP receiver that only publishes events.
//!
//! - `GET /u/<token>` shows a confirmation page; `POST /u/<token>` (RFC 8058 one-click, body
//!   `List-Unsubscribe=One-Click`, or the page's button) publishes `lead.unsubscribed`. A token is
//!   `<lead>.<sequence>.<HMAC>`: unforgeable without the secret; a bad token gets the same answer
//!   whether or not the lead exists; a repeated POST is the same event (one id a lead).
//! - `POST /webhooks/mailgun`, `/webhooks/sendgrid` and `/webhooks/delivery` take email
//!   providers' delivery events, signed (see [`super::webhook`]: unsigned, badly signed or stale
//!   requests get 401 and publish nothing), and publish `lead.bounced` / `lead.unsubscribed` for
//!   the lead each Message-ID names.
//! - `POST /webhooks/twilio` takes Twilio's incoming-message webhook and status callbacks,
//!   signed with `X-Twilio-Signature`: a STOP (or any opt-out in words) publishes
//!   `lead.unsubscribed`, another reply `lead.responded`, for each lead a message went to at
//!   that number (the WhatsApp/SMS records say which); a status callback is kept in the lead's
//!   history (`lead.contacted` with the provider's id and status), and error 21610 opts the lead
//!   out. It answers with empty TwiML: Twilio sends nothing back.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::bus::{Message, MessageBus};
use super::inbound::lead_of;
use super::webhook::{self, Provider, Refusal, Secrets, Tokens};
use crate::error::{Error, Result};
use crate::web;

fn mac(secret: &[u8], lead: &str, sequence: &str) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    m.update(format!("unsubscribe:{lead}:{sequence}").as_bytes());
    m
}

/// The unsubscribe token of a lead in a sequence.
pub fn token(secret: &[u8], lead: &str, sequence: &str) -> String {
    let tag = mac(secret, lead, sequence).finalize().into_bytes();
    let hex = crate::text::hex(&tag[..16]);
    format!("{lead}.{sequence}.{hex}")
}

/// The lead a token is for, when the token is genuine (compared in constant time).
pub fn verify(secret: &[u8], token: &str) -> Option<String> {
    let mut parts = token.rsplitn(3, '.');
    let hex = parts.next()?;
    let sequence = parts.next()?;
    let lead = parts.next()?;
    if hex.len() != 32 || !crate::lead::is_valid_key(lead) {
        return None;
    }
    let bytes = crate::text::unhex(hex)?;
    mac(secret, lead, sequence)
        .verify_truncated_left(&bytes)
        .ok()?;
    Some(lead.to_string())
}

pub struct Listener {
    pub secret: Vec<u8>,
    pub domain: String,
    /// Where the events go: any MessageBus (files by default).
    pub bus: Box<dyn MessageBus + Send + Sync>,
    /// What delivery webhooks are checked with.
    pub webhooks: Secrets,
    /// Mailgun tokens seen lately (a signature covers no body).
    pub tokens: Tokens,
    /// Twilio's webhooks, when its auth token and `listen.public_url` are set.
    pub twilio: Option<TwilioHook>,
}

/// What Twilio's webhooks are checked and matched with.
pub struct TwilioHook {
    /// The account's auth token (LEADSITE_TWILIO_TOKEN): the signing key.
    pub token: Vec<u8>,
    /// The account the messages must be for (`whatsapp.account_sid`; empty: any).
    pub account_sid: String,
    /// The address Twilio is given: `<listen.public_url>/webhooks/twilio`.
    pub url: String,
    /// The WhatsApp/SMS records: which lead a number or a message id belongs to.
    pub records: super::records::Reader,
    /// The leads whose phone is a number, for an opt-out from a number the records do not
    /// name (texted by a version whose ledger kept no numbers): it stops them all.
    pub leads_at: LeadsAt,
}

/// The leads whose phone is a number (E.164); an error when the leads cannot be read (the
/// request then fails, and the provider sends it again: an opt-out is never dropped).
pub type LeadsAt = Box<dyn Fn(&str) -> crate::error::Result<Vec<String>> + Send + Sync>;

const PAGE: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Unsubscribe</title></head><body style=\"font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem\">";

/// Bytes of a request body read at most: a webhook batch of events, an unsubscribe form.
const MAX_BODY: usize = 1024 * 1024;

impl Listener {
    /// Serves until the process stops: at most 512 connections at once, 10 s to send a
    /// request's headers, 60 s for a whole connection, 1 MiB a body (see [`crate::web`]).
    /// Serves until `stop` (or the process ends).
    pub fn serve(self, listener: TcpListener, stop: Option<web::Stop>) -> Result<()> {
        let app = Router::new()
            .route("/u/{token}", get(unsubscribe_page).post(unsubscribe))
            .route("/webhooks/twilio", post(twilio_event))
            .route("/webhooks/{provider}", post(delivery_event))
            .fallback(|| async { web::reply(404, TEXT, &[], "not found\n") })
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(Arc::new(self));
        let limits = web::Limits {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            connection_timeout: Some(Duration::from_secs(60)),
        };
        web::serve(listener, app, limits, stop).map_err(|e| Error::System(format!("listen: {e}")))
    }

    fn webhook(
        &self,
        provider: Provider,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
    ) -> (u16, String) {
        let now = chrono::Utc::now().timestamp();
        let events =
            match webhook::read(provider, header, body, (&self.webhooks, &self.tokens), now) {
                Ok(events) => events,
                // One answer for every failed check: it tells a forger nothing.
                Err(Refusal::Unauthorized(_)) => return (401, "unauthorized\n".into()),
                Err(Refusal::BadRequest(why)) => return (400, format!("{why}\n")),
            };
        for (i, e) in events.iter().enumerate() {
            // Accepted and dropped when not ours: the answer says nothing about which exist.
            let Some(lead) = lead_of(&e.message_id, &self.domain) else {
                continue;
            };
            let mut m = Message::new(e.topic, &lead, chrono::Utc::now());
            // A replayed request is the same event: one id per provider, body and position.
            let key = format!("{}\n{i}\n", provider.name());
            let mut bytes = key.into_bytes();
            bytes.extend_from_slice(body);
            m.id = format!("webhook-{}", crate::fsutil::fingerprint(&bytes));
            m.data
                .insert("message_id".into(), e.message_id.clone().into());
            m.data.insert("reason".into(), e.reason.clone().into());
            if let Some(kind) = e.kind {
                m.data.insert("kind".into(), kind.into());
                m.data.insert("status".into(), e.status.clone().into());
            }
            match self.bus.publish(m) {
                Ok(_) => {}
                // What the request says cannot be an event: sending it again changes nothing.
                Err(Error::Rejected(why)) => return (400, format!("{why}\n")),
                Err(err) => return internal_error(&err),
            }
        }
        (202, "accepted\n".into())
    }

    /// A Twilio webhook: checked, matched to leads by the records, published.
    fn twilio(
        &self,
        query: Option<&str>,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
    ) -> (u16, String) {
        let Some(hook) = &self.twilio else {
            return (401, "unauthorized\n".into());
        };
        let url = match query {
            Some(q) => format!("{}?{q}", hook.url),
            None => hook.url.clone(),
        };
        let event = match webhook::read_twilio(&url, header, body, (&hook.token, &hook.account_sid))
        {
            Ok(Some(event)) => event,
            Ok(None) => return (200, EMPTY_TWIML.into()),
            Err(Refusal::Unauthorized(_)) => return (401, "unauthorized\n".into()),
            Err(Refusal::BadRequest(why)) => return (400, format!("{why}\n")),
        };
        let records = match (hook.records)() {
            Ok(l) => l,
            Err(e) => return internal_error(&e),
        };
        // A reply is from a number we texted; a status is of a message we sent.
        let leads = if event.from.is_empty() {
            records
                .by_provider_id(&event.provider_id)
                .map(|e| vec![e.lead.clone()])
                .unwrap_or_default()
        } else {
            let texted = records.leads_texted_at(&event.from);
            if texted.is_empty() && event.topic == "lead.unsubscribed" {
                match (hook.leads_at)(&event.from) {
                    Ok(leads) => leads,
                    Err(e) => return internal_error(&e),
                }
            } else {
                texted
            }
        };
        if leads.is_empty() {
            // Said where the operator looks; a closed stderr must not fail the request.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "warning: twilio {} {} ({}): no lead to match it to",
                event.topic,
                event.provider_id,
                crate::error::printable(&event.from)
            );
        }
        for lead in leads {
            let mut m = Message::new(event.topic, &lead, chrono::Utc::now());
            let key = format!("{}\n{}\n{lead}", event.provider_id, event.status);
            m.id = format!("twilio-{}", crate::fsutil::fingerprint(key.as_bytes()));
            m.data.insert("channel".into(), "sms".into());
            m.data
                .insert("provider_id".into(), event.provider_id.clone().into());
            if !event.status.is_empty() {
                m.data
                    .insert("provider_status".into(), event.status.clone().into());
            }
            if !event.error_code.is_empty() {
                m.data
                    .insert("error_code".into(), event.error_code.clone().into());
            }
            if !event.reason.is_empty() {
                m.data.insert("reason".into(), event.reason.clone().into());
            }
            match self.bus.publish(m) {
                Ok(_) => {}
                // What the request says cannot be an event: sending it again changes nothing.
                Err(Error::Rejected(why)) => return (400, format!("{why}\n")),
                Err(err) => return internal_error(&err),
            }
        }
        (200, EMPTY_TWIML.into())
    }

    /// One event a lead: repeated one-click POSTs are one unsubscribe.
    fn unsubscribe(&self, lead: &str) -> Result<()> {
        let mut m = Message::new("lead.unsubscribed", lead, chrono::Utc::now());
        m.id = format!("unsubscribe-{lead}");
        self.bus.publish(m).map(|_| ())
    }
}

const HTML: &str = "text/html; charset=utf-8";
/// TwiML that sends nothing back.
const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>\n";
const TEXT: &str = "text/plain; charset=utf-8";

fn not_valid() -> Response {
    let page =
        format!("{PAGE}<h1>This link is not valid</h1><p>Nothing was changed.</p></body></html>");
    web::reply(404, HTML, &[], page)
}

/// `GET /u/<token>`: a page with the button (a link preview or a mail scanner opening the link
/// changes nothing).
async fn unsubscribe_page(State(l): State<Arc<Listener>>, Path(token): Path<String>) -> Response {
    if verify(&l.secret, &token).is_none() {
        return not_valid();
    }
    let page = format!("{PAGE}<h1>Unsubscribe</h1><p>Press the button and you will get no more messages from us.</p><form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\"><button type=\"submit\">Unsubscribe</button></form></body></html>");
    web::reply(200, HTML, &[], page)
}

/// `POST /u/<token>`: RFC 8058 one-click, or the page's button.
async fn unsubscribe(State(l): State<Arc<Listener>>, Path(token): Path<String>) -> Response {
    let Some(lead) = verify(&l.secret, &token) else {
        return not_valid();
    };
    let lead_for_log = lead.clone();
    let done = tokio::task::spawn_blocking(move || l.unsubscribe(&lead)).await;
    match done {
        Ok(Ok(())) => {
            let page = format!("{PAGE}<h1>You are unsubscribed</h1><p>You will get no more messages from us.</p></body></html>");
            web::reply(200, HTML, &[], page)
        }
        Ok(Err(e)) => {
            let (status, text) = internal_error(&format!("unsubscribe of {lead_for_log}: {e}"));
            web::reply(status, TEXT, &[], text)
        }
        Err(_) => web::reply(500, TEXT, &[], "internal error\n"),
    }
}

/// A failure on this side (the bus or the database could not be written): its cause goes to the
/// operator's log, not to whoever sent the request (it may name files and hosts); a 500, which
/// providers retry.
fn internal_error(cause: &dyn std::fmt::Display) -> (u16, String) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "error: {cause}");
    (500, "internal error: not saved; try again later\n".into())
}

/// A request's headers looked up by name (any case), as the webhook readers take them.
fn header_of(headers: &HeaderMap) -> impl Fn(&str) -> Option<String> + '_ {
    |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// `POST /webhooks/<provider>`: an email provider's signed delivery events.
async fn delivery_event(
    State(l): State<Arc<Listener>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(provider) = Provider::of_path(uri.path()) else {
        return web::reply(404, TEXT, &[], "not found\n");
    };
    let done =
        tokio::task::spawn_blocking(move || l.webhook(provider, &header_of(&headers), &body)).await;
    match done {
        Ok((status, text)) => web::reply(status, TEXT, &[], text),
        Err(_) => web::reply(500, TEXT, &[], "internal error\n"),
    }
}

/// `POST /webhooks/twilio`: Twilio's incoming messages and status callbacks.
async fn twilio_event(
    State(l): State<Arc<Listener>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let done =
        tokio::task::spawn_blocking(move || l.twilio(uri.query(), &header_of(&headers), &body))
            .await;
    match done {
        Ok((200, twiml)) => web::reply(200, "text/xml; charset=utf-8", &[], twiml),
        Ok((status, text)) => web::reply(status, TEXT, &[], text),
        Err(_) => web::reply(500, TEXT, &[], "internal error\n"),
    }
}

/// The secret tokens are signed with, from the environment.
pub fn secret() -> Result<Vec<u8>> {
    match std::env::var("LEADSITE_UNSUBSCRIBE_SECRET") {
        Ok(s) if s.len() >= 16 => Ok(s.into_bytes()),
        _ => Err(Error::Usage(
            "set LEADSITE_UNSUBSCRIBE_SECRET (16 characters or more) to sign unsubscribe links"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_and_forgeries_do_not() {
        let t = token(b"0123456789abcdef", "acme-auto", "intro");
        assert_eq!(
            verify(b"0123456789abcdef", &t).as_deref(),
            Some("acme-auto")
        );
        assert_eq!(verify(b"another-secret-xx", &t), None);
        let forged = t.replacen("acme-auto", "bolt", 1);
        assert_eq!(verify(b"0123456789abcdef", &forged), None);
        assert_eq!(verify(b"0123456789abcdef", "acme.intro.zz"), None);
    }
}
