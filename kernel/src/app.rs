//! The running application: configuration, shared state, start-up and graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::accounts::passwords::Hasher;
use crate::clock::Clock;
use crate::store::Store;

/// What `pifa serve` reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `PIFA_ADDR`, default `127.0.0.1:8080`.
    pub addr: SocketAddr,
    /// `PIFA_DATA`, default `./data`: the SQLite file, uploads, backups, caches.
    pub data_dir: PathBuf,
    /// `DATABASE_URL`; `None` means the embedded SQLite file in `data_dir`.
    pub database_url: Option<String>,
    /// `PIFA_SECURE_COOKIES=1` marks session cookies `Secure` (behind HTTPS).
    pub secure_cookies: bool,
    /// `PIFA_BACKUP_PASSPHRASE`: when set, backups are encrypted with it (and restores use it).
    pub backup_passphrase: Option<age::secrecy::SecretString>,
    /// `PIFA_PLUGINS`, default `plugins.toml`: which WebAssembly plugins and native adapters
    /// run (M7).
    pub plugins_path: PathBuf,
    /// `PIFA_SCRIPTS`, default `scripts`: the Rhai rules (`pricing.rhai`), reloaded on change.
    pub scripts_dir: PathBuf,
    /// `PIFA_ALLOW_NATIVE=1` lets `plugins.toml` load native adapters (`kind = "native"`):
    /// trusted shared libraries running unsandboxed in the server (M6). Off, such an entry
    /// is refused (left out, or the reload that adds it refused).
    pub allow_native: bool,
    /// `PIFA_TRUSTED_PROXIES`: reverse proxies (addresses and CIDR blocks, comma-separated)
    /// whose `X-Forwarded-For` names the client. Unset trusts no one: the socket peer is the
    /// client, which is wrong behind a proxy (every client would share its address in the
    /// login log and the rate limits) and right anywhere else (a client's own header is a lie
    /// it may tell).
    pub trusted_proxies: crate::http::proxy::TrustedProxies,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Config> {
        let addr = std::env::var("PIFA_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
        Ok(Config {
            addr: addr
                .parse()
                .with_context(|| format!("PIFA_ADDR is not host:port: {addr}"))?,
            data_dir: std::env::var_os("PIFA_DATA")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("data")),
            database_url: std::env::var("DATABASE_URL")
                .ok()
                .filter(|url| !url.is_empty()),
            secure_cookies: std::env::var("PIFA_SECURE_COOKIES").is_ok_and(|v| v == "1"),
            backup_passphrase: std::env::var("PIFA_BACKUP_PASSPHRASE")
                .ok()
                .filter(|p| !p.is_empty())
                .map(age::secrecy::SecretString::from),
            plugins_path: std::env::var_os("PIFA_PLUGINS")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("plugins.toml")),
            scripts_dir: std::env::var_os("PIFA_SCRIPTS")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("scripts")),
            allow_native: std::env::var("PIFA_ALLOW_NATIVE").is_ok_and(|v| v == "1"),
            trusted_proxies: match std::env::var("PIFA_TRUSTED_PROXIES") {
                Ok(list) => crate::http::proxy::TrustedProxies::parse(&list)
                    .map_err(|err| anyhow::anyhow!("PIFA_TRUSTED_PROXIES: {err}"))?,
                Err(std::env::VarError::NotPresent) => Default::default(),
                Err(std::env::VarError::NotUnicode(_)) => {
                    anyhow::bail!("PIFA_TRUSTED_PROXIES is not valid UTF-8")
                }
            },
        })
    }

    /// Whether `plugins.toml` may load native adapters, as the plugin host takes it.
    pub fn native_code(&self) -> crate::native::NativeCode {
        crate::native::NativeCode::allowed_if(self.allow_native)
    }

    pub fn backups_dir(&self) -> PathBuf {
        self.data_dir.join("backups")
    }

    /// Loads the scripts in `scripts_dir`: a script that does not compile or fails its examples
    /// stops the start with the reason.
    pub fn load_scripts(
        &self,
        store: &Store,
        clock: &Clock,
    ) -> anyhow::Result<Arc<crate::scripts::ScriptHost>> {
        crate::scripts::ScriptHost::load(&self.scripts_dir, Some(store.clone()), clock.clone())
            .map_err(|error| anyhow::anyhow!("scripts: {error}"))
    }

    /// Where compiled plugins are cached across restarts.
    pub fn plugin_cache_dir(&self) -> PathBuf {
        self.data_dir.join("plugin-cache")
    }

    /// Loads the plugins `plugins_path` names, on `store` (blocking work: compiling).
    pub async fn load_plugins(
        &self,
        store: &Store,
        clock: &Clock,
    ) -> anyhow::Result<Arc<crate::plugins::PluginHost>> {
        let (path, store, clock, cache, native_code) = (
            self.plugins_path.clone(),
            store.clone(),
            clock.clone(),
            self.plugin_cache_dir(),
            self.native_code(),
        );
        tokio::task::spawn_blocking(move || {
            crate::plugins::PluginHost::load_with(
                &path,
                Some(store),
                clock,
                Some(cache),
                native_code,
            )
        })
        .await?
        .map_err(|error| anyhow::anyhow!("plugins: {error}"))
    }

    pub fn uploads_dir(&self) -> PathBuf {
        crate::uploads::uploads_dir(&self.data_dir)
    }

    /// Opens the configured database, creating the data directory first.
    pub async fn open_store(&self) -> anyhow::Result<Store> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating data directory {}", self.data_dir.display()))?;
        let store = match &self.database_url {
            Some(url) => Store::open(url).await,
            None => Store::open_sqlite_in(&self.data_dir).await,
        };
        store.context("opening the database")
    }
}

/// State every handler shares; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub clock: Clock,
    pub hasher: Hasher,
    pub config: Arc<Config>,
    /// The quote pipeline's extension steps (scripts, plugins).
    pub pipeline: crate::orders::quote::Pipeline,
    /// The WebAssembly plugins serving now (hot-reloaded).
    pub plugins: Arc<crate::plugins::PluginHost>,
    /// The Rhai rules serving now (hot-reloaded).
    pub scripts: Arc<crate::scripts::ScriptHost>,
    /// Where messages leave the shop (SMS, WeChat, email providers).
    pub providers: Arc<crate::channels::Providers>,
}

/// What extends the kernel at run time: the scripts, the plugins, and the message providers
/// they reach the outside through.
pub struct Extensions {
    pub scripts: Arc<crate::scripts::ScriptHost>,
    pub plugins: Arc<crate::plugins::PluginHost>,
    pub providers: Arc<crate::channels::Providers>,
}

impl AppState {
    /// The state for a server on `store`, its pipeline ending with the plugins' quote hooks.
    /// The state for a server on `store`, its pipeline ending with the pricing script and
    /// then the plugins' quote hooks (the brief's order).
    pub fn new(
        store: Store,
        clock: Clock,
        hasher: Hasher,
        config: Config,
        pipeline: crate::orders::quote::Pipeline,
        extensions: Extensions,
    ) -> AppState {
        let Extensions {
            scripts,
            plugins,
            providers,
        } = extensions;
        let pipeline = pipeline
            .with_step(Arc::new(crate::scripts::pricing::ScriptStep {
                host: scripts.clone(),
                draft: None,
            }))
            .with_step(Arc::new(crate::plugins::hooks::PluginQuoteStep {
                host: plugins.clone(),
            }));
        AppState {
            store,
            clock,
            hasher,
            config: Arc::new(config),
            pipeline,
            plugins,
            scripts,
            providers,
        }
    }
}

/// A server bound to its port, not yet serving.
pub struct Server {
    listener: TcpListener,
    state: AppState,
    wrap: Option<RouterWrapper>,
}

/// What `Server::wrap_router` puts around the router.
type RouterWrapper = Box<dyn FnOnce(axum::Router) -> axum::Router + Send>;

impl Server {
    pub async fn bind(state: AppState) -> anyhow::Result<Server> {
        let listener = TcpListener::bind(state.config.addr)
            .await
            .with_context(|| format!("binding {}", state.config.addr))?;
        Ok(Server {
            listener,
            state,
            wrap: None,
        })
    }

    /// Serves `wrap(router)` instead of the router itself, outside every layer of it: the e2e
    /// harness checks each answer against the OpenAPI document this way.
    pub fn wrap_router(
        mut self,
        wrap: impl FnOnce(axum::Router) -> axum::Router + Send + 'static,
    ) -> Server {
        self.wrap = Some(Box::new(wrap));
        self
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let maintenance = tokio::spawn(maintenance_loop(self.state.clone()));
        let mut plugin_tasks = self.state.plugins.spawn_background();
        plugin_tasks.extend(self.state.scripts.spawn_watcher());
        plugin_tasks.push(tokio::spawn(crate::notify::rules::rules_loop(
            self.state.store.clone(),
            self.state.scripts.clone(),
            self.state.clock.clone(),
        )));
        plugin_tasks.push(tokio::spawn(crate::notify::sender::send_loop(
            self.state.store.clone(),
            crate::notify::sender::Senders {
                providers: self.state.providers.clone(),
                plugins: self.state.plugins.clone(),
            },
            self.state.clock.clone(),
        )));
        let cache_listener = self.state.store.follow_changes();
        let mut router = crate::http::router(self.state.clone());
        if let Some(wrap) = self.wrap {
            router = wrap(router);
        }
        axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;
        maintenance.abort();
        for task in plugin_tasks {
            task.abort();
        }
        if let Some(listener) = cache_listener {
            listener.abort();
        }
        self.state.store.close().await;
        Ok(())
    }
}

/// Background upkeep, once a minute: overdue orders close (D5), scheduled backups (L4) when
/// due; once an hour, expired sessions and old rate-limit windows are dropped. Several instances on one database would
/// each make scheduled backups: run the schedule on one of them.
async fn maintenance_loop(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    let mut last_backup_ms = None;
    for round in 0u64.. {
        tick.tick().await;
        let now = state.clock.now_ms();
        match state.store.close_overdue_orders(now).await {
            Ok(0) => {}
            Ok(closed) => tracing::info!(closed, "closed overdue orders"),
            Err(err) => tracing::error!(error = %err, "closing overdue orders failed"),
        }
        match state.store.receive_overdue_orders(now).await {
            Ok(0) => {}
            Ok(received) => tracing::info!(received, "orders received automatically"),
            Err(err) => tracing::error!(error = %err, "receiving overdue orders failed"),
        }
        if round % 60 == 0 {
            if let Err(err) = state.store.prune_sessions(now).await {
                tracing::warn!(error = %err, "pruning sessions failed");
            }
            if let Err(err) = state.store.prune_rate_limits(now).await {
                tracing::warn!(error = %err, "pruning rate limits failed");
            }
        }
        match crate::backup::run_schedule(
            &state.store,
            &state.config.backups_dir(),
            &state.config.uploads_dir(),
            now,
            last_backup_ms,
            state.config.backup_passphrase.as_ref(),
        )
        .await
        {
            Ok(last) => last_backup_ms = last,
            Err(err) => tracing::error!(error = ?err, "scheduled backup failed"),
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
