//! Bounce and complaint recognition: what a mail server's report says about each recipient of a
//! message we sent, the way a dedicated bounce parser (sisimai) reads it.
//!
//! A report is found in any of the forms real servers send: RFC 3464 `message/delivery-status`
//! parts (also pasted as plain text), `X-Failed-Recipients`, the plain-text notices of Exim,
//! qmail, Gmail, Yahoo, OpenSMTPD, Exchange and others, Amazon SES JSON notifications, and RFC 5965
//! ARF complaints (`message/feedback-report`). Each failed recipient gets a [`Reason`] from its
//! status code, SMTP reply code and diagnostic text together; only the reasons that mean "this
//! address will never work" are [`Class::Hard`]. `Action: delayed` / `relayed` / `delivered` and
//! 2.x.x reports are [`Class::Ignore`]: a delay notice must never cause a resend.
//!
//! The original message is found by its Message-ID wherever the report quotes it (a
//! `message/rfc822` or `text/rfc822-headers` part, or headers pasted below the notice), so a
//! report can be matched to the message we sent even when the recipient is not named.

mod formats;
mod reasons;

use formats::*;
pub use reasons::diagnose;
use reasons::*;

use mailparse::{MailHeaderMap, ParsedMail};
use regex::Regex;
use std::sync::LazyLock;

/// What a report means for one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The address will never work: stop and suppress.
    Hard,
    /// Try again later, with back-off.
    Soft,
    /// An abuse complaint (ARF): the recipient is unsubscribed and suppressed.
    Complaint,
    /// Delivered, relayed or only delayed: nothing to do.
    Ignore,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Hard => "hard",
            Class::Soft => "soft",
            Class::Complaint => "complaint",
            Class::Ignore => "ignore",
        }
    }
}

/// One recipient's outcome in a report.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The failed recipient, lower-cased, when the report names it.
    pub recipient: Option<String>,
    /// The DSN status code (`5.1.1`), when there is one.
    pub status: String,
    /// The SMTP reply code (`550`), when there is one.
    pub reply_code: String,
    /// The server's words, whitespace folded, at most 300 characters.
    pub diagnostic: String,
    /// sisimai's reason names: userunknown, hostunknown, mailboxfull, blocked, …
    pub reason: &'static str,
    pub class: Class,
    /// The address the sender wrote, when the report names another than the failed one (an
    /// alias forwarded elsewhere: `Original-Recipient`), to find the lead by.
    pub original_recipient: Option<String>,
    /// The SMTP command the server refused, as the notice's words name it.
    command: Command,
}

/// A delivery report or complaint.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// One entry per recipient the report speaks of (at least one).
    pub failures: Vec<Failure>,
    /// Message-IDs of the original message, as quoted in the report.
    pub original_ids: Vec<String>,
}

/// Reasons that mean the address will never work; every other reason is soft.
const HARD: [&str; 4] = ["userunknown", "hostunknown", "hasmoved", "notaccept"];

static STATUS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b").unwrap());
static REPLY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[\s:(\[#<])([245][0-5]\d)(?:[\s\-:,)\]]|$)").unwrap());
/// A domain name (no `@` before it) said not to exist.
static DOMAIN_DOES_NOT_EXIST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[\s:<(])(?:[a-z0-9\-]+\.)+[a-z]{2,}>?:? does not exist").unwrap()
});
/// An address in angle brackets.
static ANGLED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"<([^<>@\s]+@[^<>@\s]+)>").unwrap());
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+").unwrap()
});

/// Reads a mail as a delivery report or complaint; `None` when it is neither.
pub fn parse(m: &ParsedMail) -> Option<Report> {
    let parts = all_parts(m);
    let original_ids = original_ids(m, &parts);
    // ARF (RFC 5965) abuse reports.
    if let Some(fb) = parts
        .iter()
        .find(|p| p.ctype.mimetype == "message/feedback-report")
    {
        let body = fb.get_body().unwrap_or_default();
        let mut recipients = fields(&body, &["Original-Rcpt-To", "Removal-Recipient"]);
        if recipients.is_empty() {
            recipients = original_header_addresses(&parts, "To");
        }
        return Some(complaint(recipients, original_ids));
    }
    // Hotmail/Outlook.com JMRP: the complained-of message alone, with its original recipient.
    let jmrp = original_header_addresses(&parts, "X-HmXmrOriginalRecipient");
    let jmrp_subject = header(m, "Subject")
        .to_lowercase()
        .starts_with("complaint about message from");
    let quotes_a_message = parts.iter().any(|p| p.ctype.mimetype == "message/rfc822");
    if !jmrp.is_empty() || (jmrp_subject && quotes_a_message) {
        let recipients = if jmrp.is_empty() {
            original_header_addresses(&parts, "To")
        } else {
            jmrp
        };
        return Some(complaint(recipients, original_ids));
    }
    if let Some(report) = ses_notification(&parts, &original_ids) {
        return Some(report);
    }
    if let Some(report) = list_refusal(m, &parts, &original_ids) {
        return Some(report);
    }
    // RFC 3464 fields, in a delivery-status part or pasted into the text.
    let dsn_texts: Vec<String> = parts
        .iter()
        .filter(|p| {
            matches!(
                p.ctype.mimetype.as_str(),
                "message/delivery-status" | "message/global-delivery-status"
            )
        })
        .map(|p| p.get_body().unwrap_or_default())
        .collect();
    let subject = header(m, "Subject").to_lowercase();
    let from = header(m, "From").to_lowercase();
    // An automatic message (null sender, Auto-Submitted) is a report only with a bounce's
    // subject: out-of-office replies are automatic too. A bounce-like subject alone is no report
    // either: a person may write "Re: delivery failed?".
    let automatic = header(m, "Return-Path").trim() == "<>"
        || !matches!(header(m, "Auto-Submitted").trim(), "" | "no");
    let returns_a_message = parts.iter().any(|p| {
        p.ctype.mimetype == "message/rfc822" || p.ctype.mimetype.ends_with("rfc822-headers")
    });
    let bounce_subject = BOUNCE_SUBJECTS.iter().any(|s| subject.contains(s));
    // A no-reply sender returning our message under a bounce's subject is a mail system too
    // (KDDI's au one net sends its notices so).
    let automatic = automatic || (is_no_reply(&from) && returns_a_message && bounce_subject);
    let report_type = m.ctype.params.get("report-type").map(|s| s.as_str());
    // A person's mail is a reply, even one that forwards or quotes an old bounce: only a real
    // delivery-status part would make it a report.
    if !is_daemon(&from)
        && !automatic
        && dsn_texts.is_empty()
        && report_type != Some("delivery-status")
    {
        return None;
    }
    let notice = notice_text(m, &parts);
    let failed_header = header(m, "X-Failed-Recipients");
    let agent = Agent::of(m);
    let plain = plain_text(&notice, &failed_header, &exclusions(m), agent);
    let mut failures = Vec::new();
    // Last, the whole mail as text: a forwarded report, or MIME boundaries that do not match.
    let whole = String::from_utf8_lossy(m.raw_bytes).into_owned();
    let candidates = dsn_texts.iter().map(|t| (t, true));
    for (text, part) in candidates.chain([(&notice, false), (&whole, false)]) {
        failures.extend(dsn_fields(text, part, &notice, &plain, agent));
        if !failures.is_empty() {
            break;
        }
    }
    let structured = !failures.is_empty()
        || !dsn_texts.is_empty()
        || !failed_header.is_empty()
        || report_type == Some("delivery-status");
    // A mailer daemon's or an automatic mail with a bounce's marks; never an out-of-office reply
    // (automatic, maybe with our message attached) unless it carries a delivery-status part.
    let looks_like_bounce = !(is_auto_reply_subject(&subject) && dsn_texts.is_empty())
        && (structured
            || ((is_daemon(&from) || automatic) && (returns_a_message || bounce_subject))
            || (is_daemon(&from) && automatic)
            || is_mailer_daemon(&from));
    if !looks_like_bounce {
        return None;
    }
    if failures.is_empty() {
        failures = plain;
        // A plain-text warning that delivery is still being tried (Exim's "message delayed
        // 24 hours") changes nothing, like `Action: delayed`.
        let words = format!("{subject} {}", notice.to_lowercase());
        if DELAYED.iter().any(|w| words.contains(w)) && !GIVEN_UP.iter().any(|w| words.contains(w))
        {
            for f in &mut failures {
                f.class = Class::Ignore;
                f.reason = "delayed";
            }
        }
    }
    if failures.is_empty() {
        // A notice that names no recipient speaks of the quoted message's: its To:, else nobody
        // (the whole text is then the diagnostic of the one message its Message-ID names).
        let mut quoted = original_header_addresses(&parts, "To");
        if quoted.is_empty() {
            quoted = quoted_to(&whole, &exclusions(m));
        }
        match quoted.as_slice() {
            [one] => failures.push(diagnose(Some(one.clone()), "", &notice)),
            _ => failures.push(diagnose(None, "", &notice)),
        }
    }
    Some(Report {
        failures,
        original_ids,
    })
}

const BOUNCE_SUBJECTS: [&str; 30] = [
    "メールエラー",
    "配信エラー",
    "配送エラー",
    "undelivered mail",
    "undeliverable",
    "delivery status notification",
    "delivery failure",
    "delivery failed",
    "mail delivery failed",
    "failure notice",
    "returned mail",
    "returned to sender",
    "mail system error",
    "delivery notification",
    "non-delivery",
    "nondeliverable",
    "could not be delivered",
    "message not delivered",
    "delivery has failed",
    "unzustellbar",
    "non remis",
    "nicht zustellbar",
    "no se pudo entregar",
    "mail could not be delivered",
    "delivery problem",
    "failed delivery",
    "rejected:",
    "failure delivery",
    "mail failed",
    "returning to sender",
];

/// Subjects of automatic replies, lower-case, in the languages leads write in.
const AUTO_SUBJECTS: [&str; 24] = [
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "autoresponse",
    "out of office",
    "out of the office",
    "away from the office",
    "on vacation",
    "abwesenheitsnotiz",
    "automatische antwort",
    "abwesend",
    "réponse automatique",
    "reponse automatique",
    "message d'absence",
    "absence du bureau",
    "respuesta automática",
    "respuesta automatica",
    "fuera de la oficina",
    "fuera de oficina",
    "αυτοματη απαντηση",
    "εκτος γραφειου",
    "risposta automatica",
];

/// Whether a subject is an automatic reply's (out of office, vacation, …), in English, German,
/// French, Spanish, Italian or Greek (accents and case do not matter in Greek).
pub fn is_auto_reply_subject(subject: &str) -> bool {
    let s = fold(subject);
    AUTO_SUBJECTS.iter().any(|a| s.contains(a))
}

/// Lower case, Greek accents dropped ("ΑΥΤΌΜΑΤΗ" and "αυτόματη" both read "αυτοματη").
pub fn fold(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| match c {
            'ά' => 'α',
            'έ' => 'ε',
            'ή' => 'η',
            'ί' | 'ϊ' | 'ΐ' => 'ι',
            'ό' => 'ο',
            'ύ' | 'ϋ' | 'ΰ' => 'υ',
            'ώ' => 'ω',
            '’' | '‘' => '\'',
            c => c,
        })
        .collect()
}

/// Recipients read from one plain-text notice at most.
const MAX_RECIPIENTS: usize = 50;

/// Bytes of a notice read at most: a report states its business at the top.
const MAX_NOTICE: usize = 256 * 1024;

/// Words of a notice that delivery is still being tried.
const DELAYED: [&str; 17] = [
    "this is a warning message only",
    "do not need to resend",
    "has been delayed",
    "delivery delayed",
    "delivery has been delayed",
    "hasn't been delivered yet",
    "has not been delivered yet",
    "not been delivered yet",
    "has not yet been delivered",
    "not yet been delivered",
    "will continue to try",
    "will keep trying",
    "will retry",
    "still trying",
    "no action is required on your part",
    "delivery incomplete",
    "warning: message",
];

/// Words of a notice that delivery was given up.
const GIVEN_UP: [&str; 6] = [
    "given up",
    "giving up",
    "gave up",
    "permanent",
    "could not be delivered",
    "expired",
];

/// A sender that is a mail system: `postmaster` too (a person may write from it).
fn is_daemon(from: &str) -> bool {
    is_mailer_daemon(from) || from.contains("postmaster")
}

/// A sender address that takes no replies.
fn is_no_reply(from: &str) -> bool {
    ["no-reply@", "noreply@", "do-not-reply@", "donotreply@"]
        .iter()
        .any(|d| from.contains(d))
}

/// Subjects of a mailing-list manager's refusals (fml, Majordomo-style), by reason.
const LIST_REFUSALS: [(&str, &str); 6] = [
    ("not member", "rejected"),
    ("not a member", "rejected"),
    ("reject mail", "rejected"),
    ("loop alert", "systemerror"),
    ("loop back warning", "systemerror"),
    ("system error message", "systemerror"),
];

/// A mailing-list manager's refusal of our message (its `X-MLServer`, a refusal's subject): the
/// lead's address is a list that did not take it. Soft: nothing says the address is dead.
fn list_refusal(m: &ParsedMail, parts: &[&ParsedMail], original_ids: &[String]) -> Option<Report> {
    m.headers.get_first_value("X-MLServer")?;
    let subject = header(m, "Subject").to_lowercase();
    let (_, reason) = LIST_REFUSALS.iter().find(|(s, _)| subject.contains(s))?;
    let notice = notice_text(m, parts);
    let exclude = exclusions(m);
    // The list's address, as the notice names it (`<list@example.org>`).
    let recipient = ANGLED
        .captures_iter(&notice)
        .map(|c| clean_address(&c[1]))
        .find(|a| !exclude.contains(a));
    let mut failure = diagnose(recipient, "", &notice);
    failure.reason = reason;
    failure.class = Class::Soft;
    Some(Report {
        failures: vec![failure],
        original_ids: original_ids.to_vec(),
    })
}

/// A sender no person writes from.
fn is_mailer_daemon(from: &str) -> bool {
    [
        "mailer-daemon",
        "post_master",
        "mail delivery",
        "mail administrator",
    ]
    .iter()
    .any(|d| from.contains(d))
}

fn header(m: &ParsedMail, name: &str) -> String {
    m.headers.get_first_value(name).unwrap_or_default()
}

fn all_parts<'a>(m: &'a ParsedMail<'a>) -> Vec<&'a ParsedMail<'a>> {
    let mut out = vec![m];
    for p in &m.subparts {
        out.extend(all_parts(p));
    }
    out
}

/// The first human-readable text of the report, without the quoted original message.
fn notice_text(m: &ParsedMail, parts: &[&ParsedMail]) -> String {
    let text = parts
        .iter()
        .find(|p| p.subparts.is_empty() && p.ctype.mimetype.starts_with("text/plain"))
        .or_else(|| parts.iter().find(|p| p.subparts.is_empty()))
        .and_then(|p| p.get_body().ok())
        .unwrap_or_default();
    let text = if text.trim().is_empty() && m.subparts.is_empty() {
        m.get_body().unwrap_or_default()
    } else {
        text
    };
    let cut = (0..=text.len().min(MAX_NOTICE))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    strip_original(&text[..cut].replace("\r\n", "\n"))
}

/// The addresses of the first `To:` line below the report's own headers (a quoted original),
/// less the report's own sender and receiver.
fn quoted_to(whole: &str, exclude: &[String]) -> Vec<String> {
    let body = whole
        .replace("\r\n", "\n")
        .split_once("\n\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    body.lines()
        .find_map(|l| {
            let (k, v) = l.trim_start_matches(['>', ' ']).split_once(':')?;
            k.eq_ignore_ascii_case("to").then_some(v.to_string())
        })
        .map(|v| {
            ADDRESS
                .find_iter(&v)
                .map(|a| clean_address(a.as_str()))
                .filter(|a| !exclude.contains(a))
                .collect()
        })
        .unwrap_or_default()
}

/// Lines at which a notice starts quoting the original message.
static ORIGINAL_MARK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?im)^[\s\-=_*]*(?:this is a copy of the message|below this line is a copy|original message (?:follows|header)|the original message (?:follows|is (?:attached|included|below))|the header of the original message|-+ ?original message|-+ ?forwarded message|the first \d+ lines of|your message reads|unsent message (?:below|follows)|content-type: message/rfc822|message headers follow|headers of the original|a copy of the original message|--- below is the original)",
    )
    .unwrap()
});

fn strip_original(text: &str) -> String {
    let cut = ORIGINAL_MARK.find(text).map_or(text.len(), |m| m.start());
    let text = &text[..cut];
    // Headers pasted without a marker: a block of `Received:` / `Return-Path:` lines.
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let l = line.trim_start_matches('>').trim_start();
        let lower = l.to_ascii_lowercase();
        if offset > 0
            && (lower.starts_with("return-path:")
                || lower.starts_with("received: from")
                || lower.starts_with("message-id:"))
        {
            return text[..offset].to_string();
        }
        offset += line.len();
    }
    text.to_string()
}

/// Values of RFC 822-style fields (`Name: value`) in a text, addresses only, lower-cased.
fn fields(text: &str, names: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if names.iter().any(|n| k.trim().eq_ignore_ascii_case(n)) {
            for a in ADDRESS.find_iter(v) {
                push_unique(&mut out, clean_address(a.as_str()));
            }
        }
    }
    out
}

fn push_unique(v: &mut Vec<String>, s: String) {
    crate::text::push_unique(v, &s);
}

fn clean_address(a: &str) -> String {
    a.trim_matches(|c: char| matches!(c, '<' | '>' | '.' | '"' | '\'' | ';' | ','))
        .to_lowercase()
}

fn complaint(recipients: Vec<String>, original_ids: Vec<String>) -> Report {
    let failures = if recipients.is_empty() {
        vec![None]
    } else {
        recipients.into_iter().map(Some).collect()
    }
    .into_iter()
    .map(|recipient| Failure {
        recipient,
        status: String::new(),
        reply_code: String::new(),
        diagnostic: "abuse complaint (feedback report)".into(),
        reason: "feedback",
        class: Class::Complaint,
        original_recipient: None,
        command: Command::Unknown,
    })
    .collect();
    Report {
        failures,
        original_ids,
    }
}

/// The Message-IDs of the quoted original: from `message/rfc822` and header parts, else from
/// headers pasted into the text (any Message-ID after the report's own headers).
fn original_ids(m: &ParsedMail, parts: &[&ParsedMail]) -> Vec<String> {
    let mut ids = Vec::new();
    for p in parts {
        let t = p.ctype.mimetype.as_str();
        if t == "message/rfc822" || t.ends_with("rfc822-headers") || t == "message/global" {
            if let Ok(raw) = p.get_body_raw() {
                if let Ok(inner) = mailparse::parse_mail(&raw) {
                    ids.extend(inner.headers.get_all_values("Message-ID"));
                }
            }
        }
    }
    let own = header(m, "Message-ID");
    for p in parts.iter().filter(|p| p.subparts.is_empty()) {
        let body = p.get_body().unwrap_or_default();
        for line in body.lines() {
            let l = line.trim_start_matches(['>', ' ', '\t']);
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("Message-ID") && v.contains('@') {
                    ids.push(v.trim().to_string());
                }
            }
        }
    }
    let mut out = Vec::new();
    for id in ids {
        let id = id.trim().to_string();
        if !id.is_empty() && id != own.trim() && !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// Addresses in a header of the quoted original message (the `To:` of the message we sent).
fn original_header_addresses(parts: &[&ParsedMail], name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in parts {
        let t = p.ctype.mimetype.as_str();
        if t == "message/rfc822" || t.ends_with("rfc822-headers") {
            if let Ok(raw) = p.get_body_raw() {
                if let Ok(inner) = mailparse::parse_mail(&raw) {
                    for v in inner.headers.get_all_values(name) {
                        for a in ADDRESS.find_iter(&v) {
                            push_unique(&mut out, clean_address(a.as_str()));
                        }
                    }
                }
            }
        }
    }
    out
}

/// RFC 3464 per-recipient fields. `notice` is the human-readable text, searched for a diagnostic
/// when the fields carry none.
/// `part`: the text is a delivery-status part, where fields without a recipient still speak of
/// one; in any other text only fields naming a recipient count (a person may write "Status:").
#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Option<Report> {
        parse(&mailparse::parse_mail(s.as_bytes()).unwrap())
    }

    #[test]
    fn a_reply_is_not_a_bounce() {
        assert_eq!(
            parse_str("From: owner@shop.example\nSubject: Re: your page\n\nLooks good!\n"),
            None
        );
        // Words a bounce uses, written by a person: still a reply (a soft bounce would resend).
        assert_eq!(
            parse_str("From: owner@shop.example\nSubject: Re: Undeliverable? returned mail\n\nStatus: 5 stars from us.\nAction: call me, bob@shop.example\n"),
            None
        );
    }

    #[test]
    fn reasons_read_status_and_words_together() {
        let r = |status: &str, text: &str| {
            let text = text.to_lowercase();
            reason(status, &text, command(&text))
        };
        assert_eq!(r("5.1.1", "550 5.1.1 User unknown"), "userunknown");
        assert_eq!(
            r("4.1.1", "user unknown"),
            "userunknown",
            "hard whatever the class"
        );
        assert_eq!(r("5.2.2", "mailbox full"), "mailboxfull");
        assert_eq!(
            r("5.0.0", "552 mailbox full"),
            "mailboxfull",
            "soft despite 5.x.x"
        );
        assert_eq!(r("5.7.1", "too many connections"), "toomanyconn");
        assert_eq!(r("5.1.1", "blocked by spamhaus"), "blocked");
        assert_eq!(r("2.0.0", "ok"), "delivered");
        assert_eq!(r("", "Host or domain name not found"), "hostunknown");
    }

    fn first(mail: &str) -> Failure {
        parse_str(mail).expect("a report").failures.remove(0)
    }

    #[test]
    fn user_unknown_is_hard_only_when_the_address_was_refused() {
        let notice = |words: &str| {
            format!("From: MAILER-DAEMON@mx.example\nTo: sam@agency.example\nSubject: Undelivered Mail Returned to Sender\n\n<owner@shop.example>: {words}\n")
        };
        let class = |words: &str| first(&notice(words)).class;
        assert_eq!(
            class("host mx said: 550 5.1.1 User unknown (in reply to RCPT TO command)"),
            Class::Hard
        );
        assert_eq!(
            class("550 5.1.1 <owner@shop.example>... User unknown"),
            Class::Hard,
            "X.1.1"
        );
        // After DATA the message, not the mailbox, was refused: a filter's answer.
        assert_eq!(
            class("SMTP error from remote mail server after end of data: 550 User unknown"),
            Class::Soft
        );
        assert_eq!(
            class("550 5.0.0 User unknown"),
            Class::Soft,
            "no status or command says so"
        );
        assert_eq!(
            class("550 Requested action not taken: RecipientNotFound"),
            Class::Hard,
            "the words say so"
        );
        // A refused sender says nothing about the recipient.
        assert_eq!(class("SMTP error after MAIL FROM:<sam@agency.example>: 553 5.1.8 Domain of sender address does not exist"), Class::Soft);
        assert_eq!(
            first(&notice("552 5.2.2 Mailbox full")).reason,
            "mailboxfull"
        );
    }

    #[test]
    fn a_sendmail_transcript_names_the_command_on_the_address_line() {
        let mail = "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example>\nTo: sam@agency.example\nSubject: Returned mail: User unknown\n\n   ----- Transcript of session follows -----\n>>> RCPT To:<owner@shop.example>\n<<< 550 <owner@shop.example>, User Unknown\n>>> DATA\n<<< 503 Need RCPT\n";
        let f = first(mail);
        assert_eq!(f.recipient.as_deref(), Some("owner@shop.example"));
        assert_eq!(f.class, Class::Hard);
    }

    #[test]
    fn powermta_s_own_category_counts_and_a_forwarded_bounce_is_a_reply() {
        let pmta = "From: MAILER-DAEMON@pmta.example\nTo: sam@agency.example\nSubject: Delivery report\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822;owner@shop.example\nAction: failed\nStatus: 5.0.0\nX-PowerMTA-BounceCategory: bad-mailbox\n--b--\n";
        assert_eq!(first(pmta).class, Class::Hard);
        // A person forwarding or quoting a bounce writes a reply (whose In-Reply-To may name our
        // message): it must not bounce, and suppress, the lead it answers for.
        let forwarded = "From: owner@shop.example\nSubject: Fwd: Returned mail\nIn-Reply-To: <shop.intro.1@agency.example>\n\nYes, interested! Also this came back:\n> Final-Recipient: RFC822; old@shop-old.example\n> Action: failed\n> Status: 5.1.1\n";
        assert_eq!(parse_str(forwarded), None);
    }

    #[test]
    fn a_notice_naming_nobody_speaks_of_the_quoted_message_s_recipient() {
        let mail = "From: MAILER-DAEMON@mx.example\nTo: sam@agency.example\nSubject: Returned mail: see transcript\n\n----- Transcript of session follows -----\n421 shop.example (smtp)... Deferred: Connection timed out\n\n----- Unsent message follows -----\nFrom: sam@agency.example\nTo: owner@shop.example\nSubject: Hello\n\nHi\n";
        let f = first(mail);
        assert_eq!(f.recipient.as_deref(), Some("owner@shop.example"));
        assert_eq!(f.class, Class::Soft);
    }

    #[test]
    fn a_mailing_list_s_refusal_is_a_soft_bounce_of_the_list() {
        let mail = "From: neko-admin@lists.example\nTo: sam@agency.example\nSubject: You sam@agency.example are not member (neko ML)\nX-MLServer: fml [fml 4.0.3]\n\nYou are not a member of this mailing list <neko@lists.example>.\n";
        let f = first(mail);
        assert_eq!(f.recipient.as_deref(), Some("neko@lists.example"));
        assert_eq!((f.class, f.reason), (Class::Soft, "rejected"));
        // The same words from a list without a list manager's mark are a person's reply.
        assert_eq!(parse_str(&mail.replace("X-MLServer", "X-Other")), None);
    }

    #[test]
    fn a_no_reply_sender_returning_our_message_is_a_mail_system() {
        let mail = "From: no-reply@mx.example\nTo: sam@agency.example\nSubject: Mail delivery failed\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nCould not be delivered to: <owner@shop.example>\n     As their mailbox is full.\n--b\nContent-Type: message/rfc822\n\nFrom: sam@agency.example\nTo: owner@shop.example\nSubject: Hello\n\nHi\n--b--\n";
        let f = first(mail);
        assert_eq!(f.recipient.as_deref(), Some("owner@shop.example"));
        assert_eq!((f.class, f.reason), (Class::Soft, "mailboxfull"));
        // Without our message returned it may be a ticket system's acknowledgement.
        let ack = "From: no-reply@shop.example\nTo: sam@agency.example\nSubject: Mail delivery failed\n\nThanks, we got it.\n";
        assert_eq!(parse_str(ack), None);
    }

    #[test]
    fn a_domain_that_does_not_exist_and_a_mailbox_on_hold() {
        let r = |text: &str| {
            let text = text.to_lowercase();
            reason("5.0.0", &text, command(&text))
        };
        assert_eq!(r("553 shop.example does not exist"), "hostunknown");
        assert_eq!(
            r("550 <owner@shop.example> does not exist (in reply to RCPT TO command)"),
            "userunknown"
        );
        assert_eq!(
            r("550 5.0.0 <owner@shop.example>: Recipient address rejected: On hold"),
            "onhold"
        );
    }

    #[test]
    fn the_refused_command_is_read_from_all_of_a_long_notice() {
        // The notice names RCPT further on than the 300 characters a diagnostic keeps; the
        // fields' status (5.7.1) alone would make "no such user" a filter's answer.
        let mail = format!(
            "From: mailer-daemon@mx.example\nTo: sam@agency.example\nSubject: Undelivered Mail Returned to Sender\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: text/plain\n\n<owner@shop.example>: {}\nServer answer: 550 5.7.1 No such user!\n\n<owner@shop.example>: host mx.shop.example said:\n    550 5.7.1 No such user! (in reply to RCPT TO command)\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; owner@shop.example\nAction: failed\nStatus: 5.7.1\nDiagnostic-Code: smtp; 550 5.7.1 No such user!\n--b--\n",
            "the message could not be delivered; ".repeat(8)
        );
        let f = first(&mail);
        assert_eq!((f.class, f.reason), (Class::Hard, "userunknown"));
    }

    #[test]
    fn no_smtp_service_is_a_refusal_of_our_server_not_a_dead_domain() {
        let mail = "From: MAILER-DAEMON@mx.example\nTo: sam@agency.example\nSubject: Mail delivery failed\n\nThe following address failed:\n\n\"owner@shop.example\":\nSMTP error from remote server for RCPT TO command, host: mx.shop.example reason: 554-No SMTP service\n554 Reject due to policy restrictions.\n";
        let f = first(mail);
        assert_eq!(f.class, Class::Soft, "{f:?}");
    }

    #[test]
    fn an_alias_forwarded_elsewhere_keeps_the_address_we_wrote_to() {
        let mail = "From: MAILER-DAEMON@mx.example\nTo: sam@agency.example\nSubject: Delivery Status Notification (Failure)\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; owner.private@mail.example\nOriginal-Recipient: rfc822;info@shop.example\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\n--b--\n";
        let f = first(mail);
        assert_eq!(f.recipient.as_deref(), Some("owner.private@mail.example"));
        assert_eq!(f.original_recipient.as_deref(), Some("info@shop.example"));
    }

    #[test]
    fn a_delay_notice_changes_nothing() {
        let mail = "From: MAILER-DAEMON@mx.example\nTo: sam@agency.example\nSubject: Delivery Status Notification (Delay)\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: text/plain\n\nStill trying.\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; owner@shop.example\nAction: delayed\nStatus: 4.4.7\n--b--\n";
        let r = parse_str(mail).unwrap();
        assert_eq!(r.failures.len(), 1);
        assert_eq!(r.failures[0].class, Class::Ignore);
        assert_eq!(
            r.failures[0].recipient.as_deref(),
            Some("owner@shop.example")
        );
    }
}
