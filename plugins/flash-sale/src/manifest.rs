//! What flash-sale declares to the kernel: its hooks, the kv it needs, the event that gives
//! reservations back, its settings and its routes with their schemas (the kernel publishes
//! them in the OpenAPI document and checks the roles before calling).

use pifa_sdk::{Capability, Hook, Manifest, Route};
use serde_json::{Value, json};

use crate::pricing::{DEFAULT_LABEL, ORDER_CLOSED};
use crate::sale::{MAX_ITEMS, MAX_NAME_CHARS};

const STAFF: [&str; 2] = ["admin", "customer_service"];

pub fn manifest() -> Manifest {
    Manifest {
        capabilities: vec![Capability::Kv],
        settings_schema: Some(json!({
            "type": "object",
            "properties": {
                "label": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 20,
                    "default": DEFAULT_LABEL,
                    // The back office draws the settings form from this schema, in the
                    // shop's language.
                    "title": "价格标签",
                    "description": "会员在抢购价旁看到的文字，最多 20 个字"
                }
            },
            "additionalProperties": false
        })),
        routes: routes(),
        events: vec![ORDER_CLOSED.to_owned()],
        ..pifa_sdk::manifest(
            "flash-sale",
            env!("CARGO_PKG_VERSION"),
            &[Hook::Quote, Hook::Checkout, Hook::OnEvent, Hook::HandleHttp],
        )
    }
}

fn routes() -> Vec<Route> {
    let staff: Vec<String> = STAFF.iter().map(|role| (*role).to_owned()).collect();
    let route = |method: &str,
                 path: &str,
                 roles: &[String],
                 summary: &str,
                 request: Option<Value>,
                 response: Value| Route {
        method: method.to_owned(),
        path: path.to_owned(),
        roles: roles.to_vec(),
        summary: summary.to_owned(),
        request_schema: request,
        response_schema: Some(response),
        ..Route::default()
    };
    vec![
        route(
            "POST",
            "/sales",
            &staff,
            "Create a flash sale",
            Some(terms_schema()),
            sale_schema(),
        ),
        route(
            "PUT",
            "/sales/{id}",
            &staff,
            "Change a flash sale that has not ended",
            Some(terms_schema()),
            sale_schema(),
        ),
        route(
            "POST",
            "/sales/{id}/end",
            &staff,
            "End a flash sale now",
            None,
            sale_schema(),
        ),
        route(
            "GET",
            "/sales",
            &staff,
            "Every flash sale with what it has sold",
            None,
            json!({
                "type": "object",
                "required": ["sales"],
                "properties": { "sales": { "type": "array", "items": sale_schema() } }
            }),
        ),
        // The same for everyone who sees prices (and for everyone who does not): the home
        // page shows it on every view, so the kernel keeps each answer a few seconds.
        Route {
            shared_seconds: 2,
            ..route(
                "GET",
                "/storefront",
                &["public".to_owned()],
                "Running and upcoming flash sales as countdowns",
                None,
                storefront_schema(),
            )
        },
    ]
}

fn items_schema(price: Value) -> Value {
    json!({
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_ITEMS,
        "items": {
            "type": "object",
            "required": ["sku_id", "price_fen"],
            "additionalProperties": false,
            "properties": {
                "sku_id": { "type": "integer", "minimum": 1 },
                "price_fen": price
            }
        }
    })
}

fn terms_properties() -> serde_json::Map<String, Value> {
    let properties = json!({
        "name": { "type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS },
        "starts_at_ms": { "type": "integer", "description": "Epoch milliseconds (UTC)" },
        "ends_at_ms": { "type": "integer", "description": "Epoch milliseconds (UTC), after starts_at_ms" },
        "total_limit": { "type": "integer", "minimum": 1, "description": "Items all members may buy together" },
        "per_member_limit": { "type": "integer", "minimum": 1, "description": "Items one member may buy, at most total_limit" },
        "items": items_schema(json!({ "type": "integer", "minimum": 1, "description": "Price of one item in fen" }))
    });
    match properties {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

const TERMS: [&str; 6] = [
    "name",
    "starts_at_ms",
    "ends_at_ms",
    "total_limit",
    "per_member_limit",
    "items",
];

fn terms_schema() -> Value {
    json!({
        "type": "object",
        "required": TERMS,
        "additionalProperties": false,
        "properties": terms_properties()
    })
}

fn sale_schema() -> Value {
    let mut properties = terms_properties();
    properties.insert("id".to_owned(), json!({ "type": "integer" }));
    properties.insert(
        "ended".to_owned(),
        json!({ "type": "boolean", "description": "Ended by staff before its time" }),
    );
    properties.insert(
        "sold".to_owned(),
        json!({ "type": "integer", "description": "Items sold to all members so far" }),
    );
    let mut required: Vec<&str> = TERMS.to_vec();
    required.extend(["id", "ended", "sold"]);
    json!({ "type": "object", "required": required, "properties": properties })
}

fn storefront_schema() -> Value {
    json!({
        "type": "object",
        "required": ["sales"],
        "properties": {
            "sales": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name", "starts_at_ms", "ends_at_ms", "state", "seconds_left", "remaining", "items"],
                    "properties": {
                        "id": { "type": "integer" },
                        "name": { "type": "string" },
                        "starts_at_ms": { "type": "integer" },
                        "ends_at_ms": { "type": "integer" },
                        "state": { "enum": ["upcoming", "active"] },
                        "seconds_left": { "type": "integer", "description": "To the end when active, to the start when upcoming" },
                        "remaining": { "type": "integer", "description": "Items still to sell" },
                        "items": items_schema(json!({
                            "type": ["integer", "null"],
                            "description": "Null when the caller may not see prices"
                        }))
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
    fn the_manifest_declares_hooks_kv_the_closing_event_and_five_routes() {
        let manifest = manifest();
        assert_eq!(manifest.name, "flash-sale");
        assert_eq!(manifest.api, pifa_sdk::API_VERSION);
        assert_eq!(
            manifest.hooks,
            vec![Hook::Quote, Hook::Checkout, Hook::OnEvent, Hook::HandleHttp]
        );
        assert_eq!(manifest.capabilities, vec![Capability::Kv]);
        assert_eq!(manifest.events, vec!["order.closed".to_owned()]);
        let routes: Vec<(&str, &str)> = manifest
            .routes
            .iter()
            .map(|route| (route.method.as_str(), route.path.as_str()))
            .collect();
        assert_eq!(
            routes,
            vec![
                ("POST", "/sales"),
                ("PUT", "/sales/{id}"),
                ("POST", "/sales/{id}/end"),
                ("GET", "/sales"),
                ("GET", "/storefront"),
            ]
        );
        assert!(
            manifest
                .routes
                .iter()
                .all(|route| !route.summary.is_empty())
        );
        assert_eq!(manifest.routes[4].roles, vec!["public".to_owned()]);
        assert_eq!(
            manifest.routes[0].roles,
            vec!["admin".to_owned(), "customer_service".to_owned()]
        );
        let settings = manifest.settings_schema.unwrap();
        assert_eq!(settings["properties"]["label"]["maxLength"], 20);
        assert_eq!(settings["additionalProperties"], false);
    }

    #[test]
    fn the_terms_schema_lists_every_field_the_body_takes() {
        let schema = terms_schema();
        assert_eq!(schema["required"].as_array().map(Vec::len), Some(6));
        assert_eq!(schema["properties"]["items"]["maxItems"], 50);
        assert_eq!(sale_schema()["required"].as_array().map(Vec::len), Some(9));
    }
}
