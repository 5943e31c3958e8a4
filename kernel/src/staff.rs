//! Staff administration (A6) and the team directory: admins create staff, give and take roles
//! and regions, record a driver's plate, disable accounts and reset passwords; managers read
//! the staff of their own regions.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::accounts::audit::Operation;
use crate::accounts::passwords::Hasher;
use crate::accounts::permissions::{Actor, Permission, grants};
use crate::accounts::sessions::ClientInfo;
use crate::accounts::users::{NewUser, StaffChanges, StaffFilter, User};
use crate::accounts::{Password, Phone, Role, parse_name};
use crate::clock::rfc3339;
use crate::edge::extract::{Path, Query};
use crate::edge::json::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::shop::Shop;
use crate::store::StoreError;

/// A staff account as the back office shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffView {
    pub id: i64,
    pub name: String,
    pub phone: String,
    pub roles: Vec<Role>,
    pub region_ids: Vec<i64>,
    /// The driver's vehicle plate (E7 shows it to the member).
    pub vehicle_plate: Option<String>,
    pub disabled: bool,
    pub created_at: String,
}

impl StaffView {
    fn of(user: &User) -> StaffView {
        StaffView {
            id: user.id,
            name: user.name.clone(),
            phone: user.phone.clone(),
            roles: user.roles.iter().copied().collect(),
            region_ids: user.region_ids.iter().copied().collect(),
            vehicle_plate: user.vehicle_plate.clone(),
            disabled: user.disabled,
            created_at: rfc3339(user.created_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaff {
    pub name: String,
    pub phone: String,
    pub password: String,
    pub roles: Vec<Role>,
    #[serde(default)]
    pub region_ids: Vec<i64>,
    pub vehicle_plate: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffPatch {
    pub name: Option<String>,
    pub roles: Option<Vec<Role>>,
    pub region_ids: Option<Vec<i64>>,
    /// An empty string clears the plate.
    pub vehicle_plate: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    pub new_password: String,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct StaffQuery {
    pub role: Option<Role>,
    pub region_id: Option<i64>,
}

/// Roles given to staff: at least one, and `member` is not a staff role (members sign up).
fn parse_roles(roles: &[Role]) -> ApiResult<BTreeSet<Role>> {
    let set: BTreeSet<Role> = roles.iter().copied().collect();
    if set.is_empty() || set.iter().any(|role| !role.is_staff()) {
        return Err(ApiError::invalid_field(
            "invalid_roles",
            "roles",
            "请至少选择一个员工角色，会员不是员工角色 (roles: at least one staff role; member is not one)",
        ));
    }
    Ok(set)
}

async fn parse_regions(app: &Shop, ids: &[i64]) -> ApiResult<BTreeSet<i64>> {
    crate::regions::require_known(&app.store, ids.iter().copied(), "region_ids").await?;
    Ok(ids.iter().copied().collect())
}

/// 琼A·12345-style plates: 5 to 10 characters, trimmed.
fn parse_plate(raw: &str) -> ApiResult<Option<String>> {
    let plate = raw.trim();
    if plate.is_empty() {
        return Ok(None);
    }
    if !(5..=10).contains(&plate.chars().count()) {
        return Err(ApiError::invalid_field(
            "invalid_input",
            "vehicle_plate",
            "车牌号格式不正确 (vehicle_plate: 5-10 characters)",
        ));
    }
    Ok(Some(plate.to_uppercase()))
}

async fn staff_record(app: &Shop, id: i64) -> ApiResult<User> {
    match app.store.accounts().user_by_id(id).await? {
        Some(user) if user.roles.iter().any(|role| role.is_staff()) => Ok(user),
        _ => Err(ApiError::not_found()),
    }
}

/// Create a staff account (admin).
#[utoipa::path(post, path = "/admin/staff", tag = "staff", request_body = NewStaff,
    responses((status = 201, body = StaffView), (status = 409, description = "`phone_taken`", body = crate::error::ErrorBody), (status = 422, description = "`invalid_phone`, `invalid_roles`, `unknown_region`, `weak_password`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create(
    State(app): State<Shop>,
    State(hasher): State<Hasher>,
    actor: Actor,
    client: ClientInfo,
    ApiJson(input): ApiJson<NewStaff>,
) -> ApiResult<(StatusCode, Json<StaffView>)> {
    actor.require(Permission::ManageStaff)?;
    let name = parse_name(&input.name, "name", 50)?;
    let phone = Phone::parse(&input.phone)?;
    let password = Password::parse(&input.password, "password")?;
    let roles = parse_roles(&input.roles)?;
    let region_ids = parse_regions(&app, &input.region_ids).await?;
    let vehicle_plate = input
        .vehicle_plate
        .as_deref()
        .map(parse_plate)
        .transpose()?
        .flatten();
    let password_hash = hasher.hash(&password).await.map_err(ApiError::internal)?;
    let now = app.clock.now_ms();
    let new_user = NewUser {
        phone: phone.as_str().to_owned(),
        email: None,
        name,
        company_name: None,
        password_hash: Some(password_hash),
        member_state: None,
        vehicle_plate,
        roles,
        region_ids,
    };
    let id = match app.store.accounts().insert_user(&new_user, now).await {
        Ok(id) => id,
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(
                "phone_taken",
                "phone",
                "该手机号已被使用 (phone: already registered)",
            ));
        }
        Err(err) => return Err(err.into()),
    };
    let user = staff_record(&app, id).await?;
    let detail = serde_json::json!({ "roles": user.roles, "region_ids": user.region_ids, "phone": phone.masked() });
    app.store
        .accounts()
        .log_operation(
            Operation {
                actor_id: Some(actor.user_id),
                action: "staff.create",
                target_kind: "user",
                target_id: Some(id.to_string()),
                detail,
            },
            &client,
            now,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(StaffView::of(&user))))
}

/// List staff, optionally by role or region (admin).
#[utoipa::path(get, path = "/admin/staff", tag = "staff", params(StaffQuery), responses((status = 200, body = [StaffView])), security(("bearer" = [])))]
pub async fn list(
    State(app): State<Shop>,
    actor: Actor,
    Query(q): Query<StaffQuery>,
) -> ApiResult<Json<Vec<StaffView>>> {
    actor.require(Permission::ManageStaff)?;
    let filter = StaffFilter {
        role: q.role,
        region_id: q.region_id,
        within_regions: None,
    };
    Ok(Json(
        app.store
            .accounts()
            .list_staff(&filter)
            .await?
            .iter()
            .map(StaffView::of)
            .collect(),
    ))
}

/// One staff account (admin).
#[utoipa::path(get, path = "/admin/staff/{id}", tag = "staff", params(("id" = i64, Path)), responses((status = 200, body = StaffView)), security(("bearer" = [])))]
pub async fn get(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<Json<StaffView>> {
    actor.require(Permission::ManageStaff)?;
    Ok(Json(StaffView::of(&staff_record(&app, id).await?)))
}

/// Change a staff account's name, roles, regions or plate (admin).
#[utoipa::path(patch, path = "/admin/staff/{id}", tag = "staff", params(("id" = i64, Path)), request_body = StaffPatch,
    responses((status = 200, body = StaffView), (status = 422, description = "`invalid_roles`, `unknown_region`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn update(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(patch): ApiJson<StaffPatch>,
) -> ApiResult<Json<StaffView>> {
    actor.require(Permission::ManageStaff)?;
    let before = staff_record(&app, id).await?;
    let changes = StaffChanges {
        name: patch
            .name
            .as_deref()
            .map(|n| parse_name(n, "name", 50))
            .transpose()?,
        roles: patch.roles.as_deref().map(parse_roles).transpose()?,
        region_ids: match &patch.region_ids {
            Some(ids) => Some(parse_regions(&app, ids).await?),
            None => None,
        },
        vehicle_plate: patch
            .vehicle_plate
            .as_deref()
            .map(parse_plate)
            .transpose()?,
    };
    // An admin cannot take the admin role from himself: the shop would lose its last admin
    // by a slip of the finger: his new roles must still let him manage staff.
    if id == actor.user_id
        && changes
            .roles
            .as_ref()
            .is_some_and(|roles| !grants(roles, Permission::ManageStaff))
    {
        return Err(ApiError::invalid_field(
            "invalid_roles",
            "roles",
            "不能移除自己的管理员角色 (roles: cannot remove your own admin role)",
        ));
    }
    let now = app.clock.now_ms();
    if !app.store.accounts().update_staff(id, &changes, now).await? {
        return Err(ApiError::not_found());
    }
    let after = staff_record(&app, id).await?;
    let detail = serde_json::json!({
        "before": { "name": before.name, "roles": before.roles, "region_ids": before.region_ids, "vehicle_plate": before.vehicle_plate },
        "after": { "name": after.name, "roles": after.roles, "region_ids": after.region_ids, "vehicle_plate": after.vehicle_plate },
    });
    app.store
        .accounts()
        .log_operation(
            Operation {
                actor_id: Some(actor.user_id),
                action: "staff.update",
                target_kind: "user",
                target_id: Some(id.to_string()),
                detail,
            },
            &client,
            now,
        )
        .await?;
    Ok(Json(StaffView::of(&after)))
}

async fn set_disabled(
    app: &Shop,
    actor: &Actor,
    client: &ClientInfo,
    id: i64,
    disabled: bool,
) -> ApiResult<Json<StaffView>> {
    actor.require(Permission::ManageStaff)?;
    staff_record(app, id).await?;
    if disabled && id == actor.user_id {
        return Err(ApiError::bad_request(
            "cannot_disable_self",
            "不能停用自己的账号 (you cannot disable your own account)",
        ));
    }
    let now = app.clock.now_ms();
    app.store.accounts().set_disabled(id, disabled, now).await?;
    let action = if disabled {
        "staff.disable"
    } else {
        "staff.enable"
    };
    app.store
        .accounts()
        .log_operation(
            Operation {
                actor_id: Some(actor.user_id),
                action,
                target_kind: "user",
                target_id: Some(id.to_string()),
                detail: serde_json::json!({}),
            },
            client,
            now,
        )
        .await?;
    Ok(Json(StaffView::of(&staff_record(app, id).await?)))
}

/// Disable a staff account: it can no longer sign in and its sessions end (admin).
#[utoipa::path(post, path = "/admin/staff/{id}/disable", tag = "staff", params(("id" = i64, Path)), responses((status = 200, body = StaffView), (status = 400, description = "`cannot_disable_self`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn disable(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
) -> ApiResult<Json<StaffView>> {
    set_disabled(&app, &actor, &client, id, true).await
}

/// Enable a disabled staff account again (admin).
#[utoipa::path(post, path = "/admin/staff/{id}/enable", tag = "staff", params(("id" = i64, Path)), responses((status = 200, body = StaffView), (status = 400, description = "`cannot_disable_self`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn enable(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
) -> ApiResult<Json<StaffView>> {
    set_disabled(&app, &actor, &client, id, false).await
}

/// Set a new password for a staff account; its sessions end (admin).
#[utoipa::path(post, path = "/admin/staff/{id}/password", tag = "staff", params(("id" = i64, Path)), request_body = PasswordReset,
    responses((status = 200, body = StaffView), (status = 422, description = "`weak_password`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn reset_password(
    State(app): State<Shop>,
    State(hasher): State<Hasher>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<PasswordReset>,
) -> ApiResult<Json<StaffView>> {
    actor.require(Permission::ManageStaff)?;
    let user = staff_record(&app, id).await?;
    let password = Password::parse(&input.new_password, "new_password")?;
    let hash = hasher.hash(&password).await.map_err(ApiError::internal)?;
    let now = app.clock.now_ms();
    app.store
        .accounts()
        .set_password_hash(id, &hash, now)
        .await?;
    app.store
        .accounts()
        .log_operation(
            Operation {
                actor_id: Some(actor.user_id),
                action: "staff.reset_password",
                target_kind: "user",
                target_id: Some(id.to_string()),
                detail: serde_json::json!({}),
            },
            &client,
            now,
        )
        .await?;
    Ok(Json(StaffView::of(&user)))
}

/// The staff the caller may see: everyone for admin and customer service, the staff of his
/// own regions for a manager (to pick a driver, to see his promoters).
#[utoipa::path(get, path = "/team", tag = "staff", params(StaffQuery), responses((status = 200, body = [StaffView])), security(("bearer" = [])))]
pub async fn team(
    State(app): State<Shop>,
    actor: Actor,
    Query(q): Query<StaffQuery>,
) -> ApiResult<Json<Vec<StaffView>>> {
    actor.require(Permission::ReadTeam)?;
    let within_regions = match actor.team_scope() {
        crate::accounts::permissions::TeamScope::All => None,
        crate::accounts::permissions::TeamScope::Regions(regions) => Some(regions),
    };
    let filter = StaffFilter {
        role: q.role,
        region_id: q.region_id,
        within_regions,
    };
    Ok(Json(
        app.store
            .accounts()
            .list_staff(&filter)
            .await?
            .iter()
            .map(StaffView::of)
            .collect(),
    ))
}

/// One staff record in the caller's scope; 404 outside it.
#[utoipa::path(get, path = "/team/{id}", tag = "staff", params(("id" = i64, Path)), responses((status = 200, body = StaffView)), security(("bearer" = [])))]
pub async fn team_member(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<Json<StaffView>> {
    actor.require(Permission::ReadTeam)?;
    let user = staff_record(&app, id).await?;
    if !actor.team_scope().contains(&user) {
        return Err(ApiError::not_found());
    }
    Ok(Json(StaffView::of(&user)))
}
