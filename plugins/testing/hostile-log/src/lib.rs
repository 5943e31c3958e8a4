//! Testing only (never install): `quote` writes 100 MiB to the log (100 lines of 1 MiB). The
//! kernel's per-call cap must keep its log, memory and the response time unharmed.

// Host imports exist only on wasm32, and flooding them is this plugin's whole purpose.
#![cfg(target_arch = "wasm32")]

use pifa_sdk::host::log;
use pifa_sdk::{Hook, HookError, Manifest, Plugin, QuoteInput, QuoteOutput};

const MIB: usize = 1 << 20;
const LINES: usize = 100;

struct HostileLog;

impl Plugin for HostileLog {
    fn manifest() -> Manifest {
        pifa_sdk::manifest("hostile-log", env!("CARGO_PKG_VERSION"), &[Hook::Quote])
    }

    fn quote(_input: QuoteInput) -> Result<QuoteOutput, HookError> {
        let line = "x".repeat(MIB);
        for _ in 0..LINES {
            log::info(&line);
        }
        Ok(QuoteOutput::default())
    }
}

pifa_sdk::export_plugin!(HostileLog);
