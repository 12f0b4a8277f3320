//! The `leadsite` binary: parse the arguments, run, print the error chain once, exit.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

// Pages, leads and Tera's lookups allocate many small strings; mimalloc does that in fewer
// instructions than glibc's malloc (docs/benchmarks.md, cold-build CPU).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let matches = leadsite::cli::Cli::command().get_matches();
    // Given on the command line, even as the default's name, the config file must exist.
    let explicit = matches.value_source("config") == Some(clap::parser::ValueSource::CommandLine);
    let cli = match leadsite::cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match leadsite::cli::run(cli, explicit) {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => match leadsite::cli::error_exit_code(&err) {
            None => ExitCode::SUCCESS,
            Some(code) => {
                eprintln!("error: {err}");
                for cause in err.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
                code
            }
        },
    }
}
