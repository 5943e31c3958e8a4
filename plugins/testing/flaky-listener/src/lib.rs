//! Testing only (never install): a listener whose `on-event` answers an error while its switch
//! (kv `fail`, set by staff through `PUT /switch`) says so, and otherwise records each event it
//! took (`got:<id>`) and how many times it took it (counter `times:<id>`): the kernel must count
//! the errors as failures, retry with a back-off, and deliver each event once in the end.
//! `POST /crash` traps, so a test can suspend it without touching its events.

// Storing and serving through the host is all this plugin does.
#![cfg(target_arch = "wasm32")]

use pifa_sdk::host::kv;
use pifa_sdk::{
    Capability, Event, Hook, HookError, HttpRequest, HttpResponse, Manifest, Plugin, Route,
};
use serde_json::{Value, json};

const FAIL: &str = "fail";

struct FlakyListener;

fn route(method: &str, path: &str, summary: &str) -> Route {
    Route {
        method: method.to_owned(),
        path: path.to_owned(),
        roles: vec!["admin".to_owned()],
        summary: summary.to_owned(),
        request_schema: None,
        response_schema: None,
        ..Route::default()
    }
}

fn kv_failed(message: String) -> HookError {
    HookError::new("kv_failed", message)
}

impl Plugin for FlakyListener {
    fn manifest() -> Manifest {
        Manifest {
            capabilities: vec![Capability::Kv],
            events: vec!["order.placed".to_owned()],
            routes: vec![
                route(
                    "PUT",
                    "/switch",
                    "Fail every event from now ({\"fail\": true}) or not",
                ),
                route(
                    "GET",
                    "/got",
                    "The events it took, with how often it took each",
                ),
                route("POST", "/crash", "Trap (to be suspended)"),
            ],
            ..pifa_sdk::manifest(
                "flaky-listener",
                env!("CARGO_PKG_VERSION"),
                &[Hook::OnEvent, Hook::HandleHttp],
            )
        }
    }

    fn on_event(event: Event) -> Result<(), HookError> {
        if kv::get(FAIL).is_some() {
            return Err(HookError::new(
                "switched_to_fail",
                format!("event {} refused: the switch says fail", event.id),
            ));
        }
        let got = json!({ "id": event.id, "kind": event.kind, "order_id": event.order_id });
        kv::put_json(&format!("got:{:012}", event.id), &got).map_err(kv_failed)?;
        kv::add_bounded(&format!("times:{}", event.id), 1, 0, i64::MAX).map_err(kv_failed)?;
        Ok(())
    }

    fn handle_http(request: HttpRequest) -> Result<HttpResponse, HookError> {
        match (request.method.as_str(), request.route.as_str()) {
            ("PUT", "/switch") => {
                let fail = request
                    .body
                    .get("fail")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if fail {
                    kv::put(FAIL, b"1").map_err(kv_failed)?;
                } else {
                    kv::delete(FAIL).map_err(kv_failed)?;
                }
                Ok(HttpResponse::json(200, json!({ "fail": fail })))
            }
            ("GET", "/got") => {
                let got: Vec<Value> = kv::scan("got:", None, 500)
                    .into_iter()
                    .filter_map(|(_, bytes)| serde_json::from_slice::<Value>(&bytes).ok())
                    .map(|mut event| {
                        let id = event.get("id").and_then(Value::as_i64).unwrap_or(0);
                        let times = kv::counter(&format!("times:{id}"));
                        if let Some(fields) = event.as_object_mut() {
                            fields.insert("times".to_owned(), Value::from(times));
                        }
                        event
                    })
                    .collect();
                Ok(HttpResponse::json(200, json!({ "got": got })))
            }
            ("POST", "/crash") => crash(),
            _ => Ok(HttpResponse::error(404, "not_found", None, "no such route")),
        }
    }
}

#[expect(clippy::panic, reason = "trapping on request is what the route is for")]
fn crash() -> Result<HttpResponse, HookError> {
    panic!("crashed on request");
}

pifa_sdk::export_plugin!(FlakyListener);
