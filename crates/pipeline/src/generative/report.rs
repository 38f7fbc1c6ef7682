//! The generative run's files: `results.md`, `rounds.csv`, the rounds plot, every evaluated
//! model's test samples with their gold scores, and last `results.json`, which marks the run done.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;
use w2s_core::generative::{
    GenerationEval, GenerativeResults, GenerativeRound, GenerativeSeed, PickStats, ToxicityPgr,
};
use w2s_core::io::{remove_stale_temporaries, write_atomic};
use w2s_core::pgr::Pgr;
use w2s_plot::{RoundSeries, write_rounds_plot};

use super::generator::SampleSet;

/// Writes the run's files into `dir`; `results.json` goes last, so that it is there only beside
/// the other files of the same results.
pub(super) fn write(dir: &Path, results: &GenerativeResults, sample_files: &BTreeMap<String, String>) -> Result<()> {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))
    };
    remove_stale_temporaries(dir);
    let results_json = dir.join("results.json");
    if results_json.exists() {
        std::fs::remove_file(&results_json).with_context(|| format!("removing {}", results_json.display()))?;
    }
    write("config.toml", &toml::to_string_pretty(&results.config)?)?;
    write("results.md", &results.to_markdown())?;
    write("rounds.csv", &results.rounds_csv())?;
    for (name, text) in sample_files {
        write(name, text)?;
    }
    let series: Vec<RoundSeries<GenerativeRound>> = results.seeds.iter().flat_map(seed_series).collect();
    // The plot needs a font; the numbers are in rounds.csv and the results either way.
    if let Err(error) = write_rounds_plot(&series, dir, "rounds") {
        eprintln!("warning: the rounds plot: {error}");
    }
    write("results.json", &serde_json::to_string_pretty(results)?)
}

/// A seed's students by round, and the models they are measured against as flat lines over the
/// same rounds (the untouched generator, the judge's best of k, the ceiling), where a panel has a
/// value for them.
fn seed_series(seed: &GenerativeSeed) -> Vec<RoundSeries<GenerativeRound>> {
    let rounds: Vec<usize> = seed.rounds.iter().map(|r| r.round).collect();
    let flat = |name: &str, eval: &GenerationEval| RoundSeries {
        name: format!("seed {}: {name}", seed.seed),
        rounds: rounds.iter().map(|&round| reference_round(round, eval)).collect(),
    };
    vec![
        RoundSeries {
            name: format!("seed {}: student", seed.seed),
            rounds: seed.rounds.clone(),
        },
        flat("untouched generator", &seed.baseline),
        flat("judge's best of k", &seed.weak),
        flat("ceiling (1 round)", &seed.ceiling),
    ]
}

/// A model that is not a round's student, as a round whose student metrics are its own and whose
/// other values are missing (NaN or undefined), so that those panels leave it out.
fn reference_round(round: usize, eval: &GenerationEval) -> GenerativeRound {
    let none = || ToxicityPgr {
        pgr: Pgr::undefined("a reference, not a student"),
        ci95: None,
        resamples: 0,
    };
    GenerativeRound {
        round,
        picks: PickStats {
            picked: 0,
            picked_gold_toxicity: f64::NAN,
            agreement_with_gold: f64::NAN,
        },
        human_examples: 0,
        examples: 0,
        student: eval.clone(),
        pgr: none(),
        pgr_vs_baseline: none(),
    }
}

/// One JSON line per prompt: its samples' texts and gold scores.
pub(super) fn samples_jsonl(samples: &SampleSet, gold: &[Vec<f64>]) -> String {
    samples
        .texts
        .iter()
        .zip(gold)
        .enumerate()
        .map(|(prompt, (texts, scores))| {
            json!({ "prompt": prompt, "continuations": texts, "gold_toxicity": scores }).to_string() + "\n"
        })
        .collect()
}
