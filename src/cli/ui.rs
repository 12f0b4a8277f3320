//! What the commands print: results to stdout, messages to stderr, as loud as `-v`/`-q` say.

use crate::error::InputError;

#[derive(Debug, Clone, Copy)]
pub struct Ui {
    verbose: u8,
    quiet: bool,
}

impl Ui {
    pub fn new(verbose: u8, quiet: bool) -> Self {
        Ui { verbose, quiet }
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    pub fn verbose(&self) -> bool {
        self.verbose > 0
    }

    /// A command's result (stdout), silenced by `-q`.
    pub fn result(&self, text: &str) {
        if !self.quiet {
            self.data(text);
        }
    }

    /// What the command is run for (completions, a man page, JSON, an export to stdout): written
    /// even with `-q`, which silences only what is said about the work.
    pub fn data(&self, text: &str) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            // The reader went away (`| head`): stop quietly, as ripgrep does.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            say(&format!("error: cannot write to stdout: {e}"));
            std::process::exit(1);
        }
    }

    /// A normal message (stderr), silenced by `-q`.
    pub fn info(&self, msg: &str) {
        if !self.quiet {
            say(msg);
        }
    }

    /// A message shown only with `-v`.
    pub fn detail(&self, msg: &str) {
        if self.verbose > 0 {
            say(msg);
        }
    }

    /// A problem with the input; always shown.
    /// Prints a `--json` summary (stdout, even with `-q`: it was asked for).
    pub fn json(&self, value: &serde_json::Value) {
        self.data(&format!(
            "{}\n",
            serde_json::to_string_pretty(value).unwrap_or_default()
        ));
    }

    pub fn problem(&self, e: &InputError) {
        say(&format!("warning: {e}"));
    }

    /// Shows at most `limit` problems (all with `-v`) and says how many more there were.
    pub fn problems(&self, errors: &[InputError], limit: usize) {
        let shown = if self.verbose > 0 {
            errors.len()
        } else {
            limit.min(errors.len())
        };
        // Written in blocks, not a system call per piece of a line: 500,000 problems printed
        // one by one took seconds.
        let mut block = String::new();
        for e in &errors[..shown] {
            use std::fmt::Write;
            let _ = writeln!(block, "warning: {e}");
            if block.len() > 64 * 1024 {
                say_raw(&block);
                block.clear();
            }
        }
        if errors.len() > shown {
            block.push_str(&format!(
                "warning: … and {} more problems (-v shows all)\n",
                errors.len() - shown
            ));
        }
        say_raw(&block);
    }
}

/// Prints a line on stderr in one write. A closed stderr is no reason to stop (`eprintln!`
/// would panic).
pub fn say(msg: &str) {
    say_raw(&format!("{msg}\n"));
}

pub fn say_raw(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Lays out rows of cells as a plain text table, the first column left-aligned, numbers right.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if i == 0 {
                    format!("{cell:<w$}", w = widths[i])
                } else {
                    format!("{cell:>w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// An input problem as `--json` summaries give it.
pub fn problem_json(e: &InputError) -> serde_json::Value {
    serde_json::json!({
        "file": e.location.path.display().to_string(),
        "line": e.location.line,
        "column": e.location.column,
        "lead": e.lead,
        "field": e.field,
        "message": e.message,
    })
}

pub fn problems_json(errors: &[InputError]) -> serde_json::Value {
    errors.iter().map(problem_json).collect()
}

/// A progress bar on stderr (hidden with `-q`, or when stderr is no terminal), for the stages
/// that report progress.
pub struct Bar(indicatif::ProgressBar);

impl Bar {
    pub fn new(ui: &Ui) -> Bar {
        use std::io::IsTerminal;
        let bar = if ui.is_quiet() || !std::io::stderr().is_terminal() {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new(0)
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} ({eta})")
                .expect("a valid template"),
        );
        Bar(bar)
    }
}

impl crate::pipeline::enrich::Progress for Bar {
    fn start(&self, what: &str, total: u64) {
        self.0.set_length(total);
        self.0.set_position(0);
        self.0.set_message(what.to_string());
        self.0.reset_eta();
    }
    fn advance(&self) {
        self.0.inc(1);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
