use w2s_core::collapse::RoundMetrics;
use w2s_plot::{PlotError, RoundSeries, write_rounds_plot};

#[test]
fn without_a_font_the_svg_is_written_and_the_error_says_how_to_get_the_png() {
    // The only test in this binary, so nothing else reads the environment meanwhile.
    unsafe { std::env::set_var("W2S_FONT", "/nonexistent/font.ttf") };
    let dir = tempfile::tempdir().unwrap();
    let round = RoundMetrics {
        round: 1,
        test_accuracy: 0.8,
        label_accuracy: 0.75,
        label_entropy: 0.5,
        confidence_histogram: vec![0; 10],
        prior_drift: 0.05,
        flip_rate_previous: None,
        flip_rate_truth: 0.25,
        ece: 0.1,
        brier: 0.3,
        minority_recall: Some(0.6),
    };
    let series = [RoundSeries {
        name: "legal".to_string(),
        rounds: vec![round],
    }];
    match write_rounds_plot(&series, dir.path(), "rounds") {
        Err(PlotError::Draw { path, message }) => {
            assert_eq!(path, dir.path().join("rounds.png"));
            assert!(
                message.contains("W2S_FONT=/nonexistent/font.ttf: cannot read it"),
                "{message}"
            );
        }
        other => panic!("expected the missing font to be reported, got {other:?}"),
    }
    let svg = std::fs::read_to_string(dir.path().join("rounds.svg")).unwrap();
    assert!(svg.contains("test accuracy") && svg.contains("legal"));
    assert!(!dir.path().join("rounds.png").exists());
}
