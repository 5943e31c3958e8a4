//! A product's page and 订货 from it. The page asks the catalogue's `get_shop_product`, so
//! its prices are the ones the API gives this caller (none for a visitor of an internal shop,
//! B2); 订货 posts a form that goes through the cart's own `cart::add`, so the pack rule, the
//! member's standing and the shelf are checked there.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::{Page, Visit};
use crate::accounts::permissions::Actor;
use crate::catalog::handlers as catalog;
use crate::edge::extract::Path;
use crate::edge::json::ApiJson;
use crate::error::ApiError;
use crate::ids::SkuId;
use crate::orders::DeliveryMethod;
use crate::orders::cart::{self, CartAddition};
use crate::orders::checkout::{self, QuoteInput};
use crate::orders::pipeline::Pipeline;
use crate::orders::quote::LineRequest;
use crate::shop::Shop;
use crate::themes::views::{ProductView, QtyError};

/// A quantity form as posted: the field as typed, read as a number by `qty_of`.
#[derive(Debug, Deserialize)]
pub struct QtyForm {
    #[serde(default)]
    pub sku_id: Option<i64>,
    #[serde(default)]
    pub qty: String,
}

/// The quantity typed, or `invalid_quantity` for what is not a whole number.
pub fn qty_of(typed: &str) -> Result<i64, ApiError> {
    typed.trim().parse::<i64>().map_err(|_| {
        ApiError::invalid_field(
            "invalid_quantity",
            "qty",
            "qty: 请填写数量 (a whole number)",
        )
    })
}

/// A path's id, or the page's 404 for what is not one.
pub fn id_of(path: Result<Path<i64>, ApiError>) -> Result<i64, ApiError> {
    // `/products/abc` is a page that does not exist, not a malformed API call.
    path.map(|Path(id)| id).map_err(|_| ApiError::not_found())
}

async fn product_view(shop: &Shop, visit: &Visit, id: i64) -> Result<ProductView, ApiError> {
    let axum::Json(product) =
        catalog::get_shop_product(State(shop.clone()), visit.maybe_actor(), Path(id)).await?;
    // Reviews are for those signed in (C7), as the reviews API has them.
    let reviews = match &visit.actor {
        Some(actor) => {
            let axum::Json(mut reviews) =
                crate::reviews::of_product(State(shop.clone()), actor.clone(), Path(id)).await?;
            reviews.reviews.truncate(crate::themes::views::MAX_LISTED);
            Some(reviews)
        }
        None => None,
    };
    Ok(ProductView {
        reviews,
        ..ProductView::from(&product)
    })
}

/// `GET /products/{id}`: the product, its SKUs with the caller's prices, and 订货.
pub async fn product(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
) -> Page {
    let view = async { product_view(&shop, &visit, id_of(path)?).await }.await;
    visit.show(view)
}

/// A posted 订货 or 立即下单 form, read: the product, the caller, the SKU and the quantity as
/// typed; or the page that answers it instead (a visitor signs in and comes back to the
/// product, not to this form's address).
struct OrderForm {
    id: i64,
    actor: Actor,
    sku_id: i64,
    typed: String,
}

fn read_order_form(
    visit: &Visit,
    path: Result<Path<i64>, ApiError>,
    body: &Bytes,
) -> Result<OrderForm, Box<Page>> {
    let id = id_of(path).map_err(|error| Box::new(visit.show::<ProductView>(Err(error))))?;
    let actor = match visit.actor() {
        Ok(actor) => actor,
        Err(error) if error.status == StatusCode::UNAUTHORIZED => {
            return Err(Box::new(
                visit.redirect(&format!("/login?next=%2Fproducts%2F{id}")),
            ));
        }
        Err(error) => return Err(Box::new(visit.show::<ProductView>(Err(error)))),
    };
    let form: QtyForm = serde_urlencoded::from_bytes(body).map_err(|_| {
        Box::new(visit.show::<ProductView>(Err(ApiError::bad_request(
            "invalid_input",
            "表单无法读取 (unreadable form)",
        ))))
    })?;
    let sku_id = form
        .sku_id
        .ok_or_else(|| Box::new(visit.show::<ProductView>(Err(ApiError::not_found()))))?;
    Ok(OrderForm {
        id,
        actor,
        sku_id,
        typed: form.qty,
    })
}

/// The product's page again, the refusal of the form's quantity by its SKU's field; a refusal
/// that is not about the quantity is the page's error.
async fn refused(shop: &Shop, visit: &Visit, form: &OrderForm, error: ApiError) -> Page {
    if error.field.is_none() {
        return visit.show::<ProductView>(Err(error));
    }
    match product_view(shop, visit, form.id).await {
        Ok(view) => visit.show_with(
            error.status,
            &ProductView {
                error: Some(QtyError {
                    sku_id: form.sku_id,
                    code: error.code.to_owned(),
                    qty: form.typed.clone(),
                }),
                ..view
            },
        ),
        Err(other) => visit.show::<ProductView>(Err(other)),
    }
}

/// `POST /products/{id}/cart` (`sku_id`, `qty`): 订货 through `cart::add`, then back to the
/// product with the notice `added_to_cart`. A refused quantity shows the page again with the
/// refusal's code next to that SKU's field and the quantity as typed.
pub async fn add_to_cart(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
    body: Bytes,
) -> Page {
    let form = match read_order_form(&visit, path, &body) {
        Ok(form) => form,
        Err(page) => return *page,
    };
    let added = async {
        let qty = qty_of(&form.typed)?;
        cart::add(
            State(shop.clone()),
            form.actor.clone(),
            ApiJson(CartAddition {
                items: vec![LineRequest {
                    sku_id: SkuId(form.sku_id),
                    qty,
                }],
            }),
        )
        .await
    }
    .await;
    match added {
        Ok(_) => visit.redirect(&format!("/products/{}?notice=added_to_cart", form.id)),
        Err(error) => refused(&shop, &visit, &form, error).await,
    }
}

/// `POST /products/{id}/buy` (`sku_id`, `qty`): 立即下单, straight to a checkout of this one
/// line, leaving the cart as it is. The quantity is checked first by the quote the checkout
/// will make (`checkout::quote` with the line, collected so that no address is needed yet):
/// off the pack step, delisted or unknown is refused by the SKU's field here.
pub async fn buy_now(
    State(shop): State<Shop>,
    State(pipeline): State<Pipeline>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
    body: Bytes,
) -> Page {
    let form = match read_order_form(&visit, path, &body) {
        Ok(form) => form,
        Err(page) => return *page,
    };
    let checked = async {
        let line = LineRequest {
            sku_id: SkuId(form.sku_id),
            qty: qty_of(&form.typed)?,
        };
        let quoted = checkout::quote(
            State(shop.clone()),
            State(pipeline.clone()),
            form.actor.clone(),
            ApiJson(QuoteInput {
                member_id: None,
                lines: Some(vec![line]),
                delivery_method: DeliveryMethod::Pickup,
                address_id: None,
                plugin_options: Default::default(),
            }),
        )
        .await;
        match quoted {
            // Whether the shop offers pickup is the checkout's to say, not the quantity's.
            Err(error) if error.code == "delivery_method_disabled" => Ok(line),
            Err(error) => Err(error),
            Ok(_) => Ok(line),
        }
    }
    .await;
    match checked {
        Ok(line) => visit.redirect(&format!(
            "/checkout?sku_id={}&qty={}",
            line.sku_id.0, line.qty
        )),
        Err(error) => refused(&shop, &visit, &form, error).await,
    }
}
