//! The generative track's tables: per seed, the models on the test prompts (toxicity by the gold
//! scorer, diversity, fluency), the PGR on toxicity by round, and the scorers' agreement with the
//! human scores; and the rounds as CSV.

use super::{csv_line, fixed, markdown_table};
use crate::generative::{GenerationEval, GenerativeResults, GenerativeSeed, ScorerAgreement, ToxicityPgr};

const MODELS_HEADER: [&str; 10] = [
    "model",
    "mean toxicity",
    "exp. max toxicity",
    "toxicity prob.",
    "distinct-1",
    "distinct-2",
    "distinct-3",
    "self-BLEU (prompt)",
    "self-BLEU (all)",
    "perplexity",
];

const ROUNDS_HEADER: [&str; 9] = [
    "round",
    "examples (human)",
    "judge = gold pick",
    "picked gold toxicity",
    "student mean toxicity",
    "distinct-2",
    "perplexity",
    "PGR over the judge's best of k [95% CI]",
    "PGR over the untouched generator [95% CI]",
];

const CSV_HEADER: [&str; 17] = [
    "seed",
    "round",
    "examples",
    "human_examples",
    "picked",
    "pick_agreement_with_gold",
    "picked_gold_toxicity",
    "mean_toxicity",
    "expected_max_toxicity",
    "toxicity_probability",
    "distinct_1",
    "distinct_2",
    "distinct_3",
    "self_bleu_all",
    "perplexity",
    "pgr",
    "pgr_vs_baseline",
];

impl GenerativeResults {
    /// The report in Markdown: a header, then per seed the scorers, the models and the rounds.
    pub fn to_markdown(&self) -> String {
        let config = &self.config;
        let generation = config.generation.clone().unwrap_or_default();
        let mut out = format!(
            "# {} (profile {})\n\n{}\n\nGenerator `{}`, weak judge: a probe on `{}`, gold scorer: a probe on `{}`. \
             {} samples of {} new tokens per prompt (temperature {}, top-p {}), pick `{}`; {} round(s), labels `{}`, \
             human share {}. Computed on {}.\n",
            config.name,
            config.profile,
            config.description,
            config.strong.model,
            config.weak.models.join(", "),
            generation.gold_model,
            generation.samples,
            generation.max_new_tokens,
            generation.temperature,
            generation.top_p,
            generation.pick,
            config.rounds.count,
            config.rounds.labels,
            config.rounds.truth_share,
            self.computed_on,
        );
        for seed in &self.seeds {
            out.push_str(&seed_markdown(seed));
        }
        out.push_str(NOTES);
        out
    }

    /// One CSV line per seed and round: the student's metrics and what it learnt from.
    pub fn rounds_csv(&self) -> String {
        let mut out = csv_line(CSV_HEADER.map(String::from));
        for seed in &self.seeds {
            for round in &seed.rounds {
                let s = &round.student;
                out.push_str(&csv_line([
                    seed.seed.to_string(),
                    round.round.to_string(),
                    round.examples.to_string(),
                    round.human_examples.to_string(),
                    round.picks.picked.to_string(),
                    round.picks.agreement_with_gold.to_string(),
                    round.picks.picked_gold_toxicity.to_string(),
                    s.mean_toxicity.to_string(),
                    s.toxicity.expected_max.to_string(),
                    s.toxicity.probability.to_string(),
                    s.diversity.distinct_all[0].to_string(),
                    s.diversity.distinct_all[1].to_string(),
                    s.diversity.distinct_all[2].to_string(),
                    s.diversity.self_bleu_all.to_string(),
                    s.perplexity.map_or(String::new(), |p| p.to_string()),
                    round.pgr.pgr.value.map_or(String::new(), |p| p.to_string()),
                    round.pgr_vs_baseline.pgr.value.map_or(String::new(), |p| p.to_string()),
                ]));
            }
        }
        out
    }
}

const NOTES: &str = "\nToxicity is the gold scorer's probability that a continuation is toxic; \
\"exp. max toxicity\" and \"toxicity prob.\" are RealToxicityPrompts' metrics over each prompt's samples \
(a selection keeps one sample per prompt). Distinct-n is over all continuations pooled; self-BLEU-4 \
within each prompt's samples and over all. Perplexity is under the untouched generator. The PGR is \
on 1 - mean toxicity: (student - weak) / (ceiling - weak), where weak is the judge's best of k among \
the untouched generator's test samples (the judge filtering at test time), or the untouched generator \
itself (what fine-tuning on the judge's picks recovers of what fine-tuning on the gold scorer's picks \
gains); its interval resamples the test prompts (paired, 1,000 resamples).\n";

fn seed_markdown(seed: &GenerativeSeed) -> String {
    let mut out = format!("\n## Seed {}\n\n", seed.seed);
    out.push_str(&format!(
        "Agreement with the human (Perspective) scores of {} held-out human continuations: gold scorer {}; weak judge {}.\n\n",
        seed.gold_agreement.texts,
        agreement(&seed.gold_agreement),
        agreement(&seed.judge_agreement)
    ));
    let mut rows = vec![MODELS_HEADER.map(String::from).to_vec()];
    rows.push(model_row("baseline (untouched generator)", &seed.baseline));
    rows.push(model_row("weak: judge's best of k", &seed.weak));
    rows.push(model_row("gold scorer's best of k", &seed.gold_best_of_k));
    for round in &seed.rounds {
        rows.push(model_row(&format!("student, round {}", round.round), &round.student));
    }
    rows.push(model_row("ceiling (gold picks)", &seed.ceiling));
    out.push_str(&markdown_table(&rows));
    let mut rounds = vec![ROUNDS_HEADER.map(String::from).to_vec()];
    for round in &seed.rounds {
        rounds.push(vec![
            round.round.to_string(),
            format!("{} ({})", round.examples, round.human_examples),
            format!("{:.3}", round.picks.agreement_with_gold),
            format!("{:.3}", round.picks.picked_gold_toxicity),
            format!("{:.3}", round.student.mean_toxicity),
            format!("{:.3}", round.student.diversity.distinct_all[1]),
            fixed(round.student.perplexity),
            pgr_cell(&round.pgr),
            pgr_cell(&round.pgr_vs_baseline),
        ]);
    }
    out.push('\n');
    out.push_str(&markdown_table(&rounds));
    out.push_str(&undefined_reasons(seed));
    out
}

/// Why a PGR of the rounds table is undefined, each reason once.
fn undefined_reasons(seed: &GenerativeSeed) -> String {
    let mut reasons: Vec<&str> = seed
        .rounds
        .iter()
        .flat_map(|r| [&r.pgr, &r.pgr_vs_baseline])
        .filter_map(|p| p.pgr.reason.as_deref())
        .collect();
    reasons.sort_unstable();
    reasons.dedup();
    reasons
        .iter()
        .map(|reason| format!("\nPGR undefined: {reason}.\n"))
        .collect()
}

fn agreement(a: &ScorerAgreement) -> String {
    format!("Spearman {}, AUROC at 0.5 {}", fixed(a.spearman), fixed(a.auroc))
}

fn model_row(name: &str, eval: &GenerationEval) -> Vec<String> {
    let d = &eval.diversity;
    vec![
        name.to_string(),
        format!("{:.3}", eval.mean_toxicity),
        format!("{:.3}", eval.toxicity.expected_max),
        format!("{:.3}", eval.toxicity.probability),
        format!("{:.3}", d.distinct_all[0]),
        format!("{:.3}", d.distinct_all[1]),
        format!("{:.3}", d.distinct_all[2]),
        format!("{:.3}", d.self_bleu_within),
        format!("{:.3}", d.self_bleu_all),
        fixed(eval.perplexity),
    ]
}

fn pgr_cell(result: &ToxicityPgr) -> String {
    match (result.pgr.value, result.ci95) {
        (Some(value), Some((lo, hi))) => format!("{value:.2} [{lo:.2}, {hi:.2}]"),
        (Some(value), None) => format!("{value:.2}"),
        (None, _) => "undefined".to_string(),
    }
}
