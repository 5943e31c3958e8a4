//! What the back office changes in a running plugin (M7): its settings, checked against the
//! schema its manifest declares and written into its `plugins.toml` entry (comments and
//! layout kept, `toml_edit`), then reloaded like any edit of the file; and a suspension
//! lifted before its time, once staff have seen to the cause. The file stays the one place
//! a plugin's settings live: the office edits it as an integrator would, never beside it.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::{PluginHost, PluginsState};
use crate::accounts::audit::Operation;
use crate::accounts::permissions::{Actor, Permission};
use crate::accounts::sessions::ClientInfo;
use crate::edge::extract::Path;
use crate::edge::json::ApiJson;
use crate::error::{ApiError, ApiResult};

/// Why new settings were not taken.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("no plugin {0:?} serves")]
    Unknown(String),
    #[error("settings{}: {message}", if .at.is_empty() { String::new() } else { format!(" {}", .at) })]
    Invalid {
        /// Where in the settings (a JSON pointer; empty for the whole).
        at: String,
        message: String,
    },
    #[error("plugins.toml could not be read or written: {0}")]
    File(#[source] std::io::Error),
    #[error("plugins.toml is not valid TOML: {0}")]
    Toml(#[source] toml_edit::TomlError),
    #[error("plugins.toml has no [[plugin]] entry named {0:?}")]
    NoEntry(String),
    #[error("the reload with the new settings was refused (the file is as it was): {0}")]
    Reload(#[source] super::HostError),
}

impl PluginHost {
    /// Replaces `name`'s settings with `settings`: checked against its manifest's schema,
    /// written into its entry in `plugins.toml`, and reloaded. A reload that refuses the new
    /// file puts the old text back (and reloads it), so a refusal changes nothing.
    pub fn set_settings(
        &self,
        name: &str,
        settings: &serde_json::Value,
    ) -> Result<(), SettingsError> {
        let serving = self.current();
        let plugin = serving
            .plugins
            .iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| SettingsError::Unknown(name.to_owned()))?;
        check_settings(plugin.manifest.settings_schema.as_ref(), settings)?;
        let _one_at_a_time = self.editing.lock().unwrap_or_else(|p| p.into_inner());
        let before = std::fs::read_to_string(&self.config_path).map_err(SettingsError::File)?;
        let after = with_settings(&before, name, settings)?;
        crate::watch::replace_file(&self.config_path, after.as_bytes())
            .map_err(SettingsError::File)?;
        if let Err(refused) = self.reload() {
            crate::watch::replace_file(&self.config_path, before.as_bytes())
                .map_err(SettingsError::File)?;
            // The old file served before; reading it again restores the same set.
            let _ = self.reload();
            return Err(SettingsError::Reload(refused));
        }
        Ok(())
    }

    /// Lifts `name`'s suspension now, its failures in a row forgotten (its totals kept); false
    /// when no such plugin serves or it is not suspended.
    pub fn resume(&self, name: &str) -> bool {
        let now = self.clock.now_ms();
        let serving = self.current();
        let Some(plugin) = serving.plugins.iter().find(|p| p.name() == name) else {
            return false;
        };
        if !plugin.stats.is_suspended(now) {
            return false;
        }
        plugin.stats.suspended_until.store(0, Ordering::Relaxed);
        plugin.stats.forget_failures();
        true
    }
}

/// `settings` against `schema` (none: anything an object holds), naming the first place that
/// does not fit.
fn check_settings(
    schema: Option<&serde_json::Value>,
    settings: &serde_json::Value,
) -> Result<(), SettingsError> {
    if !settings.is_object() {
        return Err(SettingsError::Invalid {
            at: String::new(),
            message: "settings are a table of names and values".to_owned(),
        });
    }
    let Some(schema) = schema else {
        return Ok(());
    };
    let validator = jsonschema::validator_for(schema).map_err(|e| SettingsError::Invalid {
        at: String::new(),
        message: format!("the plugin's schema is not valid: {e}"),
    })?;
    match validator.iter_errors(settings).next() {
        None => Ok(()),
        Some(error) => Err(SettingsError::Invalid {
            at: error.instance_path().to_string(),
            message: error.to_string(),
        }),
    }
}

/// `text` (a `plugins.toml`) with the entry `name`'s `settings` replaced by `settings`, every
/// other byte as it was.
fn with_settings(
    text: &str,
    name: &str,
    settings: &serde_json::Value,
) -> Result<String, SettingsError> {
    let mut document: toml_edit::DocumentMut = text.parse().map_err(SettingsError::Toml)?;
    let entry = document
        .get_mut("plugin")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
        .and_then(|entries| {
            entries
                .iter_mut()
                .find(|entry| entry.get("name").and_then(|n| n.as_str()) == Some(name))
        })
        .ok_or_else(|| SettingsError::NoEntry(name.to_owned()))?;
    let value = toml_value(settings).ok_or_else(|| SettingsError::Invalid {
        at: String::new(),
        message: "a setting is null, which plugins.toml cannot hold".to_owned(),
    })?;
    entry["settings"] = toml_edit::Item::Value(value);
    Ok(document.to_string())
}

/// A JSON value as TOML (objects as inline tables); none for a null anywhere in it.
fn toml_value(value: &serde_json::Value) -> Option<toml_edit::Value> {
    Some(match value {
        serde_json::Value::Null => return None,
        serde_json::Value::Bool(b) => toml_edit::Value::from(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => toml_edit::Value::from(i),
            None => toml_edit::Value::from(n.as_f64()?),
        },
        serde_json::Value::String(s) => toml_edit::Value::from(s.as_str()),
        serde_json::Value::Array(items) => {
            let mut array = toml_edit::Array::new();
            for item in items {
                array.push(toml_value(item)?);
            }
            toml_edit::Value::Array(array)
        }
        serde_json::Value::Object(fields) => {
            let mut table = toml_edit::InlineTable::new();
            for (key, field) in fields {
                table.insert(key, toml_value(field)?);
            }
            toml_edit::Value::InlineTable(table)
        }
    })
}

async fn log(
    app: &PluginsState,
    actor: &Actor,
    client: &ClientInfo,
    action: &'static str,
    name: &str,
    detail: serde_json::Value,
) -> ApiResult<()> {
    app.store
        .accounts()
        .log_operation(
            Operation {
                actor_id: Some(actor.user_id),
                action,
                target_kind: "plugin",
                target_id: Some(name.to_owned()),
                detail,
            },
            client,
            app.clock.now_ms(),
        )
        .await?;
    Ok(())
}

/// Replace a plugin's settings (admin): checked against the schema its manifest declares
/// (422 `invalid_plugin_settings`, `field` naming the place), written into its entry in
/// `plugins.toml` with the file's comments kept, and reloaded; its next call has them.
#[utoipa::path(put, path = "/admin/plugins/{name}/settings", tag = "plugins", params(("name" = String, Path)),
    request_body(content = Object, description = "The settings, as the plugin's schema describes them"),
    responses((status = 200, body = Object), (status = 404, description = "`not_found`", body = crate::error::ErrorBody), (status = 422, description = "`invalid_plugin_settings`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn put_settings(
    State(app): State<PluginsState>,
    actor: Actor,
    client: ClientInfo,
    Path(name): Path<String>,
    ApiJson(settings): ApiJson<serde_json::Value>,
) -> ApiResult<Json<serde_json::Value>> {
    actor.require(Permission::ManageSettings)?;
    let host = app.plugins.clone();
    let (plugin, wanted) = (name.clone(), settings.clone());
    // Reading the components again compiles (or finds in the cache) every plugin: off the
    // request's thread.
    tokio::task::spawn_blocking(move || host.set_settings(&plugin, &wanted))
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| match error {
            SettingsError::Unknown(_) => ApiError::not_found(),
            SettingsError::Invalid { ref at, .. } => ApiError::invalid_field(
                "invalid_plugin_settings",
                &if at.is_empty() {
                    "settings".to_owned()
                } else {
                    format!("settings{}", at.replace('/', "."))
                },
                format!("插件设置不符合其要求 (settings do not fit the plugin's schema): {error}"),
            ),
            other => ApiError::internal(other),
        })?;
    log(
        &app,
        &actor,
        &client,
        "plugin.settings",
        &name,
        settings.clone(),
    )
    .await?;
    Ok(Json(settings))
}

/// Lift a plugin's suspension now (admin), once the cause is seen to: it serves from its next
/// call, its failures in a row forgotten. 409 `not_suspended` when it is serving.
#[utoipa::path(post, path = "/admin/plugins/{name}/resume", tag = "plugins", params(("name" = String, Path)),
    responses((status = 204), (status = 404, description = "`not_found`", body = crate::error::ErrorBody), (status = 409, description = "`not_suspended`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn resume(
    State(app): State<PluginsState>,
    actor: Actor,
    client: ClientInfo,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    actor.require(Permission::ManageSettings)?;
    let serving = app.plugins.current();
    if !serving.plugins.iter().any(|p| p.name() == name) {
        return Err(ApiError::not_found());
    }
    if !app.plugins.resume(&name) {
        return Err(ApiError::conflict(
            "not_suspended",
            "name",
            "插件未被暂停 (the plugin is not suspended)",
        ));
    }
    log(
        &app,
        &actor,
        &client,
        "plugin.resume",
        &name,
        serde_json::json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# Which plugins run.

[[plugin]]
name = "flash-sale"   # the shop's sales
component = "plugins/build/flash-sale.wasm"
settings = { label = "限时抢购价" }

[[plugin]]
name = "other"
component = "x.wasm"
"#;

    #[test]
    fn new_settings_replace_only_the_entrys_own_and_keep_the_comments() {
        let changed = with_settings(
            FILE,
            "flash-sale",
            &serde_json::json!({ "label": "秒杀价", "limit": 3 }),
        )
        .ok()
        .unwrap_or_default();
        assert!(changed.contains("# Which plugins run."), "{changed}");
        assert!(changed.contains("# the shop's sales"), "{changed}");
        assert!(changed.contains("label = \"秒杀价\""), "{changed}");
        assert!(changed.contains("limit = 3"), "{changed}");
        assert!(!changed.contains("限时抢购价"), "{changed}");
        let other = with_settings(FILE, "other", &serde_json::json!({ "on": true }))
            .ok()
            .unwrap_or_default();
        assert!(
            other.contains("settings = { label = \"限时抢购价\" }"),
            "{other}"
        );
        assert!(other.contains("on = true"), "{other}");
        assert!(matches!(
            with_settings(FILE, "absent", &serde_json::json!({})),
            Err(SettingsError::NoEntry(_))
        ));
        assert!(matches!(
            with_settings(FILE, "other", &serde_json::json!({ "x": null })),
            Err(SettingsError::Invalid { .. })
        ));
    }

    #[test]
    fn settings_are_checked_against_the_schema_naming_the_place() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": { "label": { "type": "string", "maxLength": 4 } },
            "additionalProperties": false
        });
        assert!(check_settings(Some(&schema), &serde_json::json!({ "label": "秒杀" })).is_ok());
        match check_settings(
            Some(&schema),
            &serde_json::json!({ "label": "太长的标签文字" }),
        ) {
            Err(SettingsError::Invalid { at, .. }) => assert_eq!(at, "/label"),
            other => panic!("{other:?}"),
        }
        assert!(check_settings(None, &serde_json::json!("x")).is_err());
    }
}
