//! 店铺装修 in the back office: the page editor. It edits the pages of the plugin mounted at
//! `/` (the one that composes the shop's pages, `decoration` as shipped) through that
//! plugin's own JSON routes — the layout-editor routes `pifa-sdk`'s README describes: `GET
//! /pages`, `GET /pages/{page}`, `PUT /pages/{page}/draft`, `POST /pages/{page}/publish`,
//! `POST /pages/{page}/rollback/{version}`, `DELETE /pages/{page}`, `POST /pictures` — called
//! as the person editing, so the plugin's roles and checks decide, as for the API. Each form
//! changes the draft it was drawn from and saves the whole of it; the plugin checks every
//! section against the theme's schema and refuses naming the field.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::Method;
use pifa_sdk::{PageLayout, Section};
use serde::Deserialize;
use serde_json::{Value, json};

use super::menu_for;
use crate::accounts::permissions::Actor;
use crate::accounts::sessions::ClientInfo;
use crate::edge::extract::Path;
use crate::error::ApiError;
use crate::pages::fields::Fields;
use crate::pages::{Page, PluginRequest, Visit, call_plugin};
use crate::plugins::PluginsState;
use crate::themes::admin::ThemesState;
use crate::themes::manifest::{Manifest, Setting};
use crate::themes::office::decoration::{
    ColorField, DecorationError, EditedSection, KindChoice, OfficeDecorationView, PageLine,
    Records, SectionField, VersionLine, kinds_of,
};

/// The most sections a draft takes (the plugin refuses more, naming `sections`).
const MAX_SECTIONS: usize = 40;

/// `GET /pages/{page}`, as far as the editor reads it.
#[derive(Debug, Default, Deserialize)]
struct PageState {
    #[serde(default)]
    draft: PageLayout,
    /// When the draft was last saved (none before the first save): what a save expects.
    #[serde(default)]
    draft_changed_at_ms: Option<i64>,
    #[serde(default)]
    published: Option<Published>,
    #[serde(default)]
    versions: Vec<Version>,
}

#[derive(Debug, Deserialize)]
struct Published {
    version: i64,
}

#[derive(Debug, Deserialize)]
struct Version {
    version: i64,
    #[serde(default)]
    at_ms: i64,
    #[serde(default)]
    sections: i64,
    #[serde(default)]
    title: String,
}

/// `GET /pictures`.
#[derive(Debug, Default, Deserialize)]
struct PictureList {
    #[serde(default)]
    pictures: Vec<String>,
}

/// `GET /pages`.
#[derive(Debug, Default, Deserialize)]
struct PageList {
    #[serde(default)]
    pages: Vec<ListedPage>,
}

#[derive(Debug, Deserialize)]
struct ListedPage {
    page: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    published_version: Option<i64>,
}

/// A plugin's answer read as `T`, or its failure (an answer of another shape).
fn answer<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| {
        ApiError::internal(anyhow::anyhow!(
            "the page plugin answered another shape: {e}"
        ))
    })
}

/// The plugin composing the shop's pages: the one mounted at `/`.
fn composer(app: &PluginsState) -> Option<String> {
    app.plugins
        .current()
        .mounted("/")
        .map(|(plugin, _)| plugin.name().to_owned())
}

/// What one editor request works with.
struct Editor<'a> {
    app: &'a PluginsState,
    actor: Actor,
    client: &'a ClientInfo,
    plugin: String,
    page: String,
}

impl Editor<'_> {
    async fn call(&self, method: Method, path: &str, body: Bytes) -> Result<Value, ApiError> {
        self.call_with(method, path, Default::default(), body).await
    }

    async fn call_with(
        &self,
        method: Method,
        path: &str,
        query: std::collections::BTreeMap<String, String>,
        body: Bytes,
    ) -> Result<Value, ApiError> {
        call_plugin(
            self.app,
            Some(self.actor.clone()),
            self.client,
            PluginRequest {
                method,
                plugin: &self.plugin,
                path,
                query,
                body,
            },
        )
        .await
    }

    /// The page's state as the plugin keeps it (`GET /pages/{page}`).
    async fn state(&self) -> Result<PageState, ApiError> {
        answer(
            self.call(Method::GET, &format!("/pages/{}", self.page), Bytes::new())
                .await?,
        )
    }

    /// Saves `draft` whole (`PUT /pages/{page}/draft`), unless it was saved since `read_at`
    /// (its `draft_changed_at_ms` when the form was drawn, `none` before the first save).
    async fn save(&self, draft: &PageLayout, read_at: Option<&str>) -> Result<Value, ApiError> {
        let body = serde_json::to_vec(draft).map_err(ApiError::internal)?;
        let query = read_at
            .filter(|at| !at.is_empty())
            .map(|at| ("if_changed_at_ms".to_owned(), at.to_owned()))
            .into_iter()
            .collect();
        self.call_with(
            Method::PUT,
            &format!("/pages/{}/draft", self.page),
            query,
            Bytes::from(body),
        )
        .await
    }

    /// Stores an uploaded picture through the plugin's picture route; its URL.
    async fn picture(&self, bytes: Bytes) -> Result<String, ApiError> {
        let stored: pifa_sdk::Picture = answer(self.call(Method::POST, "/pictures", bytes).await?)?;
        Ok(stored.url)
    }
}

/// The storefront theme that serves (whose section types the pages are made of).
async fn storefront(
    themes: &ThemesState,
) -> Result<std::sync::Arc<crate::themes::Theme>, ApiError> {
    let chosen = themes.shop.store.settings().current().await?.theme;
    themes
        .themes
        .active(chosen.as_deref())
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no storefront theme serves")))
}

/// The categories (with their parents' names), brands and product tags a section's `record`
/// settings pick from.
async fn records(shop: &crate::shop::Shop) -> Result<Records, ApiError> {
    let catalog = shop.store.catalog();
    let categories = catalog.list_categories().await?;
    let path_of = |category: &crate::catalog::Category| {
        crate::catalog::category_path(&categories, Some(category.id)).join(" / ")
    };
    let choice = |id: i64, label: String| KindChoice {
        kind: id.to_string(),
        label,
    };
    Ok(Records {
        categories: categories
            .iter()
            .map(|c| choice(c.id, path_of(c)))
            .collect(),
        brands: catalog
            .list_brands()
            .await?
            .iter()
            .map(|b| choice(b.id, b.name.clone()))
            .collect(),
        tags: catalog
            .list_product_tags()
            .await?
            .into_iter()
            .map(|t| choice(t.id, t.name))
            .collect(),
    })
}

/// `GET /admin/decoration`: the homepage's editor.
pub async fn home_editor(
    State(app): State<PluginsState>,
    State(themes): State<ThemesState>,
    client: ClientInfo,
    visit: Visit,
) -> Page {
    show(&app, &themes, &client, &visit, "home".to_owned(), None).await
}

/// `GET /admin/decoration/{page}`: a page's editor.
pub async fn editor(
    State(app): State<PluginsState>,
    State(themes): State<ThemesState>,
    client: ClientInfo,
    Path(page): Path<String>,
    visit: Visit,
) -> Page {
    show(&app, &themes, &client, &visit, page, None).await
}

async fn show(
    app: &PluginsState,
    themes: &ThemesState,
    client: &ClientInfo,
    visit: &Visit,
    page: String,
    refused: Option<ApiError>,
) -> Page {
    let status = refused.as_ref().map(|e| e.status);
    let view = view(app, themes, client, visit, page, refused).await;
    match (view, status) {
        (Ok(view), Some(status)) => visit.show_with(status, &view),
        (view, _) => visit.show(view),
    }
}

async fn view(
    app: &PluginsState,
    themes: &ThemesState,
    client: &ClientInfo,
    visit: &Visit,
    page: String,
    refused: Option<ApiError>,
) -> Result<OfficeDecorationView, ApiError> {
    let actor = visit.actor()?;
    let menu = menu_for(&actor, "decoration")?;
    let theme = storefront(themes).await?;
    let Some(plugin) = composer(app) else {
        return Ok(OfficeDecorationView {
            menu,
            plugin: None,
            pages: Vec::new(),
            page: "home".to_owned(),
            title: String::new(),
            colors: Vec::new(),
            sections: Vec::new(),
            kinds: Vec::new(),
            published: None,
            versions: Vec::new(),
            pictures: Vec::new(),
            changed_at: String::new(),
            preview_href: String::new(),
            live_href: "/".to_owned(),
            error: None,
        });
    };
    let editor = Editor {
        app,
        actor,
        client,
        plugin: plugin.clone(),
        page: page.clone(),
    };
    let (state, pages, pictures) = tokio::join!(
        editor.state(),
        editor.call(Method::GET, "/pages", Bytes::new()),
        editor.call(Method::GET, "/pictures", Bytes::new())
    );
    let (state, pages): (PageState, PageList) = (state?, answer(pages?)?);
    // The picture library is a convenience: without it the fields still take an upload.
    let pictures: PictureList = pictures.and_then(answer).unwrap_or_default();
    let records = records(&app.shop).await?;
    let manifest = &theme.manifest;
    let draft = &state.draft;
    let current = state.published.as_ref().map(|p| p.version);
    let version_line = |v: &Version| VersionLine {
        version: v.version,
        at: crate::clock::rfc3339(v.at_ms),
        sections: v.sections,
        title: v.title.clone(),
        current: Some(v.version) == current,
    };
    Ok(OfficeDecorationView {
        menu,
        plugin: Some(plugin),
        pages: pages
            .pages
            .into_iter()
            .map(|p| PageLine {
                page: p.page,
                title: p.title,
                published_version: p.published_version,
            })
            .collect(),
        title: draft.title.clone(),
        colors: manifest
            .colors
            .iter()
            .map(|(name, theme_value)| {
                let own = draft.colors.get(name);
                ColorField {
                    name: name.clone(),
                    value: own.unwrap_or(theme_value).clone(),
                    theme_value: theme_value.clone(),
                    custom: own.is_some(),
                }
            })
            .collect(),
        sections: draft
            .sections
            .iter()
            .enumerate()
            .map(
                |(index, section)| match manifest.sections.get(&section.kind) {
                    Some(schema) => EditedSection {
                        index,
                        label: schema.label.clone(),
                        known: true,
                        fields: SectionField::of(&schema.settings, &section.settings, "", &records),
                        kind: section.kind.clone(),
                    },
                    None => EditedSection {
                        index,
                        label: section.kind.clone(),
                        known: false,
                        fields: Vec::new(),
                        kind: section.kind.clone(),
                    },
                },
            )
            .collect(),
        kinds: kinds_of(manifest),
        published: state
            .versions
            .iter()
            .find(|v| Some(v.version) == current)
            .map(version_line),
        versions: state.versions.iter().map(version_line).collect(),
        pictures: pictures.pictures,
        changed_at: state
            .draft_changed_at_ms
            .map_or_else(|| "none".to_owned(), |ms| ms.to_string()),
        preview_href: format!("/pages/preview/{page}"),
        live_href: if page == "home" {
            "/".to_owned()
        } else {
            format!("/pages/{page}")
        },
        page,
        error: refused.map(|error| decoration_error(&error)),
    })
}

/// A refusal as the editor shows it: `sections[2].images[1].link` is section 2's field
/// `images.1.link` (the form's name for it).
fn decoration_error(error: &ApiError) -> DecorationError {
    let (section, field) = match error.field.as_deref() {
        Some(field) => match field
            .strip_prefix("sections[")
            .and_then(|rest| rest.split_once(']'))
        {
            Some((index, rest)) => (
                index.parse().ok(),
                Some(
                    rest.trim_start_matches('.')
                        .replace('[', ".")
                        .replace(']', ""),
                )
                .filter(|f| !f.is_empty()),
            ),
            None => (None, Some(field.to_owned())),
        },
        None => (None, None),
    };
    DecorationError {
        section,
        field,
        code: error.code.to_owned(),
        message: error.message.clone(),
    }
}

/// `POST /admin/decoration/{page}/{action}`: `add`, `remove`, `move`, `order`, `section`,
/// `page` (title and colours), `publish`, `rollback`, `create` (a landing page), `delete`.
/// Back to the editor with a notice, or the editor with the refusal.
pub async fn action(
    State(app): State<PluginsState>,
    State(themes): State<ThemesState>,
    client: ClientInfo,
    path: Result<Path<(String, String)>, ApiError>,
    visit: Visit,
    request: Request,
) -> Page {
    let Ok(Path((page, action))) = path else {
        return visit.show::<OfficeDecorationView>(Err(ApiError::not_found()));
    };
    let outcome = async {
        let actor = visit.actor()?;
        menu_for(&actor, "decoration")?;
        let plugin = composer(&app).ok_or_else(ApiError::not_found)?;
        let theme = storefront(&themes).await?;
        let editor = Editor {
            app: &app,
            actor,
            client: &client,
            plugin,
            page: page.clone(),
        };
        let multipart = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("multipart/form-data"));
        let (form, files) = if multipart {
            crate::pages::read_files_form(request).await?
        } else {
            let body = axum::body::to_bytes(request.into_body(), 1024 * 1024)
                .await
                .map_err(|_| {
                    ApiError::bad_request("body_too_large", "表单太大 (form too large)")
                })?;
            (Fields::parse(&body), Default::default())
        };
        let done = match action.as_str() {
            "publish" => {
                editor
                    .call(
                        Method::POST,
                        &format!("/pages/{page}/publish"),
                        Bytes::new(),
                    )
                    .await?;
                Done::To(page.clone(), "decoration_published")
            }
            "rollback" => {
                let version = form.integer("version")?;
                editor
                    .call(
                        Method::POST,
                        &format!("/pages/{page}/rollback/{version}"),
                        Bytes::new(),
                    )
                    .await?;
                Done::To(page.clone(), "decoration_rolled_back")
            }
            "delete" => {
                editor
                    .call(Method::DELETE, &format!("/pages/{page}"), Bytes::new())
                    .await?;
                Done::To("home".to_owned(), "decoration_deleted")
            }
            "create" => {
                let slug = form.text("slug").to_owned();
                let created = Editor {
                    page: slug.clone(),
                    ..editor
                };
                let state = created.state().await.map_err(|e| e.with_field("slug"))?;
                created
                    .save(&state.draft, None)
                    .await
                    .map_err(|e| e.with_field("slug"))?;
                Done::To(slug, "decoration_saved")
            }
            _ => {
                let mut draft = editor.state().await?.draft;
                let at =
                    change(&action, &mut draft, &form, &files, &theme.manifest, &editor).await?;
                // The form's draft as it was drawn: another tab's save since is not lost.
                editor.save(&draft, Some(form.text("changed_at"))).await?;
                Done::At(page.clone(), at)
            }
        };
        Ok::<Done, ApiError>(done)
    }
    .await;
    match outcome {
        Ok(Done::To(page, notice)) => {
            visit.redirect(&format!("/admin/decoration/{page}?notice={notice}"))
        }
        Ok(Done::At(page, anchor)) => visit.redirect(&format!(
            "/admin/decoration/{page}?notice=decoration_saved{anchor}"
        )),
        Err(error) if error.status == axum::http::StatusCode::FORBIDDEN => {
            visit.show::<OfficeDecorationView>(Err(error))
        }
        Err(error) => show(&app, &themes, &client, &visit, page, Some(error)).await,
    }
}

/// Where an action sends the editor: a page with a notice, or back to a place in it.
enum Done {
    To(String, &'static str),
    At(String, String),
}

/// Applies a form to the draft; the anchor of the section it touched (`#section-2`), if any.
async fn change(
    action: &str,
    draft: &mut PageLayout,
    form: &Fields,
    files: &std::collections::BTreeMap<String, Bytes>,
    manifest: &Manifest,
    editor: &Editor<'_>,
) -> Result<String, ApiError> {
    let sections = &mut draft.sections;
    let index_of = |name: &str, len: usize| -> Result<usize, ApiError> {
        usize::try_from(form.integer(name)?)
            .ok()
            .filter(|n| *n < len)
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "invalid_input",
                    name,
                    format!("{name}: 没有这个版块 (no such section)"),
                )
            })
    };
    match action {
        "add" => {
            let kind = form.text("kind");
            if !manifest.sections.contains_key(kind) {
                return Err(ApiError::invalid_field(
                    "invalid_input",
                    "kind",
                    format!("kind: 本主题没有“{kind}”这种版块 (no section type {kind:?})"),
                ));
            }
            if sections.len() >= MAX_SECTIONS {
                return Err(ApiError::invalid_field(
                    "invalid_layout",
                    "sections",
                    format!("一页最多 {MAX_SECTIONS} 个版块 (at most {MAX_SECTIONS} sections)"),
                ));
            }
            sections.push(Section {
                kind: kind.to_owned(),
                settings: json!({}),
            });
            Ok(format!("#section-{}", sections.len() - 1))
        }
        "remove" => {
            let index = index_of("index", sections.len())?;
            sections.remove(index);
            Ok(String::new())
        }
        "move" => {
            let from = index_of("from", sections.len())?;
            let to = index_of("to", sections.len())?;
            let moved = sections.remove(from);
            sections.insert(to, moved);
            Ok(format!("#section-{to}"))
        }
        "order" => {
            let order: Option<Vec<usize>> = form
                .text("order")
                .split(',')
                .map(|n| n.trim().parse().ok())
                .collect();
            let order = order.unwrap_or_default();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            if sorted != (0..sections.len()).collect::<Vec<_>>() {
                return Err(ApiError::invalid_field(
                    "invalid_input",
                    "order",
                    "order: 版块顺序不完整，请刷新后再拖动 (not an order of every section; reload and drag again)",
                ));
            }
            let mut old: Vec<Option<Section>> =
                std::mem::take(sections).into_iter().map(Some).collect();
            *sections = order
                .into_iter()
                .filter_map(|n| old.get_mut(n).and_then(Option::take))
                .collect();
            Ok(String::new())
        }
        "section" => {
            let index = index_of("index", sections.len())?;
            let section = sections.get_mut(index).ok_or_else(ApiError::not_found)?;
            let schema = manifest.sections.get(&section.kind).ok_or_else(|| {
                ApiError::invalid_field("invalid_input", "kind", "当前主题不支持这种版块")
            })?;
            let mut settings = settings_of(&schema.settings, form, "");
            // Pictures chosen in the form are stored first; their URLs go in the settings.
            for (name, bytes) in files {
                let Some(path) = name.strip_prefix("file.") else {
                    continue;
                };
                let url = editor
                    .picture(bytes.clone())
                    .await
                    .map_err(|e| e.with_field(&format!("sections[{index}].{path}")))?;
                set_at(&mut settings, path, Value::from(url));
            }
            section.settings = Value::Object(settings);
            Ok(format!("#section-{index}"))
        }
        "page" => {
            form.text("title").clone_into(&mut draft.title);
            draft.colors = manifest
                .colors
                .keys()
                .filter(|name| form.ticked(&format!("custom.{name}")))
                .map(|name| (name.clone(), form.text(&format!("color.{name}")).to_owned()))
                .collect();
            Ok(String::new())
        }
        _ => Err(ApiError::not_found()),
    }
}

/// A section's settings as its form sends them (`f.<name>`, a list's rows as
/// `f.<name>.<row>.<field>`), typed by the schema where a form's text is not the value
/// (a box ticked or not, a list's rows); the plugin checks the rest against the schema.
fn settings_of(
    schema: &indexmap::IndexMap<String, Setting>,
    form: &Fields,
    prefix: &str,
) -> serde_json::Map<String, Value> {
    let mut settings = serde_json::Map::new();
    for (key, setting) in schema {
        let name = format!("{prefix}{key}");
        let value = match setting {
            Setting::Boolean { .. } => Value::from(form.ticked(&format!("f.{name}"))),
            Setting::Items {
                max_items, fields, ..
            } => Value::from(
                (0..=*max_items)
                    .map(|row| settings_of(fields, form, &format!("{name}.{row}.")))
                    // A row left empty is no entry (the form always offers one to add).
                    .filter(|row| {
                        row.values()
                            .any(|v| v.as_str().is_some_and(|s| !s.is_empty()))
                    })
                    .map(Value::Object)
                    .collect::<Vec<_>>(),
            ),
            _ => Value::from(form.raw(&format!("f.{name}"))),
        };
        settings.insert(key.clone(), value);
    }
    settings
}

/// Sets the setting at a form's name (`image`, `images.1.image`) in `settings`, making a
/// list's row where the form had only the file.
fn set_at(settings: &mut serde_json::Map<String, Value>, path: &str, value: Value) {
    let parts: Vec<&str> = path.split('.').collect();
    match parts.as_slice() {
        [key] => {
            settings.insert((*key).to_owned(), value);
        }
        [list, row, key] => {
            let Ok(row) = row.parse::<usize>() else {
                return;
            };
            let rows = settings
                .entry((*list).to_owned())
                .or_insert_with(|| Value::Array(Vec::new()));
            if !rows.is_array() {
                *rows = Value::Array(Vec::new());
            }
            if let Some(rows) = rows.as_array_mut() {
                while rows.len() <= row {
                    rows.push(json!({}));
                }
                if let Some(Value::Object(entry)) = rows.get_mut(row) {
                    entry.insert((*key).to_owned(), value);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_section_and_the_forms_field() {
        let error = ApiError::invalid_field("plugin_refused", "sections[2].images[1].link", "x");
        let shown = decoration_error(&error);
        assert_eq!(shown.section, Some(2));
        assert_eq!(shown.field.as_deref(), Some("images.1.link"));
        let page = decoration_error(&ApiError::invalid_field(
            "plugin_refused",
            "colors.primary",
            "x",
        ));
        assert_eq!(
            (page.section, page.field.as_deref()),
            (None, Some("colors.primary"))
        );
    }

    #[test]
    fn a_sections_form_reads_back_by_the_schema() {
        let manifest = Manifest::parse(
            r##"
name = "t"
version = "1"
[sections.banner]
label = "轮播图"
on = { type = "boolean", label = "显示", default = true }
images = { type = "items", label = "图片", max_items = 3, fields = { image = { type = "image", label = "图片" }, link = { type = "link", label = "链接" } } }
"##,
        )
        .unwrap();
        let form = Fields::parse(&Bytes::from_static(
            b"f.images.0.image=%2Fapi%2Fv1%2Fimages%2Fa.jpg&f.images.0.link=%2F&f.images.1.image=&f.images.1.link=",
        ));
        let mut settings = settings_of(&manifest.sections["banner"].settings, &form, "");
        assert_eq!(
            Value::Object(settings.clone()),
            json!({ "on": false, "images": [{ "image": "/api/v1/images/a.jpg", "link": "/" }] })
        );
        set_at(
            &mut settings,
            "images.1.image",
            Value::from("/api/v1/images/b.jpg"),
        );
        assert_eq!(settings["images"][1]["image"], "/api/v1/images/b.jpg");
    }
}
