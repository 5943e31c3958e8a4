//! The plugin's settings (`plugins.toml`, checked against [`schema`]): the earning rate, the
//! exchange ratio when paying with points (兑换比例, REQUIREMENTS H3), the share of an order
//! points may pay, how long points live and how early members are reminded (H2).
//!
//! `on-tick` gets no settings from the kernel (only the shop's time), so every event this
//! plugin receives keeps a copy of them in kv (`settings`, written only when they changed) for
//! the tick to read.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use pifa_sdk::Kv;

/// Where the last settings an event carried are kept for `on-tick`.
pub const SETTINGS_KEY: &str = "settings";

pub const DEFAULT_EARN_PER_YUAN: i64 = 1;
pub const DEFAULT_EXCHANGE: i64 = 100;
pub const DEFAULT_MAX_PAY_PERCENT: i64 = 50;
pub const DEFAULT_EXPIRY_MONTHS: i64 = 12;
pub const DEFAULT_REMIND_DAYS: i64 = 30;

const MAX_EARN_PER_YUAN: i64 = 100;
const MAX_EXCHANGE: i64 = 100_000;
const MAX_EXPIRY_MONTHS: i64 = 120;
const MAX_REMIND_DAYS: i64 = 90;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Points per yuan paid for a completed order (H1).
    pub earn_per_yuan: i64,
    /// Points worth ¥1.00 when paying an order with them (H3's 兑换比例).
    pub exchange: i64,
    /// The most of an order's total (so far, after every earlier discount) points may pay.
    pub max_pay_percent: i64,
    /// Points expire this many calendar months after the day they were earned, at the start
    /// of that day in the shop's time zone (H2: 「积分自获取之日起一年内有效」).
    pub expiry_months: i64,
    /// Members are told this many days before their points expire; 0 tells nobody.
    pub remind_days: i64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            earn_per_yuan: DEFAULT_EARN_PER_YUAN,
            exchange: DEFAULT_EXCHANGE,
            max_pay_percent: DEFAULT_MAX_PAY_PERCENT,
            expiry_months: DEFAULT_EXPIRY_MONTHS,
            remind_days: DEFAULT_REMIND_DAYS,
        }
    }
}

fn read(settings: &Value, name: &str, min: i64, max: i64, default: i64) -> i64 {
    // The kernel checked the settings against the schema; a value outside it anyway (an older
    // schema, a hand-made input) falls back to the default rather than pricing nonsense.
    settings
        .get(name)
        .and_then(Value::as_i64)
        .filter(|n| (min..=max).contains(n))
        .unwrap_or(default)
}

impl Settings {
    /// The settings a hook received, with the default for a key missing or out of range.
    pub fn of(settings: &Value) -> Settings {
        Settings {
            earn_per_yuan: read(
                settings,
                "earn_per_yuan",
                0,
                MAX_EARN_PER_YUAN,
                DEFAULT_EARN_PER_YUAN,
            ),
            exchange: read(settings, "exchange", 1, MAX_EXCHANGE, DEFAULT_EXCHANGE),
            max_pay_percent: read(settings, "max_pay_percent", 0, 100, DEFAULT_MAX_PAY_PERCENT),
            expiry_months: read(
                settings,
                "expiry_months",
                1,
                MAX_EXPIRY_MONTHS,
                DEFAULT_EXPIRY_MONTHS,
            ),
            remind_days: read(
                settings,
                "remind_days",
                0,
                MAX_REMIND_DAYS,
                DEFAULT_REMIND_DAYS,
            ),
        }
    }

    /// The settings the last event carried (what `on-tick` goes by), or the defaults.
    pub fn remembered(kv: &impl Kv) -> Settings {
        kv.get_json::<Settings>(SETTINGS_KEY).unwrap_or_default()
    }

    /// Keeps these settings for `on-tick`, writing only when they changed (one write at most).
    pub fn remember(self, kv: &mut impl Kv) -> Result<(), String> {
        if kv.get_json::<Settings>(SETTINGS_KEY) == Some(self) {
            return Ok(());
        }
        kv.put_json(SETTINGS_KEY, &self)
    }

    /// What "¥1.00" is in points, and the step a number of points to pay moves in so that it
    /// is worth whole fen: `exchange / gcd(exchange, 100)` (100 → 1, 1000 → 10, 30 → 3).
    pub fn points_step(self) -> i64 {
        let mut a = self.exchange.max(1);
        let mut b = 100_i64;
        while b != 0 {
            let r = a % b;
            a = b;
            b = r;
        }
        self.exchange.max(1) / a.max(1)
    }

    /// The fen `points` pay (a multiple of [`Settings::points_step`] gives it exactly).
    pub fn fen_of_points(self, points: i64) -> i64 {
        points.saturating_mul(100) / self.exchange.max(1)
    }

    /// The most points `fen` of an order may take (rounded down to whole steps).
    pub fn points_for_fen(self, fen: i64) -> i64 {
        let points = i128::from(fen.max(0)) * i128::from(self.exchange) / 100;
        let points = i64::try_from(points).unwrap_or(i64::MAX);
        let step = self.points_step();
        points - points % step
    }
}

/// The settings' JSON Schema: the back office draws the settings form from it (Chinese
/// titles), and the kernel checks `plugins.toml` against it.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "earn_per_yuan": {
                "type": "integer", "minimum": 0, "maximum": MAX_EARN_PER_YUAN,
                "default": DEFAULT_EARN_PER_YUAN,
                "title": "每消费1元获得积分",
                "description": "订单完成后按实付金额计算，向下取整；0 表示不送积分"
            },
            "exchange": {
                "type": "integer", "minimum": 1, "maximum": MAX_EXCHANGE,
                "default": DEFAULT_EXCHANGE,
                "title": "积分兑换比例（多少积分抵¥1.00）",
                "description": "下单时用积分抵扣货款的比例，如 100 表示 100 积分抵 1 元"
            },
            "max_pay_percent": {
                "type": "integer", "minimum": 0, "maximum": 100,
                "default": DEFAULT_MAX_PAY_PERCENT,
                "title": "积分最多抵扣订单金额的百分比",
                "description": "0 表示不能用积分抵扣货款"
            },
            "expiry_months": {
                "type": "integer", "minimum": 1, "maximum": MAX_EXPIRY_MONTHS,
                "default": DEFAULT_EXPIRY_MONTHS,
                "title": "积分有效期（月）",
                "description": "积分自获得之日起按自然月计算，到期当天零点（北京时间）过期，先获得的先使用、先过期"
            },
            "remind_days": {
                "type": "integer", "minimum": 0, "maximum": MAX_REMIND_DAYS,
                "default": DEFAULT_REMIND_DAYS,
                "title": "过期前提醒天数",
                "description": "积分过期前多少天发消息提醒会员；0 表示不提醒"
            }
        },
        "additionalProperties": false
    })
}

#[cfg(test)]
mod tests {
    use pifa_sdk::MemoryKv;

    use super::*;

    #[test]
    fn missing_or_out_of_range_settings_take_the_defaults() {
        assert_eq!(Settings::of(&Value::Null), Settings::default());
        let settings =
            Settings::of(&json!({"exchange": 0, "max_pay_percent": 30, "remind_days": 7}));
        assert_eq!(settings.exchange, DEFAULT_EXCHANGE);
        assert_eq!(settings.max_pay_percent, 30);
        assert_eq!(settings.remind_days, 7);
        assert_eq!(settings.expiry_months, 12);
    }

    #[test]
    fn points_pay_whole_fen_only() {
        let of = |exchange: i64| Settings {
            exchange,
            ..Settings::default()
        };
        assert_eq!(of(100).points_step(), 1);
        assert_eq!(of(1000).points_step(), 10);
        assert_eq!(of(30).points_step(), 3);
        assert_eq!(of(30).fen_of_points(300), 1000);
        // ¥5.00 takes 500 points at 100 a yuan, 5000 at 1000, 150 at 30.
        assert_eq!(of(100).points_for_fen(500), 500);
        assert_eq!(of(1000).points_for_fen(501), 5010);
        assert_eq!(of(30).points_for_fen(501), 150);
        assert_eq!(of(30).fen_of_points(150), 500);
    }

    #[test]
    fn settings_are_remembered_for_the_tick_only_when_they_change() {
        let mut kv = MemoryKv {
            writes_left: Some(1),
            ..MemoryKv::default()
        };
        assert_eq!(Settings::remembered(&kv), Settings::default());
        let settings = Settings::of(&json!({"remind_days": 5}));
        assert!(settings.remember(&mut kv).is_ok());
        assert!(
            settings.remember(&mut kv).is_ok(),
            "unchanged: no write needed"
        );
        assert_eq!(Settings::remembered(&kv).remind_days, 5);
    }

    #[test]
    fn the_schema_titles_every_setting_in_chinese_with_its_default() {
        let schema = schema();
        assert_eq!(schema["additionalProperties"], false);
        let properties = schema["properties"].as_object().map(|p| p.len());
        assert_eq!(properties, Some(5));
        assert_eq!(schema["properties"]["exchange"]["default"], 100);
        assert_eq!(schema["properties"]["max_pay_percent"]["default"], 50);
        assert_eq!(schema["properties"]["expiry_months"]["default"], 12);
        assert_eq!(schema["properties"]["remind_days"]["default"], 30);
        assert_eq!(schema["properties"]["earn_per_yuan"]["default"], 1);
        for (_, property) in schema["properties"].as_object().into_iter().flatten() {
            assert!(property["title"].as_str().is_some_and(|t| !t.is_ascii()));
        }
    }
}
