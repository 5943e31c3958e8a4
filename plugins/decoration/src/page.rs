//! The pages and what is kept of them: names, keys and records, and the changes an owner makes
//! (save a draft, publish it, roll back, delete a landing page).
//!
//! Keys (values JSON):
//!
//! - `draft:{page}`: the draft, a `PageLayout` (its `draft` flag false) with `changed_at_ms`;
//! - `published:{page}`: the number of the version the storefront shows;
//! - `version:{page}:{n:08}`: every version ever published, `{layout, at_ms, by}`, kept for
//!   rollback until the page is deleted (the kernel's kv quota bounds them);
//! - `meta:{page}`: what the list of pages and the editor show without reading a layout,
//!   `[title, draft_changed_at_ms, published_version, published_at_ms, published_by,
//!   last_version]`;
//! - `history:{page}`: the newest 20 versions' summaries, newest first, each `[version,
//!   at_ms, by, sections, title]`.
//!
//! `meta:` and `history:` repeat what the layouts say, so that listing 100 pages or the
//! editor's 20 versions parses a few kilobytes rather than every layout: a call gets
//! 2,000,000 fuel by default and JSON costs 50 to 200 of it a byte. Every change here writes
//! them with the records, and a call's writes commit together, so they cannot disagree; a page
//! stored without them (a fixture's) has them worked out from the records.

use pifa_sdk::PageLayout;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use pifa_sdk::Kv;

/// The homepage's name.
pub const HOME: &str = "home";
/// The path segment the editor's preview lives under (`/pages/preview/{page}`), so no landing
/// page may take it.
pub const RESERVED: &str = "preview";
pub const MAX_SLUG_CHARS: usize = 40;
/// Pages listed, and kept, at most (the homepage included): listing one costs about 15,000
/// fuel, so 100 take 1,500,000 of the default 2,000,000.
pub const MAX_PAGES: usize = 100;
/// Versions the editor lists, newest first.
pub const MAX_HISTORY: usize = 20;
/// Keys one delete removes at most: under the kernel's default `kv_writes_per_call` (100), so
/// a page with more versions than that is deleted over several calls rather than never.
pub const MAX_DELETES_PER_CALL: usize = 90;
/// Version records scanned per host call when only their keys are wanted.
const SCAN_PAGE: u32 = 50;

/// A page's name: `home`, or a landing page's slug (1 to 40 of `a-z`, `0-9`, `-`, not
/// starting with `-`, not `preview`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageName(String);

impl PageName {
    pub fn parse(text: &str) -> Option<PageName> {
        (text == HOME || is_slug(text)).then(|| PageName(text.to_owned()))
    }

    /// A landing page's slug (not `home`: the homepage is served at `/`).
    pub fn landing(text: &str) -> Option<PageName> {
        (text != HOME && is_slug(text)).then(|| PageName(text.to_owned()))
    }

    pub fn is_home(&self) -> bool {
        self.0 == HOME
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_slug(text: &str) -> bool {
    let chars = text.chars().count();
    (1..=MAX_SLUG_CHARS).contains(&chars)
        && !text.starts_with('-')
        && text != RESERVED
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

pub fn draft_key(page: &PageName) -> String {
    format!("draft:{}", page.as_str())
}

pub fn published_key(page: &PageName) -> String {
    format!("published:{}", page.as_str())
}

pub fn version_key(page: &PageName, version: u32) -> String {
    format!("version:{}:{version:08}", page.as_str())
}

fn version_prefix(page: &PageName) -> String {
    format!("version:{}:", page.as_str())
}

pub const META_PREFIX: &str = "meta:";

pub fn meta_key(page: &PageName) -> String {
    format!("{META_PREFIX}{}", page.as_str())
}

pub fn history_key(page: &PageName) -> String {
    format!("history:{}", page.as_str())
}

/// A draft as kept: the layout (its `draft` flag false) and when it last changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    #[serde(flatten)]
    pub layout: PageLayout,
    pub changed_at_ms: i64,
}

/// A published version: the layout as it was published, when, and by whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    pub layout: PageLayout,
    pub at_ms: i64,
    #[serde(default)]
    pub by: Option<i64>,
}

/// The version the storefront shows, when it was published and by whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub version: u32,
    pub at_ms: i64,
    #[serde(default)]
    pub by: Option<i64>,
}

/// What the list and the editor show of a page without reading a layout. Kept as an array,
/// `[title, draft_changed_at_ms, published version, its at_ms, its by, last_version]`: the
/// list parses one per page, and field names would be most of what it parses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "MetaRow", into = "MetaRow")]
pub struct Meta {
    /// The draft's title (the published one's when there is no draft).
    pub title: String,
    pub draft_changed_at_ms: Option<i64>,
    pub published: Option<Published>,
    /// The newest version's number (0 before the first publish).
    pub last_version: u32,
}

#[derive(Serialize, Deserialize)]
struct MetaRow(
    String,
    Option<i64>,
    Option<u32>,
    Option<i64>,
    Option<i64>,
    u32,
);

impl From<Meta> for MetaRow {
    fn from(meta: Meta) -> MetaRow {
        let published = meta.published;
        MetaRow(
            meta.title,
            meta.draft_changed_at_ms,
            published.map(|p| p.version),
            published.map(|p| p.at_ms),
            published.and_then(|p| p.by),
            meta.last_version,
        )
    }
}

impl From<MetaRow> for Meta {
    fn from(
        MetaRow(title, draft_changed_at_ms, version, at_ms, by, last_version): MetaRow,
    ) -> Meta {
        Meta {
            title,
            draft_changed_at_ms,
            published: version.map(|version| Published {
                version,
                at_ms: at_ms.unwrap_or(0),
                by,
            }),
            last_version,
        }
    }
}

/// A version as the editor lists it; kept as `[version, at_ms, by, sections, title]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "SummaryRow", into = "SummaryRow")]
pub struct VersionSummary {
    pub version: u32,
    pub at_ms: i64,
    pub by: Option<i64>,
    /// How many sections it has.
    pub sections: usize,
    pub title: String,
}

#[derive(Serialize, Deserialize)]
struct SummaryRow(u32, i64, Option<i64>, usize, String);

impl From<VersionSummary> for SummaryRow {
    fn from(v: VersionSummary) -> SummaryRow {
        SummaryRow(v.version, v.at_ms, v.by, v.sections, v.title)
    }
}

impl From<SummaryRow> for VersionSummary {
    fn from(SummaryRow(version, at_ms, by, sections, title): SummaryRow) -> VersionSummary {
        VersionSummary {
            version,
            at_ms,
            by,
            sections,
            title,
        }
    }
}

pub fn load_draft(kv: &impl Kv, page: &PageName) -> Option<Draft> {
    kv.get_json(&draft_key(page))
}

pub fn published_version(kv: &impl Kv, page: &PageName) -> Option<u32> {
    kv.get_json(&published_key(page))
}

pub fn load_version(kv: &impl Kv, page: &PageName, version: u32) -> Option<VersionRecord> {
    kv.get_json(&version_key(page, version))
}

// What a call spends most of its fuel on is JSON: parsing and writing cost some hundred
// instructions a byte in wasm. The routes that pass a layout through (the storefront, the
// preview, the editor) therefore parse it once into the `Value` they answer with, and move
// it, rather than parse it typed, convert it and clone it.

/// `layout` (a stored layout object) with its `draft` flag set; `None` when it is not one.
fn flagged(layout: Value, draft: bool) -> Option<Value> {
    let Value::Object(mut layout) = layout else {
        return None;
    };
    layout.insert("draft".to_owned(), Value::Bool(draft));
    Some(Value::Object(layout))
}

/// A layout as the JSON it is answered with, moved rather than converted.
pub fn layout_value(layout: PageLayout, draft: bool) -> Value {
    let sections = layout
        .sections
        .into_iter()
        .map(|section| {
            let mut object = Map::new();
            object.insert("kind".to_owned(), Value::String(section.kind));
            object.insert("settings".to_owned(), section.settings);
            Value::Object(object)
        })
        .collect();
    let colors = layout
        .colors
        .into_iter()
        .map(|(name, value)| (name, Value::String(value)))
        .collect();
    let mut object = Map::new();
    object.insert("title".to_owned(), Value::String(layout.title));
    object.insert("colors".to_owned(), Value::Object(colors));
    object.insert("sections".to_owned(), Value::Array(sections));
    object.insert("draft".to_owned(), Value::Bool(draft));
    Value::Object(object)
}

/// The draft as answered (`draft: true`), and when it changed.
fn draft_value(kv: &impl Kv, page: &PageName) -> Option<(Value, i64)> {
    let Value::Object(mut draft) = kv.get_json::<Value>(&draft_key(page))? else {
        return None;
    };
    let changed_at_ms = draft
        .remove("changed_at_ms")
        .and_then(|at| at.as_i64())
        .unwrap_or(0);
    Some((flagged(Value::Object(draft), true)?, changed_at_ms))
}

/// The published layout as answered, its `draft` flag as given; `None` when none is
/// published.
pub fn published_value(kv: &impl Kv, page: &PageName, draft: bool) -> Option<Value> {
    let version = published_version(kv, page)?;
    let Value::Object(mut record) = kv.get_json::<Value>(&version_key(page, version))? else {
        return None;
    };
    flagged(record.remove("layout")?, draft)
}

/// The layout the editor works on (`draft: true`): the draft, else what is published, else
/// (for the homepage) an empty page; and when the draft changed. `None` for a landing page of
/// which nothing is kept.
pub fn working_value(kv: &impl Kv, page: &PageName) -> Option<(Value, Option<i64>)> {
    if let Some((draft, changed_at_ms)) = draft_value(kv, page) {
        return Some((draft, Some(changed_at_ms)));
    }
    match published_value(kv, page, true) {
        Some(layout) => Some((layout, None)),
        None if page.is_home() => Some((layout_value(PageLayout::default(), true), None)),
        None => None,
    }
}

/// Whether anything of the page is kept (a draft, a published version, its metadata).
pub fn exists(kv: &impl Kv, page: &PageName) -> bool {
    kv.get(&meta_key(page)).is_some()
        || kv.get(&draft_key(page)).is_some()
        || kv.get(&published_key(page)).is_some()
}

/// The numbers of the versions kept, oldest first.
fn version_numbers(kv: &impl Kv, page: &PageName) -> Vec<u32> {
    let prefix = version_prefix(page);
    kv.keys(&prefix, SCAN_PAGE, usize::MAX)
        .iter()
        .filter_map(|key| key.strip_prefix(prefix.as_str())?.parse().ok())
        .collect()
}

/// When a version was published and by whom, without building its layout.
#[derive(Debug, Deserialize)]
struct Stamp {
    at_ms: i64,
    #[serde(default)]
    by: Option<i64>,
}

fn stamp(kv: &impl Kv, page: &PageName, version: u32) -> Option<Published> {
    let stamp: Stamp = kv.get_json(&version_key(page, version))?;
    Some(Published {
        version,
        at_ms: stamp.at_ms,
        by: stamp.by,
    })
}

/// The page's metadata; worked out from its records when it was stored without (a fixture's);
/// `None` for a page of which nothing is kept.
pub fn load_meta(kv: &impl Kv, page: &PageName) -> Option<Meta> {
    if let Some(meta) = kv.get_json(&meta_key(page)) {
        return Some(meta);
    }
    let draft = load_draft(kv, page);
    let published = published_version(kv, page).and_then(|version| stamp(kv, page, version));
    let last_version = version_numbers(kv, page).last().copied().unwrap_or(0);
    if draft.is_none() && published.is_none() && last_version == 0 {
        return None;
    }
    let title = match (&draft, &published) {
        (Some(draft), _) => draft.layout.title.clone(),
        (None, Some(published)) => load_version(kv, page, published.version)
            .map(|record| record.layout.title)
            .unwrap_or_default(),
        (None, None) => String::new(),
    };
    Some(Meta {
        title,
        draft_changed_at_ms: draft.map(|d| d.changed_at_ms),
        published,
        last_version,
    })
}

/// The newest versions' summaries, newest first; worked out from the records when the page
/// was stored without them.
pub fn load_history(kv: &impl Kv, page: &PageName) -> Vec<VersionSummary> {
    if let Some(history) = kv.get_json(&history_key(page)) {
        return history;
    }
    let numbers = version_numbers(kv, page);
    numbers
        .iter()
        .rev()
        .take(MAX_HISTORY)
        .filter_map(|&version| {
            load_version(kv, page, version).map(|record| VersionSummary {
                version,
                at_ms: record.at_ms,
                by: record.by,
                sections: record.layout.sections.len(),
                title: record.layout.title,
            })
        })
        .collect()
}

/// What the editor shows of a page, as `GET /pages/{page}` and every change answer it.
#[derive(Debug)]
pub struct EditorParts {
    /// The working layout (`draft: true`).
    pub draft: Value,
    pub draft_changed_at_ms: Option<i64>,
    pub published: Option<Published>,
    /// The newest versions, newest first.
    pub versions: Vec<VersionSummary>,
}

/// The editor's parts for a page as kept; a landing page of which nothing is kept is an empty
/// draft (which saving creates).
pub fn editor_parts(kv: &impl Kv, page: &PageName) -> EditorParts {
    let (draft, draft_changed_at_ms) = working_value(kv, page)
        .unwrap_or_else(|| (layout_value(PageLayout::default(), true), None));
    EditorParts {
        draft,
        draft_changed_at_ms,
        published: load_meta(kv, page).and_then(|meta| meta.published),
        versions: load_history(kv, page),
    }
}

/// The draft as stored: the layout (its `draft` flag false) and when it changed.
pub fn encode_draft(layout: &PageLayout, now_ms: i64) -> Result<Vec<u8>, String> {
    #[derive(Serialize)]
    struct Stored<'a> {
        title: &'a str,
        colors: &'a std::collections::BTreeMap<String, String>,
        sections: &'a [pifa_sdk::Section],
        draft: bool,
        changed_at_ms: i64,
    }
    serde_json::to_vec(&Stored {
        title: &layout.title,
        colors: &layout.colors,
        sections: &layout.sections,
        draft: false,
        changed_at_ms: now_ms,
    })
    .map_err(|e| e.to_string())
}

/// Keeps `layout` (already checked, and `encoded` by [`encode_draft`]) as the page's draft.
pub fn save_draft(
    kv: &mut impl Kv,
    page: &PageName,
    layout: PageLayout,
    encoded: &[u8],
    now_ms: i64,
) -> Result<EditorParts, String> {
    let mut meta = load_meta(kv, page).unwrap_or_default();
    meta.title.clone_from(&layout.title);
    meta.draft_changed_at_ms = Some(now_ms);
    kv.put(&draft_key(page), encoded)?;
    kv.put_json(&meta_key(page), &meta)?;
    Ok(EditorParts {
        draft: layout_value(layout, true),
        draft_changed_at_ms: Some(now_ms),
        published: meta.published,
        versions: load_history(kv, page),
    })
}

/// The draft as the next version, published; the editor's parts, or `None` when the page has
/// no draft.
pub fn publish(
    kv: &mut impl Kv,
    page: &PageName,
    by: Option<i64>,
    now_ms: i64,
) -> Result<Option<EditorParts>, String> {
    let Some((draft, changed_at_ms)) = draft_value(kv, page) else {
        return Ok(None);
    };
    let mut meta = load_meta(kv, page).unwrap_or_default();
    let mut history = load_history(kv, page);
    let version = meta
        .last_version
        .checked_add(1)
        .ok_or_else(|| "the version numbers are exhausted".to_owned())?;
    let summary = VersionSummary {
        version,
        at_ms: now_ms,
        by,
        sections: draft
            .get("sections")
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
        title: draft
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    };
    let mut record = Map::new();
    record.insert(
        "layout".to_owned(),
        flagged(draft, false).unwrap_or_default(),
    );
    record.insert("at_ms".to_owned(), Value::from(now_ms));
    record.insert("by".to_owned(), by.map_or(Value::Null, Value::from));
    kv.put_json(&version_key(page, version), &record)?;
    history.insert(0, summary);
    history.truncate(MAX_HISTORY);
    meta.last_version = version;
    meta.published = Some(Published {
        version,
        at_ms: now_ms,
        by,
    });
    kv.put_json(&published_key(page), &version)?;
    kv.put_json(&meta_key(page), &meta)?;
    kv.put_json(&history_key(page), &history)?;
    let draft = record
        .remove("layout")
        .and_then(|layout| flagged(layout, true))
        .unwrap_or_default();
    Ok(Some(EditorParts {
        draft,
        draft_changed_at_ms: Some(changed_at_ms),
        published: meta.published,
        versions: history,
    }))
}

/// Kept version `version` published again (the draft stays as it is); the editor's parts, or
/// `None` when there is no such version.
pub fn rollback(
    kv: &mut impl Kv,
    page: &PageName,
    version: u32,
) -> Result<Option<EditorParts>, String> {
    if kv.get(&version_key(page, version)).is_none() {
        return Ok(None);
    }
    let history = load_history(kv, page);
    let published = history
        .iter()
        .find(|summary| summary.version == version)
        .map(|summary| Published {
            version,
            at_ms: summary.at_ms,
            by: summary.by,
        })
        .or_else(|| stamp(kv, page, version));
    let Some(published) = published else {
        return Ok(None);
    };
    let mut meta = load_meta(kv, page).unwrap_or_default();
    meta.published = Some(published);
    meta.last_version = meta.last_version.max(version);
    kv.put_json(&published_key(page), &version)?;
    kv.put_json(&meta_key(page), &meta)?;
    let (draft, draft_changed_at_ms) = working_value(kv, page)
        .unwrap_or_else(|| (layout_value(PageLayout::default(), true), None));
    Ok(Some(EditorParts {
        draft,
        draft_changed_at_ms,
        published: meta.published,
        versions: history,
    }))
}

/// What [`delete`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Nothing of the page was kept.
    Nothing,
    /// All of it is gone.
    All,
    /// It is off the storefront and this many of its newest versions remain (over the
    /// per-call write budget): deleting again removes more.
    Partly { remaining_versions: usize },
}

/// Removes a page: its draft, its published pointer, its versions and its metadata, all in
/// one call when they fit [`MAX_DELETES_PER_CALL`]; otherwise the page leaves the storefront
/// now and its versions go oldest first over as many calls as it takes.
pub fn delete(kv: &mut impl Kv, page: &PageName) -> Result<Deleted, String> {
    let versions = version_numbers(kv, page);
    if versions.is_empty() && !exists(kv, page) {
        return Ok(Deleted::Nothing);
    }
    // The pointer, the history and the metadata (rewritten or deleted): three writes.
    let budget = MAX_DELETES_PER_CALL.saturating_sub(3);
    kv.delete(&published_key(page))?;
    if versions.len() < budget {
        for version in &versions {
            kv.delete(&version_key(page, *version))?;
        }
        kv.delete(&draft_key(page))?;
        kv.delete(&history_key(page))?;
        kv.delete(&meta_key(page))?;
        return Ok(Deleted::All);
    }
    let (gone, kept) = versions.split_at(budget);
    for version in gone {
        kv.delete(&version_key(page, *version))?;
    }
    let oldest_kept = kept.first().copied().unwrap_or(u32::MAX);
    let mut history = load_history(kv, page);
    history.retain(|summary| summary.version >= oldest_kept);
    let mut meta = load_meta(kv, page).unwrap_or_default();
    meta.published = None;
    kv.put_json(&history_key(page), &history)?;
    kv.put_json(&meta_key(page), &meta)?;
    Ok(Deleted::Partly {
        remaining_versions: kept.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_names_are_home_or_slugs() {
        for good in ["home", "spring", "a", "2026-new-year", "x-"] {
            assert!(PageName::parse(good).is_some(), "{good}");
        }
        let forty = "a".repeat(40);
        assert!(PageName::parse(&forty).is_some());
        for bad in [
            "",
            "preview",
            "-spring",
            "Spring",
            "spring sale",
            "春节",
            "a_b",
            "a/b",
            &"a".repeat(41),
        ] {
            assert!(PageName::parse(bad).is_none(), "{bad}");
        }
        assert!(PageName::landing("home").is_none());
        assert!(PageName::landing("spring").is_some());
    }

    #[test]
    fn keys_sort_versions_by_number() {
        let page = PageName::parse("spring").unwrap();
        assert_eq!(version_key(&page, 7), "version:spring:00000007");
        assert!(version_key(&page, 9) < version_key(&page, 10));
    }
}
