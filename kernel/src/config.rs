//! What `pifa serve` is told: its address, data directory, database, and where its plugins,
//! scripts and themes are, read from the environment once at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;

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
    pub trusted_proxies: crate::edge::proxy::TrustedProxies,
    /// `PIFA_THEMES_DIR`, default `themes` (see `default_themes_dir`): the storefront's
    /// themes, reloaded on change.
    pub themes_dir: PathBuf,
    /// `PIFA_THEME`, default `default`: the theme pages use unless the shop's `theme`
    /// setting chooses another.
    pub theme: String,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Config> {
        let addr = std::env::var("PIFA_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
        Ok(Config {
            addr: addr
                .parse()
                .with_context(|| format!("PIFA_ADDR is not host:port: {addr}"))?,
            // Absolute, so every part agrees on it (wasmtime's compiled-code cache accepts no
            // relative path: `data` alone stopped the start).
            data_dir: {
                let dir = std::env::var_os("PIFA_DATA")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("data"));
                std::path::absolute(&dir).unwrap_or(dir)
            },
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
                Ok(list) => crate::edge::proxy::TrustedProxies::parse(&list)
                    .map_err(|err| anyhow::anyhow!("PIFA_TRUSTED_PROXIES: {err}"))?,
                Err(std::env::VarError::NotPresent) => Default::default(),
                Err(std::env::VarError::NotUnicode(_)) => {
                    anyhow::bail!("PIFA_TRUSTED_PROXIES is not valid UTF-8")
                }
            },
            themes_dir: std::env::var_os("PIFA_THEMES_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(default_themes_dir),
            theme: std::env::var("PIFA_THEME")
                .ok()
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "default".to_owned()),
        })
    }

    pub fn backups_dir(&self) -> PathBuf {
        self.data_dir.join("backups")
    }

    pub fn uploads_dir(&self) -> PathBuf {
        uploads_dir(&self.data_dir)
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

/// Where uploaded files live under a data directory (`uploads::uploads_dir` for the domain).
pub fn uploads_dir(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("uploads")
}

/// Where the themes are when `PIFA_THEMES_DIR` does not say: `themes` in the working
/// directory when there is one there; else the `themes` folder of the source tree this binary
/// was built from, when it still exists (a binary run from elsewhere on the machine it was
/// built on, as `cargo test` runs it from its crate's folder), so that the shop has a face
/// wherever it is started; else `themes`, which start-up then reports missing. A deployment
/// ships the folder beside the binary or sets `PIFA_THEMES_DIR`.
fn default_themes_dir() -> PathBuf {
    let here = PathBuf::from("themes");
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../themes");
    if !here.is_dir() && built_from.is_dir() {
        built_from
    } else {
        here
    }
}
