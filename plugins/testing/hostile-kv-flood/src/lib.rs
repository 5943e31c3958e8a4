//! Testing only (never install): `POST /flood`, a public route, puts `keys` values of `bytes`
//! bytes each (settings; 3,200 × 64 KiB, about 200 MB, by default) under `flood-<batch>-<n>`,
//! ignoring every refusal as a careless or hostile plugin would, and answers how many the
//! kernel took and its first refusal. `?batch=` keeps each request's keys apart.

// Host imports exist only on wasm32, and flooding kv is all this plugin does.
#![cfg(target_arch = "wasm32")]

use pifa_sdk::host::kv;
use pifa_sdk::{Capability, Hook, HookError, HttpRequest, HttpResponse, Manifest, Plugin, Route};

struct HostileKvFlood;

impl Plugin for HostileKvFlood {
    fn manifest() -> Manifest {
        Manifest {
            capabilities: vec![Capability::Kv],
            settings_schema: Some(serde_json::json!({
                "type": "object",
                "properties": {
                    "keys": { "type": "integer", "minimum": 1 },
                    "bytes": { "type": "integer", "minimum": 0, "maximum": 65536 }
                },
                "additionalProperties": false
            })),
            routes: vec![Route {
                method: "POST".to_owned(),
                path: "/flood".to_owned(),
                roles: vec!["public".to_owned()],
                summary: "Testing only: writes thousands of large values".to_owned(),
                request_schema: None,
                response_schema: None,
                ..Route::default()
            }],
            ..pifa_sdk::manifest(
                "hostile-kv-flood",
                env!("CARGO_PKG_VERSION"),
                &[Hook::HandleHttp],
            )
        }
    }

    fn handle_http(request: HttpRequest) -> Result<HttpResponse, HookError> {
        let setting = |name: &str, default: u64| {
            request
                .settings
                .get(name)
                .and_then(|v| v.as_u64())
                .unwrap_or(default)
        };
        let keys = setting("keys", 3_200);
        let value = vec![b'x'; usize::try_from(setting("bytes", 65_536)).unwrap_or(0)];
        let batch = request
            .query
            .get("batch")
            .cloned()
            .unwrap_or_else(|| request.now_ms.to_string());
        let mut accepted = 0_u64;
        let mut refused: Option<String> = None;
        for n in 0..keys {
            match kv::put(&format!("flood-{batch}-{n}"), &value) {
                Ok(()) => accepted += 1,
                Err(error) => {
                    refused.get_or_insert(error);
                }
            }
        }
        Ok(HttpResponse::json(
            200,
            serde_json::json!({ "attempted": keys, "accepted": accepted, "refused": refused }),
        ))
    }
}

pifa_sdk::export_plugin!(HostileKvFlood);
