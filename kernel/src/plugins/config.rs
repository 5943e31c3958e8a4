//! `plugins.toml` (REQUIREMENTS M7): which plugins run, in which order, what each may do, its
//! settings and what a failure of each hook means. Parsed whole and checked before anything
//! is swapped in, so a bad edit never half-applies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pifa_sdk::{Capability, Hook};
use serde::Deserialize;

/// What a failing hook means for the request that called it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Go on without the plugin's contribution (the default).
    Skip,
    /// Refuse the quote or order (`plugin_failed`).
    Reject,
}

/// `on_error = "reject"` for every hook, or per hook: `on_error = { quote = "skip", checkout =
/// "reject" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OnError {
    All(Policy),
    PerHook(BTreeMap<String, Policy>),
}

impl Default for OnError {
    fn default() -> OnError {
        OnError::All(Policy::Skip)
    }
}

impl OnError {
    pub fn policy(&self, hook: Hook) -> Policy {
        match self {
            OnError::All(policy) => *policy,
            OnError::PerHook(map) => map.get(hook.as_str()).copied().unwrap_or(Policy::Skip),
        }
    }
}

/// One `[[plugin]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginEntry {
    pub name: String,
    /// The component file, relative to `plugins.toml`'s directory.
    pub component: PathBuf,
    /// Plugins run in ascending order (then by name).
    #[serde(default)]
    pub order: i64,
    /// Host interfaces granted beyond `log`: `clock`, `kv`, `catalog-read`, `notify`.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Checked against the schema the plugin's manifest declares.
    #[serde(default)]
    pub settings: Option<toml::Table>,
    #[serde(default)]
    pub on_error: OnError,
}

/// Per-call limits (`[limits]`); the defaults are the measured starting values.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Fuel (≈ wasm instructions) for a call, plus `fuel_per_line` per cart line.
    pub fuel_base: u64,
    pub fuel_per_line: u64,
    /// A plugin's linear memory.
    pub memory_mib: u64,
    /// Wall-clock deadline of a call (epoch interruption).
    pub deadline_ms: u64,
    /// A host call (storage, catalogue) that takes longer fails the hook.
    pub host_call_ms: u64,
    pub max_input_kib: u64,
    pub max_output_kib: u64,
    /// Log bytes per call; more fails the hook.
    pub max_log_kib: u64,
    /// Consecutive failures before a plugin is suspended (and staff are told) …
    pub suspend_after: u32,
    /// … for this long.
    pub suspend_secs: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            fuel_base: 2_000_000,
            fuel_per_line: 40_000,
            memory_mib: 32,
            deadline_ms: 500,
            host_call_ms: 250,
            max_input_kib: 1024,
            max_output_kib: 256,
            max_log_kib: 64,
            suspend_after: 5,
            suspend_secs: 600,
        }
    }
}

impl Limits {
    pub fn fuel_for(&self, lines: usize) -> u64 {
        self.fuel_base
            .saturating_add(self.fuel_per_line.saturating_mul(lines as u64))
    }

    pub fn memory_bytes(&self) -> usize {
        usize::try_from(self.memory_mib.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsFile {
    #[serde(default)]
    pub limits: Limits,
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<PluginEntry>,
}

/// An entry, checked: capabilities parsed, the component path resolved.
#[derive(Debug, Clone)]
pub struct Declared {
    pub name: String,
    pub component: PathBuf,
    pub order: i64,
    pub granted: Vec<Capability>,
    pub settings: serde_json::Value,
    pub on_error: OnError,
}

/// Reads and checks `path`; a missing file means no plugins. Errors name the problem.
pub fn read(path: &Path) -> Result<(Limits, Vec<Declared>), String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    parse(&text, path.parent().unwrap_or(Path::new(".")))
        .map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse(text: &str, base: &Path) -> Result<(Limits, Vec<Declared>), String> {
    let file: PluginsFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut declared = Vec::new();
    for entry in file.plugins {
        if !valid_name(&entry.name) {
            return Err(format!(
                "plugin name {:?}: lowercase letters, digits and '-' only",
                entry.name
            ));
        }
        if declared.iter().any(|d: &Declared| d.name == entry.name) {
            return Err(format!("plugin {} is declared twice", entry.name));
        }
        let mut granted = Vec::new();
        for name in &entry.capabilities {
            let capability = Capability::parse(name).ok_or_else(|| {
                format!(
                    "plugin {}: unknown capability {name:?} (known: clock, kv, catalog-read, notify)",
                    entry.name
                )
            })?;
            granted.push(capability);
        }
        if let OnError::PerHook(map) = &entry.on_error
            && let Some(unknown) = map.keys().find(|k| Hook::parse(k).is_none())
        {
            return Err(format!(
                "plugin {}: on_error names unknown hook {unknown:?}",
                entry.name
            ));
        }
        let settings = match entry.settings {
            Some(table) => serde_json::to_value(table).map_err(|e| e.to_string())?,
            None => serde_json::Value::Object(serde_json::Map::new()),
        };
        declared.push(Declared {
            component: base.join(&entry.component),
            name: entry.name,
            order: entry.order,
            granted,
            settings,
            on_error: entry.on_error,
        });
    }
    declared.sort_by(|a, b| (a.order, &a.name).cmp(&(b.order, &b.name)));
    Ok((file.limits, declared))
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_entry_with_settings_and_policies_parses_in_order() {
        let (limits, plugins) = parse(
            r#"
            [limits]
            memory_mib = 16

            [[plugin]]
            name = "b"
            component = "build/b.wasm"
            order = 20

            [[plugin]]
            name = "a"
            component = "build/a.wasm"
            order = 10
            capabilities = ["kv"]
            on_error = { quote = "reject" }
            settings = { label = "限时抢购价" }
            "#,
            Path::new("/srv"),
        )
        .unwrap_or_default();
        assert_eq!(limits.memory_mib, 16);
        let names: Vec<_> = plugins.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let a = &plugins[0];
        assert_eq!(a.component, Path::new("/srv/build/a.wasm"));
        assert_eq!(a.granted, [Capability::Kv]);
        assert_eq!(a.on_error.policy(Hook::Quote), Policy::Reject);
        assert_eq!(a.on_error.policy(Hook::Checkout), Policy::Skip);
        assert_eq!(a.settings["label"], "限时抢购价");
    }

    #[test]
    fn unknown_capabilities_hooks_and_fields_are_named() {
        let base = Path::new(".");
        let bad = [
            (
                "[[plugin]]\nname = \"a\"\ncomponent = \"a.wasm\"\ncapabilities = [\"net\"]",
                "\"net\"",
            ),
            (
                "[[plugin]]\nname = \"a\"\ncomponent = \"a.wasm\"\non_error = { qoute = \"skip\" }",
                "qoute",
            ),
            (
                "[[plugin]]\nname = \"a\"\ncomponent = \"a.wasm\"\ncolour = 1",
                "colour",
            ),
            ("[[plugin]]\nname = \"A b\"\ncomponent = \"a.wasm\"", "A b"),
        ];
        for (text, named) in bad {
            let error = parse(text, base).err().unwrap_or_default();
            assert!(error.contains(named), "{error} should name {named}");
        }
    }
}
