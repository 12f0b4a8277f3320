//! `leadsite schedule`: one outreach run (from cron), or `--watch` to keep running.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{Outcome, Ui};
use crate::config::Config;
use crate::outreach::orchestrator::{self, Options, RunReport};

/// Send due emails and follow-ups, and act on events (replies, bounces, opt-outs).
///
/// Reads <work>/bus/ (and drains its inbox/), keeps each lead's campaign in <work>/state/, and
/// sends with the config's transport. Run it from cron; a second run while one is going exits at
/// once. Every step goes out at most once: a step a crash left in doubt is reported by `leadsite
/// status`, never sent again by itself. Needs `outreach.enabled: true` and a `leadsite build`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Act as if it were this time (RFC 3339), for tests and catch-up runs.
    #[arg(long, value_name = "TIME")]
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// Show what a run would do, and change nothing: the messages are written as .eml files to
    /// <work>/outbox/ instead of being sent, and the campaign state, the bus (its inbox and
    /// acks) and the suppression list are left byte for byte as they were.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep running: a run whenever something arrives in the bus inbox, and every minute.
    #[arg(long, conflicts_with = "now")]
    pub watch: bool,
}

pub fn run(
    args: Args,
    load: &dyn Fn() -> anyhow::Result<Config>,
    ui: &Ui,
) -> anyhow::Result<Outcome> {
    let once = |now: chrono::DateTime<chrono::Utc>,
                quiet_if_idle: bool|
     -> anyhow::Result<RunReport> {
        let config = load()?;
        let report = orchestrator::run(
            &config,
            &Options {
                now,
                dry_run: args.dry_run,
            },
        )?;
        for (id, why) in &report.ignored {
            ui.detail(&format!("event {id}: {why}"));
        }
        for (file, why) in &report.inbox_rejected {
            let moved = if args.dry_run {
                "would be moved"
            } else {
                "moved"
            };
            eprintln!(
                "warning: inbox/{} {moved} to rejected/: {}",
                crate::error::printable(file),
                crate::error::printable(why)
            );
        }
        for (entry, why) in &report.quarantined {
            eprintln!(
                "warning: bus/log/{} cannot be read, moved to bus/quarantine/: {}",
                crate::error::printable(entry),
                crate::error::printable(why)
            );
        }
        for (id, why) in &report.whatsapp_failed {
            eprintln!("warning: WhatsApp message {id} given up: {why}");
        }
        for (id, why) in &report.whatsapp_cancelled {
            ui.info(&format!("WhatsApp/SMS message {id} not sent: {why}"));
        }
        if let Some(why) = &report.whatsapp_halted {
            eprintln!(
                "warning: WhatsApp/SMS stopped for this run, its messages stay queued: {why}"
            );
        }
        for lead in &report.in_doubt {
            eprintln!("warning: {lead}: a step is in doubt (a run stopped mid-send, or no answer came back); see `leadsite status --lead {lead}`, then `leadsite resolve {lead} --sent|--not-sent`");
        }
        if args.dry_run {
            for line in &report.planned {
                ui.result(&format!("would send {line}\n"));
            }
        }
        let idle = report.events == 0
            && report.sent + report.failed + report.bounced + report.completed == 0;
        if quiet_if_idle && idle {
            return Ok(report);
        }
        ui.result(&format!(
            "{} events ({} changed nothing), {} sent{}, {} failed, {} bounced, {} waiting for the send window, {} finished with no response{}\n",
            report.events,
            report.ignored.len(),
            report.sent,
            if args.dry_run { " (dry run: written to .leadsite/outbox/, nothing sent, no state changed)" } else { "" },
            report.failed,
            report.bounced,
            report.waiting_for_window,
            report.completed,
            if report.capped { "; the send cap was reached" } else { "" },
        ));
        Ok(report)
    };
    if !args.watch {
        let report = once(args.now.unwrap_or_else(chrono::Utc::now), false)?;
        let partial = !report.inbox_rejected.is_empty()
            || !report.in_doubt.is_empty()
            || !report.quarantined.is_empty()
            || report.whatsapp_halted.is_some();
        return Ok(if partial {
            Outcome::Partial
        } else {
            Outcome::Success
        });
    }
    let config = load()?;
    let inbox = orchestrator::bus_dir(&config).join("inbox");
    crate::fsutil::create_dir_all(&inbox)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let tx_db = tx.clone();
    let wake_on_stop = tx.clone();
    let mut watcher =
        notify_debouncer_full::new_debouncer(Duration::from_millis(300), None, move |_| {
            let _ = tx.send(());
        })?;
    watcher.watch(&inbox, notify::RecursiveMode::NonRecursive)?;
    // With the database, a publish by any process anywhere wakes this worker (NOTIFY, on a
    // connection of its own); polling every few seconds stays the truth, as notifications
    // are not replayed to a worker that was not listening.
    let poll = match config.outreach.backend {
        crate::config::StoreBackend::Postgres => {
            let url = crate::outreach::backend::database_url(&config)?;
            let wake = tx_db;
            std::thread::spawn(move || loop {
                // (Re)connects, then waits for notifications until the connection fails.
                if let Ok(db) = crate::outreach::postgres::Db::connect(&url) {
                    let bus = crate::outreach::postgres::PgBus::new(db);
                    while let Ok(woke) = bus.wait(Duration::from_secs(30)) {
                        if woke && wake.send(()).is_err() {
                            return;
                        }
                    }
                }
                // The database went away: the poll goes on; listen again a little later.
                std::thread::sleep(Duration::from_secs(5));
            });
            Duration::from_secs(5)
        }
        crate::config::StoreBackend::Files => Duration::from_secs(60),
    };
    let stopping = stop_after_this_run(wake_on_stop)?;
    ui.info(&format!("watching {} (Ctrl-C to stop)", inbox.display()));
    loop {
        if let Err(e) = once(chrono::Utc::now(), true) {
            crate::cli::ui::say(&format!("error: {e:#}"));
        }
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let _ = rx.recv_timeout(poll);
        while rx.try_recv().is_ok() {}
        if stopping.load(Ordering::SeqCst) {
            break;
        }
    }
    ui.info("stopped (Ctrl-C)");
    Ok(Outcome::Interrupted)
}

/// Ctrl-C (or SIGTERM) while watching: the run under way finishes (a message being sent is
/// recorded, never left in doubt by the stop), then the watch ends. A second Ctrl-C stops at
/// once; a step being sent is then in doubt, for `leadsite status` and `resolve`.
fn stop_after_this_run(wake: std::sync::mpsc::Sender<()>) -> anyhow::Result<Arc<AtomicBool>> {
    let stopping = Arc::new(AtomicBool::new(false));
    let flag = stopping.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            crate::cli::ui::say("stopped at once (second Ctrl-C): a step being sent may be in doubt; see `leadsite status`");
            std::process::exit(130);
        }
        crate::cli::ui::say("stopping after this run (Ctrl-C again to stop at once)");
        let _ = wake.send(());
    })
    .map_err(|e| crate::error::Error::System(format!("cannot catch Ctrl-C: {e}")))?;
    Ok(stopping)
}
