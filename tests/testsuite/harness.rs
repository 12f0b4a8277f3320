//! `Project`: a leadsite project in a temp folder, and the binary run inside it.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub struct Project {
    dir: tempfile::TempDir,
}

/// What one run of the binary printed and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Project {
    /// An empty project: no config (the built-in defaults), no leads.
    pub fn new() -> Self {
        Project {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn with_config(yaml: &str) -> Self {
        let p = Project::new();
        p.write("leadsite.yaml", yaml);
        p
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Copies a fixture from `tests/fixtures/` into the project and returns its relative path.
    pub fn fixture(&self, name: &str) -> String {
        let from = fixture_path(name);
        let to = self.path(&format!("in/{name}"));
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&from, &to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        format!("in/{name}")
    }

    /// The lead files under `leads/`, sorted.
    pub fn lead_files(&self) -> Vec<String> {
        let dir = self.path("leads");
        let mut names: Vec<String> = match fs::read_dir(&dir) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => vec![],
        };
        names.sort();
        names
    }

    /// One lead file, parsed.
    pub fn lead(&self, key: &str) -> leadsite::Lead {
        let path = self.path(&format!("leads/{key}.yaml"));
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (file, errors) = leadsite::lead::parse_str(&text, &path);
        assert!(errors.is_empty(), "{errors:?}");
        file.leads.into_iter().next().unwrap()
    }

    /// Runs `leadsite ARGS…` in the project folder.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(args, &[])
    }

    /// Runs `leadsite ARGS…` with these environment variables set.
    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = Command::cargo_bin("leadsite")
            .unwrap()
            .current_dir(self.dir.path())
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Kills runs of `leadsite` at pseudo-random moments, the same ones on every test run.
pub struct Killer {
    seed: u64,
}

impl Killer {
    pub fn new(seed: u64) -> Killer {
        Killer { seed }
    }

    /// Starts `leadsite ARGS` in the project, waits `min_ms` plus up to `spread_ms` more, then
    /// SIGKILLs it (if it is still running) and reaps it.
    pub fn run(&mut self, p: &Project, args: &[&str], min_ms: u64, spread_ms: u64) {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("leadsite"))
            .args(args)
            .current_dir(p.path("."))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let wait = min_ms + (self.seed >> 33) % spread_ms;
        std::thread::sleep(std::time::Duration::from_millis(wait));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
}

/// A `leadsite serve` running in a project; stopped when dropped.
pub struct Server {
    child: std::process::Child,
    pub addr: String,
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Project {
    /// Starts `leadsite serve --port 0 ARGS…` and waits for its start-up line.
    pub fn serve(&self, args: &[&str]) -> Server {
        use std::io::BufRead;
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("leadsite"))
            .current_dir(self.dir.path())
            .args(["serve", "--port", "0"])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if let Some(at) = line.find("http://") {
                    let addr = line[at + 7..].split('/').next().unwrap_or("").to_string();
                    let _ = tx.send(addr);
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("serve did not start:\n{}", log.lock().unwrap()));
        Server { child, addr, log }
    }
}

impl Server {
    /// Sends a raw HTTP/1.1 request line (the path as given, unnormalized) with `headers`;
    /// returns (status, headers, body).
    pub fn request(&self, method: &str, path: &str, headers: &[&str]) -> (u16, String, Vec<u8>) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&self.addr).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for h in headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).unwrap();
        let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&buf[..split]).into_owned();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, head, buf[split + 4..].to_vec())
    }

    pub fn get(&self, path: &str) -> (u16, String, String) {
        let (s, h, b) = self.request("GET", path, &[]);
        (s, h, String::from_utf8_lossy(&b).into_owned())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Run {
    /// Asserts the exit code, showing the output when it is not the expected one.
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code, expected,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts that stderr says `text`, showing it when it does not.
    pub fn says(&self, text: impl AsRef<str>) -> &Self {
        let text = text.as_ref();
        assert!(
            self.stderr.contains(text),
            "stderr does not say {text:?}:\n{}",
            self.stderr
        );
        self
    }
}

pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The data rows of a CSV report (the header dropped), as maps of column to value.
pub fn csv_rows(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            headers
                .iter()
                .zip(rec.unwrap().iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// A real SMTP server on 127.0.0.1: Python's aiosmtpd, storing each message in a Maildir.
pub struct Smtp {
    child: std::process::Child,
    pub port: u16,
    pub maildir: PathBuf,
    /// Where its Maildir is, removed with it.
    _dir: tempfile::TempDir,
}

impl Smtp {
    /// A real SMTP server on a free loopback port, writing what it receives to a Maildir of its
    /// own.
    pub fn start() -> Smtp {
        // Said at once and exactly, not as a timeout in each of the tests that send mail.
        static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        let available = *AVAILABLE.get_or_init(|| {
            std::process::Command::new("python3")
                .args(["-c", "import aiosmtpd"])
                .status()
                .is_ok_and(|s| s.success())
        });
        assert!(
            available,
            "this test sends mail to a real SMTP server, Python's aiosmtpd, which is not \
             installed: run scripts/test (it installs everything the tests need), or \
             python3 -m pip install aiosmtpd==1.4.6"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().expect("temp dir");
        let maildir = dir.path().join("maildir");
        let mut child = std::process::Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(&maildir)
            .spawn()
            .expect(
                "python3 with aiosmtpd (scripts/test installs it: pip install aiosmtpd==1.4.6)",
            );
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("aiosmtpd stopped at start ({status}); see its message above");
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "aiosmtpd did not start (pip install aiosmtpd==1.4.6)"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Smtp {
            child,
            port,
            maildir,
            _dir: dir,
        }
    }

    /// Every received message, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = ["new", "cur"]
            .iter()
            .flat_map(|d| {
                std::fs::read_dir(self.maildir.join(d))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
            })
            .collect();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    pub fn to(&self, address: &str) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter(|m| {
                m.lines()
                    .any(|l| l.starts_with("To:") && l.contains(address))
            })
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file under `dir`: its path relative to `dir` (with `/`) → its bytes.
pub fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, fs::read(e.path()).unwrap())
        })
        .collect()
}
