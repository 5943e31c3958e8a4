//! Commission rates (I2: 「at rates by level or goods」), staff data kept in kv at `rates` and
//! edited through `GET`/`PUT /rates` and the 佣金费率 screen; the fallback rate is the setting
//! `default_rate_bp`. Rates are basis points: 1 bp = 0.01 %, 300 bp = 3 %.
//!
//! A line's rate is the first that names it: its product's (goods rate), then its category's
//! (the nearest of `category_ids` that has one), then the member's level's, then the default.

use std::collections::BTreeMap;

use pifa_sdk::input::{Fields, refused};
use pifa_sdk::{HttpResponse, Kv};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::payload::OrderLine;
use crate::settings::MAX_RATE_BP;
use crate::store::RATES_KEY;

pub const MAX_GOODS: usize = 200;
pub const MAX_CATEGORIES: usize = 200;
pub const MAX_LEVELS: usize = 50;
/// 1 bp = 1/10,000 of the line.
const BP_PER_WHOLE: i128 = 10_000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rates {
    /// Product id → bp.
    #[serde(default)]
    pub goods: BTreeMap<i64, i64>,
    /// Category id → bp (a category's rate covers its sub-categories).
    #[serde(default)]
    pub categories: BTreeMap<i64, i64>,
    /// Member level id → bp.
    #[serde(default)]
    pub levels: BTreeMap<i64, i64>,
}

/// The three tables as the body and the form name them, with their bounds and what an id is.
pub const TABLES: [(&str, usize, &str); 3] = [
    ("goods", MAX_GOODS, "商品编号"),
    ("categories", MAX_CATEGORIES, "分类编号"),
    ("levels", MAX_LEVELS, "等级编号"),
];

impl Rates {
    /// The stored rates; none (every line at the default) when nothing was saved or the value
    /// does not parse (only this plugin writes it).
    pub fn load(kv: &impl Kv) -> Rates {
        kv.get_json(RATES_KEY).unwrap_or_default()
    }

    pub fn save(&self, kv: &mut impl Kv) -> Result<(), String> {
        kv.put_json(RATES_KEY, self)
    }

    fn table(&self, name: &str) -> &BTreeMap<i64, i64> {
        match name {
            "goods" => &self.goods,
            "categories" => &self.categories,
            _ => &self.levels,
        }
    }

    /// The rate of one line for a member of `level_id`.
    pub fn rate_bp(&self, line: &OrderLine, level_id: Option<i64>, default_bp: i64) -> i64 {
        self.goods
            .get(&line.product_id)
            .or_else(|| {
                line.category_ids
                    .iter()
                    .find_map(|category| self.categories.get(category))
            })
            .or_else(|| level_id.and_then(|level| self.levels.get(&level)))
            .copied()
            .unwrap_or(default_bp)
    }

    /// The commission of an order: Σ over its non-gift lines of `line_total_fen × rate`,
    /// rounded down to the fen once, at the end (a line below 0 counts as 0).
    pub fn commission_fen(
        &self,
        lines: &[OrderLine],
        level_id: Option<i64>,
        default_bp: i64,
    ) -> i64 {
        let sum: i128 = lines
            .iter()
            .filter(|line| !line.gift)
            .map(|line| {
                i128::from(line.line_total_fen.max(0))
                    * i128::from(self.rate_bp(line, level_id, default_bp).max(0))
            })
            .sum();
        i64::try_from(sum / BP_PER_WHOLE).unwrap_or(i64::MAX)
    }

    /// The rates in a body: each table an object (`{"12": 500}`, as `GET /rates` answers) or
    /// text, one `id=bp` a line (the screen's form; commas and semicolons separate too). A
    /// table left out is emptied: the body is the whole set of rates.
    pub fn parse(body: &Value) -> Result<Rates, HttpResponse> {
        let fields = Fields::of(body);
        let mut rates = Rates::default();
        for (name, most, what) in TABLES {
            let table = parse_table(fields.value(name), name, most, what)?;
            match name {
                "goods" => rates.goods = table,
                "categories" => rates.categories = table,
                _ => rates.levels = table,
            }
        }
        Ok(rates)
    }

    /// A table as the form shows it: `12=500` lines.
    pub fn as_text(&self, name: &str) -> String {
        self.table(name)
            .iter()
            .map(|(id, bp)| format!("{id}={bp}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn parse_table(
    value: Option<&Value>,
    name: &str,
    most: usize,
    what: &str,
) -> Result<BTreeMap<i64, i64>, HttpResponse> {
    let pairs: Vec<(String, Value)> = match value {
        None => Vec::new(),
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        // A textarea sends `\r\n` between lines: split on every line break, not only `\n`.
        Some(Value::String(text)) => text
            .split(['\n', '\r', ',', '，', ';', '；'])
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| match part.split_once(['=', '＝', ':', '：']) {
                Some((id, bp)) => Ok((id.trim().to_owned(), Value::from(bp.trim()))),
                None => Err(refused(
                    name,
                    &format!(
                        "「{part}」应写成 {what}=费率，如 12=500 (write id=bp, such as 12=500)"
                    ),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(refused(
                name,
                "应为对象或每行一个 编号=费率 (an object or id=bp lines)",
            ));
        }
    };
    if pairs.len() > most {
        return Err(refused(
            name,
            &format!("最多{most}项 (at most {most} entries)"),
        ));
    }
    let mut table = BTreeMap::new();
    for (id, bp) in pairs {
        let id = id
            .parse::<i64>()
            .ok()
            .filter(|id| *id >= 1)
            .ok_or_else(|| refused(name, &format!("「{id}」不是有效的{what} (not a valid id)")))?;
        let bp = match &bp {
            Value::Number(n) => n.as_i64(),
            Value::String(text) => text.parse::<i64>().ok(),
            _ => None,
        }
        .filter(|bp| (0..=MAX_RATE_BP).contains(bp))
        .ok_or_else(|| {
            refused(
                name,
                &format!(
                    "{what}{id}的费率应为0到{MAX_RATE_BP}之间的整数（基点，100 = 1%） (a whole number of basis points, 0 to {MAX_RATE_BP})"
                ),
            )
        })?;
        if table.insert(id, bp).is_some() {
            return Err(refused(name, &format!("{what}{id}重复 (listed twice)")));
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn line(product_id: i64, categories: &[i64], total: i64) -> OrderLine {
        OrderLine {
            product_id,
            category_ids: categories.to_vec(),
            line_total_fen: total,
            gift: false,
        }
    }

    fn rates() -> Rates {
        Rates {
            goods: BTreeMap::from([(7, 1_000)]),
            categories: BTreeMap::from([(3, 500), (30, 800)]),
            levels: BTreeMap::from([(2, 400)]),
        }
    }

    /// I2: a goods rate wins over a category rate, over a level rate, over the default.
    #[test]
    fn the_most_specific_rate_wins() {
        let rates = rates();
        assert_eq!(rates.rate_bp(&line(7, &[3], 1), Some(2), 300), 1_000);
        assert_eq!(
            rates.rate_bp(&line(8, &[30, 3], 1), Some(2), 300),
            800,
            "nearest category"
        );
        assert_eq!(
            rates.rate_bp(&line(8, &[31, 3], 1), Some(2), 300),
            500,
            "a parent category"
        );
        assert_eq!(rates.rate_bp(&line(8, &[31], 1), Some(2), 300), 400);
        assert_eq!(rates.rate_bp(&line(8, &[31], 1), Some(9), 300), 300);
        assert_eq!(rates.rate_bp(&line(8, &[31], 1), None, 250), 250);
    }

    #[test]
    fn commission_sums_non_gift_lines_and_rounds_down_once() {
        let rates = rates();
        let mut gift = line(7, &[], 100_000);
        gift.gift = true;
        // 999 × 10 % = 99.9 and 1 × 3 % = 0.03: 99.93 fen → 99.
        let lines = [line(7, &[], 999), line(9, &[], 1), gift, line(9, &[], -50)];
        assert_eq!(rates.commission_fen(&lines, None, 300), 99);
        assert_eq!(rates.commission_fen(&[], None, 300), 0);
        assert_eq!(
            rates.commission_fen(&[line(9, &[], i64::MAX)], None, 5_000),
            i64::MAX / 2
        );
    }

    #[test]
    fn rates_come_as_objects_or_as_typed_lines() {
        let parsed = Rates::parse(&json!({
            "goods": "7=1000\r\n 8 = 450，",
            "categories": {"3": 500, "30": "800"},
            "levels": ""
        }))
        .unwrap();
        assert_eq!(parsed.goods, BTreeMap::from([(7, 1_000), (8, 450)]));
        assert_eq!(parsed.categories, BTreeMap::from([(3, 500), (30, 800)]));
        assert!(parsed.levels.is_empty());
        assert_eq!(parsed.as_text("goods"), "7=1000\n8=450");
        let round_trip = Rates::parse(&serde_json::to_value(&parsed).unwrap()).unwrap();
        assert_eq!(round_trip, parsed);
    }

    #[test]
    fn each_wrong_rate_is_refused_naming_its_table() {
        let field = |body: Value| {
            let refusal = Rates::parse(&body).unwrap_err();
            assert_eq!(refusal.status, 422);
            assert_eq!(refusal.body["error"]["code"], "invalid_field");
            refusal.body["error"]["field"].as_str().unwrap().to_owned()
        };
        assert_eq!(field(json!({"goods": "7"})), "goods");
        assert_eq!(field(json!({"goods": "x=5"})), "goods");
        assert_eq!(field(json!({"goods": "0=5"})), "goods");
        assert_eq!(field(json!({"categories": "3=5001"})), "categories");
        assert_eq!(field(json!({"categories": {"3": -1}})), "categories");
        assert_eq!(field(json!({"levels": "2=1\n2=3"})), "levels");
        assert_eq!(field(json!({"levels": 5})), "levels");
        let many: String = (1..=201).map(|id| format!("{id}=1\n")).collect();
        assert_eq!(field(json!({"goods": many})), "goods");
        let fifty_one: String = (1..=51).map(|id| format!("{id}=1,")).collect();
        assert_eq!(field(json!({"levels": fifty_one})), "levels");
        let two_hundred: String = (1..=200).map(|id| format!("{id}=1\n")).collect();
        assert_eq!(
            Rates::parse(&json!({"goods": two_hundred}))
                .unwrap()
                .goods
                .len(),
            200
        );
    }
}
