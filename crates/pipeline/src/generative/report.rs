//! The generative run's files: `results.md`, `rounds.csv`, the rounds plot, every evaluated
//! model's test samples with their gold scores, and last `results.json`, which marks the run done.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;
use w2s_core::generative::GenerativeResults;
use w2s_core::io::{remove_stale_temporaries, write_atomic};
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
    let series: Vec<RoundSeries<_>> = results
        .seeds
        .iter()
        .map(|seed| RoundSeries {
            name: format!("seed {}", seed.seed),
            rounds: seed.rounds.clone(),
        })
        .collect();
    // The plot needs a font; the numbers are in rounds.csv and the results either way.
    if let Err(error) = write_rounds_plot(&series, dir, "rounds") {
        eprintln!("warning: the rounds plot: {error}");
    }
    write("results.json", &serde_json::to_string_pretty(results)?)
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
