//! After-sales (E8): the member asks for a refund, return, exchange or repair of a received
//! order (reason, photos, the lines and quantities concerned); admin, customer service or the
//! order's manager approves or rejects; a driver of the order's region records goods
//! collected back, and returned goods go back on the shelf; staff record the refund against
//! what was paid. Each step is guarded by the status it expects and written with an outbox
//! event. While a request is open the order carries the 售后中 mark (E9: a mark, not a state).

use crate::edge::extract::Multipart;
use crate::edge::extract::{Path, Query};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use utoipa::{IntoParams, ToSchema};

use super::OrderScope;
use super::lifecycle::{my_received_order, scoped_order};
use super::machine::{MoveError, push_event};
use super::machine::{Party, parties};
use super::record::OrderRecord;
use crate::accounts::permissions::{Actor, Permission};
use crate::clock::rfc3339;
use crate::edge::json::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::ids::{OrderId, ProductId, SkuId};
use crate::images::{StagedImage, UploadKind, stage_photo};
use crate::notify::tell;
use crate::quantity::Quantity;
use crate::shop::Shop;
use crate::store::batch::{Batch, RunBatch, args};
use crate::store::{StockLevel, StoreError, StoreResult, in_tx, on_pool};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AfterSaleKind {
    /// 退款: money back only.
    Refund,
    /// 退货: goods back, money back.
    Return,
    /// 换货
    Exchange,
    /// 维修
    Repair,
}

impl AfterSaleKind {
    const ALL: [AfterSaleKind; 4] = [
        AfterSaleKind::Refund,
        AfterSaleKind::Return,
        AfterSaleKind::Exchange,
        AfterSaleKind::Repair,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AfterSaleKind::Refund => "refund",
            AfterSaleKind::Return => "return",
            AfterSaleKind::Exchange => "exchange",
            AfterSaleKind::Repair => "repair",
        }
    }

    fn parse(text: &str) -> Option<AfterSaleKind> {
        AfterSaleKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            AfterSaleKind::Refund => "退款",
            AfterSaleKind::Return => "退货",
            AfterSaleKind::Exchange => "换货",
            AfterSaleKind::Repair => "维修",
        }
    }

    /// Whether goods travel back to the shop.
    fn goods_come_back(self) -> bool {
        !matches!(self, AfterSaleKind::Refund)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AfterSaleStatus {
    Requested,
    Approved,
    Rejected,
    Collected,
    Refunded,
}

impl AfterSaleStatus {
    const ALL: [AfterSaleStatus; 5] = [
        AfterSaleStatus::Requested,
        AfterSaleStatus::Approved,
        AfterSaleStatus::Rejected,
        AfterSaleStatus::Collected,
        AfterSaleStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AfterSaleStatus::Requested => "requested",
            AfterSaleStatus::Approved => "approved",
            AfterSaleStatus::Rejected => "rejected",
            AfterSaleStatus::Collected => "collected",
            AfterSaleStatus::Refunded => "refunded",
        }
    }

    pub fn parse(text: &str) -> Option<AfterSaleStatus> {
        AfterSaleStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            AfterSaleStatus::Requested => "待审核",
            AfterSaleStatus::Approved => "已同意",
            AfterSaleStatus::Rejected => "已拒绝",
            AfterSaleStatus::Collected => "已取回",
            AfterSaleStatus::Refunded => "已退款",
        }
    }
}

/// A line and how many of it the request concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AfterSaleLine {
    pub line_no: i64,
    pub qty: i64,
}

/// An after-sales request as everyone concerned sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AfterSale {
    pub id: i64,
    pub order_id: OrderId,
    pub kind: AfterSaleKind,
    pub kind_label: String,
    pub status: AfterSaleStatus,
    pub status_label: String,
    pub reason: String,
    pub lines: Vec<AfterSaleLine>,
    /// The refund asked for, in fen.
    pub amount_fen: i64,
    pub decided_by: Option<i64>,
    pub decision_remark: String,
    pub collected_by: Option<i64>,
    pub refunded_fen: i64,
    pub photos: Vec<String>,
    pub created_at: String,
}

#[derive(FromRow)]
struct AfterSaleRow {
    id: i64,
    order_id: OrderId,
    kind: String,
    status: String,
    reason: String,
    lines: String,
    amount_fen: i64,
    decided_by: Option<i64>,
    decision_remark: String,
    collected_by: Option<i64>,
    refunded_fen: i64,
    created_at: i64,
}

impl AfterSaleRow {
    fn into_view(self, photos: Vec<String>) -> StoreResult<AfterSale> {
        let corrupt = |what: &str| StoreError::Other(format!("stored after-sale has a bad {what}"));
        let kind = AfterSaleKind::parse(&self.kind).ok_or_else(|| corrupt("kind"))?;
        let status = AfterSaleStatus::parse(&self.status).ok_or_else(|| corrupt("status"))?;
        Ok(AfterSale {
            id: self.id,
            order_id: self.order_id,
            kind,
            kind_label: kind.label().to_owned(),
            status,
            status_label: status.label().to_owned(),
            reason: self.reason,
            lines: serde_json::from_str(&self.lines).map_err(|_| corrupt("line list"))?,
            amount_fen: self.amount_fen,
            decided_by: self.decided_by,
            decision_remark: self.decision_remark,
            collected_by: self.collected_by,
            refunded_fen: self.refunded_fen,
            photos: photos
                .into_iter()
                .map(|key| format!("/api/v1/uploads/{key}"))
                .collect(),
            created_at: rfc3339(self.created_at),
        })
    }
}

/// The value a list of requests is selected by.
enum Key<'a> {
    Id(i64),
    Text(&'a str),
}

const AFTER_SALE_SELECT: &str = "SELECT id, order_id, kind, status, reason, lines, amount_fen, decided_by, decision_remark, collected_by, refunded_fen, created_at FROM after_sales";

impl super::OrderStore<'_> {
    /// Requests whose `column` (a name from this module) equals `value`, in `order`.
    async fn after_sale_rows(
        self,
        column: &str,
        value: &Key<'_>,
        order: &str,
    ) -> StoreResult<Vec<AfterSale>> {
        let sql = format!("{AFTER_SALE_SELECT} WHERE {column} = $1 ORDER BY {order} LIMIT 500");
        let (rows, photos): (Vec<AfterSaleRow>, Vec<(i64, String)>) = on_pool!(self, |pool| {
            let query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
            let query = match value {
                Key::Id(id) => query.bind(*id),
                Key::Text(text) => query.bind(*text),
            };
            let rows: Vec<AfterSaleRow> = query.fetch_all(pool).await?;
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            let photos = crate::store::id_list_query(
                "SELECT after_sale_id, upload_key FROM after_sale_photos WHERE after_sale_id IN ",
                &ids,
            )
            .push(" ORDER BY after_sale_id, seq")
            .build_query_as()
            .fetch_all(pool)
            .await?;
            Ok::<_, sqlx::Error>((rows, photos))
        })?;
        rows.into_iter()
            .map(|row| {
                let mine = photos
                    .iter()
                    .filter(|(owner, _)| *owner == row.id)
                    .map(|(_, key)| key.clone())
                    .collect();
                row.into_view(mine)
            })
            .collect()
    }

    pub async fn after_sale(self, id: i64) -> StoreResult<Option<AfterSale>> {
        Ok(self
            .after_sale_rows("id", &Key::Id(id), "id")
            .await?
            .into_iter()
            .next())
    }

    pub async fn after_sales_of(self, order_id: OrderId) -> StoreResult<Vec<AfterSale>> {
        self.after_sale_rows("order_id", &Key::Id(order_id.get()), "id")
            .await
    }

    /// Requests in `status`, newest first (at most 500).
    pub async fn after_sales_in(self, status: AfterSaleStatus) -> StoreResult<Vec<AfterSale>> {
        self.after_sale_rows("status", &Key::Text(status.as_str()), "id DESC")
            .await
    }

    async fn insert_after_sale(
        self,
        order: &OrderRecord,
        request: &NewAfterSale,
        photos: &[StagedImage],
        now_ms: i64,
    ) -> StoreResult<i64> {
        let lines =
            serde_json::to_string(&request.lines).map_err(|e| StoreError::Other(e.to_string()))?;
        in_tx!(self, |tx| {
            async {
            let mut insert = Batch::default();
            insert.push(
                "INSERT INTO after_sales (order_id, kind, status, reason, lines, amount_fen, created_at, updated_at)
                 VALUES ($1, $2, 'requested', $3, $4, $5, $6, $6) RETURNING id",
                args![order.id, request.kind.as_str(), request.reason.as_str(), lines.as_str(), request.amount_fen, now_ms],
            );
            let ids: Vec<(i64,)> = tx.fetch_batch(insert).await?;
            let Some(&(id,)) = ids.first() else {
                return Err(StoreError::Other("the after-sale insert returned no id".to_owned()));
            };
            let mut batch = Batch::default();
            for (seq, photo) in photos.iter().enumerate() {
                photo.push_row(&mut batch, order.member_id.get(), now_ms);
                batch.push(
                    "INSERT INTO after_sale_photos (after_sale_id, seq, upload_key) VALUES ($1, $2, $3)",
                    args![id, i64::try_from(seq).unwrap_or(0), photo.key.as_str()],
                );
            }
            push_event(&mut batch, "order.after_sale_requested", order, now_ms);
            tx.execute_batch(batch).await?;
            Ok(id)
        }
        .await
        })
    }

    /// Makes `step` on a request of `order` and returns it as it is now; `None` when the
    /// request had moved on.
    async fn move_after_sale(
        self,
        order: &OrderRecord,
        step: AfterSaleStep<'_>,
    ) -> Result<Option<AfterSale>, MoveError> {
        let AfterSaleStep {
            id,
            from,
            to,
            bounded,
            set,
            stock_back,
            now_ms,
        } = step;
        let froms: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let (moved, levels) = in_tx!(self, |tx| {
            async {
            let mut update = Batch::default();
            update.push(
                format!(
                    "UPDATE after_sales SET status = $1, updated_at = $2 WHERE id = $3 AND status IN ({}) RETURNING id",
                    crate::store::batch::placeholders_from(4, froms.len())
                ),
                args![to.as_str(), now_ms, id]
                    .into_iter()
                    .chain(froms.iter().map(|s| crate::store::batch::Arg::from(*s)))
                    .collect(),
            );
            let rows: Vec<(i64,)> = tx.fetch_batch(update).await?;
            if rows.is_empty() {
                return Ok::<_, MoveError>((false, Vec::new()));
            }
            if let Some((bounded, field)) = bounded {
                let wanted = bounded.len();
                let within: Vec<(i64,)> = tx.fetch_batch(bounded).await?;
                if within.len() < wanted {
                    return Err(MoveError::ChangedMeanwhile(field));
                }
            }
            let mut levels = Vec::new();
            for (sku_id, product_id, qty) in stock_back {
                let (stock, seq) = super::stock::give_back(&mut *tx, *sku_id, Quantity(*qty)).await?;
                levels.push(StockLevel {
                    product_id: *product_id,
                    sku_id: *sku_id,
                    stock,
                    seq,
                });
            }
            let mut batch = set;
            push_event(
                &mut batch,
                &format!("order.after_sale_{}", to.as_str()),
                order,
                now_ms,
            );
            tx.execute_batch(batch).await?;
            Ok((true, levels))
        }
        .await
        })?;
        if !moved {
            return Ok(None);
        }
        self.stock_moved(&levels).await;
        Ok(self.after_sale(id).await?)
    }
}

/// One move of an after-sales request: from one of `from` to `to`, setting what `set` sets;
/// the `(sku, product, qty)` of `stock_back` return to the shelf in the same transaction.
struct AfterSaleStep<'a> {
    id: i64,
    from: &'a [AfterSaleStatus],
    to: AfterSaleStatus,
    /// Bounded updates, each `RETURNING` a row while within its bound; run first, and if any
    /// finds its bound reached the step rolls back (`ChangedMeanwhile` naming the field).
    bounded: Option<(Batch, &'static str)>,
    set: Batch,
    stock_back: &'a [(SkuId, ProductId, i64)],
    now_ms: i64,
}

/// A request, parsed.
struct NewAfterSale {
    kind: AfterSaleKind,
    reason: String,
    lines: Vec<AfterSaleLine>,
    amount_fen: i64,
}

/// The form of `POST /orders/{id}/after-sales` (multipart/form-data).
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documents the multipart form for the OpenAPI document"
)]
pub struct AfterSaleForm {
    kind: AfterSaleKind,
    reason: String,
    /// JSON: `[{"line_no":1,"qty":10}]`; not for a refund of money only.
    lines: Option<String>,
    /// The refund asked for, in fen.
    amount_fen: Option<i64>,
    /// Up to six pictures (JPEG, PNG or WebP, at most 8 MB each): repeat the field.
    #[schema(value_type = Option<Vec<String>>, format = Binary)]
    photo: Option<Vec<Vec<u8>>>,
}

/// Ask for a refund, return, exchange or repair of my received order (E8): multipart with
/// `kind`, `reason`, `lines` (JSON `[{"line_no":1,"qty":10}]`, not for a refund of money
/// only), `amount_fen` (the refund asked for) and up to six `photo`s.
#[utoipa::path(post, path = "/orders/{id}/after-sales", tag = "after-sales", params(("id" = i64, Path)),
    request_body(content = AfterSaleForm, content_type = "multipart/form-data"),
    responses((status = 201, body = AfterSale), (status = 409, description = "`invalid_transition`", body = crate::error::ErrorBody), (status = 422, description = "`image_too_large`, `invalid_image`, `invalid_money`, `invalid_quantity`, `overpayment`, `too_many_photos`, `unknown_line`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn request(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<OrderId>,
    mut form: Multipart,
) -> ApiResult<(StatusCode, Json<AfterSale>)> {
    let order = my_received_order(&app, &actor, id).await?;
    let mut kind = None;
    let mut reason = String::new();
    let mut lines: Vec<AfterSaleLine> = Vec::new();
    let mut amount_fen = 0;
    let mut photos = Vec::new();
    while let Some(field) = form.next_field().await? {
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "kind" => {
                let text = crate::edge::json::form_text(field).await?;
                kind = Some(AfterSaleKind::parse(text.trim()).ok_or_else(|| {
                    ApiError::invalid_field(
                        "invalid_input",
                        "kind",
                        "kind: refund、return、exchange 或 repair (one of refund, return, exchange, repair)",
                    )
                })?);
            }
            "reason" => reason = crate::edge::json::form_text(field).await?,
            "lines" => {
                let text = crate::edge::json::form_text(field).await?;
                lines = serde_json::from_str(&text).map_err(|_| {
                    ApiError::invalid_field(
                        "invalid_input",
                        "lines",
                        "lines: 格式为 [{\"line_no\":1,\"qty\":10}] (a JSON list of line_no and qty)",
                    )
                })?;
            }
            "amount_fen" => {
                let text = crate::edge::json::form_text(field).await?;
                amount_fen = crate::money::parse_fen_text(&text, "amount_fen")?;
            }
            "photo" => {
                stage_photo(
                    &app.config.data_dir,
                    UploadKind::AfterSalePhoto,
                    field,
                    &mut photos,
                )
                .await?;
            }
            other => crate::edge::json::unknown_form_field(other)?,
        }
    }
    let kind = kind.ok_or_else(|| {
        ApiError::invalid_field("invalid_input", "kind", "kind: 请选择售后类型 (which kind)")
    })?;
    let reason = crate::accounts::parse_name(&reason, "reason", 500)?;
    for (i, line) in lines.iter().enumerate() {
        let ordered = order.lines.iter().find(|l| l.line.line_no == line.line_no);
        // 清仓 (G3): a line sold as final sale is not taken back; the adjustment that made it
        // one says why, in the shop's words.
        let final_sale = ordered.and_then(|l| l.line.adjustments.iter().find(|a| a.final_sale));
        let takes_back = matches!(kind, AfterSaleKind::Return | AfterSaleKind::Exchange);
        if let (true, Some(final_sale)) = (takes_back, final_sale) {
            return Err(ApiError::invalid_field(
                "final_sale",
                &format!("lines[{i}].line_no"),
                format!(
                    "lines[{i}].line_no: 该商品为{}，不支持退换货 (sold as final sale: no return or exchange)",
                    final_sale.label
                ),
            ));
        }
        let bought = ordered.map(|l| l.line.qty);
        match bought {
            None => {
                return Err(ApiError::invalid_field(
                    "unknown_line",
                    &format!("lines[{i}].line_no"),
                    format!("lines[{i}].line_no: 订单没有这一行 (no such line)"),
                ));
            }
            Some(bought) if line.qty < 1 || line.qty > bought => {
                return Err(ApiError::invalid_field(
                    "invalid_quantity",
                    &format!("lines[{i}].qty"),
                    format!("lines[{i}].qty: 1 到 {bought} 之间 (between 1 and {bought})"),
                ));
            }
            Some(_) => {}
        }
    }
    if kind.goods_come_back() && lines.is_empty() {
        return Err(ApiError::invalid_field(
            "invalid_input",
            "lines",
            "lines: 请选择商品和数量 (which goods, how many)",
        ));
    }
    let refundable = order.refundable().get();
    if amount_fen > refundable {
        return Err(ApiError::invalid_field(
            "overpayment",
            "amount_fen",
            format!(
                "amount_fen: 最多可退{} (at most what was paid)",
                crate::money::format_price(refundable.max(0))
            ),
        ));
    }
    let now = app.clock.now_ms();
    let request = NewAfterSale {
        kind,
        reason,
        lines,
        amount_fen,
    };
    let id = app
        .store
        .orders()
        .insert_after_sale(&order, &request, &photos, now)
        .await?;
    for photo in photos {
        photo.keep();
    }
    if let Some(manager) = order.manager_id {
        tell(
            &app.store,
            manager,
            "after_sale_requested",
            format!(
                "订单{}有新的售后申请（{}），请及时处理。",
                order.number(),
                kind.label()
            ),
            now,
        )
        .await;
    }
    let created = app
        .store
        .orders()
        .after_sale(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The after-sales requests of an order (whoever may see the order).
#[utoipa::path(get, path = "/orders/{id}/after-sales", tag = "after-sales", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<AfterSale>)), security(("bearer" = [])))]
pub async fn list(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<OrderId>,
) -> ApiResult<Json<Vec<AfterSale>>> {
    let (order, _) = scoped_order(&app, &actor, id).await?;
    Ok(Json(app.store.orders().after_sales_of(order.id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// Default `requested` (waiting for a decision).
    pub status: Option<AfterSaleStatus>,
}

/// The after-sales queue (E8): requests in a status, newest first, of the orders the caller
/// may decide on (admin and customer service all; a manager his members' and regions').
#[utoipa::path(get, path = "/admin/after-sales", tag = "after-sales", params(QueueQuery),
    responses((status = 200, body = Vec<AfterSale>)), security(("bearer" = [])))]
pub async fn queue(
    State(app): State<Shop>,
    actor: Actor,
    Query(query): Query<QueueQuery>,
) -> ApiResult<Json<Vec<AfterSale>>> {
    let all = actor.has(Permission::ConfirmAnyOrder);
    if !all && !actor.has(Permission::ConfirmOwnOrders) {
        return Err(ApiError::forbidden());
    }
    let requests = app
        .store
        .orders()
        .after_sales_in(query.status.unwrap_or(AfterSaleStatus::Requested))
        .await?;
    if all {
        return Ok(Json(requests));
    }
    let order_ids: Vec<OrderId> = requests.iter().map(|r| r.order_id).collect();
    let mine: std::collections::HashSet<OrderId> = app
        .store
        .orders()
        .orders_with_details(&order_ids)
        .await?
        .iter()
        .filter(|order| super::machine::may_confirm(&actor, order))
        .map(|order| order.id)
        .collect();
    Ok(Json(
        requests
            .into_iter()
            .filter(|r| mine.contains(&r.order_id))
            .collect(),
    ))
}

/// The request and its order, if the order lies in the caller's scope; 404 otherwise.
async fn scoped_request(app: &Shop, actor: &Actor, id: i64) -> ApiResult<(AfterSale, OrderRecord)> {
    let scope = OrderScope::of(actor);
    if scope.is_err() && !actor.has(Permission::DeliverOrders) {
        // Roles that never see orders (verifiers, suppliers).
        return Err(ApiError::forbidden());
    }
    let request = app
        .store
        .orders()
        .after_sale(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let order = app
        .store
        .orders()
        .order(request.order_id)
        .await?
        .filter(|order| {
            // A driver collects for any order of his regions, not only those he delivered.
            let driver_here = actor.has(Permission::DeliverOrders)
                && order
                    .region_id
                    .is_some_and(|r| actor.region_ids.contains(&r));
            driver_here || scope.as_ref().is_ok_and(|s| s.contains(order))
        })
        .ok_or_else(ApiError::not_found)?;
    Ok((request, order))
}

fn moved_on(request: &AfterSale) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "invalid_transition",
        format!(
            "售后申请当前为「{}」，不能进行此操作 (not allowed in this state)",
            request.status_label
        ),
    )
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub approve: bool,
    #[serde(default)]
    pub remark: String,
}

/// Approve or reject a request (admin, customer service, or the order's manager; E8). A
/// rejection needs a remark; the member is told either way.
#[utoipa::path(post, path = "/admin/after-sales/{id}/decision", tag = "after-sales", params(("id" = i64, Path)), request_body = Decision,
    responses((status = 200, body = AfterSale), (status = 409, description = "`changed_meanwhile`, `invalid_transition`", body = crate::error::ErrorBody), (status = 422, description = "`reason_required`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn decide(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<Decision>,
) -> ApiResult<Json<AfterSale>> {
    let (request, order) = scoped_request(&app, &actor, id).await?;
    let deciders = parties(&actor, &order);
    if !deciders.contains(&Party::Staff) && !deciders.contains(&Party::Confirmer) {
        return Err(ApiError::forbidden());
    }
    let remark = crate::accounts::parse_text(&input.remark, "remark", 200)?;
    if !input.approve && remark.is_empty() {
        return Err(ApiError::invalid_field(
            "reason_required",
            "remark",
            "remark: 拒绝须说明原因 (a reason for the rejection)",
        ));
    }
    let to = if input.approve {
        AfterSaleStatus::Approved
    } else {
        AfterSaleStatus::Rejected
    };
    let now = app.clock.now_ms();
    let mut set = Batch::default();
    set.push(
        "UPDATE after_sales SET decided_by = $2, decision_remark = $3 WHERE id = $1",
        args![id, actor.user_id, remark.as_str()],
    );
    let moved = app
        .store
        .orders()
        .move_after_sale(
            &order,
            AfterSaleStep {
                id,
                from: &[AfterSaleStatus::Requested],
                to,
                bounded: None,
                set,
                stock_back: &[],
                now_ms: now,
            },
        )
        .await?
        .ok_or_else(|| moved_on(&request))?;
    tell(
        &app.store,
        order.member_id.get(),
        "after_sale_decided",
        format!(
            "您的订单{}的售后申请（{}）{}。{remark}",
            order.number(),
            request.kind_label,
            to.label()
        ),
        now,
    )
    .await;
    Ok(Json(moved))
}

/// Record goods collected back from the customer (a driver of the order's region, or staff;
/// E8). Returned goods go back on the shelf at once.
#[utoipa::path(post, path = "/driver/after-sales/{id}/collected", tag = "after-sales", params(("id" = i64, Path)),
    responses((status = 200, body = AfterSale), (status = 409, description = "`changed_meanwhile`, `invalid_transition`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn collected(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<Json<AfterSale>> {
    let (request, order) = scoped_request(&app, &actor, id).await?;
    if !actor.has(Permission::DeliverOrders) && !actor.has(Permission::ConfirmAnyOrder) {
        return Err(ApiError::forbidden());
    }
    if !request.kind.goods_come_back() {
        return Err(moved_on(&request));
    }
    // Returned goods are sold again; exchanged or repaired goods go back to the customer.
    let stock_back: Vec<(SkuId, ProductId, i64)> = if request.kind == AfterSaleKind::Return {
        request
            .lines
            .iter()
            .filter_map(|r| {
                order
                    .lines
                    .iter()
                    .find(|l| l.line.line_no == r.line_no)
                    .map(|l| (l.line.sku_id, l.line.product_id, r.qty))
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut set = Batch::default();
    set.push(
        "UPDATE after_sales SET collected_by = $2 WHERE id = $1",
        args![id, actor.user_id],
    );
    let moved = app
        .store
        .orders()
        .move_after_sale(
            &order,
            AfterSaleStep {
                id,
                from: &[AfterSaleStatus::Approved],
                to: AfterSaleStatus::Collected,
                bounded: None,
                set,
                stock_back: &stock_back,
                now_ms: app.clock.now_ms(),
            },
        )
        .await?
        .ok_or_else(|| moved_on(&request))?;
    Ok(Json(moved))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundInput {
    pub amount_fen: i64,
    #[serde(default)]
    pub remark: String,
}

/// Record the refund of an approved request (admin, customer service; E8), against what the
/// order has paid: never more than was paid and not yet refunded. A return refunds once the
/// goods are collected.
#[utoipa::path(post, path = "/admin/after-sales/{id}/refund", tag = "after-sales", params(("id" = i64, Path)), request_body = RefundInput,
    responses((status = 200, body = AfterSale), (status = 409, description = "`changed_meanwhile`, `invalid_transition`", body = crate::error::ErrorBody), (status = 422, description = "`invalid_money`, `overpayment`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn refund(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<RefundInput>,
) -> ApiResult<Json<AfterSale>> {
    let (request, order) = scoped_request(&app, &actor, id).await?;
    actor.require(Permission::SettleOrders)?;
    let amount = crate::money::parse_fen(input.amount_fen, "amount_fen")?;
    let refundable = order.refundable().get();
    if amount < 1 || amount > refundable {
        return Err(ApiError::invalid_field(
            "overpayment",
            "amount_fen",
            format!(
                "amount_fen: 1分到{}之间 (at most what was paid and not refunded)",
                crate::money::format_price(refundable)
            ),
        ));
    }
    let remark = crate::accounts::parse_text(&input.remark, "remark", 200)?;
    let from: &[AfterSaleStatus] = if request.kind == AfterSaleKind::Return {
        &[AfterSaleStatus::Collected]
    } else {
        &[AfterSaleStatus::Approved, AfterSaleStatus::Collected]
    };
    let now = app.clock.now_ms();
    // Checked above against what this request read; bounded here against concurrent refunds.
    let mut refunded = Batch::default();
    refunded.push(
        "UPDATE orders SET refunded_fen = refunded_fen + $2, updated_at = $3 WHERE id = $1 AND refunded_fen + $2 <= paid_fen RETURNING id",
        args![order.id, amount, now],
    );
    let mut set = Batch::default();
    set.push(
        "UPDATE after_sales SET refunded_fen = refunded_fen + $2 WHERE id = $1",
        args![id, amount],
    );
    set.push(
        "INSERT INTO refunds (order_id, after_sale_id, amount_fen, remark, actor_id, at) VALUES ($1, $2, $3, $4, $5, $6)",
        args![order.id, id, amount, remark.as_str(), actor.user_id, now],
    );
    super::machine::push_refund_event(&mut set, &order, amount, now);

    let moved = app
        .store
        .orders()
        .move_after_sale(
            &order,
            AfterSaleStep {
                id,
                from,
                to: AfterSaleStatus::Refunded,
                bounded: Some((refunded, "amount_fen")),
                set,
                stock_back: &[],
                now_ms: now,
            },
        )
        .await?
        .ok_or_else(|| moved_on(&request))?;
    tell(
        &app.store,
        order.member_id.get(),
        "after_sale_refunded",
        format!(
            "您的订单{}已退款{}。",
            order.number(),
            crate::money::format_price(amount)
        ),
        now,
    )
    .await;
    Ok(Json(moved))
}
