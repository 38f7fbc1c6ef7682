//! Bad input through the `w2s` binary: each is refused with a message that says where the
//! problem is and how to fix it, and prints each cause once.

mod common;

use std::fs;
use std::path::Path;

use common::{fixture_flags, fixtures, w2s, write_experiment, write_model_from};

/// Runs `w2s` with `args` and the flags that point it at the fixtures and `root`.
fn run(root: &Path, args: &[&str]) -> (bool, String, String) {
    let flags = fixture_flags(root);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    w2s(&[args, &flags].concat())
}

#[test]
fn an_invalid_value_is_blamed_on_where_it_was_set() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let experiment = write_experiment(root);
    let experiment = experiment.to_str().unwrap();

    let (ok, _, stderr) = run(root, &["train", experiment, "data.n_weak=0", "strong.train.lr=-1"]);
    assert!(!ok);
    assert!(
        stderr.contains("`data.n_weak` must be greater than 0 (from the command line)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`strong.train.lr` = -1 must be a positive number (from the command line)"),
        "{stderr}"
    );

    fs::create_dir_all(root.join("ablations")).unwrap();
    let sweep =
        "experiments = [\"tiny\"]\n\n[set]\n\"data.n_weak\" = 0\n\n[axes]\n\"strong.loss\" = [\"xent\", \"logconf\"]\n";
    fs::write(root.join("ablations/zero.toml"), sweep).unwrap();
    let (ok, _, stderr) = run(root, &["ablate", "name=zero", "--dry-run"]);
    assert!(!ok);
    assert!(stderr.contains("cell 0"), "{stderr}");
    assert!(
        stderr.contains("`data.n_weak` must be greater than 0 (in `[set]` of "),
        "{stderr}"
    );
    assert!(stderr.contains("ablations/zero.toml)"), "{stderr}");
    assert!(!root.join("out").exists(), "nothing ran");
}

#[test]
fn a_name_that_would_leave_the_runs_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let experiment = write_experiment(root);
    let (ok, _, stderr) = run(
        root,
        &[
            "train",
            experiment.to_str().unwrap(),
            "name=tiny/../../escape",
            "seeds=[0]",
        ],
    );
    assert!(!ok);
    assert!(
        stderr.contains("`name` = \"tiny/../../escape\" is not a file name"),
        "{stderr}"
    );
    assert!(stderr.contains("letters, digits, `-`, `_` and `.`"), "{stderr}");
    assert!(!root.join("out").exists(), "nothing ran");
}

#[test]
fn the_datasets_command_fails_after_listing_every_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("datasets");
    fs::create_dir_all(&registry).unwrap();
    let good = fixtures().join("datasets/tiny-sentiment.toml");
    fs::copy(&good, registry.join("tiny-sentiment.toml")).unwrap();
    let broken = fs::read_to_string(&good)
        .unwrap()
        .replace("tiny-sentiment", "broken")
        .replace("sentiment.csv", "absent.csv");
    fs::write(registry.join("broken.toml"), broken).unwrap();
    let data = fixtures().join("data");

    let (ok, stdout, stderr) = w2s(&[
        "datasets",
        "--datasets",
        registry.to_str().unwrap(),
        "--data-root",
        data.to_str().unwrap(),
    ]);
    assert!(!ok, "a broken dataset must fail the command: {stdout}");
    assert!(
        stdout.contains("broken: not loadable: data file") && stdout.contains("absent.csv"),
        "{stdout}"
    );
    assert!(stdout.contains("tiny-sentiment: "), "every dataset is listed: {stdout}");
    assert!(stderr.contains("1 of 2 datasets are not loadable (broken)"), "{stderr}");

    fs::remove_file(registry.join("broken.toml")).unwrap();
    let (ok, _, stderr) = w2s(&[
        "datasets",
        "--datasets",
        registry.to_str().unwrap(),
        "--data-root",
        data.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
}

/// A registry model's folder (`minilm-l3` under `--pretrained`) holding the tiny model.
fn write_pretrained(root: &Path) -> std::path::PathBuf {
    let tiny = fixtures().join("weak");
    write_model_from(
        &tiny.join("config.json"),
        &fixtures().join("tokenizer.json"),
        &root.join("pretrained/minilm-l3"),
    )
}

#[test]
fn a_damaged_pretrained_model_says_each_cause_once_and_how_to_fetch_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let experiment = write_experiment(root);
    let train = |root: &Path| {
        run(
            root,
            &[
                "train",
                experiment.to_str().unwrap(),
                "seeds=[0]",
                "weak.models=[minilm-l3]",
            ],
        )
    };

    let model = write_pretrained(root);
    fs::write(
        model.join("model.safetensors"),
        b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":",
    )
    .unwrap();
    let (ok, _, stderr) = train(root);
    assert!(!ok);
    assert_eq!(stderr.matches("not a valid safetensors file").count(), 1, "{stderr}");
    assert!(
        stderr.contains("fetch it again with `just models minilm-l3`"),
        "{stderr}"
    );

    let model = write_pretrained(root);
    fs::remove_file(model.join("tokenizer.json")).unwrap();
    let (ok, _, stderr) = train(root);
    assert!(!ok);
    assert_eq!(stderr.matches("No such file or directory").count(), 1, "{stderr}");
    assert!(
        stderr.contains("tokenizer.json") && stderr.contains("`just models minilm-l3`"),
        "{stderr}"
    );
}

/// `w2s train` on a small version of the tiny experiment, with `SLURM_CPUS_PER_TASK` set to
/// `slurm_cpus` (or unset); returns whether it succeeded, its stdout and stderr.
fn train_small(root: &Path, experiment: &Path, extra: &[&str], slurm_cpus: Option<&str>) -> (bool, String, String) {
    let small = [
        "seeds=[0]",
        "data.n_weak=40",
        "data.n_transfer=40",
        "data.n_test=20",
        "weak.train.epochs=1",
        "strong.train.epochs=1",
        "ensemble.size=1",
    ];
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_w2s"));
    command
        .arg("train")
        .arg(experiment)
        .args(small)
        .args(extra)
        .args(fixture_flags(root));
    command.env_remove("SLURM_CPUS_PER_TASK");
    if let Some(cpus) = slurm_cpus {
        command.env("SLURM_CPUS_PER_TASK", cpus);
    }
    let output = command.output().unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

/// The `threads` that the one run under `root` recorded in its results.json.
fn recorded_threads(root: &Path) -> serde_json::Value {
    let runs: Vec<_> = fs::read_dir(root.join("out/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let results: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(runs[0].join("results.json")).unwrap()).unwrap();
    results["threads"].clone()
}

/// `--threads` wins over `SLURM_CPUS_PER_TASK`, which sets the threads without it; the results
/// record them (results.json and the table's title), and they are not part of the stage keys.
#[test]
fn the_results_record_the_threads_from_the_flag_or_from_slurm() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let experiment = write_experiment(root);

    let (ok, stdout, stderr) = train_small(root, &experiment, &["--device", "flex", "--threads", "2"], Some("3"));
    assert!(ok, "{stderr}");
    assert!(stderr.contains("device flex, precision f32, 2 CPU threads"), "{stderr}");
    assert!(
        stdout.lines().next().unwrap().ends_with(", flex f32, 2 threads"),
        "{stdout}"
    );
    assert_eq!(recorded_threads(root), 2);

    let (ok, stdout, stderr) = train_small(root, &experiment, &["--device", "flex"], Some("3"));
    assert!(ok, "{stderr}");
    assert!(
        stdout.lines().next().unwrap().ends_with(", flex f32, 3 threads"),
        "{stdout}"
    );
    assert_eq!(recorded_threads(root), 3);
    assert!(
        stderr.contains("student: finished before, reusing it"),
        "the threads are not in the stage keys: {stderr}"
    );

    let (ok, _, stderr) = train_small(root, &experiment, &["--device", "flex"], Some("many"));
    assert!(!ok && stderr.contains("SLURM_CPUS_PER_TASK=\"many\""), "{stderr}");
    let (ok, _, stderr) = train_small(root, &experiment, &["--device", "flex", "--threads", "0"], None);
    assert!(!ok && stderr.contains("--threads"), "{stderr}");
}
