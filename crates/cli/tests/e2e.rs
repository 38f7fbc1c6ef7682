//! The whole pipeline on tiny random-weight models and synthetic data, through the library and
//! through the `w2s` binary.

use std::path::Path;
use std::sync::Mutex;

mod common;

use common::{fixture_flags, fixtures, write_experiment, write_model_from};
use w2s_core::SeedResult;
use w2s_core::config::ExperimentConfig;
use w2s_core::report::Role;
use w2s_pipeline::study::{RunEnv, run_experiment};
use w2s_train::Compute;

/// burn's random number generator is global to the process: tests that train in this process
/// take turns, so that each run is reproducible from its seed.
static TRAINING: Mutex<()> = Mutex::new(());

fn env(root: &Path, force: bool) -> RunEnv {
    RunEnv {
        datasets_dir: fixtures().join("datasets"),
        data_root: fixtures().join("data"),
        pretrained_root: root.join("pretrained"),
        out_dir: root.join("out"),
        compute: Compute::flex(),
        force,
        save_weights: true,
    }
}

#[test]
fn the_pipeline_runs_end_to_end_and_caches_its_stages() {
    let _turn = TRAINING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let root = tempfile::tempdir().unwrap();
    let config = ExperimentConfig::load(&write_experiment(root.path()), &[]).unwrap();

    let first = run_experiment(&config, &env(root.path(), false)).unwrap();
    // Two seeds, each with two teachers, a student and a ceiling.
    assert_eq!(first.stages_computed, 8);
    let results = &first.results;
    assert_eq!(results.seeds.len(), 2);
    for seed in &results.seeds {
        let roles: Vec<String> = seed.models.iter().map(|m| m.role.to_string()).collect();
        assert_eq!(roles, ["teacher-0", "teacher-1", "ensemble", "student", "ceiling"]);
        for model in &seed.models {
            assert_eq!(model.test.n, 200);
            assert!((0.0..=1.0).contains(&model.test.accuracy), "{model:?}");
            assert!(model.test.auroc.is_some());
        }
        assert!(seed.models[..3].iter().all(|m| m.label_accuracy.is_some()));
        for model in &seed.models {
            let Some(timing) = model.timing else {
                assert_eq!(model.role, Role::Ensemble, "a fine-tuned model without stage times");
                continue;
            };
            assert!(
                timing.train_seconds > 0.0 && timing.train_examples_per_s > 0.0,
                "{model:?}"
            );
            assert!(timing.label_seconds.is_some_and(|s| s > 0.0), "{model:?}");
        }
        // The cue words make the task easy: the ground-truth ceiling must learn it.
        let ceiling = seed.model(Role::Ceiling).unwrap();
        assert!(ceiling.test.accuracy > 0.7, "ceiling did not learn: {ceiling:?}");
        assert!(seed.pgr_accuracy.value.is_some() || seed.pgr_accuracy.reason.is_some());
    }
    for file in ["config.toml", "results.json", "results.csv", "results.md"] {
        assert!(first.dir.join(file).is_file(), "missing {file}");
    }
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(first.dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(written["config_hash"], config.hash());
    assert_eq!(written["compute"], "flex f32", "the results record what computed them");
    assert!(first.dir.ends_with(format!("tiny-{}", config.hash())));
    // Fine-tuned weights are saved in HF layout.
    let saved = std::fs::read_dir(root.path().join("out/cache")).unwrap().count();
    assert_eq!(saved, 8);

    // The second run trains nothing and reproduces the results.
    let second = run_experiment(&config, &env(root.path(), false)).unwrap();
    assert_eq!(second.stages_computed, 0);
    assert_eq!(second.results.seeds, first.results.seeds);

    // --force retrains every stage, and training is reproducible from the seed.
    let forced = run_experiment(&config, &env(root.path(), true)).unwrap();
    assert_eq!(forced.stages_computed, 8);
    assert_eq!(
        without_timing(&forced.results.seeds),
        without_timing(&first.results.seeds)
    );
}

/// `seeds` without their stage times, which differ between two runs that train.
fn without_timing(seeds: &[SeedResult]) -> Vec<SeedResult> {
    let mut seeds = seeds.to_vec();
    seeds
        .iter_mut()
        .flat_map(|s| &mut s.models)
        .for_each(|m| m.timing = None);
    seeds
}

#[test]
fn a_changed_student_loss_reuses_the_teachers() {
    let _turn = TRAINING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let root = tempfile::tempdir().unwrap();
    let path = write_experiment(root.path());
    let single_seed = ["seeds=[3]".to_string()];
    let xent = ExperimentConfig::load(&path, &single_seed).unwrap();
    assert_eq!(
        run_experiment(&xent, &env(root.path(), false)).unwrap().stages_computed,
        4
    );
    let logconf_overrides = ["seeds=[3]".to_string(), "strong.loss=logconf".to_string()];
    let logconf = ExperimentConfig::load(&path, &logconf_overrides).unwrap();
    assert_ne!(logconf.hash(), xent.hash());
    // Only the student is new: the teachers and the ceiling come from the cache.
    assert_eq!(
        run_experiment(&logconf, &env(root.path(), false))
            .unwrap()
            .stages_computed,
        1
    );
}

#[test]
fn stages_know_a_pretrained_model_by_the_content_of_its_weights() {
    let _turn = TRAINING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let root = tempfile::tempdir().unwrap();
    let path = write_experiment(root.path());
    let run_with_strong = |dir: &Path| {
        let overrides = ["seeds=[3]".to_string(), format!("strong.model=\"{}\"", dir.display())];
        let config = ExperimentConfig::load(&path, &overrides).unwrap();
        run_experiment(&config, &env(root.path(), false))
            .unwrap()
            .stages_computed
    };
    let strong = root.path().join("models/strong");
    assert_eq!(run_with_strong(&strong), 4);
    // The same weights in a folder of another name are the same model: nothing trains.
    let copy = root.path().join("models/strong-copy");
    copy_dir(&strong, &copy);
    assert_eq!(run_with_strong(&copy), 0);
    // Other weights of the same size are another model: the student and the ceiling train anew.
    let other = root.path().join("models/strong-other");
    copy_dir(&strong, &other);
    let weights = other.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 4;
    bytes[last..].copy_from_slice(&0.125f32.to_le_bytes());
    std::fs::write(&weights, bytes).unwrap();
    assert_eq!(
        std::fs::metadata(&weights).unwrap().len(),
        std::fs::metadata(strong.join("model.safetensors")).unwrap().len()
    );
    assert_eq!(run_with_strong(&other), 2);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != ".w2s-weights.json" {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn teachers_of_different_families_form_one_ensemble() {
    let _turn = TRAINING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let root = tempfile::tempdir().unwrap();
    let path = write_experiment(root.path());
    let gpt2_fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tests/fixtures/tiny-gpt2");
    let gpt2 = write_model_from(
        &gpt2_fixture.join("config.json"),
        &gpt2_fixture.join("tokenizer.json"),
        &root.path().join("models/gpt2"),
    );
    let weak = root.path().join("models/weak");
    let overrides = [
        "seeds=[5]".to_string(),
        format!("weak.models=[\"{}\", \"{}\"]", weak.display(), gpt2.display()),
        "ensemble.method=weighted".to_string(),
    ];
    let config = ExperimentConfig::load(&path, &overrides).unwrap();
    let output = run_experiment(&config, &env(root.path(), false)).unwrap();
    assert_eq!(output.stages_computed, 4);
    let seed = &output.results.seeds[0];
    assert_eq!(seed.models[0].model, weak.display().to_string());
    assert_eq!(seed.models[1].model, gpt2.display().to_string());
    assert_eq!(seed.model(Role::Ensemble).unwrap().model, "weighted vote of 2");
    for model in &seed.models {
        assert!((0.0..=1.0).contains(&model.test.accuracy), "{model:?}");
    }
}

fn w2s(args: &[&str]) -> (bool, String) {
    let (ok, _, stderr) = common::w2s(args);
    (ok, stderr)
}

#[test]
fn the_binary_rejects_bad_input_with_clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let experiment = write_experiment(root.path());
    let experiment = experiment.to_str().unwrap();
    let datasets = fixtures().join("datasets");
    let data = fixtures().join("data");
    let common = [
        "--datasets",
        datasets.to_str().unwrap(),
        "--data-root",
        data.to_str().unwrap(),
    ];

    // A config typo names the key and the valid ones.
    let (ok, stderr) = w2s(&[&["train", experiment, "data.n_wek=5"][..], &common].concat());
    assert!(!ok);
    assert!(
        stderr.contains("data.n_wek") && stderr.contains("data.n_weak"),
        "{stderr}"
    );

    // An unknown model lists the known ones; a known one not yet fetched says how to fetch it.
    let (ok, stderr) = w2s(&[&["train", experiment, "strong.model=no-such-model"][..], &common].concat());
    assert!(!ok);
    assert!(
        stderr.contains("no-such-model") && stderr.contains("minilm-l6"),
        "{stderr}"
    );
    let (ok, stderr) = w2s(&[
        &[
            "train",
            experiment,
            "strong.model=minilm-l6",
            "--pretrained",
            "/nonexistent",
        ][..],
        &common,
    ]
    .concat());
    assert!(!ok);
    assert!(
        stderr.contains("minilm-l6") && stderr.contains("just models"),
        "{stderr}"
    );

    // Missing data says where the data root is looked for.
    let (ok, stderr) = w2s(&[
        "train",
        experiment,
        "--datasets",
        datasets.to_str().unwrap(),
        "--data-root",
        "/nonexistent",
    ]);
    assert!(!ok);
    assert!(stderr.contains("sentiment.csv"), "{stderr}");

    // Half precision where the backend has no kernels for it says where it runs.
    let (ok, stderr) = w2s(&[
        &["train", experiment, "--device", "flex", "--precision", "bf16"][..],
        &common,
    ]
    .concat());
    assert!(!ok);
    assert!(
        stderr.contains("`flex`") && stderr.contains("libtorch-cpu") && stderr.contains("--precision f32"),
        "{stderr}"
    );

    // An unknown experiment lists the available ones.
    let (ok, stderr) = w2s(&[
        "train",
        "experiment=nope",
        "--experiments",
        fixtures().to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(stderr.contains("nope") && stderr.contains("experiment"), "{stderr}");

    // More data than the dataset has names the keys to lower.
    let (ok, stderr) = w2s(&[&["train", experiment, "data.n_test=100000"][..], &common].concat());
    assert!(!ok);
    assert!(stderr.contains("n_test") || stderr.contains("100000"), "{stderr}");
}

/// Printing into a pipe whose reader has gone ends the process by SIGPIPE, as for other Unix
/// tools, not with a panic.
#[cfg(unix)]
#[test]
fn a_closed_stdout_ends_the_binary_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let root = tempfile::tempdir().unwrap();
    let experiment = write_experiment(root.path());
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_w2s"))
        .args(["config", experiment.to_str().unwrap()])
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.signal(), Some(13), "{:?}: {stderr}", output.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The per-seed `models` arrays (every metric of every model, without the stage times) of the one
/// run under `root`.
fn run_models(root: &Path) -> Vec<serde_json::Value> {
    let runs: Vec<_> = std::fs::read_dir(root.join("out/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let mut results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(runs[0].join("results.json")).unwrap()).unwrap();
    // Stage times differ between two runs that train.
    for seed in results["seeds"].as_array_mut().unwrap() {
        for model in seed["models"].as_array_mut().unwrap() {
            model.as_object_mut().unwrap().remove("timing");
        }
    }
    results["seeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|seed| seed["models"].clone())
        .collect()
}

/// `--devices flex` is `--device flex`; `--devices flex,flex` trains data-parallel over two
/// replicas on the CPU, close to one device (without dropout, which would draw other masks);
/// devices of two backends are refused.
#[test]
fn the_devices_flag_trains_data_parallel() {
    let root = tempfile::tempdir().unwrap();
    let experiment = write_experiment(root.path());
    // The models again, without dropout in their encoders (the shards of a batch draw other
    // dropout masks than the whole batch does).
    for name in ["weak", "strong"] {
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixtures().join(name).join("config.json")).unwrap()).unwrap();
        config["hidden_dropout_prob"] = 0.0.into();
        config["attention_probs_dropout_prob"] = 0.0.into();
        let path = root.path().join(format!("{name}-config.json"));
        std::fs::write(&path, config.to_string()).unwrap();
        write_model_from(
            &path,
            &fixtures().join("tokenizer.json"),
            &root.path().join("models").join(name),
        );
    }
    let flags = fixture_flags(root.path());
    let train = |devices: &[&str]| {
        let mut args = vec![
            "train",
            experiment.to_str().unwrap(),
            "seeds=[0]",
            "weak.train.dropout=0.0",
            "strong.train.dropout=0.0",
            "--force",
            "--no-save-weights",
        ];
        args.extend(devices);
        args.extend(flags.iter().map(String::as_str));
        w2s(&args)
    };

    let (ok, stderr) = train(&["--device", "flex"]);
    assert!(ok, "{stderr}");
    let one_device = run_models(root.path());
    assert_eq!(one_device.len(), 1);
    let (ok, stderr) = train(&["--devices", "flex"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("device flex, precision f32"), "{stderr}");
    assert_eq!(
        run_models(root.path()),
        one_device,
        "--devices flex must be --device flex"
    );

    let (ok, stderr) = train(&["--devices", "flex,flex"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("devices flex,flex (data-parallel"), "{stderr}");
    let two_replicas = run_models(root.path());
    assert_eq!(two_replicas.len(), one_device.len());
    for (two, one) in two_replicas.iter().zip(&one_device) {
        for (a, b) in two.as_array().unwrap().iter().zip(one.as_array().unwrap()) {
            assert_eq!(a["role"], b["role"]);
            for metric in ["accuracy", "auroc"] {
                let (x, y) = (a["test"][metric].as_f64().unwrap(), b["test"][metric].as_f64().unwrap());
                assert!(
                    (x - y).abs() <= 0.01,
                    "{} {metric}: {x} on two replicas, {y} on one",
                    a["role"]
                );
            }
        }
    }

    let (ok, stderr) = train(&["--devices", "flex,cuda:0"]);
    assert!(!ok);
    assert!(
        stderr.contains("`--devices flex,cuda:0` mixes backends (flex and cuda)"),
        "{stderr}"
    );
}
