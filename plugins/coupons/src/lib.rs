//! 优惠券 (REQUIREMENTS G5: "issued by campaigns or as gifts (H3), redeemed at checkout within
//! their conditions (threshold, scope, validity), once"). Staff create coupon templates
//! (满减 or 折扣, a threshold, a scope of categories, brands or goods, a fixed window or days
//! after issue, a total and a per-member limit); members claim them in 领券中心, staff issue
//! them to chosen members, and the points plugin's gift mall (H3) redeems them
//! (`plugin.points.gift_redeemed`). At checkout the member picks one of his coupons: `quote`
//! spreads its discount over the lines it covers (composition order 40: after full-reduction,
//! before points) and lists the coupons he could pick; `checkout` reserves it (counter
//! `used:{id}` from 0 to 1) so a coupon pays for one order only, however many are placed at
//! once; `order.closed` gives it back.
//!
//! The logic is plain functions over [`pifa_sdk::Kv`], unit-tested natively; only the `Plugin`
//! impl below binds them to the kernel's imports, which exist on wasm32 alone.

// Natively the hooks that call the logic are compiled out (they need the host), so outside
// the unit tests everything looks unused.
#![cfg_attr(
    all(not(target_arch = "wasm32"), not(test)),
    allow(dead_code, reason = "natively only the unit tests use the logic")
)]

mod events;
mod http;
mod issue;
mod manifest;
mod model;
mod pricing;
mod screens;
mod terms;

#[cfg(target_arch = "wasm32")]
mod hooks {
    use pifa_sdk::host::log;
    use pifa_sdk::{
        CheckoutInput, CheckoutOutput, Event, HookError, HostKv, HttpRequest, HttpResponse,
        Manifest, Plugin, QuoteInput, QuoteOutput,
    };

    use crate::{events, http, manifest, pricing};

    struct Coupons;

    impl Plugin for Coupons {
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
            for warning in events::handle(&mut HostKv, &event)? {
                log::warn(&warning);
            }
            Ok(())
        }

        fn handle_http(request: HttpRequest) -> Result<HttpResponse, HookError> {
            Ok(http::handle(&mut HostKv, &request))
        }
    }

    pifa_sdk::export_plugin!(Coupons);
}

/// The fixtures the kernel's runner plays against the built component, played here against
/// the logic. A `checkout` refusal is written `"refused": {"code", "message"}` instead of
/// `"output"`.
#[cfg(test)]
mod fixtures {
    use std::path::Path;

    use pifa_sdk::testing::{input, json, play_dir};

    use crate::pricing;

    #[test]
    fn every_fixture_gives_its_expected_output() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        play_dir(&dir, 4, |hook, kv, given| match hook {
            "quote" => json(pricing::quote(kv, &input(given)?)),
            "checkout" => json(pricing::checkout(kv, &input(given)?)?),
            other => panic!("no such hook in a fixture: {other}"),
        });
    }
}
