//! Uploads are pictures, not whatever starts like one (issue 15): each attack an upload was open
//! to, on the route it was found on. Every image is decoded with a bounded pixel count before
//! anything is allocated for it, and what is stored is a re-encoding without the file's
//! metadata, turned upright.

use std::time::{Duration, Instant};

use pifa_e2e::images::{self, APP1, COM, GPS_LATITUDE};
use pifa_e2e::pifa_demo::*;
use pifa_e2e::{Backend, TestApp, error_code, on_both_backends, profile_form};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;
const HARD_HAT_RED: &str = "6901234500011";

async fn haikou(app: &TestApp) -> anyhow::Result<i64> {
    Ok(app
        .store
        .regions()
        .list_regions()
        .await?
        .iter()
        .find(|r| r.name == "海口")
        .map_or(0, |r| r.id))
}

/// Reads an upload as `token`: the status, the content type and the bytes.
async fn fetch(
    app: &TestApp,
    url: &str,
    token: &str,
) -> anyhow::Result<(StatusCode, String, Vec<u8>)> {
    let response = app
        .client
        .get(app.url(url))
        .bearer_auth(token)
        .send()
        .await?;
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Ok((status, content_type, response.bytes().await?.to_vec()))
}

/// Every file under the data directory's `uploads/`, with its bytes.
fn stored_files(app: &TestApp) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let dir = pifa::config::uploads_dir(app.database.dir());
    app.upload_files()
        .into_iter()
        .map(|name| Ok((name.clone(), std::fs::read(dir.join(&name))?)))
        .collect()
}

/// The stored file an upload URL names.
fn stored_file(app: &TestApp, url: &str) -> anyhow::Result<Vec<u8>> {
    let key = url.rsplit('/').next().unwrap_or_default();
    Ok(std::fs::read(
        pifa::config::uploads_dir(app.database.dir()).join(key),
    )?)
}

/// Finding 1: the eight bytes of the PNG signature, and nothing else, were stored as a payment
/// receipt. A receipt must decode as a picture.
async fn a_bare_png_signature_is_no_receipt(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let (status, order, _) = app
        .place_order(
            &member,
            "receipt-1",
            &json!({ "delivery_method": "pickup", "payment_method": "bank_transfer", "lines": [{ "sku_id": red, "qty": 10 }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = order["id"].as_i64().unwrap_or_default();
    let (_, confirmed) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(&manager),
            &json!({}),
        )
        .await?;
    assert_eq!(confirmed["status"], "pending_payment", "{confirmed}");
    let receipt = |bytes: Vec<u8>| {
        reqwest::multipart::Form::new()
            .text("remark", "已转账")
            .part(
                "proof",
                reqwest::multipart::Part::bytes(bytes).file_name("receipt.png"),
            )
    };
    let signature = b"\x89PNG\r\n\x1a\n".to_vec();
    let (status, refused) = app
        .post_form(
            &format!("/api/v1/orders/{id}/receipts"),
            &member,
            receipt(signature),
        )
        .await?;
    assert_eq!(
        (
            status,
            error_code(&refused),
            refused["error"]["field"].as_str()
        ),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_image",
            Some("proof")
        ),
        "{refused}"
    );
    assert!(
        app.upload_files().is_empty(),
        "nothing stored: {:?}",
        app.upload_files()
    );
    assert_eq!(app.store.count_rows("uploads").await?, 0);

    // The same order takes a real picture of the transfer.
    let (status, accepted) = app
        .post_form(
            &format!("/api/v1/orders/{id}/receipts"),
            &member,
            receipt(pifa_e2e::tiny_jpeg()),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(app.upload_files().len(), 1);
    app.stop().await
}
on_both_backends!(
    bare_png_signature_is_no_receipt_sqlite,
    bare_png_signature_is_no_receipt_postgres,
    a_bare_png_signature_is_no_receipt
);

/// Finding 2: a JPEG that is also an HTML page (a script in a comment segment, or after the
/// end-of-image marker) was stored as sent, script and all. What is stored now is a re-encoding
/// of the pixels: the picture survives, the script does not.
async fn a_polyglot_is_stored_as_a_clean_picture(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let region = haikou(&app).await?;
    let member = app.new_member("13912345680").await?;
    let page = b"<html><script>fetch('/api/v1/me').then(r=>r.text()).then(alert)</script></html>";
    let photo = images::jpeg(24, 16)?;
    let in_comment = images::with_segment(&photo, COM, page)?;
    let appended = [photo.as_slice(), page].concat();
    for polyglot in [&in_comment, &appended] {
        assert!(images::contains(polyglot, b"<script"));
        assert!(images::decode(polyglot).is_ok(), "a picture too");
    }
    let (status, profile) = app
        .put_profile(
            &member,
            profile_form(
                region,
                &[("shop_photo", &in_comment), ("licence", &appended)],
            ),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{profile}");
    for field in ["shop_photo_url", "licence_url"] {
        let url = profile[field].as_str().unwrap_or_default();
        let (status, content_type, served) = fetch(&app, url, &member).await?;
        assert_eq!(status, StatusCode::OK, "{field}");
        assert_eq!(content_type, "image/jpeg", "{field}");
        assert!(!images::contains(&served, b"<script"), "{field} served");
        assert!(!images::contains(&served, b"<html"), "{field} served");
        let picture = images::decode(&served)?;
        assert_eq!((picture.width(), picture.height()), (24, 16), "{field}");
    }
    let files = stored_files(&app)?;
    assert_eq!(files.len(), 2);
    for (name, bytes) in files {
        assert!(!images::contains(&bytes, b"<script"), "{name} on disk");
        assert!(name.ends_with(".jpg"), "{name}");
    }
    app.stop().await
}
on_both_backends!(
    polyglot_is_stored_clean_sqlite,
    polyglot_is_stored_clean_postgres,
    a_polyglot_is_stored_as_a_clean_picture
);

/// Finding 3: a PNG header claiming 60000×60000 pixels was accepted; decoding it would want
/// 14.4 GB. It is refused from its header, before any pixel buffer exists, as is a header under
/// the side limit whose pixel count is over the bound (7000×7000, 49 megapixels).
async fn huge_headers_are_refused_before_decoding(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let region = haikou(&app).await?;
    let member = app.new_member("13912345681").await?;
    let photo = pifa_e2e::tiny_jpeg();
    for (width, height) in [(60_000, 60_000), (7_000, 7_000)] {
        let bomb = images::png_bomb(width, height)?;
        let started = Instant::now();
        let (status, refused) = app
            .put_profile(
                &member,
                profile_form(region, &[("shop_photo", &photo), ("licence", &bomb)]),
            )
            .await?;
        let took = started.elapsed();
        assert_eq!(
            (
                status,
                error_code(&refused),
                refused["error"]["field"].as_str()
            ),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "image_too_large",
                Some("licence")
            ),
            "{width}×{height}: {refused}"
        );
        assert!(
            took < Duration::from_secs(5),
            "{width}×{height} refused from its header, not after decoding: {took:?}"
        );
        assert!(
            app.upload_files().is_empty(),
            "the staged shop photo is gone again: {:?}",
            app.upload_files()
        );
    }
    app.stop().await
}
on_both_backends!(
    huge_image_headers_are_refused_sqlite,
    huge_image_headers_are_refused_postgres,
    huge_headers_are_refused_before_decoding
);

/// What a stored photo must be after its EXIF block (orientation and GPS position) is gone:
/// no EXIF marker, no TIFF header, not the latitude's bytes, and `width`×`height` pixels.
fn assert_stripped(what: &str, bytes: &[u8], width: u32, height: u32) -> anyhow::Result<()> {
    assert!(!images::contains(bytes, b"Exif\0\0"), "{what}: EXIF marker");
    assert!(!images::contains(bytes, b"MM\0\x2a"), "{what}: TIFF header");
    assert!(!images::contains(bytes, &GPS_LATITUDE), "{what}: GPS bytes");
    let picture = images::decode(bytes)?;
    assert_eq!(
        (picture.width(), picture.height()),
        (width, height),
        "{what}: dimensions"
    );
    Ok(())
}

/// Finding 4: a phone photo's EXIF block, with the GPS position it was taken at, stayed in
/// licences and delivery photos. Stored photos carry no EXIF, and the orientation it gave is
/// applied to the pixels (a sideways photo, orientation 6, comes out upright: width and height
/// swapped), so stripping it does not turn the picture.
async fn photos_lose_their_exif_and_stay_upright(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let photo = images::jpeg(40, 30)?;
    let upright = images::with_segment(&photo, APP1, &images::exif(1))?;
    let sideways = images::with_segment(&photo, APP1, &images::exif(6))?;
    for sent in [&upright, &sideways] {
        assert!(images::contains(sent, &GPS_LATITUDE));
        assert!(images::contains(sent, b"Exif\0\0"));
    }

    // A licence and a shop photo in the profile form.
    let region = haikou(&app).await?;
    let member = app.new_member("13912345682").await?;
    let (status, profile) = app
        .put_profile(
            &member,
            profile_form(region, &[("shop_photo", &sideways), ("licence", &upright)]),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{profile}");
    for (field, width, height) in [("licence_url", 40, 30), ("shop_photo_url", 30, 40)] {
        let url = profile[field].as_str().unwrap_or_default();
        let (status, _, served) = fetch(&app, url, &member).await?;
        assert_eq!(status, StatusCode::OK, "{field}");
        assert_stripped(&format!("{field} served"), &served, width, height)?;
        assert_stripped(
            &format!("{field} on disk"),
            &stored_file(&app, url)?,
            width,
            height,
        )?;
    }

    // Two photos of a signed delivery note, taken by the driver's phone.
    let member = app.login(MEMBER, PASSWORD).await?;
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let driver = app.login(DRIVER_HAIKOU, PASSWORD).await?;
    let order = super::fulfilment::ship_order(&app, &member, "exif-1").await?;
    let id = order["id"].as_i64().unwrap_or_default();
    let driver_id = super::fulfilment::user_id(&app, &driver).await?;
    for (path, token, body) in [
        (
            format!("/api/v1/admin/orders/{id}/confirm"),
            &manager,
            json!({}),
        ),
        (
            format!("/api/v1/admin/orders/{id}/dispatch"),
            &manager,
            json!({ "method": "driver", "driver_id": driver_id }),
        ),
        (
            format!("/api/v1/driver/orders/{id}/start"),
            &driver,
            json!({}),
        ),
    ] {
        let (status, moved) = app.post(&path, Some(token), &body).await?;
        assert_eq!(status, StatusCode::OK, "{path}: {moved}");
    }
    let form = reqwest::multipart::Form::new()
        .part(
            "photo",
            reqwest::multipart::Part::bytes(upright.clone()).file_name("1.jpg"),
        )
        .part(
            "photo",
            reqwest::multipart::Part::bytes(sideways.clone()).file_name("2.jpg"),
        );
    let (status, delivered) = app
        .post_form(
            &format!("/api/v1/driver/orders/{id}/delivered"),
            &driver,
            form,
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{delivered}");
    let (_, seen) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&member))
        .await?;
    let urls: Vec<&str> = seen["fulfilment"]["delivery_photos"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(urls.len(), 2, "{seen}");
    for (url, (width, height)) in urls.into_iter().zip([(40, 30), (30, 40)]) {
        let (status, content_type, served) = fetch(&app, url, &member).await?;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::OK, "image/jpeg")
        );
        assert_stripped(&format!("{url} served"), &served, width, height)?;
        assert_stripped(
            &format!("{url} on disk"),
            &stored_file(&app, url)?,
            width,
            height,
        )?;
    }
    app.stop().await
}
on_both_backends!(
    photos_lose_their_exif_sqlite,
    photos_lose_their_exif_postgres,
    photos_lose_their_exif_and_stay_upright
);
