//! 插件 in the back office: what is installed and how it runs (`plugins::http::status`),
//! each plugin's settings as a form drawn from the schema its manifest declares, saved
//! through `plugins::manage::put_settings` (checked against the schema, written into
//! `plugins.toml`, reloaded), and 恢复运行 for a suspended plugin (`plugins::manage::resume`).

use axum::body::Bytes;
use axum::extract::State;

use super::menu_for;
use crate::accounts::permissions::Actor;
use crate::accounts::sessions::ClientInfo;
use crate::edge::extract::Path;
use crate::edge::json::ApiJson;
use crate::error::ApiError;
use crate::pages::fields::Fields;
use crate::pages::{Page, Visit};
use crate::plugins::PluginsState;
use crate::themes::office::{OfficePluginsView, PluginRefusal, SettingField};
use crate::themes::views::FormError;

async fn plugins_view(
    app: &PluginsState,
    actor: Actor,
    error: Option<PluginRefusal>,
) -> Result<OfficePluginsView, ApiError> {
    let menu = menu_for(&actor, "plugins")?;
    let status = crate::plugins::http::status(State(app.clone()), actor)
        .await?
        .0;
    let settings = status
        .plugins
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                SettingField::of(p.settings_schema.as_ref(), &p.settings),
            )
        })
        .collect();
    Ok(OfficePluginsView {
        menu,
        status,
        settings,
        error,
    })
}

/// `GET /admin/plugins`: the plugins serving, their grants, calls, failures and fuel, their
/// settings, the refused entries.
pub async fn plugins(State(app): State<PluginsState>, visit: Visit) -> Page {
    let view = async { plugins_view(&app, visit.actor()?, None).await }.await;
    visit.show(view)
}

/// The settings a plugin's form describes, read by each field's kind: text as typed (left
/// out when empty and not required), numbers parsed, a box ticked or not, JSON parsed;
/// what does not read is refused naming its field.
fn settings_of(fields: &[SettingField], form: &Fields) -> Result<serde_json::Value, ApiError> {
    use serde_json::Value;
    let refuse = |name: &str, what: &str| {
        ApiError::invalid_field(
            "invalid_plugin_settings",
            &format!("settings.{name}"),
            format!("settings.{name}: {what}"),
        )
    };
    let mut settings = serde_json::Map::new();
    for field in fields {
        let name = field.name.as_str();
        let text = if field.kind == "json" {
            form.raw(name).trim()
        } else {
            form.text(name)
        };
        let value = match field.kind {
            "boolean" => Value::Bool(form.ticked(name)),
            _ if text.is_empty() && !field.required => continue,
            "integer" => Value::from(
                text.parse::<i64>()
                    .map_err(|_| refuse(name, "须为整数 (a whole number)"))?,
            ),
            "number" => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| refuse(name, "须为数字 (a number)"))?,
            "json" => serde_json::from_str(text)
                .map_err(|e| refuse(name, &format!("不是有效的 JSON (not JSON: {e})")))?,
            _ => Value::String(text.to_owned()),
        };
        settings.insert(field.name.clone(), value);
    }
    Ok(Value::Object(settings))
}

/// `POST /admin/plugins/{name}/{action}`: `settings` (the form drawn from the plugin's
/// schema) or `resume`; back to the plugins, or the form as typed with the refusal.
pub async fn plugin_action(
    State(app): State<PluginsState>,
    visit: Visit,
    client: ClientInfo,
    path: Result<Path<(String, String)>, ApiError>,
    body: Bytes,
) -> Page {
    let form = Fields::parse(&body);
    let outcome = async {
        let actor = visit.actor()?;
        menu_for(&actor, "plugins")?;
        let Path((name, action)) = path.map_err(|_| ApiError::not_found())?;
        let done = match action.as_str() {
            "settings" => {
                // The form as it was drawn: the serving plugin's schema and settings (the
                // screen's permission was asked above; `put_settings` asks again).
                let serving = app.plugins.current();
                let plugin = serving
                    .plugins
                    .iter()
                    .find(|p| p.name() == name)
                    .ok_or_else(ApiError::not_found)?;
                let fields = SettingField::of(
                    plugin.manifest.settings_schema.as_ref(),
                    &plugin.declared.settings,
                );
                async {
                    let settings = ApiJson(settings_of(&fields, &form)?);
                    crate::plugins::manage::put_settings(
                        State(app.clone()),
                        actor.clone(),
                        client,
                        Path(name.clone()),
                        settings,
                    )
                    .await
                    .map(|_| "plugin_settings_saved")
                }
                .await
            }
            "resume" => crate::plugins::manage::resume(
                State(app.clone()),
                actor.clone(),
                client,
                Path(name.clone()),
            )
            .await
            .map(|_| "plugin_resumed"),
            _ => return Err(ApiError::not_found()),
        };
        Ok((actor, name, done))
    }
    .await;
    match outcome {
        Err(error) => visit.show::<OfficePluginsView>(Err(error)),
        Ok((_, _, Ok(notice))) => visit.redirect(&format!("/admin/plugins?notice={notice}")),
        Ok((actor, name, Err(error))) => {
            let refusal = PluginRefusal {
                plugin: name,
                error: FormError::of("settings", &error),
                typed: form.typed(),
            };
            match plugins_view(&app, actor, Some(refusal)).await {
                Ok(view) => visit.show_with(error.status, &view),
                Err(_) => visit.show::<OfficePluginsView>(Err(error)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schemas_form_reads_back_into_settings_by_kind() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "label": { "type": "string" },
                "note": { "type": "string" },
                "limit": { "type": "integer" },
                "on": { "type": "boolean" },
                "tiers": { "type": "array" }
            },
            "required": ["label"]
        });
        let fields = SettingField::of(Some(&schema), &serde_json::json!({}));
        let form = Fields::parse(&Bytes::from_static(
            "label=%E7%A7%92%E6%9D%80&note=&limit=3&tiers=%5B1%2C2%5D".as_bytes(),
        ));
        let settings = settings_of(&fields, &form).ok();
        assert_eq!(
            settings,
            Some(serde_json::json!({ "label": "秒杀", "limit": 3, "on": false, "tiers": [1, 2] }))
        );
        let bad = Fields::parse(&Bytes::from_static(b"label=x&limit=three"));
        let field = settings_of(&fields, &bad).err().and_then(|e| e.field);
        assert_eq!(field.as_deref(), Some("settings.limit"));
    }
}
