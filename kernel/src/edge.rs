//! Reading a request at the edge: path and query parameters, JSON bodies and multipart forms
//! parsed into the handlers' types, every refusal in the one error shape and naming what it
//! refuses (`Path`/`Query` here; axum's own are disallowed types in `clippy.toml`); the
//! client's address behind trusted proxies (`proxy`); a paged list's answer.

pub mod extract;
pub mod json;
pub mod proxy;

use axum::Json;
use axum::http::{HeaderName, HeaderValue};
use axum::response::IntoResponse;
use serde::Serialize;

/// The name of the header a paged list answers its whole count in.
pub const TOTAL_COUNT: &str = "x-total-count";

/// A page of a list: the items as the JSON body, and how many the whole list holds in
/// `X-Total-Count` (so a client can show 共 N 条 and the number of pages).
impl<T: Serialize> IntoResponse for crate::store::Page<T> {
    fn into_response(self) -> axum::response::Response {
        let mut response = Json(self.items).into_response();
        response.headers_mut().insert(
            HeaderName::from_static(TOTAL_COUNT),
            HeaderValue::from(self.total),
        );
        response
    }
}
