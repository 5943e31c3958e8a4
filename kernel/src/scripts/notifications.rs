//! `notifications.rhai`: who hears of an event, by which channel, in which words (REQUIREMENTS
//! K1, K3). The contract (`scripts/README.md`):
//!
//! `fn notify(event)` returns an array of `#{ to, channel, template, params, text }`:
//! - `to`: a user id, or an array of them;
//! - `channel`: `"inbox"`, `"sms"`, `"wechat"` or `"email"`;
//! - `template`: the provider's template id (SMS `TemplateCode`, WeChat `template_id`); may be
//!   left out for inbox and email;
//! - `params`: the template's parameters (a map of strings), `#{}` when none;
//! - `text`: the message as its reader sees it (the inbox copy, the email body, and what staff
//!   read in the delivery log);
//! - `fallback` (optional): `#{ channel, template, params }` to use instead when the recipient
//!   has no address on `channel` (no WeChat bound, no e-mail). Without one such a message is
//!   recorded as `skipped`.
//!
//! `event` holds `kind`, `id`, `at` (`ms`, `date`), and, where they apply, `order`, `member`,
//! `staff` and `broadcast` (see `announce::event_map`). `fn examples()` (optional)
//! returns `#{ event, expect }` cases; a version whose examples fail does not serve.

use rhai::{Array, Dynamic, Engine};
use serde::Deserialize;

use super::{Compiled, ScriptError, compile_with_examples, expected};
use crate::announce::{Fallback, NotificationRules, Planned};
use crate::channels::Channel;

pub const FILE: &str = "notifications.rhai";

/// Longest text a rule may produce (an SMS template's text is far shorter; this bounds a
/// runaway string, not a real message).
const MAX_TEXT: usize = 500;

/// What makes a message (or its fallback) one that cannot be sent as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageProblem {
    #[error("text must be 1 to {MAX_TEXT} characters")]
    Text,
    #[error("channel {0:?} is not one of inbox, sms, wechat, email")]
    UnknownChannel(String),
    /// SMS and WeChat send only approved templates.
    #[error("{0} needs the provider's template id")]
    NoTemplate(String),
    #[error("params must be a map")]
    Params,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFallback {
    channel: String,
    #[serde(default)]
    template: String,
    #[serde(default)]
    params: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Recipients {
    One(i64),
    Many(Vec<i64>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMessage {
    to: Recipients,
    channel: String,
    #[serde(default)]
    template: String,
    #[serde(default)]
    params: serde_json::Value,
    text: String,
    #[serde(default)]
    fallback: Option<RawFallback>,
}

/// Runs `notify(event)`: the messages it asks for, one per recipient.
pub fn run(
    engine: &Engine,
    compiled: &Compiled,
    event: &serde_json::Value,
) -> Result<Vec<Planned>, ScriptError> {
    let event: Dynamic = rhai::serde::to_dynamic(event).map_err(|source| ScriptError::Event {
        file: compiled.file.clone(),
        source,
    })?;
    let result: Dynamic = engine
        .call_fn(&mut rhai::Scope::new(), &compiled.ast, "notify", (event,))
        .map_err(|e| ScriptError::runtime(&compiled.file, e))?;
    parse_messages(&compiled.file, result)
}

fn parse_messages(file: &str, result: Dynamic) -> Result<Vec<Planned>, ScriptError> {
    let array = result
        .try_cast::<Array>()
        .ok_or_else(|| ScriptError::NotAnArray {
            file: file.to_owned(),
            function: "notify",
            shape: "#{ to, channel, template, params, text }",
        })?;
    let mut planned = Vec::new();
    for (index, item) in array.into_iter().enumerate() {
        let n = index + 1;
        let raw: RawMessage =
            rhai::serde::from_dynamic(&item).map_err(|source| ScriptError::MessageShape {
                file: file.to_owned(),
                n,
                source,
            })?;
        let refused = |fallback: bool| {
            move |problem| ScriptError::Message {
                file: file.to_owned(),
                n,
                fallback,
                problem,
            }
        };
        let channel = checked_channel(&raw.channel, &raw.template).map_err(refused(false))?;
        if raw.text.trim().is_empty() || raw.text.chars().count() > MAX_TEXT {
            return Err(refused(false)(MessageProblem::Text));
        }
        let params = checked_params(raw.params).map_err(refused(false))?;
        let fallback = match raw.fallback {
            None => None,
            Some(fallback) => Some(Fallback {
                channel: checked_channel(&fallback.channel, &fallback.template)
                    .map_err(refused(true))?,
                template: fallback.template,
                params: checked_params(fallback.params).map_err(refused(true))?,
            }),
        };
        let recipients = match raw.to {
            Recipients::One(id) => vec![id],
            Recipients::Many(ids) => ids,
        };
        planned.extend(recipients.into_iter().map(|to| Planned {
            to,
            channel,
            template: raw.template.clone(),
            params: params.clone(),
            text: raw.text.clone(),
            fallback: fallback.clone(),
        }));
    }
    Ok(planned)
}

/// A message's channel; SMS and WeChat send only approved templates, so they need one.
fn checked_channel(name: &str, template: &str) -> Result<Channel, MessageProblem> {
    let channel =
        Channel::from_name(name).ok_or_else(|| MessageProblem::UnknownChannel(name.to_owned()))?;
    if matches!(channel, Channel::Sms | Channel::Wechat) && template.trim().is_empty() {
        return Err(MessageProblem::NoTemplate(name.to_owned()));
    }
    Ok(channel)
}

fn checked_params(params: serde_json::Value) -> Result<serde_json::Value, MessageProblem> {
    match params {
        serde_json::Value::Null => Ok(serde_json::json!({})),
        serde_json::Value::Object(map) => Ok(serde_json::Value::Object(map)),
        _ => Err(MessageProblem::Params),
    }
}

/// Compiles `source` and runs its `examples()`: the version to serve, or why not.
pub fn check(engine: &Engine, source: &str) -> Result<Compiled, ScriptError> {
    compile_with_examples(
        engine,
        FILE,
        source,
        ("notify", "fn notify(event)"),
        |compiled, n, example| {
            let event =
                example
                    .get("event")
                    .cloned()
                    .ok_or_else(|| ScriptError::ExampleIncomplete {
                        file: FILE.to_owned(),
                        n,
                        part: "event",
                    })?;
            let result: Dynamic = engine
                .call_fn(&mut rhai::Scope::new(), &compiled.ast, "notify", (event,))
                .map_err(|e| ScriptError::runtime(FILE, e))?;
            let got = parse_messages(FILE, result)?;
            let expect = parse_messages(FILE, expected(example))?;
            if got != expect {
                return Err(ScriptError::ExampleFails {
                    file: FILE.to_owned(),
                    n,
                    got: describe(&got),
                    expected: describe(&expect),
                });
            }
            Ok(())
        },
    )
}

fn describe(messages: &[Planned]) -> String {
    let parts: Vec<String> = messages
        .iter()
        .map(|m| format!("{} to {}: {}", m.channel.as_str(), m.to, m.text))
        .collect();
    format!("[{}]", parts.join("; "))
}

/// The scripts host is the notification rules: the version of `notifications.rhai` serving
/// now, run by `notify(event)`.
impl NotificationRules for super::ScriptHost {
    type Version = Compiled;
    type Error = ScriptError;

    fn serving(&self) -> Option<std::sync::Arc<Compiled>> {
        self.notifications.load_full()
    }

    fn plan(
        &self,
        version: &Compiled,
        event: &serde_json::Value,
    ) -> Result<Vec<Planned>, ScriptError> {
        run(&self.engine, version, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = r#"
fn notify(event) {
    if event.kind == "order.placed" {
        return [#{ to: [1, 2], channel: "sms", template: "SMS_1", params: #{ order_no: event.order.no },
                   text: `有新订单${event.order.no}` }];
    }
    []
}
fn examples() {
    [#{ event: #{ kind: "order.placed", order: #{ no: "A1" } },
        expect: [#{ to: [1, 2], channel: "sms", template: "SMS_1", params: #{ order_no: "A1" }, text: "有新订单A1" }] }]
}
"#;

    #[test]
    fn a_message_to_several_is_one_per_recipient() {
        let engine = super::super::engine();
        let compiled = check(&engine, RULES);
        let Ok(compiled) = compiled else {
            panic!("{:?}", compiled.err());
        };
        let event = serde_json::json!({ "kind": "order.placed", "order": { "no": "B2" } });
        let planned = run(&engine, &compiled, &event).unwrap_or_default();
        assert_eq!(planned.len(), 2);
        assert_eq!(planned[1].to, 2);
        assert_eq!(planned[1].params, serde_json::json!({ "order_no": "B2" }));
        assert_eq!(planned[1].text, "有新订单B2");
    }

    #[test]
    fn a_failing_example_keeps_the_version_out() {
        let wrong = RULES.replace("text: \"有新订单A1\"", "text: \"有新订单A2\"");
        let error = check(&super::super::engine(), &wrong)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("example 1 gives"), "{error}");
    }

    #[test]
    fn an_unknown_channel_is_named() {
        let bad = RULES.replace(
            "channel: \"sms\", template: \"SMS_1\", params: #{ order_no: event",
            "channel: \"fax\", template: \"SMS_1\", params: #{ order_no: event",
        );
        let engine = super::super::engine();
        let compiled = super::super::compile(&engine, FILE, &bad);
        let Ok(compiled) = compiled else {
            panic!("{:?}", compiled.err());
        };
        let event = serde_json::json!({ "kind": "order.placed", "order": { "no": "B2" } });
        let error = run(&engine, &compiled, &event)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("\"fax\""), "{error}");
    }
}
