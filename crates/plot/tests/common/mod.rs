//! A synthetic sweep built through `aggregate`.

use std::path::PathBuf;

use w2s_core::aggregate::{CellOutcome, SweepSummary, aggregate};
pub use w2s_core::testing::cell;

/// A finished run, one seed per `(weak, student, ceiling)`; the labels are 0.02 above weak.
pub fn run(name: &str, seeds: &[(f64, f64, f64)]) -> CellOutcome {
    w2s_core::testing::done(name, seeds, 0.02)
}

/// `toxicity`: a method × size grid with a failed cell ("hard, 9"), a single-seed cell and one
/// whose PGR is undefined; `legal`: one numeric axis, the weak labels' share; `safety`: ten
/// cells with long labels.
pub fn sweep() -> SweepSummary {
    let m = |method, size| [("ensemble.method", method), ("ensemble.size", size)];
    let mut cells = vec![
        cell(
            0,
            "toxicity",
            &m("soft", "1"),
            run(
                "toxicity",
                &[(0.80, 0.83, 0.86), (0.79, 0.81, 0.85), (0.81, 0.85, 0.87)],
            ),
        ),
        cell(
            1,
            "toxicity",
            &m("soft", "3"),
            run("toxicity", &[(0.82, 0.86, 0.86), (0.81, 0.83, 0.86)]),
        ),
        cell(
            2,
            "toxicity",
            &m("hard", "1"),
            run("toxicity", &[(0.78, 0.77, 0.86), (0.80, 0.80, 0.85)]),
        ),
        cell(3, "toxicity", &m("hard", "3"), run("toxicity", &[(0.84, 0.85, 0.83)])),
        cell(
            4,
            "toxicity",
            &m("weighted", "3"),
            run("toxicity", &[(0.80, 0.84, 0.86)]),
        ),
        cell(
            5,
            "toxicity",
            &m("hard", "9"),
            CellOutcome::Failed {
                log: PathBuf::from("runs/demo/5/run.log"),
                error: "boom".to_string(),
            },
        ),
    ];
    for (i, share) in ["0", "0.25", "0.5", "0.75", "1"].into_iter().enumerate() {
        let s: f64 = share.parse().unwrap();
        let weak = 0.70 + 0.02 * s;
        cells.push(cell(
            6 + i,
            "legal",
            &[("weak.share", share)],
            run(
                "legal",
                &[
                    (weak, weak + 0.05 * s + 0.01, 0.80),
                    (weak + 0.01, weak + 0.04 * s + 0.02, 0.81),
                ],
            ),
        ));
    }
    cells.push(cell(
        11,
        "legal",
        &[("weak.share", "2")],
        CellOutcome::Incomplete {
            log: PathBuf::from("runs/demo/11/run.log"),
        },
    ));
    let models = ["minilm-l3-h384-uncased", "bert-tiny-uncased"];
    for (i, (model, size)) in models
        .iter()
        .flat_map(|m| ["1", "3", "5", "7", "9"].map(|s| (m, s)))
        .enumerate()
    {
        let weak = 0.6 + 0.01 * i as f64;
        cells.push(cell(
            12 + i,
            "safety",
            &[
                ("weak.models", model),
                ("ensemble.method", "weighted"),
                ("ensemble.size", size),
            ],
            run(
                "safety",
                &[
                    (weak, weak + 0.03, 0.72),
                    (weak, weak + 0.05, 0.73),
                    (weak + 0.01, weak + 0.04, 0.72),
                ],
            ),
        ));
    }
    aggregate("demo", &cells)
}
