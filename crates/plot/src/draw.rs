//! The three charts of one experiment, drawn on any plotters backend.

use std::ops::Range;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use w2s_core::aggregate::CellMetrics;
use w2s_core::stats::Summary;

use crate::font::{FAMILY, estimated_size};

pub(crate) type Area<DB> = DrawingArea<DB, Shift>;
pub(crate) type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
pub(crate) type DrawResult<T, DB> = Result<T, DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

const WEAK: RGBColor = RGBColor(230, 120, 20);
const STUDENT: RGBColor = RGBColor(30, 90, 200);
const CEILING: RGBColor = RGBColor(30, 150, 70);
const GUIDE: RGBColor = RGBColor(110, 110, 110);
const TICK_SIZE: f64 = 15.0;
const LEGEND_ROW: u32 = 24;
const Y_LABEL_AREA: u32 = 80;
/// Horizontal pixels outside the plotting area: margins and the y label area.
const X_CHROME: u32 = Y_LABEL_AREA + 60;

/// The finished cells of one experiment, in sweep order.
pub(crate) struct Figure<'a> {
    /// Experiment name.
    pub experiment: &'a str,
    /// Axis keys of its cells, joined for the x axis description.
    pub axes: String,
    /// Each cell's label (its axis values) and metrics.
    pub cells: Vec<(String, &'a CellMetrics)>,
    /// Each cell's x when the experiment has exactly one axis and all its values are numbers.
    pub numeric: Option<Vec<f64>>,
}

/// The charts drawn for each experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Pgr,
    Accuracy,
    Labels,
}

impl Kind {
    pub(crate) const ALL: [Kind; 3] = [Kind::Pgr, Kind::Accuracy, Kind::Labels];

    /// The file name suffix.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Pgr => "pgr",
            Kind::Accuracy => "accuracy",
            Kind::Labels => "labels",
        }
    }

    /// Canvas size in pixels for `figure`.
    pub(crate) fn size(self, figure: &Figure) -> (u32, u32) {
        if self == Kind::Labels {
            return (820, 760);
        }
        let per_cell = if self == Kind::Accuracy { 90 } else { 70 };
        let width = (X_CHROME + per_cell * figure.cells.len() as u32).clamp(760, 2400);
        let extra = match self.categorical(figure) {
            true => rotated_label_extent(&figure.labels(), width).unwrap_or(0),
            false => 0,
        };
        (width, 580 + extra)
    }

    fn categorical(self, figure: &Figure) -> bool {
        match self {
            Kind::Pgr => true,
            Kind::Accuracy => figure.numeric.is_none(),
            Kind::Labels => false,
        }
    }

    /// Draw this chart of `figure` on `root`.
    pub(crate) fn draw<DB: DrawingBackend>(self, figure: &Figure, root: &Area<DB>) -> DrawResult<(), DB> {
        match self {
            Kind::Pgr => pgr(figure, root),
            Kind::Accuracy => accuracy(figure, root),
            Kind::Labels => labels(figure, root),
        }
    }
}

impl Figure<'_> {
    fn labels(&self) -> Vec<&str> {
        self.cells.iter().map(|(l, _)| l.as_str()).collect()
    }
}

/// How a series is keyed in the legend.
#[derive(Clone, Copy)]
enum Key {
    Marker(Marker, RGBColor),
    Line(RGBColor),
    Dashed(RGBColor),
}

#[derive(Clone, Copy)]
enum Marker {
    Circle,
    Triangle,
    Square,
}

/// Draw `marker` centred at pixel `at` of `area`.
fn marker<DB: DrawingBackend>(area: &Area<DB>, marker: Marker, at: (i32, i32), color: RGBColor) -> DrawResult<(), DB> {
    let style = color.filled();
    match marker {
        Marker::Circle => area.draw(&Circle::new(at, 5, style)),
        Marker::Triangle => area.draw(&TriangleMarker::new(at, 7, style)),
        Marker::Square => area.draw(&Rectangle::new([(at.0 - 5, at.1 - 5), (at.0 + 5, at.1 + 5)], style)),
    }
}

fn text_style(size: f64) -> TextStyle<'static> {
    TextStyle::from((FAMILY, size).into_font()).color(&BLACK)
}

/// Everything around the plotting area.
struct Frame<'s> {
    title: String,
    x_desc: &'s str,
    y_desc: &'s str,
    x: Range<f64>,
    y: Range<f64>,
    /// Category labels at x = 0, 1, …; numeric x ticks when `None`.
    cells: Option<&'s [&'s str]>,
    /// Numeric x ticks with two decimals, like the y ticks.
    x_fixed: bool,
    legend: &'s [(Key, &'s str)],
}

fn frame<'a, DB: DrawingBackend>(root: &'a Area<DB>, f: &Frame) -> DrawResult<Chart<'a, DB>, DB> {
    root.fill(&WHITE)?;
    let body = root.margin(10, 0, 0, 0).titled(&f.title, text_style(22.0))?;
    let rows = legend_rows(root, f.legend)?;
    let (legend_area, body) = body.split_vertically(LEGEND_ROW * rows.len() as u32 + 10);
    legend(&legend_area, &rows)?;

    let (label_extent, rotated) = match f.cells {
        Some(labels) => {
            let (w, h) = max_text(root, labels)?;
            match rotated_label_extent(labels, root.dim_in_pixel().0) {
                Some(_) => (w, true),
                None => (h, false),
            }
        }
        None => (TICK_SIZE as u32, false),
    };
    let mut chart = ChartBuilder::on(&body)
        .margin_top(8)
        .margin_bottom(10)
        .margin_left(10)
        .margin_right(50)
        .x_label_area_size(label_extent + 45)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(f.x.clone(), f.y.clone())?;
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(f.x_desc)
        .y_desc(f.y_desc)
        .label_style(text_style(TICK_SIZE))
        .axis_desc_style(text_style(17.0))
        .bold_line_style(RGBColor(225, 225, 225))
        .max_light_lines(0)
        .y_label_formatter(&|v| format!("{v:.2}"));
    if f.cells.is_some() {
        mesh.disable_x_mesh().x_labels(0);
    } else if f.x_fixed {
        mesh.x_label_formatter(&|v| format!("{v:.2}"));
    }
    mesh.draw()?;
    if let Some(labels) = f.cells {
        cell_labels(root, &chart, labels, f.y.start, rotated)?;
    }
    Ok(chart)
}

/// The largest width and the largest height of `texts` as tick labels.
fn max_text<DB: DrawingBackend>(area: &Area<DB>, texts: &[&str]) -> DrawResult<(u32, u32), DB> {
    let mut max = (0, 0);
    for text in texts {
        let (w, h) = area.estimate_text_size(text, &text_style(TICK_SIZE))?;
        max = (max.0.max(w), max.1.max(h));
    }
    Ok(max)
}

/// The estimated width of the longest label when the labels are too wide to sit side by side
/// under their cells on a canvas `width` pixels wide, so that they are drawn vertically.
fn rotated_label_extent(labels: &[&str], width: u32) -> Option<u32> {
    let slot = width.saturating_sub(X_CHROME) as f64 / labels.len().max(1) as f64;
    let longest = labels.iter().map(|l| estimated_size(l, TICK_SIZE).0).max().unwrap_or(0);
    (longest as f64 > slot - 10.0).then_some(longest)
}

fn cell_labels<DB: DrawingBackend>(
    root: &Area<DB>,
    chart: &Chart<DB>,
    labels: &[&str],
    y: f64,
    rotated: bool,
) -> DrawResult<(), DB> {
    let style = match rotated {
        true => text_style(TICK_SIZE)
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Right, VPos::Center)),
        false => text_style(TICK_SIZE).pos(Pos::new(HPos::Center, VPos::Top)),
    };
    for (i, label) in labels.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(i as f64, y));
        root.draw(&PathElement::new(vec![(px, py), (px, py + 5)], BLACK))?;
        root.draw_text(label, &style, (px, py + 9))?;
    }
    Ok(())
}

/// Legend items in a row, each at its x offset.
type LegendRow<'s> = Vec<(i32, Key, &'s str)>;

/// The legend's items, wrapped into rows that fit the canvas, each with its x offset.
fn legend_rows<'s, DB: DrawingBackend>(
    root: &Area<DB>,
    items: &[(Key, &'s str)],
) -> DrawResult<Vec<LegendRow<'s>>, DB> {
    let start = Y_LABEL_AREA as i32 + 10;
    let end = root.dim_in_pixel().0 as i32 - 20;
    let mut rows: Vec<LegendRow> = vec![Vec::new()];
    let mut x = start;
    for &(key, text) in items {
        let width = 30 + root.estimate_text_size(text, &text_style(15.0))?.0 as i32;
        if x > start && x + width > end {
            rows.push(Vec::new());
            x = start;
        }
        rows.last_mut().unwrap_or(&mut Vec::new()).push((x, key, text));
        x += width + 36;
    }
    Ok(rows)
}

fn legend<DB: DrawingBackend>(area: &Area<DB>, rows: &[LegendRow]) -> DrawResult<(), DB> {
    let style = text_style(15.0).pos(Pos::new(HPos::Left, VPos::Center));
    for (row, items) in rows.iter().enumerate() {
        let mid = (LEGEND_ROW as i32) * row as i32 + LEGEND_ROW as i32 / 2;
        for &(x, key, text) in items {
            match key {
                Key::Marker(m, color) => marker(area, m, (x + 10, mid), color)?,
                Key::Line(color) => {
                    area.draw(&PathElement::new(vec![(x, mid), (x + 22, mid)], color.stroke_width(2)))?
                }
                Key::Dashed(color) => {
                    for dash in [0, 9, 18] {
                        area.draw(&PathElement::new(
                            vec![(x + dash, mid), (x + dash + 5, mid)],
                            color.stroke_width(2),
                        ))?;
                    }
                }
            }
            area.draw_text(text, &style, (x + 30, mid))?;
        }
    }
    Ok(())
}

/// An axis range showing the `core` values (means and guide lines) and the interval ends in
/// `bars`, padded by `frac` of the shown span. Intervals may widen the range by at most the span
/// of `core` on each side (longer ones are clipped), so that one wide interval does not flatten
/// the data. With `unit`, the range does not pass 0 or 1 unless a value does.
fn axis(core: impl IntoIterator<Item = f64>, bars: impl IntoIterator<Item = f64>, frac: f64, unit: bool) -> Range<f64> {
    let Some((min, max)) = bounds(core) else {
        return 0.0..1.0;
    };
    let span = (max - min).max(0.02);
    let clipped = bars.into_iter().map(|v| v.clamp(min - span, max + span));
    let (min, max) = bounds(clipped.chain([min, max])).unwrap_or((min, max));
    let pad = ((max - min) * frac).max(0.005);
    match unit {
        true => (min - pad).max(min.min(0.0))..(max + pad).min(max.max(1.0)),
        false => min - pad..max + pad,
    }
}

fn bounds(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((v.min(lo), v.max(hi))),
        })
}

fn means<'a>(summaries: impl IntoIterator<Item = &'a Summary>) -> impl Iterator<Item = f64> {
    summaries.into_iter().filter_map(|s| s.mean)
}

fn interval_ends<'a>(summaries: impl IntoIterator<Item = &'a Summary>) -> impl Iterator<Item = f64> {
    summaries
        .into_iter()
        .filter_map(|s| s.ci95)
        .flat_map(|(lo, hi)| [lo, hi])
}

/// Whether an interval of `summaries` reaches past `y`.
fn clips<'a>(summaries: impl IntoIterator<Item = &'a Summary>, y: &Range<f64>) -> bool {
    interval_ends(summaries).any(|v| v < y.start || v > y.end)
}

/// The 95% interval of `s` at `x` as a bar with caps; an end past the y range is clipped there
/// and drawn as an arrowhead.
fn bar<DB: DrawingBackend>(
    root: &Area<DB>,
    chart: &Chart<DB>,
    x: f64,
    s: &Summary,
    y: &Range<f64>,
    color: impl Color,
) -> DrawResult<(), DB> {
    let Some((lo, hi)) = s.ci95 else {
        return Ok(());
    };
    let style = color.stroke_width(2);
    let at = |v: f64| chart.backend_coord(&(x, v.clamp(y.start, y.end)));
    root.draw(&PathElement::new(vec![at(lo), at(hi)], style))?;
    for (value, outward) in [(lo, 1), (hi, -1)] {
        let (px, py) = at(value);
        if y.contains(&value) {
            root.draw(&PathElement::new(vec![(px - 6, py), (px + 6, py)], style))?;
        } else {
            let base = py - 9 * outward;
            root.draw(&Polygon::new(
                vec![(px, py), (px - 6, base), (px + 6, base)],
                color.filled(),
            ))?;
        }
    }
    Ok(())
}

fn dashed(points: [(f64, f64); 2]) -> DashedLineSeries<std::array::IntoIter<(f64, f64), 2>, i32> {
    DashedLineSeries::new(points, 7, 5, GUIDE.into())
}

fn with_ci(text: &str, clipped: bool) -> String {
    match clipped {
        true => format!("{text}, bars: 95% CI (arrow: beyond the axis)"),
        false => format!("{text}, bars: 95% CI"),
    }
}

fn pgr<DB: DrawingBackend>(figure: &Figure, root: &Area<DB>) -> DrawResult<(), DB> {
    let labels = figure.labels();
    let pgrs: Vec<&Summary> = figure.cells.iter().map(|(_, m)| &m.pgr_accuracy).collect();
    let y = axis(
        means(pgrs.iter().copied()).chain([0.0, 1.0]),
        interval_ends(pgrs.iter().copied()),
        0.06,
        false,
    );
    let x = -0.5..figure.cells.len() as f64 - 0.5;
    let mean_key = with_ci("mean over seeds", clips(pgrs.iter().copied(), &y));
    let mut chart = frame(
        root,
        &Frame {
            title: format!("{}: performance gap recovered (test accuracy)", figure.experiment),
            x_desc: &figure.axes,
            y_desc: "PGR (accuracy)",
            x: x.clone(),
            y: y.clone(),
            cells: Some(&labels),
            x_fixed: false,
            legend: &[
                (Key::Marker(Marker::Circle, STUDENT), &mean_key),
                (Key::Line(GUIDE), "0: student = weak"),
                (Key::Dashed(GUIDE), "1: student = ceiling"),
            ],
        },
    )?;
    chart.draw_series(LineSeries::new([(x.start, 0.0), (x.end, 0.0)], GUIDE))?;
    chart.draw_series(dashed([(x.start, 1.0), (x.end, 1.0)]))?;
    let undefined = text_style(13.0).color(&GUIDE).pos(Pos::new(HPos::Center, VPos::Bottom));
    for (i, s) in pgrs.iter().enumerate() {
        let at = i as f64;
        bar(root, &chart, at, s, &y, STUDENT)?;
        match s.mean {
            Some(mean) => marker(root, Marker::Circle, chart.backend_coord(&(at, mean)), STUDENT)?,
            None => {
                let (px, py) = chart.backend_coord(&(at, 0.0));
                root.draw_text("undefined", &undefined, (px, py - 4))?
            }
        }
    }
    Ok(())
}

type Metric = fn(&CellMetrics) -> &Summary;

fn accuracy<DB: DrawingBackend>(figure: &Figure, root: &Area<DB>) -> DrawResult<(), DB> {
    let students = || figure.cells.iter().map(|(_, m)| &m.student_accuracy);
    let all: [Metric; 3] = [|m| &m.weak_accuracy, |m| &m.student_accuracy, |m| &m.ceiling_accuracy];
    let y = axis(
        figure
            .cells
            .iter()
            .flat_map(|(_, m)| means(all.iter().map(|metric| metric(m)))),
        interval_ends(students()),
        0.08,
        true,
    );
    let student_key = with_ci("student", clips(students(), &y));
    let series: [(&str, Marker, RGBColor, Metric); 3] = [
        ("weak (ensemble)", Marker::Triangle, WEAK, all[0]),
        (&student_key, Marker::Circle, STUDENT, all[1]),
        ("ceiling", Marker::Square, CEILING, all[2]),
    ];
    let labels = figure.labels();
    let (x, xs, offsets, cells) = match &figure.numeric {
        Some(xs) => (axis(xs.iter().copied(), [], 0.05, false), xs.clone(), [0.0; 3], None),
        None => (
            -0.5..figure.cells.len() as f64 - 0.5,
            (0..figure.cells.len()).map(|i| i as f64).collect(),
            [-0.22, 0.0, 0.22],
            Some(labels.as_slice()),
        ),
    };
    let legend: Vec<(Key, &str)> = series
        .iter()
        .map(|&(name, m, color, _)| (Key::Marker(m, color), name))
        .collect();
    let mut chart = frame(
        root,
        &Frame {
            title: format!(
                "{}: test accuracy of weak labels, student and ceiling",
                figure.experiment
            ),
            x_desc: &figure.axes,
            y_desc: "test accuracy",
            x,
            y: y.clone(),
            cells,
            x_fixed: false,
            legend: &legend,
        },
    )?;
    for (&(_, m, color, metric), offset) in series.iter().zip(offsets) {
        let points: Vec<(f64, &Summary)> = xs
            .iter()
            .zip(&figure.cells)
            .map(|(x, (_, cell))| (x + offset, metric(cell)))
            .collect();
        let joined = figure.numeric.is_some();
        draw_accuracy_series(root, &mut chart, &points, (m, color), &y, joined)?;
    }
    Ok(())
}

/// One series of the accuracy plot: its markers, joined by a line over a numeric axis, and
/// the student's interval bars.
fn draw_accuracy_series<DB: DrawingBackend>(
    root: &Area<DB>,
    chart: &mut Chart<DB>,
    points: &[(f64, &Summary)],
    (m, color): (Marker, RGBColor),
    y: &Range<f64>,
    joined: bool,
) -> DrawResult<(), DB> {
    if joined {
        let mut line: Vec<(f64, f64)> = points.iter().filter_map(|(x, s)| s.mean.map(|y| (*x, y))).collect();
        line.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart.draw_series(LineSeries::new(line, color.stroke_width(2)))?;
    }
    for &(x, s) in points {
        if color == STUDENT {
            bar(root, chart, x, s, y, color)?;
        }
        if let Some(mean) = s.mean {
            marker(root, m, chart.backend_coord(&(x, mean)), color)?;
        }
    }
    Ok(())
}

fn labels<DB: DrawingBackend>(figure: &Figure, root: &Area<DB>) -> DrawResult<(), DB> {
    let points: Vec<(&str, f64, f64, &Summary)> = figure
        .cells
        .iter()
        .filter_map(|(label, m)| {
            let s = &m.student_accuracy;
            Some((label.as_str(), m.label_accuracy.mean?, s.mean?, s))
        })
        .collect();
    let range = axis(
        points.iter().flat_map(|&(_, x, y, _)| [x, y]),
        interval_ends(points.iter().map(|p| p.3)),
        0.15,
        true,
    );
    let point_key = with_ci("cell", clips(points.iter().map(|p| p.3), &range));
    let mut chart = frame(
        root,
        &Frame {
            title: format!("{}: student against its teachers' labels", figure.experiment),
            x_desc: "accuracy of the ensemble's labels on the transfer set",
            y_desc: "student test accuracy",
            x: range.clone(),
            y: range.clone(),
            cells: None,
            x_fixed: true,
            legend: &[
                (Key::Marker(Marker::Circle, STUDENT), &point_key),
                (Key::Dashed(GUIDE), "y = x: student = its labels"),
            ],
        },
    )?;
    chart.draw_series(dashed([(range.start, range.start), (range.end, range.end)]))?;
    let right_edge = chart.backend_coord(&(range.end, range.end)).0;
    let style = text_style(13.0);
    for &(label, x, y, s) in &points {
        bar(root, &chart, x, s, &range, STUDENT.mix(0.4))?;
        let (px, py) = chart.backend_coord(&(x, y));
        marker(root, Marker::Circle, (px, py), STUDENT)?;
        let width = root.estimate_text_size(label, &style)?.0 as i32;
        let (h_pos, dx) = match px + 8 + width > right_edge {
            true => (HPos::Right, -8),
            false => (HPos::Left, 8),
        };
        root.draw_text(label, &style.pos(Pos::new(h_pos, VPos::Bottom)), (px + dx, py - 4))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(range: &Range<f64>, start: f64, end: f64) -> bool {
        (range.start - start).abs() < 1e-9 && (range.end - end).abs() < 1e-9
    }

    #[test]
    fn axis_zooms_to_the_data_within_unit_bounds() {
        let y = axis([0.80, 0.86], [0.78, 0.88], 0.1, true);
        assert!(close(&y, 0.77, 0.89), "{y:?}");
        let y = axis([0.0, 0.99], [], 0.1, true);
        assert!(close(&y, 0.0, 1.0), "not past 0 or 1: {y:?}");
        assert!(close(&axis([], [], 0.1, true), 0.0, 1.0));
    }

    #[test]
    fn axis_clips_wide_intervals_to_one_span() {
        let y = axis([-0.1, 0.5, 1.0], [-10.0, 12.0], 0.0, false);
        assert!(close(&y, -1.205, 2.105), "at least 0.005 of padding: {y:?}");
        let y = axis([0.3, 0.4], [0.35, 0.7], 0.0, false);
        assert!(close(&y, 0.295, 0.505), "{y:?}");
    }

    #[test]
    fn long_labels_are_rotated() {
        assert_eq!(rotated_label_extent(&["soft, 1", "hard, 3"], 760), None);
        let long = "minilm-l3-h384-uncased, weighted, 1";
        let width = estimated_size(long, TICK_SIZE).0;
        assert_eq!(rotated_label_extent(&[long; 10], 1000), Some(width));
        assert_eq!(rotated_label_extent(&[long], 1000), None, "one cell has room");
    }
}
