//! The one API error type. Every failure a client can see renders as
//! `{"error": {"code", "message", "field"?}}` with a stable `code` the UI maps to Chinese text.
//! Internal errors are logged once, here, and shown as a generic message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Structured detail (an import's row errors).
    pub details: Option<serde_json::Value>,
    retry_after_secs: Option<i64>,
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_phone`, `forbidden`.
    pub code: String,
    /// Human-readable explanation (Chinese for users, may name the field).
    pub message: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Structured detail where a message is not enough: an import's errors, row by row.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            details: None,
            retry_after_secs: None,
        }
    }

    /// 422 for a request field that does not parse into its domain type.
    pub fn invalid_field(code: &'static str, field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.to_owned()),
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
        }
    }

    /// 409 for a value that must be unique and is already taken.
    pub fn conflict(code: &'static str, field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.to_owned()),
            ..ApiError::new(StatusCode::CONFLICT, code, message)
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "请先登录 (sign-in required)",
        )
    }

    /// 403: the caller's roles never allow this route.
    pub fn forbidden() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "无权进行此操作 (not allowed for your roles)",
        )
    }

    /// 404: absent, or outside the caller's scope — the two are indistinguishable on purpose.
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "记录不存在 (not found)")
    }

    /// 429 with a `Retry-After` header.
    pub fn too_many(
        code: &'static str,
        message: impl Into<String>,
        retry_after_secs: i64,
    ) -> ApiError {
        ApiError {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        }
    }

    /// An unexpected failure: logged here with its whole chain, shown as a generic message.
    pub fn internal(err: impl Into<anyhow::Error>) -> ApiError {
        let err = err.into();
        tracing::error!(error = ?err, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "服务器内部错误 (internal error)",
        )
    }

    /// A `Retry-After` header on another refusal than a 429 (a 503 `plugin_busy`).
    pub fn with_retry_after(mut self, retry_after_secs: i64) -> ApiError {
        self.retry_after_secs = Some(retry_after_secs.max(1));
        self
    }

    pub fn with_details(mut self, details: serde_json::Value) -> ApiError {
        self.details = Some(details);
        self
    }

    pub fn with_field(mut self, field: &str) -> ApiError {
        self.field = Some(field.to_owned());
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::Conflict(column) => {
                let field = column.rsplit('.').next().unwrap_or(&column).to_owned();
                ApiError::conflict(
                    "already_exists",
                    &field,
                    format!("{field}: 已存在相同的记录 (already taken)"),
                )
            }
            StoreError::Db(err) => ApiError::from(err),
            other => ApiError::internal(other),
        }
    }
}

/// A constraint the database enforced is a refusal of the request that broke it, never a 500.
/// Handlers check the references they take and name the field themselves; this is the net
/// under them (PostgreSQL names the constraint, so the field can be read from it; SQLite does
/// not).
impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> ApiError {
        use sqlx::error::ErrorKind;
        let sqlx::Error::Database(db) = &err else {
            return ApiError::internal(err);
        };
        let field = db.constraint().map(|constraint| {
            let constraint = constraint
                .strip_suffix("_fkey")
                .or_else(|| constraint.strip_suffix("_key"))
                .or_else(|| constraint.strip_suffix("_check"))
                .unwrap_or(constraint);
            db.table()
                .and_then(|table| constraint.strip_prefix(table))
                .map(|rest| rest.trim_start_matches('_'))
                .unwrap_or(constraint)
                .to_owned()
        });
        let refused = match db.kind() {
            ErrorKind::ForeignKeyViolation => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_reference",
                format!(
                    "{}: 引用的记录不存在或仍被使用 (refers to a record that does not exist, or is still referred to)",
                    field.as_deref().unwrap_or("body")
                ),
            ),
            ErrorKind::UniqueViolation => ApiError::new(
                StatusCode::CONFLICT,
                "already_exists",
                format!(
                    "{}: 已存在相同的记录 (already taken)",
                    field.as_deref().unwrap_or("body")
                ),
            ),
            ErrorKind::NotNullViolation | ErrorKind::CheckViolation => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                format!(
                    "{}: 取值不被接受 (value not accepted)",
                    field.as_deref().unwrap_or("body")
                ),
            ),
            // A sum past i64 (PostgreSQL's numeric_value_out_of_range, SQLite's SUM overflow):
            // amounts are bounded where they are written, so only rows from before that reach
            // here, and the request is refused rather than failed.
            _ if db.code().as_deref() == Some("22003") || db.message() == "integer overflow" => {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "amount_out_of_range",
                    "金额合计超出允许范围，请联系客服 (a sum of amounts is out of range)",
                )
            }
            _ => return ApiError::internal(err),
        };
        tracing::warn!(error = %err, "a database constraint refused a request");
        match field {
            Some(field) => refused.with_field(&field),
            None => refused,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                field: self.field,
                details: self.details,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
