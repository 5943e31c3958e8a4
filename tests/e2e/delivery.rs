//! Messages reach the outside (K1, K2), asserted at local fakes speaking the providers'
//! protocols (`pifa_e2e::fakes`): the seeds' notification flow with K1's exact texts and
//! template parameters; messages wait while the SMS provider is down and go out when it is
//! back; a refused message is dead until staff send it again; and a server killed with
//! SIGKILL while sending resends every message, with its own id as the SMS `OutId`.

use std::collections::{BTreeMap, BTreeSet};

use pifa::channels::{AliyunSms, Providers, Wechat};
use pifa::notify::MessageQuery;
use pifa_e2e::fakes::{FakeSms, FakeWechat, ReceivedSms};
use pifa_e2e::pifa_demo::*;
use pifa_e2e::process::{login, seed_fixture, spawn};
use pifa_e2e::{Backend, TestApp, TestDatabase, error_code, eventually, on_both_backends};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;
const HARD_HAT: &str = "6901234500011";
const MEMBER_OPENID: &str = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M";

struct World {
    app: TestApp,
    sms: FakeSms,
    wechat: FakeWechat,
}

async fn world(backend: Backend) -> anyhow::Result<Option<World>> {
    let sms = FakeSms::start().await?;
    let wechat = FakeWechat::start().await?;
    let providers = Providers {
        sms: Some(AliyunSms::new(sms.config()?)?),
        wechat: Some(Wechat::new(wechat.config()?)?),
        email: None,
    };
    let Some(app) = TestApp::with_providers(backend, providers).await? else {
        return Ok(None);
    };
    Ok(Some(World { app, sms, wechat }))
}

fn order_body(sku: i64) -> Value {
    json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery",
            "lines": [{ "sku_id": sku, "qty": 10 }] })
}

async fn place(app: &TestApp, token: &str, key: &str) -> anyhow::Result<(i64, String)> {
    let sku = app.sku_id(HARD_HAT).await?;
    let (status, order, _) = app.place_order(token, key, &order_body(sku)).await?;
    anyhow::ensure!(status == StatusCode::CREATED, "{order}");
    Ok((
        order["id"].as_i64().unwrap_or_default(),
        order["number"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// The SMS the fake accepted for `phone` with `template`, once one came.
async fn sms_to(sms: &FakeSms, phone: &str, template: &str) -> anyhow::Result<ReceivedSms> {
    eventually(&format!("an SMS {template} to {phone}"), || async {
        Ok(sms
            .received()
            .await
            .into_iter()
            .find(|r| r.phone_numbers == phone && r.template_code == template))
    })
    .await
}

/// The WeChat message the fake accepted with `template`, once one came.
async fn wechat_with(
    wechat: &FakeWechat,
    template: &str,
) -> anyhow::Result<pifa_e2e::fakes::ReceivedWechat> {
    eventually(&format!("a WeChat message {template}"), || async {
        Ok(wechat
            .received()
            .await
            .into_iter()
            .find(|w| w.template_id == template))
    })
    .await
}

/// The new-order SMS to 陈经理 in the log, if it is there yet.
async fn manager_sms(app: &TestApp) -> anyhow::Result<Option<pifa::notify::MessageView>> {
    stored(
        app,
        pifa::channels::Channel::Sms,
        MANAGER_HAIKOU,
        "SMS_000000002",
    )
    .await
}

/// The stored message of `channel` to `recipient` with `template`, once there is one.
async fn logged(
    app: &TestApp,
    channel: pifa::channels::Channel,
    recipient: &str,
    template: &str,
) -> anyhow::Result<pifa::notify::MessageView> {
    eventually(
        &format!("a {template} message to {recipient} in the log"),
        || stored(app, channel, recipient, template),
    )
    .await
}

async fn stored(
    app: &TestApp,
    channel: pifa::channels::Channel,
    recipient: &str,
    template: &str,
) -> anyhow::Result<Option<pifa::notify::MessageView>> {
    let messages = app
        .store
        .messages()
        .list_messages(&MessageQuery {
            channel: Some(channel),
            recipient: Some(recipient.to_owned()),
            ..Default::default()
        })
        .await?;
    Ok(messages.into_iter().find(|m| m.template == template))
}

/// The seeds' flow, each step by its own role, K1's texts and parameters checked where they
/// arrive: a new order by SMS to the member's bound manager (else the region's managers, else
/// the customer service set in the settings); the member's confirmation and dispatch notices
/// by WeChat; the driver's notice by SMS.
async fn seed_flow_reaches_the_providers(backend: Backend) -> anyhow::Result<()> {
    let Some(World { app, sms, wechat }) = world(backend).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let driver = app.login(DRIVER_HAIKOU, PASSWORD).await?;
    let member_id = app
        .store
        .accounts()
        .user_id_by_phone(MEMBER)
        .await?
        .unwrap_or_default();
    let driver_id = app
        .store
        .accounts()
        .user_id_by_phone(DRIVER_HAIKOU)
        .await?
        .unwrap_or_default();
    app.store
        .accounts()
        .bind_identity(member_id, "wechat", MEMBER_OPENID, app.clock.now_ms())
        .await?;

    // 1. The member orders: his bound manager 陈经理 gets K1's SMS.
    let (id, number) = place(&app, &member, "seed-1").await?;
    let text = format!("有新订单{number}，请尽快登录小程序业务管理查看处理。");
    let new_order = sms_to(&sms, MANAGER_HAIKOU, "SMS_000000002").await?;
    assert_eq!(new_order.template_param, json!({ "order_no": number }));
    assert_eq!(new_order.sign_name, FakeSms::SIGN_NAME);
    let stored = logged(
        &app,
        pifa::channels::Channel::Sms,
        MANAGER_HAIKOU,
        "SMS_000000002",
    )
    .await?;
    assert_eq!(stored.body, text);
    assert_eq!(
        new_order.out_id,
        Some(stored.id.to_string()),
        "OutId is the message id"
    );
    eventually("the SMS recorded as sent", || async {
        let m = manager_sms(&app).await?;
        Ok(m.filter(|m| m.state == "sent" && m.provider_ref.is_some())
            .map(drop))
    })
    .await?;
    // The region's driver and the admins read it in the inbox, not by SMS; the manager too.
    app.inbox_with(&driver, &text).await?;
    app.inbox_with(&app.login(ADMIN, PASSWORD).await?, &text)
        .await?;
    app.inbox_with(&manager, &text).await?;
    assert!(
        !sms.received()
            .await
            .iter()
            .any(|r| r.phone_numbers == DRIVER_HAIKOU),
        "the driver has no SMS for a new order"
    );

    // 2. The manager confirms: the member's WeChat notice.
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(&manager),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let confirmed = wechat_with(&wechat, "wx-order-confirmed").await?;
    assert_eq!(confirmed.touser, MEMBER_OPENID);
    assert_eq!(confirmed.data, json!({ "order_no": { "value": number } }));
    app.inbox_with(&member, &format!("订单确认通知: {number}"))
        .await?;

    // 3. He gives it to the 海口 driver: the driver's SMS.
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/dispatch"),
            Some(&manager),
            &json!({ "method": "driver", "driver_id": driver_id }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let assigned = sms_to(&sms, DRIVER_HAIKOU, "SMS_000000003").await?;
    assert_eq!(assigned.template_param, json!({ "order_no": number }));
    let stored = logged(
        &app,
        pifa::channels::Channel::Sms,
        DRIVER_HAIKOU,
        "SMS_000000003",
    )
    .await?;
    assert_eq!(
        stored.body,
        format!("您的订单{number}待送货，请及时办理出库和送货。")
    );

    // 4. The driver sets off: the member's dispatch notice.
    let (status, body) = app
        .post(
            &format!("/api/v1/driver/orders/{id}/start"),
            Some(&driver),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sent = wechat_with(&wechat, "wx-order-dispatched").await?;
    assert_eq!(sent.data, json!({ "order_no": { "value": number } }));
    app.inbox_with(
        &member,
        &format!("您的订单{number}正在发货中，司机或物流信息可在“待收货”中查看。"),
    )
    .await?;

    // A member with no bound manager: the managers of his region (三亚: 林经理).
    let regions = app.store.regions().list_regions().await?;
    let region = |name: &str| regions.iter().find(|r| r.name == name).map(|r| r.id);
    let others = app.approved_members(2).await?;
    let now = app.clock.now_ms();
    let sanya_member = app
        .store
        .accounts()
        .user_id_by_phone("13700000000")
        .await?
        .unwrap_or_default();
    app.store
        .members()
        .set_standing(
            sanya_member,
            pifa::accounts::MemberState::Approved,
            None,
            region("三亚"),
            now,
        )
        .await?;
    let (_, sanya_number) = place(&app, &others[0], "seed-2").await?;
    let to_region = sms_to(&sms, MANAGER_SANYA, "SMS_000000002").await?;
    assert_eq!(
        to_region.template_param,
        json!({ "order_no": sanya_number })
    );

    // A region without managers: the customer service set in the settings.
    let admin = app.login(ADMIN, PASSWORD).await?;
    let (status, wenchang) = app
        .post(
            "/api/v1/admin/regions",
            Some(&admin),
            &json!({ "name": "文昌" }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{wenchang}");
    let wenchang_member = app
        .store
        .accounts()
        .user_id_by_phone("13700000001")
        .await?
        .unwrap_or_default();
    app.store
        .members()
        .set_standing(
            wenchang_member,
            pifa::accounts::MemberState::Approved,
            None,
            wenchang["id"].as_i64(),
            now,
        )
        .await?;
    let (_, wenchang_number) = place(&app, &others[1], "seed-3").await?;
    let to_service = sms_to(&sms, SERVICE, "SMS_000000002").await?;
    assert_eq!(
        to_service.template_param,
        json!({ "order_no": wenchang_number })
    );
    app.stop().await
}

/// K2: with the SMS provider down, a message waits (failed, due again after its back-off) and
/// goes out once when the provider is back; one refused for good is dead, shown in the
/// delivery log with the provider's reason, until staff send it again.
async fn messages_wait_for_the_provider(backend: Backend) -> anyhow::Result<()> {
    let Some(World { app, sms, .. }) = world(backend).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    sms.set_down(true);
    let (_, number) = place(&app, &member, "down-1").await?;
    let waiting = eventually("the SMS failed once", || async {
        let m = manager_sms(&app).await?;
        Ok(m.filter(|m| m.state == "failed"))
    })
    .await?;
    assert_eq!(waiting.attempts, 1);
    assert!(waiting.next_attempt_at.is_some());
    assert!(
        waiting
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("ServiceUnavailable"),
        "{:?}",
        waiting.last_error
    );
    assert!(sms.received().await.is_empty());

    sms.set_down(false);
    // Past the first back-off (5 s) on the kernel clock.
    app.clock.advance_ms(6_000);
    let arrived = sms_to(&sms, MANAGER_HAIKOU, "SMS_000000002").await?;
    assert_eq!(arrived.template_param, json!({ "order_no": number }));
    assert_eq!(arrived.out_id, Some(waiting.id.to_string()));
    eventually("sent on the second attempt", || async {
        let m = manager_sms(&app).await?;
        Ok(m.filter(|m| m.state == "sent" && m.attempts == 2).map(drop))
    })
    .await?;
    assert_eq!(sms.received().await.len(), 1, "sent once");

    // Refused for good: dead at once, with the provider's code, until staff retry it.
    sms.set_error(Some(("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")))
        .await;
    let (_, second) = place(&app, &member, "down-2").await?;
    let service = app.login(SERVICE, PASSWORD).await?;
    let dead = eventually("the refused SMS dead", || async {
        let (_, log) = app
            .get(
                "/api/v1/admin/messages?channel=sms&state=dead",
                Some(&service),
            )
            .await?;
        Ok(log.as_array().and_then(|l| l.first().cloned()))
    })
    .await?;
    assert_eq!(dead["attempts"], 1);
    assert!(
        dead["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("isv.MOBILE_NUMBER_ILLEGAL"),
        "{dead}"
    );
    sms.set_error(None).await;
    let dead_id = dead["id"].as_i64().unwrap_or_default();
    let (status, retried) = app
        .post(
            &format!("/api/v1/admin/messages/{dead_id}/retry"),
            Some(&service),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{retried}");
    eventually("the retried SMS sent", || async {
        Ok(sms
            .received()
            .await
            .into_iter()
            .find(|r| r.template_param == json!({ "order_no": second })))
    })
    .await?;
    // A sent message is not sent again.
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/messages/{dead_id}/retry"),
            Some(&service),
            &json!({}),
        )
        .await?;
    if status != StatusCode::OK {
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::CONFLICT, "not_retryable")
        );
    }
    eventually("a sent message refuses a retry", || async {
        let (status, body) = app
            .post(
                &format!("/api/v1/admin/messages/{dead_id}/retry"),
                Some(&service),
                &json!({}),
            )
            .await?;
        Ok((status == StatusCode::CONFLICT && error_code(&body) == "not_retryable").then_some(()))
    })
    .await?;
    app.stop().await
}

/// No message lost across a crash: the real server is killed with SIGKILL while the SMS
/// provider holds its answers; after a restart (its clock past the send lease) every message
/// reaches the provider, those in flight a second time with the same `OutId`.
async fn a_killed_sender_loses_nothing(backend: Backend) -> anyhow::Result<()> {
    let Some(database) = TestDatabase::create(backend).await? else {
        return Ok(());
    };
    seed_fixture(&database).await?.close().await;
    let scripts = database.dir().join("scripts");
    std::fs::create_dir_all(&scripts)?;
    std::fs::copy(
        pifa_e2e::shipped_script("notifications.rhai"),
        scripts.join("notifications.rhai"),
    )?;
    let sms = FakeSms::start().await?;
    sms.set_answer_after(3_000);
    let env = |offset_ms: i64| {
        vec![
            ("PIFA_SCRIPTS", scripts.display().to_string()),
            (
                "PIFA_PLUGINS",
                database.dir().join("plugins.toml").display().to_string(),
            ),
            (
                "PIFA_SMS_URL",
                sms.url().map(|u| u.to_string()).unwrap_or_default(),
            ),
            ("PIFA_SMS_KEY_ID", FakeSms::KEY_ID.to_owned()),
            ("PIFA_SMS_KEY_SECRET", FakeSms::KEY_SECRET.to_owned()),
            ("PIFA_SMS_SIGN_NAME", FakeSms::SIGN_NAME.to_owned()),
            ("PIFA_TEST_CLOCK_OFFSET_MS", offset_ms.to_string()),
        ]
    };
    let server = spawn(&database, &["--test-clock"], &env(0)).await?;
    let client = reqwest::Client::new();
    let member = login(&client, &server.base, MEMBER).await?;
    let store = pifa::store::Store::open(&database.url).await?;
    let sku = *store
        .orders()
        .skus_by_codes(&[HARD_HAT.to_owned()])
        .await?
        .get(HARD_HAT)
        .and_then(|ids| ids.first())
        .ok_or_else(|| anyhow::anyhow!("no hard hat"))?;
    for n in 0..6 {
        let response = client
            .post(format!("{}/api/v1/orders", server.base))
            .bearer_auth(&member)
            .header("idempotency-key", format!("crash-sms-{n}"))
            .json(&order_body(sku))
            .send()
            .await?;
        anyhow::ensure!(response.status() == StatusCode::CREATED);
    }
    let sms_query = MessageQuery {
        channel: Some(pifa::channels::Channel::Sms),
        ..Default::default()
    };
    // Killed while the provider holds the first texts' answers.
    eventually("texts in flight", || async {
        Ok((!sms.received().await.is_empty()).then_some(()))
    })
    .await?;
    let mut server = server;
    server.child.kill()?;
    server.child.wait()?;
    let in_flight = store
        .messages()
        .list_messages(&sms_query)
        .await?
        .iter()
        .filter(|m| m.state == "sending")
        .count();
    assert!(in_flight > 0, "the kill landed mid-send");

    sms.set_answer_after(0);
    let _restarted = spawn(
        &database,
        &["--test-clock"],
        &env(pifa::notify::sender::LEASE_MS + 1_000),
    )
    .await?;
    let messages = eventually("every text sent after the restart", || async {
        let messages = store.messages().list_messages(&sms_query).await?;
        Ok((messages.len() == 6 && messages.iter().all(|m| m.state == "sent")).then_some(messages))
    })
    .await?;
    let received = sms.received().await;
    let mut by_out_id: BTreeMap<String, Vec<&ReceivedSms>> = BTreeMap::new();
    for text in &received {
        by_out_id
            .entry(text.out_id.clone().unwrap_or_default())
            .or_default()
            .push(text);
    }
    let ids: BTreeSet<String> = messages.iter().map(|m| m.id.to_string()).collect();
    assert_eq!(
        by_out_id.keys().cloned().collect::<BTreeSet<_>>(),
        ids,
        "every message arrived, nothing else"
    );
    let resent: Vec<&Vec<&ReceivedSms>> = by_out_id.values().filter(|t| t.len() > 1).collect();
    assert!(!resent.is_empty(), "those in flight were sent again");
    for texts in resent {
        assert!(
            texts
                .iter()
                .all(|t| t.template_param == texts[0].template_param),
            "a resend is the same text under the same OutId"
        );
    }
    store.close().await;
    Ok(())
}

on_both_backends!(
    seed_flow_sqlite,
    seed_flow_postgres,
    seed_flow_reaches_the_providers
);
on_both_backends!(
    provider_down_sqlite,
    provider_down_postgres,
    messages_wait_for_the_provider
);
on_both_backends!(
    killed_sender_sqlite,
    killed_sender_postgres,
    a_killed_sender_loses_nothing
);
