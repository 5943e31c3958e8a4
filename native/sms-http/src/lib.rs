//! An SMS adapter for Pifa built as a native library (REQUIREMENTS M6): each message is POSTed
//! as JSON `{"phone", "template", "params", "out_id"}` to `settings.endpoint` with
//! `Authorization: Bearer <settings.token>`. That is the shape SMS gateways here take (a
//! template code and its parameters, and the caller's id so a resend is not delivered twice);
//! a provider with its own SDK gets its own crate on the same ABI.
//!
//! ```toml
//! [[plugin]]
//! name = "sms-http"
//! kind = "native"
//! library = "native/libpifa_native_sms.so"
//! channel = "sms"
//! settings = { endpoint = "https://sms.example.com/v1/send", token = "…", timeout_ms = 10000 }
//! ```
//!
//! A 2xx answer is sent (the provider's reference is the answer's `"id"`), a 5xx, 408, 429 or
//! a network failure is worth retrying, any other answer is not.

use std::time::Duration;

use pifa_native_abi::{Description, Failure, Message, NativeAdapter, export_native_adapter};
use serde::Deserialize;

export_native_adapter!(SmsHttp);

/// The entry's `settings`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// The provider's send URL.
    endpoint: String,
    /// Sent as a bearer token; never echoed in errors.
    token: String,
    /// The whole exchange, from DNS to the answer's last byte.
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    10_000
}

/// One configured provider; `ureq::Agent` pools connections and is shared between threads.
pub struct SmsHttp {
    agent: ureq::Agent,
    endpoint: String,
    token: String,
}

impl NativeAdapter for SmsHttp {
    fn describe() -> Description {
        Description {
            name: "sms-http".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            channels: vec!["sms".to_owned()],
        }
    }

    fn init(settings: serde_json::Value) -> Result<SmsHttp, String> {
        let settings: Settings =
            serde_json::from_value(settings).map_err(|e| format!("settings: {e}"))?;
        check_endpoint(&settings.endpoint)?;
        if settings.token.trim().is_empty() {
            return Err("settings.token is empty".to_owned());
        }
        if settings.timeout_ms == 0 {
            return Err("settings.timeout_ms must be more than 0".to_owned());
        }
        let config = ureq::Agent::config_builder()
            // Every status is an answer to classify, not an error.
            .http_status_as_error(false)
            // A redirected POST is a misconfigured endpoint: say so rather than follow it.
            .max_redirects(0)
            .timeout_global(Some(Duration::from_millis(settings.timeout_ms)))
            .build();
        Ok(SmsHttp {
            agent: ureq::Agent::new_with_config(config),
            endpoint: settings.endpoint,
            token: settings.token,
        })
    }

    fn send(&self, message: &Message) -> Result<String, Failure> {
        let request = serde_json::json!({
            "phone": message.to,
            "template": message.template,
            "params": message.params,
            "out_id": message.id,
        });
        let mut response = self
            .agent
            .post(&self.endpoint)
            .header("Authorization", format!("Bearer {}", self.token))
            .send_json(&request)
            .map_err(|e| Failure::Transient(format!("{}: {e}", self.endpoint)))?;
        let status = response.status().as_u16();
        // An unreadable body still leaves the status to go by.
        let body = response.body_mut().read_to_string().unwrap_or_default();
        outcome(status, &body, message.id)
    }
}

/// `http://` or `https://` (the latter only when built with the `tls` feature).
fn check_endpoint(endpoint: &str) -> Result<(), String> {
    if endpoint.starts_with("https://") {
        if cfg!(feature = "tls") {
            return Ok(());
        }
        return Err(
            "settings.endpoint is https://, but this library was built without TLS (build it with `--features tls`)"
                .to_owned(),
        );
    }
    if endpoint.starts_with("http://") {
        return Ok(());
    }
    Err(format!(
        "settings.endpoint {endpoint:?} is not an http:// or https:// URL"
    ))
}

/// What a provider's answer means. The reference is the answer's `"id"` (a string or a number);
/// a provider that answers 2xx without one is taken at its word, referenced by our `out_id`.
fn outcome(status: u16, body: &str, out_id: i64) -> Result<String, Failure> {
    match status {
        200..=299 => {
            let id = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|answer| match answer.get("id") {
                    Some(serde_json::Value::String(id)) => Some(id.clone()),
                    Some(serde_json::Value::Number(id)) => Some(id.to_string()),
                    _ => None,
                });
            Ok(id.unwrap_or_else(|| out_id.to_string()))
        }
        408 | 429 | 500..=599 => Err(Failure::Transient(describe(status, body))),
        _ => Err(Failure::Permanent(describe(status, body))),
    }
}

/// `HTTP 400: {"error":"bad phone"}`, the body cut to a readable length.
fn describe(status: u16, body: &str) -> String {
    const SHOWN: usize = 200;
    let body = body.trim();
    let cut: String = body.chars().take(SHOWN).collect();
    let ellipsis = if body.chars().count() > SHOWN {
        "…"
    } else {
        ""
    };
    if cut.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {cut}{ellipsis}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sent_retried_or_given_up() {
        assert_eq!(outcome(200, r#"{"id":"sm-9"}"#, 7), Ok("sm-9".to_owned()));
        assert_eq!(outcome(201, r#"{"id":12}"#, 7), Ok("12".to_owned()));
        assert_eq!(outcome(204, "", 7), Ok("7".to_owned()));
        assert_eq!(
            outcome(503, "down", 7),
            Err(Failure::Transient("HTTP 503: down".to_owned()))
        );
        assert!(matches!(outcome(429, "", 7), Err(Failure::Transient(_))));
        assert_eq!(
            outcome(400, r#"{"error":"bad phone"}"#, 7),
            Err(Failure::Permanent(
                r#"HTTP 400: {"error":"bad phone"}"#.to_owned()
            ))
        );
        assert!(matches!(outcome(302, "", 7), Err(Failure::Permanent(_))));
        let long = "x".repeat(500);
        let Err(Failure::Permanent(reason)) = outcome(401, &long, 7) else {
            panic!("401 is permanent");
        };
        assert!(reason.ends_with('…') && reason.len() < 250, "{reason}");
    }

    #[test]
    fn settings_are_checked_naming_the_field() {
        let refused = |settings: serde_json::Value| SmsHttp::init(settings).err().unwrap();
        assert!(refused(serde_json::json!({ "token": "t" })).contains("endpoint"));
        assert!(
            refused(serde_json::json!({ "endpoint": "http://x", "token": "t", "colour": 1 }))
                .contains("colour")
        );
        assert!(
            refused(serde_json::json!({ "endpoint": "ftp://x", "token": "t" })).contains("ftp")
        );
        assert!(
            refused(serde_json::json!({ "endpoint": "http://x", "token": " " })).contains("token")
        );
        assert!(
            SmsHttp::init(
                serde_json::json!({ "endpoint": "http://127.0.0.1:1/send", "token": "t" })
            )
            .is_ok()
        );
    }
}
