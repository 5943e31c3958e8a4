//! The message outbox (K1–K3): every outgoing message (verification codes, what the
//! notification rules say of an event, broadcasts) is written here with its delivery state
//! before anything is sent, in the transaction of what it reports where there is one; the
//! sender (`notify::sender`) hands it to its channel's provider with retries, and staff list
//! them all. With no provider configured for a channel (the demo) a message ends
//! `no_provider`, and this list is where a new user reads his sign-up code. The inbox is ours:
//! an inbox message is delivered as it is stored, and its reader marks it read.

pub mod broadcast;
pub mod sender;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use utoipa::{IntoParams, ToSchema};

use crate::accounts::permissions::{Actor, Permission};
use crate::clock::rfc3339;
use crate::edge::extract::{Path, Query};
use crate::error::{ApiError, ApiResult};
use crate::shop::Shop;
use crate::store::batch::{Batch, RunBatch, args};
use crate::store::{Change, Page, Store, StoreError, StoreResult, on_pool};

/// Runs `round` every 200 ms, and at once again after a full round (`full` or more read: more
/// are waiting, so a broadcast's thousands go back to back, not one round per tick). A failed
/// round is logged as `failed` says and tried again on the next tick.
pub(crate) async fn in_rounds<F, R>(failed: &str, full: usize, mut round: F)
where
    F: FnMut() -> R,
    R: std::future::Future<Output = StoreResult<usize>>,
{
    let mut interval = tokio::time::interval(std::time::Duration::from_millis(200));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        match round().await {
            Ok(read) if read >= full => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "{failed}"),
        }
        interval.tick().await;
    }
}

use crate::channels::Channel;

/// Each user's count of unopened inbox messages (see `store::cache`), cleared by
/// `Change::Inbox`: a message stored for him (`enqueue_message`, the notification rules'
/// rounds, an order split's notice) or his marking messages read.
pub struct InboxRoom {
    unread: moka::sync::Cache<i64, i64>,
}

impl Default for InboxRoom {
    fn default() -> Self {
        InboxRoom {
            unread: moka::sync::Cache::new(100_000),
        }
    }
}

impl crate::store::Room for InboxRoom {
    fn apply(&self, change: &Change) {
        match change {
            Change::Inbox(Some(user_id)) => self.unread.invalidate(user_id),
            Change::Inbox(None) | Change::Everything => self.unread.invalidate_all(),
            _ => {}
        }
    }
}

crate::store::handle! {
    /// The messages' part of the store: the inbox, the outbox the sender works through, and broadcasts.
    pub MessageStore, messages
}

/// An event of the outbox as read back: by the notification rules (`rules`) and by the
/// plugins' `on-event` delivery.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredEvent {
    pub id: i64,
    pub kind: String,
    pub order_id: Option<i64>,
    pub payload: String,
    pub created_at: i64,
}

/// Delivery state of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Waiting for its channel's provider.
    Pending,
    /// Being handed to the provider (a sender holds it until `next_attempt_at`; a sender that
    /// died meanwhile leaves it to be sent again, with the same id as its `OutId`).
    Sending,
    /// Handed to the provider.
    Sent,
    /// The provider could not take it; retried with back-off at `next_attempt_at`.
    Failed,
    /// Given up (refused for good, or out of attempts): staff may retry it.
    Dead,
    /// Not sent: the recipient has no address on this channel (no WeChat bound, no e-mail)
    /// and the rules named no fallback. Recorded, never retried; the inbox copy still reached
    /// him.
    Skipped,
    /// No provider is configured for the channel: kept, readable by staff, not sent.
    NoProvider,
}

impl MessageState {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Pending => "pending",
            MessageState::Sending => "sending",
            MessageState::Sent => "sent",
            MessageState::Failed => "failed",
            MessageState::Dead => "dead",
            MessageState::Skipped => "skipped",
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
    /// The outbox event it reports, when the notification rules made it.
    pub event_id: Option<i64>,
}

/// Adds the statement storing `message` (returning its id) to `batch`, to commit with what it
/// reports. The inbox is ours, so an inbox message is delivered as it is stored; any other
/// waits for the sender. A message with nowhere to go (no e-mail address, no WeChat bound) is
/// stored `skipped` with the reason: staff see what was not sent, and nothing retries it.
pub(crate) fn push_message(batch: &mut Batch, message: &OutgoingMessage, now_ms: i64) {
    let (state, sent_at, error) = match message.channel {
        Channel::Inbox => (MessageState::Sent, Some(now_ms), None),
        channel if message.recipient.is_empty() => (
            MessageState::Skipped,
            None,
            Some(match channel {
                Channel::Wechat => "no WeChat openid is bound to the account (未绑定微信)",
                Channel::Email => "the account has no e-mail address (无邮箱)",
                _ => "no address on this channel",
            }),
        ),
        _ => (MessageState::Pending, None, None),
    };
    batch.push(
        "INSERT INTO outbox_messages (channel, recipient, user_id, template, params, body, state, attempts, created_at, sent_at, last_error, event_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $11) RETURNING id",
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
            error.map(str::to_owned),
            message.event_id,
        ],
    );
}

impl MessageStore<'_> {
    /// Stores a message (see `push_message`).
    pub async fn enqueue_message(self, message: &OutgoingMessage, now_ms: i64) -> StoreResult<i64> {
        let mut batch = Batch::default();
        push_message(&mut batch, message, now_ms);
        let ids: Vec<(i64,)> = on_pool!(self, |pool| {
            let mut connection = pool.acquire().await?;
            connection.fetch_batch(batch).await
        })?;
        if message.channel == Channel::Inbox {
            self.changed(Change::Inbox(message.user_id)).await;
        }
        ids.first()
            .map(|(id,)| *id)
            .ok_or_else(|| StoreError::Other("the message insert returned no id".to_owned()))
    }

    /// A user's inbox, newest first (`unread`: only what he has not opened).
    pub async fn inbox(self, user_id: i64, q: &InboxQuery) -> StoreResult<Vec<MessageView>> {
        let rows: Vec<MessageRow> = on_pool!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(format!(
                "SELECT {MESSAGE_COLUMNS} FROM outbox_messages WHERE channel = 'inbox' AND user_id = "
            ));
            query.push_bind(user_id);
            if q.unread.unwrap_or(false) {
                query.push(" AND read_at IS NULL");
            }
            if let Some(before) = q.before {
                query.push(" AND id < ").push_bind(before);
            }
            query
                .push(" ORDER BY id DESC LIMIT ")
                .push_bind(q.limit.unwrap_or(50).clamp(1, 200));
            query.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(MessageView::from).collect())
    }

    /// How many inbox messages `user_id` has not opened.
    /// How many of `user_id`'s inbox messages he has not opened: every page's badge asks, so
    /// it is kept in the inbox's room until his inbox changes.
    pub async fn unread_count(self, user_id: i64) -> StoreResult<i64> {
        let room = self.room::<InboxRoom>();
        if let Some(unread) = room.unread.get(&user_id) {
            return Ok(unread);
        }
        let read_at = self.generation().current();
        let unread = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM outbox_messages WHERE channel = 'inbox' AND user_id = $1 AND read_at IS NULL",
            )
            .bind(user_id)
            .fetch_one(pool)
            .await
        })?;
        self.generation()
            .keep(&room.unread, user_id, unread, read_at);
        Ok(unread)
    }

    /// Marks one of `user_id`'s inbox messages read (`None`: every one); how many changed. A
    /// message of someone else's changes nothing.
    pub async fn mark_read(self, user_id: i64, id: Option<i64>, now_ms: i64) -> StoreResult<u64> {
        let marked = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE outbox_messages SET read_at = $1 WHERE channel = 'inbox' AND user_id = $2 AND read_at IS NULL AND ($3 IS NULL OR id = $3)",
            )
            .bind(now_ms)
            .bind(user_id)
            .bind(id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        if marked > 0 {
            self.changed(Change::Inbox(Some(user_id))).await;
        }
        Ok(marked)
    }

    /// Whether an inbox message is `user_id`'s.
    pub async fn owns_inbox_message(self, user_id: i64, id: i64) -> StoreResult<bool> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>(
                "SELECT id FROM outbox_messages WHERE channel = 'inbox' AND user_id = $1 AND id = $2",
            )
            .bind(user_id)
            .bind(id)
            .fetch_optional(pool)
            .await
        })?
        .is_some())
    }

    pub async fn message(self, id: i64) -> StoreResult<Option<MessageView>> {
        let row: Option<MessageRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {MESSAGE_COLUMNS} FROM outbox_messages WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(MessageView::from))
    }

    /// Puts a message back in the queue to be sent now, as new: a dead or provider-less one
    /// again, a waiting one without waiting out its back-off. `false` for one that was sent,
    /// is an inbox message, or has no address.
    pub async fn retry_message(self, id: i64, now_ms: i64) -> StoreResult<bool> {
        Ok(on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE outbox_messages SET state = 'pending', attempts = 0, next_attempt_at = $1, last_error = NULL
                 WHERE id = $2 AND state IN ('dead', 'no_provider', 'pending', 'failed') AND recipient <> '' AND channel <> 'inbox'",
            )
            .bind(now_ms)
            .bind(id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1)
        })?)
    }

    /// A page of the delivery log, newest first, and how many messages the filter selects.
    pub async fn list_messages(self, q: &MessageQuery) -> StoreResult<Page<MessageView>> {
        let limit = q.limit.unwrap_or(100).clamp(1, 500);
        let offset = q.offset.unwrap_or(0).max(0);
        crate::store::paged(limit, offset, |limit, offset| {
            self.message_rows(q, limit, offset)
        })
        .await
    }

    async fn message_rows(
        self,
        q: &MessageQuery,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<(MessageView, i64)>> {
        let rows: Vec<MessageRow> = on_pool!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(format!(
                "SELECT {MESSAGE_COLUMNS}{} FROM outbox_messages WHERE 1 = 1",
                crate::store::TOTAL_COLUMN
            ));
            if let Some(channel) = q.channel {
                query.push(" AND channel = ").push_bind(channel.as_str());
            }
            if let Some(recipient) = &q.recipient {
                query.push(" AND recipient = ").push_bind(recipient.clone());
            }
            if let Some(state) = q.state {
                query.push(" AND state = ").push_bind(state.as_str());
            }
            if let Some(event_id) = q.event_id {
                query.push(" AND event_id = ").push_bind(event_id);
            }
            query
                .push(" ORDER BY id DESC LIMIT ")
                .push_bind(limit)
                .push(" OFFSET ")
                .push_bind(offset);
            query.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let total = row.total;
                (MessageView::from(row), total)
            })
            .collect())
    }
}

const MESSAGE_COLUMNS: &str = "id, channel, recipient, user_id, template, params, body, state, attempts, last_error, next_attempt_at, event_id, provider_ref, read_at, created_at, sent_at";

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct MessageQuery {
    pub channel: Option<Channel>,
    /// Exact phone number, e-mail address, WeChat openid or (inbox) user id.
    pub recipient: Option<String>,
    pub state: Option<MessageState>,
    /// The messages the notification rules made of one outbox event.
    pub event_id: Option<i64>,
    /// Newest first, default 100, at most 500.
    pub limit: Option<i64>,
    /// Skip this many (the next page).
    pub offset: Option<i64>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct InboxQuery {
    /// Only what I have not opened.
    pub unread: Option<bool>,
    /// Older than this message id (the next page).
    pub before: Option<i64>,
    /// Default 50, at most 200.
    pub limit: Option<i64>,
}

#[derive(FromRow)]
struct MessageRow {
    id: i64,
    channel: String,
    recipient: String,
    user_id: Option<i64>,
    template: String,
    params: String,
    body: String,
    state: String,
    attempts: i64,
    last_error: Option<String>,
    next_attempt_at: Option<i64>,
    event_id: Option<i64>,
    provider_ref: Option<String>,
    read_at: Option<i64>,
    created_at: i64,
    sent_at: Option<i64>,
    /// How many messages the list selects (`store::TOTAL_COLUMN`; lists only).
    #[sqlx(default)]
    total: i64,
}

/// One outgoing message as staff see it (and, for the inbox, as its reader does).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageView {
    pub id: i64,
    pub channel: String,
    pub recipient: String,
    pub user_id: Option<i64>,
    /// The provider's template id (SMS TemplateCode, WeChat template_id).
    pub template: String,
    /// The template's parameters.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    pub body: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// When a failed message is tried again.
    pub next_attempt_at: Option<String>,
    /// The outbox event the notification rules made it of.
    pub event_id: Option<i64>,
    /// The provider's receipt (SMS BizId, WeChat msgid).
    pub provider_ref: Option<String>,
    /// Inbox: whether its reader opened it.
    pub read: bool,
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
            // A message without template parameters (an inbox notice) shows an empty map.
            params: serde_json::from_str(&r.params)
                .ok()
                .filter(serde_json::Value::is_object)
                .unwrap_or_else(|| serde_json::json!({})),
            body: r.body,
            state: r.state,
            attempts: r.attempts,
            last_error: r.last_error,
            next_attempt_at: r.next_attempt_at.map(rfc3339),
            event_id: r.event_id,
            provider_ref: r.provider_ref,
            read: r.read_at.is_some(),
            created_at: rfc3339(r.created_at),
            sent_at: r.sent_at.map(rfc3339),
        }
    }
}

/// Outgoing messages with their delivery state, newest first: the delivery log (admin,
/// customer service).
#[utoipa::path(get, path = "/admin/messages", tag = "messages", params(MessageQuery),
    responses((status = 200, body = [MessageView])), security(("bearer" = [])))]
pub async fn list(
    State(app): State<Shop>,
    actor: Actor,
    Query(q): Query<MessageQuery>,
) -> ApiResult<Page<MessageView>> {
    actor.require(Permission::ReadMessages)?;
    Ok(app.store.messages().list_messages(&q).await?)
}

/// Send a message now, as new: a dead or provider-less one again, or a waiting one without
/// its back-off (admin, customer service).
#[utoipa::path(post, path = "/admin/messages/{id}/retry", tag = "messages", params(("id" = i64, Path)),
    responses((status = 200, body = MessageView), (status = 409, description = "`not_retryable`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn retry(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<Json<MessageView>> {
    actor.require(Permission::SendMessages)?;
    let message = app
        .store
        .messages()
        .message(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if !app
        .store
        .messages()
        .retry_message(id, app.clock.now_ms())
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_retryable",
            format!(
                "state: a message already sent (or in the inbox, or with no address) is not sent again; this one is {} on {}",
                message.state, message.channel
            ),
        ));
    }
    app.store
        .messages()
        .message(id)
        .await?
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

/// My inbox: what the shop told me, newest first (anyone signed in).
#[utoipa::path(get, path = "/me/inbox", tag = "messages", params(InboxQuery), responses((status = 200, body = [MessageView])), security(("bearer" = [])))]
pub async fn inbox(
    State(app): State<Shop>,
    actor: Actor,
    Query(q): Query<InboxQuery>,
) -> ApiResult<Json<Vec<MessageView>>> {
    Ok(Json(app.store.messages().inbox(actor.user_id, &q).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Unread {
    pub unread: i64,
}

/// How many inbox messages I have not opened (the badge).
#[utoipa::path(get, path = "/me/inbox/unread", tag = "messages", responses((status = 200, body = Unread)), security(("bearer" = [])))]
pub async fn unread(State(app): State<Shop>, actor: Actor) -> ApiResult<Json<Unread>> {
    Ok(Json(Unread {
        unread: app.store.messages().unread_count(actor.user_id).await?,
    }))
}

/// Mark one of my inbox messages read (another's: 404).
#[utoipa::path(post, path = "/me/inbox/{id}/read", tag = "messages", params(("id" = i64, Path)),
    responses((status = 200, body = Unread)), security(("bearer" = [])))]
pub async fn mark_read(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<Json<Unread>> {
    if !app
        .store
        .messages()
        .owns_inbox_message(actor.user_id, id)
        .await?
    {
        return Err(ApiError::not_found());
    }
    app.store
        .messages()
        .mark_read(actor.user_id, Some(id), app.clock.now_ms())
        .await?;
    unread(State(app), actor).await
}

/// Mark my whole inbox read.
#[utoipa::path(post, path = "/me/inbox/read", tag = "messages", responses((status = 200, body = Unread)), security(("bearer" = [])))]
pub async fn mark_all_read(State(app): State<Shop>, actor: Actor) -> ApiResult<Json<Unread>> {
    app.store
        .messages()
        .mark_read(actor.user_id, None, app.clock.now_ms())
        .await?;
    unread(State(app), actor).await
}

/// Puts a line in a user's inbox after a commit: the kernel's own notices outside K1's table
/// (a rejection's reason, a closing, an after-sales answer), which need no rules and no
/// channel. The event in the outbox is the durable record, so a failure here is logged, not
/// fatal.
pub async fn tell(store: &Store, user_id: i64, template: &str, body: String, now_ms: i64) {
    let message = OutgoingMessage {
        channel: Channel::Inbox,
        recipient: user_id.to_string(),
        user_id: Some(user_id),
        template: template.to_owned(),
        params: serde_json::Value::Null,
        body,
        event_id: None,
    };
    if let Err(error) = store.messages().enqueue_message(&message, now_ms).await {
        tracing::warn!(%error, user_id, template, "could not write an inbox message");
    }
}

/// An inbox line to every admin (a plugin suspended, the pricing script failing).
pub async fn tell_staff(store: &Store, template: &str, body: String, now_ms: i64) {
    tell_staff_in(
        store,
        &[crate::accounts::Role::Admin],
        template,
        body,
        now_ms,
    )
    .await;
}

/// An inbox line to every staff member holding one of `roles` (once each, whatever roles he
/// holds): a plugin's `notify.staff` reaches only the roles its `notify_to` grants.
pub async fn tell_staff_in(
    store: &Store,
    roles: &[crate::accounts::Role],
    template: &str,
    body: String,
    now_ms: i64,
) {
    match store.staff_holding(roles).await {
        Ok(staff) => {
            for user_id in staff {
                tell(store, user_id, template, body.clone(), now_ms).await;
            }
        }
        Err(error) => tracing::warn!(%error, "could not find staff to tell"),
    }
}

impl crate::store::Store {
    /// The enabled users holding any of `roles`, each once, in id order.
    pub async fn staff_holding(
        &self,
        roles: &[crate::accounts::Role],
    ) -> crate::store::StoreResult<Vec<i64>> {
        let mut staff = std::collections::BTreeSet::new();
        for role in roles {
            let holders: Vec<i64> = crate::store::on_pool!(self, |pool| {
                sqlx::query_scalar(
                    "SELECT r.user_id FROM user_roles r JOIN users u ON u.id = r.user_id
                     WHERE r.role = $1 AND u.disabled = FALSE",
                )
                .bind(role.as_str())
                .fetch_all(pool)
                .await
            })?;
            staff.extend(holders);
        }
        Ok(staff.into_iter().collect())
    }
}
