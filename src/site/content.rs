//! Content: `content/industries/<industry>.md` (front matter: tagline, services, FAQ; a Markdown
//! body, the page's default "about" copy) and `content/pages/*.md` (privacy, imprint …), read from
//! the project's `content/` folder, else from the copy built into the binary. Markdown becomes
//! HTML with pulldown-cmark; Markdown that comes with a lead is made safe first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};
use serde::{Deserialize, Serialize};

use super::embedded;
use crate::error::{yaml_error, InputError, Location};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    #[serde(default)]
    pub text: String,
    /// The fact (facts::NAMES) that must hold for the lead for this block to be shown. A block
    /// without one must say nothing about the business: only neutral words about the trade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faq {
    pub q: String,
    pub a: String,
    /// As for [`Service::when`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct IndustryFront {
    tagline: String,
    services: Vec<Service>,
    faq: Vec<Faq>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct PageFront {
    title: String,
}

/// One industry's copy, as templates see it (`industry.*`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Industry {
    pub key: String,
    pub tagline: String,
    pub services: Vec<Service>,
    pub faq: Vec<Faq>,
    pub body_html: String,
}

/// A page such as privacy or imprint, written to `site/<name>/`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page {
    pub name: String,
    pub title: String,
    pub body_html: String,
    /// Still the built-in example text (an imprint naming an example agency …): a placeholder.
    #[serde(skip)]
    pub example: bool,
    /// The language of `<name>.<lang>.md`; `None` for the plain (English) file.
    #[serde(skip)]
    pub lang: Option<String>,
}

#[derive(Debug, Default)]
pub struct Content {
    /// Industry key → copy; `default` is the fallback.
    pub industries: BTreeMap<String, Industry>,
    pub pages: Vec<Page>,
    /// A digest of every content file, for the incremental build.
    pub fingerprint: String,
}

impl Content {
    /// Reads `dir` (the project's `content/`), each file of the built-in content that the project
    /// does not have included. Every broken file is reported.
    pub fn load(dir: &Path) -> Result<Content, Vec<InputError>> {
        let mut files: BTreeMap<PathBuf, (PathBuf, String)> = BTreeMap::new();
        let built_in: BTreeMap<PathBuf, String> =
            embedded::files(&embedded::CONTENT).into_iter().collect();
        for (rel, text) in &built_in {
            files.insert(
                rel.clone(),
                (Path::new("(built-in) content").join(rel), text.clone()),
            );
        }
        if dir.is_dir() {
            for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
                let entry =
                    entry.map_err(|e| vec![crate::fsutil::walk_error(e).into_input(dir)])?;
                if entry.path_is_symlink() {
                    return Err(vec![InputError::new(
                        Location::file(entry.path()),
                        "is a symbolic link: not read (keep content files in content/ as files)",
                    )]);
                }
                if entry.file_type().is_dir() {
                    continue;
                }
                if !entry.file_type().is_file() {
                    return Err(vec![InputError::new(
                        Location::file(entry.path()),
                        "not a regular file (a FIFO, socket or device): not read",
                    )]);
                }
                let rel = entry
                    .path()
                    .strip_prefix(dir)
                    .unwrap_or(entry.path())
                    .to_path_buf();
                match crate::limits::read_text(entry.path(), crate::limits::MAX_CONTENT_FILE) {
                    Ok(text) => {
                        files.insert(rel, (entry.path().to_path_buf(), text));
                    }
                    Err(e) => return Err(vec![e]),
                }
            }
        }
        let mut content = Content::default();
        let mut errors = Vec::new();
        let mut digest = String::new();
        for (rel, (path, text)) in &files {
            if rel.extension().and_then(|e| e.to_str()) != Some("md") {
                continue;
            }
            digest.push_str(&rel.to_string_lossy());
            digest.push_str(text);
            let name = rel
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_string();
            let folder = rel.parent().and_then(|p| p.to_str()).unwrap_or("");
            let result = match folder {
                "industries" => {
                    parse_front::<IndustryFront>(text, path).and_then(|(front, body)| {
                        check_when(&front, path)?;
                        content.industries.insert(
                            name.clone(),
                            Industry {
                                key: name.split('.').next().unwrap_or(&name).to_string(),
                                tagline: front.tagline,
                                services: front.services,
                                faq: front.faq,
                                body_html: markdown(body, true),
                            },
                        );
                        Ok(())
                    })
                }
                "pages" => parse_front::<PageFront>(text, path).map(|(front, body)| {
                    let title = if front.title.is_empty() {
                        name.clone()
                    } else {
                        front.title
                    };
                    // `privacy.el.md` is the privacy page in Greek.
                    let (base, lang) = match name.split_once('.') {
                        Some((b, l)) => (b.to_string(), Some(l.to_ascii_lowercase())),
                        None => (name.clone(), None),
                    };
                    content.pages.push(Page {
                        name: base,
                        title,
                        body_html: markdown(body, true),
                        example: built_in.get(rel).is_some_and(|b| b.trim() == text.trim()),
                        lang,
                    });
                }),
                _ => Ok(()),
            };
            if let Err(e) = result {
                errors.push(e);
            }
            if folder == "pages" && !crate::lead::is_valid_key(name.split('.').next().unwrap_or(""))
            {
                errors.push(InputError::new(
                    Location::file(path),
                    "a page's file name becomes its URL: use lower-case letters, digits and '-'",
                ));
            }
        }
        content
            .industries
            .entry("default".into())
            .or_insert_with(|| Industry {
                key: "default".into(),
                ..Industry::default()
            });
        content.fingerprint = crate::fsutil::fingerprint(digest.as_bytes());
        if errors.is_empty() {
            Ok(content)
        } else {
            Err(errors)
        }
    }

    /// The copy for an industry, else the default copy.
    pub fn industry(&self, key: Option<&str>) -> &Industry {
        key.and_then(|k| self.industries.get(k))
            .unwrap_or_else(|| &self.industries["default"])
    }

    /// Keeps one version of each page for the site's language: `<page>.<el-cy>.md`, else
    /// `<page>.<el>.md`, else `<page>.md`.
    pub fn keep_pages_in(&mut self, language: &str) {
        let suffixes = super::language::Lang::of(language);
        let suffixes = suffixes.suffixes();
        // Most specific first; the plain English file after every suffix; other languages never.
        let rank = |p: &Page| match p.lang.as_deref() {
            Some(l) => suffixes.iter().position(|s| *s == l).unwrap_or(usize::MAX),
            None => suffixes.len(),
        };
        let mut best: BTreeMap<String, Page> = BTreeMap::new();
        for p in std::mem::take(&mut self.pages) {
            if rank(&p) == usize::MAX {
                continue;
            }
            match best.get(&p.name) {
                Some(b) if rank(b) <= rank(&p) => {}
                _ => {
                    best.insert(p.name.clone(), p);
                }
            }
        }
        self.pages = best.into_values().collect();
    }

    /// The copy for an industry in a language: `<industry>.<el-cy>.md`, `<industry>.<el>.md`,
    /// `<industry>.md`, then the same for `default`. English copy is the one without a suffix.
    pub fn industry_in(&self, key: Option<&str>, language: &str) -> &Industry {
        let lang = super::language::Lang::of(language);
        let find = |k: &str| {
            lang.suffixes()
                .iter()
                .map(|s| format!("{k}.{s}"))
                .chain([k.to_string()])
                .find_map(|name| self.industries.get(&name))
        };
        key.and_then(find)
            .or_else(|| find("default"))
            .unwrap_or_else(|| &self.industries["default"])
    }
}

impl Industry {
    /// This copy for one lead: only the blocks whose `when` fact holds for it.
    pub fn for_lead(&self, facts: &super::facts::Facts) -> Industry {
        let shown = |when: &Option<String>| when.as_deref().is_none_or(|w| facts.holds(w));
        Industry {
            services: self
                .services
                .iter()
                .filter(|s| shown(&s.when))
                .cloned()
                .collect(),
            faq: self
                .faq
                .iter()
                .filter(|q| shown(&q.when))
                .cloned()
                .collect(),
            ..self.clone()
        }
    }
}

/// Every `when:` names a fact leadsite knows: a typo would hide a block for good, silently.
fn check_when(front: &IndustryFront, path: &Path) -> Result<(), InputError> {
    let whens = front
        .services
        .iter()
        .map(|s| ("services", &s.when))
        .chain(front.faq.iter().map(|q| ("faq", &q.when)));
    for (field, when) in whens {
        if let Some(w) = when {
            if !super::facts::NAMES.contains(&w.as_str()) {
                return Err(InputError::new(
                    Location::file(path),
                    format!(
                        "unknown fact {w:?} in when: (known: {})",
                        super::facts::NAMES.join(", ")
                    ),
                )
                .with_field(format!("{field}[].when")));
            }
        }
    }
    Ok(())
}

/// Splits `---` front matter (YAML) from the Markdown body.
pub(crate) fn parse_front<'t, T: for<'de> Deserialize<'de> + Default>(
    text: &'t str,
    path: &Path,
) -> Result<(T, &'t str), InputError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return Ok((T::default(), text));
    };
    let end = rest
        .find("\n---")
        .ok_or_else(|| InputError::new(Location::file(path), "front matter has no closing ---"))?;
    let front = &rest[..end + 1];
    let body = rest[end + 4..].trim_start_matches(['\r', '\n']);
    crate::limits::check_yaml(front, path).map_err(|mut e| {
        // The front matter starts on the file's second line.
        if let Some(line) = e.location.line.as_mut() {
            *line += 1;
        }
        e
    })?;
    let value: T = if front.trim().is_empty() {
        T::default()
    } else {
        serde_yaml_ng::from_str(front).map_err(|e| {
            let mut err = yaml_error(path, &e);
            // The front matter starts on the file's second line.
            if let Some(line) = err.location.line.as_mut() {
                *line += 1;
            }
            err
        })?
    };
    Ok((value, body))
}

/// Markdown → HTML. Untrusted Markdown (a lead's `about`) has its raw HTML shown as text and
/// only http(s), mailto: and tel: links kept.
pub fn markdown(text: &str, trusted: bool) -> String {
    let parser = Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH);
    let mut out = String::new();
    if trusted {
        html::push_html(&mut out, parser);
        return out;
    }
    let safe_url = |u: &str| {
        let lower = u.trim().to_ascii_lowercase();
        ["http://", "https://", "mailto:", "tel:"]
            .iter()
            .any(|s| lower.starts_with(s))
    };
    let events = parser.map(|ev| match ev {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) if !safe_url(&dest_url) => Event::Start(Tag::Link {
            link_type,
            dest_url: CowStr::from("#"),
            title,
            id,
        }),
        Event::Start(Tag::Image { .. }) => Event::Text(CowStr::from("")),
        Event::End(pulldown_cmark::TagEnd::Image) => Event::Text(CowStr::from("")),
        other => other,
    });
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_markdown_cannot_inject_markup_or_script_links() {
        let md = "Hi <script>alert(1)</script>\n\n[x](javascript:alert(1)) [y](https://ok.example/) ![i](https://img.example/a.png)\n\n<div onclick=x>raw</div>\n";
        let html = markdown(md, false);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<div"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("href=\"https://ok.example/\""), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn front_matter_errors_name_the_file_line() {
        let err = parse_front::<IndustryFront>(
            "---\ntagline: x\nservices: nope\n---\nbody\n",
            Path::new("content/industries/x.md"),
        )
        .unwrap_err();
        assert_eq!(err.location.line, Some(3), "{err}");
        assert!(err.to_string().contains("services"), "{err}");
        let (front, body) =
            parse_front::<IndustryFront>("---\ntagline: Fast\n---\n# Hello\n", Path::new("x.md"))
                .unwrap();
        assert_eq!((front.tagline.as_str(), body), ("Fast", "# Hello\n"));
    }

    #[test]
    fn built_in_content_loads() {
        let c = Content::load(Path::new("/nonexistent")).unwrap();
        assert!(c.industries.contains_key("auto-repair"));
        assert!(c.pages.iter().any(|p| p.name == "privacy"));
        assert_eq!(c.industry(Some("no-such")).key, "default");
    }
}
