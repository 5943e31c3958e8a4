//! Partial shipment (E2). An order placed beyond stock, where the SKU allows backorders, owes
//! the rest; when it ships, whatever has arrived since is taken first. If items are still owed,
//! the shipment either waits (the default: nobody ships half an order by accident) or, when
//! staff say so, leaves with what is there while the rest moves to a follow-up order (补发单).
//! The follow-up is an ordinary order in 待发货 priced at zero (the parent keeps the money), so
//! it is dispatched, delivered and received like any other, and splits again if still short.

use serde::Serialize;
use utoipa::ToSchema;

use super::OrderStatus;
use super::machine::{Action, Entry, push_event, push_history, push_note};
use super::record::OrderRecord;
use crate::channels::Channel;
use crate::ids::{OrderId, ProductId, SkuId};
use crate::money::Fen;
use crate::notify::{OutgoingMessage, push_message};
use crate::quantity::Quantity;
use crate::store::StockLevel;
use crate::store::batch::{Batch, RunBatch, args};

/// What a move does about items still owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backorders {
    /// The move does not send goods (a status change, a receipt).
    NotShipping,
    /// Take what is owed from the shelf; refuse the move (`stock_short`) if it is not there.
    Fill,
    /// Take what is there; move the rest to a follow-up order.
    Split,
}

impl Backorders {
    /// A shipment, split if `split` (the staff's `split_backorders`).
    pub fn shipping(split: bool) -> Backorders {
        if split {
            Backorders::Split
        } else {
            Backorders::Fill
        }
    }
}

/// A line that is still short, as a refusal reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ShortLine {
    pub line_no: i64,
    pub sku_id: SkuId,
    pub item_no: String,
    /// Items still owed after taking what the shelf holds.
    pub owed: Quantity,
}

/// What filling an order's backorders came to.
#[derive(Debug, Default)]
pub(crate) struct Filled {
    /// The stock levels changed (for the caches, after commit).
    pub levels: Vec<StockLevel>,
    /// The follow-up order that took what is still owed.
    pub followup_id: Option<OrderId>,
    /// Lines still short (with `Backorders::Fill`: the move must not go ahead).
    pub short: Vec<ShortLine>,
}

/// Inside the transaction of a shipping move of `order`: takes from the shelf what its lines
/// still owe (SKUs in id order, like checkout), and with `Split` opens the follow-up order for
/// what is left. With `Fill`, a non-empty `short` means the caller must roll back.
pub(crate) async fn fill_backorders<C: RunBatch + Send>(
    conn: &mut C,
    order: &OrderRecord,
    mode: Backorders,
    actor_id: Option<i64>,
    now_ms: i64,
) -> Result<Filled, sqlx::Error> {
    let mut filled = Filled::default();
    if mode == Backorders::NotShipping {
        return Ok(filled);
    }
    let mut owing: Vec<_> = order
        .lines
        .iter()
        .filter(|l| l.backorder_qty > Quantity::ZERO)
        .collect();
    owing.sort_by_key(|l| (l.line.sku_id, l.line.line_no));
    let mut still_owed = Vec::new();
    for line in owing {
        let (taken, level) = take_available(
            conn,
            line.line.sku_id,
            line.line.product_id,
            line.backorder_qty,
        )
        .await?;
        if taken > Quantity::ZERO {
            let mut batch = Batch::default();
            batch.push(
                "UPDATE order_lines SET reserved_qty = reserved_qty + $3, backorder_qty = backorder_qty - $3 WHERE order_id = $1 AND line_no = $2",
                args![order.id, line.line.line_no, taken],
            );
            conn.execute_batch(batch).await?;
            filled.levels.extend(level);
        }
        if line.backorder_qty > taken {
            still_owed.push((line, line.backorder_qty - taken));
        }
    }
    filled.short = still_owed
        .iter()
        .map(|(line, owed)| ShortLine {
            line_no: line.line.line_no,
            sku_id: line.line.sku_id,
            item_no: line.line.item_no.clone(),
            owed: *owed,
        })
        .collect();
    if mode == Backorders::Fill || still_owed.is_empty() {
        return Ok(filled);
    }
    let owed_weight: i64 = still_owed
        .iter()
        .map(|(line, owed)| weight_of(line.line.weight_g, owed.get(), line.line.qty))
        .sum();
    let remark = format!("补发单：订单{}缺货部分，到货后发出", order.number());
    let mut open = Batch::default();
    open.push(
        "INSERT INTO orders (member_id, placed_by, region_id, manager_id, promoter_id, status, payment_method, delivery_method,
             address, remark, po_number, requested_date, goods_fen, shipping_fen, adjustments_fen, total_fen, paid_fen,
             weight_g, placed_at, confirmed_at, confirmed_by, updated_at, pickup_point_id, parent_id)
         SELECT member_id, placed_by, region_id, manager_id, promoter_id, $2, payment_method, delivery_method,
             address, $3, po_number, requested_date, 0, 0, 0, 0, 0,
             $4, $5, $5, confirmed_by, $5, pickup_point_id, id
         FROM orders WHERE id = $1 RETURNING id",
        args![
            order.id,
            OrderStatus::AwaitingDispatch.as_str(),
            remark.as_str(),
            owed_weight,
            now_ms,
        ],
    );
    let ids: Vec<(OrderId,)> = conn.fetch_batch(open).await?;
    let Some(&(followup_id,)) = ids.first() else {
        return Err(sqlx::Error::RowNotFound);
    };
    let mut batch = Batch::default();
    for (line, owed) in &still_owed {
        batch.push(
            "INSERT INTO order_lines (order_id, line_no, sku_id, product_id, item_no, name, model, spec, unit_label, qty,
                 list_price_fen, line_total_fen, reserved_qty, backorder_qty, weight_g, gift, brand_id, category_ids)
             SELECT $1, line_no, sku_id, product_id, item_no, name, model, spec, unit_label, $3,
                 list_price_fen, 0, 0, $3, $4, gift, brand_id, category_ids
             FROM order_lines WHERE order_id = $2 AND line_no = $5",
            args![
                followup_id,
                order.id,
                *owed,
                weight_of(line.line.weight_g, owed.get(), line.line.qty),
                line.line.line_no,
            ],
        );
        batch.push(
            "UPDATE order_lines SET backorder_qty = backorder_qty - $3, followup_qty = followup_qty + $3 WHERE order_id = $1 AND line_no = $2",
            args![order.id, line.line.line_no, *owed],
        );
    }
    let followup_number = super::order_number(followup_id, now_ms);
    let parent_remark = format!("缺货部分转入补发单{followup_number}，本单先发有货部分");
    push_note(
        &mut batch,
        order,
        Action::Split,
        actor_id,
        &parent_remark,
        now_ms,
    );
    push_history(
        &mut batch,
        Entry {
            order_id: followup_id,
            at: now_ms,
            actor_id,
            action: Action::SplitFrom,
            from: None,
            to: OrderStatus::AwaitingDispatch,
            remark: &remark,
        },
    );
    let mut followup = order.clone();
    followup.id = followup_id;
    followup.placed_at = now_ms;
    followup.status = OrderStatus::AwaitingDispatch;
    followup.total_fen = Fen::ZERO;
    push_event(&mut batch, "order.split", order, now_ms);
    push_event(&mut batch, "order.split_from", &followup, now_ms);
    push_message(
        &mut batch,
        &OutgoingMessage {
            channel: Channel::Inbox,
            recipient: order.member_id.to_string(),
            user_id: Some(order.member_id.get()),
            template: "order_split".to_owned(),
            params: serde_json::Value::Null,
            body: format!(
                "您的订单{}部分商品缺货，有货部分先发；缺货部分转入补发单{followup_number}，到货后发出。",
                order.number()
            ),
            event_id: None,
        },
        now_ms,
    );
    conn.execute_batch(batch).await?;
    filled.followup_id = Some(followup_id);
    Ok(filled)
}

/// `qty_part` of a line weighing `line_weight` for `qty` items, rounded up (a carrier would
/// rather be told a gram too much).
fn weight_of(line_weight: i64, qty_part: i64, qty: i64) -> i64 {
    if qty <= 0 {
        return 0;
    }
    (line_weight.saturating_mul(qty_part) + qty - 1) / qty
}

/// Takes up to `want` of a SKU: the row is locked first (a no-op update) so the amount read is
/// the amount taken. Returns how many, and the SKU's level after when any were taken.
async fn take_available<C: RunBatch + Send>(
    conn: &mut C,
    sku_id: SkuId,
    product_id: ProductId,
    want: Quantity,
) -> Result<(Quantity, Option<StockLevel>), sqlx::Error> {
    let mut lock = Batch::default();
    lock.push(
        "UPDATE skus SET stock = stock WHERE id = $1 RETURNING stock",
        args![sku_id],
    );
    let rows: Vec<(i64,)> = conn.fetch_batch(lock).await?;
    let shelf = Quantity(rows.first().map_or(0, |&(stock,)| stock.max(0)));
    let taken = shelf.min(want);
    if taken == Quantity::ZERO {
        return Ok((Quantity::ZERO, None));
    }
    let mut take = Batch::default();
    take.push(
        "UPDATE skus SET stock = stock - $2, stock_seq = stock_seq + 1 WHERE id = $1 AND stock >= $2 RETURNING stock, stock_seq",
        args![sku_id, taken],
    );
    let rows: Vec<(i64, i64)> = conn.fetch_batch(take).await?;
    let Some(&(stock, seq)) = rows.first() else {
        return Err(sqlx::Error::RowNotFound);
    };
    Ok((
        taken,
        Some(StockLevel {
            product_id,
            sku_id,
            stock,
            seq,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::weight_of;

    #[test]
    fn the_owed_part_of_a_line_weighs_its_share_rounded_up() {
        assert_eq!(weight_of(1000, 4, 10), 400);
        assert_eq!(weight_of(1000, 1, 3), 334);
        assert_eq!(weight_of(1000, 0, 0), 0);
    }
}
