//! The office's set-up pages: the shop's settings (L3), the staff and their roles, the
//! regions and pickup points.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{MenuEntry, RowError, sample_menu};
use crate::accounts::Role;
use crate::orders::pickup::PickupPoint;
use crate::regions::Region;
use crate::settings::Settings;
use crate::staff::StaffView;
use crate::themes::views::{FormError, PageView};

/// Someone to choose in a select: an id and a name.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    pub id: i64,
    pub name: String,
}

/// `settings.html`: every setting (L3) in one form — the shop's name, logo, introduction and
/// service contacts, its mode, payment and delivery methods, the bank account, shipping by
/// area, timeouts, who hears of orders where a region has no manager, backups, the
/// storefront's theme.
#[derive(Debug, Clone, Serialize)]
pub struct OfficeSettingsView {
    pub menu: Vec<MenuEntry>,
    /// As saved.
    pub settings: Settings,
    /// The storefront themes installed (a folder name each).
    pub themes: Vec<String>,
    /// Enabled customer-service accounts, for who hears of orders without a manager.
    pub services: Vec<Choice>,
    /// Rows of the area shipping table: the saved areas and a few empty ones.
    pub area_rows: usize,
    pub error: Option<FormError>,
    /// The refused form as typed (none: the saved settings are shown).
    pub typed: Option<BTreeMap<String, String>>,
}

/// Empty rows the area shipping table offers.
pub const SPARE_AREAS: usize = 3;

/// `staff.html`: the staff accounts with their roles, regions and state, a form to add one,
/// and each one's form to change roles, regions, plate, to reset the password, to disable
/// or enable.
#[derive(Debug, Clone, Serialize)]
pub struct OfficeStaffView {
    pub menu: Vec<MenuEntry>,
    pub staff: Vec<StaffView>,
    /// The roles staff may be given (every role but member's).
    pub roles: Vec<Role>,
    pub regions: Vec<Region>,
    /// A refused form: `new` (`id` 0), or `edit`, `password`, `state` of the account `id`.
    pub error: Option<RowError>,
    pub typed: BTreeMap<String, String>,
}

/// `regions.html`: the sales regions, to add and rename, and the pickup points, to add and
/// change with their verifiers.
#[derive(Debug, Clone, Serialize)]
pub struct OfficeRegionsView {
    pub menu: Vec<MenuEntry>,
    pub regions: Vec<Region>,
    pub points: Vec<PointRow>,
    /// Enabled staff with the verifier role, to choose for a point.
    pub verifiers: Vec<Choice>,
    /// A refused form: `region` or `point` (the record's `id`, 0 for a new one).
    pub error: Option<RowError>,
    pub typed: BTreeMap<String, String>,
}

/// A pickup point with the verifiers who hand goods out there.
#[derive(Debug, Clone, Serialize)]
pub struct PointRow {
    pub point: PickupPoint,
    pub verifier_ids: Vec<i64>,
}

fn sample_regions() -> Vec<Region> {
    vec![
        Region {
            id: 1,
            name: "海口 <b>".to_owned(),
        },
        Region {
            id: 2,
            name: "三亚".to_owned(),
        },
    ]
}

fn sample_error(form: &'static str, id: i64, code: &str, field: &str) -> RowError {
    RowError {
        id,
        error: FormError {
            form,
            code: code.to_owned(),
            field: Some(field.to_owned()),
        },
    }
}

impl PageView for OfficeSettingsView {
    const TEMPLATE: &'static str = "settings.html";
    fn samples() -> Vec<(&'static str, OfficeSettingsView)> {
        let settings = Settings {
            shop_name: "安达劳保 <b>".to_owned(),
            service_phone: Some("0898-6666 <i>".to_owned()),
            logo_url: Some("/assets/logo.svg".to_owned()),
            backup_interval_hours: Some(24),
            theme: Some("classic".to_owned()),
            ..Settings::default()
        };
        let saved = OfficeSettingsView {
            menu: sample_menu(),
            area_rows: settings.shipping.areas.len() + SPARE_AREAS,
            settings,
            themes: vec!["default".to_owned(), "classic <b>".to_owned()],
            services: vec![Choice {
                id: 2,
                name: "李晓 <i>".to_owned(),
            }],
            error: None,
            typed: None,
        };
        vec![
            ("the saved settings", saved.clone()),
            (
                "a refused form, as typed",
                OfficeSettingsView {
                    error: Some(sample_error("settings", 0, "invalid_money", "first_kg").error),
                    typed: Some(BTreeMap::from([
                        ("shop_name".to_owned(), "新名字 <b>".to_owned()),
                        ("first_kg".to_owned(), "八块".to_owned()),
                        ("pm.bank_transfer".to_owned(), "on".to_owned()),
                    ])),
                    services: Vec::new(),
                    ..saved
                },
            ),
        ]
    }
}

impl PageView for OfficeStaffView {
    const TEMPLATE: &'static str = "staff.html";
    fn samples() -> Vec<(&'static str, OfficeStaffView)> {
        let member = |id: i64, roles: Vec<Role>, disabled: bool| StaffView {
            id,
            name: "张师傅 <b>".to_owned(),
            phone: "13800000031".to_owned(),
            roles,
            region_ids: vec![1],
            vehicle_plate: Some("琼A·12345 <i>".to_owned()),
            disabled,
            created_at: "2026-11-30T09:00:00+08:00".to_owned(),
        };
        let full = OfficeStaffView {
            menu: sample_menu(),
            staff: vec![
                member(1, vec![Role::Admin], false),
                member(2, vec![Role::Driver, Role::Manager], true),
            ],
            roles: Role::ALL.into_iter().filter(|r| r.is_staff()).collect(),
            regions: sample_regions(),
            error: Some(sample_error("new", 0, "phone_taken", "phone")),
            typed: BTreeMap::from([("phone".to_owned(), "1380000 <b>".to_owned())]),
        };
        vec![
            ("staff, a refused new account", full.clone()),
            (
                "a refused password",
                OfficeStaffView {
                    error: Some(sample_error("password", 2, "weak_password", "new_password")),
                    typed: BTreeMap::new(),
                    ..full
                },
            ),
        ]
    }
}

impl PageView for OfficeRegionsView {
    const TEMPLATE: &'static str = "regions.html";
    fn samples() -> Vec<(&'static str, OfficeRegionsView)> {
        let full = OfficeRegionsView {
            menu: sample_menu(),
            regions: sample_regions(),
            points: vec![PointRow {
                point: PickupPoint {
                    id: 1,
                    name: "海口仓 <b>".to_owned(),
                    address: "金盘路 8 号 <i>".to_owned(),
                    map_url: "https://uri.amap.com/marker?position=110.3,20.0".to_owned(),
                    phone: "0898-6666".to_owned(),
                    region_id: Some(1),
                },
                verifier_ids: vec![9],
            }],
            verifiers: vec![Choice {
                id: 9,
                name: "周核销 <i>".to_owned(),
            }],
            error: Some(sample_error("point", 1, "pickup_point_taken", "name")),
            typed: BTreeMap::from([("name".to_owned(), "海口仓 <b>".to_owned())]),
        };
        vec![
            ("regions and points, a refused point", full.clone()),
            (
                "nothing yet",
                OfficeRegionsView {
                    regions: Vec::new(),
                    points: Vec::new(),
                    verifiers: Vec::new(),
                    error: Some(sample_error("region", 0, "region_taken", "name")),
                    ..full
                },
            ),
        ]
    }
}
