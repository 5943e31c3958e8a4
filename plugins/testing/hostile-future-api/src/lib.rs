//! Testing only (never install): a plugin built for plugin API "9.9", as one built against a
//! newer SDK than the kernel's would say. It must be refused at load, naming both versions,
//! while the other plugins of the same `plugins.toml` serve (a restart included).

use pifa_sdk::{Adjustment, Hook, HookError, Manifest, Plugin, QuoteInput, QuoteOutput};

struct FutureApi;

impl Plugin for FutureApi {
    fn manifest() -> Manifest {
        Manifest {
            api: "9.9".to_owned(),
            ..pifa_sdk::manifest(
                "hostile-future-api",
                env!("CARGO_PKG_VERSION"),
                &[Hook::Quote],
            )
        }
    }

    /// Never called: a label the tests would notice if it were.
    fn quote(_input: QuoteInput) -> Result<QuoteOutput, HookError> {
        Ok(QuoteOutput {
            adjustments: vec![Adjustment::order(0, "future api served".to_owned())],
            ..QuoteOutput::default()
        })
    }
}

pifa_sdk::export_plugin!(FutureApi);
