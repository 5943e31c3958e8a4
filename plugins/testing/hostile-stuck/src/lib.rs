//! Testing only (never install): `quote` reads kv key `stuck`, which the kernel's test holds
//! locked at the database, so the plugin sits inside a host call. The quote's deadline must
//! still hold there, where fuel does not run.

// Host imports exist only on wasm32, and the blocked import is this plugin's whole purpose.
#![cfg(target_arch = "wasm32")]

use pifa_sdk::{Capability, Hook, HookError, Manifest, Plugin, QuoteInput, QuoteOutput};

struct HostileStuck;

impl Plugin for HostileStuck {
    fn manifest() -> Manifest {
        Manifest {
            capabilities: vec![Capability::Kv],
            ..pifa_sdk::manifest("hostile-stuck", env!("CARGO_PKG_VERSION"), &[Hook::Quote])
        }
    }

    fn quote(_input: QuoteInput) -> Result<QuoteOutput, HookError> {
        let _ = pifa_sdk::host::kv::get("stuck");
        Ok(QuoteOutput::default())
    }
}

pifa_sdk::export_plugin!(HostileStuck);
