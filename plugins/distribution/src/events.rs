//! What the order events do (I1, I2): `order.completed` counts the order for the member's
//! promoter and manager and credits the promoter's commission; `order.refunded` lowers the
//! sales and takes back the refunded share of the commission.
//!
//! Once per order: the record `order:<order_id>` says what the order counted, so an order
//! completing twice (two event ids: the kernel's once-per-event-id does not cover that) or a
//! refund delivered again changes nothing more. Refunds are cumulative (`refunded_total_fen`),
//! so only what is new since the record is taken back.

use pifa_sdk::{Emit, Event, Kv};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::ledger::{self, Entry};
use crate::payload::{ORDER_COMPLETED, ORDER_REFUNDED, OrderPayload};
use crate::perf::{self, month_of};
use crate::rates::Rates;
use crate::settings::Settings;
use crate::store::{Role, order_key, owed_key};

/// The kind emitted (as `plugin.distribution.commission_credited`) when commission is credited.
pub const COMMISSION_CREDITED: &str = "commission_credited";

/// What one order counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    #[serde(default)]
    pub order_no: String,
    #[serde(default)]
    pub member: Option<i64>,
    #[serde(default)]
    pub promoter: Option<i64>,
    #[serde(default)]
    pub manager: Option<i64>,
    /// Counted for performance and commission (a record without it only remembers refunds
    /// that came before the order completed).
    #[serde(default)]
    pub completed: bool,
    /// The shop month it completed in: its figures belong there.
    #[serde(default)]
    pub month: String,
    /// `total_fen` when it completed.
    #[serde(default)]
    pub total: i64,
    /// The commission its lines earned.
    #[serde(default)]
    pub commission: i64,
    /// Of it, what refunds reversed (taken from the balance, or owed).
    #[serde(default)]
    pub reversed: i64,
    /// Of `reversed`, what the balance could not give back.
    #[serde(default)]
    pub owed: i64,
    /// `refunded_total_fen` seen so far.
    #[serde(default)]
    pub refunded: i64,
}

/// What an event did, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ignored(&'static str),
    Completed {
        commission_fen: i64,
    },
    Refunded {
        sales_fen: i64,
        reversed_fen: i64,
        owed_fen: i64,
    },
    RefundNoted,
}

pub fn load_order(kv: &impl Kv, order_id: i64) -> Option<OrderRecord> {
    kv.get_json(&order_key(order_id))
}

/// Handles one event; an `Err` is a storage failure, and the kernel delivers the event again.
pub fn on_event(kv: &mut (impl Kv + Emit), event: &Event) -> Result<Outcome, String> {
    if event.kind != ORDER_COMPLETED && event.kind != ORDER_REFUNDED {
        return Ok(Outcome::Ignored("not an event this plugin counts"));
    }
    let Ok(payload) = serde_json::from_value::<OrderPayload>(event.payload.clone()) else {
        return Ok(Outcome::Ignored("the payload is not an order"));
    };
    let Some(order_id) = event.order_id.or(payload.order_id) else {
        return Ok(Outcome::Ignored("the event names no order"));
    };
    let settings = Settings::of(&event.settings);
    if event.kind == ORDER_COMPLETED {
        complete(kv, &settings, event.now_ms, order_id, &payload)
    } else {
        refund(kv, event.now_ms, order_id, &payload)
    }
}

/// The part of `commission` a refund of `refunded` out of `total` takes back (rounded down:
/// in the promoter's favour until everything is refunded, then all of it).
fn reversal(commission: i64, refunded: i64, total: i64) -> i64 {
    if total <= 0 || refunded <= 0 {
        return 0;
    }
    let share = i128::from(commission) * i128::from(refunded.min(total)) / i128::from(total);
    i64::try_from(share)
        .unwrap_or(commission)
        .clamp(0, commission)
}

fn complete(
    kv: &mut (impl Kv + Emit),
    settings: &Settings,
    now_ms: i64,
    order_id: i64,
    payload: &OrderPayload,
) -> Result<Outcome, String> {
    let earlier = load_order(kv, order_id);
    if earlier.as_ref().is_some_and(|record| record.completed) {
        return Ok(Outcome::Ignored("the order was already counted"));
    }
    if payload.promoter_id.is_none() && payload.manager_id.is_none() {
        return Ok(Outcome::Ignored(
            "the order has neither promoter nor manager",
        ));
    }
    let month = month_of(now_ms);
    let total = payload.total_fen.max(0);
    // A refund before completion (recorded then, or carried by this payload) is already off
    // the order: count what is left.
    let refunded = earlier
        .as_ref()
        .map_or(0, |record| record.refunded)
        .max(payload.refunded_total_fen.unwrap_or(0))
        .clamp(0, total);
    let sales = total - refunded;
    for (role, user) in [
        (Role::Promoter, payload.promoter_id),
        (Role::Manager, payload.manager_id),
    ] {
        if let Some(user) = user {
            perf::count_order(kv, role, user, payload.member_id, &month, sales)?;
        }
    }
    if let (Some(manager), Some(promoter)) = (payload.manager_id, payload.promoter_id) {
        perf::join_team(kv, manager, promoter, now_ms)?;
    }

    let mut commission = 0;
    let mut reversed = 0;
    let mut credited = 0;
    if let Some(promoter) = payload.promoter_id {
        commission = Rates::load(kv).commission_fen(
            &payload.lines,
            payload.level_id,
            settings.default_rate_bp,
        );
        reversed = reversal(commission, refunded, total);
        credited = commission - reversed;
        if credited > 0 {
            let balance = ledger::move_balance(kv, promoter, credited)?
                .ok_or_else(|| format!("the balance of promoter {promoter} would overflow"))?;
            ledger::append(
                kv,
                promoter,
                &Entry {
                    at: now_ms,
                    order_no: payload.order_no.clone(),
                    kind: ledger::COMMISSION.to_owned(),
                    change: credited,
                    balance,
                    ..Entry::default()
                },
            )?;
            perf::change(kv, &month, Role::Promoter, promoter, |perf| {
                perf.commission_fen = perf.commission_fen.saturating_add(credited);
            })?;
            kv.emit(
                COMMISSION_CREDITED,
                &json!({
                    "user_id": promoter,
                    "amount_fen": credited,
                    // As the notice and a WeChat template's amount show it: ¥30.00.
                    "amount": pifa_sdk::input::yuan(credited),
                    "order_no": payload.order_no,
                    "text": settings.notice_text(&payload.order_no, credited, payload.member_id),
                }),
            )?;
        }
    }
    kv.put_json(
        &order_key(order_id),
        &OrderRecord {
            order_no: payload.order_no.clone(),
            member: payload.member_id,
            promoter: payload.promoter_id,
            manager: payload.manager_id,
            completed: true,
            month,
            total,
            commission,
            reversed,
            owed: 0,
            refunded,
        },
    )?;
    Ok(Outcome::Completed {
        commission_fen: credited,
    })
}

fn refund(
    kv: &mut impl Kv,
    now_ms: i64,
    order_id: i64,
    payload: &OrderPayload,
) -> Result<Outcome, String> {
    let mut record = match load_order(kv, order_id) {
        Some(record) => record,
        None if payload.promoter_id.is_none() && payload.manager_id.is_none() => {
            return Ok(Outcome::Ignored(
                "the order has neither promoter nor manager",
            ));
        }
        None => OrderRecord {
            order_no: payload.order_no.clone(),
            ..OrderRecord::default()
        },
    };
    let refunded_total = payload.refunded_total_fen.unwrap_or_else(|| {
        record
            .refunded
            .saturating_add(payload.refunded_fen.unwrap_or(0).max(0))
    });
    if !record.completed {
        // Not counted yet: remember the refund, so completion counts what is left.
        if refunded_total <= record.refunded {
            return Ok(Outcome::Ignored(
                "nothing refunded beyond what was recorded",
            ));
        }
        record.refunded = refunded_total;
        kv.put_json(&order_key(order_id), &record)?;
        return Ok(Outcome::RefundNoted);
    }
    let refunded = refunded_total.clamp(record.refunded, record.total);
    let sales_fen = refunded - record.refunded;
    let due = reversal(record.commission, refunded, record.total) - record.reversed;
    if sales_fen <= 0 && due <= 0 {
        return Ok(Outcome::Ignored(
            "nothing refunded beyond what was recorded",
        ));
    }
    let month = record.month.clone();
    for (role, user) in [
        (Role::Promoter, record.promoter),
        (Role::Manager, record.manager),
    ] {
        if let Some(user) = user {
            perf::change(kv, &month, role, user, |perf| {
                perf.sales_fen = perf.sales_fen.saturating_sub(sales_fen).max(0);
                if role == Role::Promoter && due > 0 {
                    perf.commission_fen = perf.commission_fen.saturating_sub(due).max(0);
                }
            })?;
        }
    }
    let (mut taken, mut owed) = (0, 0);
    if let (Some(promoter), true) = (record.promoter, due > 0) {
        // Never below 0: take what the balance holds now (a payout may have emptied it) and
        // note the rest as owed. Should a payout commit in between, the bound breaks at commit
        // and the event comes again, to read the new balance.
        let balance_before = ledger::balance(kv, promoter);
        taken = due.min(balance_before.max(0));
        owed = due - taken;
        let balance = match taken {
            0 => balance_before,
            _ => ledger::move_balance(kv, promoter, -taken)?
                .ok_or_else(|| format!("the balance of promoter {promoter} changed meanwhile"))?,
        };
        if owed > 0 {
            kv.add_bounded(&owed_key(promoter), owed, 0, i64::MAX)?
                .ok_or_else(|| {
                    format!("the owed commission of promoter {promoter} would overflow")
                })?;
        }
        let note = if owed > 0 {
            format!("可提现佣金不足，{}待扣回", pifa_sdk::input::yuan(owed))
        } else {
            String::new()
        };
        ledger::append(
            kv,
            promoter,
            &Entry {
                at: now_ms,
                order_no: record.order_no.clone(),
                kind: ledger::REFUND_REVERSAL.to_owned(),
                change: -taken,
                balance,
                payout_id: None,
                note,
            },
        )?;
        record.reversed += due;
        record.owed += owed;
    }
    record.refunded = refunded;
    kv.put_json(&order_key(order_id), &record)?;
    Ok(Outcome::Refunded {
        sales_fen,
        reversed_fen: taken,
        owed_fen: owed,
    })
}

#[cfg(test)]
mod tests {
    use pifa_sdk::MemoryKv;
    use serde_json::{Value, json};

    use super::*;
    use crate::perf::{ALL, load};

    /// 2026-05-10 10:00 in the shop.
    const MAY: i64 = 1_778_378_400_000;
    /// 2026-06-02 10:00 in the shop.
    const JUNE: i64 = 1_780_365_600_000;

    fn event(id: i64, kind: &str, now_ms: i64, payload: Value) -> Event {
        Event {
            id,
            kind: kind.to_owned(),
            order_id: payload["order_id"].as_i64(),
            payload,
            reservations: vec![],
            now_ms,
            settings: json!({}),
        }
    }

    /// Order 100 of member 42, brought by promoter 7, served by manager 5: ¥1,000.00 of goods
    /// (product 11 in category 3) and a gift.
    fn order(extra: Value) -> Value {
        let mut payload = json!({
            "order_id": 100, "order_no": "P100", "status": "completed", "region_id": 1,
            "member_id": 42, "manager_id": 5, "promoter_id": 7, "level_id": 2,
            "total_fen": 100_000,
            "lines": [
                {"line_no": 1, "sku_id": 1, "product_id": 11, "qty": 10, "line_total_fen": 100_000,
                 "category_ids": [3, 1], "brand_id": null, "gift": false},
                {"line_no": 2, "sku_id": 9, "product_id": 12, "qty": 1, "line_total_fen": 0,
                 "category_ids": [], "brand_id": null, "gift": true}
            ]
        });
        for (key, value) in extra.as_object().into_iter().flatten() {
            payload[key] = value.clone();
        }
        payload
    }

    fn refunded(total: i64) -> Value {
        order(json!({"status": "completed", "refunded_fen": 0, "refunded_total_fen": total}))
    }

    /// I2: the commission is credited once, with its ledger entry and notice, even when the
    /// same order completes twice under two event ids.
    #[test]
    fn commission_is_credited_once_per_order() {
        let mut kv = MemoryKv::default();
        let first = on_event(&mut kv, &event(1, ORDER_COMPLETED, MAY, order(json!({})))).unwrap();
        assert_eq!(
            first,
            Outcome::Completed {
                commission_fen: 3_000
            },
            "3 % of ¥1,000.00"
        );
        let again = on_event(&mut kv, &event(2, ORDER_COMPLETED, MAY, order(json!({})))).unwrap();
        assert_eq!(again, Outcome::Ignored("the order was already counted"));

        assert_eq!(ledger::balance(&kv, 7), 3_000);
        let entries = ledger::latest(&kv, 7, 50);
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (
                entries[0].kind.as_str(),
                entries[0].change,
                entries[0].balance,
                entries[0].order_no.as_str()
            ),
            ("佣金", 3_000, 3_000, "P100")
        );
        assert_eq!(kv.emitted.len(), 1);
        let (kind, notice) = &kv.emitted[0];
        assert_eq!(kind, COMMISSION_CREDITED);
        assert_eq!(
            notice,
            &json!({"user_id": 7, "amount_fen": 3_000, "amount": "¥30.00", "order_no": "P100",
                    "text": "您推广的客户订单P100已完成，佣金¥30.00已入账。"})
        );
        let promoter = load(&kv, "2026-05", Role::Promoter, 7);
        assert_eq!(
            promoter,
            perf::Perf {
                customers: 1,
                orders: 1,
                sales_fen: 100_000,
                commission_fen: 3_000
            }
        );
        assert_eq!(load(&kv, ALL, Role::Promoter, 7), promoter);
        let manager = load(&kv, "2026-05", Role::Manager, 5);
        assert_eq!(
            (manager.customers, manager.orders, manager.sales_fen),
            (1, 1, 100_000)
        );
        assert_eq!(perf::team(&kv, 5, 10), vec![7]);
        let record = load_order(&kv, 100).unwrap();
        assert_eq!(
            (record.promoter, record.commission, record.total),
            (Some(7), 3_000, 100_000)
        );
    }

    #[test]
    fn rates_and_the_notice_come_from_storage_and_settings() {
        let mut kv = MemoryKv::default();
        Rates {
            levels: [(2, 500)].into(),
            ..Rates::default()
        }
        .save(&mut kv)
        .unwrap();
        let mut completed = event(1, ORDER_COMPLETED, MAY, order(json!({})));
        completed.settings =
            json!({"notice": "客户{customer}：{order_no} +{amount}", "default_rate_bp": 100});
        assert_eq!(
            on_event(&mut kv, &completed).unwrap(),
            Outcome::Completed {
                commission_fen: 5_000
            },
            "the level's 5 % over the default 1 %"
        );
        assert_eq!(kv.emitted[0].1["text"], "客户42：P100 +¥50.00");
    }

    #[test]
    fn an_order_without_promoter_counts_for_its_manager_alone() {
        let mut kv = MemoryKv::default();
        let payload = order(json!({"promoter_id": null}));
        assert_eq!(
            on_event(&mut kv, &event(1, ORDER_COMPLETED, MAY, payload)).unwrap(),
            Outcome::Completed { commission_fen: 0 }
        );
        assert!(kv.emitted.is_empty());
        assert_eq!(load(&kv, ALL, Role::Manager, 5).orders, 1);
        assert_eq!(load(&kv, ALL, Role::Promoter, 7), perf::Perf::default());
        assert_eq!(perf::team(&kv, 5, 10), Vec::<i64>::new());
        let nobody = order(json!({"order_id": 101, "promoter_id": null, "manager_id": null}));
        assert_eq!(
            on_event(&mut kv, &event(2, ORDER_COMPLETED, MAY, nobody)).unwrap(),
            Outcome::Ignored("the order has neither promoter nor manager")
        );
        assert!(load_order(&kv, 101).is_none());
    }

    #[test]
    fn other_events_and_odd_payloads_are_left_alone() {
        let mut kv = MemoryKv::default();
        for event in [
            event(1, "order.placed", MAY, order(json!({}))),
            event(2, ORDER_COMPLETED, MAY, json!("text")),
            event(3, ORDER_COMPLETED, MAY, json!({"order_no": "X"})),
        ] {
            assert!(matches!(
                on_event(&mut kv, &event).unwrap(),
                Outcome::Ignored(_)
            ));
        }
        assert!(kv.values.is_empty() && kv.counters.is_empty());
    }

    /// I2: a refund takes back its share of the commission from the balance, once, and lowers
    /// the sales of the month the order completed in.
    #[test]
    fn a_refund_reverses_its_share_of_the_commission() {
        let mut kv = MemoryKv::default();
        on_event(&mut kv, &event(1, ORDER_COMPLETED, MAY, order(json!({})))).unwrap();
        // ¥250.00 of ¥1,000.00 refunded in June: a quarter of ¥30.00.
        let first = on_event(&mut kv, &event(2, ORDER_REFUNDED, JUNE, refunded(25_000))).unwrap();
        assert_eq!(
            first,
            Outcome::Refunded {
                sales_fen: 25_000,
                reversed_fen: 750,
                owed_fen: 0
            }
        );
        // Delivered again under another id: nothing new.
        let again = on_event(&mut kv, &event(3, ORDER_REFUNDED, JUNE, refunded(25_000))).unwrap();
        assert!(matches!(again, Outcome::Ignored(_)));
        assert_eq!(ledger::balance(&kv, 7), 2_250);
        let newest = &ledger::latest(&kv, 7, 1)[0];
        assert_eq!(
            (newest.kind.as_str(), newest.change, newest.balance),
            ("退款扣回", -750, 2_250)
        );
        let may = load(&kv, "2026-05", Role::Promoter, 7);
        assert_eq!(
            (may.sales_fen, may.commission_fen, may.orders),
            (75_000, 2_250, 1)
        );
        assert_eq!(
            load(&kv, "2026-06", Role::Promoter, 7),
            perf::Perf::default()
        );
        assert_eq!(load(&kv, ALL, Role::Manager, 5).sales_fen, 75_000);

        // The rest refunded: everything is back, exactly.
        let all = on_event(&mut kv, &event(4, ORDER_REFUNDED, JUNE, refunded(100_000))).unwrap();
        assert_eq!(
            all,
            Outcome::Refunded {
                sales_fen: 75_000,
                reversed_fen: 2_250,
                owed_fen: 0
            }
        );
        assert_eq!(ledger::balance(&kv, 7), 0);
        let record = load_order(&kv, 100).unwrap();
        assert_eq!(
            (record.reversed, record.owed, record.refunded),
            (3_000, 0, 100_000)
        );
        assert_eq!(load(&kv, ALL, Role::Promoter, 7).commission_fen, 0);
    }

    /// I2: the balance never goes below 0; what it cannot give back is recorded as owed.
    #[test]
    fn a_refund_takes_no_more_than_the_balance_and_records_the_rest_as_owed() {
        let mut kv = MemoryKv::default();
        on_event(&mut kv, &event(1, ORDER_COMPLETED, MAY, order(json!({})))).unwrap();
        // Most of it was paid out meanwhile.
        ledger::move_balance(&mut kv, 7, -2_800).unwrap();
        let outcome = on_event(&mut kv, &event(2, ORDER_REFUNDED, JUNE, refunded(50_000))).unwrap();
        assert_eq!(
            outcome,
            Outcome::Refunded {
                sales_fen: 50_000,
                reversed_fen: 200,
                owed_fen: 1_300
            }
        );
        assert_eq!(ledger::balance(&kv, 7), 0);
        assert_eq!(kv.counter("owed:7"), 1_300);
        let newest = &ledger::latest(&kv, 7, 1)[0];
        assert_eq!((newest.change, newest.balance), (-200, 0));
        assert_eq!(newest.note, "可提现佣金不足，¥13.00待扣回");
        let record = load_order(&kv, 100).unwrap();
        assert_eq!((record.reversed, record.owed), (1_500, 1_300));
        // Nothing left to take: the next reversal is owed whole, with a ledger line saying so.
        on_event(&mut kv, &event(3, ORDER_REFUNDED, JUNE, refunded(60_000))).unwrap();
        assert_eq!(kv.counter("owed:7"), 1_600);
        assert_eq!(ledger::latest(&kv, 7, 1)[0].change, 0);
        assert_eq!(ledger::balance(&kv, 7), 0);
    }

    #[test]
    fn a_refund_before_completion_is_off_what_completion_counts() {
        let mut kv = MemoryKv::default();
        let early = order(
            json!({"status": "confirmed", "refunded_fen": 20_000, "refunded_total_fen": 20_000}),
        );
        assert_eq!(
            on_event(&mut kv, &event(1, ORDER_REFUNDED, MAY, early)).unwrap(),
            Outcome::RefundNoted
        );
        assert_eq!(ledger::balance(&kv, 7), 0);
        assert_eq!(
            on_event(&mut kv, &event(2, ORDER_COMPLETED, MAY, order(json!({})))).unwrap(),
            Outcome::Completed {
                commission_fen: 2_400
            },
            "3 % of the ¥800.00 kept"
        );
        assert_eq!(load(&kv, ALL, Role::Promoter, 7).sales_fen, 80_000);
        let record = load_order(&kv, 100).unwrap();
        assert_eq!(
            (record.commission, record.reversed, record.refunded),
            (3_000, 600, 20_000)
        );
        // A later refund takes back only its own share.
        on_event(&mut kv, &event(3, ORDER_REFUNDED, JUNE, refunded(30_000))).unwrap();
        assert_eq!(ledger::balance(&kv, 7), 2_100);
    }

    #[test]
    fn a_refund_of_an_order_nobody_brought_is_ignored() {
        let mut kv = MemoryKv::default();
        let payload =
            order(json!({"promoter_id": null, "manager_id": null, "refunded_total_fen": 5}));
        assert!(matches!(
            on_event(&mut kv, &event(1, ORDER_REFUNDED, MAY, payload)).unwrap(),
            Outcome::Ignored(_)
        ));
        assert!(kv.values.is_empty());
    }

    /// The kernel allows 100 writes a call; an event of this plugin needs a handful, whatever
    /// the order holds (the ledger's pruning included).
    #[test]
    fn an_event_stays_well_within_the_write_quota() {
        let mut kv = MemoryKv::default();
        kv.counters
            .insert("ledger-seq:7".to_owned(), ledger::MAX_ENTRIES);
        let mut lines = Vec::new();
        for n in 1..=200 {
            lines.push(json!({"product_id": n, "category_ids": [1, 2], "line_total_fen": 100, "gift": false}));
        }
        kv.writes_left = Some(16);
        on_event(
            &mut kv,
            &event(1, ORDER_COMPLETED, MAY, order(json!({"lines": lines}))),
        )
        .unwrap();
        assert_eq!(ledger::balance(&kv, 7), 600);
        kv.writes_left = Some(11);
        on_event(&mut kv, &event(2, ORDER_REFUNDED, JUNE, refunded(100_000))).unwrap();
        assert_eq!(kv.counter("owed:7"), 0);
        assert_eq!(ledger::balance(&kv, 7), 0);
    }

    #[test]
    fn reversal_is_proportional_and_never_more_than_the_commission() {
        assert_eq!(reversal(3_000, 25_000, 100_000), 750);
        assert_eq!(reversal(1, 1, 3), 0);
        assert_eq!(reversal(3_000, 200_000, 100_000), 3_000);
        assert_eq!(reversal(3_000, 5, 0), 0);
        assert_eq!(reversal(i64::MAX, i64::MAX - 1, i64::MAX), i64::MAX - 1);
    }
}
