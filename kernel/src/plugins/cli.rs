//! `pifa plugins list | check FILE | run NAME HOOK INPUT.json | build DIR`, and the fixture
//! runner the test suite uses for every plugin's `fixtures/*.json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pifa_sdk::Hook;

use super::kv::MemoryKv;
use super::{Access, CallError, CallOutcome, CheckError, HostError, PluginHost};
use crate::clock::Clock;
use crate::native::NativeCode;

/// Why `pifa plugins build` gave no loadable component.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Build(#[from] pifa_plugin_build::BuildError),
    #[error("{} was built but does not load: {source}", .component.display())]
    DoesNotLoad {
        component: PathBuf,
        #[source]
        source: Box<CheckError>,
    },
}

/// Why `pifa plugins run` did not call the hook.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("plugin {name} does not load: {reason}")]
    Refused { name: String, reason: String },
    #[error("no plugin {0} in plugins.toml")]
    NoPlugin(String),
    #[error("unknown hook {0:?} (quote, checkout, on-event, handle-http, on-tick)")]
    Hook(String),
    #[error("kv lock poisoned")]
    Poisoned,
}

/// The status of every entry in `plugins.toml`, each loaded on its own (so one that does not
/// load never marks the others): `loaded`, `refused` with its reason, or `suspended` as the
/// serving instance last saved it; with its counters, and for a native adapter its kind,
/// version, the channel it serves and the library's own.
///
/// This reads the file as it is now. While a reload of it is refused, the server keeps
/// serving the previous set (`GET /api/v1/admin/plugins` shows that set and the refusal).
pub async fn list(
    config_path: &Path,
    store: Option<crate::store::Store>,
    native_code: NativeCode,
) -> anyhow::Result<String> {
    let path = config_path.to_owned();
    let loaded = tokio::task::spawn_blocking(move || {
        PluginHost::load_each(&path, None, Clock::system(), None, native_code)
    })
    .await?;
    let host = match loaded {
        Ok((host, _strict)) => host,
        // Nothing to list entry by entry: the file itself does not parse.
        Err(error) => return Ok(format!("plugins.toml does not load: {error}\n")),
    };
    let set = host.current();
    let (saved, (dead, cursors), usage) = match &store {
        Some(store) => (
            store.plugins().plugin_stats().await?,
            store.plugins().event_state().await?,
            store.plugins().plugin_kv_usage().await?,
        ),
        None => (Vec::new(), Default::default(), Default::default()),
    };
    let now = Clock::system().now_ms();
    let mut out = format!(
        "{:<20} {:<6} {:<10} {:<10} {:>8} {:>8} {:>10} {:>10} {:>9} {:>9} {:>6} {:>28}  last error\n",
        "plugin",
        "kind",
        "version",
        "status",
        "calls",
        "failures",
        "fuel p50",
        "fuel p99",
        "ms p50",
        "ms p99",
        "busy",
        "storage (used/quota)"
    );
    for plugin in &set.plugins {
        let row = saved.iter().find(|r| r.plugin == plugin.name());
        let status = match row.and_then(|r| r.suspended_until) {
            Some(until) if until > now => "suspended",
            _ => "loaded",
        };
        let (calls, failures, p50, p99, error) = row
            .map(|r| {
                (
                    r.calls,
                    r.failures,
                    r.fuel_p50,
                    r.fuel_p99,
                    r.last_error.clone(),
                )
            })
            .unwrap_or_default();
        let used = usage.get(plugin.name()).copied().unwrap_or_default();
        let (wall_p50, wall_p99, busy) = row
            .map(|r| (r.wall_us_p50, r.wall_us_p99, r.busy))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<20} {:<6} {:<10} {:<10} {:>8} {:>8} {:>10} {:>10} {:>9} {:>9} {:>6} {:>28}  {}\n",
            plugin.name(),
            "wasm",
            plugin.manifest.version,
            status,
            calls,
            failures,
            p50,
            p99,
            ms(wall_p50),
            ms(wall_p99),
            busy,
            storage_cell(used, &plugin.declared.quota),
            error
        ));
        out.push_str(&format!(
            "  grants: {}\n",
            describe_grants(&plugin.declared.grants)
        ));
        let dead = dead
            .iter()
            .find(|(name, _)| name == plugin.name())
            .map_or(0, |(_, n)| *n);
        let retry = cursors
            .iter()
            .find(|c| c.plugin == plugin.name())
            .and_then(super::http::EventRetry::of);
        if dead > 0 || retry.is_some() {
            let mut line = format!("  events: {dead} parked as dead");
            if let Some(retry) = retry {
                line.push_str(&format!(
                    "; event {} failed {} times, next attempt {} ({}); later events wait behind it",
                    retry.event_id, retry.attempts, retry.next_attempt_at, retry.last_error
                ));
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    // A native adapter has no fuel and its sends are the notification dispatcher's to count:
    // its row says what it serves instead.
    for native in &set.native {
        out.push_str(&format!(
            "{:<20} {:<6} {:<10} {:<10}  serves {} (can deliver: {}) from {}\n",
            native.declared.name,
            "native",
            native.adapter.version(),
            "loaded",
            native.declared.channel,
            native.adapter.channels().join(", "),
            native.declared.library.display()
        ));
    }
    for refused in &set.refused {
        out.push_str(&format!(
            "{:<20} {:<6} {:<10} {:<10}  {}\n",
            refused.name,
            refused.kind.as_str(),
            "",
            "refused",
            refused.reason
        ));
    }
    if !set.refused.is_empty() {
        out.push_str(
            "\nA refused entry is left out; the others serve. A running server that refused a \
             reload of this file keeps serving its previous plugins (see /api/v1/admin/plugins).\n",
        );
    }
    Ok(out)
}

/// A plugin's grants in one line: `events [order.closed]; data [none]; …`.
fn describe_grants(grants: &super::config::Grants) -> String {
    let view = super::http::GrantsView::of(grants);
    let list = |items: &[String]| {
        if items.is_empty() {
            "none".to_owned()
        } else {
            items.join(", ")
        }
    };
    format!(
        "events [{}]; data [{}]; route roles [{}]; notify to [{}]",
        list(&view.events),
        list(&view.data),
        list(&view.route_roles),
        list(&view.notify_to)
    )
}

/// A namespace's use against its quota: `120/10000 keys 1.5/16.0 MiB`.
fn storage_cell(used: super::kv::Usage, quota: &super::config::Quota) -> String {
    let mib = |bytes: f64| bytes / (1024.0 * 1024.0);
    format!(
        "{}/{} keys {:.1}/{:.1} MiB",
        used.keys,
        quota.kv_keys,
        mib(used.bytes as f64),
        mib(quota.kv_bytes as f64)
    )
}

/// Microseconds as milliseconds with two decimals (a hook's call is well under one).
fn ms(micros: i64) -> String {
    format!("{}.{:02}", micros / 1000, (micros % 1000) / 10)
}

/// Checks `file`: a `plugins.toml` (every plugin and native adapter in it loads; each one
/// that does not is named with its reason), or one component (its manifest, API version,
/// routes, and that it imports only what its manifest asks for).
pub fn check(file: &Path, native_code: NativeCode) -> Result<String, CheckError> {
    if file.extension().is_some_and(|e| e == "toml") {
        let (host, _strict) =
            PluginHost::load_each(file, None, Clock::system(), None, native_code)?;
        let set = host.current();
        if !set.refused.is_empty() {
            return Err(HostError::Refused(set.refused.clone()).into());
        }
        let names: Vec<String> = set
            .plugins
            .iter()
            .map(|p| format!("{} {}", p.name(), p.manifest.version))
            .chain(set.native.iter().map(|n| {
                format!(
                    "{} {} (native, {})",
                    n.declared.name,
                    n.adapter.version(),
                    n.declared.channel
                )
            }))
            .collect();
        return Ok(format!("ok: {}", names.join(", ")));
    }
    let manifest = super::inspect(file)?;
    Ok(manifest_summary(&manifest))
}

/// A checked component in one line, as `check` and `build` print it.
fn manifest_summary(manifest: &pifa_sdk::Manifest) -> String {
    format!(
        "ok: {} {} (API {}), hooks {:?}, capabilities {:?}, {} routes",
        manifest.name,
        manifest.version,
        manifest.api,
        manifest
            .hooks
            .iter()
            .map(|h| h.as_str())
            .collect::<Vec<_>>(),
        manifest
            .capabilities
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>(),
        manifest.routes.len(),
    )
}

pub use pifa_plugin_build::BuildOptions;

/// What `build` made: the component and its checked manifest.
#[derive(Debug)]
pub struct BuildReport {
    /// The component's path.
    pub component: std::path::PathBuf,
    /// Its manifest, checked as `pifa plugins check` checks one.
    pub manifest: pifa_sdk::Manifest,
    /// What the command prints.
    pub summary: String,
}

/// Builds the plugin crate in `dir` into a component (cargo for wasm32-unknown-unknown in
/// release, the target added with rustup if missing, then `wit-component`) and checks it like
/// `check` does: the manifest, the API version, and that it imports only what its manifest
/// asks for. Blocking: it runs cargo.
pub fn build(dir: &Path, options: &BuildOptions) -> Result<BuildReport, BuildError> {
    let built = pifa_plugin_build::build_crate(dir, options)?;
    let manifest = super::inspect(&built.component).map_err(|source| BuildError::DoesNotLoad {
        component: built.component.clone(),
        source: Box::new(source),
    })?;
    let mut summary = format!(
        "built {}: {} ({} KiB)\n{}",
        built.package,
        built.component.display(),
        built.bytes.div_ceil(1024),
        manifest_summary(&manifest),
    );
    if manifest.name != built.package {
        summary.push_str(&format!(
            "\nnote: its manifest names it {:?} (the package is {:?}): plugins.toml must call it {:?}",
            manifest.name, built.package, manifest.name
        ));
    }
    Ok(BuildReport {
        component: built.component,
        manifest,
        summary,
    })
}

/// A fixture, or a bare input: the SDK's format, so a plugin's own tests play the same
/// fixtures against its logic (`pifa_sdk::testing`).
pub use pifa_sdk::testing::{Fixture, FixtureEvent, FixtureRefusal, Written};

/// What `run` printed: the hook's output (or error), and, whether it answered or not, the fuel
/// it used, its peak memory and its log.
#[derive(Debug)]
pub struct RunReport {
    /// The error is a line of the report, as the command prints it (a call's failure was
    /// logged with its cause by `record_failure`), not an error of `run`'s.
    pub output: Result<serde_json::Value, String>,
    pub fuel: u64,
    pub peak_memory: usize,
    pub log: Vec<String>,
    /// What the hook wrote (not committed: a run leaves the fixture's storage as it was).
    pub writes: Option<super::kv::KvWrites>,
}

impl RunReport {
    /// What the hook wrote, as a fixture checks it (`Fixture::misses`).
    pub fn written(&self, plugin: &str) -> Written {
        let Some(writes) = &self.writes else {
            return Written::default();
        };
        let mut written = Written::default();
        for (key, write) in &writes.values {
            let value = match write {
                super::kv::KvWrite::Put(bytes) => Some(bytes.clone()),
                super::kv::KvWrite::Delete => None,
            };
            written.values.insert(key.clone(), value);
        }
        for add in &writes.counters {
            let moved = written.counters.entry(add.key.clone()).or_insert(0);
            *moved = moved.saturating_add(add.delta);
        }
        let prefix = format!("plugin.{plugin}.");
        written.events = writes
            .events
            .iter()
            .map(|e| FixtureEvent {
                kind: e.kind.strip_prefix(&prefix).unwrap_or(&e.kind).to_owned(),
                payload: serde_json::from_str(&e.payload).unwrap_or_default(),
            })
            .collect();
        written
    }
}

/// Runs `hook` of plugin `name` from `config_path` on `input` with an in-memory namespace
/// filled from the fixture's `kv` and `counters`.
pub fn run(
    config_path: &Path,
    name: &str,
    fixture: &Fixture,
    native_code: NativeCode,
) -> Result<RunReport, RunError> {
    // The others' refusals are no reason not to run this one.
    let (host, _strict) =
        PluginHost::load_each(config_path, None, Clock::system(), None, native_code)?;
    run_on(&host, name, fixture)
}

pub fn run_on(
    host: &Arc<PluginHost>,
    name: &str,
    fixture: &Fixture,
) -> Result<RunReport, RunError> {
    let set = host.current();
    let plugin = match (set.named(name), set.refused.iter().find(|r| r.name == name)) {
        (Some(plugin), _) => plugin,
        (None, Some(refused)) => {
            return Err(RunError::Refused {
                name: name.to_owned(),
                reason: refused.reason.clone(),
            });
        }
        (None, None) => return Err(RunError::NoPlugin(name.to_owned())),
    };
    let hook = Hook::parse(&fixture.hook).ok_or_else(|| RunError::Hook(fixture.hook.clone()))?;
    if let Some(memory) = host.memory_kv() {
        let mut memory = memory.lock().map_err(|_| RunError::Poisoned)?;
        *memory = MemoryKv::default();
        for (key, value) in &fixture.kv {
            memory.entries.entry(key.clone()).or_default().0 =
                Some(pifa_sdk::testing::fixture_bytes(value));
        }
        for (key, value) in &fixture.counters {
            memory.entries.entry(key.clone()).or_default().1 = value.as_i64().unwrap_or(0);
        }
    }
    let input = fixture.input.to_string();
    let lines = fixture
        .input
        .get("lines")
        .and_then(|l| l.as_array())
        .map_or(0, Vec::len);
    let access = match hook {
        Hook::Quote | Hook::Checkout => Access::ReadOnly,
        _ => Access::Buffered,
    };
    let (result, cost): (Result<CallOutcome<Option<String>>, CallError>, _) = host.call_costed(
        &set.runtime,
        plugin,
        hook,
        lines,
        access,
        |instance, store| {
            Ok(match hook {
                Hook::Quote => instance.call_quote(&mut *store, &input)?.map(Some),
                Hook::Checkout => instance.call_checkout(&mut *store, &input)?.map(Some),
                Hook::OnEvent => instance.call_on_event(&mut *store, &input)?.map(|()| None),
                Hook::HandleHttp => instance.call_handle_http(&mut *store, &input)?.map(Some),
                Hook::OnTick => instance
                    .call_on_tick(&mut *store, fixture.input.as_i64().unwrap_or(0))?
                    .map(|()| None),
            })
        },
    );
    match result {
        Ok(outcome) => {
            let output = match outcome.value {
                Some(json) => {
                    serde_json::from_str(&json).map_err(|e| format!("output is not JSON: {e}"))
                }
                None => Ok(serde_json::Value::Null),
            };
            Ok(RunReport {
                output,
                fuel: outcome.fuel,
                peak_memory: outcome.peak_memory,
                log: outcome.log,
                writes: Some(outcome.writes),
            })
        }
        Err(error) => Ok(RunReport {
            output: Err(match error {
                CallError::Failed(reason) => reason,
                CallError::Refused { code, message } => {
                    pifa_sdk::testing::refusal_text(&code, &message)
                }
                CallError::Suspended => "suspended".to_owned(),
                CallError::Busy(reason) => format!("busy: {reason}"),
            }),
            fuel: cost.fuel,
            peak_memory: cost.peak_memory,
            log: cost.log,
            writes: None,
        }),
    }
}
