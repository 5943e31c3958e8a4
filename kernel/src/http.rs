//! The HTTP surface: every route of the application in one place, the middleware stack, the
//! OpenAPI document generated from the handlers, and the `Server` that serves them.

pub mod docs;
pub mod openapi;

use std::time::Duration;

use axum::Json;
use axum::Router;
use std::net::SocketAddr;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use serde::Serialize;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::audit;
use crate::app::AppState;
use crate::catalog::handlers as catalog;
use crate::catalog::library;
use crate::error::{ApiError, ErrorBody};
use crate::{auth, backup, members, notify, orders, pages, regions, settings, staff, uploads};

/// Largest request body accepted (uploads, later, get their own limits).
const BODY_LIMIT_BYTES: usize = 1024 * 1024;
use crate::images::UPLOAD_BODY_LIMIT_BYTES;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(OpenApi)]
#[openapi(
    info(title = "Pifa API", description = "Pifa (批发) wholesale ordering platform. Errors: `{\"error\": {\"code\", \"message\", \"field\"?}}`."),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody, crate::notify::MessageState))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// Every `/api/v1` route, grouped by domain.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        // accounts
        .routes(routes!(auth::send_code))
        .routes(routes!(auth::signup))
        .routes(routes!(auth::login))
        .routes(routes!(auth::reset_password))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        // staff administration and the team directory
        .routes(routes!(staff::list, staff::create))
        .routes(routes!(staff::get, staff::update))
        .routes(routes!(staff::disable))
        .routes(routes!(staff::enable))
        .routes(routes!(staff::reset_password))
        .routes(routes!(staff::team))
        .routes(routes!(staff::team_member))
        // regions
        .routes(routes!(regions::list))
        .routes(routes!(regions::create))
        .routes(routes!(regions::rename))
        // settings
        .routes(routes!(settings::shop))
        .routes(routes!(settings::get, settings::put))
        // messages and audit
        .routes(routes!(notify::list))
        .routes(routes!(notify::retry))
        .routes(routes!(notify::broadcast::create, notify::broadcast::list))
        .routes(routes!(audit::list_logins))
        .routes(routes!(audit::list_operations))
        // members: profile, addresses, review
        .routes(routes!(members::profile::get))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(members::profile::complete))
                .layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT_BYTES)),
        )
        .routes(routes!(
            members::addresses::list,
            members::addresses::create
        ))
        .routes(routes!(
            members::addresses::update,
            members::addresses::delete
        ))
        .routes(routes!(members::addresses::of_member))
        .routes(routes!(members::review::list))
        .routes(routes!(members::review::get))
        .routes(routes!(members::review::approve))
        .routes(routes!(members::review::reject))
        .routes(routes!(members::review::approve_change))
        .routes(routes!(members::review::set_level))
        .routes(routes!(members::review::reject_change))
        .routes(routes!(members::relations::my_invite))
        .routes(routes!(members::relations::my_invite_qr))
        .routes(routes!(members::relations::bind))
        .routes(routes!(members::relations::history))
        .routes(routes!(members::relations::set_credit))
        .routes(routes!(
            members::relations::list_tags,
            members::relations::create_tag
        ))
        .routes(routes!(members::relations::set_tags))
        .routes(routes!(members::relations::add_member))
        .routes(routes!(members::relations::bind_promoter))
        .routes(routes!(members::relations::hand_over))
        .routes(routes!(notify::inbox))
        .routes(routes!(notify::unread))
        .routes(routes!(notify::mark_read))
        .routes(routes!(notify::mark_all_read))
        .routes(routes!(uploads::read))
        // member levels
        .routes(routes!(members::list_levels, members::create_level))
        .routes(routes!(members::update_level))
        // catalogue
        .routes(routes!(catalog::list_categories))
        .routes(routes!(catalog::create_category))
        .routes(routes!(library::update_category, library::delete_category))
        .routes(routes!(catalog::list_brands))
        .routes(routes!(catalog::create_brand))
        .routes(routes!(library::update_brand, library::delete_brand))
        .routes(routes!(catalog::list_units))
        .routes(routes!(catalog::create_unit))
        .routes(routes!(library::list_unit_forms, library::create_unit_form))
        .routes(routes!(library::list_product_tags))
        .routes(routes!(library::create_product_tag))
        .routes(routes!(library::delete_product_tag))
        .routes(routes!(
            library::list_spec_attributes,
            library::create_spec_attribute
        ))
        .routes(routes!(library::update_spec_attribute))
        .routes(routes!(catalog::admin_products, catalog::create_product))
        .routes(routes!(catalog::add_sku))
        .routes(routes!(catalog::get_product, catalog::update_product))
        .routes(routes!(catalog::replace_sku))
        .routes(routes!(catalog::list_products))
        .routes(routes!(catalog::get_shop_product))
        .routes(routes!(catalog::search))
        .routes(routes!(catalog::export))
        .routes(routes!(catalog::supplier_products))
        .routes(routes!(catalog::supplier_product))
        .routes(routes!(catalog::low_stock))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(catalog::add_image))
                .routes(routes!(crate::images::upload_picture))
                .layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT_BYTES)),
        )
        .routes(routes!(catalog::delete_image))
        .routes(routes!(catalog::image))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(catalog::import))
                .layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT_BYTES)),
        )
        // cart and orders
        .routes(routes!(orders::cart::get))
        .routes(routes!(orders::cart::add))
        .routes(routes!(orders::cart::set, orders::cart::remove))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(orders::cart::quick_order))
                .layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT_BYTES)),
        )
        .routes(routes!(orders::checkout::quote))
        .routes(routes!(orders::queries::list, orders::checkout::place))
        .routes(routes!(orders::queries::counts))
        .routes(routes!(orders::queries::figures))
        .routes(routes!(orders::queries::supplier_sales))
        .routes(routes!(orders::queries::get))
        .routes(routes!(orders::queries::export))
        .routes(routes!(orders::cart::reorder))
        .routes(routes!(orders::lifecycle::cancel))
        .routes(routes!(orders::lifecycle::confirm))
        .routes(routes!(orders::lifecycle::reject))
        .routes(routes!(orders::lifecycle::release_hold))
        // fulfilment
        .routes(routes!(orders::fulfilment::dispatch))
        .routes(routes!(orders::fulfilment::change_status))
        .routes(routes!(orders::fulfilment::confirm_receipt))
        .routes(routes!(orders::fulfilment::driver_orders))
        .routes(routes!(orders::fulfilment::start_delivery))
        .routes(routes!(orders::pickup::list))
        .routes(routes!(orders::pickup::create))
        .routes(routes!(orders::pickup::update))
        .routes(routes!(orders::pickup::ready))
        .routes(routes!(orders::pickup::verify))
        .routes(routes!(orders::paper::delivery_note))
        .routes(routes!(orders::paper::picking_list))
        .routes(routes!(orders::after_sales::list))
        .routes(routes!(orders::after_sales::queue))
        .routes(routes!(orders::after_sales::decide))
        .routes(routes!(orders::after_sales::collected))
        .routes(routes!(orders::after_sales::refund))
        .routes(routes!(crate::reviews::of_product))
        .routes(routes!(crate::reviews::queue))
        .routes(routes!(crate::reviews::moderate))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(orders::payments::upload_receipt))
                .routes(routes!(orders::payments::mark_paid))
                .routes(routes!(orders::fulfilment::delivered))
                .routes(routes!(orders::after_sales::request))
                .routes(routes!(crate::reviews::create))
                .layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT_BYTES)),
        )
        // scripts (M4)
        .routes(routes!(
            crate::scripts::admin::get,
            crate::scripts::admin::put
        ))
        .routes(routes!(crate::scripts::admin::history))
        .routes(routes!(crate::scripts::admin::rollback))
        .routes(routes!(
            crate::scripts::admin::get_notifications,
            crate::scripts::admin::put_notifications
        ))
        .routes(routes!(crate::scripts::admin::notifications_history))
        .routes(routes!(crate::scripts::admin::rollback_notifications))
        .routes(routes!(crate::scripts::admin::check))
        .routes(routes!(crate::scripts::admin::check_notifications))
        .routes(routes!(crate::scripts::admin::preview))
        .routes(routes!(crate::scripts::replay::replay))
        // plugins (their own routes are served from their manifests, see `router`)
        .routes(routes!(crate::plugins::http::status))
        .routes(routes!(crate::plugins::manage::put_settings))
        .routes(routes!(crate::plugins::manage::resume))
        // themes (J2)
        .routes(routes!(crate::themes::admin::status))
        // backups
        .routes(routes!(backup::http::list, backup::http::create))
        .routes(routes!(backup::http::download))
        .routes(routes!(backup::http::restore))
}

/// The storefront's pages (HTML from the active theme) and the themes' fingerprinted assets.
/// Page forms post their CSRF token as a field; `pages::forms` hands it to the auth extractor.
fn page_routes() -> Router<AppState> {
    use axum::routing::{get, post};
    Router::new()
        .route("/", get(pages::layouts::home))
        .route("/pages/{*rest}", get(pages::layouts::landing))
        .route("/search", get(pages::shelf::search))
        .route("/categories", get(pages::shelf::list))
        .route("/brands", get(pages::shelf::brands))
        .route("/products/{id}", get(pages::goods::product))
        .route("/products/{id}/cart", post(pages::goods::add_to_cart))
        .route("/products/{id}/buy", post(pages::goods::buy_now))
        .route("/cart", get(pages::cart::show))
        .route("/cart/{sku_id}", post(pages::cart::set))
        .route("/cart/{sku_id}/remove", post(pages::cart::remove))
        .route(
            "/checkout",
            get(pages::checkout::form).post(pages::checkout::place),
        )
        .route("/orders/{id}/placed", get(pages::checkout::placed))
        .route("/orders", get(pages::orders::list))
        .route("/orders/{id}", get(pages::orders::show))
        .route("/orders/{id}/cancel", post(pages::orders::cancel))
        .route("/orders/{id}/receive", post(pages::orders::receive))
        .route("/orders/{id}/reorder", post(pages::orders::reorder))
        .route("/orders/{id}/confirm", post(pages::orders::confirm))
        .route("/orders/{id}/reject", post(pages::orders::reject))
        .route("/orders/{id}/dispatch", post(pages::orders::dispatch))
        .route(
            "/orders/{id}/start-delivery",
            post(pages::orders::start_delivery),
        )
        .route("/orders/{id}/status", post(pages::orders::change_status))
        .route("/orders/{id}/payments", post(pages::orders::mark_paid))
        .route(
            "/orders/{id}/release-hold",
            post(pages::orders::release_hold),
        )
        .route(
            "/orders/{id}/ready-for-pickup",
            post(pages::orders::ready_for_pickup),
        )
        .route("/customers", get(pages::customers::list))
        .route("/supplier/goods", get(pages::supplier::goods))
        .route(
            "/customers/{id}/order",
            get(pages::customers::proxy_order).post(pages::customers::place_proxy_order),
        )
        .route(
            "/members/new",
            get(pages::customers::add_form).post(pages::customers::add),
        )
        .route(
            "/pickup",
            get(pages::orders::pickup_desk).post(pages::orders::hand_over),
        )
        .merge(
            Router::new()
                .route("/orders/{id}/receipt", post(pages::orders::upload_receipt))
                .route(
                    "/orders/{id}/after-sales",
                    post(pages::orders::request_after_sales),
                )
                .route("/orders/{id}/review", post(pages::orders::review))
                .route("/orders/{id}/delivered", post(pages::orders::delivered))
                .route(
                    "/quick-order",
                    get(pages::cart::quick_order_form).post(pages::cart::quick_order),
                )
                .route(
                    "/me/profile",
                    get(pages::account::profile).post(pages::account::save_profile),
                )
                .route("/admin/goods/import", post(pages::office::goods::import))
                .route(
                    "/admin/settings/picture/{field}",
                    post(pages::office::setup::setting_picture),
                )
                .route(
                    "/admin/catalogue/brand/{id}/logo",
                    post(pages::office::goods::brand_logo),
                )
                .route(
                    "/admin/goods/{id}/images",
                    post(pages::office::goods::add_image),
                )
                .layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT_BYTES)),
        )
        .route(
            "/login",
            get(pages::account::form).post(pages::account::sign_in),
        )
        .route("/logout", post(pages::account::sign_out))
        .route(
            "/signup",
            get(pages::account::sign_up_form).post(pages::account::sign_up),
        )
        .route(
            "/forgot",
            get(pages::account::forgot_form).post(pages::account::forgot),
        )
        .route("/me", get(pages::account::me))
        .route(
            "/me/addresses",
            get(pages::addresses::show).post(pages::addresses::create),
        )
        .route("/me/addresses/{id}", post(pages::addresses::update))
        .route(
            "/me/addresses/{id}/default",
            post(pages::addresses::make_default),
        )
        .route("/me/addresses/{id}/delete", post(pages::addresses::delete))
        .route("/me/messages", get(pages::inbox::show))
        // the back office (电脑版总后台), drawn by the office theme
        .route("/admin", get(pages::office::dashboard))
        .route("/admin/orders", get(pages::office::orders))
        .route("/admin/orders/export", post(pages::office::export_orders))
        // long work: its page while it runs and after, and the file it made
        .route("/admin/jobs/{id}", get(pages::office::jobs::job))
        .route("/admin/jobs/{id}/file", get(pages::office::jobs::job_file))
        .route("/admin/after-sales", get(pages::office::after_sales_queue))
        .route(
            "/admin/after-sales/{id}/{action}",
            post(pages::office::after_sales_action),
        )
        .route("/admin/members", get(pages::office::members))
        .route("/admin/members/{id}", get(pages::office::member::member))
        .route(
            "/admin/members/{id}/{decision}",
            post(pages::office::review_member),
        )
        .route("/admin/catalogue", get(pages::office::goods::library))
        .route(
            "/admin/catalogue/{kind}",
            post(pages::office::goods::library_action),
        )
        .route(
            "/admin/catalogue/{kind}/{id}/{action}",
            post(pages::office::goods::library_action),
        )
        .route("/admin/goods", get(pages::office::goods::list))
        .route("/admin/goods/export", post(pages::office::goods::export))
        .route(
            "/admin/goods/new",
            get(pages::office::goods::new_product).post(pages::office::goods::create),
        )
        .route(
            "/admin/goods/{id}",
            get(pages::office::goods::product).post(pages::office::goods::update),
        )
        .route(
            "/admin/goods/{id}/shelf",
            post(pages::office::goods::shelve),
        )
        .route(
            "/admin/goods/{id}/skus",
            post(pages::office::goods::add_sku),
        )
        .route(
            "/admin/goods/{id}/skus/{sku_id}",
            post(pages::office::goods::save_sku),
        )
        .route(
            "/admin/goods/{id}/images/{key}/delete",
            post(pages::office::goods::remove_image),
        )
        .route(
            "/admin/settings",
            get(pages::office::setup::settings).post(pages::office::setup::save_settings),
        )
        .route(
            "/admin/staff",
            get(pages::office::setup::staff).post(pages::office::setup::add_staff),
        )
        .route(
            "/admin/staff/{id}/{action}",
            post(pages::office::setup::staff_action),
        )
        .route(
            "/admin/regions",
            get(pages::office::setup::regions).post(pages::office::setup::save_region),
        )
        .route(
            "/admin/pickup-points",
            post(pages::office::setup::save_point),
        )
        .route("/admin/messages", get(pages::office::messages))
        .route("/admin/plugins", get(pages::office::plugins::plugins))
        .route(
            "/admin/decoration",
            get(pages::office::decoration::home_editor),
        )
        .route(
            "/admin/decoration/{page}",
            get(pages::office::decoration::editor),
        )
        .route(
            "/admin/decoration/{page}/{action}",
            // The section forms carry pictures.
            post(pages::office::decoration::action)
                .layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT_BYTES)),
        )
        .route(
            "/admin/plugins/{name}/{action}",
            post(pages::office::plugins::plugin_action),
        )
        .route("/admin/audit", get(pages::office::audit))
        .route(
            "/admin/backups",
            get(pages::office::backups).post(pages::office::make_backup),
        )
        .route(
            "/admin/backups/{name}/restore",
            post(pages::office::restore_backup),
        )
        .route(
            "/admin/messages/{id}/retry",
            post(pages::office::retry_message),
        )
        .route(
            "/admin/scripts/{rules}",
            get(pages::office::script).post(pages::office::script_action),
        )
        .route(
            "/admin/scripts/{rules}/rollback/{id}",
            post(pages::office::roll_back_script),
        )
        .route("/me/messages/read", post(pages::inbox::read_all))
        // plugins' screens: the phone app's and the back office's
        .route(
            "/p/{plugin}/{*path}",
            get(pages::screens::phone).post(pages::screens::phone_post),
        )
        .route(
            "/admin/p/{plugin}/{*path}",
            get(pages::screens::office).post(pages::screens::office_post),
        )
        .layer(axum::middleware::from_fn(pages::forms))
        .route("/assets/{theme}/{*path}", get(pages::assets::serve))
}

/// A path no route serves: the one JSON refusal under `/api`, the theme's 404 page elsewhere.
async fn fallback(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let path = request.uri().path();
    if path == "/api" || path.starts_with("/api/") {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            "接口不存在 (no such route)",
        )
        .into_response();
    }
    let (mut parts, _) = request.into_parts();
    match <pages::Visit as axum::extract::FromRequestParts<AppState>>::from_request_parts(
        &mut parts, &state,
    )
    .await
    {
        Ok(visit) => pages::not_found(visit).await.into_response(),
        Err(page) => page.into_response(),
    }
}

/// The API routes and their OpenAPI document, completed with the refusals every operation
/// may give (`openapi::complete`).
fn api() -> (Router<AppState>, serde_json::Value) {
    let (router, mut api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api_routes())
        .split_for_parts();
    name_operations(&mut api);
    let mut document = serde_json::to_value(&api).unwrap_or_default();
    openapi::complete(&mut document);
    (router, document)
}

/// Handler names repeat across domains (`list`, `get`), but operation ids must be unique:
/// name each operation by its method and path instead (`get_admin_members_id`).
fn name_operations(api: &mut utoipa::openapi::OpenApi) {
    for (path, item) in api.paths.paths.iter_mut() {
        let words: Vec<&str> = path
            .split('/')
            .filter(|w| !w.is_empty() && *w != "api" && *w != "v1")
            .map(|w| w.trim_matches(|c| c == '{' || c == '}'))
            .collect();
        let slug = words.join("_").replace('-', "_");
        for (method, operation) in [
            ("get", &mut item.get),
            ("post", &mut item.post),
            ("put", &mut item.put),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
        ] {
            if let Some(operation) = operation {
                operation.operation_id = Some(format!("{method}_{slug}"));
            }
        }
    }
}

/// The OpenAPI document, as served at `/api/openapi.json` (without the plugins' routes).
pub fn openapi() -> serde_json::Value {
    api().1
}

/// The kernel's document with the serving plugins' routes added (they change on a reload).
fn with_plugin_routes(api: &serde_json::Value, app: &AppState) -> serde_json::Value {
    let mut document = api.clone();
    let plugin_paths = crate::plugins::http::openapi_paths(&app.plugins);
    if let Some(paths) = document.get_mut("paths").and_then(|p| p.as_object_mut()) {
        paths.extend(plugin_paths);
    }
    document
}

pub fn router(state: AppState) -> Router {
    let (api_router, api) = api();
    let api_json = std::sync::Arc::new(api);
    let request_id = HeaderName::from_static("x-request-id");
    api_router
        .route("/healthz", axum::routing::get(healthz))
        .route("/api/openapi.json", axum::routing::get({
            let api_json = api_json.clone();
            move |State(app): State<AppState>| {
            let api = api_json.clone();
            async move { Json(with_plugin_routes(&api, &app)) }
        }}))
        .route("/api/docs", axum::routing::get({
            let api = api_json.clone();
            move |State(app): State<AppState>| {
                let api = api.clone();
                async move { docs::page(&with_plugin_routes(&api, &app)) }
            }
        }))
        // Plugin routes: matched, role-checked and published from the serving plugins' manifests.
        .route(
            "/api/v1/plugins/{plugin}/{*rest}",
            // A route may take a picture (`Route::picture`); JSON bodies are held to 1 MiB there.
            axum::routing::any(crate::plugins::http::handle).layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT_BYTES)),
        )
        .merge(page_routes())
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    // The path only: query strings may carry personal data.
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                // A 5xx is logged where it arises (`ApiError::internal`, a plugin's failure),
                // with its cause; a line per answer here would let a crowd on a suspended or
                // busy plugin's route write the log full.
                .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG)))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(axum::middleware::map_response(finish_response))
                .layer(CatchPanicLayer::custom(|_| ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()))
                .layer(TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, REQUEST_TIMEOUT))
                .layer(CompressionLayer::new())
                .layer(SetResponseHeaderLayer::overriding(axum::http::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
                // A page may allow this origin to frame it (the editor's preview of a draft).
                .layer(SetResponseHeaderLayer::if_not_present(axum::http::header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"))),
        )
        .with_state(state)
}

/// What every answer carries, whichever layer made it:
/// - an error in the one shape. The framework's own refusals (405 with an empty body, the
///   timeout's 504, a 413 from a body limit) arrive here as plain text or nothing; they are
///   rewritten with a stable code, keeping their status and other headers (`Allow`,
///   `Retry-After`, `X-Content-Type-Options`). A page's refusal is the theme's HTML error
///   page and stays as it is.
/// - `Cache-Control: no-store` unless the handler chose a policy (public product images do):
///   answers carry personal data and prices for one caller, and a shared cache must not keep
///   them.
/// - a Content-Security-Policy on HTML (the printable notes, the theme's pages): only
///   this origin's scripts, images and styles, no framing, no plugins, no base rewriting.
/// - `Referrer-Policy: same-origin`: order and member ids in our URLs stay on our site.
async fn finish_response<B>(response: axum::http::Response<B>) -> axum::response::Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    use axum::http::header;
    let response = response.map(axum::body::Body::new);
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut response = if (status.is_client_error() || status.is_server_error())
        && !content_type.starts_with("application/json")
        && !content_type.starts_with("text/html")
    {
        let (code, message) = framework_error(status);
        // A framework's 5xx (the request timeout) has no handler to log its cause.
        if status.is_server_error() {
            tracing::warn!(%status, code, "answered by the framework");
        }
        let (mut parts, _) = response.into_parts();
        let (error_parts, body) = ApiError::new(status, code, message)
            .into_response()
            .into_parts();
        for name in [
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
            header::CONTENT_ENCODING,
        ] {
            parts.headers.remove(&name);
        }
        parts.headers.extend(error_parts.headers);
        axum::response::Response::from_parts(parts, body)
    } else {
        response
    };
    let headers = response.headers_mut();
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if content_type.starts_with("text/html")
        && !headers.contains_key(header::CONTENT_SECURITY_POLICY)
    {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The policy of every HTML page: nothing from elsewhere (frames only of this origin's pages:
/// the page editor's preview). Inline `<style>` is allowed for the
/// printable notes' own styles; inline scripts are not.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The stable code and message of a refusal the framework made before a handler ran.
fn framework_error(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "此接口不支持该请求方法 (method not allowed; see the Allow header)",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "请求过大 (request body too large)"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "请求体格式不受支持 (unsupported Content-Type)",
        ),
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => (
            "timeout",
            "处理超时，请稍后重试 (the request took too long)",
        ),
        StatusCode::NOT_FOUND => ("route_not_found", "接口不存在 (no such route)"),
        status if status.is_server_error() => ("internal", "服务器内部错误 (internal error)"),
        _ => ("bad_request", "请求无法处理 (bad request)"),
    }
}

#[derive(Serialize, ToSchema)]
struct Health {
    status: &'static str,
    database: &'static str,
}

/// Liveness and database reachability.
async fn healthz(State(app): State<AppState>) -> (StatusCode, Json<Health>) {
    let database = match app.store.backend() {
        crate::store::Backend::Sqlite => "sqlite",
        crate::store::Backend::Postgres => "postgres",
    };
    match app.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                database,
            }),
        ),
        Err(err) => {
            tracing::error!(error = %err, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "database_unavailable",
                    database,
                }),
            )
        }
    }
}

/// A server bound to its port, not yet serving.
pub struct Server {
    listener: TcpListener,
    state: AppState,
    wrap: Option<RouterWrapper>,
}

/// What `Server::wrap_router` puts around the router.
type RouterWrapper = Box<dyn FnOnce(axum::Router) -> axum::Router + Send>;

impl Server {
    pub async fn bind(state: AppState) -> anyhow::Result<Server> {
        let listener = TcpListener::bind(state.config.addr)
            .await
            .with_context(|| format!("binding {}", state.config.addr))?;
        Ok(Server {
            listener,
            state,
            wrap: None,
        })
    }

    /// Serves `wrap(router)` instead of the router itself, outside every layer of it: the e2e
    /// harness checks each answer against the OpenAPI document this way.
    pub fn wrap_router(
        mut self,
        wrap: impl FnOnce(axum::Router) -> axum::Router + Send + 'static,
    ) -> Server {
        self.wrap = Some(Box::new(wrap));
        self
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let background = self.state.spawn_background();
        let mut router = router(self.state.clone());
        if let Some(wrap) = self.wrap {
            router = wrap(router);
        }
        axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;
        for task in background {
            task.abort();
        }
        self.state.store.close().await;
        Ok(())
    }
}
