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
use crate::accounts::codes::CodePurpose;
use crate::accounts::passwords::Hasher;
use crate::accounts::sessions::ClientInfo;
use crate::auth::{
    self, CodeChannel, CodeRequest, LoginRequest, ResetPasswordRequest, SessionChoice,
    SignupRequest,
};
use crate::edge::extract::Query;
use crate::edge::json::ApiJson;
use crate::error::ApiError;
use crate::shop::Shop;
use crate::themes::views::{
    DeskEntry, ForgotView, FormError, MeView, ProfileView, SignInView, SignUpView,
};

#[derive(Debug, Default, Deserialize)]
pub struct Next {
    pub next: Option<String>,
    /// `?by_code=true`: the form for a code by SMS instead of the password.
    #[serde(default)]
    pub by_code: bool,
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
        mode: if query.by_code { "code" } else { "password" },
        code_sent_to: None,
    }))
}

#[derive(Debug, Default, Deserialize)]
struct SignInForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    password: String,
    /// With `mode=code`: the code sent to the phone.
    #[serde(default)]
    code: String,
    #[serde(default)]
    mode: String,
    /// `send_code` (the button that sends a code) or absent (sign in).
    #[serde(default)]
    action: String,
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

/// A visitor's form (no session, so no token to check): the fields as posted (the defaults
/// when unreadable), to show the form again, and why it is refused, if it is:
/// `invalid_input` for a body that is not the form, `csrf_failed` for one another site posted.
fn visitor_form<F: serde::de::DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &Bytes,
) -> (F, Option<ApiError>) {
    match serde_urlencoded::from_bytes(body) {
        Err(_) => (
            F::default(),
            Some(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "表单无法读取 (unreadable form)",
            )),
        ),
        Ok(form) if !same_origin(headers) => (
            form,
            Some(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "表单来自其他网站 (a form posted from another site)",
            )),
        ),
        Ok(form) => (form, None),
    }
}

/// `POST /login`: phone and password (or phone and a code sent to it) → a cookie session,
/// then back to `next`; `action=send_code` sends the sign-in code first. A refusal shows the
/// form again with the refusal's code and the phone as typed.
pub async fn sign_in(
    State(shop): State<Shop>,
    State(hasher): State<Hasher>,
    visit: Visit,
    client: ClientInfo,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let (form, refused): (SignInForm, _) = visitor_form(&headers, &body);
    let next = local_path(&form.next).to_owned();
    let mode = if form.mode == "code" {
        "code"
    } else {
        "password"
    };
    let again = |status: StatusCode, code: &str, code_sent_to: Option<String>| {
        visit.show_with(
            status,
            &SignInView {
                next: next.clone(),
                phone: form.phone.clone(),
                error: (!code.is_empty()).then(|| code.to_owned()),
                mode,
                code_sent_to,
            },
        )
    };
    if let Some(error) = refused {
        return again(error.status, error.code, None);
    }
    if form.action == "send_code" {
        return match send_code(&shop, &client, CodePurpose::Login, &form.phone).await {
            Ok(sent_to) => again(StatusCode::OK, "", Some(sent_to)),
            Err(error) => again(error.status, error.code, None),
        };
    }
    let request = LoginRequest {
        phone: form.phone.trim().to_owned(),
        password: (mode == "password").then(|| form.password.clone()),
        code: (mode == "code").then(|| form.code.trim().to_owned()),
        session: SessionChoice::Cookie,
    };
    match auth::login(State(shop), State(hasher), client, jar, ApiJson(request)).await {
        Ok(response) => signed_in(&visit, &with_notice(&next, "signed_in"), &response),
        Err(error) => again(error.status, error.code, None),
    }
}

/// The redirect after a sign-in, carrying the session cookie `login` set.
fn signed_in(visit: &Visit, to: &str, login: &axum::response::Response) -> Page {
    let mut page = visit.redirect(to).into_response();
    for cookie in login.headers().get_all(header::SET_COOKIE) {
        page.headers_mut()
            .append(header::SET_COOKIE, cookie.clone());
    }
    Page(page)
}

/// Sends a code for `purpose` to `phone` through `auth::send_code` (its limits and its silence
/// about who is registered are the API's); answers where it went, masked.
async fn send_code(
    shop: &Shop,
    client: &ClientInfo,
    purpose: CodePurpose,
    phone: &str,
) -> Result<String, ApiError> {
    let request = CodeRequest {
        purpose,
        phone: Some(phone.trim().to_owned()),
        email: None,
    };
    let (_, axum::Json(sent)) =
        auth::send_code(State(shop.clone()), client.clone(), ApiJson(request)).await?;
    Ok(sent.sent_to)
}

#[derive(Debug, Default, Deserialize)]
pub struct Invite {
    pub invite: Option<String>,
}

/// `GET /signup?invite=`: a new dealer's sign-up form.
pub async fn sign_up_form(visit: Visit, Query(query): Query<Invite>) -> Page {
    if visit.actor.is_some() {
        return visit.redirect("/me");
    }
    visit.show(Ok(SignUpView {
        phone: String::new(),
        company_name: String::new(),
        contact_name: String::new(),
        invite_code: query.invite.unwrap_or_default(),
        code_sent_to: None,
        error: None,
    }))
}

#[derive(Debug, Default, Deserialize)]
struct SignUpForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    company_name: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    invite_code: String,
    #[serde(default)]
    action: String,
}

/// `POST /signup`: `action=send_code` sends the sign-up code; otherwise `auth::signup` makes
/// the account (B1: *authorised*, prices still hidden) and signs him in, on to completing his
/// profile.
pub async fn sign_up(
    State(shop): State<Shop>,
    State(hasher): State<Hasher>,
    visit: Visit,
    client: ClientInfo,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let (form, refused): (SignUpForm, _) = visitor_form(&headers, &body);
    let again = |status: StatusCode, error: Option<FormError>, code_sent_to: Option<String>| {
        visit.show_with(
            status,
            &SignUpView {
                phone: form.phone.clone(),
                company_name: form.company_name.clone(),
                contact_name: form.contact_name.clone(),
                invite_code: form.invite_code.clone(),
                code_sent_to,
                error,
            },
        )
    };
    if let Some(error) = refused {
        return again(error.status, Some(FormError::of("sign_up", &error)), None);
    }
    if form.action == "send_code" {
        return match send_code(&shop, &client, CodePurpose::Signup, &form.phone).await {
            Ok(sent_to) => again(StatusCode::OK, None, Some(sent_to)),
            Err(error) => again(error.status, Some(FormError::of("code", &error)), None),
        };
    }
    let request = SignupRequest {
        company_name: form.company_name.clone(),
        contact_name: form.contact_name.clone(),
        phone: form.phone.trim().to_owned(),
        email: None,
        password: form.password.clone(),
        code: form.code.trim().to_owned(),
        code_sent_to: CodeChannel::default(),
        invite_code: Some(form.invite_code.trim().to_owned()).filter(|c| !c.is_empty()),
    };
    let signed_up = auth::signup(
        State(shop.clone()),
        State(hasher.clone()),
        client.clone(),
        ApiJson(request),
    )
    .await;
    if let Err(error) = signed_up {
        return again(error.status, Some(FormError::of("sign_up", &error)), None);
    }
    let login = LoginRequest {
        phone: form.phone.trim().to_owned(),
        password: Some(form.password.clone()),
        code: None,
        session: SessionChoice::Cookie,
    };
    match auth::login(State(shop), State(hasher), client, jar, ApiJson(login)).await {
        Ok(response) => signed_in(&visit, "/me/profile?notice=signed_up", &response),
        // The account is made; signing in is left to the sign-in page.
        Err(_) => visit.redirect("/login?next=/me/profile"),
    }
}

/// `GET /forgot`: a new password with a code by SMS.
pub async fn forgot_form(visit: Visit) -> Page {
    visit.show(Ok(ForgotView {
        phone: String::new(),
        code_sent_to: None,
        error: None,
    }))
}

#[derive(Debug, Default, Deserialize)]
struct ForgotForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    action: String,
}

/// `POST /forgot`: `action=send_code` sends the reset code; otherwise `auth::reset_password`
/// (every session of the account ends), then to sign in with the new password.
pub async fn forgot(
    State(shop): State<Shop>,
    State(hasher): State<Hasher>,
    visit: Visit,
    client: ClientInfo,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let (form, refused): (ForgotForm, _) = visitor_form(&headers, &body);
    let again = |status: StatusCode, error: Option<FormError>, code_sent_to: Option<String>| {
        visit.show_with(
            status,
            &ForgotView {
                phone: form.phone.clone(),
                code_sent_to,
                error,
            },
        )
    };
    if let Some(error) = refused {
        return again(error.status, Some(FormError::of("reset", &error)), None);
    }
    if form.action == "send_code" {
        return match send_code(&shop, &client, CodePurpose::ResetPassword, &form.phone).await {
            Ok(sent_to) => again(StatusCode::OK, None, Some(sent_to)),
            Err(error) => again(error.status, Some(FormError::of("code", &error)), None),
        };
    }
    let request = ResetPasswordRequest {
        phone: Some(form.phone.trim().to_owned()),
        email: None,
        code: form.code.trim().to_owned(),
        new_password: form.new_password.clone(),
    };
    match auth::reset_password(State(shop), State(hasher), client, ApiJson(request)).await {
        Ok(_) => visit.redirect("/login?notice=password_reset"),
        Err(error) => again(error.status, Some(FormError::of("reset", &error)), None),
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
        let axum::Json(profile) = auth::me(State(shop.clone()), actor.clone()).await?;
        // A member lists his own orders here; staff find their desks, badged with the counts
        // of their scope.
        let desks = super::desks::open_to(&actor);
        // The back office, for whoever it has a screen for (电脑版总后台, at a desk).
        let office = super::office::opens_to(&actor);
        let badged = desks.iter().any(|desk| desk.badge.is_some());
        let counts = if profile.member_state.is_some() || badged {
            crate::orders::queries::counts(State(shop), actor).await?.0
        } else {
            Vec::new()
        };
        let mut desks = super::desks::entries(&desks, &counts);
        if office {
            desks.push(DeskEntry {
                key: "office",
                href: "/admin",
                count: None,
            });
        }
        let order_counts = if profile.member_state.is_some() {
            counts
        } else {
            Vec::new()
        };
        Ok::<_, ApiError>(MeView {
            name: profile.name,
            phone: crate::accounts::mask_phone(&profile.phone),
            company_name: profile.company_name,
            member_state: profile.member_state.map(|s| s.as_str().to_owned()),
            order_counts,
            desks,
        })
    }
    .await;
    visit.show(view)
}

async fn profile_view(
    shop: &Shop,
    visit: &Visit,
    typed: std::collections::BTreeMap<String, String>,
    error: Option<FormError>,
) -> Result<ProfileView, ApiError> {
    let actor = visit.actor()?;
    let (profile, regions) = tokio::join!(
        crate::members::profile::get(State(shop.clone()), actor),
        crate::regions::list(State(shop.clone()))
    );
    Ok(ProfileView {
        profile: profile?.0,
        regions: regions?.0,
        typed,
        error,
    })
}

/// `GET /me/profile`: my shop's profile (完善资料) through `profile::get`; a visitor signs in
/// first, staff are refused as the API refuses them.
pub async fn profile(State(shop): State<Shop>, visit: Visit) -> Page {
    let view = profile_view(&shop, &visit, Default::default(), None).await;
    visit.show(view)
}

/// `POST /me/profile` (multipart: the profile's fields, `shop_photo`, `licence`): through
/// `profile::complete`; back to 我的 waiting for review, or the form again with what was typed
/// and the refusal by its field.
pub async fn save_profile(
    State(shop): State<Shop>,
    visit: Visit,
    client: ClientInfo,
    request: axum::extract::Request,
) -> Page {
    let (typed, done) = match super::read_multipart(request).await {
        Ok((typed, form)) => {
            let done = async {
                crate::members::profile::complete(State(shop.clone()), visit.actor()?, client, form)
                    .await
            }
            .await;
            (typed, done)
        }
        Err(error) => (Default::default(), Err(error)),
    };
    match done {
        Ok(_) => visit.redirect("/me?notice=profile_saved"),
        Err(error) if error.status != StatusCode::UNAUTHORIZED && visit.actor.is_some() => {
            let status = error.status;
            let refusal = FormError::of("profile", &error);
            match profile_view(&shop, &visit, typed, Some(refusal)).await {
                Ok(view) => visit.show_with(status, &view),
                Err(other) => visit.show::<ProfileView>(Err(other)),
            }
        }
        Err(error) => visit.show::<ProfileView>(Err(error)),
    }
}
