//! Backup and restore (L4): a backup made through the admin API restores — on either backend —
//! into a shop that serves the same data; a damaged backup changes nothing.

use pifa_e2e::pifa_demo::ADMIN;
use pifa_e2e::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;

/// What an admin sees of a shop: staff, regions, settings, messages.
async fn visible_state(app: &TestApp, token: &str) -> anyhow::Result<Value> {
    let mut state = serde_json::Map::new();
    for path in [
        "/api/v1/admin/staff",
        "/api/v1/regions",
        "/api/v1/admin/settings",
        "/api/v1/admin/messages",
        "/api/v1/shop",
    ] {
        let (status, body) = app.get(path, Some(token)).await?;
        anyhow::ensure!(status == StatusCode::OK, "{path}: {status} {body}");
        state.insert(path.to_owned(), body);
    }
    Ok(Value::Object(state))
}

async fn backup_restores_into(target: Backend) -> anyhow::Result<()> {
    let Some(source) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let Some(restored) = TestApp::start(target).await? else {
        return source.stop().await;
    };
    let admin = source.login(ADMIN, PASSWORD).await?;
    source.post("/api/v1/admin/staff", Some(&admin), &json!({ "name": "吉师傅", "phone": "13800000034", "password": "driver2026", "roles": ["driver"], "region_ids": [2], "vehicle_plate": "琼B·7X100" })).await?;
    source
        .post(
            "/api/v1/auth/codes",
            None,
            &json!({ "purpose": "signup", "phone": "13912345678" }),
        )
        .await?;
    let hard_hat = source
        .store
        .catalog()
        .list_products(&pifa::catalog::storage::ProductFilter {
            limit: 100,
            ..Default::default()
        })
        .await?
        .into_iter()
        .find(|p| p.item_no == "AQM-001")
        .map_or(0, |p| p.id.get());
    let picture: Value = source
        .client
        .post(source.url(&format!("/api/v1/admin/products/{hard_hat}/images")))
        .bearer_auth(&admin)
        .body(pifa_e2e::TINY_PNG)
        .send()
        .await?
        .json()
        .await?;
    let picture_url = picture["images"][0].as_str().unwrap_or_default().to_owned();
    let stored_picture = source
        .client
        .get(source.url(&picture_url))
        .send()
        .await?
        .bytes()
        .await?;
    // The sender has settled the sign-up code (no provider here), so both shops show it alike.
    pifa_e2e::eventually("the outbox settled", || async {
        let waiting = source
            .store
            .messages()
            .list_messages(&pifa::notify::MessageQuery {
                state: Some(pifa::notify::MessageState::Pending),
                ..Default::default()
            })
            .await?;
        Ok(waiting.is_empty().then_some(()))
    })
    .await?;
    let expected = visible_state(&source, &admin).await?;

    let (status, made) = source
        .post("/api/v1/admin/backups", Some(&admin), &json!({}))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["tables"]["users"], 13);
    let name = made["name"].as_str().unwrap_or_default().to_owned();
    let (status, listed) = source.get("/api/v1/admin/backups", Some(&admin)).await?;
    assert_eq!(
        (status, listed[0]["name"].as_str()),
        (StatusCode::OK, Some(name.as_str()))
    );
    let download = source
        .client
        .get(source.url(&format!("/api/v1/admin/backups/{name}")))
        .bearer_auth(&admin)
        .send()
        .await?;
    assert_eq!(
        download
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/gzip")
    );
    let bytes = download.bytes().await?;
    assert_eq!(bytes.get(..2), Some(&[0x1f, 0x8b][..]), "gzip");

    // What `pifa restore FILE` does, into an empty shop on the target backend.
    let uploads = pifa::config::uploads_dir(restored.database.dir());
    std::fs::create_dir_all(&uploads)?;
    std::fs::write(uploads.join("stray.png"), pifa_e2e::TINY_PNG)?;
    let counts = restored
        .store
        .backups()
        .restore_backup(&bytes[..], None, &uploads)
        .await?;
    assert_eq!(counts.get("users"), Some(&13));
    assert_eq!(
        counts.get(pifa::backup::FILES_COUNT),
        Some(&1),
        "the product picture travelled"
    );
    assert!(
        !uploads.join("stray.png").exists(),
        "files no restored row refers to are gone"
    );
    let picture = restored
        .client
        .get(restored.url(&picture_url))
        .send()
        .await?;
    assert_eq!(picture.status(), StatusCode::OK);
    assert_eq!(
        picture.bytes().await?,
        stored_picture,
        "the restored picture is the same file"
    );
    let admin_there = restored.login(ADMIN, PASSWORD).await?;
    let actual = visible_state(&restored, &admin_there).await?;
    assert_eq!(actual, expected, "the restored shop serves the same data");
    restored.login("13800000034", "driver2026").await?;
    // New rows get fresh ids after a restore (identity sequences moved past the restored ids).
    let (status, region) = restored
        .post(
            "/api/v1/admin/regions",
            Some(&admin_there),
            &json!({ "name": "文昌" }),
        )
        .await?;
    assert_eq!(
        (status, region["id"].as_i64()),
        (StatusCode::CREATED, Some(4))
    );

    restored.stop().await?;
    source.stop().await
}

#[tokio::test]
async fn sqlite_backup_restores_into_sqlite() -> anyhow::Result<()> {
    backup_restores_into(Backend::Sqlite).await
}

#[tokio::test]
async fn sqlite_backup_restores_into_postgres() -> anyhow::Result<()> {
    backup_restores_into(Backend::Postgres).await
}

#[tokio::test]
async fn restore_through_the_api_rolls_back_and_signs_everyone_out() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let (_, made) = app
        .post("/api/v1/admin/backups", Some(&admin), &json!({}))
        .await?;
    let name = made["name"].as_str().unwrap_or_default().to_owned();
    app.post(
        "/api/v1/admin/regions",
        Some(&admin),
        &json!({ "name": "文昌" }),
    )
    .await?;

    // A damaged backup is refused whole and changes nothing.
    let damaged = app
        .database
        .dir()
        .join("backups")
        .join("pifa-20000101T000000000Z.jsonl.gz");
    let good = std::fs::read(app.database.dir().join("backups").join(&name))?;
    std::fs::write(&damaged, good.get(..good.len() / 2).unwrap_or_default())?;
    let (status, body) = app
        .post(
            "/api/v1/admin/backups/pifa-20000101T000000000Z.jsonl.gz/restore",
            Some(&admin),
            &json!({}),
        )
        .await?;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (422, Some("backup_invalid")),
        "{body}"
    );
    assert_eq!(app.store.count_rows("regions").await?, 4);

    for bad in ["..%2Fpifa.db", "pifa.db", "pifa-1.jsonl.gz"] {
        let (status, _) = app
            .post(
                &format!("/api/v1/admin/backups/{bad}/restore"),
                Some(&admin),
                &json!({}),
            )
            .await?;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
    }

    let (status, restored) = app
        .post(
            &format!("/api/v1/admin/backups/{name}/restore"),
            Some(&admin),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(
        app.store.count_rows("regions").await?,
        3,
        "the region made after the backup is gone"
    );
    let (status, _) = app.get("/api/v1/me", Some(&admin)).await?;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a restore signs everyone out"
    );
    let admin = app.login(ADMIN, PASSWORD).await?;
    let (_, ops) = app
        .get(
            "/api/v1/admin/audit/operations?action=backup.restore",
            Some(&admin),
        )
        .await?;
    assert_eq!(
        ops.as_array().map(Vec::len),
        Some(1),
        "the restore itself is recorded: {ops}"
    );
    app.stop().await
}

#[tokio::test]
async fn scheduled_backups_run_when_due_and_keep_the_newest() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let dir = app.database.dir().join("scheduled");
    let hour = 3_600_000;
    let start = app.clock.now_ms();
    assert_eq!(
        pifa::backup::run_schedule(&app.store, &dir, &dir, start, None, None).await?,
        None,
        "off by default"
    );

    let settings = pifa::settings::Settings {
        backup_interval_hours: Some(6),
        backups_kept: 2,
        ..app.store.settings().current().await?
    };
    app.store.settings().save(&settings, None, start).await?;
    let mut last = pifa::backup::run_schedule(&app.store, &dir, &dir, start, None, None).await?;
    assert_eq!(last, Some(start), "the first one is due at once");
    assert_eq!(
        pifa::backup::run_schedule(&app.store, &dir, &dir, start + 6 * hour - 1, last, None)
            .await?,
        last,
        "not due yet"
    );
    // A restart forgets `last`, but the newest file's name remembers it.
    assert_eq!(
        pifa::backup::run_schedule(&app.store, &dir, &dir, start + hour, None, None).await?,
        Some(start)
    );
    for round in 1..=3 {
        last = pifa::backup::run_schedule(
            &app.store,
            &dir,
            &dir,
            start + round * 6 * hour,
            last,
            None,
        )
        .await?;
        assert_eq!(last, Some(start + round * 6 * hour));
    }
    let kept: Vec<String> = pifa::backup::list_backups(&dir)?
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(
        kept,
        vec![
            pifa::backup::backup_name(start + 18 * hour, false),
            pifa::backup::backup_name(start + 12 * hour, false)
        ]
    );
    app.stop().await
}

#[tokio::test]
async fn encrypted_backups_need_their_passphrase() -> anyhow::Result<()> {
    use age::secrecy::SecretString;
    let Some(source) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let passphrase = SecretString::from("海口 backup passphrase 2026".to_owned());
    let mut file = Vec::new();
    source
        .store
        .backups()
        .write_backup(
            &mut file,
            source.clock.now_ms(),
            Some(&passphrase),
            &pifa::config::uploads_dir(source.database.dir()),
        )
        .await?;
    assert!(file.starts_with(b"age-encryption.org/v1"), "an age file");
    let Some(target) = TestApp::start(Backend::Sqlite).await? else {
        return Ok(());
    };
    let missing = target
        .store
        .backups()
        .restore_backup(
            &file[..],
            None,
            &pifa::config::uploads_dir(target.database.dir()),
        )
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(missing.contains("PIFA_BACKUP_PASSPHRASE"), "{missing}");
    let wrong = SecretString::from("not it".to_owned());
    let refused = target
        .store
        .backups()
        .restore_backup(
            &file[..],
            Some(&wrong),
            &pifa::config::uploads_dir(target.database.dir()),
        )
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.contains("wrong passphrase"), "{refused}");
    assert_eq!(
        target.store.count_rows("users").await?,
        0,
        "a refused restore writes nothing"
    );
    let counts = target
        .store
        .backups()
        .restore_backup(
            &file[..],
            Some(&passphrase),
            &pifa::config::uploads_dir(target.database.dir()),
        )
        .await?;
    assert_eq!(counts.get("users"), Some(&12));
    target.login(ADMIN, PASSWORD).await?;
    target.stop().await?;
    source.stop().await
}
