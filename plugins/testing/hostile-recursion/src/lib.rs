//! Testing only (never install): `quote` recurses without bound. The wasm stack overflows and
//! traps; the kernel must report it as the plugin's failure, not crash.

use pifa_sdk::{Hook, HookError, Manifest, Plugin, QuoteInput, QuoteOutput};

struct HostileRecursion;

impl Plugin for HostileRecursion {
    fn manifest() -> Manifest {
        pifa_sdk::manifest(
            "hostile-recursion",
            env!("CARGO_PKG_VERSION"),
            &[Hook::Quote],
        )
    }

    fn quote(_input: QuoteInput) -> Result<QuoteOutput, HookError> {
        let depth = descend(core::hint::black_box(0));
        Ok(QuoteOutput {
            adjustments: vec![pifa_sdk::Adjustment::order(depth, "unreachable".to_owned())],
            ..QuoteOutput::default()
        })
    }
}

/// Not a tail call (the result is used after the call) and opaque to the optimiser, so every
/// level keeps a frame: a loop the compiler could turn this into would never overflow.
#[inline(never)]
#[expect(
    unconditional_recursion,
    reason = "overflowing the stack is this plugin's whole purpose"
)]
fn descend(depth: i64) -> i64 {
    let frame = core::hint::black_box([depth; 16]);
    let below = descend(core::hint::black_box(depth.wrapping_add(1)));
    core::hint::black_box(below.wrapping_add(frame.iter().sum::<i64>()))
}

pifa_sdk::export_plugin!(HostileRecursion);
