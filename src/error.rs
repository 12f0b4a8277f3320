//! Typed errors of the library. Every error that comes from a user's file carries the file, the
//! line and column where the parser knows them, the lead and the field, so it prints as
//! `leads/acme.yaml:12:3: lead acme-auto: field phone: …`.

use std::fmt;
use std::path::PathBuf;

/// Where in an input something was found: a file, and the line/column or item index inside it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Location {
    pub path: PathBuf,
    /// 1-based line, where the parser gives it.
    pub line: Option<u64>,
    /// 1-based column, where the parser gives it.
    pub column: Option<u64>,
    /// 0-based index of the record inside the file (row, array element, YAML document item),
    /// for formats that do not give lines (JSON arrays).
    pub item: Option<usize>,
}

impl Location {
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Location {
            path: path.into(),
            ..Default::default()
        }
    }

    pub fn at_line(path: impl Into<PathBuf>, line: u64) -> Self {
        Location {
            path: path.into(),
            line: Some(line),
            ..Default::default()
        }
    }

    pub fn at_item(path: impl Into<PathBuf>, item: usize) -> Self {
        Location {
            path: path.into(),
            item: Some(item),
            ..Default::default()
        }
    }
}

/// Text from outside (a file name, a value) as it may be printed to a terminal: control
/// characters (an escape sequence, a line break that would forge a second message) are shown as
/// `\u{..}` escapes.
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                format!("\\u{{{:x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&printable(&self.path.display().to_string()))?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        } else if let Some(item) = self.item {
            write!(f, " (record {})", item + 1)?;
        }
        Ok(())
    }
}

/// A problem in one input file (a lead file, an export, the config): the run goes on with the
/// other files and the exit status says that something was skipped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct InputError {
    pub location: Location,
    /// The lead's dedup_key or name, where one is known.
    pub lead: Option<String>,
    /// The field the problem is in, as a dotted path (`address.city`).
    pub field: Option<String>,
    pub message: String,
}

impl InputError {
    pub fn new(location: Location, message: impl Into<String>) -> Self {
        InputError {
            location,
            lead: None,
            field: None,
            message: message.into(),
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        if !field.is_empty() {
            self.field = Some(field);
        }
        self
    }

    pub fn with_lead(mut self, lead: impl Into<String>) -> Self {
        let lead = lead.into();
        if !lead.is_empty() {
            self.lead = Some(lead);
        }
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location)?;
        if let Some(lead) = &self.lead {
            write!(f, "lead {lead}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "field {field}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// A stage broke its contract: it removed or changed a field it does not own.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("stage {stage} broke its contract on lead {lead}: field {field} was {what}")]
pub struct ContractViolation {
    pub stage: &'static str,
    pub lead: String,
    pub field: String,
    /// "removed", "changed" or "added outside the stage's namespace".
    pub what: &'static str,
}

/// Errors that stop a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cause is part of the message (and not a `source`, which would print it twice).
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{0}")]
    Input(Box<InputError>),
    #[error("invalid config: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n  "))]
    Config(Vec<InputError>),
    #[error(transparent)]
    Contract(Box<ContractViolation>),
    /// Input that must be fixed before the command can go on.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<InputError>),
    /// The command was given, or run in, a way it cannot work with (arguments, environment,
    /// order of commands): exit status 2.
    #[error("{0}")]
    Usage(String),
    /// A message the bus refuses (not a valid event, or too large to store): the run goes on
    /// without it; given on the command line (`publish`), it is a usage error.
    #[error("{0}")]
    Rejected(String),
    /// A mail could not be made or its transport set up (TLS, addresses).
    #[error("{0}")]
    Mail(String),
    /// An output (CSV, JSON) could not be encoded.
    #[error("{0}")]
    Output(String),
    /// Another process holds what this one needs (the state store's lock).
    #[error("{0}")]
    Locked(String),
    /// Another worker changed a lead's state since this one read it: nothing was written.
    #[error("{0}")]
    Conflict(String),
    /// The database (the PostgreSQL backend) failed or could not be reached.
    #[error("database: {0}")]
    Database(String),
    /// The object store of a deploy (S3) refused or failed a request.
    #[error("{0}")]
    Storage(String),
    /// The machine refused something the run needs (threads, say).
    #[error("{0}")]
    System(String),
}

impl Error {
    /// This error as an input problem of `path` (for a loader that reports many): an I/O error
    /// keeps its own path, an input error is itself.
    pub fn into_input(self, path: &std::path::Path) -> InputError {
        match self {
            Error::Io { path, error } => InputError::new(Location::file(path), error.to_string()),
            Error::Input(e) => *e,
            other => InputError::new(Location::file(path), other.to_string()),
        }
    }
}

impl From<InputError> for Error {
    fn from(e: InputError) -> Self {
        Error::Input(Box::new(e))
    }
}

impl From<ContractViolation> for Error {
    fn from(e: ContractViolation) -> Self {
        Error::Contract(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Turns a serde_yaml_ng error into an [`InputError`] at its line and column, with the field path
/// that serde_yaml_ng puts in front of its message (`address.city: invalid type …`).
pub fn yaml_error(path: &std::path::Path, err: &serde_yaml_ng::Error) -> InputError {
    let mut location = Location::file(path);
    if let Some(loc) = err.location() {
        location.line = Some(loc.line() as u64);
        location.column = Some(loc.column() as u64);
    }
    let text = err.to_string();
    let text = if location.line.is_some() {
        strip_positions(&text)
    } else {
        text
    };
    let (field, message) = split_field_path(&text);
    let mut e = InputError::new(location, message);
    if let Some(field) = field {
        e = e.with_field(field);
    }
    e
}

/// Removes the ` at line N column M` parts of a parser message: the location is printed in front.
fn strip_positions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(" at line ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + " at line ".len()..];
        let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let n = digits(after);
        match after[n..].strip_prefix(" column ") {
            Some(col) if n > 0 => rest = &col[digits(col)..],
            _ => {
                out.push_str(" at line ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// serde_yaml_ng writes `path.to.field: message`; a path never contains spaces, a message does.
fn split_field_path(text: &str) -> (Option<String>, String) {
    if let Some((head, rest)) = text.split_once(": ") {
        let is_path = !head.is_empty()
            && !head.contains(' ')
            && head
                .chars()
                .all(|c| c.is_alphanumeric() || "._-[]:".contains(c));
        if is_path && head != "." {
            return (
                Some(head.trim_start_matches('.').to_string()),
                rest.to_string(),
            );
        }
    }
    (None, text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_outside_cannot_drive_the_terminal() {
        let l = Location::file("new/a\u{1b}[31mRED\nfake: line.eml");
        let shown = l.to_string();
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\n'),
            "{shown}"
        );
        assert!(shown.contains("\\u{1b}[31mRED\\u{a}fake"), "{shown}");
    }

    #[test]
    fn location_prints_line_and_column() {
        let mut l = Location::at_line("leads/a.yaml", 12);
        l.column = Some(3);
        assert_eq!(l.to_string(), "leads/a.yaml:12:3");
        assert_eq!(
            Location::at_item("x.json", 0).to_string(),
            "x.json (record 1)"
        );
    }

    #[test]
    fn input_error_names_lead_and_field() {
        let e = InputError::new(Location::at_line("leads/a.yaml", 4), "not a number")
            .with_lead("acme")
            .with_field("rating");
        assert_eq!(
            e.to_string(),
            "leads/a.yaml:4: lead acme: field rating: not a number"
        );
    }

    #[test]
    fn positions_are_taken_out_of_messages() {
        assert_eq!(
            strip_positions("did not find expected ',' at line 3 column 7, while parsing a flow sequence at line 2 column 10"),
            "did not find expected ',', while parsing a flow sequence"
        );
        assert_eq!(strip_positions("at line one"), "at line one");
    }

    #[test]
    fn field_path_is_split_from_message() {
        assert_eq!(
            split_field_path("address.city: invalid type: integer"),
            (Some("address.city".into()), "invalid type: integer".into())
        );
        assert_eq!(
            split_field_path("did not find expected key"),
            (None, "did not find expected key".into())
        );
    }
}
