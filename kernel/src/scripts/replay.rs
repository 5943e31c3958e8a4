//! Replaying past orders with a draft pricing script (M4): "what would this change have done to
//! the last hundred orders?" Checkout records what the script step was given (`PricingInputs`:
//! the member as the script saw him, the pricing time, each line's catalogue price), in its own
//! transaction. A replay runs the serving script and the draft on those inputs side by side and
//! reports the orders and lines that differ.
//!
//! Only the script step is run again: plugins and shipping are not, and the catalogue price is
//! the recorded one (today's prices may have moved), so a difference is the draft's alone. The
//! baseline is the script serving now, not the one that priced the order, because the question
//! is what saving the draft would change; with no script serving it is "no script" (no script
//! adjustments). Nothing is written.

use serde::{Deserialize, Serialize};

use super::pricing::{MemberAttributes, ScriptLine};
use crate::orders::quote::Quote;

/// What the pricing script step was given for one order, recorded at checkout (JSON in
/// `order_pricing_inputs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricingInputs {
    /// The script's `now` (epoch milliseconds).
    pub now_ms: i64,
    pub member: MemberAttributes,
    /// The version that priced the order (`None`: no script served).
    pub script_version: Option<String>,
    pub lines: Vec<ScriptLine>,
}

impl PricingInputs {
    /// The inputs of `quote`; `member` and `now_ms` are those the script saw when one ran
    /// (`quote.script_run`), or would have seen.
    pub fn of(quote: &Quote, member: MemberAttributes, now_ms: i64) -> PricingInputs {
        PricingInputs {
            now_ms,
            member,
            script_version: quote.script_run.as_ref().map(|run| run.version.clone()),
            lines: quote.lines.iter().map(ScriptLine::of).collect(),
        }
    }
}
