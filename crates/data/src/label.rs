//! Turning raw label values into class indices.

use serde_json::Value;

use crate::parse::RawLabel;
use crate::parse::json::type_name;
use crate::spec::LabelRule;

/// Why a raw label could not be resolved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LabelError {
    /// The value is not a key of `label_map` (carries the looked-up key).
    Unknown(String),
    /// The value is not a finite number (carries the value for display).
    NonNumeric(String),
    /// The JSON value has a type that cannot be a label.
    WrongType(&'static str),
    /// The record has no label although the rule needs one.
    Missing,
}

impl LabelRule {
    /// Resolves a record's raw label to a class index.
    pub(crate) fn resolve(&self, raw: Option<&RawLabel>) -> Result<usize, LabelError> {
        match (self, raw) {
            (LabelRule::Const(class), _) => Ok(*class),
            (_, None) => Err(LabelError::Missing),
            (LabelRule::Map(map), Some(raw)) => {
                let key = map_key(raw)?;
                map.get(&key).copied().ok_or(LabelError::Unknown(key))
            }
            (LabelRule::Threshold(threshold), Some(raw)) => Ok(usize::from(number(raw)? >= *threshold)),
        }
    }

    /// The raw values a `label_map` knows, for error messages.
    pub(crate) fn known_values(&self) -> Vec<String> {
        match self {
            LabelRule::Map(map) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

/// The `label_map` key of a raw label: strings trimmed, JSON scalars as JSON text.
fn map_key(raw: &RawLabel) -> Result<String, LabelError> {
    match raw {
        RawLabel::Text(text) | RawLabel::Json(Value::String(text)) => Ok(text.trim().to_owned()),
        RawLabel::Json(value @ (Value::Number(_) | Value::Bool(_))) => Ok(value.to_string()),
        RawLabel::Json(other) => Err(LabelError::WrongType(type_name(other))),
    }
}

/// The numeric value of a raw label: CSV text is parsed, JSON must be a number.
fn number(raw: &RawLabel) -> Result<f64, LabelError> {
    let parsed = match raw {
        RawLabel::Text(text) => text.trim().parse::<f64>().ok(),
        RawLabel::Json(Value::Number(n)) => n.as_f64(),
        RawLabel::Json(_) => None,
    };
    parsed
        .filter(|x| x.is_finite())
        .ok_or_else(|| LabelError::NonNumeric(display_raw(raw)))
}

/// A raw label as shown in messages: strings quoted, JSON as JSON.
fn display_raw(raw: &RawLabel) -> String {
    match raw {
        RawLabel::Text(text) => format!("{text:?}"),
        RawLabel::Json(value) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(s: &str) -> RawLabel {
        RawLabel::Text(s.to_owned())
    }

    fn map_rule() -> LabelRule {
        LabelRule::Map(
            [
                ("no".to_owned(), 0),
                ("yes".to_owned(), 1),
                ("true".to_owned(), 1),
                ("1".to_owned(), 1),
            ]
            .into(),
        )
    }

    #[test]
    fn map_trims_strings_and_uses_json_text_for_scalars() {
        let rule = map_rule();
        assert_eq!(rule.resolve(Some(&text("  yes\t"))), Ok(1));
        assert_eq!(rule.resolve(Some(&RawLabel::Json(json!(" no ")))), Ok(0));
        assert_eq!(rule.resolve(Some(&RawLabel::Json(json!(true)))), Ok(1));
        assert_eq!(rule.resolve(Some(&RawLabel::Json(json!(1)))), Ok(1));
        assert_eq!(
            rule.resolve(Some(&RawLabel::Json(json!(1.0)))),
            Err(LabelError::Unknown("1.0".into()))
        );
        assert_eq!(rule.resolve(Some(&text("Yes"))), Err(LabelError::Unknown("Yes".into())));
        assert_eq!(
            rule.resolve(Some(&RawLabel::Json(json!(null)))),
            Err(LabelError::WrongType("null"))
        );
        assert_eq!(rule.resolve(None), Err(LabelError::Missing));
    }

    #[test]
    fn threshold_is_inclusive_and_needs_numbers() {
        let rule = LabelRule::Threshold(0.5);
        assert_eq!(rule.resolve(Some(&text("0.5"))), Ok(1));
        assert_eq!(rule.resolve(Some(&text(" 0.49 "))), Ok(0));
        assert_eq!(rule.resolve(Some(&RawLabel::Json(json!(0.9)))), Ok(1));
        assert_eq!(rule.resolve(Some(&RawLabel::Json(json!(0)))), Ok(0));
        assert_eq!(
            rule.resolve(Some(&RawLabel::Json(json!("0.9")))),
            Err(LabelError::NonNumeric("\"0.9\"".into()))
        );
        assert_eq!(
            rule.resolve(Some(&text("high"))),
            Err(LabelError::NonNumeric("\"high\"".into()))
        );
        assert_eq!(
            rule.resolve(Some(&text("NaN"))),
            Err(LabelError::NonNumeric("\"NaN\"".into()))
        );
    }

    #[test]
    fn const_ignores_the_raw_value() {
        assert_eq!(LabelRule::Const(1).resolve(None), Ok(1));
    }
}
