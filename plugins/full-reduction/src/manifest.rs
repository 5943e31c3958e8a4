//! What full-reduction declares to the kernel: its hooks, the kv and screens it needs, the
//! event that gives gift reservations back, its settings and its routes with their schemas
//! (the kernel publishes them in the OpenAPI document and checks the roles before calling).

use pifa_sdk::{Capability, Hook, Manifest, Route, ScreenEntry, ScreenPlace};
use serde_json::{Value, json};

use crate::campaign::{
    Basis, MAX_AMOUNT_FEN, MAX_GIFT_QTY, MAX_GIFT_STOCK, MAX_NAME_CHARS, MAX_SCOPE_IDS,
    MAX_STACK_WITH, MAX_TIERS, ScopeKind,
};
use crate::pricing::{ME, ORDER_CLOSED};

const STAFF: [&str; 2] = ["admin", "customer_service"];

pub fn manifest() -> Manifest {
    Manifest {
        capabilities: vec![Capability::Kv, Capability::Screens],
        settings_schema: Some(json!({
            "type": "object",
            "properties": {
                "stacking": {
                    "enum": ["best", "all"],
                    "default": "best",
                    // The back office draws the settings form from this schema, in the
                    // shop's language.
                    "title": "多个活动同时进行时",
                    "description": "best：只用优惠最多的一个活动（满赠只在没有满减、满折可用时送出）；all：按活动编号依次叠加，后一个按前一个优惠后的金额计算"
                }
            },
            "additionalProperties": false
        })),
        routes: routes(),
        events: vec![ORDER_CLOSED.to_owned()],
        ..pifa_sdk::manifest(
            ME,
            env!("CARGO_PKG_VERSION"),
            &[Hook::Quote, Hook::Checkout, Hook::OnEvent, Hook::HandleHttp],
        )
    }
}

fn roles(names: &[&str]) -> Vec<String> {
    names.iter().map(|role| (*role).to_owned()).collect()
}

fn route(
    method: &str,
    path: &str,
    roles: Vec<String>,
    summary: &str,
    request: Option<Value>,
    response: Value,
) -> Route {
    Route {
        method: method.to_owned(),
        path: path.to_owned(),
        roles,
        summary: summary.to_owned(),
        request_schema: request,
        response_schema: Some(response),
        ..Route::default()
    }
}

fn screen(
    path: &str,
    roles: Vec<String>,
    summary: &str,
    entry: Option<(&str, ScreenPlace)>,
) -> Route {
    Route {
        screen: Some(ScreenEntry {
            label: entry.map(|(label, _)| label).unwrap_or_default().to_owned(),
            place: entry.map_or(ScreenPlace::Linked, |(_, place)| place),
        }),
        ..route(
            "GET",
            path,
            roles,
            summary,
            None,
            json!({ "type": "object" }),
        )
    }
}

fn routes() -> Vec<Route> {
    let staff = roles(&STAFF);
    let with_message = campaign_schema(true);
    vec![
        route(
            "GET",
            "/campaigns",
            staff.clone(),
            "Every campaign with its state, tiers in words and gifts given",
            None,
            json!({
                "type": "object",
                "required": ["campaigns"],
                "properties": { "campaigns": { "type": "array", "items": campaign_schema(false) } }
            }),
        ),
        route(
            "POST",
            "/campaigns",
            staff.clone(),
            "Create a campaign (at most 100 stored)",
            Some(terms_schema()),
            with_message.clone(),
        ),
        route(
            "PUT",
            "/campaigns/{id}",
            staff.clone(),
            "Change a campaign that has not ended",
            Some(terms_schema()),
            with_message.clone(),
        ),
        route(
            "POST",
            "/campaigns/{id}",
            staff.clone(),
            "Change a campaign that has not ended (the edit screen's form)",
            Some(terms_schema()),
            with_message.clone(),
        ),
        route(
            "POST",
            "/campaigns/{id}/end",
            staff.clone(),
            "End a campaign now",
            None,
            with_message,
        ),
        route(
            "POST",
            "/campaigns/{id}/delete",
            staff.clone(),
            "Delete a campaign that has ended, making room for a new one",
            None,
            json!({
                "type": "object",
                "required": ["id", "message"],
                "properties": { "id": { "type": "integer" }, "message": { "type": "string" } }
            }),
        ),
        // The same for everyone: the storefront shows it on every view, so the kernel keeps
        // each answer a few seconds (a gift running out shows within them).
        Route {
            shared_seconds: 10,
            ..route(
                "GET",
                "/storefront",
                roles(&["public"]),
                "Running campaigns with their tiers in words",
                None,
                storefront_schema(),
            )
        },
        screen(
            "/office",
            staff.clone(),
            "满减满赠: the campaigns, their actions and a create form",
            Some(("满减满赠", ScreenPlace::Office)),
        ),
        screen(
            "/campaigns/{id}/edit",
            staff,
            "A campaign's edit form",
            None,
        ),
        screen(
            "/offers",
            roles(&["public", "member"]),
            "满减活动: the running campaigns in words",
            Some(("满减活动", ScreenPlace::Mine)),
        ),
    ]
}

fn tier_schema() -> Value {
    json!({
        "type": "object",
        "required": ["threshold"],
        "description": "Exactly one of reduce_fen, discount_percent, gift",
        "properties": {
            "threshold": {
                "type": "integer", "minimum": 1, "maximum": MAX_AMOUNT_FEN,
                "description": "Fen for basis amount, items for basis quantity; rising tier by tier"
            },
            "reduce_fen": {
                "type": "integer", "minimum": 1,
                "description": "满减: fen off the eligible lines together (below the threshold for basis amount)"
            },
            "discount_percent": {
                "type": "integer", "minimum": 1, "maximum": 99,
                "description": "满折: the percent the eligible lines cost (95 = 九五折)"
            },
            "gift": {
                "type": "object",
                "required": ["sku_id", "stock"],
                "properties": {
                    "sku_id": { "type": "integer", "minimum": 1 },
                    "qty": { "type": "integer", "minimum": 1, "maximum": MAX_GIFT_QTY, "default": 1 },
                    "stock": {
                        "type": "integer", "minimum": 1, "maximum": MAX_GIFT_STOCK,
                        "description": "Gift sets this tier may give in all"
                    }
                }
            }
        }
    })
}

fn terms_properties() -> serde_json::Map<String, Value> {
    let properties = json!({
        "name": { "type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS },
        "starts_at_ms": { "type": ["integer", "string"], "description": "Epoch milliseconds, or the shop's local time (2026-05-01T00:00)" },
        "ends_at_ms": { "type": ["integer", "string"], "description": "After starts_at_ms" },
        "basis": { "enum": Basis::CHOICES },
        "tiers": { "type": "array", "minItems": 1, "maxItems": MAX_TIERS, "items": tier_schema() },
        "scope": { "enum": ScopeKind::CHOICES, "default": "all" },
        "scope_ids": {
            "type": ["array", "string"], "items": { "type": "integer", "minimum": 1 },
            "maxItems": MAX_SCOPE_IDS,
            "description": "Category, brand or product ids (a list, or text such as \"3,5\"); empty for scope all"
        },
        "stack_with": {
            "type": ["array", "string"], "items": { "type": "string" },
            "maxItems": MAX_STACK_WITH,
            "description": "Earlier plugins whose lines still count (flash-sale, clearance); by default a line another plugin adjusted does not"
        }
    });
    match properties {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

fn terms_schema() -> Value {
    json!({
        "type": "object",
        "required": ["name", "starts_at_ms", "ends_at_ms", "basis"],
        "description": "A form may send the tiers as flat text fields instead of `tiers`: tier1_threshold (yuan or items), tier1_reduce (yuan), tier1_percent, tier1_gift_sku, tier1_gift_qty, tier1_gift_stock … tier5_*",
        "properties": terms_properties()
    })
}

fn campaign_schema(with_message: bool) -> Value {
    let mut properties = terms_properties();
    properties.insert("id".to_owned(), json!({ "type": "integer" }));
    properties.insert(
        "ended".to_owned(),
        json!({ "type": "boolean", "description": "Ended by staff before its time" }),
    );
    properties.insert(
        "state".to_owned(),
        json!({ "enum": ["upcoming", "active", "ended"] }),
    );
    properties.insert("words".to_owned(), json!({ "type": "array", "items": { "type": "string" }, "description": "Each tier in words: 满500减50" }));
    properties.insert("given".to_owned(), json!({ "type": "array", "items": { "type": "integer" }, "description": "Gift sets each tier has given" }));
    let mut required = vec![
        "id",
        "name",
        "starts_at_ms",
        "ends_at_ms",
        "basis",
        "tiers",
        "scope",
        "ended",
        "state",
        "words",
        "given",
    ];
    if with_message {
        properties.insert("message".to_owned(), json!({ "type": "string" }));
        required.push("message");
    }
    json!({ "type": "object", "required": required, "properties": properties })
}

fn storefront_schema() -> Value {
    json!({
        "type": "object",
        "required": ["campaigns"],
        "properties": {
            "campaigns": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name", "starts_at_ms", "ends_at_ms", "basis", "scope", "scope_words", "tiers"],
                    "properties": {
                        "id": { "type": "integer" },
                        "name": { "type": "string" },
                        "starts_at_ms": { "type": "integer" },
                        "ends_at_ms": { "type": "integer" },
                        "basis": { "enum": Basis::CHOICES },
                        "scope": { "enum": ScopeKind::CHOICES },
                        "scope_words": { "type": "string", "description": "全场商品, 指定分类商品 …" },
                        "tiers": { "type": "array", "items": { "type": "string" }, "description": "满500减50, 满1000赠（赠品已送完）" }
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_declares_hooks_capabilities_the_closing_event_and_the_routes() {
        let manifest = manifest();
        assert_eq!(manifest.name, "full-reduction");
        assert_eq!(manifest.api, pifa_sdk::API_VERSION);
        assert_eq!(
            manifest.hooks,
            vec![Hook::Quote, Hook::Checkout, Hook::OnEvent, Hook::HandleHttp]
        );
        assert_eq!(
            manifest.capabilities,
            vec![Capability::Kv, Capability::Screens]
        );
        assert_eq!(manifest.events, vec!["order.closed".to_owned()]);
        let routes: Vec<(&str, &str)> = manifest
            .routes
            .iter()
            .map(|route| (route.method.as_str(), route.path.as_str()))
            .collect();
        assert_eq!(
            routes,
            vec![
                ("GET", "/campaigns"),
                ("POST", "/campaigns"),
                ("PUT", "/campaigns/{id}"),
                ("POST", "/campaigns/{id}"),
                ("POST", "/campaigns/{id}/end"),
                ("POST", "/campaigns/{id}/delete"),
                ("GET", "/storefront"),
                ("GET", "/office"),
                ("GET", "/campaigns/{id}/edit"),
                ("GET", "/offers"),
            ]
        );
        assert!(
            manifest
                .routes
                .iter()
                .all(|route| !route.summary.is_empty())
        );
        let by_path = |method: &str, path: &str| {
            manifest
                .routes
                .iter()
                .find(|r| r.method == method && r.path == path)
                .unwrap()
                .clone()
        };
        let storefront = by_path("GET", "/storefront");
        assert_eq!(
            (storefront.roles, storefront.shared_seconds),
            (vec!["public".to_owned()], 10)
        );
        assert_eq!(by_path("POST", "/campaigns").roles, roles(&STAFF));
        let office = by_path("GET", "/office").screen.unwrap();
        assert_eq!(
            (office.label.as_str(), office.place),
            ("满减满赠", ScreenPlace::Office)
        );
        let edit = by_path("GET", "/campaigns/{id}/edit").screen.unwrap();
        assert_eq!(edit.place, ScreenPlace::Linked);
        let offers = by_path("GET", "/offers");
        assert_eq!(offers.roles, roles(&["public", "member"]));
        assert_eq!(
            offers.screen.map(|s| (s.label, s.place)),
            Some(("满减活动".to_owned(), ScreenPlace::Mine))
        );
        // Only screens and the one shared public route carry those.
        assert_eq!(
            manifest
                .routes
                .iter()
                .filter(|r| r.screen.is_some())
                .count(),
            3
        );
        assert_eq!(
            manifest
                .routes
                .iter()
                .filter(|r| r.shared_seconds > 0)
                .count(),
            1
        );
    }

    #[test]
    fn the_settings_offer_best_and_all_with_best_by_default() {
        let settings = manifest().settings_schema.unwrap();
        assert_eq!(
            settings["properties"]["stacking"]["enum"],
            json!(["best", "all"])
        );
        assert_eq!(settings["properties"]["stacking"]["default"], "best");
        assert_eq!(settings["additionalProperties"], false);
    }

    #[test]
    fn the_schemas_bound_what_the_body_takes() {
        let terms = terms_schema();
        assert_eq!(terms["properties"]["tiers"]["maxItems"], 5);
        assert_eq!(terms["properties"]["name"]["maxLength"], 30);
        assert_eq!(
            campaign_schema(true)["required"].as_array().map(Vec::len),
            Some(12)
        );
    }
}
