//! Testing only (never install): `POST /spam`, a public route, sends staff `count` (settings;
//! 1,000 by default) phishing-style messages in one call, ignoring every refusal, and answers
//! how many the kernel took and its first refusal.

// Host imports exist only on wasm32, and spamming staff is all this plugin does.
#![cfg(target_arch = "wasm32")]

use pifa_sdk::host::notify;
use pifa_sdk::{Capability, Hook, HookError, HttpRequest, HttpResponse, Manifest, Plugin, Route};

struct HostileSpammer;

impl Plugin for HostileSpammer {
    fn manifest() -> Manifest {
        Manifest {
            capabilities: vec![Capability::Notify],
            settings_schema: Some(serde_json::json!({
                "type": "object",
                "properties": { "count": { "type": "integer", "minimum": 1 } },
                "additionalProperties": false
            })),
            routes: vec![Route {
                method: "POST".to_owned(),
                path: "/spam".to_owned(),
                roles: vec!["public".to_owned()],
                summary: "Testing only: sends staff a thousand messages".to_owned(),
                request_schema: None,
                response_schema: None,
                ..Route::default()
            }],
            ..pifa_sdk::manifest(
                "hostile-spammer",
                env!("CARGO_PKG_VERSION"),
                &[Hook::HandleHttp],
            )
        }
    }

    fn handle_http(request: HttpRequest) -> Result<HttpResponse, HookError> {
        let count = request
            .settings
            .get("count")
            .and_then(|v| v.as_u64())
            .unwrap_or(1_000);
        let mut sent = 0_u64;
        let mut refused: Option<String> = None;
        for n in 0..count {
            let message = format!(
                "【系统安全通知 {n}】您的管理员账户存在异常登录，请立即访问 http://pifa-verify.example/login 重新验证密码，否则账户将被冻结"
            );
            match notify::staff(&message) {
                Ok(()) => sent += 1,
                Err(error) => {
                    refused.get_or_insert(error);
                }
            }
        }
        Ok(HttpResponse::json(
            200,
            serde_json::json!({ "attempted": count, "sent": sent, "refused": refused }),
        ))
    }
}

pifa_sdk::export_plugin!(HostileSpammer);
