//! Signing in and out with a cookie session, and my account (我的). Sign-in and sign-out call
//! the API's own `auth::login` and `auth::logout`, so the rate limits, the login log and the
//! session's CSRF token are theirs.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::{Page, Visit, local_path};
use crate::accounts::passwords::Hasher;
use crate::accounts::sessions::ClientInfo;
use crate::auth::{self, LoginRequest, SessionChoice};
use crate::edge::extract::Query;
use crate::edge::json::ApiJson;
use crate::error::ApiError;
use crate::shop::Shop;
use crate::themes::views::{MeView, SignInView};

#[derive(Debug, Default, Deserialize)]
pub struct Next {
    pub next: Option<String>,
}

/// `GET /login?next=/me`: the sign-in form.
pub async fn form(visit: Visit, Query(query): Query<Next>) -> Page {
    let next = local_path(query.next.as_deref().unwrap_or("/")).to_owned();
    if visit.actor.is_some() {
        return visit.redirect(&next);
    }
    visit.show(Ok(SignInView {
        next,
        phone: String::new(),
        error: None,
    }))
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// Whether a form was posted from this site: browsers send `Origin` with every POST, and a
/// visitor's form has no session token to prove it (signing someone into another's account
/// from elsewhere is refused here).
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority == host)
}

/// `POST /login`: phone and password → a cookie session, then back to `next`. A refusal shows
/// the form again with the refusal's code and the phone as typed.
pub async fn sign_in(
    State(shop): State<Shop>,
    State(hasher): State<Hasher>,
    visit: Visit,
    client: ClientInfo,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let form: SignInForm = match serde_urlencoded::from_bytes(&body) {
        Ok(form) => form,
        Err(_) => {
            return visit.show_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                &SignInView {
                    next: "/".to_owned(),
                    phone: String::new(),
                    error: Some("invalid_input".to_owned()),
                },
            );
        }
    };
    let next = local_path(&form.next).to_owned();
    let again = |status: StatusCode, code: &str| {
        visit.show_with(
            status,
            &SignInView {
                next: next.clone(),
                phone: form.phone.clone(),
                error: Some(code.to_owned()),
            },
        )
    };
    if !same_origin(&headers) {
        return again(StatusCode::FORBIDDEN, "csrf_failed");
    }
    let request = LoginRequest {
        phone: form.phone.trim().to_owned(),
        password: Some(form.password.clone()),
        code: None,
        session: SessionChoice::Cookie,
    };
    match auth::login(State(shop), State(hasher), client, jar, ApiJson(request)).await {
        Ok(response) => {
            let mut page = visit
                .redirect(&with_notice(&next, "signed_in"))
                .into_response();
            for cookie in response.headers().get_all(header::SET_COOKIE) {
                page.headers_mut()
                    .append(header::SET_COOKIE, cookie.clone());
            }
            Page(page)
        }
        Err(error) => again(error.status, error.code),
    }
}

/// `next` with `notice=<code>` added to its query.
fn with_notice(next: &str, notice: &str) -> String {
    let separator = if next.contains('?') { '&' } else { '?' };
    format!("{next}{separator}notice={notice}")
}

/// `POST /logout`: ends the session (the form carries its CSRF token), back to the home page.
pub async fn sign_out(
    State(shop): State<Shop>,
    visit: Visit,
    jar: CookieJar,
    headers: HeaderMap,
) -> Page {
    let actor = match visit.actor() {
        Ok(actor) => actor,
        Err(error) => return visit.show::<SignInView>(Err(error)),
    };
    match auth::logout(State(shop), actor, jar, headers).await {
        Ok((jar, _)) => {
            let redirect = visit.redirect("/?notice=signed_out").into_response();
            Page((jar, redirect).into_response())
        }
        Err(error) => visit.show::<SignInView>(Err(error)),
    }
}

/// `GET /me`: my account; a visitor is sent to sign in first.
pub async fn me(State(shop): State<Shop>, visit: Visit) -> Page {
    let view = async {
        let actor = visit.actor()?;
        let axum::Json(profile) = auth::me(State(shop), actor).await?;
        Ok::<_, ApiError>(MeView {
            name: profile.name,
            phone: crate::accounts::mask_phone(&profile.phone),
            company_name: profile.company_name,
            member_state: profile.member_state.map(|s| s.as_str().to_owned()),
        })
    }
    .await;
    visit.show(view)
}
