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

/// Tells a server to stop: it accepts no more connections, closes idle ones, lets the requests
/// it is serving finish (within two seconds), and returns.
#[derive(Clone)]
pub struct Stop(tokio::sync::watch::Receiver<bool>);

impl Stop {
    /// A stop that comes with the first Ctrl-C (SIGINT, or SIGTERM from a service manager). A
    /// process has one such handler: call this once, and only where nothing else catches Ctrl-C.
    pub fn on_ctrl_c() -> Result<Stop, ctrlc::Error> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        ctrlc::set_handler(move || {
            let _ = tx.send(true);
        })?;
        Ok(Stop(rx))
    }

    /// Whether the stop has come.
    pub fn came(&self) -> bool {
        *self.0.borrow()
    }

    async fn wait(&mut self) {
        // A dropped sender never stops the server.
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Serves `app` on `listener` until `stop` (or, without one, until the process ends). Blocks.
pub fn serve(
    listener: std::net::TcpListener,
    app: axum::Router,
    limits: Limits,
    stop: Option<Stop>,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(accept_loop(listener, app, limits, stop))
}

async fn accept_loop(
    listener: std::net::TcpListener,
    app: axum::Router,
    limits: Limits,
    stop: Option<Stop>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    // Without a stop, one whose sender is gone: it never comes.
    let mut stop = stop.unwrap_or_else(|| Stop(tokio::sync::watch::channel(false).1));
    loop {
        // At the cap, new connections wait in the backlog until one closes.
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = stop.wait() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: pause, never stop serving.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.wait() => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(Some(limits.header_timeout))
                .max_buf_size(64 * 1024)
                .title_case_headers(true);
            let connection = http.serve_connection(TokioIo::new(stream), service);
            let served = async {
                tokio::pin!(connection);
                tokio::select! {
                    _ = connection.as_mut() => {}
                    () = stop.wait() => {
                        // Idle keep-alive connections close now; a request being served
                        // finishes first.
                        connection.as_mut().graceful_shutdown();
                        let _ = connection.await;
                    }
                }
            };
            match limits.connection_timeout {
                Some(t) => {
                    let _ = tokio::time::timeout(t, served).await;
                }
                None => served.await,
            }
            drop(permit);
        });
    }
    // Stopped: the requests being served finish, for up to two seconds (what is answered in
    // that time is answered; a client still sending its request is cut off, and a provider
    // sends it again, as it does after any failure).
    drop(listener);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let grace = limits.header_timeout.min(Duration::from_secs(2));
    let _ = tokio::time::timeout(grace, slots.acquire_many(all)).await;
    Ok(())
}

/// The media type of a Content-Type header, lower case, without its parameters:
/// `Text/HTML; charset=utf-8` → `text/html`.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Why a server could not listen on `addr`: an address that is no address is bad usage (exit 2);
/// a port in use or not allowed is the machine's answer (exit 1).
pub fn bind_error(addr: &str, e: &std::io::Error, hint: &str) -> crate::error::Error {
    let message = format!("cannot listen on {addr}: {hint}");
    if e.kind() == std::io::ErrorKind::InvalidInput {
        crate::error::Error::Usage(message)
    } else {
        crate::error::Error::System(message)
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
