//! Native extensions (REQUIREMENTS M6): trusted adapters in shared libraries, installed through
//! `plugins.toml` (`kind = "native"`) only where the deployment allows native code. The SMS
//! adapter (`native/sms-http`) is built as a real shared library and talks to a fake provider
//! on loopback.

use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use pifa::native::NativeAdapters;
use pifa::native::{NativeAdapter, NativeCode, NativeFailure, NativeMessage};
use pifa_e2e::{Backend, TestApp, native_library, plugin_component};
use serde_json::{Value, json};

/// A provider's send endpoint: records what it is sent (the `Authorization` header and the
/// body) and answers with the status a test sets.
#[derive(Clone)]
struct FakeProvider {
    url: String,
    received: Arc<Mutex<Vec<(String, Value)>>>,
    status: Arc<AtomicU16>,
}

impl FakeProvider {
    async fn start() -> anyhow::Result<FakeProvider> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let provider = FakeProvider {
            url: format!("http://{}/v1/sms/send", listener.local_addr()?),
            received: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
        };
        let router = axum::Router::new()
            .route("/v1/sms/send", post(receive))
            .with_state(provider.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(provider)
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn received(&self) -> Vec<(String, Value)> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

async fn receive(
    State(provider): State<FakeProvider>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> (StatusCode, axum::Json<Value>) {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let count = provider
        .received
        .lock()
        .map(|mut received| {
            received.push((authorization, body));
            received.len()
        })
        .unwrap_or_default();
    let status = StatusCode::from_u16(provider.status.load(Ordering::SeqCst))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_success() {
        (status, axum::Json(json!({ "id": format!("sm-{count}") })))
    } else {
        (status, axum::Json(json!({ "error": "bad phone" })))
    }
}

fn flash_sale_toml() -> String {
    format!(
        "[[plugin]]\nname = \"flash-sale\"\ncomponent = {:?}\ncapabilities = [\"kv\"]\nevents = [\"order.closed\"]\nroute_roles = [\"public\", \"admin\", \"customer_service\"]\n",
        plugin_component("flash-sale").display().to_string()
    )
}

/// A native entry; `library` as written (relative to plugins.toml, or absolute).
fn native_toml(name: &str, library: &str, channel: &str, settings: &str) -> String {
    format!(
        "[[plugin]]\nname = {name:?}\nkind = \"native\"\nlibrary = {library:?}\nchannel = {channel:?}\nsettings = {settings}\n"
    )
}

fn sms_settings(provider: &FakeProvider, token: &str) -> String {
    format!("{{ endpoint = {:?}, token = {token:?} }}", provider.url)
}

fn login_code(id: i64) -> NativeMessage {
    NativeMessage {
        id,
        to: "13800000001".to_owned(),
        template: "login_code".to_owned(),
        params: json!({ "code": "604213", "minutes": 10 })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        body: "您的验证码是604213，10分钟内有效。".to_owned(),
    }
}

/// A send on a blocking thread, as the notification dispatcher makes it.
async fn send(
    adapter: &Arc<NativeAdapter>,
    message: NativeMessage,
) -> anyhow::Result<Result<String, NativeFailure>> {
    let adapter = adapter.clone();
    Ok(tokio::task::spawn_blocking(move || adapter.send(&message)).await?)
}

fn refusal(result: anyhow::Result<()>) -> String {
    result.err().map(|e| e.to_string()).unwrap_or_default()
}

/// Without `PIFA_ALLOW_NATIVE=1` a native entry is refused, naming the entry and the switch,
/// before any library is opened (this one does not even exist); the reload that adds it is
/// refused and the previous set keeps serving, and `pifa plugins check` and `list` say why.
#[tokio::test]
async fn native_code_is_refused_unless_the_deployment_allows_it() -> anyhow::Result<()> {
    let Some(app) = TestApp::start(Backend::Sqlite).await? else {
        return Ok(());
    };
    app.install_plugins(&flash_sale_toml()).await?;
    let with_native = format!(
        "{}\n{}",
        flash_sale_toml(),
        native_toml(
            "sms-http",
            "/nonexistent/libpifa_native_sms.so",
            "sms",
            "{ endpoint = \"http://127.0.0.1:9/send\", token = \"t\" }"
        )
    );
    let refused = refusal(app.install_plugins(&with_native).await);
    assert!(
        refused.starts_with("plugin sms-http: kind = \"native\"")
            && refused.contains("set PIFA_ALLOW_NATIVE=1 to allow it"),
        "{refused}"
    );
    assert!(
        !refused.contains("cannot load"),
        "nothing was opened: {refused}"
    );
    assert!(
        app.plugins.current().named("flash-sale").is_some(),
        "the previous set keeps serving"
    );
    assert!(app.plugins.native_adapter("sms").is_none());
    let last_error = app.plugins.last_error.lock().ok().and_then(|e| e.clone());
    assert_eq!(last_error.as_deref(), Some(refused.as_str()));

    let toml = app.plugins_toml();
    let checked =
        tokio::task::spawn_blocking(move || pifa::plugins::cli::check(&toml, NativeCode::Refused))
            .await?;
    assert!(
        checked
            .as_ref()
            .err()
            .map(ToString::to_string)
            .is_some_and(|e| e.contains("plugin sms-http") && e.contains("PIFA_ALLOW_NATIVE=1")),
        "{checked:?}"
    );
    let listed = pifa::plugins::cli::list(&app.plugins_toml(), None, NativeCode::Refused).await?;
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("sms-http") && l.contains("native") && l.contains("refused")),
        "{listed}"
    );
    assert!(listed.contains("PIFA_ALLOW_NATIVE=1"), "{listed}");
    Ok(())
}

/// Allowed, the SMS adapter loads from a path relative to `plugins.toml` and delivers through
/// its provider exactly what the message says (the outbox id as the provider's `out_id`); a
/// 503 is worth retrying and a 400 is not; sends run on several threads at once; a reload
/// swaps in a new instance while one a caller still holds keeps working; settings the library
/// refuses, or a channel it cannot deliver, refuse the file and leave the adapter serving.
#[tokio::test]
async fn an_allowed_sms_adapter_sends_through_its_provider() -> anyhow::Result<()> {
    let built = tokio::task::spawn_blocking(|| native_library("pifa-native-sms")).await??;
    let provider = FakeProvider::start().await?;
    let Some(app) = TestApp::start_allowing_native(Backend::Sqlite).await? else {
        return Ok(());
    };
    let file_name = built
        .file_name()
        .and_then(|n| n.to_str())
        .context("library file name")?
        .to_owned();
    let installed = app.database.dir().join("native");
    std::fs::create_dir_all(&installed)?;
    std::fs::copy(&built, installed.join(&file_name))?;
    let library = format!("native/{file_name}");
    app.install_plugins(&native_toml(
        "sms-http",
        &library,
        "sms",
        &sms_settings(&provider, "t0ken"),
    ))
    .await?;

    let adapter = app
        .plugins
        .native_adapter("sms")
        .context("plugins.toml installs an SMS adapter")?;
    assert_eq!(adapter.name(), "sms-http");
    assert_eq!(adapter.channels(), ["sms"]);
    assert_eq!(adapter.path(), installed.join(&file_name));
    assert!(app.plugins.native_adapter("email").is_none());

    assert_eq!(
        send(&adapter, login_code(4242)).await?,
        Ok("sm-1".to_owned())
    );
    assert_eq!(
        provider.received(),
        [(
            "Bearer t0ken".to_owned(),
            json!({
                "phone": "13800000001",
                "template": "login_code",
                "params": { "code": "604213", "minutes": 10 },
                "out_id": 4242,
            })
        )]
    );

    provider.answer(503);
    let failure = send(&adapter, login_code(4243)).await?.err();
    assert!(
        failure
            .as_ref()
            .is_some_and(|f| f.transient && f.message.starts_with("HTTP 503")),
        "{failure:?}"
    );
    provider.answer(400);
    let failure = send(&adapter, login_code(4244)).await?.err();
    assert!(
        failure
            .as_ref()
            .is_some_and(|f| !f.transient && f.message.contains("bad phone")),
        "{failure:?}"
    );

    provider.answer(200);
    let sends: Vec<_> = (0..8)
        .map(|i| {
            let adapter = adapter.clone();
            tokio::task::spawn_blocking(move || adapter.send(&login_code(5000 + i)))
        })
        .collect();
    for sent in sends {
        let sent = sent.await?;
        assert!(sent.is_ok(), "{sent:?}");
    }
    let mut out_ids: Vec<i64> = provider
        .received()
        .iter()
        .filter_map(|(_, body)| body["out_id"].as_i64())
        .filter(|id| *id >= 5000)
        .collect();
    out_ids.sort_unstable();
    assert_eq!(out_ids, (5000..5008).collect::<Vec<_>>());

    app.install_plugins(&native_toml(
        "sms-http",
        &library,
        "sms",
        &sms_settings(&provider, "n3w"),
    ))
    .await?;
    let renewed = app
        .plugins
        .native_adapter("sms")
        .context("still installed")?;
    assert!(
        !Arc::ptr_eq(&adapter, &renewed),
        "a reload makes a new instance"
    );
    assert!(
        send(&adapter, login_code(6001)).await?.is_ok(),
        "the old one still works"
    );
    assert!(send(&renewed, login_code(6002)).await?.is_ok());
    drop(adapter);
    let tokens: Vec<String> = provider
        .received()
        .iter()
        .rev()
        .take(2)
        .map(|(authorization, _)| authorization.clone())
        .collect();
    assert_eq!(tokens, ["Bearer n3w", "Bearer t0ken"]);

    let listed = pifa::plugins::cli::list(&app.plugins_toml(), None, NativeCode::Allowed).await?;
    let row = listed
        .lines()
        .find(|l| l.starts_with("sms-http"))
        .unwrap_or_default();
    for shown in [
        "native",
        env!("CARGO_PKG_VERSION"),
        "loaded",
        "serves sms (can deliver: sms)",
    ] {
        assert!(row.contains(shown), "{shown:?} missing from {row:?}");
    }
    let toml = app.plugins_toml();
    let checked =
        tokio::task::spawn_blocking(move || pifa::plugins::cli::check(&toml, NativeCode::Allowed))
            .await?;
    assert_eq!(
        checked.map_err(|e| e.to_string()),
        Ok(format!(
            "ok: sms-http {} (native, sms)",
            env!("CARGO_PKG_VERSION")
        ))
    );

    let refused = refusal(
        app.install_plugins(&native_toml(
            "sms-http",
            &library,
            "sms",
            &format!("{{ endpoint = {:?} }}", provider.url),
        ))
        .await,
    );
    assert!(
        refused.starts_with("plugin sms-http: refused its settings:") && refused.contains("token"),
        "{refused}"
    );
    let refused = refusal(
        app.install_plugins(&native_toml(
            "sms-http",
            &library,
            "email",
            &sms_settings(&provider, "n3w"),
        ))
        .await,
    );
    assert!(refused.contains("not channel \"email\""), "{refused}");
    let refused = refusal(
        app.install_plugins(&native_toml(
            "sms-gateway",
            &library,
            "sms",
            &sms_settings(&provider, "n3w"),
        ))
        .await,
    );
    assert!(refused.contains("names itself \"sms-http\""), "{refused}");
    let serving = app.plugins.native_adapter("sms").context("kept serving")?;
    assert!(Arc::ptr_eq(&serving, &renewed));
    Ok(())
}

/// A library built for another ABI version is refused naming both versions, before anything
/// else is looked up in it (the fixture exports nothing else); a missing one names its path.
#[tokio::test]
async fn a_library_for_another_abi_is_refused_naming_both_versions() -> anyhow::Result<()> {
    let library = tokio::task::spawn_blocking(|| native_library("pifa-native-wrong-abi")).await??;
    let Some(app) = TestApp::start_allowing_native(Backend::Sqlite).await? else {
        return Ok(());
    };
    let refused = refusal(
        app.install_plugins(&native_toml(
            "old-sms",
            &library.display().to_string(),
            "sms",
            "{}",
        ))
        .await,
    );
    assert!(
        refused.starts_with("plugin old-sms: ")
            && refused.ends_with("built for native ABI version 2; this kernel speaks version 1"),
        "{refused}"
    );
    let missing = Path::new("/nonexistent/libpifa_native_sms.so");
    let refused = refusal(
        app.install_plugins(&native_toml(
            "sms-http",
            &missing.display().to_string(),
            "sms",
            "{}",
        ))
        .await,
    );
    assert!(
        refused.starts_with("plugin sms-http: /nonexistent/libpifa_native_sms.so: cannot load"),
        "{refused}"
    );
    assert!(app.plugins.native_adapter("sms").is_none());
    Ok(())
}
