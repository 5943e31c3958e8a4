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
            return Err(not_json());
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| body_error(&rejection))?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body whose every field is optional: an empty body (no `Content-Type` needed) means
/// the defaults, as a route that takes no body at all would (`cancel` next to `start`).
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<OptionalJson<T>, ApiError> {
        let declared = req.headers().contains_key(header::CONTENT_TYPE);
        let empty = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|length| length.trim() == "0");
        if !declared || empty {
            let bytes = Bytes::from_request(req, state)
                .await
                .map_err(|rejection| body_error(&rejection))?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(T::default()));
            }
            if !declared {
                return Err(not_json());
            }
            return parse_json(&bytes).map(OptionalJson);
        }
        ApiJson::from_request(req, state)
            .await
            .map(|ApiJson(value)| OptionalJson(value))
    }
}

fn not_json() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "请求体须为 JSON (Content-Type: application/json expected)",
    )
}

fn body_error(rejection: &axum::extract::rejection::BytesRejection) -> ApiError {
    let code = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        "body_too_large"
    } else {
        "body_unreadable"
    };
    ApiError::new(
        rejection.status(),
        code,
        format!("请求体无法读取 (body: {rejection})"),
    )
}

/// Deserializes `bytes`, reporting the path of the first field that does not fit. A body
/// that is not JSON at all is 400 `malformed_json` (with the line and column), a field of the
/// wrong shape 422 `invalid_input` naming it, and text with a control character 422
/// `invalid_text` naming it.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if !inner.is_data() {
            return malformed(&inner);
        }
        let field = known_path(&path).or_else(|| missing_field(&inner.to_string()));
        let mut error = ApiError::invalid_field(
            "invalid_input",
            field.as_deref().unwrap_or("body"),
            format!("请求格式不正确 ({inner})"),
        );
        if field.is_none() {
            error.field = None;
        }
        error
    })?;
    deserializer.end().map_err(|err| malformed(&err))?;
    if crate::text::json_may_hold_control_chars(bytes)
        && let Ok(document) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some((path, c)) = crate::text::control_char_in_json(&document)
    {
        let field = if path.is_empty() { "body" } else { &path };
        return Err(crate::text::control_char_error(c, field));
    }
    Ok(value)
}

fn malformed(err: &serde_json::Error) -> ApiError {
    ApiError::bad_request(
        "malformed_json",
        format!(
            "请求体不是有效的 JSON (malformed JSON at line {} column {})",
            err.line(),
            err.column()
        ),
    )
}

/// The path serde reached, without the segments it could not name (`?`); `None` at the root.
fn known_path(path: &str) -> Option<String> {
    let known: Vec<&str> = path
        .split('.')
        .filter(|segment| !segment.is_empty() && *segment != "?")
        .collect();
    (!known.is_empty()).then(|| known.join("."))
}

/// serde reports a missing field at the parent's path; pull the name out of its message.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next().map(str::to_owned)
}

/// A multipart form that cannot be read (truncated, over the size limit, badly encoded).
pub fn unreadable_form(err: axum::extract::multipart::MultipartError) -> ApiError {
    let status = err.status();
    let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "body_too_large"
    } else {
        "invalid_form"
    };
    ApiError::new(
        status,
        code,
        format!("表单无法读取 (form: {})", err.body_text()),
    )
}

/// A multipart form's text field, read whole and refused (`invalid_text`, naming the field)
/// when it carries a control character, as JSON and query text are.
pub async fn form_text(field: axum::extract::multipart::Field<'_>) -> Result<String, ApiError> {
    let name = field.name().unwrap_or("form").to_owned();
    let text = field.text().await.map_err(unreadable_form)?;
    crate::text::refuse_control_chars(&text, &name)?;
    Ok(text)
}

/// The field a page's form carries its CSRF token in (`pages::forms` reads it before the
/// handler runs); a multipart reader passes over it.
pub const FORM_TOKEN_FIELD: &str = "csrf_token";

/// A multipart field a form reader does not know: refused naming it, except the page forms'
/// CSRF token, already checked.
pub fn unknown_form_field(name: &str) -> Result<(), ApiError> {
    if name == FORM_TOKEN_FIELD {
        return Ok(());
    }
    Err(ApiError::invalid_field(
        "invalid_input",
        name,
        format!("{name}: 未知字段 (unknown field)"),
    ))
}

/// A multipart file field's bytes, or `None` when nothing was chosen: a browser posts a file
/// field left empty as a part with an empty file name and no bytes, which is an absent photo,
/// not a broken one.
pub async fn form_file(
    field: axum::extract::multipart::Field<'_>,
) -> Result<Option<axum::body::Bytes>, ApiError> {
    let nothing_chosen = field.file_name() == Some("");
    let bytes = field.bytes().await.map_err(unreadable_form)?;
    Ok((!(nothing_chosen && bytes.is_empty())).then_some(bytes))
}
