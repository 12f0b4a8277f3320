//! What one mail means for our leads: a delivery report or complaint becomes a bounce or an
//! opt-out for each lead it concerns; a reply, an opt-out or an auto-reply is placed by the
//! Message-ID it answers, else by its sender. What cannot be placed is skipped, and flagged for a
//! person when it should have changed something.

use chrono::{DateTime, Utc};
use mailparse::{MailHeaderMap, ParsedMail};

use super::{classify, lead_of, referenced_ids, Contacts, Kind};
use crate::outreach::bounce;
use crate::outreach::bus::Message;

/// Why a mail published nothing; `attention` when a person should look (a report or an opt-out
/// that reached no lead, an answer leadsite cannot place).
pub(super) struct Skip {
    pub(super) why: String,
    pub(super) attention: bool,
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

/// Our Message-ID a mail refers to (the first of `ids` that is ours), with the lead it names.
type Named = Option<(String, String)>;

/// What one mail means for our leads: the events to publish, or why there are none.
pub(super) fn events_of(
    parsed: &ParsedMail,
    domain: &str,
    contacts: &Contacts,
    at: DateTime<Utc>,
) -> std::result::Result<Vec<Message>, Skip> {
    let ours = |ids: &[String]| -> Named {
        ids.iter()
            .find_map(|id| lead_of(id, domain).map(|l| (l, id.trim().to_string())))
    };
    match classify(parsed) {
        Kind::Report(report) => {
            let named = ours(&report.original_ids).or_else(|| ours(&referenced_ids(parsed)));
            report_events(&report, &named, contacts, at)
        }
        Kind::AutoReply => Err(Skip::quiet("an auto-reply, not a response")),
        kind => answer_events(parsed, &kind, &ours(&referenced_ids(parsed)), contacts, at),
    }
}

/// A delivery report's or complaint's events: for each failure, the leads it concerns.
fn report_events(
    report: &bounce::Report,
    named: &Named,
    contacts: &Contacts,
    at: DateTime<Utc>,
) -> std::result::Result<Vec<Message>, Skip> {
    let single = report.failures.len() == 1;
    let mut events = Vec::new();
    let mut why = Vec::new();
    let mut attention = false;
    for f in &report.failures {
        let leads = match failure_leads(f, named, single, contacts) {
            Ok(leads) => leads,
            Err(skip) => {
                attention |= skip.attention;
                why.push(skip.why);
                continue;
            }
        };
        for lead in leads {
            match failure_event(f, &lead, named, contacts, at) {
                Ok(m) => events.push(m),
                Err(nothing_to_do) => {
                    why.push(nothing_to_do);
                    break;
                }
            }
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

/// The leads one failure in a report concerns, or why it concerns none.
fn failure_leads(
    f: &bounce::Failure,
    named: &Named,
    single: bool,
    contacts: &Contacts,
) -> std::result::Result<Vec<String>, Skip> {
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
    let lead = match (named, by_recipient) {
        (Some((l, _)), _) if single => Some(l.clone()),
        (_, Some(l)) => Some(l.to_string()),
        (Some((l, _)), None) if f.recipient.is_none() => Some(l.clone()),
        _ => None,
    };
    let shared = f.recipient.as_deref().and_then(|r| contacts.ambiguous(r));
    let stops = matches!(f.class, bounce::Class::Hard | bounce::Class::Complaint);
    match (lead, shared) {
        (Some(l), _) => Ok(vec![l]),
        // A dead or complaining address is so for every lead emailed at it.
        (None, Some(all)) if stops => Ok(all.to_vec()),
        // A soft bounce here would be resent by guess; a delay changes nothing.
        (None, Some(all)) => Err(Skip {
            why: format!(
                "{} report for {}, which leads {} were all emailed at: leadsite cannot tell \
                 whose message it was",
                f.reason,
                f.recipient.as_deref().unwrap_or(""),
                all.join(", ")
            ),
            attention: f.class == bounce::Class::Soft,
        }),
        (None, None) => Err(Skip {
            why: format!(
                "{} report for {}: not an address we emailed, and no Message-ID of ours",
                f.reason,
                f.recipient.as_deref().unwrap_or("an unnamed recipient")
            ),
            attention: f.class != bounce::Class::Ignore,
        }),
    }
}

/// The event one failure means for one lead; `Err(why)` for a delivery or delay notice that
/// settles nothing.
fn failure_event(
    f: &bounce::Failure,
    lead: &str,
    named: &Named,
    contacts: &Contacts,
    at: DateTime<Utc>,
) -> std::result::Result<Message, String> {
    let mut m = match f.class {
        bounce::Class::Ignore
            if named
                .as_ref()
                .is_some_and(|(l, id)| l == lead && contacts.in_doubt.contains(id)) =>
        {
            // The message went out: a delivery or delay notice settles its step.
            let mut m = Message::new("lead.contacted", lead, at);
            m.data.insert("channel".into(), "email".into());
            m.data.insert("kind".into(), f.reason.into());
            m
        }
        bounce::Class::Ignore => {
            let notice = if f.reason == "delivered" {
                "delivery"
            } else {
                "delay"
            };
            return Err(format!("a {notice} notice for {lead}: nothing to do"));
        }
        bounce::Class::Complaint => {
            let mut m = Message::new("lead.unsubscribed", lead, at);
            m.data.insert("reason".into(), "complaint".into());
            m
        }
        bounce::Class::Hard | bounce::Class::Soft => {
            let mut m = Message::new("lead.bounced", lead, at);
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
    name_message(&mut m, lead, named);
    Ok(m)
}

/// The Message-ID the event is about, when it is this lead's.
fn name_message(m: &mut Message, lead: &str, named: &Named) {
    if let Some((l, id)) = named {
        if l == lead {
            m.data.insert("message_id".into(), id.clone().into());
        }
    }
}

/// A reply's or an opt-out's events: placed by the Message-ID it answers, the lead its
/// subject names (our `mailto:` link), else its sender.
fn answer_events(
    parsed: &ParsedMail,
    kind: &Kind,
    named: &Named,
    contacts: &Contacts,
    at: DateTime<Utc>,
) -> std::result::Result<Vec<Message>, Skip> {
    let sender = parsed
        .headers
        .get_first_value("From")
        .and_then(|from| mailparse::addrparse(&from).ok()?.extract_single_info())
        .map(|i| i.addr)
        .unwrap_or_default();
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
        (None, None) => {
            return Err(Skip::quiet(
                "no lead: not a reply to a message we sent, and not from an address we emailed",
            ))
        }
    };
    let mut events = Vec::new();
    for lead in leads {
        let mut m = match kind {
            Kind::Unsubscribe => Message::new("lead.unsubscribed", &lead, at),
            Kind::Reply { snippet } => {
                let mut m = Message::new("lead.responded", &lead, at);
                m.data.insert("snippet".into(), snippet.clone().into());
                m
            }
            Kind::Report(_) | Kind::AutoReply => unreachable!("handled by events_of"),
        };
        name_message(&mut m, &lead, named);
        events.push(m);
    }
    Ok(events)
}
