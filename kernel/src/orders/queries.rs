//! Reading orders: one order with its lines, adjustments, payments and history; lists with the
//! staff's filters (D6).

use serde::Deserialize;
use sqlx::FromRow;
use utoipa::IntoParams;

use super::fulfilment::{Driver, Fulfilment, Shipment};
use super::quote::{Adjustment, QuotedLine};
use super::record::{HistoryEntry, OrderLine, OrderRecord, OrderView, PaymentRecord};
use super::{DeliveryMethod, OrderScope, OrderStatus, order_number};
use crate::clock::rfc3339;
use crate::ids::{MemberId, OrderId, ProductId, SkuId};
use crate::money::Fen;
use crate::quantity::Quantity;
use crate::settings::PaymentMethod;
use crate::store::{Page, StoreError, StoreResult, on_pool};

#[derive(FromRow)]
struct OrderRow {
    id: OrderId,
    member_id: MemberId,
    member_name: String,
    shop_name: Option<String>,
    placed_by: i64,
    region_id: Option<i64>,
    manager_id: Option<i64>,
    promoter_id: Option<i64>,
    level_id: Option<i64>,
    status: String,
    credit_hold: bool,
    payment_method: String,
    delivery_method: String,
    address: String,
    remark: String,
    po_number: String,
    requested_date: Option<String>,
    goods_fen: Fen,
    shipping_fen: Fen,
    adjustments_fen: Fen,
    total_fen: Fen,
    paid_fen: Fen,
    weight_g: i64,
    close_reason: Option<String>,
    placed_at: i64,
    confirmed_at: Option<i64>,
    confirmed_by: Option<i64>,
    paid_at: Option<i64>,
    closed_at: Option<i64>,
    driver_id: Option<i64>,
    driver_name: Option<String>,
    driver_phone: Option<String>,
    driver_plate: Option<String>,
    shipment: Option<String>,
    carrier: String,
    tracking_no: String,
    expected_date: Option<String>,
    dispatch_remark: String,
    dispatched_at: Option<i64>,
    received_at: Option<i64>,
    completed_at: Option<i64>,
    pickup_point_id: Option<i64>,
    pickup_name: Option<String>,
    pickup_address: Option<String>,
    pickup_map_url: Option<String>,
    pickup_phone: Option<String>,
    pickup_region_id: Option<i64>,
    pickup_code: Option<String>,
    refunded_fen: Fen,
    after_sales_open: bool,
    parent_id: Option<OrderId>,
    parent_placed_at: Option<i64>,
}

const ORDER_SELECT: &str = "SELECT o.id, o.member_id, u.name AS member_name, m.shop_name, o.placed_by, o.region_id, o.manager_id, o.promoter_id, o.level_id,
    o.status, o.credit_hold, o.payment_method, o.delivery_method, o.address, o.remark, o.po_number, o.requested_date,
    o.goods_fen, o.shipping_fen, o.adjustments_fen, o.total_fen, o.paid_fen, o.weight_g, o.close_reason,
    o.placed_at, o.confirmed_at, o.confirmed_by, o.paid_at, o.closed_at,
    o.driver_id, d.name AS driver_name, d.phone AS driver_phone, d.vehicle_plate AS driver_plate,
    o.shipment, o.carrier, o.tracking_no, o.expected_date, o.dispatch_remark, o.dispatched_at, o.received_at, o.completed_at,
    o.pickup_point_id, p.name AS pickup_name, p.address AS pickup_address, p.map_url AS pickup_map_url, p.phone AS pickup_phone,
    p.region_id AS pickup_region_id, o.pickup_code, o.refunded_fen, o.parent_id, parent.placed_at AS parent_placed_at,
    EXISTS (SELECT 1 FROM after_sales a WHERE a.order_id = o.id AND a.status IN ('requested', 'approved', 'collected')) AS after_sales_open
    FROM orders o JOIN users u ON u.id = o.member_id LEFT JOIN members m ON m.user_id = o.member_id
    LEFT JOIN users d ON d.id = o.driver_id LEFT JOIN pickup_points p ON p.id = o.pickup_point_id
    LEFT JOIN orders parent ON parent.id = o.parent_id";

#[derive(FromRow)]
struct LineRow {
    order_id: OrderId,
    line_no: i64,
    sku_id: SkuId,
    product_id: ProductId,
    item_no: String,
    name: String,
    model: String,
    spec: String,
    unit_label: String,
    qty: i64,
    list_price_fen: i64,
    line_total_fen: i64,
    reserved_qty: Quantity,
    backorder_qty: Quantity,
    followup_qty: Quantity,
    weight_g: i64,
    gift: bool,
    brand_id: Option<i64>,
    category_ids: String,
}

#[derive(FromRow)]
struct AdjustmentRow {
    order_id: OrderId,
    line_no: Option<i64>,
    source: String,
    label: String,
    amount_fen: i64,
    final_sale: bool,
}

#[derive(FromRow)]
struct HistoryRow {
    order_id: OrderId,
    at: i64,
    actor_id: Option<i64>,
    action: String,
    from_status: Option<String>,
    to_status: String,
    remark: String,
}

#[derive(FromRow)]
struct PaymentRow {
    order_id: OrderId,
    kind: String,
    amount_fen: i64,
    upload_key: Option<String>,
    remark: String,
    actor_id: i64,
    at: i64,
}

/// The rows that make up some orders, read together.
struct OrderParts {
    rows: Vec<OrderRow>,
    lines: Vec<LineRow>,
    adjustments: Vec<AdjustmentRow>,
    history: Vec<HistoryRow>,
    payments: Vec<PaymentRow>,
    photos: Vec<(OrderId, String)>,
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Other(format!("stored order has an unknown {what}: {value}"))
}

impl OrderRow {
    fn into_record(self) -> StoreResult<OrderRecord> {
        Ok(OrderRecord {
            id: self.id,
            member_id: self.member_id,
            member_name: self.member_name,
            shop_name: self.shop_name,
            placed_by: self.placed_by,
            region_id: self.region_id,
            manager_id: self.manager_id,
            promoter_id: self.promoter_id,
            level_id: self.level_id,
            status: OrderStatus::from_db(&self.status)
                .ok_or_else(|| corrupt("status", &self.status))?,
            credit_hold: self.credit_hold,
            payment_method: PaymentMethod::from_db(&self.payment_method)
                .ok_or_else(|| corrupt("payment method", &self.payment_method))?,
            delivery_method: DeliveryMethod::from_db(&self.delivery_method)
                .ok_or_else(|| corrupt("delivery method", &self.delivery_method))?,
            address: serde_json::from_str(&self.address)
                .map_err(|e| corrupt("address", &e.to_string()))?,
            remark: self.remark,
            po_number: self.po_number,
            requested_date: self.requested_date,
            goods_fen: self.goods_fen,
            shipping_fen: self.shipping_fen,
            adjustments_fen: self.adjustments_fen,
            total_fen: self.total_fen,
            paid_fen: self.paid_fen,
            refunded_fen: self.refunded_fen,
            after_sales_open: self.after_sales_open,
            weight_g: self.weight_g,
            close_reason: self.close_reason,
            placed_at: self.placed_at,
            confirmed_at: self.confirmed_at,
            confirmed_by: self.confirmed_by,
            paid_at: self.paid_at,
            closed_at: self.closed_at,
            parent: self
                .parent_id
                .zip(self.parent_placed_at)
                .map(|(id, placed_at)| (id, order_number(id, placed_at))),
            lines: Vec::new(),
            adjustments: Vec::new(),
            payments: Vec::new(),
            history: Vec::new(),
            fulfilment: Fulfilment {
                shipment: match self.shipment.as_deref() {
                    None => None,
                    Some(text) => {
                        Some(Shipment::from_db(text).ok_or_else(|| corrupt("shipment", text))?)
                    }
                },
                driver: self.driver_id.map(|id| Driver {
                    id,
                    name: self.driver_name.unwrap_or_default(),
                    phone: self.driver_phone.unwrap_or_default(),
                    plate: self.driver_plate,
                }),
                carrier: self.carrier,
                tracking_no: self.tracking_no,
                expected_date: self.expected_date,
                remark: self.dispatch_remark,
                dispatched_at: self.dispatched_at,
                received_at: self.received_at,
                completed_at: self.completed_at,
                photos: Vec::new(),
                pickup_point: self.pickup_point_id.map(|id| super::pickup::PickupPoint {
                    id,
                    name: self.pickup_name.unwrap_or_default(),
                    address: self.pickup_address.unwrap_or_default(),
                    map_url: self.pickup_map_url.unwrap_or_default(),
                    phone: self.pickup_phone.unwrap_or_default(),
                    region_id: self.pickup_region_id,
                }),
                pickup_code: self.pickup_code,
            },
        })
    }
}

/// Which orders a list shows (D6).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    pub status: Option<OrderStatus>,
    pub region_id: Option<i64>,
    pub member_id: Option<i64>,
    pub payment_method: Option<PaymentMethod>,
    pub delivery_method: Option<DeliveryMethod>,
    /// Only orders on credit hold.
    pub credit_hold: Option<bool>,
    /// An order number, or part of the member's name, shop name or phone, or the PO number.
    pub q: Option<String>,
    /// Placed on or after this shop date (`2026-11-30`).
    pub from: Option<String>,
    /// Placed on or before this shop date.
    pub to: Option<String>,
    /// Newest first; default 50, at most 200 (export: at most 10,000).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A parsed `OrderQuery` with the caller's scope.
#[derive(Debug, Clone)]
pub struct OrderFilter {
    pub scope: OrderScope,
    /// Any of these; empty: any status.
    pub statuses: Vec<OrderStatus>,
    pub region_id: Option<i64>,
    pub member_id: Option<i64>,
    pub payment_method: Option<PaymentMethod>,
    pub delivery_method: Option<DeliveryMethod>,
    pub credit_hold: Option<bool>,
    /// An exact id from an order number.
    pub number_id: Option<OrderId>,
    pub text: Option<String>,
    pub placed_from: Option<i64>,
    pub placed_before: Option<i64>,
    /// Oldest first (a driver's round), instead of newest first.
    pub oldest_first: bool,
    pub limit: i64,
    pub offset: i64,
}

impl OrderFilter {
    /// Every order in `scope`, newest first, the first page of 50.
    pub fn scoped(scope: OrderScope) -> OrderFilter {
        OrderFilter {
            scope,
            statuses: Vec::new(),
            region_id: None,
            member_id: None,
            payment_method: None,
            delivery_method: None,
            credit_hold: None,
            number_id: None,
            text: None,
            placed_from: None,
            placed_before: None,
            oldest_first: false,
            limit: 50,
            offset: 0,
        }
    }
}

impl super::OrderStore<'_> {
    /// One order with everything it carries.
    pub async fn order(self, id: OrderId) -> StoreResult<Option<OrderRecord>> {
        Ok(self.orders_with_details(&[id]).await?.into_iter().next())
    }

    /// Orders by id, in that order, with lines, adjustments, payments and history.
    pub async fn orders_with_details(self, ids: &[OrderId]) -> StoreResult<Vec<OrderRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let head = format!("{ORDER_SELECT} WHERE o.id IN ");
        let raw_ids: Vec<i64> = ids.iter().map(|id| id.get()).collect();
        let OrderParts {
            rows,
            lines,
            adjustments,
            history,
            payments,
            photos,
        } = on_pool!(self, |pool| {
            let rows = crate::store::id_list_query(&head, &raw_ids)
                .build_query_as()
                .fetch_all(pool)
                .await?;
            let lines = crate::store::id_list_query(
                "SELECT order_id, line_no, sku_id, product_id, item_no, name, model, spec, unit_label, qty, list_price_fen, line_total_fen, reserved_qty, backorder_qty, followup_qty, weight_g, gift, brand_id, category_ids FROM order_lines WHERE order_id IN ",
                &raw_ids,
            )
            .push(" ORDER BY order_id, line_no")
            .build_query_as()
            .fetch_all(pool)
            .await?;
            let adjustments = crate::store::id_list_query(
                "SELECT order_id, line_no, source, label, amount_fen, final_sale FROM order_adjustments WHERE order_id IN ",
                &raw_ids,
            )
            .push(" ORDER BY id")
            .build_query_as()
            .fetch_all(pool)
            .await?;
            let history = crate::store::id_list_query(
                "SELECT order_id, at, actor_id, action, from_status, to_status, remark FROM order_history WHERE order_id IN ",
                &raw_ids,
            )
            .push(" ORDER BY id")
            .build_query_as()
            .fetch_all(pool)
            .await?;
            let payments = crate::store::id_list_query(
                "SELECT order_id, kind, amount_fen, upload_key, remark, actor_id, at FROM order_payments WHERE order_id IN ",
                &raw_ids,
            )
            .push(" ORDER BY id")
            .build_query_as()
            .fetch_all(pool)
            .await?;
            let photos = crate::store::id_list_query(
                "SELECT order_id, upload_key FROM delivery_photos WHERE order_id IN ",
                &raw_ids,
            )
            .push(" ORDER BY order_id, seq")
            .build_query_as()
            .fetch_all(pool)
            .await?;
            Ok::<_, sqlx::Error>(OrderParts {
                rows,
                lines,
                adjustments,
                history,
                payments,
                photos,
            })
        })?;
        let mut records = std::collections::HashMap::new();
        for row in rows {
            let record = row.into_record()?;
            records.insert(record.id, record);
        }
        for (order_id, key) in photos {
            if let Some(order) = records.get_mut(&order_id) {
                order.fulfilment.photos.push(key);
            }
        }
        for row in lines {
            if let Some(order) = records.get_mut(&row.order_id) {
                order.lines.push(OrderLine {
                    line: QuotedLine {
                        line_no: row.line_no,
                        sku_id: row.sku_id,
                        product_id: row.product_id,
                        item_no: row.item_no,
                        name: row.name,
                        model: row.model,
                        spec: row.spec,
                        unit_label: row.unit_label,
                        qty: row.qty,
                        list_price_fen: row.list_price_fen,
                        adjustments: Vec::new(),
                        line_total_fen: row.line_total_fen,
                        weight_g: row.weight_g,
                        gift: row.gift,
                        brand_id: row.brand_id,
                        category_ids: serde_json::from_str(&row.category_ids).unwrap_or_default(),
                    },
                    reserved_qty: row.reserved_qty,
                    backorder_qty: row.backorder_qty,
                    followup_qty: row.followup_qty,
                });
            }
        }
        for row in adjustments {
            let Some(order) = records.get_mut(&row.order_id) else {
                continue;
            };
            let adjustment = Adjustment {
                source: row.source,
                label: row.label,
                amount_fen: row.amount_fen,
                final_sale: row.final_sale,
            };
            match row.line_no {
                Some(line_no) => {
                    if let Some(line) = order.lines.iter_mut().find(|l| l.line.line_no == line_no) {
                        line.line.adjustments.push(adjustment);
                    }
                }
                None => order.adjustments.push(adjustment),
            }
        }
        for row in history {
            if let Some(order) = records.get_mut(&row.order_id) {
                order.history.push(HistoryEntry {
                    at: rfc3339(row.at),
                    actor_id: row.actor_id,
                    action: row.action,
                    from_status: row.from_status.as_deref().and_then(OrderStatus::from_db),
                    to_status: OrderStatus::from_db(&row.to_status)
                        .ok_or_else(|| corrupt("status", &row.to_status))?,
                    remark: row.remark,
                });
            }
        }
        for row in payments {
            if let Some(order) = records.get_mut(&row.order_id) {
                order.payments.push(PaymentRecord {
                    kind: row.kind,
                    amount_fen: row.amount_fen,
                    proof_url: row
                        .upload_key
                        .as_deref()
                        .map(crate::members::profile::upload_url),
                    remark: row.remark,
                    actor_id: row.actor_id,
                    at: rfc3339(row.at),
                });
            }
        }
        Ok(ids.iter().filter_map(|id| records.remove(id)).collect())
    }

    /// The ids of the orders a filter selects, newest first, one page, and how many it
    /// selects in all.
    pub async fn filter_order_ids(self, filter: &OrderFilter) -> StoreResult<Page<OrderId>> {
        crate::store::paged(filter.limit, filter.offset, |limit, offset| {
            self.order_id_rows(OrderFilter {
                limit,
                offset,
                ..filter.clone()
            })
        })
        .await
    }

    async fn order_id_rows(self, filter: OrderFilter) -> StoreResult<Vec<(OrderId, i64)>> {
        Ok(on_pool!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new("SELECT o.id");
            query.push(crate::store::TOTAL_COLUMN).push(ORDERS_FROM);
            push_conditions(&mut query, &filter);
            query
                .push(if filter.oldest_first {
                    " ORDER BY o.id LIMIT "
                } else {
                    " ORDER BY o.id DESC LIMIT "
                })
                .push_bind(filter.limit)
                .push(" OFFSET ")
                .push_bind(filter.offset);
            query.build_query_as().fetch_all(pool).await
        })?)
    }

    /// How many of the orders a filter selects are in each status (the filter's statuses,
    /// page and order are ignored): the tabs' counts on a list of orders.
    pub async fn status_counts(self, filter: &OrderFilter) -> StoreResult<Vec<(OrderStatus, i64)>> {
        let filter = OrderFilter {
            statuses: Vec::new(),
            ..filter.clone()
        };
        let rows: Vec<(String, i64)> = on_pool!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new("SELECT o.status, COUNT(*)");
            query.push(ORDERS_FROM);
            push_conditions(&mut query, &filter);
            query.push(" GROUP BY o.status");
            query.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(status, count)| Some((OrderStatus::from_db(&status)?, count)))
            .collect())
    }

    /// Stock held per SKU by orders that are not closed: what went off the shelf for them.
    pub async fn held_stock(self) -> StoreResult<std::collections::BTreeMap<i64, i64>> {
        let rows: Vec<(i64, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT l.sku_id, CAST(SUM(l.reserved_qty) AS BIGINT) FROM order_lines l JOIN orders o ON o.id = l.order_id
                 WHERE o.status <> 'closed' GROUP BY l.sku_id",
            )
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().collect())
    }

    /// The kinds of the outbox events written for an order, oldest first.
    pub async fn order_event_kinds(self, order_id: i64) -> StoreResult<Vec<String>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT kind FROM events WHERE order_id = $1 ORDER BY id")
                .bind(order_id)
                .fetch_all(pool)
                .await
        })?)
    }

    /// A page of the orders a filter selects, with everything they carry.
    pub async fn list_orders(self, filter: &OrderFilter) -> StoreResult<Page<OrderRecord>> {
        let page = self.filter_order_ids(filter).await?;
        Ok(Page {
            items: self.orders_with_details(&page.items).await?,
            total: page.total,
        })
    }
}

/// The orders a list reads from: the order, its member's account and his profile (for the
/// text search), `WHERE` and nothing after it yet.
const ORDERS_FROM: &str = " FROM orders o JOIN users u ON u.id = o.member_id LEFT JOIN members m ON m.user_id = o.member_id WHERE 1 = 1";

/// `AND …` for the caller's scope and every filter but the page: one place says which orders
/// a filter selects, for the lists and for their counts.
fn push_conditions<DB: sqlx::Database>(query: &mut sqlx::QueryBuilder<DB>, filter: &OrderFilter)
where
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'static str: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    match &filter.scope {
        OrderScope::All => {}
        OrderScope::Manager {
            regions,
            manager_id,
        } => {
            query
                .push(" AND (o.manager_id = ")
                .push_bind(*manager_id)
                .push(" OR o.region_id IN ");
            crate::store::push_id_list(query, regions.iter().copied());
            query.push(")");
        }
        OrderScope::Promoter { promoter_id } => {
            query.push(" AND o.promoter_id = ").push_bind(*promoter_id);
        }
        OrderScope::Member { member_id } => {
            query.push(" AND o.member_id = ").push_bind(*member_id);
        }
        OrderScope::Driver { driver_id } => {
            query.push(" AND o.driver_id = ").push_bind(*driver_id);
        }
    }
    if !filter.statuses.is_empty() {
        query.push(" AND o.status IN (");
        let mut statuses = query.separated(", ");
        for status in &filter.statuses {
            statuses.push_bind(status.as_str());
        }
        query.push(")");
    }
    if let Some(region) = filter.region_id {
        query.push(" AND o.region_id = ").push_bind(region);
    }
    if let Some(member) = filter.member_id {
        query.push(" AND o.member_id = ").push_bind(member);
    }
    if let Some(method) = filter.payment_method {
        query
            .push(" AND o.payment_method = ")
            .push_bind(method.as_str());
    }
    if let Some(method) = filter.delivery_method {
        query
            .push(" AND o.delivery_method = ")
            .push_bind(method.as_str());
    }
    if let Some(hold) = filter.credit_hold {
        query.push(" AND o.credit_hold = ").push_bind(hold);
    }
    if let Some(from) = filter.placed_from {
        query.push(" AND o.placed_at >= ").push_bind(from);
    }
    if let Some(before) = filter.placed_before {
        query.push(" AND o.placed_at < ").push_bind(before);
    }
    match (filter.number_id, &filter.text) {
        (Some(id), Some(text)) => {
            let like = format!("%{}%", escape_like(text));
            query
                .push(" AND (o.id = ")
                .push_bind(id)
                .push(" OR o.po_number = ")
                .push_bind(text.clone())
                .push(" OR u.phone LIKE ")
                .push_bind(like)
                .push(" ESCAPE '\\')");
        }
        (None, Some(text)) => {
            let like = format!("%{}%", escape_like(text));
            query
                .push(" AND (u.name LIKE ")
                .push_bind(like.clone())
                .push(" ESCAPE '\\' OR m.shop_name LIKE ")
                .push_bind(like.clone())
                .push(" ESCAPE '\\' OR u.phone LIKE ")
                .push_bind(like)
                .push(" ESCAPE '\\' OR o.po_number = ")
                .push_bind(text.clone())
                .push(")");
        }
        (Some(id), None) => {
            query.push(" AND o.id = ").push_bind(id);
        }
        (None, None) => {}
    }
}

/// `%`, `_` and the escape itself match literally in a LIKE pattern.
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

impl OrderQuery {
    /// Parses the query for `scope`, naming the bad field; `max_limit` caps the page.
    pub fn filter(
        &self,
        scope: OrderScope,
        max_limit: i64,
    ) -> crate::error::ApiResult<OrderFilter> {
        let date = |text: &Option<String>, field: &str| -> crate::error::ApiResult<Option<i64>> {
            match text.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(text) => crate::clock::parse_shop_date(text)
                    .map(Some)
                    .ok_or_else(|| {
                        crate::error::ApiError::invalid_field(
                            "invalid_date",
                            field,
                            format!("{field}: 日期格式为 2026-11-30 (a date like 2026-11-30)"),
                        )
                    }),
            }
        };
        let text = self
            .q
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        Ok(OrderFilter {
            scope,
            statuses: self.status.into_iter().collect(),
            region_id: self.region_id,
            member_id: self.member_id,
            payment_method: self.payment_method,
            delivery_method: self.delivery_method,
            credit_hold: self.credit_hold,
            number_id: text.as_deref().and_then(super::id_from_number),
            text,
            placed_from: date(&self.from, "from")?,
            placed_before: date(&self.to, "to")?.map(|start| start + 86_400_000),
            oldest_first: false,
            limit: self.limit.unwrap_or(50).clamp(1, max_limit),
            offset: self.offset.unwrap_or(0).max(0),
        })
    }
}

/// Orders I may see, newest first: a member's own; a manager's regions and bound members; a
/// promoter's customers; every order for admin and customer service (D6's filters).
#[utoipa::path(get, path = "/orders", tag = "orders", params(OrderQuery),
    responses((status = 200, body = [OrderView]), (status = 422, description = "`invalid_date`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    axum::extract::State(app): axum::extract::State<crate::shop::Shop>,
    actor: crate::accounts::permissions::Actor,
    crate::edge::extract::Query(query): crate::edge::extract::Query<OrderQuery>,
) -> crate::error::ApiResult<Page<OrderView>> {
    let scope = OrderScope::of(&actor)?;
    let audience = scope.audience();
    let orders = app
        .store
        .orders()
        .list_orders(&query.filter(scope, 200)?)
        .await?;
    Ok(orders.map(|o| o.view(audience)))
}

/// How many of my orders are in one status, in my words (E9): a tab on my list of orders.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct StatusCount {
    pub status: OrderStatus,
    pub label: String,
    pub count: i64,
}

/// How many orders in my scope are in each status, every status listed (0 included).
#[utoipa::path(get, path = "/orders/counts", tag = "orders",
    responses((status = 200, body = Vec<StatusCount>)), security(("bearer" = [])))]
pub async fn counts(
    axum::extract::State(app): axum::extract::State<crate::shop::Shop>,
    actor: crate::accounts::permissions::Actor,
) -> crate::error::ApiResult<axum::Json<Vec<StatusCount>>> {
    let scope = OrderScope::of(&actor)?;
    let audience = scope.audience();
    let filter = OrderQuery::default().filter(scope, 1)?;
    let counted = app.store.orders().status_counts(&filter).await?;
    Ok(axum::Json(
        OrderStatus::ALL
            .into_iter()
            .map(|status| StatusCount {
                status,
                label: status.label(audience).to_owned(),
                count: counted
                    .iter()
                    .find(|(s, _)| *s == status)
                    .map_or(0, |(_, n)| *n),
            })
            .collect(),
    ))
}

/// One order with its lines, adjustments, payments and history (404 outside my scope).
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", params(("id" = i64, Path)),
    responses((status = 200, body = OrderView)), security(("bearer" = [])))]
pub async fn get(
    axum::extract::State(app): axum::extract::State<crate::shop::Shop>,
    actor: crate::accounts::permissions::Actor,
    crate::edge::extract::Path(id): crate::edge::extract::Path<OrderId>,
) -> crate::error::ApiResult<axum::Json<OrderView>> {
    let (order, scope) = super::lifecycle::scoped_order(&app, &actor, id).await?;
    Ok(axum::Json(order.view(scope.audience())))
}

/// The orders a filter selects as an Excel workbook, one row per order (staff, D6).
#[utoipa::path(get, path = "/admin/orders/export", tag = "orders", params(OrderQuery),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>), (status = 422, description = "`invalid_date`", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn export(
    axum::extract::State(app): axum::extract::State<crate::shop::Shop>,
    actor: crate::accounts::permissions::Actor,
    crate::edge::extract::Query(query): crate::edge::extract::Query<OrderQuery>,
) -> crate::error::ApiResult<axum::response::Response> {
    let (file, total) =
        export_file(&app, &actor, &query, &crate::jobs::Progress::default()).await?;
    let mut response = file.download();
    if let Ok(total) = axum::http::HeaderValue::from_str(&total.to_string()) {
        response
            .headers_mut()
            .insert(crate::edge::TOTAL_COUNT, total);
    }
    Ok(response)
}

/// The orders `query` selects in `actor`'s scope (at most 10,000) as `orders.xlsx`, and how
/// many the filter selects in all: the export the API answers with and the back office's
/// export job makes.
pub async fn export_file(
    app: &crate::shop::Shop,
    actor: &crate::accounts::permissions::Actor,
    query: &OrderQuery,
    progress: &crate::jobs::Progress,
) -> crate::error::ApiResult<(crate::jobs::JobFile, i64)> {
    let scope = OrderScope::of(actor)?;
    if matches!(scope, OrderScope::Member { .. } | OrderScope::Driver { .. }) {
        return Err(crate::error::ApiError::forbidden());
    }
    progress.stage("reading", 0);
    let mut filter = query.filter(scope, 10_000)?;
    filter.limit = query.limit.unwrap_or(10_000).clamp(1, 10_000);
    let page = app.store.orders().list_orders(&filter).await?;
    let (orders, total) = (page.items, page.total);
    let regions = app.store.regions().list_regions().await?;
    let header: Vec<String> = [
        "订单号",
        "下单时间",
        "状态",
        "客户",
        "店铺",
        "区域",
        "付款方式",
        "配送方式",
        "商品金额",
        "调整",
        "运费",
        "订单金额",
        "已付",
        "收货人",
        "电话",
        "地址",
        "备注",
        "采购单号",
        "期望送货日期",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let yuan = crate::money::format_yuan;
    let rows: Vec<Vec<String>> = orders
        .iter()
        .map(|o| {
            let address = o.address.as_ref();
            vec![
                o.number(),
                crate::clock::rfc3339(o.placed_at),
                o.status.label(super::Audience::Business).to_owned(),
                o.member_name.clone(),
                o.shop_name.clone().unwrap_or_default(),
                o.region_id
                    .and_then(|id| regions.iter().find(|r| r.id == id))
                    .map(|r| r.name.clone())
                    .unwrap_or_default(),
                o.payment_method.label().to_owned(),
                o.delivery_method.label().to_owned(),
                yuan(o.goods_fen.get()),
                yuan(o.adjustments_fen.get()),
                yuan(o.shipping_fen.get()),
                yuan(o.total_fen.get()),
                yuan(o.paid_fen.get()),
                address.map(|a| a.contact_name.clone()).unwrap_or_default(),
                address.map(|a| a.phone.clone()).unwrap_or_default(),
                address
                    .map(|a| format!("{}{}{}{}", a.province, a.city, a.district, a.detail))
                    .unwrap_or_default(),
                o.remark.clone(),
                o.po_number.clone(),
                o.requested_date.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let sheet = crate::catalog::transfer::Sheet {
        name: "订单",
        header,
        rows,
    };
    let file = sheet
        .write(
            crate::catalog::transfer::SheetFormat::Xlsx,
            "orders",
            progress,
        )
        .await?;
    Ok((file, total))
}

/// What one manager's or promoter's customers did in a window (seed 001: 经理业绩): their
/// orders credited to him when placed, what those orders came to, and who joined him.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Figures {
    /// The window: this many days, today included, from `since` (a shop date).
    pub days: i64,
    pub since: String,
    /// Orders placed in the window that are not closed (a follow-up shipment is its parent's).
    pub orders: i64,
    /// Those orders' totals, less what was refunded, in fen.
    pub sales_fen: i64,
    /// Of those, the ones completed.
    pub completed: i64,
    /// Members who signed up in the window and are his.
    pub new_customers: i64,
    /// Every member who is his now.
    pub customers: i64,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct FiguresQuery {
    /// 1 to 366; 30 when absent.
    pub days: Option<i64>,
}

impl FiguresQuery {
    /// The window asked for, 30 days when absent (not yet checked: `window` does that).
    pub fn days(&self) -> i64 {
        self.days.unwrap_or(30)
    }
}

impl super::OrderStore<'_> {
    /// `user_id`'s figures since `since_ms`: orders credited to him as manager or promoter,
    /// members bound to him in either role.
    pub async fn figures(
        self,
        user_id: i64,
        since_ms: i64,
    ) -> StoreResult<(i64, i64, i64, i64, i64)> {
        let (orders, sales_fen, completed): (i64, i64, i64) = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT COUNT(*), CAST(COALESCE(SUM(total_fen - refunded_fen), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), 0) AS BIGINT)
                 FROM orders
                 WHERE parent_id IS NULL AND status <> 'closed' AND placed_at >= $2
                   AND (manager_id = $1 OR promoter_id = $1)",
            )
            .bind(user_id)
            .bind(since_ms)
            .fetch_one(pool)
            .await
        })?;
        let (new_customers, customers): (i64, i64) = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(CASE WHEN u.created_at >= $2 THEN 1 ELSE 0 END), 0) AS BIGINT), COUNT(*)
                 FROM members m JOIN users u ON u.id = m.user_id
                 WHERE m.manager_id = $1 OR m.promoter_id = $1",
            )
            .bind(user_id)
            .bind(since_ms)
            .fetch_one(pool)
            .await
        })?;
        Ok((orders, sales_fen, completed, new_customers, customers))
    }
}

/// My figures as a manager or promoter (seed 001 经理业绩): my customers' orders credited to
/// me, their sales and who joined me, over the last `days` days (today included).
#[utoipa::path(get, path = "/me/figures", tag = "orders", params(FiguresQuery),
    responses((status = 200, body = Figures)), security(("bearer" = [])))]
pub async fn figures(
    axum::extract::State(app): axum::extract::State<crate::shop::Shop>,
    actor: crate::accounts::permissions::Actor,
    crate::edge::extract::Query(q): crate::edge::extract::Query<FiguresQuery>,
) -> crate::error::ApiResult<axum::Json<Figures>> {
    actor.require(crate::accounts::permissions::Permission::Invite)?;
    let (days, since, since_ms) = window(&app, &q)?;
    let (orders, sales_fen, completed, new_customers, customers) =
        app.store.orders().figures(actor.user_id, since_ms).await?;
    Ok(axum::Json(Figures {
        days,
        since,
        orders,
        sales_fen,
        completed,
        new_customers,
        customers,
    }))
}

/// What one SKU of a supplier's sold in a window: orders not closed, follow-ups counted in
/// their parent.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SkuSales {
    pub sku_id: i64,
    /// Items ordered.
    pub qty: i64,
    /// What those lines came to, in fen.
    pub amount_fen: i64,
}

impl super::OrderStore<'_> {
    /// What each SKU of `supplier_id`'s goods sold since `since_ms`.
    pub async fn supplier_sales(
        self,
        supplier_id: i64,
        since_ms: i64,
    ) -> StoreResult<Vec<SkuSales>> {
        let rows: Vec<(i64, i64, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT l.sku_id, CAST(SUM(l.qty) AS BIGINT), CAST(SUM(l.line_total_fen) AS BIGINT)
                 FROM order_lines l JOIN orders o ON o.id = l.order_id JOIN products p ON p.id = l.product_id
                 WHERE p.supplier_id = $1 AND o.status <> 'closed' AND o.parent_id IS NULL AND o.placed_at >= $2
                 GROUP BY l.sku_id ORDER BY l.sku_id",
            )
            .bind(supplier_id)
            .bind(since_ms)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(sku_id, qty, amount_fen)| SkuSales {
                sku_id,
                qty,
                amount_fen,
            })
            .collect())
    }
}

/// The start of a window of `days` days that ends today (a shop date and its instant), or
/// `invalid_input` naming `days` outside 1 to 366.
fn window(
    app: &crate::shop::Shop,
    q: &FiguresQuery,
) -> crate::error::ApiResult<(i64, String, i64)> {
    let days = q.days();
    if !(1..=366).contains(&days) {
        return Err(crate::error::ApiError::invalid_field(
            "invalid_input",
            "days",
            "days: 须为1到366 (1 to 366)",
        ));
    }
    let now = app.clock.now_ms();
    let since = crate::clock::shop_date_iso(now - (days - 1) * 86_400_000);
    let since_ms = crate::clock::parse_shop_date(&since).unwrap_or(now);
    Ok((days, since, since_ms))
}

/// What my goods sold, SKU by SKU, over the last `days` days (suppliers; L2).
#[utoipa::path(get, path = "/supplier/sales", tag = "orders", params(FiguresQuery),
    responses((status = 200, body = [SkuSales])), security(("bearer" = [])))]
pub async fn supplier_sales(
    axum::extract::State(app): axum::extract::State<crate::shop::Shop>,
    actor: crate::accounts::permissions::Actor,
    crate::edge::extract::Query(q): crate::edge::extract::Query<FiguresQuery>,
) -> crate::error::ApiResult<axum::Json<Vec<SkuSales>>> {
    actor.require(crate::accounts::permissions::Permission::OwnGoods)?;
    let (_, _, since_ms) = window(&app, &q)?;
    Ok(axum::Json(
        app.store
            .orders()
            .supplier_sales(actor.user_id, since_ms)
            .await?,
    ))
}
