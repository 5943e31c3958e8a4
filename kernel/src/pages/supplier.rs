//! 我的商品: a supplier's own goods on the phone (L2) — each SKU's stock, price and cost from
//! `catalog::handlers::supplier_products`, and what it sold over 1, 7 or 30 days from
//! `orders::queries::supplier_sales`; both refuse anyone but a supplier, and show only his.

use axum::extract::State;

use super::{Page, Visit};
use crate::edge::extract::Query;
use crate::error::ApiError;
use crate::orders::queries::FiguresQuery;
use crate::shop::Shop;
use crate::themes::views::{SupplierGoodsView, SupplierProduct, SupplierSku};

/// `GET /supplier/goods?days=`: his goods and their sales.
pub async fn goods(
    State(shop): State<Shop>,
    visit: Visit,
    window: Result<Query<FiguresQuery>, ApiError>,
) -> Page {
    let view = async {
        let actor = visit.actor()?;
        let Query(window) = window?;
        let days = window.days();
        let products =
            crate::catalog::handlers::supplier_products(State(shop.clone()), actor.clone())
                .await?
                .0;
        let sales = crate::orders::queries::supplier_sales(
            State(shop.clone()),
            actor,
            Query(FiguresQuery { days: Some(days) }),
        )
        .await?
        .0;
        let sold_fen = sales
            .iter()
            .try_fold(0_i64, |sum, s| sum.checked_add(s.amount_fen))
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("sales overflow")))?;
        Ok(SupplierGoodsView {
            products: products
                .into_iter()
                .map(|product| SupplierProduct {
                    skus: product
                        .skus
                        .iter()
                        .map(|sku| {
                            let sold = sales.iter().find(|s| s.sku_id == sku.id.0);
                            SupplierSku {
                                model: sku.model.clone(),
                                spec: sku.spec.clone(),
                                stock: sku.stock,
                                low: sku.low_stock_threshold.is_some_and(|t| sku.stock <= t),
                                price_fen: sku.price_fen,
                                cost_fen: sku.cost_fen,
                                sold_qty: sold.map_or(0, |s| s.qty),
                                sold_fen: sold.map_or(0, |s| s.amount_fen),
                            }
                        })
                        .collect(),
                    name: product.name,
                    item_no: product.item_no,
                    on_shelf: product.on_shelf,
                    item_unit: product.unit.item_unit,
                })
                .collect(),
            days,
            sold_fen,
        })
    }
    .await;
    visit.show(view)
}
