//! The authorization matrix (A2). Routes come from the live `/api/openapi.json`; expectations
//! are the hand-written table below. A route missing from the table, or a table row for a route
//! that no longer exists, fails the test. "Allowed" asserts a 2xx and the record in the body;
//! "refused" asserts the status and that no field of the record appears. The foreign records
//! are real: the 海口 driver seen by the 三亚 manager, other people's messages and logs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};

use pifa_e2e::pifa_demo::*;
use pifa_e2e::{Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;

/// Who calls: a visitor, or a demo account signed in with its own token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Anon,
    Member,
    Admin,
    Service,
    ManagerHaikou,
    ManagerSanya,
    DriverSanya,
    DriverHaikou,
    Promoter,
    Verifier,
    Supplier,
    /// A second member, signed up in 海口 with his profile complete, waiting for review.
    Waiting,
    /// A second supplier, whose goods the demo supplier must not see (and the reverse).
    OtherSupplier,
}

const EVERYONE: [(Who, &str, Option<&str>); 13] = [
    (Who::Anon, "anon", None),
    (Who::Member, "member", Some(MEMBER)),
    (Who::Admin, "admin", Some(ADMIN)),
    (Who::Service, "cs", Some(SERVICE)),
    (Who::ManagerHaikou, "mgr_hk", Some(MANAGER_HAIKOU)),
    (Who::ManagerSanya, "mgr_sy", Some(MANAGER_SANYA)),
    (Who::DriverSanya, "driver_sy", Some(DRIVER_SANYA)),
    (Who::DriverHaikou, "driver_hk", Some(DRIVER_HAIKOU)),
    (Who::Promoter, "promoter", Some(PROMOTER)),
    (Who::Verifier, "verifier", Some(VERIFIER)),
    (Who::Supplier, "supplier", Some(SUPPLIER)),
    (Who::Waiting, "waiting", None),
    (Who::OtherSupplier, "supplier2", None),
];

/// A pricing script that changes nothing.
const NO_OP_SCRIPT: &str = "fn adjust(line, member, now) { [] }";
const SILENT_RULES: &str = "fn notify(event) { [] }";

/// The record a route is about, which the body must (allowed) or must not (refused) show.
#[derive(Debug, Clone, Copy)]
enum Record {
    /// No record: allowed means a 2xx.
    None,
    /// The 海口 driver 张师傅 (a staff record in 海口 only).
    HaikouDriver,
    /// The region 海口.
    Haikou,
    /// The public shop profile.
    Shop,
    /// The full settings, bank account included.
    Settings,
    /// A verification-code message sent to someone else's phone.
    Message,
    /// The 海口 driver's sign-in in the login log.
    Login,
    /// The admin's `region.create` operation.
    Operation,
    /// The backup made during set-up, as listed.
    Backup,
    /// The backup file's bytes (gzip).
    BackupFile,
    /// The caller's own account.
    Caller,
    /// The 银牌会员 level.
    Level,
    /// The hard hat AQM-001 as staff see it, cost price included.
    AdminProduct,
    /// The hard hat AQM-001 as the shop shows it.
    ShopProduct,
    /// The catalogue export, the hard hat's cost price (19.60) in it.
    Export,
    Brand,
    Category,
    Units,
    /// 赵老板's default address.
    MemberAddress,
    /// The waiting member's record.
    WaitingMember,
    /// The waiting member's licence photo (PNG bytes).
    Licence,
    /// The hard hat's picture (PNG bytes).
    Picture,
    /// An empty category, 待删分类 (which the admin may delete).
    SpareCategory,
    /// A brand no product carries, 待删品牌.
    SpareBrand,
    /// The product tag 工地专用.
    ProductTag,
    /// The spec library's 颜色.
    SpecAttribute,
    /// The packing forms, 「X把/盒」 among them.
    UnitForms,
    /// The member's order (placed during set-up), by its number.
    Order,
    /// The member's cart, the hard hat in it.
    Cart,
    /// A message in the member's inbox.
    InboxMessage,
}

/// `METHOD path` → the record and every caller's expected status. `*=` sets the status of
/// every caller not named; `200-` means a 2xx whose body must *not* contain the record.
#[rustfmt::skip]
const TABLE: &[(&str, Record, &str)] = &[
    ("POST /api/v1/auth/codes", Record::None, "*=202"),
    ("POST /api/v1/auth/signup", Record::None, "*=201"),
    ("POST /api/v1/auth/login", Record::None, "*=200"),
    ("POST /api/v1/auth/password/reset", Record::None, "*=204"),
    ("POST /api/v1/auth/logout", Record::None, "*=204 anon=401"),
    ("GET /api/v1/me", Record::Caller, "*=200 anon=401"),
    ("GET /api/v1/regions", Record::Haikou, "*=200"),
    ("POST /api/v1/admin/regions", Record::None, "*=403 anon=401 admin=201"),
    ("PUT /api/v1/admin/regions/{id}", Record::Haikou, "*=403 anon=401 admin=200"),
    ("GET /api/v1/shop", Record::Shop, "*=200"),
    ("GET /api/v1/admin/settings", Record::Settings, "*=403 anon=401 admin=200"),
    ("GET /api/v1/admin/plugins", Record::None, "*=403 anon=401 admin=200"),
    // No plugin serves in this app: the admin reaches the handler (404), everyone else is refused first.
    ("PUT /api/v1/admin/plugins/{name}/settings", Record::None, "*=403 anon=401 admin=404"),
    ("POST /api/v1/admin/plugins/{name}/resume", Record::None, "*=403 anon=401 admin=404"),
    ("GET /api/v1/admin/theme", Record::None, "*=403 anon=401 admin=200"),
    ("GET /api/v1/admin/scripts/pricing", Record::None, "*=403 anon=401 admin=200"),
    ("PUT /api/v1/admin/scripts/pricing", Record::None, "*=403 anon=401 admin=200"),
    ("GET /api/v1/admin/scripts/pricing/history", Record::None, "*=403 anon=401 admin=200"),
    ("POST /api/v1/admin/scripts/pricing/history/{id}/rollback", Record::None, "*=403 anon=401 admin=200"),
    ("GET /api/v1/admin/scripts/notifications", Record::None, "*=403 anon=401 admin=200"),
    ("PUT /api/v1/admin/scripts/notifications", Record::None, "*=403 anon=401 admin=200"),
    ("GET /api/v1/admin/scripts/notifications/history", Record::None, "*=403 anon=401 admin=200"),
    ("POST /api/v1/admin/scripts/notifications/history/{id}/rollback", Record::None, "*=403 anon=401 admin=200"),
    ("POST /api/v1/admin/scripts/pricing/check", Record::None, "*=403 anon=401 admin=200"),
    ("POST /api/v1/admin/scripts/notifications/check", Record::None, "*=403 anon=401 admin=200"),
    ("POST /api/v1/admin/scripts/pricing/preview", Record::None, "*=403 anon=401 admin=200"),
    ("POST /api/v1/admin/scripts/pricing/replay", Record::None, "*=403 anon=401 admin=200"),
    ("PUT /api/v1/admin/settings", Record::Settings, "*=403 anon=401 admin=200"),
    ("GET /api/v1/admin/messages", Record::Message, "*=403 anon=401 admin=200 cs=200"),
    ("POST /api/v1/admin/messages/{id}/retry", Record::Message, "*=403 anon=401 admin=200 cs=200"),
    ("POST /api/v1/admin/broadcasts", Record::None, "*=403 anon=401 admin=201 cs=201"),
    ("GET /api/v1/admin/broadcasts", Record::None, "*=403 anon=401 admin=200 cs=200"),
    ("GET /api/v1/admin/audit/logins", Record::Login, "*=403 anon=401 admin=200"),
    ("GET /api/v1/admin/audit/operations", Record::Operation, "*=403 anon=401 admin=200"),
    ("GET /api/v1/admin/staff", Record::HaikouDriver, "*=403 anon=401 admin=200"),
    ("POST /api/v1/admin/staff", Record::None, "*=403 anon=401 admin=201"),
    ("GET /api/v1/admin/staff/{id}", Record::HaikouDriver, "*=403 anon=401 admin=200"),
    ("PATCH /api/v1/admin/staff/{id}", Record::HaikouDriver, "*=403 anon=401 admin=200"),
    ("POST /api/v1/admin/staff/{id}/disable", Record::HaikouDriver, "*=403 anon=401 admin=200"),
    ("POST /api/v1/admin/staff/{id}/enable", Record::HaikouDriver, "*=403 anon=401 admin=200"),
    ("POST /api/v1/admin/staff/{id}/password", Record::HaikouDriver, "*=403 anon=401 admin=200"),
    ("GET /api/v1/team", Record::HaikouDriver, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=200-"),
    ("GET /api/v1/team/{id}", Record::HaikouDriver, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=404"),
    ("GET /api/v1/admin/levels", Record::Level, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=200"),
    ("POST /api/v1/admin/levels", Record::None, "*=403 anon=401 admin=201"),
    ("PUT /api/v1/admin/levels/{id}", Record::Level, "*=403 anon=401 admin=200"),
    ("GET /api/v1/categories", Record::Category, "*=200"),
    ("POST /api/v1/admin/categories", Record::None, "*=403 anon=401 admin=201"),
    ("GET /api/v1/brands", Record::Brand, "*=200"),
    ("POST /api/v1/admin/brands", Record::None, "*=403 anon=401 admin=201"),
    ("PATCH /api/v1/admin/categories/{id}", Record::SpareCategory, "*=403 anon=401 admin=200"),
    ("DELETE /api/v1/admin/categories/{id}", Record::None, "*=403 anon=401 admin=204"),
    ("PATCH /api/v1/admin/brands/{id}", Record::SpareBrand, "*=403 anon=401 admin=200"),
    ("DELETE /api/v1/admin/brands/{id}", Record::None, "*=403 anon=401 admin=204"),
    ("GET /api/v1/units", Record::Units, "*=200"),
    ("POST /api/v1/admin/units", Record::None, "*=403 anon=401 admin=201"),
    ("GET /api/v1/admin/unit-forms", Record::UnitForms, "*=403 anon=401 admin=200"),
    ("POST /api/v1/admin/unit-forms", Record::None, "*=403 anon=401 admin=201"),
    ("GET /api/v1/product-tags", Record::ProductTag, "*=200"),
    ("POST /api/v1/admin/product-tags", Record::None, "*=403 anon=401 admin=201"),
    ("DELETE /api/v1/admin/product-tags/{id}", Record::None, "*=403 anon=401 admin=204"),
    ("GET /api/v1/admin/spec-attributes", Record::SpecAttribute, "*=403 anon=401 admin=200"),
    ("POST /api/v1/admin/spec-attributes", Record::None, "*=403 anon=401 admin=201"),
    ("PATCH /api/v1/admin/spec-attributes/{id}", Record::SpecAttribute, "*=403 anon=401 admin=200"),
    ("POST /api/v1/admin/products", Record::None, "*=403 anon=401 admin=201"),
    ("GET /api/v1/admin/products", Record::AdminProduct, "*=403 anon=401 admin=200"),
    ("POST /api/v1/admin/products/{id}/skus", Record::AdminProduct, "*=403 anon=401 admin=201"),
    ("GET /api/v1/admin/products/{id}", Record::AdminProduct, "*=403 anon=401 admin=200"),
    ("PATCH /api/v1/admin/products/{id}", Record::AdminProduct, "*=403 anon=401 admin=200"),
    ("PUT /api/v1/admin/skus/{id}", Record::AdminProduct, "*=403 anon=401 admin=200"),
    ("GET /api/v1/products", Record::ShopProduct, "*=200"),
    ("GET /api/v1/products/{id}", Record::ShopProduct, "*=200"),
    ("GET /api/v1/search", Record::ShopProduct, "*=200"),
    ("GET /api/v1/supplier/products", Record::ShopProduct, "*=403 anon=401 supplier=200 supplier2=200-"),
    ("GET /api/v1/supplier/sales", Record::None, "*=403 anon=401 supplier=200 supplier2=200"),
    ("GET /api/v1/supplier/products/{id}", Record::AdminProduct, "*=403 anon=401 supplier=200 supplier2=404"),
    ("GET /api/v1/admin/stock/low", Record::None, "*=403 anon=401 admin=200 cs=200"),
    ("POST /api/v1/admin/products/{id}/images", Record::None, "*=403 anon=401 admin=201"),
    ("DELETE /api/v1/admin/products/{id}/images/{key}", Record::None, "*=403 anon=401 admin=200"),
    ("GET /api/v1/images/{key}", Record::Picture, "*=200"),
    ("POST /api/v1/admin/pictures", Record::None, "*=403 anon=401 admin=201"),
    ("GET /api/v1/admin/catalog/export", Record::Export, "*=403 anon=401 admin=200"),
    ("POST /api/v1/admin/catalog/import", Record::None, "*=403 anon=401 admin=200"),
    ("GET /api/v1/me/profile", Record::None, "*=403 anon=401 member=200 waiting=200"),
    ("PUT /api/v1/me/profile", Record::None, "*=403 anon=401 member=200 waiting=200"),
    ("GET /api/v1/me/addresses", Record::MemberAddress, "*=403 anon=401 member=200 waiting=200-"),
    ("POST /api/v1/me/addresses", Record::None, "*=403 anon=401 member=201 waiting=201"),
    ("PUT /api/v1/me/addresses/{id}", Record::MemberAddress, "*=403 anon=401 member=200 waiting=404"),
    // A deleted address is, by design, not in the answer: only the status is checked.
    ("DELETE /api/v1/me/addresses/{id}", Record::None, "*=403 anon=401 member=200 waiting=404"),
    ("GET /api/v1/me/inbox", Record::None, "*=200 anon=401"),
    ("GET /api/v1/me/inbox/unread", Record::None, "*=200 anon=401"),
    ("POST /api/v1/me/inbox/read", Record::None, "*=200 anon=401"),
    ("POST /api/v1/me/inbox/{id}/read", Record::InboxMessage, "*=404 anon=401 member=200"),
    ("GET /api/v1/uploads/{key}", Record::Licence, "*=404 anon=401 waiting=200 admin=200 cs=200 mgr_hk=200"),
    ("GET /api/v1/admin/members", Record::WaitingMember, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=200- promoter=200-"),
    ("GET /api/v1/admin/members/{id}", Record::WaitingMember, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=404 promoter=404"),
    ("GET /api/v1/admin/members/{id}/history", Record::None, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=404 promoter=404"),
    ("GET /api/v1/admin/members/{id}/addresses", Record::None, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=404 promoter=404"),
    ("POST /api/v1/admin/members/{id}/binding", Record::WaitingMember, "*=403 anon=401 admin=200 cs=200"),
    ("PUT /api/v1/admin/members/{id}/credit", Record::WaitingMember, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=404"),
    ("PUT /api/v1/admin/members/{id}/level", Record::WaitingMember, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=404"),
    ("PUT /api/v1/admin/members/{id}/tags", Record::None, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=404"),
    ("GET /api/v1/admin/tags", Record::None, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=200"),
    ("POST /api/v1/admin/tags", Record::None, "*=403 anon=401 admin=201 cs=201 mgr_hk=201 mgr_sy=201"),
    ("GET /api/v1/me/invite", Record::None, "*=403 anon=401 mgr_hk=200 mgr_sy=200 promoter=200"),
    ("GET /api/v1/me/figures", Record::None, "*=403 anon=401 mgr_hk=200 mgr_sy=200 promoter=200"),
    ("GET /api/v1/me/invite/qr.svg", Record::None, "*=403 anon=401 mgr_hk=200 mgr_sy=200 promoter=200"),
    ("POST /api/v1/verifier/members", Record::None, "*=403 anon=401 verifier=201"),
    ("POST /api/v1/admin/staff/{id}/manager", Record::None, "*=403 anon=401 admin=204"),
    ("POST /api/v1/admin/staff/{id}/handover", Record::None, "*=403 anon=401 admin=200"),
    ("POST /api/v1/admin/members/{id}/approve", Record::WaitingMember, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=404"),
    ("POST /api/v1/admin/members/{id}/reject", Record::WaitingMember, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=404"),
    // Reviewers get past the role and scope checks to find no change waiting (409).
    ("POST /api/v1/admin/members/{id}/profile-change/approve", Record::WaitingMember, "*=403 anon=401 admin=409 cs=409 mgr_hk=409 mgr_sy=404"),
    ("POST /api/v1/admin/members/{id}/profile-change/reject", Record::WaitingMember, "*=403 anon=401 admin=409 cs=409 mgr_hk=409 mgr_sy=404"),
    ("GET /api/v1/cart", Record::Cart, "*=403 anon=401 member=200"),
    ("POST /api/v1/cart/items", Record::Cart, "*=403 anon=401 member=200"),
    ("PUT /api/v1/cart/items/{sku_id}", Record::Cart, "*=403 anon=401 member=200"),
    ("DELETE /api/v1/cart/items/{sku_id}", Record::None, "*=403 anon=401 member=200"),
    ("POST /api/v1/cart/quick-order", Record::Cart, "*=403 anon=401 member=200"),
    ("POST /api/v1/orders/quote", Record::None, "*=403 anon=401 member=200"),
    ("POST /api/v1/orders", Record::None, "*=403 anon=401 member=201"),
    ("GET /api/v1/orders", Record::Order, "*=403 anon=401 member=200 admin=200 cs=200 mgr_hk=200 mgr_sy=200- promoter=200 waiting=200- driver_sy=200- driver_hk=200-"),
    ("GET /api/v1/orders/counts", Record::None, "*=403 anon=401 member=200 admin=200 cs=200 mgr_hk=200 mgr_sy=200 promoter=200 waiting=200 driver_sy=200 driver_hk=200"),
    ("GET /api/v1/orders/{id}", Record::Order, "*=403 anon=401 member=200 admin=200 cs=200 mgr_hk=200 mgr_sy=404 promoter=200 waiting=404 driver_sy=404 driver_hk=404"),
    ("GET /api/v1/admin/orders/export", Record::None, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=200 promoter=200"),
    // Each call below acts on an order of its own, placed just before it (see `World::path_for`).
    ("POST /api/v1/orders/{id}/reorder", Record::Cart, "*=403 anon=401 member=200 admin=404 cs=404 mgr_hk=404 mgr_sy=404 promoter=404 waiting=404 driver_sy=404 driver_hk=404"),
    ("POST /api/v1/orders/{id}/cancel", Record::None, "*=403 anon=401 member=200 mgr_sy=404 waiting=404 driver_sy=404 driver_hk=404"),
    ("POST /api/v1/orders/{id}/receipts", Record::None, "*=403 anon=401 member=200 mgr_sy=404 waiting=404 driver_sy=404 driver_hk=404"),
    ("POST /api/v1/admin/orders/{id}/confirm", Record::None, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=404 waiting=404 driver_sy=404 driver_hk=404"),
    ("POST /api/v1/admin/orders/{id}/reject", Record::None, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=404 waiting=404 driver_sy=404 driver_hk=404"),
    ("POST /api/v1/admin/orders/{id}/release-hold", Record::None, "*=403 anon=401 admin=200 cs=200 mgr_sy=404 waiting=404 driver_sy=404 driver_hk=404"),
    ("POST /api/v1/admin/orders/{id}/payments", Record::None, "*=403 anon=401 admin=200 cs=200 mgr_sy=404 waiting=404 driver_sy=404 driver_hk=404"),
    ("POST /api/v1/admin/orders/{id}/dispatch", Record::None, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=404 waiting=404 driver_sy=404 driver_hk=404"),
    ("POST /api/v1/admin/orders/{id}/status", Record::None, "*=403 anon=401 admin=200 cs=200 mgr_sy=404 waiting=404 driver_sy=404 driver_hk=404"),
    ("POST /api/v1/orders/{id}/receive", Record::None, "*=403 anon=401 member=200 mgr_sy=404 waiting=404 driver_sy=404 driver_hk=404"),
    ("GET /api/v1/driver/orders", Record::None, "*=403 anon=401 driver_sy=200 driver_hk=200"),
    ("POST /api/v1/driver/orders/{id}/start", Record::None, "*=403 anon=401 driver_hk=200 mgr_sy=404 waiting=404 driver_sy=404"),
    ("POST /api/v1/driver/orders/{id}/delivered", Record::None, "*=403 anon=401 driver_hk=200 mgr_sy=404 waiting=404 driver_sy=404"),
    ("GET /api/v1/pickup-points", Record::None, "*=200 anon=401"),
    ("POST /api/v1/admin/pickup-points", Record::None, "*=403 anon=401 admin=201"),
    ("PUT /api/v1/admin/pickup-points/{id}", Record::None, "*=403 anon=401 admin=200"),
    ("POST /api/v1/admin/orders/{id}/ready-for-pickup", Record::None, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=404 waiting=404 driver_sy=404 driver_hk=404"),
    ("POST /api/v1/pickup/verify", Record::None, "*=403 anon=401 verifier=422"),
    ("GET /api/v1/orders/{id}/delivery-note", Record::None, "*=403 anon=401 member=200 admin=200 cs=200 mgr_hk=200 mgr_sy=404 promoter=200 waiting=404 driver_sy=404 driver_hk=404"),
    ("GET /api/v1/admin/picking-list", Record::None, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=404"),
    ("POST /api/v1/orders/{id}/after-sales", Record::None, "*=403 anon=401 member=201 mgr_sy=404 waiting=404 driver_sy=404 driver_hk=404"),
    ("GET /api/v1/orders/{id}/after-sales", Record::None, "*=403 anon=401 member=200 admin=200 cs=200 mgr_hk=200 mgr_sy=404 promoter=200 waiting=404 driver_sy=404 driver_hk=404"),
    ("GET /api/v1/admin/after-sales", Record::None, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=200"),
    ("POST /api/v1/admin/after-sales/{id}/decision", Record::None, "*=403 anon=401 admin=200 cs=200 mgr_hk=200 mgr_sy=404 waiting=404 driver_sy=404"),
    ("POST /api/v1/driver/after-sales/{id}/collected", Record::None, "*=403 anon=401 admin=200 cs=200 driver_hk=200 mgr_sy=404 waiting=404 driver_sy=404"),
    ("POST /api/v1/admin/after-sales/{id}/refund", Record::None, "*=403 anon=401 admin=200 cs=200 mgr_sy=404 waiting=404 driver_sy=404"),
    ("POST /api/v1/orders/{id}/reviews", Record::None, "*=403 anon=401 member=201 mgr_sy=404 waiting=404 driver_sy=404 driver_hk=404"),
    ("GET /api/v1/products/{id}/reviews", Record::None, "*=200 anon=401"),
    ("GET /api/v1/admin/reviews", Record::None, "*=403 anon=401 admin=200 cs=200"),
    ("POST /api/v1/admin/reviews/{id}/moderation", Record::None, "*=403 anon=401 admin=404 cs=404"),
    ("GET /api/v1/admin/backups", Record::Backup, "*=403 anon=401 admin=200"),
    ("POST /api/v1/admin/backups", Record::None, "*=403 anon=401 admin=201"),
    ("GET /api/v1/admin/backups/{name}", Record::BackupFile, "*=403 anon=401 admin=200"),
    ("POST /api/v1/admin/backups/{name}/restore", Record::None, "*=403 anon=401 admin=200"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expect {
    status: u16,
    /// For a 2xx: whether the record must be in the body.
    shows_record: bool,
}

fn parse_expectations(spec: &str) -> anyhow::Result<BTreeMap<Who, Expect>> {
    let mut default = None;
    let mut named = BTreeMap::new();
    for part in spec.split_whitespace() {
        let (who, status) = part
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("bad expectation {part}"))?;
        let (digits, hides) = status
            .strip_suffix('-')
            .map_or((status, false), |d| (d, true));
        let expect = Expect {
            status: digits.parse()?,
            shows_record: !hides,
        };
        if who == "*" {
            default = Some(expect);
        } else {
            let who = EVERYONE
                .iter()
                .find(|(_, name, _)| *name == who)
                .map(|(w, _, _)| *w)
                .ok_or_else(|| anyhow::anyhow!("unknown caller {who}"))?;
            named.insert(who, expect);
        }
    }
    EVERYONE
        .iter()
        .map(|(who, _, _)| {
            named
                .get(who)
                .copied()
                .or(default)
                .map(|e| (*who, e))
                .ok_or_else(|| anyhow::anyhow!("no expectation for {who:?} in {spec}"))
        })
        .collect()
}

/// One route's world: a fresh demo shop with every caller signed in and the records made.
struct World {
    app: TestApp,
    tokens: BTreeMap<Who, String>,
    haikou_driver_id: i64,
    haikou_id: i64,
    settings: Value,
    backup_name: String,
    silver_level_id: i64,
    hard_hat_id: i64,
    hard_hat_sku_id: i64,
    unit_id: i64,
    member_address_id: i64,
    pickup_point_id: i64,
    waiting_id: i64,
    licence_key: String,
    promoter_id: i64,
    manager_haikou_id: i64,
    manager_sanya_id: i64,
    picture_key: String,
    spare_category_id: i64,
    spare_brand_id: i64,
    product_tag_id: i64,
    spec_attribute_id: i64,
    order_id: i64,
    order_number: String,
    /// The sign-up code sent to `OTHER_PERSON`.
    message_id: i64,
    /// A message in the member's inbox.
    inbox_message_id: i64,
}

const WAITING_PHONE: &str = "13966666666";

/// A request body: JSON, or the multipart profile form.
enum Body {
    Json(Value),
    ProfileForm,
    Csv(&'static str),
    Png,
    /// A checkout, with a fresh idempotency key.
    Order(Value),
    /// A payment form: an amount, a remark and a receipt picture.
    Payment,
    /// A driver's photo of a signed delivery note.
    DeliveryPhoto,
    /// A member's request for a refund of money only.
    AfterSale,
    /// A member's review of the product with this id.
    Review(i64),
}

static UNIQUE: AtomicU32 = AtomicU32::new(0);

fn unique_phone(prefix: &str) -> String {
    format!("{prefix}{:04}", UNIQUE.fetch_add(1, Ordering::Relaxed))
}

const SPARE: &str = "13800000099";
const OTHER_PERSON: &str = "13977777777";

impl World {
    async fn build() -> anyhow::Result<World> {
        let app = TestApp::with_demo(Backend::Sqlite)
            .await?
            .ok_or_else(|| anyhow::anyhow!("sqlite always runs"))?;
        let mut tokens = BTreeMap::new();
        for (who, _, phone) in EVERYONE {
            if let Some(phone) = phone {
                tokens.insert(who, app.login(phone, PASSWORD).await?);
            }
        }
        app.login(DRIVER_HAIKOU, PASSWORD).await?;
        let admin = tokens.get(&Who::Admin).cloned().unwrap_or_default();
        let (_, staff) = app
            .get("/api/v1/admin/staff?role=driver", Some(&admin))
            .await?;
        let haikou_driver_id = staff
            .as_array()
            .and_then(|s| s.iter().find(|d| d["phone"] == DRIVER_HAIKOU))
            .and_then(|d| d["id"].as_i64())
            .unwrap_or_default();
        let (_, regions) = app.get("/api/v1/regions", None).await?;
        let haikou_id = regions[0]["id"].as_i64().unwrap_or_default();
        let (_, settings) = app.get("/api/v1/admin/settings", Some(&admin)).await?;
        app.post(
            "/api/v1/admin/regions",
            Some(&admin),
            &json!({ "name": "文昌" }),
        )
        .await?;
        app.post("/api/v1/admin/staff", Some(&admin), &json!({ "name": "备用", "phone": SPARE, "password": "spare2026", "roles": ["verifier"] })).await?;
        app.post(
            "/api/v1/auth/codes",
            None,
            &json!({ "purpose": "signup", "phone": OTHER_PERSON }),
        )
        .await?;
        let message_id = app
            .store
            .messages()
            .list_messages(&pifa::notify::MessageQuery {
                recipient: Some(OTHER_PERSON.to_owned()),
                ..Default::default()
            })
            .await?
            .first()
            .map(|m| m.id)
            .unwrap_or_default();
        let (_, backup) = app
            .post("/api/v1/admin/backups", Some(&admin), &json!({}))
            .await?;
        let backup_name = backup["name"].as_str().unwrap_or_default().to_owned();
        let silver_level_id = app
            .store
            .members()
            .list_levels()
            .await?
            .iter()
            .find(|l| l.name == "银牌会员")
            .map_or(0, |l| l.id);
        let products = app
            .store
            .catalog()
            .list_products(&pifa::catalog::storage::ProductFilter {
                limit: 100,
                ..Default::default()
            })
            .await?;
        let hard_hat = products
            .iter()
            .find(|p| p.item_no == "AQM-001")
            .ok_or_else(|| anyhow::anyhow!("demo hard hat missing"))?;
        let (hard_hat_id, hard_hat_sku_id, unit_id) = (
            hard_hat.id.get(),
            hard_hat.skus.first().map_or(0, |s| s.id.get()),
            hard_hat.unit.id,
        );
        let member_id = app
            .store
            .accounts()
            .user_id_by_phone(MEMBER)
            .await?
            .unwrap_or_default();
        let member_address_id = app
            .store
            .members()
            .addresses(member_id)
            .await?
            .first()
            .map_or(0, |a| a.id);
        let pickup_point_id = app
            .store
            .orders()
            .pickup_points()
            .await?
            .first()
            .map_or(0, |p| p.id);
        let waiting = app.new_member(WAITING_PHONE).await?;
        let (status, profile) = app
            .put_profile(
                &waiting,
                pifa_e2e::profile_form(
                    haikou_id,
                    &[
                        ("shop_photo", pifa_e2e::TINY_PNG),
                        ("licence", pifa_e2e::TINY_PNG),
                    ],
                ),
            )
            .await?;
        anyhow::ensure!(status == StatusCode::OK, "{profile}");
        let licence_key = profile["licence_url"]
            .as_str()
            .and_then(|u| u.rsplit('/').next())
            .unwrap_or_default()
            .to_owned();
        tokens.insert(Who::Waiting, waiting);
        let admin_token = tokens.get(&Who::Admin).cloned().unwrap_or_default();
        app.post("/api/v1/admin/staff", Some(&admin_token), &json!({ "name": "另一供应商", "phone": "13800000052", "password": "supplier2026", "roles": ["supplier"] })).await?;
        tokens.insert(
            Who::OtherSupplier,
            app.login("13800000052", "supplier2026").await?,
        );
        let waiting_id = app
            .store
            .accounts()
            .user_id_by_phone(WAITING_PHONE)
            .await?
            .unwrap_or_default();
        let promoter_id = app
            .store
            .accounts()
            .user_id_by_phone(PROMOTER)
            .await?
            .unwrap_or_default();
        let manager_haikou_id = app
            .store
            .accounts()
            .user_id_by_phone(MANAGER_HAIKOU)
            .await?
            .unwrap_or_default();
        let manager_sanya_id = app
            .store
            .accounts()
            .user_id_by_phone(MANAGER_SANYA)
            .await?
            .unwrap_or_default();
        let picture = app
            .client
            .post(app.url(&format!("/api/v1/admin/products/{hard_hat_id}/images")))
            .bearer_auth(&admin_token)
            .body(pifa_e2e::TINY_PNG)
            .send()
            .await?;
        let picture: Value = picture.json().await?;
        let picture_key = picture["images"][0]
            .as_str()
            .and_then(|u| u.rsplit('/').next())
            .unwrap_or_default()
            .to_owned();
        let now = app.clock.now_ms();
        let spare_category_id = app
            .store
            .catalog()
            .insert_category(None, "待删分类", 1, 9, now)
            .await?;
        let spare_brand_id = app
            .store
            .catalog()
            .insert_brand("待删品牌", None, "", now)
            .await?;
        let product_tag_id = app
            .store
            .catalog()
            .insert_product_tag("工地专用", 0, now)
            .await?;
        let spec_attribute_id = app
            .store
            .catalog()
            .insert_spec_attribute("颜色", &["红色".to_owned(), "黄色".to_owned()], 0, now)
            .await?;
        // The member's order, paid for by the month (over his limit: on credit hold) and cash
        // on delivery; and the hard hat in his cart.
        let mut settings_with_credit = settings.clone();
        settings_with_credit["payment_methods"]["monthly_settlement"] = json!(true);
        app.call(
            Method::PUT,
            "/api/v1/admin/settings",
            Some(&admin_token),
            Some(&settings_with_credit),
        )
        .await?;
        app.call(
            Method::PUT,
            &format!("/api/v1/admin/members/{member_id}/credit"),
            Some(&admin_token),
            Some(&json!({ "terms": "monthly", "limit_fen": 0 })),
        )
        .await?;
        let member_token = tokens.get(&Who::Member).cloned().unwrap_or_default();
        let (status, order, _) = app
            .place_order(
                &member_token,
                "world-order",
                &json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery",
                "lines": [{ "sku_id": hard_hat_sku_id, "qty": 10 }] }),
            )
            .await?;
        anyhow::ensure!(status == StatusCode::CREATED, "{order}");
        app.post(
            "/api/v1/cart/items",
            Some(&member_token),
            &json!({ "items": [{ "sku_id": hard_hat_sku_id, "qty": 10 }] }),
        )
        .await?;
        Ok(World {
            inbox_message_id: app
                .store
                .messages()
                .enqueue_message(
                    &pifa::notify::OutgoingMessage {
                        channel: pifa::channels::Channel::Inbox,
                        recipient: member_id.to_string(),
                        user_id: Some(member_id),
                        template: "welcome".to_owned(),
                        params: json!({}),
                        body: "欢迎".to_owned(),
                        event_id: None,
                    },
                    app.clock.now_ms(),
                )
                .await?,
            message_id,
            order_id: order["id"].as_i64().unwrap_or_default(),
            order_number: order["number"].as_str().unwrap_or_default().to_owned(),
            spare_category_id,
            spare_brand_id,
            product_tag_id,
            spec_attribute_id,
            picture_key,
            app,
            tokens,
            haikou_driver_id,
            haikou_id,
            settings,
            backup_name,
            silver_level_id,
            hard_hat_id,
            hard_hat_sku_id,
            unit_id,
            member_address_id,
            pickup_point_id,
            waiting_id,
            licence_key,
            promoter_id,
            manager_haikou_id,
            manager_sanya_id,
        })
    }

    /// The path for one call: routes that act on an order get a fresh one each (placed by the
    /// member just before; confirmed first for a payment, on credit hold for a release).
    async fn path_for(&self, template: &str) -> anyhow::Result<String> {
        if let Some((file, source)) = [("pricing", NO_OP_SCRIPT), ("notifications", SILENT_RULES)]
            .into_iter()
            .find(|(file, _)| template.contains(&format!("/scripts/{file}/history/{{id}}")))
        {
            // A version to roll back to, saved by the admin.
            let admin = self.tokens.get(&Who::Admin).cloned().unwrap_or_default();
            let (status, saved) = self
                .app
                .call(
                    reqwest::Method::PUT,
                    &format!("/api/v1/admin/scripts/{file}"),
                    Some(&admin),
                    Some(&json!({ "source": source })),
                )
                .await?;
            anyhow::ensure!(status == StatusCode::OK, "{saved}");
            let (_, history) = self
                .app
                .get(
                    &format!("/api/v1/admin/scripts/{file}/history"),
                    Some(&admin),
                )
                .await?;
            let id = history[0]["id"].as_i64().unwrap_or_default();
            return Ok(template.replace("{id}", &id.to_string()));
        }
        let on_request = template.contains("/after-sales/{id}/");
        let acts_on_order = template.contains("/orders/{id}/") || on_request;
        if !acts_on_order {
            return Ok(self.path(template));
        }
        let member = self.tokens.get(&Who::Member).cloned().unwrap_or_default();
        let admin = self.tokens.get(&Who::Admin).cloned().unwrap_or_default();
        let method = if template.ends_with("/release-hold") {
            "monthly_settlement"
        } else {
            "cash_on_delivery"
        };
        let key = format!("fresh-{}", UNIQUE.fetch_add(1, Ordering::Relaxed));
        let (status, order, _) = self
            .app
            .place_order(
                &member,
                &key,
                &json!({ "delivery_method": "pickup", "payment_method": method,
                "lines": [{ "sku_id": self.hard_hat_sku_id, "qty": 10 }] }),
            )
            .await?;
        anyhow::ensure!(status == StatusCode::CREATED, "{order}");
        let id = order["id"].as_i64().unwrap_or_default();
        let confirmed_first = [
            "/payments",
            "/dispatch",
            "/status",
            "/receive",
            "/start",
            "/delivered",
            "/ready-for-pickup",
            "/after-sales",
            "/reviews",
        ];
        if on_request || confirmed_first.iter().any(|end| template.ends_with(end)) {
            let (status, body) = self
                .app
                .post(
                    &format!("/api/v1/admin/orders/{id}/confirm"),
                    Some(&admin),
                    &json!({}),
                )
                .await?;
            anyhow::ensure!(status == StatusCode::OK, "{body}");
        }
        // Sent by express for the member to confirm; given to the 海口 driver for his routes.
        let received =
            on_request || template.ends_with("/after-sales") || template.ends_with("/reviews");
        let sent = if template.ends_with("/receive") || received {
            Some(json!({ "method": "express", "carrier": "顺丰", "tracking_no": "SF1" }))
        } else if template.ends_with("/start") || template.ends_with("/delivered") {
            Some(json!({ "method": "driver", "driver_id": self.haikou_driver_id }))
        } else {
            None
        };
        if let Some(sent) = sent {
            let (status, body) = self
                .app
                .post(
                    &format!("/api/v1/admin/orders/{id}/dispatch"),
                    Some(&admin),
                    &sent,
                )
                .await?;
            anyhow::ensure!(status == StatusCode::OK, "{body}");
        }
        if received {
            let (status, body) = self
                .app
                .post(
                    &format!("/api/v1/orders/{id}/receive"),
                    Some(&member),
                    &json!({}),
                )
                .await?;
            anyhow::ensure!(status == StatusCode::OK, "{body}");
        }
        if !on_request {
            return Ok(template.replace("{id}", &id.to_string()));
        }
        // A fresh request: a return to collect, else a refund; approved for the later steps,
        // on an order paid in full for a refund.
        if template.ends_with("/refund") {
            let (_, order) = self
                .app
                .get(&format!("/api/v1/orders/{id}"), Some(&admin))
                .await?;
            let paid = reqwest::multipart::Form::new()
                .text("amount_fen", order["total_fen"].to_string())
                .text("remark", "已收");
            let response = self
                .app
                .client
                .post(self.app.url(&format!("/api/v1/admin/orders/{id}/payments")))
                .bearer_auth(&admin)
                .multipart(paid)
                .send()
                .await?;
            anyhow::ensure!(response.status() == StatusCode::OK);
        }
        let kind = if template.ends_with("/collected") {
            "return"
        } else {
            "refund"
        };
        let form = reqwest::multipart::Form::new()
            .text("kind", kind)
            .text("reason", "破损")
            .text("lines", r#"[{"line_no":1,"qty":1}]"#);
        let response = self
            .app
            .client
            .post(self.app.url(&format!("/api/v1/orders/{id}/after-sales")))
            .bearer_auth(&member)
            .multipart(form)
            .send()
            .await?;
        anyhow::ensure!(response.status() == StatusCode::CREATED);
        let request: Value = response.json().await?;
        let request_id = request["id"].as_i64().unwrap_or_default();
        if !template.ends_with("/decision") {
            let (status, body) = self
                .app
                .post(
                    &format!("/api/v1/admin/after-sales/{request_id}/decision"),
                    Some(&admin),
                    &json!({ "approve": true }),
                )
                .await?;
            anyhow::ensure!(status == StatusCode::OK, "{body}");
        }
        Ok(template.replace("{id}", &request_id.to_string()))
    }

    fn path(&self, template: &str) -> String {
        let id = if template.contains("/messages/") {
            self.message_id
        } else if template.contains("/me/inbox/") {
            self.inbox_message_id
        } else if template.contains("/orders/") {
            self.order_id
        } else if template.contains("/categories/") {
            self.spare_category_id
        } else if template.contains("/brands/") {
            self.spare_brand_id
        } else if template.contains("/product-tags/") {
            self.product_tag_id
        } else if template.contains("/spec-attributes/") {
            self.spec_attribute_id
        } else if template.contains("/regions/") {
            self.haikou_id
        } else if template.contains("/levels/") {
            self.silver_level_id
        } else if template.contains("/products/") {
            self.hard_hat_id
        } else if template.contains("/skus/") {
            self.hard_hat_sku_id
        } else if template.contains("/addresses/") {
            self.member_address_id
        } else if template.contains("/pickup-points/") {
            self.pickup_point_id
        } else if template.contains("/members/") {
            self.waiting_id
        } else if template.ends_with("/manager") {
            self.promoter_id
        } else if template.ends_with("/handover") {
            self.manager_haikou_id
        } else {
            self.haikou_driver_id
        };
        let key = if template.contains("/images/") {
            &self.picture_key
        } else {
            &self.licence_key
        };
        let path = template
            .replace("{id}", &id.to_string())
            .replace("{sku_id}", &self.hard_hat_sku_id.to_string())
            .replace("{name}", &self.backup_name)
            .replace("{key}", key);
        if path.ends_with("/search") {
            format!("{path}?q=aqm")
        } else if path.ends_with("/picking-list") {
            format!("{path}?region_id={}&date=2026-12-01", self.haikou_id)
        } else if path.ends_with("/export") {
            format!("{path}?format=csv")
        } else {
            path
        }
    }

    /// The fields of `record` that identify it in a response body.
    fn fields(&self, record: Record, who: Who) -> Vec<String> {
        match record {
            Record::None | Record::BackupFile | Record::Licence | Record::Picture => vec![],
            Record::HaikouDriver => vec![DRIVER_HAIKOU.to_owned(), "张师傅".to_owned()],
            Record::Haikou => vec!["海口".to_owned()],
            Record::Shop => vec!["安达劳保五金批发".to_owned()],
            Record::Settings => vec![
                "安达劳保五金批发".to_owned(),
                "2201 0267 0920 0123 456".to_owned(),
            ],
            Record::Message => vec![OTHER_PERSON.to_owned()],
            Record::InboxMessage => vec![],
            Record::Login => vec!["138****0031".to_owned()],
            Record::Operation => vec!["region.create".to_owned(), "文昌".to_owned()],
            Record::Backup => vec![self.backup_name.clone()],
            Record::Level => vec!["银牌会员".to_owned()],
            Record::AdminProduct => vec!["AQM-001".to_owned(), "\"cost_fen\":1960".to_owned()],
            Record::Export => vec!["AQM-001".to_owned(), "19.60".to_owned()],
            Record::ShopProduct => vec!["AQM-001".to_owned()],
            Record::Brand => vec!["代尔塔".to_owned()],
            Record::Category => vec!["劳保用品".to_owned()],
            Record::Units => vec!["扎".to_owned()],
            Record::SpareCategory => vec!["待删分类".to_owned()],
            Record::SpareBrand => vec!["待删品牌".to_owned()],
            Record::ProductTag => vec!["工地专用".to_owned()],
            Record::SpecAttribute => vec!["颜色".to_owned(), "黄色".to_owned()],
            Record::UnitForms => vec!["X把/盒".to_owned()],
            Record::Order => vec![self.order_number.clone()],
            Record::Cart => vec!["AQM-001".to_owned()],
            Record::MemberAddress => vec!["金盘工业区兴达五金店".to_owned()],
            Record::WaitingMember => vec![WAITING_PHONE.to_owned()],
            Record::Caller => EVERYONE
                .iter()
                .find(|(w, _, _)| *w == who)
                .and_then(|(_, _, p)| p.map(str::to_owned))
                .into_iter()
                .collect(),
        }
    }

    /// A valid body for the route, fresh for each call (new phones, new codes).
    async fn body(&self, route: &str) -> anyhow::Result<Option<Body>> {
        if route == "PUT /api/v1/me/profile" {
            return Ok(Some(Body::ProfileForm));
        }
        if route == "POST /api/v1/admin/products/{id}/images"
            || route == "POST /api/v1/admin/pictures"
        {
            return Ok(Some(Body::Png));
        }
        if route == "POST /api/v1/admin/catalog/import" {
            return Ok(Some(Body::Csv(
                "货号,商品名称,单位,价格\nIMP-1,导入商品,10个/盒 - 50个/箱,1.00\n",
            )));
        }
        if route == "POST /api/v1/cart/quick-order" {
            return Ok(Some(Body::Csv("编码,数量\n6901234500011,10\n")));
        }
        if route == "POST /api/v1/orders/{id}/receipts"
            || route == "POST /api/v1/admin/orders/{id}/payments"
        {
            return Ok(Some(Body::Payment));
        }
        if route == "POST /api/v1/driver/orders/{id}/delivered" {
            return Ok(Some(Body::DeliveryPhoto));
        }
        if route == "POST /api/v1/orders/{id}/after-sales" {
            return Ok(Some(Body::AfterSale));
        }
        if route == "POST /api/v1/orders/{id}/reviews" {
            return Ok(Some(Body::Review(self.hard_hat_id)));
        }
        if route == "POST /api/v1/orders" {
            return Ok(Some(Body::Order(
                json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery",
                "lines": [{ "sku_id": self.hard_hat_sku_id, "qty": 10 }] }),
            )));
        }
        Ok(self.json_body(route).await?.map(Body::Json))
    }

    async fn json_body(&self, route: &str) -> anyhow::Result<Option<Value>> {
        let app = &self.app;
        Ok(match route {
            "POST /api/v1/auth/codes" => {
                Some(json!({ "purpose": "signup", "phone": unique_phone("1370000") }))
            }
            "POST /api/v1/auth/signup" => {
                let phone = unique_phone("1360000");
                app.post(
                    "/api/v1/auth/codes",
                    None,
                    &json!({ "purpose": "signup", "phone": phone }),
                )
                .await?;
                let code = app.latest_code_for(&phone).await?;
                Some(
                    json!({ "company_name": "测试五金", "contact_name": "测试", "phone": phone, "password": "test2026a", "code": code }),
                )
            }
            "POST /api/v1/auth/login" => Some(json!({ "phone": SPARE, "password": "spare2026" })),
            "POST /api/v1/auth/password/reset" => {
                // A fresh day per caller: one phone may ask for ten codes a day.
                app.clock.advance_ms(86_400_000 + 61_000);
                app.post(
                    "/api/v1/auth/codes",
                    None,
                    &json!({ "purpose": "reset_password", "phone": SPARE }),
                )
                .await?;
                let code = app.latest_code_for(SPARE).await?;
                Some(json!({ "phone": SPARE, "code": code, "new_password": "spare2026" }))
            }
            "POST /api/v1/admin/regions" => {
                Some(json!({ "name": format!("区域{}", UNIQUE.fetch_add(1, Ordering::Relaxed)) }))
            }
            "PUT /api/v1/admin/regions/{id}" => Some(json!({ "name": "海口" })),
            "PUT /api/v1/admin/settings" => Some(self.settings.clone()),
            "PUT /api/v1/admin/scripts/pricing" => {
                Some(json!({ "source": NO_OP_SCRIPT, "note": "authz" }))
            }
            "PUT /api/v1/admin/scripts/notifications" => {
                Some(json!({ "source": SILENT_RULES, "note": "authz" }))
            }
            "POST /api/v1/admin/scripts/pricing/replay" => {
                Some(json!({ "source": NO_OP_SCRIPT, "last": 10 }))
            }
            "POST /api/v1/admin/scripts/pricing/check" => Some(json!({ "source": NO_OP_SCRIPT })),
            "POST /api/v1/admin/scripts/notifications/check" => {
                Some(json!({ "source": SILENT_RULES }))
            }
            "POST /api/v1/admin/scripts/pricing/preview" => {
                let member = app
                    .store
                    .accounts()
                    .user_id_by_phone(MEMBER)
                    .await?
                    .unwrap_or_default();
                Some(json!({ "source": NO_OP_SCRIPT, "member_id": member,
                    "lines": [{ "sku_id": self.hard_hat_sku_id, "qty": 10 }] }))
            }
            "POST /api/v1/admin/staff" => Some(
                json!({ "name": "新司机", "phone": unique_phone("1350000"), "password": "driver2026", "roles": ["driver"], "region_ids": [self.haikou_id] }),
            ),
            "PATCH /api/v1/admin/staff/{id}" => Some(json!({ "name": "张师傅" })),
            "POST /api/v1/admin/staff/{id}/password" => {
                Some(json!({ "new_password": "driver2026" }))
            }
            "POST /api/v1/admin/levels" => Some(
                json!({ "name": format!("等级{}", UNIQUE.fetch_add(1, Ordering::Relaxed)), "rank": 9 }),
            ),
            "PUT /api/v1/admin/levels/{id}" => Some(json!({ "name": "银牌会员", "rank": 2 })),
            "POST /api/v1/admin/categories" => {
                Some(json!({ "name": format!("分类{}", UNIQUE.fetch_add(1, Ordering::Relaxed)) }))
            }
            "POST /api/v1/admin/brands" => {
                Some(json!({ "name": format!("品牌{}", UNIQUE.fetch_add(1, Ordering::Relaxed)) }))
            }
            "POST /api/v1/admin/units" => {
                let n = i64::from(UNIQUE.fetch_add(1, Ordering::Relaxed)) + 2;
                Some(
                    json!({ "item_unit": "瓶", "inner_qty": n, "inner_unit": "盒", "outer_qty": n * 10, "outer_unit": "箱" }),
                )
            }
            "POST /api/v1/admin/products" => Some(
                json!({ "item_no": format!("T-{}", UNIQUE.fetch_add(1, Ordering::Relaxed)), "name": "测试商品", "unit_id": self.unit_id, "skus": [{ "price_fen": 100 }] }),
            ),
            "PATCH /api/v1/admin/products/{id}" => Some(json!({ "on_shelf": true })),
            "PATCH /api/v1/admin/categories/{id}" => Some(json!({ "name": "待删分类", "sort": 8 })),
            "PATCH /api/v1/admin/brands/{id}" => Some(json!({ "description": "备用品牌" })),
            "POST /api/v1/admin/unit-forms" => {
                Some(json!({ "item_unit": "支", "pack_unit": "袋" }))
            }
            "POST /api/v1/admin/product-tags" => {
                Some(json!({ "name": format!("标签{}", UNIQUE.fetch_add(1, Ordering::Relaxed)) }))
            }
            "POST /api/v1/admin/spec-attributes" => Some(
                json!({ "name": format!("属性{}", UNIQUE.fetch_add(1, Ordering::Relaxed)), "choices": ["S", "M", "L"] }),
            ),
            "PATCH /api/v1/admin/spec-attributes/{id}" => {
                Some(json!({ "choices": ["红色", "黄色", "白色"] }))
            }
            "POST /api/v1/admin/members/{id}/binding" => {
                Some(json!({ "manager_id": self.manager_haikou_id, "reason": "调整" }))
            }
            "PUT /api/v1/admin/members/{id}/credit" => {
                Some(json!({ "terms": "monthly", "limit_fen": 100_000 }))
            }
            "PUT /api/v1/admin/members/{id}/tags" => Some(json!({ "tag_ids": [] })),
            "PUT /api/v1/admin/members/{id}/level" => {
                Some(json!({ "level_id": self.silver_level_id }))
            }
            "POST /api/v1/admin/tags" => {
                Some(json!({ "name": format!("标签{}", UNIQUE.fetch_add(1, Ordering::Relaxed)) }))
            }
            "POST /api/v1/verifier/members" => Some(
                json!({ "phone": unique_phone("1340000"), "company_name": "门店新客", "contact_name": "周" }),
            ),
            "POST /api/v1/admin/staff/{id}/manager" => {
                Some(json!({ "manager_id": self.manager_haikou_id, "reason": "绑定" }))
            }
            "POST /api/v1/admin/staff/{id}/handover" => {
                Some(json!({ "successor_id": self.manager_sanya_id, "reason": "离职交接" }))
            }
            "POST /api/v1/me/addresses" | "PUT /api/v1/me/addresses/{id}" => Some(
                json!({ "province": "海南省", "city": "海口市", "district": "龙华区", "detail": "金盘工业区兴达五金店", "contact_name": "赵老板", "phone": MEMBER }),
            ),
            "POST /api/v1/admin/members/{id}/approve"
            | "POST /api/v1/admin/members/{id}/reject" => {
                // Each allowed caller reviews a member who is waiting again.
                app.store
                    .members()
                    .set_standing(
                        self.waiting_id,
                        pifa::accounts::MemberState::ProfileComplete,
                        None,
                        Some(self.haikou_id),
                        app.clock.now_ms(),
                    )
                    .await?;
                Some(if route.ends_with("approve") {
                    json!({ "region_id": self.haikou_id })
                } else {
                    json!({ "reason": "照片不清晰" })
                })
            }
            "POST /api/v1/cart/items" => {
                Some(json!({ "items": [{ "sku_id": self.hard_hat_sku_id, "qty": 10 }] }))
            }
            "PUT /api/v1/cart/items/{sku_id}" => Some(json!({ "qty": 20 })),
            "POST /api/v1/orders/quote" => Some(json!({ "delivery_method": "pickup" })),
            "POST /api/v1/admin/orders/{id}/reject" => Some(json!({ "reason": "缺货" })),
            "POST /api/v1/admin/members/{id}/profile-change/reject" => {
                Some(json!({ "reason": "执照照片不清晰" }))
            }
            "POST /api/v1/admin/orders/{id}/dispatch" => {
                Some(json!({ "method": "express", "carrier": "顺丰", "tracking_no": "SF9" }))
            }
            "POST /api/v1/admin/orders/{id}/ready-for-pickup" => {
                Some(json!({ "pickup_point_id": self.pickup_point_id }))
            }
            "POST /api/v1/pickup/verify" => Some(json!({ "code": "000000000000" })),
            "POST /api/v1/admin/after-sales/{id}/decision" => Some(json!({ "approve": true })),
            "POST /api/v1/admin/after-sales/{id}/refund" => Some(json!({ "amount_fen": 1 })),
            "POST /api/v1/admin/reviews/{id}/moderation" => Some(json!({ "approve": true })),
            "POST /api/v1/admin/broadcasts" => {
                Some(json!({ "title": "通知", "text": "本周六盘点，暂停发货。", "audience": {} }))
            }
            "POST /api/v1/admin/pickup-points" => Some(json!({
                "name": format!("自提点{}", UNIQUE.fetch_add(1, Ordering::Relaxed)),
                "address": "海口市秀英区",
            })),
            "PUT /api/v1/admin/pickup-points/{id}" => Some(json!({
                "name": "海口金盘自提点", "address": "海南省海口市龙华区金盘工业区金盘路18号",
            })),
            "POST /api/v1/admin/orders/{id}/status" => {
                Some(json!({ "status": "closed", "remark": "客户电话取消" }))
            }
            "POST /api/v1/admin/orders/{id}/release-hold" => {
                Some(json!({ "reason": "老客户，月底结清" }))
            }
            "PUT /api/v1/admin/plugins/{name}/settings" => Some(json!({ "label": "秒杀价" })),
            "POST /api/v1/admin/products/{id}/skus" => {
                Some(json!({ "model": "加厚", "price_fen": 3200, "cost_fen": 2200, "stock": 10 }))
            }
            "PUT /api/v1/admin/skus/{id}" => Some(
                json!({ "model": "V型", "spec": "红色", "price_fen": 2800, "cost_fen": 1960, "stock": 600, "barcode": "6901234500011" }),
            ),
            _ if route.starts_with("POST ") => Some(json!({})),
            _ => None,
        })
    }
}

fn operations(openapi: &Value) -> BTreeSet<String> {
    let mut routes = BTreeSet::new();
    if let Some(paths) = openapi["paths"].as_object() {
        for (path, item) in paths {
            for method in item
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
            {
                routes.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    routes
}

#[tokio::test]
async fn every_route_checks_who_may_do_it_to_which_record() -> anyhow::Result<()> {
    let probe = TestApp::start(Backend::Sqlite)
        .await?
        .ok_or_else(|| anyhow::anyhow!("sqlite always runs"))?;
    let (_, openapi) = probe.get("/api/openapi.json", None).await?;
    probe.stop().await?;
    let live = operations(&openapi);
    let table: BTreeSet<String> = TABLE
        .iter()
        .map(|(route, _, _)| (*route).to_owned())
        .collect();
    let missing: Vec<_> = live.difference(&table).collect();
    let stale: Vec<_> = table.difference(&live).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the authorization table: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "table rows for routes that do not exist: {stale:?}"
    );

    let mut failures = Vec::new();
    for (route, record, spec) in TABLE {
        let expectations = parse_expectations(spec)?;
        let world = World::build().await?;
        let (method, template) = route
            .split_once(' ')
            .ok_or_else(|| anyhow::anyhow!("bad route {route}"))?;
        let method = Method::from_bytes(method.as_bytes())?;
        // Refusals first: an allowed call may change the world (a restore signs everyone out).
        let mut order: Vec<(Who, Expect)> = expectations.into_iter().collect();
        order.sort_by_key(|(_, e)| (e.status / 100 == 2, e.status));
        for (who, expect) in order {
            let path = world.path_for(template).await?;
            let body = world.body(route).await?;
            let token = world.tokens.get(&who).cloned();
            let response = {
                let mut request = world
                    .app
                    .client
                    .request(method.clone(), world.app.url(&path));
                if let Some(token) = &token {
                    request = request.bearer_auth(token);
                }
                match &body {
                    Some(Body::Json(body)) => request = request.json(body),
                    Some(Body::ProfileForm) => {
                        request = request.multipart(pifa_e2e::profile_form(
                            world.haikou_id,
                            &[
                                ("shop_photo", pifa_e2e::TINY_PNG),
                                ("licence", pifa_e2e::TINY_PNG),
                            ],
                        ))
                    }
                    Some(Body::Csv(text)) => {
                        request = request.header("content-type", "text/csv").body(*text)
                    }
                    Some(Body::Order(body)) => {
                        let key = format!("matrix-{}", UNIQUE.fetch_add(1, Ordering::Relaxed));
                        request = request.header("idempotency-key", key).json(body)
                    }
                    Some(Body::Payment) => {
                        request = request.multipart(
                            reqwest::multipart::Form::new()
                                .text("amount_fen", "100")
                                .text("remark", "到账")
                                .part(
                                    "proof",
                                    reqwest::multipart::Part::bytes(pifa_e2e::TINY_PNG.to_vec())
                                        .file_name("r.png"),
                                ),
                        )
                    }
                    Some(Body::Review(product_id)) => {
                        request = request.multipart(
                            reqwest::multipart::Form::new()
                                .text("product_id", product_id.to_string())
                                .text("rating", "5")
                                .text("body", "结实耐用"),
                        )
                    }
                    Some(Body::AfterSale) => {
                        request = request.multipart(
                            reqwest::multipart::Form::new()
                                .text("kind", "refund")
                                .text("reason", "少发了货"),
                        )
                    }
                    Some(Body::DeliveryPhoto) => {
                        request = request.multipart(
                            reqwest::multipart::Form::new().part(
                                "photo",
                                reqwest::multipart::Part::bytes(pifa_e2e::TINY_PNG.to_vec())
                                    .file_name("note.png"),
                            ),
                        )
                    }
                    Some(Body::Png) => {
                        request = request
                            .header("content-type", "image/png")
                            .body(pifa_e2e::TINY_PNG)
                    }
                    None => {}
                }
                request.send().await?
            };
            let status = response.status();
            let bytes = response.bytes().await?;
            let text = String::from_utf8_lossy(&bytes);
            let fields = world.fields(*record, who);
            let problem = if status.as_u16() != expect.status {
                Some(format!(
                    "status {status}, expected {}: {text}",
                    expect.status
                ))
            } else if StatusCode::from_u16(expect.status)?.is_success() && expect.shows_record {
                let missing: Vec<_> = fields
                    .iter()
                    .filter(|f| !text.contains(f.as_str()))
                    .collect();
                let gzip_ok = !matches!(record, Record::BackupFile)
                    || bytes.get(..2) == Some(&[0x1f, 0x8b][..]);
                let png_ok = !matches!(record, Record::Licence)
                    || pifa_e2e::images::same_picture(&bytes, pifa_e2e::TINY_PNG)?;
                (!missing.is_empty() || !gzip_ok || !png_ok).then(|| {
                    format!("allowed, but the record is not in the body (missing {missing:?})")
                })
            } else {
                let leaked: Vec<_> = fields
                    .iter()
                    .filter(|f| text.contains(f.as_str()))
                    .collect();
                let gzip_leak = matches!(record, Record::BackupFile)
                    && bytes.get(..2) == Some(&[0x1f, 0x8b][..]);
                let png_leak = matches!(record, Record::Licence)
                    && bytes.starts_with(&[0x89, 0x50, 0x4e, 0x47]);
                (!leaked.is_empty() || gzip_leak || png_leak)
                    .then(|| format!("refused, but the body shows {leaked:?}"))
            };
            if let Some(problem) = problem {
                failures.push(format!("{route} as {who:?}: {problem}"));
            }
        }
        world.app.stop().await?;
    }
    assert!(
        failures.is_empty(),
        "authorization matrix failures:\n{}",
        failures.join("\n")
    );
    Ok(())
}
