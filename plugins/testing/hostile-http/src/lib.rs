//! Testing only (never install): the public route `GET /answer` answers what its query's `mode`
//! picks, each an answer the kernel must refuse (the client gets 503 `plugin_failed`, and the
//! plugin's failure is counted): `big` (a 1.9 MB body, over the output cap), `status-999`,
//! `status-101` (a protocol switch without an upgrade), `redirect` (302; a plugin cannot set
//! `Location`), `no-content-body` (204 with a body) and `bad-error` (a 400 whose body is not the
//! kernel's error shape). `error` is a refusal in the shape (409 `sold_out`), which passes, and
//! anything else answers 200 `{"ok": true}`.

use std::collections::BTreeMap;

use pifa_sdk::{Hook, HookError, HttpRequest, HttpResponse, Manifest, Plugin, Route};

struct HostileHttp;

impl Plugin for HostileHttp {
    fn manifest() -> Manifest {
        Manifest {
            routes: vec![Route {
                method: "GET".to_owned(),
                path: "/answer".to_owned(),
                roles: vec!["public".to_owned()],
                summary: "Answers what `mode` picks (testing only)".to_owned(),
                request_schema: None,
                response_schema: None,
                ..Route::default()
            }],
            ..pifa_sdk::manifest(
                "hostile-http",
                env!("CARGO_PKG_VERSION"),
                &[Hook::HandleHttp],
            )
        }
    }

    fn handle_http(request: HttpRequest) -> Result<HttpResponse, HookError> {
        let mode = request.query.get("mode").map(String::as_str).unwrap_or("");
        let message = BTreeMap::from([("message", "nope")]);
        Ok(match mode {
            "big" => HttpResponse::json(200, "x".repeat(1_900_000)),
            "status-999" => HttpResponse::json(999, BTreeMap::from([("ok", true)])),
            "status-101" => HttpResponse::json(101, ()),
            "redirect" => HttpResponse::json(
                302,
                BTreeMap::from([("location", "https://phish.example/login")]),
            ),
            "no-content-body" => HttpResponse::json(204, BTreeMap::from([("ok", true)])),
            "bad-error" => HttpResponse::json(400, message),
            "error" => HttpResponse::error(409, "sold_out", None, "已售罄 (sold out)"),
            _ => HttpResponse::json(200, BTreeMap::from([("ok", true)])),
        })
    }
}

pifa_sdk::export_plugin!(HostileHttp);
