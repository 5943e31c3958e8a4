//! The plugin's routes under `/api/v1/plugins/clearance` (declared, with their roles and
//! schemas, in `manifest.rs`; the kernel checks the roles before calling): staff put SKUs on
//! clearance, change and end them (JSON API and the office screens' forms alike), the
//! storefront reads what is on clearance.

use pifa_sdk::input::Fields;
use pifa_sdk::{HttpRequest, HttpResponse, Kv};
use serde::Serialize;
use serde_json::Value;

use crate::item::{
    self, COUNT_KEY, Change, Item, MAX_ITEMS, NEXT_ID_KEY, NewItem, Page, listed_key,
};
use crate::screens;

/// Items per page of `GET /items` unless `limit` says fewer; its most. A full page of the
/// costliest items (40-character notes, 12-digit ids) measured 1.13 million fuel on wasmtime
/// 48, within a route call's default 2,000,000 with room to spare; all 500 took 28 million.
pub const LIST_PAGE: usize = 30;
/// Items per page of `GET /storefront`: a full page measured 0.87 million fuel.
pub const STOREFRONT_PAGE: usize = 30;

pub fn handle(kv: &mut impl Kv, request: &HttpRequest) -> HttpResponse {
    let response = match (request.method.as_str(), request.route.as_str()) {
        ("GET", "/items") => list(kv, request),
        ("POST", "/items") => create(kv, request),
        // PUT for the JSON API; POST for the edit screen's form (forms only post).
        ("PUT" | "POST", "/items/{sku_id}") => change(kv, request),
        ("POST", "/items/{sku_id}/end") => end(kv, request),
        ("GET", "/storefront") => storefront(kv, request),
        ("GET", "/office") => Ok(screens::office(kv, None)),
        ("GET", "/office/after/{after}") => {
            after_param(request).map(|after| screens::office(kv, Some(after)))
        }
        ("GET", "/items/{sku_id}/edit") => screens::edit(kv, request),
        ("GET", "/zone") => Ok(screens::zone(kv, request, None)),
        ("GET", "/zone/after/{after}") => {
            after_param(request).map(|after| screens::zone(kv, request, Some(after)))
        }
        _ => Err(HttpResponse::error(
            404,
            "not_found",
            None,
            "没有这个接口 (no such route)",
        )),
    };
    response.unwrap_or_else(|refusal| refusal)
}

/// An item as staff see it: its terms, what this listing sold and what remains; with the
/// `message` a screen's form shows after a change.
#[derive(Debug, Serialize)]
pub struct ItemView<'a> {
    pub id: i64,
    pub sku_id: i64,
    pub product_id: i64,
    pub price_fen: i64,
    pub quantity: i64,
    pub note: Option<&'a str>,
    pub sold: i64,
    pub remaining: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
}

impl<'a> ItemView<'a> {
    pub fn new(item: &'a Item, sold: i64) -> ItemView<'a> {
        ItemView {
            id: item.id,
            sku_id: item.sku_id,
            product_id: item.product_id,
            price_fen: item.price_fen,
            quantity: item.quantity,
            note: item.note.as_deref(),
            sold,
            remaining: item.remaining(sold),
            created_at_ms: item.created_at_ms,
            updated_at_ms: item.updated_at_ms,
            message: None,
        }
    }

    fn said(self, message: &'static str) -> ItemView<'a> {
        ItemView {
            message: Some(message),
            ..self
        }
    }
}

/// A page of items with what each sold, in SKU order.
pub fn page_with_sold(
    kv: &impl Kv,
    after: Option<i64>,
    limit: usize,
) -> (Vec<(Item, i64)>, Option<i64>) {
    let Page { items, next_after } = item::load_page(kv, after, limit);
    let items = items
        .into_iter()
        .map(|item| {
            let sold = kv.counter(&item.sold_key());
            (item, sold)
        })
        .collect();
    (items, next_after)
}

/// `?after=<sku_id>` (the page after that SKU) and `?limit=` of a listing route.
fn page_query(request: &HttpRequest, most: usize) -> Result<(Option<i64>, usize), HttpResponse> {
    let query = Value::Object(
        request
            .query
            .iter()
            .map(|(name, value)| (name.clone(), Value::from(value.as_str())))
            .collect(),
    );
    let fields = Fields::of(&query);
    let after = fields.optional_int("after", 0, i64::MAX)?;
    let most_i64 = i64::try_from(most).unwrap_or(i64::MAX);
    let limit = fields
        .optional_int("limit", 1, most_i64)?
        .unwrap_or(most_i64);
    Ok((after, usize::try_from(limit).unwrap_or(most)))
}

/// The `{after}` of a screen's next page.
fn after_param(request: &HttpRequest) -> Result<i64, HttpResponse> {
    request
        .params
        .get("after")
        .and_then(|after| after.parse::<i64>().ok())
        .filter(|after| *after >= 0)
        .ok_or_else(|| HttpResponse::not_found("页面"))
}

#[derive(Debug, Serialize)]
struct ItemList<'a> {
    items: Vec<ItemView<'a>>,
    /// `?after=` of the next page; `null` on the last.
    next_after: Option<i64>,
    /// SKUs on clearance now, and the most there may be.
    count: i64,
    max_items: i64,
}

fn list(kv: &impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let (after, limit) = page_query(request, LIST_PAGE)?;
    let (items, next_after) = page_with_sold(kv, after, limit);
    Ok(HttpResponse::ok(ItemList {
        items: items
            .iter()
            .map(|(item, sold)| ItemView::new(item, *sold))
            .collect(),
        next_after,
        count: kv.counter(COUNT_KEY),
        max_items: MAX_ITEMS,
    }))
}

fn not_listed() -> HttpResponse {
    HttpResponse::not_found("清仓商品")
}

fn already_listed(sku_id: i64) -> HttpResponse {
    HttpResponse::error(
        409,
        "already_listed",
        Some("sku_id"),
        &format!(
            "sku_id: SKU {sku_id} 已在清仓中，请修改它 (the SKU is already on clearance; change it instead)"
        ),
    )
}

/// Puts a SKU on clearance. Three bounded counters make it safe under concurrency: `items`
/// keeps at most 500 on clearance, `listed:{sku}` one listing per SKU, `next-id` a new
/// listing id (so the sold counter starts at 0). A bound another request reaches first makes
/// the kernel answer 409 `changed_meanwhile` instead of this answer, storing nothing.
fn create(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let new = NewItem::parse(request)?;
    if item::load(kv, new.sku_id).is_some() {
        return Err(already_listed(new.sku_id));
    }
    kv.add_bounded(&listed_key(new.sku_id), 1, 0, 1)
        .map_err(HttpResponse::storage_failed)?
        .ok_or_else(|| already_listed(new.sku_id))?;
    kv.add_bounded(COUNT_KEY, 1, 0, MAX_ITEMS)
        .map_err(HttpResponse::storage_failed)?
        .ok_or_else(|| {
            HttpResponse::conflict(
                "too_many_items",
                &format!("最多{MAX_ITEMS}个SKU同时清仓，请先结束一些 (at most {MAX_ITEMS} SKUs on clearance)"),
            )
        })?;
    let id = kv
        .next_id(NEXT_ID_KEY)
        .map_err(HttpResponse::storage_failed)?;
    let item = Item {
        id,
        sku_id: new.sku_id,
        product_id: new.product_id,
        price_fen: new.price_fen,
        quantity: new.quantity,
        note: new.note,
        created_at_ms: request.now_ms,
        updated_at_ms: request.now_ms,
    };
    item::save(kv, &item).map_err(HttpResponse::storage_failed)?;
    Ok(HttpResponse::created(
        ItemView::new(&item, 0).said("已加入清仓"),
    ))
}

fn existing(kv: &impl Kv, request: &HttpRequest) -> Result<Item, HttpResponse> {
    let sku_id = request.id_param("sku_id", "清仓商品")?;
    item::load(kv, sku_id).ok_or_else(not_listed)
}

/// Changes price, quantity or note. Orders already placed keep the price they were given; a
/// cart quoted at the old price is refused at checkout (`clearance_changed`) and re-quoted.
fn change(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let current = existing(kv, request)?;
    let change = Change::parse(request)?;
    let sold = kv.counter(&current.sold_key());
    let changed = change.apply(&current, sold, request.now_ms)?;
    // A bound of exactly 1, moved by 0: passes only while the SKU is still listed when this
    // commits, so a change racing an end cannot bring the ended item back.
    kv.add_bounded(&listed_key(current.sku_id), 0, 1, 1)
        .map_err(HttpResponse::storage_failed)?
        .ok_or_else(not_listed)?;
    item::save(kv, &changed).map_err(HttpResponse::storage_failed)?;
    Ok(HttpResponse::ok(
        ItemView::new(&changed, sold).said("已保存"),
    ))
}

/// Takes a SKU off clearance: carts stop getting its price at once; orders already placed keep
/// theirs, and their units still come back to this listing's counter if they close.
fn end(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let item = existing(kv, request)?;
    kv.add_bounded(&listed_key(item.sku_id), -1, 0, 1)
        .map_err(HttpResponse::storage_failed)?
        .ok_or_else(not_listed)?;
    // Never below 0: a count that drifted (by hand) must not keep staff from ending an item.
    kv.add_bounded(COUNT_KEY, -1, 0, i64::MAX)
        .map_err(HttpResponse::storage_failed)?;
    kv.delete(&item::item_key(item.sku_id))
        .map_err(HttpResponse::storage_failed)?;
    let sold = kv.counter(&item.sold_key());
    Ok(HttpResponse::ok(
        ItemView::new(&item, sold).said("已结束清仓，已下的订单保持清仓价"),
    ))
}

/// An item as the storefront shows it.
#[derive(Debug, Serialize)]
struct Shown<'a> {
    sku_id: i64,
    product_id: i64,
    name: std::borrow::Cow<'a, str>,
    /// REQUIREMENTS B2: `null` for a caller who may not see prices.
    price_fen: Option<i64>,
    /// Units still at the clearance price; 0 when sold out.
    remaining: i64,
}

#[derive(Debug, Serialize)]
struct ShownPage<'a> {
    items: Vec<Shown<'a>>,
    next_after: Option<i64>,
}

/// What is on clearance, for the storefront: the same for everyone who sees prices and for
/// everyone who does not (a shared route: the kernel calls it without the caller).
fn storefront(kv: &impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let (after, limit) = page_query(request, STOREFRONT_PAGE)?;
    let sees_prices = request.caller.sees_prices;
    let (items, next_after) = page_with_sold(kv, after, limit);
    let shown = items
        .iter()
        .map(|(item, sold)| Shown {
            sku_id: item.sku_id,
            product_id: item.product_id,
            name: match &item.note {
                Some(note) => std::borrow::Cow::Borrowed(note.as_str()),
                None => std::borrow::Cow::Owned(item.name()),
            },
            price_fen: sees_prices.then_some(item.price_fen),
            remaining: item.remaining(*sold),
        })
        .collect();
    Ok(HttpResponse::ok(ShownPage {
        items: shown,
        next_after,
    }))
}

#[cfg(test)]
mod tests {
    // REQUIREMENTS G3 (staff manage the clearance) and B2 (no price for who may not see it).
    use std::collections::BTreeMap;

    use pifa_sdk::{Caller, MemoryKv};
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_767_240_600_000;

    pub fn request(method: &str, route: &str, sku_id: Option<i64>, body: Value) -> HttpRequest {
        HttpRequest {
            method: method.to_owned(),
            route: route.to_owned(),
            params: sku_id
                .map(|id| BTreeMap::from([("sku_id".to_owned(), id.to_string())]))
                .unwrap_or_default(),
            query: BTreeMap::new(),
            body,
            caller: Caller {
                user_id: Some(1),
                roles: vec!["admin".to_owned()],
                member: None,
                sees_prices: true,
            },
            now_ms: NOW,
            settings: Value::Null,
        }
    }

    fn body(sku_id: i64) -> Value {
        json!({"sku_id": sku_id, "product_id": sku_id * 10, "price_fen": 500, "quantity": 10, "note": "旧款手套"})
    }

    fn create_item(kv: &mut MemoryKv, sku_id: i64) -> HttpResponse {
        handle(kv, &request("POST", "/items", None, body(sku_id)))
    }

    #[test]
    fn staff_create_list_change_and_end_an_item() {
        let mut kv = MemoryKv::default();
        let created = create_item(&mut kv, 7);
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(created.body["message"], "已加入清仓");
        assert_eq!(created.body["id"], 1);
        assert_eq!(created.body["remaining"], 10);
        assert!(kv.values.contains_key("item:0000000000000000007"));
        assert_eq!((kv.counter("items"), kv.counter("listed:7")), (1, 1));
        kv.counters.insert("sold:7:1".to_owned(), 4);

        let listed = handle(&mut kv, &request("GET", "/items", None, Value::Null));
        assert_eq!(listed.status, 200);
        assert_eq!(
            (
                listed.body["count"].clone(),
                listed.body["max_items"].clone()
            ),
            (json!(1), json!(500))
        );
        assert_eq!(listed.body["next_after"], Value::Null);
        assert_eq!(listed.body["items"][0]["sold"], 4);
        assert_eq!(listed.body["items"][0]["remaining"], 6);
        assert_eq!(listed.body["items"][0]["note"], "旧款手套");

        let changed = handle(
            &mut kv,
            &request(
                "PUT",
                "/items/{sku_id}",
                Some(7),
                json!({"price_fen": 450, "quantity": 12}),
            ),
        );
        assert_eq!(changed.status, 200, "{}", changed.body);
        assert_eq!(changed.body["message"], "已保存");
        assert_eq!(
            (
                changed.body["price_fen"].clone(),
                changed.body["remaining"].clone()
            ),
            (json!(450), json!(8))
        );
        assert_eq!(
            item::load(&kv, 7).map(|i| (i.price_fen, i.quantity, i.updated_at_ms)),
            Some((450, 12, NOW))
        );

        // The edit screen's form posts strings, yuan for money.
        let form = handle(
            &mut kv,
            &request(
                "POST",
                "/items/{sku_id}",
                Some(7),
                json!({"price_fen": "4.00", "quantity": "12", "note": ""}),
            ),
        );
        assert_eq!(form.status, 200, "{}", form.body);
        assert_eq!(
            item::load(&kv, 7).map(|i| (i.price_fen, i.note)),
            Some((400, None))
        );

        let ended = handle(
            &mut kv,
            &request("POST", "/items/{sku_id}/end", Some(7), Value::Null),
        );
        assert_eq!(ended.status, 200);
        assert_eq!(ended.body["message"], "已结束清仓，已下的订单保持清仓价");
        assert_eq!(ended.body["sold"], 4);
        assert_eq!(item::load(&kv, 7), None);
        assert_eq!((kv.counter("items"), kv.counter("listed:7")), (0, 0));
        // Its sold counter stays: open orders still give their units back to it.
        assert_eq!(kv.counter("sold:7:1"), 4);
    }

    #[test]
    fn a_sku_on_clearance_again_is_a_new_listing_that_starts_from_zero_sold() {
        let mut kv = MemoryKv::default();
        create_item(&mut kv, 7);
        kv.counters.insert("sold:7:1".to_owned(), 10);
        handle(
            &mut kv,
            &request("POST", "/items/{sku_id}/end", Some(7), Value::Null),
        );
        let again = create_item(&mut kv, 7);
        assert_eq!(again.status, 201);
        assert_eq!(again.body["id"], 2);
        assert_eq!(again.body["sold"], 0);
        assert_eq!(again.body["remaining"], 10);
    }

    #[test]
    fn a_sku_already_on_clearance_is_refused() {
        let mut kv = MemoryKv::default();
        create_item(&mut kv, 7);
        let again = create_item(&mut kv, 7);
        assert_eq!(again.status, 409);
        assert_eq!(again.body["error"]["code"], "already_listed");
        assert_eq!(again.body["error"]["field"], "sku_id");
        assert_eq!(kv.counter("items"), 1);

        // The guard alone (another request's item not yet visible here) refuses too.
        kv.counters.insert("listed:8".to_owned(), 1);
        let racing = create_item(&mut kv, 8);
        assert_eq!(racing.body["error"]["code"], "already_listed");
    }

    #[test]
    fn at_most_500_skus_are_on_clearance() {
        let mut kv = MemoryKv::default();
        kv.counters.insert("items".to_owned(), MAX_ITEMS - 1);
        assert_eq!(create_item(&mut kv, 1).status, 201);
        let refused = create_item(&mut kv, 2);
        assert_eq!(refused.status, 409);
        assert_eq!(refused.body["error"]["code"], "too_many_items");
        assert!(
            refused.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("最多500个SKU")
        );
        assert_eq!(kv.counter("items"), MAX_ITEMS);
        // Ending one makes room.
        handle(
            &mut kv,
            &request("POST", "/items/{sku_id}/end", Some(1), Value::Null),
        );
        kv.counters.insert("listed:2".to_owned(), 0);
        assert_eq!(create_item(&mut kv, 2).status, 201);
    }

    #[test]
    fn a_quantity_below_what_was_sold_is_refused_naming_the_field() {
        let mut kv = MemoryKv::default();
        create_item(&mut kv, 7);
        kv.counters.insert("sold:7:1".to_owned(), 6);
        let refused = handle(
            &mut kv,
            &request("PUT", "/items/{sku_id}", Some(7), json!({"quantity": 5})),
        );
        assert_eq!(refused.status, 422);
        assert_eq!(refused.body["error"]["field"], "quantity");
        assert_eq!(item::load(&kv, 7).map(|i| i.quantity), Some(10));
        let fine = handle(
            &mut kv,
            &request("PUT", "/items/{sku_id}", Some(7), json!({"quantity": 6})),
        );
        assert_eq!(fine.body["remaining"], 0);
    }

    #[test]
    fn a_change_racing_an_end_does_not_bring_the_item_back() {
        let mut kv = MemoryKv::default();
        create_item(&mut kv, 7);
        // As a concurrent end leaves the guard when this change commits.
        kv.counters.insert("listed:7".to_owned(), 0);
        let refused = handle(
            &mut kv,
            &request("PUT", "/items/{sku_id}", Some(7), json!({"price_fen": 1})),
        );
        assert_eq!(refused.status, 404);
        assert_eq!(item::load(&kv, 7).map(|i| i.price_fen), Some(500));
    }

    #[test]
    fn unknown_items_and_routes_are_not_found() {
        let mut kv = MemoryKv::default();
        for response in [
            handle(
                &mut kv,
                &request("PUT", "/items/{sku_id}", Some(9), json!({"price_fen": 1})),
            ),
            handle(
                &mut kv,
                &request("POST", "/items/{sku_id}/end", Some(9), Value::Null),
            ),
            handle(
                &mut kv,
                &request("GET", "/items/{sku_id}/edit", Some(9), Value::Null),
            ),
            handle(
                &mut kv,
                &request("DELETE", "/items/{sku_id}", Some(9), Value::Null),
            ),
            handle(
                &mut kv,
                &request("PUT", "/items/{sku_id}", None, json!({"price_fen": 1})),
            ),
        ] {
            assert_eq!(response.status, 404, "{}", response.body);
            assert_eq!(response.body["error"]["code"], "not_found");
        }
        assert!(kv.values.is_empty() && kv.counters.is_empty());
    }

    #[test]
    fn a_refused_body_stores_nothing() {
        let mut kv = MemoryKv::default();
        let mut bad = body(7);
        bad["product_id"] = Value::Null;
        let refused = handle(&mut kv, &request("POST", "/items", None, bad));
        assert_eq!(refused.status, 422);
        assert_eq!(refused.body["error"]["code"], "invalid_field");
        assert_eq!(refused.body["error"]["field"], "product_id");
        assert!(kv.values.is_empty() && kv.counters.is_empty());
    }

    #[test]
    fn a_write_the_quota_refuses_is_a_storage_failure() {
        let mut kv = MemoryKv {
            writes_left: Some(2),
            ..MemoryKv::default()
        };
        let failed = create_item(&mut kv, 7);
        assert_eq!(failed.status, 500);
        assert_eq!(failed.body["error"]["code"], "storage_failed");
    }

    #[test]
    fn the_storefront_shows_remaining_and_prices_only_to_who_may_see_them() {
        let mut kv = MemoryKv::default();
        create_item(&mut kv, 8);
        let mut plain = body(7);
        plain["note"] = Value::Null;
        handle(&mut kv, &request("POST", "/items", None, plain));
        kv.counters.insert("sold:8:1".to_owned(), 12);
        kv.counters.insert("sold:7:2".to_owned(), 3);

        let mut public = request("GET", "/storefront", None, Value::Null);
        public.caller = Caller::default();
        let hidden = handle(&mut kv, &public);
        assert_eq!(hidden.status, 200);
        assert_eq!(
            hidden.body,
            json!({"items": [
                {"sku_id": 7, "product_id": 70, "name": "SKU 7", "price_fen": null, "remaining": 7},
                {"sku_id": 8, "product_id": 80, "name": "旧款手套", "price_fen": null, "remaining": 0},
            ], "next_after": null})
        );
        public.caller.sees_prices = true;
        let shown = handle(&mut kv, &public);
        assert_eq!(shown.body["items"][0]["price_fen"], 500);
    }

    fn get(kv: &mut MemoryKv, route: &str, query: &[(&str, &str)]) -> HttpResponse {
        let mut get = request("GET", route, None, Value::Null);
        get.query = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        handle(kv, &get)
    }

    fn skus(response: &HttpResponse) -> Vec<i64> {
        response.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["sku_id"].as_i64().unwrap())
            .collect()
    }

    #[test]
    fn listings_come_a_page_at_a_time() {
        let mut kv = MemoryKv::default();
        for sku_id in 1..=(LIST_PAGE as i64 + 2) {
            assert_eq!(create_item(&mut kv, sku_id).status, 201);
        }
        let first = get(&mut kv, "/items", &[]);
        assert_eq!(skus(&first).len(), LIST_PAGE);
        assert_eq!(first.body["next_after"], LIST_PAGE);
        assert_eq!(first.body["count"], LIST_PAGE + 2);
        let after = LIST_PAGE.to_string();
        let rest = get(&mut kv, "/items", &[("after", &after)]);
        assert_eq!(
            skus(&rest),
            vec![LIST_PAGE as i64 + 1, LIST_PAGE as i64 + 2]
        );
        assert_eq!(rest.body["next_after"], Value::Null);
        let two = get(&mut kv, "/items", &[("after", "5"), ("limit", "2")]);
        assert_eq!(
            (skus(&two), two.body["next_after"].clone()),
            (vec![6, 7], json!(7))
        );

        let shop = get(&mut kv, "/storefront", &[("after", "1"), ("limit", "3")]);
        assert_eq!(
            (skus(&shop), shop.body["next_after"].clone()),
            (vec![2, 3, 4], json!(4))
        );
        assert_eq!(
            skus(&get(&mut kv, "/storefront", &[])).len(),
            STOREFRONT_PAGE
        );

        let too_many = (LIST_PAGE + 1).to_string();
        for (name, value) in [
            ("limit", too_many.as_str()),
            ("limit", "0"),
            ("after", "x"),
            ("after", "-1"),
        ] {
            let refused = get(&mut kv, "/items", &[(name, value)]);
            assert_eq!(refused.status, 422, "{name}={value}");
            assert_eq!(refused.body["error"]["field"], name);
        }
    }
}
