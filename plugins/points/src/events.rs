//! What the order events do to points (REQUIREMENTS H1, H2, H3, K1):
//! - `order.completed`: the order earns points (once: `earned:<order>` records it), and the
//!   member is told (`points_earned`);
//! - `order.placed`: the points the checkout reserved are written in the ledger (积分抵扣),
//!   `spent:<order>` records them;
//! - `order.closed`: the reservation is given back (取消退回), what fell into lots that expired
//!   meanwhile counted expired;
//! - `order.refunded`: the points the order earned are taken back in proportion to what was
//!   refunded (退款扣回), never below a zero balance, and the member is told.
//!
//! `earned:` and `spent:` records are kept [`RECORD_KEEP_DAYS`] and then pruned by the tick.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use pifa_sdk::{Emit, Event, HookError, Kv};

use crate::account::{self, member_of_balance_key};
use crate::campaign::{self, OrderLine};
use crate::settings::Settings;
use crate::stats;

pub const ORDER_PLACED: &str = "order.placed";
pub const ORDER_COMPLETED: &str = "order.completed";
pub const ORDER_CLOSED: &str = "order.closed";
pub const ORDER_REFUNDED: &str = "order.refunded";
pub const EVENTS: [&str; 4] = [ORDER_PLACED, ORDER_COMPLETED, ORDER_CLOSED, ORDER_REFUNDED];

/// How long what an order earned or spent is kept (a refund or a close after that finds
/// nothing to undo).
pub const RECORD_KEEP_DAYS: i64 = 400;

pub fn earned_key(order: i64) -> String {
    format!("earned:{order:012}")
}
pub fn spent_key(order: i64) -> String {
    format!("spent:{order:012}")
}

/// What an order earned, and how much of it refunds took back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Earned {
    pub member: i64,
    pub points: i64,
    #[serde(default)]
    pub order_no: String,
    pub at: i64,
    /// Taken back by refunds so far (what they asked for, whether or not the balance still
    /// held it: points already spent are not owed).
    #[serde(default)]
    pub reversed: i64,
}

/// The points an order paid with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spent {
    pub member: i64,
    pub points: i64,
    #[serde(default)]
    pub order_no: String,
    pub at: i64,
    /// The order closed and they were given back.
    #[serde(default)]
    pub returned: bool,
}

/// What this plugin reads of an order event's payload.
#[derive(Debug, Clone, Default, Deserialize)]
struct Payload {
    #[serde(default)]
    order_id: Option<i64>,
    #[serde(default)]
    order_no: Option<String>,
    #[serde(default)]
    member_id: Option<i64>,
    #[serde(default)]
    total_fen: i64,
    #[serde(default)]
    lines: Vec<OrderLine>,
    #[serde(default)]
    refunded_total_fen: Option<i64>,
}

fn failed(message: String) -> HookError {
    HookError::new("kv_failed", message)
}

/// The event's effect on points. `Ok` also when there is nothing to do (no member, no points).
pub fn handle(kv: &mut (impl Kv + Emit), event: &Event) -> Result<(), HookError> {
    let settings = Settings::of(&event.settings);
    // The tick reads the settings from here (it gets none of its own).
    settings.remember(kv).map_err(failed)?;
    let payload = Payload::deserialize(&event.payload).unwrap_or_default();
    let Some(order) = event.order_id.or(payload.order_id).filter(|id| *id > 0) else {
        return Ok(());
    };
    let order_no = payload
        .order_no
        .clone()
        .unwrap_or_else(|| order.to_string());
    match event.kind.as_str() {
        ORDER_COMPLETED => completed(kv, event, settings, order, &order_no, &payload),
        ORDER_PLACED => placed(kv, event, order, &order_no),
        ORDER_CLOSED => closed(kv, event, order, &order_no),
        ORDER_REFUNDED => refunded(kv, event, order, &order_no, &payload),
        _ => Ok(()),
    }
    .map_err(failed)
}

fn completed(
    kv: &mut (impl Kv + Emit),
    event: &Event,
    settings: Settings,
    order: i64,
    order_no: &str,
    payload: &Payload,
) -> Result<(), String> {
    // A completed order can no longer close: what it spent is settled.
    if kv.get(&spent_key(order)).is_some() {
        kv.delete(&spent_key(order))?;
    }
    // Once per order, whatever delivers the event twice.
    if kv.get(&earned_key(order)).is_some() {
        return Ok(());
    }
    let Some(member) = payload.member_id.filter(|m| *m > 0) else {
        return Ok(());
    };
    let paid = payload
        .total_fen
        .saturating_sub(payload.refunded_total_fen.unwrap_or(0).max(0))
        .max(0);
    let earning = campaign::earning(
        settings,
        &campaign::load_all(kv),
        event.now_ms,
        paid,
        &payload.lines,
    );
    let points = earning.total();
    if points <= 0 {
        return Ok(());
    }
    let note = if earning.campaigns.is_empty() {
        String::new()
    } else {
        format!(
            "含活动「{}」加送{}分",
            earning.campaigns.join("」「"),
            earning.extra
        )
    };
    let balance = account::add_points(
        kv,
        member,
        points,
        event.now_ms,
        settings,
        &account::source_completed(order_no),
        &note,
    )?;
    kv.put_json(
        &earned_key(order),
        &Earned {
            member,
            points,
            order_no: order_no.to_owned(),
            at: event.now_ms,
            reversed: 0,
        },
    )?;
    stats::add(kv, stats::ISSUED, points)?;
    kv.emit(
        "points_earned",
        &json!({
            "member_id": member,
            "points": points,
            "balance": balance,
            "order_no": order_no,
            "text": format!("订单{order_no}获得{points}积分，当前积分{balance}"),
        }),
    )
}

/// The points this plugin reserved for the order: (member, points).
fn reserved(event: &Event) -> Option<(i64, i64)> {
    event.reservations.iter().find_map(|reserved| {
        let member = member_of_balance_key(&reserved.key)?;
        (reserved.delta < 0).then(|| (member, reserved.delta.saturating_neg()))
    })
}

fn placed(kv: &mut impl Kv, event: &Event, order: i64, order_no: &str) -> Result<(), String> {
    let Some((member, points)) = reserved(event) else {
        return Ok(());
    };
    if kv.get(&spent_key(order)).is_some() {
        return Ok(());
    }
    // The reservation already took them from the balance (and so from the oldest lots).
    let balance = account::balance(kv, member);
    account::record(
        kv,
        member,
        event.now_ms,
        account::SOURCE_SPENT,
        points.saturating_neg(),
        balance,
        &format!("订单{order_no}"),
    )?;
    kv.put_json(
        &spent_key(order),
        &Spent {
            member,
            points,
            order_no: order_no.to_owned(),
            at: event.now_ms,
            returned: false,
        },
    )?;
    stats::add(kv, stats::USED, points)
}

fn closed(kv: &mut impl Kv, event: &Event, order: i64, order_no: &str) -> Result<(), String> {
    let Some((member, points)) = reserved(event) else {
        return Ok(());
    };
    let spent: Option<Spent> = kv.get_json(&spent_key(order));
    if spent.as_ref().is_some_and(|spent| spent.returned) {
        return Ok(());
    }
    account::give_back(
        kv,
        member,
        points,
        event.now_ms,
        account::SOURCE_RETURNED,
        &format!("订单{order_no}取消"),
    )?;
    if spent.is_some() {
        stats::add(kv, stats::USED, points.saturating_neg())?;
    }
    // Marked, not deleted: a second close of the order (a kernel bug) gives nothing twice.
    kv.put_json(
        &spent_key(order),
        &Spent {
            member,
            points,
            order_no: order_no.to_owned(),
            at: event.now_ms,
            returned: true,
        },
    )
}

fn refunded(
    kv: &mut (impl Kv + Emit),
    event: &Event,
    order: i64,
    order_no: &str,
    payload: &Payload,
) -> Result<(), String> {
    let Some(mut earned) = kv.get_json::<Earned>(&earned_key(order)) else {
        // Refunded before it completed: it earns on what is left when it completes.
        return Ok(());
    };
    let total = payload.total_fen;
    let refunded_total = payload
        .refunded_total_fen
        .unwrap_or(0)
        .clamp(0, total.max(0));
    if total <= 0 || refunded_total == 0 {
        return Ok(());
    }
    let due =
        i64::try_from(i128::from(earned.points) * i128::from(refunded_total) / i128::from(total))
            .unwrap_or(earned.points)
            .min(earned.points);
    let owed = due.saturating_sub(earned.reversed);
    if owed <= 0 {
        return Ok(());
    }
    let member = earned.member;
    let (taken, balance) = account::take_at_most(
        kv,
        member,
        owed,
        event.now_ms,
        account::SOURCE_REVERSED,
        &format!("订单{order_no}退款"),
    )?;
    earned.reversed = due;
    kv.put_json(&earned_key(order), &earned)?;
    stats::add(kv, stats::REVERSED, taken)?;
    if taken > 0 {
        kv.emit(
            "points_reversed",
            &json!({
                "member_id": member,
                "points": taken,
                "balance": balance,
                "order_no": order_no,
                "text": format!("订单{order_no}退款，扣回{taken}积分，当前积分{balance}"),
            }),
        )?;
    }
    Ok(())
}

/// Deletes up to `most` `earned:`/`spent:` records older than [`RECORD_KEEP_DAYS`] (the
/// oldest orders first); returns the writes it made.
pub fn prune(kv: &mut impl Kv, now: i64, most: usize) -> Result<usize, String> {
    let before = now.saturating_sub(RECORD_KEEP_DAYS.saturating_mul(86_400_000));
    let mut deleted = 0;
    for prefix in ["earned:", "spent:"] {
        let old: Vec<String> = kv
            .scan(prefix, None, 20)
            .into_iter()
            .filter(|(_, bytes)| {
                serde_json::from_slice::<Value>(bytes)
                    .ok()
                    .and_then(|v| v.get("at").and_then(Value::as_i64))
                    .is_none_or(|at| at < before)
            })
            .map(|(key, _)| key)
            .collect();
        for key in old {
            if deleted >= most {
                return Ok(deleted);
            }
            kv.delete(&key)?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use pifa_sdk::{MemoryKv, Reserved};

    use super::*;
    use crate::account::tests::at;
    use crate::account::{balance, balance_key, ledger};

    pub fn event(kind: &str, id: i64, order: i64, payload: Value, now: i64) -> Event {
        Event {
            id,
            kind: kind.to_owned(),
            order_id: Some(order),
            payload,
            reservations: Vec::new(),
            now_ms: now,
            settings: Value::Null,
        }
    }

    fn completed_event(order: i64, member: i64, total_fen: i64, now: i64) -> Event {
        event(
            ORDER_COMPLETED,
            order * 10,
            order,
            json!({"order_id": order, "order_no": format!("2026120100{order:04}"), "member_id": member,
                   "total_fen": total_fen, "lines": [{"line_no": 1, "product_id": 70, "line_total_fen": total_fen}]}),
            now,
        )
    }

    #[test]
    fn a_completed_order_earns_once_and_the_member_is_told() {
        let mut kv = MemoryKv::default();
        let done = completed_event(12, 42, 12_350, at("2026-12-01T10:00"));
        handle(&mut kv, &done).unwrap();
        assert_eq!(balance(&kv, 42), 123);
        assert_eq!(
            kv.emitted,
            vec![(
                "points_earned".to_owned(),
                json!({"member_id": 42, "points": 123, "balance": 123, "order_no": "20261201000012",
                       "text": "订单20261201000012获得123积分，当前积分123"})
            )]
        );
        let entry = &ledger(&kv, 42, 1)[0];
        assert_eq!(
            (entry.source.as_str(), entry.change, entry.balance),
            ("订单20261201000012完成", 123, 123)
        );
        // Delivered again (another event id, the same order): nothing more.
        let mut again = done.clone();
        again.id += 1;
        handle(&mut kv, &again).unwrap();
        assert_eq!(balance(&kv, 42), 123);
        assert_eq!(kv.emitted.len(), 1);
        assert_eq!(ledger(&kv, 42, 10).len(), 1);
        assert_eq!(stats::read(&kv).issued, 123);
    }

    #[test]
    fn a_campaign_in_its_window_adds_to_what_the_order_earns() {
        let mut kv = MemoryKv::default();
        campaign::create(
            &mut kv,
            &pifa_sdk::input::Fields::of(&json!({"name": "双十二", "starts_at": "2026-12-12", "ends_at": "2026-12-13", "multiplier_percent": 200})),
        )
        .unwrap();
        handle(
            &mut kv,
            &completed_event(1, 42, 10_000, at("2026-12-12T10:00")),
        )
        .unwrap();
        handle(
            &mut kv,
            &completed_event(2, 42, 10_000, at("2026-12-13T10:00")),
        )
        .unwrap();
        assert_eq!(balance(&kv, 42), 300);
        assert_eq!(ledger(&kv, 42, 2)[1].note, "含活动「双十二」加送100分");
    }

    #[test]
    fn no_member_or_no_points_earns_nothing() {
        let mut kv = MemoryKv::default();
        handle(
            &mut kv,
            &event(ORDER_COMPLETED, 1, 3, json!({"total_fen": 10_000}), 0),
        )
        .unwrap();
        handle(&mut kv, &completed_event(4, 42, 99, 0)).unwrap();
        assert!(kv.counters.is_empty() && kv.emitted.is_empty());
        assert_eq!(kv.values.keys().collect::<Vec<_>>(), vec!["settings"]);
    }

    fn with_reservation(mut event: Event, member: i64, points: i64) -> Event {
        event.reservations.push(Reserved {
            key: balance_key(member),
            delta: -points,
        });
        event
    }

    #[test]
    fn points_paid_at_checkout_are_written_then_given_back_when_the_order_closes() {
        let mut kv = MemoryKv::default();
        handle(
            &mut kv,
            &completed_event(1, 42, 100_000, at("2026-12-01T10:00")),
        )
        .unwrap();
        // Checkout reserved 400 of the 1000 points.
        kv.counters.insert(balance_key(42), 600);
        let placed = with_reservation(
            event(
                ORDER_PLACED,
                20,
                2,
                json!({"order_no": "20261202000002"}),
                at("2026-12-02"),
            ),
            42,
            400,
        );
        handle(&mut kv, &placed).unwrap();
        let entry = &ledger(&kv, 42, 1)[0];
        assert_eq!(
            (entry.source.as_str(), entry.change, entry.balance),
            ("积分抵扣", -400, 600)
        );
        assert_eq!(stats::read(&kv).used, 400);
        handle(&mut kv, &placed).unwrap();
        assert_eq!(ledger(&kv, 42, 10).len(), 2, "placed once");

        let closed = with_reservation(
            event(
                ORDER_CLOSED,
                21,
                2,
                json!({"order_no": "20261202000002"}),
                at("2026-12-03"),
            ),
            42,
            400,
        );
        handle(&mut kv, &closed).unwrap();
        assert_eq!(balance(&kv, 42), 1000);
        let entry = &ledger(&kv, 42, 1)[0];
        assert_eq!(
            (entry.source.as_str(), entry.change, entry.balance),
            ("取消退回", 400, 1000)
        );
        assert_eq!(stats::read(&kv).used, 0);
        handle(&mut kv, &closed).unwrap();
        assert_eq!(balance(&kv, 42), 1000, "never given back twice");
        // A close without points reserved changes nothing.
        handle(&mut kv, &event(ORDER_CLOSED, 22, 3, json!({}), 0)).unwrap();
        assert_eq!(balance(&kv, 42), 1000);
    }

    #[test]
    fn a_refund_takes_back_the_points_in_proportion() {
        let mut kv = MemoryKv::default();
        handle(
            &mut kv,
            &completed_event(12, 42, 10_000, at("2026-12-01T10:00")),
        )
        .unwrap();
        handle(
            &mut kv,
            &completed_event(13, 42, 5_000, at("2026-12-01T11:00")),
        )
        .unwrap();
        assert_eq!(balance(&kv, 42), 150);
        let refund = |id: i64, refunded: i64, so_far: i64| {
            event(
                ORDER_REFUNDED,
                id,
                12,
                json!({"order_no": "20261201000012", "total_fen": 10_000, "refunded_fen": refunded, "refunded_total_fen": so_far}),
                at("2026-12-05"),
            )
        };
        handle(&mut kv, &refund(1, 3_333, 3_333)).unwrap();
        assert_eq!(
            balance(&kv, 42),
            117,
            "33 of the 100 taken back, rounded down"
        );
        let entry = &ledger(&kv, 42, 1)[0];
        assert_eq!((entry.source.as_str(), entry.change), ("退款扣回", -33));
        assert_eq!(
            kv.emitted
                .last()
                .map(|(kind, p)| (kind.as_str(), p["text"].clone())),
            Some((
                "points_reversed",
                json!("订单20261201000012退款，扣回33积分，当前积分117")
            ))
        );
        // The rest refunded: what is still due, not the whole again.
        handle(&mut kv, &refund(2, 6_667, 10_000)).unwrap();
        assert_eq!(balance(&kv, 42), 50);
        handle(&mut kv, &refund(3, 0, 10_000)).unwrap();
        assert_eq!(balance(&kv, 42), 50);
        assert_eq!(stats::read(&kv).reversed, 100);
    }

    #[test]
    fn a_refund_never_takes_the_balance_below_zero() {
        let mut kv = MemoryKv::default();
        handle(
            &mut kv,
            &completed_event(12, 42, 10_000, at("2026-12-01T10:00")),
        )
        .unwrap();
        kv.counters.insert(balance_key(42), 30);
        let refund = event(
            ORDER_REFUNDED,
            5,
            12,
            json!({"total_fen": 10_000, "refunded_total_fen": 10_000}),
            0,
        );
        handle(&mut kv, &refund).unwrap();
        assert_eq!(balance(&kv, 42), 0);
        assert_eq!(stats::read(&kv).reversed, 30);
        // An order refunded before it completed earns on what is left.
        let mut early = completed_event(14, 42, 10_000, 0);
        early.payload["refunded_total_fen"] = json!(4_000);
        handle(&mut kv, &early).unwrap();
        assert_eq!(balance(&kv, 42), 60);
    }

    #[test]
    fn old_records_are_pruned_and_recent_ones_kept() {
        let mut kv = MemoryKv::default();
        let now = at("2028-01-01");
        kv.put_json(
            &earned_key(1),
            &json!({"member": 1, "points": 5, "at": at("2026-01-01")}),
        )
        .unwrap();
        kv.put_json(
            &earned_key(2),
            &json!({"member": 1, "points": 5, "at": at("2027-12-01")}),
        )
        .unwrap();
        kv.put_json(
            &spent_key(1),
            &json!({"member": 1, "points": 5, "at": at("2026-01-01")}),
        )
        .unwrap();
        assert_eq!(prune(&mut kv, now, 10), Ok(2));
        assert_eq!(kv.values.keys().collect::<Vec<_>>(), vec![&earned_key(2)]);
    }
}
