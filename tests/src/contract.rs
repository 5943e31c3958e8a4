//! The OpenAPI document as a contract the running server keeps (issue 15, item 7): every answer
//! a test server gives under `/api/v1` is checked against the document's entry for its route,
//! method and status, its content type, and its body's schema (error codes included: an
//! operation lists the codes it may give). A mismatch is recorded and fails the test at
//! `TestApp::stop`, naming the route, the status and the body.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

/// Answers checked by every test server of this process (reported by `TestApp::stop`).
pub static CHECKED_IN_PROCESS: AtomicUsize = AtomicUsize::new(0);

/// The document and what the answers did against it.
pub struct Contract {
    document: Value,
    plugins: Arc<pifa::plugins::PluginHost>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
    violations: Mutex<Vec<String>>,
    checked: AtomicUsize,
}

impl Contract {
    pub fn new(plugins: Arc<pifa::plugins::PluginHost>) -> Arc<Contract> {
        Arc::new(Contract {
            document: serde_json::to_value(pifa::http::openapi()).unwrap_or_default(),
            plugins,
            validators: Mutex::new(HashMap::new()),
            violations: Mutex::new(Vec::new()),
            checked: AtomicUsize::new(0),
        })
    }

    /// Puts the check around `router`.
    pub fn wrap(self: &Arc<Contract>, router: axum::Router) -> axum::Router {
        router.layer(axum::middleware::from_fn_with_state(self.clone(), check))
    }

    pub fn checked(&self) -> usize {
        self.checked.load(Ordering::Relaxed)
    }

    /// The mismatches so far, emptied.
    pub fn take_violations(&self) -> Vec<String> {
        self.violations
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    fn violation(&self, text: String) {
        if let Ok(mut violations) = self.violations.lock() {
            violations.push(text);
        }
    }

    /// The kernel's paths, and the serving plugins' when the path is one of theirs.
    fn paths_for(&self, path: &str) -> Value {
        let mut paths = self.document["paths"].clone();
        if path.starts_with("/api/v1/plugins/")
            && let Some(object) = paths.as_object_mut()
        {
            object.extend(pifa::plugins::http::openapi_paths(&self.plugins));
        }
        paths
    }

    fn check_answer(
        &self,
        method: &str,
        path: &str,
        status: u16,
        headers: &axum::http::HeaderMap,
        body: &[u8],
    ) -> Result<(), String> {
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let paths = self.paths_for(path);
        let Some((template, item)) = match_path(&paths, path) else {
            return self.check_unrouted(status, content_type, body);
        };
        let Some(operation) = item.get(method.to_lowercase()) else {
            return self.check_unrouted(status, content_type, body);
        };
        let responses = &operation["responses"];
        let response = responses
            .get(status.to_string())
            .or_else(|| responses.get(format!("{}XX", status / 100)))
            .or_else(|| responses.get("default"))
            .ok_or_else(|| {
                format!(
                    "{method} {template}: status {status} is not documented (documented: {}); body {}",
                    responses
                        .as_object()
                        .map(|r| r.keys().cloned().collect::<Vec<_>>().join(", "))
                        .unwrap_or_default(),
                    shown(body)
                )
            })?;
        let response = resolve(&self.document, response);
        for (name, header) in response["headers"].as_object().into_iter().flatten() {
            if header["required"] == true && !headers.contains_key(name.to_lowercase().as_str()) {
                return Err(format!(
                    "{method} {template} {status}: the documented header {name} is missing"
                ));
            }
        }
        let Some(content) = response["content"].as_object() else {
            if body.is_empty() {
                return Ok(());
            }
            return Err(format!(
                "{method} {template} {status}: documented without a body, answered {content_type:?} {}",
                shown(body)
            ));
        };
        let media_type = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let entry = content
            .iter()
            .find(|(documented, _)| media_matches(documented, &media_type))
            .map(|(_, entry)| entry)
            .ok_or_else(|| {
                format!(
                    "{method} {template} {status}: answered {media_type:?}, documented {:?}",
                    content.keys().collect::<Vec<_>>()
                )
            })?;
        if !media_type.ends_with("json") {
            return Ok(());
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            format!(
                "{method} {template} {status}: not JSON ({e}): {}",
                shown(body)
            )
        })?;
        let schema = &entry["schema"];
        if schema.is_null() {
            return Ok(());
        }
        let key = format!("{method} {template} {status} {media_type}");
        let validator = self.validator(&key, schema)?;
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .take(5)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{method} {template} {status}: the body does not fit the documented schema: {}; body {}",
                errors.join("; "),
                shown(body)
            ))
        }
    }

    /// A path or method no operation has: the router's own 404/405, in the one error shape.
    fn check_unrouted(&self, status: u16, content_type: &str, body: &[u8]) -> Result<(), String> {
        let value: Value = serde_json::from_slice(body).unwrap_or_default();
        let code = value["error"]["code"].as_str().unwrap_or_default();
        let expected = match status {
            404 => "route_not_found",
            405 => "method_not_allowed",
            _ => "",
        };
        if content_type.starts_with("application/json") && code == expected {
            Ok(())
        } else {
            Err(format!(
                "an unrouted request answered {status} {content_type:?}: {}",
                shown(body)
            ))
        }
    }

    fn validator(&self, key: &str, schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
        if let Some(found) = self
            .validators
            .lock()
            .ok()
            .and_then(|v| v.get(key).cloned())
        {
            return Ok(found);
        }
        // The schema's `$ref`s point into the document's components: give it them.
        let mut root = match schema {
            Value::Object(object) => object.clone(),
            other => {
                let mut wrapper = serde_json::Map::new();
                wrapper.insert("allOf".to_owned(), Value::Array(vec![other.clone()]));
                wrapper
            }
        };
        root.insert("components".to_owned(), self.document["components"].clone());
        let validator = Arc::new(
            jsonschema::validator_for(&Value::Object(root))
                .map_err(|e| format!("{key}: the documented schema does not compile: {e}"))?,
        );
        if let Ok(mut validators) = self.validators.lock() {
            validators.insert(key.to_owned(), validator.clone());
        }
        Ok(validator)
    }
}

/// The middleware: passes the request on, then checks the answer.
async fn check(State(contract): State<Arc<Contract>>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    if !path.starts_with("/api/v1/") {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(err) => {
            contract.violation(format!(
                "{method} {path}: the body could not be read: {err}"
            ));
            return Response::from_parts(parts, Body::empty());
        }
    };
    contract.checked.fetch_add(1, Ordering::Relaxed);
    CHECKED_IN_PROCESS.fetch_add(1, Ordering::Relaxed);
    if let Err(violation) = contract.check_answer(
        &method,
        &path,
        parts.status.as_u16(),
        &parts.headers,
        &bytes,
    ) {
        contract.violation(violation);
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The document's path template matching `path`, preferring literal segments
/// (`/orders/export` over `/orders/{id}`).
fn match_path<'a>(paths: &'a Value, path: &str) -> Option<(&'a str, &'a Value)> {
    let wanted: Vec<&str> = path.split('/').collect();
    paths
        .as_object()?
        .iter()
        .filter_map(|(template, item)| {
            let segments: Vec<&str> = template.split('/').collect();
            if segments.len() != wanted.len() {
                return None;
            }
            let mut literal = 0;
            for (segment, actual) in segments.iter().zip(&wanted) {
                if segment.starts_with('{') && segment.ends_with('}') {
                    if actual.is_empty() {
                        return None;
                    }
                } else if segment == actual {
                    literal += 1;
                } else {
                    return None;
                }
            }
            Some((literal, template.as_str(), item))
        })
        .max_by_key(|(literal, _, _)| *literal)
        .map(|(_, template, item)| (template, item))
}

/// A response that is a `$ref` to `components/responses`, followed.
fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => document.pointer(pointer).unwrap_or(value),
        None => value,
    }
}

fn media_matches(documented: &str, actual: &str) -> bool {
    documented == actual
        || documented == "*/*"
        || documented
            .strip_suffix("/*")
            .is_some_and(|prefix| actual.starts_with(&format!("{prefix}/")))
}

fn shown(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.chars().take(300).collect()
}
