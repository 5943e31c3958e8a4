//! A flash sale (限时抢购), how it is stored, and the terms an admin may give one.
//!
//! Storage: the sale as JSON at `sale:{id:08}` (zero-padded, so a prefix scan returns sales in
//! id order), ids from the counter `next-id`; what was sold in the counters `sold:{id}` (all
//! members) and `sold:{id}:m{member_id}` (one member), moved only by checkout reservations and
//! their return when an order closes.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use pifa_sdk::Kv;

pub const SALE_PREFIX: &str = "sale:";
pub const NEXT_ID_KEY: &str = "next-id";
pub const MAX_NAME_CHARS: usize = 50;
pub const MAX_ITEMS: usize = 50;
/// Sales read per scan call: enough that a shop's whole history is a page or two.
const SCAN_PAGE: u32 = 200;

pub fn sale_key(sale_id: i64) -> String {
    format!("{SALE_PREFIX}{sale_id:08}")
}

/// All members' purchases in the sale, bounded by its `total_limit`.
pub fn sold_key(sale_id: i64) -> String {
    format!("sold:{sale_id}")
}

/// One member's purchases in the sale, bounded by its `per_member_limit`.
pub fn member_sold_key(sale_id: i64, member_id: i64) -> String {
    format!("sold:{sale_id}:m{member_id}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    pub id: i64,
    pub name: String,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    /// Items all members may buy together.
    pub total_limit: i64,
    pub per_member_limit: i64,
    pub items: Vec<SaleItem>,
    /// Ended by staff before its time; `ends_at_ms` then says when.
    #[serde(default)]
    pub ended: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleItem {
    pub sku_id: i64,
    /// The price of one item during the sale.
    pub price_fen: i64,
}

impl Sale {
    /// Whether its price applies at `now_ms`: started, not yet at its end, not ended by staff.
    pub fn is_active(&self, now_ms: i64) -> bool {
        !self.ended && self.starts_at_ms <= now_ms && now_ms < self.ends_at_ms
    }

    /// Whether it can no longer apply: ended by staff or past its end.
    pub fn is_over(&self, now_ms: i64) -> bool {
        self.ended || self.ends_at_ms <= now_ms
    }

    pub fn price_of(&self, sku_id: i64) -> Option<i64> {
        self.items
            .iter()
            .find(|item| item.sku_id == sku_id)
            .map(|item| item.price_fen)
    }

    pub fn with_terms(id: i64, terms: SaleTerms) -> Sale {
        Sale {
            id,
            name: terms.name,
            starts_at_ms: terms.starts_at_ms,
            ends_at_ms: terms.ends_at_ms,
            total_limit: terms.total_limit,
            per_member_limit: terms.per_member_limit,
            items: terms.items,
            ended: false,
        }
    }
}

/// Every sale, in id order. A value that does not parse is skipped: only this plugin writes
/// these keys, and one bad record must not take every cart's pricing down with it.
pub fn load_all(kv: &impl Kv) -> Vec<Sale> {
    let mut sales = Vec::new();
    let mut last_key: Option<String> = None;
    loop {
        let page = kv.scan(SALE_PREFIX, last_key.as_deref(), SCAN_PAGE);
        let full_page = page.len() >= SCAN_PAGE as usize;
        for (key, bytes) in page {
            if let Ok(sale) = serde_json::from_slice::<Sale>(&bytes) {
                sales.push(sale);
            }
            last_key = Some(key);
        }
        if !full_page {
            return sales;
        }
    }
}

pub fn load(kv: &impl Kv, sale_id: i64) -> Option<Sale> {
    kv.get(&sale_key(sale_id))
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

pub fn save(kv: &mut impl Kv, sale: &Sale) -> Result<(), String> {
    let bytes = serde_json::to_vec(sale).map_err(|e| e.to_string())?;
    kv.put(&sale_key(sale.id), &bytes)
}

/// A sale's terms as the admin sent them (POST and PUT take the same body).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SaleBody {
    name: String,
    starts_at_ms: i64,
    ends_at_ms: i64,
    total_limit: i64,
    per_member_limit: i64,
    items: Vec<SaleItem>,
}

/// Terms that passed every check: a name of 1 to 50 characters, a window that ends after it
/// starts, limits of at least 1 with the per-member one within the total, 1 to 50 distinct
/// SKUs each priced at least 1 fen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleTerms {
    name: String,
    starts_at_ms: i64,
    ends_at_ms: i64,
    total_limit: i64,
    per_member_limit: i64,
    items: Vec<SaleItem>,
}

/// Why terms were refused: a stable code, the field, and a message for staff (Chinese, with
/// the English in parentheses, like the kernel's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub code: &'static str,
    pub field: Option<String>,
    pub message: String,
}

impl FieldError {
    fn new(code: &'static str, field: &str, message: String) -> FieldError {
        FieldError {
            code,
            field: Some(field.to_owned()),
            message: format!("{field}: {message}"),
        }
    }
}

impl SaleTerms {
    pub fn parse(body: &Value) -> Result<SaleTerms, FieldError> {
        let body: SaleBody = SaleBody::deserialize(body).map_err(|e| FieldError {
            code: "invalid_body",
            field: None,
            message: format!("请求内容不完整或格式不对：{e} (the body does not match the schema)"),
        })?;

        let name = body.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(FieldError::new(
                "invalid_name",
                "name",
                format!(
                    "请填写名称，最多{MAX_NAME_CHARS}字 (a name, at most {MAX_NAME_CHARS} characters)"
                ),
            ));
        }
        if body.starts_at_ms >= body.ends_at_ms {
            return Err(FieldError::new(
                "invalid_window",
                "ends_at_ms",
                "结束时间须晚于开始时间 (the sale must end after it starts)".to_owned(),
            ));
        }
        if body.total_limit < 1 {
            return Err(FieldError::new(
                "invalid_limit",
                "total_limit",
                "总限量至少为1件 (at least 1 item)".to_owned(),
            ));
        }
        if body.per_member_limit < 1 || body.per_member_limit > body.total_limit {
            return Err(FieldError::new(
                "invalid_limit",
                "per_member_limit",
                "每人限购须在1件到总限量之间 (between 1 and the total limit)".to_owned(),
            ));
        }
        if body.items.is_empty() {
            return Err(FieldError::new(
                "empty_items",
                "items",
                format!("请选择1到{MAX_ITEMS}个SKU (1 to {MAX_ITEMS} SKUs)"),
            ));
        }
        if body.items.len() > MAX_ITEMS {
            return Err(FieldError::new(
                "too_many_items",
                "items",
                format!("请选择1到{MAX_ITEMS}个SKU (1 to {MAX_ITEMS} SKUs)"),
            ));
        }
        let mut seen = BTreeSet::new();
        for (index, item) in body.items.iter().enumerate() {
            if item.sku_id < 1 {
                return Err(FieldError::new(
                    "invalid_sku",
                    &format!("items[{index}].sku_id"),
                    "请选择SKU (a SKU id)".to_owned(),
                ));
            }
            if item.price_fen < 1 {
                return Err(FieldError::new(
                    "invalid_price",
                    &format!("items[{index}].price_fen"),
                    "抢购价至少为1分 (at least 1 fen)".to_owned(),
                ));
            }
            if !seen.insert(item.sku_id) {
                return Err(FieldError::new(
                    "duplicate_sku",
                    &format!("items[{index}].sku_id"),
                    format!("SKU {} 重复 (the SKU is listed twice)", item.sku_id),
                ));
            }
        }

        Ok(SaleTerms {
            name,
            starts_at_ms: body.starts_at_ms,
            ends_at_ms: body.ends_at_ms,
            total_limit: body.total_limit,
            per_member_limit: body.per_member_limit,
            items: body.items,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body() -> Value {
        json!({
            "name": "周末秒杀",
            "starts_at_ms": 1_000,
            "ends_at_ms": 2_000,
            "total_limit": 100,
            "per_member_limit": 2,
            "items": [{"sku_id": 7, "price_fen": 990}, {"sku_id": 8, "price_fen": 1}]
        })
    }

    fn refusal(change: impl FnOnce(&mut Value)) -> (&'static str, Option<String>) {
        let mut body = body();
        change(&mut body);
        match SaleTerms::parse(&body) {
            Ok(terms) => panic!("accepted {terms:?}"),
            Err(error) => (error.code, error.field),
        }
    }

    #[test]
    fn good_terms_are_accepted_with_the_name_trimmed() {
        let mut body = body();
        body["name"] = json!("  周末秒杀 ");
        let sale = Sale::with_terms(3, SaleTerms::parse(&body).unwrap());
        assert_eq!(sale.name, "周末秒杀");
        assert_eq!(sale.items.len(), 2);
        assert!(!sale.ended);
    }

    #[test]
    fn each_broken_term_is_named_by_code_and_field() {
        let field = |name: &str| Some(name.to_owned());
        assert_eq!(
            refusal(|b| b["name"] = json!("  ")),
            ("invalid_name", field("name"))
        );
        assert_eq!(
            refusal(|b| b["name"] = json!("抢".repeat(51))),
            ("invalid_name", field("name"))
        );
        assert_eq!(
            refusal(|b| b["ends_at_ms"] = json!(1_000)),
            ("invalid_window", field("ends_at_ms"))
        );
        assert_eq!(
            refusal(|b| b["total_limit"] = json!(0)),
            ("invalid_limit", field("total_limit"))
        );
        assert_eq!(
            refusal(|b| b["per_member_limit"] = json!(101)),
            ("invalid_limit", field("per_member_limit"))
        );
        assert_eq!(
            refusal(|b| b["per_member_limit"] = json!(0)),
            ("invalid_limit", field("per_member_limit"))
        );
        assert_eq!(
            refusal(|b| b["items"] = json!([])),
            ("empty_items", field("items"))
        );
        let many: Vec<Value> = (1..=51)
            .map(|sku| json!({"sku_id": sku, "price_fen": 1}))
            .collect();
        assert_eq!(
            refusal(|b| b["items"] = json!(many)),
            ("too_many_items", field("items"))
        );
        assert_eq!(
            refusal(|b| b["items"][1]["price_fen"] = json!(0)),
            ("invalid_price", field("items[1].price_fen"))
        );
        assert_eq!(
            refusal(|b| b["items"][1]["sku_id"] = json!(7)),
            ("duplicate_sku", field("items[1].sku_id"))
        );
        assert_eq!(
            refusal(|b| b["items"][0]["sku_id"] = json!(0)),
            ("invalid_sku", field("items[0].sku_id"))
        );
        assert_eq!(refusal(|b| b["extra"] = json!(1)), ("invalid_body", None));
        assert_eq!(refusal(|b| *b = json!("text")), ("invalid_body", None));
    }

    #[test]
    fn messages_name_the_field_in_chinese_and_english() {
        let mut body = body();
        body["name"] = json!("");
        let error = SaleTerms::parse(&body).unwrap_err();
        assert_eq!(
            error.message,
            "name: 请填写名称，最多50字 (a name, at most 50 characters)"
        );
    }

    #[test]
    fn keys_sort_sales_by_id() {
        assert_eq!(sale_key(1), "sale:00000001");
        assert!(sale_key(9) < sale_key(10));
        assert_eq!(sold_key(4), "sold:4");
        assert_eq!(member_sold_key(4, 12), "sold:4:m12");
    }

    #[test]
    fn a_sale_is_active_from_its_start_until_just_before_its_end() {
        let sale = Sale::with_terms(1, SaleTerms::parse(&body()).unwrap());
        assert!(!sale.is_active(999));
        assert!(sale.is_active(1_000));
        assert!(sale.is_active(1_999));
        assert!(!sale.is_active(2_000));
        assert!(sale.is_over(2_000));
        let ended = Sale {
            ended: true,
            ..sale
        };
        assert!(!ended.is_active(1_500));
        assert!(ended.is_over(1_500));
    }

    #[test]
    fn load_all_pages_through_every_sale_and_skips_a_corrupt_one() {
        let mut kv = pifa_sdk::MemoryKv::default();
        let terms = SaleTerms::parse(&body()).unwrap();
        for id in 1..=450 {
            save(&mut kv, &Sale::with_terms(id, terms.clone())).unwrap();
        }
        kv.put(&sale_key(451), b"not json").unwrap();
        let sales = load_all(&kv);
        assert_eq!(sales.len(), 450);
        assert_eq!(sales.last().map(|sale| sale.id), Some(450));
        assert_eq!(load(&kv, 17).map(|sale| sale.id), Some(17));
        assert_eq!(load(&kv, 451), None);
    }
}
