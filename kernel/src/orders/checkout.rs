//! Checkout (D3, the brief's step 2). The quote runs first, outside any write transaction;
//! then one short transaction re-checks the products the quote priced, takes the stock with
//! bounded conditional updates (SKUs in id order, so concurrent checkouts on PostgreSQL never
//! wait on each other in a cycle), writes the order, its lines, adjustments, the pricing
//! script's inputs (for replays), history and outbox event, and records the idempotency key with
//! the response. A repeated key returns that first response byte for byte; the same key with
//! another body is refused.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::machine::{Action, Entry, push_event, push_history};
use super::pipeline::{Pipeline, PricingInputs, Reservations};
use super::quote::{self, Area, Buyer, LineRequest, PluginOptions, Quote, QuoteRequest};
use super::record::{HistoryEntry, OrderAddress, OrderLine, OrderRecord};
use super::stock::Take;
use super::{Audience, DeliveryMethod, OrderStatus};
use crate::accounts::MemberState;
use crate::accounts::permissions::{Actor, Permission};
use crate::catalog::pricing::{Page, PriceView};
use crate::clock::rfc3339;
use crate::edge::json::parse_json;
use crate::error::{ApiError, ApiResult};
use crate::ids::{MemberId, OrderId, SkuId};
use crate::members::records::MemberRecord;
use crate::money::Fen;
use crate::quantity::Quantity;
use crate::settings::PaymentMethod;
use crate::shop::Shop;
use crate::store::batch::{
    Arg, Batch, RunBatch, args, one_round_trip, placeholders, placeholders_from,
};
use crate::store::group_commit::Ran;
use crate::store::{Db, StockLevel, Store, StoreError, on_pool};

/// The header carrying the client's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// What the member (or his manager or promoter) submits.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutInput {
    /// On behalf of this member (a manager or promoter, D4); absent: the caller himself.
    pub member_id: Option<i64>,
    /// The lines to order; absent: the caller's cart (立即下单 sends its one line here).
    pub lines: Option<Vec<LineRequest>>,
    pub delivery_method: DeliveryMethod,
    pub payment_method: PaymentMethod,
    /// From the member's address book; required unless the goods are collected (自提).
    pub address_id: Option<i64>,
    #[serde(default)]
    pub remark: String,
    /// The member's purchase order or reference number.
    #[serde(default)]
    pub po_number: String,
    /// 期望送货日期: a shop date, today or later (`2026-12-01`).
    pub requested_date: Option<String>,
    /// What the member chose for the plugins (a coupon, points to spend), by plugin name;
    /// the quote's `choices` say what each plugin offers.
    #[serde(default)]
    pub plugin_options: PluginOptions,
}

/// What to price: the same choices as checkout, before committing to them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteInput {
    pub member_id: Option<i64>,
    pub lines: Option<Vec<LineRequest>>,
    pub delivery_method: DeliveryMethod,
    pub address_id: Option<i64>,
    #[serde(default)]
    pub plugin_options: PluginOptions,
}

/// Who an order is for, and who places it.
pub struct Purchase {
    pub member: MemberRecord,
    pub buyer: Buyer,
    /// Placed by a manager or promoter for his customer (D4).
    pub on_behalf: bool,
}

/// Resolves the member an order is for: the caller himself (a member who may order), or one of
/// the caller's customers (404 outside his scope, as if the member did not exist).
pub async fn purchase_for(
    app: &Shop,
    actor: &Actor,
    member_id: Option<i64>,
) -> ApiResult<Purchase> {
    let mut attributes = None;
    let member = match member_id.filter(|id| *id != actor.user_id) {
        None => {
            actor.require(Permission::OwnMemberAccount)?;
            if !PriceView::of(&app.store, Some(actor), Page::List)
                .await?
                .is_visible()
            {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "not_approved",
                    "审核通过后可下单 (ordering opens once your account is approved)",
                ));
            }
            let (member, his) = app
                .store
                .members()
                .member_with_attributes(actor.user_id)
                .await?
                .ok_or_else(ApiError::forbidden)?;
            attributes = Some(std::sync::Arc::new(his));
            member
        }
        Some(id) => {
            actor.require(Permission::OrderOnBehalf)?;
            let member = crate::members::review::scoped_member(app, actor, id).await?;
            if member.state() != Some(MemberState::Approved) {
                return Err(ApiError::invalid_field(
                    "member_not_approved",
                    "member_id",
                    "member_id: 该客户尚未审核通过 (the member is not approved)",
                ));
            }
            member
        }
    };
    let on_behalf = member.id != actor.user_id;
    Ok(Purchase {
        buyer: Buyer {
            member_id: member.id,
            level_id: member.level_id,
            region_id: member.region_id,
            attributes,
        },
        member,
        on_behalf,
    })
}

/// The lines asked for, or the member's cart (not for orders placed on someone's behalf).
async fn lines_or_cart(
    store: &Store,
    purchase: &Purchase,
    lines: Option<Vec<LineRequest>>,
) -> ApiResult<(Vec<LineRequest>, bool)> {
    match lines {
        Some(lines) => Ok((lines, false)),
        None if purchase.on_behalf => Err(ApiError::invalid_field(
            "empty_order",
            "lines",
            "lines: 代客下单须列出商品 (list the lines when ordering for a customer)",
        )),
        None => {
            let cart = store.orders().cart(purchase.member.id).await?;
            Ok((
                cart.iter()
                    .map(|item| LineRequest {
                        sku_id: item.sku_id,
                        qty: item.qty,
                    })
                    .collect(),
                true,
            ))
        }
    }
}

/// The member's address `address_id`, as the order will keep it.
async fn order_address(
    store: &Store,
    member_id: i64,
    address_id: Option<i64>,
    delivery: DeliveryMethod,
) -> ApiResult<Option<OrderAddress>> {
    let Some(address_id) = address_id else {
        if delivery.ships() {
            return Err(ApiError::invalid_field(
                "address_required",
                "address_id",
                "address_id: 请选择收货地址 (choose a delivery address)",
            ));
        }
        return Ok(None);
    };
    let address = store
        .members()
        .addresses(member_id)
        .await?
        .into_iter()
        .find(|a| a.id == address_id)
        .ok_or_else(|| {
            ApiError::invalid_field(
                "unknown_address",
                "address_id",
                "address_id: 地址不存在 (no such address in the member's address book)",
            )
        })?;
    Ok(Some(OrderAddress {
        province: address.province,
        city: address.city,
        district: address.district,
        detail: address.detail,
        contact_name: address.contact_name,
        phone: address.phone,
    }))
}

fn area_of(address: Option<&OrderAddress>) -> Option<Area> {
    address.map(|a| Area {
        province: a.province.clone(),
        city: a.city.clone(),
    })
}

fn check_delivery(
    app_settings: &crate::settings::Settings,
    delivery: DeliveryMethod,
) -> ApiResult<()> {
    if delivery.is_enabled(&app_settings.delivery) {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "delivery_method_disabled",
            "delivery_method",
            format!(
                "delivery_method: 本店暂不支持{} (not offered)",
                delivery.label()
            ),
        ))
    }
}

/// Price a cart, or the given lines, for the caller or his customer, without ordering.
#[utoipa::path(post, path = "/orders/quote", tag = "orders", request_body = QuoteInput,
    responses((status = 200, body = Quote), (status = 403, description = "`not_approved`, `single_page`", body = crate::error::ErrorBody), (status = 404, description = "`not_found`", body = crate::error::ErrorBody), (status = 422, description = "`amount_out_of_range`, `address_required`, `delisted`, `delivery_method_disabled`, `duplicate_line`, `empty_order`, `invalid_quantity`, `member_not_approved`, `moq_step`, `too_many_lines`, `unknown_address`, `unknown_sku`", body = crate::error::ErrorBody), (status = 503, description = "`plugin_failed`, `pricing_unavailable`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn quote(
    State(app): State<Shop>,
    State(pipeline): State<Pipeline>,
    actor: Actor,
    crate::edge::json::ApiJson(input): crate::edge::json::ApiJson<QuoteInput>,
) -> ApiResult<Json<Quote>> {
    let purchase = purchase_for(&app, &actor, input.member_id).await?;
    let settings = app.store.settings().current().await?;
    check_delivery(&settings, input.delivery_method)?;
    let priced = price_purchase(
        &app,
        &pipeline,
        &settings,
        &purchase,
        Wanted {
            lines: input.lines,
            delivery: input.delivery_method,
            address_id: input.address_id,
            plugin_options: input.plugin_options,
        },
        app.clock.now_ms(),
    )
    .await?;
    Ok(Json(priced.quote))
}

/// A purchase priced: the quote, where it goes, and whether it came from the cart.
struct Priced {
    quote: Quote,
    address: Option<OrderAddress>,
    from_cart: bool,
}

/// Prices the lines asked for (or the cart) to the address chosen, as quote and checkout both do.
/// What a quote or checkout asks to price: the lines (absent: the cart), how the goods go,
/// and to which of the member's addresses.
struct Wanted {
    lines: Option<Vec<LineRequest>>,
    delivery: DeliveryMethod,
    address_id: Option<i64>,
    plugin_options: PluginOptions,
}

async fn price_purchase(
    app: &Shop,
    pipeline: &Pipeline,
    settings: &crate::settings::Settings,
    purchase: &Purchase,
    wanted: Wanted,
    now_ms: i64,
) -> ApiResult<Priced> {
    let Wanted {
        lines,
        delivery,
        address_id,
        plugin_options,
    } = wanted;
    let plugin_options = plugin_options.checked()?;
    let (lines, from_cart) = lines_or_cart(&app.store, purchase, lines).await?;
    let address = order_address(&app.store, purchase.member.id, address_id, delivery).await?;
    let quote = quote::price(
        &app.store,
        settings,
        pipeline,
        &purchase.buyer,
        &QuoteRequest {
            lines,
            delivery,
            area: area_of(address.as_ref()),
            drop_delisted: from_cart,
            plugin_options,
        },
        now_ms,
    )
    .await?;
    Ok(Priced {
        quote,
        address,
        from_cart,
    })
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<String> {
    let key = headers
        .get(IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    if key.is_empty() {
        return Err(ApiError::bad_request(
            "idempotency_key_required",
            "下单请求须带 Idempotency-Key 头 (an Idempotency-Key header is required)",
        )
        .with_field("Idempotency-Key"));
    }
    if key.len() > 100 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key 须为1到100个可见ASCII字符 (1 to 100 visible ASCII characters)",
        )
        .with_field("Idempotency-Key"));
    }
    Ok(key.to_owned())
}

/// The first response to a key, or a refusal when the key came with another body.
fn replay(stored_hash: &str, response: String, request_hash: &str) -> ApiResult<Response> {
    if stored_hash != request_hash {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "该 Idempotency-Key 已用于另一笔下单请求 (this key was used with a different request)",
        )
        .with_field("Idempotency-Key"));
    }
    Ok(created(response))
}

fn created(body: String) -> Response {
    (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Place an order (D3). Requires an `Idempotency-Key` header: a repeated key returns the first
/// response; the same key with another body is refused (`idempotency_key_reused`).
#[utoipa::path(post, path = "/orders", tag = "orders", request_body = CheckoutInput,
    params(("Idempotency-Key" = String, Header, description = "One key per intended order, chosen by the client")),
    responses((status = 201, body = super::record::OrderView), (status = 400, description = "`idempotency_key_required`, `invalid_idempotency_key`", body = crate::error::ErrorBody), (status = 403, description = "`not_approved`, `single_page`", body = crate::error::ErrorBody), (status = 404, description = "`not_found`", body = crate::error::ErrorBody), (status = 409, description = "`idempotency_key_in_use`, `limit_reached`, `out_of_stock`, `plugin_refused`, `price_changed`", body = crate::error::ErrorBody), (status = 422, description = "`amount_out_of_range`, `address_required`, `credit_terms_required`, `delisted`, `delivery_method_disabled`, `duplicate_line`, `empty_order`, `idempotency_key_reused`, `invalid_date`, `invalid_quantity`, `member_not_approved`, `moq_step`, `payment_method_disabled`, `too_many_lines`, `unknown_address`, `unknown_sku`", body = crate::error::ErrorBody), (status = 503, description = "`plugin_failed`, `pricing_unavailable`", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn place(
    State(app): State<Shop>,
    State(pipeline): State<Pipeline>,
    actor: Actor,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let request_hash = hex::encode(Sha256::digest(&body));
    // The key is looked up inside the checkout transaction (no read of its own on the way
    // in); a request refused before it gets there may still be a repeat, and a repeat is
    // answered with its first response, whatever would refuse a new order now.
    match place_new(
        &app,
        &pipeline,
        &actor,
        key.clone(),
        request_hash.clone(),
        &body,
    )
    .await
    {
        Err(refused) => match app
            .store
            .orders()
            .idempotent_response(actor.user_id, &key)
            .await?
        {
            Some((stored_hash, response)) => replay(&stored_hash, response, &request_hash),
            None => Err(refused),
        },
        placed => placed,
    }
}

async fn place_new(
    app: &Shop,
    pipeline: &Pipeline,
    actor: &Actor,
    key: String,
    request_hash: String,
    body: &[u8],
) -> ApiResult<Response> {
    let input: CheckoutInput = parse_json(body)?;
    let purchase = purchase_for(app, actor, input.member_id).await?;
    let settings = app.store.settings().current().await?;
    check_delivery(&settings, input.delivery_method)?;
    if !input.payment_method.is_enabled(&settings.payment_methods) {
        return Err(ApiError::invalid_field(
            "payment_method_disabled",
            "payment_method",
            format!(
                "payment_method: 本店暂不支持{} (not offered)",
                input.payment_method.label()
            ),
        ));
    }
    if input.payment_method.is_credit()
        && purchase.member.credit_terms.as_deref() != Some("monthly")
    {
        return Err(ApiError::invalid_field(
            "credit_terms_required",
            "payment_method",
            "payment_method: 统一结算须先由商家开通 (monthly settlement is not open for this member)",
        ));
    }
    let now = app.clock.now_ms();
    let requested_date = match input.requested_date.as_deref() {
        None | Some("") => None,
        Some(text) => {
            let start = crate::clock::parse_shop_date(text).ok_or_else(|| {
                ApiError::invalid_field(
                    "invalid_date",
                    "requested_date",
                    "requested_date: 日期格式为 2026-12-01 (a date like 2026-12-01)",
                )
            })?;
            let today =
                crate::clock::parse_shop_date(&crate::clock::shop_date_iso(now)).unwrap_or(now);
            if start < today || start > today + 180 * 86_400_000 {
                return Err(ApiError::invalid_field(
                    "invalid_date",
                    "requested_date",
                    "requested_date: 须在今天到180天之内 (today to 180 days ahead)",
                ));
            }
            Some(crate::clock::shop_date_iso(start))
        }
    };
    let remark = crate::accounts::parse_text(&input.remark, "remark", 200)?;
    let po_number = crate::accounts::parse_text(&input.po_number, "po_number", 50)?;
    let Priced {
        quote,
        address,
        from_cart,
    } = price_purchase(
        app,
        pipeline,
        &settings,
        &purchase,
        Wanted {
            lines: input.lines,
            delivery: input.delivery_method,
            address_id: input.address_id,
            plugin_options: input.plugin_options,
        },
        now,
    )
    .await?;
    // The plugins' checkout hooks, outside the transaction: their reservations are applied
    // in it, bounded, with the stock.
    let reservations = pipeline.reserve(&purchase.buyer, now, &quote).await?;
    let placed = app
        .store
        .orders()
        .place_order(NewOrder {
            placed_by: actor.user_id,
            key,
            request_hash: request_hash.clone(),
            member: purchase.member.clone(),
            audience: if purchase.on_behalf {
                Audience::Business
            } else {
                Audience::Member
            },
            quote,
            reservations,
            payment_method: input.payment_method,
            delivery_method: input.delivery_method,
            address,
            remark,
            po_number,
            requested_date,
            from_cart,
            now_ms: now,
        })
        .await;
    match placed {
        Ok(placed) => Ok(created(placed.response)),
        Err(CheckoutError::Replay {
            stored_hash,
            response,
        }) => replay(&stored_hash, response, &request_hash),
        // A twin committed first; `place` answers with the twin's response.
        Err(CheckoutError::KeyTaken) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_in_use",
            "同一 Idempotency-Key 的请求正在处理 (a request with this key is being placed)",
        )),
        Err(CheckoutError::OutOfStock {
            line_no,
            sku_id,
            available,
        }) => {
            let field = format!("lines[{}]", line_no - 1);
            Err(ApiError::conflict(
                "out_of_stock",
                &field,
                format!("{field}: 库存不足，仅剩{available} (only {available} in stock)"),
            )
            .with_details(serde_json::json!({ "sku_id": sku_id, "available": available })))
        }
        Err(CheckoutError::LimitReached { message }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "limit_reached",
            message,
        )),
        Err(CheckoutError::QuoteStale) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "price_changed",
            "商品价格或上架状态刚刚变化，请重新确认订单 (a price or shelf status changed; quote again)",
        )),
        Err(CheckoutError::Store(err)) => Err(err.into()),
    }
}

/// Everything checkout writes.
pub struct NewOrder {
    pub placed_by: i64,
    pub key: String,
    pub request_hash: String,
    pub member: MemberRecord,
    /// Whose words the stored response uses: the member's, or staff's when placed for him.
    pub audience: Audience,
    pub quote: Quote,
    /// The checkout steps' reservations, held bounded in the transaction and kept with the
    /// order.
    pub reservations: Reservations,
    pub payment_method: PaymentMethod,
    pub delivery_method: DeliveryMethod,
    pub address: Option<OrderAddress>,
    pub remark: String,
    pub po_number: String,
    pub requested_date: Option<String>,
    pub from_cart: bool,
    pub now_ms: i64,
}

/// A placed order and the response its key will replay.
pub struct Placed {
    pub record: OrderRecord,
    pub response: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("line {line_no}: only {available} of SKU {sku_id} in stock")]
    OutOfStock {
        line_no: i64,
        sku_id: i64,
        available: i64,
    },
    #[error("a product changed since it was quoted")]
    QuoteStale,
    /// A plugin's reservation would leave its bounds (a flash sale sold out, a per-member
    /// limit): its message is for the member.
    #[error("{message}")]
    LimitReached { message: String },
    #[error("the idempotency key was used before")]
    Replay {
        stored_hash: String,
        response: String,
    },
    /// A concurrent twin with the same key committed first (its key row refused ours).
    #[error("a twin with the same idempotency key committed first")]
    KeyTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CheckoutError {
    fn from(err: sqlx::Error) -> Self {
        CheckoutError::Store(StoreError::Db(err))
    }
}

impl super::OrderStore<'_> {
    /// The stored hash and response of an idempotency key.
    pub async fn idempotent_response(
        self,
        user_id: i64,
        key: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT request_hash, response FROM idempotency_keys WHERE user_id = $1 AND key = $2",
            )
            .bind(user_id)
            .bind(key)
            .fetch_optional(pool)
            .await
        })?)
    }

    /// The checkout transaction (see the module comment). On SQLite it joins the group
    /// commit (`store/group_commit.rs`); on PostgreSQL it is a transaction of its own.
    pub async fn place_order(self, order: NewOrder) -> Result<Placed, CheckoutError> {
        // What the pricing script was given, to replay drafts on (`scripts/replay.rs`). When a
        // script priced the quote it holds the member as the script saw him; otherwise
        // (no script serving, the demo's history) he is read now, before the transaction.
        let inputs = match &order.quote.pricing_run {
            Some(run) => PricingInputs::of(&order.quote, run.member.clone(), run.now_ms),
            None => PricingInputs::of(
                &order.quote,
                self.members().member_attributes(order.member.id).await?,
                order.now_ms,
            ),
        };
        let inputs: std::sync::Arc<str> = serde_json::to_string(&inputs)
            .map_err(|e| StoreError::Other(e.to_string()))?
            .into();
        let order = std::sync::Arc::new(order);
        let outcome = match &self.db {
            Db::Sqlite { group_commit, .. } => {
                let (reply, outcome) = tokio::sync::oneshot::channel();
                let job_order = std::sync::Arc::clone(&order);
                let job_inputs = std::sync::Arc::clone(&inputs);
                group_commit.submit(Box::new(move |connection| {
                    Box::pin(async move {
                        let placed = place_in(connection, &job_order, &job_inputs).await;
                        Ran {
                            keep: placed.is_ok(),
                            then: Box::new(move |committed| {
                                let _ =
                                    reply.send(committed.map_err(CheckoutError::from).and(placed));
                            }),
                        }
                    })
                }))?;
                outcome.await.map_err(|_| {
                    StoreError::Other("the group commit ended before this order".to_owned())
                })?
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let placed = place_in(&mut *tx, &order, &inputs).await;
                if placed.is_ok() {
                    tx.commit().await?;
                }
                placed
            }
        };
        let (placed, levels) = outcome?;
        self.stock_moved(&levels).await;
        for change in order.reservations.changes() {
            self.changed(change).await;
        }
        Ok(placed)
    }
}

/// Checkout's statements, inside the caller's transaction: the stock taken and the order
/// placed, or nothing kept (the caller rolls back on `Err`). Each step below is one or two
/// round trips; on SQLite the first two steps' statements go as one.
async fn place_in<C: RunBatch + Send>(
    conn: &mut C,
    order: &NewOrder,
    pricing_inputs: &str,
) -> Result<(Placed, Vec<StockLevel>), CheckoutError> {
    refuse_replay(conn, order).await?;
    let (taken, levels) = take_goods(conn, &order.quote).await?;
    hold_reservations(conn, &order.reservations).await?;
    let credit_hold = over_credit(conn, order).await?;
    let id = insert_order(conn, order, credit_hold).await?;
    let record = placed_record(order, id, credit_hold, &taken);
    let mut batch = Batch::default();
    push_contents(&mut batch, order, &record, pricing_inputs);
    let response = push_key(&mut batch, order, &record)?;
    match conn.execute_batch(batch).await {
        Ok(()) => Ok((Placed { record, response }, levels)),
        // A concurrent twin with the same key got there first: everything here rolls back.
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Err(CheckoutError::KeyTaken),
        Err(err) => Err(err.into()),
    }
}

/// Step 0, a repeated key: the order it placed answers (and this transaction takes nothing).
async fn refuse_replay<C: RunBatch + Send>(
    conn: &mut C,
    order: &NewOrder,
) -> Result<(), CheckoutError> {
    let mut lookup = Batch::default();
    lookup.push(
        "SELECT request_hash, response FROM idempotency_keys WHERE user_id = $1 AND key = $2",
        args![order.placed_by, order.key.as_str()],
    );
    let stored: Vec<(String, String)> = conn.fetch_batch(lookup).await?;
    match stored.into_iter().next() {
        Some((stored_hash, response)) => Err(CheckoutError::Replay {
            stored_hash,
            response,
        }),
        None => Ok(()),
    }
}

/// Items taken for each line (by line number): from the shelf, and owed.
type Taken = std::collections::HashMap<i64, (Quantity, Quantity)>;

/// Steps 1 and 2: the products are as the quote priced them, and stock is taken by bounded updates (never
/// below zero), together. Where the batch is one round trip (SQLite, one writer at a time)
/// every line's update joins it; on PostgreSQL each line goes in SKU order so concurrent
/// checkouts never wait on each other in a cycle.
async fn take_goods<C: RunBatch + Send>(
    conn: &mut C,
    quote: &Quote,
) -> Result<(Taken, Vec<StockLevel>), CheckoutError> {
    let mut by_sku: Vec<&super::quote::QuotedLine> = quote.lines.iter().collect();
    by_sku.sort_by_key(|l| l.sku_id);
    let product_ids: Vec<i64> = quote.revisions.iter().map(|(id, _)| id.get()).collect();
    let mut levels: Vec<StockLevel> = Vec::with_capacity(by_sku.len());
    let batched = one_round_trip(&*conn);
    let mut batch = Batch::default();
    batch.push(
        format!(
            "SELECT CAST(0 AS BIGINT), id, revision, CAST(CASE WHEN on_shelf THEN 1 ELSE 0 END AS BIGINT) FROM products WHERE id IN ({})",
            placeholders(product_ids.len())
        ),
        product_ids.iter().map(|id| Arg::from(*id)).collect(),
    );
    if batched {
        for line in &by_sku {
            batch.push(
                "UPDATE skus SET stock = stock - $2, stock_seq = stock_seq + 1 WHERE id = $1 AND stock >= $2 RETURNING CAST(1 AS BIGINT), id, stock, stock_seq",
                args![line.sku_id, line.qty],
            );
        }
    }
    let rows: Vec<(i64, i64, i64, i64)> = conn.fetch_batch(batch).await?;
    let unchanged = quote.revisions.iter().all(|(id, revision)| {
        rows.iter().any(|&(kind, cid, crev, on_shelf)| {
            kind == 0 && cid == id.get() && crev == *revision && on_shelf == 1
        })
    });
    if !unchanged {
        return Err(CheckoutError::QuoteStale);
    }
    let mut taken = Taken::default();
    for line in &by_sku {
        let full = rows
            .iter()
            .find(|&&(kind, sku_id, _, _)| kind == 1 && sku_id == line.sku_id.get());
        let take = match full {
            Some(&(_, _, stock, seq)) => Take::Taken {
                reserved: Quantity(line.qty),
                backorder: Quantity::ZERO,
                stock,
                seq,
            },
            // Short in the batch (or not batched): the one-line path decides, with
            // backorders where the SKU allows them.
            None => super::stock::take_stock(conn, line.sku_id, Quantity(line.qty)).await?,
        };
        match take {
            Take::Taken {
                reserved,
                backorder,
                stock,
                seq,
            } => {
                taken.insert(line.line_no, (reserved, backorder));
                levels.push(StockLevel {
                    product_id: line.product_id,
                    sku_id: line.sku_id,
                    stock,
                    seq,
                });
            }
            Take::Short { available } => {
                return Err(CheckoutError::OutOfStock {
                    line_no: line.line_no,
                    sku_id: line.sku_id.get(),
                    available: available.get(),
                });
            }
        }
    }
    Ok((taken, levels))
}

/// Step 2b: the plugins' reservations, bounded like stock: all within bounds, or no order.
async fn hold_reservations<C: RunBatch + Send>(
    conn: &mut C,
    reservations: &Reservations,
) -> Result<(), CheckoutError> {
    if reservations.is_empty() {
        return Ok(());
    }
    let mut batch = Batch::default();
    let wanted = reservations.push_holds(&mut batch);
    let within: Vec<(i64, String, String)> = conn.fetch_batch(batch).await?;
    if within.len() < wanted {
        let short = reservations
            .iter()
            .find(|r| {
                !within
                    .iter()
                    .any(|(_, owner, key)| *owner == r.owner && *key == r.key)
            })
            .map(|r| r.message.clone())
            .unwrap_or_default();
        return Err(CheckoutError::LimitReached { message: short });
    }
    Ok(())
}

/// Step 3, credit (B6): whether the order takes the member past his limit, so it waits on hold
/// for a release.
async fn over_credit<C: RunBatch + Send>(
    conn: &mut C,
    order: &NewOrder,
) -> Result<bool, CheckoutError> {
    if !order.payment_method.is_credit() {
        return Ok(false);
    }
    let mut batch = Batch::default();
    // The no-op update locks the member's row: his concurrent orders are counted one after
    // the other.
    batch.push(
        "UPDATE members SET credit_limit_fen = credit_limit_fen WHERE user_id = $1",
        args![order.member.id],
    );
    // Each order counts at most what one order may come to, so no set of orders (even rows
    // written before totals were bounded) can take the sum past i64: that would be a database
    // error, and every later checkout of the member a 500.
    batch.push(
        "SELECT CAST(COALESCE(SUM(CASE WHEN total_fen - paid_fen > $2 THEN $2 ELSE total_fen - paid_fen END), 0) AS BIGINT)
         FROM orders WHERE member_id = $1 AND payment_method = 'monthly_settlement' AND status <> 'closed'",
        args![order.member.id, crate::money::MAX_ORDER_FEN],
    );
    let owed: Vec<(i64,)> = conn.fetch_batch(batch).await?;
    let owed = owed.first().map_or(0, |(owed,)| *owed);
    // Past i64 is past any limit: held, like any order over it.
    Ok(owed
        .checked_add(order.quote.total_fen)
        .is_none_or(|due| due > order.member.credit_limit_fen.unwrap_or(0)))
}

/// Step 4: the order's row; its id.
async fn insert_order<C: RunBatch + Send>(
    conn: &mut C,
    order: &NewOrder,
    credit_hold: bool,
) -> Result<OrderId, CheckoutError> {
    let quote = &order.quote;
    let address_json =
        serde_json::to_string(&order.address).map_err(|e| StoreError::Other(e.to_string()))?;
    let mut insert = Batch::default();
    insert.push(
        "INSERT INTO orders (member_id, placed_by, region_id, manager_id, promoter_id, status, credit_hold, payment_method, delivery_method,
            address, remark, po_number, requested_date, goods_fen, shipping_fen, adjustments_fen, total_fen, weight_g, placed_at, updated_at, level_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19, $20) RETURNING id",
        args![
            order.member.id,
            order.placed_by,
            order.member.region_id,
            order.member.manager_id,
            order.member.promoter_id,
            OrderStatus::PendingConfirmation.as_str(),
            credit_hold,
            order.payment_method.as_str(),
            order.delivery_method.as_str(),
            address_json.as_str(),
            order.remark.as_str(),
            order.po_number.as_str(),
            order.requested_date.clone(),
            quote.goods_fen,
            quote.shipping_fen,
            quote.adjustments_fen,
            quote.total_fen,
            quote.weight_g,
            order.now_ms,
            order.member.level_id,
        ],
    );
    let ids: Vec<(OrderId,)> = conn.fetch_batch(insert).await?;
    match ids.first() {
        Some(&(id,)) => Ok(id),
        None => Err(StoreError::Other("the order insert returned no id".to_owned()).into()),
    }
}

/// Why a new order's first history entry says it waits.
fn placed_remark(credit_hold: bool) -> &'static str {
    if credit_hold {
        "信用冻结：超出信用额度 (over the credit limit)"
    } else {
        ""
    }
}

/// The order as placed, without reading it back.
fn placed_record(order: &NewOrder, id: OrderId, credit_hold: bool, taken: &Taken) -> OrderRecord {
    let quote = &order.quote;
    let status = OrderStatus::PendingConfirmation;
    OrderRecord {
        id,
        member_id: MemberId(order.member.id),
        member_name: order.member.name.clone(),
        shop_name: order.member.shop_name.clone(),
        placed_by: order.placed_by,
        region_id: order.member.region_id,
        manager_id: order.member.manager_id,
        promoter_id: order.member.promoter_id,
        level_id: order.member.level_id,
        status,
        credit_hold,
        payment_method: order.payment_method,
        delivery_method: order.delivery_method,
        address: order.address.clone(),
        remark: order.remark.clone(),
        po_number: order.po_number.clone(),
        requested_date: order.requested_date.clone(),
        goods_fen: Fen(quote.goods_fen),
        shipping_fen: Fen(quote.shipping_fen),
        adjustments_fen: Fen(quote.adjustments_fen),
        total_fen: Fen(quote.total_fen),
        paid_fen: Fen::ZERO,
        refunded_fen: Fen::ZERO,
        after_sales_open: false,
        weight_g: quote.weight_g,
        close_reason: None,
        placed_at: order.now_ms,
        confirmed_at: None,
        confirmed_by: None,
        paid_at: None,
        closed_at: None,
        parent: None,
        lines: quote
            .lines
            .iter()
            .map(|line| {
                let (reserved, backorder) = taken
                    .get(&line.line_no)
                    .copied()
                    .unwrap_or((Quantity::ZERO, Quantity::ZERO));
                OrderLine {
                    line: line.clone(),
                    reserved_qty: reserved,
                    backorder_qty: backorder,
                    followup_qty: Quantity::ZERO,
                }
            })
            .collect(),
        adjustments: quote.adjustments.clone(),
        payments: Vec::new(),
        history: vec![HistoryEntry {
            at: rfc3339(order.now_ms),
            actor_id: Some(order.placed_by),
            action: Action::Placed.as_str().to_owned(),
            from_status: None,
            to_status: status,
            remark: placed_remark(credit_hold).to_owned(),
        }],
        fulfilment: Default::default(),
    }
}

/// Everything else the order carries: lines, adjustments, the pricing inputs, the
/// reservations, its first history entry and event, and the cart lines it bought.
fn push_contents(batch: &mut Batch, order: &NewOrder, record: &OrderRecord, pricing_inputs: &str) {
    let id = record.id;
    let quote = &order.quote;
    batch.push_rows(
        "INSERT INTO order_lines (order_id, line_no, sku_id, product_id, item_no, name, model, spec, unit_label, qty, list_price_fen, line_total_fen, reserved_qty, backorder_qty, weight_g, gift, brand_id, category_ids) ",
        record.lines.iter().map(|placed| {
            let line = &placed.line;
            args![
                id,
                line.line_no,
                line.sku_id,
                line.product_id,
                line.item_no.as_str(),
                line.name.as_str(),
                line.model.as_str(),
                line.spec.as_str(),
                line.unit_label.as_str(),
                line.qty,
                line.list_price_fen,
                line.line_total_fen,
                placed.reserved_qty,
                placed.backorder_qty,
                line.weight_g,
                line.gift,
                line.brand_id,
                serde_json::to_string(&line.category_ids).unwrap_or_else(|_| "[]".to_owned()),
            ]
        }),
    );
    batch.push_rows(
        "INSERT INTO order_adjustments (order_id, line_no, source, label, amount_fen, final_sale) ",
        quote
            .lines
            .iter()
            .flat_map(|l| l.adjustments.iter().map(move |a| (Some(l.line_no), a)))
            .chain(quote.adjustments.iter().map(|a| (None, a)))
            .map(|(line_no, adjustment)| {
                args![
                    id,
                    line_no,
                    adjustment.source.as_str(),
                    adjustment.label.as_str(),
                    adjustment.amount_fen,
                    adjustment.final_sale,
                ]
            }),
    );
    batch.push(
        "INSERT INTO order_pricing_inputs (order_id, inputs) VALUES ($1, $2)",
        args![id, pricing_inputs],
    );
    batch.push_rows(
        "INSERT INTO order_reservations (order_id, plugin, key, delta) ",
        order
            .reservations
            .iter()
            .map(|r| args![id, r.owner.as_str(), r.key.as_str(), r.delta]),
    );
    push_history(
        batch,
        Entry {
            order_id: id,
            at: order.now_ms,
            actor_id: Some(order.placed_by),
            action: Action::Placed,
            from: None,
            to: record.status,
            remark: placed_remark(record.credit_hold),
        },
    );
    push_event(batch, "order.placed", record, order.now_ms);
    if order.from_cart {
        let bought: Vec<i64> = quote
            .lines
            .iter()
            .map(|l| l.sku_id.get())
            .chain(
                quote
                    .notices
                    .iter()
                    .filter(|n| n.code == "delisted")
                    .filter_map(|n| n.sku_id.map(SkuId::get)),
            )
            .collect();
        batch.push(
            format!(
                "DELETE FROM cart_items WHERE user_id = $1 AND sku_id IN ({})",
                placeholders_from(2, bought.len())
            ),
            std::iter::once(Arg::from(order.member.id))
                .chain(bought.into_iter().map(Arg::from))
                .collect(),
        );
    }
}

/// Step 5: the key, last, with the response it will replay: a concurrent twin that got here first
/// makes this insert fail, and everything before it rolls back.
fn push_key(
    batch: &mut Batch,
    order: &NewOrder,
    record: &OrderRecord,
) -> Result<String, CheckoutError> {
    let mut view = record.view(order.audience);
    view.notices = order.quote.notices.clone();
    let response = serde_json::to_string(&view).map_err(|e| StoreError::Other(e.to_string()))?;
    batch.push(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, order_id, response, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        args![
            order.placed_by,
            order.key.as_str(),
            order.request_hash.as_str(),
            record.id,
            response.as_str(),
            order.now_ms,
        ],
    );
    Ok(response)
}
