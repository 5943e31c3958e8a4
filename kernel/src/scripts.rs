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

crate::store::handle! {
    /// The scripts' part of the store: script versions and the pricing inputs recorded for replay.
    pub ScriptStore, scripts
}

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl Place {
    pub fn of(file: &str, position: Position) -> Place {
        Place {
            file: file.to_owned(),
            line: position.line(),
            column: position.position(),
        }
    }
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

/// Why a script does not serve, or why a run of it gave no answer. The words are what
/// operators read (the admin API, `pifa scripts check`, staff's inbox): each names the file,
/// and the place in it when Rhai knows one.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// Rhai's own message without its position: the place leads, as in every other error.
    #[error("{place}: {}", .source.err_type())]
    Syntax {
        place: Place,
        #[source]
        source: rhai::ParseError,
    },
    /// A run stopped: a limit, a failed operation, a missing field, a function's own error.
    #[error("{place}: {source}")]
    Runtime {
        place: Place,
        #[source]
        source: Box<EvalAltResult>,
    },
    #[error("{file}: it must define {signature}")]
    MissingEntry {
        file: String,
        signature: &'static str,
    },
    #[error("{file}: examples() must return an array")]
    ExamplesNotAnArray { file: String },
    #[error("{file}: example {n} is not a map")]
    ExampleNotAMap { file: String, n: usize },
    #[error("{file}: example {n} needs `{part}`")]
    ExampleIncomplete {
        file: String,
        n: usize,
        part: &'static str,
    },
    /// `got` and `expected` as the script's kind of rules shows them.
    #[error("{file}: example {n} gives {got}, expected {expected}")]
    ExampleFails {
        file: String,
        n: usize,
        got: String,
        expected: String,
    },
    #[error("{file}: {function} must return an array of {shape}")]
    NotAnArray {
        file: String,
        function: &'static str,
        shape: &'static str,
    },
    /// An adjustment `adjust` returned is not one (`pricing.rhai`).
    #[error("{file}: {problem}")]
    Adjustment {
        file: String,
        problem: pricing::AdjustmentProblem,
    },
    /// A message `notify` returned that does not read as one (`notifications.rhai`).
    #[error("{file}: message {n}: {source}")]
    MessageShape {
        file: String,
        n: usize,
        #[source]
        source: Box<EvalAltResult>,
    },
    /// A message (or its `fallback`) that reads but cannot be sent as it is.
    #[error("{file}: message {n}{}: {problem}", if *.fallback { ": fallback" } else { "" })]
    Message {
        file: String,
        n: usize,
        fallback: bool,
        problem: notifications::MessageProblem,
    },
    #[error("{file}: the event could not be given to the script: {source}")]
    Event {
        file: String,
        #[source]
        source: Box<EvalAltResult>,
    },
    /// A version failed on one of the carts it prices before it serves.
    #[error("{source} (on {cart})")]
    SampleCart {
        cart: String,
        #[source]
        source: Box<ScriptError>,
    },
}

impl ScriptError {
    /// The place in the file this error names, when Rhai knows one.
    pub fn place(&self) -> Option<&Place> {
        match self {
            ScriptError::Syntax { place, .. } | ScriptError::Runtime { place, .. } => Some(place),
            ScriptError::SampleCart { source, .. } => source.place(),
            _ => None,
        }
    }

    /// A run of `file` stopped, at the place Rhai names.
    pub fn runtime(file: &str, source: Box<EvalAltResult>) -> ScriptError {
        ScriptError::Runtime {
            place: Place::of(file, source.position()),
            source,
        }
    }
}

/// Why a script file was not loaded: unreadable, or refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Script(#[from] ScriptError),
}

/// Every script a load refused, one reason a line (each refusal is its own; one failing does
/// not hold the other back).
#[derive(Debug)]
pub struct ScriptsRefused(pub Vec<LoadError>);

impl std::fmt::Display for ScriptsRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (n, error) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// `source` can name only one cause: the first refusal's (the others are in the list).
impl std::error::Error for ScriptsRefused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .first()
            .map(|e| e as &(dyn std::error::Error + 'static))
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
pub fn compile(engine: &Engine, file: &str, source: &str) -> Result<Compiled, ScriptError> {
    let ast = engine
        .compile(source)
        .map_err(|source| ScriptError::Syntax {
            place: Place::of(file, source.position()),
            source,
        })?;
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
    (entry, signature): (&str, &'static str),
    mut check: impl FnMut(&Compiled, usize, &rhai::Map) -> Result<(), ScriptError>,
) -> Result<Compiled, ScriptError> {
    let compiled = compile(engine, file, source)?;
    let has = |name: &str| compiled.ast.iter_functions().any(|f| f.name == name);
    if !has(entry) {
        return Err(ScriptError::MissingEntry {
            file: file.to_owned(),
            signature,
        });
    }
    if !has("examples") {
        return Ok(compiled);
    }
    let examples: rhai::Dynamic = engine
        .call_fn(&mut rhai::Scope::new(), &compiled.ast, "examples", ())
        .map_err(|e| ScriptError::runtime(file, e))?;
    let examples =
        examples
            .try_cast::<rhai::Array>()
            .ok_or_else(|| ScriptError::ExamplesNotAnArray {
                file: file.to_owned(),
            })?;
    for (index, example) in examples.into_iter().enumerate() {
        let n = index + 1;
        let example =
            example
                .try_cast::<rhai::Map>()
                .ok_or_else(|| ScriptError::ExampleNotAMap {
                    file: file.to_owned(),
                    n,
                })?;
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
    pub fn check(self, engine: &Engine, source: &str) -> Result<Compiled, ScriptError> {
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
    pub fn load(
        dir: &Path,
        store: Option<Store>,
        clock: Clock,
    ) -> Result<Arc<ScriptHost>, ScriptsRefused> {
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
    pub fn reload(&self) -> Result<(), ScriptsRefused> {
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
                    Err(error) => errors.push(error.into()),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => serving.store(None),
                Err(source) => errors.push(LoadError::Read {
                    path: self.path(rules),
                    source,
                }),
            }
        }
        let result = if errors.is_empty() {
            Ok(())
        } else {
            Err(ScriptsRefused(errors))
        };
        if let Ok(mut last) = self.last_error.lock() {
            *last = result.as_ref().err().map(ToString::to_string);
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
pub fn check_dir(dir: &Path) -> Result<String, LoadError> {
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
            Err(source) => return Err(LoadError::Read { path, source }),
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
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(error.starts_with("pricing.rhai:2:"), "{error}");
    }
}
