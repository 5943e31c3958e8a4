//! 购物车: the cart page and its forms. Each goes through the cart's own JSON handlers
//! (`cart::get`, `cart::set`, `cart::remove`), so the page shows what the API says, notices of
//! changed prices, short stock and delisted goods included, and a member who may not buy is
//! refused as the API refuses him.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};

use super::goods::{QtyForm, id_of, qty_of};
use super::{Page, Visit};
use crate::edge::extract::{Multipart, Path};
use crate::edge::json::ApiJson;
use crate::error::ApiError;
use crate::ids::SkuId;
use crate::orders::cart::{self, CartQuantity};
use crate::shop::Shop;
use crate::themes::views::{CartPageView, FormError, QtyError, QuickOrderView};

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

/// `GET /quick-order`: the form to paste codes and quantities or upload a file.
pub async fn quick_order_form(visit: Visit) -> Page {
    let view = visit.actor().map(|_| QuickOrderView {
        pasted: String::new(),
        rows: Vec::new(),
        error: None,
    });
    visit.show(view)
}

/// The 2007+ Excel workbook's content type, which `cart::quick_order` reads as a workbook.
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// `POST /quick-order` (multipart: `pasted`, rows of `code quantity`; or `file`, CSV or
/// .xlsx): through `cart::quick_order`, every row checked first; on to the cart, or the form
/// again with the refused rows (nothing added).
pub async fn quick_order(
    State(shop): State<Shop>,
    visit: Visit,
    form: Result<Multipart, ApiError>,
) -> Page {
    let mut pasted = String::new();
    let done = async {
        let actor = visit.actor()?;
        let mut form = form?;
        let mut file = None;
        while let Some(field) = form.next_field().await? {
            match field.name().unwrap_or_default() {
                "pasted" => pasted = crate::edge::json::form_text(field).await?,
                "file" => {
                    let is_workbook = field
                        .file_name()
                        .is_some_and(|name| name.to_ascii_lowercase().ends_with(".xlsx"));
                    if let Some(bytes) = crate::edge::json::form_file(field).await? {
                        file = Some((is_workbook, bytes));
                    }
                }
                other => crate::edge::json::unknown_form_field(other)?,
            }
        }
        let (content_type, body) = match file {
            Some((true, bytes)) => (XLSX, bytes),
            Some((false, bytes)) => ("text/csv", bytes),
            None => ("text/plain; charset=utf-8", Bytes::from(pasted.clone())),
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        cart::quick_order(State(shop.clone()), actor, headers, body).await
    }
    .await;
    match done {
        Ok(_) => visit.redirect("/cart?notice=cart_updated"),
        // A refusal of what was pasted or uploaded: the form again, the rows by their errors.
        Err(error) if error.field.is_some() => {
            let rows = error
                .details
                .as_ref()
                .and_then(|d| serde_json::from_value(d["rows"].clone()).ok())
                .unwrap_or_default();
            visit.show_with(
                error.status,
                &QuickOrderView {
                    pasted,
                    rows,
                    error: Some(FormError::of("quick_order", &error)),
                },
            )
        }
        Err(error) => visit.show::<QuickOrderView>(Err(error)),
    }
}
