//! The command line: one file per subcommand, each with its `Args` and a `run`.

mod build;
mod check;
mod completions;
mod deploy;
mod export;
mod inbox;
mod ingest;
mod init;
mod listen;
mod publish;
mod resolve;
mod schedule;
mod serve;
mod state;
mod status;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Config};
pub use ui::Ui;

/// Clean and route local-business leads, build them landing pages, and reach out to them.
#[derive(Debug, Parser)]
#[command(
    name = "leadsite",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(
    after_help = "Exit status: 0 all done, 1 error, 2 bad usage, 3 done but some input was skipped (see the messages), 130 stopped by Ctrl-C."
)]
pub struct Cli {
    /// Say more (-v: timings and every merge).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// The project's config file; its folder is the project root.
    #[arg(long, global = true, value_name = "PATH", default_value = config::DEFAULT_FILE)]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Init(init::Args),
    Ingest(ingest::Args),
    Build(build::Args),
    Serve(serve::Args),
    Deploy(deploy::Args),
    Schedule(schedule::Args),
    Status(status::Args),
    Resolve(resolve::Args),
    State(state::Args),
    Publish(publish::Args),
    Inbox(inbox::Args),
    Listen(listen::Args),
    Check(check::Args),
    Export(export::Args),
    Completions(completions::Args),
    Man(completions::ManArgs),
}

/// How a command ended, as an exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The work was done, but some input was skipped or is invalid.
    Partial,
    /// Stopped by Ctrl-C (a server or watcher that stopped cleanly).
    Interrupted,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Success => ExitCode::SUCCESS,
            Outcome::Partial => ExitCode::from(3),
            Outcome::Interrupted => ExitCode::from(130),
        }
    }
}

/// A command used wrongly (a bad argument value, the wrong folder): exit status 2.
pub(crate) fn usage(message: String) -> anyhow::Error {
    crate::error::Error::Usage(message).into()
}

/// The exit status of a command that failed: 2 when it was used wrongly (clap's own errors exit
/// 2 too), else 1; nothing but 0 when what broke was the pipe stdout writes to
/// (`leadsite export | head`), as ripgrep does.
pub fn error_exit_code(err: &anyhow::Error) -> Option<ExitCode> {
    if is_broken_pipe(err) {
        return None;
    }
    Some(match err.downcast_ref::<crate::error::Error>() {
        Some(crate::error::Error::Usage(_)) => ExitCode::from(2),
        _ => ExitCode::from(1),
    })
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        let io = c.downcast_ref::<std::io::Error>().or_else(|| {
            match c.downcast_ref::<crate::error::Error>() {
                Some(crate::error::Error::Io { error, .. }) => Some(error),
                _ => None,
            }
        });
        io.is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Runs a command. `explicit`: `--config` was given on the command line (then a missing file is
/// an error, even when it is named like the default).
pub fn run(cli: Cli, explicit: bool) -> anyhow::Result<Outcome> {
    let ui = Ui::new(cli.verbose, cli.quiet);
    let load = || -> anyhow::Result<Config> {
        let c = Config::load(&cli.config, explicit)?;
        if c.file.is_none() {
            ui.detail(&format!(
                "no {} here: using the built-in defaults",
                cli.config.display()
            ));
        }
        Ok(c)
    };
    match cli.command {
        Command::Init(args) => init::run(args, &ui),
        Command::Ingest(args) => ingest::run(args, &load()?, &ui),
        Command::Build(args) => build::run(args, &load()?, &ui),
        Command::Serve(args) => serve::run(args, &load, &ui),
        Command::Deploy(args) => deploy::run(args, &load()?, &ui),
        Command::Schedule(args) => schedule::run(args, &load, &ui),
        Command::Status(args) => status::run(args, &load()?, &ui),
        Command::Resolve(args) => resolve::run(args, &load()?, &ui),
        Command::State(args) => state::run(args, &load()?, &ui),
        Command::Listen(args) => listen::run(args, &load()?, &ui),
        Command::Inbox(args) => inbox::run(args, &load()?, &ui),
        Command::Publish(args) => publish::run(args, &load()?, &ui),
        Command::Check(args) => check::run(args, &cli.config, explicit, &ui),
        Command::Export(args) => export::run(args, &load()?, &ui),
        Command::Completions(args) => completions::run(args, &ui),
        Command::Man(args) => completions::man(args, &ui),
    }
}

/// The library's choices as clap values: clap stays in the command layer.
impl clap::ValueEnum for crate::pipeline::import::Format {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.description()))
    }
}

impl clap::ValueEnum for crate::build::Until {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.description()))
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_sound() {
        super::Cli::command().debug_assert();
    }
}
