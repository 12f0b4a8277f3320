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

use std::net::{TcpListener, TcpStream};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::bus::{FileBus, Message, MessageBus};
use super::inbound::lead_of;
use super::webhook::{self, Provider, Refusal, Secrets, Tokens};
use crate::error::{Error, Result};
use crate::serve::http::{read_request, respond};

fn mac(secret: &[u8], lead: &str, sequence: &str) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    m.update(format!("unsubscribe:{lead}:{sequence}").as_bytes());
    m
}

/// The unsubscribe token of a lead in a sequence.
pub fn token(secret: &[u8], lead: &str, sequence: &str) -> String {
    let tag = mac(secret, lead, sequence).finalize().into_bytes();
    let hex: String = tag.iter().take(16).map(|b| format!("{b:02x}")).collect();
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
    let bytes = webhook::hex(hex)?;
    mac(secret, lead, sequence)
        .verify_truncated_left(&bytes)
        .ok()?;
    Some(lead.to_string())
}

pub struct Listener {
    pub secret: Vec<u8>,
    pub domain: String,
    pub bus: FileBus,
    /// What delivery webhooks are checked with.
    pub webhooks: Secrets,
    /// Mailgun tokens seen lately (a signature covers no body).
    pub tokens: Tokens,
}

const PAGE: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Unsubscribe</title></head><body style=\"font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem\">";

impl Listener {
    /// Serves until the process stops.
    pub fn serve(&self, listener: TcpListener) -> Result<()> {
        std::thread::scope(|s| {
            for stream in listener.incoming().flatten() {
                s.spawn(move || self.handle(stream));
            }
        });
        Ok(())
    }

    fn handle(&self, mut stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
        let Some(req) = read_request(&stream) else {
            return;
        };
        let path = req.target.split('?').next().unwrap_or("");
        let html = "text/html; charset=utf-8";
        let text = "text/plain; charset=utf-8";
        let _ = match (req.method.as_str(), path.strip_prefix("/u/")) {
            (m @ ("GET" | "POST"), Some(tok)) => match verify(&self.secret, tok) {
                None => respond(&mut stream, 404, html, &[], format!("{PAGE}<h1>This link is not valid</h1><p>Nothing was changed.</p></body></html>").as_bytes(), false),
                Some(_) if m == "GET" => respond(
                    &mut stream,
                    200,
                    html,
                    &[],
                    format!("{PAGE}<h1>Unsubscribe</h1><p>Press the button and you will get no more messages from us.</p><form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\"><button type=\"submit\">Unsubscribe</button></form></body></html>").as_bytes(),
                    false,
                ),
                Some(lead) => match self.unsubscribe(&lead) {
                    Ok(()) => respond(&mut stream, 200, html, &[], format!("{PAGE}<h1>You are unsubscribed</h1><p>You will get no more messages from us.</p></body></html>").as_bytes(), false),
                    Err(e) => respond(&mut stream, 500, text, &[], format!("{e}\n").as_bytes(), false),
                },
            },
            ("POST", None) if Provider::of_path(path).is_some() => {
                let provider = Provider::of_path(path).expect("matched above");
                let header = |name: &str| {
                    req.headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.clone())
                };
                let (status, body) = self.webhook(provider, &header, &req.body);
                respond(&mut stream, status, text, &[], body.as_bytes(), false)
            }
            _ => respond(&mut stream, 404, text, &[], b"not found\n", false),
        };
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
            if let Err(err) = self.bus.publish(m) {
                return (500, format!("{err}\n"));
            }
        }
        (202, "accepted\n".into())
    }

    /// One event a lead: repeated one-click POSTs are one unsubscribe.
    fn unsubscribe(&self, lead: &str) -> Result<()> {
        let mut m = Message::new("lead.unsubscribed", lead, chrono::Utc::now());
        m.id = format!("unsubscribe-{lead}");
        self.bus.publish(m).map(|_| ())
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
