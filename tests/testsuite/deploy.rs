//! `leadsite deploy` against a real S3-compatible server on 127.0.0.1: npm `s3rver`, installed by
//! scripts/test. It keeps Content-Type and Cache-Control, returns the body's MD5 as the ETag,
//! refuses an unknown access key, and answers anonymous HEAD and GET (how these tests read the
//! bucket); it does not check Signature V4 signatures themselves (unimplemented there), which
//! `rusty-s3` computes.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::harness::Project;

const CREDS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "S3RVER"),
    ("AWS_SECRET_ACCESS_KEY", "S3RVER"),
];

/// A real S3-compatible server with the bucket `site`, stopped when dropped.
struct S3 {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl S3 {
    fn start() -> S3 {
        let exe = std::env::var("LEADSITE_TEST_S3RVER")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/node_modules/.bin/s3rver")
            });
        assert!(
            exe.exists(),
            "the deploy tests need s3rver (npm): run scripts/test, which installs it into .tools/, or set LEADSITE_TEST_S3RVER"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut child = std::process::Command::new(&exe)
            .args([
                "-d",
                &dir.path().to_string_lossy(),
                "-a",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .args(["--silent", "--configure-bucket", "site"])
            // Its continuation tokens use DES, which OpenSSL 3 keeps in its legacy provider.
            .env("NODE_OPTIONS", "--openssl-legacy-provider")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                // The bucket is made once the server listens; an anonymous HEAD says when.
                if head_status(port, "/site") == 200 {
                    return S3 {
                        child,
                        port,
                        _dir: dir,
                    };
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("s3rver did not start");
    }

    /// Status and headers (lower-case names) of an object.
    fn head(&self, key: &str) -> (u16, BTreeMap<String, String>) {
        let (status, head, _) = request(self.port, "HEAD", &format!("/site/{key}"));
        let headers = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        (status, headers)
    }

    fn get(&self, key: &str) -> (u16, Vec<u8>) {
        let (status, _, body) = request(self.port, "GET", &format!("/site/{key}"));
        (status, body)
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn head_status(port: u16, path: &str) -> u16 {
    request(port, "HEAD", path).0
}

fn request(port: u16, method: &str, path: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        head,
        buf.get(split + 4..).unwrap_or_default().to_vec(),
    )
}

/// The outreach tests' project (four leads), built, with a deploy target at `port`.
fn project(port: u16) -> Project {
    let p = crate::outreach::campaign::project(1);
    let config = p.read("leadsite.yaml")
        + &format!("deploy:\n  targets:\n    - name: test\n      bucket: site\n      endpoint: http://127.0.0.1:{port}\n      path_style: true\n");
    p.write("leadsite.yaml", &config);
    p
}

/// Every file of site/ with a digest of its bytes.
fn snapshot(p: &Project) -> BTreeMap<String, String> {
    let site = p.path("site");
    walkdir::WalkDir::new(&site)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(&site)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (
                rel,
                leadsite::fsutil::fingerprint(&std::fs::read(e.path()).unwrap()),
            )
        })
        .collect()
}

/// The keys a `deploy -v` says it uploaded.
fn uploaded(stdout: &str) -> Vec<String> {
    let mut keys: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("upload "))
        .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
        .collect();
    keys.sort();
    keys
}

#[test]
fn a_deploy_uploads_what_differs_with_the_right_headers_and_deletes_with_a_guard() {
    let s3 = S3::start();
    let p = project(s3.port);
    // A dry run says what it would do and changes nothing.
    let dry = p.run_with_env(&["deploy", "--dry-run"], &CREDS);
    dry.code(0);
    assert!(
        dry.stdout.contains("upload new     index.html"),
        "{}",
        dry.stdout
    );
    assert_eq!(s3.head("index.html").0, 404, "a dry run uploads nothing");

    let first = p.run_with_env(&["deploy", "-v"], &CREDS);
    first.code(0);
    let all = snapshot(&p);
    assert_eq!(
        uploaded(&first.stdout),
        all.keys().cloned().collect::<Vec<_>>()
    );
    // Headers by kind, read back with HEAD.
    let (status, page) = s3.head("acme/index.html");
    assert_eq!(status, 200);
    assert_eq!(page["content-type"], "text/html; charset=utf-8");
    assert_eq!(page["cache-control"], "public, max-age=300");
    let css = all.keys().find(|k| k.ends_with(".css")).unwrap();
    let (_, asset) = s3.head(css);
    assert_eq!(asset["content-type"], "text/css; charset=utf-8");
    assert_eq!(
        asset["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        s3.head("sitemap.xml").1["content-type"],
        "application/xml; charset=utf-8"
    );
    assert_eq!(
        s3.head("robots.txt").1["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(
        s3.get("acme/index.html").1,
        std::fs::read(p.path("site/acme/index.html")).unwrap(),
        "the bytes as built"
    );

    // Nothing changed: nothing goes up.
    let again = p.run_with_env(&["deploy", "-v"], &CREDS);
    again.code(0);
    assert!(uploaded(&again.stdout).is_empty(), "{}", again.stdout);

    // One lead changed: exactly the files whose bytes changed go up (its page, and the index,
    // hub and sitemap entries it appears in), and the CDN is told which paths.
    let lead = p
        .read("leads/acme.yaml")
        .replace("name: acme Garage", "name: Acme Garage & Tyres");
    p.write("leads/acme.yaml", &lead);
    p.run(&["build"]).code(0);
    let after = snapshot(&p);
    let changed: Vec<String> = after
        .iter()
        .filter(|(k, v)| all.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    assert!(
        changed.contains(&"acme/index.html".to_string()),
        "{changed:?}"
    );
    assert!(changed.len() < all.len() / 2, "{changed:?}");
    let one = p.run_with_env(&["deploy", "-v"], &CREDS);
    one.code(0);
    assert_eq!(uploaded(&one.stdout), changed);
    one.says("'/acme/'");

    // A file gone from site/ is deleted from the bucket, last; above --max-deletes nothing is.
    std::fs::write(p.path("site/old.txt"), "an old file").unwrap();
    p.run_with_env(&["deploy"], &CREDS).code(0);
    assert_eq!(s3.head("old.txt").0, 200);
    std::fs::remove_file(p.path("site/old.txt")).unwrap();
    let held = p.run_with_env(&["deploy", "--max-deletes", "0"], &CREDS);
    held.code(3);
    held.says("none was deleted");
    assert_eq!(s3.head("old.txt").0, 200);
    p.run_with_env(&["deploy"], &CREDS).code(0);
    assert_eq!(s3.head("old.txt").0, 404);

    // A removed lead's page becomes a redirect (the build's), uploaded as a page.
    std::fs::remove_file(p.path("leads/dent.yaml")).unwrap();
    p.run(&["build"]).code(0);
    p.run_with_env(&["deploy"], &CREDS).code(0);
    let (status, body) = s3.get("dent/index.html");
    assert_eq!(status, 200);
    assert_eq!(body, std::fs::read(p.path("site/dent/index.html")).unwrap());
    assert!(String::from_utf8_lossy(&body).contains("http-equiv=\"refresh\""));
}

/// A proxy in front of the server: every fifth PUT answered `503 Slow Down`, or every request
/// after the first `cut` PUTs dropped without an answer (a network cut).
struct Proxy {
    port: u16,
    refused: Arc<AtomicUsize>,
}

fn proxy(upstream: u16, fail_every: usize, cut_after: Option<usize>) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let refused = Arc::new(AtomicUsize::new(0));
    let puts = Arc::new(AtomicUsize::new(0));
    let counter = refused.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (refused, puts) = (counter.clone(), puts.clone());
            std::thread::spawn(move || {
                let _ = relay(conn, upstream, fail_every, cut_after, &refused, &puts);
            });
        }
    });
    Proxy { port, refused }
}

/// One request a connection: read it whole, then refuse it, drop it or pass it on.
fn relay(
    mut conn: TcpStream,
    upstream: u16,
    fail_every: usize,
    cut_after: Option<usize>,
    refused: &AtomicUsize,
    puts: &AtomicUsize,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    if head.starts_with("PUT ") {
        let n = puts.fetch_add(1, Ordering::SeqCst) + 1;
        if cut_after.is_some_and(|c| n > c) {
            refused.fetch_add(1, Ordering::SeqCst);
            return Ok(());
        }
        if fail_every > 0 && n.is_multiple_of(fail_every) {
            refused.fetch_add(1, Ordering::SeqCst);
            conn.write_all(b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: 62\r\nConnection: close\r\n\r\n<Error><Code>SlowDown</Code><Message>Slow Down</Message></Error>")?;
            return Ok(());
        }
    }
    if cut_after.is_some_and(|c| puts.load(Ordering::SeqCst) > c) {
        return Ok(());
    }
    // Passed on as it came (the signature covers the Host header, which stays), one request
    // a connection.
    let text = String::from_utf8_lossy(&buf[..head_end]).replace("\r\nConnection: keep-alive", "");
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    let head = text.replacen("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1);
    up.write_all(head.as_bytes())?;
    up.write_all(&buf[head_end..])?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    conn.write_all(&answer)?;
    Ok(())
}

#[test]
fn failed_and_cut_uploads_are_retried_or_finished_by_the_next_run() {
    let s3 = S3::start();
    let p = project(s3.port);
    let direct = p.read("leadsite.yaml");
    let fast: [(&str, &str); 3] = [CREDS[0], CREDS[1], ("LEADSITE_DEPLOY_BACKOFF_MS", "10")];
    // Every fifth PUT refused: retried, and the bucket ends complete and correct.
    let flaky = proxy(s3.port, 5, None);
    p.write(
        "leadsite.yaml",
        &direct.replace(&format!(":{}\n", s3.port), &format!(":{}\n", flaky.port)),
    );
    p.run_with_env(&["deploy"], &fast).code(0);
    assert!(flaky.refused.load(Ordering::SeqCst) >= 3);
    p.write("leadsite.yaml", &direct);
    let check = p.run_with_env(&["deploy", "-v"], &CREDS);
    check.code(0);
    assert!(uploaded(&check.stdout).is_empty(), "{}", check.stdout);
    let total = snapshot(&p).len();

    // A network cut after 4 PUTs of a new prefix: the run fails saying how far it got; the
    // next finishes, uploading only what did not arrive.
    let other = direct.replace(
        "      path_style: true\n",
        "      path_style: true\n      prefix: www\n",
    );
    let cut = proxy(s3.port, 0, Some(4));
    p.write(
        "leadsite.yaml",
        &other.replace(&format!(":{}\n", s3.port), &format!(":{}\n", cut.port)),
    );
    let failed = p.run_with_env(&["deploy"], &fast);
    failed.code(1).says("`leadsite deploy` again");
    p.write("leadsite.yaml", &other);
    let rest = p.run_with_env(&["deploy", "-v"], &CREDS);
    rest.code(0);
    assert_eq!(uploaded(&rest.stdout).len(), total - 4, "{}", rest.stdout);
}

#[test]
fn wrong_credentials_a_missing_bucket_and_no_server_are_said_plainly() {
    let s3 = S3::start();
    let p = project(s3.port);
    let fast = |key: &'static str| -> [(&'static str, &'static str); 3] {
        [
            ("AWS_ACCESS_KEY_ID", key),
            CREDS[1],
            ("LEADSITE_DEPLOY_BACKOFF_MS", "10"),
        ]
    };
    // (s3rver knows the key, not the signature: a key it does not know stands for both.)
    let wrong = p.run_with_env(&["deploy"], &fast("AKIANOTAKEY"));
    wrong.code(1).says("refused the credentials");
    let config = p.read("leadsite.yaml");
    p.write(
        "leadsite.yaml",
        &config.replace("bucket: site", "bucket: no-such-bucket"),
    );
    let missing = p.run_with_env(&["deploy"], &fast("S3RVER"));
    missing.code(1).says("does not exist");
    p.write(
        "leadsite.yaml",
        &config.replace(&format!(":{}\n", s3.port), &format!(":{}\n", free_port())),
    );
    let down = p.run_with_env(&["deploy"], &fast("S3RVER"));
    down.code(1).says("cannot list the bucket").says("5 tries");
    // No credentials at all.
    let none = p.run_with_env(
        &["deploy"],
        &[
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
            ("HOME", "/nonexistent"),
        ],
    );
    none.code(2);
    none.says("no credentials");
    // Two targets and none named; a name that is not one.
    p.write(
        "leadsite.yaml",
        &(config.clone() + "    - name: other\n      bucket: other\n"),
    );
    let which = p.run_with_env(&["deploy", "--dry-run"], &CREDS);
    which.code(2);
    which.says("--target");
    let unknown = p.run_with_env(&["deploy", "--target", "prod"], &CREDS);
    unknown.code(2).says("no deploy target \"prod\"");
}

/// A bucket of more than 1,000 keys is listed page by page, and keys with spaces and non-ASCII
/// letters come back as they went: a second deploy uploads and deletes nothing.
#[test]
fn listings_past_a_thousand_keys_and_unusual_names_round_trip() {
    let s3 = S3::start();
    let p = Project::with_config(&format!(
        "deploy:\n  targets:\n    - name: test\n      bucket: site\n      endpoint: http://127.0.0.1:{}\n      path_style: true\n",
        s3.port
    ));
    p.write("site/index.html", "<!DOCTYPE html><title>home</title>\n");
    p.write("site/files/menü 2+1.txt", "a menu\n");
    for i in 0..1_050 {
        p.write(&format!("site/l{i}/index.html"), &format!("page {i}\n"));
    }
    p.run_with_env(&["deploy"], &CREDS).code(0);
    assert_eq!(s3.head("files/men%C3%BC%202%2B1.txt").0, 200);
    let again = p.run_with_env(&["deploy", "--dry-run"], &CREDS);
    again.code(0);
    assert!(
        again
            .stdout
            .contains("0 to upload (0 bytes), 1052 unchanged, 0 to delete"),
        "{}",
        again.stdout
    );
}

/// What a deploy must leave alone or notice: another target's objects in the same bucket (a
/// target at the root lists them too), hidden folders of `site/` (`.git/`, but `.well-known/` is
/// published), links in `site/` (said, and their objects not deleted), a change of header
/// rules (every file goes up again with the new headers, no `--force` needed), and a prefix
/// with a `.` segment (refused by the config).
#[test]
fn other_targets_hidden_files_links_and_header_rules() {
    let s3 = S3::start();
    let p = project(s3.port);
    let root = p.read("leadsite.yaml");
    let two = root.clone()
        + &format!(
            "    - name: www\n      bucket: site\n      prefix: www\n      endpoint: http://127.0.0.1:{}\n      path_style: true\n",
            s3.port
        );
    p.write("leadsite.yaml", &two);
    p.run_with_env(&["deploy", "--target", "www"], &CREDS)
        .code(0);
    assert_eq!(s3.head("www/index.html").0, 200);
    std::fs::create_dir_all(p.path("site/.git")).unwrap();
    std::fs::write(
        p.path("site/.git/config"),
        "url = https://user:SECRET@example.com/x",
    )
    .unwrap();
    std::fs::create_dir_all(p.path("site/.well-known")).unwrap();
    std::fs::write(
        p.path("site/.well-known/security.txt"),
        "Contact: mailto:a@b.example\n",
    )
    .unwrap();
    let first = p.run_with_env(&["deploy", "--target", "test", "-v"], &CREDS);
    first.code(0);
    assert_eq!(
        s3.head("www/index.html").0,
        200,
        "the other target's site stays"
    );
    assert_eq!(s3.head(".git/config").0, 404, "{}", first.stdout);
    assert_eq!(s3.head(".well-known/security.txt").0, 200);

    // A link in site/: said, not published, and its object not deleted.
    std::fs::write(p.path("outside.txt"), "outside").unwrap();
    std::fs::write(p.path("site/linked.txt"), "in the site").unwrap();
    p.run_with_env(&["deploy", "--target", "test"], &CREDS)
        .code(0);
    std::fs::remove_file(p.path("site/linked.txt")).unwrap();
    std::os::unix::fs::symlink(p.path("outside.txt"), p.path("site/linked.txt")).unwrap();
    let linked = p.run_with_env(&["deploy", "--target", "test"], &CREDS);
    linked.code(0);
    assert!(
        linked
            .stderr
            .contains("site/linked.txt: not published: a symbolic link"),
        "{}",
        linked.stderr
    );
    assert_eq!(s3.get("linked.txt").1, b"in the site");

    // New header rules: every file goes up again, with them.
    let rules = two.replace(
        "deploy:\n  targets:\n",
        "deploy:\n  headers:\n    - {pattern: \"**/*.html\", cache_control: \"public, max-age=60\"}\n  targets:\n",
    );
    assert_ne!(rules, two);
    p.write("leadsite.yaml", &rules);
    let again = p.run_with_env(&["deploy", "--target", "test", "-v"], &CREDS);
    again.code(0);
    assert!(!uploaded(&again.stdout).is_empty(), "{}", again.stdout);
    assert_eq!(
        s3.head("acme/index.html").1["cache-control"],
        "public, max-age=60"
    );
    let settled = p.run_with_env(&["deploy", "--target", "test", "-v"], &CREDS);
    assert!(uploaded(&settled.stdout).is_empty(), "{}", settled.stdout);

    // The CDN paths of a prefixed target are the site's own, the prefix taken off.
    let lead = p
        .read("leads/acme.yaml")
        .replace("name: acme Garage", "name: Acme Motors");
    p.write("leads/acme.yaml", &lead);
    p.run(&["build"]).code(0);
    let www = p.run_with_env(&["deploy", "--target", "www"], &CREDS);
    www.code(0).says("'/acme/'");
    assert!(!www.stderr.contains("/www/"), "{}", www.stderr);

    // A `.` segment in a prefix is refused before anything is sent.
    p.write(
        "leadsite.yaml",
        &two.replace("prefix: www", "prefix: a/./b"),
    );
    let dot = p.run_with_env(&["deploy", "--target", "www"], &CREDS);
    assert_ne!(dot.code, 0);
    dot.says("prefix");
}
