//! The schedule (`on-tick`, once a minute, REQUIREMENTS H2): lots whose time has come expire
//! (oldest first; 「过期积分将自动清零」), members whose points expire within `remind_days` are
//! told once (`points_expiring`, K1's 积分到期提醒), and records of old orders are pruned.
//!
//! The work per tick is bounded by the per-call write quota (100): at most [`MAX_LOTS`] lots
//! are looked at and at most [`WRITE_BUDGET`] writes made; the rest waits for the next tick.
//! Reminders go forward from a cursor (`remind-cursor`, the last lot key looked at), so a lot is
//! reminded of once however many ticks see it inside the window.

use std::collections::BTreeMap;

use serde_json::json;

use pifa_sdk::{Emit, Kv};

use crate::account::{self, LOT_PREFIX, Lot};
use crate::events;
use crate::settings::Settings;

/// Lots looked at per tick (expired and reminded together).
pub const MAX_LOTS: usize = 40;
/// Writes per tick, below the default `kv_writes_per_call` (100).
pub const WRITE_BUDGET: usize = 90;
/// The most an expired lot costs: 2 deletes, the balance, the ledger (sequence, entry, the old
/// entry deleted), `expired_to` and the statistic.
const EXPIRY_WRITES: usize = 8;
/// Members reminded per tick (each one event in the outbox).
pub const MAX_REMINDERS: usize = 10;
const CURSOR_KEY: &str = "remind-cursor";
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    pub lots_expired: usize,
    pub points_expired: i64,
    pub members_reminded: usize,
    pub records_pruned: usize,
}

pub fn tick(kv: &mut (impl Kv + Emit), now: i64) -> Result<TickReport, String> {
    let settings = Settings::remembered(kv);
    let mut report = TickReport::default();
    let mut writes = 0_usize;
    let mut looked = 0_usize;

    // Expiry: the lots are in expiry order and an expired lot is deleted, so the due ones are
    // always the first.
    for (key, bytes) in kv.scan(LOT_PREFIX, None, MAX_LOTS as u32) {
        let Ok(lot) = serde_json::from_slice::<Lot>(&bytes) else {
            // Only this plugin writes lots; one that does not parse would block the queue.
            kv.delete(&key)?;
            writes += 1;
            continue;
        };
        if lot.expires_at > now || writes + EXPIRY_WRITES > WRITE_BUDGET {
            break;
        }
        report.points_expired = report
            .points_expired
            .saturating_add(account::expire_lot(kv, &lot, now)?);
        report.lots_expired += 1;
        writes += EXPIRY_WRITES;
        looked += 1;
    }

    // Reminders: the lots after the cursor that expire within the window.
    if settings.remind_days > 0 && writes < WRITE_BUDGET {
        let until = now.saturating_add(settings.remind_days.saturating_mul(DAY_MS));
        let cursor: Option<String> = kv
            .get(CURSOR_KEY)
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let mut moved_to: Option<String> = None;
        // Per member: points, the first expiry.
        let mut due: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        let page = MAX_LOTS.saturating_sub(looked).max(1) as u32;
        for (key, bytes) in kv.scan(LOT_PREFIX, cursor.as_deref(), page) {
            let Ok(lot) = serde_json::from_slice::<Lot>(&bytes) else {
                moved_to = Some(key);
                continue;
            };
            if lot.expires_at > until {
                break;
            }
            // Due already (the expiry above will reach it): a reminder is too late.
            if lot.expires_at > now {
                let left = lot.remaining(account::frontier(kv, lot.member).1);
                if left > 0 {
                    if !due.contains_key(&lot.member) && due.len() >= MAX_REMINDERS {
                        break;
                    }
                    let entry = due.entry(lot.member).or_insert((0, lot.expires_at));
                    entry.0 = entry.0.saturating_add(left);
                }
            }
            moved_to = Some(key);
        }
        for (member, (points, first)) in &due {
            kv.emit(
                "points_expiring",
                &json!({
                    "member_id": member,
                    "points": points,
                    "expires_at": first,
                    "text": format!("您有{points}积分将于{}过期，请及时使用。", account::last_day(*first)),
                }),
            )?;
        }
        report.members_reminded = due.len();
        if let Some(key) = moved_to {
            kv.put(CURSOR_KEY, key.as_bytes())?;
            writes += 1;
        }
    }

    if writes < WRITE_BUDGET {
        report.records_pruned = events::prune(kv, now, (WRITE_BUDGET - writes).min(20))?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use pifa_sdk::MemoryKv;
    use serde_json::Value;

    use super::*;
    use crate::account::tests::at;
    use crate::account::{add_points, balance, balance_key, ledger};
    use crate::stats;

    fn earn(kv: &mut MemoryKv, member: i64, points: i64, when: &str) {
        add_points(
            kv,
            member,
            points,
            at(when),
            Settings::default(),
            "订单1完成",
            "",
        )
        .unwrap();
    }

    fn texts(kv: &MemoryKv) -> Vec<(String, Value)> {
        kv.emitted
            .iter()
            .map(|(kind, p)| (kind.clone(), p["text"].clone()))
            .collect()
    }

    #[test]
    fn points_are_reminded_of_before_and_expire_oldest_first_after_a_year() {
        let mut kv = MemoryKv::default();
        earn(&mut kv, 42, 100, "2026-01-10T10:00");
        earn(&mut kv, 42, 50, "2026-03-10T10:00");
        earn(&mut kv, 7, 20, "2026-01-20T10:00");
        // 60 spent: from the January lot (oldest first).
        kv.counters.insert(balance_key(42), 90);

        // A month on nothing is due.
        let report = tick(&mut kv, at("2026-02-10")).unwrap();
        assert_eq!(report, TickReport::default());

        // Within 30 days of the first expiry: member 42 is told, 7 (expiring later) not yet.
        let report = tick(&mut kv, at("2026-12-15T09:00")).unwrap();
        assert_eq!(report.members_reminded, 1);
        assert_eq!(
            texts(&kv),
            vec![(
                "points_expiring".to_owned(),
                json!("您有40积分将于2027-01-09过期，请及时使用。")
            )]
        );
        assert_eq!(kv.emitted[0].1["member_id"], 42);
        assert_eq!(kv.emitted[0].1["points"], 40);
        assert_eq!(kv.emitted[0].1["expires_at"], at("2027-01-10"));
        // Reminded once: ten days on only member 7 is told.
        let report = tick(&mut kv, at("2026-12-25T09:00")).unwrap();
        assert_eq!(report.members_reminded, 1);
        assert_eq!(
            kv.emitted[1].1["text"],
            "您有20积分将于2027-01-19过期，请及时使用。"
        );
        assert_eq!(
            tick(&mut kv, at("2026-12-25T09:01"))
                .unwrap()
                .members_reminded,
            0
        );
        assert_eq!(kv.emitted.len(), 2);

        // Thirteen months on: the January lots expired, the March one is left (and now
        // within its own reminder window).
        let report = tick(&mut kv, at("2027-02-10")).unwrap();
        assert_eq!((report.lots_expired, report.points_expired), (2, 60));
        assert_eq!(balance(&kv, 42), 50);
        assert_eq!(balance(&kv, 7), 0);
        let entry = &ledger(&kv, 42, 1)[0];
        assert_eq!(
            (entry.source.as_str(), entry.change, entry.balance),
            ("积分过期", -40, 50)
        );
        assert_eq!(stats::read(&kv).expired, 60);
        assert_eq!(report.members_reminded, 1);
        assert_eq!(
            texts(&kv).last().map(|t| t.1.clone()),
            Some(json!("您有50积分将于2027-03-09过期，请及时使用。"))
        );
        let report = tick(&mut kv, at("2027-04-10")).unwrap();
        assert_eq!(report.points_expired, 50);
        assert_eq!(balance(&kv, 42), 0);
        assert!(kv.keys(LOT_PREFIX, 10, 10).is_empty());
    }

    #[test]
    fn a_lot_spent_entirely_expires_without_a_word() {
        let mut kv = MemoryKv::default();
        earn(&mut kv, 42, 100, "2026-01-10T10:00");
        kv.counters.insert(balance_key(42), 0);
        assert_eq!(tick(&mut kv, at("2026-12-20")).unwrap().members_reminded, 0);
        let report = tick(&mut kv, at("2027-02-01")).unwrap();
        assert_eq!((report.lots_expired, report.points_expired), (1, 0));
        assert!(kv.emitted.is_empty());
        assert_eq!(ledger(&kv, 42, 5).len(), 1, "no 积分过期 entry for nothing");
    }

    #[test]
    fn a_tick_stays_within_its_write_budget_and_the_rest_waits() {
        let mut kv = MemoryKv::default();
        for member in 1..=30 {
            earn(&mut kv, member, 10, "2026-01-10T10:00");
        }
        kv.writes_left = Some(100);
        let first = tick(&mut kv, at("2027-02-01")).unwrap();
        assert_eq!(first.lots_expired, WRITE_BUDGET / EXPIRY_WRITES);
        kv.writes_left = Some(100);
        let second = tick(&mut kv, at("2027-02-01")).unwrap();
        assert_eq!(second.lots_expired, WRITE_BUDGET / EXPIRY_WRITES);
        for _ in 0..2 {
            kv.writes_left = Some(100);
            tick(&mut kv, at("2027-02-01")).unwrap();
        }
        assert!(kv.keys(LOT_PREFIX, 10, 10).is_empty());
        assert_eq!(stats::read(&kv).expired, 300);
    }

    #[test]
    fn reminders_follow_the_settings_an_event_left() {
        let mut kv = MemoryKv::default();
        earn(&mut kv, 42, 100, "2026-01-10T10:00");
        Settings {
            remind_days: 0,
            ..Settings::default()
        }
        .remember(&mut kv)
        .unwrap();
        assert_eq!(tick(&mut kv, at("2027-01-05")).unwrap().members_reminded, 0);
        Settings {
            remind_days: 3,
            ..Settings::default()
        }
        .remember(&mut kv)
        .unwrap();
        assert_eq!(tick(&mut kv, at("2027-01-05")).unwrap().members_reminded, 0);
        assert_eq!(tick(&mut kv, at("2027-01-08")).unwrap().members_reminded, 1);
    }
}
