//! Catalogue storage. A product and its SKUs, level prices and breaks are written in one
//! transaction; reads load a page of products' SKUs in a fixed number of queries.

use sqlx::FromRow;

use super::{Brand, Category, LevelPrice, PriceBreak, Product, Sku, Unit};
use std::sync::Arc;

use super::shelf::ShelfRoom;
use crate::ids::{ProductId, SkuId};
use crate::store::{Backend, Change, StoreError, StoreResult, in_tx, on_pool};

/// Replaces a SKU's level prices inside the caller's transaction `$tx`.
macro_rules! write_level_prices {
    ($tx:ident, $sku_id:expr, $prices:expr) => {{
        sqlx::query("DELETE FROM sku_level_prices WHERE sku_id = $1")
            .bind($sku_id)
            .execute(&mut *$tx)
            .await?;
        for lp in $prices {
            sqlx::query(
                "INSERT INTO sku_level_prices (sku_id, level_id, price_fen) VALUES ($1, $2, $3)",
            )
            .bind($sku_id)
            .bind(lp.level_id)
            .bind(lp.price_fen)
            .execute(&mut *$tx)
            .await?;
        }
    }};
}
pub(crate) use write_level_prices;

/// Replaces a SKU's quantity breaks inside the caller's transaction `$tx`.
macro_rules! write_breaks {
    ($tx:ident, $sku_id:expr, $breaks:expr) => {{
        sqlx::query("DELETE FROM sku_price_breaks WHERE sku_id = $1")
            .bind($sku_id)
            .execute(&mut *$tx)
            .await?;
        for b in $breaks {
            sqlx::query(
                "INSERT INTO sku_price_breaks (sku_id, min_qty, price_fen) VALUES ($1, $2, $3)",
            )
            .bind($sku_id)
            .bind(b.min_qty)
            .bind(b.price_fen)
            .execute(&mut *$tx)
            .await?;
        }
    }};
}
pub(crate) use write_breaks;

/// Replaces a product's tags inside the caller's transaction `$tx`.
macro_rules! write_product_tags {
    ($tx:ident, $product_id:expr, $tags:expr) => {{
        sqlx::query("DELETE FROM product_tag_links WHERE product_id = $1")
            .bind($product_id)
            .execute(&mut *$tx)
            .await?;
        for tag in $tags {
            sqlx::query("INSERT INTO product_tag_links (product_id, tag_id) VALUES ($1, $2)")
                .bind($product_id)
                .bind(*tag)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

/// Inserts a SKU with its level prices and breaks inside the caller's transaction `$tx`, at
/// `$sort` among its product's SKUs; evaluates to the new SKU's id.
macro_rules! insert_sku {
    ($tx:ident, $product_id:expr, $sku:expr, $sort:expr) => {{
        let sku: &NewSku = $sku;
        let sku_id: i64 = sqlx::query_scalar(
            "INSERT INTO skus (product_id, model, spec, price_fen, cost_fen, stock, allow_backorder, low_stock_threshold, weight_g, barcode, sort, attributes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind($product_id)
        .bind(&sku.model)
        .bind(&sku.spec)
        .bind(sku.price_fen)
        .bind(sku.cost_fen)
        .bind(sku.stock)
        .bind(sku.allow_backorder)
        .bind(sku.low_stock_threshold)
        .bind(sku.weight_g)
        .bind(&sku.barcode)
        .bind($sort)
        .bind(attributes_json(&sku.attributes))
        .fetch_one(&mut *$tx)
        .await
        .map_err(StoreError::classify)?;
        write_level_prices!($tx, sku_id, &sku.level_prices);
        write_breaks!($tx, sku_id, &sku.breaks);
        sku_id
    }};
}

/// A SKU as written (ids come from the database).
#[derive(Debug, Clone)]
pub struct NewSku {
    pub model: String,
    pub spec: String,
    pub price_fen: i64,
    pub cost_fen: Option<i64>,
    pub stock: i64,
    pub allow_backorder: bool,
    pub low_stock_threshold: Option<i64>,
    pub weight_g: Option<i64>,
    pub barcode: Option<String>,
    /// From the spec library, checked by the caller.
    pub attributes: std::collections::BTreeMap<String, String>,
    pub level_prices: Vec<LevelPrice>,
    pub breaks: Vec<PriceBreak>,
}

#[derive(Debug, Clone)]
pub struct NewProduct {
    pub item_no: String,
    pub name: String,
    pub description: String,
    pub brand_id: Option<i64>,
    pub category_id: Option<i64>,
    pub supplier_id: Option<i64>,
    pub unit_id: i64,
    pub on_shelf: bool,
    pub skus: Vec<NewSku>,
    /// Product tags (checked by the caller).
    pub tag_ids: std::collections::BTreeSet<i64>,
}

/// Changes to a product's own fields; `None` keeps a field.
#[derive(Debug, Default)]
pub struct ProductChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub brand_id: Option<Option<i64>>,
    pub category_id: Option<Option<i64>>,
    pub on_shelf: Option<bool>,
    pub hot: Option<bool>,
    pub recommended: Option<bool>,
    /// Replaces the product's tags.
    pub tag_ids: Option<std::collections::BTreeSet<i64>>,
}

/// Which products a list shows.
#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
pub struct ProductFilter {
    /// This category and everything below it.
    pub category_id: Option<i64>,
    pub brand_id: Option<i64>,
    /// Only goods carrying this product tag.
    pub tag_id: Option<i64>,
    /// Only goods on the shelf (`Some(true)`) or off it (`Some(false)`); `None`: both.
    pub on_shelf: Option<bool>,
    /// Lowest per-item price (at this level) within bounds; only for viewers who see prices.
    pub min_price_fen: Option<i64>,
    pub max_price_fen: Option<i64>,
    pub price_level: Option<i64>,
    /// Only these products (a scanned barcode's).
    pub ids: Option<Vec<i64>>,
    /// Only products matching this full-text expression (`search::match_expression`).
    pub text: Option<String>,
    /// Only this supplier's goods.
    pub supplier_id: Option<i64>,
    pub hot_only: bool,
    pub recommended_only: bool,
    pub sort: ProductSort,
    pub limit: i64,
    pub offset: i64,
}

impl ProductFilter {
    /// Whether anything but the text and the shelf needs the products table.
    fn needs_products_for_text_search(&self) -> bool {
        self.category_id.is_some()
            || self.brand_id.is_some()
            || self.tag_id.is_some()
            || self.min_price_fen.is_some()
            || self.max_price_fen.is_some()
            || self.ids.is_some()
            || self.supplier_id.is_some()
            || self.hot_only
            || self.recommended_only
            || matches!(self.sort, ProductSort::PriceAsc | ProductSort::PriceDesc)
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductSort {
    #[default]
    Newest,
    PriceAsc,
    PriceDesc,
    /// Best text match first (only with `text`).
    Relevance,
}

#[derive(FromRow)]
struct ProductRow {
    id: ProductId,
    item_no: String,
    name: String,
    description: String,
    brand_id: Option<i64>,
    category_id: Option<i64>,
    supplier_id: Option<i64>,
    on_shelf: bool,
    revision: i64,
    unit_id: i64,
    item_unit: String,
    inner_qty: i64,
    inner_unit: String,
    outer_qty: i64,
    outer_unit: String,
}

#[derive(FromRow)]
struct SkuRow {
    id: SkuId,
    product_id: ProductId,
    model: String,
    spec: String,
    price_fen: i64,
    cost_fen: Option<i64>,
    stock: i64,
    stock_seq: i64,
    allow_backorder: bool,
    low_stock_threshold: Option<i64>,
    weight_g: Option<i64>,
    barcode: Option<String>,
    attributes: String,
}

/// `(sku_id, level_id or min_qty, price_fen)`: a level price or a quantity break.
type SkuPriceRow = (SkuId, i64, i64);

const PRODUCT_SELECT: &str = "SELECT p.id, p.item_no, p.name, p.description, p.brand_id, p.category_id, p.supplier_id, p.on_shelf, p.revision,
    u.id AS unit_id, u.item_unit, u.inner_qty, u.inner_unit, u.outer_qty, u.outer_unit
    FROM products p JOIN units u ON u.id = p.unit_id";

fn attributes_json(attributes: &std::collections::BTreeMap<String, String>) -> String {
    serde_json::to_string(attributes).unwrap_or_else(|_| "{}".to_owned())
}

/// The lowest per-item price of a product at a level (`$level` bound by the caller).
const MIN_PRICE: &str = "(SELECT MIN(COALESCE(lp.price_fen, s.price_fen)) FROM skus s LEFT JOIN sku_level_prices lp ON lp.sku_id = s.id AND lp.level_id = ";

impl super::CatalogStore<'_> {
    pub async fn insert_category(
        self,
        parent_id: Option<i64>,
        name: &str,
        depth: i64,
        sort: i64,
        now_ms: i64,
    ) -> StoreResult<i64> {
        let id = on_pool!(self, |pool| {
            sqlx::query_scalar("INSERT INTO categories (parent_id, name, depth, sort, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
                .bind(parent_id)
                .bind(name)
                .bind(depth)
                .bind(sort)
                .bind(now_ms)
                .fetch_one(pool)
                .await
                .map_err(StoreError::classify)
        })?;
        self.changed(Change::Library).await;
        Ok(id)
    }

    /// Every category, parents before children, in the shelf's order (kept in the shelf's
    /// room).
    pub async fn list_categories(self) -> StoreResult<Arc<Vec<Category>>> {
        let room = self.room::<ShelfRoom>();
        if let Some(all) = room.categories() {
            return Ok(all);
        }
        let read_at = self.generation().current();
        let all: Vec<Category> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, parent_id, name, depth, sort FROM categories ORDER BY depth, sort, id",
            )
            .fetch_all(pool)
            .await
        })?;
        let all = Arc::new(all);
        room.keep_categories(all.clone(), self.generation(), read_at);
        Ok(all)
    }

    pub async fn insert_brand(
        self,
        name: &str,
        logo_url: Option<&str>,
        description: &str,
        now_ms: i64,
    ) -> StoreResult<i64> {
        let id = on_pool!(self, |pool| {
            sqlx::query_scalar("INSERT INTO brands (name, logo_url, description, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
                .bind(name)
                .bind(logo_url)
                .bind(description)
                .bind(now_ms)
                .fetch_one(pool)
                .await
                .map_err(StoreError::classify)
        })?;
        self.changed(Change::Library).await;
        Ok(id)
    }

    /// Every brand by name (kept in the shelf's room).
    pub async fn list_brands(self) -> StoreResult<Arc<Vec<Brand>>> {
        let room = self.room::<ShelfRoom>();
        if let Some(all) = room.brands() {
            return Ok(all);
        }
        let read_at = self.generation().current();
        let all: Vec<Brand> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT id, name, logo_url, description FROM brands ORDER BY name"
        )
        .fetch_all(pool)
        .await)?;
        let all = Arc::new(all);
        room.keep_brands(all.clone(), self.generation(), read_at);
        Ok(all)
    }

    pub async fn insert_unit(self, unit: &Unit, now_ms: i64) -> StoreResult<i64> {
        on_pool!(self, |pool| {
            sqlx::query_scalar("INSERT INTO units (item_unit, inner_qty, inner_unit, outer_qty, outer_unit, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
                .bind(&unit.item_unit)
                .bind(unit.inner_qty)
                .bind(&unit.inner_unit)
                .bind(unit.outer_qty)
                .bind(&unit.outer_unit)
                .bind(now_ms)
                .fetch_one(pool)
                .await
                .map_err(StoreError::classify)
        })
    }

    pub async fn list_units(self) -> StoreResult<Vec<Unit>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as("SELECT id, item_unit, inner_qty, inner_unit, outer_qty, outer_unit FROM units ORDER BY id").fetch_all(pool).await
        })?)
    }

    /// Writes a product with all its SKUs, level prices and breaks, or nothing. A taken item
    /// number or barcode is `Conflict("products.item_no" | "skus.barcode")`.
    pub async fn insert_product(self, product: &NewProduct, now_ms: i64) -> StoreResult<i64> {
        let insert = "INSERT INTO products (item_no, name, description, brand_id, category_id, supplier_id, unit_id, on_shelf, created_at, updated_at)
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id";
        in_tx!(self, |tx| {
            let id: i64 = sqlx::query_scalar(insert)
                .bind(&product.item_no)
                .bind(&product.name)
                .bind(&product.description)
                .bind(product.brand_id)
                .bind(product.category_id)
                .bind(product.supplier_id)
                .bind(product.unit_id)
                .bind(product.on_shelf)
                .bind(now_ms)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
            for (sort, sku) in product.skus.iter().enumerate() {
                insert_sku!(tx, id, sku, i64::try_from(sort).unwrap_or(i64::MAX));
            }
            write_product_tags!(tx, id, &product.tag_ids);
            Ok::<_, StoreError>(id)
        })
    }

    /// Adds a SKU after a product's others, in one transaction with its prices; false when the
    /// product is absent.
    pub async fn add_sku(self, product_id: i64, sku: &NewSku, now_ms: i64) -> StoreResult<bool> {
        let found = in_tx!(self, |tx| {
            let found = sqlx::query(
                "UPDATE products SET updated_at = $2, revision = revision + 1 WHERE id = $1",
            )
            .bind(product_id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if found {
                let sort: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(MAX(sort), -1) + 1 FROM skus WHERE product_id = $1",
                )
                .bind(product_id)
                .fetch_one(&mut *tx)
                .await?;
                let _sku_id = insert_sku!(tx, product_id, sku, sort);
            }
            Ok::<_, StoreError>(found)
        })?;
        if found {
            self.changed(Change::Product(product_id)).await;
        }
        Ok(found)
    }

    /// Replaces one SKU's fields, level prices and breaks in one transaction; false when absent.
    pub async fn replace_sku(self, sku_id: i64, sku: &NewSku, now_ms: i64) -> StoreResult<bool> {
        let product_id = in_tx!(self, |tx| {
            let product_id: Option<i64> = sqlx::query_scalar(
                "UPDATE skus SET model = $2, spec = $3, price_fen = $4, cost_fen = $5, stock = $6, stock_seq = stock_seq + 1, allow_backorder = $7, low_stock_threshold = $8, weight_g = $9, barcode = $10, attributes = $11
                 WHERE id = $1 RETURNING product_id",
            )
            .bind(sku_id)
            .bind(&sku.model)
            .bind(&sku.spec)
            .bind(sku.price_fen)
            .bind(sku.cost_fen)
            .bind(sku.stock)
            .bind(sku.allow_backorder)
            .bind(sku.low_stock_threshold)
            .bind(sku.weight_g)
            .bind(&sku.barcode)
            .bind(attributes_json(&sku.attributes))
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
            if let Some(product_id) = product_id {
                write_level_prices!(tx, sku_id, &sku.level_prices);
                write_breaks!(tx, sku_id, &sku.breaks);
                sqlx::query(
                    "UPDATE products SET updated_at = $2, revision = revision + 1 WHERE id = $1",
                )
                .bind(product_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            Ok::<_, StoreError>(product_id)
        })?;
        if let Some(product_id) = product_id {
            self.changed(Change::Product(product_id)).await;
        }
        Ok(product_id.is_some())
    }

    pub async fn update_product(
        self,
        id: i64,
        changes: &ProductChanges,
        now_ms: i64,
    ) -> StoreResult<bool> {
        // One statement for the fields: absent changes keep the stored value (brand and
        // category may also be cleared, so they carry an explicit "given" flag); the tags, when
        // given, in the same transaction.
        let sql = "UPDATE products SET name = COALESCE($2, name), description = COALESCE($3, description),
                   on_shelf = COALESCE($4, on_shelf), hot = COALESCE($5, hot), recommended = COALESCE($6, recommended),
                   brand_id = CASE WHEN $7 THEN $8 ELSE brand_id END, category_id = CASE WHEN $9 THEN $10 ELSE category_id END,
                   updated_at = $11, revision = revision + 1 WHERE id = $1";
        let found = in_tx!(self, |tx| {
            let found = sqlx::query(sql)
                .bind(id)
                .bind(&changes.name)
                .bind(&changes.description)
                .bind(changes.on_shelf)
                .bind(changes.hot)
                .bind(changes.recommended)
                .bind(changes.brand_id.is_some())
                .bind(changes.brand_id.flatten())
                .bind(changes.category_id.is_some())
                .bind(changes.category_id.flatten())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if found && let Some(tags) = &changes.tag_ids {
                write_product_tags!(tx, id, tags);
            }
            Ok::<_, StoreError>(found)
        })?;
        self.changed(Change::Product(id)).await;
        Ok(found)
    }

    pub async fn product(self, id: i64) -> StoreResult<Option<Product>> {
        Ok(self.products_by_ids(&[id]).await?.into_iter().next())
    }

    /// A page of products, SKUs included, and how many the filter selects in all.
    pub async fn list_products(
        self,
        filter: &ProductFilter,
    ) -> StoreResult<crate::store::Page<Product>> {
        let page = self.filter_product_ids(filter).await?;
        Ok(crate::store::Page {
            items: self.products_by_ids(&page.items).await?,
            total: page.total,
        })
    }

    /// The ids of the products a filter selects, in its order, one page, and how many it
    /// selects in all.
    /// Kept in the shelf's room, by filter.
    pub async fn filter_product_ids(
        self,
        filter: &ProductFilter,
    ) -> StoreResult<crate::store::Page<i64>> {
        let room = self.room::<ShelfRoom>();
        if let Some(page) = room.listing(filter) {
            return Ok(crate::store::Page::clone(&page));
        }
        let read_at = self.generation().current();
        let page = crate::store::paged(filter.limit, filter.offset, |limit, offset| {
            self.product_id_rows(ProductFilter {
                limit,
                offset,
                ..filter.clone()
            })
        })
        .await?;
        room.keep_listing(
            filter.clone(),
            Arc::new(page.clone()),
            self.generation(),
            read_at,
        );
        Ok(page)
    }

    async fn product_id_rows(self, filter: ProductFilter) -> StoreResult<Vec<(i64, i64)>> {
        if filter.ids.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let backend = self.backend();
        Ok(on_pool!(self, |pool| {
            // The text match joins the backend's index: FTS5 with bm25 (name 10, body 1,
            // initials 5), or the tsvector with name matches ranked first. One query filters, ranks and
            // pages.
            // A plain text search on PostgreSQL reads the search table alone (it carries the
            // shelf flag, migration 0009); any other filter joins the products.
            let search_only = backend == Backend::Postgres
                && filter.text.is_some()
                && !filter.needs_products_for_text_search();
            // FTS5's bm25() may not share a statement with a window function: the SQLite
            // relevance order ranks in an inner select, and the page and count come from it.
            let ranked_by_bm25 = backend == Backend::Sqlite
                && filter.text.is_some()
                && filter.sort == ProductSort::Relevance;
            let mut query = sqlx::QueryBuilder::new(if search_only {
                "SELECT ps.product_id"
            } else if ranked_by_bm25 {
                "SELECT id, COUNT(*) OVER () AS total FROM (SELECT p.id AS id, bm25(product_fts, 10.0, 1.0, 5.0) AS score"
            } else {
                "SELECT p.id"
            });
            if !ranked_by_bm25 {
                query.push(crate::store::TOTAL_COLUMN);
            }
            query.push(if search_only {
                " FROM product_search ps"
            } else {
                " FROM products p"
            });
            if let Some(text) = &filter.text {
                match backend {
                    Backend::Sqlite => query.push(" JOIN product_fts ON product_fts.rowid = p.id WHERE product_fts MATCH ").push_bind(text.clone()),
                    Backend::Postgres if search_only => query.push(" WHERE ps.document @@ to_tsquery('simple', ").push_bind(text.clone()).push(")"),
                    Backend::Postgres => query.push(" JOIN product_search ps ON ps.product_id = p.id WHERE ps.document @@ to_tsquery('simple', ").push_bind(text.clone()).push(")"),
                };
            } else {
                query.push(" WHERE 1 = 1");
            }
            if let Some(on_shelf) = filter.on_shelf {
                query
                    .push(if search_only {
                        " AND ps.on_shelf = "
                    } else {
                        " AND p.on_shelf = "
                    })
                    .push_bind(on_shelf);
            }
            if filter.hot_only {
                query.push(" AND p.hot = TRUE");
            }
            if filter.recommended_only {
                query.push(" AND p.recommended = TRUE");
            }
            if let Some(ids) = &filter.ids {
                query.push(" AND p.id IN ");
                crate::store::push_id_list(&mut query, ids.iter().copied());
            }
            if let Some(brand_id) = filter.brand_id {
                query.push(" AND p.brand_id = ").push_bind(brand_id);
            }
            if let Some(tag_id) = filter.tag_id {
                query
                    .push(" AND p.id IN (SELECT product_id FROM product_tag_links WHERE tag_id = ")
                    .push_bind(tag_id)
                    .push(")");
            }
            if let Some(supplier_id) = filter.supplier_id {
                query.push(" AND p.supplier_id = ").push_bind(supplier_id);
            }
            if let Some(category_id) = filter.category_id {
                // Three levels: the category, its children and its grandchildren.
                query.push(" AND p.category_id IN (SELECT c1.id FROM categories c1 LEFT JOIN categories c2 ON c1.parent_id = c2.id WHERE c1.id = ")
                    .push_bind(category_id)
                    .push(" OR c1.parent_id = ")
                    .push_bind(category_id)
                    .push(" OR c2.parent_id = ")
                    .push_bind(category_id)
                    .push(")");
            }
            let level = filter.price_level.unwrap_or(-1);
            if let Some(min) = filter.min_price_fen {
                query
                    .push(" AND ")
                    .push(MIN_PRICE)
                    .push_bind(level)
                    .push(" WHERE s.product_id = p.id) >= ")
                    .push_bind(min);
            }
            if let Some(max) = filter.max_price_fen {
                query
                    .push(" AND ")
                    .push(MIN_PRICE)
                    .push_bind(level)
                    .push(" WHERE s.product_id = p.id) <= ")
                    .push_bind(max);
            }
            match filter.sort {
                ProductSort::Newest => {
                    query.push(if search_only {
                        " ORDER BY ps.product_id DESC"
                    } else {
                        " ORDER BY p.id DESC"
                    });
                }
                ProductSort::Relevance => match (&filter.text, backend) {
                    (Some(_), Backend::Sqlite) => {
                        query.push(") ORDER BY score, id");
                    }
                    (Some(text), Backend::Postgres) => {
                        // Name (and initials) matches first, then the rest by id: a cheap test
                        // of each match's short name vector instead of ts_rank over its whole
                        // document (see migration 0008).
                        query
                            .push(" ORDER BY (ps.name_document @@ to_tsquery('simple', ")
                            .push_bind(text.clone())
                            .push(")) DESC, ps.product_id");
                    }
                    (None, _) => {
                        query.push(" ORDER BY p.id DESC");
                    }
                },
                ProductSort::PriceAsc | ProductSort::PriceDesc => {
                    let direction = if filter.sort == ProductSort::PriceAsc {
                        "ASC"
                    } else {
                        "DESC"
                    };
                    query
                        .push(" ORDER BY ")
                        .push(MIN_PRICE)
                        .push_bind(level)
                        .push(format!(" WHERE s.product_id = p.id) {direction}, p.id"));
                }
            }
            query
                .push(" LIMIT ")
                .push_bind(filter.limit)
                .push(" OFFSET ")
                .push_bind(filter.offset);
            query.build_query_as().fetch_all(pool).await
        })?)
    }

    /// Products with their SKUs, in the order of `ids` (absent ids are skipped). Product pages,
    /// lists and search results all come through here, from the cache where it has them.
    pub async fn products_by_ids(self, ids: &[i64]) -> StoreResult<Vec<Product>> {
        let ids: Vec<ProductId> = ids.iter().copied().map(ProductId).collect();
        Ok(self
            .shared_products(&ids)
            .await?
            .into_iter()
            .map(|product| Product::clone(&product))
            .collect())
    }

    /// The product each SKU belongs to (a SKU never changes product, so the answer is kept).
    pub async fn sku_products(
        self,
        sku_ids: &[SkuId],
    ) -> StoreResult<std::collections::HashMap<SkuId, ProductId>> {
        let room = self.room::<ProductRoom>();
        let mut found: std::collections::HashMap<SkuId, ProductId> = sku_ids
            .iter()
            .filter_map(|id| room.sku_products.get(id).map(|product| (*id, product)))
            .collect();
        let missing: Vec<i64> = sku_ids
            .iter()
            .copied()
            .filter(|id| !found.contains_key(id))
            .map(SkuId::get)
            .collect();
        if !missing.is_empty() {
            let rows: Vec<(SkuId, ProductId)> = on_pool!(self, |pool| {
                crate::store::id_list_query(
                    "SELECT id, product_id FROM skus WHERE id IN ",
                    &missing,
                )
                .build_query_as()
                .fetch_all(pool)
                .await
            })?;
            for (sku_id, product_id) in rows {
                room.sku_products.insert(sku_id, product_id);
                found.insert(sku_id, product_id);
            }
        }
        Ok(found)
    }

    /// `products_by_ids` without copying what the cache holds.
    pub async fn shared_products(
        self,
        ids: &[ProductId],
    ) -> StoreResult<Vec<std::sync::Arc<Product>>> {
        let room = self.room::<ProductRoom>();
        let mut found: std::collections::HashMap<ProductId, std::sync::Arc<Product>> = ids
            .iter()
            .filter_map(|id| room.products.get(id).map(|product| (*id, product)))
            .collect();
        let missing: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !found.contains_key(id))
            .map(ProductId::get)
            .collect();
        if !missing.is_empty() {
            let generation = self.generation().current();
            let rows: Vec<ProductRow> = on_pool!(self, |pool| {
                crate::store::id_list_query(&format!("{PRODUCT_SELECT} WHERE p.id IN "), &missing)
                    .build_query_as()
                    .fetch_all(pool)
                    .await
            })?;
            for product in self.with_skus(rows).await? {
                let product = std::sync::Arc::new(product);
                room.remember(product.clone(), self.generation(), generation);
                found.insert(product.id, product);
            }
        }
        Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
    }

    async fn with_skus(self, rows: Vec<ProductRow>) -> StoreResult<Vec<Product>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id.get()).collect();
        let skus: Vec<SkuRow> = on_pool!(self, |pool| {
            crate::store::id_list_query(
                "SELECT id, product_id, model, spec, price_fen, cost_fen, stock, stock_seq, allow_backorder, low_stock_threshold, weight_g, barcode, attributes FROM skus WHERE product_id IN ",
                &ids,
            )
            .push(" ORDER BY product_id, sort, id")
            .build_query_as()
            .fetch_all(pool)
            .await
        })?;
        let images: Vec<(ProductId, String)> = on_pool!(self, |pool| {
            crate::store::id_list_query(
                "SELECT product_id, key FROM product_images WHERE product_id IN ",
                &ids,
            )
            .push(" ORDER BY sort, key")
            .build_query_as()
            .fetch_all(pool)
            .await
        })?;
        let tags: Vec<(ProductId, i64)> = on_pool!(self, |pool| {
            crate::store::id_list_query(
                "SELECT product_id, tag_id FROM product_tag_links WHERE product_id IN ",
                &ids,
            )
            .push(" ORDER BY tag_id")
            .build_query_as()
            .fetch_all(pool)
            .await
        })?;
        let sku_ids: Vec<i64> = skus.iter().map(|s| s.id.get()).collect();
        let (level_prices, breaks): (Vec<SkuPriceRow>, Vec<SkuPriceRow>) = if sku_ids.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let level_prices = on_pool!(self, |pool| {
                crate::store::id_list_query(
                    "SELECT sku_id, level_id, price_fen FROM sku_level_prices WHERE sku_id IN ",
                    &sku_ids,
                )
                .push(" ORDER BY level_id")
                .build_query_as()
                .fetch_all(pool)
                .await
            })?;
            let breaks = on_pool!(self, |pool| {
                crate::store::id_list_query(
                    "SELECT sku_id, min_qty, price_fen FROM sku_price_breaks WHERE sku_id IN ",
                    &sku_ids,
                )
                .push(" ORDER BY min_qty")
                .build_query_as()
                .fetch_all(pool)
                .await
            })?;
            (level_prices, breaks)
        };
        Ok(rows
            .into_iter()
            .map(|row| Product {
                id: row.id,
                item_no: row.item_no,
                name: row.name,
                description: row.description,
                brand_id: row.brand_id,
                category_id: row.category_id,
                supplier_id: row.supplier_id,
                unit: Unit {
                    id: row.unit_id,
                    item_unit: row.item_unit,
                    inner_qty: row.inner_qty,
                    inner_unit: row.inner_unit,
                    outer_qty: row.outer_qty,
                    outer_unit: row.outer_unit,
                },
                on_shelf: row.on_shelf,
                revision: row.revision,
                images: images
                    .iter()
                    .filter(|(product, _)| *product == row.id)
                    .map(|(_, key)| image_url(key))
                    .collect(),
                tag_ids: tags
                    .iter()
                    .filter(|(product, _)| *product == row.id)
                    .map(|(_, tag)| *tag)
                    .collect(),
                skus: skus
                    .iter()
                    .filter(|s| s.product_id == row.id)
                    .map(|s| Sku {
                        id: s.id,
                        product_id: s.product_id,
                        model: s.model.clone(),
                        spec: s.spec.clone(),
                        price_fen: s.price_fen,
                        cost_fen: s.cost_fen,
                        stock: s.stock,
                        stock_seq: s.stock_seq,
                        allow_backorder: s.allow_backorder,
                        low_stock_threshold: s.low_stock_threshold,
                        weight_g: s.weight_g,
                        barcode: s.barcode.clone(),
                        attributes: serde_json::from_str(&s.attributes).unwrap_or_default(),
                        level_prices: level_prices
                            .iter()
                            .filter(|(id, _, _)| *id == s.id)
                            .map(|(_, level_id, price_fen)| LevelPrice {
                                level_id: *level_id,
                                price_fen: *price_fen,
                            })
                            .collect(),
                        breaks: breaks
                            .iter()
                            .filter(|(id, _, _)| *id == s.id)
                            .map(|(_, min_qty, price_fen)| PriceBreak {
                                min_qty: *min_qty,
                                price_fen: *price_fen,
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect())
    }
}

impl super::CatalogStore<'_> {
    pub async fn product_id_of_sku(self, sku_id: i64) -> StoreResult<Option<i64>> {
        Ok(on_pool!(self, |pool| sqlx::query_scalar(
            "SELECT product_id FROM skus WHERE id = $1"
        )
        .bind(sku_id)
        .fetch_optional(pool)
        .await)?)
    }
}

/// A SKU at or below its low-stock threshold.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema, FromRow)]
pub struct LowStock {
    pub sku_id: i64,
    pub product_id: i64,
    pub item_no: String,
    pub name: String,
    pub model: String,
    pub spec: String,
    pub stock: i64,
    pub low_stock_threshold: i64,
}

impl super::CatalogStore<'_> {
    /// SKUs of goods on the shelf whose stock fell to their threshold, emptiest first.
    pub async fn low_stock(self) -> StoreResult<Vec<LowStock>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT s.id AS sku_id, p.id AS product_id, p.item_no, p.name, s.model, s.spec, s.stock, s.low_stock_threshold
                 FROM skus s JOIN products p ON p.id = s.product_id
                 WHERE p.on_shelf = TRUE AND s.low_stock_threshold IS NOT NULL AND s.stock <= s.low_stock_threshold
                 ORDER BY s.stock, s.id LIMIT 500",
            )
            .fetch_all(pool)
            .await
        })?)
    }
}

/// The public URL of a product image.
pub fn image_url(key: &str) -> String {
    format!("/api/v1/images/{key}")
}

/// A product image row.
#[derive(Debug, Clone, FromRow)]
pub struct ProductImage {
    pub key: String,
    pub product_id: i64,
    pub content_type: String,
}

impl super::CatalogStore<'_> {
    pub async fn add_product_image(
        self,
        product_id: i64,
        key: &str,
        content_type: &str,
        size_bytes: i64,
        now_ms: i64,
    ) -> StoreResult<bool> {
        let outcome = in_tx!(self, |tx| {
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM products WHERE id = $1")
                .bind(product_id)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_some() {
                sqlx::query(
                    "INSERT INTO product_images (key, product_id, content_type, size_bytes, sort, created_at)
                     VALUES ($1, $2, $3, $4, (SELECT COALESCE(MAX(sort), 0) + 1 FROM product_images WHERE product_id = $2), $5)",
                )
                .bind(key)
                .bind(product_id)
                .bind(content_type)
                .bind(size_bytes)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            Ok::<_, StoreError>(exists.is_some())
        })?;
        self.changed(Change::Product(product_id)).await;
        Ok(outcome)
    }

    pub async fn product_image(self, key: &str) -> StoreResult<Option<ProductImage>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT key, product_id, content_type FROM product_images WHERE key = $1",
            )
            .bind(key)
            .fetch_optional(pool)
            .await
        })?)
    }

    /// Removes an image row of `product_id`; false when it is not that product's.
    pub async fn delete_product_image(self, product_id: i64, key: &str) -> StoreResult<bool> {
        let deleted = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM product_images WHERE key = $1 AND product_id = $2")
                .bind(key)
                .bind(product_id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() == 1)
        })?;
        self.changed(Change::Product(product_id)).await;
        Ok(deleted)
    }
}
/// Products with their SKUs by id, and each SKU's product (see `store::cache`). Patches,
/// stores and drops of products happen under one lock, so none of them can put back what
/// another replaced.
pub struct ProductRoom {
    products: moka::sync::Cache<ProductId, std::sync::Arc<Product>>,
    /// SKU id → product id; a SKU never moves, so only a restore clears it.
    sku_products: moka::sync::Cache<SkuId, ProductId>,
    writes: std::sync::Mutex<()>,
}

impl Default for ProductRoom {
    fn default() -> Self {
        ProductRoom {
            products: moka::sync::Cache::new(50_000),
            sku_products: moka::sync::Cache::new(500_000),
            writes: std::sync::Mutex::new(()),
        }
    }
}

impl ProductRoom {
    /// Keeps `product`, read from the database when the generation was `read_at`, unless a
    /// change arrived since.
    fn remember(
        &self,
        product: std::sync::Arc<Product>,
        generation: &crate::store::Generation,
        read_at: u64,
    ) {
        let _writing = self.writes.lock();
        if generation.current() == read_at {
            self.products.insert(product.id, product);
        }
    }
}

impl crate::store::Room for ProductRoom {
    fn apply(&self, change: &Change) {
        let _writing = self.writes.lock();
        match change {
            Change::Product(id) => self.products.invalidate(&ProductId(*id)),
            Change::Stock(ids) => {
                for id in ids {
                    self.products.invalidate(&ProductId(*id));
                }
            }
            Change::Catalogue => self.products.invalidate_all(),
            Change::Everything => {
                self.products.invalidate_all();
                self.sku_products.invalidate_all();
            }
            Change::Library
            | Change::Accounts
            | Change::Settings
            | Change::PluginValues(_)
            | Change::PluginCounters(_)
            | Change::Inbox(_) => {}
        }
    }

    /// Patches the cached products' stock with levels newer than what they hold.
    fn stock_moved(&self, levels: &[crate::store::StockLevel]) {
        let _writing = self.writes.lock();
        let mut product_ids: Vec<ProductId> = levels.iter().map(|l| l.product_id).collect();
        product_ids.sort_unstable();
        product_ids.dedup();
        for product_id in product_ids {
            let Some(cached) = self.products.get(&product_id) else {
                continue;
            };
            let mut copy = Product::clone(&cached);
            let mut moved = false;
            for level in levels.iter().filter(|l| l.product_id == product_id) {
                if let Some(sku) = copy.skus.iter_mut().find(|s| s.id == level.sku_id)
                    && level.seq > sku.stock_seq
                {
                    sku.stock = level.stock;
                    sku.stock_seq = level.seq;
                    moved = true;
                }
            }
            if moved {
                self.products.insert(product_id, std::sync::Arc::new(copy));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Room, StockLevel};
    use std::sync::Arc;

    fn product(stock: i64, seq: i64) -> Product {
        Product {
            id: ProductId(7),
            item_no: "AQM-001".to_owned(),
            name: "安全帽".to_owned(),
            description: String::new(),
            brand_id: None,
            category_id: None,
            supplier_id: None,
            unit: super::super::Unit {
                id: 1,
                item_unit: "个".to_owned(),
                inner_qty: 10,
                inner_unit: "盒".to_owned(),
                outer_qty: 50,
                outer_unit: "箱".to_owned(),
            },
            on_shelf: true,
            images: vec![],
            tag_ids: vec![],
            revision: 0,
            skus: vec![super::super::Sku {
                id: SkuId(70),
                product_id: ProductId(7),
                model: String::new(),
                spec: String::new(),
                price_fen: 2800,
                cost_fen: None,
                stock,
                stock_seq: seq,
                allow_backorder: false,
                low_stock_threshold: None,
                weight_g: None,
                barcode: None,
                attributes: Default::default(),
                level_prices: vec![],
                breaks: vec![],
            }],
        }
    }

    #[test]
    fn stock_patches_apply_only_over_older_ones() {
        let room = ProductRoom::default();
        let generation = crate::store::Generation::default();
        room.remember(Arc::new(product(100, 5)), &generation, generation.current());
        let level = |stock, seq| StockLevel {
            product_id: crate::ids::ProductId(7),
            sku_id: crate::ids::SkuId(70),
            stock,
            seq,
        };
        let stock = |room: &ProductRoom| room.products.get(&ProductId(7)).map(|p| p.skus[0].stock);
        // A late patch from an earlier statement loses to what the cache already holds.
        room.stock_moved(&[level(120, 4)]);
        assert_eq!(stock(&room), Some(100));
        room.stock_moved(&[level(90, 7)]);
        assert_eq!(stock(&room), Some(90));
        room.stock_moved(&[level(95, 6)]);
        assert_eq!(stock(&room), Some(90), "seq 6 arrived after seq 7");
        // A reader that raced any change does not store what it read.
        let before = generation.current();
        generation.advance();
        room.stock_moved(&[level(80, 8)]);
        room.apply(&Change::Product(7));
        room.remember(Arc::new(product(100, 5)), &generation, before);
        assert_eq!(stock(&room), None);
    }
}
