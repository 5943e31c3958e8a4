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

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use utoipa::ToSchema;

use super::ScriptsState;
use super::pricing;
use super::{Compiled, ScriptError, ScriptHost};
use crate::accounts::permissions::{Actor, Permission};
use crate::clock::rfc3339;
use crate::edge::json::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::jobs::{Progress, off_runtime};
use crate::orders::order_number;
use crate::orders::pipeline::PricingInputs;
use crate::orders::quote::Adjustment;
use crate::store::{StoreResult, on_pool};

/// Most orders one replay reads.
pub const MAX_ORDERS: i64 = 1_000;
const DEFAULT_ORDERS: i64 = 100;

/// A draft to replay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayInput {
    /// The draft script.
    pub source: String,
    /// How many of the latest orders (with recorded inputs) to replay.
    #[serde(default = "default_orders")]
    #[schema(default = 100, minimum = 1, maximum = 1000)]
    pub last: i64,
}

fn default_orders() -> i64 {
    DEFAULT_ORDERS
}

/// The orders replayed: those that differ (or failed), newest first, and the totals.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Replay {
    pub summary: ReplaySummary,
    /// Only orders whose script result differs, or where a script failed.
    pub orders: Vec<ReplayedOrder>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplaySummary {
    pub orders_checked: i64,
    pub orders_changed: i64,
    /// Orders on which either script failed (each names its error).
    pub orders_failed: i64,
    /// Draft minus serving, over the changed orders.
    pub total_difference_fen: i64,
    /// The version serving now, the baseline (`None`: no script).
    pub current_version: Option<String>,
    pub draft_version: String,
}

/// One order: goods totals after the script step (before plugins and shipping).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayedOrder {
    pub order_id: crate::ids::OrderId,
    pub order_no: String,
    pub placed_at: String,
    pub member_id: i64,
    pub member_name: String,
    /// The member's region as the script saw it.
    pub region: String,
    /// The version that priced the order at checkout (`None`: no script served).
    pub priced_with: Option<String>,
    /// With the serving script (`None` when it failed).
    pub current_total_fen: Option<i64>,
    /// With the draft (`None` when it failed).
    pub draft_total_fen: Option<i64>,
    /// Draft minus serving (0 when either failed).
    pub difference_fen: i64,
    /// Only the lines that differ.
    pub lines: Vec<ReplayedLine>,
    /// Why a script could not price this order (`current: …` or `draft: …`).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayedLine {
    pub line_no: i64,
    pub sku_id: i64,
    /// 货号
    pub item_no: String,
    pub name: String,
    pub qty: i64,
    /// The catalogue price of one item the script started from (level and break prices).
    pub unit_price_fen: i64,
    /// The line's total before the script.
    pub catalogue_fen: i64,
    pub current_fen: i64,
    pub draft_fen: i64,
    /// Draft minus serving.
    pub difference_fen: i64,
    pub current_adjustments: Vec<Adjustment>,
    pub draft_adjustments: Vec<Adjustment>,
}

/// An order's recorded inputs as stored.
#[derive(Debug, FromRow)]
pub struct RecordedOrder {
    pub order_id: crate::ids::OrderId,
    pub placed_at: i64,
    pub member_id: i64,
    pub member_name: String,
    pub inputs: String,
}

impl super::ScriptStore<'_> {
    /// The recorded pricing inputs of the last `limit` orders placed, newest first.
    pub async fn recorded_pricing_inputs(self, limit: i64) -> StoreResult<Vec<RecordedOrder>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT o.id AS order_id, o.placed_at, o.member_id, u.name AS member_name, i.inputs
                 FROM order_pricing_inputs i JOIN orders o ON o.id = i.order_id JOIN users u ON u.id = o.member_id
                 ORDER BY i.order_id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await
        })?)
    }
}

/// One script's result on one order: per line, its adjustments and total.
type Priced = Vec<(Vec<Adjustment>, i64)>;

/// Why a script could not price a recorded order: what the quote pipeline would refuse.
#[derive(Debug, thiserror::Error)]
enum ReplayError {
    #[error(transparent)]
    Script(#[from] ScriptError),
    #[error("line {line_no}: amount overflows")]
    Overflow { line_no: i64 },
    #[error("line {line_no} would cost less than nothing")]
    BelowZero { line_no: i64 },
}

/// Runs `compiled` (or no script) on `inputs`, refusing what the quote pipeline refuses (a
/// line below zero, an overflowing sum).
fn run(
    engine: &rhai::Engine,
    compiled: Option<&Compiled>,
    inputs: &PricingInputs,
) -> Result<Priced, ReplayError> {
    let adjustments = match compiled {
        Some(compiled) => pricing::adjust_lines(
            engine,
            compiled,
            &inputs.member,
            inputs.now_ms,
            &inputs.lines,
        )?,
        None => vec![Vec::new(); inputs.lines.len()],
    };
    inputs
        .lines
        .iter()
        .zip(adjustments)
        .map(|(line, adjustments)| {
            let mut total = line.line_total_fen;
            for (amount, _) in &adjustments {
                total = total.checked_add(*amount).ok_or(ReplayError::Overflow {
                    line_no: line.line_no,
                })?;
            }
            if total < 0 {
                return Err(ReplayError::BelowZero {
                    line_no: line.line_no,
                });
            }
            let adjustments = adjustments
                .into_iter()
                .map(|(amount_fen, label)| Adjustment {
                    source: "script".to_owned(),
                    label,
                    amount_fen,
                    final_sale: false,
                })
                .collect();
            Ok((adjustments, total))
        })
        .collect()
}

fn goods(priced: &Priced) -> Option<i64> {
    priced
        .iter()
        .try_fold(0_i64, |sum, (_, total)| sum.checked_add(*total))
}

/// Replays one order; `None` when both scripts give the same result.
fn replay_order(
    host: &ScriptHost,
    current: Option<&Compiled>,
    draft: &Compiled,
    order: RecordedOrder,
) -> Option<ReplayedOrder> {
    let inputs: Result<PricingInputs, serde_json::Error> = serde_json::from_str(&order.inputs);
    let mut replayed = ReplayedOrder {
        order_id: order.order_id,
        order_no: order_number(order.order_id, order.placed_at),
        placed_at: rfc3339(order.placed_at),
        member_id: order.member_id,
        member_name: order.member_name,
        region: String::new(),
        priced_with: None,
        current_total_fen: None,
        draft_total_fen: None,
        difference_fen: 0,
        lines: Vec::new(),
        error: None,
    };
    let inputs = match inputs {
        Ok(inputs) => inputs,
        Err(error) => {
            replayed.error = Some(format!("the recorded inputs are unreadable: {error}"));
            return Some(replayed);
        }
    };
    replayed.region = inputs.member.region.clone();
    replayed.priced_with = inputs.script_version.clone();
    let serving = run(&host.engine, current, &inputs).map_err(|e| format!("current: {e}"));
    let drafted = run(&host.engine, Some(draft), &inputs).map_err(|e| format!("draft: {e}"));
    replayed.current_total_fen = serving.as_ref().ok().and_then(goods);
    replayed.draft_total_fen = drafted.as_ref().ok().and_then(goods);
    let (serving, drafted) = match (serving, drafted) {
        (Ok(serving), Ok(drafted)) => (serving, drafted),
        (serving, drafted) => {
            replayed.error = serving.err().or(drafted.err());
            return Some(replayed);
        }
    };
    replayed.lines = inputs
        .lines
        .iter()
        .zip(serving.into_iter().zip(drafted))
        .filter(|(_, (serving, drafted))| serving != drafted)
        .map(
            |(line, ((current_adjustments, current_fen), (draft_adjustments, draft_fen)))| {
                ReplayedLine {
                    line_no: line.line_no,
                    sku_id: line.sku_id,
                    item_no: line.item_no.clone(),
                    name: line.name.clone(),
                    qty: line.qty,
                    unit_price_fen: line.unit_price_fen,
                    catalogue_fen: line.line_total_fen,
                    current_fen,
                    draft_fen,
                    difference_fen: draft_fen.saturating_sub(current_fen),
                    current_adjustments,
                    draft_adjustments,
                }
            },
        )
        .collect();
    match (replayed.current_total_fen, replayed.draft_total_fen) {
        (Some(serving), Some(drafted)) => replayed.difference_fen = drafted.saturating_sub(serving),
        _ => replayed.error = Some("the goods total overflows".to_owned()),
    }
    (!replayed.lines.is_empty() || replayed.error.is_some()).then_some(replayed)
}

/// Replays `orders` with the serving script and `draft` (a blocking job: scripts run here).
fn replay_all(
    host: &ScriptHost,
    draft: &Compiled,
    orders: Vec<RecordedOrder>,
    progress: &Progress,
) -> Replay {
    let current = host.pricing.load_full();
    let checked = i64::try_from(orders.len()).unwrap_or(i64::MAX);
    progress.stage("replaying", u64::try_from(orders.len()).unwrap_or(0));
    let orders: Vec<ReplayedOrder> = orders
        .into_iter()
        .filter_map(|order| {
            progress.advance(1);
            replay_order(host, current.as_deref(), draft, order)
        })
        .collect();
    let failed = orders.iter().filter(|o| o.error.is_some()).count();
    let changed = orders.len() - failed;
    Replay {
        summary: ReplaySummary {
            orders_checked: checked,
            orders_changed: i64::try_from(changed).unwrap_or(i64::MAX),
            orders_failed: i64::try_from(failed).unwrap_or(i64::MAX),
            total_difference_fen: orders
                .iter()
                .fold(0_i64, |sum, o| sum.saturating_add(o.difference_fen)),
            current_version: current.map(|c| c.version.clone()),
            draft_version: draft.version.clone(),
        },
        orders,
    }
}

/// How many orders a replay may read: 1 to [`MAX_ORDERS`].
pub fn check_last(last: i64) -> ApiResult<()> {
    if (1..=MAX_ORDERS).contains(&last) {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "invalid_input",
            "last",
            format!("last: 须为1到{MAX_ORDERS}之间的整数 (1 to {MAX_ORDERS})"),
        ))
    }
}

/// Replay the last orders with a draft of the pricing script beside the serving one, on what
/// the script was given at checkout (member, time, catalogue prices); only the script step is
/// run again. Nothing is saved. A draft that does not compile or fails its examples is refused
/// naming `pricing.rhai:LINE:COLUMN`; one that fails on an order is reported on that order.
#[utoipa::path(post, path = "/admin/scripts/pricing/replay", tag = "scripts", request_body = ReplayInput,
    responses((status = 200, body = Replay), (status = 422, description = "`script_invalid`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn replay(
    State(app): State<ScriptsState>,
    actor: Actor,
    ApiJson(input): ApiJson<ReplayInput>,
) -> ApiResult<Json<Replay>> {
    replay_draft(&app, &actor, input, &Progress::default())
        .await
        .map(Json)
}

/// Checks the draft, then replays the last orders with it an order at a time on a blocking
/// thread: what the API's `replay` answers with and the back office's replay job does.
pub async fn replay_draft(
    app: &ScriptsState,
    actor: &Actor,
    input: ReplayInput,
    progress: &Progress,
) -> ApiResult<Replay> {
    actor.require(Permission::ManageSettings)?;
    check_last(input.last)?;
    let draft =
        pricing::check(&app.scripts.engine, &input.source).map_err(super::admin::script_invalid)?;
    let orders = app
        .store
        .scripts()
        .recorded_pricing_inputs(input.last)
        .await?;
    let host = Arc::clone(&app.scripts);
    let progress = progress.clone();
    let replayed = off_runtime(move || replay_all(&host, &draft, orders, &progress)).await?;
    tracing::info!(
        orders_checked = replayed.summary.orders_checked,
        orders_changed = replayed.summary.orders_changed,
        orders_failed = replayed.summary.orders_failed,
        draft_version = replayed.summary.draft_version,
        "pricing draft replayed"
    );
    Ok(replayed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::members::MemberAttributes;
    use crate::orders::pipeline::PricingLine;

    fn inputs(region: &str) -> PricingInputs {
        PricingInputs {
            now_ms: 0,
            member: MemberAttributes {
                id: 7,
                region: region.to_owned(),
                ..MemberAttributes::default()
            },
            script_version: None,
            lines: vec![PricingLine {
                line_no: 1,
                sku_id: 3,
                product_id: 2,
                item_no: "AQM-001".to_owned(),
                name: "安全帽".to_owned(),
                qty: 10,
                list_price_fen: 2800,
                unit_price_fen: 2661,
                line_total_fen: 26_610,
            }],
        }
    }

    fn compiled(source: &str) -> Result<Compiled, ScriptError> {
        pricing::check(&super::super::engine(), source)
    }

    #[test]
    fn only_the_script_step_changes_and_no_script_is_a_baseline() -> Result<(), ReplayError> {
        let engine = super::super::engine();
        let draft = compiled(
            r#"fn adjust(line, member, now) {
                if member.region == "三亚" { return [#{ amount_fen: percent_of(line.line_total_fen, 5), label: "三亚加价5%" }]; }
                []
            }"#,
        )?;
        let none = run(&engine, None, &inputs("三亚"))?;
        let with_draft = run(&engine, Some(&draft), &inputs("三亚"))?;
        assert_eq!(goods(&none), Some(26_610));
        // 5% of 266.10 is 13.305: half up to 13.31.
        assert_eq!(goods(&with_draft), Some(26_610 + 1_331));
        assert_eq!(run(&engine, Some(&draft), &inputs("海口"))?, none);
        Ok(())
    }

    #[test]
    fn a_line_below_zero_is_refused_as_the_quote_would() -> Result<(), ScriptError> {
        let draft =
            compiled("fn adjust(line, member, now) { [#{ amount_fen: -30000, label: \"x\" }] }")?;
        let error = run(&super::super::engine(), Some(&draft), &inputs("三亚"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("less than nothing"), "{error}");
        Ok(())
    }
}
