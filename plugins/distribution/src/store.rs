//! The kv layout in one place, and the one storage helper every record needs.
//!
//! Values (JSON):
//! - `rates`: the commission rates staff set ([`crate::rates::Rates`]).
//! - `order:<order_id>`: what an order counted ([`crate::events::OrderRecord`]), so nothing
//!   happens twice for one order and a refund knows what to take back.
//! - `perf:<YYYY-MM|all>:<promoter|manager>:<user:010>`: performance ([`crate::perf::Perf`]).
//! - `seen:<role>:<user>:<member>`: `{"month"}`, the last month the member was counted as this
//!   person's customer (so a customer counts once a month and once in all).
//! - `team:<manager:010>:<promoter:010>`: a promoter whose orders named the manager.
//! - `ledger:<promoter:010>:<seq:012>`: the commission ledger ([`crate::ledger::Entry`]).
//! - `payout:<id:010>`: a payout request ([`crate::payouts::Payout`]); `pending:<id:010>` while it
//!   waits for staff; `mine-payout:<promoter:010>:<n:06>` → its id, the promoter's own list.
//!
//! Counters:
//! - `balance:<promoter>`: commission he may withdraw (never below 0, moved with
//!   `add_bounded`, so a payout and a refund cannot both take the same fen).
//! - `owed:<promoter>`: commission a refund should have taken back but the balance could not give.
//! - `ledger-seq:<promoter>`, `payout-seq`, `payout-count:<promoter>`: sequences.
//! - `pending-count:<promoter>`: his payouts waiting (at most [`crate::payouts::MAX_PENDING`]).
//! - `payout-open:<id>`: 1 while the payout waits, 0 once decided: approve and reject each take
//!   it from 1 to 0, so only one of two concurrent decisions commits.

use pifa_sdk::Kv;

/// Whose performance: the promoter (推广经理) who brought the customer, or the customer's
/// manager (客户经理), the promoter's superior.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Promoter,
    Manager,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Promoter => "promoter",
            Role::Manager => "manager",
        }
    }
}

pub const RATES_KEY: &str = "rates";
pub const PAYOUT_SEQ_KEY: &str = "payout-seq";

pub fn order_key(order_id: i64) -> String {
    format!("order:{order_id}")
}

pub fn balance_key(promoter: i64) -> String {
    format!("balance:{promoter}")
}

pub fn owed_key(promoter: i64) -> String {
    format!("owed:{promoter}")
}

/// The next number of the sequence in counter `key`, claimed so that two calls committing at
/// the same time cannot both get it: the counter must still hold what was read when the call
/// commits (the bound is that exact value), or the kernel refuses the whole call (a route
/// answers 409 `changed_meanwhile`, an event is delivered again). `Kv::next_id` bounds only by
/// `i64::MAX`, which two concurrent calls both pass with the same number.
pub fn claim_seq(kv: &mut impl Kv, key: &str) -> Result<i64, String> {
    let next = kv
        .counter(key)
        .checked_add(1)
        .ok_or_else(|| format!("the sequence {key} is exhausted"))?;
    kv.add_bounded(key, 1, next, next)?
        .ok_or_else(|| format!("the sequence {key} changed meanwhile"))
}

#[cfg(test)]
mod tests {
    use pifa_sdk::MemoryKv;

    use super::*;

    #[test]
    fn a_sequence_is_claimed_at_exactly_its_next_value() {
        let mut kv = MemoryKv::default();
        assert_eq!(claim_seq(&mut kv, "s"), Ok(1));
        assert_eq!(claim_seq(&mut kv, "s"), Ok(2));
        // What the kernel checks at commit for a call that read 1 (and so claimed 2) while
        // another call took 2 first: 2 + 1 leaves [2, 2], so the late call stores nothing.
        assert_eq!(kv.add_bounded("s", 1, 2, 2), Ok(None));
        assert_eq!(kv.counter("s"), 2);
        kv.counters.insert("s".to_owned(), i64::MAX);
        assert!(claim_seq(&mut kv, "s").is_err());
    }
}
