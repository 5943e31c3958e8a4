//! Reviews (C7): a member who received goods rates them (1–5) and reviews them with text and
//! photos, once per product of an order; staff approve or reject; product pages show only
//! approved reviews, with the reviewer's name shortened and their photos readable.

use crate::edge::extract::Multipart;
use crate::edge::extract::{Path, Query};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use utoipa::{IntoParams, ToSchema};

use crate::accounts::permissions::{Actor, Permission};
use crate::clock::rfc3339;
use crate::edge::json::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::images::{StagedImage, UploadKind, stage_photo};
use crate::orders::lifecycle::my_received_order;
use crate::shop::Shop;
use crate::store::batch::{Batch, RunBatch, args};
use crate::store::{StoreError, StoreResult, in_tx, on_pool};

crate::store::handle! {
    /// The reviews' part of the store.
    pub ReviewStore, reviews
}

/// A review as a product page (or the moderation queue) shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Review {
    pub id: i64,
    pub product_id: i64,
    pub rating: i64,
    pub body: String,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// The reviewer's name with all but its first character hidden (赵**).
    pub reviewer: String,
    pub photos: Vec<String>,
    pub created_at: String,
}

/// A product's approved reviews.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductReviews {
    pub count: i64,
    /// Average rating times ten, rounded half up (45 = 4.5 stars); 0 without reviews.
    pub average_x10: i64,
    pub reviews: Vec<Review>,
}

#[derive(FromRow)]
struct ReviewRow {
    id: i64,
    product_id: i64,
    rating: i64,
    body: String,
    status: String,
    reviewer: String,
    created_at: i64,
}

fn shortened(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => format!("{first}{}", "*".repeat(chars.count().clamp(1, 2))),
        None => "**".to_owned(),
    }
}

impl ReviewStore<'_> {
    async fn reviews_where(self, condition: &str, id: Option<i64>) -> StoreResult<Vec<Review>> {
        let sql = format!(
            "SELECT r.id, r.product_id, r.rating, r.body, r.status, u.name AS reviewer, r.created_at
             FROM reviews r JOIN users u ON u.id = r.member_id WHERE {condition} ORDER BY r.id DESC LIMIT 200"
        );
        let (rows, photos): (Vec<ReviewRow>, Vec<(i64, String)>) = on_pool!(self, |pool| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
            if let Some(id) = id {
                query = query.bind(id);
            }
            let rows: Vec<ReviewRow> = query.fetch_all(pool).await?;
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            let photos = crate::store::id_list_query(
                "SELECT review_id, upload_key FROM review_photos WHERE review_id IN ",
                &ids,
            )
            .push(" ORDER BY review_id, seq")
            .build_query_as()
            .fetch_all(pool)
            .await?;
            Ok::<_, sqlx::Error>((rows, photos))
        })?;
        Ok(rows
            .into_iter()
            .map(|row| Review {
                photos: photos
                    .iter()
                    .filter(|(review, _)| *review == row.id)
                    .map(|(_, key)| format!("/api/v1/uploads/{key}"))
                    .collect(),
                id: row.id,
                product_id: row.product_id,
                rating: row.rating,
                body: row.body,
                status: row.status,
                reviewer: shortened(&row.reviewer),
                created_at: rfc3339(row.created_at),
            })
            .collect())
    }

    /// Whether upload `key` is a photo of an approved review (readable by everyone).
    pub async fn is_approved_review_photo(self, key: &str) -> StoreResult<bool> {
        let found: Option<i64> = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT p.review_id FROM review_photos p JOIN reviews r ON r.id = p.review_id
                 WHERE p.upload_key = $1 AND r.status = 'approved'",
            )
            .bind(key)
            .fetch_optional(pool)
            .await
        })?;
        Ok(found.is_some())
    }

    async fn insert_review(
        self,
        review: &NewReview,
        photos: &[StagedImage],
        now_ms: i64,
    ) -> StoreResult<i64> {
        in_tx!(self, |tx| {
            async {
            let mut insert = Batch::default();
            insert.push(
                "INSERT INTO reviews (product_id, order_id, member_id, rating, body, status, created_at)
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6) RETURNING id",
                args![review.product_id, review.order_id, review.member_id, review.rating, review.body.as_str(), now_ms],
            );
            let ids: Vec<(i64,)> = tx.fetch_batch(insert).await.map_err(StoreError::classify)?;
            let Some(&(id,)) = ids.first() else {
                return Err(StoreError::Other("the review insert returned no id".to_owned()));
            };
            let mut batch = Batch::default();
            for (seq, photo) in photos.iter().enumerate() {
                photo.push_row(&mut batch, review.member_id, now_ms);
                batch.push(
                    "INSERT INTO review_photos (review_id, seq, upload_key) VALUES ($1, $2, $3)",
                    args![id, i64::try_from(seq).unwrap_or(0), photo.key.as_str()],
                );
            }
            tx.execute_batch(batch).await?;
            Ok(id)
        }
        .await
        })
    }
}

struct NewReview {
    product_id: i64,
    order_id: i64,
    member_id: i64,
    rating: i64,
    body: String,
}

/// The form of `POST /orders/{id}/reviews` (multipart/form-data).
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documents the multipart form for the OpenAPI document"
)]
pub struct ReviewForm {
    /// A product of the order's lines.
    product_id: i64,
    /// 1 to 5.
    rating: i64,
    body: String,
    /// Up to six pictures (JPEG, PNG or WebP, at most 8 MB each): repeat the field.
    #[schema(value_type = Option<Vec<String>>, format = Binary)]
    photo: Option<Vec<Vec<u8>>>,
}

/// Review a product of my received order (C7): multipart with `product_id`, `rating` (1–5),
/// `body` and up to six `photo`s. Shown once staff approve it.
#[utoipa::path(post, path = "/orders/{id}/reviews", tag = "reviews", params(("id" = i64, Path)),
    request_body(content = ReviewForm, content_type = "multipart/form-data"),
    responses((status = 201, body = Review), (status = 409, description = "`already_reviewed`, `invalid_transition`", body = crate::error::ErrorBody), (status = 422, description = "`image_too_large`, `invalid_image`, `too_many_photos`, `unknown_line`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
    mut form: Multipart,
) -> ApiResult<(StatusCode, Json<Review>)> {
    let order = my_received_order(&app, &actor, crate::ids::OrderId(id)).await?;
    let mut product_id = None;
    let mut rating = None;
    let mut body = String::new();
    let mut photos = Vec::new();
    let number = |text: String, field: &str| -> ApiResult<i64> {
        text.trim().parse().map_err(|_| {
            ApiError::invalid_field(
                "invalid_input",
                field,
                format!("{field}: 须为整数 (a whole number)"),
            )
        })
    };
    while let Some(field) = form.next_field().await? {
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "product_id" => {
                product_id = Some(number(
                    crate::edge::json::form_text(field).await?,
                    "product_id",
                )?)
            }
            "rating" => {
                rating = Some(number(
                    crate::edge::json::form_text(field).await?,
                    "rating",
                )?)
            }
            "body" => body = crate::edge::json::form_text(field).await?,
            "photo" => {
                stage_photo(
                    &app.config.data_dir,
                    UploadKind::ReviewPhoto,
                    field,
                    &mut photos,
                )
                .await?;
            }
            other => crate::edge::json::unknown_form_field(other)?,
        }
    }
    let product_id = product_id
        .filter(|p| order.lines.iter().any(|l| l.line.product_id.get() == *p))
        .ok_or_else(|| {
            ApiError::invalid_field(
                "unknown_line",
                "product_id",
                "product_id: 订单中没有这个商品 (not in this order)",
            )
        })?;
    let rating = rating.filter(|r| (1..=5).contains(r)).ok_or_else(|| {
        ApiError::invalid_field("invalid_input", "rating", "rating: 1到5星 (1 to 5 stars)")
    })?;
    let body = crate::accounts::parse_text(&body, "body", 1000)?;
    let review = NewReview {
        product_id,
        order_id: order.id.get(),
        member_id: actor.user_id,
        rating,
        body,
    };
    let id = match app
        .store
        .reviews()
        .insert_review(&review, &photos, app.clock.now_ms())
        .await
    {
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_reviewed",
                "这笔订单的这个商品已经评价过 (already reviewed)",
            ));
        }
        other => other?,
    };
    for photo in photos {
        photo.keep();
    }
    let created = app
        .store
        .reviews()
        .reviews_where("r.id = $1", Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(ApiError::not_found)?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// A product's approved reviews, newest first, with the count and average rating (C7).
#[utoipa::path(get, path = "/products/{id}/reviews", tag = "reviews", params(("id" = i64, Path)),
    responses((status = 200, body = ProductReviews)), security(("bearer" = [])))]
pub async fn of_product(
    State(app): State<Shop>,
    _actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<Json<ProductReviews>> {
    let reviews = app
        .store
        .reviews()
        .reviews_where("r.product_id = $1 AND r.status = 'approved'", Some(id))
        .await?;
    let count = i64::try_from(reviews.len()).unwrap_or(i64::MAX);
    let sum: i64 = reviews.iter().map(|r| r.rating).sum();
    let average_x10 = if count == 0 {
        0
    } else {
        (sum * 20 + count) / (2 * count)
    };
    Ok(Json(ProductReviews {
        count,
        average_x10,
        reviews,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ModerationQuery {
    /// `pending` (default), `approved` or `rejected`.
    pub status: Option<String>,
}

/// Reviews waiting for moderation, or by status (admin, customer service).
#[utoipa::path(get, path = "/admin/reviews", tag = "reviews", params(ModerationQuery),
    responses((status = 200, body = Vec<Review>)), security(("bearer" = [])))]
pub async fn queue(
    State(app): State<Shop>,
    actor: Actor,
    Query(query): Query<ModerationQuery>,
) -> ApiResult<Json<Vec<Review>>> {
    actor.require(Permission::ModerateReviews)?;
    let condition = match query.status.as_deref().unwrap_or("pending") {
        "pending" => "r.status = 'pending'",
        "approved" => "r.status = 'approved'",
        "rejected" => "r.status = 'rejected'",
        _ => {
            return Err(ApiError::invalid_field(
                "invalid_input",
                "status",
                "status: pending、approved 或 rejected",
            ));
        }
    };
    Ok(Json(
        app.store.reviews().reviews_where(condition, None).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Moderation {
    pub approve: bool,
}

/// Approve (shown on the product page) or reject a review (admin, customer service).
#[utoipa::path(post, path = "/admin/reviews/{id}/moderation", tag = "reviews", params(("id" = i64, Path)), request_body = Moderation,
    responses((status = 200, body = Review)), security(("bearer" = [])))]
pub async fn moderate(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<Moderation>,
) -> ApiResult<Json<Review>> {
    actor.require(Permission::ModerateReviews)?;
    let status = if input.approve {
        "approved"
    } else {
        "rejected"
    };
    let changed = on_pool!(app.store, |pool| {
        sqlx::query("UPDATE reviews SET status = $2, moderated_by = $3 WHERE id = $1")
            .bind(id)
            .bind(status)
            .bind(actor.user_id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
    })
    .map_err(StoreError::Db)?;
    if changed == 0 {
        return Err(ApiError::not_found());
    }
    let review = app
        .store
        .reviews()
        .reviews_where("r.id = $1", Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(review))
}

#[cfg(test)]
mod tests {
    use super::shortened;

    #[test]
    fn names_are_shortened() {
        assert_eq!(shortened("赵老板"), "赵**");
        assert_eq!(shortened("李四"), "李*");
        assert_eq!(shortened(""), "**");
    }
}
