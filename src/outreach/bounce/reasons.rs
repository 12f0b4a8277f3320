//! What a failure means: a status code and diagnostic text read into a reason (the names a
//! dedicated bounce parser uses) and hard or soft, with the SMTP command it failed at.

use super::*;

/// Classifies one recipient from its status code and the server's words (which may hold the
/// SMTP reply code and a more specific status): also for providers' webhooks.
pub fn diagnose(recipient: Option<String>, status: &str, diagnostic: &str) -> Failure {
    diagnose_in(recipient, status, diagnostic, "", Command::Unknown)
}

/// [`diagnose`], with more of the report's words (`context`) to find the refused command in,
/// and the command to assume when no words name one (`otherwise`).
pub(super) fn diagnose_in(
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
pub(super) const TEXT_REASONS: &[(&str, &[&str])] = &[
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
pub(super) const SOFT_OVERRIDES: &[(&str, &[&str])] = &[
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
pub(super) enum Agent {
    RelaysRecipientReply,
    Other,
}

impl Agent {
    pub(super) fn of(m: &ParsedMail) -> Agent {
        let mcafee = m.headers.get_first_value("X-NAI-Header").is_some();
        let imail = header(m, "X-Mailer").trim_start().starts_with("<SMTP32");
        if mcafee || imail {
            Agent::RelaysRecipientReply
        } else {
            Agent::Other
        }
    }

    pub(super) fn command(self) -> Command {
        match self {
            Agent::RelaysRecipientReply => Command::Rcpt,
            Agent::Other => Command::Unknown,
        }
    }
}

/// PowerMTA's bounce categories (its `X-PowerMTA-BounceCategory` field).
pub(super) fn powermta_category(category: &str) -> Option<(&'static str, Class)> {
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
pub(super) const NO_ACCOUNT: &[&str] = &[
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
pub(super) enum Command {
    Mail,
    Rcpt,
    Data,
    Unknown,
}

pub(super) const COMMAND_WORDS: [(Command, &[&str]); 3] = [
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
pub(super) fn command(text: &str) -> Command {
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
pub(super) fn command_near(text: &str) -> Command {
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

pub(super) fn reason(status: &str, text: &str, command: Command) -> &'static str {
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
