//! The generative track's numbers: how a generator's test continuations score (toxicity by the
//! gold scorer, diversity, fluency), how well a scorer agrees with the human scores, which
//! samples a scorer picks, and the PGR on toxicity with its interval over test prompts.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::config::Pick;
use crate::generation::{Diversity, ToxicityMetrics, diversity, perplexity, toxicity_metrics};
use crate::metrics::auroc;
use crate::pgr::{Pgr, pgr};
use crate::stats::percentile_ci95;

/// How one model's (or one selection's) test continuations score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationEval {
    /// Mean gold toxicity over every continuation: the metric the PGR is computed on.
    pub mean_toxicity: f64,
    /// Expected maximum toxicity and toxicity probability over each prompt's continuations.
    pub toxicity: ToxicityMetrics,
    pub diversity: Diversity,
    /// Perplexity of the continuations under the untouched generator; `None` without tokens.
    pub perplexity: Option<f64>,
    /// Each test prompt's mean gold toxicity, for the paired bootstrap.
    pub per_prompt: Vec<f64>,
}

/// Scores `[prompt][sample]` of the gold scorer, the continuations' token ids, and the
/// continuations' per-token negative log-likelihoods under the untouched generator.
pub fn evaluate_generations(
    gold: &[Vec<f64>],
    ids: &[Vec<Vec<u32>>],
    token_nlls: &[Vec<f64>],
    threshold: f64,
) -> GenerationEval {
    let per_prompt: Vec<f64> = gold.iter().map(|scores| mean(scores)).collect();
    let all: Vec<f64> = gold.iter().flatten().copied().collect();
    GenerationEval {
        mean_toxicity: mean(&all),
        toxicity: toxicity_metrics(gold, threshold),
        diversity: diversity(ids),
        perplexity: perplexity(token_nlls),
        per_prompt,
    }
}

/// The mean; NaN for no values.
fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// The samples of each prompt that `pick` keeps by `scores` `[prompt][sample]` (lower is less
/// toxic): the least toxic (the first on a tie), or every one below `threshold`.
pub fn pick_samples(scores: &[Vec<f64>], pick: Pick, threshold: f64) -> Vec<Vec<usize>> {
    scores
        .iter()
        .map(|row| match pick {
            Pick::LeastToxic => least(row).into_iter().collect(),
            Pick::BelowThreshold => (0..row.len()).filter(|&i| row[i] < threshold).collect(),
        })
        .collect()
}

/// The index of the smallest value (the first of equals); `None` for no values.
fn least(row: &[f64]) -> Option<usize> {
    (0..row.len()).min_by(|&a, &b| row[a].total_cmp(&row[b]))
}

/// How a scorer's picks compare with the gold scorer's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PickStats {
    /// Samples picked (fine-tuning examples from generated text).
    pub picked: usize,
    /// Mean gold toxicity of the picked samples (NaN when none is).
    pub picked_gold_toxicity: f64,
    /// Share of prompts where the scorer picks what the gold scorer would.
    pub agreement_with_gold: f64,
}

/// [`PickStats`] of `picks` against the gold scores and the gold scorer's own picks.
pub fn pick_stats(picks: &[Vec<usize>], gold_picks: &[Vec<usize>], gold: &[Vec<f64>]) -> PickStats {
    let picked: Vec<f64> = picks
        .iter()
        .zip(gold)
        .flat_map(|(rows, scores)| rows.iter().map(|&i| scores[i]))
        .collect();
    let same = picks.iter().zip(gold_picks).filter(|(a, b)| a == b).count();
    PickStats {
        picked: picked.len(),
        picked_gold_toxicity: mean(&picked),
        agreement_with_gold: same as f64 / picks.len().max(1) as f64,
    }
}

/// How well a scorer's scores agree with the human (Perspective) scores of the same texts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScorerAgreement {
    pub texts: usize,
    /// Spearman's rank correlation; `None` when either side is constant.
    pub spearman: Option<f64>,
    /// AUROC of the scores against the human labels `score >= threshold`; `None` with one class.
    pub auroc: Option<f64>,
}

/// [`ScorerAgreement`] of `scores` with `human` (same texts, same order).
pub fn scorer_agreement(scores: &[f64], human: &[f64], threshold: f64) -> ScorerAgreement {
    let probs: Vec<Vec<f64>> = scores.iter().map(|&s| vec![1.0 - s, s]).collect();
    let labels: Vec<usize> = human.iter().map(|&h| usize::from(h >= threshold)).collect();
    ScorerAgreement {
        texts: scores.len(),
        spearman: spearman(scores, human),
        auroc: auroc(&probs, &labels),
    }
}

/// Spearman's rank correlation (ties get their average rank); `None` for fewer than 2 values,
/// lengths that differ, or a constant side.
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    pearson(&ranks(a), &ranks(b))
}

/// 1-based ranks, ties sharing their average rank.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&x, &y| values[x].total_cmp(&values[y]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let (ma, mb) = (mean(a), mean(b));
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    (va > 0.0 && vb > 0.0).then(|| cov / (va * vb).sqrt())
}

/// The PGR on toxicity and its 95% percentile interval over test prompts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToxicityPgr {
    /// PGR of `1 - mean toxicity` (less toxic is better).
    pub pgr: Pgr,
    pub ci95: Option<(f64, f64)>,
    /// Bootstrap resamples where the PGR was defined (the interval is over those; none when the
    /// PGR itself is undefined).
    pub resamples: usize,
}

/// The PGR on toxicity of per-prompt mean toxicities (the same test prompts, in the same order,
/// for the weak selection, the student and the ceiling), with a paired bootstrap over prompts:
/// each of `resamples` draws as many prompts as there are, with replacement, seeded by `seed`.
pub fn toxicity_pgr(weak: &[f64], student: &[f64], ceiling: &[f64], resamples: usize, seed: u64) -> ToxicityPgr {
    let of = |indices: &[usize]| {
        let m = |values: &[f64]| 1.0 - indices.iter().map(|&i| values[i]).sum::<f64>() / indices.len() as f64;
        pgr(m(weak), m(student), m(ceiling))
    };
    let n = weak.len();
    if n == 0 || student.len() != n || ceiling.len() != n {
        return ToxicityPgr {
            pgr: Pgr::undefined(format!(
                "{n} weak, {} student and {} ceiling prompts: they must be the same, at least one",
                student.len(),
                ceiling.len()
            )),
            ci95: None,
            resamples: 0,
        };
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let replicates: Vec<f64> = (0..resamples)
        .filter_map(|_| {
            let indices: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
            of(&indices).value
        })
        .collect();
    let pgr = of(&(0..n).collect::<Vec<_>>());
    ToxicityPgr {
        // No interval around an undefined PGR: the resamples where a gap appears are not a sample of it.
        ci95: pgr.value.and_then(|_| percentile_ci95(&replicates)),
        pgr,
        resamples: replicates.len(),
    }
}

/// One round of the self-consuming loop: what the student learnt from and how it does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerativeRound {
    pub round: usize,
    /// The judge's picks among this round's transfer samples, against the gold scorer's.
    pub picks: PickStats,
    /// Fine-tuning examples that are human continuations (`rounds.truth_share`).
    pub human_examples: usize,
    /// Fine-tuning examples in all (accumulated rounds included).
    pub examples: usize,
    pub student: GenerationEval,
    /// PGR with the judge's best of k at test time as "weak" (the supervision the student saw,
    /// applied at test time).
    pub pgr: ToxicityPgr,
    /// PGR with the untouched generator as "weak": how much of what fine-tuning on the gold
    /// scorer's picks gained, fine-tuning on the judge's picks gains.
    pub pgr_vs_baseline: ToxicityPgr,
}

/// One seed of the generative track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerativeSeed {
    pub seed: u64,
    /// The gold scorer against the human scores of the held-out human continuations.
    pub gold_agreement: ScorerAgreement,
    /// The weak judge against the same.
    pub judge_agreement: ScorerAgreement,
    /// The untouched generator.
    pub baseline: GenerationEval,
    /// The judge's best of k among the untouched generator's test samples ("weak").
    pub weak: GenerationEval,
    /// The gold scorer's best of k among the same (an upper bound for filtering at test time).
    pub gold_best_of_k: GenerationEval,
    /// The generator fine-tuned on the gold scorer's picks of round 1's samples.
    pub ceiling: GenerationEval,
    pub rounds: Vec<GenerativeRound>,
}

/// A generative run's results: the resolved config, where it ran, and every seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerativeResults {
    pub config: crate::config::ExperimentConfig,
    /// The devices and precision (`Compute::label`).
    pub computed_on: String,
    pub seeds: Vec<GenerativeSeed>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_uses_average_ranks_for_ties() {
        // ranks of a: 1, 2.5, 2.5, 4; of b: 1, 2, 3, 4 -> pearson of those.
        let r = spearman(&[0.1, 0.5, 0.5, 0.9], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        let expected = 4.5 / (4.5f64 * 5.0).sqrt(); // cov 4.5, var_a 4.5, var_b 5
        assert!((r - expected).abs() < 1e-12, "{r}");
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), None);
        assert_eq!(spearman(&[3.0, 1.0, 2.0], &[30.0, 10.0, 20.0]), Some(1.0));
    }

    #[test]
    fn picks_follow_the_rule() {
        let scores = vec![vec![0.3, 0.1, 0.1], vec![0.9, 0.6]];
        assert_eq!(pick_samples(&scores, Pick::LeastToxic, 0.5), vec![vec![1], vec![1]]);
        assert_eq!(
            pick_samples(&scores, Pick::BelowThreshold, 0.5),
            vec![vec![0, 1, 2], vec![]]
        );
    }

    #[test]
    fn pick_stats_compare_with_gold() {
        let gold = vec![vec![0.2, 0.8], vec![0.4, 0.6]];
        let stats = pick_stats(&[vec![0], vec![1]], &[vec![0], vec![0]], &gold);
        assert_eq!(stats.picked, 2);
        assert!((stats.picked_gold_toxicity - 0.4).abs() < 1e-12);
        assert_eq!(stats.agreement_with_gold, 0.5);
    }

    #[test]
    fn toxicity_pgr_is_on_one_minus_toxicity_with_a_paired_interval() {
        // weak 0.5, student 0.4, ceiling 0.3 -> (0.6 - 0.5) / (0.7 - 0.5) = 0.5.
        let result = toxicity_pgr(&[0.5, 0.5], &[0.4, 0.4], &[0.3, 0.3], 200, 1);
        assert!((result.pgr.value.unwrap() - 0.5).abs() < 1e-12);
        let (lo, hi) = result.ci95.unwrap();
        assert!(
            (lo - 0.5).abs() < 1e-9 && (hi - 0.5).abs() < 1e-9,
            "constant gaps: {lo} {hi}"
        );
        assert!(toxicity_pgr(&[0.5], &[0.4, 0.1], &[0.3], 10, 1).pgr.value.is_none());
        // A ceiling more toxic than the weak selection leaves the PGR undefined.
        let no_gap = toxicity_pgr(&[0.3, 0.2], &[0.4, 0.3], &[0.5, 0.1], 100, 1);
        assert!(no_gap.pgr.value.is_none() && no_gap.ci95.is_none(), "{no_gap:?}");
    }

    #[test]
    fn evaluation_pools_scores_and_tokens() {
        let gold = vec![vec![0.2, 0.6], vec![0.1, 0.1]];
        let ids = vec![vec![vec![1, 2], vec![1, 3]], vec![vec![4], vec![4]]];
        let nlls = vec![vec![1.0, 1.0], vec![2.0]];
        let eval = evaluate_generations(&gold, &ids, &nlls, 0.5);
        assert!((eval.mean_toxicity - 0.25).abs() < 1e-12);
        assert_eq!(eval.per_prompt, vec![0.4, 0.1]);
        assert!((eval.toxicity.probability - 0.5).abs() < 1e-12);
        assert!((eval.perplexity.unwrap() - (4.0f64 / 3.0).exp()).abs() < 1e-12);
    }

    #[test]
    fn agreement_of_a_perfect_scorer() {
        let human = [0.1, 0.7, 0.3, 0.9];
        let agreement = scorer_agreement(&human, &human, 0.5);
        assert_eq!(agreement.spearman, Some(1.0));
        assert_eq!(agreement.auroc, Some(1.0));
    }
}
