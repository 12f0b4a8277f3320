//! The headers each file of `site/` is stored with: its Content-Type (from its extension, never
//! from the platform's MIME table), its Cache-Control (fingerprinted assets for a year, pages
//! for minutes), and whether it is gzipped. `deploy.headers` rules win over the built-in ones.

use globset::{Glob, GlobMatcher};

use crate::config::HeaderRule;
use crate::error::{Error, Result};

/// Pages and other files whose name does not change with their content: a visitor sees a
/// change within five minutes.
pub const SHORT: &str = "public, max-age=300";
/// Files whose name carries a digest of their content (`theme.483d002eeb.css`): never change.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// What a file is stored with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    pub content_type: String,
    pub cache_control: String,
    /// Stored gzipped, with `Content-Encoding: gzip`.
    pub gzip: bool,
}

/// The header rules of the config, compiled.
pub struct Rules(Vec<(GlobMatcher, HeaderRule)>);

impl Rules {
    pub fn new(rules: &[HeaderRule]) -> Result<Rules> {
        rules
            .iter()
            .map(|r| {
                let glob = Glob::new(&r.pattern)
                    .map_err(|e| Error::Usage(format!("deploy.headers: {:?}: {e}", r.pattern)))?;
                Ok((glob.compile_matcher(), r.clone()))
            })
            .collect::<Result<_>>()
            .map(Rules)
    }

    /// The headers of the file at `path` (relative to `site/`, with `/`).
    pub fn of(&self, path: &str, gzip: bool) -> Headers {
        let ext = path
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        let mut h = Headers {
            content_type: content_type(&ext).to_string(),
            cache_control: if is_fingerprinted(path) {
                IMMUTABLE
            } else {
                SHORT
            }
            .to_string(),
            gzip: gzip && is_text(&ext),
        };
        let (mut typed, mut cached) = (false, false);
        for (glob, rule) in &self.0 {
            if !glob.is_match(path) {
                continue;
            }
            if let (false, Some(t)) = (typed, &rule.content_type) {
                h.content_type = t.clone();
                typed = true;
            }
            if let (false, Some(c)) = (cached, &rule.cache_control) {
                h.cache_control = c.clone();
                cached = true;
            }
        }
        h
    }
}

/// The types of what a site holds, by extension; text in UTF-8, as leadsite writes it.
pub fn content_type(ext: &str) -> &'static str {
    match ext {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "xml" => "application/xml; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "pdf" => "application/pdf",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "csv" => "text/csv; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

fn is_text(ext: &str) -> bool {
    matches!(
        ext,
        "html" | "htm" | "css" | "js" | "mjs" | "json" | "webmanifest" | "xml" | "txt" | "svg"
    )
}

/// A name with a hex digest of 8 or more characters before its extension, as leadsite names
/// its assets (`style.6d6197c335.css`, `hero.3fa2c1d9e0-800.webp`).
pub fn is_fingerprinted(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let Some((stem, _ext)) = name.rsplit_once('.') else {
        return false;
    };
    // Lower-case hex with a letter in it: a date or a number (`menu-20240115`) is no digest.
    stem.split(['.', '-']).any(|part| {
        part.len() >= 8
            && part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && part.bytes().any(|b| b.is_ascii_alphabetic())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_caching_and_rules() {
        let rules = Rules::new(&[
            HeaderRule {
                pattern: "**/*.pdf".into(),
                content_type: None,
                cache_control: Some("no-store".into()),
            },
            HeaderRule {
                pattern: "feeds/*.xml".into(),
                content_type: Some("application/rss+xml".into()),
                cache_control: None,
            },
        ])
        .unwrap();
        let page = rules.of("acme/index.html", true);
        assert_eq!(page.content_type, "text/html; charset=utf-8");
        assert_eq!(page.cache_control, SHORT);
        assert!(page.gzip);
        let css = rules.of("assets/default/style.6d6197c335.css", false);
        assert_eq!(
            (
                css.content_type.as_str(),
                css.cache_control.as_str(),
                css.gzip
            ),
            ("text/css; charset=utf-8", IMMUTABLE, false)
        );
        assert_eq!(
            rules.of("site.webmanifest", false).content_type,
            "application/manifest+json"
        );
        assert_eq!(rules.of("fonts/a.woff2", false).content_type, "font/woff2");
        assert_eq!(
            rules.of("sitemap.xml", false).content_type,
            "application/xml; charset=utf-8"
        );
        let img = rules.of("assets/img/acme.3fa2c1d9e0-800.webp", true);
        assert_eq!((img.cache_control.as_str(), img.gzip), (IMMUTABLE, false));
        assert_eq!(rules.of("docs/menu.pdf", false).cache_control, "no-store");
        assert_eq!(
            rules.of("feeds/all.xml", false).content_type,
            "application/rss+xml"
        );
        // A word of eight letters is no digest; a hex-looking slug of a page is not either.
        assert!(!is_fingerprinted("assets/handbook.css"));
        assert!(!is_fingerprinted("cafe-deadbeef/index.html"));
        assert!(!is_fingerprinted("docs/menu-20240115.pdf"));
        assert_eq!(rules.of("fonts/a.ttf", false).content_type, "font/ttf");
        assert!(Rules::new(&[HeaderRule {
            pattern: "[".into(),
            content_type: None,
            cache_control: None
        }])
        .is_err());
    }
}
