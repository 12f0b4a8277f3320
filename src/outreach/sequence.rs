//! Sequences: `content/emails/<sequence>/NN-name.md`, one file a step, in file-name order.
//! Front matter: `subject` (a template), `delay` after the previous step (`3d`, `12h`, `30m`),
//! `channel` (`email` or `whatsapp`). The body is Markdown with Tera variables
//! (`{{ business.name }}`, `{{ landing_url }}`), sent as text and as HTML (an SMS sends the text).
//! A variable that is not there is an error.
//!
//! A `whatsapp` step names its approved WhatsApp template (`template`) and the template's body
//! parameters (`params`): a list for a template with positional `{{1}}`, `{{2}}` …, or a mapping
//! of names for one with named parameters. Each is a Tera template like the body; unset, the
//! parameters are `["{{ business.name }}", "{{ landing_url }}"]`. A parameter renders to one
//! line (Meta refuses newlines, tabs and runs of more than four spaces), and one that renders
//! empty stops that lead's step before anything is sent.

use std::path::{Path, PathBuf};

use chrono::Duration;
use serde::{Deserialize, Serialize};
use tera::{Context, Tera};

use crate::error::{Error, InputError, Location, Result};
use crate::site::{content, embedded};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Front {
    subject: String,
    delay: String,
    channel: String,
    /// For `channel: whatsapp`: the approved WhatsApp template's name.
    template: String,
    /// For `channel: whatsapp`: the template's body parameters.
    params: Option<Params>,
}

/// A WhatsApp template's body parameters, as a step names them: by position (`{{1}}` …) or by
/// name (`{{business}}` …), each a Tera template rendered for the lead.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Params {
    Positional(Vec<String>),
    Named(std::collections::BTreeMap<String, String>),
}

impl Params {
    /// What a step that names none sends: the business's name and its page.
    fn default_two() -> Params {
        Params::Positional(vec![
            "{{ business.name }}".into(),
            "{{ landing_url }}".into(),
        ])
    }

    /// (name, template) pairs in the order they are sent; positional ones have no name.
    fn entries(&self) -> Vec<(Option<&str>, &str)> {
        match self {
            Params::Positional(v) => v.iter().map(|t| (None, t.as_str())).collect(),
            Params::Named(m) => m
                .iter()
                .map(|(k, t)| (Some(k.as_str()), t.as_str()))
                .collect(),
        }
    }
}

/// One rendered template parameter: its name (named templates) and text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub file: PathBuf,
    pub delay: Duration,
    /// `email` or `whatsapp`.
    pub channel: String,
    pub template: String,
    /// A whatsapp step's template parameters.
    pub params: Params,
}

pub struct Sequence {
    pub name: String,
    pub steps: Vec<Step>,
    tera: Tera,
}

/// A step rendered for one lead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub fn parse_delay(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() || s == "0" {
        return Some(Duration::zero());
    }
    let (num, unit) = s.split_at(s.len() - 1);
    let n: i64 = num.trim().parse().ok().filter(|n| *n >= 0)?;
    match unit {
        "d" => Some(Duration::days(n)),
        "h" => Some(Duration::hours(n)),
        "m" => Some(Duration::minutes(n)),
        _ => None,
    }
}

impl Sequence {
    /// Loads `<content>/emails/<name>/`, else the built-in sequence of that name.
    pub fn load(content_dir: &Path, name: &str) -> Result<Sequence> {
        let dir = content_dir.join("emails").join(name);
        for linked in [content_dir.join("emails"), dir.clone()] {
            if crate::fsutil::is_symlink(&linked) {
                return Err(InputError::new(
                    Location::file(&linked),
                    "is a symbolic link: not read (keep email templates in content/emails/ as files)",
                )
                .into());
            }
        }
        let mut files: Vec<(PathBuf, String)> = Vec::new();
        if dir.is_dir() {
            let paths = crate::fsutil::list_dir(&dir)?;
            for p in paths
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "md"))
            {
                if crate::fsutil::is_symlink(&p) {
                    return Err(InputError::new(
                        Location::file(&p),
                        "is a symbolic link: not read (keep email templates in content/emails/ as files)",
                    )
                    .into());
                }
                let text = crate::limits::read_text(&p, crate::limits::MAX_CONTENT_FILE)?;
                files.push((p.clone(), text));
            }
        } else {
            let prefix = Path::new("emails").join(name);
            for (rel, text) in embedded::files(&embedded::CONTENT) {
                if rel.parent() == Some(prefix.as_path())
                    && rel.extension().is_some_and(|e| e == "md")
                {
                    files.push((Path::new("(built-in) content").join(rel), text));
                }
            }
        }
        if files.is_empty() {
            return Err(Error::from(InputError::new(
                Location::file(&dir),
                format!("sequence {name:?} has no steps (NN-name.md files)"),
            )));
        }
        let mut tera = Tera::default();
        let mut steps = Vec::new();
        let mut errors = Vec::new();
        let mut templates = Vec::new();
        for (i, (path, text)) in files.iter().enumerate() {
            let number = i as u32 + 1;
            let (front, body) = match content::parse_front::<Front>(text, path) {
                Ok(v) => v,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let Some(delay) = parse_delay(&front.delay) else {
                errors.push(
                    InputError::new(
                        Location::file(path),
                        format!("delay {:?}: write it as 3d, 12h or 30m", front.delay),
                    )
                    .with_field("delay"),
                );
                continue;
            };
            let channel = if front.channel.is_empty() {
                "email".to_string()
            } else {
                front.channel.clone()
            };
            if !matches!(channel.as_str(), "email" | "whatsapp") {
                errors.push(
                    InputError::new(
                        Location::file(path),
                        format!("channel {channel:?}: email or whatsapp"),
                    )
                    .with_field("channel"),
                );
            }
            if channel == "email" && front.subject.trim().is_empty() {
                errors.push(
                    InputError::new(Location::file(path), "an email step needs a subject")
                        .with_field("subject"),
                );
            }
            if channel != "whatsapp" && front.params.is_some() {
                errors.push(
                    InputError::new(
                        Location::file(path),
                        "params are a whatsapp step's template parameters: this step is an email",
                    )
                    .with_field("params"),
                );
            }
            let params = front.params.clone().unwrap_or_else(Params::default_two);
            if let Params::Named(m) = &params {
                if let Some(bad) = m.keys().find(|k| !is_param_name(k)) {
                    errors.push(
                        InputError::new(
                            Location::file(path),
                            format!("parameter name {bad:?}: lower-case letters, digits and '_', starting with a letter (as Meta names them)"),
                        )
                        .with_field("params"),
                    );
                }
            }
            for (i, (_, text)) in params.entries().into_iter().enumerate() {
                templates.push((format!("{number}/param/{i}"), text.to_string()));
            }
            if channel == "whatsapp" && front.template.trim().is_empty() {
                errors.push(
                    InputError::new(
                        Location::file(path),
                        "a whatsapp step names its approved template",
                    )
                    .with_field("template"),
                );
            }
            templates.push((format!("{number}/subject"), front.subject.clone()));
            templates.push((format!("{number}/text"), body.to_string()));
            // The .html name turns on escaping: lead data cannot add markup to the HTML part.
            templates.push((format!("{number}/body.html"), body.to_string()));
            steps.push(Step {
                file: path.clone(),
                delay,
                channel,
                template: front.template,
                params,
            });
        }
        tera.autoescape_on(vec![".html"]);
        if let Err(e) = tera.add_raw_templates(templates) {
            errors.push(InputError::new(Location::file(&dir), tera_message(&e)));
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        Ok(Sequence {
            name: name.to_string(),
            steps,
            tera,
        })
    }

    /// Renders step `number` (1-based) with `ctx`; a missing variable names the step's file.
    pub fn render(
        &self,
        number: u32,
        ctx: &Context,
        footer_text: &str,
        footer_html: &str,
    ) -> Result<Rendered> {
        let step = &self.steps[number as usize - 1];
        let render = |name: String| {
            self.tera.render(&name, ctx).map_err(|e| {
                Error::from(InputError::new(
                    Location::file(&step.file),
                    tera_message(&e),
                ))
            })
        };
        let subject = crate::text::collapse_ws(&render(format!("{number}/subject"))?);
        let text = format!(
            "{}\n\n-- \n{footer_text}\n",
            render(format!("{number}/text"))?.trim_end()
        );
        let html_md = render(format!("{number}/body.html"))?;
        let html = format!(
            "<!DOCTYPE html><html><body>{}<hr><p style=\"font-size:12px;color:#555\">{footer_html}</p></body></html>\n",
            link_urls(&content::markdown(&html_md, false))
        );
        Ok(Rendered {
            subject,
            text,
            html,
        })
    }

    /// Renders the template parameters of whatsapp step `number` for one lead, each as one line
    /// (whitespace runs folded: Meta refuses newlines, tabs and more than four spaces in a
    /// row). A template error names the step's file; an empty parameter is the caller's to
    /// refuse (see [`empty_param`]).
    pub fn render_params(&self, number: u32, ctx: &Context) -> Result<Vec<Param>> {
        let step = &self.steps[number as usize - 1];
        let mut out = Vec::new();
        for (i, (name, _)) in step.params.entries().into_iter().enumerate() {
            let text = self
                .tera
                .render(&format!("{number}/param/{i}"), ctx)
                .map_err(|e| {
                    Error::from(
                        InputError::new(Location::file(&step.file), tera_message(&e))
                            .with_field("params"),
                    )
                })?;
            out.push(Param {
                name: name.map(str::to_string),
                text: crate::text::collapse_ws(&text),
            });
        }
        Ok(out)
    }
}

/// Which parameter came out empty, if one did ("2", or a name): Meta refuses the message, so
/// that lead's step is not sent.
pub fn empty_param(params: &[Param]) -> Option<String> {
    params.iter().enumerate().find_map(|(i, p)| {
        p.text
            .is_empty()
            .then(|| p.name.clone().unwrap_or_else(|| (i + 1).to_string()))
    })
}

/// A named template parameter as Meta allows it: lower-case letters, digits and underscores,
/// starting with a letter.
fn is_param_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Makes each bare http(s) URL in the text of an HTML fragment a link, as mail clients expect
/// (Markdown links only `<…>` and `[…](…)`). Text already inside a link is left alone; the URL
/// is already HTML-escaped text, so it is valid in the attribute as it is.
fn link_urls(html: &str) -> String {
    static URL: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"https?://[^\s<]+").unwrap());
    let mut out = String::with_capacity(html.len());
    let mut in_link = false;
    let mut rest = html;
    while !rest.is_empty() {
        if rest.starts_with('<') {
            let end = rest.find('>').map_or(rest.len(), |i| i + 1);
            let tag = &rest[..end];
            if tag.starts_with("<a ") || tag == "<a>" {
                in_link = true;
            } else if tag == "</a>" {
                in_link = false;
            }
            out.push_str(tag);
            rest = &rest[end..];
            continue;
        }
        let end = rest.find('<').unwrap_or(rest.len());
        let text = &rest[..end];
        if in_link {
            out.push_str(text);
        } else {
            let mut last = 0;
            for m in URL.find_iter(text) {
                // Trailing punctuation ends the sentence, not the URL.
                let url = m
                    .as_str()
                    .trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
                out.push_str(&text[last..m.start()]);
                out.push_str(&format!("<a href=\"{url}\">{url}</a>"));
                last = m.start() + url.len();
            }
            out.push_str(&text[last..]);
        }
        rest = &rest[end..];
    }
    out
}

fn tera_message(e: &tera::Error) -> String {
    let m = crate::site::theme::error_chain(e);
    crate::text::collapse_ws(&m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_urls_become_links_and_links_stay_links() {
        assert_eq!(
            link_urls("<p>See https://pages.agency.example/acme/?a=1&amp;b=2.</p>"),
            "<p>See <a href=\"https://pages.agency.example/acme/?a=1&amp;b=2\">https://pages.agency.example/acme/?a=1&amp;b=2</a>.</p>"
        );
        let linked = "<p><a href=\"https://x.example/\">https://x.example/</a></p>";
        assert_eq!(link_urls(linked), linked);
    }

    #[test]
    fn the_built_in_sequence_loads_and_a_missing_variable_is_an_error() {
        let seq = Sequence::load(Path::new("/nonexistent"), "intro").unwrap();
        assert_eq!(seq.steps.len(), 3);
        assert_eq!(seq.steps[1].delay, Duration::days(3));
        let mut ctx = Context::new();
        ctx.insert(
            "business",
            &serde_json::json!({"name": "Acme <b>Auto</b>", "city": "Springfield"}),
        );
        ctx.insert("landing_url", "https://pages.example/acme/");
        ctx.insert("sender", &serde_json::json!({"name": "Sam"}));
        let r = seq.render(1, &ctx, "Addr", "Addr").unwrap();
        assert!(r.subject.contains("Acme <b>Auto</b>"), "{}", r.subject);
        assert!(r.text.contains("https://pages.example/acme/"));
        assert!(
            !r.html.contains("<b>Auto"),
            "lead data is escaped in HTML: {}",
            r.html
        );
        let mut bare = Context::new();
        bare.insert("business", &serde_json::json!({"name": "Acme"}));
        let err = seq.render(1, &bare, "", "").unwrap_err().to_string();
        assert!(err.contains("01-first-look.md"), "{err}");
    }

    #[test]
    fn delays() {
        assert_eq!(parse_delay("3d"), Some(Duration::days(3)));
        assert_eq!(parse_delay("12h"), Some(Duration::hours(12)));
        assert_eq!(parse_delay(""), Some(Duration::zero()));
        assert_eq!(parse_delay("soon"), None);
    }
}
