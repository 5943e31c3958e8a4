//! Builds every WebAssembly plugin under `plugins/` and leaves each as a component in
//! `plugins/build/<package>.wasm`, so `cargo build -p pifa` is the whole build: no second tool
//! to install, and the kernel's tests always run the plugins as they are in the tree.
//!
//! The plugins are their own cargo workspace (wasm32, size-tuned profile) built by a nested
//! cargo into a target directory of its own; that cargo decides what is stale, so a kernel
//! build with no plugin change costs one no-op cargo run, and only when a watched file moved.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Variables the outer build sets (or the caller set for the kernel) that would change what
/// the nested cargo builds or where: native flags and wrappers break a wasm32 build, the
/// outer target directory would make the two cargos fight over one lock, and the build-script
/// variables describe the kernel, not the plugins.
const LEAKING_VARIABLES: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_MAKEFLAGS",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "PROFILE",
    "OPT_LEVEL",
    "TARGET",
    "HOST",
    "OUT_DIR",
    "DEBUG",
    "NUM_JOBS",
    "RUSTC_LINKER",
];
const LEAKING_PREFIXES: &[&str] = &["CARGO_PKG_", "CARGO_FEATURE_", "CARGO_CFG_"];

/// The part of `cargo metadata --format-version 1` this script reads.
#[derive(Deserialize)]
struct Metadata {
    packages: Vec<MetadataPackage>,
}

#[derive(Deserialize)]
struct MetadataPackage {
    name: String,
    manifest_path: PathBuf,
    targets: Vec<MetadataTarget>,
}

#[derive(Deserialize)]
struct MetadataTarget {
    name: String,
    crate_types: Vec<String>,
}

/// A plugin crate, from its metadata.
struct PluginPackage {
    name: String,
    /// The cdylib's name, which names its file (`flash_sale.wasm` for `flash-sale`).
    library_name: String,
    directory: PathBuf,
}

fn main() -> Result<()> {
    let kernel_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR")?);
    let root = kernel_dir
        .parent()
        .context("the kernel crate sits in the repository root")?
        .to_path_buf();
    let plugins_dir = root.join("plugins");
    let built_dir = plugins_dir.join("build");
    let cargo = PathBuf::from(env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")));
    let target_dir = match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("plugin-build"),
        None => root.join("target").join("plugin-build"),
    };

    println!("cargo:rustc-env=PIFA_PLUGINS_BUILT={}", built_dir.display());

    let packages = plugin_packages(&cargo, &plugins_dir)?;
    watch_sources(&root, &plugins_dir, &packages)?;
    ensure_wasm_target()?;
    build_plugins(&cargo, &plugins_dir, &target_dir)?;

    fs::create_dir_all(&built_dir).with_context(|| format!("creating {}", built_dir.display()))?;
    let modules_dir = target_dir.join(WASM_TARGET).join("release");
    for package in &packages {
        let module_path = modules_dir.join(format!("{}.wasm", package.library_name));
        let module = fs::read(&module_path).with_context(|| {
            format!(
                "reading plugin {}'s module {}",
                package.name,
                module_path.display()
            )
        })?;
        let component = wit_component::ComponentEncoder::default()
            .module(&module)
            .with_context(|| format!("reading plugin {}'s WIT bindings", package.name))?
            .validate(true)
            .encode()
            .with_context(|| format!("turning plugin {} into a component", package.name))?;
        write_if_changed(
            &built_dir.join(format!("{}.wasm", package.name)),
            &component,
        )?;
    }
    Ok(())
}

/// The workspace's members, from cargo itself so the `members` globs mean what cargo means.
fn plugin_packages(cargo: &Path, plugins_dir: &Path) -> Result<Vec<PluginPackage>> {
    let mut command = nested_cargo(cargo);
    command
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(plugins_dir.join("Cargo.toml"));
    let output = command
        .output()
        .context("running cargo metadata on plugins/")?;
    if !output.status.success() {
        bail!(
            "cargo metadata on plugins/Cargo.toml failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Metadata =
        serde_json::from_slice(&output.stdout).context("parsing cargo metadata's output")?;
    metadata
        .packages
        .into_iter()
        .map(|package| {
            let library = package
                .targets
                .iter()
                .find(|target| target.crate_types.iter().any(|kind| kind == "cdylib"))
                .with_context(|| {
                    format!(
                        "plugin {} must be a library with crate-type = [\"cdylib\"]",
                        package.name
                    )
                })?;
            let directory = package
                .manifest_path
                .parent()
                .with_context(|| format!("package {}'s manifest path", package.name))?
                .to_path_buf();
            Ok(PluginPackage {
                library_name: library.name.replace('-', "_"),
                name: package.name,
                directory,
            })
        })
        .collect()
}

/// Tells cargo which files make the plugins, and nothing under `plugins/build` (our own output)
/// or a target directory: a rerun costs a kernel recompile, so the list is exact.
fn watch_sources(root: &Path, plugins_dir: &Path, packages: &[PluginPackage]) -> Result<()> {
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

/// Installs the wasm32 standard library when it is missing: a stock toolchain lacks it, and a
/// build that fails with "can't find crate for `core`" teaches nobody anything.
fn ensure_wasm_target() -> Result<()> {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let output = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .context("asking rustc for its sysroot")?;
    if !output.status.success() {
        bail!(
            "rustc --print sysroot failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let sysroot = String::from_utf8(output.stdout).context("rustc's sysroot is not UTF-8")?;
    if Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(WASM_TARGET)
        .exists()
    {
        return Ok(());
    }
    let output = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .output()
        .context("running `rustup target add wasm32-unknown-unknown` (is rustup installed?)")?;
    if !output.status.success() {
        bail!(
            "`rustup target add {WASM_TARGET}` failed; the plugins cannot be built without it:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

fn build_plugins(cargo: &Path, plugins_dir: &Path, target_dir: &Path) -> Result<()> {
    let mut command = nested_cargo(cargo);
    command
        .args([
            "build",
            "--release",
            "--target",
            WASM_TARGET,
            "--manifest-path",
        ])
        .arg(plugins_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    let output = command
        .output()
        .context("running cargo to build the plugins")?;
    if !output.status.success() {
        bail!(
            "building the plugins (cargo build --release --target {WASM_TARGET} --manifest-path plugins/Cargo.toml) failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// A cargo that sees none of the outer build's variables (see `LEAKING_VARIABLES`).
fn nested_cargo(cargo: &Path) -> Command {
    let mut command = Command::new(cargo);
    for (name, _) in env::vars_os() {
        if is_leaking(&name) {
            command.env_remove(&name);
        }
    }
    command
}

fn is_leaking(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    LEAKING_VARIABLES.contains(&name)
        || LEAKING_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
}

/// Leaves the file (and its mtime) alone when the bytes are the same, so whatever watches
/// `plugins/build` (the kernel's hot reload, cargo) sees a change only when there is one.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if fs::read(path).is_ok_and(|existing| existing == bytes) {
        return Ok(());
    }
    // Written beside and renamed, so a reader never sees half a component; the name is this
    // process's own because two builds (say clippy and test) may run this script at once.
    let partial = path.with_extension(format!("wasm.{}.partial", std::process::id()));
    fs::write(&partial, bytes).with_context(|| format!("writing {}", partial.display()))?;
    fs::rename(&partial, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}
