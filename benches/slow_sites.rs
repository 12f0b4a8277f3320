//! Benchmark (b) of issue 3: `leadsite build --until enrich` over leads whose websites answer
//! every request after 50 ms. Run with `cargo bench --bench slow_sites [-- SITES]` (default
//! 1,000). Not a test: it prints figures and asserts nothing.
//!
//! The server is a real HTTP/1.1 server on loopback, a thread per connection, in this process;
//! each site is its own loopback address (127.0.x.y), so each has its own origin and robots.txt.
//! Each site costs two requests (robots.txt, then the home page): read one after another, 1,000
//! sites would take 100 s.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

const DELAY: Duration = Duration::from_millis(50);

fn answer(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request)? == 0 {
            return Ok(());
        }
        let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line == "\r\n" {
                break;
            }
        }
        thread::sleep(DELAY);
        let (status, body) = if path == "/robots.txt" {
            (404, String::new())
        } else {
            let host = stream.local_addr()?.ip();
            (
                200,
                format!("<html><head><meta name='description' content='Site at {host}'></head><body><a href='mailto:info@site-{}.bench-site.net'>mail</a></body></html>", host.to_string().replace('.', "-")),
            )
        };
        write!(
            stream,
            "HTTP/1.1 {status} X\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        stream.flush()?;
    }
}

fn main() {
    let sites: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let listener = TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || answer(stream));
        }
    });
    let project = tempfile::tempdir().unwrap();
    let leads = project.path().join("leads");
    std::fs::create_dir_all(&leads).unwrap();
    // The sites are on loopback addresses, which leadsite reads only when told to.
    std::fs::write(
        project.path().join("leadsite.yaml"),
        "enrichment:\n  website:\n    allow_private: true\n",
    )
    .unwrap();
    for i in 0..sites {
        let host = format!("127.0.{}.{}", 1 + i / 250, 1 + i % 250);
        std::fs::write(
            leads.join(format!("site-{i}.yaml")),
            format!("dedup_key: site-{i}\nname: Site {i}\ncategory: Plumber\nphone: '+12175550134'\nwebsite: http://{host}:{port}/\nroute: TARGET\n"),
        )
        .unwrap();
    }
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_leadsite"))
        .args(["-v", "build", "--until", "enrich"])
        .current_dir(project.path())
        .output()
        .expect("run leadsite");
    let took = started.elapsed();
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    println!(
        "(b) {sites} sites answering after {} ms: build --until enrich took {:.2} s (one after another: {:.0} s)",
        DELAY.as_millis(),
        took.as_secs_f64(),
        sites as f64 * 2.0 * DELAY.as_secs_f64()
    );
}
