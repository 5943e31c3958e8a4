//! One theme folder, loaded whole and checked: `theme.toml`, every template parsed into one
//! minijinja environment, every asset read and fingerprinted, and every page template
//! rendered against the samples of `views` before anything serves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value, context};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::manifest::{Manifest, ManifestError, ThemeKind};
use super::office;
use super::sections;
use super::views::{self, Frame};

/// Instructions one render may run (minijinja's fuel). The largest sample page uses a few
/// thousand; a template that loops without end is stopped here, in milliseconds.
pub const FUEL: u64 = 200_000;
/// How deep includes, macros and recursive loops may nest.
const RECURSION_LIMIT: usize = 64;
const MAX_TEMPLATE_BYTES: u64 = 256 * 1024;
const MAX_ASSET_BYTES: u64 = 2 * 1024 * 1024;
const MAX_FILES: usize = 500;

/// Where something went wrong, as a theme author reads it: `default/templates/home.html:12:5`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Place {
    /// Relative to the themes directory.
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "{}:{line}:{column}", self.file),
            (Some(line), None) => write!(f, "{}:{line}", self.file),
            _ => f.write_str(&self.file),
        }
    }
}

/// The 1-based line and column of byte `offset` in `source`.
fn line_column(source: &str, offset: usize) -> Option<(usize, usize)> {
    let before = source.get(..offset)?;
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |text| text.chars().count())
        + 1;
    Some((line, column))
}

/// Why a theme does not serve. Each names the file, and the line and column where known.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("{}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{place}: {source}")]
    Manifest {
        place: Place,
        #[source]
        source: Box<ManifestError>,
    },
    #[error("{place}: {problem}")]
    File { place: Place, problem: String },
    #[error("{theme}: {problem}")]
    Theme { theme: String, problem: String },
    /// A template that does not parse, or a render that failed (a sample's, or a page's).
    #[error("{place}: {detail}{}", .sample.as_ref().map(|s| format!(" (rendering {s})")).unwrap_or_default())]
    Template {
        place: Place,
        detail: String,
        /// Which sample was being rendered, for a refusal at check time.
        sample: Option<String>,
        #[source]
        source: minijinja::Error,
    },
}

impl ThemeError {
    /// The place this error names.
    pub fn place(&self) -> Place {
        match self {
            ThemeError::Read { path, .. } => Place {
                file: path.display().to_string(),
                line: None,
                column: None,
            },
            ThemeError::Manifest { place, .. }
            | ThemeError::File { place, .. }
            | ThemeError::Template { place, .. } => place.clone(),
            ThemeError::Theme { theme, .. } => Place {
                file: theme.clone(),
                line: None,
                column: None,
            },
        }
    }
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> ThemeError + '_ {
    move |source| ThemeError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// A fingerprinted file of the theme, ready to send.
#[derive(Debug, Clone)]
pub struct Asset {
    pub bytes: Bytes,
    pub content_type: &'static str,
}

/// The content type a theme's file is served with; other kinds of file are refused, so
/// nothing is ever served with a guessed type.
fn content_type(extension: &str) -> Option<&'static str> {
    Some(match extension {
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

/// A path under `assets/` or `templates/` with `/` separators: ASCII letters, digits, `.`,
/// `_`, `-`, no hidden files, so it is the same in a URL and on every file system.
fn relative_name(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).ok()?;
    let mut parts = Vec::new();
    for component in relative.components() {
        let part = component.as_os_str().to_str()?;
        let plain = !part.starts_with('.')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !plain {
            return None;
        }
        parts.push(part);
    }
    Some(parts.join("/"))
}

/// Every file under `dir`, sorted, at most `MAX_FILES`; a missing directory has none.
fn files_under(dir: &Path, theme: &str) -> Result<Vec<PathBuf>, ThemeError> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let entries = match std::fs::read_dir(&next) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && next == dir => {
                return Ok(files);
            }
            Err(source) => return Err(read_error(&next)(source)),
        };
        for entry in entries {
            let path = entry.map_err(read_error(&next))?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
        if files.len() > MAX_FILES {
            return Err(ThemeError::Theme {
                theme: theme.to_owned(),
                problem: format!("more than {MAX_FILES} files under {}", dir.display()),
            });
        }
    }
    files.sort();
    Ok(files)
}

fn read_capped(path: &Path, cap: u64, place: &Place) -> Result<Vec<u8>, ThemeError> {
    let size = std::fs::metadata(path).map_err(read_error(path))?.len();
    if size > cap {
        return Err(ThemeError::File {
            place: place.clone(),
            problem: format!("{size} bytes; at most {cap}"),
        });
    }
    std::fs::read(path).map_err(read_error(path))
}

/// A theme's id is its folder's name: lowercase letters, digits, `-` and `_`, as it appears
/// in asset URLs, `PIFA_THEME` and the `theme` setting.
pub fn is_theme_id(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'))
}

/// The pages every theme of `kind` must have.
fn page_templates(kind: ThemeKind) -> &'static [&'static str] {
    match kind {
        ThemeKind::Storefront => &views::PAGE_TEMPLATES,
        ThemeKind::Office => &office::PAGE_TEMPLATES,
    }
}

/// A theme that loaded and passed every check.
pub struct Theme {
    /// The folder's name.
    pub id: String,
    pub manifest: Manifest,
    env: Environment<'static>,
    /// By the path after `/assets/<id>/` (`css/app.1a2b3c4d.css`).
    assets: BTreeMap<String, Asset>,
    /// The fingerprinted URL of each file under `assets/`, by its plain path.
    urls: Arc<BTreeMap<String, String>>,
    /// What templates see as `theme`: name, version, colours, fonts, logo, sections.
    values: Value,
    /// The files this theme was read from (for the watcher).
    pub files: Vec<PathBuf>,
    /// A hash of its `theme.toml` and templates: drawn sections are kept by it, so a changed
    /// theme draws them anew.
    pub fingerprint: u64,
}

impl std::fmt::Debug for Theme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Theme")
            .field("id", &self.id)
            .field("version", &self.manifest.version)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct ThemeValues<'a> {
    id: &'a str,
    name: &'a str,
    version: &'a str,
    colors: &'a BTreeMap<String, String>,
    fonts: &'a BTreeMap<String, String>,
    logo: Option<String>,
    sections: BTreeMap<&'a str, BTreeMap<&'a str, serde_json::Value>>,
}

impl Theme {
    /// Loads and checks the theme in `themes_dir/id`.
    pub fn load(themes_dir: &Path, id: &str) -> Result<Theme, ThemeError> {
        if !is_theme_id(id) {
            return Err(ThemeError::Theme {
                theme: id.to_owned(),
                problem: "a theme's folder name is lowercase letters, digits, - and _".to_owned(),
            });
        }
        let root = themes_dir.join(id);
        let place = |relative: &str| Place {
            file: format!("{id}/{relative}"),
            line: None,
            column: None,
        };
        let mut files = Vec::new();

        let manifest_path = root.join("theme.toml");
        let text = std::fs::read_to_string(&manifest_path).map_err(read_error(&manifest_path))?;
        files.push(manifest_path);
        let manifest = Manifest::parse(&text).map_err(|source| {
            let mut at = place("theme.toml");
            if let ManifestError::Toml(e) = &source
                && let Some((line, column)) = e.span().and_then(|s| line_column(&text, s.start))
            {
                (at.line, at.column) = (Some(line), Some(column));
            }
            ThemeError::Manifest {
                place: at,
                source: Box::new(source),
            }
        })?;

        let (assets, urls) = load_assets(&root.join("assets"), id, &mut files)?;
        let urls = Arc::new(urls);
        let logo = match &manifest.logo {
            Some(logo) => Some(
                urls.get(&logo.asset)
                    .cloned()
                    .ok_or_else(|| ThemeError::File {
                        place: place("theme.toml"),
                        problem: format!("logo.asset: there is no assets/{}", logo.asset),
                    })?,
            ),
            None => None,
        };

        let mut env = Environment::new();
        // Every template is HTML, whatever its name: a `.txt` or `.svg` included into a page
        // is escaped like the page.
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(RECURSION_LIMIT);
        env.set_debug(true);
        let known = urls.clone();
        // The URL is made of checked names (ASCII letters, digits, `. _ - /`), safe as it is
        // in any attribute: marked safe so it reads `/assets/…`, not `&#x2f;assets&#x2f;…`.
        env.add_function(
            "asset",
            move |path: &str| -> Result<Value, minijinja::Error> {
                known
                    .get(path)
                    .cloned()
                    .map(Value::from_safe_string)
                    .ok_or_else(|| {
                        minijinja::Error::new(
                            ErrorKind::InvalidOperation,
                            format!("asset({path:?}): there is no such file under assets/"),
                        )
                    })
            },
        );
        env.add_filter("price", |fen: i64| crate::money::format_price(fen));
        // The bare number, for a form's field: `12.30`.
        env.add_filter("yuan", |fen: i64| crate::money::format_yuan(fen));
        // An RFC 3339 time as people read it to the minute: `2026-11-30 09:00`.
        env.add_filter("when", |at: &str| {
            at.get(..16)
                .map_or_else(|| at.to_owned(), |minute| minute.replace('T', " "))
        });

        let templates_dir = root.join("templates");
        let mut sources = BTreeMap::new();
        for path in files_under(&templates_dir, id)? {
            let name = relative_name(&templates_dir, &path).ok_or_else(|| ThemeError::File {
                place: place(&format!("templates/{}", path.display())),
                problem: "a file name is ASCII letters, digits, . _ and -".to_owned(),
            })?;
            let at = place(&format!("templates/{name}"));
            let bytes = read_capped(&path, MAX_TEMPLATE_BYTES, &at)?;
            let source = String::from_utf8(bytes).map_err(|_| ThemeError::File {
                place: at.clone(),
                problem: "not UTF-8".to_owned(),
            })?;
            files.push(path);
            sources.insert(name, source);
        }
        for (name, source) in &sources {
            env.add_template_owned(name.clone(), source.clone())
                .map_err(|e| template_error(id, &sources, e, None))?;
        }
        for page in page_templates(manifest.kind) {
            if !sources.contains_key(*page) {
                return Err(ThemeError::File {
                    place: place(&format!("templates/{page}")),
                    problem: "missing: every theme of its kind has this page".to_owned(),
                });
            }
        }
        if manifest.kind == ThemeKind::Storefront {
            if let Some(kind) = sections::STANDARD
                .iter()
                .find(|kind| !manifest.sections.contains_key(**kind))
            {
                return Err(ThemeError::File {
                    place: place("theme.toml"),
                    problem: format!(
                        "sections.{kind}: missing: every storefront theme draws the standard section types ({})",
                        sections::STANDARD.join(", ")
                    ),
                });
            }
            if let Some(kind) = manifest
                .sections
                .keys()
                .find(|kind| !sources.contains_key(&sections::template(kind)))
            {
                return Err(ThemeError::File {
                    place: place(&format!("templates/{}", sections::template(kind))),
                    problem: format!("missing: theme.toml declares the section type {kind}"),
                });
            }
        }
        // What a drawn section is kept by: the theme as it was read, templates and all.
        let fingerprint = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            text.hash(&mut hasher);
            sources.hash(&mut hasher);
            hasher.finish()
        };

        let values = minijinja::Value::from(minijinja::value::Serde(ThemeValues {
            id,
            name: &manifest.name,
            version: &manifest.version,
            colors: &manifest.colors,
            fonts: &manifest.fonts,
            logo,
            sections: manifest
                .sections
                .iter()
                .map(|(name, section)| {
                    (
                        name.as_str(),
                        section
                            .settings
                            .iter()
                            .map(|(key, setting)| (key.as_str(), setting.default_value()))
                            .collect(),
                    )
                })
                .collect(),
        }));
        let theme = Theme {
            id: id.to_owned(),
            manifest,
            env,
            assets,
            urls,
            values,
            files,
            fingerprint,
        };
        theme.render_samples(&sources)?;
        theme.render_section_samples(&sources)?;
        Ok(theme)
    }

    /// Renders every page template against every sample in every frame: the check a theme
    /// passes before it serves.
    fn render_samples(&self, sources: &BTreeMap<String, String>) -> Result<(), ThemeError> {
        let samples = match self.manifest.kind {
            ThemeKind::Storefront => views::page_samples(),
            ThemeKind::Office => office::page_samples(),
        };
        for (frame_label, frame) in views::sample_frames() {
            for (template, page_label, view) in samples.iter().cloned() {
                self.render_value(template, &frame, view).map_err(|e| {
                    template_error(
                        &self.id,
                        sources,
                        e,
                        Some(format!("{template} for {page_label}, as {frame_label}")),
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Draws every section type against its samples (the standard types with full settings
    /// where the theme's schema takes them, and every type with its defaults).
    fn render_section_samples(&self, sources: &BTreeMap<String, String>) -> Result<(), ThemeError> {
        for (kind, section) in &self.manifest.sections {
            let defaults = serde_json::Value::Object(
                section
                    .settings
                    .iter()
                    .map(|(key, setting)| (key.clone(), setting.default_value()))
                    .collect(),
            );
            let mut settings = vec![defaults];
            if let Some(full) =
                sections::drawable(&self.manifest, kind, &sections::sample_settings(kind))
            {
                settings.push(full);
            }
            for settings in &settings {
                for (label, view) in views::section_samples(kind, settings) {
                    self.render_section_value(&view).map_err(|e| {
                        template_error(
                            &self.id,
                            sources,
                            e,
                            Some(format!("{} for {kind}, {label}", sections::template(kind))),
                        )
                    })?;
                }
            }
        }
        Ok(())
    }

    fn render_section_value(&self, view: &views::SectionView) -> Result<String, minijinja::Error> {
        let context = context! {
            theme => self.values.clone(),
            section => minijinja::Value::from(minijinja::value::Serde(view)),
        };
        self.env
            .get_template(&sections::template(&view.kind))?
            .render(context)
    }

    /// Draws one section of a composed page with its template (without the page's frame).
    pub fn render_section(&self, view: &views::SectionView) -> Result<String, ThemeError> {
        self.render_section_value(view)
            .map_err(|e| template_error(&self.id, &BTreeMap::new(), e, None))
    }

    fn render_value(
        &self,
        template: &str,
        frame: &Frame,
        view: Value,
    ) -> Result<String, minijinja::Error> {
        // The frame's names win over a view's, and `theme` over both: a view cannot hide
        // what every page relies on.
        let context = minijinja::value::merge_maps([
            context! { theme => self.values.clone() },
            minijinja::Value::from(minijinja::value::Serde(frame)),
            view,
        ]);
        self.env.get_template(template)?.render(context)
    }

    /// Renders page `template` with the frame and its view. A failure here is a bug the
    /// samples did not catch: the caller answers 500 and logs it.
    pub fn render(&self, template: &str, frame: &Frame, view: Value) -> Result<String, ThemeError> {
        self.render_value(template, frame, view)
            .map_err(|e| template_error(&self.id, &BTreeMap::new(), e, None))
    }

    /// The asset at `path` (the part after `/assets/<id>/`), if it is one of this version's.
    pub fn asset(&self, path: &str) -> Option<&Asset> {
        self.assets.get(path)
    }

    /// The fingerprinted URL of `path` under `assets/` (`css/app.css`).
    pub fn asset_url(&self, path: &str) -> Option<&str> {
        self.urls.get(path).map(String::as_str)
    }
}

/// Reads `assets/`: each file by its fingerprinted path, and the URL of each plain path.
#[expect(
    clippy::type_complexity,
    reason = "two maps built together, used once by the caller"
)]
fn load_assets(
    dir: &Path,
    id: &str,
    files: &mut Vec<PathBuf>,
) -> Result<(BTreeMap<String, Asset>, BTreeMap<String, String>), ThemeError> {
    let mut assets = BTreeMap::new();
    let mut urls = BTreeMap::new();
    for path in files_under(dir, id)? {
        let name = relative_name(dir, &path).ok_or_else(|| ThemeError::File {
            place: Place {
                file: format!("{id}/assets/{}", path.display()),
                line: None,
                column: None,
            },
            problem: "a file name is ASCII letters, digits, . _ and -".to_owned(),
        })?;
        let at = Place {
            file: format!("{id}/assets/{name}"),
            line: None,
            column: None,
        };
        let (stem, extension) = name
            .rsplit_once('.')
            .filter(|(stem, _)| !stem.is_empty() && !stem.ends_with('/'))
            .ok_or_else(|| ThemeError::File {
                place: at.clone(),
                problem: "an asset needs an extension (.css, .js, .svg, .png …)".to_owned(),
            })?;
        let content_type = content_type(extension).ok_or_else(|| ThemeError::File {
            place: at.clone(),
            problem: format!(
                "a .{extension} file is not served (css, js, svg, png, jpg, webp, ico, woff2, txt)"
            ),
        })?;
        let bytes = read_capped(&path, MAX_ASSET_BYTES, &at)?;
        let hash = hex::encode(Sha256::digest(&bytes));
        let short = hash.get(..8).unwrap_or(&hash);
        let served = format!("{stem}.{short}.{extension}");
        urls.insert(name.clone(), format!("/assets/{id}/{served}"));
        assets.insert(
            served,
            Asset {
                bytes: Bytes::from(bytes),
                content_type,
            },
        );
        files.push(path);
    }
    Ok((assets, urls))
}

/// A minijinja error as a refusal naming the template, line and column.
fn template_error(
    theme: &str,
    sources: &BTreeMap<String, String>,
    error: minijinja::Error,
    sample: Option<String>,
) -> ThemeError {
    let name = error.name().unwrap_or("?").to_owned();
    let column = error
        .range()
        .and_then(|range| {
            sources
                .get(&name)
                .map(String::as_str)
                .or(error.template_source())
                .and_then(|source| line_column(source, range.start))
        })
        .map(|(_, column)| column);
    let detail = match error.kind() {
        ErrorKind::OutOfFuel => {
            format!("ran out of fuel ({FUEL} instructions): a loop or recursion that does not end?")
        }
        kind => match error.detail() {
            Some(detail) => format!("{kind}: {detail}"),
            None => kind.to_string(),
        },
    };
    ThemeError::Template {
        place: Place {
            file: format!("{theme}/templates/{name}"),
            line: error.line(),
            column,
        },
        detail,
        sample,
        source: error,
    }
}
