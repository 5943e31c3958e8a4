//! The office's page editor (`decoration.html`, 店铺装修): a composed page's draft as the
//! plugin that composes pages keeps it, each section with a form made from the storefront
//! theme's schema for its type, the page's colours, a phone-sized preview, publish and the
//! versions to roll back to.

use serde::Serialize;

use super::{MenuEntry, sample_menu};
use crate::themes::manifest::{Manifest, RecordKind, Setting};
use crate::themes::views::PageView;

/// `decoration.html`.
#[derive(Debug, Clone, Serialize)]
pub struct OfficeDecorationView {
    pub menu: Vec<MenuEntry>,
    /// The plugin composing the shop's pages (the one mounted at `/`); none when none is
    /// installed (the page says so, and the shop shows its default homepage).
    pub plugin: Option<String>,
    /// Every composed page: `home` first, then the landing pages.
    pub pages: Vec<PageLine>,
    /// The page edited: `home` or a landing page's name.
    pub page: String,
    pub title: String,
    pub colors: Vec<ColorField>,
    /// The draft's sections, in order.
    pub sections: Vec<EditedSection>,
    /// The section types the theme draws, to add.
    pub kinds: Vec<KindChoice>,
    /// The published version, none before the first publish.
    pub published: Option<VersionLine>,
    /// Versions kept, newest first.
    pub versions: Vec<VersionLine>,
    /// Pictures uploaded before (newest first), offered in every picture field.
    pub pictures: Vec<String>,
    /// The draft's last save as the forms carry it back (`changed_at`), so a save over one
    /// made meanwhile (another tab, another person) is refused instead of losing it.
    pub changed_at: String,
    /// The draft drawn as members would see it (in a frame 375 px wide).
    pub preview_href: String,
    /// Where members see the page.
    pub live_href: String,
    pub error: Option<DecorationError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PageLine {
    pub page: String,
    pub title: String,
    pub published_version: Option<i64>,
}

/// A colour of the theme: the page's own value, or the theme's.
#[derive(Debug, Clone, Serialize)]
pub struct ColorField {
    pub name: String,
    pub value: String,
    pub theme_value: String,
    /// The page sets its own.
    pub custom: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct KindChoice {
    pub kind: String,
    pub label: String,
}

/// One section of the draft, with its form.
#[derive(Debug, Clone, Serialize)]
pub struct EditedSection {
    pub index: usize,
    pub kind: String,
    /// Its type's name as the theme gives it; the kind itself for a type the theme no longer
    /// draws (left out of the page until removed or the theme draws it again).
    pub label: String,
    pub known: bool,
    pub fields: Vec<SectionField>,
}

/// A setting's field: how to draw it (`kind`: `integer`, `boolean`, `text`, `choice`,
/// `color`, `image`, `link`, `rich_text`, `ids`, `items`) and its value now.
#[derive(Debug, Clone, Serialize)]
pub struct SectionField {
    /// The form's name for it: `count`, or `images.1.link` in a list's row.
    pub name: String,
    pub label: String,
    pub kind: &'static str,
    /// As a form shows it (text; ids joined by commas; `true`/`false`).
    pub value: String,
    pub choices: Vec<KindChoice>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub max_chars: Option<usize>,
    /// A list's rows, each its fields: the entries it has, then an empty one to add.
    pub rows: Vec<Vec<SectionField>>,
}

/// The catalogue's records a `record` setting picks from, as the editor lists them.
#[derive(Debug, Clone, Default)]
pub struct Records {
    pub categories: Vec<KindChoice>,
    pub brands: Vec<KindChoice>,
    pub tags: Vec<KindChoice>,
}

impl Records {
    fn of(&self, kind: RecordKind) -> &[KindChoice] {
        match kind {
            RecordKind::Category => &self.categories,
            RecordKind::Brand => &self.brands,
            RecordKind::Tag => &self.tags,
        }
    }
}

impl SectionField {
    /// The fields of `settings` by `schema` (a section type's, or a list's row), named under
    /// `prefix`; a `record` setting's choices from `records`.
    pub fn of(
        schema: &indexmap::IndexMap<String, Setting>,
        settings: &serde_json::Value,
        prefix: &str,
        records: &Records,
    ) -> Vec<SectionField> {
        schema
            .iter()
            .map(|(key, setting)| {
                let name = format!("{prefix}{key}");
                let value = settings
                    .get(key)
                    .cloned()
                    .unwrap_or_else(|| setting.default_value());
                let mut field = SectionField {
                    name: name.clone(),
                    label: setting.label().to_owned(),
                    kind: "text",
                    value: match &value {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Array(ids) if matches!(setting, Setting::Ids { .. }) => {
                            ids.iter()
                                .map(|id| id.to_string())
                                .collect::<Vec<_>>()
                                .join(",")
                        }
                        serde_json::Value::Null | serde_json::Value::Array(_) => String::new(),
                        other => other.to_string(),
                    },
                    choices: Vec::new(),
                    min: None,
                    max: None,
                    max_chars: None,
                    rows: Vec::new(),
                };
                match setting {
                    Setting::Integer { min, max, .. } => {
                        field.kind = "integer";
                        (field.min, field.max) = (Some(*min), Some(*max));
                    }
                    Setting::Boolean { .. } => field.kind = "boolean",
                    Setting::Text { max_chars, .. } => field.max_chars = Some(*max_chars),
                    Setting::Choice {
                        choices, labels, ..
                    } => {
                        field.kind = "choice";
                        field.choices = choices
                            .iter()
                            .enumerate()
                            .map(|(n, code)| KindChoice {
                                kind: code.clone(),
                                label: labels.get(n).unwrap_or(code).clone(),
                            })
                            .collect();
                    }
                    Setting::Color { .. } => field.kind = "color",
                    Setting::Record { of, .. } => {
                        field.kind = "choice";
                        field.choices = std::iter::once(KindChoice {
                            kind: "0".to_owned(),
                            label: "（不选）".to_owned(),
                        })
                        .chain(records.of(*of).iter().cloned())
                        .collect();
                    }
                    Setting::Image { .. } => field.kind = "image",
                    Setting::Link { .. } => field.kind = "link",
                    Setting::RichText { max_chars, .. } => {
                        field.kind = "rich_text";
                        field.max_chars = Some(*max_chars);
                    }
                    Setting::Ids { .. } => field.kind = "ids",
                    Setting::Items {
                        max_items, fields, ..
                    } => {
                        field.kind = "items";
                        let rows = value.as_array().cloned().unwrap_or_default();
                        let shown = (rows.len() + 1).min(*max_items);
                        field.rows = (0..shown)
                            .map(|n| {
                                let row = rows.get(n).cloned().unwrap_or(serde_json::Value::Null);
                                SectionField::of(fields, &row, &format!("{name}.{n}."), records)
                            })
                            .collect();
                        field.value = String::new();
                    }
                }
                field
            })
            .collect()
    }
}

/// One kept version of the page.
#[derive(Debug, Clone, Serialize)]
pub struct VersionLine {
    pub version: i64,
    /// When it was published (RFC 3339, the shop's time zone).
    pub at: String,
    pub sections: i64,
    pub title: String,
    /// Members see this one now.
    pub current: bool,
}

/// Why the last change was refused: the section (by index) and its field, or a field of the
/// page (`title`, `colors.primary`), or none.
#[derive(Debug, Clone, Serialize)]
pub struct DecorationError {
    pub section: Option<usize>,
    pub field: Option<String>,
    pub code: String,
    pub message: String,
}

/// The section types `manifest` draws, to add.
pub fn kinds_of(manifest: &Manifest) -> Vec<KindChoice> {
    manifest
        .sections
        .iter()
        .map(|(kind, section)| KindChoice {
            kind: kind.clone(),
            label: section.label.clone(),
        })
        .collect()
}

impl PageView for OfficeDecorationView {
    const TEMPLATE: &'static str = "decoration.html";
    fn samples() -> Vec<(&'static str, OfficeDecorationView)> {
        let manifest = Manifest::parse(
            r##"
name = "样品"
version = "1"
[colors]
primary = "#c8102e"
[sections.goods]
label = "商品列表 <i>"
title = { type = "text", label = "标题", default = "", max_chars = 20 }
source = { type = "choice", label = "来源", default = "new", choices = ["new", "picked"], labels = ["新品", "手选"] }
product_ids = { type = "ids", label = "商品", max_items = 40 }
count = { type = "integer", label = "数量", default = 12, min = 1, max = 40 }
on = { type = "boolean", label = "显示", default = true }
tint = { type = "color", label = "颜色", default = "#ffffff" }
category_id = { type = "record", of = "category", label = "分类" }
[sections.banner]
label = "轮播图"
images = { type = "items", label = "图片", max_items = 3, fields = { image = { type = "image", label = "图片" }, link = { type = "link", label = "链接" } } }
[sections.rich_text]
label = "图文"
html = { type = "rich_text", label = "内容", default = "", max_chars = 500 }
"##,
        )
        .ok();
        let sections = manifest
            .as_ref()
            .map(|m| {
                m.sections
                    .iter()
                    .enumerate()
                    .map(|(index, (kind, section))| EditedSection {
                        index,
                        kind: kind.clone(),
                        label: section.label.clone(),
                        known: true,
                        fields: SectionField::of(
                            &section.settings,
                            &serde_json::json!({ "images": [{ "image": "/api/v1/images/a.jpg", "link": "/" }], "product_ids": [3, 5], "title": "<b>热销</b>" }),
                            "",
                            &Records {
                                categories: vec![KindChoice {
                                    kind: "3".to_owned(),
                                    label: "劳保用品 / 手套 <i>".to_owned(),
                                }],
                                ..Records::default()
                            },
                        ),
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let full = OfficeDecorationView {
            menu: sample_menu(),
            plugin: Some("decoration".to_owned()),
            pages: vec![
                PageLine {
                    page: "home".to_owned(),
                    title: String::new(),
                    published_version: Some(3),
                },
                PageLine {
                    page: "spring".to_owned(),
                    title: "春季 <i>".to_owned(),
                    published_version: None,
                },
            ],
            page: "home".to_owned(),
            title: "首页 <i>".to_owned(),
            colors: vec![ColorField {
                name: "primary".to_owned(),
                value: "#0a7d4f".to_owned(),
                theme_value: "#c8102e".to_owned(),
                custom: true,
            }],
            sections: sections.clone(),
            kinds: manifest.as_ref().map(kinds_of).unwrap_or_default(),
            published: Some(VersionLine {
                version: 3,
                at: "2026-12-07T10:00:00+08:00".to_owned(),
                sections: 4,
                title: String::new(),
                current: true,
            }),
            versions: vec![VersionLine {
                version: 2,
                at: "2026-12-06T10:00:00+08:00".to_owned(),
                sections: 2,
                title: "旧 <i>".to_owned(),
                current: false,
            }],
            pictures: vec!["/api/v1/images/a.jpg".to_owned()],
            changed_at: "1796650677040".to_owned(),
            preview_href: "/pages/preview/home".to_owned(),
            live_href: "/".to_owned(),
            error: Some(DecorationError {
                section: Some(0),
                field: Some("count".to_owned()),
                code: "plugin_refused".to_owned(),
                message: "数量须为 1 到 40 之间的整数 <i>".to_owned(),
            }),
        };
        vec![
            ("a page with sections and a refusal", full.clone()),
            (
                "a new landing page",
                OfficeDecorationView {
                    page: "spring".to_owned(),
                    sections: Vec::new(),
                    published: None,
                    versions: Vec::new(),
                    error: None,
                    live_href: "/pages/spring".to_owned(),
                    ..full.clone()
                },
            ),
            (
                "no plugin composes pages",
                OfficeDecorationView {
                    plugin: None,
                    pages: Vec::new(),
                    sections: Vec::new(),
                    published: None,
                    versions: Vec::new(),
                    error: Some(DecorationError {
                        section: None,
                        field: Some("colors.primary".to_owned()),
                        code: "plugin_refused".to_owned(),
                        message: "颜色".to_owned(),
                    }),
                    ..full
                },
            ),
        ]
    }
}
