//! What happens to an order before fulfilment (D5, B6, F1): the confirmer confirms it (maybe
//! changing quantities, prices and the delivery method, each with a reason) or rejects it; the
//! member cancels it while it waits; it closes by itself when not confirmed, or not paid where
//! payment comes first, in time; admin or customer service release a credit hold; staff record
//! offline payments. Every transition is guarded by the status it expects (a concurrent one
//! loses cleanly), recorded in the order's history and written to the outbox in the same
//! transaction. Closing gives the reserved stock back.

use crate::edge::extract::Multipart;
use crate::edge::extract::Path;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::fulfilment::{invalid_transition, permit};
use super::queries::{OrderRecord, OrderView};
use super::quote::{Adjustment, Area, shipping_fee};
use super::{Audience, DeliveryMethod, OrderScope, OrderStatus};
use crate::accounts::permissions::{Actor, Permission};
use crate::edge::json::{ApiJson, OptionalJson};
use crate::error::{ApiError, ApiResult};
use crate::images::{StagedImage, UploadKind, stage_image};
use crate::money::parse_fen;
use crate::notify::tell;
use crate::shop::Shop;
use crate::store::batch::{Batch, RunBatch, args};
use crate::store::{StockLevel, Store, StoreError, StoreResult, in_tx};

/// Adds the outbox event for `record` to `batch` (K2: the event commits with what it reports,
/// or not at all).
pub(crate) fn push_event(batch: &mut Batch, kind: &str, record: &OrderRecord, now_ms: i64) {
    let payload = serde_json::to_string(&OrderEventPayload::of(record)).unwrap_or_default();
    batch.push(
        "INSERT INTO events (kind, order_id, payload, created_at) VALUES ($1, $2, $3, $4)",
        args![kind, record.id, payload, now_ms],
    );
}

/// What every `order.*` event carries. Each field is classified for plugins in
/// `plugins/data.rs` (a plugin sees it only with the class granted); a field added here and
/// not classified there reaches no plugin, and fails that module's tests.
#[derive(Debug, serde::Serialize)]
pub(crate) struct OrderEventPayload {
    pub order_id: i64,
    pub order_no: String,
    pub member_id: i64,
    pub region_id: Option<i64>,
    pub manager_id: Option<i64>,
    pub status: &'static str,
    pub total_fen: i64,
    pub payment_method: &'static str,
}

impl OrderEventPayload {
    fn of(record: &OrderRecord) -> OrderEventPayload {
        OrderEventPayload {
            order_id: record.id,
            order_no: record.number(),
            member_id: record.member_id,
            region_id: record.region_id,
            manager_id: record.manager_id,
            status: record.status.as_str(),
            total_fen: record.total_fen,
            payment_method: record.payment_method.as_str(),
        }
    }
}

/// One step of an order's history, as `push_history` records it.
pub(crate) struct Step<'a> {
    pub order_id: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub action: &'a str,
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    pub remark: &'a str,
}

/// Adds a history entry to `batch`.
pub(crate) fn push_history(batch: &mut Batch, step: Step<'_>) {
    batch.push(
        "INSERT INTO order_history (order_id, at, actor_id, action, from_status, to_status, remark) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            step.order_id,
            step.at,
            step.actor_id,
            step.action,
            step.from.map(|s| s.as_str().to_owned()),
            step.to.as_str(),
            step.remark,
        ],
    );
}

impl Store {
    /// Closes an order that is still in `from`, giving its reserved stock back, with its
    /// history entry and event. `None` when the order had moved on (someone else got there
    /// first).
    pub(crate) async fn close_order(
        &self,
        order_id: i64,
        from: OrderStatus,
        actor_id: Option<i64>,
        action: &str,
        reason: &str,
        now_ms: i64,
    ) -> StoreResult<Option<OrderRecord>> {
        let Some(mut order) = self.order(order_id).await? else {
            return Ok(None);
        };
        let mut released: Vec<(i64, i64, i64)> = order
            .lines
            .iter()
            .filter(|l| l.reserved_qty > 0)
            .map(|l| (l.line.sku_id, l.line.product_id, l.reserved_qty))
            .collect();
        released.sort_unstable();
        order.status = OrderStatus::Closed;
        let levels = in_tx!(self, |tx| {
            let moved = sqlx::query(
                "UPDATE orders SET status = 'closed', updated_at = $3, closed_at = $3, close_reason = $4
                 WHERE id = $1 AND status = $2",
            )
            .bind(order_id)
            .bind(from.as_str())
            .bind(now_ms)
            .bind(reason)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !moved {
                return Ok(None);
            }
            let mut levels = Vec::with_capacity(released.len());
            for (sku_id, product_id, qty) in &released {
                let (stock, seq) = super::stock::give_back_stock!(tx, sku_id, qty)?;
                levels.push(StockLevel {
                    product_id: *product_id,
                    sku_id: *sku_id,
                    stock,
                    seq,
                });
            }
            let mut batch = Batch::default();
            push_history(
                &mut batch,
                Step {
                    order_id,
                    at: now_ms,
                    actor_id,
                    action,
                    from: Some(from),
                    to: OrderStatus::Closed,
                    remark: reason,
                },
            );
            push_event(&mut batch, "order.closed", &order, now_ms);
            tx.execute_batch(batch).await?;
            Ok::<_, StoreError>(Some(levels))
        })?;
        let Some(levels) = levels else {
            return Ok(None);
        };
        self.stock_moved(&levels).await;
        self.order(order_id).await
    }

    /// Closes what waited too long (D5): unconfirmed orders after `confirm_timeout_hours`,
    /// confirmed pay-first orders still unpaid after `payment_timeout_hours`. Returns how many.
    pub async fn close_overdue_orders(&self, now_ms: i64) -> StoreResult<usize> {
        let settings = self.settings().await?;
        let confirm_by = now_ms - settings.confirm_timeout_hours * 3_600_000;
        let pay_by = now_ms - settings.payment_timeout_hours * 3_600_000;
        let overdue: Vec<(i64, String)> = crate::store::on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, status FROM orders WHERE (status = 'pending_confirmation' AND placed_at <= $1)
                    OR (status = 'pending_payment' AND confirmed_at <= $2 AND paid_fen < total_fen)
                 ORDER BY id LIMIT 500",
            )
            .bind(confirm_by)
            .bind(pay_by)
            .fetch_all(pool)
            .await
        })?;
        let mut closed = 0;
        for (id, status) in overdue {
            let (from, reason) = if status == "pending_confirmation" {
                (
                    OrderStatus::PendingConfirmation,
                    "超时未确认，订单已自动关闭 (not confirmed in time)",
                )
            } else {
                (
                    OrderStatus::PendingPayment,
                    "超时未付款，订单已自动关闭 (not paid in time)",
                )
            };
            if let Some(order) = self
                .close_order(id, from, None, "timed_out", reason, now_ms)
                .await?
            {
                closed += 1;
                tell(
                    self,
                    order.member_id,
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

/// Whether `actor` may confirm or reject `order` (D5); admin and customer service always may
/// (E6), a manager when the member is bound to him, or has no manager and lives in his region.
pub fn may_confirm(actor: &Actor, order: &OrderRecord) -> bool {
    if actor.has(Permission::ConfirmAnyOrder) {
        return true;
    }
    actor.has(Permission::ConfirmOwnOrders)
        && match order.manager_id {
            Some(manager) => manager == actor.user_id,
            None => order
                .region_id
                .is_some_and(|r| actor.region_ids.contains(&r)),
        }
}

/// The order `id` if it lies in the caller's scope; 404 otherwise.
pub async fn scoped_order(
    app: &Shop,
    actor: &Actor,
    id: i64,
) -> ApiResult<(OrderRecord, OrderScope)> {
    let scope = OrderScope::of(actor)?;
    let order = app
        .store
        .order(id)
        .await?
        .filter(|order| scope.contains(order))
        .ok_or_else(ApiError::not_found)?;
    Ok((order, scope))
}

/// The caller's own order `id` once its goods arrived (received or completed), for what a
/// member does after delivery (after-sales, reviews): 404 outside his scope, 403 for someone
/// else's order, 409 before the goods arrived.
pub async fn my_received_order(app: &Shop, actor: &Actor, id: i64) -> ApiResult<OrderRecord> {
    let (order, _) = scoped_order(app, actor, id).await?;
    if order.member_id != actor.user_id {
        return Err(ApiError::forbidden());
    }
    if !matches!(order.status, OrderStatus::Received | OrderStatus::Completed) {
        return Err(invalid_transition(&order, Audience::Member));
    }
    Ok(order)
}

fn reason_field(reason: &str, field: &str) -> ApiResult<String> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(ApiError::invalid_field(
            "reason_required",
            field,
            format!("{field}: 请填写原因，最多200字 (a reason, at most 200 characters)"),
        ));
    }
    Ok(reason.to_owned())
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
    Path(id): Path<i64>,
    OptionalJson(input): OptionalJson<Cancellation>,
) -> ApiResult<Json<OrderView>> {
    let (order, scope) = scoped_order(&app, &actor, id).await?;
    permit(
        &actor,
        &order,
        "cancelled",
        OrderStatus::Closed,
        scope.audience(),
    )?;
    let remark = if input.reason.trim().is_empty() {
        "买家取消订单 (cancelled by the member)".to_owned()
    } else {
        reason_field(&input.reason, "reason")?
    };
    let closed = app
        .store
        .close_order(
            id,
            OrderStatus::PendingConfirmation,
            Some(actor.user_id),
            "cancelled",
            &remark,
            app.clock.now_ms(),
        )
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
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<Reason>,
) -> ApiResult<Json<OrderView>> {
    let (order, scope) = scoped_order(&app, &actor, id).await?;
    if !may_confirm(&actor, &order) {
        return Err(not_confirmer());
    }
    permit(
        &actor,
        &order,
        "rejected",
        OrderStatus::Closed,
        scope.audience(),
    )?;
    let reason = reason_field(&input.reason, "reason")?;
    let now = app.clock.now_ms();
    let closed = app
        .store
        .close_order(
            id,
            OrderStatus::PendingConfirmation,
            Some(actor.user_id),
            "rejected",
            &reason,
            now,
        )
        .await?
        .ok_or_else(|| invalid_transition(&order, scope.audience()))?;
    tell(
        &app.store,
        closed.member_id,
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

/// A change to one line at confirmation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineChange {
    pub line_no: i64,
    /// The new quantity (the same unit price; 0 drops the line).
    pub qty: Option<i64>,
    /// The new price of one item.
    pub unit_price_fen: Option<i64>,
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Confirmation {
    #[serde(default)]
    pub changes: Vec<LineChange>,
    pub delivery_method: Option<DeliveryMethod>,
    /// Why the delivery method changed (required with it).
    pub delivery_reason: Option<String>,
    #[serde(default)]
    pub remark: String,
}

/// Everything a confirmation writes, worked out before its transaction.
pub(crate) struct ConfirmPlan {
    pub(crate) changed: Vec<ChangedLine>,
    pub(crate) delivery: DeliveryMethod,
    pub(crate) goods: i64,
    pub(crate) weight: i64,
    pub(crate) shipping: i64,
    pub(crate) total: i64,
    pub(crate) next: OrderStatus,
    pub(crate) actor_id: i64,
    pub(crate) remark: String,
    pub(crate) now_ms: i64,
}

/// One line after the confirmer's changes, and what it means for stock.
pub(crate) struct ChangedLine {
    line_no: i64,
    sku_id: i64,
    product_id: i64,
    qty: i64,
    total_fen: i64,
    reserved_qty: i64,
    backorder_qty: i64,
    weight_g: i64,
    adjustments: Vec<Adjustment>,
    /// Extra items to take from stock (> 0) or to give back (< 0).
    stock_delta: i64,
}

/// Confirm an order (its confirmer, D5), maybe changing quantities, prices and the delivery
/// method, each with a reason. Pay-first orders wait for payment next; the others for dispatch.
#[utoipa::path(post, path = "/admin/orders/{id}/confirm", tag = "orders", params(("id" = i64, Path)), request_body(content = Option<Confirmation>, description = "Optional: an empty body confirms the order as placed"),
    responses((status = 200, body = OrderView), (status = 403, description = "`not_confirmer`", body = crate::error::ErrorBody), (status = 409, description = "`credit_hold`, `invalid_transition`, `out_of_stock`", body = crate::error::ErrorBody), (status = 422, description = "`amount_out_of_range`, `address_required`, `duplicate_line`, `invalid_money`, `invalid_quantity`, `reason_required`, `unknown_line`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn confirm(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
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
        "confirmed",
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
    let settings = app.store.settings().await?;
    let mut notes: Vec<String> = Vec::new();
    let mut changed: Vec<ChangedLine> = Vec::new();
    for (index, change) in input.changes.iter().enumerate() {
        let field = |name: &str| format!("changes[{index}].{name}");
        let reason = reason_field(&change.reason, &field("reason"))?;
        let line = order
            .lines
            .iter()
            .find(|l| l.line.line_no == change.line_no)
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "unknown_line",
                    &field("line_no"),
                    format!("{}: 订单没有这一行 (no such line)", field("line_no")),
                )
            })?;
        if changed.iter().any(|c| c.line_no == change.line_no) {
            return Err(ApiError::invalid_field(
                "duplicate_line",
                &field("line_no"),
                format!("{}: 每行只能修改一次 (each line once)", field("line_no")),
            ));
        }
        let old = &line.line;
        let qty = change.qty.unwrap_or(old.qty);
        if !(0..=super::quote::MAX_QTY).contains(&qty) {
            return Err(ApiError::invalid_field(
                "invalid_quantity",
                &field("qty"),
                format!("{}: 数量须在0到{}之间", field("qty"), super::quote::MAX_QTY),
            ));
        }
        // A new quantity keeps the line's unit price: the list price and every adjustment scale
        // (in i128, so a large amount times a large quantity is exact before it is bounded).
        let mut adjustments: Vec<Adjustment> = old
            .adjustments
            .iter()
            .map(|a| {
                let amount_fen = if old.qty == 0 {
                    Some(0)
                } else {
                    crate::money::scale_fen(a.amount_fen, qty, old.qty)
                };
                amount_fen.map(|amount_fen| Adjustment {
                    amount_fen,
                    ..a.clone()
                })
            })
            .collect::<Option<_>>()
            .ok_or_else(|| crate::money::out_of_range(&field("qty")))?;
        let mut total = old
            .list_price_fen
            .checked_mul(qty)
            .zip(crate::money::checked_sum(
                adjustments.iter().map(|a| a.amount_fen),
            ))
            .and_then(|(list, adjusted)| list.checked_add(adjusted))
            .filter(|total| *total <= crate::money::MAX_ORDER_FEN)
            .ok_or_else(|| crate::money::out_of_range(&field("qty")))?;
        if qty != old.qty {
            notes.push(format!(
                "第{}行 数量 {}→{}（{reason}）",
                old.line_no, old.qty, qty
            ));
        }
        if let Some(unit) = change.unit_price_fen {
            let unit = parse_fen(unit, &field("unit_price_fen"))?;
            let target = unit
                .checked_mul(qty)
                .filter(|target| *target <= crate::money::MAX_ORDER_FEN)
                .ok_or_else(|| crate::money::out_of_range(&field("unit_price_fen")))?;
            if target != total {
                adjustments.push(Adjustment {
                    source: "staff".to_owned(),
                    label: format!("改价：{reason}"),
                    // Both within [0, MAX_ORDER_FEN]: the difference cannot overflow.
                    amount_fen: target - total,
                });
                notes.push(format!(
                    "第{}行 单价 {}→{}（{reason}）",
                    old.line_no,
                    crate::money::format_price(if old.qty == 0 {
                        0
                    } else {
                        old.line_total_fen / old.qty
                    }),
                    crate::money::format_price(unit)
                ));
                total = target;
            }
        }
        // Fewer items give back backordered ones first, then reserved ones.
        let (reserved, backorder, delta) = if qty >= old.qty {
            (line.reserved_qty, line.backorder_qty, qty - old.qty)
        } else {
            let fewer = old.qty - qty;
            let from_backorder = fewer.min(line.backorder_qty);
            let from_reserved = fewer - from_backorder;
            (
                line.reserved_qty - from_reserved,
                line.backorder_qty - from_backorder,
                -from_reserved,
            )
        };
        changed.push(ChangedLine {
            line_no: old.line_no,
            sku_id: old.sku_id,
            product_id: old.product_id,
            qty,
            total_fen: total,
            reserved_qty: reserved,
            backorder_qty: backorder,
            weight_g: if old.qty == 0 {
                0
            } else {
                old.weight_g / old.qty * qty
            },
            adjustments,
            stock_delta: delta,
        });
    }
    let delivery = input.delivery_method.unwrap_or(order.delivery_method);
    if delivery != order.delivery_method {
        let reason = reason_field(
            input.delivery_reason.as_deref().unwrap_or(""),
            "delivery_reason",
        )?;
        if delivery.ships() && order.address.is_none() {
            return Err(ApiError::invalid_field(
                "address_required",
                "delivery_method",
                "delivery_method: 该订单没有收货地址，不能改为发货 (the order has no address to ship to)",
            ));
        }
        notes.push(format!(
            "配送方式 {}→{}（{reason}）",
            order.delivery_method.label(),
            delivery.label()
        ));
    }
    let remark = crate::accounts::parse_text(&input.remark, "remark", 200)?;
    if !remark.is_empty() {
        notes.push(remark);
    }
    // The totals after the changes (N): lines, then shipping for the new weight and goods.
    let goods = crate::money::checked_sum(order.lines.iter().map(|l| {
        changed
            .iter()
            .find(|c| c.line_no == l.line.line_no)
            .map_or(l.line.line_total_fen, |c| c.total_fen)
    }))
    .ok_or_else(|| crate::money::out_of_range("changes"))?;
    let weight: i64 = order
        .lines
        .iter()
        .map(|l| {
            changed
                .iter()
                .find(|c| c.line_no == l.line.line_no)
                .map_or(l.line.weight_g, |c| c.weight_g)
        })
        .sum();
    let shipping = if changed.is_empty() && delivery == order.delivery_method {
        order.shipping_fen
    } else {
        let area = order.address.as_ref().map(|a| Area {
            province: a.province.clone(),
            city: a.city.clone(),
        });
        shipping_fee(
            &settings.shipping,
            delivery,
            area.as_ref(),
            weight,
            goods.saturating_add(order.adjustments_fen),
        )
        .0
    };
    let total = goods
        .checked_add(order.adjustments_fen)
        .and_then(|t| t.checked_add(shipping))
        .filter(|total| *total <= crate::money::MAX_ORDER_FEN)
        .ok_or_else(|| crate::money::out_of_range("changes"))?;
    if total < 0 {
        return Err(ApiError::invalid_field(
            "invalid_money",
            "changes",
            "changes: 订单金额不能为负 (the order total cannot be negative)",
        ));
    }
    let next = if order.payment_method.pays_first() && order.paid_fen < total {
        OrderStatus::PendingPayment
    } else {
        OrderStatus::AwaitingDispatch
    };
    permit(&actor, &order, "confirmed", next, scope.audience())?;
    let now = app.clock.now_ms();
    let remark = notes.join("；");
    app.store
        .confirm_order(
            &order,
            &ConfirmPlan {
                changed,
                delivery,
                goods,
                weight,
                shipping,
                total,
                next,
                actor_id: actor.user_id,
                remark,
                now_ms: now,
            },
        )
        .await?
        .ok_or_else(|| invalid_transition(&order, scope.audience()))?;
    let confirmed = app.store.order(id).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(confirmed.view(scope.audience())))
}

impl Store {
    /// Writes a confirmation: the status (guarded), changed lines with their stock, totals,
    /// history and event. `Some(())` when it went through; `None` when the order had moved on.
    pub(crate) async fn confirm_order(
        &self,
        order: &OrderRecord,
        plan: &ConfirmPlan,
    ) -> Result<Option<()>, ApiError> {
        let &ConfirmPlan {
            ref changed,
            delivery,
            goods,
            weight,
            shipping,
            total,
            next,
            actor_id,
            ref remark,
            now_ms,
        } = plan;
        let remark = remark.as_str();
        let mut by_sku: Vec<&ChangedLine> = changed.iter().collect();
        by_sku.sort_by_key(|c| c.sku_id);
        let levels = in_tx!(self, |tx| {
            let moved = sqlx::query(
                "UPDATE orders SET status = $3, delivery_method = $4, goods_fen = $5, weight_g = $6, shipping_fen = $7, total_fen = $8,
                    confirmed_at = $9, confirmed_by = $10, updated_at = $9
                 WHERE id = $1 AND status = $2 AND credit_hold = FALSE",
            )
            .bind(order.id)
            .bind(OrderStatus::PendingConfirmation.as_str())
            .bind(next.as_str())
            .bind(delivery.as_str())
            .bind(goods)
            .bind(weight)
            .bind(shipping)
            .bind(total)
            .bind(now_ms)
            .bind(actor_id)
            .execute(&mut *tx)
            .await
            ?
            .rows_affected()
                == 1;
            if !moved {
                return Ok(None);
            }
            let mut lines = Vec::new();
            let mut levels = Vec::new();
            for line in by_sku {
                let (mut reserved, mut backorder) = (line.reserved_qty, line.backorder_qty);
                let level = if line.stock_delta > 0 {
                    match super::stock::take_stock(&mut *tx, line.sku_id, line.stock_delta).await? {
                        super::stock::Take::Taken {
                            reserved: more,
                            backorder: owed,
                            stock,
                            seq,
                        } => {
                            reserved += more;
                            backorder += owed;
                            Some((stock, seq))
                        }
                        super::stock::Take::Short { available } => {
                            let field = format!("changes[line_no={}].qty", line.line_no);
                            return Err(ApiError::conflict(
                                "out_of_stock",
                                &field,
                                format!(
                                    "{field}: 库存不足，仅可再加{available} (only {available} more in stock)"
                                ),
                            ));
                        }
                    }
                } else if line.stock_delta < 0 {
                    Some(super::stock::give_back_stock!(
                        tx,
                        line.sku_id,
                        -line.stock_delta
                    )?)
                } else {
                    None
                };
                if let Some((stock, seq)) = level {
                    levels.push(StockLevel {
                        product_id: line.product_id,
                        sku_id: line.sku_id,
                        stock,
                        seq,
                    });
                }
                lines.push((line, reserved, backorder));
            }
            for (line, reserved, backorder) in &lines {
                sqlx::query("UPDATE order_lines SET qty = $3, line_total_fen = $4, reserved_qty = $5, backorder_qty = $6, weight_g = $7 WHERE order_id = $1 AND line_no = $2")
                    .bind(order.id)
                    .bind(line.line_no)
                    .bind(line.qty)
                    .bind(line.total_fen)
                    .bind(reserved)
                    .bind(backorder)
                    .bind(line.weight_g)
                    .execute(&mut *tx)
                    .await
                    ?;
                sqlx::query("DELETE FROM order_adjustments WHERE order_id = $1 AND line_no = $2")
                    .bind(order.id)
                    .bind(line.line_no)
                    .execute(&mut *tx)
                    .await?;
                for adjustment in &line.adjustments {
                    sqlx::query("INSERT INTO order_adjustments (order_id, line_no, source, label, amount_fen) VALUES ($1, $2, $3, $4, $5)")
                        .bind(order.id)
                        .bind(line.line_no)
                        .bind(&adjustment.source)
                        .bind(&adjustment.label)
                        .bind(adjustment.amount_fen)
                        .execute(&mut *tx)
                        .await
                        ?;
                }
            }
            let mut batch = Batch::default();
            push_history(
                &mut batch,
                Step {
                    order_id: order.id,
                    at: now_ms,
                    actor_id: Some(actor_id),
                    action: "confirmed",
                    from: Some(OrderStatus::PendingConfirmation),
                    to: next,
                    remark,
                },
            );
            let mut confirmed = order.clone();
            confirmed.status = next;
            confirmed.total_fen = total;
            push_event(&mut batch, "order.confirmed", &confirmed, now_ms);
            tx.execute_batch(batch).await?;
            Ok::<_, ApiError>(Some(levels))
        })?;
        let Some(levels) = levels else {
            return Ok(None);
        };
        self.stock_moved(&levels).await;
        Ok(Some(()))
    }
}

/// Release an order's credit hold with a reason (admin, customer service; B6).
#[utoipa::path(post, path = "/admin/orders/{id}/release-hold", tag = "orders", params(("id" = i64, Path)), request_body = Reason,
    responses((status = 200, body = OrderView), (status = 409, description = "`not_on_hold`", body = crate::error::ErrorBody), (status = 422, description = "`reason_required`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn release_hold(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<Reason>,
) -> ApiResult<Json<OrderView>> {
    let (order, scope) = scoped_order(&app, &actor, id).await?;
    actor.require(Permission::SettleOrders)?;
    let reason = reason_field(&input.reason, "reason")?;
    if !order.credit_hold || order.status == OrderStatus::Closed {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_on_hold",
            "该订单没有信用冻结 (the order is not on credit hold)",
        ));
    }
    let now = app.clock.now_ms();
    app.store
        .release_credit_hold(&order, actor.user_id, &reason, now)
        .await?;
    let order = app.store.order(id).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(order.view(scope.audience())))
}

impl Store {
    async fn release_credit_hold(
        &self,
        order: &OrderRecord,
        actor_id: i64,
        reason: &str,
        now_ms: i64,
    ) -> StoreResult<()> {
        in_tx!(self, |tx| {
            let released = sqlx::query("UPDATE orders SET credit_hold = FALSE, updated_at = $2 WHERE id = $1 AND credit_hold = TRUE")
                .bind(order.id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if released {
                let mut batch = Batch::default();
                push_history(
                    &mut batch,
                    Step {
                        order_id: order.id,
                        at: now_ms,
                        actor_id: Some(actor_id),
                        action: "hold_released",
                        from: Some(order.status),
                        to: order.status,
                        remark: reason,
                    },
                );
                push_event(&mut batch, "order.hold_released", order, now_ms);
                tx.execute_batch(batch).await?;
            }
            Ok::<_, StoreError>(())
        })
    }

    /// Records money received for an order (F1) and moves a paid pay-first order on to
    /// dispatch. Refused (`false`) when the order is closed.
    pub(crate) async fn record_payment(
        &self,
        order: &OrderRecord,
        entry: &PaymentEntry<'_>,
        now_ms: i64,
    ) -> StoreResult<bool> {
        let PaymentEntry {
            kind,
            amount_fen,
            proof: upload_key,
            remark,
            actor_id,
        } = *entry;
        in_tx!(self, |tx| {
            if let Some(image) = upload_key {
                sqlx::query("INSERT INTO uploads (key, owner_id, kind, content_type, size_bytes, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(&image.key)
                    .bind(order.member_id)
                    .bind(image.kind.as_str())
                    .bind(image.content_type)
                    .bind(image.size_bytes)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
            }
            let is_payment = kind == "payment";
            let updated = sqlx::query(
                "UPDATE orders SET paid_fen = paid_fen + $2, paid_at = CASE WHEN $3 THEN $4 ELSE paid_at END, updated_at = $4
                 WHERE id = $1 AND status <> 'closed' AND paid_fen + $2 <= total_fen",
            )
            .bind(order.id)
            .bind(if is_payment { amount_fen } else { 0 })
            .bind(is_payment)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !updated {
                // Closed meanwhile, or a concurrent payment left less owed than this one.
                let closed: Option<bool> =
                    sqlx::query_scalar("SELECT status = 'closed' FROM orders WHERE id = $1")
                        .bind(order.id)
                        .fetch_optional(&mut *tx)
                        .await?;
                return if closed == Some(false) {
                    Err(StoreError::BoundReached("amount_fen"))
                } else {
                    Ok(false)
                };
            }
            sqlx::query("INSERT INTO order_payments (order_id, kind, amount_fen, upload_key, remark, actor_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(order.id)
                .bind(kind)
                .bind(amount_fen)
                .bind(upload_key.map(|i| i.key.clone()))
                .bind(remark)
                .bind(actor_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            let mut batch = Batch::default();
            if is_payment {
                let paid_up = sqlx::query(
                    "UPDATE orders SET status = 'awaiting_dispatch' WHERE id = $1 AND status = 'pending_payment' AND paid_fen >= total_fen",
                )
                .bind(order.id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                let to = if paid_up {
                    OrderStatus::AwaitingDispatch
                } else {
                    order.status
                };
                push_history(
                    &mut batch,
                    Step {
                        order_id: order.id,
                        at: now_ms,
                        actor_id: Some(actor_id),
                        action: "paid",
                        from: Some(order.status),
                        to,
                        remark,
                    },
                );
                let mut paid = order.clone();
                paid.status = to;
                push_event(&mut batch, "order.paid", &paid, now_ms);
                // E9: received and now paid in full is completed.
                let mut complete = Batch::default();
                complete.push(
                    "UPDATE orders SET status = 'completed', completed_at = $2 WHERE id = $1 AND status = 'received' AND paid_fen >= total_fen RETURNING id",
                    crate::store::batch::args![order.id, now_ms],
                );
                let completed: Vec<(i64,)> = tx.fetch_batch(complete).await?;
                if !completed.is_empty() {
                    push_history(
                        &mut batch,
                        Step {
                            order_id: order.id,
                            at: now_ms,
                            actor_id: None,
                            action: "completed",
                            from: Some(OrderStatus::Received),
                            to: OrderStatus::Completed,
                            remark: "已收货且已付清 (received and paid in full)",
                        },
                    );
                    paid.status = OrderStatus::Completed;
                    push_event(&mut batch, "order.completed", &paid, now_ms);
                }
            } else {
                push_history(
                    &mut batch,
                    Step {
                        order_id: order.id,
                        at: now_ms,
                        actor_id: Some(actor_id),
                        action: "receipt_uploaded",
                        from: Some(order.status),
                        to: order.status,
                        remark,
                    },
                );
            }
            tx.execute_batch(batch).await?;
            Ok::<_, StoreError>(true)
        })
    }
}

/// A payment record to write: a member's receipt or staff's mark of money received.
#[derive(Clone, Copy)]
pub(crate) struct PaymentEntry<'a> {
    pub(crate) kind: &'a str,
    pub(crate) amount_fen: i64,
    pub(crate) proof: Option<&'a StagedImage>,
    pub(crate) remark: &'a str,
    pub(crate) actor_id: i64,
}

/// Reads a payment form: `amount_fen`, `remark` and an optional `proof` picture.
/// A payment as staff send it: JSON when there is no picture (`{"amount_fen", "remark"}`), or
/// the multipart form with a `proof`.
pub enum PaymentBody {
    Json(PaymentNote),
    Form(Multipart),
}

/// A payment without a picture.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentNote {
    /// What was received, in fen.
    pub amount_fen: i64,
    /// How it was received (e.g. 现金，张师傅代收).
    #[serde(default)]
    pub remark: String,
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for PaymentBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> ApiResult<PaymentBody> {
        let multipart = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("multipart/form-data"));
        if multipart {
            return Multipart::from_request(req, state)
                .await
                .map(PaymentBody::Form);
        }
        ApiJson::<PaymentNote>::from_request(req, state)
            .await
            .map(|ApiJson(note)| PaymentBody::Json(note))
    }
}

async fn payment_form(
    app: &Shop,
    body: PaymentBody,
) -> ApiResult<(Option<i64>, String, Option<StagedImage>)> {
    let mut form = match body {
        PaymentBody::Json(note) => {
            let amount = parse_fen(note.amount_fen, "amount_fen")?;
            let remark = crate::accounts::parse_text(&note.remark, "remark", 200)?;
            return Ok((Some(amount), remark, None));
        }
        PaymentBody::Form(form) => form,
    };
    let mut amount = None;
    let mut remark = String::new();
    let mut proof = None;
    while let Some(field) = form.next_field().await? {
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "amount_fen" => {
                let text = crate::edge::json::form_text(field).await?;
                let value: i64 = text.trim().parse().map_err(|_| {
                    ApiError::invalid_field(
                        "invalid_money",
                        "amount_fen",
                        "amount_fen: 金额须为整数分 (integer fen)",
                    )
                })?;
                amount = Some(parse_fen(value, "amount_fen")?);
            }
            "remark" => remark = crate::edge::json::form_text(field).await?.trim().to_owned(),
            "proof" => {
                let bytes = field
                    .bytes()
                    .await
                    .map_err(crate::edge::json::unreadable_form)?;
                proof = Some(
                    stage_image(
                        &app.config.data_dir,
                        UploadKind::PaymentProof,
                        bytes,
                        "proof",
                    )
                    .await?,
                );
            }
            other => {
                return Err(ApiError::invalid_field(
                    "invalid_input",
                    other,
                    format!("{other}: 未知字段 (unknown field)"),
                ));
            }
        }
    }
    let remark = crate::accounts::parse_text(&remark, "remark", 200)?;
    Ok((amount, remark, proof))
}

/// The form of `POST /orders/{id}/receipts` (multipart/form-data).
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documents the multipart form for the OpenAPI document"
)]
pub struct ReceiptForm {
    /// A picture of the transfer (JPEG, PNG or WebP, at most 8 MB).
    #[schema(value_type = String, format = Binary)]
    proof: Vec<u8>,
    /// What was transferred, in fen.
    amount_fen: Option<i64>,
    remark: Option<String>,
}

/// Upload a transfer receipt for my order (F1): a picture of the bank, WeChat or Alipay
/// transfer, for staff to check before marking it paid.
#[utoipa::path(post, path = "/orders/{id}/receipts", tag = "orders", params(("id" = i64, Path)),
    request_body(content = ReceiptForm, content_type = "multipart/form-data"),
    responses((status = 200, body = OrderView), (status = 409, description = "`changed_meanwhile`, `invalid_transition`", body = crate::error::ErrorBody), (status = 422, description = "`image_too_large`, `invalid_image`, `invalid_money`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn upload_receipt(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
    form: Multipart,
) -> ApiResult<Json<OrderView>> {
    let (order, scope) = scoped_order(&app, &actor, id).await?;
    if order.member_id != actor.user_id {
        return Err(ApiError::forbidden());
    }
    let (amount, remark, proof) = payment_form(&app, PaymentBody::Form(form)).await?;
    let proof = proof.ok_or_else(|| {
        ApiError::invalid_field(
            "invalid_image",
            "proof",
            "proof: 请上传转账凭证 (a picture of the transfer)",
        )
    })?;
    let now = app.clock.now_ms();
    let recorded = app
        .store
        .record_payment(
            &order,
            &PaymentEntry {
                kind: "receipt",
                amount_fen: amount.unwrap_or(0),
                proof: Some(&proof),
                remark: &remark,
                actor_id: actor.user_id,
            },
            now,
        )
        .await?;
    if !recorded {
        return Err(invalid_transition(&order, scope.audience()));
    }
    proof.keep();
    let order = app.store.order(id).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(order.view(scope.audience())))
}

/// The form of `POST /admin/orders/{id}/payments` (multipart/form-data).
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documents the multipart form for the OpenAPI document"
)]
pub struct PaymentForm {
    /// What was received, in fen.
    amount_fen: i64,
    /// A picture of the proof of payment (JPEG, PNG or WebP); or else a `remark`.
    #[schema(value_type = Option<String>, format = Binary)]
    proof: Option<Vec<u8>>,
    remark: Option<String>,
}

/// Mark money received for an order (admin, customer service; F1), with a proof picture or a
/// remark. A pay-first order paid in full moves on to 待发货.
#[utoipa::path(post, path = "/admin/orders/{id}/payments", tag = "orders", params(("id" = i64, Path)),
    request_body(description = "JSON without a picture, or the form with a `proof` picture", content((PaymentNote = "application/json"), (PaymentForm = "multipart/form-data"))),
    responses((status = 200, body = OrderView), (status = 409, description = "`changed_meanwhile`, `invalid_transition`", body = crate::error::ErrorBody), (status = 422, description = "`image_too_large`, `invalid_image`, `invalid_money`, `overpayment`, `proof_required`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn mark_paid(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
    body: PaymentBody,
) -> ApiResult<Json<OrderView>> {
    let (order, scope) = scoped_order(&app, &actor, id).await?;
    actor.require(Permission::SettleOrders)?;
    let (amount, remark, proof) = payment_form(&app, body).await?;
    let amount = amount.filter(|a| *a > 0).ok_or_else(|| {
        ApiError::invalid_field(
            "invalid_money",
            "amount_fen",
            "amount_fen: 请填写收款金额 (the amount received)",
        )
    })?;
    if proof.is_none() && remark.is_empty() {
        return Err(ApiError::invalid_field(
            "proof_required",
            "remark",
            "remark: 请上传收款凭证或填写备注 (a proof picture or a remark)",
        ));
    }
    if order.status == OrderStatus::PendingConfirmation {
        // E9: payment only after confirmation, so the price is fixed when it is paid.
        return Err(invalid_transition(&order, scope.audience()));
    }
    let owed = order.total_fen - order.paid_fen;
    if amount > owed {
        return Err(ApiError::invalid_field(
            "overpayment",
            "amount_fen",
            format!(
                "amount_fen: 超出应付金额，尚欠{} (more than the {} still owed)",
                crate::money::format_price(owed.max(0)),
                crate::money::format_price(owed.max(0))
            ),
        ));
    }
    let now = app.clock.now_ms();
    let recorded = app
        .store
        .record_payment(
            &order,
            &PaymentEntry {
                kind: "payment",
                amount_fen: amount,
                proof: proof.as_ref(),
                remark: &remark,
                actor_id: actor.user_id,
            },
            now,
        )
        .await?;
    if !recorded {
        return Err(invalid_transition(&order, scope.audience()));
    }
    if let Some(proof) = proof {
        proof.keep();
    }
    let order = app.store.order(id).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(order.view(scope.audience())))
}
