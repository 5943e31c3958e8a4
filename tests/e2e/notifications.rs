//! Notifications (K1–K3, M4): the shipped `notifications.rhai` turns events into messages; the
//! inbox counts and marks what its reader opened; broadcasts reach exactly their audience; an
//! edited rules file changes the next message, a broken one is refused and a failing one
//! reported to the admins. What reaches the outside providers is `channels.rs` and
//! `delivery.rs`.

use pifa_e2e::pifa_demo::*;
use pifa_e2e::{Backend, TestApp, error_code, eventually, on_both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;

const HARD_HAT: &str = "6901234500011";

fn order_body(sku: i64) -> Value {
    json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery",
            "lines": [{ "sku_id": sku, "qty": 10 }] })
}

/// Places an order as the demo member and confirms it as the admin; returns its number.
async fn confirmed_order(
    app: &TestApp,
    member: &str,
    admin: &str,
    key: &str,
) -> anyhow::Result<String> {
    let sku = app.sku_id(HARD_HAT).await?;
    let (status, order, _) = app.place_order(member, key, &order_body(sku)).await?;
    anyhow::ensure!(status == StatusCode::CREATED, "{order}");
    let id = order["id"].as_i64().unwrap_or_default();
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(admin),
            &json!({}),
        )
        .await?;
    anyhow::ensure!(status == StatusCode::OK, "{body}");
    Ok(order["number"].as_str().unwrap_or_default().to_owned())
}

/// The inbox: the badge counts what its reader has not opened; opening one, or all, clears it;
/// another's message cannot be marked (404) and is not shown.
async fn inbox_counts_and_marks(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let first = confirmed_order(&app, &member, &admin, "inbox-1").await?;
    let second = confirmed_order(&app, &member, &admin, "inbox-2").await?;
    let inbox = app
        .inbox_with(&member, &format!("订单确认通知: {second}"))
        .await?;
    assert!(
        inbox
            .to_string()
            .contains(&format!("订单确认通知: {first}")),
        "{inbox}"
    );
    let (_, unread) = app.get("/api/v1/me/inbox/unread", Some(&member)).await?;
    let before = unread["unread"].as_i64().unwrap_or_default();
    assert!(before >= 2, "{unread}");

    let newest = inbox[0]["id"].as_i64().unwrap_or_default();
    assert_eq!(inbox[0]["read"], false);
    let (status, after) = app
        .post(
            &format!("/api/v1/me/inbox/{newest}/read"),
            Some(&member),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after["unread"], before - 1);
    let (_, unopened) = app
        .get("/api/v1/me/inbox?unread=true", Some(&member))
        .await?;
    assert!(
        unopened
            .as_array()
            .is_some_and(|m| m.iter().all(|m| m["id"] != newest)),
        "{unopened}"
    );

    // The manager cannot mark the member's message, nor see it.
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let (status, body) = app
        .post(
            &format!("/api/v1/me/inbox/{newest}/read"),
            Some(&manager),
            &json!({}),
        )
        .await?;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (_, his) = app.get("/api/v1/me/inbox", Some(&manager)).await?;
    assert!(
        his.as_array()
            .is_some_and(|m| m.iter().all(|m| m["id"] != newest))
    );

    let (_, cleared) = app
        .post("/api/v1/me/inbox/read", Some(&member), &json!({}))
        .await?;
    assert_eq!(cleared["unread"], 0);
    app.stop().await
}

/// K3: a broadcast reaches the approved members its audience names and nobody else, on the
/// channels staff chose; an audience nobody is in, or the inbox listed as a channel, is
/// refused naming the field.
async fn broadcasts_reach_their_audience(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let service = app.login(SERVICE, PASSWORD).await?;
    let others = app.approved_members(3).await?;
    let (status, tag) = app
        .post(
            "/api/v1/admin/tags",
            Some(&service),
            &json!({ "name": "展会客户" }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{tag}");
    let tag_id = tag["id"].as_i64().unwrap_or_default();
    let tagged_id = app
        .store
        .accounts()
        .user_id_by_phone("13700000001")
        .await?
        .unwrap_or_default();
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/members/{tagged_id}/tags"),
            Some(&service),
            Some(&json!({ "tag_ids": [tag_id] })),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, sent) = app
        .post(
            "/api/v1/admin/broadcasts",
            Some(&service),
            &json!({ "title": "展会邀请", "text": "12月12日海口会展中心见。",
                     "audience": { "tags": [tag_id] }, "channels": ["sms"] }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["recipients"], 1);
    let text = "【展会邀请】12月12日海口会展中心见。";
    app.inbox_with(&others[1], text).await?;
    let (_, sms) = app
        .get(
            "/api/v1/admin/messages?channel=sms&recipient=13700000001",
            Some(&service),
        )
        .await?;
    assert_eq!(sms[0]["body"], text, "{sms}");
    assert_eq!(sms[0]["template"], "SMS_000000009");
    for token in [&others[0], &others[2]] {
        let (_, inbox) = app.get("/api/v1/me/inbox", Some(token)).await?;
        assert!(
            !inbox.to_string().contains("展会邀请"),
            "not in the audience: {inbox}"
        );
    }
    let member = app.login(MEMBER, PASSWORD).await?;
    let (_, inbox) = app.get("/api/v1/me/inbox", Some(&member)).await?;
    assert!(!inbox.to_string().contains("展会邀请"), "{inbox}");

    // Everyone approved in 海口: the demo member and the three.
    let haikou = app
        .store
        .regions()
        .list_regions()
        .await?
        .into_iter()
        .find(|r| r.name == "海口")
        .map(|r| r.id)
        .unwrap_or_default();
    let (status, sent) = app
        .post(
            "/api/v1/admin/broadcasts",
            Some(&service),
            &json!({ "title": "盘点", "text": "周六盘点，暂停发货。", "audience": { "regions": [haikou] } }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["recipients"], 4);
    app.inbox_with(&member, "【盘点】周六盘点，暂停发货。")
        .await?;

    let sanya = app
        .store
        .regions()
        .list_regions()
        .await?
        .into_iter()
        .find(|r| r.name == "三亚")
        .map(|r| r.id)
        .unwrap_or_default();
    let (status, body) = app
        .post(
            "/api/v1/admin/broadcasts",
            Some(&service),
            &json!({ "title": "盘点", "text": "x", "audience": { "regions": [sanya], "tags": [tag_id] } }),
        )
        .await?;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "empty_audience")
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("audience")
    );
    let (status, body) = app
        .post(
            "/api/v1/admin/broadcasts",
            Some(&service),
            &json!({ "title": "盘点", "text": "x", "audience": {}, "channels": ["inbox"] }),
        )
        .await?;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_channel")
    );
    let (_, listed) = app.get("/api/v1/admin/broadcasts", Some(&service)).await?;
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    app.stop().await
}

/// M4 for the rules: an edited `notifications.rhai` changes the next message; one that does
/// not compile is refused naming line and column, the previous version still serving; one
/// that fails at run time tells the admins where, and the shop goes on.
async fn rules_are_edited_live(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let path = app.scripts_dir().join("notifications.rhai");
    let shipped = std::fs::read_to_string(&path)?;
    // The shipped examples cover new orders and payments, not confirmation: the edit passes.
    let edited = shipped.replace(
        "订单确认通知: ${event.order.no}",
        "您的订单${event.order.no}已确认，感谢惠顾",
    );
    let version = || {
        app.scripts
            .notifications
            .load_full()
            .map(|c| c.version.clone())
    };
    let shipped_version = version();
    std::fs::write(&path, &edited)?;
    eventually("the edited rules serving", || async {
        Ok((version() != shipped_version).then_some(()))
    })
    .await?;
    let number = confirmed_order(&app, &member, &admin, "rules-1").await?;
    app.inbox_with(&member, &format!("您的订单{number}已确认，感谢惠顾"))
        .await?;

    // A syntax error: refused with the place, the edited version keeps serving.
    let serving = version();
    std::fs::write(
        &path,
        edited.replace(
            "fn member_approved(event) {",
            "fn member_approved(event) {\n    let x = ;",
        ),
    )?;
    let error = eventually("the broken rules refused", || async {
        Ok(app.scripts.last_error.lock().ok().and_then(|e| e.clone()))
    })
    .await?;
    assert!(error.starts_with("notifications.rhai:"), "{error}");
    assert_eq!(version(), serving);

    // A run-time error on one kind of event: the admins are told, other events still work.
    std::fs::write(
        &path,
        edited.replace(
            "\"order.confirmed\" => to_member(event,",
            "\"order.confirmed\" => to_member(event.no_such_field.deeper,",
        ),
    )?;
    eventually("the failing rules serving", || async {
        Ok((app
            .scripts
            .last_error
            .lock()
            .ok()
            .and_then(|e| e.clone())
            .is_none()
            && version() != serving)
            .then_some(()))
    })
    .await?;
    confirmed_order(&app, &member, &admin, "rules-2").await?;
    let told = app.inbox_with(&admin, "通知规则出错").await?;
    assert!(told.to_string().contains("notifications.rhai:"), "{told}");
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    app.inbox_with(&manager, "有新订单").await?;

    // Through the admin API: a draft that does not compile is refused with its place and
    // nothing written; a saved one is in the history with who and the diff, and rolls back.
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/admin/scripts/notifications",
            Some(&admin),
            Some(&json!({ "source": "fn notify(event) {\n  let x = ;\n}" })),
        )
        .await?;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "script_invalid")
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("notifications.rhai:2:"),
        "{body}"
    );
    let (status, saved) = app
        .call(
            Method::PUT,
            "/api/v1/admin/scripts/notifications",
            Some(&admin),
            Some(&json!({ "source": shipped, "note": "恢复默认" })),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["error"], Value::Null);
    assert_eq!(saved["serving_version"], json!(shipped_version));
    let (_, history) = app
        .get("/api/v1/admin/scripts/notifications/history", Some(&admin))
        .await?;
    assert_eq!(history[0]["note"], "恢复默认");
    assert!(
        history[0]["diff"]
            .as_str()
            .unwrap_or("")
            .contains("-        \"order.confirmed\" => to_member(event.no_such_field.deeper,"),
        "{history}"
    );
    assert_eq!(
        std::fs::read_to_string(&path)?,
        shipped,
        "the file is the truth"
    );
    app.stop().await
}

on_both_backends!(inbox_sqlite, inbox_postgres, inbox_counts_and_marks);
on_both_backends!(
    broadcasts_sqlite,
    broadcasts_postgres,
    broadcasts_reach_their_audience
);
on_both_backends!(rules_sqlite, rules_postgres, rules_are_edited_live);

/// Issue 15, item 8: a member without a WeChat openid is not a delivery failure. The WeChat
/// message is recorded as `skipped` with the reason (never `dead`, never retried, not in the
/// staff's failures), the inbox copy still reaches him; and a rule that names a fallback
/// channel reaches him there instead.
async fn a_missing_address_is_skipped_or_falls_back(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let number = confirmed_order(&app, &member, &admin, "skip-1").await?;
    let text = format!("订单确认通知: {number}");
    app.inbox_with(&member, &text).await?;
    let wechat = eventually("the WeChat message recorded", || async {
        let (_, list) = app
            .get("/api/v1/admin/messages?channel=wechat", Some(&admin))
            .await?;
        Ok(list
            .as_array()
            .and_then(|m| m.iter().find(|m| m["body"] == text.as_str()).cloned()))
    })
    .await?;
    assert_eq!(wechat["state"], "skipped", "{wechat}");
    assert!(
        wechat["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("未绑定微信")),
        "{wechat}"
    );
    let (_, dead) = app
        .get("/api/v1/admin/messages?state=dead", Some(&admin))
        .await?;
    assert_eq!(dead, json!([]), "nothing failed: {dead}");
    let id = wechat["id"].as_i64().unwrap_or_default();
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/messages/{id}/retry"),
            Some(&admin),
            &json!({}),
        )
        .await?;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "not_retryable")
    );

    // The rules name SMS as the fallback: a member without WeChat is told by SMS.
    let path = app.scripts_dir().join("notifications.rhai");
    let shipped = std::fs::read_to_string(&path)?;
    let with_fallback = shipped.replace(
        "channel: \"wechat\", template: template, params: params, text: text }",
        "channel: \"wechat\", template: template, params: params, text: text,\n        fallback: #{ channel: \"sms\", template: \"SMS_000000010\", params: params } }",
    );
    // Its example of a WeChat message says the same.
    let with_fallback = with_fallback.replace(
        "text: \"支付成功通知: 20261130000007 ¥150.00\" }",
        "text: \"支付成功通知: 20261130000007 ¥150.00\",\n                  fallback: #{ channel: \"sms\", template: \"SMS_000000010\", params: #{ order_no: \"20261130000007\", amount: \"¥150.00\" } } }",
    );
    assert_eq!(
        with_fallback.matches("SMS_000000010").count(),
        2,
        "the shipped to_member changed"
    );
    let version = || {
        app.scripts
            .notifications
            .load_full()
            .map(|c| c.version.clone())
    };
    let before = version();
    std::fs::write(&path, &with_fallback)?;
    eventually("the rules with a fallback serving", || async {
        Ok((version() != before).then_some(()))
    })
    .await?;
    let number = confirmed_order(&app, &member, &admin, "skip-2").await?;
    let text = format!("订单确认通知: {number}");
    let sms = eventually("the fallback SMS", || async {
        let (_, list) = app
            .get(
                &format!("/api/v1/admin/messages?channel=sms&recipient={MEMBER}"),
                Some(&admin),
            )
            .await?;
        Ok(list
            .as_array()
            .and_then(|m| m.iter().find(|m| m["body"] == text.as_str()).cloned()))
    })
    .await?;
    assert_eq!(
        (sms["template"].as_str(), sms["recipient"].as_str()),
        (Some("SMS_000000010"), Some(MEMBER)),
        "{sms}"
    );
    assert_ne!(sms["state"], "skipped", "{sms}");
    let (_, wechat) = app
        .get("/api/v1/admin/messages?channel=wechat", Some(&admin))
        .await?;
    assert!(
        wechat
            .as_array()
            .is_some_and(|m| m.iter().all(|m| m["body"] != text.as_str())),
        "no WeChat message without an openid: {wechat}"
    );
    app.stop().await
}
on_both_backends!(
    missing_address_sqlite,
    missing_address_postgres,
    a_missing_address_is_skipped_or_falls_back
);
