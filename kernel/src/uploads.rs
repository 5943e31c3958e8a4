//! Uploaded images (shop-front photos, business licences, later delivery notes): content
//! sniffed from the bytes (never the file name or the client's content type), size capped,
//! stored under `PIFA_DATA/uploads/` with an unguessable key, and recorded with their owner.
//!
//! A file is written before the database row that refers to it, and removed again unless the
//! caller `keep`s it after its transaction committed: a failed request leaves no orphan file.

use std::path::{Path, PathBuf};

use crate::http::extract::Path as UrlPath;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::Response;
use sqlx::FromRow;

use crate::accounts::permissions::Actor;
use crate::accounts::sessions::random_token;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::store::{Store, StoreResult, on_pool};

/// Photos from a phone camera fit easily; anything larger is refused.
pub const MAX_IMAGE_BYTES: usize = 8 * 1024 * 1024;

/// What an upload is for; decides who may read it (see `read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadKind {
    ShopPhoto,
    Licence,
    /// A public catalogue picture.
    ProductImage,
    /// A transfer receipt or a proof of payment, owned by the order's member (F1).
    PaymentProof,
    /// A photo of a signed delivery note, owned by the order's member (E3).
    DeliveryNote,
    /// A member's photo for an after-sales request (E8).
    AfterSalePhoto,
    /// A member's photo in a review (C7): everyone's to see once the review is approved.
    ReviewPhoto,
}

impl UploadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadKind::ShopPhoto => "shop_photo",
            UploadKind::Licence => "licence",
            UploadKind::ProductImage => "product",
            UploadKind::PaymentProof => "payment",
            UploadKind::DeliveryNote => "delivery",
            UploadKind::AfterSalePhoto => "after_sale",
            UploadKind::ReviewPhoto => "review",
        }
    }
}

/// An image written to disk whose database row is not committed yet. Dropping it deletes the
/// file; `keep` after the commit makes it permanent.
#[derive(Debug)]
pub struct StagedImage {
    pub key: String,
    pub kind: UploadKind,
    pub content_type: &'static str,
    pub size_bytes: i64,
    path: PathBuf,
    kept: bool,
}

impl StagedImage {
    /// Adds the image's `uploads` row, owned by `owner_id`, to `batch`: it commits with the
    /// record that refers to it.
    pub(crate) fn push_row(
        &self,
        batch: &mut crate::store::batch::Batch,
        owner_id: i64,
        now_ms: i64,
    ) {
        batch.push(
            "INSERT INTO uploads (key, owner_id, kind, content_type, size_bytes, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            crate::store::batch::args![
                self.key.as_str(),
                owner_id,
                self.kind.as_str(),
                self.content_type,
                self.size_bytes,
                now_ms,
            ],
        );
    }

    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for StagedImage {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub fn uploads_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("uploads")
}

/// Checks `bytes` is a JPEG, PNG or WebP image within the size cap and writes it under a new
/// random key. `field` names the form field in errors.
pub fn stage_image(
    data_dir: &Path,
    kind: UploadKind,
    bytes: &[u8],
    field: &str,
) -> ApiResult<StagedImage> {
    if bytes.is_empty() {
        return Err(ApiError::invalid_field(
            "invalid_image",
            field,
            format!("{field}: 文件为空 (empty file)"),
        ));
    }
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(ApiError::invalid_field(
            "image_too_large",
            field,
            format!(
                "{field}: 图片不能超过{}MB (at most {} bytes)",
                MAX_IMAGE_BYTES / 1024 / 1024,
                MAX_IMAGE_BYTES
            ),
        ));
    }
    let (content_type, extension) = match infer::get(bytes).map(|t| t.mime_type()) {
        Some("image/jpeg") => ("image/jpeg", "jpg"),
        Some("image/png") => ("image/png", "png"),
        Some("image/webp") => ("image/webp", "webp"),
        _ => {
            return Err(ApiError::invalid_field(
                "invalid_image",
                field,
                format!("{field}: 只支持 JPEG、PNG、WebP 图片 (JPEG, PNG or WebP expected)"),
            ));
        }
    };
    let dir = uploads_dir(data_dir);
    std::fs::create_dir_all(&dir).map_err(ApiError::internal)?;
    let key = format!("{}-{}.{extension}", kind.as_str(), random_token());
    let path = dir.join(&key);
    std::fs::write(&path, bytes).map_err(ApiError::internal)?;
    Ok(StagedImage {
        key,
        kind,
        content_type,
        size_bytes: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        path,
        kept: false,
    })
}

/// Photos one form may carry (a delivery note, an after-sales request, a review).
pub const MAX_PHOTOS: usize = 6;

/// Reads one `photo` field of a form into `photos`, checked and staged like any image; more
/// than `MAX_PHOTOS` are refused.
pub async fn stage_photo(
    data_dir: &Path,
    kind: UploadKind,
    field: axum::extract::multipart::Field<'_>,
    photos: &mut Vec<StagedImage>,
) -> ApiResult<()> {
    if photos.len() == MAX_PHOTOS {
        return Err(ApiError::invalid_field(
            "too_many_photos",
            "photo",
            format!("photo: 最多{MAX_PHOTOS}张 (at most {MAX_PHOTOS} photos)"),
        ));
    }
    let bytes = field
        .bytes()
        .await
        .map_err(crate::http::json::unreadable_form)?;
    photos.push(stage_image(data_dir, kind, &bytes, "photo")?);
    Ok(())
}

#[derive(Debug, FromRow)]
pub struct UploadRow {
    pub key: String,
    pub owner_id: i64,
    pub kind: String,
    pub content_type: String,
}

impl Store {
    pub async fn upload(&self, key: &str) -> StoreResult<Option<UploadRow>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as("SELECT key, owner_id, kind, content_type FROM uploads WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await
        })?)
    }
}

/// An uploaded image: to its owner, to staff who may review the owner, and a photo of an
/// approved product review to everyone signed in (404 for anyone else).
#[utoipa::path(get, path = "/uploads/{key}", tag = "uploads", params(("key" = String, Path)),
    responses((status = 200, content_type = "image/*", body = Vec<u8>)), security(("bearer" = [])))]
pub async fn read(
    State(app): State<AppState>,
    actor: Actor,
    UrlPath(key): UrlPath<String>,
) -> ApiResult<Response> {
    let upload = app
        .store
        .upload(&key)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let allowed = upload.owner_id == actor.user_id
        || crate::members::can_review(&app, &actor, upload.owner_id).await?
        || (upload.kind == UploadKind::ReviewPhoto.as_str()
            && app.store.is_approved_review_photo(&upload.key).await?);
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
