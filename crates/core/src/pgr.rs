//! Performance gap recovered (Burns et al., 2023): how much of the gap between the weak
//! supervisor and the strong ceiling the weakly supervised student closes.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::metrics::{accuracy, argmax, auroc};
use crate::stats::percentile_ci95;

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

/// The PGRs of one metric over bootstrap resamples of the test set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PgrReplicates {
    /// The PGR of each resample where it is defined, in the order drawn.
    pub values: Vec<f64>,
    /// Resamples where it is undefined (the ceiling not above the weak model, or a single
    /// class in the resample for AUROC), left out of `values`.
    pub skipped: usize,
    /// Why the first skipped resample was undefined, or why none could be drawn.
    pub reason: Option<String>,
}

impl PgrReplicates {
    /// The percentile 95% interval of the defined replicates ([`percentile_ci95`]); `None`
    /// when there are none. Read it with `skipped`: an interval over few defined replicates
    /// says little.
    pub fn ci95(&self) -> Option<(f64, f64)> {
        percentile_ci95(&self.values)
    }

    fn push(&mut self, pgr: Pgr) {
        match pgr.value {
            Some(value) => self.values.push(value),
            None => {
                self.skipped += 1;
                self.reason = self.reason.take().or(pgr.reason);
            }
        }
    }
}

/// Replicate PGRs of accuracy and of AUROC over bootstrap resamples of the test examples.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PgrBootstrap {
    /// Resamples drawn: as asked, or 0 when the inputs are inconsistent (`reason` of both
    /// metrics says how).
    pub resamples: usize,
    /// PGR of test accuracy in each resample.
    pub accuracy: PgrReplicates,
    /// PGR of test AUROC (macro one-vs-rest for more than 2 classes, as [`auroc`]).
    pub auroc: PgrReplicates,
}

/// Bootstrap the PGR over the test set: each of `resamples` resamples draws as many test
/// examples as there are, with replacement, from a generator seeded with `seed` (the same
/// examples for the weak model, the student and the ceiling), and computes the PGR of accuracy
/// and of AUROC on it with [`accuracy`] and [`auroc`]. Deterministic for a seed.
///
/// `weak`, `student` and `ceiling` are probabilities `[example][class]` against `labels`.
/// Resamples where a PGR is undefined are skipped and counted. Inconsistent inputs (no
/// examples, lengths that differ, rows of different widths, a label without a column) draw
/// nothing and say why in each metric's `reason`; they never panic.
pub fn bootstrap_pgr(
    weak: &[Vec<f64>],
    student: &[Vec<f64>],
    ceiling: &[Vec<f64>],
    labels: &[usize],
    resamples: usize,
    seed: u64,
) -> PgrBootstrap {
    let mut result = PgrBootstrap::default();
    let models = [weak, student, ceiling];
    if let Err(reason) = check_predictions(models, labels) {
        result.accuracy.reason = Some(reason.clone());
        result.auroc.reason = Some(reason);
        return result;
    }
    let mut resampler = Resampler::new(models, labels);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut indices = vec![0; labels.len()];
    for _ in 0..resamples {
        for index in &mut indices {
            *index = rng.random_range(0..labels.len());
        }
        let (accuracy_pgr, auroc_pgr) = resampler.pgr(&indices);
        result.accuracy.push(accuracy_pgr);
        result.auroc.push(auroc_pgr);
    }
    result.resamples = resamples;
    result
}

/// The role names of the three models, in the order [`bootstrap_pgr`] takes them.
const MODELS: [&str; 3] = ["weak model", "student", "ceiling"];

/// Whether three models' probabilities can be resampled against `labels`: one row per label,
/// rows of one width, and a column for every label.
fn check_predictions(models: [&[Vec<f64>]; 3], labels: &[usize]) -> Result<(), String> {
    if labels.is_empty() {
        return Err("there are no test examples to resample".to_string());
    }
    let max_label = labels.iter().copied().max().unwrap_or(0);
    for (name, probs) in MODELS.iter().zip(models) {
        if probs.len() != labels.len() {
            return Err(format!(
                "the {name} has {} predictions for {} test labels",
                probs.len(),
                labels.len()
            ));
        }
        let width = probs[0].len();
        if let Some(row) = probs.iter().position(|p| p.len() != width) {
            return Err(format!(
                "row {row} of the {name}'s probabilities has {} values but row 0 has {width}: \
                 every row needs one probability per class",
                probs[row].len()
            ));
        }
        if max_label >= width {
            return Err(format!(
                "the {name}'s probabilities have {width} values per example, too few for label {max_label}"
            ));
        }
    }
    Ok(())
}

/// The PGRs of one resample, reusing its buffers from one resample to the next.
struct Resampler<'a> {
    models: [&'a [Vec<f64>]; 3],
    labels: &'a [usize],
    /// Each model's argmax prediction per example.
    predictions: [Vec<usize>; 3],
    /// The resample's probabilities, predictions and labels.
    sample_probs: [Vec<Vec<f64>>; 3],
    sample_predictions: [Vec<usize>; 3],
    sample_labels: Vec<usize>,
}

impl<'a> Resampler<'a> {
    /// A resampler of consistent inputs (see [`check_predictions`]).
    fn new(models: [&'a [Vec<f64>]; 3], labels: &'a [usize]) -> Self {
        Self {
            models,
            labels,
            predictions: models.map(|probs| probs.iter().map(|p| argmax(p)).collect()),
            sample_probs: models.map(<[Vec<f64>]>::to_vec),
            sample_predictions: [Vec::new(), Vec::new(), Vec::new()],
            sample_labels: Vec::new(),
        }
    }

    /// The PGR of accuracy and of AUROC on the examples at `indices`, each index below the
    /// number of examples.
    fn pgr(&mut self, indices: &[usize]) -> (Pgr, Pgr) {
        self.sample_labels.clear();
        self.sample_labels.extend(indices.iter().map(|&i| self.labels[i]));
        let mut accuracies = [0.0; 3];
        let mut aurocs = [None; 3];
        for model in 0..3 {
            let probs = &mut self.sample_probs[model];
            probs.resize(indices.len(), Vec::new());
            for (row, &i) in probs.iter_mut().zip(indices) {
                row.clone_from(&self.models[model][i]);
            }
            let predictions = &mut self.sample_predictions[model];
            predictions.clear();
            predictions.extend(indices.iter().map(|&i| self.predictions[model][i]));
            accuracies[model] = accuracy(predictions, &self.sample_labels);
            aurocs[model] = auroc(probs, &self.sample_labels);
        }
        let [weak, student, ceiling] = accuracies;
        let accuracy_pgr = pgr(weak, student, ceiling);
        let [weak, student, ceiling] = aurocs;
        let one_class = self.sample_labels.iter().all(|&l| l == self.sample_labels[0]);
        let auroc_pgr = match one_class {
            true => Pgr::undefined("the resample drew one class only, which has no AUROC"),
            false => pgr_of_optional(weak, student, ceiling),
        };
        (accuracy_pgr, auroc_pgr)
    }
}

/// The percentile 95% interval of the PGR pooled over seeds, from each seed's bootstrap
/// replicates (e.g. [`PgrReplicates::values`]).
///
/// Replicate `b` of the pooled estimate (the mean over seeds) is the mean of each seed's
/// replicate `b`: the seeds' resamples are independent, so pairing them by position is as
/// valid as any pairing. Seeds without replicates (their PGR undefined in every resample) are
/// left out, as an undefined seed is left out of the mean over seeds; the others are paired up
/// to the shortest one's count. `None` when no seed has a replicate.
pub fn pooled_interval(per_seed_replicates: &[Vec<f64>]) -> Option<(f64, f64)> {
    let seeds: Vec<&Vec<f64>> = per_seed_replicates.iter().filter(|r| !r.is_empty()).collect();
    let count = seeds.iter().map(|r| r.len()).min()?;
    let pooled: Vec<f64> = (0..count)
        .map(|b| seeds.iter().map(|r| r[b]).sum::<f64>() / seeds.len() as f64)
        .collect();
    percentile_ci95(&pooled)
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

    /// Binary probability rows `[1 - p, p]`.
    fn binary(p1: &[f64]) -> Vec<Vec<f64>> {
        p1.iter().map(|&p| vec![1.0 - p, p]).collect()
    }

    /// Five examples whose PGRs are computed by hand below.
    fn five_examples() -> [Vec<Vec<f64>>; 3] {
        // labels   1    0     1     0    1
        // weak     0.6  0.7   0.4   0.2  0.3   -> predicts 1 1 0 0 0, right on 0 and 3
        // student  0.8  0.55  0.45  0.1  0.65  -> predicts 1 1 0 0 1, right on 0, 3 and 4
        // ceiling  0.9  0.3   0.7   0.1  0.35  -> predicts 1 0 1 0 0, right on 0 to 3
        [
            binary(&[0.6, 0.7, 0.4, 0.2, 0.3]),
            binary(&[0.8, 0.55, 0.45, 0.1, 0.65]),
            binary(&[0.9, 0.3, 0.7, 0.1, 0.35]),
        ]
    }

    const FIVE_LABELS: [usize; 5] = [1, 0, 1, 0, 1];

    fn assert_close(actual: Option<f64>, expected: f64) {
        let actual = actual.expect("a defined PGR");
        assert!((actual - expected).abs() < 1e-12, "{actual} is not {expected}");
    }

    #[test]
    fn resample_pgr_by_hand() {
        let [weak, student, ceiling] = five_examples();
        let mut resampler = Resampler::new([&weak, &student, &ceiling], &FIVE_LABELS);
        // The whole set: accuracies 2/5, 3/5, 4/5, so PGR (1/5) / (2/5) = 1/2. AUROC over the
        // 3 x 2 positive-negative pairs (positives 0, 2, 4; negatives 1, 3): weak 3/6 (0.6,
        // 0.4, 0.3 each beat only 0.2), student 5/6 (0.45 loses to 0.55), ceiling 6/6; PGR
        // (5/6 - 1/2) / (1 - 1/2) = 2/3.
        let (accuracy_pgr, auroc_pgr) = resampler.pgr(&[0, 1, 2, 3, 4]);
        assert_close(accuracy_pgr.value, 0.5);
        assert_close(auroc_pgr.value, 2.0 / 3.0);
        // Examples 0, 1, 2, 2, 4 (labels 1 0 1 1 1): weak right on 0 only (1/5), student on 0
        // and 4 (2/5), ceiling on 0, 1, 2, 2 (4/5): PGR (1/5) / (3/5) = 1/3. AUROC against the
        // one negative (example 1): weak 0 of 4 positives above 0.7, student 2 of 4 above 0.55
        // (0.8, 0.65), ceiling 4 of 4 above 0.3: PGR (1/2 - 0) / (1 - 0) = 1/2.
        let (accuracy_pgr, auroc_pgr) = resampler.pgr(&[0, 1, 2, 2, 4]);
        assert_close(accuracy_pgr.value, 1.0 / 3.0);
        assert_close(auroc_pgr.value, 0.5);
        // Only positives: no AUROC; accuracies 1/3, 2/3, 2/3 (examples 0, 2, 4): PGR 1.
        let (accuracy_pgr, auroc_pgr) = resampler.pgr(&[0, 2, 4]);
        assert_close(accuracy_pgr.value, 1.0);
        let one_class = "the resample drew one class only, which has no AUROC";
        assert_eq!(auroc_pgr.reason.as_deref(), Some(one_class));
    }

    #[test]
    fn bootstrap_pgr_replicates_follow_the_seeded_draws() {
        // The weak model is always wrong and ranks backwards (accuracy 0, AUROC 0), the ceiling
        // always right (1, 1), the student scores every example 0.5: argmax picks class 0, so
        // its accuracy, and the accuracy PGR, is the share of label 0 in the resample, and its
        // AUROC, and the AUROC PGR, is 1/2 whenever both classes are drawn.
        let labels = [0, 1, 0, 1, 1, 0];
        let weak: Vec<Vec<f64>> = labels
            .iter()
            .map(|&l| if l == 0 { vec![0.2, 0.8] } else { vec![0.9, 0.1] })
            .collect();
        let ceiling: Vec<Vec<f64>> = labels
            .iter()
            .map(|&l| if l == 0 { vec![0.7, 0.3] } else { vec![0.4, 0.6] })
            .collect();
        let student = vec![vec![0.5, 0.5]; 6];
        let boot = bootstrap_pgr(&weak, &student, &ceiling, &labels, 300, 11);
        assert_eq!(
            boot,
            bootstrap_pgr(&weak, &student, &ceiling, &labels, 300, 11),
            "deterministic"
        );
        assert_eq!(boot.resamples, 300);

        let mut rng = StdRng::seed_from_u64(11);
        let mut expected_accuracy = Vec::new();
        let mut single_class = 0;
        for _ in 0..300 {
            let drawn: Vec<usize> = (0..6).map(|_| labels[rng.random_range(0..6)]).collect();
            let zeros = drawn.iter().filter(|&&l| l == 0).count();
            expected_accuracy.push(zeros as f64 / 6.0);
            single_class += usize::from(zeros == 0 || zeros == 6);
        }
        assert_eq!(boot.accuracy.skipped, 0);
        assert_eq!(boot.accuracy.values.len(), 300);
        for (got, expected) in boot.accuracy.values.iter().zip(&expected_accuracy) {
            assert!((got - expected).abs() < 1e-12, "{got} {expected}");
        }
        assert!(
            single_class > 0,
            "the fixture exercises skipping ({single_class} single-class resamples)"
        );
        assert_eq!(boot.auroc.skipped, single_class);
        assert_eq!(boot.auroc.values.len(), 300 - single_class);
        assert!(boot.auroc.values.iter().all(|&v| (v - 0.5).abs() < 1e-12));
        let one_class = "the resample drew one class only, which has no AUROC";
        assert_eq!(boot.auroc.reason.as_deref(), Some(one_class));
        assert_eq!(boot.auroc.ci95(), Some((0.5, 0.5)));
    }

    #[test]
    fn multiclass_bootstrap_with_a_perfect_student_recovers_everything() {
        // Three classes; the weak model is uniform (argmax 0, every AUROC 1/2), the student and
        // the ceiling put 0.8 on the true class: PGR 1 in every resample with a gap, that is
        // with a label other than 0 (accuracy) or with two classes (AUROC).
        let labels = [0, 1, 2, 2, 1, 0, 1];
        let weak = vec![vec![1.0 / 3.0; 3]; 7];
        let strong: Vec<Vec<f64>> = labels
            .iter()
            .map(|&l| (0..3).map(|c| if c == l { 0.8 } else { 0.1 }).collect())
            .collect();
        let boot = bootstrap_pgr(&weak, &strong, &strong, &labels, 200, 5);
        assert!(
            boot.accuracy.values.len() > 150 && boot.auroc.values.len() > 150,
            "{boot:?}"
        );
        assert_eq!(boot.accuracy.values.len() + boot.accuracy.skipped, 200);
        assert_eq!(boot.auroc.values.len() + boot.auroc.skipped, 200);
        assert!(boot.accuracy.values.iter().chain(&boot.auroc.values).all(|&v| v == 1.0));
        assert_eq!(boot.accuracy.ci95(), Some((1.0, 1.0)));
    }

    #[test]
    fn inconsistent_predictions_draw_nothing_and_say_why() {
        /// The reason a bootstrap of these models gives, having drawn nothing.
        fn refused(weak: &[Vec<f64>], student: &[Vec<f64>], ceiling: &[Vec<f64>], labels: &[usize]) -> String {
            let boot = bootstrap_pgr(weak, student, ceiling, labels, 10, 1);
            assert_eq!(
                (boot.resamples, boot.accuracy.values.len(), boot.auroc.skipped),
                (0, 0, 0)
            );
            assert_eq!(boot.accuracy.reason, boot.auroc.reason);
            boot.accuracy.reason.expect("a reason")
        }
        let [weak, student, ceiling] = five_examples();
        assert_eq!(
            refused(&weak, &student[..4], &ceiling, &FIVE_LABELS),
            "the student has 4 predictions for 5 test labels"
        );
        assert_eq!(refused(&[], &[], &[], &[]), "there are no test examples to resample");
        assert_eq!(
            refused(&weak, &student, &ceiling, &[1, 0, 2, 0, 1]),
            "the weak model's probabilities have 2 values per example, too few for label 2"
        );
        let ragged = vec![vec![0.5, 0.5], vec![1.0], vec![0.5, 0.5]];
        assert_eq!(
            refused(&ragged, &ragged, &ragged, &[0, 1, 0]),
            "row 1 of the weak model's probabilities has 1 values but row 0 has 2: every row needs one probability per class"
        );
        let empty_rows = vec![Vec::new(); 3];
        assert_eq!(
            refused(&empty_rows, &empty_rows, &empty_rows, &[0, 0, 0]),
            "the weak model's probabilities have 0 values per example, too few for label 0"
        );
    }

    #[test]
    fn zero_resamples_draw_nothing() {
        let [weak, student, ceiling] = five_examples();
        let boot = bootstrap_pgr(&weak, &student, &ceiling, &FIVE_LABELS, 0, 1);
        assert_eq!(boot, PgrBootstrap::default());
        assert_eq!(boot.accuracy.ci95(), None);
    }

    #[test]
    fn pooled_interval_pairs_replicates_by_position() {
        // Replicates b of the mean over seeds: (1 + 3) / 2, (2 + 4) / 2, (3 + 5) / 2 = 2, 3, 4
        // (the third seed has none and is left out; the fourth replicate of the first seed has
        // no partner). Percentiles at positions 2 * 0.025 = 0.05 and 2 * 0.975 = 1.95.
        let per_seed = [vec![1.0, 2.0, 3.0, 9.0], vec![3.0, 4.0, 5.0], vec![]];
        let (lo, hi) = pooled_interval(&per_seed).unwrap();
        assert!((lo - 2.05).abs() < 1e-12 && (hi - 3.95).abs() < 1e-12, "{lo} {hi}");
        assert_eq!(pooled_interval(&[vec![], vec![]]), None);
        assert_eq!(pooled_interval(&[]), None);
        assert_eq!(pooled_interval(&[vec![0.25]]), Some((0.25, 0.25)));
    }

    #[test]
    fn serializes_null_value() {
        let json = serde_json::to_string(&Pgr::undefined("x")).unwrap();
        assert_eq!(json, r#"{"value":null,"reason":"x"}"#);
    }
}
