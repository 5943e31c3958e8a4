//! What clearance does to a cart (REQUIREMENTS G3): the clearance price on as many units as
//! remain, marked final sale (`quote`); those units reserved in the order's own transaction so
//! the clearance quantity is never oversold (`checkout`); and given back when an order closes
//! (`on-event`). Composition order 20: after flash-sale (10), before full-reduction (30).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use pifa_sdk::{
    Adjustment, CheckoutInput, CheckoutOutput, HookError, Kv, Line, QuoteInput, QuoteOutput,
    Reservation,
};
use serde_json::Value;

use crate::item::{self, Item};
use crate::manifest::NAME;

/// What a member reads next to the price, and after-sales' reason for refusing a return.
pub const DEFAULT_LABEL: &str = "清仓价，不退不换";
pub const MAX_LABEL_CHARS: usize = 20;
pub const FLASH_SALE: &str = "flash-sale";
pub use pifa_sdk::storage::ORDER_CLOSED;

/// The plugin's settings, read with their defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub label: String,
    /// Whether a line flash-sale already priced may get the clearance price too.
    pub stack_with_flash_sale: bool,
}

impl Settings {
    /// A label the kernel would refuse (markup, template syntax, empty, too long) falls back to
    /// the default: the kernel counts a refused label as the plugin's failure, and a shop's
    /// typo must not take clearance prices out of every cart.
    pub fn read(settings: &Value) -> Settings {
        let label = settings
            .get("label")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|label| {
                !label.is_empty()
                    && label.chars().count() <= MAX_LABEL_CHARS
                    && !label.contains(['<', '>', '{', '}'])
                    && !label.chars().any(char::is_control)
            })
            .unwrap_or(DEFAULT_LABEL)
            .to_owned();
        Settings {
            label,
            stack_with_flash_sale: settings
                .get("stack_with_flash_sale")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }
}

/// The adjustment (negative) that prices `units` of a line of `qty` units totalling
/// `total_fen` at `price_fen` each, the other units keeping their share of the total; `None`
/// when the clearance price is not below the line's current unit price (clearance never
/// raises a price) or the discount rounds to nothing.
///
/// The clearance units' share of the total is `total × units / qty` rounded down, so the
/// units not at the clearance price keep at least their exact share: the rounding never
/// gives the member more than the clearance price.
pub fn clearance_amount(total_fen: i64, qty: i64, units: i64, price_fen: i64) -> Option<i64> {
    if total_fen <= 0 || qty < 1 || units < 1 || units > qty || price_fen < 0 {
        return None;
    }
    // In i64 when nothing overflows (every real cart); in i128 past that, where multiplying
    // and dividing are library calls on wasm32.
    match narrow_discount(total_fen, qty, units, price_fen) {
        Some(discount) => discount,
        None => wide_discount(total_fen, qty, units, price_fen),
    }
    .map(|discount| -discount)
}

/// The discount in i64: `None` when a product overflows, `Some(None)` when there is none.
fn narrow_discount(total: i64, qty: i64, units: i64, price: i64) -> Option<Option<i64>> {
    // The current unit price is total / qty: compare without dividing.
    if price.checked_mul(qty)? >= total {
        return Some(None);
    }
    let share = total.checked_mul(units)? / qty;
    // price × units ≤ price × qty < total: no overflow, and share ≤ total.
    let discount = share.checked_sub(price.checked_mul(units)?)?;
    Some((discount > 0).then_some(discount))
}

fn wide_discount(total: i64, qty: i64, units: i64, price: i64) -> Option<i64> {
    let (total, qty, units, price) = (
        i128::from(total),
        i128::from(qty),
        i128::from(units),
        i128::from(price),
    );
    if price.checked_mul(qty)? >= total {
        return None;
    }
    let share = total.checked_mul(units)? / qty;
    let discount = share.checked_sub(price.checked_mul(units)?)?;
    // share ≤ total, so the discount fits an i64 and leaves the line at 0 or more.
    (discount > 0)
        .then(|| i64::try_from(discount).ok())
        .flatten()
}

/// A cart line clearance prices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    pub line_no: i64,
    pub sku_id: i64,
    /// Units at the clearance price: `min(qty, remaining)`.
    pub units: i64,
    pub amount_fen: i64,
}

/// What clearance makes of a cart: the lines it prices, and a note per SKU whose lines ask
/// more than remains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub priced: Vec<Priced>,
    pub notes: Vec<String>,
}

/// A SKU's clearance as one quote sees it: its item, what remains, and what the lines so far
/// took of it (two lines of one SKU share what remains).
struct Stock {
    item: Item,
    remaining: i64,
    left: i64,
    short: bool,
}

/// Prices the cart. Reads the item of each distinct SKU in the cart by key (not every item on
/// clearance: up to 500 of them would cost a quote more fuel than its lines), and its sold
/// counter.
pub fn plan(kv: &impl Kv, lines: &[Line], settings: &Settings) -> Plan {
    let mut stocks: BTreeMap<i64, Option<Stock>> = BTreeMap::new();
    let mut priced = Vec::new();
    // SKUs in the order their first short line comes, for the notes.
    let mut short_skus: Vec<i64> = Vec::new();
    for line in lines {
        if line.gift || line.qty < 1 {
            continue;
        }
        if !settings.stack_with_flash_sale && line.adjusted_by(FLASH_SALE) {
            continue;
        }
        let stock = stocks.entry(line.sku_id).or_insert_with(|| {
            item::load(kv, line.sku_id).map(|item| {
                let remaining = item.remaining(kv.counter(&item.sold_key()));
                Stock {
                    item,
                    remaining,
                    left: remaining,
                    short: false,
                }
            })
        });
        let Some(stock) = stock else {
            continue;
        };
        // A sold-out SKU is simply not on offer; one this cart takes the last units of, with
        // more asked (on this line or a later one of the SKU), is worth a note.
        if stock.left <= 0 {
            if stock.remaining > 0 && !stock.short {
                stock.short = true;
                short_skus.push(line.sku_id);
            }
            continue;
        }
        let units = line.qty.min(stock.left);
        let Some(amount_fen) =
            clearance_amount(line.line_total_fen, line.qty, units, stock.item.price_fen)
        else {
            continue;
        };
        stock.left -= units;
        if units < line.qty && !stock.short {
            stock.short = true;
            short_skus.push(line.sku_id);
        }
        priced.push(Priced {
            line_no: line.line_no,
            sku_id: line.sku_id,
            units,
            amount_fen,
        });
    }
    let notes = short_skus
        .iter()
        .filter_map(|sku_id| stocks.get(sku_id).and_then(Option::as_ref))
        .map(|stock| {
            format!(
                "清仓商品 {} 仅剩 {} 件按清仓价",
                stock.item.name(),
                stock.remaining
            )
        })
        .collect();
    Plan { priced, notes }
}

pub fn quote(kv: &impl Kv, input: &QuoteInput) -> QuoteOutput {
    let settings = Settings::read(&input.settings);
    let plan = plan(kv, &input.lines, &settings);
    let adjustments: Vec<Adjustment> = plan
        .priced
        .iter()
        .map(|priced| Adjustment {
            final_sale: true,
            ..Adjustment::line(priced.line_no, priced.amount_fen, settings.label.clone())
        })
        .collect();
    QuoteOutput {
        // Checkout reserves for the lines given a clearance price here, and checks nothing else.
        skip_checkout: adjustments.is_empty(),
        adjustments,
        notes: plan.notes,
        ..QuoteOutput::default()
    }
}

/// The refusal when an order's clearance adjustment no longer matches the SKU's clearance
/// (staff changed its price or ended it between the quote and the order): the member must see
/// the new price before he buys.
fn changed() -> HookError {
    HookError::new(
        "clearance_changed",
        "清仓价刚刚调整或清仓已结束，请刷新后重新下单",
    )
}

/// The units a clearance adjustment of `amount_fen` on a line totalling `total_fen` (before
/// it) priced at `price_fen`: the fewest that give that amount. [`clearance_amount`] never
/// shrinks as the units grow (each more unit moves at least ⌊total/qty⌋ − price ≥ 0 fen), so
/// a binary search finds it; a plateau (units giving the same amount) is a member paying the
/// same either way, and the fewest units are what he was given.
pub fn units_of(amount_fen: i64, total_fen: i64, qty: i64, price_fen: i64) -> Option<i64> {
    let discount = |units: i64| clearance_amount(total_fen, qty, units, price_fen).map(|a| -a);
    let wanted = amount_fen.checked_neg()?;
    if wanted <= 0 || discount(qty)? < wanted {
        return None;
    }
    let (mut low, mut high) = (1_i64, qty);
    while low < high {
        let middle = low + (high - low) / 2;
        if discount(middle).unwrap_or(0) >= wanted {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    (discount(low) == Some(wanted)).then_some(low)
}

/// The units this plugin's adjustment of `amount_fen` priced on `line`, as checkout sees it.
///
/// The kernel hands checkout the cart as this plugin's quote saw it: its own adjustment out
/// of the line's total and of `line.adjustments` (kernel `quote_as_seen`). A line that still
/// lists an adjustment by this plugin has it in its total too, so it is taken out first; the
/// other reading is tried when the first finds no units, so either way of handing the cart
/// over prices the same units.
fn checkout_units(line: &Line, amount_fen: i64, price_fen: i64) -> Option<i64> {
    let total = line.line_total_fen;
    let without_own = total.checked_sub(amount_fen);
    let readings = if line.adjusted_by(NAME) {
        [without_own, Some(total)]
    } else {
        [Some(total), without_own]
    };
    readings
        .into_iter()
        .flatten()
        .find_map(|before| units_of(amount_fen, before, line.qty, price_fen))
}

/// One reservation per SKU on clearance in the order: `sold:{sku}:{listing}` moved by the
/// units priced at the clearance price, within [0, quantity], so concurrent orders never take
/// more than the clearance quantity (the kernel refuses the order that would).
///
/// The units come from this plugin's own adjustments (what the member is charged), not from a
/// fresh look at what remains: a unit sold to someone else since the quote must make this
/// order's reservation fail, not shrink while the order keeps the price.
pub fn checkout(kv: &impl Kv, input: &CheckoutInput) -> Result<CheckoutOutput, HookError> {
    // This plugin's adjustment of each line, indexed once (a cart may have hundreds of lines).
    let mut own: BTreeMap<i64, i64> = BTreeMap::new();
    for adjustment in &input.adjustments {
        if let Some(line_no) = adjustment.line_no {
            let sum = own.entry(line_no).or_insert(0);
            *sum = sum.checked_add(adjustment.amount_fen).ok_or_else(changed)?;
        }
    }
    // In SKU order: one reservation per counter, so two lines of one SKU cannot each pass a
    // bound that together they break.
    let mut per_sku: BTreeMap<i64, (Item, i64)> = BTreeMap::new();
    for line in &input.quote.lines {
        let Some(&amount_fen) = own.get(&line.line_no) else {
            continue;
        };
        if amount_fen == 0 {
            continue;
        }
        let (item, units_so_far) = match per_sku.entry(line.sku_id) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                entry.insert((item::load(kv, line.sku_id).ok_or_else(changed)?, 0))
            }
        };
        let units = checkout_units(line, amount_fen, item.price_fen).ok_or_else(changed)?;
        *units_so_far = units_so_far.checked_add(units).ok_or_else(|| {
            HookError::new("invalid_quantity", "数量过大 (the quantity is too large)")
        })?;
    }
    let reservations = per_sku
        .into_values()
        .map(|(item, units)| Reservation {
            key: item.sold_key(),
            delta: units,
            min: 0,
            max: item.quantity,
            message: format!("清仓商品 {} 已售罄或余量不足", item.name()),
        })
        .collect();
    Ok(CheckoutOutput { reservations })
}

#[cfg(test)]
mod tests {
    use pifa_sdk::Event;
    use pifa_sdk::storage::return_reservations;
    // REQUIREMENTS G3: the clearance price on what remains, final sale, never oversold; G1
    // composition: a flash-sale line is left alone unless the settings stack them.
    use pifa_sdk::{Applied, Buyer, MemoryKv, Reserved};
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_767_240_600_000;

    fn stored(kv: &mut MemoryKv, sku_id: i64, price_fen: i64, quantity: i64, sold: i64) -> Item {
        let item = Item {
            id: sku_id + 100,
            sku_id,
            product_id: sku_id * 10,
            price_fen,
            quantity,
            note: None,
            created_at_ms: NOW,
            updated_at_ms: NOW,
        };
        item::save(kv, &item).unwrap();
        kv.counters.insert(item.sold_key(), sold);
        item
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

    fn input(lines: Vec<Line>, settings: Value) -> QuoteInput {
        QuoteInput {
            buyer: Buyer {
                member_id: 42,
                level_id: None,
                region_id: None,
            },
            lines,
            now_ms: NOW,
            settings,
            order_adjustments: Vec::new(),
            options: Value::Null,
        }
    }

    fn final_sale(line_no: i64, amount_fen: i64) -> Adjustment {
        Adjustment {
            final_sale: true,
            ..Adjustment::line(line_no, amount_fen, DEFAULT_LABEL)
        }
    }

    /// The cart as the kernel hands it to checkout: as this plugin's quote saw it (its own
    /// adjustments out of the totals), with those adjustments beside it.
    fn checkout_input(lines: Vec<Line>, adjustments: Vec<Adjustment>) -> CheckoutInput {
        CheckoutInput {
            quote: input(lines, Value::Null),
            adjustments,
        }
    }

    #[test]
    fn the_clearance_price_applies_to_whole_lines_when_enough_remains_and_is_final_sale() {
        let mut kv = MemoryKv::default();
        stored(&mut kv, 7, 500, 10, 4);
        let output = quote(
            &kv,
            &input(vec![line(1, 7, 6, 800), line(2, 8, 1, 800)], Value::Null),
        );
        assert_eq!(output.adjustments, vec![final_sale(1, -1800)]);
        assert!(output.adjustments[0].final_sale);
        assert!(output.notes.is_empty());
    }

    #[test]
    fn only_what_remains_is_priced_and_the_member_is_told() {
        let mut kv = MemoryKv::default();
        stored(&mut kv, 7, 500, 10, 7);
        let output = quote(&kv, &input(vec![line(1, 7, 5, 800)], Value::Null));
        // 3 units at 5.00 instead of 8.00; the other 2 stay at 8.00.
        assert_eq!(output.adjustments, vec![final_sale(1, -900)]);
        assert_eq!(
            output.notes,
            vec!["清仓商品 SKU 7 仅剩 3 件按清仓价".to_owned()]
        );
    }

    #[test]
    fn two_lines_of_one_sku_share_what_remains_and_get_one_note() {
        let mut kv = MemoryKv::default();
        let mut item = stored(&mut kv, 7, 500, 10, 6);
        item.note = Some("旧款手套".to_owned());
        item::save(&mut kv, &item).unwrap();
        let output = quote(
            &kv,
            &input(
                vec![line(1, 7, 3, 800), line(2, 7, 3, 800), line(3, 7, 2, 800)],
                Value::Null,
            ),
        );
        assert_eq!(
            output.adjustments,
            vec![final_sale(1, -900), final_sale(2, -300)]
        );
        assert_eq!(
            output.notes,
            vec!["清仓商品 旧款手套 仅剩 4 件按清仓价".to_owned()]
        );
    }

    #[test]
    fn a_later_line_finding_nothing_left_still_brings_the_note() {
        let mut kv = MemoryKv::default();
        stored(&mut kv, 7, 500, 10, 6);
        let output = quote(
            &kv,
            &input(vec![line(1, 7, 4, 800), line(2, 7, 2, 800)], Value::Null),
        );
        assert_eq!(output.adjustments, vec![final_sale(1, -1200)]);
        assert_eq!(
            output.notes,
            vec!["清仓商品 SKU 7 仅剩 4 件按清仓价".to_owned()]
        );
    }

    #[test]
    fn a_sold_out_sku_and_a_sku_not_on_clearance_are_left_alone() {
        let mut kv = MemoryKv::default();
        stored(&mut kv, 7, 500, 10, 10);
        stored(&mut kv, 8, 500, 10, 12);
        let output = quote(
            &kv,
            &input(
                vec![line(1, 7, 1, 800), line(2, 8, 1, 800), line(3, 9, 1, 800)],
                Value::Null,
            ),
        );
        assert_eq!(
            output,
            QuoteOutput {
                skip_checkout: true,
                ..QuoteOutput::default()
            },
            "nothing priced, so nothing for checkout to hold"
        );
    }

    #[test]
    fn clearance_never_raises_a_price() {
        let mut kv = MemoryKv::default();
        stored(&mut kv, 7, 500, 10, 0);
        for unit in [500, 400] {
            let output = quote(&kv, &input(vec![line(1, 7, 2, unit)], Value::Null));
            assert!(output.adjustments.is_empty(), "at {unit}");
        }
        // A script's discount made the line 2 × 5.005: just above the clearance price.
        let mut cheaper = line(1, 7, 2, 500);
        cheaper.line_total_fen = 1001;
        assert_eq!(
            quote(&kv, &input(vec![cheaper], Value::Null)).adjustments,
            vec![final_sale(1, -1)]
        );
    }

    #[test]
    fn gift_lines_and_empty_lines_are_never_priced_nor_counted() {
        let mut kv = MemoryKv::default();
        stored(&mut kv, 7, 500, 3, 0);
        let mut gift = line(1, 7, 2, 0);
        gift.gift = true;
        gift.line_total_fen = 800;
        let empty = line(2, 7, 0, 800);
        let output = quote(
            &kv,
            &input(vec![gift, empty, line(3, 7, 3, 800)], Value::Null),
        );
        assert_eq!(output.adjustments, vec![final_sale(3, -900)]);
        assert!(
            output.notes.is_empty(),
            "the gift took nothing of what remains"
        );
    }

    fn flash_line(line_no: i64, sku_id: i64, qty: i64) -> Line {
        // 8.00 made 6.00 by flash-sale.
        Line {
            line_total_fen: 600 * qty,
            adjustments: vec![Applied {
                source: FLASH_SALE.to_owned(),
                label: "限时抢购价".to_owned(),
                amount_fen: -200 * qty,
            }],
            ..line(line_no, sku_id, qty, 800)
        }
    }

    #[test]
    fn a_flash_sale_line_is_left_alone_unless_the_settings_stack_them() {
        let mut kv = MemoryKv::default();
        stored(&mut kv, 7, 500, 10, 0);
        let mut scripted = line(2, 7, 1, 800);
        scripted.adjustments = vec![Applied {
            source: "script".to_owned(),
            label: "会员价".to_owned(),
            amount_fen: -100,
        }];
        scripted.line_total_fen = 700;
        let lines = vec![flash_line(1, 7, 2), scripted];
        let alone = quote(&kv, &input(lines.clone(), Value::Null));
        assert_eq!(alone.adjustments, vec![final_sale(2, -200)]);

        let stacked = quote(&kv, &input(lines, json!({"stack_with_flash_sale": true})));
        assert_eq!(
            stacked.adjustments,
            vec![final_sale(1, -200), final_sale(2, -200)]
        );
    }

    #[test]
    fn the_label_comes_from_the_settings_unless_the_kernel_would_refuse_it() {
        let read = |settings: Value| Settings::read(&settings).label;
        assert_eq!(read(json!({"label": "清仓特价"})), "清仓特价");
        assert_eq!(read(Value::Null), DEFAULT_LABEL);
        for bad in [
            "",
            "  ",
            "<b>清仓</b>",
            "{{ x }}",
            "一二三四五六七八九十一二三四五六七八九十一",
        ] {
            assert_eq!(read(json!({"label": bad})), DEFAULT_LABEL, "{bad}");
        }
        assert!(!Settings::read(&json!({})).stack_with_flash_sale);
        assert!(!Settings::read(&json!({"stack_with_flash_sale": "yes"})).stack_with_flash_sale);

        let mut kv = MemoryKv::default();
        stored(&mut kv, 7, 500, 10, 0);
        let output = quote(
            &kv,
            &input(vec![line(1, 7, 1, 800)], json!({"label": "清仓特价"})),
        );
        assert_eq!(output.adjustments[0].label, "清仓特价");
    }

    #[test]
    fn clearance_amount_keeps_the_other_units_at_their_share() {
        assert_eq!(clearance_amount(1600, 2, 2, 500), Some(-600));
        assert_eq!(clearance_amount(1600, 2, 1, 500), Some(-300));
        // 3 units totalling 10.00: one unit's share is 3.33 (rounded down), so 0.33 off.
        assert_eq!(clearance_amount(1000, 3, 1, 300), Some(-33));
        assert_eq!(clearance_amount(1000, 3, 3, 300), Some(-100));
        assert_eq!(clearance_amount(1000, 3, 4, 300), None);
        assert_eq!(clearance_amount(0, 3, 1, 0), None);
        assert_eq!(clearance_amount(900, 3, 1, 300), None);
        assert_eq!(
            clearance_amount(i64::MAX, i64::MAX, i64::MAX, 0),
            Some(-i64::MAX)
        );
        assert_eq!(clearance_amount(i64::MAX, 2, 1, i64::MAX), None);
        // Past i64 the 128-bit path gives the same answers.
        let total = i64::MAX / 2;
        let exact = i128::from(total) * 3 / 4 - 3;
        assert_eq!(
            clearance_amount(total, 4, 3, 1),
            Some(-i64::try_from(exact).unwrap())
        );
        assert_eq!(narrow_discount(total, 4, 3, 1), None, "overflows i64");
        for (total, qty, units, price) in [
            (1600, 2, 1, 500),
            (1000, 3, 1, 300),
            (77_777, 13, 5, 4_000),
            (1001, 1000, 999, 1),
        ] {
            assert_eq!(
                narrow_discount(total, qty, units, price),
                Some(wide_discount(total, qty, units, price)),
                "{total} {qty} {units} {price}"
            );
        }
    }

    #[test]
    fn units_of_inverts_clearance_amount() {
        for (total, qty, price) in [
            (1600, 2, 500),
            (1000, 3, 300),
            (1001, 1000, 1),
            (77_777, 13, 4_000),
        ] {
            for units in 1..=qty {
                if let Some(amount) = clearance_amount(total, qty, units, price) {
                    let found = units_of(amount, total, qty, price).unwrap();
                    assert!(found <= units);
                    assert_eq!(clearance_amount(total, qty, found, price), Some(amount));
                }
            }
        }
        // A plateau: 1000 units totalling 10.01 at 0.01: up to 999 units discount nothing.
        assert_eq!(units_of(-1, 1001, 1000, 1), Some(1000));
        assert_eq!(units_of(-301, 1600, 2, 500), None);
        assert_eq!(units_of(-2000, 1600, 2, 500), None);
        assert_eq!(units_of(0, 1600, 2, 500), None);
        assert_eq!(units_of(i64::MIN, 1600, 2, 500), None);
    }

    #[test]
    fn checkout_reserves_the_units_quote_priced_within_the_clearance_quantity() {
        let mut kv = MemoryKv::default();
        stored(&mut kv, 7, 500, 10, 7);
        stored(&mut kv, 8, 300, 20, 0);
        let lines = vec![line(1, 7, 5, 800), line(2, 8, 2, 800), line(3, 9, 1, 800)];
        let quoted = quote(&kv, &input(lines.clone(), Value::Null));
        let output = checkout(&kv, &checkout_input(lines, quoted.adjustments)).unwrap();
        assert_eq!(
            output.reservations,
            vec![
                Reservation {
                    key: "sold:7:107".to_owned(),
                    delta: 3,
                    min: 0,
                    max: 10,
                    message: "清仓商品 SKU 7 已售罄或余量不足".to_owned(),
                },
                Reservation {
                    key: "sold:8:108".to_owned(),
                    delta: 2,
                    min: 0,
                    max: 20,
                    message: "清仓商品 SKU 8 已售罄或余量不足".to_owned(),
                },
            ]
        );
    }

    #[test]
    fn checkout_reads_a_total_that_already_holds_its_own_adjustment_too() {
        let mut kv = MemoryKv::default();
        stored(&mut kv, 7, 500, 10, 7);
        let lines = vec![line(1, 7, 5, 800)];
        let adjustments = quote(&kv, &input(lines.clone(), Value::Null)).adjustments;
        assert_eq!(adjustments, vec![final_sale(1, -900)]);
        let priced = |line_total_fen: i64, listed: bool| {
            let mut line = line(1, 7, 5, 800);
            line.line_total_fen = line_total_fen;
            if listed {
                line.adjustments = vec![Applied {
                    source: NAME.to_owned(),
                    label: DEFAULT_LABEL.to_owned(),
                    amount_fen: -900,
                }];
            }
            let output = checkout(&kv, &checkout_input(vec![line], adjustments.clone()));
            output.map(|o| o.reservations.iter().map(|r| r.delta).collect::<Vec<i64>>())
        };
        // As the kernel hands it over (before this plugin), and with the adjustment in the
        // total, listed or not: the same 3 units.
        assert_eq!(priced(4000, false), Ok(vec![3]));
        assert_eq!(priced(3100, true), Ok(vec![3]));
        assert_eq!(priced(3100, false), Ok(vec![3]));
        // A total neither reading explains is a cart priced on other terms.
        assert_eq!(priced(5000, false).unwrap_err().code, "clearance_changed");
    }

    #[test]
    fn checkout_sums_the_lines_of_one_sku_into_one_reservation() {
        let mut kv = MemoryKv::default();
        stored(&mut kv, 7, 500, 10, 6);
        let lines = vec![line(1, 7, 3, 800), line(2, 7, 3, 800)];
        let quoted = quote(&kv, &input(lines.clone(), Value::Null));
        let output = checkout(&kv, &checkout_input(lines, quoted.adjustments)).unwrap();
        let summary: Vec<(&str, i64, i64)> = output
            .reservations
            .iter()
            .map(|r| (r.key.as_str(), r.delta, r.max))
            .collect();
        // 6 sold + 4 reserved = the quantity: the kernel's bound lets exactly this through.
        assert_eq!(summary, vec![("sold:7:107", 4, 10)]);
    }

    #[test]
    fn a_unit_sold_since_the_quote_fails_the_reservation_instead_of_shrinking_it() {
        let mut kv = MemoryKv::default();
        let item = stored(&mut kv, 7, 500, 10, 7);
        let lines = vec![line(1, 7, 3, 800)];
        let quoted = quote(&kv, &input(lines.clone(), Value::Null));
        // Another order took 2 of the 3 left meanwhile.
        kv.counters.insert(item.sold_key(), 9);
        let output = checkout(&kv, &checkout_input(lines, quoted.adjustments)).unwrap();
        let reservation = &output.reservations[0];
        assert_eq!(reservation.delta, 3);
        // Played as the kernel applies it: 9 + 3 > 10, so the order is refused.
        assert_eq!(
            kv.add_bounded(
                &reservation.key,
                reservation.delta,
                reservation.min,
                reservation.max
            ),
            Ok(None)
        );
    }

    #[test]
    fn checkout_without_a_clearance_adjustment_reserves_nothing() {
        let mut kv = MemoryKv::default();
        stored(&mut kv, 7, 500, 10, 0);
        let mut flash = flash_line(1, 7, 2);
        flash.line_total_fen = 1200;
        let output = checkout(
            &kv,
            &checkout_input(vec![flash, line(2, 8, 1, 800)], Vec::new()),
        )
        .unwrap();
        assert!(output.reservations.is_empty());
    }

    #[test]
    fn an_order_priced_before_staff_changed_or_ended_the_clearance_is_refused() {
        let mut kv = MemoryKv::default();
        let item = stored(&mut kv, 7, 500, 10, 0);
        let lines = vec![line(1, 7, 2, 800)];
        let quoted = quote(&kv, &input(lines.clone(), Value::Null));

        item::save(
            &mut kv,
            &Item {
                price_fen: 450,
                ..item.clone()
            },
        )
        .unwrap();
        let refused = checkout(
            &kv,
            &checkout_input(lines.clone(), quoted.adjustments.clone()),
        );
        assert_eq!(refused.unwrap_err().code, "clearance_changed");

        kv.delete(&item::item_key(7)).unwrap();
        let refused = checkout(&kv, &checkout_input(lines, quoted.adjustments));
        assert_eq!(refused.unwrap_err().code, "clearance_changed");
    }

    fn closed(kind: &str, reservations: Vec<Reserved>) -> Event {
        Event {
            id: 1,
            kind: kind.to_owned(),
            order_id: Some(5),
            payload: Value::Null,
            reservations,
            now_ms: NOW,
            settings: Value::Null,
        }
    }

    #[test]
    fn a_closed_order_gives_its_units_back() {
        let mut kv = MemoryKv::default();
        kv.counters.insert("sold:7:107".to_owned(), 5);
        let reserved = vec![Reserved {
            key: "sold:7:107".to_owned(),
            delta: 3,
        }];
        let short = return_reservations(&mut kv, &closed(ORDER_CLOSED, reserved.clone())).unwrap();
        assert!(short.is_empty());
        assert_eq!(kv.counter("sold:7:107"), 2);

        // Other kinds change nothing; a counter below the return is left and reported.
        return_reservations(&mut kv, &closed("order.completed", reserved.clone())).unwrap();
        assert_eq!(kv.counter("sold:7:107"), 2);
        let short = return_reservations(&mut kv, &closed(ORDER_CLOSED, reserved)).unwrap();
        assert_eq!(short, vec!["sold:7:107".to_owned()]);
        assert_eq!(kv.counter("sold:7:107"), 2);
    }

    #[test]
    fn a_return_the_write_quota_refuses_is_an_error_so_the_event_is_retried() {
        let mut kv = MemoryKv {
            writes_left: Some(0),
            ..MemoryKv::default()
        };
        kv.counters.insert("sold:7:107".to_owned(), 5);
        let reserved = vec![Reserved {
            key: "sold:7:107".to_owned(),
            delta: 3,
        }];
        let error = return_reservations(&mut kv, &closed(ORDER_CLOSED, reserved)).unwrap_err();
        assert_eq!(error.code, "kv_failed");
    }
}
