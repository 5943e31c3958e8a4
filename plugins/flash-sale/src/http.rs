//! The plugin's routes under `/api/v1/plugins/flash-sale` (declared, with their roles and
//! schemas, in `manifest.rs`; the kernel checks the roles before calling): staff manage sales,
//! the storefront reads the countdowns.

use pifa_sdk::{HttpRequest, HttpResponse};
use serde::Serialize;

use crate::sale::{self, NEXT_ID_KEY, Sale, SaleTerms, sold_key};
use pifa_sdk::Kv;

pub fn handle(kv: &mut impl Kv, request: &HttpRequest) -> HttpResponse {
    let response = match (request.method.as_str(), request.route.as_str()) {
        ("POST", "/sales") => create(kv, request),
        ("PUT", "/sales/{id}") => update(kv, request),
        ("POST", "/sales/{id}/end") => end(kv, request),
        ("GET", "/sales") => Ok(list(kv)),
        ("GET", "/storefront") => Ok(storefront(kv, request)),
        _ => Err(not_found()),
    };
    response.unwrap_or_else(|refusal| refusal)
}

/// A sale as staff see it: its terms and how many items have been sold.
#[derive(Debug, Serialize)]
struct SaleView<'a> {
    #[serde(flatten)]
    sale: &'a Sale,
    sold: i64,
}

fn view(kv: &impl Kv, sale: &Sale) -> serde_json::Value {
    let sold = kv.counter(&sold_key(sale.id));
    serde_json::to_value(SaleView { sale, sold }).unwrap_or_default()
}

fn create(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let terms = terms(request)?;
    let id = kv
        .add_bounded(NEXT_ID_KEY, 1, 0, i64::MAX)
        .map_err(storage_failed)?
        .ok_or_else(|| storage_failed("the sale ids are exhausted".to_owned()))?;
    let sale = Sale::with_terms(id, terms);
    sale::save(kv, &sale).map_err(storage_failed)?;
    Ok(HttpResponse::json(201, view(kv, &sale)))
}

fn update(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let current = existing_sale(kv, request)?;
    if current.is_over(request.now_ms) {
        return Err(HttpResponse::error(
            409,
            "sale_ended",
            None,
            "活动已结束，不能修改 (the sale has ended and can no longer be changed)",
        ));
    }
    let sale = Sale::with_terms(current.id, terms(request)?);
    sale::save(kv, &sale).map_err(storage_failed)?;
    Ok(HttpResponse::json(200, view(kv, &sale)))
}

/// Ends a sale now (or leaves an ended one as it is): its price stops applying to carts at
/// once, and orders already placed keep theirs.
fn end(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let mut sale = existing_sale(kv, request)?;
    if !sale.ended {
        sale.ended = true;
        sale.ends_at_ms = sale.ends_at_ms.min(request.now_ms);
        sale::save(kv, &sale).map_err(storage_failed)?;
    }
    Ok(HttpResponse::json(200, view(kv, &sale)))
}

fn list(kv: &impl Kv) -> HttpResponse {
    let sales: Vec<serde_json::Value> = sale::load_all(kv)
        .iter()
        .map(|sale| view(kv, sale))
        .collect();
    HttpResponse::json(200, serde_json::json!({ "sales": sales }))
}

/// A sale as the storefront's countdown shows it.
#[derive(Debug, Serialize)]
struct Countdown {
    id: i64,
    name: String,
    starts_at_ms: i64,
    ends_at_ms: i64,
    state: CountdownState,
    /// To the end while active, to the start while upcoming; rounded up, so a running sale
    /// never shows 0.
    seconds_left: i64,
    /// Items still to sell (all members together).
    remaining: i64,
    items: Vec<ShownItem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum CountdownState {
    Upcoming,
    Active,
}

#[derive(Debug, Serialize)]
struct ShownItem {
    sku_id: i64,
    /// `null` for a caller who may not see prices (REQUIREMENTS B2, the shop mode).
    price_fen: Option<i64>,
}

fn storefront(kv: &impl Kv, request: &HttpRequest) -> HttpResponse {
    let now_ms = request.now_ms;
    let sees_prices = request.caller.sees_prices;
    let mut shown: Vec<Countdown> = sale::load_all(kv)
        .into_iter()
        .filter(|sale| !sale.is_over(now_ms))
        .map(|sale| {
            let (state, until_ms) = if sale.starts_at_ms <= now_ms {
                (CountdownState::Active, sale.ends_at_ms)
            } else {
                (CountdownState::Upcoming, sale.starts_at_ms)
            };
            let sold = kv.counter(&sold_key(sale.id));
            Countdown {
                id: sale.id,
                state,
                seconds_left: seconds_until(now_ms, until_ms),
                remaining: sale.total_limit.saturating_sub(sold).max(0),
                items: sale
                    .items
                    .iter()
                    .map(|item| ShownItem {
                        sku_id: item.sku_id,
                        price_fen: sees_prices.then_some(item.price_fen),
                    })
                    .collect(),
                name: sale.name,
                starts_at_ms: sale.starts_at_ms,
                ends_at_ms: sale.ends_at_ms,
            }
        })
        .collect();
    shown.sort_by_key(|countdown| (countdown.starts_at_ms, countdown.id));
    HttpResponse::json(200, serde_json::json!({ "sales": shown }))
}

fn seconds_until(now_ms: i64, until_ms: i64) -> i64 {
    let left_ms = until_ms.saturating_sub(now_ms).max(0);
    left_ms.saturating_add(999) / 1000
}

fn terms(request: &HttpRequest) -> Result<SaleTerms, HttpResponse> {
    SaleTerms::parse(&request.body).map_err(|error| {
        HttpResponse::error(422, error.code, error.field.as_deref(), &error.message)
    })
}

fn existing_sale(kv: &impl Kv, request: &HttpRequest) -> Result<Sale, HttpResponse> {
    request
        .params
        .get("id")
        .and_then(|id| id.parse::<i64>().ok())
        .and_then(|id| sale::load(kv, id))
        .ok_or_else(not_found)
}

fn not_found() -> HttpResponse {
    HttpResponse::error(404, "not_found", None, "没有这个活动 (no such sale)")
}

/// The kernel's kv refused a write: nothing the caller can fix, so a 500 naming the cause.
fn storage_failed(message: String) -> HttpResponse {
    HttpResponse::error(
        500,
        "storage_failed",
        None,
        &format!("保存失败 (saving failed): {message}"),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use pifa_sdk::Caller;
    use serde_json::{Value, json};

    use super::*;
    use pifa_sdk::MemoryKv;

    const NOW: i64 = 1_700_000_000_000;

    fn request(method: &str, route: &str, id: Option<i64>, body: Value) -> HttpRequest {
        HttpRequest {
            method: method.to_owned(),
            route: route.to_owned(),
            params: id
                .map(|id| BTreeMap::from([("id".to_owned(), id.to_string())]))
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

    fn terms_body(starts_at_ms: i64, ends_at_ms: i64) -> Value {
        json!({
            "name": "午间秒杀",
            "starts_at_ms": starts_at_ms,
            "ends_at_ms": ends_at_ms,
            "total_limit": 10,
            "per_member_limit": 2,
            "items": [{"sku_id": 7, "price_fen": 990}]
        })
    }

    fn create_sale(kv: &mut MemoryKv, starts_at_ms: i64, ends_at_ms: i64) -> i64 {
        let response = handle(
            kv,
            &request("POST", "/sales", None, terms_body(starts_at_ms, ends_at_ms)),
        );
        assert_eq!(response.status, 201, "{}", response.body);
        response.body["id"].as_i64().unwrap()
    }

    #[test]
    fn staff_create_list_update_and_end_a_sale() {
        let mut kv = MemoryKv::default();
        let first = create_sale(&mut kv, NOW, NOW + 60_000);
        let second = create_sale(&mut kv, NOW, NOW + 60_000);
        assert_eq!((first, second), (1, 2));
        assert!(kv.values.contains_key("sale:00000001"));
        kv.counters.insert("sold:1".to_owned(), 4);

        let listed = handle(&mut kv, &request("GET", "/sales", None, Value::Null));
        assert_eq!(listed.status, 200);
        assert_eq!(listed.body["sales"][0]["sold"], 4);
        assert_eq!(listed.body["sales"][1]["sold"], 0);
        assert_eq!(listed.body["sales"][0]["name"], "午间秒杀");

        let mut changed = terms_body(NOW, NOW + 120_000);
        changed["name"] = json!("加时秒杀");
        let updated = handle(&mut kv, &request("PUT", "/sales/{id}", Some(1), changed));
        assert_eq!(updated.status, 200);
        assert_eq!(updated.body["name"], "加时秒杀");
        assert_eq!(updated.body["id"], 1);
        assert_eq!(updated.body["sold"], 4);

        let ended = handle(
            &mut kv,
            &request("POST", "/sales/{id}/end", Some(1), Value::Null),
        );
        assert_eq!(ended.status, 200);
        assert_eq!(ended.body["ended"], true);
        assert_eq!(ended.body["ends_at_ms"], NOW);

        let refused = handle(
            &mut kv,
            &request("PUT", "/sales/{id}", Some(1), terms_body(NOW, NOW + 1)),
        );
        assert_eq!(refused.status, 409);
        assert_eq!(refused.body["error"]["code"], "sale_ended");
    }

    #[test]
    fn ending_keeps_an_earlier_end_and_a_past_sale_cannot_be_changed() {
        let mut kv = MemoryKv::default();
        let id = create_sale(&mut kv, NOW - 60_000, NOW - 1_000);
        let refused = handle(
            &mut kv,
            &request("PUT", "/sales/{id}", Some(id), terms_body(NOW, NOW + 1)),
        );
        assert_eq!(refused.status, 409);
        let ended = handle(
            &mut kv,
            &request("POST", "/sales/{id}/end", Some(id), Value::Null),
        );
        assert_eq!(ended.body["ends_at_ms"], NOW - 1_000);
        assert_eq!(ended.body["ended"], true);
    }

    #[test]
    fn unknown_sales_and_routes_are_not_found() {
        let mut kv = MemoryKv::default();
        for response in [
            handle(
                &mut kv,
                &request("PUT", "/sales/{id}", Some(9), terms_body(NOW, NOW + 1)),
            ),
            handle(
                &mut kv,
                &request("POST", "/sales/{id}/end", Some(9), Value::Null),
            ),
            handle(
                &mut kv,
                &request("DELETE", "/sales/{id}", Some(9), Value::Null),
            ),
        ] {
            assert_eq!(response.status, 404);
            assert_eq!(response.body["error"]["code"], "not_found");
        }
        let mut bad_id = request("POST", "/sales/{id}/end", None, Value::Null);
        bad_id.params.insert("id".to_owned(), "abc".to_owned());
        assert_eq!(handle(&mut kv, &bad_id).status, 404);
    }

    #[test]
    fn refused_terms_are_a_422_naming_code_and_field() {
        let mut kv = MemoryKv::default();
        let response = handle(
            &mut kv,
            &request("POST", "/sales", None, terms_body(NOW, NOW)),
        );
        assert_eq!(response.status, 422);
        assert_eq!(response.body["error"]["code"], "invalid_window");
        assert_eq!(response.body["error"]["field"], "ends_at_ms");
        let response = handle(&mut kv, &request("POST", "/sales", None, json!([1])));
        assert_eq!(response.status, 422);
        assert_eq!(response.body["error"]["code"], "invalid_body");
        assert!(kv.values.is_empty(), "nothing saved");
    }

    #[test]
    fn the_storefront_counts_down_to_the_start_or_the_end() {
        let mut kv = MemoryKv::default();
        let later = create_sale(&mut kv, NOW + 90_500, NOW + 200_000);
        let running = create_sale(&mut kv, NOW - 1_000, NOW + 30_001);
        let over = create_sale(&mut kv, NOW - 2_000, NOW);
        let stopped = create_sale(&mut kv, NOW - 2_000, NOW + 50_000);
        handle(
            &mut kv,
            &request("POST", "/sales/{id}/end", Some(stopped), Value::Null),
        );
        kv.counters.insert(format!("sold:{running}"), 3);

        let mut public = request("GET", "/storefront", None, Value::Null);
        public.caller = Caller::default();
        let hidden = handle(&mut kv, &public);
        assert_eq!(hidden.status, 200);
        let sales = hidden.body["sales"].as_array().unwrap();
        let ids: Vec<i64> = sales.iter().filter_map(|s| s["id"].as_i64()).collect();
        assert_eq!(ids, vec![running, later], "ended ones are gone, {over} too");
        assert_eq!(sales[0]["state"], "active");
        assert_eq!(sales[0]["seconds_left"], 31);
        assert_eq!(sales[0]["remaining"], 7);
        assert_eq!(sales[1]["state"], "upcoming");
        assert_eq!(sales[1]["seconds_left"], 91);
        assert_eq!(sales[1]["remaining"], 10);
        assert_eq!(sales[0]["items"], json!([{"sku_id": 7, "price_fen": null}]));

        public.caller.sees_prices = true;
        let shown = handle(&mut kv, &public);
        assert_eq!(
            shown.body["sales"][0]["items"],
            json!([{"sku_id": 7, "price_fen": 990}])
        );
    }

    #[test]
    fn remaining_never_shows_below_zero() {
        let mut kv = MemoryKv::default();
        let id = create_sale(&mut kv, NOW, NOW + 1_000);
        kv.counters.insert(format!("sold:{id}"), 12);
        let shown = handle(&mut kv, &request("GET", "/storefront", None, Value::Null));
        assert_eq!(shown.body["sales"][0]["remaining"], 0);
    }
}
