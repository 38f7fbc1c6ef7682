//! A paired scatter plot of two methods over datasets: one point per dataset, method A's value
//! on x and method B's on y, with the diagonal y = x (points above it: B did better).

use std::ops::Range;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use w2s_core::io::write_atomic;

use crate::draw::{Area, Chart, DrawResult};
use crate::font::{self, FAMILY};
use crate::{PlotError, draw_error, png_of, svg_of};

/// Canvas size in pixels; with the margins in [`draw`] the plotting area is about square, so
/// that the diagonal runs at about 45 degrees.
const SIZE: (u32, u32) = (800, 800);

/// The same colours as the other charts: points in the student's blue, guides in grey.
const POINT: RGBColor = RGBColor(30, 90, 200);
const GUIDE: RGBColor = RGBColor(110, 110, 110);
const ZERO: RGBColor = RGBColor(190, 190, 190);
const LABEL_SIZE: f64 = 13.0;
const LEGEND_HEIGHT: u32 = 34;

/// What the scatter shows: the finite points and how many were left out.
struct Scatter<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    points: Vec<(&'a str, f64, f64)>,
    left_out: usize,
    range: Range<f64>,
}

/// Write a paired scatter plot to `path`, as SVG or PNG by its extension (`.svg`, `.png`),
/// atomically: one point per dataset `(name, x, y)`, the diagonal y = x dashed, the lines
/// x = 0 and y = 0, axes with ticks, and each point labelled with its name where the label
/// fits without overlapping another. Both axes share one range, so that the diagonal is the
/// line of equal values. Points with a non-finite coordinate are left out, and the legend
/// says how many.
///
/// # Errors
/// [`PlotError::Draw`] for an extension other than `svg` or `png`, or a PNG without a font
/// (the message says how to set `W2S_FONT`); [`PlotError::Encode`] or [`PlotError::Io`] when
/// the image cannot be encoded or written.
pub fn write_paired_scatter(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    points: &[(String, f64, f64)],
) -> Result<(), PlotError> {
    let finite: Vec<(&str, f64, f64)> = points
        .iter()
        .filter(|(_, x, y)| x.is_finite() && y.is_finite())
        .map(|(name, x, y)| (name.as_str(), *x, *y))
        .collect();
    let scatter = Scatter {
        title,
        x_label,
        y_label,
        range: shared_range(&finite),
        left_out: points.len() - finite.len(),
        points: finite,
    };
    let bytes = match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => render_svg(&scatter, path)?.into_bytes(),
        Some("png") => render_png(&scatter, path)?,
        _ => {
            let message = "the file name must end in .svg or .png, the formats written";
            return Err(draw_error(path, &message));
        }
    };
    write_atomic(path, &bytes)?;
    Ok(())
}

/// One range for both axes: every coordinate and 0, padded by 8% of the span (at least 0.05).
fn shared_range(points: &[(&str, f64, f64)]) -> Range<f64> {
    let values = points.iter().flat_map(|&(_, x, y)| [x, y]).chain([0.0]);
    let (min, max) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let pad = ((max - min) * 0.08).max(0.05);
    min - pad..max + pad
}

fn render_svg(scatter: &Scatter, path: &Path) -> Result<String, PlotError> {
    svg_of(SIZE, path, |root| draw(scatter, root))
}

fn render_png(scatter: &Scatter, path: &Path) -> Result<Vec<u8>, PlotError> {
    font::font().map_err(|why| draw_error(path, &why))?;
    png_of(SIZE, path, |root| draw(scatter, root))
}

/// A tick value with two decimals; values that round to zero print as `0.00`, never `-0.00`.
fn tick(value: &f64) -> String {
    let value = if value.abs() < 0.005 { 0.0 } else { *value };
    format!("{value:.2}")
}

fn text_style(size: f64) -> TextStyle<'static> {
    TextStyle::from((FAMILY, size).into_font()).color(&BLACK)
}

fn draw<DB: DrawingBackend>(scatter: &Scatter, root: &Area<DB>) -> DrawResult<(), DB> {
    root.fill(&WHITE)?;
    let body = root.margin(10, 0, 0, 0).titled(scatter.title, text_style(22.0))?;
    let (legend_area, body) = body.split_vertically(LEGEND_HEIGHT);
    legend(&legend_area, scatter)?;
    let range = scatter.range.clone();
    let mut chart = ChartBuilder::on(&body)
        .margin_top(8)
        .margin_bottom(10)
        .margin_left(10)
        .margin_right(70)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(range.clone(), range.clone())?;
    chart
        .configure_mesh()
        .x_desc(scatter.x_label)
        .y_desc(scatter.y_label)
        .label_style(text_style(15.0))
        .axis_desc_style(text_style(17.0))
        .bold_line_style(RGBColor(225, 225, 225))
        .max_light_lines(0)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .draw()?;
    let (lo, hi) = (range.start, range.end);
    chart.draw_series(LineSeries::new([(lo, 0.0), (hi, 0.0)], ZERO))?;
    chart.draw_series(LineSeries::new([(0.0, lo), (0.0, hi)], ZERO))?;
    chart.draw_series(DashedLineSeries::new([(lo, lo), (hi, hi)], 7, 5, GUIDE.into()))?;
    for &(_, x, y) in &scatter.points {
        root.draw(&Circle::new(chart.backend_coord(&(x, y)), 5, POINT.filled()))?;
    }
    point_labels(root, &chart, &scatter.points)
}

/// The legend: what a point is, the diagonal with how many points lie above it, and how many
/// points were left out.
fn legend<DB: DrawingBackend>(area: &Area<DB>, scatter: &Scatter) -> DrawResult<(), DB> {
    let above = scatter.points.iter().filter(|&&(_, x, y)| y > x).count();
    let mut diagonal = format!("y = x ({above} of {} above it)", scatter.points.len());
    if scatter.left_out > 0 {
        diagonal.push_str(&format!("; {} without both values left out", scatter.left_out));
    }
    let style = text_style(15.0).pos(Pos::new(HPos::Left, VPos::Center));
    let mid = LEGEND_HEIGHT as i32 / 2;
    let x = 90;
    area.draw(&Circle::new((x + 10, mid), 5, POINT.filled()))?;
    area.draw_text("dataset", &style, (x + 30, mid))?;
    let x = x + 130;
    for dash in [0, 9, 18] {
        area.draw(&PathElement::new(
            vec![(x + dash, mid), (x + dash + 5, mid)],
            GUIDE.stroke_width(2),
        ))?;
    }
    area.draw_text(&diagonal, &style, (x + 30, mid))
}

/// A text box in pixels: left, top, right, bottom.
type TextBox = (i32, i32, i32, i32);

/// Each point's name beside it: right of the point, else left, above or below, wherever it
/// stays inside the plot and overlaps no label drawn before; a name that fits nowhere is left
/// out rather than drawn over another.
fn point_labels<DB: DrawingBackend>(
    root: &Area<DB>,
    chart: &Chart<DB>,
    points: &[(&str, f64, f64)],
) -> DrawResult<(), DB> {
    let (x_pixels, y_pixels) = chart.plotting_area().get_pixel_range();
    let inside =
        |b: &TextBox| b.0 >= x_pixels.start && b.2 <= x_pixels.end && b.1 >= y_pixels.start && b.3 <= y_pixels.end;
    let mut placed: Vec<TextBox> = Vec::new();
    for &(name, x, y) in points {
        let (px, py) = chart.backend_coord(&(x, y));
        let (w, h) = root.estimate_text_size(name, &text_style(LABEL_SIZE))?;
        let (w, h) = (w as i32, h as i32);
        let candidates = [
            (px + 8, py - h / 2),
            (px - 8 - w, py - h / 2),
            (px - w / 2, py - 8 - h),
            (px - w / 2, py + 8),
        ];
        let free = candidates
            .iter()
            .map(|&(left, top)| (left, top, left + w, top + h))
            .find(|b| inside(b) && placed.iter().all(|p| !overlaps(p, b)));
        if let Some(b) = free {
            let style = text_style(LABEL_SIZE).pos(Pos::new(HPos::Left, VPos::Top));
            root.draw_text(name, &style, (b.0, b.1))?;
            placed.push(b);
        }
    }
    Ok(())
}

fn overlaps(a: &TextBox, b: &TextBox) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_holds_every_point_and_zero() {
        // Values 0.2 .. 0.9 and 0: span 0.9, padding 0.072.
        let range = shared_range(&[("a", 0.2, 0.9), ("b", 0.5, 0.3)]);
        assert!(
            (range.start + 0.072).abs() < 1e-12 && (range.end - 0.972).abs() < 1e-12,
            "{range:?}"
        );
        // Only 0: padding 0.05 each side.
        assert_eq!(shared_range(&[]), -0.05..0.05);
    }

    #[test]
    fn ticks_never_print_negative_zero() {
        assert_eq!(tick(&-1e-17), "0.00");
        assert_eq!(tick(&-0.004), "0.00");
        assert_eq!(tick(&-0.2), "-0.20");
        assert_eq!(tick(&1.005), "1.00");
    }

    #[test]
    fn boxes_overlap_only_when_they_share_area() {
        assert!(overlaps(&(0, 0, 10, 10), &(5, 5, 15, 15)));
        assert!(!overlaps(&(0, 0, 10, 10), &(10, 0, 20, 10)), "touching edges");
        assert!(!overlaps(&(0, 0, 10, 10), &(0, 11, 10, 20)));
    }
}
