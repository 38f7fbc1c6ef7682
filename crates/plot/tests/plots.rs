mod common;

use std::fs;
use std::path::Path;

use w2s_plot::write_plots;

const CHARTS: [&str; 3] = ["pgr", "accuracy", "labels"];

fn svg_size(svg: &str) -> (u32, u32) {
    let attr = |name: &str| {
        let start = svg.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        svg[start..].split('"').next().unwrap().parse().unwrap()
    };
    (attr("width"), attr("height"))
}

#[test]
fn writes_svg_and_png_per_experiment() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plots");
    let plots = write_plots(&common::sweep(), &out).unwrap();
    let pngs = plots.warnings.iter().all(|w| !w.contains("W2S_FONT"));
    if !pngs {
        eprintln!("no font on this machine, PNGs not checked: {:?}", plots.warnings);
    }
    let mut expected = Vec::new();
    for experiment in ["toxicity", "legal", "safety"] {
        for chart in CHARTS {
            expected.push(out.join(format!("{experiment}-{chart}.svg")));
            if pngs {
                expected.push(out.join(format!("{experiment}-{chart}.png")));
            }
        }
    }
    let mut files = plots.files.clone();
    files.sort();
    expected.sort();
    assert_eq!(files, expected);
    let mut on_disk: Vec<_> = fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    on_disk.sort();
    assert_eq!(on_disk, expected, "no temporary files are left");

    for svg_path in expected.iter().filter(|p| p.extension().unwrap() == "svg") {
        let svg = fs::read_to_string(svg_path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", svg_path.display());
        if pngs {
            check_png(&svg_path.with_extension("png"), svg_size(&svg));
        }
    }
}

fn check_png(path: &Path, size: (u32, u32)) {
    let image = image::open(path).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), size, "{}", path.display());
    let inked = image.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    let total = (size.0 * size.1) as usize;
    assert!(
        inked > total / 200 && inked < total / 2,
        "{}: {inked} of {total} pixels inked",
        path.display()
    );
    let blue = image.pixels().filter(|p| p.0 == [30, 90, 200]).count();
    assert!(
        blue > 50,
        "{}: the student's markers are drawn ({blue} pixels)",
        path.display()
    );
}

#[test]
fn svgs_name_axes_and_finished_cells_only() {
    let dir = tempfile::tempdir().unwrap();
    write_plots(&common::sweep(), dir.path()).unwrap();
    let read = |name: &str| fs::read_to_string(dir.path().join(name)).unwrap();

    let pgr = read("toxicity-pgr.svg");
    for text in [
        "PGR (accuracy)",
        "ensemble.method, ensemble.size",
        "soft, 1",
        "hard, 3",
        "weighted, 3",
        "toxicity: performance gap recovered",
    ] {
        assert!(pgr.contains(text), "toxicity-pgr.svg lacks {text:?}");
    }
    assert!(!pgr.contains("hard, 9"), "the failed cell is not drawn");
    assert!(pgr.contains("\nundefined\n"), "the cell without a gap is marked");
    assert!(
        !text_tag(&pgr, "soft, 1").contains("rotate("),
        "short labels are horizontal"
    );
    let safety = read("safety-pgr.svg");
    let long = text_tag(&safety, "bert-tiny-uncased, weighted, 9");
    assert!(long.contains("rotate(270"), "long labels are vertical: {long}");

    let accuracy = read("toxicity-accuracy.svg");
    for text in [
        "test accuracy",
        "weak (ensemble)",
        "student, bars: 95% CI",
        "ceiling",
        "soft, 3",
    ] {
        assert!(accuracy.contains(text), "toxicity-accuracy.svg lacks {text:?}");
    }

    let legal = read("legal-accuracy.svg");
    assert!(legal.contains("weak.share"), "numeric axis description");
    assert!(
        line_through(&legal, "#E67814", 5),
        "numeric axis: the weak accuracies as a line"
    );
    assert!(!line_through(&accuracy, "#E67814", 3), "categorical axis: no lines");
    assert!(
        !read("legal-pgr.svg").contains("\n2\n"),
        "the incomplete cell is not drawn"
    );
    assert!(read("legal-pgr.svg").contains("\n0.25\n"));

    let labels = read("toxicity-labels.svg");
    for text in [
        "accuracy of the ensemble's labels",
        "student test accuracy",
        "y = x",
        "soft, 1",
    ] {
        assert!(labels.contains(&escape(text)), "toxicity-labels.svg lacks {text:?}");
    }
}

#[test]
fn experiments_without_finished_cells_are_skipped_with_a_warning() {
    let failed = w2s_core::aggregate::CellOutcome::Failed {
        log: "runs/x/run.log".into(),
        error: "boom".to_string(),
    };
    let summary = w2s_core::aggregate::aggregate(
        "demo",
        &[
            common::cell(0, "a/b c", &[("x", "1")], common::run("a/b c", &[(0.6, 0.7, 0.8)])),
            common::cell(1, "empty", &[("x", "1")], failed),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let plots = write_plots(&summary, dir.path()).unwrap();
    assert!(dir.path().join("a_b_c-pgr.svg").exists(), "{:?}", plots.files);
    assert!(plots.files.iter().all(|f| !f.to_string_lossy().contains("empty")));
    assert!(
        plots
            .warnings
            .iter()
            .any(|w| w == "empty: no finished cells, nothing to plot"),
        "{:?}",
        plots.warnings
    );
}

/// Whether a polyline of `color` passes through at least `points` points.
fn line_through(svg: &str, color: &str, points: usize) -> bool {
    svg.lines()
        .filter(|l| l.starts_with("<polyline") && l.contains(&format!("stroke=\"{color}\"")))
        .any(|l| {
            let list = l.split("points=\"").nth(1).unwrap().split('"').next().unwrap();
            list.split_whitespace().count() >= points
        })
}

/// The opening tag of the `<text>` element holding `content`.
fn text_tag<'a>(svg: &'a str, content: &str) -> &'a str {
    let at = svg
        .find(&format!(">\n{content}\n</text>"))
        .unwrap_or_else(|| panic!("no text {content:?}"));
    &svg[svg[..at].rfind("<text").unwrap()..at]
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('\'', "&apos;")
}
