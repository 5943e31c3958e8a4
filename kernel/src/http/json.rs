//! `ApiJson<T>`: a JSON body whose parse errors come in the one error shape and name the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<ApiJson<T>, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "请求体须为 JSON (Content-Type: application/json expected)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            ApiError::new(
                rejection.status(),
                "body_unreadable",
                format!("请求体无法读取 (body: {rejection})"),
            )
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserializes `bytes`, reporting the path of the first field that does not fit.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let field = if path == "." {
            missing_field(&inner.to_string())
        } else {
            Some(path)
        };
        let mut error = ApiError::invalid_field(
            "invalid_input",
            field.as_deref().unwrap_or("body"),
            format!("请求格式不正确 ({inner})"),
        );
        if field.is_none() {
            error.field = None;
        }
        error
    })
}

/// serde reports a missing field at the parent's path; pull the name out of its message.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next().map(str::to_owned)
}

/// A multipart form that cannot be read (truncated, over the size limit, badly encoded).
pub fn unreadable_form(err: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::bad_request("invalid_form", format!("表单无法读取 (form: {err})"))
}
