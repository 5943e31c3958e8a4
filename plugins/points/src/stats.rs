//! Statistics (REQUIREMENTS H4): points issued, used, expired, taken back on refunds and moved
//! by staff, as counters `stat:<name>` (commutative adds, so concurrent calls never conflict
//! on them); gift popularity is `redeemed:<gift>` (see `gift.rs`).

use serde::Serialize;

use pifa_sdk::Kv;

/// Earned on completed orders.
pub const ISSUED: &str = "issued";
/// Paid at checkout and redeemed for gifts (less what cancelled orders and rejected
/// redemptions gave back).
pub const USED: &str = "used";
pub const EXPIRED: &str = "expired";
/// Taken back when an order was refunded.
pub const REVERSED: &str = "reversed";
/// Added by staff.
pub const ADJUSTED_IN: &str = "adjusted_in";
/// Deducted by staff.
pub const ADJUSTED_OUT: &str = "adjusted_out";

fn key(name: &str) -> String {
    format!("stat:{name}")
}

/// Adds `delta` to statistic `name` (one write; nothing for 0).
pub fn add(kv: &mut impl Kv, name: &str, delta: i64) -> Result<(), String> {
    if delta != 0 {
        // Unbounded both ways: a statistic never refuses a call (one started after orders
        // were placed may go below zero when they are cancelled).
        kv.add_bounded(&key(name), delta, i64::MIN, i64::MAX)?;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub issued: i64,
    pub used: i64,
    pub expired: i64,
    pub reversed: i64,
    pub adjusted_in: i64,
    pub adjusted_out: i64,
    /// What members hold (or have reserved in orders not yet placed): everything issued and
    /// added less everything used, expired, reversed and deducted.
    pub outstanding: i64,
}

pub fn read(kv: &impl Kv) -> Stats {
    let get = |name: &str| kv.counter(&key(name));
    let mut stats = Stats {
        issued: get(ISSUED),
        used: get(USED),
        expired: get(EXPIRED),
        reversed: get(REVERSED),
        adjusted_in: get(ADJUSTED_IN),
        adjusted_out: get(ADJUSTED_OUT),
        outstanding: 0,
    };
    stats.outstanding = stats
        .issued
        .saturating_add(stats.adjusted_in)
        .saturating_sub(stats.used)
        .saturating_sub(stats.expired)
        .saturating_sub(stats.reversed)
        .saturating_sub(stats.adjusted_out);
    stats
}

#[cfg(test)]
mod tests {
    use pifa_sdk::MemoryKv;

    use super::*;

    #[test]
    fn statistics_add_up_to_what_members_hold() {
        let mut kv = MemoryKv::default();
        add(&mut kv, ISSUED, 500).unwrap();
        add(&mut kv, USED, 120).unwrap();
        add(&mut kv, EXPIRED, 30).unwrap();
        add(&mut kv, REVERSED, 10).unwrap();
        add(&mut kv, ADJUSTED_IN, 5).unwrap();
        add(&mut kv, ADJUSTED_OUT, 2).unwrap();
        add(&mut kv, USED, 0).unwrap();
        let stats = read(&kv);
        assert_eq!(stats.outstanding, 500 + 5 - 120 - 30 - 10 - 2);
        assert_eq!(stats.used, 120);
        assert_eq!(kv.counters.len(), 6, "adding 0 writes nothing");
    }
}
