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
    #[error("a final sale is marked on a line (an adjustment with line_no), not on the order")]
    FinalSaleOrder,
    #[error("more than {most} {what} from one plugin")]
    TooMany { what: &'static str, most: usize },
    #[error("a gift needs a SKU id and a quantity of 1 to {MAX_GIFT_QTY}")]
    Gift,
    #[error(
        "a checkout choice needs a name of a-z, 0-9 and _ and the kind select, number or checkbox"
    )]
    Choice,
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

/// An adjustment as a later plugin sees it: by the plugin's name (or `script`). The
/// catalogue's own (level and break prices) are the price, not an offer, and are left out.
fn applied(adjustment: &Adjustment) -> Option<pifa_sdk::Applied> {
    if adjustment.source == "catalog" {
        return None;
    }
    let source = adjustment
        .source
        .strip_prefix("plugin:")
        .unwrap_or(&adjustment.source);
    Some(pifa_sdk::Applied {
        source: source.to_owned(),
        label: adjustment.label.clone(),
        amount_fen: adjustment.amount_fen,
    })
}

fn quote_input(
    plugin: &str,
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
                category_ids: l.category_ids.clone(),
                brand_id: l.brand_id,
                gift: l.gift,
                adjustments: l.adjustments.iter().filter_map(applied).collect(),
            })
            .collect(),
        now_ms,
        settings: settings.clone(),
        order_adjustments: quote.adjustments.iter().filter_map(applied).collect(),
        options: quote.plugin_options.of(plugin),
    }
}

/// The quote as the quote hook of `plugin` saw it: without what it and the steps after it
/// (`later`, their sources) added, and without gift lines (added once every step has run).
/// Checkout hooks get this, so a plugin recomputes at checkout exactly what it quoted.
fn quote_as_seen(quote: &Quote, later: &[String]) -> Quote {
    let kept = |a: &Adjustment| !later.contains(&a.source);
    let mut seen = quote.clone();
    seen.lines.retain(|l| !l.gift);
    for line in &mut seen.lines {
        line.adjustments.retain(kept);
    }
    seen.adjustments.retain(kept);
    // Only removing discounts and surcharges the full quote passed: it still adds up, and if
    // it did not, the totals left as they were would only be less exact.
    let _ = seen.recompute();
    seen
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

/// Most gift lines, notes and checkout choices one plugin may give one quote.
const MAX_GIFTS: usize = 5;
const MAX_NOTES: usize = 5;
const MAX_CHOICES: usize = 4;
const MAX_CHOICE_OPTIONS: usize = 30;
/// Most items of one gift line.
const MAX_GIFT_QTY: i64 = 10_000;

/// Adds a plugin's adjustments, gifts, notes and checkout choices to `quote`, refusing an
/// unknown line, sums that do not add up (a negative line, an overflow), labels
/// `text::plugin_label` refuses (markup, nothing visible), a final sale without a line, a gift
/// out of bounds and a choice of a kind the checkout page does not draw: those are the
/// plugin's failures, not the member's, and leave the quote as it was. Texts are stored
/// cleaned.
fn apply_adjustments(
    quote: &mut Quote,
    plugin: &str,
    output: QuoteOutput,
) -> Result<(), HookError> {
    // Most plugins have nothing for most carts: no copy of the quote for them.
    if output.adjustments.is_empty()
        && output.gifts.is_empty()
        && output.notes.is_empty()
        && output.choices.is_empty()
    {
        return Ok(());
    }
    let mut adjusted = quote.clone();
    let source = source_of(plugin);
    for adjustment in output.adjustments {
        let label = crate::text::plugin_label(&adjustment.label)?;
        let entry = Adjustment {
            source: source.clone(),
            label,
            amount_fen: adjustment.amount_fen,
            final_sale: adjustment.final_sale,
        };
        match adjustment.line_no {
            Some(line_no) => adjusted
                .lines
                .iter_mut()
                .find(|l| l.line_no == line_no)
                .ok_or(HookError::UnknownLine(line_no))?
                .adjustments
                .push(entry),
            None if adjustment.final_sale => return Err(HookError::FinalSaleOrder),
            None => adjusted.adjustments.push(entry),
        }
    }
    adjusted.recompute().map_err(HookError::OutOfBounds)?;
    if output.gifts.len() > MAX_GIFTS {
        return Err(HookError::TooMany {
            what: "gifts",
            most: MAX_GIFTS,
        });
    }
    for gift in output.gifts {
        if gift.sku_id < 1 || !(1..=MAX_GIFT_QTY).contains(&gift.qty) {
            return Err(HookError::Gift);
        }
        let label = crate::text::plugin_label(&gift.label)?;
        adjusted
            .gift_requests
            .push(crate::orders::quote::GiftRequest {
                source: source.clone(),
                gift: pifa_sdk::Gift { label, ..gift },
            });
    }
    if output.notes.len() > MAX_NOTES {
        return Err(HookError::TooMany {
            what: "notes",
            most: MAX_NOTES,
        });
    }
    for note in output.notes {
        let text = crate::text::from_plugin(&note, crate::text::PluginText::MemberMessage);
        if !text.is_empty() {
            adjusted.offers.push(crate::orders::quote::OfferNote {
                plugin: plugin.to_owned(),
                text,
            });
        }
    }
    if output.choices.len() > MAX_CHOICES {
        return Err(HookError::TooMany {
            what: "choices",
            most: MAX_CHOICES,
        });
    }
    for choice in output.choices {
        adjusted.choices.push(crate::orders::quote::PluginChoice {
            plugin: plugin.to_owned(),
            field: checked_choice(choice)?,
        });
    }
    *quote = adjusted;
    Ok(())
}

/// A checkout choice cleaned: a field name the form can carry, a kind the page draws, texts
/// made displayable and options bounded.
fn checked_choice(field: pifa_sdk::FormField) -> Result<pifa_sdk::FormField, HookError> {
    use pifa_sdk::FieldKind;
    let named = !field.name.is_empty()
        && field.name.len() <= 32
        && field
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !named
        || !matches!(
            field.kind,
            FieldKind::Select | FieldKind::Number | FieldKind::Checkbox
        )
    {
        return Err(HookError::Choice);
    }
    if field.options.len() > MAX_CHOICE_OPTIONS {
        return Err(HookError::TooMany {
            what: "choice options",
            most: MAX_CHOICE_OPTIONS,
        });
    }
    let text = |t: &str| crate::text::from_plugin(t, crate::text::PluginText::MemberMessage);
    Ok(pifa_sdk::FormField {
        label: crate::text::plugin_label(&field.label)?,
        value: text(&field.value),
        help: text(&field.help),
        placeholder: text(&field.placeholder),
        options: field
            .options
            .iter()
            .map(|o| pifa_sdk::Choice {
                value: text(&o.value),
                label: text(&o.label),
            })
            .collect(),
        ..field
    })
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
    let input = quote_input(
        plugin.name(),
        buyer,
        now_ms,
        quote,
        &plugin.declared.settings,
    );
    let output: QuoteOutput = call_json(
        host,
        set,
        plugin,
        Hook::Quote,
        quote.lines.len(),
        &input,
        |instance, store, json| instance.call_quote(store, json),
    )?;
    let skip_checkout = output.skip_checkout;
    apply_adjustments(quote, plugin.name(), output)
        .map_err(|e| host.record_failure(plugin, Hook::Quote, e))?;
    // Only once its answer counts: a refused answer promises nothing.
    if skip_checkout && !skipped(quote, plugin) {
        quote.checkout_skips.push(plugin.name().to_owned());
    }
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

    fn is_active(&self, quote: &Quote) -> bool {
        self.host
            .current()
            .with_hook(Hook::Checkout)
            .any(|plugin| !skipped(quote, plugin))
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
        for plugin in set.with_hook(Hook::Checkout).filter(|p| !skipped(quote, p)) {
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

    /// The counters moved: their plugins' kept copies of those keys go.
    fn held(&self, reservations: &[OrderReservation]) -> Option<crate::store::Change> {
        Some(crate::store::Change::PluginCounters(
            reservations
                .iter()
                .map(|r| (r.owner.clone(), r.key.clone()))
                .collect(),
        ))
    }
}

/// Whether `plugin`'s quote of this cart said its checkout has nothing to do.
fn skipped(quote: &Quote, plugin: &Loaded) -> bool {
    quote
        .checkout_skips
        .iter()
        .any(|name| name == plugin.name())
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
                final_sale: adjustment.final_sale,
            });
        }
    }
    for adjustment in quote.adjustments.iter().filter(|a| a.source == source) {
        adjustments.push(pifa_sdk::Adjustment::order(
            adjustment.amount_fen,
            adjustment.label.clone(),
        ));
    }
    // The quote hooks from this plugin's on: what its own quote hook did not see.
    let later: Vec<String> = set
        .with_hook(Hook::Quote)
        .map(|p| p.name())
        .skip_while(|name| *name != plugin.name())
        .map(source_of)
        .collect();
    let seen = quote_as_seen(quote, &later);
    let input = CheckoutInput {
        quote: quote_input(
            plugin.name(),
            buyer,
            now_ms,
            &seen,
            &plugin.declared.settings,
        ),
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
                    gift: false,
                    brand_id: None,
                    category_ids: Vec::new(),
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
                final_sale: false,
            }],
            ..QuoteOutput::default()
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
