//! Member lifecycle over HTTP (B1, B7): profile completion with real photos, refusals that leave
//! no file and no row behind, review by staff, the member told in his inbox, his address book.

use pifa_e2e::pifa_demo::{ADMIN, MANAGER_HAIKOU, MANAGER_SANYA, MEMBER, SERVICE};
use pifa_e2e::{
    Backend, TINY_PNG, TestApp, error_code, eventually, on_both_backends, profile_form, tiny_jpeg,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;

async fn ids(app: &TestApp) -> anyhow::Result<(i64, i64, i64)> {
    let regions = app.store.regions().list_regions().await?;
    let haikou = regions
        .iter()
        .find(|r| r.name == "海口")
        .map_or(0, |r| r.id);
    let manager = app
        .store
        .accounts()
        .user_id_by_phone(MANAGER_HAIKOU)
        .await?
        .unwrap_or_default();
    let silver = app
        .store
        .members()
        .list_levels()
        .await?
        .iter()
        .find(|l| l.name == "银牌会员")
        .map_or(0, |l| l.id);
    Ok((haikou, manager, silver))
}

async fn profile_review_and_approval(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let (haikou, manager, silver) = ids(&app).await?;
    let member = app.new_member("13912345678").await?;
    let (_, profile) = app.get("/api/v1/me/profile", Some(&member)).await?;
    assert_eq!(profile["member_state"], "authorised");

    let big = [tiny_jpeg(), vec![0u8; 8 * 1024 * 1024]].concat();
    let members_before = app.store.count_rows("members").await?;
    let mut bad_form = profile_form(haikou, &[("shop_photo", TINY_PNG), ("licence", TINY_PNG)]);
    bad_form = bad_form.text("contact_phone", "12345");
    for (form, code, field) in [
        (
            profile_form(
                haikou,
                &[
                    ("shop_photo", b"just text, not an image"),
                    ("licence", TINY_PNG),
                ],
            ),
            "invalid_image",
            "shop_photo",
        ),
        (
            profile_form(haikou, &[("shop_photo", TINY_PNG), ("licence", &big)]),
            "image_too_large",
            "licence",
        ),
        (
            profile_form(haikou, &[("shop_photo", TINY_PNG)]),
            "invalid_image",
            "licence",
        ),
        (
            profile_form(9999, &[("shop_photo", TINY_PNG), ("licence", TINY_PNG)]),
            "unknown_region",
            "region_id",
        ),
        (bad_form, "invalid_phone", "contact_phone"),
    ] {
        let (status, body) = app.put_profile(&member, form).await?;
        assert_eq!(
            (
                status.as_u16(),
                error_code(&body),
                body["error"]["field"].as_str()
            ),
            (422, code, Some(field)),
            "{body}"
        );
        assert!(
            app.upload_files().is_empty(),
            "a refused form leaves no file: {:?}",
            app.upload_files()
        );
        assert_eq!(app.store.count_rows("uploads").await?, 0);
        assert_eq!(app.store.count_rows("members").await?, members_before);
    }

    let (status, profile) = app
        .put_profile(
            &member,
            profile_form(
                haikou,
                &[("shop_photo", &tiny_jpeg()), ("licence", TINY_PNG)],
            ),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(profile["member_state"], "profile_complete");
    assert_eq!(app.upload_files().len(), 2);
    let licence_url = profile["licence_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let own = app
        .client
        .get(app.url(&licence_url))
        .bearer_auth(&member)
        .send()
        .await?;
    assert_eq!(
        own.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/png")
    );
    assert!(
        pifa_e2e::images::same_picture(&own.bytes().await?, TINY_PNG)?,
        "the licence comes back as the same picture"
    );
    let haikou_manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let sanya_manager = app.login(MANAGER_SANYA, PASSWORD).await?;
    let other_member = app.login(MEMBER, PASSWORD).await?;
    assert_eq!(
        app.get(&licence_url, Some(&haikou_manager)).await?.0,
        StatusCode::OK,
        "his region's manager may look"
    );
    assert_eq!(
        app.get(&licence_url, Some(&sanya_manager)).await?.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&licence_url, Some(&other_member)).await?.0,
        StatusCode::NOT_FOUND
    );

    // Review: customer service approves with level, region and manager in one step.
    let service = app.login(SERVICE, PASSWORD).await?;
    let (_, waiting) = app
        .get(
            "/api/v1/admin/members?state=profile_complete",
            Some(&service),
        )
        .await?;
    let id = waiting[0]["id"].as_i64().unwrap_or_default();
    assert_eq!(waiting[0]["shop_name"], "琼海兴业五金店");
    let sanya_manager_id = app
        .store
        .accounts()
        .user_id_by_phone(MANAGER_SANYA)
        .await?
        .unwrap_or_default();
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/members/{id}/approve"),
            Some(&service),
            &json!({ "level_id": silver, "region_id": haikou, "manager_id": sanya_manager_id }),
        )
        .await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (422, "invalid_manager"),
        "a 三亚 manager does not serve 海口"
    );
    // A manager reviews his own customers only (issue 19): 三亚's does not find a 海口 dealer.
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/members/{id}/approve"),
            Some(&sanya_manager),
            &json!({ "region_id": haikou }),
        )
        .await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (404, "not_found"),
        "another region's manager does not approve"
    );
    let (status, approved) = app
        .post(
            &format!("/api/v1/admin/members/{id}/approve"),
            Some(&service),
            &json!({ "level_id": silver, "region_id": haikou, "manager_id": manager }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(
        (
            approved["member_state"].as_str(),
            approved["level_id"].as_i64(),
            approved["manager_id"].as_i64()
        ),
        (Some("approved"), Some(silver), Some(manager))
    );
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/members/{id}/approve"),
            Some(&service),
            &json!({ "region_id": haikou }),
        )
        .await?;
    assert_eq!((status.as_u16(), error_code(&body)), (409, "invalid_state"));

    // He is told by the notification rules, by SMS and in his inbox (K1), and now sees his
    // price.
    const APPROVED: &str = "您的账号已通过审核，请刷新小程序，可获得内部批发价格。";
    eventually("the approval notice in his inbox", || async {
        let (_, inbox) = app.get("/api/v1/me/inbox", Some(&member)).await?;
        Ok((inbox[0]["body"] == APPROVED).then_some(()))
    })
    .await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let (_, sms) = app
        .get(
            "/api/v1/admin/messages?channel=sms&recipient=13912345678",
            Some(&admin),
        )
        .await?;
    assert_eq!(sms[0]["body"], APPROVED);
    assert_eq!(sms[0]["template"], "SMS_000000001");
    let (_, products) = app.get("/api/v1/products", Some(&member)).await?;
    assert_eq!(products[0]["prices_visible"], true);

    // A new licence after approval waits for staff (issue 15): the approved one stays in force
    // until the change is approved, and then the old file goes instead of piling up.
    let (status, profile) = app
        .put_profile(&member, profile_form(haikou, &[("licence", &tiny_jpeg())]))
        .await?;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(
        profile["member_state"], "approved",
        "editing the profile keeps the approval"
    );
    assert_eq!(profile["licence_url"], licence_url.as_str());
    assert!(
        profile["pending_change"]["licence_url"].is_string(),
        "{profile}"
    );
    assert_eq!(app.upload_files().len(), 3);
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/members/{id}/profile-change/approve"),
            Some(&service),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.upload_files().len(), 2);
    assert_eq!(
        app.get(&licence_url, Some(&member)).await?.0,
        StatusCode::NOT_FOUND,
        "the old licence is gone"
    );
    app.stop().await
}
on_both_backends!(
    member_review_sqlite,
    member_review_postgres,
    profile_review_and_approval
);

/// Issue 15, item 1: what staff decided at approval stays staff's. An approved member cannot
/// move himself to another region (it sets his prices and who serves him), and a new shop
/// name or licence waits for review while the approved ones stay in force.
async fn an_approved_member_keeps_what_staff_decided(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let regions = app.store.regions().list_regions().await?;
    let region = |name: &str| regions.iter().find(|r| r.name == name).map_or(0, |r| r.id);
    let (haikou, qionghai) = (region("海口"), region("琼海"));
    let member = app.login(MEMBER, PASSWORD).await?;
    let service = app.login(SERVICE, PASSWORD).await?;
    let (_, before) = app.get("/api/v1/me/profile", Some(&member)).await?;
    assert_eq!(
        (
            before["member_state"].as_str(),
            before["region_id"].as_i64()
        ),
        (Some("approved"), Some(haikou))
    );
    let rows_before = app.row_counts().await?;

    let photos: [(&str, &[u8]); 2] = [("shop_photo", TINY_PNG), ("licence", TINY_PNG)];
    let (status, body) = app
        .put_profile(&member, profile_form(qionghai, &photos))
        .await?;
    assert_eq!(
        (
            status.as_u16(),
            error_code(&body),
            body["error"]["field"].as_str()
        ),
        (403, "set_by_staff", Some("region_id")),
        "{body}"
    );
    assert_eq!(app.row_counts().await?, rows_before, "nothing was written");
    assert!(app.upload_files().is_empty());
    let (_, after) = app.get("/api/v1/me/profile", Some(&member)).await?;
    assert_eq!(after["region_id"].as_i64(), Some(haikou));

    // His own region (or none at all) passes; the new shop name and photos wait for review.
    let form = profile_form(haikou, &photos).text("shop_name", "别家五金批发部");
    let (status, profile) = app.put_profile(&member, form).await?;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(profile["member_state"], "approved");
    assert_eq!(profile["shop_name"], before["shop_name"], "{profile}");
    assert_eq!(profile["pending_change"]["shop_name"], "别家五金批发部");
    assert_eq!(
        profile["wechat_id"], "qian_wujin",
        "contact details change at once"
    );
    let (_, waiting) = app
        .get("/api/v1/admin/members?pending_change=true", Some(&service))
        .await?;
    let id = waiting[0]["id"].as_i64().unwrap_or_default();
    assert_eq!(waiting[0]["phone"], MEMBER, "{waiting}");
    assert_eq!(waiting[0]["pending_change"]["shop_name"], "别家五金批发部");
    let pending_licence = waiting[0]["pending_change"]["licence_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        app.get(&pending_licence, Some(&member)).await?.0,
        StatusCode::OK
    );

    // Staff turn it down: nothing of it stays, and he reads why.
    let (status, decided) = app
        .post(
            &format!("/api/v1/admin/members/{id}/profile-change/reject"),
            Some(&service),
            &json!({ "reason": "店名与执照不一致" }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert!(decided["pending_change"].is_null());
    assert_eq!(decided["shop_name"], before["shop_name"]);
    assert_eq!(
        app.get(&pending_licence, Some(&member)).await?.0,
        StatusCode::NOT_FOUND
    );
    let (_, profile) = app.get("/api/v1/me/profile", Some(&member)).await?;
    assert_eq!(profile["change_reject_reason"], "店名与执照不一致");
    app.inbox_with(&member, "店名与执照不一致").await?;
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/members/{id}/profile-change/approve"),
            Some(&service),
            &json!({}),
        )
        .await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (409, "no_pending_change")
    );

    // Without a region the form keeps his; an approved change takes effect.
    let form = reqwest::multipart::Form::new()
        .text("shop_name", "赵氏五金")
        .text("contact_name", "赵老板")
        .text("contact_phone", MEMBER)
        .text("province", "海南省")
        .text("city", "海口市")
        .text("district", "龙华区")
        .text("address", "金盘路 18 号")
        .text("wechat_id", "zhao_wujin");
    let (status, profile) = app.put_profile(&member, form).await?;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(profile["region_id"].as_i64(), Some(haikou));
    let (status, decided) = app
        .post(
            &format!("/api/v1/admin/members/{id}/profile-change/approve"),
            Some(&service),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(
        (
            decided["shop_name"].as_str(),
            decided["company_name"].as_str()
        ),
        (Some("赵氏五金"), Some("赵氏五金"))
    );
    app.inbox_with(&member, "资料变更已通过审核").await?;
    app.stop().await
}
on_both_backends!(
    approved_member_keeps_staff_decisions_sqlite,
    approved_member_keeps_staff_decisions_postgres,
    an_approved_member_keeps_what_staff_decided
);

async fn rejection_names_the_reason_and_allows_a_new_try(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let (haikou, _, _) = ids(&app).await?;
    let member = app.new_member("13912345679").await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let (_, me) = app.get("/api/v1/me", Some(&member)).await?;
    let id = me["id"].as_i64().unwrap_or_default();
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/members/{id}/reject"),
            Some(&admin),
            &json!({ "reason": "营业执照不清晰" }),
        )
        .await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (409, "invalid_state"),
        "nothing to review before the profile"
    );
    app.put_profile(
        &member,
        profile_form(haikou, &[("shop_photo", TINY_PNG), ("licence", TINY_PNG)]),
    )
    .await?;
    let (status, rejected) = app
        .post(
            &format!("/api/v1/admin/members/{id}/reject"),
            Some(&admin),
            &json!({ "reason": "营业执照不清晰" }),
        )
        .await?;
    assert_eq!(
        (status, rejected["member_state"].as_str()),
        (StatusCode::OK, Some("rejected"))
    );
    let (_, inbox) = app.get("/api/v1/me/inbox", Some(&member)).await?;
    assert!(
        inbox[0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("营业执照不清晰")),
        "{inbox}"
    );
    let (_, profile) = app.get("/api/v1/me/profile", Some(&member)).await?;
    assert_eq!(profile["reject_reason"], "营业执照不清晰");
    // A new try without new photos keeps the old ones and waits for review again.
    let (status, profile) = app.put_profile(&member, profile_form(haikou, &[])).await?;
    assert_eq!(
        (status, profile["member_state"].as_str()),
        (StatusCode::OK, Some("profile_complete")),
        "{profile}"
    );
    app.stop().await
}
on_both_backends!(
    member_rejection_sqlite,
    member_rejection_postgres,
    rejection_names_the_reason_and_allows_a_new_try
);

#[tokio::test]
async fn the_address_book_keeps_one_default_and_is_private() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let (_, book) = app.get("/api/v1/me/addresses", Some(&member)).await?;
    assert_eq!(book.as_array().map(Vec::len), Some(1));
    let first = book[0]["id"].as_i64().unwrap_or_default();
    let address = json!({ "province": "海南省", "city": "三亚市", "district": "吉阳区", "detail": "迎宾路 1 号", "contact_name": "赵老板", "phone": "13900000001", "is_default": true });
    let (status, book) = app
        .post("/api/v1/me/addresses", Some(&member), &address)
        .await?;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        book.as_array()
            .map(|b| b.iter().filter(|a| a["is_default"] == true).count()),
        Some(1)
    );
    assert_eq!(book[0]["city"], "三亚市", "the new default comes first");
    let (status, body) = app.post("/api/v1/me/addresses", Some(&member), &json!({ "province": "海南省", "city": "", "district": "x", "detail": "x", "contact_name": "x", "phone": "13900000001" })).await?;
    assert_eq!(
        (
            status.as_u16(),
            error_code(&body),
            body["error"]["field"].as_str()
        ),
        (422, "invalid_input", Some("city"))
    );

    let stranger = app.new_member("13912345670").await?;
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/me/addresses/{first}"),
            Some(&stranger),
            Some(&address),
        )
        .await?;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "someone else's address is not found"
    );
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/me/addresses/{first}"),
            Some(&stranger),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.store
            .members()
            .addresses(
                app.store
                    .accounts()
                    .user_id_by_phone(MEMBER)
                    .await?
                    .unwrap_or_default()
            )
            .await?
            .len(),
        2
    );

    let default = book[0]["id"].as_i64().unwrap_or_default();
    let (status, book) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/me/addresses/{default}"),
            Some(&member),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (book[0]["id"].as_i64(), book[0]["is_default"].as_bool()),
        (Some(first), Some(true)),
        "the remaining address becomes the default"
    );
    app.stop().await
}
