//! Members (B1, B3, B7): levels; each member's standing (state, level, region, manager); the
//! profile he completes, the review that approves or rejects it, and his address book.

pub mod addresses;
pub mod profile;
pub mod records;
pub mod relations;
pub mod review;

pub use records::MemberAttributes;
pub use review::can_review;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use utoipa::ToSchema;

use crate::accounts::audit::Operation;
use crate::accounts::permissions::{Actor, Permission};
use crate::accounts::sessions::ClientInfo;
use crate::accounts::{MemberState, parse_name};
use crate::edge::extract::Path;
use crate::edge::json::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::shop::Shop;
use crate::store::{Change, StoreError, StoreResult, in_tx, on_pool};

crate::store::handle! {
    /// The members' part of the store: member records, levels, addresses, tags, credit and who brought whom.
    pub MemberStore, members
}

/// A member level (会员等级): each SKU may carry a price per level.
#[derive(Debug, Clone, Serialize, ToSchema, FromRow, PartialEq, Eq)]
pub struct Level {
    pub id: i64,
    pub name: String,
    /// Higher ranks are better customers; lists sort by rank.
    pub rank: i64,
    /// The level a newly approved member gets unless staff choose another.
    pub is_default: bool,
}

impl MemberStore<'_> {
    pub async fn insert_level(
        self,
        name: &str,
        rank: i64,
        is_default: bool,
        now_ms: i64,
    ) -> StoreResult<i64> {
        in_tx!(self, |tx| {
            if is_default {
                sqlx::query("UPDATE member_levels SET is_default = FALSE")
                    .execute(&mut *tx)
                    .await?;
            }
            let id: i64 = sqlx::query_scalar("INSERT INTO member_levels (name, rank, is_default, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
                .bind(name)
                .bind(rank)
                .bind(is_default)
                .bind(now_ms)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
            Ok::<_, StoreError>(id)
        })
    }

    pub async fn update_level(
        self,
        id: i64,
        name: &str,
        rank: i64,
        is_default: bool,
    ) -> StoreResult<bool> {
        in_tx!(self, |tx| {
            if is_default {
                sqlx::query("UPDATE member_levels SET is_default = FALSE WHERE id <> $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            let found = sqlx::query(
                "UPDATE member_levels SET name = $2, rank = $3, is_default = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(name)
            .bind(rank)
            .bind(is_default)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?
            .rows_affected()
                == 1;
            Ok::<_, StoreError>(found)
        })
    }

    pub async fn list_levels(self) -> StoreResult<Vec<Level>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, name, rank, is_default FROM member_levels ORDER BY rank DESC, id",
            )
            .fetch_all(pool)
            .await
        })?)
    }

    /// Sets a member's lifecycle state and level (approval writes both in one step).
    pub async fn set_standing(
        self,
        user_id: i64,
        state: MemberState,
        level_id: Option<i64>,
        region_id: Option<i64>,
        now_ms: i64,
    ) -> StoreResult<()> {
        let upsert = "INSERT INTO members (user_id, level_id, region_id, reviewed_at) VALUES ($1, $2, $3, $4)
                      ON CONFLICT (user_id) DO UPDATE SET level_id = excluded.level_id, region_id = excluded.region_id, reviewed_at = excluded.reviewed_at";
        in_tx!(self, |tx| {
            sqlx::query("UPDATE users SET member_state = $2, updated_at = $3 WHERE id = $1")
                .bind(user_id)
                .bind(state.as_str())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            sqlx::query(upsert)
                .bind(user_id)
                .bind(level_id)
                .bind(region_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            Ok::<_, StoreError>(())
        })?;
        self.changed(Change::Accounts).await;
        Ok(())
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LevelInput {
    pub name: String,
    pub rank: i64,
    #[serde(default)]
    pub is_default: bool,
}

fn level_taken() -> ApiError {
    ApiError::conflict(
        "level_taken",
        "name",
        "等级名称已存在 (name: a level with this name exists)",
    )
}

/// Member levels, best first (admin, customer service, managers).
#[utoipa::path(get, path = "/admin/levels", tag = "members", responses((status = 200, body = [Level])), security(("bearer" = [])))]
pub async fn list_levels(State(app): State<Shop>, actor: Actor) -> ApiResult<Json<Vec<Level>>> {
    actor.require(Permission::ReadLevels)?;
    Ok(Json(app.store.members().list_levels().await?))
}

/// Create a member level (admin).
#[utoipa::path(post, path = "/admin/levels", tag = "members", request_body = LevelInput,
    responses((status = 201, body = Level), (status = 409, description = "`level_taken`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create_level(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    ApiJson(input): ApiJson<LevelInput>,
) -> ApiResult<(StatusCode, Json<Level>)> {
    actor.require(Permission::ManageCatalog)?;
    let name = parse_name(&input.name, "name", 20)?;
    let now = app.clock.now_ms();
    let id = match app
        .store
        .members()
        .insert_level(&name, input.rank, input.is_default, now)
        .await
    {
        Ok(id) => id,
        Err(StoreError::Conflict(_)) => return Err(level_taken()),
        Err(err) => return Err(err.into()),
    };
    app.store
        .accounts()
        .log_operation(
            Operation {
                actor_id: Some(actor.user_id),
                action: "level.create",
                target_kind: "level",
                target_id: Some(id.to_string()),
                detail: serde_json::json!({ "name": name, "rank": input.rank }),
            },
            &client,
            now,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Level {
            id,
            name,
            rank: input.rank,
            is_default: input.is_default,
        }),
    ))
}

/// Rename, re-rank or make default a member level (admin).
#[utoipa::path(put, path = "/admin/levels/{id}", tag = "members", params(("id" = i64, Path)), request_body = LevelInput,
    responses((status = 200, body = Level), (status = 409, description = "`level_taken`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn update_level(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<LevelInput>,
) -> ApiResult<Json<Level>> {
    actor.require(Permission::ManageCatalog)?;
    let name = parse_name(&input.name, "name", 20)?;
    match app
        .store
        .members()
        .update_level(id, &name, input.rank, input.is_default)
        .await
    {
        Ok(true) => {}
        Ok(false) => return Err(ApiError::not_found()),
        Err(StoreError::Conflict(_)) => return Err(level_taken()),
        Err(err) => return Err(err.into()),
    }
    let now = app.clock.now_ms();
    app.store.accounts().log_operation(Operation { actor_id: Some(actor.user_id), action: "level.update", target_kind: "level", target_id: Some(id.to_string()), detail: serde_json::json!({ "name": name, "rank": input.rank, "is_default": input.is_default }) }, &client, now).await?;
    Ok(Json(Level {
        id,
        name,
        rank: input.rank,
        is_default: input.is_default,
    }))
}
