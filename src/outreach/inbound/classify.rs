//! What kind of mail a message is: a delivery report or complaint (read by [`bounce`]), an
//! opt-out, an auto-reply, or a person's reply, read from its own words (quotes and footers
//! removed, HTML turned to text).

use mailparse::{MailHeaderMap, ParsedMail};

use super::{all_parts, Kind};
use crate::outreach::bounce;

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
pub(super) fn drop_elements(html: &str, names: &[&str]) -> String {
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
pub(super) fn html_text(html: &str) -> String {
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
