//! 满减/满折/满赠 (REQUIREMENTS G2): staff run campaigns whose tiers, by amount or by
//! quantity of the goods in scope (everything, categories, brands or chosen products), take
//! money off (满减), give a discount (满折) or add a gift as a zero-price line (满赠). Carts get
//! the highest tier reached with a note of what the next tier needs (`quote`); checkout
//! reserves each gift against its tier's stock in the order's own transaction, so the gifts
//! are never over-given (`checkout`); a closed order gives its gifts back (`on-event`); staff
//! manage campaigns through the API and back-office screens, members and the storefront read
//! the running ones in words (`handle-http`). Composition order 30: after flash-sale and
//! clearance, whose lines count only when a campaign stacks with them; before coupons.
//!
//! The logic is plain functions over [`pifa_sdk::Kv`], unit-tested natively
//! (`cargo test` in this crate); only the `Plugin` impl below binds them to the kernel's
//! imports, which exist on wasm32 alone.

// Natively the hooks that call the logic are compiled out (they need the host), so outside
// the unit tests everything looks unused.
#![cfg_attr(
    all(not(target_arch = "wasm32"), not(test)),
    allow(dead_code, reason = "natively only the unit tests use the logic")
)]

mod campaign;
mod http;
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

    use crate::{campaign, http, manifest, pricing};

    struct FullReduction;

    impl Plugin for FullReduction {
        fn manifest() -> Manifest {
            manifest::manifest()
        }

        fn quote(input: QuoteInput) -> Result<QuoteOutput, HookError> {
            let campaigns = campaign::load_active(&HostKv, input.now_ms);
            Ok(pricing::quote(&HostKv, &campaigns, &input))
        }

        fn checkout(input: CheckoutInput) -> Result<CheckoutOutput, HookError> {
            let campaigns = campaign::load_active(&HostKv, input.quote.now_ms);
            pricing::checkout(&HostKv, &campaigns, &input)
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

    pifa_sdk::export_plugin!(FullReduction);
}

/// The fixtures the kernel's runner plays against the built component, played here against
/// the logic, so a fixture that disagrees with the code fails before the kernel's suite runs.
#[cfg(test)]
mod fixtures {
    use std::path::Path;

    use pifa_sdk::testing::{input, json, play_dir};

    use pifa_sdk::{CheckoutInput, QuoteInput};

    use crate::{campaign, pricing};

    #[test]
    fn every_fixture_gives_its_expected_output() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        play_dir(&dir, 4, |hook, kv, given| match hook {
            "quote" => {
                let given: QuoteInput = input(given)?;
                let campaigns = campaign::load_active(kv, given.now_ms);
                json(pricing::quote(kv, &campaigns, &given))
            }
            "checkout" => {
                let given: CheckoutInput = input(given)?;
                let campaigns = campaign::load_active(kv, given.quote.now_ms);
                json(pricing::checkout(kv, &campaigns, &given)?)
            }
            other => panic!("no such hook in a fixture: {other}"),
        });
    }
}
