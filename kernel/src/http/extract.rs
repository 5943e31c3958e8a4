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
