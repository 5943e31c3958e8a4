//! The one permission model (A2). A route asks `actor.require(Permission::…)` — 403 when no
//! role of the caller grants it — and a record is shown only when it lies in the caller's
//! scope, otherwise the route answers 404 as if it did not exist.

use std::collections::BTreeSet;

use super::users::User;
use super::{MemberState, Role};
use crate::error::{ApiError, ApiResult};

/// A member's standing as his session carries it: what decides the prices he sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub state: Option<MemberState>,
    pub level_id: Option<i64>,
}

/// Everything a route can require. Each maps to the roles that grant it in `grants`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Create staff, change their roles and regions, disable them, reset passwords (A6).
    ManageStaff,
    /// Create and rename regions (E1).
    ManageRegions,
    /// Read and change the shop settings (L3).
    ManageSettings,
    /// Read the outgoing message list (K2).
    ReadMessages,
    /// Broadcast to members and send a dead message again (K2, K3).
    SendMessages,
    /// Search the login and operation logs (A5).
    ReadAudit,
    /// Make, download and restore backups (L4).
    ManageBackups,
    /// Read staff records: all of them, or those sharing a region (`TeamScope`).
    ReadTeam,
    /// Create and change categories, brands, units, products, SKUs, prices, stock and levels.
    ManageCatalog,
    /// Read the member levels (to approve members, to price for them).
    ReadLevels,
    /// A member's own profile, addresses (and later cart and orders).
    OwnMemberAccount,
    /// Read member records: all of them, or a manager's (his regions, bound to him).
    ReadMembers,
    /// Approve or reject every member; bind them, set their level, credit terms and tags.
    ReviewMembers,
    /// The same for the members in his scope (his regions and those bound to him), binding
    /// aside: a 客户经理 approves and looks after his own customers.
    ReviewOwnMembers,
    /// Own an invite code and QR code that binds new customers (B5).
    Invite,
    /// Add members at a pickup point's store (verifiers, B5).
    AddMembers,
    /// A supplier's own goods (A2, L2).
    OwnGoods,
    /// Stock levels and low-stock warnings (C6).
    ReadStock,
    /// Place an order for a customer in the caller's member scope (D4).
    OrderOnBehalf,
    /// Confirm or reject any order, whoever the member's manager is (D5, E6).
    ConfirmAnyOrder,
    /// Confirm or reject the orders of members bound to the caller or, where they have no
    /// manager, living in his regions (D5).
    ConfirmOwnOrders,
    /// Record money received and release credit holds (F1, B6).
    SettleOrders,
    /// Approve or reject members' reviews (C7).
    ModerateReviews,
    /// Deliver orders: the driver's console, his photos of the signed note, collecting
    /// after-sales returns in his regions (E3, E4).
    DeliverOrders,
    /// Verify pickup codes at a pickup point (E5); a point's verifiers must hold it.
    VerifyPickups,
    /// Have members bound to him as their manager (客户经理, B5): a handover's successor, an
    /// approval's manager, an inviter who binds as manager must hold it.
    KeepCustomers,
    /// Have members bound to him as their promoter (推广经理, B5), under a manager.
    PromoteCustomers,
    /// Stand in for the manager of a region that has none (the shop's fallback, L3).
    BackUpManagers,
    /// See every price whatever the shop's price visibility (every staff role, B2).
    SeeAllPrices,
}

impl Permission {
    /// The role table: which roles grant what. One place, read by every route.
    pub fn granted_to(self, role: Role) -> bool {
        use Permission::*;
        use Role::*;
        match self {
            ManageStaff | ManageRegions | ManageSettings | ReadAudit | ManageBackups => {
                role == Admin
            }
            ReadMessages | SendMessages => matches!(role, Admin | CustomerService),
            ReadTeam | ReadLevels => matches!(role, Admin | CustomerService | Manager),
            ManageCatalog => role == Admin,
            OwnMemberAccount => role == Member,
            ReadMembers => matches!(role, Admin | CustomerService | Manager | Promoter),
            Invite => matches!(role, Manager | Promoter),
            AddMembers => matches!(role, Verifier),
            OwnGoods => role == Supplier,
            ReadStock => matches!(role, Admin | CustomerService),
            ReviewMembers | ModerateReviews => matches!(role, Admin | CustomerService),
            OrderOnBehalf => matches!(role, Admin | CustomerService | Manager | Promoter),
            ConfirmAnyOrder | SettleOrders => matches!(role, Admin | CustomerService),
            ConfirmOwnOrders | KeepCustomers | ReviewOwnMembers => role == Manager,
            DeliverOrders => role == Driver,
            VerifyPickups => role == Verifier,
            PromoteCustomers => role == Promoter,
            BackUpManagers => role == CustomerService,
            SeeAllPrices => role.is_staff(),
        }
    }
}

/// The signed-in caller of a request.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: i64,
    pub roles: BTreeSet<Role>,
    pub region_ids: BTreeSet<i64>,
    /// The member's lifecycle state and level, as of this request.
    pub standing: Standing,
}

/// Which staff records a caller may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamScope {
    All,
    Regions(BTreeSet<i64>),
}

impl TeamScope {
    pub fn contains(&self, user: &User) -> bool {
        match self {
            TeamScope::All => true,
            TeamScope::Regions(regions) => !user.region_ids.is_disjoint(regions),
        }
    }
}

/// Whether any of `roles` grants `permission`: an actor's, or a user's a record names (the
/// supplier of a product, a handover's successor).
pub fn grants(roles: &BTreeSet<Role>, permission: Permission) -> bool {
    roles.iter().any(|role| permission.granted_to(*role))
}

impl User {
    /// Whether this user's roles grant `permission` (disabled or not: callers that care ask).
    pub fn has(&self, permission: Permission) -> bool {
        grants(&self.roles, permission)
    }
}

impl Actor {
    pub fn has(&self, permission: Permission) -> bool {
        grants(&self.roles, permission)
    }

    pub fn require(&self, permission: Permission) -> ApiResult<()> {
        if self.has(permission) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    fn is(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Admins and customer service see the whole team; a manager sees the staff of his
    /// regions. Call after `require(Permission::ReadTeam)`.
    pub fn team_scope(&self) -> TeamScope {
        if self.is(Role::Admin) || self.is(Role::CustomerService) {
            TeamScope::All
        } else {
            TeamScope::Regions(self.region_ids.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(roles: &[Role]) -> Actor {
        Actor {
            user_id: 1,
            roles: roles.iter().copied().collect(),
            region_ids: BTreeSet::from([1]),
            standing: Standing {
                state: None,
                level_id: None,
            },
        }
    }

    #[test]
    fn several_roles_grant_the_union_of_their_permissions() {
        let driver = actor(&[Role::Driver]);
        assert!(!driver.has(Permission::ReadTeam));
        let driver_and_manager = actor(&[Role::Driver, Role::Manager]);
        assert!(driver_and_manager.has(Permission::ReadTeam));
        assert!(!driver_and_manager.has(Permission::ManageStaff));
        assert_eq!(
            driver_and_manager.team_scope(),
            TeamScope::Regions(BTreeSet::from([1]))
        );
        assert_eq!(actor(&[Role::CustomerService]).team_scope(), TeamScope::All);
    }
}
