//! The active storefront theme as the plugin sees it (the `pages` host interface), as a trait:
//! `HostTheme` asks the kernel on wasm32, the unit tests use a fake that knows two section
//! types.

use pifa_sdk::{FieldError, SectionTypes};
use serde_json::Value;

pub trait Theme {
    /// The section types the theme draws, with their settings schema, and its colour names.
    fn section_types(&self) -> SectionTypes;
    /// `settings` checked against `kind`'s schema, defaults filled in; or the field refused
    /// (`kind` for a type the theme does not have).
    fn check_section(&self, kind: &str, settings: &Value) -> Result<Value, FieldError>;
}

/// The kernel's `pages` interface, through the SDK's imports.
#[cfg(target_arch = "wasm32")]
pub struct HostTheme;

#[cfg(target_arch = "wasm32")]
impl Theme for HostTheme {
    fn section_types(&self) -> SectionTypes {
        pifa_sdk::host::pages::section_types()
    }
    fn check_section(&self, kind: &str, settings: &Value) -> Result<Value, FieldError> {
        pifa_sdk::host::pages::check_section(kind, settings)
    }
}

/// A theme with two section types, `goods` (`count` 1 to 40, default 12; `title` text, default
/// empty) and `rich_text` (`html` text), and the colours `primary` and `price`.
#[cfg(test)]
pub struct FakeTheme;

#[cfg(test)]
impl Theme for FakeTheme {
    fn section_types(&self) -> SectionTypes {
        use pifa_sdk::SectionType;
        use serde_json::json;
        SectionTypes {
            colors: [("primary", "#c8102e"), ("price", "#e4393c")]
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
            sections: vec![
                SectionType {
                    kind: "goods".to_owned(),
                    label: "商品列表".to_owned(),
                    settings: [
                        (
                            "count".to_owned(),
                            json!({"type": "integer", "label": "显示数量", "default": 12, "min": 1, "max": 40}),
                        ),
                        (
                            "title".to_owned(),
                            json!({"type": "text", "label": "标题", "default": "", "max_chars": 20}),
                        ),
                    ]
                    .into_iter()
                    .collect(),
                    order: vec!["title".to_owned(), "count".to_owned()],
                },
                SectionType {
                    kind: "rich_text".to_owned(),
                    label: "图文".to_owned(),
                    settings: [(
                        "html".to_owned(),
                        json!({"type": "rich_text", "label": "内容", "default": ""}),
                    )]
                    .into_iter()
                    .collect(),
                    order: vec!["html".to_owned()],
                },
            ],
        }
    }

    fn check_section(&self, kind: &str, settings: &Value) -> Result<Value, FieldError> {
        let refused = |field: &str, message: &str| FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        };
        let empty = serde_json::Map::new();
        let given = match settings {
            Value::Null => &empty,
            Value::Object(map) => map,
            _ => return Err(refused("", "设置须为对象 (settings are an object)")),
        };
        let known: &[&str] = match kind {
            "goods" => &["count", "title"],
            "rich_text" => &["html"],
            _ => return Err(refused("kind", "本主题没有这种版块 (no such section type)")),
        };
        if let Some(unknown) = given.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(refused(unknown, "没有这项设置 (no such setting)"));
        }
        let mut checked = serde_json::Map::new();
        for key in known {
            let value = match (*key, given.get(*key)) {
                ("count", None | Some(Value::Null)) => Value::from(12),
                ("count", Some(count)) => match count.as_i64() {
                    Some(n) if (1..=40).contains(&n) => Value::from(n),
                    _ => return Err(refused("count", "显示数量须为 1 到 40 (1 to 40)")),
                },
                (_, None | Some(Value::Null)) => Value::from(""),
                (_, Some(Value::String(text))) => Value::from(text.as_str()),
                (field, Some(_)) => return Err(refused(field, "须为文字 (text)")),
            };
            checked.insert((*key).to_owned(), value);
        }
        Ok(Value::Object(checked))
    }
}

/// What the kernel's `pifa plugins run` serves a fixture: no theme host, so no section types
/// and every section refused (as `kernel/src/plugins/runtime.rs` answers then).
#[cfg(test)]
pub struct NoTheme;

#[cfg(test)]
impl Theme for NoTheme {
    fn section_types(&self) -> SectionTypes {
        SectionTypes::default()
    }
    fn check_section(&self, _kind: &str, _settings: &Value) -> Result<Value, FieldError> {
        Err(FieldError {
            field: "kind".to_owned(),
            message: "no theme here".to_owned(),
        })
    }
}
