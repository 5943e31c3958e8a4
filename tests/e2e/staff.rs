//! Staff administration (A6), regions (E1), settings (L3) and the operation log (A5) over HTTP.

use pifa_e2e::pifa_demo::{ADMIN, DRIVER_HAIKOU, MANAGER_SANYA};
use pifa_e2e::{Backend, TestApp, error_code, on_both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;

async fn staff_lifecycle(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let (_, regions) = app.get("/api/v1/regions", None).await?;
    let sanya = regions
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "三亚"))
        .map(|r| r["id"].clone())
        .unwrap_or_default();

    let new_driver = json!({ "name": "吉师傅", "phone": "13800000034", "password": "driver2026", "roles": ["driver"], "region_ids": [sanya], "vehicle_plate": "琼b·7x100" });
    let (status, created) = app
        .post("/api/v1/admin/staff", Some(&admin), &new_driver)
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["vehicle_plate"], "琼B·7X100");
    let id = created["id"].as_i64().unwrap_or_default();

    let before = app.row_counts().await?;
    for (body, status, code, field) in [
        (
            json!({ "name": "x", "phone": "13800000034", "password": "driver2026", "roles": ["driver"] }),
            409,
            "phone_taken",
            "phone",
        ),
        (
            json!({ "name": "x", "phone": "13800000035", "password": "driver2026", "roles": [] }),
            422,
            "invalid_roles",
            "roles",
        ),
        (
            json!({ "name": "x", "phone": "13800000035", "password": "driver2026", "roles": ["member"] }),
            422,
            "invalid_roles",
            "roles",
        ),
        (
            json!({ "name": "x", "phone": "13800000035", "password": "driver2026", "roles": ["pilot"] }),
            422,
            "invalid_input",
            "roles[0]",
        ),
        (
            json!({ "name": "x", "phone": "13800000035", "password": "driver2026", "roles": ["driver"], "region_ids": [999] }),
            422,
            "unknown_region",
            "region_ids",
        ),
        (
            json!({ "name": "x", "phone": "13800000035", "password": "driver2026", "roles": ["driver"], "vehicle_plate": "琼" }),
            422,
            "invalid_input",
            "vehicle_plate",
        ),
    ] {
        let (got, response) = app.post("/api/v1/admin/staff", Some(&admin), &body).await?;
        assert_eq!(
            (
                got.as_u16(),
                error_code(&response),
                response["error"]["field"].as_str()
            ),
            (status, code, Some(field)),
            "{body}"
        );
    }
    let after = app.row_counts().await?;
    assert_eq!(
        before.iter().find(|(t, _)| t == "users"),
        after.iter().find(|(t, _)| t == "users")
    );

    // The 三亚 manager sees the new driver in his team; the driver signs in.
    let manager = app.login(MANAGER_SANYA, PASSWORD).await?;
    let (_, team) = app.get("/api/v1/team?role=driver", Some(&manager)).await?;
    assert!(
        team.as_array()
            .is_some_and(|t| t.iter().any(|s| s["id"] == id)),
        "{team}"
    );
    let driver = app.login("13800000034", "driver2026").await?;

    // Roles and regions change; the change is in the operation log with before and after.
    let (status, updated) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/staff/{id}"),
            Some(&admin),
            Some(&json!({ "roles": ["driver", "verifier"], "vehicle_plate": "" })),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["roles"], json!(["driver", "verifier"]));
    assert_eq!(updated["vehicle_plate"], Value::Null);
    let (_, ops) = app
        .get(
            &format!("/api/v1/admin/audit/operations?target_id={id}&action=staff.update"),
            Some(&admin),
        )
        .await?;
    assert_eq!(
        ops[0]["detail"]["before"]["roles"],
        json!(["driver"]),
        "{ops}"
    );
    assert_eq!(
        ops[0]["detail"]["after"]["roles"],
        json!(["driver", "verifier"])
    );
    assert!(ops[0]["ip"].as_str().is_some_and(|ip| ip == "127.0.0.1"));

    // Disabled: the session ends and sign-in is refused with its own code.
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/staff/{id}/disable"),
            Some(&admin),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/api/v1/me", Some(&driver)).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({ "phone": "13800000034", "password": "driver2026" }),
        )
        .await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (403, "account_disabled")
    );
    app.post(
        &format!("/api/v1/admin/staff/{id}/enable"),
        Some(&admin),
        &json!({}),
    )
    .await?;

    // Password reset by the admin: the old password stops working.
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/staff/{id}/password"),
            Some(&admin),
            &json!({ "new_password": "fresh2026a" }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    app.login("13800000034", "fresh2026a").await?;
    let (status, _) = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({ "phone": "13800000034", "password": "driver2026" }),
        )
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // An admin cannot lock himself out.
    let (_, me) = app.get("/api/v1/me", Some(&admin)).await?;
    let admin_id = me["id"].as_i64().unwrap_or_default();
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/staff/{admin_id}/disable"),
            Some(&admin),
            &json!({}),
        )
        .await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (400, "cannot_disable_self")
    );
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/staff/{admin_id}"),
            Some(&admin),
            Some(&json!({ "roles": ["customer_service"] })),
        )
        .await?;
    assert_eq!((status.as_u16(), error_code(&body)), (422, "invalid_roles"));

    // Members are not staff records.
    let (status, _) = app.get("/api/v1/admin/staff/12", Some(&admin)).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, actions) = app
        .get("/api/v1/admin/audit/operations", Some(&admin))
        .await?;
    let names: Vec<&str> = actions
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["action"].as_str()).collect())
        .unwrap_or_default();
    for action in [
        "staff.create",
        "staff.update",
        "staff.disable",
        "staff.enable",
        "staff.reset_password",
    ] {
        assert!(names.contains(&action), "{action} missing from {names:?}");
    }
    assert!(
        !actions.to_string().contains("fresh2026a") && !actions.to_string().contains("driver2026"),
        "no password in the log"
    );
    app.stop().await
}
on_both_backends!(
    staff_lifecycle_sqlite,
    staff_lifecycle_postgres,
    staff_lifecycle
);

async fn settings_are_validated_field_by_field(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let (status, settings) = app.get("/api/v1/admin/settings", Some(&admin)).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(settings["shop_name"], "安达劳保五金批发");
    assert_eq!(settings["auto_receive_days"], 7);

    let with = |path: &[&str], value: Value| {
        let mut s = settings.clone();
        let mut slot = &mut s;
        for key in path {
            slot = &mut slot[*key];
        }
        *slot = value;
        s
    };
    let driver_id = {
        let (_, staff) = app
            .get("/api/v1/admin/staff?role=driver", Some(&admin))
            .await?;
        staff[0]["id"].clone()
    };
    for (body, code, field) in [
        (
            with(&["shop_name"], json!("")),
            "invalid_setting",
            "shop_name",
        ),
        (
            with(&["shop_mode"], json!("secret")),
            "invalid_input",
            "shop_mode",
        ),
        (
            with(&["payment_methods", "online"], json!(true)),
            "invalid_setting",
            "payment_methods.online",
        ),
        (
            with(&["auto_receive_days"], json!(0)),
            "invalid_setting",
            "auto_receive_days",
        ),
        (
            with(&["fallback_customer_service_id"], driver_id),
            "invalid_setting",
            "fallback_customer_service_id",
        ),
        (
            with(&["delivery", "drone"], json!(true)),
            "invalid_input",
            "delivery.drone",
        ),
    ] {
        let (status, response) = app
            .call(
                Method::PUT,
                "/api/v1/admin/settings",
                Some(&admin),
                Some(&body),
            )
            .await?;
        assert_eq!(
            (
                status.as_u16(),
                error_code(&response),
                response["error"]["field"].as_str()
            ),
            (422, code, Some(field)),
            "{response}"
        );
    }
    let (_, unchanged) = app.get("/api/v1/admin/settings", Some(&admin)).await?;
    assert_eq!(unchanged, settings, "refused updates change nothing");

    let open = with(&["shop_mode"], json!("open"));
    let (status, saved) = app
        .call(
            Method::PUT,
            "/api/v1/admin/settings",
            Some(&admin),
            Some(&open),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (_, shop) = app.get("/api/v1/shop", None).await?;
    assert_eq!(shop["shop_mode"], "open");
    assert!(
        shop.get("bank_account").is_none() && shop.get("fallback_customer_service_id").is_none(),
        "the public view is a subset: {shop}"
    );
    let (_, ops) = app
        .get(
            "/api/v1/admin/audit/operations?action=settings.update",
            Some(&admin),
        )
        .await?;
    assert_eq!(
        ops[0]["detail"],
        json!({ "shop_mode": { "from": "internal", "to": "open" } })
    );
    app.stop().await
}
on_both_backends!(
    settings_sqlite,
    settings_postgres,
    settings_are_validated_field_by_field
);

#[tokio::test]
async fn regions_are_unique_and_managed_by_admins() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let (status, body) = app
        .post(
            "/api/v1/admin/regions",
            Some(&admin),
            &json!({ "name": "海口" }),
        )
        .await?;
    assert_eq!(
        (
            status.as_u16(),
            error_code(&body),
            body["error"]["field"].as_str()
        ),
        (409, "region_taken", Some("name"))
    );
    let (status, created) = app
        .post(
            "/api/v1/admin/regions",
            Some(&admin),
            &json!({ "name": " 文昌 " }),
        )
        .await?;
    assert_eq!(
        (status, created["name"].as_str()),
        (StatusCode::CREATED, Some("文昌"))
    );
    let id = created["id"].as_i64().unwrap_or_default();
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/regions/{id}"),
            Some(&admin),
            Some(&json!({ "name": "三亚" })),
        )
        .await?;
    assert_eq!((status.as_u16(), error_code(&body)), (409, "region_taken"));
    let (status, _) = app
        .call(
            Method::PUT,
            "/api/v1/admin/regions/9999",
            Some(&admin),
            Some(&json!({ "name": "儋州" })),
        )
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, regions) = app.get("/api/v1/regions", None).await?;
    let names: Vec<&str> = regions
        .as_array()
        .map(|r| r.iter().filter_map(|x| x["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, vec!["海口", "三亚", "琼海", "文昌"]);
    // The 海口 driver is not in the 三亚 manager's team.
    let manager = app.login(MANAGER_SANYA, PASSWORD).await?;
    let (_, team) = app.get("/api/v1/team", Some(&manager)).await?;
    assert!(!team.to_string().contains(DRIVER_HAIKOU));
    app.stop().await
}
