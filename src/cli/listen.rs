//! `leadsite listen`: one-click unsubscribe and delivery webhooks → bus events.

use crate::cli::{Outcome, Ui};
use crate::config::Config;
use crate::outreach::listen::{secret, Listener, TwilioHook};
use crate::outreach::orchestrator;
use crate::outreach::webhook::Secrets;

/// Receive one-click unsubscribes (RFC 8058) and email providers' delivery webhooks.
///
/// GET /u/TOKEN shows a confirmation page, POST /u/TOKEN unsubscribes. Delivery webhooks, each
/// signed and refused with 401 otherwise (or when older than five minutes): POST
/// /webhooks/mailgun (LEADSITE_MAILGUN_SIGNING_KEY), /webhooks/sendgrid (Event Webhook,
/// LEADSITE_SENDGRID_PUBLIC_KEY), /webhooks/delivery (X-Leadsite-Signature: sha256=HMAC of the
/// body under LEADSITE_WEBHOOK_SECRET; {"event": "bounce"|"complaint"|"unsubscribe",
/// "message_id", "type", "reason", "timestamp"}), /webhooks/twilio (Twilio's incoming messages
/// and status callbacks, X-Twilio-Signature under LEADSITE_TWILIO_TOKEN; give Twilio
/// <outreach.listen.public_url>/webhooks/twilio). Each event is published on the bus for the next
/// `schedule`. Tokens are signed with LEADSITE_UNSUBSCRIBE_SECRET. Put it behind an https reverse
/// proxy and set outreach.listen.public_url so that emails link to it.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on [default: outreach.listen.bind, 127.0.0.1:8025].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
}

pub fn run(args: Args, config: &Config, ui: &Ui) -> anyhow::Result<Outcome> {
    let secret = secret()?;
    let bind = args
        .bind
        .unwrap_or_else(|| config.outreach.listen.bind.clone());
    let listener = std::net::TcpListener::bind(&bind)
        .map_err(|e| crate::web::bind_error(&bind, &e, &e.to_string()))?;
    let webhooks = Secrets::from_env()?;
    // The bus (files, or the database) is opened before the first request can come.
    let bus = crate::outreach::backend::open_bus(config)?;
    let mut on: Vec<&str> = webhooks.enabled().iter().map(|p| p.name()).collect();
    // Twilio signs the URL it was given: the public one.
    let twilio = match (
        std::env::var("LEADSITE_TWILIO_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
        &config.outreach.listen.public_url,
    ) {
        (Some(token), Some(public)) => {
            on.push("twilio");
            Some(TwilioHook {
                token: token.into_bytes(),
                account_sid: config.outreach.whatsapp.account_sid.clone(),
                url: format!("{}/webhooks/twilio", public.trim_end_matches('/')),
                records: crate::outreach::backend::records_reader(config)?,
                leads_at: {
                    let config = config.clone();
                    Box::new(move |number: &str| {
                        let region = config.ingest.default_region.clone();
                        orchestrator::scored_leads(&config).map(|leads| {
                            leads
                                .into_values()
                                .filter(|l| {
                                    l.phone
                                        .as_deref()
                                        .and_then(|p| {
                                            crate::lead::value::phone_e164(
                                                p,
                                                l.country().unwrap_or(&region),
                                            )
                                        })
                                        .as_deref()
                                        == Some(number)
                                })
                                .map(|l| l.dedup_key)
                                .collect()
                        })
                    })
                },
            })
        }
        _ => None,
    };
    // One line: whoever reads the address from it may close the pipe after it.
    ui.info(&format!(
        "listening on http://{}/ (Ctrl-C to stop); delivery webhooks on: {}",
        listener.local_addr()?,
        if on.is_empty() {
            "none (set LEADSITE_MAILGUN_SIGNING_KEY, LEADSITE_SENDGRID_PUBLIC_KEY or LEADSITE_WEBHOOK_SECRET; Twilio: LEADSITE_TWILIO_TOKEN and outreach.listen.public_url)".to_string()
        } else {
            on.join(", ")
        }
    ));
    let domain = config.outreach.sender_domain().to_string();
    // Ctrl-C: no new connections; the requests being served finish (an event half-published
    // is never left behind), then exit 130.
    let stop = crate::web::Stop::on_ctrl_c()
        .map_err(|e| crate::error::Error::System(format!("cannot catch Ctrl-C: {e}")))?;
    Listener {
        secret,
        domain,
        bus,
        webhooks,
        tokens: crate::outreach::webhook::Tokens::at(
            orchestrator::bus_dir(config).join("mailgun-tokens.tsv"),
            chrono::Utc::now().timestamp(),
        ),
        twilio,
    }
    .serve(listener, Some(stop.clone()))?;
    if stop.came() {
        ui.info("stopped (Ctrl-C)");
        return Ok(Outcome::Interrupted);
    }
    Ok(Outcome::Success)
}
