//! The shelf: the home page, search (and a category's goods), and the category list. Each
//! asks the catalogue's JSON handlers, so what it shows is what the API would show this
//! caller, prices included.

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
    CategoriesView, CategoryCard, CategoryGroup, HomeView, MAX_LISTED, ProductCard, SearchView,
};

/// How many goods the home page lists unless the theme's `home_products.count` says.
const HOME_PRODUCTS: i64 = 12;

async fn categories(shop: &Shop, visit: &Visit) -> Result<Vec<Category>, ApiError> {
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

/// `GET /`: the shop's name, a search box, the top categories and goods on the shelf.
pub async fn home(State(shop): State<Shop>, visit: Visit) -> Page {
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
}

/// `GET /search?q=…&category_id=…`: the goods matching the words, or a category's goods.
pub async fn search(
    State(shop): State<Shop>,
    visit: Visit,
    Query(query): Query<SearchQuery>,
) -> Page {
    let view = async {
        let category = match query.category_id {
            Some(id) => Some(
                categories(&shop, &visit)
                    .await?
                    .iter()
                    .find(|c| c.id == id)
                    .map(CategoryCard::from)
                    .ok_or_else(ApiError::not_found)?,
            ),
            None => None,
        };
        let filter = ProductQuery {
            category_id: query.category_id,
            limit: Some(limit(i64::try_from(MAX_LISTED).unwrap_or(40))),
            ..ProductQuery::default()
        };
        let q = query.q.trim().to_owned();
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
            products: found.items.iter().map(ProductCard::from).collect(),
            total: found.total,
            prices_visible: prices_visible(&shop, &visit).await?,
        })
    }
    .await;
    visit.show(view)
}

/// `GET /categories`: every top-level category with the ones under it.
pub async fn list(State(shop): State<Shop>, visit: Visit) -> Page {
    let view = async {
        let all = categories(&shop, &visit).await?;
        let groups = all
            .iter()
            .filter(|c| c.parent_id.is_none())
            .map(|top| CategoryGroup {
                id: top.id,
                name: top.name.clone(),
                children: all
                    .iter()
                    .filter(|c| c.parent_id == Some(top.id))
                    .map(CategoryCard::from)
                    .collect(),
            })
            .collect();
        Ok(CategoriesView { groups })
    }
    .await;
    visit.show(view)
}
