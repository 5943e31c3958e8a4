//! 清仓 (REQUIREMENTS G3): staff put chosen SKUs on clearance with a clearance price and a
//! clearance quantity; carts get that price on as many units as remain, the line marked final
//! sale (不退不换) (`quote`); checkout reserves those units in the order's own transaction so the
//! clearance quantity is never oversold (`checkout`); a closed order gives them back
//! (`on-event`); staff manage the items and members browse 清仓专区 through screens and the
//! JSON API (`handle-http`). Composition order 20: after flash-sale (G1), before
//! full-reduction (G2).
//!
//! The logic is plain functions over [`pifa_sdk::Kv`], unit-tested natively against
//! [`pifa_sdk::MemoryKv`]; only the `Plugin` impl below binds them to the kernel's imports,
//! which exist on wasm32 alone.

// Natively the hooks that call the logic are compiled out (they need the host), so outside
// the unit tests everything looks unused.
#![cfg_attr(
    all(not(target_arch = "wasm32"), not(test)),
    allow(dead_code, reason = "natively only the unit tests use the logic")
)]

mod http;
mod item;
mod manifest;
mod pricing;
mod screens;

#[cfg(target_arch = "wasm32")]
mod hooks {
    use pifa_sdk::host::log;
    use pifa_sdk::{
        CheckoutInput, CheckoutOutput, Event, HookError, HostKv, HttpRequest, HttpResponse,
        Manifest, Plugin, QuoteInput, QuoteOutput,
    };

    use crate::{http, manifest, pricing};

    struct Clearance;

    impl Plugin for Clearance {
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
            for key in pifa_sdk::storage::return_reservations(&mut HostKv, &event)? {
                log::warn(&format!(
                    "order {:?} closed but counter {key} held less than it reserved; left as it was",
                    event.order_id
                ));
            }
            Ok(())
        }

        fn handle_http(request: HttpRequest) -> Result<HttpResponse, HookError> {
            Ok(http::handle(&mut HostKv, &request))
        }
    }

    pifa_sdk::export_plugin!(Clearance);
}

/// The fixtures the kernel's runner plays against the built component, played here against
/// the logic, so a fixture that disagrees with the code fails before the kernel's suite runs.
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
