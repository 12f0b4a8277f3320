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
fn dsn_fields(
    text: &str,
    part: bool,
    notice: &str,
    plain: &[Failure],
    agent: Agent,
) -> Vec<Failure> {
    // Unfold continuation lines first.
    let mut lines: Vec<String> = Vec::new();
    for line in text.replace("\r\n", "\n").lines() {
        if (line.starts_with(' ') || line.starts_with('\t')) && !line.trim().is_empty() {
            if let Some(last) = lines.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
                continue;
            }
        }
        lines.push(line.to_string());
    }
    #[derive(Default)]
    struct Block {
        recipient: Option<String>,
        original: Option<String>,
        action: String,
        status: String,
        diagnostic: String,
        /// PowerMTA's own verdict (`X-PowerMTA-BounceCategory`).
        category: String,
    }
    let mut blocks: Vec<Block> = Vec::new();
    let mut current: Option<Block> = None;
    for line in &lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        // A forwarded report quotes its fields ("> Status: 5.1.1").
        let k = k
            .trim_start_matches(['>', ' ', '\t'])
            .trim()
            .to_ascii_lowercase();
        let v = v.trim();
        let value_address = || {
            let v = v.split_once(';').map_or(v, |(_, a)| a);
            ADDRESS
                .find(v)
                .map(|a| clean_address(a.as_str()))
                .or_else(|| (!v.trim().is_empty()).then(|| v.trim().to_lowercase()))
        };
        match k.as_str() {
            "final-recipient" => match current.as_mut() {
                // Original-Recipient came first: the same recipient's block.
                Some(b) if b.recipient.is_none() && b.status.is_empty() => {
                    b.recipient = value_address();
                }
                _ => {
                    blocks.extend(current.take());
                    current = Some(Block {
                        recipient: value_address(),
                        ..Block::default()
                    });
                }
            },
            "original-recipient" => {
                let b = current.get_or_insert_with(Block::default);
                if b.original.is_none() {
                    b.original = value_address();
                }
            }
            "action" => current.get_or_insert_with(Block::default).action = v.to_lowercase(),
            "status" => current.get_or_insert_with(Block::default).status = v.to_string(),
            "diagnostic-code" => {
                let v = v.split_once(';').map_or(v, |(_, d)| d);
                current.get_or_insert_with(Block::default).diagnostic = v.trim().to_string();
            }
            "x-powermta-bouncecategory" => {
                current.get_or_insert_with(Block::default).category = v.trim().to_lowercase();
            }
            _ => {}
        }
    }
    blocks.extend(current);
    blocks.retain(|b| {
        b.recipient.is_some() || b.original.is_some() || (part && !b.status.is_empty())
    });
    let mut seen = Vec::new();
    let unnamed = plain.len() == blocks.len();
    blocks
        .into_iter()
        .enumerate()
        .filter_map(|(i, b)| {
            let recipient = b
                .recipient
                .filter(|r| r.contains('@'))
                .or(b.original.clone().filter(|r| r.contains('@')))
                // Fields without an address (some agents): the notice names them in order.
                .or_else(|| unnamed.then(|| plain[i].recipient.clone()).flatten());
            if let Some(r) = &recipient {
                if seen.contains(r) {
                    return None;
                }
                seen.push(r.clone());
            }
            // The diagnostic: the field, else what the notice says near the recipient.
            // The notice's words about this recipient also name the SMTP command refused.
            let in_notice = plain
                .iter()
                .find(|f| f.recipient.is_some() && f.recipient == recipient);
            let near = in_notice.map_or(notice, |f| f.diagnostic.as_str());
            // The command the notice names for this recipient, read from all its words.
            let otherwise = match in_notice.map(|f| f.command) {
                Some(Command::Unknown) | None => agent.command(),
                Some(c) => c,
            };
            let diagnostic = if b.diagnostic.is_empty() {
                near
            } else {
                &b.diagnostic
            };
            let original = b
                .original
                .filter(|o| o.contains('@') && Some(o) != recipient.as_ref());
            let mut f = diagnose_in(recipient, &b.status, diagnostic, near, otherwise);
            f.original_recipient = original;
            // The sending server's own verdict, where it gives one.
            if let Some((reason, class)) = powermta_category(&b.category) {
                f.reason = reason;
                f.class = class;
            }
            // A delay notice is no failure, unless it says the message was given up.
            let given_up = ["envelope expired", "given up", "giving up"]
                .iter()
                .any(|w| f.diagnostic.to_lowercase().contains(w));
            if (matches!(b.action.as_str(), "relayed" | "delivered" | "expanded")
                || (b.action == "delayed" && !given_up))
                || f.status.starts_with('2')
            {
                f.class = Class::Ignore;
                if b.action == "delivered" || f.status.starts_with('2') {
                    f.reason = "delivered";
                }
            }
            Some(f)
        })
        .collect()
}

/// Addresses that are not failed recipients: the report's own sender and receiver.
fn exclusions(m: &ParsedMail) -> Vec<String> {
    let mut out = Vec::new();
    for name in [
        "From",
        "To",
        "Return-Path",
        "Delivered-To",
        "Reply-To",
        "Sender",
        "Envelope-To",
        "Cc",
    ] {
        for v in m.headers.get_all_values(name) {
            for a in ADDRESS.find_iter(&v) {
                push_unique(&mut out, clean_address(a.as_str()));
            }
        }
    }
    out
}

/// Plain-text notices: each failed address with the text that follows it up to the next one.
fn plain_text(notice: &str, failed_header: &str, exclude: &[String], agent: Agent) -> Vec<Failure> {
    let listed: Vec<String> = ADDRESS
        .find_iter(failed_header)
        .map(|a| clean_address(a.as_str()))
        .collect();
    // Positions of candidate recipients in the notice.
    let mut hits: Vec<(usize, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for a in ADDRESS.find_iter(notice) {
        let addr = clean_address(a.as_str());
        let local = addr.split('@').next().unwrap_or("");
        // What stands just before the address (a few characters suffice).
        let from = (a.start().saturating_sub(16)..=a.start())
            .find(|&i| notice.is_char_boundary(i))
            .unwrap_or(a.start());
        let before = notice[from..a.start()].to_lowercase();
        let prefix_char = before.chars().last();
        if exclude.contains(&addr)
            || local == "mailer-daemon"
            || matches!(prefix_char, Some('=') | Some('/'))
            || (!listed.is_empty() && !listed.contains(&addr))
            // An address in the server's reply about the sender (MAIL FROM) is not a recipient.
            || before.ends_with("from:<")
        {
            continue;
        }
        if seen.insert(addr.clone()) {
            hits.push((a.start(), addr));
            // A report names a few recipients; a text full of addresses is no list of them.
            if hits.len() >= MAX_RECIPIENTS {
                break;
            }
        }
    }
    for a in &listed {
        if seen.insert(a.clone()) {
            hits.push((notice.len(), a.clone()));
        }
    }
    let mut out = Vec::new();
    for (i, (start, addr)) in hits.iter().enumerate() {
        let end = hits
            .iter()
            .skip(i + 1)
            .map(|(s, _)| *s)
            .find(|s| s > start)
            .unwrap_or(notice.len());
        // From the start of the address's line: ">>> RCPT To:<address>" names the command.
        let line_start = notice[..*start].rfind('\n').map_or(0, |i| i + 1);
        let own = notice.get(line_start..end).unwrap_or("");
        let mut f = diagnose_in(Some(addr.clone()), "", own, "", agent.command());
        if f.reason == "undefined" {
            // Nothing said after the address: the notice states one reason for all, before it.
            f = diagnose_in(Some(addr.clone()), "", notice, "", agent.command());
        }
        out.push(f);
    }
    out
}

/// Amazon SES notifications (JSON in the body, often via SNS).
fn ses_notification(parts: &[&ParsedMail], original_ids: &[String]) -> Option<Report> {
    let body = parts
        .iter()
        .filter(|p| p.subparts.is_empty())
        .filter_map(|p| p.get_body().ok())
        .find(|b| b.contains("notificationType") || b.contains("\"eventType\""))?;
    let start = body.find('{')?;
    let end = body.rfind('}')?;
    let json = &body[start..=end];
    let mut v: serde_json::Value = serde_json::from_str(json)
        .or_else(|_| serde_json::from_str(&json.replace(['\r', '\n'], "")))
        .ok()?;
    // Delivered through SNS: the notification is a JSON string in the envelope's Message.
    if let Some(inner) = v.get("Message").and_then(|m| m.as_str()) {
        v = serde_json::from_str(inner).ok()?;
    }
    let kind = v
        .get("notificationType")
        .or_else(|| v.get("eventType"))?
        .as_str()?
        .to_string();
    let mut ids = original_ids.to_vec();
    if let Some(id) = v
        .pointer("/mail/commonHeaders/messageId")
        .and_then(|x| x.as_str())
    {
        ids.push(id.to_string());
    }
    match kind.as_str() {
        "Bounce" => {
            let permanent =
                v.pointer("/bounce/bounceType").and_then(|x| x.as_str()) == Some("Permanent");
            let failures = v
                .pointer("/bounce/bouncedRecipients")?
                .as_array()?
                .iter()
                .map(|r| {
                    let s = |k: &str| r.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
                    let mut f = diagnose(
                        Some(clean_address(&s("emailAddress"))),
                        &s("status"),
                        &s("diagnosticCode"),
                    );
                    if !permanent && f.class == Class::Hard {
                        f.class = Class::Soft;
                    }
                    f
                })
                .collect();
            Some(Report {
                failures,
                original_ids: ids,
            })
        }
        "Complaint" => {
            let recipients = v
                .pointer("/complaint/complainedRecipients")
                .and_then(|x| x.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|r| r.get("emailAddress")?.as_str().map(clean_address))
                        .collect()
                })
                .unwrap_or_default();
            Some(complaint(recipients, ids))
        }
        "Delivery" => {
            let recipients: Vec<String> = v
                .pointer("/delivery/recipients")
                .and_then(|x| x.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|r| r.as_str().map(clean_address))
                        .collect()
                })
                .unwrap_or_default();
            let failures = recipients
                .into_iter()
                .map(|r| Failure {
                    recipient: Some(r),
                    status: "2.6.0".into(),
                    reply_code: "250".into(),
                    diagnostic: "delivered".into(),
                    reason: "delivered",
                    class: Class::Ignore,
                    original_recipient: None,
                    command: Command::Unknown,
                })
                .collect();
            Some(Report {
                failures,
                original_ids: ids,
            })
        }
        _ => None,
    }
}

/// Classifies one recipient from its status code and the server's words (which may hold the
/// SMTP reply code and a more specific status): also for providers' webhooks.
pub fn diagnose(recipient: Option<String>, status: &str, diagnostic: &str) -> Failure {
    diagnose_in(recipient, status, diagnostic, "", Command::Unknown)
}

/// [`diagnose`], with more of the report's words (`context`) to find the refused command in,
/// and the command to assume when no words name one (`otherwise`).
fn diagnose_in(
    recipient: Option<String>,
    status: &str,
    diagnostic: &str,
    context: &str,
    otherwise: Command,
) -> Failure {
    let text: String = crate::text::collapse_ws(diagnostic);
    // From the text, an error code before a success code (transcripts quote both).
    let pick = |re: &Regex, s: &str| -> Option<String> {
        let all: Vec<String> = re
            .captures_iter(s)
            .map(|c| {
                c.iter()
                    .skip(1)
                    .flatten()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .collect();
        all.iter()
            .find(|c| !c.starts_with('2'))
            .or(all.first())
            .cloned()
    };
    let in_text = pick(&STATUS, &text);
    let status = match pick(&STATUS, status) {
        // A generic field status; the server's own words may be more specific.
        Some(s) if s.ends_with(".0.0") => in_text.filter(|t| !t.ends_with(".0.0")).unwrap_or(s),
        Some(s) => s,
        None => in_text.unwrap_or_default(),
    };
    let reply_code = pick(&REPLY, &text).unwrap_or_default();
    let lower = text.to_lowercase();
    let command = match command(&lower) {
        Command::Unknown => match command_near(&context.to_lowercase()) {
            Command::Unknown => otherwise,
            c => c,
        },
        c => c,
    };
    let reason = reason(&status, &lower, command);
    let class = if reason == "delivered" {
        Class::Ignore
    } else if HARD.contains(&reason) {
        Class::Hard
    } else {
        Class::Soft
    };
    let diagnostic: String = text.chars().take(300).collect();
    Failure {
        recipient,
        status,
        reply_code,
        diagnostic,
        reason,
        class,
        original_recipient: None,
        command,
    }
}

/// Text patterns by reason, checked in this order: the soft reasons that a server words more
/// specifically come first, so "mailbox full (5.1.1)" or "blocked: user unknown to spam filter"
/// is not read as an unknown user.
const TEXT_REASONS: &[(&str, &[&str])] = &[
    (
        "mailboxfull",
        &[
            "mailbox full",
            "mailbox is full",
            "mailbox has exceeded",
            "mailbox size limit",
            "over quota",
            "overquota",
            "quota exceeded",
            "exceeded storage",
            "exceeds quota",
            "quota full",
            "disk quota",
            "insufficient disk space",
            "mailbox is over",
            "out of storage",
            "too much mail",
            "account is full",
            "user is over",
        ],
    ),
    ("onhold", &["on hold"]),
    (
        "toomanyconn",
        &[
            "too many connections",
            "too many simultaneous",
            "too many concurrent",
            "connection limit",
        ],
    ),
    (
        "mailererror",
        &[
            "procmail",
            "mailer error",
            "command died with status",
            "command output:",
        ],
    ),
    (
        "requireptr",
        &[
            "reverse dns",
            "ptr record",
            "dns ptr",
            "rdns",
            "reverse lookup",
        ],
    ),
    (
        "networkerror",
        &["malformed or unexpected name server", "name server reply"],
    ),
    (
        "speeding",
        &[
            "too many recipients",
            "rate limit",
            "too many messages",
            "rate exceeded",
            "try again later",
            "throttl",
        ],
    ),
    (
        "hasmoved",
        &["has been moved", "has moved", "address has changed"],
    ),
    (
        "notaccept",
        &[
            "does not accept mail",
            "does not accept any mail",
            "null mx",
            "not accepting mail",
            "accepts no mail",
            // Exim's words for a null MX (RFC 7505).
            "indicated no smtp service",
        ],
    ),
    (
        "hostunknown",
        &[
            "host unknown",
            "unknown host",
            "host not found",
            "domain not found",
            "no such domain",
            "unrouteable address",
            "unroutable address",
            "domain does not exist",
            "unknown domain",
            "domain name not found",
            "host or domain name not found",
            "name or service not known",
            "no mx",
            "mx record",
            "domain is not found",
            "nxdomain",
            "dns error",
            "no route to host",
            "domain is not valid",
            "unresolvable",
            "illegal host",
            "dns lookup failure",
            "host name lookup failure",
        ],
    ),
    (
        "userunknown",
        &[
            "user unknown",
            "unknown user",
            "no such user",
            "user not found",
            "no such recipient",
            "recipient not found",
            "unknown recipient",
            "recipient unknown",
            "recipient is unknown",
            "mailbox not found",
            "mailbox unavailable",
            "mailbox does not exist",
            "no such mailbox",
            "no mailbox",
            "invalid recipient",
            "invalid mailbox",
            "address does not exist",
            "account does not exist",
            "does not exist",
            "doesn't exist",
            "no such account",
            "not a valid mailbox",
            "unknown local part",
            "unknown address",
            "addressee unknown",
            "bad destination mailbox",
            "doesn't have a",
            "user doesn't have",
            "no mailbox here by that name",
            "no valid recipients",
            "is not a valid user",
            "not our customer",
            "address rejected",
            "user does not exist",
            "unknown or illegal alias",
            "mailbox is not found",
            "unknown mailbox",
            "no account",
            "user invalid",
            "invalid address",
            "recipient address rejected",
            "is unavailable",
            "not known here",
            "unknown e-mail address",
            "no such person",
            "not listed in",
            "address unknown",
            "user account is unavailable",
            "account has been disabled",
            // Exchange Online's answer for an address it does not have.
            "recipient address rejected: access denied",
            "invalid final delivery userid",
            "user not exist",
            "invalid user address",
        ],
    ),
];

/// Soft reasons whose words, when present, outweigh a user-unknown status: a filter or policy
/// refusing the message says nothing about whether the mailbox exists.
const SOFT_OVERRIDES: &[(&str, &[&str])] = &[
    (
        "blocked",
        &[
            "blocked",
            "blacklist",
            "blocklist",
            "spamhaus",
            "rbl",
            "listed at",
            "reputation",
            "not allowed to send",
            "client host rejected",
            // RFC 5321's 554 greeting: this server will not talk to ours (GMX, web.de).
            "no smtp service",
            "policy restriction",
            "policy reasons",
        ],
    ),
    (
        "spamdetected",
        &["spam", "junk mail", "bulk mail", "unsolicited"],
    ),
    ("virusdetected", &["virus", "malware"]),
    ("authfailure", &["spf", "dkim", "dmarc", "authentication"]),
    ("norelaying", &["relay", "relaying"]),
    (
        "mesgtoobig",
        &["too big", "too large", "size limit", "message size"],
    ),
    (
        "expired",
        &[
            "retry time",
            "timed out",
            "time out",
            "expired",
            "could not be delivered for",
            "delivery time",
            "retry timeout",
            "too long",
        ],
    ),
    (
        "suspend",
        &["suspended", "inactive", "disabled", "deactivated", "locked"],
    ),
];

/// Mail systems whose plain-text notices, without naming the SMTP command, relay the remote
/// server's answer to RCPT TO: McAfee's email gateway and Ipswitch IMail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Agent {
    RelaysRecipientReply,
    Other,
}

impl Agent {
    fn of(m: &ParsedMail) -> Agent {
        let mcafee = m.headers.get_first_value("X-NAI-Header").is_some();
        let imail = header(m, "X-Mailer").trim_start().starts_with("<SMTP32");
        if mcafee || imail {
            Agent::RelaysRecipientReply
        } else {
            Agent::Other
        }
    }

    fn command(self) -> Command {
        match self {
            Agent::RelaysRecipientReply => Command::Rcpt,
            Agent::Other => Command::Unknown,
        }
    }
}

/// PowerMTA's bounce categories (its `X-PowerMTA-BounceCategory` field).
fn powermta_category(category: &str) -> Option<(&'static str, Class)> {
    Some(match category {
        "bad-mailbox" => ("userunknown", Class::Hard),
        "bad-domain" => ("hostunknown", Class::Hard),
        "inactive-mailbox" => ("suspend", Class::Soft),
        "quota-issues" => ("mailboxfull", Class::Soft),
        "spam-related" => ("spamdetected", Class::Soft),
        "policy-related" => ("policyviolation", Class::Soft),
        "message-expired" => ("expired", Class::Soft),
        "routing-errors" | "no-answer-from-host" | "bad-connection" => {
            ("networkerror", Class::Soft)
        }
        "content-related" => ("contenterror", Class::Soft),
        "invalid-sender" => ("rejected", Class::Soft),
        _ => return None,
    })
}

/// Words with which a server says the account does not exist, whatever the SMTP command.
const NO_ACCOUNT: &[&str] = &[
    "recipient name is not recognized",
    "not listed in domino directory",
    "not listed in public name & address book",
    "invalid final delivery userid",
    "user not exist",
    "recipientnotfound",
    "recipient not found by smtp address lookup",
    "doesn't have a yahoo",
    "invalid recipient",
    "no such user here",
    "no valid recipients",
];

/// The SMTP command a server refused, from the words around its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Mail,
    Rcpt,
    Data,
    Unknown,
}

const COMMAND_WORDS: [(Command, &[&str]); 3] = [
    (
        Command::Mail,
        &[
            "after mail from",
            "in reply to mail from",
            ">>> mail from",
            "sender address rejected",
        ],
    ),
    (
        Command::Rcpt,
        &[
            "rcpt to",
            "in reply to rcpt",
            "after rcpt",
            "does not like recipient",
            ">>> rcpt",
            "rcpt_to",
            "did not like our rcpt",
        ],
    ),
    (
        Command::Data,
        &[
            "end of data",
            "after data",
            "smtp command data",
            "in reply to data",
            ">>> data",
            "during data",
        ],
    ),
];

/// The SMTP command the server's reply answers: the last one its words name (transcripts name
/// each in turn).
fn command(text: &str) -> Command {
    // A session transcript (">>> …") goes on to DATA after a recipient was refused.
    if text.contains(">>> ") {
        return command_near(text);
    }
    COMMAND_WORDS
        .iter()
        .filter_map(|(c, words)| {
            words
                .iter()
                .filter_map(|w| text.rfind(w))
                .max()
                .map(|at| (at, *c))
        })
        .max_by_key(|(at, _)| *at)
        .map_or(Command::Unknown, |(_, c)| c)
}

/// The command refused for one recipient, from the notice around it: a transcript goes on to
/// DATA after a recipient is refused (for the others), so RCPT, when named, is the one.
fn command_near(text: &str) -> Command {
    let named = |c: Command| {
        COMMAND_WORDS
            .iter()
            .filter(|(k, _)| *k == c)
            .any(|(_, words)| words.iter().any(|w| text.contains(w)))
    };
    [Command::Rcpt, Command::Data, Command::Mail]
        .into_iter()
        .find(|c| named(*c))
        .unwrap_or(Command::Unknown)
}

fn reason(status: &str, text: &str, command: Command) -> &'static str {
    if status.starts_with('2') {
        return "delivered";
    }
    if command == Command::Mail {
        // The server refused our sender: nothing is known about the recipient's mailbox.
        return "rejected";
    }
    let detail = status.split_once('.').map_or("", |(_, rest)| rest);
    let by_status = match detail {
        "1.1" | "1.3" => Some("userunknown"),
        "1.2" | "4.4" => Some("hostunknown"),
        "1.6" => Some("hasmoved"),
        "1.10" | "3.2" => Some("notaccept"),
        "1.7" | "1.8" => Some("rejected"),
        "2.2" => Some("mailboxfull"),
        "2.3" | "3.4" => Some("mesgtoobig"),
        "4.7" => Some("expired"),
        _ => None,
    };
    let by_text = |table: &[(&'static str, &[&str])]| {
        table
            .iter()
            .find(|(_, words)| words.iter().any(|w| text.contains(w)))
            .map(|(r, _)| *r)
    };
    let text_reason = by_text(TEXT_REASONS).or_else(|| {
        NO_ACCOUNT
            .iter()
            .any(|w| text.contains(w))
            .then_some("userunknown")
    });
    if let Some(r) = text_reason.filter(|r| !HARD.contains(r)) {
        return r;
    }
    if let Some(s) = by_status.filter(|s| !HARD.contains(s)) {
        return s;
    }
    let soft_words = by_text(SOFT_OVERRIDES);
    // A specific hard status (moved, host unknown, null MX) says more than the words.
    let hard_status = by_status.filter(|s| HARD.contains(s) && *s != "userunknown");
    let Some(hard) = hard_status.or(text_reason).or(by_status) else {
        return soft_words.unwrap_or("undefined");
    };
    // "Recipient address rejected: <why>" names no reason by itself; the status class does.
    let weak = [
        "recipient address rejected",
        "address rejected",
        "mailbox unavailable",
    ];
    let strong = TEXT_REASONS
        .iter()
        .filter(|(r, _)| HARD.contains(r))
        .flat_map(|(_, words)| words.iter())
        .any(|w| !weak.contains(w) && text.contains(w));
    if hard == "userunknown" && text_reason.is_some() && !strong {
        match detail.split('.').next() {
            Some("3") => return "systemerror",
            Some("6") => return "contenterror",
            Some("7") => return soft_words.unwrap_or("securityerror"),
            _ => {}
        }
    }
    if detail.starts_with("7.") {
        // A security or policy status: the words say which.
        if let Some(o) = soft_words {
            return o;
        }
    }
    if hard == "userunknown" && DOMAIN_DOES_NOT_EXIST.is_match(text) {
        // "553 example.com does not exist": the domain, not a mailbox.
        return "hostunknown";
    }
    let says_no_account = NO_ACCOUNT.iter().any(|w| text.contains(w));
    if hard == "userunknown"
        // X.1.x speaks of the address (Exchange adds its own: 5.1.351, 5.1.10).
        && !detail.starts_with("1.")
        && command != Command::Rcpt
        && !says_no_account
    {
        // "User unknown" once the message was sent (after DATA), or with the status of a
        // refused message (X.2.0), is a content filter's answer (sisimai's "filtered").
        return "filtered";
    }
    if hard == "hostunknown" && text.contains("try again") {
        return "networkerror";
    }
    match soft_words {
        // A hard status but soft words: the message, not the mailbox, was refused.
        Some(o) if text_reason.is_none() => o,
        _ => hard,
    }
}

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
