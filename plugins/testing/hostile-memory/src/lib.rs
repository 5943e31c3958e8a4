//! Testing only (never install): `quote` allocates 1 MiB blocks and keeps them, without end.
//! The kernel's memory limit must make `memory.grow` fail (the allocator then traps) long
//! before the host feels it.

use pifa_sdk::{Hook, HookError, Manifest, Plugin, QuoteInput, QuoteOutput};

const MIB: usize = 1 << 20;

struct HostileMemory;

impl Plugin for HostileMemory {
    fn manifest() -> Manifest {
        pifa_sdk::manifest("hostile-memory", env!("CARGO_PKG_VERSION"), &[Hook::Quote])
    }

    fn quote(_input: QuoteInput) -> Result<QuoteOutput, HookError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            // Filled, not just reserved, and passed through black_box, so the pages are really
            // touched and the allocation cannot be optimised away.
            hoard.push(core::hint::black_box(vec![1u8; MIB]));
            core::hint::black_box(&hoard);
        }
    }
}

pifa_sdk::export_plugin!(HostileMemory);
