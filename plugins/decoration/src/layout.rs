//! A layout an owner saves, checked: its title, its colours against the theme's colour names,
//! its sections against the theme's schema (through the host, which fills in the defaults).
//! A refusal names the field exactly (`title`, `colors.primary`, `sections[2].count`).

use std::collections::BTreeMap;

use pifa_sdk::{PageLayout, Section, SectionTypes};
use serde_json::Value;

use crate::theme::Theme;

pub const MAX_TITLE_CHARS: usize = 40;
pub const MAX_SECTIONS: usize = 40;
/// A layout's size as stored, at most. JSON is what a call spends its fuel on (parsing and
/// writing cost 50 to 200 instructions a byte in wasm, more for many small settings than for
/// long text), and a save parses a layout twice and writes it three times: measured, a save
/// of 40 ordinary sections (12 KiB) takes about 3,100,000 fuel, of 40 navigation sections of
/// 10 links (20 KiB) about 8,400,000, of ten ordinary sections (3 KiB) about 1,400,000. So
/// above ten-odd sections the kernel's default `fuel_base` (2,000,000) is too little, whatever
/// this bound says (see the crate's documentation).
pub const MAX_LAYOUT_BYTES: usize = 32 * 1024;

/// A field refused, and why (in the shop's language first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub field: String,
    pub message: String,
}

fn refused(field: impl Into<String>, message: impl Into<String>) -> Refusal {
    Refusal {
        field: field.into(),
        message: message.into(),
    }
}

/// `#rgb` or `#rrggbb`.
pub fn is_color(value: &str) -> bool {
    value
        .strip_prefix('#')
        .is_some_and(|hex| matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The layout in `body` (`title`, `colors`, `sections`; a `draft` flag is ignored) checked
/// against the theme, with each section's settings as the host returned them.
pub fn check(
    body: &Value,
    theme: &impl Theme,
    types: &SectionTypes,
) -> Result<PageLayout, Refusal> {
    let Value::Object(body) = body else {
        return Err(refused(
            "sections",
            "须为页面布局对象 (the body is a layout: title, colors, sections)",
        ));
    };
    let title = match body.get("title") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(title)) => title.clone(),
        Some(_) => return Err(refused("title", "标题须为文字 (title is text)")),
    };
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(refused(
            "title",
            format!("标题最多 {MAX_TITLE_CHARS} 个字 (at most {MAX_TITLE_CHARS} characters)"),
        ));
    }
    let colors = check_colors(body.get("colors"), types)?;
    let sections = match body.get("sections") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(sections)) => check_sections(sections, theme)?,
        Some(_) => return Err(refused("sections", "版块须为列表 (sections is a list)")),
    };
    Ok(PageLayout {
        title,
        colors,
        sections,
        draft: false,
    })
}

/// A layout stored as `bytes` long, refused when over [`MAX_LAYOUT_BYTES`].
pub fn check_size(bytes: usize) -> Result<(), Refusal> {
    if bytes > MAX_LAYOUT_BYTES {
        return Err(refused(
            "sections",
            format!(
                "页面内容过多，请减少版块或文字 (the layout is {bytes} bytes; at most {MAX_LAYOUT_BYTES})"
            ),
        ));
    }
    Ok(())
}

fn check_colors(
    colors: Option<&Value>,
    types: &SectionTypes,
) -> Result<BTreeMap<String, String>, Refusal> {
    let colors = match colors {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(colors)) => colors,
        Some(_) => {
            return Err(refused(
                "colors",
                "颜色须为“名称: 颜色值”对象 (colors is an object of name: #rrggbb)",
            ));
        }
    };
    let mut checked = BTreeMap::new();
    for (name, value) in colors {
        let field = format!("colors.{name}");
        if !types.colors.contains_key(name) {
            return Err(refused(
                field,
                format!("本主题没有“{name}”这种颜色 (no colour {name:?} in this theme)"),
            ));
        }
        match value.as_str() {
            Some(value) if is_color(value) => {
                checked.insert(name.clone(), value.to_owned());
            }
            _ => {
                return Err(refused(
                    field,
                    "颜色须为 #rgb 或 #rrggbb (a colour is #rgb or #rrggbb)",
                ));
            }
        }
    }
    Ok(checked)
}

fn check_sections(sections: &[Value], theme: &impl Theme) -> Result<Vec<Section>, Refusal> {
    if sections.len() > MAX_SECTIONS {
        return Err(refused(
            "sections",
            format!("一个页面最多 {MAX_SECTIONS} 个版块 (at most {MAX_SECTIONS} sections)"),
        ));
    }
    sections
        .iter()
        .enumerate()
        .map(|(i, section)| {
            let Value::Object(section) = section else {
                return Err(refused(
                    format!("sections[{i}]"),
                    "版块须为对象 (a section is an object: kind, settings)",
                ));
            };
            let Some(kind) = section.get("kind").and_then(Value::as_str) else {
                return Err(refused(
                    format!("sections[{i}].kind"),
                    "版块须有类型 (a section needs its kind)",
                ));
            };
            let given = section.get("settings").unwrap_or(&Value::Null);
            let settings = theme.check_section(kind, given).map_err(|error| {
                let field = if error.field.is_empty() {
                    format!("sections[{i}].settings")
                } else {
                    format!("sections[{i}].{}", error.field)
                };
                refused(field, error.message)
            })?;
            Ok(Section {
                kind: kind.to_owned(),
                settings,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::theme::FakeTheme;

    fn checked(body: Value) -> Result<PageLayout, Refusal> {
        check(&body, &FakeTheme, &FakeTheme.section_types())
    }

    fn field_of(body: Value) -> String {
        checked(body).unwrap_err().field
    }

    #[test]
    fn a_layout_keeps_the_settings_the_theme_filled_in() {
        let layout = checked(json!({
            "title": "春季上新",
            "colors": {"primary": "#123", "price": "#A1b2C3"},
            "sections": [{"kind": "goods", "settings": {"title": "新品"}}, {"kind": "rich_text"}],
            "draft": true
        }))
        .unwrap();
        assert!(!layout.draft);
        assert_eq!(
            layout.sections[0].settings,
            json!({"count": 12, "title": "新品"})
        );
        assert_eq!(layout.sections[1].settings, json!({"html": ""}));
        assert_eq!(layout.colors["price"], "#A1b2C3");
    }

    #[test]
    fn refusals_name_the_field() {
        assert_eq!(
            field_of(json!({"title": "长".repeat(41), "sections": []})),
            "title"
        );
        assert!(checked(json!({"title": "长".repeat(40), "sections": []})).is_ok());
        assert_eq!(field_of(json!({"title": 5})), "title");
        let many: Vec<Value> = (0..41).map(|_| json!({"kind": "goods"})).collect();
        assert_eq!(field_of(json!({"sections": many})), "sections");
        assert_eq!(
            field_of(
                json!({"sections": [{"kind": "goods"}, {"kind": "goods"}, {"kind": "goods", "settings": {"count": 99}}]})
            ),
            "sections[2].count"
        );
        assert_eq!(
            field_of(json!({"sections": [{"kind": "video"}]})),
            "sections[0].kind"
        );
        assert_eq!(
            field_of(json!({"sections": [{"settings": {}}]})),
            "sections[0].kind"
        );
        assert_eq!(
            field_of(json!({"sections": [{"kind": "goods", "settings": 3}]})),
            "sections[0].settings"
        );
        assert_eq!(field_of(json!({"sections": [7]})), "sections[0]");
        assert_eq!(field_of(json!({"sections": {}})), "sections");
        assert_eq!(field_of(json!({"colors": {"x": "#fff"}})), "colors.x");
        for bad in ["red", "#12", "#1234", "#gggggg", "fff"] {
            assert_eq!(
                field_of(json!({"colors": {"primary": bad}})),
                "colors.primary",
                "{bad}"
            );
        }
        assert_eq!(
            field_of(json!({"colors": {"primary": 3}})),
            "colors.primary"
        );
        assert_eq!(field_of(json!({"colors": []})), "colors");
        assert_eq!(field_of(json!([1])), "sections");
    }

    #[test]
    fn the_message_is_the_hosts() {
        let refusal = checked(json!({"sections": [{"kind": "goods", "settings": {"count": 0}}]}))
            .unwrap_err();
        assert_eq!(refusal.message, "显示数量须为 1 到 40 (1 to 40)");
    }

    #[test]
    fn an_oversized_layout_is_refused() {
        assert!(check_size(MAX_LAYOUT_BYTES).is_ok());
        assert_eq!(
            check_size(MAX_LAYOUT_BYTES + 1).unwrap_err().field,
            "sections"
        );
    }
}
