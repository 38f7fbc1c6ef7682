//! Bad input and broken state through the `w2s` binary: a diverging training, a `data.max_len`
//! the models cannot take, tampered cache entries, and a results write cut short.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

mod common;

use common::{fixture_flags, write_experiment};

/// Runs `w2s train <experiment> <args>` on the fixtures under `root`, killing it (and failing the
/// test) if it runs past `limit`; returns whether it succeeded, and its stderr.
fn train(root: &Path, args: &[&str], limit: Duration) -> (bool, String) {
    let experiment = root.join("tiny.toml");
    let mut command = Command::new(env!("CARGO_BIN_EXE_w2s"));
    command
        .arg("train")
        .arg(&experiment)
        .args(args)
        .args(fixture_flags(root));
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.success(), reader.join().unwrap());
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("w2s ran past {limit:?}, killed: {}", reader.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One seed, one epoch per stage: the quickest whole run of the fixture experiment.
const QUICK: [&str; 4] = [
    "seeds=[0]",
    "weak.train.epochs=1",
    "strong.train.epochs=1",
    "--no-save-weights",
];
const LIMIT: Duration = Duration::from_secs(300);

fn quick(extra: &[&str]) -> Vec<String> {
    QUICK.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// The stage folders under `root`'s cache, and which of them hold an `output.json`.
fn stage_folders(root: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root.join("out/cache")) else {
        return (Vec::new(), Vec::new());
    };
    let mut all: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    all.sort();
    let done = all
        .iter()
        .filter(|dir| dir.join("output.json").is_file())
        .cloned()
        .collect();
    (all, done)
}

/// The one run folder under `root`.
fn run_folder(root: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(root.join("out/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

#[test]
fn a_diverging_stage_stops_at_once_with_advice_and_caches_nothing() {
    let root = tempfile::tempdir().unwrap();
    write_experiment(root.path());
    let (ok, stderr) = train(root.path(), &strs(&quick(&["strong.train.lr=1e4"])), LIMIT);
    assert!(!ok, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The ceiling trains after the two teachers, and is the first stage with the strong model.
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    for part in [
        "ceiling: the training loss became",
        "at step",
        "nothing of the stage is cached",
        "`strong.train.lr=1e3` (now 1e4)",
        "grad_clip",
    ] {
        assert!(error.contains(part), "`{part}` missing from: {error}");
    }
    let (all, done) = stage_folders(root.path());
    assert_eq!(
        (all.len(), done.len()),
        (3, 2),
        "the teachers are cached, the ceiling is not: {all:?}"
    );
    assert!(!root.path().join("out/runs").exists() || !run_folder(root.path()).join("results.json").exists());
}

#[test]
fn a_max_len_beyond_a_models_positions_fails_before_anything_trains() {
    let root = tempfile::tempdir().unwrap();
    let experiment = write_experiment(root.path());
    let (ok, stderr) = train(root.path(), &strs(&quick(&["data.max_len=65"])), LIMIT);
    assert!(!ok);
    let weak = root.path().join("models/weak");
    let expected = format!(
        "`data.max_len` is 65, but model `{}` takes inputs of at most 64 tokens",
        weak.display()
    );
    assert!(
        stderr.contains(&expected) && stderr.contains("set `data.max_len=64` or lower"),
        "{stderr}"
    );
    assert!(stage_folders(root.path()).0.is_empty(), "nothing trained");

    // MPNet numbers positions after its padding index: 64 positions take 62 tokens. (The check
    // reads only the model's config.json.)
    let mpnet = root.path().join("models/mpnet");
    std::fs::create_dir_all(&mpnet).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tests/fixtures/tiny-mpnet/config.json");
    std::fs::copy(fixture, mpnet.join("config.json")).unwrap();
    let strong = format!("strong.model=\"{}\"", mpnet.display());
    let (ok, stderr) = train(root.path(), &strs(&quick(&[&strong, "data.max_len=63"])), LIMIT);
    assert!(!ok);
    assert!(
        stderr.contains(&format!(
            "model `{}` takes inputs of at most 62 tokens",
            mpnet.display()
        )),
        "{stderr}"
    );
    assert!(stage_folders(root.path()).0.is_empty(), "nothing trained");
    assert!(experiment.exists());
}

#[test]
fn tampered_or_truncated_cache_entries_are_trained_again() {
    let root = tempfile::tempdir().unwrap();
    write_experiment(root.path());
    let (ok, stderr) = train(root.path(), &strs(&quick(&[])), LIMIT);
    assert!(ok, "{stderr}");
    let (_, done) = stage_folders(root.path());
    assert_eq!(done.len(), 4);
    let outputs: Vec<PathBuf> = done.iter().map(|dir| dir.join("output.json")).collect();
    let read =
        |path: &Path| -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap() };
    let write = |path: &Path, value: &serde_json::Value| std::fs::write(path, value.to_string()).unwrap();

    // 10 predictions for 200 test texts; probabilities outside [0, 1]; a truncated file.
    let mut few = read(&outputs[0]);
    few["predictions"]["test"].as_array_mut().unwrap().truncate(10);
    write(&outputs[0], &few);
    let mut outside = read(&outputs[1]);
    outside["predictions"]["test"][0] = serde_json::json!([1.5, -0.5]);
    write(&outputs[1], &outside);
    let text = std::fs::read_to_string(&outputs[2]).unwrap();
    std::fs::write(&outputs[2], &text[..text.len() / 2]).unwrap();

    let (ok, stderr) = train(root.path(), &strs(&quick(&[])), LIMIT);
    assert!(ok, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for (output, problem) in [
        (&outputs[0], "10 predictions for the 200 texts of the `test` set"),
        (&outputs[1], "`test` prediction 0: probability 1.5 is not in [0, 1]"),
        (&outputs[2], "cannot parse"),
    ] {
        let warning = format!("warning: ignoring the cached stage output {} (", output.display());
        let line = stderr
            .lines()
            .find(|l| l.starts_with(&warning))
            .unwrap_or_else(|| panic!("no warning for {}: {stderr}", output.display()));
        assert!(line.contains(problem) && line.contains("computed again"), "{line}");
        // Trained again, and cached whole.
        assert_eq!(read(output)["predictions"]["test"].as_array().unwrap().len(), 200);
    }
    assert_eq!(
        stderr.matches("warning: ignoring the cached stage output").count(),
        3,
        "{stderr}"
    );
}

#[test]
fn results_json_is_written_last_and_a_cut_write_leaves_none() {
    let root = tempfile::tempdir().unwrap();
    write_experiment(root.path());
    let args = quick(&[]);
    let (ok, stderr) = train(root.path(), &strs(&args), LIMIT);
    assert!(ok, "{stderr}");
    let run = run_folder(root.path());

    // Temporaries of a writer killed long ago, of a live one, and of one killed just now.
    let old = SystemTime::now() - Duration::from_secs(3600);
    let temporary = |name: String, modified: SystemTime| {
        let path = run.join(name);
        std::fs::File::create(&path).unwrap().set_modified(modified).unwrap();
        path
    };
    let stale = temporary(format!(".results.json.tmp-{}-0", u32::MAX), old);
    let live = temporary(format!(".results.csv.tmp-{}-0", std::process::id()), old);
    let recent = temporary(format!(".results.md.tmp-{}-1", u32::MAX), SystemTime::now());

    // A write that fails part way (results.md cannot replace a folder): no results.json at all,
    // neither the new one nor the old one beside files of other results.
    std::fs::remove_file(run.join("results.md")).unwrap();
    std::fs::create_dir(run.join("results.md")).unwrap();
    let (ok, stderr) = train(root.path(), &strs(&args), LIMIT);
    assert!(!ok);
    assert!(stderr.contains("results.md"), "{stderr}");
    assert!(
        !run.join("results.json").exists(),
        "a run without its results.md must not count as done"
    );
    assert!(!stale.exists(), "the stale temporary is removed");
    assert!(
        live.exists() && recent.exists(),
        "temporaries that may still be written are kept"
    );

    std::fs::remove_dir(run.join("results.md")).unwrap();
    let (ok, stderr) = train(root.path(), &strs(&args), LIMIT);
    assert!(ok, "{stderr}");
    for file in ["config.toml", "results.csv", "results.md", "results.json"] {
        assert!(run.join(file).is_file(), "{file}");
    }
}
