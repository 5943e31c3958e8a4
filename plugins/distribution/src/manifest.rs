//! What distribution declares to the kernel: `on-event` for the completed and refunded
//! orders, `handle-http` for its routes and screens, the capabilities `kv`, `emit` and
//! `screens`, its settings and its routes with their roles and schemas.

use pifa_sdk::{Capability, Hook, Manifest, Route, ScreenPlace};
use serde_json::{Value, json};

use crate::payload::{ORDER_COMPLETED, ORDER_REFUNDED};
use crate::payouts::{MAX_NOTE_CHARS, MAX_REMARK_CHARS};
use crate::rates::{MAX_CATEGORIES, MAX_GOODS, MAX_LEVELS};
use crate::settings::{
    DEFAULT_MIN_PAYOUT_FEN, DEFAULT_NOTICE, DEFAULT_RATE_BP, MAX_MIN_PAYOUT_FEN, MAX_NOTICE_CHARS,
    MAX_RATE_BP,
};

pub const NAME: &str = "distribution";

pub fn manifest() -> Manifest {
    Manifest {
        capabilities: vec![Capability::Kv, Capability::Emit, Capability::Screens],
        settings_schema: Some(settings_schema()),
        routes: routes(),
        events: vec![ORDER_COMPLETED.to_owned(), ORDER_REFUNDED.to_owned()],
        ..pifa_sdk::manifest(
            NAME,
            env!("CARGO_PKG_VERSION"),
            &[Hook::OnEvent, Hook::HandleHttp],
        )
    }
}

fn settings_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "notice": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_NOTICE_CHARS,
                "default": DEFAULT_NOTICE,
                "title": "佣金到账通知",
                "description": "推广经理的客户订单完成、佣金入账时发给推广经理的文字，最多100个字；{order_no} 换成订单号，{amount} 换成佣金金额，{customer} 换成客户编号"
            },
            "default_rate_bp": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_RATE_BP,
                "default": DEFAULT_RATE_BP,
                "title": "默认佣金费率（基点）",
                "description": "没有商品、分类或会员等级费率时按此计佣；100基点 = 1%，300 即 3%"
            },
            "min_payout_fen": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_MIN_PAYOUT_FEN,
                "default": DEFAULT_MIN_PAYOUT_FEN,
                "title": "最低提现金额（分）",
                "description": "推广经理单次提现至少这么多，10000 即 ¥100.00"
            }
        },
        "additionalProperties": false
    })
}

fn perf_schema() -> Value {
    json!({
        "type": "object",
        "required": ["customers", "orders", "sales_fen", "commission_fen"],
        "properties": {
            "customers": { "type": "integer", "description": "Distinct members who ordered" },
            "orders": { "type": "integer", "description": "Orders completed" },
            "sales_fen": { "type": "integer", "description": "Completed orders' totals minus their refunds" },
            "commission_fen": { "type": "integer", "description": "Promoters: commission credited minus reversals" }
        }
    })
}

fn figures_properties() -> Value {
    json!({ "this_month": perf_schema(), "all_time": perf_schema() })
}

fn payout_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "promoter", "amount_fen", "note", "status", "at"],
        "properties": {
            "id": { "type": "integer" },
            "promoter": { "type": "integer", "description": "The promoter's user id" },
            "amount_fen": { "type": "integer" },
            "note": { "type": "string", "description": "Where to pay (微信, 银行卡尾号1234)" },
            "status": { "enum": ["pending", "paid", "rejected"] },
            "at": { "type": "integer", "description": "Epoch ms" },
            "decided_at": { "type": ["integer", "null"] },
            "decided_by": { "type": ["integer", "null"] },
            "remark": { "type": "string", "description": "The remark when paid, the reason when rejected" }
        }
    })
}

fn message_schema(extra: &str, schema: Value) -> Value {
    json!({
        "type": "object",
        "required": ["message", extra],
        "properties": { "message": { "type": "string" }, extra: schema }
    })
}

fn rate_table(most: usize) -> Value {
    json!({
        "oneOf": [
            {
                "type": "object",
                "maxProperties": most,
                "additionalProperties": { "type": "integer", "minimum": 0, "maximum": MAX_RATE_BP },
                "description": "id → basis points"
            },
            { "type": "string", "description": "One id=bp a line (a form's textarea)" }
        ]
    })
}

fn rates_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "goods": rate_table(MAX_GOODS),
            "categories": rate_table(MAX_CATEGORIES),
            "levels": rate_table(MAX_LEVELS)
        }
    })
}

fn rates_view_schema() -> Value {
    json!({
        "type": "object",
        "required": ["goods", "categories", "levels", "default_rate_bp"],
        "properties": {
            "goods": rate_table(MAX_GOODS),
            "categories": rate_table(MAX_CATEGORIES),
            "levels": rate_table(MAX_LEVELS),
            "default_rate_bp": { "type": "integer", "description": "The setting, for lines no rate names" }
        }
    })
}

fn routes() -> Vec<Route> {
    const PROMOTER: &[&str] = &["promoter"];
    const MANAGER: &[&str] = &["manager"];
    const ADMIN: &[&str] = &["admin"];
    let entry = json!({
        "type": "object",
        "required": ["at", "order_no", "kind", "change", "balance"],
        "properties": {
            "at": { "type": "integer" },
            "order_no": { "type": "string" },
            "kind": { "enum": ["佣金", "退款扣回", "提现申请", "提现驳回退回"] },
            "change": { "type": "integer" },
            "balance": { "type": "integer" },
            "payout_id": { "type": "integer" },
            "note": { "type": "string" }
        }
    });
    let mut wallet = json!({
        "type": "object",
        "required": ["user_id", "month", "balance_fen", "owed_fen", "min_payout_fen", "this_month", "all_time", "ledger", "payouts"],
        "properties": {
            "user_id": { "type": "integer" },
            "month": { "type": "string", "description": "YYYY-MM, the shop's" },
            "balance_fen": { "type": "integer", "description": "What may be withdrawn" },
            "owed_fen": { "type": "integer", "description": "Commission refunds could not take back" },
            "min_payout_fen": { "type": "integer" },
            "ledger": { "type": "array", "items": entry, "description": "The latest 50, newest first" },
            "payouts": { "type": "array", "items": payout_schema(), "description": "The latest 20, newest first" }
        }
    });
    extend(&mut wallet, figures_properties());
    let mut member =
        json!({ "type": "object", "properties": { "user_id": { "type": "integer" } } });
    extend(&mut member, figures_properties());
    let mut team = json!({
        "type": "object",
        "required": ["manager_id", "month", "this_month", "all_time", "promoters"],
        "properties": {
            "manager_id": { "type": "integer" },
            "month": { "type": "string" },
            "promoters": { "type": "array", "items": member }
        }
    });
    extend(&mut team, figures_properties());
    let mut line = perf_schema();
    extend(&mut line, json!({ "user_id": { "type": "integer" } }));
    vec![
        Route {
            response_schema: Some(wallet),
            ..Route::new(
                "GET",
                "/mine",
                PROMOTER,
                "The promoter's balance, performance, ledger and payouts",
            )
        },
        Route {
            request_schema: Some(json!({
                "type": "object",
                "required": ["amount_fen", "note"],
                "properties": {
                    "amount_fen": { "type": ["integer", "string"], "description": "Fen as a number, yuan as text (a form)" },
                    "note": { "type": "string", "maxLength": MAX_NOTE_CHARS, "description": "Where to pay" }
                }
            })),
            response_schema: Some(message_schema("payout", payout_schema())),
            ..Route::new(
                "POST",
                "/payouts",
                PROMOTER,
                "Ask for a payout of commission",
            )
        },
        Route {
            response_schema: Some(team),
            ..Route::new(
                "GET",
                "/team",
                MANAGER,
                "The manager's performance and his promoters'",
            )
        },
        Route {
            response_schema: Some(json!({
                "type": "object",
                "required": ["month", "promoters", "managers"],
                "properties": {
                    "month": { "type": "string", "description": "YYYY-MM or all" },
                    "promoters": { "type": "array", "items": line },
                    "managers": { "type": "array", "items": line }
                }
            })),
            ..Route::new(
                "GET",
                "/performance",
                ADMIN,
                "Every promoter's and manager's performance in a month (?month=YYYY-MM or all)",
            )
        },
        Route {
            response_schema: Some(json!({
                "type": "object",
                "required": ["status", "payouts"],
                "properties": {
                    "status": { "enum": ["pending", "paid", "rejected", "all"] },
                    "payouts": { "type": "array", "items": payout_schema() }
                }
            })),
            ..Route::new(
                "GET",
                "/payouts",
                ADMIN,
                "Payout requests (?status=pending|paid|rejected|all)",
            )
        },
        Route {
            request_schema: Some(json!({
                "type": "object",
                "properties": { "remark": { "type": "string", "maxLength": MAX_REMARK_CHARS } }
            })),
            response_schema: Some(message_schema("payout", payout_schema())),
            ..Route::new(
                "POST",
                "/payouts/{id}/approve",
                ADMIN,
                "Mark a waiting payout paid",
            )
        },
        Route {
            request_schema: Some(json!({
                "type": "object",
                "required": ["reason"],
                "properties": { "reason": { "type": "string", "minLength": 1, "maxLength": MAX_REMARK_CHARS } }
            })),
            response_schema: Some(message_schema("payout", payout_schema())),
            ..Route::new(
                "POST",
                "/payouts/{id}/reject",
                ADMIN,
                "Turn a waiting payout down; the amount goes back to the balance",
            )
        },
        Route {
            response_schema: Some(rates_view_schema()),
            ..Route::new("GET", "/rates", ADMIN, "The commission rates")
        },
        Route {
            request_schema: Some(rates_schema()),
            response_schema: Some(message_schema("rates", rates_view_schema())),
            ..Route::new("PUT", "/rates", ADMIN, "Replace the commission rates")
        },
        Route {
            request_schema: Some(rates_schema()),
            response_schema: Some(message_schema("rates", rates_view_schema())),
            ..Route::new(
                "POST",
                "/rates",
                ADMIN,
                "Replace the commission rates (the rates screen's form)",
            )
        },
        Route::screen(
            "/wallet",
            PROMOTER,
            "我的佣金: balance, ledger, payout form",
            "我的佣金",
            ScreenPlace::Mine,
        ),
        Route::screen(
            "/team-screen",
            MANAGER,
            "团队业绩: the manager's and his promoters' performance",
            "团队业绩",
            ScreenPlace::Mine,
        ),
        Route::screen(
            "/office",
            ADMIN,
            "分销业绩: a month's performance of promoters and managers",
            "分销业绩",
            ScreenPlace::Office,
        ),
        Route::screen(
            "/office/payouts",
            ADMIN,
            "提现审核: payout requests to approve or reject",
            "提现审核",
            ScreenPlace::Linked,
        ),
        Route::screen(
            "/office/payouts/{id}",
            ADMIN,
            "One payout request, to approve or reject with a reason",
            "提现申请",
            ScreenPlace::Linked,
        ),
        Route::screen(
            "/office/rates",
            ADMIN,
            "佣金费率: the commission rates as a form",
            "佣金费率",
            ScreenPlace::Linked,
        ),
    ]
}

/// Adds `more`'s entries to `schema.properties` (and to `required`).
fn extend(schema: &mut Value, more: Value) {
    let Value::Object(more) = more else { return };
    for (name, property) in more {
        if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            properties.insert(name.clone(), property);
        }
        if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut)
            && !required.iter().any(|r| r == name.as_str())
        {
            required.push(Value::from(name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_declares_events_capabilities_and_every_route() {
        let manifest = manifest();
        assert_eq!(manifest.name, "distribution");
        assert_eq!(manifest.api, pifa_sdk::API_VERSION);
        assert_eq!(manifest.hooks, vec![Hook::OnEvent, Hook::HandleHttp]);
        assert_eq!(
            manifest.capabilities,
            vec![Capability::Kv, Capability::Emit, Capability::Screens]
        );
        assert_eq!(manifest.events, vec!["order.completed", "order.refunded"]);
        let routes: Vec<(&str, &str, &str)> = manifest
            .routes
            .iter()
            .map(|r| (r.method.as_str(), r.path.as_str(), r.roles[0].as_str()))
            .collect();
        assert_eq!(
            routes,
            vec![
                ("GET", "/mine", "promoter"),
                ("POST", "/payouts", "promoter"),
                ("GET", "/team", "manager"),
                ("GET", "/performance", "admin"),
                ("GET", "/payouts", "admin"),
                ("POST", "/payouts/{id}/approve", "admin"),
                ("POST", "/payouts/{id}/reject", "admin"),
                ("GET", "/rates", "admin"),
                ("PUT", "/rates", "admin"),
                ("POST", "/rates", "admin"),
                ("GET", "/wallet", "promoter"),
                ("GET", "/team-screen", "manager"),
                ("GET", "/office", "admin"),
                ("GET", "/office/payouts", "admin"),
                ("GET", "/office/payouts/{id}", "admin"),
                ("GET", "/office/rates", "admin"),
            ]
        );
        assert!(
            manifest
                .routes
                .iter()
                .all(|r| !r.summary.is_empty() && r.roles.len() == 1)
        );
        let places: Vec<(&str, ScreenPlace)> = manifest
            .routes
            .iter()
            .filter_map(|r| Some((r.screen.as_ref()?.label.as_str(), r.screen.as_ref()?.place)))
            .collect();
        assert_eq!(
            places,
            vec![
                ("我的佣金", ScreenPlace::Mine),
                ("团队业绩", ScreenPlace::Mine),
                ("分销业绩", ScreenPlace::Office),
                ("提现审核", ScreenPlace::Linked),
                ("提现申请", ScreenPlace::Linked),
                ("佣金费率", ScreenPlace::Linked),
            ]
        );
        assert!(
            manifest
                .routes
                .iter()
                .all(|r| r.screen.is_none() || r.method == "GET")
        );
    }

    #[test]
    fn the_settings_schema_has_defaults_titles_and_bounds() {
        let schema = settings_schema();
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["properties"]["notice"]["maxLength"], 100);
        assert_eq!(schema["properties"]["notice"]["default"], DEFAULT_NOTICE);
        assert_eq!(schema["properties"]["default_rate_bp"]["maximum"], 5_000);
        assert_eq!(schema["properties"]["default_rate_bp"]["default"], 300);
        assert_eq!(schema["properties"]["min_payout_fen"]["default"], 10_000);
        for property in schema["properties"].as_object().unwrap().values() {
            assert!(property["title"].is_string() && property["description"].is_string());
        }
    }

    #[test]
    fn the_wallet_schema_requires_the_figures_it_merges() {
        let wallet = manifest().routes[0].response_schema.clone().unwrap();
        let required = wallet["required"].as_array().unwrap();
        assert!(required.iter().any(|r| r == "this_month"));
        assert_eq!(wallet["properties"]["all_time"]["required"][2], "sales_fen");
    }
}
