//! Text from a client is refused at the edge when it carries control characters: a NUL byte
//! is an error on PostgreSQL and stored on SQLite, an escape sequence forges log lines, and
//! none of them is anything a person typed. Line breaks and tabs are text, so they pass.
//!
//! Text from a plugin is not refused but cleaned, at the plugin boundary, by [`from_plugin`]:
//! a plugin is code, not a person, so what it hands the kernel (an adjustment's label, a
//! refusal for the member, a message to staff, a log line, a failure's reason) is made safe to
//! show and to store whatever it holds.

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

/// Where a plugin's text goes, which decides its length cap and what becomes of control
/// characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginText {
    /// An adjustment's label, stored with the order (see [`plugin_label`]).
    Label,
    /// A refusal the member reads (a checkout's refusal, a reservation's limit).
    MemberMessage,
    /// A line in staff's inbox (`notify.staff`).
    StaffMessage,
    /// Why a call failed: the log, `last_error`, `pifa plugins list`, staff's inbox.
    Reason,
    /// A line of the plugin's in the kernel's log.
    LogLine,
    /// A text of a plugin's screen a person reads (a title, a cell, a field's value), drawn by
    /// the theme (`themes::screens`).
    Screen,
}

impl PluginText {
    /// The cap, in characters (bytes for a log line, which is what a log file pays for).
    pub const fn cap(self) -> usize {
        match self {
            PluginText::Label => LABEL_CHARS,
            PluginText::MemberMessage => 200,
            PluginText::StaffMessage => 500,
            PluginText::Reason => 500,
            PluginText::LogLine => 2048,
            PluginText::Screen => 2000,
        }
    }
}

/// An adjustment's label is at most this many characters (the order page's column).
pub const LABEL_CHARS: usize = 40;

/// Bidirectional formatting controls (embeddings, overrides, isolates, marks): they reorder
/// what a reader sees (U+202E makes "gpj.exe" read "exe.jpg") and carry no text.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Zero-width characters: invisible, they make two labels that look alike differ, or a label
/// that looks empty not be.
fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Characters that break a line or steer a terminal: C0 and C1 controls, and the Unicode line
/// and paragraph separators (which JavaScript and log viewers treat as line breaks).
fn breaks_text(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// The one cleaning of text a plugin hands the kernel. Bidi controls and zero-width characters
/// are removed; control characters become a space in text a person reads or a record keeps,
/// and an escape (`\n`, `\u{1b}`) in a log line, so a plugin cannot start a line that looks
/// like the kernel's; the ends are trimmed; text over the cap of `purpose` is cut (marked
/// with `…`). Labels are also refused for what they may not hold: see [`plugin_label`].
pub fn from_plugin(text: &str, purpose: PluginText) -> String {
    match purpose {
        PluginText::LogLine => escape_log_line(text, purpose.cap()),
        _ => cut_chars(&displayable(text), purpose.cap()),
    }
}

/// Invisible characters removed, control characters made spaces, the ends trimmed.
fn displayable(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .filter(|c| !is_bidi_control(*c) && !is_zero_width(*c))
        .map(|c| if breaks_text(c) { ' ' } else { c })
        .collect();
    cleaned.trim().to_owned()
}

/// At most `max` characters: a longer text keeps `max - 1` and ends with `…`.
fn cut_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some(_) => {
            let keep = max.saturating_sub(1);
            let mut cut: String = text.chars().take(keep).collect();
            cut.push('…');
            cut
        }
    }
}

/// Invisible characters removed, control characters escaped, at most `max_bytes` bytes (a cut
/// at a character boundary, marked with `…`).
fn escape_log_line(text: &str, max_bytes: usize) -> String {
    let mut line = String::with_capacity(text.len().min(max_bytes));
    for c in text.chars() {
        if is_bidi_control(c) || is_zero_width(c) {
            continue;
        }
        let before = line.len();
        match c {
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            c if breaks_text(c) => line.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => line.push(c),
        }
        if line.len() > max_bytes {
            line.truncate(before);
            line.push('…');
            break;
        }
    }
    line
}

/// Why a plugin's label is refused (the plugin's failure, not the member's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("an adjustment needs a label (empty once invisible characters are removed)")]
    Empty,
    #[error("an adjustment's label may be at most {LABEL_CHARS} characters")]
    TooLong,
    #[error("an adjustment's label may not hold markup or template syntax ({0:?})")]
    Markup(&'static str),
}

/// A plugin's label, cleaned by [`from_plugin`] and then refused when empty, longer than
/// [`LABEL_CHARS`] or holding markup or template syntax: a label is stored with the order and
/// shown on pages, invoices and messages that a template renders, where `{{ … }}` or `<b>`
/// would be read as code by whatever renders it next.
pub fn plugin_label(text: &str) -> Result<String, LabelError> {
    let cleaned = displayable(text);
    if cleaned.is_empty() {
        return Err(LabelError::Empty);
    }
    if let Some(syntax) = markup(&cleaned) {
        return Err(LabelError::Markup(syntax));
    }
    if cleaned.chars().count() > LABEL_CHARS {
        return Err(LabelError::TooLong);
    }
    Ok(cleaned)
}

/// The first markup or template syntax in `text`: HTML's brackets, Jinja's and Tera's
/// delimiters.
fn markup(text: &str) -> Option<&'static str> {
    ["<", ">", "{{", "{%", "{#"]
        .into_iter()
        .find(|syntax| text.contains(syntax))
}

/// Whether `code` has the shape of a stable error code, like the kernel's own: 1 to 40
/// characters of `[a-z0-9_]`, starting with a letter. A plugin's codes reach a client only in
/// this shape (its refusals through [`plugin_code`], its HTTP errors checked in
/// `plugins::http`).
pub fn is_stable_code(code: &str) -> bool {
    (1..=40).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_lowercase())
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A plugin's error code as the kernel passes it on: a stable code ([`is_stable_code`]), or
/// `refused` in place of anything else.
pub fn plugin_code(code: &str) -> String {
    if is_stable_code(code) {
        code.to_owned()
    } else {
        "refused".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_text_loses_invisible_characters_and_its_line_breaks() {
        let bidi = "折扣\u{202E}99\u{2066}元\u{200F}";
        assert_eq!(from_plugin(bidi, PluginText::MemberMessage), "折扣99元");
        assert_eq!(
            from_plugin("\u{200B}a\u{FEFF}b\u{2060}", PluginText::StaffMessage),
            "ab"
        );
        assert_eq!(
            from_plugin(" 第一行\n第二行\u{1b}[31m\u{2028}x\t", PluginText::Reason),
            "第一行 第二行 [31m x"
        );
        let long = "长".repeat(40_000);
        let cut = from_plugin(&long, PluginText::MemberMessage);
        assert_eq!(cut.chars().count(), 200);
        assert!(cut.ends_with('…'));
        assert_eq!(
            from_plugin(&"长".repeat(200), PluginText::MemberMessage)
                .chars()
                .count(),
            200
        );
    }

    #[test]
    fn a_log_line_stays_one_line_and_within_its_cap() {
        let forged =
            "ok\n2026-01-01T00:00:00Z ERROR pifa::http: admin signed in\r\u{1b}[2K\u{202E}";
        let line = from_plugin(forged, PluginText::LogLine);
        assert_eq!(
            line,
            "ok\\n2026-01-01T00:00:00Z ERROR pifa::http: admin signed in\\r\\u{1b}[2K"
        );
        assert!(!line.chars().any(breaks_text));
        let long = from_plugin(&"日志".repeat(5000), PluginText::LogLine);
        assert!(long.len() <= 2048 + '…'.len_utf8(), "{}", long.len());
        assert!(long.ends_with('…'));
    }

    #[test]
    fn labels_with_markup_or_nothing_visible_are_refused() {
        assert_eq!(plugin_label("  限时抢购价 "), Ok("限时抢购价".to_owned()));
        assert_eq!(plugin_label("折扣\u{202E}99"), Ok("折扣99".to_owned()));
        assert_eq!(plugin_label("特价\u{1b}[31m"), Ok("特价 [31m".to_owned()));
        assert_eq!(
            plugin_label("\u{200B}\u{200D} \u{FEFF}"),
            Err(LabelError::Empty)
        );
        assert_eq!(plugin_label("<b>特价</b>"), Err(LabelError::Markup("<")));
        assert_eq!(
            plugin_label("{{ member.name }}"),
            Err(LabelError::Markup("{{"))
        );
        assert_eq!(plugin_label("{% if x %}"), Err(LabelError::Markup("{%")));
        assert_eq!(plugin_label("{# x #}"), Err(LabelError::Markup("{#")));
        assert_eq!(plugin_label(&"价".repeat(41)), Err(LabelError::TooLong));
        assert!(plugin_label(&"价".repeat(40)).is_ok());
    }

    #[test]
    fn a_plugin_code_keeps_the_stable_shape_or_is_replaced() {
        assert_eq!(plugin_code("per_member_limit"), "per_member_limit");
        for bad in [
            "",
            "Bad Code",
            "a\u{1b}b",
            "代码",
            &"a".repeat(41),
            "x-y",
            "9_lives",
            "_x",
        ] {
            assert_eq!(plugin_code(bad), "refused", "{bad:?}");
        }
    }

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
