//! `leadsite completions SHELL` and `leadsite man`: generated from the command definitions, so
//! they can never disagree with `--help`.

use clap::CommandFactory;

use crate::cli::{Cli, Outcome, Ui};

/// Print a shell completion script (for bash: `leadsite completions bash >
/// ~/.local/share/bash-completion/completions/leadsite`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run(args: Args, ui: &Ui) -> anyhow::Result<Outcome> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "leadsite", &mut out);
    ui.data(&String::from_utf8_lossy(&out));
    Ok(Outcome::Success)
}

/// Print the manual page in roff (`leadsite man > leadsite.1; man ./leadsite.1`).
#[derive(Debug, clap::Args)]
pub struct ManArgs {}

pub fn man(_: ManArgs, ui: &Ui) -> anyhow::Result<Outcome> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    // Each subcommand's own page follows, as `git help` shows them.
    for sub in Cli::command().get_subcommands() {
        // clap names are &'static str; this runs once per process.
        let name: &'static str = format!("leadsite-{}", sub.get_name()).leak();
        let cmd = sub.clone().name(name);
        clap_mangen::Man::new(cmd).render(&mut out)?;
    }
    ui.data(&String::from_utf8_lossy(&out));
    Ok(Outcome::Success)
}
