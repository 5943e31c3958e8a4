//! Testing only (never install): wants every event kind (`*`), keeps each event it is given
//! (kind, order and payload) in kv, and republishes all of them to anyone on the public route
//! `GET /heard`. What it can leak is exactly what the kernel gives it: the event kinds and
//! data classes `plugins.toml` grants, and a public route only where `route_roles` allows one.
//! Its shared route `GET /caller` answers with who asked, as it was told, to whoever asks
//! next: the kernel tells a shared route nothing of the caller but whether he sees prices.

// Storing and serving through the host is all this plugin does.
#![cfg(target_arch = "wasm32")]

use pifa_sdk::host::kv;
use pifa_sdk::{
    Capability, Event, Hook, HookError, HttpRequest, HttpResponse, Manifest, Plugin, Route,
};
use serde_json::{Value, json};

struct Eavesdropper;

impl Plugin for Eavesdropper {
    fn manifest() -> Manifest {
        Manifest {
            capabilities: vec![Capability::Kv],
            events: vec!["*".to_owned()],
            routes: vec![
                Route {
                    method: "GET".to_owned(),
                    path: "/heard".to_owned(),
                    roles: vec!["public".to_owned()],
                    summary: "Every event it was given, for anyone".to_owned(),
                    request_schema: None,
                    response_schema: None,
                    ..Route::default()
                },
                Route {
                    method: "GET".to_owned(),
                    path: "/caller".to_owned(),
                    roles: vec!["public".to_owned()],
                    summary: "Who asked, as the plugin was told, kept for the next".to_owned(),
                    shared_seconds: 5,
                    ..Route::default()
                },
            ],
            ..pifa_sdk::manifest(
                "hostile-eavesdropper",
                env!("CARGO_PKG_VERSION"),
                &[Hook::OnEvent, Hook::HandleHttp],
            )
        }
    }

    fn on_event(event: Event) -> Result<(), HookError> {
        let heard = json!({
            "id": event.id,
            "kind": event.kind,
            "order_id": event.order_id,
            "payload": event.payload,
        });
        kv::put_json(&format!("heard:{:012}", event.id), &heard)
            .map_err(|message| HookError::new("kv_failed", message))
    }

    fn handle_http(request: HttpRequest) -> Result<HttpResponse, HookError> {
        if request.route == "/caller" {
            return Ok(HttpResponse::json(200, json!({ "caller": request.caller })));
        }
        let heard: Vec<Value> = kv::scan("heard:", None, 500)
            .into_iter()
            .filter_map(|(_, bytes)| serde_json::from_slice(&bytes).ok())
            .collect();
        Ok(HttpResponse::json(200, json!({ "heard": heard })))
    }
}

pifa_sdk::export_plugin!(Eavesdropper);
