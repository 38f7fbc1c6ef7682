//! Tables: the text, Markdown and CSV renderings of a run's results ([`run`]) and of an
//! aggregated sweep ([`sweep`]), of a sweep read as a suite ([`suite`]), and the cell formatting they share.

pub(crate) mod diagnostics;
pub(crate) mod generative;
pub(crate) mod run;
pub(crate) mod suite;
pub(crate) mod sweep;

use crate::stats::Summary;

/// Rows as left-aligned columns two spaces apart, each line ending in a newline.
pub(crate) fn aligned<R: AsRef<[String]>>(rows: &[R]) -> String {
    let columns = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.as_ref().get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let padded: Vec<String> = row
            .as_ref()
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `"0.812 ± 0.010"` across several seeds, `"0.812"` for one, `"-"` for none.
pub(crate) fn mean_std(summary: &Summary) -> String {
    match (summary.mean, summary.std) {
        (Some(mean), Some(std)) => format!("{mean:.3} ± {std:.3}"),
        (Some(mean), None) => format!("{mean:.3}"),
        _ => "-".to_string(),
    }
}

/// `"0.812"`, or `"-"` when missing.
pub(crate) fn fixed(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"))
}

pub(crate) fn optional(value: Option<f64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// One CSV record, fields quoted when they hold a comma, quote or line break (RFC 4180).
pub(crate) fn csv_line(fields: impl IntoIterator<Item = String>) -> String {
    let quoted: Vec<String> = fields.into_iter().map(|f| csv_field(&f)).collect();
    format!("{}\n", quoted.join(","))
}

pub(crate) fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// `rows` as a Markdown table, the first row its header.
pub(crate) fn markdown_table<R: AsRef<[String]>>(rows: &[R]) -> String {
    let Some((header, body)) = rows.split_first() else {
        return String::new();
    };
    let rule: Vec<String> = header.as_ref().iter().map(|_| "---".to_string()).collect();
    let mut out = markdown_row(header.as_ref());
    out.push_str(&markdown_row(&rule));
    for row in body {
        out.push_str(&markdown_row(row.as_ref()));
    }
    out
}

pub(crate) fn markdown_row(cells: &[String]) -> String {
    let escaped: Vec<String> = cells.iter().map(|c| markdown_escape(c)).collect();
    format!("| {} |\n", escaped.join(" | "))
}

pub(crate) fn markdown_escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
