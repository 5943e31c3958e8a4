//! The member's address book (B7): structured 省/市/区 + detail, contact and phone; one default.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use utoipa::ToSchema;

use crate::accounts::permissions::{Actor, Permission};
use crate::accounts::{Phone, parse_name};
use crate::edge::extract::Path;
use crate::edge::json::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::shop::Shop;
use crate::store::{StoreError, StoreResult, in_tx, on_pool};

/// An address as written, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressFields {
    pub province: String,
    pub city: String,
    pub district: String,
    pub detail: String,
    pub contact_name: String,
    pub phone: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    /// 省
    pub province: String,
    /// 市
    pub city: String,
    /// 区/县
    pub district: String,
    /// Street, building, shop number.
    pub detail: String,
    pub contact_name: String,
    pub phone: String,
    #[serde(default)]
    pub is_default: bool,
}

impl AddressFields {
    /// Parses the parts of an address; `prefix` goes before field names in errors.
    pub fn parse(
        province: &str,
        city: &str,
        district: &str,
        detail: &str,
        contact_name: &str,
        phone: &str,
        prefix: &str,
    ) -> ApiResult<AddressFields> {
        let f = |name: &str| format!("{prefix}{name}");
        Ok(AddressFields {
            province: parse_name(province, &f("province"), 20)?,
            city: parse_name(city, &f("city"), 20)?,
            district: parse_name(district, &f("district"), 20)?,
            detail: parse_name(detail, &f("detail"), 100)?,
            contact_name: parse_name(contact_name, &f("contact_name"), 30)?,
            phone: Phone::parse(phone)
                .map_err(|e| e.with_field(&f("phone")))?
                .as_str()
                .to_owned(),
        })
    }
}

#[derive(Debug, Clone, Serialize, ToSchema, FromRow)]
pub struct Address {
    pub id: i64,
    pub province: String,
    pub city: String,
    pub district: String,
    pub detail: String,
    pub contact_name: String,
    pub phone: String,
    pub is_default: bool,
}

const ADDRESS_COLUMNS: &str =
    "id, province, city, district, detail, contact_name, phone, is_default";

impl super::MemberStore<'_> {
    pub async fn addresses(self, user_id: i64) -> StoreResult<Vec<Address>> {
        let sql = format!(
            "SELECT {ADDRESS_COLUMNS} FROM addresses WHERE user_id = $1 ORDER BY is_default DESC, id"
        );
        Ok(on_pool!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(user_id)
        .fetch_all(pool)
        .await)?)
    }

    /// Adds or replaces (`id`) an address of `user_id`; making it the default unsets the
    /// others, and the first address is always the default. `None` when `id` is not his.
    pub async fn save_address(
        self,
        user_id: i64,
        id: Option<i64>,
        a: &AddressFields,
        make_default: bool,
        now_ms: i64,
    ) -> StoreResult<Option<i64>> {
        in_tx!(self, |tx| {
            let count: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM addresses WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let make_default = make_default || count == 0;
            if make_default {
                sqlx::query("UPDATE addresses SET is_default = FALSE WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            let saved: Option<i64> = match id {
                Some(id) => sqlx::query_scalar(
                    "UPDATE addresses SET province = $3, city = $4, district = $5, detail = $6, contact_name = $7, phone = $8, updated_at = $9,
                     is_default = CASE WHEN $10 THEN TRUE ELSE is_default END WHERE id = $1 AND user_id = $2 RETURNING id",
                )
                .bind(id).bind(user_id).bind(&a.province).bind(&a.city).bind(&a.district).bind(&a.detail).bind(&a.contact_name).bind(&a.phone).bind(now_ms).bind(make_default)
                .fetch_optional(&mut *tx)
                .await?,
                None => Some(
                    sqlx::query_scalar("INSERT INTO addresses (user_id, province, city, district, detail, contact_name, phone, is_default, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id")
                        .bind(user_id).bind(&a.province).bind(&a.city).bind(&a.district).bind(&a.detail).bind(&a.contact_name).bind(&a.phone).bind(make_default).bind(now_ms)
                        .fetch_one(&mut *tx)
                        .await?,
                ),
            };
            if saved.is_none() {
                // Not his address: undo the default change by failing the transaction.
                return Ok(None);
            }
            Ok::<_, StoreError>(saved)
        })
    }

    /// Deletes one of his addresses; when it was the default, the oldest remaining one becomes it.
    pub async fn delete_address(self, user_id: i64, id: i64) -> StoreResult<bool> {
        in_tx!(self, |tx| {
            let was_default: Option<bool> = sqlx::query_scalar(
                "DELETE FROM addresses WHERE id = $1 AND user_id = $2 RETURNING is_default",
            )
            .bind(id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
            if was_default == Some(true) {
                sqlx::query("UPDATE addresses SET is_default = TRUE WHERE id = (SELECT MIN(id) FROM addresses WHERE user_id = $1)").bind(user_id).execute(&mut *tx).await?;
            }
            Ok::<_, StoreError>(was_default.is_some())
        })
    }
}

fn parse_input(input: &AddressInput) -> ApiResult<AddressFields> {
    AddressFields::parse(
        &input.province,
        &input.city,
        &input.district,
        &input.detail,
        &input.contact_name,
        &input.phone,
        "",
    )
}

/// My addresses, the default first (members).
#[utoipa::path(get, path = "/me/addresses", tag = "members", responses((status = 200, body = [Address])), security(("bearer" = [])))]
pub async fn list(State(app): State<Shop>, actor: Actor) -> ApiResult<Json<Vec<Address>>> {
    actor.require(Permission::OwnMemberAccount)?;
    Ok(Json(app.store.members().addresses(actor.user_id).await?))
}

/// A customer's address book, for an order placed on his behalf (managers, promoters, admin,
/// customer service; D4): members in the caller's scope only (404 otherwise).
#[utoipa::path(get, path = "/admin/members/{id}/addresses", tag = "members", params(("id" = i64, Path)), responses((status = 200, body = [Address])), security(("bearer" = [])))]
pub async fn of_member(
    State(app): State<Shop>,
    actor: Actor,
    crate::edge::extract::Path(id): crate::edge::extract::Path<i64>,
) -> ApiResult<Json<Vec<Address>>> {
    actor.require(Permission::OrderOnBehalf)?;
    crate::members::review::scoped_member(&app, &actor, id).await?;
    Ok(Json(app.store.members().addresses(id).await?))
}

/// Add an address (members); the first one is the default.
#[utoipa::path(post, path = "/me/addresses", tag = "members", request_body = AddressInput, responses((status = 201, body = [Address]), (status = 422, description = "`invalid_phone`, `too_many_addresses`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create(
    State(app): State<Shop>,
    actor: Actor,
    ApiJson(input): ApiJson<AddressInput>,
) -> ApiResult<(StatusCode, Json<Vec<Address>>)> {
    actor.require(Permission::OwnMemberAccount)?;
    let fields = parse_input(&input)?;
    if app.store.members().addresses(actor.user_id).await?.len() >= 50 {
        return Err(ApiError::invalid_field(
            "too_many_addresses",
            "detail",
            "最多保存50个地址 (at most 50 addresses)",
        ));
    }
    app.store
        .members()
        .save_address(
            actor.user_id,
            None,
            &fields,
            input.is_default,
            app.clock.now_ms(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(app.store.members().addresses(actor.user_id).await?),
    ))
}

/// Change one of my addresses (members; someone else's is not found).
#[utoipa::path(put, path = "/me/addresses/{id}", tag = "members", params(("id" = i64, Path)), request_body = AddressInput,
    responses((status = 200, body = [Address]), (status = 422, description = "`invalid_phone`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn update(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<AddressInput>,
) -> ApiResult<Json<Vec<Address>>> {
    actor.require(Permission::OwnMemberAccount)?;
    let fields = parse_input(&input)?;
    if !app
        .store
        .members()
        .addresses(actor.user_id)
        .await?
        .iter()
        .any(|a| a.id == id)
    {
        return Err(ApiError::not_found());
    }
    app.store
        .members()
        .save_address(
            actor.user_id,
            Some(id),
            &fields,
            input.is_default,
            app.clock.now_ms(),
        )
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(app.store.members().addresses(actor.user_id).await?))
}

/// Delete one of my addresses (members).
#[utoipa::path(delete, path = "/me/addresses/{id}", tag = "members", params(("id" = i64, Path)),
    responses((status = 200, body = [Address])), security(("bearer" = [])))]
pub async fn delete(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<Address>>> {
    actor.require(Permission::OwnMemberAccount)?;
    if !app
        .store
        .members()
        .delete_address(actor.user_id, id)
        .await?
    {
        return Err(ApiError::not_found());
    }
    Ok(Json(app.store.members().addresses(actor.user_id).await?))
}
