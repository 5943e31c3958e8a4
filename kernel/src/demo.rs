//! Demo data for a new user: a safety-gear and hardware wholesaler in Hainan with its regions,
//! one staff account per role and shop settings. Later issues add goods and orders.

use std::collections::BTreeSet;

use anyhow::Context;

use crate::accounts::passwords::Hasher;
use crate::accounts::users::NewUser;
use crate::accounts::{MemberState, Password, Role};
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

pub const REGIONS: [&str; 3] = ["海口", "三亚", "琼海"];

pub const ACCOUNTS: &[DemoAccount] = &[
    DemoAccount { label: "平台管理 admin", name: "王海", phone: "13800000001", roles: &[Role::Admin], regions: &[], plate: None },
    DemoAccount { label: "客服 customer service", name: "李晓", phone: "13800000002", roles: &[Role::CustomerService], regions: &[], plate: None },
    DemoAccount { label: "客户经理 manager (海口)", name: "陈经理", phone: "13800000011", roles: &[Role::Manager], regions: &["海口"], plate: None },
    DemoAccount { label: "客户经理 manager (三亚)", name: "林经理", phone: "13800000012", roles: &[Role::Manager], regions: &["三亚"], plate: None },
    DemoAccount { label: "客户经理 manager (琼海)", name: "黄经理", phone: "13800000013", roles: &[Role::Manager], regions: &["琼海"], plate: None },
    DemoAccount { label: "推广经理 promoter (海口)", name: "吴推广", phone: "13800000021", roles: &[Role::Promoter], regions: &["海口"], plate: None },
    DemoAccount { label: "司机 driver (海口)", name: "张师傅", phone: "13800000031", roles: &[Role::Driver], regions: &["海口"], plate: Some("琼A·3K721") },
    DemoAccount { label: "司机 driver (三亚)", name: "符师傅", phone: "13800000032", roles: &[Role::Driver], regions: &["三亚"], plate: Some("琼B·5T208") },
    DemoAccount { label: "司机 driver (琼海)", name: "邢师傅", phone: "13800000033", roles: &[Role::Driver], regions: &["琼海"], plate: Some("琼C·1M866") },
    DemoAccount { label: "核销员 verifier (海口)", name: "周核销", phone: "13800000041", roles: &[Role::Verifier], regions: &["海口"], plate: None },
    DemoAccount { label: "供应商 supplier", name: "安达劳保厂", phone: "13800000051", roles: &[Role::Supplier], regions: &[], plate: None },
    DemoAccount { label: "会员 member (dealer)", name: "赵老板", phone: "13900000001", roles: &[Role::Member], regions: &[], plate: None },
];

/// Fills an empty database; refuses one that already has users or regions.
pub async fn load(store: &Store, hasher: &Hasher, now_ms: i64) -> anyhow::Result<()> {
    if !store.is_empty().await? {
        anyhow::bail!("the database already has data; demo data goes only into an empty one");
    }
    let mut region_ids = Vec::new();
    for name in REGIONS {
        region_ids.push((name, store.insert_region(name, now_ms).await?));
    }
    let password = Password::parse(DEMO_PASSWORD, "password").map_err(|e| anyhow::anyhow!(e.message))?;
    let mut service_id = None;
    for account in ACCOUNTS {
        let regions: BTreeSet<i64> = account.regions.iter().filter_map(|name| region_ids.iter().find(|(n, _)| n == name).map(|(_, id)| *id)).collect();
        let is_member = account.roles.contains(&Role::Member);
        let user = NewUser {
            phone: account.phone.to_owned(),
            email: None,
            name: account.name.to_owned(),
            company_name: is_member.then(|| "海口龙华区兴达五金店".to_owned()),
            password_hash: Some(hasher.hash(&password).await?),
            member_state: is_member.then_some(MemberState::Authorised),
            vehicle_plate: account.plate.map(str::to_owned),
            roles: account.roles.iter().copied().collect(),
            region_ids: regions,
        };
        let id = store.insert_user(&user, now_ms).await.with_context(|| format!("demo account {}", account.phone))?;
        if account.roles.contains(&Role::CustomerService) {
            service_id = Some(id);
        }
    }
    let settings = Settings {
        shop_name: "安达劳保五金批发".to_owned(),
        introduction: "海南本地劳保用品、五金工具、防水涂料批发，海口、三亚、琼海三地配送。".to_owned(),
        service_phone: Some("0898-66668888".to_owned()),
        bank_account: BankAccount { bank_name: "中国工商银行海口龙华支行".to_owned(), account_name: "海南安达劳保用品有限公司".to_owned(), account_number: "2201 0267 0920 0123 456".to_owned() },
        fallback_customer_service_id: service_id,
        ..Settings::default()
    };
    store.save_settings(&settings, None, now_ms).await?;
    Ok(())
}

/// The table of demo accounts printed at start-up and in the README.
pub fn accounts_table() -> String {
    let mut out = format!("Demo accounts (password: {DEMO_PASSWORD})\n");
    for account in ACCOUNTS {
        // Phone first: it is fixed-width, and CJK labels do not line up in a terminal.
        out.push_str(&format!("  {}  {} · {}\n", account.phone, account.label, account.name));
    }
    out
}
