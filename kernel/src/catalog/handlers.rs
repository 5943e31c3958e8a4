//! Catalogue routes: staff maintain categories, brands, units, products and SKUs; everyone
//! browses, and prices appear only for those `PriceView` lets see them.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::library::{check_attributes, check_unit_forms, parse_tag_ids, spec_from_attributes};
use super::pricing::{Page, PriceView, effective_breaks, level_price};
use super::storage::{NewProduct, NewSku, ProductChanges, ProductFilter, ProductSort};
use super::transfer::{Sheet, SheetFormat};
use super::{Brand, Category, LevelPrice, PriceBreak, Product, Unit};
use crate::accounts::audit::Operation;
use crate::accounts::caller::MaybeActor;
use crate::accounts::permissions::{Actor, Permission};
use crate::accounts::sessions::ClientInfo;
use crate::accounts::{parse_name, parse_text};
use crate::edge::extract::{Path, Query};
use crate::edge::json::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::jobs::{JobFile, Progress, off_runtime};
use crate::money::parse_fen;
use crate::shop::Shop;
use crate::store::StoreError;

fn unknown(code: &'static str, field: &str, what: &str) -> ApiError {
    ApiError::invalid_field(
        code,
        field,
        format!("{field}: {what}不存在 (no such {code})"),
    )
}

pub(crate) async fn log(
    app: &Shop,
    actor: &Actor,
    client: &ClientInfo,
    action: &str,
    kind: &str,
    id: i64,
    detail: serde_json::Value,
) -> ApiResult<()> {
    let op = Operation {
        actor_id: Some(actor.user_id),
        action,
        target_kind: kind,
        target_id: Some(id.to_string()),
        detail,
    };
    Ok(app
        .store
        .accounts()
        .log_operation(op, client, app.clock.now_ms())
        .await?)
}

// ---- categories -------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryInput {
    pub name: String,
    pub parent_id: Option<i64>,
    #[serde(default)]
    pub sort: i64,
}

/// Every category, top level first (public unless the shop hides behind its single page).
#[utoipa::path(get, path = "/categories", tag = "catalog", responses((status = 200, body = [Category]), (status = 403, description = "`single_page`", body = crate::error::ErrorBody)), security((), ("bearer" = [])))]
pub async fn list_categories(
    State(app): State<Shop>,
    MaybeActor(actor): MaybeActor,
) -> ApiResult<Json<std::sync::Arc<Vec<Category>>>> {
    PriceView::of(&app.store, actor.as_ref(), Page::List).await?;
    Ok(Json(app.store.catalog().list_categories().await?))
}

/// Create a category under `parent_id` (three levels at most; admin).
#[utoipa::path(post, path = "/admin/categories", tag = "catalog", request_body = CategoryInput,
    responses((status = 201, body = Category), (status = 409, description = "`category_taken`", body = crate::error::ErrorBody), (status = 422, description = "`category_too_deep`, `unknown_category`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create_category(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    ApiJson(input): ApiJson<CategoryInput>,
) -> ApiResult<(StatusCode, Json<Category>)> {
    actor.require(Permission::ManageCatalog)?;
    let name = parse_name(&input.name, "name", 30)?;
    let depth = match input.parent_id {
        None => 1,
        Some(parent) => {
            let categories = app.store.catalog().list_categories().await?;
            let parent = categories
                .iter()
                .find(|c| c.id == parent)
                .ok_or_else(|| unknown("unknown_category", "parent_id", "上级分类"))?;
            if parent.depth >= 3 {
                return Err(ApiError::invalid_field(
                    "category_too_deep",
                    "parent_id",
                    "分类最多三级 (categories have at most three levels)",
                ));
            }
            parent.depth + 1
        }
    };
    let id = match app
        .store
        .catalog()
        .insert_category(
            input.parent_id,
            &name,
            depth,
            input.sort,
            app.clock.now_ms(),
        )
        .await
    {
        Ok(id) => id,
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(
                "category_taken",
                "name",
                "同级已有同名分类 (name: taken among its siblings)",
            ));
        }
        Err(err) => return Err(err.into()),
    };
    log(
        &app,
        &actor,
        &client,
        "category.create",
        "category",
        id,
        serde_json::json!({ "name": name, "parent_id": input.parent_id }),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(Category {
            id,
            parent_id: input.parent_id,
            name,
            depth,
            sort: input.sort,
        }),
    ))
}

// ---- brands -----------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandInput {
    pub name: String,
    pub logo_url: Option<String>,
    #[serde(default)]
    pub description: String,
}

/// Every brand (品牌中心; public unless the shop hides behind its single page).
#[utoipa::path(get, path = "/brands", tag = "catalog", responses((status = 200, body = [Brand]), (status = 403, description = "`single_page`", body = crate::error::ErrorBody)), security((), ("bearer" = [])))]
pub async fn list_brands(
    State(app): State<Shop>,
    MaybeActor(actor): MaybeActor,
) -> ApiResult<Json<std::sync::Arc<Vec<Brand>>>> {
    PriceView::of(&app.store, actor.as_ref(), Page::List).await?;
    Ok(Json(app.store.catalog().list_brands().await?))
}

/// Create a brand (admin).
#[utoipa::path(post, path = "/admin/brands", tag = "catalog", request_body = BrandInput,
    responses((status = 201, body = Brand), (status = 409, description = "`brand_taken`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create_brand(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    ApiJson(input): ApiJson<BrandInput>,
) -> ApiResult<(StatusCode, Json<Brand>)> {
    actor.require(Permission::ManageCatalog)?;
    let name = parse_name(&input.name, "name", 50)?;
    let id = match app
        .store
        .catalog()
        .insert_brand(
            &name,
            input.logo_url.as_deref(),
            &input.description,
            app.clock.now_ms(),
        )
        .await
    {
        Ok(id) => id,
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(
                "brand_taken",
                "name",
                "品牌已存在 (name: a brand with this name exists)",
            ));
        }
        Err(err) => return Err(err.into()),
    };
    log(
        &app,
        &actor,
        &client,
        "brand.create",
        "brand",
        id,
        serde_json::json!({ "name": name }),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(Brand {
            id,
            name,
            logo_url: input.logo_url,
            description: input.description,
        }),
    ))
}

// ---- units ------------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitInput {
    pub item_unit: String,
    pub inner_qty: i64,
    pub inner_unit: String,
    pub outer_qty: i64,
    pub outer_unit: String,
}

/// A unit with its label, as shown everywhere it is used.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnitView {
    #[serde(flatten)]
    pub unit: Unit,
    /// 「10把/盒 - 100把/箱」
    pub label: String,
}

impl UnitView {
    fn of(unit: Unit) -> UnitView {
        UnitView {
            label: unit.label(),
            unit,
        }
    }
}

/// The unit library (public: every product page shows its unit).
#[utoipa::path(get, path = "/units", tag = "catalog", responses((status = 200, body = [UnitView])))]
pub async fn list_units(State(app): State<Shop>) -> ApiResult<Json<Vec<UnitView>>> {
    Ok(Json(
        app.store
            .catalog()
            .list_units()
            .await?
            .into_iter()
            .map(UnitView::of)
            .collect(),
    ))
}

/// Add a unit to the library (admin). A case holds a whole number of inner packs.
#[utoipa::path(post, path = "/admin/units", tag = "catalog", request_body = UnitInput,
    responses((status = 201, body = UnitView), (status = 409, description = "`unit_taken`", body = crate::error::ErrorBody), (status = 422, description = "`invalid_unit`, `unknown_unit_form`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create_unit(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    ApiJson(input): ApiJson<UnitInput>,
) -> ApiResult<(StatusCode, Json<UnitView>)> {
    actor.require(Permission::ManageCatalog)?;
    let mut unit = Unit {
        id: 0,
        item_unit: parse_name(&input.item_unit, "item_unit", 4)?,
        inner_qty: input.inner_qty,
        inner_unit: parse_name(&input.inner_unit, "inner_unit", 4)?,
        outer_qty: input.outer_qty,
        outer_unit: parse_name(&input.outer_unit, "outer_unit", 4)?,
    };
    check_unit_forms(&app, &unit.item_unit, &unit.inner_unit, &unit.outer_unit).await?;
    if !(1..=100_000).contains(&unit.inner_qty) {
        return Err(ApiError::invalid_field(
            "invalid_unit",
            "inner_qty",
            "每包数量须为1到100000 (inner_qty: 1 to 100000)",
        ));
    }
    if unit.outer_qty < unit.inner_qty
        || unit.outer_qty % unit.inner_qty != 0
        || unit.outer_qty > 10_000_000
    {
        return Err(ApiError::invalid_field(
            "invalid_unit",
            "outer_qty",
            "每箱数量须为每包数量的整数倍 (outer_qty: a whole number of inner packs)",
        ));
    }
    unit.id = match app
        .store
        .catalog()
        .insert_unit(&unit, app.clock.now_ms())
        .await
    {
        Ok(id) => id,
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(
                "unit_taken",
                "item_unit",
                "单位库已有此单位 (this unit is already in the library)",
            ));
        }
        Err(err) => return Err(err.into()),
    };
    log(
        &app,
        &actor,
        &client,
        "unit.create",
        "unit",
        unit.id,
        serde_json::json!({ "label": unit.label() }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(UnitView::of(unit))))
}

// ---- products (staff) -------------------------------------------------------------------

#[derive(Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct SkuInput {
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub spec: String,
    pub price_fen: i64,
    pub cost_fen: Option<i64>,
    #[serde(default)]
    pub stock: i64,
    #[serde(default)]
    pub allow_backorder: bool,
    pub low_stock_threshold: Option<i64>,
    pub weight_g: Option<i64>,
    pub barcode: Option<String>,
    /// Attributes from the spec library (`/admin/spec-attributes`), e.g. {"颜色": "红色"};
    /// an empty `spec` is then written from their values.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub level_prices: Vec<LevelPrice>,
    #[serde(default)]
    pub breaks: Vec<PriceBreak>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    pub item_no: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub brand_id: Option<i64>,
    pub category_id: Option<i64>,
    pub supplier_id: Option<i64>,
    pub unit_id: i64,
    #[serde(default = "default_true")]
    pub on_shelf: bool,
    /// Product tags (`/api/v1/product-tags`).
    #[serde(default)]
    pub tag_ids: Vec<i64>,
    pub skus: Vec<SkuInput>,
}

/// The most SKUs a product has.
const MAX_SKUS: usize = 200;

/// The most quantity breaks a SKU has.
pub const MAX_BREAKS: usize = 20;

fn default_true() -> bool {
    true
}

fn non_negative(value: i64, field: &str) -> ApiResult<i64> {
    if (0..=1_000_000_000).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::invalid_field(
            "invalid_input",
            field,
            format!("{field}: 须为0到1000000000的整数 (0 to 1000000000)"),
        ))
    }
}

/// Parses a SKU, naming fields as `skus[i].field` (or plain `field` for a lone SKU).
async fn parse_sku(app: &Shop, input: &SkuInput, prefix: &str) -> ApiResult<NewSku> {
    let f = |name: &str| format!("{prefix}{name}");
    let level_ids: BTreeSet<i64> = app
        .store
        .members()
        .list_levels()
        .await?
        .into_iter()
        .map(|l| l.id)
        .collect();
    let mut level_prices = Vec::new();
    for (i, lp) in input.level_prices.iter().enumerate() {
        if !level_ids.contains(&lp.level_id)
            || level_prices
                .iter()
                .any(|p: &LevelPrice| p.level_id == lp.level_id)
        {
            return Err(unknown(
                "unknown_level",
                &f(&format!("level_prices[{i}].level_id")),
                "会员等级",
            ));
        }
        level_prices.push(LevelPrice {
            level_id: lp.level_id,
            price_fen: parse_fen(lp.price_fen, &f(&format!("level_prices[{i}].price_fen")))?,
        });
    }
    let mut breaks: Vec<PriceBreak> = Vec::new();
    if input.breaks.len() > MAX_BREAKS {
        return Err(ApiError::invalid_field(
            "invalid_break",
            &f("breaks"),
            "每个规格最多20档阶梯价 (breaks: at most 20)",
        ));
    }
    for (i, b) in input.breaks.iter().enumerate() {
        if b.min_qty < 1 || breaks.iter().any(|x| x.min_qty == b.min_qty) {
            return Err(ApiError::invalid_field(
                "invalid_break",
                &f(&format!("breaks[{i}].min_qty")),
                "阶梯数量须为正数且不重复 (min_qty: positive and distinct)",
            ));
        }
        breaks.push(PriceBreak {
            min_qty: b.min_qty,
            price_fen: parse_fen(b.price_fen, &f(&format!("breaks[{i}].price_fen")))?,
        });
    }
    breaks.sort_by_key(|b| b.min_qty);
    let barcode = input
        .barcode
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(str::to_owned);
    if barcode
        .as_ref()
        .is_some_and(|b| b.len() > 32 || !b.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        return Err(ApiError::invalid_field(
            "invalid_barcode",
            &f("barcode"),
            "条码只能包含字母、数字和-，最多32位 (barcode: letters, digits, -; at most 32)",
        ));
    }
    let library = app.store.catalog().list_spec_attributes().await?;
    check_attributes(&library, &input.attributes, prefix)?;
    let mut spec = parse_text(&input.spec, &f("spec"), 100)?;
    if spec.is_empty() {
        spec = spec_from_attributes(&library, &input.attributes);
    }
    Ok(NewSku {
        model: parse_text(&input.model, &f("model"), 50)?,
        spec,
        price_fen: parse_fen(input.price_fen, &f("price_fen"))?,
        cost_fen: input
            .cost_fen
            .map(|c| parse_fen(c, &f("cost_fen")))
            .transpose()?,
        stock: non_negative(input.stock, &f("stock"))?,
        allow_backorder: input.allow_backorder,
        low_stock_threshold: input
            .low_stock_threshold
            .map(|t| non_negative(t, &f("low_stock_threshold")))
            .transpose()?,
        weight_g: input
            .weight_g
            .map(|w| non_negative(w, &f("weight_g")))
            .transpose()?,
        barcode,
        attributes: input.attributes.clone(),
        level_prices,
        breaks,
    })
}

/// A catalogue write's outcome as the API says it: a unique item number or barcode taken is
/// `item_no_taken` / `barcode_taken` (409), anything else the store's own error.
fn written<T>(result: Result<T, StoreError>) -> ApiResult<T> {
    result.map_err(|error| match error {
        StoreError::Conflict(column) => taken(&column),
        other => other.into(),
    })
}

fn taken(column: &str) -> ApiError {
    if column.ends_with("barcode") {
        ApiError::conflict(
            "barcode_taken",
            "barcode",
            "条码已被其他规格使用 (barcode: used by another SKU)",
        )
    } else {
        ApiError::conflict(
            "item_no_taken",
            "item_no",
            "货号已存在 (item_no: used by another product)",
        )
    }
}

async fn check_references(
    app: &Shop,
    brand_id: Option<i64>,
    category_id: Option<i64>,
) -> ApiResult<()> {
    if let Some(brand) = brand_id
        && !app
            .store
            .catalog()
            .list_brands()
            .await?
            .iter()
            .any(|b| b.id == brand)
    {
        return Err(unknown("unknown_brand", "brand_id", "品牌"));
    }
    if let Some(category) = category_id
        && !app
            .store
            .catalog()
            .list_categories()
            .await?
            .iter()
            .any(|c| c.id == category)
    {
        return Err(unknown("unknown_category", "category_id", "分类"));
    }
    Ok(())
}

/// Create a product with its SKUs, prices and stock, all or nothing (admin).
#[utoipa::path(post, path = "/admin/products", tag = "catalog", request_body = ProductInput,
    responses((status = 201, body = Product), (status = 409, description = "`barcode_taken`, `item_no_taken`", body = crate::error::ErrorBody), (status = 422, description = "`invalid_barcode`, `invalid_break`, `invalid_money`, `unknown_brand`, `unknown_category`, `unknown_level`, `unknown_spec_attribute`, `unknown_spec_value`, `unknown_supplier`, `unknown_tag`, `unknown_unit`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create_product(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    ApiJson(input): ApiJson<ProductInput>,
) -> ApiResult<(StatusCode, Json<Product>)> {
    actor.require(Permission::ManageCatalog)?;
    let item_no = parse_name(&input.item_no, "item_no", 40)?;
    let name = parse_name(&input.name, "name", 100)?;
    let description = parse_text(&input.description, "description", 5000)?;
    if !app
        .store
        .catalog()
        .list_units()
        .await?
        .iter()
        .any(|u| u.id == input.unit_id)
    {
        return Err(unknown("unknown_unit", "unit_id", "单位"));
    }
    check_references(&app, input.brand_id, input.category_id).await?;
    if let Some(supplier) = input.supplier_id {
        let is_supplier = app
            .store
            .accounts()
            .user_by_id(supplier)
            .await?
            .is_some_and(|u| u.has(Permission::OwnGoods));
        if !is_supplier {
            return Err(unknown("unknown_supplier", "supplier_id", "供应商"));
        }
    }
    if input.skus.is_empty() || input.skus.len() > MAX_SKUS {
        return Err(ApiError::invalid_field(
            "invalid_input",
            "skus",
            "每个商品须有1到200个规格 (skus: 1 to 200)",
        ));
    }
    let mut skus = Vec::new();
    for (i, sku) in input.skus.iter().enumerate() {
        let sku = parse_sku(&app, sku, &format!("skus[{i}].")).await?;
        if sku.barcode.is_some() && skus.iter().any(|s: &NewSku| s.barcode == sku.barcode) {
            return Err(ApiError::conflict(
                "barcode_taken",
                &format!("skus[{i}].barcode"),
                "同一商品的两个规格不能共用条码 (barcode: repeated within the product)",
            ));
        }
        skus.push(sku);
    }
    let tag_ids = parse_tag_ids(&app, &input.tag_ids).await?;
    let new = NewProduct {
        tag_ids,
        item_no,
        name,
        description,
        brand_id: input.brand_id,
        category_id: input.category_id,
        supplier_id: input.supplier_id,
        unit_id: input.unit_id,
        on_shelf: input.on_shelf,
        skus,
    };
    let id = written(
        app.store
            .catalog()
            .insert_product(&new, app.clock.now_ms())
            .await,
    )?;
    app.store.catalog().reindex_product(id).await?;
    log(
        &app,
        &actor,
        &client,
        "product.create",
        "product",
        id,
        serde_json::json!({ "item_no": new.item_no, "skus": new.skus.len() }),
    )
    .await?;
    let product = app
        .store
        .catalog()
        .product(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok((StatusCode::CREATED, Json(product)))
}

/// A product with cost prices, level prices, breaks and stock (admin).
#[utoipa::path(get, path = "/admin/products/{id}", tag = "catalog", params(("id" = i64, Path)),
    responses((status = 200, body = Product)), security(("bearer" = [])))]
pub async fn get_product(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<Json<Product>> {
    actor.require(Permission::ManageCatalog)?;
    Ok(Json(
        app.store
            .catalog()
            .product(id)
            .await?
            .ok_or_else(ApiError::not_found)?,
    ))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub brand_id: Option<i64>,
    pub category_id: Option<i64>,
    /// 上架 / 下架
    pub on_shelf: Option<bool>,
    /// Shown in the homepage's hot list.
    pub hot: Option<bool>,
    /// Shown in the homepage's recommended list.
    pub recommended: Option<bool>,
    /// Replaces the product's tags.
    pub tag_ids: Option<Vec<i64>>,
}

/// Change a product's name, description, brand, category or shelf status (admin).
#[utoipa::path(patch, path = "/admin/products/{id}", tag = "catalog", params(("id" = i64, Path)), request_body = ProductPatch,
    responses((status = 200, body = Product), (status = 422, description = "`unknown_brand`, `unknown_category`, `unknown_tag`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn update_product(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(patch): ApiJson<ProductPatch>,
) -> ApiResult<Json<Product>> {
    actor.require(Permission::ManageCatalog)?;
    check_references(&app, patch.brand_id, patch.category_id).await?;
    let tag_ids = match &patch.tag_ids {
        Some(ids) => Some(parse_tag_ids(&app, ids).await?),
        None => None,
    };
    let changes = ProductChanges {
        tag_ids,
        name: patch
            .name
            .as_deref()
            .map(|n| parse_name(n, "name", 100))
            .transpose()?,
        description: patch
            .description
            .as_deref()
            .map(|d| parse_text(d, "description", 5000))
            .transpose()?,
        brand_id: patch.brand_id.map(Some),
        category_id: patch.category_id.map(Some),
        on_shelf: patch.on_shelf,
        hot: patch.hot,
        recommended: patch.recommended,
    };
    if !app
        .store
        .catalog()
        .update_product(id, &changes, app.clock.now_ms())
        .await?
    {
        return Err(ApiError::not_found());
    }
    app.store.catalog().reindex_product(id).await?;
    log(
        &app,
        &actor,
        &client,
        "product.update",
        "product",
        id,
        serde_json::json!({ "name": changes.name, "on_shelf": changes.on_shelf }),
    )
    .await?;
    Ok(Json(
        app.store
            .catalog()
            .product(id)
            .await?
            .ok_or_else(ApiError::not_found)?,
    ))
}

/// Replace a SKU's fields, prices, breaks and stock (admin).
#[utoipa::path(put, path = "/admin/skus/{id}", tag = "catalog", params(("id" = i64, Path)), request_body = SkuInput,
    responses((status = 200, body = Product), (status = 409, description = "`barcode_taken`, `item_no_taken`", body = crate::error::ErrorBody), (status = 422, description = "`invalid_barcode`, `invalid_break`, `invalid_money`, `unknown_level`, `unknown_spec_attribute`, `unknown_spec_value`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn replace_sku(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<SkuInput>,
) -> ApiResult<Json<Product>> {
    actor.require(Permission::ManageCatalog)?;
    let sku = parse_sku(&app, &input, "").await?;
    if !written(
        app.store
            .catalog()
            .replace_sku(id, &sku, app.clock.now_ms())
            .await,
    )? {
        return Err(ApiError::not_found());
    }
    log(
        &app,
        &actor,
        &client,
        "sku.replace",
        "sku",
        id,
        serde_json::json!({ "price_fen": sku.price_fen, "stock": sku.stock }),
    )
    .await?;
    let product_id = app
        .store
        .catalog()
        .product_id_of_sku(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    app.store.catalog().reindex_product(product_id).await?;
    Ok(Json(
        app.store
            .catalog()
            .product(product_id)
            .await?
            .ok_or_else(ApiError::not_found)?,
    ))
}

/// Add a SKU to a product, after its others, with its prices, breaks and stock (admin).
#[utoipa::path(post, path = "/admin/products/{id}/skus", tag = "catalog", params(("id" = i64, Path)), request_body = SkuInput,
    responses((status = 201, body = Product), (status = 409, description = "`barcode_taken`", body = crate::error::ErrorBody), (status = 422, description = "`invalid_barcode`, `invalid_break`, `invalid_money`, `too_many_skus`, `unknown_level`, `unknown_spec_attribute`, `unknown_spec_value`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn add_sku(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<SkuInput>,
) -> ApiResult<(StatusCode, Json<Product>)> {
    actor.require(Permission::ManageCatalog)?;
    let product = app
        .store
        .catalog()
        .product(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if product.skus.len() >= MAX_SKUS {
        return Err(ApiError::invalid_field(
            "too_many_skus",
            "skus",
            "每个商品最多200个规格 (skus: at most 200)",
        ));
    }
    let sku = parse_sku(&app, &input, "").await?;
    if !written(
        app.store
            .catalog()
            .add_sku(id, &sku, app.clock.now_ms())
            .await,
    )? {
        return Err(ApiError::not_found());
    }
    app.store.catalog().reindex_product(id).await?;
    log(
        &app,
        &actor,
        &client,
        "sku.add",
        "product",
        id,
        serde_json::json!({ "price_fen": sku.price_fen, "stock": sku.stock }),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            app.store
                .catalog()
                .product(id)
                .await?
                .ok_or_else(ApiError::not_found)?,
        ),
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct AdminProductQuery {
    /// Words, pinyin initials, an item number or a barcode.
    pub q: Option<String>,
    /// This category and those below it.
    pub category_id: Option<i64>,
    pub brand_id: Option<i64>,
    /// `on` (上架) or `off` (下架); both when absent.
    pub shelf: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Every product, on the shelf and off it, with costs, level prices and stock, newest first
/// or best match first for `q` (admin).
#[utoipa::path(get, path = "/admin/products", tag = "catalog", params(AdminProductQuery),
    responses((status = 200, body = [Product])), security(("bearer" = [])))]
pub async fn admin_products(
    State(app): State<Shop>,
    actor: Actor,
    Query(q): Query<AdminProductQuery>,
) -> ApiResult<crate::store::Page<Product>> {
    actor.require(Permission::ManageCatalog)?;
    let on_shelf = match q.shelf.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("on") => Some(true),
        Some("off") => Some(false),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "invalid_input",
                "shelf",
                "shelf: on 或 off",
            ));
        }
    };
    let mut filter = ProductFilter {
        category_id: q.category_id,
        brand_id: q.brand_id,
        on_shelf,
        sort: ProductSort::Newest,
        limit: q.limit.unwrap_or(50).clamp(1, 200),
        offset: q.offset.unwrap_or(0).max(0),
        ..ProductFilter::default()
    };
    let text = q.q.as_deref().map_or("", str::trim);
    if !text.is_empty() && !narrow_to_text(&app, &mut filter, text).await? {
        return Ok(crate::store::Page {
            items: Vec::new(),
            total: 0,
        });
    }
    Ok(app.store.catalog().list_products(&filter).await?)
}

/// Narrows `filter` to what `text` finds: a barcode's product, or the text match best first.
/// False when the text can match nothing (only punctuation, say). Refuses text over 100
/// characters (`q`).
async fn narrow_to_text(app: &Shop, filter: &mut ProductFilter, text: &str) -> ApiResult<bool> {
    if text.chars().count() > 100 {
        return Err(ApiError::invalid_field(
            "invalid_input",
            "q",
            "q: 最多100个字符 (at most 100 characters)",
        ));
    }
    // A scanned barcode names one SKU: its product; anything else is a text match.
    let barcode_hit = if (6..=32).contains(&text.len()) && text.chars().all(|c| c.is_ascii_digit())
    {
        app.store.catalog().product_id_by_barcode(text).await?
    } else {
        None
    };
    match barcode_hit {
        Some(id) => filter.ids = Some(vec![id]),
        None => match super::search::match_expression(app.store.backend(), text) {
            Some(expression) => filter.text = Some(expression),
            None => return Ok(false),
        },
    }
    Ok(true)
}

// ---- the storefront ---------------------------------------------------------------------

/// A SKU as a shopper sees it; `price` is absent for those who may not see prices.
#[derive(Serialize, ToSchema)]
pub struct ShopSku {
    pub id: i64,
    pub model: String,
    pub spec: String,
    pub barcode: Option<String>,
    pub stock: i64,
    pub allow_backorder: bool,
    /// Attributes from the spec library (颜色 → 红色).
    pub attributes: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<ShopPrice>,
}

/// The caller's own price: his level's, and the quantity breaks as he would pay them.
#[derive(Serialize, ToSchema)]
pub struct ShopPrice {
    pub price_fen: i64,
    pub breaks: Vec<PriceBreak>,
}

#[derive(Serialize, ToSchema)]
pub struct ShopProduct {
    pub id: i64,
    pub item_no: String,
    pub name: String,
    pub description: String,
    pub brand_id: Option<i64>,
    pub category_id: Option<i64>,
    pub unit: UnitView,
    /// Minimum order quantity and step: the inner pack.
    pub moq: i64,
    /// Picture URLs, in display order.
    pub images: Vec<String>,
    /// Product tags (`/api/v1/product-tags`).
    pub tag_ids: Vec<i64>,
    pub prices_visible: bool,
    pub skus: Vec<ShopSku>,
}

impl ShopProduct {
    fn of(product: Product, view: PriceView) -> ShopProduct {
        let level = view.level_id();
        ShopProduct {
            id: product.id.get(),
            item_no: product.item_no,
            name: product.name,
            description: product.description,
            brand_id: product.brand_id,
            category_id: product.category_id,
            moq: product.unit.inner_qty,
            images: product.images,
            tag_ids: product.tag_ids,
            unit: UnitView::of(product.unit),
            prices_visible: view.is_visible(),
            skus: product
                .skus
                .into_iter()
                .map(|sku| ShopSku {
                    price: view.is_visible().then(|| ShopPrice {
                        price_fen: level_price(&sku, level),
                        breaks: effective_breaks(&sku, level),
                    }),
                    id: sku.id.get(),
                    model: sku.model,
                    spec: sku.spec,
                    barcode: sku.barcode,
                    stock: sku.stock,
                    allow_backorder: sku.allow_backorder,
                    attributes: sku.attributes,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ProductQuery {
    pub category_id: Option<i64>,
    pub brand_id: Option<i64>,
    /// Only goods with this product tag.
    pub tag_id: Option<i64>,
    /// Only for callers who see prices (else 403 `price_hidden`).
    pub min_price_fen: Option<i64>,
    pub max_price_fen: Option<i64>,
    /// `new` (default), `price_asc`, `price_desc` (the price sorts only for callers who see
    /// prices); searches also `relevance` (their default).
    pub sort: Option<String>,
    /// Homepage blocks: `hot`, `recommended` or `new`.
    pub list: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    /// Only these products: ids separated by commas, at most 100 (goods picked by hand).
    pub ids: Option<String>,
}

/// `ids=3,5,8`: at most 100 positive ids.
fn parse_ids(text: &str) -> ApiResult<Vec<i64>> {
    let ids: Option<Vec<i64>> = text
        .split(',')
        .map(|id| id.trim().parse().ok().filter(|id: &i64| *id > 0))
        .collect();
    ids.filter(|ids| ids.len() <= 100).ok_or_else(|| {
        ApiError::invalid_field(
            "invalid_input",
            "ids",
            "ids: 逗号分隔的商品编号，最多 100 个 (comma-separated product ids, at most 100)",
        )
    })
}

/// The filter a query asks for, after checking the caller may filter and sort by price.
fn filter_of(q: &ProductQuery, view: PriceView) -> ApiResult<(ProductFilter, bool)> {
    let (sort, by_relevance) = match q.sort.as_deref() {
        None => (ProductSort::Newest, true),
        Some("new") => (ProductSort::Newest, false),
        Some("relevance") => (ProductSort::Newest, true),
        Some("price_asc") => (ProductSort::PriceAsc, false),
        Some("price_desc") => (ProductSort::PriceDesc, false),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "invalid_input",
                "sort",
                "sort: relevance, new, price_asc 或 price_desc",
            ));
        }
    };
    if matches!(sort, ProductSort::PriceAsc | ProductSort::PriceDesc) {
        view.require_visible("sort")?;
    }
    if q.min_price_fen.is_some() {
        view.require_visible("min_price_fen")?;
    }
    if q.max_price_fen.is_some() {
        view.require_visible("max_price_fen")?;
    }
    let (hot_only, recommended_only) = match q.list.as_deref() {
        None | Some("new") => (false, false),
        Some("hot") => (true, false),
        Some("recommended") => (false, true),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "invalid_input",
                "list",
                "list: hot, recommended 或 new",
            ));
        }
    };
    let filter = ProductFilter {
        category_id: q.category_id,
        brand_id: q.brand_id,
        tag_id: q.tag_id,
        on_shelf: Some(true),
        min_price_fen: q.min_price_fen,
        max_price_fen: q.max_price_fen,
        price_level: view.level_id(),
        ids: match &q.ids {
            None => None,
            Some(ids) => Some(parse_ids(ids)?),
        },
        text: None,
        supplier_id: None,
        hot_only,
        recommended_only,
        sort,
        limit: q.limit.unwrap_or(20).clamp(1, 100),
        offset: q.offset.unwrap_or(0).max(0),
    };
    Ok((filter, by_relevance))
}

/// Goods on the shelf, by category (with its sub-categories) or brand, or a homepage list.
#[utoipa::path(get, path = "/products", tag = "catalog", params(ProductQuery), responses((status = 200, body = [ShopProduct]), (status = 403, description = "`price_hidden`, `single_page`", body = crate::error::ErrorBody)), security((), ("bearer" = [])))]
pub async fn list_products(
    State(app): State<Shop>,
    MaybeActor(actor): MaybeActor,
    Query(q): Query<ProductQuery>,
) -> ApiResult<crate::store::Page<ShopProduct>> {
    let view = PriceView::of(&app.store, actor.as_ref(), Page::List).await?;
    let (filter, _) = filter_of(&q, view)?;
    let products = app.store.catalog().list_products(&filter).await?;
    Ok(products.map(|p| ShopProduct::of(p, view)))
}

/// One product on the shelf with every SKU (a delisted product is not found).
#[utoipa::path(get, path = "/products/{id}", tag = "catalog", params(("id" = i64, Path)), responses((status = 200, body = ShopProduct), (status = 401, description = "`profile_required`", body = crate::error::ErrorBody), (status = 403, description = "`profile_required`, `single_page`", body = crate::error::ErrorBody)), security((), ("bearer" = [])))]
pub async fn get_shop_product(
    State(app): State<Shop>,
    MaybeActor(actor): MaybeActor,
    Path(id): Path<i64>,
) -> ApiResult<Json<ShopProduct>> {
    let view = PriceView::of(&app.store, actor.as_ref(), Page::Product).await?;
    let product = app
        .store
        .catalog()
        .product(id)
        .await?
        .filter(|p| p.on_shelf)
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(ShopProduct::of(product, view)))
}

#[derive(Debug, Deserialize)]
pub struct SearchText {
    /// Words (安全帽, 手套 劳保), pinyin initials (aqm), an item number or a barcode.
    pub q: String,
}

/// Search the shelf (C4): segmented Chinese words, pinyin initials or a scanned barcode, with
/// the list's filters; best match first unless a sort is given.
#[utoipa::path(get, path = "/search", tag = "catalog", params(("q" = String, Query, description = "words, initials or a barcode"), ProductQuery),
    responses((status = 200, body = [ShopProduct]), (status = 403, description = "`price_hidden`, `single_page`", body = crate::error::ErrorBody)), security((), ("bearer" = [])))]
pub async fn search(
    State(app): State<Shop>,
    MaybeActor(actor): MaybeActor,
    Query(text): Query<SearchText>,
    Query(q): Query<ProductQuery>,
) -> ApiResult<crate::store::Page<ShopProduct>> {
    let view = PriceView::of(&app.store, actor.as_ref(), Page::List).await?;
    let (mut filter, by_relevance) = filter_of(&q, view)?;
    if !narrow_to_text(&app, &mut filter, text.q.trim()).await? {
        return Ok(crate::store::Page {
            items: Vec::new(),
            total: 0,
        });
    }
    if by_relevance {
        filter.sort = ProductSort::Relevance;
    }
    Ok(app
        .store
        .catalog()
        .list_products(&filter)
        .await?
        .map(|p| ShopProduct::of(p, view)))
}

// ---- import and export --------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
pub struct ExportQuery {
    /// `xlsx` (default) or `csv`.
    pub format: Option<String>,
}

/// Every product and SKU, one row per SKU, as Excel or CSV (admin).
#[utoipa::path(get, path = "/admin/catalog/export", tag = "catalog", params(ExportQuery),
    responses((status = 200, description = "The catalogue as a spreadsheet (`format=xlsx`, the default) or CSV (`format=csv`)", content((Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (String = "text/csv")))), security(("bearer" = [])))]
pub async fn export(
    State(app): State<Shop>,
    actor: Actor,
    Query(q): Query<ExportQuery>,
) -> ApiResult<axum::response::Response> {
    let format = SheetFormat::parse(q.format.as_deref())?;
    Ok(export_file(&app, &actor, format, &Progress::default())
        .await?
        .download())
}

/// Every product and SKU as `goods.xlsx` or `goods.csv`, one row per SKU by item number: the
/// export the API answers with and the back office's export job makes.
pub async fn export_file(
    app: &Shop,
    actor: &Actor,
    format: SheetFormat,
    progress: &Progress,
) -> ApiResult<JobFile> {
    actor.require(Permission::ManageCatalog)?;
    progress.stage("reading", 0);
    let lookups = super::transfer::lookups(&app.store).await?;
    let filter = ProductFilter {
        limit: i64::try_from(super::transfer::MAX_ROWS).unwrap_or(i64::MAX),
        sort: ProductSort::Newest,
        ..Default::default()
    };
    let mut products = app.store.catalog().list_products(&filter).await?.items;
    products.sort_by(|a, b| a.item_no.cmp(&b.item_no));
    let sheet = Sheet {
        name: "商品",
        header: super::transfer::export_header(&lookups.levels),
        rows: super::transfer::export_rows(&products, &lookups),
    };
    sheet.write(format, "goods", progress).await
}

/// Create or update goods, SKUs, prices and stock from a CSV or Excel file, sent as the
/// request body (admin). Every row is checked first; any error refuses the whole file and
/// lists each error with its row and column in `error.details`.
#[utoipa::path(post, path = "/admin/catalog/import", tag = "catalog", request_body(description = "The first sheet of an .xlsx, or a UTF-8 CSV", content((String = "text/csv"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
    responses((status = 200, body = super::transfer::ImportSummary), (status = 409, description = "`barcode_taken`, `item_no_taken`", body = crate::error::ErrorBody), (status = 422, description = "`import_invalid`, `invalid_file`, `invalid_money`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn import(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    body: axum::body::Bytes,
) -> ApiResult<Json<super::transfer::ImportSummary>> {
    import_file(&app, &actor, &client, body, &Progress::default())
        .await
        .map(Json)
}

/// Checks every row of `file` (the first sheet of an .xlsx, or a CSV), then writes them all in
/// one transaction, advancing `progress` through reading, checking, writing and indexing: the
/// import the API runs in its request and the back office's import job in the background.
pub async fn import_file(
    app: &Shop,
    actor: &Actor,
    client: &ClientInfo,
    file: axum::body::Bytes,
    progress: &Progress,
) -> ApiResult<super::transfer::ImportSummary> {
    actor.require(Permission::ManageCatalog)?;
    progress.stage("reading", 0);
    let rows = off_runtime(move || super::transfer::read_table(&file))
        .await?
        .map_err(|message| ApiError::invalid_field("invalid_file", "file", message))?;
    let lookups = super::transfer::lookups(&app.store).await?;
    let checking = progress.clone();
    let products = off_runtime(move || super::transfer::parse_import(&rows, &lookups, &checking))
        .await?
        .map_err(|errors| {
            ApiError::invalid_field(
                "import_invalid",
                "file",
                format!(
                    "{}处错误，未导入任何数据 ({} errors; nothing was imported)",
                    errors.len(),
                    errors.len()
                ),
            )
            .with_details(serde_json::json!({ "rows": errors }))
        })?;
    let (summary, touched) = written(
        app.store
            .catalog()
            .import_catalogue(&products, app.clock.now_ms(), progress)
            .await,
    )?;
    progress.stage("indexing", 0);
    app.store.catalog().reindex_products(&touched).await?;
    app.store
        .catalog()
        .refresh_statistics_after(summary.skus_created + summary.skus_updated)
        .await;
    let op = Operation {
        actor_id: Some(actor.user_id),
        action: "catalog.import",
        target_kind: "catalog",
        target_id: None,
        detail: serde_json::to_value(&summary).unwrap_or_default(),
    };
    app.store
        .accounts()
        .log_operation(op, client, app.clock.now_ms())
        .await?;
    Ok(summary)
}

// ---- suppliers and stock -------------------------------------------------------------------

/// My goods with their prices, costs and stock (suppliers see their own goods only).
#[utoipa::path(get, path = "/supplier/products", tag = "catalog", responses((status = 200, body = [Product])), security(("bearer" = [])))]
pub async fn supplier_products(
    State(app): State<Shop>,
    actor: Actor,
) -> ApiResult<Json<Vec<Product>>> {
    actor.require(Permission::OwnGoods)?;
    let filter = ProductFilter {
        supplier_id: Some(actor.user_id),
        limit: 1000,
        ..Default::default()
    };
    Ok(Json(
        app.store.catalog().list_products(&filter).await?.items,
    ))
}

/// One of my goods (another supplier's is not found).
#[utoipa::path(get, path = "/supplier/products/{id}", tag = "catalog", params(("id" = i64, Path)),
    responses((status = 200, body = Product)), security(("bearer" = [])))]
pub async fn supplier_product(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<Json<Product>> {
    actor.require(Permission::OwnGoods)?;
    let product = app
        .store
        .catalog()
        .product(id)
        .await?
        .filter(|p| p.supplier_id == Some(actor.user_id))
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(product))
}

/// SKUs at or below their low-stock threshold (admin, customer service; C6).
#[utoipa::path(get, path = "/admin/stock/low", tag = "catalog", responses((status = 200, body = [super::storage::LowStock])), security(("bearer" = [])))]
pub async fn low_stock(
    State(app): State<Shop>,
    actor: Actor,
) -> ApiResult<Json<Vec<super::storage::LowStock>>> {
    actor.require(Permission::ReadStock)?;
    Ok(Json(app.store.catalog().low_stock().await?))
}

// ---- product images ------------------------------------------------------------------------

/// Add a picture to a product (admin): the request body is the image (JPEG, PNG or WebP, at
/// most 8 MB and 40 megapixels), decoded from its bytes and stored re-encoded, without its
/// metadata.
#[utoipa::path(post, path = "/admin/products/{id}/images", tag = "catalog", params(("id" = i64, Path)),
    request_body(content = Vec<u8>, content_type = "image/*"),
    responses((status = 201, body = Product), (status = 422, description = "`image_too_large`, `invalid_image`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn add_image(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Product>)> {
    actor.require(Permission::ManageCatalog)?;
    let staged = crate::images::stage_image(
        &app.config.data_dir,
        crate::images::UploadKind::ProductImage,
        body,
        "image",
    )
    .await?;
    // The file is removed again (on drop) unless the row commits.
    if !app
        .store
        .catalog()
        .add_product_image(
            id,
            &staged.key,
            staged.content_type,
            staged.size_bytes,
            app.clock.now_ms(),
        )
        .await?
    {
        return Err(ApiError::not_found());
    }
    let key = staged.key.clone();
    staged.keep();
    log(
        &app,
        &actor,
        &client,
        "product.image_add",
        "product",
        id,
        serde_json::json!({ "key": key }),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            app.store
                .catalog()
                .product(id)
                .await?
                .ok_or_else(ApiError::not_found)?,
        ),
    ))
}

/// Remove a picture from a product (admin).
#[utoipa::path(delete, path = "/admin/products/{id}/images/{key}", tag = "catalog", params(("id" = i64, Path), ("key" = String, Path)),
    responses((status = 200, body = Product)), security(("bearer" = [])))]
pub async fn delete_image(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path((id, key)): Path<(i64, String)>,
) -> ApiResult<Json<Product>> {
    actor.require(Permission::ManageCatalog)?;
    if !app.store.catalog().delete_product_image(id, &key).await? {
        return Err(ApiError::not_found());
    }
    let _ = std::fs::remove_file(crate::config::uploads_dir(&app.config.data_dir).join(&key));
    log(
        &app,
        &actor,
        &client,
        "product.image_delete",
        "product",
        id,
        serde_json::json!({ "key": key }),
    )
    .await?;
    Ok(Json(
        app.store
            .catalog()
            .product(id)
            .await?
            .ok_or_else(ApiError::not_found)?,
    ))
}

/// A product picture, or a picture of the shop's (its logo, the service QR code, a brand's
/// logo); public: pictures carry no price.
#[utoipa::path(get, path = "/images/{key}", tag = "catalog", params(("key" = String, Path)),
    responses((status = 200, content_type = "image/*", body = Vec<u8>)))]
pub async fn image(
    State(app): State<Shop>,
    Path(key): Path<String>,
) -> ApiResult<axum::response::Response> {
    let content_type = match app.store.catalog().product_image(&key).await? {
        Some(image) => image.content_type,
        None => app
            .store
            .images()
            .upload(&key)
            .await?
            .filter(|upload| upload.kind == crate::images::UploadKind::ShopPicture.as_str())
            .map(|upload| upload.content_type)
            .ok_or_else(ApiError::not_found)?,
    };
    let bytes = tokio::fs::read(crate::config::uploads_dir(&app.config.data_dir).join(&key))
        .await
        .map_err(ApiError::internal)?;
    axum::response::Response::builder()
        .header(axum::http::header::CONTENT_TYPE, content_type)
        .header(
            axum::http::header::CACHE_CONTROL,
            "public, max-age=86400, immutable",
        )
        .body(axum::body::Body::from(bytes))
        .map_err(ApiError::internal)
}
