//! Testing only (never install): version 2 of the plugin `tag`, which takes 2 fen off the
//! order. The hot-reload test swaps one version's file for the other's under the server.

use pifa_sdk::{Adjustment, Hook, HookError, Manifest, Plugin, QuoteInput, QuoteOutput};

struct Tag;

impl Plugin for Tag {
    fn manifest() -> Manifest {
        pifa_sdk::manifest("tag", "2.0.0", &[Hook::Quote])
    }

    fn quote(_input: QuoteInput) -> Result<QuoteOutput, HookError> {
        Ok(QuoteOutput {
            adjustments: vec![Adjustment::order(-2, "tag v2".to_owned())],
            ..QuoteOutput::default()
        })
    }
}

pifa_sdk::export_plugin!(Tag);
