//! Events (REQUIREMENTS G5, H3): `order.placed` records which order used a coupon (for the
//! member's wallet) and counts it in `used_total:{template}`; `order.closed` gives the coupon
//! back (`used:{id}` to 0, usable again) and takes it out of the count; the points plugin's
//! `plugin.points.gift_redeemed` issues a gift-mall coupon.
//!
//! The kernel commits an event's writes once per event id, and delivers one plugin's events in
//! order, so `order.closed` of an order comes after its `order.placed`.

use pifa_sdk::{Event, HookError, Kv};
use serde_json::Value;

use crate::issue;
use crate::model::{self, Usage, used_key, used_total_key};

pub const ORDER_PLACED: &str = "order.placed";
pub const ORDER_CLOSED: &str = "order.closed";
pub const GIFT_REDEEMED: &str = "plugin.points.gift_redeemed";

fn kv_failed(message: String) -> HookError {
    HookError::new("kv_failed", message)
}

/// The coupons an order reserved (`used:{id}` with a positive delta).
fn reserved_coupons(event: &Event) -> impl Iterator<Item = (i64, i64)> + '_ {
    event.reservations.iter().filter_map(|reserved| {
        let id = reserved.key.strip_prefix("used:")?.parse::<i64>().ok()?;
        (reserved.delta > 0).then_some((id, reserved.delta))
    })
}

fn order_id(event: &Event) -> Option<i64> {
    event
        .order_id
        .or_else(|| event.payload.get("order_id").and_then(Value::as_i64))
}

/// Handles one event; the lines returned are warnings for the log (nothing failed that
/// retrying would mend). An `Err` is a storage failure: the event is delivered again.
pub fn handle(kv: &mut impl Kv, event: &Event) -> Result<Vec<String>, HookError> {
    match event.kind.as_str() {
        ORDER_PLACED => placed(kv, event),
        ORDER_CLOSED => closed(kv, event),
        GIFT_REDEEMED => gift_redeemed(kv, event),
        _ => Ok(Vec::new()),
    }
}

fn placed(kv: &mut impl Kv, event: &Event) -> Result<Vec<String>, HookError> {
    let mut warnings = Vec::new();
    let usage = Usage {
        order_id: order_id(event),
        order_no: event
            .payload
            .get("order_no")
            .and_then(Value::as_str)
            .map(str::to_owned),
        at_ms: event.now_ms,
    };
    for (id, _) in reserved_coupons(event) {
        let Some(mut coupon) = model::load_coupon(kv, id) else {
            warnings.push(format!(
                "order {:?} used coupon {id}, which is not stored",
                usage.order_id
            ));
            continue;
        };
        if coupon.used_by.is_some() {
            // Already recorded (by this order, or by one whose closing we have not seen).
            continue;
        }
        coupon.used_by = Some(usage.clone());
        model::save_coupon(kv, &coupon).map_err(kv_failed)?;
        kv.add_bounded(&used_total_key(coupon.template_id), 1, 0, i64::MAX)
            .map_err(kv_failed)?;
    }
    Ok(warnings)
}

fn closed(kv: &mut impl Kv, event: &Event) -> Result<Vec<String>, HookError> {
    let mut warnings = Vec::new();
    let order = order_id(event);
    for (id, delta) in reserved_coupons(event) {
        let returned = kv
            .add_bounded(&used_key(id), -delta, 0, i64::MAX)
            .map_err(kv_failed)?;
        if returned.is_none() {
            warnings.push(format!(
                "order {order:?} closed but counter used:{id} held less than it reserved; left as it was"
            ));
        }
        let Some(mut coupon) = model::load_coupon(kv, id) else {
            continue;
        };
        if coupon
            .used_by
            .as_ref()
            .is_some_and(|usage| usage.order_id == order)
        {
            coupon.used_by = None;
            model::save_coupon(kv, &coupon).map_err(kv_failed)?;
            kv.add_bounded(&used_total_key(coupon.template_id), -1, 0, i64::MAX)
                .map_err(kv_failed)?;
        }
    }
    Ok(warnings)
}

/// A positive id, as a number or as its text.
fn id_of(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
    .filter(|id| *id > 0)
}

/// `{member_id, redemption_id, coupon_template_id}`: one coupon when the gift is a coupon.
/// A coupon that cannot be issued (template gone, ended, over, all issued) is a warning, not a
/// failure: retrying would not mend it, and the points plugin's staff see the redemption.
fn gift_redeemed(kv: &mut impl Kv, event: &Event) -> Result<Vec<String>, HookError> {
    let payload = &event.payload;
    let Some(template_id) = payload.get("coupon_template_id").and_then(id_of) else {
        return Ok(Vec::new());
    };
    let redemption = match payload.get("redemption_id") {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
        _ => None,
    };
    let Some(member_id) = payload.get("member_id").and_then(id_of) else {
        return Ok(vec![format!(
            "gift redemption {redemption:?} names coupon template {template_id} but no member; no coupon issued"
        )]);
    };
    let Some(template) = model::load_template(kv, template_id) else {
        return Ok(vec![format!(
            "gift redemption {redemption:?} of member {member_id} names coupon template {template_id}, which does not exist; no coupon issued"
        )]);
    };
    match issue::gift(kv, &template, member_id, redemption.clone(), event.now_ms) {
        Ok(_) => Ok(Vec::new()),
        Err(issue::Refusal::Storage(message)) => Err(kv_failed(message)),
        Err(refusal) => Ok(vec![format!(
            "gift redemption {redemption:?} of member {member_id}: coupon template {template_id} 「{}」 issued nothing: {}",
            template.name,
            refusal.message()
        )]),
    }
}

#[cfg(test)]
mod tests {
    use pifa_sdk::{MemoryKv, Reserved};
    use serde_json::json;

    use super::*;
    use crate::model::tests::{NOW, template};
    use crate::model::{load_coupon, save_template, wallet};

    fn event(kind: &str, payload: Value, reservations: Vec<Reserved>) -> Event {
        Event {
            id: 1,
            kind: kind.to_owned(),
            order_id: Some(5),
            payload,
            reservations,
            now_ms: NOW,
            settings: Value::Null,
        }
    }

    fn reserved(id: i64) -> Vec<Reserved> {
        vec![Reserved {
            key: format!("used:{id}"),
            delta: 1,
        }]
    }

    fn with_coupon() -> (MemoryKv, i64) {
        let mut kv = MemoryKv::default();
        save_template(&mut kv, &template(1)).unwrap();
        let coupon = issue::claim(&mut kv, &template(1), 42, NOW).unwrap();
        (kv, coupon.id)
    }

    #[test]
    fn a_placed_order_marks_its_coupon_and_a_closed_one_gives_it_back() {
        let (mut kv, id) = with_coupon();
        // The kernel applied the checkout's reservation.
        kv.counters.insert(used_key(id), 1);
        let placed = event(
            ORDER_PLACED,
            json!({"order_no": "P20260101001", "member_id": 42}),
            reserved(id),
        );
        assert!(handle(&mut kv, &placed).unwrap().is_empty());
        let usage = load_coupon(&kv, id).unwrap().used_by.unwrap();
        assert_eq!(usage.order_id, Some(5));
        assert_eq!(usage.order_no.as_deref(), Some("P20260101001"));
        assert_eq!(kv.counter("used_total:1"), 1);
        // Delivered again: counted once.
        handle(&mut kv, &placed).unwrap();
        assert_eq!(kv.counter("used_total:1"), 1);

        let closed = event(ORDER_CLOSED, Value::Null, reserved(id));
        assert!(handle(&mut kv, &closed).unwrap().is_empty());
        assert_eq!(kv.counter(&used_key(id)), 0);
        assert_eq!(load_coupon(&kv, id).unwrap().used_by, None);
        assert_eq!(kv.counter("used_total:1"), 0);
    }

    #[test]
    fn a_closed_order_whose_placing_was_not_seen_still_returns_the_coupon() {
        let (mut kv, id) = with_coupon();
        kv.counters.insert(used_key(id), 1);
        let closed = event(ORDER_CLOSED, Value::Null, reserved(id));
        assert!(handle(&mut kv, &closed).unwrap().is_empty());
        assert_eq!(kv.counter(&used_key(id)), 0);
        assert_eq!(kv.counter("used_total:1"), 0);
        // Returning again finds the counter at 0: left, and said.
        let warnings = handle(&mut kv, &closed).unwrap();
        assert_eq!(warnings.len(), 1);
        assert_eq!(kv.counter(&used_key(id)), 0);
    }

    #[test]
    fn a_closing_order_does_not_clear_another_orders_usage() {
        let (mut kv, id) = with_coupon();
        let mut coupon = load_coupon(&kv, id).unwrap();
        coupon.used_by = Some(Usage {
            order_id: Some(9),
            order_no: None,
            at_ms: NOW,
        });
        model::save_coupon(&mut kv, &coupon).unwrap();
        kv.counters.insert(used_key(id), 1);
        kv.counters.insert("used_total:1".to_owned(), 1);
        handle(&mut kv, &event(ORDER_CLOSED, Value::Null, reserved(id))).unwrap();
        assert!(load_coupon(&kv, id).unwrap().used_by.is_some());
        assert_eq!(kv.counter("used_total:1"), 1);
    }

    #[test]
    fn other_reservations_and_events_change_nothing() {
        let (mut kv, id) = with_coupon();
        let before = kv.clone();
        let other = vec![Reserved {
            key: "sold:1".to_owned(),
            delta: 1,
        }];
        handle(&mut kv, &event(ORDER_CLOSED, Value::Null, other)).unwrap();
        handle(
            &mut kv,
            &event("order.completed", Value::Null, reserved(id)),
        )
        .unwrap();
        assert_eq!(kv.counters, before.counters);
        assert_eq!(kv.values, before.values);
    }

    #[test]
    fn a_gift_redemption_issues_a_gift_mall_coupon() {
        let mut kv = MemoryKv::default();
        let mut t = template(1);
        t.claimable = false;
        save_template(&mut kv, &t).unwrap();
        let redeemed = event(
            GIFT_REDEEMED,
            json!({"member_id": 42, "redemption_id": 77, "coupon_template_id": 1}),
            Vec::new(),
        );
        assert!(handle(&mut kv, &redeemed).unwrap().is_empty());
        // Ids as text are taken too.
        let as_text = event(
            GIFT_REDEEMED,
            json!({"member_id": "42", "redemption_id": "78", "coupon_template_id": "1"}),
            Vec::new(),
        );
        assert!(handle(&mut kv, &as_text).unwrap().is_empty());
        let coupons = wallet(&kv, 42);
        assert_eq!(coupons.len(), 2);
        assert_eq!(
            coupons[0].source_ref.as_deref(),
            Some("78"),
            "the newest first"
        );
        let coupons = &coupons[1..];
        assert_eq!(coupons[0].source, model::Source::GiftMall);
        assert_eq!(coupons[0].source_ref.as_deref(), Some("77"));
        assert_eq!(kv.counter("issued:1"), 2);
    }

    #[test]
    fn a_gift_that_cannot_be_issued_is_a_warning_not_a_failure() {
        let mut kv = MemoryKv::default();
        let mut t = template(1);
        t.total = 1;
        save_template(&mut kv, &t).unwrap();
        kv.counters.insert("issued:1".to_owned(), 1);
        let redeemed = |template_id: Value| {
            event(
                GIFT_REDEEMED,
                json!({"member_id": 42, "redemption_id": "R9", "coupon_template_id": template_id}),
                Vec::new(),
            )
        };
        let warnings = handle(&mut kv, &redeemed(json!(1))).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("已领完"), "{}", warnings[0]);
        assert!(wallet(&kv, 42).is_empty());
        assert_eq!(handle(&mut kv, &redeemed(json!(9))).unwrap().len(), 1);
        // A gift that is not a coupon: nothing to do, nothing to say.
        assert!(handle(&mut kv, &redeemed(Value::Null)).unwrap().is_empty());
        let no_member = event(GIFT_REDEEMED, json!({"coupon_template_id": 1}), Vec::new());
        assert_eq!(handle(&mut kv, &no_member).unwrap().len(), 1);
        assert!(kv.values.keys().all(|key| key.starts_with("template:")));
    }

    #[test]
    fn a_storage_failure_is_an_error_so_the_event_comes_again() {
        let mut kv = MemoryKv::default();
        save_template(&mut kv, &template(1)).unwrap();
        kv.writes_left = Some(0);
        let redeemed = event(
            GIFT_REDEEMED,
            json!({"member_id": 42, "redemption_id": 1, "coupon_template_id": 1}),
            Vec::new(),
        );
        assert_eq!(handle(&mut kv, &redeemed).unwrap_err().code, "kv_failed");
    }
}
