//! E-mail over SMTP, through lettre: plain text in UTF-8, one connection per message (messages
//! are few, and a fresh connection never finds a server-side idle timeout).

use std::time::Duration;

use age::secrecy::{ExposeSecret, SecretString};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{Outgoing, REQUEST_TIMEOUT, SendError, Sent, SetupError, error_chain, truncate};

/// The longest subject taken from the body's first line, in characters.
const SUBJECT_CHARS: usize = 60;

/// A whole exchange (connect, greeting, TLS, envelope, data) may take this long; each step
/// alone gets `REQUEST_TIMEOUT`.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Which server to send through, and as whom.
#[derive(Clone)]
pub struct SmtpConfig {
    /// `smtps://user:pass@host:465` (implicit TLS), `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS) or `smtp://host:25` (plain, for a relay on the same machine or tests); a
    /// path names the EHLO host (`smtps://…/shop.example.com`). A secret: it holds the password.
    pub url: SecretString,
    /// The sender, `Name <address>` or a bare address.
    pub from: String,
}

impl SmtpConfig {
    /// A configuration; the URL is wrapped at once, so its password cannot be printed.
    pub fn new(url: impl Into<String>, from: impl Into<String>) -> SmtpConfig {
        SmtpConfig {
            url: SecretString::from(url.into()),
            from: from.into(),
        }
    }
}

impl std::fmt::Debug for SmtpConfig {
    /// The server without its credentials: enough to tell which one is configured.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let server = match reqwest::Url::parse(self.url.expose_secret()) {
            Ok(url) => format!(
                "{}://{}:{}",
                url.scheme(),
                url.host_str().unwrap_or("?"),
                url.port()
                    .map_or_else(|| "default".to_owned(), |p| p.to_string())
            ),
            Err(_) => "<unparsable>".to_owned(),
        };
        f.debug_struct("SmtpConfig")
            .field("server", &server)
            .field("from", &self.from)
            .finish()
    }
}

/// The e-mail channel.
pub struct Smtp {
    config: SmtpConfig,
    from: Mailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smtp")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Smtp {
    /// The adapter for `config`: the sender and the URL are checked here, so a bad setting
    /// stops the start rather than failing every message.
    pub fn new(config: SmtpConfig) -> Result<Smtp, SetupError> {
        let from: Mailbox = config.from.parse().map_err(|e| SetupError::Invalid {
            what: "SMTP sender",
            reason: format!("{e}"),
        })?;
        // lettre's URL errors name the part that is wrong, never the password.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(config.url.expose_secret())
            .map_err(|e| SetupError::Invalid {
                what: "SMTP URL",
                reason: error_chain(&e),
            })?
            .timeout(Some(REQUEST_TIMEOUT))
            .build();
        Ok(Smtp {
            config,
            from,
            transport,
        })
    }

    /// Sends `message.body` as a plain-text mail to `message.to`, with `params["subject"]` as
    /// the subject, or else the body's first line, shortened.
    pub async fn send(&self, message: &Outgoing<'_>) -> Result<Sent, SendError> {
        let to: Mailbox = message
            .to
            .parse()
            .map_err(|e| SendError::Permanent(format!("email: invalid recipient address: {e}")))?;
        let mail = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject(message))
            .header(ContentType::TEXT_PLAIN)
            .body(message.body.to_owned())
            .map_err(|e| SendError::Permanent(format!("email: {e}")))?;
        let response = tokio::time::timeout(SEND_TIMEOUT, self.transport.send(mail))
            .await
            .map_err(|_| SendError::Transient(format!("email: no answer within {SEND_TIMEOUT:?}")))?
            .map_err(classify)?;
        Ok(Sent {
            provider_ref: format!(
                "{} {}",
                response.code(),
                response.message().collect::<Vec<_>>().join(" ")
            ),
        })
    }
}

/// A 5xx reply refuses this message for good (unknown mailbox, rejected content); a 4xx reply,
/// a refused or broken connection, a timeout or a TLS failure may all pass later.
fn classify(error: lettre::transport::smtp::Error) -> SendError {
    let text = format!("email: {}", error_chain(&error));
    if error.is_permanent() {
        SendError::Permanent(text)
    } else {
        SendError::Transient(text)
    }
}

fn subject(message: &Outgoing<'_>) -> String {
    if let Some(subject) = message.params.get("subject").and_then(|s| s.as_str()) {
        return subject.to_owned();
    }
    let first = message
        .body
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or_default();
    let short = truncate(first, SUBJECT_CHARS);
    if short.len() < first.len() {
        format!("{short}…")
    } else {
        short.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outgoing<'a>(params: &'a serde_json::Value, body: &'a str) -> Outgoing<'a> {
        Outgoing {
            id: 1,
            to: "a@example.com",
            template: "",
            params,
            body,
        }
    }

    #[test]
    fn subject_comes_from_params_or_the_first_line() {
        let params = json!({ "subject": "订单确认" });
        assert_eq!(subject(&outgoing(&params, "正文")), "订单确认");
        let none = json!({});
        assert_eq!(
            subject(&outgoing(&none, "\n有新订单P1，请尽快处理。\n第二行")),
            "有新订单P1，请尽快处理。"
        );
        let long = "长".repeat(100);
        assert_eq!(
            subject(&outgoing(&none, &long)),
            format!("{}…", "长".repeat(SUBJECT_CHARS))
        );
    }

    #[test]
    fn the_password_stays_out_of_debug() {
        let smtp = Smtp::new(SmtpConfig::new(
            "smtps://user:hunter2@mail.example.com:465",
            "Shop <shop@example.com>",
        ))
        .unwrap();
        let debug = format!("{smtp:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("mail.example.com"), "{debug}");
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(Smtp::new(SmtpConfig::new("smtp://127.0.0.1:25", "not an address")).is_err());
        assert!(Smtp::new(SmtpConfig::new("ftp://host", "a@example.com")).is_err());
    }
}
