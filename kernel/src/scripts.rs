//! The Rhai host (REQUIREMENTS M4, G4): operators change pricing rules as scripts. The engine is
//! raw (`Engine::new_raw`) with only the packages rules need, no module loading, no `eval`,
//! integers only (money is fen; `percent_of` and `div_round` round half up), and explicit
//! limits on operations, call depth and sizes, so a script that loops or balloons is stopped
//! with a clear error. A script is compiled once and shared; a new version serves only after it
//! compiled and its own `examples()` passed, otherwise the last good one keeps serving and the
//! error names `pricing.rhai:LINE:COLUMN`.

pub mod admin;
pub mod pricing;
pub mod replay;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use rhai::packages::{
    BasicArrayPackage, BasicMapPackage, CorePackage, LogicPackage, MoreStringPackage, Package,
};
use rhai::{AST, Engine, EvalAltResult, Position};

use crate::clock::Clock;
use crate::store::Store;

/// Limits of one script run (per cart line for pricing).
pub const MAX_OPERATIONS: u64 = 50_000;
const MAX_CALL_LEVELS: usize = 32;
const MAX_STRING: usize = 4_096;
const MAX_ARRAY: usize = 1_000;
const MAX_MAP: usize = 1_000;

/// `numerator / denominator` rounded half away from zero (N).
fn div_round(numerator: i64, denominator: i64) -> Result<i64, Box<EvalAltResult>> {
    if denominator == 0 {
        return Err("div_round: division by zero".into());
    }
    let (q, r) = (numerator / denominator, numerator % denominator);
    let away = r
        .checked_mul(2)
        .is_none_or(|twice| twice.abs() >= denominator.abs());
    Ok(if r != 0 && away {
        q + if (numerator < 0) == (denominator < 0) {
            1
        } else {
            -1
        }
    } else {
        q
    })
}

/// The engine every script runs on.
pub fn engine() -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(CorePackage::new().as_shared_module());
    engine.register_global_module(LogicPackage::new().as_shared_module());
    engine.register_global_module(BasicArrayPackage::new().as_shared_module());
    engine.register_global_module(BasicMapPackage::new().as_shared_module());
    engine.register_global_module(MoreStringPackage::new().as_shared_module());
    engine.set_max_operations(MAX_OPERATIONS);
    engine.set_max_call_levels(MAX_CALL_LEVELS);
    engine.set_max_expr_depths(64, 32);
    engine.set_max_string_size(MAX_STRING);
    engine.set_max_array_size(MAX_ARRAY);
    engine.set_max_map_size(MAX_MAP);
    engine.disable_symbol("eval");
    engine.register_fn("div_round", div_round);
    // `percent_of(12_345, 5)` = 617 (5% of ¥123.45, rounded half up).
    engine.register_fn("percent_of", |amount: i64, percent: i64| {
        amount
            .checked_mul(percent)
            .ok_or_else(|| Box::<EvalAltResult>::from("percent_of: amount overflows"))
            .and_then(|n| div_round(n, 100))
    });
    engine
}

/// Where in a script, as an operator reads it: `pricing.rhai:12:5`.
pub fn at(file: &str, position: Position) -> String {
    match (position.line(), position.position()) {
        (Some(line), Some(column)) => format!("{file}:{line}:{column}"),
        (Some(line), None) => format!("{file}:{line}"),
        _ => file.to_owned(),
    }
}

/// A compiled script and where it came from.
pub struct Compiled {
    pub ast: AST,
    pub file: String,
    /// The source's SHA-256 (hex), to tell versions apart in logs.
    pub version: String,
}

/// Compiles `source` of `file`, naming the place of a syntax error.
pub fn compile(engine: &Engine, file: &str, source: &str) -> Result<Compiled, String> {
    let ast = engine
        .compile(source)
        .map_err(|e| format!("{}: {}", at(file, e.position()), e.err_type()))?;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(source.as_bytes());
    Ok(Compiled {
        ast,
        file: file.to_owned(),
        version: hex::encode(digest).chars().take(12).collect(),
    })
}

/// A runtime error in words, with its place.
pub fn runtime_error(file: &str, error: &EvalAltResult) -> String {
    format!("{}: {}", at(file, error.position()), error)
}

/// The scripts in a directory, each hot-reloaded (`pricing.rhai` for now).
pub struct ScriptHost {
    pub dir: PathBuf,
    pub engine: Engine,
    pub pricing: ArcSwapOption<Compiled>,
    /// Why the last load was refused (the previous version kept serving).
    pub last_error: Mutex<Option<String>>,
    /// Held for a whole reload, so the last file read is the one that serves.
    reloading: Mutex<()>,
    pub store: Option<Store>,
    pub clock: Clock,
}

impl ScriptHost {
    /// Loads the scripts in `dir`; a missing `pricing.rhai` means no pricing rules. Fails when a
    /// script does not compile or fails its examples (nothing serves yet to fall back on).
    pub fn load(dir: &Path, store: Option<Store>, clock: Clock) -> Result<Arc<ScriptHost>, String> {
        let host = ScriptHost {
            dir: dir.to_owned(),
            engine: engine(),
            pricing: ArcSwapOption::empty(),
            last_error: Mutex::new(None),
            reloading: Mutex::new(()),
            store,
            clock,
        };
        host.reload()?;
        Ok(Arc::new(host))
    }

    pub fn pricing_path(&self) -> PathBuf {
        self.dir.join(pricing::FILE)
    }

    /// Reads, compiles and checks the scripts again; swaps each in only when it passes.
    pub fn reload(&self) -> Result<(), String> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let result = match std::fs::read_to_string(self.pricing_path()) {
            Ok(source) => pricing::check(&self.engine, &source).map(|compiled| {
                tracing::info!(version = compiled.version, "pricing.rhai loaded");
                self.pricing.store(Some(Arc::new(compiled)));
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.pricing.store(None);
                Ok(())
            }
            Err(e) => Err(format!("{}: {e}", self.pricing_path().display())),
        };
        if let Ok(mut last) = self.last_error.lock() {
            *last = result.as_ref().err().cloned();
        }
        if let Err(error) = &result {
            tracing::error!(%error, "pricing.rhai refused; the previous version keeps serving");
        }
        result
    }

    pub fn spawn_watcher(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        crate::watch::spawn(self.clone())
    }
}

impl crate::watch::Reloadable for ScriptHost {
    fn what(&self) -> &'static str {
        "scripts"
    }

    fn watched_files(&self) -> std::collections::BTreeSet<PathBuf> {
        std::path::absolute(self.pricing_path())
            .into_iter()
            .collect()
    }

    fn reload_now(&self) {
        // A refusal is logged and kept in `last_error` by `reload`.
        let _ = self.reload();
    }
}

/// `pifa scripts check DIR`: each script compiles and passes its examples.
pub fn check_dir(dir: &Path) -> Result<String, String> {
    let engine = engine();
    let path = dir.join(pricing::FILE);
    let source = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let compiled = pricing::check(&engine, &source)?;
    Ok(format!(
        "ok: {} (version {})",
        pricing::FILE,
        compiled.version
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(div_round(5, 2).ok(), Some(3));
        assert_eq!(div_round(-5, 2).ok(), Some(-3));
        assert_eq!(div_round(4, 3).ok(), Some(1));
        assert_eq!(div_round(12_345 * 5, 100).ok(), Some(617));
        assert!(div_round(1, 0).is_err());
    }

    #[test]
    fn scripts_get_no_eval_and_no_floats() {
        let engine = engine();
        assert!(engine.compile("eval(\"1\")").is_err());
        assert!(engine.compile("let x = 1.5;").is_err());
        let loop_forever = engine.compile("fn f() { loop { } } f()").ok();
        let ran = loop_forever.map(|ast| engine.eval_ast::<rhai::Dynamic>(&ast));
        let error = ran
            .and_then(Result::err)
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("Too many operations"), "{error}");
    }

    #[test]
    fn a_syntax_error_names_file_line_and_column() {
        let error = compile(
            &engine(),
            "pricing.rhai",
            "fn adjust(line, member, now) {\n  let x = ;\n}",
        )
        .err()
        .unwrap_or_default();
        assert!(error.starts_with("pricing.rhai:2:"), "{error}");
    }
}
