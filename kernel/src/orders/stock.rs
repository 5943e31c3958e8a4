//! Stock moves inside order transactions, as bounded conditional updates: stock never goes
//! below zero, and every change moves the SKU's `stock_seq` so caches can order the changes
//! (see `store/cache.rs`). SKUs are taken in id order by the callers, so concurrent
//! transactions on PostgreSQL never wait on each other in a cycle.

/// What taking stock for a line came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// `reserved` items came off the shelf, `backorder` more are owed; the SKU now holds
    /// `stock` at `seq`.
    Taken {
        reserved: i64,
        backorder: i64,
        stock: i64,
        seq: i64,
    },
    /// Not enough on the shelf and no backorders for this SKU.
    Short { available: i64 },
}

/// Takes `$qty` of SKU `$sku_id` inside transaction `$tx`: all of it when the shelf holds it;
/// otherwise, where the SKU allows backorders, what there is (the row locked first by a no-op
/// update, so nobody moves it meanwhile) and the rest owed. Evaluates to
/// `Result<Take, sqlx::Error>`.
macro_rules! take_stock {
    ($tx:ident, $sku_id:expr, $qty:expr) => {{
        let sku_id: i64 = $sku_id;
        let qty: i64 = $qty;
        async {
            use $crate::orders::stock::Take;
            let full: Option<(i64, i64)> = sqlx::query_as(
                "UPDATE skus SET stock = stock - $2, stock_seq = stock_seq + 1 WHERE id = $1 AND stock >= $2 RETURNING stock, stock_seq",
            )
            .bind(sku_id)
            .bind(qty)
            .fetch_optional(&mut *$tx)
            .await?;
            if let Some((stock, seq)) = full {
                return Ok::<_, sqlx::Error>(Take::Taken { reserved: qty, backorder: 0, stock, seq });
            }
            let (stock, allow_backorder): (i64, bool) = sqlx::query_as(
                "UPDATE skus SET stock = stock WHERE id = $1 RETURNING stock, allow_backorder",
            )
            .bind(sku_id)
            .fetch_one(&mut *$tx)
            .await?;
            let available = stock.max(0);
            if !allow_backorder {
                return Ok(Take::Short { available });
            }
            let (stock, seq): (i64, i64) = sqlx::query_as(
                "UPDATE skus SET stock = stock - $2, stock_seq = stock_seq + 1 WHERE id = $1 RETURNING stock, stock_seq",
            )
            .bind(sku_id)
            .bind(available)
            .fetch_one(&mut *$tx)
            .await?;
            Ok(Take::Taken { reserved: available, backorder: qty - available, stock, seq })
        }
        .await
    }};
}
pub(crate) use take_stock;

/// Puts `$qty` of SKU `$sku_id` back on the shelf inside `$tx`. Evaluates to
/// `Result<(stock, seq), sqlx::Error>`.
macro_rules! give_back_stock {
    ($tx:ident, $sku_id:expr, $qty:expr) => {
        sqlx::query_as::<_, (i64, i64)>(
            "UPDATE skus SET stock = stock + $2, stock_seq = stock_seq + 1 WHERE id = $1 RETURNING stock, stock_seq",
        )
        .bind($sku_id)
        .bind($qty)
        .fetch_one(&mut *$tx)
        .await
    };
}
pub(crate) use give_back_stock;
