use std::fs;

use w2s_core::collapse::RoundMetrics;
use w2s_plot::{PlotError, RoundSeries, write_rounds_plot};

const TITLES: [&str; 8] = [
    "test accuracy",
    "label accuracy (vs truth)",
    "label entropy (nats)",
    "class-prior drift (TV)",
    "flip rate vs previous round",
    "flip rate vs truth",
    "ECE (test)",
    "minority-class recall (test)",
];

/// A loop that collapses: accuracy and entropy fall, drift rises, round by round.
fn rounds(rounds: usize, start: f64) -> Vec<RoundMetrics> {
    (1..=rounds)
        .map(|round| {
            let decay = 0.05 * (round - 1) as f64;
            RoundMetrics {
                round,
                test_accuracy: start - decay,
                label_accuracy: start + 0.02 - decay,
                label_entropy: 0.6 - decay,
                confidence_histogram: vec![0, 0, 0, 0, 0, 1, 2, 3, 4, 5],
                prior_drift: 0.02 + decay,
                flip_rate_previous: (round > 1).then_some(0.1 / round as f64),
                flip_rate_truth: 1.0 - start + decay,
                ece: 0.04 + decay / 2.0,
                brier: 0.3,
                minority_recall: (round != 2).then_some(0.7 - decay),
            }
        })
        .collect()
}

fn series() -> Vec<RoundSeries> {
    vec![
        RoundSeries {
            name: "toxicity, replace".to_string(),
            rounds: rounds(4, 0.85),
        },
        RoundSeries {
            name: "legal, accumulate".to_string(),
            rounds: rounds(3, 0.78),
        },
    ]
}

#[test]
fn writes_an_svg_and_a_png_with_a_panel_per_metric() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let files = match write_rounds_plot(&series(), &out, "rounds") {
        Ok(files) => files,
        Err(PlotError::Draw { message, .. }) if message.contains("W2S_FONT") => {
            eprintln!("no font on this machine, PNG not checked: {message}");
            assert!(out.join("rounds.svg").exists(), "the SVG is written first");
            vec![out.join("rounds.svg")]
        }
        Err(e) => panic!("{e}"),
    };
    assert_eq!(files[0], out.join("rounds.svg"));
    let svg = fs::read_to_string(&files[0]).unwrap();
    assert!(svg.starts_with("<svg"));
    for text in TITLES
        .iter()
        .chain(&["toxicity, replace", "legal, accumulate", "round"])
    {
        assert!(svg.contains(text), "the SVG lacks {text:?}");
    }
    // One line per series in each panel, and one per series in the legend.
    let lines = svg
        .lines()
        .filter(|l| l.starts_with("<polyline") && l.contains("stroke-width=\"2\""));
    assert!(lines.count() >= 2 * TITLES.len(), "{svg}");
    if let Some(png) = files.get(1) {
        assert_eq!(png, &out.join("rounds.png"));
        let image = image::open(png).unwrap().to_rgb8();
        assert_eq!(image.dimensions(), (1680, 50 + 24 + 10 + 2 * 330));
        let blue = image.pixels().filter(|p| p.0 == [30, 90, 200]).count();
        let orange = image.pixels().filter(|p| p.0 == [230, 120, 20]).count();
        assert!(blue > 8 * 50 && orange > 8 * 50, "both series drawn: {blue} {orange}");
    }
    assert_eq!(
        fs::read_dir(&out).unwrap().count(),
        files.len(),
        "no temporary file is left"
    );
}

#[test]
fn no_series_and_single_rounds_still_draw_every_panel() {
    let dir = tempfile::tempdir().unwrap();
    let single = vec![RoundSeries {
        name: "one round".to_string(),
        rounds: rounds(1, 0.8),
    }];
    for (stem, series) in [("empty", vec![]), ("single", single)] {
        match write_rounds_plot(&series, dir.path(), stem) {
            Ok(files) => assert_eq!(files.len(), 2),
            Err(PlotError::Draw { message, .. }) if message.contains("W2S_FONT") => {}
            Err(e) => panic!("{stem}: {e}"),
        }
        let svg = fs::read_to_string(dir.path().join(format!("{stem}.svg"))).unwrap();
        for title in TITLES {
            assert!(svg.contains(title), "{stem}: the SVG lacks {title:?}");
        }
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{stem}");
    }
}
