//! `w2s`: weak-to-strong generalization studies.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use w2s_cli::threads::{SLURM_CPUS, resolve_threads};
use w2s_cli::{AblateArgs, Backend, parse_ablate_args, parse_run_args};
use w2s_core::aggregate::CellOutcome;
use w2s_core::config::ExperimentConfig;
use w2s_data::{Registry, resolve_data_root};
use w2s_models::needs_fetch;
use w2s_pipeline::generative::run_generative;
use w2s_pipeline::slurm::{ClusterOptions, SweepJobs};
use w2s_pipeline::study::{RunEnv, run_experiment};
use w2s_pipeline::sweep::{
    CellCommand, LOG_FILE, LoadedSweep, SweepDirs, aggregate_sweep, describe_plan, load_sweep, run_cell, run_local,
    sweep_file, train_shared_stages,
};
use w2s_train::{Compute, set_threads};

#[derive(Parser)]
#[command(
    name = "w2s",
    version,
    about = "Weak-to-strong generalization studies: weak teachers label data, a strong student learns from them."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every stage of an experiment: `w2s train experiment=legal [key=value ...]`.
    Train {
        /// `experiment=<name>` (from --experiments) or a path to a .toml file, then `key=value` overrides,
        /// e.g. `profile=gpu`, `seeds=[0,1,2]`, `strong.loss=logconf`.
        #[arg(required = true, value_name = "ARGS")]
        args: Vec<String>,
        #[command(flatten)]
        paths: Paths,
        #[command(flatten)]
        run: RunFlags,
        /// Recompute stages that finished before.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        fetch: FetchFlag,
    },
    /// Run every cell of a sweep: `w2s ablate name=<sweep> [backend=slurm] [key=value ...]`.
    ///
    /// The sweep is experiments/ablations/<sweep>.toml. Finished cells are skipped and stages that
    /// cells share are trained once, so an interrupted sweep is finished by running it again.
    Ablate {
        /// `name=<sweep>` (or a path to a sweep file), `backend=local|slurm`, `experiment=a,b`
        /// to run only some of its experiments, then `key=value` overrides applied to every
        /// cell, e.g. `profile=gpu`.
        #[arg(required = true, value_name = "ARGS")]
        args: Vec<String>,
        #[command(flatten)]
        paths: Paths,
        #[command(flatten)]
        run: RunFlags,
        /// List the cells and which of their stages finished before; run nothing.
        #[arg(long)]
        dry_run: bool,
        /// Run only this cell (what each task of a Slurm job array does).
        #[arg(long, value_name = "INDEX", conflicts_with_all = ["dry_run", "shared"])]
        cell: Option<usize>,
        /// Train only the stages that cells share, teachers and ceilings (the Slurm dependency job).
        #[arg(long, conflicts_with = "dry_run")]
        shared: bool,
        #[command(flatten)]
        cluster: ClusterFlags,
        #[command(flatten)]
        fetch: FetchFlag,
    },
    /// Collect the cells of a sweep into tables (CSV, JSON, Markdown) and plots (PNG, SVG).
    Aggregate {
        /// `name=<sweep>` or a path to a sweep file, then the overrides the sweep ran with.
        #[arg(required = true, value_name = "ARGS")]
        args: Vec<String>,
        #[command(flatten)]
        paths: Paths,
    },
    /// Print the resolved config of an experiment, its hash and every key that can be overridden.
    Config {
        #[arg(required = true, value_name = "ARGS")]
        args: Vec<String>,
        #[command(flatten)]
        paths: Paths,
    },
    /// List the registered datasets, loading each to count its examples per class.
    Datasets {
        #[command(flatten)]
        paths: Paths,
    },
}

/// How stages run. The backend and half precision change the results, so stage keys and the
/// results record them; the rest changes nothing that is cached.
#[derive(Args)]
struct RunFlags {
    /// auto, cpu, cuda:N, flex or libtorch-cpu. `auto` is cuda:0 when the libtorch backend
    /// (`--features tch`) sees a GPU, else `cpu`, the faster CPU backend of this build.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Data-parallel training over several devices of one backend, e.g. `cuda:0,cuda:1`: each
    /// step splits its batch (`batch_size`) over them and sums their gradients; the first device
    /// also labels. One device is the same as `--device`.
    #[arg(long, conflicts_with = "device", value_name = "LIST")]
    devices: Option<String>,
    /// f32, bf16 (a GPU, or libtorch on the CPU) or f16 (a GPU): the model runs in half
    /// precision, the weights, optimizer state, loss and metrics stay in f32.
    #[arg(long, default_value = "f32")]
    precision: String,
    /// Do not save the fine-tuned weights (HF layout) in the stage folders.
    #[arg(long)]
    no_save_weights: bool,
    /// CPU threads for libtorch's intra-op work and flex's pool [default: $SLURM_CPUS_PER_TASK
    /// when set, else every core]. Results do not depend on it (on libtorch, at most in the last
    /// bits), so it is not part of any cache key; the results record it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
}

impl RunFlags {
    /// The same flags, for a `w2s` process that runs a cell.
    fn to_args(&self) -> Vec<String> {
        let mut args = match &self.devices {
            Some(list) => vec!["--devices".to_string(), list.clone()],
            None => vec!["--device".to_string(), self.device.clone()],
        };
        args.extend(["--precision".to_string(), self.precision.clone()]);
        if self.no_save_weights {
            args.push("--no-save-weights".into());
        }
        if let Some(threads) = self.threads {
            args.extend(["--threads".to_string(), threads.to_string()]);
        }
        args
    }
}

#[derive(Args)]
struct FetchFlag {
    /// Print the registry models that the run needs and that are not in --pretrained yet, one
    /// per line, and exit (`just train` and `just ablate` fetch them first).
    #[arg(long)]
    missing_models: bool,
}

/// Slurm settings for `backend=slurm`: a cluster profile file, overridden by the flags.
#[derive(Args)]
struct ClusterFlags {
    /// A TOML file with any of partition, account, time, gpus_per_task, cpus_per_task, mem, extra_args.
    #[arg(long, value_name = "FILE")]
    cluster: Option<PathBuf>,
    #[arg(long)]
    partition: Option<String>,
    #[arg(long)]
    account: Option<String>,
    /// Time limit per cell, e.g. `4:00:00`.
    #[arg(long)]
    time: Option<String>,
    /// GPUs per cell [default: 1, or the profile's].
    #[arg(long)]
    gpus: Option<u32>,
    #[arg(long)]
    cpus: Option<u32>,
    /// Memory per cell, e.g. `32G`.
    #[arg(long)]
    mem: Option<String>,
}

impl ClusterFlags {
    fn options(&self) -> Result<ClusterOptions> {
        let mut options = match &self.cluster {
            Some(path) => ClusterOptions::load(path)?,
            None => ClusterOptions {
                gpus_per_task: 1,
                ..ClusterOptions::default()
            },
        };
        let or = |flag: &Option<String>, profile: Option<String>| flag.clone().or(profile);
        options.partition = or(&self.partition, options.partition);
        options.account = or(&self.account, options.account);
        options.time = or(&self.time, options.time);
        options.mem = or(&self.mem, options.mem);
        options.gpus_per_task = self.gpus.unwrap_or(options.gpus_per_task);
        options.cpus_per_task = self.cpus.or(options.cpus_per_task);
        Ok(options)
    }
}

#[derive(Args)]
struct Paths {
    /// Folder of experiment configs.
    #[arg(long, default_value = "experiments")]
    experiments: PathBuf,
    /// Folder of dataset registry entries.
    #[arg(long, default_value = "datasets")]
    datasets: PathBuf,
    /// Root of the data files [default: $W2S_DATA_ROOT, else ../shared/data].
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Outputs: runs/ and the stage cache.
    #[arg(long, default_value = "checkpoints")]
    out: PathBuf,
    /// Pretrained models in HF layout, as fetched by `just models`.
    #[arg(long, default_value = "checkpoints/pretrained")]
    pretrained: PathBuf,
}

impl Paths {
    /// The same paths, for a `w2s` process that runs a cell.
    fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut add = |flag: &str, path: &Path| args.extend([flag.to_string(), path.display().to_string()]);
        add("--experiments", &self.experiments);
        add("--datasets", &self.datasets);
        if let Some(root) = &self.data_root {
            add("--data-root", root);
        }
        add("--out", &self.out);
        add("--pretrained", &self.pretrained);
        args
    }
}

fn main() -> ExitCode {
    end_quietly_on_closed_stdout();
    w2s_train::host_memory::keep_freed_memory();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Rust starts programs with SIGPIPE ignored, so printing into a pipe whose reader has gone
/// (`w2s config experiment=legal | head`) panics. Restores the default action, under which the
/// process ends quietly, as other Unix tools do. w2s writes into no other pipe.
#[cfg(unix)]
fn end_quietly_on_closed_stdout() {
    const SIGPIPE: std::ffi::c_int = 13;
    const SIG_DFL: usize = 0;
    unsafe extern "C" {
        fn signal(signum: std::ffi::c_int, handler: usize) -> usize;
    }
    // SAFETY: called first thing in `main`, before any other thread exists; setting a signal's
    // action to its default involves no handler code.
    unsafe { signal(SIGPIPE, SIG_DFL) };
}

#[cfg(not(unix))]
fn end_quietly_on_closed_stdout() {}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train {
            args,
            paths,
            run,
            force,
            fetch,
        } => train(&args, &paths, &run, force, fetch.missing_models),
        Command::Ablate {
            args,
            paths,
            run,
            dry_run,
            cell,
            shared,
            cluster,
            fetch,
        } => {
            let words = parse_ablate_args(&args)?;
            if fetch.missing_models {
                let sweep = load_sweep_of(&words, &paths)?;
                print_missing_models(sweep.cells.iter().map(|c| &c.config), &paths.pretrained);
                return Ok(());
            }
            ablate(&words, &paths, &run, AblateMode { dry_run, cell, shared }, &cluster)
        }
        Command::Aggregate { args, paths } => {
            let words = parse_ablate_args(&args)?;
            let sweep = load_sweep_of(&words, &paths)?;
            let output = aggregate_sweep(&sweep, &sweep_dir(&paths, &sweep))?;
            println!("{}", output.summary.to_table());
            if let Some(suite) = &output.suite {
                println!("Suite (suite.md has each dataset):\n{}", suite.to_table());
            }
            for warning in &output.warnings {
                eprintln!("warning: {warning}");
            }
            println!("written to {}", output.dir.display());
            Ok(())
        }
        Command::Config { args, paths } => {
            let config = load_config(&args, &paths)?;
            println!("# config hash {}", config.hash());
            println!("{}", toml::to_string_pretty(&config)?);
            println!(
                "# keys that can be overridden with key=value:\n# {}",
                ExperimentConfig::valid_keys().join(" ")
            );
            Ok(())
        }
        Command::Datasets { paths } => list_datasets(&paths),
    }
}

/// Runs every stage of the experiment `args` name and prints its table; with `missing_models`,
/// only prints the registry models it needs that are not fetched yet.
fn train(args: &[String], paths: &Paths, run: &RunFlags, force: bool, missing_models: bool) -> Result<()> {
    let config = load_config(args, paths)?;
    if missing_models {
        print_missing_models([&config], &paths.pretrained);
        return Ok(());
    }
    let env = run_env(paths, run, force)?;
    eprintln!(
        "experiment {} (profile {}, config {})",
        config.name,
        config.profile,
        config.hash()
    );
    if config.generation.is_some() {
        let output = run_generative(&config, &env)?;
        println!("{}", output.results.to_markdown());
        println!("results: {}", output.dir.display());
        return Ok(());
    }
    let output = run_experiment(&config, &env)?;
    println!("{}", output.results.to_table());
    println!("results: {}", output.dir.display());
    Ok(())
}

/// What `w2s ablate` was asked to do besides running the sweep's cells.
struct AblateMode {
    dry_run: bool,
    cell: Option<usize>,
    shared: bool,
}

/// Runs the sweep `words` names: here, on Slurm, one cell, its shared stages, or a dry run.
fn ablate(words: &AblateArgs, paths: &Paths, run: &RunFlags, mode: AblateMode, cluster: &ClusterFlags) -> Result<()> {
    let env = run_env(paths, run, false)?;
    let sweep = load_sweep_of(words, paths)?.computed_on(&env.compute.label());
    let command = CellCommand {
        program: std::env::current_exe().context("locating the w2s binary")?,
        flags: [paths.to_args(), run.to_args()].concat(),
        extra: words.overrides.clone(),
    };
    match (mode.dry_run, mode.cell, mode.shared, words.backend) {
        (true, ..) => {
            print!("{}", describe_plan(&sweep, &env)?);
            Ok(())
        }
        (_, Some(index), ..) => run_one_cell(&sweep, index, &command),
        (_, _, true, _) => train_shared_stages(&sweep, &env),
        (.., Backend::Local) => run_sweep_here(&sweep, &command, words),
        (.., Backend::Slurm) => submit_to_slurm(&sweep, paths, words, run, cluster),
    }
}

/// Lists every registered dataset with its examples per class; fails after the list when any
/// of them cannot be loaded.
fn list_datasets(paths: &Paths) -> Result<()> {
    let registry = Registry::new(&paths.datasets);
    let data_root = resolve_data_root(paths.data_root.as_deref());
    let names = registry.names()?;
    let mut failed = Vec::new();
    for name in &names {
        match registry.load(name, &data_root) {
            Ok(dataset) => println!(
                "{name}: {} examples, {:?} = {:?}",
                dataset.examples.len(),
                dataset.classes,
                dataset.class_counts()
            ),
            Err(error) => {
                println!("{name}: not loadable: {error}");
                failed.push(name.as_str());
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} datasets are not loadable ({}); see above",
            failed.len(),
            names.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// Resolves the devices and precision ([`Compute`]) and where things are.
fn run_env(paths: &Paths, run: &RunFlags, force: bool) -> Result<RunEnv> {
    let compute = Compute::from_flags(run.devices.as_deref().unwrap_or(&run.device), &run.precision)?;
    set_cpu_threads(run)?;
    let threads_note = compute
        .threads()
        .map_or(String::new(), |n| format!(", {n} CPU threads"));
    eprintln!("{}{threads_note}", compute.describe());
    Ok(RunEnv {
        datasets_dir: paths.datasets.clone(),
        data_root: resolve_data_root(paths.data_root.as_deref()),
        pretrained_root: paths.pretrained.clone(),
        out_dir: paths.out.clone(),
        compute,
        force,
        save_weights: !run.no_save_weights,
    })
}

/// The sweep that the words of `w2s ablate` or `w2s aggregate` name, its cells resolved.
fn load_sweep_of(words: &AblateArgs, paths: &Paths) -> Result<LoadedSweep> {
    let file = sweep_file(&words.sweep, &paths.experiments);
    load_sweep(
        &file,
        &words.experiments,
        &words.overrides,
        SweepDirs {
            experiments: &paths.experiments,
            out: &paths.out,
        },
    )
}

/// Sets the CPU threads from `--threads` or Slurm's CPUs per task (see [`resolve_threads`]);
/// without either, the backends keep their defaults.
fn set_cpu_threads(run: &RunFlags) -> Result<()> {
    let slurm = std::env::var(SLURM_CPUS).ok();
    let flag = run.threads.map(|n| n as usize);
    if let Some(n) = resolve_threads(flag, slurm.as_deref())? {
        set_threads(n).map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// Where a sweep's scripts, Slurm output, tables and plots go: `<out>/sweeps/<name>`.
fn sweep_dir(paths: &Paths, sweep: &LoadedSweep) -> PathBuf {
    paths.out.join("sweeps").join(&sweep.sweep.name)
}

/// What each Slurm array task does: run the cell with this index.
fn run_one_cell(sweep: &LoadedSweep, index: usize, command: &CellCommand) -> Result<()> {
    let Some(cell) = sweep.cells.iter().find(|c| c.cell.index == index) else {
        bail!(
            "the sweep {} has no cell {index} (it has {} cells)",
            sweep.file.display(),
            sweep.cells.len()
        );
    };
    if !run_cell(cell, command)? {
        bail!(
            "cell {index} failed; its log is {}",
            cell.run_dir.join(LOG_FILE).display()
        );
    }
    Ok(())
}

fn run_sweep_here(sweep: &LoadedSweep, command: &CellCommand, words: &AblateArgs) -> Result<()> {
    let summary = run_local(sweep, command)?;
    let skipped = match summary.skipped {
        0 => String::new(),
        n => format!(", {n} were skipped (their datasets are below `data.min_examples`)"),
    };
    eprintln!(
        "sweep {}: {} cells ran now, {} had finished before{skipped}; `{}` collects them",
        sweep.sweep.name,
        summary.ran,
        summary.already_done,
        aggregate_command(words)
    );
    if !summary.failed.is_empty() {
        let failed: Vec<String> = summary
            .failed
            .iter()
            .map(|(i, log)| format!("cell {i} (log {})", log.display()))
            .collect();
        bail!("{} cells failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

/// The `w2s aggregate` command line for the cells that `words` ran.
fn aggregate_command(words: &AblateArgs) -> String {
    let mut command = format!("w2s aggregate name={}", words.sweep);
    if !words.experiments.is_empty() {
        command.push_str(&format!(" experiment={}", words.experiments.join(",")));
    }
    for word in &words.overrides {
        command.push(' ');
        command.push_str(word);
    }
    command
}

fn submit_to_slurm(
    sweep: &LoadedSweep,
    paths: &Paths,
    words: &AblateArgs,
    run: &RunFlags,
    cluster: &ClusterFlags,
) -> Result<()> {
    let options = cluster.options()?;
    let todo: Vec<usize> = sweep
        .cells
        .iter()
        .filter(|c| !matches!(sweep.outcome(c), CellOutcome::Done(_)))
        .map(|c| c.cell.index)
        .collect();
    let absolute = |path: &Path| std::path::absolute(path).with_context(|| format!("resolving {}", path.display()));
    let program = std::env::current_exe().context("locating the w2s binary")?;
    let mut command = vec![
        program.display().to_string(),
        "ablate".into(),
        absolute(&sweep.file)?.display().to_string(),
    ];
    if !words.experiments.is_empty() {
        command.push(format!("experiment={}", words.experiments.join(",")));
    }
    command.extend(words.overrides.iter().cloned());
    command.extend(paths.to_args());
    command.extend(run.to_args());
    let dir = absolute(&sweep_dir(paths, sweep))?;
    let workdir = std::env::current_dir()?;
    let jobs = SweepJobs {
        sweep: &sweep.sweep.name,
        w2s_command: &command,
        cells: &todo,
        dir: &dir,
        workdir: &workdir,
    };
    let submitted = jobs.submit(&options)?;
    println!(
        "submitted sweep {}: shared stages as job {}, {} cells as array job {} (after it succeeds)",
        sweep.sweep.name,
        submitted.shared_job,
        todo.len(),
        submitted.array_job
    );
    println!(
        "scripts and Slurm output in {}; each cell logs to its run folder; then `{}`",
        dir.display(),
        aggregate_command(words)
    );
    Ok(())
}

/// Prints the registry models that `configs` fine-tune and that are not in `pretrained` yet,
/// each once, one per line: the names for `just models`.
fn print_missing_models<'a>(configs: impl IntoIterator<Item = &'a ExperimentConfig>, pretrained: &Path) {
    let models: BTreeSet<&str> = configs.into_iter().flat_map(ExperimentConfig::models).collect();
    for model in models.into_iter().filter(|model| needs_fetch(model, pretrained)) {
        println!("{model}");
    }
}

fn load_config(args: &[String], paths: &Paths) -> Result<ExperimentConfig> {
    let (path, overrides) = parse_run_args(args, &paths.experiments)?;
    ExperimentConfig::load(&path, &overrides).with_context(|| format!("loading experiment {}", path.display()))
}
