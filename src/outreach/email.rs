//! EmailAgent: builds each message (deterministic Message-ID, threading, unsubscribe, multipart
//! text + HTML) and sends it with lettre over SMTP (STARTTLS/TLS; credentials only from the
//! environment), to .eml files, or through sendmail.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SendmailTransport, SmtpTransport, Transport};

use super::sequence::Rendered;
use super::Attempt;
use crate::config::{MailTransport, Outreach, TlsMode, TransportKind};
use crate::error::{Error, Result};

pub struct EmailAgent {
    transport: Sender,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    domain: String,
    dkim: Option<lettre::message::dkim::DkimConfig>,
}

enum Sender {
    Smtp(SmtpTransport),
    /// `.eml` files in this folder, each written whole or not at all.
    File(std::path::PathBuf),
    Sendmail(SendmailTransport),
}

/// What one message is: who, which step, and what it says.
pub struct Outgoing<'a> {
    pub to: &'a str,
    pub to_name: &'a str,
    pub lead: &'a str,
    pub sequence: &'a str,
    pub step: u32,
    pub rendered: &'a Rendered,
    pub unsubscribe: &'a str,
    pub one_click: Option<&'a str>,
}

/// The Message-ID of a step: the same lead, sequence and step always give the same id.
pub fn message_id(lead: &str, sequence: &str, step: u32, domain: &str) -> String {
    format!("<{lead}.{sequence}.{step}@{domain}>")
}

impl EmailAgent {
    /// `root`: the project folder, which the file transport's `dir` is relative to.
    pub fn new(
        o: &Outreach,
        root: &std::path::Path,
        dry_run_dir: Option<&std::path::Path>,
    ) -> Result<EmailAgent> {
        let from: Mailbox = format!("{} <{}>", o.sender_name, o.sender_email)
            .parse()
            .or_else(|_| o.sender_email.parse())
            .map_err(|e| Error::Mail(format!("outreach.sender_email in the config: {e}")))?;
        let reply_to = match &o.reply_to {
            Some(r) => Some(
                r.parse()
                    .map_err(|e| Error::Mail(format!("outreach.reply_to in the config: {e}")))?,
            ),
            None => None,
        };
        let domain = o.sender_domain().to_string();
        let transport = match dry_run_dir {
            Some(dir) => {
                crate::fsutil::create_dir_all(dir)?;
                Sender::File(dir.to_path_buf())
            }
            None => build_transport(&o.transport, root)?,
        };
        let dkim = match &o.dkim {
            Some(d) => Some(dkim_config(d, &domain)?),
            None => None,
        };
        Ok(EmailAgent {
            transport,
            from,
            reply_to,
            domain,
            dkim,
        })
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn build(&self, m: &Outgoing) -> Result<Message> {
        let to: Mailbox = if m.to_name.is_empty() {
            m.to.parse()
        } else {
            format!(
                "\"{}\" <{}>",
                m.to_name.replace(['"', '\\', '\r', '\n'], " "),
                m.to
            )
            .parse()
            .or_else(|_| m.to.parse())
        }
        .map_err(|e| Error::Mail(format!("{}: not an address to send to: {e}", m.to)))?;
        let mut b = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.rendered.subject.clone())
            .message_id(Some(message_id(m.lead, m.sequence, m.step, &self.domain)));
        if let Some(r) = &self.reply_to {
            b = b.reply_to(r.clone());
        }
        if m.step > 1 {
            b = b.in_reply_to(message_id(m.lead, m.sequence, 1, &self.domain));
            let refs: Vec<String> = (1..m.step)
                .map(|s| message_id(m.lead, m.sequence, s, &self.domain))
                .collect();
            b = b.references(refs.join(" "));
        }
        b = b.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            list_unsubscribe(m.unsubscribe, m.one_click),
        ));
        if m.one_click.is_some() {
            b = b.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".into(),
            ));
        }
        b.multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(m.rendered.text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(m.rendered.html.clone()),
                ),
        )
        .map(|mut message| {
            if let Some(dkim) = &self.dkim {
                message.sign(dkim);
            }
            message
        })
        .map_err(|e| Error::Mail(format!("cannot build the message: {e}")))
    }

    pub fn send(&self, message: &Message) -> Attempt {
        match &self.transport {
            Sender::Smtp(t) => match t.send(message) {
                Ok(_) => Attempt::Sent,
                Err(e) if e.is_permanent() => Attempt::Permanent(e.to_string()),
                // The server said "not now", or we never reached it: nothing was accepted.
                Err(e) if e.is_transient() || e.is_connection() || e.is_tls() => {
                    Attempt::retry(e.to_string())
                }
                // Lost mid-transaction (a dropped connection, no reply after the message): the
                // server may have taken it. Sending it again could deliver it twice.
                Err(e) => Attempt::InDoubt(format!(
                    "the connection to the mail server failed during the transaction, after                      which nobody knows whether it took the message: {e}"
                )),
            },
            Sender::File(dir) => write_eml(dir, message)
                .map_or_else(|e| Attempt::retry(e.to_string()), |_| Attempt::Sent),
            Sender::Sendmail(t) => t
                .send(message)
                .map_or_else(|e| Attempt::retry(e.to_string()), |_| Attempt::Sent),
        }
    }
}

/// Writes a message as `<Message-ID>.eml` (the same step always the same file), through a temp
/// file and a rename: a failed write (a full disk) leaves no empty or partial `.eml` behind, as
/// lettre's file transport did.
fn write_eml(dir: &std::path::Path, message: &Message) -> Result<std::path::PathBuf> {
    let id = message
        .headers()
        .get_raw("Message-ID")
        .unwrap_or("")
        .trim_matches(['<', '>', ' '])
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') {
                c
            } else {
                '_'
            }
        })
        .collect::<String>();
    let bytes = message.formatted();
    let name = if id.is_empty() {
        crate::fsutil::fingerprint(&bytes)
    } else {
        id
    };
    let path = dir.join(format!("{name}.eml"));
    crate::fsutil::write_atomic(&path, &bytes, true)?;
    Ok(path)
}

fn list_unsubscribe(url: &str, one_click: Option<&str>) -> String {
    match one_click {
        Some(https) => format!("<{https}>, <{url}>"),
        None => format!("<{url}>"),
    }
}

fn build_transport(t: &MailTransport, root: &std::path::Path) -> Result<Sender> {
    Ok(match t.kind {
        TransportKind::File => {
            // Relative to the project, not to wherever the command was started.
            let dir = root.join(&t.dir);
            crate::fsutil::create_dir_all(&dir)?;
            Sender::File(dir)
        }
        TransportKind::Sendmail => Sender::Sendmail(SendmailTransport::new()),
        TransportKind::Smtp => {
            let tls = match t.tls {
                TlsMode::None => Tls::None,
                TlsMode::Starttls | TlsMode::Tls => {
                    let params = TlsParameters::new(t.host.clone())
                        .map_err(|e| Error::Mail(format!("TLS for {}: {e}", t.host)))?;
                    if t.tls == TlsMode::Tls {
                        Tls::Wrapper(params)
                    } else {
                        Tls::Required(params)
                    }
                }
            };
            let mut b = SmtpTransport::builder_dangerous(&t.host)
                .port(t.port)
                .tls(tls)
                .timeout(Some(std::time::Duration::from_secs(30)));
            if let (Ok(user), Ok(pass)) = (
                std::env::var("LEADSITE_SMTP_USER"),
                std::env::var("LEADSITE_SMTP_PASSWORD"),
            ) {
                b = b.credentials(Credentials::new(user, pass));
            }
            Sender::Smtp(b.build())
        }
    })
}

/// The DKIM signer of `outreach.dkim`: relaxed/relaxed, covering the headers RFC 8058 §4 names
/// (List-Unsubscribe, List-Unsubscribe-Post) besides From, To, Subject, Date, Message-ID and the
/// threading headers. The key only from LEADSITE_DKIM_PRIVATE_KEY.
fn dkim_config(
    d: &crate::config::Dkim,
    sender_domain: &str,
) -> Result<lettre::message::dkim::DkimConfig> {
    use lettre::message::dkim::{
        DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
        DkimSigningKey,
    };
    let key = std::env::var("LEADSITE_DKIM_PRIVATE_KEY").unwrap_or_default();
    if key.trim().is_empty() {
        return Err(Error::Usage(
            "outreach.dkim is set: put the private key in LEADSITE_DKIM_PRIVATE_KEY".into(),
        ));
    }
    let algorithm = match d.algorithm {
        crate::config::DkimAlgorithm::Rsa => DkimSigningAlgorithm::Rsa,
        crate::config::DkimAlgorithm::Ed25519 => DkimSigningAlgorithm::Ed25519,
    };
    let key = DkimSigningKey::new(key.trim(), algorithm).map_err(|e| {
        Error::Usage(format!(
            "LEADSITE_DKIM_PRIVATE_KEY is not a {:?} private key (RSA: PKCS#1 PEM; Ed25519: base64): {e}",
            d.algorithm
        ))
    })?;
    let headers = [
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "In-Reply-To",
        "References",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    ]
    .into_iter()
    .map(HeaderName::new_from_ascii_str)
    .collect();
    Ok(DkimConfig::new(
        d.selector.clone(),
        d.domain
            .clone()
            .unwrap_or_else(|| sender_domain.to_string()),
        key,
        headers,
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Message {
        Message::builder()
            .from("A <a@agency.example>".parse().unwrap())
            .to("b@shop.example".parse().unwrap())
            .subject("Hi")
            .message_id(Some("<shop.intro.1@agency.example>".into()))
            .body("Hello".to_string())
            .unwrap()
    }

    #[test]
    fn the_file_transport_writes_whole_files_or_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_eml(dir.path(), &message()).unwrap();
        assert_eq!(path.file_name().unwrap(), "shop.intro.1@agency.example.eml");
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("Subject: Hi"));
        // A write that fails (here: a folder where the file would go) leaves nothing behind.
        let other = tempfile::tempdir().unwrap();
        std::fs::create_dir(other.path().join("shop.intro.1@agency.example.eml")).unwrap();
        assert!(write_eml(other.path(), &message()).is_err());
        let files: Vec<_> = walkdir::WalkDir::new(other.path())
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .collect();
        assert!(files.is_empty(), "{files:?}");
    }
}
