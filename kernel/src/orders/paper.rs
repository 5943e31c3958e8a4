//! Paper (E10): the printable delivery note (出库签收单) of an order, with its number as a QR
//! code, for the driver to take and the customer to sign; and the picking list of a region's
//! day. Both are HTML for the browser's print dialog, rendered by minijinja from templates
//! compiled into the binary (`kernel/templates/`), escaped as HTML.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::lifecycle::scoped_order;
use super::queries::OrderFilter;
use super::record::OrderRecord;
use super::{OrderScope, OrderStatus};
use crate::accounts::permissions::{Actor, Permission};
use crate::edge::extract::{Path, Query};
use crate::error::{ApiError, ApiResult};
use crate::ids::{OrderId, SkuId};
use crate::money::format_yuan;
use crate::quantity::Quantity;
use crate::shop::Shop;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        (
            "delivery_note.html",
            include_str!("../../templates/delivery_note.html"),
        ),
        (
            "picking_list.html",
            include_str!("../../templates/picking_list.html"),
        ),
    ] {
        if let Err(err) = env.add_template(name, source) {
            tracing::error!(template = name, error = %err, "a paper template does not compile");
        }
    }
    env
});

fn render(name: &str, data: Value) -> ApiResult<Response> {
    let html = TEMPLATES
        .get_template(name)
        .and_then(|t| t.render(data))
        .map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

/// `text` as an SVG QR code: the order number to scan at the door, the pickup code to show
/// at the point.
pub fn qr_svg(text: &str) -> ApiResult<String> {
    let qr = qrcode::QrCode::new(text.as_bytes()).map_err(ApiError::internal)?;
    Ok(qr
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(120, 120)
        .build())
}

/// A line's model and spec as one printed column (either may be empty).
fn model_and_spec(line: &super::quote::QuotedLine) -> String {
    [line.model.as_str(), line.spec.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Serialize)]
struct NoteLine {
    line_no: i64,
    item_no: String,
    name: String,
    spec: String,
    unit: String,
    qty: i64,
    /// Not in this shipment: owed, or sent with a follow-up order (补发单).
    later: i64,
    total: String,
}

/// A printable delivery note for the order (E10): HTML with the number as a QR code.
#[utoipa::path(get, path = "/orders/{id}/delivery-note", tag = "fulfilment", params(("id" = i64, Path)),
    responses((status = 200, content_type = "text/html", body = String)), security(("bearer" = [])))]
pub async fn delivery_note(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<OrderId>,
) -> ApiResult<Response> {
    let (order, scope) = scoped_order(&app, &actor, id).await?;
    let settings = app.store.settings().current().await?;
    let view = order.view(scope.audience());
    let address = order
        .address
        .clone()
        .unwrap_or_else(|| super::record::OrderAddress {
            province: String::new(),
            city: String::new(),
            district: String::new(),
            detail: "自提".to_owned(),
            contact_name: order.member_name.clone(),
            phone: String::new(),
        });
    let lines: Vec<NoteLine> = order
        .lines
        .iter()
        .map(|l| NoteLine {
            line_no: l.line.line_no,
            item_no: l.line.item_no.clone(),
            name: l.line.name.clone(),
            spec: model_and_spec(&l.line),
            unit: l.line.unit_label.clone(),
            qty: l.ships().get(),
            later: l.line.qty - l.ships().get(),
            total: format_yuan(l.line.line_total_fen),
        })
        .collect();
    let shipment = match (&order.fulfilment.driver, order.fulfilment.shipment) {
        (Some(driver), _) => format!("司机 {} {}", driver.name, driver.phone),
        (None, Some(shipment)) => format!(
            "{} {} {}",
            shipment.label(),
            order.fulfilment.carrier,
            order.fulfilment.tracking_no
        ),
        (None, None) => order.delivery_method.label().to_owned(),
    };
    render(
        "delivery_note.html",
        context! {
            shop_name => settings.shop_name,
            order => Value::from(Serde(&view)),
            placed_on => crate::clock::shop_date_iso(order.placed_at),
            contact => address.contact_name,
            phone => address.phone,
            address => format!("{}{}{}{}", address.province, address.city, address.district, address.detail),
            shipment => shipment,
            lines => Value::from(Serde(&lines)),
            items => order.lines.iter().map(|l| l.ships()).sum::<Quantity>().get(),
            shipping => format_yuan(order.shipping_fen.get()),
            adjustments => format_yuan(order.adjustments_fen.get()),
            total => format_yuan(order.total_fen.get()),
            to_collect => format_yuan(order.owed().get()),
            qr => Value::from_safe_string(qr_svg(&order.number())?),
        },
    )
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PickingQuery {
    pub region_id: i64,
    /// The shop date to pick for (`2026-12-01`).
    pub date: String,
}

#[derive(Serialize)]
struct PickItem {
    item_no: String,
    name: String,
    spec: String,
    unit: String,
    qty: i64,
    orders: Vec<String>,
}

/// What to pick for the orders going out: every order of the region waiting for dispatch
/// (待发货) that is wanted by that day (no requested date, or one on or before it).
fn picking_items(orders: &[OrderRecord]) -> Vec<PickItem> {
    let mut items: BTreeMap<SkuId, PickItem> = BTreeMap::new();
    for order in orders {
        for line in &order.lines {
            let item = items.entry(line.line.sku_id).or_insert_with(|| PickItem {
                item_no: line.line.item_no.clone(),
                name: line.line.name.clone(),
                spec: model_and_spec(&line.line),
                unit: line.line.unit_label.clone(),
                qty: 0,
                orders: Vec::new(),
            });
            item.qty += line.ships().get();
            item.orders.push(order.number());
        }
    }
    let mut items: Vec<PickItem> = items.into_values().collect();
    items.sort_by(|a, b| a.item_no.cmp(&b.item_no));
    items
}

/// The picking list of a region's day (E10): every SKU to take from the shelves, with its
/// total and the orders it goes to. Admin and customer service; a manager for his regions.
#[utoipa::path(get, path = "/admin/picking-list", tag = "fulfilment", params(PickingQuery),
    responses((status = 200, content_type = "text/html", body = String), (status = 404, description = "`not_found`", body = crate::error::ErrorBody), (status = 422, description = "`invalid_date`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn picking_list(
    State(app): State<Shop>,
    actor: Actor,
    Query(query): Query<PickingQuery>,
) -> ApiResult<Response> {
    let all = actor.has(Permission::ConfirmAnyOrder);
    if !all && !actor.has(Permission::ConfirmOwnOrders) {
        return Err(ApiError::forbidden());
    }
    if !all && !actor.region_ids.contains(&query.region_id) {
        return Err(ApiError::not_found());
    }
    let date = crate::clock::parse_shop_date(&query.date)
        .map(crate::clock::shop_date_iso)
        .ok_or_else(|| {
            ApiError::invalid_field(
                "invalid_date",
                "date",
                "date: 日期格式为 2026-12-01 (a date like 2026-12-01)",
            )
        })?;
    let region = app
        .store
        .regions()
        .list_regions()
        .await?
        .into_iter()
        .find(|r| r.id == query.region_id)
        .ok_or_else(ApiError::not_found)?;
    let filter = OrderFilter {
        statuses: vec![OrderStatus::AwaitingDispatch],
        region_id: Some(query.region_id),
        limit: 1_000,
        ..OrderFilter::scoped(OrderScope::All)
    };
    let mut orders = app.store.orders().list_orders(&filter).await?.items;
    orders.retain(|o| {
        o.requested_date
            .as_deref()
            .is_none_or(|d| d <= date.as_str())
    });
    orders.sort_by_key(|o| o.id);
    let settings = app.store.settings().current().await?;
    render(
        "picking_list.html",
        context! {
            shop_name => settings.shop_name,
            region => region.name,
            date => date,
            orders => orders.iter().map(OrderRecord::number).collect::<Vec<_>>(),
            items => Value::from(Serde(picking_items(&orders))),
        },
    )
}
