//! How leadsite connects to PostgreSQL: in plain text, or over TLS when the URL asks for it.
//!
//! The URL's `sslmode` and `sslrootcert` are read here (the driver knows neither `verify-ca`,
//! `verify-full` nor `sslrootcert`):
//! - absent, `disable`, `allow`, `prefer`: no TLS (a Unix socket, a loopback address, a
//!   tunnel);
//! - `require`, `verify-full`: TLS, the server's certificate checked against `sslrootcert`
//!   (a PEM file of CA certificates) or else Mozilla's roots, and its name against the host.
//!   Unlike libpq's `require`, which takes any certificate, leadsite never talks to a server it
//!   cannot verify: give a private CA as `sslrootcert`;
//! - `verify-ca`: TLS, the certificate checked against the CA, not its name.

use std::path::PathBuf;
use std::sync::Arc;

use postgres::{Client, NoTls};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{Error, Result};

/// What the URL asks of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    Off,
    /// The chain and the host name.
    VerifyFull,
    /// The chain only.
    VerifyCa,
}

/// A URL taken apart: what the driver is given, and the TLS leadsite sets up for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub driver_url: String,
    pub tls: Tls,
    pub root_cert: Option<PathBuf>,
}

/// Reads `sslmode` and `sslrootcert` from a URL (`postgres://…?sslmode=…`) or a key=value
/// string (`host=… sslmode='…'`).
pub fn target(url: &str) -> Result<Target> {
    let bad = |why: String| Error::Usage(format!("the database URL: {why}"));
    // A URL keeps its parsed form to be written back with other parameters.
    let parsed = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(url::Url::parse(url).map_err(|e| bad(e.to_string()))?)
    } else {
        None
    };
    let mut pairs: Vec<(String, String)> = match &parsed {
        Some(u) => u
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        None => key_values(url).map_err(bad)?,
    };
    let rebuild = |pairs: &[(String, String)]| match &parsed {
        Some(u) => {
            let mut u = u.clone();
            u.set_query(None);
            if !pairs.is_empty() {
                u.query_pairs_mut().extend_pairs(pairs);
            }
            u.to_string()
        }
        None => pairs
            .iter()
            .map(|(k, v)| format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'")))
            .collect::<Vec<_>>()
            .join(" "),
    };
    let take = |pairs: &mut Vec<(String, String)>, key: &str| {
        let found = pairs.iter().rposition(|(k, _)| k == key);
        found.map(|i| pairs.remove(i).1)
    };
    let mode = take(&mut pairs, "sslmode").map(|m| m.trim().to_ascii_lowercase());
    let root_cert = take(&mut pairs, "sslrootcert").map(PathBuf::from);
    let (tls, driver_mode) = match mode.as_deref() {
        None => (Tls::Off, None),
        Some("disable") => (Tls::Off, Some("disable")),
        Some("allow" | "prefer") => (Tls::Off, Some("prefer")),
        Some("require" | "verify-full") => (Tls::VerifyFull, Some("require")),
        Some("verify-ca") => (Tls::VerifyCa, Some("require")),
        Some(other) => {
            return Err(bad(format!(
                "sslmode={other} is not a mode (disable, allow, prefer, require, verify-ca, verify-full)"
            )))
        }
    };
    // libpq asks no TLS of a Unix socket, whatever the mode: neither does leadsite.
    let socket = match &parsed {
        Some(u) => {
            u.host_str().is_none_or(|h| h.is_empty()) && !pairs.iter().any(|(k, _)| k == "hostaddr")
        }
        None => false,
    } || (pairs.iter().any(|(k, v)| k == "host" && v.starts_with('/'))
        && !pairs.iter().any(|(k, _)| k == "hostaddr"));
    let (tls, driver_mode) = if socket && tls != Tls::Off {
        (Tls::Off, Some("disable"))
    } else {
        (tls, driver_mode)
    };
    let untouched = mode.is_none() && root_cert.is_none();
    if let Some(m) = driver_mode {
        pairs.push(("sslmode".into(), m.into()));
    }
    Ok(Target {
        driver_url: if untouched {
            url.to_string()
        } else {
            rebuild(&pairs)
        },
        tls,
        root_cert,
    })
}

/// `key=value` pairs, a value bare or in single quotes with `\` escapes (libpq's syntax).
fn key_values(s: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            // The word is not echoed: it may be the tail of a password with a space in it.
            return Err(
                "a word with no `=` (key=value; quote a value that holds spaces: password='a b')"
                    .into(),
            );
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => return Err(format!("the value of `{key}` has no closing quote")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
        }
        out.push((key, value));
    }
}

/// How long a connection may take, its start-up handshake included (the driver's
/// `connect_timeout` covers only the TCP connect: a server that takes the connection and never
/// answers would hold a worker for ever).
const CONNECT_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Connects as the URL says, TLS included, within [`CONNECT_LIMIT`].
pub fn connect(url: &str) -> Result<Client> {
    let t = target(url)?;
    let tls = match t.tls {
        Tls::Off => None,
        _ => Some(tokio_postgres_rustls::MakeRustlsConnect::new(
            client_config(&t)?,
        )),
    };
    let (send, answer) = std::sync::mpsc::channel();
    let driver_url = t.driver_url.clone();
    std::thread::spawn(move || {
        let connected = match tls {
            None => Client::connect(&driver_url, NoTls),
            Some(tls) => Client::connect(&driver_url, tls),
        };
        let _ = send.send(connected);
    });
    let Ok(connected) = answer.recv_timeout(CONNECT_LIMIT) else {
        return Err(Error::Database(format!(
            "cannot connect to {}: no answer within {} s",
            super::postgres::redact(url),
            CONNECT_LIMIT.as_secs()
        )));
    };
    connected.map_err(|e| {
        // The cause ("connection refused", the socket path, the certificate) is in the source.
        let why = match (e.as_db_error(), std::error::Error::source(&e)) {
            (Some(d), _) => d.message().to_string(),
            (None, Some(cause)) => format!("{e}: {cause}"),
            (None, None) => e.to_string(),
        };
        let hint = if t.tls != Tls::Off && why.contains("certificate") {
            if t.root_cert.is_some() {
                " (the server's certificate is not signed by the sslrootcert given, or names another host: verify-ca checks the CA only)"
            } else {
                " (a server with a private CA: give its certificate as sslrootcert=FILE in the URL)"
            }
        } else {
            ""
        };
        Error::Database(format!(
            "cannot connect to {}: {why}{hint}",
            super::postgres::redact(url)
        ))
    })
}

fn client_config(t: &Target) -> Result<rustls::ClientConfig> {
    let mut roots = RootCertStore::empty();
    match &t.root_cert {
        Some(path) => {
            // Read as any input is (bounded, never a FIFO); a read error is an I/O error with
            // its path, what is in the file a problem of the URL's sslrootcert.
            let pem = crate::limits::read_bytes(path, crate::limits::MAX_TEXT_FILE)
                .map_err(|e| crate::fsutil::io_error(path, e))?;
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| {
                    Error::from(crate::error::InputError::new(
                        crate::error::Location::file(path),
                        format!(
                            "the database URL's sslrootcert is not a PEM file of certificates: {e}"
                        ),
                    ))
                })?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(Error::Usage(format!(
                    "sslrootcert {}: no certificate in it",
                    path.display()
                )));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::System(format!("TLS: {e}")))?;
    let config = match t.tls {
        Tls::VerifyCa => {
            let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| Error::System(format!("TLS: {e}")))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(inner)))
                .with_no_client_auth()
        }
        _ => builder.with_root_certificates(roots).with_no_client_auth(),
    };
    Ok(config)
}

/// `verify-ca`: the chain checked as always; a certificate for another name is accepted.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain first, the name last: a name error means the chain held.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_root_certificates_are_read_from_both_spellings() {
        let t =
            target("host=db.example user=app sslmode = 'verify-full' sslrootcert='/etc/ca.pem'")
                .unwrap();
        assert_eq!(t.tls, Tls::VerifyFull);
        assert_eq!(t.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(
            t.driver_url,
            "host='db.example' user='app' sslmode='require'"
        );
        let t = target("postgres://app:pw@db.example:5433/crm?sslmode=verify-ca&sslrootcert=%2Fca.pem&application_name=x").unwrap();
        assert_eq!(t.tls, Tls::VerifyCa);
        assert_eq!(t.root_cert, Some(PathBuf::from("/ca.pem")));
        assert_eq!(
            t.driver_url,
            "postgres://app:pw@db.example:5433/crm?application_name=x&sslmode=require"
        );
        let t = target("host=/tmp/pg user=postgres").unwrap();
        assert_eq!((t.tls, t.root_cert), (Tls::Off, None));
        assert_eq!(t.driver_url, "host=/tmp/pg user=postgres", "as it was");
        assert_eq!(target("host=x sslmode=prefer").unwrap().tls, Tls::Off);
        assert_eq!(
            target("host=x sslmode=REQUIRE").unwrap().tls,
            Tls::VerifyFull
        );
        assert!(target("host=x sslmode=sometimes").is_err());
        assert!(target("host='x").is_err());
        assert!(target("host").is_err());
        // No word of a password in the message.
        let err = target("host=x password=a b").unwrap_err().to_string();
        assert!(
            !err.contains("`b`") && err.contains("password='a b'"),
            "{err}"
        );
        // A Unix socket: no TLS, as libpq.
        let t = target("host=/run/postgresql dbname=c sslmode=require").unwrap();
        assert_eq!(t.tls, Tls::Off);
        assert!(
            t.driver_url.contains("sslmode='disable'"),
            "{}",
            t.driver_url
        );
        // A quote inside a value survives the round trip.
        let t = target(r"host=x password='it\'s' sslmode=require").unwrap();
        assert_eq!(t.driver_url, r"host='x' password='it\'s' sslmode='require'");
    }
}
