//! Who sees which price (B2, B3). Internal mode: only approved members and staff see prices;
//! open mode: everyone. A member sees his level's price where the SKU has one; from a
//! quantity-break threshold on, the lower of the two applies.

use crate::accounts::MemberState;
use crate::accounts::permissions::{Actor, Permission};
use crate::error::{ApiError, ApiResult};
use crate::settings::ShopMode;
use crate::store::Store;

use super::{PriceBreak, Sku};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceView {
    /// No price, no price filter, no price sort.
    Hidden,
    /// Prices at this level (`None`: catalogue prices).
    Visible { level_id: Option<i64> },
}

/// What a catalogue route is about to show: a list (homepage, category, brand) or a product
/// page, which the open mode's profile switch guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    List,
    Product,
}

impl PriceView {
    /// Decides what `actor` may see of the shop (B2), or refuses: `single_page` when the shop
    /// hides behind its single page, `profile_required` when open mode asks for the profile first.
    pub async fn of(store: &Store, actor: Option<&Actor>, page: Page) -> ApiResult<PriceView> {
        let settings = store.settings().current().await?;
        if actor.is_some_and(|a| a.has(Permission::SeeAllPrices)) {
            return Ok(PriceView::Visible { level_id: None });
        }
        // The standing came with the session, in the same statement.
        let standing = actor.map_or(
            crate::accounts::permissions::Standing {
                state: None,
                level_id: None,
            },
            |a| a.standing,
        );
        match (settings.shop_mode, standing.state) {
            (_, Some(MemberState::Approved)) => Ok(PriceView::Visible {
                level_id: standing.level_id,
            }),
            (ShopMode::Internal, _) if settings.single_page => Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "single_page",
                "本店仅对审核通过的会员开放，请查看店铺介绍或联系客服 (the shop is open to approved members only)",
            )),
            (ShopMode::Internal, _) => Ok(PriceView::Hidden),
            (ShopMode::Open, None | Some(MemberState::Authorised))
                if settings.require_profile && page == Page::Product =>
            {
                Err(ApiError::new(
                    if actor.is_some() {
                        axum::http::StatusCode::FORBIDDEN
                    } else {
                        axum::http::StatusCode::UNAUTHORIZED
                    },
                    "profile_required",
                    "完善资料后可继续访问 (complete your profile to continue)",
                ))
            }
            (ShopMode::Open, _) => Ok(PriceView::Visible {
                level_id: standing.level_id,
            }),
        }
    }

    pub fn is_visible(self) -> bool {
        matches!(self, PriceView::Visible { .. })
    }

    /// Refuses a price filter or sort for callers who may not see prices.
    pub fn require_visible(self, field: &str) -> ApiResult<()> {
        if self.is_visible() {
            Ok(())
        } else {
            Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "price_hidden",
                "审核通过后可查看价格 (prices are shown to approved members only)",
            )
            .with_field(field))
        }
    }

    pub fn level_id(self) -> Option<i64> {
        match self {
            PriceView::Visible { level_id } => level_id,
            PriceView::Hidden => None,
        }
    }
}

/// The price per item this viewer pays for `qty` items of `sku`.
pub fn unit_price(sku: &Sku, level_id: Option<i64>, qty: i64) -> i64 {
    let base = level_price(sku, level_id);
    let best_break = sku
        .breaks
        .iter()
        .filter(|b| b.min_qty <= qty)
        .map(|b| b.price_fen)
        .min();
    best_break.map_or(base, |b| b.min(base))
}

/// The level's price where the SKU has one, else the catalogue price.
pub fn level_price(sku: &Sku, level_id: Option<i64>) -> i64 {
    level_id
        .and_then(|level| sku.level_prices.iter().find(|lp| lp.level_id == level))
        .map_or(sku.price_fen, |lp| lp.price_fen)
}

/// The breaks as this viewer would pay them (never above his level price).
pub fn effective_breaks(sku: &Sku, level_id: Option<i64>) -> Vec<PriceBreak> {
    let base = level_price(sku, level_id);
    sku.breaks
        .iter()
        .map(|b| PriceBreak {
            min_qty: b.min_qty,
            price_fen: b.price_fen.min(base),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::LevelPrice;

    #[test]
    fn level_prices_and_breaks_combine_to_the_lower() {
        let sku = Sku {
            id: crate::ids::SkuId(1),
            product_id: crate::ids::ProductId(1),
            model: String::new(),
            spec: String::new(),
            price_fen: 1000,
            cost_fen: None,
            stock: 0,
            stock_seq: 0,
            allow_backorder: false,
            low_stock_threshold: None,
            weight_g: None,
            barcode: None,
            attributes: Default::default(),
            level_prices: vec![LevelPrice {
                level_id: 2,
                price_fen: 900,
            }],
            breaks: vec![
                PriceBreak {
                    min_qty: 100,
                    price_fen: 950,
                },
                PriceBreak {
                    min_qty: 500,
                    price_fen: 850,
                },
            ],
        };
        assert_eq!(unit_price(&sku, None, 10), 1000);
        assert_eq!(unit_price(&sku, None, 100), 950);
        assert_eq!(
            unit_price(&sku, Some(2), 100),
            900,
            "the level price beats a higher break"
        );
        assert_eq!(unit_price(&sku, Some(2), 500), 850);
        assert_eq!(
            unit_price(&sku, Some(7), 10),
            1000,
            "a level without its own price pays the catalogue price"
        );
        assert_eq!(
            effective_breaks(&sku, Some(2)),
            vec![
                PriceBreak {
                    min_qty: 100,
                    price_fen: 900
                },
                PriceBreak {
                    min_qty: 500,
                    price_fen: 850
                }
            ]
        );
    }
}
