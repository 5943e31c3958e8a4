//! `theme.toml`: a theme's name, version and settings schema, parsed into types. Unknown keys
//! are refused naming the key (a typo in a setting would otherwise silently do nothing), and
//! every value that reaches a page's CSS is checked here, since auto-escaping protects HTML,
//! not a style sheet.
//!
//! ```toml
//! name = "默认主题"
//! version = "1.0.0"
//!
//! [colors]            # the colour scheme: CSS variables --color-<key>
//! primary = "#c8102e"
//!
//! [fonts]             # font stacks of installed (system) fonts only
//! body = "-apple-system, PingFang SC, Microsoft YaHei, sans-serif"
//!
//! [logo]
//! asset = "img/logo.svg"   # a file under assets/
//!
//! [sections.home_products]   # one table per section a template reads as theme.sections.<name>
//! label = "首页商品"
//! count = { type = "integer", default = 8, min = 1, max = 40, label = "显示数量" }
//! ```

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// What `theme.toml` declares.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The name people read (默认主题); the folder's name is the theme's id.
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    /// What the theme draws: the storefront (the default) or the back office.
    #[serde(default)]
    pub kind: ThemeKind,
    /// The colour scheme: name → `#rgb` or `#rrggbb`.
    #[serde(default)]
    pub colors: BTreeMap<String, String>,
    /// Font stacks: name → a comma-separated list of installed font families.
    #[serde(default)]
    pub fonts: BTreeMap<String, String>,
    #[serde(default)]
    pub logo: Option<Logo>,
    /// Per-section settings, by section name.
    #[serde(default)]
    pub sections: BTreeMap<String, Section>,
}

/// Which pages a theme draws. A storefront theme is what members see and what the shop's
/// `theme` setting chooses; an office theme draws the desktop back office (`/admin`), which a
/// store owner's choice of storefront never changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThemeKind {
    #[default]
    Storefront,
    Office,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logo {
    /// A file under `assets/`, served fingerprinted.
    pub asset: String,
}

/// A section type a page may be composed of (a block of the home page), drawn by the
/// theme's `sections/<name>.html`.
#[derive(Debug, Clone, Deserialize)]
pub struct Section {
    /// What the owner reads for it in the decoration editor.
    pub label: String,
    /// Its settings, each with a type and a default, in the order the editor shows them.
    #[serde(flatten)]
    pub settings: IndexMap<String, Setting>,
}

/// One setting of a section: its type, its default and its bounds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Setting {
    Integer {
        label: String,
        default: i64,
        min: i64,
        max: i64,
    },
    Boolean {
        label: String,
        default: bool,
    },
    Text {
        label: String,
        default: String,
        max_chars: usize,
    },
    Choice {
        label: String,
        default: String,
        choices: Vec<String>,
        /// What the owner reads for each choice, in the same order (the codes otherwise).
        #[serde(default)]
        labels: Vec<String>,
    },
    Color {
        label: String,
        default: String,
    },
    /// A picture the shop stored (`/api/v1/images/<key>`), or none (`""`).
    Image {
        label: String,
    },
    /// A path in this shop (`/search?category_id=3`), or none (`""`): never another site.
    Link {
        label: String,
        #[serde(default)]
        default: String,
    },
    /// HTML an owner writes; drawn cleaned of scripts, handlers and styles.
    RichText {
        label: String,
        #[serde(default)]
        default: String,
        max_chars: usize,
    },
    /// A record of the catalogue by id (`0`: none), picked from a list in the editor: a
    /// category, a brand or a product tag (one deleted since shows nothing).
    Record {
        label: String,
        of: RecordKind,
    },
    /// Chosen records by id (goods picked by hand), at most `max_items`.
    Ids {
        label: String,
        max_items: usize,
    },
    /// A list of entries (a carousel's pictures), each with `fields` (no lists inside).
    Items {
        label: String,
        max_items: usize,
        fields: IndexMap<String, Setting>,
    },
}

impl Setting {
    /// The value a template sees until the shop sets its own.
    pub fn default_value(&self) -> serde_json::Value {
        match self {
            Setting::Integer { default, .. } => (*default).into(),
            Setting::Boolean { default, .. } => (*default).into(),
            Setting::Text { default, .. }
            | Setting::Choice { default, .. }
            | Setting::Color { default, .. }
            | Setting::Link { default, .. }
            | Setting::RichText { default, .. } => default.clone().into(),
            Setting::Image { .. } => "".into(),
            Setting::Record { .. } => 0.into(),
            Setting::Ids { .. } | Setting::Items { .. } => serde_json::Value::Array(Vec::new()),
        }
    }

    /// What the owner reads for it.
    pub fn label(&self) -> &str {
        match self {
            Setting::Integer { label, .. }
            | Setting::Boolean { label, .. }
            | Setting::Text { label, .. }
            | Setting::Choice { label, .. }
            | Setting::Color { label, .. }
            | Setting::Image { label }
            | Setting::Record { label, .. }
            | Setting::Link { label, .. }
            | Setting::RichText { label, .. }
            | Setting::Ids { label, .. }
            | Setting::Items { label, .. } => label,
        }
    }
}

/// What a `record` setting picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Category,
    Brand,
    Tag,
}

/// Why `theme.toml` was refused; `key` is the dotted path of the offending entry.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("theme.toml: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("theme.toml: {key}: {problem}")]
    Invalid { key: String, problem: String },
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ManifestError {
    ManifestError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

/// A key templates use as an attribute name (`theme.colors.primary`) and CSS as a variable
/// name (`--color-primary`).
fn check_key(key: &str, at: &str) -> Result<(), ManifestError> {
    let ok = !key.is_empty()
        && key.len() <= 40
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            at,
            "a name is lowercase letters, digits and _ (starting with a letter)",
        ))
    }
}

/// `#rgb` or `#rrggbb`: nothing else can end a CSS declaration or open a URL.
pub fn is_color(value: &str) -> bool {
    value
        .strip_prefix('#')
        .is_some_and(|hex| matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Family names separated by commas, unquoted: letters (any script), digits, spaces and `-`.
/// No quotes, `url(`, `;` or braces, so a stack can name only fonts already on the device
/// (no outside fonts, M5) and cannot end the declaration it sits in.
fn is_font_stack(value: &str) -> bool {
    !value.trim().is_empty()
        && value.split(',').all(|family| {
            let family = family.trim();
            !family.is_empty()
                && family
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == ' ' || c == '-')
        })
}

impl Manifest {
    /// Parses and checks `theme.toml`.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = toml::from_str(text)?;
        manifest.check()?;
        Ok(manifest)
    }

    fn check(&self) -> Result<(), ManifestError> {
        if self.name.trim().is_empty() || self.name.chars().count() > 40 {
            return Err(invalid("name", "required, at most 40 characters"));
        }
        if self.version.trim().is_empty() || self.version.len() > 20 {
            return Err(invalid("version", "required, at most 20 characters"));
        }
        for (key, value) in &self.colors {
            let at = format!("colors.{key}");
            check_key(key, &at)?;
            if !is_color(value) {
                return Err(invalid(at, format!("{value:?} is not #rgb or #rrggbb")));
            }
        }
        for (key, value) in &self.fonts {
            let at = format!("fonts.{key}");
            check_key(key, &at)?;
            if !is_font_stack(value) {
                return Err(invalid(
                    at,
                    "a font stack is family names separated by commas, without quotes or url()",
                ));
            }
        }
        for (name, section) in &self.sections {
            check_key(name, &format!("sections.{name}"))?;
            for (key, setting) in &section.settings {
                let at = format!("sections.{name}.{key}");
                check_key(key, &at)?;
                check_setting(setting, &at)?;
            }
        }
        Ok(())
    }
}

fn check_setting(setting: &Setting, at: &str) -> Result<(), ManifestError> {
    match setting {
        Setting::Integer {
            default, min, max, ..
        } if !(min..=max).contains(&default) => Err(invalid(
            at,
            format!("default {default} is outside {min}..={max}"),
        )),
        Setting::Text {
            default, max_chars, ..
        } if default.chars().count() > *max_chars => Err(invalid(
            at,
            format!("default is longer than {max_chars} characters"),
        )),
        Setting::Choice {
            default, choices, ..
        } if !choices.contains(default) => Err(invalid(
            at,
            format!("default {default:?} is not one of the choices"),
        )),
        Setting::Choice {
            choices, labels, ..
        } if !labels.is_empty() && labels.len() != choices.len() => Err(invalid(
            at,
            "labels: one for each choice, in the same order",
        )),
        Setting::Color { default, .. } if !is_color(default) => {
            Err(invalid(at, format!("{default:?} is not #rgb or #rrggbb")))
        }
        Setting::Link { default, .. }
            if !default.is_empty() && !super::sections::is_shop_link(default) =>
        {
            Err(invalid(
                at,
                format!("{default:?} is not a path in this shop (/…)"),
            ))
        }
        Setting::RichText {
            default, max_chars, ..
        } if default.chars().count() > *max_chars => Err(invalid(
            at,
            format!("default is longer than {max_chars} characters"),
        )),
        Setting::Items { fields, .. } => {
            for (key, field) in fields {
                let at = format!("{at}.fields.{key}");
                check_key(key, &at)?;
                if matches!(field, Setting::Items { .. }) {
                    return Err(invalid(at, "a list's entries hold no list"));
                }
                check_setting(field, &at)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(text: &str) -> String {
        Manifest::parse(text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let error = refusal("name = \"a\"\nversion = \"1\"\ncolour = \"#fff\"\n");
        assert!(error.contains("unknown field `colour`"), "{error}");
        let error = refusal(
            "name = \"a\"\nversion = \"1\"\n[sections.home]\nlabel = \"首页\"\ncount = { type = \"integer\", default = 1, min = 0, max = 2, label = \"n\", step = 1 }\n",
        );
        assert!(error.contains("unknown field `step`"), "{error}");
    }

    #[test]
    fn values_that_reach_css_are_checked() {
        let error = refusal("name = \"a\"\nversion = \"1\"\n[colors]\nprimary = \"red;}\"\n");
        assert!(error.contains("colors.primary"), "{error}");
        let error = refusal(
            "name = \"a\"\nversion = \"1\"\n[fonts]\nbody = \"x, url(https://fonts.example/f.woff)\"\n",
        );
        assert!(error.contains("fonts.body"), "{error}");
        let ok = Manifest::parse(
            "name = \"a\"\nversion = \"1\"\n[colors]\nprimary = \"#C8102E\"\n[fonts]\nbody = \"-apple-system, PingFang SC, 微软雅黑, sans-serif\"\n",
        );
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn a_default_outside_its_bounds_is_refused() {
        let error = refusal(
            "name = \"a\"\nversion = \"1\"\n[sections.home]\nlabel = \"首页\"\ncount = { type = \"integer\", default = 50, min = 1, max = 40, label = \"数量\" }\n",
        );
        assert!(error.contains("sections.home.count"), "{error}");
    }
}
