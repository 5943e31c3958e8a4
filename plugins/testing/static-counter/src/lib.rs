//! Testing only (never install): counts its own calls in a static. The kernel instantiates
//! every call afresh, so the count must read 1 each time; anything else means state leaked
//! between calls (and so between members).

use std::sync::atomic::{AtomicU64, Ordering};

use pifa_sdk::{Adjustment, Hook, HookError, Manifest, Plugin, QuoteInput, QuoteOutput};

static CALLS: AtomicU64 = AtomicU64::new(0);

struct StaticCounter;

impl Plugin for StaticCounter {
    fn manifest() -> Manifest {
        pifa_sdk::manifest("static-counter", env!("CARGO_PKG_VERSION"), &[Hook::Quote])
    }

    fn quote(_input: QuoteInput) -> Result<QuoteOutput, HookError> {
        let call = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(QuoteOutput {
            adjustments: vec![Adjustment::order(0, format!("call {call}"))],
            ..QuoteOutput::default()
        })
    }
}

pifa_sdk::export_plugin!(StaticCounter);
