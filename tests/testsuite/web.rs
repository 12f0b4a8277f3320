//! Real HTTP/1.1 servers on 127.0.0.1 for the enrichment tests: each serves one fixture business
//! website (a port is a site, so each has its own robots.txt) and records every request.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the server answers to one path.
#[derive(Clone)]
pub enum Reply {
    /// 200 with this content type and body.
    Page(&'static str, Vec<u8>),
    /// A 302 to this location.
    Redirect(String),
    /// Reads the request and never answers.
    Hang,
    /// 200 text/html: this start, then filler until `total` bytes or the client hangs up.
    Huge(String, usize),
    /// This status with an empty body.
    Status(u16),
}

pub fn html(body: &str) -> Reply {
    Reply::Page("text/html; charset=utf-8", body.as_bytes().to_vec())
}

pub struct Site {
    pub addr: SocketAddr,
    /// `(path, user agent)` of every request, in order.
    hits: Arc<Mutex<Vec<(String, String)>>>,
}

impl Site {
    /// Serves `routes` (path → reply); other paths get a 404.
    pub fn start(routes: Vec<(&str, Reply)>) -> Site {
        Site::start_with_delay(routes, Duration::ZERO)
    }

    /// Like [`Site::start`], answering each request after `delay`.
    pub fn start_with_delay(routes: Vec<(&str, Reply)>, delay: Duration) -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let routes: Arc<HashMap<String, Reply>> = Arc::new(
            routes
                .into_iter()
                .map(|(p, r)| (p.to_string(), r))
                .collect(),
        );
        let hits = Arc::new(Mutex::new(Vec::new()));
        let log = hits.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let routes = routes.clone();
                let log = log.clone();
                thread::spawn(move || {
                    let _ = serve(stream, &routes, &log, delay);
                });
            }
        });
        Site { addr, hits }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn paths(&self) -> Vec<String> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .map(|(p, _)| p.clone())
            .collect()
    }

    pub fn user_agents(&self) -> Vec<String> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .map(|(_, u)| u.clone())
            .collect()
    }
}

fn serve(
    stream: TcpStream,
    routes: &HashMap<String, Reply>,
    log: &Mutex<Vec<(String, String)>>,
    delay: Duration,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    // One request per connection: every reply says `Connection: close`.
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let mut agent = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("user-agent") {
                agent = v.trim().to_string();
            }
        }
    }
    log.lock().unwrap().push((path.clone(), agent));
    thread::sleep(delay);
    let head = |status: u16, extra: &str| {
        format!("HTTP/1.1 {status} X\r\nConnection: close\r\n{extra}\r\n")
    };
    match routes.get(&path) {
        Some(Reply::Page(ct, body)) => {
            stream.write_all(
                head(
                    200,
                    &format!("Content-Type: {ct}\r\nContent-Length: {}\r\n", body.len()),
                )
                .as_bytes(),
            )?;
            stream.write_all(body)?;
        }
        Some(Reply::Redirect(to)) => {
            stream.write_all(
                head(302, &format!("Location: {to}\r\nContent-Length: 0\r\n")).as_bytes(),
            )?;
        }
        Some(Reply::Hang) => thread::sleep(Duration::from_secs(120)),
        Some(Reply::Huge(start, total)) => {
            stream.write_all(head(200, "Content-Type: text/html\r\n").as_bytes())?;
            stream.write_all(start.as_bytes())?;
            let filler = "<p>lorem ipsum dolor sit amet</p>\n".repeat(1000);
            let mut sent = start.len();
            while sent < *total {
                stream.write_all(filler.as_bytes())?;
                sent += filler.len();
            }
        }
        Some(Reply::Status(code)) => {
            stream.write_all(head(*code, "Content-Length: 0\r\n").as_bytes())?;
        }
        None => stream.write_all(head(404, "Content-Length: 0\r\n").as_bytes())?,
    }
    stream.flush()
}
