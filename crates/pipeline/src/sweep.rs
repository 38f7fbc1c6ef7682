//! Running the cells of a sweep, locally one after another or as a Slurm job array.
//!
//! A cell runs as its own `w2s train` process with the cell's overrides, its output going to
//! `log.txt` in the cell's run folder. Both runners start cells the same way, so a sweep started
//! on one can be finished on the other. A cell is finished when its run folder has
//! `results.json` (written last, atomically); a cell whose process failed gets `failed.json`. Stages
//! are cached by content, so cells that share teachers train them once.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use w2s_core::aggregate::{CellOutcome, CellRecord, SweepSummary, aggregate};
use w2s_core::config::{ExperimentConfig, SizeError, SourcedOverride};
use w2s_core::io::{read_json, write_atomic, write_json_atomic};
use w2s_core::report::RunResults;
use w2s_core::suite::{SuiteSummary, suite_summary};
use w2s_core::sweep::{Cell, Sweep};

use crate::study::{RunEnv, SKIPPED_FILE, Skipped, plan_experiment, run_dir, train_teachers_and_ceiling};
use crate::{available_names, experiment_path};

/// The folder of sweep files inside the experiments folder.
pub const SWEEPS_DIR: &str = "ablations";
/// A cell's output, in its run folder.
pub const LOG_FILE: &str = "log.txt";
const RESULTS_FILE: &str = "results.json";
const FAILED_FILE: &str = "failed.json";
/// Lines of a failed cell's log kept in `failed.json`.
const ERROR_LINES: usize = 5;

/// A cell with its resolved config and run folder.
#[derive(Debug, Clone)]
pub struct SweepCell {
    pub cell: Cell,
    pub experiment_file: PathBuf,
    pub config: ExperimentConfig,
    pub run_dir: PathBuf,
}

/// A loaded sweep whose every cell resolved to a valid config.
#[derive(Debug, Clone)]
pub struct LoadedSweep {
    pub sweep: Sweep,
    pub file: PathBuf,
    pub cells: Vec<SweepCell>,
    /// The backend and precision that the cells run with (`libtorch-cpu f32`); `None` to take
    /// results of any (`w2s aggregate`).
    pub compute: Option<String>,
}

impl LoadedSweep {
    /// The sweep whose cells count as done only with results computed with `compute`.
    pub fn computed_on(self, compute: &str) -> Self {
        Self {
            compute: Some(compute.to_string()),
            ..self
        }
    }

    /// Where `cell` stands (see [`cell_outcome`]).
    pub fn outcome(&self, cell: &SweepCell) -> CellOutcome {
        cell_outcome(&cell.run_dir, self.compute.as_deref())
    }
}

/// The sweep file for `name`: a path to a `.toml` file, or `<experiments>/ablations/<name>.toml`.
pub fn sweep_file(name: &str, experiments_dir: &Path) -> PathBuf {
    if name.ends_with(".toml") {
        PathBuf::from(name)
    } else {
        experiments_dir.join(SWEEPS_DIR).join(format!("{name}.toml"))
    }
}

/// Where the experiment files are and where runs go.
#[derive(Debug, Clone, Copy)]
pub struct SweepDirs<'a> {
    /// The experiment files, with the sweep files in [`SWEEPS_DIR`].
    pub experiments: &'a Path,
    /// Outputs: the cells' run folders.
    pub out: &'a Path,
}

/// Loads the sweep `file` and resolves every cell's config (with `overrides` applied last), so
/// that a bad key, value or experiment fails before anything runs. With `experiments`, only
/// those experiments' cells are kept (with their indices in the whole sweep).
pub fn load_sweep(file: &Path, experiments: &[String], overrides: &[String], dirs: SweepDirs) -> Result<LoadedSweep> {
    let experiments_dir = dirs.experiments;
    if !file.exists() {
        bail!(
            "sweep file {} not found ({})",
            file.display(),
            available_names(&experiments_dir.join(SWEEPS_DIR))
        );
    }
    let sweep = Sweep::load(file)?;
    if let Some(unknown) = experiments.iter().find(|e| !sweep.experiments.contains(e)) {
        bail!(
            "{} has no experiment `{unknown}`; it sweeps {}",
            file.display(),
            sweep.experiments.join(", ")
        );
    }
    let cells = sweep
        .cells()
        .into_iter()
        .filter(|cell| experiments.is_empty() || experiments.contains(&cell.experiment))
        .map(|cell| {
            let experiment_file = experiment_path(&cell.experiment, experiments_dir);
            if !experiment_file.exists() {
                bail!(
                    "{}: cell {} names experiment `{}`, but {} is not found ({})",
                    file.display(),
                    cell.index,
                    cell.experiment,
                    experiment_file.display(),
                    available_names(experiments_dir)
                );
            }
            let overrides = [cell.sourced_overrides(), SourcedOverride::command_line(overrides)].concat();
            let config = ExperimentConfig::load_sourced(&experiment_file, &overrides)
                .with_context(|| format!("{}: cell {} ({})", file.display(), cell.index, cell.describe()))?;
            let run_dir = run_dir(&config, dirs.out);
            Ok(SweepCell {
                cell,
                experiment_file,
                config,
                run_dir,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(LoadedSweep {
        sweep,
        file: file.to_path_buf(),
        cells,
        compute: None,
    })
}

/// What a failed cell leaves in its run folder.
#[derive(Debug, Serialize, Deserialize)]
struct Failure {
    exit_code: Option<i32>,
    /// The last lines of the log.
    error: String,
}

/// Where a cell stands, from what its run folder holds. With `compute`, results computed with
/// another backend or precision do not count: the cell has not run with this one.
pub fn cell_outcome(run_dir: &Path, compute: Option<&str>) -> CellOutcome {
    let log = run_dir.join(LOG_FILE);
    if let Ok(results) = read_json::<RunResults>(&run_dir.join(RESULTS_FILE)) {
        if compute.is_none_or(|compute| results.compute.as_deref() == Some(compute)) {
            return CellOutcome::Done(Box::new(results));
        }
        return CellOutcome::NotRun;
    }
    if let Ok(skipped) = read_json::<Skipped>(&run_dir.join(SKIPPED_FILE)) {
        return CellOutcome::Skipped { reason: skipped.reason };
    }
    if let Ok(failure) = read_json::<Failure>(&run_dir.join(FAILED_FILE)) {
        return CellOutcome::Failed {
            log,
            error: failure.error,
        };
    }
    if log.exists() {
        CellOutcome::Incomplete { log }
    } else {
        CellOutcome::NotRun
    }
}

/// How to start `w2s` for a cell: the binary and the flags every cell shares (paths, device,
/// precision), which go after the cell's overrides.
#[derive(Debug, Clone)]
pub struct CellCommand {
    pub program: PathBuf,
    pub flags: Vec<String>,
    /// Overrides from the command line, applied to every cell after its own.
    pub extra: Vec<String>,
}

impl CellCommand {
    fn train(&self, cell: &SweepCell) -> Command {
        let mut command = Command::new(&self.program);
        command
            .arg("train")
            .arg(&cell.experiment_file)
            .args(&cell.cell.overrides)
            .args(&self.extra)
            .args(&self.flags);
        command
    }
}

/// Runs one cell to the end as a `w2s train` process whose output is appended to the cell's
/// log; records a failure in `failed.json`. Returns whether the cell succeeded.
pub fn run_cell(cell: &SweepCell, command: &CellCommand) -> Result<bool> {
    let dir = &cell.run_dir;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let log_path = dir.join(LOG_FILE);
    let mut log = File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let mut train = command.train(cell);
    writeln!(
        log,
        "== cell {} ({}) started at unix time {}: {train:?}",
        cell.cell.index,
        cell.cell.describe(),
        unix_now()
    )?;
    let status = train
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("starting {}", command.program.display()))?;
    if status.success() {
        let _ = fs::remove_file(dir.join(FAILED_FILE)); // from an earlier failed attempt, if any
        return Ok(true);
    }
    let error = last_lines(&log_path, ERROR_LINES);
    write_json_atomic(
        &dir.join(FAILED_FILE),
        &Failure {
            exit_code: status.code(),
            error,
        },
    )?;
    Ok(false)
}

/// What a local sweep did.
#[derive(Debug, Default)]
pub struct LocalSummary {
    pub already_done: usize,
    pub ran: usize,
    /// Cells left out by design (a dataset below the minimum size), each saying why in its log.
    pub skipped: usize,
    /// The failed cells' indices and log paths.
    pub failed: Vec<(usize, PathBuf)>,
}

/// Runs every unfinished cell, one after another, with a progress bar of cells done and left.
/// A failed cell does not stop the others.
pub fn run_local(sweep: &LoadedSweep, command: &CellCommand) -> Result<LocalSummary> {
    let todo: Vec<&SweepCell> = sweep.cells.iter().filter(|c| !sweep.outcome(c).is_finished()).collect();
    let mut summary = LocalSummary {
        already_done: sweep.cells.len() - todo.len(),
        ..LocalSummary::default()
    };
    eprintln!(
        "sweep {}: {} cells, {} finished before, {} to run",
        sweep.sweep.name,
        sweep.cells.len(),
        summary.already_done,
        todo.len()
    );
    let progress = cells_progress(todo.len());
    for cell in todo {
        let started = Instant::now();
        progress.set_message(cell.cell.describe());
        let ok = run_cell(cell, command)?;
        let log = cell.run_dir.join(LOG_FILE);
        let skipped = !ok && matches!(sweep.outcome(cell), CellOutcome::Skipped { .. });
        let verdict = match (ok, skipped) {
            (true, _) => "done",
            (false, true) => "skipped (see its log)",
            (false, false) => "FAILED",
        };
        println_above(
            &progress,
            format!(
                "cell {} {verdict} in {}: {} (log {})",
                cell.cell.index,
                format_duration(started.elapsed()),
                cell.cell.describe(),
                log.display()
            ),
        );
        if ok {
            summary.ran += 1;
        } else if skipped {
            summary.skipped += 1;
        } else {
            summary.failed.push((cell.cell.index, log));
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(summary)
}

/// Trains the stages that cells share, the teachers and the ceiling, of every unfinished cell (the
/// Slurm dependency job), so that the array's tasks do not train them side by side. A cell whose
/// stages fail is reported and skipped: its own task will fail with the same error and be
/// reported as failed, while the other cells go on.
pub fn train_shared_stages(sweep: &LoadedSweep, env: &RunEnv) -> Result<()> {
    let mut failed = 0;
    for cell in &sweep.cells {
        if sweep.outcome(cell).is_finished() {
            continue;
        }
        eprintln!(
            "== shared stages of cell {} ({})",
            cell.cell.index,
            cell.cell.describe()
        );
        match train_teachers_and_ceiling(&cell.config, env) {
            Ok(trained) => eprintln!(
                "cell {}: {trained} stages trained now, the others finished before",
                cell.cell.index
            ),
            Err(error) => {
                failed += 1;
                eprintln!(
                    "cell {}: its shared stages failed, leaving it to its own task: {error:#}",
                    cell.cell.index
                );
            }
        }
    }
    if failed > 0 && failed == sweep.cells.len() {
        bail!("the shared stages of every cell failed");
    }
    Ok(())
}

/// The dry run: each cell, where it stands and which of its stages finished before, and how
/// many distinct stages remain (cells that share a stage count it once).
pub fn describe_plan(sweep: &LoadedSweep, env: &RunEnv) -> Result<String> {
    let mut text = format!(
        "sweep {} ({}): {} cells\n",
        sweep.sweep.name,
        sweep.file.display(),
        sweep.cells.len()
    );
    let mut to_run = BTreeSet::new();
    let mut unknown_students = 0;
    for cell in &sweep.cells {
        let outcome = sweep.outcome(cell);
        let _ = writeln!(
            text,
            "  cell {:>3}  {:<10} {}",
            cell.cell.index,
            outcome_name(&outcome),
            cell.cell.describe()
        );
        let _ = writeln!(text, "            {}", cell.run_dir.display());
        if outcome.is_finished() {
            continue;
        }
        let plan = match plan_experiment(&cell.config, env) {
            Err(error) if error.downcast_ref::<SizeError>().is_some() => {
                let _ = writeln!(text, "            skipped: {error}");
                continue;
            }
            plan => plan.with_context(|| format!("planning cell {}", cell.cell.index))?,
        };
        let cached: Vec<String> = plan
            .iter()
            .filter(|s| s.cached)
            .map(|s| format!("{}/seed {}", s.role, s.seed))
            .collect();
        let pending: Vec<String> = plan
            .iter()
            .filter(|s| !s.cached)
            .map(|s| format!("{}/seed {}", s.role, s.seed))
            .collect();
        let _ = writeln!(text, "            cached: {}", list_or_none(&cached));
        let _ = writeln!(text, "            to run: {}", list_or_none(&pending));
        for stage in plan.into_iter().filter(|s| !s.cached) {
            match stage.key {
                Some(key) => {
                    to_run.insert(key);
                }
                None => unknown_students += 1,
            }
        }
    }
    let _ = writeln!(
        text,
        "{} distinct stages to run, plus {unknown_students} students waiting on their teachers",
        to_run.len()
    );
    Ok(text)
}

fn outcome_name(outcome: &CellOutcome) -> &'static str {
    match outcome {
        CellOutcome::Done(_) => "done",
        CellOutcome::Failed { .. } => "failed",
        CellOutcome::Incomplete { .. } => "incomplete",
        CellOutcome::NotRun => "not run",
        CellOutcome::Skipped { .. } => "skipped",
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// What `w2s aggregate` wrote.
pub struct Aggregated {
    pub summary: SweepSummary,
    /// The sweep read as a suite, when it has a `dataset` axis.
    pub suite: Option<SuiteSummary>,
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
    /// E.g. no font was found for the PNG plots.
    pub warnings: Vec<String>,
}

/// Collects every cell into `aggregate.{json,csv,md}` and plots in `dir`.
pub fn aggregate_sweep(sweep: &LoadedSweep, dir: &Path) -> Result<Aggregated> {
    let records: Vec<CellRecord> = sweep
        .cells
        .iter()
        .map(|cell| CellRecord {
            index: cell.cell.index,
            experiment: cell.cell.experiment.clone(),
            values: cell.cell.values.clone(),
            run_dir: cell.run_dir.clone(),
            outcome: sweep.outcome(cell),
        })
        .collect();
    let mut warnings = mixed_compute_warning(&records).into_iter().collect::<Vec<_>>();
    let summary = aggregate(&sweep.sweep.name, &records);
    let mut files = Vec::new();
    for (name, text) in [
        ("aggregate.json", serde_json::to_string_pretty(&summary)?),
        ("aggregate.csv", summary.to_csv()),
        ("aggregate.md", summary.to_markdown()),
    ] {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
        files.push(path);
    }
    let plots = w2s_plot::write_plots(&summary, dir).context("plotting the sweep")?;
    files.extend(plots.files);
    warnings.extend(plots.warnings);
    let suite = suite_summary(&summary);
    if let Some(suite) = &suite {
        files.extend(write_suite(suite, &sweep.sweep.name, dir)?);
    }
    Ok(Aggregated {
        summary,
        suite,
        dir: dir.to_path_buf(),
        files,
        warnings,
    })
}

/// The suite's report, `suite.{json,csv,md}`, and a plot per paired comparison.
fn write_suite(suite: &SuiteSummary, sweep: &str, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for (name, text) in [
        ("suite.json", serde_json::to_string_pretty(suite)?),
        ("suite.csv", suite.to_csv()),
        ("suite.md", suite.to_markdown(sweep)),
    ] {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
        files.push(path);
    }
    for (i, comparison) in suite.comparisons.iter().enumerate() {
        let path = dir.join(format!("suite-paired-{}.png", i + 1));
        let title = format!("PGR per dataset: {} against {}", comparison.method, comparison.baseline);
        w2s_plot::write_paired_scatter(
            &path,
            &title,
            &format!("PGR, {}", comparison.baseline),
            &format!("PGR, {}", comparison.method),
            &comparison.points,
        )
        .with_context(|| format!("plotting {}", path.display()))?;
        files.push(path);
    }
    Ok(files)
}

/// A warning when finished cells were computed with different backends or precisions, whose
/// results differ by more than the effect a sweep looks for.
fn mixed_compute_warning(records: &[CellRecord]) -> Option<String> {
    let mut computes = BTreeSet::new();
    for record in records {
        if let CellOutcome::Done(results) = &record.outcome {
            computes.insert(results.compute.as_deref().unwrap_or("unrecorded"));
        }
    }
    (computes.len() > 1).then(|| {
        let list: Vec<&str> = computes.into_iter().collect();
        format!(
            "the cells were computed with different backends or precisions ({}); run the sweep again with one \
             `--device` and `--precision` to make them comparable",
            list.join(", ")
        )
    })
}

/// Prints a line above the bar, or to stderr when the bar is hidden (not a terminal).
fn println_above(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}")
    } else {
        bar.println(line)
    }
}

fn cells_progress(cells: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(cells as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("cells [{bar:30}] {pos}/{len} done, {elapsed} elapsed, ~{eta} left | {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_secs(1));
    bar
}

/// `1h02m`, `3m05s` or `12s`.
pub fn format_duration(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    match (seconds / 3600, seconds / 60 % 60, seconds % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The last `n` non-empty lines of a text file (empty when unreadable).
fn last_lines(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_is_done_failed_incomplete_or_not_run_by_what_its_folder_holds() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        assert!(matches!(cell_outcome(&run, None), CellOutcome::NotRun));
        fs::create_dir_all(&run).unwrap();
        fs::write(run.join(LOG_FILE), "started\n").unwrap();
        assert!(matches!(cell_outcome(&run, None), CellOutcome::Incomplete { .. }));
        write_json_atomic(
            &run.join(FAILED_FILE),
            &Failure {
                exit_code: Some(1),
                error: "boom".into(),
            },
        )
        .unwrap();
        match cell_outcome(&run, None) {
            CellOutcome::Failed { log, error } => assert_eq!((log, error.as_str()), (run.join(LOG_FILE), "boom")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_cell_is_done_only_with_results_of_the_same_backend_and_precision() {
        let dir = tempfile::tempdir().unwrap();
        let results = w2s_core::testing::run("demo", &[(0.7, 0.8, 0.9)], 0.05).computed_on("flex f32");
        write_json_atomic(&dir.path().join(RESULTS_FILE), &results).unwrap();
        assert!(matches!(
            cell_outcome(dir.path(), Some("flex f32")),
            CellOutcome::Done(_)
        ));
        assert!(matches!(
            cell_outcome(dir.path(), Some("cuda bf16")),
            CellOutcome::NotRun
        ));
        assert!(
            matches!(cell_outcome(dir.path(), None), CellOutcome::Done(_)),
            "aggregate takes any"
        );
    }

    #[test]
    fn cells_of_different_backends_are_flagged() {
        let record = |index: usize, compute: &str| CellRecord {
            index,
            experiment: "demo".into(),
            values: Default::default(),
            run_dir: PathBuf::from(format!("runs/{index}")),
            outcome: CellOutcome::Done(Box::new(
                w2s_core::testing::run("demo", &[(0.7, 0.8, 0.9)], 0.05).computed_on(compute),
            )),
        };
        assert_eq!(
            mixed_compute_warning(&[record(0, "cuda bf16"), record(1, "cuda bf16")]),
            None
        );
        let warning = mixed_compute_warning(&[record(0, "cuda bf16"), record(1, "libtorch-cpu f32")]).unwrap();
        assert!(warning.contains("cuda bf16, libtorch-cpu f32"), "{warning}");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(Duration::from_secs(12)), "12s");
        assert_eq!(format_duration(Duration::from_secs(185)), "3m05s");
        assert_eq!(format_duration(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn last_lines_skips_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        fs::write(&path, "a\nb\n\nc\nd\n\n").unwrap();
        assert_eq!(last_lines(&path, 3), "b\nc\nd");
        assert_eq!(last_lines(&dir.path().join("missing"), 3), "");
    }
}
