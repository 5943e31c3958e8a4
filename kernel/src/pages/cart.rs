//! 购物车: the cart page and its forms. Each goes through the cart's own JSON handlers
//! (`cart::get`, `cart::set`, `cart::remove`), so the page shows what the API says, notices of
//! changed prices, short stock and delisted goods included, and a member who may not buy is
//! refused as the API refuses him.

use axum::body::Bytes;
use axum::extract::State;

use super::goods::{QtyForm, id_of, qty_of};
use super::{Page, Visit};
use crate::edge::extract::Path;
use crate::edge::json::ApiJson;
use crate::error::ApiError;
use crate::ids::SkuId;
use crate::orders::cart::{self, CartQuantity};
use crate::shop::Shop;
use crate::themes::views::{CartPageView, QtyError};

async fn cart_view(shop: &Shop, visit: &Visit) -> Result<CartPageView, ApiError> {
    let axum::Json(cart) = cart::get(State(shop.clone()), visit.actor()?).await?;
    Ok(CartPageView::from(&cart))
}

/// `GET /cart`: my cart; a visitor is sent to sign in first.
pub async fn show(State(shop): State<Shop>, visit: Visit) -> Page {
    let view = cart_view(&shop, &visit).await;
    visit.show(view)
}

/// `POST /cart/{sku_id}` (`qty`): a line's new quantity through `cart::set`, then back to the
/// cart with `cart_updated`; a refused quantity shows the cart again with the code by the line.
pub async fn set(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
    body: Bytes,
) -> Page {
    let form: QtyForm = serde_urlencoded::from_bytes(&body).unwrap_or(QtyForm {
        sku_id: None,
        qty: String::new(),
    });
    let sku_id = match id_of(path) {
        Ok(id) => id,
        Err(error) => return visit.show::<CartPageView>(Err(error)),
    };
    let changed = async {
        let actor = visit.actor()?;
        let qty = qty_of(&form.qty)?;
        cart::set(
            State(shop.clone()),
            actor,
            Path(SkuId(sku_id)),
            ApiJson(CartQuantity { qty }),
        )
        .await
    }
    .await;
    match changed {
        Ok(_) => visit.redirect("/cart?notice=cart_updated"),
        Err(error) if error.field.is_some() => match cart_view(&shop, &visit).await {
            Ok(view) => visit.show_with(
                error.status,
                &CartPageView {
                    error: Some(QtyError {
                        sku_id,
                        code: error.code.to_owned(),
                        qty: form.qty.clone(),
                    }),
                    ..view
                },
            ),
            Err(other) => visit.show::<CartPageView>(Err(other)),
        },
        Err(error) => visit.show::<CartPageView>(Err(error)),
    }
}

/// `POST /cart/{sku_id}/remove`: takes the line out through `cart::remove`, back to the cart.
pub async fn remove(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
) -> Page {
    let removed = async {
        let sku_id = id_of(path)?;
        cart::remove(State(shop.clone()), visit.actor()?, Path(sku_id)).await
    }
    .await;
    match removed {
        Ok(_) => visit.redirect("/cart?notice=cart_removed"),
        Err(error) => visit.show::<CartPageView>(Err(error)),
    }
}
