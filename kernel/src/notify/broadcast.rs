//! Staff broadcasts (K3): an announcement, a campaign or a points notice to the approved
//! members of some levels, regions and tags. The audience is fixed when staff send it; the
//! broadcast is an outbox event like any other, so `notifications.rhai` decides the channels
//! and words per member (the shipped rules: the inbox, plus SMS where staff ask for it).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::permissions::{Actor, Permission};
use crate::clock::rfc3339;
use crate::edge::json::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::shop::Shop;
use crate::store::{StoreError, StoreResult, in_tx, on_pool, push_id_list};

/// Who hears a broadcast: approved members in any of the `levels`, and any of the `regions`,
/// and holding any of the `tags`; an empty list does not narrow.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    #[serde(default)]
    pub levels: Vec<i64>,
    #[serde(default)]
    pub regions: Vec<i64>,
    #[serde(default)]
    pub tags: Vec<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBroadcast {
    /// Shown as the inbox message's title, at most 40 characters.
    pub title: String,
    /// At most 500 characters.
    pub text: String,
    pub audience: Audience,
    /// Channels beyond the inbox the rules are asked to use (`sms`, `wechat`, `email`).
    #[serde(default)]
    pub channels: Vec<super::Channel>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BroadcastView {
    pub id: i64,
    pub title: String,
    pub text: String,
    pub audience: Audience,
    pub channels: Vec<super::Channel>,
    /// How many members it went to.
    pub recipients: i64,
    pub created_by: Option<i64>,
    pub created_at: String,
}

/// Broadcast a message to members by level, region and tag (admin, customer service).
#[utoipa::path(post, path = "/admin/broadcasts", tag = "messages", request_body = NewBroadcast,
    responses((status = 201, body = BroadcastView), (status = 422, description = "`empty_audience`, `invalid_channel`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create(
    State(app): State<Shop>,
    actor: Actor,
    ApiJson(input): ApiJson<NewBroadcast>,
) -> ApiResult<(axum::http::StatusCode, Json<BroadcastView>)> {
    actor.require(Permission::SendMessages)?;
    let title = crate::accounts::parse_name(&input.title, "title", 40)?;
    let text = crate::accounts::parse_name(&input.text, "text", 500)?;
    if input.channels.contains(&super::Channel::Inbox) {
        return Err(ApiError::invalid_field(
            "invalid_channel",
            "channels",
            "channels: the inbox is always used; list only sms, wechat or email",
        ));
    }
    let recipients = app.store.messages().audience(&input.audience).await?;
    if recipients.is_empty() {
        return Err(ApiError::invalid_field(
            "empty_audience",
            "audience",
            "audience: no approved member matches these levels, regions and tags",
        ));
    }
    let now = app.clock.now_ms();
    let id = app
        .store
        .messages()
        .insert_broadcast(
            &title,
            &text,
            &input.audience,
            &input.channels,
            &recipients,
            actor.user_id,
            now,
        )
        .await?;
    let view = BroadcastView {
        id,
        title,
        text,
        audience: input.audience,
        channels: input.channels,
        recipients: i64::try_from(recipients.len()).unwrap_or(i64::MAX),
        created_by: Some(actor.user_id),
        created_at: rfc3339(now),
    };
    Ok((axum::http::StatusCode::CREATED, Json(view)))
}

#[derive(sqlx::FromRow)]
struct BroadcastRow {
    id: i64,
    title: String,
    body: String,
    audience: String,
    channels: String,
    recipients: i64,
    created_by: Option<i64>,
    created_at: i64,
}

/// Past broadcasts, newest first (admin, customer service).
#[utoipa::path(get, path = "/admin/broadcasts", tag = "messages",
    responses((status = 200, body = [BroadcastView])), security(("bearer" = [])))]
pub async fn list(State(app): State<Shop>, actor: Actor) -> ApiResult<Json<Vec<BroadcastView>>> {
    actor.require(Permission::SendMessages)?;
    let rows: Vec<BroadcastRow> = on_pool!(app.store, |pool| {
        sqlx::query_as("SELECT id, title, body, audience, channels, recipients, created_by, created_at FROM broadcasts ORDER BY id DESC LIMIT 100")
            .fetch_all(pool)
            .await
    })
    .map_err(StoreError::from)?;
    Ok(Json(
        rows.into_iter()
            .map(|r| BroadcastView {
                id: r.id,
                title: r.title,
                text: r.body,
                audience: serde_json::from_str(&r.audience).unwrap_or_default(),
                channels: serde_json::from_str(&r.channels).unwrap_or_default(),
                recipients: r.recipients,
                created_by: r.created_by,
                created_at: rfc3339(r.created_at),
            })
            .collect(),
    ))
}

/// The outbox event of a broadcast (K3).
pub const BROADCAST: &str = "broadcast";

/// What a `broadcast` event carries; each field is classified for plugins in
/// `plugins/data.rs`.
pub fn broadcast_payload(
    id: i64,
    title: &str,
    text: &str,
    channels: &[&str],
    recipients: &[i64],
) -> serde_json::Value {
    serde_json::json!({
        "broadcast_id": id,
        "title": title,
        "text": text,
        "channels": channels,
        "recipients": recipients,
    })
}

impl super::MessageStore<'_> {
    /// The approved, enabled members an audience names, by id.
    pub async fn audience(self, audience: &Audience) -> StoreResult<Vec<i64>> {
        Ok(on_pool!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT u.id FROM users u JOIN members m ON m.user_id = u.id
                 WHERE u.member_state = 'approved' AND u.disabled = FALSE",
            );
            if !audience.levels.is_empty() {
                query.push(" AND m.level_id IN ");
                push_id_list(&mut query, audience.levels.iter().copied());
            }
            if !audience.regions.is_empty() {
                query.push(" AND m.region_id IN ");
                push_id_list(&mut query, audience.regions.iter().copied());
            }
            if !audience.tags.is_empty() {
                query.push(" AND EXISTS (SELECT 1 FROM member_tags t WHERE t.member_id = u.id AND t.tag_id IN ");
                push_id_list(&mut query, audience.tags.iter().copied());
                query.push(")");
            }
            query.push(" ORDER BY u.id");
            query.build_query_scalar().fetch_all(pool).await
        })?)
    }

    /// Stores a broadcast and its outbox event together.
    #[expect(clippy::too_many_arguments, reason = "one row's columns")]
    pub async fn insert_broadcast(
        self,
        title: &str,
        text: &str,
        audience: &Audience,
        channels: &[super::Channel],
        recipients: &[i64],
        by: i64,
        now_ms: i64,
    ) -> StoreResult<i64> {
        let audience_json = serde_json::to_string(audience).unwrap_or_default();
        let channel_names: Vec<&str> = channels.iter().map(|c| c.as_str()).collect();
        let channels_json = serde_json::to_string(&channel_names).unwrap_or_default();
        in_tx!(self, |tx| {
            async {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO broadcasts (title, body, audience, channels, recipients, created_by, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(title)
                .bind(text)
                .bind(&audience_json)
                .bind(&channels_json)
                .bind(i64::try_from(recipients.len()).unwrap_or(i64::MAX))
                .bind(by)
                .bind(now_ms)
                .fetch_one(&mut *tx)
                .await?;
                let payload = broadcast_payload(id, title, text, &channel_names, recipients);
                sqlx::query("INSERT INTO events (kind, order_id, payload, created_at) VALUES ($1, NULL, $2, $3)")
                    .bind(BROADCAST)
                    .bind(payload.to_string())
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                Ok::<_, StoreError>(id)
            }
            .await
        })
    }
}
