//! The order pipeline's plugin steps: `quote` (adjustments, checked before they count) and
//! `checkout` (reservations the checkout transaction applies, or a refusal).

use std::sync::Arc;

use pifa_sdk::{CheckoutInput, CheckoutOutput, Hook, QuoteInput, QuoteOutput, Reservation};

use super::config::Policy;
use super::{Access, CallError, Loaded, PluginHost, PluginSet};
use crate::error::{ApiError, ApiResult};
use crate::orders::pipeline::{
    CheckoutStep, QuoteStep, Reservation as OrderReservation, StepFailure,
};
use crate::orders::quote::{Adjustment, Buyer, Quote};
use crate::store::batch::Batch;

/// Why the kernel refuses what went into or came out of a hook: the plugin's failure, in
/// the words `record_failure` logs and keeps.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error(transparent)]
    Encode(serde_json::Error),
    #[error("input of {bytes} bytes is over the {cap}-byte cap")]
    InputTooLarge { bytes: usize, cap: u64 },
    #[error("output of {bytes} bytes is over the {cap}-byte cap")]
    OutputTooLarge { bytes: usize, cap: u64 },
    #[error("output is not valid: {0}")]
    Output(#[source] serde_json::Error),
    #[error(transparent)]
    Label(#[from] crate::text::LabelError),
    #[error("adjustment for unknown line {0}")]
    UnknownLine(i64),
    /// The quote no longer adds up with the adjustments.
    #[error(transparent)]
    OutOfBounds(#[from] crate::orders::quote::AmountError),
}

/// Where a plugin's adjustments are recorded: `plugin:<name>`.
pub fn source_of(plugin: &str) -> String {
    format!("plugin:{plugin}")
}

fn sdk_buyer(buyer: &Buyer) -> pifa_sdk::Buyer {
    pifa_sdk::Buyer {
        member_id: buyer.member_id,
        level_id: buyer.level_id,
        region_id: buyer.region_id,
    }
}

fn quote_input(
    buyer: &Buyer,
    now_ms: i64,
    quote: &Quote,
    settings: &serde_json::Value,
) -> QuoteInput {
    QuoteInput {
        buyer: sdk_buyer(buyer),
        lines: quote
            .lines
            .iter()
            .map(|l| pifa_sdk::Line {
                line_no: l.line_no,
                sku_id: l.sku_id.get(),
                product_id: l.product_id.get(),
                qty: l.qty,
                list_price_fen: l.list_price_fen,
                line_total_fen: l.line_total_fen,
            })
            .collect(),
        now_ms,
        settings: settings.clone(),
    }
}

/// The input as JSON, refused when over the input cap.
fn encode(set: &PluginSet, input: &impl serde::Serialize) -> Result<String, HookError> {
    let json = serde_json::to_string(input).map_err(HookError::Encode)?;
    let cap = set.runtime.limits.max_input_kib.saturating_mul(1024);
    if json.len() as u64 > cap {
        return Err(HookError::InputTooLarge {
            bytes: json.len(),
            cap,
        });
    }
    Ok(json)
}

/// The output parsed, refused when over the output cap or not of the expected shape.
fn decode<T: serde::de::DeserializeOwned>(set: &PluginSet, output: &str) -> Result<T, HookError> {
    let cap = set.runtime.limits.max_output_kib.saturating_mul(1024);
    if output.len() as u64 > cap {
        return Err(HookError::OutputTooLarge {
            bytes: output.len(),
            cap,
        });
    }
    serde_json::from_str(output).map_err(HookError::Output)
}

/// Adds a plugin's adjustments to `quote`, refusing an unknown line, sums that do not add up
/// (a negative line, an overflow) and labels `text::plugin_label` refuses (markup, nothing
/// visible): those are the plugin's failures, not the member's. Labels are stored cleaned.
fn apply_adjustments(
    quote: &mut Quote,
    plugin: &str,
    output: QuoteOutput,
) -> Result<(), HookError> {
    let mut adjusted = quote.clone();
    for adjustment in output.adjustments {
        let label = crate::text::plugin_label(&adjustment.label)?;
        let entry = Adjustment {
            source: source_of(plugin),
            label,
            amount_fen: adjustment.amount_fen,
        };
        match adjustment.line_no {
            Some(line_no) => adjusted
                .lines
                .iter_mut()
                .find(|l| l.line_no == line_no)
                .ok_or(HookError::UnknownLine(line_no))?
                .adjustments
                .push(entry),
            None => adjusted.adjustments.push(entry),
        }
    }
    adjusted.recompute().map_err(HookError::OutOfBounds)?;
    *quote = adjusted;
    Ok(())
}

/// The plugins' `quote` hooks as one step of the pipeline, in `plugins.toml`'s order, on the
/// set serving when the quote starts.
pub struct PluginQuoteStep {
    pub host: Arc<PluginHost>,
}

impl QuoteStep for PluginQuoteStep {
    fn name(&self) -> &str {
        "plugins"
    }

    fn apply(&self, buyer: &Buyer, now_ms: i64, quote: &mut Quote) -> Result<(), StepFailure> {
        let set = self.host.current();
        for plugin in set.with_hook(Hook::Quote) {
            let result = quote_one(&self.host, &set, plugin, buyer, now_ms, quote);
            let reason = match result {
                Ok(()) => continue,
                Err(CallError::Suspended) => continue,
                // Busy: its share was in use for the whole deadline; not its failure, but the
                // quote goes on without it (or is refused) all the same.
                Err(CallError::Failed(reason) | CallError::Busy(reason)) => reason,
                Err(CallError::Refused { code, message }) => {
                    self.host
                        .record_failure(plugin, Hook::Quote, format!("{code}: {message}"));
                    format!("{code}: {message}")
                }
            };
            if plugin.policy(Hook::Quote) == Policy::Reject {
                return Err(StepFailure {
                    step: plugin.name().to_owned(),
                    message: reason,
                    code: "plugin_failed",
                });
            }
        }
        Ok(())
    }
}

fn quote_one(
    host: &PluginHost,
    set: &PluginSet,
    plugin: &Loaded,
    buyer: &Buyer,
    now_ms: i64,
    quote: &mut Quote,
) -> Result<(), CallError> {
    // Before its input is built: a suspended plugin costs a member's quote nothing.
    if plugin.stats.is_suspended(host.clock.now_ms()) {
        return Err(CallError::Suspended);
    }
    let input = quote_input(buyer, now_ms, quote, &plugin.declared.settings);
    let output: QuoteOutput = call_json(
        host,
        set,
        plugin,
        Hook::Quote,
        quote.lines.len(),
        &input,
        |instance, store, json| instance.call_quote(store, json),
    )?;
    apply_adjustments(quote, plugin.name(), output)
        .map_err(|e| host.record_failure(plugin, Hook::Quote, e))?;
    host.record_success(plugin, Hook::Quote);
    Ok(())
}

/// A read-only hook with JSON in and out: the input capped, the call, the output capped and
/// parsed; every refusal is the plugin's failure.
fn call_json<O: serde::de::DeserializeOwned>(
    host: &PluginHost,
    set: &PluginSet,
    plugin: &Loaded,
    hook: Hook,
    lines: usize,
    input: &impl serde::Serialize,
    call: impl FnOnce(
        &super::runtime::Plugin,
        &mut wasmtime::Store<super::runtime::CallState>,
        &str,
    ) -> wasmtime::Result<Result<String, super::runtime::WitHookError>>,
) -> Result<O, CallError> {
    let json = encode(set, input).map_err(|e| host.record_failure(plugin, hook, e))?;
    let outcome = host.call(
        &set.runtime,
        plugin,
        hook,
        lines,
        Access::ReadOnly,
        |instance, store| call(instance, store, &json),
    )?;
    decode(set, &outcome.value).map_err(|e| host.record_failure(plugin, hook, e))
}

/// The plugins' `checkout` hooks as the pipeline's checkout step, in `plugins.toml`'s
/// order, on the set serving when the checkout asks.
pub struct PluginCheckoutStep {
    pub host: Arc<PluginHost>,
}

impl CheckoutStep for PluginCheckoutStep {
    fn name(&self) -> &str {
        "plugins"
    }

    fn is_active(&self) -> bool {
        self.host
            .current()
            .with_hook(Hook::Checkout)
            .next()
            .is_some()
    }

    /// Their reservations, or the refusal of the first that refuses (`plugin_refused`, its
    /// message for the member).
    fn reserve(
        &self,
        buyer: &Buyer,
        now_ms: i64,
        quote: &Quote,
    ) -> ApiResult<Vec<OrderReservation>> {
        let host = &self.host;
        let set = host.current();
        let mut all = Vec::new();
        for plugin in set.with_hook(Hook::Checkout) {
            match checkout_one(host, &set, plugin, buyer, now_ms, quote) {
                Ok(reservations) => {
                    all.extend(reservations.into_iter().map(|r| OrderReservation {
                        owner: plugin.name().to_owned(),
                        key: r.key,
                        delta: r.delta,
                        min: r.min,
                        max: r.max,
                        message: r.message,
                    }))
                }
                Err(CallError::Suspended) => {}
                Err(CallError::Refused { code, message }) => {
                    // Refusing an order is a checkout hook's work, not its failure.
                    host.record_success(plugin, Hook::Checkout);
                    return Err(ApiError::new(
                        axum::http::StatusCode::CONFLICT,
                        "plugin_refused",
                        format!("{message} ({} {code})", plugin.name()),
                    ));
                }
                Err(CallError::Failed(reason) | CallError::Busy(reason)) => {
                    if plugin.policy(Hook::Checkout) == Policy::Reject {
                        return Err(ApiError::new(
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            "plugin_failed",
                            format!("暂时无法下单，请稍后再试 ({reason})"),
                        ));
                    }
                }
            }
        }
        // One order for every checkout, so concurrent ones lock counters in the same order.
        all.sort_by(|a, b| (&a.owner, &a.key).cmp(&(&b.owner, &b.key)));
        Ok(all)
    }

    /// Each reservation is a bounded update of a counter in its plugin's `plugin_kv`
    /// namespace, like the counters a plugin moves itself.
    fn push_holds(&self, batch: &mut Batch, reservations: &[OrderReservation]) -> usize {
        super::kv::push_counter_adds(
            batch,
            reservations
                .iter()
                .map(|r| (r.owner.as_str(), r.key.as_str(), r.delta, r.min, r.max)),
        )
    }
}

fn checkout_one(
    host: &PluginHost,
    set: &PluginSet,
    plugin: &Loaded,
    buyer: &Buyer,
    now_ms: i64,
    quote: &Quote,
) -> Result<Vec<Reservation>, CallError> {
    if plugin.stats.is_suspended(host.clock.now_ms()) {
        return Err(CallError::Suspended);
    }
    let source = source_of(plugin.name());
    let mut adjustments = Vec::new();
    for line in &quote.lines {
        for adjustment in line.adjustments.iter().filter(|a| a.source == source) {
            adjustments.push(pifa_sdk::Adjustment {
                line_no: Some(line.line_no),
                amount_fen: adjustment.amount_fen,
                label: adjustment.label.clone(),
            });
        }
    }
    for adjustment in quote.adjustments.iter().filter(|a| a.source == source) {
        adjustments.push(pifa_sdk::Adjustment {
            line_no: None,
            amount_fen: adjustment.amount_fen,
            label: adjustment.label.clone(),
        });
    }
    let input = CheckoutInput {
        quote: quote_input(buyer, now_ms, quote, &plugin.declared.settings),
        adjustments,
    };
    let output: CheckoutOutput = call_json(
        host,
        set,
        plugin,
        Hook::Checkout,
        quote.lines.len(),
        &input,
        |instance, store, json| instance.call_checkout(store, json),
    )?;
    let mut output = output;
    for reservation in &mut output.reservations {
        // The member reads it when the bound is reached (`limit_reached`).
        reservation.message =
            crate::text::from_plugin(&reservation.message, crate::text::PluginText::MemberMessage);
        let bad = if super::kv::KvView::check_key(&reservation.key).is_err() {
            Some("a reservation key must be 1 to 256 bytes")
        } else if reservation.min > reservation.max {
            Some("a reservation's min is above its max")
        } else if reservation.message.trim().is_empty() {
            Some("a reservation needs a message for the member")
        } else {
            None
        };
        if let Some(bad) = bad {
            return Err(host.record_failure(plugin, Hook::Checkout, bad));
        }
    }
    host.record_success(plugin, Hook::Checkout);
    Ok(output.reservations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::quote::QuotedLine;

    fn quote_of(totals: &[i64]) -> Quote {
        let mut quote = Quote::of_lines(
            totals
                .iter()
                .enumerate()
                .map(|(i, total)| QuotedLine {
                    line_no: i as i64 + 1,
                    sku_id: crate::ids::SkuId(1),
                    product_id: crate::ids::ProductId(1),
                    item_no: String::new(),
                    name: String::new(),
                    model: String::new(),
                    spec: String::new(),
                    unit_label: String::new(),
                    qty: 1,
                    list_price_fen: *total,
                    adjustments: Vec::new(),
                    line_total_fen: 0,
                    weight_g: 0,
                })
                .collect(),
        );
        let _ = quote.recompute();
        quote
    }

    fn adjust(line_no: Option<i64>, amount_fen: i64) -> QuoteOutput {
        QuoteOutput {
            adjustments: vec![pifa_sdk::Adjustment {
                line_no,
                amount_fen,
                label: "测试".to_owned(),
            }],
        }
    }

    #[test]
    fn adjustments_that_do_not_add_up_leave_the_quote_as_it_was() {
        let mut quote = quote_of(&[1000]);
        for (output, named) in [
            (adjust(Some(1), -1001), "less than nothing"),
            (adjust(Some(7), -1), "unknown line 7"),
            (adjust(Some(1), i64::MAX), "overflows"),
        ] {
            let error = apply_adjustments(&mut quote, "p", output)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.contains(named), "{error}");
            assert_eq!(quote.total_fen, 1000);
        }
        assert!(apply_adjustments(&mut quote, "p", adjust(Some(1), -100)).is_ok());
        assert_eq!(quote.total_fen, 900);
        assert_eq!(quote.lines[0].adjustments[0].source, "plugin:p");
    }
}
