//! `leadsite serve`: preview the site with live reload.

use std::net::IpAddr;

use crate::cli::{Outcome, Ui};
use crate::config::Config;
use crate::serve::{self, Options};

/// Build the site, serve it on 127.0.0.1 and rebuild and reload on every change.
///
/// Watches leads/, themes/, content/ and the config; only pages whose inputs changed are built
/// again. A broken edit keeps the last good site and shows the error in the terminal and in the
/// page. The reload script is added to pages as they are served, never to the files in site/.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The port to listen on (0: any free port).
    #[arg(long, default_value_t = 1111)]
    pub port: u16,
    /// The address to listen on; anything but loopback shows your leads to the network.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Read no website: use only the enrichment cache.
    #[arg(long)]
    pub offline: bool,
}

pub fn run(
    args: Args,
    load: &dyn Fn() -> anyhow::Result<Config>,
    ui: &Ui,
) -> anyhow::Result<Outcome> {
    let opts = Options {
        bind: args.bind,
        port: args.port,
        offline: args.offline,
    };
    let load = || {
        load().map_err(|e| match e.downcast::<crate::error::Error>() {
            Ok(err) => err,
            Err(e) => crate::error::Error::System(format!("{e:#}")),
        })
    };
    let say = |m: &str| ui.info(m);
    let warn = |m: &str| eprintln!("error: {m}");
    // It returns when Ctrl-C stops it.
    serve::run(&load, &opts, &say, &warn)?;
    Ok(Outcome::Interrupted)
}
