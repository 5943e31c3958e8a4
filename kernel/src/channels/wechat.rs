//! WeChat mini-program subscription messages (`subscribeMessage.send`), sent with the app's
//! access token. The token is fetched with the app id and secret, kept in memory until shortly
//! before it expires, and fetched again when WeChat says it is no longer valid (another
//! process fetching a token with the same app id invalidates ours).

use std::time::Duration;

use age::secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{Outgoing, SendError, Sent, SetupError, error_chain, http_client, http_error};

/// WeChat's public API.
pub const DEFAULT_ENDPOINT: &str = "https://api.weixin.qq.com";

/// A token is dropped this long before WeChat says it expires (or a tenth of its life, if
/// shorter), so one is never sent in its last moments, or after them on a slow clock.
const EXPIRY_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Where and as which mini program to send.
#[derive(Debug, Clone)]
pub struct WechatConfig {
    /// The API base (`DEFAULT_ENDPOINT`, or a fake in tests); paths are appended to it.
    pub endpoint: reqwest::Url,
    /// The mini program's AppID.
    pub appid: String,
    /// Its AppSecret, used only to fetch access tokens.
    pub secret: SecretString,
}

impl WechatConfig {
    /// A configuration; the secret is wrapped at once, so it cannot be printed.
    pub fn new(
        endpoint: reqwest::Url,
        appid: impl Into<String>,
        secret: impl Into<String>,
    ) -> WechatConfig {
        WechatConfig {
            endpoint,
            appid: appid.into(),
            secret: SecretString::from(secret.into()),
        }
    }
}

/// The WeChat channel.
#[derive(Debug)]
pub struct Wechat {
    config: WechatConfig,
    http: reqwest::Client,
    /// The cached token. Held across a fetch, so concurrent senders wait for one fetch instead
    /// of each fetching (and so invalidating) another.
    token: Mutex<Option<Token>>,
}

#[derive(Debug, Clone)]
struct Token {
    value: SecretString,
    /// When to stop using it (WeChat's expiry less the margin).
    until: Instant,
}

/// WeChat's answer to either call: `errcode` 0 (or absent) is success.
#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    msgid: Option<Value>,
}

/// Tokens WeChat no longer accepts: invalid (40001, 40014) or expired (42001).
fn is_token_error(errcode: i64) -> bool {
    matches!(errcode, 40001 | 40014 | 42001)
}

impl Wechat {
    /// The adapter for `config`, with an empty token cache (the first send fetches one).
    pub fn new(config: WechatConfig) -> Result<Wechat, SetupError> {
        if config.endpoint.cannot_be_a_base() {
            return Err(SetupError::Invalid {
                what: "WeChat endpoint",
                reason: "not an http(s) URL".to_owned(),
            });
        }
        Ok(Wechat {
            config,
            http: http_client()?,
            token: Mutex::new(None),
        })
    }

    /// Sends one subscription message: `template` is the template id, `params` the template's
    /// fields (`{"thing1": "…"}`), sent as WeChat's `{"thing1": {"value": "…"}}`.
    pub async fn send(&self, message: &Outgoing<'_>) -> Result<Sent, SendError> {
        let payload = json!({
            "touser": message.to,
            "template_id": message.template,
            "data": data(message.params)?,
            "miniprogram_state": "formal",
            "lang": "zh_CN",
        });
        let token = self.token().await?;
        let reply = self.post_message(&token, &payload).await?;
        let reply = if is_token_error(reply.errcode) {
            // Someone else fetched a token (or ours lapsed early): one fresh token, one retry.
            self.forget(&token).await;
            let token = self.token().await?;
            self.post_message(&token, &payload).await?
        } else {
            reply
        };
        match reply.errcode {
            0 => Ok(Sent {
                provider_ref: reply
                    .msgid
                    .map(|id| match id {
                        Value::String(id) => id,
                        other => other.to_string(),
                    })
                    .unwrap_or_else(|| "ok".to_owned()),
            }),
            code => Err(classify(code, &reply.errmsg)),
        }
    }

    async fn post_message(&self, token: &Token, payload: &Value) -> Result<Reply, SendError> {
        let url = self.url(
            "cgi-bin/message/subscribe/send",
            &[("access_token", token.value.expose_secret())],
        );
        let response = self
            .http
            .post(url)
            .json(payload)
            .send()
            .await
            .map_err(|e| http_error("wechat", e))?;
        read_reply(response).await
    }

    /// The cached token, or a fresh one.
    async fn token(&self) -> Result<Token, SendError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| t.until > Instant::now()) {
            return Ok(token.clone());
        }
        let url = self.url(
            "cgi-bin/token",
            &[
                ("grant_type", "client_credential"),
                ("appid", &self.config.appid),
                ("secret", self.config.secret.expose_secret()),
            ],
        );
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| http_error("wechat token", e))?;
        let reply = read_reply(response).await?;
        // A token that cannot be had (even a refused app secret) fails every message alike and
        // is fixed once for all by whoever runs the shop: transient, so nothing is given up.
        let (Some(value), 0) = (reply.access_token, reply.errcode) else {
            *cached = None;
            return Err(SendError::Transient(format!(
                "wechat: no access token: {} {}",
                reply.errcode, reply.errmsg
            )));
        };
        let lifetime = Duration::from_secs(reply.expires_in.unwrap_or(7200));
        let token = Token {
            value: SecretString::from(value),
            until: Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN.min(lifetime / 10)),
        };
        *cached = Some(token.clone());
        Ok(token)
    }

    /// Drops `used` from the cache, unless another sender has already replaced it.
    async fn forget(&self, used: &Token) {
        let mut cached = self.token.lock().await;
        if cached
            .as_ref()
            .is_some_and(|t| t.value.expose_secret() == used.value.expose_secret())
        {
            *cached = None;
        }
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> reqwest::Url {
        let mut url = self.config.endpoint.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}/{path}"));
        url.query_pairs_mut().clear().extend_pairs(query);
        url
    }
}

async fn read_reply(response: reqwest::Response) -> Result<Reply, SendError> {
    let status = response.status();
    let text = response.text().await.map_err(|e| http_error("wechat", e))?;
    if !status.is_success() {
        return Err(super::status_error("wechat", status, &text));
    }
    serde_json::from_str(&text).map_err(|error| {
        SendError::Transient(format!(
            "wechat: unreadable answer: {}",
            error_chain(&error)
        ))
    })
}

/// WeChat's codes: the user has not subscribed (43101), the openid (40003) or template
/// (40037) is wrong, the data does not fit the template (47003) — permanent; system busy (-1)
/// and the rate limits (45009 daily, 45047/45011 per user) — worth another try; a token
/// refused again after a fresh fetch — transient too, the next try fetches another.
fn classify(errcode: i64, errmsg: &str) -> SendError {
    let text = format!("wechat: {errcode} {errmsg}");
    match errcode {
        -1 | 45009 | 45011 | 45047 => SendError::Transient(text),
        code if is_token_error(code) => SendError::Transient(text),
        _ => SendError::Permanent(text),
    }
}

/// The template data: each field's text wrapped as `{"value": …}`. Numbers are sent as their
/// text; anything else cannot fill a template field.
fn data(params: &Value) -> Result<Value, SendError> {
    let fields = match params {
        Value::Null => return Ok(Value::Object(Map::new())),
        Value::Object(fields) => fields,
        _ => {
            return Err(SendError::Permanent(
                "wechat: the template data must be a JSON object".to_owned(),
            ));
        }
    };
    let mut data = Map::new();
    for (key, value) in fields {
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            _ => {
                return Err(SendError::Permanent(format!(
                    "wechat: template field {key} is not a string"
                )));
            }
        };
        data.insert(key.clone(), json!({ "value": text }));
    }
    Ok(Value::Object(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_wraps_each_value() {
        let params = json!({ "character_string1": "P20240101", "amount2": 12 });
        assert_eq!(
            data(&params).unwrap(),
            json!({ "character_string1": { "value": "P20240101" }, "amount2": { "value": "12" } })
        );
        assert!(matches!(
            data(&json!({ "x": [1] })),
            Err(SendError::Permanent(_))
        ));
        assert!(matches!(data(&json!("x")), Err(SendError::Permanent(_))));
    }

    #[test]
    fn codes_are_classified() {
        for code in [-1, 45009] {
            assert!(matches!(classify(code, ""), SendError::Transient(_)));
        }
        for code in [43101, 40003, 40037, 47003] {
            assert!(matches!(classify(code, ""), SendError::Permanent(_)));
        }
    }

    #[test]
    fn urls_keep_the_endpoint_path_and_hide_nothing_else() {
        let wechat = Wechat::new(WechatConfig::new(
            "http://127.0.0.1:9/wx/".parse().unwrap(),
            "app",
            "s3cret",
        ))
        .unwrap();
        assert_eq!(
            wechat
                .url("cgi-bin/token", &[("appid", "app"), ("x", "a b")])
                .as_str(),
            "http://127.0.0.1:9/wx/cgi-bin/token?appid=app&x=a+b"
        );
        assert!(!format!("{wechat:?}").contains("s3cret"));
    }
}
