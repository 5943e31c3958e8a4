//! A member's points (REQUIREMENTS H1, H2): the balance, the ledger (积分明细: time, source,
//! change, balance) and the lots that expire oldest first.
//!
//! Storage, per member `m`:
//! - counter `balance:<m>`: the spendable truth. Checkout reservations move it inside the
//!   order's transaction (never spent twice); everything here moves it with bounded adds.
//! - counter `lotted:<m>`: every point ever put into a lot (earned or added by staff).
//! - counter `expired_to:<m>`: where the lots expired so far end (see below).
//! - counter `lseq:<m>`: the member's sequence, claimed with a compare-and-set bound, so two
//!   calls for the same member cannot both write entry N (one of them is answered
//!   `changed_meanwhile` and retried by the kernel or the caller). Ledger entries, lots and
//!   redemptions take their number from it.
//! - `ledger:<m:010>:<seq:012>`: a [`LedgerEntry`]; the last [`LEDGER_KEEP`] are kept.
//! - `lot:<expires_at:013>:<m:010>:<seq:012>` (expiry order, for the tick) and
//!   `mlot:<m:010>:<expires_at:013>:<seq:012>` (the member's lots in order), the same [`Lot`];
//!   `lastlot:<m>` names the newest lot's `lot:` key.
//!
//! Lots are consumed oldest first *by position*: lot `i` holds the points
//! `[start, start + points)` of the member's running total `lotted`, and every point not in
//! the balance (`lotted − balance`, the *frontier*) is taken from the front. A spend, a
//! redemption, a reservation at checkout or an expiry moves the frontier by moving the balance
//! alone, so a spend writes one counter however many lots it drains (the per-call write quota
//! holds for a member with hundreds of lots), and a reservation the kernel applied at checkout
//! has already consumed the oldest lots before its `order.placed` arrives. A lot is immutable
//! once its day is over; it is deleted when it expires. Lots expire in the order they were
//! earned (a new lot never expires before the one before it, even after `expiry_months` is
//! shortened), so the front is always the oldest live lot.
//!
//! Points given back (an order closed, a redemption rejected) return to the front; those that
//! fall into lots already expired (`< expired_to`) are counted expired at once (H2: points do
//! not outlive their lot by being spent and refunded).

use serde::{Deserialize, Serialize};

use pifa_sdk::Kv;

use crate::settings::Settings;
use crate::stats;

/// Ledger entries kept per member (the newest); older ones are deleted as new ones come, so
/// the ledger is bounded. `GET /mine` shows the last 50.
pub const LEDGER_KEEP: i64 = 100;
/// A member's live lots read at most (a lot a day for `expiry_months`, with room).
pub const MAX_MEMBER_LOTS: usize = 1000;

pub const SOURCE_SPENT: &str = "积分抵扣";
pub const SOURCE_REDEEMED: &str = "兑换礼品";
pub const SOURCE_REDEEM_RETURNED: &str = "兑换退回";
pub const SOURCE_EXPIRED: &str = "积分过期";
pub const SOURCE_REVERSED: &str = "退款扣回";
pub const SOURCE_RETURNED: &str = "取消退回";
pub const SOURCE_ADJUSTED: &str = "管理员调整";

/// `订单20261201000012完成`.
pub fn source_completed(order_no: &str) -> String {
    format!("订单{order_no}完成")
}

pub fn balance_key(member: i64) -> String {
    format!("balance:{member}")
}
fn lotted_key(member: i64) -> String {
    format!("lotted:{member}")
}
fn expired_to_key(member: i64) -> String {
    format!("expired_to:{member}")
}
fn seq_key(member: i64) -> String {
    format!("lseq:{member}")
}
fn last_lot_key(member: i64) -> String {
    format!("lastlot:{member}")
}
pub fn ledger_prefix(member: i64) -> String {
    format!("ledger:{member:010}:")
}
fn ledger_key(member: i64, seq: i64) -> String {
    format!("ledger:{member:010}:{seq:012}")
}
pub const LOT_PREFIX: &str = "lot:";
pub fn lot_key(expires_at: i64, member: i64, seq: i64) -> String {
    format!("lot:{expires_at:013}:{member:010}:{seq:012}")
}
fn member_lot_key(expires_at: i64, member: i64, seq: i64) -> String {
    format!("mlot:{member:010}:{expires_at:013}:{seq:012}")
}
fn member_lot_prefix(member: i64) -> String {
    format!("mlot:{member:010}:")
}

/// The member id a reservation key (`balance:42`) names.
pub fn member_of_balance_key(key: &str) -> Option<i64> {
    key.strip_prefix("balance:")?
        .parse()
        .ok()
        .filter(|m| *m > 0)
}

/// One line of 积分明细.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub at: i64,
    /// 订单…完成, 积分抵扣, 兑换礼品, 积分过期, 退款扣回, 取消退回, 管理员调整, 兑换退回.
    pub source: String,
    /// Positive earned, negative spent.
    pub change: i64,
    /// The balance after it.
    pub balance: i64,
    /// What it was about: the order number, the gift, staff's reason.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// Points earned together that expire together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lot {
    pub member: i64,
    pub seq: i64,
    pub earned_at: i64,
    pub expires_at: i64,
    /// The points the lot was given.
    pub points: i64,
    /// Where it starts in the member's running total of lotted points.
    pub start: i64,
}

impl Lot {
    pub fn end(&self) -> i64 {
        self.start.saturating_add(self.points)
    }

    /// What is left of it with the member's frontier at `frontier`.
    pub fn remaining(&self, frontier: i64) -> i64 {
        self.end()
            .saturating_sub(frontier.max(self.start))
            .clamp(0, self.points)
    }

    pub fn key(&self) -> String {
        lot_key(self.expires_at, self.member, self.seq)
    }
}

pub fn balance(kv: &impl Kv, member: i64) -> i64 {
    kv.counter(&balance_key(member))
}

/// Points not in the balance: consumed (spent, redeemed, expired, reversed) or reserved.
/// Read the balance first: a change committed between the two reads then shows in a
/// compare-and-set on the balance, never as a frontier too far back.
pub fn frontier(kv: &impl Kv, member: i64) -> (i64, i64) {
    let balance = balance(kv, member);
    let lotted = kv.counter(&lotted_key(member));
    (balance, lotted.saturating_sub(balance).max(0))
}

/// Moves counter `key` from `expected` by `delta`, failing at commit (the kernel answers
/// `changed_meanwhile`, or retries the event or tick) if another call moved it meanwhile.
pub fn compare_and_add(
    kv: &mut impl Kv,
    key: &str,
    expected: i64,
    delta: i64,
) -> Result<i64, String> {
    let next = expected
        .checked_add(delta)
        .ok_or_else(|| format!("counter {key} would overflow"))?;
    kv.add_bounded(key, delta, next, next)?
        .ok_or_else(|| format!("counter {key} changed during the call"))
}

/// Claims the member's next sequence number (ledger entry, lot, redemption).
pub fn next_seq(kv: &mut impl Kv, member: i64) -> Result<i64, String> {
    let key = seq_key(member);
    let current = kv.counter(&key);
    compare_and_add(kv, &key, current, 1)
}

/// Writes ledger entry `seq` of `member` and deletes the one [`LEDGER_KEEP`] before it.
pub fn put_ledger(
    kv: &mut impl Kv,
    member: i64,
    seq: i64,
    entry: &LedgerEntry,
) -> Result<(), String> {
    kv.put_json(&ledger_key(member, seq), entry)?;
    let old = seq.saturating_sub(LEDGER_KEEP);
    if old >= 1 && kv.get(&ledger_key(member, old)).is_some() {
        kv.delete(&ledger_key(member, old))?;
    }
    Ok(())
}

/// A ledger entry with a sequence number of its own.
pub fn record(
    kv: &mut impl Kv,
    member: i64,
    at: i64,
    source: &str,
    change: i64,
    balance: i64,
    note: &str,
) -> Result<i64, String> {
    let seq = next_seq(kv, member)?;
    put_ledger(
        kv,
        member,
        seq,
        &LedgerEntry {
            at,
            source: source.to_owned(),
            change,
            balance,
            note: note.to_owned(),
        },
    )?;
    Ok(seq)
}

/// The newest `most` entries of the member's ledger, newest first.
pub fn ledger(kv: &impl Kv, member: i64, most: usize) -> Vec<LedgerEntry> {
    let mut entries: Vec<LedgerEntry> = kv
        .scan_json::<LedgerEntry>(
            &ledger_prefix(member),
            200,
            (LEDGER_KEEP as usize).saturating_add(10),
        )
        .into_iter()
        .map(|(_, entry)| entry)
        .collect();
    entries.reverse();
    entries.truncate(most);
    entries
}

/// The member's live lots, oldest first (tests; the routes page through them).
#[cfg(test)]
pub fn lots(kv: &impl Kv, member: i64) -> Vec<Lot> {
    kv.scan_json::<Lot>(&member_lot_prefix(member), 200, MAX_MEMBER_LOTS)
        .into_iter()
        .map(|(_, lot)| lot)
        .collect()
}

/// Points of the member's lots expiring by `until` (those already due but not yet taken by
/// the tick included), and when the first of them expires.
pub fn expiring_by(kv: &impl Kv, member: i64, until: i64) -> (i64, Option<i64>) {
    let (_, frontier) = frontier(kv, member);
    let prefix = member_lot_prefix(member);
    let mut points = 0_i64;
    let mut first = None;
    let mut after: Option<String> = None;
    // Page by page, oldest first, stopping at the first lot beyond `until`: a member's later
    // lots are never parsed.
    for _ in 0..(MAX_MEMBER_LOTS / 50) {
        let page = kv.scan(&prefix, after.as_deref(), 50);
        let full = page.len() >= 50;
        for (key, bytes) in page {
            let Ok(lot) = serde_json::from_slice::<Lot>(&bytes) else {
                after = Some(key);
                continue;
            };
            if lot.expires_at > until {
                return (points, first);
            }
            let left = lot.remaining(frontier);
            if left > 0 {
                points = points.saturating_add(left);
                first.get_or_insert(lot.expires_at);
            }
            after = Some(key);
        }
        if !full {
            break;
        }
    }
    (points, first)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm; the SDK keeps its copy
/// private).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

const DAY_MS: i64 = 86_400_000;

/// When points earned at `earned_at` expire: the start (shop time) of the day `months`
/// calendar months after the day they were earned (31 January + 1 month → 28/29 February).
/// 「自获取之日起一年内有效」: earned on 2026-03-05, usable through 2027-03-04.
pub fn expires_at(earned_at: i64, months: i64) -> i64 {
    let offset = pifa_sdk::input::SHOP_UTC_OFFSET_MS;
    let (year, month, day) = civil_from_days(earned_at.saturating_add(offset).div_euclid(DAY_MS));
    let months_from_zero = year * 12 + (month - 1) + months.clamp(0, 1200);
    let (year, month) = (
        months_from_zero.div_euclid(12),
        months_from_zero.rem_euclid(12) + 1,
    );
    let last_day = {
        let (next_year, next_month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        days_from_civil(next_year, next_month, 1) - days_from_civil(year, month, 1)
    };
    days_from_civil(year, month, day.min(last_day)) * DAY_MS - offset
}

/// The last day points expiring at `expires_at` may be used (shop time): 「2027-03-04」.
pub fn last_day(expires_at: i64) -> String {
    pifa_sdk::input::local_date(expires_at.saturating_sub(1))
}

/// Adds `points` to the member's balance in a lot expiring per `settings`, with a ledger entry.
/// Returns the balance after it. `points` must be positive.
pub fn add_points(
    kv: &mut impl Kv,
    member: i64,
    points: i64,
    now: i64,
    settings: Settings,
    source: &str,
    note: &str,
) -> Result<i64, String> {
    if points <= 0 {
        return Err(format!("adding {points} points"));
    }
    let seq = next_seq(kv, member)?;
    let last: Option<Lot> = kv
        .get(&last_lot_key(member))
        .and_then(|key| String::from_utf8(key).ok())
        .and_then(|key| kv.get_json::<Lot>(&key));
    let lotted = kv.counter(&lotted_key(member));
    // Lots expire in the order they were earned, whatever the settings did meanwhile.
    let expires = expires_at(now, settings.expiry_months)
        .max(last.as_ref().map_or(i64::MIN, |lot| lot.expires_at));
    let lot = match last {
        // Earned the same day: one lot (a member has at most a lot a day).
        Some(last) if last.expires_at == expires && last.end() == lotted => Lot {
            points: last.points.saturating_add(points),
            ..last
        },
        _ => Lot {
            member,
            seq,
            earned_at: now,
            expires_at: expires,
            points,
            start: lotted,
        },
    };
    compare_and_add(kv, &lotted_key(member), lotted, points)?;
    kv.put_json(&lot.key(), &lot)?;
    kv.put_json(&member_lot_key(lot.expires_at, member, lot.seq), &lot)?;
    if lot.seq == seq {
        kv.put(&last_lot_key(member), lot.key().as_bytes())?;
    }
    let balance = kv
        .add_bounded(&balance_key(member), points, 0, i64::MAX)?
        .ok_or_else(|| format!("the balance of member {member} would overflow"))?;
    put_ledger(
        kv,
        member,
        seq,
        &LedgerEntry {
            at: now,
            source: source.to_owned(),
            change: points,
            balance,
            note: note.to_owned(),
        },
    )?;
    Ok(balance)
}

/// Takes `points` from the balance if it holds them (`Ok(None)`, nothing written, if not),
/// with a ledger entry at sequence `seq`. Returns the balance after it.
pub fn take_points(
    kv: &mut impl Kv,
    member: i64,
    points: i64,
    seq: i64,
    now: i64,
    source: &str,
    note: &str,
) -> Result<Option<i64>, String> {
    let Some(balance) =
        kv.add_bounded(&balance_key(member), points.saturating_neg(), 0, i64::MAX)?
    else {
        return Ok(None);
    };
    put_ledger(
        kv,
        member,
        seq,
        &LedgerEntry {
            at: now,
            source: source.to_owned(),
            change: points.saturating_neg(),
            balance,
            note: note.to_owned(),
        },
    )?;
    Ok(Some(balance))
}

/// Takes up to `points` (what is left when the balance holds fewer), exactly as read: a change
/// committed meanwhile makes the call fail and be retried. Returns (taken, balance after).
pub fn take_at_most(
    kv: &mut impl Kv,
    member: i64,
    points: i64,
    now: i64,
    source: &str,
    note: &str,
) -> Result<(i64, i64), String> {
    let current = balance(kv, member);
    let taken = points.clamp(0, current.max(0));
    if taken == 0 {
        return Ok((0, current));
    }
    let balance = compare_and_add(kv, &balance_key(member), current, -taken)?;
    record(kv, member, now, source, -taken, balance, note)?;
    Ok((taken, balance))
}

/// What giving points back did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Returned {
    pub points: i64,
    /// Of them, the points whose lots had expired meanwhile: counted expired at once.
    pub expired: i64,
    pub balance: i64,
}

/// Gives `points` back to the member (`source`: 取消退回, 兑换退回): they return to the
/// front of the lots, and what falls into lots that expired meanwhile is expired at once
/// (a second ledger entry, 积分过期). The balance is moved exactly as read (a change committed
/// meanwhile makes the call fail and be retried), since the expired share depends on it.
pub fn give_back(
    kv: &mut impl Kv,
    member: i64,
    points: i64,
    now: i64,
    source: &str,
    note: &str,
) -> Result<Returned, String> {
    let (current, frontier) = frontier(kv, member);
    let expired_to = kv.counter(&expired_to_key(member));
    let back_to = frontier.saturating_sub(points).max(0);
    let expired = expired_to.saturating_sub(back_to).clamp(0, points.max(0));
    let added = points.saturating_sub(expired);
    let balance = compare_and_add(kv, &balance_key(member), current, added)?;
    let returned_balance = current.saturating_add(points);
    record(kv, member, now, source, points, returned_balance, note)?;
    if expired > 0 {
        record(
            kv,
            member,
            now,
            SOURCE_EXPIRED,
            -expired,
            balance,
            "退回的积分已过期",
        )?;
        stats::add(kv, stats::EXPIRED, expired)?;
    }
    Ok(Returned {
        points,
        expired,
        balance,
    })
}

/// Expires what is left of `lot` (the tick, when its time has come): the balance loses it,
/// the ledger says 积分过期, the lot is deleted. Returns the points expired.
pub fn expire_lot(kv: &mut impl Kv, lot: &Lot, now: i64) -> Result<i64, String> {
    let member = lot.member;
    let (current, frontier) = frontier(kv, member);
    let expired = lot.remaining(frontier).min(current.max(0));
    if expired > 0 {
        let balance = compare_and_add(kv, &balance_key(member), current, -expired)?;
        record(
            kv,
            member,
            now,
            SOURCE_EXPIRED,
            -expired,
            balance,
            &format!(
                "{}获得的积分已到期",
                pifa_sdk::input::local_date(lot.earned_at)
            ),
        )?;
        stats::add(kv, stats::EXPIRED, expired)?;
    }
    let expired_to_key = expired_to_key(member);
    let expired_to = kv.counter(&expired_to_key);
    if lot.end() > expired_to {
        compare_and_add(kv, &expired_to_key, expired_to, lot.end() - expired_to)?;
    }
    kv.delete(&lot.key())?;
    kv.delete(&member_lot_key(lot.expires_at, member, lot.seq))?;
    Ok(expired)
}

#[cfg(test)]
pub mod tests {
    use pifa_sdk::MemoryKv;
    use pifa_sdk::input::parse_local_time;

    use super::*;

    pub fn at(text: &str) -> i64 {
        parse_local_time(text).unwrap_or_else(|| panic!("bad time {text}"))
    }

    #[test]
    fn points_expire_at_the_start_of_the_day_the_months_later() {
        let earned = at("2026-03-05T10:30");
        assert_eq!(expires_at(earned, 12), at("2027-03-05"));
        assert_eq!(last_day(expires_at(earned, 12)), "2027-03-04");
        // The end of a month carries to the end of a shorter one, never into the next.
        assert_eq!(expires_at(at("2026-01-31T23:59"), 1), at("2026-02-28"));
        assert_eq!(expires_at(at("2027-01-31T08:00"), 13), at("2028-02-29"));
        assert_eq!(expires_at(at("2026-12-15T00:00"), 1), at("2027-01-15"));
        // Shop time: 2026-03-05 07:00 in Beijing is still 4 March in UTC.
        assert_eq!(expires_at(at("2026-03-05T07:00"), 12), at("2027-03-05"));
    }

    fn earn(kv: &mut MemoryKv, member: i64, points: i64, now: i64) -> i64 {
        add_points(
            kv,
            member,
            points,
            now,
            Settings::default(),
            "订单1完成",
            "",
        )
        .unwrap()
    }

    #[test]
    fn earning_the_same_day_makes_one_lot_and_another_day_a_new_one() {
        let mut kv = MemoryKv::default();
        assert_eq!(earn(&mut kv, 7, 100, at("2026-03-05T09:00")), 100);
        assert_eq!(earn(&mut kv, 7, 50, at("2026-03-05T20:00")), 150);
        assert_eq!(earn(&mut kv, 7, 30, at("2026-03-06T09:00")), 180);
        let lots = lots(&kv, 7);
        let summary: Vec<(i64, i64, i64)> = lots
            .iter()
            .map(|l| (l.start, l.points, l.expires_at))
            .collect();
        assert_eq!(
            summary,
            vec![(0, 150, at("2027-03-05")), (150, 30, at("2027-03-06"))]
        );
        assert!(kv.values.contains_key(&lots[0].key()));
        let entries = ledger(&kv, 7, 50);
        assert_eq!(entries.len(), 3);
        assert_eq!((entries[0].change, entries[0].balance), (30, 180));
    }

    #[test]
    fn what_expires_soon_is_summed_across_pages_of_lots() {
        let mut kv = MemoryKv::default();
        for day in 0..120 {
            earn(&mut kv, 7, 10, at("2026-01-01T10:00") + day * DAY_MS);
        }
        assert_eq!(lots(&kv, 7).len(), 120);
        assert_eq!(
            expiring_by(&kv, 7, at("2027-12-31")),
            (1200, Some(at("2027-01-01")))
        );
        // Until 100 days after the first expiry: the first 100 lots.
        assert_eq!(expiring_by(&kv, 7, at("2027-01-01") + 99 * DAY_MS).0, 1000);
    }

    #[test]
    fn a_shorter_expiry_never_makes_new_points_expire_before_older_ones() {
        let mut kv = MemoryKv::default();
        earn(&mut kv, 7, 100, at("2026-03-05T09:00"));
        let short = Settings {
            expiry_months: 1,
            ..Settings::default()
        };
        add_points(&mut kv, 7, 10, at("2026-03-07T09:00"), short, "x", "").unwrap();
        let lots = lots(&kv, 7);
        assert_eq!(
            lots.len(),
            1,
            "merged into the lot it may not expire before"
        );
        assert_eq!(lots[0].points, 110);
    }

    #[test]
    fn the_ledger_keeps_the_newest_entries_only() {
        let mut kv = MemoryKv::default();
        for n in 0..(LEDGER_KEEP + 5) {
            record(&mut kv, 3, n, SOURCE_ADJUSTED, 1, n + 1, "").unwrap();
        }
        let kept = kv.keys(&ledger_prefix(3), 500, 1000);
        assert_eq!(kept.len(), LEDGER_KEEP as usize);
        assert_eq!(
            kept.first().map(String::as_str),
            Some("ledger:0000000003:000000000006")
        );
        let newest = ledger(&kv, 3, 50);
        assert_eq!(newest.len(), 50);
        assert_eq!(newest[0].balance, LEDGER_KEEP + 5);
    }

    #[test]
    fn spending_consumes_the_oldest_lots_first() {
        let mut kv = MemoryKv::default();
        earn(&mut kv, 7, 100, at("2026-03-05T09:00"));
        earn(&mut kv, 7, 100, at("2026-04-05T09:00"));
        earn(&mut kv, 7, 100, at("2026-05-05T09:00"));
        let seq = next_seq(&mut kv, 7).unwrap();
        assert_eq!(
            take_points(&mut kv, 7, 150, seq, at("2026-06-01"), SOURCE_REDEEMED, "").unwrap(),
            Some(150)
        );
        let (_, frontier) = frontier(&kv, 7);
        let left: Vec<i64> = lots(&kv, 7)
            .iter()
            .map(|lot| lot.remaining(frontier))
            .collect();
        assert_eq!(left, vec![0, 50, 100]);
        // More than the balance: nothing taken, nothing written.
        let seq = next_seq(&mut kv, 7).unwrap();
        assert_eq!(
            take_points(&mut kv, 7, 151, seq, 0, SOURCE_REDEEMED, "").unwrap(),
            None
        );
        assert_eq!(balance(&kv, 7), 150);
        // What expires by mid-April: the rest of the April lot only.
        assert_eq!(
            expiring_by(&kv, 7, at("2027-04-30")),
            (50, Some(at("2027-04-05")))
        );
    }

    #[test]
    fn expiring_a_lot_takes_only_what_is_left_of_it() {
        let mut kv = MemoryKv::default();
        earn(&mut kv, 7, 100, at("2026-03-05T09:00"));
        earn(&mut kv, 7, 80, at("2026-04-05T09:00"));
        take_at_most(&mut kv, 7, 30, 0, SOURCE_ADJUSTED, "").unwrap();
        let first = lots(&kv, 7).remove(0);
        assert_eq!(expire_lot(&mut kv, &first, at("2027-03-05")).unwrap(), 70);
        assert_eq!(balance(&kv, 7), 80);
        assert_eq!(lots(&kv, 7).len(), 1);
        assert!(!kv.values.contains_key(&first.key()));
        assert_eq!(stats::read(&kv).expired, 70);
        assert_eq!(ledger(&kv, 7, 1)[0].source, SOURCE_EXPIRED);
    }

    #[test]
    fn a_reservation_taken_at_checkout_consumes_the_oldest_lot_before_it_expires() {
        let mut kv = MemoryKv::default();
        earn(&mut kv, 7, 100, at("2026-03-05T09:00"));
        earn(&mut kv, 7, 50, at("2026-04-05T09:00"));
        // The kernel applies a checkout reservation of 100 to the counter.
        kv.counters.insert(balance_key(7), 50);
        let first = lots(&kv, 7).remove(0);
        assert_eq!(expire_lot(&mut kv, &first, at("2027-03-05")).unwrap(), 0);
        assert_eq!(balance(&kv, 7), 50);
        // The order closes: its 100 points come back, but their lot is gone: expired at once.
        let back = give_back(&mut kv, 7, 100, at("2027-03-06"), SOURCE_RETURNED, "").unwrap();
        assert_eq!(
            back,
            Returned {
                points: 100,
                expired: 100,
                balance: 50
            }
        );
        let entries = ledger(&kv, 7, 2);
        assert_eq!(
            (
                entries[1].source.as_str(),
                entries[1].change,
                entries[1].balance
            ),
            (SOURCE_RETURNED, 100, 150)
        );
        assert_eq!(
            (
                entries[0].source.as_str(),
                entries[0].change,
                entries[0].balance
            ),
            (SOURCE_EXPIRED, -100, 50)
        );
    }

    #[test]
    fn points_given_back_before_expiry_return_whole() {
        let mut kv = MemoryKv::default();
        earn(&mut kv, 7, 100, at("2026-03-05T09:00"));
        kv.counters.insert(balance_key(7), 40);
        let back = give_back(&mut kv, 7, 60, at("2026-03-06"), SOURCE_RETURNED, "").unwrap();
        assert_eq!(
            back,
            Returned {
                points: 60,
                expired: 0,
                balance: 100
            }
        );
        assert_eq!(expiring_by(&kv, 7, at("2027-03-05")).0, 100);
    }

    #[test]
    fn taking_at_most_the_balance_never_goes_below_zero() {
        let mut kv = MemoryKv::default();
        earn(&mut kv, 7, 100, 0);
        assert_eq!(
            take_at_most(&mut kv, 7, 130, 1, SOURCE_REVERSED, "").unwrap(),
            (100, 0)
        );
        assert_eq!(
            take_at_most(&mut kv, 7, 5, 1, SOURCE_REVERSED, "").unwrap(),
            (0, 0)
        );
        assert_eq!(ledger(&kv, 7, 10).len(), 2, "nothing taken, no entry");
    }

    #[test]
    fn a_sequence_number_is_claimed_as_read() {
        let mut kv = MemoryKv::default();
        assert_eq!(next_seq(&mut kv, 1), Ok(1));
        assert_eq!(next_seq(&mut kv, 1), Ok(2));
        assert_eq!(next_seq(&mut kv, 2), Ok(1));
        // The bound a sequence claim leaves is the value read: another call's claim committed
        // meanwhile breaks it at commit.
        assert!(compare_and_add(&mut kv, "c", 5, 1).is_err());
        assert_eq!(member_of_balance_key("balance:42"), Some(42));
        assert_eq!(member_of_balance_key("taken:42"), None);
    }
}
