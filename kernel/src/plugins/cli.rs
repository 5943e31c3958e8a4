//! `pifa plugins list | check FILE | run NAME HOOK INPUT.json`, and the fixture runner the
//! test suite uses for every plugin's `fixtures/*.json`.

use std::path::Path;
use std::sync::Arc;

use pifa_sdk::Hook;
use serde::Deserialize;

use super::kv::MemoryKv;
use super::{Access, CallError, CallOutcome, PluginHost};
use crate::clock::Clock;
use crate::native::NativeCode;

/// The status of every plugin in `plugins.toml`, with the counters the serving instance saved,
/// and of every native adapter (kind, version, the channel it serves and the library's own).
pub async fn list(
    config_path: &Path,
    store: Option<crate::store::Store>,
    native_code: NativeCode,
) -> anyhow::Result<String> {
    let path = config_path.to_owned();
    let loaded = tokio::task::spawn_blocking(move || {
        PluginHost::load_with(&path, None, Clock::system(), None, native_code)
    })
    .await?;
    let saved = match &store {
        Some(store) => store.plugin_stats().await?,
        None => Vec::new(),
    };
    let now = Clock::system().now_ms();
    let mut out = format!(
        "{:<20} {:<6} {:<10} {:<10} {:>8} {:>8} {:>10} {:>10} {:>9} {:>9} {:>6}  last error\n",
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
        "busy"
    );
    let declared = super::config::read(config_path).map_err(anyhow::Error::msg)?;
    for entry in &declared.plugins {
        let row = saved.iter().find(|r| r.plugin == entry.name);
        let (version, status) = match &loaded {
            Ok(host) => match host.current().named(&entry.name) {
                Some(plugin) => (plugin.manifest.version.clone(), "loaded"),
                None => (String::new(), "missing"),
            },
            Err(_) => (String::new(), "invalid"),
        };
        let status = match row.and_then(|r| r.suspended_until) {
            Some(until) if until > now => "suspended",
            _ => status,
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
        let (wall_p50, wall_p99, busy) = row
            .map(|r| (r.wall_us_p50, r.wall_us_p99, r.busy))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<20} {:<6} {:<10} {:<10} {:>8} {:>8} {:>10} {:>10} {:>9} {:>9} {:>6}  {}\n",
            entry.name,
            "wasm",
            version,
            status,
            calls,
            failures,
            p50,
            p99,
            ms(wall_p50),
            ms(wall_p99),
            busy,
            error
        ));
    }
    // A native adapter has no fuel and its sends are the notification dispatcher's to count:
    // its row says what it serves instead.
    for entry in &declared.native {
        let (version, status, channels) = match &loaded {
            Ok(host) => match host.current().native_for(&entry.channel) {
                Some(native) => (
                    native.adapter.version().to_owned(),
                    "loaded",
                    native.adapter.channels().join(", "),
                ),
                None => (String::new(), "missing", String::new()),
            },
            Err(_) => (String::new(), "invalid", String::new()),
        };
        out.push_str(&format!(
            "{:<20} {:<6} {:<10} {:<10}  serves {} (can deliver: {}) from {}\n",
            entry.name,
            "native",
            version,
            status,
            entry.channel,
            if channels.is_empty() { "?" } else { &channels },
            entry.library.display()
        ));
    }
    if let Err(error) = loaded {
        out.push_str(&format!("\nplugins.toml does not load: {error}\n"));
    }
    Ok(out)
}

/// Microseconds as milliseconds with two decimals (a hook's call is well under one).
fn ms(micros: i64) -> String {
    format!("{}.{:02}", micros / 1000, (micros % 1000) / 10)
}

/// Checks `file`: a `plugins.toml` (every plugin and native adapter in it loads), or one
/// component (its manifest, API version, routes, and that it imports only what its manifest
/// asks for).
pub fn check(file: &Path, native_code: NativeCode) -> Result<String, String> {
    if file.extension().is_some_and(|e| e == "toml") {
        let host = PluginHost::load_with(file, None, Clock::system(), None, native_code)?;
        let set = host.current();
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
    Ok(format!(
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
    ))
}

/// A fixture, or a bare input: `{"hook", "kv", "counters", "input", "output"}`.
#[derive(Debug, Deserialize)]
pub struct Fixture {
    pub hook: String,
    #[serde(default)]
    pub kv: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub counters: serde_json::Map<String, serde_json::Value>,
    pub input: serde_json::Value,
    #[serde(default)]
    pub output: Option<serde_json::Value>,
}

/// What `run` printed: the hook's output (or error), fuel used and peak memory.
#[derive(Debug)]
pub struct RunReport {
    pub output: Result<serde_json::Value, String>,
    pub fuel: u64,
    pub peak_memory: usize,
    pub log: Vec<String>,
}

/// Runs `hook` of plugin `name` from `config_path` on `input` with an in-memory namespace
/// filled from the fixture's `kv` and `counters`.
pub fn run(
    config_path: &Path,
    name: &str,
    fixture: &Fixture,
    native_code: NativeCode,
) -> Result<RunReport, String> {
    let host = PluginHost::load_with(config_path, None, Clock::system(), None, native_code)?;
    run_on(&host, name, fixture)
}

pub fn run_on(host: &Arc<PluginHost>, name: &str, fixture: &Fixture) -> Result<RunReport, String> {
    let set = host.current();
    let plugin = set
        .named(name)
        .ok_or_else(|| format!("no plugin {name} in plugins.toml"))?;
    let hook = Hook::parse(&fixture.hook).ok_or_else(|| {
        format!(
            "unknown hook {:?} (quote, checkout, on-event, handle-http, on-tick)",
            fixture.hook
        )
    })?;
    if let Some(memory) = host.memory_kv() {
        let mut memory = memory.lock().map_err(|_| "kv lock poisoned")?;
        *memory = MemoryKv::default();
        for (key, value) in &fixture.kv {
            let bytes = match value {
                serde_json::Value::String(text) => text.clone().into_bytes(),
                other => other.to_string().into_bytes(),
            };
            memory.entries.entry(key.clone()).or_default().0 = Some(bytes);
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
    let result: Result<CallOutcome<Option<String>>, CallError> = host.call(
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
            })
        }
        Err(error) => Ok(RunReport {
            output: Err(match error {
                CallError::Failed(reason) => reason,
                CallError::Refused { code, message } => format!("refused: {code}: {message}"),
                CallError::Suspended => "suspended".to_owned(),
                CallError::Busy(reason) => format!("busy: {reason}"),
            }),
            fuel: 0,
            peak_memory: 0,
            log: Vec::new(),
        }),
    }
}
