//! `outreach:` — the campaign: sender, send window and caps, mail transport, WhatsApp/SMS,
//! one-click unsubscribes (`listen`) and the CRM.

use super::*;

/// Outreach: who sends, what, when, and how.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Outreach {
    /// Nothing is ever sent while this is false.
    pub enabled: bool,
    /// `content/emails/<sequence>/NN-*.md`.
    pub sequence: String,
    pub sender_name: String,
    pub sender_email: String,
    /// The sender's postal address, printed in every message.
    pub postal_address: String,
    pub reply_to: Option<String>,
    /// Where an unsubscribe goes: a mailto: or https URL (`{lead}` is replaced by the dedup_key).
    /// Default: a mailto: to the sender with subject "unsubscribe".
    pub unsubscribe_url: Option<String>,
    /// An https endpoint that takes RFC 8058 one-click unsubscribe POSTs (`{lead}` replaced).
    pub one_click_url: Option<String>,
    pub window: SendWindow,
    /// Messages sent in one UTC day at most.
    pub daily_cap: usize,
    /// Messages sent in one `schedule` run at most.
    pub run_cap: usize,
    /// Tries of one step (soft bounces, transient SMTP errors) before giving up on the lead.
    pub max_attempts: u32,
    /// Minutes before the first retry; doubled for each further one.
    pub retry_minutes: u32,
    pub transport: MailTransport,
    pub crm: Crm,
    pub listen: Listen,
    pub whatsapp: WhatsApp,
    /// DKIM signing of every email (RFC 8058 wants List-Unsubscribe signed; large mailbox
    /// providers want authenticated mail). The private key comes only from the environment:
    /// LEADSITE_DKIM_PRIVATE_KEY (RSA PKCS#1 PEM, or base64 Ed25519).
    pub dkim: Option<Dkim>,
    /// Where the campaign state and the message bus live: `files` under `.leadsite/` (one
    /// worker at a time), or `postgres` (several `schedule` workers, on several machines).
    pub backend: StoreBackend,
    /// The PostgreSQL URL when `backend: postgres` (`postgres://user@host/db`, or
    /// `host=/run/postgresql dbname=leads`). `LEADSITE_DATABASE_URL` wins over it; keep a
    /// password there, not here.
    pub database_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    #[default]
    Files,
    Postgres,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dkim {
    /// The selector the public key is published under (`<selector>._domainkey.<domain>`).
    pub selector: String,
    /// The signing domain; unset: the sender's.
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub algorithm: DkimAlgorithm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DkimAlgorithm {
    #[default]
    Rsa,
    Ed25519,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhatsAppProvider {
    /// The WhatsApp Cloud API: template messages; bearer token from LEADSITE_WHATSAPP_TOKEN.
    Cloud,
    /// A Twilio-style SMS API: To/From/Body; auth token from LEADSITE_TWILIO_TOKEN.
    Twilio,
}

/// WhatsAppAgent: how `channel: whatsapp` steps are sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WhatsApp {
    pub provider: WhatsAppProvider,
    /// The API's address; unset: the provider's own (`https://graph.facebook.com` for the Cloud
    /// API, `https://api.twilio.com` for Twilio), so that one provider's credentials never go to
    /// the other. Must be https (plain http only to this machine, for tests).
    pub base_url: Option<String>,
    /// Graph API version in the path (`v24.0`); Meta retires each about two years after its
    /// release, and `check` warns about one older than leadsite's default.
    pub version: String,
    pub phone_number_id: String,
    /// The WhatsApp Business Account the templates belong to. When set, every run looks up the
    /// templates it would use (status, language, body parameters) before it sends anything.
    pub business_account_id: String,
    /// The template's language code.
    pub language: String,
    /// Twilio: the account SID and the sending number.
    pub account_sid: String,
    pub from: String,
    /// Tries of one message (429, 5xx, no answer), one a run, before it is given up.
    pub max_tries: u32,
}

/// The Graph API version leadsite's requests were checked against (Meta retires each version
/// about two years after its release: v21.0 in January 2027).
pub const GRAPH_API_VERSION: &str = "v24.0";

/// A Graph API version (`v24.0`) as a number to compare, when it is one.
pub fn graph_version(v: &str) -> Option<f64> {
    let n = v.strip_prefix('v')?;
    let (major, minor) = n.split_once('.')?;
    (major.len() <= 3
        && minor.len() == 1
        && (major.to_owned() + minor)
            .bytes()
            .all(|b| b.is_ascii_digit()))
    .then(|| n.parse().ok())
    .flatten()
}

impl WhatsApp {
    /// What the messages are: `whatsapp` (Cloud API) or `sms` (Twilio).
    pub fn channel(&self) -> &'static str {
        match self.provider {
            WhatsAppProvider::Cloud => "whatsapp",
            WhatsAppProvider::Twilio => "sms",
        }
    }

    /// The base URL requests go to: the configured one, else the provider's.
    pub fn api_base(&self) -> &str {
        match (&self.base_url, self.provider) {
            (Some(url), _) => url.trim_end_matches('/'),
            (None, WhatsAppProvider::Cloud) => "https://graph.facebook.com",
            (None, WhatsAppProvider::Twilio) => "https://api.twilio.com",
        }
    }
}

impl Default for WhatsApp {
    fn default() -> Self {
        WhatsApp {
            provider: WhatsAppProvider::Cloud,
            base_url: None,
            version: GRAPH_API_VERSION.into(),
            phone_number_id: String::new(),
            business_account_id: String::new(),
            language: "en_US".into(),
            account_sid: String::new(),
            from: String::new(),
            max_tries: 3,
        }
    }
}

/// `leadsite listen`: one-click unsubscribe and delivery webhooks. Tokens are signed with
/// LEADSITE_UNSUBSCRIBE_SECRET (environment only).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    pub bind: String,
    /// The https URL `listen` is reachable at from the internet (a reverse proxy in front of
    /// it); when set, every email's List-Unsubscribe points to it, one-click.
    pub public_url: Option<String>,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            bind: "127.0.0.1:8025".into(),
            public_url: None,
        }
    }
}

/// CRMAdapterAgent: where engaged leads go. The webhook's HMAC secret comes only from
/// LEADSITE_CRM_SECRET.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Crm {
    /// A CSV file a CRM imports as it is (one row a lead, never twice).
    pub csv: Option<PathBuf>,
    /// POSTed a JSON body signed with HMAC-SHA256 (header X-Leadsite-Signature: sha256=HEX).
    pub webhook_url: Option<String>,
    /// Tries of one webhook delivery (one a `schedule` run) before it goes to the dead letters.
    pub max_tries: u32,
}

impl Default for Crm {
    fn default() -> Self {
        Crm {
            csv: None,
            webhook_url: None,
            max_tries: 3,
        }
    }
}

/// When messages may go out, in the lead's local time (its `timezone`, else this one).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendWindow {
    pub timezone: String,
    pub start_hour: u32,
    pub end_hour: u32,
    /// mon, tue, wed, thu, fri, sat, sun.
    pub days: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    Smtp,
    /// Writes .eml files to `dir`, for dry runs.
    File,
    Sendmail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    None,
    Starttls,
    Tls,
}

/// How mail leaves. SMTP credentials come only from LEADSITE_SMTP_USER / LEADSITE_SMTP_PASSWORD.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailTransport {
    pub kind: TransportKind,
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// For `kind: file` (and `schedule --dry-run`).
    pub dir: PathBuf,
}

impl Outreach {
    /// The domain of `sender_email`: our Message-IDs end in it, and replies are matched by it.
    pub fn sender_domain(&self) -> &str {
        self.sender_email
            .rsplit_once('@')
            .map_or("localhost", |(_, d)| d)
    }
}

impl Default for Outreach {
    fn default() -> Self {
        Outreach {
            enabled: false,
            sequence: "intro".into(),
            sender_name: String::new(),
            sender_email: String::new(),
            postal_address: String::new(),
            reply_to: None,
            unsubscribe_url: None,
            one_click_url: None,
            window: SendWindow::default(),
            daily_cap: 200,
            run_cap: 50,
            max_attempts: 3,
            retry_minutes: 60,
            transport: MailTransport::default(),
            crm: Crm::default(),
            listen: Listen::default(),
            whatsapp: WhatsApp::default(),
            dkim: None,
            backend: StoreBackend::Files,
            database_url: None,
        }
    }
}

impl Default for SendWindow {
    fn default() -> Self {
        SendWindow {
            timezone: "America/Chicago".into(),
            start_hour: 9,
            end_hour: 17,
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
        }
    }
}

impl Default for MailTransport {
    fn default() -> Self {
        MailTransport {
            kind: TransportKind::Smtp,
            host: "127.0.0.1".into(),
            port: 25,
            tls: TlsMode::None,
            dir: ".leadsite/outbox".into(),
        }
    }
}

/// A day of the week from its English name or first three letters (`mon`, `Monday`).
pub fn weekday(s: &str) -> Option<chrono::Weekday> {
    use chrono::Weekday;
    match s.trim().to_ascii_lowercase().get(..3)? {
        "mon" => Some(Weekday::Mon),
        "tue" => Some(Weekday::Tue),
        "wed" => Some(Weekday::Wed),
        "thu" => Some(Weekday::Thu),
        "fri" => Some(Weekday::Fri),
        "sat" => Some(Weekday::Sat),
        "sun" => Some(Weekday::Sun),
        _ => None,
    }
}
