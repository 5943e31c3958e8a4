//! Operating plugins (issue 16, items 9 and 10): a plugin that does not load is left out and
//! said loudly while the others serve, a restart included (`strict = true` refuses instead);
//! `pifa plugins list` reports each entry on its own; a failed `pifa plugins run` reports the
//! fuel it used; what a memory copy costs; and a plugin crate written outside this repository
//! builds (`pifa plugins build`) and serves.

use std::path::{Path, PathBuf};
use std::time::Instant;

use pifa::native::NativeCode;
use pifa::plugins::cli::{BuildOptions, Fixture, RunReport};
use pifa_e2e::pifa_demo::*;
use pifa_e2e::{Backend, TestApp, eventually, plugin_component};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;
const HARD_HAT_RED: &str = "6901234500011";
const BAD: &str = "hostile-future-api";

fn entry(name: &str, component: &Path) -> String {
    format!(
        "[[plugin]]\nname = {name:?}\ncomponent = {:?}\n",
        component.display().to_string()
    )
}

/// Two plugins that load (`tag`, `static-counter`) and, with `bad`, one built for a plugin API
/// this kernel does not speak.
fn toml(bad: bool) -> String {
    let mut toml = entry("tag", &plugin_component("tag-v1"));
    toml.push_str(&entry(
        "static-counter",
        &plugin_component("static-counter"),
    ));
    if bad {
        toml.push_str(&entry(BAD, &plugin_component(BAD)));
    }
    toml
}

fn quote_body(sku: i64) -> Value {
    json!({ "delivery_method": "pickup", "lines": [{ "sku_id": sku, "qty": 10 }] })
}

/// The labels of a quote's order-level adjustments.
async fn quote_labels(app: &TestApp, token: &str, sku: i64) -> anyhow::Result<Vec<String>> {
    let (status, quote) = app
        .post("/api/v1/orders/quote", Some(token), &quote_body(sku))
        .await?;
    anyhow::ensure!(status == StatusCode::OK, "{status} {quote}");
    Ok(quote["adjustments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["label"].as_str().map(str::to_owned))
        .collect())
}

/// `pifa plugins list`'s line for `name`.
fn listed_line<'a>(listed: &'a str, name: &str) -> &'a str {
    listed
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or("")
}

/// A plugin refused at reload stays in `plugins.toml`; the restarted server starts with the
/// others serving and says which did not load and why: in the admin API, in `pifa plugins
/// list` and in every admin's inbox. While the reload was refused, `list` marked only that
/// entry. An edit of the others applies while it stays refused.
#[tokio::test]
async fn a_plugin_that_does_not_load_is_left_out_and_said() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    app.install_plugins(&toml(false)).await?;

    // The reload is refused, naming the plugin and both API versions; the others serve on.
    let refused = app
        .install_plugins(&toml(true))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        refused.starts_with(&format!("plugin {BAD}: built for plugin API \"9.9\"")),
        "{refused}"
    );
    let labels = quote_labels(&app, &member, red).await?;
    assert!(labels.contains(&"tag v1".to_owned()), "{labels:?}");
    let listed = pifa::plugins::cli::list(
        &app.plugins_toml(),
        Some(app.store.clone()),
        NativeCode::Refused,
    )
    .await?;
    assert!(!listed.contains("invalid"), "{listed}");
    for good in ["tag", "static-counter"] {
        assert!(
            listed_line(&listed, good).contains(" loaded "),
            "{good}: {listed}"
        );
    }
    let bad = listed_line(&listed, BAD);
    assert!(
        bad.contains(" refused ") && bad.contains("\"9.9\""),
        "{listed}"
    );

    // Restarted on the file as it was left: the good ones serve, the bad one is said.
    let app = app.restart().await?;
    let labels = quote_labels(&app, &member, red).await?;
    assert!(
        labels.contains(&"tag v1".to_owned()) && labels.contains(&"call 1".to_owned()),
        "{labels:?}"
    );
    assert!(!labels.iter().any(|l| l.contains("future")), "{labels:?}");
    let (status, plugins) = app.get("/api/v1/admin/plugins", Some(&admin)).await?;
    assert_eq!(status, StatusCode::OK, "{plugins}");
    let serving: Vec<&str> = plugins["plugins"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(serving, ["static-counter", "tag"], "{plugins}");
    assert_eq!(plugins["refused"][0]["name"], BAD, "{plugins}");
    assert_eq!(plugins["refused"][0]["kind"], "wasm", "{plugins}");
    assert!(
        plugins["refused"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("\"9.9\"")),
        "{plugins}"
    );
    assert!(plugins["reload_error"].is_null(), "{plugins}");
    app.inbox_with(&admin, &format!("插件 {BAD} 未能加载"))
        .await?;

    // Dropping `tag` while the bad entry stays: the edit applies (the bad one was refused
    // already, no serving plugin is lost).
    let mut edited = entry("static-counter", &plugin_component("static-counter"));
    edited.push_str(&entry(BAD, &plugin_component(BAD)));
    app.install_plugins(&edited).await?;
    let labels = quote_labels(&app, &member, red).await?;
    assert!(!labels.contains(&"tag v1".to_owned()), "{labels:?}");
    assert!(labels.contains(&"call 1".to_owned()), "{labels:?}");
    assert_eq!(app.plugins.current().refused.len(), 1);
    app.stop().await
}

/// `strict = true`: the same file refuses to start, saying which plugin and why.
#[tokio::test]
async fn strict_refuses_to_start_naming_the_plugin() -> anyhow::Result<()> {
    let Some(app) = TestApp::start(Backend::Sqlite).await? else {
        return Ok(());
    };
    app.install_plugins(&format!("strict = true\n{}", toml(false)))
        .await?;
    let refused = app
        .install_plugins(&format!("strict = true\n{}", toml(true)))
        .await;
    assert!(refused.is_err(), "a strict reload is refused too");
    let started = app.restart().await;
    let error = started
        .as_ref()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        error.contains("strict = true") && error.contains(&format!("plugin {BAD}: built for")),
        "{error}"
    );
    if let Ok(app) = started {
        app.stop().await?;
    }
    Ok(())
}

/// Writes a `plugins.toml` installing `name` (its component from `plugins/build`) under
/// `limits` in a fresh temporary directory, and runs `hook` of it on `input`.
async fn run(name: &str, limits: &str, input: Value) -> anyhow::Result<RunReport> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("plugins.toml");
    std::fs::write(
        &config,
        format!("{limits}\n{}", entry(name, &plugin_component(name))),
    )?;
    let (name, fixture) = (
        name.to_owned(),
        Fixture {
            hook: "quote".to_owned(),
            input,
            ..Fixture::default()
        },
    );
    let report = tokio::task::spawn_blocking(move || {
        pifa::plugins::cli::run(&config, &name, &fixture, NativeCode::Refused)
    })
    .await?
    .map_err(anyhow::Error::msg)?;
    drop(dir);
    Ok(report)
}

fn quote_input(settings: Value) -> Value {
    json!({ "buyer": { "member_id": 1 }, "lines": [], "now_ms": 0, "settings": settings })
}

/// `pifa plugins run` of a plugin that loops forever: the error, and the fuel it used (all of
/// it, not 0) and its memory.
#[tokio::test]
async fn run_reports_the_fuel_a_failed_call_used() -> anyhow::Result<()> {
    let report = run("hostile-loop", "", quote_input(json!({}))).await?;
    let error = report.output.as_ref().err().cloned().unwrap_or_default();
    assert!(error.contains("fuel exhausted"), "{error}");
    let limit = pifa::plugins::config::Limits::default().fuel_for(0);
    assert_eq!(report.fuel, limit, "all of its fuel");
    assert!(report.peak_memory > 0, "{report:?}");
    Ok(())
}

/// What a memory copy costs in fuel under wasmtime 48 (measured, as plugins/README.md says):
/// about one per byte copied (`memory.copy` charges per byte, and Rust's `copy_from_slice`
/// is one `memory.copy`), so copying a buffer costs its size in fuel like a loop over it.
#[tokio::test]
async fn a_memory_copy_costs_one_fuel_per_byte() -> anyhow::Result<()> {
    const MIB: u64 = 1024 * 1024;
    let limits = "[limits]\nfuel_base = 100000000\n";
    let mut fuel = Vec::new();
    for (bytes, copies) in [(0, 0), (MIB, 0), (MIB, 1), (MIB, 3), (4 * MIB, 1)] {
        let report = run(
            "hostile-copy",
            limits,
            quote_input(json!({ "bytes": bytes, "copies": copies })),
        )
        .await?;
        let output = report.output.map_err(anyhow::Error::msg)?;
        assert!(
            output
                .to_string()
                .contains(&format!("copied {bytes} bytes")),
            "{output}"
        );
        fuel.push(report.fuel);
    }
    eprintln!(
        "hostile-copy fuel: nothing {}, 1 MiB×0 {}, 1 MiB×1 {}, 1 MiB×3 {}, 4 MiB×1 {}",
        fuel[0], fuel[1], fuel[2], fuel[3], fuel[4]
    );
    let about = |fuel: u64, bytes: u64| (bytes..bytes + bytes / 64).contains(&fuel);
    let per_copy = (fuel[3] - fuel[1]) / 3;
    assert!(
        about(per_copy, MIB),
        "a copy of 1 MiB costs {per_copy} fuel"
    );
    // Writing the two buffers (`vec![7; n]`, `vec![0; n]`) is per byte too.
    assert!(about(fuel[1] - fuel[0], 2 * MIB), "{fuel:?}");
    assert!(about(fuel[4] - fuel[0], 3 * 4 * MIB), "{fuel:?}");
    Ok(())
}

/// Where the kernel's build compiled `plugins/` (its dependencies included): the same
/// directory `kernel/build.rs` chose from `CARGO_TARGET_DIR`.
fn plugins_target_dir() -> PathBuf {
    match option_env!("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("plugin-build"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugin-build"),
    }
}

/// An integrator's plugin, written outside this repository against the SDK by path, built by
/// `pifa plugins build` (the library function behind it) and installed through `plugins.toml`:
/// its quote hook answers. Its cargo target directory is the plugins workspace's, with the
/// same release profile and lock file, so the SDK and serde are not compiled again.
#[tokio::test]
async fn a_plugin_crate_outside_the_repository_builds_and_serves() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sdk = std::path::absolute(root.join("sdk"))?;
    // Usable where no Pifa workspace is above it (a copy, a vendored tree): nothing inherited.
    for manifest in ["sdk/Cargo.toml", "sdk/native/Cargo.toml"] {
        let text = std::fs::read_to_string(root.join(manifest))?;
        assert!(!text.contains("workspace = true"), "{manifest} inherits");
        assert!(!text.contains(".workspace"), "{manifest} inherits");
    }
    let outside = tempfile::tempdir()?;
    let dir = outside.path().join("outside-hello");
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            r#"[package]
name = "outside-hello"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
pifa-sdk = {{ path = {sdk:?} }}

[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
debug = false

[workspace]
"#,
            sdk = sdk.display().to_string()
        ),
    )?;
    std::fs::write(
        dir.join("src/lib.rs"),
        r#"use pifa_sdk::{Adjustment, Hook, HookError, Manifest, Plugin, QuoteInput, QuoteOutput};

struct Hello;

impl Plugin for Hello {
    fn manifest() -> Manifest {
        pifa_sdk::manifest("outside-hello", env!("CARGO_PKG_VERSION"), &[Hook::Quote])
    }

    fn quote(input: QuoteInput) -> Result<QuoteOutput, HookError> {
        Ok(QuoteOutput {
            adjustments: vec![Adjustment::order(
                0,
                format!("hello from outside, {} lines", input.lines.len()),
            )],
            ..QuoteOutput::default()
        })
    }
}

pifa_sdk::export_plugin!(Hello);
"#,
    )?;
    // The plugins workspace's resolution, so its compiled dependencies fit.
    std::fs::copy(root.join("plugins/Cargo.lock"), dir.join("Cargo.lock"))?;

    let component = outside.path().join("outside-hello.wasm");
    let options = BuildOptions {
        target_dir: Some(plugins_target_dir()),
        out: Some(component.clone()),
    };
    let started = Instant::now();
    let built = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || pifa::plugins::cli::build(&dir, &options))
            .await?
            .map_err(anyhow::Error::msg)?
    };
    eprintln!(
        "pifa plugins build of a crate outside the repository: {} ms",
        started.elapsed().as_millis()
    );
    assert_eq!(built.component, component);
    assert_eq!(built.manifest.name, "outside-hello");
    assert!(
        built.summary.contains("ok: outside-hello 0.1.0"),
        "{}",
        built.summary
    );

    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    app.install_plugins(&entry("outside-hello", &component))
        .await?;
    let labels = eventually("the outside plugin's label", || async {
        let labels = quote_labels(&app, &member, red).await?;
        Ok(labels
            .contains(&"hello from outside, 1 lines".to_owned())
            .then_some(labels))
    })
    .await?;
    assert_eq!(labels.len(), 1, "{labels:?}");
    app.stop().await
}

/// A reload refused because an entry's component is not there yet (the entry was written
/// first) is tried again when the file arrives: the watcher watches the files it waits for.
#[tokio::test]
async fn a_component_copied_in_after_its_entry_is_picked_up() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let file = app.database.dir().join("tag.wasm");
    let refused = app.install_plugins(&entry("tag", &file)).await;
    assert!(
        refused
            .as_ref()
            .err()
            .is_some_and(|e| e.to_string().starts_with("plugin tag: ")),
        "{refused:?}"
    );
    let staged = app.database.dir().join("tag.wasm.new");
    std::fs::copy(plugin_component("tag-v1"), &staged)?;
    std::fs::rename(&staged, &file)?;
    eventually("the arrived component serving", || async {
        Ok(quote_labels(&app, &member, red)
            .await?
            .contains(&"tag v1".to_owned())
            .then_some(()))
    })
    .await?;
    app.stop().await
}
