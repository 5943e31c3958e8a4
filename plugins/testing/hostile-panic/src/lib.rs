//! Testing only (never install): `quote` panics. On wasm32 a panic is a trap; the SDK's panic
//! hook sends the message to the kernel's log first, and the kernel's test looks for it there.

use pifa_sdk::{Hook, HookError, Manifest, Plugin, QuoteInput, QuoteOutput};

struct HostilePanic;

impl Plugin for HostilePanic {
    fn manifest() -> Manifest {
        pifa_sdk::manifest("hostile-panic", env!("CARGO_PKG_VERSION"), &[Hook::Quote])
    }

    #[expect(clippy::panic, reason = "panicking is this plugin's whole purpose")]
    fn quote(_input: QuoteInput) -> Result<QuoteOutput, HookError> {
        panic!("flash sale table corrupt");
    }
}

pifa_sdk::export_plugin!(HostilePanic);
