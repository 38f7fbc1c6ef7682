//! The metrics of a self-consuming loop by round: a grid of small panels, one per metric
//! ([`RoundPanels`]: the classification study's collapse metrics, the generative track's toxicity,
//! diversity and fluency), with round on x and one line per series (a dataset, a config or a seed).

use std::ops::Range;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use w2s_core::collapse::RoundMetrics;
use w2s_core::generative::GenerativeRound;
use w2s_core::io::write_atomic;

use crate::draw::{Area, DrawResult};
use crate::font::{self, FAMILY};
use crate::{PlotError, draw_error, png_of, svg_of};

/// One series of per-round values (e.g. one dataset, one config or one seed), its name and values by round.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundSeries<M = RoundMetrics> {
    /// The name in the legend.
    pub name: String,
    /// Its values, one per round, in any order.
    pub rounds: Vec<M>,
}

/// A panel: its title and the value it shows, `None` where a round has no value.
pub type Panel<M> = (&'static str, fn(&M) -> Option<f64>);

/// What a rounds plot draws of one round: its number, and one panel per metric.
pub trait RoundPanels: Sized + 'static {
    /// The plot's title.
    const TITLE: &'static str;
    /// The panels, in reading order (left to right, then top to bottom).
    const PANELS: &'static [Panel<Self>];
    /// The round (1-based).
    fn round(&self) -> usize;
}

impl RoundPanels for RoundMetrics {
    const TITLE: &'static str = "metrics of the self-consuming loop by round";
    const PANELS: &'static [Panel<Self>] = &[
        ("test accuracy", |m| Some(m.test_accuracy)),
        ("label accuracy (vs truth)", |m| Some(m.label_accuracy)),
        ("label entropy (nats)", |m| Some(m.label_entropy)),
        ("class-prior drift (TV)", |m| Some(m.prior_drift)),
        ("flip rate vs previous round", |m| m.flip_rate_previous),
        ("flip rate vs truth", |m| Some(m.flip_rate_truth)),
        ("ECE (test)", |m| Some(m.ece)),
        ("minority-class recall (test)", |m| m.minority_recall),
    ];
    fn round(&self) -> usize {
        self.round
    }
}

impl RoundPanels for GenerativeRound {
    const TITLE: &'static str = "the generator's self-consuming loop by round";
    const PANELS: &'static [Panel<Self>] = &[
        ("mean toxicity (gold)", |r| Some(r.student.mean_toxicity)),
        ("toxicity probability", |r| Some(r.student.toxicity.probability)),
        ("PGR over the judge's best of k", |r| r.pgr.pgr.value),
        ("PGR over the untouched generator", |r| r.pgr_vs_baseline.pgr.value),
        ("distinct-2 (all)", |r| Some(r.student.diversity.distinct_all[1])),
        ("self-BLEU-4 (all)", |r| Some(r.student.diversity.self_bleu_all)),
        ("perplexity (untouched generator)", |r| r.student.perplexity),
        ("judge picks = gold picks", |r| Some(r.picks.agreement_with_gold)),
    ];
    fn round(&self) -> usize {
        self.round
    }
}

const COLUMNS: usize = 4;
const PANEL_SIZE: (u32, u32) = (420, 330);
const HEADER: u32 = 50;
const LEGEND_ROW: u32 = 24;
const LEGEND_LEFT: i32 = 20;
/// Series colours, reused in order when there are more series.
const PALETTE: [RGBColor; 8] = [
    RGBColor(30, 90, 200),
    RGBColor(230, 120, 20),
    RGBColor(30, 150, 70),
    RGBColor(200, 40, 40),
    RGBColor(130, 70, 180),
    RGBColor(140, 90, 60),
    RGBColor(220, 90, 170),
    RGBColor(110, 110, 110),
];

/// Writes `<stem>.svg` and `<stem>.png`: a grid of small panels, one per metric (test accuracy, label
/// accuracy, label entropy, prior drift, flip rate vs previous, flip rate vs truth, ECE, minority recall),
/// x = round, one line per series, using the crate's shared drawing types and svg_of/png_of.
///
/// Files are written atomically into `dir` (created if missing), the SVG first; the paths
/// written are returned. A round without a value (the flip rate against the previous round in
/// round 1, an undefined recall) or with a non-finite one is left out of its line.
///
/// # Errors
/// [`PlotError::Draw`] when a chart cannot be drawn, or when no font is found for the PNG (the
/// SVG is then already written, and the message says how to set `W2S_FONT`);
/// [`PlotError::Encode`] or [`PlotError::Io`] when a file cannot be encoded or written.
pub fn write_rounds_plot<M: RoundPanels>(
    series: &[RoundSeries<M>],
    dir: &Path,
    stem: &str,
) -> Result<Vec<PathBuf>, PlotError> {
    let size = canvas_size(series);
    let svg = dir.join(format!("{stem}.svg"));
    write_atomic(&svg, svg_of(size, &svg, |root| draw(series, root))?.as_bytes())?;
    let png = dir.join(format!("{stem}.png"));
    font::font().map_err(|why| draw_error(&png, &why))?;
    write_atomic(&png, &png_of(size, &png, |root| draw(series, root))?)?;
    Ok(vec![svg, png])
}

/// The canvas: the panels' grid under the title and a legend of `series`, wrapped by
/// [`legend_rows`].
fn canvas_size<M: RoundPanels>(series: &[RoundSeries<M>]) -> (u32, u32) {
    let rows = M::PANELS.len().div_ceil(COLUMNS) as u32;
    let width = PANEL_SIZE.0 * COLUMNS as u32;
    let legend = legend_rows(series, width).len() as u32 * LEGEND_ROW;
    (width, HEADER + legend + 10 + PANEL_SIZE.1 * rows)
}

fn text_style(size: f64) -> TextStyle<'static> {
    TextStyle::from((FAMILY, size).into_font()).color(&BLACK)
}

fn color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

fn draw<DB: DrawingBackend, M: RoundPanels>(series: &[RoundSeries<M>], root: &Area<DB>) -> DrawResult<(), DB> {
    root.fill(&WHITE)?;
    let (header, body) = root.split_vertically(HEADER);
    let title = text_style(22.0).pos(Pos::new(HPos::Center, VPos::Center));
    header.draw_text(M::TITLE, &title, (root.dim_in_pixel().0 as i32 / 2, HEADER as i32 / 2))?;
    let rows = legend_rows(series, root.dim_in_pixel().0);
    let (legend_area, grid) = body.split_vertically(rows.len() as u32 * LEGEND_ROW + 10);
    legend(&legend_area, series, &rows)?;
    let x = round_range(series);
    let panels = grid.split_evenly((M::PANELS.len().div_ceil(COLUMNS), COLUMNS));
    for (area, &(name, metric)) in panels.iter().zip(M::PANELS) {
        panel(area, name, metric, series, x.clone())?;
    }
    Ok(())
}

/// One panel: its title, axes and a line with markers per series.
fn panel<DB: DrawingBackend, M: RoundPanels>(
    area: &Area<DB>,
    title: &str,
    metric: fn(&M) -> Option<f64>,
    series: &[RoundSeries<M>],
    x: Range<f64>,
) -> DrawResult<(), DB> {
    let lines: Vec<Vec<Vec<(f64, f64)>>> = series.iter().map(|s| segments(s, metric)).collect();
    let y = value_range(lines.iter().flatten().flatten().map(|&(_, v)| v));
    let mut chart = ChartBuilder::on(area)
        .caption(title, text_style(17.0))
        .margin(10)
        .margin_right(20)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc("round")
        .label_style(text_style(13.0))
        .axis_desc_style(text_style(14.0))
        .bold_line_style(RGBColor(225, 225, 225))
        .max_light_lines(0)
        .x_label_formatter(&round_tick)
        .y_label_formatter(&|v| format!("{v:.2}"))
        .draw()?;
    for (i, segments) in lines.into_iter().enumerate() {
        let style = color(i);
        for line in segments {
            chart.draw_series(LineSeries::new(line.clone(), style.stroke_width(2)))?;
            chart.draw_series(line.into_iter().map(|at| Circle::new(at, 3, style.filled())))?;
        }
    }
    Ok(())
}

/// The values of `metric` in `series` as lines of (round, value), in the order of rounds: a
/// round without a finite value ends a line, so that no line bridges a missing value.
fn segments<M: RoundPanels>(series: &RoundSeries<M>, metric: fn(&M) -> Option<f64>) -> Vec<Vec<(f64, f64)>> {
    let mut rounds: Vec<&M> = series.rounds.iter().collect();
    rounds.sort_by_key(|m| m.round());
    let mut lines = vec![Vec::new()];
    for m in rounds {
        match metric(m).filter(|v| v.is_finite()) {
            Some(value) => lines
                .last_mut()
                .expect("lines start with one")
                .push((m.round() as f64, value)),
            None => lines.push(Vec::new()),
        }
    }
    lines.retain(|line| !line.is_empty());
    lines
}

/// Every series' rounds, half a round of padding on each side; rounds 1 to 2 when there are none.
fn round_range<M: RoundPanels>(series: &[RoundSeries<M>]) -> Range<f64> {
    let rounds = series.iter().flat_map(|s| &s.rounds).map(|m| m.round() as f64);
    let (lo, hi) = rounds.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| (lo.min(r), hi.max(r)));
    if lo > hi { 0.5..2.5 } else { lo - 0.5..hi + 0.5 }
}

/// The values' range padded by 8% of their span (at least 0.02); 0 to 1 when there are none.
fn value_range(values: impl IntoIterator<Item = f64>) -> Range<f64> {
    let (lo, hi) = values
        .into_iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.08).max(0.02);
    lo - pad..hi + pad
}

/// A round tick: whole rounds only, the ticks between them left blank.
fn round_tick(value: &f64) -> String {
    match (value - value.round()).abs() < 1e-6 {
        true => format!("{}", value.round() as i64),
        false => String::new(),
    }
}

/// The series' indices in legend rows that fit `width` pixels, by an estimate of each name's width.
fn legend_rows<M>(series: &[RoundSeries<M>], width: u32) -> Vec<Vec<usize>> {
    let end = width as i32 - 20;
    let mut rows: Vec<Vec<usize>> = vec![Vec::new()];
    let mut x = LEGEND_LEFT;
    for (i, s) in series.iter().enumerate() {
        let item = legend_item_width(&s.name);
        if x > LEGEND_LEFT && x + item > end {
            rows.push(Vec::new());
            x = LEGEND_LEFT;
        }
        rows.last_mut().expect("rows start with one").push(i);
        x += item;
    }
    rows
}

/// A legend item's width: its line key, the name and a gap after it.
fn legend_item_width(name: &str) -> i32 {
    30 + font::estimated_size(name, 15.0).0 as i32 + 25
}

fn legend<DB: DrawingBackend, M>(
    area: &Area<DB>,
    series: &[RoundSeries<M>],
    rows: &[Vec<usize>],
) -> DrawResult<(), DB> {
    let style = text_style(15.0).pos(Pos::new(HPos::Left, VPos::Center));
    for (row, items) in rows.iter().enumerate() {
        let mid = LEGEND_ROW as i32 * row as i32 + LEGEND_ROW as i32 / 2;
        let mut x = LEGEND_LEFT;
        for &i in items {
            area.draw(&PathElement::new(
                vec![(x, mid), (x + 22, mid)],
                color(i).stroke_width(2),
            ))?;
            area.draw(&Circle::new((x + 11, mid), 3, color(i).filled()))?;
            area.draw_text(&series[i].name, &style, (x + 30, mid))?;
            x += legend_item_width(&series[i].name);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(round: usize, test_accuracy: f64, flip_rate_previous: Option<f64>) -> RoundMetrics {
        RoundMetrics {
            round,
            test_accuracy,
            label_accuracy: 0.8,
            label_entropy: 0.4,
            confidence_histogram: vec![0; 10],
            prior_drift: 0.1,
            flip_rate_previous,
            flip_rate_truth: 0.2,
            ece: 0.05,
            brier: 0.3,
            minority_recall: None,
        }
    }

    #[test]
    fn segments_sort_by_round_and_break_at_missing_values() {
        let series = RoundSeries {
            name: "a".to_string(),
            rounds: vec![
                metrics(3, 0.7, Some(0.1)),
                metrics(1, 0.9, None),
                metrics(4, 0.5, Some(0.3)),
                metrics(2, f64::NAN, Some(0.2)),
            ],
        };
        // Round 2's accuracy is NaN: rounds 1 and 3-4 are separate lines.
        let accuracy = segments(&series, |m| Some(m.test_accuracy));
        assert_eq!(accuracy, vec![vec![(1.0, 0.9)], vec![(3.0, 0.7), (4.0, 0.5)]]);
        // No flip rate in round 1: one line from round 2.
        let flips = segments(&series, |m| m.flip_rate_previous);
        assert_eq!(flips, vec![vec![(2.0, 0.2), (3.0, 0.1), (4.0, 0.3)]]);
        assert_eq!(segments(&series, |m| m.minority_recall), Vec::<Vec<(f64, f64)>>::new());
    }

    #[test]
    fn ranges_pad_the_data() {
        // Span 0.5, padding 0.04.
        let y = value_range([0.3, 0.8, 0.5]);
        assert!((y.start - 0.26).abs() < 1e-12 && (y.end - 0.84).abs() < 1e-12, "{y:?}");
        assert_eq!(value_range([0.5]), 0.48..0.52, "at least 0.02 of padding");
        assert_eq!(value_range([]), 0.0..1.0);
        let series = |rounds: Vec<usize>| RoundSeries {
            name: "s".to_string(),
            rounds: rounds.into_iter().map(|r| metrics(r, 0.5, None)).collect(),
        };
        assert_eq!(round_range(&[series(vec![1, 2]), series(vec![4])]), 0.5..4.5);
        assert_eq!(round_range(&[series(vec![])]), 0.5..2.5);
    }

    #[test]
    fn round_ticks_are_whole_rounds() {
        assert_eq!(round_tick(&3.0), "3");
        assert_eq!(round_tick(&2.5), "");
        assert_eq!(round_tick(&0.999_999_9), "1");
    }

    #[test]
    fn long_legends_wrap() {
        let named = |n: usize| -> Vec<RoundSeries> {
            (0..n)
                .map(|i| RoundSeries {
                    name: format!("a rather long series name {i}"),
                    rounds: vec![],
                })
                .collect()
        };
        assert_eq!(legend_rows(&named(2), 1680), vec![vec![0, 1]]);
        // Each item is 30 + 27 characters * 9 pixels + 25 = 298 pixels; from x = 20, five end at
        // 1510 and a sixth would end at 1808, past 1680 - 20.
        let rows = legend_rows(&named(7), 1680);
        assert_eq!(rows, vec![vec![0, 1, 2, 3, 4], vec![5, 6]]);
        assert_eq!(legend_rows::<RoundMetrics>(&[], 1680), vec![Vec::<usize>::new()]);
    }
}
