//! A SKU on clearance (清仓, REQUIREMENTS G3), how it is stored, and the terms staff may give it.
//!
//! Storage (the plugin's kv namespace):
//! - `item:{sku_id:019}`: the [`Item`] as JSON, one per SKU on clearance (zero-padded to the
//!   width of an `i64`, so a prefix scan returns them in SKU order); deleted when staff end it.
//! - counter `sold:{sku_id}:{listing_id}`: units sold at the clearance price while the SKU was
//!   on clearance under that listing, moved only by checkout reservations and their return
//!   when an order closes. The listing id (from counter `next-id`) is new at every creation,
//!   so a SKU ended and put on clearance again starts from 0 sold, and an order of the earlier
//!   listing that closes later gives its units back to the earlier listing's counter, not to
//!   the new one (which would otherwise sell more than its quantity).
//! - counter `items`: how many SKUs are on clearance, bounded to [0, [`MAX_ITEMS`]] by
//!   `add_bounded`, so two staff adding the 500th SKU at once cannot both succeed.
//! - counter `listed:{sku_id}`: 1 while the SKU is on clearance, bounded to [0, 1], so two
//!   creations of one SKU at once cannot both commit (and an end and a change racing cannot
//!   bring an ended SKU back).

use serde::{Deserialize, Serialize};

use pifa_sdk::Kv;
use pifa_sdk::input::{Fields, refused};
use pifa_sdk::{HttpRequest, HttpResponse};

pub const ITEM_PREFIX: &str = "item:";
pub const NEXT_ID_KEY: &str = "next-id";
pub const COUNT_KEY: &str = "items";
/// SKUs on clearance at once (REQUIREMENTS G3 asks for chosen SKUs; a bound keeps every list
/// and screen of them within a call's fuel and output).
pub const MAX_ITEMS: i64 = 500;
pub const MAX_QUANTITY: i64 = 1_000_000;
/// ¥10,000,000: far above any wholesale unit price, far below an overflow.
pub const MAX_PRICE_FEN: i64 = 1_000_000_000;
pub const MAX_NOTE_CHARS: usize = 40;

pub fn item_key(sku_id: i64) -> String {
    format!("{ITEM_PREFIX}{sku_id:019}")
}

/// Units sold at the clearance price under one listing of the SKU.
pub fn sold_key(sku_id: i64, listing_id: i64) -> String {
    format!("sold:{sku_id}:{listing_id}")
}

/// 1 while the SKU is on clearance.
pub fn listed_key(sku_id: i64) -> String {
    format!("listed:{sku_id}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// This listing's id: new each time the SKU is put on clearance.
    pub id: i64,
    pub sku_id: i64,
    /// The SKU's product, for the link to its page (`shop:/products/<product_id>`).
    pub product_id: i64,
    /// The clearance price of one unit.
    pub price_fen: i64,
    /// Units offered at the clearance price under this listing, sold ones included.
    pub quantity: i64,
    /// What staff call it (the zone's card title, the member's notes); `SKU n` without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl Item {
    /// The name a member or staff reads: the note, or `SKU 7`.
    pub fn name(&self) -> String {
        match &self.note {
            Some(note) => note.clone(),
            None => format!("SKU {}", self.sku_id),
        }
    }

    pub fn sold_key(&self) -> String {
        sold_key(self.sku_id, self.id)
    }

    /// Units still offered at the clearance price, given what was sold (never below 0: a
    /// quantity lowered while a checkout committed may leave it under what was sold).
    pub fn remaining(&self, sold: i64) -> i64 {
        self.quantity.saturating_sub(sold).max(0)
    }
}

/// The SKU's item, `None` when it is not on clearance (or its record does not parse: only
/// this plugin writes it, and one bad record must not take every cart's pricing down).
pub fn load(kv: &impl Kv, sku_id: i64) -> Option<Item> {
    kv.get_json(&item_key(sku_id))
}

/// One page of the SKUs on clearance, in SKU order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Item>,
    /// The SKU the next page starts after; `None` on the last page.
    pub next_after: Option<i64>,
}

/// Up to `limit` SKUs on clearance after SKU `after` (from the first without one). A page,
/// not all 500: reading, viewing and writing out one item costs a route 30,000 to 60,000
/// fuel, and a call has 2,000,000 (README "What costs fuel").
pub fn load_page(kv: &impl Kv, after: Option<i64>, limit: usize) -> Page {
    let start_after = after.map(item_key);
    // One more than the page, to know whether another follows without reading it.
    let wanted = u32::try_from(limit.saturating_add(1)).unwrap_or(u32::MAX);
    let entries = kv.scan(ITEM_PREFIX, start_after.as_deref(), wanted);
    let more = entries.len() > limit;
    let mut items = Vec::with_capacity(limit.min(entries.len()));
    let mut last_sku = None;
    for (key, bytes) in entries.into_iter().take(limit) {
        // From the key, so a record that does not parse is passed over, not read again.
        last_sku = key
            .strip_prefix(ITEM_PREFIX)
            .and_then(|sku| sku.parse::<i64>().ok());
        if let Ok(item) = serde_json::from_slice::<Item>(&bytes) {
            items.push(item);
        }
    }
    Page {
        items,
        next_after: if more { last_sku } else { None },
    }
}

pub fn save(kv: &mut impl Kv, item: &Item) -> Result<(), String> {
    kv.put_json(&item_key(item.sku_id), item)
}

/// What staff send to put a SKU on clearance (`POST /items`): the JSON API's numbers (fen) or
/// the office form's text (yuan), read alike by [`Fields`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    pub sku_id: i64,
    pub product_id: i64,
    pub price_fen: i64,
    pub quantity: i64,
    pub note: Option<String>,
}

impl NewItem {
    pub fn parse(request: &HttpRequest) -> Result<NewItem, HttpResponse> {
        let fields = request.fields();
        Ok(NewItem {
            sku_id: fields.int("sku_id", 1, i64::MAX)?,
            product_id: fields.int("product_id", 1, i64::MAX)?,
            price_fen: fields.fen("price_fen", 1, MAX_PRICE_FEN)?,
            quantity: fields.int("quantity", 1, MAX_QUANTITY)?,
            note: note(&fields)?,
        })
    }
}

/// A change staff send (`PUT /items/{sku_id}` or the edit form's `POST`): each field absent is
/// kept; `note` present but empty (a form's cleared field) takes the note away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub price_fen: Option<i64>,
    pub quantity: Option<i64>,
    /// `None`: keep; `Some(None)`: take the note away.
    pub note: Option<Option<String>>,
}

impl Change {
    pub fn parse(request: &HttpRequest) -> Result<Change, HttpResponse> {
        let fields = request.fields();
        let note = match request.body.get("note") {
            None => None,
            Some(_) => Some(note(&fields)?),
        };
        Ok(Change {
            price_fen: fields.optional_fen("price_fen", 1, MAX_PRICE_FEN)?,
            quantity: fields.optional_int("quantity", 1, MAX_QUANTITY)?,
            note,
        })
    }

    /// The item changed, or the refusal of a quantity lowered below what this listing already
    /// sold (those units are in orders). Keeping or raising it passes even when a checkout that
    /// committed during an earlier lowering left it under what was sold: that is not a
    /// lowering, and refusing it would stop staff changing the price.
    pub fn apply(self, item: &Item, sold: i64, now_ms: i64) -> Result<Item, HttpResponse> {
        let quantity = self.quantity.unwrap_or(item.quantity);
        if quantity < sold && quantity < item.quantity {
            return Err(refused(
                "quantity",
                &format!("不能少于已售的{sold}件 (not below the {sold} already sold)"),
            ));
        }
        Ok(Item {
            price_fen: self.price_fen.unwrap_or(item.price_fen),
            quantity,
            note: self.note.unwrap_or_else(|| item.note.clone()),
            updated_at_ms: now_ms,
            ..item.clone()
        })
    }
}

fn note(fields: &Fields<'_>) -> Result<Option<String>, HttpResponse> {
    let note = fields.optional_text("note", MAX_NOTE_CHARS)?;
    // A note is a one-line name (a card title, inside a member's note), so no line breaks.
    if note.as_deref().is_some_and(|note| note.contains('\n')) {
        return Err(refused("note", "不能换行 (a single line)"));
    }
    Ok(note)
}

#[cfg(test)]
mod tests {
    // REQUIREMENTS G3: the terms staff give a SKU on clearance.
    use std::collections::BTreeMap;

    use pifa_sdk::{Caller, MemoryKv};
    use serde_json::{Value, json};

    use super::*;

    fn request(body: Value) -> HttpRequest {
        HttpRequest {
            method: "POST".to_owned(),
            route: "/items".to_owned(),
            params: BTreeMap::new(),
            query: BTreeMap::new(),
            body,
            caller: Caller::default(),
            now_ms: 0,
            settings: Value::Null,
        }
    }

    fn item() -> Item {
        Item {
            id: 3,
            sku_id: 7,
            product_id: 70,
            price_fen: 500,
            quantity: 10,
            note: None,
            created_at_ms: 1,
            updated_at_ms: 1,
        }
    }

    fn refused_field(response: HttpResponse) -> (u16, Value) {
        (response.status, response.body["error"]["field"].clone())
    }

    #[test]
    fn keys_sort_items_by_sku_and_name_the_listing_in_the_sold_counter() {
        assert_eq!(item_key(7), "item:0000000000000000007");
        assert!(item_key(9) < item_key(10));
        assert!(item_key(999_999_999_999) < item_key(i64::MAX));
        assert_eq!(sold_key(7, 3), "sold:7:3");
        assert_eq!(item().sold_key(), "sold:7:3");
        assert_eq!(listed_key(7), "listed:7");
    }

    #[test]
    fn the_api_sends_fen_and_the_form_sends_yuan() {
        let api = NewItem::parse(&request(json!({
            "sku_id": 7, "product_id": 70, "price_fen": 1250, "quantity": 3, "note": " 旧款手套 "
        })))
        .unwrap();
        let form = NewItem::parse(&request(json!({
            "sku_id": "7", "product_id": "70", "price_fen": "12.50", "quantity": "3", "note": "旧款手套"
        })))
        .unwrap();
        assert_eq!(api, form);
        assert_eq!(api.price_fen, 1250);
        assert_eq!(api.note.as_deref(), Some("旧款手套"));
        let no_note = NewItem::parse(&request(json!({
            "sku_id": 7, "product_id": 70, "price_fen": 1, "quantity": 1_000_000, "note": ""
        })))
        .unwrap();
        assert_eq!(no_note.note, None);
    }

    #[test]
    fn each_refused_field_is_named() {
        let good = json!({"sku_id": 7, "product_id": 70, "price_fen": 1250, "quantity": 3});
        let cases: [(&str, Value); 9] = [
            ("sku_id", json!(0)),
            ("sku_id", json!(null)),
            ("product_id", json!(null)),
            ("price_fen", json!(0)),
            ("price_fen", json!("1.234")),
            ("quantity", json!(0)),
            ("quantity", json!(1_000_001)),
            ("note", json!("一".repeat(41))),
            ("note", json!("两\n行")),
        ];
        for (field, value) in cases {
            let mut body = good.clone();
            body[field] = value;
            let refusal = NewItem::parse(&request(body)).unwrap_err();
            assert_eq!(refused_field(refusal), (422, json!(field)), "{field}");
        }
    }

    #[test]
    fn a_change_keeps_what_it_does_not_name_and_may_clear_the_note() {
        let mut noted = item();
        noted.note = Some("旧款".to_owned());
        let change = Change::parse(&request(json!({"price_fen": 450}))).unwrap();
        let changed = change.apply(&noted, 0, 9).unwrap();
        assert_eq!((changed.price_fen, changed.quantity), (450, 10));
        assert_eq!(changed.note.as_deref(), Some("旧款"));
        assert_eq!(
            (changed.id, changed.created_at_ms, changed.updated_at_ms),
            (3, 1, 9)
        );

        let form = Change::parse(&request(
            json!({"price_fen": "4.00", "quantity": "12", "note": ""}),
        ))
        .unwrap();
        let changed = form.apply(&noted, 0, 9).unwrap();
        assert_eq!(
            (changed.price_fen, changed.quantity, changed.note),
            (400, 12, None)
        );
    }

    #[test]
    fn a_quantity_may_not_go_below_what_was_sold() {
        let change =
            |quantity: i64| Change::parse(&request(json!({"quantity": quantity}))).unwrap();
        assert_eq!(change(4).apply(&item(), 4, 0).map(|i| i.quantity), Ok(4));
        let refusal = change(3).apply(&item(), 4, 0).unwrap_err();
        assert_eq!(refused_field(refusal.clone()), (422, json!("quantity")));
        assert!(
            refusal.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("不能少于已售的4件")
        );
        // Only a race leaves more sold than the quantity; keeping or raising it is no lowering.
        assert_eq!(change(10).apply(&item(), 11, 0).map(|i| i.quantity), Ok(10));
        assert_eq!(change(11).apply(&item(), 12, 0).map(|i| i.quantity), Ok(11));
        assert!(change(9).apply(&item(), 11, 0).is_err());
    }

    #[test]
    fn remaining_and_name() {
        let mut item = item();
        assert_eq!(item.remaining(4), 6);
        assert_eq!(item.remaining(12), 0);
        assert_eq!(item.name(), "SKU 7");
        item.note = Some("旧款手套".to_owned());
        assert_eq!(item.name(), "旧款手套");
    }

    #[test]
    fn pages_read_items_in_sku_order_and_skip_a_corrupt_one() {
        let mut kv = MemoryKv::default();
        for sku_id in [12, 3, 700, 41] {
            save(&mut kv, &Item { sku_id, ..item() }).unwrap();
        }
        kv.put(&item_key(5), b"not json").unwrap();
        let skus = |page: &Page| page.items.iter().map(|i| i.sku_id).collect::<Vec<i64>>();
        let all = load_page(&kv, None, 10);
        assert_eq!((skus(&all), all.next_after), (vec![3, 12, 41, 700], None));
        // The corrupt record takes a place in the page but shows nowhere.
        let first = load_page(&kv, None, 2);
        assert_eq!((skus(&first), first.next_after), (vec![3], Some(5)));
        let second = load_page(&kv, first.next_after, 2);
        assert_eq!((skus(&second), second.next_after), (vec![12, 41], Some(41)));
        let last = load_page(&kv, second.next_after, 2);
        assert_eq!((skus(&last), last.next_after), (vec![700], None));
        assert_eq!(load_page(&kv, Some(700), 2), Page::default());
        assert_eq!(load(&kv, 12).map(|i| i.sku_id), Some(12));
        assert_eq!(load(&kv, 5), None);
        assert_eq!(load(&kv, 6), None);
    }
}
