//! Path and query parameters and multipart forms, refused in the one error shape.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::error::ApiError;

/// A path parameter, parsed like axum's `Path` but refused in the one error shape: 400
/// `invalid_parameter` naming the parameter (`/orders/abc` names `id`), and 422
/// `invalid_text` for a control character. Named `Path` so utoipa's handler inspection and
/// the handlers' destructuring read as with axum's; axum's own is a disallowed type.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Path<T>, ApiError> {
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                ApiError::bad_request(
                    "invalid_parameter",
                    format!("路径参数无法读取 (path: {})", rejection.body_text()),
                )
            })?;
        for (key, value) in &raw {
            crate::text::refuse_control_chars(value, key)?;
        }
        let only_key = raw.iter().map(|(key, _)| key.to_owned()).next();
        #[expect(
            clippy::disallowed_types,
            reason = "the one place axum's Path is used: its rejection becomes an ApiError"
        )]
        let parsed = axum::extract::Path::<T>::from_request_parts(parts, state).await;
        match parsed {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(axum::extract::rejection::PathRejection::FailedToDeserializePathParams(err)) => {
                use axum::extract::path::ErrorKind;
                let (key, value, expected) = match err.kind() {
                    ErrorKind::ParseErrorAtKey {
                        key,
                        value,
                        expected_type,
                    } => (Some(key.clone()), value.clone(), *expected_type),
                    ErrorKind::ParseError {
                        value,
                        expected_type,
                    } => (only_key, value.clone(), *expected_type),
                    ErrorKind::DeserializeError { key, value, .. } => {
                        (Some(key.clone()), value.clone(), "value")
                    }
                    ErrorKind::InvalidUtf8InPathParam { key } => {
                        (Some(key.clone()), String::new(), "UTF-8 text")
                    }
                    _ => (only_key, String::new(), "value"),
                };
                let field = key.unwrap_or_else(|| "path".to_owned());
                let kind = if expected.starts_with('i') || expected.starts_with('u') {
                    "整数 (a whole number)".to_owned()
                } else {
                    format!("({expected})")
                };
                let shown: String = value.chars().take(40).collect();
                Err(ApiError::bad_request(
                    "invalid_parameter",
                    format!("{field}: 须为{kind}，收到 {shown:?} (got {shown:?})"),
                )
                .with_field(&field))
            }
            Err(rejection) => Err(ApiError::bad_request(
                "invalid_parameter",
                format!("路径参数无法读取 (path: {})", rejection.body_text()),
            )),
        }
    }
}

/// The query string, parsed into `T` with the first field that does not fit named: 400
/// `invalid_parameter` (`?status=nonsense` names `status`), and 422 `invalid_text` for a
/// control character. Named `Query` for the same reasons as `Path`.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Query<T>, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        parse_query(query).map(Query)
    }
}

/// Parses a query string as `Query` does.
pub fn parse_query<T: serde::de::DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        crate::text::refuse_control_chars(&key, "query")?;
        crate::text::refuse_control_chars(&value, &key)?;
    }
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        let field = if path == "." || path == "?" {
            inner
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next())
                .map(str::to_owned)
        } else {
            Some(path)
        };
        let mut error = ApiError::bad_request(
            "invalid_parameter",
            format!(
                "{}: 查询参数不正确 ({inner})",
                field.as_deref().unwrap_or("query")
            ),
        );
        error.field = field;
        error
    })
}

/// A multipart form, refused in the one error shape: 415 `unsupported_media_type` for a body
/// that is not `multipart/form-data`, 400 `invalid_form` for one that cannot be read. Named
/// `Multipart` for the same reasons as `Path`.
#[expect(
    clippy::disallowed_types,
    reason = "the wrapper that puts axum's Multipart behind the one error shape"
)]
pub struct Multipart(axum::extract::Multipart);

impl Multipart {
    /// The next field, or `None` after the last.
    pub async fn next_field(
        &mut self,
    ) -> Result<Option<axum::extract::multipart::Field<'_>>, ApiError> {
        self.0
            .next_field()
            .await
            .map_err(super::json::unreadable_form)
    }
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for Multipart {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Multipart, ApiError> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("multipart/form-data"));
        if !is_form {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "请求体须为表单 (Content-Type: multipart/form-data expected)",
            ));
        }
        #[expect(
            clippy::disallowed_types,
            reason = "the one place axum's Multipart is used: its rejection becomes an ApiError"
        )]
        let form = axum::extract::Multipart::from_request(req, state).await;
        form.map(Multipart).map_err(|rejection| {
            ApiError::new(
                rejection.status(),
                "invalid_form",
                format!("表单无法读取 (form: {})", rejection.body_text()),
            )
        })
    }
}
