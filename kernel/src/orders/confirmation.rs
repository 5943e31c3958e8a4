//! What confirming an order changes (D5): the confirmer may change quantities, prices and the
//! delivery method, each with a reason. `plan` works it all out before any write, with checked
//! arithmetic and without the database: each changed line with its new total, adjustments and
//! stock to take or give back, the order's new totals and shipping, the status it moves to, and
//! the history remark that says what changed. `lifecycle::confirm` asks who may, and
//! `store.orders().confirm_order` writes the plan.

use serde::Deserialize;
use utoipa::ToSchema;

use super::quote::{Adjustment, Area, MAX_QTY, shipping_fee};
use super::record::{OrderLine, OrderRecord};
use super::{DeliveryMethod, OrderStatus};
use crate::error::{ApiError, ApiResult};
use crate::ids::{ProductId, SkuId};
use crate::money::{
    Fen, MAX_ORDER_FEN, checked_sum, format_price, out_of_range, parse_fen, scale_fen,
};
use crate::quantity::Quantity;
use crate::settings::Shipping;

/// A change to one line at confirmation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineChange {
    pub line_no: i64,
    /// The new quantity (the same unit price; 0 drops the line).
    pub qty: Option<i64>,
    /// The new price of one item.
    pub unit_price_fen: Option<i64>,
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Confirmation {
    #[serde(default)]
    pub changes: Vec<LineChange>,
    pub delivery_method: Option<DeliveryMethod>,
    /// Why the delivery method changed (required with it).
    pub delivery_reason: Option<String>,
    #[serde(default)]
    pub remark: String,
}

/// Everything a confirmation writes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ConfirmPlan {
    pub(crate) changed: Vec<ChangedLine>,
    pub(crate) delivery: DeliveryMethod,
    pub(crate) goods: Fen,
    pub(crate) weight: i64,
    pub(crate) shipping: Fen,
    pub(crate) total: Fen,
    pub(crate) next: OrderStatus,
    /// What changed and why, for the order's history.
    pub(crate) remark: String,
}

/// One line after the confirmer's changes, and what it means for stock.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ChangedLine {
    pub(crate) line_no: i64,
    pub(crate) sku_id: SkuId,
    pub(crate) product_id: ProductId,
    pub(crate) qty: i64,
    pub(crate) total_fen: i64,
    pub(crate) reserved_qty: Quantity,
    pub(crate) backorder_qty: Quantity,
    pub(crate) weight_g: i64,
    pub(crate) adjustments: Vec<Adjustment>,
    /// Extra items to take from stock (> 0) or to give back (< 0).
    pub(crate) stock_delta: i64,
}

/// A reason the confirmer must give: 1 to 200 characters.
pub(crate) fn reason_field(reason: &str, field: &str) -> ApiResult<String> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(ApiError::invalid_field(
            "reason_required",
            field,
            format!("{field}: 请填写原因，最多200字 (a reason, at most 200 characters)"),
        ));
    }
    Ok(reason.to_owned())
}

/// Works out confirming `order` with `input` under the shop's `shipping` rules (see the
/// module). Refuses, naming the field, an unknown or repeated line, a quantity or price out of
/// range, a missing reason, shipping to no address, and a total below zero.
pub(crate) fn plan(
    order: &OrderRecord,
    input: &Confirmation,
    shipping: &Shipping,
) -> ApiResult<ConfirmPlan> {
    let mut notes: Vec<String> = Vec::new();
    let mut changed: Vec<ChangedLine> = Vec::new();
    for (index, change) in input.changes.iter().enumerate() {
        let field = |name: &str| format!("changes[{index}].{name}");
        let line = order
            .lines
            .iter()
            .find(|l| l.line.line_no == change.line_no)
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "unknown_line",
                    &field("line_no"),
                    format!("{}: 订单没有这一行 (no such line)", field("line_no")),
                )
            })?;
        if changed.iter().any(|c| c.line_no == change.line_no) {
            return Err(ApiError::invalid_field(
                "duplicate_line",
                &field("line_no"),
                format!("{}: 每行只能修改一次 (each line once)", field("line_no")),
            ));
        }
        changed.push(change_line(line, change, &field, &mut notes)?);
    }
    let delivery = input.delivery_method.unwrap_or(order.delivery_method);
    if delivery != order.delivery_method {
        let reason = reason_field(
            input.delivery_reason.as_deref().unwrap_or(""),
            "delivery_reason",
        )?;
        if delivery.ships() && order.address.is_none() {
            return Err(ApiError::invalid_field(
                "address_required",
                "delivery_method",
                "delivery_method: 该订单没有收货地址，不能改为发货 (the order has no address to ship to)",
            ));
        }
        notes.push(format!(
            "配送方式 {}→{}（{reason}）",
            order.delivery_method.label(),
            delivery.label()
        ));
    }
    let remark = crate::accounts::parse_text(&input.remark, "remark", 200)?;
    if !remark.is_empty() {
        notes.push(remark);
    }
    // The totals after the changes (N): lines, then shipping for the new weight and goods.
    let after = |l: &OrderLine| changed.iter().find(|c| c.line_no == l.line.line_no);
    let goods = checked_sum(
        order
            .lines
            .iter()
            .map(|l| after(l).map_or(l.line.line_total_fen, |c| c.total_fen)),
    )
    .ok_or_else(|| out_of_range("changes"))?;
    let weight = checked_sum(
        order
            .lines
            .iter()
            .map(|l| after(l).map_or(l.line.weight_g, |c| c.weight_g)),
    )
    .ok_or_else(|| out_of_range("changes"))?;
    let shipping = if changed.is_empty() && delivery == order.delivery_method {
        order.shipping_fen.get()
    } else {
        let area = order.address.as_ref().map(|a| Area {
            province: a.province.clone(),
            city: a.city.clone(),
        });
        shipping_fee(
            shipping,
            delivery,
            area.as_ref(),
            weight,
            goods.saturating_add(order.adjustments_fen.get()),
        )
        .0
    };
    let total = goods
        .checked_add(order.adjustments_fen.get())
        .and_then(|t| t.checked_add(shipping))
        .filter(|total| *total <= MAX_ORDER_FEN)
        .ok_or_else(|| out_of_range("changes"))?;
    if total < 0 {
        return Err(ApiError::invalid_field(
            "invalid_money",
            "changes",
            "changes: 订单金额不能为负 (the order total cannot be negative)",
        ));
    }
    let next = if order.payment_method.pays_first() && order.paid_fen.get() < total {
        OrderStatus::PendingPayment
    } else {
        OrderStatus::AwaitingDispatch
    };
    Ok(ConfirmPlan {
        changed,
        delivery,
        goods: Fen(goods),
        weight,
        shipping: Fen(shipping),
        total: Fen(total),
        next,
        remark: notes.join("；"),
    })
}

/// `line` after `change`, with a note for each thing changed.
fn change_line(
    line: &OrderLine,
    change: &LineChange,
    field: &dyn Fn(&str) -> String,
    notes: &mut Vec<String>,
) -> ApiResult<ChangedLine> {
    let reason = reason_field(&change.reason, &field("reason"))?;
    let old = &line.line;
    let qty = change.qty.unwrap_or(old.qty);
    if !(0..=MAX_QTY).contains(&qty) {
        return Err(ApiError::invalid_field(
            "invalid_quantity",
            &field("qty"),
            format!("{}: 数量须在0到{}之间", field("qty"), MAX_QTY),
        ));
    }
    // A new quantity keeps the line's unit price: the list price and every adjustment scale
    // (in i128, so a large amount times a large quantity is exact before it is bounded).
    let mut adjustments: Vec<Adjustment> = old
        .adjustments
        .iter()
        .map(|a| {
            let amount_fen = if old.qty == 0 {
                Some(0)
            } else {
                scale_fen(a.amount_fen, qty, old.qty)
            };
            amount_fen.map(|amount_fen| Adjustment {
                amount_fen,
                ..a.clone()
            })
        })
        .collect::<Option<_>>()
        .ok_or_else(|| out_of_range(&field("qty")))?;
    let mut total = old
        .list_price_fen
        .checked_mul(qty)
        .zip(checked_sum(adjustments.iter().map(|a| a.amount_fen)))
        .and_then(|(list, adjusted)| list.checked_add(adjusted))
        .filter(|total| *total <= MAX_ORDER_FEN)
        .ok_or_else(|| out_of_range(&field("qty")))?;
    if qty != old.qty {
        notes.push(format!(
            "第{}行 数量 {}→{}（{reason}）",
            old.line_no, old.qty, qty
        ));
    }
    if let Some(unit) = change.unit_price_fen {
        let unit = parse_fen(unit, &field("unit_price_fen"))?;
        let target = unit
            .checked_mul(qty)
            .filter(|target| *target <= MAX_ORDER_FEN)
            .ok_or_else(|| out_of_range(&field("unit_price_fen")))?;
        if target != total {
            adjustments.push(Adjustment {
                source: "staff".to_owned(),
                label: format!("改价：{reason}"),
                // Both within [0, MAX_ORDER_FEN]: the difference cannot overflow.
                amount_fen: target - total,
                final_sale: false,
            });
            notes.push(format!(
                "第{}行 单价 {}→{}（{reason}）",
                old.line_no,
                format_price(if old.qty == 0 {
                    0
                } else {
                    old.line_total_fen / old.qty
                }),
                format_price(unit)
            ));
            total = target;
        }
    }
    // Fewer items give back backordered ones first, then reserved ones.
    let (reserved_qty, backorder_qty, stock_delta) = if qty >= old.qty {
        (line.reserved_qty, line.backorder_qty, qty - old.qty)
    } else {
        let fewer = Quantity(old.qty - qty);
        let from_backorder = fewer.min(line.backorder_qty);
        let from_reserved = fewer - from_backorder;
        (
            line.reserved_qty - from_reserved,
            line.backorder_qty - from_backorder,
            -from_reserved.get(),
        )
    };
    let weight_g = if old.qty == 0 {
        Some(0)
    } else {
        (old.weight_g / old.qty).checked_mul(qty)
    }
    .ok_or_else(|| out_of_range(&field("qty")))?;
    Ok(ChangedLine {
        line_no: old.line_no,
        sku_id: old.sku_id,
        product_id: old.product_id,
        qty,
        total_fen: total,
        reserved_qty,
        backorder_qty,
        weight_g,
        adjustments,
        stock_delta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::quote::QuotedLine;
    use crate::orders::record::OrderAddress;
    use crate::settings::{PaymentMethod, Rate};

    /// A line of `qty` items at `list` fen each, less a 10% member price, `reserved` of them
    /// from stock and the rest owed.
    fn line(line_no: i64, qty: i64, list: i64, reserved: i64) -> OrderLine {
        let discount = -(list * qty / 10);
        OrderLine {
            line: QuotedLine {
                line_no,
                sku_id: SkuId(100 + line_no),
                product_id: ProductId(10 + line_no),
                item_no: format!("A{line_no}"),
                name: "扳手".to_owned(),
                model: String::new(),
                spec: String::new(),
                unit_label: String::new(),
                qty,
                list_price_fen: list,
                adjustments: vec![Adjustment {
                    source: "catalog".to_owned(),
                    label: "会员价".to_owned(),
                    amount_fen: discount,
                    final_sale: false,
                }],
                line_total_fen: list * qty + discount,
                weight_g: 500 * qty,
                gift: false,
                brand_id: None,
                category_ids: Vec::new(),
            },
            reserved_qty: Quantity(reserved),
            backorder_qty: Quantity(qty - reserved),
            followup_qty: Quantity::ZERO,
        }
    }

    fn order(payment_method: PaymentMethod, lines: Vec<OrderLine>) -> OrderRecord {
        let goods: i64 = lines.iter().map(|l| l.line.line_total_fen).sum();
        let weight: i64 = lines.iter().map(|l| l.line.weight_g).sum();
        OrderRecord {
            id: crate::ids::OrderId(1),
            member_id: crate::ids::MemberId(2),
            member_name: "王五".to_owned(),
            shop_name: None,
            placed_by: 2,
            region_id: None,
            manager_id: None,
            promoter_id: None,
            status: OrderStatus::PendingConfirmation,
            credit_hold: false,
            payment_method,
            delivery_method: DeliveryMethod::Pickup,
            address: Some(OrderAddress {
                province: "广东省".to_owned(),
                city: "广州市".to_owned(),
                district: "天河区".to_owned(),
                detail: "五金城1号".to_owned(),
                contact_name: "王五".to_owned(),
                phone: "13800000000".to_owned(),
            }),
            remark: String::new(),
            po_number: String::new(),
            requested_date: None,
            goods_fen: Fen(goods),
            shipping_fen: Fen::ZERO,
            adjustments_fen: Fen::ZERO,
            total_fen: Fen(goods),
            paid_fen: Fen::ZERO,
            refunded_fen: Fen::ZERO,
            after_sales_open: false,
            weight_g: weight,
            close_reason: None,
            placed_at: 0,
            confirmed_at: None,
            confirmed_by: None,
            paid_at: None,
            closed_at: None,
            parent: None,
            lines,
            adjustments: Vec::new(),
            payments: Vec::new(),
            history: Vec::new(),
            fulfilment: Default::default(),
            level_id: None,
        }
    }

    /// 10 yuan for the first kilogram, 2 for each more; free from 1,000 yuan.
    fn shipping() -> Shipping {
        Shipping {
            default_rate: Rate {
                first_kg_fen: 1_000,
                extra_kg_fen: 200,
            },
            areas: Vec::new(),
            free_from_fen: Some(100_000),
        }
    }

    fn change(line_no: i64, qty: Option<i64>, unit: Option<i64>, reason: &str) -> LineChange {
        LineChange {
            line_no,
            qty,
            unit_price_fen: unit,
            reason: reason.to_owned(),
        }
    }

    fn confirming(changes: Vec<LineChange>) -> Confirmation {
        Confirmation {
            changes,
            ..Confirmation::default()
        }
    }

    #[test]
    fn confirming_as_placed_changes_nothing_and_waits_for_dispatch_or_payment() {
        let placed = order(
            PaymentMethod::MonthlySettlement,
            vec![line(1, 10, 1_000, 10)],
        );
        let plan = plan(&placed, &Confirmation::default(), &shipping()).unwrap();
        assert!(plan.changed.is_empty());
        assert_eq!(
            (plan.goods, plan.total, plan.shipping),
            (Fen(9_000), Fen(9_000), Fen::ZERO)
        );
        assert_eq!(plan.next, OrderStatus::AwaitingDispatch);
        assert_eq!(plan.remark, "");
        let pay_first = order(PaymentMethod::BankTransfer, vec![line(1, 10, 1_000, 10)]);
        assert_eq!(
            super::plan(&pay_first, &Confirmation::default(), &shipping())
                .unwrap()
                .next,
            OrderStatus::PendingPayment
        );
    }

    #[test]
    fn fewer_items_keep_the_unit_price_and_give_back_owed_items_before_stock() {
        // 10 ordered, 6 from stock, 4 owed; down to 3: the 4 owed go, then 3 of the stock.
        let placed = order(
            PaymentMethod::MonthlySettlement,
            vec![line(1, 10, 1_000, 6)],
        );
        let plan = plan(
            &placed,
            &confirming(vec![change(1, Some(3), None, "客户只要三把")]),
            &shipping(),
        )
        .unwrap();
        let line = &plan.changed[0];
        assert_eq!((line.qty, line.total_fen), (3, 2_700));
        assert_eq!(line.adjustments[0].amount_fen, -300);
        assert_eq!(
            (line.reserved_qty, line.backorder_qty, line.stock_delta),
            (Quantity(3), Quantity::ZERO, -3)
        );
        assert_eq!(line.weight_g, 1_500);
        assert_eq!(plan.remark, "第1行 数量 10→3（客户只要三把）");
        assert_eq!(plan.goods, Fen(2_700));
    }

    #[test]
    fn a_new_unit_price_is_a_staff_adjustment_and_more_items_take_stock() {
        let placed = order(
            PaymentMethod::MonthlySettlement,
            vec![line(1, 10, 1_000, 10), line(2, 2, 5_000, 2)],
        );
        let plan = plan(
            &placed,
            &confirming(vec![change(2, Some(4), Some(4_000), "老客户让利")]),
            &shipping(),
        )
        .unwrap();
        let line = &plan.changed[0];
        assert_eq!(
            (line.line_no, line.total_fen, line.stock_delta),
            (2, 16_000, 2)
        );
        let staff = line.adjustments.last().unwrap();
        assert_eq!(staff.source, "staff");
        assert_eq!(staff.label, "改价：老客户让利");
        // 4 × 50 less 10% is 180 yuan; 4 × 40 is 160.
        assert_eq!(staff.amount_fen, -2_000);
        assert_eq!(plan.goods, Fen(9_000 + 16_000));
        assert_eq!(
            plan.remark,
            "第2行 数量 2→4（老客户让利）；第2行 单价 ¥45.00→¥40.00（老客户让利）"
        );
    }

    #[test]
    fn shipping_instead_of_pickup_charges_for_the_weight_and_needs_a_reason() {
        let placed = order(
            PaymentMethod::MonthlySettlement,
            vec![line(1, 10, 1_000, 10)],
        );
        let mut input = Confirmation {
            delivery_method: Some(DeliveryMethod::Ship),
            ..Confirmation::default()
        };
        let refused = plan(&placed, &input, &shipping()).unwrap_err();
        assert_eq!(refused.code, "reason_required");
        assert_eq!(refused.field.as_deref(), Some("delivery_reason"));
        input.delivery_reason = Some("客户要求送货".to_owned());
        let plan = plan(&placed, &input, &shipping()).unwrap();
        // 5 kg: 10 yuan for the first, 4 × 2 for the rest.
        assert_eq!((plan.shipping, plan.total), (Fen(1_800), Fen(10_800)));
        assert_eq!(plan.delivery, DeliveryMethod::Ship);
        assert_eq!(plan.remark, "配送方式 自提→发货（客户要求送货）");
    }

    #[test]
    fn bad_changes_are_refused_naming_the_field() {
        let placed = order(
            PaymentMethod::MonthlySettlement,
            vec![line(1, 10, 1_000, 10)],
        );
        let refused = |changes| plan(&placed, &confirming(changes), &shipping()).unwrap_err();
        let unknown = refused(vec![change(9, Some(1), None, "x")]);
        assert_eq!(
            (unknown.code, unknown.field.as_deref()),
            ("unknown_line", Some("changes[0].line_no"))
        );
        let twice = refused(vec![
            change(1, Some(1), None, "x"),
            change(1, Some(2), None, "y"),
        ]);
        assert_eq!(
            (twice.code, twice.field.as_deref()),
            ("duplicate_line", Some("changes[1].line_no"))
        );
        let no_reason = refused(vec![change(1, Some(1), None, "  ")]);
        assert_eq!(
            (no_reason.code, no_reason.field.as_deref()),
            ("reason_required", Some("changes[0].reason"))
        );
        let negative = refused(vec![change(1, Some(-1), None, "x")]);
        assert_eq!(negative.code, "invalid_quantity");
        let not_money = refused(vec![change(1, None, Some(-5), "x")]);
        assert_eq!(
            (not_money.code, not_money.field.as_deref()),
            ("invalid_money", Some("changes[0].unit_price_fen"))
        );
        // A price each line may carry, times a quantity no order may reach.
        let huge = refused(vec![change(
            1,
            Some(MAX_QTY),
            Some(crate::money::MAX_FEN),
            "x",
        )]);
        assert_eq!(
            (huge.code, huge.field.as_deref()),
            ("amount_out_of_range", Some("changes[0].unit_price_fen"))
        );
    }

    #[test]
    fn a_total_below_zero_is_refused() {
        let mut placed = order(
            PaymentMethod::MonthlySettlement,
            vec![line(1, 10, 1_000, 10)],
        );
        // A whole-order discount larger than what is left after the change.
        placed.adjustments_fen = Fen(-5_000);
        let refused = plan(
            &placed,
            &confirming(vec![change(1, Some(1), None, "只要一把")]),
            &shipping(),
        )
        .unwrap_err();
        assert_eq!(
            (refused.code, refused.field.as_deref()),
            ("invalid_money", Some("changes"))
        );
    }
}
