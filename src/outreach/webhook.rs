//! Delivery webhooks from email providers, authenticated before anything is believed.
//!
//! - **Mailgun** (`POST /webhooks/mailgun`): JSON with `signature: {timestamp, token, signature}`,
//!   the signature being HMAC-SHA256 of `timestamp + token` under the webhook signing key
//!   (`LEADSITE_MAILGUN_SIGNING_KEY`), hex.
//! - **SendGrid Event Webhook** (`POST /webhooks/sendgrid`): a JSON array of events, signed with
//!   ECDSA P-256 / SHA-256 over `timestamp + body`; the signature (base64 DER) and timestamp come
//!   in `X-Twilio-Email-Event-Webhook-Signature` / `-Timestamp`; the public key
//!   (`LEADSITE_SENDGRID_PUBLIC_KEY`, base64 DER or PEM) is the one SendGrid's settings show.
//! - **Generic** (`POST /webhooks/delivery`): `X-Leadsite-Signature: sha256=HEX`, HMAC-SHA256 of
//!   the body under `LEADSITE_WEBHOOK_SECRET`; the body is `{"event": "bounce"|"complaint"|
//!   "unsubscribe", "message_id", "type": "hard"|"soft", "reason", "timestamp": UNIX}`.
//!
//! - **Twilio** (`POST /webhooks/twilio`, form-encoded): replies to our text messages and status
//!   callbacks, signed with `X-Twilio-Signature` under the account's auth token
//!   (`LEADSITE_TWILIO_TOKEN`); see [`read_twilio`].
//!
//! A request without a valid signature, or whose timestamp is more than five minutes from now
//! (a replay), is refused with 401 and publishes nothing; so is every request to a provider whose
//! secret is not set. Mailgun signs only timestamp + token, not the body: a token seen before
//! with another body is refused too ([`Tokens`], kept for the life of the `listen` process).
//! Comparisons are constant-time (`Mac::verify_slice`, ECDSA verification).

use base64::Engine;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use sha2::Sha256;

use super::bounce::{self, Class};
use crate::error::{Error, Result};

/// How far a signed timestamp may be from now, in seconds.
pub const MAX_AGE: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Mailgun,
    SendGrid,
    Generic,
}

impl Provider {
    /// The provider a request path is for.
    pub fn of_path(path: &str) -> Option<Provider> {
        match path {
            "/webhooks/mailgun" => Some(Provider::Mailgun),
            "/webhooks/sendgrid" => Some(Provider::SendGrid),
            "/webhooks/delivery" => Some(Provider::Generic),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Provider::Mailgun => "mailgun",
            Provider::SendGrid => "sendgrid",
            Provider::Generic => "generic",
        }
    }
}

/// The secrets webhooks are checked with, from the environment; a provider without one is off.
#[derive(Default)]
pub struct Secrets {
    mailgun: Option<Vec<u8>>,
    sendgrid: Option<VerifyingKey>,
    generic: Option<Vec<u8>>,
}

impl Secrets {
    pub fn from_env() -> Result<Secrets> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let sendgrid = match var("LEADSITE_SENDGRID_PUBLIC_KEY") {
            Some(k) => Some(sendgrid_key(&k).ok_or_else(|| {
                Error::Usage(
                    "LEADSITE_SENDGRID_PUBLIC_KEY: not a P-256 public key (base64 DER or PEM, as \
                     SendGrid's Event Webhook settings show it)"
                        .into(),
                )
            })?),
            None => None,
        };
        Ok(Secrets {
            mailgun: var("LEADSITE_MAILGUN_SIGNING_KEY").map(String::into_bytes),
            sendgrid,
            generic: var("LEADSITE_WEBHOOK_SECRET").map(String::into_bytes),
        })
    }

    #[cfg(test)]
    pub fn with_mailgun(mut self, key: &[u8]) -> Secrets {
        self.mailgun = Some(key.to_vec());
        self
    }

    #[cfg(test)]
    pub fn with_generic(mut self, key: &[u8]) -> Secrets {
        self.generic = Some(key.to_vec());
        self
    }

    #[cfg(test)]
    pub fn with_sendgrid(mut self, key: &str) -> Option<Secrets> {
        self.sendgrid = Some(sendgrid_key(key)?);
        Some(self)
    }

    /// The providers whose webhooks are on.
    pub fn enabled(&self) -> Vec<Provider> {
        [
            (Provider::Mailgun, self.mailgun.is_some()),
            (Provider::SendGrid, self.sendgrid.is_some()),
            (Provider::Generic, self.generic.is_some()),
        ]
        .into_iter()
        .filter_map(|(p, on)| on.then_some(p))
        .collect()
    }
}

fn sendgrid_key(text: &str) -> Option<VerifyingKey> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(text).ok();
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(text.split_whitespace().collect::<String>())
        .ok()?;
    VerifyingKey::from_public_key_der(&der).ok()
}

/// Mailgun tokens seen in the last [`MAX_AGE`] seconds, with the body each came with: a
/// provider's retry (same token, same body) is welcome, a captured signature put on another body
/// is not.
#[derive(Default)]
pub struct Tokens {
    seen: std::sync::Mutex<std::collections::HashMap<String, (i64, String)>>,
    /// Where they are kept across restarts of `listen` (one `token TAB time TAB digest` a line).
    file: Option<std::path::PathBuf>,
}

impl Tokens {
    /// The tokens of the last minutes kept in `path`, which new ones are appended to.
    pub fn at(path: std::path::PathBuf, now: i64) -> Tokens {
        let mut seen = std::collections::HashMap::new();
        // Best effort (the file is only a memory), but never a FIFO waited on.
        let bytes = crate::fsutil::read_state(&path)
            .ok()
            .flatten()
            .unwrap_or_default();
        for line in String::from_utf8_lossy(&bytes).lines() {
            let mut f = line.split('\t');
            if let (Some(token), Some(Ok(at)), Some(digest)) =
                (f.next(), f.next().map(str::parse::<i64>), f.next())
            {
                if now - at <= 2 * MAX_AGE {
                    seen.insert(token.to_string(), (at, digest.to_string()));
                }
            }
        }
        // Only the fresh ones are kept on disk too (best effort: the file is only a memory).
        let fresh: String = seen
            .iter()
            .map(|(token, (at, digest))| format!("{token}\t{at}\t{digest}\n"))
            .collect();
        if let Some(dir) = path.parent() {
            let _ = crate::fsutil::create_dir_all(dir);
        }
        let _ = crate::fsutil::write_atomic(&path, fresh.as_bytes(), true);
        Tokens {
            seen: std::sync::Mutex::new(seen),
            file: Some(path),
        }
    }

    /// Whether `token` may carry `body` (and remembers it).
    fn admit(&self, token: &str, body: &[u8], now: i64) -> bool {
        let digest = crate::fsutil::fingerprint(body);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, (at, _)| now - *at <= 2 * MAX_AGE);
        match seen.get(token) {
            Some((_, d)) => *d == digest,
            None => {
                // Kept on disk first: a restart of `listen` must not forget it (nor a token be
                // admitted that could not be kept).
                if let Some(path) = &self.file {
                    let line = format!("{}\t{now}\t{digest}", token.replace(['\t', '\n'], " "));
                    if crate::fsutil::append_line(path, &line).is_err() {
                        return false;
                    }
                }
                seen.insert(token.to_string(), (now, digest));
                true
            }
        }
    }
}

/// One thing a provider reports about one of our messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `lead.bounced` or `lead.unsubscribed`.
    pub topic: &'static str,
    /// The Message-ID we gave the message, with its angle brackets.
    pub message_id: String,
    /// For a bounce: hard or soft.
    pub kind: Option<&'static str>,
    pub reason: String,
    pub status: String,
}

/// Why a request was refused: 401 (not authenticated) or 400 (authenticated, but unreadable).
#[derive(Debug, PartialEq)]
pub enum Refusal {
    Unauthorized(&'static str),
    BadRequest(String),
}

/// Checks a request's signature and reads its events. `header` looks a header up by name (any
/// case); `now` is the current Unix time.
pub fn read(
    provider: Provider,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    (secrets, tokens): (&Secrets, &Tokens),
    now: i64,
) -> std::result::Result<Vec<Event>, Refusal> {
    let fresh = |ts: &str| {
        ts.trim()
            .parse::<i64>()
            // Any i64 may come: the difference is taken without overflow.
            .is_ok_and(|t| now.abs_diff(t) <= MAX_AGE.unsigned_abs())
    };
    let json = || {
        serde_json::from_slice::<serde_json::Value>(body)
            .map_err(|e| Refusal::BadRequest(format!("not JSON: {e}")))
    };
    match provider {
        Provider::Mailgun => {
            let key = secrets
                .mailgun
                .as_ref()
                .ok_or(Refusal::Unauthorized("mailgun webhooks are off"))?;
            // The signature is inside the body: read it, but believe nothing else before it holds.
            let v = serde_json::from_slice::<serde_json::Value>(body)
                .map_err(|_| Refusal::Unauthorized("no signature"))?;
            let s = |k: &str| {
                v.pointer(&format!("/signature/{k}"))
                    .and_then(|x| x.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            let (timestamp, token, signature) = (s("timestamp"), s("token"), s("signature"));
            let tag =
                crate::text::unhex(&signature).ok_or(Refusal::Unauthorized("no signature"))?;
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
            mac.update(timestamp.as_bytes());
            mac.update(token.as_bytes());
            mac.verify_slice(&tag)
                .map_err(|_| Refusal::Unauthorized("bad signature"))?;
            if !fresh(&timestamp) {
                return Err(Refusal::Unauthorized("stale timestamp"));
            }
            if !tokens.admit(&token, body, now) {
                return Err(Refusal::Unauthorized("token used with another body"));
            }
            Ok(mailgun_event(&v).into_iter().collect())
        }
        Provider::SendGrid => {
            let key = secrets
                .sendgrid
                .as_ref()
                .ok_or(Refusal::Unauthorized("sendgrid webhooks are off"))?;
            let signature = header("X-Twilio-Email-Event-Webhook-Signature")
                .and_then(|s| {
                    base64::engine::general_purpose::STANDARD
                        .decode(s.trim())
                        .ok()
                })
                .and_then(|der| Signature::from_der(&der).ok())
                .ok_or(Refusal::Unauthorized("no signature"))?;
            let timestamp = header("X-Twilio-Email-Event-Webhook-Timestamp")
                .ok_or(Refusal::Unauthorized("no timestamp"))?;
            let mut signed = timestamp.trim().as_bytes().to_vec();
            signed.extend_from_slice(body);
            key.verify(&signed, &signature)
                .map_err(|_| Refusal::Unauthorized("bad signature"))?;
            if !fresh(&timestamp) {
                return Err(Refusal::Unauthorized("stale timestamp"));
            }
            let v = json()?;
            let events = v
                .as_array()
                .ok_or_else(|| Refusal::BadRequest("expected a JSON array of events".into()))?;
            Ok(events.iter().filter_map(sendgrid_event).collect())
        }
        Provider::Generic => {
            let key = secrets
                .generic
                .as_ref()
                .ok_or(Refusal::Unauthorized("generic webhooks are off"))?;
            let tag = header("X-Leadsite-Signature")
                .and_then(|s| {
                    s.trim()
                        .strip_prefix("sha256=")
                        .and_then(crate::text::unhex)
                })
                .ok_or(Refusal::Unauthorized("no signature"))?;
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
            mac.update(body);
            mac.verify_slice(&tag)
                .map_err(|_| Refusal::Unauthorized("bad signature"))?;
            let v = json()?;
            let timestamp = match v.get("timestamp") {
                Some(serde_json::Value::Number(n)) => n.to_string(),
                Some(serde_json::Value::String(s)) => s.clone(),
                _ => String::new(),
            };
            if !fresh(&timestamp) {
                return Err(Refusal::Unauthorized("stale or missing timestamp"));
            }
            Ok(generic_event(&v).into_iter().collect())
        }
    }
}

fn str_at<'a>(v: &'a serde_json::Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(|x| x.as_str()).unwrap_or("")
}

fn bracketed(id: &str) -> String {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    format!("<{id}>")
}

/// A bounce event, hard or soft by the status and words the provider passes on.
fn bounce(message_id: String, status: &str, words: &str, soft_anyway: bool) -> Event {
    let f = bounce::diagnose(None, status, words);
    let kind = if f.class == Class::Hard && !soft_anyway {
        "hard"
    } else {
        "soft"
    };
    Event {
        topic: "lead.bounced",
        message_id,
        kind: Some(kind),
        reason: format!("{}: {}", f.reason, f.diagnostic),
        status: f.status,
    }
}

/// The message left us (`lead.contacted`): what a step in doubt waits to hear.
fn went_out(message_id: String, kind: &str) -> Event {
    Event {
        topic: "lead.contacted",
        message_id,
        kind: Some(if kind == "deferred" {
            "delayed"
        } else {
            "delivered"
        }),
        reason: kind.to_string(),
        status: String::new(),
    }
}

fn unsubscribed(message_id: String, reason: &str) -> Event {
    Event {
        topic: "lead.unsubscribed",
        message_id,
        kind: None,
        reason: reason.to_string(),
        status: String::new(),
    }
}

/// Mailgun: `failed` with severity `permanent` is a bounce (a `temporary` one Mailgun retries by
/// itself: nothing to do), `complained` and `unsubscribed` opt the lead out, `delivered` says the
/// message went out (it settles a step in doubt, nothing else).
fn mailgun_event(v: &serde_json::Value) -> Option<Event> {
    let e = v.get("event-data")?;
    let id = bracketed(str_at(e, "/message/headers/message-id"));
    match str_at(e, "/event") {
        // Mailgun did not send because of what it knows of the address.
        "failed" if str_at(e, "/reason") == "suppress-bounce" => {
            Some(bounce(id, "5.1.1", "previously bounced address", false))
        }
        "failed" if str_at(e, "/reason") == "suppress-complaint" => {
            Some(unsubscribed(id, "complaint"))
        }
        "failed" if str_at(e, "/reason") == "suppress-unsubscribe" => {
            Some(unsubscribed(id, "unsubscribed"))
        }
        "failed" if str_at(e, "/severity") == "permanent" => {
            let words = format!(
                "{} {} {}",
                e.pointer("/delivery-status/code")
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
                str_at(e, "/delivery-status/message"),
                str_at(e, "/delivery-status/description")
            );
            let status = str_at(e, "/delivery-status/enhanced-code");
            Some(bounce(id, status, &words, false))
        }
        "complained" => Some(unsubscribed(id, "complaint")),
        "unsubscribed" => Some(unsubscribed(id, "unsubscribed")),
        "delivered" => Some(went_out(id, "delivered")),
        _ => None,
    }
}

/// SendGrid: `bounce` (type `blocked` is soft), `spamreport` a complaint, `unsubscribe` /
/// `group_unsubscribe` an opt-out, `dropped` for a bounced, unsubscribed or complaining address
/// the same; `delivered` and `deferred` only say the message went out (they settle a step in
/// doubt, nothing else).
fn sendgrid_event(e: &serde_json::Value) -> Option<Event> {
    let id = bracketed(str_at(e, "/smtp-id"));
    match str_at(e, "/event") {
        "bounce" => Some(bounce(
            id,
            str_at(e, "/status"),
            str_at(e, "/reason"),
            str_at(e, "/type") == "blocked",
        )),
        "spamreport" => Some(unsubscribed(id, "complaint")),
        "unsubscribe" | "group_unsubscribe" => Some(unsubscribed(id, "unsubscribed")),
        // Not sent by SendGrid because of what it knows of the address.
        "dropped" => match str_at(e, "/reason") {
            "Bounced Address" => Some(bounce(id, "5.1.1", "previously bounced address", false)),
            "Unsubscribed Address" => Some(unsubscribed(id, "unsubscribed")),
            "Spam Reporting Address" => Some(unsubscribed(id, "complaint")),
            _ => None,
        },
        "delivered" | "deferred" => Some(went_out(id, str_at(e, "/event"))),
        _ => None,
    }
}

fn generic_event(v: &serde_json::Value) -> Option<Event> {
    let id = bracketed(str_at(v, "/message_id"));
    match str_at(v, "/event") {
        "bounce" => Some(Event {
            topic: "lead.bounced",
            message_id: id,
            kind: Some(if str_at(v, "/type") == "soft" {
                "soft"
            } else {
                "hard"
            }),
            reason: str_at(v, "/reason").to_string(),
            status: String::new(),
        }),
        "complaint" => Some(unsubscribed(id, "complaint")),
        "unsubscribe" => Some(unsubscribed(id, "unsubscribed")),
        _ => None,
    }
}

/// What Twilio told us about a text message: a reply from a number (`from`), or a status of a
/// message we sent (`provider_id`).
#[derive(Debug, Clone, PartialEq)]
pub struct TextEvent {
    /// `lead.unsubscribed`, `lead.responded` or `lead.contacted` (a delivery status).
    pub topic: &'static str,
    /// The replying number, E.164 (incoming messages).
    pub from: String,
    /// Twilio's `MessageSid`: of the reply, or of our message (status callbacks).
    pub provider_id: String,
    /// `MessageStatus` of a status callback (`delivered`, `undelivered` …).
    pub status: String,
    pub error_code: String,
    /// The reply's words (cut), or why it is an opt-out.
    pub reason: String,
}

/// Keywords that, as a whole message, opt a number out of texts (Twilio's and the carriers'
/// defaults).
const STOP_WORDS: &[&str] = &[
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
/// Keywords the carrier answers by itself: no reply from the business, and never a reason to
/// text again. ("YES" is one of Twilio's opt-in words, but from a lead we wrote to it is an
/// answer: a reply.)
const SERVICE_WORDS: &[&str] = &["START", "UNSTOP", "HELP"];

/// Twilio's request signature: HMAC-SHA1 under the auth token of the URL, then each parameter's
/// name and value, sorted by name (a name given more than once: its values sorted).
fn twilio_mac(token: &[u8], url: &str, params: &[(String, String)]) -> Hmac<sha1::Sha1> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token).expect("any key length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    mac
}

/// The `X-Twilio-Signature` Twilio would send for these parameters posted to `url` (base64).
pub fn twilio_signature(token: &[u8], url: &str, params: &[(&str, &str)]) -> String {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    base64::engine::general_purpose::STANDARD
        .encode(twilio_mac(token, url, &owned).finalize().into_bytes())
}

/// Checks a Twilio webhook (incoming message or status callback) and reads it. `url` is the
/// address Twilio was given (`<listen.public_url>/webhooks/twilio`, with any query string):
/// `X-Twilio-Signature` is base64 HMAC-SHA1, under the account's auth token, of that URL
/// followed by every POST parameter's name and value, sorted by name. The signature carries no
/// time, so events are keyed by `MessageSid`: a replayed request is the same event again.
pub fn read_twilio(
    url: &str,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    (token, account_sid): (&[u8], &str),
) -> std::result::Result<Option<TextEvent>, Refusal> {
    let signature = header("X-Twilio-Signature")
        .and_then(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .ok()
        })
        .ok_or(Refusal::Unauthorized("no signature"))?;
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    twilio_mac(token, url, &params)
        .verify_slice(&signature)
        .map_err(|_| Refusal::Unauthorized("bad signature"))?;
    let get = |k: &str| {
        params
            .iter()
            .find(|(name, _)| name == k)
            .map_or("", |(_, v)| v.as_str())
    };
    if !account_sid.is_empty() && get("AccountSid") != account_sid {
        return Err(Refusal::BadRequest("another account's message".into()));
    }
    let sid = get("MessageSid").to_string();
    if sid.is_empty() {
        return Err(Refusal::BadRequest("no MessageSid".into()));
    }
    let event = |topic, from: &str, reason: String| TextEvent {
        topic,
        from: from.trim_start_matches("whatsapp:").to_string(),
        provider_id: sid.clone(),
        status: get("MessageStatus").to_string(),
        error_code: get("ErrorCode").to_string(),
        reason,
    };
    // A status callback for a message we sent.
    if !get("MessageStatus").is_empty() {
        if get("ErrorCode") == "21610" {
            let why = "the recipient had sent STOP (Twilio error 21610)".to_string();
            return Ok(Some(event("lead.unsubscribed", "", why)));
        }
        return Ok(Some(event("lead.contacted", "", String::new())));
    }
    // An incoming message: STOP and its kin, the carrier's own keywords, or a reply.
    let text = get("Body").trim();
    let keyword = text
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_uppercase();
    let from = get("From");
    let opt_out_type = get("OptOutType").to_uppercase();
    if opt_out_type == "STOP"
        || STOP_WORDS.contains(&keyword.as_str())
        || super::inbound::asks_to_stop("", text)
    {
        let why = format!("replied {:?}", text.chars().take(60).collect::<String>());
        return Ok(Some(event("lead.unsubscribed", from, why)));
    }
    if !opt_out_type.is_empty() || SERVICE_WORDS.contains(&keyword.as_str()) {
        return Ok(None);
    }
    let words = text.chars().take(200).collect();
    Ok(Some(event("lead.responded", from, words)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
        let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
        for p in parts {
            m.update(p);
        }
        crate::text::hex(&m.finalize().into_bytes())
    }

    const NOW: i64 = 1_764_000_000;

    #[test]
    fn mailgun_signatures_are_checked_before_anything_is_read() {
        let secrets = Secrets::default().with_mailgun(b"key-mailgun");
        let tokens = Tokens::default();
        let body = |ts: i64, sig: &str| {
            format!(
                r#"{{"signature":{{"timestamp":"{ts}","token":"tok123","signature":"{sig}"}},"event-data":{{"event":"failed","severity":"permanent","message":{{"headers":{{"message-id":"acme.intro.1@agency.example"}}}},"delivery-status":{{"code":550,"message":"5.1.1 user unknown","description":""}}}}}}"#
            )
        };
        let none = |_: &str| None;
        let good = hmac_hex(b"key-mailgun", &[NOW.to_string().as_bytes(), b"tok123"]);
        let events = read(
            Provider::Mailgun,
            &none,
            body(NOW, &good).as_bytes(),
            (&secrets, &tokens),
            NOW,
        )
        .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].message_id, "<acme.intro.1@agency.example>");
        assert_eq!(events[0].kind, Some("hard"));
        let forged = hmac_hex(b"guess", &[NOW.to_string().as_bytes(), b"tok123"]);
        assert_eq!(
            read(
                Provider::Mailgun,
                &none,
                body(NOW, &forged).as_bytes(),
                (&secrets, &tokens),
                NOW
            ),
            Err(Refusal::Unauthorized("bad signature"))
        );
        let old = NOW - 301;
        let signed_old = hmac_hex(b"key-mailgun", &[old.to_string().as_bytes(), b"tok123"]);
        assert_eq!(
            read(
                Provider::Mailgun,
                &none,
                body(old, &signed_old).as_bytes(),
                (&secrets, &tokens),
                NOW
            ),
            Err(Refusal::Unauthorized("stale timestamp"))
        );
        // The farthest timestamps an i64 holds are stale, never an overflow (a panic in a
        // debug build, a wrapped "fresh" one in release).
        for far in [i64::MIN, i64::MAX] {
            let signed = hmac_hex(b"key-mailgun", &[far.to_string().as_bytes(), b"tok123"]);
            assert_eq!(
                read(
                    Provider::Mailgun,
                    &none,
                    body(far, &signed).as_bytes(),
                    (&secrets, &tokens),
                    NOW
                ),
                Err(Refusal::Unauthorized("stale timestamp"))
            );
        }
        assert!(matches!(
            read(
                Provider::Mailgun,
                &none,
                body(NOW, &good).as_bytes(),
                (&Secrets::default(), &tokens),
                NOW
            ),
            Err(Refusal::Unauthorized(_))
        ));
    }

    #[test]
    fn a_mailgun_token_carries_one_body_only() {
        let tokens = Tokens::default();
        assert!(tokens.admit("tok", b"body one", NOW));
        assert!(
            tokens.admit("tok", b"body one", NOW + 10),
            "a retry of the same request"
        );
        assert!(
            !tokens.admit("tok", b"a forged body", NOW + 20),
            "a captured signature reused"
        );
        assert!(tokens.admit("tok2", b"a forged body", NOW + 20));
    }

    #[test]
    fn mailgun_drops_for_known_addresses_stop_the_lead() {
        let drop = |reason: &str| {
            let v: serde_json::Value = serde_json::from_str(&format!(r#"{{"event-data":{{"event":"failed","severity":"permanent","reason":"{reason}","message":{{"headers":{{"message-id":"a@b"}}}}}}}}"#)).unwrap();
            mailgun_event(&v).unwrap()
        };
        assert_eq!(drop("suppress-bounce").kind, Some("hard"));
        assert_eq!(drop("suppress-complaint").topic, "lead.unsubscribed");
        assert_eq!(drop("suppress-unsubscribe").topic, "lead.unsubscribed");
    }

    #[test]
    fn mailgun_tokens_are_remembered_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        assert!(Tokens::at(path.clone(), NOW).admit("tok", b"one", NOW));
        let again = Tokens::at(path.clone(), NOW + 60);
        assert!(!again.admit("tok", b"forged", NOW + 60));
        assert!(again.admit("tok", b"one", NOW + 61));
        let later = Tokens::at(path, NOW + 2 * MAX_AGE + 1);
        assert!(
            later.admit("tok", b"anything", NOW + 2 * MAX_AGE + 1),
            "old tokens are stale anyway"
        );
    }

    #[test]
    fn a_temporary_failure_or_a_delivery_is_nothing() {
        let v: serde_json::Value = serde_json::from_str(r#"{"event-data":{"event":"failed","severity":"temporary","message":{"headers":{"message-id":"a@b"}}}}"#).unwrap();
        assert_eq!(mailgun_event(&v), None);
        let d: serde_json::Value =
            serde_json::from_str(r#"{"event":"deferred","smtp-id":"<a@b>"}"#).unwrap();
        assert_eq!(
            sendgrid_event(&d).unwrap().topic,
            "lead.contacted",
            "settles, no more"
        );
        let dropped: serde_json::Value = serde_json::from_str(
            r#"{"event":"dropped","reason":"Spam Reporting Address","smtp-id":"<a@b>"}"#,
        )
        .unwrap();
        assert_eq!(sendgrid_event(&dropped).unwrap().topic, "lead.unsubscribed");
        let b: serde_json::Value = serde_json::from_str(r#"{"event":"bounce","type":"blocked","status":"5.7.1","reason":"550 5.7.1 blocked","smtp-id":"<a@b>"}"#).unwrap();
        assert_eq!(sendgrid_event(&b).unwrap().kind, Some("soft"));
    }

    #[test]
    fn twilio_signatures_match_the_documented_vectors() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ];
        // Twilio's own example (its security docs and every helper library's tests).
        assert_eq!(
            twilio_signature(b"12345", url, &params),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        let mut reversed = params;
        reversed.reverse();
        assert_eq!(
            twilio_signature(b"12345", url, &reversed),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
            "the order they came in does not matter"
        );
        assert_ne!(
            twilio_signature(b"12345", &format!("{url}&x=1"), &params),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    fn twilio_request(params: &[(&str, &str)]) -> (String, Vec<u8>) {
        let url = "https://hooks.agency.example/webhooks/twilio";
        let sig = twilio_signature(b"tw-token", url, params);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        (sig, body.into_bytes())
    }

    fn read_signed(params: &[(&str, &str)]) -> std::result::Result<Option<TextEvent>, Refusal> {
        let (sig, body) = twilio_request(params);
        let header = move |h: &str| (h == "X-Twilio-Signature").then(|| sig.clone());
        let url = "https://hooks.agency.example/webhooks/twilio";
        read_twilio(url, &header, &body, (b"tw-token", "AC123"))
    }

    #[test]
    fn twilio_replies_stops_and_statuses_are_read_only_when_signed() {
        let reply = |body: &str| {
            read_signed(&[
                ("AccountSid", "AC123"),
                ("MessageSid", "SM1"),
                ("From", "+12175550134"),
                ("To", "+12175550000"),
                ("Body", body),
                ("SmsStatus", "received"),
            ])
            .unwrap()
            .map(|e| e.topic)
        };
        assert_eq!(reply("STOP"), Some("lead.unsubscribed"));
        assert_eq!(reply(" stop. "), Some("lead.unsubscribed"));
        assert_eq!(reply("Cancel"), Some("lead.unsubscribed"));
        assert_eq!(
            reply("please remove me from your list"),
            Some("lead.unsubscribed")
        );
        assert_eq!(reply("HELP"), None, "the carrier answers HELP");
        assert_eq!(reply("START"), None, "never a reason to text again");
        assert_eq!(reply("Sounds good, call me Friday"), Some("lead.responded"));
        assert_eq!(reply("Stop by on Friday"), Some("lead.responded"));
        assert_eq!(reply("Yes"), Some("lead.responded"), "an answer to us");
        for no in [
            "please stop texting me",
            "Don't text me again",
            "No more texts",
            "Please remove my number",
            "wrong number stop texting",
        ] {
            assert_eq!(reply(no), Some("lead.unsubscribed"), "{no}");
        }
        // Twilio's Advanced Opt-Out names the keyword it matched.
        let e = read_signed(&[
            ("AccountSid", "AC123"),
            ("MessageSid", "SM2"),
            ("From", "whatsapp:+12175550134"),
            ("Body", "Arrêt"),
            ("OptOutType", "STOP"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (e.topic, e.from.as_str()),
            ("lead.unsubscribed", "+12175550134")
        );
        // Status callbacks: kept; 21610 is an opt-out.
        let e = read_signed(&[
            ("AccountSid", "AC123"),
            ("MessageSid", "SM9"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30006"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (
                e.topic,
                e.provider_id.as_str(),
                e.status.as_str(),
                e.error_code.as_str()
            ),
            ("lead.contacted", "SM9", "undelivered", "30006")
        );
        let e = read_signed(&[
            ("AccountSid", "AC123"),
            ("MessageSid", "SM9"),
            ("MessageStatus", "failed"),
            ("ErrorCode", "21610"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(e.topic, "lead.unsubscribed");
        // Another account's message, a forged or missing signature: nothing is read.
        assert!(matches!(
            read_signed(&[
                ("AccountSid", "AC999"),
                ("MessageSid", "SM3"),
                ("Body", "STOP")
            ]),
            Err(Refusal::BadRequest(_))
        ));
        let (_, body) = twilio_request(&[
            ("AccountSid", "AC123"),
            ("MessageSid", "SM4"),
            ("Body", "STOP"),
        ]);
        let forged = |h: &str| {
            (h == "X-Twilio-Signature").then(|| "RSOYDt4T1cUTdK1PDd93/VVr8B8=".to_string())
        };
        let url = "https://hooks.agency.example/webhooks/twilio";
        assert_eq!(
            read_twilio(url, &forged, &body, (b"tw-token", "AC123")),
            Err(Refusal::Unauthorized("bad signature"))
        );
        assert_eq!(
            read_twilio(url, &|_| None, &body, (b"tw-token", "AC123")),
            Err(Refusal::Unauthorized("no signature"))
        );
    }

    #[test]
    fn hex_is_strict() {
        assert_eq!(crate::text::unhex("0aff"), Some(vec![10, 255]));
        assert_eq!(crate::text::unhex("0g"), None);
        assert_eq!(crate::text::unhex("abc"), None);
        assert_eq!(crate::text::unhex(""), None);
    }
}
