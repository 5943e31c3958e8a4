//! The outside delivery channels (K1, K2's second half): one adapter per provider that hands a
//! single stored message over and says whether the provider took it, refused it for good, or
//! could not be reached. Nothing here reads or writes the outbox, retries or waits: the
//! dispatcher does, and it decides from `SendError` whether a message is worth another try.
//!
//! - `aliyun_sms`: Aliyun Dysmsapi `SendSms` (RPC style, HMAC-SHA1 signature v1);
//! - `wechat`: WeChat subscription messages, with the access token cached in memory;
//! - `smtp`: e-mail over SMTP (lettre; plain, STARTTLS or implicit TLS).
//!
//! Every request has a deadline (`REQUEST_TIMEOUT`), so a provider that hangs is a transient
//! failure rather than a sender stuck for ever. Secrets (keys, app secrets, SMTP passwords,
//! access tokens) are held as `SecretString` and never reach `Debug` output, errors or logs.

pub mod aliyun_sms;
pub mod smtp;
pub mod wechat;

use std::time::Duration;

use anyhow::Context;

pub use aliyun_sms::{AliyunSms, AliyunSmsConfig};
pub use smtp::{Smtp, SmtpConfig};
pub use wechat::{Wechat, WechatConfig};

/// Where a message goes: a provider (SMS, e-mail, WeChat) or the member's inbox in the shop.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Email,
    Wechat,
    Inbox,
}

impl Channel {
    pub const ALL: [Channel; 4] = [
        Channel::Inbox,
        Channel::Sms,
        Channel::Wechat,
        Channel::Email,
    ];

    /// The channel a stored or scripted name (`as_str`) means.
    pub fn from_name(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Wechat => "wechat",
            Channel::Inbox => "inbox",
        }
    }
}

/// How long one request to a provider may take, connecting included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One message to hand to a provider.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The outbox message id. It is the SMS `OutId`, so a message sent again after a crash
    /// carries the same `OutId` and the provider (or whoever reads its receipts) can tell.
    pub id: i64,
    /// A phone number (SMS), a WeChat openid (WeChat) or an e-mail address (email).
    pub to: &'a str,
    /// The SMS `TemplateCode` or the WeChat `template_id`; unused for email.
    pub template: &'a str,
    /// The SMS `TemplateParam` or the WeChat `data` (an object of string values); for email it
    /// may hold `"subject"`.
    pub params: &'a serde_json::Value,
    /// The rendered text (the email body).
    pub body: &'a str,
}

/// Why a provider did not take a message.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later: network error, timeout, HTTP 5xx, throttling, expired token that
    /// could not be refreshed.
    #[error("{0}")]
    Transient(String),
    /// The provider refused this message for good (bad template, invalid number...): retrying
    /// cannot help.
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    /// Whether the dispatcher should try again later.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }
}

/// A message the provider accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The provider's reference: Aliyun's `BizId`, WeChat's `msgid`, the SMTP server's reply
    /// (usually naming its queue id).
    pub provider_ref: String,
}

/// A provider adapter could not be set up from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A setting is malformed (`what` names it; the reason never quotes a secret).
    #[error("{what}: {reason}")]
    Invalid {
        /// The setting.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built (TLS initialisation).
    #[error("building the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}

/// The configured provider of each outside channel. The inbox needs none: it is ours.
#[derive(Debug, Default)]
pub struct Providers {
    /// SMS (`Channel::Sms`).
    pub sms: Option<AliyunSms>,
    /// WeChat subscription messages (`Channel::Wechat`).
    pub wechat: Option<Wechat>,
    /// E-mail (`Channel::Email`).
    pub email: Option<Smtp>,
}

impl Providers {
    /// Reads the provider settings from the environment; a channel whose variables are unset
    /// has no provider. A channel set up halfway (a key id without its secret) is an error, so
    /// a typo stops the start instead of silently leaving messages unsent.
    ///
    /// - SMS: `PIFA_SMS_KEY_ID`, `PIFA_SMS_KEY_SECRET`, `PIFA_SMS_SIGN_NAME`, and `PIFA_SMS_URL`
    ///   (default `https://dysmsapi.aliyuncs.com/`);
    /// - WeChat: `PIFA_WECHAT_APPID`, `PIFA_WECHAT_SECRET`, and `PIFA_WECHAT_URL` (default
    ///   `https://api.weixin.qq.com`);
    /// - email: `PIFA_SMTP_URL` (`smtps://user:pass@host:465`, `smtp://host:587?tls=required`)
    ///   and `PIFA_SMTP_FROM` (`Shop <noreply@example.com>`).
    pub fn from_env() -> anyhow::Result<Providers> {
        let sms = match required(&[
            "PIFA_SMS_KEY_ID",
            "PIFA_SMS_KEY_SECRET",
            "PIFA_SMS_SIGN_NAME",
        ])? {
            Some([key_id, key_secret, sign_name]) => {
                let endpoint = env_url("PIFA_SMS_URL", aliyun_sms::DEFAULT_ENDPOINT)?;
                let config = AliyunSmsConfig::new(endpoint, key_id, key_secret, sign_name);
                Some(AliyunSms::new(config).context("SMS provider (PIFA_SMS_*)")?)
            }
            None => None,
        };
        let wechat = match required(&["PIFA_WECHAT_APPID", "PIFA_WECHAT_SECRET"])? {
            Some([appid, secret]) => {
                let endpoint = env_url("PIFA_WECHAT_URL", wechat::DEFAULT_ENDPOINT)?;
                let config = WechatConfig::new(endpoint, appid, secret);
                Some(Wechat::new(config).context("WeChat provider (PIFA_WECHAT_*)")?)
            }
            None => None,
        };
        let email = match required(&["PIFA_SMTP_URL", "PIFA_SMTP_FROM"])? {
            Some([url, from]) => {
                let config = SmtpConfig::new(url, from);
                Some(Smtp::new(config).context("email provider (PIFA_SMTP_*)")?)
            }
            None => None,
        };
        Ok(Providers { sms, wechat, email })
    }

    /// No provider at all (the demo, and tests that do not deliver).
    pub fn none() -> Providers {
        Providers::default()
    }

    /// Whether `channel` has a provider to send through. The inbox never has one: its messages
    /// are delivered as they are stored.
    pub fn has(&self, channel: Channel) -> bool {
        match channel {
            Channel::Sms => self.sms.is_some(),
            Channel::Wechat => self.wechat.is_some(),
            Channel::Email => self.email.is_some(),
            Channel::Inbox => false,
        }
    }

    /// Hands `message` to `channel`'s provider. A channel without one (see `has`, which the
    /// dispatcher asks first) is a permanent failure: no retry will conjure a provider.
    pub async fn send(&self, channel: Channel, message: &Outgoing<'_>) -> Result<Sent, SendError> {
        match channel {
            Channel::Sms => match &self.sms {
                Some(sms) => sms.send(message).await,
                None => Err(no_provider(channel)),
            },
            Channel::Wechat => match &self.wechat {
                Some(wechat) => wechat.send(message).await,
                None => Err(no_provider(channel)),
            },
            Channel::Email => match &self.email {
                Some(email) => email.send(message).await,
                None => Err(no_provider(channel)),
            },
            Channel::Inbox => Err(no_provider(channel)),
        }
    }
}

fn no_provider(channel: Channel) -> SendError {
    SendError::Permanent(format!(
        "no provider is configured for {}",
        channel.as_str()
    ))
}

/// The values of `names`, all or none: `None` when every one is unset or empty, an error
/// naming the missing ones when only some are set.
fn required<const N: usize>(names: &[&'static str; N]) -> anyhow::Result<Option<[String; N]>> {
    let values = names.map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
    if values.iter().all(Option::is_none) {
        return Ok(None);
    }
    let missing: Vec<&str> = names
        .iter()
        .zip(&values)
        .filter(|(_, value)| value.is_none())
        .map(|(name, _)| *name)
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "{} set without {}",
            names
                .iter()
                .zip(&values)
                .filter(|(_, value)| value.is_some())
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", "),
            missing.join(", ")
        );
    }
    Ok(Some(values.map(Option::unwrap_or_default)))
}

fn env_url(name: &str, default: &str) -> anyhow::Result<reqwest::Url> {
    let value = std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned());
    reqwest::Url::parse(&value).with_context(|| format!("{name} is not a URL: {value}"))
}

/// The HTTP client the HTTP providers share the settings of: a deadline on every request and
/// rustls (ring) for https.
fn http_client() -> Result<reqwest::Client, SetupError> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("pifa/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(SetupError::Http)
}

/// Classifies a failed HTTP exchange. The URL is dropped from the message: WeChat's carry the
/// app secret or the access token in their query.
fn http_error(provider: &str, error: reqwest::Error) -> SendError {
    let error = error.without_url();
    if error.is_timeout() {
        SendError::Transient(format!("{provider}: no answer within {REQUEST_TIMEOUT:?}"))
    } else {
        SendError::Transient(format!("{provider}: {}", error_chain(&error)))
    }
}

/// An error and its sources on one line (reqwest's top message alone says only "error sending
/// request").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// An HTTP status the provider answered with, outside its JSON protocol: 5xx and 429 are worth
/// retrying, any other status is the request's fault.
fn status_error(provider: &str, status: reqwest::StatusCode, body: &str) -> SendError {
    let text = format!("{provider}: HTTP {status}: {}", truncate(body, 200));
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        SendError::Transient(text)
    } else {
        SendError::Permanent(text)
    }
}

/// At most `max` characters of `text`.
fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => text.get(..end).unwrap_or(text),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_counts_characters_not_bytes() {
        assert_eq!(truncate("有新订单", 2), "有新");
        assert_eq!(truncate("ok", 5), "ok");
    }

    #[test]
    fn no_provider_is_permanent_and_inbox_never_has_one() {
        let providers = Providers::none();
        for channel in [
            Channel::Sms,
            Channel::Wechat,
            Channel::Email,
            Channel::Inbox,
        ] {
            assert!(!providers.has(channel));
        }
    }
}
