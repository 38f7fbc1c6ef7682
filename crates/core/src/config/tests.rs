//! The config's tests: loading, profiles, overrides, validation and hashing.

use super::*;

const MINIMAL: &str = r#"
name = "demo"
dataset = "sst2"
seeds = [0, 1]

[data]
n_weak = 100
n_transfer = 200
n_test = 50
max_len = 64

[weak]
models = ["minilm-l6"]

[strong]
model = "mpnet-base"

[profiles.gpu]
"data.n_weak" = 5000
"strong.model" = "mpnet-large"

[profiles.nested.strong.train]
lr = 1e-4
"#;

fn load(overrides: &[&str]) -> Result<ExperimentConfig, ConfigError> {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    ExperimentConfig::from_toml_str(MINIMAL, "exp.toml", &overrides)
}

fn error(overrides: &[&str]) -> String {
    load(overrides).expect_err("expected an error").to_string()
}

#[test]
fn minimal_file_gets_defaults() {
    let config = load(&[]).unwrap();
    assert_eq!(config.profile, "cpu");
    assert_eq!(config.seeds, vec![0, 1]);
    assert_eq!(config.data.val_fraction, 0.1);
    assert_eq!(config.weak.train, TrainConfig::default());
    assert_eq!(config.strong.loss, Loss::Xent);
    let logconf = load(&["strong.loss=logconf"]).unwrap().strong.loss;
    assert_eq!(
        logconf,
        Loss::Logconf(LogconfConfig {
            aux_coef: 0.5,
            warmup_frac: 0.2,
            ..LogconfConfig::default()
        })
    );
    assert_eq!(
        config.ensemble,
        EnsembleConfig {
            method: EnsembleMethod::Soft,
            size: 1,
            bootstrap: false
        }
    );
    assert_eq!(config.strong.train.schedule, Schedule::Linear);
}

#[test]
fn models_lists_each_model_once_teachers_first() {
    assert_eq!(load(&[]).unwrap().models(), ["minilm-l6", "mpnet-base"]);
    let config = load(&["weak.models=[b,a,b]", "strong.model=a"]).unwrap();
    assert_eq!(config.models(), ["b", "a"]);
}

#[test]
fn an_array_override_takes_bare_words() {
    let models = |raw: &str| load(&[&format!("weak.models={raw}")]).unwrap().weak.models;
    assert_eq!(models("[minilm-l3,minilm-l6]"), ["minilm-l3", "minilm-l6"]);
    assert_eq!(models("[ minilm-l3 , \"x y\" ]"), ["minilm-l3", "x y"]);
    assert_eq!(models("[\"a\", \"b\"]"), ["a", "b"], "plain TOML");
    assert_eq!(models("minilm-l3"), ["minilm-l3"]);
    assert_eq!(load(&["seeds=[3, 4]"]).unwrap().seeds, [3, 4]);
    // An item that is not of the array's type is the usual type error.
    assert!(error(&["seeds=[1,x]"]).contains("seeds"));
}

#[test]
fn overrides_parse_as_toml_or_bare_strings() {
    let config = load(&[
        "strong.train.lr=1e-4",
        "seeds=[3,4,5]",
        "ensemble.bootstrap=true",
        "strong.model=minilm-l12",
        "name=\"quoted\"",
        "strong.loss=logconf",
        "weak.train.schedule=cosine",
        "ensemble.size = 3",
    ])
    .unwrap();
    assert_eq!(config.strong.train.lr, 1e-4);
    assert_eq!(config.seeds, vec![3, 4, 5]);
    assert!(config.ensemble.bootstrap);
    assert_eq!(config.strong.model, "minilm-l12");
    assert_eq!(config.name, "quoted");
    assert_eq!(config.strong.loss.kind(), LossKind::Logconf);
    assert_eq!(config.weak.train.schedule, Schedule::Cosine);
    assert_eq!(config.ensemble.size, 3);
}

#[test]
fn string_keys_take_raw_text_and_arrays_accept_one_scalar() {
    let config = load(&["strong.model=123", "weak.models=tiny", "seeds=7", "strong.train.lr=1"]).unwrap();
    assert_eq!(config.strong.model, "123");
    assert_eq!(config.weak.models, vec!["tiny"]);
    assert_eq!(config.seeds, vec![7]);
    assert_eq!(config.strong.train.lr, 1.0, "an integer is accepted for a float key");
}

#[test]
fn later_overrides_win() {
    let config = load(&["data.n_test=5", "data.n_test=6"]).unwrap();
    assert_eq!(config.data.n_test, SplitSize::Count(6));
}

#[test]
fn profile_is_applied_before_other_overrides() {
    let config = load(&["data.n_weak=7", "profile=gpu"]).unwrap();
    assert_eq!(config.profile, "gpu");
    assert_eq!(config.strong.model, "mpnet-large");
    assert_eq!(
        config.data.n_weak,
        SplitSize::Count(7),
        "explicit override beats the profile"
    );
    let config = load(&["profile=\"gpu\""]).unwrap();
    assert_eq!(
        config.data.n_weak,
        SplitSize::Count(5000),
        "a quoted profile name works too"
    );
}

#[test]
fn nested_profile_tables_are_dotted_keys() {
    let config = load(&["profile=nested"]).unwrap();
    assert_eq!(config.strong.train.lr, 1e-4);
    assert_eq!(config.profile, "nested");
}

#[test]
fn default_profile_name_needs_no_table() {
    assert_eq!(load(&["profile=cpu"]).unwrap(), load(&[]).unwrap());
}

#[test]
fn missing_profile_lists_available() {
    let message = error(&["profile=tpu"]);
    assert!(message.contains("unknown profile `tpu`"), "{message}");
    assert!(message.contains("gpu, nested"), "{message}");
}

#[test]
fn unknown_override_key_suggests_and_lists() {
    let message = error(&["data.n_wek=3"]);
    assert!(
        message.starts_with("unknown config key `data.n_wek` (from the command line)"),
        "{message}"
    );
    assert!(message.contains("Did you mean `data.n_weak`?"), "{message}");
    assert!(
        message.contains("Valid keys: data.max_examples, data.max_len, data.min_examples, data.n_test"),
        "{message}"
    );
    let message = error(&["lr=3"]);
    assert!(
        message.contains("Did you mean one of `strong.train.lr`, `weak.train.lr`?"),
        "{message}"
    );
    let message = error(&["data=3"]);
    assert!(
        message.contains("unknown config key `data`"),
        "a table is not a settable key: {message}"
    );
}

#[test]
fn unknown_profile_key_names_profile_and_file() {
    let text = MINIMAL.replace("\"strong.model\"", "\"strong.mdel\"");
    let err = ExperimentConfig::from_toml_str(&text, "exp.toml", &["profile=gpu".into()]).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("`strong.mdel` (profile `gpu` in exp.toml)"),
        "{message}"
    );
    assert!(message.contains("Did you mean `strong.model`?"), "{message}");
}

#[test]
fn wrong_type_override_names_key_and_expected_type() {
    let message = error(&["data.n_weak=lots"]);
    assert!(
        message.starts_with(&format!(
            "config key `data.n_weak` (from the command line) takes {SPLIT_SIZE_EXPECTED}: "
        )),
        "{message}"
    );
    let message = error(&["data.max_len=lots"]);
    assert!(message.contains("takes a non-negative integer"), "{message}");
    assert!(message.contains("expected usize"), "{message}");
    let message = error(&["seeds=[1.5]"]);
    assert!(
        message.contains("`seeds` (from the command line) takes a list of non-negative integers"),
        "{message}"
    );
    let message = error(&["ensemble.bootstrap=3"]);
    assert!(message.contains("takes true or false"), "{message}");
    let message = error(&["strong.loss=fancy"]);
    assert!(message.contains("`strong.loss` (from the command line) takes one of a fixed set of names: unknown variant `fancy`, expected one of `xent`"), "{message}");
    let message = error(&["data.n_weak=-1"]);
    assert!(message.contains("`data.n_weak`"), "{message}");
}

#[test]
fn malformed_override_is_rejected() {
    assert!(error(&["data.n_weak"]).contains("malformed override `data.n_weak`"));
    assert!(error(&["=3"]).contains("malformed override"));
}

#[test]
fn unknown_key_in_file_gives_path_and_line() {
    let text = MINIMAL.replace("max_len = 64", "max_len = 64\nn_wek = 3");
    let message = ExperimentConfig::from_toml_str(&text, "exp.toml", &[])
        .unwrap_err()
        .to_string();
    assert!(message.starts_with("exp.toml: "), "{message}");
    assert!(message.contains("line 11"), "{message}");
    assert!(message.contains("n_wek"), "{message}");
}

#[test]
fn wrong_type_in_file_gives_line() {
    let text = MINIMAL.replace("n_test = 50", "n_test = \"fifty\"");
    let message = ExperimentConfig::from_toml_str(&text, "exp.toml", &[])
        .unwrap_err()
        .to_string();
    assert!(message.starts_with("exp.toml: "), "{message}");
    assert!(
        message.contains("line 9") && message.contains(SPLIT_SIZE_EXPECTED),
        "{message}"
    );
}

#[test]
fn syntax_error_names_file() {
    let message = ExperimentConfig::from_toml_str("name = ", "bad.toml", &[])
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("bad.toml: ") && message.contains("line 1"),
        "{message}"
    );
}

#[test]
fn malformed_profiles_are_rejected() {
    let text = MINIMAL.replace("[profiles.nested.strong.train]\nlr = 1e-4", "") + "\n[profiles]\ngpu2 = 3\n";
    let message = ExperimentConfig::from_toml_str(&text, "exp.toml", &[])
        .unwrap_err()
        .to_string();
    assert!(message.contains("`profiles.gpu2` is not a table"), "{message}");
}

#[test]
fn profiles_are_not_part_of_resolved_config() {
    let config = load(&["profile=gpu"]).unwrap();
    let json = serde_json::to_string(&config).unwrap();
    assert!(!json.contains("profiles"));
}

#[test]
fn validate_lists_every_problem() {
    let message = error(&[
        "seeds=[]",
        "data.val_fraction=1.0",
        "strong.train.lr=0",
        "ensemble.size=0",
    ]);
    assert!(message.starts_with("invalid config: "), "{message}");
    for needle in [
        "`seeds` is empty",
        "`data.val_fraction` = 1 must be in [0, 1)",
        "`strong.train.lr`",
        "`ensemble.size`",
    ] {
        assert!(message.contains(needle), "missing {needle:?} in {message}");
    }
}

#[test]
fn a_loss_carries_its_settings_and_writes_back_as_todays_keys() {
    let config = load(&["strong.loss=logconf", "strong.logconf.aux_coef=0.3"]).unwrap();
    assert_eq!(
        config.strong.loss,
        Loss::Logconf(LogconfConfig {
            aux_coef: 0.3,
            warmup_frac: 0.2,
            ..LogconfConfig::default()
        })
    );
    let written = toml::to_string(&config).unwrap();
    assert!(
        written.contains("loss = \"logconf\"") && written.contains("aux_coef = 0.3"),
        "{written}"
    );
    // A loss without settings ignores the logconf table and writes its defaults, so that the
    // config's hash does not depend on settings it does not use.
    let xent = load(&["strong.logconf.aux_coef=0.3"]).unwrap();
    assert_eq!(xent.strong.loss, Loss::Xent);
    assert_eq!(xent.hash(), load(&[]).unwrap().hash());
    // Settings out of range are an error only for the loss that uses them.
    assert!(error(&["strong.loss=logconf", "strong.logconf.aux_coef=2"]).contains("strong.logconf.aux_coef"));
}

#[test]
fn an_invalid_value_is_blamed_on_where_it_was_set() {
    let file = MINIMAL.replace("n_test = 50", "n_test = 0");
    let sourced = [SourcedOverride {
        text: "strong.train.lr=-1".into(),
        from: "in `[set]` of ablations/x.toml".into(),
    }];
    let overrides = [
        SourcedOverride::command_line(&["data.n_weak=0".into()]),
        sourced.to_vec(),
    ]
    .concat();
    let message = ExperimentConfig::from_toml_str_sourced(&file, "exp.toml", &overrides)
        .unwrap_err()
        .to_string();
    for needle in [
        "`data.n_weak` must be greater than 0 (from the command line)",
        "`data.n_test` must be greater than 0 (in exp.toml)",
        "`strong.train.lr` = -1 must be a positive number (in `[set]` of ablations/x.toml)",
    ] {
        assert!(message.contains(needle), "missing {needle:?} in {message}");
    }
    let file = MINIMAL.replace("lr = 1e-4", "lr = 0.0");
    let message = ExperimentConfig::from_toml_str(&file, "exp.toml", &["profile=nested".into()])
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("`strong.train.lr` = 0 must be a positive number (from profile `nested` in exp.toml)"),
        "{message}"
    );
}

#[test]
fn a_name_that_is_not_a_file_name_is_rejected() {
    for name in ["tiny/../../escape", "..", "a b", "a\\b", "x/y"] {
        let message = error(&[&format!("name={name:?}")]);
        assert!(
            message.contains("`name` = ")
                && message.contains("is not a file name")
                && message.contains("(from the command line)"),
            "{name}: {message}"
        );
    }
    for name in ["legal", "seed-gpt2", "v1.2_b"] {
        assert_eq!(load(&[&format!("name={name}")]).unwrap().name, name);
    }
}

#[test]
fn validate_accepts_boundaries_and_rejects_just_outside() {
    let mut config = load(&[]).unwrap();
    config.data.val_fraction = 0.0;
    config.strong.train.grad_clip = 0.0;
    config.strong.loss = Loss::Logconf(LogconfConfig {
        aux_coef: 1.0,
        warmup_frac: 0.2,
        ..LogconfConfig::default()
    });
    assert!(config.validate().is_ok());
    config.strong.train.dropout = 1.0;
    config.weak.models.clear();
    config.seeds = vec![1, 1];
    let ConfigError::Invalid { problems, .. } = config.validate().unwrap_err() else {
        panic!()
    };
    assert_eq!(problems.len(), 3, "{problems:?}");
    config.strong.train.dropout = f64::NAN;
    assert!(config.validate().unwrap_err().to_string().contains("dropout"));
}

#[test]
fn load_reads_file_and_reports_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exp.toml");
    std::fs::write(&path, MINIMAL).unwrap();
    let config = ExperimentConfig::load(&path, &["data.n_test=9".into()]).unwrap();
    assert_eq!(config.data.n_test, SplitSize::Count(9));
    let missing = dir.path().join("nope.toml");
    let message = ExperimentConfig::load(&missing, &[]).unwrap_err().to_string();
    assert!(message.contains("nope.toml"), "{message}");
}

#[test]
fn resolved_config_round_trips_through_toml() {
    let config = load(&["profile=gpu"]).unwrap();
    let text = toml::to_string(&config).unwrap();
    let again = ExperimentConfig::from_toml_str(&text, "round.toml", &[]).unwrap();
    assert_eq!(again, config);
    assert_eq!(again.profile, "gpu", "a resolved file keeps its profile label");
}

#[test]
fn valid_keys_cover_every_leaf() {
    let keys = ExperimentConfig::valid_keys();
    for key in [
        "name",
        "profile",
        "seeds",
        "data.n_weak",
        "strong.train.lr",
        "strong.logconf.aux_coef",
        "ensemble.bootstrap",
        "weak.models",
        "strong.filter.keep",
        "strong.truth.budget",
        "strong.selection",
        "rounds.count",
        "rounds.truth_share",
        "generation.samples",
        "generation.pick",
    ] {
        assert!(keys.contains(&key.to_string()), "missing {key}");
    }
    assert!(!keys.contains(&"data".to_string()));
    // Top level 5, data 7, weak: models, train 9, mode, probe 4; strong: model, train 9, mode,
    // probe 4, loss, weak_label_share and the losses' settings: logconf 4, product 3, entropy 3,
    // window 1; filter 4, truth 3, selection; ensemble 3; rounds 3; generation 9.
    let losses = 4 + 3 + 3 + 1;
    let methods = 4 + 3 + 1;
    assert_eq!(
        keys.len(),
        5 + 7 + (1 + 9 + 1 + 4) + (1 + 9 + 1 + 4 + 1 + 1 + losses + methods) + 3 + 3 + 9
    );
}

#[test]
fn hash_is_stable_and_sensitive() {
    let a = load(&[]).unwrap();
    let b = load(&[]).unwrap();
    assert_eq!(a.hash(), b.hash());
    assert_eq!(a.hash().len(), 12);
    assert!(
        a.hash()
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    let c = load(&["strong.train.lr=1e-3"]).unwrap();
    assert_ne!(a.hash(), c.hash());
}

#[test]
fn stable_hash_ignores_key_order() {
    let x = serde_json::json!({"a": 1, "b": {"c": [1, 2], "d": null}});
    let mut reordered = serde_json::Map::new();
    reordered.insert("b".into(), serde_json::json!({"d": null, "c": [1, 2]}));
    reordered.insert("a".into(), serde_json::json!(1));
    assert_eq!(stable_hash(&x), stable_hash(&serde_json::Value::Object(reordered)));
    // sha256 of `{"a":1}` starts with 015abd7f5cc5
    assert_eq!(stable_hash(&serde_json::json!({"a": 1})), "015abd7f5cc5");
}

#[test]
fn edit_distance_examples() {
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("same", "same"), 0);
}

#[test]
fn enums_display_their_toml_names() {
    assert_eq!(Schedule::Cosine.to_string(), "cosine");
    assert_eq!(LossKind::Logconf.to_string(), "logconf");
    assert_eq!(EnsembleMethod::Weighted.to_string(), "weighted");
    let toml_name = toml::Value::try_from(EnsembleMethod::Weighted).unwrap();
    assert_eq!(toml_name.as_str(), Some("weighted"));
}

#[test]
fn probe_modes_and_pool_sizes_are_keys_that_validate() {
    let config = load(&[
        "weak.mode=probe",
        "strong.mode=probe",
        "strong.probe.l2=0.1",
        "data.max_examples=3000",
        "data.min_examples=450",
        "data.n_weak=0.3",
        "data.n_transfer=0.4",
    ])
    .unwrap();
    assert_eq!(
        (config.weak.mode, config.strong.mode),
        (TrainMode::Probe, TrainMode::Probe)
    );
    assert_eq!(config.strong.probe.l2, 0.1);
    assert_eq!(config.weak.probe, ProbeConfig::default());
    assert_eq!(config.data.n_weak, SplitSize::Fraction(0.3));
    assert_eq!(config.data.n_test, SplitSize::Count(50));
    assert_eq!((config.data.max_examples, config.data.min_examples), (Some(3000), 450));
    let written = toml::to_string(&config).unwrap();
    let again = ExperimentConfig::from_toml_str(&written, "written.toml", &[]).unwrap();
    assert_eq!(again, config, "the written config reads back the same");

    let message = error(&[
        "data.n_weak=1.5",
        "data.n_transfer=0.0",
        "strong.mode=probe",
        "strong.probe.refits=0",
    ]);
    assert!(
        message.contains("`data.n_weak` = 1.5 must be a count of examples"),
        "{message}"
    );
    assert!(message.contains("`data.n_transfer` = 0 must be a count"), "{message}");
    assert!(
        message.contains("`strong.probe.refits` must be greater than 0"),
        "{message}"
    );
    let message = error(&["data.n_weak=0.6", "data.n_transfer=0.5"]);
    assert!(message.contains("add up to 1.1"), "{message}");
    let message = error(&["weak.mode=frozen"]);
    assert!(message.contains("weak.mode"), "{message}");
}

#[test]
fn new_keys_at_their_defaults_are_left_out_of_the_written_config() {
    // So a config that uses neither probes nor pools hashes as before, and older run folders
    // keep their names.
    let config = load(&[]).unwrap();
    let written = toml::to_string(&config).unwrap();
    for key in ["mode = ", "probe", "max_examples", "min_examples"] {
        assert!(!written.contains(key), "{key} in {written}");
    }
}

#[test]
fn the_later_losses_read_their_tables_and_write_only_their_own() {
    let product = load(&[
        "strong.loss=product",
        "strong.product.alpha=2",
        "strong.window.radius=0.3",
    ])
    .unwrap();
    assert_eq!(
        product.strong.loss,
        Loss::Product(ProductConfig {
            alpha: 2.0,
            beta: 1.0,
            warmup_frac: 0.0
        })
    );
    let written = toml::to_string(&product).unwrap();
    assert!(
        written.contains("[strong.product]") && written.contains("alpha = 2.0"),
        "{written}"
    );
    assert!(
        !written.contains("radius"),
        "a loss not in use leaves its table out: {written}"
    );
    let again = ExperimentConfig::from_toml_str(&written, "written.toml", &[]).unwrap();
    assert_eq!(again, product);

    assert_eq!(load(&["strong.loss=kl"]).unwrap().strong.loss, Loss::Kl);
    assert_eq!(
        load(&["strong.loss=entropy", "strong.entropy.balance_batch=true"])
            .unwrap()
            .strong
            .loss,
        Loss::Entropy(EntropyConfig {
            aux_coef: 0.5,
            warmup_frac: 0.2,
            balance_batch: true
        })
    );
    assert_eq!(
        load(&["strong.loss=window"]).unwrap().strong.loss,
        Loss::Window(WindowConfig { radius: 0.15 })
    );
    let logconf = load(&[
        "strong.loss=logconf",
        "strong.logconf.buffer=64",
        "strong.logconf.balance_batch=true",
    ]);
    assert_eq!(
        logconf.unwrap().strong.loss,
        Loss::Logconf(LogconfConfig {
            aux_coef: 0.5,
            warmup_frac: 0.2,
            balance_batch: true,
            buffer: 64
        })
    );
}

#[test]
fn settings_of_a_loss_not_in_use_and_new_settings_at_their_defaults_leave_the_hash_alone() {
    let plain = load(&[]).unwrap();
    for setting in [
        "strong.product.alpha=3",
        "strong.entropy.aux_coef=0.1",
        "strong.window.radius=0.4",
        "strong.logconf.buffer=8",
        "strong.logconf.balance_batch=true",
    ] {
        assert_eq!(load(&[setting]).unwrap().hash(), plain.hash(), "{setting}");
    }
    // logconf's new settings at their defaults are not written, so logconf configs hash as before.
    for config in [plain, load(&["strong.loss=logconf"]).unwrap()] {
        let written = toml::to_string(&config).unwrap();
        for key in ["balance_batch", "buffer", "product", "entropy", "window"] {
            assert!(!written.contains(key), "{key} in {written}");
        }
    }
    let buffered = load(&["strong.loss=logconf", "strong.logconf.buffer=8"]).unwrap();
    assert!(toml::to_string(&buffered).unwrap().contains("buffer = 8"));
}

#[test]
fn loss_settings_out_of_range_are_errors_naming_the_key() {
    let cases: [(&[&str], &str); 8] = [
        (
            &["strong.loss=product", "strong.product.alpha=0"],
            "`strong.product.alpha` = 0 must be a positive",
        ),
        (
            &["strong.loss=product", "strong.product.beta=-1"],
            "`strong.product.beta` = -1 must be 0 or",
        ),
        (
            &["strong.loss=product", "strong.product.warmup_frac=2"],
            "`strong.product.warmup_frac` = 2 must be in [0, 1]",
        ),
        (
            &["strong.loss=entropy", "strong.entropy.aux_coef=1"],
            "`strong.entropy.aux_coef` = 1 must be in [0, 1)",
        ),
        (
            &["strong.loss=entropy", "strong.entropy.warmup_frac=-0.1"],
            "`strong.entropy.warmup_frac` = -0.1",
        ),
        (
            &["strong.loss=window", "strong.window.radius=0"],
            "`strong.window.radius` = 0 must be in (0, 0.5]",
        ),
        (
            &["strong.loss=window", "strong.window.radius=0.6"],
            "`strong.window.radius` = 0.6 must be in (0, 0.5]",
        ),
        (
            &["strong.loss=logconf", "strong.logconf.buffer=-1"],
            "`strong.logconf.buffer`",
        ),
    ];
    for (overrides, needle) in cases {
        let message = error(overrides);
        assert!(message.contains(needle), "{overrides:?}: {message}");
    }
    // The boundaries are accepted.
    for overrides in [
        ["strong.loss=product", "strong.product.beta=0"],
        ["strong.loss=entropy", "strong.entropy.aux_coef=0"],
        ["strong.loss=window", "strong.window.radius=0.5"],
    ] {
        assert!(load(&overrides).is_ok(), "{overrides:?}");
    }
    // An unknown loss lists the valid ones.
    let message = error(&["strong.loss=focal"]);
    assert!(
        message.contains("`xent`, `hard`, `logconf`, `product`, `kl`, `entropy`, `window`"),
        "{message}"
    );
    assert!(error(&["strong.window.radious=0.2"]).contains("Did you mean `strong.window.radius`?"));
}

#[test]
fn every_loss_displays_and_parses_as_its_toml_name() {
    for name in ["xent", "hard", "logconf", "product", "kl", "entropy", "window"] {
        let loss = load(&[&format!("strong.loss={name}")]).unwrap().strong.loss;
        assert_eq!(loss.to_string(), name);
        assert_eq!(loss.kind().to_string(), name);
    }
}

#[test]
fn method_keys_at_their_defaults_leave_the_config_and_its_hash_alone() {
    let config = load(&[]).unwrap();
    let written = toml::to_string(&config).unwrap();
    for key in ["filter", "truth", "selection", "rounds"] {
        assert!(!written.contains(key), "{key} in {written}");
    }
    let spelled_out = load(&[
        "strong.filter.by=none",
        "strong.truth.budget=0",
        "strong.truth.pick=random",
        "strong.selection=weak",
        "rounds.count=1",
        "rounds.labels=replace",
    ])
    .unwrap();
    assert_eq!(spelled_out.hash(), config.hash());
}

#[test]
fn method_keys_read_into_typed_values() {
    let config = load(&[
        "strong.filter.by=confidence",
        "strong.filter.keep=0.5",
        "strong.filter.relabel=true",
        "strong.truth.budget=0.1",
        "strong.truth.pick=least_confident",
        "strong.selection=oracle",
        "rounds.count=3",
        "rounds.labels=accumulate",
        "rounds.truth_share=0.2",
        "ensemble.method=boost",
        "ensemble.size=3",
    ])
    .unwrap();
    assert_eq!(config.strong.filter.rule(), Some(Filter::MostConfident(0.5)));
    assert_eq!(config.strong.truth.budget_of(200), 20);
    assert_eq!(config.strong.truth.pick, TruthPick::LeastConfident);
    assert_eq!(config.strong.selection, ModelSelection::Oracle);
    assert_eq!(config.rounds.labels, RoundLabels::Accumulate);
    assert_eq!(config.ensemble.method, EnsembleMethod::Boost);
    let threshold = load(&["strong.filter.by=confidence", "strong.filter.threshold=0.8"]).unwrap();
    assert_eq!(threshold.strong.filter.rule(), Some(Filter::ConfidentAbove(0.8)));
    let agreement = load(&["strong.filter.by=agreement", "ensemble.size=2"]).unwrap();
    assert_eq!(agreement.strong.filter.rule(), Some(Filter::Agreement));
    let again = ExperimentConfig::from_toml_str(&toml::to_string(&config).unwrap(), "again.toml", &[]).unwrap();
    assert_eq!(again, config, "the method keys round-trip through a written config");
}

#[test]
fn method_keys_out_of_range_or_contradicting_are_errors_naming_the_key() {
    let cases: [(&[&str], &str); 11] = [
        (&["strong.filter.by=confidence"], "neither `strong.filter.keep`"),
        (
            &["strong.filter.by=confidence", "strong.filter.keep=0"],
            "`strong.filter.keep` = 0 must be in (0, 1]",
        ),
        (
            &["strong.filter.by=confidence", "strong.filter.keep=1.5"],
            "`strong.filter.keep` = 1.5 must be in (0, 1]",
        ),
        (
            &[
                "strong.filter.by=confidence",
                "strong.filter.keep=0.5",
                "strong.filter.threshold=0.9",
            ],
            "are both set",
        ),
        (
            &["strong.filter.keep=0.5"],
            "`strong.filter.by` is \"none\", which does not read it",
        ),
        (
            &["strong.filter.by=agreement"],
            "needs two teachers or more, but `ensemble.size` is 1",
        ),
        (&["strong.filter.relabel=true"], "nothing is left out to relabel"),
        (
            &["strong.truth.budget=201"],
            "`strong.truth.budget` = 201 is more than the transfer half",
        ),
        (
            &["strong.truth.budget=10", "strong.weak_label_share=0.5"],
            "set one of them",
        ),
        (&["rounds.count=0"], "`rounds.count` must be greater than 0"),
        (
            &["ensemble.method=boost", "ensemble.size=3", "ensemble.bootstrap=true"],
            "set bootstrap = false",
        ),
    ];
    for (overrides, expected) in cases {
        let message = error(overrides);
        assert!(message.contains(expected), "{overrides:?}: {message}");
    }
    let message = error(&["strong.truth.pick=smartest"]);
    assert!(
        message.contains("random") && message.contains("least_confident") && message.contains("most_disagreement"),
        "an unknown pick lists the valid ones: {message}"
    );
}

/// The shipped generative experiment, with `overrides`.
fn generative(overrides: &[&str]) -> Result<ExperimentConfig, ConfigError> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/toxicity-gen.toml");
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    ExperimentConfig::load(&path, &overrides)
}

#[test]
fn generation_keys_read_into_typed_values_and_leave_classification_configs_alone() {
    let config = generative(&["generation.samples=8", "generation.pick=below_threshold", "profile=gpu"]).unwrap();
    let generation = config.generation.as_ref().unwrap();
    assert_eq!((generation.samples, generation.pick), (8, Pick::BelowThreshold));
    assert_eq!(config.rounds.count, 5, "the gpu profile");
    assert_eq!(config.models(), vec!["minilm-l3", "smollm2-135m", "mpnet-base"]);
    let again = ExperimentConfig::from_toml_str(&toml::to_string(&config).unwrap(), "again.toml", &[]).unwrap();
    assert_eq!(again, config, "the generation keys round-trip through a written config");
    let classification = load(&[]).unwrap();
    assert!(!toml::to_string(&classification).unwrap().contains("generation"));
}

#[test]
fn generation_keys_out_of_range_or_contradicting_are_errors_naming_the_key() {
    let problem = |overrides: &[&str]| generative(overrides).expect_err("expected an error").to_string();
    assert!(problem(&["generation.samples=0"]).contains("`generation.samples` must be greater than 0"));
    assert!(problem(&["generation.top_p=0"]).contains("`generation.top_p`"));
    assert!(problem(&["generation.threshold=1.5"]).contains("`generation.threshold`"));
    assert!(problem(&["generation.pick=most_toxic"]).contains("generation.pick"));
    assert!(problem(&["weak.mode=finetune"]).contains("`weak.mode = \"probe\"`"));
    assert!(problem(&["strong.mode=probe"]).contains("`strong.mode` must be \"finetune\""));
}
