//! Aliyun Dysmsapi `SendSms` (API version 2017-05-25): an RPC-style request, POSTed as a form,
//! signed with HMAC-SHA1 (signature version 1.0) over the sorted, percent-encoded parameters.

use age::secrecy::{ExposeSecret, SecretString};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use sha1::Sha1;

use super::{
    Outgoing, SendError, Sent, SetupError, error_chain, http_client, http_error, status_error,
};

/// Aliyun's public SMS endpoint (the same for every region).
pub const DEFAULT_ENDPOINT: &str = "https://dysmsapi.aliyuncs.com/";

const API_VERSION: &str = "2017-05-25";

/// Where and as whom to send SMS through Aliyun.
#[derive(Debug, Clone)]
pub struct AliyunSmsConfig {
    /// The API endpoint (`DEFAULT_ENDPOINT`, or a fake in tests).
    pub endpoint: reqwest::Url,
    /// The RAM user's AccessKey id, sent with every request.
    pub access_key_id: String,
    /// Its secret, which only ever keys the signature.
    pub access_key_secret: SecretString,
    /// The approved signature printed in 【】 before every text.
    pub sign_name: String,
}

impl AliyunSmsConfig {
    /// A configuration; the secret is wrapped at once, so it cannot be printed.
    pub fn new(
        endpoint: reqwest::Url,
        access_key_id: impl Into<String>,
        access_key_secret: impl Into<String>,
        sign_name: impl Into<String>,
    ) -> AliyunSmsConfig {
        AliyunSmsConfig {
            endpoint,
            access_key_id: access_key_id.into(),
            access_key_secret: SecretString::from(access_key_secret.into()),
            sign_name: sign_name.into(),
        }
    }
}

/// The SMS channel through Aliyun.
#[derive(Debug)]
pub struct AliyunSms {
    config: AliyunSmsConfig,
    http: reqwest::Client,
}

/// Aliyun's answer, success and error alike (an error has no `BizId`).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Reply {
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    biz_id: Option<String>,
}

impl AliyunSms {
    /// The adapter for `config`, with its own HTTP client (connections are reused).
    pub fn new(config: AliyunSmsConfig) -> Result<AliyunSms, SetupError> {
        Ok(AliyunSms {
            config,
            http: http_client()?,
        })
    }

    /// Sends one templated text. The outbox id is the `OutId`: Aliyun does not de-duplicate on
    /// it, but it comes back in the delivery receipts, so a resend after a crash can be told
    /// from a second message.
    pub async fn send(&self, message: &Outgoing<'_>) -> Result<Sent, SendError> {
        let template_param = template_param(message.params)?;
        // The real clock, not the kernel's `Clock`: Aliyun refuses a Timestamp more than 15
        // minutes from its own time, whatever a test clock says.
        let timestamp = timestamp(time::OffsetDateTime::now_utc());
        let nonce = format!("{:032x}", rand::random::<u128>());
        let out_id = message.id.to_string();
        let params = [
            ("AccessKeyId", self.config.access_key_id.as_str()),
            ("Action", "SendSms"),
            ("Format", "JSON"),
            ("OutId", out_id.as_str()),
            ("PhoneNumbers", message.to),
            ("RegionId", "cn-hangzhou"),
            ("SignName", self.config.sign_name.as_str()),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", nonce.as_str()),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", message.template),
            ("TemplateParam", template_param.as_str()),
            ("Timestamp", timestamp.as_str()),
            ("Version", API_VERSION),
        ];
        let query = canonical_query(&params);
        let signature = sign(
            "POST",
            &query,
            self.config.access_key_secret.expose_secret(),
        );
        let body = format!("{query}&Signature={}", percent_encode(&signature));

        let response = self
            .http
            .post(self.config.endpoint.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| http_error("aliyun sms", e))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| http_error("aliyun sms", e))?;
        // A 5xx is worth retrying whatever its body says; below that, Aliyun answers errors
        // (400, 403, 404) with the same JSON as successes, and its code decides.
        if status.is_server_error() {
            return Err(status_error("aliyun sms", status, &text));
        }
        let reply: Reply = match serde_json::from_str(&text) {
            Ok(reply) => reply,
            Err(error) if status.is_success() => {
                return Err(SendError::Transient(format!(
                    "aliyun sms: unreadable answer: {}",
                    error_chain(&error)
                )));
            }
            Err(_) => return Err(status_error("aliyun sms", status, &text)),
        };
        classify(reply)
    }
}

/// `TemplateParam`: a JSON object whose values are all strings (Aliyun refuses anything else
/// with `isv.INVALID_JSON_PARAM`), so numbers are sent as their text.
fn template_param(params: &serde_json::Value) -> Result<String, SendError> {
    use serde_json::Value;
    let fields = match params {
        Value::Null => return Ok("{}".to_owned()),
        Value::Object(fields) => fields,
        _ => {
            return Err(SendError::Permanent(
                "aliyun sms: TemplateParam must be a JSON object".to_owned(),
            ));
        }
    };
    let mut strings = serde_json::Map::new();
    for (key, value) in fields {
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            _ => {
                return Err(SendError::Permanent(format!(
                    "aliyun sms: TemplateParam {key} is not a string"
                )));
            }
        };
        strings.insert(key.clone(), Value::String(text));
    }
    Ok(Value::Object(strings).to_string())
}

fn classify(reply: Reply) -> Result<Sent, SendError> {
    if reply.code == "OK" {
        return Ok(Sent {
            provider_ref: reply.biz_id.unwrap_or_default(),
        });
    }
    let text = format!("aliyun sms: {}: {}", reply.code, reply.message);
    if is_transient_code(&reply.code) {
        Err(SendError::Transient(text))
    } else {
        Err(SendError::Permanent(text))
    }
}

/// Aliyun's codes that mean "not now" rather than "never": throttling (per number, per
/// account, per API), service trouble on their side, and an account out of credit or suspended
/// for it (every text fails alike until someone pays, then they all pass). Everything else
/// (`isv.*` refusals of the number, template or signature; unknown keys; bad signatures)
/// fails the same way again.
fn is_transient_code(code: &str) -> bool {
    code == "isv.BUSINESS_LIMIT_CONTROL"
        || code == "isv.DAY_LIMIT_CONTROL"
        || code == "isv.AMOUNT_NOT_ENOUGH"
        || code == "isv.OUT_OF_SERVICE"
        || code.starts_with("Throttling")
        || code == "ServiceUnavailable"
        || code == "InternalError"
        || code == "isp.SYSTEM_ERROR"
        || code == "SignatureNonceUsed"
}

/// The bytes Aliyun leaves as they are: RFC 3986's unreserved characters. Encoding everything
/// else byte by byte gives exactly Aliyun's rule (space → `%20`, `*` → `%2A`, `~` kept).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Aliyun's `percentEncode`: UTF-8, then every byte outside `A-Za-z0-9-_.~` as `%XX`.
pub fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

/// The canonicalized query string: `key=value` pairs, each side percent-encoded, sorted by
/// key, joined with `&`. It is also the request body, so what is sent is what was signed.
pub fn canonical_query(params: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(key, value)| (percent_encode(key), percent_encode(value)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The signature of a request whose canonicalized query is `query`:
/// `base64(HMAC-SHA1(secret + "&", METHOD & percentEncode("/") & percentEncode(query)))`.
pub fn sign(method: &str, query: &str, access_key_secret: &str) -> String {
    let string_to_sign = format!("{method}&{}&{}", percent_encode("/"), percent_encode(query));
    let key = format!("{access_key_secret}&");
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `YYYY-MM-DDThh:mm:ssZ` in UTC, the only form Aliyun accepts (no fraction).
fn timestamp(now: time::OffsetDateTime) -> String {
    let now = now.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_follows_aliyun() {
        assert_eq!(percent_encode("a b*c~d"), "a%20b%2Ac~d");
        assert_eq!(percent_encode("A-Z_a.z~09"), "A-Z_a.z~09");
        assert_eq!(percent_encode("/"), "%2F");
        assert_eq!(percent_encode("+=&:"), "%2B%3D%26%3A");
        assert_eq!(percent_encode("阿里"), "%E9%98%BF%E9%87%8C");
        assert_eq!(
            percent_encode(r#"{"customer":"test"}"#),
            "%7B%22customer%22%3A%22test%22%7D"
        );
    }

    /// Aliyun's documented example of the RPC signature (ECS `DescribeRegions`, secret
    /// `testsecret`): the StringToSign and the signature they publish.
    #[test]
    fn signature_matches_the_documented_ecs_example() {
        let params = [
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Format", "XML"),
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("Version", "2014-05-26"),
            ("SignatureVersion", "1.0"),
        ];
        let query = canonical_query(&params);
        assert_eq!(
            format!("GET&%2F&{}", percent_encode(&query)),
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(
            sign("GET", &query, "testsecret"),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }

    /// The SMS documentation's own example: a Chinese sign name and a JSON TemplateParam, the
    /// two places where encoding mistakes hide.
    #[test]
    fn signature_matches_the_documented_send_sms_example() {
        let params = [
            ("AccessKeyId", "testId"),
            ("Action", "SendSms"),
            ("Format", "XML"),
            ("OutId", "123"),
            ("PhoneNumbers", "15300000001"),
            ("RegionId", "cn-hangzhou"),
            ("SignName", "阿里云短信测试专用"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", "SMS_71390007"),
            ("TemplateParam", r#"{"customer":"test"}"#),
            ("Timestamp", "2017-07-12T02:42:19Z"),
            ("Version", "2017-05-25"),
        ];
        let query = canonical_query(&params);
        assert_eq!(
            sign("GET", &query, "testSecret"),
            "zJDF+Lrzhj/ThnlvIToysFRq6t4="
        );
        // POST signs the same query under another method name.
        assert_ne!(
            sign("POST", &query, "testSecret"),
            "zJDF+Lrzhj/ThnlvIToysFRq6t4="
        );
    }

    #[test]
    fn template_params_are_strings() {
        use serde_json::json;
        assert_eq!(
            template_param(&json!({ "order_no": "P1", "qty": 3 })).unwrap(),
            r#"{"order_no":"P1","qty":"3"}"#
        );
        assert_eq!(template_param(&json!(null)).unwrap(), "{}");
        assert!(matches!(
            template_param(&json!({ "x": {} })),
            Err(SendError::Permanent(_))
        ));
    }

    #[test]
    fn timestamp_has_no_fraction() {
        let t = time::OffsetDateTime::from_unix_timestamp(1_499_827_339)
            .unwrap()
            .replace_nanosecond(123_000_000)
            .unwrap();
        assert_eq!(timestamp(t), "2017-07-12T02:42:19Z");
    }

    #[test]
    fn codes_are_classified() {
        let reply = |code: &str| Reply {
            code: code.to_owned(),
            message: "m".to_owned(),
            biz_id: Some("biz".to_owned()),
        };
        assert!(
            matches!(classify(reply("OK")), Ok(Sent { provider_ref }) if provider_ref == "biz")
        );
        for code in [
            "isv.BUSINESS_LIMIT_CONTROL",
            "Throttling.User",
            "ServiceUnavailable",
        ] {
            assert!(
                matches!(classify(reply(code)), Err(SendError::Transient(_))),
                "{code}"
            );
        }
        for code in [
            "isv.MOBILE_NUMBER_ILLEGAL",
            "isv.SMS_TEMPLATE_ILLEGAL",
            "SignatureDoesNotMatch",
            "InvalidAccessKeyId.NotFound",
        ] {
            assert!(
                matches!(classify(reply(code)), Err(SendError::Permanent(_))),
                "{code}"
            );
        }
    }

    #[test]
    fn the_secret_stays_out_of_debug() {
        let config = AliyunSmsConfig::new(
            reqwest::Url::parse(DEFAULT_ENDPOINT).unwrap(),
            "id",
            "very-secret-key",
            "sign",
        );
        assert!(!format!("{config:?}").contains("very-secret-key"));
    }
}
