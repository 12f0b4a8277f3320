//! The report formats a bounce comes in: a DSN (RFC 3464) and its fields, Amazon SES
//! notifications, and plain-text notices whose failed addresses are read from the text.

use super::*;

pub(super) fn dsn_fields(
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
pub(super) fn exclusions(m: &ParsedMail) -> Vec<String> {
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
pub(super) fn plain_text(
    notice: &str,
    failed_header: &str,
    exclude: &[String],
    agent: Agent,
) -> Vec<Failure> {
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
pub(super) fn ses_notification(parts: &[&ParsedMail], original_ids: &[String]) -> Option<Report> {
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
