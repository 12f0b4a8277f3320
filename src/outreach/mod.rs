//! Phase 6, outreach (DESIGN.md §5) — being built: the MessageBus and the StateStore with their
//! file backends. The orchestrator, the sequences and the EmailAgent (`leadsite schedule`) come
//! next; until then no command sends anything.

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
