//! Reviewing members (B1): staff list and read members in their scope, and admins or customer
//! service approve (level, region and manager in one step) or reject with a reason. The member
//! is told in his inbox; on approval, the `member.approved` event's rules tell him (K1: SMS).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::profile::{PendingChange, upload_url};
use super::records::{ChangeDecision, MemberFilter, MemberRecord, MemberScope};
use crate::accounts::MemberState;
use crate::accounts::audit::Operation;
use crate::accounts::permissions::{Actor, Permission};
use crate::accounts::sessions::ClientInfo;
use crate::channels::Channel;
use crate::clock::rfc3339;
use crate::edge::extract::{Path, Query};
use crate::edge::json::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::notify::OutgoingMessage;
use crate::shop::Shop;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberView {
    pub id: i64,
    pub phone: String,
    pub name: String,
    pub company_name: Option<String>,
    pub member_state: Option<MemberState>,
    pub level_id: Option<i64>,
    pub region_id: Option<i64>,
    pub manager_id: Option<i64>,
    pub shop_name: Option<String>,
    pub wechat_id: Option<String>,
    pub shop_photo_url: Option<String>,
    pub licence_url: Option<String>,
    pub reject_reason: Option<String>,
    pub promoter_id: Option<i64>,
    /// `none` or `monthly` (统一结算).
    pub credit_terms: String,
    /// Most a monthly-settlement member may owe, in fen.
    pub credit_limit_fen: i64,
    /// An approved member's change of shop name or photos, waiting for review.
    pub pending_change: Option<PendingChange>,
    pub created_at: String,
}

impl MemberView {
    pub fn of(r: MemberRecord) -> MemberView {
        MemberView {
            pending_change: PendingChange::of(&r),
            member_state: r.state(),
            id: r.id,
            phone: r.phone,
            name: r.name,
            company_name: r.company_name,
            level_id: r.level_id,
            region_id: r.region_id,
            manager_id: r.manager_id,
            shop_name: r.shop_name,
            wechat_id: r.wechat_id,
            shop_photo_url: r.shop_photo.as_deref().map(upload_url),
            licence_url: r.licence_photo.as_deref().map(upload_url),
            reject_reason: r.reject_reason,
            promoter_id: r.promoter_id,
            credit_terms: r.credit_terms.unwrap_or_else(|| "none".to_owned()),
            credit_limit_fen: r.credit_limit_fen.unwrap_or(0),
            created_at: rfc3339(r.created_at),
        }
    }
}

/// Whether `actor` may approve or reject members and set their level, credit and tags: every
/// member (`ReviewMembers`) or those in his scope (`ReviewOwnMembers`, which `scoped_member`
/// holds him to).
pub fn may_review(actor: &Actor) -> bool {
    actor.has(Permission::ReviewMembers) || actor.has(Permission::ReviewOwnMembers)
}

/// `may_review`, or 403.
pub fn require_review(actor: &Actor) -> ApiResult<()> {
    if may_review(actor) {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

/// Admins and customer service see every member; a manager the members of his regions and
/// those bound to him; a promoter his own customers.
pub fn scope_of(actor: &Actor) -> MemberScope {
    if actor.has(Permission::ReviewMembers) {
        MemberScope::All
    } else if actor.has(Permission::KeepCustomers) {
        MemberScope::Manager {
            regions: actor.region_ids.iter().copied().collect(),
            manager_id: actor.user_id,
        }
    } else {
        MemberScope::Promoter {
            promoter_id: actor.user_id,
        }
    }
}

fn in_scope(actor: &Actor, member: &MemberRecord) -> bool {
    scope_of(actor).contains(member)
}

/// Whether `actor` may see member `member_id`'s record and photos.
pub async fn can_review(app: &Shop, actor: &Actor, member_id: i64) -> ApiResult<bool> {
    if !actor.has(Permission::ReadMembers) {
        return Ok(false);
    }
    Ok(app
        .store
        .members()
        .member(member_id)
        .await?
        .is_some_and(|m| in_scope(actor, &m)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct MemberQuery {
    pub state: Option<MemberState>,
    pub region_id: Option<i64>,
    pub level_id: Option<i64>,
    pub tag_id: Option<i64>,
    /// Only members whose change of shop name or photos waits for review (`true`), or none.
    pub pending_change: Option<bool>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Members in the caller's scope, newest first, by state, region, level or tag (admin, customer
/// service, managers, promoters).
#[utoipa::path(get, path = "/admin/members", tag = "members", params(MemberQuery), responses((status = 200, body = [MemberView])), security(("bearer" = [])))]
pub async fn list(
    State(app): State<Shop>,
    actor: Actor,
    Query(q): Query<MemberQuery>,
) -> ApiResult<crate::store::Page<MemberView>> {
    actor.require(Permission::ReadMembers)?;
    let filter = MemberFilter {
        state: q.state,
        region_id: q.region_id,
        level_id: q.level_id,
        tag_id: q.tag_id,
        pending_change: q.pending_change,
        scope: scope_of(&actor),
        limit: q.limit.unwrap_or(50).clamp(1, 200),
        offset: q.offset.unwrap_or(0).max(0),
    };
    Ok(app
        .store
        .members()
        .list_members(&filter)
        .await?
        .map(MemberView::of))
}

pub async fn scoped_member(app: &Shop, actor: &Actor, id: i64) -> ApiResult<MemberRecord> {
    actor.require(Permission::ReadMembers)?;
    let member = app
        .store
        .members()
        .member(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if !in_scope(actor, &member) {
        return Err(ApiError::not_found());
    }
    Ok(member)
}

/// One member with his profile photos (404 outside the caller's scope).
#[utoipa::path(get, path = "/admin/members/{id}", tag = "members", params(("id" = i64, Path)), responses((status = 200, body = MemberView)), security(("bearer" = [])))]
pub async fn get(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<Json<MemberView>> {
    Ok(Json(MemberView::of(scoped_member(&app, &actor, id).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Default: the default level.
    pub level_id: Option<i64>,
    pub region_id: i64,
    /// A manager serving that region; default: none yet (any manager of the region confirms).
    pub manager_id: Option<i64>,
}

fn not_waiting() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "invalid_state",
        "该会员不在待审核状态 (the member is not waiting for review)",
    )
}

/// Approve a member whose profile is complete (admin, customer service).
#[utoipa::path(post, path = "/admin/members/{id}/approve", tag = "members", params(("id" = i64, Path)), request_body = Approval,
    responses((status = 200, body = MemberView), (status = 409, description = "`invalid_state`", body = crate::error::ErrorBody), (status = 422, description = "`invalid_manager`, `unknown_level`, `unknown_region`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn approve(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<Approval>,
) -> ApiResult<Json<MemberView>> {
    require_review(&actor)?;
    let member = scoped_member(&app, &actor, id).await?;
    let levels = app.store.members().list_levels().await?;
    let level_id = match input.level_id {
        Some(level) if levels.iter().any(|l| l.id == level) => level,
        Some(_) => {
            return Err(ApiError::invalid_field(
                "unknown_level",
                "level_id",
                "会员等级不存在 (level_id: no such level)",
            ));
        }
        None => levels
            .iter()
            .find(|l| l.is_default)
            .map(|l| l.id)
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "unknown_level",
                    "level_id",
                    "请选择会员等级 (no default level: choose one)",
                )
            })?,
    };
    crate::regions::require_known(&app.store, [input.region_id], "region_id").await?;
    if let Some(manager) = input.manager_id {
        let serves = app
            .store
            .accounts()
            .user_by_id(manager)
            .await?
            .is_some_and(|u| {
                u.has(Permission::KeepCustomers)
                    && u.region_ids.contains(&input.region_id)
                    && !u.disabled
            });
        if !serves {
            return Err(ApiError::invalid_field(
                "invalid_manager",
                "manager_id",
                "须为该区域的客户经理 (manager_id: a manager of that region)",
            ));
        }
    }
    if member.state() != Some(MemberState::ProfileComplete) {
        return Err(not_waiting());
    }
    let now = app.clock.now_ms();
    if !app
        .store
        .members()
        .approve_member(
            id,
            level_id,
            input.region_id,
            input.manager_id,
            actor.user_id,
            now,
        )
        .await?
    {
        return Err(not_waiting());
    }
    app.store.accounts().log_operation(Operation { actor_id: Some(actor.user_id), action: "member.approve", target_kind: "user", target_id: Some(id.to_string()), detail: serde_json::json!({ "level_id": level_id, "region_id": input.region_id, "manager_id": input.manager_id }) }, &client, now).await?;
    get(State(app), actor, Path(id)).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// Shown to the member.
    pub reason: String,
}

/// Reject a member whose profile is complete, with a reason he reads in his inbox (admin,
/// customer service).
#[utoipa::path(post, path = "/admin/members/{id}/reject", tag = "members", params(("id" = i64, Path)), request_body = Rejection,
    responses((status = 200, body = MemberView), (status = 409, description = "`invalid_state`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn reject(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<Rejection>,
) -> ApiResult<Json<MemberView>> {
    require_review(&actor)?;
    let member = scoped_member(&app, &actor, id).await?;
    let reason = crate::accounts::parse_name(&input.reason, "reason", 200)?;
    let now = app.clock.now_ms();
    if !app
        .store
        .members()
        .reject_member(id, &reason, actor.user_id, now)
        .await?
    {
        return Err(not_waiting());
    }
    let decision = Decision {
        action: "member.reject",
        template: "member.rejected",
        notice: format!("您的资料未通过审核：{reason}。请修改后重新提交。"),
        detail: serde_json::json!({ "reason": reason }),
    };
    tell_and_record(&app, &actor, &client, &member, decision, now).await?;
    get(State(app), actor, Path(id)).await
}

fn no_pending_change() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "no_pending_change",
        "该会员没有待审核的资料变更 (no change waiting for review)",
    )
}

/// The level a member moves to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LevelChoice {
    pub level_id: i64,
}

/// Move a member to another level (admin, customer service; B3): he sees and pays that
/// level's prices from his next request.
#[utoipa::path(put, path = "/admin/members/{id}/level", tag = "members", params(("id" = i64, Path)), request_body = LevelChoice,
    responses((status = 200, body = MemberView), (status = 422, description = "`unknown_level`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn set_level(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<LevelChoice>,
) -> ApiResult<Json<MemberView>> {
    require_review(&actor)?;
    let member = scoped_member(&app, &actor, id).await?;
    let levels = app.store.members().list_levels().await?;
    if !levels.iter().any(|level| level.id == input.level_id) {
        return Err(ApiError::invalid_field(
            "unknown_level",
            "level_id",
            "level_id: 没有这个会员等级 (no such level)",
        ));
    }
    if !app.store.members().set_level(id, input.level_id).await? {
        return Err(ApiError::not_found());
    }
    app.store
        .accounts()
        .log_operation(
            Operation {
                actor_id: Some(actor.user_id),
                action: "member.level",
                target_kind: "user",
                target_id: Some(id.to_string()),
                detail: serde_json::json!({ "from": member.level_id, "to": input.level_id }),
            },
            &client,
            app.clock.now_ms(),
        )
        .await?;
    get(State(app), actor, Path(id)).await
}

/// Approve an approved member's change of shop name or photos (admin, customer service): the
/// change replaces the approved values, and he is told in his inbox.
#[utoipa::path(post, path = "/admin/members/{id}/profile-change/approve", tag = "members", params(("id" = i64, Path)),
    responses((status = 200, body = MemberView), (status = 409, description = "`no_pending_change`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn approve_change(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
) -> ApiResult<Json<MemberView>> {
    decide_change(&app, &actor, &client, id, ChangeDecision::Approve).await?;
    get(State(app), actor, Path(id)).await
}

/// Turn down an approved member's change of shop name or photos with a reason he reads
/// (admin, customer service); the approved values stay.
#[utoipa::path(post, path = "/admin/members/{id}/profile-change/reject", tag = "members", params(("id" = i64, Path)), request_body = Rejection,
    responses((status = 200, body = MemberView), (status = 409, description = "`no_pending_change`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn reject_change(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<Rejection>,
) -> ApiResult<Json<MemberView>> {
    let reason = crate::accounts::parse_name(&input.reason, "reason", 200)?;
    decide_change(&app, &actor, &client, id, ChangeDecision::Reject(&reason)).await?;
    get(State(app), actor, Path(id)).await
}

async fn decide_change(
    app: &Shop,
    actor: &Actor,
    client: &ClientInfo,
    id: i64,
    decision: ChangeDecision<'_>,
) -> ApiResult<()> {
    require_review(actor)?;
    let member = scoped_member(app, actor, id).await?;
    let now = app.clock.now_ms();
    let unused = app
        .store
        .members()
        .decide_profile_change(id, decision, actor.user_id, now)
        .await?
        .ok_or_else(no_pending_change)?;
    for key in unused {
        let _ = std::fs::remove_file(crate::config::uploads_dir(&app.config.data_dir).join(key));
    }
    let decision = match decision {
        ChangeDecision::Approve => Decision {
            action: "member.change_approve",
            template: "member.change_approved",
            notice: "您提交的资料变更已通过审核。".to_owned(),
            detail: serde_json::json!({}),
        },
        ChangeDecision::Reject(reason) => Decision {
            action: "member.change_reject",
            template: "member.change_rejected",
            notice: format!("您提交的资料变更未通过审核：{reason}。原资料保持不变。"),
            detail: serde_json::json!({ "reason": reason }),
        },
    };
    tell_and_record(app, actor, client, &member, decision, now).await
}

/// A review decision as the member reads it and the operation log records it.
struct Decision {
    action: &'static str,
    template: &'static str,
    notice: String,
    detail: serde_json::Value,
}

/// The member reads the decision in his inbox; the operation log records who made it.
async fn tell_and_record(
    app: &Shop,
    actor: &Actor,
    client: &ClientInfo,
    member: &MemberRecord,
    decision: Decision,
    now: i64,
) -> ApiResult<()> {
    let message = OutgoingMessage {
        channel: Channel::Inbox,
        recipient: member.phone.clone(),
        user_id: Some(member.id),
        template: decision.template.to_owned(),
        params: decision.detail.clone(),
        body: decision.notice,
        event_id: None,
    };
    app.store.messages().enqueue_message(&message, now).await?;
    app.store
        .accounts()
        .log_operation(
            Operation {
                actor_id: Some(actor.user_id),
                action: decision.action,
                target_kind: "user",
                target_id: Some(member.id.to_string()),
                detail: decision.detail,
            },
            client,
            now,
        )
        .await?;
    Ok(())
}
