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
use crate::edge::json::{ApiJson, OptionalJson};
use crate::error::ApiError;
use crate::ids::OrderId;
use crate::orders::after_sales;
use crate::orders::cart;
use crate::orders::confirmation::{Confirmation, LineChange};
use crate::orders::fulfilment::{self, DispatchInput, StatusChange};
use crate::orders::lifecycle::{self, Cancellation, Reason};
use crate::orders::machine::{Action, Party, open_moves, parties};
use crate::orders::payments;
use crate::orders::payments::{PaymentBody, PaymentNote};
use crate::orders::queries::{self, OrderQuery};
use crate::orders::record::OrderView;
use crate::orders::{Audience, OrderStatus};
use crate::settings::PaymentMethod;
use crate::shop::Shop;
use crate::themes::views::{
    DriverChoice, FormError, OrderActions, OrderPageView, OrdersView, PickupChoice, PickupView,
    StatusChoice,
};

#[derive(Debug, Default, Deserialize)]
pub struct Tab {
    /// A status code (`pending_confirmation` …); absent or unknown: every order.
    pub status: Option<String>,
    /// Staff's search: an order number, or part of the member's name, shop, phone or PO.
    pub q: Option<String>,
}

/// `GET /orders?status=`: my orders, a tab per status with its count, newest first.
pub async fn list(State(shop): State<Shop>, visit: Visit, Query(tab): Query<Tab>) -> Page {
    let view = async {
        let actor = visit.actor()?;
        let current = tab.status.as_deref().and_then(OrderStatus::from_db);
        let q = tab.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
        let (counts, page) = tokio::join!(
            queries::counts(State(shop.clone()), actor.clone()),
            queries::list(
                State(shop.clone()),
                actor,
                Query(OrderQuery {
                    status: current,
                    q: q.clone(),
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
            q,
            orders: page.items,
        })
    }
    .await;
    visit.show(view)
}

/// What the viewer may do to the order now: the state machine's moves open to his parties
/// from its status (`machine::open_moves`), and the member's forms that only make sense in
/// some states. Nothing here decides who may: a form offered is a move the table lists for him,
/// and its handler asks the table again.
fn actions(
    order: &OrderView,
    member: bool,
    moves: &[(Action, OrderStatus)],
    settles: bool,
) -> OrderActions {
    let may = |action: Action| moves.iter().any(|(a, _)| *a == action);
    let received = matches!(order.status, OrderStatus::Received | OrderStatus::Completed);
    OrderActions {
        cancel: may(Action::Cancelled),
        // With a driver, his photos of the signed note are the receipt (E3).
        confirm_receipt: order.fulfilment.driver.is_none() && may(Action::ReceiptConfirmed),
        // Payment follows confirmation (E9), until the order is paid.
        upload_receipt: member
            && !matches!(
                order.status,
                OrderStatus::PendingConfirmation | OrderStatus::Closed
            )
            && order.paid_fen < order.total_fen,
        after_sales: member && received && !order.after_sales_open,
        review: member && received,
        reorder: member,
        confirm: may(Action::Confirmed),
        reject: may(Action::Rejected),
        dispatch: may(Action::Dispatched),
        ready_for_pickup: may(Action::ReadyForPickup),
        start_delivery: may(Action::DeliveryStarted),
        deliver: may(Action::Delivered),
        change_status: moves
            .iter()
            .filter(|(action, _)| *action == Action::StatusChanged)
            .map(|(_, to)| StatusChoice {
                status: *to,
                label: to.label(Audience::Business),
            })
            .collect(),
        // Money and holds are not moves of the state machine: those who settle orders (the
        // permission both handlers ask), in the states the handlers' own predicates accept.
        mark_paid: settles
            && crate::orders::payments::takes_payment(order.status)
            && order.paid_fen < order.total_fen,
        release_hold: settles
            && crate::orders::lifecycle::hold_releasable(order.credit_hold, order.status),
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
    // What `queries::get` answers this caller, and the record his moves are read from.
    let (record, scope) = lifecycle::scoped_order(shop, &actor, id).await?;
    let order = record.view(scope.audience());
    let member = parties(&actor, &record).contains(&Party::Member);
    let settles = actor.has(crate::accounts::permissions::Permission::SettleOrders);
    let may = actions(&order, member, &open_moves(&actor, &record), settles);
    // F1: where to transfer, on the member's own order that is paid by bank transfer and owed
    // (the public shop profile leaves the account out).
    let bank_account = (may.upload_receipt
        && order.payment_method == PaymentMethod::BankTransfer
        && !visit.settings.bank_account.account_number.is_empty())
    .then(|| visit.settings.bank_account.clone());
    let drivers = if may.dispatch {
        region_drivers(shop, &actor, order.region_id).await?
    } else {
        Vec::new()
    };
    let pickup_points = if may.ready_for_pickup {
        let axum::Json(points) =
            crate::orders::pickup::list(State(shop.clone()), actor.clone()).await?;
        points
            .into_iter()
            .map(|p| PickupChoice {
                id: p.id,
                name: p.name,
                address: p.address,
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(OrderPageView {
        pickup_qr: pickup_qr(&order)?,
        may,
        bank_account,
        drivers,
        pickup_points,
        order,
        error,
    })
}

/// The drivers of the order's region as the team list shows them to the caller (`staff::team`,
/// scoped by his regions): whom he may dispatch it to.
async fn region_drivers(
    shop: &Shop,
    actor: &Actor,
    region_id: Option<i64>,
) -> Result<Vec<DriverChoice>, ApiError> {
    let axum::Json(team) = crate::staff::team(
        State(shop.clone()),
        actor.clone(),
        Query(crate::staff::StaffQuery {
            role: Some(crate::accounts::Role::Driver),
            region_id,
        }),
    )
    .await?;
    Ok(team
        .into_iter()
        .filter(|driver| !driver.disabled)
        .map(|driver| DriverChoice {
            id: driver.id,
            name: driver.name,
            plate: driver.vehicle_plate,
        })
        .collect())
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

/// A url-encoded form's fields by name (the last of a name wins).
fn fields(body: &[u8]) -> std::collections::BTreeMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The confirm form as `lifecycle::confirm` takes it: each line's quantity (`qty_<line>`) and
/// price of one item in yuan (`price_<line>`) as the confirmer left them, a change where they
/// differ from the order's, every change with the form's `reason`; `remark` for the history.
/// A quantity or price that does not parse is refused naming its field.
fn confirmation(
    order: &crate::orders::record::OrderRecord,
    form: &std::collections::BTreeMap<String, String>,
) -> Result<Confirmation, ApiError> {
    let reason = form.get("reason").map_or("", |r| r.trim()).to_owned();
    let mut changes = Vec::new();
    for line in &order.lines {
        let line = &line.line;
        let qty_field = format!("qty_{}", line.line_no);
        let qty = match form.get(&qty_field).map(|q| q.trim()) {
            None | Some("") => line.qty,
            Some(text) => text.parse::<i64>().map_err(|_| {
                ApiError::invalid_field(
                    "invalid_quantity",
                    &qty_field,
                    format!("{qty_field}: 请填写整数数量 (a whole number)"),
                )
            })?,
        };
        let price_field = format!("price_{}", line.line_no);
        let price = match form.get(&price_field).map(|p| p.trim()) {
            None | Some("") => line.list_price_fen,
            Some(text) => crate::money::parse_yuan(text, &price_field)?,
        };
        if qty != line.qty || price != line.list_price_fen {
            changes.push(LineChange {
                line_no: line.line_no,
                qty: (qty != line.qty).then_some(qty),
                unit_price_fen: (price != line.list_price_fen).then_some(price),
                reason: reason.clone(),
            });
        }
    }
    Ok(Confirmation {
        changes,
        delivery_method: None,
        delivery_reason: None,
        remark: form.get("remark").map_or("", |r| r.trim()).to_owned(),
    })
}

/// `POST /orders/{id}/confirm` (`qty_<line>`, `price_<line>`, `reason`, `remark`): the
/// confirmer's 确认 through `lifecycle::confirm` (D5).
pub async fn confirm(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
    body: Bytes,
) -> Page {
    let form = fields(&body);
    let app = shop.clone();
    act(
        &shop,
        &visit,
        path,
        "confirm",
        Then::Order("order_confirmed"),
        |actor, id| async move {
            let (order, _) = lifecycle::scoped_order(&app, &actor, id).await?;
            let input = OptionalJson(confirmation(&order, &form)?);
            lifecycle::confirm(State(app), actor, Path(id), input).await
        },
    )
    .await
}

/// `POST /orders/{id}/reject` (`reason`): `lifecycle::reject` (D5).
pub async fn reject(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
    body: Bytes,
) -> Page {
    let reason = fields(&body).remove("reason").unwrap_or_default();
    act(
        &shop,
        &visit,
        path,
        "reject",
        Then::Order("order_rejected"),
        |actor, id| {
            lifecycle::reject(
                State(shop.clone()),
                actor,
                Path(id),
                ApiJson(Reason { reason }),
            )
        },
    )
    .await
}

/// The dispatch form as `fulfilment::dispatch` takes it: `method` (`driver`, `express`,
/// `logistics`, `other`), `driver_id`, `carrier`, `tracking_no`, `expected_date`, `remark`.
fn dispatch_input(
    form: &std::collections::BTreeMap<String, String>,
) -> Result<DispatchInput, ApiError> {
    let text = |name: &str| form.get(name).map_or("", |v| v.trim()).to_owned();
    let method = fulfilment::Shipment::from_db(&text("method")).ok_or_else(|| {
        ApiError::invalid_field(
            "invalid_input",
            "method",
            "method: 请选择发货方式 (choose how it leaves)",
        )
    })?;
    let driver_id = match text("driver_id").as_str() {
        "" => None,
        id => Some(id.parse::<i64>().map_err(|_| {
            ApiError::invalid_field(
                "unknown_driver",
                "driver_id",
                "driver_id: 请选择司机 (choose a driver)",
            )
        })?),
    };
    let expected_date = Some(text("expected_date")).filter(|d| !d.is_empty());
    Ok(DispatchInput {
        method,
        driver_id,
        carrier: text("carrier"),
        tracking_no: text("tracking_no"),
        expected_date,
        remark: text("remark"),
        split_backorders: text("split_backorders") == "true",
    })
}

/// `POST /orders/{id}/dispatch`: to a driver or by a carrier, through `fulfilment::dispatch`
/// (E2).
pub async fn dispatch(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
    body: Bytes,
) -> Page {
    let input = dispatch_input(&fields(&body));
    let app = shop.clone();
    act(
        &shop,
        &visit,
        path,
        "dispatch",
        Then::Order("order_dispatched"),
        |actor, id| async move {
            fulfilment::dispatch(State(app), actor, Path(id), ApiJson(input?)).await
        },
    )
    .await
}

/// `POST /orders/{id}/start-delivery`: the assigned driver sets out (`fulfilment::start_delivery`, E3).
pub async fn start_delivery(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
) -> Page {
    act(
        &shop,
        &visit,
        path,
        "start_delivery",
        Then::Order("delivery_started"),
        |actor, id| fulfilment::start_delivery(State(shop.clone()), actor, Path(id)),
    )
    .await
}

/// `POST /orders/{id}/delivered` (multipart: `photo`…, `remark`): the driver's photos of the
/// signed note through `fulfilment::delivered` (E3).
pub async fn delivered(
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
        "deliver",
        Then::Order("order_delivered"),
        |actor, id| async move { fulfilment::delivered(State(app), actor, Path(id), form?).await },
    )
    .await
}

/// `POST /orders/{id}/status` (`status`, `remark`): customer service moves the order on or
/// closes it, through `fulfilment::change_status` (E6).
pub async fn change_status(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
    body: Bytes,
) -> Page {
    let mut form = fields(&body);
    let input = form
        .remove("status")
        .as_deref()
        .and_then(OrderStatus::from_db)
        .map(|status| StatusChange {
            status,
            remark: form.remove("remark").unwrap_or_default(),
        })
        .ok_or_else(|| {
            ApiError::invalid_field(
                "invalid_input",
                "status",
                "status: 请选择状态 (choose a status)",
            )
        });
    let app = shop.clone();
    act(
        &shop,
        &visit,
        path,
        "status",
        Then::Order("status_changed"),
        |actor, id| async move {
            fulfilment::change_status(State(app), actor, Path(id), ApiJson(input?)).await
        },
    )
    .await
}

/// `POST /orders/{id}/payments` (`amount` in yuan, `remark`): money received, through
/// `payments::mark_paid` (F1).
pub async fn mark_paid(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
    body: Bytes,
) -> Page {
    let form = fields(&body);
    let note = crate::money::parse_yuan(form.get("amount").map_or("", |a| a.trim()), "amount").map(
        |amount_fen| PaymentNote {
            amount_fen,
            remark: form.get("remark").cloned().unwrap_or_default(),
        },
    );
    let app = shop.clone();
    act(
        &shop,
        &visit,
        path,
        "mark_paid",
        Then::Order("payment_recorded"),
        |actor, id| async move {
            payments::mark_paid(State(app), actor, Path(id), PaymentBody::Json(note?)).await
        },
    )
    .await
}

/// `POST /orders/{id}/release-hold` (`reason`): through `lifecycle::release_hold` (B6).
pub async fn release_hold(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
    body: Bytes,
) -> Page {
    let reason = fields(&body).remove("reason").unwrap_or_default();
    let app = shop.clone();
    act(
        &shop,
        &visit,
        path,
        "release_hold",
        Then::Order("hold_released"),
        |actor, id| async move {
            lifecycle::release_hold(State(app), actor, Path(id), ApiJson(Reason { reason })).await
        },
    )
    .await
}

/// `POST /orders/{id}/ready-for-pickup` (`pickup_point_id`, `split_backorders`): set aside at
/// a point for the member to collect, through `pickup::ready` (E5).
pub async fn ready_for_pickup(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
    body: Bytes,
) -> Page {
    let form = fields(&body);
    let input = form
        .get("pickup_point_id")
        .and_then(|id| id.trim().parse::<i64>().ok())
        .map(|pickup_point_id| crate::orders::pickup::ReadyForPickup {
            pickup_point_id,
            split_backorders: form.get("split_backorders").is_some_and(|v| v == "true"),
        })
        .ok_or_else(|| {
            ApiError::invalid_field(
                "invalid_input",
                "pickup_point_id",
                "pickup_point_id: 请选择自提点 (choose a pickup point)",
            )
        });
    let app = shop.clone();
    act(
        &shop,
        &visit,
        path,
        "ready_for_pickup",
        Then::Order("order_ready"),
        |actor, id| async move {
            crate::orders::pickup::ready(State(app), actor, Path(id), ApiJson(input?)).await
        },
    )
    .await
}

/// `GET /pickup`: the verifier's desk (核销), a field for the member's pickup code, typed or
/// scanned from his QR code.
pub async fn pickup_desk(visit: Visit) -> Page {
    // The verifier's desk alone: the permission `pickup::verify` asks when the code comes.
    let view = visit
        .actor()
        .and_then(|actor| actor.require(crate::accounts::permissions::Permission::VerifyPickups))
        .map(|()| PickupView {
            code: String::new(),
            order: None,
            error: None,
        });
    visit.show(view)
}

/// `POST /pickup` (`code`): hands the order with this code over at the verifier's point,
/// through `pickup::verify` (E5), then shows what to hand over; a refusal shows the form again
/// with the code as typed.
pub async fn hand_over(State(shop): State<Shop>, visit: Visit, body: Bytes) -> Page {
    let code = fields(&body).remove("code").unwrap_or_default();
    let done = match visit.actor() {
        Ok(actor) => {
            crate::orders::pickup::verify(
                State(shop.clone()),
                actor,
                ApiJson(crate::orders::pickup::PickupCode { code: code.clone() }),
            )
            .await
        }
        Err(error) => Err(error),
    };
    let done = done.map(|axum::Json(order)| PickupView {
        code: String::new(),
        order: Some(order),
        error: None,
    });
    visit.show_form(done, |error| PickupView {
        error: Some(FormError::of("pickup", error)),
        code,
        order: None,
    })
}
