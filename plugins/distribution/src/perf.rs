//! Performance (I1, 经理业绩): per promoter and per manager, per shop month (`YYYY-MM` of the
//! event's time in the shop's time zone) and in all: customers (distinct members who ordered),
//! orders completed, sales (completed orders' totals minus what was refunded of them) and,
//! for promoters, the commission they earned net of reversals.
//!
//! A figure belongs to the month the order completed: a refund a month later lowers that
//! month's sales, so a month's sales are what its orders finally came to. Only events write
//! these records, and the kernel delivers a plugin's events one after another, so a
//! read-modify-write of one JSON value is safe here (the balance, which routes move too, is a
//! bounded counter instead).

use pifa_sdk::Kv;
use serde::{Deserialize, Serialize};

use crate::store::Role;

/// The period `perf:all:…` keeps everything in.
pub const ALL: &str = "all";
/// People of one role listed in one month's performance table: what a route's default fuel
/// (2,000,000) reads, parses and answers comfortably (a shop with more raises `route_fuel`
/// and this bound together).
pub const MAX_LISTED: usize = 300;
const SCAN_PAGE: u32 = 200;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Perf {
    #[serde(default)]
    pub customers: i64,
    #[serde(default)]
    pub orders: i64,
    #[serde(default)]
    pub sales_fen: i64,
    /// Promoters only: commission credited minus what refunds reversed.
    #[serde(default)]
    pub commission_fen: i64,
}

/// When a member was last counted as someone's customer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    month: String,
}

pub fn perf_key(period: &str, role: Role, user: i64) -> String {
    format!("perf:{period}:{}:{user:010}", role.as_str())
}

fn seen_key(role: Role, user: i64, member: i64) -> String {
    format!("seen:{}:{user}:{member}", role.as_str())
}

pub fn team_prefix(manager: i64) -> String {
    format!("team:{manager:010}:")
}

fn team_key(manager: i64, promoter: i64) -> String {
    format!("{}{promoter:010}", team_prefix(manager))
}

/// The shop month of `now_ms`: `2026-05`.
pub fn month_of(now_ms: i64) -> String {
    pifa_sdk::input::local_date(now_ms)
        .chars()
        .take(7)
        .collect()
}

/// Whether `text` is a month as [`month_of`] writes it (`2026-05`).
pub fn is_month(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 7
        && bytes.iter().enumerate().all(|(i, b)| {
            if i == 4 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
        && text
            .get(5..7)
            .and_then(|m| m.parse::<u8>().ok())
            .is_some_and(|m| (1..=12).contains(&m))
}

/// The month before `month` (`2026-01` → `2025-12`); itself when it is not a month.
pub fn previous_month(month: &str) -> String {
    let parsed = month
        .split_once('-')
        .and_then(|(y, m)| Some((y.parse::<i64>().ok()?, m.parse::<i64>().ok()?)));
    match parsed {
        Some((year, 1)) => format!("{:04}-12", year - 1),
        Some((year, m)) => format!("{year:04}-{:02}", m - 1),
        None => month.to_owned(),
    }
}

pub fn load(kv: &impl Kv, period: &str, role: Role, user: i64) -> Perf {
    kv.get_json(&perf_key(period, role, user))
        .unwrap_or_default()
}

/// Changes the month's and the all-time record of one person alike.
pub fn change(
    kv: &mut impl Kv,
    month: &str,
    role: Role,
    user: i64,
    how: impl Fn(&mut Perf),
) -> Result<(), String> {
    for period in [month, ALL] {
        let mut perf = load(kv, period, role, user);
        how(&mut perf);
        kv.put_json(&perf_key(period, role, user), &perf)?;
    }
    Ok(())
}

/// One completed order for `user` in `role`: an order more, `sales_fen` more, and the member
/// a customer more in the month and in all unless already counted there.
pub fn count_order(
    kv: &mut impl Kv,
    role: Role,
    user: i64,
    member: Option<i64>,
    month: &str,
    sales_fen: i64,
) -> Result<(), String> {
    let (new_in_all, new_in_month) = match member {
        Some(member) => {
            let key = seen_key(role, user, member);
            let seen: Option<Seen> = kv.get_json(&key);
            let new_in_month = seen.as_ref().is_none_or(|seen| seen.month != month);
            if new_in_month {
                kv.put_json(
                    &key,
                    &Seen {
                        month: month.to_owned(),
                    },
                )?;
            }
            (seen.is_none(), new_in_month)
        }
        None => (false, false),
    };
    for (period, new_customer) in [(month, new_in_month), (ALL, new_in_all)] {
        let mut perf = load(kv, period, role, user);
        perf.orders = perf.orders.saturating_add(1);
        perf.sales_fen = perf.sales_fen.saturating_add(sales_fen);
        if new_customer {
            perf.customers = perf.customers.saturating_add(1);
        }
        kv.put_json(&perf_key(period, role, user), &perf)?;
    }
    Ok(())
}

/// Notes that `promoter`'s orders name `manager`, so the manager's team lists him.
pub fn join_team(kv: &mut impl Kv, manager: i64, promoter: i64, now_ms: i64) -> Result<(), String> {
    let key = team_key(manager, promoter);
    if kv.get(&key).is_none() {
        kv.put_json(&key, &serde_json::json!({ "since": now_ms }))?;
    }
    Ok(())
}

/// The manager's promoters, in id order, at most `most`.
pub fn team(kv: &impl Kv, manager: i64, most: usize) -> Vec<i64> {
    let prefix = team_prefix(manager);
    kv.keys(&prefix, SCAN_PAGE, most)
        .iter()
        .filter_map(|key| key.strip_prefix(&prefix)?.parse().ok())
        .collect()
}

/// Everyone in `role` with a record in `period`, in user id order.
pub fn list(kv: &impl Kv, period: &str, role: Role) -> Vec<(i64, Perf)> {
    let prefix = format!("perf:{period}:{}:", role.as_str());
    kv.scan_json::<Perf>(&prefix, SCAN_PAGE, MAX_LISTED)
        .into_iter()
        .filter_map(|(key, perf)| Some((key.strip_prefix(&prefix)?.parse().ok()?, perf)))
        .collect()
}

#[cfg(test)]
mod tests {
    use pifa_sdk::MemoryKv;

    use super::*;

    #[test]
    fn months_are_the_shop_s_and_step_back_across_a_year() {
        // 2026-04-30 16:30 UTC is 2026-05-01 00:30 in the shop.
        assert_eq!(month_of(1_777_566_600_000), "2026-05");
        assert_eq!(month_of(1_777_566_600_000 - 3_600_000), "2026-04");
        assert_eq!(previous_month("2026-01"), "2025-12");
        assert_eq!(previous_month("2026-11"), "2026-10");
        assert!(is_month("2026-05") && is_month("1999-12"));
        for wrong in [
            "2026-13", "2026-00", "2026-5", "2026/05", "abcd-ef", "2026-05x",
        ] {
            assert!(!is_month(wrong), "{wrong}");
        }
    }

    /// I1: a member who orders again counts once as a customer, in the month and in all; in a
    /// new month he is that month's customer again.
    #[test]
    fn a_customer_counts_once_however_often_he_orders() {
        let mut kv = MemoryKv::default();
        count_order(&mut kv, Role::Promoter, 7, Some(42), "2026-05", 10_000).unwrap();
        count_order(&mut kv, Role::Promoter, 7, Some(42), "2026-05", 5_000).unwrap();
        count_order(&mut kv, Role::Promoter, 7, Some(43), "2026-05", 1).unwrap();
        let may = load(&kv, "2026-05", Role::Promoter, 7);
        assert_eq!(
            may,
            Perf {
                customers: 2,
                orders: 3,
                sales_fen: 15_001,
                commission_fen: 0
            }
        );
        count_order(&mut kv, Role::Promoter, 7, Some(42), "2026-06", 2_000).unwrap();
        assert_eq!(load(&kv, "2026-06", Role::Promoter, 7).customers, 1);
        let all = load(&kv, ALL, Role::Promoter, 7);
        assert_eq!((all.customers, all.orders, all.sales_fen), (2, 4, 17_001));
        // The same member is a customer of the manager too, counted on the manager's own.
        count_order(&mut kv, Role::Manager, 7, Some(42), "2026-06", 2_000).unwrap();
        assert_eq!(load(&kv, ALL, Role::Manager, 7).customers, 1);
        // No member id: the order counts, no customer does.
        count_order(&mut kv, Role::Manager, 8, None, "2026-06", 5).unwrap();
        assert_eq!(load(&kv, ALL, Role::Manager, 8).customers, 0);
        assert_eq!(load(&kv, ALL, Role::Manager, 8).orders, 1);
    }

    #[test]
    fn lists_and_teams_come_in_id_order() {
        let mut kv = MemoryKv::default();
        for user in [12, 3] {
            count_order(&mut kv, Role::Promoter, user, Some(1), "2026-05", 100).unwrap();
        }
        count_order(&mut kv, Role::Manager, 5, Some(1), "2026-05", 100).unwrap();
        let promoters: Vec<i64> = list(&kv, "2026-05", Role::Promoter)
            .iter()
            .map(|(u, _)| *u)
            .collect();
        assert_eq!(promoters, vec![3, 12]);
        assert_eq!(list(&kv, "2026-04", Role::Promoter), vec![]);
        assert_eq!(list(&kv, "2026-05", Role::Manager).len(), 1);
        join_team(&mut kv, 5, 12, 0).unwrap();
        join_team(&mut kv, 5, 3, 0).unwrap();
        join_team(&mut kv, 5, 3, 1).unwrap();
        join_team(&mut kv, 50, 4, 0).unwrap();
        assert_eq!(team(&kv, 5, 100), vec![3, 12]);
        assert_eq!(team(&kv, 5, 1), vec![3]);
    }
}
