//! Self-pickup (E5): pickup points (核销点) with address, map link and phone, each with its
//! verifiers; an order to be collected gets a point and a random single-use 12-digit code
//! that only its member sees; a verifier of that point scans or types it and the order is
//! received. Wrong guesses count against the verifier (`PICKUP_GUESSES`), so a code cannot be
//! found by trying.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use utoipa::ToSchema;

use super::backorders::Backorders;
use super::lifecycle::scoped_order;
use super::machine::{Action, Move, Party, allowed, invalid_transition, permit};
use super::record::OrderView;
use super::{Audience, DeliveryMethod, OrderStatus};
use crate::accounts::permissions::{Actor, Permission};
use crate::accounts::rate_limit::Limit;
use crate::edge::extract::Path;
use crate::edge::json::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::ids::OrderId;
use crate::notify::tell;
use crate::shop::Shop;
use crate::store::batch::Arg;
use crate::store::{StoreError, StoreResult, in_tx, on_pool};

/// Wrong codes a verifier may type in 15 minutes.
pub const PICKUP_GUESSES: Limit = Limit {
    name: "pickup-guess",
    max: 10,
    window_secs: 900,
};

/// A pickup point as everyone sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, FromRow)]
pub struct PickupPoint {
    pub id: i64,
    pub name: String,
    pub address: String,
    /// Opens the point in a map app.
    pub map_url: String,
    pub phone: String,
    pub region_id: Option<i64>,
}

/// A pickup point as staff write it, with the verifiers who may hand goods out there.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PickupPointInput {
    pub name: String,
    pub address: String,
    #[serde(default)]
    pub map_url: String,
    #[serde(default)]
    pub phone: String,
    pub region_id: Option<i64>,
    /// Staff with the verifier role.
    #[serde(default)]
    pub verifier_ids: Vec<i64>,
}

/// A new random pickup code: 12 digits, typed or scanned.
fn new_code() -> String {
    format!("{:012}", rand::rng().random_range(0..1_000_000_000_000u64))
}

impl super::OrderStore<'_> {
    pub async fn pickup_points(self) -> StoreResult<Vec<PickupPoint>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, name, address, map_url, phone, region_id FROM pickup_points WHERE enabled = TRUE ORDER BY id",
            )
            .fetch_all(pool)
            .await
        })?)
    }

    /// Creates (`id` None) or replaces a pickup point with its verifiers; its id.
    pub async fn save_pickup_point(
        self,
        id: Option<i64>,
        point: &PickupPointInput,
        now_ms: i64,
    ) -> StoreResult<Option<i64>> {
        in_tx!(self, |tx| {
            async {
            let id: Option<i64> = match id {
                None => Some(
                    sqlx::query_scalar(
                        "INSERT INTO pickup_points (name, address, map_url, phone, region_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    )
                    .bind(&point.name)
                    .bind(&point.address)
                    .bind(&point.map_url)
                    .bind(&point.phone)
                    .bind(point.region_id)
                    .bind(now_ms)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StoreError::classify)?,
                ),
                Some(id) => sqlx::query_scalar(
                    "UPDATE pickup_points SET name = $2, address = $3, map_url = $4, phone = $5, region_id = $6 WHERE id = $1 RETURNING id",
                )
                .bind(id)
                .bind(&point.name)
                .bind(&point.address)
                .bind(&point.map_url)
                .bind(&point.phone)
                .bind(point.region_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::classify)?,
            };
            let Some(id) = id else {
                return Ok::<_, StoreError>(None);
            };
            sqlx::query("DELETE FROM pickup_verifiers WHERE point_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for verifier in &point.verifier_ids {
                sqlx::query("INSERT INTO pickup_verifiers (point_id, user_id) VALUES ($1, $2)")
                    .bind(id)
                    .bind(verifier)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(Some(id))
        }
        .await
        })
    }

    /// Every pickup point's verifiers, as (point, user) pairs.
    pub async fn pickup_verifiers(self) -> StoreResult<Vec<(i64, i64)>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT point_id, user_id FROM pickup_verifiers ORDER BY point_id, user_id",
            )
            .fetch_all(pool)
            .await
        })?)
    }

    /// Whether `user_id` verifies at pickup point `point_id`.
    pub async fn verifies_at(self, user_id: i64, point_id: i64) -> StoreResult<bool> {
        let found: Option<i64> = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT user_id FROM pickup_verifiers WHERE point_id = $1 AND user_id = $2",
            )
            .bind(point_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(found.is_some())
    }

    /// The order holding pickup code `code`, if any.
    pub async fn order_by_pickup_code(self, code: &str) -> StoreResult<Option<i64>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT id FROM orders WHERE pickup_code = $1")
                .bind(code)
                .fetch_optional(pool)
                .await
        })?)
    }
}

/// Pickup points (E5): where goods can be collected, with address, map link and phone.
#[utoipa::path(get, path = "/pickup-points", tag = "fulfilment",
    responses((status = 200, body = Vec<PickupPoint>)), security(("bearer" = [])))]
pub async fn list(State(app): State<Shop>, _actor: Actor) -> ApiResult<Json<Vec<PickupPoint>>> {
    Ok(Json(app.store.orders().pickup_points().await?))
}

async fn checked_point(app: &Shop, input: &PickupPointInput) -> ApiResult<()> {
    crate::accounts::parse_name(&input.name, "name", 50)?;
    crate::accounts::parse_name(&input.address, "address", 200)?;
    crate::accounts::parse_text(&input.map_url, "map_url", 500)?;
    crate::accounts::parse_text(&input.phone, "phone", 30)?;
    crate::regions::require_known(&app.store, input.region_id, "region_id").await?;
    for (i, id) in input.verifier_ids.iter().enumerate() {
        let is_verifier = app
            .store
            .accounts()
            .user_by_id(*id)
            .await?
            .is_some_and(|u| u.has(Permission::VerifyPickups));
        if !is_verifier {
            return Err(ApiError::invalid_field(
                "not_a_verifier",
                &format!("verifier_ids[{i}]"),
                format!("verifier_ids[{i}]: 不是核销员 (not a verifier)"),
            ));
        }
    }
    Ok(())
}

async fn point_by_id(app: &Shop, id: i64) -> ApiResult<PickupPoint> {
    app.store
        .orders()
        .pickup_points()
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(ApiError::not_found)
}

fn saved(result: StoreResult<Option<i64>>) -> ApiResult<Option<i64>> {
    match result {
        Err(StoreError::Conflict(_)) => Err(ApiError::conflict(
            "pickup_point_taken",
            "name",
            "name: 已有同名自提点 (a pickup point of that name exists)",
        )),
        other => Ok(other?),
    }
}

/// Add a pickup point with its verifiers (admin).
#[utoipa::path(post, path = "/admin/pickup-points", tag = "fulfilment", request_body = PickupPointInput,
    responses((status = 201, body = PickupPoint), (status = 409, description = "`pickup_point_taken`", body = crate::error::ErrorBody), (status = 422, description = "`not_a_verifier`, `unknown_region`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create(
    State(app): State<Shop>,
    actor: Actor,
    ApiJson(input): ApiJson<PickupPointInput>,
) -> ApiResult<(StatusCode, Json<PickupPoint>)> {
    actor.require(Permission::ManageRegions)?;
    checked_point(&app, &input).await?;
    let id = saved(
        app.store
            .orders()
            .save_pickup_point(None, &input, app.clock.now_ms())
            .await,
    )?
    .ok_or_else(ApiError::not_found)?;
    Ok((StatusCode::CREATED, Json(point_by_id(&app, id).await?)))
}

/// Change a pickup point and its verifiers (admin).
#[utoipa::path(put, path = "/admin/pickup-points/{id}", tag = "fulfilment", params(("id" = i64, Path)), request_body = PickupPointInput,
    responses((status = 200, body = PickupPoint), (status = 409, description = "`pickup_point_taken`", body = crate::error::ErrorBody), (status = 422, description = "`not_a_verifier`, `unknown_region`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn update(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<PickupPointInput>,
) -> ApiResult<Json<PickupPoint>> {
    actor.require(Permission::ManageRegions)?;
    checked_point(&app, &input).await?;
    saved(
        app.store
            .orders()
            .save_pickup_point(Some(id), &input, app.clock.now_ms())
            .await,
    )?
    .ok_or_else(ApiError::not_found)?;
    Ok(Json(point_by_id(&app, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadyForPickup {
    pub pickup_point_id: i64,
    /// As with dispatch: set aside what is on the shelf and move what is still owed to a
    /// follow-up order (补发单); without it such an order is refused (`stock_short`).
    #[serde(default)]
    pub split_backorders: bool,
}

/// Have a self-pickup order collected at a point (E5): 待发货 → 待自提; the member gets the
/// code in his order and inbox. The order's confirmer, admin or customer service.
#[utoipa::path(post, path = "/admin/orders/{id}/ready-for-pickup", tag = "fulfilment", params(("id" = i64, Path)), request_body = ReadyForPickup,
    responses((status = 200, body = OrderView), (status = 409, description = "`invalid_transition`, `not_a_pickup_order`, `stock_short`", body = crate::error::ErrorBody), (status = 422, description = "`unknown_pickup_point`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn ready(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<OrderId>,
    ApiJson(input): ApiJson<ReadyForPickup>,
) -> ApiResult<Json<OrderView>> {
    let (order, scope) = scoped_order(&app, &actor, id).await?;
    let audience = scope.audience();
    permit(
        &actor,
        &order,
        Action::ReadyForPickup,
        OrderStatus::ReadyForPickup,
        audience,
    )?;
    if order.delivery_method != DeliveryMethod::Pickup {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_a_pickup_order",
            "该订单不是自提订单 (the member chose delivery, not pickup)",
        ));
    }
    let points = app.store.orders().pickup_points().await?;
    let point = points
        .iter()
        .find(|p| p.id == input.pickup_point_id)
        .ok_or_else(|| {
            ApiError::invalid_field(
                "unknown_pickup_point",
                "pickup_point_id",
                "pickup_point_id: 没有这个自提点 (no such pickup point)",
            )
        })?;
    let code = new_code();
    let now = app.clock.now_ms();
    let moved = app
        .store
        .orders()
        .move_order(
            &order,
            Move::new(
                Action::ReadyForPickup,
                order.status,
                OrderStatus::ReadyForPickup,
                now,
            )
            .by(Some(actor.user_id), &point.name)
            .setting([
                ("pickup_point_id", Arg::from(point.id)),
                ("pickup_code", Arg::from(code.as_str())),
            ]),
            Backorders::shipping(input.split_backorders),
            &[],
        )
        .await?
        .ok_or_else(|| invalid_transition(&order, audience))?;
    tell(
        &app.store,
        moved.member_id.get(),
        "order_ready_for_pickup",
        format!(
            "您的订单{}已可到{}自提（{}），请出示提货码{code}。",
            moved.number(),
            point.name,
            point.address
        ),
        now,
    )
    .await;
    Ok(Json(moved.view(audience)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PickupCode {
    /// Scanned from the member's QR code or typed from his screen.
    pub code: String,
}

/// Hand goods out (a verifier of the order's point; E5): the code is used once, and the order
/// is received (已收货 / 已送达). Wrong codes are counted; after ten in 15 minutes the verifier
/// waits (`too_many_attempts`).
#[utoipa::path(post, path = "/pickup/verify", tag = "fulfilment", request_body = PickupCode,
    responses((status = 200, body = OrderView), (status = 404, description = "`not_found`", body = crate::error::ErrorBody), (status = 409, description = "`pickup_code_used`, `stock_short`, `wrong_pickup_point`", body = crate::error::ErrorBody), (status = 422, description = "`unknown_pickup_code`", body = crate::error::ErrorBody), (status = 429, description = "`too_many_attempts`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn verify(
    State(app): State<Shop>,
    actor: Actor,
    ApiJson(input): ApiJson<PickupCode>,
) -> ApiResult<Json<OrderView>> {
    if !actor.has(Permission::VerifyPickups) {
        return Err(ApiError::forbidden());
    }
    let now = app.clock.now_ms();
    let key = actor.user_id.to_string();
    app.store
        .accounts()
        .rate_check(PICKUP_GUESSES, &key, now, "too_many_attempts")
        .await?;
    let code: String = input.code.chars().filter(char::is_ascii_digit).collect();
    let found = match code.len() {
        12 => app.store.orders().order_by_pickup_code(&code).await?,
        _ => None,
    };
    let order = match found {
        Some(id) => app.store.orders().order(OrderId(id)).await?,
        None => None,
    };
    let Some(order) = order else {
        app.store
            .accounts()
            .rate_hit(PICKUP_GUESSES, &key, now, "too_many_attempts")
            .await?;
        return Err(ApiError::invalid_field(
            "unknown_pickup_code",
            "code",
            "code: 提货码不存在 (no order has this code)",
        ));
    };
    let point_id = order.fulfilment.pickup_point.as_ref().map(|p| p.id);
    let here = match point_id {
        Some(point) => app.store.orders().verifies_at(actor.user_id, point).await?,
        None => false,
    };
    if !here {
        app.store
            .accounts()
            .rate_hit(PICKUP_GUESSES, &key, now, "too_many_attempts")
            .await?;
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "wrong_pickup_point",
            "该订单不在本自提点提货 (this order is collected at another point)",
        ));
    }
    if !allowed(
        Action::PickedUp,
        order.status,
        OrderStatus::Received,
        &[Party::PointVerifier],
    ) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "pickup_code_used",
            format!(
                "提货码已使用，订单状态为「{}」 (the code was used)",
                order.status.label(Audience::Business)
            ),
        ));
    }
    let moved = app
        .store
        .orders()
        .move_order(
            &order,
            Move::new(
                Action::PickedUp,
                OrderStatus::ReadyForPickup,
                OrderStatus::Received,
                now,
            )
            .by(Some(actor.user_id), ""),
            Backorders::NotShipping,
            &[],
        )
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "pickup_code_used",
                "提货码已使用 (the code was used)",
            )
        })?;
    Ok(Json(moved.view(Audience::Business)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_twelve_digits_and_differ() {
        let a = new_code();
        let b = new_code();
        assert_eq!(a.len(), 12);
        assert!(a.chars().all(|c| c.is_ascii_digit()));
        assert_ne!(a, b);
    }
}
