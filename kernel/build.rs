//! Builds every WebAssembly plugin under `plugins/` and leaves each as a component in
//! `plugins/build/<package>.wasm`, so `cargo build -p pifa` is the whole build: no second tool
//! to install, and the kernel's tests always run the plugins as they are in the tree.
//!
//! The plugins are their own cargo workspace (wasm32, size-tuned profile) built by a nested
//! cargo into a target directory of its own; that cargo decides what is stale, so a kernel
//! build with no plugin change costs one no-op cargo run, and only when a watched file moved.
//! How a crate becomes a component is `pifa-plugin-build`'s, shared with `pifa plugins build`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::{env, fs};

use anyhow::{Context, Result};
use pifa_plugin_build as build;

fn main() -> Result<()> {
    let kernel_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR")?);
    let root = kernel_dir
        .parent()
        .context("the kernel crate sits in the repository root")?
        .to_path_buf();
    let plugins_dir = root.join("plugins");
    let built_dir = plugins_dir.join("build");
    let cargo = build::cargo_program();
    let target_dir = match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("plugin-build"),
        None => root.join("target").join("plugin-build"),
    };

    println!("cargo:rustc-env=PIFA_PLUGINS_BUILT={}", built_dir.display());

    let manifest = plugins_dir.join("Cargo.toml");
    let packages = build::workspace(&cargo, &manifest)?.packages;
    watch_sources(&root, &plugins_dir, &packages)?;
    build::ensure_wasm_target(&build::rustc_program(), &plugins_dir)?;
    build::cargo_build(&cargo, &manifest, None, &target_dir)?;

    fs::create_dir_all(&built_dir).with_context(|| format!("creating {}", built_dir.display()))?;
    for package in &packages {
        let module_path = build::module_path(&target_dir, package);
        let module = fs::read(&module_path).with_context(|| {
            format!(
                "reading plugin {}'s module {}",
                package.name,
                module_path.display()
            )
        })?;
        let component = build::componentize(&package.name, &module)?;
        build::write_if_changed(
            &built_dir.join(format!("{}.wasm", package.name)),
            &component,
        )?;
    }
    Ok(())
}

/// Tells cargo which files make the plugins, and nothing under `plugins/build` (our own output)
/// or a target directory: a rerun costs a kernel recompile, so the list is exact.
fn watch_sources(root: &Path, plugins_dir: &Path, packages: &[build::PluginPackage]) -> Result<()> {
    let mut watched = BTreeSet::new();
    watched.insert(plugins_dir.join("Cargo.toml"));
    watched.insert(plugins_dir.join("Cargo.lock"));
    let sdk_dir = root.join("sdk");
    watched.insert(sdk_dir.join("Cargo.toml"));
    walk(&sdk_dir.join("src"), &mut watched)?;
    walk(&sdk_dir.join("wit"), &mut watched)?;
    for package in packages {
        watched.insert(package.directory.join("Cargo.toml"));
        walk(&package.directory.join("src"), &mut watched)?;
        // A crate added under a glob member (`testing/*`) changes its parent directory only.
        if let Some(parent) = package.directory.parent()
            && parent != plugins_dir
        {
            watched.insert(parent.to_path_buf());
        }
    }
    for path in watched {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    Ok(())
}

/// Every file and directory under `dir` (directories too, so an added file is noticed).
fn walk(dir: &Path, found: &mut BTreeSet<PathBuf>) -> Result<()> {
    found.insert(dir.to_path_buf());
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error).with_context(|| format!("listing {}", dir.display())),
    };
    for entry in entries {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        if path.is_dir() {
            walk(&path, found)?;
        } else {
            found.insert(path);
        }
    }
    Ok(())
}
