//! Outreach: the MessageBus (`bus`) and StateStore (`store`) with their file backends,
//! the OutreachOrchestrator (`orchestrator`, `leadsite schedule`) with its `sequence`s and send
//! `window`, the agents (EmailAgent in `email`, WhatsAppAgent in `whatsapp`, CRMAdapter in `crm`),
//! and what comes back: `inbound` (a Maildir: replies, `bounce` reports, complaints) and `listen`
//! (one-click unsubscribes, signed provider `webhook`s). See docs/architecture.md.

pub(crate) mod backend;
pub mod bounce;
pub mod bus;
#[doc(hidden)]
pub mod contract;
pub mod crm;
pub(crate) mod email;
pub mod inbound;
pub(crate) mod listen;
pub(crate) mod orchestrator;
pub mod pgtls;
pub mod postgres;
pub(crate) mod records;
pub(crate) mod sequence;
pub mod store;
pub mod webhook;
pub(crate) mod whatsapp;
pub(crate) mod window;

/// How one delivery attempt went: an email, a WhatsApp or SMS message, a CRM push. One type for
/// the agents, so that "try again" and "give up" mean the same everywhere.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Sent,
    /// Try again later (a 4xx SMTP reply, 429 or 5xx, connection trouble); `after`: seconds the
    /// provider asked to wait (`Retry-After`); `throttled`: the provider limits our rate, which
    /// says nothing against the message and does not count as one of its tries.
    Retry {
        why: String,
        after: Option<u64>,
        throttled: bool,
    },
    /// Refused for good (a 5xx SMTP reply: a hard bounce; a 4xx HTTP answer).
    Permanent(String),
    /// The recipient opted out with the provider (Twilio's STOP, error 21610).
    OptedOut(String),
    /// The channel cannot work (an invalid token, a missing template): stop sending on it for
    /// this run and say why; nothing is held against the lead.
    Halt(String),
    /// The request may have reached the provider and nobody knows what became of it (a time-out
    /// or a dropped connection after it was sent): in doubt, for a person to settle, never sent
    /// again by guess.
    InDoubt(String),
}

impl Attempt {
    pub fn retry(why: impl Into<String>) -> Attempt {
        Attempt::Retry {
            why: why.into(),
            after: None,
            throttled: false,
        }
    }
}
