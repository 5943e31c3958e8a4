//! What makes the plugin safe under concurrency is the bound each counter move leaves for the
//! commit (the kernel re-checks every `add_bounded` at commit, and a broken one stores none of
//! the call's writes). These tests record the moves a call makes and check their bounds.

use pifa_sdk::{Emit, Kv, MemoryKv};
use serde_json::Value;

/// `MemoryKv` recording every counter move as (key, delta, min, max).
#[derive(Debug, Default)]
pub struct Recording {
    pub kv: MemoryKv,
    pub moves: Vec<(String, i64, i64, i64)>,
}

impl Recording {
    pub fn moves_of(&self, key: &str) -> Vec<(i64, i64, i64)> {
        self.moves
            .iter()
            .filter(|(k, ..)| k == key)
            .map(|(_, delta, min, max)| (*delta, *min, *max))
            .collect()
    }
}

impl Kv for Recording {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.kv.get(key)
    }
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        self.kv.put(key, value)
    }
    fn delete(&mut self, key: &str) -> Result<(), String> {
        self.kv.delete(key)
    }
    fn scan(&self, prefix: &str, start_after: Option<&str>, limit: u32) -> Vec<(String, Vec<u8>)> {
        self.kv.scan(prefix, start_after, limit)
    }
    fn counter(&self, key: &str) -> i64 {
        self.kv.counter(key)
    }
    fn add_bounded(
        &mut self,
        key: &str,
        delta: i64,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, String> {
        self.moves.push((key.to_owned(), delta, min, max));
        self.kv.add_bounded(key, delta, min, max)
    }
}

impl Emit for Recording {
    fn emit(&mut self, kind: &str, payload: &Value) -> Result<(), String> {
        self.kv.emit(kind, payload)
    }
}

#[cfg(test)]
mod tests {
    use pifa_sdk::input::Fields;
    use pifa_sdk::{Event, Reserved};
    use serde_json::json;

    use super::*;
    use crate::account::tests::at;
    use crate::account::{add_points, balance_key};
    use crate::gift::{self, tests::physical};
    use crate::settings::Settings;
    use crate::{events, tick};

    fn funded(points: i64) -> Recording {
        let mut kv = Recording::default();
        add_points(
            &mut kv,
            42,
            points,
            at("2026-01-10T10:00"),
            Settings::default(),
            "订单1完成",
            "",
        )
        .unwrap();
        kv.moves.clear();
        kv
    }

    #[test]
    fn a_redemption_takes_stock_and_points_within_bounds_that_hold_at_commit() {
        let mut kv = funded(1200);
        gift::create(&mut kv, &Fields::of(&physical(3))).unwrap();
        kv.moves.clear();
        let address = json!({"name": "张三", "phone": "13800000000", "address": "杭州市"});
        gift::redeem(&mut kv, 42, 1, &Fields::of(&address), 0).unwrap();
        // The last units: however many calls commit at once, the stock bound lets 3 through.
        assert_eq!(kv.moves_of("taken:1"), vec![(1, 0, 3)]);
        // Never below zero points, whatever other calls spent meanwhile.
        assert_eq!(kv.moves_of("balance:42"), vec![(-500, 0, i64::MAX)]);
        // The member's sequence is claimed as read: two calls cannot both write entry 2.
        assert_eq!(kv.moves_of("lseq:42"), vec![(1, 2, 2)]);
    }

    #[test]
    fn earning_claims_the_members_running_total_as_read() {
        let mut kv = funded(100);
        add_points(
            &mut kv,
            42,
            50,
            at("2026-02-10T10:00"),
            Settings::default(),
            "订单2完成",
            "",
        )
        .unwrap();
        assert_eq!(kv.moves_of("lotted:42"), vec![(50, 150, 150)]);
        assert_eq!(kv.moves_of("balance:42"), vec![(50, 0, i64::MAX)]);
    }

    #[test]
    fn expiry_and_giving_back_move_the_balance_exactly_as_read() {
        // A checkout reservation committed between the tick's read and its commit would make
        // the expiry take the wrong points: the balance is moved from the value read only.
        let mut kv = funded(100);
        tick::tick(&mut kv, at("2027-02-01")).unwrap();
        assert_eq!(kv.moves_of("balance:42"), vec![(-100, 0, 0)]);
        assert_eq!(kv.moves_of("expired_to:42"), vec![(100, 100, 100)]);

        let mut kv = funded(100);
        kv.kv.counters.insert(balance_key(42), 60);
        let closed = Event {
            id: 1,
            kind: events::ORDER_CLOSED.to_owned(),
            order_id: Some(5),
            payload: json!({"order_no": "5"}),
            reservations: vec![Reserved {
                key: balance_key(42),
                delta: -40,
            }],
            now_ms: at("2026-02-01"),
            settings: Value::Null,
        };
        events::handle(&mut kv, &closed).unwrap();
        assert_eq!(kv.moves_of("balance:42"), vec![(40, 100, 100)]);
    }

    #[test]
    fn a_refund_takes_at_most_the_balance_read() {
        let mut kv = Recording::default();
        let done = json!({"order_no": "7", "member_id": 42, "total_fen": 10_000, "lines": []});
        let event = |kind: &str, payload: Value| Event {
            id: 1,
            kind: kind.to_owned(),
            order_id: Some(7),
            payload,
            reservations: Vec::new(),
            now_ms: 0,
            settings: Value::Null,
        };
        events::handle(&mut kv, &event(events::ORDER_COMPLETED, done)).unwrap();
        kv.kv.counters.insert(balance_key(42), 30);
        kv.moves.clear();
        let refund = json!({"total_fen": 10_000, "refunded_total_fen": 10_000});
        events::handle(&mut kv, &event(events::ORDER_REFUNDED, refund)).unwrap();
        assert_eq!(kv.moves_of("balance:42"), vec![(-30, 0, 0)]);
    }
}
