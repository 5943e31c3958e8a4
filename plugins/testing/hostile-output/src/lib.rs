//! Testing only (never install): `quote` returns adjustments the kernel must refuse, chosen by
//! its settings' `mode`:
//! - `negative`: takes line 1 below zero (-(line total + 100));
//! - `overflow`: two adjustments of `i64::MAX` on line 1, whose sum overflows;
//! - `unknown-line`: an adjustment on line 999, which no cart has;
//! - `huge`: +4×10¹⁸ fen on line 1 (three such orders once overflowed a member's credit sum);
//! - `double`: adds twice line 1's catalogue price (within the shop's default 300%);
//! - `triple`: adds three times line 1's catalogue price, plus a fen (beyond it).

use pifa_sdk::{Adjustment, Hook, HookError, Manifest, Plugin, QuoteInput, QuoteOutput};

struct HostileOutput;

impl Plugin for HostileOutput {
    fn manifest() -> Manifest {
        Manifest {
            settings_schema: Some(serde_json::json!({
                "type": "object",
                "properties": {
                    "mode": { "enum": ["negative", "overflow", "unknown-line", "huge", "double", "triple"] }
                },
                "required": ["mode"],
                "additionalProperties": false
            })),
            ..pifa_sdk::manifest("hostile-output", env!("CARGO_PKG_VERSION"), &[Hook::Quote])
        }
    }

    fn quote(input: QuoteInput) -> Result<QuoteOutput, HookError> {
        let adjustment = |line_no: i64, amount_fen: i64| {
            Adjustment::line(line_no, amount_fen, "hostile".to_owned())
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
            Some("huge") => vec![adjustment(1, 4_000_000_000_000_000_000)],
            Some(times @ ("double" | "triple")) => {
                let catalogue = input
                    .lines
                    .first()
                    .map_or(0, |line| line.list_price_fen.saturating_mul(line.qty));
                vec![if times == "double" {
                    adjustment(1, catalogue.saturating_mul(2))
                } else {
                    adjustment(1, catalogue.saturating_mul(3).saturating_add(1))
                }]
            }
            other => {
                return Err(HookError::new(
                    "bad_settings",
                    format!(
                        "mode must be negative, overflow, unknown-line, huge, double or triple, not {other:?}"
                    ),
                ));
            }
        };
        Ok(QuoteOutput {
            adjustments,
            ..QuoteOutput::default()
        })
    }
}

pifa_sdk::export_plugin!(HostileOutput);
