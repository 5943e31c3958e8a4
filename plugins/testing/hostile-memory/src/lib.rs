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
            // Reserved, not filled: each block grows the linear memory by a MiB while costing
            // almost no fuel, so it is the memory limit that stops it (filling 32 MiB byte by
            // byte would run out of fuel first).
            let mut block: Vec<u8> = Vec::with_capacity(MIB);
            block.push(1);
            hoard.push(core::hint::black_box(block));
            core::hint::black_box(&hoard);
        }
    }
}

pifa_sdk::export_plugin!(HostileMemory);
