//! The plugin's settings (`plugins.toml`, checked by the kernel against the schema in
//! `manifest.rs`), read with their defaults so a missing or out-of-range key never stops the
//! plugin: the commission notice's text (I2, 「分享佣金在微信支付到账通知中的文字可自定义」), the
//! default commission rate and the smallest payout.

use serde_json::Value;

/// What a promoter reads when a customer's order earns him commission, when the settings name
/// nothing else. `{order_no}`, `{amount}` (¥x.xx) and `{customer}` (the member's id) are filled in.
pub const DEFAULT_NOTICE: &str = "您推广的客户订单{order_no}已完成，佣金{amount}已入账。";
pub const MAX_NOTICE_CHARS: usize = 100;
/// 300 basis points = 3 %.
pub const DEFAULT_RATE_BP: i64 = 300;
/// The highest rate anything may give: 5000 bp = 50 % of the line.
pub const MAX_RATE_BP: i64 = 5_000;
/// ¥100.00.
pub const DEFAULT_MIN_PAYOUT_FEN: i64 = 10_000;
/// ¥100,000.00: the schema's ceiling for the smallest payout.
pub const MAX_MIN_PAYOUT_FEN: i64 = 10_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub notice: String,
    pub default_rate_bp: i64,
    pub min_payout_fen: i64,
}

impl Settings {
    pub fn of(settings: &Value) -> Settings {
        let notice = settings
            .get("notice")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .map(|text| text.chars().take(MAX_NOTICE_CHARS).collect())
            .unwrap_or_else(|| DEFAULT_NOTICE.to_owned());
        let int = |name: &str, default: i64, min: i64, max: i64| {
            settings
                .get(name)
                .and_then(Value::as_i64)
                .filter(|n| (min..=max).contains(n))
                .unwrap_or(default)
        };
        Settings {
            notice,
            default_rate_bp: int("default_rate_bp", DEFAULT_RATE_BP, 0, MAX_RATE_BP),
            min_payout_fen: int(
                "min_payout_fen",
                DEFAULT_MIN_PAYOUT_FEN,
                1,
                MAX_MIN_PAYOUT_FEN,
            ),
        }
    }

    /// The notice for one commission: the placeholders filled in.
    pub fn notice_text(&self, order_no: &str, amount_fen: i64, member_id: Option<i64>) -> String {
        let customer = member_id.map(|id| id.to_string()).unwrap_or_default();
        self.notice
            .replace("{order_no}", order_no)
            .replace("{amount}", &pifa_sdk::input::yuan(amount_fen))
            .replace("{customer}", &customer)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn missing_or_out_of_range_settings_fall_back_to_the_defaults() {
        let settings = Settings::of(&Value::Null);
        assert_eq!(settings.notice, DEFAULT_NOTICE);
        assert_eq!(settings.default_rate_bp, 300);
        assert_eq!(settings.min_payout_fen, 10_000);
        let odd =
            Settings::of(&json!({"notice": "  ", "default_rate_bp": 5001, "min_payout_fen": 0}));
        assert_eq!(odd, settings);
        let set = Settings::of(
            &json!({"notice": "佣金{amount}", "default_rate_bp": 0, "min_payout_fen": 500}),
        );
        assert_eq!((set.default_rate_bp, set.min_payout_fen), (0, 500));
    }

    /// I2: the text of the commission notice is configurable.
    #[test]
    fn the_notice_fills_order_number_amount_and_customer() {
        let settings =
            Settings::of(&json!({"notice": "客户{customer}的订单{order_no}带来佣金{amount}"}));
        assert_eq!(
            settings.notice_text("P20260501", 1234, Some(42)),
            "客户42的订单P20260501带来佣金¥12.34"
        );
        assert_eq!(
            Settings::of(&Value::Null).notice_text("A1", 5, None),
            "您推广的客户订单A1已完成，佣金¥0.05已入账。"
        );
    }
}
