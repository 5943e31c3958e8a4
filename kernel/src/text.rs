//! Text from a client is refused at the edge when it carries control characters: a NUL byte
//! is an error on PostgreSQL and stored on SQLite, an escape sequence forges log lines, and
//! none of them is anything a person typed. Line breaks and tabs are text, so they pass.

use crate::error::ApiError;

/// The first control character in `text` other than a line break or a tab.
pub fn control_char(text: &str) -> Option<char> {
    text.chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// 422 `invalid_text` naming `field` when `text` holds a control character.
pub fn refuse_control_chars(text: &str, field: &str) -> Result<(), ApiError> {
    match control_char(text) {
        None => Ok(()),
        Some(c) => Err(control_char_error(c, field)),
    }
}

pub fn control_char_error(c: char, field: &str) -> ApiError {
    ApiError::invalid_field(
        "invalid_text",
        field,
        format!(
            "{field}: 含有不可见的控制字符 (control character U+{:04X} not allowed)",
            u32::from(c)
        ),
    )
}

/// Whether a JSON document may hold a control character in a string: an escaped one
/// (`\u0000`–`\u001f`, `\u007f`–`\u009f`) or a raw DEL or C1 character (raw C0 characters are
/// not valid JSON). A cheap scan that lets almost every body skip the full check.
pub fn json_may_hold_control_chars(bytes: &[u8]) -> bool {
    let escaped = bytes.windows(6).any(|w| {
        w.starts_with(b"\\u00")
            && matches!(
                (w.get(4).copied(), w.get(5).copied()),
                (Some(b'0' | b'1' | b'8' | b'9'), Some(_)) | (Some(b'7'), Some(b'f' | b'F'))
            )
    });
    let raw = bytes.contains(&0x7f)
        || bytes.windows(2).any(|w| {
            w.first() == Some(&0xc2) && w.get(1).is_some_and(|b| (0x80..=0x9f).contains(b))
        });
    escaped || raw
}

/// The path (`lines[2].remark`) of the first string in `value`, key or value, holding a
/// control character, and that character.
pub fn control_char_in_json(value: &serde_json::Value) -> Option<(String, char)> {
    fn walk(value: &serde_json::Value, path: &mut String) -> Option<(String, char)> {
        match value {
            serde_json::Value::String(s) => control_char(s).map(|c| (path.clone(), c)),
            serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(item, path);
                path.truncate(len);
                found
            }),
            serde_json::Value::Object(map) => map.iter().find_map(|(key, item)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                let found = control_char(key)
                    .map(|c| (path.clone(), c))
                    .or_else(|| walk(item, path));
                path.truncate(len);
                found
            }),
            _ => None,
        }
    }
    walk(value, &mut String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_pass_and_nul_is_named() {
        assert_eq!(control_char("第一行\n第二行\t"), None);
        assert_eq!(control_char("a\u{0}b"), Some('\u{0}'));
        assert_eq!(control_char("\u{1b}[31m"), Some('\u{1b}'));
        assert_eq!(control_char("\u{85}"), Some('\u{85}'));
    }

    #[test]
    fn json_scan_finds_escaped_and_raw_controls() {
        assert!(json_may_hold_control_chars(br#"{"a":"\u0000"}"#));
        assert!(json_may_hold_control_chars(br#"{"a":"\u001B"}"#));
        assert!(json_may_hold_control_chars(br#"{"a":"\u007f"}"#));
        assert!(json_may_hold_control_chars("{\"a\":\"\u{85}\"}".as_bytes()));
        assert!(!json_may_hold_control_chars(
            r#"{"a":"五金\u4e94"}"#.as_bytes()
        ));
    }

    #[test]
    fn json_walk_names_the_path() {
        let value = serde_json::json!({"lines": [{"remark": "ok"}, {"remark": "x\u{0}"}]});
        assert_eq!(
            control_char_in_json(&value),
            Some(("lines[1].remark".to_owned(), '\u{0}'))
        );
        assert_eq!(control_char_in_json(&serde_json::json!({"a": "b\n"})), None);
    }
}
