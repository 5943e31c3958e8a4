//! 工作台: the entries staff find on 我的, one per desk their permissions open. The table is
//! data read against the permission table (`Actor::has`), not a list per role, so a role's
//! page cannot offer a desk its permissions refuse; and each desk is a page that asks the same
//! permission again through the API handlers it calls (the orders' list and order pages show
//! the caller's scope and offer the moves the state machine opens to him).

use crate::accounts::permissions::{Actor, Permission};
use crate::orders::OrderStatus;
use crate::orders::queries::StatusCount;
use crate::themes::views::DeskEntry;

/// One desk: what opens it, where it goes, and the status whose count is its badge.
pub struct Desk {
    /// The theme's word for it (`confirm_orders` → 待确认订单).
    pub key: &'static str,
    pub any_of: &'static [Permission],
    pub href: &'static str,
    pub badge: Option<OrderStatus>,
}

use Permission::{
    AddMembers, ConfirmAnyOrder, ConfirmOwnOrders, DeliverOrders, Invite, ManageCatalog, OwnGoods,
    SettleOrders, VerifyPickups,
};

pub const DESKS: &[Desk] = &[
    // The confirmer's new orders (D5), then what waits to be sent (E2).
    Desk {
        key: "confirm_orders",
        any_of: &[ConfirmOwnOrders, ConfirmAnyOrder],
        href: "/orders?status=pending_confirmation",
        badge: Some(OrderStatus::PendingConfirmation),
    },
    Desk {
        key: "dispatch_orders",
        any_of: &[ConfirmOwnOrders, ConfirmAnyOrder],
        href: "/orders?status=awaiting_dispatch",
        badge: Some(OrderStatus::AwaitingDispatch),
    },
    // The driver's orders: his scope is what is assigned to him (E3).
    Desk {
        key: "deliveries",
        any_of: &[DeliverOrders],
        href: "/orders?status=awaiting_dispatch",
        badge: Some(OrderStatus::AwaitingDispatch),
    },
    Desk {
        key: "in_delivery",
        any_of: &[DeliverOrders],
        href: "/orders?status=in_delivery",
        badge: Some(OrderStatus::InDelivery),
    },
    // The verifier hands orders over at his point by their code (E5).
    Desk {
        key: "pickups",
        any_of: &[VerifyPickups],
        href: "/pickup",
        badge: None,
    },
    // 我的客户: a manager's and a promoter's customers, his invite code, his figures (B5).
    Desk {
        key: "customers",
        any_of: &[Invite],
        href: "/customers",
        badge: None,
    },
    // The verifier adds customers at his store (B5).
    Desk {
        key: "add_member",
        any_of: &[AddMembers],
        href: "/members/new",
        badge: None,
    },
    // Customer service and admins: every order, to search and move on (E6).
    Desk {
        key: "all_orders",
        any_of: &[ConfirmAnyOrder],
        href: "/orders",
        badge: None,
    },
    Desk {
        key: "goods",
        any_of: &[ManageCatalog],
        href: "/admin/goods",
        badge: None,
    },
    Desk {
        key: "refunds",
        any_of: &[SettleOrders],
        href: "/admin/after-sales?state=approved",
        badge: None,
    },
    Desk {
        key: "supplier_goods",
        any_of: &[OwnGoods],
        href: "/supplier/goods",
        badge: None,
    },
];

/// The desks `actor` may open.
pub fn open_to(actor: &Actor) -> Vec<&'static Desk> {
    DESKS
        .iter()
        .filter(|desk| desk.any_of.iter().any(|p| actor.has(*p)))
        .collect()
}

/// The entries for `desks`, each badge the count of its status in the caller's scope.
pub fn entries(desks: &[&'static Desk], counts: &[StatusCount]) -> Vec<DeskEntry> {
    desks
        .iter()
        .map(|desk| DeskEntry {
            key: desk.key,
            href: desk.href,
            count: desk.badge.map(|status| {
                counts
                    .iter()
                    .find(|c| c.status == status)
                    .map_or(0, |c| c.count)
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::accounts::Role;
    use crate::accounts::permissions::Standing;

    fn actor(role: Role) -> Actor {
        Actor {
            user_id: 1,
            roles: BTreeSet::from([role]),
            region_ids: BTreeSet::new(),
            standing: Standing {
                state: None,
                level_id: None,
            },
        }
    }

    fn keys(role: Role) -> Vec<&'static str> {
        open_to(&actor(role)).iter().map(|d| d.key).collect()
    }

    #[test]
    fn each_role_finds_the_desks_its_permissions_open() {
        assert_eq!(
            keys(Role::Manager),
            ["confirm_orders", "dispatch_orders", "customers"]
        );
        assert_eq!(keys(Role::Promoter), ["customers"]);
        assert_eq!(keys(Role::Driver), ["deliveries", "in_delivery"]);
        assert_eq!(
            keys(Role::CustomerService),
            ["confirm_orders", "dispatch_orders", "all_orders", "refunds"]
        );
        assert_eq!(
            keys(Role::Admin),
            [
                "confirm_orders",
                "dispatch_orders",
                "all_orders",
                "goods",
                "refunds"
            ]
        );
        assert_eq!(keys(Role::Verifier), ["pickups", "add_member"]);
        assert!(keys(Role::Member).is_empty());
        assert_eq!(keys(Role::Supplier), ["supplier_goods"]);
    }
}
