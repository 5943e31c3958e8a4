//! 我的订单: my orders by status, one order with its history and delivery, and what I can do
//! to it (cancel, confirm receipt, upload a transfer receipt, ask for after-sales, review, 再来一单).
//! Each page and form goes through the orders' own JSON handlers (`queries::list`,
//! `queries::counts`, `queries::get`, `lifecycle::cancel` …), so what a member sees and may do
//! is what the API shows and allows him; the buttons offered are read from the state machine's
//! table (`orders::machine`), not decided here.

use std::future::Future;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use serde::Deserialize;

use super::{Page, Visit};
use crate::accounts::permissions::Actor;
use crate::edge::extract::{Multipart, Path, Query};
use crate::edge::json::OptionalJson;
use crate::error::ApiError;
use crate::ids::OrderId;
use crate::orders::OrderStatus;
use crate::orders::after_sales;
use crate::orders::cart;
use crate::orders::fulfilment;
use crate::orders::lifecycle::{self, Cancellation};
use crate::orders::machine::{Action, Party, allowed};
use crate::orders::payments;
use crate::orders::queries::{self, OrderQuery};
use crate::orders::record::OrderView;
use crate::settings::PaymentMethod;
use crate::shop::Shop;
use crate::themes::views::{FormError, OrderActions, OrderPageView, OrdersView};

#[derive(Debug, Default, Deserialize)]
pub struct Tab {
    /// A status code (`pending_confirmation` …); absent or unknown: every order.
    pub status: Option<String>,
}

/// `GET /orders?status=`: my orders, a tab per status with its count, newest first.
pub async fn list(State(shop): State<Shop>, visit: Visit, Query(tab): Query<Tab>) -> Page {
    let view = async {
        let actor = visit.actor()?;
        let current = tab.status.as_deref().and_then(OrderStatus::from_db);
        let (counts, page) = tokio::join!(
            queries::counts(State(shop.clone()), actor.clone()),
            queries::list(
                State(shop.clone()),
                actor,
                Query(OrderQuery {
                    status: current,
                    limit: i64::try_from(crate::themes::views::MAX_LISTED).ok(),
                    ..OrderQuery::default()
                }),
            )
        );
        let axum::Json(tabs) = counts?;
        let page = page?;
        Ok(OrdersView {
            all_count: tabs.iter().map(|t| t.count).sum(),
            tabs,
            current,
            orders: page.items,
        })
    }
    .await;
    visit.show(view)
}

/// What the member may do to his order now: the state machine's moves open to a member from
/// its status, and the forms that only make sense in some states.
fn actions(order: &OrderView) -> OrderActions {
    let member = [Party::Member];
    let received = matches!(order.status, OrderStatus::Received | OrderStatus::Completed);
    OrderActions {
        cancel: allowed(
            Action::Cancelled,
            order.status,
            OrderStatus::Closed,
            &member,
        ),
        // With a driver, his photos of the signed note are the receipt (E3).
        confirm_receipt: order.fulfilment.driver.is_none()
            && allowed(
                Action::ReceiptConfirmed,
                order.status,
                OrderStatus::Received,
                &member,
            ),
        // Payment follows confirmation (E9), until the order is paid.
        upload_receipt: !matches!(
            order.status,
            OrderStatus::PendingConfirmation | OrderStatus::Closed
        ) && order.paid_fen < order.total_fen,
        after_sales: received && !order.after_sales_open,
        review: received,
        reorder: true,
    }
}

/// The pickup code as a picture to show at the point: an SVG QR code in a `data:` URL.
fn pickup_qr(order: &OrderView) -> Result<Option<String>, ApiError> {
    let Some(code) = &order.fulfilment.pickup_code else {
        return Ok(None);
    };
    let svg = crate::orders::paper::qr_svg(code)?;
    Ok(Some(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    )))
}

async fn order_view(
    shop: &Shop,
    visit: &Visit,
    id: OrderId,
    error: Option<FormError>,
) -> Result<OrderPageView, ApiError> {
    let actor = visit.actor()?;
    let axum::Json(order) = queries::get(State(shop.clone()), actor, Path(id)).await?;
    let may = actions(&order);
    // F1: where to transfer, on the member's own order that is paid by bank transfer and owed
    // (the public shop profile leaves the account out).
    let bank_account = (may.upload_receipt
        && order.payment_method == PaymentMethod::BankTransfer
        && !visit.settings.bank_account.account_number.is_empty())
    .then(|| visit.settings.bank_account.clone());
    Ok(OrderPageView {
        pickup_qr: pickup_qr(&order)?,
        may,
        bank_account,
        order,
        error,
    })
}

fn order_id(path: Result<Path<i64>, ApiError>) -> Result<OrderId, ApiError> {
    super::goods::id_of(path).map(OrderId)
}

/// `GET /orders/{id}`: one of my orders (404 for anyone else's, as the API answers).
pub async fn show(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
) -> Page {
    let view = async { order_view(&shop, &visit, order_id(path)?, None).await }.await;
    visit.show(view)
}

/// Where a form on an order's page goes once done.
enum Then {
    /// Back to the order, with this notice.
    Order(&'static str),
    /// To the cart (再来一单).
    Cart,
}

/// A form on an order's page: `action` done with the caller and the order's id, then on as
/// `then` says, or the page again with the refusal by the form it came from (`form`:
/// `cancel`, `receipt`, `after_sales` …).
async fn act<T, Done>(
    shop: &Shop,
    visit: &Visit,
    path: Result<Path<i64>, ApiError>,
    form: &'static str,
    then: Then,
    action: impl FnOnce(Actor, OrderId) -> Done,
) -> Page
where
    Done: Future<Output = Result<T, ApiError>>,
{
    let id = match order_id(path) {
        Ok(id) => id,
        Err(error) => return visit.show::<OrderPageView>(Err(error)),
    };
    let done = match visit.actor() {
        Ok(actor) => action(actor, id).await,
        Err(error) => Err(error),
    };
    match done {
        Ok(_) => match then {
            Then::Cart => visit.redirect("/cart?notice=reordered"),
            Then::Order(notice) => {
                visit.redirect(&format!("/orders/{id}?notice={notice}", id = id.0))
            }
        },
        Err(error) => {
            let status = error.status;
            match order_view(shop, visit, id, Some(FormError::of(form, &error))).await {
                // A refusal about the order itself (gone, not mine) is the page's own error.
                Ok(view) if status != StatusCode::NOT_FOUND => visit.show_with(status, &view),
                Ok(_) => visit.show::<OrderPageView>(Err(error)),
                Err(other) => visit.show::<OrderPageView>(Err(other)),
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct CancelForm {
    #[serde(default)]
    reason: String,
}

/// `POST /orders/{id}/cancel` (`reason`): `lifecycle::cancel`.
pub async fn cancel(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
    body: Bytes,
) -> Page {
    let form: CancelForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let reason = OptionalJson(Cancellation {
        reason: form.reason.trim().to_owned(),
    });
    act(
        &shop,
        &visit,
        path,
        "cancel",
        Then::Order("order_cancelled"),
        |actor, id| lifecycle::cancel(State(shop.clone()), actor, Path(id), reason),
    )
    .await
}

/// `POST /orders/{id}/receive`: `fulfilment::confirm_receipt` (E4).
pub async fn receive(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
) -> Page {
    act(
        &shop,
        &visit,
        path,
        "receive",
        Then::Order("order_received"),
        |actor, id| fulfilment::confirm_receipt(State(shop.clone()), actor, Path(id)),
    )
    .await
}

/// `POST /orders/{id}/reorder`: 再来一单 through `cart::reorder`, then the cart.
pub async fn reorder(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
) -> Page {
    act(&shop, &visit, path, "reorder", Then::Cart, |actor, id| {
        cart::reorder(State(shop.clone()), actor, Path(id))
    })
    .await
}

/// `POST /orders/{id}/receipt` (multipart: `proof`, `amount_fen`, `remark`): a transfer
/// receipt through `payments::upload_receipt` (F1).
pub async fn upload_receipt(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
    form: Result<Multipart, ApiError>,
) -> Page {
    let app = shop.clone();
    act(&shop, &visit, path, "receipt", Then::Order("receipt_uploaded"), |actor, id| async move {
        payments::upload_receipt(State(app), actor, Path(id), form?).await
    })
    .await
}

/// `POST /orders/{id}/after-sales` (multipart: `kind`, `reason`, `photo`…): a request through
/// `after_sales::request` (E8).
pub async fn request_after_sales(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
    form: Result<Multipart, ApiError>,
) -> Page {
    let app = shop.clone();
    act(
        &shop,
        &visit,
        path,
        "after_sales",
        Then::Order("after_sales_requested"),
        |actor, id| async move { after_sales::request(State(app), actor, Path(id), form?).await },
    )
    .await
}

/// `POST /orders/{id}/review` (multipart: `product_id`, `rating`, `body`, `photo`…): a review
/// of a product of the order through `reviews::create` (C7).
pub async fn review(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
    form: Result<Multipart, ApiError>,
) -> Page {
    let app = shop.clone();
    act(&shop, &visit, path, "review", Then::Order("reviewed"), |actor, id| async move {
        crate::reviews::create(State(app), actor, Path(id.0), form?).await
    })
    .await
}
