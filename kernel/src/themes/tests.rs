use std::path::{Path, PathBuf};

use super::views::{Frame, sample_frames};
use super::*;

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../themes")
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// A copy of the shipped themes to edit.
fn themes_copy() -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    copy_dir(&shipped(), dir.path())?;
    Ok(dir)
}

fn refusal(dir: &Path, id: &str) -> String {
    Theme::load(dir, id)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

fn frame() -> anyhow::Result<Frame> {
    sample_frames()
        .into_iter()
        .next()
        .map(|(_, frame)| frame)
        .ok_or_else(|| anyhow::anyhow!("no sample frame"))
}

#[test]
fn the_shipped_themes_pass_their_check() {
    let report = check_dir(&shipped());
    let report = report.map_err(|errors| errors.join("\n"));
    assert!(
        report.as_ref().is_ok_and(|r| r.contains("ok: default")
            && r.contains("ok: classic")
            && r.contains("ok: office")),
        "{report:?}"
    );
}

#[test]
fn the_office_theme_draws_the_back_office_and_is_never_a_storefront() -> anyhow::Result<()> {
    let host = ThemeHost::load(&shipped(), "default")?;
    let office = host.office().map(|theme| theme.id.clone());
    assert_eq!(office.as_deref(), Some("office"));
    // Chosen as the storefront by the setting, it is passed over for the default.
    let active = host.active(Some("office")).map(|theme| theme.id.clone());
    assert_eq!(active.as_deref(), Some("default"));
    assert!(!host.is_installed("office"));
    assert!(host.is_installed("classic"));
    // … and `PIFA_THEME` cannot name it either.
    assert!(ThemeHost::load(&shipped(), "office").is_err());
    Ok(())
}

#[test]
fn an_office_theme_without_an_office_page_is_refused_naming_it() -> anyhow::Result<()> {
    let dir = themes_copy()?;
    std::fs::remove_file(dir.path().join("office/templates/scripts.html"))?;
    let error = refusal(dir.path(), "office");
    assert!(
        error.starts_with("office/templates/scripts.html"),
        "{error}"
    );
    Ok(())
}

#[test]
fn a_syntax_error_is_refused_naming_file_line_and_column() -> anyhow::Result<()> {
    let dir = themes_copy()?;
    std::fs::write(
        dir.path().join("default/templates/home.html"),
        "{% extends \"base.html\" %}\n{% block content %}\n  {{ shop.name }\n{% endblock %}\n",
    )?;
    let error = refusal(dir.path(), "default");
    assert!(
        error.starts_with("default/templates/home.html:3:"),
        "{error}"
    );
    assert!(error.contains("syntax error"), "{error}");
    Ok(())
}

#[test]
fn a_template_that_loops_without_end_is_stopped_by_fuel() -> anyhow::Result<()> {
    let dir = themes_copy()?;
    let home = dir.path().join("default/templates/home.html");
    std::fs::write(
        &home,
        "{% extends \"base.html\" %}\n{% block content %}\n{% for a in range(10000) %}{% for b in range(10000) %}{{ b }}{% endfor %}{% endfor %}\n{% endblock %}\n",
    )?;
    let started = std::time::Instant::now();
    let error = refusal(dir.path(), "default");
    assert!(
        error.starts_with("default/templates/home.html:3"),
        "{error}"
    );
    assert!(error.contains("fuel"), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    std::fs::write(
        &home,
        "{% extends \"base.html\" %}\n{% macro down(n) %}{{ down(n + 1) }}{% endmacro %}\n{% block content %}{{ down(1) }}{% endblock %}\n",
    )?;
    let error = refusal(dir.path(), "default");
    assert!(
        error.starts_with("default/templates/home.html:2"),
        "{error}"
    );
    Ok(())
}

#[test]
fn a_field_the_view_does_not_have_fails_the_check() -> anyhow::Result<()> {
    let dir = themes_copy()?;
    let home = dir.path().join("default/templates/home.html");
    std::fs::write(
        &home,
        "{% extends \"base.html\" %}\n{% block content %}\n{% for s in sections %}\n  <b>{{ s.kidn }}</b>\n{% endfor %}\n{% endblock %}\n",
    )?;
    let error = refusal(dir.path(), "default");
    assert!(
        error.starts_with("default/templates/home.html:4:9"),
        "{error}"
    );
    assert!(
        error.contains("home.html for the published page"),
        "{error}"
    );

    // A section template's misspelt field is named with the section type and its sample.
    std::fs::copy(shipped().join("default/templates/home.html"), &home)?;
    let goods = dir.path().join("default/templates/sections/goods.html");
    let source = std::fs::read_to_string(&goods)?;
    std::fs::write(
        &goods,
        source.replace("section.settings.title", "section.settings.titel"),
    )?;
    let error = refusal(dir.path(), "default");
    assert!(
        error.starts_with("default/templates/sections/goods.html:"),
        "{error}"
    );
    assert!(error.contains("sections/goods.html for goods"), "{error}");
    std::fs::write(&goods, source)?;

    // A field of the frame misspelt in the layout, and an asset that is not there.
    let base = dir.path().join("default/templates/base.html");
    let source = std::fs::read_to_string(&base)?;
    std::fs::write(&base, source.replace("css/app.css", "css/ap.css"))?;
    let error = refusal(dir.path(), "default");
    assert!(error.contains("default/templates/base.html:9"), "{error}");
    assert!(error.contains("css/ap.css"), "{error}");
    Ok(())
}

#[test]
fn every_template_is_escaped_as_html_whatever_its_name() -> anyhow::Result<()> {
    let dir = themes_copy()?;
    let templates = dir.path().join("default/templates");
    std::fs::write(templates.join("note.txt"), "Shop: {{ shop.name }}")?;
    std::fs::write(
        templates.join("badge.svg"),
        "<svg><text>{{ shop.name }}</text></svg>",
    )?;
    let theme = Theme::load(dir.path(), "default")?;
    let mut frame = frame()?;
    frame.shop.name = "<script>alert(1)</script>".to_owned();
    for template in ["note.txt", "badge.svg"] {
        let out = theme.render(template, &frame, minijinja::context! {})?;
        assert!(
            out.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{template}: {out}"
        );
        assert!(!out.contains("<script>"), "{template}: {out}");
    }
    Ok(())
}

#[test]
fn an_asset_url_changes_with_its_content() -> anyhow::Result<()> {
    let dir = themes_copy()?;
    let before = Theme::load(dir.path(), "default")?;
    let old = before
        .asset_url("css/app.css")
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no css/app.css"))?;
    assert!(
        old.starts_with("/assets/default/css/app.") && old.ends_with(".css"),
        "{old}"
    );
    let css = dir.path().join("default/assets/css/app.css");
    let mut text = std::fs::read_to_string(&css)?;
    text.push_str("\n.new { color: red; }\n");
    std::fs::write(&css, text)?;
    let after = Theme::load(dir.path(), "default")?;
    let new = after
        .asset_url("css/app.css")
        .ok_or_else(|| anyhow::anyhow!("no css/app.css"))?;
    assert_ne!(old, new);
    let path_of = |url: &str| url.trim_start_matches("/assets/default/").to_owned();
    assert!(after.asset(&path_of(new)).is_some());
    assert!(
        after.asset(&path_of(&old)).is_none(),
        "the old name is gone"
    );
    Ok(())
}

#[test]
fn theme_toml_refusals_name_the_key_and_line() -> anyhow::Result<()> {
    let dir = themes_copy()?;
    let toml = dir.path().join("default/theme.toml");
    let text = std::fs::read_to_string(&toml)?;
    std::fs::write(&toml, text.replace("[colors]", "[colours]"))?;
    let error = refusal(dir.path(), "default");
    assert!(error.starts_with("default/theme.toml:"), "{error}");
    assert!(error.contains("colours"), "{error}");

    std::fs::write(&toml, text)?;
    std::fs::remove_file(dir.path().join("default/templates/me.html"))?;
    let error = refusal(dir.path(), "default");
    assert!(
        error.contains("default/templates/me.html: missing"),
        "{error}"
    );
    Ok(())
}

#[test]
fn a_refused_reload_keeps_the_last_good_version() -> anyhow::Result<()> {
    let dir = themes_copy()?;
    let host = ThemeHost::load(dir.path(), "default")?;
    let serving = host.active(None).ok_or_else(|| anyhow::anyhow!("none"))?;
    std::fs::write(
        dir.path().join("default/templates/error.html"),
        "{% extends \"base.html\" %}\n{% block content %}{% if %}{% endblock %}\n",
    )?;
    host.reload()?;
    let still = host.active(None).ok_or_else(|| anyhow::anyhow!("none"))?;
    assert!(
        Arc::ptr_eq(&serving, &still),
        "the last good version serves"
    );
    let set = host.current();
    let refused = set.refused.first();
    assert_eq!(
        refused.map(|r| (r.file.as_str(), r.line)),
        Some(("default/templates/error.html", Some(2)))
    );
    // The other theme loaded as it was, and a fix is taken.
    assert!(set.themes.contains_key("classic"));
    std::fs::copy(
        shipped().join("default/templates/error.html"),
        dir.path().join("default/templates/error.html"),
    )?;
    host.reload()?;
    assert!(host.current().refused.is_empty());
    let fixed = host.active(None).ok_or_else(|| anyhow::anyhow!("none"))?;
    assert!(!Arc::ptr_eq(&serving, &fixed));
    Ok(())
}

#[test]
fn a_start_with_a_broken_default_fails_and_names_why() -> anyhow::Result<()> {
    let dir = themes_copy()?;
    std::fs::write(dir.path().join("classic/templates/home.html"), "{% for %}")?;
    let error = ThemeHost::load(dir.path(), "classic")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("classic/templates/home.html:1"), "{error}");
    let error = ThemeHost::load(dir.path(), "nope")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("\"nope\" is not in"), "{error}");
    // The default loads; the broken one is left out and reported.
    let host = ThemeHost::load(dir.path(), "default")?;
    assert!(!host.is_installed("classic"));
    assert_eq!(host.current().refused.len(), 1);
    Ok(())
}

/// Every storefront theme draws the standard section types; a type it declares needs its
/// template.
#[test]
fn a_storefront_theme_draws_every_standard_section_type() -> anyhow::Result<()> {
    let dir = themes_copy()?;
    std::fs::remove_file(dir.path().join("classic/templates/sections/spacer.html"))?;
    let error = refusal(dir.path(), "classic");
    assert!(
        error.contains("classic/templates/sections/spacer.html"),
        "{error}"
    );
    assert!(error.contains("section type spacer"), "{error}");
    let manifest = dir.path().join("default/theme.toml");
    let text = std::fs::read_to_string(&manifest)?;
    let without = text.replace("[sections.spacer]", "[sections.gap]");
    std::fs::write(&manifest, without)?;
    let error = refusal(dir.path(), "default");
    assert!(error.contains("sections.spacer: missing"), "{error}");
    Ok(())
}
