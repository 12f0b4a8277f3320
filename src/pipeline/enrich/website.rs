//! The `website` provider: reads a lead's own site — the home page and a few same-host pages
//! such as /contact or /about — politely: robots.txt honoured, a clear User-Agent, a time budget
//! per site, a byte cap per page and bounded redirects. One [`Fetcher`] is shared by every
//! thread of the I/O pool.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use texting_robots::Robot;
use url::Url;

use super::extract::{self, PageFindings};
use crate::config::WebsiteProvider;

/// A value and the page it was found on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Found {
    pub value: String,
    pub page: String,
}

/// What happened to one URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageLog {
    pub url: String,
    /// `ok`, `ok, truncated at N bytes`, `refused by robots.txt`, `HTTP 404`, `timed out`, …
    pub outcome: String,
}

/// Everything read from one site; this is what the cache keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteFindings {
    pub fetched_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<Found>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<Found>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub social: BTreeMap<String, Found>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Found>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<Found>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Found>,
    pub pages: Vec<PageLog>,
}

impl SiteFindings {
    /// Nothing found yet, as of `fetched_at`.
    pub fn empty(fetched_at: DateTime<Utc>) -> SiteFindings {
        SiteFindings {
            fetched_at,
            emails: Vec::new(),
            phones: Vec::new(),
            social: BTreeMap::new(),
            description: None,
            logo: None,
            image: None,
            pages: Vec::new(),
        }
    }

    /// Whether at least one page was read.
    pub fn reached(&self) -> bool {
        self.pages.iter().any(|p| p.outcome.starts_with("ok"))
    }

    fn add(&mut self, page: &Url, f: PageFindings) {
        let at = |value: String| Found {
            value,
            page: page.to_string(),
        };
        for e in f.emails {
            if !self.emails.iter().any(|x| x.value == e) {
                self.emails.push(at(e));
            }
        }
        for p in f.phones {
            if !self.phones.iter().any(|x| x.value == p) {
                self.phones.push(at(p));
            }
        }
        for (network, url) in f.social {
            self.social.entry(network).or_insert_with(|| at(url));
        }
        if self.description.is_none() {
            self.description = f.description.map(at);
        }
        if self.logo.is_none() {
            self.logo = f.logo.map(at);
        }
        if self.image.is_none() {
            self.image = f.image.map(at);
        }
    }
}

/// Hosts that can never be on the public internet (RFC 2606, RFC 6761): never fetched, so the
/// example project builds with no network.
pub fn is_reserved_host(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost"
        || [".example", ".test", ".invalid", ".localhost"]
            .iter()
            .any(|tld| h.ends_with(tld))
        || h == "example"
}

pub struct Fetcher {
    agent: ureq::Agent,
    opts: WebsiteProvider,
    /// The product token matched against robots.txt groups.
    robots_token: String,
}

enum Body {
    Html(String, bool),
    Other(String),
}

impl Fetcher {
    pub fn new(opts: &WebsiteProvider) -> Fetcher {
        let config = ureq::Agent::config_builder()
            .user_agent(opts.user_agent.as_str())
            .max_redirects(opts.max_redirects)
            .http_status_as_error(true)
            .timeout_global(Some(Duration::from_secs_f64(opts.timeout_secs)))
            // No proxy from the environment (http_proxy, ALL_PROXY): through one, the check
            // below would see the proxy's address, never the site's.
            .proxy(None)
            .build();
        // Every connection, redirects included, goes only to public addresses.
        let agent = ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::default(),
            super::public::PublicOnly::new(opts.allow_private),
        );
        let robots_token = opts
            .user_agent
            .split(['/', ' '])
            .next()
            .unwrap_or("leadsite")
            .to_ascii_lowercase();
        Fetcher {
            agent,
            opts: opts.clone(),
            robots_token,
        }
    }

    /// Reads the site at `start`, within the time budget; never fails (what went wrong is in the
    /// page log).
    pub fn fetch_site(&self, start: &Url, now: DateTime<Utc>) -> SiteFindings {
        let deadline = Instant::now() + Duration::from_secs_f64(self.opts.timeout_secs);
        let mut site = SiteFindings::empty(now);
        let mut robots: HashMap<String, Result<Robot, String>> = HashMap::new();
        let mut queue = vec![start.clone()];
        let mut seen: Vec<Url> = Vec::new();
        while let Some(url) = queue.first().cloned() {
            queue.remove(0);
            if seen.len() >= self.opts.max_pages || seen.contains(&url) {
                continue;
            }
            seen.push(url.clone());
            let log = |site: &mut SiteFindings, outcome: String| {
                site.pages.push(PageLog {
                    url: url.to_string(),
                    outcome,
                })
            };
            let origin = url.origin().ascii_serialization();
            if !robots.contains_key(&origin) {
                let rules = self.robots(&url, deadline);
                robots.insert(origin.clone(), rules);
            }
            match &robots[&origin] {
                Err(why) => {
                    log(
                        &mut site,
                        format!("not fetched: robots.txt unreadable ({why})"),
                    );
                    break;
                }
                Ok(r) if !r.allowed(url.as_str()) => {
                    log(&mut site, "refused by robots.txt".into());
                    continue;
                }
                Ok(_) => {}
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                log(
                    &mut site,
                    "not fetched: the site's time budget is spent".into(),
                );
                break;
            };
            match self.get(&url, left) {
                Ok((final_url, Body::Html(text, truncated))) => {
                    let findings = extract::extract(&text, &final_url);
                    let home = seen.len() == 1;
                    log(
                        &mut site,
                        if truncated {
                            format!("ok, truncated at {} bytes", self.opts.max_bytes)
                        } else {
                            "ok".into()
                        },
                    );
                    if home {
                        queue.extend(findings.links.iter().cloned());
                        if final_url.origin() != url.origin() {
                            seen.push(final_url.clone());
                        }
                    }
                    site.add(&final_url, findings);
                }
                Ok((_, Body::Other(kind))) => log(&mut site, format!("skipped: {kind}")),
                Err(e) => {
                    let dead = matches!(
                        e,
                        ureq::Error::Timeout(_)
                            | ureq::Error::ConnectionFailed
                            | ureq::Error::HostNotFound
                            | ureq::Error::Io(_)
                    );
                    log(&mut site, describe(&e));
                    if dead {
                        break;
                    }
                }
            }
        }
        site
    }

    /// One file (an image) the site published, as the site's pages are read: robots.txt first,
    /// the time budget, at most `cap` bytes (larger is refused, not cut). Returns the bytes and
    /// the content type.
    pub fn fetch_file(&self, url: &Url, cap: u64) -> Result<(Vec<u8>, String), String> {
        let deadline = Instant::now() + Duration::from_secs_f64(self.opts.timeout_secs);
        match self.robots(url, deadline) {
            Err(why) => return Err(format!("robots.txt unreadable ({why})")),
            Ok(r) if !r.allowed(url.as_str()) => return Err("refused by robots.txt".into()),
            Ok(_) => {}
        }
        let left = deadline
            .checked_duration_since(Instant::now())
            .ok_or("the time budget is spent")?;
        let (_, bytes, content_type, truncated) = self
            .get_bytes_capped(url, left, cap)
            .map_err(|e| describe(&e))?;
        if truncated {
            return Err(format!("larger than {cap} bytes"));
        }
        Ok((bytes, content_type))
    }

    /// The robots.txt rules of `url`'s origin, which allow everything when the site has none.
    /// An error when it could not be read (RFC 9309: then fetch nothing).
    fn robots(&self, url: &Url, deadline: Instant) -> Result<Robot, String> {
        let robots_url = url.join("/robots.txt").map_err(|e| e.to_string())?;
        let left = deadline
            .checked_duration_since(Instant::now())
            .ok_or("time budget spent")?;
        let allow_all = || Robot::new(&self.robots_token, b"").map_err(|e| e.to_string());
        match self.get_bytes(&robots_url, left) {
            Ok((_, bytes, _, _)) => Robot::new(&self.robots_token, &bytes).or_else(|_| allow_all()),
            Err(ureq::Error::StatusCode(code)) if (400..500).contains(&code) => allow_all(),
            Err(e) => Err(describe(&e)),
        }
    }

    fn get(&self, url: &Url, timeout: Duration) -> Result<(Url, Body), ureq::Error> {
        let (final_url, bytes, content_type, truncated) = self.get_bytes(url, timeout)?;
        let mime = crate::web::media_type(&content_type);
        if !(mime.is_empty() || mime == "text/html" || mime == "application/xhtml+xml") {
            return Ok((final_url, Body::Other(mime)));
        }
        Ok((
            final_url,
            Body::Html(decode(&bytes, &content_type), truncated),
        ))
    }

    /// GET with the per-request time left; reads at most `max_bytes` of the body.
    fn get_bytes(
        &self,
        url: &Url,
        timeout: Duration,
    ) -> Result<(Url, Vec<u8>, String, bool), ureq::Error> {
        self.get_bytes_capped(url, timeout, self.opts.max_bytes)
    }

    fn get_bytes_capped(
        &self,
        url: &Url,
        timeout: Duration,
        cap: u64,
    ) -> Result<(Url, Vec<u8>, String, bool), ureq::Error> {
        use ureq::ResponseExt;
        let mut resp = self
            .agent
            .get(url.as_str())
            .config()
            .timeout_global(Some(timeout))
            .build()
            .call()?;
        let final_url = Url::parse(&resp.get_uri().to_string()).unwrap_or_else(|_| url.clone());
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let mut bytes = Vec::new();
        resp.body_mut()
            .with_config()
            .reader()
            .take(cap + 1)
            .read_to_end(&mut bytes)
            .map_err(ureq::Error::Io)?;
        let truncated = bytes.len() as u64 > cap;
        bytes.truncate(cap as usize);
        Ok((final_url, bytes, content_type, truncated))
    }
}

fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::StatusCode(code) => format!("HTTP {code}"),
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::TooManyRedirects => "too many redirects".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        other => format!("error: {other}"),
    }
}

/// The page as text, in the charset its Content-Type or `<meta charset>` names (UTF-8 when
/// neither does); bytes that are not valid in it become U+FFFD.
fn decode(bytes: &[u8], content_type: &str) -> String {
    let label = charset_param(content_type).or_else(|| {
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
        let at = head.find("charset=")?;
        let rest = head[at + 8..].trim_start_matches(['"', '\'']);
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(rest.len());
        Some(rest[..end].to_string())
    });
    let encoding = label
        .and_then(|l| encoding_rs::Encoding::for_label(l.as_bytes()))
        .unwrap_or(encoding_rs::UTF_8);
    let (text, _, _) = encoding.decode(bytes);
    text.into_owned()
}

fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("charset")).then(|| v.trim().trim_matches('"').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charset_comes_from_the_header_or_the_page() {
        let latin1 = b"<p>M\xfcller GmbH</p>";
        assert_eq!(
            decode(latin1, "text/html; charset=ISO-8859-1"),
            "<p>Müller GmbH</p>"
        );
        let with_meta = b"<meta charset=\"windows-1252\"><p>M\xfcller</p>";
        assert!(decode(with_meta, "text/html").contains("Müller"));
        assert!(decode(b"<p>M\xfcller</p>", "").contains("M\u{fffd}ller"));
    }

    #[test]
    fn reserved_hosts_are_known() {
        assert!(is_reserved_host("acme-auto.example"));
        assert!(is_reserved_host("shop.test"));
        assert!(is_reserved_host("localhost"));
        assert!(!is_reserved_host("acme.com"));
        // An address literal is no reserved name; whether it may be read is the resolver's
        // question (public::is_public): 127.0.0.1 may not.
        assert!(!is_reserved_host("127.0.0.1"));
        assert!(!super::super::public::is_public(
            "127.0.0.1".parse().unwrap()
        ));
    }
}
