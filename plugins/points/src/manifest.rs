//! What the plugin declares to the kernel: its hooks, capabilities (kv, emit, screens), the
//! order events it wants, its settings and its routes with their roles (the kernel checks the
//! roles before calling) and screens.

use pifa_sdk::{Capability, Hook, Manifest, Route, ScreenPlace};
use serde_json::{Value, json};

use crate::events::EVENTS;
use crate::settings;

const STAFF: [&str; 2] = ["admin", "customer_service"];
const ADMIN: [&str; 1] = ["admin"];
const MEMBER: [&str; 1] = ["member"];
const ANYONE: [&str; 2] = ["public", "member"];

pub fn manifest() -> Manifest {
    Manifest {
        capabilities: vec![Capability::Kv, Capability::Emit, Capability::Screens],
        settings_schema: Some(settings::schema()),
        routes: routes(),
        events: EVENTS.iter().map(|e| (*e).to_owned()).collect(),
        ..pifa_sdk::manifest(
            "points",
            env!("CARGO_PKG_VERSION"),
            &[
                Hook::Quote,
                Hook::Checkout,
                Hook::OnEvent,
                Hook::HandleHttp,
                Hook::OnTick,
            ],
        )
    }
}

fn gift_schema() -> Value {
    json!({
        "type": "object",
        "required": ["name", "points", "stock", "kind"],
        "properties": {
            "name": { "type": "string", "minLength": 1, "maxLength": crate::gift::MAX_NAME_CHARS },
            "image": { "type": ["string", "null"], "description": "A picture the shop stored: /api/v1/images/…" },
            "points": { "type": "integer", "minimum": 1, "maximum": crate::gift::MAX_POINTS },
            "stock": { "type": "integer", "minimum": 0, "maximum": crate::gift::MAX_STOCK, "description": "How many may be redeemed in all" },
            "kind": { "enum": ["physical", "coupon", "virtual"] },
            "coupon_template_id": { "type": ["integer", "null"], "description": "For a coupon gift" },
            "virtual_text": { "type": ["string", "null"], "description": "For a virtual gift: what the member is sent" },
            "description": { "type": "string", "maxLength": crate::gift::MAX_DESCRIPTION_CHARS },
            "on_shelf": { "type": "boolean", "description": "Absent is off the shelf" }
        }
    })
}

fn campaign_schema() -> Value {
    json!({
        "type": "object",
        "required": ["name", "starts_at", "ends_at"],
        "properties": {
            "name": { "type": "string", "minLength": 1, "maxLength": crate::campaign::MAX_NAME_CHARS },
            "starts_at": { "type": ["integer", "string"], "description": "Epoch ms, or shop time 2026-10-01T00:00" },
            "ends_at": { "type": ["integer", "string"] },
            "multiplier_percent": { "type": ["integer", "null"], "minimum": 101, "maximum": 1000, "description": "200 = double points on the whole order" },
            "extra_per_yuan": { "type": ["integer", "null"], "minimum": 1, "maximum": 100, "description": "Extra points per yuan on product_ids" },
            "product_ids": { "type": "array", "items": { "type": "integer" }, "maxItems": crate::campaign::MAX_PRODUCTS }
        }
    })
}

fn adjust_schema(with_member: bool) -> Value {
    let change = json!({ "type": "integer", "description": "Points added (positive) or deducted (negative)" });
    let reason = json!({ "type": "string", "minLength": 1, "maxLength": 100 });
    if with_member {
        json!({
            "type": "object",
            "required": ["member_id", "change", "reason"],
            "properties": { "member_id": { "type": "integer", "minimum": 1 }, "change": change, "reason": reason }
        })
    } else {
        json!({
            "type": "object",
            "required": ["change", "reason"],
            "properties": { "change": change, "reason": reason }
        })
    }
}

fn routes() -> Vec<Route> {
    vec![
        // Members.
        Route::new(
            "GET",
            "/mine",
            &MEMBER,
            "The caller's balance, points expiring soon and the last 50 ledger entries",
        ),
        Route {
            // The same for everyone (points are not prices), shown on every mall view.
            shared_seconds: 10,
            ..Route::new(
                "GET",
                "/gifts",
                &["public"],
                "Gifts on the shelf with their points and what is left",
            )
        },
        Route::new(
                "POST",
                "/gifts/{id}/redeem",
                &MEMBER,
                "Redeem a gift (name, phone, address for a physical one)",
            ).with_request(json!({
                "type": "object",
                "properties": {
                    "name": { "type": "string", "maxLength": 20 },
                    "phone": { "type": "string", "maxLength": 20 },
                    "address": { "type": "string", "maxLength": 200 }
                }
            })),
        Route::new(
            "GET",
            "/redemptions/mine",
            &MEMBER,
            "The caller's redemptions, newest first",
        ),
        // Staff: gifts.
        Route::new("POST", "/gifts", &STAFF, "Add a gift").with_request(gift_schema()),
        Route::new("PUT", "/gifts/{id}", &STAFF, "Change a gift").with_request(gift_schema()),
        Route::new(
                "POST",
                "/gifts/{id}",
                &STAFF,
                "Change a gift (the edit form)",
            ).with_request(gift_schema()),
        Route::new("DELETE", "/gifts/{id}", &STAFF, "Delete a gift"),
        Route::new(
            "POST",
            "/gifts/{id}/delete",
            &STAFF,
            "Delete a gift (the edit screen's button)",
        ),
        // Staff: campaigns.
        Route::new("GET", "/campaigns", &STAFF, "Points campaigns"),
        Route::new("POST", "/campaigns", &STAFF, "Add a points campaign").with_request(campaign_schema()),
        Route::new("PUT", "/campaigns/{id}", &STAFF, "Change a points campaign").with_request(campaign_schema()),
        Route::new(
                "POST",
                "/campaigns/{id}",
                &STAFF,
                "Change a points campaign (a form)",
            ).with_request(campaign_schema()),
        Route::new(
            "DELETE",
            "/campaigns/{id}",
            &STAFF,
            "Delete a points campaign",
        ),
        Route::new(
            "POST",
            "/campaigns/{id}/delete",
            &STAFF,
            "Delete a points campaign (the screen's button)",
        ),
        // Staff: redemptions.
        Route::new(
            "GET",
            "/redemptions",
            &STAFF,
            "Redemptions in a status (?status=pending by default)",
        ),
        Route::new(
            "POST",
            "/redemptions/{id}/approve",
            &STAFF,
            "Approve a physical redemption (待审核 → 待发货)",
        ),
        Route::new(
                "POST",
                "/redemptions/{id}/ship",
                &STAFF,
                "Ship an approved redemption",
            ).with_request(json!({
                "type": "object",
                "required": ["carrier", "tracking"],
                "properties": {
                    "carrier": { "type": "string", "maxLength": 30 },
                    "tracking": { "type": "string", "maxLength": 50 }
                }
            })),
        Route::new(
                "POST",
                "/redemptions/{id}/reject",
                &STAFF,
                "Reject a redemption: points and stock given back",
            ).with_request(json!({ "type": "object", "properties": { "reason": { "type": "string", "maxLength": 100 } } })),
        // Staff: statistics and members.
        Route::new(
            "GET",
            "/stats",
            &STAFF,
            "Points issued, used, expired, reversed; gifts by popularity",
        ),
        Route::new(
                "POST",
                "/members/{member_id}/adjust",
                &ADMIN,
                "Add or deduct a member's points (管理员调整)",
            ).with_request(adjust_schema(false)),
        Route::new(
                "POST",
                "/adjust",
                &ADMIN,
                "Add or deduct a member's points (the office form)",
            ).with_request(adjust_schema(true)),
        Route::new(
            "GET",
            "/members/{member_id}",
            &STAFF,
            "A member's balance, expiring points and ledger",
        ),
        // Screens.
        Route::screen(
            "/wallet",
            &MEMBER,
            "我的积分",
            "我的积分",
            ScreenPlace::Mine,
        ),
        Route::screen("/mall", &ANYONE, "积分商城", "积分商城", ScreenPlace::Mine),
        Route::screen(
            "/gifts/{id}",
            &ANYONE,
            "A gift and its redeem form",
            "礼品详情",
            ScreenPlace::Linked,
        ),
        Route::screen(
            "/mine/redemptions",
            &MEMBER,
            "我的兑换",
            "我的兑换",
            ScreenPlace::Mine,
        ),
        Route::screen(
            "/office",
            &STAFF,
            "积分商城 (back office)",
            "积分商城",
            ScreenPlace::Office,
        ),
        Route::screen(
            "/office/redemptions",
            &STAFF,
            "The redemption queue by status",
            "兑换审核",
            ScreenPlace::Linked,
        ),
        Route::screen(
            "/office/campaigns",
            &STAFF,
            "Points campaigns",
            "积分活动",
            ScreenPlace::Linked,
        ),
        Route::screen(
            "/office/gifts/{id}",
            &STAFF,
            "Edit a gift",
            "编辑礼品",
            ScreenPlace::Linked,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_manifest_declares_every_hook_capability_event_and_route() {
        let manifest = manifest();
        assert_eq!(manifest.name, "points");
        assert_eq!(manifest.api, pifa_sdk::API_VERSION);
        assert_eq!(manifest.hooks.len(), 5);
        assert_eq!(
            manifest.capabilities,
            vec![Capability::Kv, Capability::Emit, Capability::Screens]
        );
        assert_eq!(
            manifest.events,
            vec![
                "order.placed",
                "order.completed",
                "order.closed",
                "order.refunded"
            ]
        );
        let mut seen = BTreeSet::new();
        for route in &manifest.routes {
            assert!(
                seen.insert((route.method.clone(), route.path.clone())),
                "{} {} twice",
                route.method,
                route.path
            );
            assert!(!route.summary.is_empty() && !route.roles.is_empty());
            assert!(route.screen.is_none() || route.method == "GET");
            assert!(route.shared_seconds == 0 || route.roles == ["public"]);
        }
        let screens: Vec<&str> = manifest
            .routes
            .iter()
            .filter(|r| r.screen.is_some())
            .map(|r| r.path.as_str())
            .collect();
        assert_eq!(screens.len(), 8);
        let gifts = manifest
            .routes
            .iter()
            .find(|r| r.path == "/gifts" && r.method == "GET");
        assert_eq!(gifts.map(|r| r.shared_seconds), Some(10));
        assert!(manifest.settings_schema.is_some());
    }

    #[test]
    fn every_declared_route_is_answered() {
        use pifa_sdk::{Caller, HttpRequest, MemoryKv};
        let mut kv = MemoryKv::default();
        for route in manifest().routes {
            let request = HttpRequest {
                method: route.method.clone(),
                route: route.path.clone(),
                params: [("id", "1"), ("member_id", "1")]
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                query: Default::default(),
                body: Value::Null,
                caller: Caller::default(),
                now_ms: 0,
                settings: Value::Null,
            };
            let answer = crate::http::handle(&mut kv, &request);
            // Nothing exists and nobody is signed in: refusals, never "no such route".
            let unknown = answer.status == 404
                && answer.body["error"]["message"].as_str().is_some_and(|m| {
                    m.starts_with("没有这个接口") || m.starts_with("没有这个页面")
                });
            assert!(!unknown, "{} {} is not routed", route.method, route.path);
        }
    }
}
