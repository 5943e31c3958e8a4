//! Building Pifa plugins: a cargo crate built for `wasm32-unknown-unknown` in release, its core
//! module turned into a component with `wit-component`. One implementation for the two
//! builders: `kernel/build.rs` (every crate of the `plugins/` workspace, into `plugins/build/`)
//! and `pifa plugins build DIR` (an integrator's crate, anywhere).
//!
//! Everything here runs cargo and rustc as child processes; nothing is cached beyond what cargo
//! itself keeps in its target directory.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

/// The target plugins are built for: no WASI, no host imports but the kernel's.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Variables an outer build sets (or the caller set for something else) that would change
/// what a nested cargo builds or where: native flags and wrappers break a wasm32 build, an
/// outer target directory would make two cargos fight over one lock, and the build-script
/// variables describe the outer crate, not the plugin.
pub const LEAKING_VARIABLES: &[&str] = &[
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

/// Prefixes of more such variables (the outer package's and its features and cfgs).
pub const LEAKING_PREFIXES: &[&str] = &["CARGO_PKG_", "CARGO_FEATURE_", "CARGO_CFG_"];

/// Why a build did not give a component; each names the step and what it said.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A program could not be started at all (cargo, rustc or rustup missing).
    #[error("running {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// A command ran and failed; `output` is what it wrote to stderr.
    #[error("{what} failed:\n{output}")]
    Command { what: String, output: String },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The crate is not one this can build (not a cdylib, not found, a workspace …).
    #[error("{0}")]
    Crate(String),
    /// The module is not a plugin `wit-component` can encode (no or bad WIT bindings).
    #[error("turning {package} into a component: {reason}")]
    Component { package: String, reason: String },
}

/// A plugin crate, from its metadata.
#[derive(Debug, Clone)]
pub struct PluginPackage {
    /// The package name: the manifest's name, and the component's file name.
    pub name: String,
    /// The cdylib's name, which names its module (`flash_sale.wasm` for `flash-sale`).
    pub library_name: String,
    /// The directory of its `Cargo.toml`.
    pub directory: PathBuf,
}

/// What `cargo metadata` says of a manifest's workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The packages that are plugins, in cargo's order.
    pub packages: Vec<PluginPackage>,
    /// Where cargo builds (its `target` directory, or whatever `.cargo/config.toml` says).
    pub target_directory: PathBuf,
}

/// The part of `cargo metadata --format-version 1` read here.
#[derive(Deserialize)]
struct Metadata {
    packages: Vec<MetadataPackage>,
    target_directory: PathBuf,
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

/// A cargo that sees none of the caller's build variables (see [`LEAKING_VARIABLES`]).
pub fn nested_cargo(cargo: &Path) -> Command {
    let mut command = Command::new(cargo);
    for (name, _) in std::env::vars_os() {
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

/// Runs `command`; its stdout when it succeeds, else what it wrote to stderr, as `what`.
fn run(mut command: Command, what: &str) -> Result<Vec<u8>, BuildError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .output()
        .map_err(|source| BuildError::Spawn { program, source })?;
    if !output.status.success() {
        return Err(BuildError::Command {
            what: what.to_owned(),
            output: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(output.stdout)
}

/// The plugin packages of the workspace `manifest` belongs to (its members, from cargo itself
/// so `members` globs mean what cargo means); every member must be a `cdylib`.
pub fn workspace(cargo: &Path, manifest: &Path) -> Result<Workspace, BuildError> {
    let mut command = nested_cargo(cargo);
    command
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(manifest);
    let stdout = run(
        command,
        &format!("cargo metadata --manifest-path {}", manifest.display()),
    )?;
    let metadata: Metadata = serde_json::from_slice(&stdout)
        .map_err(|e| BuildError::Crate(format!("cargo metadata's output: {e}")))?;
    let packages = metadata
        .packages
        .into_iter()
        .map(|package| {
            let library = package
                .targets
                .iter()
                .find(|target| target.crate_types.iter().any(|kind| kind == "cdylib"))
                .ok_or_else(|| {
                    BuildError::Crate(format!(
                        "plugin {} must be a library with crate-type = [\"cdylib\"] ([lib] in its Cargo.toml)",
                        package.name
                    ))
                })?;
            let directory = package
                .manifest_path
                .parent()
                .map(Path::to_path_buf)
                .ok_or_else(|| {
                    BuildError::Crate(format!("package {}'s manifest path", package.name))
                })?;
            Ok(PluginPackage {
                library_name: library.name.replace('-', "_"),
                name: package.name,
                directory,
            })
        })
        .collect::<Result<Vec<_>, BuildError>>()?;
    Ok(Workspace {
        packages,
        target_directory: metadata.target_directory,
    })
}

/// Installs the wasm32 standard library when it is missing, for the toolchain that builds in
/// `dir` (a `rust-toolchain.toml` there picks it): a stock toolchain lacks it, and a build that
/// fails with "can't find crate for `core`" teaches nobody anything.
pub fn ensure_wasm_target(rustc: &OsStr, dir: &Path) -> Result<(), BuildError> {
    let mut command = Command::new(rustc);
    command.args(["--print", "sysroot"]).current_dir(dir);
    let stdout = run(command, "rustc --print sysroot")?;
    let sysroot = String::from_utf8_lossy(&stdout);
    if Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(WASM_TARGET)
        .exists()
    {
        return Ok(());
    }
    let mut command = Command::new("rustup");
    command
        .args(["target", "add", WASM_TARGET])
        .current_dir(dir);
    run(
        command,
        &format!("`rustup target add {WASM_TARGET}` (plugins cannot be built without it)"),
    )?;
    Ok(())
}

/// A plugin's linear memory at instantiation: its stack and data (Rust's default, about
/// 1 MiB) and room for a call's heap, which the SDK's allocator (`pifa_sdk::allocator`) takes
/// before it grows the memory. A memory that grows during a call costs the kernel's pooled
/// slot two `mprotect`s (pages opened during the call, locked again at the next
/// instantiation), each interrupting every core to flush its TLB: measured at 8 % of a
/// six-plugin checkout's CPU when every call grew.
pub const INITIAL_MEMORY_BYTES: u64 = 4 * 1024 * 1024;

/// `cargo build --release --target wasm32-unknown-unknown` of `manifest` (only `package` when
/// given) into `target_dir`, each module starting with [`INITIAL_MEMORY_BYTES`] of memory (a
/// flag joined to the plugin's own `target.wasm32-unknown-unknown.rustflags`; cargo then
/// ignores a `build.rustflags`, as it always does beside target flags).
pub fn cargo_build(
    cargo: &Path,
    manifest: &Path,
    package: Option<&str>,
    target_dir: &Path,
) -> Result<(), BuildError> {
    let mut command = nested_cargo(cargo);
    command
        .args([
            "build",
            "--release",
            "--target",
            WASM_TARGET,
            "--manifest-path",
        ])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--config")
        .arg(format!(
            "target.{WASM_TARGET}.rustflags=[\"-C\", \"link-arg=--initial-memory={INITIAL_MEMORY_BYTES}\"]"
        ));
    if let Some(package) = package {
        command.args(["--package", package]);
    }
    run(
        command,
        &format!(
            "cargo build --release --target {WASM_TARGET} --manifest-path {}",
            manifest.display()
        ),
    )?;
    Ok(())
}

/// Where cargo left `package`'s core module in `target_dir`.
pub fn module_path(target_dir: &Path, package: &PluginPackage) -> PathBuf {
    target_dir
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{}.wasm", package.library_name))
}

/// Turns a plugin's core module (with the WIT bindings `export_plugin!` embeds) into a
/// component, validated.
pub fn componentize(package: &str, module: &[u8]) -> Result<Vec<u8>, BuildError> {
    let failed = |reason: String| BuildError::Component {
        package: package.to_owned(),
        reason,
    };
    wit_component::ComponentEncoder::default()
        .module(module)
        .map_err(|e| failed(format!("reading its WIT bindings: {e:#}")))?
        .validate(true)
        .encode()
        .map_err(|e| failed(format!("{e:#}")))
}

/// Writes `bytes` to `path` unless it holds them already (its mtime stays, so whatever watches
/// the file sees a change only when there is one); written beside and renamed, so a reader
/// never sees half a component.
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    if std::fs::read(path).is_ok_and(|existing| existing == bytes) {
        return Ok(());
    }
    let file_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::File { path, source }
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(file_error(parent))?;
    }
    // This process's own name: two builds (say clippy and test) may write at once.
    let mut partial = path.as_os_str().to_owned();
    partial.push(format!(".{}.partial", std::process::id()));
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, bytes).map_err(file_error(&partial))?;
    std::fs::rename(&partial, path).map_err(file_error(path))?;
    Ok(())
}

/// The cargo to run: the one running us (`CARGO`, under cargo) or the one on `PATH`.
pub fn cargo_program() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")))
}

/// The rustc to ask for its sysroot: `RUSTC` when set, else the one on `PATH`.
pub fn rustc_program() -> OsString {
    std::env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"))
}

/// How [`build_crate`] builds.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Cargo's target directory; by default the one cargo would use for the crate
    /// (`CARGO_TARGET_DIR`, `.cargo/config.toml`, or `DIR/target`).
    pub target_dir: Option<PathBuf>,
    /// The component's path; by default `<target dir>/pifa/<package>.wasm`.
    pub out: Option<PathBuf>,
}

/// A component [`build_crate`] wrote.
#[derive(Debug, Clone)]
pub struct Built {
    /// The plugin's package name (its manifest must say the same).
    pub package: String,
    pub component: PathBuf,
    /// Its size in bytes.
    pub bytes: usize,
}

/// Builds the plugin crate in `dir` (its `Cargo.toml`, on its own or in a workspace) into a
/// component: adds the wasm32 target if missing, runs cargo in release for it, encodes the
/// module, writes the component.
pub fn build_crate(dir: &Path, options: &BuildOptions) -> Result<Built, BuildError> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(BuildError::Crate(format!(
            "{}: no Cargo.toml (give the plugin crate's directory)",
            dir.display()
        )));
    }
    let manifest = std::path::absolute(&manifest).map_err(|source| BuildError::File {
        path: manifest.clone(),
        source,
    })?;
    let cargo = cargo_program();
    let workspace = workspace(&cargo, &manifest)?;
    let here = manifest.parent().unwrap_or(dir);
    let package = workspace
        .packages
        .iter()
        .find(|p| p.directory == here)
        .cloned()
        .ok_or_else(|| {
            BuildError::Crate(format!(
                "{} is a workspace, not a plugin crate: give one member's directory",
                manifest.display()
            ))
        })?;
    let target_dir = match &options.target_dir {
        Some(dir) => dir.clone(),
        // The caller's own choice, which `nested_cargo` takes away from cargo itself.
        None => std::env::var_os("CARGO_TARGET_DIR")
            .or_else(|| std::env::var_os("CARGO_BUILD_TARGET_DIR"))
            .map_or(workspace.target_directory.clone(), PathBuf::from),
    };
    ensure_wasm_target(&rustc_program(), here)?;
    cargo_build(&cargo, &manifest, Some(&package.name), &target_dir)?;
    let module_path = module_path(&target_dir, &package);
    let module = std::fs::read(&module_path).map_err(|source| BuildError::File {
        path: module_path.clone(),
        source,
    })?;
    let component = componentize(&package.name, &module)?;
    let out = options.out.clone().unwrap_or_else(|| {
        target_dir
            .join("pifa")
            .join(format!("{}.wasm", package.name))
    });
    write_if_changed(&out, &component)?;
    Ok(Built {
        package: package.name,
        component: out,
        bytes: component.len(),
    })
}
