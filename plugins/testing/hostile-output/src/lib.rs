//! Testing only (never install): `quote` returns adjustments the kernel must refuse, chosen by
//! its settings' `mode`:
//! - `negative`: takes line 1 below zero (-(line total + 100));
//! - `overflow`: two adjustments of `i64::MAX` on line 1, whose sum overflows;
//! - `unknown-line`: an adjustment on line 999, which no cart has.

use pifa_sdk::{Adjustment, Hook, HookError, Manifest, Plugin, QuoteInput, QuoteOutput};

struct HostileOutput;

impl Plugin for HostileOutput {
    fn manifest() -> Manifest {
        Manifest {
            settings_schema: Some(serde_json::json!({
                "type": "object",
                "properties": {
                    "mode": { "enum": ["negative", "overflow", "unknown-line"] }
                },
                "required": ["mode"],
                "additionalProperties": false
            })),
            ..pifa_sdk::manifest("hostile-output", env!("CARGO_PKG_VERSION"), &[Hook::Quote])
        }
    }

    fn quote(input: QuoteInput) -> Result<QuoteOutput, HookError> {
        let adjustment = |line_no: i64, amount_fen: i64| Adjustment {
            line_no: Some(line_no),
            amount_fen,
            label: "hostile".to_owned(),
        };
        let adjustments = match input.settings.get("mode").and_then(|mode| mode.as_str()) {
            Some("negative") => {
                let line_total = input.lines.first().map_or(0, |line| line.line_total_fen);
                vec![adjustment(
                    1,
                    line_total.saturating_add(100).saturating_neg(),
                )]
            }
            Some("overflow") => vec![adjustment(1, i64::MAX), adjustment(1, i64::MAX)],
            Some("unknown-line") => vec![adjustment(999, -1)],
            other => {
                return Err(HookError::new(
                    "bad_settings",
                    format!("mode must be negative, overflow or unknown-line, not {other:?}"),
                ));
            }
        };
        Ok(QuoteOutput { adjustments })
    }
}

pifa_sdk::export_plugin!(HostileOutput);
