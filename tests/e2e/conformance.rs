//! The `Store` conformance suite: one story per capability, run unchanged against SQLite and
//! PostgreSQL, so the two backends cannot drift apart.

use std::collections::BTreeSet;

use pifa::accounts::codes::{CodePurpose, CodeRefusal};
use pifa::accounts::rate_limit::{Backoff, Limit, Limited};
use pifa::accounts::sessions::{ClientInfo, SessionKind};
use pifa::accounts::users::{NewUser, StaffChanges, StaffFilter};
use pifa::accounts::{MemberState, Role};
use pifa::channels::Channel;
use pifa::notify::{MessageQuery, OutgoingMessage};
use pifa::settings::{Settings, ShopMode};
use pifa::store::{Store, StoreError};
use pifa_e2e::{Backend, TestDatabase, on_both_backends};

const NOW: i64 = 1_795_317_256_000;

fn member(phone: &str, email: Option<&str>) -> NewUser {
    NewUser {
        phone: phone.to_owned(),
        email: email.map(str::to_owned),
        name: "赵老板".to_owned(),
        company_name: Some("兴达五金".to_owned()),
        password_hash: Some("$argon2id$fake".to_owned()),
        member_state: Some(MemberState::Authorised),
        vehicle_plate: None,
        roles: BTreeSet::from([Role::Member]),
        region_ids: BTreeSet::new(),
    }
}

async fn with_store(
    backend: Backend,
    story: impl AsyncFnOnce(&Store) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let Some(database) = TestDatabase::create(backend).await? else {
        return Ok(());
    };
    let store = Store::open(&database.url).await?;
    let result = story(&store).await;
    store.close().await;
    database.drop_database().await;
    result
}

async fn users_roles_and_regions(backend: Backend) -> anyhow::Result<()> {
    with_store(backend, async |store| {
        assert!(store.is_empty().await?);
        let haikou = store.regions().insert_region("海口", NOW).await?;
        let sanya = store.regions().insert_region("三亚", NOW).await?;
        assert!(matches!(store.regions().insert_region("海口", NOW).await, Err(StoreError::Conflict(c)) if c == "regions.name"));
        let id = store.accounts().insert_user(&member("13900000001", Some("zhao@example.com")), NOW).await?;
        assert!(matches!(store.accounts().insert_user(&member("13900000001", None), NOW).await, Err(StoreError::Conflict(c)) if c == "users.phone"));
        assert!(matches!(store.accounts().insert_user(&member("13900000002", Some("zhao@example.com")), NOW).await, Err(StoreError::Conflict(c)) if c == "users.email"));
        // The refused inserts left nothing behind, roles included.
        assert_eq!(store.count_rows("users").await?, 1);
        assert_eq!(store.count_rows("user_roles").await?, 1);

        let driver = NewUser { phone: "13800000031".to_owned(), roles: BTreeSet::from([Role::Driver]), region_ids: BTreeSet::from([haikou]), vehicle_plate: Some("琼A·3K721".to_owned()), member_state: None, ..member("13800000031", None) };
        let driver_id = store.accounts().insert_user(&driver, NOW).await?;
        let loaded = store.accounts().user_by_id(driver_id).await?.ok_or_else(|| anyhow::anyhow!("driver missing"))?;
        assert_eq!(loaded.roles, BTreeSet::from([Role::Driver]));
        assert_eq!(loaded.region_ids, BTreeSet::from([haikou]));
        assert_eq!(loaded.vehicle_plate.as_deref(), Some("琼A·3K721"));

        let staff = store.accounts().list_staff(&StaffFilter::default()).await?;
        assert_eq!(staff.iter().map(|u| u.id).collect::<Vec<_>>(), vec![driver_id], "members are not staff");
        let in_sanya = store.accounts().list_staff(&StaffFilter { within_regions: Some(BTreeSet::from([sanya])), ..Default::default() }).await?;
        assert!(in_sanya.is_empty());
        let nowhere = store.accounts().list_staff(&StaffFilter { within_regions: Some(BTreeSet::new()), ..Default::default() }).await?;
        assert!(nowhere.is_empty(), "an empty scope sees nobody");

        let changes = StaffChanges { roles: Some(BTreeSet::from([Role::Driver, Role::Manager])), region_ids: Some(BTreeSet::from([sanya])), vehicle_plate: Some(None), ..Default::default() };
        assert!(store.accounts().update_staff(driver_id, &changes, NOW + 1).await?);
        let moved = store.accounts().user_by_id(driver_id).await?.ok_or_else(|| anyhow::anyhow!("driver missing"))?;
        assert_eq!(moved.roles, BTreeSet::from([Role::Driver, Role::Manager]));
        assert_eq!(moved.region_ids, BTreeSet::from([sanya]));
        assert_eq!(moved.vehicle_plate, None);
        assert!(!store.accounts().update_staff(9999, &changes, NOW).await?);

        let credentials = store.accounts().credentials_by_phone("13900000001").await?.ok_or_else(|| anyhow::anyhow!("no credentials"))?;
        assert_eq!(credentials.id, id);
        assert!(!credentials.disabled);
        Ok(())
    })
    .await
}
on_both_backends!(
    users_roles_and_regions_sqlite,
    users_roles_and_regions_postgres,
    users_roles_and_regions
);

async fn sessions_expire_and_end_with_the_account(backend: Backend) -> anyhow::Result<()> {
    with_store(backend, async |store| {
        let id = store
            .accounts()
            .insert_user(&member("13900000001", None), NOW)
            .await?;
        let client = ClientInfo {
            ip: Some("127.0.0.1".to_owned()),
            user_agent: None,
        };
        let bearer = store
            .accounts()
            .create_session(id, SessionKind::Bearer, &client, NOW)
            .await?;
        let cookie = store
            .accounts()
            .create_session(id, SessionKind::Cookie, &client, NOW)
            .await?;
        assert_ne!(bearer.token, cookie.token);
        assert!(bearer.csrf_token.is_none() && cookie.csrf_token.is_some());
        let owner = store
            .accounts()
            .session_owner(&bearer.token, NOW + 1)
            .await?
            .ok_or_else(|| anyhow::anyhow!("session missing"))?;
        assert_eq!(owner.user_id, id);
        assert!(!owner.is_cookie());
        assert!(
            store
                .accounts()
                .session_owner(&bearer.token, bearer.expires_at)
                .await?
                .is_none(),
            "expired sessions do not authenticate"
        );
        assert!(
            store
                .accounts()
                .session_owner("not-a-token", NOW)
                .await?
                .is_none()
        );

        store.accounts().set_disabled(id, true, NOW).await?;
        assert!(
            store
                .accounts()
                .session_owner(&cookie.token, NOW + 1)
                .await?
                .is_none(),
            "disabling ends sessions"
        );
        store.accounts().set_disabled(id, false, NOW).await?;
        let again = store
            .accounts()
            .create_session(id, SessionKind::Bearer, &client, NOW)
            .await?;
        store
            .accounts()
            .set_password_hash(id, "$argon2id$other", NOW)
            .await?;
        assert!(
            store
                .accounts()
                .session_owner(&again.token, NOW + 1)
                .await?
                .is_none(),
            "a password reset ends sessions"
        );

        let stale = store
            .accounts()
            .create_session(id, SessionKind::Bearer, &client, NOW)
            .await?;
        assert_eq!(store.accounts().prune_sessions(stale.expires_at).await?, 1);
        Ok(())
    })
    .await
}
on_both_backends!(
    sessions_sqlite,
    sessions_postgres,
    sessions_expire_and_end_with_the_account
);

async fn codes_are_single_use_expiring_and_guess_limited(backend: Backend) -> anyhow::Result<()> {
    with_store(backend, async |store| {
        let target = "phone:13900000001";
        store
            .accounts()
            .insert_code(target, CodePurpose::Signup, "123456", NOW)
            .await?;
        assert_eq!(
            store
                .accounts()
                .redeem_code(target, CodePurpose::Login, "123456", NOW)
                .await?,
            Err(CodeRefusal::Wrong),
            "a code serves one purpose"
        );
        assert_eq!(
            store
                .accounts()
                .redeem_code(target, CodePurpose::Signup, "654321", NOW)
                .await?,
            Err(CodeRefusal::Wrong)
        );
        assert_eq!(
            store
                .accounts()
                .redeem_code(target, CodePurpose::Signup, "123456", NOW)
                .await?,
            Ok(())
        );
        assert_eq!(
            store
                .accounts()
                .redeem_code(target, CodePurpose::Signup, "123456", NOW)
                .await?,
            Err(CodeRefusal::Used)
        );

        store
            .accounts()
            .insert_code(target, CodePurpose::Signup, "222222", NOW)
            .await?;
        assert_eq!(
            store
                .accounts()
                .redeem_code(target, CodePurpose::Signup, "222222", NOW + 10 * 60_000)
                .await?,
            Err(CodeRefusal::Expired)
        );

        store
            .accounts()
            .insert_code(target, CodePurpose::Signup, "333333", NOW)
            .await?;
        for attempt in 1..=5 {
            let expected = if attempt < 5 {
                CodeRefusal::Wrong
            } else {
                CodeRefusal::TooManyGuesses
            };
            assert_eq!(
                store
                    .accounts()
                    .redeem_code(target, CodePurpose::Signup, "000000", NOW)
                    .await?,
                Err(expected)
            );
        }
        assert_eq!(
            store
                .accounts()
                .redeem_code(target, CodePurpose::Signup, "333333", NOW)
                .await?,
            Err(CodeRefusal::TooManyGuesses),
            "a guessed-at code is dead"
        );
        Ok(())
    })
    .await
}
on_both_backends!(
    codes_sqlite,
    codes_postgres,
    codes_are_single_use_expiring_and_guess_limited
);

async fn rate_limits_count_per_window(backend: Backend) -> anyhow::Result<()> {
    with_store(backend, async |store| {
        let limit = Limit {
            name: "test",
            max: 2,
            window_secs: 60,
        };
        let start = NOW - NOW % 60_000;
        store
            .accounts()
            .rate_hit(limit, "k", start, "rate_limited")
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        store
            .accounts()
            .rate_check(limit, "k", start, "rate_limited")
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        store
            .accounts()
            .rate_hit(limit, "k", start + 1, "rate_limited")
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        let refused = store
            .accounts()
            .rate_hit(limit, "k", start + 2, "rate_limited")
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("third hit allowed"))?;
        assert_eq!(
            (refused.status.as_u16(), refused.code),
            (429, "rate_limited")
        );
        assert!(
            store
                .accounts()
                .rate_check(limit, "k", start + 3, "rate_limited")
                .await
                .is_err()
        );
        assert!(
            store
                .accounts()
                .rate_hit(limit, "other", start + 3, "rate_limited")
                .await
                .is_ok(),
            "keys are independent"
        );
        assert!(
            store
                .accounts()
                .rate_hit(limit, "k", start + 60_000, "rate_limited")
                .await
                .is_ok(),
            "a new window starts fresh"
        );
        assert_eq!(
            store
                .accounts()
                .prune_rate_limits(start + 3 * 86_400_000)
                .await?,
            3
        );
        Ok(())
    })
    .await
}
on_both_backends!(
    rate_limits_sqlite,
    rate_limits_postgres,
    rate_limits_count_per_window
);

async fn backoffs_double_their_wait_and_clear(backend: Backend) -> anyhow::Result<()> {
    with_store(backend, async |store| {
        let backoff = Backoff {
            name: "test",
            free: 2,
            base_secs: 10,
            cap_secs: 30,
            window_secs: 86_400,
        };
        let day = NOW - NOW % 86_400_000;
        let at = |secs: i64| day + secs * 1000;
        // Two free attempts; the second makes the third wait 10 s, the third the fourth 20 s,
        // then 30 s (the cap) each.
        assert_eq!(
            store
                .accounts()
                .backoff_attempt(backoff, "k", at(0))
                .await?,
            Ok(())
        );
        assert_eq!(
            store
                .accounts()
                .backoff_attempt(backoff, "k", at(0))
                .await?,
            Ok(())
        );
        assert_eq!(
            store
                .accounts()
                .backoff_attempt(backoff, "k", at(4))
                .await?,
            Err(Limited {
                retry_after_secs: 6
            }),
            "a refused attempt is not counted"
        );
        assert_eq!(
            store
                .accounts()
                .backoff_attempt(backoff, "k", at(10))
                .await?,
            Ok(())
        );
        assert_eq!(
            store
                .accounts()
                .backoff_attempt(backoff, "k", at(10))
                .await?,
            Err(Limited {
                retry_after_secs: 20
            })
        );
        assert_eq!(
            store
                .accounts()
                .backoff_attempt(backoff, "k", at(30))
                .await?,
            Ok(())
        );
        assert_eq!(
            store
                .accounts()
                .backoff_attempt(backoff, "k", at(31))
                .await?,
            Err(Limited {
                retry_after_secs: 29
            })
        );
        assert_eq!(
            store
                .accounts()
                .backoff_attempt(backoff, "k", at(60))
                .await?,
            Ok(())
        );
        assert_eq!(
            store
                .accounts()
                .backoff_attempt(backoff, "k", at(60))
                .await?,
            Err(Limited {
                retry_after_secs: 30
            }),
            "capped"
        );
        assert_eq!(
            store
                .accounts()
                .backoff_attempt(backoff, "other", at(60))
                .await?,
            Ok(()),
            "keys are independent"
        );
        store.accounts().backoff_clear(backoff, "k").await?;
        assert_eq!(
            store
                .accounts()
                .backoff_attempt(backoff, "k", at(61))
                .await?,
            Ok(())
        );
        assert_eq!(
            store
                .accounts()
                .backoff_attempt(backoff, "k", at(61))
                .await?,
            Ok(())
        );

        // A hit given back frees its place in the window.
        let limit = Limit {
            name: "test-take",
            max: 1,
            window_secs: 60,
        };
        let taken = store
            .accounts()
            .rate_take(limit, "k", at(0))
            .await?
            .map_err(|l| anyhow::anyhow!("first hit refused: {l:?}"))?;
        assert!(
            store
                .accounts()
                .rate_take(limit, "k", at(1))
                .await?
                .is_err()
        );
        store.accounts().rate_give_back(taken).await?;
        store
            .accounts()
            .rate_give_back(
                store
                    .accounts()
                    .rate_take(limit, "k", at(2))
                    .await?
                    .map_err(|l| anyhow::anyhow!("hit after a give-back refused: {l:?}"))?,
            )
            .await?;
        Ok(())
    })
    .await
}
on_both_backends!(
    backoffs_sqlite,
    backoffs_postgres,
    backoffs_double_their_wait_and_clear
);

async fn settings_messages_and_audit(backend: Backend) -> anyhow::Result<()> {
    with_store(backend, async |store| {
        assert_eq!(store.settings().current().await?, Settings::default());
        let changed = Settings {
            shop_name: "安达劳保五金批发".to_owned(),
            shop_mode: ShopMode::Open,
            ..Settings::default()
        };
        store.settings().save(&changed, None, NOW).await?;
        store.settings().save(&changed, None, NOW + 1).await?;
        assert_eq!(store.settings().current().await?, changed);
        assert_eq!(store.count_rows("settings").await?, 1);

        for (i, channel) in [Channel::Sms, Channel::Email].into_iter().enumerate() {
            let message = OutgoingMessage {
                channel,
                recipient: format!("r{i}"),
                user_id: None,
                template: "t".to_owned(),
                params: serde_json::json!({ "code": "1" }),
                body: format!("body {i}"),
                event_id: None,
            };
            store
                .messages()
                .enqueue_message(&message, NOW + i64::try_from(i)?)
                .await?;
        }
        let sms = store
            .messages()
            .list_messages(&MessageQuery {
                channel: Some(Channel::Sms),
                ..Default::default()
            })
            .await?;
        assert_eq!(
            sms.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
            vec!["body 0"]
        );
        // Stored to wait for the sender, which decides whether a provider takes it.
        assert_eq!(sms.first().map(|m| m.state.as_str()), Some("pending"));
        assert_eq!(
            store
                .messages()
                .list_messages(&MessageQuery::default())
                .await?
                .len(),
            2
        );

        let client = ClientInfo::default();
        store
            .accounts()
            .log_login(
                None,
                "139****0001",
                "password",
                Some("invalid_credentials"),
                &client,
                NOW,
            )
            .await?;
        store
            .accounts()
            .log_login(None, "139****0001", "password", None, &client, NOW + 5)
            .await?;
        let failures = store
            .accounts()
            .search_logins(&pifa::accounts::audit::LoginQuery {
                success: Some(false),
                ..Default::default()
            })
            .await?;
        assert_eq!(failures.len(), 1);
        let late = store
            .accounts()
            .search_logins(&pifa::accounts::audit::LoginQuery {
                from_ms: Some(NOW + 1),
                ..Default::default()
            })
            .await?;
        assert_eq!(late.len(), 1);
        assert!(late.iter().all(|e| e.success));
        Ok(())
    })
    .await
}
on_both_backends!(
    settings_sqlite,
    settings_postgres,
    settings_messages_and_audit
);

async fn catalogue_products_prices_and_filters(backend: Backend) -> anyhow::Result<()> {
    use pifa::catalog::storage::{NewProduct, NewSku, ProductChanges, ProductFilter, ProductSort};
    use pifa::catalog::{LevelPrice, PriceBreak, Unit};
    with_store(backend, async |store| {
        let level = store.members().insert_level("银牌会员", 2, false, NOW).await?;
        let default = store.members().insert_level("普通会员", 1, true, NOW).await?;
        store.members().insert_level("金牌会员", 3, true, NOW).await?;
        let levels = store.members().list_levels().await?;
        assert_eq!(levels.iter().filter(|l| l.is_default).count(), 1, "one default level");
        assert!(levels.iter().any(|l| l.id != default && l.is_default));
        let top = store.catalog().insert_category(None, "劳保用品", 1, 0, NOW).await?;
        let middle = store.catalog().insert_category(Some(top), "头部防护", 2, 0, NOW).await?;
        let leaf = store.catalog().insert_category(Some(middle), "安全帽", 3, 0, NOW).await?;
        assert!(matches!(store.catalog().insert_category(Some(middle), "安全帽", 3, 0, NOW).await, Err(StoreError::Conflict(_))));
        assert!(matches!(store.catalog().insert_category(None, "劳保用品", 1, 0, NOW).await, Err(StoreError::Conflict(_))), "top-level names are unique too");
        let other = store.catalog().insert_category(None, "五金工具", 1, 0, NOW).await?;
        let unit = store.catalog().insert_unit(&Unit { id: 0, item_unit: "个".into(), inner_qty: 10, inner_unit: "盒".into(), outer_qty: 50, outer_unit: "箱".into() }, NOW).await?;
        let sku = |price: i64, barcode: Option<&str>| NewSku {
            attributes: Default::default(),
            model: "V型".into(), spec: "红色".into(), price_fen: price, cost_fen: Some(price / 2), stock: 100, allow_backorder: false,
            low_stock_threshold: None, weight_g: Some(400), barcode: barcode.map(str::to_owned),
            level_prices: vec![LevelPrice { level_id: level, price_fen: price - 100 }], breaks: vec![PriceBreak { min_qty: 100, price_fen: price - 200 }],
        };
        let product = |item_no: &str, category: i64, skus: Vec<NewSku>| NewProduct {
            tag_ids: Default::default(),
            item_no: item_no.into(), name: "安全帽".into(), description: String::new(), brand_id: None, category_id: Some(category), supplier_id: None, unit_id: unit, on_shelf: true, skus,
        };
        let hat = store.catalog().insert_product(&product("AQM-001", leaf, vec![sku(2800, Some("690001")), sku(3000, None)]), NOW).await?;
        let wrench = store.catalog().insert_product(&product("BS-008", other, vec![sku(2500, Some("690002"))]), NOW).await?;
        assert!(matches!(store.catalog().insert_product(&product("AQM-001", leaf, vec![sku(1, None)]), NOW).await, Err(StoreError::Conflict(c)) if c == "products.item_no"));
        assert!(matches!(store.catalog().insert_product(&product("NEW", leaf, vec![sku(1, Some("690001"))]), NOW).await, Err(StoreError::Conflict(c)) if c == "skus.barcode"));
        assert_eq!(store.count_rows("products").await?, 2, "a refused product leaves no rows");
        assert_eq!(store.count_rows("skus").await?, 3);

        let loaded = store.catalog().product(hat).await?.ok_or_else(|| anyhow::anyhow!("hat missing"))?;
        assert_eq!(loaded.skus.len(), 2);
        assert_eq!(loaded.skus.first().map(|s| (s.price_fen, s.level_prices.clone(), s.breaks.clone())), Some((2800, vec![LevelPrice { level_id: level, price_fen: 2700 }], vec![PriceBreak { min_qty: 100, price_fen: 2600 }])));
        assert_eq!(loaded.unit.inner_qty, 10);

        let in_top = store.catalog().list_products(&ProductFilter { category_id: Some(top), limit: 10, ..Default::default() }).await?;
        assert_eq!(in_top.iter().map(|p| p.id.get()).collect::<Vec<_>>(), vec![hat], "a category holds its grandchildren's goods");
        let by_price = store.catalog().list_products(&ProductFilter { sort: ProductSort::PriceAsc, price_level: Some(level), limit: 10, ..Default::default() }).await?;
        assert_eq!(by_price.iter().map(|p| p.id.get()).collect::<Vec<_>>(), vec![wrench, hat]);
        let cheap = store.catalog().list_products(&ProductFilter { max_price_fen: Some(2400), price_level: Some(level), limit: 10, ..Default::default() }).await?;
        assert_eq!(cheap.iter().map(|p| p.id.get()).collect::<Vec<_>>(), vec![wrench], "at his level the wrench costs 2400");

        let first_sku = loaded.skus.first().map_or(0, |s| s.id.get());
        assert!(store.catalog().replace_sku(first_sku, &NewSku {attributes: Default::default(),  level_prices: vec![], breaks: vec![], ..sku(1999, Some("690003")) }, NOW + 1).await?);
        let replaced = store.catalog().product(hat).await?.ok_or_else(|| anyhow::anyhow!("hat missing"))?;
        assert_eq!(replaced.skus.first().map(|s| (s.price_fen, s.level_prices.len(), s.barcode.clone())), Some((1999, 0, Some("690003".to_owned()))));
        assert!(matches!(store.catalog().replace_sku(first_sku, &sku(1, Some("690002")), NOW).await, Err(StoreError::Conflict(_))), "barcodes stay unique");
        assert!(!store.catalog().replace_sku(9999, &sku(1, None), NOW).await?);

        assert!(store.catalog().update_product(hat, &ProductChanges { on_shelf: Some(false), ..Default::default() }, NOW).await?);
        let shelf = store.catalog().list_products(&ProductFilter { on_shelf: Some(true), limit: 10, ..Default::default() }).await?;
        assert_eq!(shelf.iter().map(|p| p.id.get()).collect::<Vec<_>>(), vec![wrench]);
        Ok(())
    })
    .await
}
on_both_backends!(
    catalogue_sqlite,
    catalogue_postgres,
    catalogue_products_prices_and_filters
);

/// Instances sharing one PostgreSQL database keep cached products and sessions (see
/// `store::cache`): a write through one is seen through the other without waiting for any
/// expiry. (An SQLite file belongs to one process; its writes clear the cache directly, which
/// the catalogue story above shows.)
#[tokio::test]
async fn postgres_instances_tell_each_other_what_changed() -> anyhow::Result<()> {
    use pifa::catalog::Unit;
    use pifa::catalog::storage::{NewProduct, NewSku, ProductChanges};
    let Some(database) = TestDatabase::create(Backend::Postgres).await? else {
        return Ok(());
    };
    let writer = Store::open(&database.url).await?;
    let reader = Store::open(&database.url).await?;
    let listener = reader.follow_changes();
    let unit = writer
        .catalog()
        .insert_unit(
            &Unit {
                id: 0,
                item_unit: "个".into(),
                inner_qty: 1,
                inner_unit: "个".into(),
                outer_qty: 1,
                outer_unit: "个".into(),
            },
            NOW,
        )
        .await?;
    let sku = NewSku {
        attributes: Default::default(),
        model: String::new(),
        spec: String::new(),
        price_fen: 2800,
        cost_fen: None,
        stock: 10,
        allow_backorder: false,
        low_stock_threshold: None,
        weight_g: None,
        barcode: None,
        level_prices: vec![],
        breaks: vec![],
    };
    let hat = writer
        .catalog()
        .insert_product(
            &NewProduct {
                tag_ids: Default::default(),
                item_no: "AQM-001".into(),
                name: "安全帽".into(),
                description: String::new(),
                brand_id: None,
                category_id: None,
                supplier_id: None,
                unit_id: unit,
                on_shelf: true,
                skus: vec![sku],
            },
            NOW,
        )
        .await?;
    let user = writer
        .accounts()
        .insert_user(&member("13900000001", None), NOW)
        .await?;
    let session = writer
        .accounts()
        .create_session(user, SessionKind::Bearer, &ClientInfo::default(), NOW)
        .await?;

    // The reader caches both …
    let name_seen = async |store: &Store| {
        Ok::<_, anyhow::Error>(store.catalog().product(hat).await?.map(|p| p.name))
    };
    assert_eq!(name_seen(&reader).await?.as_deref(), Some("安全帽"));
    assert!(
        reader
            .accounts()
            .session_owner(&session.token, NOW)
            .await?
            .is_some()
    );
    // … the writer changes them …
    writer
        .catalog()
        .update_product(
            hat,
            &ProductChanges {
                name: Some("加厚安全帽".into()),
                ..Default::default()
            },
            NOW,
        )
        .await?;
    writer.accounts().delete_session(&session.token).await?;
    // … and the reader learns it from the database's message, not from an expiry.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let name = name_seen(&reader).await?;
        let signed_in = reader
            .accounts()
            .session_owner(&session.token, NOW)
            .await?
            .is_some();
        if name.as_deref() == Some("加厚安全帽") && !signed_in {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the reader still sees {name:?}, signed in: {signed_in}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    if let Some(listener) = listener {
        listener.abort();
    }
    writer.close().await;
    reader.close().await;
    database.drop_database().await;
    Ok(())
}
