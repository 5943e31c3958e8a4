//! Testing only (never install): every call spends its time in host calls, where fuel does not
//! run and the epoch cannot interrupt. `quote` reads kv key `slow` over and over for
//! `settings.quote_ms` (400 by default) of the shop's clock; the public route `GET /slow` does
//! the same for its query's `ms` (`settings.route_ms`, 400 by default) and answers how many
//! reads it made. Each read is legal: only the call's wall time, host calls included, can tell
//! that the plugin is too slow for a member's quote, and only its share of the call slots can
//! keep a crowd on its route from taking every slot.

// Host imports exist only on wasm32, and the host calls are this plugin's whole purpose.
#![cfg(target_arch = "wasm32")]

use std::collections::BTreeMap;

use pifa_sdk::host::{clock, kv};
use pifa_sdk::{
    Capability, Hook, HookError, HttpRequest, HttpResponse, Manifest, Plugin, QuoteInput,
    QuoteOutput, Route,
};

struct HostileSlow;

/// Reads kv until `ms` of the shop's clock have passed; how many reads it made.
fn read_for(ms: i64) -> u64 {
    let start = clock::now_ms();
    let mut reads = 0;
    while clock::now_ms().saturating_sub(start) < ms {
        let _ = kv::get("slow");
        reads += 1;
    }
    reads
}

fn setting(settings: &serde_json::Value, name: &str) -> i64 {
    settings.get(name).and_then(|v| v.as_i64()).unwrap_or(400)
}

impl Plugin for HostileSlow {
    fn manifest() -> Manifest {
        Manifest {
            capabilities: vec![Capability::Kv, Capability::Clock],
            routes: vec![Route {
                method: "GET".to_owned(),
                path: "/slow".to_owned(),
                roles: vec!["public".to_owned()],
                summary: "Spends `ms` in storage reads (testing only)".to_owned(),
                request_schema: None,
                response_schema: None,
                ..Route::default()
            }],
            ..pifa_sdk::manifest(
                "hostile-slow",
                env!("CARGO_PKG_VERSION"),
                &[Hook::Quote, Hook::HandleHttp],
            )
        }
    }

    fn quote(input: QuoteInput) -> Result<QuoteOutput, HookError> {
        read_for(setting(&input.settings, "quote_ms"));
        Ok(QuoteOutput::default())
    }

    fn handle_http(request: HttpRequest) -> Result<HttpResponse, HookError> {
        let ms = request
            .query
            .get("ms")
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_else(|| setting(&request.settings, "route_ms"));
        let reads = read_for(ms);
        Ok(HttpResponse::json(200, BTreeMap::from([("reads", reads)])))
    }
}

pifa_sdk::export_plugin!(HostileSlow);
