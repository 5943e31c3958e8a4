//! Where a request comes from (issue 15): the client's address comes from a trusted proxy's
//! `X-Forwarded-For`, never from anyone else's.
//!
//! Several sources need a proxy in front (`TestApp::behind_proxy` trusts 127.0.0.1, where the
//! tests' requests come from): `post_from` names the client in `X-Forwarded-For`.

use pifa_e2e::pifa_demo::{ADMIN, MEMBER};
use pifa_e2e::{Backend, TestApp, error_code, on_both_backends};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;
const LOGIN: &str = "/api/v1/auth/login";

fn wrong_password(phone: &str) -> Value {
    json!({ "phone": phone, "password": "guess12345" })
}

/// (status, stable code, Retry-After) of an answer, for comparing sequences.
type Answer = (u16, String, Option<u64>);

fn answer((status, retry, body): (StatusCode, Option<u64>, Value)) -> Answer {
    (status.as_u16(), error_code(&body).to_owned(), retry)
}

/// The newest login-log entry's address, as the admin reads it.
async fn last_login_address(app: &TestApp) -> anyhow::Result<Value> {
    let admin = app.login(ADMIN, PASSWORD).await?;
    let (status, log) = app
        .get("/api/v1/admin/audit/logins?success=false", Some(&admin))
        .await?;
    anyhow::ensure!(status == StatusCode::OK, "{status} {log}");
    Ok(log[0]["ip"].clone())
}

/// (c) `X-Forwarded-For` names the client only when a trusted proxy sent it: from anyone else
/// it is ignored, in the login log and in the limits (changing it does not escape them).
async fn forwarded_addresses_count_only_from_trusted_proxies(
    backend: Backend,
) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let mut last = None;
    for n in 1..=6 {
        last = Some(answer(
            app.post_from(&format!("203.0.113.{n}"), LOGIN, &wrong_password(MEMBER))
                .await?,
        ));
        if n == 1 {
            assert_eq!(
                last_login_address(&app).await?,
                "127.0.0.1",
                "the socket's address is logged, not the forged one"
            );
        }
    }
    let (status, code, retry) = last.unwrap_or_default();
    assert_eq!(
        (status, code.as_str()),
        (429, "too_many_attempts"),
        "a new forged address each time is still one source"
    );
    assert!(retry.is_some());
    app.stop().await?;

    let Some(app) = TestApp::behind_proxy(backend).await? else {
        return Ok(());
    };
    // The client wrote the first address itself; the proxy appended the one it saw.
    let (status, _, _) = app
        .post_from("10.1.2.3, 203.0.113.7", LOGIN, &wrong_password(MEMBER))
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(last_login_address(&app).await?, "203.0.113.7");
    app.stop().await
}
on_both_backends!(
    forwarded_addresses_sqlite,
    forwarded_addresses_postgres,
    forwarded_addresses_count_only_from_trusted_proxies
);
