//! Themes: `themes/<name>/theme.yaml` (name, `extends`, the industries it serves),
//! `templates/*.html` (Tera) and `static/` (copied to `site/assets/<name>/` under fingerprinted
//! names). An industry theme extends `default` and overrides some of its blocks; its templates
//! are named `<theme>/<file>` (`{% extends "default/landing.html" %}`). A theme folder in the
//! project replaces the built-in theme of the same name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tera::Tera;

use super::embedded;
use crate::error::{yaml_error, InputError, Location};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ThemeFile {
    /// For people reading theme.yaml; leadsite knows a theme by its folder's name.
    #[allow(dead_code)]
    name: String,
    #[allow(dead_code)]
    description: String,
    extends: Option<String>,
    industries: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Theme {
    pub key: String,
    pub extends: Option<String>,
    pub industries: Vec<String>,
    /// Where the theme's files are, for messages: `themes/auto-repair` or `(built-in) themes/…`.
    pub origin: PathBuf,
    /// `static/` files: path under `static/` → bytes.
    pub statics: BTreeMap<PathBuf, Vec<u8>>,
    /// A digest of every file of the theme.
    pub digest: String,
    /// `i18n/<language>.yaml`: language → UI string key → text.
    pub i18n: BTreeMap<String, BTreeMap<String, String>>,
}

/// UI strings in one language: key → text (`t.call` in templates).
pub type Strings = BTreeMap<String, String>;

/// The string of `key`, else `fallback` (the English words, for a theme that lacks the key).
pub fn text(strings: &Strings, key: &str, fallback: &str) -> String {
    strings
        .get(key)
        .cloned()
        .unwrap_or_else(|| fallback.to_string())
}

/// A theme's files: path inside the theme folder → bytes.
type ThemeFiles = Vec<(PathBuf, Vec<u8>)>;

pub struct Themes {
    pub tera: Tera,
    pub themes: BTreeMap<String, Theme>,
    /// Whether a template names `lead` (the whole record) or `__tera_context`: only then is the
    /// record put into a page's context, which costs a copy of every field per page.
    pub names_lead: bool,
}

impl Themes {
    /// Loads the built-in themes, then the project's `dir` (each theme folder there replaces
    /// the built-in one), and compiles every template. Reports every problem found.
    pub fn load(dir: &Path) -> Result<Themes, Vec<InputError>> {
        let mut errors = Vec::new();
        let files = theme_files(dir, &mut errors);
        let mut themes = BTreeMap::new();
        let mut templates: Vec<(String, String)> = Vec::new();
        for (key, (origin, list)) in files {
            let theme = theme_of(key, origin, list, &mut templates, &mut errors);
            themes.insert(theme.key.clone(), theme);
        }
        if !themes.contains_key("default") {
            errors.push(InputError::new(
                Location::file(dir),
                "there is no `default` theme",
            ));
        }
        for t in themes.values() {
            if let Some(parent) = &t.extends {
                if !themes.contains_key(parent) {
                    errors.push(
                        InputError::new(
                            Location::file(t.origin.join("theme.yaml")),
                            format!("extends {parent:?}, which is not a theme"),
                        )
                        .with_field("extends"),
                    );
                }
            }
        }
        let names_lead = templates
            .iter()
            .any(|(_, source)| names_variable(source, "lead") || source.contains("__tera_context"));
        let tera = compile(templates, &themes, &mut errors);
        if errors.is_empty() {
            Ok(Themes {
                tera,
                themes,
                names_lead,
            })
        } else {
            Err(errors)
        }
    }

    /// The theme chain of `key`: itself, then what it extends, up to `default`.
    pub fn chain(&self, key: &str) -> Vec<&Theme> {
        let mut out: Vec<&Theme> = Vec::new();
        let mut next = Some(key.to_string());
        while let Some(k) = next {
            let Some(t) = self.themes.get(&k) else { break };
            if out.iter().any(|o| o.key == t.key) {
                break;
            }
            out.push(t);
            next = t.extends.clone();
        }
        out
    }

    /// The UI strings of a theme in a language: English, then the language without its region,
    /// then the full tag (`el-CY`), each from `default` up to the theme, each overriding the last.
    /// Also says whether any theme in the chain has strings in the language (else English shows).
    pub fn strings(&self, theme: &str, language: &str) -> (Strings, bool) {
        let lang = super::language::Lang::of(language);
        let mut levels = vec!["en"];
        for l in lang.suffixes().into_iter().rev() {
            if !levels.contains(&l) {
                levels.push(l);
            }
        }
        let mut chain = self.chain(theme);
        chain.reverse();
        let mut out = Strings::new();
        // English is always there; any other language needs a file of its own.
        let mut found = lang.is_english();
        for (i, level) in levels.iter().enumerate() {
            for t in &chain {
                if let Some(map) = t.i18n.get(*level) {
                    found |= i > 0;
                    out.extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        (out, found)
    }

    /// The template of `kind` (`landing.html` …) a theme renders with: its own, else the one of
    /// the theme it extends.
    pub fn template(&self, theme: &str, kind: &str) -> Option<String> {
        self.chain(theme)
            .iter()
            .map(|t| format!("{}/{kind}", t.key))
            .find(|name| self.tera.get_template_names().any(|n| n == name))
    }

    /// The theme of an industry: config's choice, else the theme that lists the industry (the
    /// first by name), else `default`.
    pub fn for_industry<'a>(
        &'a self,
        industry: Option<&str>,
        chosen: &'a BTreeMap<String, String>,
    ) -> &'a str {
        let Some(industry) = industry else {
            return "default";
        };
        if let Some(t) = chosen.get(industry) {
            return t;
        }
        self.themes
            .values()
            .find(|t| t.industries.iter().any(|i| i == industry))
            .map_or("default", |t| t.key.as_str())
    }

    /// A digest of a theme and every theme it extends.
    pub fn digest(&self, theme: &str) -> String {
        self.chain(theme)
            .iter()
            .map(|t| t.digest.as_str())
            .collect::<Vec<_>>()
            .join("")
    }
}

/// Whether `name` appears as a word inside a `{{ … }}` or `{% … %}` tag of a template's source.
/// A tag ends at the first `}}` / `%}` outside a string literal (Tera's `"…"`, `'…'`, `` `…` ``
/// hold no escapes), so `{{ "}}" ~ lead.name }}` is one tag. A mention inside a string or a
/// `{% raw %}` block counts too: it costs a copy, never a wrong page.
fn names_variable(source: &str, name: &str) -> bool {
    let bytes = source.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i + 1 < bytes.len() {
        let close = match (bytes[i], bytes[i + 1]) {
            (b'{', b'{') => b'}',
            (b'{', b'%') => b'%',
            _ => {
                i += 1;
                continue;
            }
        };
        let start = i + 2;
        let mut end = start;
        while end < bytes.len() {
            match bytes[end] {
                q @ (b'"' | b'\'' | b'`') => {
                    end = bytes[end + 1..]
                        .iter()
                        .position(|&b| b == q)
                        .map_or(bytes.len(), |p| end + 1 + p + 1);
                }
                b if b == close && bytes.get(end + 1) == Some(&b'}') => break,
                _ => end += 1,
            }
        }
        let tag = &bytes[start..end.min(bytes.len())];
        let found = tag.windows(name.len()).enumerate().any(|(k, w)| {
            w == name.as_bytes()
                && (k == 0 || !is_word(tag[k - 1]))
                && tag.get(k + name.len()).is_none_or(|&b| !is_word(b))
        });
        if found {
            return true;
        }
        i = end + 2;
    }
    false
}

/// A Tera error with every cause after it (Tera puts the useful part in the causes).
pub fn error_chain(e: &tera::Error) -> String {
    use std::error::Error as _;
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// Every theme's files: the built-in themes, then the project's (`dir`), which replace a
/// built-in theme of the same name.
fn theme_files(
    dir: &Path,
    errors: &mut Vec<InputError>,
) -> BTreeMap<String, (PathBuf, ThemeFiles)> {
    let mut files: BTreeMap<String, (PathBuf, ThemeFiles)> = BTreeMap::new();
    for (rel, bytes) in embedded::raw_files(&embedded::THEMES) {
        let mut parts = rel.components();
        let Some(theme) = parts.next() else { continue };
        let theme = theme.as_os_str().to_string_lossy().into_owned();
        let inner = parts.as_path().to_path_buf();
        let entry = files
            .entry(theme.clone())
            .or_insert_with(|| (Path::new("(built-in) themes").join(&theme), Vec::new()));
        entry.1.push((inner, bytes.to_vec()));
    }
    if dir.is_dir() {
        let mut names: Vec<PathBuf> = Vec::new();
        let entries = crate::fsutil::list_dir(dir).unwrap_or_else(|e| {
            errors.push(e.into_input(dir));
            Vec::new()
        });
        for p in entries {
            // A linked theme folder could publish anything it points at (`themes/x -> /`).
            if crate::fsutil::is_symlink(&p) {
                errors.push(InputError::new(
                    Location::file(&p),
                    "is a symbolic link: not read (copy the theme into themes/ instead)",
                ));
            } else if p.is_dir() {
                names.push(p);
            }
        }
        for theme_dir in names {
            let theme = theme_dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let list = read_theme_dir(&theme_dir, errors);
            files.insert(theme, (theme_dir, list));
        }
    }

    files
}

/// The files of one project theme folder, bounded in size; links and what is not a regular
/// file are refused.
fn read_theme_dir(theme_dir: &Path, errors: &mut Vec<InputError>) -> ThemeFiles {
    let mut list = Vec::new();
    let mut total = 0u64;
    for entry in walkdir::WalkDir::new(theme_dir).sort_by_file_name() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                errors.push(crate::fsutil::walk_error(e).into_input(theme_dir));
                continue;
            }
        };
        if entry.path_is_symlink() {
            errors.push(InputError::new(
                Location::file(entry.path()),
                "is a symbolic link: not read (copy the file into the theme instead)",
            ));
            continue;
        }
        if entry.file_type().is_dir() {
            continue;
        }
        if !entry.file_type().is_file() {
            errors.push(InputError::new(
                Location::file(entry.path()),
                "not a regular file (a FIFO, socket or device): not read",
            ));
            continue;
        }
        // The whole theme is held in memory while the site is built: bounded.
        total += entry.metadata().map_or(0, |m| m.len());
        if total > crate::limits::MAX_THEME {
            errors.push(InputError::new(
                Location::file(entry.path()),
                format!(
                    "the theme's files come to more than {} MiB: this one and the rest are not read",
                    crate::limits::MAX_THEME / (1024 * 1024)
                ),
            ));
            break;
        }
        let rel = entry.path().strip_prefix(theme_dir).unwrap_or(entry.path());
        match crate::limits::read_bytes(entry.path(), crate::limits::MAX_STATIC) {
            Ok(bytes) => list.push((rel.to_path_buf(), bytes)),
            Err(e) => errors.push(InputError::new(
                Location::file(entry.path()),
                format!("cannot read: {e}"),
            )),
        }
    }
    list
}

/// One theme from its files: `theme.yaml`, its statics and UI strings; its templates go to
/// `templates` (named `<theme>/<file>`), to be compiled with every theme's.
fn theme_of(
    key: String,
    origin: PathBuf,
    list: ThemeFiles,
    templates: &mut Vec<(String, String)>,
    errors: &mut Vec<InputError>,
) -> Theme {
    let mut meta = ThemeFile::default();
    let mut statics = BTreeMap::new();
    let mut i18n = BTreeMap::new();
    let mut digest = Vec::new();
    for (rel, bytes) in list {
        digest.extend_from_slice(rel.to_string_lossy().as_bytes());
        digest.extend_from_slice(&bytes);
        let path = origin.join(&rel);
        if rel == Path::new("theme.yaml") {
            let guard = std::str::from_utf8(&bytes)
                .map_err(|_| InputError::new(Location::file(&path), "not UTF-8 text"))
                .and_then(|t| crate::limits::check_yaml(t, &path));
            if let Err(e) = guard {
                errors.push(e);
                continue;
            }
            match serde_yaml_ng::from_slice::<ThemeFile>(&bytes) {
                Ok(m) => meta = m,
                Err(e) => errors.push(yaml_error(&path, &e)),
            }
        } else if let Ok(name) = rel.strip_prefix("templates") {
            match String::from_utf8(bytes) {
                Ok(text) => templates.push((format!("{key}/{}", name.to_string_lossy()), text)),
                Err(_) => errors.push(InputError::new(
                    Location::file(&path),
                    "a template must be UTF-8 text",
                )),
            }
        } else if let Ok(name) = rel.strip_prefix("static") {
            statics.insert(name.to_path_buf(), bytes);
        } else if let Ok(name) = rel.strip_prefix("i18n") {
            let lang = name
                .to_string_lossy()
                .strip_suffix(".yaml")
                .map(|l| l.to_ascii_lowercase());
            match lang {
                Some(lang) => match std::str::from_utf8(&bytes)
                    .map_err(|_| InputError::new(Location::file(&path), "not UTF-8 text"))
                    .and_then(|t| crate::limits::check_yaml(t, &path))
                    .and_then(|()| {
                        serde_yaml_ng::from_slice::<Strings>(&bytes)
                            .map_err(|e| yaml_error(&path, &e))
                    }) {
                    Ok(map) => {
                        i18n.insert(lang, map);
                    }
                    Err(e) => errors.push(e),
                },
                None => errors.push(InputError::new(
                    Location::file(&path),
                    "UI strings are i18n/<language>.yaml files (en.yaml, el-cy.yaml …)",
                )),
            }
        }
    }
    Theme {
        key,
        extends: meta.extends,
        industries: meta.industries,
        origin,
        statics,
        digest: crate::fsutil::fingerprint(&digest),
        i18n,
    }
}

/// The templates of every theme compiled into one Tera, escaping as HTML, with a bounded
/// `range` and no macro that calls itself.
fn compile(
    templates: Vec<(String, String)>,
    themes: &BTreeMap<String, Theme>,
    errors: &mut Vec<InputError>,
) -> Tera {
    let mut tera = Tera::default();
    tera.autoescape_on(vec![".html", ".xml"]);
    tera.set_escape_fn(crate::text::escape_html);
    tera.register_function("range", bounded_range);
    if let Err(e) = tera.add_raw_templates(templates) {
        errors.push(template_error(themes, &e, None));
    } else if let Some((name, cycle)) = super::macros::recursion(&tera) {
        // Tera names templates `<theme>/<file>`.
        let file = name
            .split_once('/')
            .and_then(|(key, file)| Some(themes.get(key)?.origin.join("templates").join(file)))
            .unwrap_or_else(|| PathBuf::from("themes"));
        errors.push(InputError::new(
            Location::file(file),
            format!(
                "a macro calls itself ({cycle}): Tera has no depth limit, so a loop without \
                 end would crash the build; write it without recursion"
            ),
        ));
    }
    tera
}

/// A Tera error as an input error on the template's file, with the lead it was rendering.
pub fn template_error(
    themes: &BTreeMap<String, Theme>,
    e: &tera::Error,
    lead: Option<&str>,
) -> InputError {
    let message = error_chain(e);
    // Tera names templates `<theme>/<file>`; say which file that is.
    let file = themes
        .iter()
        .find_map(|(key, t)| {
            let prefix = format!("'{key}/");
            let at = message.find(&prefix)?;
            let rest = &message[at + prefix.len()..];
            let name = &rest[..rest.find('\'')?];
            Some(t.origin.join("templates").join(name))
        })
        .unwrap_or_else(|| PathBuf::from("themes"));
    let mut location = Location::file(file);
    // Parse errors carry ` --> LINE:COL`.
    if let Some(at) = message.find("--> ") {
        let pos: String = message[at + 4..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ':')
            .collect();
        let mut it = pos.split(':').filter_map(|n| n.parse::<u64>().ok());
        location.line = it.next();
        location.column = it.next();
    }
    // A parse error quotes the template's line: a line of a megabyte stays out of the terminal.
    let mut message = crate::text::collapse_ws(&message);
    if message.len() > 1000 {
        message = format!("{}…", crate::text::cut(&message, 1000));
    }
    let err = InputError::new(location, message);
    match lead {
        Some(l) => err.with_lead(l),
        None => err,
    }
}

/// Longest list Tera's `range` may make in a template (its own has no bound: a theme with
/// `range(end=1000000000)` took the whole machine's memory).
const MAX_RANGE: i64 = 100_000;

/// Tera's `range(end, start=0, step_by=1)`, bounded by [`MAX_RANGE`] items.
fn bounded_range(
    args: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let int = |k: &str, default: Option<i64>| -> tera::Result<i64> {
        match args.get(k) {
            Some(v) => v
                .as_i64()
                .ok_or_else(|| tera::Error::msg(format!("range: `{k}` must be a whole number"))),
            None => default.ok_or_else(|| tera::Error::msg(format!("range: `{k}` is required"))),
        }
    };
    let end = int("end", None)?;
    let start = int("start", Some(0))?;
    let step = int("step_by", Some(1))?;
    if step <= 0 {
        return Err(tera::Error::msg("range: `step_by` must be positive"));
    }
    if start > end {
        return Err(tera::Error::msg("range: `start` must not be past `end`"));
    }
    let count = (end - start + step - 1) / step;
    if count > MAX_RANGE {
        return Err(tera::Error::msg(format!(
            "range: {count} items; a theme may make at most {MAX_RANGE}"
        )));
    }
    Ok((start..end)
        .step_by(step as usize)
        .collect::<Vec<i64>>()
        .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_is_tera_s_but_bounded() {
        let args = |pairs: &[(&str, i64)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), tera::Value::from(*v)))
                .collect::<std::collections::HashMap<_, _>>()
        };
        assert_eq!(
            bounded_range(&args(&[("end", 5)])).unwrap(),
            tera::Value::from(vec![0, 1, 2, 3, 4])
        );
        assert_eq!(
            bounded_range(&args(&[("start", 2), ("end", 9), ("step_by", 3)])).unwrap(),
            tera::Value::from(vec![2, 5, 8])
        );
        assert!(bounded_range(&args(&[("end", 1_000_000_000)])).is_err());
        assert!(bounded_range(&args(&[("end", 5), ("step_by", 0)])).is_err());
    }

    #[test]
    fn a_variable_is_named_only_as_a_word_inside_a_tag() {
        for named in [
            "{{ lead.name }}",
            "{%- if lead %}x{% endif %}",
            "{% for k in lead.extra %}{% endfor %}",
            "{{ x | default(value=lead) }}",
            "{{lead}}",
            // A closing delimiter inside a string does not end the tag.
            r#"{{ "}}" ~ lead.name }}"#,
            r#"{% set label = "50%} off at " ~ lead.name %}"#,
            r#"{% if "%}" and lead.phone %}x{% endif %}"#,
            r#"{{ '}}' ~ `%}` ~ lead.name }}"#,
            r#"{{ x | replace(from="{{owner}}", to=lead.name) }}"#,
        ] {
            assert!(names_variable(named, "lead"), "{named}");
        }
        for not_named in [
            "lead outside a tag {{ business.name }}",
            "{{ leads }} {{ mislead }} {% if lead_time %}{% endif %}",
            "{ lead } {{ unclosed",
            "{# lead in a comment #}",
        ] {
            assert!(!names_variable(not_named, "lead"), "{not_named}");
        }
    }

    #[test]
    fn built_in_themes_load_and_industries_find_theirs() {
        let t = Themes::load(Path::new("/nonexistent")).unwrap();
        for key in [
            "default",
            "auto-repair",
            "real-estate",
            "restaurant",
            "plumbing",
        ] {
            assert!(t.themes.contains_key(key), "{key}");
        }
        let none = BTreeMap::new();
        assert_eq!(t.for_industry(Some("auto-repair"), &none), "auto-repair");
        assert_eq!(t.for_industry(Some("bakery"), &none), "restaurant");
        assert_eq!(t.for_industry(Some("dentist"), &none), "default");
        let chosen = BTreeMap::from([("dentist".to_string(), "plumbing".to_string())]);
        assert_eq!(t.for_industry(Some("dentist"), &chosen), "plumbing");
        assert_eq!(
            t.template("auto-repair", "landing.html").as_deref(),
            Some("auto-repair/landing.html")
        );
        assert_eq!(
            t.template("auto-repair", "index.html").as_deref(),
            Some("default/index.html")
        );
    }

    #[test]
    fn a_bad_template_names_its_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let theme = dir.path().join("broken");
        std::fs::create_dir_all(theme.join("templates")).unwrap();
        std::fs::write(theme.join("theme.yaml"), "extends: default\n").unwrap();
        std::fs::write(theme.join("templates/landing.html"), "{% extends \"default/landing.html\" %}\n{% block hero %}\n{{ business.name \n{% endblock %}\n").unwrap();
        let errors = Themes::load(dir.path()).err().expect("an error");
        let text = errors[0].to_string();
        assert!(text.contains("broken/templates/landing.html"), "{text}");
        assert_eq!(errors[0].location.line, Some(4), "{text}");
    }
}
