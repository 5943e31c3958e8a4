//! `/api/docs`: the API reference for integrators writing clients (a mini program, a till), as
//! one HTML page rendered by the binary from the same OpenAPI document it serves at
//! `/api/openapi.json`, so the two cannot differ. No script and nothing from elsewhere: it
//! reads on a phone and offline.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use minijinja::{Environment, Value as Template, context};
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    if let Err(err) = env.add_template(
        "api_docs.html",
        include_str!("../../templates/api_docs.html"),
    ) {
        tracing::error!(error = %err, "the API reference template does not compile");
    }
    env
});

#[derive(Serialize)]
struct Tag {
    name: String,
    operations: Vec<Operation>,
}

#[derive(Serialize)]
struct Operation {
    anchor: String,
    method: String,
    path: String,
    summary: Template,
    description: Template,
    signed_in: bool,
    parameters: Vec<Field>,
    bodies: Vec<Body>,
    responses: Vec<Answer>,
}

#[derive(Serialize)]
struct Field {
    name: String,
    place: String,
    kind: Template,
    required: bool,
    description: Template,
}

#[derive(Serialize)]
struct Body {
    media_type: String,
    kind: Template,
    fields: Vec<Field>,
}

#[derive(Serialize)]
struct Answer {
    status: String,
    description: Template,
    kind: Template,
}

#[derive(Serialize)]
struct Schema {
    name: String,
    description: Template,
    kind: Template,
    fields: Vec<Field>,
}

/// The reference page for `document` (the served one, plugins' routes included).
pub fn page(document: &Value) -> Response {
    let html = TEMPLATES
        .get_template("api_docs.html")
        .and_then(|template| {
            template.render(context! {
                title => document.pointer("/info/title").and_then(Value::as_str).unwrap_or("API"),
                intro => prose(document.pointer("/info/description").and_then(Value::as_str).unwrap_or_default()),
                tags => Template::from(minijinja::value::Serde(tags(document))),
                schemas => Template::from(minijinja::value::Serde(schemas(document))),
            })
        });
    match html {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(err) => ApiError::internal(err).into_response(),
    }
}

fn tags(document: &Value) -> Vec<Tag> {
    let mut by_tag: BTreeMap<String, Vec<Operation>> = BTreeMap::new();
    for (path, item) in document
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for (method, operation) in item.as_object().into_iter().flatten() {
            let tag = operation
                .pointer("/tags/0")
                .and_then(Value::as_str)
                .unwrap_or("other")
                .to_owned();
            by_tag
                .entry(tag)
                .or_default()
                .push(operation_of(document, method, path, operation));
        }
    }
    by_tag
        .into_iter()
        .map(|(name, operations)| Tag { name, operations })
        .collect()
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn operation_of(document: &Value, method: &str, path: &str, operation: &Value) -> Operation {
    let parameters = operation
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|parameter| Field {
            name: text(parameter, "name").to_owned(),
            place: text(parameter, "in").to_owned(),
            kind: kind(parameter.get("schema").unwrap_or(&Value::Null)),
            required: parameter
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            description: prose(text(parameter, "description")),
        })
        .collect();
    let bodies = operation
        .pointer("/requestBody/content")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(media_type, entry)| {
            let schema = entry.get("schema").unwrap_or(&Value::Null);
            Body {
                media_type: media_type.clone(),
                kind: kind(schema),
                fields: fields(document, schema),
            }
        })
        .collect();
    let responses = operation
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(status, response)| {
            let schema = response
                .get("content")
                .and_then(Value::as_object)
                .and_then(|content| content.values().next())
                .and_then(|entry| entry.get("schema"));
            Answer {
                status: status.clone(),
                description: prose(text(response, "description")),
                // An error answer is always the one error shape: its codes say the rest.
                kind: match schema {
                    Some(schema) if !status.starts_with('4') && !status.starts_with('5') => {
                        kind(schema)
                    }
                    Some(_) => Template::from_safe_string(
                        "<a href=\"#schema-ErrorBody\">ErrorBody</a>".to_owned(),
                    ),
                    None => Template::from(""),
                },
            }
        })
        .collect();
    let signed_in = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|list| list.iter().any(|r| r.get("bearer").is_some()));
    Operation {
        anchor: format!("{method}-{path}")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect(),
        method: method.to_uppercase(),
        path: path.to_owned(),
        summary: prose(text(operation, "summary")),
        description: prose(text(operation, "description")),
        signed_in,
        parameters,
        bodies,
        responses,
    }
}

fn schemas(document: &Value) -> Vec<Schema> {
    document
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, schema)| Schema {
            name: name.clone(),
            description: prose(text(schema, "description")),
            kind: kind(schema),
            fields: fields(document, schema),
        })
        .collect()
}

/// The properties of an object schema (following one `$ref`), as rows.
fn fields(document: &Value, schema: &Value) -> Vec<Field> {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix('#')
            .and_then(|pointer| document.pointer(pointer))
            .unwrap_or(schema),
        None => schema,
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, property)| Field {
            name: name.clone(),
            place: String::new(),
            kind: kind(property),
            required: required.contains(&name.as_str()),
            description: prose(text(property, "description")),
        })
        .collect()
}

/// A schema in a few words: a link for a named type, `[T]` for a list, `T?` when null is
/// allowed, the values of an enumeration.
fn kind(schema: &Value) -> Template {
    Template::from_safe_string(kind_html(schema))
}

fn kind_html(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        let name = escape(name);
        return format!("<a href=\"#schema-{name}\">{name}</a>");
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(parts) = schema.get(combinator).and_then(Value::as_array) {
            let joiner = if combinator == "allOf" { " & " } else { " | " };
            return parts.iter().map(kind_html).collect::<Vec<_>>().join(joiner);
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .map(|v| format!("<code>{}</code>", escape(&v.to_string())))
            .collect::<Vec<_>>()
            .join(" | ");
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let nullable = types.contains(&"null");
    let base = types
        .iter()
        .find(|t| **t != "null")
        .map(|t| match *t {
            "array" => format!(
                "[{}]",
                kind_html(schema.get("items").unwrap_or(&Value::Null))
            ),
            "string" => match schema.get("format").and_then(Value::as_str) {
                Some("binary") => "file".to_owned(),
                Some(format) => format!("string ({})", escape(format)),
                None => "string".to_owned(),
            },
            "integer" if text(schema, "format") == "int64" => "integer".to_owned(),
            other => escape(other),
        })
        .unwrap_or_else(|| "any".to_owned());
    if nullable { format!("{base}?") } else { base }
}

/// Description text with its `code` spans, escaped.
fn prose(text: &str) -> Template {
    let mut html = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            html.push_str(&format!("<code>{}</code>", escape(part)));
        } else {
            html.push_str(&escape(part).replace("\n\n", "<br><br>"));
        }
    }
    Template::from_safe_string(html)
}

fn escape(text: &str) -> String {
    minijinja::HtmlEscape(text).to_string()
}
