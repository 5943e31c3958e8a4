//! Guessing is throttled without letting a stranger lock the owner out (issue 15): password
//! failures back off per account *and source address*, codes keep working for the owner, the
//! client's address comes from a trusted proxy's `X-Forwarded-For` (never from anyone else's),
//! and code requests and sign-ups answer registered and unregistered phones alike, limits
//! included.
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

/// Signs in from `source` with a code: asks for one, reads it where the owner would (the
/// message list), presents it. Returns the answer to the sign-in.
async fn code_sign_in(app: &TestApp, source: &str, phone: &str) -> anyhow::Result<Answer> {
    let (status, _, sent) = app
        .post_from(
            source,
            "/api/v1/auth/codes",
            &json!({ "purpose": "login", "phone": phone }),
        )
        .await?;
    anyhow::ensure!(
        status == StatusCode::ACCEPTED,
        "code request: {status} {sent}"
    );
    let code = app.latest_code_for(phone).await?;
    let reply = app
        .post_from(source, LOGIN, &json!({ "phone": phone, "code": code }))
        .await?;
    Ok(answer(reply))
}

/// (a) A stranger failing the admin's password twenty times from one address is slowed down,
/// with a wait that doubles; the admin, from his own address, still signs in with his password
/// and with an SMS code.
async fn a_stranger_cannot_lock_the_owner_out(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::behind_proxy(backend).await? else {
        return Ok(());
    };
    let stranger = "203.0.113.9";
    let owner = "198.51.100.7";
    let mut answers = Vec::new();
    for _ in 0..20 {
        answers.push(answer(
            app.post_from(stranger, LOGIN, &wrong_password(ADMIN))
                .await?,
        ));
    }
    for (n, (status, code, _)) in answers.iter().enumerate().take(5) {
        assert_eq!(
            (*status, code.as_str()),
            (401, "invalid_credentials"),
            "guess {n}"
        );
    }
    for (n, (status, code, retry)) in answers.iter().enumerate().skip(5) {
        assert_eq!(
            (*status, code.as_str()),
            (429, "too_many_attempts"),
            "guess {n}"
        );
        assert!(
            retry.is_some_and(|s| (1..=60).contains(&s)),
            "guess {n} waits at most a minute first: {retry:?}"
        );
    }
    // The wait doubles: after a minute one more guess, then two minutes.
    app.clock.advance_ms(61_000);
    let (status, code, _) = answer(
        app.post_from(stranger, LOGIN, &wrong_password(ADMIN))
            .await?,
    );
    assert_eq!((status, code.as_str()), (401, "invalid_credentials"));
    let (status, code, retry) = answer(
        app.post_from(stranger, LOGIN, &wrong_password(ADMIN))
            .await?,
    );
    assert_eq!((status, code.as_str()), (429, "too_many_attempts"));
    assert!(
        retry.is_some_and(|s| (61..=120).contains(&s)),
        "the second wait is two minutes: {retry:?}"
    );

    // The owner, from his address, is not slowed by any of it.
    let (status, _, body) = app
        .post_from(
            owner,
            LOGIN,
            &json!({ "phone": ADMIN, "password": PASSWORD }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "password sign-in: {body}");
    assert!(body["token"].is_string());
    let (status, code, _) = code_sign_in(&app, owner, ADMIN).await?;
    assert_eq!((status, code.as_str()), (200, "<none>"), "code sign-in");
    // The stranger still waits.
    let (status, _, _) = answer(
        app.post_from(
            stranger,
            LOGIN,
            &json!({ "phone": ADMIN, "password": PASSWORD }),
        )
        .await?,
    );
    assert_eq!(
        status, 429,
        "the stranger's address waits even with the right password"
    );
    app.stop().await
}
on_both_backends!(
    stranger_cannot_lock_out_sqlite,
    stranger_cannot_lock_out_postgres,
    a_stranger_cannot_lock_the_owner_out
);

/// (b) Wrong passwords spread over many addresses pause password sign-in for the account
/// (fifty an hour), but cannot stop the owner's code sign-in, nor his password from an address
/// he signed in from before; and a stranger's wrong codes do not keep him from a fresh code.
async fn distributed_guessing_cannot_stop_the_owner(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::behind_proxy(backend).await? else {
        return Ok(());
    };
    let home = "198.51.100.7";
    let travelling = "192.0.2.50";
    let (status, _, body) = app
        .post_from(
            home,
            LOGIN,
            &json!({ "phone": MEMBER, "password": PASSWORD }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Fifty wrong passwords from ten addresses, five each: none of them is slowed yet.
    for source in 1..=10 {
        for guess in 0..5 {
            let (status, code, _) = answer(
                app.post_from(
                    &format!("203.0.113.{source}"),
                    LOGIN,
                    &wrong_password(MEMBER),
                )
                .await?,
            );
            assert_eq!(
                (status, code.as_str()),
                (401, "invalid_credentials"),
                "source {source}, guess {guess}"
            );
        }
    }
    // Now the account's password is paused for addresses it never signed in from…
    let (status, code, retry) = answer(
        app.post_from("203.0.113.200", LOGIN, &wrong_password(MEMBER))
            .await?,
    );
    assert_eq!((status, code.as_str()), (429, "too_many_attempts"));
    assert!(retry.is_some_and(|s| s <= 3_600), "{retry:?}");
    let (status, _, _) = answer(
        app.post_from(
            travelling,
            LOGIN,
            &json!({ "phone": MEMBER, "password": PASSWORD }),
        )
        .await?,
    );
    assert_eq!(
        status, 429,
        "password sign-in from a new address waits for the hour"
    );
    // …but the owner signs in by code from anywhere, and by password from home.
    let (status, code, _) = code_sign_in(&app, travelling, MEMBER).await?;
    assert_eq!((status, code.as_str()), (200, "<none>"), "code sign-in");
    let (status, _, body) = app
        .post_from(
            home,
            LOGIN,
            &json!({ "phone": MEMBER, "password": PASSWORD }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "password from home: {body}");

    // A stranger spends the guesses of the owner's next code…
    app.clock.advance_ms(61_000);
    let stranger = "203.0.113.66";
    let (status, _, _) = app
        .post_from(
            travelling,
            "/api/v1/auth/codes",
            &json!({ "purpose": "login", "phone": MEMBER }),
        )
        .await?;
    assert_eq!(status, StatusCode::ACCEPTED);
    let killed = app.latest_code_for(MEMBER).await?;
    let wrong = if killed == "000000" {
        "111111"
    } else {
        "000000"
    };
    let mut guesses = Vec::new();
    for _ in 0..7 {
        guesses.push(answer(
            app.post_from(stranger, LOGIN, &json!({ "phone": MEMBER, "code": wrong }))
                .await?,
        ));
    }
    let codes: Vec<&str> = guesses.iter().map(|(_, code, _)| code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "code_invalid",
            "code_invalid",
            "code_invalid",
            "code_invalid",
            "code_invalid",
            "too_many_attempts",
            "too_many_attempts"
        ],
        "five guesses kill the code, then the stranger's address waits"
    );
    let (status, _, body) = app
        .post_from(
            travelling,
            LOGIN,
            &json!({ "phone": MEMBER, "code": killed }),
        )
        .await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (422, "code_invalid"),
        "that code is dead"
    );
    // …and the owner asks for a fresh one and signs in with it.
    app.clock.advance_ms(61_000);
    let (status, code, _) = code_sign_in(&app, travelling, MEMBER).await?;
    assert_eq!(
        (status, code.as_str()),
        (200, "<none>"),
        "a fresh code works"
    );
    app.stop().await
}
on_both_backends!(
    distributed_guessing_sqlite,
    distributed_guessing_postgres,
    distributed_guessing_cannot_stop_the_owner
);

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

/// (d) Code requests and sign-ups are limited before anything depends on the phone being
/// registered: a registered and an unregistered phone get the same answers, 429 included, and
/// "phone taken" is never one of them (the registered phone's owner gets a notice instead of a
/// code).
async fn registered_and_unregistered_phones_look_alike(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::behind_proxy(backend).await? else {
        return Ok(());
    };
    let free = "13912345678";
    // Each phone is tried from its own address, so the per-address limits treat them alike.
    let phones = [(free, "203.0.113.5"), (MEMBER, "203.0.113.6")];
    let mut requests: Vec<Vec<Answer>> = Vec::new();
    for (phone, source) in phones {
        let mut seen = Vec::new();
        for _ in 0..2 {
            seen.push(answer(
                app.post_from(
                    source,
                    "/api/v1/auth/codes",
                    &json!({ "purpose": "signup", "phone": phone }),
                )
                .await?,
            ));
        }
        requests.push(seen);
    }
    // Retry-After counts down with the clock, so it is compared by presence.
    let shapes = |answers: &[Answer]| -> Vec<(u16, String, bool)> {
        answers
            .iter()
            .map(|(status, code, retry)| (*status, code.clone(), retry.is_some()))
            .collect()
    };
    assert_eq!(
        shapes(&requests[0]),
        shapes(&requests[1]),
        "the same answers for both phones"
    );
    let (status, code, retry) = requests[0][1].clone();
    assert_eq!(
        (status, code.as_str(), retry.is_some()),
        (429, "rate_limited", true)
    );
    assert_eq!(requests[0][0].0, 202);
    assert_eq!(
        app.store.count_rows("verification_codes").await?,
        1,
        "a code only for the unregistered phone"
    );
    let admin = app.login(ADMIN, PASSWORD).await?;
    let (_, messages) = app
        .get(
            &format!("/api/v1/admin/messages?recipient={MEMBER}"),
            Some(&admin),
        )
        .await?;
    let notice = messages[0]["body"].as_str().unwrap_or_default();
    assert!(
        notice.contains("已注册") && !notice.chars().any(|c| c.is_ascii_digit()),
        "the owner is told, with no code: {notice}"
    );

    let code = app.latest_code_for(free).await?;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let mut signups: Vec<Vec<Answer>> = Vec::new();
    for (phone, source) in phones {
        let mut seen = Vec::new();
        for _ in 0..12 {
            let body = json!({ "company_name": "海口兴达五金", "contact_name": "赵老板", "phone": phone, "password": "xingda2026", "code": wrong });
            seen.push(answer(
                app.post_from(source, "/api/v1/auth/signup", &body).await?,
            ));
        }
        signups.push(seen);
    }
    assert_eq!(
        shapes(&signups[0]),
        shapes(&signups[1]),
        "the same answers for both phones"
    );
    assert!(
        signups[1].iter().all(|(_, code, _)| code != "phone_taken"),
        "{:?}",
        signups[1]
    );
    let limited: Vec<&str> = signups[1]
        .iter()
        .filter(|(status, _, _)| *status == 429)
        .map(|(_, code, _)| code.as_str())
        .collect();
    assert!(
        limited.contains(&"too_many_attempts") && limited.contains(&"rate_limited"),
        "guesses back off, then the phone's sign-ups are refused: {:?}",
        signups[1]
    );
    assert_eq!(signups[1].last().map(|a| a.0), Some(429));
    app.stop().await
}
on_both_backends!(
    phones_look_alike_sqlite,
    phones_look_alike_postgres,
    registered_and_unregistered_phones_look_alike
);
