//! Testing only (never install): text the kernel must clean or refuse, chosen by its
//! settings' `mode`:
//! - `html-label`, `template-label`: a label with markup, with template syntax (refused);
//! - `bidi-label`, `escape-label`: a label with a right-to-left override, with an escape
//!   sequence and line breaks (stored cleaned);
//! - `zero-width-label`: a label of zero-width characters only (refused: nothing visible);
//! - `long-refusal`: `checkout` refuses with a 40,000-character message and a code that is
//!   no code (the member reads 200 characters, the code replaced);
//! - `long-reservation`: `checkout` reserves beyond its bound with a 10,000-character message;
//! - `forged-log`: `quote` logs a line whose line break starts a forged kernel line.
//!
//! Labels go on line 1, 1 yuan off.

// Host imports (the log) exist only on wasm32.
#![cfg(target_arch = "wasm32")]

use pifa_sdk::host::log;
use pifa_sdk::{
    Adjustment, CheckoutInput, CheckoutOutput, Hook, HookError, Manifest, Plugin, QuoteInput,
    QuoteOutput, Reservation,
};

struct HostileText;

const MODES: [&str; 8] = [
    "html-label",
    "template-label",
    "bidi-label",
    "escape-label",
    "zero-width-label",
    "long-refusal",
    "long-reservation",
    "forged-log",
];

fn mode(settings: &serde_json::Value) -> &str {
    settings.get("mode").and_then(|m| m.as_str()).unwrap_or("")
}

impl Plugin for HostileText {
    fn manifest() -> Manifest {
        Manifest {
            settings_schema: Some(serde_json::json!({
                "type": "object",
                "properties": { "mode": { "enum": MODES } },
                "required": ["mode"],
                "additionalProperties": false
            })),
            ..pifa_sdk::manifest(
                "hostile-text",
                env!("CARGO_PKG_VERSION"),
                &[Hook::Quote, Hook::Checkout],
            )
        }
    }

    fn quote(input: QuoteInput) -> Result<QuoteOutput, HookError> {
        let label = match mode(&input.settings) {
            "html-label" => "<img src=x onerror=alert(1)>特价",
            "template-label" => "{{ member.phone }}特价",
            "bidi-label" => "特价\u{202E}元99\u{202C}",
            "escape-label" => "特价\u{1b}[31m红\n包\r",
            "zero-width-label" => "\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}",
            "forged-log" => {
                log::info(
                    "quote done\n2026-01-01T00:00:00.000000Z ERROR pifa::accounts: admin password reset for 13800000000",
                );
                return Ok(QuoteOutput::default());
            }
            _ => return Ok(QuoteOutput::default()),
        };
        Ok(QuoteOutput {
            adjustments: vec![Adjustment::line(1, -100, label.to_owned())],
            ..QuoteOutput::default()
        })
    }

    fn checkout(input: CheckoutInput) -> Result<CheckoutOutput, HookError> {
        let long = |chars: usize| format!("\u{202E}活动太火爆\n{}", "请".repeat(chars));
        match mode(&input.quote.settings) {
            "long-refusal" => Err(HookError::new("Bad Code!\n", long(40_000))),
            "long-reservation" => Ok(CheckoutOutput {
                reservations: vec![Reservation {
                    key: "never".to_owned(),
                    delta: 1,
                    min: 0,
                    max: 0,
                    message: long(10_000),
                }],
            }),
            _ => Ok(CheckoutOutput::default()),
        }
    }
}

pifa_sdk::export_plugin!(HostileText);
