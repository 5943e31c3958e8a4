//! The cart (D1) and bulk ordering (D2): 订货 puts SKUs in the cart (several from one product
//! page at once), the cart tells what changed since (price, stock, delisted), quick order turns
//! a pasted list or a CSV/Excel file of item numbers or barcodes into cart lines, and 再来一单
//! puts a past order's lines back.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use utoipa::ToSchema;

use super::checkout::purchase_for;
use super::quote::{self, LineRequest, MAX_LINES, MAX_QTY};
use crate::accounts::permissions::Actor;
use crate::catalog::pricing;
use crate::catalog::transfer::{Cell, RowError, read_table};
use crate::edge::extract::Path;
use crate::edge::json::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::ids::{MemberId, OrderId, ProductId, SkuId};
use crate::shop::Shop;
use crate::store::{StoreResult, on_pool};

#[derive(Debug, Clone, FromRow)]
pub struct CartItem {
    pub sku_id: SkuId,
    pub qty: i64,
    pub seen_price_fen: i64,
    pub seen_stock: i64,
}

/// A cart line as the member sees it, with what changed since he added it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CartLine {
    pub sku_id: SkuId,
    pub product_id: ProductId,
    pub item_no: String,
    pub name: String,
    pub model: String,
    pub spec: String,
    pub unit_label: String,
    /// The pack: quantities go in steps of it.
    pub step: i64,
    pub qty: i64,
    /// What one item costs him now, at this quantity.
    pub unit_price_fen: i64,
    pub subtotal_fen: i64,
    /// What one item cost when he added it.
    pub seen_price_fen: i64,
    pub price_changed: bool,
    pub stock: i64,
    pub stock_changed: bool,
    /// More in the cart than in stock, and no backorders.
    pub short: bool,
    /// Taken off the shelf: removed at checkout.
    pub delisted: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CartView {
    pub lines: Vec<CartLine>,
    /// Sum of the subtotals of the lines still on sale (shipping and promotions come with the
    /// quote).
    pub goods_fen: i64,
}

impl super::OrderStore<'_> {
    pub async fn cart(self, user_id: i64) -> StoreResult<Vec<CartItem>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as("SELECT sku_id, qty, seen_price_fen, seen_stock FROM cart_items WHERE user_id = $1 ORDER BY added_at, sku_id")
                .bind(user_id)
                .fetch_all(pool)
                .await
        })?)
    }

    /// Puts SKUs in a cart with the quantity given (replacing what was there).
    pub async fn put_cart_items(
        self,
        user_id: i64,
        items: &[CartItem],
        now_ms: i64,
    ) -> StoreResult<()> {
        if items.is_empty() {
            return Ok(());
        }
        on_pool!(self, |pool| {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO cart_items (user_id, sku_id, qty, seen_price_fen, seen_stock, added_at) ",
            );
            insert.push_values(items, |mut row, item| {
                row.push_bind(user_id)
                    .push_bind(item.sku_id)
                    .push_bind(item.qty)
                    .push_bind(item.seen_price_fen)
                    .push_bind(item.seen_stock)
                    .push_bind(now_ms);
            });
            insert.push(
                " ON CONFLICT (user_id, sku_id) DO UPDATE SET qty = excluded.qty, seen_price_fen = excluded.seen_price_fen, seen_stock = excluded.seen_stock",
            );
            insert
                .build()
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    pub async fn remove_cart_item(self, user_id: i64, sku_id: i64) -> StoreResult<bool> {
        Ok(on_pool!(self, |pool| {
            sqlx::query("DELETE FROM cart_items WHERE user_id = $1 AND sku_id = $2")
                .bind(user_id)
                .bind(sku_id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })? == 1)
    }

    /// SKUs by barcode or by item number (a product's, when it has one SKU): code → SKU ids.
    pub async fn skus_by_codes(self, codes: &[String]) -> StoreResult<HashMap<String, Vec<i64>>> {
        if codes.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(i64, Option<String>, String)> = on_pool!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT s.id, s.barcode, p.item_no FROM skus s JOIN products p ON p.id = s.product_id WHERE s.barcode IN (",
            );
            let mut list = query.separated(", ");
            for code in codes {
                list.push_bind(code.clone());
            }
            query.push(") OR p.item_no IN (");
            let mut list = query.separated(", ");
            for code in codes {
                list.push_bind(code.clone());
            }
            query.push(") ORDER BY s.sort, s.id");
            query.build_query_as().fetch_all(pool).await
        })?;
        let mut found: HashMap<String, Vec<i64>> = HashMap::new();
        for (sku_id, barcode, item_no) in rows {
            if let Some(barcode) = barcode.filter(|b| codes.contains(b)) {
                found.entry(barcode).or_default().push(sku_id);
            }
            if codes.contains(&item_no) {
                found.entry(item_no).or_default().push(sku_id);
            }
        }
        Ok(found)
    }
}

/// The cart priced for its owner, with what changed since each line was added.
async fn cart_view(app: &Shop, actor: &Actor) -> ApiResult<CartView> {
    let purchase = purchase_for(app, actor, None).await?;
    let items = app.store.orders().cart(actor.user_id).await?;
    priced(app, &purchase, items).await
}

/// One line priced for the caller as a cart line, not stored: 立即下单's checkout shows it as
/// it shows the cart. Refused as the cart refuses its owner (`purchase_for`).
pub async fn line_for(app: &Shop, actor: &Actor, line: LineRequest) -> ApiResult<CartView> {
    let purchase = purchase_for(app, actor, None).await?;
    let items = vec![CartItem {
        sku_id: line.sku_id,
        qty: line.qty,
        // Seen now: nothing to tell of a change.
        seen_price_fen: -1,
        seen_stock: -1,
    }];
    let mut view = priced(app, &purchase, items).await?;
    for line in &mut view.lines {
        line.seen_price_fen = line.unit_price_fen;
        line.price_changed = false;
        line.stock_changed = false;
    }
    Ok(view)
}

/// `items` priced for `purchase`'s member, with what changed since each was seen.
async fn priced(
    app: &Shop,
    purchase: &super::checkout::Purchase,
    items: Vec<CartItem>,
) -> ApiResult<CartView> {
    let owners = app
        .store
        .catalog()
        .sku_products(&items.iter().map(|i| i.sku_id).collect::<Vec<_>>())
        .await?;
    let mut product_ids: Vec<ProductId> = owners.values().copied().collect();
    product_ids.sort_unstable();
    product_ids.dedup();
    let products: HashMap<ProductId, _> = app
        .store
        .catalog()
        .shared_products(&product_ids)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let mut lines = Vec::new();
    for item in items {
        let Some(product) = owners.get(&item.sku_id).and_then(|p| products.get(p)) else {
            continue;
        };
        let Some(sku) = product.skus.iter().find(|s| s.id == item.sku_id) else {
            continue;
        };
        let unit = pricing::unit_price(sku, purchase.buyer.level_id, item.qty);
        lines.push(CartLine {
            sku_id: sku.id,
            product_id: product.id,
            item_no: product.item_no.clone(),
            name: product.name.clone(),
            model: sku.model.clone(),
            spec: sku.spec.clone(),
            unit_label: product.unit.label(),
            step: product.unit.inner_qty.max(1),
            qty: item.qty,
            unit_price_fen: unit,
            // Catalogue prices and quantities are bounded (MAX_FEN, MAX_QTY): no overflow, and
            // the cart's sum below is checked all the same.
            subtotal_fen: unit.saturating_mul(item.qty),
            seen_price_fen: item.seen_price_fen,
            price_changed: unit != item.seen_price_fen,
            stock: sku.stock,
            stock_changed: sku.stock != item.seen_stock,
            short: item.qty > sku.stock && !sku.allow_backorder,
            delisted: !product.on_shelf,
        });
    }
    let goods_fen =
        crate::money::checked_sum(lines.iter().filter(|l| !l.delisted).map(|l| l.subtotal_fen))
            .ok_or_else(|| crate::money::out_of_range("lines"))?;
    Ok(CartView { lines, goods_fen })
}

/// Adds quantities to the cart (or sets them), checking each SKU and the pack rule; `field`
/// names where each line came from in errors.
async fn add_to_cart(
    app: &Shop,
    actor: &Actor,
    lines: &[(LineRequest, String)],
    replace: bool,
) -> ApiResult<()> {
    let purchase = purchase_for(app, actor, None).await?;
    let settings = app.store.settings().current().await?;
    let existing: HashMap<SkuId, i64> = app
        .store
        .orders()
        .cart(actor.user_id)
        .await?
        .into_iter()
        .map(|i| (i.sku_id, i.qty))
        .collect();
    let owners = app
        .store
        .catalog()
        .sku_products(&lines.iter().map(|(l, _)| l.sku_id).collect::<Vec<_>>())
        .await?;
    let products: HashMap<ProductId, _> = app
        .store
        .catalog()
        .shared_products(&owners.values().copied().collect::<Vec<_>>())
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let mut items: Vec<CartItem> = Vec::new();
    for (line, field) in lines {
        let qty_field = format!("{field}.qty");
        let product = owners
            .get(&line.sku_id)
            .and_then(|p| products.get(p))
            .filter(|p| p.skus.iter().any(|s| s.id == line.sku_id))
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "unknown_sku",
                    &format!("{field}.sku_id"),
                    format!("{field}.sku_id: 商品规格不存在 (no such SKU)"),
                )
            })?;
        if !product.on_shelf {
            return Err(ApiError::invalid_field(
                "delisted",
                &format!("{field}.sku_id"),
                format!("{field}.sku_id: {} 已下架 (delisted)", product.name),
            ));
        }
        let sku = product
            .skus
            .iter()
            .find(|s| s.id == line.sku_id)
            .ok_or_else(ApiError::not_found)?;
        let mut qty = if replace {
            line.qty
        } else {
            line.qty + existing.get(&line.sku_id).copied().unwrap_or(0)
        };
        if !(1..=MAX_QTY).contains(&qty) {
            return Err(ApiError::invalid_field(
                "invalid_quantity",
                &qty_field,
                format!("{qty_field}: 数量须在1到{MAX_QTY}之间 (between 1 and {MAX_QTY})"),
            ));
        }
        if let Some(rounded) =
            quote::pack_quantity(qty, product.unit.inner_qty, settings.moq_rule, &qty_field)?
        {
            qty = rounded;
        }
        items.push(CartItem {
            sku_id: sku.id,
            qty,
            seen_price_fen: pricing::unit_price(sku, purchase.buyer.level_id, qty),
            seen_stock: sku.stock,
        });
    }
    let distinct_after = existing.len()
        + items
            .iter()
            .filter(|i| !existing.contains_key(&i.sku_id))
            .count();
    if distinct_after > MAX_LINES {
        return Err(ApiError::invalid_field(
            "too_many_lines",
            "items",
            format!("items: 购物车最多{MAX_LINES}种商品 (at most {MAX_LINES} lines)"),
        ));
    }
    app.store
        .orders()
        .put_cart_items(actor.user_id, &items, app.clock.now_ms())
        .await?;
    Ok(())
}

/// My cart, priced now, with what changed since each line went in (D1).
#[utoipa::path(get, path = "/cart", tag = "cart", responses((status = 200, body = CartView), (status = 403, description = "`not_approved`, `single_page`", body = crate::error::ErrorBody), (status = 422, description = "`member_not_approved`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get(State(app): State<Shop>, actor: Actor) -> ApiResult<Json<CartView>> {
    Ok(Json(cart_view(&app, &actor).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CartAddition {
    /// One or more SKUs (a product page's steppers) and how many to add.
    pub items: Vec<LineRequest>,
}

/// 订货: add SKUs to my cart, several at once; quantities add to what is there.
#[utoipa::path(post, path = "/cart/items", tag = "cart", request_body = CartAddition,
    responses((status = 200, body = CartView), (status = 403, description = "`not_approved`, `single_page`", body = crate::error::ErrorBody), (status = 422, description = "`delisted`, `empty_order`, `invalid_quantity`, `member_not_approved`, `moq_step`, `too_many_lines`, `unknown_sku`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn add(
    State(app): State<Shop>,
    actor: Actor,
    ApiJson(input): ApiJson<CartAddition>,
) -> ApiResult<Json<CartView>> {
    if input.items.is_empty() {
        return Err(ApiError::invalid_field(
            "empty_order",
            "items",
            "items: 请至少选择一种商品 (at least one item)",
        ));
    }
    let lines: Vec<(LineRequest, String)> = input
        .items
        .iter()
        .enumerate()
        .map(|(i, l)| (*l, format!("items[{i}]")))
        .collect();
    add_to_cart(&app, &actor, &lines, false).await?;
    Ok(Json(cart_view(&app, &actor).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CartQuantity {
    pub qty: i64,
}

/// Set a cart line's quantity (the stepper).
#[utoipa::path(put, path = "/cart/items/{sku_id}", tag = "cart", params(("sku_id" = i64, Path)), request_body = CartQuantity,
    responses((status = 200, body = CartView), (status = 403, description = "`not_approved`, `single_page`", body = crate::error::ErrorBody), (status = 422, description = "`delisted`, `invalid_quantity`, `member_not_approved`, `moq_step`, `too_many_lines`, `unknown_sku`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn set(
    State(app): State<Shop>,
    actor: Actor,
    Path(sku_id): Path<SkuId>,
    ApiJson(input): ApiJson<CartQuantity>,
) -> ApiResult<Json<CartView>> {
    add_to_cart(
        &app,
        &actor,
        &[(
            LineRequest {
                sku_id,
                qty: input.qty,
            },
            "item".to_owned(),
        )],
        true,
    )
    .await?;
    Ok(Json(cart_view(&app, &actor).await?))
}

/// Take a line out of my cart.
#[utoipa::path(delete, path = "/cart/items/{sku_id}", tag = "cart", params(("sku_id" = i64, Path)),
    responses((status = 200, body = CartView), (status = 403, description = "`not_approved`, `single_page`", body = crate::error::ErrorBody), (status = 422, description = "`member_not_approved`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn remove(
    State(app): State<Shop>,
    actor: Actor,
    Path(sku_id): Path<i64>,
) -> ApiResult<Json<CartView>> {
    purchase_for(&app, &actor, None).await?;
    if !app
        .store
        .orders()
        .remove_cart_item(actor.user_id, sku_id)
        .await?
    {
        return Err(ApiError::not_found());
    }
    Ok(Json(cart_view(&app, &actor).await?))
}

/// Reads a quick-order list: rows of code (barcode or item number) and quantity, from pasted
/// text (one per line, separated by spaces, tabs or commas) or a CSV/Excel file. A first row
/// whose quantity is not a number is a header.
fn quick_rows(bytes: &[u8], pasted: bool) -> Result<Vec<(usize, String, String)>, String> {
    let rows: Vec<Vec<String>> = if pasted {
        let text =
            std::str::from_utf8(bytes).map_err(|_| "文本须为 UTF-8 (UTF-8 text expected)")?;
        text.lines()
            .map(|line| {
                line.split(|c: char| c == ',' || c == '，' || c.is_whitespace())
                    .filter(|part| !part.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .collect()
    } else {
        read_table(bytes)?
            .into_iter()
            .map(|row| row.iter().map(Cell::text).collect())
            .collect()
    };
    Ok(rows
        .into_iter()
        .enumerate()
        .filter(|(_, row)| row.iter().any(|c| !c.is_empty()))
        .filter(|(index, row)| *index > 0 || row.get(1).is_some_and(|q| q.parse::<i64>().is_ok()))
        .map(|(index, row)| {
            (
                index + 1,
                row.first().cloned().unwrap_or_default(),
                row.get(1).cloned().unwrap_or_default(),
            )
        })
        .collect())
}

/// The lines a quick-order list names (rows of code — barcode or item number — and quantity,
/// pasted or a CSV/Excel file): every row checked first, and any bad row refuses the whole
/// list (`quick_order_invalid`) with the errors row by row in `error.details`. `field` names
/// the list in refusals. Quick order puts them in the cart; the pricing editor's preview
/// prices them.
pub async fn lines_of_list(
    app: &Shop,
    bytes: &[u8],
    pasted: bool,
    field: &'static str,
) -> ApiResult<Vec<(LineRequest, String)>> {
    let rows = quick_rows(bytes, pasted)
        .map_err(|message| ApiError::invalid_field("invalid_file", field, message))?;
    if rows.is_empty() {
        return Err(ApiError::invalid_field(
            "empty_order",
            field,
            format!("{field}: 没有可下单的行 (no rows)"),
        ));
    }
    if rows.len() > MAX_LINES {
        return Err(ApiError::invalid_field(
            "too_many_lines",
            field,
            format!("{field}: 最多{MAX_LINES}行 (at most {MAX_LINES} rows)"),
        ));
    }
    for (row, code, _) in &rows {
        crate::text::refuse_control_chars(code, &format!("{field}[{row}]"))?;
    }
    let codes: Vec<String> = rows.iter().map(|(_, code, _)| code.clone()).collect();
    let found = app.store.orders().skus_by_codes(&codes).await?;
    let mut errors = Vec::new();
    let mut lines: Vec<(LineRequest, String)> = Vec::new();
    let mut quantities: HashMap<i64, usize> = HashMap::new();
    for (row, code, qty) in &rows {
        let error = |column: &str, code: &str, message: String| RowError {
            row: *row,
            column: column.to_owned(),
            code: code.to_owned(),
            message,
        };
        let qty: i64 = match qty.parse() {
            Ok(q) if (1..=MAX_QTY).contains(&q) => q,
            _ => {
                errors.push(error(
                    "数量",
                    "invalid_quantity",
                    format!("数量须为1到{MAX_QTY}的整数 (a whole number)"),
                ));
                continue;
            }
        };
        let sku_id = match found.get(code).map(Vec::as_slice) {
            Some([one]) => *one,
            Some([_, ..]) => {
                errors.push(error(
                    "编码",
                    "ambiguous_code",
                    format!("货号{code}有多个规格，请填条码 (several SKUs: use the barcode)"),
                ));
                continue;
            }
            _ => {
                errors.push(error(
                    "编码",
                    "unknown_code",
                    format!("找不到条码或货号{code} (no such barcode or item number)"),
                ));
                continue;
            }
        };
        if let Some(first) = quantities.insert(sku_id, *row) {
            errors.push(error(
                "编码",
                "duplicate_line",
                format!("与第{first}行是同一规格 (same SKU as row {first})"),
            ));
            continue;
        }
        lines.push((
            LineRequest {
                sku_id: SkuId(sku_id),
                qty,
            },
            format!("rows[{row}]"),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_field(
            "quick_order_invalid",
            field,
            format!(
                "{field}: {}行有误，未加入购物车 ({} bad rows, nothing added)",
                errors.len(),
                errors.len()
            ),
        )
        .with_details(serde_json::json!({ "rows": errors })));
    }
    Ok(lines)
}

/// Quick order (D2): a pasted list (`text/plain`) or a CSV/Excel file of barcodes or item
/// numbers with quantities goes into my cart. Every row is checked first; any bad row and
/// nothing is added, with the errors row by row.
#[utoipa::path(post, path = "/cart/quick-order", tag = "cart",
    request_body(description = "Rows of `code quantity` pasted as text; or a CSV or .xlsx file with the same two columns", content((String = "text/plain"), (String = "text/csv"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
    responses((status = 200, body = CartView), (status = 403, description = "`not_approved`, `single_page`", body = crate::error::ErrorBody), (status = 422, description = "`delisted`, `empty_order`, `invalid_file`, `invalid_quantity`, `member_not_approved`, `moq_step`, `quick_order_invalid`, `too_many_lines`, `unknown_sku`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn quick_order(
    State(app): State<Shop>,
    actor: Actor,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<CartView>> {
    purchase_for(&app, &actor, None).await?;
    let pasted = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/plain"));
    let lines = lines_of_list(&app, &body, pasted, "file").await?;
    add_to_cart(&app, &actor, &lines, false).await?;
    Ok(Json(cart_view(&app, &actor).await?))
}

/// 再来一单: put the lines of one of my past orders back in my cart (delisted goods skipped).
#[utoipa::path(post, path = "/orders/{id}/reorder", tag = "cart", params(("id" = i64, Path)),
    responses((status = 200, body = CartView), (status = 403, description = "`not_approved`, `single_page`", body = crate::error::ErrorBody), (status = 422, description = "`delisted`, `invalid_quantity`, `member_not_approved`, `moq_step`, `too_many_lines`, `unknown_sku`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn reorder(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<OrderId>,
) -> ApiResult<Json<CartView>> {
    let (order, _) = super::lifecycle::scoped_order(&app, &actor, id).await?;
    if order.member_id != MemberId(actor.user_id) {
        return Err(ApiError::not_found());
    }
    let owners = app
        .store
        .catalog()
        .sku_products(
            &order
                .lines
                .iter()
                .map(|l| l.line.sku_id)
                .collect::<Vec<_>>(),
        )
        .await?;
    let on_sale: Vec<ProductId> = app
        .store
        .catalog()
        .shared_products(&owners.values().copied().collect::<Vec<_>>())
        .await?
        .into_iter()
        .filter(|p| p.on_shelf)
        .map(|p| p.id)
        .collect();
    let lines: Vec<(LineRequest, String)> = order
        .lines
        .iter()
        .filter(|l| l.line.qty > 0 && on_sale.contains(&l.line.product_id))
        .map(|l| {
            (
                LineRequest {
                    sku_id: l.line.sku_id,
                    qty: l.line.qty,
                },
                format!("lines[{}]", l.line.line_no - 1),
            )
        })
        .collect();
    add_to_cart(&app, &actor, &lines, false).await?;
    Ok(Json(cart_view(&app, &actor).await?))
}
