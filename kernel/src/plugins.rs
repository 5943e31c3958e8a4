//! The WebAssembly plugin host (REQUIREMENTS M2, M3, M7; the brief's "Plugins").
//!
//! `plugins.toml` says which components run, in which order, with which capabilities and
//! settings. Loading a set checks everything before it serves: the manifest's API version and
//! settings schema, and that the component imports nothing `plugins.toml` does not grant (the
//! linker holds only granted interfaces, so an ungranted import could not link anyway; we name
//! it first). A set is swapped in whole (`ArcSwap`), so a bad edit leaves the previous set
//! serving. Each call is a fresh instance from the pre-instantiated component (`runtime.rs`),
//! bounded by fuel, memory, an epoch deadline and host-call timeouts; a failure is logged with
//! the plugin's name, counted, and after `suspend_after` in a row the plugin is suspended and
//! staff are told. The shop keeps selling: `skip` goes on without the plugin, `reject` refuses
//! with `plugin_failed`, a suspended plugin is skipped.
//!
//! `plugins.toml` also names the deployment's native adapters (`kind = "native"`, M6,
//! `crate::native`): trusted shared libraries, loaded only when the deployment allows native
//! code ([`NativeCode::Allowed`]) and swapped in with the rest of the set.

pub mod cli;
pub mod config;
pub mod data;
pub mod events;
pub mod hooks;
pub mod http;
pub mod kv;
pub mod manage;
pub mod pages;
pub mod runtime;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use pifa_sdk::{Capability, Hook, Manifest};
use wasmtime::Store as WasmStore;

pub use self::config::Refused;
use self::config::{ConfigError, Declarations, Declared, DeclaredNative, Policy};
use self::kv::{KvBackend, KvView, KvWrites};
use self::runtime::{CallState, PluginPre, Runtime, WitHookError};
use crate::clock::Clock;
use crate::native::{NativeAdapter, NativeCode, NativeError};
use crate::store::{Store, StoreError};

crate::store::handle! {
    /// The plugins' part of the store: their key-value data, event cursors, parked events and statistics.
    pub PluginStore, plugins
}

/// Why the host cannot serve `plugins.toml` (at a start, or a reload that keeps the previous
/// set serving). An entry that does not load is not this, unless it must hold the set back
/// (`strict`, or a reload).
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The engine for the file's `[limits]`.
    #[error("{0:#}")]
    Engine(#[source] anyhow::Error),
    #[error("{}: strict = true and not every plugin loads: {}", .path.display(), Refusals(.refused))]
    Strict {
        path: PathBuf,
        refused: Vec<Refused>,
    },
    /// Entries that do not load (each with its reason, the same sentence as `refused`).
    #[error("{}", Refusals(.0))]
    Refused(Vec<Refused>),
    /// Recording where an event listener starts reading.
    #[error("plugin {plugin}: {source}")]
    Cursor {
        plugin: String,
        #[source]
        source: StoreError,
    },
}

/// Refusals in one sentence, as [`Declarations::refusals`] says them.
struct Refusals<'a>(&'a [Refused]);

impl std::fmt::Display for Refusals<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&Declarations::refusals(self.0).unwrap_or_default())
    }
}

/// Why a WebAssembly entry does not load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("mounts a page at {mount}, where plugin {holder} (earlier in plugins.toml) mounts one")]
    Mount { mount: String, holder: String },
    #[error("{}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not a valid component: {0:#}")]
    Compile(#[source] anyhow::Error),
    #[error("imports {import}, which {granter} (capabilities = {capabilities:?})")]
    Import {
        import: String,
        /// Who would have to grant it: `plugins.toml`, or (checking one component) its
        /// manifest.
        granter: &'static str,
        capabilities: Vec<&'static str>,
    },
    /// Building the linker of its granted interfaces.
    #[error("{0:#}")]
    Linker(#[source] anyhow::Error),
    #[error("cannot link: {0:#}")]
    Link(#[source] wasmtime::Error),
    #[error("not a pifa:plugin@0.1.0 component: {0:#}")]
    NotAPlugin(#[source] wasmtime::Error),
    /// The `manifest` call gave no answer (`CallError`'s own words are its variant's).
    #[error("manifest: {0:?}")]
    ManifestCall(CallError),
    #[error("manifest is not valid: {0}")]
    ManifestJson(#[source] serde_json::Error),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// How a plugin's manifest does not fit its entry (or this kernel).
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("built for plugin API {manifest:?}; this kernel speaks {kernel:?}")]
    Api {
        manifest: String,
        kernel: &'static str,
    },
    #[error("its manifest names it {manifest:?}; plugins.toml calls it {entry:?}")]
    Name { manifest: String, entry: String },
    #[error("needs capability {0}, which plugins.toml does not grant")]
    Capability(&'static str),
    #[error("its settings schema is not valid: {0}")]
    Schema(#[source] Box<jsonschema::ValidationError<'static>>),
    #[error("settings{}: {source}", if .at.is_empty() { String::new() } else { format!(" {}", .at) })]
    Settings {
        /// Where in the settings (a JSON pointer; empty for the whole).
        at: String,
        #[source]
        source: Box<jsonschema::ValidationError<'static>>,
    },
    #[error(transparent)]
    Route(#[from] http::RouteError),
    #[error(
        "route {method} {path} serves role {role}, which plugins.toml does not grant (route_roles = {granted:?})"
    )]
    RouteRole {
        method: String,
        path: String,
        role: String,
        granted: Vec<String>,
    },
    #[error(
        "route {method} {path} {what}, which needs capability {capability}: plugins.toml does not grant it"
    )]
    RouteGrant {
        method: String,
        path: String,
        what: &'static str,
        capability: &'static str,
    },
}

/// Why a native entry does not load.
#[derive(Debug, thiserror::Error)]
pub enum NativeLoadError {
    #[error(
        "kind = \"native\" loads native code into the server, which this deployment does not allow (set PIFA_ALLOW_NATIVE=1 to allow it)"
    )]
    NotAllowed,
    #[error(transparent)]
    Library(#[from] NativeError),
    #[error("{} names itself {name:?}; plugins.toml calls it {entry:?}", .path.display())]
    Name {
        path: PathBuf,
        name: String,
        entry: String,
    },
    #[error("{name} delivers {channels:?}, not channel {channel:?}")]
    Channel {
        name: String,
        channels: Vec<String>,
        channel: String,
    },
}

/// Why `pifa plugins check` refuses a component (or the file naming it).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Component(#[from] LoadError),
}

/// A plugin ready to call.
pub struct Loaded {
    pub declared: Declared,
    pub manifest: Manifest,
    pub pre: PluginPre<CallState>,
    pub stats: Arc<Stats>,
    /// Its share of the call slots (`quota.concurrent_calls`).
    pub share: Arc<Share>,
    /// The digest of its component and its entry (settings included): what it answers
    /// may change when this does.
    pub loaded_from: [u8; 32],
}

impl Loaded {
    pub fn name(&self) -> &str {
        &self.declared.name
    }

    pub fn implements(&self, hook: Hook) -> bool {
        self.manifest.hooks.contains(&hook)
    }

    pub fn policy(&self, hook: Hook) -> Policy {
        self.declared.on_error.policy(hook)
    }

    /// Whether events of `kind` reach its `on-event`: its manifest asks for them and
    /// `plugins.toml` grants them (`*` in either is every kind; the grant bounds the manifest).
    pub fn wants_event(&self, kind: &str) -> bool {
        self.manifest.events.iter().any(|e| e == "*" || e == kind)
            && self.declared.grants.allows_event(kind)
    }
}

/// A native adapter serving, with the entry that installed it.
pub struct NativePlugin {
    pub declared: DeclaredNative,
    pub adapter: Arc<NativeAdapter>,
}

/// The plugins serving now, in order, on the engine they were compiled for, and the native
/// adapters; with the entries of the same file that did not load.
pub struct PluginSet {
    pub runtime: Arc<Runtime>,
    pub plugins: Vec<Arc<Loaded>>,
    pub native: Vec<NativePlugin>,
    /// Entries of `plugins.toml` left out because they do not load, each with its reason.
    pub refused: Vec<Refused>,
}

impl PluginSet {
    pub fn with_hook(&self, hook: Hook) -> impl Iterator<Item = &Arc<Loaded>> {
        self.plugins.iter().filter(move |p| p.implements(hook))
    }

    pub fn named(&self, name: &str) -> Option<&Arc<Loaded>> {
        self.plugins.iter().find(|p| p.name() == name)
    }

    /// The plugin whose route is mounted at the storefront `path`, with that route's own
    /// path for it (parameters filled in).
    pub fn mounted(&self, path: &str) -> Option<(&Arc<Loaded>, String)> {
        self.with_hook(Hook::HandleHttp).find_map(|plugin| {
            plugin
                .manifest
                .routes
                .iter()
                .filter(|r| r.method == "GET")
                .find_map(|route| pages::route_path_for(route, path))
                .map(|route_path| (plugin, route_path))
        })
    }

    /// The native adapter `plugins.toml` installs for `channel`.
    pub fn native_for(&self, channel: &str) -> Option<&NativePlugin> {
        self.native.iter().find(|n| n.declared.channel == channel)
    }
}

/// Calls, failures, fuel and time of one plugin; kept across reloads by name.
#[derive(Default)]
pub struct Stats {
    pub calls: AtomicU64,
    pub failures: AtomicU64,
    in_a_row: InARow,
    /// Calls not made because its share of the call slots (or the host's) was in use: route
    /// requests answered `plugin_busy`, quotes and checkouts that went on without it.
    pub busy: AtomicU64,
    /// Kernel-clock ms until which the plugin is skipped; 0 when serving.
    pub suspended_until: AtomicI64,
    last_error: Mutex<String>,
    /// What it was last loaded from: its component's and its entry's digest.
    loaded_from: Mutex<[u8; 32]>,
    fuel: Mutex<VecDeque<u64>>,
    /// Wall time of the recent calls in µs, host calls included.
    wall_us: Mutex<VecDeque<u64>>,
}

/// Failures in a row of each hook, counted apart: a plugin whose routes or checkout answer
/// while its quote hook keeps failing is still suspended (and stops costing every member's
/// quote its deadline).
#[derive(Default)]
struct InARow {
    quote: AtomicU32,
    checkout: AtomicU32,
    on_event: AtomicU32,
    handle_http: AtomicU32,
    on_tick: AtomicU32,
}

const SAMPLES: usize = 2048;

fn push_sample(samples: &Mutex<VecDeque<u64>>, value: u64) {
    if let Ok(mut samples) = samples.lock() {
        if samples.len() == SAMPLES {
            samples.pop_front();
        }
        samples.push_back(value);
    }
}

/// The 50th and 99th percentile (nearest rank) of the samples.
fn percentiles(samples: &Mutex<VecDeque<u64>>) -> (u64, u64) {
    let mut sorted: Vec<u64> = samples
        .lock()
        .map(|s| s.iter().copied().collect())
        .unwrap_or_default();
    sorted.sort_unstable();
    let at = |p: f64| -> u64 {
        let rank = ((sorted.len().saturating_sub(1)) as f64 * p).round() as usize;
        sorted.get(rank).copied().unwrap_or(0)
    };
    (at(0.5), at(0.99))
}

impl Stats {
    fn record_fuel(&self, fuel: u64) {
        push_sample(&self.fuel, fuel);
    }

    fn record_wall(&self, wall: Duration) {
        push_sample(
            &self.wall_us,
            u64::try_from(wall.as_micros()).unwrap_or(u64::MAX),
        );
    }

    /// Fuel used per call at the 50th and 99th percentile of the recent calls.
    pub fn fuel_percentiles(&self) -> (u64, u64) {
        percentiles(&self.fuel)
    }

    /// Wall time per call in µs (host calls and, for quote and checkout, the wait for a slot
    /// included) at the 50th and 99th percentile of the recent calls.
    pub fn wall_us_percentiles(&self) -> (u64, u64) {
        percentiles(&self.wall_us)
    }

    /// A reload that changes the plugin's component or its entry may be the fix: it starts
    /// serving again, its failures in a row forgotten (its totals kept). A reload of the same
    /// plugin (another's file changed) keeps its suspension.
    fn loaded_from(&self, digest: [u8; 32]) {
        let Ok(mut last) = self.loaded_from.lock() else {
            return;
        };
        if *last != digest {
            *last = digest;
            self.suspended_until.store(0, Ordering::Relaxed);
            self.forget_failures();
        }
    }

    fn failures_in_a_row(&self, hook: Hook) -> &AtomicU32 {
        let counts = &self.in_a_row;
        match hook {
            Hook::Quote => &counts.quote,
            Hook::Checkout => &counts.checkout,
            Hook::OnEvent => &counts.on_event,
            Hook::HandleHttp => &counts.handle_http,
            Hook::OnTick => &counts.on_tick,
        }
    }

    fn forget_failures(&self) {
        for hook in Hook::ALL {
            self.failures_in_a_row(hook).store(0, Ordering::Relaxed);
        }
    }

    /// Its last failure, `hook: reason` (empty when it has not failed).
    pub fn last_error(&self) -> String {
        self.last_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    pub fn is_suspended(&self, now_ms: i64) -> bool {
        self.suspended_until.load(Ordering::Relaxed) > now_ms
    }
}

/// Which call slots a call may take, how long it may wait for one, and its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// `quote` and `checkout`, on a member's path: the host's reserved member slots first,
    /// then the shared ones; waits for a slot at most `member_deadline_ms`, which counts
    /// from the moment the hook is asked for (the wait included).
    Member,
    /// `handle-http`: a request finding no free slot is answered `plugin_busy` at once.
    Route,
    /// `on-event`, `on-tick`: waits for a slot; `deadline_ms` counts from when it has one.
    Background,
    /// A manifest read at load: a background call made even while the plugin is suspended
    /// (a reload, which may be the fix, must not fail for it).
    Manifest,
}

impl Lane {
    pub fn of(hook: Hook) -> Lane {
        match hook {
            Hook::Quote | Hook::Checkout => Lane::Member,
            Hook::HandleHttp => Lane::Route,
            Hook::OnEvent | Hook::OnTick => Lane::Background,
        }
    }

    /// The deadline of a call in this lane.
    pub fn deadline_ms(self, limits: &config::Limits) -> u64 {
        match self {
            Lane::Member => limits.member_deadline_ms,
            Lane::Route | Lane::Background | Lane::Manifest => limits.deadline_ms,
        }
    }
}

/// A plugin's share of the call slots (`quota.concurrent_calls`), kept across reloads by name
/// like [`Stats`] (a new size starts a new share). Two semaphores of that size: one for its
/// quote and checkout calls and one for the rest, so neither a crowd on its public routes nor
/// its event backlog keeps its own hooks off a member's quote.
pub struct Share {
    size: u32,
    member: Arc<tokio::sync::Semaphore>,
    other: Arc<tokio::sync::Semaphore>,
}

impl Share {
    fn new(size: u32) -> Share {
        Share {
            size,
            member: Arc::new(tokio::sync::Semaphore::new(size as usize)),
            other: Arc::new(tokio::sync::Semaphore::new(size as usize)),
        }
    }

    /// Calls of the plugin it allows at once, per lane.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Whether its calls other than quote and checkout take all of it now: a route request
    /// may be answered `plugin_busy` before the kernel spends a query on it (the call itself
    /// still takes its permit, or is refused, in `PluginHost::call`).
    pub fn others_full(&self) -> bool {
        self.other.available_permits() == 0
    }
}

/// A call's hold on its plugin's share and on a pool slot, given back when dropped.
struct Permits {
    _share: tokio::sync::OwnedSemaphorePermit,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

/// Why a call gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The plugin is suspended after repeated failures.
    Suspended,
    /// A trap, a limit, a timeout or an output the kernel refuses; logged and counted.
    Failed(String),
    /// The plugin answered with its own error (a checkout refusal, say).
    Refused { code: String, message: String },
    /// No call slot was free in time (its share of `quota.concurrent_calls`, or the host's):
    /// the call was not made, and it is not the plugin's failure. A route answers
    /// `plugin_busy`; a quote or checkout goes on per the hook's policy.
    Busy(String),
}

/// A call's answer and what it cost.
#[derive(Debug)]
pub struct CallOutcome<T> {
    pub value: T,
    pub fuel: u64,
    pub peak_memory: usize,
    pub log: Vec<String>,
    /// Storage writes the hook buffered (hooks other than quote and checkout).
    pub writes: KvWrites,
    /// Messages it sent to staff (`notify.staff`), which no transaction takes back.
    pub messages_sent: u32,
}

/// What a call cost, whether it answered or not.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CallCost {
    /// Fuel used: all of it when the call ran out.
    pub fuel: u64,
    /// The most linear memory it had, in bytes.
    pub peak_memory: usize,
    /// Its log lines when it gave no outcome (a [`CallOutcome`] carries its own).
    pub log: Vec<String>,
}

/// How a call may touch storage.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    Buffered,
}

/// The host: the current set, where it comes from, and what calls need.
pub struct PluginHost {
    current: ArcSwap<PluginSet>,
    pub config_path: PathBuf,
    pub store: Option<Store>,
    pub clock: Clock,
    stats: Mutex<HashMap<String, Arc<Stats>>>,
    shares: Mutex<HashMap<String, Arc<Share>>>,
    /// Requests to each plugin's routes per client in the current minute
    /// (`quota.route_requests_per_minute`); in memory, kept across reloads.
    pub route_windows: http::RouteWindows,
    /// Compiled components by content hash, so a reload recompiles only what changed.
    compiled: Mutex<HashMap<[u8; 32], wasmtime::component::Component>>,
    cache_dir: Option<PathBuf>,
    /// Why the last reload was refused (the previous set kept serving), if it was.
    pub last_error: Mutex<Option<String>>,
    /// The files of the entries that refused the last reload: watched, so a component copied
    /// in after its `plugins.toml` entry is picked up.
    awaited: Mutex<Vec<PathBuf>>,
    /// Held for a whole reload: two reloads at once (the watcher's and an admin's) could
    /// otherwise swap in the older file's set last.
    reloading: Mutex<()>,
    /// Held while the office edits `plugins.toml` (`manage::set_settings`): two edits at once
    /// would each write over the other's.
    editing: Mutex<()>,
    /// Memory backend for runs outside a database (`pifa plugins run`).
    memory_kv: Option<KvBackend>,
    /// Whether `kind = "native"` entries may load (`PIFA_ALLOW_NATIVE`), for every reload.
    native_code: NativeCode,
    /// The theme host's section types, for the `pages` interface (set once the app has one).
    sections: std::sync::OnceLock<pages::Sections>,
}

impl crate::native::NativeAdapters for PluginHost {
    fn native_adapter(&self, channel: &str) -> Option<Arc<NativeAdapter>> {
        self.current()
            .native_for(channel)
            .map(|n| n.adapter.clone())
    }
}

impl PluginHost {
    /// Loads `config_path` (a missing file: no plugins). With `store`, hooks read and write
    /// the kernel's database; without, an in-memory namespace (`pifa plugins run`). A native
    /// entry is refused: see [`PluginHost::load_with`].
    pub fn load(
        config_path: &Path,
        store: Option<Store>,
        clock: Clock,
        cache_dir: Option<PathBuf>,
    ) -> Result<Arc<PluginHost>, HostError> {
        PluginHost::load_with(config_path, store, clock, cache_dir, NativeCode::Refused)
    }

    /// [`PluginHost::load`], with native adapters loading only under `NativeCode::Allowed`
    /// (now and on every reload).
    ///
    /// Each entry loads on its own: one that does not is left out and said loudly (an error
    /// log line naming it and why, kept in [`PluginSet::refused`], and with `store`, a line in
    /// every admin's inbox) while the others serve; a restart never takes the shop down for
    /// one bad file. Under `strict = true` any such entry fails the load instead, naming each.
    /// A file that does not parse as a whole (TOML, `[limits]`) fails it either way.
    pub fn load_with(
        config_path: &Path,
        store: Option<Store>,
        clock: Clock,
        cache_dir: Option<PathBuf>,
        native_code: NativeCode,
    ) -> Result<Arc<PluginHost>, HostError> {
        let (host, strict) =
            PluginHost::load_each(config_path, store, clock, cache_dir, native_code)?;
        let refused = host.current().refused.clone();
        if !refused.is_empty() {
            if strict {
                return Err(HostError::Strict {
                    path: config_path.to_owned(),
                    refused,
                });
            }
            host.report_refused(&refused);
        }
        Ok(host)
    }

    /// Loads every entry of `config_path` on its own whatever `strict` says, the ones that do
    /// not load in [`PluginSet::refused`] (said nowhere: for reports such as `pifa plugins
    /// list`); and the file's `strict`.
    pub fn load_each(
        config_path: &Path,
        store: Option<Store>,
        clock: Clock,
        cache_dir: Option<PathBuf>,
        native_code: NativeCode,
    ) -> Result<(Arc<PluginHost>, bool), HostError> {
        let memory_kv = if store.is_none() {
            Some(KvBackend::Memory(Arc::default()))
        } else {
            None
        };
        let declared = config::read(config_path)?;
        let runtime = Arc::new(
            Runtime::new(&declared.limits, cache_dir.as_deref()).map_err(HostError::Engine)?,
        );
        let host = PluginHost {
            current: ArcSwap::from_pointee(PluginSet {
                runtime: runtime.clone(),
                plugins: Vec::new(),
                native: Vec::new(),
                refused: Vec::new(),
            }),
            config_path: config_path.to_owned(),
            store,
            clock,
            stats: Mutex::default(),
            shares: Mutex::default(),
            route_windows: http::RouteWindows::default(),
            compiled: Mutex::default(),
            cache_dir,
            last_error: Mutex::new(None),
            awaited: Mutex::default(),
            reloading: Mutex::new(()),
            editing: Mutex::new(()),
            memory_kv,
            native_code,
            sections: std::sync::OnceLock::new(),
        };
        let set = host.build(runtime, &declared)?;
        host.current.store(Arc::new(set));
        Ok((Arc::new(host), declared.strict))
    }

    /// Gives the `pages` interface the theme host's section types (once; at start).
    pub fn set_sections(&self, sections: pages::Sections) {
        let _ = self.sections.set(sections);
    }

    /// Says each refused entry: an error log line naming it and why, and with a database, a
    /// line in every admin's inbox.
    fn report_refused(&self, refused: &[Refused]) {
        for entry in refused {
            tracing::error!(
                plugin = %entry.name,
                error = %entry.reason,
                "plugin does not load: left out, the other plugins serve"
            );
        }
        if let (Some(store), Ok(handle)) =
            (self.store.clone(), tokio::runtime::Handle::try_current())
        {
            let now = self.clock.now_ms();
            let bodies: Vec<String> = refused
                .iter()
                .map(|entry| {
                    format!(
                        "插件 {} 未能加载，未启用（其余插件照常运行）：{}",
                        entry.name, entry.reason
                    )
                })
                .collect();
            handle.spawn(async move {
                for body in bodies {
                    crate::notify::tell_staff(&store, "plugin_refused", body, now).await;
                }
            });
        }
    }

    /// The set serving now.
    pub fn current(&self) -> Arc<PluginSet> {
        self.current.load_full()
    }

    /// Reads `plugins.toml` and the components again and swaps the new set in, unless an
    /// entry does not load that is not already refused in the set serving now: then the
    /// previous set keeps serving (a typo in a running shop's file never takes a serving
    /// plugin away) and the reason is kept, logged, told to admins (once per reason) and
    /// returned. An entry refused since the start (or the last reload) does not hold back the
    /// others' changes; under `strict = true` every refusal does.
    pub fn reload(&self) -> Result<(), HostError> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let serving = self.current();
        let mut awaited = Vec::new();
        let result = config::read(&self.config_path)
            .map_err(HostError::from)
            .and_then(|declared| {
                let limits = &declared.limits;
                let runtime = if limits.memory_mib == serving.runtime.limits.memory_mib {
                    Arc::new(Runtime::from_engine(&serving.runtime, limits))
                } else {
                    // The pool's slots are sized to the memory cap: a new cap needs a new engine.
                    if let Ok(mut compiled) = self.compiled.lock() {
                        compiled.clear();
                    }
                    Arc::new(
                        Runtime::new(limits, self.cache_dir.as_deref())
                            .map_err(HostError::Engine)?,
                    )
                };
                let set = self.build(runtime, &declared)?;
                let new: Vec<Refused> = set
                    .refused
                    .iter()
                    .filter(|r| {
                        declared.strict || !serving.refused.iter().any(|s| s.name == r.name)
                    })
                    .cloned()
                    .collect();
                awaited = new.iter().filter_map(|r| r.file.clone()).collect();
                if new.is_empty() {
                    Ok(set)
                } else {
                    Err(HostError::Refused(new))
                }
            });
        if let Ok(mut waiting) = self.awaited.lock() {
            *waiting = if result.is_err() { awaited } else { Vec::new() };
        }
        match result {
            Ok(set) => {
                let names: Vec<String> = set
                    .plugins
                    .iter()
                    .map(|p| p.name().to_owned())
                    .chain(set.native.iter().map(|n| n.declared.name.clone()))
                    .collect();
                let still_refused = set.refused.clone();
                self.current.store(Arc::new(set));
                if let Ok(mut last) = self.last_error.lock() {
                    *last = None;
                }
                tracing::info!(plugins = ?names, "plugins reloaded");
                for entry in &still_refused {
                    tracing::error!(plugin = %entry.name, error = %entry.reason, "plugin does not load: still left out");
                }
                Ok(())
            }
            Err(error) => {
                tracing::error!(%error, "plugins.toml or a plugin is invalid; the previous plugins keep serving");
                let said = error.to_string();
                let repeated = self
                    .last_error
                    .lock()
                    .map(|mut last| last.replace(said.clone()).as_ref() == Some(&said))
                    .unwrap_or(false);
                if !repeated
                    && let (Some(store), Ok(handle)) =
                        (self.store.clone(), tokio::runtime::Handle::try_current())
                {
                    let body = format!("plugins.toml 的修改未生效，原有插件照常运行：{error}");
                    let now = self.clock.now_ms();
                    handle.spawn(async move {
                        crate::notify::tell_staff(&store, "plugin_reload_refused", body, now).await;
                    });
                }
                Err(error)
            }
        }
    }

    /// Loads each entry of `declared` on its own: those that do not load go to
    /// [`PluginSet::refused`] with their reason. Fails only for what is no entry's fault (the
    /// database, recording where a listener starts reading).
    fn build(
        &self,
        runtime: Arc<Runtime>,
        declared: &Declarations,
    ) -> Result<PluginSet, HostError> {
        let mut refused = declared.refused.clone();
        let mut plugins = Vec::with_capacity(declared.plugins.len());
        for entry in &declared.plugins {
            let loaded = self.load_one(&runtime, entry, true).and_then(|loaded| {
                // One plugin per storefront path: the first in the file keeps it.
                match pages::taken_mount(&plugins, &loaded) {
                    Some((mount, holder)) => Err(LoadError::Mount { mount, holder }),
                    None => Ok(loaded),
                }
            });
            match loaded {
                Ok(loaded) => plugins.push(Arc::new(loaded)),
                Err(reason) => refused.push(Refused {
                    name: entry.name.clone(),
                    kind: config::Kind::Wasm,
                    file: Some(entry.component.clone()),
                    reason: reason.to_string(),
                }),
            }
        }
        // An event listener reads the outbox from its install on: fix that point now, not at
        // the dispatcher's next round (events in between would be skipped).
        if let (Some(store), Ok(handle)) = (&self.store, tokio::runtime::Handle::try_current()) {
            for plugin in plugins.iter().filter(|p| p.implements(Hook::OnEvent)) {
                handle
                    .block_on(store.plugins().init_plugin_cursor(plugin.name()))
                    .map_err(|source| HostError::Cursor {
                        plugin: plugin.name().to_owned(),
                        source,
                    })?;
            }
        }
        let mut native = Vec::with_capacity(declared.native.len());
        for entry in &declared.native {
            // Checked before the library is opened: loading one already runs its code.
            let adapter = if self.native_code == NativeCode::Refused {
                Err(NativeLoadError::NotAllowed)
            } else {
                load_native(entry)
            };
            match adapter {
                Ok(adapter) => native.push(NativePlugin {
                    declared: entry.clone(),
                    adapter: Arc::new(adapter),
                }),
                Err(reason) => refused.push(Refused {
                    name: entry.name.clone(),
                    kind: config::Kind::Native,
                    file: Some(entry.library.clone()),
                    reason: reason.to_string(),
                }),
            }
        }
        Ok(PluginSet {
            runtime,
            plugins,
            native,
            refused,
        })
    }

    /// Compiles, links and asks the manifest of one plugin; `checked`: the manifest must fit
    /// the entry (name, capabilities, settings).
    fn load_one(
        &self,
        runtime: &Runtime,
        entry: &Declared,
        checked: bool,
    ) -> Result<Loaded, LoadError> {
        let (component, component_digest) = self.compile(runtime, &entry.component)?;
        check_imports(
            &runtime.engine,
            &component,
            &entry.granted,
            "plugins.toml does not grant",
        )?;
        let linker = runtime.linker(&entry.granted).map_err(LoadError::Linker)?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(LoadError::Link)?;
        let pre = PluginPre::new(instance_pre).map_err(LoadError::NotAPlugin)?;
        let stats = self.stats_for(&entry.name);
        let mut digest = <sha2::Sha256 as sha2::Digest>::new();
        sha2::Digest::update(&mut digest, component_digest);
        sha2::Digest::update(&mut digest, format!("{entry:?}"));
        let loaded_from: [u8; 32] = sha2::Digest::finalize(digest).into();
        stats.loaded_from(loaded_from);
        let share = self.share_for(&entry.name, entry.quota.concurrent_calls);
        let provisional = Loaded {
            declared: entry.clone(),
            manifest: pifa_sdk::manifest(&entry.name, "", &[]),
            pre,
            stats,
            share,
            loaded_from,
        };
        let manifest = read_manifest(self, runtime, &provisional)?;
        if checked {
            check_manifest(&manifest, entry)?;
        }
        Ok(Loaded {
            manifest,
            ..provisional
        })
    }

    /// The component in `file` and its digest, compiled once per content (a reload
    /// recompiles only what changed).
    fn compile(
        &self,
        runtime: &Runtime,
        file: &Path,
    ) -> Result<(wasmtime::component::Component, [u8; 32]), LoadError> {
        let bytes = std::fs::read(file).map_err(|source| LoadError::Read {
            path: file.to_owned(),
            source,
        })?;
        let hash: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&bytes).into();
        let cached = self
            .compiled
            .lock()
            .ok()
            .and_then(|c| c.get(&hash).cloned());
        if let Some(component) = cached {
            return Ok((component, hash));
        }
        let component = runtime.compile(&bytes).map_err(LoadError::Compile)?;
        if let Ok(mut compiled) = self.compiled.lock() {
            compiled.insert(hash, component.clone());
        }
        Ok((component, hash))
    }

    fn stats_for(&self, name: &str) -> Arc<Stats> {
        match self.stats.lock() {
            Ok(mut stats) => stats.entry(name.to_owned()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    /// The plugin's share of the call slots, the same one across reloads while its size stays.
    fn share_for(&self, name: &str, size: u32) -> Arc<Share> {
        let Ok(mut shares) = self.shares.lock() else {
            return Arc::new(Share::new(size));
        };
        match shares.get(name) {
            Some(share) if share.size == size => share.clone(),
            _ => {
                // Calls in flight keep their permits of the previous share; only new calls
                // count against the new size.
                let share = Arc::new(Share::new(size));
                shares.insert(name.to_owned(), share.clone());
                share
            }
        }
    }

    fn kv_backend(&self) -> KvBackend {
        match (&self.store, &self.memory_kv) {
            (Some(store), _) => KvBackend::Db(store.clone()),
            (None, Some(memory)) => memory.clone(),
            (None, None) => KvBackend::Memory(Arc::default()),
        }
    }

    /// The in-memory namespace of runs without a database (fixtures fill it first).
    pub fn memory_kv(&self) -> Option<Arc<Mutex<kv::MemoryKv>>> {
        match &self.memory_kv {
            Some(KvBackend::Memory(memory)) => Some(memory.clone()),
            _ => None,
        }
    }

    /// One call of `plugin`: a fresh instance, `call` on it, limits enforced, in the lane of
    /// `hook` (see [`Lane`]). Blocking: run it off the async threads. Counts the call and its
    /// failure (see `record_failure`).
    pub fn call<T>(
        &self,
        runtime: &Runtime,
        plugin: &Loaded,
        hook: Hook,
        lines: usize,
        access: Access,
        call: impl FnOnce(
            &runtime::Plugin,
            &mut WasmStore<CallState>,
        ) -> wasmtime::Result<Result<T, WitHookError>>,
    ) -> Result<CallOutcome<T>, CallError> {
        self.call_costed(runtime, plugin, hook, lines, access, call)
            .0
    }

    /// [`PluginHost::call`], with what the call cost whether it answered or not: a call that
    /// failed for running out of fuel used all of it, and `pifa plugins run` says so.
    pub fn call_costed<T>(
        &self,
        runtime: &Runtime,
        plugin: &Loaded,
        hook: Hook,
        lines: usize,
        access: Access,
        call: impl FnOnce(
            &runtime::Plugin,
            &mut WasmStore<CallState>,
        ) -> wasmtime::Result<Result<T, WitHookError>>,
    ) -> (Result<CallOutcome<T>, CallError>, CallCost) {
        self.call_in(Lane::of(hook), runtime, plugin, hook, lines, access, call)
    }

    /// [`PluginHost::call_costed`] in `lane`. The call's deadline counts wall time, host calls
    /// included: each host call runs at most what is left of it, and a call that returns
    /// after it is the plugin's failure whatever it answered.
    #[expect(
        clippy::too_many_arguments,
        reason = "`call`'s arguments and the lane; a struct would only rename them"
    )]
    fn call_in<T>(
        &self,
        lane: Lane,
        runtime: &Runtime,
        plugin: &Loaded,
        hook: Hook,
        lines: usize,
        access: Access,
        call: impl FnOnce(
            &runtime::Plugin,
            &mut WasmStore<CallState>,
        ) -> wasmtime::Result<Result<T, WitHookError>>,
    ) -> (Result<CallOutcome<T>, CallError>, CallCost) {
        let asked = Instant::now();
        let now = self.clock.now_ms();
        if lane != Lane::Manifest && plugin.stats.is_suspended(now) {
            return (Err(CallError::Suspended), CallCost::default());
        }
        let limits = &runtime.limits;
        let deadline_ms = lane.deadline_ms(limits);
        let handle = tokio::runtime::Handle::try_current().ok();
        // A member's hook may wait for a slot only within its deadline; other lanes' deadline
        // starts once they hold one.
        let _permits = match &handle {
            Some(handle) => {
                let wait_until = asked + Duration::from_millis(deadline_ms);
                match take_slot(handle, runtime, plugin, lane, wait_until) {
                    Ok(permits) => Some(permits),
                    Err(why) => {
                        // Counted, not logged above debug: a crowd on a busy route would
                        // otherwise write a line per request.
                        plugin.stats.busy.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(
                            plugin = plugin.name(),
                            hook = hook.as_str(),
                            reason = %why,
                            "plugin call not made: no free call slot"
                        );
                        let busy = CallError::Busy(format!("plugin {}: {why}", plugin.name()));
                        return (Err(busy), CallCost::default());
                    }
                }
            }
            None => None,
        };
        let started = match lane {
            Lane::Member => asked,
            Lane::Route | Lane::Background | Lane::Manifest => Instant::now(),
        };
        let deadline = started + Duration::from_millis(deadline_ms);
        let state = CallState {
            plugin: Arc::from(plugin.name()),
            kv: Some(KvView {
                plugin: plugin.name().to_owned(),
                backend: self.kv_backend(),
                writes: (access == Access::Buffered).then(KvWrites::default),
                per_call: kv::PerCall::of(&plugin.declared.quota),
            }),
            messages: runtime::Messages::of(&plugin.declared),
            sections: self.sections.get().cloned(),
            store: self.store.clone(),
            clock: self.clock.clone(),
            runtime: handle,
            host_call_timeout: Duration::from_millis(limits.host_call_ms),
            deadline,
            deadline_ms,
            memory_cap: limits.memory_bytes(),
            peak_memory: 0,
            log_cap: usize::try_from(limits.max_log_kib.saturating_mul(1024)).unwrap_or(usize::MAX),
            logged: 0,
            log: Vec::new(),
            fault: None,
        };
        let route_fuel = plugin.declared.quota.route_fuel;
        // The manifest is asked once per load, not per request: a plugin's schemas and routes
        // may take more than a hook's fuel to build, and may not take more than a route's most.
        let fuel = if lane == Lane::Manifest {
            config::MAX_ROUTE_FUEL
        } else if hook == Hook::HandleHttp && route_fuel > 0 {
            route_fuel
        } else {
            limits.fuel_for(lines)
        };
        plugin.stats.calls.fetch_add(1, Ordering::Relaxed);
        let mut store = match runtime::new_store(runtime, state, fuel) {
            Ok(store) => store,
            Err(e) => {
                let failed = self.record_failure(plugin, hook, format!("{e:#}"));
                return (Err(failed), CallCost::default());
            }
        };
        let result = plugin
            .pre
            .instantiate(&mut store)
            .and_then(|instance| call(&instance, &mut store));
        let wall = started.elapsed();
        plugin.stats.record_wall(wall);
        let used = fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        plugin.stats.record_fuel(used);
        let mut state = store.into_data();
        let mut cost = CallCost {
            fuel: used,
            peak_memory: state.peak_memory,
            log: Vec::new(),
        };
        // Whatever it answered, an answer after the deadline held the member (or the slot)
        // for longer than the plugin may.
        let late = Instant::now() > deadline;
        let result = match result {
            Ok(_) if late => {
                cost.log = std::mem::take(&mut state.log);
                Err(self.record_failure(
                    plugin,
                    hook,
                    format!(
                        "took {} ms, over its deadline of {deadline_ms} ms (wall time, host calls included)",
                        wall.as_millis()
                    ),
                ))
            }
            // Not yet a success: whoever reads the answer checks it first (`record_success`).
            Ok(Ok(value)) => Ok(CallOutcome {
                value,
                fuel: used,
                peak_memory: state.peak_memory,
                log: state.log,
                writes: state.kv.and_then(|kv| kv.writes).unwrap_or_default(),
                messages_sent: state.messages.sent,
            }),
            // `on-event` and `on-tick` refuse nobody: their error is the plugin failing to do
            // its work, counted like a trap (and retried, for an event).
            Ok(Err(error)) if matches!(hook, Hook::OnEvent | Hook::OnTick) => {
                let reason = format!("answered an error: {}: {}", error.code, error.message);
                Err(self.record_failure(plugin, hook, reason))
            }
            // A checkout or a route may refuse (the caller counts that a success); a quote
            // may not (its caller counts a failure).
            Ok(Err(refusal)) => {
                cost.log = std::mem::take(&mut state.log);
                // The member may read it (a checkout's refusal), and the log keeps it.
                Err(CallError::Refused {
                    code: crate::text::plugin_code(&refusal.code),
                    message: crate::text::from_plugin(
                        &refusal.message,
                        crate::text::PluginText::MemberMessage,
                    ),
                })
            }
            Err(trap) => {
                let reason = describe_trap(&trap, &state, used >= fuel);
                cost.log = std::mem::take(&mut state.log);
                Err(self.record_failure(plugin, hook, reason))
            }
        };
        (result, cost)
    }

    /// Counts a call's answer as taken: the plugin's failures in a row start again. Called by
    /// whoever checked the answer (its output parsed and within bounds, its writes stored),
    /// not by `call`: an answer the kernel refuses is a failure, and a plugin whose every
    /// answer is refused must reach `suspend_after` as one that traps does.
    pub fn record_success(&self, plugin: &Loaded, hook: Hook) {
        plugin
            .stats
            .failures_in_a_row(hook)
            .store(0, Ordering::Relaxed);
    }

    /// Logs and counts a failure; the `suspend_after`-th in a row suspends the plugin and
    /// tells staff.
    pub fn record_failure(
        &self,
        plugin: &Loaded,
        hook: Hook,
        reason: impl std::fmt::Display,
    ) -> CallError {
        // A reason may quote the plugin (its refusal, its panic message, its last log line):
        // cleaned like any text of its before the log, `last_error` and staff see it.
        let reason = crate::text::from_plugin(&reason.to_string(), crate::text::PluginText::Reason);
        let name = plugin.name();
        tracing::error!(plugin = name, hook = hook.as_str(), error = %reason, "plugin call failed");
        plugin.stats.failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = plugin.stats.last_error.lock() {
            *last = format!("{}: {reason}", hook.as_str());
        }
        let in_a_row = plugin
            .stats
            .failures_in_a_row(hook)
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        let limits = &self.current().runtime.limits;
        if in_a_row >= limits.suspend_after {
            let now = self.clock.now_ms();
            let until = now.saturating_add(
                i64::try_from(limits.suspend_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            );
            plugin.stats.suspended_until.store(until, Ordering::Relaxed);
            plugin.stats.forget_failures();
            tracing::error!(
                plugin = name,
                until,
                "plugin suspended after repeated failures"
            );
            if let (Some(store), Ok(handle)) =
                (self.store.clone(), tokio::runtime::Handle::try_current())
            {
                let body = format!(
                    "插件 {name} 连续{in_a_row}次出错，已暂停{}分钟（订单照常进行，不含该插件）：{reason}",
                    limits.suspend_secs / 60
                );
                handle.spawn(async move {
                    crate::notify::tell_staff(&store, "plugin_suspended", body, now).await;
                });
            }
        }
        CallError::Failed(format!("plugin {name}: {reason}"))
    }

    /// Writes every plugin's counters to `plugin_stats` (for `pifa plugins list`).
    pub async fn flush_stats(&self) -> crate::store::StoreResult<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let now = self.clock.now_ms();
        for plugin in &self.current().plugins {
            let (p50, p99) = plugin.stats.fuel_percentiles();
            let (wall_p50, wall_p99) = plugin.stats.wall_us_percentiles();
            let suspended = plugin.stats.suspended_until.load(Ordering::Relaxed);
            let row = events::StatsRow {
                plugin: plugin.name().to_owned(),
                version: plugin.manifest.version.clone(),
                calls: i64::try_from(plugin.stats.calls.load(Ordering::Relaxed))
                    .unwrap_or(i64::MAX),
                failures: i64::try_from(plugin.stats.failures.load(Ordering::Relaxed))
                    .unwrap_or(i64::MAX),
                fuel_p50: i64::try_from(p50).unwrap_or(i64::MAX),
                fuel_p99: i64::try_from(p99).unwrap_or(i64::MAX),
                wall_us_p50: i64::try_from(wall_p50).unwrap_or(i64::MAX),
                wall_us_p99: i64::try_from(wall_p99).unwrap_or(i64::MAX),
                busy: i64::try_from(plugin.stats.busy.load(Ordering::Relaxed)).unwrap_or(i64::MAX),
                suspended_until: (suspended > now).then_some(suspended),
                last_error: plugin.stats.last_error(),
            };
            store.plugins().save_plugin_stats(&row, now).await?;
        }
        Ok(())
    }

    /// Background work of a serving host: the events dispatcher, ticks, stats and the
    /// watcher that reloads on change.
    pub fn spawn_background(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = vec![
            tokio::spawn(events::dispatch_loop(self.clone())),
            tokio::spawn(events::tick_loop(self.clone())),
        ];
        tasks.extend(crate::watch::spawn(self.clone()));
        tasks
    }
}

/// Checks one component on its own, as `plugins.toml` would load it if it granted exactly what
/// the manifest asks for: the manifest, API version, routes, and no import beyond that.
pub fn inspect(file: &Path) -> Result<Manifest, CheckError> {
    let everything = Declared {
        name: String::new(),
        component: file.to_owned(),
        order: 0,
        granted: Capability::ALL.to_vec(),
        settings: serde_json::Value::Object(serde_json::Map::new()),
        on_error: config::OnError::default(),
        grants: config::Grants {
            events: vec!["*".to_owned()],
            data: config::DataClass::ALL.to_vec(),
            route_roles: config::ROUTE_ROLES
                .iter()
                .map(|r| (*r).to_owned())
                .collect(),
            notify_to: vec![crate::accounts::Role::Admin],
        },
        quota: config::Quota::default(),
    };
    let host = PluginHost::load(
        Path::new("/nonexistent/plugins.toml"),
        None,
        Clock::system(),
        None,
    )?;
    let runtime = host.current().runtime.clone();
    let loaded = host.load_one(&runtime, &everything, false)?;
    let manifest = loaded.manifest;
    let granted = Declared {
        name: manifest.name.clone(),
        granted: manifest.capabilities.clone(),
        ..everything
    };
    // Compiled once already, by `load_one`.
    let (component, _) = host.compile(&runtime, file)?;
    check_imports(
        &runtime.engine,
        &component,
        &granted.granted,
        "its manifest does not ask for",
    )?;
    check_manifest(&manifest, &granted).map_err(LoadError::from)?;
    Ok(manifest)
}

impl crate::watch::Reloadable for PluginHost {
    fn what(&self) -> &'static str {
        "plugins"
    }

    /// `plugins.toml`, each serving component, each refused one, and the files of the entries
    /// that refused the last reload.
    fn watched_files(&self) -> std::collections::BTreeSet<PathBuf> {
        let mut files = std::collections::BTreeSet::new();
        files.extend(std::path::absolute(&self.config_path).ok());
        let set = self.current();
        for plugin in &set.plugins {
            files.extend(std::path::absolute(&plugin.declared.component).ok());
        }
        // A refused component fixed in place is picked up like a changed one.
        let awaited = self.awaited.lock().map(|a| a.clone()).unwrap_or_default();
        let refused = set
            .refused
            .iter()
            .filter(|r| r.kind == config::Kind::Wasm)
            .filter_map(|r| r.file.clone());
        for file in refused.chain(awaited) {
            files.extend(std::path::absolute(file).ok());
        }
        files
    }

    fn reload_now(&self) {
        // A refusal is logged and kept in `last_error` by `reload`.
        let _ = self.reload();
    }
}

/// Loads one native entry's library with its settings and checks it fits the entry: the name
/// it gives itself, and that it delivers the entry's channel.
fn load_native(entry: &DeclaredNative) -> Result<NativeAdapter, NativeLoadError> {
    let adapter = NativeAdapter::load(&entry.library, &entry.settings)?;
    if adapter.name() != entry.name {
        return Err(NativeLoadError::Name {
            path: adapter.path().to_owned(),
            name: adapter.name().to_owned(),
            entry: entry.name.clone(),
        });
    }
    if !adapter.channels().contains(&entry.channel) {
        return Err(NativeLoadError::Channel {
            name: adapter.name().to_owned(),
            channels: adapter.channels().to_vec(),
            channel: entry.channel.clone(),
        });
    }
    Ok(adapter)
}

/// Refuses a component importing an interface that is not granted (log always is), naming it.
fn check_imports(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
    granted: &[Capability],
    granter: &'static str,
) -> Result<(), LoadError> {
    for import in runtime::imports(engine, component) {
        let allowed = import == runtime::interface_name("log")
            || granted
                .iter()
                .any(|c| import == runtime::interface_name(c.as_str()));
        if !allowed {
            return Err(LoadError::Import {
                import,
                granter,
                capabilities: granted.iter().map(|c| c.as_str()).collect(),
            });
        }
    }
    Ok(())
}

fn read_manifest(
    host: &PluginHost,
    runtime: &Runtime,
    plugin: &Loaded,
) -> Result<Manifest, LoadError> {
    let outcome = host
        .call_in(
            Lane::Manifest,
            runtime,
            plugin,
            Hook::Quote,
            0,
            Access::ReadOnly,
            |instance, store| {
                instance
                    .call_manifest(store)
                    .map(Ok::<String, WitHookError>)
            },
        )
        .0
        .map_err(LoadError::ManifestCall)?;
    serde_json::from_str(&outcome.value).map_err(LoadError::ManifestJson)
}

/// The manifest's API version, name, capabilities and the settings against its schema.
fn check_manifest(manifest: &Manifest, entry: &Declared) -> Result<(), ManifestError> {
    if manifest.api != pifa_sdk::API_VERSION {
        return Err(ManifestError::Api {
            manifest: manifest.api.clone(),
            kernel: pifa_sdk::API_VERSION,
        });
    }
    if manifest.name != entry.name {
        return Err(ManifestError::Name {
            manifest: manifest.name.clone(),
            entry: entry.name.clone(),
        });
    }
    if let Some(missing) = manifest
        .capabilities
        .iter()
        .find(|c| !entry.granted.contains(c))
    {
        return Err(ManifestError::Capability(missing.as_str()));
    }
    if let Some(schema) = &manifest.settings_schema {
        let validator =
            jsonschema::validator_for(schema).map_err(|e| ManifestError::Schema(Box::new(e)))?;
        if let Some(error) = validator.iter_errors(&entry.settings).next() {
            return Err(ManifestError::Settings {
                at: error.instance_path().to_string(),
                source: Box::new(error.to_owned()),
            });
        }
    }
    for route in &manifest.routes {
        http::check_route(route)?;
        let needs = [
            (route.mount.is_some(), "mounts a page", Capability::Pages),
            (route.picture, "takes a picture", Capability::Pictures),
            (
                route.screen.is_some(),
                "answers a screen",
                Capability::Screens,
            ),
        ];
        if let Some((_, what, capability)) = needs
            .into_iter()
            .find(|(uses, _, capability)| *uses && !entry.granted.contains(capability))
        {
            return Err(ManifestError::RouteGrant {
                method: route.method.clone(),
                path: route.path.clone(),
                what,
                capability: capability.as_str(),
            });
        }
        if let Some(role) = route
            .roles
            .iter()
            .find(|r| !entry.grants.allows_route_role(r))
        {
            return Err(ManifestError::RouteRole {
                method: route.method.clone(),
                path: route.path.clone(),
                role: role.clone(),
                granted: entry.grants.route_roles.clone(),
            });
        }
    }
    Ok(())
}

/// Why a call found no slot in time: not the plugin's failure (`CallError::Busy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum SlotError {
    #[error("its share of {0} concurrent calls (quota.concurrent_calls) is in use")]
    ShareInUse(u32),
    #[error("every call slot of the plugin host is in use")]
    HostInUse,
    #[error("the plugin host is shutting down")]
    Closed,
}

/// The plugin's share and a pool slot for a call in `lane`, or why there is none: a route
/// takes both at once or not at all, a member's hook waits until `wait_until`, a background
/// call waits. The share comes first, so a plugin waiting for its own share holds no pool slot.
fn take_slot(
    handle: &tokio::runtime::Handle,
    runtime: &Runtime,
    plugin: &Loaded,
    lane: Lane,
    wait_until: Instant,
) -> Result<Permits, SlotError> {
    use tokio::sync::TryAcquireError;
    let share = &plugin.share;
    let slots = &runtime.slots;
    let share_full = || SlotError::ShareInUse(share.size);
    let host_full = || SlotError::HostInUse;
    let closed = || SlotError::Closed;
    match lane {
        Lane::Route => {
            let share_permit = share
                .other
                .clone()
                .try_acquire_owned()
                .map_err(|e| match e {
                    TryAcquireError::NoPermits => share_full(),
                    TryAcquireError::Closed => closed(),
                })?;
            let slot = slots
                .shared
                .clone()
                .try_acquire_owned()
                .map_err(|e| match e {
                    TryAcquireError::NoPermits => host_full(),
                    TryAcquireError::Closed => closed(),
                })?;
            Ok(Permits {
                _share: share_permit,
                _slot: slot,
            })
        }
        Lane::Background | Lane::Manifest => handle.block_on(async {
            let share_permit = share
                .other
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| closed())?;
            let slot = slots
                .shared
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| closed())?;
            Ok(Permits {
                _share: share_permit,
                _slot: slot,
            })
        }),
        Lane::Member => {
            let until = tokio::time::Instant::from_std(wait_until);
            handle.block_on(async {
                let share_permit =
                    tokio::time::timeout_at(until, share.member.clone().acquire_owned())
                        .await
                        .map_err(|_| share_full())?
                        .map_err(|_| closed())?;
                // A reserved slot when one is free, else whichever frees first.
                let slot = match slots.member.clone().try_acquire_owned() {
                    Ok(slot) => slot,
                    Err(_) => tokio::time::timeout_at(until, async {
                        tokio::select! {
                            slot = slots.member.clone().acquire_owned() => slot,
                            slot = slots.shared.clone().acquire_owned() => slot,
                        }
                    })
                    .await
                    .map_err(|_| host_full())?
                    .map_err(|_| closed())?,
                };
                Ok(Permits {
                    _share: share_permit,
                    _slot: slot,
                })
            })
        }
    }
}

/// What a trap means, in words: the host's own fault where it knows one (a timeout, a cap),
/// else the trap, with the plugin's last log line (its panic message) when it wrote one.
fn describe_trap(trap: &wasmtime::Error, state: &CallState, out_of_fuel: bool) -> String {
    if let Some(fault) = &state.fault {
        return fault.clone();
    }
    let mut reason = match trap.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel) => "fuel exhausted (too many instructions)".to_owned(),
        Some(wasmtime::Trap::Interrupt) => "deadline exceeded".to_owned(),
        Some(wasmtime::Trap::StackOverflow) => "stack overflow (recursion too deep)".to_owned(),
        // Rust's stack lives in linear memory: running off its bottom is the usual cause.
        Some(wasmtime::Trap::MemoryOutOfBounds) => {
            "out-of-bounds memory access (its stack overflowed, or a bad pointer)".to_owned()
        }
        Some(other) => other.to_string(),
        None if out_of_fuel => "fuel exhausted (too many instructions)".to_owned(),
        None => format!("{trap:#}"),
    };
    if let Some(last) = state.log.last().filter(|l| l.starts_with("panic")) {
        reason = format!("{reason}: {last}");
    }
    reason
}

/// What the plugins' handlers work with: the shop and this host (`FromRef` from the
/// app's state, so this module never names it).
#[derive(Clone)]
pub struct PluginsState {
    pub shop: crate::shop::Shop,
    pub plugins: Arc<PluginHost>,
}

impl std::ops::Deref for PluginsState {
    type Target = crate::shop::Shop;

    fn deref(&self) -> &crate::shop::Shop {
        &self.shop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(granted: Vec<Capability>, settings: serde_json::Value) -> Declared {
        Declared {
            name: "flash-sale".to_owned(),
            component: PathBuf::from("flash-sale.wasm"),
            order: 0,
            granted,
            settings,
            on_error: config::OnError::default(),
            grants: config::Grants::default(),
            quota: config::Quota::default(),
        }
    }

    #[test]
    fn a_manifest_is_refused_naming_what_does_not_fit() {
        let mut manifest = pifa_sdk::manifest("flash-sale", "1.0.0", &[Hook::Quote]);
        manifest.capabilities = vec![Capability::Kv];
        manifest.settings_schema = Some(serde_json::json!({
            "type": "object", "properties": { "label": { "type": "string" } }, "additionalProperties": false
        }));
        let granted = entry(
            vec![Capability::Kv],
            serde_json::json!({ "label": "秒杀价" }),
        );
        assert!(check_manifest(&manifest, &granted).is_ok());

        let future = pifa_sdk::Manifest {
            api: "9.9".to_owned(),
            ..manifest.clone()
        };
        let error = check_manifest(&future, &granted)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("\"9.9\""), "{error}");

        let ungranted = entry(Vec::new(), serde_json::json!({ "label": "秒杀价" }));
        let error = check_manifest(&manifest, &ungranted)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("needs capability kv"), "{error}");

        let bad_settings = entry(vec![Capability::Kv], serde_json::json!({ "colour": "red" }));
        let error = check_manifest(&manifest, &bad_settings)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.starts_with("settings"), "{error}");

        let renamed = pifa_sdk::Manifest {
            name: "other".to_owned(),
            ..manifest.clone()
        };
        let error = check_manifest(&renamed, &granted)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("\"other\""), "{error}");

        // A route serves only roles plugins.toml grants: the manifest alone is not enough.
        let public = pifa_sdk::Manifest {
            routes: vec![pifa_sdk::Route {
                method: "GET".to_owned(),
                path: "/heard".to_owned(),
                roles: vec!["admin".to_owned(), "public".to_owned()],
                ..pifa_sdk::Route::default()
            }],
            ..manifest
        };
        let mut staff_only = granted.clone();
        staff_only.grants.route_roles = vec!["admin".to_owned()];
        let error = check_manifest(&public, &staff_only)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("route GET /heard serves role public")
                && error.contains("does not grant"),
            "{error}"
        );
        staff_only.grants.route_roles.push("public".to_owned());
        assert!(check_manifest(&public, &staff_only).is_ok());
    }
}
