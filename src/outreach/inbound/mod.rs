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
use super::bus::MessageBus;
use crate::error::{InputError, Location, Result};
use crate::fsutil;
pub use classify::{asks_to_stop, classify};
use events::{events_of, Skip};

mod classify;
mod events;

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

#[cfg(test)]
mod tests {
    use super::classify::{drop_elements, html_text};
    use super::*;
    use crate::outreach::bus::Message;

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
