//! What an event tells a plugin: every field of every event kind the kernel writes to the
//! outbox belongs to a class, and a plugin sees a field only when `plugins.toml` grants it the
//! class (`data = ["people", "amounts", "payment"]`). Fields that only say which record
//! changed and how (an order's id, number, status and region) come with the event itself.
//! A field this table does not know is withheld: a field the kernel adds later reaches no
//! plugin until it is classified here (and the tests below fail until it is).

use serde_json::{Map, Value};

use super::config::{DataClass, Grants};

/// Who may see a field of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldClass {
    /// Part of the event itself: every plugin granted the event kind sees it.
    Event,
    /// Only plugins granted this class see it.
    Data(DataClass),
}

use DataClass::{Amounts, Payment, People};
use FieldClass::{Data, Event};

/// Every `order.*` event (`orders::machine::OrderEventPayload`).
const ORDER_FIELDS: &[(&str, FieldClass)] = &[
    ("order_id", Event),
    ("order_no", Event),
    ("status", Event),
    // A sales region (海口, 三亚 …), not where anybody lives: what a regional promotion keys on.
    ("region_id", Event),
    ("member_id", Data(People)),
    ("manager_id", Data(People)),
    ("promoter_id", Data(People)),
    ("level_id", Data(People)),
    ("total_fen", Data(Amounts)),
    ("refunded_total_fen", Data(Amounts)),
    ("refunded_fen", Data(Amounts)),
    // What was bought and for how much: the goods are the shop's own, the totals amounts.
    ("lines", Data(Amounts)),
    ("payment_method", Data(Payment)),
];

/// `member.approved` (`members::records::member_approved_payload`).
const MEMBER_FIELDS: &[(&str, FieldClass)] = &[("member_id", Data(People))];

/// `broadcast` (`notify::broadcast::broadcast_payload`): what staff sent every member of an
/// audience; who was in the audience is people.
const BROADCAST_FIELDS: &[(&str, FieldClass)] = &[
    ("broadcast_id", Event),
    ("title", Event),
    ("text", Event),
    ("channels", Event),
    ("recipients", Data(People)),
];

/// The classified fields of events of `kind`; none for a kind the kernel does not write.
pub fn fields_of(kind: &str) -> &'static [(&'static str, FieldClass)] {
    if kind.starts_with("order.") {
        ORDER_FIELDS
    } else if kind == crate::members::records::MEMBER_APPROVED {
        MEMBER_FIELDS
    } else if kind == crate::notify::broadcast::BROADCAST {
        BROADCAST_FIELDS
    } else {
        &[]
    }
}

/// A field of an event a plugin emitted (`plugin.<name>.<kind>`, capability `emit`): the
/// kernel does not know its fields, so they are classed by name: who (`member_id`,
/// `user_id`) is people, money (`…_fen`) amounts, the rest the event's own.
fn plugin_field_class(field: &str) -> FieldClass {
    if matches!(field, "member_id" | "user_id") {
        Data(People)
    } else if field.ends_with("_fen") {
        Data(Amounts)
    } else {
        Event
    }
}

/// The class of field `field` of a `kind` event, if it is classified.
pub fn class_of(kind: &str, field: &str) -> Option<FieldClass> {
    if kind.starts_with("plugin.") {
        return Some(plugin_field_class(field));
    }
    fields_of(kind)
        .iter()
        .find(|(name, _)| *name == field)
        .map(|(_, class)| *class)
}

/// `payload` of a `kind` event as a plugin with `grants` may see it: the fields of classes
/// it is granted and the event's own; everything else (unknown fields, a payload that is not
/// an object) taken out.
pub fn visible_payload(kind: &str, payload: Value, grants: &Grants) -> Value {
    let Value::Object(fields) = payload else {
        return Value::Object(Map::new());
    };
    let kept = fields
        .into_iter()
        .filter(|(field, _)| match class_of(kind, field) {
            Some(Event) => true,
            Some(Data(class)) => grants.allows_data(class),
            None => false,
        })
        .collect();
    Value::Object(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payload of every event kind the kernel writes, built by the functions that write
    /// them, with every field present.
    fn kernel_payloads() -> Vec<(&'static str, Value)> {
        let order = crate::orders::machine::OrderEventPayload {
            order_id: 7,
            order_no: "20261130000007".to_owned(),
            member_id: 42,
            region_id: Some(1),
            manager_id: Some(11),
            promoter_id: Some(21),
            level_id: Some(2),
            status: "completed",
            total_fen: 12_300,
            payment_method: "cash_on_delivery",
            refunded_total_fen: 1_000,
            refunded_fen: Some(1_000),
            lines: vec![crate::orders::machine::EventLine {
                line_no: 1,
                sku_id: 5,
                product_id: 3,
                qty: 2,
                line_total_fen: 12_300,
                gift: false,
                brand_id: Some(4),
                category_ids: vec![9, 1],
            }],
        };
        vec![
            (
                "order.completed",
                serde_json::to_value(&order).unwrap_or_default(),
            ),
            (
                crate::members::records::MEMBER_APPROVED,
                crate::members::records::member_approved_payload(42),
            ),
            (
                crate::notify::broadcast::BROADCAST,
                crate::notify::broadcast::broadcast_payload(
                    3,
                    "通知",
                    "明天放假",
                    &["inbox"],
                    &[42],
                ),
            ),
        ]
    }

    #[test]
    fn every_field_of_every_kernel_event_is_classified() {
        for (kind, payload) in kernel_payloads() {
            let fields = payload.as_object().cloned().unwrap_or_default();
            assert!(!fields.is_empty(), "{kind}: {payload}");
            for field in fields.keys() {
                assert!(
                    class_of(kind, field).is_some(),
                    "{kind}.{field} is not classified in plugins/data.rs: classify it before any plugin may see it"
                );
            }
            // And the table names no field the kernel does not write (a stale entry).
            for (field, _) in fields_of(kind) {
                assert!(fields.contains_key(*field), "{kind}: no field {field}");
            }
        }
    }

    /// Events are written in these files only, each through the payload builder above: a new
    /// `INSERT INTO events` elsewhere fails here until its payload is classified and added to
    /// `kernel_payloads`.
    #[test]
    fn events_are_written_only_where_their_payloads_are_classified() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        let mut dirs = vec![src.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && path != src.join("plugins/data.rs")
                    && std::fs::read_to_string(&path)
                        .unwrap_or_default()
                        .contains("INSERT INTO events")
                {
                    let relative = path.strip_prefix(&src).unwrap_or(&path);
                    found.push(relative.display().to_string());
                }
            }
        }
        found.sort();
        assert_eq!(
            found,
            [
                "members/records.rs",
                "notify/broadcast.rs",
                "orders/machine.rs",
                "plugins/kv.rs"
            ]
        );
    }

    #[test]
    fn a_plugin_event_shows_people_and_amounts_only_to_those_granted_them() {
        let payload = serde_json::json!({
            "member_id": 42, "user_id": 7, "amount_fen": 500, "gift_id": 3, "text": "已兑换"
        });
        let visible = |grants: &Grants| -> Vec<String> {
            let seen = visible_payload("plugin.points.gift_redeemed", payload.clone(), grants);
            let mut keys: Vec<String> = seen
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .collect();
            keys.sort();
            keys
        };
        assert_eq!(visible(&Grants::default()), ["gift_id", "text"]);
        let people = Grants {
            data: vec![People],
            ..Grants::default()
        };
        assert_eq!(
            visible(&people),
            ["gift_id", "member_id", "text", "user_id"]
        );
    }

    #[test]
    fn a_plugin_sees_the_event_and_the_classes_it_is_granted() {
        let payload = kernel_payloads()
            .into_iter()
            .find(|(kind, _)| *kind == "order.completed")
            .map(|(_, p)| p)
            .unwrap_or_default();
        let mut with_secret = payload.clone();
        if let Some(fields) = with_secret.as_object_mut() {
            fields.insert("phone".to_owned(), Value::from("13800000041"));
        }
        let keys = |grants: &Grants| -> Vec<String> {
            let seen = visible_payload("order.completed", with_secret.clone(), grants);
            let mut keys: Vec<String> = seen
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .collect();
            keys.sort();
            keys
        };
        let none = Grants::default();
        assert_eq!(keys(&none), ["order_id", "order_no", "region_id", "status"]);
        let amounts = Grants {
            data: vec![Amounts],
            ..Grants::default()
        };
        assert_eq!(
            keys(&amounts),
            [
                "lines",
                "order_id",
                "order_no",
                "refunded_fen",
                "refunded_total_fen",
                "region_id",
                "status",
                "total_fen"
            ]
        );
        let all = Grants {
            data: DataClass::ALL.to_vec(),
            ..Grants::default()
        };
        assert_eq!(
            keys(&all),
            [
                "level_id",
                "lines",
                "manager_id",
                "member_id",
                "order_id",
                "order_no",
                "payment_method",
                "promoter_id",
                "refunded_fen",
                "refunded_total_fen",
                "region_id",
                "status",
                "total_fen"
            ],
            "an unclassified field (phone) stays out even with every class granted"
        );
        assert_eq!(
            visible_payload("order.completed", Value::from("text"), &all),
            Value::Object(Map::new())
        );
        assert_eq!(
            visible_payload("stock.changed", payload, &all),
            Value::Object(Map::new()),
            "a kind the kernel does not write has no classified field"
        );
    }
}
