//! Plugin call costs (issue: plugin platform), with the components `cargo build -p pifa`
//! builds: one hook call (fresh instance + call + return) of a trivial plugin, the flash
//! sale's quote hook at 1, 50 and 200 cart lines, and the fuel it uses per line.
//!
//!   cargo bench -p pifa --bench plugin_calls
#![expect(clippy::print_stdout, reason = "a benchmark reporting figures")]
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pifa::clock::Clock;
use pifa::plugins::{Access, PluginHost};
use pifa_sdk::{Buyer, Hook, Line, QuoteInput};

fn component(name: &str) -> PathBuf {
    PathBuf::from(env!("PIFA_PLUGINS_BUILT")).join(format!("{name}.wasm"))
}

fn host(name: &str, capabilities: &str) -> Arc<PluginHost> {
    let dir = std::env::temp_dir().join(format!("pifa-bench-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("plugins.toml");
    std::fs::write(
        &config,
        format!(
            "[[plugin]]\nname = {name:?}\ncomponent = {:?}\ncapabilities = [{capabilities}]\n",
            component(name).display().to_string()
        ),
    )
    .unwrap();
    PluginHost::load(&config, None, Clock::system(), None).unwrap()
}

fn cart(lines: usize, now_ms: i64) -> String {
    let input = QuoteInput {
        buyer: Buyer {
            member_id: 42,
            level_id: None,
            region_id: None,
        },
        lines: (1..=lines as i64)
            .map(|n| Line {
                line_no: n,
                sku_id: n,
                product_id: n,
                qty: 10,
                list_price_fen: 2800,
                line_total_fen: 28_000,
                ..Line::default()
            })
            .collect(),
        now_ms,
        settings: serde_json::json!({}),
        order_adjustments: Vec::new(),
        options: serde_json::Value::Null,
    };
    serde_json::to_string(&input).unwrap()
}

/// Calls `name`'s quote hook `runs` times on `input`; the latencies sorted, and the fuel of
/// the last call.
fn quote_calls(
    host: &PluginHost,
    name: &str,
    input: &str,
    lines: usize,
    runs: usize,
) -> (Vec<Duration>, u64) {
    let set = host.current();
    let plugin = set.named(name).unwrap();
    let mut times = Vec::with_capacity(runs);
    let mut fuel = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let outcome = host
            .call(
                &set.runtime,
                plugin,
                Hook::Quote,
                lines,
                Access::ReadOnly,
                |instance, store| instance.call_quote(store, input),
            )
            .unwrap();
        times.push(start.elapsed());
        fuel = outcome.fuel;
    }
    times.sort();
    (times, fuel)
}

fn at(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(rank).copied().unwrap_or_default()
}

fn main() {
    let now = Clock::system().now_ms();
    let counter = host("static-counter", "");
    // A hook with no work of its own (the SDK's default on-tick): what a call costs the host.
    {
        let set = counter.current();
        let plugin = set.named("static-counter").unwrap();
        let mut times = Vec::with_capacity(20_000);
        let mut fuel = 0;
        for run in 0..21_000 {
            let start = Instant::now();
            let outcome = counter
                .call(
                    &set.runtime,
                    plugin,
                    Hook::OnTick,
                    0,
                    Access::Buffered,
                    |instance, store| instance.call_on_tick(store, now),
                )
                .unwrap();
            if run >= 1000 {
                times.push(start.elapsed());
            }
            fuel = outcome.fuel;
        }
        times.sort();
        println!(
            "hook call (fresh instance + on-tick + return, no work in the hook): p50 {:.1} µs, p99 {:.1} µs, {fuel} fuel",
            at(&times, 0.5).as_secs_f64() * 1e6,
            at(&times, 0.99).as_secs_f64() * 1e6,
        );
    }
    let input = cart(1, now);
    quote_calls(&counter, "static-counter", &input, 1, 1000);
    let (times, fuel) = quote_calls(&counter, "static-counter", &input, 1, 20_000);
    println!(
        "hook call (fresh instance + quote of a 1-line cart as JSON + return): p50 {:.1} µs, p99 {:.1} µs, {fuel} fuel",
        at(&times, 0.5).as_secs_f64() * 1e6,
        at(&times, 0.99).as_secs_f64() * 1e6,
    );

    // The flash sale with a sale covering every SKU of the carts, in its in-memory namespace.
    let flash = host("flash-sale", "\"kv\"");
    {
        let memory = flash.memory_kv().unwrap();
        let mut memory = memory.lock().unwrap();
        let sale = serde_json::json!({ "id": 1, "name": "秒杀", "starts_at_ms": now - 60_000, "ends_at_ms": now + 3_600_000,
            "total_limit": 1_000_000, "per_member_limit": 1_000_000, "ended": false,
            "items": (1..=50).map(|n| serde_json::json!({ "sku_id": n, "price_fen": 1500 })).collect::<Vec<_>>() });
        memory
            .entries
            .entry("sale:00000001".to_owned())
            .or_default()
            .0 = Some(sale.to_string().into_bytes());
    }
    let mut fuels = Vec::new();
    for lines in [1_usize, 50, 200] {
        let input = cart(lines, now);
        quote_calls(&flash, "flash-sale", &input, lines, 50);
        let (times, fuel) = quote_calls(&flash, "flash-sale", &input, lines, 2000);
        println!(
            "flash-sale quote hook, {lines:>3} lines: p50 {:.1} µs, p99 {:.1} µs, {fuel} fuel",
            at(&times, 0.5).as_secs_f64() * 1e6,
            at(&times, 0.99).as_secs_f64() * 1e6,
        );
        fuels.push((lines, fuel));
    }
    if let (Some(&(l1, f1)), Some(&(l2, f2))) = (fuels.first(), fuels.last()) {
        println!(
            "fuel per cart line (flash-sale quote, 50 of 200 lines on sale): {}",
            (f2 - f1) / (l2 - l1) as u64
        );
    }
}
