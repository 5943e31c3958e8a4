//! 积分与积分商城 (REQUIREMENTS H1-H4, K1's points messages): members earn points on completed
//! orders at a set rate, with staff campaigns adding more (H1); a ledger says when, why and how
//! much, points expire oldest first a set number of months after they were earned, with a
//! reminder before (H2); members pay part of an order with points at the exchange ratio and
//! redeem them in the gift mall, whose physical gifts staff review and ship while coupons and
//! virtual gifts are sent by message (H3); staff see points issued, used, expired and taken
//! back and the gifts' popularity (H4).
//!
//! Hooks: `quote` (the last step, composition order 50: the points discount and the field to
//! choose it), `checkout` (the points reserved on the balance: never spent twice), `on-event`
//! (`order.completed` earns, `order.placed` writes what checkout spent, `order.closed` gives
//! it back, `order.refunded` takes back what a refunded order earned), `on-tick` (expiry and
//! reminders), `handle-http` (the JSON API and the screens).
//!
//! The logic is plain functions over [`pifa_sdk::Kv`] (and [`pifa_sdk::Emit`] where it tells
//! members something), unit-tested natively against [`pifa_sdk::MemoryKv`]; only the `Plugin`
//! impl below binds them to the kernel's imports, which exist on wasm32 alone.

// Natively the hooks that call the logic are compiled out (they need the host), so outside
// the unit tests everything looks unused.
#![cfg_attr(
    all(not(target_arch = "wasm32"), not(test)),
    allow(dead_code, reason = "natively only the unit tests use the logic")
)]

mod account;
mod campaign;
mod events;
mod gift;
mod http;
mod manifest;
mod pricing;
#[cfg(test)]
mod races;
mod screens;
mod settings;
mod stats;
mod tick;

#[cfg(target_arch = "wasm32")]
mod hooks {
    use pifa_sdk::host::log;
    use pifa_sdk::{
        CheckoutInput, CheckoutOutput, Event, HookError, HostKv, HttpRequest, HttpResponse,
        Manifest, Plugin, QuoteInput, QuoteOutput,
    };

    use crate::{events, http, manifest, pricing, tick};

    struct Points;

    impl Plugin for Points {
        fn manifest() -> Manifest {
            manifest::manifest()
        }

        fn quote(input: QuoteInput) -> Result<QuoteOutput, HookError> {
            Ok(pricing::quote(&HostKv, &input))
        }

        fn checkout(input: CheckoutInput) -> Result<CheckoutOutput, HookError> {
            pricing::checkout(&HostKv, &input)
        }

        fn on_event(event: Event) -> Result<(), HookError> {
            events::handle(&mut HostKv, &event)
        }

        fn handle_http(request: HttpRequest) -> Result<HttpResponse, HookError> {
            Ok(http::handle(&mut HostKv, &request))
        }

        fn on_tick(now_ms: i64) -> Result<(), HookError> {
            let report = tick::tick(&mut HostKv, now_ms)
                .map_err(|message| HookError::new("kv_failed", message))?;
            if report.lots_expired > 0 || report.members_reminded > 0 {
                log::info(&format!(
                    "{} lots expired ({} points), {} members reminded",
                    report.lots_expired, report.points_expired, report.members_reminded
                ));
            }
            Ok(())
        }
    }

    pifa_sdk::export_plugin!(Points);
}

/// The fixtures the kernel's runner plays against the built component, played here against
/// the logic, so a fixture that disagrees with the code fails before the kernel's suite runs.
/// A checkout refusal is written `"refused": {"code", "message"}` instead of `output`, as the
/// kernel's runner reads it.
#[cfg(test)]
mod fixtures {
    use std::path::Path;

    use pifa_sdk::testing::{input, json, play_dir};

    use crate::pricing;

    #[test]
    fn every_fixture_gives_its_expected_output() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        play_dir(&dir, 3, |hook, kv, given| match hook {
            "quote" => json(pricing::quote(kv, &input(given)?)),
            "checkout" => json(pricing::checkout(kv, &input(given)?)?),
            other => panic!("no such hook in a fixture: {other}"),
        });
    }
}
