//! The preview server: `site/` over HTTP/1.1 on loopback (axum on hyper, see [`crate::web`]). GET and HEAD,
//! MIME types, `index.html` for folders, the site's own 404 page, ETag / Last-Modified with
//! conditional GET, and no way out of `site/` (`..` in any spelling, symlinks). HTML responses get
//! the live-reload script; the files on disk never do.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::broadcast;

use crate::fsutil;
use crate::web;

const RELOAD_JS: &str = r#"(function () {
  var box = null;
  function overlay(text) {
    if (!box) {
      box = document.createElement("pre");
      box.setAttribute("role", "alert");
      box.style.cssText = "position:fixed;inset:auto 1rem 1rem 1rem;max-height:50vh;overflow:auto;margin:0;padding:1rem;background:#7f1d1d;color:#fff;font:14px/1.4 monospace;white-space:pre-wrap;z-index:2147483647;border-radius:8px";
      document.body.appendChild(box);
    }
    box.textContent = "leadsite build failed; still showing the last good page:\n\n" + text;
  }
  var es = new EventSource("/__leadsite/events");
  es.addEventListener("reload", function () { location.reload(); });
  es.addEventListener("failed", function (e) { overlay(JSON.parse(e.data)); });
})();
"#;

/// Open event streams; a rebuild sends to each.
#[derive(Clone)]
pub struct Clients(broadcast::Sender<(String, String)>);

impl Default for Clients {
    fn default() -> Self {
        Clients(broadcast::channel(16).0)
    }
}

impl Clients {
    /// Sends an event (`reload`, or `failed` with a message) to every open page.
    pub fn send(&self, event: &str, data: &str) {
        let data = serde_json::to_string(data).unwrap_or_default();
        // No open page is no error.
        let _ = self.0.send((event.to_string(), data));
    }
}

struct Site {
    root: PathBuf,
    clients: Clients,
}

/// The preview server's routes: the reload script, the event stream, and `site/`'s files.
pub fn router(root: PathBuf, clients: Clients) -> Router {
    Router::new()
        .route(
            "/__leadsite/reload.js",
            get(|| async {
                web::reply(
                    200,
                    "text/javascript; charset=utf-8",
                    &[("Cache-Control", "no-store".into())],
                    RELOAD_JS,
                )
            }),
        )
        .route("/__leadsite/events", get(events))
        .fallback(file)
        .with_state(Arc::new(Site { root, clients }))
}

/// Server-sent events: `reload` after a good build, `failed` with the error after a bad one.
async fn events(State(site): State<Arc<Site>>) -> Response {
    let rx = site.clients.0.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok((event, data)) => {
                    let e = Event::default().event(event).data(data);
                    return Some((Ok::<_, std::convert::Infallible>(e), rx));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    // A comment now and then finds closed tabs.
    let mut response = Sse::new(stream)
        .keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(15))
                .text("ping"),
        )
        .into_response();
    response
        .headers_mut()
        .insert("Cache-Control", HeaderValue::from_static("no-store"));
    response
}

/// A file of `site/` (GET and HEAD; hyper sends no body for HEAD).
async fn file(
    State(site): State<Arc<Site>>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return web::reply(
            405,
            "text/plain; charset=utf-8",
            &[("Allow", "GET, HEAD".into())],
            "method not allowed\n",
        );
    }
    let path = uri.path().to_string();
    let header = move |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    tokio::task::spawn_blocking(move || serve_file(&site.root, &path, &header))
        .await
        .unwrap_or_else(|_| web::reply(500, "text/plain; charset=utf-8", &[], "internal error\n"))
}

/// `site/` + the request path, or `None` when the path would leave `site/`.
pub fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(url_path)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    let mut out = root.to_path_buf();
    for part in decoded.split('/') {
        match Path::new(part).components().next() {
            None => {}
            Some(Component::Normal(p)) if !part.contains(':') => out.push(p),
            Some(Component::CurDir) => {}
            _ => return None,
        }
    }
    // Symlinks: what the path really is must still be inside the real site folder.
    let real_root = root.canonicalize().ok()?;
    match out.canonicalize() {
        Ok(real) if real.starts_with(&real_root) => Some(out),
        Ok(_) => None,
        Err(_) => Some(out), // does not exist: a 404, and nothing is read
    }
}

fn serve_file(root: &Path, url_path: &str, header: &dyn Fn(&str) -> Option<String>) -> Response {
    let text = "text/plain; charset=utf-8";
    let Some(mut path) = resolve(root, url_path) else {
        return web::reply(403, text, &[], "forbidden\n");
    };
    if path.is_dir() {
        if !url_path.ends_with('/') {
            return web::reply(301, text, &[("Location", format!("{url_path}/"))], "");
        }
        path = path.join("index.html");
    }
    let (status, path) = if path.is_file() {
        (200, path)
    } else {
        (404, root.join("404.html"))
    };
    let Ok(meta) = fsutil::metadata(&path) else {
        return web::reply(404, text, &[], "not found\n");
    };
    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
    let since = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
    let etag = format!(
        "\"{:x}-{:x}-{:x}\"",
        meta.len(),
        since.as_secs(),
        since.subsec_nanos()
    );
    let last_modified = http_date(since.as_secs());
    let mime = mime_type(&path);
    let mut headers = vec![("Cache-Control", "no-cache".to_string())];
    if status == 200 {
        headers.push(("ETag", etag.clone()));
        headers.push(("Last-Modified", last_modified.clone()));
        let not_modified = match header("If-None-Match") {
            Some(tags) => tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"),
            None => header("If-Modified-Since").is_some_and(|d| d == last_modified),
        };
        if not_modified {
            return web::reply(304, mime, &headers, axum::body::Body::empty());
        }
    }
    let mut body = match fsutil::read_if_exists(&path) {
        Ok(Some(body)) => body,
        Ok(None) => return web::reply(404, text, &[], "not found\n"),
        Err(e) => return web::reply(500, text, &[], format!("{e}\n")),
    };
    if mime.starts_with("text/html") {
        body = inject_reload(body);
    }
    web::reply(status, mime, &headers, body)
}

/// Adds the live-reload script before `</body>` (or at the end).
pub fn inject_reload(mut html: Vec<u8>) -> Vec<u8> {
    let tag = b"<script src=\"/__leadsite/reload.js\"></script>\n";
    let at = html
        .windows(7)
        .rposition(|w| w.eq_ignore_ascii_case(b"</body>"))
        .unwrap_or(html.len());
    html.splice(at..at, tag.iter().copied());
    html
}

pub fn mime_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("txt") => "text/plain; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("avif") => "image/avif",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("pdf") => "application/pdf",
        Some("webmanifest") => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

fn http_date(secs: u64) -> String {
    chrono::DateTime::from_timestamp(secs as i64, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// A URL path decoded; `None` when it has a `%` that is not an escape or is not UTF-8 (a
/// request path that is neither is refused, not guessed at).
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let escapes_ok = b
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == b'%')
        .all(|(i, _)| {
            b.get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        });
    if !escapes_ok {
        return None;
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_leave_the_site() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("site");
        std::fs::create_dir_all(root.join("a")).unwrap();
        for bad in [
            "/../x",
            "/%2e%2e/x",
            "/%2E%2E%2Fx",
            "/a/../../x",
            "/..%5cx",
            "/%00",
            "/C:/x",
            "/%zz",
        ] {
            assert_eq!(resolve(&root, bad), None, "{bad}");
        }
        assert_eq!(resolve(&root, "/a/./b%20c"), Some(root.join("a/b c")));
        #[cfg(unix)]
        {
            std::fs::write(dir.path().join("secret"), "x").unwrap();
            std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link")).unwrap();
            assert_eq!(resolve(&root, "/link"), None);
        }
    }

    #[test]
    fn the_reload_script_goes_before_the_body_end() {
        let html = inject_reload(b"<html><body><p>x</p></body></html>".to_vec());
        let text = String::from_utf8(html).unwrap();
        assert!(
            text.ends_with("<script src=\"/__leadsite/reload.js\"></script>\n</body></html>"),
            "{text}"
        );
    }
}
