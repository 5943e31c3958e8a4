//! The `on-tick` example (testing only, never install): counts the kernel's ticks in its kv
//! counter `ticks`, so a test can see the schedule run and its write commit.

// Host imports exist only on wasm32, and counting in kv is all this plugin does.
#![cfg(target_arch = "wasm32")]

use pifa_sdk::host::kv;
use pifa_sdk::{Capability, Hook, HookError, Manifest, Plugin};

struct Ticker;

impl Plugin for Ticker {
    fn manifest() -> Manifest {
        Manifest {
            capabilities: vec![Capability::Kv],
            ..pifa_sdk::manifest("ticker", env!("CARGO_PKG_VERSION"), &[Hook::OnTick])
        }
    }

    fn on_tick(_now_ms: i64) -> Result<(), HookError> {
        kv::add_bounded("ticks", 1, 0, i64::MAX)
            .map_err(|message| HookError::new("kv_failed", message))?;
        Ok(())
    }
}

pifa_sdk::export_plugin!(Ticker);
