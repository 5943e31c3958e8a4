//! Stock moves inside order transactions, as bounded conditional updates: stock never goes
//! below zero, and every change moves the SKU's `stock_seq` so caches can order the changes
//! (see `store/cache.rs`). SKUs are taken in id order by the callers, so concurrent
//! transactions on PostgreSQL never wait on each other in a cycle.

use crate::ids::SkuId;
use crate::quantity::Quantity;
use crate::store::batch::{Batch, RunBatch, args};

/// What taking stock for a line came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// `reserved` items came off the shelf, `backorder` more are owed; the SKU now holds
    /// `stock` at `seq`.
    Taken {
        reserved: Quantity,
        backorder: Quantity,
        stock: i64,
        seq: i64,
    },
    /// Not enough on the shelf and no backorders for this SKU.
    Short { available: Quantity },
}

/// Takes `qty` of SKU `sku_id` inside the transaction on `conn`: all of it when the shelf
/// holds it; otherwise, where the SKU allows backorders, what there is (the row locked first by
/// a no-op update, so nobody moves it meanwhile) and the rest owed.
pub(crate) async fn take_stock<C: RunBatch + Send>(
    conn: &mut C,
    sku_id: SkuId,
    qty: Quantity,
) -> Result<Take, sqlx::Error> {
    let mut batch = Batch::default();
    batch.push(
        "UPDATE skus SET stock = stock - $2, stock_seq = stock_seq + 1 WHERE id = $1 AND stock >= $2 RETURNING stock, stock_seq",
        args![sku_id, qty],
    );
    let full: Vec<(i64, i64)> = conn.fetch_batch(batch).await?;
    if let Some(&(stock, seq)) = full.first() {
        return Ok(Take::Taken {
            reserved: qty,
            backorder: Quantity::ZERO,
            stock,
            seq,
        });
    }
    let mut batch = Batch::default();
    batch.push(
        "UPDATE skus SET stock = stock WHERE id = $1 RETURNING stock, CAST(CASE WHEN allow_backorder THEN 1 ELSE 0 END AS BIGINT)",
        args![sku_id],
    );
    let locked: Vec<(i64, i64)> = conn.fetch_batch(batch).await?;
    let Some(&(stock, allow_backorder)) = locked.first() else {
        return Err(sqlx::Error::RowNotFound);
    };
    let available = Quantity(stock.max(0));
    if allow_backorder == 0 {
        return Ok(Take::Short { available });
    }
    let mut batch = Batch::default();
    batch.push(
        "UPDATE skus SET stock = stock - $2, stock_seq = stock_seq + 1 WHERE id = $1 RETURNING stock, stock_seq",
        args![sku_id, available],
    );
    let taken: Vec<(i64, i64)> = conn.fetch_batch(batch).await?;
    let Some(&(stock, seq)) = taken.first() else {
        return Err(sqlx::Error::RowNotFound);
    };
    Ok(Take::Taken {
        reserved: available,
        backorder: qty - available,
        stock,
        seq,
    })
}

/// Puts `qty` of SKU `sku_id` back on the shelf inside the transaction on `conn`; the SKU's
/// stock and sequence after it.
pub(crate) async fn give_back<C: RunBatch + Send>(
    conn: &mut C,
    sku_id: SkuId,
    qty: Quantity,
) -> Result<(i64, i64), sqlx::Error> {
    let mut batch = Batch::default();
    batch.push(
        "UPDATE skus SET stock = stock + $2, stock_seq = stock_seq + 1 WHERE id = $1 RETURNING stock, stock_seq",
        args![sku_id, qty],
    );
    let rows: Vec<(i64, i64)> = conn.fetch_batch(batch).await?;
    rows.first().copied().ok_or(sqlx::Error::RowNotFound)
}
