//! The terms of a template as staff send them (REQUIREMENTS G5): the JSON API's numbers (fen,
//! epoch ms) and a screen form's text (yuan, shop dates) alike, read with
//! [`pifa_sdk::input::Fields`]; a refusal is `422 invalid_field` naming the field.

use pifa_sdk::HttpResponse;
use pifa_sdk::input::{Fields, refused};
use serde_json::Value;

use crate::model::{
    DAY_MS, Kind, MAX_AMOUNT_FEN, MAX_NAME_CHARS, MAX_PER_MEMBER, MAX_SCOPE_IDS, MAX_TOTAL,
    MAX_VALID_DAYS, Scope, Template,
};

/// What a template says, before it has an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub name: String,
    pub kind: Kind,
    pub amount_fen: Option<i64>,
    pub percent: Option<i64>,
    pub cap_fen: Option<i64>,
    pub threshold_fen: i64,
    pub scope: Scope,
    pub scope_ids: Vec<i64>,
    pub valid_from_ms: Option<i64>,
    pub valid_until_ms: Option<i64>,
    pub valid_days: Option<i64>,
    pub total: i64,
    pub per_member: i64,
    pub claimable: bool,
}

impl Terms {
    pub fn into_template(self, id: i64, created_at_ms: i64) -> Template {
        Template {
            id,
            name: self.name,
            kind: self.kind,
            amount_fen: self.amount_fen,
            percent: self.percent,
            cap_fen: self.cap_fen,
            threshold_fen: self.threshold_fen,
            scope: self.scope,
            scope_ids: self.scope_ids,
            valid_from_ms: self.valid_from_ms,
            valid_until_ms: self.valid_until_ms,
            valid_days: self.valid_days,
            total: self.total,
            per_member: self.per_member,
            claimable: self.claimable,
            ended: false,
            created_at_ms,
        }
    }
}

/// Characters the kernel refuses in an adjustment's label (markup, template syntax): the name
/// becomes the label 「优惠券：{name}」, so a name holding one would fail every quote.
const MARKUP: [&str; 5] = ["<", ">", "{{", "{%", "{#"];

pub fn parse(body: &Value) -> Result<Terms, HttpResponse> {
    if !body.is_object() {
        return Err(HttpResponse::error(
            422,
            "invalid_body",
            None,
            "请求体应为对象 (the body must be a JSON object)",
        ));
    }
    let fields = Fields::of(body);
    let name = fields.text("name", MAX_NAME_CHARS)?;
    if MARKUP.iter().any(|markup| name.contains(markup)) {
        return Err(refused("name", "不能含有 < > {{ {% {# (no markup)"));
    }
    let kind = match fields.choice("kind", &["reduce", "discount"])?.as_str() {
        "discount" => Kind::Discount,
        _ => Kind::Reduce,
    };
    // A form shows every field whatever the kind; what the other kind needs is left alone.
    let (amount_fen, percent, cap_fen) = match kind {
        Kind::Reduce => (
            Some(fields.fen("amount_fen", 1, MAX_AMOUNT_FEN)?),
            None,
            None,
        ),
        Kind::Discount => (
            None,
            Some(fields.int("percent", 1, 99)?),
            fields.optional_fen("cap_fen", 1, MAX_AMOUNT_FEN)?,
        ),
    };
    let threshold_fen = fields
        .optional_fen("threshold_fen", 0, MAX_AMOUNT_FEN)?
        .unwrap_or(0);

    let scope = if fields.has("scope") {
        let text = fields.choice("scope", &Scope::NAMES)?;
        Scope::parse(&text).unwrap_or_default()
    } else {
        Scope::All
    };
    let scope_ids = if scope == Scope::All {
        Vec::new()
    } else {
        let ids = fields.ids("scope_ids", MAX_SCOPE_IDS)?;
        if ids.is_empty() {
            return Err(refused(
                "scope_ids",
                "请填写适用的分类、品牌或商品编号 (the ids the scope names are required)",
            ));
        }
        ids
    };

    let validity = if fields.has("validity") {
        fields.choice("validity", &["fixed", "days"])?
    } else if fields.has("valid_days") {
        "days".to_owned()
    } else {
        "fixed".to_owned()
    };
    let (valid_from_ms, valid_until_ms, valid_days) = if validity == "days" {
        (
            None,
            None,
            Some(fields.int("valid_days", 1, MAX_VALID_DAYS)?),
        )
    } else {
        let from = fields.time_ms("valid_from_ms")?;
        let mut until = fields.time_ms("valid_until_ms")?;
        // A date typed into a form means that whole day: the coupon stays valid through it.
        if let Some(Value::String(text)) = fields.value("valid_until_ms")
            && !text.trim().contains(['T', ' ', ':'])
        {
            until = until.saturating_add(DAY_MS);
        }
        if until <= from {
            return Err(refused(
                "valid_until_ms",
                "结束时间须晚于开始时间 (must be after valid_from_ms)",
            ));
        }
        (Some(from), Some(until), None)
    };

    let total = fields.int("total", 1, MAX_TOTAL)?;
    let per_member = fields.int("per_member", 1, MAX_PER_MEMBER)?;
    if per_member > total {
        return Err(refused(
            "per_member",
            "每人限领不能多于发放总量 (must not exceed total)",
        ));
    }
    Ok(Terms {
        name,
        kind,
        amount_fen,
        percent,
        cap_fen,
        threshold_fen,
        scope,
        scope_ids,
        valid_from_ms,
        valid_until_ms,
        valid_days,
        total,
        per_member,
        claimable: fields.flag("claimable"),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::tests::NOW;

    fn field_of(refusal: HttpResponse) -> String {
        assert_eq!(refusal.status, 422, "{}", refusal.body);
        refusal.body["error"]["field"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn the_api_sends_numbers() {
        let terms = parse(&json!({
            "name": "满300减30",
            "kind": "reduce",
            "amount_fen": 3000,
            "threshold_fen": 30000,
            "scope": "categories",
            "scope_ids": [5, 8],
            "valid_from_ms": NOW,
            "valid_until_ms": NOW + DAY_MS,
            "total": 500,
            "per_member": 2,
            "claimable": true
        }))
        .unwrap();
        assert_eq!(terms.amount_fen, Some(3_000));
        assert_eq!(terms.scope, Scope::Categories);
        assert_eq!(terms.scope_ids, vec![5, 8]);
        assert_eq!(terms.valid_until_ms, Some(NOW + DAY_MS));
        assert!(terms.claimable);
        assert_eq!(terms.percent, None);
    }

    #[test]
    fn a_form_sends_text_and_a_date_means_the_whole_day() {
        let terms = parse(&json!({
            "name": " 店庆折扣 ",
            "kind": "discount",
            "amount_fen": "30.00",
            "percent": "85",
            "cap_fen": "50",
            "threshold_fen": "",
            "scope": "all",
            "scope_ids": "",
            "validity": "fixed",
            "valid_from_ms": "2026-12-01",
            "valid_until_ms": "2026-12-31",
            "valid_days": "7",
            "total": "1000",
            "per_member": "1"
        }))
        .unwrap();
        assert_eq!(terms.name, "店庆折扣");
        assert_eq!(terms.kind, Kind::Discount);
        assert_eq!(
            terms.amount_fen, None,
            "the other kind's field is left alone"
        );
        assert_eq!((terms.percent, terms.cap_fen), (Some(85), Some(5_000)));
        assert_eq!(terms.threshold_fen, 0);
        assert_eq!(terms.valid_days, None);
        let until = terms.valid_until_ms.unwrap();
        assert_eq!(pifa_sdk::input::local_time(until), "2027-01-01 00:00");
        assert!(!terms.claimable);
    }

    #[test]
    fn days_after_issue_instead_of_a_window() {
        let terms = parse(&json!({
            "name": "新人券", "kind": "reduce", "amount_fen": 500,
            "valid_days": 30, "total": 10, "per_member": 1
        }))
        .unwrap();
        assert_eq!(terms.valid_days, Some(30));
        assert_eq!((terms.valid_from_ms, terms.valid_until_ms), (None, None));
    }

    #[test]
    fn refusals_name_their_field() {
        let base = json!({
            "name": "券", "kind": "reduce", "amount_fen": 500,
            "valid_days": 30, "total": 10, "per_member": 1
        });
        let with = |change: Value| {
            let mut body = base.clone();
            for (key, value) in change.as_object().unwrap() {
                body[key] = value.clone();
            }
            parse(&body).unwrap_err()
        };
        assert_eq!(field_of(with(json!({"name": "一".repeat(31)}))), "name");
        assert_eq!(field_of(with(json!({"name": "<b>券</b>"}))), "name");
        assert_eq!(field_of(with(json!({"name": "{{券}}"}))), "name");
        assert_eq!(field_of(with(json!({"kind": "free"}))), "kind");
        assert_eq!(field_of(with(json!({"amount_fen": 0}))), "amount_fen");
        assert_eq!(
            field_of(with(json!({"kind": "discount", "percent": 100}))),
            "percent"
        );
        assert_eq!(
            field_of(with(json!({"kind": "discount", "percent": 0}))),
            "percent"
        );
        assert_eq!(
            field_of(with(json!({"threshold_fen": -1}))),
            "threshold_fen"
        );
        assert_eq!(field_of(with(json!({"scope": "brands"}))), "scope_ids");
        assert_eq!(field_of(with(json!({"scope": "shops"}))), "scope");
        assert_eq!(field_of(with(json!({"valid_days": 0}))), "valid_days");
        assert_eq!(field_of(with(json!({"valid_days": 3651}))), "valid_days");
        assert_eq!(field_of(with(json!({"total": 0}))), "total");
        assert_eq!(field_of(with(json!({"total": 1_000_001}))), "total");
        assert_eq!(
            field_of(with(json!({"per_member": 101, "total": 500}))),
            "per_member"
        );
        assert_eq!(
            field_of(with(json!({"per_member": 5, "total": 3}))),
            "per_member"
        );
        assert_eq!(
            field_of(with(json!({"validity": "fixed", "valid_from_ms": NOW}))),
            "valid_until_ms"
        );
        assert_eq!(
            field_of(with(json!({
                "validity": "fixed", "valid_from_ms": NOW, "valid_until_ms": NOW
            }))),
            "valid_until_ms"
        );
        assert_eq!(
            parse(&json!([1])).unwrap_err().body["error"]["code"],
            "invalid_body"
        );
    }
}
