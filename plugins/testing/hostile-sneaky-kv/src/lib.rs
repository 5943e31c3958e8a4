//! Testing only (never install): reads kv without declaring the capability, so its component
//! imports `pifa:plugin/kv` while its manifest asks for nothing. The kernel must refuse it at
//! load, naming the interface, rather than link kv for it.

// Host imports exist only on wasm32, and this plugin is nothing but its imports.
#![cfg(target_arch = "wasm32")]

use pifa_sdk::{Hook, HookError, Manifest, Plugin, QuoteInput, QuoteOutput};

struct HostileSneakyKv;

impl Plugin for HostileSneakyKv {
    fn manifest() -> Manifest {
        // Deliberately no `capabilities: vec![Capability::Kv]`.
        pifa_sdk::manifest(
            "hostile-sneaky-kv",
            env!("CARGO_PKG_VERSION"),
            &[Hook::Quote],
        )
    }

    fn quote(_input: QuoteInput) -> Result<QuoteOutput, HookError> {
        let _ = pifa_sdk::host::kv::get("x");
        Ok(QuoteOutput::default())
    }
}

pifa_sdk::export_plugin!(HostileSneakyKv);
