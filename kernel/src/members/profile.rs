//! Profile completion (完善信息, B1): shop name, contact, address, region, WeChat ID and two
//! photos, sent as one multipart form. Everything is checked before anything is written; the
//! photos are written first and removed again if the database write fails.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Multipart, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::addresses::AddressFields;
use super::records::{ImageRef, ProfileWrite};
use crate::accounts::MemberState;
use crate::accounts::audit::Operation;
use crate::accounts::parse_name;
use crate::accounts::permissions::{Actor, Permission};
use crate::accounts::sessions::ClientInfo;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::uploads::{StagedImage, UploadKind, stage_image};

/// The form fields of `PUT /me/profile` (multipart/form-data).
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documents the multipart form for the OpenAPI document"
)]
pub struct ProfileForm {
    shop_name: String,
    contact_name: String,
    contact_phone: String,
    province: String,
    city: String,
    district: String,
    address: String,
    region_id: i64,
    wechat_id: String,
    /// Shop-front photo (JPEG, PNG or WebP, at most 8 MB); required the first time.
    #[schema(format = Binary, value_type = String)]
    shop_photo: Option<Vec<u8>>,
    /// Business licence photo; required the first time.
    #[schema(format = Binary, value_type = String)]
    licence: Option<Vec<u8>>,
}

/// The member's own view of his profile.
#[derive(Serialize, ToSchema)]
pub struct MyProfile {
    pub member_state: Option<MemberState>,
    pub shop_name: Option<String>,
    pub wechat_id: Option<String>,
    pub region_id: Option<i64>,
    /// `/api/v1/uploads/…` URLs.
    pub shop_photo_url: Option<String>,
    pub licence_url: Option<String>,
    pub reject_reason: Option<String>,
}

pub fn upload_url(key: &str) -> String {
    format!("/api/v1/uploads/{key}")
}

async fn read_form(
    mut form: Multipart,
) -> ApiResult<(HashMap<String, String>, HashMap<String, axum::body::Bytes>)> {
    let mut texts = HashMap::new();
    let mut files = HashMap::new();
    let broken = |err: axum::extract::multipart::MultipartError| {
        ApiError::new(
            err.status(),
            "invalid_form",
            format!("表单无法读取 (multipart form: {})", err.body_text()),
        )
    };
    while let Some(field) = form.next_field().await.map_err(broken)? {
        let name = field.name().unwrap_or_default().to_owned();
        if matches!(name.as_str(), "shop_photo" | "licence") {
            files.insert(name, field.bytes().await.map_err(broken)?);
        } else {
            texts.insert(name, field.text().await.map_err(broken)?);
        }
    }
    Ok((texts, files))
}

/// Complete (or update) my profile (members). Moves an authorised or rejected member to
/// *profile complete*, waiting for review.
#[utoipa::path(put, path = "/me/profile", tag = "members", request_body(content = ProfileForm, content_type = "multipart/form-data"),
    responses((status = 200, body = MyProfile), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn complete(
    State(app): State<AppState>,
    actor: Actor,
    client: ClientInfo,
    form: Multipart,
) -> ApiResult<Json<MyProfile>> {
    actor.require(Permission::OwnMemberAccount)?;
    let (texts, files) = read_form(form).await?;
    let text = |name: &str| texts.get(name).map(String::as_str).unwrap_or("");
    let region_id: i64 = text("region_id").trim().parse().map_err(|_| {
        ApiError::invalid_field(
            "invalid_input",
            "region_id",
            "region_id: 请选择区域 (choose a region)",
        )
    })?;
    if app
        .store
        .unknown_regions([region_id])
        .await?
        .contains(&region_id)
    {
        return Err(ApiError::invalid_field(
            "unknown_region",
            "region_id",
            "区域不存在 (region_id: no such region)",
        ));
    }
    let shop_name = parse_name(text("shop_name"), "shop_name", 100)?;
    let contact_name = parse_name(text("contact_name"), "contact_name", 30)?;
    let wechat_id = parse_name(text("wechat_id"), "wechat_id", 40)?;
    let address = AddressFields::parse(
        text("province"),
        text("city"),
        text("district"),
        text("address"),
        &contact_name,
        text("contact_phone"),
        "",
    )
    .map_err(|e| {
        if e.field.as_deref() == Some("phone") {
            e.with_field("contact_phone")
        } else if e.field.as_deref() == Some("detail") {
            e.with_field("address")
        } else {
            e
        }
    })?;
    let existing = app.store.member(actor.user_id).await?;
    let had_photos = existing
        .as_ref()
        .is_some_and(|m| m.shop_photo.is_some() && m.licence_photo.is_some());
    let mut staged: Vec<StagedImage> = Vec::new();
    for (field, kind) in [
        ("shop_photo", UploadKind::ShopPhoto),
        ("licence", UploadKind::Licence),
    ] {
        match files.get(field) {
            Some(bytes) => {
                staged.push(stage_image(&app.config.data_dir, kind, bytes.clone(), field).await?)
            }
            None if !had_photos => {
                return Err(ApiError::invalid_field(
                    "invalid_image",
                    field,
                    format!("{field}: 请上传照片 (photo required)"),
                ));
            }
            None => {}
        }
    }
    let image = |kind: UploadKind| {
        staged.iter().find(|s| s.kind == kind).map(|s| ImageRef {
            key: s.key.clone(),
            kind: kind.as_str(),
            content_type: s.content_type,
            size_bytes: s.size_bytes,
        })
    };
    let write = ProfileWrite {
        shop_name,
        contact_name,
        region_id,
        wechat_id,
        address,
        shop_photo: image(UploadKind::ShopPhoto),
        licence: image(UploadKind::Licence),
    };
    let now = app.clock.now_ms();
    // On error the staged files are dropped, which deletes them.
    let replaced = app.store.save_profile(actor.user_id, &write, now).await?;
    for file in staged {
        file.keep();
    }
    for key in replaced {
        let _ = std::fs::remove_file(crate::uploads::uploads_dir(&app.config.data_dir).join(key));
    }
    app.store
        .log_operation(
            Operation {
                actor_id: Some(actor.user_id),
                action: "member.profile",
                target_kind: "user",
                target_id: Some(actor.user_id.to_string()),
                detail: serde_json::json!({ "region_id": region_id }),
            },
            &client,
            now,
        )
        .await?;
    my_profile(&app, actor.user_id).await.map(Json)
}

async fn my_profile(app: &AppState, user_id: i64) -> ApiResult<MyProfile> {
    let record = app
        .store
        .member(user_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(MyProfile {
        member_state: record.state(),
        shop_name: record.shop_name,
        wechat_id: record.wechat_id,
        region_id: record.region_id,
        shop_photo_url: record.shop_photo.as_deref().map(upload_url),
        licence_url: record.licence_photo.as_deref().map(upload_url),
        reject_reason: record.reject_reason,
    })
}

/// My profile and where it stands (members).
#[utoipa::path(get, path = "/me/profile", tag = "members", responses((status = 200, body = MyProfile)), security(("bearer" = [])))]
pub async fn get(State(app): State<AppState>, actor: Actor) -> ApiResult<Json<MyProfile>> {
    actor.require(Permission::OwnMemberAccount)?;
    my_profile(&app, actor.user_id).await.map(Json)
}
