use std::fs;
use std::path::Path;

use w2s_plot::{PlotError, write_paired_scatter};

fn points() -> Vec<(String, f64, f64)> {
    [
        ("cuad-audit", 0.42, 0.61),
        ("cuad-cap", -0.10, 0.05),
        ("tweeteval-hate", 0.80, 0.70),
        ("davidson", 0.15, 0.33),
        ("safety", 1.20, 1.05),
    ]
    .into_iter()
    .map(|(name, x, y)| (name.to_string(), x, y))
    .collect()
}

fn svg_size(svg: &str) -> (u32, u32) {
    let attr = |name: &str| {
        let start = svg.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        svg[start..].split('"').next().unwrap().parse().unwrap()
    };
    (attr("width"), attr("height"))
}

/// Points are drawn as filled circles of the student's blue, in SVG as `<circle` elements.
fn svg_points(svg: &str) -> usize {
    svg.lines()
        .filter(|l| l.starts_with("<circle") && l.contains("fill=\"#1E5AC8\""))
        .count()
}

fn write(path: &Path, points: &[(String, f64, f64)]) -> Result<(), PlotError> {
    write_paired_scatter(
        path,
        "PGR per dataset: logconf against xent",
        "PGR (accuracy), xent",
        "PGR (accuracy), logconf",
        points,
    )
}

#[test]
fn svg_has_the_size_the_axes_the_diagonal_and_a_labelled_point_per_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/pgr-scatter.svg");
    write(&path, &points()).unwrap();
    let svg = fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"));
    assert_eq!(svg_size(&svg), (800, 800));
    for text in [
        "PGR per dataset: logconf against xent",
        "PGR (accuracy), xent",
        "PGR (accuracy), logconf",
        "cuad-audit",
        "tweeteval-hate",
        "safety",
        // Above the diagonal: cuad-audit, cuad-cap and davidson.
        "y = x (3 of 5 above it)",
    ] {
        assert!(svg.contains(text), "the SVG lacks {text:?}");
    }
    // One circle per dataset and one in the legend.
    assert_eq!(svg_points(&svg), 6);
    assert!(
        svg.contains("stroke-dasharray") || svg.matches("<polyline").count() > 3,
        "the dashed diagonal"
    );
    let entries: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(entries.len(), 1, "no temporary file is left");
}

#[test]
fn png_is_a_valid_image_of_the_canvas_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pgr-scatter.png");
    match write(&path, &points()) {
        Ok(()) => {}
        Err(PlotError::Draw { message, .. }) if message.contains("W2S_FONT") => {
            eprintln!("no font on this machine, PNG not checked: {message}");
            return;
        }
        Err(e) => panic!("{e}"),
    }
    let image = image::open(&path).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), (800, 800));
    let inked = image.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    assert!(inked > 800 * 800 / 200 && inked < 800 * 800 / 2, "{inked} pixels inked");
    let blue = image.pixels().filter(|p| p.0 == [30, 90, 200]).count();
    assert!(blue > 5 * 50, "the points are drawn ({blue} blue pixels)");
}

#[test]
fn non_finite_points_are_left_out_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scatter.svg");
    let mut points = points();
    points.push(("undefined-x".to_string(), f64::NAN, 0.3));
    points.push(("infinite-y".to_string(), 0.3, f64::INFINITY));
    write(&path, &points).unwrap();
    let svg = fs::read_to_string(&path).unwrap();
    assert_eq!(svg_points(&svg), 6, "the five finite datasets and the legend's marker");
    assert!(!svg.contains("undefined-x") && !svg.contains("infinite-y"));
    assert!(svg.contains("y = x (3 of 5 above it); 2 without both values left out"));
    // The axes are not stretched to the missing values.
    assert!(!svg.contains("inf") && !svg.contains("NaN"));
}

#[test]
fn no_finite_point_still_draws_the_empty_axes() {
    let dir = tempfile::tempdir().unwrap();
    for points in [vec![], vec![("x".to_string(), f64::NAN, f64::NEG_INFINITY)]] {
        let path = dir.path().join("empty.svg");
        write(&path, &points).unwrap();
        let svg = fs::read_to_string(&path).unwrap();
        assert_eq!(svg_size(&svg), (800, 800));
        assert_eq!(svg_points(&svg), 1, "only the legend's marker");
        assert!(svg.contains("y = x (0 of 0 above it)"));
    }
}

#[test]
fn an_unknown_extension_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scatter.jpg");
    let error = write(&path, &points()).unwrap_err().to_string();
    assert!(
        error.contains("scatter.jpg") && error.contains(".svg or .png"),
        "{error}"
    );
    assert!(!path.exists());
}

#[test]
fn crowded_labels_do_not_overlap() {
    // Twenty points on top of one another in the middle of the plot (a point at (1, 1) makes
    // the range -0.08 to 1.08): one label fits in each of the four places around them, the
    // rest are left out rather than drawn over them.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crowded.svg");
    let mut points: Vec<_> = (0..20).map(|i| (format!("dataset-{i:02}"), 0.5, 0.5)).collect();
    points.push(("far".to_string(), 1.0, 1.0));
    write(&path, &points).unwrap();
    let svg = fs::read_to_string(&path).unwrap();
    let labelled = (0..20).filter(|i| svg.contains(&format!("dataset-{i:02}"))).count();
    assert_eq!(labelled, 4, "right, left, above and below");
}
