//! Handing a message to the SMTP server with lettre.
//!
//! The connection comes from `[smtp]`, or whole from `WARROOM_SMTP_URL`
//! (`smtp://user:pass@host:587?tls=starttls`, `smtps://…` for TLS, `tls=none`
//! for a plain local relay), which CI can set without touching the project.
//! Secrets only come from the environment and never appear in messages:
//! errors name `host:port` only. `WARROOM_SMTP_CA_FILE` adds a trusted
//! certificate (PEM) for servers with a private CA.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, SmtpTransport, Transport};

use crate::config::model::{SmtpConfig, TlsMode};

/// Where and how to connect.
#[derive(Clone)]
pub struct Connection {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Connection security.
    pub tls: TlsMode,
    /// Login and password.
    pub credentials: Option<(String, String)>,
    /// Per-command timeout.
    pub timeout: Duration,
    /// Sender, when the URL gives one (`?from=`).
    pub from: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password.
        write!(f, "Connection({}:{}, {:?})", self.host, self.port, self.tls)
    }
}

impl Connection {
    /// `host:port`, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The sender of a run's mail: the connection's `from` (WARROOM_SMTP_URL),
/// else `[smtp] from`.
pub fn sender(connection: Option<&Connection>, config: Option<&SmtpConfig>) -> Option<String> {
    connection
        .and_then(|c| c.from.clone())
        .or_else(|| config.map(|s| s.from.clone()))
}

/// The connection from `WARROOM_SMTP_URL`, else from `[smtp]`.
pub fn connection(config: Option<&SmtpConfig>) -> Result<Connection, String> {
    if let Ok(url) = std::env::var("WARROOM_SMTP_URL") {
        return from_url(&url, config);
    }
    let config = config.ok_or("no [smtp] in warroom.toml and no WARROOM_SMTP_URL: nowhere to send mail")?;
    let credentials = match (&config.username, &config.password_env) {
        (Some(user), Some(env)) => {
            let password = std::env::var(env)
                .map_err(|_| format!("smtp.password_env: the environment variable {env} is not set"))?;
            Some((user.clone(), password))
        }
        (Some(_), None) => return Err("smtp.username is set but smtp.password_env is not".into()),
        _ => None,
    };
    Ok(Connection {
        host: config.host.clone(),
        port: config.port,
        tls: config.tls,
        credentials,
        timeout: config.timeout,
        from: None,
    })
}

fn from_url(text: &str, config: Option<&SmtpConfig>) -> Result<Connection, String> {
    // The URL may hold a password: never echo it.
    let url = url::Url::parse(text).map_err(|e| format!("WARROOM_SMTP_URL is not a URL ({e})"))?;
    let query = |key: &str| url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned());
    let tls = match (url.scheme(), query("tls").as_deref()) {
        ("smtps", _) | ("smtp", Some("tls")) => TlsMode::Tls,
        ("smtp", Some("none")) => TlsMode::None,
        ("smtp", None | Some("starttls")) => TlsMode::StartTls,
        (scheme, tls) => {
            return Err(format!(
                "WARROOM_SMTP_URL: unsupported scheme {scheme} or tls={}",
                tls.unwrap_or("")
            ));
        }
    };
    let host = url.host_str().ok_or("WARROOM_SMTP_URL has no host")?.to_string();
    let port = url.port().unwrap_or(match tls {
        TlsMode::StartTls => 587,
        TlsMode::Tls => 465,
        TlsMode::None => 25,
    });
    let decode = |s: &str| percent_decode(s);
    let credentials =
        (!url.username().is_empty()).then(|| (decode(url.username()), decode(url.password().unwrap_or(""))));
    Ok(Connection {
        host,
        port,
        tls,
        credentials,
        timeout: config.map_or(Duration::from_secs(30), |c| c.timeout),
        from: query("from"),
    })
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Sends a formatted message; the error names only `host:port`.
pub fn send(connection: &Connection, from: &str, recipients: &[String], message: &[u8]) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot send mail through {}: {e}", connection.address());
    let tls_parameters = || -> Result<TlsParameters, String> {
        let mut builder = TlsParameters::builder(connection.host.clone());
        if let Ok(path) = std::env::var("WARROOM_SMTP_CA_FILE") {
            let pem = std::fs::read(&path).map_err(|e| format!("WARROOM_SMTP_CA_FILE {path}: {e}"))?;
            builder = builder.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| fail(&e))?);
        }
        builder.build().map_err(|e| fail(&e))
    };
    let tls = match connection.tls {
        TlsMode::None => Tls::None,
        TlsMode::StartTls => Tls::Required(tls_parameters()?),
        TlsMode::Tls => Tls::Wrapper(tls_parameters()?),
    };
    let mut builder = SmtpTransport::builder_dangerous(connection.host.clone())
        .port(connection.port)
        .tls(tls)
        .timeout(Some(connection.timeout));
    if let Some((user, password)) = &connection.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    let transport = builder.build();
    let parse = |a: &str| -> Result<Address, String> {
        let mailbox: lettre::message::Mailbox = a.parse().map_err(|e| format!("`{a}`: {e}"))?;
        Ok(mailbox.email)
    };
    let to: Vec<Address> = recipients.iter().map(|r| parse(r)).collect::<Result<_, _>>()?;
    let envelope = Envelope::new(Some(parse(from)?), to).map_err(|e| fail(&e))?;
    transport.send_raw(&envelope, message).map(|_| ()).map_err(|e| fail(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_gives_the_whole_connection_and_debug_hides_the_password() {
        let c = from_url(
            "smtp://bot%40corp:s3cr%23t@mail.example.com:2525?tls=none&from=War%20Room%20%3Cwr%40corp%3E",
            None,
        )
        .unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.tls),
            ("mail.example.com", 2525, TlsMode::None)
        );
        assert_eq!(c.credentials, Some(("bot@corp".into(), "s3cr#t".into())));
        assert_eq!(c.from.as_deref(), Some("War Room <wr@corp>"));
        assert!(!format!("{c:?}").contains("s3cr"));
        assert_eq!(from_url("smtps://h", None).unwrap().port, 465);
    }
}
