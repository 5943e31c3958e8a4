//! The commission ledger (I2, 佣金明细): every change to a promoter's withdrawable balance with
//! the balance after it. The balance itself is the counter `balance:<promoter>`, moved with
//! `add_bounded` so it never goes below 0 even when a payout and a refund race; the ledger
//! keeps the latest [`MAX_ENTRIES`] entries per promoter (older ones are deleted as new ones
//! come, the balance is not affected).

use pifa_sdk::Kv;
use serde::{Deserialize, Serialize};

use crate::store::{balance_key, claim_seq};

pub const COMMISSION: &str = "佣金";
pub const REFUND_REVERSAL: &str = "退款扣回";
pub const PAYOUT_REQUESTED: &str = "提现申请";
pub const PAYOUT_RETURNED: &str = "提现驳回退回";
/// Entries kept per promoter.
pub const MAX_ENTRIES: i64 = 500;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub at: i64,
    /// The order it came from; empty for a payout.
    #[serde(default)]
    pub order_no: String,
    /// 佣金, 退款扣回, 提现申请, 提现驳回退回.
    pub kind: String,
    /// Fen added (positive) or taken (negative).
    pub change: i64,
    /// The balance after it.
    pub balance: i64,
    /// The payout it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout_id: Option<i64>,
    /// What else the promoter should know (what a refund could not take back).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

fn seq_key(promoter: i64) -> String {
    format!("ledger-seq:{promoter}")
}

fn prefix(promoter: i64) -> String {
    format!("ledger:{promoter:010}:")
}

fn entry_key(promoter: i64, seq: i64) -> String {
    format!("{}{seq:012}", prefix(promoter))
}

pub fn balance(kv: &impl Kv, promoter: i64) -> i64 {
    kv.counter(&balance_key(promoter))
}

/// Adds `change` to the balance within [0, i64::MAX]: the new balance, or `None` (nothing
/// changed) when it would leave them.
pub fn move_balance(kv: &mut impl Kv, promoter: i64, change: i64) -> Result<Option<i64>, String> {
    kv.add_bounded(&balance_key(promoter), change, 0, i64::MAX)
}

/// Appends `entry`, and deletes the entry [`MAX_ENTRIES`] before it.
pub fn append(kv: &mut impl Kv, promoter: i64, entry: &Entry) -> Result<(), String> {
    let seq = claim_seq(kv, &seq_key(promoter))?;
    kv.put_json(&entry_key(promoter, seq), entry)?;
    if seq > MAX_ENTRIES {
        kv.delete(&entry_key(promoter, seq - MAX_ENTRIES))?;
    }
    Ok(())
}

/// The latest `most` entries, newest first (read with one scan from where they start).
pub fn latest(kv: &impl Kv, promoter: i64, most: u32) -> Vec<Entry> {
    let last = kv.counter(&seq_key(promoter));
    let first_after = last.saturating_sub(i64::from(most));
    let after = (first_after > 0).then(|| entry_key(promoter, first_after));
    let mut entries: Vec<Entry> = kv
        .scan(&prefix(promoter), after.as_deref(), most)
        .into_iter()
        .filter_map(|(_, bytes)| serde_json::from_slice(&bytes).ok())
        .collect();
    entries.reverse();
    entries
}

#[cfg(test)]
mod tests {
    use pifa_sdk::MemoryKv;

    use super::*;

    fn entry(change: i64) -> Entry {
        Entry {
            at: 1,
            kind: COMMISSION.to_owned(),
            change,
            balance: change,
            ..Entry::default()
        }
    }

    #[test]
    fn the_balance_never_goes_below_zero() {
        let mut kv = MemoryKv::default();
        assert_eq!(move_balance(&mut kv, 7, 500), Ok(Some(500)));
        assert_eq!(move_balance(&mut kv, 7, -501), Ok(None));
        assert_eq!(move_balance(&mut kv, 7, -500), Ok(Some(0)));
        assert_eq!(balance(&kv, 7), 0);
        assert_eq!(balance(&kv, 8), 0);
    }

    #[test]
    fn the_latest_entries_come_newest_first_and_old_ones_are_dropped() {
        let mut kv = MemoryKv::default();
        for change in 1..=MAX_ENTRIES + 3 {
            append(&mut kv, 7, &entry(change)).unwrap();
        }
        append(&mut kv, 8, &entry(99)).unwrap();
        let kept = kv.keys("ledger:0000000007:", 1000, 1000);
        assert_eq!(kept.len(), MAX_ENTRIES as usize);
        assert_eq!(
            kept.first().map(String::as_str),
            Some("ledger:0000000007:000000000004")
        );
        let latest = latest(&kv, 7, 50);
        assert_eq!(latest.len(), 50);
        assert_eq!(latest.first().map(|e| e.change), Some(MAX_ENTRIES + 3));
        assert_eq!(latest.last().map(|e| e.change), Some(MAX_ENTRIES - 46));
        assert_eq!(super::latest(&kv, 8, 50).len(), 1);
        assert_eq!(super::latest(&kv, 9, 50), vec![]);
    }
}
