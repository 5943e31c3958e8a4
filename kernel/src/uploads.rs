//! Serving an uploaded photo (`GET /uploads/{key}`) to those who may see it: its owner, the
//! staff who may review him, and everyone signed in for a photo of an approved product
//! review. The images themselves are made and stored by `images`.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::Response;

use crate::accounts::permissions::Actor;
use crate::config::uploads_dir;
use crate::edge::extract::Path as UrlPath;
use crate::error::{ApiError, ApiResult};
use crate::images::UploadKind;
use crate::shop::Shop;

/// An uploaded image: to its owner, to staff who may review the owner, and a photo of an
/// approved product review to everyone signed in (404 for anyone else).
#[utoipa::path(get, path = "/uploads/{key}", tag = "uploads", params(("key" = String, Path)),
    responses((status = 200, content_type = "image/*", body = Vec<u8>)), security(("bearer" = [])))]
pub async fn read(
    State(app): State<Shop>,
    actor: Actor,
    UrlPath(key): UrlPath<String>,
) -> ApiResult<Response> {
    let upload = app
        .store
        .images()
        .upload(&key)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let allowed = upload.owner_id == actor.user_id
        || crate::members::can_review(&app, &actor, upload.owner_id).await?
        || (upload.kind == UploadKind::ReviewPhoto.as_str()
            && app
                .store
                .reviews()
                .is_approved_review_photo(&upload.key)
                .await?);
    if !allowed {
        return Err(ApiError::not_found());
    }
    let bytes = tokio::fs::read(uploads_dir(&app.config.data_dir).join(&upload.key))
        .await
        .map_err(ApiError::internal)?;
    Response::builder()
        .header(header::CONTENT_TYPE, upload.content_type)
        .header(header::CACHE_CONTROL, "private, max-age=3600")
        .body(Body::from(bytes))
        .map_err(ApiError::internal)
}
