//! What clearance declares to the kernel: its hooks, kv and screens, the event that gives
//! reservations back, its settings and its routes with their schemas (the kernel publishes
//! them in the OpenAPI document and checks the roles before calling).

use pifa_sdk::{Capability, Hook, Manifest, Route, ScreenPlace};
use serde_json::{Value, json};

use crate::http::{LIST_PAGE, STOREFRONT_PAGE};
use crate::item::{MAX_NOTE_CHARS, MAX_PRICE_FEN, MAX_QUANTITY};
use crate::pricing::{DEFAULT_LABEL, MAX_LABEL_CHARS, ORDER_CLOSED};

pub const NAME: &str = "clearance";
const STAFF: [&str; 2] = ["admin", "customer_service"];

pub fn manifest() -> Manifest {
    Manifest {
        capabilities: vec![Capability::Kv, Capability::Screens],
        settings_schema: Some(settings_schema()),
        routes: routes(),
        events: vec![ORDER_CLOSED.to_owned()],
        ..pifa_sdk::manifest(
            NAME,
            env!("CARGO_PKG_VERSION"),
            &[Hook::Quote, Hook::Checkout, Hook::OnEvent, Hook::HandleHttp],
        )
    }
}

fn settings_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "label": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_LABEL_CHARS,
                // The kernel refuses a label with markup or template syntax.
                "pattern": "^[^<>{}]*$",
                "default": DEFAULT_LABEL,
                "title": "价格标签",
                "description": "会员在清仓价旁看到的文字，也是售后拒绝退换时给出的理由，最多 20 个字"
            },
            "stack_with_flash_sale": {
                "type": "boolean",
                "default": false,
                "title": "与限时抢购叠加",
                "description": "开启后，已按限时抢购价计价的商品若清仓价更低，也按清仓价；关闭时抢购商品不再参与清仓"
            }
        },
        "additionalProperties": false
    })
}

fn routes() -> Vec<Route> {
    vec![
        Route {
            response_schema: Some(json!({
                "type": "object",
                "required": ["items", "next_after", "count", "max_items"],
                "properties": {
                    "items": { "type": "array", "maxItems": LIST_PAGE, "items": item_schema(false) },
                    "next_after": next_after(),
                    "count": { "type": "integer", "description": "SKUs on clearance now" },
                    "max_items": { "type": "integer", "description": "The most there may be (500)" }
                }
            })),
            ..Route::new(
                "GET",
                "/items",
                &STAFF,
                "A page of the SKUs on clearance with what each sold and what remains (?after=<sku_id>&limit=, at most 30)",
            )
        },
        Route {
            request_schema: Some(create_schema()),
            response_schema: Some(item_schema(true)),
            ..Route::new(
                "POST",
                "/items",
                &STAFF,
                "Put a SKU on clearance (at most 500 at once)",
            )
        },
        Route {
            request_schema: Some(change_schema()),
            response_schema: Some(item_schema(true)),
            ..Route::new(
                "PUT",
                "/items/{sku_id}",
                &STAFF,
                "Change a clearance price, quantity or note",
            )
        },
        Route {
            request_schema: Some(change_schema()),
            response_schema: Some(item_schema(true)),
            ..Route::new(
                "POST",
                "/items/{sku_id}",
                &STAFF,
                "The same change, for the edit screen's form (forms only post)",
            )
        },
        Route {
            response_schema: Some(item_schema(true)),
            ..Route::new(
                "POST",
                "/items/{sku_id}/end",
                &STAFF,
                "Take a SKU off clearance; orders placed keep their price",
            )
        },
        // The same for everyone who sees prices (and for everyone who does not): the
        // storefront may show it on every view, so the kernel keeps each answer a while.
        Route {
            shared_seconds: 10,
            response_schema: Some(storefront_schema()),
            ..Route::new(
                "GET",
                "/storefront",
                &["public"],
                "A page of the SKUs on clearance with what remains, for the storefront (?after=<sku_id>&limit=, at most 30)",
            )
        },
        Route::screen(
            "/office",
            &STAFF,
            "Screen: the SKUs on clearance and a form to add one",
            "清仓管理",
            ScreenPlace::Office,
        ),
        Route::screen(
            "/office/after/{after}",
            &STAFF,
            "Screen: the next page of 清仓管理",
            "清仓管理",
            ScreenPlace::Linked,
        ),
        Route::screen(
            "/items/{sku_id}/edit",
            &STAFF,
            "Screen: change one SKU on clearance",
            "修改清仓",
            ScreenPlace::Linked,
        ),
        Route::screen(
            "/zone",
            &["public", "member"],
            "Screen: the goods on clearance, for members",
            "清仓专区",
            ScreenPlace::Mine,
        ),
        Route::screen(
            "/zone/after/{after}",
            &["public", "member"],
            "Screen: the next page of 清仓专区",
            "清仓专区",
            ScreenPlace::Linked,
        ),
    ]
}

fn money(description: &str) -> Value {
    json!({
        "type": ["integer", "string"],
        "description": format!("{description}: fen as a number, or yuan as text (\"12.50\")"),
        "minimum": 1,
        "maximum": MAX_PRICE_FEN
    })
}

fn quantity() -> Value {
    json!({
        "type": ["integer", "string"],
        "minimum": 1,
        "maximum": MAX_QUANTITY,
        "description": "Units offered at the clearance price, sold ones included"
    })
}

fn note() -> Value {
    json!({
        "type": ["string", "null"],
        "maxLength": MAX_NOTE_CHARS,
        "description": "A name for members and staff; `SKU n` without one"
    })
}

fn create_schema() -> Value {
    json!({
        "type": "object",
        "required": ["sku_id", "product_id", "price_fen", "quantity"],
        "properties": {
            "sku_id": { "type": ["integer", "string"], "minimum": 1 },
            "product_id": { "type": ["integer", "string"], "minimum": 1, "description": "The SKU's product, for the link to its page" },
            "price_fen": money("The clearance price of one unit"),
            "quantity": quantity(),
            "note": note()
        }
    })
}

fn change_schema() -> Value {
    json!({
        "type": "object",
        "description": "A field left out is kept; an empty note takes the note away",
        "properties": {
            "price_fen": money("The clearance price of one unit"),
            "quantity": quantity(),
            "note": note()
        }
    })
}

/// An item as staff see it; with `message` when a form's route answers it.
fn item_schema(with_message: bool) -> Value {
    let mut required = vec![
        "id",
        "sku_id",
        "product_id",
        "price_fen",
        "quantity",
        "note",
        "sold",
        "remaining",
        "created_at_ms",
        "updated_at_ms",
    ];
    let mut properties = json!({
        "id": { "type": "integer", "description": "This listing's id, new each time the SKU is put on clearance" },
        "sku_id": { "type": "integer" },
        "product_id": { "type": "integer" },
        "price_fen": { "type": "integer" },
        "quantity": { "type": "integer" },
        "note": { "type": ["string", "null"] },
        "sold": { "type": "integer", "description": "Units sold at the clearance price under this listing" },
        "remaining": { "type": "integer", "description": "quantity − sold, never below 0" },
        "created_at_ms": { "type": "integer" },
        "updated_at_ms": { "type": "integer" }
    });
    if with_message {
        required.push("message");
        if let Some(object) = properties.as_object_mut() {
            object.insert("message".to_owned(), json!({ "type": "string" }));
        }
    }
    json!({ "type": "object", "required": required, "properties": properties })
}

fn next_after() -> Value {
    json!({
        "type": ["integer", "null"],
        "description": "`?after=` of the next page; null on the last"
    })
}

fn storefront_schema() -> Value {
    json!({
        "type": "object",
        "required": ["items", "next_after"],
        "properties": {
            "next_after": next_after(),
            "items": {
                "type": "array",
                "maxItems": STOREFRONT_PAGE,
                "items": {
                    "type": "object",
                    "required": ["sku_id", "product_id", "name", "price_fen", "remaining"],
                    "properties": {
                        "sku_id": { "type": "integer" },
                        "product_id": { "type": "integer" },
                        "name": { "type": "string" },
                        "price_fen": { "type": ["integer", "null"], "description": "Null when the caller may not see prices" },
                        "remaining": { "type": "integer", "description": "Units still at the clearance price; 0 when sold out" }
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn the_manifest_declares_hooks_capabilities_the_closing_event_and_the_routes() {
        let manifest = manifest();
        assert_eq!(manifest.name, "clearance");
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
        let routes: Vec<(&str, &str, Vec<String>)> = manifest
            .routes
            .iter()
            .map(|r| (r.method.as_str(), r.path.as_str(), r.roles.clone()))
            .collect();
        let staff = roles(&STAFF);
        assert_eq!(
            routes,
            vec![
                ("GET", "/items", staff.clone()),
                ("POST", "/items", staff.clone()),
                ("PUT", "/items/{sku_id}", staff.clone()),
                ("POST", "/items/{sku_id}", staff.clone()),
                ("POST", "/items/{sku_id}/end", staff.clone()),
                ("GET", "/storefront", roles(&["public"])),
                ("GET", "/office", staff.clone()),
                ("GET", "/office/after/{after}", staff.clone()),
                ("GET", "/items/{sku_id}/edit", staff),
                ("GET", "/zone", roles(&["public", "member"])),
                ("GET", "/zone/after/{after}", roles(&["public", "member"])),
            ]
        );
        assert!(manifest.routes.iter().all(|r| !r.summary.is_empty()));
        // Only the public storefront is shared; screens are GET routes.
        let shared: Vec<(&str, u32)> = manifest
            .routes
            .iter()
            .filter(|r| r.shared_seconds > 0)
            .map(|r| (r.path.as_str(), r.shared_seconds))
            .collect();
        assert_eq!(shared, vec![("/storefront", 10)]);
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
                ("/office", "清仓管理", ScreenPlace::Office),
                ("/office/after/{after}", "清仓管理", ScreenPlace::Linked),
                ("/items/{sku_id}/edit", "修改清仓", ScreenPlace::Linked),
                ("/zone", "清仓专区", ScreenPlace::Mine),
                ("/zone/after/{after}", "清仓专区", ScreenPlace::Linked),
            ]
        );
        assert!(
            manifest
                .routes
                .iter()
                .filter(|r| r.screen.is_some())
                .all(|r| r.method == "GET")
        );
    }

    #[test]
    fn the_settings_schema_gives_defaults_and_chinese_titles() {
        let schema = settings_schema();
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["properties"]["label"]["default"], DEFAULT_LABEL);
        assert_eq!(schema["properties"]["label"]["maxLength"], 20);
        assert_eq!(
            schema["properties"]["stack_with_flash_sale"]["default"],
            false
        );
        for property in ["label", "stack_with_flash_sale"] {
            assert!(
                schema["properties"][property]["title"].is_string(),
                "{property}"
            );
            assert!(
                schema["properties"][property]["description"].is_string(),
                "{property}"
            );
        }
    }

    #[test]
    fn the_create_schema_requires_the_product() {
        let schema = create_schema();
        assert_eq!(
            schema["required"],
            json!(["sku_id", "product_id", "price_fen", "quantity"])
        );
        assert_eq!(
            item_schema(true)["required"].as_array().map(Vec::len),
            Some(11)
        );
    }
}
