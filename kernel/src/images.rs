//! Uploaded images (shop-front photos, business licences, receipts, delivery notes, product and
//! review pictures): every upload is decoded as a JPEG, PNG or WebP picture (the format read
//! from the bytes, never the file name or the client's content type), its size bounded from its
//! header before a pixel buffer exists, turned upright by its EXIF orientation, and stored as a
//! fresh encoding of its pixels alone under `PIFA_DATA/uploads/` with an unguessable key,
//! recorded with its owner.
//!
//! Storing the re-encoding, never the bytes sent, is what makes an upload safe to serve: a
//! file that merely starts like an image (a bare signature, an HTML page behind a JPEG header)
//! does not decode, and whatever rides along in a real one (EXIF with the GPS position a photo
//! was taken at, comments, anything after the image data) is not part of the pixels.
//!
//! A file is written before the database row that refers to it, and removed again unless the
//! caller `keep`s it after its transaction committed: a failed request leaves no orphan file.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};
use sqlx::FromRow;
use tokio::sync::Semaphore;

use crate::accounts::permissions::{Actor, Permission};
use crate::accounts::sessions::random_token;
use crate::error::{ApiError, ApiResult};
use crate::store::{StoreResult, on_pool};

/// Photos from a phone camera fit easily; anything larger is refused.
/// The largest form with files: a profile form carries two photos of at most 8 MB each; an
/// import file up to 100,000 rows.
pub const UPLOAD_BODY_LIMIT_BYTES: usize = 20 * 1024 * 1024;

pub const MAX_IMAGE_BYTES: usize = 8 * 1024 * 1024;

/// The most pixels an upload may have. Phones save 12 megapixels by default (4032 × 3024; 50 MP
/// sensors bin to 12.5 MP), an A4 page scanned at 600 dpi is 35 MP and a long screenshot of a
/// transfer (1080 × 30,000) 32 MP; a 48 MP full-resolution photo is rarely under
/// `MAX_IMAGE_BYTES` anyway. At 8-bit RGBA this is 160 MB, which is what one upload can make
/// the server hold (twice that while a rotation copies it).
pub const MAX_IMAGE_PIXELS: u64 = 40_000_000;

/// The longest side an upload may have: the long screenshot above. The decoders check it on the
/// header (a strict limit in `image::Limits`), so a header claiming 60,000 pixels across is
/// refused before anything is read past it.
pub const MAX_IMAGE_SIDE: u32 = 30_000;

/// The decoded size one upload may take: `MAX_IMAGE_PIXELS` at 8-bit RGBA (a 16-bit PNG, a
/// scan, gets half the pixels). Also the budget the decoders' own buffers are held to, such as
/// the PNG decoder's for compressed text and colour-profile chunks, each a small file that can
/// inflate to gigabytes.
const MAX_DECODED_BYTES: u64 = MAX_IMAGE_PIXELS * 4;

/// JPEG quality of stored photos: a receipt's digits and a licence's seal stay sharp, and a
/// 12 MP photo stays within a few megabytes.
const JPEG_QUALITY: u8 = 85;

/// Images decoded at once, across all requests. Each may hold up to twice `MAX_DECODED_BYTES`,
/// and an upload crafted to decode to the bound is cheap to send, so uploads queue here rather
/// than add up their memory; the work is CPU-bound anyway and the machine has few cores.
static DECODING: Semaphore = Semaphore::const_new(2);

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
    /// A picture of the shop's own (its logo, the service QR code, a brand's logo): public,
    /// served at `/api/v1/images/{key}` like the catalogue's.
    ShopPicture,
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
            UploadKind::ShopPicture => "shop_picture",
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

use crate::config::uploads_dir;

crate::store::handle! {
    /// The images' part of the store: uploaded files' records.
    pub ImageStore, images
}

/// Decodes `bytes` as a JPEG, PNG or WebP picture within the size bounds and writes its
/// re-encoding (upright, without metadata) under a new random key. `field` names the form field
/// in errors: 422 `invalid_image` for anything that does not decode, `image_too_large` over
/// `MAX_IMAGE_BYTES`, `MAX_IMAGE_SIDE` or `MAX_IMAGE_PIXELS`.
pub async fn stage_image(
    data_dir: &Path,
    kind: UploadKind,
    bytes: Bytes,
    field: &'static str,
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
    // Never closed, so acquiring fails only if that changes.
    let permit = DECODING.acquire().await.map_err(ApiError::internal)?;
    let dir = uploads_dir(data_dir);
    // Decoding and encoding are CPU work that grows with the pixel count: not on the async
    // workers. If the request is dropped meanwhile, the staged file is dropped (deleted) with
    // the task's result.
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let picture = Picture::decode(&bytes, field)?;
        write_staged(&dir, kind, &picture.encode()?)
    })
    .await
    .map_err(ApiError::internal)?
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
    if let Some(bytes) = crate::edge::json::form_file(field).await? {
        photos.push(stage_image(data_dir, kind, bytes, "photo").await?);
    }
    Ok(())
}

/// How a picture is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoredFormat {
    Jpeg,
    Png,
}

impl StoredFormat {
    fn content_type(self) -> &'static str {
        match self {
            StoredFormat::Jpeg => "image/jpeg",
            StoredFormat::Png => "image/png",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            StoredFormat::Jpeg => "jpg",
            StoredFormat::Png => "png",
        }
    }
}

/// An upload's pixels, decoded within the bounds and upright, with the format they are to be
/// stored in.
struct Picture {
    pixels: DynamicImage,
    stored_as: StoredFormat,
}

/// A re-encoded picture, ready to be written.
struct Encoded {
    bytes: Vec<u8>,
    format: StoredFormat,
}

impl Picture {
    fn decode(bytes: &[u8], field: &str) -> ApiResult<Picture> {
        let mut reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|_| not_an_image(field))?;
        let format = match reader.format() {
            Some(format @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)) => format,
            _ => return Err(not_an_image(field)),
        };
        let mut limits = Limits::default();
        limits.max_image_width = Some(MAX_IMAGE_SIDE);
        limits.max_image_height = Some(MAX_IMAGE_SIDE);
        limits.max_alloc = Some(MAX_DECODED_BYTES);
        reader.limits(limits);
        // The decoder has read the header (and the side limits were checked on it); no pixel
        // buffer exists until `from_decoder`, so the pixel count is checked in between.
        let mut decoder = reader.into_decoder().map_err(|err| refused(&err, field))?;
        let (width, height) = decoder.dimensions();
        if u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS
            || decoder.total_bytes() > MAX_DECODED_BYTES
        {
            return Err(too_many_pixels(field));
        }
        let orientation = decoder.orientation().map_err(|err| refused(&err, field))?;
        let mut pixels = DynamicImage::from_decoder(decoder).map_err(|err| refused(&err, field))?;
        // The orientation lives in the EXIF block, which is not stored: apply it to the pixels,
        // or a phone photo taken upright would be stored on its side.
        pixels.apply_orientation(orientation);
        let stored_as = match format {
            ImageFormat::Png => StoredFormat::Png,
            // `image` encodes WebP losslessly only, which makes a photo several times larger
            // than the lossy file it came as. A WebP is stored as a JPEG, or as a PNG when it
            // has transparency (a product cut-out) that a JPEG would lose.
            ImageFormat::WebP if uses_alpha(&pixels) => StoredFormat::Png,
            _ => StoredFormat::Jpeg,
        };
        Ok(Picture { pixels, stored_as })
    }

    /// The pixels alone: the encoders write no EXIF, ICC profile or comments unless given
    /// them. A wide-gamut (Display P3) photo loses its profile and looks slightly less
    /// saturated, which a receipt or a licence can afford; a profile is a free-form blob that
    /// could carry anything.
    fn encode(self) -> ApiResult<Encoded> {
        let mut bytes = Vec::new();
        let written = match self.stored_as {
            StoredFormat::Jpeg => {
                let encoder = JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY);
                match self.pixels {
                    gray @ DynamicImage::ImageLuma8(_) => gray.write_with_encoder(encoder),
                    // JPEG has no alpha and `image` writes only 8-bit grey or RGB.
                    other => DynamicImage::ImageRgb8(other.into_rgb8()).write_with_encoder(encoder),
                }
            }
            // Every colour type a PNG decodes to (grey or RGB, with or without alpha, 8 or 16
            // bits) is one the PNG encoder writes.
            StoredFormat::Png => self.pixels.write_with_encoder(PngEncoder::new(&mut bytes)),
        };
        // Pixels that decoded always encode; a failure here is ours, not the upload's.
        written.map_err(ApiError::internal)?;
        Ok(Encoded {
            bytes,
            format: self.stored_as,
        })
    }
}

/// Whether a picture has an alpha channel that is not everywhere opaque (many exporters add
/// one to every WebP).
fn uses_alpha(pixels: &DynamicImage) -> bool {
    match pixels {
        DynamicImage::ImageRgba8(rgba) => rgba.pixels().any(|p| {
            let [_, _, _, alpha] = p.0;
            alpha != u8::MAX
        }),
        other => other.has_alpha(),
    }
}

/// Writes `encoded` under a new random key in `dir`, staged: removed again on drop.
fn write_staged(dir: &Path, kind: UploadKind, encoded: &Encoded) -> ApiResult<StagedImage> {
    std::fs::create_dir_all(dir).map_err(ApiError::internal)?;
    let key = format!(
        "{}-{}.{}",
        kind.as_str(),
        random_token(),
        encoded.format.extension()
    );
    // Staged before the write, so a write that fails half-way leaves no partial file.
    let staged = StagedImage {
        path: dir.join(&key),
        key,
        kind,
        content_type: encoded.format.content_type(),
        size_bytes: i64::try_from(encoded.bytes.len()).unwrap_or(i64::MAX),
        kept: false,
    };
    std::fs::write(&staged.path, &encoded.bytes).map_err(ApiError::internal)?;
    Ok(staged)
}

fn not_an_image(field: &str) -> ApiError {
    ApiError::invalid_field(
        "invalid_image",
        field,
        format!("{field}: 只支持 JPEG、PNG、WebP 图片 (not a decodable JPEG, PNG or WebP image)"),
    )
}

fn too_many_pixels(field: &str) -> ApiError {
    ApiError::invalid_field(
        "image_too_large",
        field,
        format!(
            "{field}: 图片尺寸过大，最多{}万像素、边长{MAX_IMAGE_SIDE}像素 (at most {MAX_IMAGE_PIXELS} pixels, {MAX_IMAGE_SIDE} per side)",
            MAX_IMAGE_PIXELS / 10_000
        ),
    )
}

/// The answer to an upload the decoder refused: over a limit, or not a picture at all. Every
/// decoding error is the upload's fault (truncated, corrupt, an unsupported variant), so none
/// is a 500.
fn refused(err: &ImageError, field: &str) -> ApiError {
    match err {
        ImageError::Limits(_) => too_many_pixels(field),
        _ => not_an_image(field),
    }
}

/// A public picture of the shop's, uploaded.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ShopPicture {
    /// Where it is served (`/api/v1/images/{key}`), for a setting or a brand to point at.
    pub url: String,
}

/// Checks and stores a picture of the shop's (re-encoded, without its metadata) as `actor`'s
/// upload; its URL is what a setting or a brand then points at. `field` names the form field
/// in a refusal.
pub async fn store_picture(
    shop: &crate::shop::Shop,
    actor: &Actor,
    bytes: Bytes,
    field: &'static str,
) -> ApiResult<ShopPicture> {
    if !(actor.has(Permission::ManageSettings) || actor.has(Permission::ManageCatalog)) {
        return Err(ApiError::forbidden());
    }
    keep_picture(shop, actor.user_id, bytes, field).await
}

/// Checks and stores a picture of the shop's as `owner_id`'s upload, whose right to upload it
/// the caller has checked (the permission above, or a plugin route's roles).
pub async fn keep_picture(
    shop: &crate::shop::Shop,
    owner_id: i64,
    bytes: Bytes,
    field: &'static str,
) -> ApiResult<ShopPicture> {
    let staged = stage_image(&shop.config.data_dir, UploadKind::ShopPicture, bytes, field).await?;
    shop.store
        .images()
        .record_upload(&staged, owner_id, shop.clock.now_ms())
        .await?;
    let url = format!("/api/v1/images/{}", staged.key);
    staged.keep();
    Ok(ShopPicture { url })
}

/// Upload a picture of the shop's — its logo, the service QR code, a brand's logo — to point
/// a setting or a brand at (admin; JPEG, PNG or WebP, at most 8 MB and 40 megapixels); public
/// once uploaded.
#[utoipa::path(post, path = "/admin/pictures", tag = "catalog",
    request_body(content = Vec<u8>, content_type = "image/*"),
    responses((status = 201, body = ShopPicture), (status = 422, description = "`image_too_large`, `invalid_image`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn upload_picture(
    axum::extract::State(shop): axum::extract::State<crate::shop::Shop>,
    actor: Actor,
    body: Bytes,
) -> ApiResult<(axum::http::StatusCode, axum::Json<ShopPicture>)> {
    let picture = store_picture(&shop, &actor, body, "image").await?;
    Ok((axum::http::StatusCode::CREATED, axum::Json(picture)))
}

#[derive(Debug, FromRow)]
pub struct UploadRow {
    pub key: String,
    pub owner_id: i64,
    pub kind: String,
    pub content_type: String,
}

impl ImageStore<'_> {
    /// Records a staged image as `owner_id`'s upload; the caller keeps the file once this is in.
    pub async fn record_upload(
        self,
        image: &StagedImage,
        owner_id: i64,
        now_ms: i64,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("INSERT INTO uploads (key, owner_id, kind, content_type, size_bytes, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&image.key)
                .bind(owner_id)
                .bind(image.kind.as_str())
                .bind(image.content_type)
                .bind(image.size_bytes)
                .bind(now_ms)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    pub async fn upload(self, key: &str) -> StoreResult<Option<UploadRow>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as("SELECT key, owner_id, kind, content_type FROM uploads WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await
        })?)
    }
}

#[cfg(test)]
mod tests {
    use image::codecs::webp::WebPEncoder;
    use image::{ImageBuffer, Luma, Rgba, RgbaImage};

    use super::*;

    fn stored(bytes: &[u8]) -> (StoredFormat, DynamicImage) {
        let encoded = Picture::decode(bytes, "photo")
            .and_then(Picture::encode)
            .unwrap_or_else(|e| panic!("refused: {e:?}"));
        let again = image::load_from_memory(&encoded.bytes).unwrap_or_else(|e| panic!("{e}"));
        (encoded.format, again)
    }

    fn webp(alpha: u8) -> Vec<u8> {
        let picture = RgbaImage::from_pixel(5, 3, Rgba([200, 30, 30, alpha]));
        let mut bytes = Vec::new();
        let written = picture.write_with_encoder(WebPEncoder::new_lossless(&mut bytes));
        assert!(written.is_ok(), "{written:?}");
        bytes
    }

    #[test]
    fn a_webp_is_stored_as_jpeg_unless_it_uses_transparency() {
        let (format, opaque) = stored(&webp(u8::MAX));
        assert_eq!(
            format,
            StoredFormat::Jpeg,
            "an opaque alpha channel is no reason for PNG"
        );
        assert_eq!((opaque.width(), opaque.height()), (5, 3));
        let (format, cut_out) = stored(&webp(100));
        assert_eq!(format, StoredFormat::Png);
        assert_eq!(
            cut_out.to_rgba8().get_pixel(0, 0),
            &Rgba([200, 30, 30, 100])
        );
    }

    #[test]
    fn a_png_keeps_its_depth_and_a_grey_jpeg_stays_grey() {
        let deep: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_pixel(4, 4, Luma([40_000]));
        let mut png = Vec::new();
        let written = deep.write_with_encoder(PngEncoder::new(&mut png));
        assert!(written.is_ok(), "{written:?}");
        let (format, again) = stored(&png);
        assert_eq!(format, StoredFormat::Png);
        assert_eq!(again.color(), image::ColorType::L16);

        let grey: ImageBuffer<Luma<u8>, Vec<u8>> = ImageBuffer::from_pixel(8, 8, Luma([90]));
        let mut jpeg = Vec::new();
        let written = grey.write_with_encoder(JpegEncoder::new_with_quality(&mut jpeg, 90));
        assert!(written.is_ok(), "{written:?}");
        let (format, again) = stored(&jpeg);
        assert_eq!(format, StoredFormat::Jpeg);
        assert_eq!(again.color(), image::ColorType::L8);
    }

    #[test]
    fn what_does_not_decode_is_an_invalid_image() {
        let jpeg = {
            let mut bytes = Vec::new();
            let picture = RgbaImage::from_pixel(16, 16, Rgba([1, 2, 3, 255]));
            let written = DynamicImage::ImageRgba8(picture)
                .into_rgb8()
                .write_with_encoder(JpegEncoder::new_with_quality(&mut bytes, 90));
            assert!(written.is_ok(), "{written:?}");
            bytes
        };
        for (what, bytes) in [
            ("a signature alone", b"\x89PNG\r\n\x1a\n".to_vec()),
            (
                "a JPEG cut after its header",
                jpeg.get(..20).unwrap_or_default().to_vec(),
            ),
            ("a GIF", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec()),
            ("text", b"<html><script></script></html>".to_vec()),
        ] {
            let code = Picture::decode(&bytes, "photo").err().map(|e| e.code);
            assert_eq!(code, Some("invalid_image"), "{what}");
        }
    }
}
