//! The S3 requests a deploy needs — list (paginated), put, delete — signed with AWS Signature
//! V4 by `rusty-s3` and sent with ureq; credentials from the standard AWS environment variables
//! or the shared credentials file. A throttled or failed request (429, 5xx, a dropped
//! connection) is tried again with back-off; a refusal (403, 404) is not.

use std::path::PathBuf;
use std::time::Duration;

use rusty_s3::actions::{ListObjectsV2, ObjectIdentifier};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use crate::config::Target;
use crate::error::{Error, Result};

/// How long a signed request stays valid.
const SIGNED_FOR: Duration = Duration::from_secs(15 * 60);
/// Tries of one request before the run stops.
pub const TRIES: u32 = 5;

/// An object the store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub key: String,
    pub size: u64,
    /// The ETag without its quotes: the MD5 of the body in hex, or, for a multipart upload,
    /// something with a `-` in it.
    pub etag: String,
}

pub struct Store {
    bucket: Bucket,
    credentials: Credentials,
    agent: ureq::Agent,
    /// What the messages call the bucket (`s3://name` or the endpoint's URL).
    name: String,
    /// Milliseconds of the first back-off (doubled each try).
    backoff_ms: u64,
}

/// One request's failure: whether trying again may help, and why.
struct Failed {
    again: bool,
    why: String,
}

impl Store {
    pub fn open(target: &Target) -> Result<Store> {
        let endpoint = match &target.endpoint {
            Some(e) => e.clone(),
            None => format!("https://s3.{}.amazonaws.com", target.region),
        };
        let url = url::Url::parse(&endpoint).map_err(|e| {
            Error::Usage(format!(
                "deploy target {}: endpoint {endpoint:?}: {e}",
                target.name
            ))
        })?;
        let style = if target.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(url, style, target.bucket.clone(), target.region.clone())
            .map_err(|e| Error::Usage(format!("deploy target {}: {e}", target.name)))?;
        let agent = crate::web::api_client_within(Duration::from_secs(120));
        Ok(Store {
            // The target, and where in which store: `production (s3://pages/www/)`.
            name: format!(
                "{} ({}/{})",
                target.name,
                match &target.endpoint {
                    Some(e) => format!("{}/{}", e.trim_end_matches('/'), target.bucket),
                    None => format!("s3://{}", target.bucket),
                },
                target.prefix.trim_matches('/')
            ),
            bucket,
            credentials: credentials(target)?,
            agent,
            backoff_ms: std::env::var("LEADSITE_DEPLOY_BACKOFF_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(500),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every object whose key starts with `prefix`, a page of 1,000 at a time.
    pub fn list(&self, prefix: &str) -> Result<Vec<Remote>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let text = self.with_tries("list the bucket", || {
                let mut action = ListObjectsV2::new(&self.bucket, Some(&self.credentials));
                // Keys as they are (XML-escaped), not URL-encoded: stores encode a space and a
                // `+` differently (S3 `+` and `%2B`, others `%20` and `+`), which no decoding
                // could tell apart.
                action.query_mut().remove("encoding-type");
                if !prefix.is_empty() {
                    action.with_prefix(prefix);
                }
                if let Some(t) = &token {
                    action.with_continuation_token(t.as_str());
                }
                let url = action.sign(SIGNED_FOR);
                let reply = self.agent.get(url.as_str()).call();
                read(reply)
            })?;
            let page = ListObjectsV2::parse_response(&text).map_err(|e| {
                Error::Storage(format!("{}: a listing that cannot be read: {e}", self.name))
            })?;
            out.extend(page.contents.into_iter().map(|c| Remote {
                key: c.key,
                size: c.size,
                etag: c.etag.trim_matches('"').to_string(),
            }));
            match page.next_continuation_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(out),
            }
        }
    }

    /// A small object's text (what a deploy recorded), if it is there.
    pub fn get(&self, key: &str) -> Result<Option<String>> {
        let text = self.with_tries(&format!("read {key}"), || {
            let action = self.bucket.get_object(Some(&self.credentials), key);
            let url = action.sign(SIGNED_FOR);
            match read(self.agent.get(url.as_str()).call()) {
                Err(f) if f.why.starts_with("HTTP 404") => Ok(None),
                other => other.map(Some),
            }
        })?;
        Ok(text)
    }

    /// Stores `body` at `key` with these headers.
    pub fn put(&self, key: &str, body: &[u8], headers: &[(&str, &str)]) -> Result<()> {
        self.with_tries(&format!("upload {key}"), || {
            let mut action = self.bucket.put_object(Some(&self.credentials), key);
            // Signed with the request: a proxy cannot change them.
            for (name, value) in headers {
                action.headers_mut().insert(*name, *value);
            }
            let url = action.sign(SIGNED_FOR);
            // Time for the body at a slow 64 KiB/s besides the answer's two minutes: a large
            // file on a slow line is not cut off by a time meant for a page.
            let secs = 120 + body.len() as u64 / (64 * 1024);
            let mut request = self
                .agent
                .put(url.as_str())
                .config()
                .timeout_global(Some(Duration::from_secs(secs)))
                .build();
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            read(request.send(body)).map(|_| ())
        })
    }

    /// Deletes these keys, up to 1,000 a request.
    pub fn delete(&self, keys: &[String]) -> Result<()> {
        for chunk in keys.chunks(1000) {
            self.with_tries("delete old objects", || {
                let objects: Vec<ObjectIdentifier> = chunk
                    .iter()
                    .map(|k| ObjectIdentifier::new(k.clone()))
                    .collect();
                let mut action = self
                    .bucket
                    .delete_objects(Some(&self.credentials), objects.iter());
                action.set_quiet(true);
                let url = action.sign(SIGNED_FOR);
                let (body, md5) = action.body_with_md5();
                let reply = self
                    .agent
                    .post(url.as_str())
                    .header("Content-MD5", md5.as_str())
                    .header("Content-Type", "application/xml")
                    .send(body.as_bytes());
                let text = read(reply)?;
                let parsed =
                    rusty_s3::actions::DeleteObjectsResponse::parse(&text).map_err(|e| Failed {
                        again: false,
                        why: format!("an answer that cannot be read: {e}"),
                    })?;
                match parsed.errors.first() {
                    None => Ok(()),
                    Some(e) => Err(Failed {
                        again: e.code == "InternalError" || e.code == "SlowDown",
                        why: format!("{}: {} ({})", e.key, e.message, e.code),
                    }),
                }
            })?;
        }
        Ok(())
    }

    /// Runs a request up to [`TRIES`] times, waiting longer each time, while trying again may
    /// help.
    fn with_tries<T>(
        &self,
        what: &str,
        mut attempt: impl FnMut() -> std::result::Result<T, Failed>,
    ) -> Result<T> {
        let mut wait = Duration::from_millis(self.backoff_ms);
        for n in 1..=TRIES {
            match attempt() {
                Ok(v) => return Ok(v),
                Err(f) if f.again && n < TRIES => {
                    std::thread::sleep(wait);
                    wait *= 2;
                }
                Err(f) => {
                    let tries = if f.again {
                        format!(" ({n} tries)")
                    } else {
                        String::new()
                    };
                    return Err(Error::Storage(format!(
                        "{}: cannot {what}: {}{tries}",
                        self.name, f.why
                    )));
                }
            }
        }
        unreachable!("the last try returns")
    }
}

/// The body of a successful answer, or why it failed and whether to try again.
fn read(
    reply: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> std::result::Result<String, Failed> {
    let mut reply = match reply {
        Ok(r) => r,
        // No answer (refused, reset, timed out): the store may be back in a moment.
        Err(e) => {
            return Err(Failed {
                again: true,
                why: e.to_string(),
            })
        }
    };
    let status = reply.status().as_u16();
    let body = reply
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .unwrap_or_default();
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let code = between(&body, "<Code>", "</Code>").unwrap_or_default();
    let message = between(&body, "<Message>", "</Message>").unwrap_or_default();
    let why = match (status, code) {
        (403, "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied") => format!(
            "HTTP 403 {code}: the store refused the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or the profile) {message}"
        ),
        (404, "NoSuchBucket") => "HTTP 404 NoSuchBucket: the bucket does not exist (deploy.targets[].bucket, region, endpoint)".into(),
        (_, "") => format!("HTTP {status}"),
        _ => format!("HTTP {status} {code}: {message}"),
    };
    Err(Failed {
        again: status == 429 || status >= 500,
        why,
    })
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}

/// The standard environment variables, else the shared credentials file's profile.
fn credentials(target: &Target) -> Result<Credentials> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    if let (Some(key), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Ok(match env("AWS_SESSION_TOKEN") {
            Some(token) => Credentials::new_with_token(key, secret, token),
            None => Credentials::new(key, secret),
        });
    }
    let profile = target
        .profile
        .clone()
        .or_else(|| env("AWS_PROFILE"))
        .unwrap_or_else(|| "default".into());
    let file = env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".aws").join("credentials")));
    let none = || {
        Error::Usage(format!(
            "deploy target {}: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give profile [{profile}] in {}",
            target.name,
            file.as_ref().map_or("~/.aws/credentials".into(), |f| f.display().to_string())
        ))
    };
    let Some(path) = &file else {
        return Err(none());
    };
    let Some(bytes) = crate::fsutil::read_if_exists(path)? else {
        return Err(none());
    };
    let text = String::from_utf8_lossy(&bytes);
    let values = profile_values(&text, &profile);
    let get = |k: &str| values.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(key), Some(secret)) => Ok(match get("aws_session_token") {
            Some(token) => Credentials::new_with_token(key, secret, token),
            None => Credentials::new(key, secret),
        }),
        _ => Err(none()),
    }
}

/// The `key = value` lines of `[profile]` in an INI file of AWS's kind.
fn profile_values(text: &str, profile: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == profile;
            continue;
        }
        if let (true, Some((k, v))) = (inside, line.split_once('=')) {
            out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_credentials_file_is_read_by_profile() {
        let text = "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key=s1\n\n# a comment\n[site]\nAWS_ACCESS_KEY_ID = AKIASITE\naws_secret_access_key = s2\naws_session_token = t2\n";
        let site = profile_values(text, "site");
        assert_eq!(
            site,
            [
                ("aws_access_key_id".to_string(), "AKIASITE".to_string()),
                ("aws_secret_access_key".into(), "s2".into()),
                ("aws_session_token".into(), "t2".into())
            ]
        );
        assert_eq!(profile_values(text, "default").len(), 2);
        assert!(profile_values(text, "other").is_empty());
    }

    #[test]
    fn error_answers_say_what_to_fix_and_whether_to_try_again() {
        assert_eq!(
            between(
                "<Error><Code>NoSuchBucket</Code></Error>",
                "<Code>",
                "</Code>"
            ),
            Some("NoSuchBucket")
        );
        assert_eq!(between("<x/>", "<Code>", "</Code>"), None);
    }
}
