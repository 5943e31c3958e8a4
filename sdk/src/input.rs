//! Reading a route's body at the edge, with the kernel's error for a field refused
//! (`422 invalid_field`, the field named, a message in Chinese and English).
//!
//! One body serves two callers: the JSON API sends numbers (fen, epoch milliseconds, ids),
//! and the kernel's plugin screens send what a person typed into a form, as strings ("12.50"
//! yuan, "2026-12-24T09:00" shop time, "3,5,8"). Each reader here takes both: a number is the
//! API's integer, a string is a person's text.

use serde_json::Value;

use crate::{HttpRequest, HttpResponse};

/// The shop's wall clock is China Standard Time (UTC+8, no daylight saving): what a date or a
/// time typed into a form means, and where a "day" starts.
pub const SHOP_UTC_OFFSET_MS: i64 = 8 * 3_600_000;

/// A field refused: `422 invalid_field` naming it.
pub fn refused(field: &str, message: &str) -> HttpResponse {
    HttpResponse::error(
        422,
        "invalid_field",
        Some(field),
        &format!("{field}: {message}"),
    )
}

/// The fields of a JSON object body.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    body: &'a Value,
}

impl<'a> Fields<'a> {
    pub fn of(body: &'a Value) -> Fields<'a> {
        Fields { body }
    }

    /// The raw value, `None` when absent, `null` or an empty string.
    pub fn value(&self, name: &str) -> Option<&'a Value> {
        match self.body.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if text.trim().is_empty() => None,
            Some(value) => Some(value),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.value(name).is_some()
    }

    /// Text, trimmed, 1 to `max_chars` characters.
    pub fn text(&self, name: &str, max_chars: usize) -> Result<String, HttpResponse> {
        self.optional_text(name, max_chars)?
            .ok_or_else(|| refused(name, "必填 (required)"))
    }

    /// Text, trimmed, at most `max_chars` characters; `None` when absent or empty.
    pub fn optional_text(
        &self,
        name: &str,
        max_chars: usize,
    ) -> Result<Option<String>, HttpResponse> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::String(text)) => {
                let text = text.trim();
                if text.chars().count() > max_chars {
                    Err(refused(
                        name,
                        &format!("最多{max_chars}个字 (at most {max_chars} characters)"),
                    ))
                } else if text.chars().any(|c| c.is_control() && c != '\n') {
                    Err(refused(name, "含有控制字符 (contains control characters)"))
                } else {
                    Ok(Some(text.to_owned()))
                }
            }
            Some(_) => Err(refused(name, "应为文字 (must be text)")),
        }
    }

    /// An integer within [`min`, `max`].
    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<i64, HttpResponse> {
        self.optional_int(name, min, max)?
            .ok_or_else(|| refused(name, "必填 (required)"))
    }

    pub fn optional_int(
        &self,
        name: &str,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, HttpResponse> {
        let Some(value) = self.value(name) else {
            return Ok(None);
        };
        let number = match value {
            Value::Number(n) => n.as_i64(),
            Value::String(text) => text.trim().parse::<i64>().ok(),
            _ => None,
        };
        match number {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            Some(_) => Err(refused(
                name,
                &format!("应在{min}到{max}之间 (between {min} and {max})"),
            )),
            None => Err(refused(name, "应为整数 (must be a whole number)")),
        }
    }

    /// A decimal with `decimals` places as an integer of its smallest unit: a number is that
    /// integer already (fen, basis points), a string is decimal text ("12.5" → 1250 with 2).
    pub fn scaled(
        &self,
        name: &str,
        decimals: u32,
        min: i64,
        max: i64,
    ) -> Result<i64, HttpResponse> {
        self.optional_scaled(name, decimals, min, max)?
            .ok_or_else(|| refused(name, "必填 (required)"))
    }

    pub fn optional_scaled(
        &self,
        name: &str,
        decimals: u32,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, HttpResponse> {
        let Some(value) = self.value(name) else {
            return Ok(None);
        };
        let scaled = match value {
            Value::Number(n) => n.as_i64(),
            Value::String(text) => parse_decimal(text.trim(), decimals),
            _ => None,
        };
        match scaled {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            Some(_) => Err(refused(
                name,
                &format!(
                    "应在{}到{}之间 (between {} and {})",
                    show_scaled(min, decimals),
                    show_scaled(max, decimals),
                    show_scaled(min, decimals),
                    show_scaled(max, decimals)
                ),
            )),
            None => Err(refused(
                name,
                &format!(
                    "应为数字，最多{decimals}位小数 (a number with at most {decimals} decimals)"
                ),
            )),
        }
    }

    /// Money in fen: a number is fen, a string is yuan ("12.50").
    pub fn fen(&self, name: &str, min: i64, max: i64) -> Result<i64, HttpResponse> {
        self.scaled(name, 2, min, max)
    }

    pub fn optional_fen(
        &self,
        name: &str,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, HttpResponse> {
        self.optional_scaled(name, 2, min, max)
    }

    /// A moment: a number is epoch milliseconds; a string is the shop's local time
    /// (`2026-12-24T09:00`, `2026-12-24 09:00:00` or a date, `2026-12-24`, meaning its start).
    pub fn time_ms(&self, name: &str) -> Result<i64, HttpResponse> {
        self.optional_time_ms(name)?
            .ok_or_else(|| refused(name, "必填 (required)"))
    }

    pub fn optional_time_ms(&self, name: &str) -> Result<Option<i64>, HttpResponse> {
        let Some(value) = self.value(name) else {
            return Ok(None);
        };
        let ms = match value {
            Value::Number(n) => n.as_i64(),
            Value::String(text) => parse_local_time(text.trim()),
            _ => None,
        };
        ms.map(Some).ok_or_else(|| {
            refused(
                name,
                "应为时间，如 2026-12-24T09:00 (a time such as 2026-12-24T09:00)",
            )
        })
    }

    /// A yes/no: `true`, or a form's checkbox (`on`, `true`, `1`, `yes`); absent is no.
    pub fn flag(&self, name: &str) -> bool {
        match self.value(name) {
            Some(Value::Bool(yes)) => *yes,
            Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
            Some(Value::String(text)) => {
                matches!(text.trim(), "on" | "true" | "1" | "yes")
            }
            _ => false,
        }
    }

    /// One of `choices`.
    pub fn choice(&self, name: &str, choices: &[&str]) -> Result<String, HttpResponse> {
        let text = self.text(name, 64)?;
        if choices.contains(&text.as_str()) {
            Ok(text)
        } else {
            Err(refused(
                name,
                &format!(
                    "应为 {} 之一 (one of {})",
                    choices.join("、"),
                    choices.join(", ")
                ),
            ))
        }
    }

    /// Positive ids: an array of integers, or text with them separated by commas, spaces or
    /// new lines; duplicates taken out, order kept; at most `most`.
    pub fn ids(&self, name: &str, most: usize) -> Result<Vec<i64>, HttpResponse> {
        let wrong = || refused(name, "应为编号列表，如 12,15 (ids such as 12,15)");
        let raw: Vec<i64> = match self.value(name) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::Number(n) => n.as_i64(),
                    Value::String(text) => text.trim().parse().ok(),
                    _ => None,
                })
                .collect::<Option<Vec<i64>>>()
                .ok_or_else(wrong)?,
            Some(Value::Number(n)) => vec![n.as_i64().ok_or_else(wrong)?],
            Some(Value::String(text)) => text
                .split(|c: char| c == ',' || c == '，' || c.is_whitespace())
                .filter(|part| !part.is_empty())
                .map(|part| part.parse::<i64>().ok())
                .collect::<Option<Vec<i64>>>()
                .ok_or_else(wrong)?,
            Some(_) => return Err(wrong()),
        };
        let mut ids: Vec<i64> = Vec::new();
        for id in raw {
            if id < 1 {
                return Err(wrong());
            }
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if ids.len() > most {
            return Err(refused(name, &format!("最多{most}个 (at most {most})")));
        }
        Ok(ids)
    }
}

fn parse_decimal(text: &str, decimals: u32) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty()
        || fraction.len() > decimals as usize
        || !whole
            .chars()
            .chain(fraction.chars())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let scale = 10_i64.checked_pow(decimals)?;
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut fraction_value: i64 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().ok()?
    };
    for _ in fraction.len()..decimals as usize {
        fraction_value = fraction_value.checked_mul(10)?;
    }
    let value = whole.checked_mul(scale)?.checked_add(fraction_value)?;
    Some(if negative { -value } else { value })
}

/// `1250` with 2 decimals → `12.50`; with 0 → `1250`.
pub fn show_scaled(value: i64, decimals: u32) -> String {
    let Some(scale) = 10_i64.checked_pow(decimals) else {
        return value.to_string();
    };
    if decimals == 0 {
        return value.to_string();
    }
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    let scale = scale.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = decimals as usize
    )
}

/// Fen as the shop shows money: `¥12.50`.
pub fn yuan(fen: i64) -> String {
    format!("¥{}", show_scaled(fen, 2))
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The shop's local time (`YYYY-MM-DD`, with `THH:MM` or ` HH:MM[:SS]`) as epoch ms.
pub fn parse_local_time(text: &str) -> Option<i64> {
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let mut date_parts = date.split('-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: i64 = date_parts.next()?.parse().ok()?;
    let day: i64 = date_parts.next()?.parse().ok()?;
    if date_parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if civil_from_days(days) != (year, month, day) {
        return None;
    }
    let mut seconds = 0_i64;
    if let Some(time) = time {
        let mut parts = time.split(':');
        let hour: i64 = parts.next()?.parse().ok()?;
        let minute: i64 = parts.next()?.parse().ok()?;
        let second: i64 = match parts.next() {
            Some(s) => s.parse().ok()?,
            None => 0,
        };
        if parts.next().is_some()
            || hour > 23
            || minute > 59
            || second > 59
            || hour < 0
            || minute < 0
            || second < 0
        {
            return None;
        }
        seconds = hour * 3600 + minute * 60 + second;
    }
    Some(days * 86_400_000 + seconds * 1000 - SHOP_UTC_OFFSET_MS)
}

/// Epoch ms as the shop's local time, `2026-12-24 09:00`.
pub fn local_time(ms: i64) -> String {
    let local = ms + SHOP_UTC_OFFSET_MS;
    let (year, month, day) = civil_from_days(local.div_euclid(86_400_000));
    let minutes = local.rem_euclid(86_400_000) / 60_000;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        minutes / 60,
        minutes % 60
    )
}

/// Epoch ms as the shop's local date, `2026-12-24`.
pub fn local_date(ms: i64) -> String {
    let (year, month, day) = civil_from_days((ms + SHOP_UTC_OFFSET_MS).div_euclid(86_400_000));
    format!("{year:04}-{month:02}-{day:02}")
}

impl HttpRequest {
    /// The body's fields.
    pub fn fields(&self) -> Fields<'_> {
        Fields::of(&self.body)
    }

    /// Path parameter `name` as a positive id; a 404 (`not_found`, `what` named) otherwise.
    pub fn id_param(&self, name: &str, what: &str) -> Result<i64, HttpResponse> {
        self.params
            .get(name)
            .and_then(|id| id.parse::<i64>().ok())
            .filter(|id| *id > 0)
            .ok_or_else(|| HttpResponse::not_found(what))
    }

    /// The calling member's id: routes for members only (the kernel checked the role; an
    /// unapproved member has no pricing attributes and gets a 403 here).
    pub fn member_id(&self) -> Result<i64, HttpResponse> {
        self.caller
            .member
            .as_ref()
            .map(|m| m.member_id)
            .ok_or_else(|| {
                HttpResponse::error(
                    403,
                    "forbidden",
                    None,
                    "仅限已审核的会员 (approved members only)",
                )
            })
    }

    /// The signed-in caller's user id.
    pub fn user_id(&self) -> Result<i64, HttpResponse> {
        self.caller.user_id.ok_or_else(|| {
            HttpResponse::error(401, "unauthorized", None, "请先登录 (sign in first)")
        })
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.caller.roles.iter().any(|r| r == role)
    }
}

impl HttpResponse {
    pub fn ok(body: impl serde::Serialize) -> HttpResponse {
        HttpResponse::json(200, body)
    }

    pub fn created(body: impl serde::Serialize) -> HttpResponse {
        HttpResponse::json(201, body)
    }

    /// 404 `not_found`: 「没有这个{what}」.
    pub fn not_found(what: &str) -> HttpResponse {
        HttpResponse::error(
            404,
            "not_found",
            None,
            &format!("没有这个{what} (not found)"),
        )
    }

    /// 409 with a stable code: the record is not in a state that allows it.
    pub fn conflict(code: &str, message: &str) -> HttpResponse {
        HttpResponse::error(409, code, None, message)
    }

    /// The kernel's kv or outbox refused a write: nothing the caller can fix, a 500 naming
    /// the cause (a quota, most often).
    pub fn storage_failed(message: impl std::fmt::Display) -> HttpResponse {
        HttpResponse::error(
            500,
            "storage_failed",
            None,
            &format!("保存失败 (saving failed): {message}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn money_is_fen_as_a_number_and_yuan_as_text() {
        let body = json!({"a": 1250, "b": "12.5", "c": "12.505", "d": "abc", "e": ""});
        let fields = Fields::of(&body);
        assert_eq!(fields.fen("a", 0, 100_000).ok(), Some(1250));
        assert_eq!(fields.fen("b", 0, 100_000).ok(), Some(1250));
        assert!(fields.fen("c", 0, 100_000).is_err());
        assert!(fields.fen("d", 0, 100_000).is_err());
        assert_eq!(fields.optional_fen("e", 0, 10).ok(), Some(None));
        let refused = fields
            .fen("a", 0, 100)
            .err()
            .map(|r| r.body.to_string())
            .unwrap_or_default();
        assert!(
            refused.contains("\"field\":\"a\"") && refused.contains("1.00"),
            "{refused}"
        );
    }

    #[test]
    fn a_typed_local_time_is_china_standard_time() {
        // 2026-12-24 09:00 in Beijing is 01:00 UTC.
        let ms = parse_local_time("2026-12-24T09:00");
        assert_eq!(ms, Some(1_798_074_000_000));
        assert_eq!(ms.map(local_time).as_deref(), Some("2026-12-24 09:00"));
        assert_eq!(parse_local_time("2026-02-30"), None);
        assert_eq!(parse_local_time("2026-12-24 25:00"), None);
        assert_eq!(local_date(1_798_074_000_000 - 3_600_000 * 10), "2026-12-23");
    }

    #[test]
    fn ids_come_as_a_list_or_as_typed_text() {
        let body = json!({"a": [3, "5", 3], "b": "7, 8，9\n10", "c": "7,x", "d": [0]});
        let fields = Fields::of(&body);
        assert_eq!(fields.ids("a", 10).ok(), Some(vec![3, 5]));
        assert_eq!(fields.ids("b", 10).ok(), Some(vec![7, 8, 9, 10]));
        assert!(fields.ids("c", 10).is_err());
        assert!(fields.ids("d", 10).is_err());
        assert!(fields.ids("b", 3).is_err());
        assert_eq!(fields.ids("missing", 3).ok(), Some(vec![]));
    }

    #[test]
    fn flags_and_text() {
        let body = json!({"on": "on", "off": false, "t": "  你好 ", "long": "一二三"});
        let fields = Fields::of(&body);
        assert!(fields.flag("on") && !fields.flag("off") && !fields.flag("none"));
        assert_eq!(fields.text("t", 5).ok().as_deref(), Some("你好"));
        assert!(fields.text("long", 2).is_err());
        assert!(fields.text("none", 2).is_err());
    }
}
