//! Inbound: `leadsite inbox --maildir DIR` turns what arrives — replies, bounces (RFC 3464
//! delivery status notifications), opt-outs — into events on the bus, so the orchestrator stops
//! sequences on its own. Each message in `new/` is matched to the message we sent by its
//! In-Reply-To / References (our Message-IDs name the lead: `<lead.sequence.step@domain>`), else by
//! the sender's address; handled messages move to `cur/`. Auto-replies are not responses.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use mailparse::{MailHeaderMap, ParsedMail};

use super::bus::{FileBus, Message, MessageBus};
use crate::error::{InputError, Location, Result};
use crate::fsutil::{self, io_error};

/// What one message is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A delivery status notification: `hard` for 5.x.x, `soft` for 4.x.x.
    Bounce {
        hard: bool,
        status: String,
    },
    AutoReply,
    Unsubscribe,
    Reply {
        snippet: String,
    },
}

#[derive(Debug, Default)]
pub struct Report {
    pub published: Vec<(String, String, String)>,
    /// Messages that changed nothing (auto-replies, no lead found), with why.
    pub skipped: Vec<(String, String)>,
    /// Messages that could not be read: reported and left in `new/`.
    pub errors: Vec<InputError>,
}

/// The lead a Message-ID of ours names, if it is one of ours.
pub fn lead_of(message_id: &str, domain: &str) -> Option<String> {
    let id = message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let (local, host) = id.rsplit_once('@')?;
    if !host.eq_ignore_ascii_case(domain) {
        return None;
    }
    let mut parts = local.rsplitn(3, '.');
    let step = parts.next()?;
    let _sequence = parts.next()?;
    let lead = parts.next()?;
    (step.chars().all(|c| c.is_ascii_digit()) && crate::lead::is_valid_key(lead))
        .then(|| lead.to_string())
}

/// Reads `maildir/new/`, publishes an event for each message that is about a lead, and moves
/// every handled message to `cur/`. `by_address` maps lead email addresses to dedup_keys.
pub fn read_maildir(
    maildir: &Path,
    domain: &str,
    by_address: &HashMap<String, String>,
    bus: &FileBus,
) -> Result<Report> {
    let mut report = Report::default();
    let new = maildir.join("new");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&new) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(e) => return Err(io_error(&new, e)),
    };
    files.sort();
    for path in files {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.starts_with('.') {
            continue;
        }
        let bytes = fsutil::read(&path)?;
        let parsed = match mailparse::parse_mail(&bytes) {
            Ok(m)
                if m.headers.get_first_value("From").is_some()
                    || m.headers.get_first_value("Message-ID").is_some() =>
            {
                m
            }
            Ok(_) => {
                report.errors.push(InputError::new(
                    Location::file(&path),
                    "not an email (no From or Message-ID header); left in new/",
                ));
                continue;
            }
            Err(e) => {
                report.errors.push(InputError::new(
                    Location::file(&path),
                    format!("not an email: {e}; left in new/"),
                ));
                continue;
            }
        };
        let kind = classify(&parsed);
        let lead = referenced_ids(&parsed)
            .iter()
            .find_map(|id| lead_of(id, domain))
            .or_else(|| {
                let from = parsed.headers.get_first_value("From")?;
                let addr = mailparse::addrparse(&from)
                    .ok()?
                    .extract_single_info()?
                    .addr
                    .to_lowercase();
                by_address.get(&addr).cloned()
            });
        let at = parsed
            .headers
            .get_first_value("Date")
            .and_then(|d| mailparse::dateparse(&d).ok())
            .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0));
        // One id a mail: running `inbox` twice publishes nothing new.
        let key = parsed
            .headers
            .get_first_value("Message-ID")
            .unwrap_or_else(|| name.clone());
        let id = format!("inbox-{}", fsutil::fingerprint(key.as_bytes()));
        let event = match (&kind, &lead) {
            (_, None) => {
                report.skipped.push((
                    name.clone(),
                    "no lead: not a reply to a message we sent, and not from a lead's address"
                        .into(),
                ));
                None
            }
            (Kind::AutoReply, _) => {
                report
                    .skipped
                    .push((name.clone(), "an auto-reply, not a response".into()));
                None
            }
            (Kind::Bounce { hard, status }, Some(l)) => {
                let mut m = Message::new("lead.bounced", l, at.unwrap_or_else(Utc::now));
                m.data
                    .insert("kind".into(), (if *hard { "hard" } else { "soft" }).into());
                m.data.insert("status".into(), status.clone().into());
                Some(m)
            }
            (Kind::Unsubscribe, Some(l)) => Some(Message::new(
                "lead.unsubscribed",
                l,
                at.unwrap_or_else(Utc::now),
            )),
            (Kind::Reply { snippet }, Some(l)) => {
                let mut m = Message::new("lead.responded", l, at.unwrap_or_else(Utc::now));
                m.data.insert("snippet".into(), snippet.clone().into());
                Some(m)
            }
        };
        if let Some(mut m) = event {
            m.id = id;
            let stored = bus.publish(m)?;
            report
                .published
                .push((name.clone(), stored.topic, stored.lead_id));
        }
        // Maildir: a message that has been seen lives in cur/ with its info suffix.
        let cur = maildir.join("cur");
        fsutil::create_dir_all(&cur)?;
        let target = cur.join(if name.contains(":2,") {
            name.clone()
        } else {
            format!("{name}:2,S")
        });
        std::fs::rename(&path, &target).map_err(|e| io_error(&path, e))?;
    }
    Ok(report)
}

/// The Message-IDs a mail refers to: In-Reply-To, References, and those of the original inside a
/// bounce.
fn referenced_ids(m: &ParsedMail) -> Vec<String> {
    let mut ids = Vec::new();
    for h in ["In-Reply-To", "References"] {
        for v in m.headers.get_all_values(h) {
            ids.extend(
                v.split_whitespace()
                    .filter(|s| s.starts_with('<'))
                    .map(String::from),
            );
        }
    }
    for part in all_parts(m) {
        let t = part.ctype.mimetype.as_str();
        if t == "message/rfc822" || t == "text/rfc822-headers" || t == "message/rfc822-headers" {
            if let Ok(raw) = part.get_body_raw() {
                if let Ok(inner) = mailparse::parse_mail(&raw) {
                    ids.extend(inner.headers.get_first_value("Message-ID"));
                }
            }
        }
    }
    ids
}

fn all_parts<'a>(m: &'a ParsedMail<'a>) -> Vec<&'a ParsedMail<'a>> {
    let mut out = vec![m];
    for p in &m.subparts {
        out.extend(all_parts(p));
    }
    out
}

pub fn classify(m: &ParsedMail) -> Kind {
    // RFC 3464: multipart/report with a message/delivery-status part.
    for part in all_parts(m) {
        if part.ctype.mimetype == "message/delivery-status" {
            let text = part.get_body().unwrap_or_default();
            let status = text
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case("Status")
                        .then(|| v.trim().to_string())
                })
                .unwrap_or_else(|| "5.0.0".into());
            return Kind::Bounce {
                hard: !status.starts_with('4'),
                status,
            };
        }
    }
    let h = |name: &str| {
        m.headers
            .get_first_value(name)
            .unwrap_or_default()
            .to_lowercase()
    };
    let subject = h("Subject");
    let auto = (!h("Auto-Submitted").is_empty() && h("Auto-Submitted") != "no")
        || !h("X-Autoreply").is_empty()
        || !h("X-Autorespond").is_empty()
        || matches!(h("Precedence").as_str(), "auto_reply" | "bulk" | "junk")
        || [
            "out of office",
            "automatic reply",
            "auto-reply",
            "autoreply",
            "abwesenheit",
        ]
        .iter()
        .any(|s| subject.starts_with(s));
    if auto {
        return Kind::AutoReply;
    }
    let body = first_text(m);
    let own: Vec<&str> = body
        .lines()
        .map(str::trim)
        .take_while(|l| !is_quote_header(l))
        .filter(|l| !l.starts_with('>') && !l.is_empty())
        .collect();
    let text = own.join(" ");
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let short = words.len() <= 12;
    if lower.contains("unsubscribe")
        || lower.contains("remove me")
        || (short && words.contains(&"stop"))
        || subject.trim() == "unsubscribe"
    {
        return Kind::Unsubscribe;
    }
    Kind::Reply {
        snippet: text.chars().take(200).collect(),
    }
}

/// The line a mail client puts above the message it quotes.
fn is_quote_header(line: &str) -> bool {
    (line.starts_with("On ") && line.ends_with("wrote:"))
        || line.starts_with("-----Original Message")
}

fn first_text(m: &ParsedMail) -> String {
    all_parts(m)
        .into_iter()
        .find(|p| p.ctype.mimetype == "text/plain")
        .or_else(|| all_parts(m).into_iter().find(|p| p.subparts.is_empty()))
        .and_then(|p| p.get_body().ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_message_ids_name_their_lead() {
        assert_eq!(
            lead_of("<acme-auto.intro.2@agency.example>", "agency.example").as_deref(),
            Some("acme-auto")
        );
        assert_eq!(
            lead_of("<acme.intro.2@elsewhere.example>", "agency.example"),
            None
        );
        assert_eq!(lead_of("<CAF123@mail.gmail.com>", "agency.example"), None);
    }

    #[test]
    fn kinds() {
        let mail = |s: &str| classify(&mailparse::parse_mail(s.as_bytes()).unwrap());
        assert_eq!(
            mail("From: a@b.example\nSubject: Automatic reply: hi\n\nI am away"),
            Kind::AutoReply
        );
        assert_eq!(
            mail("From: a@b.example\nAuto-Submitted: auto-replied\nSubject: Re: hi\n\nAway"),
            Kind::AutoReply
        );
        assert_eq!(
            mail("From: a@b.example\nSubject: Re: hi\n\nPlease unsubscribe me.\n\n> old text"),
            Kind::Unsubscribe
        );
        assert_eq!(
            mail("From: a@b.example\nSubject: Re: hi\n\nSTOP\n"),
            Kind::Unsubscribe
        );
        assert_eq!(
            mail("From: a@b.example\nSubject: Re: hi\n\nLooks great, call me!\n\nOn Mon, Sam wrote:\n> stop here"),
            Kind::Reply { snippet: "Looks great, call me!".into() }
        );
    }
}
