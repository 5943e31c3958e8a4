//! The message outbox (K2, first half): every outgoing message — verification codes now,
//! notifications later — is written here with its delivery state before anything is sent, and
//! staff can list them. With no provider configured for a channel (the demo) a message stays
//! `no_provider`, and this list is where a new user reads his sign-up code.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use utoipa::{IntoParams, ToSchema};

use crate::accounts::permissions::{Actor, Permission};
use crate::app::AppState;
use crate::clock::rfc3339;
use crate::error::ApiResult;
use crate::store::batch::{Batch, RunBatch, args};
use crate::store::{Store, StoreError, StoreResult, on_pool};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Email,
    Wechat,
    Inbox,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Wechat => "wechat",
            Channel::Inbox => "inbox",
        }
    }
}

/// Delivery state of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Waiting for its channel's provider.
    Pending,
    /// Handed to the provider.
    Sent,
    /// The provider refused it; retried with back-off.
    Failed,
    /// No provider is configured for the channel: kept, readable by staff, not sent.
    NoProvider,
}

impl MessageState {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Pending => "pending",
            MessageState::Sent => "sent",
            MessageState::Failed => "failed",
            MessageState::NoProvider => "no_provider",
        }
    }
}

/// A message to store and send.
pub struct OutgoingMessage {
    pub channel: Channel,
    pub recipient: String,
    pub user_id: Option<i64>,
    /// Template id (SMS and WeChat providers send only pre-approved templates).
    pub template: String,
    pub params: serde_json::Value,
    /// The rendered text, as the recipient will read it.
    pub body: String,
}

/// Adds the statement storing `message` (returning its id) to `batch`, to commit with what it
/// reports. The inbox is ours, so an inbox message is delivered as it is stored; no other
/// channel has a provider yet (providers arrive with the notification rules), so their state
/// says so rather than pretending they were sent.
pub(crate) fn push_message(batch: &mut Batch, message: &OutgoingMessage, now_ms: i64) {
    let (state, sent_at) = match message.channel {
        Channel::Inbox => (MessageState::Sent, Some(now_ms)),
        _ => (MessageState::NoProvider, None),
    };
    batch.push(
        "INSERT INTO outbox_messages (channel, recipient, user_id, template, params, body, state, attempts, created_at, sent_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9) RETURNING id",
        args![
            message.channel.as_str(),
            message.recipient.as_str(),
            message.user_id,
            message.template.as_str(),
            message.params.to_string(),
            message.body.as_str(),
            state.as_str(),
            now_ms,
            sent_at,
        ],
    );
}

impl Store {
    /// Stores a message (see `push_message`).
    pub async fn enqueue_message(
        &self,
        message: &OutgoingMessage,
        now_ms: i64,
    ) -> StoreResult<i64> {
        let mut batch = Batch::default();
        push_message(&mut batch, message, now_ms);
        let ids: Vec<(i64,)> = on_pool!(self, |pool| {
            let mut connection = pool.acquire().await?;
            connection.fetch_batch(batch).await
        })?;
        ids.first()
            .map(|(id,)| *id)
            .ok_or_else(|| StoreError::Other("the message insert returned no id".to_owned()))
    }

    /// A user's inbox, newest first.
    pub async fn inbox(&self, user_id: i64, limit: i64) -> StoreResult<Vec<MessageView>> {
        let rows: Vec<MessageRow> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT id, channel, recipient, user_id, template, body, state, attempts, last_error, created_at, sent_at FROM outbox_messages WHERE channel = 'inbox' AND user_id = $1 ORDER BY id DESC LIMIT $2")
                .bind(user_id)
                .bind(limit)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(MessageView::from).collect())
    }

    pub async fn list_messages(&self, q: &MessageQuery) -> StoreResult<Vec<MessageView>> {
        let rows: Vec<MessageRow> = on_pool!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT id, channel, recipient, user_id, template, body, state, attempts, last_error, created_at, sent_at FROM outbox_messages WHERE 1 = 1",
            );
            if let Some(channel) = q.channel {
                query.push(" AND channel = ").push_bind(channel.as_str());
            }
            if let Some(recipient) = &q.recipient {
                query.push(" AND recipient = ").push_bind(recipient.clone());
            }
            if let Some(state) = q.state {
                query.push(" AND state = ").push_bind(state.as_str());
            }
            query
                .push(" ORDER BY id DESC LIMIT ")
                .push_bind(q.limit.unwrap_or(100).clamp(1, 500));
            query.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(MessageView::from).collect())
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct MessageQuery {
    pub channel: Option<Channel>,
    /// Exact phone number or e-mail address.
    pub recipient: Option<String>,
    pub state: Option<MessageState>,
    /// Newest first, default 100, at most 500.
    pub limit: Option<i64>,
}

#[derive(FromRow)]
struct MessageRow {
    id: i64,
    channel: String,
    recipient: String,
    user_id: Option<i64>,
    template: String,
    body: String,
    state: String,
    attempts: i64,
    last_error: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
}

/// One outgoing message as staff see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: i64,
    pub channel: String,
    pub recipient: String,
    pub user_id: Option<i64>,
    pub template: String,
    pub body: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

impl From<MessageRow> for MessageView {
    fn from(r: MessageRow) -> Self {
        MessageView {
            id: r.id,
            channel: r.channel,
            recipient: r.recipient,
            user_id: r.user_id,
            template: r.template,
            body: r.body,
            state: r.state,
            attempts: r.attempts,
            last_error: r.last_error,
            created_at: rfc3339(r.created_at),
            sent_at: r.sent_at.map(rfc3339),
        }
    }
}

/// Outgoing messages with their delivery state, newest first (admin, customer service).
#[utoipa::path(get, path = "/admin/messages", tag = "messages", params(MessageQuery),
    responses((status = 200, body = [MessageView])), security(("bearer" = [])))]
pub async fn list(
    State(app): State<AppState>,
    actor: Actor,
    Query(q): Query<MessageQuery>,
) -> ApiResult<Json<Vec<MessageView>>> {
    actor.require(Permission::ReadMessages)?;
    Ok(Json(app.store.list_messages(&q).await?))
}

/// My inbox: what the shop told me, newest first (anyone signed in).
#[utoipa::path(get, path = "/me/inbox", tag = "messages", responses((status = 200, body = [MessageView])), security(("bearer" = [])))]
pub async fn inbox(State(app): State<AppState>, actor: Actor) -> ApiResult<Json<Vec<MessageView>>> {
    Ok(Json(app.store.inbox(actor.user_id, 100).await?))
}
