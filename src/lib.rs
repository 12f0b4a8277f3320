//! leadsite: clean and route local-business leads, build each good lead a landing page, and reach
//! out to it. This crate is the library behind the `leadsite` binary; docs/architecture.md says
//! how the parts fit, layer by layer.

// InputError carries a path, line, lead and field; it is returned once per file or row, never on a
// hot path, so its size is not worth a Box at every call site.
#![allow(clippy::result_large_err)]

// What is `pub` is what the binary, the integration tests (tests/testsuite, a crate of their
// own), the fuzz targets and the benches use: the record and its loading, the config, the stages
// and the backends. A module that none of them reaches is `pub(crate)`, and a new `pub` needs a
// user outside the crate.
pub(crate) mod build;
pub mod cli;
pub mod config;
pub(crate) mod deploy;
pub mod error;
pub mod fsutil;
pub mod lead;
pub mod limits;
pub mod outreach;
pub mod pipeline;
pub(crate) mod serve;
pub mod site;
pub(crate) mod text;
pub(crate) mod web;

pub use config::Config;
pub use error::{Error, InputError, Location, Result};
pub use lead::Lead;
