//! 分销 (REQUIREMENTS I1, I2): promoters (推广经理) bring customers with their own QR code; the
//! plugin keeps their performance and their managers' (客户经理, the promoters' superiors), pays
//! promoters commission on their customers' completed orders, and lets them withdraw it.
//!
//! - I1 performance: per promoter and per manager, per shop month and in all — customers
//!   (distinct members who ordered), orders completed and sales (totals minus refunds) — from
//!   `order.completed` and `order.refunded` (`events.rs`, `perf.rs`).
//! - I2 commission: on `order.completed` with a promoter, Σ non-gift lines × rate, the rate by
//!   goods, then category, then member level, then the default setting (`rates.rs`); a ledger
//!   and a withdrawable balance (`ledger.rs`); the promoter is told with a notice whose text
//!   is a setting (`settings.rs`, emitted as `plugin.distribution.commission_credited` for the
//!   notification rules, K1); refunds take their share back; payouts (提现) staff approve or
//!   reject (`payouts.rs`).
//! - Routes and screens for promoters, managers and staff (`http.rs`, `screens.rs`).
//!
//! No quote or checkout hook: commission is the shop's cost, never the member's price.
//!
//! The logic is plain functions over [`pifa_sdk::Kv`] (and [`pifa_sdk::Emit`]), unit-tested
//! natively against `pifa_sdk::MemoryKv`; only the `Plugin` impl below binds them to the
//! kernel's imports, which exist on wasm32 alone.

// Natively the hooks that call the logic are compiled out (they need the host), so outside
// the unit tests everything looks unused.
#![cfg_attr(
    all(not(target_arch = "wasm32"), not(test)),
    allow(dead_code, reason = "natively only the unit tests use the logic")
)]

mod events;
mod http;
mod ledger;
mod manifest;
mod payload;
mod payouts;
mod perf;
mod rates;
mod screens;
mod settings;
mod store;

#[cfg(target_arch = "wasm32")]
mod hooks {
    use pifa_sdk::host::log;
    use pifa_sdk::{Event, HookError, HostKv, HttpRequest, HttpResponse, Manifest, Plugin};

    use crate::events::{self, Outcome};
    use crate::{http, manifest};

    struct Distribution;

    impl Plugin for Distribution {
        fn manifest() -> Manifest {
            manifest::manifest()
        }

        /// A storage failure is an `Err`: the kernel delivers the event again (its writes
        /// commit once per event id, and the order record makes a second delivery under
        /// another id count nothing).
        fn on_event(event: Event) -> Result<(), HookError> {
            match events::on_event(&mut HostKv, &event) {
                Ok(Outcome::Ignored(why)) => {
                    log::debug(&format!(
                        "event {} ({}) left alone: {why}",
                        event.id, event.kind
                    ));
                    Ok(())
                }
                Ok(outcome) => {
                    log::info(&format!("event {} ({}): {outcome:?}", event.id, event.kind));
                    Ok(())
                }
                Err(error) => Err(HookError::new("storage_failed", error)),
            }
        }

        fn handle_http(request: HttpRequest) -> Result<HttpResponse, HookError> {
            Ok(http::handle(&mut HostKv, &request))
        }
    }

    pifa_sdk::export_plugin!(Distribution);
}

/// The fixtures, played against the logic. This plugin has no quote or checkout hook, so its
/// fixtures extend the kernel's format (which its runner does not play yet) with an
/// `on-event` case: `{"hook": "on-event", "kv", "counters", "input": <Event>,
/// "expect_counters": {key: value}, "expect_emitted": [{"kind", "payload"}], "expect_kv"?:
/// {key: JSON}}` — the counters named must hold those values, the events emitted must be
/// exactly those, and each value named in `expect_kv` must be stored as given.
#[cfg(test)]
mod fixtures {
    use std::path::Path;

    use pifa_sdk::HookError;
    use pifa_sdk::testing::{input, play_dir};
    use serde_json::Value;

    use crate::events;

    #[test]
    fn every_fixture_gives_its_expected_effects() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        play_dir(&dir, 3, |hook, kv, given| {
            assert_eq!(hook, "on-event", "only on-event fixtures here");
            events::on_event(kv, &input(given)?)
                .map(|_| Value::Null)
                .map_err(|message| HookError::new("event", message))
        });
    }
}
