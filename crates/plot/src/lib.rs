//! w2s-plot: plots of a sweep summary ([`w2s_core::aggregate::SweepSummary`]) as SVG and PNG.
//!
//! For each experiment in the sweep, three charts of its finished cells:
//! - `<experiment>-pgr`: PGR of test accuracy per cell with 95% confidence intervals;
//! - `<experiment>-accuracy`: test accuracy of the weak labels (ensemble), student and ceiling
//!   per cell, drawn as lines over the axis when the sweep has one numeric axis;
//! - `<experiment>-labels`: student test accuracy against the accuracy of the labels it was
//!   trained on, with the diagonal.
//!
//! And [`write_rounds_plot`]: the collapse metrics of iterated rounds, one panel per metric.
//!
//! PNG text needs a TrueType font file, found at run time (`$W2S_FONT` or common system paths);
//! without one only the SVGs are written and [`Plots::warnings`] says how to fix it.

mod draw;
mod font;
mod rounds;
mod scatter;

use std::io;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use w2s_core::aggregate::SweepSummary;
use w2s_core::io::write_atomic;

use crate::draw::{Figure, Kind};
use crate::font::Measured;

pub use rounds::{Panel, RoundPanels, RoundSeries, write_rounds_plot};
pub use scatter::write_paired_scatter;

/// What [`write_plots`] wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plots {
    /// The files written, SVG and PNG of each chart.
    pub files: Vec<PathBuf>,
    /// Things the user should know: no font for PNGs, experiments with nothing to plot.
    pub warnings: Vec<String>,
}

/// Why plots could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Plotters failed to draw a chart.
    #[error("cannot draw {}: {message}", .path.display())]
    Draw {
        /// The file being drawn.
        path: PathBuf,
        /// Plotters' error.
        message: String,
    },
    /// A PNG could not be encoded.
    #[error("cannot encode {}: {error}", .path.display())]
    Encode {
        /// The file being encoded.
        path: PathBuf,
        /// The encoder's error (in the message, so not also its source).
        error: image::ImageError,
    },
    /// A file could not be written (the message names it).
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Write the charts of each experiment in `summary` to `dir` (created if missing) as
/// `<experiment>-{pgr,accuracy,labels}.{svg,png}`, each file atomically. Only finished cells
/// are drawn; an experiment without any is skipped with a warning.
///
/// # Errors
/// [`PlotError`] when a chart cannot be drawn, encoded or written.
pub fn write_plots(summary: &SweepSummary, dir: &Path) -> Result<Plots, PlotError> {
    let mut plots = Plots::default();
    let font = font::font();
    if let Err(warning) = font {
        plots.warnings.push(warning.to_string());
    }
    for experiment in summary.experiments() {
        let figure = figure(summary, experiment);
        if figure.cells.is_empty() {
            plots
                .warnings
                .push(format!("{experiment}: no finished cells, nothing to plot"));
            continue;
        }
        let stem = file_stem(experiment);
        for kind in Kind::ALL {
            let base = dir.join(format!("{stem}-{}", kind.name()));
            let svg = base.with_extension("svg");
            write_atomic(&svg, render_svg(kind, &figure, &svg)?.as_bytes())?;
            plots.files.push(svg);
            if font.is_ok() {
                let png = base.with_extension("png");
                write_atomic(&png, &render_png(kind, &figure, &png)?)?;
                plots.files.push(png);
            }
        }
    }
    Ok(plots)
}

fn figure<'a>(summary: &'a SweepSummary, experiment: &'a str) -> Figure<'a> {
    let done: Vec<_> = summary.done().filter(|(c, _)| c.experiment == experiment).collect();
    let mut axes: Vec<&str> = Vec::new();
    for (key, _) in done.iter().flat_map(|(c, _)| &c.values) {
        if !axes.contains(&key.as_str()) {
            axes.push(key);
        }
    }
    let numeric = match axes.as_slice() {
        [axis] => done
            .iter()
            .map(|(c, _)| c.value(axis)?.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
            .collect(),
        _ => None,
    };
    Figure {
        experiment,
        axes: if axes.is_empty() {
            "cell".to_string()
        } else {
            axes.join(", ")
        },
        cells: done.iter().map(|(c, m)| (c.label(), *m)).collect(),
        numeric,
    }
}

/// `name` with every character other than ASCII letters, digits, `.`, `_` and `-` replaced by `_`.
fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .collect()
}

/// The drawing area of an SVG, and of a PNG's pixels.
pub(crate) type SvgArea<'a> = DrawingArea<Measured<SVGBackend<'a>>, plotters::coord::Shift>;
pub(crate) type PngArea<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn render_svg(kind: Kind, figure: &Figure, path: &Path) -> Result<String, PlotError> {
    svg_of(kind.size(figure), path, |root| kind.draw(figure, root))
}

fn render_png(kind: Kind, figure: &Figure, path: &Path) -> Result<Vec<u8>, PlotError> {
    png_of(kind.size(figure), path, |root| kind.draw(figure, root))
}

/// An SVG of `size` pixels drawn by `draw`; `path` names it in errors.
pub(crate) fn svg_of<E: std::fmt::Display>(
    size: (u32, u32),
    path: &Path,
    draw: impl FnOnce(&SvgArea) -> Result<(), E>,
) -> Result<String, PlotError> {
    let mut svg = String::new();
    {
        let root = Measured(SVGBackend::with_string(&mut svg, size)).into_drawing_area();
        draw(&root).map_err(|e| draw_error(path, &e))?;
        root.present().map_err(|e| draw_error(path, &e))?;
    }
    Ok(svg)
}

/// A PNG of `size` pixels drawn by `draw`; `path` names it in errors.
pub(crate) fn png_of<E: std::fmt::Display>(
    size: (u32, u32),
    path: &Path,
    draw: impl FnOnce(&PngArea) -> Result<(), E>,
) -> Result<Vec<u8>, PlotError> {
    let (width, height) = size;
    let mut pixels = vec![0; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        draw(&root).map_err(|e| draw_error(path, &e))?;
        root.present().map_err(|e| draw_error(path, &e))?;
    }
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        &pixels,
        width,
        height,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|error| PlotError::Encode {
        path: path.to_path_buf(),
        error,
    })?;
    Ok(png)
}

fn draw_error(path: &Path, error: &dyn std::fmt::Display) -> PlotError {
    PlotError::Draw {
        path: path.to_path_buf(),
        message: error.to_string(),
    }
}
