//! Plugin routes: `/api/v1/plugins/<name>/…` reach the plugin's `handle-http` when its manifest
//! declares the route. The kernel matches the route, checks the caller's roles before the
//! plugin runs, passes who he is and whether he may see prices (B2), and commits the storage
//! writes the hook made after it answers. The routes are published in the OpenAPI document.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use pifa_sdk::{Caller, Hook, HttpRequest, HttpResponse, Route};

use super::PluginsState;
use super::kv::KvCommitError;
use super::{Access, CallError, PluginHost};
use crate::accounts::Role;
use crate::accounts::caller::MaybeActor;
use crate::accounts::sessions::ClientInfo;
use crate::catalog::pricing::{Page, PriceView};
use crate::edge::extract::{Path, Query};
use crate::error::{ApiError, ApiResult};

const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];

/// The most a JSON body to a plugin route may be (its routes take pictures up to the upload
/// limit, so the router lets those through).
const JSON_BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// A route a manifest declares that cannot be served, naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route {method} {path}: {problem}")]
pub struct RouteError {
    pub method: String,
    pub path: String,
    pub problem: RouteProblem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteProblem {
    #[error("unknown method")]
    Method,
    #[error("a path like /sales/{{id}}")]
    Path,
    #[error("no roles")]
    NoRoles,
    #[error("unknown role {0}")]
    Role(String),
    #[error(
        "shared_seconds {0}: only a public GET route may be shared, for 1 to {MAX_SHARED_SECONDS} seconds"
    )]
    Shared(u32),
    #[error(
        "mount {0:?}: a GET route mounts a page at / or under /pages/ (literal and {{param}} segments)"
    )]
    Mount(String),
    #[error("picture: only a POST route for staff (not public, not member) takes a picture")]
    Picture,
    #[error("screen: only a GET route answers a screen")]
    Screen,
}

/// The longest a shared route's answer is kept (`Route::shared_seconds`).
pub const MAX_SHARED_SECONDS: u32 = 60;

/// Why the kernel refuses a route's answer (the plugin's failure; the client gets 503
/// `plugin_failed`).
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    #[error("response of {bytes} bytes is over the {cap}-byte cap (max_output_kib)")]
    TooLarge { bytes: usize, cap: u64 },
    #[error("response is not valid: {0}")]
    Invalid(#[source] serde_json::Error),
    #[error(
        "status {0} is a redirect, which needs a Location header, and a plugin sets no header (allowed: 200–299, 400–599)"
    )]
    Redirect(u16),
    #[error("status {0} is not one a plugin may answer (allowed: 200–299, 400–599)")]
    Status(u16),
    #[error("status {0} must have no body")]
    BodyNotAllowed(u16),
    #[error(
        "status {status}: {problem}; an error's body is {{\"error\": {{\"code\", \"message\", \"field\"?}}}} (HttpResponse::error)"
    )]
    ErrorBody {
        status: u16,
        problem: ErrorBodyProblem,
    },
}

/// How an error answer's body leaves the kernel's error shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorBodyProblem {
    #[error("the body is not an object with `error` alone")]
    NotAlone,
    #[error("`error` is not an object")]
    NotAnObject,
    #[error("`error.code` is not a string")]
    CodeNotAString,
    #[error(
        "`error.code` {0:?} is not a snake_case code of 1 to 40 characters starting with a letter"
    )]
    UnstableCode(String),
    #[error("`error.message` is not a string")]
    MessageNotAString,
    #[error("`error.field` is not a string")]
    FieldNotAString,
    #[error("`error.{0}` is not part of the shape")]
    Extra(String),
}

/// A declared route is well-formed: a known method, a path of literal and `{param}` segments,
/// known roles.
pub fn check_route(route: &Route) -> Result<(), RouteError> {
    let refused = |problem| RouteError {
        method: route.method.clone(),
        path: route.path.clone(),
        problem,
    };
    if !METHODS.contains(&route.method.as_str()) {
        return Err(refused(RouteProblem::Method));
    }
    let segments_ok = route.path.starts_with('/')
        && route.path.split('/').skip(1).all(|segment| {
            let inner = segment
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .unwrap_or(segment);
            !inner.is_empty()
                && inner
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if !segments_ok {
        return Err(refused(RouteProblem::Path));
    }
    if route.roles.is_empty() {
        return Err(refused(RouteProblem::NoRoles));
    }
    if let Some(role) = route
        .roles
        .iter()
        .find(|r| !super::config::ROUTE_ROLES.contains(&r.as_str()))
    {
        return Err(refused(RouteProblem::Role(role.clone())));
    }
    if let Some(mount) = &route.mount
        && (route.method != "GET" || !super::pages::is_mount(mount))
    {
        return Err(refused(RouteProblem::Mount(mount.clone())));
    }
    if route.picture
        && (route.method != "POST" || route.roles.iter().any(|r| r == "public" || r == "member"))
    {
        return Err(refused(RouteProblem::Picture));
    }
    if route.screen.is_some() && route.method != "GET" {
        return Err(refused(RouteProblem::Screen));
    }
    let shareable = route.method == "GET" && route.roles.iter().any(|r| r == "public");
    if route.shared_seconds > MAX_SHARED_SECONDS || (route.shared_seconds > 0 && !shareable) {
        return Err(refused(RouteProblem::Shared(route.shared_seconds)));
    }
    Ok(())
}

/// What a shared route's answer is kept by: the plugin as loaded (its component and entry),
/// the request, and whether the caller sees prices, which is all the plugin is told of him.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SharedKey {
    loaded_from: [u8; 32],
    path: String,
    query: BTreeMap<String, String>,
    sees_prices: bool,
}

/// A shared route's answer, serialised once, until `expires_at_ms` (kernel clock).
struct SharedAnswer {
    status: StatusCode,
    body: Bytes,
    expires_at_ms: i64,
}

impl SharedAnswer {
    fn response(&self) -> Response {
        (
            self.status,
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            self.body.clone(),
        )
            .into_response()
    }
}

/// Shared routes' answers (`Route::shared_seconds`), kept in the store's rooms: a value a
/// plugin stores (`Change::PluginValues`) clears them, on every instance.
pub struct SharedAnswers {
    answers: moka::sync::Cache<SharedKey, Arc<SharedAnswer>>,
}

impl Default for SharedAnswers {
    fn default() -> Self {
        SharedAnswers {
            answers: moka::sync::Cache::new(1_000),
        }
    }
}

impl crate::store::Room for SharedAnswers {
    fn apply(&self, change: &crate::store::Change) {
        if matches!(
            change,
            crate::store::Change::PluginValues(_) | crate::store::Change::Everything
        ) {
            self.answers.invalidate_all();
        }
    }
}

/// The declared route `path` matches, with its parameters.
fn match_route<'r>(
    routes: &'r [Route],
    method: &str,
    path: &str,
) -> Option<(&'r Route, BTreeMap<String, String>)> {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    routes.iter().find_map(|route| {
        if route.method != method {
            return None;
        }
        let pattern: Vec<&str> = route.path.split('/').skip(1).collect();
        if pattern.len() != parts.len() {
            return None;
        }
        let mut params = BTreeMap::new();
        for (want, got) in pattern.iter().zip(&parts) {
            match want.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    params.insert(name.to_owned(), (*got).to_owned());
                }
                None if want == got => {}
                None => return None,
            }
        }
        Some((route, params))
    })
}

fn role_name(role: Role) -> &'static str {
    role.as_str()
}

/// Whether `actor` may call `route`: anyone a `public` route, a signed-in caller holding one
/// of its roles any other (401 for a visitor, 403 for the others). A route's `member` is a
/// customer of the shop: an account still waiting for review (or refused) is refused
/// `not_approved`, as ordering refuses him, so no plugin's member route serves him before
/// staff approved him. The one check: the route itself asks it before the plugin runs, and
/// the pages ask it before they offer an entry to a plugin's screen (`pages::screens`), so an
/// entry never leads to a refusal of roles.
pub fn admits(
    route: &Route,
    actor: Option<&crate::accounts::permissions::Actor>,
) -> Result<(), ApiError> {
    use crate::accounts::MemberState;
    use crate::accounts::permissions::Permission;
    if route.roles.iter().any(|r| r == "public") {
        return Ok(());
    }
    let Some(actor) = actor else {
        return Err(ApiError::unauthenticated());
    };
    // A member is whoever holds a member's own account; staff are the other roles named.
    let member = Permission::OwnMemberAccount;
    let as_staff = actor
        .roles
        .iter()
        .any(|role| !member.granted_to(*role) && route.roles.iter().any(|r| r == role_name(*role)));
    let as_member = actor.has(member)
        && actor.roles.iter().any(|role| {
            member.granted_to(*role) && route.roles.iter().any(|r| r == role_name(*role))
        });
    let approved = actor.standing.state == Some(MemberState::Approved);
    if as_staff || (as_member && approved) {
        Ok(())
    } else if as_member {
        Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "not_approved",
            "审核通过后可使用 (this opens once your account is approved)",
        ))
    } else {
        Err(ApiError::forbidden())
    }
}

/// The `GET` route of `plugin` that answers a screen (`Route::screen`) at `path`, when the
/// plugin serves routes and `plugins.toml` grants it `screens`; `None` for any other path, so
/// a page never draws a plain JSON route as a screen.
pub fn screen_route<'p>(plugin: &'p super::Loaded, path: &str) -> Option<&'p Route> {
    if !serves_screens(plugin) {
        return None;
    }
    let (route, _) = match_route(&plugin.manifest.routes, "GET", path)?;
    route.screen.is_some().then_some(route)
}

/// Whether `plugin` serves routes and `plugins.toml` grants it `screens` (its load refused a
/// screen route without the grant; this keeps the pages' side of that promise in one place).
fn serves_screens(plugin: &super::Loaded) -> bool {
    plugin.implements(Hook::HandleHttp)
        && plugin
            .declared
            .granted
            .contains(&pifa_sdk::Capability::Screens)
}

/// A screen a page may offer an entry to: a route with no parameters whose `screen` is placed
/// where the page is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenOffer {
    pub plugin: String,
    /// The route's path (`/wallet`).
    pub path: String,
    /// The entry's words, cleaned (`text::from_plugin`).
    pub label: String,
    pub place: pifa_sdk::ScreenPlace,
}

/// The screens placed at one of `places` that `actor`'s roles open (`admits`), in the order of
/// `plugins.toml`, then of each manifest: read from the serving set, so a plugin taken out
/// takes its entries with it. No plugin runs.
pub fn screen_offers(
    set: &super::PluginSet,
    places: &[pifa_sdk::ScreenPlace],
    actor: Option<&crate::accounts::permissions::Actor>,
) -> Vec<ScreenOffer> {
    let mut offers = Vec::new();
    for plugin in set.plugins.iter().filter(|p| serves_screens(p)) {
        for route in &plugin.manifest.routes {
            let Some(entry) = &route.screen else {
                continue;
            };
            // An entry opens a page of its own: a route needing a record's id has none (and
            // a screen route is a GET: `check_route`).
            let fixed = !route.path.contains('{');
            if !fixed || !places.contains(&entry.place) || admits(route, actor).is_err() {
                continue;
            }
            let label = crate::text::from_plugin(&entry.label, crate::text::PluginText::Label);
            if label.is_empty() {
                continue;
            }
            offers.push(ScreenOffer {
                plugin: plugin.name().to_owned(),
                path: route.path.clone(),
                label,
                place: entry.place,
            });
        }
    }
    offers
}

/// A plugin, or a route of it, that is not serving: the same answer as any unknown route.
fn no_such_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        "接口不存在 (no such route)",
    )
}

/// How long a fixed window of route requests lasts.
const WINDOW_MS: i64 = 60_000;

/// Past this many (plugin, client) windows, the ended ones are dropped (at most once a second),
/// so clients that came once do not pile up in memory.
const WINDOWS_BEFORE_PRUNING: usize = 4096;

/// Requests to each plugin's routes per client (`quota.route_requests_per_minute`), counted in
/// memory in fixed one-minute windows: no database write per request, and a crowd is turned
/// away before any plugin code runs. Kept across reloads; an instance counts its own requests
/// (several instances behind one balancer each allow the quota).
#[derive(Default)]
pub struct RouteWindows {
    windows: Mutex<HashMap<(String, String), Window>>,
    pruned_at_ms: AtomicI64,
}

struct Window {
    started_ms: i64,
    count: u32,
}

impl RouteWindows {
    /// Counts a request of `client` to `plugin`'s routes at `now_ms`; past `limit` in the
    /// client's current minute, `Err` with the seconds until it may try again (the refused
    /// request is not counted).
    pub fn hit(&self, plugin: &str, client: &str, limit: u32, now_ms: i64) -> Result<(), i64> {
        let Ok(mut windows) = self.windows.lock() else {
            // A poisoned map only means another request panicked while counting: serve.
            return Ok(());
        };
        if windows.len() > WINDOWS_BEFORE_PRUNING
            && now_ms - self.pruned_at_ms.load(Ordering::Relaxed) > 1000
        {
            windows.retain(|_, w| w.started_ms + WINDOW_MS > now_ms);
            self.pruned_at_ms.store(now_ms, Ordering::Relaxed);
        }
        let window = windows
            .entry((plugin.to_owned(), client.to_owned()))
            .or_insert(Window {
                started_ms: now_ms,
                count: 0,
            });
        if window.started_ms + WINDOW_MS <= now_ms || window.started_ms > now_ms {
            *window = Window {
                started_ms: now_ms,
                count: 0,
            };
        }
        if window.count >= limit {
            let left_ms = window.started_ms + WINDOW_MS - now_ms;
            return Err((left_ms + 999) / 1000);
        }
        window.count += 1;
        Ok(())
    }
}

/// Who a route request counts against: the signed-in user, else the client's address (its
/// IPv4 address, or IPv6 /64, as the sign-in limits count it).
fn client_key(actor: Option<&crate::accounts::permissions::Actor>, client: &ClientInfo) -> String {
    match actor {
        Some(actor) => format!("user:{}", actor.user_id),
        None => format!("addr:{}", client.source()),
    }
}

/// The plugin's HTTP answer checked, or why the kernel refuses it: over the output cap
/// (`max_output_kib`, as every hook's), not valid JSON, a status outside 200–299 and 400–599
/// (a 1xx would need a protocol switch, a 3xx a `Location`, and a plugin sets no header), a
/// body with 204 or 205, or a 4xx/5xx whose body is not the kernel's error shape.
fn check_response(output: &str, cap_bytes: u64) -> Result<HttpResponse, ResponseError> {
    if output.len() as u64 > cap_bytes {
        return Err(ResponseError::TooLarge {
            bytes: output.len(),
            cap: cap_bytes,
        });
    }
    let response: HttpResponse = serde_json::from_str(output).map_err(ResponseError::Invalid)?;
    let status = response.status;
    match status {
        200..=299 | 400..=599 => {}
        300..=399 => return Err(ResponseError::Redirect(status)),
        _ => return Err(ResponseError::Status(status)),
    }
    if matches!(status, 204 | 205) && !response.body.is_null() {
        return Err(ResponseError::BodyNotAllowed(status));
    }
    if status >= 400 {
        check_error_body(&response.body)
            .map_err(|problem| ResponseError::ErrorBody { status, problem })?;
    }
    Ok(response)
}

/// An error body in the kernel's shape: `{"error": {"code", "message", "field"?}}`, the code
/// a stable snake_case word, nothing else beside them.
fn check_error_body(body: &serde_json::Value) -> Result<(), ErrorBodyProblem> {
    let top = body
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or(ErrorBodyProblem::NotAlone)?;
    let error = top
        .get("error")
        .and_then(|e| e.as_object())
        .ok_or(ErrorBodyProblem::NotAnObject)?;
    let code = error
        .get("code")
        .and_then(|c| c.as_str())
        .ok_or(ErrorBodyProblem::CodeNotAString)?;
    if !crate::text::is_stable_code(code) {
        return Err(ErrorBodyProblem::UnstableCode(code.to_owned()));
    }
    if !error.get("message").is_some_and(|m| m.is_string()) {
        return Err(ErrorBodyProblem::MessageNotAString);
    }
    if error.get("field").is_some_and(|f| !f.is_string()) {
        return Err(ErrorBodyProblem::FieldNotAString);
    }
    if let Some(other) = error
        .keys()
        .find(|k| !matches!(k.as_str(), "code" | "message" | "field"))
    {
        return Err(ErrorBodyProblem::Extra(other.clone()));
    }
    Ok(())
}

/// 503 `plugin_suspended`: it failed `suspend_after` times in a row and rests.
fn suspended(plugin: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "plugin_suspended",
        format!("插件 {plugin} 因连续出错已暂停 (suspended after repeated failures)"),
    )
}

/// 503 `plugin_busy`: no call slot for the plugin now; a second later there may be.
fn busy(reason: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "plugin_busy",
        format!("插件繁忙，请稍后再试 ({reason})"),
    )
    .with_retry_after(1)
}

/// Any method under `/api/v1/plugins/{plugin}/{*rest}`.
pub async fn handle(
    State(app): State<PluginsState>,
    MaybeActor(actor): MaybeActor,
    client: ClientInfo,
    method: Method,
    Path((plugin, rest)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> ApiResult<Response> {
    let host = app.plugins.clone();
    let set = host.current();
    let loaded = set
        .named(&plugin)
        .filter(|p| p.implements(Hook::HandleHttp))
        .cloned()
        .ok_or_else(no_such_route)?;
    let path = format!("/{rest}");
    let (route, params) =
        match_route(&loaded.manifest.routes, method.as_str(), &path).ok_or_else(no_such_route)?;
    admits(route, actor.as_ref())?;
    let sees_prices = matches!(
        PriceView::of(&app.store, actor.as_ref(), Page::List).await,
        Ok(PriceView::Visible { .. })
    );
    // A shared route's kept answer costs nothing: no call, no quota.
    let shared = (route.shared_seconds > 0).then(|| SharedKey {
        loaded_from: loaded.loaded_from,
        path: path.clone(),
        query: query.clone(),
        sees_prices,
    });
    let answers = app.store.room::<SharedAnswers>();
    if let Some(key) = &shared
        && let Some(answer) = answers.answers.get(key)
        && answer.expires_at_ms > app.clock.now_ms()
    {
        return Ok(answer.response());
    }
    let read_at = app.store.generation().current();
    // Before anything costs the shop a query or the plugin a call.
    let limit = loaded.declared.quota.route_requests_per_minute;
    if let Err(retry_after) = host.route_windows.hit(
        &plugin,
        &client_key(actor.as_ref(), &client),
        limit,
        app.clock.now_ms(),
    ) {
        return Err(ApiError::too_many(
            "rate_limited",
            format!(
                "请求过于频繁，请稍后再试 (over {limit} requests a minute to plugin {plugin}'s routes, quota.route_requests_per_minute)"
            ),
            retry_after,
        ));
    }
    // A crowd on a suspended or busy plugin is turned away before its request costs a query.
    if loaded.stats.is_suspended(app.clock.now_ms()) {
        return Err(suspended(&plugin));
    }
    if loaded.share.others_full() {
        loaded.stats.busy.fetch_add(1, Ordering::Relaxed);
        return Err(busy(&format!(
            "plugin {plugin}: its share of {} concurrent calls (quota.concurrent_calls) is in use",
            loaded.share.size()
        )));
    }
    let body = if route.picture {
        // The picture is checked and stored as the shop's others are; the plugin gets where
        // it is served, never the bytes. Roles were checked above, and a picture route is
        // for staff only, so there is an actor.
        let owner = actor.as_ref().ok_or_else(ApiError::unauthenticated)?;
        let stored = crate::images::keep_picture(&app.shop, owner.user_id, body, "picture").await?;
        serde_json::to_value(pifa_sdk::Picture { url: stored.url }).map_err(ApiError::internal)?
    } else if body.is_empty() {
        serde_json::Value::Null
    } else if body.len() > JSON_BODY_LIMIT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("请求过大 (over {JSON_BODY_LIMIT_BYTES} bytes)"),
        ));
    } else {
        crate::edge::json::parse_json(&body)?
    };
    let member = actor
        .as_ref()
        .filter(|a| a.has(crate::accounts::permissions::Permission::OwnMemberAccount))
        .map(|a| pifa_sdk::Buyer {
            member_id: a.user_id,
            level_id: a.standing.level_id,
            region_id: a.region_ids.iter().next().copied(),
        });
    let request = HttpRequest {
        method: method.as_str().to_owned(),
        route: route.path.clone(),
        params,
        query,
        body,
        // A shared route is told nothing of the caller but whether he sees prices, so its
        // answer cannot be one person's.
        caller: if shared.is_some() {
            Caller {
                sees_prices,
                ..Caller::default()
            }
        } else {
            Caller {
                user_id: actor.as_ref().map(|a| a.user_id),
                roles: actor
                    .as_ref()
                    .map(|a| a.roles.iter().map(|r| role_name(*r).to_owned()).collect())
                    .unwrap_or_default(),
                member,
                sees_prices,
            }
        },
        now_ms: app.clock.now_ms(),
        settings: loaded.declared.settings.clone(),
    };
    let json = serde_json::to_string(&request).map_err(ApiError::internal)?;
    let cap = set.runtime.limits.max_input_kib.saturating_mul(1024);
    if json.len() as u64 > cap {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("请求过大 (over {cap} bytes)"),
        ));
    }
    let call_host: Arc<PluginHost> = host.clone();
    let call_set = set.clone();
    let call_plugin = loaded.clone();
    let called = tokio::task::spawn_blocking(move || {
        call_host.call(
            &call_set.runtime,
            &call_plugin,
            Hook::HandleHttp,
            0,
            Access::Buffered,
            |instance, store| instance.call_handle_http(store, &json),
        )
    })
    .await
    .map_err(ApiError::internal)?;
    let outcome = match called {
        Ok(outcome) => outcome,
        Err(CallError::Refused { code, message }) => {
            host.record_success(&loaded, Hook::HandleHttp);
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "plugin_refused",
                format!("{message} ({plugin} {code})"),
            ));
        }
        Err(CallError::Failed(reason)) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "plugin_failed",
                format!("插件暂时不可用 ({reason})"),
            ));
        }
        Err(CallError::Suspended) => return Err(suspended(&plugin)),
        Err(CallError::Busy(reason)) => return Err(busy(&reason)),
    };
    let cap = set.runtime.limits.max_output_kib.saturating_mul(1024);
    let response = check_response(&outcome.value, cap).map_err(|reason| {
        let failed = host.record_failure(&loaded, Hook::HandleHttp, reason);
        let reason = match failed {
            CallError::Failed(reason) => reason,
            _ => format!("plugin {plugin}: its response was refused"),
        };
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "plugin_failed",
            format!("插件暂时不可用 ({reason})"),
        )
    })?;
    // `check_response` let only 200–299 and 400–599 through.
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // A refusal (4xx, 5xx) keeps nothing the hook wrote: it is the request failing.
    if status.is_success()
        && !outcome.writes.is_empty()
        && let Some(store) = &host.store
    {
        let total = super::kv::Total::of(&loaded.declared.quota);
        match store
            .plugins()
            .commit_plugin_writes(&plugin, &outcome.writes, total, None)
            .await
        {
            Ok(_) => {}
            Err(KvCommitError::CounterBounds) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "changed_meanwhile",
                    "数据刚被他人修改，请重试 (changed meanwhile; retry)",
                ));
            }
            // The plugin's storage is full: its failure (counted), the request's refusal.
            Err(over @ KvCommitError::OverQuota { .. }) => {
                let reason = over.to_string();
                host.record_failure(&loaded, Hook::HandleHttp, reason.clone());
                return Err(ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "plugin_quota_exceeded",
                    format!("插件 {plugin} 的存储已满，未保存 (nothing stored: {reason})"),
                ));
            }
            Err(KvCommitError::Store(other)) => return Err(other.into()),
        }
    }
    host.record_success(&loaded, Hook::HandleHttp);
    if matches!(response.status, 204 | 205) {
        return Ok(status.into_response());
    }
    let answer = SharedAnswer {
        status,
        body: serde_json::to_vec(&response.body)
            .map_err(ApiError::internal)?
            .into(),
        expires_at_ms: app
            .clock
            .now_ms()
            .saturating_add(i64::from(route.shared_seconds) * 1000),
    };
    let response = answer.response();
    // Its refusals too (a page not published yet is asked for on every homepage view): a
    // shared route's answer is everyone's by its declaration; only a failure is not kept.
    if let Some(key) = shared
        && !status.is_server_error()
    {
        app.store
            .generation()
            .keep(&answers.answers, key, Arc::new(answer), read_at);
    }
    Ok(response)
}

/// The serving plugins' routes as OpenAPI path items, merged into the kernel's document.
pub fn openapi_paths(host: &PluginHost) -> serde_json::Map<String, serde_json::Value> {
    let mut paths = serde_json::Map::new();
    for plugin in &host.current().plugins {
        for route in &plugin.manifest.routes {
            let path = format!("/api/v1/plugins/{}{}", plugin.name(), route.path);
            let parameters: Vec<serde_json::Value> = route
                .path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(|name| serde_json::json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
                .collect();
            let mut operation = serde_json::json!({
                "tags": [format!("plugin:{}", plugin.name())],
                "summary": route.summary,
                "operationId": format!("plugin_{}_{}_{}", plugin.name(), route.method.to_lowercase(), route.path.replace(['/', '{', '}', '-'], "_")),
                "parameters": parameters,
                "description": format!("Roles: {}", route.roles.join(", ")),
                // The plugin chooses its statuses (a 2xx with its response schema, or its own
                // refusals); the kernel's own refusals of a plugin call are listed by code.
                "responses": {
                    "2XX": { "description": "OK", "content": { "application/json": { "schema": route.response_schema.clone().unwrap_or(serde_json::json!({})) } } },
                    "4XX": { "description": "The plugin's own refusal, or the kernel's: `route_not_found`, `unauthenticated`, `forbidden`, `malformed_json`, `invalid_text`, `body_too_large`, `plugin_refused`, `changed_meanwhile`, `rate_limited` (with `Retry-After`: over `quota.route_requests_per_minute` from one client). The plugin's own refusals are in the error shape too (the kernel refuses any other).", "content": { "application/json": {} } },
                    "5XX": { "description": "The plugin failed (a trap, a limit, its deadline, or an answer the kernel refuses: over the output cap, a 1xx or 3xx status, a body with 204, an error not in the error shape), is suspended, or is busy: `plugin_failed`, `plugin_suspended`, `plugin_busy` (with `Retry-After`: its share of concurrent calls is in use); or its storage is full (507 `plugin_quota_exceeded`: the writes would pass its `quota.kv_keys` or `quota.kv_bytes`, nothing of the request is stored).", "content": { "application/json": {} } }
                },
            });
            if let (Some(schema), Some(object)) = (&route.request_schema, operation.as_object_mut())
            {
                object.insert(
                    "requestBody".to_owned(),
                    serde_json::json!({ "content": { "application/json": { "schema": schema } } }),
                );
            }
            if !route.roles.iter().any(|r| r == "public")
                && let Some(object) = operation.as_object_mut()
            {
                object.insert("security".to_owned(), serde_json::json!([{ "bearer": [] }]));
            }
            let item = paths
                .entry(path)
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if let Some(item) = item.as_object_mut() {
                item.insert(route.method.to_lowercase(), operation);
            }
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str) -> Route {
        Route {
            method: method.to_owned(),
            path: path.to_owned(),
            roles: vec!["admin".to_owned()],
            ..Route::default()
        }
    }

    #[test]
    fn routes_match_by_method_literal_segments_and_parameters() {
        let routes = [
            route("GET", "/sales"),
            route("PUT", "/sales/{id}"),
            route("POST", "/sales/{id}/end"),
        ];
        assert!(match_route(&routes, "GET", "/sales").is_some());
        let (found, params) =
            match_route(&routes, "PUT", "/sales/7").unwrap_or((&routes[0], BTreeMap::new()));
        assert_eq!(found.path, "/sales/{id}");
        assert_eq!(params.get("id").map(String::as_str), Some("7"));
        assert!(match_route(&routes, "POST", "/sales/7/end").is_some());
        assert!(match_route(&routes, "DELETE", "/sales/7").is_none());
        assert!(match_route(&routes, "GET", "/sales/7/end/x").is_none());
    }

    #[test]
    fn malformed_routes_are_named() {
        for (bad, named) in [
            (route("PATCH", "/a"), "method"),
            (route("GET", "a"), "path"),
            (route("GET", "/a/../b"), "path"),
            (
                Route {
                    roles: vec!["owner".to_owned()],
                    ..route("GET", "/a")
                },
                "role owner",
            ),
            // Only a public GET may be shared (its answer goes to everyone), for at most a
            // minute.
            (
                Route {
                    shared_seconds: 5,
                    ..route("GET", "/a")
                },
                "shared_seconds 5",
            ),
            (
                Route {
                    shared_seconds: 5,
                    roles: vec!["public".to_owned()],
                    ..route("POST", "/a")
                },
                "shared_seconds 5",
            ),
            (
                Route {
                    shared_seconds: 61,
                    roles: vec!["public".to_owned()],
                    ..route("GET", "/a")
                },
                "shared_seconds 61",
            ),
            // A screen is a page to open: a GET.
            (
                Route {
                    screen: Some(pifa_sdk::ScreenEntry {
                        label: "积分".to_owned(),
                        place: pifa_sdk::ScreenPlace::Mine,
                    }),
                    ..route("POST", "/a")
                },
                "screen",
            ),
        ] {
            let error = check_route(&bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.contains(named), "{error}");
        }
    }

    fn actor(roles: &[Role]) -> crate::accounts::permissions::Actor {
        crate::accounts::permissions::Actor {
            user_id: 1,
            roles: roles.iter().copied().collect(),
            region_ids: Default::default(),
            standing: crate::accounts::permissions::Standing {
                state: None,
                level_id: None,
            },
        }
    }

    #[test]
    fn a_route_admits_anyone_if_public_else_the_roles_it_names() {
        let public = Route {
            roles: vec!["public".to_owned()],
            ..route("GET", "/mall")
        };
        let staff = Route {
            roles: vec!["admin".to_owned(), "customer_service".to_owned()],
            ..route("GET", "/office")
        };
        assert!(admits(&public, None).is_ok());
        assert!(admits(&public, Some(&actor(&[Role::Member]))).is_ok());
        let status = |r: Result<(), ApiError>| r.err().map(|e| e.status);
        assert_eq!(status(admits(&staff, None)), Some(StatusCode::UNAUTHORIZED));
        assert_eq!(
            status(admits(&staff, Some(&actor(&[Role::Member])))),
            Some(StatusCode::FORBIDDEN)
        );
        assert!(admits(&staff, Some(&actor(&[Role::Driver, Role::CustomerService]))).is_ok());
    }

    #[test]
    fn responses_outside_the_contract_are_refused_naming_why() {
        let cap = 1024;
        let ok = [
            r#"{"status":200,"body":{"ok":true}}"#,
            r#"{"status":204}"#,
            r#"{"status":201,"body":[1]}"#,
            r#"{"status":422,"body":{"error":{"code":"invalid_window","message":"m","field":"ends_at_ms"}}}"#,
            r#"{"status":503,"body":{"error":{"code":"sold_out","message":"m"}}}"#,
        ];
        for output in ok {
            assert!(check_response(output, cap).is_ok(), "{output}");
        }
        let big = format!(r#"{{"status":200,"body":"{}"}}"#, "x".repeat(2000));
        // One rule for a code wherever a plugin's code reaches a client (`text::is_stable_code`).
        let long_code = format!(
            r#"{{"status":409,"body":{{"error":{{"code":"{}","message":"m"}}}}}}"#,
            "a".repeat(41)
        );
        let refused = [
            (big.as_str(), "over the 1024-byte cap"),
            ("not json", "not valid"),
            (r#"{"status":999}"#, "status 999 is not one"),
            (r#"{"status":101}"#, "status 101 is not one"),
            (r#"{"status":199}"#, "status 199"),
            (r#"{"status":302,"body":null}"#, "redirect"),
            (r#"{"status":304}"#, "redirect"),
            (r#"{"status":204,"body":{"a":1}}"#, "must have no body"),
            (r#"{"status":205,"body":""}"#, "must have no body"),
            (
                r#"{"status":400,"body":{"message":"nope"}}"#,
                "an error's body is",
            ),
            (r#"{"status":500,"body":"boom"}"#, "not an object"),
            (
                r#"{"status":400,"body":{"error":{"code":"Bad Code","message":"m"}}}"#,
                "snake_case",
            ),
            (&long_code, "snake_case"),
            (
                r#"{"status":400,"body":{"error":{"code":"a","message":1}}}"#,
                "error.message",
            ),
            (
                r#"{"status":400,"body":{"error":{"code":"a","message":"m","html":"<b>"}}}"#,
                "error.html",
            ),
            (
                r#"{"status":400,"body":{"error":{"code":"a","message":"m"},"extra":1}}"#,
                "`error` alone",
            ),
        ];
        for (output, named) in refused {
            let error = check_response(output, cap)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.contains(named), "{output}: {error}");
        }
    }

    #[test]
    fn route_requests_are_counted_per_plugin_and_client_in_one_minute_windows() {
        let windows = RouteWindows::default();
        for _ in 0..3 {
            assert_eq!(windows.hit("p", "addr:1.2.3.4", 3, 1_000), Ok(()));
        }
        assert_eq!(windows.hit("p", "addr:1.2.3.4", 3, 1_500), Err(60));
        assert_eq!(windows.hit("p", "addr:1.2.3.4", 3, 60_001), Err(1));
        assert_eq!(
            windows.hit("p", "addr:5.6.7.8", 3, 1_500),
            Ok(()),
            "another client"
        );
        assert_eq!(
            windows.hit("q", "addr:1.2.3.4", 3, 1_500),
            Ok(()),
            "another plugin"
        );
        assert_eq!(
            windows.hit("p", "addr:1.2.3.4", 3, 61_000),
            Ok(()),
            "a new minute"
        );
    }
}

/// One serving plugin, as staff see it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PluginStatus {
    pub name: String,
    pub version: String,
    pub hooks: Vec<String>,
    pub capabilities: Vec<String>,
    pub routes: Vec<String>,
    pub calls: u64,
    pub failures: u64,
    pub fuel_p50: u64,
    pub fuel_p99: u64,
    /// Wall time per call in ms, host calls included (for quote and checkout, the wait for a
    /// call slot too), at the 50th percentile of the recent calls …
    pub wall_ms_p50: f64,
    /// … and at the 99th.
    pub wall_ms_p99: f64,
    /// Calls not made because its share of concurrent calls was in use (`plugin_busy`).
    pub busy: u64,
    /// Its share of concurrent calls (`quota.concurrent_calls`).
    pub concurrent_calls: u32,
    /// RFC 3339; set while the plugin is suspended after repeated failures.
    pub suspended_until: Option<String>,
    pub last_error: String,
    /// What `plugins.toml` grants it besides its host interfaces.
    pub grants: GrantsView,
    /// Events parked as dead after failing every attempt (never delivered; staff were told).
    pub events_dead: u64,
    /// The event its `on-event` failed on, waiting for its next attempt; its later events wait
    /// behind it.
    pub event_retry: Option<EventRetry>,
    /// Its key-value namespace against its quota.
    pub storage: PluginStorage,
    /// Its settings from `plugins.toml` …
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    /// … and the JSON schema its manifest declares for them (none: it takes none).
    #[schema(value_type = Option<Object>)]
    pub settings_schema: Option<serde_json::Value>,
}

/// A plugin's grants in `plugins.toml`, as staff see them.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct GrantsView {
    /// Event kinds it may receive (`*`: all).
    pub events: Vec<String>,
    /// Data classes its events may carry (`people`, `amounts`, `payment`).
    pub data: Vec<String>,
    /// Roles its routes may serve.
    pub route_roles: Vec<String>,
    /// Staff its messages may reach.
    pub notify_to: Vec<String>,
}

impl GrantsView {
    pub fn of(grants: &super::config::Grants) -> GrantsView {
        GrantsView {
            events: grants.events.clone(),
            data: grants.data.iter().map(|c| c.as_str().to_owned()).collect(),
            route_roles: grants.route_roles.clone(),
            notify_to: grants
                .notify_to
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
        }
    }
}

/// An event a plugin failed on, waiting for its next attempt.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct EventRetry {
    pub event_id: i64,
    /// Failed attempts so far.
    pub attempts: i64,
    /// RFC 3339: not tried again before this.
    pub next_attempt_at: String,
    pub last_error: String,
}

impl EventRetry {
    /// The retry `cursor` records, if an event waits for one.
    pub fn of(cursor: &super::events::Cursor) -> Option<EventRetry> {
        cursor.failed_event_id.map(|event_id| EventRetry {
            event_id,
            attempts: cursor.attempts,
            next_attempt_at: crate::clock::rfc3339(cursor.retry_at),
            last_error: cursor.last_error.clone(),
        })
    }
}

/// What a plugin's namespace holds, and what `plugins.toml` lets it hold (`quota.kv_keys`,
/// `quota.kv_bytes`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PluginStorage {
    pub keys: i64,
    pub bytes: i64,
    pub keys_quota: u64,
    pub bytes_quota: u64,
}

/// An entry of `plugins.toml` that does not load, left out while the others serve.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RefusedPlugin {
    /// Its name in `plugins.toml` (`#N` for the Nth entry when it has no valid name).
    pub name: String,
    /// `wasm` or `native`.
    pub kind: String,
    /// Why it does not load.
    pub reason: String,
}

/// The plugins serving now, the entries of the same file left out, and why the last reload
/// was refused (if it was).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PluginsStatus {
    pub plugins: Vec<PluginStatus>,
    /// Entries of the serving `plugins.toml` that do not load (fixing one reloads it).
    pub refused: Vec<RefusedPlugin>,
    /// The previous set kept serving because of this.
    pub reload_error: Option<String>,
}

/// The plugins serving, their grants, calls, failures, fuel and time per call, the events they
/// fail on, the entries left out for not loading, and the last refused reload (admin).
#[utoipa::path(get, path = "/admin/plugins", tag = "plugins",
    responses((status = 200, body = PluginsStatus)), security(("bearer" = [])))]
pub async fn status(
    State(app): State<PluginsState>,
    actor: crate::accounts::permissions::Actor,
) -> ApiResult<axum::Json<PluginsStatus>> {
    actor.require(crate::accounts::permissions::Permission::ManageSettings)?;
    let now = app.clock.now_ms();
    let (dead, cursors) = app.store.plugins().event_state().await?;
    let usage = app.store.plugins().plugin_kv_usage().await?;
    let set = app.plugins.current();
    let refused = set
        .refused
        .iter()
        .map(|r| RefusedPlugin {
            name: r.name.clone(),
            kind: r.kind.as_str().to_owned(),
            reason: r.reason.clone(),
        })
        .collect();
    let plugins = set
        .plugins
        .iter()
        .map(|p| {
            let used = usage.get(p.name()).copied().unwrap_or_default();
            let (fuel_p50, fuel_p99) = p.stats.fuel_percentiles();
            let (wall_p50, wall_p99) = p.stats.wall_us_percentiles();
            let suspended = p
                .stats
                .suspended_until
                .load(std::sync::atomic::Ordering::Relaxed);
            PluginStatus {
                name: p.name().to_owned(),
                version: p.manifest.version.clone(),
                hooks: p
                    .manifest
                    .hooks
                    .iter()
                    .map(|h| h.as_str().to_owned())
                    .collect(),
                capabilities: p
                    .declared
                    .granted
                    .iter()
                    .map(|c| c.as_str().to_owned())
                    .collect(),
                routes: p
                    .manifest
                    .routes
                    .iter()
                    .map(|r| format!("{} /api/v1/plugins/{}{}", r.method, p.name(), r.path))
                    .collect(),
                calls: p.stats.calls.load(std::sync::atomic::Ordering::Relaxed),
                failures: p.stats.failures.load(std::sync::atomic::Ordering::Relaxed),
                fuel_p50,
                fuel_p99,
                wall_ms_p50: wall_p50 as f64 / 1000.0,
                wall_ms_p99: wall_p99 as f64 / 1000.0,
                busy: p.stats.busy.load(std::sync::atomic::Ordering::Relaxed),
                concurrent_calls: p.share.size(),
                suspended_until: (suspended > now).then(|| crate::clock::rfc3339(suspended)),
                last_error: p.stats.last_error(),
                grants: GrantsView::of(&p.declared.grants),
                events_dead: dead
                    .iter()
                    .find(|(name, _)| name == p.name())
                    .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0)),
                event_retry: cursors
                    .iter()
                    .find(|c| c.plugin == p.name())
                    .and_then(EventRetry::of),
                storage: PluginStorage {
                    keys: used.keys,
                    bytes: used.bytes,
                    keys_quota: p.declared.quota.kv_keys,
                    bytes_quota: p.declared.quota.kv_bytes,
                },
                settings: p.declared.settings.clone(),
                settings_schema: p.manifest.settings_schema.clone(),
            }
        })
        .collect();
    let reload_error = app.plugins.last_error.lock().ok().and_then(|e| e.clone());
    Ok(axum::Json(PluginsStatus {
        plugins,
        refused,
        reload_error,
    }))
}
