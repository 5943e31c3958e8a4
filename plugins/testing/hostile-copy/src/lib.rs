//! Testing only (never install): `quote` fills a buffer of `bytes` bytes (from its input's
//! `settings`, default 1 MiB) and copies it into another `copies` times (default 1), answering
//! an order-level adjustment of 0 labelled with what it copied. Run with `pifa plugins run` at
//! several sizes, the fuel it reports is what a memory copy costs (one per byte in wasmtime 48:
//! `memory.copy`, `memory.fill` and `memory.init` charge per byte on top of the instruction).

use pifa_sdk::{Adjustment, Hook, HookError, Manifest, Plugin, QuoteInput, QuoteOutput};

struct HostileCopy;

const MIB: u64 = 1024 * 1024;

impl Plugin for HostileCopy {
    fn manifest() -> Manifest {
        pifa_sdk::manifest("hostile-copy", env!("CARGO_PKG_VERSION"), &[Hook::Quote])
    }

    fn quote(input: QuoteInput) -> Result<QuoteOutput, HookError> {
        let setting = |name: &str, default: u64| {
            input
                .settings
                .get(name)
                .and_then(|v| v.as_u64())
                .unwrap_or(default)
        };
        let bytes = usize::try_from(setting("bytes", MIB))
            .map_err(|_| HookError::new("bad_settings", "bytes does not fit in memory"))?;
        let copies = setting("copies", 1);
        let source = vec![7_u8; bytes];
        let mut target = vec![0_u8; bytes];
        for _ in 0..copies {
            // Opaque to the optimiser, so every copy is made.
            target.copy_from_slice(core::hint::black_box(&source));
            core::hint::black_box(&mut target);
        }
        Ok(QuoteOutput {
            adjustments: vec![Adjustment::order(
                0,
                format!("copied {bytes} bytes {copies} times"),
            )],
            ..QuoteOutput::default()
        })
    }
}

pifa_sdk::export_plugin!(HostileCopy);
