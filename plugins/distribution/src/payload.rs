//! The order events' payload as this plugin reads it (granted the data classes `people` and
//! `amounts`): who ordered, who brought him, who serves him, his level, the total and the
//! lines. Unknown fields are ignored and missing ones take their defaults, so a payload
//! without `people` simply counts for nobody.

use serde::Deserialize;

pub const ORDER_COMPLETED: &str = "order.completed";
pub const ORDER_REFUNDED: &str = "order.refunded";

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OrderPayload {
    #[serde(default)]
    pub order_id: Option<i64>,
    #[serde(default)]
    pub order_no: String,
    #[serde(default)]
    pub member_id: Option<i64>,
    #[serde(default)]
    pub manager_id: Option<i64>,
    /// The user id of the member's promoter (推广经理), or null.
    #[serde(default)]
    pub promoter_id: Option<i64>,
    /// The member's level when he ordered.
    #[serde(default)]
    pub level_id: Option<i64>,
    #[serde(default)]
    pub total_fen: i64,
    #[serde(default)]
    pub lines: Vec<OrderLine>,
    /// `order.refunded`: this refund.
    #[serde(default)]
    pub refunded_fen: Option<i64>,
    /// `order.refunded`: all refunds of the order so far.
    #[serde(default)]
    pub refunded_total_fen: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OrderLine {
    #[serde(default)]
    pub product_id: i64,
    /// The product's category and those above it, nearest first.
    #[serde(default)]
    pub category_ids: Vec<i64>,
    #[serde(default)]
    pub line_total_fen: i64,
    /// A gift line: no commission on it.
    #[serde(default)]
    pub gift: bool,
}
