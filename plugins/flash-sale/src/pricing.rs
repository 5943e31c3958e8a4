//! What a sale does to a cart: the flash price in `quote`, the limits reserved in `checkout`,
//! and the reservations handed back when an order closes. No storage here: the sales come in
//! as a slice, so quote and checkout price a cart the same way by construction.

use pifa_sdk::{
    Adjustment, CheckoutInput, CheckoutOutput, HookError, Line, QuoteInput, QuoteOutput,
    Reservation,
};
use serde_json::Value;

use crate::sale::{Sale, member_sold_key, sold_key};

/// What a member reads next to the price when the settings name nothing else.
pub const DEFAULT_LABEL: &str = "限时抢购价";
pub use pifa_sdk::storage::ORDER_CLOSED;

/// The label from the plugin's settings (`{"label": "秒杀价"}`), or the default.
pub fn label(settings: &Value) -> String {
    settings
        .get("label")
        .and_then(Value::as_str)
        .filter(|label| !label.trim().is_empty())
        .unwrap_or(DEFAULT_LABEL)
        .to_owned()
}

/// A cart line the flash price applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashLine<'a> {
    pub line: &'a Line,
    pub sale: &'a Sale,
    /// The flash total minus the line's total so far: always negative.
    pub amount_fen: i64,
}

/// The lines a sale active at `now_ms` makes cheaper. When two active sales hold the same SKU
/// the cheaper one wins (then the older), so the member gets the best price and the choice is
/// stable between quote and checkout. A line whose flash total would overflow is left alone.
pub fn flash_lines<'a>(sales: &'a [Sale], lines: &'a [Line], now_ms: i64) -> Vec<FlashLine<'a>> {
    lines
        .iter()
        .filter(|line| line.qty >= 1)
        .filter_map(|line| {
            sales
                .iter()
                .filter(|sale| sale.is_active(now_ms))
                .filter_map(|sale| {
                    let flash_total = sale.price_of(line.sku_id)?.checked_mul(line.qty)?;
                    let amount_fen = flash_total.checked_sub(line.line_total_fen)?;
                    (amount_fen < 0).then_some(FlashLine {
                        line,
                        sale,
                        amount_fen,
                    })
                })
                .min_by_key(|flash| (flash.amount_fen, flash.sale.id))
        })
        .collect()
}

pub fn quote(sales: &[Sale], input: &QuoteInput) -> QuoteOutput {
    let label = label(&input.settings);
    let adjustments: Vec<Adjustment> = flash_lines(sales, &input.lines, input.now_ms)
        .into_iter()
        .map(|flash| Adjustment::line(flash.line.line_no, flash.amount_fen, label.clone()))
        .collect();
    QuoteOutput {
        // Checkout reserves for exactly the lines priced here (`flash_lines` on the same cart).
        skip_checkout: adjustments.is_empty(),
        adjustments,
        ..QuoteOutput::default()
    }
}

/// Two reservations per sale in the cart: its total and this member's share, each for the
/// quantity of all the cart's lines in that sale (one bounded change per counter, so two SKUs
/// of one sale cannot each pass a bound that together they break).
pub fn checkout(sales: &[Sale], input: &CheckoutInput) -> Result<CheckoutOutput, HookError> {
    // Checkout sees the cart as this plugin's quote saw it (the kernel takes this plugin's
    // adjustments and those of later steps out), so a line is a flash line here exactly when
    // quote made it one.
    let quote = &input.quote;
    let mut per_sale: Vec<(&Sale, i64)> = Vec::new();
    for flash in flash_lines(sales, &quote.lines, quote.now_ms) {
        match per_sale
            .iter_mut()
            .find(|(sale, _)| sale.id == flash.sale.id)
        {
            Some((_, qty)) => {
                *qty = qty.checked_add(flash.line.qty).ok_or_else(|| {
                    HookError::new("invalid_quantity", "数量过大 (the quantity is too large)")
                })?;
            }
            None => per_sale.push((flash.sale, flash.line.qty)),
        }
    }

    let member_id = quote.buyer.member_id;
    let reservations = per_sale
        .into_iter()
        .flat_map(|(sale, qty)| {
            [
                Reservation {
                    key: sold_key(sale.id),
                    delta: qty,
                    min: 0,
                    max: sale.total_limit,
                    message: format!("限时抢购「{}」已售罄或余量不足", sale.name),
                },
                Reservation {
                    key: member_sold_key(sale.id, member_id),
                    delta: qty,
                    min: 0,
                    max: sale.per_member_limit,
                    message: format!("「{}」每人限购{}件", sale.name, sale.per_member_limit),
                },
            ]
        })
        .collect();
    Ok(CheckoutOutput { reservations })
}

#[cfg(test)]
mod tests {
    use pifa_sdk::Event;
    use pifa_sdk::storage::return_reservations;
    use pifa_sdk::{Buyer, Reserved};
    use serde_json::json;

    use super::*;
    use crate::sale::SaleItem;
    use pifa_sdk::{Kv, MemoryKv};

    const NOON: i64 = 1_700_000_000_000;

    fn sale(id: i64, items: &[(i64, i64)]) -> Sale {
        Sale {
            id,
            name: format!("秒杀{id}"),
            starts_at_ms: NOON,
            ends_at_ms: NOON + 3_600_000,
            total_limit: 100,
            per_member_limit: 3,
            items: items
                .iter()
                .map(|&(sku_id, price_fen)| SaleItem { sku_id, price_fen })
                .collect(),
            ended: false,
        }
    }

    fn line(line_no: i64, sku_id: i64, qty: i64, unit_fen: i64) -> Line {
        Line {
            line_no,
            sku_id,
            product_id: sku_id * 10,
            qty,
            list_price_fen: unit_fen,
            line_total_fen: unit_fen * qty,
            ..Line::default()
        }
    }

    fn input(lines: Vec<Line>, now_ms: i64) -> QuoteInput {
        QuoteInput {
            buyer: Buyer {
                member_id: 42,
                level_id: None,
                region_id: None,
            },
            lines,
            now_ms,
            settings: Value::Null,
            order_adjustments: Vec::new(),
            options: Value::Null,
        }
    }

    #[test]
    fn an_active_sale_prices_its_skus_and_leaves_others_alone() {
        let sales = [sale(1, &[(7, 500)])];
        let output = quote(
            &sales,
            &input(vec![line(1, 7, 2, 800), line(2, 8, 1, 800)], NOON),
        );
        assert_eq!(
            output.adjustments,
            vec![Adjustment::line(1, -600, "限时抢购价")]
        );
    }

    #[test]
    fn nothing_applies_before_the_start_at_the_end_or_after_staff_ended_it() {
        let sales = [sale(1, &[(7, 500)])];
        let lines = vec![line(1, 7, 1, 800)];
        assert!(
            quote(&sales, &input(lines.clone(), NOON - 1))
                .adjustments
                .is_empty()
        );
        assert!(
            quote(&sales, &input(lines.clone(), NOON + 3_600_000))
                .adjustments
                .is_empty()
        );
        let ended = [Sale {
            ended: true,
            ..sale(1, &[(7, 500)])
        }];
        assert!(quote(&ended, &input(lines, NOON)).adjustments.is_empty());
    }

    #[test]
    fn a_flash_price_above_the_price_so_far_is_not_a_discount() {
        let sales = [sale(1, &[(7, 500)])];
        assert!(
            quote(&sales, &input(vec![line(1, 7, 1, 500)], NOON))
                .adjustments
                .is_empty()
        );
        assert!(
            quote(&sales, &input(vec![line(1, 7, 1, 400)], NOON))
                .adjustments
                .is_empty()
        );
    }

    #[test]
    fn an_overflowing_line_is_skipped_by_quote_and_checkout_alike() {
        let sales = [sale(1, &[(7, i64::MAX), (8, 100)])];
        let mut huge = line(1, 7, 2, 1);
        huge.line_total_fen = i64::MAX;
        let mut below = line(2, 8, 1, 1);
        below.line_total_fen = i64::MIN;
        let lines = vec![huge, below, line(3, 8, 1, 300)];
        let output = quote(&sales, &input(lines.clone(), NOON));
        assert_eq!(output.adjustments.len(), 1);
        assert_eq!(output.adjustments[0].line_no, Some(3));
        let checkout_input = CheckoutInput {
            quote: input(lines, NOON),
            adjustments: output.adjustments,
        };
        let reserved = checkout(&sales, &checkout_input).unwrap().reservations;
        assert_eq!(reserved[0].delta, 1);
    }

    #[test]
    fn the_cheaper_of_two_active_sales_wins() {
        let sales = [sale(1, &[(7, 600)]), sale(2, &[(7, 550)])];
        let flash = flash_lines(&sales, &[line(1, 7, 1, 800)], NOON)
            .into_iter()
            .map(|flash| (flash.sale.id, flash.amount_fen))
            .collect::<Vec<_>>();
        assert_eq!(flash, vec![(2, -250)]);
    }

    #[test]
    fn the_label_comes_from_the_settings() {
        let sales = [sale(1, &[(7, 500)])];
        let mut quote_input = input(vec![line(1, 7, 1, 800)], NOON);
        quote_input.settings = json!({"label": "秒杀价"});
        assert_eq!(quote(&sales, &quote_input).adjustments[0].label, "秒杀价");
        assert_eq!(label(&json!({})), DEFAULT_LABEL);
        assert_eq!(label(&json!({"label": " "})), DEFAULT_LABEL);
    }

    #[test]
    fn checkout_reserves_what_its_own_quote_priced() {
        let sales = [sale(1, &[(7, 500)])];
        // As checkout receives it: 2 × 8.00 as the quote hook saw it, and the −6.00 it gave.
        let quoted = line(1, 7, 2, 800);
        let output = checkout(
            &sales,
            &CheckoutInput {
                quote: input(vec![quoted], NOON),
                adjustments: vec![Adjustment::line(1, -600, DEFAULT_LABEL)],
            },
        )
        .unwrap();
        let keys: Vec<&str> = output.reservations.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["sold:1", "sold:1:m42"]);
        assert_eq!(output.reservations[0].delta, 2);
    }

    #[test]
    fn checkout_reserves_the_total_and_the_members_share_per_sale() {
        let sales = [sale(1, &[(7, 500), (8, 500)]), sale(2, &[(9, 100)])];
        let lines = vec![line(1, 7, 2, 800), line(2, 9, 1, 800), line(3, 8, 1, 800)];
        let output = checkout(
            &sales,
            &CheckoutInput {
                quote: input(lines, NOON),
                adjustments: Vec::new(),
            },
        )
        .unwrap();
        let summary: Vec<(&str, i64, i64)> = output
            .reservations
            .iter()
            .map(|r| (r.key.as_str(), r.delta, r.max))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("sold:1", 3, 100),
                ("sold:1:m42", 3, 3),
                ("sold:2", 1, 100),
                ("sold:2:m42", 1, 3),
            ]
        );
        assert_eq!(
            output.reservations[0].message,
            "限时抢购「秒杀1」已售罄或余量不足"
        );
        assert_eq!(output.reservations[1].message, "「秒杀1」每人限购3件");
        assert!(output.reservations.iter().all(|r| r.min == 0));
    }

    #[test]
    fn checkout_outside_the_window_reserves_nothing() {
        let sales = [sale(1, &[(7, 500)])];
        let output = checkout(
            &sales,
            &CheckoutInput {
                quote: input(vec![line(1, 7, 2, 800)], NOON - 1),
                adjustments: Vec::new(),
            },
        )
        .unwrap();
        assert!(output.reservations.is_empty());
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
    fn a_closed_order_gives_its_reservations_back() {
        let mut kv = MemoryKv::default();
        kv.counters.insert("sold:1".to_owned(), 5);
        kv.counters.insert("sold:1:m42".to_owned(), 2);
        let reserved = vec![
            Reserved {
                key: "sold:1".to_owned(),
                delta: 2,
            },
            Reserved {
                key: "sold:1:m42".to_owned(),
                delta: 2,
            },
        ];
        let short = return_reservations(&mut kv, &closed(ORDER_CLOSED, reserved.clone())).unwrap();
        assert!(short.is_empty());
        assert_eq!(kv.counter("sold:1"), 3);
        assert_eq!(kv.counter("sold:1:m42"), 0);

        // Other kinds change nothing; a counter already below the return is left and reported.
        return_reservations(&mut kv, &closed("order.placed", reserved.clone())).unwrap();
        assert_eq!(kv.counter("sold:1"), 3);
        let short = return_reservations(&mut kv, &closed(ORDER_CLOSED, reserved)).unwrap();
        assert_eq!(short, vec!["sold:1:m42".to_owned()]);
        assert_eq!(kv.counter("sold:1"), 1);
        assert_eq!(kv.counter("sold:1:m42"), 0);
    }
}
