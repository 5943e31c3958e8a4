//! The order pipeline's extension points, and the one `Pipeline` that runs them. A quote runs
//! the catalogue's prices through each `QuoteStep` in order (the pricing script, then the
//! plugins' `quote` hooks); a checkout then asks each `CheckoutStep` for its reservations
//! outside the transaction and has the step hold them inside it, bounded, with the stock.
//! This module knows nothing of Rhai or WebAssembly: the hosts implement the traits, and
//! `app::AppState::new` assembles the pipeline the server, the script preview and the replay
//! all use.

use std::sync::Arc;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::quote::{Buyer, Quote, QuotedLine};
use crate::error::{ApiError, ApiResult};
use crate::members::MemberAttributes;
use crate::store::batch::Batch;

/// Why an extension step could not price a cart.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {message}")]
pub struct StepFailure {
    pub step: String,
    pub message: String,
    /// The refusal's stable code: `pricing_unavailable` (the script, a step's sums) or
    /// `plugin_failed` (a plugin whose policy is `reject`).
    pub code: &'static str,
}

/// A pricing step between the catalogue price and shipping: the pricing script, a plugin's
/// `quote` hook. Steps are synchronous and bounded by their own limits; the pipeline runs them
/// off the async threads.
pub trait QuoteStep: Send + Sync {
    fn name(&self) -> &str;
    /// Adds adjustments to `quote`'s lines or to the order; the pipeline recomputes the totals
    /// and refuses results that make no sense (a negative line, an overflowing sum).
    fn apply(&self, buyer: &Buyer, now_ms: i64, quote: &mut Quote) -> Result<(), StepFailure>;
}

/// A checkout step: a plugin's `checkout` hook. `reserve` runs on a blocking thread after the
/// quote and before the transaction; `push_holds` puts the statements that hold what it
/// reserved into the checkout transaction.
pub trait CheckoutStep: Send + Sync {
    fn name(&self) -> &str;
    /// Whether `reserve` would do anything for `quote` now (a plugin set with no checkout
    /// hook would not, nor plugins whose quote said they have nothing to hold): a checkout
    /// with no step to ask does not leave the async threads for nothing.
    fn is_active(&self, _quote: &Quote) -> bool {
        true
    }
    /// What this step reserves for the order (bounded counters), or its refusal of the order
    /// (`plugin_refused`, `plugin_failed`).
    fn reserve(&self, buyer: &Buyer, now_ms: i64, quote: &Quote) -> ApiResult<Vec<Reservation>>;
    /// Adds one bounded update per reservation to `batch`; each returns a row
    /// `(value, owner, key)` while within its bounds. Returns how many rows must come back.
    fn push_holds(&self, batch: &mut Batch, reservations: &[Reservation]) -> usize;
    /// What holding `reservations` changed, for the caches, reported after the commit.
    fn held(&self, reservations: &[Reservation]) -> Option<crate::store::Change>;
}

/// A bounded counter an extension moves for an order: `key` in `owner`'s namespace by
/// `delta`, refused with `message` when the result would leave `min..=max`. Kept with the
/// order (`order_reservations`) so it can be given back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub owner: String,
    pub key: String,
    pub delta: i64,
    pub min: i64,
    pub max: i64,
    /// What the member reads when the bound is reached: 「每人限购2件」.
    pub message: String,
}

/// The reservations of one checkout, each group with the step that holds them.
#[derive(Default)]
pub struct Reservations {
    groups: Vec<(Arc<dyn CheckoutStep>, Vec<Reservation>)>,
}

impl Reservations {
    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(|(_, list)| list.is_empty())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Reservation> {
        self.groups.iter().flat_map(|(_, list)| list.iter())
    }

    /// The statements holding every reservation; how many rows must come back.
    pub fn push_holds(&self, batch: &mut Batch) -> usize {
        self.groups
            .iter()
            .map(|(step, list)| step.push_holds(batch, list))
            .sum()
    }

    /// What holding them changed, once committed (see `CheckoutStep::held`).
    pub fn changes(&self) -> Vec<crate::store::Change> {
        self.groups
            .iter()
            .filter(|(_, list)| !list.is_empty())
            .filter_map(|(step, list)| step.held(list))
            .collect()
    }
}

/// Which version of the pricing rules priced a quote, for whom and when: the quote keeps it
/// so checkout records exactly what the rules saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricingRun {
    pub version: String,
    pub member: MemberAttributes,
    pub now_ms: i64,
}

/// A line as the pricing rules see it: the catalogue price (list price, then the member's
/// level price and the quantity break as `catalog` adjustments), before any extension step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricingLine {
    pub line_no: i64,
    pub sku_id: i64,
    pub product_id: i64,
    pub item_no: String,
    pub name: String,
    pub qty: i64,
    pub list_price_fen: i64,
    /// After level and break prices (`line_total_fen / qty`).
    pub unit_price_fen: i64,
    /// After level and break prices.
    pub line_total_fen: i64,
}

impl PricingLine {
    /// What the rules are given for `line`. Only `catalog` adjustments count, so the same line
    /// comes out whether it is read before the rules run or from a finished quote (checkout
    /// records it after the plugins have added theirs).
    pub fn of(line: &QuotedLine) -> PricingLine {
        let total = line.list_price_fen.saturating_mul(line.qty).saturating_add(
            line.adjustments
                .iter()
                .filter(|a| a.source == "catalog")
                .map(|a| a.amount_fen)
                .sum::<i64>(),
        );
        PricingLine {
            line_no: line.line_no,
            sku_id: line.sku_id.get(),
            product_id: line.product_id.get(),
            item_no: line.item_no.clone(),
            name: line.name.clone(),
            qty: line.qty,
            list_price_fen: line.list_price_fen,
            unit_price_fen: total / line.qty.max(1),
            line_total_fen: total,
        }
    }
}

/// What the pricing rules were given for one order, recorded at checkout (JSON in
/// `order_pricing_inputs`) so a draft can be replayed on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricingInputs {
    /// The rules' `now` (epoch milliseconds).
    pub now_ms: i64,
    pub member: MemberAttributes,
    /// The version that priced the order (`None`: no rules served).
    pub script_version: Option<String>,
    pub lines: Vec<PricingLine>,
}

impl PricingInputs {
    /// The inputs of `quote`; `member` and `now_ms` are those the rules saw when they ran
    /// (`quote.pricing_run`), or would have seen.
    pub fn of(quote: &Quote, member: MemberAttributes, now_ms: i64) -> PricingInputs {
        PricingInputs {
            now_ms,
            member,
            script_version: quote.pricing_run.as_ref().map(|run| run.version.clone()),
            lines: quote.lines.iter().map(PricingLine::of).collect(),
        }
    }
}

/// The extension steps, in order: empty for the kernel alone, assembled with the hosts' steps
/// by `app::AppState::new`.
#[derive(Clone, Default)]
pub struct Pipeline {
    quote_steps: Vec<Arc<dyn QuoteStep>>,
    checkout_steps: Vec<Arc<dyn CheckoutStep>>,
}

impl Pipeline {
    pub fn with_step(mut self, step: Arc<dyn QuoteStep>) -> Pipeline {
        self.quote_steps.push(step);
        self
    }

    pub fn with_checkout_step(mut self, step: Arc<dyn CheckoutStep>) -> Pipeline {
        self.checkout_steps.push(step);
        self
    }

    /// This pipeline with the quote step named `name` replaced by `step` (a draft of the
    /// pricing script in its place, for a preview); unchanged when no step has that name.
    pub fn replacing(&self, name: &str, step: Arc<dyn QuoteStep>) -> Pipeline {
        let mut pipeline = self.clone();
        for slot in &mut pipeline.quote_steps {
            if slot.name() == name {
                *slot = step.clone();
            }
        }
        pipeline
    }

    pub fn step_names(&self) -> Vec<String> {
        self.quote_steps
            .iter()
            .map(|s| s.name().to_owned())
            .collect()
    }

    /// Runs every quote step on `quote` off the async threads, re-totalling after each with
    /// checked arithmetic; a step's failure or a result out of bounds refuses the quote.
    pub async fn apply_quote_steps(
        &self,
        buyer: &Buyer,
        now_ms: i64,
        mut quote: Quote,
    ) -> ApiResult<Quote> {
        if self.quote_steps.is_empty() {
            return Ok(quote);
        }
        let steps = self.quote_steps.clone();
        let buyer = buyer.clone();
        off_the_scheduler(move || {
            for step in &steps {
                step.apply(&buyer, now_ms, &mut quote)
                    .map_err(|f| step_failure(&f))?;
                quote
                    .recompute()
                    .map_err(|error| failure(step.name(), &error.to_string()))?;
            }
            Ok::<_, ApiError>(quote)
        })
        .await?
    }

    /// Every checkout step's reservations for `quote`, off the async threads; the first
    /// refusal refuses the order.
    pub async fn reserve(
        &self,
        buyer: &Buyer,
        now_ms: i64,
        quote: &Quote,
    ) -> ApiResult<Reservations> {
        let steps: Vec<Arc<dyn CheckoutStep>> = self
            .checkout_steps
            .iter()
            .filter(|step| step.is_active(quote))
            .cloned()
            .collect();
        if steps.is_empty() {
            return Ok(Reservations::default());
        }
        let buyer = buyer.clone();
        let quote = quote.clone();
        off_the_scheduler(move || {
            let mut reservations = Reservations::default();
            for step in steps {
                let list = step.reserve(&buyer, now_ms, &quote)?;
                reservations.groups.push((step, list));
            }
            Ok(reservations)
        })
        .await?
    }
}

/// Runs the steps, synchronous and each bounded by its own deadline, on the blocking pool, so
/// a slow plugin never holds up the requests sharing this worker. (Running them in place with
/// `block_in_place` instead was measured: a cheap hook was no faster.)
async fn off_the_scheduler<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.step_names()).finish()
    }
}

fn step_failure(failure: &StepFailure) -> ApiError {
    if failure.code == "plugin_failed" {
        tracing::error!(
            step = failure.step,
            message = failure.message,
            "plugin refused the quote"
        );
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "plugin_failed",
            format!(
                "暂时无法下单，请稍后再试 (plugin {} failed: {})",
                failure.step, failure.message
            ),
        );
    }
    self::failure(&failure.step, &failure.message)
}

fn failure(step: &str, message: &str) -> ApiError {
    tracing::error!(step, message, "pricing step failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "pricing_unavailable",
        format!("暂时无法计算价格，请稍后再试 (pricing step {step} failed: {message})"),
    )
}
