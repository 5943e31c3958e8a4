//! Who is calling (`Actor`, `MaybeActor`) and from where (`ClientInfo`), read from a request:
//! the bearer token or the session cookie (with its CSRF header), and the socket peer or the
//! address a trusted proxy forwarded. Any state that holds a `Shop` can answer them.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum_extra::extract::CookieJar;

use axum::extract::FromRef;

use super::permissions::{Actor, Standing};
use super::sessions::{CSRF_HEADER, ClientInfo, SESSION_COOKIE, SessionOwner};
use super::{MemberState, Role};
use crate::error::ApiError;
use crate::shop::Shop;

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

/// A signed-in caller with the session he came with: the pages greet him by the name and put
/// the CSRF token in their forms, both read in the session's one (cached) statement.
pub struct Session {
    pub actor: Actor,
    pub owner: Arc<SessionOwner>,
}

async fn resolve_actor(parts: &Parts, state: &Shop) -> Result<Option<Actor>, ApiError> {
    Ok(resolve_session(parts, state)
        .await?
        .map(|session| session.actor))
}

/// The session behind the request's bearer token or cookie (`None`: none presented), or why
/// it does not stand: 401 for a token that signs no one in, `csrf_failed` for a cookie-borne
/// change without its CSRF token.
pub async fn resolve_session(parts: &Parts, state: &Shop) -> Result<Option<Session>, ApiError> {
    let Some(token) = presented_token(&parts.headers) else {
        return Ok(None);
    };
    let Some(owner) = state
        .store
        .accounts()
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
    let actor = Actor {
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
    };
    Ok(Some(Session { actor, owner }))
}

impl<S: Send + Sync> FromRequestParts<S> for Actor
where
    Shop: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Actor, ApiError> {
        resolve_actor(parts, &Shop::from_ref(state))
            .await?
            .ok_or_else(ApiError::unauthenticated)
    }
}

/// The caller when signed in, `None` for a visitor. A stale or forged token is still 401, so a
/// client learns its session ended instead of silently browsing as a visitor.
pub struct MaybeActor(pub Option<Actor>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeActor
where
    Shop: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<MaybeActor, ApiError> {
        Ok(MaybeActor(
            resolve_actor(parts, &Shop::from_ref(state)).await?,
        ))
    }
}

/// The client's address is the socket peer's, or, when the peer is one of the configured
/// trusted proxies, the one it forwarded (`edge::proxy`).
impl<S: Send + Sync> FromRequestParts<S> for ClientInfo
where
    Shop: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<ClientInfo, Self::Rejection> {
        let state = Shop::from_ref(state);
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
