//! The theme host (REQUIREMENTS J2, M5; issue 18): the storefront's pages are minijinja
//! templates in a theme folder, `themes/<id>/` with `theme.toml`, `templates/` and `assets/`,
//! so the words and the look of the shop belong to the theme and change without a release.
//!
//! Why it is shaped so:
//! - **A theme is checked whole before it serves.** Every template is parsed and every page
//!   template rendered against the samples of `views` (built from the same types the pages
//!   fill), under the undefined behaviour that refuses an unknown field: a typo fails at
//!   `pifa themes check` or at reload, naming `theme/templates/file:line:column`, not on a
//!   customer's phone.
//! - **A broken theme never takes the shop down.** A reload builds the new set aside and
//!   swaps it in (`ArcSwap`) theme by theme; a theme that fails keeps its last good version
//!   serving, and the refusal is logged and kept for the admins (`GET /admin/theme`). Only a
//!   start with nothing good to serve fails.
//! - **Output is HTML-escaped whatever the template's name** (a `.txt` or `.svg` included into
//!   a page too), and each render runs on fuel, so a loop that does not end is stopped.
//! - **Assets are fingerprinted** (`/assets/<id>/css/app.1a2b3c4d.css`, from the content's
//!   SHA-256): served with a year's immutable cache, and a changed file is a new URL.
//! - **Themes know nothing of requests.** `crate::pages` (assembly) reads the request, calls
//!   the domain and fills the views; this module only loads, checks and renders.

pub mod admin;
pub mod manifest;
pub mod office;
pub mod screens;
pub mod sections;
pub mod theme;
pub mod views;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde::Serialize;

use manifest::ThemeKind;

pub use theme::{Asset, Place, Theme, ThemeError};

/// A theme that was refused, as admins and the log see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Refusal {
    /// The theme's folder name.
    pub theme: String,
    /// The file, relative to the themes directory.
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The whole reason, starting with `file:line:column`.
    pub message: String,
}

impl Refusal {
    fn of(theme: &str, error: &ThemeError) -> Refusal {
        let place = error.place();
        Refusal {
            theme: theme.to_owned(),
            file: place.file,
            line: place.line,
            column: place.column,
            message: error.to_string(),
        }
    }
}

/// The themes serving, by folder name, and the ones the last load or reload refused.
#[derive(Debug, Default)]
pub struct ThemeSet {
    pub themes: BTreeMap<String, Arc<Theme>>,
    /// Refused by the last load or reload (a theme here may still serve its last good
    /// version, in `themes`).
    pub refused: Vec<Refusal>,
}

/// The theme folders under `dir` (each directory with a `theme.toml`), sorted.
pub fn theme_ids(dir: &Path) -> Result<Vec<String>, ThemeError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ThemeError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut ids: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("theme.toml").is_file())
        .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
        .collect();
    ids.sort();
    Ok(ids)
}

/// Why the themes cannot serve at start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Dir(#[from] ThemeError),
    #[error("theme {chosen:?} is not in {}; installed: {}", .dir.display(), if .installed.is_empty() { "none".to_owned() } else { .installed.join(", ") })]
    NotInstalled {
        chosen: String,
        dir: PathBuf,
        installed: Vec<String>,
    },
    #[error("theme {chosen:?} does not load: {}", .refusals.iter().map(|r| r.message.as_str()).collect::<Vec<_>>().join("; "))]
    Broken {
        chosen: String,
        refusals: Vec<Refusal>,
    },
}

/// The themes of a directory, hot-reloaded; the one a request is served with is chosen per
/// request (`active`), from the shop's `theme` setting or else the default (`PIFA_THEME`).
pub struct ThemeHost {
    pub dir: PathBuf,
    /// `PIFA_THEME`: the theme when the settings choose none (or one no longer installed).
    pub default: String,
    set: ArcSwap<ThemeSet>,
    /// Held for a whole reload, so the last files read are the ones that serve.
    reloading: Mutex<()>,
}

impl ThemeHost {
    /// Loads every theme in `dir`. Fails when `default` is not there or does not load:
    /// there is nothing to fall back on yet. Other themes that do not load are left out, said
    /// in the log and kept as refusals.
    pub fn load(dir: &Path, default: &str) -> Result<Arc<ThemeHost>, StartError> {
        let host = ThemeHost {
            dir: dir.to_path_buf(),
            default: default.to_owned(),
            set: ArcSwap::from_pointee(ThemeSet::default()),
            reloading: Mutex::new(()),
        };
        host.reload()?;
        host.require(default)?;
        Ok(Arc::new(host))
    }

    /// Fails unless `chosen` serves: for a start whose chosen theme (`PIFA_THEME`, or the
    /// setting) must work.
    pub fn require(&self, chosen: &str) -> Result<(), StartError> {
        if self.is_installed(chosen) {
            return Ok(());
        }
        let set = self.current();
        let refusals: Vec<Refusal> = set
            .refused
            .iter()
            .filter(|r| r.theme == chosen)
            .cloned()
            .collect();
        if refusals.is_empty() {
            Err(StartError::NotInstalled {
                chosen: chosen.to_owned(),
                dir: self.dir.clone(),
                installed: set.themes.keys().cloned().collect(),
            })
        } else {
            Err(StartError::Broken {
                chosen: chosen.to_owned(),
                refusals,
            })
        }
    }

    /// The set serving now.
    pub fn current(&self) -> Arc<ThemeSet> {
        self.set.load_full()
    }

    /// Whether `id` is a storefront theme serving now (the settings' check).
    pub fn is_installed(&self, id: &str) -> bool {
        self.set
            .load()
            .themes
            .get(id)
            .is_some_and(|theme| theme.manifest.kind == ThemeKind::Storefront)
    }

    /// The theme to serve a request with: `chosen` (the shop's setting) when it serves, else
    /// the default, else any (the default was refused at every reload since the start, which
    /// `load` makes impossible, but a request is still answered).
    pub fn active(&self, chosen: Option<&str>) -> Option<Arc<Theme>> {
        let set = self.set.load();
        let storefront = |theme: &&Arc<Theme>| theme.manifest.kind == ThemeKind::Storefront;
        chosen
            .and_then(|id| set.themes.get(id))
            .filter(storefront)
            .or_else(|| set.themes.get(&self.default).filter(storefront))
            .or_else(|| set.themes.values().find(storefront))
            .cloned()
    }

    /// The theme the back office (`/admin`) is drawn with: the office theme installed (the
    /// first by id, should there be several).
    pub fn office(&self) -> Option<Arc<Theme>> {
        self.set
            .load()
            .themes
            .values()
            .find(|theme| theme.manifest.kind == ThemeKind::Office)
            .cloned()
    }

    /// Reads every theme again. Each that loads replaces its previous version; each that
    /// does not keeps its previous version serving (if it had one) and is reported. `Err`
    /// only when the directory cannot be read (the set serving stays).
    pub fn reload(&self) -> Result<(), ThemeError> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let ids = match theme_ids(&self.dir) {
            Ok(ids) => ids,
            Err(error) => {
                tracing::error!(%error, "cannot read the themes directory; the themes serving stay");
                return Err(error);
            }
        };
        let previous = self.current();
        let mut next = ThemeSet::default();
        for id in ids {
            match Theme::load(&self.dir, &id) {
                Ok(theme) => {
                    tracing::info!(theme = %id, version = %theme.manifest.version, "theme loaded");
                    next.themes.insert(id, Arc::new(theme));
                }
                Err(error) => {
                    let kept = previous.themes.get(&id).cloned();
                    tracing::error!(
                        theme = %id,
                        %error,
                        last_good_serves = kept.is_some(),
                        "a theme was refused"
                    );
                    next.refused.push(Refusal::of(&id, &error));
                    if let Some(kept) = kept {
                        next.themes.insert(id, kept);
                    }
                }
            }
        }
        self.set.store(Arc::new(next));
        Ok(())
    }

    pub fn spawn_watcher(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        crate::watch::spawn(self.clone())
    }
}

impl crate::watch::Reloadable for ThemeHost {
    fn what(&self) -> &'static str {
        "themes"
    }

    /// Every file of every theme serving or refused, and each theme's `theme.toml` (a new
    /// file under a theme is seen with the next change to one of these, or at a restart).
    fn watched_files(&self) -> BTreeSet<PathBuf> {
        let set = self.current();
        let mut files: BTreeSet<PathBuf> = set
            .themes
            .values()
            .flat_map(|theme| theme.files.iter().cloned())
            .collect();
        for id in theme_ids(&self.dir).unwrap_or_default() {
            for sub in ["theme.toml", "templates", "assets"] {
                files.insert(self.dir.join(&id).join(sub));
            }
            // A refused theme's files are not in the set: watch its folders' contents.
            for sub in ["templates", "assets"] {
                if let Ok(entries) = std::fs::read_dir(self.dir.join(&id).join(sub)) {
                    files.extend(entries.filter_map(Result::ok).map(|e| e.path()));
                }
            }
        }
        files
            .into_iter()
            .filter_map(|f| std::path::absolute(f).ok())
            .collect()
    }

    fn reload_now(&self) {
        // A refusal is logged and kept in the set by `reload`.
        let _ = self.reload();
    }
}

/// The settings' check of a chosen theme (`settings::InstalledThemes`, the domain's question).
impl crate::settings::InstalledThemes for ThemeHost {
    fn is_installed(&self, id: &str) -> bool {
        ThemeHost::is_installed(self, id)
    }

    fn installed(&self) -> Vec<String> {
        self.current()
            .themes
            .values()
            .filter(|theme| theme.manifest.kind == ThemeKind::Storefront)
            .map(|theme| theme.id.clone())
            .collect()
    }
}

/// `pifa themes check [DIR]`: every theme in DIR (or DIR itself when it is one theme's
/// folder) loads and renders its samples. The report, or every refusal.
pub fn check_dir(dir: &Path) -> Result<String, Vec<String>> {
    let (root, ids) = if dir.join("theme.toml").is_file() {
        let id = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        (dir.parent().unwrap_or(dir).to_path_buf(), vec![id])
    } else {
        match theme_ids(dir) {
            Ok(ids) if ids.is_empty() => {
                return Err(vec![format!(
                    "{}: no theme here (a theme is a folder with theme.toml)",
                    dir.display()
                )]);
            }
            Ok(ids) => (dir.to_path_buf(), ids),
            Err(error) => return Err(vec![error.to_string()]),
        }
    };
    let mut report = Vec::new();
    let mut errors = Vec::new();
    for id in ids {
        match Theme::load(&root, &id) {
            Ok(theme) => report.push(format!(
                "ok: {id} ({} {})",
                theme.manifest.name, theme.manifest.version
            )),
            Err(error) => errors.push(error.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(report.join("\n"))
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests;

/// The plugins' `pages` interface: the section types of the storefront theme that serves.
impl crate::plugins::pages::PageSections for ThemeHost {
    fn section_types(&self, chosen: Option<&str>) -> pifa_sdk::SectionTypes {
        self.active(chosen)
            .map(|theme| sections::section_types(&theme.manifest))
            .unwrap_or_default()
    }

    fn check_section(
        &self,
        chosen: Option<&str>,
        kind: &str,
        settings: &serde_json::Value,
    ) -> Result<serde_json::Value, pifa_sdk::FieldError> {
        let theme = self.active(chosen).ok_or_else(|| pifa_sdk::FieldError {
            field: "kind".to_owned(),
            message: "no theme serves".to_owned(),
        })?;
        sections::check(&theme.manifest, kind, settings)
    }
}
