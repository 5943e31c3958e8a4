//! Fixtures: a hook's input, the storage it finds, and what it must answer and write. One
//! format, one set of checks, played in two places: `pifa plugins test` plays a plugin's
//! `fixtures/*.json` against its built component, and the plugin's own unit tests play them
//! against its logic with [`play_dir`], so a fixture that disagrees with the code fails before
//! the kernel's suite runs.
//!
//! ```json
//! { "hook": "checkout", "kv": {"coupon:1": {…}}, "counters": {"used:1": 0},
//!   "input": {…}, "output": {…},              // or "refused": {"code": …, "message": …}
//!   "expect_counters": {"used:1": 1}, "expect_kv": {…}, "expect_emitted": [{"kind": …, "payload": …}] }
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::storage::MemoryKv;
use crate::types::HookError;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Fixture {
    pub hook: String,
    /// Values stored before the call: a string as its text, anything else as JSON.
    #[serde(default)]
    pub kv: Map<String, Value>,
    #[serde(default)]
    pub counters: Map<String, Value>,
    pub input: Value,
    #[serde(default)]
    pub output: Option<Value>,
    #[serde(default)]
    pub refused: Option<FixtureRefusal>,
    #[serde(default)]
    pub expect_counters: Option<Map<String, Value>>,
    #[serde(default)]
    pub expect_kv: Option<Map<String, Value>>,
    #[serde(default)]
    pub expect_emitted: Option<Vec<FixtureEvent>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FixtureRefusal {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FixtureEvent {
    /// Without the `plugin.<name>.` the kernel puts before it.
    pub kind: String,
    pub payload: Value,
}

/// A stored value as a fixture's `kv` gives it.
pub fn fixture_bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(text) => text.clone().into_bytes(),
        other => serde_json::to_vec(other).unwrap_or_default(),
    }
}

/// How a refusal reads in a played fixture's answer.
pub fn refusal_text(code: &str, message: &str) -> String {
    format!("refused: {code}: {message}")
}

/// What a played hook wrote: each value put (`Some`) or deleted (`None`), each counter's total
/// move, each event emitted (its kind without the plugin's prefix).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Written {
    pub values: BTreeMap<String, Option<Vec<u8>>>,
    pub counters: BTreeMap<String, i64>,
    pub events: Vec<FixtureEvent>,
}

impl Fixture {
    /// Its storage as a memory namespace, for playing it against the logic.
    pub fn memory_kv(&self) -> MemoryKv {
        let mut kv = MemoryKv::default();
        for (key, value) in &self.kv {
            kv.values.insert(key.clone(), fixture_bytes(value));
        }
        for (key, count) in &self.counters {
            kv.counters
                .insert(key.clone(), count.as_i64().unwrap_or_default());
        }
        kv
    }

    /// Whether it says what the hook must answer or write (a bare input does not).
    pub fn expects_something(&self) -> bool {
        self.output.is_some()
            || self.refused.is_some()
            || self.expect_counters.is_some()
            || self.expect_kv.is_some()
            || self.expect_emitted.is_some()
    }

    /// What `answer` (the output, or why there is none: `refusal_text` for a refusal) and
    /// `written` miss of the fixture's expectations, one line each (empty: it holds).
    pub fn misses(&self, answer: &Result<Value, String>, written: &Written) -> Vec<String> {
        let mut misses = Vec::new();
        match (&self.refused, answer) {
            (Some(refused), Err(said)) => {
                let wanted = refusal_text(&refused.code, &refused.message);
                if *said != wanted {
                    misses.push(format!("wanted «{wanted}», got «{said}»"));
                }
            }
            (Some(_), Ok(output)) => misses.push(format!("wanted a refusal, got {output}")),
            (None, Err(said)) => misses.push(format!("failed: {said}")),
            (None, Ok(output)) => {
                if let Some(expected) = &self.output
                    && expected != output
                {
                    misses.push(format!("output {output}, wanted {expected}"));
                }
            }
        }
        for (key, wanted) in self.expect_counters.iter().flatten() {
            let start = self.counters.get(key).and_then(Value::as_i64).unwrap_or(0);
            let got = start.saturating_add(written.counters.get(key).copied().unwrap_or(0));
            if wanted.as_i64() != Some(got) {
                misses.push(format!("counter {key} is {got}, wanted {wanted}"));
            }
        }
        for (key, wanted) in self.expect_kv.iter().flatten() {
            let got = match written.values.get(key) {
                Some(Some(bytes)) => serde_json::from_slice(bytes).ok(),
                Some(None) => Some(Value::Null),
                None => self.kv.get(key).cloned(),
            };
            if got.as_ref() != Some(wanted) {
                misses.push(format!("kv {key} is {got:?}, wanted {wanted}"));
            }
        }
        if let Some(wanted) = &self.expect_emitted
            && written.events != *wanted
        {
            misses.push(format!("emitted {:?}, wanted {wanted:?}", written.events));
        }
        misses
    }
}

impl Written {
    /// What a call wrote to `after`, a memory namespace that held `before`.
    pub fn between(before: &MemoryKv, after: &MemoryKv) -> Written {
        let mut values = BTreeMap::new();
        for (key, bytes) in &after.values {
            if before.values.get(key) != Some(bytes) {
                values.insert(key.clone(), Some(bytes.clone()));
            }
        }
        for key in before.values.keys() {
            if !after.values.contains_key(key) {
                values.insert(key.clone(), None);
            }
        }
        let mut counters = BTreeMap::new();
        for key in before.counters.keys().chain(after.counters.keys()) {
            let moved = after
                .counters
                .get(key)
                .copied()
                .unwrap_or(0)
                .saturating_sub(before.counters.get(key).copied().unwrap_or(0));
            if moved != 0 {
                counters.insert(key.clone(), moved);
            }
        }
        let events = after
            .emitted
            .iter()
            .skip(before.emitted.len())
            .map(|(kind, payload)| FixtureEvent {
                kind: kind.clone(),
                payload: payload.clone(),
            })
            .collect();
        Written {
            values,
            counters,
            events,
        }
    }
}

/// Plays every `*.json` fixture in `dir` against the plugin's logic and panics with what each
/// that fails misses (a test's failure), or when fewer than `at_least` were found. `play` is
/// the hook named (`quote`, `checkout`, `on-event`, `handle-http`) run on the input, with the
/// fixture's storage: its output as JSON, or its refusal.
#[expect(
    clippy::panic,
    reason = "a test's tool: a fixture that fails, or cannot be read, fails the test"
)]
pub fn play_dir(
    dir: &Path,
    at_least: usize,
    play: impl Fn(&str, &mut MemoryKv, Value) -> Result<Value, HookError>,
) {
    let mut played = 0;
    let mut failed = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let fixture: Fixture = serde_json::from_slice(&text)
            .unwrap_or_else(|e| panic!("{}: not a fixture: {e}", path.display()));
        assert!(
            fixture.expects_something(),
            "{}: a fixture must expect something (output, refused or expect_*)",
            path.display()
        );
        let before = fixture.memory_kv();
        let mut kv = before.clone();
        let answer = play(&fixture.hook, &mut kv, fixture.input.clone())
            .map_err(|refusal| refusal_text(&refusal.code, &refusal.message));
        let mut misses = fixture.misses(&answer, &Written::between(&before, &kv));
        if fixture.hook == "quote"
            && let Ok(output) = &answer
        {
            misses.extend(skipped_checkout_misses(
                &play,
                &before,
                &fixture.input,
                output,
            ));
        }
        if !misses.is_empty() {
            failed.push(format!("{}: {}", path.display(), misses.join("; ")));
        }
        played += 1;
    }
    assert!(failed.is_empty(), "fixtures failed:\n{}", failed.join("\n"));
    assert!(
        played >= at_least,
        "only {played} fixtures in {}, wanted at least {at_least}",
        dir.display()
    );
}

/// A quote that says `skip_checkout` promises the kernel its checkout would do nothing on that
/// cart: played here on the cart as the kernel would hand it over (the quote's input and the
/// adjustments it answered), it must reserve nothing, refuse nothing and write nothing.
fn skipped_checkout_misses(
    play: &impl Fn(&str, &mut MemoryKv, Value) -> Result<Value, HookError>,
    kv: &MemoryKv,
    quote_input: &Value,
    quote_output: &Value,
) -> Vec<String> {
    if quote_output.get("skip_checkout") != Some(&Value::Bool(true)) {
        return Vec::new();
    }
    // `CheckoutInput`: the quote's input, flattened, with the adjustments it answered.
    let mut input = quote_input.clone();
    if let Some(fields) = input.as_object_mut() {
        fields.insert(
            "adjustments".to_owned(),
            quote_output
                .get("adjustments")
                .cloned()
                .unwrap_or(Value::Array(Vec::new())),
        );
    }
    let mut after = kv.clone();
    let answer = play("checkout", &mut after, input);
    let written = Written::between(kv, &after);
    let reserved = |output: &Value| {
        output
            .get("reservations")
            .and_then(Value::as_array)
            .is_some_and(|list| !list.is_empty())
    };
    match answer {
        Err(refusal) => vec![format!(
            "skip_checkout, yet checkout on this cart refuses: {}",
            refusal_text(&refusal.code, &refusal.message)
        )],
        Ok(output) if reserved(&output) => {
            vec![format!(
                "skip_checkout, yet checkout on this cart reserves: {output}"
            )]
        }
        Ok(_) if written != Written::default() => {
            vec![format!(
                "skip_checkout, yet checkout on this cart writes: {written:?}"
            )]
        }
        Ok(_) => Vec::new(),
    }
}

/// The JSON of a hook's output, for `play_dir`'s closure.
pub fn json(output: impl serde::Serialize) -> Result<Value, HookError> {
    serde_json::to_value(output).map_err(|e| HookError::new("output", e.to_string()))
}

/// A fixture's input read as the hook's input type.
pub fn input<T: serde::de::DeserializeOwned>(input: Value) -> Result<T, HookError> {
    serde_json::from_value(input).map_err(|e| HookError::new("input", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Emit, Kv};

    #[test]
    fn what_a_call_wrote_is_checked_against_the_fixture() {
        let fixture: Fixture = serde_json::from_value(serde_json::json!({
            "hook": "on-event",
            "kv": {"gone": 1, "kept": "text"},
            "counters": {"n": 2},
            "input": {},
            "expect_counters": {"n": 5},
            "expect_kv": {"new": {"a": 1}, "gone": null, "kept": "text"},
            "expect_emitted": [{"kind": "done", "payload": {"x": 1}}]
        }))
        .unwrap();
        let before = fixture.memory_kv();
        let mut after = before.clone();
        after.put_json("new", &serde_json::json!({"a": 1})).unwrap();
        after.delete("gone").unwrap();
        after.add_bounded("n", 3, 0, 10).unwrap();
        after.emit("done", &serde_json::json!({"x": 1})).unwrap();
        let written = Written::between(&before, &after);
        assert_eq!(
            fixture.misses(&Ok(Value::Null), &written),
            Vec::<String>::new()
        );

        let nothing = Written::default();
        let misses = fixture.misses(&Err(refusal_text("no", "why")), &nothing);
        assert_eq!(misses.len(), 5, "{misses:?}");
        assert!(misses[0].contains("failed: refused: no: why"), "{misses:?}");
    }

    #[test]
    fn a_quote_that_skips_checkout_is_held_to_it() {
        let quote_input = serde_json::json!({"lines": [], "options": {"coupon_id": 1}});
        let said = serde_json::json!({"adjustments": [], "skip_checkout": true});
        let checkout_reserving = |hook: &str,
                                  _: &mut MemoryKv,
                                  input: Value|
         -> Result<Value, HookError> {
            assert_eq!(hook, "checkout");
            assert_eq!(input["adjustments"], serde_json::json!([]), "{input}");
            assert_eq!(
                input["options"]["coupon_id"], 1,
                "the quote's input, flattened"
            );
            Ok(
                serde_json::json!({"reservations": [{"key": "used:1", "delta": 1, "min": 0, "max": 1, "message": "用过了"}]}),
            )
        };
        let misses = skipped_checkout_misses(
            &checkout_reserving,
            &MemoryKv::default(),
            &quote_input,
            &said,
        );
        assert!(
            misses[0].contains("yet checkout on this cart reserves"),
            "{misses:?}"
        );

        let refusing = |_: &str, _: &mut MemoryKv, _: Value| -> Result<Value, HookError> {
            Err(HookError::new("no", "why"))
        };
        let misses = skipped_checkout_misses(&refusing, &MemoryKv::default(), &quote_input, &said);
        assert!(misses[0].contains("refuses"), "{misses:?}");

        let writing = |_: &str, kv: &mut MemoryKv, _: Value| -> Result<Value, HookError> {
            kv.add_bounded("n", 1, 0, 10)
                .map_err(|e| HookError::new("kv", e))?;
            Ok(serde_json::json!({"reservations": []}))
        };
        let misses = skipped_checkout_misses(&writing, &MemoryKv::default(), &quote_input, &said);
        assert!(misses[0].contains("writes"), "{misses:?}");

        let asked = serde_json::json!({"adjustments": []});
        assert!(
            skipped_checkout_misses(&refusing, &MemoryKv::default(), &quote_input, &asked)
                .is_empty(),
            "without skip_checkout, checkout is not played"
        );
    }
}
