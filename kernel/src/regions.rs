//! Regions (业务范围, E1): 海口, 三亚, 琼海 … Staff serve regions; later, orders belong to one.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use utoipa::ToSchema;

use crate::accounts::audit::Operation;
use crate::accounts::parse_name;
use crate::accounts::permissions::{Actor, Permission};
use crate::accounts::sessions::ClientInfo;
use crate::edge::extract::Path;
use crate::edge::json::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::shop::Shop;
use crate::store::{Store, StoreError, StoreResult, on_pool};

crate::store::handle! {
    /// The regions' part of the store: regions and the staff who serve them.
    pub RegionStore, regions
}

#[derive(Debug, Clone, Serialize, ToSchema, FromRow, PartialEq, Eq)]
pub struct Region {
    pub id: i64,
    pub name: String,
}

impl RegionStore<'_> {
    /// The enabled staff of a region holding `role` (its managers, its drivers).
    pub async fn region_staff(
        self,
        region_id: i64,
        role: crate::accounts::Role,
    ) -> StoreResult<Vec<i64>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT ur.user_id FROM user_regions ur
                 JOIN user_roles r ON r.user_id = ur.user_id AND r.role = $2
                 JOIN users u ON u.id = ur.user_id
                 WHERE ur.region_id = $1 AND u.disabled = FALSE ORDER BY ur.user_id",
            )
            .bind(region_id)
            .bind(role.as_str())
            .fetch_all(pool)
            .await
        })?)
    }

    /// In one read, the enabled staff a new order concerns, with their role: every admin and,
    /// with a region, its managers and drivers (checkout asks this for every order).
    pub async fn new_order_staff(self, region_id: Option<i64>) -> StoreResult<Vec<(i64, String)>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT DISTINCT r.user_id, r.role FROM user_roles r JOIN users u ON u.id = r.user_id
                 LEFT JOIN user_regions ur ON ur.user_id = r.user_id AND ur.region_id = $1
                 WHERE u.disabled = FALSE
                   AND (r.role = 'admin' OR (r.role IN ('manager', 'driver') AND ur.region_id IS NOT NULL))
                 ORDER BY r.user_id",
            )
            .bind(region_id)
            .fetch_all(pool)
            .await
        })?)
    }

    pub async fn insert_region(self, name: &str, now_ms: i64) -> StoreResult<i64> {
        on_pool!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO regions (name, created_at) VALUES ($1, $2) RETURNING id",
            )
            .bind(name)
            .bind(now_ms)
            .fetch_one(pool)
            .await
            .map_err(StoreError::classify)
        })
    }

    pub async fn rename_region(self, id: i64, name: &str) -> StoreResult<bool> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE regions SET name = $2 WHERE id = $1")
                .bind(id)
                .bind(name)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() == 1)
                .map_err(StoreError::classify)
        })
    }

    pub async fn list_regions(self) -> StoreResult<Vec<Region>> {
        Ok(on_pool!(self, |pool| sqlx::query_as(
            "SELECT id, name FROM regions ORDER BY id"
        )
        .fetch_all(pool)
        .await)?)
    }

    /// The ids among `ids` that name no region.
    pub async fn unknown_regions(
        self,
        ids: impl IntoIterator<Item = i64>,
    ) -> StoreResult<Vec<i64>> {
        let known: Vec<i64> = self
            .list_regions()
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        Ok(ids.into_iter().filter(|id| !known.contains(id)).collect())
    }
}

/// Refuses (422 `unknown_region`, naming `field`) a reference to a region that does not exist.
pub async fn require_known(
    store: &Store,
    ids: impl IntoIterator<Item = i64>,
    field: &str,
) -> ApiResult<()> {
    match store.regions().unknown_regions(ids).await?.first() {
        None => Ok(()),
        Some(id) => Err(ApiError::invalid_field(
            "unknown_region",
            field,
            format!("{field}: 区域不存在: {id} (no region {id})"),
        )),
    }
}

/// Every region (public: members choose theirs when completing the profile).
#[utoipa::path(get, path = "/regions", tag = "regions", responses((status = 200, body = [Region])))]
pub async fn list(State(app): State<Shop>) -> ApiResult<Json<Vec<Region>>> {
    Ok(Json(app.store.regions().list_regions().await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionInput {
    pub name: String,
}

fn region_taken() -> ApiError {
    ApiError::conflict(
        "region_taken",
        "name",
        "区域名称已存在 (name: a region with this name exists)",
    )
}

/// Create a region (admin).
#[utoipa::path(post, path = "/admin/regions", tag = "regions", request_body = RegionInput,
    responses((status = 201, body = Region), (status = 409, description = "`region_taken`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    ApiJson(input): ApiJson<RegionInput>,
) -> ApiResult<(StatusCode, Json<Region>)> {
    actor.require(Permission::ManageRegions)?;
    let name = parse_name(&input.name, "name", 30)?;
    let now = app.clock.now_ms();
    let id = match app.store.regions().insert_region(&name, now).await {
        Ok(id) => id,
        Err(StoreError::Conflict(_)) => return Err(region_taken()),
        Err(err) => return Err(err.into()),
    };
    app.store
        .accounts()
        .log_operation(
            Operation {
                actor_id: Some(actor.user_id),
                action: "region.create",
                target_kind: "region",
                target_id: Some(id.to_string()),
                detail: serde_json::json!({ "name": name }),
            },
            &client,
            now,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(Region { id, name })))
}

/// Rename a region (admin).
#[utoipa::path(put, path = "/admin/regions/{id}", tag = "regions", request_body = RegionInput, params(("id" = i64, Path)),
    responses((status = 200, body = Region), (status = 409, description = "`region_taken`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn rename(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<RegionInput>,
) -> ApiResult<Json<Region>> {
    actor.require(Permission::ManageRegions)?;
    let name = parse_name(&input.name, "name", 30)?;
    match app.store.regions().rename_region(id, &name).await {
        Ok(true) => {}
        Ok(false) => return Err(ApiError::not_found()),
        Err(StoreError::Conflict(_)) => return Err(region_taken()),
        Err(err) => return Err(err.into()),
    }
    let now = app.clock.now_ms();
    app.store
        .accounts()
        .log_operation(
            Operation {
                actor_id: Some(actor.user_id),
                action: "region.rename",
                target_kind: "region",
                target_id: Some(id.to_string()),
                detail: serde_json::json!({ "name": name }),
            },
            &client,
            now,
        )
        .await?;
    Ok(Json(Region { id, name }))
}
