//! The plugin's routes under `/api/v1/plugins/full-reduction` (declared, with their roles
//! and schemas, in `manifest.rs`; the kernel checks the roles before calling): staff manage
//! campaigns through the JSON API or the back-office screens' forms (every POST answers a
//! `message` the screen shows), the storefront and members read the running ones in words.

use pifa_sdk::{HttpRequest, HttpResponse, Kv};
use serde_json::{Value, json};

use crate::campaign::{self, COUNT_KEY, Campaign, MAX_CAMPAIGNS, NEXT_ID_KEY, Reward, Terms};
use crate::pricing::given_key;
use crate::screens;

pub fn handle(kv: &mut impl Kv, request: &HttpRequest) -> HttpResponse {
    let response = match (request.method.as_str(), request.route.as_str()) {
        ("GET", "/campaigns") => Ok(list(kv, request)),
        ("POST", "/campaigns") => create(kv, request),
        // POST too: a screen's form can only post.
        ("PUT" | "POST", "/campaigns/{id}") => update(kv, request),
        ("POST", "/campaigns/{id}/end") => end(kv, request),
        ("POST", "/campaigns/{id}/delete") => delete(kv, request),
        ("GET", "/storefront") => Ok(storefront(kv, request)),
        ("GET", "/office") => Ok(screens::office(kv, request)),
        ("GET", "/campaigns/{id}/edit") => screens::edit(kv, request),
        ("GET", "/offers") => Ok(screens::offers(kv, request)),
        _ => Err(HttpResponse::error(
            404,
            "not_found",
            None,
            "没有这个接口 (no such route)",
        )),
    };
    response.unwrap_or_else(|refusal| refusal)
}

/// The gift sets each tier has given (0 for a tier without a gift), in tier order.
pub fn given(kv: &impl Kv, campaign: &Campaign) -> Vec<i64> {
    campaign
        .tiers
        .iter()
        .enumerate()
        .map(|(index, tier)| match tier.reward {
            Reward::Gift(_) => kv.counter(&given_key(campaign.id, index + 1)),
            _ => 0,
        })
        .collect()
}

/// A campaign as staff see it: its terms, where it stands, its tiers in words and the gifts
/// each tier has given.
fn view(kv: &impl Kv, campaign: &Campaign, now_ms: i64) -> Value {
    let mut value = serde_json::to_value(campaign).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("state".to_owned(), json!(campaign.state(now_ms)));
        object.insert("words".to_owned(), json!(campaign.tier_words()));
        object.insert("given".to_owned(), json!(given(kv, campaign)));
    }
    value
}

/// The view with the `message` a screen shows after its form or button.
fn answered(status: u16, mut value: Value, message: String) -> HttpResponse {
    if let Some(object) = value.as_object_mut() {
        object.insert("message".to_owned(), Value::from(message));
    }
    HttpResponse::json(status, value)
}

fn storage_failed(message: String) -> HttpResponse {
    HttpResponse::storage_failed(message)
}

fn existing(kv: &impl Kv, request: &HttpRequest) -> Result<Campaign, HttpResponse> {
    let id = request.id_param("id", "活动")?;
    campaign::load(kv, id).ok_or_else(|| HttpResponse::not_found("活动"))
}

fn list(kv: &impl Kv, request: &HttpRequest) -> HttpResponse {
    let campaigns: Vec<Value> = campaign::load_all(kv)
        .iter()
        .map(|campaign| view(kv, campaign, request.now_ms))
        .collect();
    HttpResponse::ok(json!({ "campaigns": campaigns }))
}

fn create(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let terms = Terms::parse(&request.body)?;
    // Bounded at commit too: two creations racing for the last place cannot both have it.
    let placed = kv
        .add_bounded(COUNT_KEY, 1, 0, MAX_CAMPAIGNS)
        .map_err(storage_failed)?;
    if placed.is_none() {
        return Err(HttpResponse::conflict(
            "too_many_campaigns",
            &format!(
                "最多保存{MAX_CAMPAIGNS}个活动，请先删除已结束的活动 (at most {MAX_CAMPAIGNS} campaigns; delete ended ones first)"
            ),
        ));
    }
    let id = kv.next_id(NEXT_ID_KEY).map_err(storage_failed)?;
    let campaign = Campaign::with_terms(id, terms);
    campaign::save(kv, &campaign).map_err(storage_failed)?;
    let message = format!("已创建活动「{}」", campaign.name);
    Ok(answered(201, view(kv, &campaign, request.now_ms), message))
}

fn update(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let current = existing(kv, request)?;
    if current.is_over(request.now_ms) {
        return Err(HttpResponse::conflict(
            "campaign_ended",
            "活动已结束，不能修改 (the campaign has ended and can no longer be changed)",
        ));
    }
    let campaign = Campaign::with_terms(current.id, Terms::parse(&request.body)?);
    campaign::save(kv, &campaign).map_err(storage_failed)?;
    let message = format!("已保存活动「{}」", campaign.name);
    Ok(answered(200, view(kv, &campaign, request.now_ms), message))
}

/// Ends a campaign now (or leaves an ended one as it is): it stops applying to carts at once;
/// orders already placed keep what they got.
fn end(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let mut campaign = existing(kv, request)?;
    if !campaign.ended {
        campaign.ended = true;
        campaign.ends_at_ms = campaign.ends_at_ms.min(request.now_ms);
        campaign::save(kv, &campaign).map_err(storage_failed)?;
    }
    let message = format!("活动「{}」已结束", campaign.name);
    Ok(answered(200, view(kv, &campaign, request.now_ms), message))
}

/// Deletes a campaign that can no longer apply, making room under [`MAX_CAMPAIGNS`]. Its
/// gift counters stay: an open order's gift may still come back to them.
fn delete(kv: &mut impl Kv, request: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let campaign = existing(kv, request)?;
    if !campaign.is_over(request.now_ms) {
        return Err(HttpResponse::conflict(
            "campaign_running",
            "活动未结束，请先结束再删除 (end the campaign before deleting it)",
        ));
    }
    kv.delete(&campaign::campaign_key(campaign.id))
        .map_err(storage_failed)?;
    kv.add_bounded(COUNT_KEY, -1, 0, MAX_CAMPAIGNS)
        .map_err(storage_failed)?;
    Ok(HttpResponse::ok(json!({
        "id": campaign.id,
        "message": format!("已删除活动「{}」", campaign.name),
    })))
}

/// The running campaigns' tiers in words for the storefront; a tier whose gift is gone says
/// so (its counter shows within the route's `shared_seconds`).
pub fn offer_words(kv: &impl Kv, campaign: &Campaign) -> Vec<String> {
    campaign
        .tiers
        .iter()
        .zip(given(kv, campaign))
        .map(|(tier, given)| {
            let words = tier.words(campaign.basis);
            match tier.gift() {
                Some(gift) if given >= gift.stock => format!("{words}（赠品已送完）"),
                _ => words,
            }
        })
        .collect()
}

fn storefront(kv: &impl Kv, request: &HttpRequest) -> HttpResponse {
    let shown: Vec<Value> = campaign::load_active(kv, request.now_ms)
        .iter()
        .map(|campaign| {
            json!({
                "id": campaign.id,
                "name": campaign.name,
                "starts_at_ms": campaign.starts_at_ms,
                "ends_at_ms": campaign.ends_at_ms,
                "basis": campaign.basis,
                "scope": campaign.scope,
                "scope_words": campaign.scope.member_words(),
                "tiers": offer_words(kv, campaign),
            })
        })
        .collect();
    HttpResponse::ok(json!({ "campaigns": shown }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use pifa_sdk::{Caller, MemoryKv};

    use super::*;

    pub const NOW: i64 = 1_700_000_000_000;

    pub fn request(method: &str, route: &str, id: Option<i64>, body: Value) -> HttpRequest {
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

    pub fn terms_body(starts_at_ms: i64, ends_at_ms: i64) -> Value {
        json!({
            "name": "满减季",
            "starts_at_ms": starts_at_ms,
            "ends_at_ms": ends_at_ms,
            "basis": "amount",
            "tiers": [
                {"threshold": 50_000, "reduce_fen": 5_000},
                {"threshold": 100_000, "gift": {"sku_id": 9, "qty": 1, "stock": 2}}
            ]
        })
    }

    pub fn create_campaign(kv: &mut MemoryKv, starts_at_ms: i64, ends_at_ms: i64) -> i64 {
        let response = handle(
            kv,
            &request(
                "POST",
                "/campaigns",
                None,
                terms_body(starts_at_ms, ends_at_ms),
            ),
        );
        assert_eq!(response.status, 201, "{}", response.body);
        response.body["id"].as_i64().unwrap()
    }

    #[test]
    fn staff_create_list_change_and_end_a_campaign() {
        let mut kv = MemoryKv::default();
        let created = handle(
            &mut kv,
            &request("POST", "/campaigns", None, terms_body(NOW, NOW + 60_000)),
        );
        assert_eq!(created.status, 201);
        assert_eq!(created.body["id"], 1);
        assert_eq!(created.body["message"], "已创建活动「满减季」");
        assert_eq!(created.body["words"], json!(["满500减50", "满1000赠"]));
        assert_eq!(created.body["state"], "active");
        assert!(kv.values.contains_key("campaign:00000001"));
        assert_eq!(kv.counter(COUNT_KEY), 1);
        kv.counters.insert(given_key(1, 2), 1);

        let listed = handle(&mut kv, &request("GET", "/campaigns", None, Value::Null));
        assert_eq!(listed.status, 200);
        assert_eq!(listed.body["campaigns"][0]["given"], json!([0, 1]));

        let mut changed = terms_body(NOW, NOW + 120_000);
        changed["name"] = json!("加码满减");
        for method in ["PUT", "POST"] {
            let updated = handle(
                &mut kv,
                &request(method, "/campaigns/{id}", Some(1), changed.clone()),
            );
            assert_eq!(updated.status, 200, "{}", updated.body);
            assert_eq!(updated.body["name"], "加码满减");
            assert_eq!(updated.body["message"], "已保存活动「加码满减」");
        }

        let ended = handle(
            &mut kv,
            &request("POST", "/campaigns/{id}/end", Some(1), Value::Null),
        );
        assert_eq!(ended.status, 200);
        assert_eq!(ended.body["ended"], true);
        assert_eq!(ended.body["ends_at_ms"], NOW);
        assert_eq!(ended.body["state"], "ended");
        assert_eq!(ended.body["message"], "活动「加码满减」已结束");

        let refused = handle(
            &mut kv,
            &request("PUT", "/campaigns/{id}", Some(1), terms_body(NOW, NOW + 1)),
        );
        assert_eq!(refused.status, 409);
        assert_eq!(refused.body["error"]["code"], "campaign_ended");
    }

    #[test]
    fn a_running_campaign_cannot_be_deleted_an_ended_one_makes_room() {
        let mut kv = MemoryKv::default();
        let id = create_campaign(&mut kv, NOW, NOW + 60_000);
        let refused = handle(
            &mut kv,
            &request("POST", "/campaigns/{id}/delete", Some(id), Value::Null),
        );
        assert_eq!(refused.status, 409);
        assert_eq!(refused.body["error"]["code"], "campaign_running");
        handle(
            &mut kv,
            &request("POST", "/campaigns/{id}/end", Some(id), Value::Null),
        );
        let deleted = handle(
            &mut kv,
            &request("POST", "/campaigns/{id}/delete", Some(id), Value::Null),
        );
        assert_eq!(deleted.status, 200);
        assert_eq!(deleted.body["message"], "已删除活动「满减季」");
        assert!(campaign::load(&kv, id).is_none());
        assert_eq!(kv.counter(COUNT_KEY), 0);
    }

    /// The bound on campaigns holds through the counter, which the kernel keeps bounded at
    /// commit under concurrent creations.
    #[test]
    fn the_hundred_and_first_campaign_is_refused() {
        let mut kv = MemoryKv::default();
        kv.counters.insert(COUNT_KEY.to_owned(), MAX_CAMPAIGNS - 1);
        create_campaign(&mut kv, NOW, NOW + 1);
        let refused = handle(
            &mut kv,
            &request("POST", "/campaigns", None, terms_body(NOW, NOW + 1)),
        );
        assert_eq!(refused.status, 409);
        assert_eq!(refused.body["error"]["code"], "too_many_campaigns");
        assert_eq!(kv.counter(COUNT_KEY), MAX_CAMPAIGNS);
        assert_eq!(kv.values.len(), 1, "nothing more stored");
    }

    #[test]
    fn refused_terms_store_nothing() {
        let mut kv = MemoryKv::default();
        let response = handle(
            &mut kv,
            &request("POST", "/campaigns", None, terms_body(NOW, NOW)),
        );
        assert_eq!(response.status, 422);
        assert_eq!(response.body["error"]["field"], "ends_at_ms");
        assert!(kv.values.is_empty() && kv.counters.is_empty());
    }

    #[test]
    fn a_failing_write_answers_storage_failed() {
        let mut kv = MemoryKv {
            writes_left: Some(2),
            ..MemoryKv::default()
        };
        let response = handle(
            &mut kv,
            &request("POST", "/campaigns", None, terms_body(NOW, NOW + 1)),
        );
        assert_eq!(response.status, 500);
        assert_eq!(response.body["error"]["code"], "storage_failed");
    }

    #[test]
    fn unknown_campaigns_and_routes_are_not_found() {
        let mut kv = MemoryKv::default();
        for response in [
            handle(
                &mut kv,
                &request("PUT", "/campaigns/{id}", Some(9), terms_body(NOW, NOW + 1)),
            ),
            handle(
                &mut kv,
                &request("POST", "/campaigns/{id}/end", Some(9), Value::Null),
            ),
            handle(
                &mut kv,
                &request("POST", "/campaigns/{id}/delete", Some(9), Value::Null),
            ),
            handle(
                &mut kv,
                &request("GET", "/campaigns/{id}/edit", Some(9), Value::Null),
            ),
            handle(
                &mut kv,
                &request("DELETE", "/campaigns/{id}", Some(9), Value::Null),
            ),
        ] {
            assert_eq!(response.status, 404);
            assert_eq!(response.body["error"]["code"], "not_found");
        }
        let mut bad_id = request("POST", "/campaigns/{id}/end", None, Value::Null);
        bad_id.params.insert("id".to_owned(), "abc".to_owned());
        assert_eq!(handle(&mut kv, &bad_id).status, 404);
    }

    #[test]
    fn the_storefront_shows_running_campaigns_in_words() {
        let mut kv = MemoryKv::default();
        let running = create_campaign(&mut kv, NOW - 1_000, NOW + 60_000);
        create_campaign(&mut kv, NOW + 1_000, NOW + 60_000);
        create_campaign(&mut kv, NOW - 2_000, NOW);
        kv.counters.insert(given_key(running, 2), 2);
        let mut public = request("GET", "/storefront", None, Value::Null);
        public.caller = Caller::default();
        let shown = handle(&mut kv, &public);
        assert_eq!(shown.status, 200);
        let campaigns = shown.body["campaigns"].as_array().unwrap();
        assert_eq!(campaigns.len(), 1);
        assert_eq!(campaigns[0]["id"], running);
        assert_eq!(campaigns[0]["scope_words"], "全场商品");
        assert_eq!(
            campaigns[0]["tiers"],
            json!(["满500减50", "满1000赠（赠品已送完）"])
        );
    }
}
