//! Outreach (Phase 6): the MessageBus (`bus`) and StateStore (`store`) with their file backends,
//! the OutreachOrchestrator (`orchestrator`, `leadsite schedule`) with its `sequence`s and send
//! `window`, the agents (EmailAgent in `email`, WhatsAppAgent in `whatsapp`, CRMAdapter in `crm`),
//! and what comes back: `inbound` (a Maildir: replies, `bounce` reports, complaints) and `listen`
//! (one-click unsubscribes, signed provider `webhook`s). See docs/architecture.md.

pub mod bounce;
pub mod bus;
pub mod crm;
pub mod email;
pub mod inbound;
pub mod listen;
pub mod orchestrator;
pub mod sequence;
pub mod store;
pub mod webhook;
pub mod whatsapp;
pub mod window;
