//! Ablation sweeps: a base experiment (or several) and the config keys to vary.
//!
//! ```toml
//! description = "How the teachers' labels are combined."
//! experiments = ["legal", "safety", "toxicity"]   # files in experiments/
//! seeds = [0, 1, 2]                                # replaces each experiment's seeds
//!
//! [set]                                            # applied to every cell
//! "ensemble.bootstrap" = true
//!
//! [axes]                                           # the cells are the product of the axes
//! "ensemble.method" = ["none", "hard", "soft", "weighted"]
//! "ensemble.size" = [3, 5]
//! # An axis that is not a config key sets several keys at once; `label` names each value.
//! models = [
//!     { label = "L3 -> L6", "weak.models" = ["minilm-l3"], "strong.model" = "minilm-l6" },
//!     { label = "L3 -> MPNet", "weak.models" = ["minilm-l3"], "strong.model" = "mpnet-base" },
//! ]
//! ```
//!
//! Every key and value is checked against the config schema when the sweep is loaded, so a typo
//! fails before anything runs. A cell is one experiment config: the base file with the sweep's
//! settings applied as `key=value` overrides, so a cell runs exactly like `w2s train` with those
//! overrides and lands in the same run folder.

use std::path::Path;

use serde::Deserialize;

use crate::config::{ConfigError, SourcedOverride, check_setting};

/// A parsed and checked sweep file.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// The file's stem, e.g. `ensemble` for `experiments/ablations/ensemble.toml`.
    pub name: String,
    pub description: String,
    /// Base experiments, by name (files in the experiments folder).
    pub experiments: Vec<String>,
    /// Settings applied to every cell, seeds included.
    pub fixed: Vec<Setting>,
    /// The axes, in file order.
    pub axes: Vec<Axis>,
}

/// One config key and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub key: String,
    pub value: toml::Value,
    /// Where the sweep file sets it, e.g. "in `[set]` of ablations/x.toml".
    pub from: String,
}

impl Setting {
    /// As a command-line override, `key=value` with the value in TOML syntax.
    pub fn to_override(&self) -> String {
        format!("{}={}", self.key, self.value)
    }
}

/// One dimension of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// The config key, or a free name for an axis that sets several keys.
    pub name: String,
    pub values: Vec<AxisValue>,
}

/// One point on an axis: how it is shown, and what it sets.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisValue {
    pub label: String,
    pub settings: Vec<Setting>,
}

/// One configuration of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Position in expansion order: experiments outermost, then the axes in file order, the last
    /// axis varying fastest.
    pub index: usize,
    pub experiment: String,
    /// `(axis name, value label)` for each axis.
    pub values: Vec<(String, String)>,
    /// Everything the cell sets, as `key=value` overrides of its experiment, in order.
    pub overrides: Vec<String>,
    /// Where the sweep file sets each of `overrides`, for messages.
    pub sources: Vec<String>,
}

impl Cell {
    /// `overrides` with where each is set, to load the cell's config with.
    pub fn sourced_overrides(&self) -> Vec<SourcedOverride> {
        let sourced = self.overrides.iter().zip(&self.sources);
        sourced
            .map(|(text, from)| SourcedOverride {
                text: text.clone(),
                from: from.clone(),
            })
            .collect()
    }

    /// E.g. `toxicity: ensemble.method=soft, ensemble.size=3`.
    pub fn describe(&self) -> String {
        let values: Vec<String> = self
            .values
            .iter()
            .map(|(axis, label)| format!("{axis}={label}"))
            .collect();
        format!("{}: {}", self.experiment, values.join(", "))
    }
}

/// Why a sweep file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("cannot read sweep file {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}, line {line}: {error}")]
    Setting {
        path: String,
        line: usize,
        error: Box<ConfigError>,
    },
    #[error("{path}, line {line}: {message}")]
    Shape { path: String, line: usize, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    #[serde(default)]
    description: String,
    experiments: Vec<String>,
    seeds: Option<Vec<u64>>,
    #[serde(default)]
    set: toml::Table,
    axes: toml::Table,
}

const LABEL_KEY: &str = "label";

impl Sweep {
    /// Reads and checks `path`.
    ///
    /// # Errors
    /// [`SweepError`] naming the file, and the line and key of a bad setting.
    pub fn load(path: &Path) -> Result<Self, SweepError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| SweepError::Read {
            path: shown.clone(),
            error,
        })?;
        let name = path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        Self::parse(&name, &text, &shown)
    }

    /// Parses the text of a sweep file; `path` names it in messages.
    ///
    /// # Errors
    /// As [`Sweep::load`], except for reading the file.
    pub fn parse(name: &str, text: &str, path: &str) -> Result<Self, SweepError> {
        let file: SweepFile = toml::from_str(text).map_err(|e| SweepError::Parse {
            path: path.to_string(),
            message: e.to_string(),
        })?;
        let reader = Reader { text, path };
        if file.experiments.is_empty() {
            return Err(reader.shape(
                "experiments",
                "`experiments` is empty: name at least one file of experiments/",
            ));
        }
        if file.axes.is_empty() {
            return Err(reader.shape(
                "axes",
                "`[axes]` is empty: give at least one key and the list of values to try",
            ));
        }
        let mut fixed = Vec::new();
        if let Some(seeds) = file.seeds {
            let value = toml::Value::Array(seeds.into_iter().map(|s| toml::Value::Integer(s as i64)).collect());
            fixed.push(reader.setting("seeds", value, "in `seeds`")?);
        }
        for (key, value) in file.set {
            fixed.push(reader.setting(&key, value, "in `[set]`")?);
        }
        let axes = file
            .axes
            .into_iter()
            .map(|(name, values)| reader.axis(name, values))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            name: name.to_string(),
            description: file.description,
            experiments: file.experiments,
            fixed,
            axes,
        })
    }

    /// Every cell, experiments outermost and the last axis varying fastest.
    pub fn cells(&self) -> Vec<Cell> {
        let mut points: Vec<Vec<&AxisValue>> = vec![Vec::new()];
        for axis in &self.axes {
            points = points
                .into_iter()
                .flat_map(|point| {
                    axis.values
                        .iter()
                        .map(move |value| [point.clone(), vec![value]].concat())
                })
                .collect();
        }
        let mut cells = Vec::new();
        for experiment in &self.experiments {
            for point in &points {
                let values = self
                    .axes
                    .iter()
                    .zip(point)
                    .map(|(axis, value)| (axis.name.clone(), value.label.clone()))
                    .collect();
                let settings: Vec<&Setting> = self
                    .fixed
                    .iter()
                    .chain(point.iter().flat_map(|value| &value.settings))
                    .collect();
                let overrides = settings.iter().map(|s| s.to_override()).collect();
                let sources = settings.iter().map(|s| s.from.clone()).collect();
                cells.push(Cell {
                    index: cells.len(),
                    experiment: experiment.clone(),
                    values,
                    overrides,
                    sources,
                });
            }
        }
        cells
    }
}

/// Checks the file's pieces, with line numbers for messages.
struct Reader<'a> {
    text: &'a str,
    path: &'a str,
}

impl Reader<'_> {
    fn axis(&self, name: String, values: toml::Value) -> Result<Axis, SweepError> {
        let toml::Value::Array(values) = values else {
            return Err(self.shape(
                &name,
                &format!("axis `{name}` must be a list of values, e.g. \"{name}\" = [1, 2]"),
            ));
        };
        if values.is_empty() {
            return Err(self.shape(&name, &format!("axis `{name}` has no values")));
        }
        let values = values
            .into_iter()
            .map(|value| self.axis_value(&name, value))
            .collect::<Result<Vec<_>, _>>()?;
        let mut labels: Vec<&str> = values.iter().map(|v| v.label.as_str()).collect();
        labels.sort_unstable();
        if let Some(pair) = labels.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(self.shape(&name, &format!("axis `{name}` lists `{}` twice", pair[0])));
        }
        Ok(Axis { name, values })
    }

    /// A value of a config key, or a table of several settings for an axis that is not one.
    fn axis_value(&self, axis: &str, value: toml::Value) -> Result<AxisValue, SweepError> {
        let from = format!("in axis `{axis}`");
        let toml::Value::Table(mut table) = value else {
            let setting = self.setting(axis, value, &from)?;
            return Ok(AxisValue {
                label: label_of(&setting.value),
                settings: vec![setting],
            });
        };
        let label = match table.remove(LABEL_KEY) {
            Some(toml::Value::String(label)) => Some(label),
            Some(_) => {
                return Err(self.shape(
                    axis,
                    &format!("the `label` of a value of axis `{axis}` must be a string"),
                ));
            }
            None => None,
        };
        if table.is_empty() {
            return Err(self.shape(axis, &format!("a value of axis `{axis}` sets no config key")));
        }
        let settings = table
            .into_iter()
            .map(|(key, value)| self.setting(&key, value, &from))
            .collect::<Result<Vec<_>, _>>()?;
        let label = label.unwrap_or_else(|| {
            settings
                .iter()
                .map(|s| label_of(&s.value))
                .collect::<Vec<_>>()
                .join(" / ")
        });
        Ok(AxisValue { label, settings })
    }

    fn setting(&self, key: &str, value: toml::Value, from: &str) -> Result<Setting, SweepError> {
        let from = format!("{from} of {}", self.path);
        match check_setting(key, value, &from) {
            Ok(value) => Ok(Setting {
                key: key.to_string(),
                value,
                from,
            }),
            Err(error) => Err(SweepError::Setting {
                path: self.path.to_string(),
                line: self.line_of(key),
                error: Box::new(error),
            }),
        }
    }

    fn shape(&self, key: &str, message: &str) -> SweepError {
        SweepError::Shape {
            path: self.path.to_string(),
            line: self.line_of(key),
            message: message.to_string(),
        }
    }

    /// The first line that mentions `key` (1-based), or 1.
    fn line_of(&self, key: &str) -> usize {
        self.text
            .lines()
            .position(|line| line.contains(key))
            .map_or(1, |i| i + 1)
    }
}

/// How a value is shown: strings without quotes, lists as `a+b`.
fn label_of(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => text.clone(),
        toml::Value::Array(items) => items.iter().map(label_of).collect::<Vec<_>>().join("+"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ExperimentConfig;

    const SWEEP: &str = r#"
description = "methods"
experiments = ["toxicity", "legal"]
seeds = [0, 1]

[set]
"data.n_test" = 50

[axes]
"ensemble.method" = ["hard", "soft"]
"ensemble.size" = [2, 3, 4]
models = [
    { label = "small", "weak.models" = ["a"], "strong.model" = "b" },
    { "weak.models" = ["a", "c"], "strong.model" = "d" },
]
"#;

    fn sweep() -> Sweep {
        Sweep::parse("methods", SWEEP, "methods.toml").unwrap()
    }

    #[test]
    fn cells_are_the_product_of_the_axes_for_each_experiment() {
        let cells = sweep().cells();
        assert_eq!(cells.len(), 2 * 2 * 3 * 2);
        assert!(cells.iter().enumerate().all(|(i, cell)| cell.index == i));
        let first = &cells[0];
        assert_eq!(first.experiment, "toxicity");
        assert_eq!(
            first.values,
            [("ensemble.method", "hard"), ("ensemble.size", "2"), ("models", "small")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert_eq!(
            first.overrides,
            [
                "seeds=[0, 1]",
                "data.n_test=50",
                "ensemble.method=\"hard\"",
                "ensemble.size=2",
                "weak.models=[\"a\"]",
                "strong.model=\"b\""
            ]
        );
        // The last axis varies fastest; a table value without a label is labelled by its values.
        assert_eq!(cells[1].values[2].1, "a+c / d");
        assert_eq!(cells[12].experiment, "legal");
    }

    #[test]
    fn cell_overrides_load_as_a_config() {
        let base = r#"
name = "toxicity"
dataset = "toxicity"
seeds = [7]
[data]
n_weak = 10
n_transfer = 10
n_test = 10
max_len = 8
[weak]
models = ["m"]
[strong]
model = "m"
"#;
        let cell = &sweep().cells()[5];
        let config = ExperimentConfig::from_toml_str(base, "toxicity.toml", &cell.overrides).unwrap();
        assert_eq!(config.seeds, [0, 1]);
        assert_eq!(config.data.n_test, crate::config::SplitSize::Count(50));
        assert_eq!(config.ensemble.size, 4);
        assert_eq!(config.weak.models, ["a", "c"]);
        assert_eq!(config.strong.model, "d");
    }

    #[test]
    fn a_cell_says_where_the_sweep_sets_each_override() {
        let cell = &sweep().cells()[0];
        let sourced = cell.sourced_overrides();
        assert_eq!(sourced.len(), cell.overrides.len());
        assert_eq!(sourced[0].from, "in `seeds` of methods.toml");
        assert_eq!(sourced[1].text, "data.n_test=50");
        assert_eq!(sourced[1].from, "in `[set]` of methods.toml");
        assert_eq!(sourced[2].from, "in axis `ensemble.method` of methods.toml");
    }

    #[test]
    fn an_unknown_key_is_rejected_with_its_line_and_the_valid_keys() {
        let text = SWEEP.replace("\"ensemble.size\" = [2, 3, 4]", "\"ensemble.sise\" = [2, 3, 4]");
        let error = Sweep::parse("m", &text, "methods.toml").unwrap_err().to_string();
        assert!(error.starts_with("methods.toml, line 11:"), "{error}");
        assert!(
            error.contains("ensemble.sise") && error.contains("ensemble.size") && error.contains("Valid keys"),
            "{error}"
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_names_the_axis() {
        let text = SWEEP.replace("[2, 3, 4]", "[2, \"three\"]");
        let error = Sweep::parse("m", &text, "methods.toml").unwrap_err().to_string();
        assert!(
            error.contains("line 11") && error.contains("ensemble.size") && error.contains("integer"),
            "{error}"
        );
        let text = SWEEP.replace("[\"hard\", \"soft\"]", "[\"hard\", \"median\"]");
        let error = Sweep::parse("m", &text, "methods.toml").unwrap_err().to_string();
        assert!(error.contains("ensemble.method") && error.contains("median"), "{error}");
    }

    #[test]
    fn malformed_sweeps_are_rejected() {
        for (text, expected) in [
            ("experiments = []\n[axes]\nseeds = [[0]]", "`experiments` is empty"),
            ("experiments = [\"x\"]\n[axes]", "`[axes]` is empty"),
            ("experiments = [\"x\"]\n[axes]\n\"ensemble.size\" = 3", "must be a list"),
            ("experiments = [\"x\"]\n[axes]\n\"ensemble.size\" = []", "has no values"),
            (
                "experiments = [\"x\"]\n[axes]\n\"ensemble.size\" = [2, 2]",
                "lists `2` twice",
            ),
            (
                "experiments = [\"x\"]\naxis = 1\n[axes]\n\"ensemble.size\" = [2]",
                "unknown field `axis`",
            ),
            (
                "experiments = [\"x\"]\n[axes]\npair = [{ label = \"x\" }]",
                "sets no config key",
            ),
        ] {
            let error = Sweep::parse("m", text, "m.toml").unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}
