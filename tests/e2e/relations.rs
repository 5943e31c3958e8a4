//! Who serves whom over HTTP (B5, A3, B6, B4): invite codes and QR codes, sign-up bindings,
//! promoters seeing only their own customers, rebinding with history, a manager's handover,
//! credit terms, tags, and members added by a verifier.

use pifa_e2e::pifa_demo::{ADMIN, MANAGER_HAIKOU, MANAGER_SANYA, PROMOTER, SERVICE, VERIFIER};
use pifa_e2e::{Backend, TestApp, error_code, on_both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;

async fn sign_up_with(
    app: &TestApp,
    phone: &str,
    invite: &str,
) -> anyhow::Result<(StatusCode, Value)> {
    app.post(
        "/api/v1/auth/codes",
        None,
        &json!({ "purpose": "signup", "phone": phone }),
    )
    .await?;
    let code = app.latest_code_for(phone).await?;
    app.post("/api/v1/auth/signup", None, &json!({ "company_name": "邀请来的店", "contact_name": "孙", "phone": phone, "password": "member2026", "code": code, "invite_code": invite })).await
}

async fn invites_bind_and_scope(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let promoter = app.login(PROMOTER, PASSWORD).await?;
    let (status, invite) = app.get("/api/v1/me/invite", Some(&manager)).await?;
    assert_eq!(status, StatusCode::OK);
    let manager_code = invite["invite_code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(manager_code.len(), 8);
    let (_, again) = app.get("/api/v1/me/invite", Some(&manager)).await?;
    assert_eq!(
        again["invite_code"],
        manager_code.as_str(),
        "the code is stable"
    );
    let qr = app
        .client
        .get(app.url("/api/v1/me/invite/qr.svg"))
        .bearer_auth(&manager)
        .send()
        .await?;
    assert_eq!(
        qr.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/svg+xml")
    );
    assert!(qr.text().await?.contains("<svg"));
    let (_, promoter_invite) = app.get("/api/v1/me/invite", Some(&promoter)).await?;
    let promoter_code = promoter_invite["invite_code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(manager_code, promoter_code);

    let users_before = app.store.count_rows("users").await?;
    let (status, body) = sign_up_with(&app, "13912340001", "NOSUCH23").await?;
    assert_eq!(
        (
            status.as_u16(),
            error_code(&body),
            body["error"]["field"].as_str()
        ),
        (422, "invalid_invite_code", Some("invite_code"))
    );
    assert_eq!(app.store.count_rows("users").await?, users_before);

    let (status, by_manager) =
        sign_up_with(&app, "13912340002", &manager_code.to_lowercase()).await?;
    assert_eq!(status, StatusCode::CREATED, "{by_manager}");
    let (status, by_promoter) = sign_up_with(&app, "13912340003", &promoter_code).await?;
    assert_eq!(status, StatusCode::CREATED);
    let admin = app.login(ADMIN, PASSWORD).await?;
    let manager_id = app
        .store
        .accounts()
        .user_id_by_phone(MANAGER_HAIKOU)
        .await?
        .unwrap_or_default();
    let promoter_id = app
        .store
        .accounts()
        .user_id_by_phone(PROMOTER)
        .await?
        .unwrap_or_default();
    let (_, first) = app
        .get(
            &format!("/api/v1/admin/members/{}", by_manager["id"]),
            Some(&admin),
        )
        .await?;
    assert_eq!(
        (
            first["manager_id"].as_i64(),
            first["promoter_id"].as_i64(),
            first["region_id"].as_i64()
        ),
        (Some(manager_id), None, Some(1)),
        "bound to the manager, in his region"
    );
    let promoted = by_promoter["id"].as_i64().unwrap_or_default();
    let (_, second) = app
        .get(&format!("/api/v1/admin/members/{promoted}"), Some(&admin))
        .await?;
    assert_eq!(
        (
            second["manager_id"].as_i64(),
            second["promoter_id"].as_i64()
        ),
        (Some(manager_id), Some(promoter_id)),
        "a promoter's customer is his manager's too"
    );

    // A promoter sees his own customers only; another promoter's customer is not found.
    let (_, mine) = app.get("/api/v1/admin/members", Some(&promoter)).await?;
    let ids: Vec<i64> = mine
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["id"].as_i64()).collect())
        .unwrap_or_default();
    assert!(
        ids.contains(&promoted) && !ids.contains(&by_manager["id"].as_i64().unwrap_or_default()),
        "{ids:?}"
    );
    app.post("/api/v1/admin/staff", Some(&admin), &json!({ "name": "郑推广", "phone": "13800000022", "password": "promo2026", "roles": ["promoter"], "region_ids": [1] })).await?;
    let other_promoter = app.login("13800000022", "promo2026").await?;
    assert_eq!(
        app.get(
            &format!("/api/v1/admin/members/{promoted}"),
            Some(&other_promoter)
        )
        .await?
        .0,
        StatusCode::NOT_FOUND
    );

    // Customer service moves the customer to another promoter, with a reason kept in history.
    let service = app.login(SERVICE, PASSWORD).await?;
    let other_id = app
        .store
        .accounts()
        .user_id_by_phone("13800000022")
        .await?
        .unwrap_or_default();
    let (status, moved) = app.post(&format!("/api/v1/admin/members/{promoted}/binding"), Some(&service), &json!({ "manager_id": manager_id, "promoter_id": other_id, "reason": "客户要求更换推广经理" })).await?;
    assert_eq!(
        (status, moved["promoter_id"].as_i64()),
        (StatusCode::OK, Some(other_id))
    );
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/members/{promoted}/binding"),
            Some(&service),
            &json!({ "manager_id": promoter_id, "reason": "x" }),
        )
        .await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (422, "invalid_binding"),
        "a promoter is not a manager"
    );
    let (_, history) = app
        .get(
            &format!("/api/v1/admin/members/{promoted}/history"),
            Some(&service),
        )
        .await?;
    let reasons: Vec<(&str, Option<i64>, Option<i64>)> = history
        .as_array()
        .map(|h| {
            h.iter()
                .map(|l| {
                    (
                        l["role"].as_str().unwrap_or(""),
                        l["from_user"].as_i64(),
                        l["to_user"].as_i64(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        reasons,
        vec![
            ("manager", None, Some(manager_id)),
            ("promoter", None, Some(promoter_id)),
            ("promoter", Some(promoter_id), Some(other_id))
        ]
    );
    assert_eq!(history[2]["reason"], "客户要求更换推广经理");
    app.stop().await
}
on_both_backends!(invites_sqlite, invites_postgres, invites_bind_and_scope);

async fn handover_moves_customers_regions_and_promoters(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let leaving = app
        .store
        .accounts()
        .user_id_by_phone(MANAGER_HAIKOU)
        .await?
        .unwrap_or_default();
    let (_, successor) = app.post("/api/v1/admin/staff", Some(&admin), &json!({ "name": "何经理", "phone": "13800000014", "password": "manager2026", "roles": ["manager"] })).await?;
    let successor_id = successor["id"].as_i64().unwrap_or_default();
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/staff/{leaving}/handover"),
            Some(&admin),
            &json!({ "successor_id": leaving, "reason": "离职" }),
        )
        .await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (422, "invalid_binding")
    );
    let (status, counts) = app
        .post(
            &format!("/api/v1/admin/staff/{leaving}/handover"),
            Some(&admin),
            &json!({ "successor_id": successor_id, "reason": "陈经理离职" }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{counts}");
    assert_eq!(
        counts,
        json!({ "customers": 1, "regions": 1, "promoters": 1 })
    );
    let successor_token = app.login("13800000014", "manager2026").await?;
    let (_, me) = app.get("/api/v1/me", Some(&successor_token)).await?;
    assert_eq!(me["region_ids"], json!([1]), "the region moved");
    let (_, customers) = app
        .get("/api/v1/admin/members", Some(&successor_token))
        .await?;
    assert!(
        customers.to_string().contains("13900000001"),
        "赵老板 is his now"
    );
    let old = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let (_, none) = app.get("/api/v1/admin/members", Some(&old)).await?;
    assert!(
        !none.to_string().contains("13900000001"),
        "and no longer the leaver's"
    );
    let member = app
        .store
        .accounts()
        .user_id_by_phone("13900000001")
        .await?
        .unwrap_or_default();
    let (_, history) = app
        .get(
            &format!("/api/v1/admin/members/{member}/history"),
            Some(&admin),
        )
        .await?;
    assert_eq!(
        history.as_array().and_then(|h| h.last()).map(|l| (
            l["from_user"].as_i64(),
            l["to_user"].as_i64(),
            l["reason"].clone()
        )),
        Some((Some(leaving), Some(successor_id), json!("陈经理离职")))
    );
    let sanya = app.login(MANAGER_SANYA, PASSWORD).await?;
    assert_eq!(
        app.post(
            &format!("/api/v1/admin/staff/{leaving}/handover"),
            Some(&sanya),
            &json!({ "successor_id": successor_id, "reason": "x" })
        )
        .await?
        .0,
        StatusCode::FORBIDDEN
    );
    app.stop().await
}
on_both_backends!(
    handover_sqlite,
    handover_postgres,
    handover_moves_customers_regions_and_promoters
);

#[tokio::test]
async fn credit_tags_and_members_added_at_the_store() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let service = app.login(SERVICE, PASSWORD).await?;
    let member = app
        .store
        .accounts()
        .user_id_by_phone("13900000001")
        .await?
        .unwrap_or_default();
    let (status, credit) = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/members/{member}/credit"),
            Some(&service),
            Some(&json!({ "terms": "monthly", "limit_fen": 5_000_000 })),
        )
        .await?;
    assert_eq!(
        (
            status,
            credit["credit_terms"].as_str(),
            credit["credit_limit_fen"].as_i64()
        ),
        (StatusCode::OK, Some("monthly"), Some(5_000_000))
    );
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/members/{member}/credit"),
            Some(&service),
            Some(&json!({ "terms": "monthly", "limit_fen": -1 })),
        )
        .await?;
    assert_eq!((status.as_u16(), error_code(&body)), (422, "invalid_money"));

    let (status, tag) = app
        .post(
            "/api/v1/admin/tags",
            Some(&service),
            &json!({ "name": "大客户" }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = app
        .post(
            "/api/v1/admin/tags",
            Some(&service),
            &json!({ "name": "大客户" }),
        )
        .await?;
    assert_eq!((status.as_u16(), error_code(&body)), (409, "tag_taken"));
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/members/{member}/tags"),
            Some(&service),
            Some(&json!({ "tag_ids": [999] })),
        )
        .await?;
    assert_eq!((status.as_u16(), error_code(&body)), (422, "unknown_tag"));
    app.call(
        Method::PUT,
        &format!("/api/v1/admin/members/{member}/tags"),
        Some(&service),
        Some(&json!({ "tag_ids": [tag["id"]] })),
    )
    .await?;
    let (_, tagged) = app
        .get(
            &format!("/api/v1/admin/members?tag_id={}", tag["id"]),
            Some(&service),
        )
        .await?;
    assert_eq!(
        tagged.as_array().map(|t| t
            .iter()
            .filter_map(|m| m["id"].as_i64())
            .collect::<Vec<_>>()),
        Some(vec![member])
    );

    let verifier = app.login(VERIFIER, PASSWORD).await?;
    let (status, added) = app
        .post(
            "/api/v1/verifier/members",
            Some(&verifier),
            &json!({ "phone": "13912340009", "company_name": "门店新客", "contact_name": "周" }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(
        (added["member_state"].as_str(), added["region_id"].as_i64()),
        (Some("authorised"), Some(1)),
        "in the verifier's region"
    );
    let (status, body) = app
        .post(
            "/api/v1/verifier/members",
            Some(&verifier),
            &json!({ "phone": "13912340009", "company_name": "x", "contact_name": "y" }),
        )
        .await?;
    assert_eq!((status.as_u16(), error_code(&body)), (409, "phone_taken"));
    // He has no password: he signs in with an SMS code.
    app.post(
        "/api/v1/auth/codes",
        None,
        &json!({ "purpose": "login", "phone": "13912340009" }),
    )
    .await?;
    let code = app.latest_code_for("13912340009").await?;
    let (status, _) = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({ "phone": "13912340009", "code": code }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.post(
            "/api/v1/verifier/members",
            Some(&service),
            &json!({ "phone": "13912340010", "company_name": "x", "contact_name": "y" })
        )
        .await?
        .0,
        StatusCode::FORBIDDEN
    );
    app.stop().await
}
