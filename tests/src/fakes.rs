//! Local fake providers for the delivery channels, each on 127.0.0.1 port 0: `FakeSms` (Aliyun
//! `SendSms`), `FakeWechat` (access token and subscription messages) and `FakeSmtp` (a minimal
//! SMTP server). They check requests the way the real providers do — the SMS fake recomputes
//! the signature with its own implementation, not the kernel's — answer with the providers'
//! error codes, record what they accepted for the test to read, and can be made to fail.
//!
//! Each fake stops when dropped.
#![expect(
    clippy::disallowed_types,
    reason = "the fakes answer in the providers' protocols, not in Pifa's error shape"
)]

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use mail_parser::MimeHeaders;
use pifa::channels::{AliyunSmsConfig, SmtpConfig, WechatConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// Aborts the server task when the fake is dropped.
struct Serving(JoinHandle<()>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn serve_http(router: Router) -> anyhow::Result<(SocketAddr, Serving)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        // The fake ends with its test; an accept error then is of no interest.
        let _ = axum::serve(listener, router).await;
    });
    Ok((addr, Serving(task)))
}

fn http_url(addr: SocketAddr) -> anyhow::Result<reqwest::Url> {
    Ok(reqwest::Url::parse(&format!("http://{addr}/"))?)
}

// ---------------------------------------------------------------------------------------------
// Aliyun SMS

/// One text the SMS fake accepted.
#[derive(Debug, Clone)]
pub struct ReceivedSms {
    pub phone_numbers: String,
    pub sign_name: String,
    pub template_code: String,
    pub template_param: Value,
    pub out_id: Option<String>,
    /// The HTTP method it came with (`POST` form or `GET` query; both are signed alike).
    pub method: String,
}

/// A fake Aliyun Dysmsapi endpoint.
pub struct FakeSms {
    addr: SocketAddr,
    state: Arc<SmsState>,
    _serving: Serving,
}

struct SmsState {
    down: AtomicBool,
    /// How long an accepted text waits before it is answered (a slow provider).
    answer_after_ms: AtomicU64,
    error: Mutex<Option<(String, String)>>,
    nonces: Mutex<HashSet<String>>,
    received: Mutex<Vec<ReceivedSms>>,
    requests: AtomicU64,
}

impl FakeSms {
    /// The access key the fake knows.
    pub const KEY_ID: &'static str = "fake-key-id";
    pub const KEY_SECRET: &'static str = "fake-key-secret";
    /// The one approved signature.
    pub const SIGN_NAME: &'static str = "批发商城";

    /// Listens on 127.0.0.1, on a port of its own.
    pub async fn start() -> anyhow::Result<FakeSms> {
        let state = Arc::new(SmsState {
            down: AtomicBool::new(false),
            answer_after_ms: AtomicU64::new(0),
            error: Mutex::new(None),
            nonces: Mutex::new(HashSet::new()),
            received: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
        });
        let router = Router::new()
            .route("/", any(sms_request))
            .with_state(state.clone());
        let (addr, serving) = serve_http(router).await?;
        Ok(FakeSms {
            addr,
            state,
            _serving: serving,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/`, the endpoint to configure.
    pub fn url(&self) -> anyhow::Result<reqwest::Url> {
        http_url(self.addr)
    }

    /// A kernel configuration with the right credentials, pointing here.
    pub fn config(&self) -> anyhow::Result<AliyunSmsConfig> {
        Ok(AliyunSmsConfig::new(
            self.url()?,
            Self::KEY_ID,
            Self::KEY_SECRET,
            Self::SIGN_NAME,
        ))
    }

    /// Every text accepted so far, in order. Nothing is de-duplicated: a resend appears twice,
    /// with the same `out_id`.
    pub async fn received(&self) -> Vec<ReceivedSms> {
        self.state.received.lock().await.clone()
    }

    /// Requests seen, refused ones included.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Answers each accepted text only `ms` after recording it: a sender killed meanwhile has
    /// delivered it without knowing so, and will send it again.
    pub fn set_answer_after(&self, ms: u64) {
        self.state.answer_after_ms.store(ms, Ordering::SeqCst);
    }

    /// While down, every request is answered `503 ServiceUnavailable` and nothing is recorded.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    /// Answers every valid request with this Aliyun error code (e.g.
    /// `isv.BUSINESS_LIMIT_CONTROL`) until cleared with `None`.
    pub async fn set_error(&self, error: Option<(&str, &str)>) {
        *self.state.error.lock().await = error.map(|(c, m)| (c.to_owned(), m.to_owned()));
    }
}

/// An Aliyun error answer: `isv.*` business errors come with HTTP 200, the rest with `status`.
struct Refusal {
    status: StatusCode,
    code: String,
    message: String,
}

fn aliyun_error(status: StatusCode, code: &str, message: &str) -> Refusal {
    Refusal {
        status: if code.starts_with("isv.") {
            StatusCode::OK
        } else {
            status
        },
        code: code.to_owned(),
        message: message.to_owned(),
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({
            "Code": self.code,
            "Message": self.message,
            "RequestId": format!("{:08X}-FAKE", rand::random::<u32>()),
            "Recommend": "https://next.api.aliyun.com/troubleshoot",
        });
        (self.status, Json(body)).into_response()
    }
}

async fn sms_request(
    State(state): State<Arc<SmsState>>,
    method: Method,
    axum::Form(pairs): axum::Form<Vec<(String, String)>>,
) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    if state.down.load(Ordering::SeqCst) {
        return aliyun_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
        )
        .into_response();
    }
    match check_sms(&state, method.as_str(), &pairs).await {
        Ok(received) => {
            if let Some((code, message)) = state.error.lock().await.clone() {
                return aliyun_error(StatusCode::BAD_REQUEST, &code, &message).into_response();
            }
            state.received.lock().await.push(received);
            let wait = state.answer_after_ms.load(Ordering::SeqCst);
            if wait > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            }
            let body = json!({
                "Code": "OK",
                "Message": "OK",
                "BizId": format!("{}^0", 900_000_000_000_000_000u64 + rand::random::<u32>() as u64),
                "RequestId": format!("{:08X}-FAKE", rand::random::<u32>()),
            });
            (StatusCode::OK, Json(body)).into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// Aliyun's checks, in its order: common parameters, the caller and its signature, then the
/// action's own parameters.
async fn check_sms(
    state: &SmsState,
    method: &str,
    pairs: &[(String, String)],
) -> Result<ReceivedSms, Refusal> {
    let params: BTreeMap<&str, &str> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let get = |name: &str| params.get(name).copied().filter(|v| !v.is_empty());
    let require = |name: &str| {
        get(name).ok_or_else(|| {
            aliyun_error(
                StatusCode::BAD_REQUEST,
                &format!("Missing{name}"),
                &format!("{name} is mandatory for this action."),
            )
        })
    };
    for name in [
        "AccessKeyId",
        "Action",
        "Format",
        "SignatureMethod",
        "SignatureNonce",
        "SignatureVersion",
        "Timestamp",
        "Version",
        "Signature",
    ] {
        require(name)?;
    }
    if get("Action") != Some("SendSms") {
        return Err(aliyun_error(
            StatusCode::NOT_FOUND,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        ));
    }
    if get("Version") != Some("2017-05-25") {
        return Err(aliyun_error(
            StatusCode::BAD_REQUEST,
            "InvalidVersion",
            "Specified parameter Version is not valid.",
        ));
    }
    if get("Format") != Some("JSON") {
        return Err(aliyun_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameter.Format",
            "This fake answers JSON only.",
        ));
    }
    if get("SignatureMethod") != Some("HMAC-SHA1") || get("SignatureVersion") != Some("1.0") {
        return Err(aliyun_error(
            StatusCode::BAD_REQUEST,
            "InvalidSignatureMethod",
            "Specified signature method or version is not supported.",
        ));
    }
    check_timestamp(require("Timestamp")?)?;
    if get("AccessKeyId") != Some(FakeSms::KEY_ID) {
        return Err(aliyun_error(
            StatusCode::NOT_FOUND,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        ));
    }
    let string_to_sign = fake_string_to_sign(method, pairs);
    let expected = fake_signature(&string_to_sign, FakeSms::KEY_SECRET);
    if get("Signature") != Some(expected.as_str()) {
        return Err(aliyun_error(
            StatusCode::BAD_REQUEST,
            "SignatureDoesNotMatch",
            &format!(
                "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
            ),
        ));
    }
    // Checked after the signature, as Aliyun does: only a signed request can burn a nonce.
    if !state
        .nonces
        .lock()
        .await
        .insert(require("SignatureNonce")?.to_owned())
    {
        return Err(aliyun_error(
            StatusCode::BAD_REQUEST,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ));
    }

    let phone_numbers = require("PhoneNumbers")?;
    let sign_name = require("SignName")?;
    let template_code = require("TemplateCode")?;
    if !phone_numbers.split(',').all(is_mainland_mobile) {
        return Err(aliyun_error(
            StatusCode::OK,
            "isv.MOBILE_NUMBER_ILLEGAL",
            "invalid mobile number",
        ));
    }
    if sign_name != FakeSms::SIGN_NAME {
        return Err(aliyun_error(
            StatusCode::OK,
            "isv.SMS_SIGNATURE_ILLEGAL",
            "该账号下找不到对应签名",
        ));
    }
    let template_ok = template_code
        .strip_prefix("SMS_")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !template_ok {
        return Err(aliyun_error(
            StatusCode::OK,
            "isv.SMS_TEMPLATE_ILLEGAL",
            "该账号下找不到对应模板",
        ));
    }
    let template_param = match get("TemplateParam") {
        None => Value::Null,
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(fields)) if fields.values().all(Value::is_string) => {
                Value::Object(fields)
            }
            _ => {
                return Err(aliyun_error(
                    StatusCode::OK,
                    "isv.INVALID_JSON_PARAM",
                    "JSON参数不合法，只接受字符串值",
                ));
            }
        },
    };
    Ok(ReceivedSms {
        phone_numbers: phone_numbers.to_owned(),
        sign_name: sign_name.to_owned(),
        template_code: template_code.to_owned(),
        template_param,
        out_id: get("OutId").map(str::to_owned),
        method: method.to_owned(),
    })
}

/// `YYYY-MM-DDThh:mm:ssZ`, within 15 minutes of now.
fn check_timestamp(timestamp: &str) -> Result<(), Refusal> {
    let parsed = (timestamp.len() == 20)
        .then(|| {
            time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339)
                .ok()
        })
        .flatten();
    let Some(parsed) = parsed else {
        return Err(aliyun_error(
            StatusCode::BAD_REQUEST,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        ));
    };
    if (time::OffsetDateTime::now_utc() - parsed).abs() > time::Duration::minutes(15) {
        return Err(aliyun_error(
            StatusCode::BAD_REQUEST,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        ));
    }
    Ok(())
}

fn is_mainland_mobile(number: &str) -> bool {
    let number = number
        .strip_prefix("+86")
        .or_else(|| number.strip_prefix("0086"))
        .unwrap_or(number);
    number.len() == 11 && number.starts_with('1') && number.bytes().all(|b| b.is_ascii_digit())
}

/// Aliyun's percent-encoding, written out byte by byte (the kernel uses a crate; the two must
/// agree for a signature to match).
fn fake_percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// StringToSign for the received parameters (all but `Signature`).
fn fake_string_to_sign(method: &str, pairs: &[(String, String)]) -> String {
    let mut encoded: Vec<String> = pairs
        .iter()
        .filter(|(key, _)| key != "Signature")
        .map(|(key, value)| {
            format!(
                "{}={}",
                fake_percent_encode(key),
                fake_percent_encode(value)
            )
        })
        .collect();
    encoded.sort();
    format!(
        "{method}&{}&{}",
        fake_percent_encode("/"),
        fake_percent_encode(&encoded.join("&"))
    )
}

fn fake_signature(string_to_sign: &str, secret: &str) -> String {
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes()) else {
        return String::new();
    };
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

// ---------------------------------------------------------------------------------------------
// WeChat

/// One subscription message the WeChat fake accepted.
#[derive(Debug, Clone)]
pub struct ReceivedWechat {
    pub touser: String,
    pub template_id: String,
    /// As sent: `{"key": {"value": "…"}}`.
    pub data: Value,
    pub miniprogram_state: Option<String>,
    pub lang: Option<String>,
    /// The access token it came with.
    pub access_token: String,
}

/// A fake WeChat API: `/cgi-bin/token` and `/cgi-bin/message/subscribe/send`.
pub struct FakeWechat {
    addr: SocketAddr,
    state: Arc<WechatState>,
    _serving: Serving,
}

struct WechatState {
    expires_in: AtomicU64,
    busy: AtomicBool,
    tokens: Mutex<Tokens>,
    refused: Mutex<HashSet<String>>,
    received: Mutex<Vec<ReceivedWechat>>,
    msgids: AtomicU64,
}

#[derive(Default)]
struct Tokens {
    /// Tokens fetched so far; the last one is the current one.
    issued: Vec<String>,
    /// When the current one expires.
    until: Option<Instant>,
}

impl FakeWechat {
    /// The app id and secret the fake knows.
    pub const APPID: &'static str = "wxfakeappid0001";
    pub const SECRET: &'static str = "fake-app-secret";

    /// Listens on 127.0.0.1, on a port of its own.
    pub async fn start() -> anyhow::Result<FakeWechat> {
        let state = Arc::new(WechatState {
            expires_in: AtomicU64::new(7200),
            busy: AtomicBool::new(false),
            tokens: Mutex::new(Tokens::default()),
            refused: Mutex::new(HashSet::new()),
            received: Mutex::new(Vec::new()),
            msgids: AtomicU64::new(3_000_000_000),
        });
        let router = Router::new()
            .route("/cgi-bin/token", get(wechat_token))
            .route("/cgi-bin/message/subscribe/send", post(wechat_send))
            .with_state(state.clone());
        let (addr, serving) = serve_http(router).await?;
        Ok(FakeWechat {
            addr,
            state,
            _serving: serving,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/`, the endpoint to configure.
    pub fn url(&self) -> anyhow::Result<reqwest::Url> {
        http_url(self.addr)
    }

    /// A kernel configuration with the right app id and secret, pointing here.
    pub fn config(&self) -> anyhow::Result<WechatConfig> {
        Ok(WechatConfig::new(self.url()?, Self::APPID, Self::SECRET))
    }

    /// Every message accepted so far, in order.
    pub async fn received(&self) -> Vec<ReceivedWechat> {
        self.state.received.lock().await.clone()
    }

    /// How many tokens were handed out.
    pub async fn token_fetches(&self) -> usize {
        self.state.tokens.lock().await.issued.len()
    }

    /// The `expires_in` of tokens handed out from now on, in seconds (7200 at start).
    pub fn set_expires_in(&self, seconds: u64) {
        self.state.expires_in.store(seconds, Ordering::SeqCst);
    }

    /// Expires the current token now: sends with it get 42001 until a new one is fetched.
    pub async fn expire_token(&self) {
        self.state.tokens.lock().await.until = Some(Instant::now());
    }

    /// This user has not subscribed (or declined): sends to him get 43101.
    pub async fn refuse(&self, openid: &str) {
        self.state.refused.lock().await.insert(openid.to_owned());
    }

    /// While busy, both endpoints answer errcode -1 ("system error").
    pub fn set_busy(&self, busy: bool) {
        self.state.busy.store(busy, Ordering::SeqCst);
    }
}

fn wechat_error(errcode: i64, errmsg: &str) -> Response {
    let rid = format!("{:x}-fake", rand::random::<u32>());
    Json(json!({ "errcode": errcode, "errmsg": format!("{errmsg} rid: {rid}") })).into_response()
}

async fn wechat_token(
    State(state): State<Arc<WechatState>>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    if state.busy.load(Ordering::SeqCst) {
        return wechat_error(-1, "system error");
    }
    let field = |name: &str| query.get(name).map(String::as_str);
    if field("grant_type") != Some("client_credential") {
        return wechat_error(40002, "invalid grant_type");
    }
    match (field("appid"), field("secret")) {
        (None, _) => return wechat_error(41002, "appid missing"),
        (_, None) => return wechat_error(41004, "appsecret missing"),
        (Some(appid), _) if appid != FakeWechat::APPID => {
            return wechat_error(40013, "invalid appid");
        }
        (_, Some(secret)) if secret != FakeWechat::SECRET => {
            return wechat_error(40125, "invalid appsecret");
        }
        _ => {}
    }
    let expires_in = state.expires_in.load(Ordering::SeqCst);
    let mut tokens = state.tokens.lock().await;
    let token = format!("fake-token-{}", tokens.issued.len() + 1);
    tokens.issued.push(token.clone());
    tokens.until = Some(Instant::now() + Duration::from_secs(expires_in));
    Json(json!({ "access_token": token, "expires_in": expires_in })).into_response()
}

async fn wechat_send(
    State(state): State<Arc<WechatState>>,
    Query(query): Query<BTreeMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let Some(token) = query.get("access_token").filter(|t| !t.is_empty()) else {
        return wechat_error(41001, "access_token missing");
    };
    {
        let tokens = state.tokens.lock().await;
        let current = tokens.issued.last() == Some(token)
            && tokens.until.is_some_and(|until| until > Instant::now());
        if !current {
            return if tokens.issued.contains(token) {
                wechat_error(42001, "access_token expired")
            } else {
                wechat_error(
                    40001,
                    "invalid credential, access_token is invalid or not latest",
                )
            };
        }
    }
    if state.busy.load(Ordering::SeqCst) {
        return wechat_error(-1, "system error");
    }
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return wechat_error(47001, "data format error");
    };
    let text = |name: &str| message.get(name).and_then(Value::as_str).map(str::to_owned);
    let Some(touser) = text("touser").filter(|t| !t.is_empty()) else {
        return wechat_error(40003, "invalid openid");
    };
    let Some(template_id) = text("template_id").filter(|t| !t.is_empty()) else {
        return wechat_error(40037, "invalid template_id");
    };
    let data = message.get("data").cloned().unwrap_or(Value::Null);
    let Some(fields) = data.as_object() else {
        return wechat_error(47003, "argument invalid! data invalid");
    };
    if let Some((key, _)) = fields
        .iter()
        .find(|(_, field)| !field.get("value").is_some_and(Value::is_string))
    {
        return wechat_error(
            47003,
            &format!("argument invalid! data.{key}.value invalid"),
        );
    }
    if state.refused.lock().await.contains(&touser) {
        return wechat_error(43101, "user refuse to accept the msg");
    }
    state.received.lock().await.push(ReceivedWechat {
        touser,
        template_id,
        data,
        miniprogram_state: text("miniprogram_state"),
        lang: text("lang"),
        access_token: token.clone(),
    });
    let msgid = state.msgids.fetch_add(1, Ordering::SeqCst);
    Json(json!({ "errcode": 0, "errmsg": "ok", "msgid": msgid })).into_response()
}

// ---------------------------------------------------------------------------------------------
// SMTP

/// One mail the SMTP fake accepted, with its text decoded.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The envelope: `MAIL FROM` and each `RCPT TO`, without the angle brackets.
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message as transmitted (dot-stuffing undone).
    pub raw: String,
    /// Decoded by `mail-parser` (RFC 2047 words, quoted-printable or base64 bodies).
    pub from: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub content_type: Option<String>,
}

/// A minimal SMTP server: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; no TLS, no AUTH.
pub struct FakeSmtp {
    addr: SocketAddr,
    state: Arc<SmtpState>,
    _serving: Serving,
}

struct SmtpState {
    busy: AtomicBool,
    rejected: Mutex<HashSet<String>>,
    received: Mutex<Vec<ReceivedMail>>,
    queued: AtomicU64,
}

impl FakeSmtp {
    /// Listens on 127.0.0.1, on a port of its own.
    pub async fn start() -> anyhow::Result<FakeSmtp> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SmtpState {
            busy: AtomicBool::new(false),
            rejected: Mutex::new(HashSet::new()),
            received: Mutex::new(Vec::new()),
            queued: AtomicU64::new(0),
        });
        let shared = state.clone();
        let task = tokio::spawn(async move {
            // The sessions live in the accept loop's set, so stopping the fake ends them too.
            let mut sessions = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            sessions.spawn(smtp_session(stream, shared.clone()));
                        }
                    }
                    Some(_) = sessions.join_next() => {}
                }
            }
        });
        Ok(FakeSmtp {
            addr,
            state,
            _serving: Serving(task),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `smtp://127.0.0.1:PORT` (plain SMTP).
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// A kernel configuration pointing here, sending as `from`.
    pub fn config(&self, from: &str) -> SmtpConfig {
        SmtpConfig::new(self.url(), from)
    }

    /// Every mail accepted so far, in order.
    pub async fn received(&self) -> Vec<ReceivedMail> {
        self.state.received.lock().await.clone()
    }

    /// `RCPT TO` this address gets `550 5.1.1` (unknown user).
    pub async fn reject_recipient(&self, address: &str) {
        self.state
            .rejected
            .lock()
            .await
            .insert(address.to_ascii_lowercase());
    }

    /// While busy, a connection is greeted with `421 4.3.2` and closed.
    pub fn set_busy(&self, busy: bool) {
        self.state.busy.store(busy, Ordering::SeqCst);
    }
}

/// One SMTP session; an I/O error simply ends it.
async fn smtp_session(stream: TcpStream, state: Arc<SmtpState>) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    if state.busy.load(Ordering::SeqCst) {
        write
            .write_all(b"421 4.3.2 fake-smtp Service not available, try again later\r\n")
            .await?;
        return Ok(());
    }
    write.write_all(b"220 fake-smtp ESMTP ready\r\n").await?;
    let mut greeted = false;
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_owned();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => {
                greeted = true;
                "250-fake-smtp\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760".to_owned()
            }
            "HELO" => {
                greeted = true;
                "250 fake-smtp".to_owned()
            }
            "MAIL" if !greeted => "503 5.5.1 Error: send HELO/EHLO first".to_owned(),
            "MAIL" => match angle_address(&command, "MAIL FROM:") {
                Some(address) => {
                    mail_from = Some(address);
                    rcpt_to.clear();
                    "250 2.1.0 Ok".to_owned()
                }
                None => "501 5.5.4 Syntax: MAIL FROM:<address>".to_owned(),
            },
            "RCPT" if mail_from.is_none() => "503 5.5.1 Error: need MAIL command".to_owned(),
            "RCPT" => match angle_address(&command, "RCPT TO:") {
                Some(address)
                    if state
                        .rejected
                        .lock()
                        .await
                        .contains(&address.to_ascii_lowercase()) =>
                {
                    format!(
                        "550 5.1.1 <{address}>: Recipient address rejected: User unknown in local recipient table"
                    )
                }
                Some(address) => {
                    rcpt_to.push(address);
                    "250 2.1.5 Ok".to_owned()
                }
                None => "501 5.5.4 Syntax: RCPT TO:<address>".to_owned(),
            },
            "DATA" if rcpt_to.is_empty() => "503 5.5.1 Error: need RCPT command".to_owned(),
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let raw = read_data(&mut read).await?;
                let queued = state.queued.fetch_add(1, Ordering::SeqCst) + 1;
                state.received.lock().await.push(decode_mail(
                    mail_from.take().unwrap_or_default(),
                    std::mem::take(&mut rcpt_to),
                    raw,
                ));
                format!("250 2.0.0 Ok: queued as FAKE{queued:06}")
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                "250 2.0.0 Ok".to_owned()
            }
            "NOOP" => "250 2.0.0 Ok".to_owned(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 Error: command not recognized".to_owned(),
        };
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}

/// The address in `MAIL FROM:<a@b> BODY=8BITMIME`, after `prefix` (case-insensitive).
fn angle_address(command: &str, prefix: &str) -> Option<String> {
    let head = command.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = command.get(prefix.len()..)?.trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    inner.get(..end).map(str::to_owned)
}

/// Reads the DATA section up to the lone `.`, undoing dot-stuffing.
async fn read_data(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> anyhow::Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            anyhow::bail!("connection closed inside DATA");
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(raw);
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        raw.extend_from_slice(unstuffed);
    }
}

fn decode_mail(mail_from: String, rcpt_to: Vec<String>, raw: Vec<u8>) -> ReceivedMail {
    let parsed = mail_parser::MessageParser::default().parse(&raw);
    let (from, subject, body, content_type) = match &parsed {
        Some(message) => (
            message
                .from()
                .and_then(|from| from.first())
                .and_then(|addr| addr.address())
                .map(str::to_owned),
            message.subject().map(str::to_owned),
            message.body_text(0).map(|body| body.into_owned()),
            message.content_type().map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{sub}", ct.ctype()),
                None => ct.ctype().to_owned(),
            }),
        ),
        None => (None, None, None, None),
    };
    ReceivedMail {
        mail_from,
        rcpt_to,
        raw: String::from_utf8_lossy(&raw).into_owned(),
        from,
        subject,
        body,
        content_type,
    }
}

/// A port on 127.0.0.1 with nothing listening: connections to it are refused.
pub async fn closed_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr().context("a free port")?;
    drop(listener);
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fake's own signing against Aliyun's documented example, so it is not merely agreeing
    /// with the kernel.
    #[test]
    fn fake_signature_matches_the_documented_example() {
        let pairs: Vec<(String, String)> = [
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Format", "XML"),
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("Version", "2014-05-26"),
            ("SignatureVersion", "1.0"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let string_to_sign = fake_string_to_sign("GET", &pairs);
        assert_eq!(
            fake_signature(&string_to_sign, "testsecret"),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }

    #[test]
    fn envelope_addresses_are_read() {
        assert_eq!(
            angle_address("MAIL FROM:<a@b.cn> BODY=8BITMIME", "MAIL FROM:").as_deref(),
            Some("a@b.cn")
        );
        assert_eq!(
            angle_address("rcpt to: <c@d.cn>", "RCPT TO:").as_deref(),
            Some("c@d.cn")
        );
        assert_eq!(angle_address("RCPT TO:c@d.cn", "RCPT TO:"), None);
    }
}
