//! Who serves whom (B5, A3, B6, B4): invite codes and QR codes of managers and promoters,
//! binding members (at sign-up by code, or by staff), a leaving manager's handover, credit
//! terms, tags, and members added by a verifier. Every binding change is kept in history.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use utoipa::ToSchema;

use super::review::{MemberView, scoped_member};
use crate::accounts::audit::Operation;
use crate::accounts::permissions::{Actor, Permission};
use crate::accounts::sessions::ClientInfo;
use crate::accounts::users::NewUser;
use crate::accounts::{MemberState, Phone, Role, parse_name};
use crate::clock::rfc3339;
use crate::edge::extract::Path;
use crate::edge::json::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::money::parse_fen;
use crate::shop::Shop;
use crate::store::{Change, StoreError, StoreResult, in_tx, on_pool};

/// Invite codes avoid look-alike characters (0/O, 1/I) so they can be read out and typed.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

fn new_invite_code() -> String {
    use rand::seq::IndexedRandom;
    let mut rng = rand::rng();
    (0..8)
        .filter_map(|_| CODE_ALPHABET.choose(&mut rng).copied().map(char::from))
        .collect()
}

/// One change of who serves a member (or a promoter, or a region).
#[derive(Debug, Clone, Serialize, ToSchema, FromRow)]
pub struct BindingChange {
    pub id: i64,
    /// `member`, `promoter` or `region`.
    pub subject_kind: String,
    pub subject_id: i64,
    /// `manager` or `promoter`.
    pub role: String,
    pub from_user: Option<i64>,
    pub to_user: Option<i64>,
    pub reason: String,
    pub by_user: Option<i64>,
    #[serde(skip)]
    pub at: i64,
}

/// Who serves a member: the manager (and his region) and the promoter. Also who brought a
/// member in by invite code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inviter {
    pub manager_id: Option<i64>,
    pub promoter_id: Option<i64>,
    pub region_id: Option<i64>,
}

impl super::MemberStore<'_> {
    /// The caller's invite code, created on first use.
    pub async fn invite_code(self, user_id: i64) -> StoreResult<String> {
        for _ in 0..5 {
            let existing: Option<Option<String>> = on_pool!(self, |pool| sqlx::query_scalar(
                "SELECT invite_code FROM users WHERE id = $1"
            )
            .bind(user_id)
            .fetch_optional(pool)
            .await)?;
            if let Some(Some(code)) = existing {
                return Ok(code);
            }
            let code = new_invite_code();
            let set = on_pool!(self, |pool| {
                sqlx::query(
                    "UPDATE users SET invite_code = $2 WHERE id = $1 AND invite_code IS NULL",
                )
                .bind(user_id)
                .bind(&code)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
                .map_err(StoreError::classify)
            });
            match set {
                Ok(_) => continue,
                // Another user holds this code already: draw again.
                Err(StoreError::Conflict(_)) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(StoreError::Other(
            "could not draw a free invite code".to_owned(),
        ))
    }

    /// The manager or promoter an invite code belongs to, with whom new customers are bound.
    pub async fn inviter(self, code: &str) -> StoreResult<Option<Inviter>> {
        let owner: Option<i64> = on_pool!(self, |pool| sqlx::query_scalar(
            "SELECT id FROM users WHERE invite_code = $1 AND disabled = FALSE"
        )
        .bind(code.trim().to_uppercase())
        .fetch_optional(pool)
        .await)?;
        let Some(owner) = owner else { return Ok(None) };
        let Some(user) = self.accounts().user_by_id(owner).await? else {
            return Ok(None);
        };
        if user.has(Permission::KeepCustomers) {
            return Ok(Some(Inviter {
                manager_id: Some(owner),
                promoter_id: None,
                region_id: user.region_ids.iter().next().copied(),
            }));
        }
        if user.has(Permission::PromoteCustomers) {
            let manager: Option<i64> = on_pool!(self, |pool| sqlx::query_scalar(
                "SELECT manager_id FROM promoter_managers WHERE promoter_id = $1"
            )
            .bind(owner)
            .fetch_optional(pool)
            .await)?;
            return Ok(Some(Inviter {
                manager_id: manager,
                promoter_id: Some(owner),
                region_id: user.region_ids.iter().next().copied(),
            }));
        }
        Ok(None)
    }

    /// Binds a member to a manager and/or promoter, recording each change with its reason.
    pub async fn bind_member(
        self,
        member_id: i64,
        to: Inviter,
        reason: &str,
        by: Option<i64>,
        now_ms: i64,
    ) -> StoreResult<()> {
        let Inviter {
            manager_id,
            promoter_id,
            region_id,
        } = to;
        in_tx!(self, |tx| {
            let before: Option<(Option<i64>, Option<i64>)> =
                sqlx::query_as("SELECT manager_id, promoter_id FROM members WHERE user_id = $1")
                    .bind(member_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let (old_manager, old_promoter) = before.unwrap_or((None, None));
            sqlx::query(
                "INSERT INTO members (user_id, manager_id, promoter_id, region_id) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id) DO UPDATE SET manager_id = excluded.manager_id, promoter_id = excluded.promoter_id, region_id = COALESCE(excluded.region_id, members.region_id)",
            )
            .bind(member_id)
            .bind(manager_id)
            .bind(promoter_id)
            .bind(region_id)
            .execute(&mut *tx)
            .await?;
            for (role, from, to) in [
                ("manager", old_manager, manager_id),
                ("promoter", old_promoter, promoter_id),
            ] {
                if from != to {
                    sqlx::query("INSERT INTO binding_history (subject_kind, subject_id, role, from_user, to_user, reason, by_user, at) VALUES ('member', $1, $2, $3, $4, $5, $6, $7)")
                        .bind(member_id).bind(role).bind(from).bind(to).bind(reason).bind(by).bind(now_ms)
                        .execute(&mut *tx).await?;
                }
            }
            Ok::<_, StoreError>(())
        })
    }

    pub async fn bind_promoter(
        self,
        promoter_id: i64,
        manager_id: i64,
        reason: &str,
        by: i64,
        now_ms: i64,
    ) -> StoreResult<()> {
        in_tx!(self, |tx| {
            let old: Option<i64> = sqlx::query_scalar(
                "SELECT manager_id FROM promoter_managers WHERE promoter_id = $1",
            )
            .bind(promoter_id)
            .fetch_optional(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO promoter_managers (promoter_id, manager_id) VALUES ($1, $2) ON CONFLICT (promoter_id) DO UPDATE SET manager_id = excluded.manager_id")
                .bind(promoter_id).bind(manager_id).execute(&mut *tx).await?;
            if old != Some(manager_id) {
                sqlx::query("INSERT INTO binding_history (subject_kind, subject_id, role, from_user, to_user, reason, by_user, at) VALUES ('promoter', $1, 'manager', $2, $3, $4, $5, $6)")
                    .bind(promoter_id).bind(old).bind(manager_id).bind(reason).bind(by).bind(now_ms)
                    .execute(&mut *tx).await?;
            }
            Ok::<_, StoreError>(())
        })
    }

    /// A leaving manager's customers, regions and promoters all move to `successor` in one
    /// transaction (A3); history keeps one line per moved customer, region and promoter.
    pub async fn hand_over(
        self,
        leaving: i64,
        successor: i64,
        reason: &str,
        by: i64,
        now_ms: i64,
    ) -> StoreResult<HandoverCounts> {
        let outcome = in_tx!(self, |tx| {
            let members: Vec<i64> =
                sqlx::query_scalar("SELECT user_id FROM members WHERE manager_id = $1")
                    .bind(leaving)
                    .fetch_all(&mut *tx)
                    .await?;
            let regions: Vec<i64> =
                sqlx::query_scalar("SELECT region_id FROM user_regions WHERE user_id = $1")
                    .bind(leaving)
                    .fetch_all(&mut *tx)
                    .await?;
            let promoters: Vec<i64> = sqlx::query_scalar(
                "SELECT promoter_id FROM promoter_managers WHERE manager_id = $1",
            )
            .bind(leaving)
            .fetch_all(&mut *tx)
            .await?;
            let history = "INSERT INTO binding_history (subject_kind, subject_id, role, from_user, to_user, reason, by_user, at) VALUES ($1, $2, 'manager', $3, $4, $5, $6, $7)";
            for (kind, ids) in [
                ("member", &members),
                ("region", &regions),
                ("promoter", &promoters),
            ] {
                for id in ids.iter() {
                    sqlx::query(history)
                        .bind(kind)
                        .bind(*id)
                        .bind(leaving)
                        .bind(successor)
                        .bind(reason)
                        .bind(by)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            sqlx::query("UPDATE members SET manager_id = $2 WHERE manager_id = $1")
                .bind(leaving)
                .bind(successor)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE promoter_managers SET manager_id = $2 WHERE manager_id = $1")
                .bind(leaving)
                .bind(successor)
                .execute(&mut *tx)
                .await?;
            for region in &regions {
                sqlx::query("INSERT INTO user_regions (user_id, region_id) VALUES ($1, $2) ON CONFLICT (user_id, region_id) DO NOTHING").bind(successor).bind(*region).execute(&mut *tx).await?;
            }
            sqlx::query("DELETE FROM user_regions WHERE user_id = $1")
                .bind(leaving)
                .execute(&mut *tx)
                .await?;
            Ok::<_, StoreError>(HandoverCounts {
                customers: members.len(),
                regions: regions.len(),
                promoters: promoters.len(),
            })
        })?;
        self.changed(Change::Accounts).await;
        Ok(outcome)
    }

    pub async fn binding_history(
        self,
        kind: &str,
        subject_id: i64,
    ) -> StoreResult<Vec<BindingChange>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as("SELECT id, subject_kind, subject_id, role, from_user, to_user, reason, by_user, at FROM binding_history WHERE subject_kind = $1 AND subject_id = $2 ORDER BY id")
                .bind(kind)
                .bind(subject_id)
                .fetch_all(pool)
                .await
        })?)
    }

    pub async fn set_credit(
        self,
        member_id: i64,
        terms: CreditTerms,
        limit_fen: i64,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("INSERT INTO members (user_id, credit_terms, credit_limit_fen) VALUES ($1, $2, $3) ON CONFLICT (user_id) DO UPDATE SET credit_terms = excluded.credit_terms, credit_limit_fen = excluded.credit_limit_fen")
                .bind(member_id).bind(terms.as_str()).bind(limit_fen).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    pub async fn insert_tag(self, name: &str, now_ms: i64) -> StoreResult<i64> {
        on_pool!(self, |pool| {
            sqlx::query_scalar("INSERT INTO tags (name, created_at) VALUES ($1, $2) RETURNING id")
                .bind(name)
                .bind(now_ms)
                .fetch_one(pool)
                .await
                .map_err(StoreError::classify)
        })
    }

    pub async fn list_tags(self) -> StoreResult<Vec<Tag>> {
        Ok(on_pool!(self, |pool| sqlx::query_as(
            "SELECT id, name FROM tags ORDER BY name"
        )
        .fetch_all(pool)
        .await)?)
    }

    pub async fn member_tags(self, member_id: i64) -> StoreResult<Vec<i64>> {
        Ok(on_pool!(self, |pool| sqlx::query_scalar(
            "SELECT tag_id FROM member_tags WHERE member_id = $1 ORDER BY tag_id"
        )
        .bind(member_id)
        .fetch_all(pool)
        .await)?)
    }

    pub async fn set_member_tags(self, member_id: i64, tags: &BTreeSet<i64>) -> StoreResult<()> {
        in_tx!(self, |tx| {
            sqlx::query("DELETE FROM member_tags WHERE member_id = $1")
                .bind(member_id)
                .execute(&mut *tx)
                .await?;
            for tag in tags {
                sqlx::query("INSERT INTO member_tags (member_id, tag_id) VALUES ($1, $2)")
                    .bind(member_id)
                    .bind(*tag)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok::<_, StoreError>(())
        })
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
pub struct HandoverCounts {
    pub customers: usize,
    pub regions: usize,
    pub promoters: usize,
}

// ---- invite codes and QR codes ------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Invite {
    /// Typed at sign-up (`invite_code`) to bind the new customer to me.
    pub invite_code: String,
    /// The link the QR code carries.
    pub invite_url: String,
    /// An SVG image of the QR code.
    pub qr_url: String,
}

fn invite_url(code: &str) -> String {
    format!("/register?invite={code}")
}

/// My invite code and QR code (managers, promoters): customers who sign up with it are bound
/// to me, and it counts towards my performance.
#[utoipa::path(get, path = "/me/invite", tag = "members", responses((status = 200, body = Invite)), security(("bearer" = [])))]
pub async fn my_invite(State(app): State<Shop>, actor: Actor) -> ApiResult<Json<Invite>> {
    actor.require(Permission::Invite)?;
    let code = app.store.members().invite_code(actor.user_id).await?;
    Ok(Json(Invite {
        invite_url: invite_url(&code),
        qr_url: "/api/v1/me/invite/qr.svg".to_owned(),
        invite_code: code,
    }))
}

/// My invite QR code as an SVG image (managers, promoters).
#[utoipa::path(get, path = "/me/invite/qr.svg", tag = "members", responses((status = 200, content_type = "image/svg+xml", body = String)), security(("bearer" = [])))]
pub async fn my_invite_qr(State(app): State<Shop>, actor: Actor) -> ApiResult<Response> {
    actor.require(Permission::Invite)?;
    let code = app.store.members().invite_code(actor.user_id).await?;
    let qr = qrcode::QrCode::new(invite_url(&code).as_bytes()).map_err(ApiError::internal)?;
    let svg = qr
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(240, 240)
        .build();
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

// ---- binding, handover, history -----------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// The manager to serve him (`null`: none; then any manager of his region confirms).
    pub manager_id: Option<i64>,
    pub promoter_id: Option<i64>,
    pub reason: String,
}

/// The parts a bound user plays: the permission he must hold, and the role the refusal names.
const MANAGER: (Permission, Role) = (Permission::KeepCustomers, Role::Manager);
const PROMOTER: (Permission, Role) = (Permission::PromoteCustomers, Role::Promoter);

async fn require_role(
    app: &Shop,
    user_id: i64,
    (permission, role): (Permission, Role),
    field: &str,
) -> ApiResult<crate::accounts::users::User> {
    match app.store.accounts().user_by_id(user_id).await? {
        Some(user) if user.has(permission) && !user.disabled => Ok(user),
        _ => Err(ApiError::invalid_field(
            "invalid_binding",
            field,
            format!(
                "{field}: 须为启用中的{} (an enabled {})",
                role.entry_label(),
                role.as_str()
            ),
        )),
    }
}

/// Bind a member to a manager and/or promoter (admin, customer service); history keeps the change.
#[utoipa::path(post, path = "/admin/members/{id}/binding", tag = "members", params(("id" = i64, Path)), request_body = Binding,
    responses((status = 200, body = MemberView), (status = 422, description = "`invalid_binding`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn bind(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<Binding>,
) -> ApiResult<Json<MemberView>> {
    actor.require(Permission::ReviewMembers)?;
    scoped_member(&app, &actor, id).await?;
    let reason = parse_name(&input.reason, "reason", 200)?;
    if let Some(manager) = input.manager_id {
        require_role(&app, manager, MANAGER, "manager_id").await?;
    }
    if let Some(promoter) = input.promoter_id {
        require_role(&app, promoter, PROMOTER, "promoter_id").await?;
    }
    let now = app.clock.now_ms();
    let to = Inviter {
        manager_id: input.manager_id,
        promoter_id: input.promoter_id,
        region_id: None,
    };
    app.store
        .members()
        .bind_member(id, to, &reason, Some(actor.user_id), now)
        .await?;
    app.store.accounts().log_operation(Operation { actor_id: Some(actor.user_id), action: "member.bind", target_kind: "user", target_id: Some(id.to_string()), detail: serde_json::json!({ "manager_id": input.manager_id, "promoter_id": input.promoter_id, "reason": reason }) }, &client, now).await?;
    super::review::get(State(app), actor, Path(id)).await
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryLine {
    #[serde(flatten)]
    pub change: BindingChange,
    pub at: String,
}

/// Who served this member when (members in the caller's scope).
#[utoipa::path(get, path = "/admin/members/{id}/history", tag = "members", params(("id" = i64, Path)),
    responses((status = 200, body = [HistoryLine])), security(("bearer" = [])))]
pub async fn history(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<HistoryLine>>> {
    scoped_member(&app, &actor, id).await?;
    let lines = app.store.members().binding_history("member", id).await?;
    Ok(Json(
        lines
            .into_iter()
            .map(|change| HistoryLine {
                at: rfc3339(change.at),
                change,
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoterBinding {
    pub manager_id: i64,
    pub reason: String,
}

/// Bind a promoter to his manager (admin).
#[utoipa::path(post, path = "/admin/staff/{id}/manager", tag = "staff", params(("id" = i64, Path)), request_body = PromoterBinding,
    responses((status = 204), (status = 422, description = "`invalid_binding`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn bind_promoter(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<PromoterBinding>,
) -> ApiResult<StatusCode> {
    actor.require(Permission::ManageStaff)?;
    match app.store.accounts().user_by_id(id).await? {
        Some(user) if user.has(Permission::PromoteCustomers) => {}
        _ => return Err(ApiError::not_found()),
    }
    require_role(&app, input.manager_id, MANAGER, "manager_id").await?;
    let reason = parse_name(&input.reason, "reason", 200)?;
    let now = app.clock.now_ms();
    app.store
        .members()
        .bind_promoter(id, input.manager_id, &reason, actor.user_id, now)
        .await?;
    app.store
        .accounts()
        .log_operation(
            Operation {
                actor_id: Some(actor.user_id),
                action: "promoter.bind",
                target_kind: "user",
                target_id: Some(id.to_string()),
                detail: serde_json::json!({ "manager_id": input.manager_id }),
            },
            &client,
            now,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Handover {
    pub successor_id: i64,
    pub reason: String,
}

/// A manager leaves: his customers, regions and promoters move to a successor (admin; A3).
#[utoipa::path(post, path = "/admin/staff/{id}/handover", tag = "staff", params(("id" = i64, Path)), request_body = Handover,
    responses((status = 200, body = HandoverCounts), (status = 422, description = "`invalid_binding`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn hand_over(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<Handover>,
) -> ApiResult<Json<HandoverCounts>> {
    actor.require(Permission::ManageStaff)?;
    match app.store.accounts().user_by_id(id).await? {
        Some(user) if user.has(Permission::KeepCustomers) => {}
        _ => return Err(ApiError::not_found()),
    }
    if input.successor_id == id {
        return Err(ApiError::invalid_field(
            "invalid_binding",
            "successor_id",
            "接任者不能是本人 (successor_id: someone else)",
        ));
    }
    require_role(&app, input.successor_id, MANAGER, "successor_id").await?;
    let reason = parse_name(&input.reason, "reason", 200)?;
    let now = app.clock.now_ms();
    let counts = app
        .store
        .members()
        .hand_over(id, input.successor_id, &reason, actor.user_id, now)
        .await?;
    app.store.accounts().log_operation(Operation { actor_id: Some(actor.user_id), action: "manager.handover", target_kind: "user", target_id: Some(id.to_string()), detail: serde_json::json!({ "successor_id": input.successor_id, "customers": counts.customers, "regions": counts.regions, "promoters": counts.promoters }) }, &client, now).await?;
    Ok(Json(counts))
}

// ---- credit and tags ------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CreditTerms {
    /// Pays per order.
    None,
    /// 统一结算: orders accumulate a balance settled monthly, up to the limit.
    Monthly,
}

impl CreditTerms {
    pub fn as_str(self) -> &'static str {
        match self {
            CreditTerms::None => "none",
            CreditTerms::Monthly => "monthly",
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credit {
    pub terms: CreditTerms,
    /// Most the member may owe on credit-term orders, in fen.
    pub limit_fen: i64,
}

/// Set a member's payment terms and credit limit (admin, customer service; B6).
#[utoipa::path(put, path = "/admin/members/{id}/credit", tag = "members", params(("id" = i64, Path)), request_body = Credit,
    responses((status = 200, body = MemberView), (status = 422, description = "`invalid_money`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn set_credit(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<Credit>,
) -> ApiResult<Json<MemberView>> {
    crate::members::review::require_review(&actor)?;
    scoped_member(&app, &actor, id).await?;
    let limit = parse_fen(input.limit_fen, "limit_fen")?;
    app.store
        .members()
        .set_credit(id, input.terms, limit)
        .await?;
    let now = app.clock.now_ms();
    app.store
        .accounts()
        .log_operation(
            Operation {
                actor_id: Some(actor.user_id),
                action: "member.credit",
                target_kind: "user",
                target_id: Some(id.to_string()),
                detail: serde_json::json!({ "terms": input.terms.as_str(), "limit_fen": limit }),
            },
            &client,
            now,
        )
        .await?;
    super::review::get(State(app), actor, Path(id)).await
}

#[derive(Debug, Clone, Serialize, ToSchema, FromRow)]
pub struct Tag {
    pub id: i64,
    pub name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagInput {
    pub name: String,
}

/// Member tags (admin, customer service; B4).
#[utoipa::path(get, path = "/admin/tags", tag = "members", responses((status = 200, body = [Tag])), security(("bearer" = [])))]
pub async fn list_tags(State(app): State<Shop>, actor: Actor) -> ApiResult<Json<Vec<Tag>>> {
    crate::members::review::require_review(&actor)?;
    Ok(Json(app.store.members().list_tags().await?))
}

/// Create a member tag (admin, customer service).
#[utoipa::path(post, path = "/admin/tags", tag = "members", request_body = TagInput, responses((status = 201, body = Tag), (status = 409, description = "`tag_taken`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create_tag(
    State(app): State<Shop>,
    actor: Actor,
    ApiJson(input): ApiJson<TagInput>,
) -> ApiResult<(StatusCode, Json<Tag>)> {
    crate::members::review::require_review(&actor)?;
    let name = parse_name(&input.name, "name", 20)?;
    match app
        .store
        .members()
        .insert_tag(&name, app.clock.now_ms())
        .await
    {
        Ok(id) => Ok((StatusCode::CREATED, Json(Tag { id, name }))),
        Err(StoreError::Conflict(_)) => Err(ApiError::conflict(
            "tag_taken",
            "name",
            "标签已存在 (name: a tag with this name exists)",
        )),
        Err(err) => Err(err.into()),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagIds {
    pub tag_ids: Vec<i64>,
}

/// Set a member's tags (admin, customer service).
#[utoipa::path(put, path = "/admin/members/{id}/tags", tag = "members", params(("id" = i64, Path)), request_body = TagIds,
    responses((status = 200, body = [Tag]), (status = 422, description = "`unknown_tag`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn set_tags(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<TagIds>,
) -> ApiResult<Json<Vec<Tag>>> {
    crate::members::review::require_review(&actor)?;
    scoped_member(&app, &actor, id).await?;
    let all = app.store.members().list_tags().await?;
    let wanted: BTreeSet<i64> = input.tag_ids.iter().copied().collect();
    if let Some(unknown) = wanted.iter().find(|t| !all.iter().any(|a| a.id == **t)) {
        return Err(ApiError::invalid_field(
            "unknown_tag",
            "tag_ids",
            format!("标签不存在: {unknown} (tag_ids: no tag {unknown})"),
        ));
    }
    app.store.members().set_member_tags(id, &wanted).await?;
    Ok(Json(
        all.into_iter().filter(|t| wanted.contains(&t.id)).collect(),
    ))
}

// ---- verifiers add members ----------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreMember {
    pub phone: String,
    pub company_name: String,
    pub contact_name: String,
}

/// Add a member at my store (verifiers; B5). The member signs in with an SMS code; he lands in
/// my region, authorised, and completes his profile himself.
#[utoipa::path(post, path = "/verifier/members", tag = "members", request_body = StoreMember,
    responses((status = 201, body = MemberView), (status = 409, description = "`phone_taken`", body = crate::error::ErrorBody), (status = 422, description = "`invalid_phone`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn add_member(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    ApiJson(input): ApiJson<StoreMember>,
) -> ApiResult<(StatusCode, Json<MemberView>)> {
    actor.require(Permission::AddMembers)?;
    let phone = Phone::parse(&input.phone)?;
    let user = NewUser {
        phone: phone.as_str().to_owned(),
        email: None,
        name: parse_name(&input.contact_name, "contact_name", 30)?,
        company_name: Some(parse_name(&input.company_name, "company_name", 100)?),
        password_hash: None,
        member_state: Some(MemberState::Authorised),
        vehicle_plate: None,
        roles: [Role::Member].into(),
        region_ids: Default::default(),
    };
    let now = app.clock.now_ms();
    let id = match app.store.accounts().insert_user(&user, now).await {
        Ok(id) => id,
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(
                "phone_taken",
                "phone",
                "该手机号已注册 (phone: already registered)",
            ));
        }
        Err(err) => return Err(err.into()),
    };
    let region = actor.region_ids.iter().next().copied();
    app.store
        .members()
        .added_by(id, actor.user_id, region)
        .await?;
    app.store
        .accounts()
        .log_operation(
            Operation {
                actor_id: Some(actor.user_id),
                action: "member.add_at_store",
                target_kind: "user",
                target_id: Some(id.to_string()),
                detail: serde_json::json!({ "phone": phone.masked() }),
            },
            &client,
            now,
        )
        .await?;
    let record = app
        .store
        .members()
        .member(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok((StatusCode::CREATED, Json(MemberView::of(record))))
}

impl super::MemberStore<'_> {
    pub async fn added_by(
        self,
        member_id: i64,
        verifier: i64,
        region_id: Option<i64>,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("INSERT INTO members (user_id, added_by, region_id) VALUES ($1, $2, $3) ON CONFLICT (user_id) DO UPDATE SET added_by = excluded.added_by, region_id = excluded.region_id")
                .bind(member_id).bind(verifier).bind(region_id).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}
