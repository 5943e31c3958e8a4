//! Profile completion (完善信息, B1): shop name, contact, address, region, WeChat ID and two
//! photos, sent as one multipart form. Everything is checked before anything is written; the
//! photos are written first and removed again if the database write fails.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::addresses::AddressFields;
use super::records::{ImageRef, ProfileSaved, ProfileWrite};
use crate::accounts::MemberState;
use crate::accounts::audit::Operation;
use crate::accounts::parse_name;
use crate::accounts::permissions::{Actor, Permission};
use crate::accounts::sessions::ClientInfo;
use crate::edge::extract::Multipart;
use crate::error::{ApiError, ApiResult};
use crate::images::{StagedImage, UploadKind, stage_image};
use crate::shop::Shop;

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
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MyProfile {
    pub member_state: Option<MemberState>,
    pub shop_name: Option<String>,
    pub wechat_id: Option<String>,
    pub region_id: Option<i64>,
    /// `/api/v1/uploads/…` URLs.
    pub shop_photo_url: Option<String>,
    pub licence_url: Option<String>,
    pub reject_reason: Option<String>,
    /// A change of shop name or photos waiting for staff (approved members only).
    pub pending_change: Option<PendingChange>,
    /// Why staff turned down the last change, until the next one.
    pub change_reject_reason: Option<String>,
}

/// An approved member's change of shop name or photos, waiting for staff. The approved values
/// stay in force until then.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PendingChange {
    pub shop_name: Option<String>,
    /// Set when the change brings a new shop-front photo.
    pub shop_photo_url: Option<String>,
    /// Set when the change brings a new licence photo.
    pub licence_url: Option<String>,
    pub submitted_at: String,
}

impl PendingChange {
    pub fn of(record: &super::records::MemberRecord) -> Option<PendingChange> {
        record.change_submitted_at.map(|at| PendingChange {
            shop_name: record.pending_shop_name.clone(),
            shop_photo_url: record.pending_shop_photo.as_deref().map(upload_url),
            licence_url: record.pending_licence_photo.as_deref().map(upload_url),
            submitted_at: crate::clock::rfc3339(at),
        })
    }
}

pub fn upload_url(key: &str) -> String {
    format!("/api/v1/uploads/{key}")
}

async fn read_form(
    mut form: Multipart,
) -> ApiResult<(HashMap<String, String>, HashMap<String, axum::body::Bytes>)> {
    let mut texts = HashMap::new();
    let mut files = HashMap::new();
    while let Some(field) = form.next_field().await? {
        let name = field.name().unwrap_or_default().to_owned();
        if matches!(name.as_str(), "shop_photo" | "licence") {
            if let Some(bytes) = crate::edge::json::form_file(field).await? {
                files.insert(name, bytes);
            }
        } else {
            texts.insert(name, crate::edge::json::form_text(field).await?);
        }
    }
    Ok((texts, files))
}

/// Complete (or update) my profile (members). Moves an authorised or rejected member to
/// *profile complete*, waiting for review. An approved member keeps his standing: his region
/// is staff's to change (403 `set_by_staff`; leave `region_id` out or send his own), contact
/// name, WeChat ID and address change at once, and a new shop name or photo waits for staff
/// as `pending_change` while the approved ones stay in force.
#[utoipa::path(put, path = "/me/profile", tag = "members", request_body(content = ProfileForm, content_type = "multipart/form-data"),
    responses((status = 200, body = MyProfile), (status = 403, description = "`set_by_staff`", body = crate::error::ErrorBody), (status = 422, description = "`image_too_large`, `invalid_image`, `invalid_phone`, `unknown_region`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn complete(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    form: Multipart,
) -> ApiResult<Json<MyProfile>> {
    actor.require(Permission::OwnMemberAccount)?;
    let (texts, files) = read_form(form).await?;
    let text = |name: &str| texts.get(name).map(String::as_str).unwrap_or("");
    let existing = app.store.members().member(actor.user_id).await?;
    let approved = existing
        .as_ref()
        .is_some_and(|m| m.state() == Some(MemberState::Approved));
    // An approved member's region is the one staff set; he may leave it out.
    let region_id: i64 = match text("region_id").trim() {
        "" if approved => existing.as_ref().and_then(|m| m.region_id).unwrap_or(0),
        given => given.parse().map_err(|_| {
            ApiError::invalid_field(
                "invalid_input",
                "region_id",
                "region_id: 请选择区域 (choose a region)",
            )
        })?,
    };
    if approved && existing.as_ref().and_then(|m| m.region_id) != Some(region_id) {
        return Err(region_set_by_staff());
    }
    crate::regions::require_known(&app.store, [region_id], "region_id").await?;
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
            None if !had_photos && !approved => {
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
    let replaced = match app
        .store
        .members()
        .save_profile(actor.user_id, &write, now)
        .await?
    {
        ProfileSaved::Saved { replaced, .. } => replaced,
        ProfileSaved::RegionSetByStaff => return Err(region_set_by_staff()),
    };
    for file in staged {
        file.keep();
    }
    for key in replaced {
        let _ = std::fs::remove_file(crate::config::uploads_dir(&app.config.data_dir).join(key));
    }
    app.store
        .accounts()
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

/// An approved member's region decides his prices and who serves him: staff set it.
fn region_set_by_staff() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "set_by_staff",
        "region_id: 区域由客户经理设定，如需变更请联系您的客户经理 (the region of an approved member is set by staff)",
    )
    .with_field("region_id")
}

async fn my_profile(app: &Shop, user_id: i64) -> ApiResult<MyProfile> {
    let record = app
        .store
        .members()
        .member(user_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(MyProfile {
        pending_change: PendingChange::of(&record),
        change_reject_reason: record.change_reject_reason.clone(),
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
pub async fn get(State(app): State<Shop>, actor: Actor) -> ApiResult<Json<MyProfile>> {
    actor.require(Permission::OwnMemberAccount)?;
    my_profile(&app, actor.user_id).await.map(Json)
}
