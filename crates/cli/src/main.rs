//! `w2s`: weak-to-strong generalization studies.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use w2s_cli::parse_run_args;
use w2s_cli::pipeline::{RunEnv, run_experiment};
use w2s_core::config::ExperimentConfig;
use w2s_data::{Registry, resolve_data_root};
use w2s_train::{DeviceChoice, DeviceError, Precision, parse_devices, set_precision};

#[derive(Parser)]
#[command(name = "w2s", version, about = "Weak-to-strong generalization studies: weak teachers label data, a strong student learns from them.")]
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
        /// auto, cpu, cuda:N, flex or libtorch-cpu. `auto` is cuda:0 when the libtorch backend
        /// (`--features tch`) sees a GPU, else `cpu`, the faster CPU backend of this build.
        #[arg(long, default_value = "auto")]
        device: String,
        /// Data-parallel devices, e.g. `cuda:0,cuda:1` (one device only, for now).
        #[arg(long, conflicts_with = "device", value_name = "LIST")]
        devices: Option<String>,
        /// f32, or bf16 / f16 on a GPU: the model runs in half precision, the weights,
        /// optimizer state, loss and metrics stay in f32.
        #[arg(long, default_value = "f32")]
        precision: String,
        /// Recompute stages that finished before.
        #[arg(long)]
        force: bool,
        /// Do not save the fine-tuned weights (HF layout) in the stage folders.
        #[arg(long)]
        no_save_weights: bool,
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

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train { args, paths, device, devices, precision, force, no_save_weights } => {
            let config = load_config(&args, &paths)?;
            let device = match devices {
                Some(list) => match parse_devices(&list)?.as_slice() {
                    [] => return Err(DeviceError::Unknown(list).into()),
                    [one] => *one,
                    many => return Err(DeviceError::MultiDevice(many.len()).into()),
                },
                None => device.parse::<DeviceChoice>()?,
            }
            .concrete()?;
            let precision: Precision = precision.parse()?;
            precision.check(device)?;
            set_precision(precision)?;
            let env = RunEnv {
                datasets_dir: paths.datasets.clone(),
                data_root: resolve_data_root(paths.data_root.as_deref()),
                pretrained_root: paths.pretrained.clone(),
                out_dir: paths.out.clone(),
                device: device.resolve()?,
                force,
                save_weights: !no_save_weights,
            };
            eprintln!(
                "experiment {} (profile {}, config {}) on {device} in {precision}",
                config.name,
                config.profile,
                config.hash()
            );
            let output = run_experiment(&config, &env)?;
            println!("{}", output.results.to_table());
            println!("results: {}", output.dir.display());
            Ok(())
        }
        Command::Config { args, paths } => {
            let config = load_config(&args, &paths)?;
            println!("# config hash {}", config.hash());
            println!("{}", toml::to_string_pretty(&config)?);
            println!("# keys that can be overridden with key=value:\n# {}", ExperimentConfig::valid_keys().join(" "));
            Ok(())
        }
        Command::Datasets { paths } => {
            let registry = Registry::new(&paths.datasets);
            let data_root = resolve_data_root(paths.data_root.as_deref());
            for name in registry.names()? {
                match registry.load(&name, &data_root) {
                    Ok(dataset) => println!("{name}: {} examples, {:?} = {:?}", dataset.examples.len(), dataset.classes, dataset.class_counts()),
                    Err(error) => println!("{name}: not loadable: {error}"),
                }
            }
            Ok(())
        }
    }
}

fn load_config(args: &[String], paths: &Paths) -> Result<ExperimentConfig> {
    let (path, overrides) = parse_run_args(args, &paths.experiments)?;
    ExperimentConfig::load(&path, &overrides).with_context(|| format!("loading experiment {}", path.display()))
}
