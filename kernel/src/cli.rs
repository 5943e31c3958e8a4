//! The `pifa` command line: serve, demo, backup, restore, and the checks of plugins, scripts
//! and themes.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::accounts::passwords::Hasher;
use crate::app::{AppState, shutdown_signal};
use crate::clock::Clock;
use crate::config::Config;
use crate::http::Server;

#[derive(Parser)]
#[command(
    name = "pifa",
    version,
    about = "Pifa (批发): B2B wholesale ordering platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the shop (PIFA_ADDR, PIFA_DATA, DATABASE_URL); migrations are applied first.
    Serve {
        /// Load the demo data first when the database is empty.
        #[arg(long)]
        demo: bool,
        /// TEST ONLY: let the kernel clock be moved (never in production).
        #[arg(long, hide = true)]
        test_clock: bool,
    },
    /// Fill an empty database with demo data.
    Demo,
    /// Apply migrations and exit.
    Migrate,
    /// Rebuild the product search index from the products.
    Reindex,
    /// Write a backup of all data (default: into PIFA_DATA/backups).
    Backup {
        /// Write to this file instead.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The WebAssembly plugins and native adapters (PIFA_PLUGINS, default plugins.toml;
    /// native ones only with PIFA_ALLOW_NATIVE=1).
    Plugins {
        #[command(subcommand)]
        action: PluginsCommand,
    },
    /// The Rhai rules: `pifa scripts check [DIR]` compiles each script in DIR (default
    /// PIFA_SCRIPTS, `scripts`) and runs its examples; exits non-zero with FILE:LINE:COLUMN.
    Scripts {
        #[command(subcommand)]
        action: ScriptsCommand,
    },
    /// The storefront's themes: `pifa themes check [DIR]` loads each theme in DIR (default
    /// PIFA_THEMES_DIR, `themes`; or DIR is one theme's folder) and renders its pages against
    /// sample data; exits non-zero with FILE:LINE:COLUMN.
    Themes {
        #[command(subcommand)]
        action: ThemesCommand,
    },
    /// Replace all data with a backup file (all or nothing).
    Restore {
        file: PathBuf,
        /// Allow replacing a database that already holds data.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum ScriptsCommand {
    /// Check the scripts in DIR (default: PIFA_SCRIPTS, `scripts`).
    Check { dir: Option<PathBuf> },
}

#[derive(Subcommand)]
enum ThemesCommand {
    /// Check the themes in DIR (default: PIFA_THEMES_DIR, `themes`).
    Check { dir: Option<PathBuf> },
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// Each plugin's status, version, calls, failures and fuel per call (p50/p99), as the
    /// serving instance last saved them.
    List,
    /// Check a plugins.toml, or one component file; exits non-zero with the reason.
    Check { file: PathBuf },
    /// Run one hook of a plugin on a JSON input (or a fixture: {"hook", "kv", "counters",
    /// "input"}); prints the output (or the error), fuel used and peak memory. Storage is in
    /// memory.
    Run {
        name: String,
        hook: String,
        input: PathBuf,
    },
    /// Build the plugin crate in DIR into a component (cargo for wasm32-unknown-unknown in
    /// release, then wit-component) and check it; written to
    /// <cargo target dir>/pifa/<package>.wasm unless --out says where.
    Build {
        dir: PathBuf,
        /// Write the component here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Cargo's target directory (default: the crate's, or CARGO_TARGET_DIR).
        #[arg(long)]
        target_dir: Option<PathBuf>,
    },
}

pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::from_env()?;
    match cli.command {
        Command::Serve { demo, test_clock } => serve(config, demo, test_clock).await,
        Command::Demo => {
            let store = config.open_store().await?;
            crate::demo::load(
                &store,
                &Hasher::production()?,
                Clock::system().now_ms(),
                crate::demo::DemoSize::Full,
            )
            .await?;
            println!("{}", crate::demo::accounts_table());
            Ok(())
        }
        Command::Reindex => {
            let store = config.open_store().await?;
            println!(
                "reindexed {} products",
                store.catalog().reindex_all().await?
            );
            Ok(())
        }
        Command::Migrate => {
            let store = config.open_store().await?;
            println!(
                "migrations applied: {:?}",
                store.applied_migrations().await?
            );
            Ok(())
        }
        Command::Backup { out } => {
            let store = config.open_store().await?;
            let now = Clock::system().now_ms();
            let (path, counts) = match out {
                Some(path) => {
                    let file = std::fs::File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    let counts = store
                        .backups()
                        .write_backup(
                            std::io::BufWriter::new(file),
                            now,
                            config.backup_passphrase.as_ref(),
                            &config.uploads_dir(),
                        )
                        .await?;
                    (path, counts)
                }
                None => {
                    crate::backup::backup_to_dir(
                        &store,
                        &config.backups_dir(),
                        &config.uploads_dir(),
                        now,
                        config.backup_passphrase.as_ref(),
                        &crate::jobs::Progress::default(),
                    )
                    .await?
                }
            };
            println!("backup written to {}: {counts:?}", path.display());
            Ok(())
        }
        Command::Plugins { action } => plugins(&config, action).await,
        Command::Scripts {
            action: ScriptsCommand::Check { dir },
        } => {
            let dir = dir.unwrap_or_else(|| config.scripts_dir.clone());
            match crate::scripts::check_dir(&dir) {
                Ok(report) => {
                    println!("{report}");
                    Ok(())
                }
                Err(reason) => anyhow::bail!("{reason}"),
            }
        }
        Command::Themes {
            action: ThemesCommand::Check { dir },
        } => {
            let dir = dir.unwrap_or_else(|| config.themes_dir.clone());
            match crate::themes::check_dir(&dir) {
                Ok(report) => {
                    println!("{report}");
                    Ok(())
                }
                Err(reasons) => {
                    for reason in &reasons {
                        eprintln!("{reason}");
                    }
                    anyhow::bail!("{} theme(s) refused", reasons.len())
                }
            }
        }
        Command::Restore { file, force } => {
            let store = config.open_store().await?;
            if !force && !store.is_empty().await? {
                anyhow::bail!(
                    "the database already holds data; pass --force to replace it with the backup"
                );
            }
            let input = std::fs::File::open(&file)
                .with_context(|| format!("opening {}", file.display()))?;
            let counts = store
                .backups()
                .restore_backup(
                    input,
                    config.backup_passphrase.as_ref(),
                    &config.uploads_dir(),
                )
                .await?;
            println!("restored from {}: {counts:?}", file.display());
            Ok(())
        }
    }
}

async fn plugins(config: &Config, action: PluginsCommand) -> anyhow::Result<()> {
    match action {
        PluginsCommand::List => {
            let store = config.open_store().await.ok();
            print!(
                "{}",
                crate::plugins::cli::list(&config.plugins_path, store, config.native_code())
                    .await?
            );
            Ok(())
        }
        PluginsCommand::Check { file } => {
            let native_code = config.native_code();
            let checked =
                tokio::task::spawn_blocking(move || crate::plugins::cli::check(&file, native_code))
                    .await?;
            match checked {
                Ok(report) => {
                    println!("{report}");
                    Ok(())
                }
                Err(reason) => anyhow::bail!("{reason}"),
            }
        }
        PluginsCommand::Build {
            dir,
            out,
            target_dir,
        } => {
            let options = crate::plugins::cli::BuildOptions { target_dir, out };
            let built =
                tokio::task::spawn_blocking(move || crate::plugins::cli::build(&dir, &options))
                    .await?;
            match built {
                Ok(report) => {
                    println!("{}", report.summary);
                    Ok(())
                }
                Err(reason) => anyhow::bail!("{reason}"),
            }
        }
        PluginsCommand::Run { name, hook, input } => {
            let text = std::fs::read_to_string(&input)
                .with_context(|| format!("reading {}", input.display()))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", input.display()))?;
            let fixture = if value.get("hook").is_some() && value.get("input").is_some() {
                serde_json::from_value(value)?
            } else {
                crate::plugins::cli::Fixture {
                    hook,
                    input: value,
                    ..Default::default()
                }
            };
            let (path, native_code) = (config.plugins_path.clone(), config.native_code());
            let report = tokio::task::spawn_blocking(move || {
                crate::plugins::cli::run(&path, &name, &fixture, native_code)
            })
            .await?
            .map_err(anyhow::Error::msg)?;
            match &report.output {
                Ok(output) => println!("{}", serde_json::to_string_pretty(output)?),
                Err(error) => println!("error: {error}"),
            }
            for line in &report.log {
                println!("log: {line}");
            }
            println!("fuel used: {}", report.fuel);
            println!("peak memory: {} KiB", report.peak_memory / 1024);
            if report.output.is_err() {
                anyhow::bail!("the hook failed");
            }
            Ok(())
        }
    }
}

async fn serve(config: Config, demo: bool, test_clock: bool) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let store = config.open_store().await?;
    let hasher = Hasher::production()?;
    let clock = if test_clock {
        let clock = Clock::movable();
        // A restarted test server resumes where the previous one's moved clock stood
        // (e.g. past a message's send lease); read only under the test-only flag.
        if let Some(offset) = std::env::var("PIFA_TEST_CLOCK_OFFSET_MS")
            .ok()
            .and_then(|v| v.parse::<i64>().ok())
        {
            clock.advance_ms(offset);
        }
        clock
    } else {
        Clock::system()
    };
    if demo && store.is_empty().await? {
        crate::demo::load(&store, &hasher, clock.now_ms(), crate::demo::DemoSize::Full).await?;
        tracing::info!("demo data loaded");
    }
    if !store.catalog().search_supports_chinese().await? {
        tracing::warn!(
            "PostgreSQL's text parser drops Chinese characters under this database's locale: create the database with a UTF-8 locale (e.g. C.UTF-8) for search to work"
        );
    }
    tokio::task::spawn_blocking(crate::catalog::search::warm_up);
    let plugins = config.load_plugins(&store, &clock).await?;
    let scripts = config.load_scripts(&store, &clock)?;
    let themes = config.load_themes()?;
    // The shop's own choice must serve too: a start does not fall back silently.
    if let Some(chosen) = store.settings().current().await?.theme {
        themes
            .require(&chosen)
            .map_err(|error| anyhow::anyhow!("the `theme` setting: {error}"))?;
    }
    let providers = std::sync::Arc::new(crate::channels::Providers::from_env()?);
    let state = AppState::new(
        store,
        clock,
        hasher,
        config,
        Default::default(),
        crate::app::Extensions {
            scripts,
            plugins,
            providers,
            themes,
        },
    );
    let server = Server::bind(state).await?;
    let addr = server.local_addr()?;
    if demo {
        println!("\n{}", crate::demo::accounts_table());
    }
    println!(
        "Pifa is serving on http://{addr}  (shop: /, API: /api/v1, reference: /api/docs, OpenAPI: /api/openapi.json)"
    );
    if demo
        && let Some(member) = crate::demo::ACCOUNTS
            .iter()
            .find(|account| account.phone == crate::demo::DEMO_MEMBER_PHONE)
    {
        println!(
            "Open http://{addr}/ in a browser (a phone-sized window suits it) and sign in as {} ({}) with password {} to order at a member's prices.",
            member.phone,
            member.name,
            crate::demo::DEMO_PASSWORD
        );
    }
    tracing::info!(%addr, startup_ms = started.elapsed().as_millis() as u64, "listening");
    server.serve(shutdown_signal()).await
}
