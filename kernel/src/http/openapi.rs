//! The OpenAPI document made to say what the API does when it refuses. Handlers document their
//! own refusals with the stable codes in backticks (`(status = 409, description =
//! "`invalid_state`", body = ErrorBody)`); what every operation of a kind may answer is added
//! here from what the operation takes, so it cannot be forgotten:
//! - signed-in routes: 401 `unauthenticated`, 403 `forbidden` (and `csrf_failed` when a
//!   cookie session changes something);
//! - path parameters: 400 `invalid_parameter`, 404 `not_found`, 422 `invalid_text`;
//! - query parameters: 400 `invalid_parameter`, 422 `invalid_input` and `invalid_text`;
//! - JSON bodies: 400 `malformed_json` (or `body_unreadable`), 413 `body_too_large`, 415
//!   `unsupported_media_type`, 422 `invalid_input` and `invalid_text`; multipart forms: 400
//!   `invalid_form`, 413, 415, 422; any body: 422 `invalid_text`.
//!
//! A list that pages (an `offset` parameter) documents its `X-Total-Count` header.
//!
//! Each error answer's schema is the one error shape with `code` limited to the listed codes,
//! so the e2e suite, which checks every answer against this document, fails on a code an
//! operation does not list.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

/// Adds every operation's generic refusals and turns each error answer's codes into its
/// schema.
pub fn complete(document: &mut Value) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            complete_operation(method, operation);
        }
    }
}

/// The stable codes written in backticks in a description.
pub fn codes_in(description: &str) -> Vec<String> {
    description
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|code| !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .map(str::to_owned)
        .collect()
}

fn complete_operation(method: &str, operation: &mut Value) {
    let mut codes: BTreeMap<u16, BTreeSet<String>> = BTreeMap::new();
    let mut prose: BTreeMap<u16, String> = BTreeMap::new();
    let field = |value: &Value, key: &str| value.get(key).cloned().unwrap_or(Value::Null);
    let responses = field(operation, "responses");
    for (status, response) in responses.as_object().into_iter().flatten() {
        let Some(status) = status.parse::<u16>().ok().filter(|s| *s >= 400) else {
            continue;
        };
        let description = field(response, "description");
        let description = description.as_str().unwrap_or_default();
        codes
            .entry(status)
            .or_default()
            .extend(codes_in(description));
        let words = description
            .split('`')
            .step_by(2)
            .collect::<String>()
            .trim_matches(|c: char| matches!(c, ',' | '.' | ':' | ';') || c.is_whitespace())
            .to_owned();
        if !words.is_empty() {
            prose.insert(status, words);
        }
    }
    let mut add = |status: u16, list: &[&str]| {
        codes
            .entry(status)
            .or_default()
            .extend(list.iter().map(|c| (*c).to_owned()));
    };
    let secured = field(operation, "security")
        .as_array()
        .is_some_and(|list| list.iter().any(|r| r.get("bearer").is_some()));
    if secured {
        add(401, &["unauthenticated"]);
        add(403, &["forbidden"]);
        if method != "get" {
            add(403, &["csrf_failed"]);
        }
    }
    let parameters = field(operation, "parameters");
    let located = |place: &str| {
        parameters
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p.get("in").and_then(Value::as_str) == Some(place))
    };
    if located("path") {
        add(400, &["invalid_parameter"]);
        add(404, &["not_found"]);
        add(422, &["invalid_text"]);
    }
    if located("query") {
        add(400, &["invalid_parameter"]);
        // A value of the right type may still be refused by the handler (an unknown list).
        add(422, &["invalid_input", "invalid_text"]);
    }
    let body_types: Vec<String> = operation
        .pointer("/requestBody/content")
        .and_then(Value::as_object)
        .map(|content| content.keys().cloned().collect())
        .unwrap_or_default();
    for body_type in &body_types {
        add(413, &["body_too_large"]);
        add(422, &["invalid_text"]);
        if body_type == "application/json" {
            add(400, &["malformed_json", "body_unreadable"]);
            add(415, &["unsupported_media_type"]);
            add(422, &["invalid_input", "invalid_text"]);
        } else if body_type == "multipart/form-data" {
            add(400, &["invalid_form"]);
            add(415, &["unsupported_media_type"]);
            add(422, &["invalid_input", "invalid_text"]);
        }
    }
    let paged = parameters.as_array().into_iter().flatten().any(|p| {
        p.get("in").and_then(Value::as_str) == Some("query")
            && p.get("name").and_then(Value::as_str) == Some("offset")
    });
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    // A list that pages (`limit`/`offset`) answers how many it holds in all.
    if paged && let Some(ok) = responses.get_mut("200").and_then(Value::as_object_mut) {
        ok.insert(
            "headers".to_owned(),
            json!({ "X-Total-Count": {
                "description": "How many items the whole list holds, over all pages.",
                "required": true,
                "schema": { "type": "integer", "minimum": 0 }
            } }),
        );
    }
    for (status, codes) in codes {
        let listed: Vec<String> = codes.iter().map(|c| format!("`{c}`")).collect();
        let description = format!(
            "{}. Codes: {}.",
            prose
                .get(&status)
                .map_or_else(|| meaning(status).to_owned(), Clone::clone),
            listed.join(", ")
        );
        responses.insert(
            status.to_string(),
            json!({
                "description": description,
                "content": { "application/json": { "schema": {
                    "allOf": [
                        { "$ref": "#/components/schemas/ErrorBody" },
                        { "type": "object", "properties": { "error": {
                            "type": "object",
                            "properties": { "code": { "type": "string", "enum": codes } }
                        } } }
                    ]
                } } }
            }),
        );
    }
}

/// What an error status means in this API, for answers a handler did not describe itself.
fn meaning(status: u16) -> &'static str {
    match status {
        400 => "The request cannot be read (a parameter or the body's syntax)",
        401 => "Sign-in required, or the session ended",
        403 => "Not allowed for the caller's roles",
        404 => "Absent, or outside the caller's scope (the two are not told apart)",
        409 => "Conflicts with the record's current state",
        413 => "The body is over the size limit",
        415 => "The body's Content-Type is not accepted",
        422 => "A field is not acceptable; `field` names it",
        429 => "Too many attempts; `Retry-After` says when to try again",
        503 => "Temporarily unavailable; try again",
        _ => "Refused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_from_backticks() {
        assert_eq!(
            codes_in("Stock ran out: `out_of_stock`, `price_changed`"),
            ["out_of_stock", "price_changed"]
        );
        assert!(codes_in("no codes here").is_empty());
    }

    #[test]
    fn a_signed_in_json_route_gets_its_generic_refusals() {
        let mut operation = json!({
            "security": [{ "bearer": [] }],
            "parameters": [{ "name": "id", "in": "path" }],
            "requestBody": { "content": { "application/json": {} } },
            "responses": { "200": { "description": "ok" },
                "409": { "description": "Already confirmed: `invalid_state`" } }
        });
        complete_operation("post", &mut operation);
        let codes = |status: &str| {
            operation["responses"][status]["content"]["application/json"]["schema"]["allOf"][1]
                ["properties"]["error"]["properties"]["code"]["enum"]
                .clone()
        };
        assert_eq!(codes("401"), json!(["unauthenticated"]));
        assert_eq!(codes("403"), json!(["csrf_failed", "forbidden"]));
        assert_eq!(codes("409"), json!(["invalid_state"]));
        assert_eq!(codes("422"), json!(["invalid_input", "invalid_text"]));
        assert_eq!(
            operation["responses"]["409"]["description"],
            "Already confirmed. Codes: `invalid_state`."
        );
    }
}
