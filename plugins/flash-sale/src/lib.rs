//! 限时抢购 (REQUIREMENTS G1): staff put chosen SKUs on a special price for a time window with a
//! total and a per-member limit; carts in the window get the price (`quote`), checkout reserves
//! the limits in the order's own transaction so the sale is never oversold (`checkout`), a
//! closed order gives its share back (`on-event`), and the storefront shows countdowns
//! (`handle-http`).
//!
//! The logic is plain functions over [`pifa_sdk::Kv`], unit-tested natively
//! (`cargo test --manifest-path plugins/Cargo.toml -p flash-sale`); only the `Plugin` impl
//! below binds them to the kernel's imports, which exist on wasm32 alone.

// Natively the hooks that call the logic are compiled out (they need the host), so outside
// the unit tests everything looks unused.
#![cfg_attr(
    all(not(target_arch = "wasm32"), not(test)),
    allow(dead_code, reason = "natively only the unit tests use the logic")
)]

mod http;
mod manifest;
mod pricing;
mod sale;

#[cfg(target_arch = "wasm32")]
mod hooks {
    use pifa_sdk::host::log;
    use pifa_sdk::{
        CheckoutInput, CheckoutOutput, Event, HookError, HttpRequest, HttpResponse, Manifest,
        Plugin, QuoteInput, QuoteOutput,
    };

    use crate::{http, manifest, pricing, sale};
    use pifa_sdk::HostKv;

    struct FlashSale;

    impl Plugin for FlashSale {
        fn manifest() -> Manifest {
            manifest::manifest()
        }

        fn quote(input: QuoteInput) -> Result<QuoteOutput, HookError> {
            Ok(pricing::quote(&sale::load_all(&HostKv), &input))
        }

        fn checkout(input: CheckoutInput) -> Result<CheckoutOutput, HookError> {
            pricing::checkout(&sale::load_all(&HostKv), &input)
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

    pifa_sdk::export_plugin!(FlashSale);
}

/// The fixtures the kernel's runner plays against the built component, played here against
/// the logic, so a fixture that disagrees with the code fails before the kernel's suite runs.
#[cfg(test)]
mod fixtures {
    use std::path::Path;

    use pifa_sdk::testing::{input, json, play_dir};

    use crate::{pricing, sale};

    #[test]
    fn every_fixture_gives_its_expected_output() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        play_dir(&dir, 3, |hook, kv, given| {
            let sales = sale::load_all(kv);
            match hook {
                "quote" => json(pricing::quote(&sales, &input(given)?)),
                "checkout" => json(pricing::checkout(&sales, &input(given)?)?),
                other => panic!("no such hook in a fixture: {other}"),
            }
        });
    }
}
