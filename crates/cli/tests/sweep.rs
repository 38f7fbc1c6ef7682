//! Sweeps through the `w2s` binary on tiny random-weight models: shared stages, dry runs,
//! aggregation, bad sweep files, and resuming after SIGKILL.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{fixture_flags, w2s, write_experiment};
use w2s_core::aggregate::SweepSummary;

/// Writes `root/ablations/<name>.toml` and the tiny experiment it sweeps over.
fn write_sweep(root: &Path, name: &str, text: &str) {
    write_experiment(root);
    fs::create_dir_all(root.join("ablations")).unwrap();
    fs::write(root.join("ablations").join(format!("{name}.toml")), text).unwrap();
}

fn run(root: &Path, args: &[&str]) -> (bool, String, String) {
    let flags = fixture_flags(root);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    w2s(&[args, &flags].concat())
}

/// The stage folders in the cache: one per distinct stage trained.
fn cached_stages(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root.join("out/cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    dirs
}

fn read_summary(root: &Path, sweep: &str) -> SweepSummary {
    let path = root.join("out/sweeps").join(sweep).join("aggregate.json");
    serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap()
}

const LOSS_SWEEP: &str = r#"
experiments = ["tiny"]
seeds = [0]

[axes]
"strong.loss" = ["xent", "logconf"]
"#;

#[test]
fn cells_that_share_teachers_train_them_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_sweep(root, "loss", LOSS_SWEEP);

    let (ok, plan, stderr) = run(root, &["ablate", "name=loss", "--dry-run"]);
    assert!(ok, "{stderr}");
    assert!(
        plan.contains("2 cells") && plan.matches("not run").count() == 2,
        "{plan}"
    );
    // Two teachers and the ceiling are the same stages in both cells; each cell has its own student.
    assert!(plan.contains("3 distinct stages to run, plus 2 students"), "{plan}");
    assert!(!root.join("out/cache").exists(), "a dry run trains nothing");

    let (ok, _, stderr) = run(root, &["ablate", "name=loss"]);
    assert!(ok, "{stderr}");
    assert_eq!(
        cached_stages(root).len(),
        2 + 1 + 2,
        "teachers and ceiling once, a student per cell"
    );

    let summary = read_summary_after_aggregate(root, "loss");
    assert_eq!(summary.cells.len(), 2);
    assert!(summary.cells.iter().all(|c| c.status.as_str() == "done"), "{summary:?}");
    let second_log = summary.cells[1].run_dir.join("log.txt");
    let log = fs::read_to_string(&second_log).unwrap();
    assert!(
        log.contains("teacher-0: finished before, reusing it") && log.contains("teacher-1: finished before"),
        "{log}"
    );

    // Running the sweep again runs nothing; the dry run shows every cell done.
    let (ok, _, stderr) = run(root, &["ablate", "name=loss"]);
    assert!(ok && stderr.contains("2 finished before, 0 to run"), "{stderr}");
    let (_, plan, _) = run(root, &["ablate", "name=loss", "--dry-run"]);
    assert_eq!(plan.matches(" done ").count(), 2, "{plan}");
    assert!(plan.contains("0 distinct stages to run, plus 0 students"), "{plan}");
}

fn read_summary_after_aggregate(root: &Path, sweep: &str) -> SweepSummary {
    let (ok, table, stderr) = run(root, &["aggregate", &format!("name={sweep}")]);
    assert!(ok, "{stderr}");
    assert!(table.contains("strong.loss"), "{table}");
    let out = root.join("out/sweeps").join(sweep);
    for file in [
        "aggregate.json",
        "aggregate.csv",
        "aggregate.md",
        "tiny-pgr.svg",
        "tiny-pgr.png",
    ] {
        assert!(out.join(file).exists(), "no {file} in {}", out.display());
    }
    read_summary(root, sweep)
}

#[test]
fn a_bad_sweep_is_rejected_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (name, text, expected) in [
        (
            "typo",
            LOSS_SWEEP.replace("\"strong.loss\"", "\"strong.los\""),
            ["line 6", "strong.los", "strong.loss", "Valid keys"],
        ),
        (
            "type",
            LOSS_SWEEP.replace("[\"xent\", \"logconf\"]", "[\"xent\", 3]"),
            ["line 6", "strong.loss", "takes a string", "got integer `3`"],
        ),
        (
            "unknown-experiment",
            LOSS_SWEEP.replace("\"tiny\"", "\"tinny\""),
            ["tinny.toml", "cell 0", "tiny", "not found"],
        ),
    ] {
        write_sweep(root, name, &text);
        let (ok, _, stderr) = run(root, &["ablate", &format!("name={name}")]);
        assert!(!ok, "{name} ran");
        for word in expected {
            assert!(stderr.contains(word), "{name}: no `{word}` in {stderr}");
        }
    }
    let (ok, _, stderr) = run(root, &["ablate", "name=nope"]);
    assert!(
        !ok && stderr.contains("nope.toml") && stderr.contains("typo"),
        "{stderr}"
    );
    assert!(!root.join("out").exists(), "nothing ran");
}

#[test]
fn train_and_ablate_name_the_registry_models_left_to_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let sweep = LOSS_SWEEP.replace("[axes]", "[axes]\n\"strong.model\" = [\"mpnet-base\", \"minilm-l6\"]");
    write_sweep(root, "models", &sweep);
    let missing = |args: &[&str]| {
        let (ok, stdout, stderr) = run(root, &[args, &["--missing-models"]].concat());
        assert!(ok, "{stderr}");
        stdout
    };

    // The tiny experiment's own models are paths: nothing to fetch.
    assert_eq!(missing(&["train", "experiment=tiny"]), "");
    // A registry model is named once, however many times the run uses it.
    assert_eq!(
        missing(&[
            "train",
            "experiment=tiny",
            "weak.models=[minilm-l3,minilm-l3]",
            "strong.model=mpnet-base"
        ]),
        "minilm-l3\nmpnet-base\n"
    );
    // A sweep names what its cells use, and a fetched model is no longer named.
    assert_eq!(missing(&["ablate", "name=models"]), "minilm-l6\nmpnet-base\n");
    fs::create_dir_all(root.join("pretrained/mpnet-base")).unwrap();
    fs::write(root.join("pretrained/mpnet-base/config.json"), "{}").unwrap();
    assert_eq!(missing(&["ablate", "name=models"]), "minilm-l6\n");
    // A bad config is the same error as for the run itself.
    let (ok, _, stderr) = run(root, &["train", "experiment=tiny", "data.n_wek=5", "--missing-models"]);
    assert!(!ok && stderr.contains("data.n_weak"), "{stderr}");
    assert!(!root.join("out").exists(), "nothing ran");
}

#[test]
fn a_sweep_killed_mid_stage_resumes_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Long enough training that the kill lands in the middle of a stage.
    let sweep = LOSS_SWEEP.replace(
        "[axes]",
        "[set]\n\"strong.train.epochs\" = 40\n\"weak.train.epochs\" = 40\n\n[axes]",
    );
    write_sweep(root, "long", &sweep);

    let flags = fixture_flags(root);
    let mut sweep_process = Command::new(env!("CARGO_BIN_EXE_w2s"));
    sweep_process
        .args(["ablate", "name=long"])
        .args(&flags)
        .stderr(std::process::Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut sweep_process, 0);
    let mut child = sweep_process.spawn().unwrap();
    let checkpoint = wait_for_checkpoint(root, Duration::from_secs(120));
    // SIGKILL the sweep and the cell it is running: nothing gets to clean up.
    let killed = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(killed.success());
    child.wait().unwrap();
    assert!(checkpoint.exists(), "the interrupted stage keeps its checkpoint");

    let (ok, _, stderr) = run(root, &["aggregate", "name=long"]);
    assert!(ok, "{stderr}");
    let summary = read_summary(root, "long");
    assert_eq!(summary.cells[0].status.as_str(), "incomplete", "{summary:?}");

    let (ok, _, stderr) = run(root, &["ablate", "name=long"]);
    assert!(ok, "{stderr}");
    let summary = read_summary_after_aggregate(root, "long");
    assert!(summary.cells.iter().all(|c| c.status.as_str() == "done"), "{summary:?}");
    let log = fs::read_to_string(summary.cells[0].run_dir.join("log.txt")).unwrap();
    assert!(log.contains("resuming"), "the killed stage started over:\n{log}");
    assert_eq!(log.matches("== cell 0").count(), 2, "one line per attempt:\n{log}");
    // Each distinct stage once, and no checkpoint left behind.
    let stages = cached_stages(root);
    assert_eq!(stages.len(), 5, "{stages:?}");
    assert!(
        stages
            .iter()
            .all(|s| s.join("output.json").exists() && !s.join("resume").exists()),
        "{stages:?}"
    );
}

/// Waits until some stage has written a complete training checkpoint; returns its folder.
fn wait_for_checkpoint(root: &Path, timeout: Duration) -> PathBuf {
    let started = Instant::now();
    while started.elapsed() < timeout {
        let stages = fs::read_dir(root.join("out/cache")).into_iter().flatten().flatten();
        if let Some(stage) = stages
            .map(|e| e.path().join("resume"))
            .find(|resume| resume.join("state.json").exists())
        {
            return stage;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no training checkpoint appeared within {timeout:?}");
}
