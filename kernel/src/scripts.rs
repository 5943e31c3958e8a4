//! The Rhai host (REQUIREMENTS M4, G4): operators change pricing rules as scripts. The engine is
//! raw (`Engine::new_raw`) with only the packages rules need, no module loading, no `eval`,
//! integers only (money is fen; `percent_of` and `div_round` round half up), and explicit
//! limits on operations, call depth and sizes, so a script that loops or balloons is stopped
//! with a clear error. A script is compiled once and shared; a new version serves only after it
//! compiled and its own `examples()` passed, otherwise the last good one keeps serving and the
//! error names `pricing.rhai:LINE:COLUMN`.

pub mod admin;
pub mod notifications;
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

/// Compiles `source` of `file`, which must define `entry` (`signature` shows it in the
/// error), and runs its `examples()` when it has one: each example, a map, goes to `check`
/// with its number (from 1), which runs it and says how it differs from what it expects.
/// The version to serve, or why not.
pub fn compile_with_examples(
    engine: &Engine,
    file: &str,
    source: &str,
    (entry, signature): (&str, &str),
    mut check: impl FnMut(&Compiled, usize, &rhai::Map) -> Result<(), String>,
) -> Result<Compiled, String> {
    let compiled = compile(engine, file, source)?;
    let has = |name: &str| compiled.ast.iter_functions().any(|f| f.name == name);
    if !has(entry) {
        return Err(format!("{file}: it must define {signature}"));
    }
    if !has("examples") {
        return Ok(compiled);
    }
    let examples: rhai::Dynamic = engine
        .call_fn(&mut rhai::Scope::new(), &compiled.ast, "examples", ())
        .map_err(|e| runtime_error(file, &e))?;
    let examples = examples
        .try_cast::<rhai::Array>()
        .ok_or_else(|| format!("{file}: examples() must return an array"))?;
    for (index, example) in examples.into_iter().enumerate() {
        let n = index + 1;
        let example = example
            .try_cast::<rhai::Map>()
            .ok_or_else(|| format!("{file}: example {n} is not a map"))?;
        check(&compiled, n, &example)?;
    }
    Ok(compiled)
}

/// An example's `expect`, an empty array when it has none.
pub fn expected(example: &rhai::Map) -> rhai::Dynamic {
    example
        .get("expect")
        .cloned()
        .unwrap_or_else(|| rhai::Dynamic::from(rhai::Array::new()))
}

/// A runtime error in words, with its place.
pub fn runtime_error(file: &str, error: &EvalAltResult) -> String {
    format!("{}: {}", at(file, error.position()), error)
}

/// The rules a deployment can script, each in its own file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    Pricing,
    Notifications,
}

impl Rules {
    pub const ALL: [Rules; 2] = [Rules::Pricing, Rules::Notifications];

    pub fn file(self) -> &'static str {
        match self {
            Rules::Pricing => pricing::FILE,
            Rules::Notifications => notifications::FILE,
        }
    }

    /// Compiles `source` and runs its own examples: the version to serve, or why not.
    pub fn check(self, engine: &Engine, source: &str) -> Result<Compiled, String> {
        match self {
            Rules::Pricing => pricing::check(engine, source),
            Rules::Notifications => notifications::check(engine, source),
        }
    }
}

/// The scripts in a directory (`pricing.rhai`, `notifications.rhai`), each hot-reloaded.
pub struct ScriptHost {
    pub dir: PathBuf,
    pub engine: Engine,
    pub pricing: ArcSwapOption<Compiled>,
    pub notifications: ArcSwapOption<Compiled>,
    /// Why the last load was refused (the previous version kept serving).
    pub last_error: Mutex<Option<String>>,
    /// Held for a whole reload, so the last file read is the one that serves.
    reloading: Mutex<()>,
    pub store: Option<Store>,
    pub clock: Clock,
}

impl ScriptHost {
    /// Loads the scripts in `dir`; a missing file means no rules of its kind. Fails when a
    /// script does not compile or fails its examples (nothing serves yet to fall back on).
    pub fn load(dir: &Path, store: Option<Store>, clock: Clock) -> Result<Arc<ScriptHost>, String> {
        let host = ScriptHost {
            dir: dir.to_owned(),
            engine: engine(),
            pricing: ArcSwapOption::empty(),
            notifications: ArcSwapOption::empty(),
            last_error: Mutex::new(None),
            reloading: Mutex::new(()),
            store,
            clock,
        };
        host.reload()?;
        Ok(Arc::new(host))
    }

    pub fn path(&self, rules: Rules) -> PathBuf {
        self.dir.join(rules.file())
    }

    /// The version serving `rules`, if any.
    pub fn serving(&self, rules: Rules) -> &ArcSwapOption<Compiled> {
        match rules {
            Rules::Pricing => &self.pricing,
            Rules::Notifications => &self.notifications,
        }
    }

    /// Reads, compiles and checks the scripts again; swaps each in only when it passes (one
    /// failing leaves its previous version serving and does not hold the other back).
    pub fn reload(&self) -> Result<(), String> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let mut errors = Vec::new();
        for rules in Rules::ALL {
            let serving = self.serving(rules);
            match std::fs::read_to_string(self.path(rules)) {
                Ok(source) => match rules.check(&self.engine, &source) {
                    Ok(compiled) => {
                        tracing::info!(
                            file = rules.file(),
                            version = compiled.version,
                            "script loaded"
                        );
                        serving.store(Some(Arc::new(compiled)));
                    }
                    Err(error) => errors.push(error),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => serving.store(None),
                Err(e) => errors.push(format!("{}: {e}", self.path(rules).display())),
            }
        }
        let result = if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n"))
        };
        if let Ok(mut last) = self.last_error.lock() {
            *last = result.as_ref().err().cloned();
        }
        if let Err(error) = &result {
            tracing::error!(%error, "a script was refused; its previous version keeps serving");
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
        Rules::ALL
            .into_iter()
            .filter_map(|rules| std::path::absolute(self.path(rules)).ok())
            .collect()
    }

    fn reload_now(&self) {
        // A refusal is logged and kept in `last_error` by `reload`.
        let _ = self.reload();
    }
}

/// `pifa scripts check DIR`: each script present compiles and passes its examples.
pub fn check_dir(dir: &Path) -> Result<String, String> {
    let engine = engine();
    let mut report = Vec::new();
    for rules in Rules::ALL {
        let path = dir.join(rules.file());
        match std::fs::read_to_string(&path) {
            Ok(source) => {
                let compiled = rules.check(&engine, &source)?;
                report.push(format!(
                    "ok: {} (version {})",
                    rules.file(),
                    compiled.version
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.push(format!("absent: {} (no rules of this kind)", rules.file()));
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    Ok(report.join("\n"))
}

/// What the scripts' handlers work with: the shop and this host, and the pipeline (`FromRef` from the
/// app's state, so this module never names it).
#[derive(Clone)]
pub struct ScriptsState {
    pub shop: crate::shop::Shop,
    pub scripts: Arc<ScriptHost>,
    /// The serving pipeline: a preview prices with it, the draft in the script's place.
    pub pipeline: crate::orders::pipeline::Pipeline,
}

impl std::ops::Deref for ScriptsState {
    type Target = crate::shop::Shop;

    fn deref(&self) -> &crate::shop::Shop {
        &self.shop
    }
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
