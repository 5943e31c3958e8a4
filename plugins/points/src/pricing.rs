//! Paying part of an order with points (REQUIREMENTS H3, last line: 积分抵扣 at the set
//! exchange ratio). The last step of the quote (composition order 50): the member's
//! `plugin_options.points` is `{"points": N}`; `quote` grants what the balance, the share of
//! the order points may pay and whole fen allow, as one order adjustment, and offers the field
//! to choose it; `checkout` reserves the points on `balance:<member>` inside the order's
//! transaction, so they are never spent twice, and refuses an order whose points were cut.

use pifa_sdk::input::{Fields, yuan};
use pifa_sdk::{
    Adjustment, Applied, CheckoutInput, CheckoutOutput, FieldKind, FormField, HookError, Kv,
    QuoteInput, QuoteOutput, Reservation,
};

use crate::account::{self, balance_key};
use crate::settings::Settings;

/// The plugin's name: the `source` of its adjustments as later steps and checkout see them.
pub const PLUGIN: &str = "points";
/// What the member reads when the balance cannot cover the reservation at commit.
pub const NOT_ENOUGH: &str = "积分不足";

/// What the member asked to pay with points and what this order allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub asked: i64,
    pub balance: i64,
    /// The most points this order takes (its share and whole fen), before the balance.
    pub order_most: i64,
    /// The points used: at most asked, balance and `order_most`, in whole steps.
    pub granted: i64,
    /// What they pay.
    pub fen: i64,
}

/// The points `asked` of a member holding `balance` may pay on an order of `total_fen` so far.
pub fn grant(settings: Settings, balance: i64, total_fen: i64, asked: i64) -> Grant {
    let most_fen =
        i64::try_from(i128::from(total_fen.max(0)) * i128::from(settings.max_pay_percent) / 100)
            .unwrap_or(0);
    let order_most = settings.points_for_fen(most_fen);
    let step = settings.points_step();
    let granted = asked.min(balance).min(order_most).max(0);
    let granted = granted - granted % step;
    Grant {
        asked,
        balance,
        order_most,
        granted,
        fen: settings.fen_of_points(granted),
    }
}

/// The points the options ask for: `Err` with what the member should read when they are not
/// a whole number.
pub fn asked(options: &serde_json::Value) -> Result<i64, String> {
    match Fields::of(options).optional_int("points", 0, i64::MAX) {
        Ok(points) => Ok(points.unwrap_or(0)),
        Err(_) => Err("使用积分应为不小于0的整数".to_owned()),
    }
}

/// The cart's total before this plugin: its lines and the order adjustments of the steps
/// before it (a checkout input may list this plugin's own among them; they are left out).
pub fn total_before(input: &QuoteInput) -> i64 {
    let lines = input
        .lines
        .iter()
        .map(|l| l.line_total_fen)
        .fold(0_i64, i64::saturating_add);
    let order = input
        .order_adjustments
        .iter()
        .filter(|a: &&Applied| a.source != PLUGIN)
        .map(|a| a.amount_fen)
        .fold(0_i64, i64::saturating_add);
    lines.saturating_add(order).max(0)
}

pub fn label(points: i64) -> String {
    format!("积分抵扣{points}分")
}

pub fn quote(kv: &impl Kv, input: &QuoteInput) -> QuoteOutput {
    let settings = Settings::of(&input.settings);
    let balance = account::balance(kv, input.buyer.member_id).max(0);
    let asked = asked(&input.options);
    let mut output = QuoteOutput {
        // No points asked for: checkout has none to take and nothing to refuse.
        skip_checkout: asked == Ok(0),
        ..QuoteOutput::default()
    };
    let asked = match asked {
        Ok(asked) => asked,
        Err(message) => {
            output.notes.push(message);
            0
        }
    };
    if balance == 0 && asked == 0 {
        return output;
    }
    let grant = grant(settings, balance, total_before(input), asked);
    if grant.granted > 0 {
        output
            .adjustments
            .push(Adjustment::order(-grant.fen, label(grant.granted)));
    }
    if grant.granted < asked {
        output.notes.push(if balance == 0 {
            "您当前没有可用积分".to_owned()
        } else if grant.granted == 0 {
            "本单暂不能使用积分抵扣".to_owned()
        } else {
            format!(
                "您要使用{asked}积分，本单最多可用{}积分（抵{}）",
                grant.granted,
                yuan(grant.fen)
            )
        });
    }
    if balance > 0 {
        let usable = grant.order_most.min(balance);
        let usable = usable - usable % settings.points_step();
        let mut field = FormField::new("points", "使用积分", FieldKind::Number)
            .value(if asked > 0 {
                grant.granted.to_string()
            } else {
                String::new()
            })
            .help(format!(
                "可用{balance}分，{}分抵¥1.00，最多抵订单的{}%",
                settings.exchange, settings.max_pay_percent
            ));
        field.placeholder = format!("本单最多可用{usable}分");
        output.choices.push(field);
    }
    output
}

pub fn checkout(kv: &impl Kv, input: &CheckoutInput) -> Result<CheckoutOutput, HookError> {
    let quote = &input.quote;
    let settings = Settings::of(&quote.settings);
    let member = quote.buyer.member_id;
    let asked =
        asked(&quote.options).map_err(|message| HookError::new("points_unusable", message))?;
    let discount_fen = input
        .adjustments
        .iter()
        .filter(|a| a.line_no.is_none())
        .map(|a| a.amount_fen)
        .fold(0_i64, i64::saturating_add)
        .saturating_neg()
        .max(0);
    if asked > 0 && discount_fen < settings.fen_of_points(asked) {
        let balance = account::balance(kv, member).max(0);
        let grant = grant(settings, balance, total_before(quote), asked);
        let message = if balance < asked {
            format!("积分不足：您要使用{asked}积分，当前可用{balance}分")
        } else {
            format!(
                "本单最多可用{}积分抵扣，请修改使用的积分后再提交",
                grant.granted
            )
        };
        return Err(HookError::new("points_unusable", message));
    }
    // Never a discount without its points: what the adjustment is worth, rounded up.
    let in_discount =
        i64::try_from((i128::from(discount_fen) * i128::from(settings.exchange) + 99) / 100)
            .unwrap_or(i64::MAX);
    let points = asked.max(in_discount);
    if points == 0 {
        return Ok(CheckoutOutput::default());
    }
    Ok(CheckoutOutput {
        reservations: vec![Reservation {
            key: balance_key(member),
            delta: points.saturating_neg(),
            min: 0,
            max: i64::MAX,
            message: NOT_ENOUGH.to_owned(),
        }],
    })
}

#[cfg(test)]
mod tests {
    use pifa_sdk::{Buyer, Line, MemoryKv};
    use serde_json::{Value, json};

    use super::*;

    fn input(total_fen: i64, options: Value, settings: Value) -> QuoteInput {
        QuoteInput {
            buyer: Buyer {
                member_id: 42,
                level_id: None,
                region_id: None,
            },
            lines: vec![Line {
                line_no: 1,
                sku_id: 7,
                product_id: 70,
                qty: 1,
                list_price_fen: total_fen,
                line_total_fen: total_fen,
                ..Line::default()
            }],
            now_ms: 1_800_000_000_000,
            settings,
            order_adjustments: Vec::new(),
            options,
        }
    }

    fn kv_with(balance: i64) -> MemoryKv {
        let mut kv = MemoryKv::default();
        kv.counters.insert(balance_key(42), balance);
        kv
    }

    #[test]
    fn points_pay_at_the_exchange_ratio_up_to_the_share_of_the_order() {
        let kv = kv_with(10_000);
        // ¥100.00, half may be paid: at most 5000 points at 100 a yuan.
        let output = quote(&kv, &input(10_000, json!({"points": 8000}), Value::Null));
        assert_eq!(
            output.adjustments,
            vec![Adjustment::order(-5000, "积分抵扣5000分")]
        );
        assert_eq!(
            output.notes,
            vec!["您要使用8000积分，本单最多可用5000积分（抵¥50.00）".to_owned()]
        );
        let field = &output.choices[0];
        assert_eq!(
            (field.name.as_str(), field.kind, field.value.as_str()),
            ("points", FieldKind::Number, "5000")
        );
        assert_eq!(field.help, "可用10000分，100分抵¥1.00，最多抵订单的50%");
    }

    #[test]
    fn the_balance_caps_the_points_and_whole_fen_round_them_down() {
        let kv = kv_with(1234);
        let settings = json!({"exchange": 1000, "max_pay_percent": 100});
        let output = quote(&kv, &input(100_000, json!({"points": 5000}), settings));
        // 1234 points at 1000 a yuan: 1230 pay 123 fen, the last 4 would be 0.4 fen.
        assert_eq!(
            output.adjustments,
            vec![Adjustment::order(-123, "积分抵扣1230分")]
        );
        assert_eq!(output.choices[0].value, "1230");
        assert_eq!(output.choices[0].placeholder, "本单最多可用1230分");
    }

    #[test]
    fn earlier_discounts_lower_the_share_points_may_pay() {
        let kv = kv_with(10_000);
        let mut quote_input = input(10_000, json!({"points": 5000}), Value::Null);
        quote_input.order_adjustments.push(Applied {
            source: "full-reduction".to_owned(),
            label: "满100减20".to_owned(),
            amount_fen: -2000,
        });
        let output = quote(&kv, &quote_input);
        assert_eq!(
            output.adjustments,
            vec![Adjustment::order(-4000, "积分抵扣4000分")]
        );
    }

    #[test]
    fn no_points_no_field_and_nothing_asked_nothing_given() {
        let output = quote(&kv_with(0), &input(10_000, Value::Null, Value::Null));
        assert_eq!(
            output,
            QuoteOutput {
                skip_checkout: true,
                ..QuoteOutput::default()
            },
            "nothing asked: nothing for checkout to take"
        );
        let output = quote(
            &kv_with(0),
            &input(10_000, json!({"points": 10}), Value::Null),
        );
        assert!(output.adjustments.is_empty() && output.choices.is_empty());
        assert_eq!(output.notes, vec!["您当前没有可用积分".to_owned()]);
        assert!(!output.skip_checkout, "points asked: checkout refuses them");
        let output = quote(&kv_with(500), &input(10_000, Value::Null, Value::Null));
        assert!(output.adjustments.is_empty() && output.notes.is_empty());
        assert_eq!(output.choices[0].value, "");
        let output = quote(
            &kv_with(500),
            &input(10_000, json!({"points": "abc"}), Value::Null),
        );
        assert_eq!(output.notes, vec!["使用积分应为不小于0的整数".to_owned()]);
        assert!(!output.skip_checkout, "a wrong answer: checkout refuses it");
        let output = quote(
            &kv_with(500),
            &input(10_000, json!({"points": 10}), json!({"max_pay_percent": 0})),
        );
        assert_eq!(output.notes, vec!["本单暂不能使用积分抵扣".to_owned()]);
    }

    fn checkout_input(asked: Value, adjustments: Vec<Adjustment>) -> CheckoutInput {
        let mut quote = input(10_000, asked, Value::Null);
        quote.lines[0].line_total_fen = 10_000;
        CheckoutInput { quote, adjustments }
    }

    #[test]
    fn checkout_reserves_the_points_on_the_balance() {
        let kv = kv_with(800);
        let output = checkout(
            &kv,
            &checkout_input(
                json!({"points": 500}),
                vec![Adjustment::order(-500, "积分抵扣500分")],
            ),
        )
        .unwrap();
        assert_eq!(
            output.reservations,
            vec![Reservation {
                key: "balance:42".to_owned(),
                delta: -500,
                min: 0,
                max: i64::MAX,
                message: "积分不足".to_owned(),
            }]
        );
        let none = checkout(&kv, &checkout_input(Value::Null, Vec::new())).unwrap();
        assert!(none.reservations.is_empty());
    }

    #[test]
    fn checkout_refuses_points_asked_beyond_what_the_quote_granted() {
        let kv = kv_with(800);
        let refused = checkout(
            &kv,
            &checkout_input(
                json!({"points": 900}),
                vec![Adjustment::order(-800, "积分抵扣800分")],
            ),
        )
        .unwrap_err();
        assert_eq!(refused.code, "points_unusable");
        assert_eq!(refused.message, "积分不足：您要使用900积分，当前可用800分");
        let refused = checkout(
            &kv_with(9000),
            &checkout_input(json!({"points": 6000}), Vec::new()),
        )
        .unwrap_err();
        assert_eq!(
            refused.message,
            "本单最多可用5000积分抵扣，请修改使用的积分后再提交"
        );
        let refused =
            checkout(&kv, &checkout_input(json!({"points": -1}), Vec::new())).unwrap_err();
        assert_eq!(refused.code, "points_unusable");
    }

    #[test]
    fn a_discount_is_never_given_without_its_points_reserved() {
        let kv = kv_with(800);
        // The options were lost on the way, the adjustment was not.
        let output = checkout(
            &kv,
            &checkout_input(Value::Null, vec![Adjustment::order(-300, "积分抵扣300分")]),
        )
        .unwrap();
        assert_eq!(output.reservations[0].delta, -300);
    }

    #[test]
    fn checkout_leaves_its_own_earlier_adjustment_out_of_the_total() {
        let mut quote_input = input(10_000, json!({"points": 5000}), Value::Null);
        quote_input.order_adjustments.push(Applied {
            source: PLUGIN.to_owned(),
            label: label(5000),
            amount_fen: -5000,
        });
        assert_eq!(total_before(&quote_input), 10_000);
    }
}
