//! The plugin's routes under `/api/v1/plugins/decoration` (declared, with their roles, mounts
//! and schemas, in `manifest.rs`; the kernel checks the roles before calling): the storefront
//! reads the published pages, staff edit drafts, preview, publish, roll back and upload
//! pictures.

use pifa_sdk::{HttpRequest, HttpResponse, Picture, SectionTypes};
use serde_json::{Map, Value, json};

use crate::layout;
use crate::page::{self, Deleted, EditorParts, HOME, MAX_PAGES, META_PREFIX, Meta, PageName};
use crate::theme::Theme;
use pifa_sdk::Kv;

/// The pictures staff uploaded, newest first.
pub const PICTURES_KEY: &str = "pictures";
pub const MAX_PICTURES: usize = 200;
const PICTURE_PREFIX: &str = "/api/v1/images/";
const MAX_PICTURE_URL_CHARS: usize = 300;

type Answer = Result<HttpResponse, HttpResponse>;

pub fn handle(kv: &mut impl Kv, theme: &impl Theme, request: &HttpRequest) -> HttpResponse {
    let response = match (request.method.as_str(), request.route.as_str()) {
        ("GET", "/home") => home(kv),
        ("GET", "/landing/{slug}") => landing(kv, request),
        ("GET", "/preview/{page}") => preview(kv, request),
        ("GET", "/pages") => Ok(list(kv)),
        ("GET", "/pages/{page}") => named_page(request)
            .map(|page| editor(&page, page::editor_parts(kv, &page), theme.section_types())),
        ("PUT", "/pages/{page}/draft") => save_draft(kv, theme, request),
        ("POST", "/pages/{page}/publish") => publish(kv, theme, request),
        ("POST", "/pages/{page}/rollback/{version}") => rollback(kv, theme, request),
        ("DELETE", "/pages/{page}") => delete(kv, request),
        ("POST", "/pictures") => add_picture(kv, request),
        ("GET", "/pictures") => Ok(pictures(kv)),
        _ => Err(HttpResponse::error(
            404,
            "not_found",
            None,
            "没有这个接口 (no such route)",
        )),
    };
    response.unwrap_or_else(|refusal| refusal)
}

/// `GET /home`, mounted at `/`: the published homepage, or 404 (the kernel's own homepage).
fn home(kv: &impl Kv) -> Answer {
    let home = PageName::parse(HOME).ok_or_else(page_not_found)?;
    page::published_value(kv, &home, false)
        .map(ok)
        .ok_or_else(not_published)
}

/// `GET /landing/{slug}`, mounted at `/pages/{slug}`: a published landing page.
fn landing(kv: &impl Kv, request: &HttpRequest) -> Answer {
    let page = request
        .params
        .get("slug")
        .and_then(|slug| PageName::landing(slug))
        .ok_or_else(page_not_found)?;
    if let Some(layout) = page::published_value(kv, &page, false) {
        return Ok(ok(layout));
    }
    if page::exists(kv, &page) {
        Err(not_published())
    } else {
        Err(page_not_found())
    }
}

/// `GET /preview/{page}`, mounted at `/pages/preview/{page}`: the draft, marked as one.
fn preview(kv: &impl Kv, request: &HttpRequest) -> Answer {
    let page = named_page(request)?;
    page::working_value(kv, &page)
        .map(|(layout, _)| ok(layout))
        .ok_or_else(page_not_found)
}

/// A page as the list shows it.
fn listed(page: String, meta: Meta) -> Value {
    let optional = |value: Option<i64>| value.map_or(Value::Null, Value::from);
    let mut object = Map::new();
    object.insert("page".to_owned(), Value::String(page));
    object.insert("title".to_owned(), Value::String(meta.title));
    object.insert(
        "published_version".to_owned(),
        optional(meta.published.map(|p| i64::from(p.version))),
    );
    object.insert(
        "published_at_ms".to_owned(),
        optional(meta.published.map(|p| p.at_ms)),
    );
    object.insert(
        "draft_changed_at_ms".to_owned(),
        optional(meta.draft_changed_at_ms),
    );
    Value::Object(object)
}

/// `GET /pages`: the homepage (always), then the landing pages by slug, at most
/// [`MAX_PAGES`] in all.
fn list(kv: &impl Kv) -> HttpResponse {
    let mut pages = Vec::new();
    if let Some(home) = PageName::parse(HOME) {
        pages.push(listed(
            HOME.to_owned(),
            page::load_meta(kv, &home).unwrap_or_default(),
        ));
    }
    let mut after: Option<String> = None;
    'scan: loop {
        let batch = kv.scan(META_PREFIX, after.as_deref(), 100);
        let full = batch.len() >= 100;
        for (key, value) in batch {
            let name = key.strip_prefix(META_PREFIX).unwrap_or_default().to_owned();
            after = Some(key);
            if PageName::landing(&name).is_none() {
                continue;
            }
            let meta: Meta = serde_json::from_slice(&value).unwrap_or_default();
            pages.push(listed(name, meta));
            if pages.len() >= MAX_PAGES {
                break 'scan;
            }
        }
        if !full {
            break;
        }
    }
    let mut body = Map::new();
    body.insert("pages".to_owned(), Value::Array(pages));
    ok(Value::Object(body))
}

/// A 200 answer with `body`, moved as it is.
fn ok(body: Value) -> HttpResponse {
    HttpResponse { status: 200, body }
}

/// The editor's state: `{page, draft, draft_changed_at_ms, published, versions,
/// section_types}`, built by moving its parts (a conversion would copy every layout).
fn editor(page: &PageName, parts: EditorParts, section_types: SectionTypes) -> HttpResponse {
    let published = parts.published.map_or(Value::Null, |published| {
        let mut object = Map::new();
        object.insert("version".to_owned(), Value::from(published.version));
        object.insert("at_ms".to_owned(), Value::from(published.at_ms));
        object.insert(
            "by".to_owned(),
            published.by.map_or(Value::Null, Value::from),
        );
        Value::Object(object)
    });
    let versions = parts
        .versions
        .into_iter()
        .map(|summary| {
            let mut object = Map::new();
            object.insert("version".to_owned(), Value::from(summary.version));
            object.insert("at_ms".to_owned(), Value::from(summary.at_ms));
            object.insert("by".to_owned(), summary.by.map_or(Value::Null, Value::from));
            object.insert("sections".to_owned(), Value::from(summary.sections));
            object.insert("title".to_owned(), Value::String(summary.title));
            Value::Object(object)
        })
        .collect();
    let mut body = Map::new();
    body.insert("page".to_owned(), Value::from(page.as_str()));
    body.insert("draft".to_owned(), parts.draft);
    body.insert(
        "draft_changed_at_ms".to_owned(),
        parts.draft_changed_at_ms.map_or(Value::Null, Value::from),
    );
    body.insert("published".to_owned(), published);
    body.insert("versions".to_owned(), Value::Array(versions));
    body.insert("section_types".to_owned(), types_value(section_types));
    ok(Value::Object(body))
}

/// The theme's section types as answered, moved rather than converted (they are the larger
/// part of the editor's answer).
fn types_value(types: SectionTypes) -> Value {
    let strings = |list: Vec<String>| Value::Array(list.into_iter().map(Value::String).collect());
    let sections = types
        .sections
        .into_iter()
        .map(|section| {
            let mut object = Map::new();
            object.insert("kind".to_owned(), Value::String(section.kind));
            object.insert("label".to_owned(), Value::String(section.label));
            object.insert(
                "settings".to_owned(),
                Value::Object(section.settings.into_iter().collect()),
            );
            object.insert("order".to_owned(), strings(section.order));
            Value::Object(object)
        })
        .collect();
    let colors = types
        .colors
        .into_iter()
        .map(|(name, value)| (name, Value::String(value)))
        .collect();
    let mut object = Map::new();
    object.insert("colors".to_owned(), Value::Object(colors));
    object.insert("sections".to_owned(), Value::Array(sections));
    Value::Object(object)
}

/// `PUT /pages/{page}/draft`: the layout checked against the theme and kept as the draft;
/// nothing is kept when any of it is refused.
fn save_draft(kv: &mut impl Kv, theme: &impl Theme, request: &HttpRequest) -> Answer {
    let page = named_page(request)?;
    // `?if_changed_at_ms=` (the draft's `draft_changed_at_ms` as the editor read it, `none`
    // for no draft yet): a draft someone saved meanwhile is not written over.
    if let Some(expected) = request.query.get("if_changed_at_ms") {
        let current = page::load_meta(kv, &page).and_then(|meta| meta.draft_changed_at_ms);
        let unchanged =
            current.map_or_else(|| expected == "none", |ms| *expected == ms.to_string());
        if !unchanged {
            return Err(HttpResponse::error(
                409,
                "changed_meanwhile",
                None,
                "草稿刚被他人修改，请刷新后再改 (the draft changed meanwhile; reload it)",
            ));
        }
    }
    let types = theme.section_types();
    let checked = layout::check(&request.body, theme, &types).map_err(|refusal| {
        HttpResponse::error(
            422,
            "invalid_layout",
            Some(&refusal.field),
            &refusal.message,
        )
    })?;
    if !page.is_home() && !page::exists(kv, &page) {
        let home_key = format!("{META_PREFIX}{HOME}");
        let kept = kv
            .keys(META_PREFIX, 100, MAX_PAGES)
            .iter()
            .filter(|key| **key != home_key)
            .count();
        if kept >= MAX_PAGES - 1 {
            return Err(HttpResponse::error(
                409,
                "too_many_pages",
                None,
                &format!(
                    "最多 {} 个活动页，请先删除不用的 (at most {} landing pages)",
                    MAX_PAGES - 1,
                    MAX_PAGES - 1
                ),
            ));
        }
    }
    let encoded = page::encode_draft(&checked, request.now_ms).map_err(storage_failed)?;
    layout::check_size(encoded.len()).map_err(|refusal| {
        HttpResponse::error(
            422,
            "invalid_layout",
            Some(&refusal.field),
            &refusal.message,
        )
    })?;
    let parts =
        page::save_draft(kv, &page, checked, &encoded, request.now_ms).map_err(storage_failed)?;
    Ok(editor(&page, parts, types))
}

/// `POST /pages/{page}/publish`: the draft becomes the next version and the published one.
fn publish(kv: &mut impl Kv, theme: &impl Theme, request: &HttpRequest) -> Answer {
    let page = named_page(request)?;
    match page::publish(kv, &page, request.caller.user_id, request.now_ms) {
        Ok(Some(parts)) => Ok(editor(&page, parts, theme.section_types())),
        Ok(None) => Err(HttpResponse::error(
            409,
            "no_draft",
            None,
            "还没有草稿可发布，请先保存 (no draft to publish: save one first)",
        )),
        Err(message) => Err(storage_failed(message)),
    }
}

/// `POST /pages/{page}/rollback/{version}`: a kept version published again.
fn rollback(kv: &mut impl Kv, theme: &impl Theme, request: &HttpRequest) -> Answer {
    let page = named_page(request)?;
    let text = request
        .params
        .get("version")
        .map(String::as_str)
        .unwrap_or_default();
    let version: u64 = text
        .parse()
        .ok()
        .filter(|v| *v > 0 && text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            HttpResponse::error(
                422,
                "invalid_input",
                Some("version"),
                "version: 版本号须为正整数 (a positive integer)",
            )
        })?;
    let no_such_version = || {
        HttpResponse::error(
            404,
            "no_such_version",
            None,
            &format!("没有第 {version} 版 (no version {version} of this page)"),
        )
    };
    let version = u32::try_from(version).map_err(|_| no_such_version())?;
    let parts = page::rollback(kv, &page, version)
        .map_err(storage_failed)?
        .ok_or_else(no_such_version)?;
    Ok(editor(&page, parts, theme.section_types()))
}

/// `DELETE /pages/{page}`: a landing page gone, with its versions (the homepage stays).
fn delete(kv: &mut impl Kv, request: &HttpRequest) -> Answer {
    let page = named_page(request)?;
    if page.is_home() {
        return Err(HttpResponse::error(
            422,
            "invalid_input",
            Some("page"),
            "page: 首页不能删除 (the homepage cannot be deleted)",
        ));
    }
    match page::delete(kv, &page).map_err(storage_failed)? {
        Deleted::Nothing => Err(page_not_found()),
        Deleted::All => Ok(HttpResponse::json(200, json!({ "deleted": page.as_str() }))),
        Deleted::Partly { remaining_versions } => Ok(HttpResponse::json(
            200,
            json!({ "deleted": page.as_str(), "remaining_versions": remaining_versions }),
        )),
    }
}

fn load_pictures(kv: &impl Kv) -> Vec<String> {
    kv.get_json(PICTURES_KEY).unwrap_or_default()
}

/// `POST /pictures`: the picture the kernel stored, first in the list (once).
fn add_picture(kv: &mut impl Kv, request: &HttpRequest) -> Answer {
    let picture: Picture = serde_json::from_value(request.body.clone())
        .ok()
        .filter(|picture: &Picture| {
            picture.url.starts_with(PICTURE_PREFIX)
                && picture.url.len() > PICTURE_PREFIX.len()
                && picture.url.chars().count() <= MAX_PICTURE_URL_CHARS
        })
        .ok_or_else(|| {
            HttpResponse::error(
                422,
                "invalid_input",
                Some("url"),
                "url: 不是本店的图片地址 (not a picture of this shop)",
            )
        })?;
    let mut pictures = load_pictures(kv);
    pictures.retain(|url| *url != picture.url);
    pictures.insert(0, picture.url.clone());
    pictures.truncate(MAX_PICTURES);
    kv.put_json(PICTURES_KEY, &pictures)
        .map_err(storage_failed)?;
    Ok(HttpResponse::json(201, picture))
}

/// `GET /pictures`: the uploaded pictures, newest first.
fn pictures(kv: &impl Kv) -> HttpResponse {
    let pictures = load_pictures(kv).into_iter().map(Value::String).collect();
    let mut body = Map::new();
    body.insert("pictures".to_owned(), Value::Array(pictures));
    ok(Value::Object(body))
}

/// The `{page}` parameter: `home` or a landing page's slug.
fn named_page(request: &HttpRequest) -> Result<PageName, HttpResponse> {
    request
        .params
        .get("page")
        .and_then(|page| PageName::parse(page))
        .ok_or_else(page_not_found)
}

fn page_not_found() -> HttpResponse {
    HttpResponse::error(404, "page_not_found", None, "没有这个页面 (no such page)")
}

fn not_published() -> HttpResponse {
    HttpResponse::error(
        404,
        "not_published",
        None,
        "页面尚未发布 (the page is not published)",
    )
}

/// The kernel's kv refused a write: nothing the caller can fix, so a 500 naming the cause.
fn storage_failed(message: String) -> HttpResponse {
    HttpResponse::error(
        500,
        "storage_failed",
        None,
        &format!("保存失败 (saving failed): {message}"),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use pifa_sdk::Caller;
    use serde_json::{Value, json};

    use super::*;
    use crate::theme::FakeTheme;
    use pifa_sdk::MemoryKv;

    const NOW: i64 = 1_767_240_000_000;

    fn request(method: &str, route: &str, params: &[(&str, &str)], body: Value) -> HttpRequest {
        HttpRequest {
            method: method.to_owned(),
            route: route.to_owned(),
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            query: BTreeMap::new(),
            body,
            caller: Caller {
                user_id: Some(7),
                roles: vec!["admin".to_owned()],
                member: None,
                sees_prices: true,
            },
            now_ms: NOW,
            settings: Value::Null,
        }
    }

    fn call(
        kv: &mut MemoryKv,
        method: &str,
        route: &str,
        params: &[(&str, &str)],
        body: Value,
    ) -> HttpResponse {
        handle(kv, &FakeTheme, &request(method, route, params, body))
    }

    fn save(kv: &mut MemoryKv, page: &str, body: Value) -> HttpResponse {
        call(kv, "PUT", "/pages/{page}/draft", &[("page", page)], body)
    }

    fn publish(kv: &mut MemoryKv, page: &str) -> HttpResponse {
        call(
            kv,
            "POST",
            "/pages/{page}/publish",
            &[("page", page)],
            Value::Null,
        )
    }

    fn public_home(kv: &mut MemoryKv) -> HttpResponse {
        let mut public = request("GET", "/home", &[], Value::Null);
        public.caller = Caller::default();
        handle(kv, &FakeTheme, &public)
    }

    fn goods(count: i64) -> Value {
        json!({"title": "热销", "sections": [{"kind": "goods", "settings": {"count": count}}]})
    }

    fn error_of(response: &HttpResponse) -> (&str, Option<&str>) {
        (
            response.body["error"]["code"].as_str().unwrap_or_default(),
            response.body["error"]["field"].as_str(),
        )
    }

    #[test]
    fn a_saved_draft_published_is_what_the_homepage_answers() {
        let mut kv = MemoryKv::default();
        assert_eq!(error_of(&public_home(&mut kv)), ("not_published", None));
        assert_eq!(public_home(&mut kv).status, 404);

        let saved = save(
            &mut kv,
            "home",
            json!({"title": "批发首页", "colors": {"primary": "#ff0000"}, "sections": [{"kind": "goods", "settings": {"title": "新品"}}], "draft": true}),
        );
        assert_eq!(saved.status, 200, "{}", saved.body);
        assert_eq!(saved.body["page"], "home");
        assert_eq!(saved.body["draft"]["draft"], true);
        assert_eq!(
            saved.body["draft"]["sections"][0]["settings"],
            json!({"count": 12, "title": "新品"})
        );
        assert_eq!(saved.body["draft_changed_at_ms"], NOW);
        assert_eq!(saved.body["published"], Value::Null);
        assert_eq!(saved.body["versions"], json!([]));
        assert_eq!(saved.body["section_types"]["sections"][0]["kind"], "goods");
        let stored: Value = serde_json::from_slice(&kv.values["draft:home"]).unwrap();
        assert_eq!(stored["draft"], false);
        assert_eq!(stored["changed_at_ms"], NOW);
        assert_eq!(public_home(&mut kv).status, 404, "a draft is not published");

        let published = publish(&mut kv, "home");
        assert_eq!(published.status, 200, "{}", published.body);
        assert_eq!(
            published.body["published"],
            json!({"version": 1, "at_ms": NOW, "by": 7})
        );
        assert_eq!(
            published.body["versions"],
            json!([{"version": 1, "at_ms": NOW, "by": 7, "sections": 1, "title": "批发首页"}])
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&kv.values["published:home"]).unwrap(),
            json!(1)
        );
        let record: Value = serde_json::from_slice(&kv.values["version:home:00000001"]).unwrap();
        assert_eq!(record["by"], 7);
        assert_eq!(record["at_ms"], NOW);

        let home = public_home(&mut kv);
        assert_eq!(home.status, 200);
        assert_eq!(
            home.body,
            json!({
                "title": "批发首页",
                "colors": {"primary": "#ff0000"},
                "sections": [{"kind": "goods", "settings": {"count": 12, "title": "新品"}}],
                "draft": false
            })
        );
    }

    #[test]
    fn publishing_twice_makes_version_two_and_rollback_brings_one_back() {
        let mut kv = MemoryKv::default();
        save(&mut kv, "home", goods(5));
        assert_eq!(publish(&mut kv, "home").body["published"]["version"], 1);
        save(&mut kv, "home", goods(30));
        let second = publish(&mut kv, "home");
        assert_eq!(second.body["published"]["version"], 2);
        let versions: Vec<i64> = second.body["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect();
        assert_eq!(versions, vec![2, 1]);
        assert_eq!(
            public_home(&mut kv).body["sections"][0]["settings"]["count"],
            30
        );

        let rolled = call(
            &mut kv,
            "POST",
            "/pages/{page}/rollback/{version}",
            &[("page", "home"), ("version", "1")],
            Value::Null,
        );
        assert_eq!(rolled.status, 200, "{}", rolled.body);
        assert_eq!(rolled.body["published"]["version"], 1);
        assert_eq!(
            rolled.body["draft"]["sections"][0]["settings"]["count"], 30,
            "the draft stays"
        );
        assert_eq!(
            public_home(&mut kv).body["sections"][0]["settings"]["count"],
            5
        );

        // Publishing after a rollback makes a new version, after the newest.
        assert_eq!(publish(&mut kv, "home").body["published"]["version"], 3);
        assert_eq!(
            public_home(&mut kv).body["sections"][0]["settings"]["count"],
            30
        );

        for (version, code, status) in [
            ("9", "no_such_version", 404),
            ("99999999999", "no_such_version", 404),
            ("0", "invalid_input", 422),
            ("-1", "invalid_input", 422),
            ("+1", "invalid_input", 422),
            ("abc", "invalid_input", 422),
        ] {
            let refused = call(
                &mut kv,
                "POST",
                "/pages/{page}/rollback/{version}",
                &[("page", "home"), ("version", version)],
                Value::Null,
            );
            assert_eq!(refused.status, status, "{version}");
            assert_eq!(error_of(&refused).0, code, "{version}");
            if status == 422 {
                assert_eq!(error_of(&refused).1, Some("version"));
            }
        }
    }

    #[test]
    fn a_refused_section_names_its_field_and_stores_nothing() {
        let mut kv = MemoryKv::default();
        let body = json!({"sections": [
            {"kind": "goods"},
            {"kind": "rich_text", "settings": {"html": "<p>hi</p>"}},
            {"kind": "goods", "settings": {"count": 41}}
        ]});
        let refused = save(&mut kv, "home", body);
        assert_eq!(refused.status, 422);
        assert_eq!(
            error_of(&refused),
            ("invalid_layout", Some("sections[2].count"))
        );
        assert_eq!(
            refused.body["error"]["message"],
            "显示数量须为 1 到 40 (1 to 40)"
        );
        let unknown = save(&mut kv, "spring", json!({"sections": [{"kind": "video"}]}));
        assert_eq!(
            error_of(&unknown),
            ("invalid_layout", Some("sections[0].kind"))
        );
        assert!(
            kv.values.is_empty(),
            "nothing stored: {:?}",
            kv.values.keys()
        );
    }

    #[test]
    fn a_colour_the_theme_does_not_have_is_refused() {
        let mut kv = MemoryKv::default();
        let refused = save(
            &mut kv,
            "home",
            json!({"colors": {"x": "#ffffff"}, "sections": []}),
        );
        assert_eq!(refused.status, 422);
        assert_eq!(error_of(&refused), ("invalid_layout", Some("colors.x")));
        let refused = save(
            &mut kv,
            "home",
            json!({"colors": {"price": "crimson"}, "sections": []}),
        );
        assert_eq!(error_of(&refused), ("invalid_layout", Some("colors.price")));
        let refused = save(
            &mut kv,
            "home",
            json!({"title": "标".repeat(41), "sections": []}),
        );
        assert_eq!(error_of(&refused), ("invalid_layout", Some("title")));
        assert!(kv.values.is_empty());
    }

    #[test]
    fn the_preview_shows_the_draft_while_the_storefront_shows_the_published_page() {
        let mut kv = MemoryKv::default();
        let preview = call(
            &mut kv,
            "GET",
            "/preview/{page}",
            &[("page", "home")],
            Value::Null,
        );
        assert_eq!(preview.status, 200);
        assert_eq!(
            preview.body,
            json!({"title": "", "colors": {}, "sections": [], "draft": true})
        );

        save(&mut kv, "home", goods(3));
        publish(&mut kv, "home");
        save(&mut kv, "home", goods(20));
        let preview = call(
            &mut kv,
            "GET",
            "/preview/{page}",
            &[("page", "home")],
            Value::Null,
        );
        assert_eq!(preview.status, 200);
        assert_eq!(preview.body["draft"], true);
        assert_eq!(preview.body["sections"][0]["settings"]["count"], 20);
        let home = public_home(&mut kv);
        assert_eq!(home.body["draft"], false);
        assert_eq!(home.body["sections"][0]["settings"]["count"], 3);

        for page in ["spring", "preview", "Bad"] {
            let missing = call(
                &mut kv,
                "GET",
                "/preview/{page}",
                &[("page", page)],
                Value::Null,
            );
            assert_eq!(missing.status, 404, "{page}");
            assert_eq!(error_of(&missing).0, "page_not_found");
        }
    }

    #[test]
    fn landing_pages_are_created_by_saving_and_served_once_published() {
        let mut kv = MemoryKv::default();
        let landing = |kv: &mut MemoryKv, slug: &str| {
            call(kv, "GET", "/landing/{slug}", &[("slug", slug)], Value::Null)
        };
        assert_eq!(error_of(&landing(&mut kv, "spring")).0, "page_not_found");
        let empty = call(
            &mut kv,
            "GET",
            "/pages/{page}",
            &[("page", "spring")],
            Value::Null,
        );
        assert_eq!(
            empty.status, 200,
            "an unknown landing page is an empty draft"
        );
        assert_eq!(empty.body["draft"]["sections"], json!([]));
        assert_eq!(empty.body["published"], Value::Null);
        for page in ["preview", "-x", "UPPER"] {
            let refused = call(
                &mut kv,
                "GET",
                "/pages/{page}",
                &[("page", page)],
                Value::Null,
            );
            assert_eq!(error_of(&refused).0, "page_not_found", "{page}");
        }
        assert!(kv.values.is_empty());

        save(
            &mut kv,
            "spring",
            json!({"title": "春季", "sections": [{"kind": "rich_text"}]}),
        );
        assert_eq!(error_of(&landing(&mut kv, "spring")).0, "not_published");
        assert_eq!(error_of(&landing(&mut kv, "home")).0, "page_not_found");
        assert_eq!(error_of(&landing(&mut kv, "preview")).0, "page_not_found");
        assert_eq!(error_of(&publish(&mut kv, "summer")), ("no_draft", None));
        publish(&mut kv, "spring");
        let shown = landing(&mut kv, "spring");
        assert_eq!(shown.status, 200);
        assert_eq!(shown.body["title"], "春季");
        assert_eq!(
            public_home(&mut kv).status,
            404,
            "the homepage is its own page"
        );

        save(&mut kv, "autumn", goods(1));
        save(&mut kv, "home", goods(2));
        let listed = call(&mut kv, "GET", "/pages", &[], Value::Null);
        assert_eq!(
            listed.body,
            json!({"pages": [
                {"page": "home", "title": "热销", "published_version": null, "published_at_ms": null, "draft_changed_at_ms": NOW},
                {"page": "autumn", "title": "热销", "published_version": null, "published_at_ms": null, "draft_changed_at_ms": NOW},
                {"page": "spring", "title": "春季", "published_version": 1, "published_at_ms": NOW, "draft_changed_at_ms": NOW}
            ]})
        );
    }

    #[test]
    fn the_list_always_has_the_homepage() {
        let mut kv = MemoryKv::default();
        let listed = call(&mut kv, "GET", "/pages", &[], Value::Null);
        assert_eq!(
            listed.body,
            json!({"pages": [{"page": "home", "title": "", "published_version": null, "published_at_ms": null, "draft_changed_at_ms": null}]})
        );
    }

    #[test]
    fn deleting_removes_a_landing_page_but_never_the_homepage() {
        let mut kv = MemoryKv::default();
        save(&mut kv, "home", goods(2));
        let refused = call(
            &mut kv,
            "DELETE",
            "/pages/{page}",
            &[("page", "home")],
            Value::Null,
        );
        assert_eq!(refused.status, 422);
        assert_eq!(error_of(&refused), ("invalid_input", Some("page")));
        assert!(kv.values.contains_key("draft:home"));

        save(&mut kv, "spring", goods(2));
        publish(&mut kv, "spring");
        publish(&mut kv, "spring");
        save(&mut kv, "spring-sale", goods(2));
        let deleted = call(
            &mut kv,
            "DELETE",
            "/pages/{page}",
            &[("page", "spring")],
            Value::Null,
        );
        assert_eq!(deleted.status, 200);
        assert_eq!(deleted.body, json!({"deleted": "spring"}));
        assert!(
            kv.values
                .keys()
                .all(|key| !key.ends_with(":spring") && !key.contains(":spring:")),
            "{:?}",
            kv.values.keys()
        );
        assert!(kv.values.contains_key("draft:spring-sale"));
        let again = call(
            &mut kv,
            "DELETE",
            "/pages/{page}",
            &[("page", "spring")],
            Value::Null,
        );
        assert_eq!(error_of(&again).0, "page_not_found");
    }

    #[test]
    fn a_page_with_many_versions_is_deleted_over_several_calls() {
        let mut kv = MemoryKv::default();
        save(&mut kv, "spring", goods(2));
        for _ in 0..120 {
            publish(&mut kv, "spring");
        }
        kv.writes_left = Some(100);
        let first = call(
            &mut kv,
            "DELETE",
            "/pages/{page}",
            &[("page", "spring")],
            Value::Null,
        );
        assert_eq!(first.status, 200, "{}", first.body);
        assert_eq!(first.body["remaining_versions"], 33);
        let landing = call(
            &mut kv,
            "GET",
            "/landing/{slug}",
            &[("slug", "spring")],
            Value::Null,
        );
        assert_eq!(
            error_of(&landing).0,
            "not_published",
            "off the storefront at once"
        );
        let editor = call(
            &mut kv,
            "GET",
            "/pages/{page}",
            &[("page", "spring")],
            Value::Null,
        );
        assert_eq!(editor.body["versions"].as_array().map(Vec::len), Some(20));
        assert_eq!(editor.body["versions"][0]["version"], 120);
        assert_eq!(editor.body["published"], Value::Null);
        let rollback = |kv: &mut MemoryKv, version: &str| {
            call(
                kv,
                "POST",
                "/pages/{page}/rollback/{version}",
                &[("page", "spring"), ("version", version)],
                Value::Null,
            )
        };
        assert_eq!(error_of(&rollback(&mut kv, "87")).0, "no_such_version");
        let back = rollback(&mut kv, "88");
        assert_eq!(back.status, 200, "{}", back.body);
        assert_eq!(
            back.body["published"],
            json!({"version": 88, "at_ms": NOW, "by": 7}),
            "a version older than the history, stamped from its record"
        );
        kv.writes_left = Some(100);
        let second = call(
            &mut kv,
            "DELETE",
            "/pages/{page}",
            &[("page", "spring")],
            Value::Null,
        );
        assert_eq!(second.body, json!({"deleted": "spring"}));
        assert!(kv.values.is_empty(), "{:?}", kv.values.keys());
    }

    #[test]
    fn landing_pages_are_kept_up_to_the_list_cap() {
        let mut kv = MemoryKv::default();
        save(&mut kv, "home", goods(1));
        for n in 0..MAX_PAGES - 1 {
            let saved = save(&mut kv, &format!("p{n:03}"), goods(1));
            assert_eq!(saved.status, 200, "{n}");
        }
        let refused = save(&mut kv, "one-more", goods(1));
        assert_eq!(refused.status, 409);
        assert_eq!(error_of(&refused).0, "too_many_pages");
        assert_eq!(
            save(&mut kv, "p000", goods(2)).status,
            200,
            "an existing page saves"
        );
        let listed = call(&mut kv, "GET", "/pages", &[], Value::Null);
        assert_eq!(
            listed.body["pages"].as_array().map(Vec::len),
            Some(MAX_PAGES)
        );
    }

    #[test]
    fn pictures_are_listed_newest_first_once_each() {
        let mut kv = MemoryKv::default();
        for url in [
            "/api/v1/images/a.jpg",
            "/api/v1/images/b.png",
            "/api/v1/images/a.jpg",
        ] {
            let added = call(&mut kv, "POST", "/pictures", &[], json!({"url": url}));
            assert_eq!(added.status, 201);
            assert_eq!(added.body, json!({"url": url}));
        }
        let listed = call(&mut kv, "GET", "/pictures", &[], Value::Null);
        assert_eq!(
            listed.body,
            json!({"pictures": ["/api/v1/images/a.jpg", "/api/v1/images/b.png"]})
        );
        for n in 0..250 {
            call(
                &mut kv,
                "POST",
                "/pictures",
                &[],
                json!({"url": format!("/api/v1/images/{n}.jpg")}),
            );
        }
        let listed = call(&mut kv, "GET", "/pictures", &[], Value::Null);
        let pictures = listed.body["pictures"].as_array().unwrap();
        assert_eq!(pictures.len(), 200);
        assert_eq!(pictures[0], "/api/v1/images/249.jpg");
        let refused = call(
            &mut kv,
            "POST",
            "/pictures",
            &[],
            json!({"url": "https://elsewhere/x.jpg"}),
        );
        assert_eq!(error_of(&refused), ("invalid_input", Some("url")));
    }

    #[test]
    fn unknown_routes_are_not_found() {
        let mut kv = MemoryKv::default();
        let response = call(
            &mut kv,
            "PATCH",
            "/pages/{page}",
            &[("page", "home")],
            Value::Null,
        );
        assert_eq!(response.status, 404);
        assert_eq!(error_of(&response).0, "not_found");
    }

    #[test]
    fn a_draft_saved_meanwhile_is_not_written_over() {
        let mut kv = MemoryKv::default();
        let save_if = |kv: &mut MemoryKv, expected: &str, count: i64| {
            let mut put = request(
                "PUT",
                "/pages/{page}/draft",
                &[("page", "home")],
                goods(count),
            );
            put.query
                .insert("if_changed_at_ms".to_owned(), expected.to_owned());
            handle(kv, &FakeTheme, &put)
        };
        let first = save_if(&mut kv, "none", 3);
        assert_eq!(first.status, 200, "{:?}", first.body);
        let read_at = first.body["draft_changed_at_ms"].to_string();
        // Another tab saved since the editor read the draft: refused, nothing written.
        let stale = save_if(&mut kv, "none", 5);
        assert_eq!(error_of(&stale), ("changed_meanwhile", None));
        let fresh = save_if(&mut kv, &read_at, 7);
        assert_eq!(fresh.status, 200, "{:?}", fresh.body);
        assert_eq!(fresh.body["draft"]["sections"][0]["settings"]["count"], 7);
    }
}
