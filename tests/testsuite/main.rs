//! The integration tests: each drives the real `leadsite` binary on a project in a temp folder.

mod backends;
mod bounces;
mod check;
mod cli;
mod deploy;
mod enrich;
mod export;
mod fuzz;
mod harness;
mod hostile;
mod images;
mod incremental;
mod ingest;
mod layers;
mod malformed;
mod outreach;
mod properties;
mod serve;
mod site;
mod truth;
mod web;
