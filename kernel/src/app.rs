//! The application assembled: `AppState` (the shop, the order pipeline put together once, the
//! hosts and the providers; each handler takes its part through `FromRef`), the hosts' loading
//! from the configuration, the work that runs beside the requests, and the shutdown signal.
//! `http::Server` serves it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;

use crate::accounts::passwords::Hasher;
use crate::clock::Clock;
use crate::config::Config;
use crate::orders::pipeline::Pipeline;
use crate::shop::Shop;
use crate::store::Store;

/// Loading the hosts a configuration names: they belong to the assembly, not to the
/// configuration, which the domain reads too.
impl Config {
    /// Whether `plugins.toml` may load native adapters, as the plugin host takes it.
    pub fn native_code(&self) -> crate::native::NativeCode {
        crate::native::NativeCode::allowed_if(self.allow_native)
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

    /// Loads the themes in `themes_dir`: the start fails when `PIFA_THEME`'s does not load.
    pub fn load_themes(&self) -> anyhow::Result<Arc<crate::themes::ThemeHost>> {
        crate::themes::ThemeHost::load(&self.themes_dir, &self.theme)
            .map_err(|error| anyhow::anyhow!("themes ({}): {error}", self.themes_dir.display()))
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
}

/// State every handler shares; cheap to clone. The domain's handlers take the parts they
/// need (`State<Shop>`, `State<Pipeline>`, `State<Hasher>`: the `FromRef`s below), the hosts'
/// handlers their host, so only this module knows the whole.
#[derive(Clone)]
pub struct AppState {
    /// The database, the clock and the configuration.
    pub shop: Shop,
    pub hasher: Hasher,
    /// The order pipeline: the catalogue, then the extension steps (scripts, plugins).
    pub pipeline: Pipeline,
    /// The WebAssembly plugins serving now (hot-reloaded).
    pub plugins: Arc<crate::plugins::PluginHost>,
    /// The Rhai rules serving now (hot-reloaded).
    pub scripts: Arc<crate::scripts::ScriptHost>,
    /// Where messages leave the shop (SMS, WeChat, email providers).
    pub providers: Arc<crate::channels::Providers>,
    /// The storefront's themes serving now (hot-reloaded).
    pub themes: Arc<crate::themes::ThemeHost>,
    /// The back office's long work (imports, exports, backups, replays) running or done.
    pub jobs: Arc<crate::jobs::Jobs>,
}

impl std::ops::Deref for AppState {
    type Target = Shop;

    fn deref(&self) -> &Shop {
        &self.shop
    }
}

impl FromRef<AppState> for Shop {
    fn from_ref(state: &AppState) -> Shop {
        state.shop.clone()
    }
}

impl FromRef<AppState> for Arc<crate::jobs::Jobs> {
    fn from_ref(state: &AppState) -> Arc<crate::jobs::Jobs> {
        state.jobs.clone()
    }
}

impl FromRef<AppState> for Hasher {
    fn from_ref(state: &AppState) -> Hasher {
        state.hasher.clone()
    }
}

impl FromRef<AppState> for Pipeline {
    fn from_ref(state: &AppState) -> Pipeline {
        state.pipeline.clone()
    }
}

impl FromRef<AppState> for crate::plugins::PluginsState {
    fn from_ref(state: &AppState) -> crate::plugins::PluginsState {
        crate::plugins::PluginsState {
            shop: state.shop.clone(),
            plugins: state.plugins.clone(),
        }
    }
}

impl FromRef<AppState> for crate::scripts::ScriptsState {
    fn from_ref(state: &AppState) -> crate::scripts::ScriptsState {
        crate::scripts::ScriptsState {
            shop: state.shop.clone(),
            scripts: state.scripts.clone(),
            pipeline: state.pipeline.clone(),
        }
    }
}

impl FromRef<AppState> for crate::themes::admin::ThemesState {
    fn from_ref(state: &AppState) -> crate::themes::admin::ThemesState {
        crate::themes::admin::ThemesState {
            shop: state.shop.clone(),
            themes: state.themes.clone(),
        }
    }
}

impl FromRef<AppState> for crate::settings::Themes {
    fn from_ref(state: &AppState) -> crate::settings::Themes {
        crate::settings::Themes(state.themes.clone())
    }
}

/// What extends the kernel at run time: the scripts, the plugins, the message providers
/// they reach the outside through, and the storefront's themes.
pub struct Extensions {
    pub scripts: Arc<crate::scripts::ScriptHost>,
    pub plugins: Arc<crate::plugins::PluginHost>,
    pub providers: Arc<crate::channels::Providers>,
    pub themes: Arc<crate::themes::ThemeHost>,
}

impl AppState {
    /// The state for a server on `store`. Its pipeline is assembled here, the one place: the
    /// steps given (tests put theirs first), then the pricing script and the plugins' quote
    /// hooks (the brief's order), and the plugins' checkout hooks.
    pub fn new(
        store: Store,
        clock: Clock,
        hasher: Hasher,
        config: Config,
        pipeline: Pipeline,
        extensions: Extensions,
    ) -> AppState {
        let Extensions {
            scripts,
            plugins,
            providers,
            themes,
        } = extensions;
        let pipeline = pipeline
            .with_step(Arc::new(crate::scripts::pricing::ScriptStep {
                host: scripts.clone(),
                draft: None,
            }))
            .with_step(Arc::new(crate::plugins::hooks::PluginQuoteStep {
                host: plugins.clone(),
            }))
            .with_checkout_step(Arc::new(crate::plugins::hooks::PluginCheckoutStep {
                host: plugins.clone(),
            }));
        // The plugins' `pages` interface answers with the serving theme's section types.
        plugins.set_sections(themes.clone());
        AppState {
            jobs: Arc::new(crate::jobs::Jobs::new(clock.clone())),
            shop: Shop {
                store,
                clock,
                config: Arc::new(config),
            },
            hasher,
            pipeline,
            plugins,
            scripts,
            providers,
            themes,
        }
    }
}

impl AppState {
    /// Starts the work done beside the requests: the maintenance loop, the plugins' event
    /// delivery and ticks, the hot-reload watchers (plugins, scripts, themes), the notification
    /// rules and the sender, and (on PostgreSQL) the cache's change listener. The server aborts them at shutdown.
    pub fn spawn_background(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = vec![tokio::spawn(maintenance_loop(self.clone()))];
        tasks.extend(self.plugins.spawn_background());
        tasks.extend(self.scripts.spawn_watcher());
        tasks.extend(self.themes.spawn_watcher());
        tasks.push(tokio::spawn(crate::announce::rules_loop(
            self.store.clone(),
            self.scripts.clone(),
            self.clock.clone(),
        )));
        tasks.push(tokio::spawn(crate::notify::sender::send_loop(
            self.store.clone(),
            crate::notify::sender::Senders {
                providers: self.providers.clone(),
                natives: self.plugins.clone(),
            },
            self.clock.clone(),
        )));
        tasks.extend(self.store.follow_changes());
        tasks
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
        match state.store.orders().close_overdue_orders(now).await {
            Ok(0) => {}
            Ok(closed) => tracing::info!(closed, "closed overdue orders"),
            Err(err) => tracing::error!(error = %err, "closing overdue orders failed"),
        }
        match state.store.orders().receive_overdue_orders(now).await {
            Ok(0) => {}
            Ok(received) => tracing::info!(received, "orders received automatically"),
            Err(err) => tracing::error!(error = %err, "receiving overdue orders failed"),
        }
        if round % 60 == 0 {
            if let Err(err) = state.store.accounts().prune_sessions(now).await {
                tracing::warn!(error = %err, "pruning sessions failed");
            }
            if let Err(err) = state.store.accounts().prune_rate_limits(now).await {
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
