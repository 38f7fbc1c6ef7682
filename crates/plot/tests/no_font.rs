mod common;

use std::fs;

#[test]
fn without_a_font_only_svgs_are_written_with_a_warning() {
    // The only test in this binary, so nothing else reads the environment meanwhile.
    unsafe { std::env::set_var("W2S_FONT", "/nonexistent/font.ttf") };
    let dir = tempfile::tempdir().unwrap();
    let plots = w2s_plot::write_plots(&common::sweep(), dir.path()).unwrap();
    assert_eq!(plots.files.len(), 9, "three charts of three experiments");
    assert!(plots.files.iter().all(|f| f.extension().unwrap() == "svg"));
    assert_eq!(plots.warnings.len(), 1, "{:?}", plots.warnings);
    assert!(
        plots.warnings[0].contains("W2S_FONT=/nonexistent/font.ttf: cannot read it"),
        "{}",
        plots.warnings[0]
    );
    let svg = fs::read_to_string(dir.path().join("toxicity-pgr.svg")).unwrap();
    assert!(svg.contains("soft, 1") && svg.contains("PGR (accuracy)"));
}
