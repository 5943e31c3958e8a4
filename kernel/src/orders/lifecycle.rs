//! What happens to an order before fulfilment (D5, B6): the confirmer confirms it (maybe
//! changing quantities, prices and the delivery method: `confirmation`) or rejects it; the
//! member cancels it while it waits; it closes by itself when not confirmed, or not paid where
//! payment comes first, in time; admin or customer service release a credit hold. Every status
//! change goes through the state machine (`machine`); closing gives the reserved stock back in
//! the same transaction.

use crate::edge::extract::Path;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::confirmation::{ChangedLine, ConfirmPlan, Confirmation, plan, reason_field};
use super::machine::{
    Action, Move, MoveError, invalid_transition, may_confirm, permit, push_event, push_note,
    write_move,
};
use super::record::{OrderRecord, OrderView};
use super::{Audience, OrderScope, OrderStatus};
use crate::accounts::permissions::{Actor, Permission};
use crate::edge::json::{ApiJson, OptionalJson};
use crate::error::{ApiError, ApiResult};
use crate::ids::{MemberId, OrderId, ProductId, SkuId};
use crate::notify::tell;
use crate::quantity::Quantity;
use crate::shop::Shop;
use crate::store::batch::{Batch, RunBatch, args};
use crate::store::{StockLevel, StoreError, StoreResult, in_tx};

impl super::OrderStore<'_> {
    /// Makes `step`, a move to closed, on `order`, giving its reserved stock back in the same
    /// transaction. `None` when the order had moved on (someone else got there first).
    pub(crate) async fn close_order(
        self,
        order: &OrderRecord,
        step: Move<'_>,
    ) -> Result<Option<OrderRecord>, MoveError> {
        let levels = in_tx!(self, |tx| {
            async {
                if write_move(&mut *tx, order, &step).await?.is_none() {
                    return Ok::<_, MoveError>(None);
                }
                // Read after the move won, so nothing changes them meanwhile.
                let mut reserved = Batch::default();
                reserved.push(
                    "SELECT l.sku_id, l.product_id, l.reserved_qty FROM order_lines l
                     WHERE l.order_id = $1 AND l.reserved_qty > 0 ORDER BY l.sku_id",
                    args![order.id],
                );
                let reserved: Vec<(SkuId, ProductId, Quantity)> = tx.fetch_batch(reserved).await?;
                let mut levels = Vec::with_capacity(reserved.len());
                for (sku_id, product_id, qty) in reserved {
                    let (stock, seq) = super::stock::give_back(&mut *tx, sku_id, qty).await?;
                    levels.push(StockLevel {
                        product_id,
                        sku_id,
                        stock,
                        seq,
                    });
                }
                Ok(Some(levels))
            }
            .await
        })?;
        let Some(levels) = levels else {
            return Ok(None);
        };
        self.stock_moved(&levels).await;
        Ok(self.order(order.id).await?)
    }

    /// Closes what waited too long (D5): unconfirmed orders after `confirm_timeout_hours`,
    /// confirmed pay-first orders still unpaid after `payment_timeout_hours`. Returns how many.
    pub async fn close_overdue_orders(self, now_ms: i64) -> Result<usize, MoveError> {
        let settings = self.settings().current().await?;
        let confirm_by = now_ms - settings.confirm_timeout_hours * 3_600_000;
        let pay_by = now_ms - settings.payment_timeout_hours * 3_600_000;
        let overdue: Vec<OrderId> = crate::store::on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT id FROM orders WHERE (status = 'pending_confirmation' AND placed_at <= $1)
                    OR (status = 'pending_payment' AND confirmed_at <= $2 AND paid_fen < total_fen)
                 ORDER BY id LIMIT 500",
            )
            .bind(confirm_by)
            .bind(pay_by)
            .fetch_all(pool)
            .await
        })?;
        let mut closed = 0;
        for order in self.orders_with_details(&overdue).await? {
            let reason = if order.status == OrderStatus::PendingConfirmation {
                "超时未确认，订单已自动关闭 (not confirmed in time)"
            } else {
                "超时未付款，订单已自动关闭 (not paid in time)"
            };
            let step = Move::new(Action::TimedOut, order.status, OrderStatus::Closed, now_ms)
                .by(None, reason);
            if let Some(order) = self.close_order(&order, step).await? {
                closed += 1;
                tell(
                    &self,
                    order.member_id.get(),
                    "order_closed",
                    format!("您的订单{}已关闭：{reason}", order.number()),
                    now_ms,
                )
                .await;
            }
        }
        Ok(closed)
    }
}

/// The order `id` if it lies in the caller's scope; 404 otherwise.
pub async fn scoped_order(
    app: &Shop,
    actor: &Actor,
    id: OrderId,
) -> ApiResult<(OrderRecord, OrderScope)> {
    let scope = OrderScope::of(actor)?;
    let order = app
        .store
        .orders()
        .order(id)
        .await?
        .filter(|order| scope.contains(order))
        .ok_or_else(ApiError::not_found)?;
    Ok((order, scope))
}

/// The caller's own order `id` once its goods arrived (received or completed), for what a
/// member does after delivery (after-sales, reviews): 404 outside his scope, 403 for someone
/// else's order, 409 before the goods arrived.
pub async fn my_received_order(app: &Shop, actor: &Actor, id: OrderId) -> ApiResult<OrderRecord> {
    let (order, _) = scoped_order(app, actor, id).await?;
    if order.member_id != MemberId(actor.user_id) {
        return Err(ApiError::forbidden());
    }
    if !matches!(order.status, OrderStatus::Received | OrderStatus::Completed) {
        return Err(invalid_transition(&order, Audience::Member));
    }
    Ok(order)
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Cancellation {
    #[serde(default)]
    pub reason: String,
}

/// Cancel my order while it waits for confirmation (D5).
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders", params(("id" = i64, Path)), request_body(content = Option<Cancellation>, description = "Optional: an empty body cancels without a reason"),
    responses((status = 200, body = OrderView), (status = 409, description = "`invalid_transition`", body = crate::error::ErrorBody), (status = 422, description = "`reason_required`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn cancel(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<OrderId>,
    OptionalJson(input): OptionalJson<Cancellation>,
) -> ApiResult<Json<OrderView>> {
    let (order, scope) = scoped_order(&app, &actor, id).await?;
    permit(
        &actor,
        &order,
        Action::Cancelled,
        OrderStatus::Closed,
        scope.audience(),
    )?;
    let remark = if input.reason.trim().is_empty() {
        "买家取消订单 (cancelled by the member)".to_owned()
    } else {
        reason_field(&input.reason, "reason")?
    };
    let step = Move::new(
        Action::Cancelled,
        order.status,
        OrderStatus::Closed,
        app.clock.now_ms(),
    )
    .by(Some(actor.user_id), &remark);
    let closed = app
        .store
        .orders()
        .close_order(&order, step)
        .await?
        .ok_or_else(|| invalid_transition(&order, scope.audience()))?;
    Ok(Json(closed.view(scope.audience())))
}

/// Why: required for a rejection or a released credit hold.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    pub reason: String,
}

/// Reject an order with a reason (its confirmer, D5); the member is told and the stock returns.
#[utoipa::path(post, path = "/admin/orders/{id}/reject", tag = "orders", params(("id" = i64, Path)), request_body = Reason,
    responses((status = 200, body = OrderView), (status = 403, description = "`not_confirmer`", body = crate::error::ErrorBody), (status = 409, description = "`invalid_transition`", body = crate::error::ErrorBody), (status = 422, description = "`reason_required`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn reject(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<OrderId>,
    ApiJson(input): ApiJson<Reason>,
) -> ApiResult<Json<OrderView>> {
    let (order, scope) = scoped_order(&app, &actor, id).await?;
    if !may_confirm(&actor, &order) {
        return Err(not_confirmer());
    }
    permit(
        &actor,
        &order,
        Action::Rejected,
        OrderStatus::Closed,
        scope.audience(),
    )?;
    let reason = reason_field(&input.reason, "reason")?;
    let now = app.clock.now_ms();
    let step = Move::new(Action::Rejected, order.status, OrderStatus::Closed, now)
        .by(Some(actor.user_id), &reason);
    let closed = app
        .store
        .orders()
        .close_order(&order, step)
        .await?
        .ok_or_else(|| invalid_transition(&order, scope.audience()))?;
    tell(
        &app.store,
        closed.member_id.get(),
        "order_rejected",
        format!("您的订单{}未通过确认：{reason}", closed.number()),
        now,
    )
    .await;
    Ok(Json(closed.view(scope.audience())))
}

fn not_confirmer() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "not_confirmer",
        "该订单由客户绑定的业务经理确认 (this order is confirmed by the member's own manager)",
    )
}

/// Confirm an order (its confirmer, D5), maybe changing quantities, prices and the delivery
/// method, each with a reason. Pay-first orders wait for payment next; the others for dispatch.
#[utoipa::path(post, path = "/admin/orders/{id}/confirm", tag = "orders", params(("id" = i64, Path)), request_body(content = Option<Confirmation>, description = "Optional: an empty body confirms the order as placed"),
    responses((status = 200, body = OrderView), (status = 403, description = "`not_confirmer`", body = crate::error::ErrorBody), (status = 409, description = "`credit_hold`, `invalid_transition`, `out_of_stock`", body = crate::error::ErrorBody), (status = 422, description = "`amount_out_of_range`, `address_required`, `duplicate_line`, `invalid_money`, `invalid_quantity`, `reason_required`, `unknown_line`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn confirm(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<OrderId>,
    OptionalJson(input): OptionalJson<Confirmation>,
) -> ApiResult<Json<OrderView>> {
    let (order, scope) = scoped_order(&app, &actor, id).await?;
    if !may_confirm(&actor, &order) {
        return Err(not_confirmer());
    }
    // Where it goes next depends on the changes (a price change may leave nothing to pay
    // first); asked now so a wrong state is refused before the changes are checked, and again
    // for the plan's own next state below.
    permit(
        &actor,
        &order,
        Action::Confirmed,
        OrderStatus::AwaitingDispatch,
        scope.audience(),
    )?;
    if order.credit_hold {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "credit_hold",
            "订单处于信用冻结，须由管理员或客服解除后再确认 (release the credit hold first)",
        ));
    }
    let settings = app.store.settings().current().await?;
    let plan = plan(&order, &input, &settings.shipping)?;
    permit(
        &actor,
        &order,
        Action::Confirmed,
        plan.next,
        scope.audience(),
    )?;
    app.store
        .orders()
        .confirm_order(&order, &plan, actor.user_id, app.clock.now_ms())
        .await?
        .ok_or_else(|| invalid_transition(&order, scope.audience()))?;
    let confirmed = app
        .store
        .orders()
        .order(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(confirmed.view(scope.audience())))
}

impl super::OrderStore<'_> {
    /// Writes a confirmation `plan` made by `actor_id`: the move (guarded, and refused while
    /// the order is on credit hold), the changed lines with their stock, the new totals.
    /// `Some(())` when it went through; `None` when the order had moved on.
    pub(crate) async fn confirm_order(
        self,
        order: &OrderRecord,
        plan: &ConfirmPlan,
        actor_id: i64,
        now_ms: i64,
    ) -> Result<Option<()>, ApiError> {
        let step = Move::new(
            Action::Confirmed,
            OrderStatus::PendingConfirmation,
            plan.next,
            now_ms,
        )
        .by(Some(actor_id), &plan.remark)
        .setting([
            ("delivery_method", plan.delivery.as_str().into()),
            ("goods_fen", plan.goods.into()),
            ("weight_g", plan.weight.into()),
            ("shipping_fen", plan.shipping.into()),
            ("total_fen", plan.total.into()),
        ])
        .only_if("credit_hold = FALSE");
        // SKUs in id order, as every stock move takes them (see `stock`).
        let mut by_sku: Vec<&ChangedLine> = plan.changed.iter().collect();
        by_sku.sort_by_key(|c| c.sku_id);
        let levels = in_tx!(self, |tx| {
            async {
                if write_move(&mut *tx, order, &step).await?.is_none() {
                    return Ok::<_, ApiError>(None);
                }
                let mut levels = Vec::new();
                let mut batch = Batch::default();
                for line in by_sku {
                    let (reserved, backorder, level) =
                        move_line_stock(&mut *tx, line).await?;
                    if let Some((stock, seq)) = level {
                        levels.push(StockLevel {
                            product_id: line.product_id,
                            sku_id: line.sku_id,
                            stock,
                            seq,
                        });
                    }
                    batch.push(
                        "UPDATE order_lines SET qty = $3, line_total_fen = $4, reserved_qty = $5, backorder_qty = $6, weight_g = $7 WHERE order_id = $1 AND line_no = $2",
                        args![
                            order.id,
                            line.line_no,
                            line.qty,
                            line.total_fen,
                            reserved,
                            backorder,
                            line.weight_g,
                        ],
                    );
                    batch.push(
                        "DELETE FROM order_adjustments WHERE order_id = $1 AND line_no = $2",
                        args![order.id, line.line_no],
                    );
                    batch.push_rows(
                        "INSERT INTO order_adjustments (order_id, line_no, source, label, amount_fen, final_sale) ",
                        line.adjustments.iter().map(|a| {
                            args![
                                order.id,
                                line.line_no,
                                a.source.as_str(),
                                a.label.as_str(),
                                a.amount_fen,
                                a.final_sale,
                            ]
                        }),
                    );
                }
                tx.execute_batch(batch).await.map_err(StoreError::from)?;
                Ok(Some(levels))
            }
            .await
        })?;
        let Some(levels) = levels else {
            return Ok(None);
        };
        self.stock_moved(&levels).await;
        Ok(Some(()))
    }
}

/// Takes the extra items of a changed line from stock, or gives back the fewer: the line's
/// reserved and owed items after it, and the SKU's stock and sequence when it moved.
async fn move_line_stock<C: RunBatch + Send>(
    conn: &mut C,
    line: &ChangedLine,
) -> ApiResult<(Quantity, Quantity, Option<(i64, i64)>)> {
    let (reserved, backorder) = (line.reserved_qty, line.backorder_qty);
    if line.stock_delta < 0 {
        let level = super::stock::give_back(conn, line.sku_id, Quantity(-line.stock_delta))
            .await
            .map_err(StoreError::from)?;
        return Ok((reserved, backorder, Some(level)));
    }
    if line.stock_delta == 0 {
        return Ok((reserved, backorder, None));
    }
    match super::stock::take_stock(conn, line.sku_id, Quantity(line.stock_delta))
        .await
        .map_err(StoreError::from)?
    {
        super::stock::Take::Taken {
            reserved: more,
            backorder: owed,
            stock,
            seq,
        } => Ok((reserved + more, backorder + owed, Some((stock, seq)))),
        super::stock::Take::Short { available } => {
            let field = format!("changes[line_no={}].qty", line.line_no);
            Err(ApiError::conflict(
                "out_of_stock",
                &field,
                format!("{field}: 库存不足，仅可再加{available} (only {available} more in stock)"),
            ))
        }
    }
}

/// Whether a credit hold may be released (B6): the order is on hold and not closed. The order
/// page offers the form exactly then; `release_hold` refuses otherwise (`not_on_hold`).
pub fn hold_releasable(credit_hold: bool, status: OrderStatus) -> bool {
    credit_hold && status != OrderStatus::Closed
}

/// Release an order's credit hold with a reason (admin, customer service; B6).
#[utoipa::path(post, path = "/admin/orders/{id}/release-hold", tag = "orders", params(("id" = i64, Path)), request_body = Reason,
    responses((status = 200, body = OrderView), (status = 409, description = "`not_on_hold`", body = crate::error::ErrorBody), (status = 422, description = "`reason_required`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn release_hold(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<OrderId>,
    ApiJson(input): ApiJson<Reason>,
) -> ApiResult<Json<OrderView>> {
    let (order, scope) = scoped_order(&app, &actor, id).await?;
    actor.require(Permission::SettleOrders)?;
    let reason = reason_field(&input.reason, "reason")?;
    if !hold_releasable(order.credit_hold, order.status) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_on_hold",
            "该订单没有信用冻结 (the order is not on credit hold)",
        ));
    }
    let now = app.clock.now_ms();
    app.store
        .orders()
        .release_credit_hold(&order, actor.user_id, &reason, now)
        .await?;
    let order = app
        .store
        .orders()
        .order(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(order.view(scope.audience())))
}

impl super::OrderStore<'_> {
    async fn release_credit_hold(
        self,
        order: &OrderRecord,
        actor_id: i64,
        reason: &str,
        now_ms: i64,
    ) -> StoreResult<()> {
        in_tx!(self, |tx| {
            async {
                let mut release = Batch::default();
                release.push(
                    "UPDATE orders SET credit_hold = FALSE, updated_at = $2 WHERE id = $1 AND credit_hold = TRUE RETURNING id",
                    args![order.id, now_ms],
                );
                let released: Vec<(i64,)> = tx.fetch_batch(release).await?;
                if !released.is_empty() {
                    let mut batch = Batch::default();
                    push_note(
                        &mut batch,
                        order,
                        Action::HoldReleased,
                        Some(actor_id),
                        reason,
                        now_ms,
                    );
                    push_event(&mut batch, "order.hold_released", order, now_ms);
                    tx.execute_batch(batch).await?;
                }
                Ok::<_, StoreError>(())
            }
            .await
        })
    }
}
