//! `pricing.rhai`: a line's price after the catalogue (level and break prices are data) and
//! before the plugins. The contract (`scripts/README.md`):
//!
//! `fn adjust(line, member, now)` returns an array of `#{ amount_fen, label }`: changes to the
//! line's total (negative is a discount), each recorded as a `script` adjustment.
//! - `line`: `sku_id`, `product_id`, `item_no`, `name`, `qty`, `list_price_fen`,
//!   `unit_price_fen` (after level and break prices), `line_total_fen`.
//! - `member`: `id`, `level` (name, "" when none), `region` (name, ""), `tags` (array).
//! - `now`: `ms` (epoch), `date` (shop date, `"2026-11-30"`).
//!
//! `fn examples()` (optional) returns `#{ line, member, now, expect }` cases; a version whose
//! examples fail does not serve.
//!
//! The step's inputs (`PricingLine`s, `MemberAttributes`, the time) are plain data so checkout
//! can record them with the order and `replay` can run a draft on them later.

use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, Map};

use super::{Compiled, ScriptError, ScriptHost, compile_with_examples, expected};
use crate::members::MemberAttributes;
use crate::orders::pipeline::{PricingLine, PricingRun, QuoteStep, StepFailure};
use crate::orders::quote::{Adjustment, Buyer, Quote};
use crate::store::StoreError;

pub const FILE: &str = "pricing.rhai";

/// What is wrong with an adjustment `adjust` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AdjustmentProblem {
    #[error("each adjustment is a map #{{ amount_fen, label }}")]
    NotAMap,
    #[error("amount_fen must be an integer (fen)")]
    Amount,
    #[error("label must be 1 to 40 characters")]
    Label,
}

fn member_map(member: &MemberAttributes) -> Map {
    let mut map = Map::new();
    map.insert("id".into(), member.id.into());
    map.insert("level".into(), member.level.clone().into());
    map.insert("region".into(), member.region.clone().into());
    let tags: Array = member
        .tags
        .iter()
        .map(|t| Dynamic::from(t.clone()))
        .collect();
    map.insert("tags".into(), tags.into());
    map
}

fn line_map(line: &PricingLine) -> Map {
    let mut map = Map::new();
    map.insert("sku_id".into(), line.sku_id.into());
    map.insert("product_id".into(), line.product_id.into());
    map.insert("item_no".into(), line.item_no.clone().into());
    map.insert("name".into(), line.name.clone().into());
    map.insert("qty".into(), line.qty.into());
    map.insert("list_price_fen".into(), line.list_price_fen.into());
    map.insert("unit_price_fen".into(), line.unit_price_fen.into());
    map.insert("line_total_fen".into(), line.line_total_fen.into());
    map
}

/// Each line's script adjustments from `compiled`, the way the quote step runs it; the first
/// failing line's error (`pricing.rhai:LINE:COLUMN: …`) otherwise.
pub fn adjust_lines(
    engine: &Engine,
    compiled: &Compiled,
    member: &MemberAttributes,
    now_ms: i64,
    lines: &[PricingLine],
) -> Result<Vec<Vec<(i64, String)>>, ScriptError> {
    let member = member_map(member);
    let now = now_map(now_ms);
    lines
        .iter()
        .map(|line| {
            adjust_line(
                engine,
                compiled,
                line_map(line),
                member.clone(),
                now.clone(),
            )
        })
        .collect()
}

fn now_map(now_ms: i64) -> Map {
    let mut map = Map::new();
    map.insert("ms".into(), now_ms.into());
    map.insert("date".into(), crate::clock::shop_date_iso(now_ms).into());
    map
}

/// One line's adjustments from the script.
pub fn adjust_line(
    engine: &Engine,
    compiled: &Compiled,
    line: Map,
    member: Map,
    now: Map,
) -> Result<Vec<(i64, String)>, ScriptError> {
    let result: Dynamic = engine
        .call_fn(
            &mut rhai::Scope::new(),
            &compiled.ast,
            "adjust",
            (line, member, now),
        )
        .map_err(|e| ScriptError::runtime(&compiled.file, e))?;
    parse_adjustments(&compiled.file, result)
}

fn parse_adjustments(file: &str, result: Dynamic) -> Result<Vec<(i64, String)>, ScriptError> {
    let array = result
        .try_cast::<Array>()
        .ok_or_else(|| ScriptError::NotAnArray {
            file: file.to_owned(),
            function: "adjust",
            shape: "#{ amount_fen, label }",
        })?;
    let problem = |problem| ScriptError::Adjustment {
        file: file.to_owned(),
        problem,
    };
    let mut out = Vec::with_capacity(array.len());
    for item in array {
        let map = item
            .try_cast::<Map>()
            .ok_or_else(|| problem(AdjustmentProblem::NotAMap))?;
        let amount = map
            .get("amount_fen")
            .and_then(|v| v.as_int().ok())
            .ok_or_else(|| problem(AdjustmentProblem::Amount))?;
        let label = map
            .get("label")
            .and_then(|v| v.clone().into_string().ok())
            .filter(|l| !l.trim().is_empty() && l.chars().count() <= 40)
            .ok_or_else(|| problem(AdjustmentProblem::Label))?;
        if amount != 0 {
            out.push((amount, label));
        }
    }
    Ok(out)
}

/// Compiles `source` and runs its `examples()`: the version to serve, or why not.
pub fn check(engine: &Engine, source: &str) -> Result<Compiled, ScriptError> {
    let compiled = compile_with_examples(
        engine,
        FILE,
        source,
        ("adjust", "fn adjust(line, member, now)"),
        |compiled, n, example| {
            let part = |name: &'static str| -> Result<Map, ScriptError> {
                example
                    .get(name)
                    .and_then(|v| v.clone().try_cast::<Map>())
                    .ok_or_else(|| ScriptError::ExampleIncomplete {
                        file: FILE.to_owned(),
                        n,
                        part: name,
                    })
            };
            let got = adjust_line(
                engine,
                compiled,
                part("line")?,
                part("member")?,
                part("now")?,
            )?;
            let expect = parse_adjustments(FILE, expected(example))?;
            if got != expect {
                return Err(ScriptError::ExampleFails {
                    file: FILE.to_owned(),
                    n,
                    got: format!("{got:?}"),
                    expected: format!("{expect:?}"),
                });
            }
            Ok(())
        },
    )?;
    sample_carts(engine, &compiled)?;
    Ok(compiled)
}

/// Beside its own examples, every version prices sample carts before it serves: a member
/// with a level, region and tag and one with none, a cheap line, an ordinary one and a huge one, on an
/// ordinary day and on 双十二. A rule that fails at run time there (a limit, a division by
/// zero, a missing field, a wrong result) is refused now instead of refusing real quotes
/// later. (A line priced below zero is refused per quote: whether a rule can do that depends
/// on the shop's prices, not on samples.)
fn sample_carts(engine: &Engine, compiled: &Compiled) -> Result<(), ScriptError> {
    let members = [
        MemberAttributes::default(),
        MemberAttributes {
            id: 1,
            level: "银牌会员".to_owned(),
            region: "海口".to_owned(),
            tags: vec!["展会客户".to_owned()],
        },
    ];
    let lines = [(1, 1), (10, 2_800), (10_000, 123_456)];
    // 2026-06-01 and 2026-12-12, shop time.
    let days = [1_780_243_200_000_i64, 1_796_400_000_000];
    for member in &members {
        for (qty, price) in lines {
            for day in days {
                let line = PricingLine {
                    line_no: 1,
                    sku_id: 1,
                    product_id: 1,
                    item_no: "SAMPLE-1".to_owned(),
                    name: "样品".to_owned(),
                    qty,
                    list_price_fen: price,
                    unit_price_fen: price,
                    line_total_fen: qty.saturating_mul(price),
                };
                let cart = format!(
                    "a sample cart ({qty} × {price} fen for a member with level {:?}, region {:?}, tags {:?}, on {})",
                    member.level,
                    member.region,
                    member.tags,
                    crate::clock::shop_date_iso(day)
                );
                adjust_line(
                    engine,
                    compiled,
                    line_map(&line),
                    member_map(member),
                    now_map(day),
                )
                .map_err(|e| ScriptError::SampleCart {
                    cart,
                    source: Box::new(e),
                })?;
            }
        }
    }
    Ok(())
}

/// `pricing.rhai` as a step of the quote pipeline (after the catalogue, before the plugins).
pub struct ScriptStep {
    pub host: Arc<ScriptHost>,
    /// A draft priced in the serving version's place (the admin preview).
    pub draft: Option<Arc<Compiled>>,
}

impl QuoteStep for ScriptStep {
    fn name(&self) -> &str {
        FILE
    }

    fn apply(&self, buyer: &Buyer, now_ms: i64, quote: &mut Quote) -> Result<(), StepFailure> {
        let Some(compiled) = self.draft.clone().or_else(|| self.host.pricing.load_full()) else {
            return Ok(());
        };
        let member = self.member(buyer).map_err(|e| self.failure(&e))?;
        let lines: Vec<PricingLine> = quote.lines.iter().map(PricingLine::of).collect();
        let adjustments = adjust_lines(&self.host.engine, &compiled, &member, now_ms, &lines)
            .map_err(|e| self.failure(&e))?;
        for (line, adjustments) in quote.lines.iter_mut().zip(adjustments) {
            line.adjustments
                .extend(
                    adjustments
                        .into_iter()
                        .map(|(amount_fen, label)| Adjustment {
                            source: "script".to_owned(),
                            label,
                            amount_fen,
                            final_sale: false,
                        }),
                );
        }
        quote.pricing_run = Some(PricingRun {
            version: compiled.version.clone(),
            member,
            now_ms,
        });
        Ok(())
    }
}

impl ScriptStep {
    fn member(&self, buyer: &Buyer) -> Result<MemberAttributes, StoreError> {
        if let Some(attributes) = &buyer.attributes {
            return Ok(MemberAttributes::clone(attributes));
        }
        let (Some(store), Ok(handle)) = (&self.host.store, tokio::runtime::Handle::try_current())
        else {
            return Ok(MemberAttributes {
                id: buyer.member_id,
                ..MemberAttributes::default()
            });
        };
        handle.block_on(store.members().member_attributes(buyer.member_id))
    }

    /// A price is never silently different: the quote is refused and staff are told. The
    /// pipeline's `StepFailure` is what members and staff read, so the cause is rendered here.
    fn failure(&self, error: &dyn std::error::Error) -> StepFailure {
        let message = error.to_string();
        if let (Some(store), Ok(handle)) = (
            self.host.store.clone(),
            tokio::runtime::Handle::try_current(),
        ) {
            let now = self.host.clock.now_ms();
            let body = format!("定价脚本出错，报价和下单暂停：{message}");
            handle.spawn(async move {
                crate::notify::tell_staff(&store, "pricing_script_failed", body, now).await;
            });
        }
        StepFailure {
            step: FILE.to_owned(),
            message,
            code: "pricing_unavailable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SURCHARGE: &str = r#"
fn adjust(line, member, now) {
    if member.region == "三亚" {
        return [#{ amount_fen: percent_of(line.line_total_fen, 5), label: "三亚运费附加5%" }];
    }
    []
}
fn examples() {
    [
        #{ line: #{ line_total_fen: 10_000, qty: 1 }, member: #{ region: "三亚" }, now: #{},
           expect: [#{ amount_fen: 500, label: "三亚运费附加5%" }] },
        #{ line: #{ line_total_fen: 10_000, qty: 1 }, member: #{ region: "海口" }, now: #{}, expect: [] },
    ]
}
"#;

    #[test]
    fn a_script_with_passing_examples_serves() {
        assert!(check(&super::super::engine(), SURCHARGE).is_ok());
    }

    #[test]
    fn a_script_failing_its_examples_is_refused_naming_the_example() {
        let broken = SURCHARGE.replace("percent_of(line.line_total_fen, 5)", "600");
        let error = check(&super::super::engine(), &broken)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("example 1"), "{error}");
    }

    #[test]
    fn a_rule_failing_on_an_ordinary_cart_is_refused_before_it_serves() {
        // Passes its own example (a member with tags) but divides by zero for one without.
        let fragile = r#"
fn adjust(line, member, now) {
    [#{ amount_fen: -div_round(line.line_total_fen, 100 * member.tags.len()), label: "标签折扣" }]
}
fn examples() {
    [#{ line: #{ line_total_fen: 10000 }, member: #{ tags: ["a"] }, now: #{},
        expect: [#{ amount_fen: -100, label: "标签折扣" }] }]
}
"#;
        let error = check(&super::super::engine(), fragile)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("division by zero"), "{error}");
        assert!(error.contains("on a sample cart"), "{error}");
    }

    #[test]
    fn the_shipped_default_passes_its_examples() {
        let source = include_str!("../../../scripts/pricing.rhai");
        let checked = check(&super::super::engine(), source);
        assert!(checked.is_ok(), "{:?}", checked.err());
    }
}
