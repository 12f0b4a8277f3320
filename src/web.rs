//! The HTTP server under `listen` and `serve`: an axum router on hyper's HTTP/1 connection
//! (chunked bodies, pipelining, canonical status lines), with the limits a server facing the
//! internet needs, which `axum::serve` does not set: a cap on open connections (more wait in
//! the kernel's backlog), a time limit on reading a request's headers (slow-loris), and an
//! optional limit on a connection's whole life. Request body limits are the router's
//! (`DefaultBodyLimit`).

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;

/// What one server allows.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time a client has to send a request's headers.
    pub header_timeout: Duration,
    /// Longest a connection may live; `None` where a response streams for as long as the
    /// client wants (the preview's live-reload events).
    pub connection_timeout: Option<Duration>,
}

/// Serves `app` on `listener` until the process ends. Blocks.
pub fn serve(
    listener: std::net::TcpListener,
    app: axum::Router,
    limits: Limits,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(accept_loop(listener, app, limits))
}

async fn accept_loop(
    listener: std::net::TcpListener,
    app: axum::Router,
    limits: Limits,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    loop {
        // At the cap, new connections wait in the backlog until one closes.
        let permit = slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors and the like: pause, never stop serving.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(Some(limits.header_timeout))
                .max_buf_size(64 * 1024)
                .title_case_headers(true);
            let connection = http.serve_connection(TokioIo::new(stream), service);
            match limits.connection_timeout {
                Some(t) => {
                    let _ = tokio::time::timeout(t, connection).await;
                }
                None => {
                    let _ = connection.await;
                }
            }
            drop(permit);
        });
    }
}

/// A response with a body of `mime`, marked `nosniff` (a browser must not guess another type).
pub fn reply(
    status: u16,
    mime: &str,
    headers: &[(&str, String)],
    body: impl Into<axum::body::Body>,
) -> axum::response::Response {
    let mut builder = axum::http::Response::builder()
        .status(status)
        .header("Content-Type", mime)
        .header("X-Content-Type-Options", "nosniff");
    for (k, v) in headers {
        builder = builder.header(*k, v);
    }
    builder.body(body.into()).unwrap_or_else(|_| {
        let mut r = axum::response::Response::new(axum::body::Body::empty());
        *r.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// The HTTP client for the providers' APIs (WhatsApp, SMS, CRM): answers of every status come
/// back to be read (their bodies say why), 20 s at most, and no redirect is followed — a POST
/// would be turned into a GET, and credentials sent on to another host.
pub fn api_client() -> ureq::Agent {
    api_client_within(Duration::from_secs(20))
}

/// [`api_client`] whose requests may take up to `total` (an upload), connecting within 10 s.
pub fn api_client_within(total: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(total))
        .timeout_connect(Some(Duration::from_secs(10).min(total)))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent()
}
