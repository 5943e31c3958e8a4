//! Outbox events to messages (K1–K3). After an event commits, `notifications.rhai` reads it
//! (with the order, the member and the staff who may hear of it) and says who is told what by
//! which channel; the messages are stored in one transaction with the mark that the event was
//! read (`events.delivered_at`, set only if still unset), so a crash or a second instance never
//! announces an event twice, and nothing is announced that did not commit.
//!
//! The inbox is always told (K1): a message by SMS, WeChat or email also lands in its
//! recipient's inbox, once per text.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};
use sqlx::FromRow;

use crate::accounts::Role;
use crate::channels::Channel;
use crate::notify::{OutgoingMessage, StoredEvent, push_message};
use crate::orders::record::OrderRecord;
use crate::store::batch::{Arg, Batch, RunBatch, placeholders_from};
use crate::store::{Store, StoreError, StoreResult, in_tx, on_pool};

crate::store::handle! {
    /// The announcer's part of the store: which order events the notification rules have read, and the messages they produced.
    pub AnnouncementStore, announcements
}

/// What turns an event into messages: `notifications.rhai`, through the scripts host.
pub trait NotificationRules: Send + Sync + 'static {
    /// One version of the rules, kept for a whole event (a reload meanwhile changes nothing
    /// for it).
    type Version: Send + Sync;
    /// Why a version could not plan an event; its words go to the log and to staff.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The version serving now; `None` when there are no rules (an event is read and nothing
    /// said, and rules added later do not announce the past).
    fn serving(&self) -> Option<std::sync::Arc<Self::Version>>;
    /// The messages `version` plans for `event` (as `event_map` builds it), or why it could
    /// not (the script's error, with its file, line and column).
    fn plan(&self, version: &Self::Version, event: &Value) -> Result<Vec<Planned>, Self::Error>;
}

/// A message the rules asked for, to one user, before his address is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub to: i64,
    pub channel: Channel,
    pub template: String,
    pub params: serde_json::Value,
    pub text: String,
    /// Where to send it when the recipient has no address on `channel`.
    pub fallback: Option<Fallback>,
}

/// The channel, template and parameters a message goes by when its own channel has no
/// address for the recipient; the text stays the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    pub channel: Channel,
    pub template: String,
    pub params: serde_json::Value,
}

/// Events read per round.
const ROUND: i64 = 100;
const ROUND_SIZE: usize = ROUND as usize;

/// Reads the events not yet announced, oldest first, and stores their messages. Returns how
/// many events were read.
pub async fn run_once<R: NotificationRules>(
    store: &Store,
    rules: &R,
    now_ms: i64,
) -> StoreResult<usize> {
    let events = store.announcements().unannounced_events(ROUND).await?;
    let mut announcements = Vec::with_capacity(events.len());
    for event in &events {
        let messages = match rules.serving() {
            // No rules: the event is read and nothing is said (a rules file added later does
            // not announce the past).
            None => Vec::new(),
            Some(version) => match messages_for(store, rules, &*version, event).await {
                Ok(messages) => messages,
                Err(RulesError::Store(error)) => return Err(error),
                Err(RulesError::Script(error)) => {
                    tracing::error!(event.id = event.id, event.kind = %event.kind, %error, "notifications.rhai failed on an event");
                    failure_notices(store, event, &error.to_string()).await?
                }
            },
        };
        announcements.push((event.id, messages));
    }
    store
        .announcements()
        .announce(&announcements, now_ms)
        .await?;
    Ok(events.len())
}

enum RulesError<E> {
    Store(StoreError),
    Script(E),
}

impl<E> From<StoreError> for RulesError<E> {
    fn from(e: StoreError) -> Self {
        RulesError::Store(e)
    }
}

/// What the rules make of one event, addressed (a broadcast runs the rules once per
/// recipient, each seeing himself as `event.member`).
async fn messages_for<R: NotificationRules>(
    store: &Store,
    rules: &R,
    version: &R::Version,
    event: &StoredEvent,
) -> Result<Vec<OutgoingMessage>, RulesError<R::Error>> {
    let payload: Value = serde_json::from_str(&event.payload).unwrap_or(Value::Null);
    let mut planned = Vec::new();
    if event.kind == "broadcast" {
        let recipients: Vec<i64> = field(&payload, "recipients")
            .as_array()
            .map(|ids| ids.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        let broadcast = json!({
            "id": field(&payload, "broadcast_id"),
            "title": field(&payload, "title"),
            "text": field(&payload, "text"),
            "channels": field(&payload, "channels"),
        });
        for member_id in recipients {
            let mut map = event_map(store, event, &payload, Some(member_id)).await?;
            set(&mut map, "broadcast", broadcast.clone());
            planned.extend(rules.plan(version, &map).map_err(RulesError::Script)?);
        }
    } else {
        let map = event_map(store, event, &payload, None).await?;
        planned = rules.plan(version, &map).map_err(RulesError::Script)?;
    }
    Ok(address(store, event.id, with_inbox_copies(planned)).await?)
}

fn field(value: &Value, key: &str) -> Value {
    value.get(key).cloned().unwrap_or(Value::Null)
}

fn set(map: &mut Value, key: &str, value: Value) {
    if let Some(object) = map.as_object_mut() {
        object.insert(key.to_owned(), value);
    }
}

/// The inbox always hears (K1): each external message's text, once per recipient.
fn with_inbox_copies(planned: Vec<Planned>) -> Vec<Planned> {
    let mut in_inbox: BTreeSet<(i64, String)> = planned
        .iter()
        .filter(|p| p.channel == Channel::Inbox)
        .map(|p| (p.to, p.text.clone()))
        .collect();
    let mut out = Vec::with_capacity(planned.len() * 2);
    for message in planned {
        if message.channel != Channel::Inbox && in_inbox.insert((message.to, message.text.clone()))
        {
            out.push(Planned {
                channel: Channel::Inbox,
                ..message.clone()
            });
        }
        out.push(message);
    }
    // An inbox message the rules listed twice is shown once.
    let mut seen = BTreeSet::new();
    out.retain(|m| m.channel != Channel::Inbox || seen.insert((m.to, m.text.clone())));
    out
}

#[derive(FromRow)]
struct Addresses {
    id: i64,
    phone: String,
    email: Option<String>,
    openid: Option<String>,
}

/// Each planned message with its recipient's address on its channel. A recipient without
/// one (no e-mail address, no WeChat bound) gets it by the rule's fallback channel where it
/// names one he has an address on; otherwise the message is stored without an address
/// (`skipped`), so staff see what was not sent and why.
async fn address(
    store: &Store,
    event_id: i64,
    planned: Vec<Planned>,
) -> StoreResult<Vec<OutgoingMessage>> {
    let ids: BTreeSet<i64> = planned.iter().map(|p| p.to).collect();
    let ids: Vec<i64> = ids.into_iter().collect();
    let rows: Vec<Addresses> = on_pool!(store, |pool| {
        let mut query = crate::store::id_list_query(
            "SELECT u.id, u.phone, u.email,
                (SELECT i.subject FROM user_identities i WHERE i.user_id = u.id AND i.provider = 'wechat' ORDER BY i.bound_at DESC LIMIT 1) AS openid
             FROM users u WHERE u.disabled = FALSE AND u.id IN ",
            &ids,
        );
        query.build_query_as().fetch_all(pool).await
    })?;
    let by_id: HashMap<i64, Addresses> = rows.into_iter().map(|a| (a.id, a)).collect();
    Ok(planned
        .into_iter()
        .filter_map(|p| {
            // A disabled or deleted account is not written to.
            let user = by_id.get(&p.to)?;
            let address_on = |channel: Channel| match channel {
                Channel::Inbox => Some(user.id.to_string()),
                Channel::Sms => Some(user.phone.clone()),
                Channel::Email => user.email.clone(),
                Channel::Wechat => user.openid.clone(),
            };
            let fallback = p.fallback.and_then(|fallback| {
                address_on(fallback.channel).map(|recipient| (fallback, recipient))
            });
            // No address on the rule's channel and none on its fallback: stored with an empty
            // recipient, which `push_message` stores `skipped`.
            let (channel, recipient, template, params) = match (address_on(p.channel), fallback) {
                (Some(recipient), _) => (p.channel, recipient, p.template, p.params),
                (None, Some((fallback, recipient))) => (
                    fallback.channel,
                    recipient,
                    fallback.template,
                    fallback.params,
                ),
                (None, None) => (p.channel, String::new(), p.template, p.params),
            };
            Some(OutgoingMessage {
                channel,
                recipient,
                user_id: Some(user.id),
                template,
                params,
                body: p.text,
                event_id: Some(event_id),
            })
        })
        .collect())
}

/// When the rules fail on an event, the admins are told in their inbox (the event is read:
/// retrying a broken script on it would only repeat the failure; the fix is a new version).
async fn failure_notices(
    store: &Store,
    event: &StoredEvent,
    error: &str,
) -> StoreResult<Vec<OutgoingMessage>> {
    let admins = store.staff_holding(&[Role::Admin]).await?;
    Ok(admins
        .into_iter()
        .map(|id| OutgoingMessage {
            channel: Channel::Inbox,
            recipient: id.to_string(),
            user_id: Some(id),
            template: "notifications_script_failed".to_owned(),
            params: json!({ "event_id": event.id, "kind": event.kind }),
            body: format!(
                "通知规则出错，事件 {} (#{}) 未发出通知：{error}",
                event.kind, event.id
            ),
            event_id: Some(event.id),
        })
        .collect())
}

/// The event as the rules see it: `kind`, `id`, `at`, and where they apply `order`, `member`
/// and `staff` (who may hear of it: the member's bound manager, the region's managers and
/// drivers, the admins, the customer service set for regions without a manager).
pub async fn event_map(
    store: &Store,
    event: &StoredEvent,
    payload: &Value,
    member: Option<i64>,
) -> StoreResult<Value> {
    let order = match event.order_id {
        Some(id) => store.orders().order(crate::ids::OrderId(id)).await?,
        None => None,
    };
    let member_id = member
        .or(order.as_ref().map(|o| o.member_id.get()))
        .or_else(|| field(payload, "member_id").as_i64());
    let record = match member_id {
        Some(id) => store.members().member(id).await?,
        None => None,
    };
    let region_id = order
        .as_ref()
        .and_then(|o| o.region_id)
        .or(record.as_ref().and_then(|m| m.region_id));
    let bound_manager = order
        .as_ref()
        .and_then(|o| o.manager_id)
        .or(record.as_ref().and_then(|m| m.manager_id));
    let mut map = json!({
        "id": event.id,
        "kind": event.kind,
        "at": { "ms": event.created_at, "date": crate::clock::shop_date_iso(event.created_at) },
        "order": order.as_ref().map(order_map),
        "member": null,
        "staff": staff_map(store, region_id, bound_manager).await?,
    });
    // A plugin's event (`plugin.<name>.<kind>`): its payload as the plugin wrote it, for the
    // rules to say what it says to whom it names.
    if event.kind.starts_with("plugin.") {
        set(&mut map, "plugin", payload.clone());
    }
    if let Some(member) = record {
        let attributes = store.members().member_attributes(member.id).await?;
        set(
            &mut map,
            "member",
            json!({
                "id": member.id,
                "name": member.name,
                "phone": member.phone,
                "company": member.company_name,
                "shop": member.shop_name,
                "level": attributes.level,
                "region": attributes.region,
                "tags": attributes.tags,
            }),
        );
    }
    Ok(map)
}

fn order_map(order: &OrderRecord) -> Value {
    let driver = order
        .fulfilment
        .driver
        .as_ref()
        .map(|d| json!({ "id": d.id, "name": d.name, "phone": d.phone, "plate": d.plate }));
    json!({
        "id": order.id,
        "no": order.number(),
        "member_id": order.member_id,
        "status": order.status.as_str(),
        "total_fen": order.total_fen,
        "paid_fen": order.paid_fen,
        "amount": order.total_fen.to_string(),
        "payment_method": order.payment_method.as_str(),
        "shipment": order.fulfilment.shipment.map(|s| s.as_str()),
        "carrier": order.fulfilment.carrier,
        "tracking_no": order.fulfilment.tracking_no,
        "driver": driver,
        "parent_no": order.parent.as_ref().map(|(_, number)| number.clone()),
    })
}

async fn staff_map(
    store: &Store,
    region_id: Option<i64>,
    bound_manager: Option<i64>,
) -> StoreResult<Value> {
    // Who holds which role, as the audiences the rules address by name.
    let mut by_role: HashMap<String, Vec<i64>> = HashMap::new();
    for (id, role) in store.regions().new_order_staff(region_id).await? {
        by_role.entry(role).or_default().push(id);
    }
    let holding = |role: Role| by_role.get(role.as_str()).cloned().unwrap_or_default();
    Ok(json!({
        "bound_manager": bound_manager,
        "region_managers": holding(Role::Manager),
        "region_drivers": holding(Role::Driver),
        "admins": holding(Role::Admin),
        "customer_service": store.settings().current().await?.fallback_customer_service_id,
    }))
}

impl AnnouncementStore<'_> {
    /// Events the notification rules have not read yet, oldest first.
    pub async fn unannounced_events(self, limit: i64) -> StoreResult<Vec<StoredEvent>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, kind, order_id, payload, created_at FROM events WHERE delivered_at IS NULL ORDER BY id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await
        })?)
    }

    /// Marks every event so far read by the rules without announcing it: history loaded in
    /// bulk (the demo's past orders) is not news to anyone.
    pub async fn pass_over_past_events(self, now_ms: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE events SET delivered_at = $1 WHERE delivered_at IS NULL")
                .bind(now_ms)
                .execute(pool)
                .await
                .map(drop)
        })?;
        Ok(())
    }

    /// Marks each event read by the rules and stores its messages, all in one transaction (a
    /// round of events, one commit); an event another reader got to first is skipped with its
    /// messages. Returns the events this call announced.
    pub async fn announce(
        self,
        announcements: &[(i64, Vec<OutgoingMessage>)],
        now_ms: i64,
    ) -> StoreResult<Vec<i64>> {
        if announcements.is_empty() {
            return Ok(Vec::new());
        }
        let announced = in_tx!(self, |tx| {
            async {
                let mut mark = Batch::default();
                mark.push(
                    format!(
                        "UPDATE events SET delivered_at = $1 WHERE id IN ({}) AND delivered_at IS NULL RETURNING id",
                        placeholders_from(2, announcements.len())
                    ),
                    std::iter::once(Arg::from(now_ms))
                        .chain(announcements.iter().map(|(id, _)| Arg::from(*id)))
                        .collect(),
                );
                let marked: Vec<(i64,)> = tx.fetch_batch(mark).await?;
                let mut batch = Batch::default();
                for (event_id, messages) in announcements {
                    if marked.iter().any(|(id,)| id == event_id) {
                        for message in messages {
                            push_message(&mut batch, message, now_ms);
                        }
                    }
                }
                tx.execute_batch(batch).await?;
                Ok::<_, StoreError>(marked.into_iter().map(|(id,)| id).collect::<Vec<i64>>())
            }
            .await
        })?;
        let told_inboxes = announcements.iter().any(|(event_id, messages)| {
            announced.contains(event_id) && messages.iter().any(|m| m.channel == Channel::Inbox)
        });
        if told_inboxes {
            self.changed(crate::store::Change::Inbox(None)).await;
        }
        Ok(announced)
    }
}

/// Reads new events every 200 ms, and at once again after a full round.
pub async fn rules_loop<R: NotificationRules>(
    store: Store,
    rules: std::sync::Arc<R>,
    clock: crate::clock::Clock,
) {
    crate::notify::in_rounds("notification rules failed", ROUND_SIZE, || {
        run_once(&store, &*rules, clock.now_ms())
    })
    .await;
}
