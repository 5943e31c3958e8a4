//! A coupon at checkout (REQUIREMENTS G5, "redeemed at checkout within their conditions
//! (threshold, scope, validity), once"): `quote` applies the coupon the member chose
//! (`options.coupon_id`) and lists the ones he could choose; `checkout` reserves the chosen
//! coupon (`used:{id}` from 0 to 1), so of ten concurrent orders naming it one is placed.

use std::collections::BTreeMap;

use pifa_sdk::input::{Fields, local_date};
use pifa_sdk::{
    Adjustment, CheckoutInput, CheckoutOutput, Choice, FieldKind, FormField, HookError, Kv, Line,
    QuoteInput, QuoteOutput, Reservation,
};
use serde_json::Value;

use crate::model::{self, Coupon, CouponRef, Template, money, used_key};

pub const DEFAULT_LABEL_PREFIX: &str = "优惠券";
/// The settings' `label_prefix` may be this long: with a 30-character name the label stays
/// within the kernel's 40.
pub const MAX_PREFIX_CHARS: usize = 8;
/// Coupons the checkout's select lists (best first).
pub const MAX_CHOICES: usize = 20;
/// `used:{id}` counters a quote reads while looking for usable coupons to list: each is a
/// host call, and the member is waiting (100 ms).
const MAX_USED_CHECKS: usize = 30;
pub const OPTION_NAME: &str = "coupon_id";
pub const REFUSAL_CODE: &str = "coupon_unusable";

/// 「优惠券」 from the settings (`label_prefix`), or the default for a missing or unusable one.
pub fn label_prefix(settings: &Value) -> String {
    settings
        .get("label_prefix")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|prefix| {
            !prefix.is_empty()
                && prefix.chars().count() <= MAX_PREFIX_CHARS
                && !prefix.contains(['<', '>', '{'])
        })
        .unwrap_or(DEFAULT_LABEL_PREFIX)
        .to_owned()
}

/// What the member chose for this plugin (`options`: `{"coupon_id": 12}` or `"12"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chosen {
    Nothing,
    /// Something that is not a coupon id.
    Invalid,
    Coupon(i64),
}

pub fn chosen(options: &Value) -> Chosen {
    match Fields::of(options).optional_int(OPTION_NAME, 1, i64::MAX) {
        Ok(None) => Chosen::Nothing,
        Ok(Some(id)) => Chosen::Coupon(id),
        Err(_) => Chosen::Invalid,
    }
}

/// Why a coupon cannot be used on this cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    Invalid,
    /// Not the buyer's, or no such coupon.
    NotFound,
    Used,
    NotStarted(i64),
    Expired,
    /// Its template was ended (or deleted) by staff.
    Ended,
    NotInScope,
    BelowThreshold(i64),
    NothingOff,
    /// Quote applied it but checkout was not told so: the cart changed in between.
    Changed,
}

impl Unusable {
    /// 「未满¥300.00」: what follows 「优惠券不可用：」.
    pub fn short(self) -> String {
        match self {
            Unusable::Invalid => "选择无效".to_owned(),
            Unusable::NotFound => "不存在".to_owned(),
            Unusable::Used => "已使用".to_owned(),
            Unusable::NotStarted(from) => format!("未到使用时间（{}起）", local_date(from)),
            Unusable::Expired => "已过期".to_owned(),
            Unusable::Ended => "已停用".to_owned(),
            Unusable::NotInScope => "不适用于购物车中的商品".to_owned(),
            Unusable::BelowThreshold(threshold) => format!("未满{}", money(threshold)),
            Unusable::NothingOff => "对此订单没有优惠".to_owned(),
            Unusable::Changed => "状态已变化，请刷新后重试".to_owned(),
        }
    }

    /// The note a quote shows: 「优惠券未满¥300.00，不可用」.
    pub fn note(self) -> String {
        format!("优惠券{}，不可用", self.short())
    }

    pub fn refusal(self) -> HookError {
        HookError::new(REFUSAL_CODE, format!("优惠券不可用：{}", self.short()))
    }
}

/// What a usable coupon gives this cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub discount_fen: i64,
    /// (line_no, fen off) for each eligible line that gets a share.
    pub shares: Vec<(i64, i64)>,
}

/// Whether `coupon` applies to these lines at `now_ms`, and what it gives; the `used:{id}`
/// counter is the caller's to read (a host call).
pub fn evaluate(
    coupon: &Coupon,
    template: Option<&Template>,
    lines: &[Line],
    cart_total_fen: i64,
    now_ms: i64,
) -> Result<Offer, Unusable> {
    if coupon.used_by.is_some() {
        return Err(Unusable::Used);
    }
    let Some(template) = template.filter(|t| !t.ended) else {
        return Err(Unusable::Ended);
    };
    if now_ms < coupon.valid_from_ms {
        return Err(Unusable::NotStarted(coupon.valid_from_ms));
    }
    if coupon.valid_until_ms <= now_ms {
        return Err(Unusable::Expired);
    }
    let eligible: Vec<&Line> = lines
        .iter()
        .filter(|line| line.line_total_fen > 0 && template.covers(line))
        .collect();
    if eligible.is_empty() {
        return Err(Unusable::NotInScope);
    }
    let eligible_fen = eligible
        .iter()
        .map(|line| line.line_total_fen)
        .fold(0_i64, i64::saturating_add);
    if eligible_fen < template.threshold_fen {
        return Err(Unusable::BelowThreshold(template.threshold_fen));
    }
    // Never more than the cart's total so far: earlier steps' order-level discounts count.
    let discount_fen = template.discount(eligible_fen).min(cart_total_fen.max(0));
    if discount_fen <= 0 {
        return Err(Unusable::NothingOff);
    }
    Ok(Offer {
        discount_fen,
        shares: pifa_sdk::spread(
            discount_fen,
            &eligible
                .iter()
                .map(|line| (line.line_no, line.line_total_fen))
                .collect::<Vec<_>>(),
        ),
    })
}

/// The coupon `id` for the buyer of `input`: his, usable now on these lines, not used.
fn evaluate_chosen(
    kv: &impl Kv,
    input: &QuoteInput,
    wallet: &[Coupon],
    templates: &mut BTreeMap<i64, Template>,
    id: i64,
) -> Result<(Coupon, Offer), Unusable> {
    let reference = CouponRef::of(id)
        .filter(|reference| reference.member_id == input.buyer.member_id)
        .ok_or(Unusable::NotFound)?;
    let coupon = wallet
        .iter()
        .find(|coupon| coupon.id == id)
        .cloned()
        .or_else(|| model::load_coupon(kv, id))
        .ok_or(Unusable::NotFound)?;
    if !templates.contains_key(&reference.template_id)
        && let Some(template) = model::load_template(kv, reference.template_id)
    {
        templates.insert(reference.template_id, template);
    }
    let offer = evaluate(
        &coupon,
        templates.get(&coupon.template_id),
        &input.lines,
        input.total_fen(),
        input.now_ms,
    )?;
    if kv.counter(&used_key(id)) > 0 {
        return Err(Unusable::Used);
    }
    Ok((coupon, offer))
}

pub fn quote(kv: &impl Kv, input: &QuoteInput) -> QuoteOutput {
    let choice = chosen(&input.options);
    let wallet = model::wallet(kv, input.buyer.member_id);
    let mut templates = model::templates_of(kv, &wallet);
    let mut output = QuoteOutput::default();

    let mut applied: Option<(Coupon, Offer)> = None;
    match choice {
        Chosen::Coupon(id) => match evaluate_chosen(kv, input, &wallet, &mut templates, id) {
            Ok((coupon, offer)) => {
                let name = templates
                    .get(&coupon.template_id)
                    .map(|t| t.name.clone())
                    .unwrap_or_default();
                let label = format!("{}：{name}", label_prefix(&input.settings));
                output.adjustments = offer
                    .shares
                    .iter()
                    .map(|&(line_no, fen)| Adjustment::line(line_no, -fen, label.clone()))
                    .collect();
                applied = Some((coupon, offer));
            }
            Err(unusable) => output.notes.push(unusable.note()),
        },
        Chosen::Invalid => output.notes.push(Unusable::Invalid.note()),
        Chosen::Nothing => {}
    }

    let usable = usable_coupons(kv, input, &wallet, &templates, applied.as_ref());
    if choice == Chosen::Nothing && !usable.is_empty() {
        output.notes.push(format!("有{}张优惠券可用", usable.len()));
    }
    if !usable.is_empty() || choice != Chosen::Nothing {
        let mut options = vec![Choice {
            value: String::new(),
            label: "不使用优惠券".to_owned(),
        }];
        options.extend(usable.iter().filter_map(|(coupon, _)| {
            let template = templates.get(&coupon.template_id)?;
            Some(Choice {
                value: coupon.id.to_string(),
                label: coupon.choice_label(template),
            })
        }));
        output.choices.push(FormField {
            name: OPTION_NAME.to_owned(),
            label: "优惠券".to_owned(),
            kind: FieldKind::Select,
            options,
            value: applied
                .as_ref()
                .map(|(coupon, _)| coupon.id.to_string())
                .unwrap_or_default(),
            ..FormField::default()
        });
    }
    // No coupon chosen: checkout has none to reserve and nothing to refuse.
    output.skip_checkout = choice == Chosen::Nothing;
    output
}

/// The buyer's coupons usable on this cart, best first (the most off, then the soonest to
/// expire), at most [`MAX_CHOICES`], the applied one among them.
fn usable_coupons(
    kv: &impl Kv,
    input: &QuoteInput,
    wallet: &[Coupon],
    templates: &BTreeMap<i64, Template>,
    applied: Option<&(Coupon, Offer)>,
) -> Vec<(Coupon, i64)> {
    let applied_id = applied.map(|(coupon, _)| coupon.id);
    let total = input.total_fen();
    let mut candidates: Vec<(Coupon, i64)> = wallet
        .iter()
        .filter(|coupon| Some(coupon.id) != applied_id)
        .filter_map(|coupon| {
            let offer = evaluate(
                coupon,
                templates.get(&coupon.template_id),
                &input.lines,
                total,
                input.now_ms,
            )
            .ok()?;
            Some((coupon.clone(), offer.discount_fen))
        })
        .collect();
    sort_best_first(&mut candidates);

    let room = MAX_CHOICES.saturating_sub(usize::from(applied.is_some()));
    let mut usable: Vec<(Coupon, i64)> = Vec::new();
    for (checked, candidate) in candidates.into_iter().enumerate() {
        if usable.len() >= room || checked >= MAX_USED_CHECKS {
            break;
        }
        // An order placed a moment ago may have taken it before its event marked the coupon.
        if kv.counter(&used_key(candidate.0.id)) == 0 {
            usable.push(candidate);
        }
    }
    if let Some((coupon, offer)) = applied {
        usable.push((coupon.clone(), offer.discount_fen));
        sort_best_first(&mut usable);
    }
    usable
}

fn sort_best_first(coupons: &mut [(Coupon, i64)]) {
    coupons.sort_by_key(|(coupon, discount)| {
        (
            std::cmp::Reverse(*discount),
            coupon.valid_until_ms,
            coupon.id,
        )
    });
}

/// Reserves the chosen coupon (`used:{id}` 0 → 1, else the order is refused with
/// 「优惠券已被使用」); refuses an order naming a coupon this plugin's quote did not apply.
pub fn checkout(kv: &impl Kv, input: &CheckoutInput) -> Result<CheckoutOutput, HookError> {
    let quote = &input.quote;
    let id = match chosen(&quote.options) {
        Chosen::Nothing => return Ok(CheckoutOutput::default()),
        Chosen::Invalid => return Err(Unusable::Invalid.refusal()),
        Chosen::Coupon(id) => id,
    };
    if CouponRef::of(id).map(|reference| reference.member_id) != Some(quote.buyer.member_id) {
        return Err(Unusable::NotFound.refusal());
    }
    if input.adjustments.is_empty() {
        // The quote gave nothing for it: say why, as the quote's note did.
        let reason = evaluate_chosen(kv, quote, &[], &mut BTreeMap::new(), id)
            .err()
            .unwrap_or(Unusable::Changed);
        return Err(reason.refusal());
    }
    Ok(CheckoutOutput {
        reservations: vec![Reservation {
            key: used_key(id),
            delta: 1,
            min: 0,
            max: 1,
            message: "优惠券已被使用".to_owned(),
        }],
    })
}

#[cfg(test)]
mod tests {
    use pifa_sdk::{Buyer, MemoryKv};
    use serde_json::json;

    use super::*;
    use crate::model::tests::{NOW, template};
    use crate::model::{DAY_MS, Kind, Scope, Source, Usage, save_coupon, save_template};

    pub fn line(line_no: i64, total: i64, category: i64) -> Line {
        Line {
            line_no,
            sku_id: line_no * 10,
            product_id: line_no * 100,
            qty: 1,
            list_price_fen: total,
            line_total_fen: total,
            category_ids: vec![category],
            ..Line::default()
        }
    }

    fn input(lines: Vec<Line>, options: Value) -> QuoteInput {
        QuoteInput {
            buyer: Buyer {
                member_id: 42,
                level_id: None,
                region_id: None,
            },
            lines,
            now_ms: NOW,
            settings: Value::Null,
            order_adjustments: Vec::new(),
            options,
        }
    }

    fn coupon(template_id: i64, k: i64) -> Coupon {
        let id = CouponRef {
            member_id: 42,
            template_id,
            k,
        }
        .id()
        .unwrap();
        Coupon {
            id,
            template_id,
            member_id: 42,
            issued_at_ms: NOW - DAY_MS,
            valid_from_ms: NOW - DAY_MS,
            valid_until_ms: NOW + 30 * DAY_MS,
            source: Source::Claim,
            source_ref: None,
            used_by: None,
        }
    }

    /// Template 1 「满300减30」 (all goods) and template 2 「无门槛减5」, one coupon each.
    fn shop() -> (MemoryKv, i64, i64) {
        let mut kv = MemoryKv::default();
        save_template(&mut kv, &template(1)).unwrap();
        let mut small = template(2);
        small.name = "小额券".to_owned();
        small.amount_fen = Some(500);
        small.threshold_fen = 0;
        save_template(&mut kv, &small).unwrap();
        let (big, five) = (coupon(1, 1), coupon(2, 1));
        save_coupon(&mut kv, &big).unwrap();
        save_coupon(&mut kv, &five).unwrap();
        (kv, big.id, five.id)
    }

    #[test]
    fn the_chosen_coupon_is_spread_over_eligible_lines_only() {
        let (mut kv, big, _) = shop();
        let mut scoped = template(1);
        scoped.scope = Scope::Categories;
        scoped.scope_ids = vec![5];
        save_template(&mut kv, &scoped).unwrap();
        let mut gift = line(4, 0, 5);
        gift.gift = true;
        let lines = vec![
            line(1, 20_000, 5),
            line(2, 50_000, 6),
            line(3, 10_000, 5),
            gift,
        ];
        let output = quote(&kv, &input(lines, json!({"coupon_id": big})));
        assert_eq!(
            output.adjustments,
            vec![
                Adjustment::line(1, -2_000, "优惠券：新年满减券"),
                Adjustment::line(3, -1_000, "优惠券：新年满减券"),
            ]
        );
        assert!(output.notes.is_empty(), "{:?}", output.notes);
        assert_eq!(output.choices.len(), 1);
        assert_eq!(output.choices[0].value, big.to_string());
        let values: Vec<&str> = output.choices[0]
            .options
            .iter()
            .map(|c| c.value.as_str())
            .collect();
        assert_eq!(values, vec!["", big.to_string().as_str(), "420002001"]);
        assert_eq!(
            output.choices[0].options[1].label,
            "满300减30（2026-01-31前有效）"
        );
        assert_eq!(
            output.choices[0].options[2].label,
            "无门槛减5（2026-01-31前有效）"
        );
    }

    #[test]
    fn a_coupon_id_may_come_as_text_and_the_label_prefix_from_the_settings() {
        let (kv, big, _) = shop();
        let mut quote_input = input(
            vec![line(1, 40_000, 1)],
            json!({"coupon_id": big.to_string()}),
        );
        quote_input.settings = json!({"label_prefix": "券"});
        let output = quote(&kv, &quote_input);
        assert_eq!(
            output.adjustments,
            vec![Adjustment::line(1, -3_000, "券：新年满减券")]
        );
        assert_eq!(
            label_prefix(&json!({"label_prefix": "<b>"})),
            DEFAULT_LABEL_PREFIX
        );
        assert_eq!(
            label_prefix(&json!({"label_prefix": "一二三四五六七八九"})),
            DEFAULT_LABEL_PREFIX
        );
        assert_eq!(label_prefix(&Value::Null), DEFAULT_LABEL_PREFIX);
    }

    #[test]
    fn below_the_threshold_a_note_says_why_and_nothing_comes_off() {
        let (kv, big, five) = shop();
        let output = quote(
            &kv,
            &input(vec![line(1, 29_999, 1)], json!({"coupon_id": big})),
        );
        assert!(output.adjustments.is_empty());
        assert_eq!(output.notes, vec!["优惠券未满¥300.00，不可用".to_owned()]);
        // The select still lists what is usable, and selects nothing.
        assert_eq!(output.choices[0].value, "");
        assert_eq!(output.choices[0].options.len(), 2);
        assert_eq!(output.choices[0].options[1].value, five.to_string());
    }

    #[test]
    fn every_reason_a_coupon_cannot_be_used() {
        let (mut kv, big, _) = shop();
        let lines = vec![line(1, 40_000, 1)];
        let note_for = |kv: &MemoryKv, options: Value| {
            let output = quote(kv, &input(lines.clone(), options));
            assert!(output.adjustments.is_empty());
            output.notes.first().cloned().unwrap_or_default()
        };
        assert_eq!(
            note_for(&kv, json!({"coupon_id": "x"})),
            "优惠券选择无效，不可用"
        );
        assert_eq!(
            note_for(&kv, json!({"coupon_id": -3})),
            "优惠券选择无效，不可用"
        );
        // Another member's coupon, and a coupon that does not exist.
        assert_eq!(
            note_for(&kv, json!({"coupon_id": 430_001_001})),
            "优惠券不存在，不可用"
        );
        assert_eq!(
            note_for(&kv, json!({"coupon_id": 420_001_009})),
            "优惠券不存在，不可用"
        );

        kv.counters.insert(used_key(big), 1);
        assert_eq!(
            note_for(&kv, json!({"coupon_id": big})),
            "优惠券已使用，不可用"
        );
        kv.counters.remove(&used_key(big));

        let mut marked = coupon(1, 1);
        marked.used_by = Some(Usage {
            order_id: Some(5),
            order_no: None,
            at_ms: NOW,
        });
        save_coupon(&mut kv, &marked).unwrap();
        assert_eq!(
            note_for(&kv, json!({"coupon_id": big})),
            "优惠券已使用，不可用"
        );

        let mut later = coupon(1, 1);
        later.valid_from_ms = NOW + DAY_MS;
        save_coupon(&mut kv, &later).unwrap();
        assert_eq!(
            note_for(&kv, json!({"coupon_id": big})),
            "优惠券未到使用时间（2026-01-02起），不可用"
        );

        let mut over = coupon(1, 1);
        over.valid_until_ms = NOW;
        save_coupon(&mut kv, &over).unwrap();
        assert_eq!(
            note_for(&kv, json!({"coupon_id": big})),
            "优惠券已过期，不可用"
        );

        save_coupon(&mut kv, &coupon(1, 1)).unwrap();
        let mut ended = template(1);
        ended.ended = true;
        save_template(&mut kv, &ended).unwrap();
        assert_eq!(
            note_for(&kv, json!({"coupon_id": big})),
            "优惠券已停用，不可用"
        );

        let mut scoped = template(1);
        scoped.scope = Scope::Brands;
        scoped.scope_ids = vec![3];
        save_template(&mut kv, &scoped).unwrap();
        assert_eq!(
            note_for(&kv, json!({"coupon_id": big})),
            "优惠券不适用于购物车中的商品，不可用"
        );
    }

    #[test]
    fn a_discount_coupon_pays_its_percent_rounded_down_and_capped() {
        let mut kv = MemoryKv::default();
        let mut t = template(3);
        t.kind = Kind::Discount;
        t.amount_fen = None;
        t.percent = Some(85);
        t.threshold_fen = 0;
        save_template(&mut kv, &t).unwrap();
        let c = coupon(3, 1);
        save_coupon(&mut kv, &c).unwrap();
        let output = quote(
            &kv,
            &input(vec![line(1, 33_333, 1)], json!({"coupon_id": c.id})),
        );
        assert_eq!(output.adjustments[0].amount_fen, -4_999);
        t.cap_fen = Some(1_000);
        save_template(&mut kv, &t).unwrap();
        let output = quote(
            &kv,
            &input(vec![line(1, 33_333, 1)], json!({"coupon_id": c.id})),
        );
        assert_eq!(output.adjustments[0].amount_fen, -1_000);
    }

    #[test]
    fn never_more_off_than_the_cart_after_earlier_order_discounts() {
        let (kv, _, five) = shop();
        let mut quote_input = input(vec![line(1, 600, 1)], json!({"coupon_id": five}));
        quote_input.order_adjustments = vec![pifa_sdk::Applied {
            source: "full-reduction".to_owned(),
            label: "满减".to_owned(),
            amount_fen: -300,
        }];
        let output = quote(&kv, &quote_input);
        assert_eq!(
            output.adjustments,
            vec![Adjustment::line(1, -300, "优惠券：小额券")]
        );
    }

    #[test]
    fn with_nothing_chosen_a_note_counts_the_usable_coupons() {
        let (kv, big, five) = shop();
        let output = quote(&kv, &input(vec![line(1, 40_000, 1)], Value::Null));
        assert!(output.adjustments.is_empty());
        assert_eq!(output.notes, vec!["有2张优惠券可用".to_owned()]);
        let values: Vec<String> = output.choices[0]
            .options
            .iter()
            .map(|c| c.value.clone())
            .collect();
        assert_eq!(
            values,
            vec![String::new(), big.to_string(), five.to_string()],
            "most off first"
        );

        // Nothing usable and nothing chosen: no select at all.
        let output = quote(&kv, &input(vec![line(1, 0, 1)], Value::Null));
        assert!(output.choices.is_empty() && output.notes.is_empty());
        // An empty choice (「不使用优惠券」) is no choice.
        let output = quote(
            &kv,
            &input(vec![line(1, 40_000, 1)], json!({"coupon_id": ""})),
        );
        assert!(output.adjustments.is_empty());
        assert_eq!(output.notes, vec!["有2张优惠券可用".to_owned()]);
    }

    #[test]
    fn a_coupon_taken_by_an_order_whose_event_is_pending_is_not_listed() {
        let (mut kv, big, five) = shop();
        kv.counters.insert(used_key(big), 1);
        let output = quote(&kv, &input(vec![line(1, 40_000, 1)], Value::Null));
        assert_eq!(output.notes, vec!["有1张优惠券可用".to_owned()]);
        assert_eq!(output.choices[0].options[1].value, five.to_string());
    }

    #[test]
    fn at_most_twenty_coupons_are_listed() {
        let mut kv = MemoryKv::default();
        let mut t = template(1);
        t.threshold_fen = 0;
        t.per_member = 100;
        save_template(&mut kv, &t).unwrap();
        for k in 1..=25 {
            save_coupon(&mut kv, &coupon(1, k)).unwrap();
        }
        let output = quote(&kv, &input(vec![line(1, 40_000, 1)], Value::Null));
        assert_eq!(output.choices[0].options.len(), 1 + MAX_CHOICES);
        assert_eq!(output.notes, vec!["有20张优惠券可用".to_owned()]);
        // Equal offers: the soonest to expire, then the oldest id, first.
        assert_eq!(output.choices[0].options[1].value, "420001001");
    }

    fn checkout_input(options: Value, adjustments: Vec<Adjustment>) -> CheckoutInput {
        CheckoutInput {
            quote: input(vec![line(1, 37_000, 1)], options),
            adjustments,
        }
    }

    #[test]
    fn checkout_reserves_the_coupon_once() {
        let (kv, big, _) = shop();
        let output = checkout(
            &kv,
            &checkout_input(
                json!({"coupon_id": big}),
                vec![Adjustment::line(1, -3_000, "优惠券：新年满减券")],
            ),
        )
        .unwrap();
        assert_eq!(
            output.reservations,
            vec![Reservation {
                key: format!("used:{big}"),
                delta: 1,
                min: 0,
                max: 1,
                message: "优惠券已被使用".to_owned(),
            }]
        );
        let nothing = checkout(&kv, &checkout_input(Value::Null, Vec::new())).unwrap();
        assert!(nothing.reservations.is_empty());
    }

    #[test]
    fn checkout_refuses_a_coupon_its_quote_did_not_apply() {
        let (kv, big, _) = shop();
        let mut below = checkout_input(json!({"coupon_id": big}), Vec::new());
        below.quote.lines = vec![line(1, 20_000, 1)];
        let refusal = checkout(&kv, &below).unwrap_err();
        assert_eq!(refusal.code, "coupon_unusable");
        assert_eq!(refusal.message, "优惠券不可用：未满¥300.00");

        let stale =
            checkout(&kv, &checkout_input(json!({"coupon_id": big}), Vec::new())).unwrap_err();
        assert_eq!(stale.message, "优惠券不可用：状态已变化，请刷新后重试");

        let invalid = checkout(
            &kv,
            &checkout_input(json!({"coupon_id": "abc"}), Vec::new()),
        )
        .unwrap_err();
        assert_eq!(invalid.message, "优惠券不可用：选择无效");

        // Someone else's coupon, even with an adjustment claimed for it.
        let theirs = checkout(
            &kv,
            &checkout_input(
                json!({"coupon_id": 430_001_001}),
                vec![Adjustment::line(1, -3_000, "优惠券：新年满减券")],
            ),
        )
        .unwrap_err();
        assert_eq!(theirs.message, "优惠券不可用：不存在");
    }
}
