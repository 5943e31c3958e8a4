//! The shelf: search (and a category's goods), the category list and the brand centre; the
//! homepage is in `layouts`. Each asks the catalogue's JSON handlers, so what it shows is what
//! the API would show this caller, prices included.

use std::sync::Arc;

use axum::extract::State;
use serde::Deserialize;

use super::{Page, Visit};
use crate::catalog::Category;
use crate::catalog::handlers::{self as catalog, ProductQuery, SearchText};
use crate::catalog::pricing::{self, PriceView};
use crate::edge::extract::Query;
use crate::error::ApiError;
use crate::shop::Shop;
use crate::themes::views::{
    BrandsView, CategoriesView, CategoryCard, CategoryGroup, MAX_LISTED, ProductCard, SearchView,
};

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
