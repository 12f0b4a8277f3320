//! `leadsite serve`: build, serve `site/` on loopback, watch the project and rebuild what changed
//! (the incremental build), and reload open pages. A broken edit keeps the last good site and
//! shows the error in the terminal and over the page until the next good save.

pub(crate) mod http;

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::RecursiveMode;
use notify_debouncer_full::{new_debouncer, DebounceEventResult};

use crate::build::{self, Until};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::pipeline::enrich::Silent;
use http::Clients;

pub struct Options {
    pub bind: IpAddr,
    pub port: u16,
    pub offline: bool,
}

enum Msg {
    Changed(Vec<PathBuf>),
    Stop,
}

/// What one (re)build said, for the terminal.
pub type Say<'a> = &'a dyn Fn(&str);

/// Serves until Ctrl-C. `load` reads the config again before every build.
pub fn run(load: &dyn Fn() -> Result<Config>, opts: &Options, say: Say, warn: Say) -> Result<()> {
    let config = load()?;
    let addr = SocketAddr::new(opts.bind, opts.port);
    let listener = TcpListener::bind(addr).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            format!(
                "port {} is in use (another `leadsite serve`?): choose another with --port",
                opts.port
            )
        } else {
            e.to_string()
        };
        crate::web::bind_error(&addr.to_string(), &e, &hint)
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::System(e.to_string()))?;
    let site_dir = config.site_dir();
    let clients = Clients::default();

    let mut waiting = rebuild(load, opts, &clients, say, warn, true);

    let (tx, rx) = mpsc::channel::<Msg>();
    let stop = tx.clone();
    ctrlc::set_handler(move || {
        let _ = stop.send(Msg::Stop);
    })
    .map_err(|e| Error::System(format!("cannot catch Ctrl-C: {e}")))?;

    {
        let clients = clients.clone();
        let root = site_dir.clone();
        // On loopback for one person's browser: no connection lifetime (event streams stay open).
        let limits = crate::web::Limits {
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
            connection_timeout: None,
        };
        std::thread::spawn(move || {
            crate::web::serve(listener, http::router(root, clients), limits, None)
        });
    }

    let events = tx.clone();
    let mut debouncer = new_debouncer(
        Duration::from_millis(200),
        None,
        move |res: DebounceEventResult| {
            if let Ok(evs) = res {
                // Reading files (as every build does) is no change.
                let paths: Vec<PathBuf> = evs
                    .into_iter()
                    .filter(|e| crate::fsutil::is_change(&e.event.kind))
                    .flat_map(|e| e.event.paths)
                    .collect();
                if !paths.is_empty() {
                    let _ = events.send(Msg::Changed(paths));
                }
            }
        },
    )
    .map_err(|e| Error::System(format!("cannot watch files: {e}")))?;
    let watched = watch_list(&config);
    for (path, mode) in &watched {
        if path.exists() {
            debouncer
                .watch(path, *mode)
                .map_err(|e| Error::System(format!("cannot watch {}: {e}", path.display())))?;
        }
    }
    say(&format!(
        "serving {} at http://{local}/ — watching {}; Ctrl-C to stop",
        site_dir.display(),
        watched
            .iter()
            .filter(|(p, m)| *m == RecursiveMode::Recursive && p.exists())
            .map(|(p, _)| p.display().to_string())
            .chain(config.file.iter().map(|f| f.display().to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    ));

    // notify reports absolute paths.
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let ignore = [abs(&site_dir), abs(&config.work_dir())];
    let config_file = config.file.as_deref().map(abs);
    loop {
        // While another command holds the project, try again every 250 ms (a change it made
        // may send no further event).
        let msg = if waiting {
            match rx.recv_timeout(Duration::from_millis(250)) {
                Ok(msg) => msg,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    waiting = rebuild(load, opts, &clients, say, warn, false);
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(msg) => msg,
                Err(_) => break,
            }
        };
        match msg {
            Msg::Stop => break,
            Msg::Changed(mut paths) => {
                // Changes that queued up while the last build ran (a long ingest sends many):
                // one build for all of them.
                let mut stop = false;
                while let Ok(more) = rx.try_recv() {
                    match more {
                        Msg::Changed(p) => paths.extend(p),
                        Msg::Stop => stop = true,
                    }
                }
                if stop {
                    break;
                }
                let relevant = paths.iter().any(|p| {
                    let in_root = p.parent().map(Path::to_path_buf)
                        == config_file
                            .as_ref()
                            .and_then(|f| f.parent().map(Path::to_path_buf));
                    let hidden = p
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with('.') || n.ends_with('~'));
                    !hidden
                        && !ignore.iter().any(|i| p.starts_with(i))
                        && (!in_root
                            || config_file.as_deref().and_then(Path::file_name) == p.file_name())
                });
                if relevant {
                    waiting = rebuild(load, opts, &clients, say, warn, !waiting);
                }
            }
        }
    }
    say("stopped");
    Ok(())
}

/// What to watch: the leads, themes and content folders, and the config file's folder (only its
/// own files; the config is told apart when events come).
fn watch_list(config: &Config) -> Vec<(PathBuf, RecursiveMode)> {
    let mut list = vec![
        (config.leads_dir(), RecursiveMode::Recursive),
        (
            config.resolve(&config.paths.themes),
            RecursiveMode::Recursive,
        ),
        (
            config.resolve(&config.paths.content),
            RecursiveMode::Recursive,
        ),
    ];
    list.push((config.root.clone(), RecursiveMode::NonRecursive));
    list
}

/// Builds the site again; `true` when another leadsite command holds the project (a `build`,
/// `ingest` …): nothing was done, and the caller tries again soon. Two writers of `site/` and
/// `.leadsite/` at once could publish a mix of both. `announce` says so in the terminal.
fn rebuild(
    load: &dyn Fn() -> Result<Config>,
    opts: &Options,
    clients: &Clients,
    say: Say,
    warn: Say,
    announce: bool,
) -> bool {
    let started = Instant::now();
    let result = load().and_then(|config| {
        let _lock = crate::fsutil::ProjectLock::take(
            &config.work_dir(),
            &config.resolve(&config.paths.leads),
            "serve",
        )?;
        let build_opts = build::Options {
            until: Until::Render,
            offline: opts.offline,
            now: chrono::Utc::now(),
            strict: true,
        };
        build::run(&config, &build_opts, &Silent)
    });
    match result {
        Err(Error::Locked(_)) => {
            if announce {
                say("another leadsite command is changing the project: building when it ends");
            }
            return true;
        }
        Ok((report, _)) => {
            let site = report.site.unwrap_or_default();
            say(&format!(
                "built in {} ms: {} pages written, {} unchanged, {} removed",
                started.elapsed().as_millis(),
                site.written,
                site.unchanged,
                site.removed
            ));
            clients.send("reload", "");
        }
        Err(e) => {
            let text = e.to_string();
            warn(&format!(
                "build failed; still serving the last good site:\n{text}"
            ));
            clients.send("failed", &text);
        }
    }
    false
}
