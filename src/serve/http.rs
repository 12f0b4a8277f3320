//! The preview server: `site/` over HTTP/1.1 on loopback, one thread a connection. GET and HEAD,
//! MIME types, `index.html` for folders, the site's own 404 page, ETag / Last-Modified with
//! conditional GET, and no way out of `site/` (`..` in any spelling, symlinks). HTML responses get
//! the live-reload script; the files on disk never do.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

/// The path the reload script and the event stream are served under.
pub const PREFIX: &str = "/__leadsite/";

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
#[derive(Clone, Default)]
pub struct Clients(Arc<Mutex<Vec<mpsc::Sender<String>>>>);

impl Clients {
    /// Sends an event (`reload`, or `failed` with a message) to every open page.
    pub fn send(&self, event: &str, data: &str) {
        let data = serde_json::to_string(data).unwrap_or_default();
        let msg = format!("event: {event}\ndata: {data}\n\n");
        self.0
            .lock()
            .unwrap()
            .retain(|c| c.send(msg.clone()).is_ok());
    }

    fn add(&self) -> mpsc::Receiver<String> {
        let (tx, rx) = mpsc::channel();
        self.0.lock().unwrap().push(tx);
        rx
    }
}

/// One HTTP/1.1 request, its body read when it says its length (64 KiB at most in all).
pub(crate) struct Request {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?.take(64 * 1024));
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len.min(64 * 1024)];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

/// Answers one connection.
pub fn handle(mut stream: TcpStream, root: &Path, clients: &Clients) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(req) = read_request(&stream) else {
        return;
    };
    let head_only = req.method == "HEAD";
    if req.method != "GET" && !head_only {
        let _ = respond(
            &mut stream,
            405,
            "text/plain; charset=utf-8",
            &[("Allow", "GET, HEAD".into())],
            b"method not allowed\n",
            false,
        );
        return;
    }
    let path = req.target.split(['?', '#']).next().unwrap_or("/");
    if path == "/__leadsite/reload.js" {
        let _ = respond(
            &mut stream,
            200,
            "text/javascript; charset=utf-8",
            &[("Cache-Control", "no-store".into())],
            RELOAD_JS.as_bytes(),
            head_only,
        );
        return;
    }
    if path == "/__leadsite/events" {
        let _ = stream_events(stream, clients);
        return;
    }
    let _ = serve_file(&mut stream, root, path, &req, head_only);
}

fn stream_events(mut stream: TcpStream, clients: &Clients) -> std::io::Result<()> {
    stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nConnection: keep-alive\r\n\r\n: connected\n\n")?;
    let rx = clients.add();
    loop {
        match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(msg) => stream.write_all(msg.as_bytes())?,
            // A comment now and then finds closed tabs.
            Err(mpsc::RecvTimeoutError::Timeout) => stream.write_all(b": ping\n\n")?,
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
        }
        stream.flush()?;
    }
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

fn serve_file(
    stream: &mut TcpStream,
    root: &Path,
    url_path: &str,
    req: &Request,
    head_only: bool,
) -> std::io::Result<()> {
    let Some(mut path) = resolve(root, url_path) else {
        return respond(
            stream,
            403,
            "text/plain; charset=utf-8",
            &[],
            b"forbidden\n",
            head_only,
        );
    };
    if path.is_dir() {
        if !url_path.ends_with('/') {
            return respond(
                stream,
                301,
                "text/plain; charset=utf-8",
                &[("Location", format!("{url_path}/"))],
                b"",
                head_only,
            );
        }
        path = path.join("index.html");
    }
    let (status, path) = if path.is_file() {
        (200, path)
    } else {
        (404, root.join("404.html"))
    };
    let Ok(meta) = std::fs::metadata(&path) else {
        return respond(
            stream,
            404,
            "text/plain; charset=utf-8",
            &[],
            b"not found\n",
            head_only,
        );
    };
    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
    let secs = modified
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let nanos = modified
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let etag = format!("\"{:x}-{:x}-{:x}\"", meta.len(), secs, nanos);
    let last_modified = http_date(secs);
    let mime = mime_type(&path);
    let mut headers = vec![("Cache-Control", "no-cache".to_string())];
    if status == 200 {
        headers.push(("ETag", etag.clone()));
        headers.push(("Last-Modified", last_modified.clone()));
        let not_modified = match req.header("If-None-Match") {
            Some(tags) => tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"),
            None => req
                .header("If-Modified-Since")
                .is_some_and(|d| d == last_modified),
        };
        if not_modified {
            return respond(stream, 304, mime, &headers, b"", true);
        }
    }
    let mut body = std::fs::read(&path)?;
    if mime.starts_with("text/html") {
        body = inject_reload(body);
    }
    respond(stream, status, mime, &headers, &body, head_only)
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

pub(crate) fn respond(
    stream: &mut TcpStream,
    status: u16,
    mime: &str,
    headers: &[(&str, String)],
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        301 => "Moved Permanently",
        304 => "Not Modified",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Error",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\nContent-Type: {mime}\r\nConnection: close\r\nX-Content-Type-Options: nosniff\r\n");
    if status != 304 {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if !head_only && status != 304 {
        stream.write_all(body)?;
    }
    stream.flush()
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
