//! The catalogue (C1–C3, C6): categories in three levels, brands, the unit library, products
//! and their SKUs with level prices and quantity breaks, stock and shelf status. Who sees which
//! price is decided in one place, `pricing::PriceView`, and every response that can carry a
//! price goes through it.

pub mod handlers;
pub mod library;
pub mod pricing;
pub mod search;
pub mod shelf;
pub mod storage;
pub mod transfer;

use std::collections::BTreeMap;

use crate::ids::{ProductId, SkuId};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

crate::store::handle! {
    /// The catalogue's part of the store: products, SKUs, categories, brands, units, specs, tags, images, search and import.
    pub CatalogStore, catalog
}

/// A category; depth 1 to 3 (三级分类).
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow, PartialEq, Eq)]
pub struct Category {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub name: String,
    pub depth: i64,
    pub sort: i64,
}

/// The names of a category and its ancestors, the top level first (at most four: the tree
/// has three levels, and a bad row cannot make it loop); empty for none or an unknown id.
pub fn category_path(categories: &[Category], category_id: Option<i64>) -> Vec<String> {
    let mut names: Vec<String> = category_line(categories, category_id)
        .into_iter()
        .map(|c| c.name.clone())
        .collect();
    names.reverse();
    names
}

/// The ids of a category and the categories above it, nearest first: what a promotion scoped
/// to a top-level category matches a product of a sub-category by.
pub fn category_ids_up(categories: &[Category], category_id: Option<i64>) -> Vec<i64> {
    category_line(categories, category_id)
        .into_iter()
        .map(|c| c.id)
        .collect()
}

/// A category and its parents, nearest first (four at most: the tree is three levels deep,
/// and a damaged tree with a cycle must not loop).
fn category_line(categories: &[Category], category_id: Option<i64>) -> Vec<&Category> {
    let mut line = Vec::new();
    let mut next = category_id;
    while let Some(id) = next {
        let Some(category) = categories.iter().find(|c| c.id == id) else {
            break;
        };
        line.push(category);
        next = category.parent_id;
        if line.len() > 3 {
            break;
        }
    }
    line
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow, PartialEq, Eq)]
pub struct Brand {
    pub id: i64,
    pub name: String,
    pub logo_url: Option<String>,
    pub description: String,
}

/// A unit from the library (单位库): the item unit packed in inner packs and outer cases,
/// 「10把/盒 - 100把/箱」. The inner pack is the minimum order quantity and the step.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow, PartialEq, Eq)]
pub struct Unit {
    pub id: i64,
    /// 把, 桶, 瓶, 套, 卷, 个, 扎 …
    pub item_unit: String,
    /// Items per inner pack: the minimum order quantity (最低起订数).
    pub inner_qty: i64,
    /// 盒 …
    pub inner_unit: String,
    /// Items per outer case.
    pub outer_qty: i64,
    /// 箱 …
    pub outer_unit: String,
}

impl Unit {
    /// 「10把/盒 - 100把/箱」
    pub fn label(&self) -> String {
        format!(
            "{}{}/{} - {}{}/{}",
            self.inner_qty,
            self.item_unit,
            self.inner_unit,
            self.outer_qty,
            self.item_unit,
            self.outer_unit
        )
    }
}

/// A price for members of one level.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct LevelPrice {
    pub level_id: i64,
    pub price_fen: i64,
}

/// From `min_qty` items on, each costs `price_fen` (阶梯价).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct PriceBreak {
    pub min_qty: i64,
    pub price_fen: i64,
}

/// A SKU (规格) with everything staff see.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct Sku {
    pub id: SkuId,
    pub product_id: ProductId,
    /// 型号
    pub model: String,
    /// 规格
    pub spec: String,
    pub price_fen: i64,
    pub cost_fen: Option<i64>,
    pub stock: i64,
    /// Moves with every stock change (`skus.stock_seq`): orders stock updates for the cache.
    #[serde(skip)]
    pub stock_seq: i64,
    pub allow_backorder: bool,
    pub low_stock_threshold: Option<i64>,
    pub weight_g: Option<i64>,
    pub barcode: Option<String>,
    /// Attributes from the spec library (颜色 → 红色).
    pub attributes: BTreeMap<String, String>,
    pub level_prices: Vec<LevelPrice>,
    pub breaks: Vec<PriceBreak>,
}

/// A product with its unit and SKUs.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct Product {
    pub id: ProductId,
    /// 货号
    pub item_no: String,
    pub name: String,
    pub description: String,
    pub brand_id: Option<i64>,
    pub category_id: Option<i64>,
    pub supplier_id: Option<i64>,
    pub unit: Unit,
    pub on_shelf: bool,
    /// Picture URLs (`/api/v1/images/…`), in display order.
    pub images: Vec<String>,
    /// Product tags (`/api/v1/product-tags`).
    pub tag_ids: Vec<i64>,
    pub skus: Vec<Sku>,
    /// Moves with every change to what the product costs or whether it sells (not stock):
    /// checkout compares it with the quote's.
    #[serde(skip)]
    pub revision: i64,
}
