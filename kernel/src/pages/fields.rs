//! A posted form's fields, read into the domain's types at the edge: each reading refuses
//! what does not parse with the API's stable code and the form field's own name, so the page
//! can mark the field.

use std::collections::BTreeMap;

use axum::body::Bytes;

use crate::error::ApiError;

/// The fields of a url-encoded form (or a multipart form's text fields): the last value of
/// each name, and every value of each name in order (check boxes, multi-selects).
#[derive(Debug, Default, Clone)]
pub struct Fields {
    last: BTreeMap<String, String>,
    all: Vec<(String, String)>,
}

impl Fields {
    pub fn parse(body: &Bytes) -> Fields {
        Fields::from_pairs(form_urlencoded::parse(body).into_owned())
    }

    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Fields {
        let all: Vec<(String, String)> = pairs.into_iter().collect();
        Fields {
            last: all.iter().cloned().collect(),
            all,
        }
    }

    /// The fields as typed, one value a name, to fill the form again after a refusal.
    pub fn typed(&self) -> BTreeMap<String, String> {
        self.last.clone()
    }

    /// The field's text, trimmed; empty when absent.
    pub fn text(&self, name: &str) -> &str {
        self.last.get(name).map_or("", |value| value.trim())
    }

    /// The field's text as typed (untrimmed: a script, a description).
    pub fn raw(&self, name: &str) -> &str {
        self.last.get(name).map_or("", String::as_str)
    }

    /// A ticked check box (`on`, `true` or `1`).
    pub fn ticked(&self, name: &str) -> bool {
        matches!(self.text(name), "on" | "true" | "1")
    }

    /// A whole number, none when left empty; `invalid_input` naming the field otherwise.
    pub fn optional_integer(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.text(name) {
            "" => Ok(None),
            text => text.parse::<i64>().map(Some).map_err(|_| {
                ApiError::invalid_field(
                    "invalid_input",
                    name,
                    format!("{name}: 须为整数 (a whole number)"),
                )
            }),
        }
    }

    /// A whole number that must be given.
    pub fn integer(&self, name: &str) -> Result<i64, ApiError> {
        self.optional_integer(name)?.ok_or_else(|| {
            ApiError::invalid_field("invalid_input", name, format!("{name}: 必填 (required)"))
        })
    }

    /// An amount typed in yuan (12.30) as fen, none when left empty; `invalid_money` naming
    /// the field otherwise.
    pub fn optional_yuan(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.text(name) {
            "" => Ok(None),
            text => crate::money::parse_yuan(text, name).map(Some),
        }
    }

    /// An amount in yuan that must be given.
    pub fn yuan(&self, name: &str) -> Result<i64, ApiError> {
        crate::money::parse_yuan(self.text(name), name)
    }

    /// The fields whose names start with `prefix` (`qty_12`): the rest of each name and its
    /// value, trimmed, in name order.
    pub fn prefixed<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.last
            .iter()
            .filter_map(move |(name, value)| Some((name.strip_prefix(prefix)?, value.trim())))
    }

    /// Every value of `name`, trimmed, in order (ticked boxes).
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.all
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.trim())
    }

    /// Every value of `name` that is a whole number (ticked boxes of ids), in order.
    pub fn integers(&self, name: &str) -> Vec<i64> {
        self.values(name)
            .filter_map(|value| value.parse::<i64>().ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_as_typed_and_refuse_by_name() {
        let fields = Fields::parse(&Bytes::from_static(
            b"price=12.30&stock=+7+&tag=1&tag=x&tag=3&bad=1.5&on=on&cost=",
        ));
        assert_eq!(fields.yuan("price").ok(), Some(1230));
        assert_eq!(fields.integer("stock").ok(), Some(7));
        assert_eq!(fields.integers("tag"), vec![1, 3]);
        assert!(fields.ticked("on"));
        assert!(!fields.ticked("off"));
        assert_eq!(fields.optional_yuan("cost").ok(), Some(None));
        let refused = fields.integer("bad").err().map(|e| (e.code, e.field));
        assert_eq!(refused, Some(("invalid_input", Some("bad".to_owned()))));
        let missing = fields.integer("absent").err().map(|e| e.field);
        assert_eq!(missing, Some(Some("absent".to_owned())));
        let money = fields.yuan("bad_money").err().map(|e| e.code);
        assert_eq!(money, Some("invalid_money"));
    }
}
