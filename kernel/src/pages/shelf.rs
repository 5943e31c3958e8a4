//! The shelf: the home page, search (and a category's goods), and the category list. Each
//! asks the catalogue's JSON handlers, so what it shows is what the API would show this
//! caller, prices included.

use std::sync::Arc;

use axum::extract::State;
use serde::Deserialize;

use super::{Page, Visit};
use crate::accounts::sessions::ClientInfo;
use crate::catalog::Category;
use crate::catalog::handlers::{self as catalog, ProductQuery, SearchText};
use crate::catalog::pricing::{self, PriceView};
use crate::edge::extract::{Path, Query};
use crate::error::ApiError;
use crate::ids::SkuId;
use crate::plugins::PluginsState;
use crate::shop::Shop;
use crate::themes::views::{
    BrandsView, CategoriesView, CategoryCard, CategoryGroup, FlashSale, HomeView, MAX_LISTED,
    ProductCard, SearchView,
};

/// How many goods the home page lists unless the theme's `home_products.count` says.
const HOME_PRODUCTS: i64 = 12;

async fn categories(shop: &Shop, visit: &Visit) -> Result<Arc<Vec<Category>>, ApiError> {
    Ok(
        catalog::list_categories(State(shop.clone()), visit.maybe_actor())
            .await?
            .0,
    )
}

async fn prices_visible(shop: &Shop, visit: &Visit) -> Result<bool, ApiError> {
    Ok(
        PriceView::of(&shop.store, visit.actor.as_ref(), pricing::Page::List)
            .await?
            .is_visible(),
    )
}

fn limit(n: i64) -> i64 {
    n.clamp(1, i64::try_from(MAX_LISTED).unwrap_or(40))
}

/// The flash sales the flash-sale plugin's public `storefront` route shows this viewer, asked
/// through the plugin host's own route handler (so its grants, rate limit and price rules
/// hold), each item with its product page. Empty when the plugin is not installed, refuses,
/// or answers something else: the home page does without.
async fn flash_sales(
    shop: &Shop,
    plugins: PluginsState,
    visit: &Visit,
    client: ClientInfo,
) -> Vec<FlashSale> {
    #[derive(serde::Deserialize)]
    struct Storefront {
        sales: Vec<FlashSale>,
    }
    let answer = crate::plugins::http::handle(
        State(plugins),
        visit.maybe_actor(),
        client,
        axum::http::Method::GET,
        Path((FLASH_SALE_PLUGIN.to_owned(), "storefront".to_owned())),
        Query(Default::default()),
        axum::body::Bytes::new(),
    )
    .await;
    let Ok(response) = answer else {
        return Vec::new();
    };
    if !response.status().is_success() {
        return Vec::new();
    }
    let Ok(body) = axum::body::to_bytes(response.into_body(), 256 * 1024).await else {
        return Vec::new();
    };
    let Ok(Storefront { mut sales }) = serde_json::from_slice(&body) else {
        return Vec::new();
    };
    // The plugin's answer may be a few seconds old (its route is shared): the state and the
    // seconds left are worked out again from the sale's times on this page's clock.
    let now_ms = shop.clock.now_ms();
    sales.retain(|sale| sale.ends_at_ms > now_ms);
    for sale in &mut sales {
        let (state, until_ms) = if sale.starts_at_ms <= now_ms {
            ("active", sale.ends_at_ms)
        } else {
            ("upcoming", sale.starts_at_ms)
        };
        state.clone_into(&mut sale.state);
        // Rounded up, as the plugin does: a running sale never shows 0.
        sale.seconds_left = (until_ms - now_ms).saturating_add(999) / 1000;
    }
    sales.truncate(MAX_FLASH_SALES);
    let skus: Vec<SkuId> = sales
        .iter()
        .flat_map(|sale| sale.items.iter().map(|item| SkuId(item.sku_id)))
        .collect();
    if let Ok(products) = shop.store.catalog().sku_products(&skus).await {
        for item in sales.iter_mut().flat_map(|sale| sale.items.iter_mut()) {
            item.product_id = products.get(&SkuId(item.sku_id)).map(|p| p.get());
        }
    }
    sales
}

/// The plugin whose countdowns the home page shows, and how many at most.
const FLASH_SALE_PLUGIN: &str = "flash-sale";
const MAX_FLASH_SALES: usize = 5;

/// `GET /`: the shop's name, a search box, the flash sales, the top categories and goods on
/// the shelf.
pub async fn home(
    State(shop): State<Shop>,
    State(plugins): State<PluginsState>,
    client: ClientInfo,
    visit: Visit,
) -> Page {
    let sales = flash_sales(&shop, plugins, &visit, client).await;
    let view = async {
        let top = categories(&shop, &visit).await?;
        let count = visit
            .section_integer("home_products", "count")
            .unwrap_or(HOME_PRODUCTS);
        let products = catalog::list_products(
            State(shop.clone()),
            visit.maybe_actor(),
            Query(ProductQuery {
                limit: Some(limit(count)),
                ..ProductQuery::default()
            }),
        )
        .await?;
        Ok(HomeView {
            categories: top
                .iter()
                .filter(|c| c.parent_id.is_none())
                .map(CategoryCard::from)
                .collect(),
            products: products.items.iter().map(ProductCard::from).collect(),
            prices_visible: prices_visible(&shop, &visit).await?,
            flash_sales: sales,
        })
    }
    .await;
    visit.show(view)
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    pub q: String,
    pub category_id: Option<i64>,
    pub brand_id: Option<i64>,
    /// `relevance`, `new`, `price_asc`, `price_desc`; one not on offer is the default.
    pub sort: Option<String>,
    /// The box for a barcode (the scan button's page without a camera).
    #[serde(default)]
    pub scan: bool,
}

/// The orders a list can be shown in: `relevance` only for words, the price orders only to
/// someone who sees prices (the catalogue refuses them otherwise).
fn sorts(words: bool, prices_visible: bool) -> Vec<&'static str> {
    let mut sorts = Vec::new();
    if words {
        sorts.push("relevance");
    }
    sorts.push("new");
    if prices_visible {
        sorts.extend(["price_asc", "price_desc"]);
    }
    sorts
}

/// `GET /search?q=…&category_id=…&brand_id=…&sort=…`: the goods matching the words, or a
/// category's or a brand's goods, in the order asked for.
pub async fn search(
    State(shop): State<Shop>,
    visit: Visit,
    query: Result<Query<SearchQuery>, ApiError>,
) -> Page {
    // A malformed query is this page's 400, in the theme, not the API's JSON.
    let Query(query) = match query {
        Ok(query) => query,
        Err(error) => return visit.show::<SearchView>(Err(error)),
    };
    let view = async {
        let (all_categories, brands, prices_visible) = tokio::join!(
            categories(&shop, &visit),
            catalog::list_brands(State(shop.clone()), visit.maybe_actor()),
            prices_visible(&shop, &visit)
        );
        let (brands, prices_visible) = (brands?.0, prices_visible?);
        let category = match query.category_id {
            Some(id) => Some(
                all_categories?
                    .iter()
                    .find(|c| c.id == id)
                    .map(CategoryCard::from)
                    .ok_or_else(ApiError::not_found)?,
            ),
            None => None,
        };
        let brand = match query.brand_id {
            Some(id) => Some(
                brands
                    .iter()
                    .find(|b| b.id == id)
                    .cloned()
                    .ok_or_else(ApiError::not_found)?,
            ),
            None => None,
        };
        let q = query.q.trim().to_owned();
        let sorts = sorts(!q.is_empty(), prices_visible);
        let sort = query
            .sort
            .as_deref()
            .and_then(|asked| sorts.iter().copied().find(|s| *s == asked))
            .or(sorts.first().copied())
            .unwrap_or("new");
        let filter = ProductQuery {
            category_id: query.category_id,
            brand_id: query.brand_id,
            sort: Some(sort.to_owned()),
            limit: Some(limit(i64::try_from(MAX_LISTED).unwrap_or(40))),
            ..ProductQuery::default()
        };
        let found = if q.is_empty() {
            catalog::list_products(State(shop.clone()), visit.maybe_actor(), Query(filter)).await?
        } else {
            catalog::search(
                State(shop.clone()),
                visit.maybe_actor(),
                Query(SearchText { q: q.clone() }),
                Query(filter),
            )
            .await?
        };
        Ok(SearchView {
            q,
            category,
            brand,
            brands,
            sort,
            sorts,
            scan: query.scan,
            products: found.items.iter().map(ProductCard::from).collect(),
            total: found.total,
            prices_visible,
        })
    }
    .await;
    visit.show(view)
}

/// `GET /brands`: the brand centre, each brand a link to its goods.
pub async fn brands(State(shop): State<Shop>, visit: Visit) -> Page {
    let view = async {
        let axum::Json(brands) =
            catalog::list_brands(State(shop.clone()), visit.maybe_actor()).await?;
        Ok(BrandsView { brands })
    }
    .await;
    visit.show(view)
}

/// `GET /categories`: every top-level category with the ones under it.
pub async fn list(State(shop): State<Shop>, visit: Visit) -> Page {
    let view = async {
        let all = categories(&shop, &visit).await?;
        let groups = tree(&all, None, CATEGORY_LEVELS);
        Ok(CategoriesView { groups })
    }
    .await;
    visit.show(view)
}

/// The catalogue's levels: 大类 › 中类 › 小类.
const CATEGORY_LEVELS: u8 = 3;

/// The categories under `parent` (`None`: the top level), each with its own down to `levels`
/// levels, in the catalogue's order.
fn tree(all: &[Category], parent: Option<i64>, levels: u8) -> Vec<CategoryGroup> {
    if levels == 0 {
        return Vec::new();
    }
    all.iter()
        .filter(|c| c.parent_id == parent)
        .map(|c| CategoryGroup {
            id: c.id,
            name: c.name.clone(),
            children: tree(all, Some(c.id), levels - 1),
        })
        .collect()
}
