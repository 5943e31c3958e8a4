//! Accounts over HTTP (A4–A6): sign-up with a code read from the staff message list, sign-in by
//! password and by code, forgot password, cookie sessions with CSRF, logout, and every bad
//! input with its stable code and no change to the database.

use pifa_e2e::pifa_demo::{ADMIN, MEMBER};
use pifa_e2e::{Backend, TestApp, error_code, on_both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;

fn signup_body(phone: &str, code: &str) -> Value {
    json!({ "company_name": "海口兴达五金", "contact_name": "赵老板", "phone": phone, "email": "zhao@example.com", "password": "xingda2026", "code": code })
}

async fn signup_then_sign_in_then_profile(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let phone = "13912345678";
    let (status, sent) = app
        .post(
            "/api/v1/auth/codes",
            None,
            &json!({ "purpose": "signup", "phone": phone }),
        )
        .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    assert_eq!(sent["sent_to"], "139****5678");
    let code = app.latest_code_for(phone).await?;
    assert!(
        !sent.to_string().contains(&code),
        "the code never appears in the user's response"
    );

    let (status, profile) = app
        .post("/api/v1/auth/signup", None, &signup_body(phone, &code))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{profile}");
    assert_eq!(
        profile["member_state"], "authorised",
        "a form sign-up lands in the authorised state (B1)"
    );
    assert_eq!(profile["roles"], json!(["member"]));
    assert!(
        !profile.to_string().contains("argon2"),
        "no password hash in responses"
    );

    let token = app.login(phone, "xingda2026").await?;
    let (status, me) = app.get("/api/v1/me", Some(&token)).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            me["phone"].as_str(),
            me["company_name"].as_str(),
            me["name"].as_str()
        ),
        (Some(phone), Some("海口兴达五金"), Some("赵老板"))
    );
    assert_eq!(me["email"], "zhao@example.com");
    assert_eq!(
        me["entries"],
        json!([{ "role": "member", "label": "会员中心" }])
    );
    app.stop().await
}
on_both_backends!(
    signup_flow_sqlite,
    signup_flow_postgres,
    signup_then_sign_in_then_profile
);

async fn bad_sign_ups_are_refused_and_change_nothing(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let phone = "13912345678";
    app.post(
        "/api/v1/auth/codes",
        None,
        &json!({ "purpose": "signup", "phone": phone }),
    )
    .await?;
    let code = app.latest_code_for(phone).await?;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let before = app.row_counts().await?;

    let with = |field: &str, value: Value| {
        let mut body = signup_body(phone, &code);
        body[field] = value;
        body
    };
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (
            with("phone", json!("1391234567")),
            422,
            "invalid_phone",
            "phone",
        ),
        (
            with("phone", json!("23912345678")),
            422,
            "invalid_phone",
            "phone",
        ),
        (
            with("email", json!("zhao@@example")),
            422,
            "invalid_email",
            "email",
        ),
        (
            with("password", json!("short1")),
            422,
            "weak_password",
            "password",
        ),
        (
            with("company_name", json!("  ")),
            422,
            "invalid_input",
            "company_name",
        ),
        // A registered phone is never sent a sign-up code (its owner gets a notice), so a
        // stranger's sign-up with it fails like any wrong code: nothing tells it is taken.
        (with("phone", json!(MEMBER)), 422, "code_invalid", "code"),
        (with("code", json!(wrong)), 422, "code_invalid", "code"),
        (
            json!({ "contact_name": "x" }),
            422,
            "invalid_input",
            "company_name",
        ),
    ];
    for (body, status, code_expected, field) in cases {
        let (got, response) = app.post("/api/v1/auth/signup", None, &body).await?;
        assert_eq!(
            (got.as_u16(), error_code(&response)),
            (status, code_expected),
            "{body} → {response}"
        );
        assert_eq!(response["error"]["field"], field, "{response}");
        assert!(
            response["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // A failed guess is counted (attempts), but no user, role or session was written.
    let after = app.row_counts().await?;
    for ((table, b), (_, a)) in before.iter().zip(after.iter()) {
        if !matches!(
            table.as_str(),
            "verification_codes" | "rate_limits" | "login_log" | "outbox_messages"
        ) {
            assert_eq!(a, b, "table {table} changed after refused sign-ups");
        }
    }
    assert_eq!(
        app.store.count_rows("users").await?,
        before
            .iter()
            .find(|(t, _)| t == "users")
            .map_or(0, |(_, n)| *n)
    );

    // The right code still works after one wrong guess, then never again.
    let (status, _) = app
        .post("/api/v1/auth/signup", None, &signup_body(phone, &code))
        .await?;
    assert_eq!(status, StatusCode::CREATED);
    let mut again = signup_body("13912345679", &code);
    again["email"] = json!("other@example.com");
    let (status, body) = app.post("/api/v1/auth/signup", None, &again).await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (422, "code_invalid"),
        "a code belongs to its phone"
    );

    // Once the account exists, a sign-up code request answers as for any phone, and the owner
    // is sent a notice instead of a code.
    app.clock.advance_ms(61_000);
    let codes_before = app.store.count_rows("verification_codes").await?;
    let (status, body) = app
        .post(
            "/api/v1/auth/codes",
            None,
            &json!({ "purpose": "signup", "phone": phone }),
        )
        .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        app.store.count_rows("verification_codes").await?,
        codes_before
    );
    assert!(
        app.latest_code_for(phone).await.is_err(),
        "the newest message to the phone holds no code"
    );
    app.stop().await
}
on_both_backends!(
    bad_signups_sqlite,
    bad_signups_postgres,
    bad_sign_ups_are_refused_and_change_nothing
);

async fn codes_expire_are_single_use_and_rate_limited(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let phone = "13912345678";
    // The limit counts in fixed one-minute windows: start just after one opens, so the two
    // requests below cannot fall either side of a window's end (a CI failure once).
    let now = app.clock.now_ms();
    app.clock.advance_ms(60_000 - now.rem_euclid(60_000) + 100);
    app.post(
        "/api/v1/auth/codes",
        None,
        &json!({ "purpose": "signup", "phone": phone }),
    )
    .await?;
    // A second code within the minute is refused with Retry-After.
    let response = app
        .client
        .post(app.url("/api/v1/auth/codes"))
        .json(&json!({ "purpose": "signup", "phone": phone }))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_some());
    let body: Value = response.json().await?;
    assert_eq!(error_code(&body), "rate_limited");
    assert_eq!(
        app.store.count_rows("verification_codes").await?,
        1,
        "a refused request sends no code"
    );

    // Expired: the clock moves past ten minutes.
    let code = app.latest_code_for(phone).await?;
    app.clock.advance_ms(10 * 60_000 + 1);
    let (status, body) = app
        .post("/api/v1/auth/signup", None, &signup_body(phone, &code))
        .await?;
    assert_eq!((status.as_u16(), error_code(&body)), (422, "code_expired"));
    assert_eq!(app.store.count_rows("users").await?, 12);

    // Reused: a code that signed up cannot reset the password... nor serve twice for its purpose.
    app.post(
        "/api/v1/auth/codes",
        None,
        &json!({ "purpose": "signup", "phone": phone }),
    )
    .await?;
    let code = app.latest_code_for(phone).await?;
    let (status, _) = app
        .post("/api/v1/auth/signup", None, &signup_body(phone, &code))
        .await?;
    assert_eq!(status, StatusCode::CREATED);
    app.clock.advance_ms(61_000);
    app.post(
        "/api/v1/auth/codes",
        None,
        &json!({ "purpose": "login", "phone": phone }),
    )
    .await?;
    let login_code = app.latest_code_for(phone).await?;
    let (status, first) = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({ "phone": phone, "code": login_code }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(first["token"].is_string());
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({ "phone": phone, "code": login_code }),
        )
        .await?;
    assert_eq!((status.as_u16(), error_code(&body)), (422, "code_used"));

    // Too many wrong guesses: the code dies (answering as a wrong code does, so a stranger
    // cannot tell a phone that was sent one), and this address waits before guessing again.
    // A day later, so the used code presented above is not among this address's attempts.
    app.clock.advance_ms(86_400_000);
    app.post(
        "/api/v1/auth/codes",
        None,
        &json!({ "purpose": "login", "phone": phone }),
    )
    .await?;
    let good = app.latest_code_for(phone).await?;
    let bad = if good == "999999" { "888888" } else { "999999" };
    for _ in 0..5 {
        let (status, body) = app
            .post(
                "/api/v1/auth/login",
                None,
                &json!({ "phone": phone, "code": bad }),
            )
            .await?;
        assert_eq!((status.as_u16(), error_code(&body)), (422, "code_invalid"));
    }
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "phone": phone, "code": good }))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_some());
    assert_eq!(error_code(&response.json().await?), "too_many_attempts");
    app.clock.advance_ms(61_000);
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({ "phone": phone, "code": good }),
        )
        .await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (422, "code_invalid"),
        "even the right code is refused once five wrong guesses killed it"
    );
    app.stop().await
}
on_both_backends!(
    codes_sqlite,
    codes_postgres,
    codes_expire_are_single_use_and_rate_limited
);

async fn password_sign_in_is_rate_limited_and_logged(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({ "phone": "13955555555", "password": "whatever1" }),
        )
        .await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (401, "invalid_credentials"),
        "unknown phone looks like a wrong password"
    );
    for _ in 0..5 {
        let (status, body) = app
            .post(
                "/api/v1/auth/login",
                None,
                &json!({ "phone": MEMBER, "password": "wrong1234" }),
            )
            .await?;
        assert_eq!(
            (status.as_u16(), error_code(&body)),
            (401, "invalid_credentials")
        );
    }
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({ "phone": MEMBER, "password": PASSWORD }),
        )
        .await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (429, "too_many_attempts"),
        "after five failures this address waits, even with the right password"
    );
    app.clock.advance_ms(15 * 60_000);
    app.login(MEMBER, PASSWORD).await?;

    let admin = app.login(ADMIN, PASSWORD).await?;
    let (status, log) = app
        .get("/api/v1/admin/audit/logins?success=false", Some(&admin))
        .await?;
    assert_eq!(status, StatusCode::OK);
    let failures = log.as_array().map_or(0, Vec::len);
    assert_eq!(failures, 6);
    assert!(
        log.to_string().contains("139****0001"),
        "phones are masked in the log: {log}"
    );
    assert!(!log.to_string().contains(MEMBER) && !log.to_string().contains("wrong1234"));
    app.stop().await
}
on_both_backends!(
    password_limits_sqlite,
    password_limits_postgres,
    password_sign_in_is_rate_limited_and_logged
);

async fn forgot_password_resets_by_code_and_ends_sessions(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let old_session = app.login(MEMBER, PASSWORD).await?;
    let (status, _) = app
        .post(
            "/api/v1/auth/codes",
            None,
            &json!({ "purpose": "reset_password", "phone": "13955555555" }),
        )
        .await?;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "an unknown phone gets the same answer"
    );
    assert_eq!(
        app.store.count_rows("verification_codes").await?,
        0,
        "…and no code"
    );
    app.post(
        "/api/v1/auth/codes",
        None,
        &json!({ "purpose": "reset_password", "phone": MEMBER }),
    )
    .await?;
    let code = app.latest_code_for(MEMBER).await?;
    let (status, body) = app
        .post(
            "/api/v1/auth/password/reset",
            None,
            &json!({ "phone": MEMBER, "code": code, "new_password": "weak" }),
        )
        .await?;
    assert_eq!(
        (
            status.as_u16(),
            error_code(&body),
            body["error"]["field"].as_str()
        ),
        (422, "weak_password", Some("new_password"))
    );
    let (status, _) = app
        .post(
            "/api/v1/auth/password/reset",
            None,
            &json!({ "phone": MEMBER, "code": code, "new_password": "newpass2026" }),
        )
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get("/api/v1/me", Some(&old_session)).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old session ended");
    app.login(MEMBER, "newpass2026").await?;
    let (status, _) = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({ "phone": MEMBER, "password": PASSWORD }),
        )
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await
}
on_both_backends!(
    forgot_password_sqlite,
    forgot_password_postgres,
    forgot_password_resets_by_code_and_ends_sessions
);

#[tokio::test]
async fn cookie_sessions_are_http_only_renewed_and_csrf_protected() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let login = || {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({ "phone": ADMIN, "password": PASSWORD, "session": "cookie" }))
            .send()
    };
    let first = login().await?;
    let set_cookie = first
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(set_cookie.starts_with("pifa_session="), "{set_cookie}");
    assert!(
        set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Lax")
            && set_cookie.contains("Path=/"),
        "{set_cookie}"
    );
    let body: Value = first.json().await?;
    assert!(
        body.get("token").is_none(),
        "a cookie session's secret is not in the body"
    );
    let csrf = body["csrf_token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(csrf.len(), 64);

    // The cookie authenticates reads…
    let (status, me) = app.get("/api/v1/me", None).await?;
    assert_eq!(
        (status, me["phone"].as_str()),
        (StatusCode::OK, Some(ADMIN))
    );
    // …but a write needs the CSRF token too.
    let create = json!({ "name": "东方" });
    let response = app
        .client
        .post(app.url("/api/v1/admin/regions"))
        .json(&create)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(&response.json().await?), "csrf_failed");
    let response = app
        .client
        .post(app.url("/api/v1/admin/regions"))
        .header("x-csrf-token", &csrf)
        .json(&create)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::CREATED);

    // Signing in again issues a new session id and ends the one presented.
    let old_cookie = set_cookie.split(';').next().unwrap_or_default().to_owned();
    let second = login().await?;
    let new_cookie = second
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(old_cookie, new_cookie);
    let bare = reqwest::Client::new();
    let stale = bare
        .get(app.url("/api/v1/me"))
        .header("cookie", &old_cookie)
        .send()
        .await?;
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
    let fresh = bare
        .get(app.url("/api/v1/me"))
        .header("cookie", &new_cookie)
        .send()
        .await?;
    assert_eq!(fresh.status(), StatusCode::OK);
    assert_eq!(app.store.count_rows("sessions").await?, 1);

    // Logout ends it.
    let csrf2: Value = second.json().await?;
    let out = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .header(
            "x-csrf-token",
            csrf2["csrf_token"].as_str().unwrap_or_default(),
        )
        .send()
        .await?;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let after = bare
        .get(app.url("/api/v1/me"))
        .header("cookie", &new_cookie)
        .send()
        .await?;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.store.count_rows("sessions").await?, 0);
    app.stop().await
}

#[tokio::test]
async fn bearer_tokens_are_stored_hashed_and_logout_ends_them() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let token = app.login(MEMBER, PASSWORD).await?;
    let backup = {
        let mut bytes = Vec::new();
        app.store
            .backups()
            .write_backup(
                &mut bytes,
                0,
                None,
                &pifa::config::uploads_dir(app.database.dir()),
            )
            .await?;
        bytes
    };
    assert!(!String::from_utf8_lossy(&backup).contains(&token));
    let raw = std::fs::read(app.database.dir().join("pifa.db"))?;
    assert!(
        !String::from_utf8_lossy(&raw).contains(&token),
        "the token is not stored in clear"
    );
    let (status, _) = app
        .call(Method::POST, "/api/v1/auth/logout", Some(&token), None)
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get("/api/v1/me", Some(&token)).await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (401, "unauthenticated")
    );
    app.stop().await
}

#[tokio::test]
async fn malformed_requests_get_the_one_error_shape() -> anyhow::Result<()> {
    let Some(app) = TestApp::start(Backend::Sqlite).await? else {
        return Ok(());
    };
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .body("{\"phone\":")
        .header("content-type", "application/json")
        .send()
        .await?;
    // Not JSON at all (issue 15): 400 naming no field, not a field called "?".
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await?;
    assert_eq!(error_code(&body), "malformed_json");
    assert!(body["error"]["field"].is_null(), "{body}");
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .body("phone=1")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({ "phone": "13800000001", "password": 5 }),
        )
        .await?;
    assert_eq!(
        (
            status.as_u16(),
            error_code(&body),
            body["error"]["field"].as_str()
        ),
        (422, "invalid_input", Some("password"))
    );
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({ "phone": "13800000001", "pasword": "x" }),
        )
        .await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (422, "invalid_input"),
        "unknown fields are refused: {body}"
    );
    let huge = json!({ "phone": "13800000001", "password": "x".repeat(2 * 1024 * 1024) });
    let (status, body) = app.post("/api/v1/auth/login", None, &huge).await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (413, "body_too_large"),
        "bodies over 1 MiB are refused"
    );
    let (status, body) = app.get("/api/v1/nothing-here", None).await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (404, "route_not_found")
    );
    let response = app.client.get(app.url("/healthz")).send().await?;
    assert!(response.headers().get("x-request-id").is_some());
    assert_eq!(
        response.json::<Value>().await?,
        json!({ "status": "ok", "database": "sqlite" })
    );
    app.stop().await
}
