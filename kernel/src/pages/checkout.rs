//! 结算: the checkout page, placing the order and its confirmation. The page shows what the
//! cart, the address book and the quote handlers give (`cart::get`, `addresses::list`,
//! `checkout::quote`); the order goes through `checkout::place` with the idempotency key the
//! page was rendered with, so a double tap makes one order.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use rand::RngCore;
use serde::Deserialize;

use super::{Page, Visit};
use crate::accounts::permissions::Actor;
use crate::edge::extract::{Path, Query};
use crate::edge::json::ApiJson;
use crate::error::ApiError;
use crate::ids::{OrderId, SkuId};
use crate::members::addresses;
use crate::orders::DeliveryMethod;
use crate::orders::cart;
use crate::orders::checkout::{self, IDEMPOTENCY_HEADER, QuoteInput};
use crate::orders::pipeline::Pipeline;
use crate::orders::quote::{LineRequest, PluginOptions};
use crate::settings::PaymentMethod;
use crate::shop::Shop;
use crate::themes::views::{CheckoutChoice, CheckoutView, OrderPlacedView, QuoteTotals};

#[derive(Debug, Default, Deserialize)]
pub struct Choice {
    /// `ship`, `pickup`, `ship_to_terminal`; absent: the first the shop offers.
    pub delivery: Option<String>,
    /// One of my addresses to quote for; absent or not mine: the default.
    pub address_id: Option<i64>,
    /// 立即下单: this SKU in this quantity instead of the cart.
    pub sku_id: Option<i64>,
    pub qty: Option<i64>,
    /// What the member chose for the plugins: the `opt.<plugin>.<field>` parameters, read
    /// apart (`plugin_options_of`).
    #[serde(skip)]
    pub plugin_options: PluginOptions,
}

/// The plugins' choices of a checkout form or query: each `opt.<plugin>.<field>=<value>` as
/// `plugin_options.<plugin>.<field>`, the value as the text it was (the plugin reads a
/// person's text: `pifa_sdk::input::Fields`); a field sent several times, the last. A plugin
/// name that is none is refused by the quote (`PluginOptions::checked`), naming the field.
pub fn plugin_options_of<'a>(
    pairs: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
) -> PluginOptions {
    let mut options: BTreeMap<String, serde_json::Map<String, serde_json::Value>> = BTreeMap::new();
    for (key, value) in pairs {
        let Some((plugin, field)) = key
            .strip_prefix("opt.")
            .and_then(|rest| rest.split_once('.'))
        else {
            continue;
        };
        if plugin.is_empty() || field.is_empty() {
            continue;
        }
        options.entry(plugin.to_owned()).or_default().insert(
            field.to_owned(),
            serde_json::Value::String(value.into_owned()),
        );
    }
    PluginOptions(
        options
            .into_iter()
            .map(|(plugin, fields)| (plugin, serde_json::Value::Object(fields)))
            .collect(),
    )
}

/// The same choices as query parameters (`&opt.coupons.coupon_id=12`), for the page's links
/// and its 更新.
fn options_query(options: &PluginOptions) -> Vec<(String, String)> {
    options
        .0
        .iter()
        .flat_map(|(plugin, fields)| {
            fields
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(move |(field, value)| {
                    Some((format!("opt.{plugin}.{field}"), value.as_str()?.to_owned()))
                })
        })
        .collect()
}

impl Choice {
    /// The one line of a 立即下单, if this checkout is one.
    fn buy_now(&self) -> Option<LineRequest> {
        Some(LineRequest {
            sku_id: SkuId(self.sku_id?),
            qty: self.qty?,
        })
    }
}

/// A fresh key for one intended order.
pub fn new_key() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What an order is placed with, as the shop offers it and the page chose: the delivery
/// methods enabled (the one `wanted`, else the first), the address `wanted` from `book` (else
/// the default, else the first), and the payment methods enabled. The checkout page and
/// 代客下单 choose alike.
pub struct Choices {
    pub delivery_methods: Vec<&'static str>,
    pub method: DeliveryMethod,
    pub address_id: Option<i64>,
    pub payment_methods: Vec<&'static str>,
}

impl Choices {
    pub fn of(
        visit: &Visit,
        wanted: Option<&str>,
        book: &[crate::members::addresses::Address],
        wanted_address: Option<i64>,
    ) -> Result<Choices, ApiError> {
        let offered: Vec<DeliveryMethod> = DeliveryMethod::ALL
            .into_iter()
            .filter(|m| m.is_enabled(&visit.settings.delivery))
            .collect();
        let method = wanted
            .and_then(|code| offered.iter().find(|m| m.as_str() == code))
            .or(offered.first())
            .copied()
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "delivery_method_disabled",
                    "delivery",
                    "delivery: 本店未开启配送方式 (no delivery method enabled)",
                )
            })?;
        let address_id = book
            .iter()
            .find(|a| Some(a.id) == wanted_address)
            .or(book.iter().find(|a| a.is_default))
            .or(book.first())
            .map(|a| a.id);
        Ok(Choices {
            delivery_methods: offered.iter().map(|m| m.as_str()).collect(),
            method,
            address_id,
            payment_methods: PaymentMethod::ALL
                .into_iter()
                .filter(|m| m.is_enabled(&visit.settings.payment_methods))
                .map(PaymentMethod::as_str)
                .collect(),
        })
    }
}

/// What the page shows for `delivery` (or the shop's first method): the cart, the addresses,
/// the methods on offer and the quote. `None`: the cart is empty.
async fn checkout_view(
    shop: &Shop,
    pipeline: &Pipeline,
    visit: &Visit,
    actor: &Actor,
    choice: &Choice,
) -> Result<Option<CheckoutView>, ApiError> {
    let delivery = choice.delivery.as_deref();
    let buy_now = choice.buy_now();
    let cart = match buy_now {
        Some(line) => cart::line_for(shop, actor, line).await?,
        None => cart::get(State(shop.clone()), actor.clone()).await?.0,
    };
    if cart.lines.is_empty() {
        return Ok(None);
    }
    let axum::Json(book) = addresses::list(State(shop.clone()), actor.clone()).await?;
    let choices = Choices::of(visit, delivery, &book, choice.address_id)?;
    let method = choices.method;
    let address_id = choices.address_id;
    let quoted = checkout::quote(
        State(shop.clone()),
        State(pipeline.clone()),
        actor.clone(),
        ApiJson(QuoteInput {
            member_id: None,
            lines: buy_now.map(|line| vec![line]),
            delivery_method: method,
            address_id: if method == DeliveryMethod::Pickup {
                None
            } else {
                address_id
            },
            plugin_options: choice.plugin_options.clone(),
        }),
    )
    .await;
    let (quote, error) = match quoted {
        Ok(axum::Json(q)) => (Some(q), None),
        // A quote the member can fix on this page (add an address, pick another method).
        Err(e) if e.field.is_some() => (None, Some(e.code.to_owned())),
        Err(e) => return Err(e),
    };
    Ok(Some(CheckoutView {
        lines: cart.lines,
        addresses: book,
        address_id,
        buy_now,
        delivery_methods: choices.delivery_methods,
        delivery: method.as_str(),
        needs_address: method != DeliveryMethod::Pickup,
        payment_methods: choices.payment_methods,
        offers: quote.as_ref().map(|q| q.offers.clone()).unwrap_or_default(),
        choices: quote
            .as_ref()
            .map(|q| CheckoutChoice::of(&q.choices))
            .unwrap_or_default(),
        quote: quote.as_ref().map(QuoteTotals::of),
        options_query: options_query(&choice.plugin_options)
            .iter()
            .map(|(key, value)| {
                form_urlencoded::Serializer::new("&".to_owned())
                    .append_pair(key, value)
                    .finish()
            })
            .collect(),
        idempotency_key: new_key(),
        error,
        remark: String::new(),
        po_number: String::new(),
        requested_date: String::new(),
    }))
}

/// `GET /checkout?delivery=…`: the order about to be placed; an empty cart goes back to it.
pub async fn form(
    State(shop): State<Shop>,
    State(pipeline): State<Pipeline>,
    visit: Visit,
    uri: axum::http::Uri,
    choice: Result<Query<Choice>, ApiError>,
) -> Page {
    let Query(mut choice) = match choice {
        Ok(choice) => choice,
        Err(error) => return visit.show::<CheckoutView>(Err(error)),
    };
    choice.plugin_options = plugin_options_of(form_urlencoded::parse(
        uri.query().unwrap_or_default().as_bytes(),
    ));
    let view = async {
        let actor = visit.actor()?;
        checkout_view(&shop, &pipeline, &visit, &actor, &choice).await
    }
    .await;
    match view {
        Ok(None) => visit.redirect("/cart"),
        Ok(Some(view)) => visit.show(Ok(view)),
        Err(error) => visit.show::<CheckoutView>(Err(error)),
    }
}

#[derive(Debug, Deserialize)]
struct CheckoutForm {
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    delivery_method: String,
    #[serde(default)]
    payment_method: String,
    address_id: Option<i64>,
    #[serde(default)]
    remark: String,
    /// The member's own purchase order number (采购单号).
    #[serde(default)]
    po_number: String,
    /// A date (`2026-12-10`) or empty.
    #[serde(default)]
    requested_date: String,
    /// 立即下单's one line, when the page was for one.
    sku_id: Option<i64>,
    qty: Option<i64>,
    /// The 更新 button: quote again with the choices made, place nothing.
    #[serde(default)]
    requote: String,
}

/// What the page reads of `checkout::place`'s answer (an `OrderView`).
#[derive(Debug, Deserialize)]
struct PlacedOrder {
    id: i64,
}

/// Places `input` (a `checkout::place` body) for `actor` under the page's idempotency `key`
/// through the API's handler; the new order's id.
pub async fn place_order(
    shop: &Shop,
    pipeline: &Pipeline,
    actor: &Actor,
    key: &str,
    input: &serde_json::Value,
) -> Result<i64, ApiError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        IDEMPOTENCY_HEADER,
        HeaderValue::from_str(key.trim())
            .map_err(|_| ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key"))?,
    );
    let bytes = serde_json::to_vec(input).map_err(ApiError::internal)?;
    let response = checkout::place(
        State(shop.clone()),
        State(pipeline.clone()),
        actor.clone(),
        headers,
        Bytes::from(bytes),
    )
    .await?;
    if !response.status().is_success() {
        return Err(ApiError::new(response.status(), "internal", String::new()));
    }
    let body = axum::body::to_bytes(response.into_body(), 1024 * 1024)
        .await
        .map_err(ApiError::internal)?;
    let order: PlacedOrder = serde_json::from_slice(&body).map_err(ApiError::internal)?;
    Ok(order.id)
}

/// `POST /checkout`: places the order through `checkout::place` with the page's key, then
/// shows its confirmation; a refusal shows the page again with its code.
pub async fn place(
    State(shop): State<Shop>,
    State(pipeline): State<Pipeline>,
    visit: Visit,
    body: Bytes,
) -> Page {
    let actor = match visit.actor() {
        Ok(actor) => actor,
        Err(error) => return visit.show::<CheckoutView>(Err(error)),
    };
    let Ok(form) = serde_urlencoded::from_bytes::<CheckoutForm>(&body) else {
        return visit.show::<CheckoutView>(Err(ApiError::bad_request(
            "invalid_input",
            "表单无法读取 (unreadable form)",
        )));
    };
    let plugin_options = plugin_options_of(form_urlencoded::parse(&body));
    if !form.requote.is_empty() {
        // 更新: the same page quoted for the choices now made (a GET, so it can be reloaded).
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("delivery", &form.delivery_method);
        if let Some(address_id) = form.address_id {
            query.append_pair("address_id", &address_id.to_string());
        }
        if let (Some(sku_id), Some(qty)) = (form.sku_id, form.qty) {
            query.append_pair("sku_id", &sku_id.to_string());
            query.append_pair("qty", &qty.to_string());
        }
        query.extend_pairs(options_query(&plugin_options));
        return visit.redirect(&format!("/checkout?{}", query.finish()));
    }
    let placed = async {
        let address_id = form
            .address_id
            .filter(|_| form.delivery_method != DeliveryMethod::Pickup.as_str());
        let choice = Choice {
            delivery: None,
            address_id: None,
            sku_id: form.sku_id,
            qty: form.qty,
            plugin_options: PluginOptions::default(),
        };
        let input = serde_json::json!({
            "lines": choice.buy_now().map(|line| vec![line]),
            "delivery_method": form.delivery_method,
            "payment_method": form.payment_method,
            "address_id": address_id,
            "remark": form.remark,
            "po_number": form.po_number,
            "requested_date": Some(form.requested_date.trim()).filter(|d| !d.is_empty()),
            "plugin_options": plugin_options,
        });
        place_order(&shop, &pipeline, &actor, &form.idempotency_key, &input).await
    }
    .await;
    match placed {
        Ok(id) => visit.redirect(&format!("/orders/{id}/placed")),
        Err(error) if error.status.is_client_error() && error.status != StatusCode::FORBIDDEN => {
            let choice = Choice {
                delivery: Some(form.delivery_method.clone()),
                address_id: form.address_id,
                sku_id: form.sku_id,
                qty: form.qty,
                plugin_options: plugin_options.clone(),
            };
            match checkout_view(&shop, &pipeline, &visit, &actor, &choice).await {
                Ok(Some(view)) => visit.show_with(
                    error.status,
                    &CheckoutView {
                        error: Some(error.code.to_owned()),
                        remark: form.remark.clone(),
                        po_number: form.po_number.clone(),
                        requested_date: form.requested_date.clone(),
                        // The same intended order: a second tap after fixing it is still one.
                        idempotency_key: form.idempotency_key.clone(),
                        ..view
                    },
                ),
                Ok(None) => visit.redirect("/cart"),
                Err(other) => visit.show::<CheckoutView>(Err(other)),
            }
        }
        Err(error) => visit.show::<CheckoutView>(Err(error)),
    }
}

/// `GET /orders/{id}/placed`: the confirmation with the order's number (the caller's own
/// order only, through `queries::get`).
pub async fn placed(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
) -> Page {
    let view = async {
        let id = super::goods::id_of(path)?;
        let axum::Json(order) =
            crate::orders::queries::get(State(shop.clone()), visit.actor()?, Path(OrderId(id)))
                .await?;
        Ok::<_, ApiError>(OrderPlacedView {
            id,
            number: order.number,
            status: order.status.as_str().to_owned(),
            total_fen: order.total_fen.get(),
            payment_method: order.payment_method.as_str().to_owned(),
            delivery_method: order.delivery_method.as_str().to_owned(),
        })
    }
    .await;
    visit.show(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forms_opt_fields_become_each_plugins_options_as_text() {
        let posted = "delivery_method=ship&opt.coupons.coupon_id=12&opt.points.points=500\
            &opt.points.points=600&opt.full-reduction.no_gift=on&opt.=x&opt.lonely=1&remark=x";
        let options = plugin_options_of(form_urlencoded::parse(posted.as_bytes()));
        assert_eq!(
            serde_json::to_value(&options).unwrap_or_default(),
            serde_json::json!({
                "coupons": { "coupon_id": "12" },
                "points": { "points": "600" },
                "full-reduction": { "no_gift": "on" },
            })
        );
        let query = options_query(&options);
        assert!(query.contains(&("opt.points.points".to_owned(), "600".to_owned())));
        assert_eq!(query.len(), 3);
    }
}
