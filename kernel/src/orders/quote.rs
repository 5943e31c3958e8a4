//! The quote (the brief's "order pipeline", step 1), read-only: cart lines → catalogue price
//! (the member's level, the quantity break) → the pipeline's quote steps (`pipeline.rs`: the
//! pricing script, then the plugins' `quote` hooks) → shipping fee → totals.
//! Every change to a price is an `Adjustment` with a source and a label, so member and staff see
//! line by line why a price is what it is. Checkout runs the same pipeline, outside its write
//! transaction.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::DeliveryMethod;
use super::pipeline::Pipeline;
use crate::catalog::{Product, pricing};
use crate::error::{ApiError, ApiResult};
use crate::ids::{ProductId, SkuId};
use crate::money::{MAX_ORDER_FEN, checked_sum, format_price};
use crate::settings::{AreaRate, DEFAULT_MAX_PRICE_PERCENT, MoqRule, Settings, Shipping};
use crate::store::Store;

/// Most lines one order may have.
pub const MAX_LINES: usize = 500;
/// Most items of one SKU in one line.
pub const MAX_QTY: i64 = 1_000_000;

/// One SKU and how many of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    pub sku_id: SkuId,
    pub qty: i64,
}

/// A change to a price: `amount_fen` is added (negative for a discount).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Adjustment {
    /// `catalog` (level and break prices), `script`, `plugin:<name>`, `staff`.
    pub source: String,
    /// What the member reads: 会员价, 阶梯价 满100件, 限时抢购 …
    pub label: String,
    pub amount_fen: i64,
    /// The line is sold as final sale (清仓, G3): after-sales refuses to take it back, giving
    /// this adjustment's label as the reason.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub final_sale: bool,
}

/// What the member chose for the plugins at checkout, by plugin name (`{"coupons":
/// {"coupon_id": 12}, "points": {"points": 500}}`): each plugin's quote and checkout hooks get
/// their own entry as `options`, and nothing else reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(value_type = Object)]
pub struct PluginOptions(pub std::collections::BTreeMap<String, serde_json::Value>);

/// Most plugins one request may name, and the JSON one plugin's choice may take.
const MAX_PLUGIN_OPTIONS: usize = 16;
const MAX_PLUGIN_OPTION_BYTES: usize = 2048;

impl PluginOptions {
    /// Refuses more entries than a shop has plugins, a name that is no plugin's name and a
    /// choice larger than any plugin needs, naming the field.
    pub fn checked(self) -> ApiResult<PluginOptions> {
        if self.0.len() > MAX_PLUGIN_OPTIONS {
            return Err(ApiError::invalid_field(
                "invalid_plugin_options",
                "plugin_options",
                format!(
                    "plugin_options: 最多{MAX_PLUGIN_OPTIONS}项 (at most {MAX_PLUGIN_OPTIONS} plugins)"
                ),
            ));
        }
        for (name, value) in &self.0 {
            let field = format!("plugin_options.{name}");
            let named = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !named {
                return Err(ApiError::invalid_field(
                    "invalid_plugin_options",
                    "plugin_options",
                    "plugin_options: 键应为插件名 (keys are plugin names: a-z, 0-9, -)",
                ));
            }
            if value.to_string().len() > MAX_PLUGIN_OPTION_BYTES {
                return Err(ApiError::invalid_field(
                    "invalid_plugin_options",
                    &field,
                    format!("{field}: 内容过长 (at most {MAX_PLUGIN_OPTION_BYTES} bytes)"),
                ));
            }
        }
        Ok(self)
    }

    /// `plugin`'s entry, `null` when it has none.
    pub fn of(&self, plugin: &str) -> serde_json::Value {
        self.0
            .get(plugin)
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    }
}

/// What a plugin tells the member about the offer (「再买 ¥120.00 减 ¥50.00」), with the quote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OfferNote {
    /// The plugin's name.
    pub plugin: String,
    pub text: String,
}

/// A field the checkout page shows for a plugin (a coupon to use, points to spend): its
/// answer goes back as `plugin_options.<plugin>.<field.name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PluginChoice {
    pub plugin: String,
    /// `pifa_sdk::FormField`: name, label, kind (`select`, `number`, `checkbox`), value,
    /// options, help.
    #[schema(value_type = Object)]
    pub field: pifa_sdk::FormField,
}

/// A gift line a plugin gives (满赠), added after the quote steps as a zero-price line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiftRequest {
    /// The adjustment's source: the step that gave it (`plugin:<name>`).
    pub source: String,
    pub gift: pifa_sdk::Gift,
}

/// A priced line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuotedLine {
    /// 1-based position in the order.
    pub line_no: i64,
    pub sku_id: SkuId,
    pub product_id: ProductId,
    /// 货号
    pub item_no: String,
    pub name: String,
    pub model: String,
    pub spec: String,
    /// 「10把/盒 - 100把/箱」
    pub unit_label: String,
    pub qty: i64,
    /// The catalogue price of one item, before any adjustment.
    pub list_price_fen: i64,
    pub adjustments: Vec<Adjustment>,
    /// `list_price_fen × qty` plus the adjustments.
    pub line_total_fen: i64,
    pub weight_g: i64,
    /// A gift (满赠): given at price 0 by the plugin its adjustment names.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gift: bool,
    /// The product's brand and its category with the categories above it, nearest first, as
    /// they were when priced: what plugins scope offers and rates by.
    #[serde(skip)]
    pub brand_id: Option<i64>,
    #[serde(skip)]
    pub category_ids: Vec<i64>,
}

/// Something the member should know about his cart (a price changed, goods were delisted, a
/// quantity was rounded up to the pack).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Notice {
    /// `delisted`, `qty_rounded`, `short_stock`.
    pub code: String,
    pub sku_id: Option<SkuId>,
    pub message: String,
}

/// A priced cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Quote {
    pub lines: Vec<QuotedLine>,
    /// Order-level adjustments (not tied to a line).
    pub adjustments: Vec<Adjustment>,
    /// Sum of the line totals.
    pub goods_fen: i64,
    /// Sum of the order-level adjustments.
    pub adjustments_fen: i64,
    pub shipping_fen: i64,
    /// 运费 / 满¥500.00免运费 / 自提免运费.
    pub shipping_label: String,
    /// goods + order-level adjustments + shipping (N).
    pub total_fen: i64,
    pub weight_g: i64,
    pub notices: Vec<Notice>,
    /// What the plugins say about their offers (the next tier, a coupon that does not apply).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offers: Vec<OfferNote>,
    /// What the member may choose for the plugins at checkout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<PluginChoice>,
    /// The member's choices for the plugins, as asked.
    #[serde(skip)]
    pub plugin_options: Arc<PluginOptions>,
    /// Gift lines the plugins gave, added once every step has run.
    #[serde(skip)]
    pub gift_requests: Vec<GiftRequest>,
    /// The plugins whose quote said their checkout has nothing to do on this cart
    /// (`QuoteOutput::skip_checkout`): checkout does not call them.
    #[serde(skip)]
    pub checkout_skips: Vec<String>,
    /// Each product's revision as priced: checkout refuses the order if one moved since.
    #[serde(skip)]
    pub revisions: Vec<(ProductId, i64)>,
    /// Which version of the pricing rules priced the lines, for whom and when (`None`: no
    /// rules ran); checkout records it with the order for replays.
    #[serde(skip)]
    pub pricing_run: Option<super::pipeline::PricingRun>,
    /// The most a line (and the goods with the order's adjustments) may come to, in percent of
    /// the catalogue price (`Settings::max_price_percent`); `recompute` holds every step to it.
    #[serde(skip)]
    pub max_price_percent: i64,
}

/// Who is buying, as pricing sees him.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buyer {
    pub member_id: i64,
    pub level_id: Option<i64>,
    pub region_id: Option<i64>,
    /// What the pricing rules see of him, when it was read with the member (checkout and
    /// quote by the member himself); otherwise the rules' step reads it.
    pub attributes: Option<std::sync::Arc<crate::members::MemberAttributes>>,
}

/// The ship-to area (province and city of the address), for the shipping fee.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Area {
    pub province: String,
    pub city: String,
}

/// What to price.
#[derive(Debug, Clone)]
pub struct QuoteRequest {
    pub lines: Vec<LineRequest>,
    pub delivery: DeliveryMethod,
    pub area: Option<Area>,
    /// From the cart: delisted goods are dropped with a notice instead of refusing the quote.
    pub drop_delisted: bool,
    /// The member's choices for the plugins (checked: `PluginOptions::checked`).
    pub plugin_options: PluginOptions,
}

fn line_field(index: usize, name: &str) -> String {
    format!("lines[{index}].{name}")
}

/// Checks the shape of a line list (count, quantities, duplicates), naming the bad field.
pub fn check_lines(lines: &[LineRequest]) -> ApiResult<()> {
    if lines.is_empty() {
        return Err(ApiError::invalid_field(
            "empty_order",
            "lines",
            "lines: 请至少选择一种商品 (at least one line)",
        ));
    }
    if lines.len() > MAX_LINES {
        return Err(ApiError::invalid_field(
            "too_many_lines",
            "lines",
            format!("lines: 一次最多{MAX_LINES}种商品 (at most {MAX_LINES} lines)"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (index, line) in lines.iter().enumerate() {
        if !(1..=MAX_QTY).contains(&line.qty) {
            let field = line_field(index, "qty");
            return Err(ApiError::invalid_field(
                "invalid_quantity",
                &field,
                format!("{field}: 数量须在1到{MAX_QTY}之间 (between 1 and {MAX_QTY})"),
            ));
        }
        if !seen.insert(line.sku_id) {
            let field = line_field(index, "sku_id");
            return Err(ApiError::invalid_field(
                "duplicate_line",
                &field,
                format!("{field}: 同一规格只能出现一次 (each SKU once)"),
            ));
        }
    }
    Ok(())
}

/// The quantity to order of a SKU packed `inner_qty` per pack, by the shop's MOQ rule: a
/// multiple of the pack, at least one pack. `Ok(None)`: the quantity stands.
pub fn pack_quantity(
    qty: i64,
    inner_qty: i64,
    rule: MoqRule,
    field: &str,
) -> ApiResult<Option<i64>> {
    let pack = inner_qty.max(1);
    if qty % pack == 0 {
        return Ok(None);
    }
    match rule {
        MoqRule::Reject => Err(ApiError::invalid_field(
            "moq_step",
            field,
            format!("{field}: 须为{pack}的整数倍 (order in multiples of {pack})"),
        )),
        MoqRule::RoundUp => Ok(Some((qty / pack + 1) * pack)),
    }
}

/// Prices `request` for `buyer`.
pub async fn price(
    store: &Store,
    settings: &Settings,
    pipeline: &Pipeline,
    buyer: &Buyer,
    request: &QuoteRequest,
    now_ms: i64,
) -> ApiResult<Quote> {
    check_lines(&request.lines)?;
    let sku_ids: Vec<SkuId> = request.lines.iter().map(|l| l.sku_id).collect();
    let owners = store.catalog().sku_products(&sku_ids).await?;
    let mut product_ids: Vec<ProductId> = owners.values().copied().collect();
    product_ids.sort_unstable();
    product_ids.dedup();
    let products: HashMap<ProductId, Arc<Product>> = store
        .catalog()
        .shared_products(&product_ids)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();

    let categories = store.catalog().list_categories().await?;
    let mut quote = Quote::of_lines(Vec::with_capacity(request.lines.len()));
    quote.max_price_percent = settings.max_price_percent;
    quote.plugin_options = Arc::new(request.plugin_options.clone());
    for (index, line) in request.lines.iter().enumerate() {
        let unknown = || {
            let field = line_field(index, "sku_id");
            ApiError::invalid_field(
                "unknown_sku",
                &field,
                format!("{field}: 商品规格不存在 (no such SKU)"),
            )
        };
        let product = owners
            .get(&line.sku_id)
            .and_then(|product_id| products.get(product_id))
            .ok_or_else(unknown)?;
        let sku = product
            .skus
            .iter()
            .find(|s| s.id == line.sku_id)
            .ok_or_else(unknown)?;
        if !product.on_shelf {
            if request.drop_delisted {
                quote.notices.push(Notice {
                    code: "delisted".to_owned(),
                    sku_id: Some(sku.id),
                    message: format!(
                        "{} 已下架，已从订单中移除 (delisted, removed)",
                        product.name
                    ),
                });
                continue;
            }
            let field = line_field(index, "sku_id");
            return Err(ApiError::invalid_field(
                "delisted",
                &field,
                format!("{field}: {} 已下架 (delisted)", product.name),
            ));
        }
        let mut qty = line.qty;
        if let Some(rounded) = pack_quantity(
            qty,
            product.unit.inner_qty,
            settings.moq_rule,
            &line_field(index, "qty"),
        )? {
            quote.notices.push(Notice {
                code: "qty_rounded".to_owned(),
                sku_id: Some(sku.id),
                message: format!(
                    "{} 按整{}起订，数量由{qty}调整为{rounded} (rounded up to whole packs)",
                    product.name, product.unit.inner_unit
                ),
            });
            qty = rounded;
        }
        if qty > sku.stock && !sku.allow_backorder {
            quote.notices.push(Notice {
                code: "short_stock".to_owned(),
                sku_id: Some(sku.id),
                message: format!(
                    "{} 库存仅剩{} (only {} in stock)",
                    product.name,
                    sku.stock.max(0),
                    sku.stock.max(0)
                ),
            });
        }
        let mut adjustments = Vec::new();
        let list = sku.price_fen;
        let level = pricing::level_price(sku, buyer.level_id);
        let unit = pricing::unit_price(sku, buyer.level_id, qty);
        if level != list {
            adjustments.push(Adjustment {
                source: "catalog".to_owned(),
                label: "会员价".to_owned(),
                amount_fen: (level - list) * qty,
                final_sale: false,
            });
        }
        if unit != level {
            let threshold = sku
                .breaks
                .iter()
                .filter(|b| b.min_qty <= qty && b.price_fen == unit)
                .map(|b| b.min_qty)
                .max()
                .unwrap_or(qty);
            adjustments.push(Adjustment {
                source: "catalog".to_owned(),
                label: format!("阶梯价 满{threshold}件"),
                amount_fen: (unit - level) * qty,
                final_sale: false,
            });
        }
        quote.lines.push(QuotedLine {
            line_no: i64::try_from(quote.lines.len()).unwrap_or(i64::MAX) + 1,
            sku_id: sku.id,
            product_id: product.id,
            item_no: product.item_no.clone(),
            name: product.name.clone(),
            model: sku.model.clone(),
            spec: sku.spec.clone(),
            unit_label: product.unit.label(),
            qty,
            list_price_fen: list,
            adjustments,
            line_total_fen: 0,
            weight_g: sku.weight_g.unwrap_or(0) * qty,
            gift: false,
            brand_id: product.brand_id,
            category_ids: crate::catalog::category_ids_up(&categories, product.category_id),
        });
        if !quote.revisions.iter().any(|(id, _)| *id == product.id) {
            quote.revisions.push((product.id, product.revision));
        }
    }
    if quote.lines.is_empty() {
        return Err(ApiError::invalid_field(
            "empty_order",
            "lines",
            "lines: 所选商品均已下架 (every line was delisted)",
        ));
    }
    // The catalogue's own prices within bounds: only an order too large for money fails here.
    quote.recompute().map_err(|error| {
        tracing::info!(%error, "quote refused: the amount is out of range");
        crate::money::out_of_range("lines")
    })?;

    let quote = pipeline.apply_quote_steps(buyer, now_ms, quote).await?;
    let mut quote = add_gifts(store, &categories, quote).await?;
    let (fee, label) = shipping_fee(
        &settings.shipping,
        request.delivery,
        request.area.as_ref(),
        quote.weight_g,
        quote.goods_fen + quote.adjustments_fen,
    );
    quote.shipping_fen = fee;
    quote.shipping_label = label;
    quote.recompute().map_err(|error| {
        tracing::info!(
            %error,
            "quote refused: the amount with shipping is out of range"
        );
        crate::money::out_of_range("lines")
    })?;
    Ok(quote)
}

/// Most gift lines one order may carry.
const MAX_GIFT_LINES: usize = 20;

/// The plugins' gift lines (满赠) as lines of their SKUs at price 0: the list price and an
/// adjustment taking it away, labelled by the plugin. A gift of a SKU that is unknown or off
/// the shelf is left out with a notice (the offer's goods are gone, the order stands); one
/// beyond stock is noticed like any line, and checkout holds it to the stock the same way.
async fn add_gifts(
    store: &Store,
    categories: &[crate::catalog::Category],
    mut quote: Quote,
) -> ApiResult<Quote> {
    let requests = std::mem::take(&mut quote.gift_requests);
    if requests.is_empty() {
        return Ok(quote);
    }
    let sku_ids: Vec<SkuId> = requests.iter().map(|r| SkuId(r.gift.sku_id)).collect();
    let owners = store.catalog().sku_products(&sku_ids).await?;
    let mut product_ids: Vec<ProductId> = owners.values().copied().collect();
    product_ids.sort_unstable();
    product_ids.dedup();
    let products: HashMap<ProductId, Arc<Product>> = store
        .catalog()
        .shared_products(&product_ids)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    for request in requests.into_iter().take(MAX_GIFT_LINES) {
        let sku_id = SkuId(request.gift.sku_id);
        let found = owners
            .get(&sku_id)
            .and_then(|product_id| products.get(product_id))
            .and_then(|product| Some((product, product.skus.iter().find(|s| s.id == sku_id)?)));
        let Some((product, sku)) = found.filter(|(product, _)| product.on_shelf) else {
            quote.notices.push(Notice {
                code: "gift_unavailable".to_owned(),
                sku_id: Some(sku_id),
                message: format!(
                    "赠品（{}）已下架，本单不含赠品 (the gift is no longer offered)",
                    request.gift.label
                ),
            });
            continue;
        };
        let qty = request.gift.qty;
        if qty > sku.stock && !sku.allow_backorder {
            quote.notices.push(Notice {
                code: "short_stock".to_owned(),
                sku_id: Some(sku.id),
                message: format!(
                    "赠品 {} 库存仅剩{} (only {} in stock)",
                    product.name,
                    sku.stock.max(0),
                    sku.stock.max(0)
                ),
            });
        }
        let catalogue = sku.price_fen.saturating_mul(qty);
        quote.lines.push(QuotedLine {
            line_no: i64::try_from(quote.lines.len()).unwrap_or(i64::MAX) + 1,
            sku_id: sku.id,
            product_id: product.id,
            item_no: product.item_no.clone(),
            name: product.name.clone(),
            model: sku.model.clone(),
            spec: sku.spec.clone(),
            unit_label: product.unit.label(),
            qty,
            list_price_fen: sku.price_fen,
            adjustments: vec![Adjustment {
                source: request.source.clone(),
                label: request.gift.label.clone(),
                amount_fen: -catalogue,
                final_sale: false,
            }],
            line_total_fen: 0,
            weight_g: sku.weight_g.unwrap_or(0).saturating_mul(qty),
            gift: true,
            brand_id: product.brand_id,
            category_ids: crate::catalog::category_ids_up(categories, product.category_id),
        });
        if !quote.revisions.iter().any(|(id, _)| *id == product.id) {
            quote.revisions.push((product.id, product.revision));
        }
    }
    quote.recompute().map_err(|error| {
        tracing::info!(%error, "quote refused: the gift lines do not add up");
        crate::money::out_of_range("lines")
    })?;
    Ok(quote)
}

/// Why a quote does not add up (`Quote::recompute`): what money may not come to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("line amount overflows")]
    LineOverflows,
    #[error("line {line_no} would cost less than nothing")]
    LineBelowZero { line_no: i64 },
    #[error(
        "line {line_no} would cost {}, more than the {} one order may come to",
        format_price(*total),
        format_price(MAX_ORDER_FEN)
    )]
    LineAboveOrderBound { line_no: i64, total: i64 },
    #[error(
        "line {line_no} would cost {}, more than {percent}% of its catalogue price {}",
        format_price(*total),
        format_price(*catalogue)
    )]
    LineAboveCatalogue {
        line_no: i64,
        total: i64,
        percent: i64,
        catalogue: i64,
    },
    #[error("goods total overflows")]
    GoodsOverflow,
    #[error("adjustments overflow")]
    AdjustmentsOverflow,
    #[error("order total overflows")]
    TotalOverflows,
    #[error("the order would cost less than nothing")]
    OrderBelowZero,
    #[error(
        "the order's adjustments would take the goods to {}, more than {percent}% of their catalogue price {}",
        format_price(*priced),
        format_price(*catalogue)
    )]
    OrderAboveCatalogue {
        priced: i64,
        percent: i64,
        catalogue: i64,
    },
    #[error(
        "the order would come to {}, more than the {} one order may",
        format_price(*total),
        format_price(MAX_ORDER_FEN)
    )]
    OrderAboveOrderBound { total: i64 },
}

impl Quote {
    /// A quote of `lines` with nothing else yet (totals come from `recompute`).
    pub fn of_lines(lines: Vec<QuotedLine>) -> Quote {
        Quote {
            lines,
            adjustments: Vec::new(),
            goods_fen: 0,
            adjustments_fen: 0,
            shipping_fen: 0,
            shipping_label: String::new(),
            total_fen: 0,
            weight_g: 0,
            notices: Vec::new(),
            offers: Vec::new(),
            choices: Vec::new(),
            plugin_options: Arc::default(),
            gift_requests: Vec::new(),
            checkout_skips: Vec::new(),
            revisions: Vec::new(),
            pricing_run: None,
            max_price_percent: DEFAULT_MAX_PRICE_PERCENT,
        }
    }

    /// Line totals, goods, order-level adjustments, weight and total from the parts, refusing
    /// what money may not come to: a sum that overflows, a line or an order below zero, a line
    /// (or the goods with the order's adjustments) above `max_price_percent` of its catalogue
    /// price, and a line or an order above [`MAX_ORDER_FEN`]. A step's adjustments count only
    /// when the quote still adds up after them.
    pub fn recompute(&mut self) -> Result<(), AmountError> {
        let ceiling = |catalogue: i64| -> i64 {
            let scaled = i128::from(catalogue) * i128::from(self.max_price_percent) / 100;
            i64::try_from(scaled).unwrap_or(i64::MAX).min(MAX_ORDER_FEN)
        };
        let percent = self.max_price_percent;
        let mut goods: i64 = 0;
        let mut catalogue_goods: i64 = 0;
        let mut weight: i64 = 0;
        let mut totals = Vec::with_capacity(self.lines.len());
        for line in &self.lines {
            let line_no = line.line_no;
            let catalogue = line
                .list_price_fen
                .checked_mul(line.qty)
                .ok_or(AmountError::LineOverflows)?;
            let total = checked_sum(line.adjustments.iter().map(|a| a.amount_fen))
                .and_then(|adjusted| catalogue.checked_add(adjusted))
                .ok_or(AmountError::LineOverflows)?;
            if total < 0 {
                return Err(AmountError::LineBelowZero { line_no });
            }
            if total > MAX_ORDER_FEN {
                return Err(AmountError::LineAboveOrderBound { line_no, total });
            }
            if total > ceiling(catalogue) {
                return Err(AmountError::LineAboveCatalogue {
                    line_no,
                    total,
                    percent,
                    catalogue,
                });
            }
            totals.push(total);
            goods = goods.checked_add(total).ok_or(AmountError::GoodsOverflow)?;
            catalogue_goods = catalogue_goods
                .checked_add(catalogue)
                .ok_or(AmountError::GoodsOverflow)?;
            weight = weight.saturating_add(line.weight_g);
        }
        let adjustments = checked_sum(self.adjustments.iter().map(|a| a.amount_fen))
            .ok_or(AmountError::AdjustmentsOverflow)?;
        let priced = goods
            .checked_add(adjustments)
            .ok_or(AmountError::TotalOverflows)?;
        let total = priced
            .checked_add(self.shipping_fen)
            .ok_or(AmountError::TotalOverflows)?;
        if total < 0 || priced < 0 {
            return Err(AmountError::OrderBelowZero);
        }
        if priced > ceiling(catalogue_goods).max(goods) {
            return Err(AmountError::OrderAboveCatalogue {
                priced,
                percent,
                catalogue: catalogue_goods,
            });
        }
        if total > MAX_ORDER_FEN {
            return Err(AmountError::OrderAboveOrderBound { total });
        }
        for (line, total) in self.lines.iter_mut().zip(totals) {
            line.line_total_fen = total;
        }
        self.goods_fen = goods;
        self.adjustments_fen = adjustments;
        self.weight_g = weight;
        self.total_fen = total;
        Ok(())
    }
}

/// The shipping fee (D3): the most specific area rate (province and city, then province, then
/// the default) — first kilogram or part, then each further kilogram or part — free from the
/// threshold, nothing when the member collects.
pub fn shipping_fee(
    shipping: &Shipping,
    delivery: DeliveryMethod,
    area: Option<&Area>,
    weight_g: i64,
    goods_fen: i64,
) -> (i64, String) {
    if !delivery.ships() {
        return (0, "自提免运费".to_owned());
    }
    if let Some(free_from) = shipping.free_from_fen
        && goods_fen >= free_from
    {
        return (
            0,
            format!("满{}免运费", crate::money::format_price(free_from)),
        );
    }
    let rate = area
        .and_then(|area| {
            shipping
                .areas
                .iter()
                .filter(|r| r.province == area.province)
                .find(|r| r.city.as_deref() == Some(area.city.as_str()))
                .or_else(|| {
                    shipping
                        .areas
                        .iter()
                        .find(|r| r.province == area.province && r.city.is_none())
                })
        })
        .map_or(shipping.default_rate, AreaRate::rate);
    let extra_kg = ((weight_g - 1000).max(0) + 999) / 1000;
    // Saturates rather than wraps: a fee past what money may come to is refused by
    // `Quote::recompute` (and the confirmation) as out of range.
    (
        rate.first_kg_fen
            .saturating_add(extra_kg.saturating_mul(rate.extra_kg_fen)),
        "运费".to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Rate;

    fn rules() -> Shipping {
        Shipping {
            default_rate: Rate {
                first_kg_fen: 1500,
                extra_kg_fen: 500,
            },
            areas: vec![
                AreaRate {
                    province: "海南省".to_owned(),
                    city: None,
                    first_kg_fen: 800,
                    extra_kg_fen: 200,
                },
                AreaRate {
                    province: "海南省".to_owned(),
                    city: Some("海口市".to_owned()),
                    first_kg_fen: 500,
                    extra_kg_fen: 100,
                },
            ],
            free_from_fen: Some(100_000),
        }
    }

    fn area(province: &str, city: &str) -> Area {
        Area {
            province: province.to_owned(),
            city: city.to_owned(),
        }
    }

    #[test]
    fn shipping_takes_the_most_specific_area_and_counts_started_kilograms() {
        let rules = rules();
        let haikou = area("海南省", "海口市");
        let sanya = area("海南省", "三亚市");
        let guangzhou = area("广东省", "广州市");
        let ship = DeliveryMethod::Ship;
        assert_eq!(shipping_fee(&rules, ship, Some(&haikou), 1000, 0).0, 500);
        assert_eq!(shipping_fee(&rules, ship, Some(&haikou), 1001, 0).0, 600);
        assert_eq!(
            shipping_fee(&rules, ship, Some(&sanya), 3500, 0).0,
            800 + 3 * 200
        );
        assert_eq!(shipping_fee(&rules, ship, Some(&guangzhou), 0, 0).0, 1500);
        assert_eq!(shipping_fee(&rules, ship, None, 2000, 0).0, 2000);
        assert_eq!(
            shipping_fee(&rules, ship, Some(&sanya), 3500, 100_000),
            (0, "满¥1000.00免运费".to_owned())
        );
        assert_eq!(
            shipping_fee(&rules, ship, Some(&sanya), 3500, 99_999).0,
            1400
        );
        assert_eq!(
            shipping_fee(&rules, DeliveryMethod::Pickup, Some(&sanya), 3500, 0).0,
            0
        );
    }

    #[test]
    fn quantities_follow_the_pack_rule() {
        assert_eq!(pack_quantity(20, 10, MoqRule::Reject, "q").ok(), Some(None));
        assert_eq!(
            pack_quantity(15, 10, MoqRule::Reject, "lines[0].qty")
                .err()
                .map(|e| e.code),
            Some("moq_step")
        );
        assert_eq!(
            pack_quantity(15, 10, MoqRule::RoundUp, "q").ok(),
            Some(Some(20))
        );
        assert_eq!(
            pack_quantity(3, 10, MoqRule::RoundUp, "q").ok(),
            Some(Some(10))
        );
        assert_eq!(pack_quantity(7, 1, MoqRule::Reject, "q").ok(), Some(None));
    }

    #[test]
    fn totals_refuse_overflow_and_negative_lines() {
        let line = |list: i64, qty: i64, adjust: i64| QuotedLine {
            line_no: 1,
            sku_id: SkuId(1),
            product_id: ProductId(1),
            item_no: String::new(),
            name: String::new(),
            model: String::new(),
            spec: String::new(),
            unit_label: String::new(),
            qty,
            list_price_fen: list,
            adjustments: vec![Adjustment {
                source: "plugin:test".to_owned(),
                label: "x".to_owned(),
                amount_fen: adjust,
                final_sale: false,
            }],
            line_total_fen: 0,
            weight_g: 0,
            gift: false,
            brand_id: None,
            category_ids: Vec::new(),
        };
        let mut quote = Quote {
            lines: vec![line(1000, 3, -500)],
            adjustments: vec![],
            goods_fen: 0,
            adjustments_fen: 0,
            shipping_fen: 700,
            shipping_label: String::new(),
            total_fen: 0,
            weight_g: 0,
            notices: vec![],
            revisions: vec![],
            pricing_run: None,
            max_price_percent: DEFAULT_MAX_PRICE_PERCENT,
            offers: Vec::new(),
            choices: Vec::new(),
            plugin_options: Default::default(),
            gift_requests: Vec::new(),
            checkout_skips: Vec::new(),
        };
        assert_eq!(quote.recompute(), Ok(()));
        assert_eq!((quote.goods_fen, quote.total_fen), (2500, 3200));
        quote.lines = vec![line(1000, 3, -3001)];
        assert!(quote.recompute().is_err());
        quote.lines = vec![line(i64::MAX / 2, 3, 0)];
        assert!(quote.recompute().is_err());
        quote.lines = vec![line(1000, 1, i64::MAX)];
        assert!(quote.recompute().is_err());
        // Up to three times the catalogue price, not a fen more (the default percent).
        quote.lines = vec![line(1000, 3, 6000)];
        assert_eq!(quote.recompute(), Ok(()));
        quote.lines = vec![line(1000, 3, 6001)];
        let error = quote
            .recompute()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("more than 300%"), "{error}");
        // An order-level fee counts against the goods' catalogue price too.
        quote.lines = vec![line(1000, 3, 0)];
        quote.adjustments = vec![Adjustment {
            source: "plugin:test".to_owned(),
            label: "x".to_owned(),
            amount_fen: 6001,
            final_sale: false,
        }];
        assert!(quote.recompute().is_err());
        // Within the percent but over what one order may come to.
        quote.adjustments = vec![];
        quote.lines = vec![line(crate::money::MAX_FEN, 1_000_000, 0)];
        let error = quote.recompute().err();
        assert!(
            matches!(
                error,
                Some(AmountError::LineAboveOrderBound { line_no: 1, .. })
            ),
            "{error:?}"
        );
    }
}
