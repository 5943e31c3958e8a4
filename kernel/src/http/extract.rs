//! Request extractors: who is calling (`Actor`, `MaybeActor`) and from where (`ClientInfo`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum_extra::extract::CookieJar;

use crate::accounts::permissions::Actor;
use crate::accounts::sessions::{CSRF_HEADER, ClientInfo, SESSION_COOKIE};
use crate::accounts::{MemberState, Role};
use crate::app::AppState;
use crate::error::ApiError;
use crate::members::Standing;

/// Where the session token came from: the API's bearer header or the pages' cookie.
pub enum PresentedToken {
    Bearer(String),
    Cookie(String),
}

impl PresentedToken {
    pub fn secret(&self) -> &str {
        match self {
            PresentedToken::Bearer(t) | PresentedToken::Cookie(t) => t,
        }
    }
}

/// The bearer token, else the session cookie.
pub fn presented_token(headers: &HeaderMap) -> Option<PresentedToken> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return value
            .strip_prefix("Bearer ")
            .map(|t| PresentedToken::Bearer(t.trim().to_owned()));
    }
    CookieJar::from_headers(headers)
        .get(SESSION_COOKIE)
        .map(|cookie| PresentedToken::Cookie(cookie.value().to_owned()))
}

async fn resolve_actor(parts: &Parts, state: &AppState) -> Result<Option<Actor>, ApiError> {
    let Some(token) = presented_token(&parts.headers) else {
        return Ok(None);
    };
    let Some(owner) = state
        .store
        .session_owner(token.secret(), state.clock.now_ms())
        .await?
    else {
        return Err(ApiError::unauthenticated());
    };
    // A cookie rides along with any request the browser makes, so a state-changing request
    // authenticated by cookie must also prove it came from our page: the CSRF token the page
    // received at sign-in, echoed in a header (a bearer token is never sent implicitly).
    if matches!(token, PresentedToken::Cookie(_)) && !parts.method.is_safe() {
        let echoed = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if owner.csrf_token.is_none() || echoed != owner.csrf_token.as_deref() || !owner.is_cookie()
        {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "csrf_failed",
                "页面已失效，请刷新后重试 (missing or wrong CSRF token)",
            ));
        }
    }
    let list = |text: &Option<String>| {
        text.as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|part| !part.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    Ok(Some(Actor {
        user_id: owner.user_id,
        roles: list(&owner.roles)
            .iter()
            .filter_map(|r| Role::from_db(r))
            .collect(),
        region_ids: list(&owner.regions)
            .iter()
            .filter_map(|r| r.parse().ok())
            .collect(),
        standing: Standing {
            state: owner.member_state.as_deref().and_then(MemberState::from_db),
            level_id: owner.level_id,
        },
    }))
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Actor, ApiError> {
        resolve_actor(parts, state)
            .await?
            .ok_or_else(ApiError::unauthenticated)
    }
}

/// The caller when signed in, `None` for a visitor. A stale or forged token is still 401, so a
/// client learns its session ended instead of silently browsing as a visitor.
pub struct MaybeActor(pub Option<Actor>);

impl FromRequestParts<AppState> for MaybeActor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<MaybeActor, ApiError> {
        Ok(MaybeActor(resolve_actor(parts, state).await?))
    }
}

/// The client's address is the socket peer's, or, when the peer is one of the configured
/// trusted proxies, the one it forwarded (`http::proxy`).
impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<ClientInfo, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| {
                state
                    .config
                    .trusted_proxies
                    .client(addr.ip(), &parts.headers)
                    .to_string()
            });
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(200).collect());
        Ok(ClientInfo { ip, user_agent })
    }
}

/// A path parameter, parsed like axum's `Path` but refused in the one error shape: 400
/// `invalid_parameter` naming the parameter (`/orders/abc` names `id`), and 422
/// `invalid_text` for a control character. Named `Path` so utoipa's handler inspection and
/// the handlers' destructuring read as with axum's; axum's own is a disallowed type.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Path<T>, ApiError> {
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                ApiError::bad_request(
                    "invalid_parameter",
                    format!("路径参数无法读取 (path: {})", rejection.body_text()),
                )
            })?;
        for (key, value) in &raw {
            crate::text::refuse_control_chars(value, key)?;
        }
        let only_key = raw.iter().map(|(key, _)| key.to_owned()).next();
        #[expect(
            clippy::disallowed_types,
            reason = "the one place axum's Path is used: its rejection becomes an ApiError"
        )]
        let parsed = axum::extract::Path::<T>::from_request_parts(parts, state).await;
        match parsed {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(axum::extract::rejection::PathRejection::FailedToDeserializePathParams(err)) => {
                use axum::extract::path::ErrorKind;
                let (key, value, expected) = match err.kind() {
                    ErrorKind::ParseErrorAtKey {
                        key,
                        value,
                        expected_type,
                    } => (Some(key.clone()), value.clone(), *expected_type),
                    ErrorKind::ParseError {
                        value,
                        expected_type,
                    } => (only_key, value.clone(), *expected_type),
                    ErrorKind::DeserializeError { key, value, .. } => {
                        (Some(key.clone()), value.clone(), "value")
                    }
                    ErrorKind::InvalidUtf8InPathParam { key } => {
                        (Some(key.clone()), String::new(), "UTF-8 text")
                    }
                    _ => (only_key, String::new(), "value"),
                };
                let field = key.unwrap_or_else(|| "path".to_owned());
                let kind = if expected.starts_with('i') || expected.starts_with('u') {
                    "整数 (a whole number)".to_owned()
                } else {
                    format!("({expected})")
                };
                let shown: String = value.chars().take(40).collect();
                Err(ApiError::bad_request(
                    "invalid_parameter",
                    format!("{field}: 须为{kind}，收到 {shown:?} (got {shown:?})"),
                )
                .with_field(&field))
            }
            Err(rejection) => Err(ApiError::bad_request(
                "invalid_parameter",
                format!("路径参数无法读取 (path: {})", rejection.body_text()),
            )),
        }
    }
}

/// The query string, parsed into `T` with the first field that does not fit named: 400
/// `invalid_parameter` (`?status=nonsense` names `status`), and 422 `invalid_text` for a
/// control character. Named `Query` for the same reasons as `Path`.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Query<T>, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        parse_query(query).map(Query)
    }
}

/// Parses a query string as `Query` does.
pub fn parse_query<T: serde::de::DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        crate::text::refuse_control_chars(&key, "query")?;
        crate::text::refuse_control_chars(&value, &key)?;
    }
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        let field = if path == "." || path == "?" {
            inner
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next())
                .map(str::to_owned)
        } else {
            Some(path)
        };
        let mut error = ApiError::bad_request(
            "invalid_parameter",
            format!(
                "{}: 查询参数不正确 ({inner})",
                field.as_deref().unwrap_or("query")
            ),
        );
        error.field = field;
        error
    })
}

/// A multipart form, refused in the one error shape: 415 `unsupported_media_type` for a body
/// that is not `multipart/form-data`, 400 `invalid_form` for one that cannot be read. Named
/// `Multipart` for the same reasons as `Path`.
#[expect(
    clippy::disallowed_types,
    reason = "the wrapper that puts axum's Multipart behind the one error shape"
)]
pub struct Multipart(axum::extract::Multipart);

impl Multipart {
    /// The next field, or `None` after the last.
    pub async fn next_field(
        &mut self,
    ) -> Result<Option<axum::extract::multipart::Field<'_>>, ApiError> {
        self.0
            .next_field()
            .await
            .map_err(crate::http::json::unreadable_form)
    }
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for Multipart {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Multipart, ApiError> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("multipart/form-data"));
        if !is_form {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "请求体须为表单 (Content-Type: multipart/form-data expected)",
            ));
        }
        #[expect(
            clippy::disallowed_types,
            reason = "the one place axum's Multipart is used: its rejection becomes an ApiError"
        )]
        let form = axum::extract::Multipart::from_request(req, state).await;
        form.map(Multipart).map_err(|rejection| {
            ApiError::new(
                rejection.status(),
                "invalid_form",
                format!("表单无法读取 (form: {})", rejection.body_text()),
            )
        })
    }
}
