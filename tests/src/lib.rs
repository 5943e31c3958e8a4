//! The e2e harness: a real Pifa server on port 0 with a fresh database (a SQLite file in a
#![expect(
    clippy::indexing_slicing,
    reason = "serde_json::Value indexing yields Null, it never panics"
)]
//! temporary directory, or a new PostgreSQL database), driven over HTTP with reqwest.

pub mod browser;
pub mod contract;
pub mod fakes;
pub mod images;
pub mod load;
pub mod process;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, anyhow};
use pifa::accounts::passwords::Hasher;
use pifa::app::AppState;
use pifa::clock::Clock;
use pifa::config::Config;
use pifa::http::Server;
use pifa::store::Store;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests use, from `TEST_DATABASE_URL` (set by `cargo xtask test`).
/// `None` means no server: the PostgreSQL half is skipped, which `cargo xtask test` announces
/// loudly and which fails the run under `CI=true`.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() && std::env::var("CI").is_ok_and(|v| v == "true") {
        // A CI run must never skip the PostgreSQL half silently.
        #[expect(clippy::panic, reason = "a test harness failing loudly is the point")]
        {
            panic!("CI=true but TEST_DATABASE_URL is not set: the PostgreSQL suite cannot run");
        }
    }
    url
}

static DATABASE_COUNTER: AtomicU32 = AtomicU32::new(0);
static STALE_DATABASES_DROPPED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// Drops test databases left behind by earlier runs whose tests failed before cleaning up.
async fn drop_stale_databases(admin: &sqlx::PgPool) -> anyhow::Result<()> {
    let mine = format!("pifa_t_{}_", std::process::id());
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname::TEXT FROM pg_database WHERE datname LIKE 'pifa_t_%'")
            .fetch_all(admin)
            .await?;
    for name in names.iter().filter(|n| {
        !n.starts_with(&mine) && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(admin)
        .await?;
    }
    Ok(())
}

/// A fresh, empty database on the given backend, and what is needed to drop it again.
pub struct TestDatabase {
    pub url: String,
    pg_cleanup: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> anyhow::Result<Option<TestDatabase>> {
        let dir = tempfile::tempdir()?;
        match backend {
            Backend::Sqlite => Ok(Some(TestDatabase {
                url: format!("sqlite://{}", dir.path().join("pifa.db").display()),
                pg_cleanup: None,
                _dir: dir,
            })),
            Backend::Postgres => {
                let Some(server_url) = postgres_url() else {
                    return Ok(None);
                };
                let name = format!(
                    "pifa_t_{}_{}",
                    std::process::id(),
                    DATABASE_COUNTER.fetch_add(1, Ordering::Relaxed)
                );
                let admin = sqlx::PgPool::connect(&server_url)
                    .await
                    .context("connecting to TEST_DATABASE_URL")?;
                STALE_DATABASES_DROPPED
                    .get_or_try_init(|| drop_stale_databases(&admin))
                    .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name}"
                )))
                .execute(&admin)
                .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin)
                    .await?;
                admin.close().await;
                let url = replace_database(&server_url, &name)?;
                Ok(Some(TestDatabase {
                    url,
                    pg_cleanup: Some((server_url, name)),
                    _dir: dir,
                }))
            }
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Drops a PostgreSQL test database (SQLite files go with the temporary directory).
    pub async fn drop_database(&self) {
        if let Some((server_url, name)) = &self.pg_cleanup
            && let Ok(admin) = sqlx::PgPool::connect(server_url).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&admin)
            .await;
            admin.close().await;
        }
    }
}

fn replace_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let slash = base
        .rfind('/')
        .filter(|i| *i > "postgres://".len())
        .ok_or_else(|| anyhow!("TEST_DATABASE_URL has no database name: {url}"))?;
    let mut out = format!("{}/{name}", &base[..slash]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

/// Compiled plugins are cached here across the suite's tests (wasmtime keys the cache by the
/// component's bytes and the compiler's settings, so sharing it is safe).
pub fn plugin_cache_dir() -> std::path::PathBuf {
    std::env::temp_dir().join("pifa-test-plugin-cache")
}

/// A component built from `plugins/` (by the kernel's build) by its package name.
pub fn plugin_component(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/build")
        .join(format!("{name}.wasm"))
}

/// A script the repository ships, under `scripts/`.
pub fn shipped_script(file: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(file)
}

/// The themes the repository ships, under `themes/`.
pub fn shipped_themes() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../themes")
}

/// Copies the directory `from` into `to` (created), file by file.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// The native adapters' shared libraries (`native/`), built once per test run with the
/// cargo that runs the tests, into the test binary's own target directory and profile.
static NATIVE_BUILD: std::sync::OnceLock<Result<std::path::PathBuf, String>> =
    std::sync::OnceLock::new();

/// The packages `native_library` builds, in one cargo run.
const NATIVE_PACKAGES: [&str; 2] = ["pifa-native-sms", "pifa-native-wrong-abi"];

/// The shared library of native adapter `package` (one of `native/`'s crates), built first if
/// need be (blocking: cargo runs once, the first time any test asks).
pub fn native_library(package: &str) -> anyhow::Result<std::path::PathBuf> {
    anyhow::ensure!(
        NATIVE_PACKAGES.contains(&package),
        "{package} is not one of the native packages the tests build ({NATIVE_PACKAGES:?})"
    );
    let profile_dir = NATIVE_BUILD
        .get_or_init(build_native_libraries)
        .clone()
        .map_err(anyhow::Error::msg)?;
    Ok(profile_dir.join(format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        package.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    )))
}

/// Builds `NATIVE_PACKAGES` where this test binary was built: it lives in
/// `<target>/<profile>/deps/`, which holds wherever CARGO_TARGET_DIR or the workspace put it.
fn build_native_libraries() -> Result<std::path::PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .ok_or_else(|| format!("{} is not in <target>/<profile>/deps", exe.display()))?
        .to_path_buf();
    let (Some(target_dir), Some(profile)) = (
        profile_dir.parent(),
        profile_dir.file_name().and_then(|n| n.to_str()),
    ) else {
        return Err(format!("{} has no target directory", profile_dir.display()));
    };
    // The `dev` profile builds into `debug/`; every other profile into its own name.
    let profile = if profile == "debug" { "dev" } else { profile };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut command = std::process::Command::new(cargo);
    command
        .args([
            "build",
            "--quiet",
            "--locked",
            "--profile",
            profile,
            "--target-dir",
        ])
        .arg(target_dir)
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"));
    for package in NATIVE_PACKAGES {
        command.args(["-p", package]);
    }
    let output = command
        .output()
        .map_err(|e| format!("running cargo build for the native adapters: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo build of the native adapters failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(profile_dir)
}

/// A running server with its own database.
pub struct TestApp {
    pub addr: SocketAddr,
    pub store: Store,
    pub clock: Clock,
    pub backend: Backend,
    pub client: reqwest::Client,
    pub database: TestDatabase,
    /// The plugin host serving (its `plugins.toml` is `plugins_toml()`, absent at first).
    pub plugins: Arc<pifa::plugins::PluginHost>,
    /// The script host serving (its directory is `scripts_dir()`, absent at first).
    pub scripts: Arc<pifa::scripts::ScriptHost>,
    /// The message providers (none unless the test set fakes up: `TestApp::with_providers`).
    pub providers: Arc<pifa::channels::Providers>,
    /// The theme host serving (its directory is `themes_dir()`, a copy of the shipped themes).
    pub themes: Arc<pifa::themes::ThemeHost>,
    pipeline: pifa::orders::pipeline::Pipeline,
    native_code: pifa::native::NativeCode,
    /// Every answer checked against the OpenAPI document; mismatches fail `stop`.
    pub contract: Arc<contract::Contract>,
    trusted_proxies: pifa::edge::proxy::TrustedProxies,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Starts a server on an empty database; `None` when the backend is unavailable
    /// (PostgreSQL without `TEST_DATABASE_URL`).
    pub async fn start(backend: Backend) -> anyhow::Result<Option<TestApp>> {
        TestApp::empty(backend, pifa::native::NativeCode::Refused).await
    }

    /// Starts a server on an empty database whose `plugins.toml` may load native adapters,
    /// as `PIFA_ALLOW_NATIVE=1` allows.
    pub async fn start_allowing_native(backend: Backend) -> anyhow::Result<Option<TestApp>> {
        TestApp::empty(backend, pifa::native::NativeCode::Allowed).await
    }

    async fn empty(
        backend: Backend,
        native_code: pifa::native::NativeCode,
    ) -> anyhow::Result<Option<TestApp>> {
        let Some(database) = TestDatabase::create(backend).await? else {
            return Ok(None);
        };
        Ok(Some(
            TestApp::serve_on(
                database,
                backend,
                Clock::movable(),
                Default::default(),
                Arc::new(pifa::channels::Providers::none()),
                native_code,
                Default::default(),
            )
            .await?,
        ))
    }

    /// Starts a server with the demo data whose messages go to these providers (local fakes).
    pub async fn with_providers(
        backend: Backend,
        providers: pifa::channels::Providers,
    ) -> anyhow::Result<Option<TestApp>> {
        TestApp::demo_with(backend, Default::default(), providers).await
    }

    /// Starts a server with the demo data whose quote pipeline runs these extension steps
    /// (`with_demo`: none).
    pub async fn with_pipeline(
        backend: Backend,
        pipeline: pifa::orders::pipeline::Pipeline,
    ) -> anyhow::Result<Option<TestApp>> {
        TestApp::demo_with(backend, pipeline, pifa::channels::Providers::none()).await
    }

    /// Starts a server with the demo data behind a reverse proxy on 127.0.0.1 (trusted, as
    /// `PIFA_TRUSTED_PROXIES=127.0.0.1` says): a request sent with `call_from` comes from the
    /// address it names in `X-Forwarded-For`, one sent without from 127.0.0.1.
    pub async fn behind_proxy(backend: Backend) -> anyhow::Result<Option<TestApp>> {
        let Some(database) = TestDatabase::create(backend).await? else {
            return Ok(None);
        };
        let app = TestApp::serve_on(
            database,
            backend,
            Clock::movable(),
            Default::default(),
            Arc::new(pifa::channels::Providers::none()),
            pifa::native::NativeCode::Refused,
            pifa::edge::proxy::TrustedProxies::parse("127.0.0.1")?,
        )
        .await?;
        app.load_demo().await?;
        Ok(Some(app))
    }

    async fn demo_with(
        backend: Backend,
        pipeline: pifa::orders::pipeline::Pipeline,
        providers: pifa::channels::Providers,
    ) -> anyhow::Result<Option<TestApp>> {
        let Some(database) = TestDatabase::create(backend).await? else {
            return Ok(None);
        };
        let app = TestApp::serve_on(
            database,
            backend,
            Clock::movable(),
            pipeline,
            Arc::new(providers),
            pifa::native::NativeCode::Refused,
            Default::default(),
        )
        .await?;
        app.load_demo().await?;
        Ok(Some(app))
    }

    async fn load_demo(&self) -> anyhow::Result<()> {
        pifa::demo::load(
            &self.store,
            &Hasher::cheap()?,
            self.clock.now_ms(),
            pifa::demo::DemoSize::Fixture,
        )
        .await?;
        Ok(())
    }

    /// Stops the server and starts a new one on the same database and files, as a restarted
    /// process would (the clock keeps its offset).
    pub async fn restart(mut self) -> anyhow::Result<TestApp> {
        self.keeps_the_contract()?;
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.server.take() {
            handle.await??;
        }
        self.store.close().await;
        let TestApp {
            database,
            backend,
            clock,
            pipeline,
            providers,
            native_code,
            trusted_proxies,
            ..
        } = self;
        TestApp::serve_on(
            database,
            backend,
            clock,
            pipeline,
            providers,
            native_code,
            trusted_proxies,
        )
        .await
    }

    async fn serve_on(
        database: TestDatabase,
        backend: Backend,
        clock: Clock,
        pipeline: pifa::orders::pipeline::Pipeline,
        providers: Arc<pifa::channels::Providers>,
        native_code: pifa::native::NativeCode,
        trusted_proxies: pifa::edge::proxy::TrustedProxies,
    ) -> anyhow::Result<TestApp> {
        let store = Store::open(&database.url).await?;
        let config = Config {
            addr: "127.0.0.1:0".parse()?,
            data_dir: database.dir().to_path_buf(),
            database_url: Some(database.url.clone()),
            secure_cookies: false,
            backup_passphrase: None,
            plugins_path: database.dir().join("plugins.toml"),
            scripts_dir: database.dir().join("scripts"),
            allow_native: native_code == pifa::native::NativeCode::Allowed,
            trusted_proxies: trusted_proxies.clone(),
            themes_dir: database.dir().join("themes"),
            theme: "default".to_owned(),
        };
        let plugins = {
            let (path, store, clock) = (config.plugins_path.clone(), store.clone(), clock.clone());
            tokio::task::spawn_blocking(move || {
                pifa::plugins::PluginHost::load_with(
                    &path,
                    Some(store),
                    clock,
                    Some(plugin_cache_dir()),
                    native_code,
                )
            })
            .await?
            .map_err(anyhow::Error::msg)?
        };
        // The directory exists from the start, as a deployment's does, so the watcher sees
        // the first script a test writes. It holds the shipped notification rules (K1), not
        // the shipped prices: a test pricing by script writes its own.
        std::fs::create_dir_all(&config.scripts_dir)?;
        let rules = config.scripts_dir.join("notifications.rhai");
        if !rules.exists() {
            std::fs::copy(shipped_script("notifications.rhai"), rules)?;
        }
        let scripts = pifa::scripts::ScriptHost::load(
            &config.scripts_dir,
            Some(store.clone()),
            clock.clone(),
        )
        .map_err(anyhow::Error::msg)?;
        // A copy of the shipped themes, which a test may edit as an operator would.
        if !config.themes_dir.exists() {
            copy_dir(&shipped_themes(), &config.themes_dir)?;
        }
        let themes = pifa::themes::ThemeHost::load(&config.themes_dir, &config.theme)
            .map_err(anyhow::Error::msg)?;
        let state = AppState::new(
            store.clone(),
            clock.clone(),
            Hasher::cheap()?,
            config,
            pipeline.clone(),
            pifa::app::Extensions {
                scripts: scripts.clone(),
                plugins: plugins.clone(),
                providers: providers.clone(),
                themes: themes.clone(),
            },
        );
        let contract = contract::Contract::new(plugins.clone());
        let server = Server::bind(state).await?.wrap_router({
            let contract = contract.clone();
            move |router| contract.wrap(router)
        });
        let addr = server.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(server.serve(async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder().cookie_store(true).build()?;
        Ok(TestApp {
            addr,
            store,
            clock,
            backend,
            client,
            database,
            plugins,
            scripts,
            providers,
            themes,
            pipeline,
            native_code,
            contract,
            trusted_proxies,
            shutdown: Some(tx),
            server: Some(handle),
        })
    }

    /// Starts a server and loads the demo data (regions, one account per role, settings).
    pub async fn with_demo(backend: Backend) -> anyhow::Result<Option<TestApp>> {
        TestApp::with_pipeline(backend, Default::default()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The scripts directory this server reads (absent until a test writes a script).
    pub fn scripts_dir(&self) -> std::path::PathBuf {
        self.database.dir().join("scripts")
    }

    /// The themes directory this server reads (a copy of the shipped themes).
    pub fn themes_dir(&self) -> std::path::PathBuf {
        self.database.dir().join("themes")
    }

    /// The `plugins.toml` this server reads (absent until a test writes it).
    pub fn plugins_toml(&self) -> std::path::PathBuf {
        self.database.dir().join("plugins.toml")
    }

    /// Writes `plugins.toml` (component paths through `plugin_component`) and reloads, as an
    /// integrator editing the file would; `Err` with the host's reason when it is refused.
    pub async fn install_plugins(&self, toml: &str) -> anyhow::Result<()> {
        // Renamed over the old file, never truncated and rewritten: the server's own watcher
        // reloads on the change too, and one that woke between the truncation and the write
        // read no plugins at all, then kept that set when this call's reload was refused (a
        // CI failure, stop 31).
        pifa::watch::replace_file(&self.plugins_toml(), toml.as_bytes())?;
        let host = self.plugins.clone();
        tokio::task::spawn_blocking(move || host.reload())
            .await?
            .map_err(anyhow::Error::msg)
    }

    /// Runs one SQL statement on the test's database behind the server's back, for rows no
    /// request can write any more (data from before a rule existed, say). Caches the server
    /// keeps (sessions, products) do not see it: use it on other tables.
    pub async fn execute_sql(&self, sql: &str) -> anyhow::Result<u64> {
        use sqlx::Connection;
        let statement = sqlx::AssertSqlSafe(sql.to_owned());
        Ok(match self.backend {
            Backend::Sqlite => {
                let mut connection = sqlx::SqliteConnection::connect(&self.database.url).await?;
                sqlx::query(statement)
                    .execute(&mut connection)
                    .await?
                    .rows_affected()
            }
            Backend::Postgres => {
                let mut connection = sqlx::PgConnection::connect(&self.database.url).await?;
                sqlx::query(statement)
                    .execute(&mut connection)
                    .await?
                    .rows_affected()
            }
        })
    }

    /// `plugin`'s entry in the back office's plugin status (`/api/v1/admin/plugins`, as
    /// `admin`): its calls, failures, event retry and dead events.
    pub async fn plugin_status(&self, admin: &str, plugin: &str) -> anyhow::Result<Value> {
        let (status, body) = self.get("/api/v1/admin/plugins", Some(admin)).await?;
        anyhow::ensure!(status == StatusCode::OK, "/admin/plugins: {status} {body}");
        body["plugins"]
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == plugin).cloned())
            .ok_or_else(|| anyhow!("{plugin} not in {body}"))
    }

    /// `token`'s inbox once it holds a message containing `text` (the notification rules run
    /// after commit); fails naming the text when it does not come.
    pub async fn inbox_with(&self, token: &str, text: &str) -> anyhow::Result<Value> {
        eventually(&format!("an inbox message with {text:?}"), || async {
            let (_, inbox) = self.get("/api/v1/me/inbox", Some(token)).await?;
            Ok(inbox.to_string().contains(text).then_some(inbox))
        })
        .await
    }

    /// Sends a request; returns the status and the body as JSON (`Value::Null` when empty,
    /// `Value::String` when not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let (status, _, value) = self
            .send(self.client.request(method, self.url(path)), token, body)
            .await?;
        Ok((status, value))
    }

    /// The counters of the serving plugin `name` (calls, failures, suspension, last error).
    pub fn plugin_stats(&self, name: &str) -> anyhow::Result<Arc<pifa::plugins::Stats>> {
        self.plugins
            .current()
            .named(name)
            .map(|p| p.stats.clone())
            .ok_or_else(|| anyhow!("plugin {name} is not serving"))
    }

    /// POSTs `body` as if from `source`: the request carries `X-Forwarded-For: <source>`
    /// (which only a server `behind_proxy` believes). Returns the status, the `Retry-After`
    /// seconds when there are any, and the body.
    pub async fn post_from(
        &self,
        source: &str,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<(StatusCode, Option<u64>, Value)> {
        self.request_from(Method::POST, source, path, None, Some(body))
            .await
    }

    /// [`TestApp::post_from`] with any method, signed in as `token` when given.
    pub async fn request_from(
        &self,
        method: Method,
        source: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Option<u64>, Value)> {
        let request = self
            .client
            .request(method, self.url(path))
            .header("x-forwarded-for", source);
        self.send(request, token, body).await
    }

    async fn send(
        &self,
        mut request: reqwest::RequestBuilder,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Option<u64>, Value)> {
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let text = response.text().await?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, retry_after, value))
    }

    pub async fn get(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Signs in by password and returns the bearer token.
    pub async fn login(&self, phone: &str, password: &str) -> anyhow::Result<String> {
        let (status, body) = self
            .post(
                "/api/v1/auth/login",
                None,
                &serde_json::json!({ "phone": phone, "password": password }),
            )
            .await?;
        anyhow::ensure!(status == StatusCode::OK, "login {phone}: {status} {body}");
        body["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no token in {body}"))
    }

    /// The newest code sent to `recipient`, read where a new user reads it: the staff
    /// message list (as the demo admin).
    pub async fn latest_code_for(&self, recipient: &str) -> anyhow::Result<String> {
        let admin = self
            .login(pifa_demo::ADMIN, pifa::demo::DEMO_PASSWORD)
            .await?;
        let (status, body) = self
            .get(
                &format!("/api/v1/admin/messages?recipient={recipient}"),
                Some(&admin),
            )
            .await?;
        anyhow::ensure!(status == StatusCode::OK, "messages: {status} {body}");
        let text = body[0]["body"]
            .as_str()
            .ok_or_else(|| anyhow!("no message to {recipient}: {body}"))?;
        let code: String = text.chars().filter(char::is_ascii_digit).take(6).collect();
        anyhow::ensure!(code.len() == 6, "no 6-digit code in {text}");
        Ok(code)
    }

    /// Row counts of every table, to show a refused request changed nothing.
    pub async fn row_counts(&self) -> anyhow::Result<Vec<(String, i64)>> {
        let mut counts = Vec::new();
        for table in pifa::store::DATA_TABLES
            .iter()
            .chain(pifa::store::EPHEMERAL_TABLES)
        {
            counts.push(((*table).to_owned(), self.store.count_rows(table).await?));
        }
        Ok(counts)
    }

    /// Fails naming every answer that did not fit the OpenAPI document.
    pub fn keeps_the_contract(&self) -> anyhow::Result<()> {
        let violations = self.contract.take_violations();
        anyhow::ensure!(
            violations.is_empty(),
            "{} answers did not fit the OpenAPI document:\n{}",
            violations.len(),
            violations.join("\n")
        );
        Ok(())
    }

    /// Stops the server and drops its database; fails if an answer did not fit the document.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        eprintln!(
            "openapi contract ({:?}): {} answers checked by this server, {} in this process",
            self.backend,
            self.contract.checked(),
            contract::CHECKED_IN_PROCESS.load(std::sync::atomic::Ordering::Relaxed)
        );
        let kept = self.keeps_the_contract();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.server.take() {
            handle.await??;
        }
        self.store.close().await;
        self.database.drop_database().await;
        kept
    }
}

/// A 1×1 PNG: a real image for upload tests.
pub const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

pub use images::tiny_jpeg;

/// The profile form (完善信息) with every field filled in; `files` are (field, bytes).
pub fn profile_form(region_id: i64, files: &[(&str, &[u8])]) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new()
        .text("shop_name", "琼海兴业五金店")
        .text("contact_name", "钱老板")
        .text("contact_phone", "13912345678")
        .text("province", "海南省")
        .text("city", "海口市")
        .text("district", "龙华区")
        .text("address", "金盘路 18 号")
        .text("region_id", region_id.to_string())
        .text("wechat_id", "qian_wujin");
    for (field, bytes) in files {
        form = form.part(
            (*field).to_owned(),
            reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(format!("{field}.jpg")),
        );
    }
    form
}

impl TestApp {
    /// Signs up a new member (phone `phone`, password `member2026`) and returns his token.
    pub async fn new_member(&self, phone: &str) -> anyhow::Result<String> {
        self.post(
            "/api/v1/auth/codes",
            None,
            &serde_json::json!({ "purpose": "signup", "phone": phone }),
        )
        .await?;
        let code = self.latest_code_for(phone).await?;
        let body = serde_json::json!({ "company_name": "新店", "contact_name": "钱老板", "phone": phone, "password": "member2026", "code": code });
        let (status, response) = self.post("/api/v1/auth/signup", None, &body).await?;
        anyhow::ensure!(
            status == StatusCode::CREATED,
            "sign-up {phone}: {status} {response}"
        );
        self.login(phone, "member2026").await
    }

    /// `count` approved members in 海口 (phones 1370000NNNN, password `member2026`), each with
    /// an address; returns their tokens.
    pub async fn approved_members(&self, count: usize) -> anyhow::Result<Vec<String>> {
        let now = self.clock.now_ms();
        let password = pifa::accounts::Password::parse("member2026", "password")
            .map_err(|e| anyhow!("{e:?}"))?;
        let hash = Hasher::cheap()?.hash(&password).await?;
        let haikou = self
            .store
            .regions()
            .list_regions()
            .await?
            .into_iter()
            .find(|r| r.name == "海口")
            .map(|r| r.id);
        let mut tokens = Vec::with_capacity(count);
        for n in 0..count {
            let phone = format!("1370000{n:04}");
            let id = self
                .store
                .accounts()
                .insert_user(
                    &pifa::accounts::users::NewUser {
                        phone: phone.clone(),
                        email: None,
                        name: format!("会员{n}"),
                        company_name: Some(format!("五金店{n}")),
                        password_hash: Some(hash.clone()),
                        member_state: Some(pifa::accounts::MemberState::Approved),
                        vehicle_plate: None,
                        roles: [pifa::accounts::Role::Member].into(),
                        region_ids: Default::default(),
                    },
                    now,
                )
                .await?;
            self.store
                .members()
                .set_standing(id, pifa::accounts::MemberState::Approved, None, haikou, now)
                .await?;
            tokens.push(self.login(&phone, "member2026").await?);
        }
        Ok(tokens)
    }

    /// Sends the profile form as `token`.
    pub async fn put_profile(
        &self,
        token: &str,
        form: reqwest::multipart::Form,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.send_form(Method::PUT, "/api/v1/me/profile", token, form)
            .await
    }

    /// Places an order as `token` under idempotency key `key`; returns the status, the body and
    /// the body's exact text (replays must be byte-identical).
    pub async fn place_order(
        &self,
        token: &str,
        key: &str,
        body: &Value,
    ) -> anyhow::Result<(StatusCode, Value, String)> {
        let response = self
            .client
            .post(self.url("/api/v1/orders"))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
        Ok((status, value, text))
    }

    /// The first product the shelf lists to the bearer of `token`: its name and the lowest
    /// price the API shows him among its SKUs (an error when it shows him none).
    pub async fn first_listed(&self, token: &str) -> anyhow::Result<(String, i64)> {
        let (_, products) = self.get("/api/v1/products?limit=12", Some(token)).await?;
        let lowest = products[0]["skus"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|sku| sku["price"]["price_fen"].as_i64())
            .min()
            .ok_or_else(|| anyhow!("no price for the caller: {products}"))?;
        let name = products[0]["name"].as_str().unwrap_or("?").to_owned();
        Ok((name, lowest))
    }

    /// The SKU id of a demo barcode.
    pub async fn sku_id(&self, barcode: &str) -> anyhow::Result<i64> {
        self.store
            .orders()
            .skus_by_codes(&[barcode.to_owned()])
            .await?
            .get(barcode)
            .and_then(|ids| ids.first().copied())
            .ok_or_else(|| anyhow!("no SKU with barcode {barcode}"))
    }

    /// The product of the SKU with a demo barcode.
    pub async fn product_id(&self, barcode: &str) -> anyhow::Result<i64> {
        let sku = pifa::ids::SkuId(self.sku_id(barcode).await?);
        self.store
            .catalog()
            .sku_products(&[sku])
            .await?
            .get(&sku)
            .map(|p| p.get())
            .ok_or_else(|| anyhow!("no product for {barcode}"))
    }

    /// The shelf stock of the SKU with a demo barcode, as the store holds it.
    pub async fn stock_of(&self, barcode: &str) -> anyhow::Result<i64> {
        let sku = self.sku_id(barcode).await?;
        let sku = pifa::ids::SkuId(sku);
        let owners = self.store.catalog().sku_products(&[sku]).await?;
        let product = self
            .store
            .catalog()
            .product(owners.get(&sku).map_or(0, |p| p.get()))
            .await?
            .ok_or_else(|| anyhow!("no product for {barcode}"))?;
        Ok(product
            .skus
            .iter()
            .find(|s| s.id == sku)
            .map_or(0, |s| s.stock))
    }

    /// Posts a multipart form as `token`; returns the status and the body as JSON.
    pub async fn post_form(
        &self,
        path: &str,
        token: &str,
        form: reqwest::multipart::Form,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.send_form(Method::POST, path, token, form).await
    }

    /// Sends a multipart form; the status and the body as JSON (`Value::String` when not JSON).
    async fn send_form(
        &self,
        method: Method,
        path: &str,
        token: &str,
        form: reqwest::multipart::Form,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let response = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// Files under the data directory's uploads folder.
    pub fn upload_files(&self) -> Vec<String> {
        std::fs::read_dir(self.database.dir().join("uploads"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The stable code of an error response (`<none>` when the body is not one).
/// Polls `check` every 100 ms until it gives a value (background work: the event dispatcher, a
/// file watcher's reload); fails naming `what` after 30 s. The deadline is generous on
/// purpose: a loaded CI machine is slow, and only a failing test ever waits it out.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    for _ in 0..300 {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("{what}: not reached in 30 s")
}

pub fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

/// Phones of the demo accounts, by role.
pub mod pifa_demo {
    pub const ADMIN: &str = "13800000001";
    pub const SERVICE: &str = "13800000002";
    pub const MANAGER_HAIKOU: &str = "13800000011";
    pub const MANAGER_SANYA: &str = "13800000012";
    pub const PROMOTER: &str = "13800000021";
    pub const DRIVER_HAIKOU: &str = "13800000031";
    pub const DRIVER_SANYA: &str = "13800000032";
    pub const VERIFIER: &str = "13800000041";
    pub const SUPPLIER: &str = "13800000051";
    pub const MEMBER: &str = "13900000001";
}

/// Runs `test` against SQLite, then PostgreSQL (skipped without a server; see `postgres_url`).
#[macro_export]
macro_rules! on_both_backends {
    ($sqlite:ident, $postgres:ident, $body:path) => {
        #[tokio::test]
        async fn $sqlite() -> anyhow::Result<()> {
            $body($crate::Backend::Sqlite).await
        }
        #[tokio::test]
        async fn $postgres() -> anyhow::Result<()> {
            $body($crate::Backend::Postgres).await
        }
    };
}
