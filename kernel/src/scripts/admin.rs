//! Scripts through the admin API (M4): read, write (validated, then written atomically so the
//! watcher sees a whole file), history with who, when and the diff, rollback, and a preview
//! that prices a cart with a draft before anyone saves it. The files stay the truth.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use utoipa::ToSchema;

use super::Rules;
use super::ScriptsState;
use super::pricing::{self, ScriptStep};
use crate::accounts::permissions::{Actor, Permission};
use crate::clock::rfc3339;
use crate::edge::extract::Path;
use crate::edge::json::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::orders::DeliveryMethod;
use crate::orders::quote::{self, Buyer, LineRequest, Quote, QuoteRequest};
use crate::store::{StoreResult, on_pool};

/// The pricing script as it is on disk and as it serves.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScriptView {
    pub file: String,
    pub source: String,
    /// The version serving (the first 12 hex digits of its SHA-256), if any.
    pub serving_version: Option<String>,
    /// Why the file on disk is not serving (the previous version is), if it is not.
    pub error: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptInput {
    pub source: String,
    /// Why (kept in the history).
    #[serde(default)]
    pub note: String,
}

/// A draft to check.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftInput {
    pub source: String,
}

/// What checking a draft found: the version it would serve as, or why it would be refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScriptCheck {
    /// The draft's version (12 hex digits) when it passes.
    pub version: Option<String>,
    pub problem: Option<CheckProblem>,
}

/// Why a draft would be refused, at the line and column Rhai names (when it knows them).
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckProblem {
    /// The whole reason, starting with `pricing.rhai:LINE:COLUMN` where the place is known.
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// One saved version.
#[derive(Debug, Clone, Serialize, ToSchema, FromRow)]
pub struct ScriptVersion {
    pub id: i64,
    pub file: String,
    pub author_id: Option<i64>,
    pub note: String,
    /// What changed from the file before, as a unified diff.
    pub diff: String,
    #[serde(skip)]
    pub source: String,
    #[serde(skip)]
    pub created_at: i64,
    #[sqlx(skip)]
    pub at: String,
}

/// A refused script: 422 `script_invalid` on `source`, naming `pricing.rhai:LINE:COLUMN`.
pub(super) fn script_invalid(error: impl std::fmt::Display) -> ApiError {
    ApiError::invalid_field("script_invalid", "source", format!("source: {error}"))
}

impl super::ScriptStore<'_> {
    async fn record_script_version(
        self,
        rules: Rules,
        source: &str,
        diff: &str,
        author_id: i64,
        note: &str,
        now_ms: i64,
    ) -> StoreResult<i64> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO script_versions (file, source, diff, author_id, note, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(rules.file())
            .bind(source)
            .bind(diff)
            .bind(author_id)
            .bind(note)
            .bind(now_ms)
            .fetch_one(pool)
            .await
        })?)
    }

    pub async fn script_versions(
        self,
        rules: Rules,
        limit: i64,
    ) -> StoreResult<Vec<ScriptVersion>> {
        let mut rows: Vec<ScriptVersion> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, file, author_id, note, diff, source, created_at FROM script_versions WHERE file = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(rules.file())
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        for row in &mut rows {
            row.at = rfc3339(row.created_at);
        }
        Ok(rows)
    }

    /// The source of saved version `id` of `rules`.
    async fn script_source(self, rules: Rules, id: i64) -> StoreResult<Option<String>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT source FROM script_versions WHERE file = $1 AND id = $2")
                .bind(rules.file())
                .bind(id)
                .fetch_optional(pool)
                .await
        })?)
    }
}

/// Checks `source`, writes it atomically over the file, records the version and reloads.
async fn save(
    app: &ScriptsState,
    actor: &Actor,
    rules: Rules,
    source: &str,
    note: &str,
) -> ApiResult<Json<ScriptView>> {
    rules
        .check(&app.scripts.engine, source)
        .map_err(script_invalid)?;
    let note = crate::accounts::parse_text(note, "note", 200)?;
    let path = app.scripts.path(rules);
    let before = std::fs::read_to_string(&path).unwrap_or_default();
    let diff = similar::TextDiff::from_lines(before.as_str(), source)
        .unified_diff()
        .header(
            &format!("{} (before)", rules.file()),
            &format!("{} (after)", rules.file()),
        )
        .to_string();
    std::fs::create_dir_all(&app.scripts.dir).map_err(ApiError::internal)?;
    crate::watch::replace_file(&path, source.as_bytes()).map_err(ApiError::internal)?;
    app.store
        .scripts()
        .record_script_version(
            rules,
            source,
            &diff,
            actor.user_id,
            &note,
            app.clock.now_ms(),
        )
        .await?;
    let host = app.scripts.clone();
    tokio::task::spawn_blocking(move || host.reload())
        .await
        .map_err(ApiError::internal)?
        .map_err(script_invalid)?;
    view(app, rules)
}

fn view(app: &ScriptsState, rules: Rules) -> ApiResult<Json<ScriptView>> {
    let source = std::fs::read_to_string(app.scripts.path(rules)).unwrap_or_default();
    Ok(Json(ScriptView {
        file: rules.file().to_owned(),
        source,
        serving_version: app
            .scripts
            .serving(rules)
            .load_full()
            .map(|c| c.version.clone()),
        error: app.scripts.last_error.lock().ok().and_then(|e| e.clone()),
    }))
}

/// Puts saved version `id` of `rules` back, as a new version of its own.
async fn roll_back(
    app: &ScriptsState,
    actor: &Actor,
    rules: Rules,
    id: i64,
) -> ApiResult<Json<ScriptView>> {
    actor.require(Permission::ManageSettings)?;
    let source = app
        .store
        .scripts()
        .script_source(rules, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    save(
        app,
        actor,
        rules,
        &source,
        &format!("回滚到版本 #{id} (rollback)"),
    )
    .await
}

/// The pricing script on disk, the version serving, and why the file is refused if it is.
#[utoipa::path(get, path = "/admin/scripts/pricing", tag = "scripts",
    responses((status = 200, body = ScriptView)), security(("bearer" = [])))]
pub async fn get(State(app): State<ScriptsState>, actor: Actor) -> ApiResult<Json<ScriptView>> {
    actor.require(Permission::ManageSettings)?;
    view(&app, Rules::Pricing)
}

/// Replace the pricing script: checked (it compiles, its examples pass) before it is written;
/// a refusal names `pricing.rhai:LINE:COLUMN` and changes nothing.
#[utoipa::path(put, path = "/admin/scripts/pricing", tag = "scripts", request_body = ScriptInput,
    responses((status = 200, body = ScriptView), (status = 422, description = "`script_invalid`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn put(
    State(app): State<ScriptsState>,
    actor: Actor,
    ApiJson(input): ApiJson<ScriptInput>,
) -> ApiResult<Json<ScriptView>> {
    actor.require(Permission::ManageSettings)?;
    save(&app, &actor, Rules::Pricing, &input.source, &input.note).await
}

/// The saved versions of the pricing script, newest first, with who, when and the diff.
#[utoipa::path(get, path = "/admin/scripts/pricing/history", tag = "scripts",
    responses((status = 200, body = Vec<ScriptVersion>)), security(("bearer" = [])))]
pub async fn history(
    State(app): State<ScriptsState>,
    actor: Actor,
) -> ApiResult<Json<Vec<ScriptVersion>>> {
    actor.require(Permission::ManageSettings)?;
    Ok(Json(
        app.store
            .scripts()
            .script_versions(Rules::Pricing, 100)
            .await?,
    ))
}

/// Put a saved version back (as a new version of its own).
#[utoipa::path(post, path = "/admin/scripts/pricing/history/{id}/rollback", tag = "scripts", params(("id" = i64, Path)),
    responses((status = 200, body = ScriptView)), security(("bearer" = [])))]
pub async fn rollback(
    State(app): State<ScriptsState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<Json<ScriptView>> {
    roll_back(&app, &actor, Rules::Pricing, id).await
}

/// The notification rules on disk, the version serving, and why the file is refused if it is.
#[utoipa::path(get, path = "/admin/scripts/notifications", tag = "scripts",
    responses((status = 200, body = ScriptView)), security(("bearer" = [])))]
pub async fn get_notifications(
    State(app): State<ScriptsState>,
    actor: Actor,
) -> ApiResult<Json<ScriptView>> {
    actor.require(Permission::ManageSettings)?;
    view(&app, Rules::Notifications)
}

/// Replace the notification rules: checked (it compiles, its examples pass) before it is
/// written; a refusal names `notifications.rhai:LINE:COLUMN` and changes nothing.
#[utoipa::path(put, path = "/admin/scripts/notifications", tag = "scripts", request_body = ScriptInput,
    responses((status = 200, body = ScriptView), (status = 422, description = "`script_invalid`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn put_notifications(
    State(app): State<ScriptsState>,
    actor: Actor,
    ApiJson(input): ApiJson<ScriptInput>,
) -> ApiResult<Json<ScriptView>> {
    actor.require(Permission::ManageSettings)?;
    save(
        &app,
        &actor,
        Rules::Notifications,
        &input.source,
        &input.note,
    )
    .await
}

/// The saved versions of the notification rules, newest first, with who, when and the diff.
#[utoipa::path(get, path = "/admin/scripts/notifications/history", tag = "scripts",
    responses((status = 200, body = Vec<ScriptVersion>)), security(("bearer" = [])))]
pub async fn notifications_history(
    State(app): State<ScriptsState>,
    actor: Actor,
) -> ApiResult<Json<Vec<ScriptVersion>>> {
    actor.require(Permission::ManageSettings)?;
    Ok(Json(
        app.store
            .scripts()
            .script_versions(Rules::Notifications, 100)
            .await?,
    ))
}

/// Put a saved version of the notification rules back (as a new version of its own).
#[utoipa::path(post, path = "/admin/scripts/notifications/history/{id}/rollback", tag = "scripts", params(("id" = i64, Path)),
    responses((status = 200, body = ScriptView)), security(("bearer" = [])))]
pub async fn rollback_notifications(
    State(app): State<ScriptsState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<Json<ScriptView>> {
    roll_back(&app, &actor, Rules::Notifications, id).await
}

/// Checks a draft of `rules` as saving it would (it compiles, its examples pass) and writes
/// nothing: the editor's 检查, and the place of a refusal for the editor to point at.
pub async fn check_rules(
    app: &ScriptsState,
    actor: &Actor,
    rules: Rules,
    ApiJson(input): ApiJson<DraftInput>,
) -> ApiResult<Json<ScriptCheck>> {
    actor.require(Permission::ManageSettings)?;
    Ok(Json(
        match rules.check(&app.scripts.engine, &input.source) {
            Ok(compiled) => ScriptCheck {
                version: Some(compiled.version.clone()),
                problem: None,
            },
            Err(error) => ScriptCheck {
                version: None,
                problem: Some(CheckProblem {
                    line: error.place().and_then(|p| p.line),
                    column: error.place().and_then(|p| p.column),
                    message: error.to_string(),
                }),
            },
        },
    ))
}

/// Check a draft of the pricing script without saving it: its version, or the refusal with
/// its line and column (200 either way).
#[utoipa::path(post, path = "/admin/scripts/pricing/check", tag = "scripts", request_body = DraftInput,
    responses((status = 200, body = ScriptCheck)), security(("bearer" = [])))]
pub async fn check(
    State(app): State<ScriptsState>,
    actor: Actor,
    input: ApiJson<DraftInput>,
) -> ApiResult<Json<ScriptCheck>> {
    check_rules(&app, &actor, Rules::Pricing, input).await
}

/// Check a draft of the notification rules without saving it: its version, or the refusal
/// with its line and column (200 either way).
#[utoipa::path(post, path = "/admin/scripts/notifications/check", tag = "scripts", request_body = DraftInput,
    responses((status = 200, body = ScriptCheck)), security(("bearer" = [])))]
pub async fn check_notifications(
    State(app): State<ScriptsState>,
    actor: Actor,
    input: ApiJson<DraftInput>,
) -> ApiResult<Json<ScriptCheck>> {
    check_rules(&app, &actor, Rules::Notifications, input).await
}

/// A cart to price with a draft.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    /// The draft script.
    pub source: String,
    /// Whose prices (an approved member).
    pub member_id: i64,
    pub lines: Vec<LineRequest>,
}

/// The cart priced by the serving script and by the draft.
#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    pub current: Quote,
    pub draft: Quote,
    /// Per line: the line total now and with the draft (only lines that differ).
    pub differences: Vec<LineDifference>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LineDifference {
    pub line_no: i64,
    pub sku_id: i64,
    pub current_fen: i64,
    pub draft_fen: i64,
}

/// Price a cart with a draft of the pricing script beside the serving one (nothing is saved).
#[utoipa::path(post, path = "/admin/scripts/pricing/preview", tag = "scripts", request_body = PreviewInput,
    responses((status = 200, body = Preview), (status = 404, description = "`not_found`", body = crate::error::ErrorBody), (status = 422, description = "`amount_out_of_range`, `delisted`, `duplicate_line`, `empty_order`, `invalid_quantity`, `moq_step`, `script_invalid`, `too_many_lines`, `unknown_sku`", body = crate::error::ErrorBody), (status = 503, description = "`plugin_failed`, `pricing_unavailable`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn preview(
    State(app): State<ScriptsState>,
    actor: Actor,
    ApiJson(input): ApiJson<PreviewInput>,
) -> ApiResult<Json<Preview>> {
    actor.require(Permission::ManageSettings)?;
    let draft = pricing::check(&app.scripts.engine, &input.source).map_err(script_invalid)?;
    let member = app
        .store
        .members()
        .member(input.member_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let buyer = Buyer {
        member_id: member.id,
        level_id: member.level_id,
        region_id: member.region_id,
        attributes: None,
    };
    let settings = app.store.settings().current().await?;
    let request = QuoteRequest {
        lines: input.lines,
        delivery: DeliveryMethod::Pickup,
        area: None,
        drop_delisted: false,
        plugin_options: Default::default(),
    };
    let now = app.clock.now_ms();
    let current = quote::price(&app.store, &settings, &app.pipeline, &buyer, &request, now).await?;
    // The serving pipeline with the draft in the script's place (plugins after it, as serving).
    let with_draft = app.pipeline.replacing(
        pricing::FILE,
        std::sync::Arc::new(ScriptStep {
            host: app.scripts.clone(),
            draft: Some(std::sync::Arc::new(draft)),
        }),
    );
    let draft = quote::price(&app.store, &settings, &with_draft, &buyer, &request, now).await?;
    let differences = current
        .lines
        .iter()
        .zip(&draft.lines)
        .filter(|(a, b)| a.line_total_fen != b.line_total_fen)
        .map(|(a, b)| LineDifference {
            line_no: a.line_no,
            sku_id: a.sku_id.get(),
            current_fen: a.line_total_fen,
            draft_fen: b.line_total_fen,
        })
        .collect();
    if current.lines.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_order",
            "lines: 没有可报价的商品",
        ));
    }
    Ok(Json(Preview {
        current,
        draft,
        differences,
    }))
}
