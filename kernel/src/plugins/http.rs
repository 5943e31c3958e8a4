//! Plugin routes: `/api/v1/plugins/<name>/…` reach the plugin's `handle-http` when its manifest
//! declares the route. The kernel matches the route, checks the caller's roles before the
//! plugin runs, passes who he is and whether he may see prices (B2), and commits the storage
//! writes the hook made after it answers. The routes are published in the OpenAPI document.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use pifa_sdk::{Caller, Hook, HttpRequest, HttpResponse, Route};

use super::{Access, CallError, PluginHost};
use crate::accounts::Role;
use crate::app::AppState;
use crate::catalog::pricing::{Page, PriceView};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::MaybeActor;
use crate::http::extract::{Path, Query};
use crate::store::StoreError;

const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];

/// A declared route is well-formed: a known method, a path of literal and `{param}` segments,
/// known roles.
pub fn check_route(route: &Route) -> Result<(), String> {
    if !METHODS.contains(&route.method.as_str()) {
        return Err(format!(
            "route {} {}: unknown method",
            route.method, route.path
        ));
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
        return Err(format!(
            "route {} {}: a path like /sales/{{id}}",
            route.method, route.path
        ));
    }
    if route.roles.is_empty() {
        return Err(format!("route {} {}: no roles", route.method, route.path));
    }
    if let Some(role) = route
        .roles
        .iter()
        .find(|r| !super::config::ROUTE_ROLES.contains(&r.as_str()))
    {
        return Err(format!(
            "route {} {}: unknown role {role}",
            route.method, route.path
        ));
    }
    Ok(())
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

/// A plugin, or a route of it, that is not serving: the same answer as any unknown route.
fn no_such_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        "接口不存在 (no such route)",
    )
}

/// Any method under `/api/v1/plugins/{plugin}/{*rest}`.
pub async fn handle(
    State(app): State<AppState>,
    MaybeActor(actor): MaybeActor,
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
    let public = route.roles.iter().any(|r| r == "public");
    if !public {
        let Some(actor) = &actor else {
            return Err(ApiError::unauthenticated());
        };
        let allowed = actor
            .roles
            .iter()
            .any(|role| route.roles.iter().any(|r| r == role_name(*role)));
        if !allowed {
            return Err(ApiError::forbidden());
        }
    }
    let sees_prices = matches!(
        PriceView::of(&app.store, actor.as_ref(), Page::List).await,
        Ok(PriceView::Visible { .. })
    );
    let body = if body.is_empty() {
        serde_json::Value::Null
    } else {
        crate::http::json::parse_json(&body)?
    };
    let member = actor
        .as_ref()
        .filter(|a| a.is(Role::Member))
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
        caller: Caller {
            user_id: actor.as_ref().map(|a| a.user_id),
            roles: actor
                .as_ref()
                .map(|a| a.roles.iter().map(|r| role_name(*r).to_owned()).collect())
                .unwrap_or_default(),
            member,
            sees_prices,
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
        Err(CallError::Suspended) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "plugin_suspended",
                format!("插件 {plugin} 因连续出错已暂停 (suspended after repeated failures)"),
            ));
        }
    };
    let response: HttpResponse = serde_json::from_str(&outcome.value).map_err(|e| {
        host.record_failure(
            &loaded,
            Hook::HandleHttp,
            format!("response is not valid: {e}"),
        );
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "plugin_failed",
            format!("插件暂时不可用 (plugin {plugin}: response is not valid)"),
        )
    })?;
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // A refusal (4xx, 5xx) keeps nothing the hook wrote: it is the request failing.
    if status.is_success()
        && !outcome.writes.is_empty()
        && let Some(store) = &host.store
    {
        let total = super::kv::Total::of(&loaded.declared.quota);
        match store
            .commit_plugin_writes(&plugin, &outcome.writes, total, None)
            .await
        {
            Ok(_) => {}
            Err(StoreError::BoundReached(_)) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "changed_meanwhile",
                    "数据刚被他人修改，请重试 (changed meanwhile; retry)",
                ));
            }
            // The plugin's storage is full: its failure (counted), the request's refusal.
            Err(StoreError::QuotaExceeded(reason)) => {
                host.record_failure(&loaded, Hook::HandleHttp, reason.clone());
                return Err(ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "plugin_quota_exceeded",
                    format!("插件 {plugin} 的存储已满，未保存 (nothing stored: {reason})"),
                ));
            }
            Err(other) => return Err(other.into()),
        }
    }
    Ok((status, axum::Json(response.body)).into_response())
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
                    "4XX": { "description": "The plugin's own refusal, or the kernel's: `route_not_found`, `unauthenticated`, `forbidden`, `malformed_json`, `invalid_text`, `body_too_large`, `plugin_refused`, `changed_meanwhile`.", "content": { "application/json": {} } },
                    "5XX": { "description": "The plugin failed or is suspended: `plugin_failed`, `plugin_suspended`; or its storage is full (507 `plugin_quota_exceeded`: the writes would pass its `quota.kv_keys` or `quota.kv_bytes`, nothing of the request is stored).", "content": { "application/json": {} } }
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
            summary: String::new(),
            request_schema: None,
            response_schema: None,
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
        ] {
            let error = check_route(&bad).err().unwrap_or_default();
            assert!(error.contains(named), "{error}");
        }
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

/// The plugins serving, their grants, calls, failures and fuel, the events they fail on, the
/// entries left out for not loading, and the last refused reload (admin).
#[utoipa::path(get, path = "/admin/plugins", tag = "plugins",
    responses((status = 200, body = PluginsStatus)), security(("bearer" = [])))]
pub async fn status(
    State(app): State<AppState>,
    actor: crate::accounts::permissions::Actor,
) -> ApiResult<axum::Json<PluginsStatus>> {
    actor.require(crate::accounts::permissions::Permission::ManageSettings)?;
    let now = app.clock.now_ms();
    let cursors = app.store.plugin_cursors().await?;
    let dead = app.store.dead_plugin_events().await?;
    let usage = app.store.plugin_kv_usage().await?;
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
                suspended_until: (suspended > now).then(|| crate::clock::rfc3339(suspended)),
                last_error: p
                    .stats
                    .last_error
                    .lock()
                    .map(|e| e.clone())
                    .unwrap_or_default(),
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
