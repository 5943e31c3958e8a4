//! The storefront's pages: HTML rendered by the active theme (`crate::themes`), for phones
//! first, in the shop's language, working without JavaScript.
//!
//! The conventions every page follows (the staff consoles and the decoration editor build on
//! them):
//! - **One authorization path.** A page handler calls the JSON API's own handler functions
//!   (`catalog::handlers::list_products`, `auth::me` …) with the caller the auth extractor
//!   resolved, and shows what they return: a page cannot show a record or a price the API
//!   would refuse, since it goes through the same checks (`PriceView` included).
//! - **One request context.** `Visit` (an extractor) is the page's caller (from the session
//!   cookie, through `accounts::caller`: pages have no authentication of their own), the
//!   theme chosen for this request, and the `Frame` every template gets (shop, user, CSRF
//!   token, notice, path, the plugins' screens open to the caller), built in one place.
//! - **One response type.** A handler works out its view (`themes::views`) or an `ApiError`
//!   and hands it to `Visit::show`, which renders the view, or the theme's `error.html` with
//!   the status and stable code, or, for a visitor refused for want of a session, a redirect
//!   to the sign-in page that comes back afterwards.
//! - **Forms post with the session's CSRF token** in the hidden field `csrf_token`: the
//!   `forms` middleware copies it into the `X-CSRF-Token` header before the auth extractor
//!   runs, so the one check in `accounts::caller` guards pages and API alike.

pub mod account;
pub mod addresses;
pub mod assets;
pub mod cart;
pub mod checkout;
pub mod customers;
pub mod desks;
pub mod fields;
pub mod goods;
pub mod inbox;
pub mod layouts;
pub mod office;
pub mod orders;
pub mod screens;
pub mod shelf;
pub mod supplier;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::accounts::caller::{
    MaybeActor, PresentedToken, Session, presented_token, resolve_session,
};
use crate::accounts::permissions::Actor;
use crate::accounts::sessions::{CSRF_HEADER, ClientInfo, SESSION_COOKIE};
use crate::edge::json::FORM_TOKEN_FIELD;
use crate::error::ApiError;
use crate::settings::{Settings, ShopMode};
use crate::shop::Shop;
use crate::themes::Theme;
use crate::themes::admin::ThemesState;
use crate::themes::views::{ErrorView, Frame, PageView, ShopFrame, UserFrame};

/// The largest form a page posts (sign-in, later the consoles' forms; uploads go elsewhere).
const FORM_LIMIT_BYTES: usize = 64 * 1024;

/// A rendered page, a redirect, or an error page: what every page handler returns.
pub struct Page(Response);

/// `crate::http::CONTENT_SECURITY_POLICY` for a page the back office shows in a frame (the
/// editor's preview of a draft): the same, but this origin may frame it.
const FRAMED_BY_SELF_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'";

impl Page {
    /// This page, which the back office may show in a frame of its own origin (the editor's
    /// preview of a draft); every other page refuses every frame.
    pub fn framed_by_the_office(self) -> Page {
        let Page(mut response) = self;
        let headers = response.headers_mut();
        headers.insert(
            axum::http::header::X_FRAME_OPTIONS,
            axum::http::HeaderValue::from_static("SAMEORIGIN"),
        );
        headers.insert(
            axum::http::header::CONTENT_SECURITY_POLICY,
            axum::http::HeaderValue::from_static(FRAMED_BY_SELF_POLICY),
        );
        Page(response)
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        self.0
    }
}

/// What `?notice=` may say after a redirect; anything else is ignored.
const NOTICES: [&str; 57] = [
    "signed_in",
    "signed_out",
    "added_to_cart",
    "cart_updated",
    "cart_removed",
    "reordered",
    "order_cancelled",
    "order_received",
    "receipt_uploaded",
    "after_sales_requested",
    "reviewed",
    "signed_up",
    "profile_saved",
    "password_reset",
    "address_saved",
    "address_removed",
    "inbox_read",
    "order_confirmed",
    "order_rejected",
    "order_dispatched",
    "delivery_started",
    "order_delivered",
    "status_changed",
    "order_ready",
    "script_saved",
    "script_rolled_back",
    "member_approved",
    "member_rejected",
    "message_retried",
    "payment_recorded",
    "hold_released",
    "after_sale_decided",
    "after_sale_refunded",
    "product_created",
    "product_saved",
    "sku_saved",
    "sku_added",
    "image_added",
    "image_removed",
    "shelved",
    "unshelved",
    "settings_saved",
    "staff_added",
    "staff_saved",
    "staff_disabled",
    "staff_enabled",
    "region_saved",
    "point_saved",
    "plugin_settings_saved",
    "decoration_saved",
    "decoration_published",
    "decoration_rolled_back",
    "decoration_deleted",
    "plugin_resumed",
    "library_saved",
    "member_saved",
    "proxy_placed",
];

/// A page request: who asks, with which theme, and what every template is given.
pub struct Visit {
    /// The signed-in caller, `None` for a visitor.
    pub actor: Option<Actor>,
    /// Why the caller could not be resolved (a forged token, a form without the CSRF token);
    /// `show` answers it instead of the page.
    refused: Option<ApiError>,
    /// A session cookie that no longer signs anyone in: cleared with the answer.
    clear_session: bool,
    pub theme: Arc<Theme>,
    pub frame: Frame,
    pub settings: Settings,
}

impl<S: Send + Sync> FromRequestParts<S> for Visit
where
    ThemesState: FromRef<S>,
    Shop: FromRef<S>,
    crate::plugins::PluginsState: FromRef<S>,
{
    type Rejection = Page;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Visit, Page> {
        let ThemesState { shop, themes } = ThemesState::from_ref(state);
        let (session, mut refused) = match resolve_session(parts, &shop).await {
            Ok(session) => (session, None),
            Err(error) => (None, Some(error)),
        };
        let token = presented_token(&parts.headers);
        // A stale cookie on a page that changes nothing: browse on as a visitor.
        let clear_session = refused.as_ref().is_some_and(|e| {
            e.status == StatusCode::UNAUTHORIZED
                && parts.method.is_safe()
                && matches!(token, Some(PresentedToken::Cookie(_)))
        });
        if clear_session {
            refused = None;
        }
        let settings = match shop.store.settings().current().await {
            Ok(settings) => settings,
            Err(error) => {
                refused.get_or_insert(ApiError::internal(error));
                Settings::default()
            }
        };
        // Forms carry the token of the cookie's session; a bearer caller posts no forms.
        let csrf_token = match (&session, &token) {
            (Some(session), Some(PresentedToken::Cookie(_))) => session.owner.csrf_token.clone(),
            _ => None,
        };
        let user = match &session {
            Some(Session { actor, owner }) => {
                match crate::notify::unread(axum::extract::State(shop.clone()), actor.clone()).await
                {
                    Ok(axum::Json(unread)) => Some(UserFrame {
                        name: owner.name.clone(),
                        roles: actor.roles.iter().map(|r| r.as_str()).collect(),
                        is_staff: actor.roles.iter().any(|r| r.is_staff()),
                        unread: unread.unread,
                    }),
                    Err(error) => {
                        refused.get_or_insert(error);
                        None
                    }
                }
            }
            None => None,
        };
        let actor = session.map(|session| session.actor);
        let notice = parts.uri.query().and_then(|query| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(key, _)| key == "notice")
                .and_then(|(_, value)| NOTICES.into_iter().find(|n| *n == value))
        });
        // The back office is drawn by the office theme; the storefront by the settings'
        // choice, else `PIFA_THEME`'s (which the start made sure serves).
        let office = parts.uri.path() == "/admin" || parts.uri.path().starts_with("/admin/");
        let theme = if office {
            themes.office()
        } else {
            themes.active(settings.theme.as_deref())
        };
        let Some(theme) = theme else {
            tracing::error!(office, "no theme serves");
            return Err(Page(bare_error(StatusCode::INTERNAL_SERVER_ERROR)));
        };
        let plugins = crate::plugins::PluginsState::from_ref(state);
        let screens = screens::entries(&plugins, office, actor.as_ref());
        Ok(Visit {
            frame: Frame {
                shop: shop_frame(&settings),
                user,
                csrf_token,
                notice,
                path: parts.uri.path().to_owned(),
                screens,
            },
            actor,
            refused,
            clear_session,
            theme,
            settings,
        })
    }
}

fn shop_frame(settings: &Settings) -> ShopFrame {
    ShopFrame {
        name: settings.shop_name.clone(),
        logo_url: settings.logo_url.clone(),
        service_phone: settings.service_phone.clone(),
        mode: match settings.shop_mode {
            ShopMode::Internal => "internal",
            ShopMode::Open => "open",
        },
    }
}

/// The last resort when even the theme's error page cannot render: the status alone.
fn bare_error(status: StatusCode) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>{0}</title><h1>{0}</h1></html>",
            status.as_u16()
        ),
    )
        .into_response()
}

/// The same refusal once more (an `ApiError` is not `Clone`: it may hold a response's
/// details); its status, code and words are what a page shows.
fn again(error: &ApiError) -> ApiError {
    ApiError::new(error.status, error.code, error.message.clone())
}

/// A path of this site to come back to after signing in (`/me?x=1`); anything else is `/`.
pub fn local_path(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if local { next } else { "/" }
}

impl Visit {
    /// The caller as the JSON handlers take it.
    pub fn maybe_actor(&self) -> MaybeActor {
        MaybeActor(self.actor.clone())
    }

    /// The caller, `None` for a visitor, or why the request is refused (a forged token, a
    /// form without the session's CSRF token): for a page that visitors may see too.
    pub fn caller(&self) -> Result<Option<Actor>, ApiError> {
        match &self.refused {
            Some(error) => Err(again(error)),
            None => Ok(self.actor.clone()),
        }
    }

    /// The signed-in caller, or why there is none (`unauthenticated` sends a visitor to
    /// sign in).
    pub fn actor(&self) -> Result<Actor, ApiError> {
        match (&self.refused, &self.actor) {
            (Some(error), _) => Err(again(error)),
            (None, Some(actor)) => Ok(actor.clone()),
            (None, None) => Err(ApiError::unauthenticated()),
        }
    }

    /// The page: the view rendered by its template, or the refusal as an error page (or a
    /// sign-in redirect for a visitor).
    pub fn show<V: PageView>(&self, result: Result<V, ApiError>) -> Page {
        let result = match &self.refused {
            Some(error) => Err(again(error)),
            None => result,
        };
        let response = match result {
            Ok(view) => self.render(StatusCode::OK, V::TEMPLATE, &view),
            Err(error) => self.error_response(&error),
        };
        Page(self.finish(response))
    }

    /// `show`, with the answer's status chosen (a form shown again after a refusal).
    pub fn show_with<V: PageView>(&self, status: StatusCode, view: &V) -> Page {
        Page(self.finish(self.render(status, V::TEMPLATE, view)))
    }

    /// A form answered on its own page (a desk's: the pickup code, a member added): the
    /// view `done` gives; or, refused, the page's own refusal when the caller may not be here
    /// at all (not signed in, not his desk), else the form again with the refusal beside it
    /// (`again`), in the refusal's status.
    pub fn show_form<V: PageView>(
        &self,
        done: Result<V, ApiError>,
        again: impl FnOnce(&ApiError) -> V,
    ) -> Page {
        match done {
            Ok(view) => self.show(Ok(view)),
            Err(error)
                if matches!(
                    error.status,
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                ) =>
            {
                self.show::<V>(Err(error))
            }
            Err(error) => self.show_with(error.status, &again(&error)),
        }
    }

    /// A redirect after a form (303: the browser follows with a GET).
    pub fn redirect(&self, to: &str) -> Page {
        Page(self.finish(Redirect::to(to).into_response()))
    }

    fn finish(&self, mut response: Response) -> Response {
        if self.clear_session
            && let Ok(value) = HeaderValue::from_str(&format!(
                "{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
            ))
        {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
        response
    }

    fn error_response(&self, error: &ApiError) -> Response {
        let wants_session = matches!(
            error.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) && error.code != "single_page"
            && error.code != "csrf_failed";
        if self.actor.is_none() && wants_session {
            let back = match self.frame.path.as_str() {
                "/login" => "/".to_owned(),
                path => path.to_owned(),
            };
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("next", &back)
                .finish();
            return Redirect::to(&format!("/login?{query}")).into_response();
        }
        let view = ErrorView {
            status: error.status.as_u16(),
            code: error.code.to_owned(),
        };
        self.render(error.status, ErrorView::TEMPLATE, &view)
    }

    fn render<V: serde::Serialize>(
        &self,
        status: StatusCode,
        template: &str,
        view: &V,
    ) -> Response {
        match self.theme.render(
            template,
            &self.frame,
            minijinja::Value::from(minijinja::value::Serde(view)),
        ) {
            Ok(html) => (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                html,
            )
                .into_response(),
            Err(error) => {
                // The samples passed, so this is a shape they did not cover: a bug to fix.
                tracing::error!(theme = %self.theme.id, %error, "a page did not render");
                if template == ErrorView::TEMPLATE {
                    return bare_error(StatusCode::INTERNAL_SERVER_ERROR);
                }
                let view = ErrorView {
                    status: 500,
                    code: "internal".to_owned(),
                };
                match self.theme.render(
                    ErrorView::TEMPLATE,
                    &self.frame,
                    minijinja::Value::from(minijinja::value::Serde(&view)),
                ) {
                    Ok(html) => (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                        html,
                    )
                        .into_response(),
                    Err(_) => bare_error(StatusCode::INTERNAL_SERVER_ERROR),
                }
            }
        }
    }
}

/// Page forms post their CSRF token in the hidden field `csrf_token`
/// (`edge::json::FORM_TOKEN_FIELD`): copied here into `X-CSRF-Token`, where the auth extractor
/// checks it as it does the API's (a header already there wins). Both kinds of form a browser
/// posts are read: `application/x-www-form-urlencoded`, and `multipart/form-data` for the
/// forms with photos (the multipart readers pass over the token's field). The body is read
/// once, bounded, and passed on whole.
pub async fn forms(request: Request, next: Next) -> Response {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let multipart = if request.method() != axum::http::Method::POST
        || request.headers().contains_key(CSRF_HEADER)
    {
        None
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        Some(false)
    } else if content_type.starts_with("multipart/form-data") {
        Some(true)
    } else {
        None
    };
    let Some(multipart) = multipart else {
        return next.run(request).await;
    };
    let limit = if multipart {
        crate::images::UPLOAD_BODY_LIMIT_BYTES
    } else {
        FORM_LIMIT_BYTES
    };
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return bare_error(StatusCode::PAYLOAD_TOO_LARGE);
    };
    let token = if multipart {
        multipart_token(&content_type, bytes.clone()).await
    } else {
        form_urlencoded::parse(&bytes)
            .find(|(key, _)| key == FORM_TOKEN_FIELD)
            .map(|(_, value)| value.into_owned())
    };
    if let Some(token) = token.and_then(|t| HeaderValue::from_str(&t).ok()) {
        parts.headers.insert(CSRF_HEADER, token);
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// The CSRF token field of a multipart form, if it has one.
async fn multipart_token(content_type: &str, bytes: axum::body::Bytes) -> Option<String> {
    multipart_texts(content_type, bytes)
        .await
        .remove(FORM_TOKEN_FIELD)
}

/// A multipart form's text fields (its files passed over), as far as it reads.
async fn multipart_texts(
    content_type: &str,
    bytes: axum::body::Bytes,
) -> std::collections::BTreeMap<String, String> {
    let mut texts = std::collections::BTreeMap::new();
    let Ok(boundary) = multer::parse_boundary(content_type) else {
        return texts;
    };
    let stream =
        futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
    let mut form = multer::Multipart::new(stream, boundary);
    while let Ok(Some(field)) = form.next_field().await {
        if field.file_name().is_some() {
            continue;
        }
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        if let Ok(text) = field.text().await {
            texts.insert(name, text);
        }
    }
    texts
}

/// A page's multipart form read once: its text fields as typed (to fill the form again after
/// a refusal; the token's field left out) and the form itself for the API's handler, with the
/// route's body limit.
pub async fn read_multipart(
    request: Request,
) -> Result<
    (
        std::collections::BTreeMap<String, String>,
        crate::edge::extract::Multipart,
    ),
    ApiError,
> {
    use axum::extract::FromRequest;
    let (parts, body) = request.into_parts();
    let bytes = form_body(body, crate::images::UPLOAD_BODY_LIMIT_BYTES).await?;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut texts = multipart_texts(&content_type, bytes.clone()).await;
    texts.remove(FORM_TOKEN_FIELD);
    let form = crate::edge::extract::Multipart::from_request(
        Request::from_parts(parts, axum::body::Body::from(bytes)),
        &(),
    )
    .await?;
    Ok((texts, form))
}

/// A page's form with one file (`file`: a picture, a spreadsheet) read once, bounded by the
/// upload limit: its text fields and the file's bytes, none when the file was left empty (a
/// browser posts an empty part).
pub async fn read_file_form(
    request: Request,
) -> Result<(fields::Fields, Option<axum::body::Bytes>), ApiError> {
    let (fields, mut files) = read_files_form(request).await?;
    Ok((fields, files.remove("file")))
}

/// A page's multipart form read once, bounded by the upload limit (all its files together):
/// its text fields and its files by field name, the ones left empty left out.
pub async fn read_files_form(
    request: Request,
) -> Result<(fields::Fields, BTreeMap<String, axum::body::Bytes>), ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = form_body(request.into_body(), crate::images::UPLOAD_BODY_LIMIT_BYTES).await?;
    let malformed = || {
        ApiError::invalid_field(
            "invalid_input",
            "file",
            "file: 请用表单上传文件 (a multipart form expected)",
        )
    };
    let boundary = multer::parse_boundary(&content_type).map_err(|_| malformed())?;
    let stream =
        futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut texts = Vec::new();
    let mut files = BTreeMap::new();
    while let Some(field) = form.next_field().await.map_err(|_| malformed())? {
        let name = field.name().unwrap_or_default().to_owned();
        if field.file_name().is_some() {
            let bytes = field.bytes().await.map_err(|_| malformed())?;
            if !bytes.is_empty() {
                files.insert(name, bytes);
            }
        } else if name != FORM_TOKEN_FIELD {
            texts.push((name, field.text().await.map_err(|_| malformed())?));
        }
    }
    Ok((fields::Fields::from_pairs(texts), files))
}

/// A request to a plugin's route, as a page makes it.
pub struct PluginRequest<'a> {
    pub method: axum::http::Method,
    pub plugin: &'a str,
    /// The route's path (`/pages/home`).
    pub path: &'a str,
    pub query: BTreeMap<String, String>,
    pub body: axum::body::Bytes,
}

impl<'a> PluginRequest<'a> {
    /// `GET path` of `plugin`, no query.
    pub fn get(plugin: &'a str, path: &'a str) -> PluginRequest<'a> {
        PluginRequest {
            method: axum::http::Method::GET,
            plugin,
            path,
            query: BTreeMap::new(),
            body: axum::body::Bytes::new(),
        }
    }
}

/// Calls a plugin's route as `actor` through the plugin host's own handler (its roles,
/// grants, quotas and answer checks hold, as for the API): the JSON body of a 2xx answer, else
/// the refusal — the kernel's own, or the plugin's (`plugin_refused`, with its status, field
/// and message).
pub async fn call_plugin(
    plugins: &crate::plugins::PluginsState,
    actor: Option<Actor>,
    client: &ClientInfo,
    request: PluginRequest<'_>,
) -> Result<serde_json::Value, ApiError> {
    let PluginRequest {
        method,
        plugin,
        path,
        query,
        body,
    } = request;
    let response = crate::plugins::http::handle(
        axum::extract::State(plugins.clone()),
        crate::accounts::caller::MaybeActor(actor),
        client.clone(),
        method,
        crate::edge::extract::Path((plugin.to_owned(), path.trim_start_matches('/').to_owned())),
        crate::edge::extract::Query(query),
        body,
    )
    .await?;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 4 * 1024 * 1024)
        .await
        .map_err(ApiError::internal)?;
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    if status.is_success() {
        return Ok(value);
    }
    let error = value.get("error");
    let text = |key: &str| {
        error
            .and_then(|e| e.get(key))
            .and_then(serde_json::Value::as_str)
    };
    let mut refusal = ApiError::new(
        status,
        "plugin_refused",
        text("message").unwrap_or_default(),
    );
    refusal.field = text("field").map(str::to_owned);
    Err(refusal)
}

/// Any other path: the API's JSON refusal under `/api`, the theme's 404 page elsewhere.
pub async fn not_found(visit: Visit) -> Page {
    visit.show::<ErrorView>(Err(ApiError::not_found()))
}
/// A posted form's body, at most `limit` bytes (413 `body_too_large` past it).
pub(crate) async fn form_body(
    body: axum::body::Body,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "表单太大 (form too large)",
        )
    })
}
