//! Events applied to the campaign state: replies, bounces, opt-outs and provider reports move a
//! lead (a bounce, complaint or opt-out wins over everything else), and an event naming a step in
//! doubt settles it.

use chrono::{DateTime, Utc};

use super::{backoff, note, record_sent};
use crate::error::Result;
use crate::outreach::bus::Message;
use crate::outreach::sequence::Sequence;
use crate::outreach::store::{LeadState, StateStore, Status};

/// Which terminal outcome wins when events disagree.
fn rank(s: Status) -> u8 {
    match s {
        Status::Unsubscribed => 4,
        Status::Bounced => 3,
        Status::Responded => 2,
        Status::NoResponse | Status::CrmSynced => 1,
        Status::New | Status::Contacted => 0,
    }
}

/// What applying an event needs besides the state: the sequence (a step's delay) and the
/// retry rules, at this run's time.
pub(super) struct Rules<'a> {
    pub(super) sequence: &'a Sequence,
    pub(super) max_attempts: u32,
    pub(super) retry_minutes: u32,
    pub(super) now: DateTime<Utc>,
}

/// Whether an event ends a lead's campaign for good (an opt-out, or a bounce that is not soft).
fn stops(m: &Message) -> bool {
    m.topic == "lead.unsubscribed"
        || (m.topic == "lead.bounced"
            && m.data.get("kind").and_then(|v| v.as_str()) != Some("soft"))
}

/// Applies one event; `Some(why)` when it changed nothing.
pub(super) fn apply_event(
    store: &mut dyn StateStore,
    leads: &super::Leads,
    m: &Message,
    rules: &Rules,
) -> Result<Option<String>> {
    let address = match leads.get(&m.lead_id) {
        Some(lead) => lead.contact_email().map(String::from),
        // An opt-out or hard bounce for a lead not built yet is kept: it must hold when the
        // lead appears. Anything else about an unknown lead changes nothing.
        None if store.get(&m.lead_id).is_none() && !stops(m) => {
            return Ok(Some(format!("unknown lead {:?}", m.lead_id)))
        }
        None => None,
    };
    apply_to(store, address, m, rules)
}

pub(super) fn apply_to(
    store: &mut dyn StateStore,
    address: Option<String>,
    m: &Message,
    rules: &Rules,
) -> Result<Option<String>> {
    let (sequence, at) = (rules.sequence, m.at.unwrap_or(rules.now));
    let mut state = store.get(&m.lead_id).cloned().unwrap_or_default();
    // A reply, bounce or webhook about the Message-ID of a step in doubt: that step went out.
    let refers_to = m.data.get("message_id").and_then(|v| v.as_str());
    let mut settled = false;
    if let Some(intent) = state.in_flight.clone() {
        if refers_to.is_some_and(|id| id.trim() == intent.message_id) {
            settled = true;
            state.in_flight = None;
            record_sent(
                &mut state,
                sequence,
                intent.step,
                intent.message_id,
                intent.at,
            );
            note(
                &mut state,
                at,
                "resolved",
                format!("step {} was sent: event {} refers to it", intent.step, m.id),
            );
            store.commit(&m.lead_id, state.clone())?;
        }
    }
    let kind = m
        .data
        .get("kind")
        .and_then(|v| v.as_str())
        .unwrap_or("hard");
    let terminal = match (m.topic.as_str(), kind) {
        ("lead.unsubscribed", _) => Some(Status::Unsubscribed),
        ("lead.bounced", "soft") => None,
        ("lead.bounced", _) => Some(Status::Bounced),
        ("lead.responded", _) => Some(Status::Responded),
        _ => None,
    };
    if let Some(new) = terminal {
        if matches!(new, Status::Unsubscribed | Status::Bounced) {
            if let Some(a) = &address {
                store.suppress(a, &m.topic)?;
            }
        }
        if state.status.is_terminal() && rank(new) <= rank(state.status) {
            return Ok(Some(format!("lead is already {:?}", state.status)));
        }
        state.status = new;
        state.next_action_at = None;
        note(&mut state, at, &m.topic, format!("event {}", m.id));
        store.commit(&m.lead_id, state)?;
        return Ok(None);
    }
    if m.topic == "lead.bounced" {
        return soft_bounce(store, address, m, state, rules);
    }
    // What a text-message provider said of a message (it took it, delivered it, could not):
    // kept in the lead's history for `status --lead`, and nothing else.
    let word = |k: &str| m.data.get(k).and_then(|v| v.as_str()).unwrap_or("");
    if m.topic == "lead.contacted" && !word("provider_id").is_empty() {
        let mut detail = format!(
            "{} {}: {}",
            word("channel"),
            word("provider_id"),
            word("provider_status")
        );
        if !word("error_code").is_empty() {
            detail.push_str(&format!(" (error {})", word("error_code")));
        }
        note(&mut state, at, "provider", detail);
        store.commit(&m.lead_id, state)?;
        return Ok(None);
    }
    // A delivery or delay report (lead.contacted) only ever settles a step in doubt.
    Ok((!settled).then(|| format!("{} changes no campaign state", m.topic)))
}

/// A soft bounce of the last step sent: that step is sent again later, up to `max_attempts`.
fn soft_bounce(
    store: &mut dyn StateStore,
    address: Option<String>,
    m: &Message,
    mut state: LeadState,
    rules: &Rules,
) -> Result<Option<String>> {
    let at = m.at.unwrap_or(rules.now);
    let refers_to = m.data.get("message_id").and_then(|v| v.as_str());
    if state.status != Status::Contacted {
        return Ok(Some(
            "soft bounce for a lead that is not being contacted".into(),
        ));
    }
    // The step bounced: named, or the last number of our Message-ID (`<lead.seq.N@…>`).
    let from_id = refers_to.and_then(|id| {
        let local = id.trim().trim_start_matches('<').split('@').next()?;
        local.rsplit('.').next()?.parse::<u32>().ok()
    });
    let target = m
        .data
        .get("step")
        .and_then(|v| v.as_str()?.parse::<u32>().ok())
        .or(from_id)
        .unwrap_or(state.step);
    let handled = state.history.iter().rev().find(|h| {
        h.detail == format!("step {target}") && (h.event == "sent" || h.event == "soft_bounce")
    });
    if target != state.step {
        return Ok(Some(format!(
            "soft bounce of step {target}, and step {} has gone out since: nothing is resent",
            state.step
        )));
    }
    if handled.is_some_and(|h| h.event == "soft_bounce") {
        return Ok(Some(format!(
            "soft bounce of step {target} already handled"
        )));
    }
    state.attempt_count += 1;
    note(&mut state, at, "soft_bounce", format!("step {target}"));
    if state.attempt_count >= rules.max_attempts {
        state.status = Status::Bounced;
        state.next_action_at = None;
        if let Some(a) = &address {
            store.suppress(a, "soft bounces")?;
        }
    } else {
        state.step = target.saturating_sub(1);
        state.next_action_at = Some(rules.now + backoff(rules.retry_minutes, state.attempt_count));
    }
    store.commit(&m.lead_id, state)?;
    Ok(None)
}
