//! Pages plugins compose (capability `pages`): the `pages` host interface, which tells a
//! plugin the active theme's section types and checks a section's settings against them, and
//! the storefront paths plugins `mount` pages at. The theme host answers for the sections
//! (`PageSections`, implemented where the themes live); the kernel's page handlers draw what
//! a mounted route answers.

use std::sync::Arc;

use pifa_sdk::{FieldError, Route, SectionTypes};
use serde_json::Value;

/// The active storefront theme's section types, as the plugins' `pages` interface serves
/// them. `chosen` is the shop's `theme` setting.
pub trait PageSections: Send + Sync {
    fn section_types(&self, chosen: Option<&str>) -> SectionTypes;
    fn check_section(
        &self,
        chosen: Option<&str>,
        kind: &str,
        settings: &Value,
    ) -> Result<Value, FieldError>;
}

/// Where a page may be mounted: the homepage, or a path under `/pages/` of literal and
/// `{param}` segments (the kernel's own storefront paths stay the kernel's).
pub fn is_mount(mount: &str) -> bool {
    if mount == "/" {
        return true;
    }
    let Some(rest) = mount.strip_prefix("/pages/") else {
        return false;
    };
    rest.split('/').all(|segment| {
        let inner = segment
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or(segment);
        !inner.is_empty()
            && inner
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

/// The route's own path for the storefront `path` its `mount` matches, its parameters
/// filled in (`/pages/{slug}` on `/landing/{slug}`: `/pages/spring` → `/landing/spring`).
pub fn route_path_for(route: &Route, path: &str) -> Option<String> {
    let mount = route.mount.as_deref()?;
    let want: Vec<&str> = mount.split('/').filter(|s| !s.is_empty()).collect();
    let got: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if want.len() != got.len() {
        return None;
    }
    let mut params = std::collections::BTreeMap::new();
    for (w, g) in want.iter().zip(&got) {
        match w.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                // A parameter is one plain segment: what a route's own matcher takes.
                if g.is_empty()
                    || !g
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return None;
                }
                params.insert(name, *g);
            }
            None if w == g => {}
            None => return None,
        }
    }
    let filled: Vec<String> = route
        .path
        .split('/')
        .skip(1)
        .map(|segment| {
            segment
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .and_then(|name| params.get(name))
                .map_or_else(|| segment.to_owned(), |value| (*value).to_owned())
        })
        .collect();
    Some(format!("/{}", filled.join("/")))
}

/// A mount of `plugin` that an earlier plugin already holds, and that plugin's name. Two
/// mounts clash when they match the same paths (`/pages/{a}` and `/pages/{b}` do).
pub fn taken_mount(
    earlier: &[Arc<super::Loaded>],
    plugin: &super::Loaded,
) -> Option<(String, String)> {
    let shape = |mount: &str| -> Vec<String> {
        mount
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "{}".to_owned()
                } else {
                    s.to_owned()
                }
            })
            .collect()
    };
    plugin
        .manifest
        .routes
        .iter()
        .filter_map(|r| r.mount.as_deref())
        .find_map(|mount| {
            earlier.iter().find_map(|other| {
                other
                    .manifest
                    .routes
                    .iter()
                    .filter_map(|r| r.mount.as_deref())
                    .any(|theirs| shape(theirs) == shape(mount))
                    .then(|| (mount.to_owned(), other.name().to_owned()))
            })
        })
}

/// What the host interface reaches: the sections, once the app has a theme host.
pub type Sections = Arc<dyn PageSections>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_are_the_homepage_or_under_pages() {
        for good in [
            "/",
            "/pages/{slug}",
            "/pages/preview/{page}",
            "/pages/spring",
        ] {
            assert!(is_mount(good), "{good}");
        }
        for bad in [
            "/cart",
            "/pages/",
            "/pages//x",
            "/admin/x",
            "",
            "/pages/a b",
        ] {
            assert!(!is_mount(bad), "{bad}");
        }
    }

    #[test]
    fn a_mount_fills_the_routes_parameters() {
        let route = Route {
            method: "GET".to_owned(),
            path: "/landing/{slug}".to_owned(),
            mount: Some("/pages/{slug}".to_owned()),
            ..Route::default()
        };
        assert_eq!(
            route_path_for(&route, "/pages/spring").as_deref(),
            Some("/landing/spring")
        );
        assert_eq!(route_path_for(&route, "/pages/a/b"), None);
        assert_eq!(route_path_for(&route, "/pages/%2e%2e"), None);
        let home = Route {
            mount: Some("/".to_owned()),
            path: "/home".to_owned(),
            ..route
        };
        assert_eq!(route_path_for(&home, "/").as_deref(), Some("/home"));
    }
}
