//! E9's state machine, and the one way an order's status changes.
//!
//! `TRANSITIONS` is every move an order can make and who may make it; handlers ask `permit`
//! before they work anything out. `write_move` is the only code that writes an order's
//! status: it refuses a move the table does not list, guards the update by the status it
//! expects (a concurrent move loses cleanly), stamps the time the new status records, and adds
//! the history entry and the outbox event in the same transaction (K2: an event commits with
//! what it reports, or not at all). A move that leaves an order received and paid in full
//! completes it in the same write.

use axum::http::StatusCode;

use super::backorders::ShortLine;
use super::record::OrderRecord;
use super::{Audience, OrderStatus};
use crate::accounts::permissions::{Actor, Permission};
use crate::error::ApiError;
use crate::ids::{MemberId, OrderId};
use crate::money::Fen;
use crate::store::StoreError;
use crate::store::batch::{Arg, Batch, RunBatch, args};

/// What happened to an order, as its history and events name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Placed,
    Confirmed,
    Rejected,
    Cancelled,
    TimedOut,
    Paid,
    DriverAssigned,
    Dispatched,
    ReadyForPickup,
    PickedUp,
    DeliveryStarted,
    Delivered,
    ReceiptConfirmed,
    AutoReceived,
    Completed,
    StatusChanged,
    // Entries that change no status.
    HoldReleased,
    ReceiptUploaded,
    /// Items still owed moved to a follow-up order (补发单).
    Split,
    /// The follow-up order's first entry.
    SplitFrom,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Placed => "placed",
            Action::Confirmed => "confirmed",
            Action::Rejected => "rejected",
            Action::Cancelled => "cancelled",
            Action::TimedOut => "timed_out",
            Action::Paid => "paid",
            Action::DriverAssigned => "driver_assigned",
            Action::Dispatched => "dispatched",
            Action::ReadyForPickup => "ready_for_pickup",
            Action::PickedUp => "picked_up",
            Action::DeliveryStarted => "delivery_started",
            Action::Delivered => "delivered",
            Action::ReceiptConfirmed => "receipt_confirmed",
            Action::AutoReceived => "auto_received",
            Action::Completed => "completed",
            Action::StatusChanged => "status_changed",
            Action::HoldReleased => "hold_released",
            Action::ReceiptUploaded => "receipt_uploaded",
            Action::Split => "split",
            Action::SplitFrom => "split_from",
        }
    }

    /// The outbox event a move to `to` by this action writes: every way of closing an order is
    /// `order.closed` (what the member is told about, whoever closed it); the rest are named
    /// by their action.
    pub fn event_kind(self, to: OrderStatus) -> String {
        if to == OrderStatus::Closed {
            "order.closed".to_owned()
        } else {
            format!("order.{}", self.as_str())
        }
    }
}

/// Who makes a move, relative to the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// Admin and customer service (E6).
    Staff,
    /// Whoever confirms the order (D5): the bound manager, else the region's managers.
    Confirmer,
    /// The driver assigned to the order.
    AssignedDriver,
    /// The order's member.
    Member,
    /// A verifier of the order's pickup point (E5).
    PointVerifier,
    /// The kernel itself, on its clock.
    System,
}

/// One row of the state machine.
#[derive(Debug, Clone, Copy)]
pub struct Transition {
    pub action: Action,
    pub from: OrderStatus,
    pub to: OrderStatus,
    pub by: &'static [Party],
}

use OrderStatus::{
    AwaitingDispatch, Closed, Completed, InDelivery, PendingConfirmation, PendingPayment,
    ReadyForPickup, Received,
};
use Party::{AssignedDriver, Confirmer, Member, PointVerifier, Staff, System};

const fn row(
    action: Action,
    from: OrderStatus,
    to: OrderStatus,
    by: &'static [Party],
) -> Transition {
    Transition {
        action,
        from,
        to,
        by,
    }
}

/// E9: every move an order can make and who may make it.
pub const TRANSITIONS: &[Transition] = &[
    row(
        Action::Confirmed,
        PendingConfirmation,
        AwaitingDispatch,
        &[Staff, Confirmer],
    ),
    row(
        Action::Confirmed,
        PendingConfirmation,
        PendingPayment,
        &[Staff, Confirmer],
    ),
    row(
        Action::Rejected,
        PendingConfirmation,
        Closed,
        &[Staff, Confirmer],
    ),
    row(Action::Cancelled, PendingConfirmation, Closed, &[Member]),
    row(Action::TimedOut, PendingConfirmation, Closed, &[System]),
    row(Action::TimedOut, PendingPayment, Closed, &[System]),
    row(Action::Paid, PendingPayment, AwaitingDispatch, &[Staff]),
    // E2: a driver is assigned (the order waits for him: 待送货), or it is sent by carrier.
    row(
        Action::DriverAssigned,
        AwaitingDispatch,
        AwaitingDispatch,
        &[Staff, Confirmer],
    ),
    row(
        Action::Dispatched,
        AwaitingDispatch,
        InDelivery,
        &[Staff, Confirmer],
    ),
    row(
        Action::ReadyForPickup,
        AwaitingDispatch,
        ReadyForPickup,
        &[Staff, Confirmer],
    ),
    // E5: the member's code, scanned at the point.
    row(Action::PickedUp, ReadyForPickup, Received, &[PointVerifier]),
    // E3: the driver sets out, and his photos of the signed note mean received.
    row(
        Action::DeliveryStarted,
        AwaitingDispatch,
        InDelivery,
        &[AssignedDriver],
    ),
    row(
        Action::Delivered,
        AwaitingDispatch,
        Received,
        &[AssignedDriver],
    ),
    row(Action::Delivered, InDelivery, Received, &[AssignedDriver]),
    // E4: without a driver, the member confirms, or the clock does.
    row(Action::ReceiptConfirmed, InDelivery, Received, &[Member]),
    row(Action::AutoReceived, InDelivery, Received, &[System]),
    // E9: received and paid in full, by whichever came last.
    row(Action::Completed, Received, Completed, &[System]),
    // E6: customer service moves any open order on, or closes it, with a remark.
    row(
        Action::StatusChanged,
        PendingPayment,
        AwaitingDispatch,
        &[Staff],
    ),
    row(
        Action::StatusChanged,
        AwaitingDispatch,
        InDelivery,
        &[Staff],
    ),
    row(
        Action::StatusChanged,
        AwaitingDispatch,
        ReadyForPickup,
        &[Staff],
    ),
    row(
        Action::StatusChanged,
        InDelivery,
        AwaitingDispatch,
        &[Staff],
    ),
    row(Action::StatusChanged, InDelivery, Received, &[Staff]),
    row(Action::StatusChanged, ReadyForPickup, Received, &[Staff]),
    row(Action::StatusChanged, Received, Completed, &[Staff]),
    row(Action::StatusChanged, PendingConfirmation, Closed, &[Staff]),
    row(Action::StatusChanged, PendingPayment, Closed, &[Staff]),
    row(Action::StatusChanged, AwaitingDispatch, Closed, &[Staff]),
    row(Action::StatusChanged, InDelivery, Closed, &[Staff]),
    row(Action::StatusChanged, ReadyForPickup, Closed, &[Staff]),
];

/// Whether `actor` may confirm or reject `order` (D5); admin and customer service always may
/// (E6), a manager when the member is bound to him, or has no manager and lives in his region.
pub fn may_confirm(actor: &Actor, order: &OrderRecord) -> bool {
    if actor.has(Permission::ConfirmAnyOrder) {
        return true;
    }
    actor.has(Permission::ConfirmOwnOrders)
        && match order.manager_id {
            Some(manager) => manager == actor.user_id,
            None => order
                .region_id
                .is_some_and(|r| actor.region_ids.contains(&r)),
        }
}

/// The parties `actor` is on `order`.
pub fn parties(actor: &Actor, order: &OrderRecord) -> Vec<Party> {
    let mut parties = Vec::new();
    if actor.has(Permission::ConfirmAnyOrder) {
        parties.push(Staff);
    }
    if may_confirm(actor, order) {
        parties.push(Confirmer);
    }
    if actor.has(Permission::DeliverOrders)
        && order
            .fulfilment
            .driver
            .as_ref()
            .is_some_and(|d| d.id == actor.user_id)
    {
        parties.push(AssignedDriver);
    }
    if order.member_id == MemberId(actor.user_id) {
        parties.push(Member);
    }
    parties
}

/// The moves `actor` may make on `order` now: the table's rows from its status open to one of
/// his parties. An order's page offers these and no others.
pub fn open_moves(actor: &Actor, order: &OrderRecord) -> Vec<(Action, OrderStatus)> {
    let parties = parties(actor, order);
    TRANSITIONS
        .iter()
        .filter(|t| t.from == order.status && t.by.iter().any(|p| parties.contains(p)))
        .map(|t| (t.action, t.to))
        .collect()
}

/// Whether `parties` may make `action` from `from` to `to`.
pub fn allowed(action: Action, from: OrderStatus, to: OrderStatus, parties: &[Party]) -> bool {
    TRANSITIONS.iter().any(|t| {
        t.action == action
            && t.from == from
            && t.to == to
            && t.by.iter().any(|p| parties.contains(p))
    })
}

/// Whether the table lists the move at all, whoever makes it.
fn listed(action: Action, from: OrderStatus, to: OrderStatus) -> bool {
    TRANSITIONS
        .iter()
        .any(|t| t.action == action && t.from == from && t.to == to)
}

/// 403 when the caller's parties may never make `action`; 409 (`invalid_transition`) when
/// they may, but not from the order's current status.
pub(crate) fn permit(
    actor: &Actor,
    order: &OrderRecord,
    action: Action,
    to: OrderStatus,
    audience: Audience,
) -> Result<(), ApiError> {
    let parties = parties(actor, order);
    if allowed(action, order.status, to, &parties) {
        return Ok(());
    }
    let ever = TRANSITIONS
        .iter()
        .any(|t| t.action == action && t.by.iter().any(|p| parties.contains(p)));
    if ever {
        Err(invalid_transition(order, audience))
    } else {
        Err(ApiError::forbidden())
    }
}

pub(crate) fn invalid_transition(order: &OrderRecord, audience: Audience) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "invalid_transition",
        format!(
            "订单当前状态为「{}」，不能进行此操作 (not allowed in this state)",
            order.status.label(audience)
        ),
    )
}

/// One move of an order's status, as `write_move` writes it.
pub(crate) struct Move<'a> {
    pub action: Action,
    pub from: OrderStatus,
    pub to: OrderStatus,
    pub actor_id: Option<i64>,
    pub remark: &'a str,
    /// Columns set with the status besides the times `write_move` stamps itself (names from
    /// this crate, never from input).
    pub set: Vec<(&'static str, Arg)>,
    /// A further condition the order must meet for the move (SQL from this crate).
    pub only_if: Option<&'static str>,
    pub now_ms: i64,
}

/// An order paid in full (a condition for `Move::only_if`).
pub(crate) const PAID_IN_FULL: &str = "paid_fen >= total_fen";

impl<'a> Move<'a> {
    pub(crate) fn new(action: Action, from: OrderStatus, to: OrderStatus, now_ms: i64) -> Self {
        Move {
            action,
            from,
            to,
            actor_id: None,
            remark: "",
            set: Vec::new(),
            only_if: None,
            now_ms,
        }
    }

    pub(crate) fn by(mut self, actor_id: Option<i64>, remark: &'a str) -> Self {
        self.actor_id = actor_id;
        self.remark = remark;
        self
    }

    pub(crate) fn setting(mut self, set: impl IntoIterator<Item = (&'static str, Arg)>) -> Self {
        self.set.extend(set);
        self
    }

    pub(crate) fn only_if(mut self, condition: &'static str) -> Self {
        self.only_if = Some(condition);
        self
    }

    /// The times a status records, set by whichever move reaches it.
    fn stamps(&self) -> Vec<(&'static str, Arg)> {
        let now = Arg::from(self.now_ms);
        let mut stamps = match self.to {
            InDelivery => vec![("dispatched_at", now)],
            Received => vec![("received_at", now)],
            Completed => vec![("completed_at", now)],
            Closed => vec![("closed_at", now), ("close_reason", Arg::from(self.remark))],
            PendingConfirmation | PendingPayment | AwaitingDispatch | ReadyForPickup => Vec::new(),
        };
        if self.action == Action::Confirmed {
            stamps.push(("confirmed_at", Arg::from(self.now_ms)));
            stamps.push(("confirmed_by", Arg::from(self.actor_id)));
        }
        stamps
    }

    /// The guarded update, returning the order's paid and total amounts when it matched.
    fn statement(&self, order_id: OrderId) -> (String, Vec<Arg>) {
        let mut sql = String::from("UPDATE orders SET status = $1, updated_at = $2");
        let mut values = args![self.to.as_str(), self.now_ms];
        for (column, value) in self.stamps().into_iter().chain(self.set.iter().cloned()) {
            values.push(value);
            sql.push_str(&format!(", {column} = ${}", values.len()));
        }
        values.push(Arg::from(order_id));
        values.push(Arg::from(self.from.as_str()));
        sql.push_str(&format!(
            " WHERE id = ${} AND status = ${}",
            values.len() - 1,
            values.len()
        ));
        if let Some(condition) = self.only_if {
            sql.push_str(" AND ");
            sql.push_str(condition);
        }
        sql.push_str(" RETURNING paid_fen, total_fen");
        (sql, values)
    }
}

/// Why a move was not made, a lost race aside (that is `Ok(None)`).
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A move `TRANSITIONS` does not list: a mistake in the kernel, refused before any write.
    #[error("{action:?} from {from:?} to {to:?} is not a move of the order state machine")]
    Unlisted {
        action: Action,
        from: OrderStatus,
        to: OrderStatus,
    },
    /// A shipment found items still owed and was not allowed to split (see
    /// `backorders`); the transaction rolled back.
    #[error("stock short on {} lines", .0.len())]
    StockShort(Vec<ShortLine>),
    /// A bounded update found its bound reached by a concurrent write (two payments or refunds
    /// together beyond what is owed or paid); the transaction rolled back. Names the field.
    #[error("bound reached on {0}")]
    ChangedMeanwhile(&'static str),
}

impl From<sqlx::Error> for MoveError {
    fn from(err: sqlx::Error) -> MoveError {
        MoveError::Store(err.into())
    }
}

impl From<MoveError> for ApiError {
    fn from(err: MoveError) -> ApiError {
        match err {
            MoveError::Store(err) => err.into(),
            unlisted @ MoveError::Unlisted { .. } => ApiError::internal(unlisted),
            MoveError::ChangedMeanwhile(field) => ApiError::conflict(
                "changed_meanwhile",
                field,
                format!(
                    "{field}: 数据刚被他人修改，请刷新后重试 (changed meanwhile; reload and retry)"
                ),
            ),
            MoveError::StockShort(lines) => {
                let items: Vec<String> = lines
                    .iter()
                    .map(|l| format!("{}缺{}", l.item_no, l.owed))
                    .collect();
                ApiError::new(
                    StatusCode::CONFLICT,
                    "stock_short",
                    format!(
                        "库存不足，尚欠：{}；可到货后再发，或选择先发有货部分 (split_backorders) (items still owed)",
                        items.join("，")
                    ),
                )
                .with_details(serde_json::json!({ "lines": lines }))
            }
        }
    }
}

/// Writes `step` on `order` in the caller's transaction: the guarded update, its history entry
/// and event, and completion when the order is now received and paid in full. Returns the
/// order as it now stands (status and total as written; the rest as read), or `None` when it
/// was no longer in `step.from` (or failed `step.only_if`).
pub(crate) async fn write_move<C: RunBatch + Send>(
    conn: &mut C,
    order: &OrderRecord,
    step: &Move<'_>,
) -> Result<Option<OrderRecord>, MoveError> {
    if !listed(step.action, step.from, step.to) {
        return Err(MoveError::Unlisted {
            action: step.action,
            from: step.from,
            to: step.to,
        });
    }
    let mut update = Batch::default();
    let (sql, values) = step.statement(order.id);
    update.push(sql, values);
    let rows: Vec<(i64, i64)> = conn.fetch_batch(update).await?;
    let Some(&(paid_fen, total_fen)) = rows.first() else {
        return Ok(None);
    };
    let mut moved = order.clone();
    moved.status = step.to;
    moved.total_fen = Fen(total_fen);
    moved.paid_fen = Fen(paid_fen);
    let mut batch = Batch::default();
    record(&mut batch, &moved, step);
    if step.to == Received && paid_fen >= total_fen {
        let complete = Move::new(Action::Completed, Received, Completed, step.now_ms)
            .by(None, "已收货且已付清 (received and paid in full)");
        let (sql, values) = complete.statement(order.id);
        batch.push(sql, values);
        moved.status = Completed;
        record(&mut batch, &moved, &complete);
    }
    conn.execute_batch(batch).await?;
    Ok(Some(moved))
}

/// The history entry and event of `step`, which left the order as `moved`.
fn record(batch: &mut Batch, moved: &OrderRecord, step: &Move<'_>) {
    push_history(
        batch,
        Entry {
            order_id: moved.id,
            at: step.now_ms,
            actor_id: step.actor_id,
            action: step.action,
            from: Some(step.from),
            to: step.to,
            remark: step.remark,
        },
    );
    push_event(batch, &step.action.event_kind(step.to), moved, step.now_ms);
}

/// Adds the outbox event for `record` to `batch` (K2: the event commits with what it reports,
/// or not at all).
pub(crate) fn push_event(batch: &mut Batch, kind: &str, record: &OrderRecord, now_ms: i64) {
    push_payload(
        batch,
        kind,
        record.id,
        &OrderEventPayload::of(record),
        now_ms,
    );
}

/// `order.refunded` (F1, E8): a refund of `refund_fen` recorded on `record` (as read before
/// it), for the plugins that give back what the order earned (points, commission).
pub(crate) fn push_refund_event(
    batch: &mut Batch,
    record: &OrderRecord,
    refund_fen: i64,
    now_ms: i64,
) {
    let mut payload = OrderEventPayload::of(record);
    payload.refunded_total_fen = payload.refunded_total_fen.saturating_add(refund_fen);
    payload.refunded_fen = Some(refund_fen);
    push_payload(batch, REFUNDED, record.id, &payload, now_ms);
}

/// The kind of the event a refund writes.
pub const REFUNDED: &str = "order.refunded";

fn push_payload(
    batch: &mut Batch,
    kind: &str,
    order_id: OrderId,
    payload: &OrderEventPayload,
    now_ms: i64,
) {
    let payload = serde_json::to_string(payload).unwrap_or_default();
    batch.push(
        "INSERT INTO events (kind, order_id, payload, created_at) VALUES ($1, $2, $3, $4)",
        args![kind, order_id, payload, now_ms],
    );
}

/// What every `order.*` event carries. Each field is classified for plugins in
/// `plugins/data.rs` (a plugin sees it only with the class granted); a field added here and
/// not classified there reaches no plugin, and fails that module's tests.
#[derive(Debug, serde::Serialize)]
pub(crate) struct OrderEventPayload {
    pub order_id: i64,
    pub order_no: String,
    pub member_id: i64,
    pub region_id: Option<i64>,
    pub manager_id: Option<i64>,
    /// The member's promoter when the order was placed (I1, I2).
    pub promoter_id: Option<i64>,
    /// The member's level when the order was placed.
    pub level_id: Option<i64>,
    pub status: &'static str,
    pub total_fen: i64,
    pub payment_method: &'static str,
    /// What all refunds of the order came to so far (this one included).
    pub refunded_total_fen: i64,
    /// `order.refunded` alone: this refund.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunded_fen: Option<i64>,
    pub lines: Vec<EventLine>,
}

/// A line as order events tell it.
#[derive(Debug, serde::Serialize)]
pub(crate) struct EventLine {
    pub line_no: i64,
    pub sku_id: i64,
    pub product_id: i64,
    pub qty: i64,
    pub line_total_fen: i64,
    pub gift: bool,
    pub brand_id: Option<i64>,
    /// Its category and those above it, nearest first, when the order was placed.
    pub category_ids: Vec<i64>,
}

impl OrderEventPayload {
    pub(crate) fn of(record: &OrderRecord) -> OrderEventPayload {
        OrderEventPayload {
            order_id: record.id.get(),
            order_no: record.number(),
            member_id: record.member_id.get(),
            region_id: record.region_id,
            manager_id: record.manager_id,
            promoter_id: record.promoter_id,
            level_id: record.level_id,
            status: record.status.as_str(),
            total_fen: record.total_fen.get(),
            payment_method: record.payment_method.as_str(),
            refunded_total_fen: record.refunded_fen.get(),
            refunded_fen: None,
            lines: record
                .lines
                .iter()
                .map(|placed| EventLine {
                    line_no: placed.line.line_no,
                    sku_id: placed.line.sku_id.get(),
                    product_id: placed.line.product_id.get(),
                    qty: placed.line.qty,
                    line_total_fen: placed.line.line_total_fen,
                    gift: placed.line.gift,
                    brand_id: placed.line.brand_id,
                    category_ids: placed.line.category_ids.clone(),
                })
                .collect(),
        }
    }
}

/// One entry of an order's history, as `push_history` records it.
pub(crate) struct Entry<'a> {
    pub order_id: OrderId,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub action: Action,
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    pub remark: &'a str,
}

/// Adds a history entry to `batch`. A status change goes through `write_move`, which adds its
/// own; this is for entries that change no status, and for an order's first.
pub(crate) fn push_history(batch: &mut Batch, entry: Entry<'_>) {
    batch.push(
        "INSERT INTO order_history (order_id, at, actor_id, action, from_status, to_status, remark) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            entry.order_id,
            entry.at,
            entry.actor_id,
            entry.action.as_str(),
            entry.from.map(|s| s.as_str().to_owned()),
            entry.to.as_str(),
            entry.remark,
        ],
    );
}

/// Adds an entry that leaves `order`'s status as it is (a hold released, a receipt, a split).
pub(crate) fn push_note(
    batch: &mut Batch,
    order: &OrderRecord,
    action: Action,
    actor_id: Option<i64>,
    remark: &str,
    now_ms: i64,
) {
    push_history(
        batch,
        Entry {
            order_id: order.id,
            at: now_ms,
            actor_id,
            action,
            from: Some(order.status),
            to: order.status,
            remark,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_but_completed_and_closed_has_a_way_on() {
        for status in OrderStatus::ALL {
            let onward = TRANSITIONS.iter().any(|t| t.from == status);
            assert_eq!(onward, !matches!(status, Completed | Closed), "{status:?}");
        }
    }

    #[test]
    fn only_the_assigned_driver_delivers_and_nobody_reopens_a_closed_order() {
        assert!(allowed(
            Action::Delivered,
            InDelivery,
            Received,
            &[AssignedDriver]
        ));
        assert!(!allowed(
            Action::Delivered,
            InDelivery,
            Received,
            &[Confirmer]
        ));
        assert!(!allowed(Action::Delivered, InDelivery, Received, &[Member]));
        assert!(!TRANSITIONS.iter().any(|t| t.from == Closed));
        assert!(!allowed(Action::StatusChanged, Completed, Closed, &[Staff]));
    }

    #[test]
    fn a_driver_never_confirms_or_prices() {
        assert!(
            TRANSITIONS
                .iter()
                .filter(|t| t.by.contains(&AssignedDriver))
                .all(|t| matches!(t.action, Action::DeliveryStarted | Action::Delivered))
        );
    }

    #[test]
    fn only_this_module_writes_an_order_status() -> Result<(), std::io::Error> {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut writers = Vec::new();
        let mut dirs = vec![src.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir)? {
                let path = entry?.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && std::fs::read_to_string(&path)?.contains("UPDATE orders SET status")
                {
                    let relative = path.strip_prefix(&src).unwrap_or(&path);
                    writers.push(relative.display().to_string());
                }
            }
        }
        assert_eq!(writers, ["orders/machine.rs"]);
        Ok(())
    }

    #[test]
    fn entries_that_change_no_status_are_not_moves() {
        for action in [
            Action::Placed,
            Action::HoldReleased,
            Action::ReceiptUploaded,
            Action::Split,
            Action::SplitFrom,
        ] {
            assert!(
                !TRANSITIONS.iter().any(|t| t.action == action),
                "{action:?}"
            );
        }
        // Driver assignment is a move that keeps the status: its history says who drives.
        assert!(listed(
            Action::DriverAssigned,
            AwaitingDispatch,
            AwaitingDispatch
        ));
    }

    #[test]
    fn each_status_stamps_its_time_and_closing_its_reason() {
        let columns = |to, action| -> Vec<&str> {
            Move::new(action, PendingConfirmation, to, 7)
                .by(Some(3), "why")
                .stamps()
                .into_iter()
                .map(|(column, _)| column)
                .collect()
        };
        assert_eq!(columns(InDelivery, Action::Dispatched), ["dispatched_at"]);
        assert_eq!(columns(Received, Action::Delivered), ["received_at"]);
        assert_eq!(columns(Completed, Action::Completed), ["completed_at"]);
        assert_eq!(
            columns(Closed, Action::Rejected),
            ["closed_at", "close_reason"]
        );
        assert_eq!(
            columns(PendingPayment, Action::Confirmed),
            ["confirmed_at", "confirmed_by"]
        );
        assert!(columns(AwaitingDispatch, Action::Paid).is_empty());
    }

    #[test]
    fn a_move_is_guarded_by_its_status_and_its_condition() {
        let step = Move::new(Action::Paid, PendingPayment, AwaitingDispatch, 7)
            .setting([("carrier", Arg::from("顺丰"))])
            .only_if(PAID_IN_FULL);
        let (sql, values) = step.statement(OrderId(42));
        assert_eq!(
            sql,
            "UPDATE orders SET status = $1, updated_at = $2, carrier = $3 \
             WHERE id = $4 AND status = $5 AND paid_fen >= total_fen RETURNING paid_fen, total_fen"
        );
        assert_eq!(values.len(), 5);
        assert_eq!(Action::Rejected.event_kind(Closed), "order.closed");
        assert_eq!(Action::Paid.event_kind(AwaitingDispatch), "order.paid");
    }
}
