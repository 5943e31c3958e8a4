//! Script costs (issue: rules as scripts), with the shipped `scripts/`: the pricing script per
//! cart line and for a 200-line cart, and the notification rules per event.
//!
//!   cargo bench -p pifa --bench scripts
#![expect(clippy::print_stdout, reason = "a benchmark reporting figures")]
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

use std::path::Path;
use std::time::{Duration, Instant};

use pifa::clock::Clock;
use pifa::scripts::ScriptHost;
use rhai::{Array, Dynamic, Map};

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples.get(index).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

fn line(n: i64) -> Map {
    let mut map = Map::new();
    map.insert("sku_id".into(), n.into());
    map.insert("product_id".into(), n.into());
    map.insert("item_no".into(), format!("AQM-{n:03}").into());
    map.insert("name".into(), "安全帽 ABS 工地 V型透气".into());
    map.insert("qty".into(), 10_i64.into());
    map.insert("list_price_fen".into(), 2_800_i64.into());
    map.insert("unit_price_fen".into(), 1_400_i64.into());
    map.insert("line_total_fen".into(), 14_000_i64.into());
    map
}

fn member() -> Map {
    let mut map = Map::new();
    map.insert("id".into(), 42_i64.into());
    map.insert("level".into(), "银牌会员".into());
    // The shipped rules' surcharge applies, so the measured path is the longest.
    map.insert("region".into(), "琼海".into());
    let tags: Array = vec![Dynamic::from("展会客户".to_owned())];
    map.insert("tags".into(), tags.into());
    map
}

fn now() -> Map {
    let mut map = Map::new();
    map.insert("ms".into(), 1_796_083_200_000_i64.into());
    map.insert("date".into(), "2026-12-12".into());
    map
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts");
    let host = ScriptHost::load(&dir, None, Clock::system()).unwrap();
    let pricing = host.pricing.load_full().unwrap();
    let rules = host.notifications.load_full().unwrap();

    let (member, now) = (member(), now());
    let mut per_line = Vec::with_capacity(20_000);
    for n in 0..20_000 {
        let started = Instant::now();
        let adjustments = pifa::scripts::pricing::adjust_line(
            &host.engine,
            &pricing,
            line(n % 200 + 1),
            member.clone(),
            now.clone(),
        )
        .unwrap();
        per_line.push(started.elapsed());
        assert_eq!(adjustments.len(), 3, "琼海, 展会客户 and 双十二 all apply");
    }
    let mut carts = Vec::with_capacity(200);
    for _ in 0..200 {
        let started = Instant::now();
        for n in 1..=200 {
            pifa::scripts::pricing::adjust_line(
                &host.engine,
                &pricing,
                line(n),
                member.clone(),
                now.clone(),
            )
            .unwrap();
        }
        carts.push(started.elapsed());
    }
    println!(
        "pricing.rhai, one line (3 rules apply):  p50 {:>7.1} µs   p99 {:>7.1} µs",
        percentile(&mut per_line, 0.50),
        percentile(&mut per_line, 0.99)
    );
    println!(
        "pricing.rhai, a 200-line cart:           p50 {:>7.0} µs   p99 {:>7.0} µs",
        percentile(&mut carts, 0.50),
        percentile(&mut carts, 0.99)
    );

    let event = serde_json::json!({
        "id": 1, "kind": "order.placed", "at": { "ms": 0, "date": "2026-11-30" },
        "order": { "id": 7, "no": "20261130000007", "member_id": 100, "amount": "¥150.00",
                   "total_fen": 15_000, "driver": null },
        "member": { "id": 100, "name": "赵老板", "level": "银牌会员", "region": "海口", "tags": [] },
        "staff": { "bound_manager": null, "region_managers": [11, 12], "region_drivers": [31, 33],
                   "admins": [1], "customer_service": 2 },
    });
    let mut per_event = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        let started = Instant::now();
        let messages = pifa::scripts::notifications::run(&host.engine, &rules, &event).unwrap();
        per_event.push(started.elapsed());
        assert_eq!(messages.len(), 5, "2 SMS, 3 inbox");
    }
    println!(
        "notifications.rhai, order.placed:        p50 {:>7.1} µs   p99 {:>7.1} µs",
        percentile(&mut per_event, 0.50),
        percentile(&mut per_event, 0.99)
    );
}
