//! What coupons declares to the kernel: its hooks, kv and screens, the events it follows, its
//! settings and its routes with their roles (the kernel checks them before calling) and
//! schemas (published in the OpenAPI document).

use pifa_sdk::{Capability, Hook, Manifest, Route, ScreenPlace};
use serde_json::{Value, json};

use crate::events::{GIFT_REDEEMED, ORDER_CLOSED, ORDER_PLACED};
use crate::issue::MAX_ISSUE_MEMBERS;
use crate::model::{
    MAX_AMOUNT_FEN, MAX_NAME_CHARS, MAX_PER_MEMBER, MAX_SCOPE_IDS, MAX_TOTAL, MAX_VALID_DAYS,
};
use crate::pricing::{DEFAULT_LABEL_PREFIX, MAX_PREFIX_CHARS};

const STAFF: [&str; 2] = ["admin", "customer_service"];

pub fn manifest() -> Manifest {
    Manifest {
        capabilities: vec![Capability::Kv, Capability::Screens],
        settings_schema: Some(json!({
            "type": "object",
            "properties": {
                "label_prefix": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_PREFIX_CHARS,
                    "pattern": "^[^<>{}]*$",
                    "default": DEFAULT_LABEL_PREFIX,
                    "title": "优惠标签前缀",
                    "description": "结算时优惠金额旁显示「前缀：券名称」，最多 8 个字"
                }
            },
            "additionalProperties": false
        })),
        routes: routes(),
        events: vec![
            ORDER_PLACED.to_owned(),
            ORDER_CLOSED.to_owned(),
            GIFT_REDEEMED.to_owned(),
        ],
        ..pifa_sdk::manifest(
            "coupons",
            env!("CARGO_PKG_VERSION"),
            &[Hook::Quote, Hook::Checkout, Hook::OnEvent, Hook::HandleHttp],
        )
    }
}

fn message_schema(extra: Value) -> Value {
    let mut properties = json!({ "message": { "type": "string" } });
    if let (Some(all), Some(more)) = (properties.as_object_mut(), extra.as_object()) {
        all.extend(more.clone());
    }
    json!({ "type": "object", "required": ["message"], "properties": properties })
}

fn routes() -> Vec<Route> {
    let template = template_schema();
    let with_template = message_schema(json!({ "template": template.clone() }));
    vec![
        Route {
            response_schema: Some(json!({
                "type": "object",
                "required": ["templates"],
                "properties": { "templates": { "type": "array", "items": template } }
            })),
            ..Route::new(
                "GET",
                "/templates",
                &STAFF,
                "Every coupon template with what was issued and used",
            )
        },
        Route {
            request_schema: Some(terms_schema()),
            response_schema: Some(with_template.clone()),
            ..Route::new(
                "POST",
                "/templates",
                &STAFF,
                "Create a coupon template (at most 200)",
            )
        },
        Route {
            request_schema: Some(terms_schema()),
            response_schema: Some(with_template.clone()),
            ..Route::new(
                "PUT",
                "/templates/{id}",
                &STAFF,
                "Change a template that has not ended (its rule and scope are fixed once coupons were issued)",
            )
        },
        Route {
            request_schema: Some(terms_schema()),
            response_schema: Some(with_template.clone()),
            ..Route::new(
                "POST",
                "/templates/{id}",
                &STAFF,
                "The same as PUT, for the detail screen's form",
            )
        },
        Route {
            response_schema: Some(with_template),
            ..Route::new(
                "POST",
                "/templates/{id}/end",
                &STAFF,
                "End a template: no more issuing, and its unused coupons stop applying",
            )
        },
        Route {
            response_schema: Some(message_schema(json!({}))),
            ..Route::new(
                "POST",
                "/templates/{id}/delete",
                &STAFF,
                "Delete an ended template",
            )
        },
        Route {
            request_schema: Some(json!({
                "type": "object",
                "required": ["member_ids"],
                "properties": {
                    "member_ids": {
                        "type": ["array", "string"],
                        "items": { "type": "integer", "minimum": 1 },
                        "maxItems": MAX_ISSUE_MEMBERS,
                        "description": format!("Member ids (or text with them separated by commas or new lines), at most {MAX_ISSUE_MEMBERS}: a call may write 100 times")
                    }
                }
            })),
            response_schema: Some(message_schema(json!({
                "issued": { "type": "integer" },
                "coupon_ids": { "type": "array", "items": { "type": "integer" } },
                "skipped": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": { "member_id": { "type": "integer" }, "reason": { "type": "string" } }
                    }
                }
            }))),
            ..Route::new(
                "POST",
                "/templates/{id}/issue",
                &STAFF,
                "Issue one coupon to each member named, skipping those at the per-member limit",
            )
        },
        Route {
            response_schema: Some(message_schema(json!({ "coupon": coupon_schema() }))),
            ..Route::new(
                "POST",
                "/templates/{id}/claim",
                &["member"],
                "Claim one coupon of a claimable template (领券中心)",
            )
        },
        Route {
            response_schema: Some(json!({
                "type": "object",
                "required": ["coupons"],
                "properties": { "coupons": { "type": "array", "items": coupon_schema() } }
            })),
            ..Route::new(
                "GET",
                "/mine",
                &["member"],
                "The calling member's coupons (the 100 most recent templates' ones) with their status",
            )
        },
        Route {
            shared_seconds: 10,
            response_schema: Some(json!({
                "type": "object",
                "required": ["templates"],
                "properties": { "templates": { "type": "array", "items": { "type": "object" } } }
            })),
            ..Route::new(
                "GET",
                "/center",
                &["public"],
                "Templates members may claim (领券中心), newest first",
            )
        },
        Route::screen(
            "/wallet",
            &["member"],
            "The member's coupons: usable, used, expired",
            "我的优惠券",
            ScreenPlace::Mine,
        ),
        Route::screen(
            "/claim",
            &["public", "member"],
            "领券中心: claimable coupons with a claim button",
            "领券中心",
            ScreenPlace::Mine,
        ),
        Route::screen(
            "/office",
            &STAFF,
            "Coupon templates with their figures, and the form creating one",
            "优惠券",
            ScreenPlace::Office,
        ),
        Route::screen(
            "/templates/{id}",
            &STAFF,
            "One template: figures, edit form, issue form, end or delete",
            "优惠券详情",
            ScreenPlace::Linked,
        ),
    ]
}

fn amount(description: &str) -> Value {
    json!({
        "type": ["integer", "string"],
        "description": format!("{description}: fen as a number, or yuan as text (\"12.50\") from a form"),
        "minimum": 0,
        "maximum": MAX_AMOUNT_FEN
    })
}

fn moment(description: &str) -> Value {
    json!({
        "type": ["integer", "string"],
        "description": format!("{description}: epoch ms, or the shop's local date or time as text (a date alone in valid_until_ms means through that day)")
    })
}

fn terms_properties() -> serde_json::Map<String, Value> {
    let properties = json!({
        "name": { "type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS, "description": "No < > {{ {% {#: it is the label members read" },
        "kind": { "enum": ["reduce", "discount"] },
        "amount_fen": amount("reduce: the amount off"),
        "percent": { "type": ["integer", "string"], "minimum": 1, "maximum": 99, "description": "discount: the percent paid (85 = 8.5折)" },
        "cap_fen": amount("discount: at most this much off (optional)"),
        "threshold_fen": amount("The eligible total needed; 0 or absent for none"),
        "scope": { "enum": ["all", "categories", "brands", "products"], "default": "all" },
        "scope_ids": {
            "type": ["array", "string"],
            "items": { "type": "integer", "minimum": 1 },
            "maxItems": MAX_SCOPE_IDS,
            "description": "The category (covering its sub-categories), brand or product ids of the scope"
        },
        "validity": { "enum": ["fixed", "days"], "description": "Absent: days when valid_days is given, else fixed" },
        "valid_from_ms": moment("fixed: the window's start"),
        "valid_until_ms": moment("fixed: the window's end (exclusive)"),
        "valid_days": { "type": ["integer", "string"], "minimum": 1, "maximum": MAX_VALID_DAYS, "description": "days: valid this many days after issue" },
        "total": { "type": ["integer", "string"], "minimum": 1, "maximum": MAX_TOTAL, "description": "Coupons that may be issued in all" },
        "per_member": { "type": ["integer", "string"], "minimum": 1, "maximum": MAX_PER_MEMBER, "description": "Coupons one member may claim or be issued by staff (gift-mall coupons aside)" },
        "claimable": { "type": ["boolean", "string"], "description": "Members may claim it in 领券中心 (a form's checkbox sends \"on\")" }
    });
    match properties {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

fn terms_schema() -> Value {
    json!({
        "type": "object",
        "required": ["name", "kind", "total", "per_member"],
        "properties": terms_properties()
    })
}

fn template_schema() -> Value {
    let mut properties = terms_properties();
    for (name, schema) in [
        ("id", json!({ "type": "integer" })),
        ("ended", json!({ "type": "boolean" })),
        ("created_at_ms", json!({ "type": "integer" })),
        (
            "issued",
            json!({ "type": "integer", "description": "Coupons issued so far" }),
        ),
        (
            "used",
            json!({ "type": "integer", "description": "Coupons in placed orders not closed" }),
        ),
        ("remaining", json!({ "type": "integer" })),
        (
            "rule_text",
            json!({ "type": "string", "description": "满300减30" }),
        ),
        ("scope_text", json!({ "type": "string" })),
        ("validity_text", json!({ "type": "string" })),
    ] {
        properties.insert(name.to_owned(), schema);
    }
    json!({
        "type": "object",
        "required": ["id", "name", "kind", "total", "per_member", "ended", "issued", "used", "remaining"],
        "properties": properties
    })
}

fn coupon_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "template_id", "member_id", "issued_at_ms", "valid_from_ms", "valid_until_ms", "source", "status"],
        "properties": {
            "id": { "type": "integer", "description": "member_id × 10,000,000 + template_id × 1,000 + n: what options.coupon_id names" },
            "template_id": { "type": "integer" },
            "member_id": { "type": "integer" },
            "issued_at_ms": { "type": "integer" },
            "valid_from_ms": { "type": "integer" },
            "valid_until_ms": { "type": "integer", "description": "Exclusive" },
            "source": { "enum": ["claim", "staff", "gift_mall", "campaign"] },
            "source_ref": { "type": "string", "description": "staff: the user id; gift_mall: the redemption id" },
            "used_by": {
                "type": "object",
                "properties": {
                    "order_id": { "type": ["integer", "null"] },
                    "order_no": { "type": ["string", "null"] },
                    "at_ms": { "type": "integer" }
                }
            },
            "name": { "type": ["string", "null"] },
            "rule_text": { "type": ["string", "null"] },
            "scope_text": { "type": ["string", "null"] },
            "last_day": { "type": "string", "description": "The last day it is valid, in the shop's time" },
            "status": { "enum": ["usable", "not_started", "used", "expired", "ended"] },
            "status_text": { "type": "string" }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_declares_hooks_events_routes_and_screens() {
        let manifest = manifest();
        assert_eq!(manifest.name, "coupons");
        assert_eq!(manifest.api, pifa_sdk::API_VERSION);
        assert_eq!(
            manifest.hooks,
            vec![Hook::Quote, Hook::Checkout, Hook::OnEvent, Hook::HandleHttp]
        );
        assert_eq!(
            manifest.capabilities,
            vec![Capability::Kv, Capability::Screens]
        );
        assert_eq!(
            manifest.events,
            vec![
                "order.placed",
                "order.closed",
                "plugin.points.gift_redeemed"
            ]
        );
        let routes: Vec<(&str, &str)> = manifest
            .routes
            .iter()
            .map(|r| (r.method.as_str(), r.path.as_str()))
            .collect();
        assert_eq!(routes.len(), 14);
        let mut unique = routes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), routes.len(), "no route declared twice");
        assert!(manifest.routes.iter().all(|r| !r.summary.is_empty()));
        // Only the public JSON of 领券中心 is shared; screens are GET routes with an entry.
        let shared: Vec<&str> = manifest
            .routes
            .iter()
            .filter(|r| r.shared_seconds > 0)
            .map(|r| r.path.as_str())
            .collect();
        assert_eq!(shared, vec!["/center"]);
        let screens: Vec<(&str, &str, ScreenPlace)> = manifest
            .routes
            .iter()
            .filter_map(|r| {
                r.screen
                    .as_ref()
                    .map(|s| (r.path.as_str(), s.label.as_str(), s.place))
            })
            .collect();
        assert_eq!(
            screens,
            vec![
                ("/wallet", "我的优惠券", ScreenPlace::Mine),
                ("/claim", "领券中心", ScreenPlace::Mine),
                ("/office", "优惠券", ScreenPlace::Office),
                ("/templates/{id}", "优惠券详情", ScreenPlace::Linked),
            ]
        );
        assert!(
            manifest
                .routes
                .iter()
                .filter(|r| r.screen.is_some())
                .all(|r| r.method == "GET")
        );
        let claim = manifest
            .routes
            .iter()
            .find(|r| r.path == "/templates/{id}/claim")
            .unwrap();
        assert_eq!(claim.roles, vec!["member".to_owned()]);
        let settings = manifest.settings_schema.unwrap();
        assert_eq!(settings["properties"]["label_prefix"]["default"], "优惠券");
        assert_eq!(settings["additionalProperties"], false);
    }
}
