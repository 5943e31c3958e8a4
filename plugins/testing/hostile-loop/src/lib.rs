//! Testing only (never install): `quote` never returns. The kernel must stop it by fuel or the
//! epoch deadline, answer the quote without it, and keep serving.

use pifa_sdk::{Hook, HookError, Manifest, Plugin, QuoteInput, QuoteOutput};

struct HostileLoop;

impl Plugin for HostileLoop {
    fn manifest() -> Manifest {
        pifa_sdk::manifest("hostile-loop", env!("CARGO_PKG_VERSION"), &[Hook::Quote])
    }

    fn quote(_input: QuoteInput) -> Result<QuoteOutput, HookError> {
        let mut spins: u64 = 0;
        loop {
            // An empty infinite loop is undefined behaviour the optimiser may delete; an opaque
            // counter keeps every iteration real work.
            spins = core::hint::black_box(spins.wrapping_add(1));
        }
    }
}

pifa_sdk::export_plugin!(HostileLoop);
