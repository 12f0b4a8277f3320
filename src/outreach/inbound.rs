//! Inbound: `leadsite inbox --maildir DIR` turns what arrives — replies, bounces (RFC 3464
//! delivery status notifications), opt-outs — into events on the bus, so the orchestrator stops
//! sequences on its own. Each message in `new/` is matched to the message we sent by its
//! In-Reply-To / References (our Message-IDs name the lead: `<lead.sequence.step@domain>`), else by
//! the sender's address (the lead we last emailed there); handled messages move to `cur/`.
//! Delivery reports and complaints are read by [`bounce`]; auto-replies are not responses.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use mailparse::{MailHeaderMap, ParsedMail};

use super::bounce;
use super::bus::{Message, MessageBus};
use crate::error::{InputError, Location, Result};
use crate::fsutil;

/// What one message is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A delivery report or complaint (see [`bounce`]).
    Report(bounce::Report),
    AutoReply,
    Unsubscribe,
    Reply {
        snippet: String,
    },
}

/// One published event: (mail file, topic, lead).
pub type Published = (String, String, String);

#[derive(Debug, Default)]
pub struct Report {
    pub published: Vec<Published>,
    /// Events this run found already on the bus (the same mail read before): not counted again.
    pub duplicates: Vec<Published>,
    /// Messages that changed nothing (auto-replies, delay notices, no lead found), with why.
    pub skipped: Vec<(String, String)>,
    /// Messages that changed nothing but should have (a bounce or an opt-out that reached no
    /// lead, an answer from an address several leads share): a person should look.
    pub attention: Vec<(String, String)>,
    /// Messages that could not be read: reported and left in `new/`.
    pub errors: Vec<InputError>,
}

/// The leads we emailed, by the address we emailed them at. An address shared by several leads
/// belongs to the one emailed last: a reply or bounce from it concerns that message. Leads
/// emailed there at the same moment cannot be told apart: the address is ambiguous.
#[derive(Debug, Default)]
pub struct Contacts {
    by_address: HashMap<String, (Vec<String>, Option<DateTime<Utc>>)>,
    /// Message-IDs of steps left in doubt: a delivery or delay notice about one settles it.
    pub in_doubt: std::collections::HashSet<String>,
    /// Every lead emailed.
    leads: std::collections::HashSet<String>,
}

impl Contacts {
    /// Records that `lead` was emailed at `address` (last at `when`).
    pub fn add(&mut self, address: &str, lead: &str, when: Option<DateTime<Utc>>) {
        self.leads.insert(lead.to_string());
        let entry = self
            .by_address
            .entry(address.trim().to_lowercase())
            .or_insert_with(|| (Vec::new(), when));
        if when > entry.1 {
            *entry = (vec![lead.to_string()], when);
        } else if when == entry.1 && !entry.0.iter().any(|l| l == lead) {
            entry.0.push(lead.to_string());
        }
    }

    /// The one lead last emailed at `address`; `None` when none was, or several at once.
    pub fn lead(&self, address: &str) -> Option<&str> {
        match self.by_address.get(&address.trim().to_lowercase()) {
            Some((leads, _)) if leads.len() == 1 => Some(leads[0].as_str()),
            _ => None,
        }
    }

    /// Whether `lead` was emailed.
    pub fn emailed(&self, lead: &str) -> bool {
        self.leads.contains(lead)
    }

    /// The leads emailed at `address` at the same moment, when there are several.
    pub fn ambiguous(&self, address: &str) -> Option<&[String]> {
        self.by_address
            .get(&address.trim().to_lowercase())
            .map(|(leads, _)| leads.as_slice())
            .filter(|l| l.len() > 1)
    }
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

/// Why a mail published nothing; `attention` when a person should look (a report or an opt-out
/// that reached no lead, an answer leadsite cannot place).
struct Skip {
    why: String,
    attention: bool,
}

impl Skip {
    fn quiet(why: impl Into<String>) -> Skip {
        Skip {
            why: why.into(),
            attention: false,
        }
    }

    fn attention(why: impl Into<String>) -> Skip {
        Skip {
            why: why.into(),
            attention: true,
        }
    }
}

/// What one mail means for our leads: the events to publish, or why there are none.
fn events_of(
    parsed: &ParsedMail,
    domain: &str,
    contacts: &Contacts,
    at: DateTime<Utc>,
) -> std::result::Result<Vec<Message>, Skip> {
    // Our Message-IDs the mail refers to, with the lead each names.
    let ours = |ids: &[String]| -> Option<(String, String)> {
        ids.iter()
            .find_map(|id| lead_of(id, domain).map(|l| (l, id.trim().to_string())))
    };
    let sender = parsed
        .headers
        .get_first_value("From")
        .and_then(|from| mailparse::addrparse(&from).ok()?.extract_single_info())
        .map(|i| i.addr)
        .unwrap_or_default();
    match classify(parsed) {
        Kind::Report(report) => {
            let named = ours(&report.original_ids).or_else(|| ours(&referenced_ids(parsed)));
            let single = report.failures.len() == 1;
            let mut events = Vec::new();
            let mut why = Vec::new();
            let mut attention = false;
            for f in &report.failures {
                let by_recipient = f
                    .recipient
                    .as_deref()
                    .and_then(|r| contacts.lead(r))
                    .or_else(|| {
                        f.original_recipient
                            .as_deref()
                            .and_then(|r| contacts.lead(r))
                    });
                // One recipient: the Message-ID names the very message; several: each address.
                let lead = match (&named, by_recipient) {
                    (Some((l, _)), _) if single => Some(l.clone()),
                    (_, Some(l)) => Some(l.to_string()),
                    (Some((l, _)), None) if f.recipient.is_none() => Some(l.clone()),
                    _ => None,
                };
                let shared = f.recipient.as_deref().and_then(|r| contacts.ambiguous(r));
                let stops = matches!(f.class, bounce::Class::Hard | bounce::Class::Complaint);
                let leads: Vec<String> = match (lead, shared) {
                    (Some(l), _) => vec![l],
                    // A dead or complaining address is so for every lead emailed at it.
                    (None, Some(all)) if stops => all.to_vec(),
                    (None, Some(all)) => {
                        // A soft bounce here would be resent by guess; a delay changes nothing.
                        attention |= f.class == bounce::Class::Soft;
                        why.push(format!(
                            "{} report for {}, which leads {} were all emailed at: leadsite \
                             cannot tell whose message it was",
                            f.reason,
                            f.recipient.as_deref().unwrap_or(""),
                            all.join(", ")
                        ));
                        continue;
                    }
                    (None, None) => {
                        attention |= f.class != bounce::Class::Ignore;
                        why.push(format!(
                            "{} report for {}: not an address we emailed, and no Message-ID of ours",
                            f.reason,
                            f.recipient.as_deref().unwrap_or("an unnamed recipient")
                        ));
                        continue;
                    }
                };
                for lead in leads {
                    let mut m = match f.class {
                        bounce::Class::Ignore
                            if named.as_ref().is_some_and(|(l, id)| {
                                *l == lead && contacts.in_doubt.contains(id)
                            }) =>
                        {
                            // The message went out: a delivery or delay notice settles its step.
                            let mut m = Message::new("lead.contacted", &lead, at);
                            m.data.insert("channel".into(), "email".into());
                            m.data.insert("kind".into(), f.reason.into());
                            m
                        }
                        bounce::Class::Ignore => {
                            why.push(format!(
                                "a {} notice for {lead}: nothing to do",
                                if f.reason == "delivered" {
                                    "delivery"
                                } else {
                                    "delay"
                                }
                            ));
                            break;
                        }
                        bounce::Class::Complaint => {
                            let mut m = Message::new("lead.unsubscribed", &lead, at);
                            m.data.insert("reason".into(), "complaint".into());
                            m
                        }
                        bounce::Class::Hard | bounce::Class::Soft => {
                            let mut m = Message::new("lead.bounced", &lead, at);
                            m.data.insert("kind".into(), f.class.as_str().into());
                            m.data.insert("status".into(), f.status.clone().into());
                            m.data.insert("reason".into(), f.reason.into());
                            if !f.reply_code.is_empty() {
                                m.data
                                    .insert("reply_code".into(), f.reply_code.clone().into());
                            }
                            m.data
                                .insert("diagnostic".into(), f.diagnostic.clone().into());
                            m
                        }
                    };
                    if let Some((l, id)) = &named {
                        if *l == lead {
                            m.data.insert("message_id".into(), id.clone().into());
                        }
                    }
                    events.push(m);
                }
            }
            if events.is_empty() {
                return Err(Skip {
                    why: why.join("; "),
                    attention,
                });
            }
            Ok(events)
        }
        Kind::AutoReply => Err(Skip::quiet("an auto-reply, not a response")),
        kind => {
            let named = ours(&referenced_ids(parsed));
            let opt_out = matches!(kind, Kind::Unsubscribe);
            // Our mailto: unsubscribe link's subject names the lead ("unsubscribe KEY").
            let subject = parsed
                .headers
                .get_first_value("Subject")
                .unwrap_or_default();
            let by_subject = subject
                .split_whitespace()
                .skip_while(|w| !w.eq_ignore_ascii_case("unsubscribe"))
                .nth(1)
                .filter(|k| contacts.emailed(k))
                .map(String::from);
            let lead = named
                .as_ref()
                .map(|(l, _)| l.clone())
                .or(by_subject.filter(|_| opt_out))
                .or_else(|| contacts.lead(&sender).map(String::from));
            let leads = match (lead, contacts.ambiguous(&sender)) {
                (Some(l), _) => vec![l],
                // An opt-out from an address several leads share: none of them is written to.
                (None, Some(all)) if opt_out => all.to_vec(),
                (None, Some(all)) => {
                    return Err(Skip::attention(format!(
                        "from {sender}, which leads {} were all emailed at: leadsite cannot tell \
                         which one answered; publish the event for the right one by hand \
                         (leadsite publish lead.responded --lead KEY)",
                        all.join(", ")
                    )))
                }
                (None, None) if opt_out => {
                    return Err(Skip::attention(format!(
                        "an opt-out from {sender}, an address we did not email and no reply to a \
                         message of ours: if it is a lead's, publish it by hand (leadsite publish \
                         lead.unsubscribed --lead KEY)"
                    )))
                }
                (None, None) => return Err(Skip::quiet(
                    "no lead: not a reply to a message we sent, and not from an address we emailed",
                )),
            };
            let mut events = Vec::new();
            for lead in leads {
                let mut m = match &kind {
                    Kind::Unsubscribe => Message::new("lead.unsubscribed", &lead, at),
                    Kind::Reply { snippet } => {
                        let mut m = Message::new("lead.responded", &lead, at);
                        m.data.insert("snippet".into(), snippet.clone().into());
                        m
                    }
                    Kind::Report(_) | Kind::AutoReply => unreachable!("handled above"),
                };
                if let Some((l, id)) = &named {
                    if *l == lead {
                        m.data.insert("message_id".into(), id.clone().into());
                    }
                }
                events.push(m);
            }
            Ok(events)
        }
    }
}

/// Reads `maildir/new/`, publishes an event for each message that is about a lead we emailed,
/// and moves every handled message to `cur/`.
pub fn read_maildir(
    maildir: &Path,
    domain: &str,
    contacts: &Contacts,
    bus: &dyn MessageBus,
) -> Result<Report> {
    let mut report = Report::default();
    let new = maildir.join("new");
    // A Maildir has new/: a missing one is a wrong path, not an empty box.
    fsutil::metadata(&new)?;
    // Not only regular files: a FIFO or device is reported (and never waited on).
    let files = fsutil::list_dir(&new)?.into_iter().filter(|p| !p.is_dir());
    for path in files {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.starts_with('.') {
            continue;
        }
        // A link is not a delivered mail: it is never followed (to /etc/passwd, say).
        if fsutil::is_symlink(&path) {
            report.errors.push(InputError::new(
                Location::file(&path),
                "a symbolic link, not a delivered mail: not read; left in new/",
            ));
            continue;
        }
        let bytes = match crate::limits::read_bytes(&path, crate::limits::MAX_MESSAGE) {
            Ok(b) => b,
            // One unreadable message (a FIFO, a 5 GB file) never stops the others.
            Err(e) => {
                report.errors.push(InputError::new(
                    Location::file(&path),
                    format!("cannot read: {e}; left in new/"),
                ));
                continue;
            }
        };
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
        let at = parsed
            .headers
            .get_first_value("Date")
            .and_then(|d| mailparse::dateparse(&d).ok())
            .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
            .unwrap_or_else(Utc::now);
        // One id a mail and lead: running `inbox` twice, or a mail delivered twice, publishes
        // nothing new (a mail without a Message-ID is known by its bytes).
        let key = parsed
            .headers
            .get_first_value("Message-ID")
            .unwrap_or_else(|| fsutil::fingerprint(&bytes));
        match events_of(&parsed, domain, contacts, at) {
            Err(Skip {
                why,
                attention: true,
            }) => report.attention.push((name.clone(), why)),
            Err(Skip { why, .. }) => report.skipped.push((name.clone(), why)),
            Ok(events) => {
                for mut m in events {
                    let id = format!("{key}\n{}\n{}", m.lead_id, m.topic);
                    m.id = format!("inbox-{}", fsutil::fingerprint(id.as_bytes()));
                    let seen = bus.is_published(&m.id);
                    // An event the bus refuses leaves the mail for a person, never stops the run.
                    let stored = match bus.publish(m) {
                        Ok(stored) => stored,
                        Err(crate::error::Error::Rejected(why)) => {
                            report.attention.push((name.clone(), why));
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    let entry = (name.clone(), stored.topic, stored.lead_id);
                    if seen {
                        report.duplicates.push(entry);
                    } else {
                        report.published.push(entry);
                    }
                }
            }
        }
        // Maildir: a message that has been seen lives in cur/ with its info suffix.
        let cur = maildir.join("cur");
        fsutil::create_dir_all(&cur)?;
        // A name near the file system's limit has no room for the suffix: shortened, so that
        // one odd file never stops every run.
        let name = fsutil::short_name(&name, 200);
        let target = cur.join(if name.contains(":2,") {
            name.clone()
        } else {
            format!("{name}:2,S")
        });
        fsutil::rename(&path, &target)?;
    }
    Ok(report)
}

/// The Message-IDs a mail refers to: In-Reply-To and References.
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
    ids
}

fn all_parts<'a>(m: &'a ParsedMail<'a>) -> Vec<&'a ParsedMail<'a>> {
    let mut out = vec![m];
    for p in &m.subparts {
        out.extend(all_parts(p));
    }
    out
}

/// Words that ask us to stop, in the reply's own text (quotes and our footer removed) or its
/// subject, lower-case, Greek without accents, apostrophes straight ([`bounce::fold`]); each a
/// whole phrase ("remove us" is not in "remove user"), or a stem where it ends in `*`.
const OPT_OUT: &[&str] = &[
    "unsubscribe",
    "remove me",
    "remove us",
    "opt out",
    "opt-out",
    "take me off",
    "take us off",
    "off your list",
    "off your mailing list",
    "off your email list",
    "stop emailing",
    "stop sending",
    "stop contacting",
    "do not contact us",
    "do not contact me",
    "don't contact us",
    "don't contact me",
    "do not email",
    "don't email",
    "do not send",
    "don't send",
    "no more emails",
    "no more messages",
    // … and as a text message says it
    "stop texting",
    "stop messaging",
    "stop calling",
    "don't text",
    "dont text",
    "do not text",
    "don't message",
    "do not message",
    "no more texts",
    "any more texts",
    "remove my number",
    "delete my number",
    "leave me alone",
    "leave us alone",
    "wrong number",
    "any more emails",
    "any more messages",
    "abmelden",
    "austragen",
    "keine e-mails mehr",
    "keine weiteren e-mails",
    "keine weiteren mails",
    "keine werbung",
    "nicht mehr kontaktieren",
    "nicht mehr anschreiben",
    "schreiben sie uns nicht mehr",
    "schreiben sie mir nicht mehr",
    "désinscri*",
    "désabonn*",
    "plus recevoir",
    "ne m'écrivez plus",
    "ne plus nous contacter",
    "ne plus me contacter",
    "ne plus nous écrire",
    "ne plus m'écrire",
    "darme de baja",
    "darnos de baja",
    "dar de baja",
    "no quiero recibir",
    "no queremos recibir",
    "no deseo recibir",
    "no me escriba",
    "no nos escriba",
    "dejen de escribir",
    "dejen de enviar",
    "διαγραφ*",
    "διαγραψτε",
    "αφαιρεστε",
    "σταματηστε",
    "μη μου στελνετε",
    "μην μου στελνετε",
    "μη μας στελνετε",
    "μην μας στελνετε",
];

pub fn classify(m: &ParsedMail) -> Kind {
    if let Some(report) = bounce::parse(m) {
        return Kind::Report(report);
    }
    let h = |name: &str| {
        m.headers
            .get_first_value(name)
            .unwrap_or_default()
            .trim()
            .to_lowercase()
    };
    let subject = h("Subject");
    // A reply to our `mailto:` unsubscribe link carries its subject; mail clients send it by
    // themselves too (Apple Mail's X-Apple-Unsubscribe), as an automatic message that counts.
    if subject
        .trim_start_matches("re:")
        .trim()
        .starts_with("unsubscribe")
        || h("X-Apple-Unsubscribe") == "true"
    {
        return Kind::Unsubscribe;
    }
    let auto = (!h("Auto-Submitted").is_empty() && h("Auto-Submitted") != "no")
        || !h("X-Autoreply").is_empty()
        || !h("X-Autorespond").is_empty()
        || matches!(h("Precedence").as_str(), "auto_reply" | "bulk" | "junk")
        || bounce::is_auto_reply_subject(&subject)
        // A read receipt (RFC 8098) is automatic too.
        || m.ctype.params.get("report-type").map(String::as_str) == Some("disposition-notification");
    let text = own_text(&first_text(m));
    // Asked to stop wins, even in a mail marked automatic or bulk.
    if asks_to_stop(&subject, &text) {
        return Kind::Unsubscribe;
    }
    if auto {
        return Kind::AutoReply;
    }
    Kind::Reply {
        snippet: text.chars().take(200).collect(),
    }
}

/// Whether a person's own words (a reply's subject, lower-case, and its text without quotes)
/// ask us to stop, in any of the five languages; a text message's words too.
pub fn asks_to_stop(subject: &str, text: &str) -> bool {
    // The subject too: "Remove me from your list" may be all a person writes.
    let lower = bounce::fold(&format!("{} {text}", subject.trim_start_matches("re:")));
    let words: Vec<String> = bounce::fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect();
    // "STOP" as the whole answer (as to an SMS), "Please stop.", "Remove", "Baja"; "Stop by on
    // Friday" is a reply.
    let short_no = words.len() <= 3
        && words.iter().any(|w| {
            matches!(
                w.as_str(),
                "stop" | "stopp" | "unsubscribe" | "remove" | "baja" | "desabonner" | "abmelden"
            )
        })
        && !words.iter().any(|w| w == "by");
    OPT_OUT.iter().any(|w| has_phrase(&lower, w)) || short_no
}

/// What the writer wrote: up to the first quote header, quoted line, signature separator or
/// the footer of our own message.
fn own_text(body: &str) -> String {
    let mut own = Vec::new();
    for line in body.lines().map(str::trim) {
        let ends = line == "--"
            || line.starts_with("To get no more messages")
            || line.to_lowercase().starts_with("sent from my");
        if ends && !own.is_empty() {
            break;
        }
        if is_quote_header(line) {
            // Text above the quote is the answer; with none, it is below (bottom-posting).
            if !own.is_empty() {
                break;
            }
            continue;
        }
        if line.starts_with('>') || line.is_empty() || ends {
            continue;
        }
        own.push(line);
    }
    own.join(" ")
}

/// The line a mail client puts above the message it quotes.
fn is_quote_header(line: &str) -> bool {
    let lower = line.to_lowercase();
    (lower.starts_with("on ") && lower.ends_with("wrote:"))
        || (lower.starts_with("am ") && lower.ends_with("schrieb:"))
        || (lower.starts_with("le ") && (lower.ends_with("a écrit :") || lower.ends_with("a écrit:")))
        || (lower.starts_with("el ") && lower.ends_with("escribió:"))
        || lower.ends_with("έγραψε:")
        || lower.starts_with("-----original message")
        || lower.starts_with("-----ursprüngliche nachricht")
        || lower.starts_with("-----message d'origine")
        || lower.starts_with("________________")
        // Outlook's quoted header block.
        || lower.starts_with("from:")
        || lower.starts_with("von:")
        || lower.starts_with("de :")
        || lower.starts_with("de:")
}

/// Whether `text` holds `phrase` as whole words (a trailing `*`: as a word's start).
fn has_phrase(text: &str, phrase: &str) -> bool {
    let (phrase, stem) = match phrase.strip_suffix('*') {
        Some(p) => (p, true),
        None => (phrase, false),
    };
    text.match_indices(phrase).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + phrase.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric)
            && (stem || !after.is_some_and(char::is_alphanumeric))
    })
}

/// `html` without the named elements and what they hold (case-insensitive tags). One pass over
/// the text per name: a message of many `<style>` blocks costs no more than one of a few.
fn drop_elements(html: &str, names: &[&str]) -> String {
    let mut out = html.to_string();
    for name in names {
        // ASCII case folding keeps byte offsets: they index `out` as they index `lower`.
        let lower = out.to_ascii_lowercase();
        let (open, close) = (format!("<{name}"), format!("</{name}>"));
        let mut kept = String::with_capacity(out.len());
        let mut at = 0;
        while let Some(i) = lower[at..].find(&open) {
            let start = at + i;
            kept.push_str(&out[at..start]);
            at = lower[start..]
                .find(&close)
                .map_or(out.len(), |j| start + j + close.len());
        }
        kept.push_str(&out[at..]);
        out = kept;
    }
    out
}

/// The reply's text: its text/plain part, else its HTML as text, the quoted part cut off.
fn first_text(m: &ParsedMail) -> String {
    let parts = all_parts(m);
    if let Some(text) = parts
        .iter()
        .find(|p| p.ctype.mimetype.starts_with("text/plain"))
        .and_then(|p| p.get_body().ok())
    {
        return text;
    }
    parts
        .iter()
        .find(|p| p.ctype.mimetype.starts_with("text/html"))
        .or_else(|| parts.iter().find(|p| p.subparts.is_empty()))
        .and_then(|p| p.get_body().ok())
        .map(|html| html_text(&html))
        .unwrap_or_default()
}

/// HTML to plain lines: what mail clients mark as the quoted message (a blockquote, Gmail's
/// `gmail_quote`, Outlook's reply header) and everything after it dropped, tags removed.
fn html_text(html: &str) -> String {
    // ASCII folding: the offsets found in `lower` must be offsets in `html` too.
    let lower = html.to_ascii_lowercase();
    let cut = [
        "<blockquote",
        "gmail_quote",
        "divrplyfwdmsg",
        "id=\"appendonsend\"",
        "<hr",
    ]
    .iter()
    .filter_map(|m| lower.find(m))
    .min()
    .unwrap_or(html.len());
    // Back to the start of the tag the marker is in.
    let cut = html[..cut]
        .rfind('<')
        .filter(|_| !lower[cut..].starts_with('<'))
        .unwrap_or(cut);
    let kept = drop_elements(&html[..cut], &["style", "script", "head"]);
    let mut out = String::new();
    let mut in_tag = false;
    for c in kept.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push('\n');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
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
        // Outlook quotes our message, footer and all, below its own header block.
        assert_eq!(
            mail("From: a@b.example\nSubject: RE: your page\n\nYes, interested.\n\n________________________________\nFrom: Sam Seller <sam@agency.example>\nSent: Monday\n\nHello\nTo get no more messages: mailto:sam@agency.example?subject=unsubscribe\n"),
            Kind::Reply { snippet: "Yes, interested.".into() }
        );
        assert_eq!(
            mail("From: a@b.example\nSubject: Re: hi\n\nGerne, rufen Sie an.\n\nTo get no more messages: mailto:x?subject=unsubscribe\n"),
            Kind::Reply { snippet: "Gerne, rufen Sie an.".into() }
        );
        for subject in [
            "Abwesenheitsnotiz: Ihre Seite",
            "Réponse automatique : votre page",
            "Respuesta automática: su página",
            "Αυτόματη απάντηση: η σελίδα σας",
            "Auto reply: your page",
            "Out of Office: your page",
        ] {
            assert_eq!(
                mail(&format!(
                    "From: a@b.example\nSubject: {subject}\n\nBack on Monday.\n"
                )),
                Kind::AutoReply,
                "{subject}"
            );
        }
        assert_eq!(
            mail("From: a@b.example\nPrecedence: bulk\nSubject: Re: hi\n\nThanks\n"),
            Kind::AutoReply
        );
        // A reply to the default mailto: unsubscribe link, also when a mail client sends it.
        assert_eq!(
            mail("From: a@b.example\nSubject: unsubscribe acme\n\n"),
            Kind::Unsubscribe
        );
        assert_eq!(
            mail("From: a@b.example\nAuto-Submitted: auto-replied\nX-Apple-Unsubscribe: true\nSubject: unsubscribe\n\nApple Mail sent this email to unsubscribe.\n"),
            Kind::Unsubscribe
        );
    }

    #[test]
    fn replies_a_person_writes_are_read_as_a_person_would() {
        let mail = |s: &str| classify(&mailparse::parse_mail(s.as_bytes()).unwrap());
        let reply = |body: &str| {
            mail(&format!(
                "From: a@b.example\nSubject: Re: your page\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
            ))
        };
        for body in [
            "Looks nice. Stop by the shop on Friday and we can talk.",
            "Can you remove user reviews from the page?",
            "Do not contact our old number, it is 217 555 0100 now.",
        ] {
            assert!(matches!(reply(body), Kind::Reply { .. }), "{body}");
        }
        // An opt-out in the subject alone, and in an Outlook HTML reply with a style sheet.
        assert_eq!(
            mail("From: a@b.example\nSubject: Remove me from your list\n\n"),
            Kind::Unsubscribe
        );
        assert_eq!(
            mail("From: a@b.example\nSubject: RE: your page\nContent-Type: text/html\n\n<html><head><style>p {margin:0}</style></head><body><p>STOP</p><div id=\"divRplyFwdMsg\">From: Sam</div></body></html>\n"),
            Kind::Unsubscribe
        );
        assert_eq!(
            mail("From: a@b.example\nPrecedence: bulk\nSubject: Re: hi\n\nPlease take us off your list.\n"),
            Kind::Unsubscribe,
            "an opt-out counts even in a mail marked bulk"
        );
        for body in [
            "Please take us off your mailing list.",
            "Remove us from your list, thanks",
            "Please stop emailing me, we already have a website and are happy with it.",
            "Bitte tragen Sie uns aus, keine E-Mails mehr.",
            "Merci de ne plus m'écrire, je ne veux plus recevoir vos messages.",
            "Stop",
            "Please stop.",
            "STOP\n\nSent from my iPhone",
            "Remove",
            "Please don\u{2019}t email us again",
            "Please do not send us any more emails",
            "On Mon, Sam wrote:\n> Hello\n\nPlease remove us from your list.",
            "BAJA",
            "No quiero recibir más correos",
            "Σταματήστε να μας στέλνετε",
            "Bitte keine weiteren E-Mails",
            "Merci de ne plus nous contacter",
        ] {
            assert_eq!(reply(body), Kind::Unsubscribe, "{body}");
        }
        // An HTML-only reply quoting our footer's Unsubscribe link: the quote is not the reply.
        let html = "From: a@b.example\nSubject: Re: your page\nContent-Type: text/html\n\n<div>Yes please, call me.</div><div class=\"gmail_quote\"><a href=\"mailto:x\">Unsubscribe</a></div>\n";
        assert_eq!(
            mail(html),
            Kind::Reply {
                snippet: "Yes please, call me.".into()
            }
        );
        // An out-of-office reply with a null sender is an auto-reply, not a bounce.
        let ooo = "From: a@b.example\nReturn-Path: <>\nAuto-Submitted: auto-replied\nSubject: Automatic reply: your page\n\nI am away until Monday. Our practice has moved to 5 Oak St.\n";
        assert_eq!(mail(ooo), Kind::AutoReply);
        // Complaint-like words in a person's subject are no feedback report.
        assert!(matches!(
            mail("From: a@b.example\nSubject: Re: complaint about message formatting\n\nThe page looks odd on my phone.\n"),
            Kind::Reply { .. }
        ));
    }

    #[test]
    fn what_comes_from_a_shared_address_stops_every_lead_there_or_asks() {
        let when = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 2, 9, 0, 0).single();
        let mut c = Contacts::default();
        c.add("info@shop.example", "shop-a", when);
        c.add("info@shop.example", "shop-b", when);
        let events = |mail: &str| {
            let parsed = mailparse::parse_mail(mail.as_bytes()).unwrap();
            events_of(&parsed, "agency.example", &c, Utc::now())
        };
        let leads = |r: std::result::Result<Vec<Message>, Skip>| -> Vec<(String, String)> {
            r.ok()
                .unwrap()
                .into_iter()
                .map(|m| (m.topic, m.lead_id))
                .collect()
        };
        let bounce = "From: MAILER-DAEMON@mx.example\nSubject: Undelivered Mail Returned to Sender\n\n<info@shop.example>: host mx said: 550 5.1.1 User unknown (in reply to RCPT TO command)\n";
        assert_eq!(
            leads(events(bounce)),
            [
                ("lead.bounced".into(), "shop-a".into()),
                ("lead.bounced".into(), "shop-b".into())
            ]
        );
        let opt_out =
            "From: info@shop.example\nSubject: Re: your page\n\nPlease take us off your list.\n";
        assert_eq!(leads(events(opt_out)).len(), 2, "both are unsubscribed");
        let by_subject = "From: forwarder@elsewhere.example\nSubject: unsubscribe shop-b\n\n";
        assert_eq!(
            leads(events(by_subject)),
            [("lead.unsubscribed".into(), "shop-b".into())]
        );
        let reply = "From: info@shop.example\nSubject: Re: your page\n\nCall me.\n";
        assert!(
            events(reply).err().is_some_and(|s| s.attention),
            "a reply asks a person"
        );
    }

    #[test]
    fn an_address_shared_by_leads_emailed_at_once_is_nobody_s() {
        let day = |d: u32| chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, d, 9, 0, 0).single();
        let mut c = Contacts::default();
        c.add("info@shop.example", "shop-a", day(2));
        c.add("info@shop.example", "shop-b", day(2));
        assert_eq!(c.lead("info@shop.example"), None);
        assert_eq!(c.ambiguous("info@shop.example").map(|l| l.len()), Some(2));
        c.add("info@shop.example", "shop-c", day(3));
        assert_eq!(c.lead("info@shop.example"), Some("shop-c"));
    }

    #[test]
    fn an_address_shared_by_leads_belongs_to_the_one_emailed_last() {
        let day = |d: u32| chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, d, 9, 0, 0).single();
        let mut c = Contacts::default();
        c.add("Info@Shop.example", "shop-a", day(2));
        c.add("info@shop.example", "shop-b", day(5));
        c.add("info@shop.example", "shop-c", day(3));
        assert_eq!(c.lead("INFO@shop.example"), Some("shop-b"));
        assert_eq!(c.lead("other@shop.example"), None);
    }

    #[test]
    fn html_letters_that_change_length_in_lower_case_keep_the_cut_in_place() {
        // U+212A KELVIN SIGN is 3 bytes; its lower case "k" is 1: full case folding would move
        // every offset after it and cut inside a character.
        let kelvin = "\u{212A}".repeat(10);
        let html = format!("<p>hello</p><p>{kelvin}</p><blockquote>old text</blockquote>");
        let text = html_text(&html);
        assert!(text.contains(&kelvin), "{text:?}");
        assert!(!text.contains("old text"), "{text:?}");
    }

    #[test]
    fn elements_are_dropped_in_one_pass_whatever_their_case() {
        let html = "a<STYLE>x</style>b<style>y</STYLE>c<script>z";
        assert_eq!(drop_elements(html, &["style", "script"]), "abc");
        let many = "<style>s</style>w".repeat(50_000);
        assert_eq!(drop_elements(&many, &["style"]), "w".repeat(50_000));
    }
}
