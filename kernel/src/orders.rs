//! Ordering (D1–D6, B6, F1's offline part): the member's cart, the quote pipeline that prices a
//! cart line by line, checkout in one short transaction, and what happens to an order until it
//! leaves the business side's hands (confirmation, rejection, cancellation, closing, offline
//! payment). Fulfilment (dispatch, delivery, pickup, after-sales) builds on these states.
//!
//! Who may touch which order is decided here once, in `OrderScope`; routes answer 404 for an
//! order outside the caller's scope, as if it did not exist.

pub mod after_sales;
pub mod backorders;
pub mod cart;
pub mod checkout;
pub mod confirmation;
pub mod fulfilment;
pub mod lifecycle;
pub mod machine;
pub mod paper;
pub mod payments;
pub mod pickup;
pub mod pipeline;
pub mod queries;
pub mod quote;
pub mod record;
pub mod stock;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::permissions::{Actor, Permission};
use crate::error::{ApiError, ApiResult};
use crate::ids::OrderId;
use crate::settings::DeliveryOptions;

crate::store::handle! {
    /// The orders' part of the store: carts, checkout, the order's moves, payments, pickup and after-sales.
    pub OrderStore, orders
}

/// An order's status (E9). The moves between them, and who may make each, are
/// `orders::machine::TRANSITIONS`; the member and staff read each status in their own words
/// (`OrderStatus::label`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingConfirmation,
    PendingPayment,
    AwaitingDispatch,
    InDelivery,
    ReadyForPickup,
    Received,
    Completed,
    Closed,
}

/// Whose words a status is shown in (E9's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Member,
    Business,
    /// A driver, on the orders assigned to him (E3).
    Driver,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 8] = [
        OrderStatus::PendingConfirmation,
        OrderStatus::PendingPayment,
        OrderStatus::AwaitingDispatch,
        OrderStatus::InDelivery,
        OrderStatus::ReadyForPickup,
        OrderStatus::Received,
        OrderStatus::Completed,
        OrderStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingConfirmation => "pending_confirmation",
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::AwaitingDispatch => "awaiting_dispatch",
            OrderStatus::InDelivery => "in_delivery",
            OrderStatus::ReadyForPickup => "ready_for_pickup",
            OrderStatus::Received => "received",
            OrderStatus::Completed => "completed",
            OrderStatus::Closed => "closed",
        }
    }

    pub fn from_db(text: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn label(self, audience: Audience) -> &'static str {
        match (self, audience) {
            (OrderStatus::PendingConfirmation, Audience::Member) => "等待业务经理确认中",
            (OrderStatus::PendingConfirmation, Audience::Business) => "待确认",
            (OrderStatus::PendingPayment, _) => "待付款",
            (OrderStatus::AwaitingDispatch, Audience::Member | Audience::Business) => "待发货",
            (OrderStatus::InDelivery, Audience::Member) => "待收货",
            (OrderStatus::InDelivery, Audience::Business) => "发货中",
            (OrderStatus::ReadyForPickup, _) => "待自提",
            (OrderStatus::Received, Audience::Member) => "已收货",
            (OrderStatus::Received, Audience::Business) => "已送达",
            (OrderStatus::Completed, Audience::Member) => "订单已完成",
            (OrderStatus::Completed, Audience::Business) => "完成",
            (OrderStatus::Closed, Audience::Member) => "已关闭",
            (OrderStatus::AwaitingDispatch, Audience::Driver) => "待送货",
            (OrderStatus::InDelivery, Audience::Driver) => "送货中",
            (OrderStatus::Received, Audience::Driver) => "已完成",
            // The other states never reach a driver's list; he reads them as the business side.
            (OrderStatus::PendingConfirmation, Audience::Driver) => "待确认",
            (OrderStatus::Completed, Audience::Driver) => "完成",
            (OrderStatus::Closed, _) => "关闭",
        }
    }
}

/// D3's delivery methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMethod {
    /// 发货
    Ship,
    /// 自提
    Pickup,
    /// 发货运自提: shipped to a logistics terminal, collected there.
    ShipToTerminal,
}

impl DeliveryMethod {
    pub const ALL: [DeliveryMethod; 3] = [
        DeliveryMethod::Ship,
        DeliveryMethod::Pickup,
        DeliveryMethod::ShipToTerminal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryMethod::Ship => "ship",
            DeliveryMethod::Pickup => "pickup",
            DeliveryMethod::ShipToTerminal => "ship_to_terminal",
        }
    }

    pub fn from_db(text: &str) -> Option<DeliveryMethod> {
        DeliveryMethod::ALL.into_iter().find(|m| m.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            DeliveryMethod::Ship => "发货",
            DeliveryMethod::Pickup => "自提",
            DeliveryMethod::ShipToTerminal => "发货运自提",
        }
    }

    pub fn is_enabled(self, options: &DeliveryOptions) -> bool {
        match self {
            DeliveryMethod::Ship => options.ship,
            DeliveryMethod::Pickup => options.pickup,
            DeliveryMethod::ShipToTerminal => options.ship_to_terminal,
        }
    }

    /// Goods travel (and cost shipping) unless the member collects them at the shop.
    pub fn ships(self) -> bool {
        self != DeliveryMethod::Pickup
    }
}

/// Readable order numbers (D6): the shop's date of placing and the order's id, so no counter
/// row is fought over by concurrent checkouts: `20261130000123`.
pub fn order_number(id: OrderId, placed_at_ms: i64) -> String {
    format!("{}{id:06}", crate::clock::shop_date_compact(placed_at_ms))
}

/// The id inside an order number (the date part is checked by whoever compares it).
pub fn id_from_number(number: &str) -> Option<OrderId> {
    let digits = number.trim();
    if digits.len() < 14 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.get(8..)?.parse().ok().map(OrderId)
}

/// The orders a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderScope {
    /// Admin, customer service (E6).
    All,
    /// A manager: orders of his regions and of members bound to him.
    Manager { regions: Vec<i64>, manager_id: i64 },
    /// A promoter: his customers' orders.
    Promoter { promoter_id: i64 },
    /// A member: his own.
    Member { member_id: i64 },
    /// A driver: the orders assigned to him (E3); assignment only goes to the order's
    /// region's drivers.
    Driver { driver_id: i64 },
}

impl OrderScope {
    /// The widest scope the caller's roles give, or 403 for roles that see no orders
    /// (verifiers see theirs through pickup codes; suppliers none).
    pub fn of(actor: &Actor) -> ApiResult<OrderScope> {
        if actor.has(Permission::ConfirmAnyOrder) {
            Ok(OrderScope::All)
        } else if actor.has(Permission::ConfirmOwnOrders) {
            Ok(OrderScope::Manager {
                regions: actor.region_ids.iter().copied().collect(),
                manager_id: actor.user_id,
            })
        } else if actor.has(Permission::PromoteCustomers) {
            Ok(OrderScope::Promoter {
                promoter_id: actor.user_id,
            })
        } else if actor.has(Permission::OwnMemberAccount) {
            Ok(OrderScope::Member {
                member_id: actor.user_id,
            })
        } else if actor.has(Permission::DeliverOrders) {
            Ok(OrderScope::Driver {
                driver_id: actor.user_id,
            })
        } else {
            Err(ApiError::forbidden())
        }
    }

    pub fn contains(&self, order: &record::OrderRecord) -> bool {
        match self {
            OrderScope::All => true,
            OrderScope::Manager {
                regions,
                manager_id,
            } => {
                order.manager_id == Some(*manager_id)
                    || order.region_id.is_some_and(|r| regions.contains(&r))
            }
            OrderScope::Promoter { promoter_id } => order.promoter_id == Some(*promoter_id),
            OrderScope::Member { member_id } => order.member_id.get() == *member_id,
            OrderScope::Driver { driver_id } => order
                .fulfilment
                .driver
                .as_ref()
                .is_some_and(|d| d.id == *driver_id),
        }
    }

    pub fn audience(&self) -> Audience {
        match self {
            OrderScope::Member { .. } => Audience::Member,
            OrderScope::Driver { .. } => Audience::Driver,
            _ => Audience::Business,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_numbers_read_as_date_and_id() {
        // 2026-11-30 01:00 Shanghai is 2026-11-29 17:00 UTC.
        let placed = 1_795_971_600_000;
        assert_eq!(order_number(OrderId(123), placed), "20261130000123");
        assert_eq!(id_from_number("20261130000123"), Some(OrderId(123)));
        assert_eq!(
            id_from_number("20261130123456789"),
            Some(OrderId(123_456_789))
        );
        assert_eq!(id_from_number("2026113"), None);
        assert_eq!(id_from_number("2026113000012x"), None);
    }
}
