//! Money is integer fen (分), `i64`, everywhere: storage, API, scripts, plugins (REQUIREMENTS N).
//! Inside the kernel an order's amounts are `Fen`, so an amount is not added to a count or an
//! id, and every sum of them is checked.

use crate::error::ApiError;

crate::ids::integer_type!(
    /// An amount in fen (分): ¥12.30 is 1230.
    Fen
);

impl Fen {
    pub const ZERO: Fen = Fen(0);

    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }

    /// Amounts added up, or `None` when the sum would overflow.
    pub fn sum(amounts: impl IntoIterator<Item = Fen>) -> Option<Fen> {
        checked_sum(amounts.into_iter().map(Fen::get)).map(Fen)
    }
}

/// As a person reads it: `¥1113.30`.
impl std::fmt::Display for Fen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_price(self.0))
    }
}

/// Largest amount accepted in one price: ¥100,000,000.00, far above any wholesale line and far
/// below where sums of many lines could overflow.
pub const MAX_FEN: i64 = 10_000_000_000;

/// The most one order, and so one line, may come to: ¥100,000,000,000.00. Quotes, scripts,
/// plugins and staff's changes are held under it, so a member's open orders cannot add up
/// past `i64` (that would take 900,000 of them at this ceiling).
pub const MAX_ORDER_FEN: i64 = 10_000_000_000_000;

/// Amounts added up, or `None` when the sum would overflow: every sum of money goes through
/// this or `checked_add`, never a saturating or wrapping add.
pub fn checked_sum(amounts: impl IntoIterator<Item = i64>) -> Option<i64> {
    amounts.into_iter().try_fold(0_i64, i64::checked_add)
}

/// The refusal of an amount outside what money may come to (a line or an order over
/// [`MAX_ORDER_FEN`], a sum that would overflow), naming the field that took it there.
pub fn out_of_range(field: &str) -> ApiError {
    ApiError::invalid_field(
        "amount_out_of_range",
        field,
        format!(
            "{field}: 金额超出允许范围（单笔订单最多{}）(the amount is out of range)",
            format_price(MAX_ORDER_FEN)
        ),
    )
}

/// A price or amount in fen, never negative.
pub fn parse_fen(value: i64, field: &str) -> Result<i64, ApiError> {
    if (0..=MAX_FEN).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::invalid_field(
            "invalid_money",
            field,
            format!(
                "{field}: 金额须为0到{MAX_FEN}分之间的整数 (integer fen between 0 and {MAX_FEN})"
            ),
        ))
    }
}

/// A whole number of fen as a form field writes it (`"1230"`), bounded as `parse_fen`.
pub fn parse_fen_text(text: &str, field: &str) -> Result<i64, ApiError> {
    let value: i64 = text.trim().parse().map_err(|_| {
        ApiError::invalid_field(
            "invalid_money",
            field,
            format!("{field}: 金额须为整数分 (integer fen)"),
        )
    })?;
    parse_fen(value, field)
}

/// Parses a yuan amount as people write it ("12.30", "12.3", "12") into exact fen, without
/// floating point: "12.30" is 1230.
pub fn parse_yuan(text: &str, field: &str) -> Result<i64, ApiError> {
    let invalid = || {
        ApiError::invalid_field(
            "invalid_money",
            field,
            format!("{field}: 金额格式不正确，如 12.30 (amount like 12.30 expected)"),
        )
    };
    let text = text.trim().trim_start_matches(['¥', '￥']);
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || whole.len() > 9
        || fraction.len() > 2
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
    {
        return Err(invalid());
    }
    let yuan: i64 = whole.parse().map_err(|_| invalid())?;
    let fen: i64 = format!("{fraction:0<2}").parse().map_err(|_| invalid())?;
    parse_fen(yuan * 100 + fen, field)
}

/// `amount_fen × qty / per`, rounded to the nearest fen, halves away from zero (四舍五入, N):
/// an amount for `per` items, for `qty` of them,
/// or `None` when it leaves what money may come to ([`MAX_ORDER_FEN`] either way). Exact: the
/// product is taken in i128.
pub fn scale_fen(amount_fen: i64, qty: i64, per: i64) -> Option<i64> {
    let scaled = divide_half_up(i128::from(amount_fen) * i128::from(qty), i128::from(per));
    i64::try_from(scaled)
        .ok()
        .filter(|fen| fen.abs() <= MAX_ORDER_FEN)
}

fn divide_half_up(n: i128, d: i128) -> i128 {
    let d = d.max(1);
    let half = d / 2;
    if n >= 0 {
        (n + half) / d
    } else {
        -((-n + half) / d)
    }
}

/// "1230" fen → "12.30".
/// An amount as a person reads it in a message or a notice: `¥1113.30`. Every text that
/// names money says it this way (`format_yuan` is the bare number, for tables and files).
pub fn format_price(fen: i64) -> String {
    format!("¥{}", format_yuan(fen))
}

pub fn format_yuan(fen: i64) -> String {
    format!(
        "{}{}.{:02}",
        if fen < 0 { "-" } else { "" },
        fen.abs() / 100,
        fen.abs() % 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_amounts_are_whole_fen_within_bounds() {
        assert_eq!(parse_fen_text(" 1230 ", "amount_fen").ok(), Some(1230));
        for bad in ["12.30", "", "-1", "10000000001"] {
            let refused = parse_fen_text(bad, "amount_fen").err();
            assert_eq!(
                refused.as_ref().map(|e| (e.code, e.field.as_deref())),
                Some(("invalid_money", Some("amount_fen"))),
                "{bad}"
            );
        }
    }

    #[test]
    fn fen_sums_are_checked_and_read_as_prices() {
        assert_eq!(Fen::sum([Fen(1_230), Fen(5)]), Some(Fen(1_235)));
        assert_eq!(Fen::sum([Fen(i64::MAX), Fen(1)]), None);
        assert_eq!(Fen(i64::MAX).checked_add(Fen(1)), None);
        assert_eq!(Fen(111_330).to_string(), "¥1113.30");
        assert_eq!(serde_json::to_string(&Fen(42)).ok().as_deref(), Some("42"));
    }

    #[test]
    fn halves_round_away_from_zero_and_amounts_stay_in_range() {
        assert_eq!(scale_fen(5, 1, 2), Some(3));
        assert_eq!(scale_fen(-5, 1, 2), Some(-3));
        assert_eq!(scale_fen(4, 1, 3), Some(1));
        assert_eq!(scale_fen(-1000, 80, 100), Some(-800));
        assert_eq!(scale_fen(-333, 1, 2), Some(-167));
        // A discount of ¥30 on 7 items, for 10 of them: exact, then rounded once.
        assert_eq!(scale_fen(-3000, 10, 7), Some(-4286));
        // A large amount times a large quantity: exact in i128, refused when out of range,
        // never saturated to a smaller number.
        assert_eq!(scale_fen(4_000_000_000_000_000_000, 2, 1), None);
        assert_eq!(scale_fen(MAX_ORDER_FEN, 1, 1), Some(MAX_ORDER_FEN));
        assert_eq!(scale_fen(MAX_ORDER_FEN, 2, 1), None);
        assert_eq!(checked_sum([i64::MAX, 1]), None);
        assert_eq!(checked_sum([1, 2, 3]), Some(6));
    }

    #[test]
    fn yuan_text_becomes_exact_fen() {
        for (text, fen) in [
            ("12.30", 1230),
            ("12.3", 1230),
            ("12", 1200),
            ("0.01", 1),
            ("¥9876.54", 987_654),
        ] {
            assert_eq!(parse_yuan(text, "price").ok(), Some(fen), "{text}");
        }
        for bad in ["", "12.345", "-1", "1e3", "12,30", ".5", "abc"] {
            assert_eq!(
                parse_yuan(bad, "price").err().map(|e| e.code),
                Some("invalid_money"),
                "{bad}"
            );
        }
        assert_eq!(format_yuan(987_654), "9876.54");
        assert_eq!(format_yuan(5), "0.05");
        assert!(parse_fen(-1, "price").is_err() && parse_fen(MAX_FEN + 1, "price").is_err());
    }
}
