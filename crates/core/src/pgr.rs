//! Performance gap recovered (Burns et al., 2023): how much of the gap between the weak
//! supervisor and the strong ceiling the weakly supervised student closes.

use serde::{Deserialize, Serialize};

/// A PGR value, or `None` with the reason it is undefined.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pgr {
    /// `(student - weak) / (ceiling - weak)`; may be negative or above 1.
    pub value: Option<f64>,
    /// Why `value` is `None`.
    pub reason: Option<String>,
}

impl Pgr {
    /// A defined PGR.
    pub fn defined(value: f64) -> Self {
        Self {
            value: Some(value),
            reason: None,
        }
    }

    /// An undefined PGR and why.
    pub fn undefined(reason: impl Into<String>) -> Self {
        Self {
            value: None,
            reason: Some(reason.into()),
        }
    }
}

/// Smallest ceiling-over-weak gap for which PGR is defined.
const MIN_GAP: f64 = 1e-12;

/// PGR = (student - weak) / (ceiling - weak); undefined when an input is not finite or the
/// ceiling is not above the weak model (`ceiling - weak <= 1e-12`).
pub fn pgr(weak: f64, student: f64, ceiling: f64) -> Pgr {
    pgr_of_optional(Some(weak), Some(student), Some(ceiling))
}

/// [`pgr`] of metrics that may be missing (such as AUROC on single-class data); a missing input
/// makes the PGR undefined, with the reason naming it.
pub fn pgr_of_optional(weak: Option<f64>, student: Option<f64>, ceiling: Option<f64>) -> Pgr {
    let inputs = [("weak", weak), ("student", student), ("ceiling", ceiling)];
    for (name, value) in inputs {
        match value {
            None => return Pgr::undefined(format!("the {name} metric is missing")),
            Some(v) if !v.is_finite() => {
                return Pgr::undefined(format!("the {name} metric is not finite ({v})"));
            }
            Some(_) => {}
        }
    }
    let (weak, student, ceiling) = (
        weak.unwrap_or_default(),
        student.unwrap_or_default(),
        ceiling.unwrap_or_default(),
    );
    let gap = ceiling - weak;
    if gap <= MIN_GAP {
        return Pgr::undefined(format!(
            "the ceiling ({ceiling:.4}) is not above the weak model ({weak:.4}), so there is no gap to recover"
        ));
    }
    let value = (student - weak) / gap;
    if !value.is_finite() {
        return Pgr::undefined(format!(
            "the gap recovered overflows: ({student:e} - {weak:e}) / ({ceiling:e} - {weak:e})"
        ));
    }
    Pgr::defined(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgr_values() {
        assert_eq!(pgr(0.6, 0.7, 0.8).value.map(|v| (v * 1e9).round() / 1e9), Some(0.5));
        assert_eq!(pgr(0.6, 0.8, 0.8), Pgr::defined(1.0));
        assert_eq!(pgr(0.6, 0.6, 0.8), Pgr::defined(0.0));
        assert!(
            pgr(0.6, 0.5, 0.8).value.unwrap() < 0.0,
            "a student below the weak model is negative"
        );
        assert!(
            pgr(0.6, 0.9, 0.8).value.unwrap() > 1.0,
            "a student above the ceiling exceeds 1"
        );
    }

    #[test]
    fn no_gap_is_undefined_with_reason() {
        for (weak, ceiling) in [(0.8, 0.8), (0.8, 0.7), (0.8, 0.8 + 1e-13)] {
            let p = pgr(weak, 0.75, ceiling);
            assert_eq!(p.value, None);
            assert!(p.reason.unwrap().contains("not above the weak model"));
        }
        assert!(pgr(0.8, 0.75, 0.8 + 1e-9).value.is_some());
    }

    #[test]
    fn missing_or_nan_inputs_are_undefined() {
        let p = pgr(0.6, f64::NAN, 0.8);
        assert_eq!(p.value, None);
        assert!(p.reason.unwrap().contains("student metric is not finite"));
        let p = pgr_of_optional(Some(0.6), Some(0.7), None);
        assert_eq!(p.reason.as_deref(), Some("the ceiling metric is missing"));
        assert_eq!(pgr_of_optional(Some(0.6), Some(0.7), Some(0.8)), pgr(0.6, 0.7, 0.8));
        for bad in [f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(pgr(bad, 0.7, 0.8).value, None);
            assert_eq!(pgr(0.6, 0.7, bad).value, None);
        }
        // Finite inputs whose ratio overflows.
        let p = pgr(-f64::MAX, f64::MAX, -f64::MAX + 1e300);
        assert_eq!(p.value, None);
        assert!(p.reason.unwrap().contains("overflows"));
    }

    #[test]
    fn serializes_null_value() {
        let json = serde_json::to_string(&Pgr::undefined("x")).unwrap();
        assert_eq!(json, r#"{"value":null,"reason":"x"}"#);
    }
}
