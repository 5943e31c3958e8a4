//! Demo data for a new user: a safety-gear and hardware wholesaler in Hainan with its regions,
//! one staff account per role and shop settings. Later issues add goods and orders.

use std::collections::BTreeSet;

use anyhow::Context;

use crate::accounts::passwords::Hasher;
use crate::accounts::permissions::{Permission, grants};
use crate::accounts::users::NewUser;
use crate::accounts::{MemberState, Password, Role};
use crate::catalog::storage::{NewProduct, NewSku};
use crate::catalog::{LevelPrice, PriceBreak, Unit};
use crate::members::addresses::AddressFields;
use crate::settings::{BankAccount, Settings};
use crate::store::Store;

/// Every demo account signs in with this password.
pub const DEMO_PASSWORD: &str = "pifa1234";

/// One demo account: (role shown, name, phone, roles, regions by name, vehicle plate).
pub struct DemoAccount {
    pub label: &'static str,
    pub name: &'static str,
    pub phone: &'static str,
    pub roles: &'static [Role],
    pub regions: &'static [&'static str],
    pub plate: Option<&'static str>,
}

/// The approved member the start-up output suggests trying the shop as.
pub const DEMO_MEMBER_PHONE: &str = "13900000001";

pub const REGIONS: [&str; 3] = ["海口", "三亚", "琼海"];

pub const ACCOUNTS: &[DemoAccount] = &[
    DemoAccount {
        label: "平台管理 admin",
        name: "王海",
        phone: "13800000001",
        roles: &[Role::Admin],
        regions: &[],
        plate: None,
    },
    DemoAccount {
        label: "客服 customer service",
        name: "李晓",
        phone: "13800000002",
        roles: &[Role::CustomerService],
        regions: &[],
        plate: None,
    },
    DemoAccount {
        label: "客户经理 manager (海口)",
        name: "陈经理",
        phone: "13800000011",
        roles: &[Role::Manager],
        regions: &["海口"],
        plate: None,
    },
    DemoAccount {
        label: "客户经理 manager (三亚)",
        name: "林经理",
        phone: "13800000012",
        roles: &[Role::Manager],
        regions: &["三亚"],
        plate: None,
    },
    DemoAccount {
        label: "客户经理 manager (琼海)",
        name: "黄经理",
        phone: "13800000013",
        roles: &[Role::Manager],
        regions: &["琼海"],
        plate: None,
    },
    DemoAccount {
        label: "推广经理 promoter (海口)",
        name: "吴推广",
        phone: "13800000021",
        roles: &[Role::Promoter],
        regions: &["海口"],
        plate: None,
    },
    DemoAccount {
        label: "司机 driver (海口)",
        name: "张师傅",
        phone: "13800000031",
        roles: &[Role::Driver],
        regions: &["海口"],
        plate: Some("琼A·3K721"),
    },
    DemoAccount {
        label: "司机 driver (三亚)",
        name: "符师傅",
        phone: "13800000032",
        roles: &[Role::Driver],
        regions: &["三亚"],
        plate: Some("琼B·5T208"),
    },
    DemoAccount {
        label: "司机 driver (琼海)",
        name: "邢师傅",
        phone: "13800000033",
        roles: &[Role::Driver],
        regions: &["琼海"],
        plate: Some("琼C·1M866"),
    },
    DemoAccount {
        label: "核销员 verifier (海口)",
        name: "周核销",
        phone: "13800000041",
        roles: &[Role::Verifier],
        regions: &["海口"],
        plate: None,
    },
    DemoAccount {
        label: "供应商 supplier",
        name: "安达劳保厂",
        phone: "13800000051",
        roles: &[Role::Supplier],
        regions: &[],
        plate: None,
    },
    DemoAccount {
        label: "会员 member (dealer)",
        name: "赵老板",
        phone: DEMO_MEMBER_PHONE,
        roles: &[Role::Member],
        regions: &[],
        plate: None,
    },
];

/// How much demo data: the full shop a new user explores, or the small fixture the end-to-end
/// tests assert exact results against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoSize {
    Full,
    Fixture,
}

/// Fills an empty database; refuses one that already has users or regions.
pub async fn load(
    store: &Store,
    hasher: &Hasher,
    now_ms: i64,
    size: DemoSize,
) -> anyhow::Result<()> {
    if !store.is_empty().await? {
        anyhow::bail!("the database already has data; demo data goes only into an empty one");
    }
    let mut region_ids = Vec::new();
    for name in REGIONS {
        region_ids.push((name, store.regions().insert_region(name, now_ms).await?));
    }
    let password =
        Password::parse(DEMO_PASSWORD, "password").map_err(|e| anyhow::anyhow!(e.message))?;
    let mut service_id = None;
    for account in ACCOUNTS {
        let regions: BTreeSet<i64> = account
            .regions
            .iter()
            .filter_map(|name| {
                region_ids
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, id)| *id)
            })
            .collect();
        let roles: BTreeSet<Role> = account.roles.iter().copied().collect();
        let is_member = grants(&roles, Permission::OwnMemberAccount);
        let user = NewUser {
            phone: account.phone.to_owned(),
            email: None,
            name: account.name.to_owned(),
            company_name: is_member.then(|| "海口龙华区兴达五金店".to_owned()),
            password_hash: Some(hasher.hash(&password).await?),
            member_state: is_member.then_some(MemberState::Authorised),
            vehicle_plate: account.plate.map(str::to_owned),
            roles: roles.clone(),
            region_ids: regions,
        };
        let id = store
            .accounts()
            .insert_user(&user, now_ms)
            .await
            .with_context(|| format!("demo account {}", account.phone))?;
        if grants(&roles, Permission::BackUpManagers) {
            service_id = Some(id);
        }
    }
    let settings = Settings {
        shop_name: "安达劳保五金批发".to_owned(),
        introduction: "海南本地劳保用品、五金工具、防水涂料批发，海口、三亚、琼海三地配送。"
            .to_owned(),
        service_phone: Some("0898-66668888".to_owned()),
        bank_account: BankAccount {
            bank_name: "中国工商银行海口龙华支行".to_owned(),
            account_name: "海南安达劳保用品有限公司".to_owned(),
            account_number: "2201 0267 0920 0123 456".to_owned(),
        },
        fallback_customer_service_id: service_id,
        ..Settings::default()
    };
    store.settings().save(&settings, None, now_ms).await?;
    let haikou = region_ids
        .iter()
        .find(|(name, _)| *name == "海口")
        .map(|(_, id)| *id);
    let verifier = store.accounts().user_id_by_phone("13800000041").await?;
    store
        .orders()
        .save_pickup_point(
            None,
            &crate::orders::pickup::PickupPointInput {
                name: "海口金盘自提点".to_owned(),
                address: "海南省海口市龙华区金盘工业区金盘路18号".to_owned(),
                map_url:
                    "https://uri.amap.com/marker?position=110.3255,20.0130&name=海口金盘自提点"
                        .to_owned(),
                phone: "0898-66668888".to_owned(),
                region_id: haikou,
                verifier_ids: verifier.into_iter().collect(),
            },
            now_ms,
        )
        .await?;
    load_catalogue(store, now_ms).await?;
    if size == DemoSize::Full {
        crate::demo_catalogue::load_wholesale_range(store, now_ms).await?;
        crate::demo_catalogue::load_members(store, hasher, now_ms).await?;
        crate::demo_orders::load_orders(store, now_ms).await?;
    }
    // The demo's past is not news: nobody is told of its orders or approvals again.
    store.announcements().pass_over_past_events(now_ms).await?;
    Ok(())
}

/// Levels and a starter catalogue; the demo member is approved at 银牌 in 海口 so he sees his
/// wholesale price. (The full demo catalogue of 300+ SKUs comes with the catalogue issue.)
async fn load_catalogue(store: &Store, now_ms: i64) -> anyhow::Result<()> {
    store
        .members()
        .insert_level("普通会员", 1, true, now_ms)
        .await?;
    let silver = store
        .members()
        .insert_level("银牌会员", 2, false, now_ms)
        .await?;
    let gold = store
        .members()
        .insert_level("金牌会员", 3, false, now_ms)
        .await?;
    if let Some(member) = store.accounts().user_id_by_phone("13900000001").await? {
        let haikou = store
            .regions()
            .list_regions()
            .await?
            .into_iter()
            .find(|r| r.name == "海口")
            .map(|r| r.id);
        store
            .members()
            .set_standing(member, MemberState::Approved, Some(silver), haikou, now_ms)
            .await?;
        let address = AddressFields {
            province: "海南省".to_owned(),
            city: "海口市".to_owned(),
            district: "龙华区".to_owned(),
            detail: "金盘工业区兴达五金店".to_owned(),
            contact_name: "赵老板".to_owned(),
            phone: "13900000001".to_owned(),
        };
        store
            .members()
            .save_address(member, None, &address, true, now_ms)
            .await?;
    }
    if let (Some(promoter), Some(manager), Some(admin)) = (
        store.accounts().user_id_by_phone("13800000021").await?,
        store.accounts().user_id_by_phone("13800000011").await?,
        store.accounts().user_id_by_phone("13800000001").await?,
    ) {
        store
            .members()
            .bind_promoter(promoter, manager, "演示数据 (demo)", admin, now_ms)
            .await?;
        if let Some(member) = store.accounts().user_id_by_phone("13900000001").await? {
            let to = crate::members::relations::Inviter {
                manager_id: Some(manager),
                promoter_id: Some(promoter),
                region_id: None,
            };
            store
                .members()
                .bind_member(member, to, "演示数据 (demo)", Some(admin), now_ms)
                .await?;
        }
    }
    let mut categories = Vec::new();
    for (top, middle, leaf) in [
        ("劳保用品", "头部防护", "安全帽"),
        ("劳保用品", "手部防护", "劳保手套"),
        ("建筑材料", "防水材料", "防水涂料"),
        ("五金工具", "手动工具", "扳手"),
    ] {
        let existing = store.catalog().list_categories().await?;
        let find = |name: &str, parent: Option<i64>| {
            existing
                .iter()
                .find(|c| c.name == name && c.parent_id == parent)
                .map(|c| c.id)
        };
        let top_id = match find(top, None) {
            Some(id) => id,
            None => {
                store
                    .catalog()
                    .insert_category(None, top, 1, 0, now_ms)
                    .await?
            }
        };
        let middle_id = match find(middle, Some(top_id)) {
            Some(id) => id,
            None => {
                store
                    .catalog()
                    .insert_category(Some(top_id), middle, 2, 0, now_ms)
                    .await?
            }
        };
        categories.push(
            store
                .catalog()
                .insert_category(Some(middle_id), leaf, 3, 0, now_ms)
                .await?,
        );
    }
    let mut brands = Vec::new();
    for name in ["安达", "代尔塔", "东方雨虹", "世达"] {
        brands.push(store.catalog().insert_brand(name, None, "", now_ms).await?);
    }
    let mut units = Vec::new();
    for (item, inner, outer) in [("个", 10, 50), ("扎", 12, 120), ("桶", 1, 4), ("把", 5, 50)] {
        let unit = Unit {
            id: 0,
            item_unit: item.to_owned(),
            inner_qty: inner,
            inner_unit: "盒".to_owned(),
            outer_qty: outer,
            outer_unit: "箱".to_owned(),
        };
        units.push(store.catalog().insert_unit(&unit, now_ms).await?);
    }
    let supplier = store.accounts().user_id_by_phone("13800000051").await?;
    let sku = |model: &str, spec: &str, price: i64, stock: i64, barcode: &str| NewSku {
        attributes: Default::default(),
        model: model.to_owned(),
        spec: spec.to_owned(),
        price_fen: price,
        cost_fen: Some(price * 7 / 10),
        stock,
        allow_backorder: false,
        low_stock_threshold: Some(20),
        weight_g: Some(400),
        barcode: Some(barcode.to_owned()),
        level_prices: vec![
            LevelPrice {
                level_id: silver,
                price_fen: price * 95 / 100,
            },
            LevelPrice {
                level_id: gold,
                price_fen: price * 90 / 100,
            },
        ],
        breaks: vec![
            PriceBreak {
                min_qty: 100,
                price_fen: price * 92 / 100,
            },
            PriceBreak {
                min_qty: 500,
                price_fen: price * 85 / 100,
            },
        ],
    };
    let products = [
        (
            "AQM-001",
            "安全帽 ABS 工地 V型透气",
            0,
            vec![
                sku("V型", "红色", 2800, 600, "6901234500011"),
                sku("V型", "黄色", 2800, 800, "6901234500028"),
                sku("V型", "白色", 3000, 300, "6901234500035"),
            ],
        ),
        (
            "ST-012",
            "劳保手套 浸胶耐磨 12双装",
            1,
            vec![
                sku("浸胶", "均码", 3600, 1200, "6901234500042"),
                sku("挂胶", "均码", 4200, 500, "6901234500059"),
            ],
        ),
        (
            "FS-020",
            "防水涂料 JS聚合物水泥基 20kg",
            2,
            vec![
                sku("JS-II", "灰色 20kg", 26800, 90, "6901234500066"),
                sku("JS-II", "白色 20kg", 27800, 60, "6901234500073"),
            ],
        ),
        (
            "BS-008",
            "活动扳手 铬钒钢",
            3,
            vec![
                sku("8寸", "200mm", 2450, 300, "6901234500080"),
                sku("10寸", "250mm", 2950, 300, "6901234500097"),
                sku("12寸", "300mm", 3650, 150, "6901234500103"),
            ],
        ),
        (
            "FS-021",
            "防水涂料 单组份聚氨酯 20kg",
            2,
            vec![sku("PU-951", "黑色 20kg", 32800, 40, "6901234500110")],
        ),
        (
            "TD-003",
            "LED 强光头灯 充电式",
            0,
            vec![sku("T6", "白光", 3900, 200, "6901234500127")],
        ),
    ];
    let descriptions = [("TD-003", "夜间施工照明，可夹在安全帽上使用，续航8小时。")];
    for (item_no, name, index, skus) in products {
        let product = NewProduct {
            tag_ids: Default::default(),
            item_no: item_no.to_owned(),
            name: name.to_owned(),
            description: descriptions
                .iter()
                .find(|(no, _)| *no == item_no)
                .map(|(_, d)| (*d).to_owned())
                .unwrap_or_default(),
            brand_id: brands.get(index).copied(),
            category_id: categories.get(index).copied(),
            supplier_id: supplier,
            unit_id: units.get(index).copied().unwrap_or_default(),
            on_shelf: true,
            skus,
        };
        let id = store.catalog().insert_product(&product, now_ms).await?;
        store.catalog().reindex_product(id).await?;
    }
    Ok(())
}

/// The table of demo accounts printed at start-up and in the README.
pub fn accounts_table() -> String {
    let mut out = format!("Demo accounts (password: {DEMO_PASSWORD})\n");
    for account in ACCOUNTS {
        // Phone first: it is fixed-width, and CJK labels do not line up in a terminal.
        out.push_str(&format!(
            "  {}  {} · {}\n",
            account.phone, account.label, account.name
        ));
    }
    out
}
