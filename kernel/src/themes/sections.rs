//! Page sections: the blocks a composed page (the homepage a store owner designs, a landing
//! page) is made of. A theme declares each section type it draws in `theme.toml`
//! (`[sections.<kind>]`, its settings typed) and draws it with `templates/sections/<kind>.html`.
//! Every storefront theme draws the standard types; it may add its own.
//!
//! What an owner saves is checked here, against the active theme's schema, by whoever stores
//! it (a plugin asks through the `pages` interface), and checked again when a page is drawn:
//! a theme changed since, or a plugin that stored something else, cannot put a value the
//! schema refuses in front of a template. Links stay in the shop, pictures are the shop's own,
//! rich text is cleaned of scripts and handlers.

use std::collections::BTreeMap;

use pifa_sdk::{FieldError, SectionType, SectionTypes};
use serde_json::{Map, Value};

use super::manifest::{Manifest, Section, Setting};

/// The section types every storefront theme draws (J2): a carousel of pictures with links,
/// the search bar with its scan button, a grid of links (categories, brands, pages), a notice
/// line, a grid of goods, the flash sales' countdowns, the brand wall, one picture with a
/// link, rich text, and empty space.
pub const STANDARD: [&str; 10] = [
    "banner",
    "search",
    "nav",
    "notice",
    "goods",
    "flash_sale",
    "brands",
    "image_ad",
    "rich_text",
    "spacer",
];

/// The template that draws `kind`.
pub fn template(kind: &str) -> String {
    format!("sections/{kind}.html")
}

/// A path in this shop: `/…`, not `//host` (another site), no backslash (which browsers read
/// as `/`), no spaces or control characters, at most 300 characters.
pub fn is_shop_link(link: &str) -> bool {
    link.starts_with('/')
        && !link.starts_with("//")
        && link.len() <= 300
        && !link
            .chars()
            .any(|c| c == '\\' || c.is_whitespace() || c.is_control() || c == '"' || c == '\'')
}

/// A picture the shop stored: `/api/v1/images/<key>`.
pub fn is_picture_url(url: &str) -> bool {
    url.strip_prefix("/api/v1/images/").is_some_and(|key| {
        !key.is_empty()
            && key.len() <= 100
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            && !key.starts_with('.')
    })
}

/// Rich text as it may be drawn: the tags and attributes of formatted text, links kept to
/// ordinary schemes; scripts, styles, event handlers and frames removed with their content.
pub fn clean_rich_text(html: &str) -> String {
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto", "tel"].into_iter().collect())
        .clean(html)
        .to_string()
}

/// Settings that use every part of a standard section type, for the check a theme passes
/// before it serves (a theme whose schema for the type differs is drawn with its defaults).
pub fn sample_settings(kind: &str) -> Value {
    let picture = "/api/v1/images/sample-1.jpg";
    match kind {
        "banner" => serde_json::json!({ "images": [
            { "image": picture, "link": "/search?category_id=1" },
            { "image": "", "link": "" },
        ] }),
        "nav" => serde_json::json!({ "source": "custom", "items": [
            { "label": "安全帽 <i>", "icon": picture, "link": "/brands" },
            { "label": "品牌", "icon": "", "link": "" },
        ] }),
        "notice" => serde_json::json!({ "text": "满500包邮 <script>", "link": "/pages/spring" }),
        "goods" => serde_json::json!({ "title": "热销 <b>", "source": "hot", "count": 8 }),
        "flash_sale" | "brands" => serde_json::json!({ "title": "标题 <i>" }),
        "image_ad" => serde_json::json!({ "image": picture, "link": "/cart", "alt": "广告 <i>" }),
        "rich_text" => serde_json::json!({ "html": "<p>图文 <b>内容</b></p>" }),
        "spacer" => serde_json::json!({ "height": 24 }),
        _ => Value::Null,
    }
}

/// The theme's section types as a plugin composing pages sees them.
pub fn section_types(manifest: &Manifest) -> SectionTypes {
    SectionTypes {
        colors: manifest.colors.clone(),
        sections: manifest
            .sections
            .iter()
            .map(|(kind, section)| SectionType {
                kind: kind.clone(),
                label: section.label.clone(),
                settings: section
                    .settings
                    .iter()
                    .map(|(key, setting)| {
                        (
                            key.clone(),
                            serde_json::to_value(setting).unwrap_or(Value::Null),
                        )
                    })
                    .collect(),
                order: section.settings.keys().cloned().collect(),
            })
            .collect(),
    }
}

fn refused(field: &str, message: String) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message,
    }
}

/// `settings` of a section of `kind` checked against the theme's schema: every setting
/// present and of its type and bounds (a missing one takes its default), no other key.
pub fn check(manifest: &Manifest, kind: &str, settings: &Value) -> Result<Value, FieldError> {
    let section = manifest.sections.get(kind).ok_or_else(|| {
        refused(
            "kind",
            format!("本主题没有“{kind}”这种版块 (no section type {kind:?} in this theme)"),
        )
    })?;
    check_fields(section, settings)
}

fn check_fields(section: &Section, settings: &Value) -> Result<Value, FieldError> {
    check_map(&section.settings, settings, "")
}

fn check_map(
    schema: &indexmap::IndexMap<String, Setting>,
    given: &Value,
    prefix: &str,
) -> Result<Value, FieldError> {
    let empty = Map::new();
    let given = match given {
        Value::Null => &empty,
        Value::Object(map) => map,
        _ => {
            return Err(refused(
                prefix.trim_end_matches('.'),
                "设置须为对象 (settings are an object)".to_owned(),
            ));
        }
    };
    if let Some(unknown) = given.keys().find(|k| !schema.contains_key(*k)) {
        return Err(refused(
            &format!("{prefix}{unknown}"),
            format!("没有这项设置 (no setting {unknown:?})"),
        ));
    }
    let mut checked = Map::new();
    for (key, setting) in schema {
        let field = format!("{prefix}{key}");
        let value = match given.get(key) {
            None | Some(Value::Null) => setting.default_value(),
            Some(value) => check_value(setting, value, &field)?,
        };
        checked.insert(key.clone(), value);
    }
    Ok(Value::Object(checked))
}

fn check_value(setting: &Setting, value: &Value, field: &str) -> Result<Value, FieldError> {
    let label = setting.label();
    let text = || value.as_str().map(str::trim);
    match setting {
        Setting::Integer { min, max, .. } => value
            .as_i64()
            .or_else(|| text().and_then(|t| t.parse().ok()))
            .filter(|n| (min..=max).contains(&n))
            .map(Value::from)
            .ok_or_else(|| {
                refused(
                    field,
                    format!(
                        "{label}须为 {min} 到 {max} 之间的整数 (an integer from {min} to {max})"
                    ),
                )
            }),
        Setting::Boolean { .. } => value
            .as_bool()
            .or_else(|| match text() {
                Some("true" | "on" | "1") => Some(true),
                Some("false" | "off" | "0" | "") => Some(false),
                _ => None,
            })
            .map(Value::from)
            .ok_or_else(|| refused(field, format!("{label}须为是或否 (true or false)"))),
        Setting::Text { max_chars, .. } => match text() {
            Some(t) if t.chars().count() <= *max_chars => Ok(Value::from(t)),
            _ => Err(refused(
                field,
                format!("{label}最多 {max_chars} 个字 (text of at most {max_chars} characters)"),
            )),
        },
        Setting::Choice { choices, .. } => match text() {
            Some(t) if choices.iter().any(|c| c == t) => Ok(Value::from(t)),
            _ => Err(refused(
                field,
                format!(
                    "{label}须为 {} 之一 (one of the choices)",
                    choices.join("、")
                ),
            )),
        },
        Setting::Color { .. } => match text() {
            Some(t) if super::manifest::is_color(t) => Ok(Value::from(t)),
            _ => Err(refused(
                field,
                format!("{label}须为颜色，如 #c8102e (#rgb or #rrggbb)"),
            )),
        },
        Setting::Image { .. } => match text() {
            Some(t) if t.is_empty() || is_picture_url(t) => Ok(Value::from(t)),
            _ => Err(refused(
                field,
                format!(
                    "{label}须为本店上传的图片 (a picture uploaded to this shop: /api/v1/images/…)"
                ),
            )),
        },
        Setting::Link { .. } => match text() {
            Some(t) if t.is_empty() || is_shop_link(t) => Ok(Value::from(t)),
            _ => Err(refused(
                field,
                format!(
                    "{label}须为本店的页面地址，以 / 开头 (a path in this shop, starting with /)"
                ),
            )),
        },
        Setting::RichText { max_chars, .. } => match value.as_str() {
            Some(t) if t.chars().count() <= *max_chars => Ok(Value::from(t)),
            _ => Err(refused(
                field,
                format!("{label}最多 {max_chars} 个字 (at most {max_chars} characters)"),
            )),
        },
        Setting::Record { .. } => value
            .as_i64()
            .or_else(|| text().and_then(|t| t.parse().ok()))
            .filter(|id| *id >= 0)
            .map(Value::from)
            .ok_or_else(|| {
                refused(
                    field,
                    format!("{label}须从列表中选择 (an id from the list, 0 for none)"),
                )
            }),
        Setting::Ids { max_items, .. } => {
            let ids: Option<Vec<i64>> = match value {
                Value::Array(items) => items
                    .iter()
                    .map(|v| {
                        v.as_i64()
                            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    })
                    .collect(),
                // A form's field: ids separated by commas or spaces.
                Value::String(s) => s
                    .split(|c: char| c == ',' || c == '，' || c.is_whitespace())
                    .filter(|p| !p.is_empty())
                    .map(|p| p.parse().ok())
                    .collect(),
                _ => None,
            };
            match ids {
                Some(ids) if ids.len() <= *max_items && ids.iter().all(|id| *id > 0) => {
                    Ok(Value::from(ids))
                }
                _ => Err(refused(
                    field,
                    format!(
                        "{label}须为最多 {max_items} 个编号 (at most {max_items} ids, each a positive number)"
                    ),
                )),
            }
        }
        Setting::Items {
            max_items, fields, ..
        } => {
            let items = value
                .as_array()
                .ok_or_else(|| refused(field, format!("{label}须为列表 (a list)")))?;
            if items.len() > *max_items {
                return Err(refused(
                    field,
                    format!("{label}最多 {max_items} 项 (at most {max_items} entries)"),
                ));
            }
            items
                .iter()
                .enumerate()
                .map(|(n, item)| check_map(fields, item, &format!("{field}[{n}].")))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::from)
        }
    }
}

/// A section's settings as its template gets them: checked again, rich text cleaned.
/// `None` when they no longer pass the theme's schema (the section is then left out).
pub fn drawable(manifest: &Manifest, kind: &str, settings: &Value) -> Option<Value> {
    let section = manifest.sections.get(kind)?;
    let mut checked = check_fields(section, settings).ok()?;
    clean_in_place(&section.settings, &mut checked);
    Some(checked)
}

fn clean_in_place(schema: &indexmap::IndexMap<String, Setting>, value: &mut Value) {
    let Some(map) = value.as_object_mut() else {
        return;
    };
    for (key, setting) in schema {
        match (setting, map.get_mut(key)) {
            (Setting::RichText { .. }, Some(Value::String(html))) => {
                *html = clean_rich_text(html);
            }
            (Setting::Items { fields, .. }, Some(Value::Array(items))) => {
                for item in items {
                    clean_in_place(fields, item);
                }
            }
            _ => {}
        }
    }
}

/// The colours a page may set over the theme's: names the theme has, values that are colours.
pub fn page_colors(
    manifest: &Manifest,
    colors: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    colors
        .iter()
        .filter(|(name, value)| {
            manifest.colors.contains_key(*name) && super::manifest::is_color(value)
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::parse(
            r##"
name = "t"
version = "1"
[colors]
primary = "#c8102e"
[sections.goods]
label = "商品"
count = { type = "integer", label = "显示数量", default = 12, min = 1, max = 40 }
title = { type = "text", label = "标题", default = "", max_chars = 20 }
[sections.banner]
label = "轮播图"
images = { type = "items", label = "图片", max_items = 3, fields = { image = { type = "image", label = "图片" }, link = { type = "link", label = "链接" } } }
[sections.rich_text]
label = "图文"
html = { type = "rich_text", label = "内容", max_chars = 5000 }
"##,
        )
        .unwrap()
    }

    #[test]
    fn defaults_fill_in_and_the_declared_order_is_kept() {
        let m = manifest();
        let checked = check(&m, "goods", &serde_json::json!({ "title": "新品" })).unwrap();
        assert_eq!(checked, serde_json::json!({ "count": 12, "title": "新品" }));
        assert_eq!(section_types(&m).sections[1].order, ["count", "title"]);
    }

    #[test]
    fn a_refusal_names_the_field() {
        let m = manifest();
        let count = check(&m, "goods", &serde_json::json!({ "count": 99 })).unwrap_err();
        assert_eq!(count.field, "count");
        assert!(count.message.contains("1 到 40"), "{}", count.message);
        let link = check(
            &m,
            "banner",
            &serde_json::json!({ "images": [{ "image": "", "link": "/" }, { "link": "//evil.example" }] }),
        )
        .unwrap_err();
        assert_eq!(link.field, "images[1].link");
        let picture = check(
            &m,
            "banner",
            &serde_json::json!({ "images": [{ "image": "https://evil.example/a.png" }] }),
        )
        .unwrap_err();
        assert_eq!(picture.field, "images[0].image");
        let unknown = check(&m, "goods", &serde_json::json!({ "colour": 1 })).unwrap_err();
        assert_eq!(unknown.field, "colour");
        assert_eq!(
            check(&m, "marquee", &Value::Null).unwrap_err().field,
            "kind"
        );
    }

    #[test]
    fn rich_text_is_drawn_inert() {
        let m = manifest();
        let drawn = drawable(
            &m,
            "rich_text",
            &serde_json::json!({ "html": "<p onclick=\"x()\">满100减10<script>alert(1)</script><img src=x onerror=alert(2)><a href=\"javascript:alert(3)\">看</a></p>" }),
        )
        .unwrap();
        let html = drawn["html"].as_str().unwrap();
        for inert in ["<script", "onerror", "onclick", "javascript:", "alert(1)"] {
            assert!(!html.contains(inert), "{inert} in {html}");
        }
        assert!(html.contains("满100减10"), "{html}");
    }

    #[test]
    fn links_stay_in_the_shop_and_pictures_are_the_shops() {
        for good in ["/", "/search?category_id=3", "/pages/spring"] {
            assert!(is_shop_link(good), "{good}");
        }
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "/a b",
            "javascript:x",
            "",
        ] {
            assert!(!is_shop_link(bad), "{bad}");
        }
        assert!(is_picture_url("/api/v1/images/abc-123.webp"));
        assert!(!is_picture_url("/api/v1/images/../x"));
        assert!(!is_picture_url("/api/v1/images/"));
    }
}
