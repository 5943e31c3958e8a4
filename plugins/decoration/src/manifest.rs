//! What decoration declares to the kernel: `handle-http`, the kv it keeps pages in, `pages`
//! (the theme's sections, and its mounts on the storefront), `pictures` (its upload route),
//! and its routes with their schemas (the kernel publishes them in the OpenAPI document and
//! checks the roles before calling).

use pifa_sdk::{Capability, Hook, Manifest, Route};
use serde_json::{Value, json};

use crate::http::MAX_PICTURES;
use crate::layout::{MAX_SECTIONS, MAX_TITLE_CHARS};
use crate::page::{MAX_HISTORY, MAX_PAGES};

/// How long the kernel keeps a published page's answer: a publish clears it at once.
const SHARED_SECONDS: u32 = 60;

pub fn manifest() -> Manifest {
    Manifest {
        capabilities: vec![Capability::Kv, Capability::Pages, Capability::Pictures],
        routes: routes(),
        ..pifa_sdk::manifest("decoration", env!("CARGO_PKG_VERSION"), &[Hook::HandleHttp])
    }
}

fn routes() -> Vec<Route> {
    let public = ["public".to_owned()];
    let admin = ["admin".to_owned()];
    let route = |method: &str,
                 path: &str,
                 roles: &[String],
                 summary: &str,
                 request: Option<Value>,
                 response: Value| Route {
        method: method.to_owned(),
        path: path.to_owned(),
        roles: roles.to_vec(),
        summary: summary.to_owned(),
        request_schema: request,
        response_schema: Some(response),
        ..Route::default()
    };
    vec![
        // The same for every viewer (the kernel draws the prices), so kept a minute; a
        // publish stores a value, which clears the kept answers at once.
        Route {
            mount: Some("/".to_owned()),
            shared_seconds: SHARED_SECONDS,
            ..route(
                "GET",
                "/home",
                &public,
                "已发布的首页布局（未发布时 404，店铺显示默认首页）",
                None,
                layout_schema(),
            )
        },
        Route {
            mount: Some("/pages/{slug}".to_owned()),
            shared_seconds: SHARED_SECONDS,
            ..route(
                "GET",
                "/landing/{slug}",
                &public,
                "已发布的活动页布局",
                None,
                layout_schema(),
            )
        },
        Route {
            mount: Some("/pages/preview/{page}".to_owned()),
            ..route(
                "GET",
                "/preview/{page}",
                &admin,
                "预览页面草稿（draft 为 true）",
                None,
                layout_schema(),
            )
        },
        route(
            "GET",
            "/pages",
            &admin,
            "页面列表：首页在前，活动页按地址排序",
            None,
            list_schema(),
        ),
        route(
            "GET",
            "/pages/{page}",
            &admin,
            "编辑器：页面草稿、已发布版本、历史版本和主题的版块类型",
            None,
            editor_schema(),
        ),
        route(
            "PUT",
            "/pages/{page}/draft",
            &admin,
            "保存页面草稿（按主题的版块设置校验）",
            Some(layout_schema()),
            editor_schema(),
        ),
        route(
            "POST",
            "/pages/{page}/publish",
            &admin,
            "发布草稿为新版本",
            None,
            editor_schema(),
        ),
        route(
            "POST",
            "/pages/{page}/rollback/{version}",
            &admin,
            "回滚：重新发布保留的某个版本",
            None,
            editor_schema(),
        ),
        route(
            "DELETE",
            "/pages/{page}",
            &admin,
            "删除活动页及其全部版本（首页不能删除）",
            None,
            json!({
                "type": "object",
                "required": ["deleted"],
                "properties": {
                    "deleted": { "type": "string" },
                    "remaining_versions": {
                        "type": "integer",
                        "description": "Versions still kept when there were too many for one call: delete again"
                    }
                }
            }),
        ),
        Route {
            picture: true,
            ..route(
                "POST",
                "/pictures",
                &admin,
                "上传装修图片（请求体为图片）",
                None,
                picture_schema(),
            )
        },
        route(
            "GET",
            "/pictures",
            &admin,
            "已上传的装修图片，最新的在前",
            None,
            json!({
                "type": "object",
                "required": ["pictures"],
                "properties": {
                    "pictures": { "type": "array", "maxItems": MAX_PICTURES, "items": { "type": "string" } }
                }
            }),
        ),
    ]
}

fn layout_schema() -> Value {
    json!({
        "type": "object",
        "required": ["sections"],
        "properties": {
            "title": { "type": "string", "maxLength": MAX_TITLE_CHARS, "description": "Empty for the shop's name" },
            "colors": {
                "type": "object",
                "description": "Theme colour name → #rgb or #rrggbb, over the theme's",
                "additionalProperties": { "type": "string", "pattern": "^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$" }
            },
            "sections": {
                "type": "array",
                "maxItems": MAX_SECTIONS,
                "items": {
                    "type": "object",
                    "required": ["kind"],
                    "properties": {
                        "kind": { "type": "string", "description": "One of the theme's section types" },
                        "settings": { "type": "object", "description": "As the section type's schema says" }
                    }
                }
            },
            "draft": { "type": "boolean", "description": "A draft staff are looking at (ignored when saving)" }
        }
    })
}

fn published_schema() -> Value {
    json!({
        "type": "object",
        "required": ["version", "at_ms", "by"],
        "properties": {
            "version": { "type": "integer", "minimum": 1 },
            "at_ms": { "type": "integer", "description": "When it was published (epoch ms)" },
            "by": { "type": ["integer", "null"], "description": "The user who published it" }
        }
    })
}

fn editor_schema() -> Value {
    json!({
        "type": "object",
        "required": ["page", "draft", "draft_changed_at_ms", "published", "versions", "section_types"],
        "properties": {
            "page": { "type": "string", "description": "home, or a landing page's slug" },
            "draft": layout_schema(),
            "draft_changed_at_ms": { "type": ["integer", "null"] },
            "published": { "oneOf": [published_schema(), { "type": "null" }] },
            "versions": {
                "type": "array",
                "maxItems": MAX_HISTORY,
                "description": "Newest first",
                "items": {
                    "type": "object",
                    "required": ["version", "at_ms", "by", "sections", "title"],
                    "properties": {
                        "version": { "type": "integer", "minimum": 1 },
                        "at_ms": { "type": "integer" },
                        "by": { "type": ["integer", "null"] },
                        "sections": { "type": "integer", "description": "How many sections" },
                        "title": { "type": "string" }
                    }
                }
            },
            "section_types": {
                "type": "object",
                "description": "The active theme's section types (settings schema by type) and colour names",
                "properties": {
                    "colors": { "type": "object", "additionalProperties": { "type": "string" } },
                    "sections": { "type": "array", "items": { "type": "object" } }
                }
            }
        }
    })
}

fn list_schema() -> Value {
    json!({
        "type": "object",
        "required": ["pages"],
        "properties": {
            "pages": {
                "type": "array",
                "maxItems": MAX_PAGES,
                "items": {
                    "type": "object",
                    "required": ["page", "title", "published_version", "published_at_ms", "draft_changed_at_ms"],
                    "properties": {
                        "page": { "type": "string" },
                        "title": { "type": "string" },
                        "published_version": { "type": ["integer", "null"] },
                        "published_at_ms": { "type": ["integer", "null"] },
                        "draft_changed_at_ms": { "type": ["integer", "null"] }
                    }
                }
            }
        }
    })
}

fn picture_schema() -> Value {
    json!({
        "type": "object",
        "required": ["url"],
        "properties": {
            "url": { "type": "string", "description": "Where the picture is served: what an image setting holds" }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_declares_the_hook_the_capabilities_and_eleven_routes() {
        let manifest = manifest();
        assert_eq!(manifest.name, "decoration");
        assert_eq!(manifest.api, pifa_sdk::API_VERSION);
        assert_eq!(manifest.hooks, vec![Hook::HandleHttp]);
        assert_eq!(
            manifest.capabilities,
            vec![Capability::Kv, Capability::Pages, Capability::Pictures]
        );
        assert!(manifest.settings_schema.is_none());
        let routes: Vec<(&str, &str, Option<&str>)> = manifest
            .routes
            .iter()
            .map(|r| (r.method.as_str(), r.path.as_str(), r.mount.as_deref()))
            .collect();
        assert_eq!(
            routes,
            vec![
                ("GET", "/home", Some("/")),
                ("GET", "/landing/{slug}", Some("/pages/{slug}")),
                ("GET", "/preview/{page}", Some("/pages/preview/{page}")),
                ("GET", "/pages", None),
                ("GET", "/pages/{page}", None),
                ("PUT", "/pages/{page}/draft", None),
                ("POST", "/pages/{page}/publish", None),
                ("POST", "/pages/{page}/rollback/{version}", None),
                ("DELETE", "/pages/{page}", None),
                ("POST", "/pictures", None),
                ("GET", "/pictures", None),
            ]
        );
        for route in &manifest.routes {
            assert!(!route.summary.is_empty(), "{}", route.path);
            let public = route.roles == vec!["public".to_owned()];
            assert!(public || route.roles == vec!["admin".to_owned()]);
            // The kernel keeps answers only of public GET routes.
            assert_eq!(route.shared_seconds > 0, public, "{}", route.path);
            assert_eq!(
                route.picture,
                route.path == "/pictures" && route.method == "POST"
            );
        }
        assert_eq!(manifest.routes[0].shared_seconds, 60);
    }
}
