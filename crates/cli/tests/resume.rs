//! A run SIGKILLed in the middle of a stage and started again ends with exactly the stages of a
//! run that was never interrupted: every loss, every prediction, every saved weight.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{fixture_flags, w2s, write_experiment};
use serde_json::Value;

/// One seed of the tiny experiment with `train.dropout = 0`, as the run that found resumes to
/// differ: the fixture models' encoders keep the dropout of their config.json (0.1), so dropout
/// still acts. The teachers train long enough for the kill to land in the middle of one.
const ARGS: [&str; 6] = [
    "train",
    "experiment=tiny",
    "seeds=[0]",
    "weak.train.dropout=0",
    "strong.train.dropout=0",
    "weak.train.epochs=12",
];

fn command(root: &Path) -> Vec<String> {
    ARGS.iter().map(|a| a.to_string()).chain(fixture_flags(root)).collect()
}

fn run_to_the_end(root: &Path) -> String {
    let args = command(root);
    let (ok, _, stderr) = w2s(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "{stderr}");
    stderr
}

/// Starts the run, waits for its first training checkpoint and SIGKILLs it, children included.
fn run_and_kill_mid_stage(root: &Path) {
    let mut process = Command::new(env!("CARGO_BIN_EXE_w2s"));
    process.args(command(root)).stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut process, 0);
    let mut child = process.spawn().unwrap();
    let started = Instant::now();
    while !has_checkpoint(root) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no training checkpoint appeared"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before a checkpoint was seen"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let killed = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(killed.success());
    child.wait().unwrap();
}

fn has_checkpoint(root: &Path) -> bool {
    let stages = fs::read_dir(root.join("out/cache")).into_iter().flatten().flatten();
    stages
        .map(|e| e.path().join("resume/state.json"))
        .any(|state| state.exists())
}

/// Every stage of the run, by folder name (its key): what training produced, without the times
/// and the step it resumed from, and the bytes of its saved weights.
fn stages(root: &Path) -> Vec<(String, Value, Vec<u8>)> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root.join("out/cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    dirs.iter()
        .map(|dir| {
            let mut output: Value =
                serde_json::from_str(&fs::read_to_string(dir.join("output.json")).unwrap()).unwrap();
            let fit = &mut output["fit"];
            for epoch in fit["epochs"].as_array_mut().unwrap() {
                epoch.as_object_mut().unwrap().remove("examples_per_sec");
            }
            fit.as_object_mut()
                .unwrap()
                .retain(|key, _| !["seconds", "resumed_from_step"].contains(&key.as_str()));
            let kept = serde_json::json!({ "fit": output["fit"], "predictions": output["predictions"] });
            let weights = fs::read(dir.join("model/model.safetensors")).unwrap();
            (dir.file_name().unwrap().to_string_lossy().into_owned(), kept, weights)
        })
        .collect()
}

#[test]
fn a_run_killed_mid_stage_and_resumed_equals_an_uninterrupted_one() {
    let uninterrupted = tempfile::tempdir().unwrap();
    write_experiment(uninterrupted.path());
    run_to_the_end(uninterrupted.path());

    let resumed = tempfile::tempdir().unwrap();
    write_experiment(resumed.path());
    run_and_kill_mid_stage(resumed.path());
    let stderr = run_to_the_end(resumed.path());
    assert!(
        stderr.contains("resuming from epoch"),
        "the killed stage started over:\n{stderr}"
    );

    let (resumed, uninterrupted) = (stages(resumed.path()), stages(uninterrupted.path()));
    assert_eq!(uninterrupted.len(), 4, "two teachers, the student and the ceiling");
    for (name, output, weights) in &uninterrupted {
        // A stage whose inputs differ (a student taught by a teacher that trained otherwise) has
        // another key: it is missing here, and below.
        let Some((_, resumed_output, resumed_weights)) = resumed.iter().find(|(other, ..)| other == name) else {
            continue;
        };
        assert_eq!(resumed_output, output, "{name}: the resumed run trained otherwise");
        assert!(
            resumed_weights == weights,
            "{name}: the resumed run saved other weights"
        );
    }
    let names = |stages: &[(String, Value, Vec<u8>)]| stages.iter().map(|s| s.0.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&resumed),
        names(&uninterrupted),
        "the resumed run trained other stages"
    );
}
