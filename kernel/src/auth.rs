//! Sign-up, sign-in, codes, password reset, sign-out and the caller's profile (A4, A6).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::caller::presented_token;
use crate::accounts::codes::{CODE_TTL_MS, CodePurpose, CodeRefusal};
use crate::accounts::passwords::Hasher;
use crate::accounts::permissions::Actor;
use crate::accounts::rate_limit::{
    Backoff, CODE_GUESS_BACKOFF, CODE_PER_IP_HOUR, CODE_PER_TARGET_DAY, CODE_PER_TARGET_MINUTE,
    GUESSES_PER_IP, Limited, PASSWORD_BACKOFF, PASSWORD_FAILURES_PER_ACCOUNT, SIGNUP_PER_IP_HOUR,
    SIGNUP_PER_PHONE_HOUR, Taken,
};
use crate::accounts::sessions::{ClientInfo, SESSION_COOKIE, SessionKind};
use crate::accounts::users::{NewUser, User};
use crate::accounts::{Email, MemberState, Password, Phone, Role, parse_name};
use crate::channels::Channel;
use crate::clock::rfc3339;
use crate::edge::json::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::notify::OutgoingMessage;
use crate::shop::Shop;
use crate::store::StoreError;

/// Ask for a verification code by SMS (`phone`) or e-mail (`email`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    pub purpose: CodePurpose,
    pub phone: Option<String>,
    pub email: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CodeSent {
    /// Where the code went, masked (`138****8000`).
    pub sent_to: String,
    pub expires_in_secs: i64,
    pub resend_after_secs: i64,
}

/// Where a code goes: an SMS to a phone or an e-mail.
enum CodeTarget {
    Phone(Phone),
    Email(Email),
}

impl CodeTarget {
    fn key(&self) -> String {
        match self {
            CodeTarget::Phone(p) => format!("phone:{}", p.as_str()),
            CodeTarget::Email(e) => format!("email:{}", e.as_str()),
        }
    }

    fn masked(&self) -> String {
        match self {
            CodeTarget::Phone(p) => p.masked(),
            CodeTarget::Email(e) => {
                let (local, domain) = e.as_str().split_once('@').unwrap_or((e.as_str(), ""));
                format!("{}***@{domain}", local.chars().next().unwrap_or('*'))
            }
        }
    }

    fn parse(phone: Option<&str>, email: Option<&str>) -> ApiResult<CodeTarget> {
        match (phone, email) {
            (Some(phone), None) => Ok(CodeTarget::Phone(Phone::parse(phone)?)),
            (None, Some(email)) => Ok(CodeTarget::Email(Email::parse(email)?)),
            _ => Err(ApiError::invalid_field(
                "invalid_input",
                "phone",
                "请填写手机号或邮箱之一 (give exactly one of phone or email)",
            )),
        }
    }

    async fn owner(&self, app: &Shop) -> Result<Option<i64>, StoreError> {
        match self {
            CodeTarget::Phone(p) => app.store.accounts().user_id_by_phone(p.as_str()).await,
            CodeTarget::Email(e) => app.store.accounts().user_id_by_email(e.as_str()).await,
        }
    }
}

/// Send a 6-digit code, valid 10 minutes. The code is never in the response: it goes out as a
/// message (in the demo, with no SMS provider, staff read it in the message list).
///
/// The answer does not depend on whether the phone or e-mail is registered, and the limits
/// are counted before anything that does: a sign-up code for a registered target sends its
/// owner a notice instead (so he learns someone tried, and that he can sign in), a sign-in or
/// reset code for an unknown one sends nothing. Both answer 202 like any other.
#[utoipa::path(post, path = "/auth/codes", tag = "auth", request_body = CodeRequest,
    responses(
        (status = 202, body = CodeSent),
        (status = 422, description = "`invalid_input`, `invalid_phone`, `invalid_email`", body = crate::error::ErrorBody),
        (status = 429, description = "`rate_limited`", body = crate::error::ErrorBody)))]
pub async fn send_code(
    State(app): State<Shop>,
    client: ClientInfo,
    ApiJson(req): ApiJson<CodeRequest>,
) -> ApiResult<(StatusCode, Json<CodeSent>)> {
    let target = CodeTarget::parse(req.phone.as_deref(), req.email.as_deref())?;
    if req.purpose == CodePurpose::Login && !matches!(target, CodeTarget::Phone(_)) {
        return Err(ApiError::invalid_field(
            "invalid_input",
            "phone",
            "验证码登录需使用手机号 (code sign-in needs a phone)",
        ));
    }
    let now = app.clock.now_ms();
    let key = target.key();
    app.store
        .accounts()
        .rate_hit(CODE_PER_IP_HOUR, &client.source(), now, "rate_limited")
        .await?;
    app.store
        .accounts()
        .rate_hit(CODE_PER_TARGET_MINUTE, &key, now, "rate_limited")
        .await?;
    app.store
        .accounts()
        .rate_hit(CODE_PER_TARGET_DAY, &key, now, "rate_limited")
        .await?;
    let owner = target.owner(&app).await?;
    let (channel, recipient) = match &target {
        CodeTarget::Phone(p) => (Channel::Sms, p.as_str().to_owned()),
        CodeTarget::Email(e) => (Channel::Email, e.as_str().to_owned()),
    };
    let message = match (req.purpose, owner) {
        (CodePurpose::Signup, Some(owner)) => Some(OutgoingMessage {
            channel,
            recipient,
            user_id: Some(owner),
            template: "signup_registered".to_owned(),
            params: serde_json::json!({}),
            body: registered_notice(&target),
            event_id: None,
        }),
        (CodePurpose::Signup, None) | (_, Some(_)) => {
            let code = crate::accounts::codes::random_code();
            app.store
                .accounts()
                .insert_code(&key, req.purpose, &code, now)
                .await?;
            Some(OutgoingMessage {
                channel,
                recipient,
                user_id: owner,
                template: format!("verification_code.{}", req.purpose.as_str()),
                params: serde_json::json!({ "code": code, "minutes": 10 }),
                body: req.purpose.message(&code),
                event_id: None,
            })
        }
        (_, None) => None,
    };
    if let Some(message) = message {
        app.store.messages().enqueue_message(&message, now).await?;
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(CodeSent {
            sent_to: target.masked(),
            expires_in_secs: CODE_TTL_MS / 1000,
            resend_after_secs: CODE_PER_TARGET_MINUTE.window_secs,
        }),
    ))
}

/// What the owner of a registered phone or e-mail receives when someone asks for a sign-up
/// code for it.
fn registered_notice(target: &CodeTarget) -> String {
    match target {
        CodeTarget::Phone(_) => {
            "您的手机号已注册，请直接登录；忘记密码可用验证码重置。如非本人操作，请忽略本短信。"
                .to_owned()
        }
        CodeTarget::Email(_) => {
            "您的邮箱已注册，请直接登录；忘记密码可用验证码重置。如非本人操作，请忽略本邮件。"
                .to_owned()
        }
    }
}

fn taken_error(target: &CodeTarget) -> ApiError {
    match target {
        CodeTarget::Phone(_) => ApiError::conflict(
            "phone_taken",
            "phone",
            "该手机号已注册，请直接登录 (phone: already registered)",
        ),
        CodeTarget::Email(_) => ApiError::conflict(
            "email_taken",
            "email",
            "该邮箱已注册 (email: already registered)",
        ),
    }
}

/// How long an address an account signed in from stays one it may sign in from by password
/// while strangers have the account over `PASSWORD_FAILURES_PER_ACCOUNT`.
const KNOWN_ADDRESS_MS: i64 = 30 * 86_400_000;

/// One guess at a secret (a password or a code), counted before the secret is checked: one hit
/// against the source address (`GUESSES_PER_IP`, every account) and one attempt against the
/// account from that address (`backoff`). Counting first means concurrent guesses cannot all
/// slip past a limit before any of them fails.
///
/// Why per account *and address*: counting per account alone (as before issue 15) let anyone
/// lock the owner out with five wrong passwords. Keyed by the pair, a stranger's guesses slow
/// the stranger; the owner's address is untouched, and a success clears it.
struct Guess {
    address_hit: Taken,
    pair: String,
}

impl Guess {
    async fn begin(
        app: &Shop,
        client: &ClientInfo,
        account: &str,
        backoff: Backoff,
        now: i64,
    ) -> ApiResult<Guess> {
        let source = client.source();
        let address_hit = match app
            .store
            .accounts()
            .rate_take(GUESSES_PER_IP, &source, now)
            .await?
        {
            Ok(hit) => hit,
            Err(limited) => return Err(limited.refuse("too_many_attempts")),
        };
        let pair = format!("{account}|{source}");
        if let Err(limited) = app
            .store
            .accounts()
            .backoff_attempt(backoff, &pair, now)
            .await?
        {
            // Refused before any secret was checked: no guess was made from the address.
            app.store.accounts().rate_give_back(address_hit).await?;
            return Err(limited.refuse("too_many_attempts"));
        }
        Ok(Guess { address_hit, pair })
    }

    /// The secret was right: the guess was no failure, and the address is the owner's, whose
    /// own earlier slips (password or code) are forgiven.
    async fn succeeded(self, app: &Shop) -> ApiResult<()> {
        app.store
            .accounts()
            .rate_give_back(self.address_hit)
            .await?;
        app.store
            .accounts()
            .backoff_clear(PASSWORD_BACKOFF, &self.pair)
            .await?;
        app.store
            .accounts()
            .backoff_clear(CODE_GUESS_BACKOFF, &self.pair)
            .await?;
        Ok(())
    }
}

/// Verifies a code for `target` under the guessing limits. `exists` is false when no code can
/// be live (an unknown account): the answer is then a wrong code's, after the same limits.
///
/// There is no limit per target alone: it was the lock-out (a stranger's five wrong guesses
/// refused the owner's fresh code for an hour). Guessing a target stays bounded without it:
/// a code dies after `MAX_GUESSES_PER_CODE` wrong guesses and a target gets at most
/// `CODE_PER_TARGET_DAY` codes, so all addresses together have at most 50 guesses a day at a
/// million codes (each batch of five sending the owner an SMS), and any one address far
/// fewer (`CODE_GUESS_BACKOFF`). The owner, whose code a stranger may kill, asks for another.
async fn redeem(
    app: &Shop,
    client: &ClientInfo,
    target: &CodeTarget,
    purpose: CodePurpose,
    code: &str,
    exists: bool,
) -> ApiResult<()> {
    let now = app.clock.now_ms();
    let key = target.key();
    let guess = Guess::begin(app, client, &key, CODE_GUESS_BACKOFF, now).await?;
    let outcome = if exists {
        app.store
            .accounts()
            .redeem_code(&key, purpose, code, now)
            .await?
    } else {
        Err(CodeRefusal::Wrong)
    };
    match outcome {
        Ok(()) => guess.succeeded(app).await,
        Err(refusal) => Err(refusal.into_api()),
    }
}

/// Checks a password under the guessing limits (see `Guess`), and, beyond them, the
/// account-wide limit against guessing spread over many addresses: past it the password is
/// refused to every address the account has not signed in from lately, while codes (sent to
/// the owner's phone, which strangers do not hold) keep working.
async fn check_password(
    app: &Shop,
    hasher: &Hasher,
    client: &ClientInfo,
    account: &str,
    credentials: Option<&crate::accounts::users::Credentials>,
    password: &str,
    now: i64,
) -> ApiResult<()> {
    if let Some(limited) = app
        .store
        .accounts()
        .rate_full(PASSWORD_FAILURES_PER_ACCOUNT, account, now)
        .await?
    {
        let known = match (credentials, client.ip.as_deref()) {
            (Some(owner), Some(ip)) => {
                app.store
                    .accounts()
                    .signed_in_from(owner.id, ip, now - KNOWN_ADDRESS_MS)
                    .await?
            }
            _ => false,
        };
        if !known {
            return Err(password_paused(limited));
        }
    }
    let guess = Guess::begin(app, client, account, PASSWORD_BACKOFF, now).await?;
    let stored = credentials.and_then(|c| c.password_hash.as_deref());
    let ok = hasher
        .verify(password, stored)
        .await
        .map_err(ApiError::internal)?;
    if ok {
        return guess.succeeded(app).await;
    }
    // Counted only after the check: this limit is a ceiling across addresses, each of which is
    // already counted before its guess.
    let _counted = app
        .store
        .accounts()
        .rate_take(PASSWORD_FAILURES_PER_ACCOUNT, account, now)
        .await?;
    Err(invalid_credentials())
}

fn password_paused(limited: Limited) -> ApiError {
    let retry = limited.retry_after_secs;
    ApiError::too_many(
        "too_many_attempts",
        format!(
            "该账号密码错误次数过多，请{retry}秒后再试，或使用短信验证码登录 (too many wrong passwords for this account; retry in {retry} s or sign in with an SMS code)"
        ),
        retry,
    )
}

/// Register as a dealer (注册成为代理商). The account lands in the *authorised* state (B1).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    pub company_name: String,
    pub contact_name: String,
    pub phone: String,
    pub email: Option<String>,
    pub password: String,
    /// The code sent to the phone (or to the e-mail when `code_sent_to` is `email`).
    pub code: String,
    #[serde(default)]
    pub code_sent_to: CodeChannel,
    /// A manager's or promoter's invite code (from his QR code): binds the new member to him.
    pub invite_code: Option<String>,
}

#[derive(Deserialize, ToSchema, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CodeChannel {
    #[default]
    Phone,
    Email,
}

/// Register with the code sent to the phone (or to the e-mail).
///
/// Attempts are limited per source address and per phone before anything is answered that
/// depends on what is registered; and what is registered is told only to a caller whose code
/// proved the phone (or e-mail) is his: a registered phone never gets a sign-up code (its
/// owner gets a notice), so a stranger's sign-up with it fails as any wrong code does.
#[utoipa::path(post, path = "/auth/signup", tag = "auth", request_body = SignupRequest,
    responses(
        (status = 201, body = Profile),
        (status = 409, description = "`phone_taken`, `email_taken`", body = crate::error::ErrorBody),
        (status = 422, description = "`invalid_input`, `invalid_phone`, `invalid_email`, `weak_password`, `invalid_invite_code`, `code_invalid`, `code_expired`, `code_used`", body = crate::error::ErrorBody),
        (status = 429, description = "`rate_limited`, `too_many_attempts`", body = crate::error::ErrorBody)))]
pub async fn signup(
    State(app): State<Shop>,
    State(hasher): State<Hasher>,
    client: ClientInfo,
    ApiJson(req): ApiJson<SignupRequest>,
) -> ApiResult<(StatusCode, Json<Profile>)> {
    let company_name = parse_name(&req.company_name, "company_name", 100)?;
    let contact_name = parse_name(&req.contact_name, "contact_name", 50)?;
    let phone = Phone::parse(&req.phone)?;
    let email = req
        .email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .map(Email::parse)
        .transpose()?;
    let password = Password::parse(&req.password, "password")?;
    let now = app.clock.now_ms();
    app.store
        .accounts()
        .rate_hit(SIGNUP_PER_IP_HOUR, &client.source(), now, "rate_limited")
        .await?;
    app.store
        .accounts()
        .rate_hit(SIGNUP_PER_PHONE_HOUR, phone.as_str(), now, "rate_limited")
        .await?;
    let target = match (req.code_sent_to, &email) {
        (CodeChannel::Phone, _) => CodeTarget::Phone(phone.clone()),
        (CodeChannel::Email, Some(email)) => CodeTarget::Email(email.clone()),
        (CodeChannel::Email, None) => {
            return Err(ApiError::invalid_field(
                "invalid_input",
                "email",
                "验证码发送到邮箱时须填写邮箱 (email: required when the code went to it)",
            ));
        }
    };
    let inviter = match req
        .invite_code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(code) => Some(app.store.members().inviter(code).await?.ok_or_else(|| {
            ApiError::invalid_field(
                "invalid_invite_code",
                "invite_code",
                "邀请码无效 (invite_code: unknown)",
            )
        })?),
        None => None,
    };
    redeem(&app, &client, &target, CodePurpose::Signup, &req.code, true).await?;
    if let Some(email) = &email
        && app
            .store
            .accounts()
            .user_id_by_email(email.as_str())
            .await?
            .is_some()
    {
        return Err(taken_error(&CodeTarget::Email(email.clone())));
    }
    let password_hash = hasher.hash(&password).await.map_err(ApiError::internal)?;
    let new_user = NewUser {
        phone: phone.as_str().to_owned(),
        email: email.map(|e| e.as_str().to_owned()),
        name: contact_name,
        company_name: Some(company_name),
        password_hash: Some(password_hash),
        member_state: Some(MemberState::Authorised),
        vehicle_plate: None,
        roles: [Role::Member].into(),
        region_ids: Default::default(),
    };
    let id = match app.store.accounts().insert_user(&new_user, now).await {
        Ok(id) => id,
        // The phone was registered since its code was sent (a sign-up racing this one, or
        // staff adding the account), or the e-mail since it was checked: the caller holds the
        // code, so he may be told.
        Err(StoreError::Conflict(column)) if column.ends_with("email") => {
            return Err(taken_error(&CodeTarget::Email(Email::parse(
                new_user.email.as_deref().unwrap_or_default(),
            )?)));
        }
        Err(StoreError::Conflict(_)) => return Err(taken_error(&CodeTarget::Phone(phone))),
        Err(err) => return Err(err.into()),
    };
    if let Some(inviter) = inviter {
        app.store
            .members()
            .bind_member(id, inviter, "注册邀请码 (invite code)", None, now)
            .await?;
    }
    app.store
        .accounts()
        .log_operation(
            crate::accounts::audit::Operation {
                actor_id: Some(id),
                action: "member.signup",
                target_kind: "user",
                target_id: Some(id.to_string()),
                detail: serde_json::json!({}),
            },
            &client,
            now,
        )
        .await?;
    tracing::info!(user.id = id, phone = %mask_for_log(&new_user.phone), "member signed up");
    let user =
        app.store.accounts().user_by_id(id).await?.ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("user {id} vanished after sign-up"))
        })?;
    Ok((StatusCode::CREATED, Json(Profile::of(&user))))
}

fn mask_for_log(phone: &str) -> String {
    crate::accounts::mask_phone(phone)
}

/// Sign in with a password, or with a code sent by SMS. `session` chooses a bearer token (the
/// API; default) or an HttpOnly cookie (pages), which comes with a CSRF token to echo in
/// `X-CSRF-Token` on every state-changing request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub phone: String,
    pub password: Option<String>,
    pub code: Option<String>,
    #[serde(default)]
    pub session: SessionChoice,
}

#[derive(Deserialize, ToSchema, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SessionChoice {
    #[default]
    Bearer,
    Cookie,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// The bearer token (bearer sessions only). Shown once; the server keeps only its hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The CSRF token (cookie sessions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    pub expires_at: String,
    pub user: Profile,
}

/// Sign in by phone and password, or by phone and a code sent to it (A4). Answers a bearer
/// token for the API; `"session": "cookie"` sets an HttpOnly session cookie instead, with the CSRF
/// token the page echoes in `X-CSRF-Token`.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "`invalid_credentials`", body = crate::error::ErrorBody),
        (status = 403, description = "`account_disabled`", body = crate::error::ErrorBody),
        (status = 422, description = "`invalid_input`, `invalid_phone`, `code_invalid`, `code_expired`, `code_used`", body = crate::error::ErrorBody),
        (status = 429, description = "`too_many_attempts`", body = crate::error::ErrorBody)))]
pub async fn login(
    State(app): State<Shop>,
    State(hasher): State<Hasher>,
    client: ClientInfo,
    jar: CookieJar,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let phone = Phone::parse(&req.phone)?;
    let now = app.clock.now_ms();
    let target = CodeTarget::Phone(phone.clone());
    let account = target.key();
    let credentials = app
        .store
        .accounts()
        .credentials_by_phone(phone.as_str())
        .await?;
    let (method, outcome) = match (&req.password, &req.code) {
        (Some(password), None) => (
            "password",
            check_password(
                &app,
                &hasher,
                &client,
                &account,
                credentials.as_ref(),
                password,
                now,
            )
            .await,
        ),
        (None, Some(code)) => (
            "code",
            redeem(
                &app,
                &client,
                &target,
                CodePurpose::Login,
                code,
                credentials.is_some(),
            )
            .await,
        ),
        _ => {
            return Err(ApiError::invalid_field(
                "invalid_input",
                "password",
                "请填写密码或验证码之一 (give exactly one of password or code)",
            ));
        }
    };
    let user_id = credentials.as_ref().map(|c| c.id);
    let outcome = outcome.and_then(|()| match &credentials {
        Some(c) if c.disabled => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "account_disabled",
            "账号已停用，请联系管理员 (account disabled)",
        )),
        Some(_) => Ok(()),
        None => Err(invalid_credentials()),
    });
    if let Err(err) = outcome {
        // A throttled attempt checked nothing; logging each would let a flood fill the log.
        if err.status != StatusCode::TOO_MANY_REQUESTS {
            app.store
                .accounts()
                .log_login(
                    user_id,
                    &phone.masked(),
                    method,
                    Some(err.code),
                    &client,
                    now,
                )
                .await?;
        }
        return Err(err);
    }
    let Some(user_id) = user_id else {
        return Err(invalid_credentials());
    };
    let kind = match req.session {
        SessionChoice::Bearer => SessionKind::Bearer,
        SessionChoice::Cookie => SessionKind::Cookie,
    };
    // A new session id at every sign-in; a cookie session presented with the sign-in is ended,
    // so a planted session id never becomes an authenticated one.
    if let Some(old) = jar.get(SESSION_COOKIE) {
        app.store.accounts().delete_session(old.value()).await?;
    }
    let session = app
        .store
        .accounts()
        .create_session(user_id, kind, &client, now)
        .await?;
    app.store
        .accounts()
        .log_login(Some(user_id), &phone.masked(), method, None, &client, now)
        .await?;
    let user = app
        .store
        .accounts()
        .user_by_id(user_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let expires_at = rfc3339(session.expires_at);
    Ok(match kind {
        SessionKind::Bearer => Json(LoginResponse {
            token: Some(session.token),
            csrf_token: None,
            expires_at,
            user: Profile::of(&user),
        })
        .into_response(),
        SessionKind::Cookie => {
            let cookie = Cookie::build((SESSION_COOKIE, session.token))
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(app.config.secure_cookies)
                .path("/")
                .max_age(time_duration(kind.ttl_ms()))
                .build();
            (
                jar.add(cookie),
                Json(LoginResponse {
                    token: None,
                    csrf_token: session.csrf_token,
                    expires_at,
                    user: Profile::of(&user),
                }),
            )
                .into_response()
        }
    })
}

fn time_duration(ms: i64) -> time::Duration {
    time::Duration::milliseconds(ms)
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "手机号或密码错误 (wrong phone or password)",
    )
}

/// Set a new password with a code sent to the phone or e-mail (forgot password).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub code: String,
    pub new_password: String,
}

/// Reset a forgotten password with a code sent to the phone or e-mail (A6). Every session of
/// the account ends.
#[utoipa::path(post, path = "/auth/password/reset", tag = "auth", request_body = ResetPasswordRequest,
    responses(
        (status = 204),
        (status = 422, description = "`invalid_input`, `invalid_phone`, `invalid_email`, `weak_password`, `code_invalid`, `code_expired`, `code_used`", body = crate::error::ErrorBody),
        (status = 429, description = "`too_many_attempts`", body = crate::error::ErrorBody)))]
pub async fn reset_password(
    State(app): State<Shop>,
    State(hasher): State<Hasher>,
    client: ClientInfo,
    ApiJson(req): ApiJson<ResetPasswordRequest>,
) -> ApiResult<StatusCode> {
    let target = CodeTarget::parse(req.phone.as_deref(), req.email.as_deref())?;
    let password = Password::parse(&req.new_password, "new_password")?;
    let owner = target.owner(&app).await?;
    redeem(
        &app,
        &client,
        &target,
        CodePurpose::ResetPassword,
        &req.code,
        owner.is_some(),
    )
    .await?;
    let Some(user_id) = owner else {
        return Err(CodeRefusal::Wrong.into_api());
    };
    let hash = hasher.hash(&password).await.map_err(ApiError::internal)?;
    let now = app.clock.now_ms();
    app.store
        .accounts()
        .set_password_hash(user_id, &hash, now)
        .await?;
    app.store
        .accounts()
        .log_operation(
            crate::accounts::audit::Operation {
                actor_id: Some(user_id),
                action: "password.reset_by_code",
                target_kind: "user",
                target_id: Some(user_id.to_string()),
                detail: serde_json::json!({}),
            },
            &client,
            now,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End the current session (and clear the cookie).
#[utoipa::path(post, path = "/auth/logout", tag = "auth", responses((status = 204)), security(("bearer" = [])))]
pub async fn logout(
    State(app): State<Shop>,
    _actor: Actor,
    jar: CookieJar,
    headers: axum::http::HeaderMap,
) -> ApiResult<(CookieJar, StatusCode)> {
    if let Some(token) = presented_token(&headers) {
        app.store.accounts().delete_session(token.secret()).await?;
    }
    Ok((
        jar.remove(Cookie::build(SESSION_COOKIE).path("/")),
        StatusCode::NO_CONTENT,
    ))
}

/// The caller's own account, with an entry per role for the "My" page (我的).
#[derive(Serialize, ToSchema)]
pub struct Profile {
    pub id: i64,
    pub name: String,
    pub phone: String,
    pub email: Option<String>,
    pub company_name: Option<String>,
    pub roles: Vec<Role>,
    pub region_ids: Vec<i64>,
    pub member_state: Option<MemberState>,
    pub vehicle_plate: Option<String>,
    pub entries: Vec<RoleEntry>,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct RoleEntry {
    pub role: Role,
    /// 业务端, 司机端, 平台管理 …
    pub label: String,
}

impl Profile {
    pub fn of(user: &User) -> Profile {
        Profile {
            id: user.id,
            name: user.name.clone(),
            phone: user.phone.clone(),
            email: user.email.clone(),
            company_name: user.company_name.clone(),
            roles: user.roles.iter().copied().collect(),
            region_ids: user.region_ids.iter().copied().collect(),
            member_state: user.member_state,
            vehicle_plate: user.vehicle_plate.clone(),
            entries: user
                .roles
                .iter()
                .map(|role| RoleEntry {
                    role: *role,
                    label: role.entry_label().to_owned(),
                })
                .collect(),
            created_at: rfc3339(user.created_at),
        }
    }
}

/// Who I am: my account, roles, regions and, for a member, where he stands (B1).
#[utoipa::path(get, path = "/me", tag = "auth", responses((status = 200, body = Profile)), security(("bearer" = [])))]
pub async fn me(State(app): State<Shop>, actor: Actor) -> ApiResult<Json<Profile>> {
    let user = app
        .store
        .accounts()
        .user_by_id(actor.user_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(Profile::of(&user)))
}
