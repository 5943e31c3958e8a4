//! The themes as admins see them: which serves, which are installed, and why one was refused
//! (file, line and column), so a broken edit is found without reading the server's log.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Refusal, ThemeHost};
use crate::accounts::permissions::{Actor, Permission};
use crate::error::ApiResult;
use crate::shop::Shop;

/// What the themes' handlers work with (`FromRef` from the app's state).
#[derive(Clone)]
pub struct ThemesState {
    pub shop: Shop,
    pub themes: Arc<ThemeHost>,
}

/// An installed theme, serving.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstalledTheme {
    /// The folder's name: what `PIFA_THEME` and the `theme` setting name.
    pub id: String,
    pub name: String,
    pub version: String,
    pub description: String,
    /// `storefront` (what the `theme` setting chooses among) or `office` (the back office).
    pub kind: super::manifest::ThemeKind,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ThemesStatus {
    /// The theme pages are served with now.
    pub active: String,
    /// The shop's `theme` setting, if it chooses one.
    pub chosen: Option<String>,
    /// `PIFA_THEME`: the theme when the setting chooses none.
    pub default: String,
    pub installed: Vec<InstalledTheme>,
    /// Themes the last load or reload refused; one that served before keeps serving its last
    /// good version.
    pub refused: Vec<Refusal>,
}

/// The themes: the one serving, the ones installed, and the last refusals with file, line and
/// column (admin).
#[utoipa::path(get, path = "/admin/theme", tag = "themes",
    responses((status = 200, body = ThemesStatus)), security(("bearer" = [])))]
pub async fn status(
    State(state): State<ThemesState>,
    actor: Actor,
) -> ApiResult<Json<ThemesStatus>> {
    actor.require(Permission::ManageSettings)?;
    let chosen = state.shop.store.settings().current().await?.theme;
    let set = state.themes.current();
    let active = state
        .themes
        .active(chosen.as_deref())
        .map(|t| t.id.clone())
        .unwrap_or_default();
    Ok(Json(ThemesStatus {
        active,
        chosen,
        default: state.themes.default.clone(),
        installed: set
            .themes
            .values()
            .map(|theme| InstalledTheme {
                id: theme.id.clone(),
                name: theme.manifest.name.clone(),
                version: theme.manifest.version.clone(),
                description: theme.manifest.description.clone(),
                kind: theme.manifest.kind,
            })
            .collect(),
        refused: set.refused.clone(),
    }))
}
