//! What the campaigns do to a cart (REQUIREMENTS G2): the reductions, discounts, gifts and
//! notes of `quote`, the gift reservations of `checkout`, and the reservations handed back
//! when an order closes. Quote and checkout both go through [`plan`], so checkout reserves
//! exactly the gifts quote gave.

use pifa_sdk::{
    Adjustment, CheckoutInput, CheckoutOutput, Gift, HookError, Kv, Line, QuoteInput, QuoteOutput,
    Reservation,
};
use serde_json::Value;

use crate::campaign::{Basis, Campaign, GiftReward, Reward, Tier};

/// This plugin's name: the `source` of its own adjustments in a line's history.
pub const ME: &str = "full-reduction";
pub use pifa_sdk::storage::ORDER_CLOSED;
pub const GIFT_GONE_MESSAGE: &str = "满赠赠品已送完";

/// The gift sets tier `tier_no` (1-based) of campaign `campaign_id` has given, bounded by the
/// tier's stock through checkout reservations.
pub fn given_key(campaign_id: i64, tier_no: usize) -> String {
    format!("given:{campaign_id}:{tier_no}")
}

/// How several campaigns active at once combine (setting `stacking`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stacking {
    /// Only the campaign giving the biggest reduction applies.
    Best,
    /// Each applies in turn, in id order, on the totals the previous left.
    All,
}

impl Stacking {
    pub fn of(settings: &Value) -> Stacking {
        match settings.get("stacking").and_then(Value::as_str) {
            Some("all") => Stacking::All,
            _ => Stacking::Best,
        }
    }
}

/// An earlier step's `source`, as a plugin's name: the kernel of issue 21 writes the name, an
/// older one wrote `plugin:<name>`.
fn source_name(source: &str) -> &str {
    source.strip_prefix("plugin:").unwrap_or(source)
}

/// A cart line with its total so far (lowered by the campaigns applied before, in `all`).
#[derive(Debug, Clone)]
struct Priced<'a> {
    line: &'a Line,
    total: i64,
}

/// A gift a campaign gives, with what checkout needs to reserve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedGift {
    pub campaign_id: i64,
    pub tier_no: usize,
    pub stock: i64,
    pub gift: Gift,
}

/// What one campaign does to the totals it is given.
#[derive(Debug, Clone)]
struct Effect<'a> {
    campaign: &'a Campaign,
    /// Whether any line counts towards it.
    counted: bool,
    /// The highest tier reached (1-based) and the tier.
    reached: Option<(usize, &'a Tier)>,
    /// Fen off each line (index into the priced lines, amount > 0).
    cuts: Vec<(usize, i64)>,
    /// `Some(true)` when the reached tier's gift is given, `Some(false)` when its stock is
    /// used up.
    gift: Option<bool>,
    /// 「再买 ¥120.00 减 ¥50.00」.
    next_note: Option<String>,
}

impl Effect<'_> {
    /// The money it takes off; a gift counts as nothing.
    fn value(&self) -> i64 {
        self.cuts
            .iter()
            .map(|(_, fen)| *fen)
            .fold(0, i64::saturating_add)
    }

    fn label(&self) -> Option<String> {
        self.reached
            .map(|(_, tier)| tier.words(self.campaign.basis))
    }

    /// 「已满¥500.00减¥50.00」, or that the gift is gone.
    fn reached_note(&self) -> Option<String> {
        let (_, tier) = self.reached?;
        let threshold = self.campaign.basis.threshold_money(tier.threshold);
        Some(match self.gift {
            Some(false) => format!("已满{threshold}，赠品已送完"),
            _ => format!("已满{threshold}{}", tier.reached_words()),
        })
    }

    fn planned_gift(&self) -> Option<PlannedGift> {
        let (tier_no, tier) = self.reached?;
        let gift = tier.gift()?;
        (self.gift == Some(true)).then(|| PlannedGift {
            campaign_id: self.campaign.id,
            tier_no,
            stock: gift.stock,
            gift: Gift {
                sku_id: gift.sku_id,
                qty: gift.qty,
                label: tier.words(self.campaign.basis),
            },
        })
    }
}

/// Whether the tier's gift stock is used up (`given` ≥ stock).
fn gift_gone(kv: &impl Kv, campaign_id: i64, tier_no: usize, gift: GiftReward) -> bool {
    kv.counter(&given_key(campaign_id, tier_no)) >= gift.stock
}

/// Whether the line counts towards `campaign`: in its scope, not a gift, costing something,
/// and not adjusted by an earlier plugin the campaign does not stack with.
fn eligible(campaign: &Campaign, priced: &Priced<'_>) -> bool {
    let line = priced.line;
    !line.gift
        && line.qty >= 1
        && priced.total > 0
        && campaign.covers(line)
        && line.adjustments.iter().all(|applied| {
            let source = source_name(&applied.source);
            source == ME || campaign.stacks_with(source)
        })
}

/// What `campaign` does to `priced`: the lines that count, the highest tier their sum
/// reaches and its cuts or gift, and the note on the next tier (none for a cart with nothing
/// that counts, nor for a gift already gone).
fn evaluate<'a>(kv: &impl Kv, campaign: &'a Campaign, priced: &[Priced<'_>]) -> Effect<'a> {
    let eligible: Vec<(usize, i64)> = priced
        .iter()
        .enumerate()
        .filter(|(_, line)| eligible(campaign, line))
        .map(|(index, line)| (index, line.total))
        .collect();
    let basis_sum = match campaign.basis {
        Basis::Amount => eligible
            .iter()
            .map(|(_, total)| *total)
            .fold(0, i64::saturating_add),
        Basis::Quantity => eligible
            .iter()
            .filter_map(|(index, _)| priced.get(*index))
            .map(|line| line.line.qty)
            .fold(0, i64::saturating_add),
    };
    let reached = campaign
        .tiers
        .iter()
        .enumerate()
        .rfind(|(_, tier)| tier.threshold <= basis_sum)
        .map(|(index, tier)| (index + 1, tier));
    let next = campaign
        .tiers
        .iter()
        .enumerate()
        .find(|(_, tier)| tier.threshold > basis_sum);
    let mut effect = Effect {
        campaign,
        counted: !eligible.is_empty(),
        reached,
        cuts: Vec::new(),
        gift: None,
        next_note: None,
    };
    if effect.counted
        && let Some((index, tier)) = next
    {
        let gone = tier
            .gift()
            .is_some_and(|gift| gift_gone(kv, campaign.id, index + 1, gift));
        // A gift nobody can get any more is not worth buying more for.
        if !gone {
            let gap = campaign
                .basis
                .gap_words(tier.threshold.saturating_sub(basis_sum));
            effect.next_note = Some(format!("再买 {gap} {}", tier.reward_words()));
        }
    }
    let Some((tier_no, tier)) = reached else {
        return effect;
    };
    let eligible_sum = eligible
        .iter()
        .map(|(_, total)| *total)
        .fold(0, i64::saturating_add);
    match &tier.reward {
        Reward::ReduceFen(fen) => {
            effect.cuts = pifa_sdk::spread((*fen).min(eligible_sum), &eligible)
        }
        Reward::DiscountPercent(percent) => {
            let off = 100_i128.saturating_sub(i128::from(*percent)).clamp(0, 100);
            // Rounded down: the shop never gives more than the percent says.
            effect.cuts = eligible
                .iter()
                .map(|(index, total)| {
                    let cut = i128::from(*total) * off / 100;
                    (*index, i64::try_from(cut).unwrap_or(0))
                })
                .filter(|(_, cut)| *cut > 0)
                .collect();
        }
        Reward::Gift(gift) => effect.gift = Some(!gift_gone(kv, campaign.id, tier_no, *gift)),
    }
    effect
}

/// What the active campaigns do to a cart: the adjustments and notes of the quote, and the
/// gifts (with what checkout reserves for them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub adjustments: Vec<Adjustment>,
    pub gifts: Vec<PlannedGift>,
    pub notes: Vec<String>,
}

impl Plan {
    fn apply(&mut self, effect: &Effect<'_>, priced: &mut [Priced<'_>]) {
        let Some(label) = effect.label() else {
            return;
        };
        for (index, cut) in &effect.cuts {
            if let Some(line) = priced.get_mut(*index) {
                line.total = line.total.saturating_sub(*cut);
                self.adjustments
                    .push(Adjustment::line(line.line.line_no, -cut, label.clone()));
            }
        }
        self.gifts.extend(effect.planned_gift());
        self.notes.extend(effect.reached_note());
    }
}

/// The plan for `lines` at `now_ms` under `campaigns` (those active then are used, in id
/// order). `kv` is read for the gifts' counters only.
pub fn plan(
    kv: &impl Kv,
    campaigns: &[Campaign],
    lines: &[Line],
    now_ms: i64,
    stacking: Stacking,
) -> Plan {
    let mut priced: Vec<Priced<'_>> = lines
        .iter()
        .map(|line| Priced {
            line,
            total: line.line_total_fen,
        })
        .collect();
    let active = campaigns
        .iter()
        .filter(|campaign| campaign.is_active(now_ms));
    let mut plan = Plan::default();
    match stacking {
        Stacking::All => {
            for campaign in active {
                let effect = evaluate(kv, campaign, &priced);
                plan.apply(&effect, &mut priced);
                plan.notes.extend(effect.next_note);
            }
        }
        Stacking::Best => {
            let effects: Vec<Effect<'_>> = active
                .map(|campaign| evaluate(kv, campaign, &priced))
                .collect();
            // The most money off; among none, a gift that can still be given; then the
            // oldest campaign, so quote and checkout choose alike.
            let best = effects
                .iter()
                .filter(|effect| effect.reached.is_some())
                .max_by_key(|effect| {
                    (
                        effect.value(),
                        effect.gift == Some(true),
                        std::cmp::Reverse(effect.campaign.id),
                    )
                })
                .map(|effect| effect.campaign.id);
            for effect in &effects {
                if Some(effect.campaign.id) == best {
                    plan.apply(effect, &mut priced);
                }
                plan.notes.extend(effect.next_note.clone());
            }
        }
    }
    plan
}

pub fn quote(kv: &impl Kv, campaigns: &[Campaign], input: &QuoteInput) -> QuoteOutput {
    let plan = plan(
        kv,
        campaigns,
        &input.lines,
        input.now_ms,
        Stacking::of(&input.settings),
    );
    QuoteOutput {
        // Checkout reserves the gifts of the same plan, and nothing else.
        skip_checkout: plan.gifts.is_empty(),
        adjustments: plan.adjustments,
        gifts: plan.gifts.into_iter().map(|planned| planned.gift).collect(),
        notes: plan.notes,
        ..QuoteOutput::default()
    }
}

/// The lines as this plugin's quote saw them. The kernel hands checkout the quote it priced;
/// should a line's history also carry this plugin's own adjustments (and what came after
/// them), they are taken out again, with their amounts, so a line counts here exactly as it
/// did in quote.
fn as_quoted(lines: &[Line]) -> Vec<Line> {
    lines
        .iter()
        .map(|line| {
            let Some(own) = line
                .adjustments
                .iter()
                .position(|applied| source_name(&applied.source) == ME)
            else {
                return line.clone();
            };
            let (before, after) = line.adjustments.split_at(own);
            let later = after
                .iter()
                .map(|applied| applied.amount_fen)
                .fold(0, i64::saturating_add);
            Line {
                line_total_fen: line.line_total_fen.saturating_sub(later),
                adjustments: before.to_vec(),
                ..line.clone()
            }
        })
        .collect()
}

/// One reservation per gift the quote gives: its tier's counter up by one set, within the
/// tier's stock, so concurrent orders never give more sets than the stock.
pub fn checkout(
    kv: &impl Kv,
    campaigns: &[Campaign],
    input: &CheckoutInput,
) -> Result<CheckoutOutput, HookError> {
    let quote = &input.quote;
    let lines = as_quoted(&quote.lines);
    let plan = plan(
        kv,
        campaigns,
        &lines,
        quote.now_ms,
        Stacking::of(&quote.settings),
    );
    let reservations = plan
        .gifts
        .into_iter()
        .map(|planned| Reservation {
            key: given_key(planned.campaign_id, planned.tier_no),
            delta: 1,
            min: 0,
            max: planned.stock,
            message: GIFT_GONE_MESSAGE.to_owned(),
        })
        .collect();
    Ok(CheckoutOutput { reservations })
}

#[cfg(test)]
mod tests {
    use pifa_sdk::Event;
    use pifa_sdk::storage::return_reservations;
    use pifa_sdk::{Applied, Buyer, MemoryKv, Reserved};
    use serde_json::json;

    use super::*;
    use crate::campaign::{ScopeKind, Terms};

    const NOON: i64 = 1_700_000_000_000;

    fn campaign(id: i64, basis: &str, tiers: Value) -> Campaign {
        let body = json!({
            "name": format!("活动{id}"),
            "starts_at_ms": NOON,
            "ends_at_ms": NOON + 3_600_000,
            "basis": basis,
            "tiers": tiers,
        });
        Campaign::with_terms(id, Terms::parse(&body).unwrap())
    }

    /// 满300减20, 满500减50 by amount.
    fn reduce(id: i64) -> Campaign {
        campaign(
            id,
            "amount",
            json!([{"threshold": 30_000, "reduce_fen": 2_000}, {"threshold": 50_000, "reduce_fen": 5_000}]),
        )
    }

    fn line(line_no: i64, qty: i64, total: i64) -> Line {
        Line {
            line_no,
            sku_id: line_no * 10,
            product_id: line_no * 100,
            qty,
            list_price_fen: total / qty.max(1),
            line_total_fen: total,
            ..Line::default()
        }
    }

    fn adjusted(mut line: Line, source: &str, amount_fen: i64) -> Line {
        line.adjustments.push(Applied {
            source: source.to_owned(),
            label: "调整".to_owned(),
            amount_fen,
        });
        line.line_total_fen += amount_fen;
        line
    }

    fn input(lines: Vec<Line>, settings: Value) -> QuoteInput {
        QuoteInput {
            buyer: Buyer {
                member_id: 42,
                level_id: None,
                region_id: None,
            },
            lines,
            now_ms: NOON,
            settings,
            order_adjustments: Vec::new(),
            options: Value::Null,
        }
    }

    fn quoted(campaigns: &[Campaign], lines: Vec<Line>) -> QuoteOutput {
        quote(&MemoryKv::default(), campaigns, &input(lines, json!({})))
    }

    fn cuts(output: &QuoteOutput) -> Vec<(i64, i64, &str)> {
        output
            .adjustments
            .iter()
            .map(|a| (a.line_no.unwrap_or(0), a.amount_fen, a.label.as_str()))
            .collect()
    }

    /// REQUIREMENTS G2: tiers by amount, the highest reached applies.
    #[test]
    fn the_highest_tier_reached_is_spread_over_the_lines_by_their_totals() {
        let output = quoted(&[reduce(1)], vec![line(1, 1, 20_000), line(2, 3, 40_000)]);
        // 600 yuan reaches 满500减50: 200/600 and 400/600 of 50 yuan.
        assert_eq!(
            cuts(&output),
            vec![(1, -1_666, "满500减50"), (2, -3_334, "满500减50")]
        );
        assert_eq!(output.notes, vec!["已满¥500.00减¥50.00".to_owned()]);
        assert!(output.gifts.is_empty());
    }

    #[test]
    fn below_the_top_tier_a_note_says_what_more_buys() {
        let output = quoted(&[reduce(1)], vec![line(1, 1, 38_000)]);
        assert_eq!(cuts(&output), vec![(1, -2_000, "满300减20")]);
        assert_eq!(
            output.notes,
            vec![
                "已满¥300.00减¥20.00".to_owned(),
                "再买 ¥120.00 减 ¥50.00".to_owned()
            ]
        );
        let output = quoted(&[reduce(1)], vec![line(1, 1, 10_000)]);
        assert!(output.adjustments.is_empty());
        assert_eq!(output.notes, vec!["再买 ¥200.00 减 ¥20.00".to_owned()]);
    }

    #[test]
    fn a_reduction_is_capped_at_what_the_lines_cost() {
        // The reduction is capped at what the eligible lines cost (a quantity tier).
        let by_items = campaign(
            1,
            "quantity",
            json!([{"threshold": 2, "reduce_fen": 5_000}]),
        );
        let output = quoted(&[by_items], vec![line(1, 2, 3_000)]);
        assert_eq!(cuts(&output), vec![(1, -3_000, "满2件减50")]);
    }

    #[test]
    fn a_percent_tier_rounds_each_lines_discount_down() {
        let percent = campaign(
            1,
            "amount",
            json!([{"threshold": 50_000, "discount_percent": 95}, {"threshold": 100_000, "discount_percent": 90}]),
        );
        let output = quoted(&[percent], vec![line(1, 1, 30_019), line(2, 1, 30_000)]);
        // 5% of 300.19 is 15.0095 → 15.00; of 300.00 is 15.00.
        assert_eq!(
            cuts(&output),
            vec![(1, -1_500, "满500享95折"), (2, -1_500, "满500享95折")]
        );
        assert_eq!(
            output.notes,
            vec![
                "已满¥500.00享95折".to_owned(),
                "再买 ¥399.81 享9折".to_owned()
            ]
        );
    }

    #[test]
    fn a_quantity_tier_counts_items_and_says_so() {
        let by_items = campaign(
            1,
            "quantity",
            json!([{"threshold": 3, "reduce_fen": 1_000}, {"threshold": 10, "reduce_fen": 5_000}]),
        );
        let output = quoted(&[by_items], vec![line(1, 2, 2_000), line(2, 2, 2_000)]);
        assert_eq!(
            cuts(&output),
            vec![(1, -500, "满3件减10"), (2, -500, "满3件减10")]
        );
        assert_eq!(
            output.notes,
            vec![
                "已满3件减¥10.00".to_owned(),
                "再买 6 件 减 ¥50.00".to_owned()
            ]
        );
    }

    fn gift_campaign(id: i64, stock: i64) -> Campaign {
        campaign(
            id,
            "amount",
            json!([{"threshold": 50_000, "gift": {"sku_id": 900, "qty": 2, "stock": stock}}]),
        )
    }

    #[test]
    fn a_gift_tier_adds_a_gift_until_its_stock_is_given() {
        let campaigns = [gift_campaign(3, 5)];
        let mut kv = MemoryKv::default();
        let cart = input(vec![line(1, 1, 60_000)], json!({}));
        let output = quote(&kv, &campaigns, &cart);
        assert!(output.adjustments.is_empty());
        assert_eq!(
            output.gifts,
            vec![Gift {
                sku_id: 900,
                qty: 2,
                label: "满500赠".to_owned()
            }]
        );
        assert_eq!(output.notes, vec!["已满¥500.00送赠品".to_owned()]);

        kv.counters.insert(given_key(3, 1), 5);
        let output = quote(&kv, &campaigns, &cart);
        assert!(output.gifts.is_empty());
        assert_eq!(output.notes, vec!["已满¥500.00，赠品已送完".to_owned()]);

        // Below the tier, a gone gift is not advertised.
        let output = quote(&kv, &campaigns, &input(vec![line(1, 1, 100)], json!({})));
        assert!(output.notes.is_empty());
        kv.counters.insert(given_key(3, 1), 4);
        let output = quote(&kv, &campaigns, &input(vec![line(1, 1, 100)], json!({})));
        assert_eq!(output.notes, vec!["再买 ¥499.00 送赠品".to_owned()]);
    }

    #[test]
    fn gifts_lines_from_before_and_lines_of_other_plugins_do_not_count() {
        let mut gift_line = line(2, 1, 0);
        gift_line.gift = true;
        let flash = adjusted(line(3, 1, 90_000), "flash-sale", -10_000);
        let clearance = adjusted(line(4, 1, 90_000), "plugin:clearance", -10_000);
        let scripted = adjusted(line(1, 1, 40_000), "script", -1_000);
        let output = quoted(&[reduce(1)], vec![scripted, gift_line, flash, clearance]);
        // Only the scripted line counts: 390 yuan reaches 满300减20.
        assert_eq!(cuts(&output), vec![(1, -2_000, "满300减20")]);
    }

    #[test]
    fn lines_costing_nothing_or_without_items_do_not_count() {
        let by_items = campaign(1, "quantity", json!([{"threshold": 3, "reduce_fen": 100}]));
        let free = line(1, 2, 0);
        let empty = line(2, 0, 500);
        let output = quoted(
            std::slice::from_ref(&by_items),
            vec![free, empty, line(3, 2, 1_000)],
        );
        assert!(output.adjustments.is_empty());
        assert_eq!(output.notes, vec!["再买 1 件 减 ¥1.00".to_owned()]);
        let output = quoted(&[by_items], vec![line(3, 3, 1_000)]);
        assert_eq!(cuts(&output), vec![(3, -100, "满3件减1")]);
    }

    #[test]
    fn a_campaign_stacking_with_flash_sale_counts_its_lines() {
        let mut stacking = reduce(1);
        stacking.stack_with = vec!["flash-sale".to_owned()];
        let flash = adjusted(line(1, 1, 60_000), "flash-sale", -10_000);
        let output = quoted(&[stacking], vec![flash]);
        assert_eq!(cuts(&output), vec![(1, -5_000, "满500减50")]);
    }

    #[test]
    fn the_scope_limits_the_lines_that_count() {
        let mut scoped = reduce(1);
        scoped.scope = ScopeKind::Category;
        scoped.scope_ids = vec![8];
        let mut inside = line(1, 1, 30_000);
        inside.category_ids = vec![12, 8];
        let outside = line(2, 1, 90_000);
        let output = quoted(&[scoped], vec![inside, outside]);
        assert_eq!(cuts(&output), vec![(1, -2_000, "满300减20")]);
    }

    #[test]
    fn best_applies_only_the_campaign_taking_most_off() {
        let percent = campaign(
            1,
            "amount",
            json!([{"threshold": 10_000, "discount_percent": 95}]),
        );
        let output = quoted(&[percent.clone(), reduce(2)], vec![line(1, 1, 60_000)]);
        // 95折 takes 30 yuan, 满500减50 takes 50.
        assert_eq!(cuts(&output), vec![(1, -5_000, "满500减50")]);
        assert_eq!(output.notes, vec!["已满¥500.00减¥50.00".to_owned()]);
        // At equal value the older campaign wins.
        let same = campaign(
            3,
            "amount",
            json!([{"threshold": 50_000, "reduce_fen": 5_000}]),
        );
        let output = quoted(&[same, reduce(2)], vec![line(1, 1, 60_000)]);
        assert_eq!(output.notes, vec!["已满¥500.00减¥50.00".to_owned()]);
        let plan = plan(
            &MemoryKv::default(),
            &[
                reduce(2),
                campaign(
                    3,
                    "amount",
                    json!([{"threshold": 50_000, "reduce_fen": 5_000}]),
                ),
            ],
            &[line(1, 1, 60_000)],
            NOON,
            Stacking::Best,
        );
        assert_eq!(plan.adjustments.len(), 1);
        assert_eq!(plan.adjustments[0].amount_fen, -5_000);
    }

    #[test]
    fn best_gives_a_gift_only_when_no_campaign_takes_money_off() {
        let gift = gift_campaign(1, 10);
        let output = quoted(&[gift.clone(), reduce(2)], vec![line(1, 1, 60_000)]);
        assert!(output.gifts.is_empty());
        assert_eq!(cuts(&output), vec![(1, -5_000, "满500减50")]);

        let mut elsewhere = reduce(2);
        elsewhere.scope = ScopeKind::Products;
        elsewhere.scope_ids = vec![999];
        let output = quoted(&[gift, elsewhere], vec![line(1, 1, 60_000)]);
        assert_eq!(output.gifts.len(), 1);
        assert!(output.adjustments.is_empty());

        // Of two gift campaigns, one whose gift is gone yields to one that can still give.
        let mut kv = MemoryKv::default();
        kv.counters.insert(given_key(1, 1), 10);
        let plan = plan(
            &kv,
            &[gift_campaign(1, 10), gift_campaign(2, 10)],
            &[line(1, 1, 60_000)],
            NOON,
            Stacking::Best,
        );
        assert_eq!(
            plan.gifts.iter().map(|g| g.campaign_id).collect::<Vec<_>>(),
            vec![2]
        );
    }

    #[test]
    fn all_applies_each_campaign_on_what_the_previous_left() {
        let percent = campaign(
            2,
            "amount",
            json!([{"threshold": 50_000, "discount_percent": 90}]),
        );
        let cart = input(vec![line(1, 1, 60_000)], json!({"stacking": "all"}));
        let output = quote(&MemoryKv::default(), &[reduce(1), percent.clone()], &cart);
        // 600 − 50 = 550, still ≥ 500: 10% of 550 more.
        assert_eq!(
            cuts(&output),
            vec![(1, -5_000, "满500减50"), (1, -5_500, "满500享9折")]
        );
        // 520 − 50 = 470 no longer reaches the second: a note says what is missing.
        let cart = input(vec![line(1, 1, 52_000)], json!({"stacking": "all"}));
        let output = quote(&MemoryKv::default(), &[reduce(1), percent], &cart);
        assert_eq!(cuts(&output), vec![(1, -5_000, "满500减50")]);
        assert_eq!(
            output.notes,
            vec![
                "已满¥500.00减¥50.00".to_owned(),
                "再买 ¥30.00 享9折".to_owned()
            ]
        );
    }

    #[test]
    fn campaigns_outside_their_window_do_nothing() {
        let mut ended = reduce(1);
        ended.ended = true;
        let mut later = reduce(2);
        later.starts_at_ms = NOON + 1;
        let output = quoted(&[ended, later], vec![line(1, 1, 60_000)]);
        assert_eq!(
            output,
            QuoteOutput {
                skip_checkout: true,
                ..QuoteOutput::default()
            }
        );
    }

    #[test]
    fn the_stacking_setting_defaults_to_best() {
        assert_eq!(Stacking::of(&json!({"stacking": "all"})), Stacking::All);
        assert_eq!(Stacking::of(&json!({"stacking": "best"})), Stacking::Best);
        assert_eq!(Stacking::of(&json!({})), Stacking::Best);
        assert_eq!(Stacking::of(&Value::Null), Stacking::Best);
    }

    fn checkout_of(
        kv: &MemoryKv,
        campaigns: &[Campaign],
        lines: Vec<Line>,
        own: Vec<Adjustment>,
    ) -> Vec<Reservation> {
        checkout(
            kv,
            campaigns,
            &CheckoutInput {
                quote: input(lines, json!({"stacking": "all"})),
                adjustments: own,
            },
        )
        .unwrap()
        .reservations
    }

    /// REQUIREMENTS G2: gifts are zero-price lines, never given beyond their stock.
    #[test]
    fn checkout_reserves_one_set_per_gift_within_the_tiers_stock() {
        let campaigns = [reduce(1), gift_campaign(2, 5)];
        let kv = MemoryKv::default();
        let reserved = checkout_of(&kv, &campaigns, vec![line(1, 1, 60_000)], Vec::new());
        assert_eq!(
            reserved,
            vec![Reservation {
                key: "given:2:1".to_owned(),
                delta: 1,
                min: 0,
                max: 5,
                message: "满赠赠品已送完".to_owned(),
            }]
        );
        // Below the tier, or with the stock gone (quote gave no gift then), nothing.
        assert!(checkout_of(&kv, &campaigns, vec![line(1, 1, 40_000)], Vec::new()).is_empty());
        let mut gone = MemoryKv::default();
        gone.counters.insert(given_key(2, 1), 5);
        assert!(checkout_of(&gone, &campaigns, vec![line(1, 1, 60_000)], Vec::new()).is_empty());
    }

    #[test]
    fn checkout_counts_a_line_as_quote_did_when_its_history_carries_this_plugins_cut() {
        // Stacking all: 满500减50 then the gift at 500 needs the total before this plugin
        // (600 − 50 = 550 still reaches it; the line seen after a coupon too would not).
        let campaigns = [reduce(1), gift_campaign(2, 5)];
        let own = adjusted(line(1, 1, 60_000), ME, -5_000);
        let after_coupon = adjusted(own, "coupons", -20_000);
        assert_eq!(after_coupon.line_total_fen, 35_000);
        let reserved = checkout_of(
            &MemoryKv::default(),
            &campaigns,
            vec![after_coupon],
            vec![Adjustment::line(1, -5_000, "满500减50")],
        );
        assert_eq!(
            reserved.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
            ["given:2:1"]
        );
        let quoted = as_quoted(&[adjusted(line(1, 1, 60_000), "script", -100)]);
        assert_eq!(
            quoted[0].line_total_fen, 59_900,
            "a history without this plugin is kept"
        );
    }

    fn closed(kind: &str, reservations: Vec<Reserved>) -> Event {
        Event {
            id: 1,
            kind: kind.to_owned(),
            order_id: Some(5),
            payload: Value::Null,
            reservations,
            now_ms: NOON,
            settings: Value::Null,
        }
    }

    #[test]
    fn a_closed_order_gives_its_gift_sets_back() {
        let mut kv = MemoryKv::default();
        kv.counters.insert("given:2:1".to_owned(), 3);
        let reserved = vec![Reserved {
            key: "given:2:1".to_owned(),
            delta: 1,
        }];
        let short = return_reservations(&mut kv, &closed(ORDER_CLOSED, reserved.clone())).unwrap();
        assert!(short.is_empty());
        assert_eq!(kv.counter("given:2:1"), 2);
        return_reservations(&mut kv, &closed("order.placed", reserved.clone())).unwrap();
        assert_eq!(kv.counter("given:2:1"), 2);
        kv.counters.insert("given:2:1".to_owned(), 0);
        let short = return_reservations(&mut kv, &closed(ORDER_CLOSED, reserved)).unwrap();
        assert_eq!(short, vec!["given:2:1".to_owned()]);
        assert_eq!(kv.counter("given:2:1"), 0);
    }

    #[test]
    fn a_failing_write_is_an_error_so_the_event_comes_again() {
        let mut kv = MemoryKv {
            writes_left: Some(0),
            ..MemoryKv::default()
        };
        kv.counters.insert("given:2:1".to_owned(), 3);
        let reserved = vec![Reserved {
            key: "given:2:1".to_owned(),
            delta: 1,
        }];
        let error = return_reservations(&mut kv, &closed(ORDER_CLOSED, reserved)).unwrap_err();
        assert_eq!(error.code, "kv_failed");
        assert_eq!(kv.counter("given:2:1"), 3);
    }
}
