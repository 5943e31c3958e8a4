//! Money is integer fen (分), `i64`, everywhere: storage, API, scripts, plugins (REQUIREMENTS N).

use crate::error::ApiError;

/// Largest amount accepted in one price: ¥100,000,000.00, far above any wholesale line and far
/// below where sums of many lines could overflow.
pub const MAX_FEN: i64 = 10_000_000_000;

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

/// `numerator / denominator` rounded to the nearest fen, halves away from zero (四舍五入, N):
/// 2.5 → 3, -2.5 → -3. `denominator` must be positive; computed in i128, so no intermediate
/// overflows.
pub fn round_half_up(numerator: i64, denominator: i64) -> i64 {
    let (n, d) = (i128::from(numerator), i128::from(denominator.max(1)));
    let half = d / 2;
    let rounded = if n >= 0 {
        (n + half) / d
    } else {
        -((-n + half) / d)
    };
    i64::try_from(rounded).unwrap_or(if n >= 0 { i64::MAX } else { i64::MIN })
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
    fn halves_round_away_from_zero() {
        assert_eq!(round_half_up(5, 2), 3);
        assert_eq!(round_half_up(-5, 2), -3);
        assert_eq!(round_half_up(4, 3), 1);
        assert_eq!(round_half_up(-1000 * 80, 100), -800);
        assert_eq!(round_half_up(-333, 2), -167);
        assert_eq!(round_half_up(i64::MAX, 1), i64::MAX);
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
